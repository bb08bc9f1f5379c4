//! The capacity planner's arithmetic: pure functions over figures already
//! read from the nodes (key counts per slot, memory, the two samples' growth,
//! the last reshard drill's rate). Nothing here talks to Redis, so every rule
//! — what "no limit" means, when a node is "not filling", which slots move —
//! is pinned by a table test on synthetic input.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::slots::SlotRange;

/// How many of a primary's biggest slots the report lists: enough to see a
/// hot hash tag, few enough to read.
pub const BIGGEST_SLOTS: usize = 5;

/// One slot and the keys it holds (`CLUSTER COUNTKEYSINSLOT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotKeys {
    pub slot: u16,
    pub keys: u64,
}

/// How evenly a primary's keys spread over the slots it owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotSkew {
    /// Slots counted.
    pub slots: usize,
    /// Keys over those slots (the sum of the counts).
    pub keys: u64,
    /// Slots holding no key.
    pub empty_slots: usize,
    pub mean: f64,
    pub max: u64,
    /// `max / mean`: 1 when every slot holds the same; `null` without keys.
    pub max_over_mean: Option<f64>,
    /// Coefficient of variation, population standard deviation over the
    /// mean: 0 when even, above 1 when a few slots hold most keys; `null`
    /// without keys.
    pub cv: Option<f64>,
    /// The biggest slots, most keys first (ties: lower slot first); only
    /// slots holding keys.
    pub biggest: Vec<SlotKeys>,
}

/// Skew over `counts` (one entry per owned slot); `None` when the primary
/// owns no slot.
pub fn slot_skew(counts: &[SlotKeys]) -> Option<SlotSkew> {
    if counts.is_empty() {
        return None;
    }
    let n = counts.len() as f64;
    let keys: u64 = counts.iter().map(|c| c.keys).sum();
    let mean = keys as f64 / n;
    let max = counts.iter().map(|c| c.keys).max().unwrap_or(0);
    let var = counts
        .iter()
        .map(|c| (c.keys as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let mut biggest: Vec<SlotKeys> = counts.iter().copied().filter(|c| c.keys > 0).collect();
    biggest.sort_by(|a, b| b.keys.cmp(&a.keys).then(a.slot.cmp(&b.slot)));
    biggest.truncate(BIGGEST_SLOTS);
    Some(SlotSkew {
        slots: counts.len(),
        keys,
        empty_slots: counts.iter().filter(|c| c.keys == 0).count(),
        mean,
        max,
        max_over_mean: (keys > 0).then(|| max as f64 / mean),
        cv: (keys > 0).then(|| var.sqrt() / mean),
        biggest,
    })
}

/// Used memory against `maxmemory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headroom {
    /// `CONFIG GET maxmemory`; 0 is Redis's "no limit".
    pub maxmemory_bytes: u64,
    pub used_memory_bytes: u64,
    /// `maxmemory - used_memory`, negative when over the limit; `null` when
    /// there is no limit: the headroom is then unknown (the machine's RAM,
    /// other processes), not infinite.
    pub headroom_bytes: Option<i64>,
    /// The headroom as a % of `maxmemory`; `null` without a limit.
    pub headroom_pct: Option<f64>,
}

impl Headroom {
    /// Whether the node has a `maxmemory`: without one, headroom and fill
    /// times are unknown rather than infinite.
    pub fn limited(&self) -> bool {
        self.maxmemory_bytes > 0
    }
}

/// A node's headroom from its `used_memory` and `maxmemory` (0: no limit).
pub fn headroom(used: u64, maxmemory: u64) -> Headroom {
    let bytes = (maxmemory > 0).then(|| maxmemory as i64 - used as i64);
    Headroom {
        maxmemory_bytes: maxmemory,
        used_memory_bytes: used,
        headroom_bytes: bytes,
        headroom_pct: bytes.map(|b| b as f64 * 100.0 / maxmemory as f64),
    }
}

/// How long the load measured over the sampling interval takes to fill a
/// node's headroom. Only a measured figure is ever a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Fill {
    /// `maxmemory` 0: nothing to fill up to.
    NoLimit,
    /// Used memory already at or over `maxmemory` (eviction or OOM errors
    /// follow, depending on `maxmemory-policy`).
    Full,
    /// Used memory did not grow between the two samples.
    NotFilling,
    /// At the measured growth, the headroom is gone in `seconds`.
    Filling {
        seconds: f64,
        growth_bytes_per_s: f64,
    },
    /// The node could not be sampled twice.
    Unknown,
}

