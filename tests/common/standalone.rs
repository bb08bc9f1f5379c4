//! Standalone (non-cluster) redis-server processes for tests: no
//! persistence (`save ""`, `appendonly no`), so a kill and a restart on the
//! same port comes back empty, as Kleppmann's Redlock critique supposes;
//! freezable with SIGSTOP. Killed and reaped on drop, panics included.
//! Needs `redis_procs` beside it (`free_ports`, `wait_for_ping`).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::bounded::Bounded;
use super::redis_procs::{free_ports, wait_for_ping};

/// One standalone redis-server, restartable on its port.
pub struct Standalone {
    pub name: String,
    pub addr: SocketAddr,
    /// A replica's primary.
    pub replica_of: Option<SocketAddr>,
    /// Its data and log; removed on drop, after the process is gone.
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Standalone {
    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--bind",
            "127.0.0.1",
            "--port",
            &self.addr.port().to_string(),
        ])
        .args(["--save", "", "--appendonly", "no"])
        .args(["--daemonize", "no", "--protected-mode", "no"])
        .arg("--dir")
        .arg(self.dir.path())
        .arg("--logfile")
        .arg(self.dir.path().join("redis.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if let Some(p) = self.replica_of {
            cmd.args(["--replicaof", &p.ip().to_string(), &p.port().to_string()])
                .args(["--repl-diskless-sync-delay", "0"]);
        }
        // If the test process dies without unwinding, take the server with it.
        // SAFETY: prctl is async-signal-safe and touches no state of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        self.child = Some(cmd.spawn().expect("spawn redis-server"));
        wait_for_ping(self.addr);
    }

    fn signal(&self, sig: libc::c_int) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as libc::pid_t, sig) };
        }
    }

    /// SIGKILL, and reap it: its data (none kept) is gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again on the same port, empty; returns once it answers PING.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is running", self.name);
        self.spawn();
    }

    /// Freeze it (SIGSTOP): its sockets stay open, nothing answers.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        self.resume();
        self.kill();
    }
}

/// `n` standalone servers named n1..nN on free loopback ports, each
/// answering PING.
pub fn start_standalone(n: usize) -> Vec<Standalone> {
    free_ports(n)
        .into_iter()
        .enumerate()
        .map(|(i, port)| server(format!("n{}", i + 1), port, None))
        .collect()
}

fn server(name: String, port: u16, replica_of: Option<SocketAddr>) -> Standalone {
    let mut s = Standalone {
        name,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        replica_of,
        dir: tempfile::tempdir().expect("create a temp dir"),
        child: None,
    };
    s.spawn();
    s
}

/// How long a fresh replica may take to finish its first sync (an empty
/// dataset over loopback takes milliseconds; a loaded box is given room).
const SYNC_TIMEOUT: Duration = Duration::from_secs(20);
const SYNC_POLL: Duration = Duration::from_millis(20);

/// A primary n1 and `replicas` replicas of it (n2…), each replica's link
/// up (`master_link_status:up`) before this returns.
pub fn start_replicated(replicas: usize) -> Vec<Standalone> {
    let ports = free_ports(replicas + 1);
    let mut all = vec![server("n1".into(), ports[0], None)];
    for (i, &port) in ports[1..].iter().enumerate() {
        let primary = all[0].addr;
        all.push(server(format!("n{}", i + 2), port, Some(primary)));
    }
    for r in &all[1..] {
        wait_for_link(r);
    }
    all
}

/// Bounded (in time and attempts) wait until `r` reports its link up.
fn wait_for_link(r: &Standalone) {
    let start = Instant::now();
    let attempts = SYNC_TIMEOUT.as_millis() / SYNC_POLL.as_millis();
    for _ in 0..attempts {
        let info = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &r.addr.port().to_string()])
            .args(["INFO", "replication"])
            .bounded_output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        if info.contains("master_link_status:up") {
            return;
        }
        if start.elapsed() >= SYNC_TIMEOUT {
            break;
        }
        std::thread::sleep(SYNC_POLL);
    }
    panic!(
        "{}'s link to its primary did not come up within {SYNC_TIMEOUT:?}",
        r.name
    );
}
