//! `cargo bench --bench reshard -- [--quick] [--server valkey-9.1] [--only
//! TOOL]...`: how fast our resharding engine moves slots compared with
//! `redis-cli --cluster reshard`, under client load. With `--server
//! valkey-9.1` the cluster runs Valkey 9.1 and the engine moves each case three
//! times — atomically (`CLUSTER MIGRATESLOTS`) in one job, atomically in jobs
//! of at most 50,000 keys, and key by key — beside redis-cli (Debian's, which
//! moves key by key on any server). `--only atomic` runs only the rows whose
//! tool names contain `atomic` (repeatable).
//!
//! On a cluster-3x1 brought up with the process runtime, two cases:
//!
//! - (a) 2000 slots holding 36,000 keys of 100 B (18 keys a slot: the
//!   per-slot protocol dominates);
//! - (b) 200 slots holding 1,000,000 keys of 100 B (5000 keys a slot: moving
//!   keys dominates). `--quick` shrinks it to 100,000 keys.
//!
//! For each case the dataset is written straight into s1n1 (pipelined) in the
//! lowest N slots of s1n1 — the slots `redis-cli --cluster reshard
//! --cluster-from s1n1 --cluster-slots N` takes, and those
//! [`redis_drill::cluster::moves_between`] takes; the bench checks both moved
//! exactly those. Keys carry a hash tag per slot so they can be generated
//! without hashing millions of candidates; it changes nothing for MIGRATE.
//! Then:
//!
//! 1. time our path (load the owners, plan, [`redis_drill::cluster::execute`]
//!    with default options) moving the slots s1n1 -> s2n1;
//! 2. move them back (untimed), FLUSHALL, write the same dataset again;
//! 3. time `redis-cli --cluster reshard <s1n1> --cluster-from <s1n1 id>
//!    --cluster-to <s2n1 id> --cluster-slots N --cluster-yes` (its defaults:
//!    10 keys per MIGRATE, one slot at a time);
//! 4. move them back (untimed) and FLUSHALL for the next case.
//!
//! Before each timed move the same client load runs 2 s with nothing moving:
//! its p99 then is the row's baseline, beside its p99 during the move.
//! During each timed move a cluster client (redis-rs, through
//! [`redis_drill::cluster::cluster_client`], following MOVED/ASK with
//! retries) runs GET/SET on random dataset keys from 4 tasks, and every
//! failed operation is counted. After each move the bench checks that s2n1
//! holds every key and s1n1 none.
//!
//! The Markdown table goes to stdout, progress to stderr, the same figures as
//! JSON to `target/bench-reshard.json`. The topology is taken down on every
//! path (explicitly, and from a drop guard on errors, panics and
//! SIGINT/SIGTERM); redis-cli is killed if this process dies.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it only prints
//! how to run it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;

use common::Deployed;

use anyhow::{Context, Result, anyhow, bail, ensure};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::AsyncCommands;
use redis_drill::cluster::reshard::{Method, ReshardOptions, SlotMove, SlotMoves};
use redis_drill::cluster::{
    ClientOptions, ConnectOptions, ConvergeOptions, SlotOwners, cluster_client, execute,
    moves_between, wait_converged,
};
use redis_drill::slots::{SLOT_COUNT, key_slot};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

const TOPOLOGY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/topologies/cluster-3x1.yaml");
const TOPOLOGY_VALKEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/topologies/cluster-3x1-valkey.yaml"
);
/// The client load alone before each move: the row's baseline.
const BASELINE: Duration = Duration::from_secs(2);

const VALUE_BYTES: usize = 100;
/// Keys per pipeline when loading, and pipelines in flight.
const LOAD_PIPELINE: usize = 1000;
const LOAD_CONCURRENCY: usize = 8;
/// Client tasks running GET/SET during each timed move.
const CLIENT_TASKS: usize = 4;
const CLIENT_SEED: u64 = 0x5eed_2026;
/// Bound on one timed move (redis-cli on case (b) takes about a minute here).
const MOVE_LIMIT: Duration = Duration::from_secs(300);
const CONVERGE_LIMIT: Duration = Duration::from_secs(30);
/// The gentle row on Redis 7.0: key by key, each source's PING kept under
/// this bound by the engine's control loop.
const MAX_IMPACT_MS: f64 = 1.0;
const MAX_IMPACT_TOOL: &str = "redis-drill --max-impact-ms 1";
/// The atomic row with jobs of at most this many keys: a job's end deletes
/// its keys on the source in one go (~0.8 us a key of 100 B on Valkey 9.1
/// here), so 50,000 bounds that stall near 40 ms.
const ATOMIC_JOB_KEYS: u64 = 50_000;
const ATOMIC_JOBS_TOOL: &str = "redis-drill atomic --atomic-job-keys 50000";

