//! The `shards` section of a report: where the clients' ops went, by shard
//! and by slot — the skew a hot slot (many keys under one hash tag, the
//! cluster's version of a key collision) puts on one shard, and that
//! shard's latency beside the others'.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::section::{Section, Table};
use super::text::{group, ms};

/// The clients' ops by the shard and the slot they went to, as the
/// topology stood before the drill.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardLoad {
    /// Every primary that owned slots before the drill, by name.
    pub shards: Vec<ShardFigures>,
    /// The slots with the most ops, busiest first (at most 5).
    pub hottest_slots: Vec<SlotFigures>,
    /// The busiest shard's ops over an even share of them (1: even; 3 on
    /// three shards: every op on one). `None` when no op was answered.
    pub skew: Option<f64>,
    /// Why a figure cannot be established, when it cannot.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<String, String>,
}

/// One shard's share of the load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardFigures {
    /// The primary, by name.
    pub primary: String,
    /// Slots it owned before the drill.
    pub slots: u64,
    /// Keys of the workload's key space in those slots.
    pub keys: u64,
    /// Ops answered ok on keys of those slots (app and probe clients).
    pub ops: u64,
    /// ... as a share of every answered op.
    pub share: f64,
    /// Service time (sent → answer) p99 of those ops, ms.
    pub service_p99_ms: Option<f64>,
}

/// One slot's share of the load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotFigures {
    pub slot: u16,
    /// Its primary before the drill.
    pub owner: String,
    /// Keys of the workload's key space in it.
    pub keys: u64,
    /// Ops answered ok on it, and their share of all.
    pub ops: u64,
    pub share: f64,
}

/// The section every rendering shows.
pub(super) fn section(s: &ShardLoad) -> Section {
    let mut sec = Section::titled("Load by shard");
    for (what, why) in &s.unknown {
        sec.warning(format!("{what}: unknown — {why}"));
    }
    let mut t = Table::aligned(
        &["primary", "slots", "keys", "ops", "share", "service p99"],
        "lrrrrr",
    );
    for f in &s.shards {
        t.row(vec![
            f.primary.clone(),
            group(f.slots),
            group(f.keys),
            group(f.ops),
            format!("{:.1} %", f.share * 100.0),
            f.service_p99_ms.map_or("—".into(), ms),
        ]);
    }
    sec.table(t);
    let mut said = String::from(
        "Ops answered ok (app and probe clients), by the primary that owned their slot before the drill.",
    );
    if let Some(k) = s.skew {
        said.push_str(&format!(
            " Skew: the busiest shard took {k:.2}× an even share."
        ));
    }
    sec.text(said);
    if !s.hottest_slots.is_empty() {
        let mut t = Table::aligned(&["slot", "owner", "keys", "ops", "share"], "rlrrr");
        for f in &s.hottest_slots {
            t.row(vec![
                f.slot.to_string(),
                f.owner.clone(),
                group(f.keys),
                group(f.ops),
                format!("{:.1} %", f.share * 100.0),
            ]);
        }
        sec.text("The busiest slots:");
        sec.table(t);
    }
    sec
}
