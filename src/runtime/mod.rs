//! Runtimes: bring a topology up as Docker containers (bollard) or as local
//! redis-server processes, control its nodes, and remove everything by run id.
//!
//! Both runtimes produce a [`Deployment`]: what is running, where the controller
//! reaches each node (always an address on 127.0.0.0/8) and what each node
//! announces to its peers. A deployment describes itself where it lives — on the
//! Docker network's labels, or in `deployment.json` in the process run's
//! directory — so `status`, `down` and node control work from a later invocation
//! with nothing but the topology's name.

pub mod config;
pub mod docker;
pub mod image;
pub mod process;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::exit;
use crate::topology::{NodeSpec, Topology};

/// Label keys. Every container and network carries them; cleanup finds
/// resources by `redis-drill.run-id` alone.
pub mod labels {
    pub const TOOL: &str = "redis-drill.tool";
    pub const RUN_ID: &str = "redis-drill.run-id";
    pub const TOPOLOGY: &str = "redis-drill.topology";
    pub const NODE: &str = "redis-drill.node";
    pub const ROLE: &str = "redis-drill.role";
    pub const REGION: &str = "redis-drill.region";
    /// On the network only: the whole [`super::Deployment`] as JSON.
    pub const DEPLOYMENT: &str = "redis-drill.deployment";
    pub const TOOL_VALUE: &str = "redis-drill";
}

/// Which runtime runs the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    Docker,
    Process,
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Process => "process",
        })
    }
}

impl FromStr for RuntimeKind {
    type Err = RuntimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "docker" => Ok(RuntimeKind::Docker),
            "process" => Ok(RuntimeKind::Process),
            other => Err(RuntimeError::BadInput(format!(
                "unknown runtime `{other}` (expected docker or process)"
            ))),
        }
    }
}

/// A running topology.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployment {
    /// The name it is addressed by (`--name`, default: the topology's name).
    pub name: String,
    /// Unique per `up`; every resource is labelled with it.
    pub run_id: String,
    pub runtime: RuntimeKind,
    /// The image the nodes run (docker) or the redis-server binary (process).
    pub image: String,
    pub topology: Topology,
    pub nodes: Vec<DeployedNode>,
}

/// Where one node runs and how it is reached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeployedNode {
    pub name: String,
    /// Where the controller reaches the node: on 127.0.0.0/8 always (a published
    /// port for docker, the node's own loopback alias for process).
    pub addr: SocketAddr,
    /// The address the node announces to its peers (container IP, or = `addr`).
    pub announce: SocketAddr,
    /// Cluster bus port, as peers reach it at the announce IP.
    pub bus_port: u16,
    /// Container name (docker) or pid (process) — runtime specific.
    pub handle: String,
}

impl Deployment {
    pub fn node(&self, name: &str) -> Result<&DeployedNode, RuntimeError> {
        self.nodes.iter().find(|n| n.name == name).ok_or_else(|| {
            RuntimeError::BadInput(format!(
                "no node named `{name}` in {} (nodes: {})",
                self.name,
                self.nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    pub fn spec(&self, name: &str) -> Option<&NodeSpec> {
        self.topology.node(name)
    }
}

/// A one-line summary of a running deployment, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentSummary {
    pub name: String,
    pub run_id: String,
    pub runtime: RuntimeKind,
    pub nodes: usize,
}

/// What `down` removed.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
    pub processes: usize,
    pub dirs: usize,
}

impl Removed {
    pub fn add(&mut self, other: Removed) {
        self.containers += other.containers;
        self.networks += other.networks;
        self.processes += other.processes;
        self.dirs += other.dirs;
    }

    pub fn is_empty(&self) -> bool {
        self.containers + self.networks + self.processes + self.dirs == 0
    }
}

impl fmt::Display for Removed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} containers, {} networks, {} processes, {} directories",
            self.containers, self.networks, self.processes, self.dirs
        )
    }
}

/// Node-level operations, the same words everywhere (code, YAML, CLI, reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NodeAction {
    /// SIGKILL: the process dies at once, no clean shutdown.
    Kill,
    /// Graceful stop (SIGTERM).
    Stop,
    /// Start a stopped or killed node again with its data directory.
    Start,
    /// Stop then start.
    Restart,
    /// SIGSTOP / docker pause: the node freezes, its sockets stay open.
    Pause,
    /// SIGCONT / docker unpause.
    Resume,
}

