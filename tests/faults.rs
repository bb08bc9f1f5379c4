//! The fault drills end to end through the real binary, on both runtimes:
//! a killed primary is replaced and the cluster ends healthy (by our check
//! and by `redis-cli --cluster check`); the failover's client-observed
//! downtime lies between 0.5x and 3x a 2000 ms node timeout; an isolated
//! primary loses acknowledged writes and the report counts them; a reshard
//! whose target is killed finishes with no key lost or left behind; a drill
//! interrupted by SIGINT while a partition is in force leaves nothing behind.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// cluster-node-timeout of the test topology (topologies/cluster-3x1-fast.yaml).
const NODE_TIMEOUT_MS: f64 = 2000.0;
/// The scenarios' `workload.timeout_ms`.
const OP_TIMEOUT_MS: f64 = 500.0;

/// A scenario on the fast topology with `faults` (YAML lines under `faults:`).
fn scenario(dir: &Path, name: &str, faults: &str, extra: &str) -> PathBuf {
    let yaml = format!(
        "name: {name}\n\
         topology: {}\n\
         seed: 11\n\
         workload:\n  clients: 4\n  probe_clients: 1\n  model: {{open: {{rate: 1000}}}}\n  keys: 3000\n  value_size: 32\n  mix: {{get: 50, set: 50}}\n  timeout_ms: 500\n  app_retries: 3\n\
         baseline_ms: 1000\n\
         settle_ms: 1000\n\
         {extra}\
         faults:\n{faults}",
        topology("cluster-3x1-fast.yaml").display()
    );
    write_topology(dir, &format!("{name}.yaml"), &yaml)
}

