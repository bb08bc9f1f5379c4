//! Links between regions on the process runtime, through the real binary:
//! a 40 ms link makes a PING between nodes of two regions take 80 ms
//! (± 10 %), while a PING inside a region stays under 2 ms; the relay is
//! transparent (the node sees its real peer); replication crosses the link;
//! a lossy link drops its share of packets (the `statistic` match counts
//! them) and TCP still delivers every reply; `down` leaves no rule and no
//! relay behind. Needs root (iptables on the host).
//!
//! The round trips are measured by a plain TCP client written here, bound
//! to a node's own address (as that node's connections are), not by
//! anything of the relay's: an independent view of the link.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use redis_drill::topology::Topology;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One primary in eu, a replica in us (across the link), one in eu.
const TOPOLOGY: &str = "name: links\nkind: replicated\nregions: [{name: eu}, {name: us}]\nreplicated: {replicas: 2}\nlinks:\n  - between: [eu, us]\n    delay_ms: 40\n";
const DELAY: Duration = Duration::from_millis(40);
/// PINGs per measurement.
const PINGS: usize = 25;
/// The longest one connect or reply may take: a lost SYN is sent again
/// after 1, 2, 4 s, so a lossy link can take several seconds to connect.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// Round trips of `PINGS` PINGs on one connection from `from`'s address
/// (as the node `from` itself would connect) to `to`, sorted; and what `to`
/// says the connection's peer address is.
async fn pings(from: SocketAddr, to: SocketAddr) -> (Vec<Duration>, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from.ip(), 0)).unwrap();
    let mut s = tokio::time::timeout(IO_TIMEOUT, socket.connect(to))
        .await
        .expect("connect within 5 s")
        .expect("connect");
    s.set_nodelay(true).unwrap();
    let mut buf = [0u8; 512];
    let mut rtts = Vec::new();
    for _ in 0..PINGS {
        let t = Instant::now();
        s.write_all(b"PING\r\n").await.unwrap();
        let n = tokio::time::timeout(IO_TIMEOUT, s.read(&mut buf))
            .await
            .expect("PONG within 5 s")
            .unwrap();
        rtts.push(t.elapsed());
        assert_eq!(&buf[..n], b"+PONG\r\n");
    }
    rtts.sort();
    s.write_all(b"CLIENT INFO\r\n").await.unwrap();
    let n = tokio::time::timeout(IO_TIMEOUT, s.read(&mut buf))
        .await
        .expect("CLIENT INFO within 5 s")
        .unwrap();
    let info = String::from_utf8_lossy(&buf[..n]).into_owned();
    let addr = info
        .split_whitespace()
        .find_map(|f| f.strip_prefix("addr="))
        .unwrap_or_default()
        .to_string();
    (rtts, addr)
}

/// Nodes by name, with an address.
type Named = Vec<(String, SocketAddr)>;

/// The nodes of the running `up` (of topology `text`) in `eu` and in `us`:
/// name and the address `addr` picks.
fn by_region(
    text: &str,
    up: &UpGuard<'_>,
    addr: fn(&redis_drill::status::NodeStatus) -> SocketAddr,
) -> (Named, Named) {
    let topology = Topology::parse(text, None).unwrap();
    up.status()
        .nodes
        .iter()
        .map(|n| (n.name.clone(), addr(n)))
        .partition(|(n, _)| topology.node(n).unwrap().region == "eu")
}

/// Judge PINGs from `from` across the 40 ms link (with what the far node
/// saw as their source) and inside its region.
fn delayed_across_only(
    what: &str,
    from: SocketAddr,
    across: (Vec<Duration>, String),
    inside: Vec<Duration>,
) {
    let (across, seen_as) = across;
    eprintln!(
        "{what}: PING round trip across the link p50 {:?} (min {:?}, max {:?}); inside eu p50 {:?}",
        p50(&across),
        across[0],
        across[PINGS - 1],
        p50(&inside)
    );
    // A physical floor: no round trip can beat the link's delay both ways.
    assert!(across[0] >= 2 * DELAY, "{across:?}");
    // Close to it: within 10 % at the median, as the issue asks.
    assert!(p50(&across) <= 2 * DELAY * 11 / 10, "{across:?}");
    assert!(p50(&inside) < Duration::from_millis(2), "{inside:?}");
    // Transparent: the far node sees the connection come from `from` itself.
    assert_eq!(
        seen_as.rsplit_once(':').map(|(ip, _)| ip),
        Some(from.ip().to_string().as_str())
    );
}

fn p50(v: &[Duration]) -> Duration {
    v[v.len() / 2]
}

