//! Load by shard and by slot: every op answered ok, counted on the slot it
//! went to and on the primary that owned that slot before the drill; the
//! keys loaded, likewise; each shard's service time. What a hot slot (many
//! keys under one hash tag) does shows as one shard's share and skew.

use std::collections::HashMap;

use super::{Checker, Run};
use crate::checker::latency::percentiles;
use crate::record::ops::Outcome;
use crate::report::shards::{ShardFigures, ShardLoad, SlotFigures};
use crate::slots::{SLOT_COUNT, SlotRange, key_slot};

/// The busiest slots listed.
const HOTTEST: usize = 5;

/// The checker.
pub(crate) struct Shards;

impl Checker for Shards {
    type Section = Option<ShardLoad>;

    /// `None` for a topology that is not a cluster, or a drill with no
    /// key/value ops and no keys.
    fn check(&self, run: &Run) -> Option<ShardLoad> {
        let topology = &run.record.topology;
        topology.cluster.as_ref()?;
        if run.history.is_empty() && run.initial.is_empty() {
            return None;
        }
        let mut owner: Vec<Option<usize>> = vec![None; usize::from(SLOT_COUNT)];
        let mut primaries: Vec<(&str, u64)> = Vec::new();
        for n in &topology.nodes {
            let ranges: Vec<SlotRange> = (n.slot_ranges.iter())
                .filter_map(|r| r.parse().ok())
                .collect();
            if ranges.is_empty() {
                continue;
            }
            let i = primaries.len();
            let mut slots = 0;
            for r in ranges {
                for s in r.start..=r.end {
                    owner[usize::from(s)] = Some(i);
                    slots += 1;
                }
            }
            primaries.push((n.name.as_str(), slots));
        }
        Some(load(run, &owner, &primaries))
    }
}

/// The figures, given each slot's owner (an index into `primaries`).
fn load(run: &Run, owner: &[Option<usize>], primaries: &[(&str, u64)]) -> ShardLoad {
    let mut out = ShardLoad::default();
    let mut slot_ops: HashMap<u16, u64> = HashMap::new();
    let mut slot_keys: HashMap<u16, u64> = HashMap::new();
    let mut shard_ops = vec![0u64; primaries.len()];
    let mut shard_keys = vec![0u64; primaries.len()];
    let mut shard_service: Vec<Vec<u64>> = vec![Vec::new(); primaries.len()];
    let mut unowned = 0u64;
    for key in run.initial.keys() {
        let slot = key_slot(key.as_bytes());
        *slot_keys.entry(slot).or_default() += 1;
        if let Some(i) = owner[usize::from(slot)] {
            shard_keys[i] += 1;
        }
    }
    let mut total = 0u64;
    for op in run.app.iter().chain(&run.probe) {
        if !matches!(op.outcome, Outcome::Ok) {
            continue;
        }
        total += 1;
        *slot_ops.entry(op.slot).or_default() += 1;
        match owner[usize::from(op.slot)] {
            Some(i) => {
                shard_ops[i] += 1;
                shard_service[i].push(op.end_ns.saturating_sub(op.sent_ns));
            }
            None => unowned += 1,
        }
    }
    let share = |n: u64| {
        if total == 0 {
            0.0
        } else {
            n as f64 / total as f64
        }
    };
    for (i, (name, slots)) in primaries.iter().enumerate() {
        let service = std::mem::take(&mut shard_service[i]);
        out.shards.push(ShardFigures {
            primary: (*name).to_string(),
            slots: *slots,
            keys: shard_keys[i],
            ops: shard_ops[i],
            share: share(shard_ops[i]),
            service_p99_ms: percentiles(service).p99_measured(),
        });
    }
    let mut hottest: Vec<(u16, u64)> = slot_ops.into_iter().collect();
    // Busiest first; equal counts by slot number, so the report is the
    // same however the map iterated.
    hottest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (slot, ops) in hottest.into_iter().take(HOTTEST) {
        out.hottest_slots.push(SlotFigures {
            slot,
            owner: owner[usize::from(slot)]
                .map_or_else(|| "none".to_string(), |i| primaries[i].0.to_string()),
            keys: slot_keys.get(&slot).copied().unwrap_or(0),
            ops,
            share: share(ops),
        });
    }
    if total == 0 {
        out.unknown.insert(
            "skew".into(),
            "no op was answered ok: there is no load to share out".into(),
        );
    } else if !primaries.is_empty() {
        let busiest = shard_ops.iter().copied().max().unwrap_or(0);
        out.skew = Some(busiest as f64 / (total as f64 / primaries.len() as f64));
    }
    if unowned > 0 {
        out.unknown.insert(
            "ops on slots no primary owned".into(),
            format!("{unowned} ops went to slots the topology before the drill gave to no primary"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The skew is the busiest shard's share over an even one, and the
    /// hottest slot is named with its owner and keys.
    #[test]
    fn a_hot_slot_shows_as_skew_and_tops_the_slots() {
        let primaries = [("a", 2u64), ("b", 2u64)];
        let mut owner = vec![None; usize::from(SLOT_COUNT)];
        owner[0] = Some(0);
        owner[1] = Some(0);
        owner[2] = Some(1);
        owner[3] = Some(1);
        let ops = |slot: u16, n: usize| vec![slot; n];
        let (skew, hottest) = skew_of(
            &primaries,
            &owner,
            &[ops(0, 6), ops(1, 1), ops(2, 2), ops(3, 1)].concat(),
        );
        // 7 of 10 on a, an even share is 5.
        assert_eq!(skew, Some(1.4));
        assert_eq!(hottest, vec![(0, 6), (2, 2), (1, 1), (3, 1)]);
        let (none, _) = skew_of(&primaries, &owner, &[]);
        assert_eq!(none, None);
    }

    /// The counting of [`load`], on slots alone.
    fn skew_of(
        primaries: &[(&str, u64)],
        owner: &[Option<usize>],
        slots: &[u16],
    ) -> (Option<f64>, Vec<(u16, u64)>) {
        let mut stored =
            super::super::tests::stored(super::super::tests::record(serde_json::json!([])));
        stored.history = (slots.iter())
            .map(|&s| {
                let mut op = crate::checker::fixture::get("k", 0, 1);
                op.slot = s;
                op
            })
            .collect();
        let run = Run::new(&stored);
        let l = load(&run, owner, primaries);
        (
            l.skew,
            l.hottest_slots.iter().map(|s| (s.slot, s.ops)).collect(),
        )
    }
}
