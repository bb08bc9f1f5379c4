//! The running stampede workload: its readers as tasks on a thread of
//! their own (apart from the controller's runtime, and — on Docker — inside
//! the run's network; a thread per region when the readers are in regions),
//! each thread's readers sharing one probe router: a multiplexed connection
//! per node, a slot map that follows MOVED and is re-read after errors, no
//! retries.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::{Cmd, Value};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::cluster::AddressMap;
use crate::record::ops::Outcome;
use crate::record::stampede::{
    Compute, Found, Policy, Read, ReadOutcome, StampedeRecording, StampedeSpec, Variant,
    fresh_until, value_of,
};
use crate::record::timeline::Clock;
use crate::runtime::netns::NetNs;
use crate::workload::error::WorkloadError;
use crate::workload::exec::reply_text;
use crate::workload::generator::Keys;
use crate::workload::locks::RELEASE_LUA;
use crate::workload::place::Place;
use crate::workload::router::{Req, Routed, Router};
use crate::workload::sharding::Sharding;

/// What starting the workload can fail with.
pub type StampedeError = WorkloadError;

/// Reads a run records at most (~200 bytes each): 10 minutes at 3 000/s.
const MAX_READS: usize = 2_000_000;

/// Keeps the readers' random streams apart from the other workloads'.
const SEED_SALT: u64 = 0x7374_616d_7065_6465;

/// `GET k`, and on a miss (or, with `ARGV[3]` above 0, a value whose
/// freshness ran out before `ARGV[3]`) `SET lock token NX PX ttl`: returns
/// `{value or nil, 1 when this call took the lock}`.
const SINGLE_FLIGHT_LUA: &str = r"
local v = redis.call('GET', KEYS[1])
if v then
  local now = tonumber(ARGV[3])
  local fresh = tonumber(string.match(v, '|(%d+)$'))
  if now == 0 or fresh == nil or fresh > now then
    return {v, 0}
  end
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {v, 1}
end
return {v, 0}
";

struct Shared {
    spec: StampedeSpec,
    clock: Clock,
    stop: CancellationToken,
    reads: Mutex<Vec<Read>>,
    computes: Mutex<Vec<Compute>>,
    unrecorded: AtomicU64,
}

impl Shared {
    fn record(&self, read: Read, compute: Option<Compute>) {
        let mut reads = self.reads.lock().unwrap_or_else(|p| p.into_inner());
        if reads.len() >= MAX_READS {
            self.unrecorded.fetch_add(1, Ordering::Relaxed);
        } else {
            reads.push(read);
        }
        drop(reads);
        if let Some(c) = compute {
            self.computes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(c);
        }
    }

    fn now(&self) -> u64 {
        self.clock.now_ns()
    }
}

/// The stampede workload in the background. Stop it with
/// [`StampedeWorkload::stop`].
pub struct StampedeWorkload {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl StampedeWorkload {
    /// Connect the readers' router to the nodes of `map` (from `netns` when
    /// given) and start the readers.
    pub async fn start(
        map: AddressMap,
        sharding: Sharding,
        spec: StampedeSpec,
        seed: u64,
        clock: Clock,
        netns: Option<Arc<NetNs>>,
        cancel: CancellationToken,
    ) -> Result<StampedeWorkload, StampedeError> {
        let places = vec![Place::unplaced(netns)];
        Self::start_on(map, sharding, spec, seed, clock, places, cancel).await
    }

