//! Partitions on both runtimes, through the library beside the real binary:
//! a grudge applied with iptables DROP rules silences exactly the links it
//! names — the cluster itself notices — while the controller still reaches
//! every node; a new grudge replaces the old one; heal brings every link back;
//! `down` leaves no rule behind.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::*;
use redis_drill::cluster::{NodeLine, parse_cluster_nodes};
use redis_drill::exit;
use redis_drill::net::{Grudge, grudge};
use redis_drill::runtime::docker::DockerRuntime;
use redis_drill::runtime::process::ProcessRuntime;
use redis_drill::runtime::{Deployment, NodeAction, Runtime, RuntimeKind};

/// 3 shards of a primary and a replica, with a 1 s node timeout so the
/// cluster flags a silent peer within seconds.
const TOPOLOGY: &str = "name: partition\nkind: cluster\ncluster:\n  shards: 3\n  replicas: 1\n  node_timeout_ms: 1000\n";
/// The node isolated: a replica, so no failover muddies the picture.
const VICTIM: &str = "s2n2";
/// Bound on the cluster noticing a partition: PFAIL takes one node timeout,
/// FAIL a round of gossip more; room for a busy 2-core machine.
const NOTICE: Duration = Duration::from_secs(30);
/// Bound on the cluster recovering after a heal: reconnects within a cron
/// tick, but a node back from a minority waits a node timeout (its rejoin
/// delay) before it says cluster_state:ok again.
const RECOVER: Duration = Duration::from_secs(60);

/// The library's view of the runtime the binary uses in `env`.
async fn library_runtime(env: &Env) -> Runtime {
    match env.runtime {
        "docker" => Runtime::from(DockerRuntime::connect().await.expect("docker engine")),
        _ => Runtime::from(
            ProcessRuntime::with_state_dir(env.state.path()).expect("process runtime"),
        ),
    }
}

fn redis(addr: SocketAddr) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let con = client.get_connection_with_timeout(Duration::from_secs(1))?;
    con.set_read_timeout(Some(Duration::from_secs(2)))?;
    con.set_write_timeout(Some(Duration::from_secs(2)))?;
    Ok(con)
}

fn ping(addr: SocketAddr) -> bool {
    redis(addr)
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok_and(|p| p == "PONG")
}

/// What `observer` says of every other node (by name), from CLUSTER NODES;
/// `None` when it cannot be asked.
fn view(d: &Deployment, observer: &str) -> Option<BTreeMap<String, NodeLine>> {
    let node = d.node(observer).ok()?;
    let mut con = redis(node.addr).ok()?;
    let text: String = redis::cmd("CLUSTER").arg("NODES").query(&mut con).ok()?;
    let lines = parse_cluster_nodes(&text).ok()?;
    Some(
        lines
            .into_iter()
            .filter(|l| !l.flags.myself)
            .filter_map(|l| {
                let peer = d.nodes.iter().find(|n| Some(n.announce) == l.addr)?;
                Some((peer.name.clone(), l))
            })
            .collect(),
    )
}

fn failing(l: &NodeLine) -> bool {
    l.flags.pfail || l.flags.fail
}

/// Every node sees every other one connected and not failing, and says
/// cluster_state:ok; `Err` says who does not.
fn all_healthy(d: &Deployment) -> Result<(), String> {
    for n in &d.nodes {
        let v = view(d, &n.name).ok_or_else(|| format!("{} does not answer", n.name))?;
        for peer in d.nodes.iter().filter(|p| p.name != n.name) {
            let l = v
                .get(&peer.name)
                .ok_or_else(|| format!("{} does not list {}", n.name, peer.name))?;
            if failing(l) || !l.link_connected {
                return Err(format!("{} sees {}: {:?}", n.name, peer.name, l.flags));
            }
        }
        let mut con = redis(n.addr).map_err(|e| e.to_string())?;
        let info: String = redis::cmd("CLUSTER")
            .arg("INFO")
            .query(&mut con)
            .map_err(|e| e.to_string())?;
        if !info.contains("cluster_state:ok") {
            return Err(format!("{} is not cluster_state:ok", n.name));
        }
    }
    Ok(())
}

