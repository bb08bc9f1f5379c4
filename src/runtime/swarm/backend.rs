//! The swarm backend behind the two protocols: nodes as services, through
//! the manager and the engines that run their tasks; partitions as each
//! node's own filter table, written by `exec` through its engine; links by
//! a helper container in each namespace ([`super::links`]).

use std::time::Duration;

use futures::FutureExt as _;
use futures::TryStreamExt as _;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use std::net::{IpAddr, Ipv4Addr};

use super::engine::{CLIENTS_HOST, DATA_PORT, SwarmRuntime, network_name};
use super::up::common_labels;
use crate::net::links::LinkSample;
use crate::net::{Applied, Grudge, Net};
use crate::runtime::backend::{Backend, ClientOrigin};
use crate::runtime::deployment::{
    DeployedNode, Deployment, ExecOutput, MAX_CLIENT_REGIONS, NodeAction, Removed, RuntimeKind,
    UpOptions, labels,
};
use crate::runtime::drops::resolve;
use crate::runtime::error::{NetError, RuntimeError};
use crate::runtime::netns::NetNs;
use crate::topology::{Link, NodeSpec, Topology};

impl Net for SwarmRuntime {
    type Deployment = Deployment;
    type Error = NetError;

    /// Each node's own filter table, written by `iptables-restore` in its
    /// task's container through the engine that runs it — the Docker
    /// runtime's rules, reached through another engine.
    fn partition<'a>(
        &'a self,
        d: &'a Deployment,
        grudge: &'a Grudge,
    ) -> BoxFuture<'a, Result<Applied, NetError>> {
        async move {
            let peers = resolve(d, grudge, &client_sources(d))?;
            self.write_partitions(d, &peers).await
        }
        .boxed()
    }

    /// Every node's table written empty; one not running has no rules.
    fn heal<'a>(&'a self, d: &'a Deployment) -> BoxFuture<'a, Result<Applied, NetError>> {
        async move {
            let empty: Vec<_> = (d.nodes.iter())
                .map(|n| (n.name.clone(), Vec::new()))
                .collect();
            self.write_partitions(d, &empty).await
        }
        .boxed()
    }

    /// Whether iptables works in every running node's container.
    fn can_partition<'a>(&'a self, d: &'a Deployment) -> BoxFuture<'a, Result<(), NetError>> {
        async move {
            let checks = d.nodes.iter().map(|n| async move {
                let Ok((engine, r)) = self.task(d, n).await else {
                    // Not running: nothing to check, nothing to cut.
                    return Ok(());
                };
                let out = crate::runtime::docker::exec::exec_with(
                    &engine.docker,
                    &r.container,
                    &["iptables", "-w", "-S", "INPUT"],
                    &[],
                )
                .await?;
                if out.exit_code == 0 {
                    Ok(())
                } else {
                    Err(NetError::Unsupported(format!(
                        "iptables does not work in node {}'s container on {} (exit code {}): {}",
                        n.name,
                        engine.name,
                        out.exit_code,
                        crate::runtime::host::first_line(&out.stderr, &out.stdout)
                    )))
                }
            });
            futures::future::try_join_all(checks).await.map(|_| ())
        }
        .boxed()
    }

    /// Every relay of the run (each node's, each region's clients') told
    /// the new links through its helper's engine.
    fn set_links<'a>(
        &'a self,
        d: &'a Deployment,
        links: &'a [Link],
    ) -> BoxFuture<'a, Result<(), NetError>> {
        async move {
            let told = SwarmRuntime::set_links(self, d, links).await?;
            tracing::debug!(relays = told, "links set");
            Ok(())
        }
        .boxed()
    }

    /// From each node's helper, inside its namespace (whose rules send the
    /// measuring connection through its relay), by `exec` through the
    /// engine that runs it.
    fn measure_links<'a>(
        &'a self,
        d: &'a Deployment,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Vec<LinkSample>> {
        async move {
            let d = self
                .find(&d.name)
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| d.clone());
            let from = super::links::ExecPings {
                rt: self,
                helpers: self.helpers_by_node(&d).await,
            };
            crate::runtime::links::measure(&d, &from, cancel).await
        }
        .boxed()
    }
}