impl fmt::Display for NodeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeAction::Kill => "kill",
            NodeAction::Stop => "stop",
            NodeAction::Start => "start",
            NodeAction::Restart => "restart",
            NodeAction::Pause => "pause",
            NodeAction::Resume => "resume",
        })
    }
}

/// The output of a command run on (or for) a node.
#[derive(Debug, Clone, Serialize)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// Options for bringing a topology up.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub name: String,
    pub run_id: String,
    /// Bound on the whole bring-up of the nodes (not the cluster creation).
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    BadInput(String),
    #[error("no docker engine answers: {0}")]
    NoDocker(String),
    #[error("docker: {context}: {source}")]
    Docker {
        context: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("image `{image}` is not available: {reason}")]
    Image { image: String, reason: String },
    #[error("port {port} for node {node} is already in use on {ip}")]
    PortTaken { node: String, ip: String, port: u16 },
    #[error("{0}")]
    Environment(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("node {node} did not become ready: {condition} (waited {waited:?})")]
    NotReady {
        node: String,
        condition: String,
        waited: Duration,
    },
    #[error("no running topology named `{0}` (see `redis-drill status --all`)")]
    NotFound(String),
    #[error(
        "a topology named `{name}` is already up (run id {run_id}); take it down with `redis-drill down --name {name}` or pick another --name"
    )]
    AlreadyUp { name: String, run_id: String },
    #[error("interrupted")]
    Cancelled,
}

