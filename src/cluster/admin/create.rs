//! `create`: build a cluster from empty nodes — check them, assign slots, set
//! config epochs, introduce every pair, teach the slots, replicate, converge.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;

use super::converge::{ConvergeOptions, converge_on, millis};
use super::introduce::{Introduce, meet};
use super::pending::Expectations;
use crate::cluster::conn::{AddressMap, Member, NodeConn, TimeBox, connect_all, parse_info};
use crate::cluster::error::ClusterError;
use crate::slots::{SLOT_COUNT, ranges_from_slots};

/// What [`create`] did and how long it took. Times are from the start of `create`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateReport {
    /// Member name -> node id.
    pub ids: BTreeMap<String, String>,
    #[serde(serialize_with = "millis")]
    pub total: Duration,
    /// Until every node listed every other with no handshake or noaddr flag.
    #[serde(serialize_with = "millis")]
    pub all_known: Duration,
    /// Until [`wait_converged`]'s conditions all held.
    #[serde(serialize_with = "millis")]
    pub converged: Duration,
    /// Polls of the convergence wait.
    pub polls: u32,
}

/// Build a cluster from empty nodes. See the module documentation for the steps.
///
/// How long it takes is mostly Redis's own delays for primaries (cluster.c,
/// `clusterUpdateState`): no `cluster_state:ok` within 2 s of the server's
/// start, and, for a primary that ran for more than those 2 s without slots
/// (it counts itself in a minority meanwhile), none until
/// min(cluster-node-timeout, 5 s) after it gets them. Measured here on 6 local
/// nodes: all nodes know each other ~0.2 s after the call; converged ~2.0 s
/// after the servers started when `create` runs right after they answer PING,
/// ~5.1 s after the call when it runs later. Runtimes should call it early.
pub async fn create(
    members: &[Member],
    opts: &ConvergeOptions,
) -> Result<CreateReport, ClusterError> {
    validate(members)?;
    let bound = TimeBox::new(opts.timeout, &opts.cancel, "create the cluster");
    let n = members.len();

    let mut conns = bound
        .step(
            "create the cluster: connect to every node",
            connect_all(
                members.iter().map(|m| (m.name.clone(), m.addr)),
                opts.connect,
            ),
        )
        .await?;

    bound
        .step(
            "create the cluster: check every node is empty",
            futures::future::try_join_all(conns.iter_mut().map(require_empty)),
        )
        .await?;

    assign_slots(&bound, members, &mut conns).await?;

    let ids = set_epochs(&bound, &mut conns).await?;

    // Every pair meets directly (node i MEETs every j > i): meeting only the
    // first node leaves the others to learn of each other from gossip, which
    // rides on PINGs sent about once a second per node (~2 s for 6 nodes here).
    let pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .collect();
    let introduce = Introduce {
        what: "create the cluster",
        who: "every other",
        interval: opts.interval,
    };
    introduce
        .run(&bound, &mut conns, members, &pairs, &ids)
        .await?;
    let all_known = bound.started.elapsed();

    // A handshake teaches the node that sent MEET the slots of the node it met,
    // not the other way round; the other side would learn them from a later
    // PING, again about a second per node away. A second MEET to a node that
    // already knows the sender makes it read the sender's slots from the MEET
    // header at once (the extra handshake entry is dropped by Redis as soon as
    // the reply shows it is a known node). Only primaries have slots to teach.
    let again: Vec<(usize, usize)> = pairs
        .iter()
        .copied()
        .filter(|&(i, _)| !members[i].slots.is_empty())
        .collect();
    meet(
        &bound,
        &conns,
        members,
        &again,
        "create the cluster: send CLUSTER MEET again",
    )
    .await?;

    replicate(&bound, members, &mut conns, &ids).await?;

    let expect = Expectations::of(members);
    let convergence = converge_on(
        &bound,
        conns,
        &expect,
        (opts.connect, opts.interval, opts.check_offsets),
        "create the cluster: wait for convergence",
    )
    .await?;
    let converged = bound.started.elapsed();
    debug_assert_eq!(ids.len(), n);
    Ok(CreateReport {
        ids: members.iter().map(|m| m.name.clone()).zip(ids).collect(),
        total: bound.started.elapsed(),
        all_known,
        converged,
        polls: convergence.polls,
    })
}

/// One `CLUSTER ADDSLOTSRANGE` per primary, concurrently.
async fn assign_slots(
    bound: &TimeBox<'_>,
    members: &[Member],
    conns: &mut [NodeConn],
) -> Result<(), ClusterError> {
    bound
        .step(
            "create the cluster: assign slots",
            futures::future::try_join_all(
                members
                    .iter()
                    .zip(conns.iter_mut())
                    .filter(|(m, _)| !m.slots.is_empty())
                    .map(|(m, c)| async move {
                        let mut cmd = redis::cmd("CLUSTER");
                        cmd.arg("ADDSLOTSRANGE");
                        for r in &m.slots {
                            cmd.arg(r.start).arg(r.end);
                        }
                        c.run::<()>(&cmd).await
                    }),
            ),
        )
        .await?;
    Ok(())
}

