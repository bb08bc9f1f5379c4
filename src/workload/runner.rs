//! The running workload: event loops on threads of their own.
//!
//! Each loop is one thread with a single-threaded tokio runtime that owns a
//! share of the clients (streams) and their connections, the way
//! `redis-benchmark` runs an event loop per thread. Nothing is handed from
//! thread to thread per op: in a VM every such hand-over is a context switch
//! that costs more than the op, and a thread that must wake another to send
//! an op is a thread that sends late.
//!
//! - **Open loop**: each loop keeps its share of the schedule
//!   ([`super::schedule`]) with a timerfd in its own reactor
//!   ([`super::timer`]); at an op's due time it sends the op at once on a
//!   free connection ([`super::lanes`]), whatever earlier ops are doing. Ops
//!   in flight are bounded by [`WorkloadSpec::in_flight_limit`]; an op that
//!   must wait for room records the wait.
//! - **Closed loop**: each client sends its next op when the previous one
//!   ended (`depth` at a time on its connection).
//!
//! Every op is recorded with three times (due, sent, end; see
//! [`crate::record::ops`]). The loops' threads are apart from the controller's
//! runtime (the resharding engine, the nemesis, the watcher), run at the
//! workload's priority (`nice`), and, on Docker, inside the run's network.
//! With `threads: 0` a single loop runs on the controller's runtime instead
//! (kept to measure what isolation buys).
//!
//! App connections are redis-rs cluster connections with node connections
//! that write ASKING together with its command (see
//! [`crate::cluster::client`]), so many ops can share one; probe
//! connections are [`Router`]s.

use crate::record::ops::WorkloadStats;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::adapted::{Groups, StopAt};
use super::error::WorkloadError;
use super::exec::{self, AppConn, Conn, OpDone};
use super::generator::{OpGen, Planned};
use super::lanes::Lanes;
use super::place::Place;
use super::router::Router;
use super::schedule::{Dispatcher, Schedule};
use super::sharding::Sharding;
use super::spec::{AppConnection as Sharing, Model, ReplicaReads, WaitSpec, WorkloadSpec};
use super::thread::{self, Priority};
use super::timer::PreciseTimer;
use crate::cluster::{AddressMap, ClientOptions, Reads, cluster_client, connect_app};
use crate::record::ops::{ClientMode, History, Op, OpKind, Outcome};
use crate::record::timeline::Clock;

/// Ops a run records at most: ~250 bytes each, so 10 M ops bound the
/// history near 2.5 GB — 40 minutes at 4000 ops/s. Ops past it still run and
/// are counted in [`WorkloadStats::unrecorded`].
pub const MAX_OPS: usize = 10_000_000;

/// How long a workload runs at most if nobody stops it. Drills run minutes.
pub const MAX_RUN: Duration = Duration::from_secs(3600);

/// After a failure that came back faster than this, a closed-loop client
/// pauses for this long before its next op, so that a refused connection does
/// not turn into a million-op history. Successes are never paced, and 1 ms is
/// below any downtime the drill reports.
const FAILURE_PACE: Duration = Duration::from_millis(1);

/// How often (in tasks polled) a busy loop polls for I/O, the timer's
/// expiry among it. tokio's default, 61, can hold a due op back by dozens of
/// task polls when replies pour in; 8 costs a cheap `epoll_wait(0)` now and
/// then.
const EVENT_INTERVAL: u32 = 8;

/// What a stopped workload recorded.
pub struct Recorded {
    /// Every op, sorted by due time.
    pub history: History,
    pub stats: WorkloadStats,
}

/// Ops as they are recorded, in chunks of fixed capacity: a push never
/// moves the ops already there (no copy of a growing vector of megabytes
/// while the loop waits).
#[derive(Default)]
struct Log {
    chunks: Vec<Vec<Op>>,
}

/// Ops per chunk of the log: ~1 MB each.
const LOG_CHUNK: usize = 4096;

impl Log {
    fn push(&mut self, op: Op) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < LOG_CHUNK => c.push(op),
            _ => {
                let mut c = Vec::with_capacity(LOG_CHUNK);
                c.push(op);
                self.chunks.push(c);
            }
        }
    }

    fn take(&mut self) -> Vec<Op> {
        self.chunks.drain(..).flatten().collect()
    }
}

/// Opens connections for the pools.
#[derive(Clone)]
struct Opener {
    map: AddressMap,
    sharding: Sharding,
    timeout: Duration,
    /// The redis-rs cluster client app connections come from (clusters only).
    app: Option<redis::cluster::ClusterClient>,
}

