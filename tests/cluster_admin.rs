//! Cluster administration against real redis-server processes on 127.0.0.1:
//! create, convergence, check (cross-checked with `redis-cli --cluster check`),
//! the cluster client, refusal of non-empty nodes, and cancellation.

#[path = "common/redis_procs.rs"]
mod redis_procs;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis_drill::cluster::health::OPEN_SLOTS;
use redis_drill::cluster::{
    AddressMap, ClientOptions, ClusterError, ConnectOptions, ConvergeOptions, Member, NodeView,
    Role, cluster_client, create, health, node_views, wait_converged,
};
use redis_drill::slots::{even_split, key_slot};
use redis_procs::{RedisProc, start_cluster_nodes};
use tokio_util::sync::CancellationToken;

/// Bound on a create in these tests: the 2 s writable delay of primaries (5 s
/// rejoin delay when they ran longer than that without slots) plus replica
/// sync, with room for a loaded 2-core machine.
const CREATE_TIMEOUT: Duration = Duration::from_secs(15);

/// Members for `procs`: the first `primaries` get an even slot split, the rest
/// replicate the primaries in turn.
fn members(procs: &[RedisProc], primaries: usize) -> Vec<Member> {
    let split = even_split(primaries);
    procs
        .iter()
        .enumerate()
        .map(|(i, p)| Member {
            name: if i < primaries {
                format!("p{i}")
            } else {
                format!("r{}", i - primaries)
            },
            addr: p.addr,
            announce: p.addr,
            bus_port: p.bus_port,
            replica_of: (i >= primaries).then(|| format!("p{}", (i - primaries) % primaries)),
            slots: if i < primaries {
                vec![split[i]]
            } else {
                vec![]
            },
        })
        .collect()
}

async fn conn(addr: SocketAddr) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap()
}

