//! Per-node views of a running cluster, for the status report: role, slots,
//! keys, memory, cluster state, and whether the node agrees with the others.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use serde::Serialize;

use super::admin::{majority, slot_owners};
use super::conn::{AddressMap, ConnectOptions, NodeConn, parse_info};
use super::error::ClusterError;
use super::error::error_chain;
use super::nodes::{NodeLine, myself};
use crate::record::watch::Role;
use crate::slots::{SlotRange, count};

/// One node as it reports itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeView {
    pub name: String,
    /// The controller address it was read from.
    pub addr: SocketAddr,
    /// Why the node could not be read; every field below is empty then.
    pub error: Option<String>,
    pub id: Option<String>,
    pub role: Option<Role>,
    /// For a replica, its primary's id and (when it is in the map) name.
    pub primary_id: Option<String>,
    pub primary_name: Option<String>,
    pub slots: Vec<SlotRange>,
    pub slot_count: usize,
    pub config_epoch: Option<u64>,
    /// DBSIZE.
    pub keys: Option<u64>,
    /// INFO memory `used_memory`, bytes.
    pub used_memory: Option<u64>,
    /// CLUSTER INFO `cluster_state`: ok or fail.
    pub cluster_state: Option<String>,
    /// Number of nodes in this node's view.
    pub known_nodes: usize,
    /// Whether this node's view (slot owners and node ids) matches the
    /// majority's; `None` when the node could not be read.
    pub agrees: Option<bool>,
}

impl NodeView {
    /// A view with nothing read yet.
    fn blank(name: &str, addr: SocketAddr, error: Option<String>) -> Self {
        NodeView {
            name: name.to_string(),
            addr,
            error,
            id: None,
            role: None,
            primary_id: None,
            primary_name: None,
            slots: Vec::new(),
            slot_count: 0,
            config_epoch: None,
            keys: None,
            used_memory: None,
            cluster_state: None,
            known_nodes: 0,
            agrees: None,
        }
    }
}

/// Read every node of `map` concurrently. Never fails as a whole: a node that
/// cannot be read has its `error` set. Each node costs one pipelined round trip
/// bounded by `connect`'s timeouts.
pub async fn node_views(map: &AddressMap, connect: ConnectOptions) -> Vec<NodeView> {
    let read = futures::future::join_all(map.nodes().iter().map(|n| async move {
        match read_node(&n.name, n.addr, connect).await {
            Ok(r) => (NodeView::blank(&n.name, n.addr, None), Some(r)),
            Err(e) => (
                NodeView::blank(&n.name, n.addr, Some(error_chain(&e))),
                None,
            ),
        }
    }))
    .await;
    let (mut views, reads): (Vec<NodeView>, Vec<Option<Raw>>) = read.into_iter().unzip();
    let lines: Vec<Option<&[NodeLine]>> = reads
        .iter()
        .map(|r| r.as_ref().map(|r| r.lines.as_slice()))
        .collect();
    let agrees = agreement(&lines);
    // Node id -> name, from each readable node's own line.
    let names: HashMap<String, String> = views
        .iter()
        .zip(&reads)
        .filter_map(|(v, r)| Some((myself(&r.as_ref()?.lines)?.id.clone(), v.name.clone())))
        .collect();
    for (i, (v, raw)) in views.iter_mut().zip(&reads).enumerate() {
        let Some(raw) = raw else { continue };
        fill(v, raw, &names);
        v.agrees = agrees[i];
    }
    views
}

/// What one pipelined read of a node returns.
struct Raw {
    lines: Vec<NodeLine>,
    cluster_state: Option<String>,
    keys: u64,
    used_memory: Option<u64>,
}

async fn read_node(
    name: &str,
    addr: SocketAddr,
    connect: ConnectOptions,
) -> Result<Raw, ClusterError> {
    let mut c = NodeConn::connect(name, addr, connect).await?;
    let mut pipe = redis::pipe();
    pipe.cmd("CLUSTER")
        .arg("NODES")
        .cmd("CLUSTER")
        .arg("INFO")
        .cmd("DBSIZE")
        .cmd("INFO")
        .arg("memory");
    let (nodes, info, keys, memory): (String, String, u64, String) = c
        .run_pipe(&pipe, "CLUSTER NODES + CLUSTER INFO + DBSIZE + INFO memory")
        .await?;
    Ok(Raw {
        lines: c.parse_nodes(&nodes)?,
        cluster_state: parse_info(&info).remove("cluster_state"),
        keys,
        used_memory: parse_info(&memory)
            .get("used_memory")
            .and_then(|v| v.parse().ok()),
    })
}

fn fill(v: &mut NodeView, raw: &Raw, names: &HashMap<String, String>) {
    v.known_nodes = raw.lines.len();
    v.keys = Some(raw.keys);
    v.used_memory = raw.used_memory;
    v.cluster_state = raw.cluster_state.clone();
    let Some(me) = myself(&raw.lines) else {
        v.error = Some("CLUSTER NODES has no myself line".into());
        return;
    };
    v.id = Some(me.id.clone());
    v.role = Some(if me.is_replica() {
        Role::Replica
    } else {
        Role::Primary
    });
    v.primary_id = me.primary_id.clone();
    v.slots = me.slots.clone();
    v.slot_count = count(&me.slots);
    v.config_epoch = Some(me.config_epoch);
    v.primary_name = me
        .primary_id
        .as_ref()
        .and_then(|pid| names.get(pid).cloned());
}

/// Per view, whether it matches the majority's slot owners and node ids. Pure.
pub(crate) fn agreement(views: &[Option<&[NodeLine]>]) -> Vec<Option<bool>> {
    type Signature<'a> = (Vec<Option<&'a str>>, BTreeSet<&'a str>);
    let sigs: Vec<Option<Signature>> = views
        .iter()
        .map(|v| {
            v.map(|lines| {
                (
                    slot_owners(lines),
                    lines.iter().map(|l| l.id.as_str()).collect(),
                )
            })
        })
        .collect();
    let present: Vec<&Signature> = sigs.iter().flatten().collect();
    let reference = majority(&present).map(|i| present[i]);
    sigs.iter()
        .map(|s| s.as_ref().map(|s| reference.is_some_and(|r| s == r)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::nodes::parse_cluster_nodes;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn lines(a_slots: &str, b_slots: &str) -> Vec<NodeLine> {
        parse_cluster_nodes(&format!(
            "{A} 127.0.0.1:7000@17000 master - 0 0 1 connected {a_slots}\n\
             {B} 127.0.0.1:7001@17001 master - 0 0 2 connected {b_slots}\n"
        ))
        .unwrap()
    }

    #[test]
    fn agreement_against_the_majority() {
        let good = lines("0-8191", "8192-16383");
        let stale = lines("0-8000", "8001-16383");
        let views = [
            Some(good.as_slice()),
            None,
            Some(good.as_slice()),
            Some(stale.as_slice()),
        ];
        assert_eq!(
            agreement(&views),
            vec![Some(true), None, Some(true), Some(false)]
        );
        assert_eq!(agreement(&[None]), vec![None]);
    }
}
