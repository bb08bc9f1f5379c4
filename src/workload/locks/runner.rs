//! The running lock workload: its workers as tasks on one thread of their
//! own (apart from the controller's runtime, where the nemesis and the
//! watcher run, and — on Docker — inside the run's network), each with its
//! own connection to every lock instance.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::LockError;
use super::client::{LockClient, LockTarget};
use super::control::LockControl;
use super::history::{LockEnd, LockRecording, LockSetup};
use super::spec::{Algorithm, LockSpec};
use super::worker::{self, Shared};
use crate::cluster::AddressMap;
use crate::runtime::netns::NetNs;
use crate::timeline::Clock;

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
    thread: Option<std::thread::JoinHandle<u32>>,
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
        Self::start_on(target, spec, seed, clock, netns, cancel).await
    }

    /// [`LockWorkload::start`] on any [`LockTarget`]: a fixed set of
    /// instances, or the primary of the moment of a replicated group.
    pub async fn start_on(
        target: LockTarget,
        spec: LockSpec,
        seed: u64,
        clock: Clock,
        netns: Option<Arc<NetNs>>,
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
        let (ready_tx, ready_rx) = oneshot::channel();
        let thread = {
            let (shared, target) = (shared.clone(), target.clone());
            std::thread::Builder::new()
                .name("redis-drill-locks".into())
                .spawn(move || workers_thread(netns, shared, target, seed, ready_tx))
                .map_err(|e| LockError::Start(format!("start the workers' thread: {e}")))?
        };
        let started_ns = match ready_rx.await {
            Ok(Ok(at)) => at,
            Ok(Err(e)) => {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
                return Err(e);
            }
            Err(_) => {
                return Err(LockError::Start(
                    "the workers' thread ended before it connected".into(),
                ));
            }
        };
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
        };
        Ok(LockWorkload {
            shared,
            setup,
            thread: Some(thread),
        })
    }

    /// Who holds which lock, for the nemesis's `pause lock_holder:<n>`.
    pub fn control(&self) -> LockControl {
        self.shared.control.clone()
    }

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
        let workers_unfinished = match self.thread.take() {
            Some(t) => {
                let join = tokio::task::spawn_blocking(move || t.join());
                match tokio::time::timeout(bound, join).await {
                    Ok(Ok(Ok(unfinished))) => unfinished,
                    _ => {
                        tracing::warn!("the lock workers' thread did not end within {bound:?}");
                        self.shared.spec.workers
                    }
                }
            }
            None => 0,
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

/// The workers' thread: join the run's network, connect every worker, say
/// so (with the start time), run them until the stop. Returns the workers
/// that did not end within the stop's bound.
fn workers_thread(
    netns: Option<Arc<NetNs>>,
    shared: Arc<Shared>,
    target: LockTarget,
    seed: u64,
    ready: oneshot::Sender<Result<u64, LockError>>,
) -> u32 {
    if let Some(ns) = &netns
        && let Err(e) = ns.enter()
    {
        let _ = ready.send(Err(LockError::Start(format!(
            "join the run's network {}: {e}",
            ns.path().display()
        ))));
        return 0;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(LockError::Start(format!("a runtime: {e}"))));
            return 0;
        }
    };
    rt.block_on(async move {
        let mut clients = Vec::new();
        for _ in 0..shared.spec.workers {
            let mut c = LockClient::new(&target, &shared.spec, shared.clock);
            if let Some((instance, message)) = c.connect().await.into_iter().next() {
                let _ = ready.send(Err(LockError::Connect { instance, message }));
                return 0;
            }
            clients.push(c);
        }
        let _ = ready.send(Ok(shared.clock.now_ns()));
        let mut tasks = tokio::task::JoinSet::new();
        for (w, client) in clients.into_iter().enumerate() {
            let shared = shared.clone();
            tasks.spawn(async move { worker::run(&shared, w as u32, client, seed).await });
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
        if ended {
            return 0;
        }
        let left = tasks.len() as u32;
        tracing::warn!("{left} lock workers did not end within {bound:?} of the stop");
        tasks.abort_all();
        left
    })
}
