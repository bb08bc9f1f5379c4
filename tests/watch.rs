//! The cluster watcher against real redis-server processes: under a light
//! write load, kill a primary of a 3x1 cluster with a 2 s node timeout, wait
//! for its replica to take over, start the old primary again, wait until it is
//! a caught-up replica, and check the failover and rejoin timelines read from
//! the recording: the events in order, the promotion within the Redis Cluster
//! spec's range counted from the kill (2500–5500 ms for a 2 s node timeout).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use redis::AsyncCommands;
use redis_drill::checker::failover::{
    expected_max_ms, expected_min_ms, failover, rejoin, state_fail_intervals,
    unreachable_intervals, windows,
};
use redis_drill::cluster::conn::parse_info;
use redis_drill::cluster::{AddressMap, ClientOptions, Watcher, cluster_client};
use redis_drill::record::timeline::Clock;
use tokio_util::sync::CancellationToken;

/// Short for a quick test, long enough that a loaded 2-core machine does not
/// fail nodes on its own (a node must miss pings for the whole timeout).
const NODE_TIMEOUT_MS: u64 = 2000;
/// The interval the failover drill polls at.
const INTERVAL: Duration = Duration::from_millis(50);
/// Bound on each wait for the cluster: several node timeouts, for a loaded machine.
const WAIT: Duration = Duration::from_secs(30);
/// Upper bound on the writer's loop; at one write per 2 ms it is never reached
/// within the waits above.
const MAX_WRITES: u64 = 100_000;

/// `INFO replication` of the node at `addr`, or why it could not be read.
fn replication(addr: SocketAddr) -> Result<std::collections::HashMap<String, String>, String> {
    let client = redis::Client::open(format!("redis://{addr}/")).map_err(|e| e.to_string())?;
    let mut c = client
        .get_connection_with_timeout(Duration::from_secs(1))
        .map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    let text: String = redis::cmd("INFO")
        .arg("replication")
        .query(&mut c)
        .map_err(|e| e.to_string())?;
    Ok(parse_info(&text))
}

/// SET one key every 2 ms through a cluster client until `stop`, counting
/// successes and failures (writes fail while a shard has no primary).
async fn write_load(
    map: AddressMap,
    stop: CancellationToken,
    ok: Arc<AtomicU64>,
    err: Arc<AtomicU64>,
) {
    let client = cluster_client(&map, &ClientOptions::probe()).expect("cluster client");
    let mut con = None;
    for i in 0..MAX_WRITES {
        if con.is_none() {
            con = tokio::time::timeout(Duration::from_secs(1), client.get_async_connection())
                .await
                .ok()
                .and_then(Result::ok);
        }
        let written = match con.as_mut() {
            Some(c) => tokio::time::timeout(
                Duration::from_secs(1),
                c.set::<_, _, ()>(format!("watch:{i}"), i),
            )
            .await
            .is_ok_and(|r| r.is_ok()),
            None => false,
        };
        (if written { &ok } else { &err }).fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_millis(2)) => {}
        }
    }
}