/// `redis-cli --cluster check`: (exit success, stdout). Bounded and killed on drop.
async fn redis_cli_check(addr: SocketAddr) -> (bool, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new("redis-cli")
            .args(["--cluster", "check", &addr.to_string()])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("redis-cli --cluster check within 10 s")
    .expect("run redis-cli");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Our check and redis-cli's, from the same entry; asserts they agree on ok.
async fn both_checks(
    entry: SocketAddr,
    map: &AddressMap,
) -> (redis_drill::cluster::Health, String) {
    let ours = health(entry, map).await.expect("our check");
    let (cli_ok, cli_out) = redis_cli_check(entry).await;
    assert_eq!(
        ours.ok, cli_ok,
        "our check and redis-cli disagree.\nours:\n{ours}\nredis-cli:\n{cli_out}"
    );
    (ours, cli_out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_converge_check_write_and_open_slot() {
    let procs = start_cluster_nodes(6);
    let members = members(&procs, 3);
    let map = AddressMap::from_members(&members).unwrap();

    let report = create(
        &members,
        &ConvergeOptions::new(CREATE_TIMEOUT, CancellationToken::new()),
    )
    .await
    .unwrap_or_else(|e| panic!("create: {e}"));
    eprintln!(
        "create 3+3: all nodes known after {:?}, converged after {:?} ({} polls), total {:?}",
        report.all_known, report.converged, report.polls, report.total
    );
    assert_eq!(report.ids.len(), 6);

    // Converged, checked by us and by redis-cli.
    let again = wait_converged(
        &members,
        &ConvergeOptions::new(Duration::from_secs(5), CancellationToken::new()),
    )
    .await
    .unwrap_or_else(|e| panic!("wait_converged after create: {e}"));
    assert_eq!(
        again.polls, 1,
        "a converged cluster converges on the first poll"
    );
    let entry = members[0].addr;
    let (ours, cli) = both_checks(entry, &map).await;
    assert!(ours.ok, "{ours}");
    assert!(cli.contains("[OK] All 16384 slots covered."), "{cli}");
    assert!(
        cli.contains("[OK] All nodes agree about slots configuration."),
        "{cli}"
    );

    // 1000 keys through the cluster client, read back.
    let client = cluster_client(&map, &ClientOptions::default()).unwrap();
    let mut c = client.get_async_connection().await.unwrap();
    for i in 0..1000 {
        let _: () = c.set(format!("key:{i}"), i).await.unwrap();
    }
    for i in 0..1000 {
        let v: i64 = c.get(format!("key:{i}")).await.unwrap();
        assert_eq!(v, i);
    }
    let mut total = 0u64;
    for m in members.iter().filter(|m| m.replica_of.is_none()) {
        let n: u64 = redis::cmd("DBSIZE")
            .query_async(&mut conn(m.addr).await)
            .await
            .unwrap();
        total += n;
    }
    assert_eq!(total, 1000);

    // The status views say the same.
    let views = node_views(&map, ConnectOptions::default()).await;
    assert!(
        views
            .iter()
            .all(|v| v.error.is_none() && v.agrees == Some(true)),
        "{views:#?}"
    );
    let primaries: Vec<&NodeView> = views
        .iter()
        .filter(|v| v.role == Some(Role::Primary))
        .collect();
    assert_eq!(primaries.len(), 3);
    assert_eq!(primaries.iter().map(|v| v.keys.unwrap()).sum::<u64>(), 1000);
    assert_eq!(primaries.iter().map(|v| v.slot_count).sum::<usize>(), 16384);
    for m in members.iter().filter(|m| m.replica_of.is_some()) {
        let v = views.iter().find(|v| v.name == m.name).unwrap();
        assert_eq!(v.role, Some(Role::Replica));
        assert_eq!(v.primary_name, m.replica_of);
        assert!(v.used_memory.unwrap() > 0);
    }

    // Open a slot that holds keys: MIGRATING on its owner towards another primary.
    let slot = key_slot(b"key:0");
    let owner = members
        .iter()
        .find(|m| m.slots.iter().any(|r| r.contains(slot)))
        .unwrap();
    let other = members
        .iter()
        .find(|m| m.replica_of.is_none() && m.name != owner.name)
        .unwrap();
    let mut owner_conn = conn(owner.addr).await;
    let _: () = redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("MIGRATING")
        .arg(&report.ids[&other.name])
        .query_async(&mut owner_conn)
        .await
        .unwrap();
    let (ours, cli) = both_checks(entry, &map).await;
    assert!(!ours.ok);
    let open = ours.get(OPEN_SLOTS).unwrap();
    assert!(!open.ok);
    assert!(
        open.details
            .iter()
            .any(|d| d.contains(&owner.name) && d.contains(&format!("migrating state: {slot}"))),
        "{ours}"
    );
    assert_eq!(
        ours.checks.iter().filter(|c| !c.ok).count(),
        1,
        "only the open slot fails:\n{ours}"
    );
    assert!(
        cli.contains(&format!(
            "[WARNING] Node {} has slots in migrating state {slot}",
            owner.addr
        )),
        "{cli}"
    );
    assert!(
        cli.contains(&format!("[WARNING] The following slots are open: {slot}")),
        "{cli}"
    );
    eprintln!("our check with an open slot:\n{ours}");

    // Close it: both are ok again.
    let _: () = redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("STABLE")
        .query_async(&mut owner_conn)
        .await
        .unwrap();
    let (ours, cli) = both_checks(entry, &map).await;
    assert!(ours.ok, "{ours}");
    assert!(cli.contains("[OK] All 16384 slots covered."), "{cli}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_a_node_that_is_not_empty() {
    let procs = start_cluster_nodes(3);
    let members = members(&procs, 3);
    let _: () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(9)
        .query_async(&mut conn(members[1].addr).await)
        .await
        .unwrap();

    let err = create(
        &members,
        &ConvergeOptions::new(CREATE_TIMEOUT, CancellationToken::new()),
    )
    .await
    .expect_err("create on a non-empty node");
    let text = err.to_string();
    assert!(
        matches!(err, ClusterError::NotEmpty { ref node, .. } if node == "p1"),
        "{text}"
    );
    assert!(
        text.contains(&format!("p1 ({})", members[1].addr)),
        "{text}"
    );
    assert!(text.contains("10 slots assigned"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_create_returns_promptly() {
    let procs = start_cluster_nodes(3);
    let members = members(&procs, 3);

    // Already cancelled: nothing is done.
    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = create(&members, &ConvergeOptions::new(CREATE_TIMEOUT, cancel))
        .await
        .unwrap_err();
    assert!(err.is_cancelled(), "{err}");

    // Cancelled mid-way (primaries cannot report ok before 2 s, so the create
    // is still waiting when the token fires).
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let fired = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        trigger.cancel();
        Instant::now()
    });
    let err = create(&members, &ConvergeOptions::new(CREATE_TIMEOUT, cancel))
        .await
        .unwrap_err();
    let returned = Instant::now();
    let fired = fired.await.unwrap();
    assert!(err.is_cancelled(), "{err}");
    assert_eq!(err.to_string(), "create the cluster: cancelled");
    let lag = returned.saturating_duration_since(fired);
    assert!(
        lag < Duration::from_millis(200),
        "returned {lag:?} after the cancel"
    );

    // A bounded wait on the half-built cluster says, per node, what is missing.
    let err = wait_converged(
        &members,
        &ConvergeOptions::new(Duration::from_millis(300), CancellationToken::new()),
    )
    .await
    .map(|c| panic!("converged after a cancelled create: {c:?}"))
    .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let text = err.to_string();
    eprintln!("timeout error: {text}");
    assert!(
        text.starts_with("converge within 300ms; still pending: p0: "),
        "{text}"
    );
}
