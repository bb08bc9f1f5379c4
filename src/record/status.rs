//! The topology report (`status --json`, and the topology before and after a
//! drill in its record): each node's role, region, address, slots, keys and
//! memory, and the cluster's state. `crate::status` reads it off a running
//! deployment; the report renders it.

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
}

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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// `ok` when every node reports cluster_state:ok, else `fail`.
    pub state: String,
    /// Slots served by the primaries (out of 16384).
    pub slots_assigned: usize,
    /// Every node readable and reporting the same slot map and node set.
    pub nodes_agree: bool,
}
