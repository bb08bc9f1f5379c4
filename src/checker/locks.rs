//! The lock checker: a lock history (`locks.jsonl`) → safety and liveness
//! figures. Pure: it reads the recording and nothing else.
//!
//! **Mutual exclusion.** Each grant gives its holder a *validity window*:
//! from the end of the granting round (when the holder knows it holds the
//! lock) until the earlier of the start of its release and the end of its
//! validity. The validity runs out at the granting round's start + TTL −
//! drift: the key was set after the round started, so no server can expire
//! it earlier, less the drift allowance — the holder's own belief, as
//! Redlock's reference clients compute it (`validity = TTL − elapsed −
//! drift`, counted from the end of the round). A successful extension
//! started inside the window moves that end to the extension's end + its
//! validity (its start + TTL − drift), reckoned the same way. Windows are half-open, `[from, to)`: a window that ends at the
//! very nanosecond another begins *touches* it and does not overlap it —
//! one holder's release reaching the server before the next grant is
//! exactly that sequence. Two windows of different grants of one lock that
//! overlap are a **violation**: two clients both held the lock, each by its
//! own reckoning. Every overlap is kept, with both holders and its length.
//!
//! **Fencing.** Each resource decided on its writes in one order (its
//! `seq`). A write is *stale* when its fencing token is not above the
//! highest token the resource had accepted before it — exactly the writes
//! fencing exists to refuse. On the fenced resource they should all be
//! rejected (`stale_writes_accepted` counts those that were not); on the
//! unfenced one they are all accepted, and counting them shows what fencing
//! saves. Apart from staleness: writes sent after their holder's validity
//! had run out, and writes the fenced resource refused although their
//! holder's window was still open (tokens that went backwards, as a lock
//! counter lost with a restarted instance makes them).
//!
//! **Liveness.** Acquisition latency (first attempt's start → grant),
//! grants per second of the workload's run, timeouts, and fairness: each
//! worker's share of the grants, and Jain's index over them.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::latency::{Latency, percentiles};
use crate::record::locks::{
    Extend, Grant, LockEvent, LockRecording, ResourceKind, Write, WriteOutcome, worker_name,
};
use crate::record::timeline::ms;

/// Overlaps and pauses the report lists at most (the counts stay exact):
/// a broken lock can overlap thousands of times, and the first ones say why.
pub const MAX_LISTED: usize = 100;

/// The lock workers of one region and what they got.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockRegion {
    pub region: String,
    pub workers: u32,
    pub grants: u64,
    /// Acquisitions that gave up after `acquire_timeout_ms`.
    pub timeouts: u64,
    /// First attempt's start → grant, of their granted acquisitions.
    pub acquire_ms: Latency,
}

/// What each region's workers got: worker w is in `regions[w mod n]`.
fn by_region(rec: &LockRecording, grants: &[&Grant]) -> Vec<LockRegion> {
    let regions = &rec.setup.regions;
    let region_of = |w: u32| crate::record::region_of(regions, w);
    regions
        .iter()
        .map(|r| {
            let mine = |w: u32| region_of(w) == Some(r.as_str());
            LockRegion {
                region: r.clone(),
                workers: (0..rec.setup.workers).filter(|&w| mine(w)).count() as u32,
                grants: grants.iter().filter(|g| mine(g.worker)).count() as u64,
                timeouts: (rec.events.iter())
                    .filter(|e| matches!(e, LockEvent::Timeout(t) if mine(t.worker)))
                    .count() as u64,
                acquire_ms: percentiles(
                    (grants.iter())
                        .filter(|g| mine(g.worker))
                        .map(|g| g.end_ns.saturating_sub(g.start_ns)),
                ),
            }
        })
        .collect()
}

