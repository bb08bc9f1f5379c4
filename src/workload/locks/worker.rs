//! One worker: pick a lock, acquire it (retrying with jitter until granted
//! or timed out), hold it, write the protected resources, release it, think,
//! again — every step recorded with its times on the run's clock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use super::client::{Failed, LockClient, LockKeys};
use super::control::LockControl;
use super::resource::Registers;
use super::spec::LockSpec;
use crate::record::locks::{
    Attempt, AttemptOutcome, CounterFinal, CounterPath, Extend, Grant, Increment, IncrementOutcome,
    LockEvent, Pause, Release, Timeout, Write, WriteOutcome,
};
use crate::record::timeline::Clock;

/// Events a run records at most: ~250 bytes each, so the history stays
/// under 250 MB; a drill with contended locks records a few thousand a
/// second. The workers stop when it is full, and the run says so.
pub const MAX_EVENTS: usize = 1_000_000;

/// How long a worker runs at most if nobody stops it. Drills run minutes.
pub const MAX_RUN: Duration = Duration::from_secs(3600);

/// Keeps each worker's random stream apart from the key-value workload's,
/// which uses the seed directly.
const SEED_SALT: u64 = 0x6c6f_636b_735f_7631;

/// A timer that wakes more than this late is counted: a worker's steps are
/// timed in milliseconds, so a later wake-up is the tool's own lag showing.
const LATE: Duration = Duration::from_millis(1);

/// What every worker shares.
pub(super) struct Shared {
    pub spec: LockSpec,
    pub clock: Clock,
    pub control: LockControl,
    pub registers: Registers,
    pub stop: CancellationToken,
    log: Mutex<Vec<LockEvent>>,
    recorded: AtomicU64,
    pub unrecorded: AtomicU64,
    late_max_ns: AtomicU64,
    pub late_over_1ms: AtomicU64,
    /// The counters read back after the workers stopped.
    pub finals: Mutex<Vec<CounterFinal>>,
}

impl Shared {
    /// What the workers share, before any has started.
    pub fn new(spec: LockSpec, clock: Clock, stop: CancellationToken) -> Shared {
        Shared {
            control: LockControl::new(spec.locks),
            registers: Registers::new(&spec.resources, spec.locks),
            spec,
            clock,
            stop,
            log: Mutex::new(Vec::new()),
            recorded: AtomicU64::new(0),
            unrecorded: AtomicU64::new(0),
            late_max_ns: AtomicU64::new(0),
            late_over_1ms: AtomicU64::new(0),
            finals: Mutex::new(Vec::new()),
        }
    }

