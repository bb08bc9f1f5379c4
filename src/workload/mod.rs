//! Workload generation, clients and the operation history.
//!
//! After Jepsen's split: *what happens* is plain data ([`WorkloadSpec`] and the
//! seeded generator), *how it is done* are the clients (the redis-rs cluster
//! client an application would use, and the drill's own probe), and what was
//! seen is the [`History`] the checkers read.
//!
//! - [`spec`]      — [`WorkloadSpec`], the `workload:` section of a scenario.
//! - [`adapter`]   — other client libraries, each an adapter process speaking
//!   JSON lines (the protocol of docs/clients.md).
//! - `classify`    — how a redis-rs error becomes an op's outcome (the ops
//!   themselves, the history, are [`crate::record::ops`]).
//! - `generator`   — per-client seeded op streams (pure).
//! - `schedule`    — the open loop's constant-arrival-rate schedule and its
//!   dispatcher, on any clock (pure).
//! - `lanes`       — which connection an op goes out on; the pool grows when all are busy.
//! - [`sharding`]  — how a client finds a key's node, by topology kind (pure).
//! - `router`      — the slot map and node connections of the probe (and of
//!   app clients on topologies that are not a cluster).
//! - `exec`        — one op on one connection.
//! - [`runner`]    — [`Workload`]: the clients on threads of their own.
//! - [`reference`] — [`Reference`]: a raw PING per primary on a thread each, the
//!   server-side figure beside the clients'.
//! - [`preload`]   — [`load`] before the run and [`read_final`] after it.
//! - [`locks`]     — the lock workload: workers contending for locks (one
//!   instance or Redlock), fencing tokens, protected resources, its own history.
//! - [`error`]     — [`WorkloadError`], what setting up, loading or reading back can fail on.
//! - `thread`      — timer slack and priority of the workload's own threads.
//! - `timer`       — a timerfd in the event loop's reactor: wake-ups at the due time.

mod adapted;
pub mod adapter;
mod classify;
pub mod error;
mod exec;
mod generator;
pub mod groups;
pub mod invalidation;
mod lanes;
pub mod locks;
pub mod place;
pub mod preload;
pub mod reference;
pub mod replication;
mod router;
pub mod runner;
mod schedule;
pub mod sharding;
pub mod spec;
pub mod stampede;
pub(crate) mod thread;
mod timer;

pub use classify::classify;
pub use error::WorkloadError;
pub use place::Place;
pub use preload::{LoadReport, load, read_final};
pub use reference::Reference;
pub use runner::{Recorded, Workload};
pub use sharding::Sharding;
pub use spec::{
    AppConnection, ClientGroup, Clients, Distribution, Mix, Model, ReplicaReads, SizeDraw,
    ValueSize, WaitSpec, WeightedSize, WorkloadSpec,
};
