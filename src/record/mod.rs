//! The stored run: what a drill records before anything is checked. The
//! workload, the watcher, the nemesis and the drill write it; the checker
//! reads it and nothing else, so any stored run can be checked again
//! (`redis-drill check-run`).
//!
//! - [`ops`]         — the clients' history: every op with its due, sent and end
//!   times, its target and outcome; the engine's own counts.
//! - [`locks`]       — the lock workload's history: attempts, grants, releases,
//!   resource writes, pauses, between its setup and its end line.
//! - [`watch`]       — the watcher's recording of every node's view.
//! - [`pings`]       — the reference PINGs and the servers' own command figures.
//! - [`replication`], [`stampede`], [`keyspace`] — the replication probe's, the
//!   stampede workload's and the keyspace sampler's recordings.
//! - [`invalidation`] — the invalidation workload's history: store writes,
//!   invalidations, fills and reads, every cached value naming its versions.
//! - [`sentinel`]    — the Sentinels' events as the tool heard them, and
//!   when it was listening to each.
//! - [`faults`]      — the faults as they happened, each a window on the run's clock.
//! - [`timeline`]    — the run's monotonic clock, its phases and events.
//! - [`status`]      — the topology report (the topology before and after).
//! - [`run`]         — `record.json`: the scenario's SLOs and settings, the
//!   environment, the timeline, the reshard's summary, the end state.
//! - [`attached`]    — on a deployment the tool did not start: its servers,
//!   the drill's key patterns, and what the tool did to it, in order.
//! - [`regions`]     — which region a client or worker number stands in.
//! - [`jsonl`]       — counted JSON lines: every such file ends with its count.
//! - [`valid`]       — what a stored run must be to be judged: possible times,
//!   known nodes and clients, no op twice, no op missing.
//! - [`folder`]      — the run folder: [`Stored`], written whole and read back
//!   whole or refused (cut short, duplicated, impossible, unknown).

pub mod attached;
pub mod faults;
pub mod folder;
pub mod invalidation;
pub mod jsonl;
pub mod keyspace;
pub mod locks;
pub mod ops;
pub mod pings;
pub mod regions;
pub mod replication;
pub mod run;
pub mod sentinel;
pub mod stampede;
pub mod status;
pub mod timeline;
pub mod valid;
pub mod watch;

pub use folder::{Stored, StoredError};
pub use ops::{ClientMode, ErrorKind, History, Op, OpKind, Outcome, WorkloadStats};
pub use regions::region_of;
pub use run::{KeyValues, RECORD_VERSION, Record};
pub use status::OwnedRange;
