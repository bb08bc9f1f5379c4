//! The reshard drill end to end through the real binary: a small scenario on
//! each runtime passes with no lost write, moves exactly the keys of the
//! slots it moved, leaves a healthy cluster (by our check and by `redis-cli
//! --cluster check`) with the same number of keys, stores its run folder,
//! and cleans up. Every SLO in the table is seen failing end to end: one real
//! drill is stored, and for each SLO a copy of the run with that SLO's limit
//! under the measured figure is checked again by `redis-drill check-run`,
//! which must exit 1 with that SLO `fail` and its figure the report's own
//! (or, for a figure a reshard drill does not measure, the result the code
//! gives a figure not measured). A stored run checks again to a
//! byte-identical report.json.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use redis_drill::exit;
use redis_drill::report::{Bound, Report, Verdict};
use redis_drill::scenarios::check::slo::SLOS;
use redis_drill::slots::key_slot;
use redis_drill::workload::WorkloadSpec;
use serde_json::Value;

/// The scenario's key space and value size (the workload only writes keys
/// it loaded, so every one of them is in the cluster during the move).
const KEYS: u64 = 3000;
const VALUE_SIZE: u64 = 32;

fn scenario(env: &Env, slots: usize, slo: &str) -> PathBuf {
    let yaml = format!(
        "name: drill-test\n\
         topology: {}\n\
         seed: 7\n\
         workload:\n  clients: 4\n  probe_clients: 1\n  model: {{open: {{rate: 1500}}}}\n  keys: {KEYS}\n  value_size: {VALUE_SIZE}\n  mix: {{get: 50, set: 50}}\n\
         baseline_ms: 500\n\
         settle_ms: 500\n\
         reshard:\n  from: s1n1\n  to: s2n1\n  slots: {slots}\n\
         slo:\n{slo}",
        topology("cluster-3x1.yaml").display()
    );
    env.write("drill.yaml", &yaml)
}

/// The workload's keys that hash to slots `0..slots` (the slots a move of
/// `slots` from s1n1, which serves 0–5460, takes first).
fn keys_in_first_slots(slots: u16) -> u64 {
    let spec = WorkloadSpec {
        keys: KEYS,
        ..WorkloadSpec::default()
    };
    spec.all_keys()
        .iter()
        .filter(|k| key_slot(k.as_bytes()) < slots)
        .count() as u64
}

