//! The engines a swarm run acts through: the engines file (`engines.yaml`)
//! that names each swarm node's engine endpoint and the address its
//! published ports answer on, and the connections made from it.
//!
//! ```yaml
//! manager: lab-1               # the swarm node whose engine creates services
//! engines:
//!   lab-1:                     # a swarm node's hostname
//!     endpoint: unix:///run/redis-drill/lab/lab-1/docker.sock
//!     address: 10.213.0.11     # where the controller reaches its published ports
//!   far-1:
//!     endpoint: tcp://192.0.2.7:2376
//!     tls: {ca: certs/ca.pem, cert: certs/cert.pem, key: certs/key.pem}
//!     address: 192.0.2.7
//! ```
//!
//! The file is found at `--engines`-less paths: [`ENGINES_ENV`], else the
//! one `redis-drill lab up` writes ([`lab_file`]). Every engine must answer
//! and be a node of the manager's swarm before anything is created; an
//! engine that does not is named in the error.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use serde::{Deserialize, Serialize};

use crate::runtime::error::RuntimeError;

/// The environment variable naming the engines file.
pub const ENGINES_ENV: &str = "REDIS_DRILL_ENGINES";
/// How long an engine may take to answer a ping.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// The engines file, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnginesFile {
    /// The swarm node whose engine is a manager: services, networks and
    /// the swarm's view of its nodes go through it.
    pub manager: String,
    /// Every swarm node the tool may place nodes and clients on, by its
    /// hostname in the swarm.
    pub engines: BTreeMap<String, EngineSpec>,
}

/// One engine of the engines file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    /// The engine API: `unix:///path/docker.sock` or `tcp://host:port`
    /// (`https://host:port` too, with `tls`).
    pub endpoint: String,
    /// The host's address, where the ports it publishes answer the
    /// controller.
    pub address: IpAddr,
    /// TLS for a `tcp://` (or `https://`) endpoint, as `dockerd
    /// --tlsverify` wants it: the CA that signed the engine's certificate,
    /// and the client certificate and key the tool presents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// For an `ssh://` endpoint: the identity to use and the known-hosts
    /// file to check the host against (both optional: ssh's own defaults
    /// then, `~/.ssh/config` included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshFiles>,
}

/// The files of an SSH engine endpoint; relative paths are read from the
/// engines file's folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshFiles {
    /// The private key (`ssh -i`, and no other identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// The known-hosts file, checked strictly (`UserKnownHostsFile`,
    /// `StrictHostKeyChecking=yes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<PathBuf>,
}

/// The PEM files of a TLS engine endpoint; relative paths are read from
/// the engines file's folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The CA certificate the engine's certificate must chain to.
    pub ca: PathBuf,
    /// The client certificate the tool presents.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// The file `redis-drill lab up` writes its engines to.
pub fn lab_file() -> PathBuf {
    crate::runtime::state::base("-lab").join("engines.yaml")
}

/// The engines file in force: [`ENGINES_ENV`], else the lab's.
pub fn path() -> PathBuf {
    match std::env::var_os(ENGINES_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => lab_file(),
    }
}