/// The fill time for `headroom` at `growth` bytes/s (from the two samples;
/// `None` when they were not both read).
pub fn fill_time(headroom: &Headroom, growth: Option<f64>) -> Fill {
    let Some(left) = headroom.headroom_bytes else {
        return Fill::NoLimit;
    };
    let Some(growth) = growth else {
        return Fill::Unknown;
    };
    if left <= 0 {
        Fill::Full
    } else if growth <= 0.0 || !growth.is_finite() {
        Fill::NotFilling
    } else {
        Fill::Filling {
            seconds: left as f64 / growth,
            growth_bytes_per_s: growth,
        }
    }
}

/// What a primary holds, as the evening plan sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PrimaryLoad {
    pub name: String,
    /// The bytes that move with the keys: `used_memory_dataset` (the
    /// server's own overhead stays where it is).
    pub dataset_bytes: u64,
    pub keys: u64,
    /// Keys in each slot it owns.
    pub slots: Vec<SlotKeys>,
}

impl PrimaryLoad {
    /// Bytes per key on this node; `None` without keys.
    pub fn bytes_per_key(&self) -> Option<f64> {
        (self.keys > 0).then(|| self.dataset_bytes as f64 / self.keys as f64)
    }
}

/// Slots that go from one primary to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoveEstimate {
    pub from: String,
    pub to: String,
    pub slots: usize,
    /// The slots, as ranges (`100-120`, `5474`).
    pub slot_ranges: Vec<String>,
    /// Keys in them now (`COUNTKEYSINSLOT`).
    pub keys: u64,
    /// `keys × bytes per key` of the giving node.
    pub est_bytes: u64,
    /// `keys / keys_per_s` of the last reshard drill; `null` without one.
    pub est_duration_s: Option<f64>,
}

/// A primary's dataset before and after the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projected {
    pub name: String,
    pub dataset_bytes_now: u64,
    pub dataset_bytes_after: u64,
}

/// The reshard that would even out memory across a cluster's primaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvenPlan {
    pub moves: Vec<MoveEstimate>,
    pub primaries: Vec<Projected>,
    /// Largest minus smallest dataset, now and after the plan.
    pub spread_bytes_now: u64,
    pub spread_bytes_after: u64,
    pub keys_moved: u64,
    /// The whole plan at the last reshard drill's keys/s; `null` without one.
    pub est_duration_s: Option<f64>,
    /// What the plan does not do, in words (one primary, no keys, a slot
    /// too big to move); empty when there is nothing to say.
    pub note: String,
}

