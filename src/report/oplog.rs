//! The run's ops, cut down to what the HTML charts draw: when each was due,
//! how long it took, how it ended. `report.json` keeps only per-second
//! figures, so a 0.6 s reshard is one point there; the check stage hands
//! this log to the renderer beside the report, and the charts bin and
//! scatter the ops at the run's own scale. A page re-made from
//! `report.json` alone has no log and falls back to the per-second charts.

use crate::record::ops::{ClientMode, Op, Outcome};

/// How an op ended, as the charts colour it: Jepsen's ok / fail / info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpEnd {
    /// Acknowledged.
    Ok,
    /// Certainly did not take effect.
    Failed,
    /// Timed out or lost its connection after sending: it may have happened.
    Indeterminate,
}

/// One op as the charts draw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpPoint {
    /// When the op was due, s since the run's start (the charts' time axis).
    pub due_s: f64,
    /// Due to end, ms: what a user feels, for an error too (how long until it came).
    pub latency_ms: f64,
    /// How it ended.
    pub end: OpEnd,
    /// A probe op (the drill's own client without retries), not an app op.
    pub probe: bool,
}

/// The run's ops in due order, for the charts only: never serialized, so
/// `report.json` stays the per-second summary it has always been.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpLog {
    /// Every op of the key/value workload, app and probe, by due time.
    pub ops: Vec<OpPoint>,
}

impl OpLog {
    /// The log of a run's history (the record folder's `history.jsonl`).
    pub fn of(history: &[Op]) -> OpLog {
        let mut ops: Vec<OpPoint> = history
            .iter()
            .map(|o| OpPoint {
                due_s: o.due_ns as f64 / 1e9,
                latency_ms: o.latency_ns() as f64 / 1e6,
                end: match o.outcome {
                    Outcome::Ok => OpEnd::Ok,
                    Outcome::Fail { .. } => OpEnd::Failed,
                    Outcome::Indeterminate { .. } => OpEnd::Indeterminate,
                },
                probe: o.mode == ClientMode::Probe,
            })
            .collect();
        ops.sort_by(|a, b| a.due_s.total_cmp(&b.due_s));
        OpLog { ops }
    }
}