/// What the lock history shows: the report's `locks` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockCheck {
    /// `single` or `redlock`.
    pub algorithm: String,
    pub instances: Vec<String>,
    pub quorum: u32,
    pub workers: u32,
    pub locks: u32,
    pub ttl_ms: u64,
    /// Acquisitions that ended in a grant.
    pub grants: u64,
    /// Pairs of grants of one lock whose validity windows overlap.
    pub violations: u64,
    /// Grants per second of the lock workload's run.
    pub grants_per_s: f64,
    /// First attempt's start → grant, of granted acquisitions.
    pub acquire_ms: Latency,
    pub resources: Resources,
    /// Rounds of `SET NX` over the instances, granted or not.
    pub attempts: u64,
    /// Acquisitions that gave up after `acquire_timeout_ms`.
    pub timeouts: u64,
    /// The longest overlap (ms); 0 without one.
    pub longest_overlap_ms: f64,
    /// The first overlaps, in time order.
    pub overlaps: Vec<Overlap>,
    /// Grants by how many instances granted them (`"3"`: a bare quorum of 5).
    pub grants_by_instances: BTreeMap<String, u64>,
    /// Releases that found the key gone or someone else's on a quorum of
    /// instances: the lock had expired (or been lost) before the release.
    pub releases_lost: u64,
    pub extensions: u64,
    pub extensions_failed: u64,
    /// Each worker's share of the grants (0..1), and Jain's index over the
    /// shares (1: perfectly even; 1/workers: one worker took everything).
    pub fairness: BTreeMap<String, f64>,
    pub fairness_index: f64,
    /// Holders frozen by a `pause` of `lock_holder:<n>`, as it happened.
    pub pauses: Vec<PauseMs>,
    /// How long the workload ran (ms).
    pub duration_ms: f64,
    /// The tool's own lag: the latest a worker's timer woke (ms), and how
    /// many wake-ups were more than 1 ms late.
    pub max_timer_late_ms: f64,
    pub timer_late_over_1ms: u64,
    /// With `locks.regions`: what each region's workers got.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_region: Vec<LockRegion>,
    /// With `locks.counter`: the locked and atomic counters side by side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<super::atomic::Counters>,
    /// Why the history may lack events (then every lock figure is unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
}

/// The protected resources the drill used; a kind it did not use is absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fenced: Option<Fenced>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfenced: Option<Unfenced>,
}

/// What the fenced resource saw: the writes fencing refused are the ones a
/// lock alone would have let through.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fenced {
    /// Stale writes it accepted anyway: fencing failed (should be 0).
    pub stale_writes_accepted: u64,
    /// Stale writes it refused: what fencing saved.
    pub stale_writes_rejected: u64,
    pub writes_accepted: u64,
    /// Refused although the writer's validity window was still open: its
    /// token was below an earlier holder's (tokens went backwards).
    pub rejected_while_valid: u64,
    /// Sent after the writer's validity had run out, whatever it decided.
    pub writes_after_expiry: u64,
    /// Not sent: the holder saw its validity had run out.
    pub writes_skipped: u64,
}

/// What the unfenced resource saw, beside the fenced one: the same writes
/// with nothing to refuse them, so the difference is what fencing buys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Unfenced {
    /// Writes whose token was not above one it had already taken: what a
    /// fenced resource would have refused.
    pub stale_writes_accepted: u64,
    pub writes_accepted: u64,
    pub writes_after_expiry: u64,
    pub writes_skipped: u64,
}

/// Two grants of one lock held at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overlap {
    pub lock: u32,
    /// The grant whose window began first, and the other.
    pub first: Holding,
    pub second: Holding,
    pub from_ms: f64,
    pub to_ms: f64,
    pub ms: f64,
}

/// One grant's validity window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holding {
    pub worker: String,
    pub acquisition: u64,
    pub fence: u64,
    pub granted_on: Vec<String>,
    pub from_ms: f64,
    pub to_ms: f64,
}

/// A holder frozen by the nemesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PauseMs {
    pub worker: String,
    pub lock: u32,
    pub fence: u64,
    pub from_ms: f64,
    pub to_ms: f64,
    /// Whether its validity had run out when it went on.
    pub outlived_validity: bool,
}

/// One grant's window, in ns.
#[derive(Debug, Clone)]
struct GrantWindow<'a> {
    grant: &'a Grant,
    from: u64,
    to: u64,
    /// The end of its validity, whatever the release did.
    valid_until: u64,
}

type Key = (u32, u64);

