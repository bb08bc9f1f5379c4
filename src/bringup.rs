//! `up` end to end: the runtime starts the nodes, then the topology is made
//! whole — a cluster created and converged, replicas attached — and timed.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::cluster::conn::{NodeConn, parse_info};
use crate::cluster::{self, AddressMap, ClusterError, ConnectOptions, Member};
use crate::exit::Class;
use crate::runtime::{DeployedNode, Deployment, Runtime, RuntimeError, RuntimeKind, UpOptions};
use crate::status::{self, StatusReport};
use crate::topology::{Kind, Topology};

/// Why `up` or `add-node` failed: the runtime's or the cluster admin's error,
/// with its exit-code class.
#[derive(Debug, thiserror::Error)]
pub enum BringupError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("failed to {}", cluster::error::error_chain(.0))]
    Cluster(#[from] ClusterError),
    /// redis-drill itself panicked half-way; what it had started is removed.
    #[error("redis-drill panicked ({0}); the half-added node was removed")]
    Panicked(String),
}

impl BringupError {
    /// What kind of failure this is (the CLI maps it to an exit code). A
    /// cluster that cannot be made from a topology that validated is not the
    /// user's input at fault (even a `Plan` error): the environment.
    pub fn class(&self) -> Class {
        match self {
            BringupError::Runtime(e) => e.class(),
            BringupError::Cluster(e) if e.is_cancelled() => Class::Interrupted,
            BringupError::Cluster(_) | BringupError::Panicked(_) => Class::Environment,
        }
    }
}

/// Fault injection into redis-drill itself, for tests of its own cleanup:
/// `panic-after-nodes` panics once the nodes run, before the cluster is made;
/// `panic-after-add-node` once an added node runs, `panic-after-join` once it
/// has joined the cluster.
pub const INJECT_ENV: &str = "REDIS_DRILL_INJECT";

/// How long each stage of `up` took.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timings {
    /// Start of `up` until every node answered PING.
    pub nodes_ready_ms: u64,
    /// Cluster creation (slots, MEET, replicas) until converged; 0 for other kinds.
    pub cluster_create_ms: u64,
    /// Of which: from its start until every node knew every other (slots
    /// assigned, every pair MEETs, the handshakes done); 0 for other kinds.
    #[serde(default)]
    pub meet_ms: u64,
    /// Of which: the rest, replicas attached and waiting until every node
    /// reports the same slot map, cluster_state:ok and every replica linked.
    pub converge_ms: u64,
    /// The whole `up`.
    pub total_ms: u64,
}

/// What `up` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpReport {
    /// The deployment's name.
    pub name: String,
    /// Its run id, for cleanup by hand.
    pub run_id: String,
    /// Which backend runs it.
    pub runtime: RuntimeKind,
    /// How long each phase took.
    pub timings: Timings,
    /// The topology as it stands afterwards.
    pub status: StatusReport,
}

impl UpReport {
    /// The report as the terminal shows it.
    pub fn render_text(&self) -> String {
        let t = &self.timings;
        let mut s = format!(
            "{} is up on {} in {} ms (nodes ready {} ms, cluster created and converged {} ms)\n\n",
            self.name, self.runtime, t.total_ms, t.nodes_ready_ms, t.cluster_create_ms
        );
        s.push_str(&self.status.render_text());
        s.push_str(&format!(
            "\ntake it down with: redis-drill down --name {}\n",
            self.name
        ));
        s
    }
}

/// The cluster members of a deployment, for the cluster admin.
pub fn members(d: &Deployment) -> Vec<Member> {
    d.nodes
        .iter()
        .filter_map(|n| {
            let spec = d.spec(&n.name)?;
            Some(Member {
                name: n.name.clone(),
                addr: n.addr,
                announce: n.announce,
                bus_port: n.bus_port,
                replica_of: spec.replica_of.clone(),
                slots: spec.slots.clone(),
            })
        })
        .collect()
}

/// The deployment's Sentinels as members (no bus, no slots), for
/// [`AddressMap::with_sentinels`](crate::cluster::AddressMap::with_sentinels).
pub fn sentinel_members(d: &Deployment) -> Vec<Member> {
    (d.sentinels.iter())
        .map(|n| Member {
            name: n.name.clone(),
            addr: n.addr,
            announce: n.announce,
            bus_port: 0,
            replica_of: None,
            slots: Vec::new(),
        })
        .collect()
}