/// The sources of the drill's own connections on the overlay: the run's
/// `clients` container (the `clients` of a grudge).
fn client_sources(d: &Deployment) -> Vec<IpAddr> {
    d.nodes
        .iter()
        .find_map(|n| match n.announce.ip() {
            IpAddr::V4(v4) if !v4.is_unspecified() => {
                let o = v4.octets();
                Some(IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], CLIENTS_HOST)))
            }
            _ => None,
        })
        .into_iter()
        .collect()
}

impl SwarmRuntime {
    /// Write every node's table at once (see the Docker runtime's
    /// `write_partitions`: concurrency keeps a partition's start sharp).
    async fn write_partitions(
        &self,
        d: &Deployment,
        peers: &[(String, Vec<IpAddr>)],
    ) -> Result<Applied, NetError> {
        use crate::runtime::docker::partitions::{applied, docker_script};
        let writes = peers.iter().map(|(node, from)| async move {
            let n = d.node(node)?;
            let Ok((engine, r)) = self.task(d, n).await else {
                return Ok::<_, NetError>((node, from.len(), None));
            };
            let result = crate::runtime::docker::exec::restore(
                &engine.docker,
                &format!("node {node} on {}", engine.name),
                &r.container,
                &[],
                &docker_script(from),
            )
            .await;
            Ok((node, from.len(), Some(result)))
        });
        let mut results = Vec::new();
        for result in futures::future::join_all(writes).await {
            let (node, rules, result) = result?;
            results.push((node.clone(), rules, result));
        }
        applied(results)
    }
}

