//! The register's model: values interned to ids, one step (`SET`, `DEL`,
//! `GET`, `INCR`, `APPEND`, compare-and-set) applied to a state.

use super::*;

/// The register's value: an interned string's id, or [`NIL`].
pub(super) type State = u32;
/// No string's id: ids count up from 0.
pub(super) const NIL: State = u32::MAX;

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
pub(super) struct Values {
    pub(super) values: Vec<Value>,
    /// The bytes of the values that are not appends.
    pub(super) bytes: Vec<Box<[u8]>>,
    /// A value's hash → the last id with that hash, each id chaining to
    /// the one before (`Value::same_hash`, `NIL`: none).
    pub(super) by_hash: HashMap<u64, State, BuildHasherDefault<Mix>>,
    /// The transitions computed: (suffix appended, or [`INCR`]; the
    /// value made, or `NIL` when an INCR finds no integer; the state's
    /// transition before, or `NONE`), the last per state (its id + 1, or 0
    /// for nil) in `last_derived`. A list per state, not one map: the
    /// search tries op after op from the state it is in, so the lookups
    /// after the first find it in the cache; and one arena for all, not a
    /// vector per state, for a new state at almost every step.
    pub(super) derived: Vec<(u32, State, u32)>,
    pub(super) last_derived: Vec<u32>,
    /// Where values are spelled out to be compared.
    pub(super) scratch: [Vec<u8>; 2],
}

/// One interned value, in 24 bytes: there is one per step of a search
/// over appends.
#[derive(Clone, Copy)]
pub(super) struct Value {
    /// Its bytes' polynomial hash, Σ bᵢ·Kⁿ⁻¹⁻ⁱ mod 2⁶⁴ over its n bytes:
    /// the hash of a + b is hash(a)·Kⁿ⁽ᵇ⁾ + hash(b).
    pub(super) hash: u64,
    /// `(a, b)`: value `a` followed by value `b`; `(BYTES, i)`: `bytes[i]`.
    pub(super) made: (State, State),
    pub(super) len: u32,
    pub(super) same_hash: State,
}

/// [`Value::made`]'s mark for a value of its own bytes: no value is made
/// from nil (nil followed by `s` is `s`).
pub(super) const BYTES: State = NIL;

/// The base of [`Value::hash`]: odd, so that its powers never vanish.
pub(super) const K: u64 = 0x100_0000_01b3;

/// [`Values::derived`]'s mark for an INCR: no suffix has this id.
pub(super) const INCR: u32 = u32::MAX;

impl Values {
    pub(super) fn id(&mut self, v: &str) -> State {
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
    pub(super) fn intern(&mut self, value: Value, mine: &[u8]) -> State {
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
    pub(super) fn derived_of(&self, state: State, op: u32) -> Option<State> {
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

    pub(super) fn derive(&mut self, state: State, op: u32, made: State) {
        let i = state.wrapping_add(1) as usize;
        if self.last_derived.len() <= i {
            self.last_derived.resize(i + 1, NONE);
        }
        self.derived.push((op, made, self.last_derived[i]));
        self.last_derived[i] = (self.derived.len() - 1) as u32;
    }

    pub(super) fn opt(&mut self, v: Option<&str>) -> State {
        v.map_or(NIL, |v| self.id(v))
    }

    /// The value `state` followed by `suffix`.
    pub(super) fn append(&mut self, state: State, suffix: State) -> State {
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
    pub(super) fn incr(&mut self, state: State) -> Option<State> {
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
pub(super) fn spell_out(values: &[Value], bytes: &[Box<[u8]>], id: State, out: &mut Vec<u8>) {
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
pub(super) enum Step {
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
    pub(super) fn new(values: &mut Values, action: &Action) -> Step {
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
pub(super) fn apply(values: &mut Values, state: State, step: Step) -> Option<State> {
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
