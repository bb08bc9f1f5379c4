//! The faults checker: each fault as it happened, with what the watcher's
//! recording shows of it (the failover and its timeline against the cluster
//! spec's bound, the rejoin of a node started again, convergence after it)
//! and the downtime clients saw while it was the latest (`faults`).

use std::collections::BTreeMap;

use super::{Checker, Run};
use crate::checker;
use crate::checker::failover as watch;
use crate::faults::{FaultKind, FaultWindow};
use crate::record::watch::Recording;
use crate::report::{FailoverMs, FaultReport, RejoinMs};

use crate::record::timeline::ms;

/// The faults checker.
pub(crate) struct Faults;

impl Checker for Faults {
    type Section = Vec<FaultReport>;

    fn check(&self, run: &Run) -> Vec<FaultReport> {
        let r = run.record;
        let cuts = run.cuts();
        let app = cuts.view(run.app.iter().copied(), "app ops");
        let probe = cuts.view(run.probe.iter().copied(), "probe ops");
        // Every client's view, then each region's: a shard's worst window
        // while the fault was the latest is the worst of them.
        let regions = run.region_views();
        let app_views: Vec<&checker::Downtime> = [&app.shards, &app.groups]
            .into_iter()
            .chain(
                regions
                    .iter()
                    .flat_map(|(_, [a, _, _])| [&a.shards, &a.groups]),
            )
            .collect();
        let probe_views: Vec<&checker::Downtime> = [&probe.shards, &probe.groups]
            .into_iter()
            .chain(
                regions
                    .iter()
                    .flat_map(|(_, [_, _, p])| [&p.shards, &p.groups]),
            )
            .collect();
        // Only a cluster fails over by itself, and only its nodes are watched.
        let rec = (r.topology.kind == crate::topology::Kind::Cluster).then_some(&run.stored.watch);
        (r.faults.iter())
            .enumerate()
            .map(|(i, w)| {
                // The fault is "the latest" until the next one starts.
                let until = r.faults.get(i + 1).map_or(r.end_ns, |n| n.start_ns);
                fault_report(
                    w,
                    until,
                    &app_views,
                    &probe_views,
                    rec,
                    r.node_timeout_ms,
                    r.worst_rank,
                )
            })
            .collect()
    }
}