impl RuntimeError {
    pub fn exit_code(&self) -> i32 {
        match self {
            RuntimeError::BadInput(_) | RuntimeError::NotFound(_) => exit::BAD_INPUT,
            RuntimeError::Cancelled => exit::INTERRUPTED,
            _ => exit::ENVIRONMENT,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RuntimeError {
        let context = context.into();
        move |source| RuntimeError::Io { context, source }
    }

    pub(crate) fn docker(
        context: impl Into<String>,
    ) -> impl FnOnce(bollard::errors::Error) -> RuntimeError {
        let context = context.into();
        move |source| RuntimeError::Docker { context, source }
    }
}

/// The runtime a command works with.
pub enum Runtime {
    Docker(docker::DockerRuntime),
    Process(process::ProcessRuntime),
}

/// Environment variable naming the runtime when no `--runtime` flag is given.
pub const RUNTIME_ENV: &str = "REDIS_DRILL_RUNTIME";

impl Runtime {
    /// Choose the runtime: the flag, then `REDIS_DRILL_RUNTIME`, then docker when an
    /// engine answers, else process with a one-line notice.
    pub async fn select(flag: Option<RuntimeKind>) -> Result<Runtime, RuntimeError> {
        let chosen = match flag {
            Some(kind) => Some(kind),
            None => match std::env::var(RUNTIME_ENV) {
                Ok(v) if !v.is_empty() => Some(v.parse()?),
                _ => None,
            },
        };
        match chosen {
            Some(RuntimeKind::Docker) => {
                Ok(Runtime::Docker(docker::DockerRuntime::connect().await?))
            }
            Some(RuntimeKind::Process) => Ok(Runtime::Process(process::ProcessRuntime::new()?)),
            None => match docker::DockerRuntime::connect().await {
                Ok(d) => Ok(Runtime::Docker(d)),
                Err(e) => {
                    crate::note!(
                        "notice: {e}; using the process runtime (set --runtime or {RUNTIME_ENV} to choose)"
                    );
                    Ok(Runtime::Process(process::ProcessRuntime::new()?))
                }
            },
        }
    }

    pub fn kind(&self) -> RuntimeKind {
        match self {
            Runtime::Docker(_) => RuntimeKind::Docker,
            Runtime::Process(_) => RuntimeKind::Process,
        }
    }

    /// Start every node of `topology` and wait until each answers PING. On any
    /// error the caller must call [`Runtime::remove_run`] with the run id.
    pub async fn up(
        &self,
        topology: &Topology,
        opts: &UpOptions,
        cancel: &CancellationToken,
    ) -> Result<Deployment, RuntimeError> {
        match self {
            Runtime::Docker(d) => d.up(topology, opts, cancel).await,
            Runtime::Process(p) => p.up(topology, opts, cancel).await,
        }
    }

    /// The deployment with this name, if it is up.
    pub async fn find(&self, name: &str) -> Result<Option<Deployment>, RuntimeError> {
        match self {
            Runtime::Docker(d) => d.find(name).await,
            Runtime::Process(p) => p.find(name),
        }
    }

    /// Every deployment this runtime has up.
    pub async fn list(&self) -> Result<Vec<Deployment>, RuntimeError> {
        match self {
            Runtime::Docker(d) => d.list().await,
            Runtime::Process(p) => p.list(),
        }
    }

    /// Remove everything labelled with `run_id`. Idempotent.
    pub async fn remove_run(&self, run_id: &str) -> Result<Removed, RuntimeError> {
        match self {
            Runtime::Docker(d) => d.remove_run(run_id).await,
            Runtime::Process(p) => p.remove_run(run_id),
        }
    }

    /// Remove everything redis-drill created on this runtime.
    pub async fn remove_all(&self) -> Result<Removed, RuntimeError> {
        match self {
            Runtime::Docker(d) => d.remove_all().await,
            Runtime::Process(p) => p.remove_all(),
        }
    }

    /// Apply a node action (kill, stop, start, restart, pause, resume).
    pub async fn node_action(
        &self,
        deployment: &Deployment,
        node: &str,
        action: NodeAction,
    ) -> Result<(), RuntimeError> {
        let node = deployment.node(node)?;
        tracing::info!(node = %node.name, %action, "node action");
        match self {
            Runtime::Docker(d) => d.node_action(node, action).await,
            Runtime::Process(p) => p.node_action(deployment, node, action).await,
        }
    }

    /// Run a command in the node's environment (inside its container, or on the
    /// host for the process runtime).
    pub async fn exec(
        &self,
        deployment: &Deployment,
        node: &str,
        cmd: &[String],
    ) -> Result<ExecOutput, RuntimeError> {
        let node = deployment.node(node)?;
        match self {
            Runtime::Docker(d) => d.exec(node, cmd).await,
            Runtime::Process(p) => p.exec(cmd).await,
        }
    }

    /// The last `tail` lines of the node's log.
    pub async fn logs(
        &self,
        deployment: &Deployment,
        node: &str,
        tail: usize,
    ) -> Result<String, RuntimeError> {
        let node = deployment.node(node)?;
        match self {
            Runtime::Docker(d) => d.logs(node, tail).await,
            Runtime::Process(p) => p.logs(deployment, node, tail),
        }
    }

    /// `redis-cli` arguments that reach `node` from where `exec` runs (inside the
    /// container: its own port; on the host: its loopback address).
    pub fn redis_cli_target(&self, node: &DeployedNode) -> (String, u16) {
        match self {
            Runtime::Docker(_) => ("127.0.0.1".into(), node.announce.port()),
            Runtime::Process(_) => (node.addr.ip().to_string(), node.addr.port()),
        }
    }
}

/// A fresh run id: short, unique enough for concurrent runs, safe in names.
pub fn new_run_id() -> String {
    use rand::Rng;
    let n: u32 = rand::rng().random();
    format!("{n:08x}")
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
    let client = redis::Client::open(format!("redis://{addr}/")).map_err(|e| e.to_string())?;
    let cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_millis(500)));
    let mut con = client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
        .map_err(|e| e.to_string())?;
    let pong: String = redis::cmd("PING")
        .query_async(&mut con)
        .await
        .map_err(|e| e.to_string())?;
    if pong == "PONG" {
        Ok(())
    } else {
        Err(format!("unexpected reply {pong}"))
    }
}

/// Find a free TCP port on `ip` by binding port 0.
pub(crate) fn free_port(ip: std::net::IpAddr) -> Result<u16, RuntimeError> {
    let l = std::net::TcpListener::bind((ip, 0))
        .map_err(RuntimeError::io(format!("finding a free port on {ip}")))?;
    Ok(l.local_addr()
        .map_err(RuntimeError::io("reading a bound address"))?
        .port())
}

/// Whether `ip:port` can be bound now.
pub(crate) fn port_is_free(ip: std::net::IpAddr, port: u16) -> bool {
    std::net::TcpListener::bind((ip, port)).is_ok()
}
