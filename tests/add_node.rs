//! `add-node` on both runtimes, through the real binary: grow a 3x1 cluster
//! holding data by an empty primary, rebalance slots onto it, add a replica of
//! it, remove both again (`remove-node`: drained, forgotten, no ghost), and
//! make sure `down` removes the rest. A failure half-way
//! (an injected panic) leaves the topology as it was.

mod common;

use std::time::Duration;

use common::*;
use redis::AsyncCommands;
use redis_drill::bringup::AddReport;
use redis_drill::cluster::{ClientOptions, cluster_client};
use redis_drill::exit;
use redis_drill::status::StatusReport;

/// Keys written before the cluster grows, read back after the rebalance.
const KEYS: usize = 2000;
/// Slots per primary after a rebalance over 4 primaries, and the tolerance.
const IDEAL: f64 = 16384.0 / 4.0;
const TOLERANCE: f64 = 0.02;

fn assert_healthy(status: &StatusReport, nodes: usize) {
    assert_eq!(status.nodes.len(), nodes, "{status:#?}");
    let c = status.cluster.as_ref().expect("cluster figures");
    assert_eq!(c.state, "ok", "{status:#?}");
    assert_eq!(c.slots_assigned, 16384, "{status:#?}");
    assert!(c.nodes_agree, "{status:#?}");
}

