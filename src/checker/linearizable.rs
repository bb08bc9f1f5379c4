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

/// The verdict on several keys' histories taken together: linearizable
/// iff each key's is (a key's history is linearizable on its own or not at
/// all, whatever the other keys do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeysVerdict {
    Linearizable,
    /// The first key found not linearizable, an index into the keys
    /// given; others may be too.
    Violation {
        key: usize,
    },
    /// No key was found not linearizable, and these ran out of budget.
    Unknown {
        keys: Vec<usize>,
    },
}

/// Steps a key searches in [`decide_keys`] per turn: small enough that a
/// hard key delays a violation on an easy one by well under a millisecond
/// per turn, large enough that taking turns costs nothing next to the
/// steps.
const TURN: u64 = 1_024;

/// The first turns, taken on the calling thread: most keys of a drill end
/// within them.
const FIRST_TURN: u64 = 256;

/// Turns the calling thread takes alone after the first, before the other
/// cores join (a few milliseconds): a history that decides by then is not
/// worth a thread, nor the wait at the end for one whose core another
/// program took.
const SOLO_TURNS: usize = 32;

/// Whether every key's history is linearizable, each key with at most
/// `budget` steps. The keys take turns of [`TURN`] steps: one key whose
/// search explodes (dozens of concurrent appends whose order no read
/// pins down) would otherwise hide, for as long as its budget lasts, a
/// violation that another key shows in a few steps. The keys with the
/// fewest turns go first; after [`SOLO_TURNS`] turns every core takes
/// turns, without waiting for each other. The key found not linearizable
/// in the fewest turns (the first in key order among those) is the verdict
/// — the same key however the turns fell on the cores. [`check_key`] on
/// that key then gives its witness.
pub fn decide_keys(keys: &[(Option<&str>, &[LinOp])], budget: u64) -> KeysVerdict {
    let turn = |key: usize, search: Option<KeySearch>, steps: u64| {
        let (initial, ops) = keys[key];
        let mut search = search.unwrap_or_else(|| KeySearch::new(initial, ops, budget));
        let end = search.run(steps);
        end.map_or(Ok(search), Err)
    };
    let mut turns = Turns {
        next: BinaryHeap::new(),
        parked: (0..keys.len()).map(|_| None).collect(),
        first: None,
        running: 0,
        unknown: Vec::new(),
        panic: None,
    };
    for key in 0..keys.len() {
        turns.end_turn(key, 1, turn(key, None, FIRST_TURN));
        if let Some((_, key)) = turns.first {
            return KeysVerdict::Violation { key };
        }
    }
    let shared = (Mutex::new(turns), Condvar::new());
    let each = |key, search| turn(key, Some(search), TURN);
    take_turns(&shared, &each, Some(SOLO_TURNS));
    let left = lock(&shared.0).next.len();
    let helpers = cores().saturating_sub(1).min(left.saturating_sub(1));
    if helpers > 0 {
        std::thread::scope(|s| {
            for _ in 0..helpers {
                s.spawn(|| take_turns(&shared, &each, None));
            }
            take_turns(&shared, &each, None);
        });
    } else {
        take_turns(&shared, &each, None);
    }
    let turns = shared
        .0
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(panic) = turns.panic {
        std::panic::resume_unwind(panic);
    }
    match turns.first {
        Some((_, key)) => KeysVerdict::Violation { key },
        None if turns.unknown.is_empty() => KeysVerdict::Linearizable,
        None => {
            let mut keys = turns.unknown;
            keys.sort_unstable();
            KeysVerdict::Unknown { keys }
        }
    }
}

/// The cores this process may use, asked once: asking reads the cgroup's
/// limits, which costs more than deciding a small history.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// The keys' turns in [`decide_keys`], shared by the threads.
struct Turns {
    /// (turns taken, key) of each key parked between turns, fewest first.
    next: BinaryHeap<Reverse<(u32, usize)>>,
    parked: Vec<Option<KeySearch>>,
    /// (turns, key) of the violation found in the fewest turns so far.
    /// A key whose next turn would come after it needs no more turns.
    first: Option<(u32, usize)>,
    /// Turns being taken.
    running: usize,
    unknown: Vec<usize>,
    /// A thread's panic, raised again in the caller.
    panic: Option<Box<dyn std::any::Any + Send>>,
}

impl Turns {
    /// Record how the `taken`th turn of `key` ended.
    fn end_turn(&mut self, key: usize, taken: u32, end: Result<KeySearch, Search>) {
        match end {
            Ok(search) => {
                self.parked[key] = Some(search);
                self.next.push(Reverse((taken, key)));
            }
            Err(Search::Linearizable) => {}
            Err(Search::Violation) => {
                self.first = Some(self.first.map_or((taken, key), |f| f.min((taken, key))));
            }
            Err(Search::OutOfBudget(_)) => self.unknown.push(key),
        }
    }

    /// The next turn worth taking: (turns taken, key, its search).
    fn take(&mut self) -> Option<(u32, usize, KeySearch)> {
        while let Some(Reverse((taken, key))) = self.next.pop() {
            let search = self.parked[key].take().expect("a key in `next` is parked");
            if self.first.is_none_or(|first| (taken + 1, key) < first) {
                return Some((taken, key, search));
            }
        }
        None
    }
}

