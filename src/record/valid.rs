//! What a stored run must be before anything is judged from it. A record
//! that says something impossible — an op that ended before it was sent, a
//! node the run did not have, the same op twice, fewer ops than the engine
//! dispatched — is bad input: the check refuses it, naming the file and the
//! line, rather than compute a verdict from it.

use std::collections::{BTreeSet, HashMap};

use super::keyspace::KeyspaceSample;
use super::ops::{ClientMode, Op};
use super::pings::Ping;
use super::run::{KeyValues, Record};
use super::watch::Recording;
use crate::slots::key_slot;

/// One thing wrong with a stored run: the file, the line when it has one, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defect {
    pub file: &'static str,
    pub line: Option<usize>,
    pub what: String,
}

impl std::fmt::Display for Defect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.what),
            None => write!(f, "{}: {}", self.file, self.what),
        }
    }
}

/// The names a run's records may use for its nodes: the topology's before
/// and after the drill (a drill may add one).
pub fn known_nodes(r: &Record) -> BTreeSet<&str> {
    (r.topology.nodes.iter())
        .chain(&r.topology_after.nodes)
        .map(|n| n.name.as_str())
        .collect()
}

/// The record itself: versions aside (the reader checks those), its
/// timeline must be possible.
pub fn record(r: &Record, file: &'static str) -> Result<(), Defect> {
    let bad = |what: String| Defect {
        file,
        line: None,
        what,
    };
    let mut last_start = None;
    for p in &r.phases {
        if p.end_ns < p.start_ns {
            return Err(bad(format!(
                "phase `{}` ends ({} ns) before it starts ({} ns)",
                p.name, p.end_ns, p.start_ns
            )));
        }
        if last_start.is_some_and(|s| p.start_ns < s) {
            return Err(bad(format!(
                "phase `{}` starts before the phase listed before it",
                p.name
            )));
        }
        last_start = Some(p.start_ns);
    }
    if r.phases.is_empty() {
        return Err(bad("the record has no phase".into()));
    }
    for f in &r.faults {
        let undo = f.undo_start_ns.zip(f.undone_ns);
        if f.applied_ns < f.start_ns || undo.is_some_and(|(a, b)| b < a || a < f.start_ns) {
            return Err(bad(format!(
                "fault {} {}: its times are out of order (start {}, applied {}, undo {:?}–{:?} ns)",
                f.fault, f.target, f.start_ns, f.applied_ns, f.undo_start_ns, f.undone_ns
            )));
        }
    }
    // The convergence the drill measured is the `recovery` phase it closed.
    if let (Some(c), Some(p)) = (
        r.convergence_ms,
        r.phases.iter().find(|p| p.name == "recovery"),
    ) {
        let phase_ms = (p.end_ns - p.start_ns) as f64 / 1e6;
        if (c - phase_ms).abs() > 0.01 {
            return Err(bad(format!(
                "convergence_ms is {c} but the `recovery` phase it closed lasted {phase_ms} ms"
            )));
        }
    }
    let known = known_nodes(r);
    for o in &r.slot_owners {
        if !known.contains(o.node.as_str()) {
            return Err(bad(format!(
                "slots {}-{} are owned by `{}`, a node the run did not have",
                o.from, o.to, o.node
            )));
        }
    }
    Ok(())
}

