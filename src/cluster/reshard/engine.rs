//! The engine: execute a [`SlotMoves`] on a live cluster with the standard slot
//! migration protocol, several slots at once, never leaving a slot open.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Serialize, Serializer};
use tokio_util::sync::CancellationToken;

use crate::cluster::conn::AddressMap;
use crate::cluster::error::ClusterError;

use super::atomic::{self, Pair};
use super::fix::{Prefer, close_slot};
use super::live::{Live, Node};
use super::moves::SlotMoves;
use super::options::{Method, OnCancel, ReshardOptions};
use super::steps::{
    Budget, DrainError, DrainOpts, Hooks, OnConflict, assign, drain, lossy, setslot,
};
use super::throttle::Throttle;

/// Emitted after each slot that moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// The slot that just moved.
    pub slot: u16,
    pub slots_done: usize,
    pub slots_total: usize,
    /// Keys migrated so far, all slots together (those in flight included).
    pub keys_moved: u64,
}

/// A key that existed on both nodes with the same value when it was
/// migrated, and was moved with REPLACE (as `redis-cli --cluster` does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BusyKey {
    pub slot: u16,
    pub key: String,
    pub from: String,
    pub to: String,
}

/// What [`execute`] did. Durations serialize as milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct ReshardReport {
    pub slots_moved: usize,
    pub keys_moved: u64,
    /// Sum of MEMORY USAGE of the migrated keys when measured, else 0.
    pub bytes_moved: u64,
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
    pub keys_per_s: f64,
    pub slots_per_s: f64,
    /// When the last `SETSLOT NODE` was acknowledged by every primary: the
    /// moment convergence is measured from.
    #[serde(skip)]
    pub finished_at: Instant,
    /// `finished_at`, from the start of [`execute`].
    #[serde(serialize_with = "millis")]
    pub finished_after: Duration,
    pub busykeys: Vec<BusyKey>,
    /// How the slots moved: `keys` or `atomic` (never `auto`: what it
    /// chose). The atomic migrations' records are in the options' log.
    pub method: Method,
    /// With `--max-impact-ms`: what the control loop saw and did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<super::throttle::ImpactReport>,
}

fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// One resolved move.
struct Job<'a> {
    slot: u16,
    src: &'a Node,
    dst: &'a Node,
    /// Indexes of `src` and `dst` in the live nodes, ascending: the order
    /// their MIGRATE gates are taken in (the same order everywhere, so two
    /// slots never wait on each other crosswise).
    gates: [usize; 2],
    /// Every other primary, told the new owner last.
    others: Vec<&'a Node>,
}

/// What the slot tasks share.
struct Shared<'a> {
    live: &'a Live,
    opts: &'a ReshardOptions,
    drain: DrainOpts<'a>,
    /// Fired by the caller's token, the first error, or the deadline: no
    /// new slot starts, the ones in flight stop after their current batch.
    stop: CancellationToken,
    deadline: Instant,
    keys: AtomicU64,
    bytes: AtomicU64,
    busykeys: Mutex<Vec<BusyKey>>,
    last_ack: Mutex<Option<Instant>>,
    /// One budget per live node: keys in MIGRATEs in flight on it.
    gates: Vec<Budget>,
    /// With `--max-impact-ms`: the slots in flight and keys per MIGRATE
    /// allowed now.
    throttle: Option<&'a Throttle>,
}

impl<'a> Shared<'a> {
    /// What every slot task shares, before any has run.
    fn new(
        live: &'a Live,
        opts: &'a ReshardOptions,
        deadline: Instant,
        throttle: Option<&'a Throttle>,
    ) -> Self {
        Shared {
            live,
            opts,
            throttle,
            drain: DrainOpts {
                batch: opts.batch_keys,
                throttle,
                migrate_timeout_ms: opts.migrate_timeout_ms,
                measure: opts.measure_bytes,
                conflicts: OnConflict::forward(&opts.on_conflict),
            },
            stop: opts.cancel.child_token(),
            deadline,
            keys: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            busykeys: Mutex::new(Vec::new()),
            last_ack: Mutex::new(None),
            gates: live
                .nodes
                .iter()
                .map(|_| Budget::new(opts.keys_in_flight_per_node))
                .collect(),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.is_cancelled() || Instant::now() >= self.deadline
    }

    fn acked(&self, at: Instant) {
        let mut last = self.last_ack.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|l| at > l) {
            *last = Some(at);
        }
    }
}

