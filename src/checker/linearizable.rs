//! Linearizability of one key's history: was what the clients saw on this
//! key consistent with one copy of it, changed atomically by each op at some
//! instant between its call and its return?
//!
//! The search is Wing and Gong's, as Lowe made it practical and Horn and
//! Kroening sped it up (the algorithm of Porcupine and Knossos's `wgl`): walk
//! the calls and returns in time order; at a call, try to linearize its op
//! now (the model must accept it from the current state), lifting its call
//! and return out of the list; at a return whose op was not linearized yet,
//! undo the last choice and try the next. A cache of (ops linearized,
//! state) pairs already explored keeps the search from doing the same work
//! twice — the pruning that makes it fast.
//!
//! The model is a register whose value is a string or nil: `SET` writes a
//! value, `DEL` writes nil, `GET` must read the current value, `INCR` adds
//! one to an integer (nil is 0) and must return the new value when its answer
//! is known. An op whose outcome is unknown (a timeout: it may or may not
//! have taken effect — Jepsen's `:info`) has no return: it may be linearized
//! anywhere after its call, or never, which is the same as last. A failed op
//! (certainly not applied) and a read whose answer was lost are not in the
//! history at all: the caller leaves them out.
//!
//! Bounded: `budget` steps per key; a key whose search runs out is
//! [`KeyVerdict::Unknown`], never linearizable. A violation comes with a
//! minimal witness: ops removed one at a time (keeping the order of the
//! rest) while the rest stays non-linearizable, so that no op of the
//! witness can go — the picture a person needs to believe it.
//!
//! Pure: no I/O; the caller builds [`LinOp`]s from the recorded history.

use std::collections::{HashMap, HashSet};

/// What an op did to the key, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `SET value`, or `DEL` (`None`).
    Write(Option<String>),
    /// `GET` that returned this (`None`: nil).
    Read(Option<String>),
    /// `INCR`, with the value it returned when known.
    Incr(Option<i64>),
}

/// One op on the key: when it was called, when it returned (`None`: its
/// outcome is unknown, it may have taken effect at any time after its call,
/// or never), and what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinOp {
    pub call: u64,
    pub ret: Option<u64>,
    pub action: Action,
}

/// The verdict on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyVerdict {
    /// Some order of the ops, each at an instant inside its call and
    /// return, explains every answer.
    Linearizable,
    /// No order does: `witness` indexes a minimal sub-history (into the
    /// ops given) that no order explains either.
    Violation { witness: Vec<usize> },
    /// The search ran out of its budget of steps before deciding.
    Unknown { steps: u64 },
}

/// Steps a search may take per key before it says `unknown`: a step is one
/// op tried at a call or one undone at a return. A key's history in a drill
/// (tens to a few thousand ops, a handful concurrent) decides in far fewer;
/// a pathological one (hundreds of concurrent writes of one value) stops
/// here in tens of milliseconds.
pub const DEFAULT_BUDGET: u64 = 2_000_000;

/// Whether `ops` on one key, starting from `initial`, are linearizable; a
/// violation with its minimal witness.
pub fn check_key(initial: Option<&str>, ops: &[LinOp], budget: u64) -> KeyVerdict {
    match search(initial, ops, budget) {
        Search::Linearizable => KeyVerdict::Linearizable,
        Search::OutOfBudget(steps) => KeyVerdict::Unknown { steps },
        Search::Violation => KeyVerdict::Violation {
            witness: shrink(initial, ops, budget),
        },
    }
}

/// A search's end.
enum Search {
    Linearizable,
    Violation,
    OutOfBudget(u64),
}

/// Interned values: the model's state is a small id, cheap to hash.
#[derive(Default)]
struct Values {
    ids: HashMap<String, u32>,
    strings: Vec<String>,
}

impl Values {
    fn id(&mut self, v: &str) -> u32 {
        if let Some(&i) = self.ids.get(v) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.ids.insert(v.to_string(), i);
        self.strings.push(v.to_string());
        i
    }
}

/// The register's value: nil, or an interned string.
type State = Option<u32>;

