//! `cargo bench --bench workload -- [--secs N] [--rounds R]`: the workload at
//! its maximum rate against `redis-benchmark`, on the same node, with the same
//! number of connections, unpipelined and at pipeline depth 16.
//!
//! A one-node cluster (one shard, no replica: the node owns every slot, so
//! `redis-benchmark` in plain mode gets no MOVED) is brought up on the process
//! runtime: both tools reach it over loopback, with nothing in between. Its
//! 10,000 keys of 100 B are loaded, then, for each case:
//!
//! - `redis-benchmark -c C -P P -d 100 -r 10000 -t set,get --threads 1`, run
//!   long enough for about `--secs` seconds each; its SET and GET rates;
//! - the workload in a closed loop with the same C clients (`depth: P`),
//!   GET/SET 50/50 on the same keys and value size, on one event loop (like
//!   `redis-benchmark --threads 1`), every op recorded in the history as in
//!   a drill — once with app clients (the redis crate's cluster client),
//!   once with probe clients (redis-drill's own). Neither tool gets a raised
//!   priority.
//!
//! The three are measured in turn, `--rounds` times (default 3), because the
//! rate this VM gives varies by a third from minute to minute: the table has
//! each one's median and range, and the ratio is the median of the rounds'
//! ratios (the workload's ops/s over the mean of redis-benchmark's SET and
//! GET rates in the same round). The Markdown table goes to stdout, progress to stderr, the
//! figures as JSON to `target/bench-workload.json`. The node is taken down on
//! every path (a drop guard; SIGINT/SIGTERM included).
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it only prints
//! how to run it.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;

use common::Deployed;

use anyhow::{Context, Result, anyhow, ensure};
use redis_drill::record::timeline::Clock;
use redis_drill::workload::{self, Mix, Model, ValueSize, Workload, WorkloadSpec};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

const KEYS: u64 = 10_000;
const VALUE_BYTES: usize = 100;
/// One redis-benchmark run may take this long at most.
const RB_LIMIT: Duration = Duration::from_secs(120);

/// (connections, pipeline depth)
const CASES: [(u32, u32); 2] = [(48, 1), (48, 16)];

const TOPOLOGY: &str = "# one node owning every slot, for bench-workload\n\
name: bench-workload\nkind: cluster\ncluster:\n  shards: 1\n  replicas: 0\n";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "bench `workload` starts a Redis node; it only runs under `cargo bench --bench workload -- [--secs N]` (skipped)"
        );
        return;
    }
    let (mut secs, mut rounds) = (4.0, 3usize);
    let mut it = args.iter().filter(|a| *a != "--bench");
    while let Some(a) = it.next() {
        match (a.as_str(), it.next().map(|v| v.parse::<f64>())) {
            ("--secs", Some(Ok(v))) if v > 0.0 && v <= 600.0 => secs = v,
            ("--rounds", Some(Ok(v))) if (1.0..=20.0).contains(&v) => rounds = v as usize,
            _ => {
                eprintln!(
                    "error: bad argument {a}\nusage: cargo bench --bench workload -- [--secs N] [--rounds R]"
                );
                std::process::exit(2);
            }
        }
    }
    common::run_main(
        async move {
            bench(secs, rounds).await?;
            Ok(0)
        },
        || {},
    );
}

/// redis-benchmark's requests per second for SET and GET.
async fn redis_benchmark(
    addr: SocketAddr,
    clients: u32,
    pipeline: u32,
    secs: f64,
) -> Result<(f64, f64)> {
    // Requests sized to take about `secs` at ~100k/s unpipelined, more pipelined.
    let n = ((secs * 100_000.0) as u64 * u64::from(pipeline.min(8))).max(10_000);
    let mut cmd = tokio::process::Command::new("redis-benchmark");
    cmd.args([
        "-h",
        &addr.ip().to_string(),
        "-p",
        &addr.port().to_string(),
        "-c",
        &clients.to_string(),
        "-P",
        &pipeline.to_string(),
        "-n",
        &n.to_string(),
        "-d",
        &VALUE_BYTES.to_string(),
        "-r",
        &KEYS.to_string(),
        "-t",
        "set,get",
        "--threads",
        "1",
        "--csv",
    ])
    .stdin(Stdio::null())
    .kill_on_drop(true);
    let out = tokio::time::timeout(RB_LIMIT, cmd.output())
        .await
        .map_err(|_| anyhow!("redis-benchmark took over {RB_LIMIT:?}"))?
        .context("running redis-benchmark (apt-get install redis-tools)")?;
    ensure!(
        out.status.success(),
        "redis-benchmark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = |test: &str| -> Result<f64> {
        text.lines()
            .find(|l| l.starts_with(&format!("\"{test}\"")))
            .and_then(|l| l.split(',').nth(1))
            .and_then(|v| v.trim_matches('"').parse().ok())
            .ok_or_else(|| anyhow!("no {test} rate in redis-benchmark's output:\n{text}"))
    };
    Ok((rps("SET")?, rps("GET")?))
}

