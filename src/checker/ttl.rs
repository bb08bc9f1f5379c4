//! TTL accuracy: does a key set with `SET PX` live as long as asked, and no
//! longer?
//!
//! A read is judged against the write that governs it: the acknowledged write
//! `W` of its key that ended before the read was sent, when every other write
//! that may have applied by the read's end was acknowledged and ended before
//! `W` was sent. Any other overlap (a concurrent write, an uncertain one) makes
//! the read *ambiguous*: it is counted, never judged. Only reads governed by a
//! `SET PX` are judged; a DEL or a plain SET has no deadline.
//!
//! The server fixed `W`'s deadline somewhere in `[W.sent + ttl, W.end + ttl]`
//! (it applied `W` between the two). With [`TOLERANCE_NS`]:
//!
//! - a read sent after `W.end + ttl + tolerance` that returns `W`'s value is a
//!   **zombie**: it outlived its deadline;
//! - a read that ended before `W.sent + ttl` and returns nil is an **early
//!   expiry**: the key was gone before its deadline with no DEL (no eviction
//!   either: drills that judge TTLs run without `maxmemory`). A write lost in
//!   a failover looks the same to a cache's user, and is one; those whose
//!   write or read overlaps a fault window are counted apart as well.
//!
//! An expiry is *seen* when a read governed by `W` returned nil after its
//! earliest deadline. Its lateness lies between two bounds, both reported:
//! at least the last read of the value sent past the latest deadline, at most
//! the first nil's end past the earliest. Redis expires a key lazily when it
//! is read, so a client sees the same lateness whether the active cycle or
//! the read removed it: the two cannot be told apart from the history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::ops::{ClientMode, Op, OpKind, Outcome};

/// How far past its deadline a value may still be read: Redis keeps
/// deadlines in whole milliseconds (1 ms of rounding) and judges a command
/// against a time it read when the command began (up to 1 ms older on a busy
/// event loop).
pub const TOLERANCE_NS: u64 = 2_000_000;

/// The verdict on TTLs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ttl {
    /// Acknowledged `SET PX`.
    pub ttl_writes: u64,
    /// Successful GETs governed by one acknowledged `SET PX` (judged).
    pub reads_checked: u64,
    /// Successful GETs of a key with a `SET PX` in its history that a
    /// concurrent or uncertain write leaves without one governing write.
    pub reads_ambiguous: u64,
    /// Judged reads sent after the latest deadline plus the tolerance: the
    /// ones that could show a zombie.
    pub reads_after_deadline: u64,
    /// Judged reads that ended before the earliest deadline: the ones that
    /// could show an early expiry.
    pub reads_before_deadline: u64,
    /// In history order.
    pub zombies: Vec<TtlViolation>,
    /// Nil reads before the deadline that no takeover explains.
    pub early_expiries: Vec<TtlViolation>,
    /// Nil reads before the deadline of a write acknowledged, on a slot of
    /// a primary that had been replaced, after its replica's promotion and
    /// before the old primary knew: only the old primary could have
    /// acknowledged it, and its writes are discarded when it rejoins. A
    /// lost write, not an early expiry.
    #[serde(default)]
    pub lost_in_failover: Vec<LostToFailover>,
    /// Expiries seen, with their lateness bounds (ns): (at least, at most).
    pub lateness_ns: Vec<(u64, u64)>,
}

impl Ttl {
    /// Violations whose write or read overlapped a fault window.
    pub fn in_faults(v: &[TtlViolation]) -> u64 {
        v.iter().filter(|x| x.in_fault).count() as u64
    }
}

/// A read that saw a value past its deadline, or nil before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TtlViolation {
    pub key: String,
    pub slot: u16,
    pub client: u32,
    pub mode: ClientMode,
    /// The governing write's value, its TTL and when it was sent and ended.
    pub value: String,
    pub ttl_ms: u64,
    pub write_sent_ns: u64,
    pub write_end_ns: u64,
    pub read_sent_ns: u64,
    pub read_end_ns: u64,
    /// How far past the latest deadline the read was sent (zombie), or how
    /// far before the earliest deadline it ended (early expiry), ns.
    pub by_ns: u64,
    /// Whether the write or the read overlapped a fault window.
    pub in_fault: bool,
}