    /// [`StampedeWorkload::start`] with the readers in `places` in turn
    /// (reader r on the thread of `places[r mod n]`, which enters it first:
    /// the run's network, a region's namespace or its source address), each
    /// thread with its own router. The first place writes the prefill; no
    /// reader starts before every thread is connected.
    pub async fn start_on(
        map: AddressMap,
        sharding: Sharding,
        spec: StampedeSpec,
        seed: u64,
        clock: Clock,
        places: Vec<Place>,
        cancel: CancellationToken,
    ) -> Result<StampedeWorkload, StampedeError> {
        spec.check()
            .map_err(|(f, m)| WorkloadError::Spec(format!("stampede.{f}: {m}")))?;
        let places = if places.is_empty() {
            vec![Place::default()]
        } else {
            places
        };
        let shared = Arc::new(Shared {
            spec,
            clock,
            stop: cancel.child_token(),
            reads: Mutex::new(Vec::new()),
            computes: Mutex::new(Vec::new()),
            unrecorded: AtomicU64::new(0),
        });
        let go = CancellationToken::new();
        // Dropped before every thread is running (an error, or the caller
        // gave up on this future): the threads stop rather than wait for
        // `go` until the run's own cancellation.
        let unstarted = shared.stop.clone().drop_guard();
        let n_places = places.len() as u32;
        let mut threads = Vec::new();
        let mut readies = Vec::new();
        for (i, place) in places.into_iter().enumerate() {
            let (ready_tx, ready_rx) = oneshot::channel();
            let readers: Vec<u32> = (0..shared.spec.readers)
                .filter(|r| r % n_places == i as u32)
                .collect();
            let name = match &place.region {
                Some(r) => format!("redis-drill-stampede-{r}"),
                None => "redis-drill-stampede".into(),
            };
            let job = Job {
                place,
                shared: shared.clone(),
                map: map.clone(),
                sharding: sharding.clone(),
                seed,
                readers,
                prefill: i == 0 && shared.spec.prefill,
                go: go.clone(),
            };
            match std::thread::Builder::new()
                .name(name)
                .spawn(move || readers_thread(job, ready_tx))
            {
                Ok(t) => threads.push(t),
                Err(e) => {
                    shared.stop.cancel();
                    join_all(threads).await;
                    return Err(WorkloadError::Cluster(format!(
                        "start the stampede readers: {e}"
                    )));
                }
            }
            readies.push(ready_rx);
        }
        let mut failed = None;
        for ready in readies {
            let why = match ready.await {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(_) => WorkloadError::Cluster(
                    "a stampede readers' thread ended before it connected".into(),
                ),
            };
            failed.get_or_insert(why);
        }
        if let Some(e) = failed {
            shared.stop.cancel();
            join_all(threads).await;
            return Err(e);
        }
        unstarted.disarm();
        go.cancel();
        Ok(StampedeWorkload { shared, threads })
    }

    /// Stop the readers (each finishes the read it is in, bounded by its
    /// `max_wait_ms` and a computation) and return what they recorded.
    pub async fn stop(mut self) -> StampedeRecording {
        self.shared.stop.cancel();
        let s = &self.shared.spec;
        let bound = Duration::from_millis(s.max_wait_ms + s.compute_ms + 4 * s.timeout_ms + 5_000);
        let threads = std::mem::take(&mut self.threads);
        if tokio::time::timeout(bound, join_all(threads))
            .await
            .is_err()
        {
            tracing::warn!("the stampede readers did not end within {bound:?}");
        }
        let sh = &self.shared;
        let mut reads = std::mem::take(&mut *sh.reads.lock().unwrap_or_else(|p| p.into_inner()));
        let mut computes =
            std::mem::take(&mut *sh.computes.lock().unwrap_or_else(|p| p.into_inner()));
        reads.sort_by_key(|r| (r.start_ns, r.reader));
        computes.sort_by_key(|c| (c.lock_end_ns, c.reader));
        StampedeRecording {
            spec: Some(sh.spec.clone()),
            slot: sh.spec.slot(),
            reads,
            computes,
            unrecorded: sh.unrecorded.load(Ordering::Relaxed),
        }
    }
}

impl Drop for StampedeWorkload {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}

/// Wait for threads that were told to stop.
async fn join_all(threads: Vec<std::thread::JoinHandle<()>>) {
    let _ = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await;
}

/// What one readers' thread runs: its place, its readers, whether it
/// writes the prefill, and the signal that every thread is connected.
struct Job {
    place: Place,
    shared: Arc<Shared>,
    map: AddressMap,
    sharding: Sharding,
    seed: u64,
    readers: Vec<u32>,
    prefill: bool,
    go: CancellationToken,
}

fn readers_thread(job: Job, ready: oneshot::Sender<Result<(), StampedeError>>) {
    let rt = match job.place.runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(WorkloadError::Cluster(format!(
                "start the stampede readers' thread: {e}"
            ))));
            return;
        }
    };
    let Job {
        shared,
        map,
        sharding,
        seed,
        readers,
        prefill: writes_prefill,
        go,
        ..
    } = job;
    rt.block_on(async move {
        let timeout = Duration::from_millis(shared.spec.timeout_ms);
        let router = match Router::connect(&map, &sharding, timeout).await {
            Ok(r) => Arc::new(r),
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        warm(&router).await;
        if writes_prefill && let Err(e) = prefill(&shared, &router).await {
            let _ = ready.send(Err(e));
            return;
        }
        let _ = ready.send(Ok(()));
        tokio::select! {
            _ = go.cancelled() => {}
            _ = shared.stop.cancelled() => return,
        }
        let mut tasks = tokio::task::JoinSet::new();
        for r in readers {
            let (shared, router) = (shared.clone(), router.clone());
            tasks.spawn(async move { reader(&shared, &router, r, seed).await });
        }
        while tasks.join_next().await.is_some() {}
    });
}

