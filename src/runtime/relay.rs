//! The delaying relay: how a link between regions gets its latency on a
//! kernel without `netem`.
//!
//! iptables `REDIRECT`s every TCP connection between two nodes that a link
//! joins to the relay's one port (each backend's `links` writes the rules). The
//! relay reads where the connection was going (`SO_ORIGINAL_DST`), opens its
//! own connection there — from the client's own address, so the node sees its
//! real peer, and marked with [`MARK`], which the rules exempt so the relay's
//! traffic is not redirected again — and copies both directions, each chunk
//! held back until `delay ± jitter` after it arrived (and, with a rate, after
//! the link could have carried it). A chunk is never sent before the one
//! read before it: jitter never reorders a connection's bytes, as TCP never
//! would.
//!
//! It runs as its own process (`redis-drill relay CONFIG`, started by the
//! process runtime in the run's directory), so it lives as long as the
//! nodes do, after `up` has returned, and the run's cleanup finds and kills
//! it like a node.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng as _;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::net::links::link_between;
use crate::topology::Link;

/// The fwmark on the relay's own connections; the REDIRECT rules skip
/// packets that carry it. Any value no other tool here uses.
pub const MARK: u32 = 0x5244_0077;
/// The relay's configuration file, in its directory of the run.
pub const CONFIG_FILE: &str = "relay.json";
/// Where the relay writes the port it listens on, once it listens.
pub const PORT_FILE: &str = "port";
/// Bytes read at once; also the largest chunk one delay applies to.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight per direction before the reader waits: bounds the
/// relay's memory (about 16 MB per direction) without limiting a link's
/// bandwidth-delay product in any drill here.
const IN_FLIGHT: usize = 256;

/// The port beside the relay's (process runtime: in [`CONTROL_PORT_FILE`])
/// on which it takes a new set of links: one line of JSON (the links, as
/// declared), answered `ok`. The `slow` fault changes a link so.
pub const CONTROL_PORT_FILE: &str = "control_port";

/// What the relay needs to know: every node's address and region, and the
/// links between regions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RelayConfig {
    /// Every address the relay may see, with its region: which link a connection crosses.
    pub nodes: Vec<(IpAddr, String)>,
    /// The links, as declared (or as a `slow` fault changed them).
    pub links: Vec<Link>,
}

/// When each chunk of one direction of one connection may leave: pure, so
/// its promises (the delay's bounds, the order, the rate) are unit-tested.
#[derive(Debug, Clone)]
pub struct Pacer {
    delay: Duration,
    jitter: Duration,
    /// Bytes per second, `None` for unlimited.
    rate: Option<f64>,
    /// When the link finishes carrying what was read so far (rate only).
    busy_until: Option<Instant>,
    /// When the last chunk leaves: no chunk may leave before it.
    last: Option<Instant>,
}

impl Pacer {
    /// The schedule of `link`, or of no delay at all where no link joins the pair.
    pub fn new(link: Option<&Link>) -> Pacer {
        let ms = |v: f64| Duration::from_secs_f64(v.max(0.0) / 1000.0);
        Pacer {
            delay: link.map_or(Duration::ZERO, |l| ms(l.delay_ms)),
            jitter: link.map_or(Duration::ZERO, |l| ms(l.jitter_ms)),
            rate: link
                .and_then(|l| l.rate_mbit)
                .map(|m| m * 1_000_000.0 / 8.0),
            busy_until: None,
            last: None,
        }
    }

    /// Take the link's figures as they are now; what is in flight keeps
    /// its times, and no chunk overtakes an earlier one.
    pub fn set(&mut self, link: &Link) {
        let fresh = Pacer::new(Some(link));
        self.delay = fresh.delay;
        self.jitter = fresh.jitter;
        self.rate = fresh.rate;
    }

