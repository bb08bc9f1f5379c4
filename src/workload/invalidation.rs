//! The invalidation workload's runner: the store (the source of truth, in
//! this process's memory), the readers and the writers of
//! [`crate::record::invalidation`]'s spec, as tasks on a thread of their own
//! (on Docker, inside the run's network) sharing one router: a multiplexed
//! connection per node, a slot map that follows MOVED and is re-read after
//! errors, no retries. Every command is recorded with its times and outcome.
//!
//! With `client_cache`, each reader reads through a redis-rs cluster
//! connection of its own with server-assisted client-side caching (RESP3,
//! `CLIENT TRACKING`): its `GET`s are answered from its local copies when it
//! has them, and the server's invalidation messages clear those. Whether a
//! read was answered locally is the connection's own count of cache hits
//! before and after it (each reader's connection is its alone, one read at a
//! time). Fills and writes go through the shared router as before.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::Cmd;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::cluster::AddressMap;
use crate::cluster::client::{ClientOptions, cluster_client};
use crate::record::invalidation::{
    InvOp, InvalidationRecording, InvalidationSpec, Policy, value_of,
};
use crate::record::ops::Outcome;
use crate::record::timeline::Clock;
use crate::workload::error::WorkloadError;
use crate::workload::exec::{reply_text, reply_texts};
use crate::workload::generator::Keys;
use crate::workload::place::Place;
use crate::workload::router::{Req, Routed, Router};
use crate::workload::sharding::Sharding;

/// Ops a run records at most (~150 bytes each): 10 minutes at 5 000/s.
const MAX_OPS: usize = 3_000_000;

/// Keeps the readers' and writers' random streams apart from the other
/// workloads'.
const SEED_SALT: u64 = 0x696e_7661_6c69_6461;

/// The source of truth: one version per source, raised at each write. The
/// instant of each commit and of each read is taken under the lock, so the
/// history orders them exactly.
struct Store {
    versions: Mutex<Vec<u64>>,
}

impl Store {
    /// Raise `source`'s version: (the new version, when it became visible).
    fn commit(&self, source: u32, clock: &Clock) -> (u64, u64) {
        let mut v = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut v[source as usize];
        *slot += 1;
        (*slot, clock.now_ns())
    }

    /// The versions of `sources` now, and when they were read.
    fn read(
        &self,
        sources: impl IntoIterator<Item = u32>,
        clock: &Clock,
    ) -> (BTreeMap<u32, u64>, u64) {
        let v = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        let got = sources.into_iter().map(|s| (s, v[s as usize])).collect();
        (got, clock.now_ns())
    }
}

/// The spec's key layout, worked out once rather than walked on every
/// command: each grouped key's root (its hash tag), what a key is computed
/// from, what depends on it, what a source's write invalidates. A key in no
/// group is its own root, source and only dependant, and is not stored.
struct Layout {
    prefix: String,
    roots: HashMap<u32, u32>,
    deps: HashMap<u32, Vec<u32>>,
    dependants: HashMap<u32, Vec<u32>>,
    affected: HashMap<u32, Vec<u32>>,
}

impl Layout {
    fn of(spec: &InvalidationSpec) -> Layout {
        let mut members: BTreeSet<u32> = spec.dependants.keys().copied().collect();
        members.extend(spec.dependants.values().flatten());
        members.extend(spec.tags.values().flatten());
        let many = |v: Vec<u32>| (v.len() > 1).then_some(v);
        let mut l = Layout {
            prefix: spec.key_prefix.clone(),
            roots: HashMap::new(),
            deps: HashMap::new(),
            dependants: HashMap::new(),
            affected: HashMap::new(),
        };
        for &k in &members {
            l.roots.insert(k, spec.root_of(k));
            if let Some(d) = many(spec.deps(k).into_iter().collect()) {
                l.deps.insert(k, d);
            }
            if let Some(d) = many(spec.dependants_of(k).into_iter().collect()) {
                l.dependants.insert(k, d);
            }
            if let Some(a) = many(spec.affected(k)) {
                l.affected.insert(k, a);
            }
        }
        for s in spec.keys..spec.sources() {
            l.affected.insert(s, spec.affected(s));
        }
        l
    }