/// Check a lock history.
pub fn check(rec: &LockRecording) -> LockCheck {
    let s = &rec.setup;
    let windows = windows(rec);
    let by_grant: HashMap<Key, &GrantWindow> = windows
        .iter()
        .map(|w| ((w.grant.worker, w.grant.acquisition), w))
        .collect();
    let overlaps = overlaps(&windows);
    let grants: Vec<&Grant> = windows.iter().map(|w| w.grant).collect();
    let duration_ns = rec.end.stopped_ns.saturating_sub(s.started_ns);
    let mut out = LockCheck {
        algorithm: s.algorithm.as_str().to_string(),
        instances: s.instances.clone(),
        quorum: s.quorum,
        workers: s.workers,
        locks: s.locks,
        ttl_ms: s.ttl_ms,
        grants: grants.len() as u64,
        violations: overlaps.len() as u64,
        grants_per_s: if duration_ns > 0 {
            grants.len() as f64 / (duration_ns as f64 / 1e9)
        } else {
            0.0
        },
        acquire_ms: percentiles(grants.iter().map(|g| g.end_ns.saturating_sub(g.start_ns))),
        resources: resources(rec, &by_grant),
        longest_overlap_ms: overlaps.iter().map(|o| o.ms).fold(0.0, f64::max),
        overlaps: overlaps.into_iter().take(MAX_LISTED).collect(),
        duration_ms: ms(duration_ns),
        max_timer_late_ms: rec.end.max_timer_late_ms,
        timer_late_over_1ms: rec.end.timer_late_over_1ms,
        ..LockCheck::default()
    };
    for g in &grants {
        *out.grants_by_instances
            .entry(g.granted_on.len().to_string())
            .or_insert(0) += 1;
    }
    tally(rec, &by_grant, &mut out);
    (out.fairness, out.fairness_index) = fairness(s.workers, &grants);
    out.by_region = by_region(rec, &grants);
    out.counters = super::atomic::check(rec);
    out.incomplete = incomplete(rec, &out);
    out
}

/// Attempts, timeouts, extensions, lost releases, pauses.
fn tally(rec: &LockRecording, by_grant: &HashMap<Key, &GrantWindow>, out: &mut LockCheck) {
    for e in &rec.events {
        match e {
            LockEvent::Attempt(_) => out.attempts += 1,
            LockEvent::Timeout(_) => out.timeouts += 1,
            LockEvent::Extend(x) => {
                out.extensions += 1;
                if !x.ok {
                    out.extensions_failed += 1;
                }
            }
            LockEvent::Release(r) if (r.released_on.len() as u32) < rec.setup.quorum => {
                out.releases_lost += 1;
            }
            LockEvent::Pause(p) if out.pauses.len() < MAX_LISTED => {
                let w = by_grant.get(&(p.worker, p.acquisition));
                out.pauses.push(PauseMs {
                    worker: worker_name(p.worker),
                    lock: p.lock,
                    fence: w.map_or(0, |w| w.grant.fence),
                    from_ms: ms(p.start_ns),
                    to_ms: ms(p.end_ns),
                    outlived_validity: w.is_some_and(|w| p.end_ns >= w.valid_until),
                });
            }
            _ => {}
        }
    }
}

/// Every grant's validity window, extensions and release applied.
fn windows(rec: &LockRecording) -> Vec<GrantWindow<'_>> {
    let mut extends: HashMap<Key, Vec<&Extend>> = HashMap::new();
    let mut released: HashMap<Key, u64> = HashMap::new();
    for e in &rec.events {
        match e {
            LockEvent::Extend(x) if x.ok => extends
                .entry((x.worker, x.acquisition))
                .or_default()
                .push(x),
            LockEvent::Release(r) => {
                released.insert((r.worker, r.acquisition), r.start_ns);
            }
            _ => {}
        }
    }
    rec.events
        .iter()
        .filter_map(|e| match e {
            LockEvent::Grant(g) => Some(g),
            _ => None,
        })
        .map(|g| {
            let key = (g.worker, g.acquisition);
            let mut valid_until = g.valid_until_ns();
            let mut exts = extends.get(&key).cloned().unwrap_or_default();
            exts.sort_by_key(|x| x.start_ns);
            for x in exts {
                // An extension counts only while the lock was still held.
                if x.start_ns < valid_until {
                    valid_until = valid_until.max(x.end_ns + x.validity_ns);
                }
            }
            let to = released
                .get(&key)
                .map_or(valid_until, |&r| r.min(valid_until));
            GrantWindow {
                grant: g,
                from: g.end_ns,
                to: to.max(g.end_ns),
                valid_until,
            }
        })
        .collect()
}

