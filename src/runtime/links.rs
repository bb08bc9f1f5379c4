//! Links between regions made real on the process runtime: the delaying
//! relay ([`super::relay`]) as a process of the run, and the host's iptables
//! rules that feed it and drop a link's share of packets.
//!
//! Every node has its own loopback address and sends from it, so a pair of
//! nodes across a link is `-s <from> -d <to>`:
//!
//! - **nat**, chain `RL-<run id>`, jumped to first from `OUTPUT`: for every
//!   impaired pair, `REDIRECT` to the relay's port, unless the packet carries
//!   the relay's own mark ([`super::relay::MARK`]);
//! - **filter**, chain `RL-<run id>`, jumped to first from `INPUT`: for
//!   every pair of a lossy link, the `statistic` match drops that share of
//!   packets. It sees the relay's onward leg, which keeps the real addresses
//!   (the leg into the relay is addressed to 127.0.0.1 by then), so each
//!   direction loses its share once.
//!
//! Every rule and jump carries the comment `redis-drill-run-<run id>`; the
//! run's cleanup (`remove_run`, on every exit path, and `down --all`)
//! removes the chains and exactly the jumps that carry it.

use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::filter::{self, NetError};
use super::relay::{self, MARK, RelayConfig};
use super::{Deployment, RuntimeError};
use crate::net::links::{Impaired, impaired};
use crate::topology::Link;

/// Prefix of the per-run link chains, in both the nat and the filter table.
pub const CHAIN_PREFIX: &str = "RL-";
/// The relay's directory inside the run's.
pub const RELAY_DIR: &str = "relay";
/// How long the relay may take to listen.
const RELAY_START: Duration = Duration::from_secs(10);

/// How the links of a run are made, in words for the report: always the
/// user-space relay, and whether this kernel could have had netem instead
/// (tried in a throwaway network namespace, `unshare --net`, which leaves
/// nothing behind). redis-drill has no netem path: none could be run or
/// tested on the kernels it is built on.
pub fn mechanism() -> String {
    const RELAY: &str =
        "user-space delaying relay fed by iptables REDIRECT, loss by the iptables statistic match";
    let out = Command::new("unshare")
        .args([
            "--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
        ])
        .stdin(Stdio::null())
        .output();
    let netem = match out {
        Ok(o) if o.status.success() => {
            "this kernel has netem, which redis-drill does not use yet".to_string()
        }
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr).trim().to_string();
            if why.contains("qdisc kind is unknown") {
                "this kernel has no netem".to_string()
            } else {
                format!("netem not tried: {why}")
            }
        }
        Err(e) => format!("netem not tried: unshare/tc: {e}"),
    };
    format!("{RELAY} ({netem})")
}

/// The comment every rule of `run_id` carries.
pub fn comment(run_id: &str) -> String {
    format!("redis-drill-run-{run_id}")
}

/// The chain of `run_id`'s link rules: `RL-<run id>`.
pub fn chain(run_id: &str) -> Result<String, NetError> {
    // Same rules as the partition chains: short, and only [A-Za-z0-9_-].
    filter::process_chain(run_id)
        .map(|c| format!("{CHAIN_PREFIX}{}", &c[filter::PROCESS_CHAIN_PREFIX.len()..]))
}

/// The `iptables-restore --noflush` script for `pairs`: the nat chain that
/// redirects them to the relay on `port`, the filter chain that drops a
/// lossy link's share, and the jumps to both (first in `OUTPUT` and `INPUT`,
/// before any ACCEPT of the host's own firewall).
pub fn rules_script(run_id: &str, pairs: &[Impaired], links: &[Link], port: u16) -> String {
    let chain = chain(run_id).expect("the run id was checked when the chain was named");
    let tag = format!("-m comment --comment {}", comment(run_id));
    let mut s = format!("*nat\n:{chain} - [0:0]\n");
    for p in pairs {
        s.push_str(&format!(
            "-A {chain} -s {} -d {} -p tcp -m mark ! --mark {MARK:#x} {tag} -j REDIRECT --to-ports {port}\n",
            p.from, p.to
        ));
    }
    s.push_str(&format!("-I OUTPUT 1 {tag} -j {chain}\nCOMMIT\n"));
    s.push_str(&format!("*filter\n:{chain} - [0:0]\n"));
    for p in pairs {
        let loss = links[p.link].loss_pct;
        if loss > 0.0 {
            s.push_str(&format!(
                "-A {chain} -s {} -d {} -m statistic --mode random --probability {} {tag} -j DROP\n",
                p.from,
                p.to,
                crate::net::links::probability(loss)
            ));
        }
    }
    s.push_str(&format!("-I INPUT 1 {tag} -j {chain}\nCOMMIT\n"));
    s
}

