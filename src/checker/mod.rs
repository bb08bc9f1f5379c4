//! Checkers: pure functions from a history, the watcher's recording and a
//! timeline to verdicts and figures. They never touch the system, so they can be re-run offline on a
//! stored run read back with [`crate::record::Stored::read`].
//!
//! A violated invariant is a finding in the result (a lost write, a counter
//! out of bounds), never an `Err`. Indeterminate ops are treated as such: a
//! write that timed out may have applied, and is neither lost nor required.
//!
//! - [`mod@lost`]     — [`lost_writes`] and [`counters()`]: acknowledged writes (sets, dels,
//!   transactions) against the final state, under the topology's eviction policy; counters' lost increments and over-counts.
//! - [`mod@downtime`] — [`downtime()`]: per shard, the longest window without a success.
//! - [`mod@failover`] — the watcher's recording read after the run: failover and rejoin
//!   timelines, convergence, outage intervals, the spec's bounds for a promotion.
//! - [`mod@latency`]  — [`latency()`], [`timing_by_phase`] (latency, service time and tool lag by
//!   phase, HdrHistogram), [`per_second`] (exact per-second p99s).
//! - [`mod@selfcheck`] — [`self_check`]: did the tool keep its schedule (tool lag per
//!   phase against its bound); the reference PINGs by phase and by second.
//! - [`mod@locks`]    — [`locks::check`]: a lock history → mutual exclusion (overlapping
//!   validity windows), fencing (stale writes accepted and refused), liveness.
//! - [`mod@txn`]      — [`txn::torn`]: torn transactions, a read or a final group
//!   state that mixes the ids of two MULTI/EXECs.
//! - [`mod@ttl`]      — [`ttl::ttl`]: TTL accuracy, zombie reads past a `SET PX`
//!   deadline, early expiries before it, the lateness of the expiries seen.
//! - [`mod@stale`]    — [`stale::stale_reads`]: GETs that returned a value an
//!   acknowledged write had superseded before they began, and by how long.
//! - [`mod@eviction`] — [`eviction::Eviction`], what a `maxmemory-policy` lets the
//!   lost-write check accept; [`eviction::hit_ratio`], the clients' hits and misses
//!   by phase and on the hot keys.
//! - [`mod@invalidation`] — [`invalidation::check`]: the invalidation workload's cache
//!   reads against its store — stale hits in the invalidation window, after a failed
//!   invalidation, and after an acknowledged one (fill race, update race, lost
//!   invalidation, with witnesses); invalidation times; mixed group reads.
//! - [`mod@linearizable`] — [`linearizable::check_key`]: one key's history against
//!   a register (and counter) model, Wing–Gong–Lowe's search with a budget; a
//!   violation with its minimal witness (not yet wired into the reports).
//! - [`errors_by_kind`], [`redirects`], [`counts`] — tallies.
//!
//! Checkers take any iterator of `&Op`, so a caller filters by client mode
//! (`history.iter().filter(|o| o.mode == ClientMode::Probe)`) or passes `&history`.

pub mod atomic;
pub mod downtime;
pub mod eviction;
pub mod failover;
pub mod invalidation;
pub mod latency;
pub mod linearizable;
pub mod locks;
pub mod lost;
pub mod replication;
pub mod selfcheck;
pub mod sentinel;
pub mod stale;
pub mod stampede;
pub mod ttl;
pub mod txn;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::ops::{Op, Outcome};

pub use downtime::{
    Downtime, DowntimeByMode, MAX_SPANS, ShardDowntime, Span, downtime, downtime_by_mode,
    downtime_of_groups,
};
pub use latency::{
    ClientSecond, Latency, Second, Timing, client_seconds, latency, per_second, percentiles,
    timing_by_phase,
};
pub use lost::{CounterVerdict, CounterViolation, LostWrite, LostWrites, counters, lost_writes};
pub use selfcheck::{
    PhaseCheck, PingSummary, SelfCheck, ping_p99_per_second, pings_by_phase, self_check,
};

