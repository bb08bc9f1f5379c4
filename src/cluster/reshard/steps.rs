//! The steps every slot move is made of: keys moved with MIGRATE (values
//! compared on BUSYKEY, as redis-cli does), and the SETSLOT commands.

use std::collections::HashSet;
use std::time::Instant;

use redis::Value;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::cluster::conn::NodeConn;
use crate::cluster::error::ClusterError;

use super::live::Node;
use super::options::{KeyConflicts, Overwrites, OverwrittenKey};

/// What to do with a key that exists on both nodes with different values.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OnConflict<'a> {
    /// Stop with [`ClusterError::BusyKeys`]: moving forward, neither value may be lost.
    Stop,
    /// Leave the key where it is and go on: rolling back, the owner's value stays.
    Leave,
    /// Move it with REPLACE (the moving node's value wins) and log both values.
    Replace(&'a Overwrites),
}

impl<'a> OnConflict<'a> {
    /// Moving forward: what the options ask.
    pub fn forward(k: &'a KeyConflicts) -> Self {
        match k {
            KeyConflicts::Stop => OnConflict::Stop,
            KeyConflicts::Replace(log) => OnConflict::Replace(log),
        }
    }

    /// Rolling back (or clearing keys off a node that does not serve the
    /// slot): leave a conflicting key where it is, unless told to replace.
    pub fn rolling_back(self) -> Self {
        match self {
            OnConflict::Replace(log) => OnConflict::Replace(log),
            OnConflict::Stop | OnConflict::Leave => OnConflict::Leave,
        }
    }
}

/// How a drain moves keys: batch size, MIGRATE timeout, whether to measure
/// bytes, and what to do with a conflicting key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrainOpts<'a> {
    pub batch: usize,
    /// With `--max-impact-ms`: the batch is the throttle's, read before
    /// each MIGRATE (`batch` is then its ceiling).
    pub throttle: Option<&'a super::throttle::Throttle>,
    pub migrate_timeout_ms: u64,
    pub measure: bool,
    pub conflicts: OnConflict<'a>,
}

/// What one drain did.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    /// Keys named in MIGRATE commands that succeeded.
    pub keys: u64,
    /// Sum of MEMORY USAGE of those keys (0 unless measured).
    pub bytes: u64,
    /// Keys that existed on both nodes with equal values, moved with REPLACE.
    pub replaced: Vec<Vec<u8>>,
    /// Keys left behind under [`OnConflict::Leave`].
    pub left: Vec<Vec<u8>>,
}

/// Why a drain stopped: asked to between batches, or a failure.
pub(crate) enum DrainError {
    /// `interrupted` said stop between two batches; nothing is half done.
    Interrupted,
    Failed(ClusterError),
}

impl From<ClusterError> for DrainError {
    fn from(e: ClusterError) -> Self {
        DrainError::Failed(e)
    }
}

/// Rounds allowed beyond the keys counted when the drain started: writes
/// redirected with ASK can add keys on a node being drained back, and each
/// BUSYKEY costs one extra MIGRATE.
const SLACK_ROUNDS: u64 = 64;

