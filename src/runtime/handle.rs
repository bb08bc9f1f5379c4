//! The runtime a command works with: one [`Backend`] (which also speaks
//! [`crate::net::Net`]) behind a handle, chosen once at start. This is the
//! one dispatch point: everything the rest of the program asks of a runtime
//! goes through [`Runtime`]'s methods, which add what is the same for every
//! backend (looking a node up, logging, timing a partition) and hand over to
//! the backend for the rest.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::backend::{Backend, ClientOrigin};
use super::deployment::{
    DeployedNode, Deployment, ExecOutput, NodeAction, Removed, RuntimeKind, UpOptions,
};
use super::docker::DockerRuntime;
use super::error::{NetError, RuntimeError};
use super::external::ExternalRuntime;
use super::netns::NetNs;
use super::process::ProcessRuntime;
use super::swarm::SwarmRuntime;
use crate::net::links::LinkSample;
use crate::net::{Applied, Grudge};
use crate::topology::{Link, NodeSpec, Topology};

/// How long a node started by [`Runtime::add_node`] may take to answer PING:
/// the same order as a whole `up` of one node, with room for a busy machine.
pub const ADD_NODE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Environment variable naming the runtime when no `--runtime` flag is given.
pub const RUNTIME_ENV: &str = "REDIS_DRILL_RUNTIME";

/// The runtime a command works with: a backend behind one handle, so that
/// callers hold a `Runtime` whatever runs the nodes.
pub struct Runtime {
    backend: Box<dyn Backend>,
}

impl<B: Backend + 'static> From<B> for Runtime {
    fn from(backend: B) -> Runtime {
        Runtime {
            backend: Box::new(backend),
        }
    }
}

impl Runtime {
    /// Choose the runtime: the flag, then `REDIS_DRILL_RUNTIME`, then docker when an
    /// engine answers, else process with a one-line notice.
    pub async fn select(flag: Option<RuntimeKind>) -> Result<Runtime, RuntimeError> {
        match Runtime::chosen(flag)? {
            Some(RuntimeKind::Docker) => Ok(DockerRuntime::connect().await?.into()),
            Some(RuntimeKind::Process) => Ok(ProcessRuntime::new()?.into()),
            Some(RuntimeKind::External) => Ok(ExternalRuntime::new().into()),
            Some(RuntimeKind::Swarm) => Ok(SwarmRuntime::connect().await?.into()),
            None => match DockerRuntime::connect().await {
                Ok(d) => Ok(d.into()),
                Err(e) => {
                    crate::note!(
                        "notice: {e}; using the process runtime (set --runtime or {RUNTIME_ENV} to choose)"
                    );
                    Ok(ProcessRuntime::new()?.into())
                }
            },
        }
    }

    /// The runtime `flag` or [`RUNTIME_ENV`] names, if either does (`None`:
    /// Docker when it answers, else the process runtime).
    pub fn chosen(flag: Option<RuntimeKind>) -> Result<Option<RuntimeKind>, RuntimeError> {
        Ok(match flag {
            Some(kind) => Some(kind),
            None => match std::env::var(RUNTIME_ENV) {
                Ok(v) if !v.is_empty() => Some(v.parse()?),
                _ => None,
            },
        })
    }

    /// Every runtime that answers here, for commands that search for a
    /// topology already up (`status`, `down`, node commands) rather than
    /// start one: a new backend adds its arm here and the CLI finds its runs.
    pub async fn available() -> Vec<Runtime> {
        let mut out: Vec<Runtime> = Vec::new();
        if let Ok(d) = DockerRuntime::connect().await {
            out.push(d.into());
        }
        if let Ok(p) = ProcessRuntime::new() {
            out.push(p.into());
        }
        // A swarm only when an engines file is there (the lab's, or
        // REDIS_DRILL_ENGINES): a missing one is no reason to warn.
        if crate::runtime::swarm::engines::path().exists() {
            match SwarmRuntime::connect().await {
                Ok(s) => out.push(s.into()),
                Err(e) => tracing::debug!("the swarm runtime is not available: {e}"),
            }
        }
        out.push(ExternalRuntime::new().into());
        out
    }

    /// Which backend runs the nodes.
    pub fn kind(&self) -> RuntimeKind {
        self.backend.kind()
    }

    /// Start every node of `topology` and wait until each answers PING. On any
    /// error the caller must call [`Runtime::remove_run`] with the run id.
    pub async fn up(
        &self,
        topology: &Topology,
        opts: &UpOptions,
        cancel: &CancellationToken,
    ) -> Result<Deployment, RuntimeError> {
        self.backend.up(topology, opts, cancel).await
    }

    /// Make `d`'s network faults exactly `grudge` ([`crate::net::Net::partition`]):
    /// each node drops the packets of the peers it holds a grudge against,
    /// silently, and whatever an earlier call cut that `grudge` does not
    /// name is lifted. An empty grudge heals. Only node-to-node traffic is
    /// cut, and the controller's clients keep reaching every node — unless
    /// the grudge names [`crate::net::grudge::CLIENTS`] (the `clients`
    /// shape), which cuts the drill's own clients off too.
    pub async fn partition(&self, d: &Deployment, grudge: &Grudge) -> Result<Applied, NetError> {
        let started = Instant::now();
        let mut applied = self.backend.partition(d, grudge).await?;
        applied.elapsed = started.elapsed();
        tracing::info!(
            deployment = %d.name,
            grudge = %grudge.describe(),
            rules = applied.rules,
            elapsed_ms = applied.elapsed.as_millis() as u64,
            spread_ms = applied.spread.as_millis() as u64,
            "partition applied"
        );
        Ok(applied)
    }