impl Opener {
    /// An app client's connection: redis-rs's cluster connection on a
    /// cluster, a router of its own on the other kinds.
    async fn app(&self) -> Result<AppConn, WorkloadError> {
        if !self.sharding.is_cluster() {
            return Ok(AppConn::Direct(self.probe().await?));
        }
        let client = self.app.as_ref().ok_or(WorkloadError::NoNodes)?;
        tokio::time::timeout(self.timeout * 3, connect_app(client))
            .await
            .map_err(|_| {
                WorkloadError::AppClient(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "cluster connection timed out",
                )))
            })?
            .map(AppConn::Cluster)
            .map_err(WorkloadError::AppClient)
    }

    async fn probe(&self) -> Result<Arc<Router>, WorkloadError> {
        Ok(Arc::new(
            Router::connect(&self.map, &self.sharding, self.timeout).await?,
        ))
    }
}

/// What every loop shares.
struct Common {
    clock: Clock,
    spec: WorkloadSpec,
    seed: u64,
    op_bound: Duration,
    wait: Option<WaitSpec>,
    /// Streams below this are app clients, the rest probe clients.
    app_streams: u32,
    permits: Arc<Semaphore>,
    max_in_flight: usize,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    recorded: AtomicU64,
    unrecorded: AtomicU64,
    /// One per place (loop i uses `openers[i mod n]`): the app clients of a
    /// region route their reads from it.
    openers: Vec<Opener>,
    /// Stop dispatching (open loop) or sending (closed loop).
    stop: CancellationToken,
    /// When the stop came, on the run's clock (`u64::MAX` until then): see
    /// [`Common::stop_at`].
    stopped_at_ns: AtomicU64,
    /// How long a loop drains its ops in flight after the stop.
    drain: Duration,
}

impl Common {
    /// The state every loop shares, for `spec` with its ops timed on `clock`;
    /// the loops stop when `cancel` fires.
    fn new(
        spec: &WorkloadSpec,
        seed: u64,
        clock: Clock,
        openers: Vec<Opener>,
        cancel: &CancellationToken,
    ) -> Common {
        let max_in_flight = spec.in_flight_limit();
        let depth = match spec.model {
            Model::Closed => spec.depth,
            Model::Open { .. } => 1,
        };
        Common {
            clock,
            seed,
            op_bound: spec.op_bound(),
            wait: spec.wait,
            app_streams: spec.clients.redis_rs * depth,
            permits: Arc::new(Semaphore::new(max_in_flight.min(Semaphore::MAX_PERMITS))),
            max_in_flight,
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
            recorded: AtomicU64::new(0),
            unrecorded: AtomicU64::new(0),
            openers,
            stop: cancel.child_token(),
            stopped_at_ns: AtomicU64::new(u64::MAX),
            drain: spec.op_bound() * 2 + Duration::from_secs(2),
            spec: spec.clone(),
        }
    }

    /// The opener of the loop that runs `share`: its place's.
    fn opener(&self, share: &Share) -> &Opener {
        &self.openers[share.index as usize % self.openers.len()]
    }

    /// The instant of the stop, on the run's clock, set by whoever sees it
    /// first (the caller of [`Workload::stop`], or the first loop to notice a
    /// cancel from above). Every loop ends its share of the schedule there,
    /// not where it happened to notice: a loop that woke late would otherwise
    /// send ops due after the stop while another had skipped one due before
    /// it, leaving a hole in the schedule.
    fn stop_at(&self) -> u64 {
        let now = self.clock.now_ns();
        match self.stopped_at_ns.compare_exchange(
            u64::MAX,
            now,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => now,
            Err(first) => first,
        }
    }

    fn mode(&self, stream: u32) -> ClientMode {
        if stream < self.app_streams {
            ClientMode::App
        } else {
            ClientMode::Probe
        }
    }

    fn enter(&self) {
        let n = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak_in_flight.fetch_max(n, Ordering::AcqRel);
    }

    fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One event loop's clients: its connections, its log, its ops in flight.
struct Loop {
    common: Arc<Common>,
    opener: Opener,
    log: Mutex<Log>,
    app: Arc<Lanes<AppConn>>,
    probe: Arc<Lanes<Arc<Router>>>,
    /// Open loop: handed over and not yet ended (or given up).
    outstanding: AtomicU64,
    idle: Notify,
    dropped: AtomicU64,
    /// Fired when the drain after a stop is over: ops still waiting for room
    /// in flight give up.
    drain_over: CancellationToken,
}

impl Loop {
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        client: u32,
        mode: ClientMode,
        p: Planned,
        due_ns: u64,
        sent_ns: u64,
        pool_wait_ns: u64,
        done: OpDone,
    ) {
        let end_ns = self.common.clock.now_ns();
        let ok = matches!(done.outcome, Outcome::Ok);
        let (value, values) = match p.kind {
            OpKind::Set | OpKind::Txn => (p.value, Vec::new()),
            OpKind::Get | OpKind::Incr if ok => (exec::reply_text(done.reply), Vec::new()),
            OpKind::TxnRead if ok => (None, exec::reply_texts(done.reply)),
            _ => (None, Vec::new()),
        };
        let op = Op {
            client,
            mode,
            kind: p.kind,
            key: p.key,
            slot: p.slot,
            value,
            due_ns,
            sent_ns,
            end_ns,
            pool_wait_ns,
            node: done.node,
            served: done.served,
            redirects: done.redirects,
            outcome: done.outcome,
            replicas: done.replicas,
            ttl_ms: p.ttl_ms,
            members: p.members,
            values,
        };
        let c = &self.common;
        if c.recorded.fetch_add(1, Ordering::Relaxed) < MAX_OPS as u64 {
            self.log.lock().unwrap_or_else(|p| p.into_inner()).push(op);
        } else {
            c.recorded.fetch_sub(1, Ordering::Relaxed);
            c.unrecorded.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One open-loop op has ended (or given up).
    fn settled(&self) {
        if self.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// A connection for an op of `mode`, growing the pool in the background
    /// when every connection is busy. Never waits for a connection to open.
    fn take(&self, mode: ClientMode) -> Option<(Conn, Box<dyn Send>)> {
        let opener = self.opener.clone();
        match mode {
            ClientMode::App => {
                let t = self
                    .app
                    .take_or_grow(|| async move { opener.app().await })?;
                let retries = self.common.spec.app_retries;
                Some((t.conn().conn(retries), Box::new(t)))
            }
            // The loops run no adapter's client (`Common::mode`).
            ClientMode::Probe | ClientMode::Adapter => {
                let t = self
                    .probe
                    .take_or_grow(|| async move { opener.probe().await })?;
                Some((Conn::Probe(t.conn().clone()), Box::new(t)))
            }
        }
    }
}

/// What one loop owns: its index, and its clients.
#[derive(Debug, Clone)]
struct Share {
    index: u32,
    loops: u32,
    /// Closed loop: the clients (by number) whose ops this loop sends.
    clients: Vec<u32>,
    /// Open loop: the streams whose ops this loop sends.
    streams: Vec<u32>,
}

impl Share {
    fn app_count(&self, c: &Common, ids: &[u32]) -> usize {
        ids.iter()
            .filter(|&&i| c.mode(i * self.depth_of(c)) == ClientMode::App)
            .count()
    }

    /// The connections of a kind this loop's pool may hold: its share of
    /// `max_connections`, and never fewer than it started with.
    fn max_conns(&self, c: &Common, initial: usize) -> usize {
        let per_loop = (c.spec.max_connections as usize).div_ceil(self.loops as usize);
        per_loop.max(initial)
    }

    fn depth_of(&self, c: &Common) -> u32 {
        match c.spec.model {
            Model::Closed => c.spec.depth,
            Model::Open { .. } => 1,
        }
    }
}

/// What a loop hands back when it ends.
#[derive(Default)]
struct LoopEnd {
    log: Vec<Op>,
    handed: u64,
    max_late_ns: u64,
    app: u64,
    probe: u64,
    dropped: u64,
}

/// A loop's connections, opened before the run starts.
struct Conns {
    app: Vec<AppConn>,
    probe: Vec<Arc<Router>>,
}

async fn connect(common: &Common, share: &Share) -> Result<Conns, WorkloadError> {
    let ids = match common.spec.model {
        Model::Closed => &share.clients,
        Model::Open { .. } => &share.streams,
    };
    let apps = share.app_count(common, ids);
    let probes = ids.len() - apps;
    let mut app = Vec::new();
    let n = match common.spec.app_connection {
        Sharing::Shared => apps.min(1),
        Sharing::PerClient => apps,
    };
    for _ in 0..n {
        app.push(common.opener(share).app().await?);
    }
    let mut probe = Vec::new();
    for _ in 0..probes {
        probe.push(common.opener(share).probe().await?);
    }
    if let Model::Open { .. } = common.spec.model {
        // The pool the open loop would grow to, opened now: opening it
        // beside the first ops (a cluster connection is a connection to
        // every node and a CLUSTER SLOTS) made those ops wait on busy cores,
        // and the baseline measured the tool's own start. One that fails
        // here is left to the pool to open when it is needed.
        let opener = common.opener(share);
        if matches!(common.spec.app_connection, Sharing::PerClient) && !app.is_empty() {
            let more = share.max_conns(common, app.len()) - app.len();
            let opened = futures::future::join_all((0..more).map(|_| opener.app())).await;
            app.extend(pool_extra(opened, "app"));
        }
        if !probe.is_empty() {
            let more = share.max_conns(common, probe.len()) - probe.len();
            let opened = futures::future::join_all((0..more).map(|_| opener.probe())).await;
            probe.extend(pool_extra(opened, "probe"));
        }
    }
    Ok(Conns { app, probe })
}

/// The connections of a pool opened ahead that did open.
fn pool_extra<C>(opened: Vec<Result<C, WorkloadError>>, kind: &str) -> Vec<C> {
    let mut ok = Vec::new();
    for c in opened {
        match c {
            Ok(c) => ok.push(c),
            Err(e) => tracing::debug!("opening a {kind} connection ahead: {e}"),
        }
    }
    ok
}

/// One loop from start to end: connect, say so, wait for the start, run.
async fn run_loop(
    common: Arc<Common>,
    share: Share,
    ready: oneshot::Sender<Result<(), WorkloadError>>,
    go: oneshot::Receiver<Instant>,
) -> LoopEnd {
    let conns = match connect(&common, &share).await {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e));
            return LoopEnd::default();
        }
    };
    let _ = ready.send(Ok(()));
    // The workload was abandoned before it started.
    let Ok(t0) = go.await else {
        return LoopEnd::default();
    };
    let max_app = match common.spec.app_connection {
        Sharing::Shared => conns.app.len(),
        Sharing::PerClient => share.max_conns(&common, conns.app.len()),
    };
    let max_probe = share.max_conns(&common, conns.probe.len());
    let lp = Arc::new(Loop {
        common: common.clone(),
        opener: common.opener(&share).clone(),
        log: Mutex::new(Log::default()),
        app: Arc::new(Lanes::new(conns.app.clone(), max_app)),
        probe: Arc::new(Lanes::new(conns.probe.clone(), max_probe)),
        outstanding: AtomicU64::new(0),
        idle: Notify::new(),
        dropped: AtomicU64::new(0),
        drain_over: CancellationToken::new(),
    });
    let (handed, max_late_ns) = match common.spec.model {
        Model::Open { rate } => open(&lp, &share, rate, t0).await,
        Model::Closed => closed(&lp, &share, conns).await,
    };
    let log = lp.log.lock().unwrap_or_else(|p| p.into_inner()).take();
    LoopEnd {
        log,
        handed,
        max_late_ns,
        app: lp.app.len() as u64,
        probe: lp.probe.len() as u64,
        dropped: lp.dropped.load(Ordering::Relaxed),
    }
}

