//! The drill's stages, each what one step of the plan does: prepare (load,
//! topology, clients), the recorders, the action (reshard ∥ faults, then
//! undo), convergence, the end state, and the run as its folder stores it.
//! They emit events on the [`Bus`] and never print; `run` calls them in the
//! order the plan gives.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::checker;
use crate::cluster::keyspace::{self, KeyspaceSample, KeyspaceSampler};
use crate::cluster::reshard::SlotOwners;
use crate::cluster::watch::Watcher;
use crate::cluster::{self, AddressMap, ClusterError};
use crate::faults::{FaultError, FaultKind, FaultWindow, Nemesis};
use crate::record::Stored;
use crate::record::locks::LockRecording;
use crate::record::pings::{NodeSample, Ping};
use crate::record::replication::{ReplProbeSpec, ReplRecording};
use crate::record::run::{KeyValues, RECORD_VERSION, Record};
use crate::record::stampede::{StampedeRecording, StampedeSpec};
use crate::record::status::slot_ranges;
use crate::record::timeline::{Clock, Phase};
use crate::report::{Environment, ReshardSummary};
use crate::runtime::Deployment;
use crate::runtime::netns::NetNs;
use crate::status;
use crate::topology::Kind;
use crate::workload::locks::{Algorithm, LockControl, LockSpec, LockTarget, LockWorkload};
use crate::workload::reference::server_sample;
use crate::workload::replication::{ProbeTarget, ReplProbe};
use crate::workload::stampede::StampedeWorkload;
use crate::workload::{self, Place, Reference, Routing, Workload};

use super::error::DrillError;
use super::events::{Bus, DrillEvent, Timeline};
use super::resume::{Resharded, Resharding};
use super::{ReshardAction, Scenario};

/// The nodes' own command figures, one sample per phase: each sample reads
/// and resets the counters, so it covers exactly the phase that just ended.
pub(super) struct ServerFigures {
    nodes: Vec<(String, SocketAddr)>,
    by_phase: BTreeMap<String, BTreeMap<String, NodeSample>>,
    /// The machine's steal time at the last phase boundary, and per phase (ms).
    stolen_ns: Option<u64>,
    steal_ms: BTreeMap<String, f64>,
}

impl ServerFigures {
    /// Reset every node's counters: what came before (the load) is not counted.
    async fn start(nodes: Vec<(String, SocketAddr)>) -> ServerFigures {
        server_sample(&nodes).await;
        ServerFigures {
            nodes,
            by_phase: BTreeMap::new(),
            stolen_ns: crate::host::stolen_ns(),
            steal_ms: BTreeMap::new(),
        }
    }

    /// The phase `name` has just ended.
    pub(super) async fn close(&mut self, name: &str) {
        let stolen = crate::host::stolen_ns();
        if let (Some(before), Some(now)) = (self.stolen_ns, stolen) {
            self.steal_ms
                .insert(name.to_string(), now.saturating_sub(before) as f64 / 1e6);
        }
        self.stolen_ns = stolen;
        let sample = server_sample(&self.nodes).await;
        self.by_phase.insert(name.to_string(), sample);
    }
}

/// Where the workload's clients sit and how they reach the nodes.
pub(super) struct ClientSide {
    map: AddressMap,
    netns: Option<Arc<NetNs>>,
    /// Where the key/value workload's clients live: one place each of
    /// `workload.regions`, else the one above.
    places: Vec<Place>,
    /// Where the lock workers live: one place each of `locks.regions`,
    /// else the one above.
    lock_places: Vec<Place>,
    /// Where the stampede readers live: one place each of
    /// `stampede.regions`, else the one above.
    stampede_places: Vec<Place>,
    /// In words, for the report.
    path: String,
}

