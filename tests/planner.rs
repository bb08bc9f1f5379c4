//! The capacity planner's report (`status --report`) on a real cluster of
//! the process runtime, every figure checked against an independent read:
//! keys against each node's DBSIZE (redis-cli), the hot slot against
//! CLUSTER COUNTKEYSINSLOT, headroom against `maxmemory − used_memory` read
//! by redis-cli before and after, ops/s against the PINGs a paced client of
//! this test counted itself; the HTML page rendered in headless Chromium.
//! And bad input: an unknown format, a too short interval, nothing up.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use redis_drill::exit;
use redis_drill::planner::PlannerReport;
use redis_drill::planner::arithmetic::Fill;
use redis_drill::slots::{SlotRange, key_slot};
use redis_drill::topology::Role;

/// Keys written under one hash tag: they all land in one slot.
const HOT_KEYS: u64 = 3000;
/// Keys spread over every slot.
const SPREAD_KEYS: u64 = 3000;
/// The PING rate the test's own client holds on the hot primary.
const PINGS_PER_S: f64 = 2000.0;
/// How far the report's ops/s may stray from the PINGs counted by the
/// client over the same run: the window's edges are worth one PING
/// (0.05 %); the rest is the 2-core machine's scheduling of the pacer.
const OPS_TOLERANCE: f64 = 0.05;
/// How far used_memory may drift between redis-cli's reads and the report's
/// own: our connections' buffers (an INFO reply is ~5 KiB) on a node of
/// a few MiB; 0.4 % of the 64 MiB limit.
const MEMORY_SLACK: i64 = 256 * 1024;
const MAXMEMORY: u64 = 64 * 1024 * 1024;

