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
//! - [`check`]  — the checks of `redis-cli --cluster check`: a pure [`check::evaluate`] and the loader.
//! - [`view`]   — per-node views for the status report.
//! - [`client`] — a redis-rs cluster client that goes through the address map, and
//!   node connections that write ASKING with the command it is for.
//! - [`reshard`] — live resharding: plans (pure), the engine, fixing open slots.
//! - [`keyspace`] — the keyspace sampler: every node's evictions, expiries,
//!   hits, misses and memory each second (`INFO stats` + `memory`), and their
//!   per-phase deltas (pure).
//! - [`watch`]  — the watcher: every node's view polled over a drill (its
//!   analyses are the checker's).

pub mod admin;
pub mod check;
pub mod client;
pub mod conn;
pub mod error;
pub mod failover;
pub mod keyspace;
pub mod nodes;
pub mod replication;
pub mod reshard;
pub mod role;
pub mod view;
pub mod watch;

pub use crate::record::watch::Role;
pub use admin::{
    AddNodeReport, ConvergeOptions, Convergence, CreateOptions, CreateReport, POLL_INTERVAL,
    add_node, create, forget_strangers, wait_converged,
};
pub use check::{Check, CheckOptions, CheckReport, CheckedNode, check, check_with, stray_keys};
pub use client::{
    AppConnection, AskingInOneWrite, ClientOptions, NearestCopy, Reads, cluster_client, connect_app,
};
pub use conn::{AddressMap, ConnectOptions, LoopbackOnly, MappedNode, Member, OwnAddressesOnly};
pub use error::ClusterError;
pub use failover::{FailoverReport, manual_failover};
pub use nodes::{NodeFlags, NodeLine, NodesParseError, parse_cluster_nodes};
pub use reshard::{
    FixReport, Plan, Progress, ReshardOptions, ReshardReport, SlotMove, SlotOwners, execute,
    fix_open_slots, plan_drain, plan_move, plan_rebalance,
};
pub use view::{NodeView, node_views};
pub use watch::Watcher;
