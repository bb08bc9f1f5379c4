//! Atomic vs locked: the lock workload's counters (`locks.counter`, and
//! `locks.atomic_workers` beside it) → each path's throughput, latency, lost
//! and over-counted updates and longest stall, side by side. Pure: it reads
//! the lock history and nothing else.
//!
//! **The two paths.** The locked path increments a counter with a
//! read-modify-write under the lock (`GET`, the hold, `SET` n+1); the
//! atomic path sends `INCR` and takes no lock. Each increment is recorded
//! with its outcome: acknowledged, certainly not applied (`failed`), maybe
//! applied (`indeterminate`: no answer to the write), or not written
//! (`skipped`: the holder's validity ran out).
//!
//! **Lost and over-counted updates** come from the counters themselves, read
//! back after the workers stopped: per counter, a final value below the
//! acknowledged increments lost that many (`acked − final`); above the
//! acknowledged plus the indeterminate ones, that many were counted twice.
//! A counter that could not be read back leaves both `unknown`, never 0.
//! On the locked path every lost update has a witness in the history: two
//! acknowledged `SET`s of the same value on one counter — both read the same
//! n (a holder that outlived its lock wrote over the increments made
//! meanwhile).
//!
//! **Throughput** is acknowledged increments per second of the workload's
//! run; latency the increment's cost to its caller (locked: the
//! acquisition's first attempt → the `SET`'s answer; atomic: the `INCR`'s
//! round trip); the **longest stall** the longest time no increment of the
//! path was acknowledged, from the workload's start to its stop — a paused
//! lock holder stops every other locked writer of its lock for up to a TTL,
//! and no atomic one.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::latency::{Latency, percentiles};
use crate::record::locks::{
    CounterPath, Increment, IncrementOutcome, LockEvent, LockRecording, worker_name,
};
use crate::record::timeline::ms;

/// Witnesses of lost updates the report lists at most (the count stays exact).
pub const MAX_WITNESSES: usize = 10;

/// One path's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CounterPathCheck {
    pub workers: u32,
    /// Acknowledged increments.
    pub acked: u64,
    /// Certainly not applied (the read failed, the server refused).
    pub failed: u64,
    /// No answer to the write: may have been applied.
    pub indeterminate: u64,
    /// Not written: the holder's validity had run out, or the stop came.
    pub skipped: u64,
    /// Acknowledged increments per second of the workload's run.
    pub per_s: f64,
    /// The increment's cost to its caller (ms), of acknowledged ones.
    pub latency_ms: Latency,
    /// The counters' sum, read back at the end; `None` when one was not.
    pub final_value: Option<i64>,
    /// Acknowledged increments the counters do not hold; `None`: unknown.
    pub lost: Option<u64>,
    /// Increments the counters hold beyond the acknowledged and the
    /// indeterminate ones; `None`: unknown.
    pub over_counted: Option<u64>,
    /// The longest time with no acknowledged increment on this path (ms).
    pub longest_stall_ms: f64,
    /// When that stall began and ended (ms on the run's clock).
    pub stall_from_ms: f64,
    pub stall_to_ms: f64,
    /// Why `lost` and `over_counted` are unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

/// Two acknowledged locked increments of one counter that wrote the same
/// value: both read the same n, and one of the two updates is lost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LostUpdate {
    pub lock: u32,
    /// The value both wrote.
    pub value: i64,
    pub first: Writer,
    pub second: Writer,
}

/// One locked increment, as a witness shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Writer {
    pub worker: String,
    pub acquisition: u64,
    /// When its `GET` answered and its `SET` was acknowledged (ms).
    pub read_ms: f64,
    pub wrote_ms: f64,
}

/// Both paths side by side: the report's `locks.counters`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub locked: CounterPathCheck,
    /// Absent without `atomic_workers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atomic: Option<CounterPathCheck>,
    /// The atomic path's increments per second over the locked path's;
    /// `None` when either made none.
    pub atomic_speedup: Option<f64>,
    /// Acknowledged locked `SET`s that wrote a value another acknowledged
    /// `SET` of the same counter had written.
    pub duplicate_writes: u64,
    pub witnesses: Vec<LostUpdate>,
}

impl Counters {
    /// Lost updates over both paths; `None` when either path's is unknown.
    pub fn lost(&self) -> Option<u64> {
        let atomic = match &self.atomic {
            Some(a) => a.lost?,
            None => 0,
        };
        Some(self.locked.lost? + atomic)
    }
}

