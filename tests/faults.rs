//! The fault drills end to end through the real binary, on both runtimes:
//! a killed primary is replaced within the Redis Cluster spec's range
//! (node timeout + 500 ms to 2 × node timeout + 1500 ms), what clients saw
//! lies in that range widened by one op timeout, the other shards are down
//! while the whole cluster is and no longer, the old primary rejoins, and
//! the cluster ends healthy (by our check and by `redis-cli --cluster
//! check`); an isolated primary loses acknowledged writes, acknowledged
//! between the partition and the moment it must stop taking writes, and the
//! report counts them; a reshard whose target is killed in its middle
//! finishes with no key lost or left behind; a drill interrupted by SIGINT
//! while a partition is in force leaves nothing behind; fault commands hit
//! their targets on a running topology.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use redis_drill::exit;
use redis_drill::report::{FaultReport, Report};

/// cluster-node-timeout of the test topology (topologies/cluster-3x1-fast.yaml).
const NODE_TIMEOUT_MS: f64 = 2000.0;
/// The spec's range for an automatic failover's promotion, counted from the
/// moment the primary died, for a replica of rank 0 (each shard has one):
/// at best the node timeout and the election's fixed delay (500 ms); at
/// worst a last PFAIL a node timeout later, a node timeout for the reports
/// to meet, the fixed delay, its random part (up to 500 ms) and the cron
/// ticks in between (5 × 100 ms). See src/checker/failover.rs.
const PROMOTION_MIN_MS: f64 = NODE_TIMEOUT_MS + 500.0;
const PROMOTION_MAX_MS: f64 = 2.0 * NODE_TIMEOUT_MS + 1500.0;
/// The scenarios' `workload.timeout_ms`: what a client-side figure adds to
/// the spec's range at either end (an op in flight at the kill, or sent just
/// before the promotion, takes that long to fail).
const OP_TIMEOUT_MS: f64 = 500.0;

/// A scenario on the fast topology with `faults` (YAML lines under `faults:`),
/// held to one SLO every run meets (`max_app_error_ratio: 1`): a scenario
/// needs one, and these tests judge the figures themselves.
fn scenario(env: &Env, name: &str, faults: &str, extra: &str) -> PathBuf {
    let yaml = format!(
        "name: {name}\n\
         topology: {}\n\
         seed: 11\n\
         workload:\n  clients: 4\n  probe_clients: 1\n  model: {{open: {{rate: 1000}}}}\n  keys: 3000\n  value_size: 32\n  mix: {{get: 50, set: 50}}\n  timeout_ms: 500\n  app_retries: 3\n\
         baseline_ms: 1000\n\
         settle_ms: 1000\n\
         {extra}\
         faults:\n{faults}\
         slo:\n  max_app_error_ratio: 1\n",
        topology("cluster-3x1-fast.yaml").display()
    );
    env.write(&format!("{name}.yaml"), &yaml)
}

/// The only fault of a report.
fn the_fault(r: &Report) -> &FaultReport {
    assert_eq!(r.faults.len(), 1, "{:#?}", r.faults);
    &r.faults[0]
}