/// The host's iptables rules (nat and filter) that mention `needle`.
fn rules_mentioning(needle: &str) -> Vec<String> {
    ["nat", "filter"]
        .iter()
        .flat_map(|t| {
            let out = std::process::Command::new("iptables")
                .args(["-w", "-t", t, "-S"])
                .bounded_output()
                .expect("iptables");
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.contains(needle))
                .map(|l| format!("{t}: {l}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_link_delays_pings_across_regions_only_and_goes_with_down() {
    let env = Env::new("process");
    let file = env.write("links.yaml", TOPOLOGY);
    if !root_or_skip("a_link_delays_pings_across_regions_only_and_goes_with_down") {
        let out = env
            .command(&[
                "up",
                file.to_str().unwrap(),
                "--name",
                &unique_name("links"),
            ])
            .bounded_output()
            .unwrap();
        assert_eq!(out.status.code(), Some(redis_drill::exit::ENVIRONMENT));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("needs root"), "{err}");
        return;
    }
    let up = env.up(&file, "links");
    let (eu, us) = by_region(TOPOLOGY, &up, |n| n.address);
    assert_eq!((eu.len(), us.len()), (2, 1), "{eu:?} {us:?}");
    let chain = format!("redis-drill-run-{}", up.run_id);
    let rules = rules_mentioning(&chain);
    // nat: (2 eu nodes + eu's client address) x (the us node + us's client
    // address) x 2 directions + the jump; filter: the jump (no loss).
    assert_eq!(rules.len(), 3 * 2 * 2 + 1 + 1, "{rules:#?}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (from, near, far) = (eu[0].1, eu[1].1, us[0].1);
    delayed_across_only(
        "process",
        from,
        rt.block_on(pings(from, far)),
        rt.block_on(pings(from, near)).0,
    );

    // Replication crosses the link: the us replica is in sync.
    wait_until(
        "the us replica's link to its primary",
        Duration::from_secs(30),
        || {
            redis::Client::open(format!("redis://{far}/"))
                .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
                .and_then(|mut c| {
                    redis::cmd("INFO")
                        .arg("replication")
                        .query::<String>(&mut c)
                })
                .is_ok_and(|info| info.contains("master_link_status:up"))
        },
    );

    let run_id = up.run_id.clone();
    up.down();
    assert!(
        rules_mentioning(&chain).is_empty(),
        "{:#?}",
        rules_mentioning(&chain)
    );
    assert!(rules_mentioning(&format!("RL-{run_id}")).is_empty());
}

/// Two independent instances (no traffic between them but the test's own)
/// in two regions, across a link that loses 10 % of the packets.
const LOSSY: &str = "name: lossy\nkind: standalone\nregions: [{name: eu}, {name: us}]\nstandalone: {primaries: 2}\nlinks:\n  - between: [eu, us]\n    delay_ms: 5\n    loss_pct: 10\n";

/// From `iptables -L CHAIN -v -x -n`: the packets the `DROP` rules dropped,
/// and those the counting rules (no target; see [`counting_rules`]) saw
/// cross the link.
fn drops_and_crossings(listing: &str) -> (u64, u64) {
    let packets = |l: &str| l.split_whitespace().next()?.parse::<u64>().ok();
    let (mut dropped, mut crossed) = (0, 0);
    for line in listing.lines().filter(|l| l.contains("counting:")) {
        crossed += packets(line).unwrap_or(0);
    }
    for line in listing.lines().filter(|l| l.contains("DROP")) {
        dropped += packets(line).unwrap_or(0);
    }
    (dropped, crossed)
}

/// For each `statistic` DROP rule of a link in `rules` (`iptables -S`
/// lines), the same match without the drop: a rule with no target, put
/// first, that only counts what crosses, so the share dropped can be held
/// to the declared loss. Arguments for `iptables -I <chain> 1`.
fn counting_rules(rules: &str) -> Vec<Vec<String>> {
    rules
        .lines()
        .filter(|l| l.contains("-m statistic") && l.contains("-j DROP"))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let mut out = Vec::new();
            let mut i = 2; // past `-A CHAIN`
            while i < words.len() {
                match words[i] {
                    "-s" | "-d" => {
                        out.push(words[i].to_string());
                        out.push(words[i + 1].to_string());
                        i += 2;
                    }
                    _ => i += 1,
                }
            }
            out.extend(["-m", "comment", "--comment", "counting:"].map(String::from));
            out
        })
        .collect()
}

/// Four connections of PINGs across a 10 % lossy link (`ping` makes one and
/// returns its round trips), then the packets its rules dropped and the
/// packets that crossed since `before` (`counts` gives both): the share
/// dropped is the declared 10 %, within what chance allows, and every PING
/// was answered (`pings` checks each reply).
fn lossy_link_delivers(
    runtime: &str,
    before: (u64, u64),
    counts: impl Fn() -> (u64, u64),
    mut ping: impl FnMut() -> Vec<Duration>,
) {
    let mut across = Vec::new();
    for _ in 0..4 {
        across.extend(ping());
    }
    across.sort();
    let now = counts();
    let (lost, crossed) = (now.0 - before.0, now.1 - before.1);
    eprintln!(
        "{runtime} lossy link: {lost} of {crossed} packets dropped by the statistic match over {} PINGs; round trip p50 {:?}, max {:?}",
        across.len(),
        p50(&across),
        across[across.len() - 1]
    );
    // 4 x 25 PINGs are at least 200 packets across (request and reply,
    // retransmissions on top).
    assert!(crossed >= 200, "{crossed} packets crossed");
    // The drops are a binomial draw of 10 % of what crossed: within five
    // standard deviations of the mean (a chance below 1e-6 of failing a
    // right link; a link dropping 5 % or 20 % fails).
    let (n, p) = (crossed as f64, 0.10);
    let (mean, sd) = (n * p, (n * p * (1.0 - p)).sqrt());
    assert!(
        (lost as f64 - mean).abs() <= 5.0 * sd,
        "{lost} of {crossed} dropped: the declared 10 % is {mean:.0} ± {:.0}",
        5.0 * sd
    );
    assert!(across[0] >= Duration::from_millis(10), "{across:?}");
}

#[test]
#[cfg_attr(
    not(root),
    ignore = "needs root: links between regions are iptables rules feeding a relay"
)]
fn a_lossy_link_drops_its_share_and_tcp_still_delivers() {
    if !root_or_skip("a_lossy_link_drops_its_share_and_tcp_still_delivers") {
        return;
    }
    let env = Env::new("process");
    let file = env.write("lossy.yaml", LOSSY);
    let up = env.up(&file, "lossy");
    let (eu, us) = by_region(LOSSY, &up, |n| n.address);
    assert_eq!((eu.len(), us.len()), (1, 1), "{eu:?} {us:?}");
    let chain = format!("RL-{}", up.run_id);
    // Count what crosses, beside what is dropped.
    let iptables = |args: &[&str]| {
        let out = std::process::Command::new("iptables")
            .args(["-w", "-t", "filter"])
            .args(args)
            .bounded_output()
            .expect("iptables");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for rule in counting_rules(&iptables(&["-S", &chain])) {
        let mut args = vec!["-I", &chain, "1"];
        args.extend(rule.iter().map(String::as_str));
        iptables(&args);
    }
    let counts = || drops_and_crossings(&iptables(&["-L", &chain, "-v", "-x", "-n"]));
    // Nothing crosses the link before the test's own connection.
    let before = counts();
    let rt = tokio::runtime::Runtime::new().unwrap();
    lossy_link_delivers("process", before, counts, || {
        rt.block_on(pings(eu[0].1, us[0].1)).0
    });
    up.down();
    assert!(
        rules_mentioning(&chain).is_empty(),
        "{:#?}",
        rules_mentioning(&chain)
    );
}

/// Three independent instances over `eu` and `us`, a link with no delay:
/// every connection from an eu node's address to the us node still goes
/// through the relay, which then only copies bytes.
const ZERO: &str = "name: zero\nkind: standalone\nregions: [{name: eu}, {name: us}]\nstandalone: {primaries: 2}\nlinks:\n  - between: [eu, us]\n    delay_ms: 0\n";
/// Sequential PINGs per path, and pipelined PINGs (in batches) per path.
const SEQUENTIAL: usize = 2000;
const PIPELINED: usize = 50_000;
const BATCH: usize = 100;

/// Sorted round trips of `SEQUENTIAL` PINGs, then the time `PIPELINED`
/// PINGs take in batches of `BATCH`, on one connection from `from` to `to`.
async fn overhead(from: std::net::IpAddr, to: SocketAddr) -> (Vec<Duration>, Duration) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let mut s = tokio::time::timeout(IO_TIMEOUT, socket.connect(to))
        .await
        .expect("connect in time")
        .expect("connect");
    s.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut rtts = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let t = Instant::now();
        s.write_all(b"PING\r\n").await.unwrap();
        let n = tokio::time::timeout(IO_TIMEOUT, s.read(&mut buf))
            .await
            .expect("PONG in time")
            .unwrap();
        rtts.push(t.elapsed());
        assert_eq!(&buf[..n], b"+PONG\r\n");
    }
    rtts.sort();
    let batch = b"PING\r\n".repeat(BATCH);
    let want = b"+PONG\r\n".len() * BATCH;
    let t = Instant::now();
    for _ in 0..PIPELINED / BATCH {
        s.write_all(&batch).await.unwrap();
        let mut got = 0;
        while got < want {
            let n = tokio::time::timeout(IO_TIMEOUT, s.read(&mut buf))
                .await
                .expect("PONGs in time")
                .unwrap();
            assert!(n > 0, "connection closed");
            got += n;
        }
        assert_eq!(got, want);
    }
    (rtts, t.elapsed())
}