struct Case {
    label: &'static str,
    slots: usize,
    keys: usize,
}

fn cases(quick: bool) -> Vec<Case> {
    vec![
        Case {
            label: "(a) 2000 slots, 36,000 keys",
            slots: 2000,
            keys: 36_000,
        },
        Case {
            label: if quick {
                "(b) 200 slots, 100,000 keys (--quick)"
            } else {
                "(b) 200 slots, 1,000,000 keys"
            },
            slots: 200,
            keys: if quick { 100_000 } else { 1_000_000 },
        },
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "bench `reshard` starts a cluster; it only runs under `cargo bench --bench reshard -- [--quick]` (skipped)"
        );
        return;
    }
    let mut valkey = false;
    let mut only: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" | "--quick" => {}
            "--only" => match it.next() {
                Some(t) => only.push(t.clone()),
                None => {
                    eprintln!("error: --only needs a tool name (or part of one)");
                    std::process::exit(2);
                }
            },
            "--server" => match it.next().map(String::as_str) {
                Some("valkey-9.1") => valkey = true,
                Some("redis") | Some("redis-7.0") => valkey = false,
                other => {
                    eprintln!(
                        "error: --server {}: expected redis-7.0 or valkey-9.1",
                        other.unwrap_or("(missing)")
                    );
                    std::process::exit(2);
                }
            },
            bad => {
                eprintln!(
                    "error: unknown argument {bad}\nusage: cargo bench --bench reshard -- [--quick] [--server redis-7.0|valkey-9.1] [--only TOOL]..."
                );
                std::process::exit(2);
            }
        }
    }
    let quick = args.iter().any(|a| a == "--quick");
    // Dropping the bench future on a signal runs the guard: the topology is taken down.
    common::run_main(
        async move {
            bench(quick, valkey, &only).await?;
            Ok(0)
        },
        || {},
    );
}

// ---------------------------------------------------------------------------
// The topology.

