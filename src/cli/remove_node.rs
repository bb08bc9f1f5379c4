//! `redis-drill remove-node NODE`: shrink a running cluster by one node and
//! leave no ghost of it.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::error::CliError;
use super::interrupt::cancel_on_signal;
use super::locate::locate;
use super::output::print_json;
use crate::bringup;
use crate::cluster::reshard::{self, ReshardOptions, SlotOwners};
use crate::cluster::{self, AddressMap, ClusterError, ConnectOptions};
use crate::exit;
use crate::runtime::{Deployment, Runtime, RuntimeKind};
use crate::scenarios::{self, ReshardAction};

/// A bound on draining the node's slots (as `reshard`'s).
const DRAIN_LIMIT: Duration = Duration::from_secs(3600);
/// How long every other node gets to forget the removed one: well inside
/// the 60 s a `CLUSTER FORGET` bans it for.
const FORGET_LIMIT: Duration = Duration::from_secs(30);
/// How long the rest get to agree afterwards.
const CONVERGE_LIMIT: Duration = Duration::from_secs(60);

/// Remove a node from a running cluster: drain its slots onto the other
/// primaries if it has any, stop it, make every other node forget it, and
/// check that none still lists it.
#[derive(clap::Args, Debug)]
pub(crate) struct RemoveNode {
    /// The node to remove (a primary is drained first; a replica is simply removed).
    node: String,
    /// Which topology (default: the only one that is up).
    #[arg(long)]
    name: Option<String>,
    /// Where the topology runs (default: search every available runtime).
    #[arg(long, value_enum)]
    runtime: Option<RuntimeKind>,
    /// How the drained slots move (as `reshard --method`).
    #[arg(long, value_enum, default_value_t = reshard::Method::Keys)]
    method: reshard::Method,
}

/// What `remove-node` did.
#[derive(Debug, Serialize)]
struct RemoveReport {
    name: String,
    node: String,
    /// Its cluster node id, which no remaining node lists any more.
    id: String,
    /// Slots drained off it first (0 for a replica or an empty primary).
    slots_drained: usize,
    keys_moved: u64,
    /// The remaining nodes told to forget it.
    forgotten_by: Vec<String>,
    /// Until the rest agreed on the slot map without it (ms from the start).
    total_ms: f64,
}

impl RemoveNode {
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let (rt, d) = locate(self.runtime, self.name.as_deref()).await?;
        bringup::require_cluster(&d, "remove-node shrinks clusters only")?;
        if rt.kind() == RuntimeKind::External {
            return Err(CliError::Usage(
                "remove-node stops a server: redis-drill only stops the ones it started (an attached deployment's nodes are yours to remove)",
            ));
        }
        d.node(&self.node)?;
        if d.nodes.len() < 2 {
            return Err(CliError::Usage(
                "remove-node leaves at least one node in the cluster",
            ));
        }
        let cancel = CancellationToken::new();
        let work = remove(&rt, &d, &self.node, self.method, &cancel);
        let undoing = "stopping: the node stays in the cluster (its slots as far as they moved)...";
        let rep = cancel_on_signal(work, &cancel, undoing).await.output?;
        if json {
            print_json(&rep);
        } else {
            if rep.slots_drained > 0 {
                crate::outln!(
                    "drained {} slots ({} keys) off {}",
                    rep.slots_drained,
                    rep.keys_moved,
                    rep.node
                );
            }
            crate::outln!(
                "removed {} ({}) in {:.0} ms: {} forgot it, and no node lists it",
                rep.node,
                &rep.id[..rep.id.len().min(8)],
                rep.total_ms,
                rep.forgotten_by.join(", ")
            );
        }
        Ok(exit::SUCCESS)
    }
}

async fn remove(
    rt: &Runtime,
    d: &Deployment,
    node: &str,
    method: reshard::Method,
    cancel: &CancellationToken,
) -> Result<RemoveReport, CliError> {
    let started = Instant::now();
    let all = bringup::members(d);
    let map = AddressMap::from_members(&all)?;
    let me = all
        .iter()
        .find(|m| m.name == node)
        .expect("the node was checked to be in the deployment");
    let mut conn =
        cluster::conn::NodeConn::connect(&me.name, me.addr, ConnectOptions::default()).await?;
    let id: String = conn.run(redis::cmd("CLUSTER").arg("MYID")).await?;
    // Its slots first, onto the other primaries (a primary left without
    // slots turns into a replica of one of them: replica migration).
    let owners = SlotOwners::load(&map, ConnectOptions::default()).await?;
    let (mut slots_drained, mut keys_moved) = (0, 0);
    if !owners.slots_of(node).is_empty() {
        let action = ReshardAction::Drain {
            node: node.to_string(),
        };
        let moves = scenarios::reshard::slot_moves(&action, &owners)?;
        let mut opts = ReshardOptions::new(DRAIN_LIMIT, cancel.clone());
        opts.method = method;
        let rep = reshard::execute(&map, &moves, &opts, &mut |_| {}).await?;
        slots_drained = rep.slots_moved;
        keys_moved = rep.keys_moved;
    }
    if cancel.is_cancelled() {
        return Err(ClusterError::Cancelled {
            what: "remove the node".into(),
        }
        .into());
    }
    // Stop it, then make every other node forget it: stopped first, it
    // cannot teach itself back to them by gossip.
    rt.remove_node(d, node).await?;
    let rest: Vec<cluster::Member> = all.iter().filter(|m| m.name != node).cloned().collect();
    let forgotten_by =
        cluster::forget_node(&rest, &id, ConnectOptions::default(), FORGET_LIMIT).await?;
    let mut members = rest;
    for m in &mut members {
        // Roles may have moved (the drained primary's replicas follow
        // their slots): only agreement is asked for.
        m.replica_of = None;
    }
    cluster::wait_converged(
        &members,
        &cluster::ConvergeOptions::new(CONVERGE_LIMIT, cancel.clone()),
    )
    .await?;
    Ok(RemoveReport {
        name: d.name.clone(),
        node: node.to_string(),
        id,
        slots_drained,
        keys_moved,
        forgotten_by,
        total_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}
