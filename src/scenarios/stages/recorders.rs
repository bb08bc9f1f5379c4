//! Everything that records from the baseline to the end, on one clock
//! ([`Recorders`]): the watcher, the reference PINGs, the servers' own
//! figures, the keyspace sampler, then the workloads (KV, locks, stampede);
//! and what they held when they stopped ([`Recordings`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::cluster;
use crate::cluster::keyspace::{self, KeyspaceSample, KeyspaceSampler};
use crate::cluster::watch::Watcher;
use crate::record::invalidation::{InvalidationRecording, InvalidationSpec};
use crate::record::locks::LockRecording;
use crate::record::pings::{NodeSample, Ping};
use crate::record::replication::{ReplProbeSpec, ReplRecording};
use crate::record::stampede::{StampedeRecording, StampedeSpec};
use crate::record::timeline::{Clock, Phase};
use crate::workload::invalidation::InvalidationWorkload;
use crate::workload::locks::{LockControl, LockSpec, LockTarget, LockWorkload};
use crate::workload::reference::{server_sample, since};
use crate::workload::replication::ReplProbe;
use crate::workload::stampede::StampedeWorkload;
use crate::workload::{self, Reference, Workload};

use super::setup::Setup;
use crate::scenarios::error::DrillError;
use crate::scenarios::events::{Bus, DrillEvent};

/// The nodes' own command figures, one sample per phase: each sample reads
/// and resets the counters, so it covers exactly the phase that just ended.
pub(in crate::scenarios) struct ServerFigures {
    pub(super) nodes: Vec<(String, SocketAddr)>,
    /// The last cumulative sample, on a deployment whose counters the tool
    /// must not reset (one it did not start); `None`: reset at each sample.
    pub(super) cumulative: Option<BTreeMap<String, NodeSample>>,
    pub(super) by_phase: BTreeMap<String, BTreeMap<String, NodeSample>>,
    /// The machine's steal time at the last phase boundary, and per phase (ms).
    pub(super) stolen_ns: Option<u64>,
    pub(super) steal_ms: BTreeMap<String, f64>,
}

impl ServerFigures {
    /// Reset every node's counters: what came before (the load) is not
    /// counted. On a deployment the tool did not start (`keep_counters`)
    /// its counters are left alone and each phase is the difference of two
    /// samples.
    async fn start(nodes: Vec<(String, SocketAddr)>, keep_counters: bool) -> ServerFigures {
        let first = server_sample(&nodes, !keep_counters).await;
        ServerFigures {
            nodes,
            cumulative: keep_counters.then_some(first),
            by_phase: BTreeMap::new(),
            stolen_ns: crate::host::stolen_ns(),
            steal_ms: BTreeMap::new(),
        }
    }

    /// The phase `name` has just ended.
    pub(in crate::scenarios) async fn close(&mut self, name: &str) {
        let stolen = crate::host::stolen_ns();
        if let (Some(before), Some(now)) = (self.stolen_ns, stolen) {
            self.steal_ms
                .insert(name.to_string(), now.saturating_sub(before) as f64 / 1e6);
        }
        self.stolen_ns = stolen;
        let sample = server_sample(&self.nodes, self.cumulative.is_none()).await;
        let phase = match &mut self.cumulative {
            None => sample,
            Some(last) => {
                let phase = (sample.iter())
                    .map(|(node, now)| {
                        let before = last.get(node).cloned().unwrap_or_default();
                        (node.clone(), since(&before, now))
                    })
                    .collect();
                *last = sample;
                phase
            }
        };
        self.by_phase.insert(name.to_string(), phase);
    }
}

/// How long the workloads wait for the recorders' first samples.
const RECORDERS_SETTLE: Duration = Duration::from_millis(500);

