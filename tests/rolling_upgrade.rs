//! The shipped rolling-upgrade drill end to end through the real binary: a
//! Redis 7.0 cluster moved to Valkey 9.1 node by node under load passes
//! with no acknowledged write lost and every key still there; each step is
//! a row of the report; the rollback to Redis 7.0 is refused and says why;
//! the cluster left behind runs Valkey 9.1 only, with no ghost of a removed
//! node in any node's table, and `redis-cli --cluster check` agrees.

mod common;

use std::path::PathBuf;

use common::*;
use redis_drill::exit;
use redis_drill::report::Verdict;

fn shipped(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

/// The nodes the drill starts with, and the ones it ends with (each shard's
/// replica replaced first, then its primary; names never reused).
const OLD: [&str; 6] = ["s1n2", "s1n1", "s2n2", "s2n1", "s3n2", "s3n1"];
const NEW: [&str; 6] = ["s1n3", "s1n4", "s2n3", "s2n4", "s3n3", "s3n4"];

fn upgrade_passes(env: &Env) {
    let mut d = env.drill(&shipped("rolling-upgrade.yaml"), &["--keep", "--seed", "1"]);
    d.assert_code(exit::SUCCESS);
    let r = d.report();
    assert_eq!(r.verdict, Verdict::Pass, "{}", d.stdout);
    let c = &r.checks;
    assert_eq!(c.lost_acknowledged_writes, 0, "{c:?}");
    assert_eq!(c.lost_writes, 0, "{c:?}");
    assert!(c.acknowledged_writes > 1000, "{c:?}");
    assert_eq!((c.keys_before, c.keys_after), (20_000, 20_000), "{c:?}");
    assert!(c.cluster_check_ok, "{c:?}");
    // The end state was read from the new nodes, and they all run Valkey 9.1.
    let servers = &r.environment.servers;
    assert_eq!(
        servers.keys().map(String::as_str).collect::<Vec<_>>(),
        NEW,
        "{servers:?}"
    );
    assert!(
        servers.values().all(|s| s.starts_with("valkey 9.1")),
        "{servers:?}"
    );

    // One row per step: six replacements, then the refused rollback.
    assert_eq!(r.faults.len(), 7, "{:?}", r.faults);
    for (f, (old, new)) in r.faults.iter().zip(OLD.iter().zip(NEW)) {
        assert_eq!(f.fault, "replace");
        assert_eq!(f.nodes, [*old, new], "{f:?}");
        assert!(
            f.detail.starts_with(&format!("{old} (redis 7.0")) && f.detail.contains("valkey 9.1"),
            "{}",
            f.detail
        );
        // A primary hands its shard over by a coordinated failover.
        assert_eq!(f.promoted_after_ms.is_some(), old.ends_with("n1"), "{f:?}");
    }
    let rollback = &r.faults[6];
    assert_eq!(rollback.nodes, ["s1n4", "s1n5"], "{rollback:?}");
    assert!(
        rollback.detail.starts_with("refused: s1n5 (redis 7.0")
            && rollback.detail.contains("RDB format version"),
        "{}",
        rollback.detail
    );

    // The cluster it left: the new nodes only, no node lists a removed one
    // (by id or address), and redis-cli's check agrees.
    let up = d.kept.take().expect("--keep left the topology up");
    let status = up.status();
    let mut names: Vec<&str> = status.nodes.iter().map(|n| n.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, NEW, "{status:?}");
    for n in &status.nodes {
        let nodes = redis_cli(&n.address, &["CLUSTER", "NODES"]);
        assert_eq!(nodes.lines().count(), 6, "{} lists:\n{nodes}", n.name);
        assert!(!nodes.contains("fail"), "{} lists:\n{nodes}", n.name);
    }
    assert!(up.check().ok);
    assert_redis_cli_check_clean(&up, &status, "s1n4");
    let removed = up.down();
    if env.runtime == "docker" {
        // The six new nodes and the clients' container.
        assert_eq!(removed.containers, 7, "{removed:?}");
    } else {
        assert_eq!(removed.processes, 6, "{removed:?}");
    }
}

/// `redis-cli -h IP -p PORT ARGS...`, its output.
fn redis_cli(addr: &std::net::SocketAddr, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(args)
        .bounded_output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

crate::on_both_runtimes!(
    process_rolling_upgrade_passes_and_the_rollback_is_refused,
    docker_rolling_upgrade_passes_and_the_rollback_is_refused,
    upgrade_passes
);

/// A replace whose server is unknown is refused at its line (exit 2); one
/// whose binary is missing is refused before anything starts (exit 3,
/// naming the path), on the process runtime, which would start it.
#[test]
fn a_replace_to_an_unknown_or_missing_server_is_refused_before_anything_starts() {
    let env = Env::new("process");
    let topology = shipped("../topologies/cluster-3x1-redis70.yaml");
    let scenario = |server: &str| {
        env.write(
            "bad.yaml",
            &format!(
                "name: bad\ntopology: {}\nfaults:\n  - {{fault: replace, target: s1n2, server: {server}}}\nslo:\n  max_lost_keys: 0\n",
                topology.display()
            ),
        )
    };
    let out = env.run(&["run", scenario("valkey-7").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(exit::BAD_INPUT), "{err}");
    assert!(
        err.contains("bad.yaml:4") && err.contains("valkey-7"),
        "{err}"
    );
    let out = env.run(&[
        "run",
        scenario("/nonexistent/valkey-server").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(exit::ENVIRONMENT), "{err}");
    assert!(err.contains("/nonexistent/valkey-server"), "{err}");
    assert!(!err.contains(" is up"), "something was started: {err}");
}
