//! Bring the example topologies up on both runtimes through the real binary,
//! check them with our check and with `redis-cli --cluster check` (which must
//! agree), move data through the cluster client, control nodes, and make sure
//! `down` leaves nothing behind.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use redis::AsyncCommands;
use redis_drill::cluster::{ClientOptions, cluster_client};
use serde_json::Value;

/// `redis-cli --cluster check` from where the runtime lets us reach the nodes:
/// inside a node's container for docker (container IPs are not for the host),
/// on the host for processes.
fn redis_cli_check(env: &Env, name: &str, status: &Value) -> (bool, String) {
    let out = if env.runtime == "docker" {
        env.run(&[
            "exec",
            "s1n1",
            "--name",
            name,
            "--",
            "redis-cli",
            "--cluster",
            "check",
            "127.0.0.1:6379",
        ])
    } else {
        let a = node(status, "s1n1")["address"]
            .as_str()
            .unwrap()
            .to_string();
        std::process::Command::new("redis-cli")
            .args(["--cluster", "check", &a])
            .output()
            .expect("redis-cli")
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let ok = out.status.success() && !text.contains("[ERR]") && !text.contains("[WARNING]");
    (ok, text)
}

fn cluster_round_trip(env: &Env) {
    let name = unique_name("c3x1");
    let guard = Up {
        env,
        name: name.clone(),
    };
    let t = topology("cluster-3x1.yaml");
    let up = env.json(&["up", t.to_str().unwrap(), "--name", &name, "--json"]);
    let run_id = up["run_id"].as_str().unwrap().to_string();
    eprintln!("{} up in {} ms", env.runtime, up["timings"]["total_ms"]);

    // The report right after `up`: 3 primaries with one replica each, every slot
    // served once, a healthy cluster.
    let status = env.json(&["status", "--name", &name, "--json"]);
    assert_eq!(status["kind"], "cluster");
    assert_eq!(status["runtime"], env.runtime);
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 6);
    for shard in 1..=3 {
        let p = node(&status, &format!("s{shard}n1"));
        let r = node(&status, &format!("s{shard}n2"));
        assert_eq!(p["role"], "primary", "{p}");
        assert_eq!(r["role"], "replica", "{r}");
        assert_eq!(r["replica_of"], format!("s{shard}n1"));
        assert_eq!(p["primary_of"], serde_json::json!([format!("s{shard}n2")]));
        assert!(p["address"].as_str().unwrap().starts_with("127."), "{p}");
        assert!(p["used_memory_bytes"].as_u64().unwrap() > 0);
    }
    let slots: u64 = nodes.iter().map(|n| n["slots"].as_u64().unwrap()).sum();
    assert_eq!(slots, 16384);
    assert_eq!(
        node(&status, "s1n1")["slot_ranges"],
        serde_json::json!(["0-5460"])
    );
    assert_eq!(status["cluster"]["state"], "ok");
    assert_eq!(status["cluster"]["slots_assigned"], 16384);
    assert_eq!(status["cluster"]["nodes_agree"], true);

    // Our check and redis-cli's agree that it is healthy.
    let ours = env.json(&["check", "--name", &name, "--json"]);
    let (theirs, text) = redis_cli_check(env, &name, &status);
    assert_eq!(ours["ok"], true, "{ours}");
    assert!(theirs, "redis-cli --cluster check disagrees:\n{text}");
    assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
    assert!(
        text.contains("[OK] All nodes agree about slots configuration."),
        "{text}"
    );

    // Keys written through the cluster client (following MOVED through the
    // address map) read back, and land on every shard.
    const KEYS: usize = 600;
    let map = address_map(&status);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = cluster_client(&map, &ClientOptions::default()).unwrap();
        let mut con = client.get_async_connection().await.unwrap();
        for i in 0..KEYS {
            let _: () = con
                .set(format!("key:{i}"), format!("value-{i}"))
                .await
                .unwrap();
        }
        for i in 0..KEYS {
            let v: String = con.get(format!("key:{i}")).await.unwrap();
            assert_eq!(v, format!("value-{i}"));
        }
    });
    let status = env.json(&["status", "--name", &name, "--json"]);
    let mut total = 0;
    for shard in 1..=3 {
        let keys = node(&status, &format!("s{shard}n1"))["keys"]
            .as_u64()
            .unwrap();
        assert!(keys > 100, "shard {shard} holds only {keys} keys");
        total += keys;
    }
    assert_eq!(total as usize, KEYS);

    let down = env.json(&["down", "--name", &name, "--json"]);
    if env.runtime == "docker" {
        assert_eq!(down["containers"], 6);
        assert_eq!(down["networks"], 1);
    } else {
        assert_eq!(down["processes"], 6);
        assert_eq!(down["dirs"], 1);
    }
    std::mem::forget(guard);
    assert_nothing_left(env, &run_id);
    let after = env.run(&["status", "--name", &name]);
    assert_eq!(
        after.status.code(),
        Some(2),
        "status of a topology that is down is bad input"
    );
}

crate::on_both_runtimes!(
    process_cluster_3x1_up_check_data_down,
    docker_cluster_3x1_up_check_data_down,
    cluster_round_trip
);

async fn ping(a: SocketAddr) -> Result<String, String> {
    let client = redis::Client::open(format!("redis://{a}/")).map_err(|e| e.to_string())?;
    let cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(300)))
        .set_response_timeout(Some(Duration::from_millis(300)));
    let mut c = client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
        .map_err(|e| e.to_string())?;
    redis::cmd("PING")
        .query_async(&mut c)
        .await
        .map_err(|e| e.to_string())
}