/// One thread's share of [`decide_keys`]: take the next turn until no turn
/// is left to take and none is being taken (one being taken may park its
/// key again), or `at_most` turns.
fn take_turns(
    shared: &(Mutex<Turns>, Condvar),
    turn: &(dyn Fn(usize, KeySearch) -> Result<KeySearch, Search> + Sync),
    at_most: Option<usize>,
) {
    let (turns, changed) = shared;
    let mut state = lock(turns);
    let mut mine = 0;
    loop {
        if state.panic.is_some() || at_most.is_some_and(|n| mine == n) {
            break;
        }
        let Some((taken, key, search)) = state.take() else {
            if state.running == 0 {
                break;
            }
            state = changed.wait(state).unwrap_or_else(PoisonError::into_inner);
            continue;
        };
        state.running += 1;
        mine += 1;
        drop(state);
        let end = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| turn(key, search)));
        state = lock(turns);
        state.running -= 1;
        match end {
            Ok(end) => state.end_turn(key, taken + 1, end),
            Err(panic) => state.panic = Some(panic),
        }
        changed.notify_all();
    }
    changed.notify_all();
}

/// A lock that a panic elsewhere does not poison for good: a panic in a
/// turn is caught, and handed to the caller.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The register's value: an interned string's id, or [`NIL`].
type State = u32;
/// No string's id: ids count up from 0.
const NIL: State = u32::MAX;

/// Interned values: the model's state is a small id, cheap to hash and
/// to compare. The values that appends and increments make are interned
/// too, each once: the search tries the same op from the same state over
/// and over, so `derived` keeps every such transition already computed.
///
/// An append's value is kept as (value, suffix), not as a string: a
/// search over dozens of concurrent appends makes a new value at almost
/// every step, each as long as all the appends before it, and storing
/// them would fill memory with copies (a kilobyte per state in Jepsen's
/// key/value histories). Two values are the same id iff their bytes are
/// equal, whichever way they were made: each value's polynomial hash
/// comes from its parts' in O(1), and values with equal hashes are
/// compared byte for byte, so the hash only finds candidates.
#[derive(Default)]
struct Values {
    values: Vec<Value>,
    /// The bytes of the values that are not appends.
    bytes: Vec<Box<[u8]>>,
    /// A value's hash → the last id with that hash, each id chaining to
    /// the one before (`Value::same_hash`, `NIL`: none).
    by_hash: HashMap<u64, State, BuildHasherDefault<Mix>>,
    /// The transitions computed: (suffix appended, or [`INCR`]; the
    /// value made, or `NIL` when an INCR finds no integer; the state's
    /// transition before, or `NONE`), the last per state (its id + 1, or 0
    /// for nil) in `last_derived`. A list per state, not one map: the
    /// search tries op after op from the state it is in, so the lookups
    /// after the first find it in the cache; and one arena for all, not a
    /// vector per state, for a new state at almost every step.
    derived: Vec<(u32, State, u32)>,
    last_derived: Vec<u32>,
    /// Where values are spelled out to be compared.
    scratch: [Vec<u8>; 2],
}

/// One interned value, in 24 bytes: there is one per step of a search
/// over appends.
#[derive(Clone, Copy)]
struct Value {
    /// Its bytes' polynomial hash, Σ bᵢ·Kⁿ⁻¹⁻ⁱ mod 2⁶⁴ over its n bytes:
    /// the hash of a + b is hash(a)·Kⁿ⁽ᵇ⁾ + hash(b).
    hash: u64,
    /// `(a, b)`: value `a` followed by value `b`; `(BYTES, i)`: `bytes[i]`.
    made: (State, State),
    len: u32,
    same_hash: State,
}

/// [`Value::made`]'s mark for a value of its own bytes: no value is made
/// from nil (nil followed by `s` is `s`).
const BYTES: State = NIL;

/// The base of [`Value::hash`]: odd, so that its powers never vanish.
const K: u64 = 0x100_0000_01b3;

/// [`Values::derived`]'s mark for an INCR: no suffix has this id.
const INCR: u32 = u32::MAX;

impl Values {
    fn id(&mut self, v: &str) -> State {
        let hash = (v.bytes()).fold(0u64, |h, b| h.wrapping_mul(K).wrapping_add(u64::from(b)));
        let value = Value {
            hash,
            made: (BYTES, self.bytes.len() as State),
            len: v.len() as u32,
            same_hash: NIL,
        };
        let i = self.intern(value, v.as_bytes());
        if self.values[i as usize].made == value.made {
            self.bytes.push(v.as_bytes().into());
        }
        i
    }

    /// The id of `value`, whose bytes (when it is new) are `mine` or, for
    /// an append, its parts': an equal value's if there is one, else its
    /// own.
    fn intern(&mut self, value: Value, mine: &[u8]) -> State {
        let last = self.by_hash.get(&value.hash).copied().unwrap_or(NIL);
        let mut i = last;
        let mut spelled = false;
        while i != NIL {
            let other = &self.values[i as usize];
            if other.len == value.len {
                let [spelt, theirs] = &mut self.scratch;
                if !spelled {
                    spelt.clear();
                    match value.made {
                        (BYTES, _) => spelt.extend_from_slice(mine),
                        (a, b) => {
                            spell_out(&self.values, &self.bytes, a, spelt);
                            spell_out(&self.values, &self.bytes, b, spelt);
                        }
                    }
                    spelled = true;
                }
                theirs.clear();
                spell_out(&self.values, &self.bytes, i, theirs);
                if spelt == theirs {
                    return i;
                }
            }
            i = other.same_hash;
        }
        let i = self.values.len() as State;
        self.by_hash.insert(value.hash, i);
        self.values.push(Value {
            same_hash: last,
            ..value
        });
        i
    }

    /// What `op` (a suffix, or [`INCR`]) made from `state`, if known.
    fn derived_of(&self, state: State, op: u32) -> Option<State> {
        let i = state.wrapping_add(1) as usize;
        let mut t = self.last_derived.get(i).copied().unwrap_or(NONE);
        while t != NONE {
            let (o, v, before) = self.derived[t as usize];
            if o == op {
                return Some(v);
            }
            t = before;
        }
        None
    }