/// Not a pass/fail benchmark: it prints the relay's cost at zero delay
/// against the same node reached without it (`just bench-relay`). It
/// asserts only what the issue asks of a region's inside, a round trip
/// under 2 ms at the median, and that the relay path really is redirected.
#[test]
#[cfg_attr(
    not(root),
    ignore = "needs root: links between regions are iptables rules feeding a relay"
)]
fn relay_overhead_at_zero_delay() {
    if !root_or_skip("relay_overhead_at_zero_delay") {
        return;
    }
    let env = Env::new("process");
    let file = env.write("zero.yaml", ZERO);
    let topology = Topology::parse(ZERO, None).unwrap();
    let region = |n: &str| topology.node(n).unwrap().region.clone();
    let up = env.up(&file, "zero");
    let status = up.status();
    let eu = status
        .nodes
        .iter()
        .find(|n| region(&n.name) == "eu")
        .unwrap();
    let us = status
        .nodes
        .iter()
        .find(|n| region(&n.name) == "us")
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // 127.0.0.1 is no node's address: no rule covers it.
    let (direct, direct_bulk) = rt.block_on(overhead([127, 0, 0, 1].into(), us.address));
    let (relayed, relayed_bulk) = rt.block_on(overhead(eu.address.ip(), us.address));
    let pct = |v: &[Duration], q: f64| v[((v.len() - 1) as f64 * q) as usize];
    let rate = |d: Duration| PIPELINED as f64 / d.as_secs_f64();
    eprintln!("| path | PING p50 | PING p99 | pipelined PINGs/s ({BATCH} a batch) |");
    eprintln!("|---|---|---|---|");
    for (name, v, bulk) in [
        ("direct (no relay)", &direct, direct_bulk),
        ("through the relay, delay 0", &relayed, relayed_bulk),
    ] {
        eprintln!(
            "| {name} | {:.3} ms | {:.3} ms | {:.0} |",
            pct(v, 0.5).as_secs_f64() * 1e3,
            pct(v, 0.99).as_secs_f64() * 1e3,
            rate(bulk)
        );
    }
    // The relay path is the relay's: its connections are counted by the
    // REDIRECT rule (its packet counter moved).
    let out = std::process::Command::new("iptables")
        .args([
            "-w",
            "-t",
            "nat",
            "-L",
            &format!("RL-{}", up.run_id),
            "-v",
            "-x",
            "-n",
        ])
        .bounded_output()
        .expect("iptables");
    let redirected: u64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("REDIRECT") && l.contains(&eu.address.ip().to_string()))
        .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    assert!(redirected > 0, "no packet was redirected to the relay");
    assert!(
        pct(&relayed, 0.5) < Duration::from_millis(2),
        "{:?}",
        pct(&relayed, 0.5)
    );
    up.down();
}

/// The PID of the main process of container `name`.
fn container_pid(name: &str) -> i64 {
    let o = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{.State.Pid}}", name])
        .bounded_output()
        .expect("docker cli");
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid for {name}: {o:?}"))
}

/// `pings` run from inside the network namespace of container `name` (a
/// thread of its own joins it), as the node in it would connect.
fn pings_from_container(name: &str, from: SocketAddr, to: SocketAddr) -> (Vec<Duration>, String) {
    let ns = redis_drill::runtime::netns::NetNs::of_pid(container_pid(name)).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter()
                .expect("joining the container's namespace (root)");
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(pings(from, to))
        })
        .join()
        .unwrap()
    })
}