impl ClientSide {
    /// On Docker, inside the run's network when this process may join it
    /// (root); else through the published ports, with a notice. On the
    /// process runtime, the host's loopback, where the nodes are.
    async fn of(
        rt: &crate::runtime::Runtime,
        d: &Deployment,
        map: &AddressMap,
        threads: u32,
        regions: &[String],
        lock_regions: &[String],
        stampede_regions: &[String],
    ) -> Result<ClientSide, DrillError> {
        let mut side = Self::unplaced(rt, d, map, threads).await?;
        side.places = vec![Place::unplaced(side.netns.clone())];
        side.lock_places = side.places.clone();
        side.stampede_places = side.places.clone();
        if regions.is_empty() && lock_regions.is_empty() && stampede_regions.is_empty() {
            return Ok(side);
        }
        if matches!(rt.kind(), crate::runtime::RuntimeKind::Docker) && side.netns.is_none() {
            return Err(DrillError::Workload(workload::WorkloadError::Spec(
                format!(
                    "clients in regions live in their regions' own network namespaces, and this run cannot join the run's network ({}): run as root",
                    side.path
                ),
            )));
        }
        // One place per region, whoever lives there.
        let mut by_region: Vec<(String, Place)> = Vec::new();
        for r in regions.iter().chain(lock_regions).chain(stampede_regions) {
            if by_region.iter().any(|(name, _)| name == r) {
                continue;
            }
            let (ns, source) = rt.region_place(d, r).await?;
            let near = (d.nodes.iter())
                .filter(|n| d.topology.node(&n.name).is_some_and(|s| &s.region == r))
                .map(|n| n.announce)
                .collect();
            let place = Place {
                region: Some(r.clone()),
                netns: ns.map(Arc::new),
                source,
                near,
            };
            by_region.push((r.clone(), place));
        }
        let place_of = |r: &String| {
            (by_region.iter().find(|(name, _)| name == r))
                .map(|(_, p)| p.clone())
                .unwrap_or_default()
        };
        if !regions.is_empty() {
            side.places = regions.iter().map(place_of).collect();
            side.path = format!("{}, clients in {}", side.path, regions.join(", "));
        }
        if !lock_regions.is_empty() {
            side.lock_places = lock_regions.iter().map(place_of).collect();
            side.path = format!("{}, lock workers in {}", side.path, lock_regions.join(", "));
        }
        if !stampede_regions.is_empty() {
            side.stampede_places = stampede_regions.iter().map(place_of).collect();
            side.path = format!(
                "{}, stampede readers in {}",
                side.path,
                stampede_regions.join(", ")
            );
        }
        Ok(side)
    }

    async fn unplaced(
        rt: &crate::runtime::Runtime,
        d: &Deployment,
        map: &AddressMap,
        threads: u32,
    ) -> Result<ClientSide, DrillError> {
        let through_ports = |why: String| {
            crate::note!(
                "notice: {why}; the clients reach the nodes through their published ports (docker-proxy), which adds latency and CPU of its own"
            );
            ClientSide {
                map: map.clone(),
                netns: None,
                places: Vec::new(),
                lock_places: Vec::new(),
                stampede_places: Vec::new(),
                path: "published ports (docker-proxy)".into(),
            }
        };
        if threads == 0 {
            return Ok(match rt.kind() {
                crate::runtime::RuntimeKind::Process => ClientSide {
                    map: map.clone(),
                    netns: None,
                    places: Vec::new(),
                    lock_places: Vec::new(),
                    stampede_places: Vec::new(),
                    path: "host loopback".into(),
                },
                _ => through_ports("workload.threads is 0".into()),
            });
        }
        let ns = match rt.client_namespace(d).await {
            Ok(Some(ns)) => ns,
            Ok(None) => {
                return Ok(ClientSide {
                    map: map.clone(),
                    netns: None,
                    places: Vec::new(),
                    lock_places: Vec::new(),
                    stampede_places: Vec::new(),
                    path: "host loopback".into(),
                });
            }
            Err(e) => return Ok(through_ports(format!("no clients container: {e}"))),
        };
        let members = crate::bringup::members(d);
        let first = members.first().map(|m| m.announce);
        if let Err(e) = ns.probe(first, Duration::from_secs(2)) {
            let why = if e.raw_os_error() == Some(libc::EPERM) {
                format!("cannot join the run's network namespace ({e}; it needs root)")
            } else {
                format!("the run's network namespace does not reach the nodes ({e})")
            };
            return Ok(through_ports(why));
        }
        Ok(ClientSide {
            map: AddressMap::within_network(&members)?,
            netns: Some(Arc::new(ns)),
            places: Vec::new(),
            lock_places: Vec::new(),
            stampede_places: Vec::new(),
            path: "inside the run's network (the clients container's namespace)".into(),
        })
    }
}

/// What is ready before anything is measured.
pub(super) struct Setup {
    pub(super) map: AddressMap,
    /// How the clients find a key's node (see [`Routing`]).
    pub(super) routing: Routing,
    loaded: workload::LoadReport,
    topology: status::StatusReport,
    /// The shard of a slot, for downtime: its owner before the action.
    owners_before: SlotOwners,
    clients: ClientSide,
    /// The round trips from each region's clients to each region.
    client_paths: Vec<crate::net::links::LinkSample>,
    /// Where the lock workload takes its locks, when the scenario has one.
    locks: Option<LockTarget>,
    /// Why the scenario's partitions cannot be applied here: they are
    /// skipped, and the verdict is `unknown`.
    partitions_unsupported: Option<String>,
}