/// Start `d`'s links: the relay process in `run_dir/relay/`, then the rules
/// that feed it. Needs root. On error the caller removes the run, which
/// removes whatever part of this was done.
pub async fn start(run_dir: &Path, d: &Deployment) -> Result<(), RuntimeError> {
    let links = &d.topology.links;
    if links.is_empty() {
        return Ok(());
    }
    let chain = chain(&d.run_id).map_err(to_runtime)?;
    filter::process_preflight().await.map_err(|e| {
        RuntimeError::Environment(format!("the topology declares links between regions: {e}"))
    })?;
    let nodes = d.link_members();
    let dir = run_dir.join(RELAY_DIR);
    std::fs::create_dir_all(&dir)
        .map_err(RuntimeError::io(format!("creating {}", dir.display())))?;
    let config = dir.join(relay::CONFIG_FILE);
    let cfg = RelayConfig {
        nodes: nodes.clone(),
        links: links.clone(),
    };
    std::fs::write(
        &config,
        serde_json::to_vec_pretty(&cfg).expect("serializes"),
    )
    .map_err(RuntimeError::io(format!("writing {}", config.display())))?;
    spawn_relay(&dir, &config)?;
    let port = wait_for_port(&dir).await?;
    let pairs = impaired(&nodes, links);
    let script = rules_script(&d.run_id, &pairs, links, port);
    let out = filter::host(
        &["iptables-restore", "-w", "--noflush"],
        Some(script.as_bytes()),
    )
    .await
    .map_err(to_runtime)?;
    if out.exit_code != 0 {
        return Err(RuntimeError::Environment(format!(
            "installing the link rules (chain {chain}) with iptables-restore failed (exit code {}): {}",
            out.exit_code,
            super::exec::first_line(&out.stderr, &out.stdout)
        )));
    }
    tracing::info!(run = %d.run_id, port, pairs = pairs.len(), links = links.len(), "links up");
    Ok(())
}

/// PINGs per link [`measure`] sends: at 80 ms a round trip, 2.4 s a link.
pub const MEASURE_PINGS: usize = 30;
/// The longest one connect or PING may take while measuring (a lossy link
/// resends a lost SYN after 1, 2, 4 s).
const MEASURE_TIMEOUT: Duration = Duration::from_secs(10);

/// Measure every link of `d` the way its nodes' traffic crosses it: one
/// connection from the first node of one region, bound to that node's
/// address (so the host's rules send it through the relay), to the first
/// node of the other, and [`MEASURE_PINGS`] sequential PINGs on it, each
/// timed from the write to the whole `+PONG` on a monotonic clock. A link
/// with no node on one side, or whose PINGs fail, is stored with why.
pub async fn measure(
    d: &Deployment,
    from: &Origins,
    cancel: &tokio_util::sync::CancellationToken,
) -> Vec<crate::net::links::LinkSample> {
    let mut out = Vec::new();
    for link in &d.topology.links {
        let first_in = |region: &str| {
            d.nodes
                .iter()
                .find(|n| d.spec(&n.name).is_some_and(|s| s.region == region))
        };
        let (a, b) = (first_in(&link.between[0]), first_in(&link.between[1]));
        let mut sample = crate::net::links::LinkSample {
            link: link.clone(),
            from: a.map_or_else(String::new, |n| n.name.clone()),
            to: b.map_or_else(String::new, |n| n.name.clone()),
            rtt_ms: Vec::new(),
            error: None,
        };
        match (a, b) {
            (Some(a), Some(b)) => {
                let pinged = tokio::select! {
                    _ = cancel.cancelled() => Err((Vec::new(), "interrupted".to_string())),
                    r = from.ping(a, b.announce) => r,
                };
                match pinged {
                    Ok(rtts) => sample.rtt_ms = rtts,
                    Err((rtts, e)) => {
                        sample.rtt_ms = rtts;
                        sample.error = Some(e);
                    }
                }
            }
            _ => sample.error = Some("a region of the link has no node".into()),
        }
        tracing::info!(link = %link.label(), pings = sample.rtt_ms.len(), error = ?sample.error, "link measured");
        out.push(sample);
    }
    out
}

