//! Servers other than the host's redis-server: Valkey 8.1 and 9.1 (the
//! binaries `./bootstrap.sh` installs), per topology and per node, on both
//! runtimes. What a node runs is what it reports, recorded in the report;
//! a server that cannot run is refused before anything starts.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use common::bounded::Bounded as _;
use common::{Env, address, docker_or_skip};
use redis_drill::exit;
use redis_drill::report::Verdict;

/// `INFO server`'s `valkey_version` (or `redis_version`) of the node at `addr`.
fn version(addr: SocketAddr) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(["INFO", "server"])
        .stdin(Stdio::null())
        .bounded_output()
        .expect("redis-cli runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
    };
    match field("valkey_version:") {
        Some(v) => format!("valkey {v}"),
        None => format!("redis {}", field("redis_version:").unwrap_or_default()),
    }
}

/// A 3×1 cluster (2 s node timeout) with `extra` appended.
fn cluster(env: &Env, name: &str, extra: &str) -> std::path::PathBuf {
    env.write(
        &format!("{name}.yaml"),
        &format!(
            "name: {name}\nkind: cluster\ncluster:\n  shards: 3\n  replicas: 1\n  node_timeout_ms: 2000\n{extra}"
        ),
    )
}

crate::on_both_runtimes!(
    a_valkey_9_cluster_fails_over_and_the_report_says_what_ran,
    a_valkey_9_cluster_on_docker_fails_over_and_the_report_says_what_ran,
    valkey_cluster
);

fn valkey_cluster(env: &Env) {
    let file = cluster(env, "valkey", "server: valkey-9.1\n");
    let up = env.up(&file, "vk");
    let status = up.status();
    for n in ["s1n1", "s1n2", "s3n2"] {
        let v = version(address(&status, n));
        assert!(v.starts_with("valkey 9.1."), "{n}: {v}");
    }
    let d = env.drill(
        Path::new("scenarios/cluster-manual-failover.yaml"),
        &["--name", &up.name],
    );
    let report = d.report();
    assert!(matches!(d.code, Some(0) | Some(1)), "{}", d.output());
    assert_ne!(report.verdict, Verdict::Unknown, "{}", d.output());
    let servers = &report.environment.servers;
    assert_eq!(servers.len(), 6, "{servers:?}");
    assert!(
        servers.values().all(|s| s.starts_with("valkey 9.1.")),
        "{servers:?}"
    );
    let md = std::fs::read_to_string(d.run_dir().join("report.md")).unwrap();
    assert!(
        md.contains(" · valkey 9.1."),
        "the engine line does not say valkey"
    );
    assert!(
        report.faults.len() == 1 && report.faults[0].skipped.is_none(),
        "{:?}",
        report.faults
    );
    // A node killed by the runtime (not through Redis) is seen to fail over:
    // the runtime knows a Valkey process as its own (it once did not, and a
    // kill found nothing to kill).
    let d = env.drill(
        Path::new("scenarios/cluster-failover.yaml"),
        &["--name", &up.name],
    );
    let report = d.report();
    let failover = report.slo.iter().find(|s| s.name == "max_failover_ms");
    assert!(
        failover.is_some_and(|s| s.result != Verdict::Unknown && s.value.is_some_and(|v| v > 0.0)),
        "{failover:?}: {}",
        d.output()
    );
    let run_id = up.run_id.clone();
    up.down();
    no_server_left(env, &run_id);
}

/// No server process of the run `run_id` is left (the process runtime's,
/// whatever their binary).
fn no_server_left(env: &Env, run_id: &str) {
    if env.runtime != "process" {
        return;
    }
    let out = Command::new("pgrep")
        .args(["-af", run_id])
        .bounded_output()
        .unwrap();
    let left = String::from_utf8_lossy(&out.stdout);
    assert!(
        !left.lines().any(|l| l.contains("-server")),
        "left running: {left}"
    );
}

