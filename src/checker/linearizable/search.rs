//! The search proper: Wing and Gong's, with Lowe's and Horn and
//! Kroening's cache of (ops linearized, state) pairs, resumable by turns.

use super::*;

/// The search proper (no witness), to its end.
pub(super) fn search(initial: Option<&str>, ops: &[LinOp], budget: u64) -> Search {
    let mut s = KeySearch::new(initial, ops, budget);
    s.run(u64::MAX)
        .expect("a search without a turn limit runs to its end")
}

/// A history's ops interned and their calls and returns put in time
/// order, once: [`shrink`] searches many of its sub-histories.
pub(super) struct Prepared {
    pub(super) values: Values,
    pub(super) initial: State,
    pub(super) steps: Vec<Step>,
    /// (time, is a return, op), in order. At one instant calls come before
    /// returns: ops that touch are concurrent, not ordered. An unknown
    /// outcome returns after everything.
    pub(super) timed: Vec<(u64, bool, u32)>,
    /// The last try's search, whose space the next reuses.
    pub(super) spare: Option<KeySearch>,
}

impl Prepared {
    pub(super) fn new(initial: Option<&str>, ops: &[LinOp]) -> Prepared {
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
    pub(super) fn violates(&mut self, keep: &[usize], budget: u64) -> bool {
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
    pub(super) fn cut_violates(&mut self, t: u64, budget: u64) -> bool {
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

    pub(super) fn violates_with(
        &mut self,
        steps: Vec<Step>,
        timed: &[(u64, bool, u32)],
        budget: u64,
    ) -> bool {
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
pub(super) const NONE: u32 = u32::MAX;

/// One key's search, which can stop after some steps and go on later
/// ([`decide_keys`] takes turns between keys).
pub(super) struct KeySearch {
    pub(super) values: Values,
    pub(super) steps: Vec<Step>,
    /// The calls and returns in time order, each `op << 1 | is_return`,
    /// and their times.
    /// At one instant calls come before returns: ops that touch are
    /// concurrent, not ordered. An unknown outcome returns after
    /// everything.
    pub(super) events: Vec<u32>,
    pub(super) times: Vec<u64>,
    /// The latest return at which the search had to undo a choice: every
    /// op that returned before it was linearized then.
    pub(super) stuck: u32,
    /// A doubly linked list over `events`, with a head sentinel at index
    /// `events.len()`: linearizing an op lifts its call and its return
    /// out of it, undoing puts them back.
    pub(super) next: Vec<u32>,
    pub(super) prev: Vec<u32>,
    /// Each op's call and return events.
    pub(super) pos: Vec<[u32; 2]>,
    /// One random word per op: the hash of a set of ops is the XOR of
    /// theirs (Zobrist's), kept up to date in one XOR per step.
    pub(super) zobrist: Vec<u64>,
    pub(super) linearized: Vec<u64>,
    pub(super) hash: u64,
    pub(super) seen: Seen,
    /// The choices made: (op, state before it).
    pub(super) stack: Vec<(u32, State)>,
    pub(super) state: State,
    /// The event the search is at.
    pub(super) at: u32,
    pub(super) count: u64,
    pub(super) budget: u64,
}

impl KeySearch {
    pub(super) fn new(initial: Option<&str>, ops: &[LinOp], budget: u64) -> KeySearch {
        let p = Prepared::new(initial, ops);
        KeySearch::from_parts(p.values, p.initial, p.steps, &p.timed, budget)
    }

    /// The search of ops whose `steps` are made of `values`, from
    /// `state`, with their calls and returns `timed` in order.
    pub(super) fn from_parts(
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
    pub(super) fn fill(&mut self, timed: &[(u64, bool, u32)]) {
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
    pub(super) fn found(&self) -> Found {
        Found {
            steps: self.count,
            stuck: self.times.get(self.stuck as usize).copied().unwrap_or(0),
        }
    }

    pub(super) fn unlink(&mut self, e: u32) {
        let (p, q) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = q;
        if q != NONE {
            self.prev[q as usize] = p;
        }
    }

    pub(super) fn relink(&mut self, e: u32) {
        let (p, q) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = e;
        if q != NONE {
            self.prev[q as usize] = e;
        }
    }

    /// Search on for at most `turn` steps: its end, or `None` when the
    /// turn is over first.
    pub(super) fn run(&mut self, turn: u64) -> Option<Search> {
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
pub(super) struct Found {
    pub(super) steps: u64,
    pub(super) stuck: u64,
}

/// The (ops linearized, state) pairs already explored: the cache that
/// keeps the search from doing the same work twice. An open-addressing
/// table of entry numbers; each entry's set of ops is stored once, in
/// `sets`, and only when new, so that a lookup neither hashes the set (its
/// hash comes with it) nor copies it.
pub(super) struct Seen {
    /// Per slot, the high half of an entry's hash and its number + 1 (0:
    /// an empty slot); a power of two long, at most half full. Eight
    /// bytes, so that a probe, a cache miss in an exploding search, reads
    /// one small place, and compares the entry only when the halves match.
    pub(super) slots: Vec<(u32, u32)>,
    /// Each entry's hash, for growing the table.
    pub(super) hashes: Vec<u64>,
    pub(super) states: Vec<State>,
    /// Entry `i`'s set is `sets[i * words..][..words]`.
    pub(super) sets: Vec<u64>,
    pub(super) words: usize,
}

impl Seen {
    /// For a search of `ops` ops: most configurations seen are a few per
    /// op, so that many slots to begin with, and a small history's many
    /// tries (in [`shrink`]) do not each clear a large table.
    pub(super) fn new(words: usize, ops: usize) -> Seen {
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
    pub(super) fn reset(&mut self, words: usize, ops: usize) {
        self.slots.clear();
        self.slots
            .resize((4 * ops).next_power_of_two().max(16), (0, 0));
        self.hashes.clear();
        self.states.clear();
        self.sets.clear();
        self.words = words;
    }

    /// Add (`set`, `state`), whose hash is `hash`; false if it was there.
    pub(super) fn insert(&mut self, hash: u64, state: State, set: &[u64]) -> bool {
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

    pub(super) fn grow(&mut self) {
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
pub(super) fn mix(x: u64) -> u64 {
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
pub(super) struct Mix(u64);

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