/// Wait until the watcher has polled every node once, every PING thread
/// has sent its first PING (connected) and every Sentinel is listened to,
/// at most [`RECORDERS_SETTLE`]: their
/// start-up (threads, connections, the first `CLUSTER NODES` of every node)
/// is then over before the first op is due, rather than beside it.
async fn settled(
    watcher: Option<&Watcher>,
    nodes: usize,
    reference: Option<&Reference>,
    sentinel: Option<&cluster::sentinel::SentinelListener>,
) {
    let ready = || {
        watcher.is_none_or(|w| w.latest().len() >= nodes)
            && reference.is_none_or(|r| r.started())
            && sentinel.is_none_or(|s| s.listening() >= s.count())
    };
    let started = Instant::now();
    // Bounded in time and count: 100 looks, 5 ms apart.
    for _ in 0..100 {
        if ready() || started.elapsed() >= RECORDERS_SETTLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if !ready() {
        tracing::warn!(
            "the recorders had not all taken a first sample after {:?}; the workload starts anyway",
            started.elapsed()
        );
    }
}

/// Everything that records from the baseline to the end, on one clock: the
/// workload, the watcher (clusters only), the reference PINGs, the servers'
/// own figures, the keyspace sampler.
pub(in crate::scenarios) struct Recorders {
    pub(in crate::scenarios) clock: Clock,
    /// The KV workload (`None`: a lock drill that runs its locks alone).
    workload: Option<Workload>,
    workload_cancel: CancellationToken,
    watcher: Option<Watcher>,
    watch_cancel: CancellationToken,
    reference: Option<Reference>,
    server: ServerFigures,
    /// Every node's INFO evictions, expiries, hits and misses each second.
    keyspace: KeyspaceSampler,
    locks: Option<LockWorkload>,
    /// The replication probe, when the scenario has one.
    replication: Option<ReplProbe>,
    /// The stampede workload, when the scenario has one.
    stampede: Option<StampedeWorkload>,
    /// The invalidation workload, when the scenario has one.
    invalidation: Option<InvalidationWorkload>,
    /// The Sentinels' events, when the topology has Sentinels.
    sentinel: Option<cluster::sentinel::SentinelListener>,
}

/// What the recorders held when they stopped.
pub(in crate::scenarios) struct Recordings {
    pub(super) clock: Clock,
    pub(super) recorded: workload::Recorded,
    pub(super) locks: Option<LockRecording>,
    pub(super) pings: Vec<Ping>,
    pub(super) watch: crate::record::watch::Recording,
    pub(super) server: ServerFigures,
    pub(super) keyspace: Vec<KeyspaceSample>,
    pub(super) replication: Option<ReplRecording>,
    pub(super) stampede: Option<StampedeRecording>,
    pub(super) invalidation: Option<InvalidationRecording>,
    pub(super) sentinel: Option<crate::record::sentinel::SentinelRecording>,
}

impl Recorders {
    /// Start the recorders, wait until they have their first samples, then
    /// start the workloads the scenario has (KV, locks, stampede) on the
    /// recorders' clock.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::scenarios) async fn start(
        spec: &workload::WorkloadSpec,
        kv: bool,
        locks: Option<&LockSpec>,
        probe: Option<&ReplProbeSpec>,
        stampede: Option<&StampedeSpec>,
        invalidation: Option<&InvalidationSpec>,
        setup: &Setup,
        seed: u64,
        cancel: &CancellationToken,
    ) -> Result<Recorders, DrillError> {
        // Replica reads take their replicas from CLUSTER SLOTS once, when
        // the app clients connect: wait until it lists them all.
        if kv && spec.replica_reads.from_replicas() {
            let took =
                cluster::replication::wait_replicas_listed(&setup.map, Duration::from_secs(15))
                    .await
                    .map_err(|m| workload::WorkloadError::Cluster(format!("replica reads: {m}")))?;
            tracing::info!("every replica listed in CLUSTER SLOTS after {took:?}");
        }
        let clock = Clock::start();
        // The recorders first, the workloads last: starting the watcher, the
        // PING threads and the samplers (threads, connections, a statistics
        // reset on every primary) while the first ops ran made those ops
        // wait on two busy cores, and the baseline's p99 measured the tool
        // starting up.
        let watch_cancel = cancel.child_token();
        // Only a cluster's nodes have a view of each other to record.
        let watcher = setup.sharding.is_cluster().then(|| {
            Watcher::start(
                setup.map.clone(),
                clock,
                WATCH_INTERVAL,
                watch_cancel.clone(),
            )
        });
        let reference =
            (kv && spec.reference_ping_ms > 0).then(|| reference_pings(spec, setup, clock));
        let server = ServerFigures::start(setup.primaries(&setup.map), setup.attached).await;
        let keyspace = keyspace_sampler(setup, clock, &watch_cancel);
        // The Sentinels' events, heard from where the controller reaches them.
        let sentinel = (!setup.map.sentinels().is_empty()).then(|| {
            cluster::sentinel::SentinelListener::start(
                (setup.map.sentinels().iter())
                    .map(|s| (s.name.clone(), s.addr))
                    .collect(),
                clock,
                watch_cancel.clone(),
            )
        });
        let replication = probe.map(|p| {
            ReplProbe::start(
                p.clone(),
                setup.probe_targets(),
                setup.clients.netns.clone(),
                clock,
            )
        });
        settled(
            watcher.as_ref(),
            setup.map.nodes().len(),
            reference.as_ref(),
            sentinel.as_ref(),
        )
        .await;
        let workload_cancel = cancel.child_token();
        let on = WorkloadsOn {
            setup,
            seed,
            clock,
            cancel: &workload_cancel,
        };
        let workload = if kv { Some(on.kv(spec).await?) } else { None };
        let locks = match (locks, &setup.locks) {
            (Some(spec), Some(target)) => Some(on.locks(spec, target).await?),
            _ => None,
        };
        let stampede = match stampede {
            Some(spec) => Some(on.stampede(spec).await?),
            None => None,
        };
        let invalidation = match invalidation {
            Some(spec) => Some(on.invalidation(spec).await?),
            None => None,
        };
        Ok(Recorders {
            invalidation,
            sentinel,
            replication,
            stampede,
            keyspace,
            clock,
            workload,
            workload_cancel,
            watcher,
            watch_cancel,
            reference,
            server,
            locks,
        })
    }

    /// The watcher's membership, for a nemesis that adds and removes nodes.
    pub(in crate::scenarios) fn watch_follow(&self) -> Option<crate::cluster::watch::Follow> {
        self.watcher.as_ref().map(Watcher::follow)
    }

    /// The lock workload's holders, for the nemesis's `pause lock_holder:<n>`.
    pub(in crate::scenarios) fn lock_control(&self) -> Option<LockControl> {
        self.locks.as_ref().map(LockWorkload::control)
    }

    /// Close the phase `name` (`start_ns`..`end_ns`): the servers' figures
    /// for it are read, and the phase is announced.
    pub(in crate::scenarios) async fn close_phase(
        &mut self,
        bus: &Bus,
        name: &str,
        start_ns: u64,
        end_ns: u64,
    ) {
        // Read just before the servers' figures reset the primaries' statistics.
        let reset = self.server.nodes.iter().map(|n| n.0.clone()).collect();
        self.keyspace.boundary(name, &reset).await;
        self.server.close(name).await;
        bus.emit(DrillEvent::PhaseEnded(Phase {
            name: name.into(),
            start_ns,
            end_ns,
        }));
    }

    /// Stop every recorder and workload and take what each held.
    pub(in crate::scenarios) async fn stop(self) -> Recordings {
        self.workload_cancel.cancel();
        self.watch_cancel.cancel();
        let recorded = match self.workload {
            Some(w) => w.stop().await,
            None => workload::Recorded {
                history: Vec::new(),
                stats: Default::default(),
            },
        };
        let locks = match self.locks {
            Some(l) => Some(l.stop().await),
            None => None,
        };
        let pings = match self.reference {
            Some(r) => tokio::task::spawn_blocking(move || r.stop())
                .await
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let replication = match self.replication {
            Some(r) => tokio::task::spawn_blocking(move || r.stop()).await.ok(),
            None => None,
        };
        let stampede = match self.stampede {
            Some(s) => Some(s.stop().await),
            None => None,
        };
        let sentinel = match self.sentinel {
            Some(s) => Some(s.stop().await),
            None => None,
        };
        let invalidation = match self.invalidation {
            Some(w) => Some(w.stop().await),
            None => None,
        };
        Recordings {
            invalidation,
            sentinel,
            replication,
            stampede,
            clock: self.clock,
            recorded,
            locks,
            pings,
            watch: match self.watcher {
                Some(w) => w.stop().await,
                None => crate::record::watch::Recording::default(),
            },
            server: self.server,
            keyspace: self.keyspace.stop().await,
        }
    }
}

/// PINGs to every primary, sent the way the clients reach the nodes; the
/// nodes' own figures are read by the controller.
fn reference_pings(spec: &workload::WorkloadSpec, setup: &Setup, clock: Clock) -> Reference {
    Reference::start(
        setup.clients.netns.clone(),
        setup.primaries(&setup.clients.map),
        clock,
        Duration::from_millis(spec.reference_ping_ms),
        Duration::from_millis(spec.timeout_ms),
        spec.realtime,
        spec.nice,
    )
}

/// Every node's INFO evictions, expiries, hits and misses, sampled until `cancel`.
fn keyspace_sampler(setup: &Setup, clock: Clock, cancel: &CancellationToken) -> KeyspaceSampler {
    KeyspaceSampler::start(
        setup
            .map
            .nodes()
            .iter()
            .map(|n| (n.name.clone(), n.addr))
            .collect(),
        clock,
        keyspace::INTERVAL,
        cancel.clone(),
    )
}

/// What every workload starts with: where its clients are, the run's seed
/// and clock, and the token that stops them all.
struct WorkloadsOn<'a> {
    setup: &'a Setup,
    seed: u64,
    clock: Clock,
    cancel: &'a CancellationToken,
}