/// Whether the scenario's partitions can be applied here: `None` when it has
/// none or they can; the reason when the runtime cannot (not root, no
/// iptables), so that the drill runs without them and says so (its verdict
/// is then `unknown`, never an error exit: the rest of the drill — the
/// workload, the other faults — is still measured).
async fn partitions_here(
    scenario: &Scenario,
    rt: &crate::runtime::Runtime,
    d: &Deployment,
) -> Result<Option<String>, DrillError> {
    if !scenario
        .faults
        .iter()
        .any(|f| matches!(f.fault, FaultKind::Partition | FaultKind::Heal))
    {
        return Ok(None);
    }
    let why = match rt.can_partition(d).await {
        Ok(()) => return Ok(None),
        Err(crate::runtime::NetError::Unsupported(why)) => why,
        Err(e) => return Err(FaultError::from(e).into()),
    };
    crate::note!(
        "notice: {}: the partitions of `faults` cannot be applied here ({why}); the drill runs without them and its verdict will be unknown",
        scenario.source.display()
    );
    Ok(Some(why))
}

impl Setup {
    /// Load the key space, read the topology and the slot owners, place the clients.
    pub(super) async fn prepare(
        scenario: &Scenario,
        rt: &crate::runtime::Runtime,
        d: &Deployment,
        seed: u64,
        bus: &Bus,
        cancel: &CancellationToken,
    ) -> Result<Setup, DrillError> {
        let partitions_unsupported = partitions_here(scenario, rt, d).await?;
        let map = address_map(d)?;
        let (routing, owners_before) = routing_now(d, &map).await?;
        let t = Instant::now();
        // A lock drill without a KV workload has no key space to load.
        let loaded = if scenario.kv {
            workload::load(&map, &routing, &scenario.workload, seed).await?
        } else {
            workload::LoadReport {
                initial: Default::default(),
                elapsed_ms: 0,
            }
        };
        bus.emit(DrillEvent::Loaded {
            keys: loaded.initial.len(),
            secs: t.elapsed().as_secs_f64(),
        });
        let topology = status::collect(d).await;
        bus.emit(DrillEvent::Topology(Box::new(topology.clone())));
        let clients = ClientSide::of(
            rt,
            d,
            &map,
            scenario.workload.threads,
            // The key/value workload's clients, the lock workers and the
            // stampede readers have regions.
            if scenario.kv {
                &scenario.workload.regions
            } else {
                &[]
            },
            scenario.locks.as_ref().map_or(&[], |l| &l.regions[..]),
            scenario.stampede.as_ref().map_or(&[], |s| &s.regions[..]),
        )
        .await?;
        let locks = scenario
            .locks
            .as_ref()
            .map(|spec| lock_target(spec, &scenario.topology, &routing, &clients.map));
        // What each region's clients cross to reach each region, on the
        // idle topology, before anything is measured.
        let origins: Vec<_> = clients
            .places
            .iter()
            .filter_map(|p| Some((p.region.clone()?, p.netns.clone(), p.source)))
            .collect();
        let client_paths = crate::runtime::links::measure_clients(d, &origins, cancel).await;
        Ok(Setup {
            client_paths,
            map,
            routing,
            loaded,
            topology,
            owners_before,
            clients,
            locks,
            partitions_unsupported,
        })
    }

    /// The primaries as the run began, as `m` reaches them.
    /// Each primary with replicas, as the clients reach them, and a key of
    /// its own: on a cluster one whose slot it owned before the action.
    fn probe_targets(&self) -> Vec<ProbeTarget> {
        let m = &self.clients.map;
        let addr = |name: &str| m.nodes().iter().find(|n| n.name == name).map(|n| n.addr);
        let cluster = self.routing.is_cluster();
        let mut out = Vec::new();
        for p in &self.topology.nodes {
            if p.role != Some(crate::topology::Role::Primary) {
                continue;
            }
            let replicas: Vec<(String, SocketAddr)> = self
                .topology
                .nodes
                .iter()
                .filter(|r| r.replica_of.as_deref() == Some(p.name.as_str()))
                .filter_map(|r| Some((r.name.clone(), addr(&r.name)?)))
                .collect();
            let Some(primary) = addr(&p.name) else {
                continue;
            };
            if replicas.is_empty() {
                continue;
            }
            let key = if cluster {
                // The first probe key whose slot this primary owns.
                let found = (0..100_000u32)
                    .map(|i| format!("{{drill:repl:{i}}}"))
                    .find(|k| {
                        self.owners_before
                            .owner(crate::slots::key_slot(k.as_bytes()))
                            == Some(p.name.as_str())
                    });
                match found {
                    Some(k) => k,
                    None => continue,
                }
            } else {
                format!("drill:repl:{}", p.name)
            };
            out.push(ProbeTarget {
                primary: (p.name.clone(), primary),
                replicas,
                key,
                cluster,
            });
        }
        out
    }

    fn primaries(&self, m: &AddressMap) -> Vec<(String, SocketAddr)> {
        m.nodes()
            .iter()
            .filter(|n| {
                self.topology
                    .nodes
                    .iter()
                    .any(|t| t.name == n.name && t.role == Some(crate::topology::Role::Primary))
            })
            .map(|n| (n.name.clone(), n.addr))
            .collect()
    }
}

