//! `record.json`: everything a drill's verdict is computed from beside
//! the op, lock and PING histories — the scenario's SLOs and settings, the
//! environment, the topology before and after, the timeline, the faults, the
//! reshard's summary, the engine's and the servers' figures, the cluster's
//! state at the end.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::faults::FaultWindow;
use super::ops::WorkloadStats;
use super::pings::NodeSample;
use super::status::{OwnedRange, StatusReport};
use super::timeline::{Event, Phase};
use crate::net::links::LinkSample;

/// The record's layout; a reader refuses other versions.
/// 2: every JSON-lines file ends with its count, ops carry all three times.
pub const RECORD_VERSION: u32 = 2;

/// Everything a drill's verdict is computed from, beside the op histories.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub record_version: u32,
    pub scenario: String,
    /// The scenario's SLOs, by name.
    pub slo: BTreeMap<String, f64>,
    /// Its SLOs by client region (`slo_by_region:`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slo_by_region: BTreeMap<String, BTreeMap<String, f64>>,
    /// The SLOs the scenario is written to break (`expect:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectSpec>,
    pub seed: u64,
    pub started_at: String,
    pub epoch_monotonic_ns: u64,
    pub environment: Environment,
    /// Clients of each kind, as the scenario asked.
    pub app_clients: u32,
    pub probe_clients: u32,
    /// The self-check's bound on the tool's lag (ms).
    pub max_tool_lag_ms: f64,
    /// The reference PINGs' interval (ms); 0: none.
    pub reference_ping_ms: u64,
    /// The failover bounds' inputs: the topology's node timeout and the
    /// worst election rank a replica can have.
    pub node_timeout_ms: u64,
    pub worst_rank: u32,
    pub topology: StatusReport,
    pub topology_after: StatusReport,
    /// The owner of every slot before the action (downtime is per shard).
    pub slot_owners: Vec<OwnedRange>,
    pub phases: Vec<Phase>,
    /// The drill's own events (node added, reshard, convergence); the
    /// faults' events come from `faults`.
    pub events: Vec<Event>,
    pub faults: Vec<FaultWindow>,
    pub reshard: Option<ReshardSummary>,
    /// From the last action until every node agreed; `None` where the
    /// topology has no slot map to agree on (not a cluster).
    pub convergence_ms: Option<f64>,
    /// Each link's round trips, measured before the drill; empty without
    /// links (and in runs recorded before links existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkSample>,
    /// The regions the key/value workload's clients were spread over
    /// (client i in `client_regions[i mod n]`); empty: in no region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_regions: Vec<String>,
    /// The round trips from each region's clients to a node of each region,
    /// measured before the drill.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_paths: Vec<LinkSample>,
    /// When the workload stopped, ns since the run's start.
    pub end_ns: u64,
    pub engine: WorkloadStats,
    /// Each primary's own command figures, by phase then node.
    pub server: BTreeMap<String, BTreeMap<String, NodeSample>>,
    /// CPU time the machine's hypervisor took away, by phase (ms, all CPUs);
    /// empty where the kernel does not report it.
    #[serde(default)]
    pub steal_ms: BTreeMap<String, f64>,
    /// The cluster's own check at the end, as printed.
    pub cluster_check_ok: bool,
    pub cluster_check: Vec<String>,
    /// Keys in slots their primary does not own, at the end.
    pub stray_keys: u64,
    /// On a deployment the tool did not start: what it was and what the
    /// tool did to it; absent on the tool's own topologies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<super::attached::AttachedRun>,
    /// What the nodes' `maxmemory-policy` lets them evict (the widest of
    /// them): what the lost-write check accepts as evicted.
    #[serde(default)]
    pub eviction: Eviction,
    /// The topology's Sentinels and how they judge the primary, when it
    /// has Sentinels: what their timeline is measured against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel: Option<crate::topology::Sentinels>,
}

/// One key before the run and at its end (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValues {
    pub key: String,
    pub initial: String,
    #[serde(rename = "final")]
    pub final_value: Option<String>,
}

/// Where and with what the run ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Environment {
    pub runtime: String,
    pub redis_version: String,
    pub image: String,
    pub host_cores: usize,
    pub redis_drill_version: String,
    /// How the workload's clients reach the nodes: `host loopback` (process
    /// runtime), `inside the run's network …` (Docker, from a namespace on the
    /// run's network), or `published ports (docker-proxy)`.
    #[serde(default)]
    pub client_path: String,
    /// How every connection of the tool authenticated and encrypted (TLS,
    /// AUTH): what, never a secret. Absent: plain TCP, no AUTH.
    #[serde(
        default,
        skip_serializing_if = "crate::net::secure::SecurityFacts::is_plain"
    )]
    pub connections: crate::net::secure::SecurityFacts,
    /// How the links between regions were made (the relay; whether the
    /// kernel had netem); empty without links.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub links_mechanism: String,
    /// The server each node reported at the end (`INFO server`): `redis
    /// 7.0.15`, `valkey 9.1.2`; `unknown` for a node that did not answer.
    /// Absent in records made before servers could differ.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub servers: BTreeMap<String, String>,
}