/// The drop rules actually installed, as (dropper, from) node names, read
/// back from iptables: in each container's namespace (docker), or from the
/// run's chain on the host (process).
fn installed(
    rt: &tokio::runtime::Runtime,
    lib: &Runtime,
    d: &Deployment,
) -> BTreeSet<(String, String)> {
    let name_of = |ip: &str| -> String {
        let ip: IpAddr = ip.trim_end_matches("/32").parse().expect("an address");
        d.nodes
            .iter()
            .find(|n| n.announce.ip() == ip)
            .unwrap_or_else(|| panic!("a rule for {ip}, which is no node's"))
            .name
            .clone()
    };
    let mut out = BTreeSet::new();
    if lib.kind() == RuntimeKind::Docker {
        for n in &d.nodes {
            let cmd = [
                "iptables",
                "-w",
                "-S",
                redis_drill::runtime::docker::DOCKER_CHAIN,
            ]
            .map(String::from);
            let listing = rt.block_on(lib.exec(d, &n.name, &cmd)).expect("exec");
            if listing.exit_code != 0 {
                // No chain: nothing ever applied there.
                continue;
            }
            for line in listing.stdout.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if let ["-A", _, "-s", from, "-j", "DROP"] = f.as_slice() {
                    out.insert((n.name.clone(), name_of(from)));
                }
            }
        }
    } else {
        let chain = redis_drill::runtime::process::process_chain(&d.run_id).unwrap();
        let listing = host_iptables(&["-S", &chain]);
        for line in listing.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let ["-A", _, "-s", from, "-d", to, "-j", "DROP"] = f.as_slice() {
                out.insert((name_of(to), name_of(from)));
            }
        }
    }
    out
}

fn pairs(g: &Grudge) -> BTreeSet<(String, String)> {
    g.pairs()
        .map(|(d, f)| (d.to_string(), f.to_string()))
        .collect()
}

fn host_iptables(args: &[&str]) -> String {
    let out = std::process::Command::new("iptables")
        .arg("-w")
        .args(args)
        .bounded_output()
        .expect("iptables");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether a datagram sent from `from` reaches `to` (both node addresses on
/// the host's loopback): the process runtime's direct proof of direction,
/// since over TCP a one-way drop stalls both directions.
fn datagram_arrives(from: IpAddr, to: IpAddr) -> bool {
    let rx = UdpSocket::bind((to, 0)).expect("bind receiver");
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let tx = UdpSocket::bind((from, 0)).expect("bind sender");
    let dest = rx.local_addr().unwrap();
    let mut buf = [0u8; 16];
    // A few tries: one lost datagram on loopback would be a surprise, but
    // costs nothing to rule out.
    (0..3).any(|_| {
        tx.send_to(b"drill", dest).expect("send");
        matches!(rx.recv_from(&mut buf), Ok((5, src)) if src.ip() == from)
    })
}

/// Packet counters of the rules matching `-s from` in `node`'s INPUT chain
/// and its REDIS-DRILL chain (docker): (dropped, counted after our chain).
fn docker_counters(
    rt: &tokio::runtime::Runtime,
    lib: &Runtime,
    d: &Deployment,
    node: &str,
    from: IpAddr,
) -> (u64, u64) {
    let count = |chain: &str, target: &str| -> u64 {
        let cmd = ["iptables", "-w", "-L", chain, "-v", "-n", "-x"].map(String::from);
        let out = rt.block_on(lib.exec(d, node, &cmd)).expect("exec");
        out.stdout
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // pkts bytes [target] prot opt in out source destination
                let src_at = if target.is_empty() { 6 } else { 7 };
                let matches = f.get(src_at) == Some(&from.to_string().as_str())
                    && (target.is_empty() || f.get(2) == Some(&target));
                matches.then(|| f[0].parse::<u64>().ok()).flatten()
            })
            .sum()
    };
    (
        count(redis_drill::runtime::docker::DOCKER_CHAIN, "DROP"),
        count("INPUT", ""),
    )
}

/// Heal `d`: no rule is left, and every pair of nodes talks again.
fn heal_and_recover(env: &Env, rt: &tokio::runtime::Runtime, lib: &Runtime, d: &Deployment) {
    let healed = rt.block_on(lib.heal(d)).expect("heal");
    eprintln!("{}: heal took {:?}", env.runtime, healed.elapsed);
    assert!(installed(rt, lib, d).is_empty());
    let started = Instant::now();
    let mut why = String::new();
    wait_until(
        "every node to see every other connected and healthy, cluster_state:ok",
        RECOVER,
        || match all_healthy(d) {
            Ok(()) => true,
            Err(e) => {
                why = e;
                false
            }
        },
    );
    eprintln!(
        "{}: healthy again {:?} after heal (until then: {why})",
        env.runtime,
        started.elapsed()
    );
}

