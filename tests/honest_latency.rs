//! The instrument measures itself. These tests sit in a binary of their own
//! so that nothing else runs beside them (cargo runs test binaries one at a
//! time): a drill's tool-lag figure is only as good as the machine it had.
//!
//! - The reshard drill, on each runtime in turn, has no backlog: in the
//!   phases where only the workload runs (baseline and after) the tool's lag
//!   (due → sent) stays under `max_tool_lag_ms` at p99 — in one of up to
//!   three attempts, see [`ATTEMPTS`]. A workload that falls behind its
//!   schedule never catches up, so its lag is still there after the move
//!   (the old closed-per-client design: 289 ms p99 after). Where the
//!   machine's hypervisor took CPU time away in a quiet phase, that phase's
//!   lag is the hypervisor's as much as the tool's: it holds if it stays
//!   under 5 ms (`STOLEN_LAG_MAX_MS`) and the self-check names the
//!   hypervisor. CI's VM has had 250–470 ms stolen per one-second phase, p99
//!   lag 1.4–2.7 ms; the old backlog was 289 ms, which fails every attempt.
//!   During the move
//!   the machine is saturated and a VM's host may take its cores away, so
//!   that phase is not held to the bound; every report, whatever its lag,
//!   must be consistent with its figures — the self-check, the latency SLO's
//!   result, the verdict and the exit code.
//! - A workload starved on purpose — one op in flight at most, against a
//!   paused primary — cannot keep its schedule: the self-check fails, the
//!   latency SLO is `unknown` with the figure and the reason, the verdict is
//!   `unknown` and the exit code is 4. It never passes.

mod common;

use common::*;
use redis_drill::exit;
use redis_drill::report::Verdict;

/// The tests of this binary run one at a time: each needs the machine.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Attempts per runtime: a VM's host can stall it for milliseconds now and
/// then (seen here: an idle real-time thread woken 2–11 ms late), which a
/// run rightly reports as tool lag and `unknown`. A tool that falls behind
/// by itself — the backlog this test guards against — fails every attempt.
const ATTEMPTS: usize = 3;

/// The phases in which only the workload runs.
const QUIET: [&str; 2] = ["baseline", "after"];

#[test]
fn the_reshard_drill_keeps_its_schedule_on_both_runtimes() {
    let _alone = alone();
    let mut runtimes = vec!["process"];
    if docker_or_skip("the_reshard_drill_keeps_its_schedule_on_both_runtimes") {
        runtimes.push("docker");
    }
    for runtime in runtimes {
        let mut kept = false;
        let mut seen = Vec::new();
        for attempt in 1..=ATTEMPTS {
            let (bound, lags, priority) = schedule_drill(runtime);
            eprintln!(
                "{runtime}, attempt {attempt} ({priority}): tool lag p99 and steal by phase {lags:?}, bound {bound} ms"
            );
            kept = lags
                .iter()
                .filter(|l| QUIET.contains(&l.phase.as_str()))
                .all(|l| l.held(bound));
            seen.push(lags);
            if kept {
                break;
            }
        }
        assert!(
            kept,
            "{runtime}: the tool's lag went over its bound with only the workload running, in every one of {ATTEMPTS} attempts: {seen:?}"
        );
    }
}

/// One phase's tool lag p99 and the CPU time the hypervisor took in it.
#[derive(Debug)]
#[allow(dead_code)] // `Debug` prints them all
struct Lag {
    phase: String,
    p99: f64,
    steal_ms: f64,
}

/// How far past its bound a quiet phase's lag may go when the machine's
/// hypervisor took CPU time away in it: CI's VM, with 250–470 ms stolen per
/// one-second phase, showed p99 lags of 1.4–2.7 ms; a workload that falls
/// behind its schedule shows hundreds (the old backlog: 289 ms p99 after the
/// move). 5 ms is twice the worst the hypervisor was seen to cause, and a
/// fiftieth of the backlog.
const STOLEN_LAG_MAX_MS: f64 = 5.0;

