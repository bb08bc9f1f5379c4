//! Running a scenario: load → workload and watcher (baseline) → the reshard
//! and the faults side by side (during) → undo what is in force → converge
//! (recovery) → workload (after) → stop → checks → report. The topology is
//! brought up and taken down by the caller, so that teardown happens on every
//! exit path; the faults are undone here, on every path, before returning.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::cluster::reshard::SlotOwners;
use crate::cluster::watch::Watcher;
use crate::cluster::{self, AddressMap, ClusterError};
use crate::faults::{FaultError, FaultKind, FaultWindow, Nemesis};
use crate::report::{self, Environment, Report, ReshardSummary, RunDir};
use crate::runtime::Deployment;
use crate::runtime::netns::NetNs;
use crate::status;
use crate::timeline::{Clock, Event, Phase};
use crate::workload::reference::{NodeSample, server_sample};
use crate::workload::{self, Ping, Reference, Workload};

use super::check::{self, KeyValues, RECORD_VERSION, Record, Stored, slot_ranges};
pub use super::error::DrillError;
use super::measure::worst_rank;
pub(crate) use super::progress::Progress;
use super::progress::{Say, hold};
use super::resume::{Resharded, reshard_through_faults};
pub(crate) use super::resume::{endpoints, plan};
use super::{ReshardAction, Scenario};

/// What a finished run produced.
pub struct Finished {
    pub report: Report,
    pub dir: RunDir,
}

