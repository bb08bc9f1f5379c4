//! The lock workload: W workers contending for L locks, on one Redis
//! instance (`SET NX PX`) or on N independent ones (Redlock), each grant
//! carrying a fencing token, and a critical section that writes protected
//! resources — fenced and unfenced, side by side. Every acquire attempt,
//! grant, timeout, extension, release, resource write and client pause is
//! recorded with its times on the run's clock; the pure lock checker
//! ([`crate::checker::locks`]) reads that history and nothing else.
//!
//! - [`spec`]     — [`LockSpec`], the `locks:` section of a scenario (pure).
//! - the events, `locks.jsonl`, are [`crate::record::locks`].
//! - `client`     — the lock client: one algorithm over N instances (grant,
//!   release and extend scripts, quorum, validity, drift).
//! - `resource`   — the protected resources: registers inside the tool.
//! - [`control`]  — who holds which lock now; the holders the nemesis froze.
//! - `worker`     — one worker's loop.
//! - [`runner`]   — [`LockWorkload`]: the workers on a thread of their own.

mod client;
pub mod control;
pub mod error;
mod resource;
pub mod runner;
pub mod spec;
mod worker;

pub use client::LockTarget;
pub(crate) use client::RELEASE_LUA;
pub use control::{LockControl, worker_name};
pub use error::LockError;
pub use runner::LockWorkload;
pub use spec::{Algorithm, HoldDistribution, HoldSpec, LockSpec, ResourceKind};
pub use worker::MAX_EVENTS;
