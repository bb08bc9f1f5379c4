//! `cargo bench --bench up -- --runs 5`: how long it takes to get a converged
//! 6-node cluster (3 primaries, 1 replica each), four ways:
//!
//! 1. `redis-drill up topologies/cluster-3x1.yaml --runtime docker --json`
//!    (image already present): wall time of the command and its own
//!    `timings`, then `redis-drill down`.
//! 2. The same with `--runtime process`.
//! 3. The peer: 6 redis-server processes started here, then
//!    `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`,
//!    timed until redis-cli exits and until
//!    [`redis_drill::cluster::wait_converged`] holds.
//! 4. Our create on the same kind of 6 processes:
//!    [`redis_drill::cluster::create`] until it returns (convergence included).
//!
//! Rows 3 and 4 start their clocks right after the last server answers PING:
//! Redis holds `cluster_state:ok` back on a primary until 2 s after its start,
//! so both must start at the same moment relative to the servers' start.
//!
//! Runs are interleaved (run i of every scenario, then run i+1), rows 3 and 4
//! swap order on every other run, so drift on a busy machine spreads evenly.
//! The Markdown table goes to stdout, progress to stderr, and the same table as
//! JSON to `target/bench-up.json`.
//!
//! Everything started here is removed on every path: topologies with
//! `redis-drill down` (explicitly, and from a drop guard on errors, panics and
//! SIGINT/SIGTERM), redis-server processes by a drop guard (and by
//! PR_SET_PDEATHSIG should this process be SIGKILLed).
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it only prints
//! how to run it, so the test suite does not start clusters.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use redis_drill::cluster::{self, ConvergeOptions, Member};
use redis_drill::slots::even_split;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_redis-drill");
const TOPOLOGY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/topologies/cluster-3x1.yaml");
const IMAGE: &str = "redis-drill/redis:local";
const STATE_DIR_ENV: &str = "REDIS_DRILL_STATE_DIR";
const RUNTIME_ENV: &str = "REDIS_DRILL_RUNTIME";

const DEFAULT_RUNS: usize = 5;
const MAX_RUNS: usize = 100;
/// `up --timeout` (seconds), and the outer bound on the `up` command.
const UP_TIMEOUT_SECS: u64 = 30;
const UP_WALL_LIMIT: Duration = Duration::from_secs(60);
const DOWN_LIMIT: Duration = Duration::from_secs(60);
const IMAGE_BUILD_LIMIT: Duration = Duration::from_secs(300);
const CLI_LIMIT: Duration = Duration::from_secs(30);
const CONVERGE_LIMIT: Duration = Duration::from_secs(30);
const PING_LIMIT: Duration = Duration::from_secs(10);
const PING_INTERVAL: Duration = Duration::from_millis(5);
const NODES: usize = 6;
const PRIMARIES: usize = 3;

// ---------------------------------------------------------------------------
// Rows of the table.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    UpDocker,
    UpProcess,
    RedisCli,
    DrillCreate,
}

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Scenario::UpDocker => "1. `redis-drill up --runtime docker`",
            Scenario::UpProcess => "2. `redis-drill up --runtime process`",
            Scenario::RedisCli => "3. `redis-cli --cluster create` on 6 running redis-server",
            Scenario::DrillCreate => "4. `redis_drill::cluster::create` on 6 running redis-server",
        }
    }
}

/// One row: a scenario and one of its measures.
struct Row {
    scenario: Scenario,
    measure: &'static str,
    samples: Vec<f64>,
}

const UP_MEASURES: [&str; 4] = [
    "command wall time",
    "timings.total_ms",
    "timings.nodes_ready_ms",
    "timings.cluster_create_ms",
];

fn rows() -> Vec<Row> {
    let mut out = Vec::new();
    for s in [Scenario::UpDocker, Scenario::UpProcess] {
        for m in UP_MEASURES {
            out.push(Row {
                scenario: s,
                measure: m,
                samples: Vec::new(),
            });
        }
    }
    for (s, m) in [
        (Scenario::RedisCli, "until redis-cli exits"),
        (Scenario::RedisCli, "until converged"),
        (Scenario::DrillCreate, "until create returns (converged)"),
    ] {
        out.push(Row {
            scenario: s,
            measure: m,
            samples: Vec::new(),
        });
    }
    out
}

