//! The reshard drill end to end through the real binary: a small scenario on
//! each runtime passes with no lost write, leaves a healthy cluster (by our
//! check and by `redis-cli --cluster check`) with the same number of keys,
//! stores its run folder, and cleans up; an SLO that cannot hold makes the run
//! exit 1 with the figure in the report.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn scenario(dir: &Path, slots: usize, slo: &str) -> std::path::PathBuf {
    let topology = topology("cluster-3x1.yaml");
    let yaml = format!(
        "name: drill-test\n\
         topology: {}\n\
         seed: 7\n\
         workload:\n  clients: 4\n  probe_clients: 1\n  model: {{open: {{rate: 1500}}}}\n  keys: 3000\n  value_size: 32\n  mix: {{get: 50, set: 50}}\n\
         baseline_ms: 500\n\
         settle_ms: 500\n\
         reshard:\n  from: s1n1\n  to: s2n1\n  slots: {slots}\n\
         slo:\n{slo}",
        topology.display()
    );
    write_topology(dir, "drill.yaml", &yaml)
}

fn read_report(out: &Path) -> Value {
    let path = out.join("drill-test/latest/report.json");
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

fn drill_passes(env: &Env) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let file = scenario(
        dir.path(),
        400,
        "  max_lost_writes: 0\n  max_app_failed_ops: 0\n",
    );
    let o = env.run(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--keep",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let run_id = run_id_in(&stderr).expect("run id");
    let name = format!("drill-test-{run_id}");
    let _guard = Up {
        env,
        name: name.clone(),
    };
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("## drill-test — PASS"), "{stdout}");

    let r = read_report(&out);
    assert_eq!(r["format_version"], 1);
    assert_eq!(r["seed"], 7);
    assert_eq!(r["verdict"], "pass");
    assert_eq!(r["environment"]["runtime"], env.runtime);
    assert_eq!(r["reshard"]["slots_moved"], 400);
    assert!(r["reshard"]["keys_moved"].as_u64().unwrap() > 0);
    assert!(r["reshard"]["bytes_moved"].as_u64().unwrap() > 0);
    assert_eq!(r["checks"]["lost_writes"], 0);
    assert!(
        r["checks"]["acknowledged_writes"].as_u64().unwrap() > 100,
        "{}",
        r["checks"]
    );
    assert_eq!(r["checks"]["keys_before"], r["checks"]["keys_after"]);
    assert_eq!(r["checks"]["cluster_check_ok"], true);
    assert!(r["workload"]["ops_ok"].as_u64().unwrap() > 500);
    assert!(r["workload"]["probe"]["ops_ok"].as_u64().unwrap() > 50);
    for phase in ["baseline", "during", "after"] {
        assert!(
            r["workload"]["latency_ms"][phase]["count"]
                .as_u64()
                .unwrap()
                > 0,
            "no ops in {phase}"
        );
    }
    assert!(r["convergence_ms"].as_f64().unwrap() >= 0.0);
    let names: Vec<&str> = r["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["baseline", "during", "recovery", "after"]);
    for f in ["report.json", "report.md", "report.xml", "history.jsonl"] {
        assert!(
            out.join("drill-test/latest").join(f).is_file(),
            "{f} missing"
        );
    }
    // `report` re-renders the stored JSON.
    let md = env.run(&[
        "report",
        out.join("drill-test/latest/report.json").to_str().unwrap(),
        "--format",
        "md",
    ]);
    assert!(String::from_utf8_lossy(&md.stdout).contains("| lost writes | 0 of"));

    // The cluster it left (--keep) is healthy by both checks, slots moved.
    let status = env.json(&["status", "--name", &name, "--json"]);
    let node = |n: &str| {
        status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(node("s1n1")["slots"], 5461 - 400);
    assert_eq!(node("s2n1")["slots"], 5462 + 400);
    let ours = env.json(&["check", "--name", &name, "--json"]);
    assert_eq!(ours["ok"], true);
    let cli = if env.runtime == "docker" {
        env.run(&[
            "exec",
            "s1n1",
            "--name",
            &name,
            "--",
            "redis-cli",
            "--cluster",
            "check",
            "127.0.0.1:6379",
        ])
    } else {
        std::process::Command::new("redis-cli")
            .args([
                "--cluster",
                "check",
                node("s1n1")["address"].as_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let text = String::from_utf8_lossy(&cli.stdout);
    assert!(
        cli.status.success()
            && text.contains("[OK] All 16384 slots covered.")
            && !text.contains("[WARNING]"),
        "{text}"
    );
    let removed = env.json(&["down", "--name", &name, "--json"]);
    let what = if env.runtime == "docker" {
        "containers"
    } else {
        "processes"
    };
    assert_eq!(removed[what], 6, "{removed}");
    assert_nothing_left(env, &run_id);
}

crate::on_both_runtimes!(
    process_reshard_drill_passes_with_no_lost_writes,
    docker_reshard_drill_passes_with_no_lost_writes,
    drill_passes
);

#[test]
fn a_failing_slo_exits_1_and_the_drill_still_cleans_up() {
    let env = Env::new("process");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    // No reshard of 100 slots under load takes 0 ms: this SLO cannot hold.
    let file = scenario(
        dir.path(),
        100,
        "  max_lost_writes: 0\n  max_reshard_ms: 0\n",
    );
    let o = env.run(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r: Value = serde_json::from_slice(&o.stdout).expect("--json prints the report");
    assert_eq!(r["verdict"], "fail");
    let slo = r["slo"].as_array().unwrap();
    let failed: Vec<&Value> = slo.iter().filter(|s| s["pass"] == false).collect();
    assert_eq!(failed.len(), 1, "{slo:?}");
    assert_eq!(failed[0]["name"], "max_reshard_ms");
    assert!(failed[0]["value"].as_f64().unwrap() > 0.0);
    assert_eq!(read_report(&out)["verdict"], "fail");
    let stderr = String::from_utf8_lossy(&o.stderr);
    let run_id = run_id_in(&stderr).expect("run id");
    assert_nothing_left(&env, &run_id);
}

#[test]
fn a_bad_scenario_is_bad_input() {
    let env = Env::new("process");
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), 100, "  max_lost_write: 0\n");
    let o = env.run(&["run", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("drill.yaml:18:3: slo.max_lost_write: unknown field")
    );
}

#[test]
fn reshard_command_moves_rebalances_and_refuses_a_bad_plan() {
    let env = Env::new("process");
    let name = unique_name("rs");
    let _guard = Up {
        env: &env,
        name: name.clone(),
    };
    let t = topology("cluster-3x1.yaml");
    env.json(&["up", t.to_str().unwrap(), "--name", &name, "--json"]);
    let slots = |status: &Value, n: &str| {
        status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == n)
            .unwrap()["slots"]
            .as_i64()
            .unwrap()
    };

    let moved = env.json(&[
        "reshard", "--name", &name, "--from", "s1n1", "--to", "s3n1", "--slots", "1000", "--json",
    ]);
    assert_eq!(moved["slots_moved"], 1000);
    let status = env.json(&["status", "--name", &name, "--json"]);
    assert_eq!(slots(&status, "s1n1"), 5461 - 1000);
    assert_eq!(slots(&status, "s3n1"), 5461 + 1000);

    env.json(&["reshard", "--name", &name, "--rebalance", "--json"]);
    let status = env.json(&["status", "--name", &name, "--json"]);
    let ideal = 16384.0 / 3.0;
    for p in ["s1n1", "s2n1", "s3n1"] {
        let n = slots(&status, p) as f64;
        assert!(
            (n - ideal).abs() / ideal <= 0.02,
            "{p} has {n} slots after a rebalance"
        );
    }
    assert_eq!(env.json(&["check", "--name", &name, "--json"])["ok"], true);

    // A replica owns no slots to move: bad input, and nothing changes.
    let bad = env.run(&[
        "reshard", "--name", &name, "--from", "s1n2", "--to", "s2n1", "--slots", "10",
    ]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert_eq!(env.json(&["check", "--name", &name, "--json"])["ok"], true);
}

#[test]
fn a_drill_on_a_running_topology_leaves_it_up() {
    let env = Env::new("process");
    let name = unique_name("reuse");
    let _guard = Up {
        env: &env,
        name: name.clone(),
    };
    let t = topology("cluster-3x1.yaml");
    env.json(&["up", t.to_str().unwrap(), "--name", &name, "--json"]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let file = scenario(dir.path(), 300, "  max_lost_writes: 0\n");
    let o = env.run(&[
        "run",
        file.to_str().unwrap(),
        "--name",
        &name,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(read_report(&out)["checks"]["lost_writes"], 0);
    // Still up, with the slots where the drill put them.
    let status = env.json(&["status", "--name", &name, "--json"]);
    assert_eq!(node(&status, "s1n1")["slots"], 5461 - 300);
    assert_eq!(node(&status, "s2n1")["slots"], 5462 + 300);
    assert_eq!(env.json(&["check", "--name", &name, "--json"])["ok"], true);
}
