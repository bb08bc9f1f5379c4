//! Atomic slot migration (`reshard --method atomic`, Valkey 9.1's `CLUSTER
//! MIGRATESLOTS`): the slots and their keys move, the server's record comes
//! back, a Ctrl-C in the middle leaves no migration running and every slot
//! with one owner; jobs split by `--atomic-job-keys` move in slot order; a
//! server without it is refused before anything moves.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::bounded::Bounded as _;
use common::{Env, address, assert_redis_cli_check_clean, wait_until};

/// `redis-cli -h … -p … ARGS`, stdout.
fn cli(addr: SocketAddr, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(args)
        .stdin(Stdio::null())
        .bounded_output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Keys written with redis-benchmark (an independent client), `n` SETs of
/// `size` bytes over a keyspace of `n`, through its cluster mode.
fn load(addr: SocketAddr, n: usize, size: usize) {
    let out = Command::new("redis-benchmark")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(["--cluster", "-t", "set", "-P", "16", "-q"])
        .args(["-n", &n.to_string(), "-r", &n.to_string()])
        .args(["-d", &size.to_string()])
        .stdin(Stdio::null())
        .bounded_output()
        .expect("redis-benchmark runs");
    assert!(out.status.success(), "{out:?}");
}

/// The states of every slot migration a node lists (`CLUSTER GETSLOTMIGRATIONS`).
fn migration_states(addr: SocketAddr) -> Vec<String> {
    let text = cli(addr, &["CLUSTER", "GETSLOTMIGRATIONS"]);
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0] == "state")
        .map(|w| w[1].to_string())
        .collect()
}

fn terminal(state: &str) -> bool {
    matches!(state, "success" | "failed" | "cancelled")
}

/// Keys of `slots` on the node at `addr`, counted by redis-cli.
fn keys_in(addr: SocketAddr, slots: std::ops::RangeInclusive<u16>) -> u64 {
    slots
        .map(|s| {
            cli(addr, &["CLUSTER", "COUNTKEYSINSLOT", &s.to_string()])
                .trim()
                .parse::<u64>()
                .expect("a count")
        })
        .sum()
}

/// The node's own slot ranges, from its `myself` line of CLUSTER NODES.
fn own_ranges(addr: SocketAddr) -> String {
    let text = cli(addr, &["CLUSTER", "NODES"]);
    let me = text
        .lines()
        .find(|l| l.contains("myself"))
        .expect("a myself line");
    me.split_whitespace().skip(8).collect::<Vec<_>>().join(" ")
}

fn valkey_cluster(env: &Env) -> std::path::PathBuf {
    env.write(
        "vk.yaml",
        "name: vk\nkind: cluster\nserver: valkey-9.1\ncluster:\n  shards: 3\n  replicas: 1\n  node_timeout_ms: 2000\n",
    )
}

