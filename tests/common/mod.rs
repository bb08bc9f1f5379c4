//! Shared harness for integration tests: run the real `redis-drill` binary
//! and read what it prints through the library's own types.
//!
//! - [`Env`] is one test's world: a runtime, a private process-runtime state
//!   dir and a dir for the files the test writes. Nothing is shared between
//!   tests; every topology gets a name of its own ([`unique_name`]).
//! - [`Env::up`] brings a topology up and returns an [`UpGuard`] that takes
//!   it down when dropped, panics included.
//! - [`Env::drill`] runs a scenario into a run folder of its own and returns
//!   a [`Drilled`]: the exit code, stdout, stderr, the run id, the run folder
//!   and its `report.json` read as [`Report`]. With `--keep` the topology the
//!   drill left is taken down when the `Drilled` is dropped.
//! - [`docker_or_skip`], [`root_or_skip`] and [`on_both_runtimes!`] decide
//!   what happens without Docker or root (CI sets the variables that make
//!   those tests fail instead of skipping).
#![allow(dead_code)]

#[path = "bounded.rs"]
pub mod bounded;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use redis_drill::cluster::{AddressMap, Health};
use redis_drill::report::Report;
use redis_drill::runtime::Removed;
use redis_drill::status::{NodeStatus, StatusReport};
use redis_drill::topology::Role;

pub const BIN: &str = env!("CARGO_BIN_EXE_redis-drill");

pub use bounded::Bounded;

