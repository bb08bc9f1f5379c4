//! Slot migration plans: who owns each slot, and which slots to move where.
//! Pure: nothing here touches a node.
//!
//! Every planner is deterministic (same owners in, same plan out), never moves
//! a slot twice, and never moves a slot onto the primary that already owns it.
//! Slots leave a primary lowest first, as `redis-cli --cluster reshard` takes
//! them, so that a plan and redis-cli pick the same slots for the same request.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::cluster::conn::AddressMap;
use crate::cluster::error::ClusterError;
use crate::cluster::nodes::NodeLine;
use crate::slots::{SLOT_COUNT, SlotRange, ranges_from_slots};

/// `redis-cli --cluster rebalance`'s default threshold: a cluster whose
/// spread is at or under 2% is left alone.
pub const REBALANCE_THRESHOLD: f64 = 0.02;

/// Which primary serves each slot, by member name: what the planners read.
///
/// Built from one `CLUSTER NODES` view through the address map
/// ([`SlotOwners::from_view`], or [`SlotOwners::load`] from a live cluster), or
/// from explicit assignments. Primaries without slots are listed too, so a plan
/// can fill a new, empty primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotOwners {
    /// Sorted by name.
    primaries: Vec<String>,
    /// Per slot, an index into `primaries`; `None` for an unassigned slot.
    owner: Vec<Option<u16>>,
}

