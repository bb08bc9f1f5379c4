//! Readiness and ports: the waits every backend runs until a node answers
//! PING, and the host ports it publishes or listens on. Shared by the
//! backends so that "ready" means the same in each.

use std::net::SocketAddr;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::RuntimeError;

/// Wait for every node's readiness wait ([`wait_for_ping`]), then log how
/// long the `runtime`'s nodes took to come up.
pub(crate) async fn all_ready<F>(
    waits: Vec<F>,
    started: std::time::Instant,
    runtime: &str,
) -> Result<(), RuntimeError>
where
    F: std::future::Future<Output = Result<(), RuntimeError>>,
{
    let nodes = futures::future::try_join_all(waits).await?.len();
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        nodes,
        runtime,
        "nodes ready"
    );
    Ok(())
}

/// Wait until `node` answers PING at `addr`, polling every 20 ms for at most
/// `timeout`. Between failed pings, `alive` is asked whether the node still
/// runs; when it says no (with the reason: exit code, last log lines), the wait
/// fails at once instead of running out its time.
pub(crate) async fn wait_for_ping<F, Fut>(
    node: &str,
    addr: SocketAddr,
    timeout: Duration,
    cancel: &CancellationToken,
    mut alive: F,
) -> Result<(), RuntimeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let started = std::time::Instant::now();
    let interval = Duration::from_millis(20);
    let max_polls = (timeout.as_millis() / interval.as_millis()).max(1) as usize + 1;
    let mut last = String::from("no answer yet");
    for poll in 0..max_polls {
        if cancel.is_cancelled() {
            return Err(RuntimeError::Cancelled);
        }
        match ping_once(addr).await {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        // Every 100 ms: is there still something to wait for?
        if poll % 5 == 4
            && let Err(reason) = alive().await
        {
            return Err(RuntimeError::NotReady {
                node: node.to_string(),
                condition: format!("PING at {addr}: the node is not running: {reason}"),
                waited: started.elapsed(),
            });
        }
        if started.elapsed() >= timeout {
            break;
        }
        tokio::select! {
            _ = cancel.cancelled() => return Err(RuntimeError::Cancelled),
            _ = tokio::time::sleep(interval) => {}
        }
    }
    Err(RuntimeError::NotReady {
        node: node.to_string(),
        condition: format!("PING at {addr} ({last})"),
        waited: started.elapsed(),
    })
}

async fn ping_once(addr: SocketAddr) -> Result<(), String> {
    let pong: String = query_once(addr, &redis::cmd("PING")).await?;
    if pong == "PONG" {
        Ok(())
    } else {
        Err(format!("unexpected reply {pong}"))
    }
}

/// One command on a connection of its own to `addr` (the tool's dialer:
/// TLS and AUTH as in force), the whole bounded to about a second.
pub(crate) async fn query_once<T: redis::FromRedisValue>(
    addr: SocketAddr,
    cmd: &redis::Cmd,
) -> Result<T, String> {
    let bound = Duration::from_millis(500);
    let cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(bound))
        .set_response_timeout(Some(bound));
    let mut con = tokio::time::timeout(bound * 2, crate::net::dial::multiplexed(addr, &cfg, bound))
        .await
        .map_err(|_| format!("{addr} did not answer its connection setup"))?
        .map_err(|e| e.to_string())?;
    cmd.query_async(&mut con).await.map_err(|e| e.to_string())
}

/// Find a free TCP port on `ip` by binding port 0, never one this process
/// handed out before.
///
/// The port is free when chosen but nothing holds it until Docker publishes
/// it, and the kernel may offer a just-released port again at once: two
/// nodes of one topology, or of two drills started side by side in one
/// process (the tests), then get the same port and the second start fails
/// with "port is already allocated". Remembering what was handed out closes
/// that window inside the process.
pub(crate) fn free_port(ip: std::net::IpAddr) -> Result<u16, RuntimeError> {
    use std::sync::Mutex;
    static HANDED_OUT: Mutex<std::collections::BTreeSet<u16>> =
        Mutex::new(std::collections::BTreeSet::new());
    // Bounded: each try is a port the kernel thinks free; a run of 64 that
    // this process already handed out would mean a port range nearly spent.
    for _ in 0..64 {
        let l = std::net::TcpListener::bind((ip, 0))
            .map_err(RuntimeError::io(format!("finding a free port on {ip}")))?;
        let port = l
            .local_addr()
            .map_err(RuntimeError::io("reading a bound address"))?
            .port();
        let mut seen = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if seen.insert(port) {
            return Ok(port);
        }
    }
    Err(RuntimeError::Io {
        context: format!(
            "finding a free port on {ip}: 64 offers were all ports already handed out"
        ),
        source: std::io::Error::new(std::io::ErrorKind::AddrInUse, "no fresh port"),
    })
}

/// Whether `ip:port` can be bound now.
pub(crate) fn port_is_free(ip: std::net::IpAddr, port: u16) -> bool {
    std::net::TcpListener::bind((ip, port)).is_ok()
}

/// `Err(Cancelled)` once `cancel` fired: checked between the steps of a
/// bring-up, so Ctrl-C stops it at the next step.
pub(crate) fn check_cancel(cancel: &CancellationToken) -> Result<(), RuntimeError> {
    if cancel.is_cancelled() {
        Err(RuntimeError::Cancelled)
    } else {
        Ok(())
    }
}
