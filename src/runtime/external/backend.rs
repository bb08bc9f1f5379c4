//! The external backend behind the two protocols. It reaches the nodes at
//! their own addresses from the host and never acts on them: node actions,
//! partitions and links refuse, naming the hook that would do it
//! (`docs/attach.md`); the nemesis runs the user's hooks before it would
//! ask here.

use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::engine::ExternalRuntime;
use crate::net::links::LinkSample;
use crate::net::{Applied, Grudge, Net};
use crate::runtime::backend::{Backend, ClientOrigin};
use crate::runtime::deployment::{
    DeployedNode, Deployment, ExecOutput, NodeAction, Removed, RuntimeKind, UpOptions,
};
use crate::runtime::error::{NetError, RuntimeError};
use crate::runtime::netns::NetNs;
use crate::topology::{Link, NodeSpec, Topology};

/// Why `what` cannot be done to an attached deployment, and the way that can.
pub fn refusal(what: &str, hook: &str) -> String {
    format!(
        "{what} on an attached deployment: redis-drill never starts, stops or rewires a server it did not start; \
         give a `{hook}` hook (--hooks FILE, see docs/attach.md)"
    )
}

fn refuse<T: Send + 'static>(
    what: &str,
    hook: &str,
) -> BoxFuture<'static, Result<T, RuntimeError>> {
    let e = RuntimeError::BadInput(refusal(what, hook));
    async move { Err(e) }.boxed()
}

/// A partition refused: only a `partition` hook cuts an attached deployment.
fn no_partitions<T: Send + 'static>() -> BoxFuture<'static, Result<T, NetError>> {
    let e = NetError::Unsupported(refusal("a partition", "partition"));
    async move { Err(e) }.boxed()
}

impl Net for ExternalRuntime {
    type Deployment = Deployment;
    type Error = NetError;

    fn partition<'a>(
        &'a self,
        _d: &'a Deployment,
        _grudge: &'a Grudge,
    ) -> BoxFuture<'a, Result<Applied, NetError>> {
        no_partitions()
    }

    /// Nothing of the tool's is in force on an attached deployment.
    fn heal<'a>(&'a self, d: &'a Deployment) -> BoxFuture<'a, Result<Applied, NetError>> {
        let none = Applied::none(d.nodes.len());
        async move { Ok(none) }.boxed()
    }

    fn can_partition<'a>(&'a self, _d: &'a Deployment) -> BoxFuture<'a, Result<(), NetError>> {
        no_partitions()
    }

    fn set_links<'a>(
        &'a self,
        _d: &'a Deployment,
        _links: &'a [Link],
    ) -> BoxFuture<'a, Result<(), NetError>> {
        let e = NetError::Unsupported(
            "links between regions on an attached deployment: its network is its own".into(),
        );
        async move { Err(e) }.boxed()
    }

    /// An attached deployment declares no links.
    fn measure_links<'a>(
        &'a self,
        _d: &'a Deployment,
        _cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Vec<LinkSample>> {
        async { Vec::new() }.boxed()
    }
}

impl Backend for ExternalRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::External
    }

    /// Nothing is brought up: a deployment is attached (`crate::attach`).
    fn up<'a>(
        &'a self,
        _topology: &'a Topology,
        _opts: &'a UpOptions,
        _cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Deployment, RuntimeError>> {
        let e = RuntimeError::BadInput(
            "the external runtime brings nothing up: attach a running deployment with `redis-drill attach HOST:PORT,...` or `run --attach`".into(),
        );
        async move { Err(e) }.boxed()
    }

    fn add_node<'a>(
        &'a self,
        _d: &'a Deployment,
        _spec: NodeSpec,
        _timeout: Duration,
        _cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Deployment, RuntimeError>> {
        refuse("adding a node", "add-node")
    }

    fn remove_node<'a>(
        &'a self,
        _d: &'a Deployment,
        _node: &'a str,
    ) -> BoxFuture<'a, Result<Removed, RuntimeError>> {
        refuse("removing a node", "remove-node")
    }

    fn find<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Deployment>, RuntimeError>> {
        async move { ExternalRuntime::find(self, name) }.boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Deployment>, RuntimeError>> {
        async move { ExternalRuntime::list(self) }.boxed()
    }

    /// Forget the run; its servers are left as they are.
    fn remove_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<Removed, RuntimeError>> {
        async move { self.forget(run_id) }.boxed()
    }

    fn remove_all(&self) -> BoxFuture<'_, Result<Removed, RuntimeError>> {
        async move { self.forget_all() }.boxed()
    }

    fn node_action<'a>(
        &'a self,
        _d: &'a Deployment,
        node: &'a DeployedNode,
        action: NodeAction,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let what = format!("`{action}` of node {}", node.name);
        refuse(&what, &action.to_string())
    }

    /// On the host: `redis-cli` reaches the node at its own address.
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
        _d: &'a Deployment,
        node: &'a DeployedNode,
        _tail: usize,
    ) -> BoxFuture<'a, Result<String, RuntimeError>> {
        let e = RuntimeError::BadInput(format!(
            "node {} is attached: its log is where its server runs, out of redis-drill's reach",
            node.name
        ));
        async move { Err(e) }.boxed()
    }

    /// None: the host reaches the nodes at their own addresses.
    fn client_namespace<'a>(
        &'a self,
        _d: &'a Deployment,
    ) -> BoxFuture<'a, Result<Option<NetNs>, RuntimeError>> {
        async { Ok(None) }.boxed()
    }

    /// Every client on the host: an attached deployment has no regions of
    /// the tool's making.
    fn region_place<'a>(
        &'a self,
        _d: &'a Deployment,
        region: &'a str,
    ) -> BoxFuture<'a, Result<ClientOrigin, RuntimeError>> {
        let e = RuntimeError::BadInput(format!(
            "region `{region}`: clients placed in regions need a topology the tool started"
        ));
        async move { Err(e) }.boxed()
    }

    fn redis_cli_target(&self, node: &DeployedNode) -> (String, u16) {
        (node.addr.ip().to_string(), node.addr.port())
    }
}
