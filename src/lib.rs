//! redis-drill: bring up Redis topologies described in YAML, drive changes and
//! faults through them under load, and report what clients saw.
//!
//! # Layout
//!
//! - [`exit`]      — exit codes, the contract with scripts.
//! - [`topology`]  — the YAML model, loading and validation with file:line:col errors (pure).
//! - [`runtime`]   — docker (bollard) and process runtimes: bring up, node control,
//!   cleanup by run id; the offline image build.
//! - [`cluster`]   — slot math, CLUSTER NODES parsing, create / check / wait-for-convergence.
//! - [`compose`]   — the docker-compose equivalent of a topology (pure).
//! - [`bringup`]   — `up` end to end: nodes, then the cluster created and converged, timed.
//! - [`status`]    — the topology report of a running deployment.
//! - [`cli`]       — the clap front end and the commands it runs.
//!
//! Data flows one way: topology → runtime → cluster → report. No part reaches
//! back up the chain.

pub mod bringup;
pub mod cli;
pub mod cluster;
pub mod compose;
pub mod exit;
pub mod runtime;
pub mod status;
pub mod topology;
