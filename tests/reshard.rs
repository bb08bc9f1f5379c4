//! Live resharding against a real cluster (process runtime, real
//! redis-server): moves checked by our check and by `redis-cli --cluster
//! check`, a rebalance, a cancel in the middle of a slot, open slots closed by
//! `fix_open_slots` (also after the target of a move died), and BUSYKEY
//! handling (the engine and `redis-drill fix` stop at a key with two values
//! and name it). Every test brings up its own cluster with the `redis-drill`
//! binary and takes it down from a guard.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Env, UpGuard, topology};
use futures::StreamExt;
use redis::AsyncCommands;
use redis_drill::cluster::health::{CONFIG_CONSISTENT, OPEN_SLOTS, SLOTS_COVERAGE};
use redis_drill::cluster::reshard::{
    FixAction, Progress, REBALANCE_THRESHOLD, ReshardOptions, SlotMove, SlotMoves, SlotOwners,
    execute, fix_open_slots, moves_between, rebalance_moves,
};
use redis_drill::cluster::{
    AddressMap, ClientOptions, ClusterError, ConnectOptions, ConvergeOptions, Member,
    cluster_client, health, wait_converged,
};
use redis_drill::exit;
use redis_drill::slots::key_slot;
use tokio_util::sync::CancellationToken;

const KEYS: usize = 5000;
/// Bound on an engine run in these tests (they move at most a few thousand
/// slots of a few thousand keys: about a second).
const MOVE_TIMEOUT: Duration = Duration::from_secs(60);
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// Harness.

/// A running cluster-3x1 of this test, taken down when dropped.
struct Cluster<'a> {
    guard: UpGuard<'a>,
    map: AddressMap,
    members: Vec<Member>,
}

impl Cluster<'_> {
    fn addr(&self, name: &str) -> SocketAddr {
        self.members.iter().find(|m| m.name == name).unwrap().addr
    }

    fn announce(&self, name: &str) -> SocketAddr {
        self.members
            .iter()
            .find(|m| m.name == name)
            .unwrap()
            .announce
    }

    fn primaries(&self) -> Vec<&Member> {
        self.members
            .iter()
            .filter(|m| m.replica_of.is_none())
            .collect()
    }
}

fn up<'a>(env: &'a Env, prefix: &str) -> Cluster<'a> {
    up_on(env, "cluster-3x1.yaml", prefix)
}