/// The open loop: keep this loop's share of the schedule until the stop,
/// then drain what is in flight. Returns (ops handed over, latest hand-over).
async fn open(lp: &Arc<Loop>, share: &Share, rate: f64, t0: Instant) -> (u64, u64) {
    let c = &lp.common;
    let schedule = Schedule::with_own(rate, c.spec.total_clients(), c.spec.builtin_clients());
    let mut gens: BTreeMap<u32, OpGen> = share
        .streams
        .iter()
        .map(|&s| (s, OpGen::new(&c.spec, c.seed, s)))
        .collect();
    let mut d = Dispatcher::new(
        schedule,
        share.loops,
        share.index,
        MAX_RUN.as_nanos() as u64,
        MAX_OPS as u64,
    );
    let timer = PreciseTimer::new()
        .map_err(|e| tracing::warn!("no timerfd ({e}); due times use tokio's 1 ms timer"))
        .ok();
    let t0_ns = c.clock.ns(t0);
    let elapsed = || t0.elapsed().as_nanos() as u64;
    // Bounded by the dispatcher's share: MAX_RUN and MAX_OPS.
    let stop_elapsed = || c.stop_at().saturating_sub(t0_ns);
    while let Some(next) = d.next_due_ns() {
        if d.stopped_ns.is_none() {
            if c.stop.is_cancelled() {
                d.stop(stop_elapsed());
            } else if elapsed() < next {
                let at = t0 + Duration::from_nanos(next);
                tokio::select! {
                    biased;
                    _ = c.stop.cancelled() => d.stop(stop_elapsed()),
                    _ = sleep_until(timer.as_ref(), at) => {}
                }
            }
        }
        for due in d.take_due(elapsed()) {
            let Some(ops) = gens.get_mut(&due.stream) else {
                continue;
            };
            let p = ops.next_op();
            lp.outstanding.fetch_add(1, Ordering::AcqRel);
            tokio::spawn(open_op(lp.clone(), due.stream, t0_ns + due.due_ns, p));
        }
    }
    drain(lp).await;
    (d.handed, d.max_late_ns)
}