fn partition_drill(env: &Env) {
    let t = env.write("partition.yaml", TOPOLOGY);
    let up = env.up(&t, "part");
    let (name, run_id) = (up.name.clone(), up.run_id.clone());

    let rt = tokio::runtime::Runtime::new().unwrap();
    let lib = rt.block_on(library_runtime(env));
    let d = rt
        .block_on(lib.find(&name))
        .expect("find")
        .expect("the deployment is up");
    let all: Vec<String> = d.nodes.iter().map(|n| n.name.clone()).collect();
    let others: Vec<String> = all.iter().filter(|n| *n != VICTIM).cloned().collect();

    if env.runtime == "process" && !root_or_skip("partitions on the process runtime") {
        let e = rt.block_on(lib.can_partition(&d)).unwrap_err();
        assert_eq!(e.class().code(), exit::ENVIRONMENT, "{e}");
        assert!(e.to_string().contains("root"), "{e}");
        eprintln!("process: not root, so only the preflight refusal is checked: {e}");
        up.down();
        return;
    }
    rt.block_on(lib.can_partition(&d)).expect("preflight");
    // Healing what was never partitioned is fine, and leaves no rule.
    rt.block_on(lib.heal(&d))
        .expect("heal before any partition");
    assert!(installed(&rt, &lib, &d).is_empty());

    // Isolate one node: exactly its links are cut, both ways.
    let isolate = grudge::isolate(VICTIM, &all);
    let applied = rt.block_on(lib.partition(&d, &isolate)).expect("apply");
    eprintln!(
        "{}: apply `{}` ({} rules on {} nodes) took {:?}, spread {:?}",
        env.runtime, isolate, applied.rules, applied.nodes, applied.elapsed, applied.spread
    );
    assert_eq!(applied.rules, 10);
    assert!(applied.skipped.is_empty(), "{applied:?}");
    assert_eq!(installed(&rt, &lib, &d), pairs(&isolate));
    // Applying it again changes nothing.
    rt.block_on(lib.partition(&d, &isolate))
        .expect("apply again");
    assert_eq!(installed(&rt, &lib, &d), pairs(&isolate));

    // The cluster sees it: every other node flags the victim as failing, and
    // its link to it is down (Redis keeps a link "connected" while a connect
    // is pending, dropping it after a node timeout without a pong, so the
    // link flaps: it must be seen down at least once).
    let started = Instant::now();
    let mut seen_down: BTreeSet<String> = BTreeSet::new();
    let mut last = String::new();
    wait_until(
        &format!("every node to flag {VICTIM} failing and see its link down"),
        NOTICE,
        || {
            let mut all_flag = true;
            for o in &others {
                match view(&d, o).and_then(|mut v| v.remove(VICTIM)) {
                    Some(l) => {
                        if !l.link_connected {
                            seen_down.insert(o.clone());
                        }
                        all_flag &= failing(&l);
                        last = format!("{o} sees {VICTIM}: {:?}", l.flags);
                    }
                    None => all_flag = false,
                }
            }
            all_flag && seen_down.len() == others.len()
        },
    );
    eprintln!(
        "{}: the cluster flagged {VICTIM} after {:?} ({last})",
        env.runtime,
        started.elapsed()
    );
    wait_until(
        &format!("{VICTIM} to flag every peer failing"),
        NOTICE,
        || view(&d, VICTIM).is_some_and(|v| v.len() == others.len() && v.values().all(failing)),
    );
    // ... while the controller still reaches every node, the isolated one too.
    for n in &d.nodes {
        assert!(ping(n.addr), "the controller cannot reach {}", n.name);
    }

    assert!(all_healthy(&d).is_err(), "healthy while partitioned");
    heal_and_recover(env, &rt, &lib, &d);

    // One way: `to` drops `from`'s packets, `from` still gets `to`'s. It
    // replaces the partition in force (the isolation, applied again).
    rt.block_on(lib.partition(&d, &isolate)).expect("apply");
    let (from, to) = ("s1n1", "s3n1");
    let one_way = grudge::one_way(from, to);
    let applied = rt
        .block_on(lib.partition(&d, &one_way))
        .expect("apply one way");
    assert_eq!(applied.rules, 1);
    assert_eq!(installed(&rt, &lib, &d), pairs(&one_way));
    let ip = |n: &str| d.node(n).unwrap().announce.ip();
    if env.runtime == "process" {
        assert!(
            !datagram_arrives(ip(from), ip(to)),
            "{from} -> {to} got through"
        );
        assert!(
            datagram_arrives(ip(to), ip(from)),
            "{to} -> {from} was dropped"
        );
        assert!(
            datagram_arrives(ip(from), ip("s2n1")),
            "a bystander was cut"
        );
    } else {
        // No UDP tool in the image: count instead. In `from`'s namespace a
        // rule after our chain counts what `to` sent that got through; in
        // `to`'s, our DROP rule counts what `from` sent. The cluster bus
        // (each node dials each peer every node timeout) provides traffic.
        let mark = ["iptables", "-w", "-A", "INPUT", "-s", &ip(to).to_string()].map(String::from);
        let out = rt.block_on(lib.exec(&d, from, &mark)).expect("exec");
        assert_eq!(out.exit_code, 0, "{out:?}");
        wait_until(
            &format!("packets {from} -> {to} dropped, {to} -> {from} delivered"),
            NOTICE,
            || {
                let (dropped, _) = docker_counters(&rt, &lib, &d, to, ip(from));
                let (none, delivered) = docker_counters(&rt, &lib, &d, from, ip(to));
                assert_eq!(none, 0, "{from} has no DROP rule yet dropped packets");
                dropped > 0 && delivered > 0
            },
        );
    }

    heal_and_recover(env, &rt, &lib, &d);

    // Nodes that are not running: heal skips a killed one (docker: its rules
    // died with its namespace; process: the host's rules are lifted anyway).
    rt.block_on(lib.partition(&d, &isolate)).expect("apply");
    rt.block_on(lib.node_action(&d, "s3n2", NodeAction::Kill))
        .expect("kill");
    let healed = rt.block_on(lib.heal(&d)).expect("heal with a node down");
    if env.runtime == "docker" {
        assert_eq!(healed.skipped, ["s3n2"], "{healed:?}");
        // Docker cannot exec in a paused container: the apply says so, and
        // every other node still gets its rules.
        rt.block_on(lib.node_action(&d, "s1n1", NodeAction::Pause))
            .expect("pause");
        let e = rt
            .block_on(lib.partition(&d, &isolate))
            .expect_err("apply with a node paused");
        assert_eq!(e.class().code(), exit::ENVIRONMENT, "{e}");
        assert!(e.to_string().contains("paused nodes s1n1"), "{e}");
        rt.block_on(lib.node_action(&d, "s1n1", NodeAction::Resume))
            .expect("resume");
    } else {
        assert!(healed.skipped.is_empty(), "{healed:?}");
        assert!(installed(&rt, &lib, &d).is_empty());
    }

    // Partition again, then `down` while it is in force (and a node is
    // down): nothing is left.
    rt.block_on(lib.partition(&d, &isolate)).expect("apply");
    up.down();
    if env.runtime == "process" {
        let left: Vec<String> = host_iptables(&["-S"])
            .lines()
            .filter(|l| l.contains(&run_id))
            .map(str::to_string)
            .collect();
        assert!(left.is_empty(), "iptables rules left: {left:?}");

        // `down --all` removes every redis-drill chain, also one whose run is
        // long gone (a crash between apply and cleanup).
        let orphan = format!("RD-orphan-{}", std::process::id());
        host_iptables(&["-N", &orphan]);
        host_iptables(&["-I", "INPUT", "-j", &orphan]);
        host_iptables(&["-A", &orphan, "-s", "127.0.99.11", "-j", "DROP"]);
        assert!(host_iptables(&["-S"]).contains(&orphan));
        let _: redis_drill::runtime::Removed = env.json(&["down", "--all", "--json"]);
        let left: Vec<String> = host_iptables(&["-S"])
            .lines()
            .filter(|l| l.contains(&orphan))
            .map(str::to_string)
            .collect();
        assert!(left.is_empty(), "down --all left: {left:?}");
    }
}

crate::on_both_runtimes!(
    process_partition_isolate_one_way_heal_down,
    docker_partition_isolate_one_way_heal_down,
    partition_drill
);
