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
pub mod docker_links;
mod exec;
pub mod filter;
pub mod image;
pub mod links;
pub mod netns;
pub mod process;
pub mod relay;

pub use crate::topology::RuntimeKind;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::exit::Class;
use crate::topology::{NodeSpec, Role, Topology};

/// Label keys. Every container and network carries them; cleanup finds
/// resources by `redis-drill.run-id` alone.
pub use filter::{Applied, NetError};

pub mod labels {
    pub const TOOL: &str = "redis-drill.tool";
    pub const RUN_ID: &str = "redis-drill.run-id";
    pub const TOPOLOGY: &str = "redis-drill.topology";
    pub const NODE: &str = "redis-drill.node";
    pub const ROLE: &str = "redis-drill.role";
    pub const REGION: &str = "redis-drill.region";
    /// On the network only: the whole [`super::Deployment`] as JSON.
    pub const DEPLOYMENT: &str = "redis-drill.deployment";
    /// On a container started by `add-node` only: its [`super::AddedNode`] as
    /// JSON. A network's labels cannot change after it is created, so the
    /// deployment read from the network is completed from these.
    pub const ADDED_NODE: &str = "redis-drill.added-node";
    pub const TOOL_VALUE: &str = "redis-drill";
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

    /// The address of the clients that live in `region`: on the nodes'
    /// own network (their /24), at host .[`FIRST_CLIENT_HOST`] + the
    /// region's index, below the nodes' .11 and up. Every region has one
    /// from `up` on, so the links' rules know them before any client comes;
    /// `None` for an unknown region, past the [`MAX_CLIENT_REGIONS`]th, or
    /// without an IPv4 node.
    pub fn client_addr(&self, region: &str) -> Option<IpAddr> {
        let i = self
            .topology
            .regions
            .iter()
            .position(|r| r.name == region)?;
        if i >= MAX_CLIENT_REGIONS {
            return None;
        }
        self.nodes.iter().find_map(|n| match n.announce.ip() {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                Some(IpAddr::V4(std::net::Ipv4Addr::new(
                    o[0],
                    o[1],
                    o[2],
                    FIRST_CLIENT_HOST + i as u8,
                )))
            }
            IpAddr::V6(_) => None,
        })
    }

    /// Everything the links sort by region: every node's address on its
    /// network, then every region's client address.
    pub fn link_members(&self) -> Vec<(IpAddr, String)> {
        let nodes = self
            .nodes
            .iter()
            .filter_map(|n| Some((n.announce.ip(), self.spec(&n.name)?.region.clone())));
        let clients = self
            .topology
            .regions
            .iter()
            .filter_map(|r| Some((self.client_addr(&r.name)?, r.name.clone())));
        nodes.chain(clients).collect()
    }
}

/// The host part of the first region's client address (see
/// [`Deployment::client_addr`]); .2 is the docker runtime's `clients`.
pub const FIRST_CLIENT_HOST: u8 = 3;
/// Regions that can have clients: hosts .3 to .10.
pub const MAX_CLIENT_REGIONS: usize = 8;

/// A node added to a running deployment (`add-node`): where it runs and what it
/// is, as the docker runtime records it on the node's own container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddedNode {
    pub node: DeployedNode,
    pub spec: NodeSpec,
}

impl Deployment {
    /// This deployment grown by `added`: the node listed, its spec in the topology.
    pub fn with_node(&self, added: AddedNode) -> Deployment {
        let mut d = self.clone();
        d.nodes.push(added.node);
        d.topology.nodes.push(added.spec);
        d
    }