    fn derive(&mut self, state: State, op: u32, made: State) {
        let i = state.wrapping_add(1) as usize;
        if self.last_derived.len() <= i {
            self.last_derived.resize(i + 1, NONE);
        }
        self.derived.push((op, made, self.last_derived[i]));
        self.last_derived[i] = (self.derived.len() - 1) as u32;
    }

    fn opt(&mut self, v: Option<&str>) -> State {
        v.map_or(NIL, |v| self.id(v))
    }

    /// The value `state` followed by `suffix`.
    fn append(&mut self, state: State, suffix: State) -> State {
        if state == NIL {
            return suffix;
        }
        if let Some(v) = self.derived_of(state, suffix) {
            return v;
        }
        let (a, b) = (&self.values[state as usize], &self.values[suffix as usize]);
        let value = Value {
            hash: (a.hash.wrapping_mul(K.wrapping_pow(b.len))).wrapping_add(b.hash),
            made: (state, suffix),
            len: a.len + b.len,
            same_hash: NIL,
        };
        let v = self.intern(value, &[]);
        self.derive(state, suffix, v);
        v
    }

    /// `state` plus one, if it is an integer (nil is 0) that does not
    /// overflow.
    fn incr(&mut self, state: State) -> Option<State> {
        if let Some(v) = self.derived_of(state, INCR) {
            return (v != NIL).then_some(v);
        }
        let now = match state {
            NIL => Some(0),
            i => {
                let mut bytes = Vec::new();
                spell_out(&self.values, &self.bytes, i, &mut bytes);
                std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
            }
        };
        let v = (now.and_then(|n| n.checked_add(1))).map(|n| self.id(&n.to_string()));
        self.derive(state, INCR, v.unwrap_or(NIL));
        v
    }
}

/// Append the bytes of value `id` to `out`.
fn spell_out(values: &[Value], bytes: &[Box<[u8]>], id: State, out: &mut Vec<u8>) {
    if let (BYTES, i) = values[id as usize].made {
        out.extend_from_slice(&bytes[i as usize]);
        return;
    }
    let mut todo = vec![id];
    while let Some(v) = todo.pop() {
        match values[v as usize].made {
            (BYTES, i) => out.extend_from_slice(&bytes[i as usize]),
            (a, b) => todo.extend([b, a]),
        }
    }
}

/// What an op does in the model, its values interned.
#[derive(Clone, Copy)]
enum Step {
    Write(State),
    Read(State),
    /// The answer, interned as the string a read of it would return.
    Incr(Option<State>),
    Cas {
        expect: State,
        new: State,
        ok: Option<bool>,
    },
    Append(State),
}

impl Step {
    fn new(values: &mut Values, action: &Action) -> Step {
        match action {
            Action::Write(v) => Step::Write(values.opt(v.as_deref())),
            Action::Read(v) => Step::Read(values.opt(v.as_deref())),
            Action::Incr(a) => Step::Incr(a.map(|a| values.id(&a.to_string()))),
            Action::Cas { expect, new, ok } => Step::Cas {
                expect: values.opt(expect.as_deref()),
                new: values.id(new),
                ok: *ok,
            },
            Action::Append(s) => Step::Append(values.id(s)),
        }
    }
}

/// The state after `step` from `state`, if the model accepts it there.
fn apply(values: &mut Values, state: State, step: Step) -> Option<State> {
    match step {
        Step::Write(v) => Some(v),
        Step::Read(v) => (v == state).then_some(state),
        Step::Incr(answer) => {
            let next = values.incr(state)?;
            if answer.is_some_and(|a| a != next) {
                return None;
            }
            Some(next)
        }
        Step::Cas { expect, new, ok } => {
            let swaps = state == expect;
            if ok.is_some_and(|told| told != swaps) {
                return None;
            }
            Some(if swaps { new } else { state })
        }
        Step::Append(suffix) => Some(values.append(state, suffix)),
    }
}

/// The search proper (no witness), to its end.
fn search(initial: Option<&str>, ops: &[LinOp], budget: u64) -> Search {
    let mut s = KeySearch::new(initial, ops, budget);
    s.run(u64::MAX)
        .expect("a search without a turn limit runs to its end")
}

/// A history's ops interned and their calls and returns put in time
/// order, once: [`shrink`] searches many of its sub-histories.
struct Prepared {
    values: Values,
    initial: State,
    steps: Vec<Step>,
    /// (time, is a return, op), in order. At one instant calls come before
    /// returns: ops that touch are concurrent, not ordered. An unknown
    /// outcome returns after everything.
    timed: Vec<(u64, bool, u32)>,
    /// The last try's search, whose space the next reuses.
    spare: Option<KeySearch>,
}

impl Prepared {
    fn new(initial: Option<&str>, ops: &[LinOp]) -> Prepared {
        let mut values = Values::default();
        let initial = values.opt(initial);
        let steps = ops
            .iter()
            .map(|o| Step::new(&mut values, &o.action))
            .collect();
        let mut timed: Vec<(u64, bool, u32)> = Vec::with_capacity(2 * ops.len());
        for (i, o) in ops.iter().enumerate() {
            timed.push((o.call, false, i as u32));
            timed.push((o.ret.unwrap_or(u64::MAX).max(o.call), true, i as u32));
        }
        timed.sort_unstable();
        Prepared {
            values,
            initial,
            steps,
            timed,
            spare: None,
        }
    }

    /// Whether the ops `keep` (in increasing order) are not linearizable:
    /// the same search as of those ops alone, without interning or
    /// sorting them again. The values appends make stay for the next.
    fn violates(&mut self, keep: &[usize], budget: u64) -> bool {
        let mut renumber = vec![NONE; self.steps.len()];
        for (j, &k) in keep.iter().enumerate() {
            renumber[k] = j as u32;
        }
        let steps = keep.iter().map(|&k| self.steps[k]).collect();
        let timed: Vec<(u64, bool, u32)> = (self.timed.iter())
            .filter(|e| renumber[e.2 as usize] != NONE)
            .map(|&(t, ret, i)| (t, ret, renumber[i as usize]))
            .collect();
        self.violates_with(steps, &timed, budget)
    }