impl WorkloadsOn<'_> {
    /// The KV workload, its clients where the setup placed them.
    async fn kv(&self, spec: &workload::WorkloadSpec) -> Result<Workload, DrillError> {
        let s = self.setup;
        Ok(Workload::start_in(
            s.clients.places.clone(),
            s.clients.map.clone(),
            s.sharding.clone(),
            spec.clone(),
            self.seed,
            self.clock,
            self.cancel.clone(),
        )
        .await?)
    }

    /// The lock workload, taking its locks on `target`.
    async fn locks(
        &self,
        spec: &LockSpec,
        target: &LockTarget,
    ) -> Result<LockWorkload, DrillError> {
        Ok(LockWorkload::start_on(
            target.clone(),
            spec.clone(),
            self.seed,
            self.clock,
            self.setup.clients.lock_places.clone(),
            self.cancel.clone(),
        )
        .await?)
    }

    /// The stampede workload.
    async fn stampede(&self, spec: &StampedeSpec) -> Result<StampedeWorkload, DrillError> {
        let s = self.setup;
        Ok(StampedeWorkload::start_on(
            s.clients.map.clone(),
            s.sharding.clone(),
            spec.clone(),
            self.seed,
            self.clock,
            s.clients.stampede_places.clone(),
            self.cancel.clone(),
        )
        .await?)
    }
}