/// Bring `topology` up and make it whole. On error the caller removes the run.
pub async fn up(
    rt: &Runtime,
    topology: &Topology,
    opts: &UpOptions,
    cancel: &CancellationToken,
) -> Result<(Deployment, UpReport), BringupError> {
    let started = Instant::now();
    let d = rt.up(topology, opts, cancel).await?;
    let nodes_ready = started.elapsed();
    // Lets the tests prove that a panic half-way still removes everything.
    if std::env::var(INJECT_ENV).as_deref() == Ok("panic-after-nodes") {
        panic!("{INJECT_ENV}=panic-after-nodes");
    }
    let (create, meet, converge) = match topology.kind {
        Kind::Cluster => {
            let members = members(&d);
            let copts = cluster::ConvergeOptions::new(opts.timeout, cancel.clone());
            let report = cluster::create(&members, &copts).await?;
            (
                report.total,
                report.all_known,
                report.converged.saturating_sub(report.all_known),
            )
        }
        Kind::Replicated => {
            let t = Instant::now();
            wait_replication(&d, opts.timeout, cancel).await?;
            if let Some(s) = &topology.sentinel {
                wait_sentinels(&d, s, opts.timeout, cancel).await?;
            }
            (t.elapsed(), Duration::ZERO, t.elapsed())
        }
        Kind::Standalone => (Duration::ZERO, Duration::ZERO, Duration::ZERO),
    };
    let total = started.elapsed();
    let status = status::collect(&d).await;
    let report = UpReport {
        name: d.name.clone(),
        run_id: d.run_id.clone(),
        runtime: d.runtime,
        timings: Timings {
            nodes_ready_ms: ms(nodes_ready),
            cluster_create_ms: ms(create),
            meet_ms: ms(meet),
            converge_ms: ms(converge),
            total_ms: ms(total),
        },
        status,
    };
    Ok((d, report))
}

/// How long `add-node` may take to make the new node part of the cluster:
/// converging takes ~2 s (a new primary's writable delay) and at worst 5 s
/// more (its rejoin delay), so this leaves room for a loaded machine.
pub const ADD_NODE_CLUSTER_TIMEOUT: Duration = Duration::from_secs(60);

/// How long each stage of `add-node` took.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddTimings {
    /// Start until the new node answered PING.
    pub node_ready_ms: u64,
    /// From then until every node knew every other (MEET).
    pub meet_ms: u64,
    /// From then until the grown cluster converged (REPLICATE for a replica,
    /// then the conditions of `wait_converged`).
    pub converge_ms: u64,
    /// The whole `add-node`.
    pub total_ms: u64,
}

/// What `add-node` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddReport {
    /// The deployment's name.
    pub name: String,
    /// The new node's name.
    pub node: String,
    /// Where a client on this host reaches it.
    pub address: std::net::SocketAddr,
    /// The primary it replicates, for a replica.
    pub replica_of: Option<String>,
    /// Its cluster node id.
    pub id: String,
    /// How long each phase took.
    pub timings: AddTimings,
    /// The topology as it stands afterwards.
    pub status: StatusReport,
}

impl AddReport {
    /// The report as the terminal shows it.
    pub fn render_text(&self) -> String {
        let t = &self.timings;
        let what = match &self.replica_of {
            Some(p) => format!("a replica of {p}"),
            None => "a primary with no slots".to_string(),
        };
        let mut s = format!(
            "added {} at {} to {} as {what} in {} ms (node ready {} ms, met {} ms, converged {} ms)\n\n",
            self.node,
            self.address,
            self.name,
            t.total_ms,
            t.node_ready_ms,
            t.meet_ms,
            t.converge_ms
        );
        s.push_str(&self.status.render_text());
        if self.replica_of.is_none() {
            s.push_str(&format!(
                "\nspread slots onto it with: redis-drill reshard --rebalance --name {}\n",
                self.name
            ));
        }
        s
    }
}