/// The ops history, each op with its line in `file`.
pub fn history(r: &Record, ops: &[(usize, Op)], file: &'static str) -> Result<(), Defect> {
    let known = known_nodes(r);
    let adapted: u32 = r.engine.adapters.iter().map(|a| a.clients).sum();
    let clients = r.app_clients + r.probe_clients + adapted;
    let first_phase = r.phases.first().map_or(0, |p| p.start_ns);
    // (client, due, sent, end, key) → the line it was first seen on.
    let mut seen: HashMap<(u32, u64, u64, u64, &str), usize> = HashMap::with_capacity(ops.len());
    for (line, op) in ops {
        let bad = |what: String| Defect {
            file,
            line: Some(*line),
            what,
        };
        if op.end_ns < op.sent_ns {
            return Err(bad(format!(
                "the op ended (end_ns {}) before it was sent (sent_ns {})",
                op.end_ns, op.sent_ns
            )));
        }
        if op.sent_ns < op.due_ns {
            return Err(bad(format!(
                "the op was sent (sent_ns {}) before it was due (due_ns {})",
                op.sent_ns, op.due_ns
            )));
        }
        if op.pool_wait_ns > op.sent_ns - op.due_ns {
            return Err(bad(format!(
                "the op waited {} ns for room in flight, longer than from due to sent ({} ns)",
                op.pool_wait_ns,
                op.sent_ns - op.due_ns
            )));
        }
        if op.due_ns < first_phase {
            return Err(bad(format!(
                "the op was due ({} ns) before the run's first phase began ({first_phase} ns): it would fall in no phase",
                op.due_ns
            )));
        }
        let slot = key_slot(op.key.as_bytes());
        if op.slot != slot {
            return Err(bad(format!(
                "slot {} is not the slot of key `{}` ({slot})",
                op.slot, op.key
            )));
        }
        if op.client >= clients {
            return Err(bad(format!(
                "client {}: the run had {} app, {} probe and {adapted} adapters' clients",
                op.client, r.app_clients, r.probe_clients
            )));
        }
        let mode = if op.client < r.app_clients {
            ClientMode::App
        } else if op.client < r.app_clients + r.probe_clients {
            ClientMode::Probe
        } else {
            ClientMode::Adapter
        };
        if op.mode != mode {
            return Err(bad(format!(
                "client {} is a {mode} client, not a {} one",
                op.client, op.mode
            )));
        }
        if let Some(node) = &op.node
            && !known.contains(node.as_str())
        {
            return Err(bad(format!(
                "node `{node}` is not a node of the run's topology"
            )));
        }
        let id = (op.client, op.due_ns, op.sent_ns, op.end_ns, op.key.as_str());
        if let Some(first) = seen.insert(id, *line) {
            return Err(bad(format!("the op repeats line {first}")));
        }
    }
    // Every op the engine handed to a client is in the history, or counted
    // as not recorded (past the size limit) or dropped at the stop.
    let e = &r.engine;
    let accounted = ops.len() as u64 + e.unrecorded + e.dropped_at_stop;
    if accounted < e.ops_dispatched {
        return Err(Defect {
            file,
            line: None,
            what: format!(
                "holds {} ops, and the engine counted {} more not recorded and {} dropped at the stop, but it dispatched {}: {} ops are missing (the history was cut short)",
                ops.len(),
                e.unrecorded,
                e.dropped_at_stop,
                e.ops_dispatched,
                e.ops_dispatched - accounted
            ),
        });
    }
    Ok(())
}

/// The reference PINGs.
pub fn pings(r: &Record, pings: &[(usize, Ping)], file: &'static str) -> Result<(), Defect> {
    let known = known_nodes(r);
    for (line, p) in pings {
        let bad = |what: String| Defect {
            file,
            line: Some(*line),
            what,
        };
        if !known.contains(p.node.as_str()) {
            return Err(bad(format!(
                "node `{}` is not a node of the run's topology",
                p.node
            )));
        }
        if p.end_ns < p.sent_ns || p.sent_ns < p.due_ns {
            return Err(bad(format!(
                "the PING's times are out of order (due {}, sent {}, end {} ns)",
                p.due_ns, p.sent_ns, p.end_ns
            )));
        }
    }
    Ok(())
}

/// Every key's values before and after: each key once.
pub fn keys(keys: &[(usize, KeyValues)], file: &'static str) -> Result<(), Defect> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(keys.len());
    for (line, k) in keys {
        if let Some(first) = seen.insert(k.key.as_str(), *line) {
            return Err(Defect {
                file,
                line: Some(*line),
                what: format!("key `{}` is listed again (first on line {first})", k.key),
            });
        }
    }
    Ok(())
}

/// The keyspace sampler's readings: of the run's nodes.
pub fn keyspace(
    r: &Record,
    samples: &[(usize, KeyspaceSample)],
    file: &'static str,
) -> Result<(), Defect> {
    let known = known_nodes(r);
    for (line, s) in samples {
        if !known.contains(s.node.as_str()) {
            return Err(Defect {
                file,
                line: Some(*line),
                what: format!("node `{}` is not a node of the run's topology", s.node),
            });
        }
    }
    Ok(())
}

/// The watcher's recording: its observers are the run's nodes, and each
/// sample is an answer to a poll sent before it.
pub fn watch(r: &Record, w: &Recording, file: &'static str) -> Result<(), Defect> {
    let known = known_nodes(r);
    let bad = |what: String| Defect {
        file,
        line: None,
        what,
    };
    for o in &w.observers {
        if !known.contains(o.as_str()) {
            return Err(bad(format!(
                "observer `{o}` is not a node of the run's topology"
            )));
        }
    }
    for o in w.joined.keys().chain(w.left.keys()) {
        if !w.observers.contains(o) {
            return Err(bad(format!(
                "`{o}` joined or left the watch but is not one of its observers"
            )));
        }
    }
    for (i, s) in w.samples.iter().enumerate() {
        if !w.observers.contains(&s.observer) {
            return Err(bad(format!(
                "sample {i} is of `{}`, which the recording does not list as an observer",
                s.observer
            )));
        }
        if s.at_ns < s.sent_ns {
            return Err(bad(format!(
                "sample {i} of `{}` was answered ({} ns) before it was asked ({} ns)",
                s.observer, s.at_ns, s.sent_ns
            )));
        }
    }
    Ok(())
}