    /// Lift every network fault of `d`; nodes that are not running are skipped.
    pub async fn heal(&self, d: &Deployment) -> Result<Applied, NetError> {
        let started = Instant::now();
        let mut healed = self.backend.heal(d).await?;
        healed.elapsed = started.elapsed();
        tracing::info!(
            deployment = %d.name,
            elapsed_ms = healed.elapsed.as_millis() as u64,
            "partition healed"
        );
        Ok(healed)
    }

    /// Whether [`Runtime::partition`] can work on `d` here, and if not, why
    /// (not root, no iptables in an image, no NET_ADMIN).
    pub async fn can_partition(&self, d: &Deployment) -> Result<(), NetError> {
        self.backend.can_partition(d).await
    }

    /// Where the workload's clients should open their sockets: a network
    /// namespace from which the nodes' own addresses are reachable (Docker:
    /// the run's `clients` container's, created when missing), or `None`
    /// where the host reaches them already (process).
    pub async fn client_namespace(&self, d: &Deployment) -> Result<Option<NetNs>, RuntimeError> {
        self.backend.client_namespace(d).await
    }

    /// Where the clients of `region` live: on Docker, the network
    /// namespace of the region's clients container (created, with its relay
    /// of the links, when missing); on the process runtime, the region's
    /// client address on the host, to bind their sockets to.
    pub async fn region_place(
        &self,
        d: &Deployment,
        region: &str,
    ) -> Result<ClientOrigin, RuntimeError> {
        self.backend.region_place(d, region).await
    }

    /// A worker on a host of `region` (the swarm runtime; the others refuse).
    pub async fn worker(
        &self,
        d: &Deployment,
        region: &str,
    ) -> Result<std::sync::Arc<dyn crate::workload::adapter::Remote>, RuntimeError> {
        self.backend.worker(d, region).await
    }

    /// Change `d`'s links at run time (the `slow` fault): `links` are the
    /// declared ones, in their order, with other figures. Heal gives the
    /// declared ones back.
    pub async fn set_links(&self, d: &Deployment, links: &[Link]) -> Result<(), RuntimeError> {
        self.backend
            .set_links(d, links)
            .await
            .map_err(NetError::into_runtime)
    }

    /// Measure every link of `d` the way its nodes' traffic crosses it
    /// ([`super::links::measure`]), from wherever the backend's nodes send.
    pub async fn measure_links(
        &self,
        d: &Deployment,
        cancel: &CancellationToken,
    ) -> Vec<LinkSample> {
        if d.topology.links.is_empty() {
            return Vec::new();
        }
        self.backend.measure_links(d, cancel).await
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
        self.backend
            .add_node(d, spec, ADD_NODE_TIMEOUT, cancel)
            .await
    }

    /// Remove one node of a deployment — its container, or its process and
    /// directory — and forget it. Undoes [`Runtime::add_node`]; idempotent.
    pub async fn remove_node(&self, d: &Deployment, node: &str) -> Result<Removed, RuntimeError> {
        tracing::info!(node, deployment = %d.name, "remove node");
        self.backend.remove_node(d, node).await
    }

    /// The deployment with this name, if it is up.
    pub async fn find(&self, name: &str) -> Result<Option<Deployment>, RuntimeError> {
        self.backend.find(name).await
    }

    /// Every deployment this runtime has up.
    pub async fn list(&self) -> Result<Vec<Deployment>, RuntimeError> {
        self.backend.list().await
    }

    /// Remove everything labelled with `run_id`. Idempotent.
    pub async fn remove_run(&self, run_id: &str) -> Result<Removed, RuntimeError> {
        self.backend.remove_run(run_id).await
    }

    /// Remove everything redis-drill created on this runtime.
    pub async fn remove_all(&self) -> Result<Removed, RuntimeError> {
        self.backend.remove_all().await
    }

    /// Apply a node action (kill, stop, start, restart, pause, resume).
    pub async fn node_action(
        &self,
        deployment: &Deployment,
        node: &str,
        action: NodeAction,
    ) -> Result<(), RuntimeError> {
        let node = deployment.member(node)?;
        tracing::info!(node = %node.name, %action, "node action");
        self.backend.node_action(deployment, node, action).await
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
        self.backend.exec(deployment, node, cmd).await
    }

    /// The last `tail` lines of the node's log.
    pub async fn logs(
        &self,
        deployment: &Deployment,
        node: &str,
        tail: usize,
    ) -> Result<String, RuntimeError> {
        let node = deployment.member(node)?;
        self.backend.logs(deployment, node, tail).await
    }

    /// `redis-cli` arguments that reach `node` from where `exec` runs (inside the
    /// container: its own port; on the host: its loopback address).
    pub fn redis_cli_target(&self, node: &DeployedNode) -> (String, u16) {
        self.backend.redis_cli_target(node)
    }
}