fn read_report(out: &Path, name: &str) -> Value {
    let path = out.join(name).join("latest/report.json");
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// `redis-cli --cluster check` from where the nodes are reachable.
fn redis_cli_check(env: &Env, name: &str, status: &Value) -> String {
    let o = if env.runtime == "docker" {
        // Any node that is up: the first one that answers.
        let n = status["nodes"].as_array().unwrap()[1]["name"]
            .as_str()
            .unwrap()
            .to_string();
        env.run(&[
            "exec",
            &n,
            "--name",
            name,
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
                node(status, "s2n1")["address"].as_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{text}");
    text
}

fn failover_drill(env: &Env) {
    let name = unique_name("fo");
    let _guard = Up {
        env,
        name: name.clone(),
    };
    let t = topology("cluster-3x1-fast.yaml");
    let up = env.json(&["up", t.to_str().unwrap(), "--name", &name, "--json"]);
    let run_id = up["run_id"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let file = scenario(
        dir.path(),
        "fo-test",
        "  - fault: kill\n    target: primary_of:0\n    hold_ms: 6000\n",
        "",
    );
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
    let r = read_report(&out, "fo-test");
    let f = &r["faults"][0];
    assert_eq!(f["fault"], "kill");
    assert_eq!(f["nodes"], serde_json::json!(["s1n1"]));
    assert_eq!(f["undo"], "start");
    let fo = &f["failover"][0];
    assert_eq!(fo["node"], "s1n1");
    assert_eq!(fo["promoted"], "s1n2", "{fo}");
    let at = |k: &str| {
        fo[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k} missing: {fo}"))
    };
    assert!(at("pfail_after_ms") <= at("fail_after_ms"), "{fo}");
    assert!(at("fail_after_ms") <= at("promoted_after_ms"), "{fo}");
    assert!(at("promoted_after_ms") <= at("state_ok_after_ms"), "{fo}");
    // The promotion within the spec's range for this node timeout and rank
    // (the failover's own figures), and what clients saw of the killed
    // shard within that range widened by one op timeout at either end: an
    // op in flight at the kill, or sent just before the promotion, takes
    // that long to fail.
    let (min, max) = (at("expected_min_ms"), at("expected_max_ms"));
    assert_eq!(
        (min, max),
        (2500.0, 5500.0),
        "the spec's range for a 2000 ms node timeout: {fo}"
    );
    let promoted = at("promoted_after_ms");
    assert!(
        (min..=max).contains(&promoted),
        "promoted after {promoted} ms, the spec says {min}–{max} ms: {fo}"
    );
    let down = f["downtime_ms"]["s1n1"].as_f64().expect("downtime of s1n1");
    assert!(
        (min - OP_TIMEOUT_MS..=max + OP_TIMEOUT_MS).contains(&down),
        "client-observed downtime {down} ms, the spec's failover takes {min}–{max} ms: {f}"
    );
    // The other shards are down only while the cluster as a whole is: from
    // the FAIL until the promotion every node answers CLUSTERDOWN, because
    // cluster-require-full-coverage (the default) stops all slots while one is
    // uncovered. Allow two op timeouts (500 ms) for ops in flight at either end.
    let cluster_down = at("state_ok_after_ms") - at("fail_after_ms");
    for shard in ["s2n1", "s3n1"] {
        let other = f["downtime_ms"][shard].as_f64().unwrap_or(0.0);
        assert!(
            other < down,
            "{shard} down longer than the killed shard: {f}"
        );
        assert!(
            other <= cluster_down + 1000.0,
            "{shard} down {other} ms, the cluster was down {cluster_down} ms: {f}"
        );
    }
    // The old primary came back as a replica and caught up.
    let rejoin = &f["rejoin"][0];
    assert_eq!(rejoin["node"], "s1n1");
    assert!(rejoin["caught_up_after_ms"].as_f64().is_some(), "{rejoin}");
    assert_eq!(r["checks"]["cluster_check_ok"], true);
    assert_eq!(r["checks"]["keys_before"], r["checks"]["keys_after"]);
    let phases: Vec<&str> = r["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["baseline", "during", "recovery", "after"]);
    // Fault windows are marked on the per-second series.
    assert!(
        r["per_second"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["faults"] == serde_json::json!([0])),
        "no second marked with the fault"
    );

    // Healthy at the end, with s1n2 serving s1n1's old slots, by both checks.
    let status = env.json(&["status", "--name", &name, "--json"]);
    assert_eq!(node(&status, "s1n2")["role"], "primary", "{status}");
    assert_eq!(node(&status, "s1n1")["role"], "replica", "{status}");
    assert_eq!(env.json(&["check", "--name", &name, "--json"])["ok"], true);
    let text = redis_cli_check(env, &name, &status);
    assert!(
        text.contains("[OK] All 16384 slots covered.") && !text.contains("[WARNING]"),
        "{text}"
    );
    env.json(&["down", "--name", &name, "--json"]);
    assert_nothing_left(env, &run_id);
}

crate::on_both_runtimes!(
    process_failover_drill_replaces_the_primary_within_the_spec,
    docker_failover_drill_replaces_the_primary_within_the_spec,
    failover_drill
);

/// Partitions on the process runtime filter the host's loopback: root only.
fn can_partition(env: &Env) -> bool {
    env.runtime == "docker" || root_or_skip("partitions on the process runtime")
}

fn partition_loses_acknowledged_writes(env: &Env) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let file = scenario(
        dir.path(),
        "part-test",
        "  - fault: partition\n    shape: isolate\n    target: primary_of:0\n    hold_ms: 6000\n",
        "",
    );
    let o = env.run(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    if !can_partition(env) {
        assert_eq!(o.status.code(), Some(3), "partitions need root here");
        return;
    }
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = read_report(&out, "part-test");
    let f = &r["faults"][0];
    assert_eq!(f["fault"], "partition");
    assert_eq!(f["nodes"], serde_json::json!(["s1n1"]));
    assert_eq!(f["failover"][0]["promoted"], "s1n2", "{f}");
    // The isolated primary kept acknowledging writes until it noticed; its
    // replica, promoted on the other side, never had them.
    let lost = r["checks"]["lost_acknowledged_writes"].as_u64().unwrap();
    assert!(
        lost > 0,
        "an isolated primary lost nothing: {}",
        r["checks"]
    );
    let (first, last) = (
        r["checks"]["loss_window_ms"][0].as_f64().unwrap(),
        r["checks"]["loss_window_ms"][1].as_f64().unwrap(),
    );
    let start = f["start_ms"].as_f64().unwrap();
    // Lost writes were acknowledged around the partition, not before it
    // (allowing the replication lag of the moment it began)...
    assert!(
        first >= start - 1000.0,
        "loss from {first} ms, partition at {start} ms"
    );
    // ...and none after the isolated primary stopped taking writes.
    assert!(
        last <= start + 3.0 * NODE_TIMEOUT_MS,
        "loss until {last} ms, partition at {start} ms"
    );
    assert_eq!(r["checks"]["cluster_check_ok"], true);
    let run_id = run_id_in(&String::from_utf8_lossy(&o.stderr)).expect("run id");
    assert_nothing_left(env, &run_id);
}

crate::on_both_runtimes!(
    process_partition_loses_acknowledged_writes_and_counts_them,
    docker_partition_loses_acknowledged_writes_and_counts_them,
    partition_loses_acknowledged_writes
);

fn sigint_during_partition(env: &Env) {
    if !can_partition(env) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let file = scenario(
        dir.path(),
        "int-test",
        "  - fault: partition\n    shape: halves\n    hold_ms: 60000\n",
        "",
    );
    let mut child = env
        .command(&[
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .env("RUST_LOG", "redis_drill=info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut run_id = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no partition applied in time:\n{}", seen.join("\n")));
        if run_id.is_none() {
            run_id = run_id_in(&line);
        }
        let applied = line.contains("fault applied");
        seen.push(line);
        if applied {
            break;
        }
    }
    let run_id = run_id.expect("the run id is printed first");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "the drill did not stop after SIGINT"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert_eq!(status.code(), Some(130));
    assert_nothing_left(env, &run_id);
    if env.runtime == "process" {
        let rules = std::process::Command::new("iptables")
            .args(["-w", "-S"])
            .output()
            .unwrap();
        let rules = String::from_utf8_lossy(&rules.stdout);
        assert!(
            !rules.contains(&run_id),
            "iptables rules of run {run_id} left:\n{rules}"
        );
    }
}

crate::on_both_runtimes!(
    process_sigint_during_a_partition_leaves_nothing,
    docker_sigint_during_a_partition_leaves_nothing,
    sigint_during_partition
);

#[test]
fn a_reshard_whose_target_is_killed_finishes_with_no_key_lost_or_left_behind() {
    let env = Env::new("process");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let file = scenario(
        dir.path(),
        "ruf-test",
        "  - fault: kill\n    target: s2n1\n    after_slots: 300\n    hold_ms: 6000\n",
        "reshard:\n  from: s1n1\n  to: s2n1\n  slots: 2000\n  batch_keys: 10\n  parallel_slots: 2\n",
    );
    let o = env.run(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("reshard interrupted"), "{stderr}");
    let r = read_report(&out, "ruf-test");
    assert_eq!(r["checks"]["stray_keys"], 0);
    assert_eq!(r["checks"]["cluster_check_ok"], true);
    assert_eq!(r["checks"]["keys_before"], r["checks"]["keys_after"]);
    let owners = &r["topology_after"]["nodes"];
    let slots = |n: &str| {
        owners
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == n)
            .unwrap()["slots"]
            .as_u64()
            .unwrap()
    };
    // The target's shard — now served by its promoted replica — has them all.
    assert_eq!(slots("s2n2"), 5462 + 2000, "{owners}");
    assert_eq!(slots("s1n1"), 5461 - 2000, "{owners}");
}

#[test]
fn bad_fault_schedules_name_the_line_and_field() {
    let env = Env::new("process");
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "bad",
        "  - fault: kill\n    target: s1n1\n  - fault: partition\n    shape: isolate\n    target: s9n9\n    hold_ms: 10\n",
        "",
    );
    let o = env.run(&["run", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.yaml:20:5: faults.1.target: no node named `s9n9` in cluster-3x1-fast"),
        "{err}"
    );
}

#[test]
fn fault_commands_hit_targets_on_a_running_topology() {
    let env = Env::new("process");
    let name = unique_name("cli");
    let _guard = Up {
        env: &env,
        name: name.clone(),
    };
    let t = topology("cluster-3x1-fast.yaml");
    env.json(&["up", t.to_str().unwrap(), "--name", &name, "--json"]);
    let role = |n: &str| {
        let status = env.json(&["status", "--name", &name, "--json"]);
        node(&status, n)["role"].as_str().unwrap().to_string()
    };

    // A coordinated failover of slot 0's shard, by target.
    let fo = env.json(&[
        "failover",
        "replica_of:primary_of:0",
        "--name",
        &name,
        "--json",
    ]);
    assert_eq!(fo["nodes"], serde_json::json!(["s1n2"]));
    assert!(fo["promoted_ms"].as_f64().unwrap() < 5000.0, "{fo}");
    assert_eq!(role("s1n2"), "primary");
    wait_until("s1n1 to follow s1n2", Duration::from_secs(10), || {
        role("s1n1") == "replica"
    });
    // primary_of now means the promoted node.
    let k = env.json(&["kill", "primary_of:0", "--name", &name, "--json"]);
    assert_eq!(k["nodes"], serde_json::json!(["s1n2"]));
    let s = env.json(&["start", "s1n2", "--name", &name, "--json"]);
    assert_eq!(s["nodes"], serde_json::json!(["s1n2"]));

    let p = env.run(&["partition", "isolate", "s2n1", "--name", &name, "--json"]);
    if root_or_skip("the partition command") {
        assert_eq!(p.status.code(), Some(0));
        let p: Value = serde_json::from_slice(&p.stdout).unwrap();
        assert_eq!(p["nodes"], serde_json::json!(["s2n1"]));
        assert!(p["detail"].as_str().unwrap().starts_with("s2n1 | "), "{p}");
        let h = env.json(&["heal", "--name", &name, "--json"]);
        assert_eq!(h["nodes"], 6, "{h}");
    } else {
        assert_eq!(p.status.code(), Some(3), "partitions need root here");
    }

    // Bad input is exit 2 and names what is wrong.
    for (args, msg) in [
        (vec!["kill", "leader_of:1"], "unknown target `leader_of:1`"),
        (vec!["kill", "s9n9"], "no node named `s9n9`"),
        (
            vec!["partition", "sideways"],
            "unknown partition shape `sideways`",
        ),
        (vec!["partition", "halves", "s1n1"], "takes no target"),
    ] {
        let mut a = args.clone();
        a.extend(["--name", &name]);
        let o = env.run(&a);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    // Healthy again, by our check, once the restarted node has rejoined.
    wait_until("the cluster to check ok", Duration::from_secs(20), || {
        env.run(&["check", "--name", &name]).status.success()
    });
}