fn drill_passes(env: &Env) {
    let file = scenario(env, 400, "  max_lost_keys: 0\n  max_app_failed_ops: 0\n");
    let mut d = env.drill(&file, &["--keep"]);
    d.assert_code(exit::SUCCESS);
    assert!(d.stdout.contains("## drill-test — PASS"), "{}", d.stdout);

    let r = d.report();
    assert_eq!(r.format_version, redis_drill::report::FORMAT_VERSION);
    assert_eq!(r.seed, 7);
    assert_eq!(r.verdict, Verdict::Pass);
    assert_eq!(r.environment.runtime, env.runtime);
    let reshard = r.reshard.as_ref().expect("a reshard summary");
    assert_eq!(reshard.slots_moved, 400);
    // Exactly the keys of the slots moved, each at least its value's size.
    assert_eq!(reshard.keys_moved, keys_in_first_slots(400), "{reshard:?}");
    assert!(
        reshard.bytes_moved >= reshard.keys_moved * VALUE_SIZE,
        "{reshard:?}"
    );
    assert!(reshard.duration_ms > 0.0, "{reshard:?}");
    let c = &r.checks;
    assert_eq!(c.lost_writes, 0, "{c:?}");
    assert_eq!(c.lost_acknowledged_writes, 0, "{c:?}");
    assert_eq!(c.keys_checked, KEYS, "{c:?}");
    assert!(c.acknowledged_writes > 100, "{c:?}");
    assert_eq!((c.keys_before, c.keys_after), (KEYS, KEYS), "{c:?}");
    assert!(c.cluster_check_ok, "{c:?}");
    assert_eq!(c.stray_keys, 0);
    let w = &r.workload;
    assert!(w.app.ops_ok > 500, "{}", w.app.ops_ok);
    assert_eq!(w.app.ops_failed, 0);
    assert!(w.probe.ops_ok > 50, "{}", w.probe.ops_ok);
    for phase in ["baseline", "during", "after"] {
        let n = w.app.latency_ms.get(phase).map_or(0, |l| l.count);
        assert!(n > 0, "no ops in {phase}");
    }
    // The self-check ran (whether the schedule was kept is asserted in
    // tests/honest_latency.rs, which has the machine to itself; two drills
    // side by side here may rightly find it was not), and agrees with the
    // figure it read, phase by phase.
    let check = &w.self_check;
    assert_eq!(check.max_tool_lag_ms, 1.0, "{check:?}");
    for (phase, lag) in &w.app.tool_lag_ms {
        let p = &check.phases[phase];
        assert_eq!(p.tool_lag_p99_ms, lag.p99, "{phase}: {check:?}");
        assert_eq!(p.ok, lag.count == 0 || lag.p99 <= 1.0, "{phase}: {check:?}");
    }
    assert_eq!(w.engine.model, "open");
    // The server-side reference: every primary PINGed in the baseline.
    let reference = r.reference.as_ref().expect("the reference");
    assert_eq!(reference.ping_ms["baseline"].len(), 3, "{reference:?}");
    // Convergence is timed from the reshard's end to the `converged` event:
    // the figure and the timeline agree.
    let event_at = |kind: &str| {
        r.events
            .iter()
            .find(|e| e.kind == kind)
            .map(|e| e.at_ms)
            .unwrap_or_else(|| panic!("no {kind} event: {:?}", r.events))
    };
    let convergence = r.convergence_ms.expect("convergence measured");
    let between = event_at("converged") - event_at("reshard-end");
    assert!(
        convergence > 0.0 && (convergence - between).abs() < 0.5,
        "convergence {convergence} ms, events {between} ms apart"
    );
    assert_eq!(phase_names(r), ["baseline", "during", "recovery", "after"]);
    let run = d.run_dir();
    for f in [
        "report.json",
        "report.md",
        "report.xml",
        "record.json",
        "history.jsonl",
        "pings.jsonl",
        "watch.json",
        "keys.jsonl",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    // `report` re-renders the stored JSON.
    let md = env.run(&[
        "report",
        run.join("report.json").to_str().unwrap(),
        "--format",
        "md",
    ]);
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.contains("| lost writes | 0 of"), "{md}");

    // The cluster it left (--keep) is healthy by both checks, slots moved.
    let up = d.kept.take().expect("--keep left the topology up");
    let status = up.status();
    assert_eq!(node(&status, "s1n1").slots, 5461 - 400);
    assert_eq!(node(&status, "s2n1").slots, 5462 + 400);
    assert!(up.check().ok);
    assert_redis_cli_check_clean(&up, &status, "s1n1");
    let removed = up.down();
    // Docker: the 6 nodes and the container whose network namespace the
    // workload's clients used.
    if env.runtime == "docker" {
        assert_eq!(removed.containers, 7, "{removed:?}");
    } else {
        assert_eq!(removed.processes, 6, "{removed:?}");
    }
}

crate::on_both_runtimes!(
    process_reshard_drill_passes_with_no_lost_writes,
    docker_reshard_drill_passes_with_no_lost_writes,
    drill_passes
);

