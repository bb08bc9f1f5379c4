//! How a client finds the node that serves a key, by topology kind. Pure:
//! derived from the topology alone; the [`Router`](super::router) applies it.
//!
//! Every kind routes by hash slot (CRC16 of the key, hash tags honoured), so
//! one history, one downtime-per-shard checker and one slot → owner table
//! serve them all:
//!
//! - a **cluster** routes by the slot map its nodes announce;
//! - **standalone** primaries are sharded by the client, each serving an even,
//!   contiguous share of the 16384 slots in the topology's order — what a
//!   client-side sharding library does with a fixed node list;
//! - a **replicated** topology sends every key to the node that is primary
//!   now: with Sentinels (`sentinel:`), the one they name
//!   (`SENTINEL get-master-addr-by-name`, as a Sentinel client asks it);
//!   without, the one found by reading `ROLE` on every node.

use serde::Serialize;

use crate::slots::{SlotRange, even_split};
use crate::topology::{Kind, Role, Topology};

/// The sharding of a topology's clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sharding {
    /// A Redis Cluster: the slot map from `CLUSTER NODES`, MOVED and ASK followed.
    Cluster,
    /// Independent primaries, each serving one range of slots.
    Sharded(Vec<(String, SlotRange)>),
    /// One primary and its replicas: every slot to the primary of the moment.
    Primary {
        /// Every node that may become primary.
        nodes: Vec<String>,
        /// The primary when the topology was brought up.
        initial: String,
        /// The name the Sentinels monitor it by, when the topology has
        /// Sentinels: clients ask them where the primary is.
        sentinel: Option<String>,
    },
}

impl Sharding {
    /// The sharding `topology`'s clients use.
    pub fn of(topology: &Topology) -> Sharding {
        match topology.kind {
            Kind::Cluster => Sharding::Cluster,
            Kind::Standalone => {
                let names: Vec<String> = topology.primaries().map(|n| n.name.clone()).collect();
                let ranges = even_split(names.len());
                Sharding::Sharded(names.into_iter().zip(ranges).collect())
            }
            Kind::Replicated => Sharding::Primary {
                nodes: topology.nodes.iter().map(|n| n.name.clone()).collect(),
                initial: topology
                    .nodes
                    .iter()
                    .find(|n| n.role == Role::Primary)
                    .map(|n| n.name.clone())
                    .unwrap_or_default(),
                sentinel: topology.sentinel.as_ref().map(|s| s.master_name.clone()),
            },
        }
    }

    /// Whether keys are routed by slot.
    pub fn is_cluster(&self) -> bool {
        *self == Sharding::Cluster
    }

    /// Who serves which slots before anything happens, for routings that
    /// know it without asking a node (none for a cluster: read its map).
    pub fn assignments(&self) -> Vec<(String, Vec<SlotRange>)> {
        match self {
            Sharding::Cluster => Vec::new(),
            Sharding::Sharded(ranges) => {
                ranges.iter().map(|(n, r)| (n.clone(), vec![*r])).collect()
            }
            Sharding::Primary { initial, .. } => {
                vec![(
                    initial.clone(),
                    vec![SlotRange::new(0, crate::slots::SLOT_COUNT - 1)],
                )]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(yaml: &str) -> Sharding {
        Sharding::of(&Topology::parse(yaml, None).unwrap())
    }

    #[test]
    fn each_kind_routes_its_way() {
        assert_eq!(
            of("name: c\nkind: cluster\ncluster: {shards: 3, replicas: 1}\n"),
            Sharding::Cluster
        );
        let s = of("name: s\nkind: standalone\nstandalone: {primaries: 3}\n");
        let Sharding::Sharded(ranges) = &s else {
            panic!("{s:?}")
        };
        let names: Vec<&str> = ranges.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["n1", "n2", "n3"]);
        // Every slot once, in order.
        let mut next = 0u32;
        for (_, r) in ranges {
            assert_eq!(u32::from(r.start), next);
            next = u32::from(r.end) + 1;
        }
        assert_eq!(next, 16384);
        assert_eq!(s.assignments().len(), 3);

        let r = of("name: r\nkind: replicated\nreplicated: {replicas: 2}\n");
        assert_eq!(
            r,
            Sharding::Primary {
                nodes: vec!["n1".into(), "n2".into(), "n3".into()],
                initial: "n1".into(),
                sentinel: None,
            }
        );
        let r = of("name: r\nkind: replicated\nreplicated: {replicas: 2}\nsentinel: {count: 3}\n");
        let Sharding::Primary { sentinel, .. } = &r else {
            panic!("{r:?}")
        };
        assert_eq!(
            sentinel.as_deref(),
            Some("r"),
            "monitored by the topology's name"
        );
        assert_eq!(
            r.assignments(),
            [("n1".to_string(), vec![SlotRange::new(0, 16383)])]
        );
    }
}