enum SlotEnd {
    Moved,
    NotStarted,
    /// Interrupted and put back where it was.
    RolledBack,
}

/// Execute `plan` on the cluster reached through `map`.
///
/// Per slot, the standard protocol: `SETSLOT <slot> IMPORTING <src-id>` on the
/// target, then `SETSLOT <slot> MIGRATING <dst-id>` on the source, then
/// batches of `CLUSTER GETKEYSINSLOT` + `MIGRATE <target's announced address>
/// "" 0 <timeout> KEYS ...` sent to the source until it holds no key of the
/// slot, then `SETSLOT <slot> NODE <dst-id>` on the target first, then on the
/// source and every other primary at once. Up to `parallel_slots` slots are in
/// flight at once (slots of different pairs overlap too); a slot appears at
/// most once in a plan, so no two tasks ever handle the same slot.
///
/// Before anything moves, the plan is checked against the primaries' own
/// views: each source must serve its slot, no slot may be open already, the
/// target must be another primary. Every primary must be reachable.
///
/// On an error, a cancel or the timeout, no new slot starts and each slot in
/// flight is closed before returning: finished when the source already holds
/// none of its keys, else rolled back (keys migrated back to the source while
/// it is still migrating, SETSLOT STABLE on the source, a last pass for writes
/// that were redirected to the target meanwhile, SETSLOT STABLE on the
/// target). A key present on both nodes with the same value is moved with
/// REPLACE and listed in `busykeys`; with different values the slot is rolled
/// back and [`ClusterError::BusyKeys`] names the keys. A cancel returns
/// [`ClusterError::Cancelled`]; if a slot could not be closed, the error says
/// so and [`super::fix_open_slots`] closes it.
///
/// `progress` is called after each slot that moved, from the task awaiting
/// this future (the future is `Send` when `progress` is).
pub async fn execute(
    map: &AddressMap,
    plan: &SlotMoves,
    opts: &ReshardOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ReshardReport, ClusterError> {
    let started = Instant::now();
    if opts.batch_keys == 0 || opts.parallel_slots == 0 {
        return Err(ClusterError::BadInput(
            "batch_keys and parallel_slots must be at least 1".into(),
        ));
    }
    if plan.is_empty() {
        return Ok(report(started, started, 0, 0, 0, Vec::new()));
    }
    let deadline = started + opts.timeout;
    let live = load_live(map, opts, deadline).await?;
    let jobs = resolve(&live, plan)?;
    if choose_method(&jobs, opts.method).await? == Method::Atomic {
        let pairs = pairs_of(&jobs);
        let out = atomic::run(&pairs, opts, started, deadline, progress).await?;
        let mut rep = report(
            started,
            out.finished_at,
            out.slots_done,
            out.keys,
            0,
            Vec::new(),
        );
        rep.method = Method::Atomic;
        return Ok(rep);
    }
    let total = jobs.len();
    let throttle = opts
        .max_impact_ms
        .map(|ms| std::sync::Arc::new(Throttle::new(ms, opts.batch_keys, opts.parallel_slots)));
    let shared = Shared::new(&live, opts, deadline, throttle.as_deref());
    let tally = match &throttle {
        None => run_jobs(&shared, &jobs, progress).await,
        Some(t) => {
            // The loop PINGs the sources until the last slot is done.
            let mut sources: Vec<(String, std::net::SocketAddr)> = Vec::new();
            for j in &jobs {
                if !sources.iter().any(|(n, _)| *n == j.src.name) {
                    sources.push((j.src.name.clone(), j.src.conns[0].addr));
                }
            }
            let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let control = {
                let (t, done) = (t.clone(), done.clone());
                tokio::task::spawn_blocking(move || t.control(&sources, &done))
            };
            let tally = run_jobs(&shared, &jobs, progress).await;
            done.store(true, std::sync::atomic::Ordering::Release);
            if let Err(e) = control.await {
                tracing::warn!("max-impact: the control loop ended badly: {e}");
            }
            tally
        }
    };
    if let Some(e) = tally.first_error {
        return Err(e);
    }
    if opts.cancel.is_cancelled() {
        return Err(cancelled());
    }
    if tally.done < total {
        return Err(ClusterError::Timeout {
            what: "move slots".into(),
            timeout: opts.timeout,
            pending: vec![format!(
                "{} of {total} slots not moved ({} rolled back)",
                total - tally.done,
                tally.rolled_back
            )],
        });
    }
    let finished_at = shared
        .last_ack
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or_else(Instant::now);
    let busykeys = std::mem::take(&mut *shared.busykeys.lock().unwrap_or_else(|e| e.into_inner()));
    let mut rep = report(
        started,
        finished_at,
        tally.done,
        shared.keys.load(Ordering::Relaxed),
        shared.bytes.load(Ordering::Relaxed),
        busykeys,
    );
    rep.impact = throttle.as_deref().map(Throttle::report);
    Ok(rep)
}

/// The method the moves use: `keys` as asked; `atomic` when every node
/// involved has it, else refused naming those that lack it; `auto` atomic
/// when every node has it, else keys.
async fn choose_method(jobs: &[Job<'_>], asked: Method) -> Result<Method, ClusterError> {
    if asked == Method::Keys {
        return Ok(Method::Keys);
    }
    let mut nodes: Vec<&Node> = Vec::new();
    for j in jobs {
        for n in [j.src, j.dst] {
            if !nodes.iter().any(|x| x.id == n.id) {
                nodes.push(n);
            }
        }
    }
    let mut lacking = Vec::new();
    for n in nodes {
        if !atomic::supported_by(n).await? {
            lacking.push(n.name.clone());
        }
    }
    match (asked, lacking.is_empty()) {
        (_, true) => Ok(Method::Atomic),
        (Method::Auto, false) => {
            tracing::info!(
                nodes = %lacking.join(", "),
                "no atomic slot migration on these nodes: moving key by key"
            );
            Ok(Method::Keys)
        }
        _ => Err(ClusterError::Unsupported {
            detail: format!(
                "method atomic: {} {} no atomic slot migration (CLUSTER MIGRATESLOTS, Valkey 9.0 and later); move key by key (method keys) or let the tool choose (method auto)",
                lacking.join(", "),
                if lacking.len() == 1 { "has" } else { "have" }
            ),
        }),
    }
}

/// The moves grouped by source and target, in first-seen order: one atomic job each.
fn pairs_of<'a>(jobs: &[Job<'a>]) -> Vec<Pair<'a>> {
    let mut pairs: Vec<Pair<'a>> = Vec::new();
    for j in jobs {
        match pairs
            .iter_mut()
            .find(|p| p.src.id == j.src.id && p.dst.id == j.dst.id)
        {
            Some(p) => p.slots.push(j.slot),
            None => pairs.push(Pair {
                src: j.src,
                dst: j.dst,
                slots: vec![j.slot],
            }),
        }
    }
    for p in &mut pairs {
        p.slots.sort_unstable();
    }
    pairs
}