/// The figure each SLO must read, from the typed report: the test's own
/// map from names to figures, so that the tool's map is checked against it.
/// `None`: a reshard drill does not measure it. An SLO missing here fails
/// the test: every SLO is to be seen failing.
fn figure_in(r: &Report, name: &str) -> Option<f64> {
    let c = &r.checks;
    let w = &r.workload;
    // The latency 99 % of the phase's ops were answered within.
    let p99 = |phase: &str| {
        let l = &w.app.latency_ms[phase];
        assert!(l.count > 0, "no app op succeeded in {phase}");
        Some(w.app.p99_answered_ms[phase])
    };
    match name {
        "max_lost_keys" => Some(c.lost_writes as f64),
        "max_lost_acknowledged_writes" => Some(c.lost_acknowledged_writes as f64),
        "max_app_error_ratio" => {
            let all = w.app.ops_ok + w.app.ops_failed + w.app.ops_indeterminate;
            Some((w.app.ops_failed + w.app.ops_indeterminate) as f64 / all as f64)
        }
        "max_stray_keys" => Some(c.stray_keys as f64),
        "max_keys_missing" => Some(c.keys_before.saturating_sub(c.keys_after) as f64),
        "max_app_failed_ops" => Some(w.app.ops_failed as f64),
        "max_app_indeterminate_ops" => Some(w.app.ops_indeterminate as f64),
        "max_probe_failed_ops" => Some(w.probe.ops_failed as f64),
        "max_app_downtime_ms" => Some(r.downtime_ms.max),
        "max_app_write_downtime_ms" => Some(r.downtime_ms.write_max),
        "max_probe_downtime_ms" => Some(r.downtime_ms.probe_max),
        "max_downtime_windows" => Some(f64::from(r.downtime_ms.windows)),
        "max_p99_baseline_ms" => p99("baseline"),
        "max_p99_during_ms" => p99("during"),
        "max_p99_after_ms" => p99("after"),
        "max_convergence_ms" => Some(r.convergence_ms.expect("convergence measured")),
        "max_reshard_ms" => Some(r.reshard.as_ref().expect("a reshard").duration_ms),
        "max_keys_overwritten" => {
            Some(r.reshard.as_ref().expect("a reshard").keys_overwritten as f64)
        }
        // No fault in a reshard drill: no failover, no rejoin.
        "max_failover_ms" | "max_promotion_ms" | "max_rejoin_ms" => None,
        // Nor Sentinels (a cluster has none).
        "max_sentinel_failover_ms" => None,
        // Nor a replication probe (and a cluster of no links).
        "max_replication_lag_p99_ms"
        | "max_unreplicated_writes"
        | "max_replication_floor_violations"
        | "max_full_resyncs" => None,
        // Nor a stampede workload.
        "max_stampede_violations"
        | "max_failover_recomputes"
        | "max_superseded_serves"
        | "max_failed_reads"
        | "max_unserved_ms"
        | "max_warm_ms"
        | "max_stampede_serve_p99_ms"
        | "max_stale_serve_ms" => None,
        // Nor an invalidation workload.
        "max_stale_after_invalidation"
        | "max_lost_invalidations"
        | "max_stale_lifetime_ms"
        | "max_invalidation_p99_ms"
        | "max_mixed_group_reads"
        | "max_stale_local_copies" => None,
        // Nor a lock workload: no lock figure.
        "max_lock_violations"
        | "max_stale_writes_accepted"
        | "max_acquire_p99_ms"
        | "min_grants_per_s"
        | "max_lost_updates"
        | "min_atomic_speedup" => None,
        // Nor counters, transactions or TTLs in its mix.
        "max_counter_violations"
        | "max_lost_increments"
        | "max_over_counted_increments"
        | "max_torn_reads"
        | "max_torn_groups"
        | "max_zombie_reads"
        | "max_early_expiries" => None,
        // Nor eviction: no hot keys' miss ratio.
        "max_hot_miss_ratio_rise" => None,
        "max_linearizability_violations" => {
            let l = r
                .linearizability
                .as_ref()
                .expect("a key/value workload ran");
            // Every key decided and read: the figure is exact, not a floor.
            assert_eq!((l.keys_undecided, l.keys_unread), (0, 0), "{l:?}");
            Some(l.violations as f64)
        }
        "max_shard_skew" => r.shards.as_ref().expect("a cluster").skew,
        "max_stale_reads" => Some(c.stale.as_ref().expect("GETs ran").stale_reads as f64),
        "max_staleness_ms" => Some(c.stale.as_ref().expect("GETs ran").staleness_ms.max),
        "max_p99_during_over_baseline" => Some(p99("during")? / p99("baseline")?),
        other => panic!(
            "the SLO `{other}` has no figure in tests/drill.rs `figure_in`: add it, so that it is seen failing end to end"
        ),
    }
}

