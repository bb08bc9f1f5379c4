//! Running a scenario: load → workload (baseline) → reshard → converge →
//! workload (settle) → stop → checks → report. The topology is brought up and
//! taken down by the caller, so that teardown happens on every exit path.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::cluster::reshard::{self, Plan, ReshardOptions, SlotOwners};
use crate::cluster::{self, AddressMap, ClusterError};
use crate::report::{
    self, Checks, ClientSummary, DowntimeSummary, Environment, EventMs, Latency, LostKey, PhaseMs,
    Report, ReshardSummary, RunDir, WorkloadSummary,
};
use crate::runtime::Deployment;
use crate::timeline::{Clock, Event, Phase};
use crate::workload::{self, ClientMode, History, Workload};
use crate::{checker, status};

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
struct Say {
    quiet: bool,
    started: Instant,
}

impl Say {
    fn line(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            crate::note!(
                "[{:>6.1}s] {}",
                self.started.elapsed().as_secs_f64(),
                msg.as_ref()
            );
        }
    }
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Sleep for `d` unless cancelled.
async fn hold(d: Duration, cancel: &CancellationToken) -> Result<(), DrillError> {
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

/// Run `scenario` against the deployment `d` (already up), store the run under
/// `out`, and return the report. A violated invariant is in the report's
/// verdict, never an error; errors are for runs that could not be carried out.
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
    let d = if scenario.reshard.action == ReshardAction::AddPrimary {
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
    say.line(format!(
        "workload running: {} app + {} probe clients, {}",
        spec.clients,
        spec.probe_clients,
        match spec.model {
            workload::Model::Closed => "closed loop".to_string(),
            workload::Model::Open { rate } => format!("open loop at {rate} ops/s"),
        }
    ));

    // Baseline.
    let result = async {
        hold(Duration::from_millis(scenario.baseline_ms), cancel).await?;
        phases.push(Phase {
            name: "baseline".into(),
            start_ns: 0,
            end_ns: clock.now_ns(),
        });

        // The action.
        let plan = plan(&scenario.reshard.action, &owners_before)?;
        let (from, to) = endpoints(&plan);
        let reshard_start = clock.now_ns();
        events.push(Event {
            at_ns: reshard_start,
            kind: "reshard-start".into(),
            detail: format!(
                "{} slots {} -> {}",
                plan.moves.len(),
                from.join(","),
                to.join(",")
            ),
        });
        say.line(format!(
            "resharding {} slots {} -> {}",
            plan.moves.len(),
            from.join(","),
            to.join(",")
        ));
        let mut opts = ReshardOptions::new(Duration::from_secs(600), cancel.clone());
        if let Some(b) = scenario.reshard.batch_keys {
            opts.batch_keys = b;
        }
        if let Some(p) = scenario.reshard.parallel_slots {
            opts.parallel_slots = p;
        }
        opts.measure_bytes = true;
        let mut bar = Progress::new(plan.moves.len() as u64, quiet);
        let rep = reshard::execute(&map, &plan, &opts, &mut |p| {
            bar.update(p.slots_done as u64, p.keys_moved)
        })
        .await;
        bar.finish();
        let rep = rep?;
        let reshard_end = clock.ns(rep.finished_at);
        events.push(Event {
            at_ns: reshard_end,
            kind: "reshard-end".into(),
            detail: format!("{} slots, {} keys", rep.slots_moved, rep.keys_moved),
        });
        phases.push(Phase {
            name: "during".into(),
            start_ns: reshard_start,
            end_ns: reshard_end,
        });
        say.line(format!(
            "moved {} slots, {} keys in {:.0} ms ({:.0} keys/s)",
            rep.slots_moved,
            rep.keys_moved,
            rep.duration.as_secs_f64() * 1000.0,
            rep.keys_per_s
        ));

        // Convergence, from the last SETSLOT.
        let members = convergence_members(d, &scenario.reshard.action);
        let conv = cluster::wait_converged(
            &members,
            &cluster::ConvergeOptions::new(Duration::from_secs(60), cancel.clone()),
        )
        .await?;
        let converged_at = Instant::now();
        let convergence_ms = converged_at
            .saturating_duration_since(rep.finished_at)
            .as_secs_f64()
            * 1000.0;
        events.push(Event {
            at_ns: clock.ns(converged_at),
            kind: "converged".into(),
            detail: format!("after {} polls", conv.polls),
        });
        say.line(format!(
            "converged {convergence_ms:.0} ms after the last SETSLOT"
        ));

        // Settle.
        let after_start = clock.now_ns();
        hold(Duration::from_millis(scenario.settle_ms), cancel).await?;
        phases.push(Phase {
            name: "after".into(),
            start_ns: after_start,
            end_ns: clock.now_ns(),
        });
        Ok::<_, DrillError>((plan, rep, convergence_ms))
    }
    .await;
    wl_cancel.cancel();
    let history: History = wl.stop().await;
    let (plan, rep, convergence_ms) = result?;
    let (from, to) = endpoints(&plan);
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
    let reshard_summary = ReshardSummary {
        from,
        to,
        slots_moved: rep.slots_moved as u64,
        keys_moved: rep.keys_moved,
        bytes_moved: rep.bytes_moved,
        duration_ms: rep.duration.as_secs_f64() * 1000.0,
        keys_per_s: rep.keys_per_s,
        slots_per_s: rep.slots_per_s,
    };

    let app_p99 = |phase: &str| workload_summary.app.latency_ms.get(phase).map(|l| l.p99);
    let measured: HashMap<&str, Option<f64>> = HashMap::from([
        ("max_lost_writes", Some(checks.lost_writes as f64)),
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
        ("max_p99_baseline_ms", app_p99("baseline")),
        ("max_p99_during_ms", app_p99("during")),
        ("max_p99_after_ms", app_p99("after")),
        ("max_convergence_ms", Some(convergence_ms)),
        ("max_reshard_ms", Some(reshard_summary.duration_ms)),
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
        reshard: Some(reshard_summary),
        checks,
        slo,
        verdict,
        per_second: checker::per_second(history.iter())
            .into_iter()
            .map(|s| report::Second {
                t_s: s.t_s,
                ok: s.ok,
                failed: s.failed,
                p99_ms: s.p99_ms,
            })
            .collect(),
    };
    report::write_run(&dir, &report).map_err(|source| DrillError::Io {
        context: format!("writing the report into {}", dir.path.display()),
        source,
    })?;
    Ok(Finished { report, dir })
}

fn address_map(d: &Deployment) -> Result<AddressMap, DrillError> {
    Ok(AddressMap::from_members(&crate::bringup::members(d))?)
}

/// The plan for the scenario's action, from the current slot owners.
pub(crate) fn plan(action: &ReshardAction, owners: &SlotOwners) -> Result<Plan, DrillError> {
    Ok(match action {
        ReshardAction::Move { from, to, slots } => reshard::plan_move(owners, from, to, *slots)?,
        ReshardAction::Rebalance | ReshardAction::AddPrimary => {
            reshard::plan_rebalance(owners, owners.primaries())?
        }
        ReshardAction::Drain { node } => {
            let onto: Vec<String> = owners
                .primaries()
                .iter()
                .filter(|p| *p != node)
                .cloned()
                .collect();
            reshard::plan_drain(owners, node, &onto)?
        }
    })
}

/// The members to wait on after `action`. A drained primary turns into a
/// replica (replica migration) and replicas may follow other primaries, so
/// after a drain no fixed pairing is expected.
pub(crate) fn convergence_members(d: &Deployment, action: &ReshardAction) -> Vec<cluster::Member> {
    let mut members = crate::bringup::members(d);
    if matches!(action, ReshardAction::Drain { .. }) {
        for m in &mut members {
            m.replica_of = None;
        }
    }
    members
}

/// The distinct sources and targets of a plan, in first-seen order.
pub(crate) fn endpoints(plan: &Plan) -> (Vec<String>, Vec<String>) {
    let mut from: Vec<String> = Vec::new();
    let mut to: Vec<String> = Vec::new();
    for m in &plan.moves {
        if !from.contains(&m.from) {
            from.push(m.from.clone());
        }
        if !to.contains(&m.to) {
            to.push(m.to.clone());
        }
    }
    (from, to)
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
