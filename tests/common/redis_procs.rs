//! Local redis-server processes for integration tests: free loopback ports,
//! one temp dir each, and a guard that SIGKILLs and reaps every process and
//! removes its dir when the test ends, panics included.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh redis-server may take to answer PING (it usually takes
/// a few milliseconds; a loaded 2-core CI box is given room).
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const READY_POLL: Duration = Duration::from_millis(20);

/// One redis-server process, killed and reaped on drop.
pub struct RedisProc {
    child: Child,
    pub addr: SocketAddr,
    pub bus_port: u16,
    /// Removed on drop, after the process is gone (fields drop after `Drop::drop`).
    pub dir: tempfile::TempDir,
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

/// `n` distinct free loopback ports. All listeners are held until every port
/// is chosen, so the same port is never returned twice.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Start `n` cluster-enabled redis-servers on 127.0.0.1, each with its own data
/// and bus port and temp dir, and wait until each answers PING.
pub fn start_cluster_nodes(n: usize) -> Vec<RedisProc> {
    let ports = free_ports(2 * n);
    let procs: Vec<RedisProc> = (0..n)
        .map(|i| spawn(ports[2 * i], ports[2 * i + 1]))
        .collect();
    for p in &procs {
        wait_for_ping(p.addr);
    }
    procs
}

fn spawn(port: u16, bus_port: u16) -> RedisProc {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let mut cmd = Command::new("redis-server");
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            &bus_port.to_string(),
        ])
        .args([
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "5000",
        ])
        .args([
            "--appendonly",
            "no",
            "--save",
            "",
            "--repl-diskless-sync-delay",
            "0",
        ])
        .args(["--daemonize", "no", "--protected-mode", "no"])
        .arg("--dir")
        .arg(dir.path())
        .arg("--logfile")
        .arg(dir.path().join("redis.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // If the test process dies without unwinding, take the server with it.
    // SAFETY: prctl is async-signal-safe and touches no state of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn redis-server");
    RedisProc {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        bus_port,
        dir,
    }
}

/// Bounded wait (in time and in attempts) until `addr` answers `+PONG`.
pub fn wait_for_ping(addr: SocketAddr) {
    let start = Instant::now();
    let attempts = READY_TIMEOUT.as_millis() / READY_POLL.as_millis();
    let mut last = String::new();
    for _ in 0..attempts {
        match ping(addr) {
            Ok(()) => return,
            Err(e) => last = e.to_string(),
        }
        if start.elapsed() >= READY_TIMEOUT {
            break;
        }
        std::thread::sleep(READY_POLL);
    }
    panic!("redis-server at {addr} did not answer PING within {READY_TIMEOUT:?}: {last}");
}

fn ping(addr: SocketAddr) -> std::io::Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    s.write_all(b"PING\r\n")?;
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf)?;
    if &buf == b"+PONG\r\n" {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "unexpected reply {:?}",
            String::from_utf8_lossy(&buf)
        )))
    }
}