    /// When `len` bytes read at `now` may be written: after the link has
    /// carried them at its rate, plus a delay drawn uniformly from
    /// `delay ± jitter`, and never before the previous chunk.
    pub fn next(&mut self, now: Instant, len: usize, rng: &mut impl rand::Rng) -> Instant {
        let carried = match self.rate {
            Some(rate) => {
                let start = self.busy_until.map_or(now, |b| b.max(now));
                let end = start + Duration::from_secs_f64(len as f64 / rate);
                self.busy_until = Some(end);
                end
            }
            None => now,
        };
        let delay = if self.jitter.is_zero() {
            self.delay
        } else {
            let j = self.jitter.as_secs_f64();
            let d = self.delay.as_secs_f64() + rng.random_range(-j..=j);
            Duration::from_secs_f64(d.max(0.0))
        };
        let at = (carried + delay).max(self.last.unwrap_or(carried));
        self.last = Some(at);
        at
    }
}

/// The relay process: listen on 127.0.0.1 (where REDIRECT sends locally
/// made connections), write the port to [`PORT_FILE`] beside `config`, and
/// relay until `cancel`.
pub async fn run(config: &Path, cancel: CancellationToken) -> std::io::Result<()> {
    let text = std::fs::read(config)?;
    let cfg = parse_config(&text)?;
    let control = TcpListener::bind("127.0.0.1:0").await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let dir = config.parent().map_or_else(PathBuf::new, Path::to_path_buf);
    for (file, p) in [
        (CONTROL_PORT_FILE, control.local_addr()?.port()),
        // Last: the port file says the relay is ready.
        (PORT_FILE, port),
    ] {
        let tmp = dir.join(format!("{file}.tmp"));
        std::fs::write(&tmp, p.to_string())?;
        std::fs::rename(&tmp, dir.join(file))?;
    }
    tracing::info!(port, links = cfg.links.len(), "relay listening");
    let shared = Shared::new(cfg);
    tokio::spawn(take_links(control, shared.clone(), cancel.clone()));
    serve(listener, shared, cancel).await
}

/// The relay's configuration as its connections read it: the links can
/// change while they run (the `slow` fault), and the addresses too (a node
/// of the swarm runtime started again is a new task at a new address).
#[derive(Clone)]
pub struct Shared {
    nodes: Arc<std::sync::RwLock<Vec<(IpAddr, String)>>>,
    links: Arc<std::sync::RwLock<Vec<Link>>>,
}

impl Shared {
    /// The relay's state from its configuration, shared by every connection.
    pub fn new(cfg: RelayConfig) -> Shared {
        Shared {
            nodes: Arc::new(std::sync::RwLock::new(cfg.nodes)),
            links: Arc::new(std::sync::RwLock::new(cfg.links)),
        }
    }

    /// The index of the link between `from` and `to` now.
    fn link_index(&self, from: IpAddr, to: IpAddr) -> Option<usize> {
        let links = self.links.read().unwrap_or_else(|e| e.into_inner());
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner());
        let l = link_between(&nodes, &links, from, to)?;
        links.iter().position(|x| x == l)
    }

    /// Whether `ip` is an address of the run.
    fn knows(&self, ip: IpAddr) -> bool {
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner());
        nodes.iter().any(|(n, _)| *n == ip)
    }

    /// Take `line`, new links (a JSON list: the same links in the same
    /// order, only their figures changed) or a whole configuration (a JSON
    /// object: new addresses, and those links): what to answer.
    pub fn take(&self, line: &str) -> String {
        let (nodes, new) = if line.trim_start().starts_with('{') {
            match serde_json::from_str::<RelayConfig>(line) {
                Ok(c) => (Some(c.nodes), c.links),
                Err(e) => return format!("error: {e}\n"),
            }
        } else {
            match serde_json::from_str::<Vec<Link>>(line) {
                Ok(l) => (None, l),
                Err(e) => return format!("error: {e}\n"),
            }
        };
        let mut links = self.links.write().unwrap_or_else(|e| e.into_inner());
        let same = new.len() == links.len()
            && new
                .iter()
                .zip(links.iter())
                .all(|(a, b)| a.between == b.between);
        if !same {
            return "error: not the same links\n".to_string();
        }
        // A whole configuration keeps the links as they are now: a `slow`
        // fault may have changed their figures since it was written.
        if let Some(nodes) = nodes {
            tracing::info!(addresses = nodes.len(), "addresses changed");
            *self.nodes.write().unwrap_or_else(|e| e.into_inner()) = nodes;
        } else {
            tracing::info!(links = ?new.iter().map(|l| (l.label(), l.delay_ms)).collect::<Vec<_>>(), "links changed");
            *links = new;
        }
        "ok\n".to_string()
    }

    fn link(&self, i: usize) -> Option<Link> {
        let links = self.links.read().unwrap_or_else(|e| e.into_inner());
        links.get(i).cloned()
    }
}