struct Results {
    rows: Vec<Row>,
    /// (scenario, attempts, failures)
    attempts: Vec<(Scenario, usize, usize)>,
}

impl Results {
    fn new() -> Self {
        Results {
            rows: rows(),
            attempts: [
                Scenario::UpDocker,
                Scenario::UpProcess,
                Scenario::RedisCli,
                Scenario::DrillCreate,
            ]
            .into_iter()
            .map(|s| (s, 0, 0))
            .collect(),
        }
    }

    fn record(&mut self, s: Scenario, measure: &str, ms: f64) {
        if let Some(r) = self
            .rows
            .iter_mut()
            .find(|r| r.scenario == s && r.measure == measure)
        {
            // 0.1 ms is far below what these runs can resolve.
            r.samples.push((ms * 10.0).round() / 10.0);
        }
    }

    fn attempt(&mut self, s: Scenario, ok: bool) {
        if let Some(a) = self.attempts.iter_mut().find(|a| a.0 == s) {
            a.1 += 1;
            if !ok {
                a.2 += 1;
            }
        }
    }

    fn counts(&self, s: Scenario) -> (usize, usize) {
        self.attempts
            .iter()
            .find(|a| a.0 == s)
            .map(|a| (a.1, a.2))
            .unwrap_or((0, 0))
    }

    fn median(&self, s: Scenario, measure: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.scenario == s && r.measure == measure)
            .and_then(|r| Stats::of(&r.samples))
            .map(|st| st.median)
    }
}

#[derive(Clone, Copy, Serialize)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn of(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stats {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

#[derive(Clone, Serialize)]
struct Env {
    cores: usize,
    redis: String,
    docker: String,
}

#[derive(Serialize)]
struct JsonRow<'a> {
    scenario: &'a str,
    measure: &'a str,
    median_ms: Option<f64>,
    min_ms: Option<f64>,
    max_ms: Option<f64>,
    samples_ms: &'a [f64],
    runs_ok: usize,
    runs: usize,
    cores: usize,
    redis: &'a str,
    docker: &'a str,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    runs: usize,
    env: &'a Env,
    rows: Vec<JsonRow<'a>>,
    comparisons: &'a [String],
}

// ---------------------------------------------------------------------------
// Entry point.

struct Args {
    runs: usize,
}

const USAGE: &str = "usage: cargo bench --bench up -- [--runs N]   (default 5)";

/// `None`: not run by `cargo bench` (no `--bench`), do nothing.
fn parse_args() -> Result<Option<Args>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(None);
    }
    if !args.iter().any(|a| a == "--bench") {
        eprintln!(
            "bench `up` starts clusters; it only runs under `cargo bench --bench up` (skipped)"
        );
        return Ok(None);
    }
    let mut runs = DEFAULT_RUNS;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = match a.as_str() {
            "--bench" => continue,
            "--runs" => it
                .next()
                .ok_or_else(|| anyhow!("--runs needs a value; {USAGE}"))?,
            s if s.starts_with("--runs=") => &s["--runs=".len()..],
            other => bail!("unknown argument `{other}`; {USAGE}"),
        };
        runs = value
            .parse()
            .with_context(|| format!("--runs {value}: not a number"))?;
    }
    if !(1..=MAX_RUNS).contains(&runs) {
        bail!("--runs must be between 1 and {MAX_RUNS}");
    }
    Ok(Some(Args { runs }))
}

fn main() {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => return,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    let cancel = CancellationToken::new();
    // The top-level future runs on this (the main) thread, so the children it
    // spawns get a PR_SET_PDEATHSIG tied to a thread that lives as long as the
    // process. On a signal, dropping the bench future runs every guard:
    // topologies are taken down, servers killed.
    common::run_main(bench(args, cancel.clone()), move || cancel.cancel());
}

