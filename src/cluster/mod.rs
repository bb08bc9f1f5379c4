//! Cluster administration written in Rust: CLUSTER NODES parsing,
//! create (MEET, ADDSLOTSRANGE, REPLICATE), wait-for-convergence, and the four
//! checks of `redis-cli --cluster check`.
//!
//! - [`nodes`]  — `CLUSTER NODES` parsing (pure).
//! - [`error`]  — [`ClusterError`].
//! - [`conn`]   — [`Member`], [`AddressMap`] (the controller only reaches loopback), node connections.
//! - [`admin`]  — [`create`], [`add_node`] and [`wait_converged`].
//! - [`failover`] — manual failover (`CLUSTER FAILOVER [FORCE|TAKEOVER]`) and its wait.
//! - [`role`]   — `ROLE` parsed, and the wait until a node is primary.
//! - [`replication`] — classic replication (`kind: replicated`): roles (`ROLE`),
//!   the failover to a replica, the wait until replication is whole.
//! - [`health`] — a cluster's health as `redis-cli --cluster check` judges it: a pure [`health::evaluate`] and the loader.
//! - [`view`]   — per-node views for the status report.
//! - [`client`] — a redis-rs cluster client that goes through the address map, and
//!   node connections that write ASKING with the command it is for.
//! - [`reshard`] — live resharding: slot moves (pure), the engine, fixing open slots.
//! - [`keyspace`] — the keyspace sampler: every node's evictions, expiries,
//!   hits, misses and memory each second (`INFO stats` + `memory`), and their
//!   per-phase deltas (pure).
//! - [`watch`]  — the watcher: every node's view polled over a drill (its
//!   analyses are the checker's).
//! - `poll`     — the polling loop both of those run on each node.

pub mod admin;
pub mod client;
pub mod conn;
pub mod error;
pub mod failover;
pub mod health;
pub mod keyspace;
pub mod nodes;
mod poll;
pub mod replication;
pub mod reshard;
pub mod role;
pub mod sentinel;
pub mod view;
pub mod watch;

pub use crate::record::watch::Role;
pub use admin::{
    AddNodeReport, ConvergeOptions, ConvergeReport, CreateReport, POLL_INTERVAL, add_node, create,
    forget_node, forget_strangers, wait_converged,
};
pub use client::{
    AskingConnection, AskingInOneWrite, ClientOptions, NearestCopy, REDIS_RS_VERSION, Reads,
    cluster_client, connect_app,
};
pub use conn::{AddressMap, ConnectOptions, LoopbackOnly, MappedNode, Member, OwnAddressesOnly};
pub use error::ClusterError;
pub use failover::{FailoverReport, manual_failover};
pub use health::{Finding, Health, HealthOptions, LoadedNode, health, health_with, stray_keys};
pub use nodes::{NodeFlags, NodeLine, NodesParseError, parse_cluster_nodes};
pub use reshard::{
    FixReport, Progress, ReshardOptions, ReshardReport, SlotMove, SlotMoves, SlotOwners,
    drain_moves, execute, fix_open_slots, moves_between, rebalance_moves,
};
pub use view::{NodeView, node_views};
pub use watch::Watcher;