/// Send `line` (new links, JSON) to a relay's control port and read its
/// answer: `ok`, or why not.
pub fn tell_relay(control: std::net::SocketAddr, line: &str) -> std::io::Result<()> {
    use std::io::{BufRead as _, Write as _};
    let timeout = Duration::from_secs(2);
    let mut s = std::net::TcpStream::connect_timeout(&control, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(line.as_bytes())?;
    s.write_all(b"\n")?;
    let mut answer = String::new();
    std::io::BufReader::new(s).read_line(&mut answer)?;
    match answer.trim() {
        "ok" => Ok(()),
        other => Err(std::io::Error::other(format!(
            "the relay answered {other:?}"
        ))),
    }
}

/// The redis-drill binary that runs the relay: this one when it is
/// redis-drill (the run's cleanup finds processes by an executable named
/// `redis-*`), else the one beside it (a test binary under `target/`).
pub fn relay_program() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("finding this executable: {e}"))?;
    if me.file_name().is_some_and(|n| n == "redis-drill") {
        return Ok(me);
    }
    let beside = me
        .parent()
        .and_then(Path::parent)
        .map(|p| p.join("redis-drill"))
        .filter(|p| p.is_file());
    beside.ok_or_else(|| {
        format!(
            "links need the redis-drill binary to run their relay, and {} is not it",
            me.display()
        )
    })
}

/// Take new links on `control` until `cancel`: one line of JSON each
/// connection ([`Shared::take`]), answered `ok` or the error.
async fn take_links(control: TcpListener, shared: Shared, cancel: CancellationToken) {
    use tokio::io::AsyncBufReadExt as _;
    loop {
        let (stream, _) = tokio::select! {
            _ = cancel.cancelled() => return,
            a = control.accept() => match a {
                Ok(a) => a,
                Err(_) => continue,
            },
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut line = String::new();
            let mut r = tokio::io::BufReader::new(r);
            if r.read_line(&mut line).await.is_err() {
                return;
            }
            let answer = shared.take(&line);
            let _ = w.write_all(answer.as_bytes()).await;
        });
    }
}

/// The relay inside a container's network namespace (the docker runtime):
/// the configuration comes inline, the port is fixed (each namespace has
/// its own), and the runtime knows it listens when a connection to it from
/// that namespace succeeds.
pub async fn run_inline(
    config: &str,
    port: u16,
    control_port: u16,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let cfg = parse_config(config.as_bytes())?;
    let control = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, control_port)).await?;
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).await?;
    tracing::info!(port, links = cfg.links.len(), "relay listening");
    let shared = Shared::new(cfg);
    tokio::spawn(take_links(control, shared.clone(), cancel.clone()));
    serve(listener, shared, cancel).await
}

fn parse_config(text: &[u8]) -> std::io::Result<RelayConfig> {
    serde_json::from_slice(text)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Accept and relay connections until `cancel`.
pub async fn serve(
    listener: TcpListener,
    cfg: Shared,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    loop {
        let (inbound, peer) = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait a little, go on.
                    tracing::warn!("relay accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let cfg = cfg.clone();
        tokio::spawn(async move {
            if let Err(e) = relay(inbound, peer, &cfg).await {
                tracing::debug!(%peer, "relayed connection ended: {e}");
            }
        });
    }
}

/// Relay one redirected connection to where it was going.
async fn relay(inbound: TcpStream, peer: SocketAddr, cfg: &Shared) -> std::io::Result<()> {
    let dst = original_dst(&inbound)?;
    // Only to a node of the run: a connection made to the relay itself (a
    // readiness probe) has itself as its original destination, and
    // relaying it would connect to the relay again, without end.
    if !cfg.knows(dst.ip()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{dst} is no node of the run: not relayed"),
        ));
    }
    let link = cfg.link_index(peer.ip(), dst.ip());
    let outbound = connect_marked(peer.ip(), dst).await?;
    inbound.set_nodelay(true)?;
    outbound.set_nodelay(true)?;
    let (ri, wi) = inbound.into_split();
    let (ro, wo) = outbound.into_split();
    tokio::try_join!(
        pump(ri, wo, link.map(|i| (cfg.clone(), i))),
        pump(ro, wi, link.map(|i| (cfg.clone(), i)))
    )?;
    Ok(())
}