    /// [`InvalidationSpec::key`].
    fn key(&self, k: u32) -> String {
        let root = self.roots.get(&k).unwrap_or(&k);
        format!("{{{}inv:{root}}}:{k}", self.prefix)
    }

    /// [`InvalidationSpec::slot_of`].
    fn slot(&self, k: u32) -> u16 {
        crate::slots::key_slot(self.key(k).as_bytes())
    }

    /// [`InvalidationSpec::deps`], in order.
    fn deps(&self, k: u32) -> Vec<u32> {
        self.deps.get(&k).cloned().unwrap_or_else(|| vec![k])
    }

    /// [`InvalidationSpec::dependants_of`], in order.
    fn dependants_of(&self, k: u32) -> Vec<u32> {
        self.dependants.get(&k).cloned().unwrap_or_else(|| vec![k])
    }

    /// [`InvalidationSpec::affected`].
    fn affected(&self, source: u32) -> Vec<u32> {
        self.affected
            .get(&source)
            .cloned()
            .unwrap_or_else(|| vec![source])
    }
}

struct Shared {
    spec: InvalidationSpec,
    layout: Layout,
    clock: Clock,
    stop: CancellationToken,
    store: Store,
    ops: Mutex<Vec<InvOp>>,
    unrecorded: AtomicU64,
    unfinished: AtomicU64,
}

impl Shared {
    fn record(&self, op: InvOp) {
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        if ops.len() >= MAX_OPS {
            self.unrecorded.fetch_add(1, Ordering::Relaxed);
        } else {
            ops.push(op);
        }
    }

    fn now(&self) -> u64 {
        self.clock.now_ns()
    }

    /// Sleep, or false when stopped.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.stop.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }
}

/// The invalidation workload in the background. Stop it with
/// [`InvalidationWorkload::stop`].
pub struct InvalidationWorkload {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Where the workload's clients live: the writers (and the readers when
/// they have no regions), and one place per `regions` entry for the readers.
pub struct Places {
    pub writers: Place,
    pub readers: Vec<Place>,
}

/// What one of the workload's threads runs, and where.
struct Job {
    place: Place,
    readers: Vec<u32>,
    /// The writers too, and the clearing of the keys before the start.
    writers: bool,
}

/// Wait for `threads` to end, off the async runtime.
async fn join_all(threads: Vec<std::thread::JoinHandle<()>>) {
    let _ = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await;
}

impl InvalidationWorkload {
    /// Connect to the nodes of `map` from `place`, clear the drill's keys
    /// (a value left by an earlier run names versions this store never
    /// had), and start the readers and writers.
    pub async fn start(
        map: AddressMap,
        sharding: Sharding,
        spec: InvalidationSpec,
        seed: u64,
        clock: Clock,
        places: Places,
        cancel: CancellationToken,
    ) -> Result<InvalidationWorkload, WorkloadError> {
        let Places {
            writers: place,
            readers: reader_places,
        } = places;
        spec.check()
            .map_err(|(f, m)| WorkloadError::Spec(format!("invalidation.{f}: {m}")))?;
        let shared = Arc::new(Shared {
            store: Store {
                versions: Mutex::new(vec![0; spec.sources() as usize]),
            },
            layout: Layout::of(&spec),
            spec,
            clock,
            stop: cancel.child_token(),
            ops: Mutex::new(Vec::new()),
            unrecorded: AtomicU64::new(0),
            unfinished: AtomicU64::new(0),
        });
        let unstarted = shared.stop.clone().drop_guard();
        // The writers (and the readers of no region) first: their thread
        // clears the keys before anyone reads. Then a thread per readers'
        // region, in that region.
        let regions = shared.spec.regions.len();
        let mut jobs = vec![Job {
            place,
            readers: (0..shared.spec.readers).filter(|_| regions == 0).collect(),
            writers: true,
        }];
        if regions > 0 {
            if reader_places.len() != regions {
                return Err(WorkloadError::Spec(format!(
                    "invalidation.regions: {regions} regions and {} places for them",
                    reader_places.len()
                )));
            }
            for (i, p) in reader_places.into_iter().enumerate() {
                jobs.push(Job {
                    place: p,
                    readers: (0..shared.spec.readers)
                        .filter(|r| *r as usize % regions == i)
                        .collect(),
                    writers: false,
                });
            }
        }
        let mut threads = Vec::new();
        for (i, job) in jobs.into_iter().enumerate() {
            let (ready_tx, ready_rx) = oneshot::channel();
            let (job_shared, map, sharding) = (shared.clone(), map.clone(), sharding.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("redis-drill-invalidation-{i}"))
                .spawn(move || run_thread(job, job_shared, map, sharding, seed, ready_tx));
            let thread = match spawned {
                Ok(t) => t,
                Err(e) => {
                    shared.stop.cancel();
                    join_all(threads).await;
                    return Err(WorkloadError::Cluster(format!(
                        "start the invalidation workload: {e}"
                    )));
                }
            };
            threads.push(thread);
            let ready = match ready_rx.await {
                Ok(r) => r,
                Err(_) => Err(WorkloadError::Cluster(
                    "the invalidation workload's thread ended before it connected".into(),
                )),
            };
            if let Err(e) = ready {
                shared.stop.cancel();
                join_all(threads).await;
                return Err(e);
            }
        }
        unstarted.disarm();
        Ok(InvalidationWorkload { shared, threads })
    }