/// Where a link's measuring connection starts from: the node's own place on
/// the network, so its traffic takes the node's path through the link.
pub enum Origins {
    /// The process runtime: bound to the node's own loopback address, on the
    /// host (whose rules match it by that address).
    Address,
    /// The docker runtime: from inside each node's network namespace (whose
    /// own rules send it to its relay), by node name.
    Namespaces(std::collections::BTreeMap<String, std::sync::Arc<super::netns::NetNs>>),
}

/// Round trips (ms), or those measured before the error that cut them short.
pub type Pinged = Result<Vec<f64>, (Vec<f64>, String)>;

impl Origins {
    /// [`MEASURE_PINGS`] PINGs from node `a` to `to`: their round trips (ms),
    /// with the error that cut them short, if one did.
    async fn ping(&self, a: &super::DeployedNode, to: std::net::SocketAddr) -> Pinged {
        match self {
            Origins::Address => ping_from(None, Some(a.announce.ip()), to).await,
            Origins::Namespaces(ns) => match ns.get(&a.name) {
                Some(ns) => ping_from(Some(ns.clone()), None, to).await,
                None => Err((
                    Vec::new(),
                    format!("no network namespace of node {}", a.name),
                )),
            },
        }
    }
}

/// [`MEASURE_PINGS`] PINGs to `to` from inside `netns` (when given) and
/// from the address `source` (when given): their round trips (ms), with the
/// error that cut them short, if one did. A namespace is joined by a thread
/// of its own, which ends with the measurement, so no thread of the
/// controller's is left in there.
pub async fn ping_from(
    netns: Option<std::sync::Arc<super::netns::NetNs>>,
    source: Option<IpAddr>,
    to: std::net::SocketAddr,
) -> Pinged {
    let finish = |rtt: Vec<f64>, r: Result<(), String>| match r {
        Ok(()) => Ok(rtt),
        Err(e) => Err((rtt, e)),
    };
    let Some(ns) = netns else {
        let mut rtt = Vec::new();
        let r = ping_through(source, to, &mut rtt).await;
        return finish(rtt, r);
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("link-measure".into())
        .spawn(move || {
            let mut rtt = Vec::new();
            let r = ns
                .enter()
                .map_err(|e| format!("joining the namespace: {e}"))
                .and_then(|()| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| format!("a runtime: {e}"))
                })
                .and_then(|rt| rt.block_on(ping_through(source, to, &mut rtt)));
            let _ = tx.send((rtt, r));
        });
    if let Err(e) = spawned {
        return Err((Vec::new(), format!("starting a thread: {e}")));
    }
    match rx.await {
        Ok((rtt, r)) => finish(rtt, r),
        Err(_) => Err((Vec::new(), "the measuring thread died".into())),
    }
}

/// Where a region's clients are measured from: the region, its namespace
/// (Docker) and its client address (process runtime).
pub type ClientOrigin = (
    String,
    Option<std::sync::Arc<super::netns::NetNs>>,
    Option<IpAddr>,
);

