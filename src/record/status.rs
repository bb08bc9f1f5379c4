//! The topology report (`status --json`, and the topology before and after a
//! drill in its record): each node's role, region, address, slots, keys and
//! memory, and the cluster's state. `crate::status` reads it off a running
//! deployment; the report renders it. And who owns which slots, as ranges
//! ([`OwnedRange`]): at the start of a drill, and when each fault hit.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::topology::{Kind, Role, RuntimeKind};

/// A deployment as read at one moment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusReport {
    pub name: String,
    pub run_id: String,
    pub runtime: RuntimeKind,
    pub kind: Kind,
    pub nodes: Vec<NodeStatus>,
    /// Cluster-wide figures; `null` for standalone and replicated topologies.
    pub cluster: Option<ClusterStatus>,
    /// Each Sentinel's view of the primary (`sentinel:`); absent without.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sentinels: Vec<SentinelStatus>,
}

/// One Sentinel as the topology report shows it: which primary it names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentinelStatus {
    pub name: String,
    pub region: String,
    /// Where a client on this host reaches it.
    pub address: SocketAddr,
    /// The node it names as the primary (`SENTINEL MASTER`), by name; the
    /// address when no node has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// Its configuration epoch: one more for each failover it has seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_epoch: Option<u64>,
    /// Its flags for the primary (`master`, `s_down`, `o_down`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    /// The replicas and other Sentinels it knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_sentinels: Option<u64>,
    /// Why it could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One node as the topology report shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeStatus {
    pub name: String,
    /// The role the node reports now (it changes under failover); `null` when
    /// the node could not be read.
    pub role: Option<Role>,
    pub region: String,
    /// Where a client on this host reaches the node (127.0.0.0/8).
    pub address: SocketAddr,
    /// What the node announces to its peers (a container IP for docker).
    pub announce: SocketAddr,
    /// The host that runs it, where the deployment spans several (the
    /// swarm runtime's engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// For a primary: the names of its replicas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_of: Option<Vec<String>>,
    /// For a replica: the name of its primary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_of: Option<String>,
    /// Slots served (cluster primaries; 0 otherwise).
    pub slots: usize,
    pub slot_ranges: Vec<String>,
    pub keys: Option<u64>,
    pub used_memory_bytes: Option<u64>,
    /// `cluster_state` as this node reports it (cluster only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_state: Option<String>,
    /// Why the node could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The cluster-wide part of the topology report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// `ok` when every node reports cluster_state:ok, else `fail`.
    pub state: String,
    /// Slots served by the primaries (out of 16384).
    pub slots_assigned: usize,
    /// Every node readable and reporting the same slot map and node set.
    pub nodes_agree: bool,
}

/// Slots `from..=to`, owned by `node`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedRange {
    pub from: u16,
    pub to: u16,
    pub node: String,
}

/// The slot → owner table as ranges.
pub fn slot_ranges(owner_of: impl Fn(u16) -> String) -> Vec<OwnedRange> {
    let mut out: Vec<OwnedRange> = Vec::new();
    for slot in 0..crate::slots::SLOT_COUNT {
        let node = owner_of(slot);
        match out.last_mut() {
            Some(r) if r.node == node && r.to + 1 == slot => r.to = slot,
            _ => out.push(OwnedRange {
                from: slot,
                to: slot,
                node,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ranges_merge_runs_of_one_owner() {
        let r = slot_ranges(|s| if s < 100 { "a".into() } else { "b".into() });
        assert_eq!(
            r,
            vec![
                OwnedRange {
                    from: 0,
                    to: 99,
                    node: "a".into()
                },
                OwnedRange {
                    from: 100,
                    to: 16383,
                    node: "b".into()
                },
            ]
        );
    }
}
