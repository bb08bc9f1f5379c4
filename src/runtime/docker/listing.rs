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

    /// Remove everything labelled with `run_id`.
    pub(super) async fn remove_run(&self, run_id: &str) -> Result<Removed, RuntimeError> {
        let mut removed = self
            .remove_labelled(&format!("{}={run_id}", labels::RUN_ID))
            .await?;
        removed.dirs = remove_dir(&self.run_dir(run_id))?;
        Ok(removed)
    }

    /// Remove everything redis-drill made on this engine.
    pub(super) async fn remove_all(&self) -> Result<Removed, RuntimeError> {
        let mut removed = self
            .remove_labelled(&format!("{}={}", labels::TOOL, labels::TOOL_VALUE))
            .await?;
        if let Ok(entries) = std::fs::read_dir(&self.secrets_base) {
            for e in entries.flatten() {
                removed.dirs += remove_dir(&e.path())?;
            }
        }
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
        let nets = self.networks(&filters).await?;
        let mut networks = 0;
        for n in nets {
            let Some(id) = n.id else { continue };
            if self.remove_network(&id).await? {
                networks += 1;
            }
        }
        Ok(Removed {
            containers,
            networks,
            ..Default::default()
        })
    }
}

impl DockerRuntime {
    /// Remove a network once its containers are gone: true if it was there.
    /// The engine may answer `has active endpoints` for a moment after the
    /// last of them was force-removed (it releases endpoints on its own
    /// time); each endpoint still listed is then disconnected by force and
    /// the removal tried again, a bounded number of times.
    async fn remove_network(&self, id: &str) -> Result<bool, RuntimeError> {
        const TRIES: u32 = 20;
        let mut tries = 0;
        loop {
            tries += 1;
            let e = match self.docker.remove_network(id).await {
                Ok(()) => return Ok(true),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(false),
                Err(e) => e,
            };
            if tries >= TRIES || !e.to_string().contains("active endpoints") {
                return Err(RuntimeError::Docker {
                    context: format!("removing network {id}"),
                    source: e,
                });
            }
            tracing::debug!(network = %id, tries, "network still has endpoints: disconnecting them");
            let endpoints = self
                .docker
                .inspect_network(id, None::<bollard::query_parameters::InspectNetworkOptions>)
                .await
                .ok()
                .and_then(|n| n.containers)
                .unwrap_or_default();
            for container in endpoints.into_keys() {
                let req = bollard::models::NetworkDisconnectRequest {
                    container,
                    force: Some(true),
                };
                if let Err(e) = self.docker.disconnect_network(id, req).await {
                    tracing::debug!(network = %id, "disconnect: {e}");
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
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