/// A shipped scenario (scenarios/).
pub fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

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
///
/// With `needs_root: "why"` both twins, with `process_needs_root: "why"` the
/// process twin, show as ignored with that reason in a build that is not
/// root (the `root` cfg of build.rs: made as root, or under
/// REDIS_DRILL_REQUIRE_ROOT=1), rather than pass having checked nothing.
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
    ($process:ident, $docker:ident, $body:ident, needs_root: $why:literal) => {
        #[test]
        #[cfg_attr(not(root), ignore = $why)]
        fn $process() {
            $body(&Env::new("process"));
        }

        #[test]
        #[cfg_attr(not(root), ignore = $why)]
        fn $docker() {
            if docker_or_skip(stringify!($docker)) {
                $body(&Env::new("docker"));
            }
        }
    };
    ($process:ident, $docker:ident, $body:ident, process_needs_root: $why:literal) => {
        #[test]
        #[cfg_attr(not(root), ignore = $why)]
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

/// One test's environment: a runtime, a private process-runtime state dir,
/// and a dir for the topology and scenario files the test writes.
pub struct Env {
    pub runtime: &'static str,
    pub state: tempfile::TempDir,
    pub files: tempfile::TempDir,
    /// Environment variables every command gets (credentials, say); the
    /// test's own `REDIS_DRILL_*` credentials are never inherited.
    pub vars: std::sync::Mutex<Vec<(String, String)>>,
}

/// The variables the tool reads credentials from (src/net/secure.rs).
const CREDENTIAL_VARS: [&str; 7] = [
    "REDIS_DRILL_CREDENTIALS",
    "REDIS_DRILL_USER",
    "REDIS_DRILL_PASSWORD",
    "REDIS_DRILL_TLS_CA",
    "REDIS_DRILL_TLS_CERT",
    "REDIS_DRILL_TLS_KEY",
    "REDIS_DRILL_TLS_SERVER_NAME",
];

impl Env {
    pub fn new(runtime: &'static str) -> Env {
        Env {
            runtime,
            state: tempfile::tempdir().expect("temp dir"),
            files: tempfile::tempdir().expect("temp dir"),
            vars: Default::default(),
        }
    }

    /// Every later command gets exactly these variables (besides the
    /// runtime's), replacing the ones set before.
    pub fn set_vars(&self, vars: &[(&str, &str)]) {
        *self.vars.lock().unwrap() = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    /// The binary with this test's runtime and state dir, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("REDIS_DRILL_RUNTIME", self.runtime)
            .env("REDIS_DRILL_STATE_DIR", self.state.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        for k in CREDENTIAL_VARS {
            c.env_remove(k);
        }
        c.envs(self.vars.lock().unwrap().iter().map(|(k, v)| (k, v)));
        c
    }

    /// Run to completion, returning the output (never panics on a non-zero exit).
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self
            .command(args)
            .bounded_output()
            .expect("running redis-drill");
        eprintln!(
            "$ redis-drill {} -> {:?}\n{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Run, assert success, and read stdout as a `T` (the command's `--json`
    /// output type).
    pub fn json<T: DeserializeOwned>(&self, args: &[&str]) -> T {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "redis-drill {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "redis-drill {}: stdout is not the JSON expected ({e}):\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// `status --name NAME --json`.
    pub fn status(&self, name: &str) -> StatusReport {
        self.json(&["status", "--name", name, "--json"])
    }

    /// `check --name NAME --json` (exit 0 or 1, both read).
    pub fn check(&self, name: &str) -> Health {
        let out = self.run(&["check", "--name", name, "--json"]);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "check --name {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("check --json prints a Health")
    }

    /// Write `text` to `file` in this test's files dir; its path.
    pub fn write(&self, file: &str, text: &str) -> PathBuf {
        let p = self.files.path().join(file);
        std::fs::write(&p, text).expect("write a test file");
        p
    }

    /// `up FILE --name <prefix>-… --json`: the topology, up, with a guard
    /// that takes it down when dropped.
    pub fn up(&self, file: &Path, prefix: &str) -> UpGuard<'_> {
        let name = unique_name(prefix);
        // The guard first: a failed `up` still gets a `down`.
        let mut guard = UpGuard {
            env: self,
            name: name.clone(),
            run_id: String::new(),
            up: None,
        };
        let up: redis_drill::bringup::UpReport =
            self.json(&["up", file.to_str().unwrap(), "--name", &name, "--json"]);
        assert_eq!(up.name, name);
        guard.run_id = up.run_id.clone();
        guard.up = Some(up);
        guard
    }

    /// A guard for a name of its own that the test brings up by hand (an
    /// `up` expected to fail, or to be interrupted): whatever it left is
    /// taken down on drop.
    pub fn guard(&self, prefix: &str) -> UpGuard<'_> {
        UpGuard {
            env: self,
            name: unique_name(prefix),
            run_id: String::new(),
            up: None,
        }
    }

    /// `run SCENARIO --out DIR EXTRA...`: the drill, with its run folder and
    /// typed report when it wrote one.
    pub fn drill(&self, scenario: &Path, extra: &[&str]) -> Drilled<'_> {
        let out = tempfile::tempdir().expect("temp dir");
        let mut args = vec![
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = self.run(&args);
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        let run_id = run_id_in(&stderr);
        // With --keep (and no --name) the drill's own topology stays up: its
        // name is `<scenario>-<run id>`, taken down by the guard.
        let kept = match (&run_id, extra.contains(&"--keep")) {
            (Some(id), true) if !extra.contains(&"--name") => {
                let scenario_name = scenario_name(scenario);
                Some(UpGuard {
                    env: self,
                    name: format!("{scenario_name}-{id}"),
                    run_id: id.clone(),
                    up: None,
                })
            }
            _ => None,
        };
        let run_dir = latest_run(out.path());
        let report = run_dir.as_ref().and_then(|d| {
            let path = d.join("report.json");
            let bytes = std::fs::read(&path).ok()?;
            Some(
                serde_json::from_slice::<Report>(&bytes)
                    .unwrap_or_else(|e| panic!("{}: not a report ({e})", path.display())),
            )
        });
        Drilled {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr,
            run_id,
            run_dir,
            report,
            kept,
            _out: out,
        }
    }
}

/// The `name:` of a scenario file.
fn scenario_name(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("the scenario file");
    text.lines()
        .find_map(|l| l.strip_prefix("name:"))
        .map(|n| n.trim().to_string())
        .expect("a scenario has a name")
}

/// The run folder `<out>/<scenario>/latest`, if a drill wrote one.
fn latest_run(out: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(out)
        .ok()?
        .flatten()
        .map(|e| e.path().join("latest"))
        .filter(|p| p.join("report.json").is_file())
        .collect();
    assert!(found.len() <= 1, "more than one run folder: {found:?}");
    found.pop()
}

/// A topology this test brought up; taken down when dropped, whatever happened.
pub struct UpGuard<'a> {
    pub env: &'a Env,
    pub name: String,
    pub run_id: String,
    /// What `up --json` printed (`None` for a topology a drill kept).
    pub up: Option<redis_drill::bringup::UpReport>,
}

impl UpGuard<'_> {
    /// The topology report now.
    pub fn status(&self) -> StatusReport {
        self.env.status(&self.name)
    }

    /// Where a client on this host reaches each node, from `status` now.
    pub fn endpoints(&self) -> AddressMap {
        address_map(&self.status())
    }

    /// Our check now.
    pub fn check(&self) -> Health {
        self.env.check(&self.name)
    }

    /// `ARGS --name NAME`, run (never panics on a non-zero exit).
    pub fn run(&self, args: &[&str]) -> Output {
        let mut a = args.to_vec();
        a.extend(["--name", &self.name]);
        self.env.run(&a)
    }

    /// `ARGS --name NAME --json`, asserting success, read as a `T`.
    pub fn json<T: DeserializeOwned>(&self, args: &[&str]) -> T {
        let mut a = args.to_vec();
        a.extend(["--name", &self.name, "--json"]);
        self.env.json(&a)
    }

    /// `down --name NAME`, asserting that nothing of the run is left; what
    /// `down` says it removed.
    pub fn down(mut self) -> Removed {
        let removed: Removed = self.env.json(&["down", "--name", &self.name, "--json"]);
        assert_nothing_left(self.env, &self.run_id);
        // Down already: the drop has nothing to do.
        self.name.clear();
        removed
    }
}

