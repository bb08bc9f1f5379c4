//! Finding what the swarm backend has up — the deployment each run's
//! overlay network carries as a label on the manager, with every node's
//! current task address — and removing everything of a run (or of the
//! tool) on every engine: the links' helpers, services, then the
//! containers and volumes they leave on each engine, then the network.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::engine::{DATA_PORT, SwarmRuntime};
use crate::runtime::deployment::{Deployment, Removed, labels};
use crate::runtime::error::RuntimeError;

/// How long the engines may take to remove a run's task containers once
/// its services are gone.
const TASKS_GONE: Duration = Duration::from_secs(30);

fn with_label(label: String) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![label])])
}

impl SwarmRuntime {
    /// The swarm's networks matching `filters`, as the manager lists them.
    async fn networks(
        &self,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<bollard::models::Network>, RuntimeError> {
        networks_on(&self.manager, filters).await
    }

    /// The deployment with this name, if it is up.
    pub(super) async fn find(&self, name: &str) -> Result<Option<Deployment>, RuntimeError> {
        Ok(self.list().await?.into_iter().find(|d| d.name == name))
    }

    /// Every deployment of this swarm, with each running node's current
    /// overlay address.
    pub(super) async fn list(&self) -> Result<Vec<Deployment>, RuntimeError> {
        let filters = with_label(format!("{}={}", labels::TOOL, labels::TOOL_VALUE));
        let nets = self.networks(&filters).await?;
        let mut out = Vec::new();
        for n in nets {
            if n.scope.as_deref() != Some("swarm") {
                continue;
            }
            let Some(json) = n.labels.and_then(|l| l.get(labels::DEPLOYMENT).cloned()) else {
                continue;
            };
            let mut d: Deployment = match serde_json::from_str(&json) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!("ignoring a network whose deployment label does not parse: {e}");
                    continue;
                }
            };
            for i in 0..d.nodes.len() {
                let node = d.nodes[i].clone();
                if let Ok(r) = self.running(&d.run_id, &node).await? {
                    d.nodes[i].announce = SocketAddr::new(r.ip, DATA_PORT);
                }
            }
            out.push(d);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Remove everything labelled with `run_id`, on every engine.
    pub(super) async fn remove_run(&self, run_id: &str) -> Result<Removed, RuntimeError> {
        self.remove_labelled(&format!("{}={run_id}", labels::RUN_ID))
            .await
    }

    /// Remove everything redis-drill made on this swarm.
    pub(super) async fn remove_all(&self) -> Result<Removed, RuntimeError> {
        self.remove_labelled(&format!("{}={}", labels::TOOL, labels::TOOL_VALUE))
            .await
    }

    /// Services first (the swarm stops their tasks), then on every engine
    /// the containers and volumes carrying `label`, then the networks.
    /// Every step is tried; what could not be removed is named after.
    async fn remove_labelled(&self, label: &str) -> Result<Removed, RuntimeError> {
        let filters = with_label(label.to_string());
        let mut removed = Removed::default();
        let mut left: Vec<String> = Vec::new();
        let manager = &self.manager.docker;
        // The links' helpers first: each shares a task's or a clients
        // container's namespace, and goes before it.
        let helpers = HashMap::from([(
            "label".to_string(),
            vec![
                label.to_string(),
                format!("{}={}", labels::ROLE, super::links::ROLE),
            ],
        )]);
        for e in self.engines.values() {
            let listed = e
                .docker
                .list_containers(Some(
                    bollard::query_parameters::ListContainersOptionsBuilder::default()
                        .all(true)
                        .filters(&helpers)
                        .build(),
                ))
                .await
                .map_err(RuntimeError::docker(format!(
                    "listing containers on {}",
                    e.name
                )))?;
            for c in listed {
                let Some(id) = c.id else { continue };
                let opts = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .build();
                match e.docker.remove_container(&id, Some(opts)).await {
                    Ok(()) => removed.containers += 1,
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 404 | 409,
                        ..
                    }) => {}
                    Err(err) => left.push(format!("container {id} on {}: {err}", e.name)),
                }
            }
        }
        let services = manager
            .list_services(Some(
                bollard::query_parameters::ListServicesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(RuntimeError::docker("listing the swarm's services"))?;
        for s in services {
            let Some(id) = s.id else { continue };
            match manager.delete_service(&id).await {
                Ok(()) => removed.services += 1,
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => left.push(format!("service {id}: {e}")),
            }
        }
        // Each engine removes its tasks' containers on its own time; any
        // left then (or made outside a service: clients) are removed here.
        let deadline = Instant::now() + TASKS_GONE;
        for e in self.engines.values() {
            loop {
                let containers = e
                    .docker
                    .list_containers(Some(
                        bollard::query_parameters::ListContainersOptionsBuilder::default()
                            .all(true)
                            .filters(&filters)
                            .build(),
                    ))
                    .await
                    .map_err(RuntimeError::docker(format!(
                        "listing containers on {}",
                        e.name
                    )))?;
                let tasks = containers
                    .iter()
                    .filter(|c| {
                        (c.labels.as_ref())
                            .is_some_and(|l| l.contains_key("com.docker.swarm.task.id"))
                    })
                    .count();
                if tasks > 0 && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                for c in containers {
                    let Some(id) = c.id else { continue };
                    let opts = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
                        .force(true)
                        .v(true)
                        .build();
                    match e.docker.remove_container(&id, Some(opts)).await {
                        Ok(()) => removed.containers += 1,
                        Err(bollard::errors::Error::DockerResponseServerError {
                            status_code: 404 | 409,
                            ..
                        }) => {}
                        Err(err) => left.push(format!("container {id} on {}: {err}", e.name)),
                    }
                }
                break;
            }
            let volumes = e
                .docker
                .list_volumes(Some(
                    bollard::query_parameters::ListVolumesOptionsBuilder::default()
                        .filters(&filters)
                        .build(),
                ))
                .await
                .map_err(RuntimeError::docker(format!(
                    "listing volumes on {}",
                    e.name
                )))?;
            for v in volumes.volumes.unwrap_or_default() {
                match e
                    .docker
                    .remove_volume(
                        &v.name,
                        None::<bollard::query_parameters::RemoveVolumeOptions>,
                    )
                    .await
                {
                    Ok(()) => removed.volumes += 1,
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        ..
                    }) => {}
                    Err(err) => left.push(format!("volume {} on {}: {err}", v.name, e.name)),
                }
            }
        }
        let nets = self.networks(&filters).await?;
        for n in nets {
            let Some(id) = n.id else { continue };
            let name = n.name.unwrap_or_else(|| id.clone());
            // An overlay network is refused while an engine still holds an
            // endpoint of a task that just went; bounded retries.
            let mut last = None;
            for _ in 0..50 {
                match manager.remove_network(&id).await {
                    Ok(()) => {
                        removed.networks += 1;
                        last = None;
                        break;
                    }
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        ..
                    }) => {
                        last = None;
                        break;
                    }
                    Err(e) => {
                        last = Some(e);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
            if let Some(e) = last {
                left.push(format!("network {name}: {e}"));
            }
        }
        // The manager may list a removed overlay network a moment longer,
        // and each other engine keeps its own copy until the swarm tells it
        // the network is gone: `down` returns once no engine lists it
        // (bounded), so that nothing of the run is left on any engine.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let mut still = Vec::new();
            for e in self.engines.values() {
                let nets = networks_on(e, &filters).await?;
                still.extend(
                    nets.into_iter()
                        .map(|n| (e.name.clone(), n.name.unwrap_or_default())),
                );
            }
            if still.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                left.extend(still.into_iter().map(|(engine, name)| {
                    format!("network {name} on {engine} (still listed 15 s after its removal)")
                }));
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if !left.is_empty() {
            return Err(RuntimeError::Environment(format!(
                "left on the swarm: {}",
                left.join("; ")
            )));
        }
        Ok(removed)
    }
}

/// The networks `engine` lists matching `filters`.
async fn networks_on(
    engine: &super::engines::Engine,
    filters: &HashMap<String, Vec<String>>,
) -> Result<Vec<bollard::models::Network>, RuntimeError> {
    (engine.docker)
        .list_networks(Some(
            bollard::query_parameters::ListNetworksOptionsBuilder::default()
                .filters(filters)
                .build(),
        ))
        .await
        .map_err(RuntimeError::docker(format!(
            "listing networks on {}",
            engine.name
        )))
}