/// The counters of a lock history, when the workload kept any.
pub fn check(rec: &LockRecording) -> Option<Counters> {
    let s = &rec.setup;
    if !s.counter {
        return None;
    }
    let start = s.started_ns;
    let stop = rec.end.stopped_ns.max(start);
    let incs: Vec<&Increment> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            LockEvent::Increment(i) => Some(i),
            _ => None,
        })
        .collect();
    let path = |p: CounterPath, workers: u32| {
        let mine: Vec<&Increment> = incs.iter().copied().filter(|i| i.path == p).collect();
        one_path(rec, p, workers, &mine, start, stop)
    };
    let locked = path(CounterPath::Locked, s.workers);
    let atomic = (s.atomic_workers > 0).then(|| path(CounterPath::Atomic, s.atomic_workers));
    let atomic_speedup = atomic
        .as_ref()
        .filter(|a| a.acked > 0 && locked.acked > 0)
        .map(|a| a.per_s / locked.per_s);
    let (duplicate_writes, witnesses) = duplicates(&incs);
    Some(Counters {
        locked,
        atomic,
        atomic_speedup,
        duplicate_writes,
        witnesses,
    })
}

fn one_path(
    rec: &LockRecording,
    path: CounterPath,
    workers: u32,
    incs: &[&Increment],
    start: u64,
    stop: u64,
) -> CounterPathCheck {
    let mut out = CounterPathCheck {
        workers,
        ..Default::default()
    };
    // Per counter: acknowledged, and maybe applied.
    let mut per_lock: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    let mut acked_ends = Vec::new();
    for i in incs {
        let c = per_lock.entry(i.lock).or_default();
        match i.outcome {
            IncrementOutcome::Acked => {
                out.acked += 1;
                c.0 += 1;
                acked_ends.push(i.end_ns);
            }
            IncrementOutcome::Failed => out.failed += 1,
            IncrementOutcome::Indeterminate => {
                out.indeterminate += 1;
                c.1 += 1;
            }
            IncrementOutcome::Skipped => out.skipped += 1,
        }
    }
    let secs = stop.saturating_sub(start) as f64 / 1e9;
    out.per_s = if secs > 0.0 {
        out.acked as f64 / secs
    } else {
        0.0
    };
    out.latency_ms = percentiles(
        incs.iter()
            .filter(|i| i.outcome == IncrementOutcome::Acked)
            .map(|i| i.end_ns.saturating_sub(i.start_ns)),
    );
    (out.longest_stall_ms, out.stall_from_ms, out.stall_to_ms) = stall(acked_ends, start, stop);
    match finals(rec, path) {
        Err(why) => out.unknown = Some(why),
        Ok(_) if out.acked == 0 => {
            out.unknown = Some(format!(
                "the {} path acknowledged no increment",
                path.as_str()
            ))
        }
        Ok(finals) => {
            let (mut lost, mut over, mut sum) = (0, 0, 0i64);
            for (lock, value) in finals {
                let (acked, maybe) = per_lock.get(&lock).copied().unwrap_or_default();
                sum += value;
                let v = value.max(0) as u64;
                lost += acked.saturating_sub(v);
                over += v.saturating_sub(acked + maybe);
            }
            out.final_value = Some(sum);
            out.lost = Some(lost);
            out.over_counted = Some(over);
        }
    }
    out
}

/// Every counter of `path` read back at the end, by lock; why not when one
/// is missing or unread.
fn finals(rec: &LockRecording, path: CounterPath) -> Result<BTreeMap<u32, i64>, String> {
    let mut out = BTreeMap::new();
    for f in rec.end.counters.iter().filter(|f| f.path == path) {
        match f.value {
            Some(v) => {
                out.insert(f.lock, v);
            }
            None => {
                return Err(format!(
                    "the {} counter of lock {} was not read back: {}",
                    path.as_str(),
                    f.lock,
                    f.error.as_deref().unwrap_or("no answer")
                ));
            }
        }
    }
    if let Some(lock) = (0..rec.setup.locks).find(|l| !out.contains_key(l)) {
        return Err(format!(
            "the {} counter of lock {lock} was not read back at the end",
            path.as_str()
        ));
    }
    Ok(out)
}