/// The iptables rules of `table` inside container `name`'s namespace, with
/// their packet counters.
fn container_rules(name: &str, table: &str) -> String {
    let o = std::process::Command::new("nsenter")
        .args([
            "-t",
            &container_pid(name).to_string(),
            "-n",
            "iptables",
            "-w",
            "-t",
            table,
            "-L",
            "RL",
            "-v",
            "-x",
            "-n",
        ])
        .bounded_output()
        .expect("nsenter");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// On Docker, a link's relay runs inside each node's namespace: a PING from
/// the eu primary's namespace to the us replica takes 80 ms (± 10 %), one to
/// the other eu node stays under 2 ms, the us node sees its real peer; a
/// killed and started node (a fresh namespace) gets its relay and rules
/// back; `down` leaves nothing. The round trips are the test's own TCP
/// client's, not the tool's.
#[test]
#[cfg_attr(
    not(root),
    ignore = "needs root: links between regions are iptables rules feeding a relay"
)]
fn a_docker_link_delays_pings_across_regions_only_and_survives_a_restart() {
    if !docker_or_skip("a_docker_link_delays_pings_across_regions_only_and_survives_a_restart")
        || !root_or_skip("a_docker_link_delays_pings_across_regions_only_and_survives_a_restart")
    {
        return;
    }
    let env = Env::new("docker");
    let file = env.write("links.yaml", TOPOLOGY);
    let up = env.up(&file, "links-docker");
    let (eu, us) = by_region(TOPOLOGY, &up, |n| n.announce);
    assert_eq!((eu.len(), us.len()), (2, 1), "{eu:?} {us:?}");
    let container = |node: &str| format!("redis-drill-{}-{node}", up.run_id);
    let (from, near, far) = (eu[0].1, eu[1].1, us[0].1);
    let measure = |what: &str| {
        delayed_across_only(
            &format!("docker, {what}"),
            from,
            pings_from_container(&container(&eu[0].0), from, far),
            pings_from_container(&container(&eu[0].0), from, near).0,
        )
    };
    measure("after up");
    // The eu node that connects is killed and started: a new namespace.
    for action in ["kill", "start"] {
        up.run(&[action, &eu[0].0]);
    }
    // To the us node and to the us clients' address.
    let nat = container_rules(&container(&eu[0].0), "nat");
    assert_eq!(nat.matches("REDIRECT").count(), 2, "{nat}");
    measure("after a kill and a start");
    let run_id = up.run_id.clone();
    up.down();
    let left = docker_leftovers(&format!("redis-drill.run-id={run_id}"));
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A lossy link on Docker: each node's mangle chain drops its share of
/// what it sends across, and TCP still delivers every reply.
#[test]
#[cfg_attr(
    not(root),
    ignore = "needs root: links between regions are iptables rules feeding a relay"
)]
fn a_docker_lossy_link_drops_its_share_and_tcp_still_delivers() {
    if !docker_or_skip("a_docker_lossy_link_drops_its_share_and_tcp_still_delivers")
        || !root_or_skip("a_docker_lossy_link_drops_its_share_and_tcp_still_delivers")
    {
        return;
    }
    let env = Env::new("docker");
    let file = env.write("lossy.yaml", LOSSY);
    let up = env.up(&file, "lossy-docker");
    let (eu, us) = by_region(LOSSY, &up, |n| n.announce);
    let container = |node: &str| format!("redis-drill-{}-{node}", up.run_id);
    // In each node's namespace, count what crosses beside what is dropped.
    for node in [&eu[0].0, &us[0].0] {
        let pid = container_pid(&container(node)).to_string();
        let iptables = |args: &[&str]| {
            let out = std::process::Command::new("nsenter")
                .args(["-t", &pid, "-n", "iptables", "-w", "-t", "mangle"])
                .args(args)
                .bounded_output()
                .expect("nsenter");
            assert!(out.status.success(), "{out:?}");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        for rule in counting_rules(&iptables(&["-S", "RL"])) {
            let mut args = vec!["-I", "RL", "1"];
            args.extend(rule.iter().map(String::as_str));
            iptables(&args);
        }
    }
    let counts = || {
        let (a, b) = (
            drops_and_crossings(&container_rules(&container(&eu[0].0), "mangle")),
            drops_and_crossings(&container_rules(&container(&us[0].0), "mangle")),
        );
        (a.0 + b.0, a.1 + b.1)
    };
    let before = counts();
    lossy_link_delivers("docker", before, counts, || {
        pings_from_container(&container(&eu[0].0), eu[0].1, us[0].1).0
    });
    up.down();
}

// A drill over a topology with a link measures the link first: its report
// has `links[]` with the declared and measured round trips and a check that
// passed, the Markdown shows them, and `check-run` finds the same from the
// stored run.
on_both_runtimes!(
    a_drill_reports_each_links_measured_round_trip,
    a_docker_drill_reports_each_links_measured_round_trip,
    drill_reports_links,
    needs_root: "needs root: links between regions are iptables rules feeding a relay"
);

fn drill_reports_links(env: &Env) {
    if !root_or_skip("a_drill_reports_each_links_measured_round_trip") {
        return;
    }
    env.write(
        "zero-two.yaml",
        "name: drill-links\nkind: standalone\nregions: [{name: eu}, {name: us}]\nstandalone: {primaries: 2}\nlinks:\n  - between: [eu, us]\n    delay_ms: 40\n",
    );
    let scenario = env.write(
        "drill-links.yaml",
        "name: drill-links\ntopology: zero-two.yaml\nworkload:\n  clients: 2\n  probe_clients: 2\n  model: {open: {rate: 200}}\n  keys: 100\n  mix: {get: 50, set: 50}\n  regions: [eu, us]\nbaseline_ms: 500\nsettle_ms: 500\nfaults:\n  - fault: kill\n    target: primary_of:0\n    at_ms: 0\n    hold_ms: 200\nslo:\n  max_app_downtime_ms: 60000\n",
    );
    let drilled = env.drill(&scenario, &[]);
    let report = drilled.report();
    assert_eq!(report.links.len(), 1, "{}", drilled.output());
    let l = &report.links[0];
    eprintln!(
        "link {}: declared {} ms, p50 {:?} p99 {:?} min {:?} over {} PINGs: {:?} ({})",
        l.link, l.declared_rtt_ms, l.p50_ms, l.p99_ms, l.min_ms, l.pings, l.check, l.note
    );
    assert_eq!((l.link.as_str(), l.declared_rtt_ms), ("eu<->us", 80.0));
    assert_eq!(l.pings, redis_drill::runtime::links::MEASURE_PINGS);
    // The report says how the links were made, and whether netem was there.
    let how = &report.environment.links_mechanism;
    assert!(
        how.starts_with("user-space delaying relay") && how.contains("netem"),
        "{how}"
    );
    assert_eq!(l.check, redis_drill::report::Verdict::Pass, "{}", l.note);
    let md = std::fs::read_to_string(drilled.run_dir().join("report.md")).unwrap();
    assert!(md.contains("### Links between regions"), "{md}");
    assert!(md.contains("| eu<->us |"), "{md}");
    // The clients live in the two regions: each region's clients measured
    // what they cross, near 0 to the node of their own region and the
    // link's round trip to the other; and their ops show it.
    assert_eq!(report.client_regions.len(), 2, "{}", drilled.output());
    for g in &report.client_regions {
        assert_eq!(g.paths.len(), 2, "{:?}", g.paths);
        for p in &g.paths {
            eprintln!(
                "clients in {} -> {} ({}): declared {} ms, p50 {:?} p99 {:?}: {:?}",
                g.region, p.to, p.link, p.declared_rtt_ms, p.p50_ms, p.p99_ms, p.check
            );
            assert_eq!(p.check, redis_drill::report::Verdict::Pass, "{}", p.note);
            let p50 = p.p50_ms.unwrap();
            if p.declared_rtt_ms == 0.0 {
                assert!(p50 < 2.0, "{p:?}");
            } else {
                assert_eq!(p.declared_rtt_ms, 80.0);
                assert!((72.0..=88.0).contains(&p50), "{p:?}");
            }
        }
        // Half the keys live across the link: those ops took at least its
        // round trip.
        let base = &g.app.latency_ms["baseline"];
        eprintln!("clients in {}: baseline {base:?}", g.region);
        assert!(base.count > 20, "{base:?}");
        assert!(base.p99 >= 80.0, "{base:?}");
    }
    assert!(md.contains("### Clients by region"), "{md}");
    // Stored, not just reported: checking the run again gives the same links.
    let o = env.run(&["check-run", drilled.run_dir().to_str().unwrap(), "--json"]);
    let again: redis_drill::report::Report = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(again.links, report.links);
    assert_eq!(again.client_regions.len(), 2);
    assert_eq!(
        again.client_regions[1].paths,
        report.client_regions[1].paths
    );
}

/// Replication across a link, measured by the test's own clients (from
/// 127.0.0.1, which no rule covers, so only the replication stream crosses
/// a link): a write's value shows on a remote replica no sooner than the
/// link's one-way delay after the write was sent (physics: the stream
/// crosses the link once), and, at one write at a time, soon after.
#[test]
#[cfg_attr(
    not(root),
    ignore = "needs root: links between regions are iptables rules feeding a relay"
)]
fn replication_lag_across_a_link_is_at_least_its_one_way_delay() {
    if !root_or_skip("replication_lag_across_a_link_is_at_least_its_one_way_delay") {
        return;
    }
    const WRITES: usize = 20;
    let env = Env::new("process");
    let file = topology("replicated-3-region.yaml");
    let t = Topology::parse(&std::fs::read_to_string(&file).unwrap(), None).unwrap();
    let up = env.up(&file, "lag");
    let status = up.status();
    let addr = |name: &str| {
        status
            .nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap()
            .address
    };
    let primary = t.primaries().next().unwrap();
    let mut p = redis::Client::open(format!("redis://{}/", addr(&primary.name)))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    for replica in t.nodes.iter().filter(|n| n.name != primary.name) {
        let delay = Duration::from_secs_f64(
            t.link(&primary.region, &replica.region).unwrap().delay_ms / 1e3,
        );
        let mut r = redis::Client::open(format!("redis://{}/", addr(&replica.name)))
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap();
        wait_until(
            "the replica's link to its primary",
            Duration::from_secs(30),
            || {
                redis::cmd("INFO")
                    .arg("replication")
                    .query::<String>(&mut r)
                    .is_ok_and(|i| i.contains("master_link_status:up"))
            },
        );
        let (mut from_sent, mut from_ack) = (Vec::new(), Vec::new());
        for i in 0..WRITES {
            let key = format!("lag:{}:{i}", replica.name);
            let sent = Instant::now();
            let _: () = redis::cmd("SET").arg(&key).arg(i).query(&mut p).unwrap();
            let acked = Instant::now();
            // Poll the replica until the value is there: bounded in time.
            loop {
                let v: Option<usize> = redis::cmd("GET").arg(&key).query(&mut r).unwrap();
                if v == Some(i) {
                    break;
                }
                assert!(
                    sent.elapsed() < Duration::from_secs(10),
                    "{key} never arrived"
                );
            }
            from_sent.push(sent.elapsed());
            from_ack.push(acked.elapsed() - (acked - sent).min(acked.elapsed()));
        }
        from_sent.sort();
        from_ack.sort();
        eprintln!(
            "replication eu-west -> {} ({} ms one way): lag after the ack p50 {:?} max {:?}; after the send min {:?}",
            replica.region,
            delay.as_millis(),
            p50(&from_ack),
            from_ack[WRITES - 1],
            from_sent[0]
        );
        // The physical floor: the value crossed the link once.
        assert!(from_sent[0] >= delay, "{from_sent:?}");
        // At one write at a time, the lag is the link and little else.
        assert!(p50(&from_ack) <= delay * 3 / 2, "{from_ack:?}");
    }
    up.down();
}