/// Measure what the clients of each region in `from` cross to reach a node
/// of every region (their own included), as [`measure`] measures a link:
/// [`MEASURE_PINGS`] PINGs to the first node of that region. Each sample's
/// `link` is the declared link between the two regions, or a link of no
/// delay for a pair without one (inside a region: it must measure near 0).
pub async fn measure_clients(
    d: &Deployment,
    from: &[ClientOrigin],
    cancel: &tokio_util::sync::CancellationToken,
) -> Vec<crate::net::links::LinkSample> {
    // Every path at once: each is its own connection, and one after the
    // other they would take seconds per region (30 round trips each).
    let mut paths = Vec::new();
    for (region, ns, source) in from {
        for to_region in &d.topology.regions {
            let Some(node) = d
                .nodes
                .iter()
                .find(|n| d.spec(&n.name).is_some_and(|s| s.region == to_region.name))
            else {
                continue;
            };
            let link = d
                .topology
                .links
                .iter()
                .find(|l| l.joins(region, &to_region.name))
                .cloned()
                .unwrap_or_else(|| Link {
                    between: [region.clone(), to_region.name.clone()],
                    delay_ms: 0.0,
                    jitter_ms: 0.0,
                    loss_pct: 0.0,
                    rate_mbit: None,
                });
            paths.push(async move {
                let pinged = tokio::select! {
                    _ = cancel.cancelled() => Err((Vec::new(), "interrupted".to_string())),
                    r = ping_from(ns.clone(), *source, node.announce) => r,
                };
                let (rtt_ms, error) = match pinged {
                    Ok(r) => (r, None),
                    Err((r, e)) => (r, Some(e)),
                };
                tracing::info!(from = %region, to = %node.name, pings = rtt_ms.len(), error = ?error, "client path measured");
                crate::net::links::LinkSample {
                    link,
                    from: format!("clients in {region}"),
                    to: node.name.clone(),
                    rtt_ms,
                    error,
                }
            });
        }
    }
    futures::future::join_all(paths).await
}

/// [`MEASURE_PINGS`] PINGs from `from`'s address (or wherever the calling
/// thread's sockets start) to `to`, their round trips (ms) pushed onto
/// `rtt_ms` as they come.
async fn ping_through(
    from: Option<IpAddr>,
    to: std::net::SocketAddr,
    rtt_ms: &mut Vec<f64>,
) -> Result<(), String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let timed = |what: &'static str| move |_| format!("{what} took over {MEASURE_TIMEOUT:?}");
    let socket = match to {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(|e| format!("socket: {e}"))?;
    if let Some(from) = from {
        socket
            .bind(std::net::SocketAddr::new(from, 0))
            .map_err(|e| format!("binding to {from}: {e}"))?;
    }
    let mut s = tokio::time::timeout(MEASURE_TIMEOUT, socket.connect(to))
        .await
        .map_err(timed("connecting"))?
        .map_err(|e| format!("connecting to {to}: {e}"))?;
    s.set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    const PONG: &[u8] = b"+PONG\r\n";
    let mut buf = [0u8; 64];
    for _ in 0..MEASURE_PINGS {
        let t = tokio::time::Instant::now();
        s.write_all(b"PING\r\n")
            .await
            .map_err(|e| format!("writing PING: {e}"))?;
        let mut got = 0;
        while got < PONG.len() {
            let n = tokio::time::timeout(MEASURE_TIMEOUT, s.read(&mut buf[got..]))
                .await
                .map_err(timed("a PONG"))?
                .map_err(|e| format!("reading PONG: {e}"))?;
            if n == 0 {
                return Err("the node closed the connection".into());
            }
            got += n;
        }
        if &buf[..got] != PONG {
            return Err(format!(
                "the node answered {:?}",
                String::from_utf8_lossy(&buf[..got])
            ));
        }
        rtt_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(())
}

/// Give the run's relay (in `run_dir`) `links`: what connections cross
/// from now on.
pub fn set(run_dir: &Path, links: &[Link]) -> Result<(), RuntimeError> {
    let file = run_dir.join(RELAY_DIR).join(relay::CONTROL_PORT_FILE);
    let port: u16 = std::fs::read_to_string(&file)
        .map_err(RuntimeError::io(format!("reading {}", file.display())))?
        .trim()
        .parse()
        .map_err(|_| RuntimeError::Environment(format!("{} holds no port", file.display())))?;
    let line = serde_json::to_string(links).expect("links serialize");
    relay::tell_relay(([127, 0, 0, 1], port).into(), &line)
        .map_err(RuntimeError::io("giving the relay new links".to_string()))
}

/// Start `redis-drill relay CONFIG` in `dir`, its own process group (as the
/// nodes are), logging to `relay.log`; a thread reaps it.
fn spawn_relay(dir: &Path, config: &Path) -> Result<(), RuntimeError> {
    use std::os::unix::process::CommandExt;
    let exe = relay::relay_program().map_err(RuntimeError::Environment)?;
    let log_path = dir.join("relay.log");
    let log = std::fs::File::create(&log_path)
        .map_err(RuntimeError::io(format!("creating {}", log_path.display())))?;
    let mut child = Command::new(&exe)
        .arg("relay")
        .arg(config)
        .current_dir(dir)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(RuntimeError::io("duplicating a file handle"))?,
        )
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(RuntimeError::io(format!(
            "starting the relay {}",
            exe.display()
        )))?;
    std::thread::Builder::new()
        .name("reap-relay".into())
        .spawn(move || {
            let _ = child.wait();
        })
        .map_err(RuntimeError::io("starting a reaper thread"))?;
    Ok(())
}

