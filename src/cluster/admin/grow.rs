//! Growing a running cluster: `add_node`, and `forget_strangers` for what a
//! node removed half-way leaves behind.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::converge::{ConvergeOptions, converge_on, millis};
use super::create::require_empty;
use super::introduce::Introduce;
use super::pending::Expectations;
use crate::cluster::conn::{AddressMap, ConnectOptions, Member, TimeBox, connect_all};
use crate::cluster::error::ClusterError;

/// What [`add_node`] did and how long it took. Times are from the start of `add_node`.
#[derive(Debug, Clone, Serialize)]
pub struct AddNodeReport {
    /// The new node's id.
    pub id: String,
    /// Until every node, the new one included, listed every other with no
    /// handshake or noaddr flag.
    #[serde(serialize_with = "millis")]
    pub all_known: Duration,
    /// Until [`wait_converged`]'s conditions all held, the new node included.
    #[serde(serialize_with = "millis")]
    pub converged: Duration,
    #[serde(serialize_with = "millis")]
    pub total: Duration,
    /// Polls of the convergence wait.
    pub polls: u32,
}

/// Add `new`, an empty cluster node, to the running cluster of `members`: as
/// a primary with no slots, or, when `new.replica_of` names a member, as its
/// replica. Slots are not moved (that is `reshard --rebalance`).
///
/// The new node MEETs every member: each then learns of it from its own
/// handshake at once instead of from gossip (about a second per node away),
/// and the new node learns every primary's slots from the handshakes it
/// started. Then: wait until every node knows every other, CLUSTER REPLICATE
/// for a replica, and the conditions of [`wait_converged`] over the grown
/// cluster (a primary with no slots passes them: no condition counts slots).
///
/// A new primary reports `cluster_state:ok` only after Redis's writable delay
/// (2 s after its start) — and when it ran alone for longer than that, it
/// counts itself in a minority until min(cluster-node-timeout, 5 s) after it
/// learns the slots; so call this as soon as the node answers PING.
pub async fn add_node(
    members: &[Member],
    new: &Member,
    opts: &ConvergeOptions,
) -> Result<AddNodeReport, ClusterError> {
    validate_addition(members, new)?;
    let bound = TimeBox::new(opts.timeout, &opts.cancel, "add a node to the cluster");
    let mut all: Vec<Member> = members.to_vec();
    all.push(new.clone());

    let mut conns = bound
        .step(
            "add a node: connect to every node",
            connect_all(all.iter().map(|m| (m.name.clone(), m.addr)), opts.connect),
        )
        .await?;
    let new_index = all.len() - 1;
    bound
        .step(
            "add a node: check the new node is empty",
            require_empty(&mut conns[new_index]),
        )
        .await?;
    let ids: Vec<String> =
        bound
            .step(
                "add a node: read node ids",
                futures::future::try_join_all(conns.iter_mut().map(|c| async move {
                    c.run::<String>(redis::cmd("CLUSTER").arg("MYID")).await
                })),
            )
            .await?;

    let pairs: Vec<(usize, usize)> = (0..members.len()).map(|to| (new_index, to)).collect();
    let introduce = Introduce {
        what: "add a node",
        who: "the new one",
        interval: opts.interval,
    };
    introduce
        .run(&bound, &mut conns, &all, &pairs, &ids)
        .await?;
    let all_known = bound.started.elapsed();

    if let Some(primary) = &new.replica_of {
        let at = all
            .iter()
            .position(|m| &m.name == primary)
            .expect("validated: the primary is a member");
        let primary_id = ids[at].clone();
        let c = &mut conns[new_index];
        bound
            .step(
                "add a node: send CLUSTER REPLICATE",
                c.run::<()>(redis::cmd("CLUSTER").arg("REPLICATE").arg(primary_id)),
            )
            .await?;
    }

    let expect = Expectations::of(&all);
    let convergence = converge_on(
        &bound,
        conns,
        &expect,
        (opts.connect, opts.interval, opts.check_offsets),
        "add a node: wait for convergence",
    )
    .await?;
    let converged = bound.started.elapsed();
    Ok(AddNodeReport {
        id: ids[new_index].clone(),
        all_known,
        converged,
        total: bound.started.elapsed(),
        polls: convergence.polls,
    })
}

