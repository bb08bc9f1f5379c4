//! How the engine moves slots: batch sizes, concurrency, timeouts, and what
//! happens to a slot in flight on a cancel. Shared by [`super::execute`] and
//! [`super::fix_open_slots_with`].

pub use crate::record::run::{MigrationRecord, OverwrittenKey};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::cluster::conn::ConnectOptions;

/// Keys per MIGRATE. redis-cli moves 10. A MIGRATE holds the source until
/// the target has restored every key and answered (Redis 7.0 reads those
/// answers one byte per read(2)): ~10 us a key on the 2-core machine here, so
/// a batch of 1000 keys of 100 B holds the source ~10 ms while its clients
/// wait. Larger batches save round trips, not that per-key work; smaller ones
/// shorten the waits (100: ~1 ms, but ~1.8x longer moves of 100,000 keys).
pub const DEFAULT_BATCH_KEYS: usize = 1000;

/// Slots in flight at once. Each slot costs five sequential round trips
/// (IMPORTING, MIGRATING + first GETKEYSINSLOT, MIGRATE + GETKEYSINSLOT per
/// batch, NODE on the target, NODE everywhere else), and every node rewrites
/// and fsyncs nodes.conf when it learns a new owner; slots in flight together
/// share those round trips and writes. Measured on 2 cores (2000 slots of 18
/// keys): 8 in flight ~1.2-1.8 s, 32 ~1.0 s, 64 ~0.9 s with clients slowed
/// further; slots with many keys are bounded by the per-node key budget instead.
pub const DEFAULT_PARALLEL_SLOTS: usize = 32;

/// Keys in MIGRATEs in flight per node (as source or target): one full
/// batch. A node runs one command at a time and a MIGRATE holds it until
/// every key is restored on the target (which likewise runs the batch's
/// RESTOREs in one go), so full batches queued back to back on a node make
/// its clients wait for all of them; one at a time lets their commands in
/// between batches, at the cost of a round trip per batch. Slots with few
/// keys still migrate many at once.
pub const DEFAULT_KEYS_IN_FLIGHT_PER_NODE: usize = DEFAULT_BATCH_KEYS;

/// MIGRATE's own I/O timeout (ms) between source and target. redis-cli uses
/// 60 s; on the links a drill builds a target that is idle for 10 s is a fault.
pub const DEFAULT_MIGRATE_TIMEOUT_MS: u64 = 10_000;

/// TimeBox on closing one slot after an error or a cancel (rolling back up to a
/// whole slot of keys), on top of the operation's own timeout.
pub const DEFAULT_SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of [`execute`] (and of [`super::fix_open_slots_with`]).
#[derive(Debug, Clone)]
pub struct ReshardOptions {
    /// Keys per MIGRATE (and per GETKEYSINSLOT).
    pub batch_keys: usize,
    /// Slots moved concurrently; a slot is only ever handled by one task.
    pub parallel_slots: usize,
    /// Keys in MIGRATE commands in flight per node, as source or target; 0
    /// for no limit. A batch larger than this waits until it is alone.
    pub keys_in_flight_per_node: usize,
    pub migrate_timeout_ms: u64,
    /// TimeBox on the whole operation. When it passes, the slots in flight are
    /// closed (within `settle_timeout`) and a timeout is returned.
    pub timeout: Duration,
    /// TimeBox on closing each slot in flight after an error, a cancel or the timeout.
    pub settle_timeout: Duration,
    /// Stops the operation between two batches; the slots in flight are closed first.
    pub cancel: CancellationToken,
    /// How a slot in flight is closed on a cancel or the timeout (after an
    /// error it is always rolled back, unless the source is already empty).
    pub on_cancel: OnCancel,
    /// Sum MEMORY USAGE of the migrated keys into [`ReshardReport::bytes_moved`]
    /// (one more command per key, in the same round trip as the MIGRATE).
    pub measure_bytes: bool,
    /// Connection timeouts; the response timeout is raised to cover a MIGRATE.
    pub connect: ConnectOptions,
    /// What a move does with a key both nodes hold with different values.
    pub on_conflict: KeyConflicts,
    /// Key by key, the server's atomic slot migration, or whichever the nodes support.
    pub method: Method,
    /// Every atomic migration's record as it ends, failed and cancelled ones
    /// included (an operation that fails returns no report).
    pub migrations: MigrationLog,
    /// Key by key: keep each source's PING under this many ms by lowering
    /// keys per MIGRATE and slots in flight when it rises (`--max-impact-ms`;
    /// `batch_keys` and `parallel_slots` are then the ceilings).
    pub max_impact_ms: Option<f64>,
    /// Atomic: at most this many keys per server job (`--atomic-job-keys`);
    /// `None`, one job per source and target. A job's end deletes its keys
    /// on the source in one go, holding its clients meanwhile.
    pub atomic_job_keys: Option<u64>,
}