/// The cluster as the engine needs it, unless the move is cancelled or its
/// deadline passes first.
async fn load_live(
    map: &AddressMap,
    opts: &ReshardOptions,
    deadline: Instant,
) -> Result<Live, ClusterError> {
    tokio::select! {
        biased;
        _ = opts.cancel.cancelled() => Err(cancelled()),
        _ = tokio::time::sleep_until(deadline.into()) => Err(ClusterError::Timeout {
            what: "move slots: load the cluster".into(),
            timeout: opts.timeout,
            pending: Vec::new(),
        }),
        r = load_widened(map, opts) => r,
    }
}

/// Connections per node for the slot tasks: one per slot in flight, up to
/// this many.
const MAX_CONNS_PER_NODE: usize = 16;

/// The live cluster, each Valkey 8+ primary with a connection per slot in
/// flight (up to [`MAX_CONNS_PER_NODE`]): there every `SETSLOT` waits for
/// the node's replicas, and slots sharing one connection would wait in line.
async fn load_widened(map: &AddressMap, opts: &ReshardOptions) -> Result<Live, ClusterError> {
    let connect = opts.engine_connect();
    let mut live = Live::load(map, connect).await?;
    let n = opts.parallel_slots.clamp(1, MAX_CONNS_PER_NODE);
    for node in live.nodes.iter_mut().filter(|n| n.is_primary()) {
        // Redis answers SETSLOT at once: one connection serves every slot
        // in flight (more only add contention on its nodes.conf writes).
        if holds_setslot(node).await? {
            node.widen(n, connect).await?;
        }
    }
    Ok(live)
}