/// The workload's ops per second, in a closed loop for `secs`, with history.
async fn ours(d: &Deployed, app: bool, clients: u32, depth: u32, secs: f64) -> Result<(f64, u64)> {
    let spec = WorkloadSpec {
        clients: if app { clients } else { 0 }.into(),
        probe_clients: if app { 0 } else { clients },
        model: Model::Closed,
        depth,
        keys: KEYS,
        value_size: ValueSize::Fixed(VALUE_BYTES),
        mix: Mix {
            get: 50,
            set: 50,
            incr: 0,
            ..Mix::default()
        },
        // One event loop, like redis-benchmark --threads 1, and no priority
        // over the server: a fair fight.
        threads: 1,
        realtime: false,
        nice: 0,
        reference_ping_ms: 0,
        ..WorkloadSpec::default()
    };
    let w = Workload::start(
        d.map.clone(),
        workload::Sharding::Cluster,
        spec,
        1,
        Clock::start(),
        CancellationToken::new(),
    )
    .await?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let r = w.stop().await;
    let elapsed = started.elapsed().as_secs_f64();
    let failed = r.history.iter().filter(|o| !o.is_ok()).count() as u64;
    ensure!(!r.history.is_empty(), "the workload recorded nothing");
    Ok((r.history.len() as f64 / elapsed, failed))
}

/// Median and range of a few figures.
#[derive(Serialize)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Spread {
        v.sort_by(f64::total_cmp);
        Spread {
            median: v[v.len() / 2],
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    fn ops(&self) -> String {
        format!("{:.0} ({:.0}–{:.0})", self.median, self.min, self.max)
    }

    fn ratio(&self) -> String {
        format!("{:.2}× ({:.2}–{:.2})", self.median, self.min, self.max)
    }
}

#[derive(Serialize)]
struct Row {
    clients: u32,
    pipeline: u32,
    rounds: usize,
    redis_benchmark: Spread,
    app_ops_per_s: Spread,
    app_ratio: Spread,
    probe_ops_per_s: Spread,
    probe_ratio: Spread,
}

async fn bench(secs: f64, rounds: usize) -> Result<()> {
    eprintln!("bringing up a one-node cluster (process runtime)");
    let dir = tempfile::tempdir().context("creating a temp dir")?;
    let topology = dir.path().join("bench-workload.yaml");
    std::fs::write(&topology, TOPOLOGY)?;
    let d = Deployed::up(&topology, format!("bench-workload-{}", std::process::id())).await?;
    let addr = d.members.first().context("no node")?.addr;
    let spec = WorkloadSpec {
        keys: KEYS,
        value_size: ValueSize::Fixed(VALUE_BYTES),
        ..WorkloadSpec::default()
    };
    workload::load(&d.map, &workload::Sharding::Cluster, &spec, 1).await?;
    let mut rows = Vec::new();
    for (clients, pipeline) in CASES {
        let (mut rb, mut app, mut probe) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=rounds {
            eprintln!("{clients} connections, pipeline {pipeline}, round {round}/{rounds}");
            let (set, get) = redis_benchmark(addr, clients, pipeline, secs).await?;
            let (a, a_failed) = ours(&d, true, clients, pipeline, secs).await?;
            let (p, p_failed) = ours(&d, false, clients, pipeline, secs).await?;
            ensure!(
                a_failed + p_failed == 0,
                "{} ops failed during the bench",
                a_failed + p_failed
            );
            eprintln!(
                "  redis-benchmark SET {set:.0}/s GET {get:.0}/s · app {a:.0} ops/s · probe {p:.0} ops/s"
            );
            rb.push((set + get) / 2.0);
            app.push(a);
            probe.push(p);
        }
        let ratio = |ours: &[f64]| Spread::of(ours.iter().zip(&rb).map(|(o, r)| o / r).collect());
        rows.push(Row {
            clients,
            pipeline,
            rounds,
            app_ratio: ratio(&app),
            probe_ratio: ratio(&probe),
            redis_benchmark: Spread::of(rb.clone()),
            app_ops_per_s: Spread::of(app),
            probe_ops_per_s: Spread::of(probe),
        });
    }
    println!(
        "| connections | pipeline | redis-benchmark, mean of SET and GET | workload, app clients (redis-rs) | ratio | workload, probe clients | ratio |"
    );
    println!("|--:|--:|--:|--:|--:|--:|--:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.clients,
            r.pipeline,
            r.redis_benchmark.ops(),
            r.app_ops_per_s.ops(),
            r.app_ratio.ratio(),
            r.probe_ops_per_s.ops(),
            r.probe_ratio.ratio()
        );
    }
    println!("\nops/s: median (min–max) of {rounds} interleaved rounds of {secs} s each");
    let json = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-workload.json");
    std::fs::write(&json, serde_json::to_string_pretty(&rows)?)?;
    eprintln!("figures: {}", json.display());
    Ok(())
}
