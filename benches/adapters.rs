//! `cargo bench --bench adapters -- [--secs N] [--rounds R] [--clients C]
//! [--libraries a,b,...]`: how fast each client library's adapter keeps the
//! open-loop schedule, against `redis-benchmark` on the same node with the
//! same number of connections — so that no adapter's own cost is taken for
//! Redis's.
//!
//! A one-node cluster (one shard, no replica: the node owns every slot, so
//! `redis-benchmark` in plain mode gets no MOVED) is brought up on the
//! process runtime; its 10,000 keys of 100 B are loaded. Then, in each of
//! `--rounds` interleaved rounds (this VM's rate moves by a third from
//! minute to minute):
//!
//! - `redis-benchmark -c C -d 100 -r 10000 -t set,get --threads 1`: its SET
//!   and GET rates and p50 latency (a closed loop: Redis's and redis-benchmark's
//!   own ceiling on this machine);
//! - each library, C clients (default 2, as in `client-matrix`), GET/SET
//!   50/50 on the same keys in an open loop, exactly as a drill runs it
//!   (`workload.clients`), at 100, 200, 400, ... ops/s, `--secs` each, until
//!   a rate it does not keep, then once between that and the last one kept.
//!   A rate is *kept* when every op due got a result, none failed, and the
//!   tool lag p99 (due → sent, as the adapter reports it, after the first
//!   half second) is at most 10 ms: past that the adapter is building a
//!   backlog, and every latency it reports measures it. redis-rs, the
//!   built-in app clients, is swept the same way beside them.
//!
//! The table: per library the highest rate kept (median and range over the
//! rounds), its ratio to redis-benchmark's rate, and, at 100 ops/s (a
//! library's share in `client-matrix` is about 120), the lag p99 and the
//! service time (sent → end) p50 beside redis-benchmark's p50. Markdown to
//! stdout, progress to stderr, every step as JSON to
//! `target/bench-adapters.json`. The node, and every adapter, is taken down
//! on every path (a drop guard; SIGINT/SIGTERM included).
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it only prints
//! how to run it.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;

use common::Deployed;

use anyhow::{Context, Result, anyhow, ensure};
use redis_drill::record::ops::{History, WorkloadStats};
use redis_drill::record::timeline::Clock;
use redis_drill::workload::adapter::SHIPPED;
use redis_drill::workload::groups::{ClientGroup, Clients, REDIS_RS};
use redis_drill::workload::{self, Mix, Model, ValueSize, Workload, WorkloadSpec};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

const KEYS: u64 = 10_000;
const VALUE_BYTES: usize = 100;
/// One redis-benchmark run may take this long at most.
const RB_LIMIT: Duration = Duration::from_secs(120);
/// The sweep's rates: doubling from the first, to the last at most.
const FIRST_RATE: f64 = 100.0;
const LAST_RATE: f64 = 51_200.0;
/// A rate is kept when the lag p99 is at most this.
const LAG_BOUND_MS: f64 = 10.0;
/// Ops due in a step's first half second are not judged (connections, JIT).
const WARMUP_NS: u64 = 500_000_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "bench `adapters` starts a Redis node and the client libraries' adapters; it only runs under `cargo bench --bench adapters -- [--secs N] [--rounds R] [--clients C] [--libraries a,b]` (skipped)"
        );
        return;
    }
    let mut opts = Opts {
        secs: 3.0,
        rounds: 3,
        clients: 2,
        libraries: std::iter::once(REDIS_RS)
            .chain(SHIPPED.iter().copied())
            .map(String::from)
            .collect(),
    };
    let usage = "usage: cargo bench --bench adapters -- [--secs N] [--rounds R] [--clients C] [--libraries redis-rs,redis-py,...]";
    let mut it = args.iter().filter(|a| *a != "--bench");
    while let Some(a) = it.next() {
        let v = it.next();
        let num = v.and_then(|v| v.parse::<f64>().ok());
        match (a.as_str(), num) {
            ("--secs", Some(n)) if (1.0..=600.0).contains(&n) => opts.secs = n,
            ("--rounds", Some(n)) if (1.0..=20.0).contains(&n) => opts.rounds = n as usize,
            ("--clients", Some(n)) if (1.0..=64.0).contains(&n) => opts.clients = n as u32,
            ("--libraries", _) if v.is_some() => {
                let list: Vec<String> = v
                    .into_iter()
                    .flat_map(|v| v.split(','))
                    .map(String::from)
                    .collect();
                if let Some(bad) = list
                    .iter()
                    .find(|l| *l != REDIS_RS && !SHIPPED.contains(&l.as_str()))
                {
                    eprintln!(
                        "error: unknown library {bad} (redis-rs or one of {})\n{usage}",
                        SHIPPED.join(", ")
                    );
                    std::process::exit(2);
                }
                opts.libraries = list;
            }
            _ => {
                eprintln!("error: bad argument {a}\n{usage}");
                std::process::exit(2);
            }
        }
    }
    common::run_main(
        async move {
            bench(opts).await?;
            Ok(0)
        },
        || {},
    );
}

