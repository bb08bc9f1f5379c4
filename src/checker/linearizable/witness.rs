//! The smallest counter-example: a violating history shrunk, op by op and
//! run by run, to the ops that are each needed to show it.

use super::*;

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
pub(super) fn shrink(
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
pub(super) fn try_budget(budget: u64, found_steps: u64) -> u64 {
    budget.min(TRY_FLOOR.max(found_steps.saturating_mul(TRY_FACTOR)))
}

/// See [`try_budget`]: a try rarely needs more than the history took...
pub(super) const TRY_FACTOR: u64 = 4;
/// ...and a small history's tries get at least this (a few milliseconds).
pub(super) const TRY_FLOOR: u64 = 100_000;

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
pub(super) fn violating_prefix(
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
pub(super) fn drop_runs(
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
pub(super) fn unexplained_reads(initial: Option<&str>, ops: &[LinOp], keep: &[usize]) -> usize {
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
pub(super) type Strings<'a> = HashSet<&'a str, BuildHasherDefault<Mix>>;

/// Whether `v` is a value in `written` (or nil, as empty, if `nil`)
/// followed by one or more of `suffixes`, each any number of times.
pub(super) fn appended(
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
