//! The linearizability checker: every key's ops, from every client, cut
//! out of the history and searched for one order a single copy of the key
//! explains ([`checker::linearizable`]) — the broad question behind the
//! specific ones (lost writes, stale reads, counters): was what the clients
//! saw consistent with one copy of the data?
//!
//! Per key (a key's history is linearizable on its own or not at all:
//! P-compositionality), so a run of thousands of keys is thousands of small
//! searches, shared over the machine's cores. What goes into a key's
//! history:
//!
//! - a `get` that was answered: a read of what it returned (from a primary
//!   or a replica alike — a stale replica read is a violation);
//! - a `set`, `del`, `incr`: a write (an INCR with the count it returned);
//!   answered ok, it took effect between its send and its answer; timed
//!   out, or failed in a client that retries inside its library, it may
//!   have taken effect any time after its send, or never; failed in the
//!   probe (no retry), it did not, and is left out;
//! - a `txn` (MULTI, SET of every member, EXEC): a write of its id on every
//!   member; a `txn_read` (MGET) answered: a read of each member;
//! - the value read back at the end: a read after every op;
//! - the value loaded before the run: the key's initial state.
//!
//! Keys written with a TTL (`SET PX`) are left out, counted apart: their
//! value may vanish on its own, which one copy of a register does not do.
//! Under an `allkeys-*` eviction policy any key may, and nothing is judged.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use super::{Checker, Run};
use crate::checker::eviction::Eviction;
use crate::checker::linearizable::{self, Action, KeyVerdict, LinOp};
use crate::record::ops::{ClientMode, Op, OpKind, Outcome};
use crate::record::timeline::ms;
use crate::report::linearizability::{LinearizabilityReport, Witness, WitnessOp, short};

/// Search steps for the whole run, shared out over its keys by their ops
/// (a key gets at most [`linearizable::DEFAULT_BUDGET`]): a bound on the
/// time the check takes however the history is shaped, and as much room
/// for a busy key as its share of the ops.
pub(crate) const RUN_BUDGET: u64 = 400_000_000;

/// Counter-examples drawn (each costs a search per op of its key).
pub(crate) const WITNESSES: usize = 5;

/// The checker.
pub(crate) struct Linearizability;

impl Checker for Linearizability {
    type Section = Option<LinearizabilityReport>;

    /// `None` for a drill with no key/value ops and no keys loaded (a lock
    /// or stampede drill alone).
    fn check(&self, run: &Run) -> Option<LinearizabilityReport> {
        (!run.history.is_empty() || !run.initial.is_empty()).then(|| check(run))
    }
}

/// Where one op of a key's history came from: an op of the history, or
/// the read-back at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Op(usize),
    Final,
}

/// One key's history, ready to search.
#[derive(Default)]
struct KeyHistory {
    ops: Vec<LinOp>,
    sources: Vec<Source>,
    /// Written with a TTL: not modelled.
    expiring: bool,
}

impl KeyHistory {
    fn push(&mut self, op: LinOp, src: Source) {
        self.ops.push(op);
        self.sources.push(src);
    }
}

/// When an op's effect is known to have happened: at its answer, when it
/// was answered ok; `None` when it may have happened at any time after it
/// was sent, or never. `Err` when it certainly did not happen (a failure
/// in a client that does not retry) — it is left out.
/// The rule is the lost-write checker's ([`crate::checker::lost::uncertain`]).
fn returned(op: &Op) -> Result<Option<u64>, ()> {
    if op.is_ok() {
        Ok(Some(op.end_ns.max(op.sent_ns)))
    } else if crate::checker::lost::uncertain(op) {
        Ok(None)
    } else {
        Err(())
    }
}