// The shipped `cross-region-replication` drill on each runtime: the
// replication probe's lag on each replica region is at or above the link's
// one-way delay and close to it (20 writes/s), no read beat the physical
// floor, every acknowledged write reached both replicas, and waiting for a
// replica (`WAIT 1`) costs a writer about the nearest replica's round trip.
// The drill's own link check agrees with the declared links. The lag is
// cross-checked in `replication_lag_across_a_link_is_at_least_its_one_way_delay`
// by a client of the test's own.
on_both_runtimes!(
    the_cross_region_replication_drill_measures_lag_per_region,
    the_cross_region_replication_drill_measures_lag_per_region_on_docker,
    cross_region_replication,
    needs_root: "needs root: links between regions are iptables rules feeding a relay"
);

fn cross_region_replication(env: &Env) {
    if !root_or_skip("the_cross_region_replication_drill_measures_lag_per_region") {
        return;
    }
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/cross-region-replication.yaml");
    let drilled = env.drill(&scenario, &["--seed", "1"]);
    let report = drilled.report();
    let rep = report
        .checks
        .replication
        .as_ref()
        .unwrap_or_else(|| panic!("no replication checks: {}", drilled.output()));
    for g in &rep.regions {
        eprintln!(
            "{} ({}): {} writes judged, {} unseen, lag p50 {:.1} p99 {:.1} max {:.1} ms, {} below the floor",
            env.runtime,
            g.region,
            g.writes_judged,
            g.unseen,
            g.lag_ms.p50,
            g.lag_ms.p99,
            g.lag_ms.max,
            g.floor_violations
        );
    }
    eprintln!(
        "{}: write p50 {:.2} ms alone, {:.1} ms with WAIT 1",
        env.runtime, rep.write_ms.p50, rep.write_wait_ms.p50
    );
    let region = |name: &str| {
        rep.regions
            .iter()
            .find(|g| g.region == name)
            .unwrap_or_else(|| panic!("no region {name}: {:?}", rep.regions))
    };
    for (name, one_way) in [("us-east", 40.0), ("ap-south", 75.0)] {
        let g = region(name);
        assert!(g.writes_judged > 100, "{g:?}");
        assert_eq!((g.unseen, g.floor_violations), (0, 0), "{g:?}");
        // At or above the one-way delay, and close to it at 20 writes/s.
        assert!(g.lag_ms.p50 >= one_way, "{g:?}");
        assert!(g.lag_ms.p50 <= one_way * 1.25, "{g:?}");
    }
    // WAIT 1 answers when the nearest replica (us-east, 40 ms away) has
    // acknowledged: a round trip to it.
    assert!(rep.write_wait_ms.p50 >= 80.0, "{:?}", rep.write_wait_ms);
    assert!(
        rep.write_wait_ms.p50 <= 80.0 * 1.25,
        "{:?}",
        rep.write_wait_ms
    );
    assert!(
        report
            .links
            .iter()
            .all(|l| l.check == redis_drill::report::Verdict::Pass),
        "{:?}",
        report.links
    );
    drilled.assert_code(redis_drill::exit::SUCCESS);
}

