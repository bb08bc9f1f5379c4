//! The process backend behind the two protocols: [`Backend`] (nodes as
//! redis-server processes on loopback) and [`Net`] (partitions and links as
//! the host's iptables chains of the run, links through the run's relay
//! process). Each method hands over to the file of this folder that does
//! the work.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::engine::ProcessRuntime;
use super::{links, partitions};
use crate::net::grudge::CLIENTS;
use crate::net::links::LinkSample;
use crate::net::{Applied, Grudge, Net};
use crate::runtime::backend::{Backend, ClientOrigin};
use crate::runtime::deployment::{
    DeployedNode, Deployment, ExecOutput, MAX_CLIENT_REGIONS, NodeAction, Removed, RuntimeKind,
    UpOptions,
};
use crate::runtime::drops::resolve;
use crate::runtime::error::{NetError, RuntimeError};
use crate::runtime::links::{Origins, measure};
use crate::runtime::netns::NetNs;
use crate::topology::{Link, NodeSpec, Topology};

/// The source of the drill's own connections on this backend: the host's
/// 127.0.0.1, from which the workload, the lock workload and the controller
/// connect to the nodes' own loopback addresses.
const CLIENT_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

impl Net for ProcessRuntime {
    type Deployment = Deployment;
    type Error = NetError;

    /// On the host both directions can be cut: a grudge naming the clients
    /// drops the nodes' replies to them too.
    fn partition<'a>(
        &'a self,
        d: &'a Deployment,
        grudge: &'a Grudge,
    ) -> BoxFuture<'a, Result<Applied, NetError>> {
        async move {
            let peers = resolve(d, grudge, &[CLIENT_SOURCE])?;
            let to_clients: Vec<(IpAddr, IpAddr)> = grudge
                .drops_from(CLIENTS)
                .filter_map(|from| d.nodes.iter().find(|n| n.name == from))
                .map(|n| (n.announce.ip(), CLIENT_SOURCE))
                .collect();
            partitions::write(d, &peers, &to_clients).await
        }
        .boxed()
    }

    fn heal<'a>(&'a self, d: &'a Deployment) -> BoxFuture<'a, Result<Applied, NetError>> {
        partitions::heal(d).boxed()
    }

    fn can_partition<'a>(&'a self, d: &'a Deployment) -> BoxFuture<'a, Result<(), NetError>> {
        async move {
            partitions::preflight().await?;
            if !partitions::sentinels_sourced(d).await? {
                // Each node sends from its own address; a Redis 7.0
                // Sentinel sends from 127.0.0.1 unless the nat table gives
                // its uid's packets its address (set up at bring-up, as root).
                return Err(NetError::Unsupported(
                    "this run's Sentinels send from 127.0.0.1 (they were started without the nat rule that gives each its own address: not as root, or iptables failed; see the bring-up's warning), so no host rule can cut one off alone".into(),
                ));
            }
            Ok(())
        }
        .boxed()
    }

    /// The run's relay told the new links.
    fn set_links<'a>(
        &'a self,
        d: &'a Deployment,
        new: &'a [Link],
    ) -> BoxFuture<'a, Result<(), NetError>> {
        async move { Ok(links::set(&self.run_dir_of(d), new)?) }.boxed()
    }

    /// From each node's own loopback address, which the host's rules match.
    fn measure_links<'a>(
        &'a self,
        d: &'a Deployment,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Vec<LinkSample>> {
        measure(d, &Origins::Address, cancel).boxed()
    }
}

impl Backend for ProcessRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Process
    }

    fn up<'a>(
        &'a self,
        topology: &'a Topology,
        opts: &'a UpOptions,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Deployment, RuntimeError>> {
        ProcessRuntime::up(self, topology, opts, cancel).boxed()
    }

    fn add_node<'a>(
        &'a self,
        d: &'a Deployment,
        spec: NodeSpec,
        timeout: Duration,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Deployment, RuntimeError>> {
        ProcessRuntime::add_node(self, d, spec, timeout, cancel).boxed()
    }

    fn remove_node<'a>(
        &'a self,
        d: &'a Deployment,
        node: &'a str,
    ) -> BoxFuture<'a, Result<Removed, RuntimeError>> {
        async move { ProcessRuntime::remove_node(self, d, node) }.boxed()
    }

    fn find<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Deployment>, RuntimeError>> {
        async move { ProcessRuntime::find(self, name) }.boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Deployment>, RuntimeError>> {
        async move { ProcessRuntime::list(self) }.boxed()
    }

    fn remove_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<Removed, RuntimeError>> {
        async move { ProcessRuntime::remove_run(self, run_id) }.boxed()
    }

    fn remove_all(&self) -> BoxFuture<'_, Result<Removed, RuntimeError>> {
        async move { ProcessRuntime::remove_all(self) }.boxed()
    }

    fn node_action<'a>(
        &'a self,
        d: &'a Deployment,
        node: &'a DeployedNode,
        action: NodeAction,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        ProcessRuntime::node_action(self, d, node, action).boxed()
    }

    fn exec<'a>(
        &'a self,
        _d: &'a Deployment,
        _node: &'a DeployedNode,
        cmd: &'a [String],
    ) -> BoxFuture<'a, Result<ExecOutput, RuntimeError>> {
        crate::runtime::host::exec(cmd).boxed()
    }

    fn logs<'a>(
        &'a self,
        d: &'a Deployment,
        node: &'a DeployedNode,
        tail: usize,
    ) -> BoxFuture<'a, Result<String, RuntimeError>> {
        async move { ProcessRuntime::logs(self, d, node, tail) }.boxed()
    }

    /// None: the nodes listen on the host's loopback already.
    fn client_namespace<'a>(
        &'a self,
        _d: &'a Deployment,
    ) -> BoxFuture<'a, Result<Option<NetNs>, RuntimeError>> {
        async { Ok(None) }.boxed()
    }

    /// The region's client address on the host, to bind sockets to.
    fn region_place<'a>(
        &'a self,
        d: &'a Deployment,
        region: &'a str,
    ) -> BoxFuture<'a, Result<ClientOrigin, RuntimeError>> {
        let place = match d.client_addr(region) {
            Some(ip) => Ok((None, Some(ip))),
            None => Err(RuntimeError::BadInput(format!(
                "region `{region}` can have no clients here (an unknown region, or past the first {MAX_CLIENT_REGIONS})"
            ))),
        };
        async move { place }.boxed()
    }

    /// On the host: the node's own loopback address.
    fn redis_cli_target(&self, node: &DeployedNode) -> (String, u16) {
        (node.addr.ip().to_string(), node.addr.port())
    }
}
