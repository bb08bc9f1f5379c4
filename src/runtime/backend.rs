//! The runtime protocol: what a backend (Docker, local processes, several
//! Docker engines in a swarm) must do to run a topology's nodes. A backend
//! implements [`Backend`] and the network protocol [`crate::net::Net`] on
//! one type, and the [`super::Runtime`] handle holds it as a trait object:
//! callers never learn which backend they talk to, and a new backend plugs
//! in without touching them.
//!
//! Methods return boxed futures (`futures::future::BoxFuture`) rather than
//! being `async fn`s, so that `dyn Backend` is a type: the backend is chosen
//! at run time (`--runtime`, the environment, whether an engine answers).

use std::net::IpAddr;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::deployment::{
    DeployedNode, Deployment, ExecOutput, NodeAction, Removed, RuntimeKind, UpOptions,
};
use super::error::{NetError, RuntimeError};
use super::netns::NetNs;
use crate::net::Net;
use crate::topology::{NodeSpec, Topology};

/// Where the clients of one region live: a network namespace to join (a
/// backend whose nodes sit on a network of their own), or a source address
/// to bind their sockets to (a backend whose nodes share the host's
/// loopback), or both.
pub type ClientOrigin = (Option<NetNs>, Option<IpAddr>);

/// One way of running nodes. Every method works from the [`Deployment`]
/// alone, so that a later invocation (`status`, `down`, `kill`) can act on
/// what an earlier one brought up.
pub trait Backend: Net<Deployment = Deployment, Error = NetError> + Send + Sync {
    /// Which backend this is, as the topology and the CLI name it.
    fn kind(&self) -> RuntimeKind;

    /// Start every node of `topology` and wait until each answers PING. On
    /// any error the caller removes the run by its id.
    fn up<'a>(
        &'a self,
        topology: &'a Topology,
        opts: &'a UpOptions,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Deployment, RuntimeError>>;

    /// Start the node `spec` in the running `d`, wait up to `timeout` for
    /// PING, and record it so that [`Backend::find`] returns the grown
    /// deployment; on error leave nothing of it behind.
    fn add_node<'a>(
        &'a self,
        d: &'a Deployment,
        spec: NodeSpec,
        timeout: Duration,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Deployment, RuntimeError>>;

    /// Remove one node of `d` and forget it; idempotent.
    fn remove_node<'a>(
        &'a self,
        d: &'a Deployment,
        node: &'a str,
    ) -> BoxFuture<'a, Result<Removed, RuntimeError>>;

    /// The deployment with this name, if it is up.
    fn find<'a>(&'a self, name: &'a str)
    -> BoxFuture<'a, Result<Option<Deployment>, RuntimeError>>;

    /// Every deployment this backend has up.
    fn list(&self) -> BoxFuture<'_, Result<Vec<Deployment>, RuntimeError>>;

    /// Remove everything of the run `run_id`, its network rules included.
    /// Idempotent: every exit path calls it.
    fn remove_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<Removed, RuntimeError>>;

    /// Remove everything redis-drill made with this backend (`down --all`).
    fn remove_all(&self) -> BoxFuture<'_, Result<Removed, RuntimeError>>;

    /// Kill, stop, start, restart, pause or resume one node; a started node
    /// answers PING (and has its links again) when this returns.
    fn node_action<'a>(
        &'a self,
        d: &'a Deployment,
        node: &'a DeployedNode,
        action: NodeAction,
    ) -> BoxFuture<'a, Result<(), RuntimeError>>;

    /// Run `cmd` in the node's environment (its container, or the host).
    fn exec<'a>(
        &'a self,
        d: &'a Deployment,
        node: &'a DeployedNode,
        cmd: &'a [String],
    ) -> BoxFuture<'a, Result<ExecOutput, RuntimeError>>;

    /// The last `tail` lines of the node's log.
    fn logs<'a>(
        &'a self,
        d: &'a Deployment,
        node: &'a DeployedNode,
        tail: usize,
    ) -> BoxFuture<'a, Result<String, RuntimeError>>;

    /// Where the workload's clients open their sockets: a network namespace
    /// from which the nodes' own addresses are reachable, or `None` when the
    /// host reaches them already.
    fn client_namespace<'a>(
        &'a self,
        d: &'a Deployment,
    ) -> BoxFuture<'a, Result<Option<NetNs>, RuntimeError>>;

    /// Where the clients of `region` live ([`ClientOrigin`]), so that their traffic
    /// crosses the region's links as the nodes' does.
    fn region_place<'a>(
        &'a self,
        d: &'a Deployment,
        region: &'a str,
    ) -> BoxFuture<'a, Result<ClientOrigin, RuntimeError>>;

    /// `redis-cli` host and port that reach `node` from where
    /// [`Backend::exec`] runs.
    fn redis_cli_target(&self, node: &DeployedNode) -> (String, u16);

    /// A worker on a host of `region`: the tool's own adapter, run there,
    /// for a client group with a `region:`. Only the swarm runtime has
    /// other hosts.
    fn worker<'a>(
        &'a self,
        _d: &'a Deployment,
        region: &'a str,
    ) -> BoxFuture<'a, Result<std::sync::Arc<dyn crate::workload::adapter::Remote>, RuntimeError>>
    {
        let why = format!(
            "clients: a group with `region: {region}` runs as a worker on that region's host, which needs the swarm runtime (--runtime swarm); on one machine, put clients in regions with workload.regions"
        );
        Box::pin(async move { Err(RuntimeError::BadInput(why)) })
    }
}