fn up_on<'a>(env: &'a Env, file: &str, prefix: &str) -> Cluster<'a> {
    let guard = env.up(&topology(file), prefix);
    let members: Vec<Member> = guard
        .status()
        .nodes
        .into_iter()
        .map(|n| {
            assert!(
                n.address.ip().is_loopback(),
                "{} is not loopback",
                n.address
            );
            Member {
                name: n.name,
                addr: n.address,
                announce: n.announce,
                bus_port: 0,
                replica_of: n.replica_of,
                slots: vec![],
            }
        })
        .collect();
    assert_eq!(members.len(), 6);
    Cluster {
        guard,
        map: AddressMap::from_members(&members).unwrap(),
        members,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn node(addr: SocketAddr) -> redis::aio::MultiplexedConnection {
    assert!(addr.ip().is_loopback());
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap()
}

async fn node_id(addr: SocketAddr) -> String {
    redis::cmd("CLUSTER")
        .arg("MYID")
        .query_async(&mut node(addr).await)
        .await
        .unwrap()
}

async fn count_in_slot(addr: SocketAddr, slot: u16) -> u64 {
    redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .query_async(&mut node(addr).await)
        .await
        .unwrap()
}

fn value_of(key: &str) -> String {
    format!("value-of-{key}-{}", "x".repeat(40))
}

/// Write every key (value from [`value_of`]) through the cluster client.
async fn load(c: &Cluster<'_>, keys: &[String]) {
    let client = cluster_client(&c.map, &ClientOptions::default()).unwrap();
    let conn = client.get_async_connection().await.unwrap();
    let results: Vec<redis::RedisResult<()>> = futures::stream::iter(keys.iter().map(|k| {
        let mut conn = conn.clone();
        async move { conn.set(k, value_of(k)).await }
    }))
    .buffer_unordered(64)
    .collect()
    .await;
    for r in results {
        r.unwrap();
    }
}

/// Every key reads back its value through the cluster client.
async fn assert_all_read_back(c: &Cluster<'_>, keys: &[String]) {
    let client = cluster_client(&c.map, &ClientOptions::default()).unwrap();
    let conn = client.get_async_connection().await.unwrap();
    let results: Vec<(String, redis::RedisResult<Option<String>>)> =
        futures::stream::iter(keys.iter().map(|k| {
            let mut conn = conn.clone();
            async move { (k.clone(), conn.get(k).await) }
        }))
        .buffer_unordered(64)
        .collect()
        .await;
    let mut bad = Vec::new();
    for (k, r) in results {
        match r {
            Ok(Some(v)) if v == value_of(&k) => {}
            other => bad.push(format!("{k}: {other:?}")),
        }
    }
    assert!(
        bad.is_empty(),
        "{} keys do not read back, e.g. {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
}

async fn dbsize_sum(c: &Cluster<'_>) -> u64 {
    let mut sum = 0;
    for p in c.primaries() {
        let n: u64 = redis::cmd("DBSIZE")
            .query_async(&mut node(p.addr).await)
            .await
            .unwrap();
        sum += n;
    }
    sum
}

async fn converge(c: &Cluster<'_>) {
    wait_converged(
        &c.members,
        &ConvergeOptions::new(CONVERGE_TIMEOUT, CancellationToken::new()),
    )
    .await
    .unwrap_or_else(|e| panic!("wait_converged: {e}"));
}

/// Our check from s1n1 passes; redis-cli's does too, with every slot covered
/// and nothing open.
async fn assert_checks_pass(c: &Cluster<'_>) {
    converge(c).await;
    let entry = c.addr("s1n1");
    let ours = health(entry, &c.map).await.expect("our check");
    assert!(ours.ok, "our check:\n{ours}");
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new("redis-cli")
            .args(["--cluster", "check", &c.announce("s1n1").to_string()])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("redis-cli --cluster check within 20 s")
    .expect("run redis-cli");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "redis-cli check failed:\n{stdout}");
    assert!(
        stdout.contains("[OK] All 16384 slots covered."),
        "redis-cli check:\n{stdout}"
    );
    assert!(
        !stdout.contains("slots are open") && !stdout.contains("[WARNING]"),
        "redis-cli check reports open slots:\n{stdout}"
    );
}

/// Until every node's view (replicas included) gives `slot` to `owner`.
async fn assert_owner_everywhere(c: &Cluster<'_>, slots: &[u16], owner: &str) {
    let want = node_id(c.addr(owner)).await;
    let started = Instant::now();
    let mut last = String::new();
    for _ in 0..400 {
        let mut wrong = Vec::new();
        for m in &c.members {
            let text: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async(&mut node(m.addr).await)
                .await
                .unwrap();
            let lines = redis_drill::cluster::parse_cluster_nodes(&text).unwrap();
            for &s in slots {
                let holder = lines.iter().find(|l| l.serves(s)).map(|l| l.id.clone());
                if holder.as_deref() != Some(want.as_str()) {
                    wrong.push(format!("{} sees slot {s} on {holder:?}", m.name));
                    break;
                }
            }
        }
        if wrong.is_empty() {
            return;
        }
        last = wrong.join("; ");
        if started.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("slots not owned by {owner} everywhere: {last}");
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key:{i}")).collect()
}

/// `n` keys that all hash to `slot` (through a hash tag).
fn keys_in_slot(slot: u16, n: usize, label: &str) -> Vec<String> {
    let tag = (0u32..)
        .map(|i| format!("t{i}"))
        .find(|t| key_slot(t.as_bytes()) == slot)
        .unwrap();
    let keys: Vec<String> = (0..n).map(|i| format!("{{{tag}}}:{label}:{i}")).collect();
    assert!(keys.iter().all(|k| key_slot(k.as_bytes()) == slot));
    keys
}

fn opts() -> ReshardOptions {
    ReshardOptions::new(MOVE_TIMEOUT, CancellationToken::new())
}

/// What a controller killed half-way through moving `slot` from s1n1 to
/// s2n1 leaves: the slot IMPORTING on s2n1 and MIGRATING on s1n1, and
/// `keys` of its keys already on s2n1.
async fn half_move(c: &Cluster<'_>, slot: u16, keys: usize) {
    let (s1, s2) = (c.addr("s1n1"), c.addr("s2n1"));
    let (id1, id2) = (node_id(s1).await, node_id(s2).await);
    let (mut n1, mut n2) = (node(s1).await, node(s2).await);
    let setslot = |how: &str, id: &str| {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("SETSLOT").arg(slot).arg(how).arg(id);
        cmd
    };
    let () = setslot("IMPORTING", &id1)
        .query_async(&mut n2)
        .await
        .unwrap();
    let () = setslot("MIGRATING", &id2)
        .query_async(&mut n1)
        .await
        .unwrap();
    let batch: Vec<Vec<u8>> = redis::cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(slot)
        .arg(keys)
        .query_async(&mut n1)
        .await
        .unwrap();
    let target = c.announce("s2n1");
    let mut migrate = redis::cmd("MIGRATE");
    migrate
        .arg(target.ip().to_string())
        .arg(target.port())
        .arg("")
        .arg(0)
        .arg(5000)
        .arg("KEYS");
    for k in &batch {
        migrate.arg(k);
    }
    let _: redis::Value = migrate.query_async(&mut n1).await.unwrap();
    assert_eq!(count_in_slot(s2, slot).await, keys as u64);
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn move_500_slots_with_keys() {
    let env = Env::new("process");
    let c = up(&env, "rs-move");
    runtime().block_on(async {
        let keys = keys(KEYS);
        load(&c, &keys).await;
        assert_eq!(dbsize_sum(&c).await, KEYS as u64);

        let owners = SlotOwners::load(&c.map, ConnectOptions::default())
            .await
            .unwrap();
        assert_eq!(owners.count("s1n1"), 5461);
        let plan = moves_between(&owners, "s1n1", "s2n1", 500).unwrap();
        let moved: Vec<u16> = plan.moves.iter().map(|m| m.slot).collect();
        assert_eq!((moved[0], moved[499]), (0, 499));
        let expected_keys = keys.iter().filter(|k| key_slot(k.as_bytes()) < 500).count() as u64;

        let mut seen: Vec<Progress> = Vec::new();
        let mut o = opts();
        o.measure_bytes = true;
        let report = execute(&c.map, &plan, &o, &mut |p| seen.push(p))
            .await
            .unwrap_or_else(|e| panic!("execute: {e}"));
        eprintln!(
            "moved {} slots, {} keys ({} bytes) in {:?}",
            report.slots_moved, report.keys_moved, report.bytes_moved, report.duration
        );
        assert_eq!(report.slots_moved, 500);
        assert_eq!(report.keys_moved, expected_keys);
        assert!(report.bytes_moved >= expected_keys * 50, "{report:?}");
        assert!(report.busykeys.is_empty());
        assert!(report.finished_after <= report.duration);
        assert_eq!(seen.len(), 500);
        assert_eq!(seen.last().unwrap().slots_done, 500);
        assert_eq!(seen.last().unwrap().keys_moved, expected_keys);

        assert_checks_pass(&c).await;
        assert_eq!(dbsize_sum(&c).await, KEYS as u64);
        assert_all_read_back(&c, &keys).await;
        assert_owner_everywhere(&c, &moved, "s2n1").await;
        let after = SlotOwners::load(&c.map, ConnectOptions::default())
            .await
            .unwrap();
        assert_eq!(after.count("s1n1"), 4961);
        assert_eq!(after.count("s2n1"), 5962);
    });
}

#[test]
fn rebalance_a_skewed_cluster() {
    let env = Env::new("process");
    let c = up(&env, "rs-rebal");
    runtime().block_on(async {
        let keys = keys(KEYS);
        load(&c, &keys).await;
        let owners = SlotOwners::load(&c.map, ConnectOptions::default())
            .await
            .unwrap();
        let skew = moves_between(&owners, "s1n1", "s3n1", 3000).unwrap();
        execute(&c.map, &skew, &opts(), &mut |_| {})
            .await
            .unwrap_or_else(|e| panic!("execute skew: {e}"));
        let owners = SlotOwners::load(&c.map, ConnectOptions::default())
            .await
            .unwrap();
        let all = owners.primaries().to_vec();
        assert!(owners.spread(&all) > 0.5, "{:?}", owners.counts());

        let plan = rebalance_moves(&owners, &all).unwrap();
        assert!(!plan.is_empty());
        let report = execute(&c.map, &plan, &opts(), &mut |_| {})
            .await
            .unwrap_or_else(|e| panic!("execute rebalance: {e}"));
        assert_eq!(report.slots_moved, plan.len());
        let after = SlotOwners::load(&c.map, ConnectOptions::default())
            .await
            .unwrap();
        let spread = after.spread(&all);
        assert!(
            spread <= REBALANCE_THRESHOLD,
            "{spread}: {:?}",
            after.counts()
        );
        eprintln!("rebalanced: {:?} (spread {spread:.4})", after.counts());

        assert_checks_pass(&c).await;
        assert_eq!(dbsize_sum(&c).await, KEYS as u64);
        assert_all_read_back(&c, &keys).await;
    });
}

#[test]
fn cancel_in_the_middle_of_a_slot_rolls_it_back() {
    let env = Env::new("process");
    let c = up(&env, "rs-cancel");
    runtime().block_on(async {
        let (big, small) = (100u16, 200u16);
        let mut keys = keys_in_slot(big, 2000, "big");
        keys.extend(keys_in_slot(small, 10, "small"));
        load(&c, &keys).await;
        let total = dbsize_sum(&c).await;
        let plan = SlotMoves {
            moves: [big, small]
                .iter()
                .map(|&slot| SlotMove {
                    slot,
                    from: "s1n1".into(),
                    to: "s2n1".into(),
                })
                .collect(),
        };
        let mut o = opts();
        o.batch_keys = 10;
        o.parallel_slots = 2;
        // Cancel as soon as keys of the big slot have reached the target:
        // the engine is then in the middle of it.
        let cancel = o.cancel.clone();
        let target = c.addr("s2n1");
        let watcher = tokio::spawn(async move {
            let mut conn = node(target).await;
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                let n: u64 = redis::cmd("CLUSTER")
                    .arg("COUNTKEYSINSLOT")
                    .arg(big)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                if n > 0 {
                    cancel.cancel();
                    return n;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            0
        });
        let mut progress: Vec<u16> = Vec::new();
        let err = execute(&c.map, &plan, &o, &mut |p| progress.push(p.slot))
            .await
            .expect_err("execute must report the cancel");
        let seen_on_target = watcher.await.unwrap();
        assert!(err.is_cancelled(), "{err}");
        assert!(seen_on_target > 0, "the watcher never saw keys move");
        eprintln!("cancelled with {seen_on_target} keys on the target; progress {progress:?}");

        // Rolled back: the source serves the big slot with all its keys.
        assert!(!progress.contains(&big));
        assert_eq!(count_in_slot(c.addr("s1n1"), big).await, 2000);
        assert_eq!(count_in_slot(c.addr("s2n1"), big).await, 0);
        assert_owner_everywhere(&c, &[big], "s1n1").await;
        assert_checks_pass(&c).await;
        assert_eq!(dbsize_sum(&c).await, total);
        assert_all_read_back(&c, &keys).await;
    });
}

#[test]
fn fix_closes_slots_left_open_by_hand() {
    let env = Env::new("process");
    let c = up(&env, "rs-fix");
    runtime().block_on(async {
        let (half, only_importing) = (300u16, 301u16);
        let mut keys = keys_in_slot(half, 1000, "half");
        keys.extend(keys_in_slot(only_importing, 20, "imp"));
        load(&c, &keys).await;
        let total = dbsize_sum(&c).await;
        let (s1, s2, s3) = (c.addr("s1n1"), c.addr("s2n1"), c.addr("s3n1"));
        let id1 = node_id(s1).await;
        let mut n3 = node(s3).await;
        let setslot = |slot: u16, how: &str, id: &str| {
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("SETSLOT").arg(slot).arg(how).arg(id);
            cmd
        };
        // A controller killed half-way through `half`...
        half_move(&c, half, 500).await;
        // ...and one killed right after its first step on `only_importing`.
        let () = setslot(only_importing, "IMPORTING", &id1)
            .query_async(&mut n3)
            .await
            .unwrap();

        let before = health(s1, &c.map).await.unwrap();
        assert!(!before.get(OPEN_SLOTS).unwrap().ok, "{before}");

        let report = fix_open_slots(&c.map)
            .await
            .unwrap_or_else(|e| panic!("fix_open_slots: {e}"));
        eprintln!("{report:?}");
        assert_eq!(report.slots.len(), 2);
        let by_slot: BTreeMap<u16, _> = report.slots.iter().map(|s| (s.slot, s)).collect();
        assert_eq!(by_slot[&half].action, FixAction::Finished);
        assert_eq!(by_slot[&half].owner, "s2n1");
        assert_eq!(by_slot[&half].keys_moved, 500);
        assert_eq!(by_slot[&only_importing].action, FixAction::Closed);
        assert_eq!(by_slot[&only_importing].owner, "s1n1");

        assert_checks_pass(&c).await;
        assert_owner_everywhere(&c, &[half], "s2n1").await;
        assert_owner_everywhere(&c, &[only_importing], "s1n1").await;
        assert_eq!(count_in_slot(s2, half).await, 1000);
        assert_eq!(dbsize_sum(&c).await, total);
        assert_all_read_back(&c, &keys).await;
        // Nothing left to fix.
        assert!(fix_open_slots(&c.map).await.unwrap().slots.is_empty());
    });
}

#[test]
fn fix_waits_until_a_failed_target_is_replaced_then_brings_its_keys_back() {
    let env = Env::new("process");
    let c = up_on(&env, "cluster-3x1-fast.yaml", "rs-fixfail");
    runtime().block_on(async {
        let slot = 300u16;
        let keys = keys_in_slot(slot, 1000, "moved");
        load(&c, &keys).await;
        let (s1, s2, s2r) = (c.addr("s1n1"), c.addr("s2n1"), c.addr("s2n2"));
        let (mut n2, mut n2r) = (node(s2).await, node(s2r).await);
        // The target's replica is promoted only when the test says so.
        let () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("cluster-replica-no-failover")
            .arg("yes")
            .query_async(&mut n2r)
            .await
            .unwrap();
        // A move of `slot` half done: 500 keys on the target, and on its replica...
        half_move(&c, slot, 500).await;
        let acked: u64 = redis::cmd("WAIT")
            .arg(1)
            .arg(5000)
            .query_async(&mut n2)
            .await
            .unwrap();
        assert_eq!(acked, 1);
        assert_eq!(count_in_slot(s2r, slot).await, 500);
        // ...then the target dies.
        let killed = c.guard.run(&["kill", "s2n1"]);
        assert!(killed.status.success(), "{killed:?}");
        // Until the others flag it failed, the fixer cannot load the cluster;
        // once they do, it must not close the slot without the replica's keys.
        let started = Instant::now();
        let refusal = loop {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "s2n1 not flagged failed within 20 s"
            );
            match fix_open_slots(&c.map).await {
                Err(ClusterError::OpenSlot { slot: s, detail }) => break (s, detail),
                Err(e) => eprintln!("not yet: {e}"),
                Ok(r) => panic!("fixed while the target's replica was not promoted: {r:?}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(refusal.0, slot);
        assert!(
            refusal
                .1
                .contains("s2n1 is flagged failed and still serves 5462 slots"),
            "{}",
            refusal.1
        );
        assert_eq!(count_in_slot(s1, slot).await, 500, "the owner's half stays");
        // The command says the same, with the environment's exit code.
        let o = c.guard.run(&["fix"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(exit::ENVIRONMENT), "{err}");
        assert!(
            err.contains("fix open slot 300: s2n1 is flagged failed"),
            "{err}"
        );
        // The replica takes over; now the slot closes with every key.
        let () = redis::cmd("CLUSTER")
            .arg("FAILOVER")
            .arg("TAKEOVER")
            .query_async(&mut n2r)
            .await
            .unwrap();
        let started = Instant::now();
        let report: serde_json::Value = loop {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no fix within 20 s of the takeover"
            );
            let o = c.guard.run(&["fix", "--json"]);
            if o.status.success() {
                break serde_json::from_slice(&o.stdout).unwrap();
            }
            eprintln!("not yet: {}", String::from_utf8_lossy(&o.stderr));
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        eprintln!("{report}");
        let fixed = report["slots"].as_array().expect("slots");
        assert_eq!(fixed.len(), 1, "{report}");
        assert_eq!(fixed[0]["slot"], 300, "{report}");
        assert_eq!(fixed[0]["action"], "rolled_back", "{report}");
        assert_eq!(fixed[0]["owner"], "s1n1", "{report}");
        assert_eq!(fixed[0]["keys_moved"], 500, "{report}");
        assert_eq!(fixed[0]["stray_keys"], serde_json::json!([]), "{report}");
        assert_eq!(count_in_slot(s1, slot).await, 1000);
        assert_eq!(count_in_slot(s2r, slot).await, 0);
        let again = c.guard.run(&["fix"]);
        assert!(again.status.success(), "{again:?}");
        assert_eq!(
            String::from_utf8_lossy(&again.stdout).trim(),
            "no open slot"
        );
    });
}

#[test]
fn busykey_same_value_is_replaced_different_value_stops_unless_told_to_replace() {
    let env = Env::new("process");
    let c = up(&env, "rs-busy");
    runtime().block_on(async {
        let (same, differ) = (400u16, 401u16);
        let same_keys = keys_in_slot(same, 50, "same");
        let differ_keys = keys_in_slot(differ, 50, "differ");
        let mut keys = same_keys.clone();
        keys.extend(differ_keys.iter().cloned());
        load(&c, &keys).await;
        let (s1, s2) = (c.addr("s1n1"), c.addr("s2n1"));
        let id1 = node_id(s1).await;
        let mut n2 = node(s2).await;
        // A stray copy of one key on the target, written while the slot was
        // open there (ASKING), then the slot closed again: the same value in
        // `same`, another value in `differ`.
        for (slot, key, value) in [
            (same, &same_keys[7], value_of(&same_keys[7])),
            (differ, &differ_keys[7], "something else".to_string()),
        ] {
            let mut pipe = redis::pipe();
            pipe.cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("IMPORTING")
                .arg(&id1)
                .cmd("ASKING")
                .cmd("SET")
                .arg(key)
                .arg(&value)
                .cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("STABLE");
            let _: redis::Value = pipe.query_async(&mut n2).await.unwrap();
            assert_eq!(count_in_slot(s2, slot).await, 1);
        }
        let mv = |slot: u16| SlotMoves {
            moves: vec![SlotMove {
                slot,
                from: "s1n1".into(),
                to: "s2n1".into(),
            }],
        };

        let report = execute(&c.map, &mv(same), &opts(), &mut |_| {})
            .await
            .unwrap_or_else(|e| panic!("execute: {e}"));
        assert_eq!(report.busykeys.len(), 1, "{report:?}");
        assert_eq!(report.busykeys[0].key, same_keys[7]);
        assert_eq!(report.keys_moved, 50);
        assert_owner_everywhere(&c, &[same], "s2n1").await;
        assert_eq!(count_in_slot(s2, same).await, 50);

        let mut o = opts();
        o.batch_keys = 20;
        let err = execute(&c.map, &mv(differ), &o, &mut |_| {})
            .await
            .expect_err("different values must stop the move");
        match &err {
            ClusterError::BusyKeys { slot, keys, .. } => {
                assert_eq!(*slot, differ);
                assert_eq!(keys, &vec![differ_keys[7].clone()]);
            }
            other => panic!("want BusyKeys, got {other}"),
        }
        // Rolled back, nothing open, the owner's value intact; the stray copy
        // is still on s2n1, which our check reports as a second owner.
        converge(&c).await;
        let report = health(s1, &c.map).await.unwrap();
        for name in [OPEN_SLOTS, CONFIG_CONSISTENT, SLOTS_COVERAGE] {
            assert!(report.get(name).unwrap().ok, "{report}");
        }
        assert_owner_everywhere(&c, &[differ], "s1n1").await;
        assert_eq!(count_in_slot(s1, differ).await, 50);
        assert_eq!(count_in_slot(s2, differ).await, 1);
        assert_all_read_back(&c, &keys).await;

        // `redis-drill fix` on that slot left open by hand stops at the same
        // key and names it; neither value is overwritten.
        let mut n1 = node(s1).await;
        let id2 = node_id(s2).await;
        let () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(differ)
            .arg("IMPORTING")
            .arg(&id1)
            .query_async(&mut n2)
            .await
            .unwrap();
        let () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(differ)
            .arg("MIGRATING")
            .arg(&id2)
            .query_async(&mut n1)
            .await
            .unwrap();
        let o = c.guard.run(&["fix"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(exit::ENVIRONMENT), "{err}");
        assert!(
            err.contains(&format!(
                "1 keys exist on both nodes with different values: {}",
                differ_keys[7]
            )),
            "{err}"
        );
        // The slot is still open: ASKING reads what each node holds.
        let mut get = redis::pipe();
        get.cmd("ASKING").ignore().cmd("GET").arg(&differ_keys[7]);
        let (on_s1,): (Option<String>,) = get.query_async(&mut n1).await.unwrap();
        let (on_s2,): (Option<String>,) = get.query_async(&mut n2).await.unwrap();
        assert_eq!(on_s1, Some(value_of(&differ_keys[7])));
        assert_eq!(on_s2.as_deref(), Some("something else"));

        // `fix --replace`, as `redis-cli --cluster fix --cluster-replace`:
        // the move is finished, s1n1's value overwrites s2n1's, and the key
        // is reported with both.
        let o = c.guard.run(&["fix", "--replace", "--json"]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(exit::SUCCESS),
            "{out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let fixed: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(
            fixed["overwritten"],
            serde_json::json!([{
                "slot": differ,
                "key": differ_keys[7],
                "from": "s1n1",
                "to": "s2n1",
                "kept": value_of(&differ_keys[7]),
                "overwritten": "something else",
            }]),
            "{out}"
        );
        assert_eq!(fixed["slots"][0]["action"], "finished", "{out}");
        assert_eq!(fixed["slots"][0]["owner"], "s2n1", "{out}");
        converge(&c).await;
        assert_owner_everywhere(&c, &[differ], "s2n1").await;
        assert_eq!(count_in_slot(s1, differ).await, 0);
        assert_eq!(count_in_slot(s2, differ).await, 50);
        assert_all_read_back(&c, &keys).await;
    });
}

#[test]
fn drain_a_primary_onto_the_others() {
    let env = Env::new("process");
    let c = up(&env, "rs-drain");
    runtime().block_on(async {
        let keys = keys(KEYS);
        load(&c, &keys).await;
        let owners = SlotOwners::load(&c.map, ConnectOptions::default())
            .await
            .unwrap();
        let onto = vec!["s1n1".to_string(), "s2n1".to_string()];
        let plan = redis_drill::cluster::drain_moves(&owners, "s3n1", &onto).unwrap();
        assert_eq!(plan.len(), 5461);
        let report = execute(&c.map, &plan, &opts(), &mut |_| {})
            .await
            .unwrap_or_else(|e| panic!("execute drain: {e}"));
        assert_eq!(report.slots_moved, 5461);

        // Emptied, s3n1 turns itself into a replica (cluster-allow-replica-migration):
        // the owners left are s1n1 and s2n1, evenly, with every slot.
        let started = Instant::now();
        let after = loop {
            let o = SlotOwners::load(&c.map, ConnectOptions::default())
                .await
                .unwrap();
            if o.primaries() == onto.as_slice() || started.elapsed() > CONVERGE_TIMEOUT {
                break o;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let counts = after.counts();
        assert_eq!(counts.len(), 2, "{counts:?}");
        assert_eq!(counts.values().sum::<usize>(), 16384);
        assert!(counts.values().all(|&n| n == 8192), "{counts:?}");
        assert_eq!(count_in_slot(c.addr("s3n1"), 16383).await, 0);

        // No slot open, every slot covered, every key still there.
        let started = Instant::now();
        let report = loop {
            let r = health(c.addr("s1n1"), &c.map).await.unwrap();
            if r.ok || started.elapsed() > CONVERGE_TIMEOUT {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(report.ok, "{report}");
        // s3n1 is a replica now (holding a copy of its new primary's keys).
        let mut total = 0u64;
        for p in after.primaries() {
            let n: u64 = redis::cmd("DBSIZE")
                .query_async(&mut node(c.addr(p)).await)
                .await
                .unwrap();
            total += n;
        }
        assert_eq!(total, KEYS as u64);
        assert_all_read_back(&c, &keys).await;
    });
}

/// `max_impact_ms`: the move completes, every key arrives, and the control
/// loop ran beside it (its PINGs counted, its knobs within the ceilings);
/// without it, no impact report.
#[test]
fn a_move_under_max_impact_is_steered_by_the_sources_pings() {
    let env = Env::new("process");
    let c = up(&env, "rs-gentle");
    runtime().block_on(async {
        let keys = keys(KEYS);
        load(&c, &keys).await;
        let owners = SlotOwners::load(&c.map, ConnectOptions::default())
            .await
            .unwrap();
        let plan = moves_between(&owners, "s1n1", "s2n1", 300).unwrap();
        let expected_keys = keys.iter().filter(|k| key_slot(k.as_bytes()) < 300).count() as u64;
        let mut o = opts();
        o.max_impact_ms = Some(1.0);
        o.batch_keys = 200;
        o.parallel_slots = 4;
        let report = execute(&c.map, &plan, &o, &mut |_| {})
            .await
            .unwrap_or_else(|e| panic!("execute: {e}"));
        assert_eq!(report.slots_moved, 300);
        assert_eq!(report.keys_moved, expected_keys);
        let i = report.impact.as_ref().expect("an impact report");
        assert_eq!(i.max_impact_ms, 1.0);
        assert!(i.pings > 0, "{i:?}");
        assert!(i.over_bound <= i.pings, "{i:?}");
        assert!(
            i.ping_p50_ms > 0.0 && i.ping_p50_ms <= i.ping_max_ms,
            "{i:?}"
        );
        assert!((10..=200).contains(&i.batch_max), "{i:?}");
        assert!((1..=4).contains(&i.parallel_max), "{i:?}");
        assert_checks_pass(&c).await;
        assert_eq!(dbsize_sum(&c).await, KEYS as u64);
        assert_all_read_back(&c, &keys).await;
        // Moved back without a bound: no loop, no report.
        let owners = SlotOwners::load(&c.map, ConnectOptions::default())
            .await
            .unwrap();
        let back = moves_between(&owners, "s2n1", "s1n1", 300).unwrap();
        let report = execute(&c.map, &back, &opts(), &mut |_| {}).await.unwrap();
        assert!(report.impact.is_none());
    });
}
