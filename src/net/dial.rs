//! Where a thread's connections leave from: the source address of a client
//! that lives in a region.
//!
//! On the process runtime every node listens on its own loopback address,
//! and the host's link rules match a pair of addresses (`-s <from> -d <to>`,
//! see `runtime::process::links`). A workload thread whose clients live in a region
//! sets that region's client address once ([`set_source`]); every connection
//! it then opens through [`connect`] or [`multiplexed`] — redis-rs's cluster
//! node connections included (`cluster::client`) — is bound to it, so the
//! rules send it through the link as they send the nodes' own traffic. On
//! Docker the thread joins its region's namespace instead and sets nothing.
//!
//! Per thread, because a workload loop is one thread with a single-threaded
//! runtime: every connection its clients open is opened on it.

use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, RedisResult};
use tokio::net::{TcpSocket, TcpStream};

thread_local! {
    static SOURCE: Cell<Option<IpAddr>> = const { Cell::new(None) };
    static CONNECT_TIMEOUT: Cell<Duration> = const { Cell::new(DEFAULT_CONNECT_TIMEOUT) };
}

/// How long a connection opened here may take when nobody said otherwise.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The bound on connecting that redis-rs's cluster node connections of this
/// thread get when they leave from the thread's source address (redis-rs
/// keeps its own setting to itself): the workload's `timeout_ms`, as
/// redis-rs would apply it.
pub fn set_connect_timeout(timeout: Duration) {
    CONNECT_TIMEOUT.with(|t| t.set(timeout));
}

/// The calling thread's connect bound (see [`set_connect_timeout`]).
pub fn connect_timeout() -> Duration {
    CONNECT_TIMEOUT.with(Cell::get)
}

/// Bind the calling thread's connections to `ip` from now on (`None`: let
/// the kernel choose, as usual).
pub fn set_source(ip: Option<IpAddr>) {
    SOURCE.with(|s| s.set(ip));
}

/// The calling thread's source address, if it has one.
pub fn source() -> Option<IpAddr> {
    SOURCE.with(Cell::get)
}

/// A TCP connection to `addr` from the thread's source address (if any),
/// with Nagle off, within `timeout`.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    let stream = match source() {
        None => tokio::time::timeout(timeout, TcpStream::connect(addr)).await,
        Some(ip) => {
            let socket = match addr {
                SocketAddr::V4(_) => TcpSocket::new_v4()?,
                SocketAddr::V6(_) => TcpSocket::new_v6()?,
            };
            socket.bind(SocketAddr::new(ip, 0))?;
            tokio::time::timeout(timeout, socket.connect(addr)).await
        }
    }
    .map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("connecting to {addr} timed out after {timeout:?}"),
        )
    })??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A multiplexed Redis connection to `addr` (an address, never a name to
/// resolve), as redis-rs would open it with `config`, but from the thread's
/// source address when it has one, and
/// always with Nagle off: redis-rs leaves it on by default, and then a
/// second command written while the first is unacknowledged waits for the
/// peer's delayed ACK — up to 40 ms more on a link's round trip, which the
/// stampede readers' shared connection showed on Docker until this.
pub async fn multiplexed(
    addr: SocketAddr,
    config: &AsyncConnectionConfig,
    connect_timeout: Duration,
) -> RedisResult<MultiplexedConnection> {
    let info = redis::RedisConnectionInfo::default();
    multiplexed_on(addr, &info, config.clone(), connect_timeout).await
}

/// [`multiplexed`] with the connection settings redis-rs hands a cluster's
/// node connection. TLS and AUTH as the process's connection security says
/// ([`super::secure::current`]).
pub(crate) async fn multiplexed_on(
    addr: SocketAddr,
    info: &redis::RedisConnectionInfo,
    config: AsyncConnectionConfig,
    connect_timeout: Duration,
) -> RedisResult<MultiplexedConnection> {
    let io = |e: std::io::Error| RedisError::from((ErrorKind::Io, "connect", e.to_string()));
    let sec = super::secure::current();
    let tcp = connect(addr, connect_timeout).await.map_err(io)?;
    // The TLS handshake is bounded as the TCP connect is; AUTH goes with
    // redis-rs's own setup commands, bounded by `config`.
    let stream = tokio::time::timeout(connect_timeout, super::secure::wrap_async(&sec, addr, tcp))
        .await
        .map_err(|_| {
            io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("TLS handshake with {addr} timed out after {connect_timeout:?}"),
            ))
        })?
        .map_err(io)?;
    let (conn, driver) =
        MultiplexedConnection::new_with_config(&sec.apply(info), stream, config).await?;
    tokio::spawn(driver);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_thread_with_a_source_connects_from_it() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = listener.local_addr().unwrap();
        // Another loopback address: all of 127.0.0.0/8 is local on Linux.
        let from: IpAddr = "127.0.0.77".parse().unwrap();
        set_source(Some(from));
        let (_c, accepted) = tokio::join!(connect(to, Duration::from_secs(2)), listener.accept());
        assert_eq!(accepted.unwrap().1.ip(), from);
        set_source(None);
        let (_c, accepted) = tokio::join!(connect(to, Duration::from_secs(2)), listener.accept());
        assert_eq!(accepted.unwrap().1.ip(), to.ip());
        // Another thread never sees this one's source.
        set_source(Some(from));
        assert_eq!(std::thread::spawn(source).join().unwrap(), None);
        set_source(None);
    }
}