async fn bench(args: Args, cancel: CancellationToken) -> Result<i32> {
    let started = Instant::now();
    let env = environment().await;
    eprintln!(
        "bench up: {} runs; {} cores, redis {}, docker {}",
        args.runs, env.cores, env.redis, env.docker
    );
    let docker_ok = env.docker != "n/a";
    if docker_ok {
        ensure_image().await?;
    } else {
        eprintln!("docker engine not reachable: skipping scenario 1");
    }
    let state = tempfile::Builder::new()
        .prefix("bench-up-state-")
        .tempdir()
        .context("creating a state dir for the process runtime")?;
    let pid = std::process::id();
    let mut results = Results::new();

    for run in 0..args.runs {
        let tag = format!("[run {}/{}]", run + 1, args.runs);
        if docker_ok {
            let name = format!("bench-up-{pid}-d{run}");
            let r = bench_up("docker", &name, None).await;
            record_up(&mut results, Scenario::UpDocker, &tag, r);
        }
        {
            let name = format!("bench-up-{pid}-p{run}");
            let r = bench_up("process", &name, Some(state.path())).await;
            record_up(&mut results, Scenario::UpProcess, &tag, r);
        }
        let order = if run % 2 == 0 {
            [Scenario::RedisCli, Scenario::DrillCreate]
        } else {
            [Scenario::DrillCreate, Scenario::RedisCli]
        };
        for s in order {
            match s {
                Scenario::RedisCli => match bench_redis_cli(&cancel).await {
                    Ok((exited, converged)) => {
                        eprintln!(
                            "{tag} redis-cli --cluster create: exits {:.0} ms, converged {:.0} ms",
                            ms(exited),
                            ms(converged)
                        );
                        results.attempt(s, true);
                        results.record(s, "until redis-cli exits", ms(exited));
                        results.record(s, "until converged", ms(converged));
                    }
                    Err(e) => {
                        eprintln!("{tag} redis-cli --cluster create FAILED: {e:#}");
                        results.attempt(s, false);
                    }
                },
                _ => match bench_drill_create(&cancel).await {
                    Ok(total) => {
                        eprintln!(
                            "{tag} redis_drill::cluster::create: converged {:.0} ms",
                            ms(total)
                        );
                        results.attempt(s, true);
                        results.record(s, "until create returns (converged)", ms(total));
                    }
                    Err(e) => {
                        eprintln!("{tag} redis_drill::cluster::create FAILED: {e:#}");
                        results.attempt(s, false);
                    }
                },
            }
        }
    }
    drop(state);

    let comparisons = comparisons(&results);
    print!("{}", render_table(&results, &env, args.runs));
    println!();
    for c in &comparisons {
        println!("{c}");
    }
    let json_path = write_json(&results, &env, args.runs, &comparisons)?;
    eprintln!(
        "wrote {} (bench took {:.0} s)",
        json_path.display(),
        started.elapsed().as_secs_f64()
    );
    let failed: usize = results.attempts.iter().map(|a| a.2).sum();
    if failed > 0 {
        eprintln!("{failed} run(s) failed; see above");
        return Ok(1);
    }
    Ok(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------
// Environment.

async fn environment() -> Env {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let redis = command_stdout("redis-server", &["--version"])
        .await
        .and_then(|s| {
            s.split_whitespace()
                .find_map(|w| w.strip_prefix("v=").map(str::to_string))
        })
        .unwrap_or_else(|| "n/a".into());
    let docker = command_stdout("docker", &["version", "--format", "{{.Server.Version}}"])
        .await
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "n/a".into());
    Env {
        cores,
        redis,
        docker,
    }
}

/// Stdout of a short command, or None if it fails or takes over 20 s.
async fn command_stdout(program: &str, args: &[&str]) -> Option<String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .ok()?
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Build the image once if it is missing, so that scenario 1 measures "image present".
async fn ensure_image() -> Result<()> {
    let mut inspect = tokio::process::Command::new("docker");
    inspect
        .args(["image", "inspect", IMAGE])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let present = tokio::time::timeout(Duration::from_secs(20), inspect.status())
        .await
        .ok()
        .and_then(|r| r.ok())
        .is_some_and(|s| s.success());
    if present {
        return Ok(());
    }
    eprintln!("image {IMAGE} missing: running `redis-drill image build` (not timed)");
    let mut build = tokio::process::Command::new(BIN);
    build
        .args(["image", "build"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(IMAGE_BUILD_LIMIT, build.output())
        .await
        .map_err(|_| anyhow!("`redis-drill image build` took over {IMAGE_BUILD_LIMIT:?}"))?
        .context("running `redis-drill image build`")?;
    if !out.status.success() {
        bail!(
            "`redis-drill image build` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Scenarios 1 and 2: `redis-drill up`.

struct UpSample {
    wall: Duration,
    total_ms: f64,
    nodes_ready_ms: f64,
    cluster_create_ms: f64,
}

fn record_up(results: &mut Results, s: Scenario, tag: &str, r: Result<UpSample>) {
    match r {
        Ok(u) => {
            eprintln!(
                "{tag} up {}: wall {:.0} ms, total_ms {:.0} (nodes ready {:.0}, cluster create {:.0})",
                if s == Scenario::UpDocker {
                    "docker"
                } else {
                    "process"
                },
                ms(u.wall),
                u.total_ms,
                u.nodes_ready_ms,
                u.cluster_create_ms
            );
            results.attempt(s, true);
            results.record(s, UP_MEASURES[0], ms(u.wall));
            results.record(s, UP_MEASURES[1], u.total_ms);
            results.record(s, UP_MEASURES[2], u.nodes_ready_ms);
            results.record(s, UP_MEASURES[3], u.cluster_create_ms);
        }
        Err(e) => {
            eprintln!("{tag} {} FAILED: {e:#}", s.label());
            results.attempt(s, false);
        }
    }
}

/// `redis-drill up` on `runtime`, timed, then `redis-drill down`.
async fn bench_up(runtime: &'static str, name: &str, state_dir: Option<&Path>) -> Result<UpSample> {
    // Armed before `up` starts: whatever `up` leaves behind is taken down.
    let mut deployed = Deployed {
        name: name.to_string(),
        runtime,
        state_dir: state_dir.map(Path::to_path_buf),
        armed: true,
    };
    let mut cmd = drill_command(runtime, state_dir);
    cmd.args([
        "up",
        TOPOLOGY,
        "--runtime",
        runtime,
        "--json",
        "--name",
        name,
    ])
    .args(["--timeout", &UP_TIMEOUT_SECS.to_string()]);
    // Output goes to unlinked temp files, not pipes: should this process die,
    // `up` gets SIGTERM (below) and must still be able to write its messages
    // while it removes its run (a write to a broken pipe would make it panic
    // before cleaning up).
    let (mut stdout, mut stderr) = (anon_file()?, anon_file()?);
    cmd.stdout(stdout.try_clone()?).stderr(stderr.try_clone()?);
    set_parent_death_signal(cmd.as_std_mut(), libc::SIGTERM);
    let t = Instant::now();
    let mut child = cmd.spawn().context("starting `redis-drill up`")?;
    let status = tokio::time::timeout(UP_WALL_LIMIT, child.wait()).await;
    let wall = t.elapsed();
    let status = match status {
        Ok(r) => r.context("waiting for `redis-drill up`")?,
        // Dropping `child` kills it; `deployed` then takes down what it left.
        Err(_) => bail!("`redis-drill up` took over {UP_WALL_LIMIT:?} (killed)"),
    };
    if !status.success() {
        // `up` removes its run itself on failure; `deployed` makes sure on drop.
        bail!(
            "`redis-drill up --runtime {runtime}` failed ({status}): {}",
            read_back(&mut stderr).trim()
        );
    }
    let out = read_back(&mut stdout);
    deployed.down().await?;
    let report: serde_json::Value =
        serde_json::from_str(&out).context("parsing the JSON of `redis-drill up`")?;
    let timing = |field: &str| -> Result<f64> {
        report["timings"][field]
            .as_f64()
            .ok_or_else(|| anyhow!("`up --json` has no timings.{field}"))
    };
    Ok(UpSample {
        wall,
        total_ms: timing("total_ms")?,
        nodes_ready_ms: timing("nodes_ready_ms")?,
        cluster_create_ms: timing("cluster_create_ms")?,
    })
}

/// An unlinked temp file: nothing is left on disk, whatever happens.
fn anon_file() -> Result<std::fs::File> {
    tempfile::tempfile().context("creating a temp file")
}

/// Everything written to `f` so far.
fn read_back(f: &mut std::fs::File) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut s = String::new();
    if f.seek(SeekFrom::Start(0)).is_ok() {
        let mut bytes = Vec::new();
        let _ = f.read_to_end(&mut bytes);
        s = String::from_utf8_lossy(&bytes).into_owned();
    }
    s
}

fn drill_command(runtime: &str, state_dir: Option<&Path>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.stdin(Stdio::null())
        .kill_on_drop(true)
        .env(RUNTIME_ENV, runtime);
    if let Some(d) = state_dir {
        cmd.env(STATE_DIR_ENV, d);
    }
    cmd
}

/// A topology brought up by `redis-drill up`: taken down with `redis-drill
/// down` explicitly, or on drop (errors, panics, cancellation).
struct Deployed {
    name: String,
    runtime: &'static str,
    state_dir: Option<PathBuf>,
    armed: bool,
}

impl Deployed {
    fn args(&self) -> [&str; 5] {
        ["down", "--name", &self.name, "--runtime", self.runtime]
    }

    async fn down(&mut self) -> Result<()> {
        self.armed = false;
        let mut cmd = drill_command(self.runtime, self.state_dir.as_deref());
        cmd.args(self.args())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let out = tokio::time::timeout(DOWN_LIMIT, cmd.output())
            .await
            .map_err(|_| {
                anyhow!(
                    "`redis-drill down --name {}` took over {DOWN_LIMIT:?}",
                    self.name
                )
            })?
            .context("running `redis-drill down`")?;
        if !out.status.success() {
            bail!(
                "`redis-drill down --name {}` failed ({}): {}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }
}

impl Drop for Deployed {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.armed = false;
        // Synchronous: drop cannot await. Bounded by DOWN_LIMIT.
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(self.args())
            .env(RUNTIME_ENV, self.runtime)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(d) = &self.state_dir {
            cmd.env(STATE_DIR_ENV, d);
        }
        match cmd.spawn() {
            Ok(mut child) => {
                if !wait_bounded(&mut child, DOWN_LIMIT) {
                    eprintln!(
                        "warning: `redis-drill down --name {}` did not finish; run `redis-drill down --all`",
                        self.name
                    );
                }
            }
            Err(e) => eprintln!(
                "warning: could not run `redis-drill down --name {}`: {e}",
                self.name
            ),
        }
    }
}

/// Wait for `child` up to `limit`; kill it past that. True if it exited by itself.
fn wait_bounded(child: &mut Child, limit: Duration) -> bool {
    let step = Duration::from_millis(20);
    let polls = limit.as_millis() / step.as_millis() + 1;
    for _ in 0..polls {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) => std::thread::sleep(step),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// Ask the kernel to send `sig` to the child when the thread that spawned it
/// (here: the main thread, see `main`) exits.
fn set_parent_death_signal(cmd: &mut std::process::Command, sig: libc::c_int) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only calls prctl(2), which is async-signal-safe, and
    // touches no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

// ---------------------------------------------------------------------------
// Scenarios 3 and 4: 6 redis-server processes started here.

/// Our redis-server processes; killed (SIGKILL) and reaped on drop, their
/// directories removed.
struct Servers {
    children: Vec<Child>,
    /// (data port, cluster bus port)
    ports: Vec<(u16, u16)>,
    dir: tempfile::TempDir,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
        }
        for c in &mut self.children {
            if !wait_bounded(c, Duration::from_secs(10)) {
                eprintln!("warning: redis-server pid {} did not exit", c.id());
            }
        }
    }
}

/// `n` distinct free loopback ports, all held at once while choosing.
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("finding free ports on 127.0.0.1")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

fn start_servers(n: usize) -> Result<Servers> {
    let ports = free_ports(2 * n)?;
    let dir = tempfile::Builder::new()
        .prefix("bench-up-servers-")
        .tempdir()
        .context("creating a temp dir for redis-server")?;
    let mut servers = Servers {
        children: Vec::with_capacity(n),
        ports: (0..n).map(|i| (ports[2 * i], ports[2 * i + 1])).collect(),
        dir,
    };
    for i in 0..n {
        let (port, bus) = servers.ports[i];
        let node_dir = servers.dir.path().join(format!("s{}", i + 1));
        std::fs::create_dir(&node_dir)
            .with_context(|| format!("creating {}", node_dir.display()))?;
        let mut cmd = std::process::Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                &bus.to_string(),
            ])
            .args(["--cluster-config-file", "nodes.conf"])
            .args(["--cluster-node-timeout", "5000"])
            .args(["--appendonly", "no", "--save", ""])
            .args([
                "--repl-diskless-sync",
                "yes",
                "--repl-diskless-sync-delay",
                "0",
            ])
            .args(["--protected-mode", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&node_dir)
            .args(["--logfile", "redis.log"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        set_parent_death_signal(&mut cmd, libc::SIGKILL);
        let child = cmd.spawn().context("starting redis-server")?;
        servers.children.push(child);
    }
    Ok(servers)
}

impl Servers {
    fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[i].0))
    }

    /// Members s1..sN; with `plan`, s1..s3 primaries with even slots and
    /// s4..s6 their replicas; without, no roles (redis-cli picks them).
    fn members(&self, plan: bool) -> Vec<Member> {
        let split = even_split(PRIMARIES);
        (0..self.ports.len())
            .map(|i| {
                let addr = self.addr(i);
                let (replica_of, slots) = match (plan, i < PRIMARIES) {
                    (false, _) => (None, Vec::new()),
                    (true, true) => (None, vec![split[i]]),
                    (true, false) => (Some(format!("s{}", i - PRIMARIES + 1)), Vec::new()),
                };
                Member {
                    name: format!("s{}", i + 1),
                    addr,
                    announce: addr,
                    bus_port: self.ports[i].1,
                    replica_of,
                    slots,
                }
            })
            .collect()
    }

    /// Until every server answers PING (bounded by PING_LIMIT).
    async fn wait_ping(&mut self) -> Result<()> {
        let deadline = Instant::now() + PING_LIMIT;
        let polls = PING_LIMIT.as_millis() / PING_INTERVAL.as_millis() + 1;
        for i in 0..self.children.len() {
            let addr = self.addr(i);
            let mut answered = false;
            for _ in 0..polls {
                if let Some(status) = self.children[i].try_wait()? {
                    bail!(
                        "redis-server on {addr} exited ({status}); log: {}",
                        log_tail(&self.dir.path().join(format!("s{}/redis.log", i + 1)))
                    );
                }
                if ping(addr).await {
                    answered = true;
                    break;
                }
                if Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(PING_INTERVAL).await;
            }
            if !answered {
                bail!("redis-server on {addr} did not answer PING within {PING_LIMIT:?}");
            }
        }
        Ok(())
    }
}

async fn ping(addr: SocketAddr) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"PING\r\n").await?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await?;
        Ok::<bool, std::io::Error>(buf[..n].starts_with(b"+PONG"))
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), attempt).await,
        Ok(Ok(true))
    )
}