    /// Stop the readers and writers (each finishes the command it is in,
    /// bounded by its timeout) and return what they recorded.
    pub async fn stop(mut self) -> InvalidationRecording {
        self.shared.stop.cancel();
        let s = &self.shared.spec;
        // Each reader and writer ends the command it is in (every loop over
        // keys looks at the stop between two), then a double delete's second
        // round may still wait its delay.
        let bound =
            Duration::from_millis(8 * s.timeout_ms + 2 * s.store_ms + s.double_delete_ms + 5_000);
        let mut cut_short = false;
        let threads = std::mem::take(&mut self.threads);
        if !threads.is_empty()
            && tokio::time::timeout(bound, join_all(threads))
                .await
                .is_err()
        {
            tracing::warn!(
                "the invalidation workload did not end within {bound:?}: its history is cut short"
            );
            cut_short = true;
        }
        let sh = &self.shared;
        let mut ops = std::mem::take(&mut *sh.ops.lock().unwrap_or_else(|p| p.into_inner()));
        ops.sort_by_key(InvOp::start_ns);
        InvalidationRecording {
            spec: Some(sh.spec.clone()),
            ops,
            unrecorded: sh.unrecorded.load(Ordering::Relaxed),
            unfinished: sh.unfinished.load(Ordering::Relaxed),
            cut_short,
        }
    }
}

impl Drop for InvalidationWorkload {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}

fn run_thread(
    job: Job,
    shared: Arc<Shared>,
    map: AddressMap,
    sharding: Sharding,
    seed: u64,
    ready: oneshot::Sender<Result<(), WorkloadError>>,
) {
    let Job {
        place,
        readers,
        writers,
    } = job;
    let rt = match place.runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(WorkloadError::Cluster(format!(
                "start the invalidation workload's thread ({}): {e}",
                place.region.as_deref().unwrap_or("the run's network")
            ))));
            return;
        }
    };
    // Replica reads go to the nodes of the readers' own region.
    let near: Option<Arc<Vec<std::net::SocketAddr>>> =
        (shared.spec.replica_reads && place.region.is_some()).then(|| Arc::new(place.near.clone()));
    rt.block_on(async move {
        let timeout = Duration::from_millis(shared.spec.timeout_ms);
        let router = match Router::connect(&map, &sharding, timeout).await {
            Ok(r) => Arc::new(r),
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        if writers && let Err(e) = clear(&shared, &router).await {
            let _ = ready.send(Err(e));
            return;
        }
        let mut locals = Vec::new();
        if shared.spec.client_cache {
            for &r in &readers {
                match LocalCache::connect(&map, &shared.spec).await {
                    Ok(c) => locals.push(Some(c)),
                    Err(e) => {
                        let _ = ready.send(Err(WorkloadError::Cluster(format!(
                            "reader {r}'s client-side cache (RESP3, CLIENT TRACKING): {e}"
                        ))));
                        return;
                    }
                }
            }
        }
        let _ = ready.send(Ok(()));
        let mut tasks = tokio::task::JoinSet::new();
        let mut locals = locals.into_iter();
        for r in readers {
            let (sh, router, near) = (shared.clone(), router.clone(), near.clone());
            let local = locals.next().flatten();
            tasks.spawn(async move { reader(&sh, &router, r, seed, local, near).await });
        }
        if writers {
            for w in 0..shared.spec.writers {
                let (sh, router) = (shared.clone(), router.clone());
                tasks.spawn(async move { writer(sh, router, w, seed).await });
            }
        }
        while tasks.join_next().await.is_some() {}
    });
}