/// A primary replaced by its replica while the drill ran: the old primary
/// may still acknowledge writes (queued while it was paused or cut off)
/// from the promotion until it learns of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Takeover {
    /// The replaced primary, and the replica promoted in its place.
    pub primary: String,
    pub by: String,
    /// The slots the old primary served when the fault hit.
    pub slots: Vec<(u16, u16)>,
    /// When the replica was seen promoted, and when the old primary was
    /// first seen a replica (`None`: not seen before the recording ended),
    /// ns since the run's epoch.
    pub promoted_ns: u64,
    pub demoted_ns: Option<u64>,
}

impl Takeover {
    /// Whether a write of `slot` acknowledged at `ack_ns` can only have been
    /// the old primary's: after the promotion, before it knew.
    pub fn stranded(&self, slot: u16, ack_ns: u64) -> bool {
        self.slots.iter().any(|&(a, b)| (a..=b).contains(&slot))
            && ack_ns >= self.promoted_ns
            && self.demoted_ns.is_none_or(|d| ack_ns <= d)
    }
}

/// A `SET PX` lost to a failover: the read that found it gone early, and
/// the takeover that explains it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LostToFailover {
    #[serde(flatten)]
    pub read: TtlViolation,
    /// The primary that acknowledged it (the only one that could have), the
    /// replica promoted in its place, when, and when the old primary was
    /// seen a replica (ns since the run's epoch).
    pub acknowledged_by: String,
    pub replaced_by: String,
    pub promoted_ns: u64,
    pub demoted_ns: Option<u64>,
}

/// Whether a non-ok write may have applied (as the lost-write checker says:
/// an app client's failure may hide an earlier attempt that applied).
fn may_have_applied(op: &Op) -> bool {
    match op.outcome {
        Outcome::Ok | Outcome::Indeterminate { .. } => true,
        Outcome::Fail { .. } => op.mode.retries(),
    }
}

fn overlaps(a: (u64, u64), windows: &[(u64, u64)]) -> bool {
    windows.iter().any(|&(s, e)| a.0 <= e && s <= a.1)
}

/// Judge every successful GET of a key written with `SET PX` (see the module
/// docs). `faults` are the fault windows, ns since the run's epoch;
/// `takeovers` the primaries replaced meanwhile, which explain a nil read
/// early as a write lost to the failover.
pub fn ttl<'a>(
    history: impl IntoIterator<Item = &'a Op>,
    faults: &[(u64, u64)],
    takeovers: &[Takeover],
) -> Ttl {
    let keys = by_key(history);
    let mut judged = Judged::default();
    for (&key, (writes, reads)) in &keys {
        if !writes.iter().any(|w| w.ttl_ms.is_some()) {
            continue;
        }
        judged.out.ttl_writes += writes
            .iter()
            .filter(|w| w.is_ok() && w.ttl_ms.is_some())
            .count() as u64;
        for g in reads {
            match governing(writes, g) {
                Governing::Initial => {}
                Governing::Ambiguous => judged.out.reads_ambiguous += 1,
                Governing::Write(wi, w) => judged.read(key, wi, w, g, faults),
            }
        }
    }
    judged.finish(takeovers)
}

/// Per key: the writes that may have applied, and the successful reads.
type ByKey<'a> = BTreeMap<&'a str, (Vec<&'a Op>, Vec<&'a Op>)>;

fn by_key<'a>(history: impl IntoIterator<Item = &'a Op>) -> ByKey<'a> {
    let mut keys: ByKey = BTreeMap::new();
    for op in history {
        match op.kind {
            OpKind::Set | OpKind::Del if may_have_applied(op) => {
                keys.entry(op.key.as_str()).or_default().0.push(op)
            }
            OpKind::Get if op.is_ok() => keys.entry(op.key.as_str()).or_default().1.push(op),
            _ => {}
        }
    }
    keys
}