/// Where the lock workload takes its locks, as the clients reach the nodes:
/// Redlock over every primary of a standalone topology; one instance — a
/// standalone topology's first primary, or a replicated topology's primary
/// of the moment, followed through failovers. (`Scenario::load` refused the
/// other pairings.)
fn lock_target(
    spec: &LockSpec,
    topology: &crate::topology::Topology,
    routing: &Routing,
    clients: &AddressMap,
) -> LockTarget {
    let primaries: Vec<&str> = topology.primaries().map(|n| n.name.as_str()).collect();
    match (routing, spec.algorithm) {
        (Routing::Primary { initial, .. }, _) => LockTarget::PrimaryOf {
            group: clients.clone(),
            initial: initial.clone(),
        },
        (_, Algorithm::Redlock) => LockTarget::Instances(clients.subset(&primaries)),
        (_, Algorithm::Single) => LockTarget::Instances(clients.subset(&primaries[..1])),
    }
}

/// Who serves which slots as the drill begins, and how clients will route:
/// a cluster's own map; the client's shards on standalone primaries; every
/// slot to the primary of the moment on a replicated topology (which a
/// drill on a running topology may have failed over already).
async fn routing_now(
    d: &Deployment,
    map: &AddressMap,
) -> Result<(Routing, SlotOwners), DrillError> {
    let connect = cluster::ConnectOptions::default();
    let routing = match Routing::of(&d.topology) {
        Routing::Cluster => return Ok((Routing::Cluster, SlotOwners::load(map, connect).await?)),
        Routing::Primary { nodes, initial } => {
            let roles = cluster::replication::roles(map, connect).await;
            let now = cluster::replication::current_primary(&roles, Some(&initial))
                .map_or(initial, str::to_string);
            Routing::Primary {
                nodes,
                initial: now,
            }
        }
        sharded => sharded,
    };
    let assignments = routing.assignments();
    let owners =
        SlotOwners::from_assignments(assignments.iter().map(|(n, r)| (n.as_str(), r.as_slice())))?;
    Ok((routing, owners))
}

/// How long the workloads wait for the recorders' first samples.
const RECORDERS_SETTLE: Duration = Duration::from_millis(500);

