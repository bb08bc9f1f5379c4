//! The server-side reference, beside the clients' figures, so that a reader
//! can tell whether latency came from Redis or from the client path:
//!
//! - [`Reference`]: a raw `PING` to every primary every few ms, each node on
//!   a thread of its own with a blocking socket — no client library, no
//!   async runtime, no connection shared with anything. Its round trip is
//!   the network path plus the node's event loop.
//! - [`server_sample`]: what each node itself counted — `INFO commandstats`
//!   (calls and µs per call) and, on Redis 7.0 and later, `INFO latencystats`
//!   (p50/p99/p99.9 of each command's execution) — read and then reset with
//!   `CONFIG RESETSTAT`, so each sample covers one phase.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::net::secure::SyncStream;

use crate::cluster::conn::{NodeConn, parse_info};
use crate::cluster::{ClusterError, ConnectOptions};
use crate::record::pings::{CommandStats, NodeSample, Ping};
use crate::record::timeline::Clock;
use crate::runtime::netns::NetNs;

/// PINGs a node thread records at most: 10 minutes at one every 5 ms.
const MAX_PINGS: usize = 120_000;

/// The reference PING threads.
pub struct Reference {
    threads: Vec<JoinHandle<Vec<Ping>>>,
    stop: Vec<mpsc::Sender<()>>,
    /// Threads past their first PING (connected, or failed to).
    first: Arc<AtomicUsize>,
}

impl Reference {
    /// PING each of `nodes` every `interval`, timing out after `timeout`,
    /// from the network namespace `netns` when given (the clients' own).
    pub fn start(
        netns: Option<Arc<NetNs>>,
        nodes: Vec<(String, SocketAddr)>,
        clock: Clock,
        interval: Duration,
        timeout: Duration,
        realtime: bool,
        nice: i32,
    ) -> Reference {
        let mut threads = Vec::new();
        let mut stop = Vec::new();
        let first = Arc::new(AtomicUsize::new(0));
        for (name, addr) in nodes {
            let (tx, rx) = mpsc::channel();
            let netns = netns.clone();
            let started = first.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("redis-drill-ping-{name}"))
                .spawn(move || {
                    if let Some(ns) = netns
                        && let Err(e) = ns.enter()
                    {
                        tracing::error!(
                            "the {name} ping thread could not join {}: {e}",
                            ns.path().display()
                        );
                    }
                    super::thread::prepare(realtime, nice);
                    ping_loop(name, addr, clock, interval, timeout, rx, &started)
                });
            match spawned {
                Ok(t) => {
                    threads.push(t);
                    stop.push(tx);
                }
                Err(e) => tracing::warn!("reference ping thread: {e}"),
            }
        }
        Reference {
            threads,
            stop,
            first,
        }
    }

    /// Every thread has sent its first PING: its namespace joined, its
    /// connection opened (or refused).
    pub fn started(&self) -> bool {
        self.first.load(Ordering::Acquire) >= self.threads.len()
    }

    /// Stop every thread and return the pings, sorted by due time. Blocks for
    /// at most one ping's timeout: call it off the async threads.
    pub fn stop(mut self) -> Vec<Ping> {
        for tx in &self.stop {
            let _ = tx.send(());
        }
        let mut out: Vec<Ping> = std::mem::take(&mut self.threads)
            .into_iter()
            .filter_map(|t| t.join().ok())
            .flatten()
            .collect();
        out.sort_by(|a, b| (a.due_ns, &a.node).cmp(&(b.due_ns, &b.node)));
        out
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        for tx in &self.stop {
            let _ = tx.send(());
        }
    }
}

/// A raw connection (TLS and AUTH as the process's connection security
/// says), every read and write bounded by `timeout`.
pub(crate) fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<SyncStream> {
    crate::net::secure::connect_sync(addr, timeout)
}

/// One PING on `conn`: true when `+PONG` came back.
pub(crate) fn ping(conn: &mut SyncStream) -> bool {
    let mut reply = [0u8; 7];
    conn.write_all(b"PING\r\n").is_ok()
        && conn.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

fn ping_loop(
    node: String,
    addr: SocketAddr,
    clock: Clock,
    interval: Duration,
    timeout: Duration,
    stop: mpsc::Receiver<()>,
    started: &AtomicUsize,
) -> Vec<Ping> {
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut conn: Option<SyncStream> = None;
    let mut k: u32 = 0;
    while out.len() < MAX_PINGS {
        let due = t0 + interval * k;
        let now = Instant::now();
        if due > now {
            match stop.recv_timeout(due - now) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
            }
        } else if !matches!(stop.try_recv(), Err(mpsc::TryRecvError::Empty)) {
            break;
        }
        let sent = Instant::now();
        let ok = match conn.as_mut() {
            Some(c) => ping(c),
            None => match connect(addr, timeout) {
                Ok(mut c) => {
                    let ok = ping(&mut c);
                    conn = Some(c);
                    ok
                }
                Err(_) => false,
            },
        };
        if !ok {
            // The stream may be out of step with the replies: start afresh.
            conn = None;
        }
        let end = Instant::now();
        out.push(Ping {
            node: node.clone(),
            due_ns: clock.ns(due),
            sent_ns: clock.ns(sent),
            end_ns: clock.ns(end),
            ok,
        });
        if out.len() == 1 {
            started.fetch_add(1, Ordering::Release);
        }
        // The next due time after now: a reference skips what a stall
        // swallowed (its figure is the round trip, not a schedule).
        let elapsed = end.saturating_duration_since(t0).as_nanos();
        let next = (elapsed / interval.as_nanos().max(1)) as u32 + 1;
        k = next.max(k + 1);
    }
    out
}