/// Move every key of `slot` from `from` to `to` with MIGRATE, `opts.batch`
/// keys per command, until `from` holds none (but the keys left under
/// [`OnConflict::Leave`]). The slot must be open on `from` (migrating as its
/// owner, or importing), or `from` refuses MIGRATE with a redirect.
///
/// Each batch is one round trip: [MEMORY USAGE k...] MIGRATE ... KEYS k...
/// and the next CLUSTER GETKEYSINSLOT go in one pipeline. `first` holds the
/// first batch when the caller fetched it already; `expected` (the keys in the
/// slot when it opened) bounds the number of batches.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn drain(
    from: &Node,
    to: &Node,
    slot: u16,
    first: Option<Vec<Vec<u8>>>,
    expected: u64,
    opts: &DrainOpts<'_>,
    hooks: &Hooks<'_>,
) -> Result<Drained, DrainError> {
    let mut c = from.conn();
    let batch_now = || opts.throttle.map_or(opts.batch, |t| t.batch()).max(1);
    let batch = batch_now();
    let mut done = Drained::default();
    let mut left: HashSet<Vec<u8>> = HashSet::new();
    let mut keys = match first {
        Some(k) => k,
        None => get_keys(&mut c, slot, batch).await?,
    };
    // Throttled batches may shrink to the floor.
    let smallest = if opts.throttle.is_some() {
        super::throttle::MIN_BATCH.min(batch)
    } else {
        batch
    };
    let rounds = expected / smallest as u64 + SLACK_ROUNDS;
    for _ in 0..rounds {
        let batch = batch_now();
        keys.retain(|k| !left.contains(k));
        if keys.is_empty() {
            done.left = left.into_iter().collect();
            done.left.sort();
            return Ok(done);
        }
        if (hooks.interrupted)() {
            return Err(DrainError::Interrupted);
        }
        if let Some(pause) = opts.throttle.map(|t| t.pause())
            && !pause.is_zero()
        {
            tokio::time::sleep(pause).await;
        }
        let next_count = batch + left.len();
        let permits = hold(hooks.gates, keys.len()).await;
        let migrated = migrate(&mut c, to, slot, &keys, false, opts, next_count).await;
        drop(permits);
        let (outcome, next) = migrated?;
        keys = match outcome {
            Migrated::Ok { bytes } => {
                done.keys += keys.len() as u64;
                done.bytes += bytes;
                (hooks.on_batch)(keys.len() as u64, bytes);
                next
            }
            Migrated::BusyKey => {
                let (same, differ) = compare(from, to, &keys).await?;
                // Under Replace: the keys the next MIGRATE REPLACE overwrites, logged once it did.
                let overwriting = if differ.is_empty() {
                    None
                } else {
                    conflicting(from, to, slot, differ, opts.conflicts, &mut left).await?
                };
                done.replaced.extend(same);
                let movable: Vec<Vec<u8>> =
                    keys.into_iter().filter(|k| !left.contains(k)).collect();
                if movable.is_empty() {
                    get_keys(&mut c, slot, batch + left.len()).await?
                } else {
                    let permits = hold(hooks.gates, movable.len()).await;
                    let migrated =
                        migrate(&mut c, to, slot, &movable, true, opts, batch + left.len()).await;
                    drop(permits);
                    let (outcome, next) = migrated?;
                    match outcome {
                        Migrated::Ok { bytes } => {
                            done.keys += movable.len() as u64;
                            done.bytes += bytes;
                            (hooks.on_batch)(movable.len() as u64, bytes);
                            if let Some((log, keys)) = overwriting {
                                keys.into_iter().for_each(|k| log.push(k));
                            }
                            next
                        }
                        Migrated::BusyKey => {
                            return Err(DrainError::Failed(from.conns[0].reply_error(
                                "MIGRATE REPLACE",
                                format!("BUSYKEY in slot {slot} despite REPLACE"),
                            )));
                        }
                    }
                }
            }
        };
    }
    Err(DrainError::Failed(from.conns[0].reply_error(
        "CLUSTER GETKEYSINSLOT",
        format!(
            "slot {slot} still holds keys after {rounds} MIGRATE batches of {batch} \
             ({expected} keys when it opened)"
        ),
    )))
}

/// Keys that differ on both nodes, handled as `conflicts` says: stop naming
/// them, leave them (added to `left`), or return them with both values, to
/// be logged once the MIGRATE REPLACE that overwrites them succeeded.
async fn conflicting<'a>(
    from: &Node,
    to: &Node,
    slot: u16,
    differ: Vec<Vec<u8>>,
    conflicts: OnConflict<'a>,
    left: &mut HashSet<Vec<u8>>,
) -> Result<Option<(&'a Overwrites, Vec<OverwrittenKey>)>, DrainError> {
    match conflicts {
        OnConflict::Stop => Err(DrainError::Failed(ClusterError::BusyKeys {
            slot,
            from: from.name.clone(),
            to: to.name.clone(),
            keys: differ.iter().map(|k| lossy(k)).collect(),
        })),
        OnConflict::Leave => {
            left.extend(differ);
            Ok(None)
        }
        OnConflict::Replace(log) => {
            let (kept, lost) =
                futures::future::join(values(from, &differ), values(to, &differ)).await;
            let (kept, lost) = (kept?, lost?);
            let keys = differ.iter().zip(kept.into_iter().zip(lost));
            let keys = keys.map(|(k, (kept, overwritten))| OverwrittenKey {
                slot,
                key: lossy(k),
                from: from.name.clone(),
                to: to.name.clone(),
                kept,
                overwritten,
            });
            Ok(Some((log, keys.collect())))
        }
    }
}

/// What a drain asks and tells its caller.
pub(crate) struct Hooks<'a> {
    /// Asked before each batch: stop there (nothing is half done between batches).
    pub interrupted: &'a (dyn Fn() -> bool + Send + Sync),
    /// Told (keys, bytes) after each batch.
    pub on_batch: &'a (dyn Fn(u64, u64) + Send + Sync),
    /// Budgets of keys in flight, one permit a key, held around each MIGRATE
    /// and taken in this order (empty: no limit). A batch larger than a
    /// budget takes the whole budget.
    pub gates: &'a [&'a Budget],
}

/// A node's budget of keys in MIGRATEs in flight.
pub(crate) struct Budget {
    sem: Semaphore,
    size: u32,
}