/// Plan which slots move from which primary to which so that the primaries'
/// datasets come as close to their mean as whole slots allow.
///
/// Greedy, biggest slots first: a slot leaves a primary above the mean for
/// the primary lowest at that moment when that brings the larger of the
/// two's distances to the mean down by at least half the slot's bytes (a
/// move pays for its copying); a primary that took slots gives none. One pass over the slots: a slot never moves
/// twice, and a slot alone bigger than twice the gap (a hot hash tag) stays,
/// since moving it only moves the imbalance. Empty slots never move: they
/// change slot counts, not memory. `keys_per_s` (the last reshard drill's
/// rate on this machine) turns keys into an estimated duration.
pub fn even_out(primaries: &[PrimaryLoad], keys_per_s: Option<f64>) -> EvenPlan {
    let now: Vec<f64> = primaries.iter().map(|p| p.dataset_bytes as f64).collect();
    let rate = keys_per_s.filter(|r| *r > 0.0 && r.is_finite());
    let mut plan = EvenPlan {
        moves: Vec::new(),
        primaries: primaries
            .iter()
            .map(|p| Projected {
                name: p.name.clone(),
                dataset_bytes_now: p.dataset_bytes,
                dataset_bytes_after: p.dataset_bytes,
            })
            .collect(),
        spread_bytes_now: spread(&now),
        spread_bytes_after: spread(&now),
        keys_moved: 0,
        est_duration_s: None,
        note: String::new(),
    };
    if primaries.len() < 2 {
        plan.note = "one primary: nothing to even out".into();
        return plan;
    }
    if primaries.iter().all(|p| p.keys == 0) {
        plan.note = "no keys: nothing to even out".into();
        return plan;
    }
    let target = now.iter().sum::<f64>() / now.len() as f64;
    let mut mem = now.clone();
    let Greedy { moved, stuck } = greedy(candidates(primaries), &mut mem, target);
    for ((from, to), (mut slots, keys, bytes)) in moved {
        slots.sort_unstable();
        plan.keys_moved += keys;
        plan.moves.push(MoveEstimate {
            from: primaries[from].name.clone(),
            to: primaries[to].name.clone(),
            slots: slots.len(),
            slot_ranges: ranges(&slots),
            keys,
            est_bytes: bytes.round() as u64,
            est_duration_s: rate.map(|r| keys as f64 / r),
        });
    }
    for (p, m) in plan.primaries.iter_mut().zip(&mem) {
        p.dataset_bytes_after = m.max(0.0).round() as u64;
    }
    plan.spread_bytes_after = spread(&mem);
    plan.est_duration_s = rate.map(|r| plan.keys_moved as f64 / r);
    // A slot left behind on a primary still above the mean by more than a
    // tenth: the rest of the imbalance is that slot's.
    if let Some((from, slot, keys)) = stuck
        && mem[from] - target > target * 0.1
    {
        plan.note = format!(
            "slot {slot} on {} holds {keys} keys, more than moving it would even out: \
                 no reshard evens this; spread its hash tag over more slots",
            primaries[from].name
        );
    }
    if plan.moves.is_empty() && plan.note.is_empty() {
        plan.note = "even as far as whole slots go: no slot move narrows the gap".into();
    }
    plan
}

/// `max - min` of the primaries' datasets, bytes.
fn spread(v: &[f64]) -> u64 {
    let max = v.iter().copied().fold(f64::MIN, f64::max);
    let min = v.iter().copied().fold(f64::MAX, f64::min);
    if v.is_empty() {
        0
    } else {
        (max - min).max(0.0).round() as u64
    }
}

/// Every non-empty slot as (owner index, slot, keys, estimated bytes),
/// biggest first (ties by owner, then slot, so the plan is reproducible).
fn candidates(primaries: &[PrimaryLoad]) -> Vec<(usize, u16, u64, f64)> {
    let mut candidates: Vec<(usize, u16, u64, f64)> = primaries
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            let bpk = p.bytes_per_key().unwrap_or(0.0);
            p.slots
                .iter()
                .filter(|s| s.keys > 0)
                .map(move |s| (i, s.slot, s.keys, s.keys as f64 * bpk))
        })
        .collect();
    candidates.sort_by(|a, b| b.3.total_cmp(&a.3).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
    candidates
}

/// What the greedy pass chose: per (from, to) the slots, keys and bytes
/// moved; and the first slot too big to move, if any.
struct Greedy {
    moved: BTreeMap<(usize, usize), (Vec<u16>, u64, f64)>,
    stuck: Option<(usize, u16, u64)>,
}

/// The one greedy pass of [`even_out`] over `candidates`, updating `mem`
/// (each primary's projected dataset) as slots move.
fn greedy(candidates: Vec<(usize, u16, u64, f64)>, mem: &mut [f64], target: f64) -> Greedy {
    // A primary either gives or takes: never both, so no slot travels in a
    // circle.
    let mut moved: BTreeMap<(usize, usize), (Vec<u16>, u64, f64)> = BTreeMap::new();
    let mut stuck: Option<(usize, u16, u64)> = None;
    let mut gives = vec![false; mem.len()];
    let mut takes = vec![false; mem.len()];
    for (from, slot, keys, bytes) in candidates {
        if mem[from] <= target || bytes <= 0.0 || takes[from] {
            continue;
        }
        let Some(to) = (0..mem.len())
            .filter(|&i| i != from && !gives[i])
            .min_by(|&a, &b| mem[a].total_cmp(&mem[b]).then(a.cmp(&b)))
        else {
            continue;
        };
        let worst_now = (mem[from] - target).abs().max((mem[to] - target).abs());
        let worst_after = (mem[from] - bytes - target)
            .abs()
            .max((mem[to] + bytes - target).abs());
        // A move must pay for what it costs: bring the worse of the two at
        // least half the slot's bytes closer to the mean.
        if worst_now - worst_after >= bytes / 2.0 {
            mem[from] -= bytes;
            mem[to] += bytes;
            gives[from] = true;
            takes[to] = true;
            let e = moved.entry((from, to)).or_default();
            e.0.push(slot);
            e.1 += keys;
            e.2 += bytes;
        } else if stuck.is_none() {
            stuck = Some((from, slot, keys));
        }
    }
    Greedy { moved, stuck }
}

