//! Live resharding, in Rust (no redis-cli): the slots to move and the
//! engine that executes them under load.
//!
//! - [`moves`]  — [`SlotOwners`] and the functions [`moves_between`], [`rebalance_moves`],
//!   [`drain_moves`] (pure): *what* moves.
//! - [`engine`] — [`execute`]: *how* — SETSLOT IMPORTING/MIGRATING, GETKEYSINSLOT +
//!   MIGRATE in batches, SETSLOT NODE, several slots at once; never leaves a slot open.
//!   Or ([`Method::Atomic`]) the server's own atomic migration, in `atomic`.
//! - [`options`] — [`ReshardOptions`]: batches, concurrency, timeouts, what a cancel does.
//! - [`fix`]    — [`fix_open_slots`]: close slots a killed controller left open.
//! - `live`     — the reachable nodes, one connection each, and their own views.
//! - `steps`    — the MIGRATE loop (BUSYKEY handled as redis-cli does) and SETSLOT.
//!
//! Typical use, as `redis-drill reshard` does it:
//!
//! ```no_run
//! # async fn demo(map: &redis_drill::cluster::AddressMap) -> Result<(), redis_drill::cluster::ClusterError> {
//! use redis_drill::cluster::ConnectOptions;
//! use redis_drill::cluster::reshard::{ReshardOptions, SlotOwners, execute, moves_between};
//! let owners = SlotOwners::load(map, ConnectOptions::default()).await?;
//! let plan = moves_between(&owners, "s1n1", "s2n1", 500)?;
//! let report = execute(map, &plan, &ReshardOptions::default(), &mut |p| {
//!     eprintln!("{}/{} slots, {} keys", p.slots_done, p.slots_total, p.keys_moved)
//! })
//! .await?;
//! println!("{} keys in {:?}", report.keys_moved, report.duration);
//! # Ok(()) }
//! ```

mod atomic;
pub mod engine;
pub mod fix;
mod live;
pub mod moves;
pub mod options;
mod steps;
mod throttle;

pub use engine::{BusyKey, Progress, ReshardReport, execute};
pub use fix::{FixAction, FixReport, FixedSlot, fix_open_slots, fix_open_slots_with};
pub use moves::{
    MoveGroup, REBALANCE_THRESHOLD, SlotMove, SlotMoves, SlotOwners, drain_moves, moves_between,
    rebalance_moves,
};
pub use options::{
    DEFAULT_BATCH_KEYS, DEFAULT_KEYS_IN_FLIGHT_PER_NODE, DEFAULT_MIGRATE_TIMEOUT_MS,
    DEFAULT_PARALLEL_SLOTS, DEFAULT_SETTLE_TIMEOUT, KeyConflicts, Method, MigrationLog,
    MigrationRecord, OnCancel, Overwrites, OverwrittenKey, ReshardOptions,
};
pub use throttle::ImpactReport;