impl Budget {
    /// A budget of `keys` keys in flight.
    pub fn new(keys: usize) -> Budget {
        let size = u32::try_from(keys.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
        Budget {
            sem: Semaphore::new(size as usize),
            size,
        }
    }
}

async fn hold<'a>(gates: &[&'a Budget], keys: usize) -> Vec<SemaphorePermit<'a>> {
    let mut permits = Vec::with_capacity(gates.len());
    for g in gates {
        let want = u32::try_from(keys).unwrap_or(u32::MAX).clamp(1, g.size);
        // The engine never closes its semaphores.
        if let Ok(p) = g.sem.acquire_many(want).await {
            permits.push(p);
        }
    }
    permits
}

enum Migrated {
    Ok { bytes: u64 },
    BusyKey,
}

/// One MIGRATE of `keys` to `to`'s announced address, pipelined with the
/// MEMORY USAGE of each key before it (when measuring) and the next
/// GETKEYSINSLOT after it.
async fn migrate(
    c: &mut NodeConn,
    to: &Node,
    slot: u16,
    keys: &[Vec<u8>],
    replace: bool,
    opts: &DrainOpts<'_>,
    next_count: usize,
) -> Result<(Migrated, Vec<Vec<u8>>), ClusterError> {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    if opts.measure {
        for k in keys {
            pipe.cmd("MEMORY").arg("USAGE").arg(k);
        }
    }
    pipe.cmd("MIGRATE")
        .arg(to.announce.ip().to_string())
        .arg(to.announce.port())
        .arg("")
        .arg(0)
        .arg(opts.migrate_timeout_ms);
    if replace {
        pipe.arg("REPLACE");
    }
    pipe.arg("KEYS");
    for k in keys {
        pipe.arg(k);
    }
    pipe.cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(slot)
        .arg(next_count);
    let values: Vec<Value> = c.run_pipe(&pipe, "MIGRATE").await?;
    let measured = if opts.measure { keys.len() } else { 0 };
    if values.len() != measured + 2 {
        return Err(c.reply_error(
            "MIGRATE pipeline",
            format!("{} replies for {} commands", values.len(), measured + 2),
        ));
    }
    // A key gone since GETKEYSINSLOT answers nil (or ASK, in a migrating
    // slot): it counts for nothing.
    let bytes: u64 = values[..measured]
        .iter()
        .map(|v| match v {
            Value::Int(n) => u64::try_from(*n).unwrap_or(0),
            _ => 0,
        })
        .sum();
    let outcome = match &values[measured] {
        Value::Okay | Value::SimpleString(_) => Migrated::Ok { bytes },
        Value::ServerError(e) if server_error_text(e).contains("BUSYKEY") => Migrated::BusyKey,
        Value::ServerError(e) => return Err(command_error(c, "MIGRATE", e)),
        other => {
            return Err(c.reply_error("MIGRATE", format!("unexpected reply {other:?}")));
        }
    };
    let next = key_list(c, &values[measured + 1])?;
    Ok((outcome, next))
}

async fn get_keys(c: &mut NodeConn, slot: u16, count: usize) -> Result<Vec<Vec<u8>>, ClusterError> {
    c.run(
        redis::cmd("CLUSTER")
            .arg("GETKEYSINSLOT")
            .arg(slot)
            .arg(count),
    )
    .await
}

fn key_list(c: &NodeConn, v: &Value) -> Result<Vec<Vec<u8>>, ClusterError> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::BulkString(b) => Ok(b.clone()),
                other => Err(c.reply_error(
                    "CLUSTER GETKEYSINSLOT",
                    format!("unexpected element {other:?}"),
                )),
            })
            .collect(),
        Value::ServerError(e) => Err(command_error(c, "CLUSTER GETKEYSINSLOT", e)),
        other => Err(c.reply_error(
            "CLUSTER GETKEYSINSLOT",
            format!("unexpected reply {other:?}"),
        )),
    }
}

