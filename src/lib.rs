//! redis-drill: bring up Redis topologies described in YAML, drive changes and
//! faults through them under load, and report what clients saw.
//!
//! # Layout
//!
//! - [`exit`]      — exit codes, the contract with scripts, and the classes of failure
//!   (bad input, environment, interrupted) that each module's errors report.
//! - [`slots`]     — slot math: CRC16 key slots, ranges (pure; topology, cluster and checker use it).
//! - [`topology`]  — the YAML model, loading and validation with file:line:col errors (pure).
//! - [`runtime`]   — the `Runtime` handle over one backend (`runtime::Backend`):
//!   docker (bollard) and process, each a folder with its nodes, its partitions
//!   (iptables DROP rules that make a grudge real), its links between regions
//!   (the delaying relay and the rules that feed it) and its clients' places;
//!   cleanup by run id; the offline image build.
//! - [`net`]       — the network protocol every backend implements (`net::Net`:
//!   partition, heal, can_partition, set links, measure links); partitions as grudges
//!   (pure shapes); which pairs of addresses a link impairs; the dialer that
//!   binds a client's source address to its region.
//! - [`cluster`]   — CLUSTER NODES parsing, create / health (`redis-cli --cluster check`) / wait-for-convergence,
//!   live resharding (slot moves, the migration engine, fixing open slots), the
//!   watcher that records every node's view during a drill; and for classic
//!   replication, roles (`ROLE`), failover to a replica and its convergence.
//! - [`faults`]    — the nemesis: targets, fault schedules, and the executor that
//!   applies them and heals everything on every exit path.
//! - [`workload`]  — the open loop's schedule and event loops, app and probe clients, the
//!   routing of each topology kind (cluster slot map, client shards, the primary of the
//!   moment), the server-side reference (raw PINGs); every operation recorded with its
//!   due, sent and end times (get, set with or without a TTL, incr, del, and
//!   MULTI/EXEC on hash-tagged groups with their MGET); the lock workload (one instance or Redlock, fencing tokens,
//!   protected resources, its history).
//! - [`record`]    — the stored run, written before anything is checked: the ops
//!   history, the lock history, the watcher's recording, the PINGs, the
//!   timeline and faults, `record.json`; the run folder's read/write, every
//!   JSON-lines file counted and ended, read back whole or refused.
//! - [`checker`]   — pure functions from history, the watcher's recording and the timeline
//!   to figures (lost writes, downtime, latency, service time and tool lag, the
//!   self-check, failover and rejoin timelines, lock safety and liveness,
//!   counters' lost and over-counted increments, torn transactions, TTL accuracy).
//! - [`report`]    — report.json (the source of truth), Markdown, HTML (charts drawn with
//!   plotters' SVG backend, inlined), JUnit (quick-junit); run folders; tri-state
//!   verdicts; the headline figures and `compare`'s diff of two sets of runs, and a
//!   nightly's summary, index and JUnit with its trend (pure).
//! - [`host`]      — what the machine itself did: CPU time its hypervisor stole.
//! - [`compose`]   — the docker-compose equivalent of a topology (pure).
//! - [`bringup`]   — `up` end to end: nodes, then the cluster created and converged, timed.
//! - [`attach`]    — a deployment the tool did not start, discovered from seed addresses.
//! - [`scenarios`] — scenario files (what a drill does, its lock workload, its SLOs); a drill as a plan of
//!   steps (pure) and the short interpreter that runs it, its steps emitting typed events
//!   the timeline and the terminal subscribe to; the check stage (pure): one
//!   protocol, each checker the stored run in and its section of the report
//!   out, composed, then judged by the table of every SLO (name, unit, bound,
//!   what it counts, when it is `unknown`, the section it reads).
//! - [`status`]    — the topology report of a running deployment: roles, slots, keys, memory.
//! - [`planner`]   — the capacity planner's report: rates sampled over an interval
//!   (`collect`), headroom, fill times and the reshard that evens out memory
//!   (`arithmetic`, pure), rendered as Markdown and HTML (`render`).
//! - [`cli`]       — the clap front end: one file per command, the dispatcher, the
//!   interrupt helper (SIGINT/SIGTERM cancels and waits for cleanup), the one error
//!   type of the edge.
//!
//! Data flows one way: topology → runtime → cluster → report. No part reaches
//! back up the chain.

/// Write a line to stderr, ignoring failure: a parent that went away (closed
/// pipe) must not turn a notice into a panic half-way through cleanup.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Write to stdout, ignoring failure (`redis-drill status | head -1` must not panic).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `out!` with a newline.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod attach;
pub mod bringup;
pub mod checker;
pub mod cli;
pub mod cluster;
pub mod compose;
pub mod exit;
pub mod faults;
pub mod host;
pub mod lab;
pub mod net;
pub mod planner;
pub mod record;
pub mod report;
pub mod runtime;
pub mod scenarios;
pub mod slots;
pub mod status;
pub mod topology;
pub mod workload;
