//! The server-side reference (`pings.jsonl`): a raw PING per primary on a
//! thread of its own, beside the clients' ops; and each node's own command
//! figures by phase (`INFO commandstats`), kept in `record.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One PING as the reference saw it. Times in ns since the run's epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ping {
    pub node: String,
    pub due_ns: u64,
    pub sent_ns: u64,
    pub end_ns: u64,
    /// `+PONG` came back within the timeout.
    pub ok: bool,
}

impl Ping {
    /// The round trip, ns.
    pub fn rtt_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.sent_ns)
    }
}

/// One command's figures on one node over one phase, as the node counted them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandStats {
    pub calls: u64,
    /// Mean execution time, µs (`usec_per_call`).
    pub usec_per_call: f64,
    /// Execution time percentiles, µs (`INFO latencystats`; absent before Redis 7.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_usec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_usec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p999_usec: Option<f64>,
}

/// What one node counted since its last reset, by command name (lowercase).
pub type NodeSample = BTreeMap<String, CommandStats>;
