//! The replication probe: how long a write takes to show on each replica.
//!
//! Beside the workload, one writer per primary `SET`s one key of that
//! primary's to an increasing sequence number at a steady rate (every
//! `wait_every`-th write followed by `WAIT 1`, to show what waiting for a
//! replica costs), and one poller per replica `GET`s the same key every
//! `poll_us` (after `READONLY` on a cluster). Each on a thread of its own
//! with a blocking socket, like the reference PINGs, from where the clients
//! connect — no client library, nothing shared. The writer records when each
//! write was sent and acknowledged; the poller records only when the value
//! it reads changes: which value, and when the read that saw it was sent and
//! answered, with when the read before it (which did not see it) was sent.
//! The pure checker ([`crate::checker::replication`]) turns that into the
//! lag of every write on every replica.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::net::secure::SyncStream;

use crate::record::replication::{ReplProbeSpec, ReplRecording, ReplSeen, ReplWrite};
use crate::record::timeline::Clock;
use crate::runtime::netns::NetNs;

/// One primary and its replicas, as the probe reaches them.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    pub primary: (String, SocketAddr),
    pub replicas: Vec<(String, SocketAddr)>,
    /// A key the primary owns (a cluster's slot), the same on its replicas.
    pub key: String,
    pub cluster: bool,
}

/// Records each thread keeps at most (10 minutes at 1000/s).
const MAX_EVENTS: usize = 600_000;

enum Recorded {
    Writes(Vec<ReplWrite>, u64),
    Seen(Vec<ReplSeen>, u64),
}

/// The probe's threads.
pub struct ReplProbe {
    spec: ReplProbeSpec,
    threads: Vec<JoinHandle<Recorded>>,
    stop: Vec<mpsc::Sender<()>>,
}

impl ReplProbe {
    /// Start a writer per target and a poller per replica, from `netns`
    /// when given (the clients' own).
    pub fn start(
        spec: ReplProbeSpec,
        targets: Vec<ProbeTarget>,
        netns: Option<Arc<NetNs>>,
        clock: Clock,
    ) -> ReplProbe {
        let mut threads = Vec::new();
        let mut stop = Vec::new();
        let timeout = Duration::from_millis(spec.timeout_ms);
        for t in targets {
            let mut spawn =
                |name: String, f: Box<dyn FnOnce(mpsc::Receiver<()>) -> Recorded + Send>| {
                    let (tx, rx) = mpsc::channel();
                    let netns = netns.clone();
                    let spawned = std::thread::Builder::new()
                        .name(name.clone())
                        .spawn(move || {
                            if let Some(ns) = netns
                                && let Err(e) = ns.enter()
                            {
                                tracing::error!(
                                    "{name} could not join {}: {e}",
                                    ns.path().display()
                                );
                            }
                            f(rx)
                        });
                    match spawned {
                        Ok(h) => {
                            threads.push(h);
                            stop.push(tx);
                        }
                        Err(e) => tracing::warn!("replication probe thread: {e}"),
                    }
                };
            let (primary, addr) = t.primary.clone();
            let (key, s) = (t.key.clone(), spec.clone());
            spawn(
                format!("redis-drill-repl-w-{primary}"),
                Box::new(move |rx| {
                    let (w, e) = write_loop(&primary, addr, &key, &s, clock, timeout, rx);
                    Recorded::Writes(w, e)
                }),
            );
            for (replica, raddr) in t.replicas {
                let (primary, key) = (t.primary.0.clone(), t.key.clone());
                let (poll, cluster) = (Duration::from_micros(spec.poll_us), t.cluster);
                spawn(
                    format!("redis-drill-repl-r-{replica}"),
                    Box::new(move |rx| {
                        let (s, e) = poll_loop(
                            &replica, &primary, raddr, &key, cluster, poll, clock, timeout, rx,
                        );
                        Recorded::Seen(s, e)
                    }),
                );
            }
        }
        ReplProbe {
            spec,
            threads,
            stop,
        }
    }

