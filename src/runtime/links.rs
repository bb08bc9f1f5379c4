//! Links between regions, measured: what a link's round trip was while the
//! drill ran, the way the nodes' own traffic crossed it (each backend says
//! where a measuring connection starts: [`Origins`]), and in words how the
//! links were made ([`mechanism`]). Shared by every backend; how a link is
//! made real is each backend's own (`process::links`, `docker::links`).

use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::deployment::{DeployedNode, Deployment};
use super::netns::NetNs;
use crate::topology::Link;

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
    from: &dyn PingOrigin,
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
    Namespaces(std::collections::BTreeMap<String, std::sync::Arc<NetNs>>),
}

/// Round trips (ms), or those measured before the error that cut them short.
pub type Pinged = Result<Vec<f64>, (Vec<f64>, String)>;

/// Where a link's measuring connection starts: [`Origins`] on this
/// machine, or the swarm runtime's helpers, reached through their engines.
pub trait PingOrigin: Send + Sync {
    /// [`MEASURE_PINGS`] PINGs from node `a`'s place to `to`: their round
    /// trips (ms), with the error that cut them short, if one did.
    fn ping<'a>(
        &'a self,
        a: &'a DeployedNode,
        to: std::net::SocketAddr,
    ) -> futures::future::BoxFuture<'a, Pinged>;
}

impl PingOrigin for Origins {
    fn ping<'a>(
        &'a self,
        a: &'a DeployedNode,
        to: std::net::SocketAddr,
    ) -> futures::future::BoxFuture<'a, Pinged> {
        use futures::FutureExt as _;
        async move {
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
        .boxed()
    }
}

/// A measurement as one line of JSON: what `redis-drill relay --ping`
/// prints where it runs (inside a swarm node's helper), read back by the
/// controller ([`PingReport::pinged`]).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct PingReport {
    /// Round trips, ms, in order.
    pub rtt_ms: Vec<f64>,
    /// Why the PINGs stopped before their count, if they did.
    pub error: Option<String>,
}

impl PingReport {
    /// The report of a measurement.
    pub fn of(p: Pinged) -> PingReport {
        match p {
            Ok(rtt_ms) => PingReport {
                rtt_ms,
                error: None,
            },
            Err((rtt_ms, e)) => PingReport {
                rtt_ms,
                error: Some(e),
            },
        }
    }

    /// The measurement in the last JSON line of `stdout`; `None` when it
    /// holds none.
    pub fn pinged(stdout: &str) -> Option<Pinged> {
        let line = stdout.lines().rev().find(|l| l.starts_with('{'))?;
        let r: PingReport = serde_json::from_str(line).ok()?;
        Some(match r.error {
            None => Ok(r.rtt_ms),
            Some(e) => Err((r.rtt_ms, e)),
        })
    }
}

/// [`MEASURE_PINGS`] PINGs to `to` from inside `netns` (when given) and
/// from the address `source` (when given): their round trips (ms), with the
/// error that cut them short, if one did. A namespace is joined by a thread
/// of its own, which ends with the measurement, so no thread of the
/// controller's is left in there.
pub async fn ping_from(
    netns: Option<std::sync::Arc<NetNs>>,
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
pub type ClientOrigin = (String, Option<std::sync::Arc<NetNs>>, Option<IpAddr>);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ping_report_reads_back_as_the_measurement_it_was() {
        let ok = serde_json::to_string(&PingReport::of(Ok(vec![80.5, 81.0]))).unwrap();
        assert_eq!(
            PingReport::pinged(&format!("noise\n{ok}\n")),
            Some(Ok(vec![80.5, 81.0]))
        );
        let cut = PingReport::of(Err((vec![1.0], "reset".into())));
        let cut = serde_json::to_string(&cut).unwrap();
        assert_eq!(
            PingReport::pinged(&cut),
            Some(Err((vec![1.0], "reset".into())))
        );
        assert_eq!(PingReport::pinged("exec failed"), None);
    }
}
