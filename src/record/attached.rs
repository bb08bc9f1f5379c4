//! A drill on a deployment the tool did not start: what its servers said of
//! themselves when attached, which keys the drill kept to, and everything
//! the tool did to the deployment, in order — the report lists it, because
//! this is someone's system.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The configuration a drill's figures depend on, asked of every attached
/// server with `CONFIG GET` (a server that refuses CONFIG is recorded
/// without it).
pub const CONFIG_RECORDED: &[&str] = &[
    "cluster-node-timeout",
    "cluster-replica-validity-factor",
    "cluster-require-full-coverage",
    "appendonly",
    "appendfsync",
    "save",
    "maxmemory",
    "maxmemory-policy",
    "min-replicas-to-write",
    "repl-diskless-sync",
];

/// One server as it described itself when attached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerFacts {
    /// The name the tool gave it.
    pub node: String,
    /// Where the tool reached it.
    pub addr: String,
    /// `redis_version` (or `valkey_version`) from INFO server.
    pub version: String,
    /// `primary` or `replica`, from INFO replication.
    pub role: String,
    /// The [`CONFIG_RECORDED`] settings it answered.
    pub config: BTreeMap<String, String>,
}

/// One thing the tool did to the deployment, on the run's clock where it
/// has a moment on it (`None`: before the drill's clock started, or after).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ns: Option<u64>,
    pub what: String,
}

/// The attached deployment, as the run found and left it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachedRun {
    /// The addresses given to attach, as given.
    pub seeds: Vec<String>,
    pub servers: Vec<ServerFacts>,
    /// How every connection authenticated and encrypted (no secret).
    #[serde(
        default,
        skip_serializing_if = "crate::net::secure::SecurityFacts::is_plain"
    )]
    pub security: crate::net::secure::SecurityFacts,
    /// The patterns of every key the drill may write (and deleted after).
    pub key_patterns: Vec<String>,
    /// Whether the drill ran without a single write (`--read-only`).
    #[serde(default)]
    pub read_only: bool,
    /// Everything the tool did, in order (the faults' own windows too).
    pub actions: Vec<Action>,
    /// The drill's keys deleted at the end; `None`: the cleanup did not
    /// finish (see [`AttachedRun::cleanup_failed`]).
    pub keys_deleted: Option<u64>,
    /// Why some of the drill's keys may be left behind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cleanup_failed: Vec<String>,
}