/// Grow the running cluster `d` by one node: the runtime starts it (see
/// [`crate::runtime::Deployment::next_node_spec`] for its name and place),
/// then it joins the cluster — as an empty primary, or as a replica of
/// `replica_of` — and the grown cluster converges. On any error, or a panic,
/// the new node is removed again, so nothing is left half-added; the rest of
/// the deployment is never touched.
pub async fn add_node(
    rt: &Runtime,
    d: &Deployment,
    replica_of: Option<&str>,
    server: Option<&crate::topology::Server>,
    cancel: &CancellationToken,
) -> Result<(Deployment, AddReport), BringupError> {
    use futures::FutureExt;
    require_cluster(d, "add-node grows clusters only")?;
    let mut spec = d.next_node_spec(replica_of)?;
    if let Some(s) = server {
        spec.server = s.clone();
    }
    let name = spec.name.clone();
    let work = std::panic::AssertUnwindSafe(grow(rt, d, spec, cancel))
        .catch_unwind()
        .await;
    let undo = || async {
        match rt.remove_node(d, &name).await {
            Ok(r) => tracing::info!(node = %name, removed = %r, "removed the half-added node"),
            Err(e) => crate::note!(
                "warning: removing the half-added node {name} failed: {e}; run `redis-drill down --name {}`",
                d.name
            ),
        }
        // If it had met the cluster, the others still list it (`master,fail`).
        let connect = cluster::ConnectOptions::default();
        match cluster::forget_strangers(&members(d), connect).await {
            Ok(ids) if !ids.is_empty() => {
                tracing::info!(node = %name, ?ids, "the cluster forgot the half-added node")
            }
            Ok(_) => {}
            Err(e) => {
                crate::note!("warning: the cluster may still list the half-added node {name}: {e}")
            }
        }
    };
    match work {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => {
            undo().await;
            Err(e)
        }
        // As `up` does: the panic is reported (exit 3), after the undo.
        Err(panic) => {
            undo().await;
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            Err(BringupError::Panicked(what))
        }
    }
}

async fn grow(
    rt: &Runtime,
    d: &Deployment,
    spec: crate::topology::NodeSpec,
    cancel: &CancellationToken,
) -> Result<(Deployment, AddReport), BringupError> {
    let started = Instant::now();
    let replica_of = spec.replica_of.clone();
    let grown = rt.add_node(d, spec.clone(), cancel).await?;
    let node_ready = started.elapsed();
    // Lets the tests prove that a failure half-way removes the new node.
    if std::env::var(INJECT_ENV).as_deref() == Ok("panic-after-add-node") {
        panic!("{INJECT_ENV}=panic-after-add-node");
    }
    let mut all = members(&grown);
    let new = all
        .iter()
        .position(|m| m.name == spec.name)
        .map(|i| all.remove(i))
        .expect("the grown deployment lists the new node");
    // The existing nodes' roles are whatever they are now (a failover may have
    // swapped a shard's primary and replica): only the new node's is asserted.
    for m in &mut all {
        m.replica_of = None;
    }
    let copts = cluster::ConvergeOptions::new(ADD_NODE_CLUSTER_TIMEOUT, cancel.clone());
    let joined = cluster::add_node(&all, &new, &copts).await?;
    // ... and that one after it joined leaves no trace in the others' tables.
    if std::env::var(INJECT_ENV).as_deref() == Ok("panic-after-join") {
        panic!("{INJECT_ENV}=panic-after-join");
    }
    let total = started.elapsed();
    let status = status::collect(&grown).await;
    let node = grown.node(&spec.name)?;
    let report = AddReport {
        name: grown.name.clone(),
        node: node.name.clone(),
        address: node.addr,
        replica_of,
        id: joined.id.clone(),
        timings: AddTimings {
            node_ready_ms: ms(node_ready),
            meet_ms: ms(joined.all_known),
            converge_ms: ms(joined.converged.saturating_sub(joined.all_known)),
            total_ms: ms(total),
        },
        status,
    };
    Ok((grown, report))
}