#[test]
fn atomic_reshard_moves_the_slots_and_a_ctrl_c_leaves_no_migration_running() {
    let env = Env::new("process");
    let up = env.up(&valkey_cluster(&env), "atomic");
    let status = up.status();
    let (s1, s2) = (address(&status, "s1n1"), address(&status, "s2n1"));
    load(s1, 30_000, 100);
    let before = keys_in(s1, 0..=999);
    assert!(before > 1000, "{before} keys in slots 0-999");

    let rep: serde_json::Value = up.json(&[
        "reshard", "--from", "s1n1", "--to", "s2n1", "--slots", "1000", "--method", "atomic",
    ]);
    assert_eq!(rep["method"], "atomic", "{rep}");
    assert_eq!(rep["slots_moved"], 1000, "{rep}");
    let m = &rep["migrations"][0];
    assert_eq!(m["state"], "success", "{rep}");
    assert_eq!(m["slot_ranges"], "0-999", "{rep}");
    assert_eq!(m["source"], "s1n1");
    assert_eq!(m["target"], "s2n1");
    // The engine's count beside redis-cli's, on the target, after the end.
    let on_target = keys_in(s2, 0..=999);
    assert_eq!(m["keys_on_target"], on_target, "{rep}");
    assert_eq!(on_target, before, "keys moved: {on_target} of {before}");
    assert_eq!(keys_in(s1, 0..=999), 0, "keys left on the source");
    let states: Vec<&str> = m["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.last(), Some(&"success"), "{states:?}");
    assert!(own_ranges(s2).contains("0-999"), "{}", own_ranges(s2));
    assert_redis_cli_check_clean(&up, &status, "s1n1");

    // Jobs of at most 800 keys: the next 1000 slots (about 5 500 keys) in
    // several jobs, one after another, each recorded, in slot order.
    let before = keys_in(s1, 1000..=1999);
    let rep: serde_json::Value = up.json(&[
        "reshard",
        "--from",
        "s1n1",
        "--to",
        "s2n1",
        "--slots",
        "1000",
        "--method",
        "atomic",
        "--atomic-job-keys",
        "800",
    ]);
    assert_eq!(rep["slots_moved"], 1000, "{rep}");
    let jobs = rep["migrations"].as_array().unwrap();
    assert!(
        jobs.len() >= (before as usize).div_ceil(800),
        "{} jobs for {before} keys: {rep}",
        jobs.len()
    );
    let mut next = 1000u64;
    let mut moved = 0u64;
    for j in jobs {
        assert_eq!(j["state"], "success", "{j}");
        let keys = j["keys_on_target"].as_u64().unwrap();
        assert!(keys <= 800, "a job of {keys} keys: {j}");
        let (a, b) = j["slot_ranges"].as_str().unwrap().split_once('-').unwrap();
        assert_eq!(a.parse::<u64>().unwrap(), next, "{rep}");
        next = b.parse::<u64>().unwrap() + 1;
        moved += keys;
    }
    assert_eq!(next, 2000, "{rep}");
    assert_eq!(moved, before, "{rep}");
    assert_eq!(keys_in(s2, 1000..=1999), before);
    assert_eq!(keys_in(s1, 1000..=1999), 0, "keys left on the source");
    // Splitting key-by-key moves means nothing: refused before anything moves.
    let out = up.run(&[
        "reshard",
        "--from",
        "s1n1",
        "--to",
        "s2n1",
        "--slots",
        "10",
        "--atomic-job-keys",
        "10",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--atomic-job-keys"),
        "{out:?}"
    );
    assert!(own_ranges(s1).starts_with("2000-"), "{}", own_ranges(s1));
    assert_redis_cli_check_clean(&up, &status, "s1n1");

    // Enough data on s1n1 that its snapshot takes a while; SIGINT once the
    // migration is seen running.
    load(s1, 600_000, 200);
    let mut child = env
        .command(&[
            "reshard", "--name", &up.name, "--from", "s1n1", "--to", "s2n1", "--slots", "3000",
            "--method", "atomic",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let seen = Instant::now();
    let mut running = false;
    while seen.elapsed() < Duration::from_secs(20) {
        if migration_states(s1).iter().any(|s| !terminal(s)) {
            running = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(running, "the migration was never seen running");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let until = Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        assert!(Instant::now() < until, "reshard did not exit after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("cancelled"), "{err}");
    // When the command has returned, no node runs a migration: the source's
    // export was cancelled and the target's import ended too.
    for n in ["s1n1", "s2n1", "s3n1"] {
        let states = migration_states(address(&status, n));
        assert!(states.iter().all(|s| terminal(s)), "{n}: {states:?}");
    }
    let s1_states = migration_states(s1);
    assert!(
        s1_states.contains(&"cancelled".to_string()),
        "{s1_states:?}"
    );
    // Every slot has one owner: the cancelled ones stayed on s1n1, nothing
    // of them on s2n1.
    assert!(own_ranges(s1).starts_with("2000-"), "{}", own_ranges(s1));
    assert_eq!(
        keys_in(s2, 2000..=2010),
        0,
        "imported keys left on the target"
    );
    wait_until(
        "every node sees all slots served",
        Duration::from_secs(10),
        || {
            ["s1n1", "s1n2", "s2n1", "s2n2", "s3n1", "s3n2"]
                .iter()
                .all(|n| {
                    cli(address(&status, n), &["CLUSTER", "INFO"])
                        .contains("cluster_slots_ok:16384")
                })
        },
    );
    assert_redis_cli_check_clean(&up, &status, "s1n1");
}

#[test]
fn atomic_on_a_server_without_it_is_refused_before_anything_moves_and_auto_moves_key_by_key() {
    let env = Env::new("process");
    let file = env.write(
        "r70.yaml",
        "name: r70\nkind: cluster\nserver: redis-7.0\ncluster:\n  shards: 3\n  replicas: 0\n",
    );
    let up = env.up(&file, "noatomic");
    let status = up.status();
    let s2 = address(&status, "s2n1");
    let before = own_ranges(s2);
    let out = up.run(&[
        "reshard", "--from", "s1n1", "--to", "s2n1", "--slots", "10", "--method", "atomic",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("s1n1, s2n1 have no atomic slot migration"),
        "{err}"
    );
    assert_eq!(own_ranges(s2), before, "something moved");

    let rep: serde_json::Value = up.json(&[
        "reshard", "--from", "s1n1", "--to", "s2n1", "--slots", "10", "--method", "auto",
    ]);
    assert_eq!(rep["method"], "keys", "{rep}");
    assert_eq!(rep["slots_moved"], 10, "{rep}");
    assert!(rep.get("migrations").is_none(), "{rep}");
}
