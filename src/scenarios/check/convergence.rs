//! The convergence checker: how long the drill waited, from the end of its
//! action, until every node agreed (`convergence_ms`, the drill's own
//! timing, the `recovery` phase it closed), held against the watcher's
//! recording of the same moment (`convergence_seen_ms`): a figure the
//! recording contradicts, or cannot show, is not trusted.

use super::{Checker, Run};
use crate::record::run::Record;
use crate::record::timeline::ms;
use crate::record::watch::Recording;

/// What the run knows of its convergence.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Converged {
    /// What the drill measured; `None` where it had nothing to converge.
    pub measured_ms: Option<f64>,
    /// The same moment as the watcher's recording shows it.
    pub seen_ms: Option<f64>,
    /// Why the drill's figure cannot be trusted, when it cannot.
    pub doubt: Option<String>,
}

/// The convergence checker.
pub(crate) struct Convergence;

impl Checker for Convergence {
    type Section = Converged;

    fn check(&self, run: &Run) -> Converged {
        let (seen_ms, doubt) = convergence_seen(run.record, &run.stored.watch);
        Converged {
            measured_ms: run.record.convergence_ms,
            seen_ms,
            doubt,
        }
    }
}

/// The drill's convergence held against the watcher's recording: the
/// watcher's view of the moment (ms after the action), and why the drill's
/// own figure cannot be trusted, when the recording contradicts it.
fn convergence_seen(r: &Record, watch: &Recording) -> (Option<f64>, Option<String>) {
    let (Some(measured), Some(recovery)) = (
        r.convergence_ms,
        r.phases.iter().find(|p| p.name == "recovery"),
    ) else {
        return (None, None);
    };
    if r.topology.kind != crate::topology::Kind::Cluster {
        return (None, None);
    }
    if watch.samples.is_empty() {
        return (
            None,
            Some(format!(
                "the drill measured {measured:.1} ms, but the watcher's recording is empty: nothing shows the nodes agreeing"
            )),
        );
    }
    let from = recovery.start_ns;
    // Nodes a fault took away and nothing brought back before the wait
    // began: the drill's wait leaves them out too.
    let left_out: std::collections::BTreeSet<&str> = (r.faults.iter())
        .filter(|f| f.fault.takes_node_away() && f.undone_ns.is_none_or(|u| u > from))
        .flat_map(|f| f.nodes.iter().map(String::as_str))
        .collect();
    let seen = crate::checker::failover::agreed_at(watch, from, &left_out).map(|at| ms(at - from));
    // The watcher sees a change at most an interval and a poll's round trip
    // after it happened; twice the interval covers a poll that just missed it.
    let rtt = (watch.samples.iter())
        .filter(|s| s.sent_ns >= from)
        .map(|s| s.at_ns - s.sent_ns)
        .max()
        .unwrap_or(0);
    let slack = ms(2 * watch.interval_ns + rtt);
    let doubt = match seen {
        None => Some(format!(
            "the drill measured {measured:.1} ms, but the watcher's recording never shows every node that is up agreeing on the slot map after the action"
        )),
        Some(s) if s > measured + slack => Some(format!(
            "the drill measured {measured:.1} ms, but the watcher's recording shows the nodes agreeing only {s:.1} ms after the action (more than its {slack:.1} ms of polling slack later)"
        )),
        Some(_) => None,
    };
    (seen, doubt)
}