/// Open the connection to every node that owns a slot before the first
/// read: no read should pay the connect's round trips (across a link, the
/// first read of every reader took two round trips instead of one).
async fn warm(router: &Router) {
    let mut owners = std::collections::HashSet::new();
    let pings: Vec<(u16, Cmd)> = (0..crate::slots::SLOT_COUNT)
        .filter(|&slot| owners.insert(router.owner_name(slot)))
        .map(|slot| (slot, redis::cmd("PING")))
        .collect();
    for r in router.pipelined(&pings).await {
        if let Err(e) = r {
            tracing::warn!("the stampede readers could not reach a node before starting: {e}");
        }
    }
}

/// Write every key, fresh from now, before the readers start: values named
/// `prefill-<n>`, which no computation wrote.
async fn prefill(sh: &Shared, router: &Router) -> Result<(), StampedeError> {
    let spec = &sh.spec;
    let keys: Vec<u32> = (0..spec.keys).collect();
    for chunk in keys.chunks(1000) {
        let fresh = sh.now() + spec.ttl_ms * 1_000_000;
        let cmds: Vec<(u16, Cmd)> = chunk
            .iter()
            .map(|&n| {
                let value = value_of(&format!("prefill-{n}"), fresh);
                let mut c = redis::cmd("SET");
                c.arg(spec.key(n)).arg(value).arg("PX").arg(spec.px_ms());
                (spec.slot_of(n), c)
            })
            .collect();
        for (i, r) in router.pipelined(&cmds).await.into_iter().enumerate() {
            if let Err(e) = r {
                return Err(WorkloadError::Cluster(format!(
                    "prefill {}: {e}",
                    spec.key(chunk[i])
                )));
            }
        }
    }
    Ok(())
}

/// One reader: a `get_or_compute` of a random hot key, a pause, again.
async fn reader(sh: &Shared, router: &Router, r: u32, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ SEED_SALT ^ u64::from(r).wrapping_mul(0x9e37_79b9));
    let every = sh.spec.read_every_ms;
    // Readers start spread over one pause, not all at once.
    if !pause(sh, Duration::from_millis(rng.random_range(0..=every))).await {
        return;
    }
    let mut n = 0u64;
    let picker = Keys::new(u64::from(sh.spec.keys), sh.spec.distribution);
    while !sh.stop.is_cancelled() {
        let key = picker.pick(&mut rng) as u32;
        let Some((read, compute)) = get_or_compute(sh, router, r, key, &mut n).await else {
            return;
        };
        sh.record(read, compute);
        // Each pause drawn from every/2 .. 3·every/2: readers do not march in step.
        let ms = rng.random_range(every / 2..=every + every / 2);
        if !pause(sh, Duration::from_millis(ms)).await {
            return;
        }
    }
}