/// The report of one fault: its window, the failover and rejoin the watcher
/// recorded, and the client-observed downtime open while it was the latest
/// (per shard, and per part of a shard the drill split).
fn fault_report(
    w: &FaultWindow,
    until_ns: u64,
    app: &[&checker::Downtime],
    probe: &[&checker::Downtime],
    rec: Option<&Recording>,
    node_timeout_ms: u64,
    worst_rank: u32,
) -> FaultReport {
    // The windows counted are every client's view's (the first two); the
    // longest per shard, the worst of every view.
    let overlapping = |ds: &[&checker::Downtime]| -> (BTreeMap<String, f64>, u32) {
        let mut per_shard = BTreeMap::<String, f64>::new();
        let mut count = 0;
        for (i, d) in ds.iter().enumerate() {
            for (shard, win) in &d.per_shard {
                let spans: Vec<&checker::Span> = win
                    .spans
                    .iter()
                    .filter(|s| s.to_ns > w.start_ns && s.from_ns < until_ns)
                    .collect();
                if i < 2 {
                    count += spans.len() as u32;
                }
                if let Some(longest) = spans.iter().map(|s| s.ms()).reduce(f64::max) {
                    let x = per_shard.entry(shard.clone()).or_insert(0.0);
                    *x = x.max(longest);
                }
            }
        }
        (per_shard, count)
    };
    // The windows a shard dropped are its latest: this fault may have some
    // when it lasts past the last window kept.
    // (Judged on every client's views, as the windows are counted.)
    let truncated: Vec<String> = (app.iter().take(2).chain(probe.iter().take(2)))
        .flat_map(|d| &d.per_shard)
        .filter(|(_, win)| {
            win.spans_dropped > 0 && win.spans.last().is_some_and(|s| until_ns > s.to_ns)
        })
        .map(|(shard, win)| {
            format!(
                "{shard} ({} windows past the {} kept)",
                win.spans_dropped,
                checker::MAX_SPANS
            )
        })
        .collect();
    let (downtime_ms, downtime_windows) = overlapping(app);
    let (probe_downtime_ms, _) = overlapping(probe);
    // Only a cluster fails over by itself, and only its nodes are watched
    // (`rec` is `None` for the other kinds).
    let failover = match rec {
        Some(rec) if w.fault.takes_node_away() => w
            .primaries
            .iter()
            .map(|p| {
                let t = watch::failover(rec, p, w.start_ns);
                failover_ms(p, &t, node_timeout_ms, worst_rank)
            })
            .collect(),
        _ => Vec::new(),
    };
    // From the start command, not from its return: the node's way back
    // includes its own start.
    let rejoin = match (w.fault, w.undo_start_ns, rec) {
        (FaultKind::Kill | FaultKind::Stop, Some(at), Some(rec)) => w
            .nodes
            .iter()
            .map(|n| rejoin_ms(n, &watch::rejoin(rec, n, at)))
            .collect(),
        _ => Vec::new(),
    };
    FaultReport {
        fault: w.fault.to_string(),
        target: w.target.clone(),
        nodes: w.nodes.clone(),
        primaries: w.primaries.clone(),
        detail: w.detail.clone(),
        start_ms: ms(w.start_ns),
        applied_ms: ms(w.applied_ns),
        undo: w.undo.map(|u| u.to_string()),
        undone_ms: w.undone_ns.map(ms),
        promoted_after_ms: w.promoted_ms,
        skipped: w.skipped.clone(),
        hooks: w.hooks.clone(),
        converged_after_ms: rec.and_then(|rec| {
            let from = w.undone_ns.unwrap_or(w.applied_ns);
            watch::converged(rec, from).map(|at| ms(at.saturating_sub(from)))
        }),
        failover,
        rejoin,
        downtime_ms,
        probe_downtime_ms,
        downtime_windows,
        downtime_incomplete: (!truncated.is_empty()).then(|| {
            format!(
                "a lower bound: shards flapped more often than the analysis keeps windows: {}",
                truncated.join(", ")
            )
        }),
    }
}

/// A watcher's failover timeline in the report's terms, next to the spec's
/// bound for the worst rank a replica of the shard can have.
fn failover_ms(
    node: &str,
    t: &watch::FailoverTimeline,
    node_timeout_ms: u64,
    worst_rank: u32,
) -> FailoverMs {
    FailoverMs {
        node: node.to_string(),
        promoted: t.promoted.clone(),
        pfail_after_ms: t.pfail_after_ms,
        fail_after_ms: t.fail_after_ms,
        promoted_after_ms: t.promoted_after_ms,
        state_ok_after_ms: t.recovered_after_ms,
        agreed_after_ms: t.agreed_after_ms,
        node_timeout_ms,
        expected_min_ms: watch::expected_min_ms(node_timeout_ms, 0) as f64,
        expected_max_ms: watch::expected_max_ms(node_timeout_ms, worst_rank) as f64,
    }
}

