//! The process backend: redis-server processes on loopback, for machines
//! with no Docker engine (and for fast local runs).
//!
//! Each node gets its own address, 127.0.B.(11+i), with one block B per
//! run, so the host's iptables can drop traffic between pairs of nodes, and
//! every node can use the standard ports. A run lives in its own directory,
//! `<base>/<run-id>/`, holding `deployment.json` and one directory per node
//! (redis.conf, nodes.conf, redis.log). The run directory plays the part of
//! the Docker label: every redis-server we start has its path on its
//! command line, so cleanup finds our processes — and only ours — from
//! /proc.
//!
//! - [`engine`]: bring-up, node actions, listing and removal;
//! - [`procs`]: our processes, found, signalled, killed;
//! - [`blocks`]: the loopback block each run claims;
//! - [`partitions`]: grudges as the run's host chain;
//! - [`links`]: links through the run's relay process and host rules;
//! - [`backend`]: the [`crate::runtime::Backend`] and [`crate::net::Net`]
//!   implementations, handing over to the files above.

pub mod backend;
pub mod blocks;
pub mod engine;
pub mod links;
pub mod partitions;
pub mod procs;

pub use engine::{ProcessRuntime, STATE_DIR_ENV};
pub use partitions::process_chain;