impl EnginesFile {
    /// Read and check `path`: a bad file is bad input naming it.
    pub fn load(path: &Path) -> Result<EnginesFile, RuntimeError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            RuntimeError::BadInput(format!(
                "the swarm runtime's engines file {}: {e} (write one, see docs/swarm.md, set {ENGINES_ENV}, \
                 or make a lab of engines here with `redis-drill lab up`)",
                path.display()
            ))
        })?;
        let mut file: EnginesFile = serde_saphyr::from_str(&text)
            .map_err(|e| RuntimeError::BadInput(format!("{}: {e}", path.display())))?;
        file.check()
            .map_err(|e| RuntimeError::BadInput(format!("{}: {e}", path.display())))?;
        // TLS files: relative to the file's folder, and readable now.
        let dir = path.parent().unwrap_or(Path::new("."));
        for (name, e) in &mut file.engines {
            let mut files: Vec<(&str, &mut PathBuf)> = Vec::new();
            if let Some(tls) = &mut e.tls {
                files.extend([
                    ("tls.ca", &mut tls.ca),
                    ("tls.cert", &mut tls.cert),
                    ("tls.key", &mut tls.key),
                ]);
            }
            if let Some(ssh) = &mut e.ssh {
                files.extend(ssh.key.as_mut().map(|k| ("ssh.key", k)));
                files.extend(ssh.known_hosts.as_mut().map(|k| ("ssh.known_hosts", k)));
            }
            for (field, p) in files {
                if p.is_relative() {
                    *p = dir.join(&*p);
                }
                if let Err(err) = std::fs::metadata(&*p) {
                    return Err(RuntimeError::BadInput(format!(
                        "{}: engines.{name}.{field}: {}: {err}",
                        path.display(),
                        p.display()
                    )));
                }
            }
        }
        Ok(file)
    }

    /// What makes a file unusable whatever the engines say.
    pub fn check(&self) -> Result<(), String> {
        if self.engines.is_empty() {
            return Err("`engines` names no engine".into());
        }
        if !self.engines.contains_key(&self.manager) {
            return Err(format!(
                "`manager: {}` is not one of `engines` ({})",
                self.manager,
                self.engines.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        for (name, e) in &self.engines {
            e.endpoint()
                .map_err(|why| format!("engines.{name}.endpoint: {why}"))?;
        }
        Ok(())
    }
}

impl EngineSpec {
    /// What its endpoint (and `tls`) say to connect to.
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        let s = self.endpoint.as_str();
        if self.ssh.is_some() && !s.starts_with("ssh://") {
            return Err(format!("`{s}`: `ssh` is for ssh:// endpoints"));
        }
        match (parse_endpoint(s)?, &self.tls) {
            (Endpoint::Ssh { target, .. }, None) => Ok(Endpoint::Ssh {
                target,
                files: self.ssh.clone().unwrap_or_default(),
            }),
            (Endpoint::Ssh { .. }, Some(_)) => Err(format!(
                "`{s}`: `tls` is for tcp:// endpoints; SSH has its own (`ssh: {{key, known_hosts}}`)"
            )),
            (Endpoint::Tcp(host), Some(tls)) => Ok(Endpoint::Tls {
                host,
                files: tls.clone(),
            }),
            (Endpoint::Unix(_), Some(_)) => Err(format!(
                "`{s}`: `tls` is for tcp:// endpoints; a unix socket has none"
            )),
            (_, None) if s.starts_with("https://") => Err(format!(
                "`{s}`: an https:// endpoint needs `tls: {{ca, cert, key}}`"
            )),
            (e, _) => Ok(e),
        }
    }
}

/// What an endpoint says to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A local socket.
    Unix(PathBuf),
    /// Plain TCP (`tcp://host:port`).
    Tcp(String),
    /// TCP with TLS, the engine's certificate checked against `files.ca`
    /// and the tool's client certificate presented (`dockerd --tlsverify`).
    Tls {
        /// `host:port`.
        host: String,
        /// The PEM files.
        files: TlsFiles,
    },
    /// The engine's socket on a host reached by SSH, forwarded to a local
    /// socket by an `ssh` the tool runs ([`super::ssh`]).
    Ssh {
        /// Where.
        target: super::ssh::SshTarget,
        /// The identity and known hosts.
        files: SshFiles,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(h) => write!(f, "tcp://{h}"),
            Endpoint::Tls { host, .. } => write!(f, "tcp://{host} (TLS)"),
            Endpoint::Ssh { target, .. } => {
                write!(f, "ssh://{}", target.destination)?;
                if let Some(p) = target.port {
                    write!(f, ":{p}")?;
                }
                write!(f, "{}", target.remote.display())
            }
        }
    }
}

/// Parse an engine endpoint's address (`tls` aside: [`EngineSpec::endpoint`]);
/// what this build cannot use is refused here.
pub fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    if let Some(p) = s.strip_prefix("unix://") {
        if !p.starts_with('/') {
            return Err(format!("`{s}`: a unix socket's path must be absolute"));
        }
        Ok(Endpoint::Unix(PathBuf::from(p)))
    } else if let Some(h) = s
        .strip_prefix("tcp://")
        .or_else(|| s.strip_prefix("https://"))
    {
        if !h.contains(':') {
            return Err(format!("`{s}`: give the port (tcp://host:2376)"));
        }
        Ok(Endpoint::Tcp(h.trim_end_matches('/').to_string()))
    } else if let Some(rest) = s.strip_prefix("ssh://") {
        let target = super::ssh::parse(rest).map_err(|why| format!("`{s}`: {why}"))?;
        Ok(Endpoint::Ssh {
            target,
            files: SshFiles::default(),
        })
    } else {
        Err(format!(
            "`{s}`: expected unix:///path, tcp://host:port or ssh://[user@]host[:port][/socket]"
        ))
    }
}