    /// Keep `e`; false once the history is full (the worker stops then).
    fn record(&self, e: LockEvent) -> bool {
        if self.recorded.fetch_add(1, Ordering::Relaxed) < MAX_EVENTS as u64 {
            self.log.lock().unwrap_or_else(|p| p.into_inner()).push(e);
            true
        } else {
            self.recorded.fetch_sub(1, Ordering::Relaxed);
            self.unrecorded.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    fn full(&self) -> bool {
        self.unrecorded.load(Ordering::Relaxed) > 0
    }

    /// Every event so far, in the order they ended.
    pub fn take_events(&self) -> Vec<LockEvent> {
        let mut events = std::mem::take(&mut *self.log.lock().unwrap_or_else(|p| p.into_inner()));
        events.sort_by_key(LockEvent::end_ns);
        events
    }

    /// The latest any worker woke past its due time: the tool's own lag.
    pub fn late_max_ms(&self) -> f64 {
        self.late_max_ns.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Sleep until `at`, or until the stop; false when stopped. How late the
    /// timer woke is kept.
    async fn nap_until(&self, at: Instant) -> bool {
        tokio::select! {
            biased;
            _ = self.stop.cancelled() => return false,
            _ = tokio::time::sleep_until(at.into()) => {}
        }
        let late = Instant::now().saturating_duration_since(at);
        self.late_max_ns
            .fetch_max(late.as_nanos() as u64, Ordering::Relaxed);
        if late > LATE {
            self.late_over_1ms.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    async fn nap(&self, d: Duration) -> bool {
        self.nap_until(Instant::now() + d).await
    }
}

/// A lock held by a worker.
struct Held {
    worker: u32,
    lock: u32,
    acquisition: u64,
    keys: LockKeys,
    token: String,
    fence: u64,
    /// Until when the worker believes it holds the lock.
    valid_until: Instant,
    /// When the acquisition began: an increment's cost counts from there.
    start_ns: u64,
}

/// The locked increment under way: what the `GET` said, and when.
struct Read {
    at_ns: u64,
    value: Result<i64, Failed>,
}

/// One worker until the stop, the history's end or [`MAX_RUN`].
pub(super) async fn run(shared: &Shared, worker: u32, mut client: LockClient, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ SEED_SALT ^ u64::from(worker).rotate_left(32));
    let deadline = Instant::now() + MAX_RUN;
    let think = Duration::from_millis(shared.spec.think_ms);
    // Bounded by MAX_RUN, the history's size and the stop.
    for acquisition in 0.. {
        if shared.stop.is_cancelled() || shared.full() || Instant::now() >= deadline {
            break;
        }
        let lock = rng.random_range(0..shared.spec.locks);
        if let Some(held) = acquire(shared, &mut client, worker, lock, acquisition, &mut rng).await
        {
            critical_section(shared, &mut client, held, &mut rng).await;
        }
        if !shared.nap(think).await {
            break;
        }
    }
}

/// Attempts until granted, timed out, or stopped.
async fn acquire(
    shared: &Shared,
    client: &mut LockClient,
    worker: u32,
    lock: u32,
    acquisition: u64,
    rng: &mut StdRng,
) -> Option<Held> {
    let spec = &shared.spec;
    let keys = LockKeys::of(lock);
    let token = format!("w{worker}-{acquisition}-{:016x}", rng.random::<u64>());
    let started = Instant::now();
    let start_ns = shared.clock.ns(started);
    let deadline = started + Duration::from_millis(spec.acquire_timeout_ms);
    // Bounded by the acquisition timeout and the stop.
    for attempts in 1u32.. {
        let round = client.try_lock(&keys, &token).await;
        let granted = round.outcome == AttemptOutcome::Granted;
        shared.record(LockEvent::Attempt(Attempt {
            worker,
            lock,
            acquisition,
            start_ns: round.start_ns,
            end_ns: round.end_ns,
            outcome: round.outcome,
            granted_on: round.granted_on.clone(),
            errors: round.errors,
        }));
        if granted {
            let fence = round.fence.unwrap_or(0);
            shared.record(LockEvent::Grant(Grant {
                worker,
                lock,
                acquisition,
                token: token.clone(),
                fence,
                start_ns,
                end_ns: round.decided_ns,
                attempt_start_ns: round.start_ns,
                validity_ns: round.validity_ns,
                attempts,
                granted_on: round.granted_on,
            }));
            shared.control.granted(worker, lock);
            let valid_until = shared.clock.instant(round.decided_ns + round.validity_ns);
            return Some(Held {
                worker,
                lock,
                acquisition,
                keys,
                token,
                fence,
                valid_until,
                start_ns,
            });
        }
        if Instant::now() >= deadline {
            shared.record(LockEvent::Timeout(Timeout {
                worker,
                lock,
                acquisition,
                start_ns,
                end_ns: shared.clock.now_ns(),
                attempts,
            }));
            return None;
        }
        let delay = spec.retry_delay(rng);
        if shared.stop.is_cancelled()
            || !shared.nap_until(deadline.min(Instant::now() + delay)).await
        {
            return None;
        }
    }
    None
}

/// Hold, write the resources, release.
async fn critical_section(
    shared: &Shared,
    client: &mut LockClient,
    mut held: Held,
    rng: &mut StdRng,
) {
    let hold = shared.spec.hold.sample(rng);
    let done = Instant::now() + hold;
    // The read of a read-modify-write comes first, the hold is its work.
    let read = if shared.spec.counter {
        let value = client
            .on_first::<Option<i64>>(redis::Cmd::get(CounterPath::Locked.key(held.lock)))
            .await
            .map(|v| v.unwrap_or(0));
        Some(Read {
            at_ns: shared.clock.now_ns(),
            value,
        })
    } else {
        None
    };
    let kept = work(shared, client, &mut held, done).await;
    if shared.stop.is_cancelled() {
        // Nothing written after the stop; the lock is let go.
        if let Some(r) = read {
            increment_done(shared, &held, r, IncrementOutcome::Skipped, None, None);
        }
    } else if !kept || (shared.spec.check_validity && Instant::now() >= held.valid_until) {
        skip_writes(shared, &held);
        if let Some(r) = read {
            increment_done(shared, &held, r, IncrementOutcome::Skipped, None, None);
        }
    } else {
        safepoint(shared, &held).await;
        // A holder woken by the stop writes nothing.
        if !shared.stop.is_cancelled() {
            write_resources(shared, &held);
            if let Some(r) = read {
                write_counter(shared, client, &held, r).await;
            }
        } else if let Some(r) = read {
            increment_done(shared, &held, r, IncrementOutcome::Skipped, None, None);
        }
    }
    shared.control.releasing(held.worker, held.lock);
    let r = client.unlock(&held.keys, &held.token).await;
    shared.record(LockEvent::Release(Release {
        worker: held.worker,
        lock: held.lock,
        acquisition: held.acquisition,
        start_ns: r.start_ns,
        end_ns: r.end_ns,
        released_on: r.on,
        errors: r.errors,
        followed_to: r.followed_to,
    }));
}

/// The hold: sleep until `done`, extending the lock first when asked and
/// the hold would outlast its validity. False when an extension failed
/// (the lock is lost) — or the stop came.
async fn work(shared: &Shared, client: &mut LockClient, held: &mut Held, done: Instant) -> bool {
    if shared.spec.extend {
        // Extend with a quarter of the TTL left: room for a slow round.
        let margin = shared.spec.ttl() / 4;
        // Bounded by `done`: each extension moves `valid_until` forward.
        while done
            > held
                .valid_until
                .checked_sub(margin)
                .unwrap_or(held.valid_until)
        {
            let at = held
                .valid_until
                .checked_sub(margin)
                .unwrap_or(held.valid_until);
            if !shared.nap_until(at).await {
                return false;
            }
            let (r, validity_ns) = client.extend(&held.keys, &held.token).await;
            let ok = validity_ns > 0;
            shared.record(LockEvent::Extend(Extend {
                worker: held.worker,
                lock: held.lock,
                acquisition: held.acquisition,
                start_ns: r.start_ns,
                end_ns: r.end_ns,
                ok,
                extended_on: r.on,
                validity_ns,
            }));
            if !ok {
                return false;
            }
            let until = shared.clock.instant(r.end_ns + validity_ns);
            if until <= held.valid_until {
                // A round slower than a quarter of the TTL gains nothing.
                return false;
            }
            held.valid_until = until;
        }
    }
    shared.nap_until(done).await
}

/// Where a pause of this worker's lock takes hold: after the validity
/// check, before the write.
async fn safepoint(shared: &Shared, held: &Held) {
    if !shared.control.frozen(held.worker) {
        return;
    }
    let start_ns = shared.clock.now_ns();
    shared.control.thawed(held.worker, &shared.stop).await;
    shared.record(LockEvent::Pause(Pause {
        worker: held.worker,
        lock: held.lock,
        acquisition: held.acquisition,
        start_ns,
        end_ns: shared.clock.now_ns(),
    }));
}

fn write_resources(shared: &Shared, held: &Held) {
    for &kind in &shared.spec.resources {
        let start_ns = shared.clock.now_ns();
        let Some(d) = shared.registers.write(kind, held.lock, held.fence) else {
            continue;
        };
        shared.record(LockEvent::Write(Write {
            worker: held.worker,
            lock: held.lock,
            acquisition: held.acquisition,
            resource: kind,
            fence: held.fence,
            seq: Some(d.seq),
            start_ns,
            end_ns: shared.clock.now_ns(),
            outcome: if d.accepted {
                WriteOutcome::Accepted
            } else {
                WriteOutcome::Rejected
            },
            last_fence: d.last_fence,
        }));
    }
}

/// The write of the locked increment: `SET` of the value read plus one
/// (nothing when the read failed).
async fn write_counter(shared: &Shared, client: &mut LockClient, held: &Held, read: Read) {
    let value = match &read.value {
        Ok(v) => *v,
        Err(f) => {
            let e = format!("get: {}", f.label);
            increment_done(shared, held, read, IncrementOutcome::Failed, None, Some(e));
            return;
        }
    };
    let next = value + 1;
    let set = redis::Cmd::set(CounterPath::Locked.key(held.lock), next);
    let (outcome, wrote, error) = match client.on_first::<()>(set).await {
        Ok(()) => (IncrementOutcome::Acked, Some(next), None),
        Err(f) => (
            if f.maybe_applied {
                IncrementOutcome::Indeterminate
            } else {
                IncrementOutcome::Failed
            },
            None,
            Some(format!("set: {}", f.label)),
        ),
    };
    increment_done(shared, held, read, outcome, wrote, error);
}

/// Record the locked increment of `held`, ended now.
fn increment_done(
    shared: &Shared,
    held: &Held,
    read: Read,
    outcome: IncrementOutcome,
    wrote: Option<i64>,
    error: Option<String>,
) {
    let error = error.or_else(|| (read.value.as_ref().err()).map(|f| format!("get: {}", f.label)));
    shared.record(LockEvent::Increment(Increment {
        path: CounterPath::Locked,
        worker: held.worker,
        lock: held.lock,
        acquisition: Some(held.acquisition),
        start_ns: held.start_ns,
        read_ns: Some(read.at_ns),
        end_ns: shared.clock.now_ns(),
        read: read.value.ok(),
        wrote,
        outcome,
        error,
    }));
}

/// One worker of the atomic path until the stop, the history's end or
/// [`MAX_RUN`]: `INCR` a lock's atomic counter, think, again.
pub(super) async fn run_atomic(shared: &Shared, worker: u32, mut client: LockClient, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ SEED_SALT ^ u64::from(worker).rotate_left(32));
    let deadline = Instant::now() + MAX_RUN;
    let think = Duration::from_millis(shared.spec.think_ms);
    // Bounded by MAX_RUN, the history's size and the stop.
    loop {
        if shared.stop.is_cancelled() || shared.full() || Instant::now() >= deadline {
            break;
        }
        let lock = rng.random_range(0..shared.spec.locks);
        let start_ns = shared.clock.now_ns();
        // INCR itself (redis-rs's `Cmd::incr` sends INCRBY).
        let mut incr = redis::cmd("INCR");
        incr.arg(CounterPath::Atomic.key(lock));
        let said = client.on_first::<i64>(incr).await;
        let (outcome, wrote, error) = match said {
            Ok(v) => (IncrementOutcome::Acked, Some(v), None),
            Err(f) if f.maybe_applied => (IncrementOutcome::Indeterminate, None, Some(f.label)),
            Err(f) => (IncrementOutcome::Failed, None, Some(f.label)),
        };
        shared.record(LockEvent::Increment(Increment {
            path: CounterPath::Atomic,
            worker,
            lock,
            acquisition: None,
            start_ns,
            read_ns: None,
            end_ns: shared.clock.now_ns(),
            read: None,
            wrote,
            outcome,
            error,
        }));
        if !shared.nap(think).await {
            break;
        }
    }
}

/// Every counter of both paths, deleted before the workers start (`DEL`;
/// false when one could not be) or read back after they stopped.
pub(super) async fn clear_counters(shared: &Shared, client: &mut LockClient) -> Result<(), String> {
    for lock in 0..shared.spec.locks {
        for path in [CounterPath::Locked, CounterPath::Atomic] {
            let del = redis::Cmd::del(path.key(lock));
            client
                .on_first::<i64>(del)
                .await
                .map_err(|f| format!("DEL {}: {}", path.key(lock), f.label))?;
        }
    }
    Ok(())
}

/// Read every counter back, after the stop.
pub(super) async fn read_counters(shared: &Shared, client: &mut LockClient) {
    let mut finals = Vec::new();
    let paths: &[CounterPath] = if shared.spec.atomic_workers > 0 {
        &[CounterPath::Locked, CounterPath::Atomic]
    } else {
        &[CounterPath::Locked]
    };
    // A dead instance answers each read within its timeout; the whole is
    // bounded too.
    let deadline = Instant::now() + Duration::from_secs(10);
    for lock in 0..shared.spec.locks {
        for &path in paths {
            let got = if Instant::now() < deadline {
                client
                    .on_first::<Option<i64>>(redis::Cmd::get(path.key(lock)))
                    .await
            } else {
                Err(Failed {
                    label: "not read: the reads ran out of time".into(),
                    maybe_applied: false,
                })
            };
            finals.push(CounterFinal {
                path,
                lock,
                value: got.as_ref().ok().map(|v| v.unwrap_or(0)),
                error: got.err().map(|f| f.label),
            });
        }
    }
    *shared.finals.lock().unwrap_or_else(|p| p.into_inner()) = finals;
}

fn skip_writes(shared: &Shared, held: &Held) {
    let at = shared.clock.now_ns();
    for &kind in &shared.spec.resources {
        shared.record(LockEvent::Write(Write {
            worker: held.worker,
            lock: held.lock,
            acquisition: held.acquisition,
            resource: kind,
            fence: held.fence,
            seq: None,
            start_ns: at,
            end_ns: at,
            outcome: WriteOutcome::Skipped,
            last_fence: None,
        }));
    }
}