/// What an op does in the model, its values interned.
#[derive(Clone, Copy)]
enum Step {
    Write(State),
    Read(State),
    Incr(Option<i64>),
}

/// The state after `step` from `state`, if the model accepts it there.
fn apply(values: &mut Values, state: State, step: Step) -> Option<State> {
    match step {
        Step::Write(v) => Some(v),
        Step::Read(v) => (v == state).then_some(state),
        Step::Incr(answer) => {
            let now = match state {
                None => 0,
                Some(i) => values.strings[i as usize].parse::<i64>().ok()?,
            };
            let next = now.checked_add(1)?;
            if answer.is_some_and(|a| a != next) {
                return None;
            }
            Some(Some(values.id(&next.to_string())))
        }
    }
}

/// The search proper (no witness).
fn search(initial: Option<&str>, ops: &[LinOp], budget: u64) -> Search {
    let n = ops.len();
    if n == 0 {
        return Search::Linearizable;
    }
    let mut values = Values::default();
    let init: State = initial.map(|v| values.id(v));
    let steps: Vec<Step> = ops
        .iter()
        .map(|o| match &o.action {
            Action::Write(v) => Step::Write(v.as_deref().map(|v| values.id(v))),
            Action::Read(v) => Step::Read(v.as_deref().map(|v| values.id(v))),
            Action::Incr(a) => Step::Incr(*a),
        })
        .collect();
    // Events: (time, is_return, op). At one instant calls come before
    // returns: ops that touch are concurrent, not ordered. An unknown
    // outcome returns after everything.
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
    for (i, o) in ops.iter().enumerate() {
        events.push((o.call, false, i));
        events.push((o.ret.unwrap_or(u64::MAX).max(o.call), true, i));
    }
    events.sort_by_key(|&(t, ret, i)| (t, ret, i));
    // A doubly linked list over the events, with a head sentinel at index
    // `len`: lifting an op unlinks its call and its return.
    const NONE: usize = usize::MAX;
    let len = events.len();
    let head = len;
    let mut next: Vec<usize> = (1..len).chain([NONE, 0]).collect();
    let mut prev: Vec<usize> = std::iter::once(head)
        .chain(0..len - 1)
        .chain([NONE])
        .collect();
    let mut pos = vec![[0usize; 2]; n]; // each op's call and return events
    for (e, &(_, ret, i)) in events.iter().enumerate() {
        pos[i][usize::from(ret)] = e;
    }
    let unlink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, e: usize| {
        let (p, q) = (prev[e], next[e]);
        next[p] = q;
        if q != NONE {
            prev[q] = p;
        }
    };
    let relink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, e: usize| {
        let (p, q) = (prev[e], next[e]);
        next[p] = e;
        if q != NONE {
            prev[q] = e;
        }
    };
    let words = n.div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, State)> = HashSet::new();
    // The choices made: (op, state before it).
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut state = init;
    let mut e = next[head];
    let mut count: u64 = 0;
    while next[head] != NONE {
        count += 1;
        if count > budget {
            return Search::OutOfBudget(count - 1);
        }
        // At a call: try to linearize its op now.
        if e != NONE && !events[e].1 {
            let op = events[e].2;
            if let Some(after) = apply(&mut values, state, steps[op]) {
                linearized[op / 64] |= 1 << (op % 64);
                if cache.insert((linearized.clone(), after)) {
                    stack.push((op, state));
                    state = after;
                    unlink(&mut next, &mut prev, pos[op][0]);
                    unlink(&mut next, &mut prev, pos[op][1]);
                    e = next[head];
                    continue;
                }
                linearized[op / 64] &= !(1 << (op % 64));
            }
            e = next[e];
            continue;
        }
        // At the return of an op not linearized (or past the last call):
        // the choices so far cannot be extended. Undo the last one and try
        // the call after it.
        let Some((undo, before)) = stack.pop() else {
            return Search::Violation;
        };
        linearized[undo / 64] &= !(1 << (undo % 64));
        state = before;
        relink(&mut next, &mut prev, pos[undo][1]);
        relink(&mut next, &mut prev, pos[undo][0]);
        e = next[pos[undo][0]];
    }
    Search::Linearizable
}

