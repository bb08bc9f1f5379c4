//! Many keys' histories at once: the keys take turns of a few thousand
//! steps over the cores, so that one key whose search explodes hides no
//! other key's violation ([`decide_keys`]).

use super::*;

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
pub(super) const TURN: u64 = 1_024;

/// The first turns, taken on the calling thread: most keys of a drill end
/// within them.
pub(super) const FIRST_TURN: u64 = 256;

/// Turns the calling thread takes alone after the first, before the other
/// cores join (a few milliseconds): a history that decides by then is not
/// worth a thread, nor the wait at the end for one whose core another
/// program took.
pub(super) const SOLO_TURNS: usize = 32;

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
pub(super) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// The keys' turns in [`decide_keys`], shared by the threads.
pub(super) struct Turns {
    /// (turns taken, key) of each key parked between turns, fewest first.
    pub(super) next: BinaryHeap<Reverse<(u32, usize)>>,
    pub(super) parked: Vec<Option<KeySearch>>,
    /// (turns, key) of the violation found in the fewest turns so far.
    /// A key whose next turn would come after it needs no more turns.
    pub(super) first: Option<(u32, usize)>,
    /// Turns being taken.
    pub(super) running: usize,
    pub(super) unknown: Vec<usize>,
    /// A thread's panic, raised again in the caller.
    pub(super) panic: Option<Box<dyn std::any::Any + Send>>,
}

impl Turns {
    /// Record how the `taken`th turn of `key` ended.
    pub(super) fn end_turn(&mut self, key: usize, taken: u32, end: Result<KeySearch, Search>) {
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
    pub(super) fn take(&mut self) -> Option<(u32, usize, KeySearch)> {
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
pub(super) fn take_turns(
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
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