/// Every key's history, by key: the loaded keys, and every key an op
/// touched.
fn histories<'r>(run: &'r Run) -> BTreeMap<&'r str, KeyHistory> {
    let mut keys: BTreeMap<&str, KeyHistory> = BTreeMap::new();
    for k in run.initial.keys() {
        keys.entry(k.as_str()).or_default();
    }
    for (i, op) in run.history.iter().enumerate() {
        let src = Source::Op(i);
        let call = op.sent_ns;
        match op.kind {
            // A read whose answer was lost says nothing.
            OpKind::Get if op.is_ok() => {
                let h = keys.entry(op.key.as_str()).or_default();
                h.push(
                    LinOp {
                        call,
                        ret: Some(op.end_ns.max(call)),
                        action: Action::Read(op.value.clone()),
                    },
                    src,
                );
            }
            OpKind::TxnRead if op.is_ok() && op.values.len() == op.members.len() => {
                for (m, v) in op.members.iter().zip(&op.values) {
                    keys.entry(m.as_str()).or_default().push(
                        LinOp {
                            call,
                            ret: Some(op.end_ns.max(call)),
                            action: Action::Read(v.clone()),
                        },
                        src,
                    );
                }
            }
            OpKind::Get | OpKind::TxnRead => {
                keys.entry(op.key.as_str()).or_default();
            }
            OpKind::Set | OpKind::Del | OpKind::Incr | OpKind::Txn => {
                let h = keys.entry(op.key.as_str()).or_default();
                if op.ttl_ms.is_some() {
                    h.expiring = true;
                }
                let Ok(ret) = returned(op) else { continue };
                let action = |v: Option<&String>| match op.kind {
                    OpKind::Del => Action::Write(None),
                    OpKind::Incr => Action::Incr(ret.and(v.and_then(|v| v.parse::<i64>().ok()))),
                    _ => Action::Write(v.cloned()),
                };
                if op.kind == OpKind::Txn {
                    for m in &op.members {
                        keys.entry(m.as_str()).or_default().push(
                            LinOp {
                                call,
                                ret,
                                action: action(op.value.as_ref()),
                            },
                            src,
                        );
                    }
                } else {
                    let a = action(op.value.as_ref());
                    keys.entry(op.key.as_str()).or_default().push(
                        LinOp {
                            call,
                            ret,
                            action: a,
                        },
                        src,
                    );
                }
            }
        }
    }
    // The read-back at the end: after every op's answer.
    let end = (run.history.iter().map(|o| o.end_ns.max(o.sent_ns)))
        .chain([run.record.end_ns])
        .max()
        .unwrap_or(0)
        + 1;
    for (key, h) in keys.iter_mut() {
        if let Some(found) = run.finals.get(*key) {
            h.push(
                LinOp {
                    call: end,
                    ret: Some(end),
                    action: Action::Read(found.clone()),
                },
                Source::Final,
            );
        }
    }
    keys
}

/// The report's section.
fn check(run: &Run) -> LinearizabilityReport {
    let started = Instant::now();
    let mut out = LinearizabilityReport::default();
    if run.record.eviction == Eviction::AllKeys {
        out.unknown.insert(
            "linearizability".into(),
            "the topology's maxmemory-policy may evict any key: its value can vanish on its own, which one copy of a key does not do".into(),
        );
        return out;
    }
    let all = histories(run);
    let mut keys: Vec<(&str, KeyHistory)> = Vec::new();
    for (key, h) in all {
        if h.expiring {
            *out.keys_not_modelled
                .entry("keys written with a TTL (SET PX)".into())
                .or_default() += 1;
        } else if !h.ops.is_empty() {
            keys.push((key, h));
        }
    }
    out.keys_checked = keys.len() as u64;
    out.ops = keys.iter().map(|(_, h)| h.ops.len() as u64).sum();
    let per_op = RUN_BUDGET / out.ops.max(1);
    out.budget_steps_per_op = per_op;
    out.ops_indeterminate = (keys.iter())
        .map(|(_, h)| h.ops.iter().filter(|o| o.ret.is_none()).count() as u64)
        .sum();
    let initial = |key: &str| run.initial.get(key).map(String::as_str);
    out.keys_unread = (keys.iter())
        .filter(|(_, h)| {
            !(h.ops.iter()).any(|o| matches!(o.action, Action::Read(_) | Action::Incr(Some(_))))
        })
        .count() as u64;
    let verdicts = decide_all(&keys, &run.initial, per_op);
    for v in &verdicts {
        match v {
            KeyVerdict::Linearizable => out.keys_linearizable += 1,
            KeyVerdict::Violation { .. } => out.violations += 1,
            KeyVerdict::Unknown { .. } => out.keys_undecided += 1,
        }
    }
    for ((key, h), _) in (keys.iter().zip(&verdicts))
        .filter(|(_, v)| matches!(v, KeyVerdict::Violation { .. }))
        .take(WITNESSES)
    {
        let budget = budget_of(h, per_op);
        let KeyVerdict::Violation { witness } =
            linearizable::check_key(initial(key), &h.ops, budget)
        else {
            continue;
        };
        out.witnesses.push(witness_of(run, key, h, &witness));
    }
    // The time is not put in the report here: the check stage's report is
    // a function of the run folder alone, so that a stored run checks again
    // to the same report byte for byte. `run` stores this first time in the
    // folder (`report::save_check_time`), and the report reads it from there.
    out.timed_ms = Some(started.elapsed().as_secs_f64() * 1e3);
    tracing::info!(
        keys = out.keys_checked,
        ops = out.ops,
        violations = out.violations,
        undecided = out.keys_undecided,
        took_ms = format!("{:.0}", started.elapsed().as_secs_f64() * 1e3),
        "linearizability checked"
    );
    out
}