impl SlotOwners {
    /// Owners from explicit assignments, `(primary, slot ranges)`; a primary
    /// with no ranges is an empty primary. Fails when a slot is assigned twice
    /// or a name is listed twice.
    pub fn from_assignments<'a>(
        assignments: impl IntoIterator<Item = (&'a str, &'a [SlotRange])>,
    ) -> Result<Self, ClusterError> {
        let assignments: Vec<(&str, &[SlotRange])> = assignments.into_iter().collect();
        let mut primaries: Vec<String> = assignments.iter().map(|(n, _)| n.to_string()).collect();
        primaries.sort();
        if let Some(w) = primaries.windows(2).find(|w| w[0] == w[1]) {
            return Err(plan_error(format!("primary {} is listed twice", w[0])));
        }
        if primaries.len() > usize::from(u16::MAX) {
            return Err(plan_error("too many primaries".into()));
        }
        let mut owners = SlotOwners {
            owner: vec![None; usize::from(SLOT_COUNT)],
            primaries,
        };
        for (name, ranges) in assignments {
            let i = owners.index(name).expect("listed above");
            for r in ranges {
                for s in r.slots() {
                    if let Some(other) = owners.owner[usize::from(s)] {
                        return Err(plan_error(format!(
                            "slot {s} is assigned to both {} and {name}",
                            owners.primaries[usize::from(other)]
                        )));
                    }
                    owners.owner[usize::from(s)] = Some(i);
                }
            }
        }
        Ok(owners)
    }

    /// Owners as one node's `CLUSTER NODES` shows them, named through `map`
    /// (a node missing from the map is named by its address). Primaries flagged
    /// `fail`, without an address, or still in handshake are left out, and so
    /// are their slots.
    pub fn from_view(lines: &[NodeLine], map: &AddressMap) -> Self {
        let usable: Vec<(&NodeLine, String)> = lines
            .iter()
            .filter(|l| l.is_primary() && !l.flags.fail && !l.flags.noaddr && !l.flags.handshake)
            .filter_map(|l| Some((l, map.name_of_announce(l.addr?))))
            .collect();
        let ranges: Vec<(&str, &[SlotRange])> = usable
            .iter()
            .map(|(l, name)| (name.as_str(), l.slots.as_slice()))
            .collect();
        // One view assigns each slot once and names are unique in a map; fall
        // back to the id when two unmapped lines somehow print one address.
        Self::from_assignments(ranges.iter().copied()).unwrap_or_else(|_| {
            let ids: Vec<(&str, &[SlotRange])> = usable
                .iter()
                .map(|(l, _)| (l.id.as_str(), l.slots.as_slice()))
                .collect();
            Self::from_assignments(ids).unwrap_or_else(|_| Self::empty())
        })
    }

    fn empty() -> Self {
        SlotOwners {
            primaries: Vec::new(),
            owner: vec![None; usize::from(SLOT_COUNT)],
        }
    }

    /// The primaries, sorted by name, empty ones included.
    pub fn primaries(&self) -> &[String] {
        &self.primaries
    }

    /// The primary serving `slot`, if any.
    pub fn owner(&self, slot: u16) -> Option<&str> {
        self.owner
            .get(usize::from(slot))
            .copied()
            .flatten()
            .map(|i| self.primaries[usize::from(i)].as_str())
    }

    /// The slots `name` serves, ascending (empty for an unknown name).
    pub fn slots_of(&self, name: &str) -> Vec<u16> {
        match self.index(name) {
            Some(i) => (0..SLOT_COUNT)
                .filter(|&s| self.owner[usize::from(s)] == Some(i))
                .collect(),
            None => Vec::new(),
        }
    }

    /// The slots `name` serves, as ranges.
    pub fn ranges_of(&self, name: &str) -> Vec<SlotRange> {
        ranges_from_slots(self.slots_of(name))
    }

    /// Number of slots per primary, empty primaries included.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut n = vec![0usize; self.primaries.len()];
        for i in self.owner.iter().flatten() {
            n[usize::from(*i)] += 1;
        }
        self.primaries.iter().cloned().zip(n).collect()
    }

    /// Number of slots `name` serves.
    pub fn count(&self, name: &str) -> usize {
        match self.index(name) {
            Some(i) => self.owner.iter().filter(|o| **o == Some(i)).count(),
            None => 0,
        }
    }

    /// How uneven `primaries` are: (max - min) / ideal, where ideal is their
    /// slots divided by their number. 0 for an exact split (or no slots).
    pub fn spread(&self, primaries: &[String]) -> f64 {
        let counts: Vec<usize> = primaries.iter().map(|p| self.count(p)).collect();
        let total: usize = counts.iter().sum();
        if counts.is_empty() || total == 0 {
            return 0.0;
        }
        let ideal = total as f64 / counts.len() as f64;
        let (min, max) = (
            *counts.iter().min().expect("not empty"),
            *counts.iter().max().expect("not empty"),
        );
        (max - min) as f64 / ideal
    }

    /// The owners after `plan`. Fails when a move's source does not own its
    /// slot at that point, or names an unknown primary.
    pub fn apply(&self, plan: &SlotMoves) -> Result<SlotOwners, ClusterError> {
        let mut next = self.clone();
        for m in &plan.moves {
            let from = next.require(&m.from)?;
            let to = next.require(&m.to)?;
            let slot = usize::from(m.slot);
            if m.slot >= SLOT_COUNT || next.owner[slot] != Some(from) {
                return Err(plan_error(format!(
                    "slot {} is not served by {}",
                    m.slot, m.from
                )));
            }
            next.owner[slot] = Some(to);
        }
        Ok(next)
    }

    fn index(&self, name: &str) -> Option<u16> {
        self.primaries
            .binary_search_by(|p| p.as_str().cmp(name))
            .ok()
            .map(|i| i as u16)
    }

    fn require(&self, name: &str) -> Result<u16, ClusterError> {
        self.index(name).ok_or_else(|| {
            plan_error(format!(
                "{name} is not a primary of the cluster (primaries: {})",
                self.primaries.join(", ")
            ))
        })
    }
}

/// One slot to move.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SlotMove {
    pub slot: u16,
    /// The primary serving it now.
    pub from: String,
    /// The primary that will serve it.
    pub to: String,
}

/// Slots to move, in the order the engine starts them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SlotMoves {
    pub moves: Vec<SlotMove>,
}

/// The moves of a plan between one pair of primaries, for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoveGroup {
    pub from: String,
    pub to: String,
    pub slots: usize,
    pub ranges: Vec<SlotRange>,
}

impl SlotMoves {
    /// Nothing to move: the engine returns at once.
    pub fn is_empty(&self) -> bool {
        self.moves.is_empty()
    }