    /// Stop every thread and return what they recorded. Blocks for at most
    /// one operation's timeout: call it off the async threads.
    pub fn stop(mut self) -> ReplRecording {
        for tx in &self.stop {
            let _ = tx.send(());
        }
        let mut out = ReplRecording {
            spec: Some(self.spec.clone()),
            ..Default::default()
        };
        for t in std::mem::take(&mut self.threads) {
            match t.join() {
                Ok(Recorded::Writes(w, e)) => {
                    out.writes.extend(w);
                    out.errors += e;
                }
                Ok(Recorded::Seen(s, e)) => {
                    out.seen.extend(s);
                    out.errors += e;
                }
                Err(_) => tracing::warn!("a replication probe thread panicked"),
            }
        }
        out.writes
            .sort_by(|a, b| (a.sent_ns, &a.primary).cmp(&(b.sent_ns, &b.primary)));
        out.seen
            .sort_by(|a, b| (a.end_ns, &a.replica).cmp(&(b.end_ns, &b.replica)));
        out
    }
}

impl Drop for ReplProbe {
    fn drop(&mut self) {
        for tx in &self.stop {
            let _ = tx.send(());
        }
    }
}

use crate::net::secure::resp_command as command;

/// A reply the probe understands: a simple string, an integer, a bulk
/// string (or nil), or an error.
#[derive(Debug, PartialEq)]
enum Reply {
    Simple(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Error(String),
}

fn read_reply(r: &mut impl BufRead) -> std::io::Result<Reply> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, format!("reply {line:?}"));
    let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
    Ok(match kind {
        "+" => Reply::Simple(rest.to_string()),
        "-" => Reply::Error(rest.to_string()),
        ":" => Reply::Int(rest.parse().map_err(|_| bad())?),
        "$" => {
            let n: i64 = rest.parse().map_err(|_| bad())?;
            if n < 0 {
                Reply::Bulk(None)
            } else {
                let mut buf = vec![0u8; n as usize + 2];
                std::io::Read::read_exact(r, &mut buf)?;
                buf.truncate(n as usize);
                Reply::Bulk(Some(buf))
            }
        }
        _ => return Err(bad()),
    })
}

/// A raw connection (TLS and AUTH as the process's connection security
/// says): commands written straight to the stream, replies read through a
/// buffer.
struct Conn {
    r: BufReader<SyncStream>,
}

fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<Conn> {
    Ok(Conn {
        r: BufReader::new(crate::net::secure::connect_sync(addr, timeout)?),
    })
}

impl Conn {
    fn call(&mut self, args: &[&[u8]]) -> std::io::Result<Reply> {
        self.r.get_mut().write_all(&command(args))?;
        read_reply(&mut self.r)
    }
}

/// Wait until `due` or a stop: false when stopped.
fn wait_until(due: Instant, stop: &mpsc::Receiver<()>) -> bool {
    let now = Instant::now();
    if due > now {
        matches!(stop.recv_timeout(due - now), Err(RecvTimeoutError::Timeout))
    } else {
        matches!(stop.try_recv(), Err(mpsc::TryRecvError::Empty))
    }
}