async fn sleep_until(timer: Option<&PreciseTimer>, at: Instant) {
    let precise = match timer {
        Some(t) => t.sleep_until(at).await.is_ok(),
        None => false,
    };
    if !precise {
        tokio::time::sleep_until(at.into()).await;
    }
}

/// Wait, bounded, until every op this loop handed over has ended.
async fn drain(lp: &Loop) {
    let deadline = tokio::time::Instant::now() + lp.common.drain;
    // Bounded by the deadline.
    loop {
        let idle = lp.idle.notified();
        let left = lp.outstanding.load(Ordering::Acquire);
        if left == 0 {
            return;
        }
        if tokio::time::timeout_at(deadline, idle).await.is_err() {
            tracing::warn!(
                "{left} workload ops still unfinished {:?} after the stop",
                lp.common.drain
            );
            lp.drain_over.cancel();
            lp.dropped.fetch_add(left, Ordering::Relaxed);
            return;
        }
    }
}

/// One open-loop op: room in flight, a connection, the op, the record.
async fn open_op(lp: Arc<Loop>, stream: u32, due_ns: u64, p: Planned) {
    let c = &lp.common;
    let permit = match c.permits.clone().try_acquire_owned() {
        Ok(permit) => Some((permit, 0)),
        Err(_) => {
            let waited_from = c.clock.now_ns();
            tokio::select! {
                permit = c.permits.clone().acquire_owned() => {
                    permit.ok().map(|p| (p, c.clock.now_ns().saturating_sub(waited_from)))
                }
                _ = lp.drain_over.cancelled() => None,
            }
        }
    };
    let Some((_permit, pool_wait_ns)) = permit else {
        // Counted by the drain that gave up.
        return;
    };
    let mode = c.mode(stream);
    if let Some((conn, _lane)) = lp.take(mode) {
        c.enter();
        let sent_ns = c.clock.now_ns();
        let done = exec::run(&conn, &p, c.wait, c.op_bound).await;
        lp.record(stream, mode, p, due_ns, sent_ns, pool_wait_ns, done);
        c.leave();
    } else {
        lp.dropped.fetch_add(1, Ordering::Relaxed);
    }
    lp.settled();
}

/// The closed loop: this loop's clients, `depth` streams each, until the stop.
async fn closed(lp: &Arc<Loop>, share: &Share, conns: Conns) -> (u64, u64) {
    let c = &lp.common;
    let depth = c.spec.depth;
    let retries = c.spec.app_retries;
    let mut apps = conns.app.into_iter().map(|a| a.conn(retries)).cycle();
    let mut probes = conns.probe.into_iter().map(Conn::Probe);
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    for &client in &share.clients {
        let conn = match c.mode(client * depth) {
            ClientMode::App => apps.next(),
            ClientMode::Probe | ClientMode::Adapter => probes.next(),
        };
        let Some(conn) = conn else { continue };
        for d in 0..depth {
            let stream = client * depth + d;
            let ops = OpGen::new(&c.spec, c.seed, stream);
            tasks.push(tokio::spawn(closed_client(
                lp.clone(),
                client,
                stream,
                conn.clone(),
                ops,
            )));
        }
    }
    let deadline = async {
        c.stop.cancelled().await;
        tokio::time::sleep(c.drain).await;
    };
    let all = futures::future::join_all(tasks.iter_mut());
    tokio::select! {
        _ = all => {}
        _ = deadline => {
            tracing::warn!("a closed-loop client did not stop within {:?}", c.drain);
            for t in &tasks {
                t.abort();
            }
        }
    }
    (0, 0)
}

/// One closed-loop stream of a client: the next op when the previous one ended.
async fn closed_client(lp: Arc<Loop>, client: u32, stream: u32, conn: Conn, mut ops: OpGen) {
    let c = &lp.common;
    let mode = c.mode(stream);
    let deadline = Instant::now() + MAX_RUN;
    // Bounded by MAX_RUN and by the history's size.
    while !c.stop.is_cancelled()
        && Instant::now() < deadline
        && c.unrecorded.load(Ordering::Relaxed) == 0
    {
        let p = ops.next_op();
        c.enter();
        let started = Instant::now();
        let sent_ns = c.clock.ns(started);
        let done = exec::run(&conn, &p, c.wait, c.op_bound).await;
        let ok = matches!(done.outcome, Outcome::Ok);
        lp.record(client, mode, p, sent_ns, sent_ns, 0, done);
        c.leave();
        if !ok && started.elapsed() < FAILURE_PACE {
            tokio::select! {
                _ = c.stop.cancelled() => {}
                _ = tokio::time::sleep(FAILURE_PACE) => {}
            }
        }
    }
}