// The `slow` fault on each runtime (the shipped `link-spike` drill):
// eu-west<->us-east from 40 to 200 ms one way for 4 s. Writes acknowledged
// during the spike reach the us-east replica no sooner than 200 ms later —
// the relay changed the delay of the replication link already open — and
// those of the baseline and after it at about 40 ms; ap-south, across a
// link the spike leaves alone, sees no change.
on_both_runtimes!(
    a_slow_fault_changes_an_open_link_and_heal_restores_it,
    a_slow_fault_changes_an_open_link_and_heal_restores_it_on_docker,
    link_spike,
    needs_root: "needs root: links between regions are iptables rules feeding a relay"
);

fn link_spike(env: &Env) {
    if !root_or_skip("a_slow_fault_changes_an_open_link_and_heal_restores_it") {
        return;
    }
    let scenario =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/link-spike.yaml");
    let drilled = env.drill(&scenario, &["--seed", "1"]);
    let rep = drilled
        .report()
        .checks
        .replication
        .as_ref()
        .unwrap_or_else(|| panic!("no replication checks: {}", drilled.output()));
    let p50 = |region: &str, phase: &str| {
        let g = rep.regions.iter().find(|g| g.region == region).unwrap();
        let p = g
            .by_phase
            .iter()
            .find(|p| p.phase == phase)
            .unwrap_or_else(|| panic!("no {phase} in {region}: {g:?}"));
        assert!(p.lag_ms.count > 10, "{region} {phase}: {p:?}");
        p.lag_ms.p50
    };
    let us = [
        p50("us-east", "baseline"),
        p50("us-east", "during"),
        p50("us-east", "after"),
    ];
    let ap = [p50("ap-south", "baseline"), p50("ap-south", "during")];
    eprintln!(
        "{}: us-east lag p50 baseline/during/after {us:?} ms; ap-south {ap:?} ms",
        env.runtime
    );
    assert!((40.0..50.0).contains(&us[0]), "{us:?}");
    assert!((200.0..250.0).contains(&us[1]), "{us:?}");
    assert!((40.0..50.0).contains(&us[2]), "{us:?}");
    assert!(ap.iter().all(|l| (75.0..90.0).contains(l)), "{ap:?}");
    drilled.assert_code(redis_drill::exit::SUCCESS);
}