fn log_tail(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(5)..].join(" | ")
        })
        .unwrap_or_else(|e| format!("({e})"))
}

/// Scenario 3: (until redis-cli exits, until converged), both from right after PING.
async fn bench_redis_cli(cancel: &CancellationToken) -> Result<(Duration, Duration)> {
    let mut servers = start_servers(NODES)?;
    servers.wait_ping().await?;
    let mut cmd = tokio::process::Command::new("redis-cli");
    cmd.args(["--cluster", "create"])
        .args((0..NODES).map(|i| servers.addr(i).to_string()))
        .args(["--cluster-replicas", "1", "--cluster-yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let t = Instant::now();
    let out = tokio::time::timeout(CLI_LIMIT, cmd.output())
        .await
        .map_err(|_| anyhow!("redis-cli --cluster create took over {CLI_LIMIT:?} (killed)"))?
        .context("running redis-cli")?;
    let exited = t.elapsed();
    if !out.status.success() {
        bail!(
            "redis-cli --cluster create failed ({}): {} {}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let members = servers.members(false);
    cluster::wait_converged(
        &members,
        &ConvergeOptions::new(CONVERGE_LIMIT, cancel.clone()),
    )
    .await
    .map_err(|e| anyhow!(e))
    .context("waiting for the cluster redis-cli created to converge")?;
    let converged = t.elapsed();
    drop(servers);
    Ok((exited, converged))
}

/// Scenario 4: until `create` returns, from right after PING.
async fn bench_drill_create(cancel: &CancellationToken) -> Result<Duration> {
    let mut servers = start_servers(NODES)?;
    servers.wait_ping().await?;
    let members = servers.members(true);
    let opts = ConvergeOptions::new(CONVERGE_LIMIT, cancel.clone());
    let t = Instant::now();
    cluster::create(&members, &opts)
        .await
        .map_err(|e| anyhow!(e))
        .context("redis_drill::cluster::create")?;
    let total = t.elapsed();
    drop(servers);
    Ok(total)
}

// ---------------------------------------------------------------------------
// Output.

fn fmt_ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "–".into())
}

fn render_table(results: &Results, env: &Env, runs: usize) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "### Time to a converged 6-node cluster (3 primaries × 1 replica), {runs} runs\n\n"
    ));
    s.push_str(
        "| scenario | measure | median ms | min ms | max ms | runs ok | cores | redis | docker |\n",
    );
    s.push_str("|---|---|--:|--:|--:|--:|--:|---|---|\n");
    for r in &results.rows {
        let st = Stats::of(&r.samples);
        let (attempts, failed) = results.counts(r.scenario);
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {}/{} | {} | {} | {} |\n",
            r.scenario.label(),
            r.measure,
            fmt_ms(st.map(|x| x.median)),
            fmt_ms(st.map(|x| x.min)),
            fmt_ms(st.map(|x| x.max)),
            attempts - failed,
            attempts,
            env.cores,
            env.redis,
            env.docker
        ));
    }
    s
}