impl Backend for SwarmRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Swarm
    }

    fn up<'a>(
        &'a self,
        topology: &'a Topology,
        opts: &'a UpOptions,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Deployment, RuntimeError>> {
        SwarmRuntime::up(self, topology, opts, cancel).boxed()
    }

    fn add_node<'a>(
        &'a self,
        _d: &'a Deployment,
        _spec: NodeSpec,
        _timeout: Duration,
        _cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Deployment, RuntimeError>> {
        async move {
            Err(RuntimeError::BadInput(
                "add-node on the swarm runtime: not built yet (docs/swarm.md)".into(),
            ))
        }
        .boxed()
    }

    /// Remove one node's service (its volume goes with the run).
    fn remove_node<'a>(
        &'a self,
        d: &'a Deployment,
        node: &'a str,
    ) -> BoxFuture<'a, Result<Removed, RuntimeError>> {
        async move {
            let n = d.node(node)?;
            let mut removed = Removed::default();
            match self.manager.docker.delete_service(&n.handle).await {
                Ok(()) => removed.services = 1,
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => {
                    return Err(RuntimeError::Docker {
                        context: format!("removing the service of node {node}"),
                        source: e,
                    });
                }
            }
            Ok(removed)
        }
        .boxed()
    }

    fn find<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Deployment>, RuntimeError>> {
        SwarmRuntime::find(self, name).boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Deployment>, RuntimeError>> {
        SwarmRuntime::list(self).boxed()
    }

    fn remove_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<Removed, RuntimeError>> {
        SwarmRuntime::remove_run(self, run_id).boxed()
    }

    fn remove_all(&self) -> BoxFuture<'_, Result<Removed, RuntimeError>> {
        SwarmRuntime::remove_all(self).boxed()
    }

    fn node_action<'a>(
        &'a self,
        d: &'a Deployment,
        node: &'a DeployedNode,
        action: NodeAction,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        SwarmRuntime::node_action(self, d, node, action).boxed()
    }

    /// `exec` in the node's task container, through the engine running it.
    fn exec<'a>(
        &'a self,
        d: &'a Deployment,
        node: &'a DeployedNode,
        cmd: &'a [String],
    ) -> BoxFuture<'a, Result<ExecOutput, RuntimeError>> {
        async move {
            let (engine, r) = self.task(d, node).await?;
            let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
            crate::runtime::docker::exec::exec_with(&engine.docker, &r.container, &cmd, &[]).await
        }
        .boxed()
    }

    fn logs<'a>(
        &'a self,
        d: &'a Deployment,
        node: &'a DeployedNode,
        tail: usize,
    ) -> BoxFuture<'a, Result<String, RuntimeError>> {
        async move {
            let (engine, r) = self.task(d, node).await?;
            let opts = bollard::query_parameters::LogsOptionsBuilder::default()
                .stdout(true)
                .stderr(true)
                .tail(&tail.to_string())
                .build();
            let chunks: Vec<_> = engine
                .docker
                .logs(&r.container, Some(opts))
                .try_collect()
                .await
                .map_err(RuntimeError::docker(format!(
                    "reading logs of node {} on {}",
                    node.name, engine.name
                )))?;
            Ok(chunks
                .into_iter()
                .map(|c| String::from_utf8_lossy(&c.into_bytes()).into_owned())
                .collect())
        }
        .boxed()
    }

    /// The namespace of the run's `clients` container on the manager's
    /// engine, on the overlay network.
    fn client_namespace<'a>(
        &'a self,
        d: &'a Deployment,
    ) -> BoxFuture<'a, Result<Option<NetNs>, RuntimeError>> {
        async move { self.clients(d, &self.manager.name, None).await.map(Some) }.boxed()
    }

    /// The namespace of a `clients` container on an engine of the region.
    fn region_place<'a>(
        &'a self,
        d: &'a Deployment,
        region: &'a str,
    ) -> BoxFuture<'a, Result<ClientOrigin, RuntimeError>> {
        async move {
            let engine = (self.regions.iter())
                .find(|(_, r)| r.as_deref() == Some(region))
                .map(|(e, _)| e.clone())
                .ok_or_else(|| {
                    RuntimeError::BadInput(format!("region `{region}` has no swarm node"))
                })?;
            let ns = self.clients(d, &engine, Some(region)).await?;
            Ok((Some(ns), None))
        }
        .boxed()
    }

    /// `redis-cli` in the node's own container reaches it on its port.
    fn redis_cli_target(&self, _node: &DeployedNode) -> (String, u16) {
        ("127.0.0.1".into(), DATA_PORT)
    }

    /// A worker container on the first engine of the region, at the
    /// region's clients address on the overlay; its image (the node image
    /// plus this binary) built on that engine first.
    fn worker<'a>(
        &'a self,
        d: &'a Deployment,
        region: &'a str,
    ) -> BoxFuture<'a, Result<std::sync::Arc<dyn crate::workload::adapter::Remote>, RuntimeError>>
    {
        async move {
            let name = (self.regions.iter())
                .find(|(_, r)| r.as_deref() == Some(region))
                .map(|(e, _)| e.clone())
                .ok_or_else(|| {
                    RuntimeError::BadInput(format!(
                        "clients: a worker in region `{region}`: no swarm node carries that region"
                    ))
                })?;
            let e = self.engine(&name)?;
            let ip = d.client_addr(region).ok_or_else(|| {
                RuntimeError::BadInput(format!(
                    "clients: a worker in region `{region}`: not a region of {} (or past the first {MAX_CLIENT_REGIONS})",
                    d.name
                ))
            })?;
            let base = d.image.split(", ").next().unwrap_or_default().to_string();
            let server = (d.topology.nodes.first())
                .map(|n| n.server.clone())
                .unwrap_or_default();
            crate::runtime::image::ensure_local(&e.docker, &base, &server).await?;
            let image = crate::runtime::image::ensure_worker(&e.docker, &base).await?;
            // Across links, the worker joins the region's clients container,
            // whose namespace holds the region's relay and rules.
            let join = if d.topology.links.is_empty() {
                None
            } else {
                Some(self.clients_container(d, &name, Some(region)).await?)
            };
            let w = super::worker::SwarmWorker::new(d, region, e, image, ip, join);
            Ok(std::sync::Arc::new(w) as std::sync::Arc<dyn crate::workload::adapter::Remote>)
        }
        .boxed()
    }
}

/// The run's `clients` container (`region` `None`), or a region's.
pub(super) fn clients_name(d: &Deployment, region: Option<&str>) -> String {
    format!(
        "rd-{}-_clients{}",
        d.run_id,
        region.map(|r| format!("_{r}")).unwrap_or_default()
    )
}