/// A loop running on a thread of its own, or as a task on the controller's runtime.
enum Running {
    Thread(std::thread::JoinHandle<LoopEnd>),
    Task(JoinHandle<LoopEnd>),
}

/// The workload running in the background. Stop it with [`Workload::stop`];
/// dropping it stops the clients and discards their history.
pub struct Workload {
    common: Arc<Common>,
    loops: Vec<Running>,
    /// The other libraries' clients, each group run by its adapter.
    groups: Option<Groups>,
    /// The weakest scheduling any loop thread got.
    priority: Arc<Mutex<Option<Priority>>>,
    threads: u32,
}

impl Workload {
    /// Connect every client, then start them. Ops are timed on `clock`; the
    /// clients stop when `cancel` fires or at [`Workload::stop`].
    pub async fn start(
        map: AddressMap,
        sharding: Sharding,
        spec: WorkloadSpec,
        seed: u64,
        clock: Clock,
        cancel: CancellationToken,
    ) -> Result<Workload, WorkloadError> {
        Self::start_in(Vec::new(), map, sharding, spec, seed, clock, cancel).await
    }

    /// [`Workload::start`], with the loops' threads in `places` (see
    /// [`Place`]), from which `map` must lead: loop i in `places[i mod n]`,
    /// so that client c is in `places[c mod n]` (the loops are a multiple of
    /// the places). Moving needs `threads` ≥ 1: the controller's own threads
    /// never move.
    #[allow(clippy::too_many_arguments)]
    pub async fn start_in(
        places: Vec<Place>,
        map: AddressMap,
        sharding: Sharding,
        spec: WorkloadSpec,
        seed: u64,
        clock: Clock,
        cancel: CancellationToken,
    ) -> Result<Workload, WorkloadError> {
        let places = checked_places(places, &map, &spec)?;
        let timeout = Duration::from_millis(spec.timeout_ms);
        let openers = openers(&places, &map, &sharding, &spec, timeout)?;
        // The tool's own clients; the adapters run the others.
        let ids = spec.builtin_clients();
        // A multiple of the places, so that every loop's clients share one.
        let n_places = places.len() as u32;
        let loops = if ids == 0 {
            0
        } else {
            spec.threads.clamp(1, ids).div_ceil(n_places) * n_places
        };
        let common = Arc::new(Common::new(&spec, seed, clock, openers, &cancel));
        let priority = Arc::new(Mutex::new(None));
        let mut w = Workload {
            common: common.clone(),
            loops: Vec::new(),
            groups: None,
            priority: priority.clone(),
            threads: spec.threads,
        };
        let mut readies = Vec::new();
        let mut gos = Vec::new();
        for index in 0..loops {
            let mine: Vec<u32> = (0..ids).filter(|i| i % loops == index).collect();
            let share = Share {
                index,
                loops,
                clients: mine.clone(),
                streams: mine,
            };
            let (ready_tx, ready_rx) = oneshot::channel();
            let (go_tx, go_rx) = oneshot::channel();
            readies.push(ready_rx);
            gos.push(go_tx);
            let fut = run_loop(common.clone(), share, ready_tx, go_rx);
            let place = &places[(index % n_places) as usize];
            match spawn_loop(&spec, index, place, timeout, priority.clone(), fut) {
                Ok(running) => w.loops.push(running),
                Err(e) => {
                    common.stop.cancel();
                    return Err(e);
                }
            }
        }
        for ready in readies {
            let r = ready.await.unwrap_or_else(|_| {
                Err(WorkloadError::Cluster(
                    "a client thread ended before it connected".into(),
                ))
            });
            if let Err(e) = r {
                common.stop.cancel();
                return Err(e);
            }
        }
        if !spec.clients.groups.is_empty() {
            let c = common.clone();
            let stop_at: StopAt = Arc::new(move || c.stop.is_cancelled().then(|| c.stop_at()));
            let place = places[0].clone();
            let spec2 = spec.clone();
            let sharding = sharding.clone();
            let groups = tokio::task::spawn_blocking(move || {
                Groups::start(&spec2, seed, clock, &map, &sharding, &place, stop_at)
            })
            .await
            .map_err(|e| WorkloadError::Adapter(format!("the adapters' start: {e}")));
            match groups {
                Ok(Ok(g)) => w.groups = Some(g),
                Ok(Err(e)) | Err(e) => {
                    common.stop.cancel();
                    return Err(e);
                }
            }
        }
        // One start for every loop and adapter: their schedules are one schedule.
        let t0 = Instant::now();
        for go in gos {
            let _ = go.send(t0);
        }
        if let Some(g) = &w.groups {
            g.go(clock.ns(t0));
        }
        Ok(w)
    }