/// `DEL` every cache key before the first read (which also opens every
/// connection the drill will use).
async fn clear(sh: &Shared, router: &Router) -> Result<(), WorkloadError> {
    let keys: Vec<u32> = (0..sh.spec.keys).collect();
    for chunk in keys.chunks(1000) {
        let cmds: Vec<(u16, Cmd)> = chunk
            .iter()
            .map(|&k| {
                (
                    sh.layout.slot(k),
                    redis::cmd("DEL").arg(sh.layout.key(k)).clone(),
                )
            })
            .collect();
        for (i, r) in router.pipelined(&cmds).await.into_iter().enumerate() {
            if let Err(e) = r {
                return Err(WorkloadError::Cluster(format!(
                    "clear {} before the drill: {e}",
                    sh.layout.key(chunk[i])
                )));
            }
        }
    }
    Ok(())
}

/// The node that answered `e`.
fn node_of(router: &Router, e: &Routed) -> Option<String> {
    e.served.map(|(i, _)| router.node_name(i))
}

fn error_of(e: &Routed) -> Option<String> {
    match &e.outcome {
        Outcome::Ok => None,
        other => Some(other.label().to_string()),
    }
}

/// A pause drawn from every/2 .. 3·every/2: clients do not march in step.
fn jitter(rng: &mut StdRng, every: u64) -> Duration {
    Duration::from_millis(rng.random_range(every / 2..=every + every / 2))
}

/// The store's answer (the computation): drawn from half to one and a
/// half of `store_ms`, as a database's time varies — so that two
/// computations begun in one order can end in the other.
async fn store_wait(store_ms: u64) {
    if store_ms == 0 {
        return;
    }
    let us = rand::rng().random_range(store_ms * 500..=store_ms * 1500);
    tokio::time::sleep(Duration::from_micros(us)).await;
}

/// A reader's connection with a client-side cache of its own.
struct LocalCache {
    conn: redis::cluster_async::ClusterConnection,
}

impl LocalCache {
    /// A cluster connection over `map` whose reads are cached locally and
    /// tracked by the servers; its first command proves RESP3 and tracking.
    async fn connect(map: &AddressMap, spec: &InvalidationSpec) -> Result<LocalCache, String> {
        let timeout = Duration::from_millis(spec.timeout_ms);
        let opts = ClientOptions {
            connection_timeout: timeout,
            response_timeout: timeout,
            // Every error reaches the reader, as with the router.
            retries: 0,
            client_cache: Some(Duration::from_millis(spec.client_cache_ttl_ms)),
            ..ClientOptions::default()
        };
        let client = cluster_client(map, &opts).map_err(|e| e.to_string())?;
        let bound = Duration::from_secs(10);
        let conn = tokio::time::timeout(bound, client.get_async_connection())
            .await
            .map_err(|_| format!("no connection within {bound:?}"))?
            .map_err(|e| e.to_string())?;
        if conn.get_cache_statistics().is_none() {
            return Err("the connection keeps no local copies".into());
        }
        Ok(LocalCache { conn })
    }

