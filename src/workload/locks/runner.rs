//! The running lock workload: its workers as tasks on one thread of their
//! own (apart from the controller's runtime, where the nemesis and the
//! watcher run, and — on Docker — inside the run's network), each with its
//! own connection to every lock instance.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::client::{LockClient, LockTarget};
use super::control::LockControl;
use super::error::LockError;
use super::spec::{Algorithm, LockSpec};
use super::worker::{self, Shared};
use crate::cluster::AddressMap;
use crate::record::locks::{LockEnd, LockRecording, LockSetup};
use crate::record::timeline::Clock;
use crate::runtime::netns::NetNs;
use crate::workload::place::Place;

/// How long the workers may take to end after the stop: a round in flight
/// (an instance timeout, WAIT's own), then a release (an instance timeout).
/// Past it the thread is left to end on its own and the run says so.
fn stop_bound(spec: &LockSpec) -> Duration {
    let wait = spec.wait.map_or(0, |w| w.timeout_ms);
    spec.instance_timeout() * 4 + Duration::from_millis(wait) + Duration::from_secs(5)
}

/// The lock workload running in the background. Stop it with
/// [`LockWorkload::stop`]; dropping it stops the workers and discards their
/// history.
pub struct LockWorkload {
    shared: Arc<Shared>,
    setup: LockSetup,
    /// One thread per place the workers live in.
    threads: Vec<std::thread::JoinHandle<u32>>,
}

impl LockWorkload {
    /// Connect every worker to every node of `instances` (in order: the
    /// one instance of a single-instance lock, or Redlock's N), then start
    /// them. Events are timed on `clock`; the workers stop when `cancel`
    /// fires or at [`LockWorkload::stop`]. With `netns`, the workers' thread
    /// joins that network namespace first (where `instances` must lead).
    pub async fn start(
        instances: AddressMap,
        spec: LockSpec,
        seed: u64,
        clock: Clock,
        netns: Option<Arc<NetNs>>,
        cancel: CancellationToken,
    ) -> Result<LockWorkload, LockError> {
        let target = LockTarget::Instances(instances);
        let places = vec![Place::unplaced(netns)];
        Self::start_on(target, spec, seed, clock, places, cancel).await
    }

    /// [`LockWorkload::start`] on any [`LockTarget`]: a fixed set of
    /// instances, or the primary of the moment of a replicated group. The
    /// workers live in `places` in turn (worker w on the thread of
    /// `places[w mod n]`, which enters it first: the run's network, a
    /// region's).
    pub async fn start_on(
        target: LockTarget,
        spec: LockSpec,
        seed: u64,
        clock: Clock,
        places: Vec<Place>,
        cancel: CancellationToken,
    ) -> Result<LockWorkload, LockError> {
        spec.validate()
            .map_err(|(field, message)| LockError::Spec { field, message })?;
        let instances = target.initial();
        let n = instances.len();
        match (spec.algorithm, n) {
            (_, 0) => return Err(LockError::NoInstances),
            (Algorithm::Single, n) if n != 1 => {
                return Err(LockError::Spec {
                    field: "algorithm",
                    message: format!("a single-instance lock takes one instance, not {n}"),
                });
            }
            _ => {}
        }
        let shared = Arc::new(Shared::new(spec.clone(), clock, cancel.child_token()));
        let places = if places.is_empty() {
            vec![Place::default()]
        } else {
            places
        };
        let n_places = places.len() as u32;
        let mut threads = Vec::new();
        let mut readies = Vec::new();
        for (i, place) in places.into_iter().enumerate() {
            let (ready_tx, ready_rx) = oneshot::channel();
            // The atomic path's workers are numbered after the lock's.
            let workers: Vec<u32> = (0..spec.workers + spec.atomic_workers)
                .filter(|w| w % n_places == i as u32)
                .collect();
            let (mine, target) = (shared.clone(), target.clone());
            let first = i == 0;
            let spawned = std::thread::Builder::new()
                .name(format!("redis-drill-locks-{i}"))
                .spawn(move || workers_thread(place, workers, first, mine, target, seed, ready_tx));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    shared.stop.cancel();
                    return Err(LockError::Start(format!("start the workers' thread: {e}")));
                }
            }
            readies.push(ready_rx);
        }
        // Every thread connected its workers, or the start fails (and the
        // threads that did are stopped). Each thread's workers start as soon
        // as it has connected them: the workload started with the first.
        let mut started_ns = u64::MAX;
        let mut failed = None;
        for ready in readies {
            match ready.await {
                Ok(Ok(at)) => started_ns = started_ns.min(at),
                Ok(Err(e)) => failed = failed.or(Some(e)),
                Err(_) => {
                    failed = failed.or(Some(LockError::Start(
                        "the workers' thread ended before it connected".into(),
                    )))
                }
            }
        }
        if let Some(e) = failed {
            shared.stop.cancel();
            let _ = tokio::task::spawn_blocking(move || {
                for t in threads {
                    let _ = t.join();
                }
            })
            .await;
            return Err(e);
        }
        let setup = LockSetup {
            algorithm: spec.algorithm,
            instances,
            quorum: spec.quorum(n) as u32,
            workers: spec.workers,
            locks: spec.locks,
            ttl_ms: spec.ttl_ms,
            drift_ms: spec.drift().as_secs_f64() * 1000.0,
            instance_timeout_ms: spec.instance_timeout().as_millis() as u64,
            check_validity: spec.check_validity,
            extend: spec.extend,
            resources: spec.resources.clone(),
            wait: spec.wait,
            seed,
            started_ns,
            regions: spec.regions.clone(),
            counter: spec.counter,
            atomic_workers: spec.atomic_workers,
        };
        Ok(LockWorkload {
            shared,
            setup,
            threads,
        })
    }

    /// Who holds which lock, for the nemesis's `pause lock_holder:<n>`.
    pub fn control(&self) -> LockControl {
        self.shared.control.clone()
    }

    /// How the workload was set up, for the record.
    pub fn setup(&self) -> &LockSetup {
        &self.setup
    }

    /// Stop the workers and return what they recorded. A worker in its
    /// critical section writes nothing more and releases its lock; one
    /// frozen by a pause is woken. Bounded in time: a worker that has not
    /// ended by then is counted and left out.
    pub async fn stop(mut self) -> LockRecording {
        let stopped_ns = self.shared.clock.now_ns();
        self.shared.stop.cancel();
        let bound = stop_bound(&self.shared.spec) + Duration::from_secs(5);
        let threads = std::mem::take(&mut self.threads);
        let join = tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .map(|t| t.join().unwrap_or(0))
                .sum::<u32>()
        });
        let workers_unfinished = match tokio::time::timeout(bound, join).await {
            Ok(Ok(unfinished)) => unfinished,
            _ => {
                tracing::warn!("the lock workers' threads did not end within {bound:?}");
                self.shared.spec.workers + self.shared.spec.atomic_workers
            }
        };
        let s = &self.shared;
        LockRecording {
            setup: self.setup.clone(),
            events: s.take_events(),
            end: LockEnd {
                stopped_ns,
                unrecorded: s.unrecorded.load(std::sync::atomic::Ordering::Relaxed),
                workers_unfinished,
                max_timer_late_ms: s.late_max_ms(),
                timer_late_over_1ms: s.late_over_1ms.load(std::sync::atomic::Ordering::Relaxed),
                registers: s.registers.states(),
                counters: std::mem::take(&mut *s.finals.lock().unwrap_or_else(|p| p.into_inner())),
            },
        }
    }
}

