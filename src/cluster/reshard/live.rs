//! The live cluster as the engine and the fixer see it: one connection per
//! node, reached through the address map, and each node's own view.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use crate::cluster::conn::{AddressMap, ConnectOptions, NodeConn};
use crate::cluster::error::ClusterError;
use crate::cluster::nodes::{NodeLine, myself};
use crate::slots::SlotRange;

use super::moves::SlotOwners;

/// One reachable node.
pub(crate) struct Node {
    /// Its name in the address map, or its announced address when unmapped.
    pub name: String,
    pub id: String,
    /// Where the other nodes reach it: what MIGRATE must name.
    pub announce: SocketAddr,
    /// Its own line of its `CLUSTER NODES`, as loaded.
    pub me: NodeLine,
    /// Its whole `CLUSTER NODES`, as loaded.
    pub view: Vec<NodeLine>,
    /// Multiplexed connections, handed out in turn to the tasks that talk to
    /// the node: a command the node blocks (Valkey 8+ holds `CLUSTER
    /// SETSLOT` until its replicas acknowledge it) holds up every command
    /// behind it on its connection, so slots moved at once need connections
    /// of their own.
    pub conns: Vec<NodeConn>,
    next: std::sync::atomic::AtomicUsize,
}

impl Node {
    /// Whether this node is a primary now (only primaries give or take slots).
    pub fn is_primary(&self) -> bool {
        self.me.is_primary()
    }

    /// A handle on one of this node's connections (the next in turn), for a
    /// task of its own.
    pub fn conn(&self) -> NodeConn {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.conns[i % self.conns.len()].clone()
    }

    /// Open connections until the node has `n` (at least one is kept).
    pub async fn widen(&mut self, n: usize, connect: ConnectOptions) -> Result<(), ClusterError> {
        let addr = self.conns[0].addr;
        let more = n.saturating_sub(self.conns.len());
        let opened = futures::future::join_all(
            (0..more).map(|_| NodeConn::connect(&self.name, addr, connect)),
        )
        .await;
        for c in opened {
            self.conns.push(c?);
        }
        Ok(())
    }
}

/// Every reachable node of the cluster. Every primary that any reachable node
/// knows (and does not flag `fail`) is among them, or loading fails: slots
/// must never move while an owner cannot be told.
pub(crate) struct Live {
    pub nodes: Vec<Node>,
}

impl Live {
    /// Connect to every mapped node and read its view.
    pub async fn load(map: &AddressMap, connect: ConnectOptions) -> Result<Live, ClusterError> {
        if map.is_empty() {
            return Err(ClusterError::BadInput(
                "the address map has no nodes to start from".into(),
            ));
        }
        let loaded = futures::future::join_all(
            map.nodes()
                .iter()
                .map(|n| load_node(n.name.clone(), n.addr, connect)),
        )
        .await;
        let mut nodes = Vec::new();
        let mut failed: HashMap<SocketAddr, ClusterError> = HashMap::new();
        for (n, r) in map.nodes().iter().zip(loaded) {
            match r {
                Ok(node) => nodes.push(node),
                Err(e) => {
                    failed.insert(n.announce, e);
                }
            }
        }
        if nodes.is_empty() {
            let first = map.nodes()[0].announce;
            return Err(failed
                .remove(&first)
                .unwrap_or_else(|| ClusterError::BadInput("no node could be loaded".into())));
        }
        // Primaries the loaded nodes know but that were not loaded: a mapped node
        // that did not answer fails the load; an unmapped loopback one is tried.
        let known: HashSet<String> = nodes.iter().map(|n| n.id.clone()).collect();
        let mut missing: Vec<SocketAddr> = Vec::new();
        for n in &nodes {
            for l in n.view.iter().filter(|l| {
                l.is_primary() && !l.flags.fail && !l.flags.noaddr && !l.flags.handshake
            }) {
                if known.contains(&l.id) {
                    continue;
                }
                if let Some(a) = l.addr
                    && !missing.contains(&a)
                {
                    missing.push(a);
                }
            }
        }
        for announce in missing {
            if let Some(e) = failed.remove(&announce) {
                return Err(e);
            }
            let addr = map.resolve(announce)?;
            let node = load_node(map.name_of_announce(announce), addr, connect).await?;
            if !nodes.iter().any(|n| n.id == node.id) {
                nodes.push(node);
            }
        }
        Ok(Live { nodes })
    }

    /// Primaries some loaded node flags `fail` that still serve slots, with
    /// the slots they serve: until their replicas are promoted (or they come
    /// back), whatever they held is out of reach, on them or on a replica.
    pub fn failed_owners(&self, map: &AddressMap) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        let mut seen: HashSet<&str> = self.nodes.iter().map(|n| n.id.as_str()).collect();
        for n in &self.nodes {
            for l in &n.view {
                if l.is_primary() && l.flags.fail && l.slot_count() > 0 && seen.insert(&l.id) {
                    let name = l
                        .addr
                        .map(|a| map.name_of_announce(a))
                        .unwrap_or_else(|| l.id.clone());
                    out.push((name, l.slot_count()));
                }
            }
        }
        out
    }

    /// The node with this name.
    pub fn by_name(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The primaries, the nodes slots move between.
    pub fn primaries(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.is_primary())
    }

    /// Slot owners from the primaries' own claims. Fails when two primaries
    /// claim one slot (the cluster has not converged after a change).
    pub fn owners(&self) -> Result<SlotOwners, ClusterError> {
        let assignments: Vec<(&str, &[SlotRange])> = self
            .primaries()
            .map(|n| (n.name.as_str(), n.me.slots.as_slice()))
            .collect();
        SlotOwners::from_assignments(assignments).map_err(|e| match e {
            ClusterError::BadInput(detail) => ClusterError::BadInput(format!(
                "{detail} (the cluster has not converged; wait and retry)"
            )),
            other => other,
        })
    }
}

async fn load_node(
    name: String,
    addr: SocketAddr,
    connect: ConnectOptions,
) -> Result<Node, ClusterError> {
    let mut conn = NodeConn::connect(&name, addr, connect).await?;
    let lines = conn.cluster_nodes().await?;
    let me = myself(&lines)
        .cloned()
        .ok_or_else(|| conn.reply_error("CLUSTER NODES", "no line flagged myself"))?;
    let announce = me
        .addr
        .ok_or_else(|| conn.reply_error("CLUSTER NODES", "its own line has no address"))?;
    Ok(Node {
        name,
        id: me.id.clone(),
        announce,
        me,
        conns: vec![conn],
        next: std::sync::atomic::AtomicUsize::new(0),
        view: lines,
    })
}

impl SlotOwners {
    /// The owners of a live cluster reached through `map`: each primary's own
    /// claim (what it serves now, not what gossip says), named through the map.
    /// Fails when a primary cannot be reached or two claim the same slot.
    pub async fn load(
        map: &AddressMap,
        connect: ConnectOptions,
    ) -> Result<SlotOwners, ClusterError> {
        Live::load(map, connect).await?.owners()
    }
}
