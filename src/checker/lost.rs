//! Acknowledged writes against the final state.
//!
//! For a key, the acceptable final values are:
//! - the values of acknowledged writes not superseded by an acknowledged write
//!   that started after they ended (overlapping writes may land in either order);
//! - the values of all *uncertain* writes, which may have applied at any time;
//! - the initial value, when no acknowledged write happened.
//!
//! A write is uncertain when its outcome is indeterminate, or when it is an app
//! client's failure: redis-rs retries internally and reports the last attempt's
//! error, so an earlier attempt (a dropped connection after sending) may have
//! applied. A probe's failure is definite: the probe never retries. An
//! uncertain write is never counted as lost, nor as required. Reads never count.
//!
//! A `del` is a write of nil. A `txn` is a write of its op id to every member
//! of its group. A `set` with a TTL (`SET PX`) makes nil acceptable too while
//! its value is: the key may have expired before the final read.
//!
//! The topology's eviction policy is an input ([`Eviction`]): under an
//! `allkeys-*` policy a key found nil may have been evicted, and is counted
//! as such ([`LostWrites::evicted_keys`]), apart, never as lost. An older
//! value stays a loss under every policy. Under `volatile-*` only keys with
//! a TTL may be evicted, and nil is already acceptable for those.
//!
//! Keys touched by `incr` are counters and checked by [`counters`] instead:
//! the final value must lie between the initial value plus the acknowledged
//! increments and that plus the uncertain ones. Below is a lost increment;
//! above is an over-count (an increment applied twice: an app client's retry
//! of an INCR whose first attempt had applied), reported apart.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::eviction::Eviction;
use crate::record::ops::{Op, OpKind, Outcome};
use crate::slots::key_slot;

/// The verdict on acknowledged writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LostWrites {
    /// Keys whose final value was read and checked.
    pub keys_checked: u64,
    /// Keys that should have been checked — loaded, written or read by the
    /// drill — but have no final value (not read back).
    pub keys_unread: u64,
    pub acknowledged_writes: u64,
    /// Indeterminate writes plus app-client failed writes: may or may not have applied.
    pub indeterminate_writes: u64,
    /// Keys found nil that only the eviction policy explains (an
    /// `allkeys-*` policy; always 0 under the others).
    #[serde(default)]
    pub evicted_keys: u64,
    /// Keys whose final value no allowed history explains, sorted by key.
    /// A nil that would have been acceptable is listed as `(nil)`.
    pub lost: Vec<LostWrite>,
    /// Acknowledged writes that the final state contradicts: over the lost
    /// keys, the acked writes that started after the write whose value was
    /// found had ended (they had to supersede it and did not survive).
    pub lost_acknowledged_writes: u64,
    /// When those writes were acknowledged: the first and the last ack (ns
    /// since the run's epoch) — the loss window, to set against the faults.
    pub loss_window_ns: Option<(u64, u64)>,
    /// The lost acknowledged writes by the client that had them
    /// acknowledged: where each client's region is known, what each
    /// region's clients lost.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lost_acks_by_client: BTreeMap<u32, u64>,
}

/// One key whose final value is not acceptable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LostWrite {
    pub key: String,
    pub slot: u16,
    /// The final value read (None = nil).
    pub found: Option<String>,
    /// What the final value could have been, sorted.
    pub acceptable: Vec<String>,
    /// When the last acknowledged write to the key completed (None: no
    /// acknowledged write; the initial value was lost).
    pub last_ack_end_ns: Option<u64>,
    /// Acknowledged writes of this key that were lost (see
    /// [`LostWrites::lost_acknowledged_writes`]), and when the first was acked.
    pub lost_acks: u64,
    pub first_lost_ack_end_ns: Option<u64>,
}

/// What a write left: a value (None: a DEL), and whether it carried a TTL.
type Written<'a> = (Option<&'a str>, bool);

/// How an acceptable nil is listed among the acceptable values.
pub const NIL: &str = "(nil)";

/// The writes of one key, from the history.
#[derive(Default)]
struct KeyWrites<'a> {
    /// (sent, end, what, client) of acknowledged writes: a write can have
    /// taken effect anywhere between the two, and nowhere else.
    acked: Vec<(u64, u64, Written<'a>, u32)>,
    uncertain: Vec<Written<'a>>,
    /// Count of ok and uncertain incrs.
    incr_ok: i64,
    incr_uncertain: i64,
    counter: bool,
}