/// The longest gap between acknowledgements, the workload's start and stop
/// included: (ms, from, to).
fn stall(mut ends: Vec<u64>, start: u64, stop: u64) -> (f64, f64, f64) {
    ends.retain(|&t| t >= start && t <= stop);
    ends.sort_unstable();
    let mut prev = start;
    let mut best = (0, start, start);
    for t in ends.into_iter().chain(std::iter::once(stop)) {
        if t - prev > best.0 {
            best = (t - prev, prev, t);
        }
        prev = t;
    }
    (ms(best.0), ms(best.1), ms(best.2))
}

/// Acknowledged locked writes of a value already written to the same
/// counter, and the first few pairs.
fn duplicates(incs: &[&Increment]) -> (u64, Vec<LostUpdate>) {
    let mut seen: HashMap<(u32, i64), &Increment> = HashMap::new();
    let mut count = 0;
    let mut witnesses = Vec::new();
    let mut acked: Vec<&Increment> = incs
        .iter()
        .copied()
        .filter(|i| i.path == CounterPath::Locked && i.outcome == IncrementOutcome::Acked)
        .collect();
    acked.sort_by_key(|i| i.end_ns);
    for i in acked {
        let Some(v) = i.wrote else { continue };
        match seen.get(&(i.lock, v)) {
            Some(first) => {
                count += 1;
                if witnesses.len() < MAX_WITNESSES {
                    witnesses.push(LostUpdate {
                        lock: i.lock,
                        value: v,
                        first: writer(first),
                        second: writer(i),
                    });
                }
            }
            None => {
                seen.insert((i.lock, v), i);
            }
        }
    }
    (count, witnesses)
}

