//! Links between regions on the process runtime, through the real binary:
//! a 20 ms link makes a PING between nodes of two regions take at least
//! 40 ms, while a PING inside a region stays fast; the relay is transparent
//! (the node sees its real peer); replication crosses the link; `down`
//! leaves no rule and no relay behind. Needs root (iptables on the host).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use redis_drill::topology::Topology;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One primary in eu, a replica in us (across the link), one in eu.
const TOPOLOGY: &str = "name: links\nkind: replicated\nregions: [{name: eu}, {name: us}]\nreplicated: {replicas: 2}\nlinks:\n  - between: [eu, us]\n    delay_ms: 20\n";
const DELAY: Duration = Duration::from_millis(20);
/// PINGs per measurement.
const PINGS: usize = 25;

/// Round trips of `PINGS` PINGs on one connection from `from`'s address
/// (as the node `from` itself would connect) to `to`, sorted; and what `to`
/// says the connection's peer address is.
async fn pings(from: SocketAddr, to: SocketAddr) -> (Vec<Duration>, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from.ip(), 0)).unwrap();
    let mut s = tokio::time::timeout(Duration::from_secs(5), socket.connect(to))
        .await
        .expect("connect within 5 s")
        .expect("connect");
    s.set_nodelay(true).unwrap();
    let mut buf = [0u8; 512];
    let mut rtts = Vec::new();
    for _ in 0..PINGS {
        let t = Instant::now();
        s.write_all(b"PING\r\n").await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("PONG within 5 s")
            .unwrap();
        rtts.push(t.elapsed());
        assert_eq!(&buf[..n], b"+PONG\r\n");
    }
    rtts.sort();
    s.write_all(b"CLIENT INFO\r\n").await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
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
                .output()
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
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(redis_drill::exit::ENVIRONMENT));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("needs root"), "{err}");
        return;
    }
    let topology = Topology::parse(TOPOLOGY, None).unwrap();
    let region = |n: &str| topology.node(n).unwrap().region.clone();
    let up = env.up(&file, "links");
    let status = up.status();
    let (eu, us): (Vec<_>, Vec<_>) = status
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.address))
        .partition(|(n, _)| region(n) == "eu");
    assert_eq!((eu.len(), us.len()), (2, 1), "{eu:?} {us:?}");
    let chain = format!("redis-drill-run-{}", up.run_id);
    let rules = rules_mentioning(&chain);
    // nat: 2 pairs x 2 directions + the jump; filter: the jump (no loss).
    assert_eq!(rules.len(), 4 + 1 + 1, "{rules:#?}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (from, near, far) = (eu[0].1, eu[1].1, us[0].1);
    let (across, seen_as) = rt.block_on(pings(from, far));
    let (inside, _) = rt.block_on(pings(from, near));
    eprintln!(
        "PING round trip across the link p50 {:?} (min {:?}, max {:?}); inside eu p50 {:?}",
        p50(&across),
        across[0],
        across[PINGS - 1],
        p50(&inside)
    );
    // A physical floor: no round trip can beat the link's delay both ways.
    assert!(across[0] >= 2 * DELAY, "{across:?}");
    // Close to it: within 10 % at the median, as the issue asks, plus 2 ms
    // for timer granularity on a loaded machine.
    assert!(
        p50(&across) <= 2 * DELAY * 11 / 10 + Duration::from_millis(2),
        "{across:?}"
    );
    assert!(p50(&inside) < Duration::from_millis(5), "{inside:?}");
    // Transparent: the far node sees the connection come from `from` itself.
    assert_eq!(
        seen_as.rsplit_once(':').map(|(ip, _)| ip),
        Some(from.ip().to_string().as_str())
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