fn cli(addr: SocketAddr, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(args)
        .bounded_output()
        .expect("redis-cli runs");
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn info_field(addr: SocketAddr, section: &str, field: &str) -> u64 {
    cli(addr, &["INFO", section])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .parse()
        .unwrap()
}

/// PINGs at `rate` on an absolute schedule (a late one is sent at once, so
/// the average holds), each completion stamped.
fn paced_pings(addr: SocketAddr, rate: f64, stop: Arc<AtomicBool>) -> Vec<Instant> {
    let mut con = redis::Client::open(format!("redis://{addr}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let step = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut done = Vec::new();
    // Bounded: at most a minute of PINGs.
    for i in 0..(rate as u64 * 60) {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let due = start + step * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let _: String = redis::cmd("PING").query(&mut con).unwrap();
        done.push(Instant::now());
    }
    done
}

#[test]
fn the_planner_report_agrees_with_independent_reads() {
    let env = Env::new("process");
    let g = env.up(&topology("cluster-3x1-fast.yaml"), "planner");
    let st = g.status();
    let owner = |slot: u16| -> SocketAddr {
        st.nodes
            .iter()
            .find(|n| {
                n.slot_ranges
                    .iter()
                    .any(|r| r.parse::<SlotRange>().unwrap().contains(slot))
            })
            .expect("every slot has an owner")
            .address
    };
    let hot_slot = key_slot(b"{hot}:0");
    let hot = owner(hot_slot);
    let hot_name = st
        .nodes
        .iter()
        .find(|n| n.address == hot)
        .unwrap()
        .name
        .clone();

    // Write the keys, each to its slot's owner, then wait for the replicas.
    let value = "v".repeat(64);
    let mut by_owner: std::collections::BTreeMap<SocketAddr, Vec<String>> = Default::default();
    for i in 0..HOT_KEYS {
        by_owner
            .entry(hot)
            .or_default()
            .push(format!("{{hot}}:{i}"));
    }
    for i in 0..SPREAD_KEYS {
        let k = format!("spread:{i}");
        by_owner
            .entry(owner(key_slot(k.as_bytes())))
            .or_default()
            .push(k);
    }
    for (addr, keys) in &by_owner {
        let mut con = redis::Client::open(format!("redis://{addr}/"))
            .unwrap()
            .get_connection()
            .unwrap();
        let mut pipe = redis::pipe();
        for k in keys {
            pipe.cmd("SET").arg(k).arg(&value).ignore();
        }
        pipe.query::<()>(&mut con).unwrap();
        let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut con).unwrap();
        assert_eq!(acked, 1, "{addr}: the replica acknowledged the writes");
    }
    cli(hot, &["CONFIG", "SET", "maxmemory", &MAXMEMORY.to_string()]);

    // A known load on the hot primary while the report samples.
    let stop = Arc::new(AtomicBool::new(false));
    let pinger = {
        let stop = stop.clone();
        std::thread::spawn(move || paced_pings(hot, PINGS_PER_S, stop))
    };
    std::thread::sleep(Duration::from_millis(500));
    let used_before = info_field(hot, "memory", "used_memory") as i64;
    let (t0, out) = (
        Instant::now(),
        g.run(
            &[
                "status",
                "--report",
                "json",
                "--interval-ms",
                "2000",
                "--runs",
            ]
            .into_iter()
            .chain([env.files.path().to_str().unwrap()])
            .collect::<Vec<_>>(),
        ),
    );
    let t1 = Instant::now();
    let used_after = info_field(hot, "memory", "used_memory") as i64;
    stop.store(true, Ordering::Relaxed);
    let pings = pinger.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: PlannerReport = serde_json::from_slice(&out.stdout).expect("a PlannerReport");

    // Keys: each node's DBSIZE.
    for n in &r.nodes {
        let dbsize: u64 = cli(n.address, &["DBSIZE"]).parse().unwrap();
        assert_eq!(n.keys, Some(dbsize), "{}", n.name);
    }
    let total: u64 = r
        .nodes
        .iter()
        .filter(|n| n.role == Some(Role::Primary))
        .filter_map(|n| n.keys)
        .sum();
    assert_eq!(total, HOT_KEYS + SPREAD_KEYS);

    // The hot slot is the hot primary's biggest, with its COUNTKEYSINSLOT.
    let h = r.nodes.iter().find(|n| n.name == hot_name).unwrap();
    let k = h
        .keys_per_slot
        .as_ref()
        .expect("a primary's slots are counted");
    let counted: u64 = cli(hot, &["CLUSTER", "COUNTKEYSINSLOT", &hot_slot.to_string()])
        .parse()
        .unwrap();
    assert_eq!(k.biggest[0].slot, hot_slot);
    assert_eq!(k.biggest[0].keys, counted);
    assert!(counted >= HOT_KEYS);
    assert!(
        k.max_over_mean.unwrap() > 100.0,
        "a hot slot is skew: {k:?}"
    );
    assert_eq!(
        k.keys,
        h.keys.unwrap(),
        "the slots' counts add up to DBSIZE"
    );
    for n in r.nodes.iter().filter(|n| n.role == Some(Role::Replica)) {
        assert!(
            n.keys_per_slot.is_none(),
            "{}: replicas own no slots",
            n.name
        );
        assert!(n.lag_bytes.is_some(), "{}: its lag is read", n.name);
    }

    // Headroom: maxmemory − used_memory, and used_memory as redis-cli reads it.
    let head = h.headroom.as_ref().unwrap();
    assert_eq!(head.maxmemory_bytes, MAXMEMORY);
    let used = h.used_memory_bytes.unwrap() as i64;
    assert_eq!(head.headroom_bytes, Some(MAXMEMORY as i64 - used));
    let (lo, hi) = (used_before.min(used_after), used_before.max(used_after));
    assert!(
        (lo - MEMORY_SLACK..=hi + MEMORY_SLACK).contains(&used),
        "used_memory {used} outside redis-cli's {lo}..{hi} ± {MEMORY_SLACK}"
    );
    assert!(
        !matches!(h.fill, Fill::NoLimit | Fill::Unknown),
        "{:?}",
        h.fill
    );
    for n in r.nodes.iter().filter(|n| n.name != hot_name) {
        assert_eq!(n.fill, Fill::NoLimit, "{}", n.name);
        assert_eq!(n.headroom.as_ref().unwrap().headroom_bytes, None);
    }

    // ops/s: against the PINGs our client completed while the report ran.
    let window = (t1 - t0).as_secs_f64();
    let independent = pings.iter().filter(|t| **t >= t0 && **t <= t1).count() as f64 / window;
    let ops = h.ops_per_s.unwrap();
    eprintln!(
        "ops/s on {hot_name}: report {ops:.1}, PINGs counted {independent:.1}, \
         Redis instantaneous {:?}; sampled over {:?} ms",
        h.instantaneous_ops_per_sec, h.sampled_ms
    );
    assert!(
        (ops - independent).abs() <= independent * OPS_TOLERANCE,
        "report {ops:.1} ops/s vs {independent:.1} PINGs/s counted"
    );
    assert!((h.sampled_ms.unwrap() - 2000.0).abs() < 200.0);
    assert!(h.instantaneous_ops_per_sec.is_some());

    // The shards, the regions and the plan are there; no reshard on record.
    assert_eq!(r.shards.len(), 3);
    assert!(r.shards.iter().all(|s| s.replicas.len() == 1));
    assert_eq!(
        r.regions.iter().map(|g| g.keys).sum::<u64>(),
        HOT_KEYS + SPREAD_KEYS
    );
    let plan = r.even_out.as_ref().expect("a cluster has a plan");
    assert_eq!(plan.primaries.len(), 3);
    assert_eq!(r.reshard_rate.keys_per_s, None);
    assert!(r.reshard_rate.note.contains("no reshard drill on record"));

    // Markdown and HTML from the same topology.
    let html = env.files.path().join("planner.html");
    let out = g.run(&[
        "status",
        "--report",
        "html",
        "--interval-ms",
        "200",
        "--out",
        html.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg").count(), 3, "three charts");
    // In a real browser: the used-memory bars (RGB 20, 80, 200) are drawn.
    let png = env.files.path().join("planner.png");
    screenshot(&html, &png, (1200, 2000));
    let (all, ink, blue) = census(&png, [20, 80, 200]);
    assert!(
        ink * 20 > all,
        "the page is nearly blank: {ink} of {all} pixels"
    );
    assert!(blue > 500, "no used-memory bars in the page: {blue} pixels");
    let md = String::from_utf8(
        g.run(&["status", "--report", "md", "--interval-ms", "200"])
            .stdout,
    )
    .unwrap();
    assert!(md.contains(&format!("| {hot_name} | primary |")), "{md}");
    assert!(md.contains(&format!("{hot_slot}: {counted}")), "{md}");
    g.down();
}

#[test]
fn bad_input_gets_a_clear_error_and_the_bad_input_code() {
    let env = Env::new("process");
    let out = env.run(&["status", "--report", "xml"]);
    assert_eq!(out.status.code(), Some(exit::BAD_INPUT));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'xml'"));
    let out = env.run(&["status", "--report", "json", "--interval-ms", "5"]);
    assert_eq!(out.status.code(), Some(exit::BAD_INPUT));
    let out = env.run(&["status", "--report", "json"]);
    assert_eq!(out.status.code(), Some(exit::BAD_INPUT));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing is up"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