impl Drop for UpGuard<'_> {
    fn drop(&mut self) {
        if !self.name.is_empty() {
            let _ = self
                .env
                .command(&["down", "--name", &self.name])
                .bounded_output();
        }
    }
}

/// What a drill did: its exit code and output, and the run folder with the
/// report it wrote (none when it stopped before: bad input, an interrupt).
pub struct Drilled<'a> {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub run_id: Option<String>,
    pub run_dir: Option<PathBuf>,
    pub report: Option<Report>,
    /// The topology a `--keep` drill left up, taken down on drop.
    pub kept: Option<UpGuard<'a>>,
    _out: tempfile::TempDir,
}

impl Drilled<'_> {
    /// The report; panics with the drill's output when there is none.
    pub fn report(&self) -> &Report {
        self.report
            .as_ref()
            .unwrap_or_else(|| panic!("the drill wrote no report:\n{}", self.output()))
    }

    /// The run folder; panics with the drill's output when there is none.
    pub fn run_dir(&self) -> &Path {
        self.run_dir
            .as_deref()
            .unwrap_or_else(|| panic!("the drill wrote no run folder:\n{}", self.output()))
    }

    pub fn run_id(&self) -> &str {
        self.run_id
            .as_deref()
            .unwrap_or_else(|| panic!("the drill printed no run id:\n{}", self.output()))
    }

    /// Assert every SLO passed but the latency ones and those named in
    /// `timing`, and that each of those got the verdict its own figure calls
    /// for: a latency SLO with no figure (more than 1 % of its phase's ops
    /// unanswered) a fail, else `unknown` (a note naming the tool lag) where
    /// the self-check failed in its phase; elsewhere pass when the figure is
    /// on the limit's allowed side, fail when it is not. The exit code and the run's
    /// verdict follow. For drills on the swarm lab, where three engines, six
    /// nodes, the workers and the controller share this machine's two
    /// cores: latency, and the time an engine takes to start a task again,
    /// measure there how busy the machine was, which no test controls.
    /// Returns those SLOs' outcomes, in words, for the log.
    pub fn assert_passes_but_timing_as_measured(&self, what: &str, timing: &[&str]) -> String {
        use redis_drill::report::{Bound, Verdict};
        let r = self.report();
        let mut judged = Vec::new();
        for s in &r.slo {
            let Some(phase) = latency_phase(&s.name) else {
                if timing.contains(&s.name.as_str()) {
                    let within = s.value.map(|v| match s.bound {
                        Bound::AtMost => v <= s.limit,
                        Bound::AtLeast => v >= s.limit,
                    });
                    let expected = match within {
                        Some(true) => Verdict::Pass,
                        Some(false) => Verdict::Fail,
                        None => panic!("{what}: {} not measured: {s:?}", s.name),
                    };
                    assert_eq!(s.result, expected, "{what}: {s:?}\n{}", self.output());
                    judged.push(format!(
                        "{} {:?} ({:?}, limit {})",
                        s.name, s.result, s.value, s.limit
                    ));
                    continue;
                }
                assert_eq!(
                    s.result,
                    Verdict::Pass,
                    "{what}: {} ({:?}, limit {}, {:?})\n{}",
                    s.name,
                    s.value,
                    s.limit,
                    s.note,
                    self.output()
                );
                continue;
            };
            let lagged = r
                .workload
                .self_check
                .phases
                .get(phase)
                .is_some_and(|c| !c.ok);
            // More than 1 % unanswered fails with no figure, lag or not
            // (docs/scenarios.md); a figure the tool's lag touched is unknown.
            let expected = match s.value {
                None => Verdict::Fail,
                Some(_) if lagged => Verdict::Unknown,
                Some(v) if v <= s.limit => Verdict::Pass,
                Some(_) => Verdict::Fail,
            };
            assert_eq!(
                s.result,
                expected,
                "{what}: {} ({:?}, limit {}, tool lag distrusted: {lagged}, {:?})\n{}",
                s.name,
                s.value,
                s.limit,
                s.note,
                self.output()
            );
            match (expected, s.value) {
                (Verdict::Unknown, _) => assert!(
                    s.note.as_deref().is_some_and(|n| n.contains("tool lag")),
                    "{what}: {s:?}"
                ),
                (_, Some(v)) => assert_eq!(
                    Some(&v),
                    r.workload.app.p99_answered_ms.get(phase),
                    "{what}: {s:?}"
                ),
                (_, None) => assert!(
                    s.note
                        .as_deref()
                        .is_some_and(|n| n.contains("more than 1 %")),
                    "{what}: {s:?}"
                ),
            }
            judged.push(format!(
                "{} {:?} (p99 {:?} ms, limit {} ms)",
                s.name, s.result, s.value, s.limit
            ));
        }
        let verdict = if r.slo.iter().any(|s| s.result == Verdict::Fail) {
            Verdict::Fail
        } else if r.slo.iter().any(|s| s.result == Verdict::Unknown) {
            Verdict::Unknown
        } else {
            Verdict::Pass
        };
        let code = match verdict {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Unknown => 4,
        };
        assert_eq!(
            (r.verdict, self.code),
            (verdict, Some(code)),
            "{what}\n{}",
            self.output()
        );
        judged.join("; ")
    }

    /// Assert the exit code, showing the drill's output when it differs.
    pub fn assert_code(&self, code: i32) {
        assert_eq!(self.code, Some(code), "{}", self.output());
    }

    /// stdout and stderr, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The phase a latency SLO reads, if it is one.
