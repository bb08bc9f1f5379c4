//! Finding what the docker backend has up, from the engine alone: the
//! deployment each run's network carries as a label, grown by the nodes
//! `add-node` labelled on their own containers; and removing everything
//! that carries a run's label (or the tool's).

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::{ListContainersOptionsBuilder, ListNetworksOptionsBuilder};

use super::engine::DockerRuntime;
use crate::runtime::deployment::{AddedNode, Deployment, Removed, labels};
use crate::runtime::error::RuntimeError;

impl DockerRuntime {
    /// Networks matching `filters` (e.g. a label).
    async fn networks(
        &self,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<bollard::models::Network>, RuntimeError> {
        self.docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(filters)
                    .build(),
            ))
            .await
            .map_err(RuntimeError::docker("listing networks"))
    }

    /// The deployment with this name, if it is up.
    pub(super) async fn find(&self, name: &str) -> Result<Option<Deployment>, RuntimeError> {
        Ok(self.list().await?.into_iter().find(|d| d.name == name))
    }

    /// Every deployment of this engine, by name.
    pub(super) async fn list(&self) -> Result<Vec<Deployment>, RuntimeError> {
        let filters = with_labels(vec![format!("{}={}", labels::TOOL, labels::TOOL_VALUE)]);
        let nets = self.networks(&filters).await?;
        let mut out: Vec<Deployment> = nets
            .into_iter()
            .filter_map(|n| n.labels?.get(labels::DEPLOYMENT).cloned())
            .filter_map(|json| match serde_json::from_str::<Deployment>(&json) {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::warn!("ignoring a network whose deployment label does not parse: {e}");
                    None
                }
            })
            .collect();
        for (run_id, added) in self.added_nodes().await? {
            let Some(d) = out.iter_mut().find(|d| d.run_id == run_id) else {
                continue;
            };
            for a in added {
                if d.nodes.iter().all(|n| n.name != a.node.name) {
                    *d = d.with_node(a);
                }
            }
        }
        // A node removed from a running deployment (`remove-node`, a
        // rolling upgrade's `replace`) is gone with its container; the
        // network's label still lists it.
        let filters = with_labels(vec![format!("{}={}", labels::TOOL, labels::TOOL_VALUE)]);
        let present: std::collections::BTreeSet<String> = self
            .containers(&filters)
            .await?
            .into_iter()
            .flat_map(|c| c.names.unwrap_or_default())
            .map(|n| n.trim_start_matches('/').to_string())
            .collect();
        for d in &mut out {
            let gone: Vec<String> = (d.nodes.iter())
                .filter(|n| !present.contains(&n.handle))
                .map(|n| n.name.clone())
                .collect();
            // None left at all: a run being brought up or taken down, not
            // one whose nodes were removed one by one.
            if !gone.is_empty() && gone.len() < d.nodes.len() {
                d.nodes.retain(|n| !gone.contains(&n.name));
                d.topology.nodes.retain(|n| !gone.contains(&n.name));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Nodes added by `add-node`, per run id, in the order they were created.
    async fn added_nodes(&self) -> Result<BTreeMap<String, Vec<AddedNode>>, RuntimeError> {
        let filters = with_labels(vec![
            format!("{}={}", labels::TOOL, labels::TOOL_VALUE),
            labels::ADDED_NODE.to_string(),
        ]);
        let mut containers = self.containers(&filters).await?;
        containers.sort_by_key(|c| (c.created.unwrap_or_default(), c.names.clone()));
        let mut out: BTreeMap<String, Vec<AddedNode>> = BTreeMap::new();
        for c in containers {
            let Some(lbls) = c.labels else { continue };
            let (Some(run_id), Some(json)) =
                (lbls.get(labels::RUN_ID), lbls.get(labels::ADDED_NODE))
            else {
                continue;
            };
            match serde_json::from_str::<AddedNode>(json) {
                Ok(a) => out.entry(run_id.clone()).or_default().push(a),
                Err(e) => {
                    tracing::warn!(
                        "ignoring a container whose added-node label does not parse: {e}"
                    )
                }
            }
        }
        Ok(out)
    }

    /// Remove everything labelled with `run_id`, and its secrets folder
    /// (even when a network of it could not be removed: that is reported,
    /// and a later `down` finds it by its label).
    pub(super) async fn remove_run(&self, run_id: &str) -> Result<Removed, RuntimeError> {
        let labelled = self
            .remove_labelled(&format!("{}={run_id}", labels::RUN_ID))
            .await;
        let dirs = remove_dir(&self.run_dir(run_id))?;
        let mut removed = labelled?;
        removed.dirs = dirs;
        Ok(removed)
    }

    /// Remove everything redis-drill made on this engine.
    pub(super) async fn remove_all(&self) -> Result<Removed, RuntimeError> {
        let labelled = self
            .remove_labelled(&format!("{}={}", labels::TOOL, labels::TOOL_VALUE))
            .await;
        let mut dirs = 0;
        if let Ok(entries) = std::fs::read_dir(&self.secrets_base) {
            for e in entries.flatten() {
                dirs += remove_dir(&e.path())?;
            }
        }
        let mut removed = labelled?;
        removed.dirs = dirs;
        Ok(removed)
    }

    /// Every container, running or not, matching `filters` (e.g. a label).
    async fn containers(
        &self,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<bollard::models::ContainerSummary>, RuntimeError> {
        self.docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(filters)
                    .build(),
            ))
            .await
            .map_err(RuntimeError::docker("listing containers"))
    }

    /// Force-remove every container, then every network, carrying `label`.
    async fn remove_labelled(&self, label: &str) -> Result<Removed, RuntimeError> {
        let filters = with_labels(vec![label.to_string()]);
        let containers = self.containers(&filters).await?;
        let removes = containers
            .iter()
            .filter_map(|c| c.id.clone())
            .map(|id| async move { self.remove_container(&id).await });
        let containers: usize = futures::future::try_join_all(removes)
            .await?
            .into_iter()
            .sum();
        // Every network is tried; one that cannot be removed is named after.
        let mut networks = 0;
        let mut left = Vec::new();
        for n in self.networks(&filters).await? {
            let Some(id) = n.id else { continue };
            let name = n.name.unwrap_or_else(|| id.clone());
            match self.remove_network(&id, &name).await {
                Ok(true) => networks += 1,
                Ok(false) => {}
                Err(e) => left.push(e.to_string()),
            }
        }
        if !left.is_empty() {
            return Err(RuntimeError::Environment(left.join("; ")));
        }
        Ok(Removed {
            containers,
            networks,
            ..Default::default()
        })
    }
}