    /// Local hits so far.
    fn hits(&self) -> usize {
        self.conn.get_cache_statistics().map_or(0, |s| s.hit)
    }

    /// `GET key` within `timeout`: the value, and whether the local copy
    /// answered; or the error's label.
    async fn get(
        &mut self,
        key: String,
        timeout: Duration,
    ) -> (Result<Option<String>, String>, bool) {
        let before = self.hits();
        let got = tokio::time::timeout(
            timeout,
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<String>>(&mut self.conn),
        )
        .await;
        let local = self.hits() > before;
        let r = match got {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(crate::workload::classify::classify(&e, true)
                .label()
                .to_string()),
            Err(_) => Err("timeout".to_string()),
        };
        (r, local)
    }
}

/// One reader: read a key (or a key with its dependants), fill what was
/// missing, pause, again.
async fn reader(
    sh: &Shared,
    router: &Router,
    r: u32,
    seed: u64,
    mut local: Option<LocalCache>,
    near: Option<Arc<Vec<std::net::SocketAddr>>>,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ SEED_SALT ^ u64::from(r).wrapping_mul(0x9e37_79b9));
    let spec = &sh.spec;
    if !sh
        .pause(Duration::from_millis(
            rng.random_range(0..=spec.read_every_ms),
        ))
        .await
    {
        return;
    }
    let picker = Keys::new(u64::from(spec.keys), spec.distribution);
    let mut n = 0u64;
    while !sh.stop.is_cancelled() {
        n += 1;
        let key = picker.pick(&mut rng) as u32;
        let keys: Vec<u32> = if spec.group_reads > 0.0 && rng.random_bool(spec.group_reads) {
            sh.layout.dependants_of(key)
        } else {
            vec![key]
        };
        let id = format!("r{r}-{n}");
        read_and_fill(sh, router, &id, r, &keys, local.as_mut(), near.as_deref()).await;
        if !sh.pause(jitter(&mut rng, spec.read_every_ms)).await {
            return;
        }
    }
}

/// `GET` (`MGET` for a group), then for each miss: read the store, wait
/// `store_ms`, `SET` the computed value.
async fn read_and_fill(
    sh: &Shared,
    router: &Router,
    id: &str,
    reader: u32,
    keys: &[u32],
    local: Option<&mut LocalCache>,
    near: Option<&Vec<std::net::SocketAddr>>,
) {
    let done = match local {
        // One key at a time (the spec refuses group reads with a local cache).
        Some(cache) => {
            let start_ns = sh.now();
            let timeout = Duration::from_millis(sh.spec.timeout_ms);
            let (got, local) = cache.get(sh.layout.key(keys[0]), timeout).await;
            let end_ns = sh.now();
            let (found, error) = match got {
                Ok(v) => (Some(vec![v]), None),
                Err(e) => (None, Some(e)),
            };
            ReadDone {
                found,
                node: None,
                error,
                local,
                replica: false,
                start_ns,
                end_ns,
            }
        }
        None => routed_read(sh, router, keys, near).await,
    };
    fill_misses(sh, router, id, reader, keys, done).await;
}

/// A read as it ended.
struct ReadDone {
    /// A value (or none) per key; absent when the read failed.
    found: Option<Vec<Option<String>>>,
    /// The node that answered.
    node: Option<String>,
    error: Option<String>,
    /// Answered from the reader's local copy.
    local: bool,
    /// Answered by a replica.
    replica: bool,
    start_ns: u64,
    end_ns: u64,
}