/// Every pair of windows of one lock that overlap, in time order.
fn overlaps(windows: &[GrantWindow]) -> Vec<Overlap> {
    let mut by_lock: BTreeMap<u32, Vec<&GrantWindow>> = BTreeMap::new();
    for w in windows {
        by_lock.entry(w.grant.lock).or_default().push(w);
    }
    let mut out = Vec::new();
    for (lock, mut ws) in by_lock {
        ws.sort_by_key(|w| (w.from, w.to));
        for (i, a) in ws.iter().enumerate() {
            // Sorted by start: once one starts at or after `a` ends, so do the rest.
            for b in ws[i + 1..].iter().take_while(|b| b.from < a.to) {
                let same =
                    (a.grant.worker, a.grant.acquisition) == (b.grant.worker, b.grant.acquisition);
                if same || b.to <= b.from {
                    continue;
                }
                let (from, to) = (b.from, a.to.min(b.to));
                out.push(Overlap {
                    lock,
                    first: holding(a),
                    second: holding(b),
                    from_ms: ms(from),
                    to_ms: ms(to),
                    ms: ms(to - from),
                });
            }
        }
    }
    out.sort_by(|a, b| a.from_ms.total_cmp(&b.from_ms));
    out
}

fn holding(w: &GrantWindow) -> Holding {
    Holding {
        worker: worker_name(w.grant.worker),
        acquisition: w.grant.acquisition,
        fence: w.grant.fence,
        granted_on: w.grant.granted_on.clone(),
        from_ms: ms(w.from),
        to_ms: ms(w.to),
    }
}

/// Fencing, per resource kind the drill used.
fn resources(rec: &LockRecording, by_grant: &HashMap<Key, &GrantWindow>) -> Resources {
    let mut out = Resources::default();
    for &kind in &rec.setup.resources {
        let writes: Vec<&Write> = rec
            .events
            .iter()
            .filter_map(|e| match e {
                LockEvent::Write(w) if w.resource == kind => Some(w),
                _ => None,
            })
            .collect();
        let f = fencing(&writes, by_grant);
        match kind {
            ResourceKind::Fenced => out.fenced = Some(f),
            ResourceKind::Unfenced => {
                out.unfenced = Some(Unfenced {
                    stale_writes_accepted: f.stale_writes_accepted,
                    writes_accepted: f.writes_accepted,
                    writes_after_expiry: f.writes_after_expiry,
                    writes_skipped: f.writes_skipped,
                });
            }
        }
    }
    out
}

/// One resource's writes, walked in the order it decided on them.
fn fencing(writes: &[&Write], by_grant: &HashMap<Key, &GrantWindow>) -> Fenced {
    let mut f = Fenced::default();
    let mut by_lock: BTreeMap<u32, Vec<&Write>> = BTreeMap::new();
    for w in writes {
        if w.outcome == WriteOutcome::Skipped {
            f.writes_skipped += 1;
        } else {
            by_lock.entry(w.lock).or_default().push(w);
        }
    }
    for (_, mut ws) in by_lock {
        ws.sort_by_key(|w| (w.seq, w.start_ns));
        let mut highest: Option<u64> = None;
        for w in ws {
            let stale = highest.is_some_and(|h| w.fence <= h);
            let valid_until = by_grant
                .get(&(w.worker, w.acquisition))
                .map_or(0, |g| g.valid_until);
            let expired = w.start_ns >= valid_until;
            f.writes_after_expiry += u64::from(expired);
            match w.outcome {
                WriteOutcome::Accepted => {
                    f.writes_accepted += 1;
                    f.stale_writes_accepted += u64::from(stale);
                    highest = highest.max(Some(w.fence));
                }
                WriteOutcome::Rejected => {
                    f.stale_writes_rejected += u64::from(stale);
                    f.rejected_while_valid += u64::from(!expired);
                }
                WriteOutcome::Skipped => {}
            }
        }
    }
    f
}