/// Make every member forget the nodes it knows that are not members: what a
/// node removed half-way through [`add_node`] leaves in the others' tables
/// (`master,fail` forever, which later clients try to reach). CLUSTER FORGET
/// goes to every member, so that none gossips the stranger back during the
/// ban (60 s). Returns the ids forgotten.
pub async fn forget_strangers(
    members: &[Member],
    connect: ConnectOptions,
) -> Result<Vec<String>, ClusterError> {
    let known: Vec<SocketAddr> = members.iter().map(|m| m.announce).collect();
    let mut conns = connect_all(members.iter().map(|m| (m.name.clone(), m.addr)), connect).await?;
    let mut strangers: Vec<String> = Vec::new();
    for c in &mut conns {
        for l in c.cluster_nodes().await? {
            let stranger = l.addr.is_none_or(|a| !known.contains(&a));
            if stranger && !l.flags.myself && !strangers.contains(&l.id) {
                strangers.push(l.id);
            }
        }
    }
    for c in &mut conns {
        for id in &strangers {
            // A member that never learnt of it answers "Unknown node": fine.
            if let Err(e) = c
                .run::<()>(redis::cmd("CLUSTER").arg("FORGET").arg(id))
                .await
            {
                tracing::debug!(node = %c.name, %id, "CLUSTER FORGET: {e}");
            }
        }
    }
    Ok(strangers)
}

/// Make every one of `members` forget the node `id` (`CLUSTER FORGET`, on
/// all of them at once: each forgets for 60 s, and a member still listing it
/// would teach it back by gossip), until none lists it, within `timeout`.
/// The node itself must be stopped already (a running one would rejoin once
/// the ban ends). Returns the members that were told; an error names the
/// members that still list it.
pub async fn forget_node(
    members: &[Member],
    id: &str,
    connect: ConnectOptions,
    timeout: Duration,
) -> Result<Vec<String>, ClusterError> {
    let mut conns = connect_all(members.iter().map(|m| (m.name.clone(), m.addr)), connect).await?;
    let deadline = std::time::Instant::now() + timeout;
    let mut told = Vec::new();
    loop {
        let forgets = futures::future::join_all(conns.iter_mut().map(|c| async move {
            let r = c
                .run::<()>(redis::cmd("CLUSTER").arg("FORGET").arg(id))
                .await;
            (c.name.clone(), r)
        }))
        .await;
        for (name, r) in forgets {
            match r {
                Ok(()) => {
                    if !told.contains(&name) {
                        told.push(name);
                    }
                }
                // Already forgotten (or never known): what we want.
                Err(e) => tracing::debug!(node = %name, %id, "CLUSTER FORGET: {e}"),
            }
        }
        let mut listing = Vec::new();
        for c in &mut conns {
            if c.cluster_nodes().await?.iter().any(|l| l.id == id) {
                listing.push(c.name.clone());
            }
        }
        if listing.is_empty() {
            return Ok(told);
        }
        if std::time::Instant::now() >= deadline {
            return Err(ClusterError::Timeout {
                what: format!("forget node {id}"),
                timeout,
                pending: listing
                    .iter()
                    .map(|n| format!("{n} still lists it"))
                    .collect(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The checks of [`add_node`] that need no node: names and addresses unique
/// and loopback, no slots on the new node, its primary a member.
pub(super) fn validate_addition(members: &[Member], new: &Member) -> Result<(), ClusterError> {
    if members.is_empty() {
        return Err(ClusterError::BadInput(format!(
            "no cluster to add {} to",
            new.name
        )));
    }
    let mut all = members.to_vec();
    all.push(new.clone());
    AddressMap::from_members(&all)?;
    if !new.slots.is_empty() {
        return Err(ClusterError::BadInput(format!(
            "{} must join with no slots (move them with a reshard afterwards)",
            new.name
        )));
    }
    if let Some(p) = &new.replica_of
        && !members.iter().any(|m| &m.name == p)
    {
        return Err(ClusterError::BadInput(format!(
            "{} replicates unknown member {p}",
            new.name
        )));
    }
    Ok(())
}
