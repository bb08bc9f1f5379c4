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
//! twice — the pruning that makes it fast. Fast here because a step does
//! little: the set of ops linearized carries a hash updated by one XOR per
//! step (Zobrist's), the cache is probed with it and stores a set only when
//! it is new, and a state is one interned id.
//!
//! The model is a register whose value is a string or nil: `SET` writes a
//! value, `DEL` writes nil, `GET` must read the current value, `INCR` adds
//! one to an integer (nil is 0) and must return the new value when its answer
//! is known, `APPEND` adds a suffix (to nil: the suffix), a compare-and-set
//! swaps in a value only if it finds the one it expects, and says whether it
//! did when its answer is known (etcd's `cas` as Jepsen tests it; a Lua or
//! `WATCH` check-and-set). An op whose outcome is unknown (a timeout: it may
//! or may not have taken effect — Jepsen's `:info`) has no return: it may be
//! linearized anywhere after its call, or never, which is the same as last. A
//! failed op (certainly not applied) and a read whose answer was lost are not
//! in the history at all: the caller leaves them out.
//!
//! Bounded: `budget` steps per key; a key whose search runs out is
//! [`KeyVerdict::Unknown`], never linearizable. A violation comes with a
//! minimal witness: ops removed one at a time (keeping the order of the
//! rest) while the rest stays non-linearizable, so that no op of the
//! witness can go — the picture a person needs to believe it. The ops after
//! the point where the violation shows, and runs of ops, go first, each in
//! one try ([`check_key`]).
//!
//! Many keys: [`decide_keys`] takes turns between them, so that one key
//! whose search explodes does not hide another's violation (Porcupine checks
//! its partitions in parallel for the same reason).
//!
//! Pure: no I/O; the caller builds [`LinOp`]s from the recorded history.
//! `benches/lin.rs` checks Porcupine's own test histories with it and with
//! Porcupine, side by side (`just bench-lin`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// What an op did to the key, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `SET value`, or `DEL` (`None`).
    Write(Option<String>),
    /// `GET` that returned this (`None`: nil).
    Read(Option<String>),
    /// `INCR`, with the value it returned when known.
    Incr(Option<i64>),
    /// Compare-and-set: if the value is `expect`, make it `new`. `ok` is
    /// what the client was told (`Some(false)`: the value was not
    /// `expect`, nothing changed); `None` when the answer was lost, so the
    /// op either swapped or found another value — etcd's `cas` in Jepsen's
    /// register test, the shape of a Lua or `WATCH`/`MULTI` check-and-set.
    Cas {
        expect: Option<String>,
        new: String,
        ok: Option<bool>,
    },
    /// `APPEND s`: the value becomes the old one followed by `s` (nil
    /// counts as empty, as in Redis). Its answer (the new length) is not
    /// modelled: reads check the content.
    Append(String),
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
    let mut prepared = Prepared::new(initial, ops);
    let values = std::mem::take(&mut prepared.values);
    let steps = prepared.steps.clone();
    let mut search =
        KeySearch::from_parts(values, prepared.initial, steps, &prepared.timed, budget);
    match search
        .run(u64::MAX)
        .expect("a search without a turn limit runs to its end")
    {
        Search::Linearizable => KeyVerdict::Linearizable,
        Search::OutOfBudget(steps) => KeyVerdict::Unknown { steps },
        Search::Violation => {
            let found = search.found();
            prepared.values = std::mem::take(&mut search.values);
            drop(search);
            KeyVerdict::Violation {
                witness: shrink(initial, ops, prepared, budget, found),
            }
        }
    }
}

/// [`check_key`] without the witness: a violation's `witness` is empty.
/// Shrinking costs a search per op, so a run with thousands of violating
/// keys decides them all this way and draws only the first few.
pub fn decide(initial: Option<&str>, ops: &[LinOp], budget: u64) -> KeyVerdict {
    match search(initial, ops, budget) {
        Search::Linearizable => KeyVerdict::Linearizable,
        Search::OutOfBudget(steps) => KeyVerdict::Unknown { steps },
        Search::Violation => KeyVerdict::Violation {
            witness: Vec::new(),
        },
    }
}

/// A search's end.
enum Search {
    Linearizable,
    Violation,
    OutOfBudget(u64),
}

mod keys;
mod model;
mod search;
#[cfg(test)]
mod tests;
mod witness;

pub use keys::{KeysVerdict, decide_keys};
use {model::*, search::*, witness::*};