/// A minimal non-linearizable sub-history of `ops` (known not to be
/// linearizable): drop each op in turn, keeping the drop when what is left
/// is still a violation and leaves no read more unexplained than before (a
/// read of a value no op left writes — dropping the write a read saw would
/// only make up a different anomaly). The ops kept are each needed.
fn shrink(initial: Option<&str>, ops: &[LinOp], budget: u64) -> Vec<usize> {
    let mut keep: Vec<usize> = (0..ops.len()).collect();
    let mut unexplained = unexplained_reads(initial, ops, &keep);
    let mut i = 0;
    while i < keep.len() {
        let trial: Vec<usize> = (keep.iter().enumerate())
            .filter(|&(j, _)| j != i)
            .map(|(_, &k)| k)
            .collect();
        let sub: Vec<LinOp> = trial.iter().map(|&k| ops[k].clone()).collect();
        let still = unexplained_reads(initial, ops, &trial);
        if still <= unexplained && matches!(search(initial, &sub, budget), Search::Violation) {
            keep = trial;
            unexplained = still;
        } else {
            i += 1;
        }
    }
    keep
}

/// Reads among `ops[keep]` of a value that no op among them could have
/// written (nor the initial value): a SET's value, an INCR's answer, any
/// integer when an INCR's answer was lost.
fn unexplained_reads(initial: Option<&str>, ops: &[LinOp], keep: &[usize]) -> usize {
    let kept = || keep.iter().map(|&k| &ops[k]);
    let any_int = kept().any(|o| o.action == Action::Incr(None));
    let written: HashSet<String> = kept()
        .filter_map(|o| match &o.action {
            Action::Write(Some(v)) => Some(v.clone()),
            Action::Incr(Some(a)) => Some(a.to_string()),
            _ => None,
        })
        .chain(initial.map(str::to_string))
        .collect();
    kept()
        .filter(|o| match &o.action {
            Action::Read(Some(v)) => {
                let could = written.contains(v) || (any_int && v.parse::<i64>().is_ok());
                !could
            }
            _ => false,
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(call: u64, ret: u64, v: &str) -> LinOp {
        LinOp {
            call,
            ret: Some(ret),
            action: Action::Write(Some(v.into())),
        }
    }
    fn r(call: u64, ret: u64, v: Option<&str>) -> LinOp {
        LinOp {
            call,
            ret: Some(ret),
            action: Action::Read(v.map(str::to_string)),
        }
    }
    fn incr(call: u64, ret: u64, v: i64) -> LinOp {
        LinOp {
            call,
            ret: Some(ret),
            action: Action::Incr(Some(v)),
        }
    }
    const B: u64 = DEFAULT_BUDGET;

    #[test]
    fn sequential_and_concurrent_histories_that_one_copy_explains_pass() {
        assert_eq!(check_key(None, &[], B), KeyVerdict::Linearizable);
        // Sequential: write a, read a, write b, read b.
        let h = [
            w(0, 1, "a"),
            r(2, 3, Some("a")),
            w(4, 5, "b"),
            r(6, 7, Some("b")),
        ];
        assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
        // A read concurrent with a write may see either value.
        let h = [w(0, 10, "a"), r(1, 2, None), r(3, 4, Some("a"))];
        assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
        // Two concurrent writes, then reads that agree on the last one.
        let h = [
            w(0, 10, "a"),
            w(0, 10, "b"),
            r(11, 12, Some("a")),
            r(13, 14, Some("a")),
        ];
        assert_eq!(check_key(Some("init"), &h, B), KeyVerdict::Linearizable);
        // A DEL is a write of nil.
        let del = LinOp {
            call: 2,
            ret: Some(3),
            action: Action::Write(None),
        };
        let h = [w(0, 1, "a"), del, r(4, 5, None)];
        assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
        // Counters: nil is 0; concurrent INCRs in either order.
        let h = [incr(0, 10, 2), incr(1, 9, 1), r(11, 12, Some("2"))];
        assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
        let h = [w(0, 1, "41"), incr(2, 3, 42)];
        assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
    }

    #[test]
    fn an_unknown_outcome_may_have_happened_or_not() {
        let timed_out = |call| LinOp {
            call,
            ret: None,
            action: Action::Write(Some("t".into())),
        };
        // Read long after: it happened.
        let h = [w(0, 1, "a"), timed_out(2), r(100, 101, Some("t"))];
        assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
        // Or it never did.
        let h = [w(0, 1, "a"), timed_out(2), r(100, 101, Some("a"))];
        assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
        // But not before it was called.
        let h = [r(0, 1, Some("t")), timed_out(2)];
        assert!(matches!(
            check_key(None, &h, B),
            KeyVerdict::Violation { .. }
        ));
        // An INCR whose answer was lost may have counted.
        let lost_answer = LinOp {
            call: 2,
            ret: None,
            action: Action::Incr(None),
        };
        let h = [w(0, 1, "5"), lost_answer, r(10, 11, Some("6"))];
        assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
    }

    /// Each classic anomaly, with its minimal witness.
    #[test]
    fn each_anomaly_is_found_with_the_ops_that_show_it() {
        // Stale read: b acknowledged before the read began, the read saw a.
        let h = [
            w(0, 1, "a"),
            r(2, 3, Some("a")),
            w(4, 5, "b"),
            r(6, 7, Some("b")),
            r(8, 9, Some("a")),
            r(10, 11, Some("b")),
        ];
        assert_eq!(
            check_key(None, &h, B),
            KeyVerdict::Violation {
                witness: vec![0, 2, 4]
            },
            "a written, b written, a read after b"
        );
        // Lost write: acknowledged, then a later read sees the old value.
        let h = [w(0, 1, "old"), w(2, 3, "new"), r(10, 11, Some("old"))];
        assert_eq!(
            check_key(None, &h, B),
            KeyVerdict::Violation {
                witness: vec![0, 1, 2]
            }
        );
        // A value never written.
        let h = [w(0, 1, "a"), r(2, 3, Some("ghost"))];
        assert_eq!(
            check_key(None, &h, B),
            KeyVerdict::Violation { witness: vec![1] }
        );
        // A write seen, then unseen, while it is still running: once a
        // read has seen it, it has taken effect.
        let h = [w(0, 10, "a"), r(1, 2, Some("a")), r(3, 4, None)];
        assert_eq!(
            check_key(None, &h, B),
            KeyVerdict::Violation {
                witness: vec![0, 1, 2]
            }
        );
        // A counter that goes back: 2, then 1 read after it.
        let h = [incr(0, 1, 1), incr(2, 3, 2), r(4, 5, Some("1"))];
        assert_eq!(
            check_key(None, &h, B),
            KeyVerdict::Violation {
                witness: vec![0, 1, 2]
            }
        );
        // Two INCRs that both say 1: one increment lost.
        let h = [incr(0, 5, 1), incr(1, 6, 1)];
        assert_eq!(
            check_key(None, &h, B),
            KeyVerdict::Violation {
                witness: vec![0, 1]
            }
        );
    }

    /// Hundreds of concurrent writes of distinct values, every one timed
    /// out, and reads no order explains: the search cannot finish and says
    /// so within its budget.
    #[test]
    fn a_pathological_history_ends_unknown_within_its_budget() {
        let mut h: Vec<LinOp> = (0..40)
            .map(|i| LinOp {
                call: i,
                ret: None,
                action: Action::Write(Some(format!("v{i}"))),
            })
            .collect();
        h.push(r(1000, 1001, Some("never")));
        let t = std::time::Instant::now();
        let v = check_key(None, &h, 50_000);
        assert!(
            matches!(v, KeyVerdict::Unknown { steps } if steps <= 50_000),
            "{v:?}"
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }

    /// A long sequential history decides in steps linear in its length.
    #[test]
    fn a_long_history_decides_quickly() {
        let mut h = Vec::new();
        for i in 0..5_000u64 {
            h.push(w(4 * i, 4 * i + 2, &format!("v{i}")));
            h.push(r(4 * i + 1, 4 * i + 3, Some(&format!("v{i}"))));
        }
        assert_eq!(check_key(None, &h, 100_000), KeyVerdict::Linearizable);
    }
}