impl WorkloadsOn<'_> {
    /// The invalidation workload, from where the KV clients sit.
    async fn invalidation(
        &self,
        spec: &InvalidationSpec,
    ) -> Result<InvalidationWorkload, DrillError> {
        let s = self.setup;
        Ok(InvalidationWorkload::start(
            s.clients.map.clone(),
            s.sharding.clone(),
            spec.clone(),
            self.seed,
            self.clock,
            crate::workload::invalidation::Places {
                writers: crate::workload::Place::unplaced(s.clients.netns.clone()),
                readers: s.clients.invalidation_places.clone(),
            },
            self.cancel.clone(),
        )
        .await?)
    }
}

impl Recordings {
    /// The clock the recorders ran on.
    pub(in crate::scenarios) fn clock(&self) -> Clock {
        self.clock
    }

    /// How many KV ops were recorded, for the "workload stopped" line.
    pub(in crate::scenarios) fn ops(&self) -> usize {
        self.recorded.history.len()
    }

    /// How many invalidation ops were recorded, for the same line.
    pub(in crate::scenarios) fn invalidation_ops(&self) -> usize {
        self.invalidation.as_ref().map_or(0, |s| s.ops.len())
    }

    /// How many stampede reads were recorded, for the same line.
    pub(in crate::scenarios) fn stampede_reads(&self) -> usize {
        self.stampede.as_ref().map_or(0, |s| s.reads.len())
    }
}