/// Copy the stored run in `from` to a new folder under `root`, with its
/// record's SLOs replaced by `slo` and, if given, its tool-lag bound.
fn copy_run(
    from: &Path,
    root: &Path,
    slo: &BTreeMap<String, f64>,
    max_tool_lag_ms: Option<f64>,
) -> PathBuf {
    let to = root.join(format!("copy-{}", std::fs::read_dir(root).unwrap().count()));
    std::fs::create_dir(&to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    let path = to.join("record.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(record["slo"].is_object(), "record.json has no SLO map");
    record["slo"] = serde_json::to_value(slo).unwrap();
    if let Some(bound) = max_tool_lag_ms {
        assert!(record["max_tool_lag_ms"].is_f64(), "no tool-lag bound");
        record["max_tool_lag_ms"] = Value::from(bound);
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
    to
}

/// `check-run DIR --json`: its exit code and the report it printed, which
/// must be the report.json it wrote.
fn check_run(env: &Env, dir: &Path) -> (Option<i32>, Report) {
    let o = env.run(&["check-run", dir.to_str().unwrap(), "--json"]);
    let printed: Report = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "check-run printed no report ({e}):\n{}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let written: Report =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        serde_json::to_value(&printed).unwrap(),
        serde_json::to_value(&written).unwrap(),
        "check-run printed one report and wrote another"
    );
    (o.status.code(), printed)
}

/// The exit code of a verdict.
fn code_of(v: Verdict) -> i32 {
    match v {
        Verdict::Pass => exit::SUCCESS,
        Verdict::Fail => exit::CHECK_FAILED,
        Verdict::Unknown => exit::UNKNOWN,
    }
}

#[test]
fn every_slo_fails_end_to_end_and_a_stored_run_checks_again_to_the_same_report() {
    let env = Env::new("process");
    // No reshard of 100 slots under load takes 0 ms: this SLO cannot hold.
    let file = scenario(&env, 100, "  max_lost_keys: 0\n  max_reshard_ms: 0\n");
    let d = env.drill(&file, &["--json"]);
    d.assert_code(exit::CHECK_FAILED);
    let r = d.report();
    let printed: Report = serde_json::from_str(&d.stdout).expect("--json prints the report");
    assert_eq!(
        serde_json::to_value(&printed).unwrap(),
        serde_json::to_value(r).unwrap(),
        "--json printed another report than the one stored"
    );
    assert_eq!(r.verdict, Verdict::Fail);
    let failed: Vec<&str> = r
        .slo
        .iter()
        .filter(|s| s.result == Verdict::Fail)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(failed, ["max_reshard_ms"], "{:?}", r.slo);
    let reshard = slo(r, "max_reshard_ms");
    assert_eq!(reshard.value, figure_in(r, "max_reshard_ms"));
    assert!(reshard.value.unwrap() > 0.0);
    assert_nothing_left(&env, d.run_id());
    // Complete histories and recordings: the figures below are all trusted
    // (an incomplete source would make them `unknown`, rightly).
    let e = &r.workload.engine;
    assert_eq!((e.unrecorded, e.dropped_at_stop), (0, 0), "{e:?}");

    // The linearizability search's time, measured by `run` and kept in the
    // folder (check-run reads it back: the report stays the folder's).
    let took = r.linearizability.as_ref().and_then(|l| l.took_ms);
    assert!(took.is_some_and(|ms| ms > 0.0), "{took:?}");

    // The stored run checks again to the same report, byte for byte, and
    // the same exit code.
    let run = d.run_dir();
    let before = std::fs::read(run.join("report.json")).unwrap();
    let (code, again) = check_run(&env, run);
    assert_eq!(code, Some(exit::CHECK_FAILED));
    assert_eq!(again.verdict, Verdict::Fail);
    assert!(
        std::fs::read(run.join("report.json")).unwrap() == before,
        "check-run changed the report"
    );

    // Every SLO, alone in a copy of the run, its limit under the figure.
    let copies = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for s in SLOS {
        let name = s.name;
        let expected = figure_in(r, name);
        let Some(value) = expected else {
            // Not measured by this drill: `unknown`, with a note that says
            // why; never a pass, never a failure the run did not show.
            let limits = BTreeMap::from([(name.to_string(), 1e9)]);
            let (code, c) = check_run(&env, &copy_run(run, copies.path(), &limits, None));
            let got = slo(&c, name);
            assert_eq!(got.value, None, "{name}: {got:?}");
            assert_eq!(got.result, Verdict::Unknown, "{name}: {got:?}");
            assert!(got.note.is_some(), "{name}: {got:?}");
            assert_eq!(c.verdict, got.result, "{name}");
            assert_eq!(code, Some(code_of(got.result)), "{name}");
            seen.push(format!("{name}: not measured -> {:?}", got.result));
            continue;
        };
        // Just past the figure, on the side its bound forbids.
        let failing = match s.bound {
            Bound::AtMost => value - 1.0,
            Bound::AtLeast => value + 1.0,
        };
        let limits = BTreeMap::from([(name.to_string(), failing)]);
        let distrusted = latency_phase(name).filter(|p| !r.workload.self_check.phases[*p].ok);
        let (code, c) = check_run(&env, &copy_run(run, copies.path(), &limits, None));
        let got = slo(&c, name);
        assert_eq!(got.value, Some(value), "{name}: the figure it read");
        if let Some(phase) = distrusted {
            // The tool fell behind in that phase in this run: its latency is
            // not trusted, so the SLO is unknown, and says why...
            assert_eq!(got.result, Verdict::Unknown, "{name}: {got:?}");
            assert!(got.note.as_deref().unwrap().contains("tool lag"), "{got:?}");
            assert_eq!(code, Some(exit::UNKNOWN), "{name}");
            // ...and with a bound over the lag it was measured with, it fails.
            let lag = r.workload.app.tool_lag_ms[phase].p99;
            let (code, c) = check_run(
                &env,
                &copy_run(run, copies.path(), &limits, Some(lag + 1.0)),
            );
            let got = slo(&c, name);
            assert_eq!(got.value, Some(value), "{name}");
            assert_eq!(got.result, Verdict::Fail, "{name}: {got:?}");
            assert_eq!(code, Some(exit::CHECK_FAILED), "{name}");
            seen.push(format!(
                "{name}: {value} > {} -> unknown (tool lag {lag} ms), fail with the bound over it",
                value - 1.0
            ));
        } else {
            assert_eq!(got.result, Verdict::Fail, "{name}: {got:?}");
            assert_eq!(c.verdict, Verdict::Fail, "{name}");
            assert_eq!(code, Some(exit::CHECK_FAILED), "{name}");
            seen.push(format!("{name}: {value} > {} -> fail", value - 1.0));
        }
        // And at its figure, it holds.
        let at = BTreeMap::from([(name.to_string(), value)]);
        let bound = distrusted.map(|p| r.workload.app.tool_lag_ms[p].p99 + 1.0);
        let (code, c) = check_run(&env, &copy_run(run, copies.path(), &at, bound));
        assert_eq!(slo(&c, name).result, Verdict::Pass, "{name}");
        assert_eq!(code, Some(exit::SUCCESS), "{name}");
    }
    eprintln!("{}", seen.join("\n"));
    assert_eq!(seen.len(), SLOS.len());

    // A key whose stored final value no write explains is a lost write,
    // failing `max_lost_keys`.
    let keys = std::fs::read_to_string(run.join("keys.jsonl")).unwrap();
    let mut lines: Vec<Value> = keys
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines[0]["final"] = Value::from("no write wrote this");
    let tampered: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(run.join("keys.jsonl"), tampered).unwrap();
    let (code, c) = check_run(&env, run);
    assert_eq!(code, Some(exit::CHECK_FAILED));
    assert_eq!(c.checks.lost_writes, 1, "{:?}", c.checks);
    let lost = slo(&c, "max_lost_keys");
    assert_eq!(
        (lost.value, lost.result),
        (Some(1.0), Verdict::Fail),
        "{lost:?}"
    );

    // Not a run folder: bad input, naming it.
    let o = env.run(&["check-run", run.parent().unwrap().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(exit::BAD_INPUT));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a stored run"));
}

#[test]
fn a_bad_scenario_is_bad_input() {
    let env = Env::new("process");
    let file = scenario(&env, 100, "  max_lost_write: 0\n");
    let o = env.run(&["run", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(exit::BAD_INPUT));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("drill.yaml:18:3: slo.max_lost_write: unknown SLO `max_lost_write`"),
        "{err}"
    );
}

/// What `reshard --json` prints that these tests read.
#[derive(Debug, serde::Deserialize)]
struct Moved {
    slots_moved: usize,
    convergence_ms: f64,
}

#[test]
fn reshard_command_moves_rebalances_and_refuses_a_bad_plan() {
    let env = Env::new("process");
    let up = env.up(&topology("cluster-3x1.yaml"), "rs");
    let slots = |n: &str| node(&up.status(), n).slots;

    let moved: Moved = up.json(&[
        "reshard", "--from", "s1n1", "--to", "s3n1", "--slots", "1000",
    ]);
    assert_eq!(moved.slots_moved, 1000);
    assert!(moved.convergence_ms > 0.0, "{moved:?}");
    assert_eq!(slots("s1n1"), 5461 - 1000);
    assert_eq!(slots("s3n1"), 5461 + 1000);

    let _: Value = up.json(&["reshard", "--rebalance"]);
    let status = up.status();
    let ideal = 16384.0 / 3.0;
    for p in ["s1n1", "s2n1", "s3n1"] {
        let n = node(&status, p).slots as f64;
        assert!(
            (n - ideal).abs() / ideal <= 0.02,
            "{p} has {n} slots after a rebalance"
        );
    }
    assert_eq!(status.nodes.iter().map(|n| n.slots).sum::<usize>(), 16384);
    assert!(up.check().ok);

    // A replica owns no slots to move: bad input, and nothing changes.
    let bad = up.run(&["reshard", "--from", "s1n2", "--to", "s2n1", "--slots", "10"]);
    assert_eq!(
        bad.status.code(),
        Some(exit::BAD_INPUT),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(up.check().ok);
    let after = up.status();
    for n in &status.nodes {
        assert_eq!(node(&after, &n.name).slots, n.slots, "{}", n.name);
    }
}

#[test]
fn a_drill_on_a_running_topology_leaves_it_up() {
    let env = Env::new("process");
    let up = env.up(&topology("cluster-3x1.yaml"), "reuse");
    let file = scenario(&env, 300, "  max_lost_keys: 0\n");
    let d = env.drill(&file, &["--name", &up.name]);
    d.assert_code(exit::SUCCESS);
    let r = d.report();
    assert_eq!(r.checks.lost_writes, 0);
    assert_eq!(
        r.topology.run_id, up.run_id,
        "the drill ran on our topology"
    );
    // Still up, with the slots where the drill put them.
    let status = up.status();
    assert_eq!(node(&status, "s1n1").slots, 5461 - 300);
    assert_eq!(node(&status, "s2n1").slots, 5462 + 300);
    assert!(up.check().ok);
    up.down();
}

/// A key the reshard finds on both nodes with different values (here a
/// stray copy planted on the target, as a fault can leave one) does not
/// stop the drill without a report: the source's value replaces the
/// target's, as `redis-cli --cluster fix --cluster-replace` does, the report
/// names the key with both values, and `max_keys_overwritten` fails.
#[test]
fn a_key_with_two_values_is_overwritten_and_reported() {
    let env = Env::new("process");
    let up = env.up(&topology("cluster-3x1.yaml"), "twoval");
    let spec = WorkloadSpec {
        keys: KEYS,
        ..WorkloadSpec::default()
    };
    let key = spec
        .all_keys()
        .into_iter()
        .find(|k| key_slot(k.as_bytes()) < 300)
        .expect("a workload key in the slots the drill moves");
    let slot = key_slot(key.as_bytes());
    let status = up.status();
    let source = redis::Client::open(format!("redis://{}", address(&status, "s1n1"))).unwrap();
    let s1_id: String = redis::cmd("CLUSTER")
        .arg("MYID")
        .query(&mut source.get_connection().unwrap())
        .unwrap();
    let target = redis::Client::open(format!("redis://{}", address(&status, "s2n1"))).unwrap();
    let mut t = target.get_connection().unwrap();
    // Written while the slot was open there (ASKING), then the slot closed:
    // s2n1 holds a copy of a key of a slot it does not serve.
    let () = redis::pipe()
        .cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("IMPORTING")
        .arg(&s1_id)
        .ignore()
        .cmd("ASKING")
        .ignore()
        .cmd("SET")
        .arg(&key)
        .arg("planted")
        .ignore()
        .cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("STABLE")
        .ignore()
        .query(&mut t)
        .unwrap();
    let file = scenario(&env, 300, "  max_keys_overwritten: 0\n  max_lost_keys: 0\n");
    let d = env.drill(&file, &["--name", &up.name]);
    d.assert_code(exit::CHECK_FAILED);
    let r = d.report();
    let rs = r.reshard.as_ref().expect("a reshard section");
    assert_eq!(rs.keys_overwritten, 1, "{rs:?}");
    let k = &rs.overwritten[0];
    assert_eq!((k.key.as_str(), k.slot), (key.as_str(), slot), "{k:?}");
    assert_eq!((k.from.as_str(), k.to.as_str()), ("s1n1", "s2n1"), "{k:?}");
    assert_eq!(k.overwritten, "planted", "{k:?}");
    assert_ne!(k.kept, "planted", "{k:?}");
    let slo = |name: &str| r.slo.iter().find(|s| s.name == name).expect(name);
    assert_eq!(slo("max_keys_overwritten").result, Verdict::Fail);
    assert_eq!(slo("max_keys_overwritten").value, Some(1.0));
    // The planted value was never acknowledged to a client: no write is lost.
    assert_eq!(slo("max_lost_keys").result, Verdict::Pass);
    assert!(
        d.stdout.contains("| keys with two values | 1 found"),
        "{}",
        d.stdout
    );
    // The table of keys with two values names the node that lost its value.
    assert!(d.stdout.contains("| s2n1: \"planted\" |"), "{}", d.stdout);
    // The move finished: s2n1 serves the slot, with the source's value.
    assert_eq!(node(&up.status(), "s2n1").slots, 5462 + 300);
    assert!(up.check().ok);
    up.down();
}
