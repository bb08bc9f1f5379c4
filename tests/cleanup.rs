//! Nothing is left behind: an `up` interrupted by SIGINT half-way, and an `up`
//! that fails (a port already taken, an image that does not exist), remove every
//! container, network, process and directory they created, and exit with the
//! documented code.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use redis_drill::exit;

/// Whether anything of `run_id` exists yet.
fn something_exists(env: &Env, run_id: &str) -> bool {
    if env.runtime == "docker" {
        docker_leftovers(&format!("redis-drill.run-id={run_id}"))
            .iter()
            .any(|l| l.starts_with("container"))
    } else {
        !processes_mentioning(&env.state.path().join(run_id)).is_empty()
    }
}

fn sigint_mid_up(env: &Env) {
    let guard = env.guard("sigint");
    let name = guard.name.clone();
    let t = topology("cluster-3x1.yaml");
    let mut child = env
        .command(&["up", t.to_str().unwrap(), "--name", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn up");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let run_id = run_id_in(&first).unwrap_or_else(|| panic!("no run id in {first:?}"));
    // Interrupt once nodes exist but before the cluster is made (that takes at
    // least 2 s: Redis's writable delay), i.e. truly mid-way.
    wait_until("the run's first node", Duration::from_secs(30), || {
        something_exists(env, &run_id)
    });
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "up did not exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
    eprintln!("{first}{rest}");
    assert_eq!(
        status.code(),
        Some(exit::INTERRUPTED),
        "exit code after SIGINT"
    );
    assert!(rest.contains("SIGINT"), "{rest}");
    assert_nothing_left(env, &run_id);
}

crate::on_both_runtimes!(
    process_up_interrupted_by_sigint_leaves_nothing,
    docker_up_interrupted_by_sigint_leaves_nothing,
    sigint_mid_up
);

/// `up` of `yaml` must fail with `code`, say `expect`, and leave nothing.
fn failing_up(env: &Env, yaml: &str, code: i32, expect: &[&str]) {
    let guard = env.guard("fail");
    let name = guard.name.clone();
    let file = env.write("t.yaml", yaml);
    let out = env.run(&["up", file.to_str().unwrap(), "--name", &name]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    for e in expect {
        assert!(stderr.contains(e), "expected {e:?} in:\n{stderr}");
    }
    let run_id = run_id_in(&stderr).expect("run id printed");
    assert_nothing_left(env, &run_id);
}

#[test]
fn docker_up_with_a_taken_port_fails_and_leaves_nothing() {
    if !docker_or_skip("docker_up_with_a_taken_port_fails_and_leaves_nothing") {
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let yaml = format!(
        "name: porttaken\nkind: cluster\ncluster:\n  shards: 3\n  replicas: 1\noverrides:\n  s2n2:\n    port: {port}\n"
    );
    failing_up(
        &Env::new("docker"),
        &yaml,
        exit::ENVIRONMENT,
        &[&format!("port {port}"), "s2n2"],
    );
}

#[test]
fn process_up_with_a_taken_port_fails_and_leaves_nothing() {
    // Each node has its own loopback address, so only a wildcard listener
    // takes a node's port on every address.
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let yaml = format!(
        "name: porttaken\nkind: standalone\nstandalone:\n  primaries: 3\noverrides:\n  n3:\n    port: {port}\n"
    );
    failing_up(
        &Env::new("process"),
        &yaml,
        exit::ENVIRONMENT,
        &[&format!("port {port}"), "n3"],
    );
}

#[test]
fn docker_up_with_a_missing_image_fails_and_leaves_nothing() {
    if !docker_or_skip("docker_up_with_a_missing_image_fails_and_leaves_nothing") {
        return;
    }
    let yaml = "name: badimage\nkind: standalone\nimage: redis-drill/no-such-image:nope\nstandalone:\n  primaries: 2\n";
    failing_up(
        &Env::new("docker"),
        yaml,
        exit::ENVIRONMENT,
        &["redis-drill/no-such-image:nope", "not present locally"],
    );
}

/// A directive redis-server rejects at start: the node exits at once, and the
/// error names it and shows its log, instead of waiting out the timeout.
fn node_that_cannot_start(env: &Env) {
    let yaml = "name: badconf\nkind: standalone\nstandalone:\n  primaries: 2\noverrides:\n  n2:\n    redis:\n      maxmemory-policy: no-such-policy\n";
    let started = Instant::now();
    failing_up(
        env,
        yaml,
        exit::ENVIRONMENT,
        &["n2", "not running", "no-such-policy"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}: the wait did not notice the exit",
        started.elapsed()
    );
}

#[test]
fn docker_up_of_a_node_that_cannot_start_fails_fast_and_leaves_nothing() {
    if docker_or_skip("docker_up_of_a_node_that_cannot_start_fails_fast_and_leaves_nothing") {
        node_that_cannot_start(&Env::new("docker"));
    }
}

#[test]
fn process_up_of_a_node_that_cannot_start_fails_fast_and_leaves_nothing() {
    node_that_cannot_start(&Env::new("process"));
}

/// A panic half-way through `up` (injected once the nodes run) still removes
/// everything the run created.
fn panic_mid_up(env: &Env) {
    let guard = env.guard("panic");
    let name = guard.name.clone();
    let t = topology("cluster-3x1.yaml");
    let out = env
        .command(&["up", t.to_str().unwrap(), "--name", &name])
        .env("REDIS_DRILL_INJECT", "panic-after-nodes")
        .bounded_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(exit::ENVIRONMENT), "{stderr}");
    assert!(stderr.contains("panicked"), "{stderr}");
    let run_id = run_id_in(&stderr).expect("run id printed");
    assert_nothing_left(env, &run_id);
}

crate::on_both_runtimes!(
    process_up_that_panics_leaves_nothing,
    docker_up_that_panics_leaves_nothing,
    panic_mid_up
);

#[test]
fn bad_input_exits_2_and_names_the_place() {
    let env = Env::new("process");
    let file = env.write(
        "bad.yaml",
        "name: x\nkind: cluster\ncluster:\n  shards: 0\n",
    );
    for cmd in ["validate", "up", "compose"] {
        let out = env.run(&[cmd, file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(exit::BAD_INPUT), "{cmd}: {stderr}");
        assert!(
            stderr.contains("bad.yaml:4:"),
            "{cmd}: no file:line in {stderr}"
        );
    }
    let out = env.run(&[
        "validate",
        env.files.path().join("missing.yaml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(exit::BAD_INPUT));
    let out = env.run(&["status", "--name", "no-such-topology"]);
    assert_eq!(out.status.code(), Some(exit::BAD_INPUT));
    let out = env.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(exit::BAD_INPUT));
    // Nothing was started by any of it.
    assert!(
        std::fs::read_dir(env.state.path())
            .unwrap()
            .next()
            .is_none()
    );
}

/// A container redis-drill did not start, attached to a run's network by
/// hand (`docker run --network redis-drill-<run>` to look around), does not
/// keep `down` from removing the network: it is disconnected, the network
/// removed, and the container itself left running.
#[test]
fn docker_down_removes_the_network_a_foreign_container_was_attached_to() {
    if !docker_or_skip("docker_down_removes_the_network_a_foreign_container_was_attached_to") {
        return;
    }
    let env = Env::new("docker");
    let file = env.write(
        "one.yaml",
        "name: one\nkind: standalone\nstandalone: {primaries: 1}\n",
    );
    let up = env.up(&file, "foreign");
    let network = format!("redis-drill-{}", up.run_id);
    let foreign = Foreign(format!("not-redis-drill-{}", up.run_id));
    let started = std::process::Command::new("docker")
        .args(["run", "-d", "--name", &foreign.0, "--network", &network])
        .args(["redis-drill/redis:local", "--save", ""])
        .bounded_output()
        .expect("docker cli");
    assert!(started.status.success(), "{started:?}");
    // `down` run by hand, not through the guard: if it fails, the foreign
    // container is removed first (its guard is dropped before `up`'s), and
    // the guard's own `down` then removes the network.
    let down = env.run(&["down", "--name", &up.name]);
    let still = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{.State.Running}}", &foreign.0])
        .bounded_output()
        .expect("docker cli");
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(
        docker_leftovers(&format!("redis-drill.run-id={}", up.run_id)).is_empty(),
        "left behind"
    );
    assert_eq!(
        String::from_utf8_lossy(&still.stdout).trim(),
        "true",
        "the foreign container was not left alone"
    );
}

/// A container the test started itself, force-removed when dropped.
struct Foreign(String);

impl Drop for Foreign {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", &self.0])
            .bounded_output();
    }
}
