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

use crate::cluster::reshard::SlotOwners;
use crate::cluster::watch::Watcher;
use crate::cluster::{self, AddressMap, ClusterError};
use crate::faults::{FaultError, FaultKind, FaultWindow, Nemesis};
use crate::report::{Environment, ReshardSummary};
use crate::runtime::Deployment;
use crate::runtime::netns::NetNs;
use crate::status;
use crate::timeline::{Clock, Phase};
use crate::workload::reference::{NodeSample, server_sample};
use crate::workload::{self, Ping, Reference, Workload};

use super::check::{KeyValues, RECORD_VERSION, Record, Stored, slot_ranges};
use super::error::DrillError;
use super::events::{Bus, DrillEvent, Timeline};
use super::measure::worst_rank;
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
    ) -> Result<ClientSide, DrillError> {
        let through_ports = |why: String| {
            crate::note!(
                "notice: {why}; the clients reach the nodes through their published ports (docker-proxy), which adds latency and CPU of its own"
            );
            ClientSide {
                map: map.clone(),
                netns: None,
                path: "published ports (docker-proxy)".into(),
            }
        };
        if threads == 0 {
            return Ok(match rt.kind() {
                crate::runtime::RuntimeKind::Process => ClientSide {
                    map: map.clone(),
                    netns: None,
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
                    path: "host loopback".into(),
                });
            }
            Err(e) => return Ok(through_ports(format!("no clients container: {e}"))),
        };
        let members = crate::bringup::members(d);
        let first = members.first().map(|m| m.announce);
        if let Err(e) = ns.check(first, Duration::from_secs(2)) {
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
            path: "inside the run's network (the clients container's namespace)".into(),
        })
    }
}

/// What is ready before anything is measured.
pub(super) struct Setup {
    pub(super) map: AddressMap,
    loaded: workload::LoadReport,
    topology: status::StatusReport,
    /// The shard of a slot, for downtime: its owner before the action.
    owners_before: SlotOwners,
    clients: ClientSide,
}

impl Setup {
    /// Load the key space, read the topology and the slot owners, place the clients.
    pub(super) async fn prepare(
        scenario: &Scenario,
        rt: &crate::runtime::Runtime,
        d: &Deployment,
        seed: u64,
        bus: &Bus,
    ) -> Result<Setup, DrillError> {
        if scenario
            .faults
            .iter()
            .any(|f| matches!(f.fault, FaultKind::Partition | FaultKind::Heal))
        {
            rt.check_partitions(d).await.map_err(FaultError::from)?;
        }
        let map = address_map(d)?;
        let t = Instant::now();
        let loaded = workload::load(&map, &scenario.workload, seed).await?;
        bus.emit(DrillEvent::Loaded {
            keys: loaded.initial.len(),
            secs: t.elapsed().as_secs_f64(),
        });
        let topology = status::collect(d).await;
        bus.emit(DrillEvent::Topology(Box::new(topology.clone())));
        let owners_before = SlotOwners::load(&map, cluster::ConnectOptions::default()).await?;
        let clients = ClientSide::of(rt, d, &map, scenario.workload.threads).await?;
        Ok(Setup {
            map,
            loaded,
            topology,
            owners_before,
            clients,
        })
    }

