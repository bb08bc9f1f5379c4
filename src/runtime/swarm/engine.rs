//! The swarm backend's handle: the engines file's engines, connected, and
//! the swarm's nodes as the manager sees them; where each topology node is
//! placed; the names of a run's resources.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::engines::{self, Engine, EnginesFile};
use crate::runtime::error::RuntimeError;
use crate::topology::Topology;

/// The swarm node label that carries a region.
pub const REGION_LABEL: &str = crate::lab::REGION_LABEL;
/// The port redis-server listens on inside every task.
pub(super) const DATA_PORT: u16 = 6379;
/// The cluster bus port inside every task.
pub(super) const BUS_PORT: u16 = 16379;
/// The run's overlay networks are /24s of this /16, the first free one.
pub(super) const OVERLAY_POOL: [u8; 2] = [10, 215];
/// The part of a run's /24 its tasks take addresses from (the upper half;
/// the lower is the clients', at fixed addresses).
pub(super) const TASK_RANGE: &str = "128/25";
/// The run's `clients` container's host address on its /24, as on Docker.
pub(super) const CLIENTS_HOST: u8 = 2;
/// The first host port the tool publishes nodes on, on each engine.
pub(super) const FIRST_PUBLISHED: u16 = 31000;

/// The swarm backend: every engine of the engines file, connected.
pub struct SwarmRuntime {
    /// The engines file it was made from.
    pub(super) file: PathBuf,
    /// The manager's engine.
    pub(super) manager: Engine,
    /// Every engine, by swarm node hostname (the manager too).
    pub(super) engines: BTreeMap<String, Engine>,
    /// Each engine's region label, by engine name.
    pub(super) regions: BTreeMap<String, Option<String>>,
}

impl SwarmRuntime {
    /// Connect to every engine of the engines file in force
    /// ([`engines::path`]); each must answer, the manager must manage the
    /// swarm and every engine must be one of its nodes.
    pub async fn connect() -> Result<SwarmRuntime, RuntimeError> {
        let file = engines::path();
        let spec = EnginesFile::load(&file)?;
        let connected = futures::future::try_join_all(
            spec.engines
                .iter()
                .map(|(name, e)| engines::connect(name, e)),
        )
        .await?;
        let engines: BTreeMap<String, Engine> =
            connected.into_iter().map(|e| (e.name.clone(), e)).collect();
        let manager = engines[&spec.manager].clone();
        let nodes = manager
            .docker
            .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
            .await
            .map_err(|e| {
                RuntimeError::Environment(format!(
                    "swarm engine `{}` (the manager in {}) cannot list the swarm's nodes: {e}",
                    manager.name,
                    file.display()
                ))
            })?;
        let mut regions = BTreeMap::new();
        for e in engines.values() {
            let node = nodes
                .iter()
                .find(|n| n.id.as_deref() == Some(e.node_id.as_str()))
                .ok_or_else(|| {
                    RuntimeError::Environment(format!(
                        "swarm engine `{}` is not a node of the swarm `{}` manages",
                        e.name, manager.name
                    ))
                })?;
            let host = node
                .description
                .as_ref()
                .and_then(|d| d.hostname.clone())
                .unwrap_or_default();
            if host != e.name {
                return Err(RuntimeError::BadInput(format!(
                    "{}: engine `{}` is the swarm node `{host}`: name each engine by its node's hostname",
                    file.display(),
                    e.name
                )));
            }
            let region = node
                .spec
                .as_ref()
                .and_then(|s| s.labels.as_ref())
                .and_then(|l| l.get(REGION_LABEL).cloned());
            regions.insert(e.name.clone(), region);
        }
        // The engines' hosts are the deployment's own: the controller
        // reaches the nodes at the ports they publish there.
        crate::cluster::conn::declare_hosts(engines.values().map(|e| e.address));
        Ok(SwarmRuntime {
            file,
            manager,
            engines,
            regions,
        })
    }