fn rejoin_ms(node: &str, r: &watch::Rejoin) -> RejoinMs {
    RejoinMs {
        node: node.to_string(),
        reachable_after_ms: r.reachable_after_ms,
        replica_after_ms: r.replica_after_ms,
        link_up_after_ms: r.link_up_after_ms,
        caught_up_after_ms: r.caught_up_after_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::{Downtime, MAX_SPANS, ShardDowntime, Span};

    fn partition_from(start_ms: u64) -> FaultWindow {
        FaultWindow {
            fault: FaultKind::Partition,
            target: "s1n1".into(),
            nodes: vec!["s1n1".into()],
            primaries: vec!["s1n1".into()],
            detail: String::new(),
            shape: None,
            primary_cut_from_sentinels: false,
            start_ns: start_ms * 1_000_000,
            applied_ns: start_ms * 1_000_000,
            undo: None,
            undo_start_ns: None,
            undone_ns: None,
            promoted_ms: None,
            mistimed: None,
            skipped: None,
            slot_owners: Vec::new(),
            hooks: Vec::new(),
        }
    }

    /// A shard that flapped past the windows kept: the windows dropped are
    /// its latest, so a fault after the last one kept is a lower bound.
    fn flapping() -> Downtime {
        let spans: Vec<Span> = (0..MAX_SPANS as u64)
            .map(|i| Span {
                from_ns: i * 10_000_000,
                to_ns: i * 10_000_000 + 5_000_000,
            })
            .collect();
        let w = ShardDowntime {
            windows: MAX_SPANS as u32 + 7,
            spans_dropped: 7,
            spans,
            ..ShardDowntime::default()
        };
        Downtime {
            per_shard: [("s1n1".to_string(), w)].into(),
            max_ms: 5.0,
        }
    }

    #[test]
    fn downtime_past_the_windows_kept_is_a_lower_bound() {
        let d = flapping();
        let last_kept_ms = (MAX_SPANS as u64 - 1) * 10 + 5;
        let rec = Recording::default();
        let none = Downtime::default();
        let early = fault_report(
            &partition_from(0),
            1_000_000,
            &[&d, &none],
            &[&d, &none],
            Some(&rec),
            2000,
            0,
        );
        assert_eq!(early.downtime_incomplete, None, "{early:?}");
        // Nodes that are not a cluster's have no failover to time, and say
        // none (a cluster's unseen failover is reported as not measured).
        let unwatched = fault_report(
            &partition_from(0),
            1_000_000,
            &[&d, &none],
            &[&d, &none],
            None,
            2000,
            0,
        );
        assert!(unwatched.failover.is_empty() && unwatched.rejoin.is_empty());
        assert_eq!(early.failover.len(), 1);
        let late = fault_report(
            &partition_from(last_kept_ms - 1),
            (last_kept_ms + 100) * 1_000_000,
            &[&d, &none],
            &[&d, &none],
            Some(&rec),
            2000,
            0,
        );
        let why = late.downtime_incomplete.expect("a lower bound");
        assert!(why.contains("s1n1 (7 windows"), "{why}");
    }

    /// A region's clients out while another region's are served: every
    /// client's view of the shard has no window (one region's successes
    /// close the other's outage), the region's has one, and the fault's
    /// downtime is the region's — its windows counted once, from every
    /// client's view.
    #[test]
    fn a_regions_outage_is_the_faults_downtime() {
        let shard = |spans: Vec<Span>| Downtime {
            per_shard: [(
                "n1".to_string(),
                ShardDowntime {
                    windows: spans.len() as u32,
                    spans,
                    ..ShardDowntime::default()
                },
            )]
            .into(),
            max_ms: 0.0,
        };
        let every = shard(vec![Span {
            from_ns: 2_000_000_000,
            to_ns: 2_004_000_000,
        }]);
        let majority = shard(vec![Span {
            from_ns: 2_000_000_000,
            to_ns: 5_500_000_000,
        }]);
        let none = Downtime::default();
        let f = fault_report(
            &partition_from(1_000),
            10_000_000_000,
            &[&every, &none, &majority, &none],
            &[&none, &none],
            None,
            2000,
            0,
        );
        assert_eq!(f.downtime_ms["n1"], 3500.0, "{f:?}");
        assert_eq!(f.downtime_windows, 1, "{f:?}");
        // Without the region's view, the outage would not show.
        let blind = fault_report(
            &partition_from(1_000),
            10_000_000_000,
            &[&every, &none],
            &[&none, &none],
            None,
            2000,
            0,
        );
        assert_eq!(blind.downtime_ms["n1"], 4.0, "{blind:?}");
    }
}