/// `GET` (`MGET` for a group) through the router: from a replica among
/// `near` when given and there is one.
async fn routed_read(
    sh: &Shared,
    router: &Router,
    keys: &[u32],
    near: Option<&Vec<std::net::SocketAddr>>,
) -> ReadDone {
    let cmd = if keys.len() == 1 {
        redis::cmd("GET").arg(sh.layout.key(keys[0])).clone()
    } else {
        let mut c = redis::cmd("MGET");
        for &k in keys {
            c.arg(sh.layout.key(k));
        }
        c
    };
    let slot = sh.layout.slot(keys[0]);
    let start_ns = sh.now();
    let e = match near {
        Some(near) => router.call_near(&Req::One(cmd), slot, near).await,
        None => router.call(&Req::One(cmd), slot).await,
    };
    let end_ns = sh.now();
    let error = error_of(&e);
    let node = node_of(router, &e);
    // Only a read sent to a near copy can have been a replica's.
    let replica = near.is_some()
        && e.served
            .is_some_and(|(i, _)| router.is_replica_read(i, slot));
    let found = error.is_none().then(|| {
        if keys.len() == 1 {
            vec![reply_text(e.value)]
        } else {
            reply_texts(e.value)
        }
    });
    ReadDone {
        found,
        node,
        error,
        local: false,
        replica,
        start_ns,
        end_ns,
    }
}

/// Record the read, then for each miss: read the store, wait `store_ms`,
/// `SET` the computed value.
async fn fill_misses(
    sh: &Shared,
    router: &Router,
    id: &str,
    reader: u32,
    keys: &[u32],
    done: ReadDone,
) {
    let ReadDone {
        found,
        node,
        error,
        local,
        replica,
        start_ns,
        end_ns,
    } = done;
    let spec = &sh.spec;
    let misses: Vec<u32> = match &found {
        Some(f) => keys
            .iter()
            .zip(f)
            .filter(|(_, v)| v.is_none())
            .map(|(&k, _)| k)
            .collect(),
        None => Vec::new(),
    };
    sh.record(InvOp::Read {
        id: id.to_string(),
        reader,
        keys: keys.to_vec(),
        start_ns,
        end_ns,
        node,
        found,
        error,
        local,
        replica,
    });
    if misses.is_empty() {
        return;
    }
    // One store read for every miss: the versions they are computed from.
    let sources = misses.iter().flat_map(|&k| sh.layout.deps(k));
    let (versions, store_ns) = sh.store.read(sources, &sh.clock);
    store_wait(spec.store_ms).await;
    for k in misses {
        if sh.stop.is_cancelled() {
            return;
        }
        let mine: BTreeMap<u32, u64> = sh
            .layout
            .deps(k)
            .into_iter()
            .map(|s| (s, versions[&s]))
            .collect();
        let set_id = format!("{id}.{k}");
        set(sh, router, &set_id, k, true, None, mine, store_ns).await;
    }
}

/// `SET k value [PX ttl]`, recorded.
#[allow(clippy::too_many_arguments)]
async fn set(
    sh: &Shared,
    router: &Router,
    id: &str,
    key: u32,
    fill: bool,
    after: Option<(u32, u64)>,
    versions: BTreeMap<u32, u64>,
    store_ns: u64,
) {
    let cmd = set_cmd(sh, id, key, &versions);
    let start_ns = sh.now();
    let e = router.call(&Req::One(cmd), sh.layout.slot(key)).await;
    let end_ns = sh.now();
    let ok = matches!(e.outcome, Outcome::Ok);
    sh.record(InvOp::Set {
        id: id.to_string(),
        key,
        fill,
        after,
        versions,
        store_ns,
        start_ns,
        end_ns,
        ok,
        node: node_of(router, &e),
        error: error_of(&e),
    });
}