/// Which write a read saw.
enum Governing<'a> {
    /// No write before it: the initial value, which has no TTL.
    Initial,
    /// No single acknowledged write came before it alone.
    Ambiguous,
    /// The write (with its place in the history) the read saw.
    Write(usize, &'a Op),
}

/// The write governing read `g`: the latest acknowledged before it was sent,
/// when no other write could have landed meanwhile.
fn governing<'a>(writes: &[&'a Op], g: &Op) -> Governing<'a> {
    let candidates: Vec<(usize, &&Op)> = writes
        .iter()
        .enumerate()
        .filter(|(_, w)| w.sent_ns < g.end_ns)
        .collect();
    if candidates.is_empty() {
        return Governing::Initial;
    }
    let governing = candidates
        .iter()
        .filter(|(_, w)| w.is_ok() && w.end_ns < g.sent_ns)
        .max_by_key(|(_, w)| w.end_ns)
        .copied();
    let Some((wi, w)) = governing else {
        return Governing::Ambiguous;
    };
    let alone = candidates
        .iter()
        .all(|(i, x)| *i == wi || (x.is_ok() && x.end_ns < w.sent_ns));
    if alone {
        Governing::Write(wi, w)
    } else {
        Governing::Ambiguous
    }
}

/// The figures so far, and what is judged once every read is in.
#[derive(Default)]
struct Judged<'a> {
    out: Ttl,
    /// Per governing write (by its place in the history): the latest a value
    /// read was sent, and the earliest a nil read after the deadline ended.
    seen: BTreeMap<(&'a str, usize), (u64, Option<u64>)>,
    zombies: Vec<(u64, TtlViolation)>,
    early: Vec<(u64, TtlViolation)>,
}

impl<'a> Judged<'a> {
    /// Read `g` of `key` against its governing write `w` (number `wi`).
    fn read(&mut self, key: &'a str, wi: usize, w: &Op, g: &Op, faults: &[(u64, u64)]) {
        let (Some(ttl_ms), OpKind::Set) = (w.ttl_ms, w.kind) else {
            return; // a DEL or a plain SET governs: no deadline
        };
        self.out.reads_checked += 1;
        let ttl = ttl_ms * 1_000_000;
        let (earliest, latest) = (w.sent_ns + ttl, w.end_ns + ttl);
        let violation = |by_ns| TtlViolation {
            key: key.to_string(),
            slot: g.slot,
            client: g.client,
            mode: g.mode,
            value: w.value.clone().unwrap_or_default(),
            ttl_ms,
            write_sent_ns: w.sent_ns,
            write_end_ns: w.end_ns,
            read_sent_ns: g.sent_ns,
            read_end_ns: g.end_ns,
            by_ns,
            in_fault: overlaps((w.sent_ns, w.end_ns), faults)
                || overlaps((g.sent_ns, g.end_ns), faults),
        };
        if g.sent_ns > latest + TOLERANCE_NS {
            self.out.reads_after_deadline += 1;
        }
        if g.end_ns < earliest {
            self.out.reads_before_deadline += 1;
        }
        let entry = self.seen.entry((key, wi)).or_insert((0, None));
        match &g.value {
            Some(v) if Some(v) == w.value.as_ref() => {
                entry.0 = entry.0.max(g.sent_ns.saturating_sub(latest));
                if g.sent_ns > latest + TOLERANCE_NS {
                    self.zombies.push((g.end_ns, violation(g.sent_ns - latest)));
                }
            }
            None if g.end_ns < earliest => {
                self.early.push((g.end_ns, violation(earliest - g.end_ns)));
            }
            None => {
                let late = g.end_ns - earliest;
                entry.1 = Some(entry.1.map_or(late, |l: u64| l.min(late)));
            }
            // Another value: not this checker's (the lost-write and
            // stale-read checks judge values).
            Some(_) => {}
        }
    }