    /// The engine named `name`.
    pub(super) fn engine(&self, name: &str) -> Result<&Engine, RuntimeError> {
        self.engines.get(name).ok_or_else(|| {
            RuntimeError::Environment(format!(
                "swarm engine `{name}` is not in {} any more",
                self.file.display()
            ))
        })
    }

    /// The engine running swarm node `id`.
    pub(super) fn engine_of_node(&self, id: &str) -> Option<&Engine> {
        self.engines.values().find(|e| e.node_id == id)
    }

    /// Where each node of `topology` goes: the engines of its region in
    /// turn (every engine when the topology has no regions). A region no
    /// engine carries is bad input, before anything is made.
    pub fn place(&self, topology: &Topology) -> Result<Vec<String>, RuntimeError> {
        place(topology, &self.regions)
    }
}

/// [`SwarmRuntime::place`], on the engines' region labels alone.
pub fn place(
    topology: &Topology,
    regions: &BTreeMap<String, Option<String>>,
) -> Result<Vec<String>, RuntimeError> {
    let mut turn: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for n in &topology.nodes {
        let candidates: Vec<&String> = if topology.regions.is_empty() {
            regions.keys().collect()
        } else {
            regions
                .iter()
                .filter(|(_, r)| r.as_deref() == Some(n.region.as_str()))
                .map(|(e, _)| e)
                .collect()
        };
        if candidates.is_empty() {
            let labelled: Vec<String> = regions
                .iter()
                .map(|(e, r)| format!("{e}: {}", r.as_deref().unwrap_or("(none)")))
                .collect();
            return Err(RuntimeError::BadInput(format!(
                "node {}: region `{}` has no swarm node (label one: docker node update --label-add {REGION_LABEL}={} NODE; \
                 the engines' regions are {})",
                n.name,
                n.region,
                n.region,
                labelled.join(", ")
            )));
        }
        let i = turn.entry(n.region.as_str()).or_default();
        out.push(candidates[*i % candidates.len()].clone());
        *i += 1;
    }
    Ok(out)
}

/// The run's overlay network.
pub(super) fn network_name(run_id: &str) -> String {
    format!("redis-drill-{run_id}")
}

/// A node's service (and its data volume, on its engine).
pub(super) fn service_name(run_id: &str, node: &str) -> String {
    format!("rd-{run_id}-{node}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(e, r)| (e.to_string(), r.map(str::to_string)))
            .collect()
    }

    #[test]
    fn nodes_go_to_their_regions_engines_in_turn() {
        let t = Topology::parse(
            "name: t\nkind: cluster\nregions: [{name: eu}, {name: us}]\nnodes:\n  - {name: a, region: eu, slots: ['0-8191']}\n  - {name: b, region: us, slots: ['8192-16383']}\n  - {name: c, region: eu, replica_of: b}\n  - {name: d, region: eu, replica_of: a}\n",
            None,
        )
        .unwrap();
        let r = regions(&[("e1", Some("eu")), ("e2", Some("us")), ("e3", Some("eu"))]);
        let placed: BTreeMap<&str, String> = (t.nodes.iter().map(|n| n.name.as_str()))
            .zip(place(&t, &r).unwrap())
            .collect();
        // The topology's order is shard by shard (a, d, b, c): eu's three
        // nodes take eu's two engines in turn, us's node the us engine.
        let want: BTreeMap<&str, String> = [("a", "e1"), ("d", "e3"), ("b", "e2"), ("c", "e1")]
            .map(|(n, e)| (n, e.to_string()))
            .into();
        assert_eq!(placed, want);
        let r = regions(&[("e1", Some("eu")), ("e2", Some("ap"))]);
        let e = place(&t, &r).unwrap_err().to_string();
        assert!(e.contains("node b: region `us` has no swarm node"), "{e}");
        assert!(e.contains("e2: ap"), "{e}");
    }
}