/// Sorted slots as ranges: `[1, 2, 3, 7]` → `1-3`, `7`.
pub fn ranges(slots: &[u16]) -> Vec<String> {
    let mut out: Vec<SlotRange> = Vec::new();
    for &s in slots {
        match out.last_mut() {
            Some(r) if r.end + 1 == s => r.end = s,
            _ => out.push(SlotRange::new(s, s)),
        }
    }
    out.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(v: &[(u16, u64)]) -> Vec<SlotKeys> {
        v.iter()
            .map(|&(slot, keys)| SlotKeys { slot, keys })
            .collect()
    }

    #[test]
    fn skew_of_even_hot_and_empty_slots() {
        let even = slot_skew(&counts(&[(0, 4), (1, 4), (2, 4), (3, 4)])).unwrap();
        assert_eq!((even.keys, even.max, even.empty_slots), (16, 4, 0));
        assert_eq!(even.max_over_mean, Some(1.0));
        assert_eq!(even.cv, Some(0.0));
        // One hot slot among four: mean 25, max 100, sd sqrt(1875) = 43.3.
        let hot = slot_skew(&counts(&[(0, 0), (1, 0), (9, 100), (3, 0)])).unwrap();
        assert_eq!(hot.max_over_mean, Some(4.0));
        assert!((hot.cv.unwrap() - 3f64.sqrt()).abs() < 1e-9);
        assert_eq!(hot.biggest, counts(&[(9, 100)]));
        assert_eq!(hot.empty_slots, 3);
        // No keys: no ratio to state, not a 0 or a NaN.
        let none = slot_skew(&counts(&[(0, 0), (1, 0)])).unwrap();
        assert_eq!((none.max_over_mean, none.cv), (None, None));
        assert!(none.biggest.is_empty());
        // No slots at all.
        assert_eq!(slot_skew(&[]), None);
    }

    #[test]
    fn the_biggest_slots_are_the_top_five_ties_by_slot() {
        let s = slot_skew(&counts(&[
            (10, 1),
            (11, 7),
            (12, 7),
            (13, 3),
            (14, 9),
            (15, 2),
            (16, 5),
        ]))
        .unwrap();
        assert_eq!(
            s.biggest,
            counts(&[(14, 9), (11, 7), (12, 7), (16, 5), (13, 3)])
        );
    }

    #[test]
    fn headroom_with_without_and_over_the_limit() {
        let h = headroom(25, 100);
        assert_eq!((h.headroom_bytes, h.headroom_pct), (Some(75), Some(75.0)));
        let none = headroom(25, 0);
        assert!(!none.limited());
        assert_eq!((none.headroom_bytes, none.headroom_pct), (None, None));
        let over = headroom(120, 100);
        assert_eq!(over.headroom_bytes, Some(-20));
    }

    #[test]
    fn fill_time_is_a_number_only_when_measured_and_growing() {
        let h = headroom(1000, 11_000);
        assert_eq!(
            fill_time(&h, Some(100.0)),
            Fill::Filling {
                seconds: 100.0,
                growth_bytes_per_s: 100.0
            }
        );
        assert_eq!(fill_time(&h, Some(0.0)), Fill::NotFilling);
        assert_eq!(fill_time(&h, Some(-512.0)), Fill::NotFilling, "shrinking");
        assert_eq!(fill_time(&h, None), Fill::Unknown);
        assert_eq!(fill_time(&headroom(1000, 0), Some(100.0)), Fill::NoLimit);
        assert_eq!(fill_time(&headroom(1000, 0), None), Fill::NoLimit);
        assert_eq!(fill_time(&headroom(1000, 1000), Some(1.0)), Fill::Full);
        assert_eq!(fill_time(&headroom(1200, 1000), Some(-1.0)), Fill::Full);
    }

    fn load(name: &str, bytes_per_key: u64, slots: &[(u16, u64)]) -> PrimaryLoad {
        let keys = slots.iter().map(|s| s.1).sum();
        PrimaryLoad {
            name: name.into(),
            dataset_bytes: keys * bytes_per_key,
            keys,
            slots: counts(slots),
        }
    }

    #[test]
    fn evening_moves_slots_from_the_heavy_primary_to_the_light() {
        // a: 4 slots of 100 keys at 10 B/key = 4000 B; b and c: 1000 B each.
        let a = load("a", 10, &[(0, 100), (1, 100), (2, 100), (3, 100)]);
        let b = load("b", 10, &[(10, 50), (11, 50)]);
        let c = load("c", 10, &[(20, 50), (21, 50)]);
        let plan = even_out(&[a, b, c], Some(50.0));
        assert_eq!(plan.spread_bytes_now, 3000);
        // Mean 2000: a gives one slot to b and one to c.
        assert_eq!(plan.moves.len(), 2);
        assert_eq!(plan.moves[0].from, "a");
        assert_eq!(plan.moves[0].to, "b");
        assert_eq!(plan.moves[0].slot_ranges, vec!["0"]);
        assert_eq!(plan.moves[0].est_bytes, 1000);
        assert_eq!(plan.moves[0].est_duration_s, Some(2.0));
        assert_eq!(plan.moves[1].to, "c");
        assert_eq!(plan.keys_moved, 200);
        assert_eq!(plan.spread_bytes_after, 0);
        assert_eq!(plan.est_duration_s, Some(4.0));
        assert!(plan.note.is_empty(), "{}", plan.note);
    }

    #[test]
    fn evening_uses_each_nodes_bytes_per_key() {
        // Same keys, but a's keys are 4x bigger: a's memory is what moves.
        let a = load("a", 40, &[(0, 10), (1, 10)]);
        let b = load("b", 10, &[(5, 10), (6, 10)]);
        let plan = even_out(&[a, b], None);
        assert_eq!(plan.moves.len(), 1);
        assert_eq!((plan.moves[0].from.as_str(), plan.moves[0].keys), ("a", 10));
        assert_eq!(plan.moves[0].est_bytes, 400);
        assert_eq!(
            plan.moves[0].est_duration_s, None,
            "no reshard drill on record"
        );
        assert_eq!(plan.est_duration_s, None);
        assert_eq!(plan.primaries[0].dataset_bytes_after, 400);
        assert_eq!(plan.primaries[1].dataset_bytes_after, 600);
    }

    #[test]
    fn a_hot_slot_stays_and_the_note_says_why() {
        let a = load("a", 10, &[(0, 1000), (1, 0)]);
        let b = load("b", 10, &[(5, 0)]);
        let plan = even_out(&[a, b], Some(100.0));
        assert!(plan.moves.is_empty());
        assert_eq!(plan.spread_bytes_after, plan.spread_bytes_now);
        assert!(
            plan.note.contains("slot 0 on a holds 1000 keys"),
            "{}",
            plan.note
        );
    }

    #[test]
    fn one_primary_no_keys_and_already_even() {
        let one = even_out(&[load("a", 10, &[(0, 5)])], Some(1.0));
        assert!(one.moves.is_empty());
        assert_eq!(one.note, "one primary: nothing to even out");
        let empty = even_out(&[load("a", 0, &[(0, 0)]), load("b", 0, &[(1, 0)])], None);
        assert_eq!(empty.note, "no keys: nothing to even out");
        let even = even_out(&[load("a", 10, &[(0, 5)]), load("b", 10, &[(1, 5)])], None);
        assert!(even.moves.is_empty());
        assert_eq!(
            even.note,
            "even as far as whole slots go: no slot move narrows the gap"
        );
        // Empty slots never move, even when slot counts differ.
        let counts_differ = even_out(
            &[
                load("a", 10, &[(0, 5), (1, 0), (2, 0), (3, 0)]),
                load("b", 10, &[(9, 5)]),
            ],
            None,
        );
        assert!(counts_differ.moves.is_empty());
    }

    #[test]
    fn slots_collapse_into_ranges() {
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), vec!["1-3", "7", "9-10"]);
        assert!(ranges(&[]).is_empty());
    }
}
