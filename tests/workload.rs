//! The workload against a real cluster of local redis-server processes,
//! brought up through the binary: load, a closed-loop and an open-loop run,
//! counters, the final read, and the checkers on the recorded history (also
//! after a round trip through JSON lines). No faults: the cluster is stable,
//! so every op must succeed and nothing may be lost.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use redis_drill::checker;
use redis_drill::cluster::AddressMap;
use redis_drill::record::ops::{self, ClientMode, History, OpKind};
use redis_drill::record::timeline::Clock;
use redis_drill::status::StatusReport;
use redis_drill::workload::{self, Mix, Model, Recorded, Sharding, Workload, WorkloadSpec};
use tokio_util::sync::CancellationToken;

/// Primary name by slot range, from a topology report, for the downtime checker.
fn shard_names(status: &StatusReport) -> Vec<(u16, u16, String)> {
    let mut out = Vec::new();
    for n in &status.nodes {
        for r in &n.slot_ranges {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            out.push((a.parse().unwrap(), b.parse().unwrap(), n.name.clone()));
        }
    }
    out
}

/// Run `spec` for `secs`, bounded, and return what it recorded.
async fn record_for(
    map: &AddressMap,
    spec: &WorkloadSpec,
    seed: u64,
    clock: Clock,
    secs: f64,
) -> Recorded {
    let cancel = CancellationToken::new();
    let w = Workload::start(
        map.clone(),
        Sharding::Cluster,
        spec.clone(),
        seed,
        clock,
        cancel,
    )
    .await
    .expect("start the workload");
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    tokio::time::timeout(Duration::from_secs(20), w.stop())
        .await
        .expect("stop within 20 s")
}

async fn run_for(
    map: &AddressMap,
    spec: &WorkloadSpec,
    seed: u64,
    clock: Clock,
    secs: f64,
) -> History {
    record_for(map, spec, seed, clock, secs).await.history
}

/// Final values of `keys` as the initial state of the next run.
fn as_initial(finals: &HashMap<String, Option<String>>) -> HashMap<String, String> {
    finals
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .collect()
}