impl Lag {
    /// Under the bound; or, when the hypervisor took time away in the phase,
    /// under [`STOLEN_LAG_MAX_MS`]. Not "the bound plus all the time stolen":
    /// that let a 289 ms backlog pass on a VM that had 300 ms stolen.
    fn held(&self, bound: f64) -> bool {
        self.p99 <= bound || (self.steal_ms > 0.0 && self.p99 <= STOLEN_LAG_MAX_MS.max(bound))
    }
}

/// One reshard drill on `runtime`: the lag bound, the lag p99 by phase and
/// the loops' priority. Whatever the lag, the report must be consistent with it.
fn schedule_drill(runtime: &'static str) -> (f64, Vec<Lag>, String) {
    let env = Env::new(runtime);
    let yaml = format!(
        "name: schedule\n\
         topology: {}\n\
         seed: 11\n\
         workload:\n  clients: 4\n  probe_clients: 1\n  model: {{open: {{rate: 2000}}}}\n  keys: 4000\n  value_size: 64\n\
         baseline_ms: 1000\n\
         settle_ms: 1000\n\
         reshard:\n  from: s1n1\n  to: s2n1\n  slots: 600\n\
         slo:\n  max_lost_keys: 0\n  max_p99_during_ms: 50\n",
        topology("cluster-3x1.yaml").display()
    );
    let file = env.write("schedule.yaml", &yaml);
    let d = env.drill(&file, &[]);
    let r = d.report();
    let w = &r.workload;
    let check = &w.self_check;
    let bound = check.max_tool_lag_ms;
    assert_eq!(bound, 1.0, "the default bound");
    let mut lags = Vec::new();
    for phase in ["baseline", "during", "recovery", "after"] {
        let Some(lag) = w.app.tool_lag_ms.get(phase).filter(|l| l.count > 0) else {
            continue;
        };
        // The self-check agrees with the figure, phase by phase.
        let c = &check.phases[phase];
        assert_eq!(c.tool_lag_p99_ms, lag.p99, "{runtime} {phase}: {check:?}");
        assert_eq!(c.ok, lag.p99 <= bound, "{runtime} {phase}: {check:?}");
        let steal_ms = c.steal_ms.unwrap_or(0.0);
        // A phase over its bound with time stolen in it: the note says so.
        if !c.ok && steal_ms > 0.0 {
            let note = check.note.as_deref().unwrap_or_default();
            assert!(
                note.contains("hypervisor took CPU time away")
                    && note.contains(&format!("{steal_ms:.0} ms in {phase}")),
                "{runtime} {phase}: {check:?}"
            );
        }
        lags.push(Lag {
            phase: phase.to_string(),
            p99: lag.p99,
            steal_ms,
        });
    }
    let kept = lags.iter().all(|l| l.p99 <= bound);
    assert_eq!(check.ok, kept, "{runtime}: {check:?}");
    // The SLO is in `during`: unknown exactly when that phase's lag broke the
    // bound, a pass otherwise (0 ms stays far under 50), never a fail.
    let during_kept = check.phases["during"].ok;
    let slo = slo(r, "max_p99_during_ms");
    let (verdict, code) = if during_kept {
        (Verdict::Pass, exit::SUCCESS)
    } else {
        (Verdict::Unknown, exit::UNKNOWN)
    };
    assert_eq!(slo.result, verdict, "{runtime}: {slo:?}");
    assert_eq!(
        slo.value,
        Some(w.app.latency_ms["during"].p99),
        "{runtime}: {slo:?}"
    );
    assert_eq!(r.verdict, verdict, "{runtime}");
    d.assert_code(code);
    // The three figures are there for every phase, and they add up: latency
    // is service time plus lag, so neither exceeds it.
    for phase in ["baseline", "during", "after"] {
        let lat = w.app.latency_ms[phase].p50;
        let svc = w.app.service_ms[phase].p50;
        assert!(
            svc > 0.0 && svc <= lat,
            "{runtime} {phase}: service {svc} latency {lat}"
        );
    }
    // The clients' path is stated, and on Docker it is inside the run's
    // network (this test runs as root, as CI does).
    let path = r.environment.client_path.as_str();
    match runtime {
        "docker" if root_or_skip("the clients inside the run's network") => {
            assert!(path.starts_with("inside the run's network"), "{path}")
        }
        "docker" => {}
        _ => assert_eq!(path, "host loopback"),
    }
    // Beside the clients, the server-side reference: every primary PINGed in
    // every phase, and the nodes' own figures for GET and SET.
    let reference = r.reference.as_ref().expect("the reference");
    for phase in ["baseline", "during", "after"] {
        let pings = &reference.ping_ms[phase];
        assert_eq!(pings.len(), 3, "{runtime} {phase}: {pings:?}");
        assert!(pings.values().all(|p| p.count > 10), "{pings:?}");
        // Every primary served both commands in every phase (half GETs,
        // half SETs over 4000 keys on three shards: hundreds of each).
        let server = &reference.server[phase];
        assert_eq!(server.len(), 3, "{runtime} {phase}: {server:?}");
        for (node, commands) in server {
            for command in ["get", "set"] {
                assert!(
                    commands.get(command).is_some_and(|c| c.calls > 0),
                    "{runtime} {phase}: {node} counted no {command}: {server:?}"
                );
            }
        }
    }
    assert_nothing_left(&env, d.run_id());
    let priority = w.engine.priority.clone().unwrap_or_else(|| "?".into());
    (bound, lags, priority)
}