fn failover_drill(env: &Env) {
    let up = env.up(&topology("cluster-3x1-fast.yaml"), "fo");
    let file = scenario(
        env,
        "fo-test",
        "  - fault: kill\n    target: primary_of:0\n    hold_ms: 6000\n",
        "",
    );
    let d = env.drill(&file, &["--name", &up.name]);
    d.assert_code(exit::SUCCESS);
    let r = d.report();
    let f = the_fault(r);
    assert_eq!(f.fault, "kill");
    assert_eq!(names(&f.nodes), ["s1n1"]);
    assert_eq!(f.undo.as_deref(), Some("start"));
    assert_eq!(f.failover.len(), 1, "{f:#?}");
    let fo = &f.failover[0];
    assert_eq!(fo.node, "s1n1");
    assert_eq!(fo.promoted.as_deref(), Some("s1n2"), "{fo:?}");
    let at = |v: Option<f64>, what: &str| v.unwrap_or_else(|| panic!("{what} missing: {fo:?}"));
    let pfail = at(fo.pfail_after_ms, "pfail");
    let fail = at(fo.fail_after_ms, "fail");
    let promoted = at(fo.promoted_after_ms, "promotion");
    let state_ok = at(fo.state_ok_after_ms, "state ok");
    let agreed = at(fo.agreed_after_ms, "agreement");
    assert!(
        pfail <= fail && fail <= promoted && promoted <= state_ok,
        "{fo:?}"
    );
    assert!(promoted <= agreed, "{fo:?}");
    // PFAIL takes a node timeout of silence at least.
    assert!(pfail >= NODE_TIMEOUT_MS, "{fo:?}");
    // The spec's range for the promotion, which the report states too.
    assert_eq!(
        (fo.expected_min_ms, fo.expected_max_ms),
        (PROMOTION_MIN_MS, PROMOTION_MAX_MS),
        "the spec's range for a 2000 ms node timeout: {fo:?}"
    );
    assert!(
        (PROMOTION_MIN_MS..=PROMOTION_MAX_MS).contains(&promoted),
        "promoted after {promoted} ms, the spec says {PROMOTION_MIN_MS}–{PROMOTION_MAX_MS} ms: {fo:?}"
    );
    // What clients saw of the killed shard: that range, widened by one op
    // timeout at either end.
    let down = *f.downtime_ms.get("s1n1").expect("downtime of s1n1");
    assert!(
        (PROMOTION_MIN_MS - OP_TIMEOUT_MS..=PROMOTION_MAX_MS + OP_TIMEOUT_MS).contains(&down),
        "client-observed downtime {down} ms, the spec's failover takes {PROMOTION_MIN_MS}–{PROMOTION_MAX_MS} ms: {f:?}"
    );
    eprintln!(
        "{}: promoted after {promoted} ms; downtime by shard {:?}, probe {:?}; cluster_state:fail from {fail} to {state_ok} ms",
        env.runtime, f.downtime_ms, f.probe_downtime_ms
    );
    // The other shards are down while the cluster as a whole is: from the
    // FAIL until the promotion every node answers CLUSTERDOWN, because
    // cluster-require-full-coverage (the default) stops all slots while one
    // is uncovered. The probe, one connection per node, sees exactly that,
    // with two op timeouts for ops in flight at either end. The app clients
    // (redis-rs) see more: on Docker a killed container's address drops the
    // client's packets, and while redis-rs waits on the dead node its ops to
    // the healthy shards time out too (measured: s2n1 down 2.9 s for every
    // app client, 0.9 s for the probe). So for them only: no longer than
    // the killed shard.
    let cluster_down = state_ok - fail;
    for shard in ["s2n1", "s3n1"] {
        let other = *f.downtime_ms.get(shard).unwrap_or(&0.0);
        let probe = *f.probe_downtime_ms.get(shard).unwrap_or(&0.0);
        assert!(
            other > 0.0 && probe > 0.0,
            "{shard} never down while the cluster was (full coverage): {f:?}"
        );
        assert!(
            other <= down,
            "{shard} down longer than the killed shard: {f:?}"
        );
        assert!(
            probe <= cluster_down + 2.0 * OP_TIMEOUT_MS,
            "{shard} down {probe} ms for the probe, the cluster was down {cluster_down} ms: {f:?}"
        );
    }
    // The old primary came back as a replica, linked and caught up, in that order.
    assert_eq!(f.rejoin.len(), 1, "{f:?}");
    let rj = &f.rejoin[0];
    assert_eq!(rj.node, "s1n1");
    let step = |v: Option<f64>, what: &str| v.unwrap_or_else(|| panic!("{what} missing: {rj:?}"));
    let reachable = step(rj.reachable_after_ms, "reachable");
    let replica = step(rj.replica_after_ms, "replica");
    let linked = step(rj.link_up_after_ms, "link up");
    let caught_up = step(rj.caught_up_after_ms, "caught up");
    assert!(
        0.0 <= reachable && reachable <= replica && replica <= linked && linked <= caught_up,
        "{rj:?}"
    );
    assert!(r.checks.cluster_check_ok, "{:?}", r.checks);
    assert_eq!(r.checks.keys_before, r.checks.keys_after);
    assert_eq!(phase_names(r), ["baseline", "during", "recovery", "after"]);
    // Fault windows are marked on the per-second series: every second the
    // kill held, and none before it.
    let marked: Vec<u64> = r
        .per_second
        .iter()
        .filter(|s| s.faults == [0])
        .map(|s| s.t_s)
        .collect();
    assert!(!marked.is_empty(), "no second marked with the fault");
    let first = (f.start_ms / 1000.0).floor() as u64;
    assert_eq!(marked[0], first, "{marked:?}, fault at {} ms", f.start_ms);
    let undone = f.undone_ms.expect("the kill was undone");
    assert_eq!(
        marked,
        (first..=(undone / 1000.0).floor() as u64).collect::<Vec<_>>(),
        "fault from {} to {undone} ms",
        f.start_ms
    );

    // Healthy at the end, with s1n2 serving s1n1's old slots, by both checks.
    let status = up.status();
    assert!(is_primary(&status, "s1n2"), "{status:#?}");
    assert!(is_replica(&status, "s1n1"), "{status:#?}");
    assert_eq!(node(&status, "s1n2").slots, 5461);
    assert!(up.check().ok);
    assert_redis_cli_check_clean(&up, &status, "s2n1");
    up.down();
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
    let file = scenario(
        env,
        "part-test",
        "  - fault: partition\n    shape: isolate\n    target: primary_of:0\n    hold_ms: 6000\n",
        "",
    );
    let d = env.drill(&file, &[]);
    if !can_partition(env) {
        // The drill runs without its partition and says so: unknown (or a
        // failure of its own), never an error exit.
        assert!(
            [exit::UNKNOWN, exit::CHECK_FAILED].contains(&d.code.unwrap_or(-1)),
            "{}",
            d.output()
        );
        let f = the_fault(d.report());
        assert!(
            f.skipped.as_deref().is_some_and(|w| w.contains("root")),
            "{f:?}"
        );
        return;
    }
    d.assert_code(exit::SUCCESS);
    let r = d.report();
    let f = the_fault(r);
    assert_eq!(f.fault, "partition");
    assert_eq!(names(&f.nodes), ["s1n1"]);
    assert_eq!(f.failover.len(), 1, "{f:?}");
    assert_eq!(f.failover[0].promoted.as_deref(), Some("s1n2"), "{f:?}");
    // The isolated primary kept acknowledging writes until it noticed; its
    // replica, promoted on the other side, never had them.
    let c = &r.checks;
    assert!(
        c.lost_acknowledged_writes > 0,
        "an isolated primary lost nothing: {c:?}"
    );
    let (first, last) = c.loss_window_ms.expect("a loss window");
    eprintln!(
        "{}: {} acknowledged writes lost, acknowledged from {first} to {last} ms; partition from {} (applied {}) ms; failover {:?}",
        env.runtime, c.lost_acknowledged_writes, f.start_ms, f.applied_ms, f.failover[0]
    );
    // Lost writes were acknowledged around the partition, not before it
    // (allowing the replication lag of the moment it began)...
    assert!(
        first >= f.start_ms - 1000.0,
        "loss from {first} ms, partition at {} ms",
        f.start_ms
    );
    // ...and none after the isolated primary stopped taking writes. It
    // stops once it flags the majority PFAIL: a peer is pinged again at the
    // latest half a node timeout after its last pong, and flagged when that
    // ping has gone unanswered for a node timeout; the cluster's state is
    // updated on the next ticks (5 × 100 ms, as the spec's bound counts). A
    // write sent just before that is acknowledged within an op timeout.
    let stops = f.applied_ms + 1.5 * NODE_TIMEOUT_MS + 500.0;
    assert!(
        last <= stops + OP_TIMEOUT_MS,
        "loss until {last} ms; the isolated primary stops taking writes by {stops} ms (partition applied at {} ms)",
        f.applied_ms
    );
    assert!(first <= last);
    assert!(c.cluster_check_ok, "{c:?}");
    assert_nothing_left(env, d.run_id());
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
    let out = tempfile::tempdir().unwrap();
    let file = scenario(
        env,
        "int-test",
        "  - fault: partition\n    shape: halves\n    hold_ms: 60000\n",
        "",
    );
    let mut child = env
        .command(&[
            "run",
            file.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
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
    // SAFETY: signalling our own child.
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
    assert_eq!(status.code(), Some(exit::INTERRUPTED));
    assert_nothing_left(env, &run_id);
    if env.runtime == "process" {
        let rules = std::process::Command::new("iptables")
            .args(["-w", "-S"])
            .bounded_output()
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

/// A reshard of 2000 slots s1n1 -> s2n1 with `victim` killed for 6 s once
/// 300 have moved: the drill resumes after the failover and passes, every
/// key where it belongs and none lost; the victim's promoted replica serves
/// its shard. The report, for what each case checks beside.
fn reshard_with_a_kill<'a>(env: &'a Env, victim: &str) -> Drilled<'a> {
    let file = scenario(
        env,
        "ruf-test",
        &format!(
            "  - fault: kill\n    target: {victim}\n    after_slots: 300\n    hold_ms: 6000\n"
        ),
        "reshard:\n  from: s1n1\n  to: s2n1\n  slots: 2000\n  batch_keys: 10\n  parallel_slots: 2\n",
    );
    let d = env.drill(&file, &[]);
    d.assert_code(exit::SUCCESS);
    assert!(d.stderr.contains("reshard interrupted"), "{}", d.stderr);
    let r = d.report();
    let c = &r.checks;
    assert_eq!(c.stray_keys, 0, "{c:?}");
    assert_eq!(c.lost_writes, 0, "{c:?}");
    assert!(c.cluster_check_ok, "{c:?}");
    assert_eq!(c.keys_before, c.keys_after, "{c:?}");
    assert_eq!(c.keys_before, 3000, "{c:?}");
    let f = the_fault(r);
    assert_eq!(names(&f.nodes), [victim]);
    // The kill hit the migration in its middle, not after it.
    let reshard_end = r
        .events
        .iter()
        .find(|e| e.kind == "reshard-end")
        .map(|e| e.at_ms)
        .expect("a reshard-end event");
    assert!(
        f.start_ms < reshard_end,
        "killed at {} ms, reshard ended at {reshard_end} ms",
        f.start_ms
    );
    assert_eq!(r.reshard.as_ref().expect("a reshard").slots_moved, 2000);
    let after = r.topology_after.as_ref().expect("the topology after");
    let replica = victim.replace("n1", "n2");
    assert!(is_primary(after, &replica), "{after:#?}");
    assert_nothing_left(env, d.run_id());
    d
}

#[test]
fn a_reshard_whose_target_is_killed_finishes_with_no_key_lost_or_left_behind() {
    let env = Env::new("process");
    let d = reshard_with_a_kill(&env, "s2n1");
    let after = d
        .report()
        .topology_after
        .as_ref()
        .expect("the topology after");
    // The target's shard — now served by its promoted replica — has them all.
    assert_eq!(node(after, "s2n2").slots, 5462 + 2000, "{after:#?}");
    assert_eq!(node(after, "s1n1").slots, 5461 - 2000, "{after:#?}");
}

/// The reshard's source killed in the middle of the migration: its replica
/// takes over the slots it still owned, while the target still imports one
/// from the dead node (a node importing a slot takes no new owner for it,
/// so the drill closes the slot before it waits for the cluster to be whole).
#[test]
fn a_reshard_whose_source_is_killed_finishes_with_no_key_lost_or_left_behind() {
    let env = Env::new("process");
    let d = reshard_with_a_kill(&env, "s1n1");
    let after = d
        .report()
        .topology_after
        .as_ref()
        .expect("the topology after");
    // The source's shard is served by its promoted replica, less what moved.
    assert_eq!(node(after, "s1n2").slots, 5461 - 2000, "{after:#?}");
    assert_eq!(node(after, "s2n1").slots, 5462 + 2000, "{after:#?}");
}

#[test]
fn bad_fault_schedules_name_the_line_and_field() {
    let env = Env::new("process");
    let file = scenario(
        &env,
        "bad",
        "  - fault: kill\n    target: s1n1\n  - fault: partition\n    shape: isolate\n    target: s9n9\n    hold_ms: 10\n",
        "",
    );
    let o = env.run(&["run", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(exit::BAD_INPUT));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.yaml:20:5: faults.1.target: no node named `s9n9` in cluster-3x1-fast"),
        "{err}"
    );
}

/// What a fault command prints with `--json`.
#[derive(Debug, serde::Deserialize)]
struct Applied {
    fault: String,
    nodes: Vec<String>,
    detail: String,
    promoted_ms: Option<f64>,
}

/// What `heal --json` prints.
#[derive(Debug, serde::Deserialize)]
struct Healed {
    nodes: usize,
    skipped: Vec<String>,
}

#[test]
fn fault_commands_hit_targets_on_a_running_topology() {
    let env = Env::new("process");
    let up = env.up(&topology("cluster-3x1-fast.yaml"), "cli");
    let role_is_primary = |n: &str| is_primary(&up.status(), n);

    // A coordinated failover of slot 0's shard, by target.
    let fo: Applied = up.json(&["failover", "replica_of:primary_of:0"]);
    assert_eq!(fo.fault, "failover");
    assert_eq!(names(&fo.nodes), ["s1n2"]);
    let promoted = fo.promoted_ms.expect("the promotion timed");
    // A coordinated failover: the replica catches up with its primary and
    // takes over at once, no election timeout (measured: 21.5 ms). Half a
    // second is far past that and far below the 2 s node timeout a forced
    // one would wait out.
    assert!(promoted > 0.0 && promoted < 500.0, "{fo:?}");
    assert!(role_is_primary("s1n2"));
    wait_until("s1n1 to follow s1n2", Duration::from_secs(10), || {
        is_replica(&up.status(), "s1n1")
    });
    // primary_of now means the promoted node.
    let k: Applied = up.json(&["kill", "primary_of:0"]);
    assert_eq!((k.fault.as_str(), names(&k.nodes)), ("kill", vec!["s1n2"]));
    let s: Applied = up.json(&["start", "s1n2"]);
    assert_eq!((s.fault.as_str(), names(&s.nodes)), ("start", vec!["s1n2"]));

    let p = up.run(&["partition", "isolate", "s2n1", "--json"]);
    if root_or_skip("the partition command") {
        assert_eq!(p.status.code(), Some(exit::SUCCESS));
        let p: Applied = serde_json::from_slice(&p.stdout).unwrap();
        assert_eq!(names(&p.nodes), ["s2n1"]);
        assert!(p.detail.starts_with("s2n1 | "), "{p:?}");
        let h: Healed = up.json(&["heal"]);
        assert_eq!(h.nodes, 6, "{h:?}");
        assert!(h.skipped.is_empty(), "{h:?}");
    } else {
        assert_eq!(
            p.status.code(),
            Some(exit::ENVIRONMENT),
            "partitions need root here"
        );
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
        let o = up.run(&args);
        assert_eq!(o.status.code(), Some(exit::BAD_INPUT), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    // Healthy again, by our check, once the restarted node has rejoined.
    wait_until("the cluster to check ok", Duration::from_secs(20), || {
        up.check().ok
    });
    up.down();
}