/// One engine, connected and answering.
#[derive(Clone)]
pub struct Engine {
    /// Its swarm node's hostname (the key in the engines file).
    pub name: String,
    /// Its API.
    pub docker: Docker,
    /// Where its API answers (an SSH engine's: its tunnel's local socket).
    pub endpoint: Endpoint,
    /// The SSH tunnel to it, if it is reached so; closed with the last
    /// copy of the engine.
    pub tunnel: Option<std::sync::Arc<super::ssh::Tunnel>>,
    /// Where its published ports answer.
    pub address: IpAddr,
    /// Its swarm node id (from the engine's own `info`).
    pub node_id: String,
    /// Whether it is reached by a socket on this machine (a lab engine):
    /// its containers' namespaces are then this machine's too.
    pub local: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("node_id", &self.node_id)
            .finish()
    }
}

/// A client of the engine at `endpoint` (each tokio runtime needs its own:
/// a client's pooled connections live on the runtime that made them).
pub fn client(endpoint: &Endpoint) -> Result<Docker, bollard::errors::Error> {
    match endpoint {
        Endpoint::Unix(p) => {
            Docker::connect_with_unix(&p.to_string_lossy(), 120, bollard::API_DEFAULT_VERSION)
        }
        Endpoint::Tcp(h) => {
            Docker::connect_with_http(&format!("tcp://{h}"), 120, bollard::API_DEFAULT_VERSION)
        }
        Endpoint::Tls { host, files } => Docker::connect_with_ssl(
            &format!("tcp://{host}"),
            &files.key,
            &files.cert,
            &files.ca,
            120,
            bollard::API_DEFAULT_VERSION,
        ),
        // Reached through its tunnel's local socket ([`connect`] opens it
        // and gives the engine that socket as its endpoint).
        Endpoint::Ssh { target, .. } => Err(bollard::errors::Error::IOError {
            err: std::io::Error::other(format!(
                "ssh://{}: no tunnel open to it",
                target.destination
            )),
        }),
    }
}