/// The port the relay wrote once it listened; fails when it exits first or
/// takes longer than [`RELAY_START`].
async fn wait_for_port(dir: &Path) -> Result<u16, RuntimeError> {
    let started = Instant::now();
    let interval = Duration::from_millis(20);
    for _ in 0..(RELAY_START.as_millis() / interval.as_millis()) {
        if let Ok(text) = std::fs::read_to_string(dir.join(relay::PORT_FILE))
            && let Ok(port) = text.trim().parse::<u16>()
        {
            return Ok(port);
        }
        if started.elapsed() >= RELAY_START {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    let log = std::fs::read_to_string(dir.join("relay.log")).unwrap_or_default();
    Err(RuntimeError::NotReady {
        node: "relay".into(),
        condition: format!(
            "listening (its log: {})",
            log.lines().last().unwrap_or("empty")
        ),
        waited: started.elapsed(),
    })
}

fn to_runtime(e: NetError) -> RuntimeError {
    match e {
        NetError::Runtime(r) => r,
        other => RuntimeError::Environment(other.to_string()),
    }
}

/// Remove `run_id`'s link chains and the jumps to them from the host's nat
/// and filter tables; how many chains were removed. Nothing to do without
/// root or iptables: then none can have been made.
pub fn teardown_run(run_id: &str) -> Result<usize, NetError> {
    if !filter::is_root() || super::image::which("iptables").is_none() {
        return Ok(0);
    }
    let chain = chain(run_id)?;
    let mut removed = 0;
    for (table, parent) in [("nat", "OUTPUT"), ("filter", "INPUT")] {
        removed += remove(table, parent, &chain)?;
    }
    Ok(removed)
}

/// Remove every link chain (`RL-*`) of any run: `down --all`.
pub fn teardown_all() -> Result<usize, NetError> {
    if !filter::is_root() || super::image::which("iptables").is_none() {
        return Ok(0);
    }
    let mut removed = 0;
    for (table, parent) in [("nat", "OUTPUT"), ("filter", "INPUT")] {
        let out = filter::host_sync(&["iptables", "-w", "-t", table, "-S"])?;
        if out.exit_code != 0 {
            continue;
        }
        let chains: Vec<String> = out
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("-N "))
            .map(str::trim)
            .filter(|c| c.starts_with(CHAIN_PREFIX))
            .map(str::to_string)
            .collect();
        for c in chains {
            removed += remove(table, parent, &c)?;
        }
    }
    Ok(removed)
}

/// Delete every jump from `parent` to `chain` in `table` (found in the
/// listing, so whatever comment it carries), then the chain itself.
fn remove(table: &str, parent: &str, chain: &str) -> Result<usize, NetError> {
    if filter::host_sync(&["iptables", "-w", "-t", table, "-S", chain])?.exit_code != 0 {
        return Ok(0);
    }
    let listing = filter::host_sync(&["iptables", "-w", "-t", table, "-S", parent])?;
    for rule in jumps_to(&listing.stdout, chain) {
        let mut args = vec!["iptables", "-w", "-t", table, "-D"];
        args.extend(rule.split_whitespace().skip(1));
        let out = filter::host_sync(&args)?;
        if out.exit_code != 0 {
            return Err(command_failed(&args, &out));
        }
    }
    for op in ["-F", "-X"] {
        let args = ["iptables", "-w", "-t", table, op, chain];
        let out = filter::host_sync(&args)?;
        if out.exit_code != 0 {
            return Err(command_failed(&args, &out));
        }
    }
    tracing::debug!(table, chain, "link chain removed");
    Ok(1)
}

/// The `-A <parent> ... -j <chain>` lines of an `iptables -S <parent>` listing.
fn jumps_to<'a>(listing: &'a str, chain: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    listing.lines().map(str::trim).filter(move |l| {
        l.starts_with("-A ")
            && l.split_whitespace()
                .collect::<Vec<_>>()
                .ends_with(&["-j", chain])
    })
}