fn writer(i: &Increment) -> Writer {
    Writer {
        worker: worker_name(i.worker),
        acquisition: i.acquisition.unwrap_or(0),
        read_ms: ms(i.read_ns.unwrap_or(i.start_ns)),
        wrote_ms: ms(i.end_ns),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::locks::{Algorithm, CounterFinal, LockEnd, LockSetup};

    const MS: u64 = 1_000_000;

    /// One instance, two lock workers, one lock, its counter kept.
    fn setup(atomic_workers: u32) -> LockSetup {
        LockSetup {
            algorithm: Algorithm::Single,
            instances: vec!["n1".into()],
            quorum: 1,
            locks: 1,
            resources: vec![],
            counter: true,
            atomic_workers,
            ..crate::record::locks::tests::setup()
        }
    }

    /// A locked increment by `w` that read `read` at `r` ms and wrote at `e` ms.
    fn locked(w: u32, a: u64, r: u64, e: u64, read: i64, outcome: IncrementOutcome) -> LockEvent {
        LockEvent::Increment(Increment {
            path: CounterPath::Locked,
            worker: w,
            lock: 0,
            acquisition: Some(a),
            start_ns: r * MS - MS,
            read_ns: Some(r * MS),
            end_ns: e * MS,
            read: Some(read),
            wrote: (outcome == IncrementOutcome::Acked).then_some(read + 1),
            outcome,
            error: None,
        })
    }

    fn atomic(w: u32, s: u64, e: u64, v: Option<i64>, outcome: IncrementOutcome) -> LockEvent {
        LockEvent::Increment(Increment {
            path: CounterPath::Atomic,
            worker: w,
            lock: 0,
            acquisition: None,
            start_ns: s * MS,
            read_ns: None,
            end_ns: e * MS,
            read: None,
            wrote: v,
            outcome,
            error: None,
        })
    }

    fn recording(events: Vec<LockEvent>, finals: Vec<(CounterPath, Option<i64>)>) -> LockRecording {
        LockRecording {
            setup: setup(2),
            events,
            end: LockEnd {
                stopped_ns: 1000 * MS,
                counters: finals
                    .into_iter()
                    .map(|(path, value)| CounterFinal {
                        path,
                        lock: 0,
                        value,
                        error: value.is_none().then(|| "timeout".into()),
                    })
                    .collect(),
                ..Default::default()
            },
        }
    }

    use IncrementOutcome::*;

    #[test]
    fn a_holder_that_outlived_its_lock_loses_the_updates_made_meanwhile() {
        // w0 reads 0 at 10 ms and sleeps; w1 increments to 1, 2, 3; w0 wakes
        // at 500 ms and writes 1 over 3: two updates lost, one witness pair.
        let rec = recording(
            vec![
                locked(1, 0, 20, 21, 0, Acked),
                locked(1, 1, 30, 31, 1, Acked),
                locked(1, 2, 40, 41, 2, Acked),
                locked(0, 0, 10, 500, 0, Acked),
                locked(1, 3, 600, 601, 1, Acked),
                atomic(2, 1, 2, Some(1), Acked),
                atomic(3, 100, 101, Some(2), Acked),
                atomic(3, 200, 201, None, Indeterminate),
            ],
            vec![
                (CounterPath::Locked, Some(2)),
                (CounterPath::Atomic, Some(3)),
            ],
        );
        let c = check(&rec).unwrap();
        assert_eq!(c.locked.acked, 5);
        assert_eq!(
            c.locked.lost,
            Some(3),
            "5 acknowledged, the counter holds 2"
        );
        assert_eq!(c.locked.over_counted, Some(0));
        assert_eq!(c.duplicate_writes, 2, "1 written twice, 2 written twice");
        let w = &c.witnesses[0];
        assert_eq!(
            (w.value, w.first.worker.as_str(), w.second.worker.as_str()),
            (1, "w1", "w0")
        );
        assert_eq!((w.second.read_ms, w.second.wrote_ms), (10.0, 500.0));
        let a = c.atomic.as_ref().unwrap();
        // 2 acknowledged, 1 maybe applied, the counter holds 3: nothing lost
        // or counted twice.
        assert_eq!(
            (a.acked, a.indeterminate, a.lost, a.over_counted),
            (2, 1, Some(0), Some(0))
        );
        assert_eq!(c.lost(), Some(3));
        assert_eq!(c.atomic_speedup, Some(2.0 / 5.0));
        // The locked path's longest stall: 41 → 500 ms; the atomic one's 101 → 1000.
        assert_eq!(
            (c.locked.longest_stall_ms, c.locked.stall_from_ms),
            (459.0, 41.0)
        );
        assert_eq!(a.longest_stall_ms, 899.0);
        assert_eq!(c.locked.latency_ms.count, 5);
        assert_eq!(c.locked.latency_ms.max, 491.0);
    }

    #[test]
    fn a_counter_above_its_increments_counts_twice_and_an_unread_one_is_unknown() {
        let events = vec![
            atomic(2, 1, 2, Some(1), Acked),
            atomic(2, 3, 4, None, Indeterminate),
            locked(0, 0, 5, 6, 0, Acked),
        ];
        // The atomic counter holds 4: two above 1 acknowledged + 1 maybe.
        let c = check(&recording(
            events.clone(),
            vec![
                (CounterPath::Locked, Some(1)),
                (CounterPath::Atomic, Some(4)),
            ],
        ))
        .unwrap();
        assert_eq!(c.atomic.as_ref().unwrap().over_counted, Some(2));
        assert_eq!(c.lost(), Some(0));
        // Unread, or not there at all: unknown, never 0.
        for finals in [
            vec![(CounterPath::Locked, None), (CounterPath::Atomic, Some(1))],
            vec![(CounterPath::Atomic, Some(1))],
        ] {
            let c = check(&recording(events.clone(), finals)).unwrap();
            assert_eq!((c.locked.lost, c.locked.over_counted), (None, None));
            assert!(c.locked.unknown.as_deref().unwrap().contains("lock 0"));
            assert_eq!(c.lost(), None);
        }
        // A path that acknowledged nothing has nothing to judge.
        let c = check(&recording(
            vec![locked(0, 0, 5, 6, 0, Failed)],
            vec![
                (CounterPath::Locked, Some(0)),
                (CounterPath::Atomic, Some(0)),
            ],
        ))
        .unwrap();
        assert_eq!(c.locked.lost, None);
        assert_eq!(c.atomic_speedup, None);
        // A skipped write is no increment, and loses nothing.
        let c = check(&recording(
            vec![
                locked(0, 0, 5, 6, 0, Acked),
                locked(1, 0, 7, 300, 1, Skipped),
            ],
            vec![
                (CounterPath::Locked, Some(1)),
                (CounterPath::Atomic, Some(0)),
            ],
        ))
        .unwrap();
        assert_eq!(
            (c.locked.acked, c.locked.skipped, c.locked.lost),
            (1, 1, Some(0))
        );
    }

    #[test]
    fn a_workload_without_counters_has_no_figures() {
        let mut rec = recording(vec![], vec![]);
        rec.setup.counter = false;
        assert_eq!(check(&rec), None);
    }
}