/// Failed and indeterminate ops by class: the failure kinds (`moved`,
/// `tryagain`, `clusterdown`, ...) and `indeterminate`. Ok ops are not counted.
pub fn errors_by_kind<'a>(history: impl IntoIterator<Item = &'a Op>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for op in history {
        if !op.is_ok() {
            *out.entry(op.outcome.label().to_string()).or_insert(0) += 1;
        }
    }
    out
}

/// MOVED/ASK redirects over all ops.
pub fn redirects<'a>(history: impl IntoIterator<Item = &'a Op>) -> u64 {
    history.into_iter().map(|o| u64::from(o.redirects)).sum()
}

/// How many ops ended which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub total: u64,
    pub ok: u64,
    pub failed: u64,
    pub indeterminate: u64,
}

/// Ops by kind and outcome: the figures every report opens with, counted
/// here once so every rendering agrees.
pub fn counts<'a>(history: impl IntoIterator<Item = &'a Op>) -> Counts {
    let mut c = Counts::default();
    for op in history {
        c.total += 1;
        match op.outcome {
            Outcome::Ok => c.ok += 1,
            Outcome::Fail { .. } => c.failed += 1,
            Outcome::Indeterminate { .. } => c.indeterminate += 1,
        }
    }
    c
}

/// Synthetic histories for the checkers' tests.
#[cfg(test)]
pub(crate) mod fixture {
    use crate::record::ops::{ClientMode, ErrorKind, Op, OpKind, Outcome};
    use crate::slots::key_slot;

    pub fn op(kind: OpKind, key: &str, value: Option<&str>, start_ms: u64, end_ms: u64) -> Op {
        Op {
            replicas: None,
            ttl_ms: None,
            members: Vec::new(),
            values: Vec::new(),
            client: 0,
            mode: ClientMode::Probe,
            kind,
            key: key.to_string(),
            slot: key_slot(key.as_bytes()),
            value: value.map(str::to_string),
            due_ns: start_ms * 1_000_000,
            sent_ns: start_ms * 1_000_000,
            end_ns: end_ms * 1_000_000,
            pool_wait_ns: 0,
            node: None,
            served: None,
            redirects: 0,
            outcome: Outcome::Ok,
        }
    }

    pub fn set(key: &str, value: &str, start_ms: u64, end_ms: u64) -> Op {
        op(OpKind::Set, key, Some(value), start_ms, end_ms)
    }

    pub fn get(key: &str, start_ms: u64, end_ms: u64) -> Op {
        op(OpKind::Get, key, None, start_ms, end_ms)
    }

    pub fn incr(key: &str, start_ms: u64, end_ms: u64) -> Op {
        op(OpKind::Incr, key, None, start_ms, end_ms)
    }

    pub fn failed(mut o: Op) -> Op {
        o.outcome = Outcome::Fail {
            kind: ErrorKind::ClusterDown,
            message: "CLUSTERDOWN".into(),
        };
        o
    }

    pub fn indeterminate(mut o: Op) -> Op {
        o.outcome = Outcome::Indeterminate {
            message: "timeout".into(),
        };
        o
    }

    pub fn app(mut o: Op) -> Op {
        o.mode = ClientMode::App;
        o
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::*;
    use super::*;

    #[test]
    fn tallies() {
        let mut moved = get("k", 0, 1);
        moved.redirects = 2;
        let h = vec![
            moved,
            failed(get("k", 1, 2)),
            failed(set("k", "v", 2, 3)),
            indeterminate(set("k", "w", 3, 4)),
        ];
        let e = errors_by_kind(&h);
        assert_eq!(e.get("clusterdown"), Some(&2));
        assert_eq!(e.get("indeterminate"), Some(&1));
        assert_eq!(e.len(), 2);
        assert_eq!(redirects(&h), 2);
        assert_eq!(
            counts(&h),
            Counts {
                total: 4,
                ok: 1,
                failed: 2,
                indeterminate: 1
            }
        );
    }
}