fn command_failed(args: &[&str], out: &filter::HostOutput) -> NetError {
    NetError::Command {
        node: "(host)".into(),
        command: args.join(" "),
        code: out.exit_code,
        stderr: super::exec::first_line(&out.stderr, &out.stdout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(loss_pct: f64) -> Link {
        Link {
            between: ["eu".into(), "us".into()],
            delay_ms: 20.0,
            jitter_ms: 0.0,
            loss_pct,
            rate_mbit: None,
        }
    }

    #[test]
    fn the_rule_table_redirects_each_pair_and_drops_a_lossy_links_share() {
        let ip = |h: u8| IpAddr::from([127, 0, 101, h]);
        let pairs = [
            Impaired {
                from: ip(11),
                to: ip(12),
                link: 0,
            },
            Impaired {
                from: ip(12),
                to: ip(11),
                link: 0,
            },
        ];
        assert_eq!(
            rules_script("0badf00d", &pairs, &[link(0.0)], 41000),
            "*nat\n:RL-0badf00d - [0:0]\n\
             -A RL-0badf00d -s 127.0.101.11 -d 127.0.101.12 -p tcp -m mark ! --mark 0x52440077 -m comment --comment redis-drill-run-0badf00d -j REDIRECT --to-ports 41000\n\
             -A RL-0badf00d -s 127.0.101.12 -d 127.0.101.11 -p tcp -m mark ! --mark 0x52440077 -m comment --comment redis-drill-run-0badf00d -j REDIRECT --to-ports 41000\n\
             -I OUTPUT 1 -m comment --comment redis-drill-run-0badf00d -j RL-0badf00d\nCOMMIT\n\
             *filter\n:RL-0badf00d - [0:0]\n\
             -I INPUT 1 -m comment --comment redis-drill-run-0badf00d -j RL-0badf00d\nCOMMIT\n"
        );
        let lossy = rules_script("0badf00d", &pairs[..1], &[link(0.5)], 41000);
        assert!(
            lossy.contains(
                "-A RL-0badf00d -s 127.0.101.11 -d 127.0.101.12 -m statistic --mode random --probability 0.005 -m comment --comment redis-drill-run-0badf00d -j DROP\n"
            ),
            "{lossy}"
        );
        assert!(!lossy.contains("REJECT"));
    }

    #[test]
    fn probabilities_and_chain_names() {
        assert_eq!(crate::net::links::probability(0.5), "0.005");
        assert_eq!(crate::net::links::probability(10.0), "0.1");
        assert_eq!(crate::net::links::probability(99.0), "0.99");
        assert_eq!(chain("0badf00d").unwrap(), "RL-0badf00d");
        assert!(chain("a b").is_err());
    }

    #[test]
    fn jumps_are_found_whatever_their_comment() {
        let listing = "-P OUTPUT ACCEPT\n\
                       -A OUTPUT -m comment --comment redis-drill-run-1 -j RL-1\n\
                       -A OUTPUT -j DOCKER\n-A OUTPUT -j RL-1\n-A OUTPUT -j RL-10\n";
        assert_eq!(
            jumps_to(listing, "RL-1").collect::<Vec<_>>(),
            [
                "-A OUTPUT -m comment --comment redis-drill-run-1 -j RL-1",
                "-A OUTPUT -j RL-1"
            ]
        );
    }
}