impl Drop for LockWorkload {
    fn drop(&mut self) {
        // The workers release their locks and end on their own thread.
        self.shared.stop.cancel();
    }
}

/// A workers' thread: enter its place, connect its workers, say so (with
/// the start time), run them until the stop. Returns the workers that did
/// not end within the stop's bound. The `first` thread clears the counters
/// before its workers start and reads them back after they stopped.
fn workers_thread(
    place: Place,
    workers: Vec<u32>,
    first: bool,
    shared: Arc<Shared>,
    target: LockTarget,
    seed: u64,
    ready: oneshot::Sender<Result<u64, LockError>>,
) -> u32 {
    let rt = match place.runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(LockError::Start(format!(
                "start the workers' thread ({}): {e}",
                place.region.as_deref().unwrap_or("the run's network")
            ))));
            return 0;
        }
    };
    rt.block_on(async move {
        let mut clients = Vec::new();
        for &w in &workers {
            let mut c = LockClient::new(&target, &shared.spec, shared.clock);
            if let Some((instance, message)) = c.connect().await.into_iter().next() {
                let _ = ready.send(Err(LockError::Connect { instance, message }));
                return 0;
            }
            clients.push((w, c));
        }
        let mut counters = if first && shared.spec.counter {
            let mut c = LockClient::new(&target, &shared.spec, shared.clock);
            if let Err(message) = worker::clear_counters(&shared, &mut c).await {
                let instance = target.initial().first().cloned().unwrap_or_default();
                let _ = ready.send(Err(LockError::Connect { instance, message }));
                return 0;
            }
            Some(c)
        } else {
            None
        };
        let _ = ready.send(Ok(shared.clock.now_ns()));
        let mut tasks = tokio::task::JoinSet::new();
        let lockers = shared.spec.workers;
        for (w, client) in clients {
            let shared = shared.clone();
            if w < lockers {
                tasks.spawn(async move { worker::run(&shared, w, client, seed).await });
            } else {
                tasks.spawn(async move { worker::run_atomic(&shared, w, client, seed).await });
            }
        }
        let bound = stop_bound(&shared.spec);
        let all = async { while tasks.join_next().await.is_some() {} };
        let deadline = async {
            shared.stop.cancelled().await;
            tokio::time::sleep(bound).await;
        };
        let ended = tokio::select! {
            _ = all => true,
            _ = deadline => false,
        };
        let left = if ended {
            0
        } else {
            let left = tasks.len() as u32;
            tracing::warn!("{left} lock workers did not end within {bound:?} of the stop");
            tasks.abort_all();
            left
        };
        // Every increment is answered (or given up) by now: what the
        // counters hold is final.
        if let Some(c) = counters.as_mut() {
            worker::read_counters(&shared, c).await;
        }
        left
    })
}