    /// Ops recorded so far, over all clients (for progress output).
    pub fn recorded(&self) -> usize {
        self.common.recorded.load(Ordering::Relaxed) as usize
    }

    /// Stop the clients and return what they recorded. Open loop: the ops
    /// that fell due before the stop are still sent, and every op in flight
    /// ends or times out; closed loop: each client's op in flight ends.
    /// Bounded in time: what has not ended by then is left out and counted.
    pub async fn stop(mut self) -> Recorded {
        self.common.stop_at();
        self.common.stop.cancel();
        let bound = self.common.drain + Duration::from_secs(5);
        let mut ended = Vec::new();
        let mut unfinished = 0u32;
        for running in std::mem::take(&mut self.loops) {
            let joined = match running {
                Running::Task(t) => tokio::time::timeout(bound, t)
                    .await
                    .ok()
                    .and_then(|r| r.ok()),
                Running::Thread(t) => {
                    let join = tokio::task::spawn_blocking(move || t.join());
                    match tokio::time::timeout(bound, join).await {
                        Ok(Ok(Ok(e))) => Some(e),
                        _ => None,
                    }
                }
            };
            match joined {
                Some(e) => ended.push(e),
                None => {
                    tracing::warn!("a workload loop did not end within {bound:?}");
                    unfinished += 1;
                }
            }
        }
        let c = &self.common;
        let mut history: Vec<Op> = Vec::with_capacity(ended.iter().map(|e| e.log.len()).sum());
        let mut stats = WorkloadStats {
            model: match c.spec.model {
                Model::Closed => "closed".into(),
                Model::Open { .. } => "open".into(),
            },
            peak_in_flight: c.peak_in_flight.load(Ordering::Relaxed),
            max_in_flight: c.max_in_flight as u64,
            threads: self.threads,
            priority: self
                .priority
                .lock()
                .ok()
                .and_then(|p| *p)
                .map(Priority::describe),
            unrecorded: c.unrecorded.load(Ordering::Relaxed),
            loops_unfinished: unfinished,
            ..WorkloadStats::default()
        };
        for e in ended {
            stats.ops_dispatched += e.handed;
            stats.dispatcher_max_late_ms =
                stats.dispatcher_max_late_ms.max(e.max_late_ns as f64 / 1e6);
            stats.app_connections += e.app;
            stats.probe_connections += e.probe;
            stats.dropped_at_stop += e.dropped;
            history.extend(e.log);
        }
        if matches!(c.spec.model, Model::Closed) {
            stats.ops_dispatched = history.len() as u64 + stats.unrecorded;
        }
        if c.spec.clients.redis_rs > 0 {
            stats.app_library = Some(redis_rs_info(&c.spec));
        }
        if let Some(groups) = self.groups.take() {
            let stop_ns = c.stop_at();
            let (ops, adapters) = tokio::task::spawn_blocking(move || groups.finish(stop_ns))
                .await
                .unwrap_or_default();
            stats.ops_dispatched += adapters.iter().map(|a| a.fed).sum::<u64>();
            for a in &adapters {
                if let Some(p) = &a.problem {
                    tracing::error!("{p}");
                }
            }
            stats.adapters = adapters;
            history.extend(ops);
        }
        history.sort_by_key(|o| (o.due_ns, o.client));
        Recorded { history, stats }
    }
}

/// The built-in app clients' library as this workload runs it: the
/// settings that change what its clients see during a fault.
fn redis_rs_info(spec: &WorkloadSpec) -> crate::record::ops::LibraryInfo {
    let mut settings = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value| {
        settings.insert(k.to_string(), v);
    };
    put("response_timeout_ms", spec.timeout_ms.into());
    put("connection_timeout_ms", spec.timeout_ms.into());
    put("retries", spec.app_retries.into());
    put(
        "connection",
        serde_json::to_value(spec.app_connection).unwrap_or_default(),
    );
    put(
        "read_from_replicas",
        serde_json::to_value(spec.replica_reads).unwrap_or_default(),
    );
    crate::record::ops::LibraryInfo {
        library: super::groups::REDIS_RS.into(),
        version: crate::cluster::REDIS_RS_VERSION.into(),
        settings,
    }
}

