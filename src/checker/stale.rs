//! Stale reads: a successful GET that returned a value some acknowledged
//! write had already replaced before the GET began.
//!
//! Every value names the write that made it: the workload writes
//! `c<client>-<seq>-` padded with `x` (unique per op), `load` writes
//! `init-<n>-` (unique per key). So which write a GET saw is exact, not
//! guessed. A value written twice (two runs' histories concatenated) names
//! no single write: its reads are counted as unexplained, never judged.
//!
//! A GET that read the value of write `S` is **stale** when an acknowledged
//! SET, DEL or transaction `W` of its key started after `S` ended (so it
//! certainly came after `S`) and ended before the GET was sent (so it
//! certainly came before the GET). Writes that overlap `S` or the GET may
//! have landed in either order, and either value is legal. An uncertain `S`
//! (indeterminate, or an app client's failure: see [`super::lost`]) may
//! have applied at any time after it was sent, so its value is never stale.
//! The initial value is a write that ended at 0.
//!
//! The **staleness** of a stale read is how long its value had been
//! superseded when the GET was sent: from the end of the earliest such `W`
//! to the GET's `sent_ns`. It is a lower bound: `W` may have applied
//! earlier within its window.
//!
//! A nil is never stale: it is what a DEL, an expiry or an eviction leaves,
//! and the lost-write and TTL checks judge nils. Nils are counted.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::record::ops::{ClientMode, Op, OpKind, Outcome};

/// The verdict on reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StaleReads {
    /// Successful GETs that returned a value naming one write (judged).
    pub reads_checked: u64,
    /// Successful GETs that returned nil (not judged).
    pub nil_reads: u64,
    /// Successful GETs whose value names no write of the key, or more than
    /// one: not judged, and a finding of their own when not 0.
    pub reads_unexplained: u64,
    /// Stale reads, in history order.
    pub stale: Vec<StaleRead>,
}

/// A GET that returned a superseded value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaleRead {
    pub key: String,
    pub slot: u16,
    pub client: u32,
    pub mode: ClientMode,
    /// The id of the write whose value was read (the value without its padding).
    pub read: String,
    /// The id of the earliest write that superseded it (`(nil)` for a DEL).
    pub superseded_by: String,
    /// When that write ended, and when the GET was sent and ended (ns since
    /// the run's epoch).
    pub superseded_at_ns: u64,
    pub read_sent_ns: u64,
    pub read_end_ns: u64,
    /// `read_sent_ns - superseded_at_ns`.
    pub staleness_ns: u64,
}

/// The id a value carries: the value without the `x` padding
/// ([`crate::workload`]'s generator pads `c<client>-<seq>-` and `init-<n>-`,
/// neither of which ends in `x`).
pub fn value_id(value: &str) -> &str {
    value.trim_end_matches('x')
}

/// Whether a non-ok write may have applied (as in [`super::lost`]).
fn uncertain(op: &Op) -> bool {
    match op.outcome {
        Outcome::Ok => false,
        Outcome::Indeterminate { .. } => true,
        Outcome::Fail { .. } => op.mode.retries(),
    }
}

/// One write of a key that may have applied.
struct Write<'a> {
    /// The value written (None: a DEL).
    value: Option<&'a str>,
    sent_ns: u64,
    end_ns: u64,
    acked: bool,
}

/// The writes of one key and its reads.
#[derive(Default)]
struct Key<'a> {
    writes: Vec<Write<'a>>,
    reads: Vec<&'a Op>,
}

/// Judge every successful GET (see the module docs). `initial` is what
/// `load` wrote before the run (keys absent from it started nil).
pub fn stale_reads<'a>(
    history: impl IntoIterator<Item = &'a Op>,
    initial: &'a HashMap<String, String>,
) -> StaleReads {
    let mut out = StaleReads::default();
    let mut stale: Vec<StaleRead> = Vec::new();
    for (key, k) in by_key(history) {
        if k.reads.is_empty() {
            continue;
        }
        judge_key(key, k, initial, &mut out, &mut stale);
    }
    stale.sort_by_key(|s| (s.read_end_ns, s.client));
    out.stale = stale;
    out
}