impl ReshardOptions {
    /// The defaults with the two settings every caller must choose.
    pub fn new(timeout: Duration, cancel: CancellationToken) -> Self {
        ReshardOptions {
            batch_keys: DEFAULT_BATCH_KEYS,
            parallel_slots: DEFAULT_PARALLEL_SLOTS,
            keys_in_flight_per_node: DEFAULT_KEYS_IN_FLIGHT_PER_NODE,
            migrate_timeout_ms: DEFAULT_MIGRATE_TIMEOUT_MS,
            timeout,
            settle_timeout: DEFAULT_SETTLE_TIMEOUT,
            cancel,
            on_cancel: OnCancel::RollBack,
            measure_bytes: false,
            connect: ConnectOptions::default(),
            on_conflict: KeyConflicts::Stop,
            method: Method::Keys,
            migrations: MigrationLog::default(),
            max_impact_ms: None,
            atomic_job_keys: None,
        }
    }

    /// The connection options of the engine: a MIGRATE can take up to its own
    /// timeout before the source answers, so replies may take that long.
    pub(crate) fn engine_connect(&self) -> ConnectOptions {
        ConnectOptions {
            connect_timeout: self.connect.connect_timeout,
            response_timeout: self
                .connect
                .response_timeout
                .max(Duration::from_millis(self.migrate_timeout_ms) + Duration::from_secs(2)),
        }
    }
}

impl Default for ReshardOptions {
    /// 10 minutes (a million keys take seconds; the bound is for stuck nodes), never cancelled.
    fn default() -> Self {
        ReshardOptions::new(Duration::from_secs(600), CancellationToken::new())
    }
}

/// How a slot in flight is closed when the operation is cancelled or times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnCancel {
    /// Finish it when the source already gave all its keys, else bring the
    /// moved keys back to the source. Rolling back runs against the clients'
    /// redirects: the source must be made stable before it accepts the keys
    /// back, and until each key is back a client reading it from the source
    /// finds nothing (and a write there creates a second copy, which wins).
    RollBack,
    /// Finish it: migrate the rest of its keys and assign it to the target.
    /// The slot then ends on the target, but clients never see a key missing.
    Finish,
}

/// What a move does with a key that both nodes hold with different values
/// (MIGRATE answers `BUSYKEY`). Equal values are always moved with REPLACE.
#[derive(Debug, Clone, Default)]
pub enum KeyConflicts {
    /// Stop and name the keys ([`crate::cluster::ClusterError::BusyKeys`]):
    /// neither value is lost. A move that was rolling back leaves the key on
    /// the node that does not serve the slot (a stray key) and reports it.
    #[default]
    Stop,
    /// As `redis-cli --cluster fix --cluster-replace`: the value of the node
    /// that gives the key up replaces the other (MIGRATE REPLACE), and each
    /// key overwritten so is written to the log, with both values.
    Replace(Overwrites),
}

/// The keys [`KeyConflicts::Replace`] overwrote, shared by the caller and
/// every move and fix the options go to, in the order they were overwritten.
#[derive(Debug, Clone, Default)]
pub struct Overwrites(Arc<Mutex<Vec<OverwrittenKey>>>);

impl Overwrites {
    /// Log a key REPLACE overwrote, from any slot task.
    pub(crate) fn push(&self, k: OverwrittenKey) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(k);
    }

    /// Everything overwritten so far; the log is left empty.
    pub fn take(&self) -> Vec<OverwrittenKey> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// How slots move.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Key by key: SETSLOT IMPORTING/MIGRATING, MIGRATE in batches, SETSLOT
    /// NODE — every Redis and Valkey; clients meet ASK and TRYAGAIN meanwhile.
    /// The default, as with `redis-cli --cluster` and `valkey-cli --cluster`.
    #[default]
    Keys,
    /// The server's own atomic slot migration (Valkey 9.0+ `CLUSTER
    /// MIGRATESLOTS`): refused before anything moves when a node involved
    /// lacks it.
    Atomic,
    /// Atomic when every node involved supports it, else key by key.
    Auto,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Keys => "keys",
            Method::Atomic => "atomic",
            Method::Auto => "auto",
        }
    }
}

/// The records of the atomic migrations an operation ran, shared by the
/// caller and the engine (as [`Overwrites`]).
#[derive(Debug, Clone, Default)]
pub struct MigrationLog(Arc<Mutex<Vec<MigrationRecord>>>);

impl MigrationLog {
    pub(crate) fn push(&self, r: MigrationRecord) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    }

    /// Every record so far; the log is left empty.
    pub fn take(&self) -> Vec<MigrationRecord> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