#[test]
fn a_starved_workload_is_unknown_never_a_pass() {
    let _alone = alone();
    let env = Env::new("process");
    // One op in flight at most; the primary of slot 0 paused for 1.5 s: ops
    // to it hold the only slot for their whole timeout, and every op due
    // meanwhile waits for it. The latency SLO is generous: were the figure
    // trusted, it would pass.
    let yaml = format!(
        "name: starved\n\
         topology: {}\n\
         seed: 5\n\
         workload:\n  clients: 2\n  probe_clients: 1\n  model: {{open: {{rate: 500}}}}\n  keys: 1000\n  timeout_ms: 200\n  app_retries: 1\n  max_in_flight: 1\n\
         baseline_ms: 500\n\
         settle_ms: 500\n\
         faults:\n  - fault: pause\n    target: primary_of:0\n    at_ms: 0\n    hold_ms: 1500\n\
         slo:\n  max_p99_during_ms: 100000\n",
        topology("cluster-3x1.yaml").display()
    );
    let file = env.write("starved.yaml", &yaml);
    let d = env.drill(&file, &[]);
    d.assert_code(exit::UNKNOWN);
    assert!(d.stdout.contains("## starved — UNKNOWN"), "{}", d.stdout);
    assert!(d.stdout.contains("self-check failed"), "{}", d.stdout);
    let r = d.report();
    assert_eq!(r.verdict, Verdict::Unknown);
    let check = &r.workload.self_check;
    assert!(!check.ok, "{check:?}");
    assert!(!check.phases["during"].ok, "{check:?}");
    assert!(
        check.phases["during"].tool_lag_p99_ms > check.max_tool_lag_ms,
        "{check:?}"
    );
    assert!(
        check
            .note
            .as_deref()
            .unwrap()
            .contains("could not drive the rate"),
        "{check:?}"
    );
    // The wait for room in flight is recorded on its own.
    let waited = &r.workload.app.pool_wait["during"];
    assert!(waited.ops > 0 && waited.max_ms > 0.0, "{waited:?}");
    assert_eq!(r.workload.engine.max_in_flight, 1);
    assert_eq!(r.slo.len(), 1, "{:?}", r.slo);
    let slo = &r.slo[0];
    assert_eq!(slo.name, "max_p99_during_ms");
    assert_eq!(slo.result, Verdict::Unknown, "{slo:?}");
    assert_eq!(
        slo.value,
        Some(r.workload.app.p99_answered_ms["during"]),
        "the figure is still reported: {slo:?}"
    );
    assert!(
        slo.note.as_deref().unwrap().contains("tool lag p99"),
        "{slo:?}"
    );
    assert_nothing_left(&env, d.run_id());
}