async fn node(addr: SocketAddr) -> Result<redis::aio::MultiplexedConnection> {
    ensure!(addr.ip().is_loopback(), "{addr} is not a loopback address");
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(30)));
    Ok(client
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

async fn dbsize(addr: SocketAddr) -> Result<u64> {
    Ok(redis::cmd("DBSIZE")
        .query_async(&mut node(addr).await?)
        .await?)
}

async fn converge(d: &Deployed) -> Result<()> {
    wait_converged(
        &d.members,
        &ConvergeOptions::new(CONVERGE_LIMIT, CancellationToken::new()),
    )
    .await
    .map_err(|e| anyhow!("the cluster did not converge: {e}"))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// The dataset.

/// A hash tag for every slot: `tags[slot]` hashes to `slot`.
fn slot_tags() -> Result<Vec<String>> {
    let mut tags: Vec<Option<String>> = vec![None; usize::from(SLOT_COUNT)];
    let mut missing = usize::from(SLOT_COUNT);
    // About 16384 * ln(16384) ~ 160,000 tries fill every slot; bounded well above.
    for i in 0u64..20_000_000 {
        let t = format!("{i:x}");
        let s = usize::from(key_slot(t.as_bytes()));
        if tags[s].is_none() {
            tags[s] = Some(t);
            missing -= 1;
            if missing == 0 {
                return Ok(tags.into_iter().map(|t| t.expect("filled")).collect());
            }
        }
    }
    bail!("{missing} slots got no hash tag")
}

/// `keys` keys spread evenly over `slots`.
fn dataset(tags: &[String], slots: &[u16], keys: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(keys);
    for (i, &s) in slots.iter().enumerate() {
        let n = keys / slots.len() + usize::from(i < keys % slots.len());
        let tag = &tags[usize::from(s)];
        out.extend((0..n).map(|j| format!("{{{tag}}}:{j}")));
    }
    out
}

/// Write every key into `addr` (which serves all their slots), pipelined.
async fn load(addr: SocketAddr, keys: &[String]) -> Result<()> {
    let conn = node(addr).await?;
    let value = vec![b'v'; VALUE_BYTES];
    let chunks: Vec<&[String]> = keys.chunks(LOAD_PIPELINE).collect();
    for group in chunks.chunks(LOAD_CONCURRENCY) {
        let writes = group.iter().map(|chunk| {
            let mut conn = conn.clone();
            let value = &value;
            async move {
                let mut pipe = redis::pipe();
                for k in *chunk {
                    pipe.cmd("SET").arg(k).arg(value).ignore();
                }
                pipe.query_async::<()>(&mut conn).await
            }
        });
        for r in futures::future::join_all(writes).await {
            r.context("loading the dataset")?;
        }
    }
    Ok(())
}

async fn flushall(d: &Deployed) -> Result<()> {
    for p in d.primaries() {
        let () = redis::cmd("FLUSHALL")
            .query_async(&mut node(p.addr).await?)
            .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The client load.

#[derive(Debug, Default, Clone, Serialize)]
struct ClientFigures {
    ok: u64,
    failed: u64,
    /// Latency of every operation (ok or failed), milliseconds.
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// The first few failures, for the report.
    errors: Vec<String>,
}

struct Client {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<Histogram<u64>>>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    errors: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Client {
    async fn start(d: &Deployed, keys: Arc<Vec<String>>) -> Result<Client> {
        // One connection per task, like independent clients: redis-rs sends
        // ASKING and the redirected command as two requests, so on a shared
        // connection another task's command can slip in between, take the
        // ASKING, and leave the command to be answered MOVED.
        let cc = cluster_client(&d.map, &ClientOptions::default())?;
        let mut conns = Vec::with_capacity(CLIENT_TASKS);
        for _ in 0..CLIENT_TASKS {
            conns.push(cc.get_async_connection().await?);
        }
        let stop = CancellationToken::new();
        let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks = conns
            .into_iter()
            .enumerate()
            .map(|(t, mut conn)| {
                let (stop, keys) = (stop.clone(), keys.clone());
                let (ok, failed, errors) = (ok.clone(), failed.clone(), errors.clone());
                tokio::spawn(async move {
                    let mut hist = latency_histogram();
                    let mut rng = StdRng::seed_from_u64(CLIENT_SEED + t as u64);
                    let value = vec![b'w'; VALUE_BYTES];
                    let started = Instant::now();
                    // Bounded by the stop token, and by MOVE_LIMIT twice over.
                    while !stop.is_cancelled() && started.elapsed() < 2 * MOVE_LIMIT {
                        let k = &keys[rng.random_range(0..keys.len())];
                        let op = Instant::now();
                        let r: redis::RedisResult<()> = if rng.random_bool(0.5) {
                            conn.get::<_, Option<Vec<u8>>>(k).await.map(|_| ())
                        } else {
                            conn.set(k, &value).await
                        };
                        hist.saturating_record(op.elapsed().as_micros() as u64);
                        match r {
                            Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                let mut errs = errors.lock().unwrap_or_else(|e| e.into_inner());
                                if errs.len() < 5 {
                                    errs.push(format!("{k}: {e}"));
                                }
                                failed.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                    hist
                })
            })
            .collect();
        Ok(Client {
            stop,
            tasks,
            ok,
            failed,
            errors,
        })
    }

    async fn stop(self) -> ClientFigures {
        self.stop.cancel();
        let mut hist = latency_histogram();
        for t in self.tasks {
            if let Ok(h) = t.await {
                let _ = hist.add(&h);
            }
        }
        let ms = |us: u64| us as f64 / 1000.0;
        ClientFigures {
            p50_ms: ms(hist.value_at_quantile(0.5)),
            p99_ms: ms(hist.value_at_quantile(0.99)),
            max_ms: ms(hist.max()),
            ok: self.ok.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            errors: self
                .errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

/// Microseconds, 1 us to 10 min, 3 significant digits.
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

// ---------------------------------------------------------------------------
// The moves.

#[derive(Debug, Clone, Serialize)]
struct Row {
    case: String,
    tool: &'static str,
    slots: usize,
    keys: usize,
    seconds: f64,
    keys_per_s: f64,
    /// The same load for [`BASELINE`] right before the move.
    baseline: ClientFigures,
    client: ClientFigures,
}

/// Ours, timed from loading the owners to the engine's return.
async fn ours(d: &Deployed, slots: &[u16], opts: ReshardOptions) -> Result<Duration> {
    let started = Instant::now();
    let owners = SlotOwners::load(&d.map, ConnectOptions::default()).await?;
    let plan = moves_between(&owners, "s1n1", "s2n1", slots.len())?;
    let elapsed_plan = started.elapsed();
    let method = opts.method;
    let report = execute(&d.map, &plan, &opts, &mut |_| {}).await?;
    ensure!(
        report.method == method,
        "asked for {method:?}, moved by {:?}",
        report.method
    );
    let elapsed = started.elapsed();
    let planned: Vec<u16> = plan.moves.iter().map(|m| m.slot).collect();
    ensure!(
        planned == slots,
        "moves_between picked other slots than the dataset's"
    );
    eprintln!(
        "  redis-drill: {} slots, {} keys in {:.2?} (plan {:.2?}, engine {:.2?}, last SETSLOT NODE at {:.2?})",
        report.slots_moved,
        report.keys_moved,
        elapsed,
        elapsed_plan,
        report.duration,
        report.finished_after
    );
    if let Some(i) = &report.impact {
        eprintln!("  {i}");
    }
    Ok(elapsed)
}

/// redis-cli with its defaults, timed from spawn to exit.
async fn redis_cli(d: &Deployed, slots: usize, log: &std::path::Path) -> Result<Duration> {
    let s1 = d.member("s1n1")?;
    let s2 = d.member("s2n1")?;
    let id = |addr: SocketAddr| async move {
        redis::cmd("CLUSTER")
            .arg("MYID")
            .query_async::<String>(&mut node(addr).await?)
            .await
            .map_err(anyhow::Error::from)
    };
    let (from, to) = (id(s1.addr).await?, id(s2.addr).await?);
    let out = std::fs::File::create(log).context("creating the redis-cli log")?;
    let mut cmd = tokio::process::Command::new("redis-cli");
    cmd.args([
        "--cluster",
        "reshard",
        &s1.announce.to_string(),
        "--cluster-from",
        &from,
        "--cluster-to",
        &to,
        "--cluster-slots",
        &slots.to_string(),
        "--cluster-yes",
    ])
    .stdin(Stdio::null())
    .stdout(out.try_clone()?)
    .stderr(out)
    .kill_on_drop(true);
    set_parent_death_signal(cmd.as_std_mut());
    let started = Instant::now();
    let mut child = cmd.spawn().context("running redis-cli")?;
    let status = tokio::time::timeout(MOVE_LIMIT, child.wait())
        .await
        .map_err(|_| anyhow!("redis-cli --cluster reshard took over {MOVE_LIMIT:?}"))??;
    let elapsed = started.elapsed();
    ensure!(
        status.success(),
        "redis-cli --cluster reshard failed ({status}); see {}",
        log.display()
    );
    eprintln!("  redis-cli: {slots} slots in {elapsed:.2?}");
    Ok(elapsed)
}

fn set_parent_death_signal(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only calls prctl(2), which is async-signal-safe, and
    // allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Every key on s2n1, none on s1n1, and the slots owned by s2n1.
async fn verify_moved(d: &Deployed, slots: &[u16], keys: usize, s2_before: usize) -> Result<()> {
    converge(d).await?;
    let owners = SlotOwners::load(&d.map, ConnectOptions::default()).await?;
    let wrong: Vec<u16> = slots
        .iter()
        .copied()
        .filter(|&s| owners.owner(s) != Some("s2n1"))
        .collect();
    ensure!(
        wrong.is_empty(),
        "{} slots not on s2n1, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    ensure!(
        owners.count("s2n1") == s2_before + slots.len(),
        "s2n1 serves {} slots, expected {}: another set of slots moved",
        owners.count("s2n1"),
        s2_before + slots.len()
    );
    let (n1, n2) = (
        dbsize(d.member("s1n1")?.addr).await?,
        dbsize(d.member("s2n1")?.addr).await?,
    );
    ensure!(
        n1 == 0 && n2 == keys as u64,
        "after the move s1n1 holds {n1} keys and s2n1 {n2}, expected 0 and {keys}"
    );
    Ok(())
}

/// Put the slots back on s1n1 (untimed, with our engine) and empty the cluster.
async fn reset(d: &Deployed, slots: &[u16]) -> Result<()> {
    let plan = SlotMoves {
        moves: slots
            .iter()
            .map(|&slot| SlotMove {
                slot,
                from: "s2n1".into(),
                to: "s1n1".into(),
            })
            .collect(),
    };
    execute(&d.map, &plan, &ReshardOptions::default(), &mut |_| {}).await?;
    flushall(d).await?;
    converge(d).await
}

async fn run_case(
    d: &Deployed,
    tags: &[String],
    case: &Case,
    tools: &[&'static str],
    log: &std::path::Path,
) -> Result<Vec<Row>> {
    eprintln!("case {}", case.label);
    let owners = SlotOwners::load(&d.map, ConnectOptions::default()).await?;
    let s2_before = owners.count("s2n1");
    let slots: Vec<u16> = owners
        .slots_of("s1n1")
        .into_iter()
        .take(case.slots)
        .collect();
    ensure!(
        slots.len() == case.slots,
        "s1n1 serves fewer than {} slots",
        case.slots
    );
    let keys = Arc::new(dataset(tags, &slots, case.keys));
    let s1 = d.member("s1n1")?.addr;
    let mut rows = Vec::new();
    for &tool in tools {
        let t = Instant::now();
        load(s1, &keys).await?;
        ensure!(
            dbsize(s1).await? == keys.len() as u64,
            "s1n1 does not hold the dataset"
        );
        converge(d).await?;
        eprintln!("  loaded {} keys in {:.2?}", keys.len(), t.elapsed());
        let client = Client::start(d, keys.clone()).await?;
        tokio::time::sleep(BASELINE).await;
        let baseline = client.stop().await;
        let client = Client::start(d, keys.clone()).await?;
        let moved = match tool {
            "redis-drill" => ours(d, &slots, ReshardOptions::default()).await,
            MAX_IMPACT_TOOL => {
                let opts = ReshardOptions {
                    max_impact_ms: Some(MAX_IMPACT_MS),
                    ..ReshardOptions::default()
                };
                ours(d, &slots, opts).await
            }
            "redis-drill atomic" => {
                let opts = ReshardOptions {
                    method: Method::Atomic,
                    ..ReshardOptions::default()
                };
                ours(d, &slots, opts).await
            }
            ATOMIC_JOBS_TOOL => {
                let opts = ReshardOptions {
                    method: Method::Atomic,
                    atomic_job_keys: Some(ATOMIC_JOB_KEYS),
                    ..ReshardOptions::default()
                };
                ours(d, &slots, opts).await
            }
            _ => redis_cli(d, slots.len(), log).await,
        };
        let figures = client.stop().await;
        let elapsed = moved?;
        verify_moved(d, &slots, keys.len(), s2_before).await?;
        eprintln!(
            "  client: {} ok, {} failed, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms {:?}",
            figures.ok,
            figures.failed,
            figures.p50_ms,
            figures.p99_ms,
            figures.max_ms,
            figures.errors
        );
        rows.push(Row {
            case: case.label.to_string(),
            tool,
            slots: slots.len(),
            keys: keys.len(),
            seconds: elapsed.as_secs_f64(),
            keys_per_s: keys.len() as f64 / elapsed.as_secs_f64(),
            baseline,
            client: figures,
        });
        reset(d, &slots).await?;
    }
    Ok(rows)
}

#[derive(Serialize)]
struct Report<'a> {
    environment: String,
    quick: bool,
    value_bytes: usize,
    client_tasks: usize,
    rows: &'a [Row],
    ratios: Vec<Ratio>,
}

#[derive(Serialize)]
struct Ratio {
    case: String,
    /// Which of our methods.
    tool: &'static str,
    redis_cli_over_redis_drill: f64,
}

/// `only`: run the tools whose name contains one of these (all when empty),
/// for a quicker look at one row; redis-cli's ratio needs its row too.
async fn bench(quick: bool, valkey: bool, only: &[String]) -> Result<()> {
    let started = Instant::now();
    let tags = slot_tags()?;
    let (topology, tools): (&str, &[&'static str]) = if valkey {
        (
            TOPOLOGY_VALKEY,
            &[
                "redis-drill atomic",
                ATOMIC_JOBS_TOOL,
                "redis-drill",
                "redis-cli",
            ],
        )
    } else {
        (TOPOLOGY, &["redis-drill", MAX_IMPACT_TOOL, "redis-cli"])
    };
    let tools: Vec<&'static str> = tools
        .iter()
        .copied()
        .filter(|t| only.is_empty() || only.iter().any(|o| t.contains(o.as_str())))
        .collect();
    ensure!(!tools.is_empty(), "--only {only:?} matches no tool");
    let tools = tools.as_slice();
    eprintln!(
        "bringing up {} (process runtime)",
        Path::new(topology)
            .file_stem()
            .unwrap_or_default()
            .display()
    );
    let d = Deployed::up(
        Path::new(topology),
        format!("bench-reshard-{}", std::process::id()),
    )
    .await?;
    converge(&d).await?;
    let log = target_dir().join("bench-reshard-redis-cli.log");
    let mut rows = Vec::new();
    for case in cases(quick) {
        rows.extend(run_case(&d, &tags, &case, tools, &log).await?);
    }
    drop(d);

    let mut ratios: Vec<Ratio> = Vec::new();
    for c in cases(quick) {
        let t = |tool: &str| {
            rows.iter()
                .find(|r| r.case == c.label && r.tool == tool)
                .map(|r| r.seconds)
        };
        for &ours in tools.iter().filter(|t| t.starts_with("redis-drill")) {
            if let (Some(cli), Some(us)) = (t("redis-cli"), t(ours)) {
                ratios.push(Ratio {
                    case: c.label.to_string(),
                    tool: ours,
                    redis_cli_over_redis_drill: cli / us,
                });
            }
        }
    }
    let environment = environment(valkey);
    println!(
        "## Resharding: redis-drill engine vs `redis-cli --cluster reshard`{}\n",
        if valkey { " (Valkey 9.1)" } else { "" }
    );
    println!(
        "{environment}; values of {VALUE_BYTES} B; {CLIENT_TASKS} client tasks doing GET/SET during each move.\n"
    );
    println!(
        "| case | tool | seconds | keys/s | failed client ops | client ops ok (ops/s) | client p50 / p99 / max ms | client p99 before the move (ms) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.2} | {:.0} | {} | {} ({:.0}) | {:.2} / {:.2} / {:.1} | {:.2} |",
            r.case,
            r.tool,
            r.seconds,
            r.keys_per_s,
            r.client.failed,
            r.client.ok,
            r.client.ok as f64 / r.seconds,
            r.client.p50_ms,
            r.client.p99_ms,
            r.client.max_ms,
            r.baseline.p99_ms
        );
    }
    println!();
    for r in &ratios {
        println!(
            "- {}: {} is {:.1}x faster than redis-cli",
            r.case, r.tool, r.redis_cli_over_redis_drill
        );
    }
    let path = target_dir().join("bench-reshard.json");
    let report = Report {
        environment,
        quick,
        value_bytes: VALUE_BYTES,
        client_tasks: CLIENT_TASKS,
        rows: &rows,
        ratios,
    };
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "wrote {} ({:.0?} in all)",
        path.display(),
        started.elapsed()
    );
    Ok(())
}

fn environment(valkey: bool) -> String {
    use redis_drill::runtime::servers;
    use redis_drill::topology::Server;
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let server = if valkey {
        Server::Valkey91
    } else {
        Server::Redis
    };
    let version = servers::expected_binary(&server)
        .and_then(|b| servers::ask_version(&b))
        .map(|(name, v)| format!("{name} {v}"))
        .unwrap_or_else(|e| format!("{server} (version not read: {e})"));
    format!("{cpus} CPUs, {version}, cluster-3x1 on the process runtime")
}

fn target_dir() -> PathBuf {
    // The bench runs as target/<profile>/deps/reshard-<hash>.
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .filter(|d| d.is_dir())
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")))
}
