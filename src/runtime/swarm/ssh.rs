//! SSH engine endpoints: the engine's API socket on its host forwarded to a
//! socket of this machine by an `ssh -N -L LOCAL:REMOTE` that the tool
//! starts, owns and stops (OpenSSH's stream-local forwarding); bollard then
//! speaks to the local socket as to any engine's. The host needs only sshd
//! (no docker CLI); nothing is left on it.
//!
//! The `ssh` process dies with the thread that started it (`PR_SET_PDEATHSIG`),
//! so even a killed tool leaves no tunnel; its socket lives in a temporary
//! folder removed with the [`Tunnel`].

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the tunnel may take to forward (the SSH handshake included).
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// The engine socket forwarded when the endpoint names none.
pub const DEFAULT_REMOTE: &str = "/var/run/docker.sock";

/// Where an `ssh://` endpoint leads: `[user@]host[:port][/socket]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// `user@host` or `host`, as ssh takes it.
    pub destination: String,
    /// The SSH port, when not ssh's default.
    pub port: Option<u16>,
    /// The engine's socket on the host.
    pub remote: PathBuf,
}

/// Parse the part of an endpoint after `ssh://`.
pub fn parse(rest: &str) -> Result<SshTarget, String> {
    let (authority, remote) = match rest.find('/') {
        Some(i) => (&rest[..i], PathBuf::from(&rest[i..])),
        None => (rest, PathBuf::from(DEFAULT_REMOTE)),
    };
    let (destination, port) = match authority.rsplit_once(':') {
        Some((d, p)) => (
            d,
            Some(
                p.parse::<u16>()
                    .map_err(|_| format!("`{p}` is not an SSH port"))?,
            ),
        ),
        None => (authority, None),
    };
    let host = destination.rsplit('@').next().unwrap_or_default();
    if host.is_empty() {
        return Err("no host (ssh://user@host[:port][/path/docker.sock])".into());
    }
    Ok(SshTarget {
        destination: destination.to_string(),
        port,
        remote,
    })
}

/// A forwarding `ssh` and the local socket it serves; stopped when dropped.
#[derive(Debug)]
pub struct Tunnel {
    child: std::sync::Mutex<Child>,
    /// The local socket forwarded to the engine's.
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Start `ssh` forwarding `target`'s engine socket to a local one, with
/// `key` (only that identity) and `known_hosts` (checked strictly) when
/// given, and wait until the local socket answers; why not, from ssh's own
/// log, when it does not. Call it on a thread that lives as long as the
/// tunnel should (a runtime's worker, not a blocking pool's): `ssh` dies
/// with that thread.
pub async fn open(
    target: &SshTarget,
    key: Option<&Path>,
    known_hosts: Option<&Path>,
) -> Result<Tunnel, String> {
    let dir = tempfile::Builder::new()
        .prefix("redis-drill-ssh-")
        .tempdir()
        .map_err(|e| format!("a folder for the tunnel's socket: {e}"))?;
    let socket = dir.path().join("engine.sock");
    let log = dir.path().join("ssh.log");
    let mut cmd = Command::new("ssh");
    cmd.args(["-N", "-T", "-E"]).arg(&log).args([
        "-o",
        "BatchMode=yes",
        "-o",
        "ExitOnForwardFailure=yes",
        "-o",
        "ConnectTimeout=5",
        "-o",
        "ServerAliveInterval=5",
        "-o",
        "ServerAliveCountMax=3",
        "-o",
        "ControlMaster=no",
        "-o",
        "ControlPath=none",
    ]);
    if let Some(p) = target.port {
        cmd.arg("-p").arg(p.to_string());
    }
    if let Some(k) = key {
        cmd.arg("-o").arg("IdentitiesOnly=yes").arg("-i").arg(k);
    }
    if let Some(kh) = known_hosts {
        cmd.arg("-o")
            .arg(format!("UserKnownHostsFile={}", kh.display()))
            .arg("-o")
            .arg("StrictHostKeyChecking=yes");
    }
    cmd.arg("-L")
        .arg(format!("{}:{}", socket.display(), target.remote.display()))
        .arg(&target.destination)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: prctl(2) is async-signal-safe and touches only this process.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("starting ssh (is it installed?): {e}"))?;
    let started = Instant::now();
    let why = loop {
        if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            return Ok(Tunnel {
                child: std::sync::Mutex::new(child),
                socket,
                _dir: dir,
            });
        }
        match child.try_wait() {
            Ok(Some(status)) => break format!("ssh exited ({status})"),
            Ok(None) => {}
            Err(e) => break format!("waiting for ssh: {e}"),
        }
        if started.elapsed() > OPEN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break format!("no forwarded socket within {} s", OPEN_TIMEOUT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut said = String::new();
    if let Ok(mut f) = std::fs::File::open(&log) {
        let _ = f.read_to_string(&mut said);
    }
    let said = said
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    Err(if said.is_empty() {
        why
    } else {
        format!("{why}: {said}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ssh_endpoint_names_its_destination_port_and_socket() {
        assert_eq!(
            parse("root@10.0.0.1"),
            Ok(SshTarget {
                destination: "root@10.0.0.1".into(),
                port: None,
                remote: DEFAULT_REMOTE.into()
            })
        );
        assert_eq!(
            parse("me@host:2222/run/user/1000/docker.sock"),
            Ok(SshTarget {
                destination: "me@host".into(),
                port: Some(2222),
                remote: "/run/user/1000/docker.sock".into()
            })
        );
        assert!(parse("me@host:x").unwrap_err().contains("not an SSH port"));
        assert!(parse("me@").unwrap_err().contains("no host"));
        assert!(parse("").unwrap_err().contains("no host"));
    }
}
