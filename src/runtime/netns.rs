//! Network namespaces for the clients: where the workload's sockets live.
//!
//! On Docker the nodes sit on a network of the run's own; the controller
//! reaches them through published ports, that is through `docker-proxy`, a
//! userland TCP relay that no application has in its path and that, on a
//! 2-core machine, halves the request rate a client can reach (measured:
//! 26k against 51k PING/s over 8 connections) and burns more CPU than the
//! nodes. The workload's threads instead join the network namespace of a
//! small container of the run (`clients`) with `setns(2)`: their sockets
//! then connect to the nodes' own addresses, on the run's network, as an
//! application container would. Only those threads move; the rest of the
//! controller stays on the host.

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An open network namespace that threads can join.
#[derive(Debug)]
pub struct NetNs {
    file: File,
    path: PathBuf,
}

impl NetNs {
    /// The network namespace of process `pid`.
    pub fn of_pid(pid: i64) -> io::Result<NetNs> {
        Self::open(&PathBuf::from(format!("/proc/{pid}/ns/net")))
    }

    /// The namespace at `path` (a `/proc/<pid>/ns/net`), held open so it outlives its process's exit.
    pub fn open(path: &Path) -> io::Result<NetNs> {
        Ok(NetNs {
            file: File::open(path)?,
            path: path.to_path_buf(),
        })
    }

    /// Move the calling thread into this namespace: sockets it opens from
    /// now on live there. Needs CAP_SYS_ADMIN.
    pub fn enter(&self) -> io::Result<()> {
        // SAFETY: setns on a valid open namespace fd; it changes only the
        // calling thread's network namespace.
        let r = unsafe { libc::setns(self.file.as_raw_fd(), libc::CLONE_NEWNET) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Whether a thread may join it and, from there, open a TCP connection
    /// to `reach` within `timeout`: tried on a thread of its own, which then
    /// ends, so the caller stays where it is.
    pub fn probe(&self, reach: Option<SocketAddr>, timeout: Duration) -> io::Result<()> {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.enter()?;
                if let Some(addr) = reach {
                    TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
                        io::Error::new(e.kind(), format!("reaching {addr} from it: {e}"))
                    })?;
                }
                Ok(())
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the check thread panicked")))
        })
    }

    /// Where it was opened from, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joining_our_own_namespace_works_or_says_why() {
        // The namespace this process is already in: joining it changes
        // nothing, and needs the same privilege as joining another.
        let ns = NetNs::of_pid(std::process::id() as i64).unwrap();
        match ns.probe(None, Duration::from_secs(1)) {
            Ok(()) => {
                // And from there, a listener of this process is reachable.
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                ns.probe(Some(l.local_addr().unwrap()), Duration::from_secs(1))
                    .unwrap();
            }
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}"),
        }
        assert!(NetNs::open(Path::new("/proc/0/ns/net")).is_err());
    }
}
