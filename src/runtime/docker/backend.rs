//! The docker backend behind the two protocols: [`Backend`] (nodes as
//! containers) and [`Net`] (partitions as each node's own filter table,
//! links as a relay in each node's namespace). Each method hands over to
//! the file of this folder that does the work.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::engine::{DockerRuntime, region_clients_name};
use super::partitions::client_sources;
use crate::net::links::LinkSample;
use crate::net::{Applied, Grudge, Net};
use crate::runtime::backend::{Backend, ClientOrigin};
use crate::runtime::deployment::{
    DeployedNode, Deployment, ExecOutput, NodeAction, Removed, RuntimeKind, UpOptions,
};
use crate::runtime::drops::resolve;
use crate::runtime::error::{NetError, RuntimeError};
use crate::runtime::links::{Origins, measure};
use crate::runtime::netns::NetNs;
use crate::topology::{Link, NodeSpec, Topology};

impl Net for DockerRuntime {
    type Deployment = Deployment;
    type Error = NetError;

    /// The clients' side is not a container: the node's INPUT rule stops
    /// their requests, so nothing comes back to them either.
    fn partition<'a>(
        &'a self,
        d: &'a Deployment,
        grudge: &'a Grudge,
    ) -> BoxFuture<'a, Result<Applied, NetError>> {
        async move {
            let peers = resolve(d, grudge, &client_sources(d))?;
            self.write_partitions(d, &peers).await
        }
        .boxed()
    }

    /// Every node's and Sentinel's table written empty; one not running has
    /// no rules.
    fn heal<'a>(&'a self, d: &'a Deployment) -> BoxFuture<'a, Result<Applied, NetError>> {
        async move {
            let empty: Vec<_> = (d.nodes.iter())
                .chain(&d.sentinels)
                .map(|n| (n.name.clone(), Vec::new()))
                .collect();
            self.write_partitions(d, &empty).await
        }
        .boxed()
    }

    fn can_partition<'a>(&'a self, d: &'a Deployment) -> BoxFuture<'a, Result<(), NetError>> {
        self.probe_partitions(d).boxed()
    }

    /// Every node's relay, and every region's clients' relay, told the new
    /// links.
    fn set_links<'a>(
        &'a self,
        d: &'a Deployment,
        links: &'a [Link],
    ) -> BoxFuture<'a, Result<(), NetError>> {
        async move {
            let clients: Vec<(String, String)> = d
                .topology
                .regions
                .iter()
                .map(|g| {
                    let handle = region_clients_name(&d.run_id, &g.name);
                    (format!("the clients of {}", g.name), handle)
                })
                .collect();
            super::links::set(&self.docker, d, &clients, links).await?;
            Ok(())
        }
        .boxed()
    }

    /// From inside each node's network namespace, whose own rules send the
    /// measuring connection to its relay.
    fn measure_links<'a>(
        &'a self,
        d: &'a Deployment,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Vec<LinkSample>> {
        async move {
            let mut ns = BTreeMap::new();
            for n in &d.nodes {
                match self.node_namespace(n).await {
                    Ok(x) => {
                        ns.insert(n.name.clone(), Arc::new(x));
                    }
                    Err(e) => {
                        tracing::warn!(node = %n.name, "no namespace to measure from: {e}")
                    }
                }
            }
            measure(d, &Origins::Namespaces(ns), cancel).await
        }
        .boxed()
    }
}

impl Backend for DockerRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Docker
    }

    fn up<'a>(
        &'a self,
        topology: &'a Topology,
        opts: &'a UpOptions,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Deployment, RuntimeError>> {
        DockerRuntime::up(self, topology, opts, cancel).boxed()
    }

    fn add_node<'a>(
        &'a self,
        d: &'a Deployment,
        spec: NodeSpec,
        timeout: Duration,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Deployment, RuntimeError>> {
        DockerRuntime::add_node(self, d, spec, timeout, cancel).boxed()
    }

    fn remove_node<'a>(
        &'a self,
        d: &'a Deployment,
        node: &'a str,
    ) -> BoxFuture<'a, Result<Removed, RuntimeError>> {
        DockerRuntime::remove_node(self, d, node).boxed()
    }

    fn find<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Deployment>, RuntimeError>> {
        DockerRuntime::find(self, name).boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Deployment>, RuntimeError>> {
        DockerRuntime::list(self).boxed()
    }

    fn remove_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<Removed, RuntimeError>> {
        DockerRuntime::remove_run(self, run_id).boxed()
    }

    fn remove_all(&self) -> BoxFuture<'_, Result<Removed, RuntimeError>> {
        DockerRuntime::remove_all(self).boxed()
    }

    fn node_action<'a>(
        &'a self,
        d: &'a Deployment,
        node: &'a DeployedNode,
        action: NodeAction,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        DockerRuntime::node_action(self, d, node, action).boxed()
    }

    fn exec<'a>(
        &'a self,
        _d: &'a Deployment,
        node: &'a DeployedNode,
        cmd: &'a [String],
    ) -> BoxFuture<'a, Result<ExecOutput, RuntimeError>> {
        DockerRuntime::exec(self, node, cmd).boxed()
    }

    fn logs<'a>(
        &'a self,
        _d: &'a Deployment,
        node: &'a DeployedNode,
        tail: usize,
    ) -> BoxFuture<'a, Result<String, RuntimeError>> {
        DockerRuntime::logs(self, node, tail).boxed()
    }

    /// The run's `clients` container's namespace (created when missing),
    /// from which the nodes' own addresses are reachable without
    /// docker-proxy.
    fn client_namespace<'a>(
        &'a self,
        d: &'a Deployment,
    ) -> BoxFuture<'a, Result<Option<NetNs>, RuntimeError>> {
        async move { DockerRuntime::client_namespace(self, d).await.map(Some) }.boxed()
    }

    /// The namespace of the region's clients container (created, with its
    /// relay of the links, when missing).
    fn region_place<'a>(
        &'a self,
        d: &'a Deployment,
        region: &'a str,
    ) -> BoxFuture<'a, Result<ClientOrigin, RuntimeError>> {
        async move {
            let ns = self.region_namespace(d, region).await?;
            Ok((Some(ns), None))
        }
        .boxed()
    }

    /// Inside the container: its own port on its loopback.
    fn redis_cli_target(&self, node: &DeployedNode) -> (String, u16) {
        ("127.0.0.1".into(), node.announce.port())
    }
}
