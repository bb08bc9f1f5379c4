//! The keyspace sampler's readings (`keyspace.jsonl`): each node's INFO
//! counters (hits, misses, evictions, expiries, memory, resyncs) on the
//! run's clock, with the phase boundaries they close.

use serde::{Deserialize, Serialize};

/// A node's counters as `INFO` gives them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoCounters {
    pub evicted_keys: u64,
    pub expired_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    /// A gauge, not a counter (bytes).
    pub used_memory: u64,
    /// The node's `maxmemory` (bytes; 0: none).
    pub maxmemory: u64,
    /// Replicas this node, as a primary, served a full resync / a partial
    /// one (from its backlog) since its statistics were last reset.
    #[serde(default)]
    pub sync_full: u64,
    #[serde(default)]
    pub sync_partial_ok: u64,
}

/// One reading of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyspaceSample {
    /// When the answer came, ns since the run's epoch.
    pub at_ns: u64,
    pub node: String,
    #[serde(flatten)]
    pub counters: InfoCounters,
    /// A boundary sample: the phase it closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_end: Option<String>,
    /// The node's statistics were reset right after this sample.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
}