/// The places the loops run in, after checking the spec can run there: a
/// workload needs nodes, and a loop that must move into a place needs a
/// thread of its own (the controller's threads never move).
fn checked_places(
    places: Vec<Place>,
    map: &AddressMap,
    spec: &WorkloadSpec,
) -> Result<Vec<Place>, WorkloadError> {
    spec.validate()?;
    if map.is_empty() {
        return Err(WorkloadError::NoNodes);
    }
    let places = if places.is_empty() {
        vec![Place::default()]
    } else {
        places
    };
    if places.iter().any(Place::moves) && spec.threads == 0 {
        return Err(WorkloadError::Spec(
            "threads: 0 puts the clients on the controller's threads, which cannot move into the run's network or a region; use threads: 1 or more".into(),
        ));
    }
    Ok(places)
}

/// One opener for every place. They share one app client, unless reads go
/// to the copies near each place: then each place has its own.
fn openers(
    places: &[Place],
    map: &AddressMap,
    sharding: &Sharding,
    spec: &WorkloadSpec,
    timeout: Duration,
) -> Result<Vec<Opener>, WorkloadError> {
    let mut openers: Vec<Opener> = Vec::new();
    for place in places {
        let shared = openers
            .first()
            .filter(|_| spec.replica_reads != ReplicaReads::Local);
        let app = if let Some(o) = shared {
            o.app.clone()
        } else if spec.clients.redis_rs > 0 && sharding.is_cluster() {
            Some(app_client(place, map, spec, timeout)?)
        } else {
            None
        };
        openers.push(Opener {
            map: map.clone(),
            sharding: sharding.clone(),
            timeout,
            app,
        });
    }
    Ok(openers)
}

/// The redis-rs cluster client the app connections of `place` come from,
/// reading where the spec's `replica_reads` says.
fn app_client(
    place: &Place,
    map: &AddressMap,
    spec: &WorkloadSpec,
    timeout: Duration,
) -> Result<redis::cluster::ClusterClient, WorkloadError> {
    let reads = match spec.replica_reads {
        ReplicaReads::Primary => Reads::Primary,
        ReplicaReads::Random => Reads::RandomReplica,
        ReplicaReads::Local => Reads::Nearest {
            near: Arc::new(place.near.iter().copied().collect()),
        },
    };
    let opts = ClientOptions {
        connection_timeout: timeout,
        response_timeout: timeout,
        retries: spec.app_retries,
        reads,
        client_cache: None,
    };
    cluster_client(map, &opts).map_err(WorkloadError::AppClient)
}

/// Start loop `index`: as a task on the controller's runtime with
/// `threads: 0`, else on a thread of its own in `place`.
fn spawn_loop(
    spec: &WorkloadSpec,
    index: u32,
    place: &Place,
    timeout: Duration,
    seen: Arc<Mutex<Option<Priority>>>,
    fut: impl std::future::Future<Output = LoopEnd> + Send + 'static,
) -> Result<Running, WorkloadError> {
    if spec.threads == 0 {
        return Ok(Running::Task(tokio::spawn(fut)));
    }
    let realtime = spec.realtime && matches!(spec.model, Model::Open { .. });
    let place = place.clone();
    let nice = spec.nice;
    std::thread::Builder::new()
        .name(format!("redis-drill-loop-{index}"))
        .spawn(move || {
            crate::net::dial::set_connect_timeout(timeout);
            loop_thread(place, realtime, nice, seen, fut)
        })
        .map(Running::Thread)
        .map_err(|e| WorkloadError::Spec(format!("start a client thread: {e}")))
}

impl Drop for Workload {
    fn drop(&mut self) {
        // The loops stop, drain and end on their own threads.
        self.common.stop.cancel();
    }
}

/// A loop's own thread: go to its place (the run's network, a region), take
/// the workload's priority and timer slack, and run the loop on a
/// single-threaded runtime.
fn loop_thread(
    place: Place,
    realtime: bool,
    nice: i32,
    seen: Arc<Mutex<Option<Priority>>>,
    fut: impl std::future::Future<Output = LoopEnd>,
) -> LoopEnd {
    if let Err(e) = place.enter() {
        // Its connections will fail, and the run says so.
        tracing::error!("a client thread could not go to its place: {e}");
    }
    let got = thread::prepare(realtime, nice);
    if let Ok(mut s) = seen.lock() {
        *s = Some(s.map_or(got, |p| p.weaker(got)));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .event_interval(EVENT_INTERVAL)
        .build();
    match rt {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            tracing::error!("a client thread's runtime: {e}");
            LoopEnd::default()
        }
    }
}