/// The workload, in words, as it starts.
pub(in crate::scenarios) fn workload_line(
    spec: &workload::WorkloadSpec,
    kv: bool,
    locks: Option<&LockSpec>,
    stampede: Option<&StampedeSpec>,
    invalidation: Option<&InvalidationSpec>,
) -> String {
    let invalidation = invalidation.map(|s| {
        format!(
            "invalidation: {} readers and {} writers of {} keys ({}{}, store {} ms)",
            s.readers,
            s.writers,
            s.keys,
            s.policies
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            if s.atomic { ", atomic" } else { "" },
            s.store_ms
        )
    });
    let stampede = stampede.map_or(String::new(), |s| {
        format!(
            "stampede: {} readers of {} hot keys ({}, {}, fresh {} ms, compute {} ms)",
            s.readers,
            s.keys,
            s.variants
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            s.policy.as_str(),
            s.ttl_ms,
            s.compute_ms
        )
    });
    let stampede = match (stampede.is_empty(), invalidation) {
        (_, None) => stampede,
        (true, Some(i)) => i,
        (false, Some(i)) => format!("{stampede}; {i}"),
    };
    if !kv {
        let only = if stampede.is_empty() { " only" } else { "" };
        let alone = match locks {
            Some(l) => format!(
                "locks{only}: {} ({} workers × {} locks, TTL {} ms)",
                l.algorithm.as_str(),
                l.workers,
                l.locks,
                l.ttl_ms
            ),
            None => String::new(),
        };
        let sep = if alone.is_empty() || stampede.is_empty() {
            ""
        } else {
            "; "
        };
        return format!("workload running: {alone}{sep}{stampede}, no key/value workload");
    }
    format!(
        "workload running: {} app + {} probe clients, {}{}{}{}",
        app_clients(&spec.clients),
        spec.probe_clients,
        match spec.model {
            workload::Model::Closed => "closed loop".to_string(),
            workload::Model::Open { rate } => format!("open loop at {rate} ops/s"),
        },
        match spec.wait {
            Some(w) if w.every > 1 => format!(
                ", WAIT {} {} after every {} writes of a client",
                w.replicas, w.timeout_ms, w.every
            ),
            Some(w) => format!(", WAIT {} {} after each write", w.replicas, w.timeout_ms),
            None => String::new(),
        },
        match locks {
            Some(l) => format!(
                "; locks: {} ({} workers × {} locks, TTL {} ms)",
                l.algorithm.as_str(),
                l.workers,
                l.locks,
                l.ttl_ms
            ),
            None => String::new(),
        },
        if stampede.is_empty() {
            String::new()
        } else {
            format!("; {stampede}")
        }
    )
}

/// The app clients, in words: `8` (redis-rs), or each library's
/// (`8 redis-rs + 8 redis-py`).
fn app_clients(c: &workload::Clients) -> String {
    if c.groups.is_empty() {
        return c.redis_rs.to_string();
    }
    let rs = (c.redis_rs > 0).then(|| format!("{} {}", c.redis_rs, workload::groups::REDIS_RS));
    rs.into_iter()
        .chain(
            c.groups
                .iter()
                .map(|g| format!("{} {}", g.count, g.label())),
        )
        .collect::<Vec<_>>()
        .join(" + ")
}

/// How often the watcher asks every node what it sees: fine enough to place
/// PFAIL, FAIL and the promotion within 50 ms, light enough for a 2-core box.
const WATCH_INTERVAL: Duration = Duration::from_millis(50);