    /// Whether the history cut at `t` is not linearizable: the ops called
    /// by then, those still running made unknown outcomes (returning
    /// after everything, their answers lost), their reads gone. See
    /// [`violating_prefix`].
    fn cut_violates(&mut self, t: u64, budget: u64) -> bool {
        let n = self.steps.len();
        let (mut called, mut done) = (vec![false; n], vec![false; n]);
        for &(_, ret, i) in self.timed.iter().take_while(|e| e.0 <= t) {
            let flag = if ret { &mut done } else { &mut called };
            flag[i as usize] = true;
        }
        let mut renumber = vec![NONE; n];
        let mut steps = Vec::new();
        let mut running = Vec::new();
        for i in (0..n).filter(|&i| called[i]) {
            let step = match (done[i], self.steps[i]) {
                (true, step) => step,
                (false, Step::Read(_)) => continue,
                (false, Step::Incr(_)) => Step::Incr(None),
                (false, Step::Cas { expect, new, .. }) => Step::Cas {
                    expect,
                    new,
                    ok: None,
                },
                (false, step) => step,
            };
            renumber[i] = steps.len() as u32;
            if !done[i] {
                running.push((u64::MAX, true, steps.len() as u32));
            }
            steps.push(step);
        }
        let timed: Vec<(u64, bool, u32)> = (self.timed.iter())
            .take_while(|e| e.0 <= t)
            .filter(|e| renumber[e.2 as usize] != NONE)
            .map(|&(time, ret, i)| (time, ret, renumber[i as usize]))
            .chain(running)
            .collect();
        self.violates_with(steps, &timed, budget)
    }

    fn violates_with(&mut self, steps: Vec<Step>, timed: &[(u64, bool, u32)], budget: u64) -> bool {
        let values = std::mem::take(&mut self.values);
        let mut search = match self.spare.take() {
            Some(mut search) => {
                (search.values, search.steps) = (values, steps);
                (search.state, search.budget) = (self.initial, budget);
                search.fill(timed);
                search
            }
            None => KeySearch::from_parts(values, self.initial, steps, timed, budget),
        };
        let end = search.run(u64::MAX);
        self.values = std::mem::take(&mut search.values);
        self.spare = Some(search);
        matches!(end, Some(Search::Violation))
    }
}

/// No event: the end of the list.
const NONE: u32 = u32::MAX;

/// One key's search, which can stop after some steps and go on later
/// ([`decide_keys`] takes turns between keys).
struct KeySearch {
    values: Values,
    steps: Vec<Step>,
    /// The calls and returns in time order, each `op << 1 | is_return`,
    /// and their times.
    /// At one instant calls come before returns: ops that touch are
    /// concurrent, not ordered. An unknown outcome returns after
    /// everything.
    events: Vec<u32>,
    times: Vec<u64>,
    /// The latest return at which the search had to undo a choice: every
    /// op that returned before it was linearized then.
    stuck: u32,
    /// A doubly linked list over `events`, with a head sentinel at index
    /// `events.len()`: linearizing an op lifts its call and its return
    /// out of it, undoing puts them back.
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Each op's call and return events.
    pos: Vec<[u32; 2]>,
    /// One random word per op: the hash of a set of ops is the XOR of
    /// theirs (Zobrist's), kept up to date in one XOR per step.
    zobrist: Vec<u64>,
    linearized: Vec<u64>,
    hash: u64,
    seen: Seen,
    /// The choices made: (op, state before it).
    stack: Vec<(u32, State)>,
    state: State,
    /// The event the search is at.
    at: u32,
    count: u64,
    budget: u64,
}

impl KeySearch {
    fn new(initial: Option<&str>, ops: &[LinOp], budget: u64) -> KeySearch {
        let p = Prepared::new(initial, ops);
        KeySearch::from_parts(p.values, p.initial, p.steps, &p.timed, budget)
    }

    /// The search of ops whose `steps` are made of `values`, from
    /// `state`, with their calls and returns `timed` in order.
    fn from_parts(
        values: Values,
        state: State,
        steps: Vec<Step>,
        timed: &[(u64, bool, u32)],
        budget: u64,
    ) -> KeySearch {
        let mut search = KeySearch {
            values,
            steps,
            events: Vec::new(),
            times: Vec::new(),
            stuck: 0,
            at: NONE,
            next: Vec::new(),
            prev: Vec::new(),
            pos: Vec::new(),
            zobrist: Vec::new(),
            linearized: Vec::new(),
            hash: 0,
            seen: Seen::new(0, 0),
            stack: Vec::new(),
            state,
            count: 0,
            budget,
        };
        search.fill(timed);
        search
    }

    /// Set the search up, from its start, for its `steps` with their calls
    /// and returns `timed` in order, in the space of a search before it:
    /// [`shrink`]'s tries are many small searches.
    fn fill(&mut self, timed: &[(u64, bool, u32)]) {
        let n = self.steps.len();
        self.events.clear();
        (self.events).extend(timed.iter().map(|&(_, ret, i)| i << 1 | u32::from(ret)));
        self.times.clear();
        self.times.extend(timed.iter().map(|&(t, _, _)| t));
        let len = self.events.len() as u32;
        let head = len;
        self.next.clear();
        (self.next).extend((1..len).chain([NONE, if len == 0 { NONE } else { 0 }]));
        self.prev.clear();
        (self.prev).extend(
            (0..len)
                .map(|e| if e == 0 { head } else { e - 1 })
                .chain([NONE]),
        );
        self.pos.clear();
        self.pos.resize(n, [0; 2]);
        for (e, &ev) in self.events.iter().enumerate() {
            self.pos[(ev >> 1) as usize][(ev & 1) as usize] = e as u32;
        }
        self.zobrist.clear();
        (self.zobrist).extend((0..n as u64).map(|i| mix(i ^ 0x6a09_e667_f3bc_c908)));
        let words = n.div_ceil(64);
        self.linearized.clear();
        self.linearized.resize(words, 0);
        self.hash = 0;
        self.seen.reset(words, n);
        self.stack.clear();
        self.stuck = 0;
        self.at = self.next[head as usize];
        self.count = 0;
    }