/// Distinct config epochs before the nodes meet, so that no two primaries
/// collide on an epoch and none has to bump its own (what redis-cli does
/// too). Returns every node's id, in member order.
async fn set_epochs(
    bound: &TimeBox<'_>,
    conns: &mut [NodeConn],
) -> Result<Vec<String>, ClusterError> {
    bound
        .step(
            "create the cluster: set config epochs",
            futures::future::try_join_all(conns.iter_mut().enumerate().map(|(i, c)| async move {
                c.run::<()>(redis::cmd("CLUSTER").arg("SET-CONFIG-EPOCH").arg(i + 1))
                    .await?;
                c.run::<String>(redis::cmd("CLUSTER").arg("MYID")).await
            })),
        )
        .await
}

/// `CLUSTER REPLICATE` on every replica, naming its primary's id.
async fn replicate(
    bound: &TimeBox<'_>,
    members: &[Member],
    conns: &mut [NodeConn],
    ids: &[String],
) -> Result<(), ClusterError> {
    let index: HashMap<&str, usize> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();
    bound
        .step(
            "create the cluster: send CLUSTER REPLICATE",
            futures::future::try_join_all(members.iter().zip(conns.iter_mut()).filter_map(
                |(m, c)| {
                    let primary = m.replica_of.as_deref()?;
                    let primary_id = ids[index[primary]].clone();
                    Some(async move {
                        c.run::<()>(redis::cmd("CLUSTER").arg("REPLICATE").arg(primary_id))
                            .await
                    })
                },
            )),
        )
        .await?;
    Ok(())
}

/// Refuse a member list that cannot make a cluster, before any node is
/// touched: no members, an address the controller may not reach, a replica
/// of a member that is missing or itself a replica, a replica with slots, a
/// slot assigned twice or to no one.
pub(super) fn validate(members: &[Member]) -> Result<(), ClusterError> {
    if members.is_empty() {
        return Err(ClusterError::BadInput("no members".into()));
    }
    AddressMap::from_members(members)?;
    let by_name: HashMap<&str, &Member> = members.iter().map(|m| (m.name.as_str(), m)).collect();
    let mut owner: Vec<Option<&str>> = vec![None; usize::from(SLOT_COUNT)];
    for m in members {
        if let Some(p) = &m.replica_of {
            match by_name.get(p.as_str()) {
                None => {
                    return Err(ClusterError::BadInput(format!(
                        "{} replicates unknown member {p}",
                        m.name
                    )));
                }
                Some(pm) if pm.replica_of.is_some() => {
                    return Err(ClusterError::BadInput(format!(
                        "{} replicates {p}, which is itself a replica",
                        m.name
                    )));
                }
                Some(_) => {}
            }
            if !m.slots.is_empty() {
                return Err(ClusterError::BadInput(format!(
                    "{} is a replica but has slots assigned",
                    m.name
                )));
            }
        }
        for r in &m.slots {
            for s in r.slots() {
                if let Some(other) = owner[usize::from(s)].replace(&m.name) {
                    return Err(ClusterError::BadInput(format!(
                        "slot {s} is assigned to both {other} and {}",
                        m.name
                    )));
                }
            }
        }
    }
    let uncovered = ranges_from_slots((0..SLOT_COUNT).filter(|&s| owner[usize::from(s)].is_none()));
    if !uncovered.is_empty() {
        return Err(ClusterError::BadInput(format!(
            "slots {} are assigned to no primary (the cluster could never report cluster_state:ok)",
            crate::slots::join(&uncovered)
        )));
    }
    Ok(())
}

/// Refuse a node that is not a fresh cluster node (cluster support off, other
/// nodes known, slots assigned, keys held): creating or growing a cluster
/// must never merge one that exists.
pub(super) async fn require_empty(c: &mut NodeConn) -> Result<(), ClusterError> {
    let info: String = match c.run(redis::cmd("CLUSTER").arg("INFO")).await {
        Ok(text) => text,
        Err(ClusterError::Command { source, .. })
            if source.to_string().contains("cluster support disabled") =>
        {
            return Err(not_empty(
                c,
                "cluster support is disabled (cluster-enabled no)",
            ));
        }
        Err(e) => return Err(e),
    };
    let info = parse_info(&info);
    let field = |k: &str| -> Result<u64, ClusterError> {
        info.get(k)
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| c.reply_error("CLUSTER INFO", format!("no numeric {k}")))
    };
    let known = field("cluster_known_nodes")?;
    if known != 1 {
        return Err(not_empty(c, &format!("it already knows {known} nodes")));
    }
    let assigned = field("cluster_slots_assigned")?;
    if assigned != 0 {
        return Err(not_empty(
            c,
            &format!("it already has {assigned} slots assigned"),
        ));
    }
    let keys: u64 = c.run(&redis::cmd("DBSIZE")).await?;
    if keys != 0 {
        return Err(not_empty(c, &format!("it holds {keys} keys")));
    }
    Ok(())
}

/// The error for node `c` that cannot join because of `reason`.
pub(super) fn not_empty(c: &NodeConn, reason: &str) -> ClusterError {
    ClusterError::NotEmpty {
        node: c.name.clone(),
        addr: c.addr,
        reason: reason.to_string(),
    }
}