/// Whether the node holds `CLUSTER SETSLOT` until its replicas acknowledge
/// it: Valkey 8 and later.
async fn holds_setslot(node: &Node) -> Result<bool, ClusterError> {
    use crate::cluster::conn::{parse_info, server_of};
    let text: String = node.conn().run(redis::cmd("INFO").arg("server")).await?;
    Ok(server_of(&parse_info(&text))
        .as_deref()
        .and_then(|s| s.strip_prefix("valkey "))
        .and_then(|v| v.split('.').next()?.parse::<u32>().ok())
        .is_some_and(|major| major >= 8))
}

/// How the slot tasks ended.
#[derive(Default)]
struct Tally {
    done: usize,
    rolled_back: usize,
    /// The first failure; the others are logged, and every task is stopped.
    first_error: Option<ClusterError>,
}

/// Run the jobs, at most `parallel_slots` slots in flight (a new one starts
/// as one ends), reporting each slot that moved.
async fn run_jobs(
    shared: &Shared<'_>,
    jobs: &[Job<'_>],
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Tally {
    let total = jobs.len();
    let mut queue = jobs.iter();
    let mut in_flight = futures::stream::FuturesUnordered::new();
    let mut tally = Tally::default();
    loop {
        let limit = shared
            .throttle
            .map_or(shared.opts.parallel_slots, Throttle::parallel);
        while in_flight.len() < limit.max(1) {
            match queue.next() {
                Some(job) => in_flight.push(slot_task(shared, job)),
                None => break,
            }
        }
        let Some((slot, r)) = in_flight.next().await else {
            break;
        };
        match r {
            Ok(SlotEnd::Moved) => {
                tally.done += 1;
                progress(Progress {
                    slot,
                    slots_done: tally.done,
                    slots_total: total,
                    keys_moved: shared.keys.load(Ordering::Relaxed),
                });
            }
            Ok(SlotEnd::RolledBack) => tally.rolled_back += 1,
            Ok(SlotEnd::NotStarted) => {}
            Err(e) => {
                shared.stop.cancel();
                if tally.first_error.is_none() {
                    tally.first_error = Some(e);
                } else {
                    tracing::warn!(slot, "another slot failed too: {e}");
                }
            }
        }
    }
    tally
}

fn cancelled() -> ClusterError {
    ClusterError::Cancelled {
        what: "move slots".into(),
    }
}

fn report(
    started: Instant,
    finished_at: Instant,
    slots: usize,
    keys: u64,
    bytes: u64,
    busykeys: Vec<BusyKey>,
) -> ReshardReport {
    let duration = started.elapsed();
    let secs = duration.as_secs_f64().max(1e-9);
    ReshardReport {
        slots_moved: slots,
        keys_moved: keys,
        bytes_moved: bytes,
        duration,
        keys_per_s: keys as f64 / secs,
        slots_per_s: slots as f64 / secs,
        finished_at,
        finished_after: finished_at.saturating_duration_since(started),
        busykeys,
        method: Method::Keys,
        impact: None,
    }
}

/// Check the plan against the nodes' own views and resolve names to nodes.
fn resolve<'a>(live: &'a Live, plan: &SlotMoves) -> Result<Vec<Job<'a>>, ClusterError> {
    let bad = |detail: String| ClusterError::BadInput(detail);
    let primary = |name: &str| -> Result<&'a Node, ClusterError> {
        match live.by_name(name) {
            Some(n) if n.is_primary() => Ok(n),
            Some(_) => Err(bad(format!("{name} is not a primary"))),
            None => Err(bad(format!(
                "{name} is not a reachable node of the cluster (nodes: {})",
                live.nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    };
    let mut seen = HashSet::new();
    let mut jobs = Vec::with_capacity(plan.len());
    for m in &plan.moves {
        if !seen.insert(m.slot) {
            return Err(bad(format!("slot {} appears twice in the plan", m.slot)));
        }
        let src = primary(&m.from)?;
        let dst = primary(&m.to)?;
        if src.id == dst.id {
            return Err(bad(format!("slot {} would move onto its owner", m.slot)));
        }
        if !src.me.serves(m.slot) {
            return Err(bad(format!(
                "{} does not serve slot {} (its own view)",
                src.name, m.slot
            )));
        }
        for n in live.primaries() {
            if n.me
                .migrating
                .iter()
                .chain(&n.me.importing)
                .any(|(s, _)| *s == m.slot)
            {
                return Err(bad(format!(
                    "slot {} is open on {}; close it first (fix)",
                    m.slot, n.name
                )));
            }
        }
        let index = |n: &Node| live.nodes.iter().position(|x| x.id == n.id).unwrap_or(0);
        let (a, b) = (index(src), index(dst));
        jobs.push(Job {
            slot: m.slot,
            src,
            dst,
            gates: [a.min(b), a.max(b)],
            others: live
                .primaries()
                .filter(|n| n.id != src.id && n.id != dst.id)
                .collect(),
        });
    }
    Ok(jobs)
}

/// Why a slot's forward path stopped.
enum Stop {
    /// The shared stop fired between two batches.
    Interrupted,
    Failed(ClusterError),
}

impl From<ClusterError> for Stop {
    fn from(e: ClusterError) -> Self {
        Stop::Failed(e)
    }
}

async fn slot_task(sh: &Shared<'_>, job: &Job<'_>) -> (u16, Result<SlotEnd, ClusterError>) {
    (job.slot, run_slot(sh, job).await)
}

async fn run_slot(sh: &Shared<'_>, job: &Job<'_>) -> Result<SlotEnd, ClusterError> {
    if sh.stopped() {
        return Ok(SlotEnd::NotStarted);
    }
    let cause = match forward(sh, job).await {
        Ok(()) => return Ok(SlotEnd::Moved),
        Err(Stop::Interrupted) => None,
        Err(Stop::Failed(e)) => Some(e),
    };
    // Close the slot again, whatever state it is in. Conflicting keys met
    // while rolling back stay where they are and are reported (unless the
    // options say replace).
    let settle_opts = DrainOpts {
        conflicts: sh.drain.conflicts.rolling_back(),
        measure: false,
        ..sh.drain
    };
    let prefer = match (&cause, sh.opts.on_cancel) {
        (None, OnCancel::Finish) => Prefer::Finish,
        _ => Prefer::RollBackUnlessEmpty,
    };
    let closed = close_slot(
        sh.live,
        job.slot,
        prefer,
        &settle_opts,
        sh.opts.settle_timeout,
    )
    .await;
    let wrap = |source: ClusterError, left_open: Option<String>| ClusterError::SlotMove {
        slot: job.slot,
        from: job.src.name.clone(),
        to: job.dst.name.clone(),
        left_open,
        source: Box::new(source),
    };
    match (cause, closed) {
        (None, Ok(c)) if c.stray_keys.is_empty() => {
            if c.owner_id == job.dst.id {
                sh.acked(Instant::now());
                Ok(SlotEnd::Moved)
            } else {
                Ok(SlotEnd::RolledBack)
            }
        }
        (None, Ok(c)) => Err(ClusterError::BusyKeys {
            slot: job.slot,
            from: job.src.name.clone(),
            to: job.dst.name.clone(),
            keys: c.stray_keys,
        }),
        (Some(e @ ClusterError::BusyKeys { .. }), Ok(_)) => Err(e),
        (Some(e), Ok(_)) => Err(wrap(e, None)),
        (Some(e), Err(settle)) => Err(wrap(e, Some(crate::cluster::error::error_chain(&settle)))),
        (None, Err(settle)) => {
            let why = crate::cluster::error::error_chain(&settle);
            Err(wrap(settle, Some(why)))
        }
    }
}

/// The protocol for one slot, up to the last SETSLOT NODE.
async fn forward(sh: &Shared<'_>, job: &Job<'_>) -> Result<(), Stop> {
    let (src, dst, slot) = (job.src, job.dst, job.slot);
    setslot(dst, slot, &["IMPORTING", &src.id]).await?;
    // MIGRATING, the key count (which bounds the batches: no key can be added
    // to the source while the slot migrates, a write to a missing key is
    // redirected to the target) and the first batch, in one round trip.
    let mut pipe = redis::pipe();
    pipe.cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("MIGRATING")
        .arg(&dst.id)
        .cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(slot)
        .arg(sh.drain.batch);
    let ((), count, first): ((), u64, Vec<Vec<u8>>) = src
        .conn()
        .run_pipe(
            &pipe,
            "CLUSTER SETSLOT MIGRATING + COUNTKEYSINSLOT + GETKEYSINSLOT",
        )
        .await?;
    let on_batch = |keys: u64, bytes: u64| {
        sh.keys.fetch_add(keys, Ordering::Relaxed);
        sh.bytes.fetch_add(bytes, Ordering::Relaxed);
    };
    let gates: Vec<&Budget> = if sh.opts.keys_in_flight_per_node == 0 {
        Vec::new()
    } else {
        job.gates.iter().map(|&i| &sh.gates[i]).collect()
    };
    let hooks = Hooks {
        interrupted: &|| sh.stopped(),
        on_batch: &on_batch,
        gates: &gates,
    };
    let drained = match drain(src, dst, slot, Some(first), count, &sh.drain, &hooks).await {
        Ok(d) => d,
        Err(DrainError::Interrupted) => return Err(Stop::Interrupted),
        Err(DrainError::Failed(e)) => return Err(Stop::Failed(e)),
    };
    if !drained.replaced.is_empty() {
        let mut busy = sh.busykeys.lock().unwrap_or_else(|e| e.into_inner());
        busy.extend(drained.replaced.iter().map(|k| BusyKey {
            slot,
            key: lossy(k),
            from: src.name.clone(),
            to: dst.name.clone(),
        }));
    }
    let mut rest = Vec::with_capacity(job.others.len() + 1);
    rest.push(src);
    rest.extend(job.others.iter().copied());
    let at = assign(dst, slot, &rest).await?;
    sh.acked(at);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execute_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let map = AddressMap::new();
        let plan = SlotMoves::default();
        let opts = ReshardOptions::default();
        let mut progress = |_: Progress| {};
        let fut = execute(&map, &plan, &opts, &mut progress);
        assert_send(&fut);
    }

    #[test]
    fn report_serializes_durations_as_millis() {
        let t = Instant::now();
        let mut r = report(t, t, 2, 10, 0, Vec::new());
        r.duration = Duration::from_millis(1500);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["duration"], 1500.0);
        assert_eq!(json["slots_moved"], 2);
        assert!(json.get("finished_at").is_none());
    }

    #[test]
    fn engine_connections_wait_for_a_migrate() {
        let o = ReshardOptions {
            migrate_timeout_ms: 5000,
            ..ReshardOptions::default()
        };
        assert_eq!(o.engine_connect().response_timeout, Duration::from_secs(7));
    }
}
