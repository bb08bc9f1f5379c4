//! `add-node` on both runtimes, through the real binary: grow a 3x1 cluster
//! holding data by an empty primary, rebalance slots onto it, add a replica of
//! it, and make sure `down` removes the added nodes too. A failure half-way
//! (an injected panic) leaves the topology as it was.

mod common;

use std::time::Duration;

use common::*;
use redis::AsyncCommands;
use redis_drill::cluster::{ClientOptions, cluster_client};
use serde_json::Value;

/// Keys written before the cluster grows, read back after the rebalance.
const KEYS: usize = 2000;
/// Slots per primary after a rebalance over 4 primaries, and the tolerance.
const IDEAL: f64 = 16384.0 / 4.0;
const TOLERANCE: f64 = 0.02;

fn assert_healthy(status: &Value, nodes: usize) {
    assert_eq!(status["nodes"].as_array().unwrap().len(), nodes, "{status}");
    assert_eq!(status["cluster"]["state"], "ok", "{status}");
    assert_eq!(status["cluster"]["slots_assigned"], 16384, "{status}");
    assert_eq!(status["cluster"]["nodes_agree"], true, "{status}");
}

fn grow_rebalance_replicate_down(env: &Env) {
    let name = unique_name("grow");
    let guard = Up {
        env,
        name: name.clone(),
    };
    let t = topology("cluster-3x1.yaml");
    let up = env.json(&["up", t.to_str().unwrap(), "--name", &name, "--json"]);
    let run_id = up["run_id"].as_str().unwrap().to_string();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = env.json(&["status", "--name", &name, "--json"]);
    rt.block_on(async {
        let client = cluster_client(&address_map(&status), &ClientOptions::default()).unwrap();
        let mut con = client.get_async_connection().await.unwrap();
        for i in 0..KEYS {
            let _: () = con.set(format!("key:{i}"), i).await.unwrap();
        }
    });

    // A new primary: no slots, a healthy 7-node cluster that agrees on it.
    let added = env.json(&["add-node", "--name", &name, "--json"]);
    eprintln!("{}: add-node (primary) {}", env.runtime, added["timings"]);
    assert_eq!(added["node"], "s4n1", "{added}");
    assert!(addr(&added["address"]).ip().is_loopback(), "{added}");
    assert!(added["timings"]["total_ms"].as_u64().unwrap() > 0);
    let status = env.json(&["status", "--name", &name, "--json"]);
    assert_healthy(&status, 7);
    let s4n1 = node(&status, "s4n1");
    assert_eq!(s4n1["role"], "primary", "{s4n1}");
    assert_eq!(s4n1["slots"], 0, "{s4n1}");
    assert_eq!(s4n1["address"], added["address"]);

    // Rebalance: every primary within 2% of 16384/4; our check passes; every
    // key reads back, some of them from the new primary.
    let reshard = env.run(&["reshard", "--rebalance", "--name", &name, "--json"]);
    assert!(reshard.status.success(), "reshard --rebalance failed");
    // `reshard` returns once the primaries own their slots; replicas learn the
    // new map from gossip a moment later.
    let mut status = Value::Null;
    wait_until(
        "every node to agree on the slot map",
        Duration::from_secs(10),
        || {
            status = env.json(&["status", "--name", &name, "--json"]);
            status["cluster"]["nodes_agree"] == true
        },
    );
    assert_healthy(&status, 7);
    for p in ["s1n1", "s2n1", "s3n1", "s4n1"] {
        let slots = node(&status, p)["slots"].as_u64().unwrap() as f64;
        assert!(
            (slots - IDEAL).abs() <= IDEAL * TOLERANCE,
            "{p} serves {slots} slots, not within 2% of {IDEAL}"
        );
    }
    assert!(node(&status, "s4n1")["keys"].as_u64().unwrap() > 0);
    let check = env.json(&["check", "--name", &name, "--json"]);
    assert_eq!(check["ok"], true, "{check}");
    rt.block_on(async {
        let client = cluster_client(&address_map(&status), &ClientOptions::default()).unwrap();
        let mut con = client.get_async_connection().await.unwrap();
        for i in 0..KEYS {
            let v: usize = con.get(format!("key:{i}")).await.unwrap();
            assert_eq!(v, i, "key:{i}");
        }
    });

    // A replica of the new primary, in its shard.
    let added = env.json(&[
        "add-node",
        "--name",
        &name,
        "--replica-of",
        "s4n1",
        "--json",
    ]);
    eprintln!("{}: add-node (replica) {}", env.runtime, added["timings"]);
    assert_eq!(added["node"], "s4n2", "{added}");
    let status = env.json(&["status", "--name", &name, "--json"]);
    assert_healthy(&status, 8);
    let s4n2 = node(&status, "s4n2");
    assert_eq!(s4n2["role"], "replica", "{s4n2}");
    assert_eq!(s4n2["replica_of"], "s4n1", "{s4n2}");
    assert_eq!(
        node(&status, "s4n1")["primary_of"],
        serde_json::json!(["s4n2"])
    );

    // `down` removes the added nodes with the rest.
    let down = env.json(&["down", "--name", &name, "--json"]);
    if env.runtime == "docker" {
        assert_eq!(down["containers"], 8, "{down}");
        assert_eq!(down["networks"], 1, "{down}");
    } else {
        assert_eq!(down["processes"], 8, "{down}");
        assert_eq!(down["dirs"], 1, "{down}");
    }
    std::mem::forget(guard);
    assert_nothing_left(env, &run_id);
}

crate::on_both_runtimes!(
    process_add_node_grow_rebalance_replicate,
    docker_add_node_grow_rebalance_replicate,
    grow_rebalance_replicate_down
);

/// Bad input starts nothing; a panic after the new node started removes it
/// again and leaves the cluster as it was.
fn failed_add_leaves_nothing(env: &Env) {
    let name = unique_name("half");
    let guard = Up {
        env,
        name: name.clone(),
    };
    let t = topology("cluster-3x1.yaml");
    let up = env.json(&["up", t.to_str().unwrap(), "--name", &name, "--json"]);
    let run_id = up["run_id"].as_str().unwrap().to_string();

    let bad = env.run(&["add-node", "--name", &name, "--replica-of", "nosuch"]);
    assert_eq!(bad.status.code(), Some(2), "unknown primary is bad input");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no node named `nosuch`"));
    let replica = env.run(&["add-node", "--name", &name, "--replica-of", "s1n2"]);
    assert_eq!(
        replica.status.code(),
        Some(2),
        "a replica cannot be replicated"
    );

    let out = env
        .command(&["add-node", "--name", &name])
        .env("REDIS_DRILL_INJECT", "panic-after-add-node")
        .output()
        .expect("running redis-drill");
    assert!(
        !out.status.success(),
        "the injected panic did not fail add-node"
    );
    let status = env.json(&["status", "--name", &name, "--json"]);
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

    env.json(&["down", "--name", &name, "--json"]);
    std::mem::forget(guard);
    assert_nothing_left(env, &run_id);
}

crate::on_both_runtimes!(
    process_failed_add_node_leaves_nothing,
    docker_failed_add_node_leaves_nothing,
    failed_add_leaves_nothing
);