pub fn latency_phase(name: &str) -> Option<&str> {
    if name == "max_p99_during_over_baseline" {
        return Some("during");
    }
    name.strip_prefix("max_p99_")?.strip_suffix("_ms")
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
            .bounded_output()
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

/// Nothing of `run_id` is left: no container or network labelled with it
/// (docker), no run directory and no redis-server in the state dir (process).
pub fn assert_nothing_left(env: &Env, run_id: &str) {
    assert!(!run_id.is_empty(), "no run id to look for");
    if env.runtime == "docker" {
        let left = docker_leftovers(&format!("redis-drill.run-id={run_id}"));
        assert!(left.is_empty(), "left behind: {left:?}");
    } else {
        let dir = env.state.path().join(run_id);
        assert!(!dir.exists(), "{} still exists", dir.display());
        let procs = processes_mentioning(env.state.path());
        assert!(procs.is_empty(), "redis-server processes left: {procs:?}");
        // Its partition chain, and its Sentinels' source rules in the nat
        // table (as root, where it can have made them).
        // SAFETY: geteuid(2) cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            let chain = format!("RD-{run_id}");
            for table in ["filter", "nat"] {
                let listing = Command::new("iptables")
                    .args(["-w", "-t", table, "-S"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                assert!(
                    !listing
                        .lines()
                        .any(|l| l.split_whitespace().any(|w| w == chain)),
                    "{chain} left in the {table} table:\n{listing}"
                );
            }
        }
    }
}

/// The address map (announce -> host address) of a topology report.
pub fn address_map(status: &StatusReport) -> AddressMap {
    let mut map = AddressMap::new();
    for n in &status.nodes {
        map.insert(&n.name, n.announce, n.address)
            .expect("a loopback address");
    }
    map
}

/// The node called `name` in a topology report.
pub fn node<'a>(status: &'a StatusReport, name: &str) -> &'a NodeStatus {
    status
        .nodes
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no node {name} in {status:#?}"))
}

/// Where a client on this host reaches `name`.
pub fn address(status: &StatusReport, name: &str) -> SocketAddr {
    node(status, name).address
}

/// Whether `name` reports itself a primary / replica now.
pub fn is_primary(status: &StatusReport, name: &str) -> bool {
    node(status, name).role == Some(Role::Primary)
}

pub fn is_replica(status: &StatusReport, name: &str) -> bool {
    node(status, name).role == Some(Role::Replica)
}

/// The names of `list`, for comparisons with string literals.
pub fn names(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

/// The phases of a report, by name.
pub fn phase_names(r: &Report) -> Vec<&str> {
    r.phases.iter().map(|p| p.name.as_str()).collect()
}

/// The SLO result called `name` in a report.
pub fn slo<'a>(r: &'a Report, name: &str) -> &'a redis_drill::report::SloResult {
    r.slo
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no SLO {name} in {:#?}", r.slo))
}

/// `redis-cli --cluster check` from where the runtime lets us reach the
/// nodes: inside `via`'s container for docker (container IPs are not for
/// the host), on the host for processes. (exit success, stdout).
pub fn redis_cli_check(up: &UpGuard, status: &StatusReport, via: &str) -> (bool, String) {
    let out = if up.env.runtime == "docker" {
        up.env.run(&[
            "exec",
            via,
            "--name",
            &up.name,
            "--",
            "redis-cli",
            "--cluster",
            "check",
            "127.0.0.1:6379",
        ])
    } else {
        Command::new("redis-cli")
            .args(["--cluster", "check", &address(status, via).to_string()])
            .bounded_output()
            .expect("redis-cli")
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), text)
}