/// A replicated topology comes up with its replicas attached; pause, resume,
/// kill and start act on the right node.
fn replicated_and_node_control(env: &Env) {
    let name = unique_name("r1x2");
    let _guard = Up {
        env,
        name: name.clone(),
    };
    let t = topology("replicated-1x2.yaml");
    env.json(&["up", t.to_str().unwrap(), "--name", &name, "--json"]);
    let status = env.json(&["status", "--name", &name, "--json"]);
    assert_eq!(status["cluster"], Value::Null);
    assert_eq!(node(&status, "n1")["role"], "primary");
    assert_eq!(
        node(&status, "n1")["primary_of"],
        serde_json::json!(["n2", "n3"])
    );
    for r in ["n2", "n3"] {
        assert_eq!(node(&status, r)["role"], "replica");
        assert_eq!(node(&status, r)["replica_of"], "n1");
    }
    let n2 = addr(&node(&status, "n2")["address"]);
    let n3 = addr(&node(&status, "n3")["address"]);
    let rt = tokio::runtime::Runtime::new().unwrap();

    // pause: the node stops answering but keeps its socket; resume brings it back.
    assert!(env.run(&["pause", "n2", "--name", &name]).status.success());
    let paused = rt.block_on(ping(n2));
    assert!(paused.is_err(), "a paused node answered: {paused:?}");
    assert!(env.run(&["resume", "n2", "--name", &name]).status.success());
    assert_eq!(rt.block_on(ping(n2)), Ok("PONG".to_string()));

    // kill: gone from the report; start: back as a replica of n1.
    assert!(env.run(&["kill", "n3", "--name", &name]).status.success());
    wait_until("n3 to stop answering", Duration::from_secs(10), || {
        rt.block_on(ping(n3)).is_err()
    });
    let status = env.json(&["status", "--name", &name, "--json"]);
    assert!(
        node(&status, "n3")["error"].is_string(),
        "{}",
        node(&status, "n3")
    );
    assert!(env.run(&["start", "n3", "--name", &name]).status.success());
    wait_until(
        "n3 to rejoin as a replica of n1",
        Duration::from_secs(20),
        || {
            let s = env.json(&["status", "--name", &name, "--json"]);
            node(&s, "n3")["replica_of"] == "n1"
        },
    );
    // restart and stop/start: the node comes back as a replica of n1, at the
    // same address.
    assert!(
        env.run(&["restart", "n2", "--name", &name])
            .status
            .success()
    );
    assert_eq!(rt.block_on(ping(n2)), Ok("PONG".to_string()));
    assert!(env.run(&["stop", "n2", "--name", &name]).status.success());
    wait_until("n2 to stop answering", Duration::from_secs(15), || {
        rt.block_on(ping(n2)).is_err()
    });
    assert!(env.run(&["start", "n2", "--name", &name]).status.success());
    wait_until(
        "n2 to rejoin as a replica of n1",
        Duration::from_secs(20),
        || {
            let s = env.json(&["status", "--name", &name, "--json"]);
            node(&s, "n2")["replica_of"] == "n1"
                && node(&s, "n2")["address"] == node(&status, "n2")["address"]
        },
    );
    let logs = env.run(&["logs", "n1", "--name", &name, "--tail", "200"]);
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("Synchronization with replica"),
        "n1's log shows no sync"
    );
}

crate::on_both_runtimes!(
    process_replicated_node_control,
    docker_replicated_node_control,
    replicated_and_node_control
);

#[test]
fn process_standalone_five_primaries() {
    let env = Env::new("process");
    let name = unique_name("s5");
    let _guard = Up {
        env: &env,
        name: name.clone(),
    };
    let t = topology("standalone-5.yaml");
    env.json(&["up", t.to_str().unwrap(), "--name", &name, "--json"]);
    let status = env.json(&["status", "--name", &name, "--json"]);
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 5);
    assert!(
        nodes
            .iter()
            .all(|n| n["role"] == "primary" && n["primary_of"] == serde_json::json!([]))
    );
    // Each node on its own loopback address, so a partition can tell them apart.
    let mut ips: Vec<&str> = nodes
        .iter()
        .map(|n| n["address"].as_str().unwrap().split(':').next().unwrap())
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 5);
}

#[test]
fn process_down_all_removes_every_run_and_status_lists_them() {
    let env = Env::new("process");
    let (a, b) = (unique_name("all-a"), unique_name("all-b"));
    let _ga = Up {
        env: &env,
        name: a.clone(),
    };
    let _gb = Up {
        env: &env,
        name: b.clone(),
    };
    let t = topology("standalone-5.yaml");
    env.json(&["up", t.to_str().unwrap(), "--name", &a, "--json"]);
    env.json(&["up", t.to_str().unwrap(), "--name", &b, "--json"]);
    // A second `up` under a name that is taken is refused, and starts nothing.
    let again = env.run(&["up", t.to_str().unwrap(), "--name", &a]);
    assert_eq!(again.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already up"));
    let list = env.json(&["status", "--all", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&a.as_str()) && names.contains(&b.as_str()));
    // `status` without --name is ambiguous now, and says so.
    let ambiguous = env.run(&["status"]);
    assert_eq!(ambiguous.status.code(), Some(2));
    let removed = env.json(&["down", "--all", "--json"]);
    assert_eq!(removed["processes"], 10);
    assert_eq!(removed["dirs"], 2);
    assert!(processes_mentioning(env.state.path()).is_empty());
    assert!(
        std::fs::read_dir(env.state.path())
            .unwrap()
            .next()
            .is_none()
    );
}