#[test]
fn a_cluster_can_mix_servers_node_by_node() {
    let env = Env::new("process");
    let file = cluster(
        &env,
        "mixed",
        "overrides:\n  s1n2: {server: valkey-9.1}\n  s2n2: {server: valkey-8.1}\n",
    );
    let up = env.up(&file, "mix");
    let status = up.status();
    // The replicas of another server synced from their Redis 7.0 primaries.
    assert!(version(address(&status, "s1n1")).starts_with("redis "));
    assert!(version(address(&status, "s1n2")).starts_with("valkey 9.1."));
    assert!(version(address(&status, "s2n2")).starts_with("valkey 8.1."));
    let health = up.check();
    assert!(health.ok, "{health:?}");
    // A node of another server added later: a Valkey 9.1 replica of s3n1.
    let out = env.run(&[
        "add-node",
        "--name",
        &up.name,
        "--replica-of",
        "s3n1",
        "--server",
        "valkey-9.1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = up.status();
    assert!(version(address(&status, "s3n3")).starts_with("valkey 9.1."));
    let d = env.drill(
        Path::new("scenarios/cluster-manual-failover.yaml"),
        &["--name", &up.name],
    );
    let report = d.report();
    assert_ne!(report.verdict, Verdict::Unknown, "{}", d.output());
    let line = report.environment.server_line();
    assert!(
        line.starts_with("mixed: redis ")
            && line.contains("valkey 8.1.")
            && line.contains("valkey 9.1."),
        "{line}"
    );
    let run_id = up.run_id.clone();
    up.down();
    no_server_left(&env, &run_id);
}

#[test]
fn a_server_that_cannot_run_is_refused_before_anything_starts() {
    let env = Env::new("process");
    // An unknown name: bad input, naming the file, line and field.
    let unknown = cluster(&env, "unknown", "server: valkey-7.2\n");
    let out = env.run(&["up", unknown.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(exit::BAD_INPUT));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown.yaml:7:9: server: unknown server \"valkey-7.2\""),
        "{err}"
    );
    // A binary that is not there: an environment error naming the server
    // and how to install it; nothing made.
    let empty = tempfile::tempdir().unwrap();
    env.set_vars(&[("REDIS_DRILL_SERVERS", empty.path().to_str().unwrap())]);
    let missing = cluster(
        &env,
        "missing",
        "overrides:\n  s2n1: {server: valkey-9.1}\n",
    );
    let out = env.run(&["up", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(exit::ENVIRONMENT));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server valkey-9.1: no binary at") && err.contains("./bootstrap.sh"),
        "{err}"
    );
    let by_path = cluster(&env, "bypath", "server: /nonexistent/valkey-server\n");
    let out = env.run(&["up", by_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(exit::ENVIRONMENT));
    env.set_vars(&[]);
    // A build without TLS, asked for TLS.
    let tls = cluster(&env, "tls", "server: valkey-9.1\nsecurity:\n  tls: true\n");
    let out = env.run(&["up", tls.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(exit::ENVIRONMENT));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("built without TLS"), "{err}");
    // Nothing was started or left: no run folder, no process.
    let left: Vec<_> = std::fs::read_dir(env.state.path())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    if docker_or_skip("a_server_that_cannot_run_is_refused_before_anything_starts (docker)") {
        let docker = Env::new("docker");
        docker.set_vars(&[("REDIS_DRILL_SERVERS", empty.path().to_str().unwrap())]);
        let out = docker.run(&["up", missing.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(exit::ENVIRONMENT));
        // Other tests' containers may run beside this one: none of this
        // topology's.
        let names = Command::new("docker")
            .args(["ps", "-a", "--format", "{{.Names}}"])
            .bounded_output()
            .unwrap();
        let names = String::from_utf8_lossy(&names.stdout);
        assert!(!names.contains("missing"), "{names}");
    }
}

#[test]
fn a_matrix_runs_the_drill_once_per_server_and_sets_them_side_by_side() {
    let env = Env::new("process");
    let out = tempfile::tempdir().unwrap();
    // By method: only a drill that moves slots, and atomic only where the
    // servers have it; refused before anything starts.
    let o = env.run(&[
        "run",
        "scenarios/standalone-restart.yaml",
        "--methods",
        "atomic",
    ]);
    assert_eq!(o.status.code(), Some(exit::BAD_INPUT), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no `reshard:` step"),
        "{o:?}"
    );
    let o = env.run(&[
        "run",
        "scenarios/cluster-reshard.yaml",
        "--servers",
        "valkey-8.1",
        "--methods",
        "keys,atomic",
    ]);
    assert_eq!(o.status.code(), Some(exit::BAD_INPUT), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("s1n1 (valkey-8.1)"),
        "{o:?}"
    );
    let o = env.run(&[
        "run",
        "scenarios/standalone-restart.yaml",
        "--servers",
        "redis,valkey-9.1",
        "--seed",
        "3",
        "--out",
        out.path().to_str().unwrap(),
        "--json",
    ]);
    let m: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    let runs = m["runs"].as_array().expect("runs[]");
    assert_eq!(runs.len(), 2, "{m}");
    assert_eq!(runs[0]["variant"], "redis");
    assert_eq!(m["axis"], "servers", "{m}");
    assert!(
        runs[0]["reported"].as_str().unwrap().starts_with("redis "),
        "{m}"
    );
    assert!(
        runs[1]["reported"]
            .as_str()
            .unwrap()
            .starts_with("valkey 9.1."),
        "{m}"
    );
    assert_eq!(m["seed"], 3);
    // The exit code is the worst verdict's.
    let worst = if runs.iter().any(|r| r["entry"]["verdict"] == "fail") {
        exit::CHECK_FAILED
    } else if runs.iter().any(|r| r["entry"]["verdict"] == "unknown") {
        exit::UNKNOWN
    } else {
        exit::SUCCESS
    };
    assert_eq!(o.status.code(), Some(worst), "{m}");
    // Each run has its folder and report; the matrix its three files.
    for r in runs {
        let dir = Path::new(r["entry"]["run_dir"].as_str().expect("a run folder"));
        assert!(dir.join("report.json").is_file(), "{r}");
    }
    let matrix_dir = std::fs::read_dir(out.path().join("standalone-restart"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("matrix-")
        })
        .expect("a matrix folder");
    for f in ["matrix.md", "matrix.html", "matrix.json"] {
        assert!(matrix_dir.join(f).is_file(), "{f}");
    }
    let md = std::fs::read_to_string(matrix_dir.join("matrix.md")).unwrap();
    assert!(md.contains("| | redis | valkey-9.1 |"), "{md}");

    // A server that cannot run stops the matrix before any drill starts.
    let empty = tempfile::tempdir().unwrap();
    env.set_vars(&[("REDIS_DRILL_SERVERS", empty.path().to_str().unwrap())]);
    let o = env.run(&[
        "run",
        "scenarios/standalone-restart.yaml",
        "--servers",
        "redis,valkey-8.1",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(exit::ENVIRONMENT));
    assert!(String::from_utf8_lossy(&o.stderr).contains("server valkey-8.1: no binary"));
    assert!(std::fs::read_dir(env.state.path()).map_or(true, |mut d| d.next().is_none()));
    let o = env.run(&[
        "run",
        "scenarios/standalone-restart.yaml",
        "--servers",
        "keydb",
    ]);
    assert_eq!(o.status.code(), Some(exit::BAD_INPUT));
}