impl DockerRuntime {
    /// Remove a network whose labelled containers are gone: true if it was
    /// there. A container of someone else's still attached to it (a debugging
    /// `docker run --network …`) is disconnected by force first; the
    /// container itself is left alone.
    async fn remove_network(&self, id: &str, name: &str) -> Result<bool, RuntimeError> {
        // Each round disconnects whatever the engine still lists; a refusal
        // with nothing listed is the engine's own miscount.
        const ROUNDS: u32 = 3;
        for _ in 0..ROUNDS {
            let e = match self.docker.remove_network(id).await {
                Ok(()) => return Ok(true),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(false),
                Err(e) if e.to_string().contains("active endpoints") => e,
                Err(e) => {
                    return Err(RuntimeError::Docker {
                        context: format!("removing network {name}"),
                        source: e,
                    });
                }
            };
            let attached = self
                .docker
                .inspect_network(id, None::<bollard::query_parameters::InspectNetworkOptions>)
                .await
                .map_err(RuntimeError::docker(format!("inspecting network {name}")))?
                .containers
                .unwrap_or_default();
            if attached.is_empty() {
                // Seen here once (Docker 20.10, 2026-11-26): every container
                // gone, the engine still counting an endpoint; restarted, it
                // logged "Fixing inconsistent endpoint_cnt … Expected=0, Actual=1".
                return Err(RuntimeError::Environment(format!(
                    "Docker refuses to remove network {name} ({e}) although no container is attached to it: the engine's endpoint count for it is out of step (a Docker bug, moby/moby#42119). Restarting the Docker engine corrects the count; `redis-drill down --all` then removes the network (its run-id label finds it)"
                )));
            }
            for container in attached.into_keys() {
                tracing::info!(network = %name, %container, "disconnecting a container redis-drill did not start");
                let req = bollard::models::NetworkDisconnectRequest {
                    container,
                    force: Some(true),
                };
                if let Err(e) = self.docker.disconnect_network(id, req).await {
                    tracing::debug!(network = %name, "disconnect: {e}");
                }
            }
        }
        Err(RuntimeError::Environment(format!(
            "network {name} still has containers attached after disconnecting them {ROUNDS} times"
        )))
    }
}

/// Remove a run's secrets folder on the host, if it has one: 1 if it did;
/// and the folder of them all once it is empty.
fn remove_dir(dir: &std::path::Path) -> Result<usize, RuntimeError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {
            if let Some(base) = dir.parent() {
                // Fails, as it should, while another run's secrets are there.
                let _ = std::fs::remove_dir(base);
            }
            Ok(1)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(RuntimeError::io(format!("removing {}", dir.display()))(e)),
    }
}

/// An engine filter for resources carrying every one of `labels` (`key` or
/// `key=value`).
fn with_labels(labels: Vec<String>) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), labels)])
}
