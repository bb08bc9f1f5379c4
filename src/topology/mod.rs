//! Topology files: the YAML model, loading, validation and defaults. Pure: no I/O
//! beyond reading the file.
//!
//! A file is parsed into the *raw* form (exactly what the user wrote, with
//! `deny_unknown_fields`) and then resolved into [`Topology`]: every node named,
//! placed in a region, given its role, its redis.conf directives and, for cluster
//! primaries, its slots. Everything downstream (runtimes, cluster admin, compose)
//! sees only the resolved form.

//!
//! - `model` — the resolved [`Topology`] and its parts (pure data).
//! - `load`  — reading a file into a [`Topology`], with positioned errors.

mod load;
mod model;

pub use load::{
    DEFAULT_NODE_TIMEOUT_MS, DEFAULT_REGION, MAX_NODES, NAME_MAX, Position, TopologyError,
};
pub(crate) use load::{Doc, parse_document, valid_name};
pub use model::{
    AuthMode, ClusterSettings, Kind, Link, NodeSpec, RUNTIME_OWNED, Region, Role, RuntimeKind,
    SecuritySpec, SentinelSpec, Sentinels, Server, Topology,
};