/// Each worker's share of the grants, and Jain's index over them.
fn fairness(workers: u32, grants: &[&Grant]) -> (BTreeMap<String, f64>, f64) {
    let mut per: Vec<u64> = vec![0; workers as usize];
    for g in grants {
        if let Some(n) = per.get_mut(g.worker as usize) {
            *n += 1;
        }
    }
    let total: u64 = per.iter().sum();
    let shares = per
        .iter()
        .enumerate()
        .map(|(w, &n)| {
            let share = if total > 0 {
                n as f64 / total as f64
            } else {
                0.0
            };
            (worker_name(w as u32), share)
        })
        .collect();
    let sum_sq: f64 = per.iter().map(|&n| (n as f64).powi(2)).sum();
    let index = if sum_sq > 0.0 {
        (total as f64).powi(2) / (per.len() as f64 * sum_sq)
    } else {
        0.0
    };
    (shares, index)
}

/// Why the history may not hold everything the workers did.
fn incomplete(rec: &LockRecording, out: &LockCheck) -> Option<String> {
    let mut why = Vec::new();
    if rec.end.unrecorded > 0 {
        why.push(format!(
            "{} lock events ran past the history's size limit",
            rec.end.unrecorded
        ));
    }
    if rec.end.workers_unfinished > 0 {
        why.push(format!(
            "{} lock workers had not ended when the stop's bound ran out",
            rec.end.workers_unfinished
        ));
    }
    // The registers' own counts against the history's.
    let counted = |kind| {
        rec.end
            .registers
            .get(&kind)
            .map(|regs| regs.iter().map(|r| r.accepted).sum::<u64>())
    };
    let pairs = [
        (
            ResourceKind::Fenced,
            out.resources.fenced.as_ref().map(|f| f.writes_accepted),
        ),
        (
            ResourceKind::Unfenced,
            out.resources.unfenced.as_ref().map(|u| u.writes_accepted),
        ),
    ];
    for (kind, seen) in pairs {
        if let (Some(c), Some(s)) = (counted(kind), seen)
            && c != s
        {
            why.push(format!(
                "the {} resource accepted {c} writes and the history holds {s}",
                kind.as_str()
            ));
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::locks::{
        Algorithm, Attempt, AttemptOutcome, LockEnd, LockSetup, Pause, RegisterState, Release,
        Timeout,
    };

    const MS: u64 = 1_000_000;

    /// TTL 100 ms, drift 3 ms: a grant whose round started at `t` is valid
    /// until `t + 97 ms`.
    fn setup(resources: Vec<ResourceKind>) -> LockSetup {
        LockSetup {
            algorithm: Algorithm::Redlock,
            instances: ["n1", "n2", "n3", "n4", "n5"].map(String::from).to_vec(),
            quorum: 3,
            workers: 3,
            locks: 2,
            ttl_ms: 100,
            drift_ms: 3.0,
            instance_timeout_ms: 10,
            check_validity: true,
            extend: false,
            resources,
            wait: None,
            seed: 1,
            started_ns: 0,
            regions: Vec::new(),
            counter: false,
            atomic_workers: 0,
        }
    }

    fn recording(events: Vec<LockEvent>) -> LockRecording {
        LockRecording {
            setup: setup(vec![ResourceKind::Fenced, ResourceKind::Unfenced]),
            events,
            end: LockEnd {
                stopped_ns: 1000 * MS,
                ..Default::default()
            },
        }
    }

    /// Worker `w`'s acquisition `a` of lock 0: its round ran `start..end`
    /// (ns), fence `fence`, on `on`.
    fn grant(w: u32, a: u64, start: u64, end: u64, fence: u64, on: &[&str]) -> LockEvent {
        LockEvent::Grant(Grant {
            worker: w,
            lock: 0,
            acquisition: a,
            token: format!("w{w}-{a}"),
            fence,
            start_ns: start,
            end_ns: end,
            attempt_start_ns: start,
            validity_ns: (start + 97 * MS).saturating_sub(end),
            attempts: 1,
            granted_on: on.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn release(w: u32, a: u64, at: u64) -> LockEvent {
        LockEvent::Release(Release {
            worker: w,
            lock: 0,
            acquisition: a,
            start_ns: at,
            end_ns: at + MS / 10,
            released_on: ["n1", "n2", "n3"].map(String::from).to_vec(),
            errors: BTreeMap::new(),
            followed_to: None,
        })
    }

    fn write(
        w: u32,
        a: u64,
        kind: ResourceKind,
        fence: u64,
        seq: u64,
        at: u64,
        ok: bool,
    ) -> LockEvent {
        LockEvent::Write(Write {
            worker: w,
            lock: 0,
            acquisition: a,
            resource: kind,
            fence,
            seq: Some(seq),
            start_ns: at,
            end_ns: at + 1,
            outcome: if ok {
                WriteOutcome::Accepted
            } else {
                WriteOutcome::Rejected
            },
            last_fence: None,
        })
    }

    const ABC: &[&str] = &["n1", "n2", "n3"];

    #[test]
    fn a_release_that_touches_the_next_grant_is_no_violation() {
        // w0 holds [1, 20) ms; w1's grant ends exactly at 20 ms.
        let touching = check(&recording(vec![
            grant(0, 0, 0, MS, 1, ABC),
            release(0, 0, 20 * MS),
            grant(1, 0, 19 * MS, 20 * MS, 2, ABC),
        ]));
        assert_eq!(touching.violations, 0, "{:?}", touching.overlaps);
        // One nanosecond earlier, it overlaps by one nanosecond.
        let one_ns = check(&recording(vec![
            grant(0, 0, 0, MS, 1, ABC),
            release(0, 0, 20 * MS),
            grant(1, 0, 19 * MS, 20 * MS - 1, 2, ABC),
        ]));
        assert_eq!(one_ns.violations, 1);
        let o = &one_ns.overlaps[0];
        assert_eq!(
            (o.first.worker.as_str(), o.second.worker.as_str()),
            ("w0", "w1")
        );
        assert!((o.ms - 1e-6).abs() < 1e-12, "{}", o.ms);
    }

    #[test]
    fn a_window_ends_with_its_validity_when_the_release_comes_later() {
        // w0's round started at 0: valid until 97 ms (TTL 100 − drift 3),
        // though its release only starts at 300 ms (it was paused).
        let held = |next_grant_end: u64| {
            check(&recording(vec![
                grant(0, 0, 0, MS, 1, ABC),
                grant(1, 0, 90 * MS, next_grant_end, 2, &["n1", "n4", "n5"]),
                release(0, 0, 300 * MS),
            ]))
        };
        assert_eq!(
            held(97 * MS).violations,
            0,
            "touching the end of the validity"
        );
        let c = held(97 * MS - 1);
        assert_eq!(c.violations, 1);
        assert_eq!(c.overlaps[0].to_ms, 97.0);
        assert_eq!(c.overlaps[0].first.granted_on, ABC);
        assert_eq!(c.overlaps[0].second.granted_on, ["n1", "n4", "n5"]);
        // An extension inside the window carries it on: start + 97 ms.
        let ext = |start: u64| {
            LockEvent::Extend(Extend {
                worker: 0,
                lock: 0,
                acquisition: 0,
                start_ns: start,
                end_ns: start + MS,
                ok: true,
                extended_on: ABC.iter().map(|s| s.to_string()).collect(),
                validity_ns: 96 * MS,
            })
        };
        let extended = check(&recording(vec![
            grant(0, 0, 0, MS, 1, ABC),
            ext(50 * MS),
            grant(1, 0, 120 * MS, 140 * MS, 2, ABC),
            release(0, 0, 300 * MS),
        ]));
        assert_eq!(extended.violations, 1);
        assert_eq!(extended.overlaps[0].to_ms, 147.0);
        // One started after the validity ran out does not revive it.
        let late = check(&recording(vec![
            grant(0, 0, 0, MS, 1, ABC),
            ext(98 * MS),
            grant(1, 0, 120 * MS, 140 * MS, 2, ABC),
            release(0, 0, 300 * MS),
        ]));
        assert_eq!(late.violations, 0);
    }

    /// Kleppmann's case, as the Redlock drill provokes it: w0 holds a bare
    /// quorum {n1, n2, n3}; n1 restarts without persistence and w1 takes
    /// {n1, n4, n5} while w0 still holds. The checker must say so.
    #[test]
    fn the_checker_finds_two_holders_of_one_lock() {
        let c = check(&recording(vec![
            grant(0, 0, 0, 2 * MS, 7, ABC),
            grant(1, 0, 30 * MS, 32 * MS, 1, &["n1", "n4", "n5"]),
            grant(2, 0, 31 * MS, 33 * MS, 8, ABC), // the same lock on another bare quorum
            release(1, 0, 60 * MS),
            release(0, 0, 70 * MS),
            release(2, 0, 65 * MS),
        ]));
        // w0 with w1, w0 with w2, w1 with w2.
        assert_eq!(c.violations, 3);
        assert_eq!(c.overlaps.len(), 3);
        assert_eq!(c.longest_overlap_ms, 32.0);
        assert_eq!(c.grants_by_instances, BTreeMap::from([("3".into(), 3)]));
        // Different locks never conflict.
        let mut other = grant(1, 0, 30 * MS, 32 * MS, 1, ABC);
        if let LockEvent::Grant(g) = &mut other {
            g.lock = 1;
        }
        let c = check(&recording(vec![grant(0, 0, 0, 2 * MS, 7, ABC), other]));
        assert_eq!(c.violations, 0);
    }

    #[test]
    fn fencing_refuses_stale_writes_that_the_unfenced_resource_takes() {
        use ResourceKind::{Fenced, Unfenced};
        // w0 (fence 5) froze past its validity; w1 (fence 6) wrote meanwhile;
        // then w0 wrote: stale. Then w2 (fence 4, a counter that went back)
        // wrote while valid: refused although it held the lock.
        let c = check(&recording(vec![
            grant(0, 0, 0, MS, 5, ABC),
            grant(1, 0, 100 * MS, 101 * MS, 6, ABC),
            write(1, 0, Fenced, 6, 0, 110 * MS, true),
            write(1, 0, Unfenced, 6, 0, 110 * MS, true),
            release(1, 0, 120 * MS),
            write(0, 0, Fenced, 5, 1, 300 * MS, false),
            write(0, 0, Unfenced, 5, 1, 300 * MS, true),
            release(0, 0, 301 * MS),
            grant(2, 0, 400 * MS, 401 * MS, 4, ABC),
            write(2, 0, Fenced, 4, 2, 410 * MS, false),
            write(2, 0, Unfenced, 4, 2, 410 * MS, true),
            release(2, 0, 420 * MS),
        ]));
        assert_eq!(c.violations, 0, "w0's window ended with its validity");
        let f = c.resources.fenced.unwrap();
        assert_eq!(
            f,
            super::Fenced {
                stale_writes_accepted: 0,
                stale_writes_rejected: 2,
                writes_accepted: 1,
                rejected_while_valid: 1,
                writes_after_expiry: 1,
                writes_skipped: 0,
            }
        );
        let u = c.resources.unfenced.unwrap();
        assert_eq!((u.stale_writes_accepted, u.writes_after_expiry), (2, 1));
        // A fenced resource that took a stale write is caught too.
        let broken = check(&recording(vec![
            grant(0, 0, 0, MS, 6, ABC),
            grant(1, 0, 0, MS, 5, ABC),
            write(0, 0, Fenced, 6, 0, 2 * MS, true),
            write(1, 0, Fenced, 5, 1, 3 * MS, true),
        ]));
        assert_eq!(broken.resources.fenced.unwrap().stale_writes_accepted, 1);
    }

    #[test]
    fn liveness_figures() {
        let mut r = recording(vec![
            LockEvent::Attempt(Attempt {
                worker: 0,
                lock: 0,
                acquisition: 0,
                start_ns: 0,
                end_ns: MS,
                outcome: AttemptOutcome::NoQuorum,
                granted_on: vec![],
                errors: BTreeMap::new(),
            }),
            grant(0, 0, 0, 4 * MS, 1, ABC),
            release(0, 0, 10 * MS),
            grant(0, 1, 20 * MS, 22 * MS, 2, ABC),
            release(0, 1, 30 * MS),
            grant(1, 0, 40 * MS, 41 * MS, 3, &["n1", "n2", "n3", "n4", "n5"]),
            release(1, 0, 50 * MS),
            LockEvent::Timeout(Timeout {
                worker: 2,
                lock: 0,
                acquisition: 0,
                start_ns: 0,
                end_ns: 500 * MS,
                attempts: 9,
            }),
        ]);
        r.end.stopped_ns = 2000 * MS;
        let c = check(&r);
        assert_eq!((c.grants, c.attempts, c.timeouts), (3, 1, 1));
        assert_eq!(c.grants_per_s, 1.5);
        assert_eq!(c.acquire_ms.count, 3);
        assert_eq!(c.acquire_ms.max, 4.0);
        assert!((c.acquire_ms.p50 - 2.0).abs() < 0.01, "{:?}", c.acquire_ms);
        assert_eq!(c.fairness["w0"], 2.0 / 3.0);
        assert_eq!(c.fairness["w2"], 0.0);
        // (3)² / (3 × (4 + 1 + 0)) = 0.6
        assert!((c.fairness_index - 0.6).abs() < 1e-9);
        assert_eq!(
            c.grants_by_instances,
            BTreeMap::from([("3".into(), 2), ("5".into(), 1)])
        );
        assert_eq!(c.incomplete, None);
        assert!(c.by_region.is_empty());
        // Workers in regions: w0 and w2 in eu, w1 in us.
        r.setup.workers = 3;
        r.setup.regions = vec!["eu".into(), "us".into()];
        let c = check(&r);
        let got: Vec<_> = (c.by_region.iter())
            .map(|g| {
                (
                    g.region.as_str(),
                    g.workers,
                    g.grants,
                    g.timeouts,
                    g.acquire_ms.max,
                )
            })
            .collect();
        assert_eq!(got, [("eu", 2, 2, 1, 4.0), ("us", 1, 1, 0, 1.0)]);
        // Nothing granted: the latency is not a zero that passes.
        let none = check(&recording(vec![]));
        assert_eq!(none.acquire_ms.p99_measured(), None);
    }

    #[test]
    fn pauses_and_an_incomplete_history_are_reported() {
        let mut r = recording(vec![
            grant(0, 0, 0, MS, 1, ABC),
            LockEvent::Pause(Pause {
                worker: 0,
                lock: 0,
                acquisition: 0,
                start_ns: 20 * MS,
                end_ns: 220 * MS,
            }),
            write(0, 0, ResourceKind::Fenced, 1, 0, 221 * MS, true),
        ]);
        r.end.unrecorded = 4;
        r.end.registers = BTreeMap::from([(
            ResourceKind::Fenced,
            vec![RegisterState {
                lock: 0,
                accepted: 2,
                rejected: 0,
                last_fence: Some(1),
            }],
        )]);
        let c = check(&r);
        assert_eq!(c.pauses.len(), 1);
        assert!(c.pauses[0].outlived_validity);
        assert_eq!((c.pauses[0].from_ms, c.pauses[0].to_ms), (20.0, 220.0));
        let why = c.incomplete.unwrap();
        assert!(why.contains("4 lock events"), "{why}");
        assert!(
            why.contains("accepted 2 writes and the history holds 1"),
            "{why}"
        );
    }

    #[test]
    fn a_resource_the_drill_did_not_use_is_left_out() {
        let mut r = recording(vec![]);
        r.setup.resources = vec![ResourceKind::Unfenced];
        let v = serde_json::to_value(check(&r)).unwrap();
        assert!(v["resources"].get("fenced").is_none());
        assert_eq!(v["resources"]["unfenced"]["stale_writes_accepted"], 0);
        assert!(
            v["resources"]["unfenced"]
                .get("stale_writes_rejected")
                .is_none()
        );
        for field in ["grants", "violations", "grants_per_s"] {
            assert!(v.get(field).is_some(), "{field}");
        }
        for p in ["p50", "p99", "max"] {
            assert!(v["acquire_ms"].get(p).is_some(), "{p}");
        }
    }
}