/// `e` and every error under it (a TLS handshake's reason sits several
/// levels below the HTTP client's "client error (Connect)").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    // Bounded: error chains are short, but nothing promises they end.
    for _ in 0..8 {
        let Some(cause) = next else { break };
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

/// Connect to one engine and ask it who it is in the swarm; an engine that
/// does not answer, or is in no swarm, is named.
pub async fn connect(name: &str, spec: &EngineSpec) -> Result<Engine, RuntimeError> {
    let endpoint = spec.endpoint().map_err(RuntimeError::BadInput)?;
    let silent = |why: String| {
        RuntimeError::Environment(format!("swarm engine `{name}` ({endpoint}): {why}"))
    };
    let local = matches!(endpoint, Endpoint::Unix(_));
    // SSH: the engine's socket forwarded here first; the engine is then
    // reached (by the workers too) at that local socket.
    let (api, tunnel) = match &endpoint {
        Endpoint::Ssh { target, files } => {
            let t = super::ssh::open(target, files.key.as_deref(), files.known_hosts.as_deref())
                .await
                .map_err(|why| silent(format!("no SSH tunnel: {why}")))?;
            (
                Endpoint::Unix(t.socket.clone()),
                Some(std::sync::Arc::new(t)),
            )
        }
        other => (other.clone(), None),
    };
    let docker = client(&api).map_err(|e| silent(e.to_string()))?;
    let info = tokio::time::timeout(ANSWER_TIMEOUT, docker.info())
        .await
        .map_err(|_| {
            silent(format!(
                "did not answer within {} s",
                ANSWER_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| silent(format!("did not answer: {}", with_causes(&e))))?;
    let swarm = info.swarm.unwrap_or_default();
    let node_id = swarm.node_id.filter(|id| !id.is_empty()).ok_or_else(|| {
        silent("is in no swarm (docker swarm init / join, or `redis-drill lab up`)".into())
    })?;
    Ok(Engine {
        name: name.to_string(),
        endpoint: api,
        tunnel,
        docker,
        address: spec.address,
        node_id,
        local,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_this_build_cannot_use_are_refused_with_the_reason() {
        assert_eq!(
            parse_endpoint("unix:///run/x.sock"),
            Ok(Endpoint::Unix("/run/x.sock".into()))
        );
        assert_eq!(
            parse_endpoint("tcp://10.0.0.1:2375"),
            Ok(Endpoint::Tcp("10.0.0.1:2375".into()))
        );
        assert!(
            parse_endpoint("unix://run/x.sock")
                .unwrap_err()
                .contains("absolute")
        );
        assert!(parse_endpoint("tcp://host").unwrap_err().contains("port"));
        assert!(matches!(
            parse_endpoint("ssh://me@host"),
            Ok(Endpoint::Ssh { .. })
        ));
        assert!(
            parse_endpoint("ssh://me@host:x")
                .unwrap_err()
                .contains("not an SSH port")
        );
        let tls = TlsFiles {
            ca: "ca.pem".into(),
            cert: "cert.pem".into(),
            key: "key.pem".into(),
        };
        let spec = |endpoint: &str, tls: Option<TlsFiles>| EngineSpec {
            endpoint: endpoint.into(),
            address: "10.0.0.1".parse().unwrap(),
            tls,
            ssh: None,
        };
        let with_ssh = EngineSpec {
            ssh: Some(SshFiles {
                key: Some("id".into()),
                known_hosts: None,
            }),
            ..spec("ssh://root@10.0.0.1/run/docker.sock", None)
        };
        match with_ssh.endpoint() {
            Ok(Endpoint::Ssh { target, files }) => {
                assert_eq!(target.destination, "root@10.0.0.1");
                assert_eq!(files.key, Some("id".into()));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            EngineSpec {
                endpoint: "tcp://h:1".into(),
                ..with_ssh.clone()
            }
            .endpoint()
            .unwrap_err()
            .contains("`ssh` is for ssh://")
        );
        assert!(
            spec("ssh://h", Some(tls.clone()))
                .endpoint()
                .unwrap_err()
                .contains("SSH has its own")
        );
        assert_eq!(
            spec("tcp://10.0.0.1:2376", Some(tls.clone())).endpoint(),
            Ok(Endpoint::Tls {
                host: "10.0.0.1:2376".into(),
                files: tls.clone()
            })
        );
        assert_eq!(
            spec("https://10.0.0.1:2376/", Some(tls.clone())).endpoint(),
            Ok(Endpoint::Tls {
                host: "10.0.0.1:2376".into(),
                files: tls.clone()
            })
        );
        assert!(
            spec("https://10.0.0.1:2376", None)
                .endpoint()
                .unwrap_err()
                .contains("needs `tls")
        );
        assert!(
            spec("unix:///run/x.sock", Some(tls))
                .endpoint()
                .unwrap_err()
                .contains("a unix socket has none")
        );
        assert!(
            parse_endpoint("/run/docker.sock")
                .unwrap_err()
                .contains("expected")
        );
    }

    #[test]
    fn a_file_names_what_is_wrong_with_it() {
        let ok = "manager: a\nengines:\n  a: {endpoint: 'unix:///a.sock', address: 10.0.0.1}\n";
        let f: EnginesFile = serde_saphyr::from_str(ok).unwrap();
        assert_eq!(f.check(), Ok(()));
        let bad = "manager: b\nengines:\n  a: {endpoint: 'unix:///a.sock', address: 10.0.0.1}\n";
        let f: EnginesFile = serde_saphyr::from_str(bad).unwrap();
        assert!(
            f.check()
                .unwrap_err()
                .contains("`manager: b` is not one of `engines` (a)")
        );
        let bad = "manager: a\nengines:\n  a: {endpoint: 'ftp://a', address: 10.0.0.1}\n";
        let f: EnginesFile = serde_saphyr::from_str(bad).unwrap();
        assert!(f.check().unwrap_err().starts_with("engines.a.endpoint"));
        let typo = "manager: a\nengines:\n  a: {endpont: 'unix:///a.sock', address: 10.0.0.1}\n";
        assert!(serde_saphyr::from_str::<EnginesFile>(typo).is_err());
    }
}
