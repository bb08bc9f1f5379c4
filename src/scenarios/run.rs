//! Running a scenario: the interpreter of its [`plan`](super::plan). Each
//! step is one stage (`stages`); the steps emit typed events that the run's
//! timeline and the terminal subscribe to (`events`). The run is recorded
//! first — everything its verdict is computed from, in its folder — then
//! checked by pure code (`check`), then reported. The topology is brought up
//! and taken down by the caller, so that teardown happens on every exit
//! path; the faults are undone here, on every path, before returning.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::report::{self, Report, RunDir};
use crate::runtime::{Deployment, Runtime};

use super::Scenario;
use super::check;
pub use super::error::DrillError;
use super::events::{Bus, DrillEvent, Terminal, Timeline, TimelineRecorder};
use super::hold::hold;
use super::plan::{self as drill_plan, Step};
use super::stages::{self, Acted, EndState, Recorders, Recordings, Setup};

/// What a finished run produced.
pub struct Finished {
    pub report: Report,
    pub dir: RunDir,
}

/// Run `scenario` against the deployment `d` (already up), store the run under
/// `out`, and return the report. A violated invariant is in the report's
/// verdict, never an error; errors are for runs that could not be carried out.
/// Whatever the faults left in force is undone before this returns, on every
/// path (cancellation included).
pub async fn execute(
    scenario: &Scenario,
    rt: &Runtime,
    d: &Deployment,
    seed: u64,
    out: &Path,
    quiet: bool,
    cancel: &CancellationToken,
) -> Result<Finished, DrillError> {
    let started_at = std::time::SystemTime::now();
    let dir = RunDir::create(out, &scenario.name, started_at).map_err(|source| DrillError::Io {
        context: format!("creating a run folder under {}", out.display()),
        source,
    })?;
    let timeline = Arc::new(Mutex::new(Timeline::default()));
    let bus = Bus::new(vec![
        Box::new(TimelineRecorder(timeline.clone())),
        Box::new(Terminal::new(quiet)),
    ]);
    // On a deployment the tool did not start: refuse before anything runs
    // what cannot be done there, or would touch keys that are not the drill's.
    let preflight = if d.attached.is_some() {
        stages::attached::preflight(scenario, d).await?
    } else {
        Vec::new()
    };
    // Each link's round trip, measured on the idle topology before anything
    // else runs, so the report can say whether the network is the declared one.
    let links = rt.measure_links(d, cancel).await;
    let steps = drill_plan::plan(scenario);
    tracing::debug!(steps = ?steps.iter().map(Step::to_string).collect::<Vec<_>>(), "the plan");
    let mut drill = Drill::new(scenario, rt, d.clone(), seed, bus.clone(), cancel);
    let mut failed = None;
    for step in &steps {
        if failed.is_some() && !step.runs_after_failure() {
            continue;
        }
        if let Err(e) = drill.step(step).await {
            failed.get_or_insert(e);
        }
    }
    // Every key the drill wrote on someone's deployment goes, whatever happened.
    let cleanup = match d.attached {
        Some(_) => Some(stages::attached::cleanup(scenario, &drill.d).await),
        None => None,
    };
    if let Some(e) = failed {
        return Err(e);
    }
    let loaded = drill.setup.as_ref().map_or(0, |s| s.loaded_keys());
    let timeline = std::mem::take(&mut *timeline.lock().unwrap_or_else(PoisonError::into_inner));
    let mut stored = drill.into_run(started_at, timeline)?.store();
    stored.record.links = links;
    if let Some(cleanup) = cleanup {
        stored.record.attached = stages::attached::record(
            scenario,
            d,
            preflight,
            loaded as u64,
            &stored.record.faults,
            &stored.record.events,
            cleanup,
        );
    }
    stored.write(&dir.path).map_err(|e| DrillError::Io {
        context: format!("storing the run in {}", dir.path.display()),
        source: std::io::Error::other(e),
    })?;
    let mut report = check::check(&stored);
    report::save_check_time(&dir, &mut report).map_err(|source| DrillError::Io {
        context: format!("writing the check's time into {}", dir.path.display()),
        source,
    })?;
    say_outcome(&report, &bus);
    report::write_run(&dir, &report).map_err(|source| DrillError::Io {
        context: format!("writing the report into {}", dir.path.display()),
        source,
    })?;
    Ok(Finished { report, dir })
}

/// The interpreter's state: what each step leaves for the next ones.
struct Drill<'a> {
    scenario: &'a Scenario,
    rt: &'a Runtime,
    /// The deployment drilled; `AddPrimary` grows it.
    d: Deployment,
    seed: u64,
    bus: Bus,
    cancel: &'a CancellationToken,
    setup: Option<Setup>,
    recorders: Option<Recorders>,
    acted: Option<Acted>,
    /// When `recovery` (or, without it, `during`) ended: `after` starts here.
    settled_at: Option<Instant>,
    convergence_ms: Option<f64>,
    recordings: Option<Recordings>,
    end: Option<EndState>,
}