fn write_loop(
    primary: &str,
    addr: SocketAddr,
    key: &str,
    spec: &ReplProbeSpec,
    clock: Clock,
    timeout: Duration,
    stop: mpsc::Receiver<()>,
) -> (Vec<ReplWrite>, u64) {
    let interval = Duration::from_secs_f64(1.0 / spec.rate);
    let t0 = Instant::now();
    let (mut out, mut errors, mut conn) = (Vec::new(), 0u64, None::<Conn>);
    let wait_timeout = spec.wait_timeout_ms.to_string();
    for seq in 1..=MAX_EVENTS as u64 {
        if !wait_until(t0 + interval * (seq as u32 - 1), &stop) {
            break;
        }
        let c = match conn.take() {
            Some(c) => Some(c),
            None => connect(addr, timeout).ok(),
        };
        let sent = Instant::now();
        let mut w = ReplWrite {
            primary: primary.to_string(),
            key: key.to_string(),
            seq,
            sent_ns: clock.ns(sent),
            ack_ns: None,
            wait_end_ns: None,
            wait_replicas: None,
        };
        let Some(mut c) = c else {
            errors += 1;
            out.push(w);
            continue;
        };
        let v = seq.to_string();
        match c.call(&[b"SET", key.as_bytes(), v.as_bytes()]) {
            Ok(Reply::Simple(s)) if s == "OK" => {
                w.ack_ns = Some(clock.ns(Instant::now()));
                conn = Some(c);
            }
            _ => errors += 1,
        }
        if spec.wait_every > 0
            && seq % u64::from(spec.wait_every) == 0
            && let Some(c) = conn.as_mut()
        {
            match c.call(&[b"WAIT", b"1", wait_timeout.as_bytes()]) {
                Ok(Reply::Int(n)) => {
                    w.wait_end_ns = Some(clock.ns(Instant::now()));
                    w.wait_replicas = Some(n.max(0) as u64);
                }
                _ => {
                    errors += 1;
                    conn = None;
                }
            }
        }
        out.push(w);
    }
    (out, errors)
}

#[allow(clippy::too_many_arguments)]
fn poll_loop(
    replica: &str,
    primary: &str,
    addr: SocketAddr,
    key: &str,
    cluster: bool,
    interval: Duration,
    clock: Clock,
    timeout: Duration,
    stop: mpsc::Receiver<()>,
) -> (Vec<ReplSeen>, u64) {
    let t0 = Instant::now();
    let (mut out, mut errors, mut conn) = (Vec::new(), 0u64, None::<Conn>);
    let mut last: Option<u64> = None;
    let mut prev_sent: Option<u64> = None;
    let mut k: u32 = 0;
    while out.len() < MAX_EVENTS {
        if !wait_until(t0 + interval * k, &stop) {
            break;
        }
        let c = match conn.take() {
            Some(c) => Some(c),
            None => connect(addr, timeout).ok().and_then(|mut c| {
                // A cluster replica serves reads only after READONLY.
                if cluster && !matches!(c.call(&[b"READONLY"]), Ok(Reply::Simple(_))) {
                    return None;
                }
                Some(c)
            }),
        };
        let sent = Instant::now();
        match c.map(|mut c| (c.call(&[b"GET", key.as_bytes()]), c)) {
            Some((Ok(Reply::Bulk(v)), c)) => {
                let end = Instant::now();
                let value = v
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|s| s.parse::<u64>().ok());
                if let Some(value) = value
                    && last != Some(value)
                {
                    out.push(ReplSeen {
                        replica: replica.to_string(),
                        primary: primary.to_string(),
                        value,
                        sent_ns: clock.ns(sent),
                        end_ns: clock.ns(end),
                        prev_sent_ns: prev_sent,
                    });
                    last = Some(value);
                }
                prev_sent = Some(clock.ns(sent));
                conn = Some(c);
            }
            _ => {
                errors += 1;
                prev_sent = None;
            }
        }
        // The next due time after now: a stall is skipped, not caught up.
        let elapsed = Instant::now().saturating_duration_since(t0).as_nanos();
        let next = (elapsed / interval.as_nanos().max(1)) as u32 + 1;
        k = next.max(k + 1);
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_as_resp() {
        let mut r = std::io::Cursor::new(b"+OK\r\n:2\r\n$2\r\n17\r\n$-1\r\n-ERR x\r\n".to_vec());
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Simple("OK".into()));
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Int(2));
        assert_eq!(
            read_reply(&mut r).unwrap(),
            Reply::Bulk(Some(b"17".to_vec()))
        );
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Bulk(None));
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Error("ERR x".into()));
        assert!(read_reply(&mut r).is_err());
        assert_eq!(command(&[b"GET", b"k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }

    #[test]
    fn the_spec_is_checked() {
        assert!(ReplProbeSpec::default().check().is_ok());
        let bad = ReplProbeSpec {
            rate: 0.0,
            ..Default::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "rate");
        let bad = ReplProbeSpec {
            poll_us: 10,
            ..Default::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "poll_us");
    }
}