/// The nodes' own command figures, one sample per phase: each sample reads
/// and resets the counters, so it covers exactly the phase that just ended.
struct ServerFigures {
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
    async fn close(&mut self, name: &str) {
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
struct ClientSide {
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

/// The drill's own account on the run's clock: its phases and events.
#[derive(Default)]
struct Timeline {
    phases: Vec<Phase>,
    events: Vec<Event>,
}

impl Timeline {
    fn event(&mut self, at_ns: u64, kind: &str, detail: String) {
        self.events.push(Event {
            at_ns,
            kind: kind.into(),
            detail,
        });
    }

    /// Close the phase `name` and read the servers' figures for it.
    async fn phase(&mut self, server: &mut ServerFigures, name: &str, start_ns: u64, end_ns: u64) {
        self.phases.push(Phase {
            name: name.into(),
            start_ns,
            end_ns,
        });
        server.close(name).await;
    }
}

/// What is ready before anything is measured.
struct Setup {
    map: AddressMap,
    loaded: workload::LoadReport,
    topology: status::StatusReport,
    /// The shard of a slot, for downtime: its owner before the action.
    owners_before: SlotOwners,
    clients: ClientSide,
}

impl Setup {
    async fn prepare(
        scenario: &Scenario,
        rt: &crate::runtime::Runtime,
        d: &Deployment,
        seed: u64,
        say: &Say,
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
        say.line(format!(
            "loaded {} keys in {:.1} s",
            loaded.initial.len(),
            t.elapsed().as_secs_f64()
        ));
        let topology = status::collect(d).await;
        if !say.quiet {
            crate::note!("\n{}", topology.render_text());
        }
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
struct Recorders {
    clock: Clock,
    workload: Workload,
    workload_cancel: CancellationToken,
    watcher: Watcher,
    watch_cancel: CancellationToken,
    reference: Option<Reference>,
    server: ServerFigures,
}

/// What the recorders held when they stopped.
struct Recordings {
    recorded: workload::Recorded,
    pings: Vec<Ping>,
    watch: cluster::watch::Recording,
    server: ServerFigures,
}

impl Recorders {
    async fn start(
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

    async fn stop(self) -> Recordings {
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
            recorded,
            pings,
            watch: self.watcher.stop().await,
            server: self.server,
        }
    }
}

/// Run `scenario` against the deployment `d` (already up), store the run under
/// `out`, and return the report. A violated invariant is in the report's
/// verdict, never an error; errors are for runs that could not be carried out.
/// Whatever the faults left in force is undone before this returns, on every
/// path (cancellation included).
pub async fn execute(
    scenario: &Scenario,
    rt: &crate::runtime::Runtime,
    d: &Deployment,
    seed: u64,
    out: &Path,
    quiet: bool,
    cancel: &CancellationToken,
) -> Result<Finished, DrillError> {
    let say = Say {
        quiet,
        started: Instant::now(),
    };
    let started_at = std::time::SystemTime::now();
    let dir = RunDir::create(out, &scenario.name, started_at).map_err(|source| DrillError::Io {
        context: format!("creating a run folder under {}", out.display()),
        source,
    })?;
    let mut timeline = Timeline::default();
    let grown = add_primary_if_asked(scenario, rt, d, &mut timeline, &say, cancel).await?;
    let d = grown.as_ref().unwrap_or(d);
    let setup = Setup::prepare(scenario, rt, d, seed, &say).await?;
    let mut rec = Recorders::start(&scenario.workload, &setup, seed, cancel).await?;
    say.line(workload_line(&scenario.workload));

    let mut nemesis = Nemesis::new(rt, d, setup.map.clone(), rec.clock, seed);
    let acted = act(
        scenario,
        &setup,
        &mut rec,
        &mut timeline,
        &mut nemesis,
        &say,
        cancel,
    )
    .await;
    // Undo what is in force on every path, cancellation included.
    let heal_errors = nemesis.heal_all().await;
    let windows: Vec<FaultWindow> = nemesis.windows().to_vec();
    say_windows(&windows, &heal_errors, &say);
    let settled = match acted {
        Ok(during) => {
            let down = nemesis.unavailable_nodes();
            settle(
                scenario,
                d,
                during,
                &windows,
                &down,
                &mut rec,
                &mut timeline,
                &say,
                cancel,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let clock = rec.clock;
    let recordings = rec.stop().await;
    let (reshard, convergence_ms) = settled?;
    let count = heal_errors.len();
    if let Some(first) = heal_errors.into_iter().next() {
        return Err(DrillError::Heal {
            count,
            first: Box::new(first),
        });
    }
    say.line(format!(
        "workload stopped: {} ops recorded",
        recordings.recorded.history.len()
    ));
    let end = EndState::read(&setup, d).await?;
    let run = Run {
        scenario,
        d,
        seed,
        started_at,
        clock,
        setup,
        timeline,
        windows,
        reshard,
        convergence_ms,
        recordings,
        end,
    };
    let stored = run.store();
    stored.write(&dir.path).map_err(|e| DrillError::Io {
        context: format!("storing the run in {}", dir.path.display()),
        source: std::io::Error::other(e),
    })?;
    let report = check::check(&stored);
    say_outcome(&report, &say);
    report::write_run(&dir, &report).map_err(|source| DrillError::Io {
        context: format!("writing the report into {}", dir.path.display()),
        source,
    })?;
    Ok(Finished { report, dir })
}

/// A primary to rebalance onto is added before the workload starts: app
/// clients map announced addresses to host ports when they connect, so a
/// node added later would be out of their reach on Docker.
async fn add_primary_if_asked(
    scenario: &Scenario,
    rt: &crate::runtime::Runtime,
    d: &Deployment,
    timeline: &mut Timeline,
    say: &Say,
    cancel: &CancellationToken,
) -> Result<Option<Deployment>, DrillError> {
    let asked = scenario
        .reshard
        .as_ref()
        .is_some_and(|r| r.action == ReshardAction::AddPrimary);
    if !asked {
        return Ok(None);
    }
    let (grown, added) = crate::bringup::add_node(rt, d, None, cancel)
        .await
        .map_err(DrillError::AddNode)?;
    say.line(format!(
        "added empty primary {} in {} ms",
        added.node, added.timings.total_ms
    ));
    timeline.event(0, "add-node", format!("{} (primary, no slots)", added.node));
    Ok(Some(grown))
}

fn workload_line(spec: &workload::WorkloadSpec) -> String {
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

/// `baseline`, then `during`: the reshard and the faults side by side. When
/// one side fails, the other stops too: the reshard closes its slots in
/// flight, the nemesis stops applying faults.
async fn act(
    scenario: &Scenario,
    setup: &Setup,
    rec: &mut Recorders,
    timeline: &mut Timeline,
    nemesis: &mut Nemesis<'_>,
    say: &Say,
    cancel: &CancellationToken,
) -> Result<(Instant, Option<Resharded>), DrillError> {
    hold(Duration::from_millis(scenario.baseline_ms), cancel).await?;
    let now = rec.clock.now_ns();
    timeline.phase(&mut rec.server, "baseline", 0, now).await;
    let during_start = Instant::now();
    if !scenario.faults.is_empty() {
        say.line(format!(
            "{} fault(s) scheduled over {:.1} s",
            scenario
                .faults
                .iter()
                .map(|f| f.repeat as usize)
                .sum::<usize>(),
            crate::faults::schedule::duration_ms(&scenario.faults) as f64 / 1000.0
        ));
    }
    // The reshard's progress, for faults that wait for it; dropped with the
    // reshard future, which tells them it is over.
    let (slots_tx, slots_rx) = tokio::sync::watch::channel(0usize);
    let stop = cancel.child_token();
    let reshard = async {
        let slots_tx = slots_tx;
        let r = match &scenario.reshard {
            None => Ok(None),
            Some(step) => reshard_through_faults(
                &setup.map,
                step,
                &setup.owners_before,
                !scenario.faults.is_empty(),
                Duration::from_millis(scenario.recovery_timeout_ms),
                say,
                say.quiet,
                &slots_tx,
                &stop,
            )
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
            .run(&scenario.faults, during_start, Some(slots_rx), &stop)
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
    let interrupted = |e: &DrillError| e.exit_code() == crate::exit::INTERRUPTED;
    match (reshard, faults) {
        (Ok(r), Ok(())) => Ok((during_start, r)),
        (Err(e), Ok(())) | (Ok(_), Err(e)) => Err(e),
        (Err(a), Err(b)) => Err(if interrupted(&a) { b } else { a }),
    }
}

/// Each fault as it went, and the undos that failed.
fn say_windows(windows: &[FaultWindow], heal_errors: &[FaultError], say: &Say) {
    for e in heal_errors {
        crate::note!("warning: could not undo a fault: {e}");
    }
    for w in windows {
        say.line(format!(
            "{} {} [{}]{}",
            w.fault,
            w.target,
            w.nodes.join(" "),
            match (w.undo, w.undone_ns) {
                (Some(u), Some(at)) => format!(
                    " for {:.1} s, then {u}",
                    (at.saturating_sub(w.start_ns)) as f64 / 1e9
                ),
                _ => String::new(),
            }
        ));
    }
}

/// Close `during`, wait for the cluster to converge (`recovery`), then let the
/// workload run on (`after`). Returns the reshard's outcome and the convergence time.
#[allow(clippy::too_many_arguments)]
async fn settle(
    scenario: &Scenario,
    d: &Deployment,
    (during_start, reshard): (Instant, Option<Resharded>),
    windows: &[FaultWindow],
    down: &std::collections::BTreeSet<String>,
    rec: &mut Recorders,
    timeline: &mut Timeline,
    say: &Say,
    cancel: &CancellationToken,
) -> Result<(Option<Resharded>, f64), DrillError> {
    let clock = rec.clock;
    let mut ended_at = during_start;
    if let Some(r) = &reshard {
        ended_at = ended_at.max(r.finished_at);
        timeline.event(
            clock.ns(during_start),
            "reshard-start",
            format!("{} -> {}", r.from.join(","), r.to.join(",")),
        );
        timeline.event(
            clock.ns(r.finished_at),
            "reshard-end",
            format!(
                "{} slots, {} keys, {} attempt(s)",
                r.slots_moved, r.keys_moved, r.attempts
            ),
        );
    }
    for w in windows {
        ended_at = ended_at.max(clock.instant(w.undone_ns.unwrap_or(w.applied_ns)));
    }
    let (from, to) = (clock.ns(during_start), clock.ns(ended_at));
    timeline.phase(&mut rec.server, "during", from, to).await;

    // Convergence, from the last action. Failovers change who replicates
    // whom, so no fixed pairing is expected; nodes still down are left out.
    let members: Vec<cluster::Member> = convergence_members(
        d,
        scenario.reshard.as_ref().map(|r| &r.action),
        !scenario.faults.is_empty(),
    )
    .into_iter()
    .filter(|m| !down.contains(&m.name))
    .collect();
    let conv = cluster::wait_converged(
        &members,
        &cluster::ConvergeOptions::new(
            Duration::from_millis(scenario.recovery_timeout_ms),
            cancel.clone(),
        ),
    )
    .await?;
    let converged_at = Instant::now();
    let convergence_ms = converged_at
        .saturating_duration_since(ended_at)
        .as_secs_f64()
        * 1000.0;
    timeline.event(
        clock.ns(converged_at),
        "converged",
        format!("after {} polls", conv.polls),
    );
    say.line(format!(
        "converged {convergence_ms:.0} ms after the last action"
    ));
    let (from, to) = (clock.ns(ended_at), clock.ns(converged_at));
    timeline.phase(&mut rec.server, "recovery", from, to).await;

    let after_start = clock.now_ns();
    hold(Duration::from_millis(scenario.settle_ms), cancel).await?;
    let now = clock.now_ns();
    timeline
        .phase(&mut rec.server, "after", after_start, now)
        .await;
    Ok((reshard, convergence_ms))
}

/// The end state: every key read back, the cluster checked by our own check.
struct EndState {
    keys: Vec<KeyValues>,
    check: cluster::CheckReport,
    stray_keys: u64,
    topology_after: status::StatusReport,
    redis_version: String,
}

impl EndState {
    async fn read(setup: &Setup, d: &Deployment) -> Result<EndState, DrillError> {
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
struct Run<'a> {
    scenario: &'a Scenario,
    d: &'a Deployment,
    seed: u64,
    started_at: std::time::SystemTime,
    clock: Clock,
    setup: Setup,
    timeline: Timeline,
    windows: Vec<FaultWindow>,
    reshard: Option<Resharded>,
    convergence_ms: f64,
    recordings: Recordings,
    end: EndState,
}

impl Run<'_> {
    /// The run as its folder keeps it: what `check-run` reads again.
    fn store(self) -> Stored {
        let Run {
            scenario,
            d,
            seed,
            started_at,
            clock,
            setup,
            timeline,
            windows,
            reshard,
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
                faults: windows,
                reshard: reshard.as_ref().map(reshard_summary),
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

/// The failovers and the self-check, in words, once the run is checked.
fn say_outcome(report: &Report, say: &Say) {
    for fo in report.faults.iter().flat_map(|f| &f.failover) {
        say.line(format!(
            "failover of {}: pfail {} · fail {} · {} promoted {} · state ok {} (spec: {:.0}–{:.0} ms)",
            fo.node,
            opt_ms(fo.pfail_after_ms),
            opt_ms(fo.fail_after_ms),
            fo.promoted.as_deref().unwrap_or("nobody"),
            opt_ms(fo.promoted_after_ms),
            opt_ms(fo.state_ok_after_ms),
            fo.expected_min_ms,
            fo.expected_max_ms
        ));
    }
    if let Some(note) = &report.workload.self_check.note {
        say.line(format!("self-check: {note}"));
    }
}

/// How often the watcher asks every node what it sees: fine enough to place
/// PFAIL, FAIL and the promotion within 50 ms, light enough for a 2-core box.
const WATCH_INTERVAL: Duration = Duration::from_millis(50);

fn opt_ms(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.0} ms"))
}

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