fn grow_rebalance_replicate_down(env: &Env) {
    let up = env.up(&topology("cluster-3x1.yaml"), "grow");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let map = up.endpoints();
    rt.block_on(async {
        let client = cluster_client(&map, &ClientOptions::default()).unwrap();
        let mut con = client.get_async_connection().await.unwrap();
        for i in 0..KEYS {
            let _: () = con.set(format!("key:{i}"), i).await.unwrap();
        }
    });

    // A new primary: no slots, a healthy 7-node cluster that agrees on it.
    let added: AddReport = up.json(&["add-node"]);
    eprintln!("{}: add-node (primary) {:?}", env.runtime, added.timings);
    assert_eq!(added.node, "s4n1", "{added:?}");
    assert_eq!(added.replica_of, None, "{added:?}");
    assert!(added.address.ip().is_loopback(), "{added:?}");
    let t = &added.timings;
    assert!(
        t.total_ms > 0 && t.total_ms >= t.node_ready_ms + t.meet_ms,
        "{t:?}"
    );
    let status = up.status();
    assert_healthy(&status, 7);
    let s4n1 = node(&status, "s4n1");
    assert!(is_primary(&status, "s4n1"), "{s4n1:?}");
    assert_eq!(s4n1.slots, 0, "{s4n1:?}");
    assert_eq!(s4n1.address, added.address);

    // Rebalance: every primary within 2% of 16384/4; our check passes; every
    // key reads back, some of them from the new primary.
    let reshard = up.run(&["reshard", "--rebalance", "--json"]);
    assert!(reshard.status.success(), "reshard --rebalance failed");
    // `reshard` returns once the primaries own their slots; replicas learn the
    // new map from gossip a moment later.
    let mut status = up.status();
    wait_until(
        "every node to agree on the slot map",
        Duration::from_secs(10),
        || {
            status = up.status();
            status.cluster.as_ref().is_some_and(|c| c.nodes_agree)
        },
    );
    assert_healthy(&status, 7);
    for p in ["s1n1", "s2n1", "s3n1", "s4n1"] {
        let slots = node(&status, p).slots as f64;
        assert!(
            (slots - IDEAL).abs() <= IDEAL * TOLERANCE,
            "{p} serves {slots} slots, not within 2% of {IDEAL}"
        );
    }
    assert!(node(&status, "s4n1").keys.unwrap() > 0);
    let check = up.check();
    assert!(check.ok, "{check}");
    let map = address_map(&status);
    rt.block_on(async {
        let client = cluster_client(&map, &ClientOptions::default()).unwrap();
        let mut con = client.get_async_connection().await.unwrap();
        for i in 0..KEYS {
            let v: usize = con.get(format!("key:{i}")).await.unwrap();
            assert_eq!(v, i, "key:{i}");
        }
    });

    // A replica of the new primary, in its shard.
    let added: AddReport = up.json(&["add-node", "--replica-of", "s4n1"]);
    eprintln!("{}: add-node (replica) {:?}", env.runtime, added.timings);
    assert_eq!(added.node, "s4n2", "{added:?}");
    assert_eq!(added.replica_of.as_deref(), Some("s4n1"), "{added:?}");
    let status = up.status();
    assert_healthy(&status, 8);
    let s4n2 = node(&status, "s4n2");
    assert!(is_replica(&status, "s4n2"), "{s4n2:?}");
    assert_eq!(s4n2.replica_of.as_deref(), Some("s4n1"), "{s4n2:?}");
    assert_eq!(
        node(&status, "s4n1").primary_of,
        Some(vec!["s4n2".to_string()])
    );

    // remove-node: the replica, then the primary (its slots drained onto
    // the others first); no remaining node lists either (redis-cli asked on
    // each), redis-cli's check passes, every key reads back.
    let ids: Vec<String> = ["s4n2", "s4n1"]
        .iter()
        .map(|n| {
            cluster_nodes(&up, &status, n)
                .lines()
                .find(|l| l.contains("myself"))
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    let removed: serde_json::Value = up.json(&["remove-node", "s4n2"]);
    assert_eq!(removed["slots_drained"], 0, "{removed}");
    assert_eq!(removed["id"], ids[0].as_str(), "{removed}");
    let removed: serde_json::Value = up.json(&["remove-node", "s4n1"]);
    assert!(
        removed["slots_drained"].as_u64().unwrap() > 4000,
        "{removed}"
    );
    assert_eq!(removed["id"], ids[1].as_str(), "{removed}");
    let status = up.status();
    assert_healthy(&status, 6);
    for n in ["s1n1", "s1n2", "s2n1", "s2n2", "s3n1", "s3n2"] {
        let text = cluster_nodes(&up, &status, n);
        for id in &ids {
            assert!(!text.contains(id.as_str()), "{n} still lists {id}:\n{text}");
        }
        assert_eq!(text.lines().count(), 6, "{n}:\n{text}");
    }
    assert_redis_cli_check_clean(&up, &status, "s1n1");
    let map = address_map(&status);
    rt.block_on(async {
        let client = cluster_client(&map, &ClientOptions::default()).unwrap();
        let mut con = client.get_async_connection().await.unwrap();
        for i in 0..KEYS {
            let v: usize = con.get(format!("key:{i}")).await.unwrap();
            assert_eq!(v, i, "key:{i}");
        }
    });
    let out = up.run(&["remove-node", "s9n9"]);
    assert_eq!(out.status.code(), Some(exit::BAD_INPUT), "{out:?}");

    // `down` removes what is left.
    let down = up.down();
    if env.runtime == "docker" {
        assert_eq!((down.containers, down.networks), (6, 1), "{down:?}");
    } else {
        assert_eq!((down.processes, down.dirs), (6, 1), "{down:?}");
    }
}

/// `CLUSTER NODES` of `n` as redis-cli prints it (inside its container on Docker).
fn cluster_nodes(up: &UpGuard, status: &StatusReport, n: &str) -> String {
    let out = if up.env.runtime == "docker" {
        up.env.run(&[
            "exec",
            n,
            "--name",
            &up.name,
            "--",
            "redis-cli",
            "CLUSTER",
            "NODES",
        ])
    } else {
        let a = address(status, n);
        std::process::Command::new("redis-cli")
            .args([
                "-h",
                &a.ip().to_string(),
                "-p",
                &a.port().to_string(),
                "CLUSTER",
                "NODES",
            ])
            .bounded_output()
            .expect("redis-cli")
    };
    String::from_utf8_lossy(&out.stdout).into_owned()
}

crate::on_both_runtimes!(
    process_add_node_grow_rebalance_replicate,
    docker_add_node_grow_rebalance_replicate,
    grow_rebalance_replicate_down
);

/// Bad input starts nothing; a panic after the new node started removes it
/// again and leaves the cluster as it was.
fn failed_add_leaves_nothing(env: &Env) {
    let up = env.up(&topology("cluster-3x1.yaml"), "half");
    let run_id = up.run_id.clone();

    let bad = up.run(&["add-node", "--replica-of", "nosuch"]);
    assert_eq!(
        bad.status.code(),
        Some(exit::BAD_INPUT),
        "unknown primary is bad input"
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no node named `nosuch`"));
    let replica = up.run(&["add-node", "--replica-of", "s1n2"]);
    assert_eq!(
        replica.status.code(),
        Some(exit::BAD_INPUT),
        "a replica cannot be replicated"
    );

    for inject in ["panic-after-add-node", "panic-after-join"] {
        let out = env
            .command(&["add-node", "--name", &up.name])
            .env("REDIS_DRILL_INJECT", inject)
            .bounded_output()
            .expect("running redis-drill");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Reported as `up` reports a panic: an environment error, after the undo.
        assert_eq!(
            out.status.code(),
            Some(exit::ENVIRONMENT),
            "{inject}: {stderr}"
        );
        assert!(stderr.contains(inject), "{inject}: {stderr}");
        // No node still lists the removed one (a `master,fail` entry that
        // later clients would try to reach).
        for n in up.status().nodes {
            let out = std::process::Command::new("redis-cli")
                .args([
                    "-h",
                    &n.address.ip().to_string(),
                    "-p",
                    &n.address.port().to_string(),
                ])
                .args(["CLUSTER", "NODES"])
                .bounded_output()
                .expect("redis-cli");
            let nodes = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                nodes.lines().count(),
                6,
                "{inject}: {} lists\n{nodes}",
                n.name
            );
        }
    }
    let status = up.status();
    assert_healthy(&status, 6);
    if env.runtime == "docker" {
        // This run's containers only: other tests add their own s4n1.
        let left: Vec<String> = docker_leftovers(&format!("redis-drill.run-id={run_id}"))
            .into_iter()
            .filter(|c| c.ends_with("-s4n1"))
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    } else {
        let dir = env.state.path().join(&run_id).join("s4n1");
        assert!(!dir.exists(), "{} still exists", dir.display());
        assert!(processes_mentioning(&dir).is_empty());
    }
    up.down();
}

crate::on_both_runtimes!(
    process_failed_add_node_leaves_nothing,
    docker_failed_add_node_leaves_nothing,
    failed_add_leaves_nothing
);