/// "A is 1.4x faster than B (what)" from medians.
fn compare(a_name: &str, a: Option<f64>, b_name: &str, b: Option<f64>, what: &str) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => {
            if (b / a - 1.0).abs() < 0.005 {
                format!(
                    "{a_name} is as fast as {b_name} (1.00x; {what}: {a:.0} ms vs {b:.0} ms median)"
                )
            } else if a < b {
                format!(
                    "{a_name} is {:.2}x faster than {b_name} ({what}: {a:.0} ms vs {b:.0} ms median)",
                    b / a
                )
            } else {
                format!(
                    "{a_name} is {:.2}x slower than {b_name} ({what}: {a:.0} ms vs {b:.0} ms median)",
                    a / b
                )
            }
        }
        _ => format!("{a_name} vs {b_name} ({what}): no data"),
    }
}

fn comparisons(r: &Results) -> Vec<String> {
    let ours = r.median(Scenario::DrillCreate, "until create returns (converged)");
    vec![
        compare(
            "redis-drill create",
            ours,
            "redis-cli --cluster create",
            r.median(Scenario::RedisCli, "until converged"),
            "converged",
        ),
        compare(
            "redis-drill create (converged)",
            ours,
            "redis-cli --cluster create",
            r.median(Scenario::RedisCli, "until redis-cli exits"),
            "redis-cli exits",
        ),
        compare(
            "redis-drill up --runtime process",
            r.median(Scenario::UpProcess, UP_MEASURES[0]),
            "redis-drill up --runtime docker",
            r.median(Scenario::UpDocker, UP_MEASURES[0]),
            "command wall time",
        ),
    ]
}

fn target_dir() -> PathBuf {
    // The bench runs as target/<profile>/deps/up-<hash>.
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .filter(|d| d.is_dir())
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")))
}

fn write_json(
    results: &Results,
    env: &Env,
    runs: usize,
    comparisons: &[String],
) -> Result<PathBuf> {
    let rows = results
        .rows
        .iter()
        .map(|r| {
            let st = Stats::of(&r.samples);
            let (attempts, failed) = results.counts(r.scenario);
            JsonRow {
                scenario: r.scenario.label(),
                measure: r.measure,
                median_ms: st.map(|x| x.median),
                min_ms: st.map(|x| x.min),
                max_ms: st.map(|x| x.max),
                samples_ms: &r.samples,
                runs_ok: attempts - failed,
                runs: attempts,
                cores: env.cores,
                redis: &env.redis,
                docker: &env.docker,
            }
        })
        .collect();
    let report = JsonReport {
        runs,
        env,
        rows,
        comparisons,
    };
    let path = target_dir().join("bench-up.json");
    let text = serde_json::to_string_pretty(&report).context("serializing the report")?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