#[test]
fn workload_on_a_stable_process_cluster() {
    let env = Env::new("process");
    let up = env.up(&topology("cluster-3x1.yaml"), "wl");
    let status = up.status();
    let map = address_map(&status);
    let shards = shard_names(&status);
    let shard_of = |slot: u16| {
        shards
            .iter()
            .find(|(a, b, _)| (*a..=*b).contains(&slot))
            .map(|s| s.2.clone())
            .unwrap_or_else(|| "none".into())
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let clock = Clock::start();
        let spec = WorkloadSpec {
            clients: 4.into(),
            probe_clients: 1,
            keys: 2000,
            mix: Mix {
                get: 50,
                set: 50,
                incr: 0,
                ..Mix::default()
            },
            ..WorkloadSpec::default()
        };

        // Load.
        let loaded = workload::load(&map, &Sharding::Cluster, &spec, 42)
            .await
            .expect("load");
        assert_eq!(loaded.initial.len(), 2000);
        eprintln!("loaded 2000 keys in {} ms", loaded.elapsed_ms);

        // Closed loop, ~2 s.
        let started = Instant::now();
        let history = run_for(&map, &spec, 42, clock, 2.0).await;
        let secs = started.elapsed().as_secs_f64();
        let counts = checker::counts(&history);
        eprintln!(
            "closed loop: {} ops in {secs:.2} s = {:.0} ops/s; errors {:?}",
            counts.total,
            counts.total as f64 / secs,
            checker::errors_by_kind(&history)
        );
        assert!(counts.total > 2000, "only {} ops", counts.total);
        assert_eq!(
            counts.ok,
            counts.total,
            "{:?}",
            checker::errors_by_kind(&history)
        );
        assert!(history.windows(2).all(|w| w[0].due_ns <= w[1].due_ns));
        // Closed loop: an op is due when it is sent.
        assert!(history.iter().all(|o| o.due_ns == o.sent_ns));
        let probe: Vec<_> = history
            .iter()
            .filter(|o| o.mode == ClientMode::Probe)
            .collect();
        let app = history.iter().filter(|o| o.mode == ClientMode::App).count();
        assert!(
            !probe.is_empty() && app > 0,
            "{} probe, {app} app",
            probe.len()
        );
        assert!(probe.iter().all(|o| o.client == 4));
        assert!(
            probe
                .iter()
                .all(|o| o.node.as_deref() == Some(shard_of(o.slot).as_str()))
        );
        assert_eq!(checker::redirects(&history), 0);
        assert!(
            history
                .iter()
                .any(|o| o.kind == OpKind::Get && o.value.is_some())
        );
        assert!(history.iter().all(|o| o.end_ns >= o.sent_ns));
        let down = checker::downtime_by_mode(&history, shard_of);
        assert_eq!((down.app.max_ms, down.probe.max_ms), (0.0, 0.0));
        assert_eq!(down.probe.per_shard.len(), 3);

        // Nothing lost.
        let keys = spec.all_keys();
        let finals = workload::read_final(&map, &Sharding::Cluster, &keys)
            .await
            .expect("read back");
        let lost = checker::lost_writes(
            &history,
            &loaded.initial,
            &finals,
            checker::eviction::Eviction::None,
        );
        assert_eq!(lost.keys_checked, 2000);
        assert!(lost.acknowledged_writes > 500, "{lost:?}");
        assert!(
            lost.lost.is_empty(),
            "{:?}",
            &lost.lost[..lost.lost.len().min(3)]
        );

        // The same verdict offline, from JSON lines.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        ops::write_jsonl(&path, &history).unwrap();
        let reread = ops::read_jsonl(&path).unwrap();
        assert_eq!(reread, history);
        assert_eq!(
            checker::lost_writes(
                &reread,
                &loaded.initial,
                &finals,
                checker::eviction::Eviction::None
            ),
            lost
        );

        // A lost write is caught: pretend the last acknowledged set never landed.
        let last_set = history
            .iter()
            .filter(|o| o.kind == OpKind::Set && o.is_ok())
            .max_by_key(|o| o.end_ns)
            .unwrap();
        let mut tampered = finals.clone();
        tampered.insert(last_set.key.clone(), Some("not-written".into()));
        let caught = checker::lost_writes(
            &history,
            &loaded.initial,
            &tampered,
            checker::eviction::Eviction::None,
        );
        assert_eq!(caught.lost.len(), 1);
        assert_eq!(caught.lost[0].key, last_set.key);

        // Open loop at 2000 ops/s for 1 s.
        let open = WorkloadSpec {
            model: Model::Open { rate: 2000.0 },
            ..spec.clone()
        };
        let recorded = record_for(&map, &open, 7, clock, 1.0).await;
        let history = recorded.history;
        let counts = checker::counts(&history);
        let lat = checker::latency(&history);
        eprintln!(
            "open loop: {} ops, latency {lat:?}, engine {:?}",
            counts.total, recorded.stats
        );
        assert!(
            (1800..=2200).contains(&counts.total),
            "{} ops at 2000 ops/s for 1 s",
            counts.total
        );
        assert_eq!(counts.ok, counts.total);
        assert_eq!(recorded.stats.ops_dispatched, counts.total);
        assert_eq!(recorded.stats.model, "open");
        // The pool was opened whole before the first op, not grown beside
        // the first ops: each of the two loops holds its half of the 16 app
        // connections (both send app ops), and the loop with the probe
        // stream its 8 probe connections.
        assert_eq!(
            (
                recorded.stats.app_connections,
                recorded.stats.probe_connections
            ),
            (16, 8),
            "{:?}",
            recorded.stats
        );
        // Three times in order, and the due times are the schedule itself:
        // one op every 500 µs over all clients, none skipped.
        assert!(
            history
                .iter()
                .all(|o| o.due_ns <= o.sent_ns && o.sent_ns <= o.end_ns)
        );
        let first = history[0].due_ns;
        for (i, o) in history.iter().enumerate() {
            let want = first + i as u64 * 500_000;
            assert!(
                o.due_ns.abs_diff(want) <= 1,
                "op {i} due at {} ns, the schedule says {want}",
                o.due_ns
            );
        }
        let initial = as_initial(&finals);
        let finals = workload::read_final(&map, &Sharding::Cluster, &keys)
            .await
            .expect("read back");
        assert!(
            checker::lost_writes(
                &history,
                &initial,
                &finals,
                checker::eviction::Eviction::None
            )
            .lost
            .is_empty()
        );

        // Counters: incr only, within bounds afterwards.
        let incr = WorkloadSpec {
            mix: Mix {
                get: 0,
                set: 0,
                incr: 1,
                ..Mix::default()
            },
            counter_keys: 50,
            ..spec.clone()
        };
        let loaded = workload::load(&map, &Sharding::Cluster, &incr, 3)
            .await
            .expect("load counters");
        assert_eq!(loaded.initial.len(), 2050);
        let history = run_for(&map, &incr, 3, clock, 0.5).await;
        let finals = workload::read_final(&map, &Sharding::Cluster, &incr.all_keys())
            .await
            .expect("read back");
        let c = checker::counters(&history, &loaded.initial, &finals);
        assert_eq!(c.keys_checked, 50);
        assert_eq!(c.acknowledged_incrs, history.len() as u64);
        assert!(c.violations.is_empty(), "{c:?}");
        let total: i64 = finals
            .iter()
            .filter(|(k, _)| k.contains("counter:"))
            .map(|(_, v)| v.as_deref().unwrap_or("0").parse::<i64>().unwrap())
            .sum();
        assert_eq!(total, history.len() as i64);
    });
}