    /// What [`shrink`] needs of a search that found a violation.
    fn found(&self) -> Found {
        Found {
            steps: self.count,
            stuck: self.times.get(self.stuck as usize).copied().unwrap_or(0),
        }
    }

    fn unlink(&mut self, e: u32) {
        let (p, q) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = q;
        if q != NONE {
            self.prev[q as usize] = p;
        }
    }

    fn relink(&mut self, e: u32) {
        let (p, q) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = e;
        if q != NONE {
            self.prev[q as usize] = e;
        }
    }

    /// Search on for at most `turn` steps: its end, or `None` when the
    /// turn is over first.
    fn run(&mut self, turn: u64) -> Option<Search> {
        let head = self.events.len();
        let stop = self.count.saturating_add(turn);
        while self.next[head] != NONE {
            if self.count == stop {
                return None;
            }
            self.count += 1;
            if self.count > self.budget {
                return Some(Search::OutOfBudget(self.count - 1));
            }
            let e = self.at;
            // At a call: try to linearize its op now.
            if e != NONE && self.events[e as usize] & 1 == 0 {
                let op = (self.events[e as usize] >> 1) as usize;
                if let Some(after) = apply(&mut self.values, self.state, self.steps[op]) {
                    let (word, bit) = (op / 64, 1u64 << (op % 64));
                    self.linearized[word] |= bit;
                    let hash = self.hash ^ self.zobrist[op];
                    if self
                        .seen
                        .insert(hash ^ mix(u64::from(after)), after, &self.linearized)
                    {
                        self.stack.push((op as u32, self.state));
                        self.state = after;
                        self.hash = hash;
                        self.unlink(self.pos[op][0]);
                        self.unlink(self.pos[op][1]);
                        self.at = self.next[head];
                        continue;
                    }
                    self.linearized[word] &= !bit;
                }
                self.at = self.next[e as usize];
                continue;
            }
            // At the return of an op not linearized (or past the last
            // call): the choices so far cannot be extended. Undo the last
            // one and try the call after it.
            if e != NONE {
                self.stuck = self.stuck.max(e);
            }
            let Some((undo, before)) = self.stack.pop() else {
                return Some(Search::Violation);
            };
            let undo = undo as usize;
            self.linearized[undo / 64] &= !(1 << (undo % 64));
            self.hash ^= self.zobrist[undo];
            self.state = before;
            self.relink(self.pos[undo][1]);
            self.relink(self.pos[undo][0]);
            self.at = self.next[self.pos[undo][0] as usize];
        }
        Some(Search::Linearizable)
    }
}

/// Of a search that found a violation: its steps, and the time of the
/// latest return at which it got stuck.
#[derive(Clone, Copy)]
struct Found {
    steps: u64,
    stuck: u64,
}

/// The (ops linearized, state) pairs already explored: the cache that
/// keeps the search from doing the same work twice. An open-addressing
/// table of entry numbers; each entry's set of ops is stored once, in
/// `sets`, and only when new, so that a lookup neither hashes the set (its
/// hash comes with it) nor copies it.
struct Seen {
    /// Per slot, the high half of an entry's hash and its number + 1 (0:
    /// an empty slot); a power of two long, at most half full. Eight
    /// bytes, so that a probe, a cache miss in an exploding search, reads
    /// one small place, and compares the entry only when the halves match.
    slots: Vec<(u32, u32)>,
    /// Each entry's hash, for growing the table.
    hashes: Vec<u64>,
    states: Vec<State>,
    /// Entry `i`'s set is `sets[i * words..][..words]`.
    sets: Vec<u64>,
    words: usize,
}

impl Seen {
    /// For a search of `ops` ops: most configurations seen are a few per
    /// op, so that many slots to begin with, and a small history's many
    /// tries (in [`shrink`]) do not each clear a large table.
    fn new(words: usize, ops: usize) -> Seen {
        let mut seen = Seen {
            slots: Vec::new(),
            hashes: Vec::new(),
            states: Vec::new(),
            sets: Vec::new(),
            words,
        };
        seen.reset(words, ops);
        seen
    }

    /// Empty, for a search of `ops` ops.
    fn reset(&mut self, words: usize, ops: usize) {
        self.slots.clear();
        self.slots
            .resize((4 * ops).next_power_of_two().max(16), (0, 0));
        self.hashes.clear();
        self.states.clear();
        self.sets.clear();
        self.words = words;
    }

    /// Add (`set`, `state`), whose hash is `hash`; false if it was there.
    fn insert(&mut self, hash: u64, state: State, set: &[u64]) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        let tag = (hash >> 32) as u32;
        loop {
            let (t, slot) = self.slots[i];
            if slot == 0 {
                break;
            }
            let e = (slot - 1) as usize;
            if t == tag
                && self.states[e] == state
                && (self.sets[e * self.words..][..self.words].iter())
                    .zip(set)
                    .all(|(a, b)| a == b)
            {
                return false;
            }
            i = (i + 1) & mask;
        }
        self.states.push(state);
        self.hashes.push(hash);
        self.slots[i] = (tag, self.states.len() as u32);
        self.sets.extend_from_slice(set);
        if self.states.len() * 2 > self.slots.len() {
            self.grow();
        }
        true
    }

    fn grow(&mut self) {
        let mut slots = vec![(0u32, 0u32); self.slots.len() * 2];
        let mask = slots.len() - 1;
        for (e, &hash) in self.hashes.iter().enumerate() {
            let mut i = hash as usize & mask;
            while slots[i].1 != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = ((hash >> 32) as u32, e as u32 + 1);
        }
        self.slots = slots;
    }
}