    /// The lateness per write, the zombies and early expiries in time order,
    /// an early nil explained by a failover when one stranded the write.
    fn finish(mut self, takeovers: &[Takeover]) -> Ttl {
        self.out.lateness_ns = self
            .seen
            .values()
            .filter_map(|&(least, most)| most.map(|m| (least.min(m), m)))
            .collect();
        self.zombies.sort_by_key(|z| z.0);
        self.early.sort_by_key(|e| e.0);
        self.out.zombies = self.zombies.into_iter().map(|z| z.1).collect();
        for (_, v) in self.early {
            match takeovers
                .iter()
                .find(|t| t.stranded(v.slot, v.write_end_ns))
            {
                Some(t) => self.out.lost_in_failover.push(LostToFailover {
                    read: v,
                    acknowledged_by: t.primary.clone(),
                    replaced_by: t.by.clone(),
                    promoted_ns: t.promoted_ns,
                    demoted_ns: t.demoted_ns,
                }),
                None => self.out.early_expiries.push(v),
            }
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;

    fn set_px(key: &str, value: &str, ttl_ms: u64, start_ms: u64, end_ms: u64) -> Op {
        let mut o = set(key, value, start_ms, end_ms);
        o.ttl_ms = Some(ttl_ms);
        o
    }

    fn read(key: &str, value: Option<&str>, start_ms: u64, end_ms: u64) -> Op {
        op(OpKind::Get, key, value, start_ms, end_ms)
    }

    #[test]
    fn a_key_that_lives_its_ttl_passes() {
        // Deadline in [110, 111] ms.
        let h = vec![
            set_px("k", "v1", 100, 10, 11),
            read("k", Some("v1"), 50, 51),
            read("k", Some("v1"), 109, 110),
            read("k", None, 112, 113),
            read("k", None, 300, 301),
        ];
        let t = ttl(&h, &[], &[]);
        assert_eq!(t.ttl_writes, 1);
        assert_eq!((t.reads_checked, t.reads_ambiguous), (4, 0));
        assert_eq!((t.reads_before_deadline, t.reads_after_deadline), (1, 1));
        assert!(t.zombies.is_empty() && t.early_expiries.is_empty(), "{t:?}");
        // Seen once: at least 0 late (no value read past 111), at most 3 ms
        // (nil ended at 113, the earliest deadline 110).
        assert_eq!(t.lateness_ns, vec![(0, 3_000_000)]);
    }

    #[test]
    fn a_value_past_its_deadline_is_a_zombie() {
        let h = vec![
            set_px("k", "v1", 100, 10, 11),
            // 1 ms past the latest deadline: inside the tolerance.
            read("k", Some("v1"), 112, 113),
            // 40 ms past: a zombie.
            read("k", Some("v1"), 151, 152),
            read("k", None, 160, 161),
        ];
        let t = ttl(&h, &[(140_000_000, 155_000_000)], &[]);
        assert_eq!(t.zombies.len(), 1, "{t:?}");
        let z = &t.zombies[0];
        assert_eq!(
            (z.by_ns, z.ttl_ms, z.value.as_str()),
            (40_000_000, 100, "v1")
        );
        assert!(z.in_fault);
        assert_eq!(Ttl::in_faults(&t.zombies), 1);
        assert_eq!(t.lateness_ns, vec![(40_000_000, 51_000_000)]);
    }

    #[test]
    fn nil_before_the_deadline_is_an_early_expiry() {
        let h = vec![
            set_px("k", "v1", 1000, 10, 11),
            read("k", None, 500, 510),
            // A DEL makes nil expected: not judged as a TTL read.
            op(OpKind::Del, "k", None, 600, 601),
            read("k", None, 700, 701),
        ];
        let t = ttl(&h, &[], &[]);
        assert_eq!(t.early_expiries.len(), 1, "{t:?}");
        let e = &t.early_expiries[0];
        assert_eq!(e.by_ns, 500_000_000);
        assert!(!e.in_fault);
        assert_eq!(t.reads_checked, 1);
        assert!(t.lateness_ns.is_empty());
    }

    /// A write acknowledged on a replaced primary's slot after its replica's
    /// promotion and before the old primary knew is lost, not expired early;
    /// the same write acknowledged before the promotion, or on another
    /// primary's slot, stays an early expiry.
    #[test]
    fn nil_after_a_write_a_replaced_primary_acknowledged_is_a_lost_write() {
        let h = vec![set_px("k", "v1", 1000, 10, 11), read("k", None, 500, 510)];
        let slot = h[0].slot;
        let takeover = |promoted_ms: u64, demoted_ms: Option<u64>, slots: (u16, u16)| Takeover {
            primary: "s3n1".into(),
            by: "s3n2".into(),
            slots: vec![slots],
            promoted_ns: promoted_ms * 1_000_000,
            demoted_ns: demoted_ms.map(|d| d * 1_000_000),
        };
        let t = ttl(&h, &[], &[takeover(5, Some(20), (slot, slot))]);
        assert!(t.early_expiries.is_empty(), "{t:?}");
        let lost = &t.lost_in_failover[0];
        assert_eq!(
            (lost.acknowledged_by.as_str(), lost.replaced_by.as_str()),
            ("s3n1", "s3n2")
        );
        assert_eq!(lost.read.write_end_ns, 11_000_000);
        // Not yet promoted when it was acknowledged; demoted before; another
        // primary's slot: an early expiry each time.
        for other in [
            takeover(12, None, (slot, slot)),
            takeover(5, Some(10), (slot, slot)),
            takeover(5, None, (slot.wrapping_add(1), slot.wrapping_add(1))),
        ] {
            let t = ttl(&h, &[], &[other]);
            assert_eq!((t.early_expiries.len(), t.lost_in_failover.len()), (1, 0));
        }
    }

    #[test]
    fn overlapping_or_uncertain_writes_make_a_read_ambiguous() {
        let h = vec![
            set_px("k", "v1", 100, 10, 11),
            // Concurrent with the read: either value may be there.
            set_px("k", "v2", 50, 49, 52),
            read("k", None, 50, 51),
            // After v2's window, a timed-out write may still apply.
            indeterminate(set("k", "v3", 60, 1060)),
            read("k", None, 70, 71),
            // A probe's certain failure changed nothing: v2 governs again, but
            // v3 is still uncertain.
            failed(set("k", "v4", 80, 81)),
            read("k", Some("v2"), 90, 91),
        ];
        let t = ttl(&h, &[], &[]);
        assert_eq!((t.reads_checked, t.reads_ambiguous), (0, 3), "{t:?}");
        assert!(t.early_expiries.is_empty());
        // Without the uncertain write, v2 governs the last two reads: the
        // nil at 71 ended before v2's earliest deadline (49 + 50 = 99).
        let h: Vec<Op> = h
            .into_iter()
            .filter(|o| o.value.as_deref() != Some("v3"))
            .collect();
        let t = ttl(&h, &[], &[]);
        assert_eq!((t.reads_checked, t.reads_ambiguous), (2, 1), "{t:?}");
        assert_eq!(t.early_expiries.len(), 1);
        assert_eq!(t.early_expiries[0].read_end_ns, 71_000_000);
    }

    #[test]
    fn keys_without_a_ttl_are_not_judged() {
        let h = vec![
            set("k", "v1", 10, 11),
            read("k", None, 500, 510),
            read("j", Some("init"), 1, 2),
        ];
        assert_eq!(ttl(&h, &[], &[]), Ttl::default());
        // A plain SET after a SET PX clears the deadline.
        let h = vec![
            set_px("k", "v1", 10, 0, 1),
            set("k", "v2", 2, 3),
            read("k", Some("v2"), 500, 510),
        ];
        let t = ttl(&h, &[], &[]);
        assert_eq!((t.ttl_writes, t.reads_checked), (1, 0));
        assert!(t.zombies.is_empty());
    }
}