impl Environment {
    /// The server(s) the run ran on, for the report's engine line: `redis
    /// 7.0.15`, or `mixed: redis 7.0.15 ×4, valkey 9.1.2 ×2`.
    pub fn server_line(&self) -> String {
        if self.servers.is_empty() {
            return format!("redis {}", self.redis_version);
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for s in self.servers.values() {
            *counts.entry(s.as_str()).or_default() += 1;
        }
        if counts.len() == 1 {
            return counts.into_keys().next().unwrap_or_default().to_string();
        }
        let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{s} ×{n}")).collect();
        format!("mixed: {}", parts.join(", "))
    }
}

/// The reshard's figures, stored with the run so a re-check needs no cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReshardSummary {
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub slots_moved: u64,
    pub keys_moved: u64,
    pub bytes_moved: u64,
    pub duration_ms: f64,
    pub keys_per_s: f64,
    pub slots_per_s: f64,
    /// Keys a move found on both nodes with different values: the value of
    /// the node giving the key up replaced the other (as `redis-cli
    /// --cluster fix --cluster-replace` does). A split the faults made; each
    /// overwritten value is gone.
    #[serde(default)]
    pub keys_overwritten: u64,
    /// The first [`MAX_OVERWRITTEN_LISTED`] of them, with both values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overwritten: Vec<OverwrittenKey>,
    /// How the slots moved: `keys` (key by key, MIGRATE) or `atomic` (the
    /// server's own slot migration); absent in runs from before there was a choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// With `atomic`: each migration the servers ran, as they recorded it and
    /// as the engine saw it, failed and cancelled ones included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<MigrationRecord>,
}

/// One atomic slot migration (Valkey 9's `CLUSTER MIGRATESLOTS` job): the
/// server's own record (`CLUSTER GETSLOTMIGRATIONS` on the source) beside
/// what the engine saw polling it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MigrationRecord {
    /// The server's name for the job (the same on source and target).
    pub name: String,
    pub source: String,
    pub target: String,
    /// As the server lists them (`0-999`).
    pub slot_ranges: String,
    pub slots: usize,
    /// The last state seen: `success`, `failed` or `cancelled` once it ended.
    pub state: String,
    /// The server's message (why it failed), empty when none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Each state the engine saw, with when it first saw it (ms from the
    /// reshard's start; polled every few ms, so a state shorter than a poll
    /// may be missing).
    pub states: Vec<SeenState>,
    /// From the command that started it to the poll that saw it end (ms).
    pub duration_ms: f64,
    /// How long the source was seen in its write pause (`waiting-to-pause`,
    /// `failover-paused`, `failover-granted`), to the polling's resolution;
    /// `None` when no poll fell inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_seen_ms: Option<f64>,
    /// Copy-on-write of the snapshot's fork, bytes (the server's figure).
    pub cow_size: u64,
    /// The server's own times, Unix seconds.
    pub server_create_time: i64,
    pub server_last_update_time: i64,
    /// Keys of the moved slots on the target after it succeeded
    /// (`CLUSTER COUNTKEYSINSLOT`); `None` when it did not succeed or the
    /// count could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_on_target: Option<u64>,
}

/// A state of a migration and when the engine first saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeenState {
    pub state: String,
    /// ms from the reshard's start.
    pub at_ms: f64,
}

/// How many overwritten keys report.json lists (the count is exact).
pub const MAX_OVERWRITTEN_LISTED: usize = 100;

/// A drill written to show a hazard: the SLOs the hazard breaks (the
/// scenario's `expect:`, kept in the run's record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// The SLOs expected to fail, as the report's SLO results name them
    /// (`max_staleness_ms`, `max_app_write_downtime_ms[us-east]`); may be
    /// empty when `may_fail` is not.
    #[serde(default)]
    pub fail: Vec<String>,
    /// SLOs the hazard breaks in some runs and not in others: either result
    /// meets the expectation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub may_fail: Vec<String>,
    /// Why, in the scenario's words: shown beside the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// A key that two nodes held with different values, moved with REPLACE
/// under `KeyConflicts::Replace`: `from`'s value replaced `to`'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverwrittenKey {
    pub slot: u16,
    pub key: String,
    /// The node that gave the key up; its value was kept.
    pub from: String,
    /// The node whose value was overwritten.
    pub to: String,
    /// The values (a string's bytes, lossy; `(a list)` and the like for
    /// other types; `(gone)` when the key had expired meanwhile).
    pub kept: String,
    pub overwritten: String,
}

/// What the topology's `maxmemory-policy` lets the server remove.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Eviction {
    /// `noeviction`, or no `maxmemory`: a key is only removed by a DEL or its TTL.
    #[default]
    None,
    /// `volatile-lru`, `volatile-lfu`, `volatile-random`, `volatile-ttl`:
    /// keys with a TTL.
    Volatile,
    /// `allkeys-lru`, `allkeys-lfu`, `allkeys-random`: any key.
    AllKeys,
}

impl Eviction {
    /// The policy a `maxmemory-policy` value names (case-insensitive);
    /// `noeviction` and anything unknown evict nothing.
    pub fn of(policy: &str) -> Eviction {
        let p = policy.trim().to_ascii_lowercase();
        if p.starts_with("allkeys-") {
            Eviction::AllKeys
        } else if p.starts_with("volatile-") {
            Eviction::Volatile
        } else {
            Eviction::None
        }
    }

    /// The policy of a set of nodes: the most permissive any of them has
    /// (a nil from the node that evicts is acceptable; a checker cannot
    /// tell which node a key's value lived on across failovers).
    pub fn widest<'a>(policies: impl IntoIterator<Item = &'a str>) -> Eviction {
        policies
            .into_iter()
            .map(Eviction::of)
            .max()
            .unwrap_or_default()
    }

    /// The name the spec and the reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Eviction::None => "none",
            Eviction::Volatile => "volatile",
            Eviction::AllKeys => "allkeys",
        }
    }
}