/// Copy `r` to `w`, each chunk held back as the link's schedule says (the
/// link as it is when the chunk is read: a `slow` fault changes it under
/// way); `w` is shut down after the last byte, so a half-close crosses the
/// link as late as the data before it. No link: a plain copy.
async fn pump(
    mut r: impl AsyncRead + Unpin,
    mut w: impl AsyncWrite + Unpin + Send + 'static,
    link: Option<(Shared, usize)>,
) -> std::io::Result<()> {
    let current = |l: &Option<(Shared, usize)>| l.as_ref().and_then(|(s, i)| s.link(*i));
    let mut schedule = Pacer::new(current(&link).as_ref());
    if link.is_none() {
        tokio::io::copy(&mut r, &mut w).await?;
        return w.shutdown().await;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let writer = tokio::spawn(async move {
        while let Some((at, bytes)) = rx.recv().await {
            // Due already (a link with no delay): no timer, whose 1 ms
            // granularity would add a millisecond each way.
            if at > Instant::now() {
                tokio::time::sleep_until(at).await;
            }
            w.write_all(&bytes).await?;
        }
        w.shutdown().await
    });
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut buf = vec![0u8; CHUNK];
    let read = async {
        loop {
            let n = r.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            if let Some(l) = current(&link) {
                schedule.set(&l);
            }
            let at = schedule.next(Instant::now(), n, &mut rng);
            if tx.send((at, buf[..n].to_vec())).await.is_err() {
                // The writer failed; its error is the one to report.
                return Ok(());
            }
        }
    }
    .await;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| std::io::Error::other(format!("relay writer: {e}")))?;
    read.and(written)
}