struct Opts {
    secs: f64,
    rounds: usize,
    clients: u32,
    libraries: Vec<String>,
}

/// redis-benchmark's rate (mean of SET and GET) and p50 latency (ms, mean of the two).
async fn redis_benchmark(addr: SocketAddr, clients: u32, secs: f64) -> Result<(f64, f64)> {
    // Sized to take about `secs` at ~40k requests/s per test.
    let n = ((secs * 40_000.0) as u64).max(10_000);
    let mut cmd = tokio::process::Command::new("redis-benchmark");
    cmd.args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(["-c", &clients.to_string(), "-n", &n.to_string()])
        .args(["-d", &VALUE_BYTES.to_string(), "-r", &KEYS.to_string()])
        .args(["-t", "set,get", "--threads", "1", "--csv"])
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
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...
    let field = |test: &str, i: usize| -> Result<f64> {
        text.lines()
            .find(|l| l.starts_with(&format!("\"{test}\"")))
            .and_then(|l| l.split(',').nth(i))
            .and_then(|v| v.trim_matches('"').parse().ok())
            .ok_or_else(|| anyhow!("no {test} field {i} in redis-benchmark's output:\n{text}"))
    };
    let rate = (field("SET", 1)? + field("GET", 1)?) / 2.0;
    let p50 = (field("SET", 4)? + field("GET", 4)?) / 2.0;
    Ok((rate, p50))
}

