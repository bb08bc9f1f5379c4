//! Drills on the topology kinds that are not a cluster, through the real
//! binary on both runtimes, with the shipped scenario files:
//!
//! - `replica-promotion.yaml` (replicated-1x2, REPLICAOF NO ONE under load):
//!   the promoted replica is the primary afterwards and both other nodes
//!   follow it — in the report and by `redis-cli ROLE` on the kept topology —
//!   and every lost acknowledged write was acknowledged once the promotion
//!   had begun (none from before it: replication had them);
//! - `replica-promotion-coordinated.yaml` (Redis's FAILOVER): no acknowledged
//!   write lost, every key still there;
//! - `standalone-restart.yaml` (a primary without persistence killed and
//!   started): its keys are lost, only keys of its shard, and the keys the
//!   servers hold afterwards are exactly the loaded ones less the lost ones;
//! - `standalone-restart-aof.yaml` (the same with appendfsync always):
//!   nothing lost.
//!
//! And a drill on a running topology of another kind is bad input.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use redis_drill::exit;
use redis_drill::report::Report;
use redis_drill::slots::even_split;
use redis_drill::status::StatusReport;
use redis_drill::topology::Role;

fn shipped(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

/// `ROLE` of `node`, asked by redis-cli (first line: master or slave, then
/// for a replica its primary's host and port).
fn role_by_redis_cli(status: &StatusReport, node: &str) -> Vec<String> {
    let n = status.nodes.iter().find(|n| n.name == node).unwrap();
    let out = Command::new("redis-cli")
        .args([
            "-h",
            &n.address.ip().to_string(),
            "-p",
            &n.address.port().to_string(),
            "ROLE",
        ])
        .bounded_output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn promoted(r: &Report) -> String {
    let f = &r.faults[0];
    assert_eq!(f.fault, "failover", "{f:?}");
    assert!(f.promoted_after_ms.is_some(), "{f:?}");
    f.nodes[0].clone()
}

fn replica_promotion(env: &Env) {
    let d = env.drill(&shipped("replica-promotion.yaml"), &["--keep"]);
    d.assert_code(exit::SUCCESS);
    let r = d.report();
    let new = promoted(r);
    assert_ne!(new, "n1", "n1 was the primary");
    // The report's topology after: the new primary, both others its replicas.
    let after = r.topology_after.as_ref().expect("the topology after");
    for n in &after.nodes {
        if n.name == new {
            assert_eq!(n.role, Some(Role::Primary), "{n:?}");
        } else {
            assert_eq!(n.role, Some(Role::Replica), "{n:?}");
            assert_eq!(n.replica_of.as_deref(), Some(new.as_str()), "{n:?}");
        }
    }
    // The same, asked of the nodes by redis-cli.
    let kept = d.kept.as_ref().expect("--keep left it up");
    let status = kept.status();
    assert_eq!(role_by_redis_cli(&status, &new)[0], "master");
    let new_port = status
        .nodes
        .iter()
        .find(|n| n.name == new)
        .unwrap()
        .announce
        .port()
        .to_string();
    for other in ["n1", "n2", "n3"].into_iter().filter(|n| *n != new) {
        let role = role_by_redis_cli(&status, other);
        assert_eq!(role[0], "slave", "{other}: {role:?}");
        assert_eq!(role[2], new_port, "{other} follows {new}: {role:?}");
    }
    // Writes lost were acknowledged after the promotion began: replication
    // had every write acknowledged well before it.
    let c = &r.checks;
    if let Some((first, _)) = c.loss_window_ms {
        assert!(
            first >= r.faults[0].start_ms - 50.0,
            "a write acknowledged at {first} ms, before the promotion at {} ms, was lost: {c:?}",
            r.faults[0].start_ms
        );
    }
    assert_eq!(c.keys_after, c.keys_before, "{c:?}");
    // No failover timeline is invented for a topology nobody watches.
    assert!(r.faults[0].failover.is_empty());
}

fn coordinated_failover_loses_nothing(env: &Env) {
    let d = env.drill(&shipped("replica-promotion-coordinated.yaml"), &[]);
    d.assert_code(exit::SUCCESS);
    let r = d.report();
    promoted(r);
    let c = &r.checks;
    assert_eq!((c.lost_acknowledged_writes, c.lost_writes), (0, 0), "{c:?}");
    assert!(c.acknowledged_writes > 1000, "{c:?}");
    assert_eq!(c.keys_after, c.keys_before, "{c:?}");
}

/// The restart drills one at a time: each starts a container again, and two
/// container starts side by side, next to an AOF fsyncing every write on the
/// same disk, take several seconds each on a 2-core machine — past the
/// downtime the scenarios allow one restart.
static RESTARTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn restart_without_persistence_loses_the_shard(env: &Env) {
    let _one = RESTARTS.lock().unwrap_or_else(|p| p.into_inner());
    let d = env.drill(&shipped("standalone-restart.yaml"), &[]);
    d.assert_code(exit::SUCCESS);
    let r = d.report();
    assert_eq!(r.faults[0].nodes, ["n1"]);
    let c = &r.checks;
    assert!(c.lost_writes > 0, "n1 came back empty: {c:?}");
    // Only n1's shard: the first fifth of the slots.
    let shard = even_split(5)[0];
    for l in &c.lost {
        assert!(shard.contains(l.slot), "{l:?} is not n1's");
        assert_eq!(l.found, None, "{l:?}");
    }
    // What the servers hold afterwards (DBSIZE) is what the history says.
    assert_eq!(c.keys_before - c.keys_after, c.lost_writes, "{c:?}");
    // The shard was down while n1 was: no longer than the hold plus a start.
    let down = r.faults[0].downtime_ms.get("n1").copied().unwrap_or(0.0);
    assert!(down >= 900.0, "n1 was down a second: {:?}", r.faults[0]);
}

fn restart_with_aof_loses_nothing(env: &Env) {
    let _one = RESTARTS.lock().unwrap_or_else(|p| p.into_inner());
    let d = env.drill(&shipped("standalone-restart-aof.yaml"), &[]);
    d.assert_code(exit::SUCCESS);
    let c = &d.report().checks;
    assert_eq!((c.lost_acknowledged_writes, c.lost_writes), (0, 0), "{c:?}");
    assert_eq!(c.keys_after, c.keys_before, "{c:?}");
}

on_both_runtimes!(
    process_replica_promotion,
    docker_replica_promotion,
    replica_promotion
);
on_both_runtimes!(
    process_coordinated_failover_loses_nothing,
    docker_coordinated_failover_loses_nothing,
    coordinated_failover_loses_nothing
);
on_both_runtimes!(
    process_restart_without_persistence_loses_the_shard,
    docker_restart_without_persistence_loses_the_shard,
    restart_without_persistence_loses_the_shard
);
on_both_runtimes!(
    process_restart_with_aof_loses_nothing,
    docker_restart_with_aof_loses_nothing,
    restart_with_aof_loses_nothing
);

#[test]
fn a_drill_on_a_running_topology_of_another_kind_is_bad_input() {
    let env = Env::new("process");
    let up = env.up(&topology("standalone-5.yaml"), "kind");
    let out = env.run(&[
        "run",
        shipped("replica-promotion.yaml").to_str().unwrap(),
        "--name",
        &up.name,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(exit::BAD_INPUT), "{stderr}");
    assert!(
        stderr.contains("is a standalone topology") && stderr.contains("for a replicated one"),
        "{stderr}"
    );
    up.down();
}