/// Read every node's command figures, then (`reset`) reset them (`CONFIG
/// RESETSTAT`), in one round trip per node, all nodes at once. A node that
/// does not answer is left out. Without `reset` (a deployment the tool did
/// not start, whose counters are its owners'), the figures are cumulative:
/// [`since`] makes a phase's of two samples.
pub async fn server_sample(
    nodes: &[(String, SocketAddr)],
    reset: bool,
) -> BTreeMap<String, NodeSample> {
    let reads = nodes.iter().map(|(name, addr)| async move {
        let sample = async {
            let mut c = NodeConn::connect(name, *addr, ConnectOptions::default()).await?;
            let mut p = redis::pipe();
            p.cmd("INFO")
                .arg("commandstats")
                .cmd("INFO")
                .arg("latencystats");
            if reset {
                p.cmd("CONFIG").arg("RESETSTAT").ignore();
            }
            let (cmds, lat): (String, String) = c.run_pipe(&p, "INFO commandstats").await?;
            Ok::<_, ClusterError>(parse_command_stats(&cmds, &lat))
        };
        (name.clone(), sample.await)
    });
    futures::future::join_all(reads)
        .await
        .into_iter()
        .filter_map(|(name, r)| match r {
            Ok(s) => Some((name, s)),
            Err(e) => {
                tracing::debug!("server figures of {name}: {e}");
                None
            }
        })
        .collect()
}

/// What a node counted between two cumulative samples: calls and mean
/// time per call of the difference; no percentiles (`INFO latencystats`
/// cannot be split by time). A node whose counters went back (it restarted)
/// counted `now` since.
pub fn since(before: &NodeSample, now: &NodeSample) -> NodeSample {
    let restarted = before
        .iter()
        .any(|(cmd, b)| now.get(cmd).is_none_or(|n| n.calls < b.calls));
    now.iter()
        .filter_map(|(cmd, n)| {
            let b = before.get(cmd).filter(|_| !restarted);
            let calls = n.calls - b.map_or(0, |b| b.calls);
            let usec = n.calls as f64 * n.usec_per_call
                - b.map_or(0.0, |b| b.calls as f64 * b.usec_per_call);
            (calls > 0).then(|| {
                let stats = CommandStats {
                    calls,
                    usec_per_call: (usec / calls as f64).max(0.0),
                    ..CommandStats::default()
                };
                (cmd.clone(), stats)
            })
        })
        .collect()
}

/// `INFO commandstats` and `INFO latencystats` as figures per command. Pure.
pub fn parse_command_stats(commandstats: &str, latencystats: &str) -> NodeSample {
    let fields = |v: &str| -> BTreeMap<String, f64> {
        v.split(',')
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect()
    };
    let mut out = NodeSample::new();
    for (k, v) in parse_info(commandstats) {
        let Some(cmd) = k.strip_prefix("cmdstat_") else {
            continue;
        };
        let f = fields(&v);
        out.insert(
            cmd.to_string(),
            CommandStats {
                calls: f.get("calls").copied().unwrap_or(0.0) as u64,
                usec_per_call: f.get("usec_per_call").copied().unwrap_or(0.0),
                ..CommandStats::default()
            },
        );
    }
    for (k, v) in parse_info(latencystats) {
        let Some(cmd) = k.strip_prefix("latency_percentiles_usec_") else {
            continue;
        };
        let f = fields(&v);
        let e = out.entry(cmd.to_string()).or_default();
        e.p50_usec = f.get("p50").copied();
        e.p99_usec = f.get("p99").copied();
        e.p999_usec = f.get("p99.9").copied();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_figures_from_info() {
        let cmds = "# Commandstats\r\ncmdstat_get:calls=1200,usec=2400,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\ncmdstat_set:calls=10,usec=55,usec_per_call=5.50,rejected_calls=0,failed_calls=1\r\n";
        let lat =
            "# Latencystats\r\nlatency_percentiles_usec_get:p50=1.003,p99=3.007,p99.9=11.007\r\n";
        let s = parse_command_stats(cmds, lat);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s["get"],
            CommandStats {
                calls: 1200,
                usec_per_call: 2.0,
                p50_usec: Some(1.003),
                p99_usec: Some(3.007),
                p999_usec: Some(11.007),
            }
        );
        assert_eq!((s["set"].calls, s["set"].p99_usec), (10, None));
        assert!(parse_command_stats("", "").is_empty());
    }

    #[test]
    fn pings_a_listener_and_records_a_dead_one_as_failed() {
        use std::net::TcpListener;
        // A one-connection server that answers PING with +PONG.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 6];
            while s.read_exact(&mut buf).is_ok() {
                if s.write_all(b"+PONG\r\n").is_err() {
                    break;
                }
            }
        });
        // A port with nobody behind it.
        let dead = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let clock = Clock::start();
        let r = Reference::start(
            None,
            vec![("up".into(), addr), ("down".into(), dead)],
            clock,
            Duration::from_millis(2),
            Duration::from_millis(200),
            false,
            0,
        );
        // Wait, bounded, for a few pings.
        let until = Instant::now() + Duration::from_secs(5);
        while clock.now_ns() < 50_000_000 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        let pings = r.stop();
        drop(server);
        let up: Vec<&Ping> = pings.iter().filter(|p| p.node == "up").collect();
        let down: Vec<&Ping> = pings.iter().filter(|p| p.node == "down").collect();
        assert!(up.len() >= 5, "{}", up.len());
        assert!(
            up.iter()
                .all(|p| p.ok && p.end_ns >= p.sent_ns && p.sent_ns >= p.due_ns)
        );
        assert!(!down.is_empty() && down.iter().all(|p| !p.ok));
    }
}