/// Per key: the writes that may have applied (a transaction writes each of
/// its members) and the successful reads.
fn by_key<'a>(history: impl IntoIterator<Item = &'a Op>) -> BTreeMap<&'a str, Key<'a>> {
    let mut keys: BTreeMap<&str, Key> = BTreeMap::new();
    for op in history {
        let acked = op.is_ok();
        if !acked && !uncertain(op) && op.kind != OpKind::Get {
            continue;
        }
        let mut write = |key: &'a str, value: Option<&'a str>| {
            keys.entry(key).or_default().writes.push(Write {
                value,
                sent_ns: op.sent_ns,
                end_ns: op.end_ns,
                acked,
            })
        };
        match op.kind {
            OpKind::Set => write(op.key.as_str(), op.value.as_deref()),
            OpKind::Del => write(op.key.as_str(), None),
            OpKind::Txn => {
                for m in &op.members {
                    write(m.as_str(), op.value.as_deref());
                }
            }
            OpKind::Get if acked => keys.entry(op.key.as_str()).or_default().reads.push(op),
            OpKind::Get | OpKind::Incr | OpKind::TxnRead => {}
        }
    }
    keys
}

/// Judge the reads of one key against its writes and its initial value.
fn judge_key<'a>(
    key: &str,
    mut k: Key<'a>,
    initial: &'a HashMap<String, String>,
    out: &mut StaleReads,
    stale: &mut Vec<StaleRead>,
) {
    if let Some(v) = initial.get(key) {
        k.writes.push(Write {
            value: Some(v.as_str()),
            sent_ns: 0,
            end_ns: 0,
            acked: true,
        });
    }
    // The acknowledged writes by start, with the earliest end among
    // those that start at or after each: "the first write certainly
    // after S ended" is one binary search.
    let mut acked: Vec<(u64, u64, Option<&str>)> = k
        .writes
        .iter()
        .filter(|w| w.acked)
        .map(|w| (w.sent_ns, w.end_ns, w.value))
        .collect();
    acked.sort_by_key(|a| a.0);
    let mut earliest_end: Vec<(u64, usize)> = vec![(u64::MAX, usize::MAX); acked.len() + 1];
    for i in (0..acked.len()).rev() {
        earliest_end[i] = earliest_end[i + 1].min((acked[i].1, i));
    }
    let mut by_value: HashMap<&str, Option<&Write>> = HashMap::new();
    for w in &k.writes {
        if let Some(v) = w.value {
            by_value
                .entry(v)
                .and_modify(|e| *e = None)
                .or_insert(Some(w));
        }
    }
    for g in k.reads {
        let Some(v) = g.value.as_deref() else {
            out.nil_reads += 1;
            continue;
        };
        let Some(Some(source)) = by_value.get(v) else {
            out.reads_unexplained += 1;
            continue;
        };
        out.reads_checked += 1;
        if !source.acked {
            continue;
        }
        // The acked writes that started after the source ended.
        let first = acked.partition_point(|a| a.0 <= source.end_ns);
        let (end, i) = earliest_end[first];
        if i == usize::MAX || end >= g.sent_ns {
            continue;
        }
        stale.push(StaleRead {
            key: key.to_string(),
            slot: g.slot,
            client: g.client,
            mode: g.mode,
            read: value_id(v).to_string(),
            superseded_by: acked[i].2.map_or(super::lost::NIL, value_id).to_string(),
            superseded_at_ns: end,
            read_sent_ns: g.sent_ns,
            read_end_ns: g.end_ns,
            staleness_ns: g.sent_ns - end,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;

    fn read(key: &str, value: Option<&str>, start_ms: u64, end_ms: u64) -> Op {
        op(OpKind::Get, key, value, start_ms, end_ms)
    }

    fn init(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_clean_history_has_no_stale_read() {
        let initial = init(&[("k", "init-0-xx")]);
        let h = vec![
            read("k", Some("init-0-xx"), 1, 2),
            set("k", "c1-0-xxx", 10, 12),
            read("k", Some("c1-0-xxx"), 13, 14),
            set("k", "c1-1-xxx", 20, 22),
            read("k", Some("c1-1-xxx"), 30, 31),
        ];
        let s = stale_reads(&h, &initial);
        assert_eq!(
            (s.reads_checked, s.nil_reads, s.reads_unexplained),
            (3, 0, 0)
        );
        assert!(s.stale.is_empty(), "{s:?}");
    }

    #[test]
    fn a_superseded_value_is_stale_with_its_staleness() {
        let initial = init(&[("k", "init-0-xx")]);
        let h = vec![
            set("k", "c1-0-xxx", 10, 12),
            set("k", "c2-0-xxx", 20, 25),
            // Sent 15 ms after c2-0 ended: read c1-0, superseded since 25.
            read("k", Some("c1-0-xxx"), 40, 41),
            // The initial value, superseded since c1-0 ended at 12.
            read("k", Some("init-0-xx"), 50, 52),
        ];
        let s = stale_reads(&h, &initial);
        assert_eq!(s.reads_checked, 2);
        assert_eq!(s.stale.len(), 2, "{s:?}");
        let a = &s.stale[0];
        assert_eq!(
            (a.read.as_str(), a.superseded_by.as_str()),
            ("c1-0-", "c2-0-")
        );
        assert_eq!(
            (a.superseded_at_ns, a.staleness_ns),
            (25_000_000, 15_000_000)
        );
        let b = &s.stale[1];
        assert_eq!(
            (b.read.as_str(), b.superseded_by.as_str()),
            ("init-0-", "c1-0-")
        );
        assert_eq!(b.staleness_ns, 38_000_000);
        // A DEL supersedes too.
        let h = vec![
            set("d", "c1-0-x", 0, 1),
            op(OpKind::Del, "d", None, 2, 3),
            read("d", Some("c1-0-x"), 10, 11),
        ];
        let s = stale_reads(&h, &HashMap::new());
        assert_eq!(s.stale[0].superseded_by, "(nil)");
        assert_eq!(s.stale[0].staleness_ns, 7_000_000);
    }

    #[test]
    fn concurrent_writes_are_not_stale() {
        let h = vec![
            // Overlapping writes: either may have landed last.
            set("k", "c1-0-x", 10, 20),
            set("k", "c2-0-x", 15, 25),
            read("k", Some("c1-0-x"), 30, 31),
            read("k", Some("c2-0-x"), 32, 33),
            // A write still running when the read is sent: either value.
            set("k", "c3-0-x", 40, 60),
            read("k", Some("c2-0-x"), 50, 51),
            // Not yet ended when the read began: the old value is legal.
            read("k", Some("c2-0-x"), 59, 61),
        ];
        let s = stale_reads(&h, &HashMap::new());
        assert_eq!(s.reads_checked, 4);
        assert!(s.stale.is_empty(), "{s:?}");
        // Once c3-0 ended, c2-0 is stale.
        let mut h = h;
        h.push(read("k", Some("c2-0-x"), 70, 71));
        assert_eq!(stale_reads(&h, &HashMap::new()).stale.len(), 1);
    }

    #[test]
    fn nils_uncertain_sources_and_unknown_values_are_not_stale() {
        let initial = init(&[("k", "init-0-x")]);
        let h = vec![
            set("k", "c1-0-x", 0, 1),
            // A nil after an acked SET: evicted, expired, or lost; not stale.
            read("k", None, 10, 11),
            // A timed-out write may have applied after c1-1.
            indeterminate(set("k", "c9-0-x", 20, 520)),
            set("k", "c1-1-x", 600, 601),
            read("k", Some("c9-0-x"), 700, 701),
            // A probe's failed write never applied: its value is unexplained.
            failed(set("k", "c8-0-x", 800, 801)),
            read("k", Some("c8-0-x"), 900, 901),
        ];
        let s = stale_reads(&h, &initial);
        assert_eq!(s.nil_reads, 1);
        assert_eq!(s.reads_checked, 1);
        assert_eq!(s.reads_unexplained, 1);
        assert!(s.stale.is_empty(), "{s:?}");
    }

    #[test]
    fn value_ids() {
        assert_eq!(value_id("c3-41-xxxxxxxx"), "c3-41-");
        assert_eq!(value_id("init-7-"), "init-7-");
    }
}