/// Every key decided, over the machine's cores; verdicts in `keys`' order.
fn decide_all(
    keys: &[(&str, KeyHistory)],
    initial: &HashMap<String, String>,
    per_op: u64,
) -> Vec<KeyVerdict> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = keys.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (keys.chunks(chunk))
            .map(|part| {
                s.spawn(move || {
                    (part.iter())
                        .map(|(key, h)| {
                            let init = initial.get(*key).map(String::as_str);
                            linearizable::decide(init, &h.ops, budget_of(h, per_op))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a linearizability search panicked"))
            .collect()
    })
}

/// A key's search steps: its ops' share of the run's.
fn budget_of(h: &KeyHistory, per_op: u64) -> u64 {
    (per_op.saturating_mul(h.ops.len() as u64)).min(linearizable::DEFAULT_BUDGET)
}

/// A counter-example as the report shows it.
fn witness_of(run: &Run, key: &str, h: &KeyHistory, witness: &[usize]) -> Witness {
    let initial = run.initial.get(key).cloned();
    let mut ops: Vec<(u64, WitnessOp)> = (witness.iter())
        .map(|&i| {
            let lin = &h.ops[i];
            let op = match h.sources[i] {
                Source::Op(j) => Some(&run.history[j]),
                Source::Final => None,
            };
            (lin.call, witness_op(run, op, lin))
        })
        .collect();
    ops.sort_by_key(|(call, _)| *call);
    let ops: Vec<WitnessOp> = ops.into_iter().map(|(_, o)| o).collect();
    let why = why(
        initial.as_deref(),
        witness.iter().map(|&i| (&h.ops[i], h.sources[i])),
    );
    Witness {
        key: key.to_string(),
        slot: crate::slots::key_slot(key.as_bytes()),
        initial,
        ops_on_key: h.ops.len() as u64,
        ops,
        why,
    }
}

/// One op of a counter-example: who, what, when.
fn witness_op(run: &Run, op: Option<&Op>, lin: &LinOp) -> WitnessOp {
    let shown = |v: &Option<String>| v.as_deref().map_or("nil".to_string(), short);
    let what = match (&lin.action, op.map(|o| o.kind)) {
        (Action::Read(v), Some(OpKind::TxnRead)) => format!("MGET → {}", shown(v)),
        (Action::Read(v), _) => format!("GET → {}", shown(v)),
        (Action::Write(Some(v)), Some(OpKind::Txn)) => format!("MULTI SET {} EXEC", short(v)),
        (Action::Write(Some(v)), _) => format!("SET {}", short(v)),
        (Action::Write(None), _) => "DEL".to_string(),
        (Action::Incr(Some(n)), _) => format!("INCR → {n}"),
        (Action::Incr(None), _) => "INCR → ?".to_string(),
        #[allow(unreachable_patterns)]
        (other, _) => format!("{other:?}"),
    };
    let Some(op) = op else {
        return WitnessOp {
            client: "final read".into(),
            op: what,
            call_ms: ms(lin.call),
            ret_ms: lin.ret.map(ms),
            outcome: "ok".into(),
            node: None,
        };
    };
    let client = match op.mode {
        ClientMode::Adapter => {
            let lib = run.record.engine.adapter_of(op.client);
            format!(
                "{} {}",
                lib.map_or("adapter", |a| a.name.as_str()),
                op.client
            )
        }
        m => format!("{} {}", m.as_str(), op.client),
    };
    let outcome = match &op.outcome {
        Outcome::Ok => "ok".to_string(),
        Outcome::Indeterminate { message } => format!("indeterminate: {message}"),
        Outcome::Fail { kind, .. } => {
            format!("failed ({kind}) after retries: may have applied")
        }
    };
    WitnessOp {
        client,
        op: what,
        call_ms: ms(lin.call),
        ret_ms: lin.ret.map(ms),
        outcome,
        node: op.served_by().map(str::to_string),
    }
}

/// What a counter-example shows, in words.
fn why<'a>(
    initial: Option<&str>,
    ops: impl Iterator<Item = (&'a LinOp, Source)> + Clone,
) -> String {
    let n = ops.clone().count();
    let written: Vec<Option<&str>> = (ops.clone())
        .filter_map(|(o, _)| match &o.action {
            Action::Write(v) => Some(v.as_deref()),
            _ => None,
        })
        .chain([initial])
        .collect();
    let incr = ops
        .clone()
        .any(|(o, _)| matches!(o.action, Action::Incr(_)));
    let final_read = ops.clone().any(|(_, s)| s == Source::Final);
    let ghost = ops.clone().any(|(o, _)| match &o.action {
        Action::Read(v) => !incr && !written.contains(&v.as_deref()),
        _ => false,
    });
    let what = if ghost {
        "a read returned a value no op wrote"
    } else if incr {
        "the counter's answers cannot come from one copy (an increment lost, repeated or undone)"
    } else if final_read {
        "the value read back at the end is not what the acknowledged writes leave (a lost write)"
    } else {
        "a read returned a value already replaced when it was sent (a stale read)"
    };
    format!("no order of these {n} ops explains every answer: {what}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::fixture::{app, failed, get, indeterminate, op, set};
    use crate::record::Stored;
    use crate::record::run::KeyValues;
    use crate::report::Figure;

    /// A stored run of `history` on key `k` (loaded as `init`, read back
    /// as `fin` at the end; `None`: not read back).
    fn run_of(history: Vec<Op>, init: &str, fin: Option<Option<&str>>) -> Stored {
        let mut r = super::super::tests::record(serde_json::json!([]));
        r.end_ns = 1_000_000_000;
        let mut s = super::super::tests::stored(r);
        s.history = history;
        s.keys = match fin {
            Some(f) => vec![KeyValues {
                key: "k".into(),
                initial: init.into(),
                final_value: f.map(str::to_string),
            }],
            None => Vec::new(),
        };
        s
    }

    fn checked(s: &Stored) -> (LinearizabilityReport, Figure) {
        let run = Run::new(s);
        let sections = super::super::compose(&run);
        let l = sections.linearizability.clone().expect("a section");
        (l, sections.of("max_linearizability_violations"))
    }

    fn read(key: &str, v: Option<&str>, from: u64, to: u64) -> Op {
        let mut o = get(key, from, to);
        o.value = v.map(str::to_string);
        o
    }

    #[test]
    fn a_history_one_copy_explains_has_no_violation() {
        let s = run_of(
            vec![
                set("k", "a", 0, 10),
                read("k", Some("a"), 5, 8), // concurrent with the set
                app(set("k", "b", 20, 30)),
                read("k", Some("b"), 31, 32),
            ],
            "init",
            Some(Some("b")),
        );
        let (l, f) = checked(&s);
        assert_eq!(
            (l.keys_checked, l.keys_linearizable, l.violations),
            (1, 1, 0)
        );
        assert_eq!((l.ops, l.keys_unread, l.keys_undecided), (5, 0, 0));
        assert!(l.witnesses.is_empty());
        assert_eq!(f, Figure::Measured(0.0));
    }

    #[test]
    fn a_lost_write_is_a_violation_with_the_read_back_in_its_witness() {
        let s = run_of(
            vec![
                set("k", "a", 0, 10),
                set("k", "b", 20, 30),
                read("k", Some("b"), 31, 32),
            ],
            "init",
            Some(Some("a")),
        );
        let (l, f) = checked(&s);
        assert_eq!(l.violations, 1);
        assert_eq!(f, Figure::Measured(1.0));
        let w = &l.witnesses[0];
        let ops: Vec<&str> = w.ops.iter().map(|o| o.op.as_str()).collect();
        assert_eq!(ops, ["SET a", "SET b", "GET → a"], "{w:?}");
        assert_eq!(w.ops[2].client, "final read");
        assert!(w.why.contains("lost write"), "{}", w.why);
    }

    #[test]
    fn a_stale_read_is_a_violation_wherever_it_was_served() {
        let mut stale = app(read("k", Some("a"), 40, 41));
        stale.node = Some("s1n2".into());
        let s = run_of(
            vec![set("k", "a", 0, 10), set("k", "b", 20, 30), stale],
            "init",
            Some(Some("b")),
        );
        let (l, _) = checked(&s);
        assert_eq!(l.violations, 1);
        let w = &l.witnesses[0];
        assert_eq!(w.ops.len(), 3, "{w:?}");
        assert_eq!(w.ops[2].node.as_deref(), Some("s1n2"));
        assert!(w.why.contains("stale read"), "{}", w.why);
    }

    /// A probe's failed write did not happen; an app client's (it retries
    /// inside redis-rs) or a timed-out one may have.
    #[test]
    fn what_a_failed_write_may_have_done_depends_on_who_failed() {
        let found_b = |w: Op| run_of(vec![set("k", "a", 0, 10), w], "init", Some(Some("b")));
        let (l, _) = checked(&found_b(app(failed(set("k", "b", 20, 30)))));
        assert_eq!((l.violations, l.ops_indeterminate), (0, 1));
        let (l, _) = checked(&found_b(indeterminate(set("k", "b", 20, 30))));
        assert_eq!(l.violations, 0);
        let (l, _) = checked(&found_b(failed(set("k", "b", 20, 30))));
        assert_eq!(l.violations, 1);
        assert!(
            l.witnesses[0].why.contains("no op wrote"),
            "{:?}",
            l.witnesses
        );
    }

    #[test]
    fn keys_never_read_make_the_count_a_floor_and_none_read_unknown() {
        // Not read back, no GET: nothing judged.
        let s = run_of(vec![set("k", "a", 0, 10)], "init", None);
        let (l, f) = checked(&s);
        assert_eq!(l.keys_unread, 1);
        assert!(matches!(f, Figure::Unknown { value: None, .. }), "{f:?}");
        // One key read, one not: a floor.
        let mut s = run_of(
            vec![set("k", "a", 0, 10), set("j", "x", 0, 10)],
            "init",
            Some(Some("a")),
        );
        s.record.end_ns = 1_000_000_000;
        let (l, f) = checked(&s);
        assert_eq!((l.keys_checked, l.keys_unread, l.violations), (2, 1, 0));
        assert!(matches!(f, Figure::AtLeast { value: 0.0, .. }), "{f:?}");
    }

    #[test]
    fn expiring_keys_are_left_out_and_eviction_leaves_nothing_judged() {
        let mut px = set("k", "a", 0, 10);
        px.ttl_ms = Some(100);
        let s = run_of(
            vec![px, op(OpKind::Get, "k", None, 500, 501)],
            "init",
            Some(None),
        );
        let (l, _) = checked(&s);
        assert_eq!(l.keys_checked, 0);
        assert_eq!(l.keys_not_modelled.values().sum::<u64>(), 1);
        let mut s = run_of(vec![set("k", "a", 0, 10)], "init", Some(None));
        s.record.eviction = Eviction::AllKeys;
        let (l, f) = checked(&s);
        assert!(!l.unknown.is_empty());
        assert!(matches!(f, Figure::Unknown { value: None, .. }), "{f:?}");
    }

    /// MULTI/EXEC writes every member; MGET reads each: a read of one
    /// member that misses the transaction another member shows is judged
    /// on that member's own history.
    #[test]
    fn transactions_are_writes_and_reads_of_each_member() {
        let mut txn = op(OpKind::Txn, "{g}", Some("t1"), 0, 10);
        txn.members = vec!["{g}:a".into(), "{g}:b".into()];
        let mut mget = op(OpKind::TxnRead, "{g}", None, 20, 21);
        mget.members = txn.members.clone();
        mget.values = vec![Some("t1".into()), None];
        let s = run_of(vec![txn, mget], "init", None);
        let (l, _) = checked(&s);
        assert_eq!(l.keys_checked, 2);
        assert_eq!(l.violations, 1, "{:?}", l.witnesses);
        assert_eq!(l.witnesses[0].key, "{g}:b");
        assert_eq!(l.witnesses[0].ops[1].op, "MGET → nil");
    }

    /// A floor fails a maximum it is over and says `unknown` under it.
    #[test]
    fn a_floor_fails_only_a_limit_it_is_already_over() {
        use crate::report::{Bound, Verdict, evaluate_slos};
        let limits = BTreeMap::from([("a".to_string(), 0.0), ("b".to_string(), 5.0)]);
        let r = evaluate_slos(
            &limits,
            |_| Figure::AtLeast {
                value: 3.0,
                why: "2 of 9 keys undecided".into(),
            },
            |_| Bound::AtMost,
        );
        assert_eq!(
            (r[0].result, r[1].result),
            (Verdict::Fail, Verdict::Unknown)
        );
        assert_eq!(r[0].value, Some(3.0));
        assert!(r[0].note.as_deref().unwrap().starts_with("at least 3"));
    }
}