/// Sleep, or false when stopped.
async fn pause(sh: &Shared, d: Duration) -> bool {
    tokio::select! {
        _ = sh.stop.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

/// One command through the router (the map re-read first when an error
/// made it stale).
async fn call(router: &Router, slot: u16, cmd: Cmd) -> Routed {
    router.call(&Req::One(cmd), slot).await
}

/// What the first step of a read found.
struct Probe {
    value: Option<String>,
    /// With the `lua` variant: whether the script took the lock.
    won: bool,
    sent_ns: u64,
    end_ns: u64,
    node: Option<String>,
}

/// A fresh value, given the policy: under `poll` every value Redis still
/// has is fresh (its PX is its freshness); under `serve_stale` the value
/// says until when.
fn is_fresh(spec: &StampedeSpec, value: &str, now_ns: u64) -> bool {
    match spec.policy {
        Policy::Poll => true,
        Policy::ServeStale => fresh_until(value).is_none_or(|f| f > now_ns),
    }
}

/// One read of one key by one reader: what every step of it needs.
struct KeyRead<'a> {
    sh: &'a Shared,
    router: &'a Router,
    reader: u32,
    key_n: u32,
    variant: Variant,
    slot: u16,
    key: String,
    lock: String,
    /// The application waits this long for a value, whatever its client does
    /// meanwhile (a slot map re-read that tries unreachable nodes in turn
    /// can take several command timeouts): a step still running then is
    /// abandoned, and the read has failed.
    deadline: tokio::time::Instant,
}

/// Read key `key_n` as reader `r` the way the scenario's variant says: a
/// fresh value is a hit; otherwise take the lock and compute, or wait and
/// poll (or serve the stale value). `None` when the drill ended first.
async fn get_or_compute(
    sh: &Shared,
    router: &Router,
    r: u32,
    key_n: u32,
    n: &mut u64,
) -> Option<(Read, Option<Compute>)> {
    let spec = &sh.spec;
    let start = Instant::now();
    let start_ns = sh.clock.ns(start);
    let max_wait = Duration::from_millis(spec.max_wait_ms);
    let key = spec.key(key_n);
    let kr = KeyRead {
        sh,
        router,
        reader: r,
        key_n,
        variant: spec.variant_of(key_n),
        slot: spec.slot_of(key_n),
        lock: format!("{key}:lock"),
        key,
        deadline: tokio::time::Instant::from_std(start + max_wait),
    };
    let (mut polls, mut errors) = (0u32, 0u32);
    let done = |outcome, polls, errors| Read {
        reader: r,
        key: key_n,
        start_ns,
        end_ns: sh.now(),
        outcome,
        polls,
        errors,
    };
    loop {
        *n += 1;
        let token = format!("r{r}-{n}");
        if let Some((outcome, compute)) = kr.attempt(&token, polls, &mut errors).await {
            return Some((done(outcome, polls, errors), compute));
        }
        if start.elapsed() >= max_wait {
            let message = format!(
                "no value within {} ms ({polls} polls, {errors} errors)",
                spec.max_wait_ms
            );
            return Some((done(ReadOutcome::Failed { message }, polls, errors), None));
        }
        // The drill ended while this read waited: it has no outcome (not a
        // failure: the system was not given its max_wait_ms).
        if sh.stop.is_cancelled() {
            return None;
        }
        polls += 1;
        tokio::time::sleep(Duration::from_millis(spec.poll_ms)).await;
    }
}

impl KeyRead<'_> {
    /// One try (with `token` as the lock's value): the read's outcome when
    /// it ended — a fresh value, a computation won, a stale value served —
    /// or `None` to poll again. Failed steps are counted in `errors`.
    async fn attempt(
        &self,
        token: &str,
        polls: u32,
        errors: &mut u32,
    ) -> Option<(ReadOutcome, Option<Compute>)> {
        let spec = &self.sh.spec;
        let (sh, router, slot) = (self.sh, self.router, self.slot);
        let probe = match self.variant {
            Variant::Lock => within(self.deadline, get(sh, router, slot, &self.key)).await,
            Variant::Lua => {
                let flight = single_flight(sh, router, slot, &self.key, &self.lock, token);
                within(self.deadline, flight).await
            }
        };
        let Ok(mut p) = probe else {
            *errors += 1;
            return None;
        };
        if let Some(v) = &p.value
            && is_fresh(spec, v, p.end_ns)
        {
            let value = v.clone();
            let outcome = if polls == 0 {
                ReadOutcome::Hit { value }
            } else {
                ReadOutcome::Waited { value }
            };
            return Some((outcome, None));
        }
        // Missing, or stale under serve_stale: take the lock (the script
        // already tried).
        if self.variant == Variant::Lock && !self.take_lock(&mut p, token).await {
            *errors += 1;
            return None;
        }
        if p.won {
            return Some(self.compute(token, p, errors).await);
        }
        match p.value {
            Some(value) if spec.policy == Policy::ServeStale => {
                Some((ReadOutcome::Stale { value }, None))
            }
            _ => None,
        }
    }

    /// `SET lock token NX PX`: whether it was answered (then `p` says
    /// whether it was won, when, and by which node).
    async fn take_lock(&self, p: &mut Probe, token: &str) -> bool {
        let sh = self.sh;
        let sent = sh.now();
        let set_nx = redis::cmd("SET")
            .arg(&self.lock)
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(sh.spec.lock_ttl_ms)
            .clone();
        let e = tokio::time::timeout_at(self.deadline, call(self.router, self.slot, set_nx)).await;
        match e {
            Ok(e) if matches!(e.outcome, Outcome::Ok) => {
                p.won = matches!(e.value, Value::Okay);
                p.sent_ns = sent;
                p.end_ns = sh.now();
                p.node = e.served.map(|(i, _)| self.router.node_name(i));
                true
            }
            _ => false,
        }
    }

    /// The winner's part: (with the `lock` variant) read again, compute, write
    /// with PX, release. Failed steps are counted in `errors`.
    async fn compute(
        &self,
        token: &str,
        grant: Probe,
        errors: &mut u32,
    ) -> (ReadOutcome, Option<Compute>) {
        let (sh, spec) = (self.sh, &self.sh.spec);
        let (router, slot) = (self.router, self.slot);
        let (lock_sent_ns, lock_end_ns) = (grant.sent_ns, grant.end_ns);
        let lock_node = grant.node.clone().unwrap_or_default();
        // The read the computation rests on: the script's own GET with `lua`.
        let base = match self.variant {
            Variant::Lua => grant,
            Variant::Lock => match self.read_under_lock(token, errors).await {
                Ok(p) => p,
                Err(outcome) => return (outcome, None),
            },
        };
        // The recomputation itself.
        tokio::time::sleep(Duration::from_millis(spec.compute_ms)).await;
        let set_sent_ns = sh.now();
        let fresh_until_ns = set_sent_ns + spec.ttl_ms * 1_000_000;
        let value = value_of(token, fresh_until_ns);
        let set = redis::cmd("SET")
            .arg(&self.key)
            .arg(&value)
            .arg("PX")
            .arg(spec.px_ms())
            .clone();
        let e = call(router, slot, set).await;
        let set_end_ns = sh.now();
        let set_ok = matches!(e.outcome, Outcome::Ok);
        *errors += u32::from(!set_ok);
        let released = release(router, slot, &self.lock, token).await;
        *errors += u32::from(released.is_none());
        let compute = Compute {
            reader: self.reader,
            key: self.key_n,
            variant: self.variant,
            found: if base.value.is_some() {
                Found::Stale
            } else {
                Found::Missing
            },
            miss_sent_ns: base.sent_ns,
            miss_end_ns: base.end_ns,
            lock_sent_ns,
            lock_end_ns,
            lock_node,
            value: value.clone(),
            fresh_until_ns,
            set_sent_ns,
            set_end_ns,
            set_ok,
            release_end_ns: released.map(|_| sh.now()),
            released: released == Some(true),
        };
        let outcome = if set_ok {
            ReadOutcome::Computed { value }
        } else {
            ReadOutcome::Failed {
                message: format!("the computed value's SET failed: {}", e.outcome.label()),
            }
        };
        (outcome, Some(compute))
    }

    /// With the `lock` variant, a second GET under the lock: a reader that
    /// finished between our miss and our lock has written the value. The
    /// read's outcome (the lock released) when that ends it.
    async fn read_under_lock(&self, token: &str, errors: &mut u32) -> Result<Probe, ReadOutcome> {
        let (router, slot, lock) = (self.router, self.slot, &self.lock);
        let outcome = match get(self.sh, router, slot, &self.key).await {
            Ok(p) => match &p.value {
                Some(v) if is_fresh(&self.sh.spec, v, p.end_ns) => {
                    ReadOutcome::Waited { value: v.clone() }
                }
                _ => return Ok(p),
            },
            Err(()) => {
                *errors += 1;
                ReadOutcome::Failed {
                    message: "the read under the lock failed".into(),
                }
            }
        };
        let released = release(router, slot, lock, token).await;
        *errors += u32::from(released.is_none());
        Err(outcome)
    }
}