    /// The spec of the node `add-node` would start next: a new empty primary
    /// in a shard of its own (`s{k}n1`, k one past the highest shard), or a
    /// replica of `replica_of` in that primary's shard (`s{k}n{m}`, m one past
    /// the shard's node count, skipping names in use). A replica lives in its
    /// primary's region, a new primary in the first region. Its redis.conf
    /// settings are the ones every existing node shares — the topology's own
    /// `redis` section, without any one node's overrides. Pure.
    pub fn next_node_spec(&self, replica_of: Option<&str>) -> Result<NodeSpec, RuntimeError> {
        let t = &self.topology;
        let taken =
            |name: &str| t.node(name).is_some() || self.nodes.iter().any(|n| n.name == name);
        let (role, shard, region, name) = match replica_of {
            None => {
                let shard = t.nodes.iter().map(|n| n.shard + 1).max().unwrap_or(0);
                let region = t
                    .regions
                    .first()
                    .map(|r| r.name.clone())
                    .unwrap_or_else(|| crate::topology::DEFAULT_REGION.to_string());
                let name = format!("s{}n1", shard + 1);
                if taken(&name) {
                    return Err(RuntimeError::BadInput(format!(
                        "the next primary's name {name} is already taken in {}",
                        self.name
                    )));
                }
                (Role::Primary, shard, region, name)
            }
            Some(p) => {
                let primary = t.node(p).ok_or_else(|| {
                    RuntimeError::BadInput(format!(
                        "no node named `{p}` in {} (primaries: {})",
                        self.name,
                        t.primaries()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
                if primary.role != Role::Primary {
                    return Err(RuntimeError::BadInput(format!(
                        "{p} is a replica; a new replica needs a primary to replicate"
                    )));
                }
                let in_shard = t.nodes.iter().filter(|n| n.shard == primary.shard).count();
                // Bounded: at most every node name is taken.
                let name = (in_shard + 1..=in_shard + 1 + t.nodes.len())
                    .map(|m| format!("s{}n{m}", primary.shard + 1))
                    .find(|n| !taken(n))
                    .ok_or_else(|| {
                        RuntimeError::BadInput(format!("no free node name in {p}'s shard"))
                    })?;
                (Role::Replica, primary.shard, primary.region.clone(), name)
            }
        };
        if name.len() > crate::topology::NAME_MAX {
            return Err(RuntimeError::BadInput(format!(
                "the new node's name {name} is longer than {} characters",
                crate::topology::NAME_MAX
            )));
        }
        Ok(NodeSpec {
            name,
            role,
            replica_of: replica_of.map(str::to_string),
            shard,
            region,
            port: None,
            image: None,
            config: shared_config(&t.nodes),
            slots: Vec::new(),
        })
    }
}

/// The redis.conf settings every one of `nodes` has, with the same value.
fn shared_config(nodes: &[NodeSpec]) -> std::collections::BTreeMap<String, String> {
    let Some((first, rest)) = nodes.split_first() else {
        return Default::default();
    };
    first
        .config
        .iter()
        .filter(|(k, v)| rest.iter().all(|n| n.config.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
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
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
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
    /// The client could not reach an engine (no socket, refused, a bad reply).
    #[error("no docker engine answers: {0}")]
    NoDocker(#[source] bollard::errors::Error),
    /// An engine was reached but stayed silent: what did not come back in time.
    #[error("no docker engine answers: {0}")]
    DockerSilent(&'static str),
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
    /// What kind of failure this is (the CLI maps it to an exit code).
    pub fn class(&self) -> Class {
        match self {
            RuntimeError::BadInput(_) | RuntimeError::NotFound(_) => Class::BadInput,
            RuntimeError::Cancelled => Class::Interrupted,
            _ => Class::Environment,
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

/// How long a node started by [`Runtime::add_node`] may take to answer PING:
/// the same order as a whole `up` of one node, with room for a busy machine.
pub const ADD_NODE_TIMEOUT: Duration = Duration::from_secs(30);

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

    /// Make `d`'s network faults exactly `grudge`: each node drops the
    /// packets of the peers it holds a grudge against, silently (no reset, as
    /// on a real network), and whatever an earlier call cut that `grudge`
    /// does not name is lifted. An empty grudge heals. Only node-to-node
    /// traffic is cut, and the controller's clients keep reaching every
    /// node — unless the grudge names [`crate::net::grudge::CLIENTS`] (the
    /// `clients` shape), which cuts the drill's own clients off too.
    /// The rules are each runtime's own (`filter`).
    pub async fn partition(
        &self,
        d: &Deployment,
        grudge: &crate::net::Grudge,
    ) -> Result<Applied, NetError> {
        filter::apply(self, d, grudge).await
    }

    /// Lift every network fault of `d`; nodes that are not running are skipped.
    pub async fn heal(&self, d: &Deployment) -> Result<Applied, NetError> {
        filter::heal(self, d).await
    }

    /// Whether [`Runtime::partition`] can work on `d` here, and if not, why
    /// (not root, no iptables in an image, no NET_ADMIN).
    pub async fn check_partitions(&self, d: &Deployment) -> Result<(), NetError> {
        filter::preflight(self, d).await
    }

    /// Where the workload's clients should open their sockets: on Docker,
    /// the network namespace of the run's `clients` container (created when
    /// missing), from which the nodes' own addresses are reachable without
    /// docker-proxy; `None` on the process runtime, whose nodes listen on
    /// the host's loopback already.
    pub async fn client_namespace(
        &self,
        d: &Deployment,
    ) -> Result<Option<netns::NetNs>, RuntimeError> {
        match self {
            Runtime::Docker(r) => r.client_namespace(d).await.map(Some),
            Runtime::Process(_) => Ok(None),
        }
    }

    /// Where the clients of `region` live: on Docker, the network
    /// namespace of the region's clients container (created, with its relay
    /// of the links, when missing); on the process runtime, the region's
    /// client address on the host, to bind their sockets to.
    pub async fn region_place(
        &self,
        d: &Deployment,
        region: &str,
    ) -> Result<(Option<netns::NetNs>, Option<IpAddr>), RuntimeError> {
        match self {
            Runtime::Docker(r) => r
                .region_namespace(d, region)
                .await
                .map(|ns| (Some(ns), None)),
            Runtime::Process(_) => match d.client_addr(region) {
                Some(ip) => Ok((None, Some(ip))),
                None => Err(RuntimeError::BadInput(format!(
                    "region `{region}` can have no clients here (an unknown region, or past the first {MAX_CLIENT_REGIONS})"
                ))),
            },
        }
    }

    /// Change `d`'s links at run time (the `slow` fault): `links` are the
    /// declared ones, in their order, with other figures. Heal gives the
    /// declared ones back.
    pub async fn set_links(
        &self,
        d: &Deployment,
        links: &[crate::topology::Link],
    ) -> Result<(), RuntimeError> {
        match self {
            Runtime::Process(p) => links::set(&p.run_dir_of(d), links),
            Runtime::Docker(r) => {
                let clients: Vec<(String, String)> = d
                    .topology
                    .regions
                    .iter()
                    .map(|g| {
                        let handle = docker::region_clients_name(&d.run_id, &g.name);
                        (format!("the clients of {}", g.name), handle)
                    })
                    .collect();
                docker_links::set(r.client(), d, &clients, links)
                    .await
                    .map(|_| ())
            }
        }
    }

    /// Measure every link of `d` the way its nodes' traffic crosses it
    /// ([`links::measure`]): from each node's own address on the process
    /// runtime, from inside its container's namespace on Docker.
    pub async fn measure_links(
        &self,
        d: &Deployment,
        cancel: &CancellationToken,
    ) -> Vec<crate::net::links::LinkSample> {
        if d.topology.links.is_empty() {
            return Vec::new();
        }
        let origins = match self {
            Runtime::Process(_) => links::Origins::Address,
            Runtime::Docker(r) => {
                let mut ns = std::collections::BTreeMap::new();
                for n in &d.nodes {
                    match r.node_namespace(n).await {
                        Ok(x) => {
                            ns.insert(n.name.clone(), std::sync::Arc::new(x));
                        }
                        Err(e) => {
                            tracing::warn!(node = %n.name, "no namespace to measure from: {e}")
                        }
                    }
                }
                links::Origins::Namespaces(ns)
            }
        };
        links::measure(d, &origins, cancel).await
    }

    /// Start one more node, described by `spec` (see
    /// [`Deployment::next_node_spec`]), in the running deployment `d`, under the
    /// same rules as `up` (image, redis.conf, labels or run directory), wait
    /// until it answers PING, and record it so that [`Runtime::find`] returns
    /// the grown deployment. It joins no cluster: that is the cluster admin's
    /// job. On error nothing of the new node is left.
    pub async fn add_node(
        &self,
        d: &Deployment,
        spec: NodeSpec,
        cancel: &CancellationToken,
    ) -> Result<Deployment, RuntimeError> {
        if d.nodes.iter().any(|n| n.name == spec.name) || d.spec(&spec.name).is_some() {
            return Err(RuntimeError::BadInput(format!(
                "{} already has a node named {}",
                d.name, spec.name
            )));
        }
        tracing::info!(node = %spec.name, deployment = %d.name, "add node");
        match self {
            Runtime::Docker(r) => r.add_node(d, spec, ADD_NODE_TIMEOUT, cancel).await,
            Runtime::Process(p) => p.add_node(d, spec, ADD_NODE_TIMEOUT, cancel).await,
        }
    }

    /// Remove one node of a deployment — its container, or its process and
    /// directory — and forget it. Undoes [`Runtime::add_node`]; idempotent.
    pub async fn remove_node(&self, d: &Deployment, node: &str) -> Result<Removed, RuntimeError> {
        tracing::info!(node, deployment = %d.name, "remove node");
        match self {
            Runtime::Docker(r) => r.remove_node(d, node).await,
            Runtime::Process(p) => p.remove_node(d, node),
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
            Runtime::Docker(d) => d.node_action(deployment, node, action).await,
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
/// Wait for every node's readiness wait ([`wait_for_ping`]), then log how
/// long the `runtime`'s nodes took to come up.
pub(crate) async fn all_ready<F>(
    waits: Vec<F>,
    started: std::time::Instant,
    runtime: &str,
) -> Result<(), RuntimeError>
where
    F: std::future::Future<Output = Result<(), RuntimeError>>,
{
    let nodes = futures::future::try_join_all(waits).await?.len();
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        nodes,
        runtime,
        "nodes ready"
    );
    Ok(())
}

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
    let client = crate::cluster::dial::client(addr).map_err(|e| e.to_string())?;
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

/// Find a free TCP port on `ip` by binding port 0, never one this process
/// handed out before.
///
/// The port is free when chosen but nothing holds it until Docker publishes
/// it, and the kernel may offer a just-released port again at once: two
/// nodes of one topology, or of two drills started side by side in one
/// process (the tests), then get the same port and the second start fails
/// with "port is already allocated". Remembering what was handed out closes
/// that window inside the process.
pub(crate) fn free_port(ip: std::net::IpAddr) -> Result<u16, RuntimeError> {
    use std::sync::Mutex;
    static HANDED_OUT: Mutex<std::collections::BTreeSet<u16>> =
        Mutex::new(std::collections::BTreeSet::new());
    // Bounded: each try is a port the kernel thinks free; a run of 64 that
    // this process already handed out would mean a port range nearly spent.
    for _ in 0..64 {
        let l = std::net::TcpListener::bind((ip, 0))
            .map_err(RuntimeError::io(format!("finding a free port on {ip}")))?;
        let port = l
            .local_addr()
            .map_err(RuntimeError::io("reading a bound address"))?
            .port();
        let mut seen = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if seen.insert(port) {
            return Ok(port);
        }
    }
    Err(RuntimeError::Io {
        context: format!(
            "finding a free port on {ip}: 64 offers were all ports already handed out"
        ),
        source: std::io::Error::new(std::io::ErrorKind::AddrInUse, "no fresh port"),
    })
}

/// Whether `ip:port` can be bound now.
pub(crate) fn port_is_free(ip: std::net::IpAddr, port: u16) -> bool {
    std::net::TcpListener::bind((ip, port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(yaml: &str) -> Deployment {
        let topology = Topology::parse(yaml, None).unwrap();
        let nodes = topology
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let addr: SocketAddr = format!("127.0.0.1:{}", 7000 + i).parse().unwrap();
                DeployedNode {
                    name: n.name.clone(),
                    addr,
                    announce: addr,
                    bus_port: 17000 + i as u16,
                    handle: String::new(),
                }
            })
            .collect();
        Deployment {
            name: "t".into(),
            run_id: "r".into(),
            runtime: RuntimeKind::Process,
            image: String::new(),
            topology,
            nodes,
        }
    }

    #[test]
    fn next_node_spec_names_and_places_the_new_node() {
        let d = deployment(
            "name: c\nkind: cluster\nregions: [{name: a}, {name: b}]\nredis: {maxmemory: 64mb}\ncluster: {shards: 3, replicas: 1}\noverrides:\n  s1n1: {redis: {maxmemory-policy: allkeys-lru}}\n",
        );
        let p = d.next_node_spec(None).unwrap();
        assert_eq!(
            (p.name.as_str(), p.role, p.shard, p.region.as_str()),
            ("s4n1", Role::Primary, 3, "a")
        );
        assert!(p.slots.is_empty() && p.replica_of.is_none() && p.port.is_none());
        // The topology's settings, not one node's override.
        assert_eq!(p.config.get("maxmemory").map(String::as_str), Some("64mb"));
        assert!(!p.config.contains_key("maxmemory-policy"));

        let r = d.next_node_spec(Some("s2n1")).unwrap();
        let primary = d.spec("s2n1").unwrap();
        assert_eq!(
            (r.name.as_str(), r.role, r.shard, r.replica_of.as_deref()),
            ("s2n3", Role::Replica, 1, Some("s2n1"))
        );
        assert_eq!(r.region, primary.region);

        // Grown by the new primary, the next replica of it is s4n2.
        let grown = d.with_node(AddedNode {
            node: DeployedNode {
                name: p.name.clone(),
                ..d.nodes[0].clone()
            },
            spec: p,
        });
        assert_eq!(grown.next_node_spec(Some("s4n1")).unwrap().name, "s4n2");
        assert_eq!(grown.next_node_spec(None).unwrap().name, "s5n1");

        for (arg, want) in [
            ("nosuch", "no node named `nosuch`"),
            ("s1n2", "s1n2 is a replica"),
        ] {
            let err = d.next_node_spec(Some(arg)).unwrap_err().to_string();
            assert!(err.contains(want), "want {want:?} in {err:?}");
        }
    }
}