/// Whether a non-ok write may have applied: a timeout, or a failure in a
/// client that retries inside its library (an earlier try may have applied).
/// The linearizability checker reads the same rule.
pub(crate) fn uncertain(op: &Op) -> bool {
    match op.outcome {
        Outcome::Ok => false,
        Outcome::Indeterminate { .. } => true,
        Outcome::Fail { .. } => op.mode.retries(),
    }
}

/// The keys an op writes and what it writes there: a set or del its key, a
/// txn every member of its group (its id).
fn writes_of(op: &Op) -> Vec<(&str, Written<'_>)> {
    let value = op.value.as_deref().unwrap_or("");
    match op.kind {
        OpKind::Set => vec![(op.key.as_str(), (Some(value), op.ttl_ms.is_some()))],
        OpKind::Del => vec![(op.key.as_str(), (None, false))],
        OpKind::Txn => op
            .members
            .iter()
            .map(|m| (m.as_str(), (Some(value), false)))
            .collect(),
        OpKind::Get | OpKind::Incr | OpKind::TxnRead => Vec::new(),
    }
}

fn gather<'a>(history: impl IntoIterator<Item = &'a Op>) -> BTreeMap<&'a str, KeyWrites<'a>> {
    let mut keys: BTreeMap<&str, KeyWrites> = BTreeMap::new();
    for op in history {
        match op.kind {
            // A key read is a key of the drill: its final value is judged
            // too (its loaded value may be lost), so a key missing from
            // the final read is never silently out of the check.
            OpKind::Get => {
                keys.entry(op.key.as_str()).or_default();
            }
            OpKind::TxnRead => {
                for m in &op.members {
                    keys.entry(m.as_str()).or_default();
                }
            }
            OpKind::Set | OpKind::Del | OpKind::Txn => {
                for (key, written) in writes_of(op) {
                    let w = keys.entry(key).or_default();
                    if op.is_ok() {
                        w.acked.push((op.sent_ns, op.end_ns, written, op.client));
                    } else if uncertain(op) {
                        w.uncertain.push(written);
                    }
                }
            }
            OpKind::Incr => {
                let w = keys.entry(op.key.as_str()).or_default();
                w.counter = true;
                if op.is_ok() {
                    w.incr_ok += 1;
                } else if uncertain(op) {
                    w.incr_uncertain += 1;
                }
            }
        }
    }
    keys
}

/// Check every acknowledged write (see the module docs). `initial` is the state
/// `load` left (keys absent from it started nil); `final_values` what
/// `read_final` read; `eviction` what the servers may remove on their own.
pub fn lost_writes<'a>(
    history: impl IntoIterator<Item = &'a Op>,
    initial: &HashMap<String, String>,
    final_values: &HashMap<String, Option<String>>,
    eviction: Eviction,
) -> LostWrites {
    let mut writes = gather(history);
    for k in initial.keys() {
        writes.entry(k.as_str()).or_default();
    }
    let mut out = LostWrites::default();
    for (key, w) in writes {
        if w.counter {
            continue;
        }
        out.acknowledged_writes += w.acked.len() as u64;
        out.indeterminate_writes += w.uncertain.len() as u64;
        let Some(found) = final_values.get(key) else {
            out.keys_unread += 1;
            continue;
        };
        out.keys_checked += 1;
        // An acked write is superseded by an acked write that started after it
        // ended: it stays acceptable iff it ended at or after the last acked start.
        let last_start = w.acked.iter().map(|a| a.0).max();
        let mut written: Vec<Written> = w.uncertain.clone();
        if let Some(last_start) = last_start {
            written.extend(w.acked.iter().filter(|a| a.1 >= last_start).map(|a| a.2));
        } else {
            written.push((initial.get(key).map(String::as_str), false));
        }
        // A value with a TTL may have expired: nil goes with it.
        let acceptable: BTreeSet<Option<&str>> = written
            .iter()
            .flat_map(|&(v, ttl)| [Some(v), ttl.then_some(None)])
            .flatten()
            .collect();
        if found.is_none() && eviction == Eviction::AllKeys && !acceptable.contains(&None) {
            out.evicted_keys += 1;
            continue;
        }
        if !acceptable.contains(&found.as_deref()) {
            // The write whose value was found, if it was an acked one: every
            // acked write that started after it ended should have replaced it.
            let found_end = w
                .acked
                .iter()
                .filter(|a| a.2.0 == found.as_deref())
                .map(|a| a.1)
                .max();
            let lost: Vec<_> = w
                .acked
                .iter()
                .filter(|a| found_end.is_none_or(|e| a.0 > e))
                .collect();
            for a in &lost {
                *out.lost_acks_by_client.entry(a.3).or_default() += 1;
            }
            let lost_ends: Vec<u64> = lost.iter().map(|a| a.1).collect();
            let first = lost_ends.iter().copied().min();
            if let (Some(first), Some(last)) = (first, lost_ends.iter().copied().max()) {
                out.loss_window_ns = Some(match out.loss_window_ns {
                    None => (first, last),
                    Some((a, b)) => (a.min(first), b.max(last)),
                });
            }
            out.lost_acknowledged_writes += lost_ends.len() as u64;
            out.lost.push(LostWrite {
                lost_acks: lost_ends.len() as u64,
                first_lost_ack_end_ns: first,
                key: key.to_string(),
                slot: key_slot(key.as_bytes()),
                found: found.clone(),
                acceptable: acceptable
                    .into_iter()
                    .map(|v| v.unwrap_or(NIL).to_string())
                    .collect(),
                last_ack_end_ns: w.acked.iter().map(|a| a.1).max(),
            });
        }
    }
    out
}

