//! Introducing nodes: MEET the pairs, then wait until every node knows the
//! others — the first half of both creating a cluster and adding a node.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use super::converge::max_polls;
use super::pending::short;
use crate::cluster::conn::{Member, NodeConn, TimeBox};
use crate::cluster::error::ClusterError;

/// `CLUSTER MEET` for every (from, to) pair of member indexes, concurrently.
/// MEET the `pairs`, then wait until every node knows `who`: the first half
/// of both creating a cluster and adding a node, named `what` in errors.
pub(super) struct Introduce {
    /// The operation, first in every step's error ("create the cluster").
    pub(super) what: &'static str,
    /// Whom every node must know, for the wait's step name ("every other").
    pub(super) who: &'static str,
    /// How often the wait polls.
    pub(super) interval: Duration,
}

impl Introduce {
    /// MEET `pairs` (indexes into `members` and `conns`), then wait until
    /// every node lists all of `ids`, within `bound`.
    pub(super) async fn run(
        &self,
        bound: &TimeBox<'_>,
        conns: &mut [NodeConn],
        members: &[Member],
        pairs: &[(usize, usize)],
        ids: &[String],
    ) -> Result<(), ClusterError> {
        let what = self.what;
        meet(
            bound,
            conns,
            members,
            pairs,
            &format!("{what}: send CLUSTER MEET"),
        )
        .await?;
        let step = format!("{what}: wait until every node knows {}", self.who);
        wait_all_known(bound, conns, members, ids, self.interval, &step).await
    }
}

/// How long after a MEET the pairs that are still strangers are introduced
/// again: past Redis's handshake timeout (the node timeout, at least 1 s) for
/// the drills' usual node timeouts, so the failed handshake is gone.
const REMEET_AFTER: Duration = Duration::from_secs(6);

/// `CLUSTER MEET` for every (from, to) pair of member indexes, concurrently.
pub(super) async fn meet(
    bound: &TimeBox<'_>,
    conns: &[NodeConn],
    members: &[Member],
    pairs: &[(usize, usize)],
    step: &str,
) -> Result<(), ClusterError> {
    let in_flight = tokio::sync::Semaphore::new(MEETS_IN_FLIGHT);
    // The semaphore lets them through in this order: one of each node's in
    // turn, so no node opens its hundred bus connections at once.
    let pairs = interleaved(pairs);
    bound
        .step(
            step,
            futures::future::try_join_all(pairs.iter().map(|&(from, to)| {
                let mut c = conns[from].clone();
                let m = &members[to];
                let in_flight = &in_flight;
                async move {
                    let _turn = in_flight.acquire().await;
                    c.run::<()>(
                        redis::cmd("CLUSTER")
                            .arg("MEET")
                            .arg(m.announce.ip().to_string())
                            .arg(m.announce.port())
                            .arg(m.bus_port),
                    )
                    .await
                }
            })),
        )
        .await
        .map(|_| ())
}

/// `pairs` in turns: the first pair of each source (in the order the
/// sources first appear), then the second of each, and so on; each
/// source's pairs keep their order.
fn interleaved(pairs: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut by_source: Vec<(usize, std::collections::VecDeque<(usize, usize)>)> = Vec::new();
    for &p in pairs {
        match by_source.iter_mut().find(|(s, _)| *s == p.0) {
            Some((_, q)) => q.push_back(p),
            None => by_source.push((p.0, std::collections::VecDeque::from([p]))),
        }
    }
    let mut out = Vec::with_capacity(pairs.len());
    while out.len() < pairs.len() {
        for (_, q) in &mut by_source {
            if let Some(p) = q.pop_front() {
                out.push(p);
            }
        }
    }
    out
}

/// At most this many `CLUSTER MEET`s wait for their replies at once. All
/// of a 120-node cluster's 7 140 at once made one reply take over the
/// connection's 2 s on the lab's 2 cores, each node opening a hundred bus
/// connections at the same moment; a 60-node cluster's 1 770 went through.
const MEETS_IN_FLIGHT: usize = 256;

/// Poll CLUSTER NODES until every node lists exactly the members' ids, none in
/// handshake or without an address.
pub(super) async fn wait_all_known(
    bound: &TimeBox<'_>,
    conns: &mut [NodeConn],
    members: &[Member],
    ids: &[String],
    interval: Duration,
    step: &str,
) -> Result<(), ClusterError> {
    // Redis sends a MEET once and drops a handshake that has not completed
    // within the node timeout, without trying again: a MEET that went out
    // before the network could carry it (an overlay still programming its
    // peers) is lost for good. The pairs still strangers this long after the
    // last MEET are introduced again.
    let mut last_meet = std::time::Instant::now();
    let index: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let conn_names: Vec<String> = conns.iter().map(|c| c.name.clone()).collect();
    let names: HashMap<&str, &str> = ids
        .iter()
        .map(String::as_str)
        .zip(conn_names.iter().map(String::as_str))
        .collect();
    let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let mut pending: Vec<String> = Vec::new();
    for _ in 0..max_polls(bound.timeout, interval) {
        let views = bound
            .step(step, async {
                Ok(futures::future::join_all(conns.iter_mut().map(|c| c.cluster_nodes())).await)
            })
            .await
            .map_err(|e| e.with_pending(pending.clone()))?;
        pending.clear();
        let mut strangers: Vec<(usize, usize)> = Vec::new();
        for (i, (name, view)) in conn_names.iter().zip(views).enumerate() {
            let lines = view?;
            let mut issues = Vec::new();
            let known: BTreeSet<&str> = lines
                .iter()
                .filter(|l| l.flags.unsettled().is_empty())
                .map(|l| l.id.as_str())
                .collect();
            strangers.extend(wanted.difference(&known).map(|id| (i, index[id])));
            let missing: Vec<&str> = wanted.difference(&known).map(|id| names[id]).collect();
            if !missing.is_empty() {
                issues.push(format!("does not know {}", missing.join(", ")));
            }
            for l in lines.iter().filter(|l| !l.flags.unsettled().is_empty()) {
                let who = l
                    .addr
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| short(&l.id).to_string());
                issues.push(format!("{} {who}", l.flags.unsettled().join(",")));
            }
            if !issues.is_empty() {
                pending.push(format!("{name}: {}", issues.join(", ")));
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if last_meet.elapsed() >= REMEET_AFTER
            && !strangers.is_empty()
            && members.len() == conns.len()
        {
            tracing::info!(
                pairs = strangers.len(),
                "introducing the nodes that still do not know each other again"
            );
            meet(
                bound,
                conns,
                members,
                &strangers,
                &format!("{step}: send CLUSTER MEET again"),
            )
            .await?;
            last_meet = std::time::Instant::now();
        }
        bound.pause(interval, step, &pending).await?;
    }
    Err(bound.timed_out(step, pending))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meets_go_out_one_of_each_node_in_turn() {
        let pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)];
        assert_eq!(
            interleaved(&pairs),
            [(0, 1), (1, 2), (2, 3), (0, 2), (1, 3), (0, 3)]
        );
        assert!(interleaved(&[]).is_empty());
        // Every pair once, whatever the order given.
        let mut all: Vec<(usize, usize)> = (0..120)
            .flat_map(|a| (a + 1..120).map(move |b| (a, b)))
            .collect();
        let mut got = interleaved(&all);
        assert_eq!(got.len(), 7140);
        // Node 0's 119 MEETs are spread: within the first 256, at most 3.
        assert!(got[..256].iter().filter(|p| p.0 == 0).count() <= 3);
        got.sort();
        all.sort();
        assert_eq!(got, all);
    }
}