/// Connect to `dst` from `from` (the redirected client's own address, so
/// the relay is transparent to the node), marked with [`MARK`].
async fn connect_marked(from: IpAddr, dst: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match dst {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    set_mark(socket.as_raw_fd(), MARK)?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(dst).await
}

fn set_mark(fd: i32, mark: u32) -> std::io::Result<()> {
    // SAFETY: a valid socket descriptor and a u32 of the right size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_MARK,
            (&mark as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Where a REDIRECTed connection was going, from conntrack.
fn original_dst(s: &TcpStream) -> std::io::Result<SocketAddr> {
    // SAFETY: sockaddr_in is plain data; getsockopt fills at most `len` bytes.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_IP,
            libc::SO_ORIGINAL_DST,
            (&mut addr as *mut libc::sockaddr_in).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(SocketAddr::V4(SocketAddrV4::new(
        u32::from_be(addr.sin_addr.s_addr).into(),
        u16::from_be(addr.sin_port),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(delay_ms: f64, jitter_ms: f64, rate_mbit: Option<f64>) -> Link {
        Link {
            between: ["a".into(), "b".into()],
            delay_ms,
            jitter_ms,
            loss_pct: 0.0,
            rate_mbit,
        }
    }

    #[test]
    fn the_control_port_takes_new_figures_or_new_addresses_never_other_links() {
        let ip = |h: u8| IpAddr::from([10, 215, 0, h]);
        let shared = Shared::new(RelayConfig {
            nodes: vec![(ip(130), "a".into()), (ip(131), "b".into())],
            links: vec![link(40.0, 0.0, None)],
        });
        assert_eq!(shared.link_index(ip(130), ip(131)), Some(0));
        assert!(!shared.knows(ip(140)));
        // New figures.
        let slow = serde_json::to_string(&[link(90.0, 0.0, None)]).unwrap();
        assert_eq!(shared.take(&slow), "ok\n");
        assert_eq!(shared.link(0).unwrap().delay_ms, 90.0);
        // New addresses (b's node started again at .140): the links keep
        // the figures they have now.
        let moved = serde_json::to_string(&RelayConfig {
            nodes: vec![(ip(130), "a".into()), (ip(140), "b".into())],
            links: vec![link(40.0, 0.0, None)],
        })
        .unwrap();
        assert_eq!(shared.take(&moved), "ok\n");
        assert!(shared.knows(ip(140)) && !shared.knows(ip(131)));
        assert_eq!(shared.link_index(ip(130), ip(140)), Some(0));
        assert_eq!(shared.link(0).unwrap().delay_ms, 90.0);
        // Other links, or nonsense: refused, nothing changed.
        let mut other = link(1.0, 0.0, None);
        other.between = ["a".into(), "c".into()];
        let other = serde_json::to_string(&[other]).unwrap();
        assert_eq!(shared.take(&other), "error: not the same links\n");
        assert!(shared.take("{nonsense").starts_with("error: "));
        assert_eq!(shared.link(0).unwrap().delay_ms, 90.0);
    }

    #[test]
    fn chunks_leave_after_the_delay_within_the_jitter_and_in_order() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut s = Pacer::new(Some(&link(40.0, 10.0, None)));
        let t0 = Instant::now();
        let mut last = t0;
        let mut spread = (Duration::MAX, Duration::ZERO);
        for i in 0..1000u64 {
            let now = t0 + Duration::from_micros(i * 100);
            let at = s.next(now, 100, &mut rng);
            let held = at - now;
            assert!(at >= last, "chunk {i} would overtake the one before it");
            // Never below delay - jitter; above delay + jitter only to keep order.
            assert!(held >= Duration::from_millis(30), "{held:?}");
            assert!(
                held <= Duration::from_millis(50) || at == last,
                "chunk {i} held {held:?}"
            );
            spread = (spread.0.min(held), spread.1.max(held));
            last = at;
        }
        // The jitter is really drawn: the delays spread over most of ±10 ms.
        assert!(spread.0 < Duration::from_millis(33), "{spread:?}");
        assert!(spread.1 > Duration::from_millis(47), "{spread:?}");
    }

    #[test]
    fn a_rate_spaces_chunks_by_their_size() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        // 8 Mbit/s = 1 MB/s: 10 kB take 10 ms.
        let mut s = Pacer::new(Some(&link(5.0, 0.0, Some(8.0))));
        let t0 = Instant::now();
        let a = s.next(t0, 10_000, &mut rng);
        let b = s.next(t0, 10_000, &mut rng);
        assert_eq!(a - t0, Duration::from_millis(15));
        assert_eq!(b - t0, Duration::from_millis(25));
        // An idle link starts fresh.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(
            s.next(later, 1000, &mut rng) - later,
            Duration::from_millis(6)
        );
    }

    #[test]
    fn no_link_passes_through_and_a_changed_link_applies_to_what_follows() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let t0 = Instant::now();
        assert_eq!(Pacer::new(None).next(t0, 10, &mut rng), t0);
        // A slow fault raises the delay under way: later chunks wait longer,
        // and lowering it again never lets a chunk overtake an earlier one.
        let mut s = Pacer::new(Some(&link(40.0, 0.0, None)));
        assert_eq!(s.next(t0, 10, &mut rng) - t0, Duration::from_millis(40));
        s.set(&link(200.0, 0.0, None));
        let t1 = t0 + Duration::from_millis(1);
        assert_eq!(s.next(t1, 10, &mut rng) - t1, Duration::from_millis(200));
        s.set(&link(40.0, 0.0, None));
        let t2 = t0 + Duration::from_millis(2);
        assert_eq!(s.next(t2, 10, &mut rng), t1 + Duration::from_millis(200));
    }
}