/// The verdict on counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CounterVerdict {
    pub keys_checked: u64,
    pub keys_unread: u64,
    pub acknowledged_incrs: u64,
    /// Indeterminate incrs plus app-client failed incrs.
    pub indeterminate_incrs: u64,
    /// CounterVerdict whose final value is out of bounds, sorted by key.
    pub violations: Vec<CounterViolation>,
    /// Acknowledged increments missing from the counters below their
    /// bounds (summed over them: `min - found`).
    pub lost_increments: u64,
    /// Increments beyond every acknowledged and uncertain one, over the
    /// counters above their bounds (`found - max`): an INCR applied twice,
    /// which only a client that retries after sending can do.
    pub over_counted_increments: u64,
}

/// A counter outside `[min, max]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterViolation {
    pub key: String,
    pub slot: u16,
    /// The final value read (None = nil); a non-number is a violation.
    pub found: Option<String>,
    /// Initial value plus acknowledged increments.
    pub min: i64,
    /// `min` plus uncertain increments.
    pub max: i64,
}

/// Check every counter (key touched by `incr`): its final value must be at
/// least initial + acknowledged incrs and at most that + uncertain incrs. A
/// counter absent from `initial` started at 0 (what INCR assumes of nil).
pub fn counters<'a>(
    history: impl IntoIterator<Item = &'a Op>,
    initial: &HashMap<String, String>,
    final_values: &HashMap<String, Option<String>>,
) -> CounterVerdict {
    let mut out = CounterVerdict::default();
    for (key, w) in gather(history) {
        if !w.counter {
            continue;
        }
        out.acknowledged_incrs += w.incr_ok as u64;
        out.indeterminate_incrs += w.incr_uncertain as u64;
        let Some(found) = final_values.get(key) else {
            out.keys_unread += 1;
            continue;
        };
        out.keys_checked += 1;
        let init: i64 = initial.get(key).and_then(|v| v.parse().ok()).unwrap_or(0);
        let min = init.saturating_add(w.incr_ok);
        let max = min.saturating_add(w.incr_uncertain);
        let value: Option<i64> = match found {
            None => Some(0),
            Some(v) => v.parse().ok(),
        };
        match value {
            Some(v) if v < min => out.lost_increments += min.abs_diff(v),
            Some(v) if v > max => out.over_counted_increments += v.abs_diff(max),
            _ => {}
        }
        if !value.is_some_and(|v| (min..=max).contains(&v)) {
            out.violations.push(CounterViolation {
                key: key.to_string(),
                slot: key_slot(key.as_bytes()),
                found: found.clone(),
                min,
                max,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;

    fn init(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn fin(pairs: &[(&str, Option<&str>)]) -> HashMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn lost_write_is_found() {
        let h = vec![set("k", "a", 10, 20), set("k", "b", 30, 40)];
        let r = lost_writes(
            &h,
            &init(&[("k", "i")]),
            &fin(&[("k", Some("a"))]),
            Eviction::None,
        );
        assert_eq!(r.keys_checked, 1);
        assert_eq!(r.acknowledged_writes, 2);
        assert_eq!(r.lost.len(), 1);
        let l = &r.lost[0];
        assert_eq!(l.key, "k");
        assert_eq!(l.found.as_deref(), Some("a"));
        assert_eq!(l.acceptable, vec!["b"]);
        assert_eq!(l.last_ack_end_ns, Some(40_000_000));
        // The right value is fine.
        let r = lost_writes(
            &h,
            &init(&[("k", "i")]),
            &fin(&[("k", Some("b"))]),
            Eviction::None,
        );
        assert!(r.lost.is_empty());
        // Nil is lost too.
        let r = lost_writes(
            &h,
            &init(&[("k", "i")]),
            &fin(&[("k", None)]),
            Eviction::None,
        );
        assert_eq!(r.lost.len(), 1);
    }

    #[test]
    fn lost_acks_are_counted_with_their_window() {
        // A failover drill: a survives (it replicated), b, c and d were acked
        // by the old primary after that and are lost; an indeterminate write
        // during the window is neither lost nor found. Key m lost its one write.
        let h = vec![
            set("k", "a", 0, 10),
            set("k", "b", 20, 30),
            indeterminate(set("k", "x", 35, 1035)),
            set("k", "c", 40, 50),
            set("k", "d", 60, 70),
            set("m", "z", 45, 55),
            set("n", "q", 45, 55),
        ];
        let r = lost_writes(
            &h,
            &init(&[("k", "i"), ("m", "i"), ("n", "i")]),
            &fin(&[("k", Some("a")), ("m", Some("i")), ("n", Some("q"))]),
            Eviction::None,
        );
        assert_eq!(r.lost.len(), 2);
        assert_eq!(r.lost_acknowledged_writes, 4);
        assert_eq!((r.lost[0].lost_acks, r.lost[1].lost_acks), (3, 1));
        assert_eq!(r.lost[0].first_lost_ack_end_ns, Some(30_000_000));
        assert_eq!(r.loss_window_ns, Some((30_000_000, 70_000_000)));
        assert_eq!(r.indeterminate_writes, 1);
        // Nothing lost: no window.
        let r = lost_writes(
            &h,
            &HashMap::new(),
            &fin(&[("k", Some("d"))]),
            Eviction::None,
        );
        assert_eq!((r.lost_acknowledged_writes, r.loss_window_ns), (0, None));
    }

    #[test]
    fn superseded_value_is_not_acceptable() {
        // a ended before b started: a is superseded, and so is the initial value.
        let h = vec![set("k", "a", 0, 5), set("k", "b", 6, 9)];
        for bad in ["a", "i"] {
            let r = lost_writes(
                &h,
                &init(&[("k", "i")]),
                &fin(&[("k", Some(bad))]),
                Eviction::None,
            );
            assert_eq!(r.lost.len(), 1, "{bad}");
        }
    }

    #[test]
    fn concurrent_acked_writes_allow_either_value() {
        // a [0, 10] and b [5, 15] overlap: either may have landed last.
        let h = vec![set("k", "a", 0, 10), set("k", "b", 5, 15)];
        for v in ["a", "b"] {
            let r = lost_writes(&h, &HashMap::new(), &fin(&[("k", Some(v))]), Eviction::None);
            assert!(r.lost.is_empty(), "{v}: {r:?}");
        }
        // A third write after both supersedes them.
        let mut h = h;
        h.push(set("k", "c", 20, 21));
        let r = lost_writes(
            &h,
            &HashMap::new(),
            &fin(&[("k", Some("a"))]),
            Eviction::None,
        );
        assert_eq!(r.lost[0].acceptable, vec!["c"]);
    }

    #[test]
    fn indeterminate_write_is_acceptable_and_never_lost() {
        // x timed out before the acked write b; it may still have applied after it.
        let h = vec![
            indeterminate(set("k", "x", 0, 1000)),
            set("k", "b", 2000, 2001),
        ];
        let r = lost_writes(
            &h,
            &init(&[("k", "i")]),
            &fin(&[("k", Some("x"))]),
            Eviction::None,
        );
        assert!(r.lost.is_empty(), "{r:?}");
        assert_eq!(r.indeterminate_writes, 1);
        assert_eq!(r.acknowledged_writes, 1);
        // Only an indeterminate write: initial or its value, and not finding it is no loss.
        let h = vec![indeterminate(set("j", "y", 0, 1))];
        for v in ["i", "y"] {
            let r = lost_writes(
                &h,
                &init(&[("j", "i")]),
                &fin(&[("j", Some(v))]),
                Eviction::None,
            );
            assert!(r.lost.is_empty(), "{v}");
        }
        let r = lost_writes(
            &h,
            &init(&[("j", "i")]),
            &fin(&[("j", Some("z"))]),
            Eviction::None,
        );
        assert_eq!(r.lost[0].acceptable, vec!["i", "y"]);
    }

    #[test]
    fn failures_reads_and_app_failures() {
        // A probe's failed write did not apply; reads never count.
        let h = vec![
            failed(set("k", "f", 0, 1)),
            get("k", 1, 2),
            app(failed(set("k", "g", 2, 3))),
        ];
        let r = lost_writes(
            &h,
            &init(&[("k", "i")]),
            &fin(&[("k", Some("f"))]),
            Eviction::None,
        );
        assert_eq!(r.lost.len(), 1);
        assert_eq!(r.lost[0].acceptable, vec!["g", "i"]);
        assert_eq!(r.indeterminate_writes, 1);
        // The app failure may have applied (redis-rs retried it).
        let r = lost_writes(
            &h,
            &init(&[("k", "i")]),
            &fin(&[("k", Some("g"))]),
            Eviction::None,
        );
        assert!(r.lost.is_empty());
    }

    #[test]
    fn untouched_and_unread_keys() {
        let r = lost_writes(
            &[],
            &init(&[("a", "1"), ("b", "2")]),
            &fin(&[("a", Some("1"))]),
            Eviction::None,
        );
        assert_eq!((r.keys_checked, r.keys_unread), (1, 1));
        assert!(r.lost.is_empty());
        let r = lost_writes(
            &[],
            &init(&[("a", "1")]),
            &fin(&[("a", Some("9"))]),
            Eviction::None,
        );
        assert_eq!(r.lost[0].last_ack_end_ns, None);
        // Written but never loaded: nil is not acceptable once a write was acked.
        let h = vec![set("n", "v", 0, 1)];
        assert_eq!(
            lost_writes(&h, &HashMap::new(), &fin(&[("n", None)]), Eviction::None)
                .lost
                .len(),
            1
        );
    }

    #[test]
    fn deletes_ttls_and_transactions_are_writes() {
        // An acked DEL after the last set: nil is the only right answer.
        let h = vec![set("k", "a", 0, 5), op(OpKind::Del, "k", None, 10, 12)];
        let r = lost_writes(
            &h,
            &init(&[("k", "i")]),
            &fin(&[("k", None)]),
            Eviction::None,
        );
        assert!(r.lost.is_empty(), "{r:?}");
        let r = lost_writes(
            &h,
            &init(&[("k", "i")]),
            &fin(&[("k", Some("a"))]),
            Eviction::None,
        );
        assert_eq!(r.lost.len(), 1);
        assert_eq!(r.lost[0].acceptable, vec![NIL]);
        assert_eq!(r.lost_acknowledged_writes, 1, "the DEL was lost");
        // A set with a TTL may have expired: nil or its value, not the old one.
        let mut ttl = set("t", "b", 0, 5);
        ttl.ttl_ms = Some(100);
        let h = vec![ttl];
        for v in [None, Some("b")] {
            let r = lost_writes(&h, &init(&[("t", "i")]), &fin(&[("t", v)]), Eviction::None);
            assert!(r.lost.is_empty(), "{v:?}");
        }
        let r = lost_writes(
            &h,
            &init(&[("t", "i")]),
            &fin(&[("t", Some("i"))]),
            Eviction::None,
        );
        assert_eq!(r.lost[0].acceptable, vec![NIL, "b"]);
        // Without a TTL, nil after an acked set is a loss.
        let h = vec![set("u", "c", 0, 5)];
        let r = lost_writes(
            &h,
            &init(&[("u", "i")]),
            &fin(&[("u", None)]),
            Eviction::None,
        );
        assert_eq!(r.lost.len(), 1);
        // A txn writes its id to every member; one member rolled back is lost.
        let mut t = op(OpKind::Txn, "{g}", Some("id1"), 0, 5);
        t.members = vec!["{g}:a".into(), "{g}:b".into()];
        let initial = init(&[("{g}:a", "init-g"), ("{g}:b", "init-g")]);
        let r = lost_writes(
            &[t.clone()],
            &initial,
            &fin(&[("{g}:a", Some("id1")), ("{g}:b", Some("id1"))]),
            Eviction::None,
        );
        assert!(r.lost.is_empty(), "{r:?}");
        assert_eq!(r.acknowledged_writes, 2);
        let r = lost_writes(
            &[t],
            &initial,
            &fin(&[("{g}:a", Some("id1")), ("{g}:b", Some("init-g"))]),
            Eviction::None,
        );
        assert_eq!(r.lost.len(), 1);
        assert_eq!(r.lost[0].key, "{g}:b");
    }

    #[test]
    fn eviction_policy_allows_nil_never_an_older_value() {
        let h = vec![set("k", "a", 0, 5), set("k", "b", 10, 15)];
        let initial = init(&[("k", "i"), ("u", "j")]);
        // No eviction: a nil after an acked set, or a loaded key gone, is lost.
        let r = lost_writes(
            &h,
            &initial,
            &fin(&[("k", None), ("u", None)]),
            Eviction::None,
        );
        assert_eq!((r.lost.len(), r.evicted_keys), (2, 0));
        // allkeys-*: both nils are evictions, counted apart, not lost.
        let r = lost_writes(
            &h,
            &initial,
            &fin(&[("k", None), ("u", None)]),
            Eviction::AllKeys,
        );
        assert!(r.lost.is_empty(), "{r:?}");
        assert_eq!((r.evicted_keys, r.keys_checked), (2, 2));
        // An older value is lost under every policy.
        for e in [Eviction::None, Eviction::Volatile, Eviction::AllKeys] {
            for old in ["a", "i"] {
                let r = lost_writes(&h, &initial, &fin(&[("k", Some(old))]), e);
                assert_eq!(r.lost.len(), 1, "{e:?} {old}");
                assert_eq!(r.evicted_keys, 0);
            }
        }
        // volatile-*: a key without a TTL is never evicted, so its nil is lost;
        // one with a TTL may be nil anyway (expired or evicted), not counted.
        let mut t = set("t", "c", 0, 5);
        t.ttl_ms = Some(60_000);
        let h = vec![set("k", "a", 0, 5), t];
        let r = lost_writes(
            &h,
            &HashMap::new(),
            &fin(&[("k", None), ("t", None)]),
            Eviction::Volatile,
        );
        assert_eq!(r.lost.len(), 1);
        assert_eq!((r.lost[0].key.as_str(), r.evicted_keys), ("k", 0));
        // A nil that a DEL or a TTL explains is no eviction under allkeys either.
        let h = vec![set("k", "a", 0, 5), op(OpKind::Del, "k", None, 10, 12)];
        let r = lost_writes(&h, &HashMap::new(), &fin(&[("k", None)]), Eviction::AllKeys);
        assert_eq!((r.lost.len(), r.evicted_keys), (0, 0));
    }

    #[test]
    fn counter_bounds() {
        let h = vec![
            incr("c", 0, 1),
            incr("c", 1, 2),
            indeterminate(incr("c", 2, 3)),
            failed(incr("c", 3, 4)),
            app(failed(incr("c", 4, 5))),
        ];
        let initial = init(&[("c", "10")]);
        // min = 10 + 2, max = 12 + 2 uncertain.
        for v in ["12", "13", "14"] {
            let r = counters(&h, &initial, &fin(&[("c", Some(v))]));
            assert!(r.violations.is_empty(), "{v}");
            assert_eq!(r.acknowledged_incrs, 2);
            assert_eq!(r.indeterminate_incrs, 2);
        }
        for (v, lost, over) in [
            (Some("11"), 1, 0),
            (Some("17"), 0, 3),
            (Some("x"), 0, 0),
            (None, 12, 0),
        ] {
            let r = counters(&h, &initial, &fin(&[("c", v)]));
            assert_eq!(r.violations.len(), 1, "{v:?}");
            assert_eq!((r.violations[0].min, r.violations[0].max), (12, 14));
            assert_eq!(
                (r.lost_increments, r.over_counted_increments),
                (lost, over),
                "{v:?}"
            );
        }
        // CounterVerdict are not string keys: lost_writes leaves them alone.
        let r = lost_writes(&h, &initial, &fin(&[("c", Some("13"))]), Eviction::None);
        assert_eq!(r.keys_checked, 0);
        assert!(r.lost.is_empty());
    }
}
