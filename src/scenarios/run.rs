//! Running a scenario: load → workload and watcher (baseline) → the reshard
//! and the faults side by side (during) → undo what is in force → converge
//! (recovery) → workload (after) → stop → checks → report. The topology is
//! brought up and taken down by the caller, so that teardown happens on every
//! exit path; the faults are undone here, on every path, before returning.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::cluster::reshard::SlotOwners;
use crate::cluster::watch::Watcher;
use crate::cluster::{self, AddressMap, ClusterError};
use crate::faults::{FaultError, FaultKind, FaultWindow, Nemesis};
use crate::report::{
    self, Checks, ClientSummary, DowntimeSummary, Environment, EventMs, FaultReport, Latency,
    LostKey, PhaseMs, Report, ReshardSummary, RunDir, WorkloadSummary,
};
use crate::runtime::Deployment;
use crate::timeline::{Clock, Event, Phase};
use crate::workload::{self, ClientMode, History, Workload};
use crate::{checker, status};

use super::measure::{fault_report, stray_keys, worst_rank};
use super::resume::{Resharded, reshard_through_faults};
pub(crate) use super::resume::{endpoints, plan};
use super::{ReshardAction, Scenario};

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("failed to {}", crate::cluster::admin::error_chain(.0))]
    Cluster(#[from] ClusterError),
    #[error("workload: {0}")]
    Workload(#[from] workload::WorkloadError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to add a primary: {0}")]
    AddNode(String),
    #[error("{0}")]
    Fault(#[from] FaultError),
    #[error("faults left in force: {0}")]
    Heal(String),
    #[error("interrupted")]
    Cancelled,
}

impl DrillError {
    pub fn exit_code(&self) -> i32 {
        match self {
            DrillError::Cancelled => crate::exit::INTERRUPTED,
            DrillError::Cluster(e) if e.is_cancelled() => crate::exit::INTERRUPTED,
            // A plan that cannot be made is about what was asked for.
            DrillError::Cluster(ClusterError::Plan(_)) => crate::exit::BAD_INPUT,
            DrillError::Fault(e) => e.exit_code(),
            _ => crate::exit::ENVIRONMENT,
        }
    }
}

/// What a finished run produced.
pub struct Finished {
    pub report: Report,
    pub dir: RunDir,
}

/// Progress lines for a person; silent when `quiet` (e.g. `--json`).
pub(super) struct Say {
    quiet: bool,
    started: Instant,
}

impl Say {
    pub(super) fn line(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            crate::note!(
                "[{:>6.1}s] {}",
                self.started.elapsed().as_secs_f64(),
                msg.as_ref()
            );
        }
    }
}

pub(super) fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Sleep for `d` unless cancelled.
pub(super) async fn hold(d: Duration, cancel: &CancellationToken) -> Result<(), DrillError> {
    tokio::select! {
        _ = cancel.cancelled() => Err(DrillError::Cancelled),
        _ = tokio::time::sleep(d) => Ok(()),
    }
}

/// Total keys over the primaries, from the topology report.
fn keys_on_primaries(s: &status::StatusReport) -> u64 {
    s.nodes
        .iter()
        .filter(|n| n.role == Some(crate::topology::Role::Primary))
        .filter_map(|n| n.keys)
        .sum()
}

/// What the `during` phase did.
struct During {
    reshard: Option<Resharded>,
    /// When the last action (reshard end, fault applied or undone) finished.
    ended_at: Instant,
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
    // A primary to rebalance onto is added before the workload starts: app
    // clients map announced addresses to host ports when they connect, so a
    // node added later would be out of their reach on Docker.
    let mut events: Vec<Event> = Vec::new();
    let grown;
    let d = if scenario
        .reshard
        .as_ref()
        .is_some_and(|r| r.action == ReshardAction::AddPrimary)
    {
        let (d2, added) = crate::bringup::add_node(rt, d, None, cancel)
            .await
            .map_err(|e| DrillError::AddNode(e.to_string()))?;
        say.line(format!(
            "added empty primary {} in {} ms",
            added.node, added.timings.total_ms
        ));
        events.push(Event {
            at_ns: 0,
            kind: "add-node".into(),
            detail: format!("{} (primary, no slots)", added.node),
        });
        grown = d2;
        &grown
    } else {
        d
    };
    if scenario
        .faults
        .iter()
        .any(|f| matches!(f.fault, FaultKind::Partition | FaultKind::Heal))
    {
        crate::net::preflight(rt, d)
            .await
            .map_err(FaultError::from)?;
    }
    let map = address_map(d)?;
    let spec = &scenario.workload;

    // Load the data set before anything is measured.
    let t = Instant::now();
    let loaded = workload::load(&map, spec, seed).await?;
    say.line(format!(
        "loaded {} keys in {:.1} s",
        loaded.initial.len(),
        t.elapsed().as_secs_f64()
    ));
    let topology = status::collect(d).await;
    let keys_before = keys_on_primaries(&topology);
    if !quiet {
        crate::note!("\n{}", topology.render_text());
    }

    // The shard of a slot, for downtime: its owner before the action.
    let owners_before = SlotOwners::load(&map, cluster::ConnectOptions::default()).await?;
    let shard_names: Vec<String> = (0..cluster::slots::SLOT_COUNT)
        .map(|s| owners_before.owner(s).unwrap_or("unassigned").to_string())
        .collect();

    let clock = Clock::start();
    let mut phases: Vec<Phase> = Vec::new();
    let wl_cancel = cancel.child_token();
    let wl = Workload::start(map.clone(), spec.clone(), seed, clock, wl_cancel.clone()).await?;
    let watch_cancel = cancel.child_token();
    let watcher = Watcher::start(map.clone(), clock, WATCH_INTERVAL, watch_cancel.clone());
    say.line(format!(
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
    ));

    let mut nemesis = Nemesis::new(rt, d, map.clone(), clock, seed);
    let during = async {
        hold(Duration::from_millis(scenario.baseline_ms), cancel).await?;
        phases.push(Phase {
            name: "baseline".into(),
            start_ns: 0,
            end_ns: clock.now_ns(),
        });
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
        // The reshard's progress, for faults that wait for it; dropped with
        // the reshard future, which tells them it is over.
        let (slots_tx, slots_rx) = tokio::sync::watch::channel(0usize);
        // When one side fails, the other stops too: the reshard closes its
        // slots in flight, the nemesis stops applying faults.
        let stop = cancel.child_token();
        let reshard = async {
            let slots_tx = slots_tx;
            let r = match &scenario.reshard {
                None => Ok(None),
                Some(step) => reshard_through_faults(
                    &map,
                    step,
                    &owners_before,
                    !scenario.faults.is_empty(),
                    Duration::from_millis(scenario.recovery_timeout_ms),
                    &say,
                    quiet,
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
        let reshard = match (reshard, faults) {
            (Ok(r), Ok(())) => r,
            (Err(e), Ok(())) | (Ok(_), Err(e)) => return Err(e),
            (Err(a), Err(b)) => return Err(if interrupted(&a) { b } else { a }),
        };
        Ok::<_, DrillError>((during_start, reshard))
    }
    .await;
    // Undo what is in force on every path, cancellation included.
    let heal_errors = nemesis.heal_all().await;
    for e in &heal_errors {
        crate::note!("warning: could not undo a fault: {e}");
    }
    let windows: Vec<FaultWindow> = nemesis.windows().to_vec();
    for w in &windows {
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

    let result = async {
        let (during_start, reshard) = during?;
        let mut ended_at = during_start;
        if let Some(r) = &reshard {
            ended_at = ended_at.max(r.finished_at);
            events.push(Event {
                at_ns: clock.ns(during_start),
                kind: "reshard-start".into(),
                detail: format!("{} -> {}", r.from.join(","), r.to.join(",")),
            });
            events.push(Event {
                at_ns: clock.ns(r.finished_at),
                kind: "reshard-end".into(),
                detail: format!(
                    "{} slots, {} keys, {} attempt(s)",
                    r.slots_moved, r.keys_moved, r.attempts
                ),
            });
        }
        for w in &windows {
            ended_at = ended_at.max(clock.instant(w.undone_ns.unwrap_or(w.applied_ns)));
        }
        let during = During { reshard, ended_at };
        phases.push(Phase {
            name: "during".into(),
            start_ns: clock.ns(during_start),
            end_ns: clock.ns(during.ended_at),
        });

        // Convergence, from the last action. Failovers change who replicates
        // whom, so no fixed pairing is expected; nodes still down are left out.
        let down = nemesis.unavailable_nodes();
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
            .saturating_duration_since(during.ended_at)
            .as_secs_f64()
            * 1000.0;
        events.push(Event {
            at_ns: clock.ns(converged_at),
            kind: "converged".into(),
            detail: format!("after {} polls", conv.polls),
        });
        say.line(format!(
            "converged {convergence_ms:.0} ms after the last action"
        ));
        phases.push(Phase {
            name: "recovery".into(),
            start_ns: clock.ns(during.ended_at),
            end_ns: clock.ns(converged_at),
        });

        // Settle.
        let after_start = clock.now_ns();
        hold(Duration::from_millis(scenario.settle_ms), cancel).await?;
        phases.push(Phase {
            name: "after".into(),
            start_ns: after_start,
            end_ns: clock.now_ns(),
        });
        Ok::<_, DrillError>((during, convergence_ms))
    }
    .await;
    wl_cancel.cancel();
    watch_cancel.cancel();
    let history: History = wl.stop().await;
    let recording = watcher.stop().await;
    let (during, convergence_ms) = result?;
    if !heal_errors.is_empty() {
        return Err(DrillError::Heal(heal_errors.join("; ")));
    }
    say.line(format!("workload stopped: {} ops recorded", history.len()));
    workload::write_jsonl(&dir.file("history.jsonl"), &history).map_err(|e| DrillError::Io {
        context: "writing history.jsonl".into(),
        source: std::io::Error::other(e),
    })?;

    // Checks: every key read back, the cluster checked by our own check.
    let keys: Vec<String> = loaded.initial.keys().cloned().collect();
    let finals = workload::read_final(&map, &keys).await?;
    let lost = checker::lost_writes(&history, &loaded.initial, &finals);
    let counters = checker::counters(&history, &loaded.initial, &finals);
    let check = cluster::check(map.nodes()[0].addr, &map).await?;
    let stray = stray_keys(&map).await?;
    let topology_after = status::collect(d).await;

    let app: Vec<&workload::Op> = history
        .iter()
        .filter(|o| o.mode == ClientMode::App)
        .collect();
    let probe: Vec<&workload::Op> = history
        .iter()
        .filter(|o| o.mode == ClientMode::Probe)
        .collect();
    let shard_of = |slot: u16| shard_names[usize::from(slot)].clone();
    let down_app = checker::downtime(app.iter().copied(), shard_of);
    let down_probe = checker::downtime(probe.iter().copied(), shard_of);

    let summarize = |ops: &[&workload::Op], clients: u32| -> ClientSummary {
        let lat = checker::latency_by_phase(ops.iter().copied(), &phases);
        ClientSummary {
            clients,
            ops_ok: ops.iter().filter(|o| o.is_ok()).count() as u64,
            ops_failed: ops
                .iter()
                .filter(|o| matches!(o.outcome, workload::Outcome::Fail { .. }))
                .count() as u64,
            ops_indeterminate: ops
                .iter()
                .filter(|o| matches!(o.outcome, workload::Outcome::Indeterminate { .. }))
                .count() as u64,
            redirects: ops.iter().map(|o| u64::from(o.redirects)).sum(),
            errors_by_kind: checker::errors_by_kind(ops.iter().copied()),
            latency_ms: lat
                .into_iter()
                .map(|(k, l)| {
                    (
                        k,
                        Latency {
                            count: l.count,
                            p50: l.p50,
                            p95: l.p95,
                            p99: l.p99,
                            p999: l.p999,
                            max: l.max,
                        },
                    )
                })
                .collect(),
        }
    };
    let workload_summary = WorkloadSummary {
        app: summarize(&app, spec.clients),
        probe: summarize(&probe, spec.probe_clients),
    };

    let checks = Checks {
        lost_writes: lost.lost.len() as u64,
        lost: lost
            .lost
            .iter()
            .take(100)
            .map(|l| LostKey {
                key: l.key.clone(),
                slot: l.slot,
                found: l.found.clone(),
                acceptable: l.acceptable.iter().take(5).cloned().collect(),
                last_ack_ms: l.last_ack_end_ns.map_or(0.0, ms),
            })
            .collect(),
        keys_checked: lost.keys_checked,
        acknowledged_writes: lost.acknowledged_writes,
        indeterminate_writes: lost.indeterminate_writes,
        counter_violations: counters.violations.len() as u64,
        lost_acknowledged_writes: lost.lost_acknowledged_writes,
        loss_window_ms: lost.loss_window_ns.map(|(a, b)| (ms(a), ms(b))),
        stray_keys: stray,
        keys_before,
        keys_after: keys_on_primaries(&topology_after),
        cluster_check_ok: check.ok,
        cluster_check: check.to_string().lines().map(str::to_string).collect(),
    };
    let downtime = DowntimeSummary {
        per_shard: down_app
            .per_shard
            .iter()
            .map(|(k, w)| (k.clone(), w.ms))
            .collect(),
        max: down_app.max_ms,
        windows: down_app.per_shard.values().map(|w| w.windows).sum(),
        probe_per_shard: down_probe
            .per_shard
            .iter()
            .map(|(k, w)| (k.clone(), w.ms))
            .collect(),
        probe_max: down_probe.max_ms,
    };
    let reshard_summary = during.reshard.as_ref().map(|r| ReshardSummary {
        from: r.from.clone(),
        to: r.to.clone(),
        slots_moved: r.slots_moved as u64,
        keys_moved: r.keys_moved,
        bytes_moved: r.bytes_moved,
        duration_ms: r.duration.as_secs_f64() * 1000.0,
        keys_per_s: r.keys_moved as f64 / r.duration.as_secs_f64().max(1e-9),
        slots_per_s: r.slots_moved as f64 / r.duration.as_secs_f64().max(1e-9),
    });
    let run_end_ns = clock.now_ns();
    let fault_reports: Vec<FaultReport> = windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            // The fault is "the latest" until the next one starts.
            let until = windows.get(i + 1).map_or(run_end_ns, |n| n.start_ns);
            fault_report(
                w,
                until,
                &down_app,
                &down_probe,
                &recording,
                scenario.topology.cluster.node_timeout_ms,
                worst_rank(&scenario.topology),
            )
        })
        .collect();
    for f in &fault_reports {
        for fo in &f.failover {
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
    }
    for w in &windows {
        events.push(Event {
            at_ns: w.start_ns,
            kind: w.fault.to_string(),
            detail: format!("{} [{}] {}", w.target, w.nodes.join(" "), w.detail)
                .trim_end()
                .to_string(),
        });
        if let (Some(u), Some(at)) = (w.undo, w.undone_ns) {
            events.push(Event {
                at_ns: at,
                kind: u.to_string(),
                detail: format!("after {} {}", w.fault, w.target),
            });
        }
    }
    events.sort_by_key(|e| e.at_ns);

    let app_p99 = |phase: &str| workload_summary.app.latency_ms.get(phase).map(|l| l.p99);
    let max_of = |v: Vec<f64>| v.into_iter().reduce(f64::max);
    let failover_ms = max_of(
        fault_reports
            .iter()
            .flat_map(|f| &f.failover)
            .filter_map(|f| f.state_ok_after_ms)
            .collect(),
    );
    let rejoin_ms = max_of(
        fault_reports
            .iter()
            .flat_map(|f| &f.rejoin)
            .filter_map(|r| r.caught_up_after_ms)
            .collect(),
    );
    let measured: HashMap<&str, Option<f64>> = HashMap::from([
        ("max_lost_writes", Some(checks.lost_writes as f64)),
        (
            "max_lost_acknowledged_writes",
            Some(checks.lost_acknowledged_writes as f64),
        ),
        (
            "max_counter_violations",
            Some(checks.counter_violations as f64),
        ),
        (
            "max_app_failed_ops",
            Some(workload_summary.app.ops_failed as f64),
        ),
        (
            "max_app_indeterminate_ops",
            Some(workload_summary.app.ops_indeterminate as f64),
        ),
        (
            "max_probe_failed_ops",
            Some(workload_summary.probe.ops_failed as f64),
        ),
        ("max_app_downtime_ms", Some(downtime.max)),
        ("max_probe_downtime_ms", Some(downtime.probe_max)),
        ("max_downtime_windows", Some(f64::from(downtime.windows))),
        ("max_p99_baseline_ms", app_p99("baseline")),
        ("max_p99_during_ms", app_p99("during")),
        ("max_p99_after_ms", app_p99("after")),
        ("max_convergence_ms", Some(convergence_ms)),
        (
            "max_reshard_ms",
            reshard_summary.as_ref().map(|r| r.duration_ms),
        ),
        ("max_failover_ms", failover_ms),
        ("max_rejoin_ms", rejoin_ms),
        ("max_stray_keys", Some(stray as f64)),
    ]);
    let mut slo =
        report::evaluate_slos(&scenario.slo, |name| measured.get(name).copied().flatten());
    // A cluster that fails its own check at the end fails the run, SLO or not.
    if !checks.cluster_check_ok {
        slo.push(report::SloResult {
            name: "cluster_check".into(),
            limit: 0.0,
            value: Some(1.0),
            pass: false,
        });
    }
    let verdict = Report::verdict_from(&slo);
    let redis_version = redis_version(&map).await;
    let report = Report {
        format_version: report::FORMAT_VERSION,
        scenario: scenario.name.clone(),
        seed,
        started_at: humantime::format_rfc3339_seconds(started_at).to_string(),
        environment: Environment {
            runtime: d.runtime.to_string(),
            redis_version,
            image: d.image.clone(),
            host_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            redis_drill_version: env!("CARGO_PKG_VERSION").to_string(),
        },
        topology,
        topology_after: Some(topology_after),
        phases: phases
            .iter()
            .map(|p| PhaseMs {
                name: p.name.clone(),
                start_ms: ms(p.start_ns),
                end_ms: ms(p.end_ns),
            })
            .collect(),
        events: events
            .iter()
            .map(|e| EventMs {
                at_ms: ms(e.at_ns),
                kind: e.kind.clone(),
                detail: e.detail.clone(),
            })
            .collect(),
        workload: workload_summary,
        downtime_ms: downtime,
        convergence_ms: Some(convergence_ms),
        reshard: reshard_summary,
        checks,
        slo,
        verdict,
        per_second: checker::per_second(history.iter())
            .into_iter()
            .map(|s| {
                let (from, to) = (s.t_s * 1_000_000_000, (s.t_s + 1) * 1_000_000_000);
                report::Second {
                    t_s: s.t_s,
                    ok: s.ok,
                    failed: s.failed,
                    p99_ms: s.p99_ms,
                    faults: windows
                        .iter()
                        .enumerate()
                        .filter(|(_, w)| {
                            w.start_ns < to && w.undone_ns.unwrap_or(run_end_ns) >= from
                        })
                        .map(|(i, _)| i)
                        .collect(),
                }
            })
            .collect(),
        faults: fault_reports,
    };
    report::write_run(&dir, &report).map_err(|source| DrillError::Io {
        context: format!("writing the report into {}", dir.path.display()),
        source,
    })?;
    Ok(Finished { report, dir })
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

/// A progress bar on a terminal, a line per tenth otherwise, nothing when quiet.
pub(crate) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    next_line: u64,
    quiet: bool,
}

impl Progress {
    pub(crate) fn new(total: u64, quiet: bool) -> Progress {
        use std::io::IsTerminal;
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "  {bar:40} {pos}/{len} slots {msg} ({elapsed})",
                )
                .expect("a valid template"),
            );
            b
        });
        Progress {
            bar,
            total,
            next_line: total / 10,
            quiet,
        }
    }

    pub(crate) fn update(&mut self, slots_done: u64, keys_moved: u64) {
        if let Some(b) = &self.bar {
            b.set_position(slots_done);
            b.set_message(format!("{keys_moved} keys"));
        } else if !self.quiet && slots_done >= self.next_line && slots_done < self.total {
            crate::note!("  {slots_done}/{} slots, {keys_moved} keys", self.total);
            self.next_line = slots_done + (self.total / 10).max(1);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
