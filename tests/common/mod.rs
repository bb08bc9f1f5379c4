//! Shared harness for integration tests: run the real `redis-drill` binary,
//! make sure whatever a test brought up is taken down (a guard, also on panic),
//! and decide what happens when Docker is missing.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_redis-drill");

/// Where the example topologies live.
pub fn topology(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("topologies")
        .join(name)
}

/// Whether a Docker engine answers. When it does not: with
/// REDIS_DRILL_REQUIRE_DOCKER=1 (CI) the test fails; otherwise it is skipped
/// with a note.
pub fn docker_or_skip(test: &str) -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("REDIS_DRILL_REQUIRE_DOCKER").as_deref() == Ok("1") {
            panic!("{test}: REDIS_DRILL_REQUIRE_DOCKER=1 but no Docker engine answers");
        }
        eprintln!(
            "{test}: skipped: no Docker engine answers (set REDIS_DRILL_REQUIRE_DOCKER=1 to fail instead)"
        );
    }
    ok
}

/// Whether this process is root, as partitions on the process runtime and
/// joining a container's network namespace need. When not, a test checks the
/// refusal instead and says so — unless REDIS_DRILL_REQUIRE_ROOT=1 (as CI
/// sets), which makes it fail.
pub fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        if std::env::var("REDIS_DRILL_REQUIRE_ROOT").as_deref() == Ok("1") {
            panic!("{test}: REDIS_DRILL_REQUIRE_ROOT=1 but this is not root");
        }
        eprintln!(
            "{test}: not root, so only the refusal is checked (set REDIS_DRILL_REQUIRE_ROOT=1 to fail instead)"
        );
    }
    root
}

/// Two tests that run `$body(&Env)`: `$process` on the process runtime, and
/// `$docker` on Docker — skipped with a note when no engine answers, failing
/// instead under REDIS_DRILL_REQUIRE_DOCKER=1 (see [`docker_or_skip`]).
#[macro_export]
macro_rules! on_both_runtimes {
    ($process:ident, $docker:ident, $body:ident) => {
        #[test]
        fn $process() {
            $body(&Env::new("process"));
        }

        #[test]
        fn $docker() {
            if docker_or_skip(stringify!($docker)) {
                $body(&Env::new("docker"));
            }
        }
    };
}

/// A unique name for a test's topology, so tests never collide.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// One test's environment: a runtime and a private process-runtime state dir.
pub struct Env {
    pub runtime: &'static str,
    pub state: tempfile::TempDir,
}

impl Env {
    pub fn new(runtime: &'static str) -> Env {
        Env {
            runtime,
            state: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("REDIS_DRILL_RUNTIME", self.runtime)
            .env("REDIS_DRILL_STATE_DIR", self.state.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    }

    /// Run to completion, returning the output (never panics on a non-zero exit).
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("running redis-drill");
        eprintln!(
            "$ redis-drill {} -> {:?}\n{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Run, assert success, and parse stdout as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "redis-drill {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "redis-drill {}: stdout is not JSON ({e}):\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

/// Takes a named topology down when dropped, whatever happened.
pub struct Up<'a> {
    pub env: &'a Env,
    pub name: String,
}

impl Drop for Up<'_> {
    fn drop(&mut self) {
        let _ = self.env.command(&["down", "--name", &self.name]).output();
    }
}

/// Poll `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    for _ in 0..(timeout.as_millis() / 20 + 1) {
        if cond() {
            return;
        }
        if started.elapsed() > timeout {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// The run id a command printed on stderr (`... run id 1a2b3c4d ...`).
pub fn run_id_in(stderr: &str) -> Option<String> {
    stderr
        .split("run id ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .map(str::to_string)
}

/// Docker containers and networks carrying `label` (e.g. `redis-drill.run-id=abc`).
pub fn docker_leftovers(label: &str) -> Vec<String> {
    let mut out = Vec::new();
    for args in [
        vec![
            "ps",
            "-a",
            "--filter",
            &format!("label={label}"),
            "--format",
            "container {{.Names}}",
        ],
        vec![
            "network",
            "ls",
            "--filter",
            &format!("label={label}"),
            "--format",
            "network {{.Name}}",
        ],
    ] {
        let o = Command::new("docker")
            .args(&args)
            .output()
            .expect("docker cli");
        out.extend(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string),
        );
    }
    out
}

/// Live redis-server processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &Path) -> Vec<i32> {
    let needle = needle.to_string_lossy().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with(['Z', 'X']));
            String::from_utf8_lossy(&cmd).contains(&needle) && !zombie
        })
        .collect()
}

/// Write a topology file into `dir` and return its path.
pub fn write_topology(dir: &Path, file: &str, yaml: &str) -> PathBuf {
    let p = dir.join(file);
    std::fs::write(&p, yaml).expect("write topology");
    p
}

/// Nothing of `run_id` is left: no container or network labelled with it
/// (docker), no run directory and no redis-server in the state dir (process).
pub fn assert_nothing_left(env: &Env, run_id: &str) {
    if env.runtime == "docker" {
        let left = docker_leftovers(&format!("redis-drill.run-id={run_id}"));
        assert!(left.is_empty(), "left behind: {left:?}");
    } else {
        let dir = env.state.path().join(run_id);
        assert!(!dir.exists(), "{} still exists", dir.display());
        let procs = processes_mentioning(env.state.path());
        assert!(procs.is_empty(), "redis-server processes left: {procs:?}");
    }
}

/// A socket address from a JSON string.
pub fn addr(v: &serde_json::Value) -> std::net::SocketAddr {
    v.as_str()
        .expect("address string")
        .parse()
        .expect("socket address")
}

/// The address map (announce -> host address) from `status --json`.
pub fn address_map(status: &serde_json::Value) -> redis_drill::cluster::AddressMap {
    let mut map = redis_drill::cluster::AddressMap::new();
    for n in status["nodes"].as_array().expect("nodes") {
        map.insert(
            n["name"].as_str().expect("name"),
            addr(&n["announce"]),
            addr(&n["address"]),
        )
        .expect("a loopback address");
    }
    map
}

/// The node called `name` in `status --json`.
pub fn node<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {status}"))
}