/// Wait until the watcher has polled every node once and every PING thread
/// has sent its first PING (connected), at most [`RECORDERS_SETTLE`]: their
/// start-up (threads, connections, the first `CLUSTER NODES` of every node)
/// is then over before the first op is due, rather than beside it.
async fn settled(watcher: Option<&Watcher>, nodes: usize, reference: Option<&Reference>) {
    let ready = || {
        watcher.is_none_or(|w| w.latest().len() >= nodes) && reference.is_none_or(|r| r.started())
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
pub(super) struct Recorders {
    pub(super) clock: Clock,
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
}

/// What the recorders held when they stopped.
pub(super) struct Recordings {
    clock: Clock,
    recorded: workload::Recorded,
    locks: Option<LockRecording>,
    pings: Vec<Ping>,
    watch: crate::record::watch::Recording,
    server: ServerFigures,
    keyspace: Vec<KeyspaceSample>,
    replication: Option<ReplRecording>,
    stampede: Option<StampedeRecording>,
}

impl Recorders {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn start(
        spec: &workload::WorkloadSpec,
        kv: bool,
        locks: Option<&LockSpec>,
        probe: Option<&ReplProbeSpec>,
        stampede: Option<&StampedeSpec>,
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
        let watcher = setup.routing.is_cluster().then(|| {
            Watcher::start(
                setup.map.clone(),
                clock,
                WATCH_INTERVAL,
                watch_cancel.clone(),
            )
        });
        // PINGed the way the clients reach the nodes; their own figures read
        // by the controller.
        let reference = (kv && spec.reference_ping_ms > 0).then(|| {
            Reference::start(
                setup.clients.netns.clone(),
                setup.primaries(&setup.clients.map),
                clock,
                Duration::from_millis(spec.reference_ping_ms),
                Duration::from_millis(spec.timeout_ms),
                spec.realtime,
                spec.nice,
            )
        });
        let server = ServerFigures::start(setup.primaries(&setup.map)).await;
        let keyspace = KeyspaceSampler::start(
            setup
                .map
                .nodes()
                .iter()
                .map(|n| (n.name.clone(), n.addr))
                .collect(),
            clock,
            keyspace::INTERVAL,
            watch_cancel.clone(),
        );
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
        )
        .await;
        let workload_cancel = cancel.child_token();
        let workload = if kv {
            Some(
                Workload::start_in(
                    setup.clients.places.clone(),
                    setup.clients.map.clone(),
                    setup.routing.clone(),
                    spec.clone(),
                    seed,
                    clock,
                    workload_cancel.clone(),
                )
                .await?,
            )
        } else {
            None
        };
        let locks = match (locks, &setup.locks) {
            (Some(spec), Some(target)) => Some(
                LockWorkload::start_on(
                    target.clone(),
                    spec.clone(),
                    seed,
                    clock,
                    setup.clients.lock_places.clone(),
                    workload_cancel.clone(),
                )
                .await?,
            ),
            _ => None,
        };
        let stampede = match stampede {
            Some(spec) => Some(
                StampedeWorkload::start_on(
                    setup.clients.map.clone(),
                    setup.routing.clone(),
                    spec.clone(),
                    seed,
                    clock,
                    setup.clients.stampede_places.clone(),
                    workload_cancel.clone(),
                )
                .await?,
            ),
            None => None,
        };
        Ok(Recorders {
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

    /// The lock workload's holders, for the nemesis's `pause lock_holder:<n>`.
    pub(super) fn lock_control(&self) -> Option<LockControl> {
        self.locks.as_ref().map(LockWorkload::control)
    }

    /// Close the phase `name` (`start_ns`..`end_ns`): the servers' figures
    /// for it are read, and the phase is announced.
    pub(super) async fn close_phase(&mut self, bus: &Bus, name: &str, start_ns: u64, end_ns: u64) {
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

    pub(super) async fn stop(self) -> Recordings {
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
        Recordings {
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

impl Recordings {
    /// The clock the recorders ran on.
    pub(super) fn clock(&self) -> Clock {
        self.clock
    }

    pub(super) fn ops(&self) -> usize {
        self.recorded.history.len()
    }

    pub(super) fn stampede_reads(&self) -> usize {
        self.stampede.as_ref().map_or(0, |s| s.reads.len())
    }
}

/// A primary to rebalance onto, added before the workload starts. Returns
/// the grown deployment.
pub(super) async fn add_primary(
    rt: &crate::runtime::Runtime,
    d: &Deployment,
    bus: &Bus,
    cancel: &CancellationToken,
) -> Result<Deployment, DrillError> {
    let (grown, added) = crate::bringup::add_node(rt, d, None, cancel)
        .await
        .map_err(DrillError::AddNode)?;
    bus.emit(DrillEvent::NodeAdded {
        node: added.node,
        took_ms: added.timings.total_ms,
    });
    Ok(grown)
}

/// The workload, in words, as it starts.
pub(super) fn workload_line(
    spec: &workload::WorkloadSpec,
    kv: bool,
    locks: Option<&LockSpec>,
    stampede: Option<&StampedeSpec>,
) -> String {
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
        spec.clients,
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

/// What `during` did: when it began and ended, the reshard's outcome, each
/// fault's window, and the nodes the faults left down.
pub(super) struct Acted {
    pub(super) started: Instant,
    pub(super) ended: Instant,
    pub(super) reshard: Option<Resharded>,
    pub(super) windows: Vec<FaultWindow>,
    pub(super) down: std::collections::BTreeSet<String>,
}

/// `during`: the reshard and the faults side by side, then whatever is in
/// force undone — on every path, cancellation included. When one side fails,
/// the other stops too: the reshard closes its slots in flight, the nemesis
/// stops applying faults. Undos that fail are reported and make this an error.
#[allow(clippy::too_many_arguments)]
pub(super) async fn act(
    scenario: &Scenario,
    rt: &crate::runtime::Runtime,
    d: &Deployment,
    setup: &Setup,
    clock: Clock,
    seed: u64,
    locks: Option<LockControl>,
    bus: &Bus,
    cancel: &CancellationToken,
) -> Result<Acted, DrillError> {
    let mut nemesis = Nemesis::new(rt, d, setup.map.clone(), clock, seed);
    if let Some(why) = &setup.partitions_unsupported {
        nemesis = nemesis.without_partitions(why.clone());
    }
    if let Some(control) = locks {
        nemesis = nemesis.with_clients(Arc::new(control));
    }
    let started = Instant::now();
    let outcome = reshard_and_faults(scenario, setup, &mut nemesis, started, bus, cancel).await;
    let heal_errors = nemesis.heal_all().await;
    let windows: Vec<FaultWindow> = nemesis.windows().to_vec();
    for e in &heal_errors {
        bus.emit(DrillEvent::UndoFailed(e.to_string()));
    }
    for w in &windows {
        bus.emit(DrillEvent::Fault(Box::new(w.clone())));
    }
    let reshard = outcome?;
    let count = heal_errors.len();
    if let Some(first) = heal_errors.into_iter().next() {
        return Err(DrillError::Heal {
            count,
            first: Box::new(first),
        });
    }
    let mut ended = started + Duration::from_millis(scenario.during_ms);
    if let Some(r) = &reshard {
        ended = ended.max(r.finished_at);
    }
    for w in &windows {
        ended = ended.max(clock.instant(w.undone_ns.unwrap_or(w.applied_ns)));
    }
    Ok(Acted {
        started,
        ended,
        reshard,
        windows,
        down: nemesis.unavailable_nodes(),
    })
}

async fn reshard_and_faults(
    scenario: &Scenario,
    setup: &Setup,
    nemesis: &mut Nemesis<'_>,
    started: Instant,
    bus: &Bus,
    cancel: &CancellationToken,
) -> Result<Option<Resharded>, DrillError> {
    if !scenario.faults.is_empty() {
        bus.emit(DrillEvent::FaultsScheduled {
            count: scenario.faults.iter().map(|f| f.repeat as usize).sum(),
            span_ms: crate::faults::schedule::duration_ms(&scenario.faults),
        });
    }
    // The reshard's progress, for faults that wait for it; dropped with the
    // reshard future, which tells them it is over.
    let (slots_tx, slots_rx) = tokio::sync::watch::channel(0usize);
    let stop = cancel.child_token();
    let reshard = async {
        let slots_tx = slots_tx;
        let r = match &scenario.reshard {
            None => Ok(None),
            Some(step) => Resharding {
                map: &setup.map,
                step,
                owners_before: &setup.owners_before,
                resume: !scenario.faults.is_empty(),
                recovery_timeout: Duration::from_millis(scenario.recovery_timeout_ms),
            }
            .run(bus, &slots_tx, &stop)
            .await
            .map(Some),
        };
        if r.is_err() {
            stop.cancel();
        }
        r
    };
    let faults = async {
        let r = nemesis
            .run(&scenario.faults, started, Some(slots_rx), &stop)
            .await
            .map_err(DrillError::from);
        if r.is_err() {
            stop.cancel();
        }
        r
    };
    // A steady drill: the workload runs at least `during_ms` whatever else
    // happens (cut short only by an error on either side or a cancel).
    let steady = async {
        let until = started + Duration::from_millis(scenario.during_ms);
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => {}
            _ = stop.cancelled() => {}
        }
    };
    let (reshard, faults, ()) = tokio::join!(reshard, faults, steady);
    // The error that stopped the other side, not the other side's
    // cancellation (unless the run itself was cancelled).
    let interrupted = |e: &DrillError| e.class() == crate::exit::Class::Interrupted;
    match (reshard, faults) {
        (Ok(r), Ok(())) => Ok(r),
        (Err(e), Ok(())) | (Ok(_), Err(e)) => Err(e),
        (Err(a), Err(b)) => Err(if interrupted(&a) { b } else { a }),
    }
}

/// `recovery`: wait until every node that is up agrees on the slot map,
/// measured from the end of the last action. Failovers change who replicates
/// whom, so no fixed pairing is expected then; nodes still down are left out.
/// Returns the convergence time (ms) and when it was reached.
pub(super) async fn converge(
    scenario: &Scenario,
    d: &Deployment,
    acted: &Acted,
    timeout: Duration,
    bus: &Bus,
    cancel: &CancellationToken,
) -> Result<(f64, Instant), DrillError> {
    let polls = match d.topology.kind {
        Kind::Cluster => {
            let members: Vec<cluster::Member> = convergence_members(
                d,
                scenario.reshard.as_ref().map(|r| &r.action),
                !scenario.faults.is_empty(),
            )
            .into_iter()
            .filter(|m| !acted.down.contains(&m.name))
            .collect();
            let opts = cluster::ConvergeOptions::new(timeout, cancel.clone());
            cluster::wait_converged(&members, &opts).await?.polls
        }
        // One primary, and every replica that is up following it with all
        // of its writes.
        _ => {
            let up: Vec<String> = d
                .nodes
                .iter()
                .map(|n| n.name.clone())
                .filter(|n| !acted.down.contains(n))
                .collect();
            let map = address_map(d)?;
            let done = cluster::replication::wait_replicated(&map, &up, timeout, cancel).await?;
            u32::try_from(done.polls).unwrap_or(u32::MAX)
        }
    };
    let at = Instant::now();
    let after_ms = at.saturating_duration_since(acted.ended).as_secs_f64() * 1000.0;
    bus.emit(DrillEvent::Converged {
        at,
        after_ms,
        polls,
    });
    Ok((after_ms, at))
}

/// The end state: every key read back, the topology checked by our own
/// check (a cluster's four checks; one primary with every replica caught up
/// on a replicated topology; every primary answering on standalone ones).
pub(super) struct EndState {
    keys: Vec<KeyValues>,
    check_ok: bool,
    check_lines: Vec<String>,
    stray_keys: u64,
    topology_after: status::StatusReport,
    redis_version: String,
}

impl EndState {
    pub(super) async fn read(setup: &Setup, d: &Deployment) -> Result<EndState, DrillError> {
        let map = &setup.map;
        let names: Vec<String> = setup.loaded.initial.keys().cloned().collect();
        let finals = workload::read_final(map, &setup.routing, &names).await?;
        let (check_ok, check_lines, stray_keys) = if setup.routing.is_cluster() {
            let check = cluster::health(map.nodes()[0].addr, map).await?;
            let lines = check.to_string().lines().map(str::to_string).collect();
            (check.ok, lines, cluster::stray_keys(map).await?)
        } else {
            let (ok, lines) = replication_check(map, d.topology.kind).await;
            (ok, lines, 0)
        };
        let mut keys: Vec<KeyValues> = setup
            .loaded
            .initial
            .iter()
            .map(|(k, v)| KeyValues {
                key: k.clone(),
                initial: v.clone(),
                final_value: finals.get(k).cloned().flatten(),
            })
            .collect();
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(EndState {
            keys,
            check_ok,
            check_lines,
            stray_keys,
            topology_after: status::collect(d).await,
            redis_version: redis_version(map).await,
        })
    }
}

/// How long the end check lets replicas catch up after the workload stopped:
/// 40 polls 50 ms apart, 2 s — many times any link's delay.
const END_CATCH_UP_POLLS: usize = 40;
const END_CATCH_UP_POLL: Duration = Duration::from_millis(50);

/// The end check of a topology that is not a cluster, as lines in the
/// manner of `redis-cli --cluster check`: on a replicated one, a single
/// primary with every replica connected and caught up; on standalone ones,
/// every node answering as a primary.
async fn replication_check(map: &AddressMap, kind: Kind) -> (bool, Vec<String>) {
    let mut roles = cluster::replication::roles(map, cluster::ConnectOptions::default()).await;
    // The workload has stopped, but its last writes may still be crossing a
    // link to a far replica: give them the time a WAN allows, then judge.
    if kind == Kind::Replicated {
        for _ in 0..END_CATCH_UP_POLLS {
            if cluster::replication::replication_pending(&roles).is_empty() {
                break;
            }
            tokio::time::sleep(END_CATCH_UP_POLL).await;
            roles = cluster::replication::roles(map, cluster::ConnectOptions::default()).await;
        }
    }
    let problems: Vec<String> = match kind {
        Kind::Replicated => cluster::replication::replication_pending(&roles),
        _ => roles
            .iter()
            .filter(|r| r.role != Some(cluster::Role::Primary))
            .map(|r| match &r.error {
                Some(e) => format!("{}: {e}", r.name),
                None => format!("{} is not a primary", r.name),
            })
            .collect(),
    };
    if problems.is_empty() {
        let what = match kind {
            Kind::Replicated => format!(
                "[OK] One primary ({}), every replica connected and caught up.",
                cluster::replication::current_primary(&roles, None).unwrap_or("-")
            ),
            _ => format!("[OK] All {} primaries answer.", roles.len()),
        };
        (true, vec![what])
    } else {
        (
            false,
            problems.into_iter().map(|p| format!("[ERR] {p}")).collect(),
        )
    }
}

/// Everything a finished run gathered, to be stored in its folder.
pub(super) struct Run<'a> {
    pub(super) scenario: &'a Scenario,
    pub(super) d: Deployment,
    pub(super) seed: u64,
    pub(super) started_at: std::time::SystemTime,
    pub(super) clock: Clock,
    pub(super) setup: Setup,
    pub(super) timeline: Timeline,
    pub(super) acted: Acted,
    pub(super) convergence_ms: Option<f64>,
    pub(super) recordings: Recordings,
    pub(super) end: EndState,
}

impl Run<'_> {
    /// The run as its folder keeps it: what `check-run` reads again.
    pub(super) fn store(self) -> Stored {
        let Run {
            scenario,
            d,
            seed,
            started_at,
            clock,
            setup,
            timeline,
            acted,
            convergence_ms,
            recordings,
            end,
        } = self;
        let spec = &scenario.workload;
        let owners = &setup.owners_before;
        Stored {
            record: Record {
                record_version: RECORD_VERSION,
                scenario: scenario.name.clone(),
                slo: scenario.slo.clone(),
                slo_by_region: scenario.slo_by_region.clone(),
                expect: scenario.expect.clone(),
                seed,
                started_at: humantime::format_rfc3339_seconds(started_at).to_string(),
                epoch_monotonic_ns: clock.epoch_monotonic_ns(),
                environment: Environment {
                    runtime: d.runtime.to_string(),
                    redis_version: end.redis_version,
                    image: d.image.clone(),
                    host_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
                    client_path: setup.clients.path.clone(),
                    links_mechanism: if d.topology.links.is_empty() {
                        String::new()
                    } else {
                        crate::runtime::links::mechanism()
                    },
                    redis_drill_version: env!("CARGO_PKG_VERSION").to_string(),
                },
                // No KV workload, no clients of it (the lock workload's
                // workers are in `locks`).
                app_clients: if scenario.kv { spec.clients } else { 0 },
                probe_clients: if scenario.kv { spec.probe_clients } else { 0 },
                max_tool_lag_ms: spec.max_tool_lag_ms,
                reference_ping_ms: spec.reference_ping_ms,
                node_timeout_ms: scenario.topology.cluster.node_timeout_ms,
                worst_rank: worst_rank(&scenario.topology),
                topology: setup.topology,
                topology_after: end.topology_after,
                slot_owners: slot_ranges(|s| owners.owner(s).unwrap_or("unassigned").to_string()),
                phases: timeline.phases,
                events: timeline.events,
                faults: acted.windows,
                reshard: acted.reshard.as_ref().map(reshard_summary),
                convergence_ms,
                end_ns: clock.now_ns(),
                engine: recordings.recorded.stats,
                server: recordings.server.by_phase,
                steal_ms: recordings.server.steal_ms,
                cluster_check_ok: end.check_ok,
                cluster_check: end.check_lines,
                stray_keys: end.stray_keys,
                eviction: checker::eviction::Eviction::widest(
                    scenario
                        .topology
                        .nodes
                        .iter()
                        // No maxmemory (or 0): no limit, nothing is evicted.
                        .filter(|n| n.config.get("maxmemory").is_some_and(|m| m.trim() != "0"))
                        .filter_map(|n| n.config.get("maxmemory-policy"))
                        .map(String::as_str),
                ),
                // Measured before the drill, outside these stages; `execute` adds them.
                links: Vec::new(),
                client_regions: if scenario.kv {
                    spec.regions.clone()
                } else {
                    Vec::new()
                },
                client_paths: setup.client_paths.clone(),
            },
            history: recordings.recorded.history,
            pings: recordings.pings,
            watch: recordings.watch,
            keys: end.keys,
            locks: recordings.locks,
            keyspace: recordings.keyspace,
            replication: recordings.replication,
            stampede: recordings.stampede,
        }
    }
}

fn reshard_summary(r: &Resharded) -> ReshardSummary {
    let secs = r.duration.as_secs_f64().max(1e-9);
    ReshardSummary {
        from: r.from.clone(),
        to: r.to.clone(),
        slots_moved: r.slots_moved as u64,
        keys_moved: r.keys_moved,
        bytes_moved: r.bytes_moved,
        duration_ms: r.duration.as_secs_f64() * 1000.0,
        keys_per_s: r.keys_moved as f64 / secs,
        slots_per_s: r.slots_moved as f64 / secs,
        keys_overwritten: r.overwritten.len() as u64,
        overwritten: (r.overwritten.iter())
            .take(crate::report::MAX_OVERWRITTEN_LISTED)
            .cloned()
            .collect(),
    }
}

/// How often the watcher asks every node what it sees: fine enough to place
/// PFAIL, FAIL and the promotion within 50 ms, light enough for a 2-core box.
const WATCH_INTERVAL: Duration = Duration::from_millis(50);

fn address_map(d: &Deployment) -> Result<AddressMap, DrillError> {
    Ok(AddressMap::from_members(&crate::bringup::members(d))?)
}

/// The members to wait on after `action`. A drained primary turns into a
/// replica (replica migration) and replicas may follow other primaries, so
/// after a drain — or any failover — no fixed pairing is expected.
pub(crate) fn convergence_members(
    d: &Deployment,
    action: Option<&ReshardAction>,
    failovers: bool,
) -> Vec<cluster::Member> {
    let mut members = crate::bringup::members(d);
    if failovers || matches!(action, Some(ReshardAction::Drain { .. })) {
        for m in &mut members {
            m.replica_of = None;
        }
    }
    members
}
async fn redis_version(map: &AddressMap) -> String {
    let Some(n) = map.nodes().first() else {
        return "unknown".into();
    };
    let read = async {
        let mut c =
            cluster::conn::NodeConn::connect(&n.name, n.addr, cluster::ConnectOptions::default())
                .await?;
        let info: String = c.run(redis::cmd("INFO").arg("server")).await?;
        Ok::<_, ClusterError>(
            cluster::conn::parse_info(&info)
                .get("redis_version")
                .cloned(),
        )
    };
    read.await
        .ok()
        .flatten()
        .unwrap_or_else(|| "unknown".into())
}

/// The highest election rank a replica can have: replicas per shard - 1.
fn worst_rank(t: &crate::topology::Topology) -> u32 {
    let most = (0..t.nodes.len())
        .map(|shard| {
            t.nodes
                .iter()
                .filter(|n| n.shard == shard && n.replica_of.is_some())
                .count()
        })
        .max()
        .unwrap_or(0);
    most.saturating_sub(1) as u32
}