/// SplitMix64's finalizer: a word whose bits each depend on all of `x`'s.
/// Spreads small ids (states, op numbers) over the whole word, for
/// [`Seen`]'s slots and [`Mix`].
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The hasher of [`Values::by_hash`], whose keys are hashes already: a
/// word at a time, one multiply each, [`mix`] at the end — far cheaper
/// than the standard SipHash, whose defence against chosen keys a checker
/// does not need.
#[derive(Default)]
struct Mix(u64);

impl Hasher for Mix {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.write_u64(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let mut last = [0u8; 8];
        let rest = words.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.write_u64(u64::from_le_bytes(last) ^ (rest.len() as u64) << 59);
    }
    fn write_u64(&mut self, n: u64) {
        // FxHash's step (rustc's own hasher).
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn finish(&self) -> u64 {
        mix(self.0)
    }
}

/// A minimal non-linearizable sub-history of `ops` (known not to be
/// linearizable): drop each op in turn, keeping the drop when what is left
/// is still a violation and leaves no read more unexplained than before (a
/// read of a value no op left writes — dropping the write a read saw would
/// only make up a different anomaly). The ops kept are each needed.
///
/// Each try is a search, and a search of a history whose violation is
/// gone can be long, so two cheaper cuts come first: the ops called after
/// the violation shows ([`violating_prefix`]), then runs of ops dropped
/// together ([`drop_runs`]). No try may take more than [`try_budget`]
/// steps; one that runs out keeps its op.
fn shrink(
    initial: Option<&str>,
    ops: &[LinOp],
    mut prepared: Prepared,
    budget: u64,
    found: Found,
) -> Vec<usize> {
    let budget = try_budget(budget, found.steps);
    let mut keep = violating_prefix(initial, ops, &mut prepared, budget, found.stuck);
    keep = drop_runs(initial, ops, &mut prepared, keep, budget);
    let mut unexplained = unexplained_reads(initial, ops, &keep);
    // Pass after pass until one removes nothing: a write kept because a
    // read of its value was still there can go once that read has gone.
    loop {
        let before = keep.len();
        let mut i = 0;
        while i < keep.len() {
            let trial: Vec<usize> = (keep.iter().enumerate())
                .filter(|&(j, _)| j != i)
                .map(|(_, &k)| k)
                .collect();
            let still = unexplained_reads(initial, ops, &trial);
            if still <= unexplained && prepared.violates(&trial, budget) {
                keep = trial;
                unexplained = still;
            } else {
                i += 1;
            }
        }
        if keep.len() == before {
            return keep;
        }
    }
}

/// Steps each try of [`shrink`] may take: `budget`, but no more than
/// [`TRY_FACTOR`] times what the whole history's search took, or
/// [`TRY_FLOOR`]. A sub-history is smaller but may be looser (the op that
/// pinned the order gone), and 50 ops of concurrent appends can search for
/// ever: without a bound a witness could cost minutes where the verdict
/// cost milliseconds.
fn try_budget(budget: u64, found_steps: u64) -> u64 {
    budget.min(TRY_FLOOR.max(found_steps.saturating_mul(TRY_FACTOR)))
}

/// See [`try_budget`]: a try rarely needs more than the history took...
const TRY_FACTOR: u64 = 4;
/// ...and a small history's tries get at least this (a few milliseconds).
const TRY_FLOOR: u64 = 100_000;

/// The ops called up to the first instant at which the history, cut
/// there, is already not linearizable — all of them when that would leave
/// a read more unexplained (it saw a write called after the cut).
///
/// Cut at time `t`, a history keeps the ops called by `t`; those still
/// running then become unknown outcomes, and their reads go. A cut of a
/// linearizable history is linearizable (its linearization, stopped at
/// `t`), so the cuts that are not form a suffix of the cut times. The
/// search of the whole history got stuck at `stuck`, so every cut before
/// it is linearizable, and the first cut that is not is nearly always at
/// or just after it: tried first, then 2, 4, 8... cuts on, then bisected
/// (each try a search as long as the history's). And if the cut is not
/// linearizable, neither are its ops with their real outcomes.
fn violating_prefix(
    initial: Option<&str>,
    ops: &[LinOp],
    prepared: &mut Prepared,
    budget: u64,
    stuck: u64,
) -> Vec<usize> {
    let all: Vec<usize> = (0..ops.len()).collect();
    let mut cuts: Vec<u64> = (ops.iter())
        .filter_map(|o| o.ret)
        .filter(|&t| t >= stuck)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    // The first cut not linearizable; past the last, the whole history.
    let mut violates = |i: usize| prepared.cut_violates(cuts[i], budget);
    let (mut lo, mut hi) = (0, cuts.len());
    let mut step = 1;
    while lo < hi {
        let i = lo + step - 1;
        if i >= hi {
            break;
        }
        if violates(i) {
            hi = i;
            break;
        }
        lo = i + 1;
        step *= 2;
    }
    while lo < hi {
        let mid = (lo + hi) / 2;
        if violates(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let Some(&t) = cuts.get(lo) else {
        return all;
    };
    let keep: Vec<usize> = all.iter().copied().filter(|&k| ops[k].call <= t).collect();
    if unexplained_reads(initial, ops, &keep) > unexplained_reads(initial, ops, &all) {
        return all;
    }
    keep
}

/// `keep` with runs of ops dropped together while what is left stays a
/// violation and explains as many reads: runs of half its length, then a
/// quarter, down to two (Zeller's delta debugging, the complement half).
/// A long history's witness is a few ops, most of them near each other: a
/// run that goes in one try saves a try per op, and the tries after it
/// search a smaller history.
fn drop_runs(
    initial: Option<&str>,
    ops: &[LinOp],
    prepared: &mut Prepared,
    mut keep: Vec<usize>,
    budget: u64,
) -> Vec<usize> {
    let mut unexplained = unexplained_reads(initial, ops, &keep);
    let mut run = keep.len() / 2;
    while run >= 2 {
        let mut start = 0;
        while start < keep.len() {
            let end = (start + run).min(keep.len());
            let trial: Vec<usize> = keep[..start].iter().chain(&keep[end..]).copied().collect();
            let still = unexplained_reads(initial, ops, &trial);
            if still <= unexplained && prepared.violates(&trial, budget) {
                keep = trial;
                unexplained = still;
            } else {
                start = end;
            }
        }
        run /= 2;
    }
    keep
}

/// Reads among `ops[keep]` of a value that no op among them could have
/// written (nor the initial value; nil: a DEL, or a key that began nil): a SET's value, a compare-and-set's
/// new value, an INCR's answer, any integer when an INCR's answer was
/// lost, any such value (or nil) followed by APPENDs' suffixes. A
/// compare-and-set told it swapped read the value it expected.
fn unexplained_reads(initial: Option<&str>, ops: &[LinOp], keep: &[usize]) -> usize {
    let kept = || keep.iter().map(|&k| &ops[k]);
    let any_int = kept().any(|o| o.action == Action::Incr(None));
    let answers: Vec<String> = kept()
        .filter_map(|o| match &o.action {
            Action::Incr(Some(a)) => Some(a.to_string()),
            _ => None,
        })
        .collect();
    let written: Strings = kept()
        .filter_map(|o| match &o.action {
            Action::Write(Some(v)) | Action::Cas { new: v, .. } => Some(v.as_str()),
            _ => None,
        })
        .chain(answers.iter().map(String::as_str))
        .chain(initial)
        .collect();
    let suffixes: HashSet<&[u8], BuildHasherDefault<Mix>> = kept()
        .filter_map(|o| match &o.action {
            Action::Append(s) => Some(s.as_bytes()),
            _ => None,
        })
        .collect();
    // nil: the initial state, or a DEL's.
    let nil = initial.is_none() || kept().any(|o| o.action == Action::Write(None));
    kept()
        .filter(|o| match &o.action {
            Action::Read(v)
            | Action::Cas {
                expect: v,
                ok: Some(true),
                ..
            } => match v {
                None => !nil,
                Some(v) => {
                    let could = written.contains(v.as_str())
                        || (any_int && v.parse::<i64>().is_ok())
                        || appended(v.as_bytes(), nil, &written, &suffixes);
                    !could
                }
            },
            _ => false,
        })
        .count()
}

/// The values ops wrote, for [`unexplained_reads`] (the fast hasher: it
/// runs for every try of [`shrink`]).
type Strings<'a> = HashSet<&'a str, BuildHasherDefault<Mix>>;

/// Whether `v` is a value in `written` (or nil, as empty, if `nil`)
/// followed by one or more of `suffixes`, each any number of times.
fn appended(
    v: &[u8],
    nil: bool,
    written: &Strings,
    suffixes: &HashSet<&[u8], BuildHasherDefault<Mix>>,
) -> bool {
    if suffixes.is_empty() {
        return false;
    }
    let mut lengths: Vec<usize> = suffixes.iter().map(|s| s.len()).collect();
    lengths.sort_unstable();
    lengths.dedup();
    // ends[i]: v[..i] is such a value, or (without a suffix yet) a base.
    let mut ends = vec![false; v.len() + 1];
    ends[0] = nil;
    for w in written.iter().filter(|w| v.starts_with(w.as_bytes())) {
        ends[w.len()] = true;
    }
    for i in 1..=v.len() {
        ends[i] = ends[i]
            || (lengths.iter())
                .any(|&l| l > 0 && l <= i && ends[i - l] && suffixes.contains(&v[i - l..i]));
    }
    // At least one suffix: a base alone is a written value, not an append.
    (lengths.iter()).any(|&l| {
        l > 0 && l <= v.len() && ends[v.len() - l] && suffixes.contains(&v[v.len() - l..])
    })
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

    /// A witness keeps the DEL a nil read saw, and loses a write once the
    /// read that needed it has gone.
    #[test]
    fn a_witness_explains_its_nils_and_keeps_nothing_it_does_not_need() {
        let del = |call, ret| LinOp {
            call,
            ret: Some(ret),
            action: Action::Write(None),
        };
        // nil read after a SET that followed the DEL: stale, with the DEL.
        let h = [del(0, 1), w(2, 3, "a"), r(4, 5, None)];
        assert_eq!(
            check_key(Some("init"), &h, B),
            KeyVerdict::Violation {
                witness: vec![0, 1, 2]
            }
        );
        // A nil no DEL explains: the read alone, whatever came before it.
        let h = [
            w(0, 1, "a"),
            r(2, 3, Some("a")),
            w(4, 5, "b"),
            r(6, 7, None),
        ];
        assert_eq!(
            check_key(Some("init"), &h, B),
            KeyVerdict::Violation { witness: vec![3] }
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

    fn cas(call: u64, ret: Option<u64>, expect: &str, new: &str, ok: Option<bool>) -> LinOp {
        LinOp {
            call,
            ret,
            action: Action::Cas {
                expect: Some(expect.into()),
                new: new.into(),
                ok,
            },
        }
    }
    fn append(call: u64, ret: u64, s: &str) -> LinOp {
        LinOp {
            call,
            ret: Some(ret),
            action: Action::Append(s.into()),
        }
    }

    /// etcd's compare-and-set as Jepsen records it: a swap told ok found
    /// its value, one told it failed did not, one whose answer was lost
    /// did either.
    #[test]
    fn compare_and_set_swaps_only_what_it_expects() {
        let h = [
            w(0, 1, "1"),
            cas(2, Some(3), "1", "2", Some(true)),
            cas(4, Some(5), "1", "3", Some(false)),
            r(6, 7, Some("2")),
        ];
        assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
        // From nil: expecting a value fails.
        let h = [cas(0, Some(1), "1", "2", Some(false)), r(2, 3, None)];
        assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
        // Lost answers: it swapped, or it did not.
        for seen in ["1", "2"] {
            let h = [
                w(0, 1, "1"),
                cas(2, None, "1", "2", None),
                r(10, 11, Some(seen)),
            ];
            assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable, "{seen}");
        }
        // Two swaps concurrent with each other, from 1: one wins.
        let h = [
            w(0, 1, "1"),
            cas(2, Some(6), "1", "2", Some(true)),
            cas(3, Some(5), "1", "3", Some(false)),
            r(7, 8, Some("2")),
        ];
        assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
    }

    #[test]
    fn a_compare_and_set_that_contradicts_the_value_is_a_violation() {
        // Told it failed, though the value was what it expected.
        let h = [w(0, 1, "1"), cas(2, Some(3), "1", "2", Some(false))];
        assert_eq!(
            check_key(None, &h, B),
            KeyVerdict::Violation {
                witness: vec![0, 1]
            }
        );
        // Both swaps from 1 told ok: only one can have found 1.
        let h = [
            w(0, 1, "1"),
            cas(2, Some(6), "1", "2", Some(true)),
            cas(3, Some(5), "1", "3", Some(true)),
        ];
        assert_eq!(
            check_key(None, &h, B),
            KeyVerdict::Violation {
                witness: vec![0, 1, 2]
            }
        );
        // A lost answer cannot make a value it does not write.
        let h = [
            w(0, 1, "1"),
            cas(2, None, "1", "2", None),
            r(10, 11, Some("3")),
        ];
        assert!(matches!(
            check_key(None, &h, B),
            KeyVerdict::Violation { .. }
        ));
    }

    /// APPEND as Redis has it: nil appended to is the suffix; concurrent
    /// appends in either order.
    #[test]
    fn appends_concatenate_in_some_order() {
        let h = [append(0, 1, "a"), append(2, 3, "b"), r(4, 5, Some("ab"))];
        assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
        let h = [append(0, 10, "x"), append(1, 9, "y"), r(11, 12, Some("yx"))];
        assert_eq!(check_key(Some(""), &h, B), KeyVerdict::Linearizable);
        // A DEL empties it; a SET replaces what was appended.
        let del = LinOp {
            call: 2,
            ret: Some(3),
            action: Action::Write(None),
        };
        let h = [
            append(0, 1, "a"),
            del,
            append(4, 5, "b"),
            r(6, 7, Some("b")),
        ];
        assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
        let h = [w(0, 1, "s"), append(2, 3, "t"), r(4, 5, Some("st"))];
        assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
    }

    #[test]
    fn appends_seen_out_of_order_are_a_violation() {
        // x then y, read as y then x.
        let h = [append(0, 1, "x"), append(2, 3, "y"), r(4, 5, Some("yx"))];
        assert_eq!(
            check_key(None, &h, B),
            KeyVerdict::Violation {
                witness: vec![0, 1, 2]
            }
        );
        // An append lost: both acknowledged, one read back.
        let h = [append(0, 5, "x"), append(1, 6, "y"), r(7, 8, Some("x"))];
        assert!(matches!(
            check_key(None, &h, B),
            KeyVerdict::Violation { .. }
        ));
    }

    /// A stale read at the end of a long history: the witness is its few
    /// ops, found by cutting the history where the violation shows and
    /// dropping runs, not by a search per op.
    #[test]
    fn a_late_violation_in_a_long_history_has_a_small_witness() {
        let mut h = Vec::new();
        for i in 0..2_000u64 {
            h.push(w(4 * i, 4 * i + 2, &format!("v{i}")));
            h.push(r(4 * i + 1, 4 * i + 3, Some(&format!("v{i}"))));
        }
        let end = 4 * 2_000;
        h.push(r(end, end + 1, Some("v1998")));
        h.push(w(end + 2, end + 3, "after"));
        let t = std::time::Instant::now();
        assert_eq!(
            check_key(None, &h, B),
            KeyVerdict::Violation {
                witness: vec![3_996, 3_998, 4_000]
            },
            "v1998 written, v1999 written, v1998 read"
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }

    /// Keys decided together: a violation on an easy key is found though
    /// another key's search cannot end; the verdict names that key.
    #[test]
    fn keys_take_turns_so_a_hard_key_hides_no_violation() {
        let hard: Vec<LinOp> = (0..40)
            .map(|i| LinOp {
                call: i,
                ret: None,
                action: Action::Write(Some(format!("v{i}"))),
            })
            .chain([r(1000, 1001, Some("never"))])
            .collect();
        let fine = [w(0, 1, "a"), r(2, 3, Some("a"))];
        let stale = [w(0, 1, "a"), w(2, 3, "b"), r(4, 5, Some("a"))];
        let keys: [(Option<&str>, &[LinOp]); 3] = [(None, &hard), (None, &fine), (None, &stale)];
        let t = std::time::Instant::now();
        assert_eq!(
            decide_keys(&keys, u64::MAX),
            KeysVerdict::Violation { key: 2 }
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(
            decide_keys(&keys[..2], 50_000),
            KeysVerdict::Unknown { keys: vec![0] }
        );
        assert_eq!(decide_keys(&keys[1..2], B), KeysVerdict::Linearizable);
        assert_eq!(decide_keys(&[], B), KeysVerdict::Linearizable);
    }
}