#[test]
fn process_watch_kill_failover_restart_rejoin() {
    let env = Env::new("process");
    let file = env.write(
        "watch.yaml",
        &format!(
            "name: watch\nkind: cluster\ncluster:\n  shards: 3\n  replicas: 1\n  node_timeout_ms: {NODE_TIMEOUT_MS}\n"
        ),
    );
    let up = env.up(&file, "watch");
    let name = up.name.clone();
    let status = up.status();
    let map = address_map(&status);
    let failed = "s1n1";
    let replica = node(&status, failed)
        .primary_of
        .as_ref()
        .and_then(|r| r.first())
        .expect("s1n1 has a replica")
        .clone();
    let failed_addr = address(&status, failed);
    let replica_addr = address(&status, &replica);
    let replica_port = node(&status, &replica).announce.port().to_string();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let clock = Clock::start();
    let cancel = CancellationToken::new();
    let watcher = {
        let _in_runtime = rt.enter();
        Watcher::start(map.clone(), clock, INTERVAL, cancel.clone())
    };
    let (ok, err) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop_writes = cancel.child_token();
    let writer = rt.spawn(write_load(
        map.clone(),
        stop_writes.clone(),
        ok.clone(),
        err.clone(),
    ));
    wait_until("every node sampled and writes going", WAIT, || {
        let latest = watcher.latest();
        latest.len() == 6 && latest.iter().all(|s| s.reachable) && ok.load(Ordering::Relaxed) > 100
    });

    // Kill the primary; its replica takes over.
    let fault_ns = clock.now_ns();
    assert!(env.run(&["kill", failed, "--name", &name]).status.success());
    let killed_ns = clock.now_ns();
    wait_until(&format!("{replica} to be promoted"), WAIT, || {
        replication(replica_addr).is_ok_and(|r| r.get("role").map(String::as_str) == Some("master"))
    });
    let writes_at_promotion = ok.load(Ordering::Relaxed);

    // Start it again: it comes back as a replica of the new primary.
    let restart_ns = clock.now_ns();
    assert!(
        env.run(&["start", failed, "--name", &name])
            .status
            .success()
    );
    wait_until(&format!("{failed} to replicate {replica}"), WAIT, || {
        replication(failed_addr).is_ok_and(|r| {
            r.get("role").map(String::as_str) == Some("slave")
                && r.get("master_link_status").map(String::as_str) == Some("up")
                && r.get("master_port").map(String::as_str) == Some(replica_port.as_str())
        })
    });
    let writes_after_restart = ok.load(Ordering::Relaxed) - writes_at_promotion;
    // With the writes stopped the offsets become equal; the recording must
    // show the rejoined node caught up by its end.
    stop_writes.cancel();
    rt.block_on(writer).unwrap();
    let offset = |addr, key: &str| {
        replication(addr)
            .ok()
            .and_then(|r| r.get(key)?.parse::<i64>().ok())
    };
    wait_until("equal replication offsets", WAIT, || {
        let primary = offset(replica_addr, "master_repl_offset");
        primary.is_some() && primary == offset(failed_addr, "slave_repl_offset")
    });
    // And the cluster settles: every node reports ok and they all agree.
    wait_until("the cluster to settle", WAIT, || {
        up.status()
            .cluster
            .is_some_and(|c| c.state == "ok" && c.nodes_agree)
    });
    let settled_ns = clock.now_ns();
    wait_until("a sample of every node after that", WAIT, || {
        let latest = watcher.latest();
        latest.len() == 6 && latest.iter().all(|s| s.at_ns > settled_ns && s.reachable)
    });
    let rec = rt.block_on(watcher.stop());
    eprintln!(
        "{} samples; kill took {} ms; writes: {} ok ({} after the restart), {} failed",
        rec.samples.len(),
        (killed_ns - fault_ns) / 1_000_000,
        ok.load(Ordering::Relaxed),
        writes_after_restart,
        err.load(Ordering::Relaxed)
    );
    assert!(rec.truncated.is_empty());
    // Samples are stamped when the reply arrived, after the poll was sent;
    // a poll that timed out stays at its sending.
    assert!(
        rec.samples
            .iter()
            .all(|s| s.sent_ns > 0 && s.sent_ns <= s.at_ns),
        "a sample stamped before its poll was sent"
    );
    assert!(
        rec.samples
            .iter()
            .filter(|s| s.reachable)
            .all(|s| s.at_ns > s.sent_ns),
        "a reply stamped at its poll's sending"
    );

    // The failover, in order, within the spec's bounds.
    let fo = failover(&rec, failed, fault_ns);
    eprintln!("failover: {}", serde_json::to_string_pretty(&fo).unwrap());
    let at = |t: Option<u64>, what: &str| t.unwrap_or_else(|| panic!("no {what} in {fo:#?}"));
    let pfail = at(fo.pfail_first_ns, "pfail");
    let fail = at(fo.fail_first_ns, "fail");
    let promoted = at(fo.promoted_ns, "promotion");
    let ok_all = at(fo.state_ok_all_ns, "state ok");
    assert!(fault_ns <= pfail && pfail <= fail && fail <= promoted && promoted <= ok_all);
    // The watcher sees a change up to one interval after it happened.
    let resolution = rec.interval_ns;
    assert!(ok_all <= settled_ns + resolution);
    assert!(at(fo.fail_all_ns, "fail on every primary") >= fail);
    let agreed = at(fo.agreed_ns, "agreement");
    assert!(promoted <= agreed && agreed <= settled_ns + resolution);
    assert_eq!(fo.promoted.as_deref(), Some(replica.as_str()));
    assert!(fo.epoch_after > fo.epoch_before, "{fo:#?}");
    // The spec's range for the promotion, counted from the kill: at best the
    // node timeout and the election's fixed delay (500 ms), at worst twice
    // the node timeout, the fixed delay, its random part (500 ms) and the
    // cron ticks between (500 ms) — and the library's bounds say the same.
    // The kill happened between `fault_ns` and `killed_ns` (the `kill`
    // command's run), and the watcher sees a change up to one interval late.
    let timeout = NODE_TIMEOUT_MS as f64;
    let (min, max) = (timeout + 500.0, 2.0 * timeout + 1500.0);
    assert_eq!(
        (
            expected_min_ms(NODE_TIMEOUT_MS, 0) as f64,
            expected_max_ms(NODE_TIMEOUT_MS, 0) as f64
        ),
        (min, max)
    );
    let ms = |ns: u64| ns as f64 / 1e6;
    let (earliest, latest) = (ms(fault_ns) + min, ms(killed_ns) + max + ms(resolution));
    assert!(
        (earliest..=latest).contains(&ms(promoted)),
        "promoted {} ms after the kill command began and {} ms after it returned; the spec says {min}–{max} ms",
        ms(promoted - fault_ns),
        ms(promoted.saturating_sub(killed_ns))
    );
    // The figure a report shows is the same span, in whole microseconds.
    assert_eq!(
        fo.promoted_after_ms,
        Some(((promoted - fault_ns) / 1_000) as f64 / 1_000.0)
    );

    // The rejoin: reachable, then a replica of the promoted node, linked, caught up.
    let rj = rejoin(&rec, failed, restart_ns);
    eprintln!("rejoin: {}", serde_json::to_string_pretty(&rj).unwrap());
    let reachable = rj.reachable_ns.expect("reachable again");
    let as_replica = rj.replica_ns.expect("a replica");
    let linked = rj.link_up_ns.expect("link up");
    let caught_up = rj.caught_up_ns.expect("caught up");
    assert!(restart_ns <= reachable && reachable <= as_replica);
    assert!(as_replica <= linked && linked <= caught_up);
    assert!(caught_up <= rec.samples.last().unwrap().at_ns);
    assert_eq!(rj.primary.as_deref(), Some(replica.as_str()));

    // The windows a report draws: the old primary unreachable from about the
    // kill until about the restart; the others reporting cluster_state:fail
    // for a while after the fault, all ok again by state_ok_all.
    let gone: Vec<_> = unreachable_intervals(&rec)
        .into_iter()
        .filter(|i| i.observer == failed)
        .collect();
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert!(gone[0].start_ns >= fault_ns && gone[0].start_ns < pfail);
    let back = gone[0].end_ns.expect("reachable again");
    assert!(back >= restart_ns && back == reachable);
    let outage = windows(
        &state_fail_intervals(&rec)
            .into_iter()
            .filter(|i| i.observer != failed)
            .collect::<Vec<_>>(),
    );
    eprintln!("cluster_state:fail windows: {outage:?}");
    let down = outage
        .iter()
        .find(|w| w.start_ns >= fault_ns)
        .expect("a cluster_state:fail window after the fault");
    assert!(down.start_ns >= pfail && down.end_ns.is_some_and(|end| end <= ok_all));
}