/// `redis-cli --cluster check` passes with every slot covered and no warning.
pub fn assert_redis_cli_check_clean(up: &UpGuard, status: &StatusReport, via: &str) {
    let (ok, text) = redis_cli_check(up, status, via);
    assert!(
        ok && text.contains("[OK] All 16384 slots covered.")
            && !text.contains("[WARNING]")
            && !text.contains("[ERR]"),
        "redis-cli --cluster check:\n{text}"
    );
}

/// Render `html` to a PNG of `(width, height)` with headless Chromium
/// (Debian's `chromium`, which bootstrap.sh installs).
pub fn screenshot(html: &Path, png: &Path, (width, height): (u32, u32)) {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            &format!("--window-size={width},{height}"),
            &format!("--screenshot={}", png.display()),
            &format!("file://{}", html.display()),
        ])
        .bounded_output()
        .unwrap_or_else(|e| panic!("chromium did not start ({e}): bootstrap.sh installs it"));
    assert!(
        png.is_file(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (pixels, non-white pixels, pixels near `rgb`) of an RGB(A) PNG.
pub fn census(png: &Path, rgb: [u8; 3]) -> (usize, usize, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png).expect("the png"),
    ));
    let mut reader = decoder.read_info().expect("a png");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let px = &buf[..info.buffer_size()];
    let (mut all, mut ink, mut near) = (0, 0, 0);
    for p in px.chunks(channels) {
        all += 1;
        if p[..3].iter().any(|&c| c < 235) {
            ink += 1;
        }
        if p[..3].iter().zip(rgb).all(|(&a, b)| a.abs_diff(b) <= 30) {
            near += 1;
        }
    }
    (all, ink, near)
}