/// Replicated topologies: wait until every replica reports
/// `master_link_status:up` (its first sync is done). Bounded by `timeout`.
async fn wait_replication(
    d: &Deployment,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), BringupError> {
    let replicas: Vec<_> = d
        .nodes
        .iter()
        .filter(|n| d.spec(&n.name).is_some_and(|s| s.replica_of.is_some()))
        .collect();
    let up = |n: &'_ DeployedNode| {
        let (name, addr) = (n.name.clone(), n.addr);
        async move {
            let mut c = NodeConn::connect(&name, addr, ConnectOptions::default()).await?;
            let info: String = c.run(redis::cmd("INFO").arg("replication")).await?;
            Ok::<_, ClusterError>(
                parse_info(&info)
                    .get("master_link_status")
                    .map(String::as_str)
                    == Some("up"),
            )
        }
    };
    poll_until(&replicas, up, "master_link_status:up", timeout, cancel).await
}

/// Wait until every Sentinel watches the primary, knows each of its
/// replicas and every other Sentinel (hello messages every 2 s, replicas
/// from the primary's INFO): before that, a fault would find Sentinels that
/// cannot agree, and a drill would measure their start-up.
async fn wait_sentinels(
    d: &Deployment,
    s: &crate::topology::Sentinels,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), BringupError> {
    let replicas = (d.topology.nodes.iter())
        .filter(|n| n.replica_of.is_some())
        .count()
        .to_string();
    let others = (d.sentinels.len().saturating_sub(1)).to_string();
    let watching = |n: &'_ DeployedNode| {
        let (name, addr) = (n.name.clone(), n.addr);
        let (master, replicas, others) = (s.master_name.clone(), replicas.clone(), others.clone());
        async move {
            let mut c = NodeConn::connect(&name, addr, ConnectOptions::default()).await?;
            let kv: Vec<String> = c
                .run(redis::cmd("SENTINEL").arg("MASTER").arg(&master))
                .await?;
            let get = |k: &str| kv.chunks(2).find(|p| p[0] == k).and_then(|p| p.get(1));
            Ok::<_, ClusterError>(
                get("flags").map(String::as_str) == Some("master")
                    && get("num-slaves") == Some(&replicas)
                    && get("num-other-sentinels") == Some(&others),
            )
        }
    };
    let sentinels: Vec<&DeployedNode> = d.sentinels.iter().collect();
    let condition = format!(
        "watching {} with its {replicas} replicas and {others} other Sentinels",
        s.master_name
    );
    poll_until(&sentinels, watching, &condition, timeout, cancel).await
}

/// Ask `ready` of each of `members` every poll interval until all say yes
/// (an error counts as no), within `timeout`; the error names those still
/// pending and the `condition` they did not meet.
async fn poll_until<F, Fut>(
    members: &[&DeployedNode],
    ready: F,
    condition: &str,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), BringupError>
where
    F: Fn(&DeployedNode) -> Fut,
    Fut: std::future::Future<Output = Result<bool, ClusterError>>,
{
    let started = Instant::now();
    let interval = cluster::POLL_INTERVAL;
    let mut pending: Vec<String> = Vec::new();
    for _ in 0..(timeout.as_millis() / interval.as_millis()).max(1) + 1 {
        pending.clear();
        for n in members {
            if !ready(n).await.unwrap_or(false) {
                pending.push(n.name.clone());
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            break;
        }
        tokio::select! {
            _ = cancel.cancelled() => return Err(RuntimeError::Cancelled.into()),
            _ = tokio::time::sleep(interval) => {}
        }
    }
    Err(RuntimeError::NotReady {
        node: pending.join(", "),
        condition: condition.into(),
        waited: started.elapsed(),
    }
    .into())
}

/// Bad input unless `d` is a cluster: "<name> is a <kind> topology; <why>".
pub fn require_cluster(d: &Deployment, why: &str) -> Result<(), RuntimeError> {
    if d.topology.kind == Kind::Cluster {
        return Ok(());
    }
    Err(RuntimeError::BadInput(format!(
        "{} is a {} topology; {why}",
        d.name,
        format!("{:?}", d.topology.kind).to_lowercase()
    )))
}

/// `redis-cli --cluster check`, in Rust, on a running deployment.
pub async fn check(d: &Deployment) -> Result<cluster::Health, BringupError> {
    require_cluster(d, "only a cluster has a slot map to check")?;
    let members = members(d);
    let map = AddressMap::from_members(&members)?;
    let entry = members
        .first()
        .map(|m| m.addr)
        .ok_or_else(|| RuntimeError::BadInput("no nodes".into()))?;
    Ok(cluster::health(entry, &map).await?)
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}