fn set_cmd(sh: &Shared, id: &str, key: u32, versions: &BTreeMap<u32, u64>) -> Cmd {
    let mut c = redis::cmd("SET");
    c.arg(sh.layout.key(key)).arg(value_of(id, versions));
    if sh.spec.ttl_ms > 0 {
        c.arg("PX").arg(sh.spec.ttl_ms);
    }
    c
}

/// One writer: write a source, keep the cache consistent by its policy,
/// pause, again.
async fn writer(sh: Arc<Shared>, router: Arc<Router>, w: u32, seed: u64) {
    let mut rng = StdRng::seed_from_u64(
        seed ^ SEED_SALT.rotate_left(17) ^ u64::from(w).wrapping_mul(0x85eb_ca6b),
    );
    let spec = &sh.spec;
    if !sh
        .pause(Duration::from_millis(
            rng.random_range(0..=spec.write_every_ms),
        ))
        .await
    {
        return;
    }
    let picker = Keys::new(u64::from(spec.keys), spec.distribution);
    let tags = spec.tags.len() as u32;
    // Second deletes of double_delete, running while the writer goes on.
    let mut later = tokio::task::JoinSet::new();
    let mut n = 0u64;
    while !sh.stop.is_cancelled() {
        n += 1;
        let source = if tags > 0 && spec.tag_writes > 0.0 && rng.random_bool(spec.tag_writes) {
            spec.keys + rng.random_range(0..tags)
        } else {
            picker.pick(&mut rng) as u32
        };
        let start_ns = sh.now();
        let (version, commit_ns) = sh.store.commit(source, &sh.clock);
        sh.record(InvOp::Write {
            writer: w,
            source,
            version,
            start_ns,
            commit_ns,
        });
        let keys = sh.layout.affected(source);
        match spec.policy_of(source) {
            Policy::Delete => invalidate(&sh, &router, w, source, version, 1, &keys).await,
            Policy::DoubleDelete => {
                invalidate(&sh, &router, w, source, version, 1, &keys).await;
                let (sh2, router2) = (sh.clone(), router.clone());
                let wait = Duration::from_millis(spec.double_delete_ms);
                later.spawn(async move {
                    if sh2.pause(wait).await {
                        invalidate(&sh2, &router2, w, source, version, 2, &keys).await;
                    } else {
                        sh2.unfinished.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            Policy::Update => update(&sh, &router, w, n, source, version, &keys).await,
        }
        while later.try_join_next().is_some() {}
        if !sh.pause(jitter(&mut rng, spec.write_every_ms)).await {
            break;
        }
    }
    while later.join_next().await.is_some() {}
}

/// `DEL` the keys a write affects: one `MULTI`/`EXEC` with `atomic`, else
/// one `DEL` after another.
async fn invalidate(
    sh: &Shared,
    router: &Router,
    writer: u32,
    source: u32,
    version: u64,
    round: u8,
    keys: &[u32],
) {
    let spec = &sh.spec;
    let del = |k: u32| redis::cmd("DEL").arg(sh.layout.key(k)).clone();
    let batches: Vec<Vec<u32>> = if spec.atomic {
        vec![keys.to_vec()]
    } else {
        keys.iter().map(|&k| vec![k]).collect()
    };
    for batch in batches {
        // Stopped between two DELs: the write is left unfinished.
        if sh.stop.is_cancelled() && batch[0] != keys[0] {
            return;
        }
        let req = if batch.len() == 1 {
            Req::One(del(batch[0]))
        } else {
            Req::Txn(batch.iter().map(|&k| del(k)).collect())
        };
        let start_ns = sh.now();
        let e = router.call(&req, sh.layout.slot(batch[0])).await;
        let end_ns = sh.now();
        sh.record(InvOp::Invalidate {
            writer,
            source,
            version,
            round,
            keys: batch,
            start_ns,
            end_ns,
            ok: matches!(e.outcome, Outcome::Ok),
            node: node_of(router, &e),
            error: error_of(&e),
        });
    }
}

/// Compute every key a write affects again from the store and `SET` it:
/// one `MULTI`/`EXEC` with `atomic`, else one `SET` after another (each
/// computed just before it is sent).
async fn update(
    sh: &Shared,
    router: &Router,
    writer: u32,
    n: u64,
    source: u32,
    version: u64,
    keys: &[u32],
) {
    let spec = &sh.spec;
    let after = Some((source, version));
    let compute = async |ks: &[u32]| {
        let (versions, store_ns) = sh
            .store
            .read(ks.iter().flat_map(|&k| sh.layout.deps(k)), &sh.clock);
        store_wait(spec.store_ms).await;
        let per_key: Vec<(u32, BTreeMap<u32, u64>)> = ks
            .iter()
            .map(|&k| {
                (
                    k,
                    sh.layout
                        .deps(k)
                        .into_iter()
                        .map(|s| (s, versions[&s]))
                        .collect(),
                )
            })
            .collect();
        (per_key, store_ns)
    };
    if spec.atomic && keys.len() > 1 {
        let (per_key, store_ns) = compute(keys).await;
        let ids: Vec<String> = keys.iter().map(|k| format!("w{writer}-{n}.{k}")).collect();
        let cmds = per_key
            .iter()
            .zip(&ids)
            .map(|((k, v), id)| set_cmd(sh, id, *k, v))
            .collect();
        let start_ns = sh.now();
        let e = router.call(&Req::Txn(cmds), sh.layout.slot(keys[0])).await;
        let end_ns = sh.now();
        let ok = matches!(e.outcome, Outcome::Ok);
        let error = error_of(&e);
        let node = node_of(router, &e);
        for ((key, versions), id) in per_key.into_iter().zip(ids) {
            sh.record(InvOp::Set {
                id,
                key,
                fill: false,
                after,
                versions,
                store_ns,
                start_ns,
                end_ns,
                ok,
                node: node.clone(),
                error: error.clone(),
            });
        }
        return;
    }
    for &k in keys {
        if sh.stop.is_cancelled() && k != keys[0] {
            return;
        }
        let (mut per_key, store_ns) = compute(&[k]).await;
        let (_, versions) = per_key.remove(0);
        set(
            sh,
            router,
            &format!("w{writer}-{n}.{k}"),
            k,
            false,
            after,
            versions,
            store_ns,
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_the_specs_worked_out_once() {
        let spec: InvalidationSpec = serde_saphyr::from_str(
            "keys: 30\ndependants: {0: [1, 2], 2: [3], 7: [8]}\ntags: {cat: [3, 10, 11], dog: [20]}\n",
        )
        .unwrap();
        spec.check().unwrap();
        let l = Layout::of(&spec);
        assert!(l.roots.len() < 30, "ungrouped keys are not stored");
        for k in 0..spec.keys {
            assert_eq!(l.key(k), spec.key(k), "key {k}");
            assert_eq!(l.slot(k), spec.slot_of(k), "key {k}");
            assert_eq!(
                l.deps(k),
                spec.deps(k).into_iter().collect::<Vec<_>>(),
                "key {k}"
            );
            let d: Vec<u32> = spec.dependants_of(k).into_iter().collect();
            assert_eq!(l.dependants_of(k), d, "key {k}");
        }
        for s in 0..spec.sources() {
            assert_eq!(l.affected(s), spec.affected(s), "source {s}");
        }
        assert_eq!(l.affected(30), vec![3, 10, 11]);
    }

    #[test]
    fn the_store_orders_commits_and_reads() {
        let clock = Clock::start();
        let store = Store {
            versions: Mutex::new(vec![0; 3]),
        };
        let (v1, c1) = store.commit(1, &clock);
        let (got, at) = store.read([0, 1], &clock);
        let (v2, c2) = store.commit(1, &clock);
        assert_eq!((v1, v2), (1, 2));
        assert_eq!(got, BTreeMap::from([(0, 0), (1, 1)]));
        assert!(c1 <= at && at <= c2);
    }
}