impl<'a> Drill<'a> {
    fn new(
        scenario: &'a Scenario,
        rt: &'a Runtime,
        d: Deployment,
        seed: u64,
        bus: Bus,
        cancel: &'a CancellationToken,
    ) -> Drill<'a> {
        Drill {
            scenario,
            rt,
            d,
            seed,
            bus,
            cancel,
            setup: None,
            recorders: None,
            acted: None,
            settled_at: None,
            convergence_ms: None,
            recordings: None,
            end: None,
        }
    }

    /// Carry out one step.
    async fn step(&mut self, step: &Step) -> Result<(), DrillError> {
        let (scenario, cancel) = (self.scenario, self.cancel);
        match step {
            Step::AddPrimary => {
                self.d = stages::add_primary(self.rt, &self.d, &self.bus, cancel).await?;
            }
            Step::Prepare => {
                let setup =
                    Setup::prepare(scenario, self.rt, &self.d, self.seed, &self.bus, cancel);
                self.setup = Some(setup.await?);
            }
            Step::Record => {
                let setup = self.setup.as_ref().expect("Prepare runs before Record");
                let locks = scenario.locks.as_ref();
                let rec = Recorders::start(
                    &scenario.workload,
                    scenario.kv,
                    locks,
                    scenario.replication_probe.as_ref(),
                    scenario.stampede.as_ref(),
                    scenario.invalidation.as_ref(),
                    setup,
                    self.seed,
                    cancel,
                )
                .await?;
                self.bus.set_clock(rec.clock);
                self.bus.emit(DrillEvent::Recording {
                    workload: stages::workload_line(
                        &scenario.workload,
                        scenario.kv,
                        locks,
                        scenario.stampede.as_ref(),
                        scenario.invalidation.as_ref(),
                    ),
                });
                self.recorders = Some(rec);
            }
            Step::Hold { phase, ms } => {
                let rec = self.recorders.as_mut().expect("Record runs before a hold");
                let start_ns = self.settled_at.map_or(0, |at| rec.clock.ns(at));
                hold(Duration::from_millis(*ms), cancel).await?;
                let end_ns = rec.clock.now_ns();
                rec.close_phase(&self.bus, phase, start_ns, end_ns).await;
            }
            Step::Act => {
                let setup = self.setup.as_ref().expect("Prepare runs before Act");
                let rec = self.recorders.as_mut().expect("Record runs before Act");
                let (clock, bus) = (rec.clock, &self.bus);
                let (locks, watch) = (rec.lock_control(), rec.watch_follow());
                let mut acted = stages::act(
                    scenario, self.rt, &self.d, setup, clock, self.seed, locks, watch, bus, cancel,
                )
                .await?;
                // A rolling upgrade's nodes are the ones read from now on.
                if let Some(d) = acted.deployment.take() {
                    let setup = self.setup.as_mut().expect("Prepare runs before Act");
                    setup.map = setup.map.remade(&crate::bringup::members(&d))?;
                    self.d = d;
                }
                let (from, to) = (clock.ns(acted.started), clock.ns(acted.ended));
                rec.close_phase(bus, "during", from, to).await;
                self.settled_at = Some(acted.ended);
                self.acted = Some(acted);
            }
            Step::Converge { timeout_ms } => {
                let acted = self.acted.as_ref().expect("Act runs before Converge");
                let rec = self
                    .recorders
                    .as_mut()
                    .expect("Record runs before Converge");
                let timeout = Duration::from_millis(*timeout_ms);
                let (ms, at) =
                    stages::converge(scenario, &self.d, acted, timeout, &self.bus, cancel).await?;
                let (from, to) = (rec.clock.ns(acted.ended), rec.clock.ns(at));
                rec.close_phase(&self.bus, "recovery", from, to).await;
                self.convergence_ms = Some(ms);
                self.settled_at = Some(at);
            }
            Step::Stop => {
                if let Some(rec) = self.recorders.take() {
                    let recordings = rec.stop().await;
                    self.bus.emit(DrillEvent::Stopped {
                        ops: recordings.ops(),
                        reads: recordings.stampede_reads(),
                        invalidation: recordings.invalidation_ops(),
                    });
                    self.recordings = Some(recordings);
                }
            }
            Step::ReadEnd => {
                let setup = self.setup.as_ref().expect("Prepare runs before ReadEnd");
                self.end = Some(EndState::read(setup, &self.d).await?);
            }
        }
        Ok(())
    }

    /// The run, once every step is done, as the folder will keep it.
    fn into_run(
        self,
        started_at: std::time::SystemTime,
        timeline: Timeline,
    ) -> Result<stages::Run<'a>, DrillError> {
        let missing = |what: &str| DrillError::Incomplete(what.to_string());
        let recordings = self.recordings.ok_or_else(|| missing("the recording"))?;
        Ok(stages::Run {
            scenario: self.scenario,
            d: self.d,
            seed: self.seed,
            started_at,
            clock: recordings.clock(),
            setup: self.setup.ok_or_else(|| missing("the setup"))?,
            timeline,
            acted: self.acted.ok_or_else(|| missing("the action"))?,
            convergence_ms: self.convergence_ms,
            recordings,
            end: self.end.ok_or_else(|| missing("the end state"))?,
        })
    }
}

/// The failovers and the self-check, in words, once the run is checked.
fn say_outcome(report: &Report, bus: &Bus) {
    for fo in report.faults.iter().flat_map(|f| &f.failover) {
        bus.emit(DrillEvent::Outcome(format!(
            "failover of {}: pfail {} · fail {} · {} promoted {} · state ok {} (spec: {:.0}–{:.0} ms)",
            fo.node,
            opt_ms(fo.pfail_after_ms),
            opt_ms(fo.fail_after_ms),
            fo.promoted.as_deref().unwrap_or("nobody"),
            opt_ms(fo.promoted_after_ms),
            opt_ms(fo.state_ok_after_ms),
            fo.expected_min_ms,
            fo.expected_max_ms
        )));
    }
    if let Some(note) = &report.workload.self_check.note {
        bus.emit(DrillEvent::Outcome(format!("self-check: {note}")));
    }
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.0} ms"))
}
