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
    /// The engine API: `unix:///path/docker.sock` or `tcp://host:port`.
    pub endpoint: String,
    /// The host's address, where the ports it publishes answer the
    /// controller.
    pub address: IpAddr,
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
        let file: EnginesFile = serde_saphyr::from_str(&text)
            .map_err(|e| RuntimeError::BadInput(format!("{}: {e}", path.display())))?;
        file.check()
            .map_err(|e| RuntimeError::BadInput(format!("{}: {e}", path.display())))?;
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
            parse_endpoint(&e.endpoint).map_err(|why| format!("engines.{name}.endpoint: {why}"))?;
        }
        Ok(())
    }
}

/// What an endpoint says to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A local socket.
    Unix(PathBuf),
    /// Plain TCP (`tcp://host:port`).
    Tcp(String),
}

/// Parse an engine endpoint; what this build cannot use is refused here.
pub fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    if let Some(p) = s.strip_prefix("unix://") {
        if !p.starts_with('/') {
            return Err(format!("`{s}`: a unix socket's path must be absolute"));
        }
        Ok(Endpoint::Unix(PathBuf::from(p)))
    } else if let Some(h) = s.strip_prefix("tcp://") {
        if !h.contains(':') {
            return Err(format!("`{s}`: give the port (tcp://host:2375)"));
        }
        Ok(Endpoint::Tcp(h.to_string()))
    } else if s.starts_with("ssh://") || s.starts_with("https://") {
        Err(format!(
            "`{s}`: SSH and TLS endpoints are not built in yet; use unix:// or tcp:// (docs/swarm.md)"
        ))
    } else {
        Err(format!("`{s}`: expected unix:///path or tcp://host:port"))
    }
}

/// One engine, connected and answering.
#[derive(Clone)]
pub struct Engine {
    /// Its swarm node's hostname (the key in the engines file).
    pub name: String,
    /// Its API.
    pub docker: Docker,
    /// Where its API answers.
    pub endpoint: Endpoint,
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
    }
}

/// Connect to one engine and ask it who it is in the swarm; an engine that
/// does not answer, or is in no swarm, is named.
pub async fn connect(name: &str, spec: &EngineSpec) -> Result<Engine, RuntimeError> {
    let silent = |why: String| {
        RuntimeError::Environment(format!("swarm engine `{name}` ({}): {why}", spec.endpoint))
    };
    let endpoint = parse_endpoint(&spec.endpoint).map_err(RuntimeError::BadInput)?;
    let local = matches!(endpoint, Endpoint::Unix(_));
    let docker = client(&endpoint).map_err(|e| silent(e.to_string()))?;
    let info = tokio::time::timeout(ANSWER_TIMEOUT, docker.info())
        .await
        .map_err(|_| {
            silent(format!(
                "did not answer within {} s",
                ANSWER_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| silent(format!("did not answer: {e}")))?;
    let swarm = info.swarm.unwrap_or_default();
    let node_id = swarm.node_id.filter(|id| !id.is_empty()).ok_or_else(|| {
        silent("is in no swarm (docker swarm init / join, or `redis-drill lab up`)".into())
    })?;
    Ok(Engine {
        name: name.to_string(),
        endpoint,
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
        assert!(
            parse_endpoint("ssh://me@host")
                .unwrap_err()
                .contains("not built in")
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
        let bad = "manager: a\nengines:\n  a: {endpoint: 'ssh://a', address: 10.0.0.1}\n";
        let f: EnginesFile = serde_saphyr::from_str(bad).unwrap();
        assert!(f.check().unwrap_err().starts_with("engines.a.endpoint"));
        let typo = "manager: a\nengines:\n  a: {endpont: 'unix:///a.sock', address: 10.0.0.1}\n";
        assert!(serde_saphyr::from_str::<EnginesFile>(typo).is_err());
    }
}