/// `step`, abandoned as failed when it is still running at `deadline`.
async fn within<T>(
    deadline: tokio::time::Instant,
    step: impl Future<Output = Result<T, ()>>,
) -> Result<T, ()> {
    tokio::time::timeout_at(deadline, step)
        .await
        .unwrap_or(Err(()))
}

async fn get(sh: &Shared, router: &Router, slot: u16, key: &str) -> Result<Probe, ()> {
    let sent_ns = sh.now();
    let e = call(router, slot, redis::cmd("GET").arg(key).clone()).await;
    match e.outcome {
        Outcome::Ok => Ok(Probe {
            value: reply_text(e.value),
            won: false,
            sent_ns,
            end_ns: sh.now(),
            node: e.served.map(|(i, _)| router.node_name(i)),
        }),
        _ => Err(()),
    }
}

async fn single_flight(
    sh: &Shared,
    router: &Router,
    slot: u16,
    key: &str,
    lock: &str,
    token: &str,
) -> Result<Probe, ()> {
    let sent_ns = sh.now();
    // Under `poll` every value is fresh: the script is told no time.
    let now = match sh.spec.policy {
        Policy::Poll => 0,
        Policy::ServeStale => sent_ns,
    };
    let e = call(
        router,
        slot,
        redis::cmd("EVAL")
            .arg(SINGLE_FLIGHT_LUA)
            .arg(2)
            .arg(key)
            .arg(lock)
            .arg(token)
            .arg(sh.spec.lock_ttl_ms)
            .arg(now)
            .clone(),
    )
    .await;
    let end_ns = sh.now();
    match (e.outcome, e.value) {
        (Outcome::Ok, Value::Array(mut items)) if items.len() == 2 => {
            let won = matches!(items.pop(), Some(Value::Int(1)));
            let value = items.pop().and_then(reply_text);
            Ok(Probe {
                value,
                won,
                sent_ns,
                end_ns,
                node: e.served.map(|(i, _)| router.node_name(i)),
            })
        }
        _ => Err(()),
    }
}

/// Compare-and-delete the lock: `Some(deleted)`, or `None` when it failed.
async fn release(router: &Router, slot: u16, lock: &str, token: &str) -> Option<bool> {
    let e = call(
        router,
        slot,
        redis::cmd("EVAL")
            .arg(RELEASE_LUA)
            .arg(1)
            .arg(lock)
            .arg(token)
            .clone(),
    )
    .await;
    match (e.outcome, e.value) {
        (Outcome::Ok, Value::Int(n)) => Some(n == 1),
        _ => None,
    }
}