/// `replica_reads: local` across a link: a 2x1 cluster whose shards each
/// keep a copy in both regions (s1n1 and s2n2 in eu, s1n2 and s2n1 in us),
/// clients in both, only GETs. Every read stays in the reader's region, so
/// no read pays the link; with replicas picked at random, half of them
/// would cross it (80 ms). CLIENT LIST on each node, read while the
/// workload runs, is the independent check: only a node of its own region
/// was sent a GET from a region's client address.
#[test]
#[cfg_attr(
    not(root),
    ignore = "needs root: links between regions are iptables rules feeding a relay"
)]
fn local_replica_reads_stay_in_the_readers_region() {
    if !root_or_skip("local_replica_reads_stay_in_the_readers_region") {
        return;
    }
    let env = Env::new("process");
    env.write(
        "local-two.yaml",
        "name: local-two\nkind: cluster\nregions: [{name: eu}, {name: us}]\ncluster: {shards: 2, replicas: 1}\nlinks:\n  - between: [eu, us]\n    delay_ms: 40\n",
    );
    let scenario = env.write(
        "local-reads.yaml",
        "name: local-reads\ntopology: local-two.yaml\nworkload:\n  clients: 2\n  probe_clients: 0\n  model: {open: {rate: 200}}\n  keys: 100\n  mix: {get: 100}\n  regions: [eu, us]\n  replica_reads: local\nbaseline_ms: 1000\nduring_ms: 3000\nsettle_ms: 200\nslo:\n  max_app_failed_ops: 0\n",
    );
    // While the drill runs: which connections, from which region's client
    // address, last sent a GET to which node (CLIENT LIST, polled).
    let got_from = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let drilled = std::thread::scope(|scope| {
        let drill = scope.spawn(|| env.drill(&scenario, &[]));
        let started = Instant::now();
        while !drill.is_finished() && started.elapsed() < Duration::from_secs(120) {
            for (name, region, addr) in running_nodes(env.state.path()) {
                let Ok(list) = std::process::Command::new("redis-cli")
                    .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
                    .args(["CLIENT", "LIST"])
                    .bounded_output()
                else {
                    continue;
                };
                for line in String::from_utf8_lossy(&list.stdout).lines() {
                    let field = |k: &str| line.split(' ').find_map(|f| f.strip_prefix(k));
                    if let (Some("get"), Some(from)) = (field("cmd="), field("addr=")) {
                        let ip = from.rsplit_once(':').map_or(from, |(ip, _)| ip);
                        got_from
                            .lock()
                            .unwrap()
                            .insert((format!("{name} ({region})"), ip.to_string()));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        drill.join().unwrap()
    });
    let got_from = got_from.into_inner().unwrap();
    let report = drilled.report();
    eprintln!("GETs seen: {got_from:?}");
    assert_eq!(report.client_regions.len(), 2, "{}", drilled.output());
    for g in &report.client_regions {
        let during = &g.app.latency_ms["during"];
        eprintln!("clients in {}: during {during:?}", g.region);
        assert!(during.count > 200, "{during:?}");
        assert!(during.p99 < 40.0, "reads crossed the link: {during:?}");
        let st = g.stale.as_ref().expect("reads judged");
        assert!(st.reads > 200, "{st:?}");
    }
    // eu's clients are at .3 of the nodes' block, us's at .4.
    assert!(!got_from.is_empty());
    for (node, from) in &got_from {
        let host: u8 = from.rsplit('.').next().unwrap().parse().unwrap();
        let region = if node.ends_with("(eu)") { 3 } else { 4 };
        assert_eq!(host, region, "{node} was sent a GET from {from}");
    }
}

/// (name, region, address) of every node of the process runs under `state`.
fn running_nodes(state: &std::path::Path) -> Vec<(String, String, SocketAddr)> {
    let mut out = Vec::new();
    for run in std::fs::read_dir(state).into_iter().flatten().flatten() {
        let Ok(bytes) = std::fs::read(run.path().join("deployment.json")) else {
            continue;
        };
        let Ok(d) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        let region = |name: &str| {
            d["topology"]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|n| n["name"] == name)
                .and_then(|n| n["region"].as_str())
                .unwrap_or("")
                .to_string()
        };
        for n in d["nodes"].as_array().into_iter().flatten() {
            if let (Some(name), Some(Ok(addr))) = (
                n["name"].as_str(),
                n["addr"].as_str().map(str::parse::<SocketAddr>),
            ) {
                out.push((name.to_string(), region(name), addr));
            }
        }
    }
    out
}

/// `locks.regions`: Redlock over two instances, one per region across a
/// 40 ms link, a worker in each region. A grant needs both instances, so
/// every acquisition pays the round trip to the other region (80 ms); from
/// one place, without regions, it would cost well under a millisecond. The
/// retry delay is well above the round trip: at the default (10 ms) the two
/// workers, each first to its own region's instance, split every vote and
/// nobody is granted anything (seen: 0 grants in 3 s).
#[test]
#[cfg_attr(
    not(root),
    ignore = "needs root: links between regions are iptables rules feeding a relay"
)]
fn lock_workers_in_regions_pay_the_link() {
    if !root_or_skip("lock_workers_in_regions_pay_the_link") {
        return;
    }
    let env = Env::new("process");
    env.write(
        "lock-two.yaml",
        "name: lock-two\nkind: standalone\nregions: [{name: eu}, {name: us}]\nstandalone: {primaries: 2}\nlinks:\n  - between: [eu, us]\n    delay_ms: 40\n",
    );
    let scenario = env.write(
        "lock-regions.yaml",
        "name: lock-regions\ntopology: lock-two.yaml\nlocks:\n  algorithm: redlock\n  workers: 2\n  locks: 2\n  ttl_ms: 2000\n  hold: {min_ms: 10, max_ms: 20}\n  think_ms: 10\n  retry_ms: 300\n  acquire_timeout_ms: 3000\n  instance_timeout_ms: 300\n  regions: [eu, us]\nbaseline_ms: 500\nduring_ms: 8000\nsettle_ms: 200\nslo:\n  max_lock_violations: 0\n",
    );
    let drilled = env.drill(&scenario, &[]);
    drilled.assert_code(0);
    let l = drilled.report().locks.as_ref().expect("a locks section");
    assert_eq!(l.by_region.len(), 2, "{}", drilled.output());
    for g in &l.by_region {
        eprintln!(
            "workers in {}: {} grants, acquire {:?}",
            g.region, g.grants, g.acquire_ms
        );
        assert_eq!(g.workers, 1);
        assert!(g.grants >= 3, "{g:?}");
        assert!(
            g.acquire_ms.p50 >= 78.0,
            "a grant without crossing the link: {g:?}"
        );
    }
    let md = std::fs::read_to_string(drilled.run_dir().join("report.md")).unwrap();
    assert!(md.contains("| workers in |"), "{md}");
}

// Stampede readers in three regions (the shipped `stampede-regions` drill):
// the hot keys' primary is in us-east, so a hit costs each region its round
// trip to us-east — 80 ms from eu-west, 200 ms from ap-south, nothing from
// us-east — within 10 %, on both runtimes (on Docker a hit once paid the
// relay's delayed ACK too: redis-rs connections had Nagle on). The cut of
// ap-south fails its readers' reads and no one else's.
on_both_runtimes!(
    stampede_readers_in_regions_pay_their_round_trip,
    stampede_readers_in_regions_pay_their_round_trip_on_docker,
    stampede_regions,
    needs_root: "needs root: links between regions are iptables rules feeding a relay"
);

fn stampede_regions(env: &Env) {
    if !root_or_skip("stampede_readers_in_regions_pay_their_round_trip") {
        return;
    }
    let scenario =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/stampede-regions.yaml");
    let drilled = env.drill(&scenario, &["--seed", "1"]);
    let report = drilled.report();
    let st = (report.checks.stampede.as_ref())
        .unwrap_or_else(|| panic!("no stampede checks: {}", drilled.output()));
    let region = |name: &str| {
        (st.by_region.iter())
            .find(|g| g.region == name)
            .unwrap_or_else(|| panic!("no readers in {name}: {:?}", st.by_region))
    };
    for g in &st.by_region {
        eprintln!(
            "{} ({}): {} reads, {} hits p50 {:.2} ms, {} failed, {} computations",
            env.runtime, g.region, g.reads, g.hits, g.hit_ms.p50, g.failed, g.computes
        );
    }
    for (name, rtt) in [("eu-west", 80.0), ("ap-south", 200.0)] {
        let g = region(name);
        assert!(g.hits > 50, "{g:?}");
        assert!(
            g.hit_ms.p50 >= rtt && g.hit_ms.p50 <= rtt * 1.1,
            "{name}: hit p50 {:.1} ms against a {rtt} ms round trip",
            g.hit_ms.p50
        );
    }
    let near = region("us-east");
    assert!(near.hit_ms.p50 < 2.0, "{near:?}");
    assert_eq!((region("eu-west").failed, near.failed), (0, 0));
    assert!(
        region("ap-south").failed > 0,
        "the cut of ap-south reached its readers: {:?}",
        region("ap-south")
    );
    assert!(st.violations.is_empty(), "{:?}", st.violations);
    let md = std::fs::read_to_string(drilled.run_dir().join("report.md")).unwrap();
    assert!(md.contains("By the readers' region"), "{md}");
    drilled.assert_code(redis_drill::exit::SUCCESS);
}

// Invalidation readers in three regions reading their own replicas (the
// shipped `invalidation-regions` drill). Every read a replica answered went
// to the replica in the reader's own region (the history's node against the
// topology); every region's readers were judged; and every replica-lag
// witness read its replica sooner after the primary acknowledged the DEL
// than the link between the two regions takes one way — after that, the
// DEL is there and the read would not be stale (a figure the link's own
// pings, in the same report, bound).
on_both_runtimes!(
    invalidation_readers_in_regions_read_their_own_replicas,
    invalidation_readers_in_regions_read_their_own_replicas_on_docker,
    invalidation_regions,
    needs_root: "needs root: links between regions are iptables rules feeding a relay"
);

fn invalidation_regions(env: &Env) {
    if !root_or_skip("invalidation_readers_in_regions_read_their_own_replicas") {
        return;
    }
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/invalidation-regions.yaml");
    let drilled = env.drill(&scenario, &["--seed", "1"]);
    let report = drilled.report();
    let inv = (report.checks.invalidation.as_ref())
        .unwrap_or_else(|| panic!("no invalidation checks: {}", drilled.output()));
    let region_of = |node: &str| {
        (report.topology.nodes.iter())
            .find(|n| n.name == node)
            .map(|n| n.region.clone())
            .unwrap_or_else(|| panic!("no node {node}"))
    };
    assert_eq!(inv.by_region.len(), 3, "{inv:?}");
    for g in &inv.by_region {
        eprintln!(
            "{} ({}): {} reads, {} hits ({} from a replica), {} stale after, {} replica lag, window {:?}",
            env.runtime,
            g.region,
            g.reads,
            g.hits,
            g.replica_hits,
            g.stale_after_invalidation,
            g.causes.replica_lag,
            g.stale_lifetime
        );
        assert_eq!(g.readers, 4);
        assert!(g.reads > 200 && g.replica_hits > 20, "{g:?}");
    }
    assert!(inv.causes.replica_lag > 0, "{inv:?}");
    // The history: each replica read went to the reader's own region.
    let rec: redis_drill::record::invalidation::InvalidationRecording = serde_json::from_slice(
        &std::fs::read(drilled.run_dir().join("invalidation.json")).unwrap(),
    )
    .unwrap();
    let spec = rec.spec.as_ref().unwrap();
    let mut replica_reads = 0;
    for op in &rec.ops {
        if let redis_drill::record::invalidation::InvOp::Read {
            reader,
            node: Some(node),
            replica: true,
            ..
        } = op
        {
            replica_reads += 1;
            assert_eq!(
                Some(region_of(node).as_str()),
                spec.region_of(*reader),
                "reader {reader} read {node}"
            );
        }
    }
    assert!(replica_reads > 60, "{replica_reads}");
    // Each replica-lag witness: the DEL's primary, the replica read, the
    // time between, against the link's declared one-way delay.
    let one_way = |a: &str, b: &str| {
        (report.links.iter())
            .find(|l| l.link == format!("{a}<->{b}") || l.link == format!("{b}<->{a}"))
            .map(|l| l.declared_rtt_ms / 2.0)
            .unwrap_or_else(|| panic!("no link {a} {b}: {:?}", report.links))
    };
    let lags: Vec<_> = (inv.witnesses.iter())
        .filter(|w| w.cause == redis_drill::checker::invalidation::Cause::ReplicaLag)
        .collect();
    assert!(!lags.is_empty());
    for w in lags {
        let by = |s: &str| s.rsplit(" by ").next().unwrap().to_string();
        let del = w
            .steps
            .iter()
            .find(|s| s.what.contains(" deleted key "))
            .unwrap();
        let read = w.steps.last().unwrap();
        let primary = by(&del.what);
        let (replica, after) = read
            .what
            .split_once(" from ")
            .unwrap()
            .1
            .split_once(": ")
            .unwrap();
        let ms: f64 = after
            .rsplit_once(", ")
            .unwrap()
            .1
            .split(" ms after")
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let bound = one_way(&region_of(&primary), &region_of(replica));
        eprintln!("{primary} → {replica}: read {ms} ms after the DEL's answer, one way {bound} ms");
        assert!(ms < bound + 5.0, "{w:?}");
    }
    let md = std::fs::read_to_string(drilled.run_dir().join("report.md")).unwrap();
    assert!(md.contains("| readers in |"), "{md}");
    drilled.assert_code(redis_drill::exit::CHECK_FAILED);
}