    /// The slots the plan moves.
    pub fn len(&self) -> usize {
        self.moves.len()
    }

    /// The moves grouped by (from, to), in order of first appearance.
    pub fn steps(&self) -> Vec<MoveGroup> {
        let mut order: Vec<(String, String)> = Vec::new();
        let mut slots: BTreeMap<(String, String), Vec<u16>> = BTreeMap::new();
        for m in &self.moves {
            let key = (m.from.clone(), m.to.clone());
            if !slots.contains_key(&key) {
                order.push(key.clone());
            }
            slots.entry(key).or_default().push(m.slot);
        }
        order
            .into_iter()
            .map(|key| {
                let s = slots.remove(&key).unwrap_or_default();
                MoveGroup {
                    slots: s.len(),
                    ranges: ranges_from_slots(s),
                    from: key.0,
                    to: key.1,
                }
            })
            .collect()
    }
}

impl fmt::Display for SlotMoves {
    /// `move 500 slots: 500 from s1n1 to s2n1 (0-499)`, one line per pair.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "nothing to move");
        }
        writeln!(f, "move {} slots:", self.len())?;
        for s in self.steps() {
            let ranges: Vec<String> = s.ranges.iter().map(|r| r.to_string()).collect();
            writeln!(
                f,
                "  {} from {} to {} ({})",
                s.slots,
                s.from,
                s.to,
                ranges.join(",")
            )?;
        }
        Ok(())
    }
}

fn plan_error(detail: String) -> ClusterError {
    ClusterError::BadInput(detail)
}

/// Move `count` slots from `from` to `to`: the lowest `count` slots `from`
/// serves, as `redis-cli --cluster reshard --cluster-from` picks them. Fails
/// when `from` serves fewer, or either is not a primary, or they are the same.
pub fn moves_between(
    owners: &SlotOwners,
    from: &str,
    to: &str,
    count: usize,
) -> Result<SlotMoves, ClusterError> {
    owners.require(from)?;
    owners.require(to)?;
    if from == to {
        return Err(plan_error(format!(
            "cannot move slots from {from} to itself"
        )));
    }
    let slots = owners.slots_of(from);
    if slots.len() < count {
        return Err(plan_error(format!(
            "{from} serves {} slots, cannot move {count}",
            slots.len()
        )));
    }
    Ok(SlotMoves {
        moves: slots[..count]
            .iter()
            .map(|&slot| SlotMove {
                slot,
                from: from.to_string(),
                to: to.to_string(),
            })
            .collect(),
    })
}

/// Even out the slots of `primaries` (empty ones included; slots of primaries
/// not listed stay where they are).
///
/// When their spread ((max - min) / ideal) is already within
/// [`REBALANCE_THRESHOLD`] the plan is empty, as with redis-cli. Otherwise each
/// gets total/n slots, the remainder going one each to the primaries that hold
/// the most now; only the surplus of the primaries above their share moves, so
/// the number of slots moved is the least that reaches that split, and no slot
/// moves twice. Sources give their lowest slots first; the largest surplus
/// feeds the largest deficit first (ties by name).
pub fn rebalance_moves(
    owners: &SlotOwners,
    primaries: &[String],
) -> Result<SlotMoves, ClusterError> {
    if primaries.is_empty() {
        return Err(plan_error("no primaries to rebalance".into()));
    }
    let mut seen = BTreeSet::new();
    for p in primaries {
        owners.require(p)?;
        if !seen.insert(p.as_str()) {
            return Err(plan_error(format!("primary {p} is listed twice")));
        }
    }
    if owners.spread(primaries) <= REBALANCE_THRESHOLD {
        return Ok(SlotMoves::default());
    }
    let mut by_count: Vec<(&str, usize)> = primaries
        .iter()
        .map(|p| (p.as_str(), owners.count(p)))
        .collect();
    // Most slots first: they keep the remainder, so fewer slots move.
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let total: usize = by_count.iter().map(|(_, c)| c).sum();
    let (base, extra) = (total / by_count.len(), total % by_count.len());
    let mut sources: Vec<(&str, usize)> = Vec::new();
    let mut sinks: Vec<(&str, usize)> = Vec::new();
    for (i, (name, count)) in by_count.iter().enumerate() {
        let target = base + usize::from(i < extra);
        if *count > target {
            sources.push((name, count - target));
        } else if *count < target {
            sinks.push((name, target - count));
        }
    }
    sources.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    sinks.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));

    let mut moves = Vec::new();
    let mut sink = sinks.into_iter().peekable();
    let mut want = sink.peek().map(|s| s.1).unwrap_or(0);
    for (from, surplus) in sources {
        let mut give = owners.slots_of(from).into_iter().take(surplus);
        let mut left = surplus;
        while left > 0 {
            let Some(&(to, _)) = sink.peek() else { break };
            let n = left.min(want);
            for slot in give.by_ref().take(n) {
                moves.push(SlotMove {
                    slot,
                    from: from.to_string(),
                    to: to.to_string(),
                });
            }
            left -= n;
            want -= n;
            if want == 0 {
                sink.next();
                want = sink.peek().map(|s| s.1).unwrap_or(0);
            }
        }
    }
    Ok(SlotMoves { moves })
}