impl SwarmRuntime {
    /// The network namespace of an idle `clients` container of the run on
    /// `engine` ([`Self::clients_container`]). Its threads join it with
    /// `setns(2)`, which needs the engine on this machine: a lab engine. An
    /// engine elsewhere runs the clients as a worker of its own.
    async fn clients(
        &self,
        d: &Deployment,
        engine: &str,
        region: Option<&str>,
    ) -> Result<NetNs, RuntimeError> {
        let e = self.engine(engine)?;
        if !e.local {
            return Err(RuntimeError::Environment(format!(
                "clients on swarm engine `{engine}`: its engine is not on this machine; give the region a worker (`region:` in the workload's clients, docs/swarm.md)"
            )));
        }
        let name = self.clients_container(d, engine, region).await?;
        let pid = crate::runtime::docker::links::container_pid(&e.docker, &name).await?;
        NetNs::of_pid(pid).map_err(RuntimeError::io(format!(
            "opening the network namespace of {name} on {engine}"
        )))
    }

    /// An idle `clients` container of the run on `engine`, attached to the
    /// run's overlay network at the clients' address (a region's, with its
    /// relay of the links when the topology has some), created and started
    /// when missing; its name.
    pub(super) async fn clients_container(
        &self,
        d: &Deployment,
        engine: &str,
        region: Option<&str>,
    ) -> Result<String, RuntimeError> {
        let e = self.engine(engine)?;
        let name = clients_name(d, region);
        let docker = &e.docker;
        let exists = match docker.inspect_container(&name, None).await {
            Ok(_) => true,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => false,
            Err(err) => {
                return Err(RuntimeError::Docker {
                    context: format!("inspecting {name} on {engine}"),
                    source: err,
                });
            }
        };
        if !exists {
            let image = d.image.split(", ").next().unwrap_or_default().to_string();
            let server = d
                .topology
                .nodes
                .first()
                .map(|n| n.server.clone())
                .unwrap_or_default();
            crate::runtime::image::ensure_local(docker, &image, &server).await?;
            let mut lbls = common_labels(d);
            lbls.insert(labels::ROLE.into(), "clients".into());
            if let Some(r) = region {
                lbls.insert(labels::REGION.into(), r.to_string());
            }
            let ip = match region {
                Some(r) => d.client_addr(r).ok_or_else(|| {
                    RuntimeError::BadInput(format!(
                        "region `{r}` can have no clients here (an unknown region, or past the first {MAX_CLIENT_REGIONS})"
                    ))
                })?,
                None => *client_sources(d).first().ok_or_else(|| {
                    RuntimeError::Environment(format!("{} has no node running on its network", d.name))
                })?,
            };
            let network = network_name(&d.run_id);
            let endpoints = std::collections::HashMap::from([(
                network.clone(),
                bollard::models::EndpointSettings {
                    ipam_config: Some(bollard::models::EndpointIpamConfig {
                        ipv4_address: Some(ip.to_string()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )]);
            let body = bollard::models::ContainerCreateBody {
                image: Some(image),
                // The image's redis-server on its own loopback: a process
                // that holds the namespace and does nothing.
                cmd: Some(
                    ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                        .map(String::from)
                        .to_vec(),
                ),
                labels: Some(lbls),
                host_config: Some(bollard::models::HostConfig {
                    network_mode: Some(network),
                    ..Default::default()
                }),
                networking_config: Some(bollard::models::NetworkingConfig {
                    endpoints_config: Some(endpoints),
                }),
                ..Default::default()
            };
            let opts = bollard::query_parameters::CreateContainerOptionsBuilder::default()
                .name(&name)
                .build();
            docker
                .create_container(Some(opts), body)
                .await
                .map_err(RuntimeError::docker(format!("creating {name} on {engine}")))?;
            docker
                .start_container(&name, None)
                .await
                .map_err(RuntimeError::docker(format!("starting {name} on {engine}")))?;
            if let Some(r) = region {
                self.install_clients_links(d, engine, r, &name, ip).await?;
            }
        }
        Ok(name)
    }
}