/// One library at one rate.
#[derive(Serialize, Clone)]
struct Step {
    library: String,
    version: Option<String>,
    offered: f64,
    /// Ops due after the warm-up, and those of them that succeeded.
    judged: u64,
    ok: u64,
    failed: u64,
    /// Ops fed to the adapter that it gave no result for (0 for redis-rs).
    unanswered: u64,
    lag_p50_ms: f64,
    lag_p99_ms: f64,
    service_p50_ms: f64,
    service_p99_ms: f64,
    kept: bool,
    problem: Option<String>,
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn judge(
    library: &str,
    rate: f64,
    start_ns: u64,
    history: &History,
    stats: &WorkloadStats,
) -> Step {
    let judged: Vec<_> = (history.iter())
        .filter(|o| o.due_ns >= start_ns + WARMUP_NS)
        .collect();
    let ok = judged.iter().filter(|o| o.is_ok()).count() as u64;
    let mut lag: Vec<f64> = (judged.iter())
        .map(|o| o.sent_ns.saturating_sub(o.due_ns) as f64 / 1e6)
        .collect();
    let mut service: Vec<f64> = (judged.iter())
        .filter(|o| o.is_ok())
        .map(|o| o.end_ns.saturating_sub(o.sent_ns) as f64 / 1e6)
        .collect();
    let adapter = stats.adapters.first();
    let unanswered = adapter.map_or(0, |a| a.fed.saturating_sub(a.results));
    let problem = adapter.and_then(|a| a.problem.clone());
    let (lag_p50_ms, lag_p99_ms) = (pct(&mut lag, 0.5), pct(&mut lag, 0.99));
    let failed = judged.len() as u64 - ok;
    Step {
        library: library.to_string(),
        version: match adapter {
            Some(a) => a.version.clone(),
            None => stats.app_library.as_ref().map(|l| l.version.clone()),
        },
        offered: rate,
        judged: judged.len() as u64,
        ok,
        failed,
        unanswered,
        lag_p50_ms,
        lag_p99_ms,
        service_p50_ms: pct(&mut service, 0.5),
        service_p99_ms: pct(&mut service, 0.99),
        kept: failed == 0
            && unanswered == 0
            && problem.is_none()
            && !judged.is_empty()
            && lag_p99_ms <= LAG_BOUND_MS,
        problem,
    }
}

/// `library`'s `clients` clients at `rate` ops/s for `secs`, as a drill runs them.
async fn step(d: &Deployed, library: &str, clients: u32, rate: f64, secs: f64) -> Result<Step> {
    let clients = if library == REDIS_RS {
        Clients::from(clients)
    } else {
        Clients {
            redis_rs: 0,
            groups: vec![ClientGroup {
                library: library.to_string(),
                count: clients,
                name: None,
                settings: serde_json::Map::new(),
                region: None,
            }],
        }
    };
    let spec = WorkloadSpec {
        clients,
        probe_clients: 0,
        model: Model::Open { rate },
        keys: KEYS,
        value_size: ValueSize::Fixed(VALUE_BYTES),
        mix: Mix {
            get: 50,
            set: 50,
            ..Mix::default()
        },
        ..WorkloadSpec::default()
    };
    let clock = Clock::start();
    let w = Workload::start(
        d.map.clone(),
        workload::Sharding::Cluster,
        spec,
        1,
        clock,
        CancellationToken::new(),
    )
    .await
    .with_context(|| {
        format!("starting {library}'s clients (./bootstrap.sh installs the adapters)")
    })?;
    let start_ns = clock.ns(Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let r = w.stop().await;
    Ok(judge(library, rate, start_ns, &r.history, &r.stats))
}

/// The rates tried for a library, each step's figures, and the highest kept.
async fn sweep(d: &Deployed, library: &str, o: &Opts) -> Result<(Vec<Step>, Option<f64>)> {
    let mut steps = Vec::new();
    let mut last_kept: Option<f64> = None;
    let mut rate = FIRST_RATE;
    let show = |s: &Step| {
        eprintln!(
            "  {library} at {:.0} ops/s: {} · lag p50/p99 {:.2}/{:.2} ms · service p50/p99 {:.2}/{:.2} ms{}",
            s.offered,
            if s.kept { "kept" } else { "NOT kept" },
            s.lag_p50_ms,
            s.lag_p99_ms,
            s.service_p50_ms,
            s.service_p99_ms,
            match (&s.problem, s.failed + s.unanswered) {
                (Some(p), _) => format!(" · {p}"),
                (None, 0) => String::new(),
                (None, n) => format!(" · {n} failed or unanswered"),
            }
        )
    };
    loop {
        let s = step(d, library, o.clients, rate, o.secs).await?;
        show(&s);
        let kept = s.kept;
        steps.push(s);
        if !kept {
            // Once between the last kept and this one.
            if let Some(k) = last_kept {
                let mid = (k * rate).sqrt().round();
                let s = step(d, library, o.clients, mid, o.secs).await?;
                show(&s);
                if s.kept {
                    last_kept = Some(mid);
                }
                steps.push(s);
            }
            break;
        }
        last_kept = Some(rate);
        if rate >= LAST_RATE {
            break;
        }
        rate *= 2.0;
    }
    Ok((steps, last_kept))
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

    fn show(&self, decimals: usize, unit: &str) -> String {
        if self.min == self.max {
            return format!("{:.*}{unit}", decimals, self.median);
        }
        format!(
            "{:.*}{unit} ({:.*}–{:.*})",
            decimals, self.median, decimals, self.min, decimals, self.max
        )
    }
}

#[derive(Serialize)]
struct Row {
    library: String,
    version: Option<String>,
    /// The highest rate kept in each round (0: not even the first).
    highest_kept: Spread,
    /// Its ratio to redis-benchmark's rate in the same round.
    ratio: Spread,
    /// At the first rate (100 ops/s).
    lag_p99_ms_at_first: Spread,
    service_p50_ms_at_first: Spread,
    /// True when the sweep's last rate was kept in some round (the ceiling is higher).
    capped: bool,
}

#[derive(Serialize)]
struct Out {
    clients: u32,
    secs: f64,
    rounds: usize,
    redis_benchmark_ops_per_s: Spread,
    redis_benchmark_p50_ms: Spread,
    rows: Vec<Row>,
    steps: Vec<Vec<Step>>,
}

async fn bench(o: Opts) -> Result<()> {
    eprintln!("bringing up a one-node cluster (process runtime)");
    let dir = tempfile::tempdir().context("creating a temp dir")?;
    let topology = dir.path().join("bench-adapters.yaml");
    std::fs::write(
        &topology,
        "# one node owning every slot, for bench-adapters\nname: bench-adapters\nkind: cluster\ncluster:\n  shards: 1\n  replicas: 0\n",
    )?;
    let d = Deployed::up(&topology, format!("bench-adapters-{}", std::process::id())).await?;
    let addr = d.members.first().context("no node")?.addr;
    let spec = WorkloadSpec {
        keys: KEYS,
        value_size: ValueSize::Fixed(VALUE_BYTES),
        ..WorkloadSpec::default()
    };
    workload::load(&d.map, &workload::Sharding::Cluster, &spec, 1).await?;
    let (mut rb_rate, mut rb_p50) = (Vec::new(), Vec::new());
    // Per library: each round's (highest kept, steps).
    let mut per_lib: Vec<Vec<(f64, Vec<Step>)>> = vec![Vec::new(); o.libraries.len()];
    for round in 1..=o.rounds {
        eprintln!(
            "round {round}/{}: redis-benchmark -c {}",
            o.rounds, o.clients
        );
        let (rate, p50) = redis_benchmark(addr, o.clients, o.secs).await?;
        eprintln!("  redis-benchmark: {rate:.0} ops/s (mean of SET and GET), p50 {p50:.3} ms");
        rb_rate.push(rate);
        rb_p50.push(p50);
        for (i, lib) in o.libraries.iter().enumerate() {
            let (steps, kept) = sweep(&d, lib, &o).await?;
            per_lib[i].push((kept.unwrap_or(0.0), steps));
        }
    }
    let mut rows = Vec::new();
    let mut all_steps = Vec::new();
    for (lib, rounds) in o.libraries.iter().zip(per_lib) {
        let first =
            |f: fn(&Step) -> f64| Spread::of(rounds.iter().map(|(_, s)| f(&s[0])).collect());
        rows.push(Row {
            library: lib.clone(),
            version: rounds.iter().find_map(|(_, s)| s[0].version.clone()),
            highest_kept: Spread::of(rounds.iter().map(|(k, _)| *k).collect()),
            ratio: Spread::of(
                rounds
                    .iter()
                    .zip(&rb_rate)
                    .map(|((k, _), r)| k / r)
                    .collect(),
            ),
            lag_p99_ms_at_first: first(|s| s.lag_p99_ms),
            service_p50_ms_at_first: first(|s| s.service_p50_ms),
            capped: rounds.iter().any(|(k, _)| *k >= LAST_RATE),
        });
        all_steps.extend(rounds.into_iter().map(|(_, s)| s));
    }
    let out = Out {
        clients: o.clients,
        secs: o.secs,
        rounds: o.rounds,
        redis_benchmark_ops_per_s: Spread::of(rb_rate),
        redis_benchmark_p50_ms: Spread::of(rb_p50),
        rows,
        steps: all_steps,
    };
    println!(
        "| {} connections, one node | highest rate kept, ops/s | ÷ redis-benchmark | lag p99 at {FIRST_RATE:.0} ops/s | service p50 at {FIRST_RATE:.0} ops/s |",
        o.clients
    );
    println!("|---|--:|--:|--:|--:|");
    println!(
        "| redis-benchmark (closed loop, its maximum) | {} | 1 | – | {} |",
        out.redis_benchmark_ops_per_s.show(0, ""),
        out.redis_benchmark_p50_ms.show(3, " ms")
    );
    for r in &out.rows {
        let name = match &r.version {
            Some(v) => format!("{} {v}", r.library),
            None => r.library.clone(),
        };
        println!(
            "| {name} | {}{} | {} | {} | {} |",
            if r.capped { "≥ " } else { "" },
            r.highest_kept.show(0, ""),
            r.ratio.show(2, "×"),
            r.lag_p99_ms_at_first.show(2, " ms"),
            r.service_p50_ms_at_first.show(2, " ms"),
        );
    }
    println!(
        "\nmedian (min–max) of {} interleaved rounds; a rate is kept when every op due got a result, none failed, and the lag p99 (due → sent) stayed ≤ {LAG_BOUND_MS} ms; rates tried: {FIRST_RATE:.0} doubling to {LAST_RATE:.0}, then once between the last kept and the first not",
        o.rounds
    );
    let json = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-adapters.json");
    std::fs::write(&json, serde_json::to_string_pretty(&out)?)?;
    eprintln!("figures: {}", json.display());
    Ok(())
}