/// Split keys present on both nodes into (same value, different value) by
/// comparing DUMP payloads (same server version, same encoding: equal values
/// dump equal). A key missing on either side is in neither list. Each DUMP
/// follows ASKING, since either node may be importing the slot rather than
/// owning it; a migrating owner answers ASK for a key it no longer has.
async fn compare(
    from: &Node,
    to: &Node,
    keys: &[Vec<u8>],
) -> Result<(Vec<Vec<u8>>, Vec<Vec<u8>>), ClusterError> {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for k in keys {
        pipe.cmd("ASKING").cmd("DUMP").arg(k);
    }
    let (mut a, mut b) = (from.conn(), to.conn());
    let (x, y) = futures::future::join(
        a.run_pipe::<Vec<Value>>(&pipe, "ASKING + DUMP"),
        b.run_pipe::<Vec<Value>>(&pipe, "ASKING + DUMP"),
    )
    .await;
    let (x, y) = (x?, y?);
    for (c, v) in [(&a, &x), (&b, &y)] {
        if v.len() != 2 * keys.len() {
            return Err(c.reply_error("DUMP", "reply count differs from key count"));
        }
    }
    let dumped = |c: &NodeConn, v: &Value| -> Result<Option<Vec<u8>>, ClusterError> {
        match v {
            Value::BulkString(p) => Ok(Some(p.clone())),
            Value::Nil => Ok(None),
            Value::ServerError(e) if e.code() == "ASK" => Ok(None),
            Value::ServerError(e) => Err(command_error(c, "DUMP", e)),
            other => Err(c.reply_error("DUMP", format!("unexpected reply {other:?}"))),
        }
    };
    let mut same = Vec::new();
    let mut differ = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if let (Some(p), Some(q)) = (dumped(&a, &x[2 * i + 1])?, dumped(&b, &y[2 * i + 1])?) {
            if p == q {
                same.push(k.clone());
            } else {
                differ.push(k.clone());
            }
        }
    }
    Ok((same, differ))
}

/// What `node` holds under each key, for people: a string's bytes (lossy,
/// cut at [`VALUE_CHARS`]), `(a list)` and the like for other types,
/// `(gone)` for a key that is not there (expired meanwhile).
async fn values(node: &Node, keys: &[Vec<u8>]) -> Result<Vec<String>, ClusterError> {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for k in keys {
        pipe.cmd("ASKING").cmd("TYPE").arg(k);
        pipe.cmd("ASKING").cmd("GET").arg(k);
    }
    let mut c = node.conn();
    let v: Vec<Value> = c.run_pipe(&pipe, "ASKING + TYPE + ASKING + GET").await?;
    if v.len() != 4 * keys.len() {
        return Err(c.reply_error("GET", "reply count differs from key count"));
    }
    Ok(v.chunks(4)
        .map(|r| match (&r[1], &r[3]) {
            (_, Value::BulkString(b)) => {
                let s = lossy(b);
                match s.char_indices().nth(VALUE_CHARS) {
                    Some((i, _)) => format!("{}…", &s[..i]),
                    None => s,
                }
            }
            (Value::SimpleString(t), _) if t != "none" && t != "string" => format!("(a {t})"),
            _ => "(gone)".to_string(),
        })
        .collect())
}

/// A value longer than this is cut in [`OverwrittenKey`].
const VALUE_CHARS: usize = 120;

/// `CLUSTER SETSLOT <slot> <args...>` on one node.
pub(crate) async fn setslot(node: &Node, slot: u16, args: &[&str]) -> Result<(), ClusterError> {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("SETSLOT").arg(slot);
    for a in args {
        cmd.arg(*a);
    }
    node.conn().run::<()>(&cmd).await
}

/// Whether an error is Redis refusing SETSLOT on a replica: a primary that
/// just lost its last slot turns itself into a replica of the new owner
/// (cluster-allow-replica-migration), which is no reason to fail.
pub(crate) fn is_replica_refusal(e: &ClusterError) -> bool {
    crate::cluster::error::error_chain(e).contains("only with masters")
}

/// `SETSLOT <slot> NODE <to>`: on `to` first (it bumps its config epoch and
/// broadcasts the new owner, so the slot always has an owner even if we stop
/// here), then on every node of `rest` at once. Returns when the last one
/// acknowledged.
pub(crate) async fn assign(to: &Node, slot: u16, rest: &[&Node]) -> Result<Instant, ClusterError> {
    setslot(to, slot, &["NODE", &to.id]).await?;
    let results = futures::future::join_all(
        rest.iter()
            .map(|n| async move { setslot(n, slot, &["NODE", &to.id]).await }),
    )
    .await;
    for r in results {
        match r {
            Err(e) if !is_replica_refusal(&e) => return Err(e),
            _ => {}
        }
    }
    Ok(Instant::now())
}

fn server_error_text(e: &redis::ServerError) -> String {
    match e.details() {
        Some(d) => format!("{} {d}", e.code()),
        None => e.code().to_string(),
    }
}

fn command_error(c: &NodeConn, command: &str, e: &redis::ServerError) -> ClusterError {
    ClusterError::Command {
        node: c.name.clone(),
        addr: c.addr,
        command: command.to_string(),
        source: e.clone().into(),
    }
}

/// A key for a message: UTF-8 where it is, escaped bytes where not.
pub(crate) fn lossy(k: &[u8]) -> String {
    match std::str::from_utf8(k) {
        Ok(s) => s.to_string(),
        Err(_) => k.escape_ascii().to_string(),
    }
}