    /// The primaries as the run began, as `m` reaches them.
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

/// Everything that records from the baseline to the end, on one clock: the
/// workload, the watcher, the reference PINGs, the servers' own figures.
pub(super) struct Recorders {
    pub(super) clock: Clock,
    workload: Workload,
    workload_cancel: CancellationToken,
    watcher: Watcher,
    watch_cancel: CancellationToken,
    reference: Option<Reference>,
    server: ServerFigures,
}

/// What the recorders held when they stopped.
pub(super) struct Recordings {
    clock: Clock,
    recorded: workload::Recorded,
    pings: Vec<Ping>,
    watch: cluster::watch::Recording,
    server: ServerFigures,
}

impl Recorders {
    pub(super) async fn start(
        spec: &workload::WorkloadSpec,
        setup: &Setup,
        seed: u64,
        cancel: &CancellationToken,
    ) -> Result<Recorders, DrillError> {
        let clock = Clock::start();
        let workload_cancel = cancel.child_token();
        let workload = Workload::start_in(
            setup.clients.netns.clone(),
            setup.clients.map.clone(),
            spec.clone(),
            seed,
            clock,
            workload_cancel.clone(),
        )
        .await?;
        let watch_cancel = cancel.child_token();
        let watcher = Watcher::start(
            setup.map.clone(),
            clock,
            WATCH_INTERVAL,
            watch_cancel.clone(),
        );
        // PINGed the way the clients reach the nodes; their own figures read
        // by the controller.
        let reference = (spec.reference_ping_ms > 0).then(|| {
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
        Ok(Recorders {
            clock,
            workload,
            workload_cancel,
            watcher,
            watch_cancel,
            reference,
            server,
        })
    }

    /// Close the phase `name` (`start_ns`..`end_ns`): the servers' figures
    /// for it are read, and the phase is announced.
    pub(super) async fn close_phase(&mut self, bus: &Bus, name: &str, start_ns: u64, end_ns: u64) {
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
        let recorded = self.workload.stop().await;
        let pings = match self.reference {
            Some(r) => tokio::task::spawn_blocking(move || r.stop())
                .await
                .unwrap_or_default(),
            None => Vec::new(),
        };
        Recordings {
            clock: self.clock,
            recorded,
            pings,
            watch: self.watcher.stop().await,
            server: self.server,
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
pub(super) fn workload_line(spec: &workload::WorkloadSpec) -> String {
    format!(
        "workload running: {} app + {} probe clients, {}{}",
        spec.clients,
        spec.probe_clients,
        match spec.model {
            workload::Model::Closed => "closed loop".to_string(),
            workload::Model::Open { rate } => format!("open loop at {rate} ops/s"),
        },
        match spec.wait {
            Some(w) => format!(", WAIT {} {} after each write", w.replicas, w.timeout_ms),
            None => String::new(),
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
    bus: &Bus,
    cancel: &CancellationToken,
) -> Result<Acted, DrillError> {
    let mut nemesis = Nemesis::new(rt, d, setup.map.clone(), clock, seed);
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
    let mut ended = started;
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
    let (reshard, faults) = tokio::join!(reshard, faults);
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
    let members: Vec<cluster::Member> = convergence_members(
        d,
        scenario.reshard.as_ref().map(|r| &r.action),
        !scenario.faults.is_empty(),
    )
    .into_iter()
    .filter(|m| !acted.down.contains(&m.name))
    .collect();
    let conv = cluster::wait_converged(
        &members,
        &cluster::ConvergeOptions::new(timeout, cancel.clone()),
    )
    .await?;
    let at = Instant::now();
    let after_ms = at.saturating_duration_since(acted.ended).as_secs_f64() * 1000.0;
    bus.emit(DrillEvent::Converged {
        at,
        after_ms,
        polls: conv.polls,
    });
    Ok((after_ms, at))
}

/// The end state: every key read back, the cluster checked by our own check.
pub(super) struct EndState {
    keys: Vec<KeyValues>,
    check: cluster::CheckReport,
    stray_keys: u64,
    topology_after: status::StatusReport,
    redis_version: String,
}

impl EndState {
    pub(super) async fn read(setup: &Setup, d: &Deployment) -> Result<EndState, DrillError> {
        let map = &setup.map;
        let names: Vec<String> = setup.loaded.initial.keys().cloned().collect();
        let finals = workload::read_final(map, &names).await?;
        let check = cluster::check(map.nodes()[0].addr, map).await?;
        let stray_keys = cluster::stray_keys(map).await?;
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
            check,
            stray_keys,
            topology_after: status::collect(d).await,
            redis_version: redis_version(map).await,
        })
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
                seed,
                started_at: humantime::format_rfc3339_seconds(started_at).to_string(),
                epoch_monotonic_ns: clock.epoch_monotonic_ns(),
                environment: Environment {
                    runtime: d.runtime.to_string(),
                    redis_version: end.redis_version,
                    image: d.image.clone(),
                    host_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
                    client_path: setup.clients.path.clone(),
                    redis_drill_version: env!("CARGO_PKG_VERSION").to_string(),
                },
                app_clients: spec.clients,
                probe_clients: spec.probe_clients,
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
                cluster_check_ok: end.check.ok,
                cluster_check: end.check.to_string().lines().map(str::to_string).collect(),
                stray_keys: end.stray_keys,
            },
            history: recordings.recorded.history,
            pings: recordings.pings,
            watch: recordings.watch,
            keys: end.keys,
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