/// Move every slot of `node` onto `onto`, as evenly as possible: each slot
/// goes to the `onto` primary with the fewest slots at that point (ties by
/// name), so primaries that start equal end within one slot of each other.
/// Each receiver gets one consecutive run of `node`'s slots, lowest first, in
/// name order. Fails when `onto` is empty, lists `node`, or names an unknown primary.
pub fn drain_moves(
    owners: &SlotOwners,
    node: &str,
    onto: &[String],
) -> Result<SlotMoves, ClusterError> {
    owners.require(node)?;
    if onto.is_empty() {
        return Err(plan_error(format!(
            "no primaries to move {node}'s slots onto"
        )));
    }
    let mut onto_sorted: Vec<&str> = Vec::new();
    for p in onto {
        owners.require(p)?;
        if p == node {
            return Err(plan_error(format!(
                "cannot move {node}'s slots onto itself"
            )));
        }
        if onto_sorted.contains(&p.as_str()) {
            return Err(plan_error(format!("primary {p} is listed twice")));
        }
        onto_sorted.push(p);
    }
    onto_sorted.sort_unstable();
    let slots = owners.slots_of(node);
    let mut have: Vec<usize> = onto_sorted.iter().map(|p| owners.count(p)).collect();
    let mut gets = vec![0usize; onto_sorted.len()];
    for _ in 0..slots.len() {
        // `have` is never empty: `onto` was checked above.
        let i = (0..have.len())
            .min_by_key(|&i| (have[i], i))
            .expect("onto is not empty");
        have[i] += 1;
        gets[i] += 1;
    }
    let mut moves = Vec::with_capacity(slots.len());
    let mut next = slots.into_iter();
    for (to, n) in onto_sorted.iter().zip(gets) {
        for slot in next.by_ref().take(n) {
            moves.push(SlotMove {
                slot,
                from: node.to_string(),
                to: to.to_string(),
            });
        }
    }
    Ok(SlotMoves { moves })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::nodes::parse_cluster_nodes;
    use crate::slots::even_split;
    use std::collections::HashSet;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("p{i}")).collect()
    }

    fn owners_of(assign: &[(String, Vec<SlotRange>)]) -> SlotOwners {
        SlotOwners::from_assignments(assign.iter().map(|(n, r)| (n.as_str(), r.as_slice())))
            .unwrap()
    }

    /// `n` primaries with an even split.
    fn even(n: usize) -> SlotOwners {
        let split = even_split(n);
        owners_of(
            &names(n)
                .into_iter()
                .zip(split)
                .map(|(n, r)| (n, vec![r]))
                .collect::<Vec<_>>(),
        )
    }

    /// Every slot from a deterministic pseudo-random walk, weighted towards
    /// the first primaries (p1 gets ~half).
    fn skewed_random(n: usize, seed: u64) -> SlotOwners {
        let mut x = seed | 1;
        let mut per: Vec<Vec<u16>> = vec![Vec::new(); n];
        for s in 0..SLOT_COUNT {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = if x.is_multiple_of(2) {
                0
            } else {
                (x as usize / 2) % n
            };
            per[i].push(s);
        }
        owners_of(
            &names(n)
                .into_iter()
                .zip(per)
                .map(|(n, s)| (n, ranges_from_slots(s)))
                .collect::<Vec<_>>(),
        )
    }

    /// All slots on p1, the others empty.
    fn all_on_first(n: usize) -> SlotOwners {
        let mut a: Vec<(String, Vec<SlotRange>)> =
            names(n).into_iter().map(|n| (n, vec![])).collect();
        a[0].1 = vec![SlotRange::new(0, SLOT_COUNT - 1)];
        owners_of(&a)
    }

    /// An even split over n-1 primaries plus one new empty primary.
    fn one_new_empty(n: usize) -> SlotOwners {
        let split = even_split(n - 1);
        let mut a: Vec<(String, Vec<SlotRange>)> = names(n)
            .into_iter()
            .zip(split.into_iter().map(|r| vec![r]).chain([vec![]]))
            .collect();
        a.sort();
        owners_of(&a)
    }

    /// The invariants of every plan: each slot at most once, never onto its
    /// owner, every source owns its slot, applies cleanly.
    fn assert_sound(owners: &SlotOwners, plan: &SlotMoves) -> SlotOwners {
        let mut seen = HashSet::new();
        for m in &plan.moves {
            assert!(seen.insert(m.slot), "slot {} moved twice", m.slot);
            assert_ne!(m.from, m.to, "slot {} moved onto its owner", m.slot);
            assert_eq!(owners.owner(m.slot), Some(m.from.as_str()));
        }
        owners.apply(plan).expect("plan applies")
    }

    /// The least number of slots any even split (floor/ceil shares) must move.
    fn least_moves(owners: &SlotOwners, primaries: &[String]) -> usize {
        let mut c: Vec<usize> = primaries.iter().map(|p| owners.count(p)).collect();
        c.sort_unstable_by(|a, b| b.cmp(a));
        let total: usize = c.iter().sum();
        let (base, extra) = (total / c.len(), total % c.len());
        c.iter()
            .enumerate()
            .map(|(i, &n)| n.saturating_sub(base + usize::from(i < extra)))
            .sum()
    }

    #[test]
    fn move_takes_lowest_slots_and_counts() {
        let owners = even(3);
        /// (from, to, count, Ok(first and last slot moved) or Err(message part)).
        type Case<'a> = (&'a str, &'a str, usize, Result<(u16, u16), &'a str>);
        let cases: &[Case] = &[
            ("p1", "p2", 500, Ok((0, 499))),
            ("p2", "p3", 1, Ok((5461, 5461))),
            ("p3", "p1", 5461, Ok((10923, 16383))),
            (
                "p1",
                "p2",
                5462,
                Err("p1 serves 5461 slots, cannot move 5462"),
            ),
            ("p1", "p1", 1, Err("cannot move slots from p1 to itself")),
            ("p1", "px", 1, Err("px is not a primary")),
        ];
        for (from, to, count, want) in cases {
            let got = moves_between(&owners, from, to, *count);
            match want {
                Ok((lo, hi)) => {
                    let plan = got.unwrap();
                    assert_eq!(plan.len(), *count);
                    assert_eq!(plan.moves.first().unwrap().slot, *lo);
                    assert_eq!(plan.moves.last().unwrap().slot, *hi);
                    let after = assert_sound(&owners, &plan);
                    assert_eq!(after.count(to), owners.count(to) + count);
                    assert_eq!(plan, moves_between(&owners, from, to, *count).unwrap());
                }
                Err(text) => {
                    let e = got.unwrap_err().to_string();
                    assert!(e.contains(text), "want {text:?} in {e:?}");
                }
            }
        }
        assert!(moves_between(&owners, "p1", "p2", 0).unwrap().is_empty());
    }

    #[test]
    fn move_from_split_ranges_takes_the_start_of_the_first() {
        let owners = owners_of(&[
            (
                "a".into(),
                vec![SlotRange::new(100, 102), SlotRange::new(7, 8)],
            ),
            ("b".into(), vec![]),
        ]);
        let plan = moves_between(&owners, "a", "b", 3).unwrap();
        let slots: Vec<u16> = plan.moves.iter().map(|m| m.slot).collect();
        assert_eq!(slots, vec![7, 8, 100]);
        assert_eq!(
            plan.to_string(),
            "move 3 slots:\n  3 from a to b (7-8,100)\n"
        );
    }

    #[test]
    fn rebalance_is_even_minimal_and_deterministic() {
        type Make = fn(usize) -> SlotOwners;
        let shapes: &[(&str, Make)] = &[
            ("all on p1", all_on_first),
            ("one new empty primary", one_new_empty),
            ("skewed random", |n| skewed_random(n, 0x9e37_79b9_7f4a_7c15)),
            ("skewed random 2", |n| skewed_random(n, 42)),
        ];
        for n in [3usize, 4, 5, 7] {
            for (shape, make) in shapes {
                let owners = make(n);
                let all = owners.primaries().to_vec();
                assert!(
                    owners.spread(&all) > REBALANCE_THRESHOLD,
                    "{shape}/{n}: starts skewed"
                );
                let plan = rebalance_moves(&owners, &all).unwrap();
                let after = assert_sound(&owners, &plan);
                let spread = after.spread(&all);
                assert!(
                    spread <= REBALANCE_THRESHOLD,
                    "{shape}/{n}: spread {spread}"
                );
                let counts: Vec<usize> = after.counts().into_values().collect();
                assert!(
                    counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
                    "{shape}/{n}: {counts:?}"
                );
                assert_eq!(plan.len(), least_moves(&owners, &all), "{shape}/{n}");
                assert_eq!(plan, rebalance_moves(&owners, &all).unwrap(), "{shape}/{n}");
                // Balanced now: nothing more to do.
                assert!(rebalance_moves(&after, &all).unwrap().is_empty());
            }
        }
    }

    #[test]
    fn rebalance_fills_an_empty_primary_from_every_other() {
        let owners = one_new_empty(4);
        let all = owners.primaries().to_vec();
        let plan = rebalance_moves(&owners, &all).unwrap();
        assert!(plan.moves.iter().all(|m| m.to == "p4"));
        let froms: BTreeSet<&str> = plan.moves.iter().map(|m| m.from.as_str()).collect();
        assert_eq!(
            froms.into_iter().collect::<Vec<_>>(),
            vec!["p1", "p2", "p3"]
        );
        assert_eq!(owners.apply(&plan).unwrap().count("p4"), 4096);
    }

    #[test]
    fn rebalance_within_threshold_or_of_a_subset() {
        let owners = even(3);
        let all = owners.primaries().to_vec();
        assert!(rebalance_moves(&owners, &all).unwrap().is_empty());
        // Only p1 and p2 take part after moving 3000 slots from p1 to p3: p3 stays.
        let skew = owners
            .apply(&moves_between(&owners, "p1", "p3", 3000).unwrap())
            .unwrap();
        let two = vec!["p1".to_string(), "p2".to_string()];
        let plan = rebalance_moves(&skew, &two).unwrap();
        let after = assert_sound(&skew, &plan);
        assert_eq!(after.count("p3"), skew.count("p3"));
        assert!(after.spread(&two) <= REBALANCE_THRESHOLD);
        for (bad, want) in [
            (vec![], "no primaries"),
            (vec!["p1".to_string(), "p1".to_string()], "listed twice"),
            (vec!["zz".to_string()], "zz is not a primary"),
        ] {
            let e = rebalance_moves(&owners, &bad).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn drain_empties_the_node_evenly() {
        for n in [3usize, 4, 5, 7] {
            let owners = even(n);
            let onto: Vec<String> = names(n).into_iter().skip(1).collect();
            let plan = drain_moves(&owners, "p1", &onto).unwrap();
            let after = assert_sound(&owners, &plan);
            assert_eq!(after.count("p1"), 0, "n={n}");
            assert_eq!(plan.len(), owners.count("p1"));
            let counts: Vec<usize> = onto.iter().map(|p| after.count(p)).collect();
            assert!(
                counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
                "n={n}: {counts:?}"
            );
            assert_eq!(plan, drain_moves(&owners, "p1", &onto).unwrap());
            // One consecutive run per receiver.
            for s in plan.steps() {
                assert_eq!(s.ranges.len(), 1, "n={n}: {s:?}");
            }
        }
    }

    #[test]
    fn drain_tops_up_the_emptiest_first() {
        let owners = owners_of(&[
            ("a".into(), vec![SlotRange::new(0, 99)]),
            ("b".into(), vec![SlotRange::new(100, 16383)]),
            ("c".into(), vec![]),
        ]);
        let plan = drain_moves(&owners, "a", &["b".into(), "c".into()]).unwrap();
        assert!(plan.moves.iter().all(|m| m.to == "c"));
        let e = drain_moves(&owners, "a", &["a".into()]).unwrap_err();
        assert!(e.to_string().contains("onto itself"), "{e}");
        let e = drain_moves(&owners, "a", &[]).unwrap_err();
        assert!(e.to_string().contains("no primaries"), "{e}");
        assert!(drain_moves(&owners, "c", &["a".into()]).unwrap().is_empty());
    }

    #[test]
    fn owners_from_a_view_use_map_names_and_skip_failed() {
        const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        const C: &str = "cccccccccccccccccccccccccccccccccccccccc";
        const D: &str = "dddddddddddddddddddddddddddddddddddddddd";
        const E: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
        let text = format!(
            "{A} 172.18.0.2:6379@16379 myself,master - 0 0 1 connected 0-8191\n\
             {B} 172.18.0.3:6379@16379 master - 0 0 2 connected 8192-16000\n\
             {C} 172.18.0.4:6379@16379 master,fail - 0 0 3 connected 16001-16383\n\
             {D} 172.18.0.5:6379@16379 slave {A} 0 0 1 connected\n\
             {E} 127.0.0.9:7000@17000 master - 0 0 4 connected\n"
        );
        let lines = parse_cluster_nodes(&text).unwrap();
        let mut map = AddressMap::new();
        for (name, ip, port) in [
            ("s1n1", "172.18.0.2", 7001),
            ("s2n1", "172.18.0.3", 7002),
            ("s3n1", "172.18.0.4", 7003),
        ] {
            map.insert(
                name,
                format!("{ip}:6379").parse().unwrap(),
                format!("127.0.0.1:{port}").parse().unwrap(),
            )
            .unwrap();
        }
        let owners = SlotOwners::from_view(&lines, &map);
        assert_eq!(owners.primaries(), ["127.0.0.9:7000", "s1n1", "s2n1"]);
        assert_eq!(owners.owner(0), Some("s1n1"));
        assert_eq!(owners.owner(8192), Some("s2n1"));
        assert_eq!(owners.owner(16001), None);
        assert_eq!(owners.count("127.0.0.9:7000"), 0);
        assert_eq!(owners.ranges_of("s2n1"), vec![SlotRange::new(8192, 16000)]);
    }

    #[test]
    fn assignments_refuse_overlaps_and_apply_checks_sources() {
        let e = SlotOwners::from_assignments([
            ("a", &[SlotRange::new(0, 10)][..]),
            ("b", &[SlotRange::new(10, 20)][..]),
        ])
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("slot 10 is assigned to both a and b"),
            "{e}"
        );
        let owners = even(2);
        let bad = SlotMoves {
            moves: vec![SlotMove {
                slot: 9000,
                from: "p1".into(),
                to: "p2".into(),
            }],
        };
        let e = owners.apply(&bad).unwrap_err();
        assert!(
            e.to_string().contains("slot 9000 is not served by p1"),
            "{e}"
        );
    }
}
