//! The Docker runtime (bollard): one container per node on one bridge network
//! per topology, static IPs so a restarted node keeps its address, the data
//! port published on 127.0.0.1 only.
//!
//! The network carries the whole deployment as a label, so a later invocation
//! (`status`, `down`, `kill`, ...) rebuilds it from Docker alone. A region can
//! later get a network of its own: nodes are created from a per-node network
//! name and address, not from one global value.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkingConfig, PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RestartContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures::TryStreamExt;
use tokio_util::sync::CancellationToken;

use super::config::{self, Listen};
use super::image::{self, DEFAULT_IMAGE};
use super::netns::NetNs;
use super::{
    AddedNode, DeployedNode, Deployment, ExecOutput, NodeAction, Removed, RuntimeError,
    RuntimeKind, UpOptions, labels,
};
use crate::topology::{Kind, NodeSpec, Role, Topology};

/// The port redis-server listens on inside every container; the same in each,
/// since each container has its own address.
const DATA_PORT: u16 = 6379;
/// The cluster bus port inside containers: data + 10000, the Redis default,
/// which is safe here because it is not a host port.
const BUS_PORT: u16 = 16379;
/// Grace period for `stop` before Docker sends SIGKILL.
const STOP_GRACE_S: i32 = 10;
/// How long a started or restarted node may take to answer PING again; the
/// process runtime allows the same.
const RESTART_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Host address of the first container in a network (.1 is the gateway).
const FIRST_HOST: u8 = 11;
/// The `clients` container's host address on the run's /24: below the nodes'
/// range, above the gateway (.1).
pub(crate) const CLIENTS_HOST: u8 = 2;
/// The `clients` container's name suffix: node names cannot start with an
/// underscore, so it never clashes with a node's container.
const CLIENTS_SUFFIX: &str = "_clients";

pub struct DockerRuntime {
    docker: Docker,
}

impl DockerRuntime {
    /// Connect to the local engine and agree on an API version; fail fast when
    /// nothing answers.
    pub async fn connect() -> Result<DockerRuntime, RuntimeError> {
        let docker = Docker::connect_with_local_defaults().map_err(RuntimeError::NoDocker)?;
        let docker = tokio::time::timeout(Duration::from_secs(3), docker.negotiate_version())
            .await
            .map_err(|_| RuntimeError::DockerSilent("the engine did not answer within 3 s"))?
            .map_err(RuntimeError::NoDocker)?;
        tokio::time::timeout(Duration::from_secs(3), docker.ping())
            .await
            .map_err(|_| RuntimeError::DockerSilent("the engine did not answer a ping within 3 s"))?
            .map_err(RuntimeError::NoDocker)?;
        Ok(DockerRuntime { docker })
    }

    pub fn client(&self) -> &Docker {
        &self.docker
    }

    pub async fn up(
        &self,
        topology: &Topology,
        opts: &UpOptions,
        cancel: &CancellationToken,
    ) -> Result<Deployment, RuntimeError> {
        let started = Instant::now();
        if let Some(existing) = self.find(&opts.name).await? {
            return Err(RuntimeError::AlreadyUp {
                name: opts.name.clone(),
                run_id: existing.run_id,
            });
        }

        // Images first: a bad image name must fail before anything is created.
        let images: BTreeMap<&str, String> = topology
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), image_for(topology, n)))
            .collect();
        let mut unique: Vec<&String> = images.values().collect();
        unique.sort();
        unique.dedup();
        for img in unique {
            image::ensure(&self.docker, img).await?;
        }
        check_cancel(cancel)?;

        let host_ports = host_ports(topology)?;
        let subnet = self.pick_subnet().await?;
        let network = network_name(&opts.run_id);
        let ip_of = |i: usize| Ipv4Addr::new(subnet[0], subnet[1], subnet[2], FIRST_HOST + i as u8);

        let nodes: Vec<DeployedNode> = topology
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| DeployedNode {
                name: n.name.clone(),
                addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), host_ports[i]),
                announce: SocketAddr::new(IpAddr::V4(ip_of(i)), DATA_PORT),
                bus_port: BUS_PORT,
                handle: container_name(&opts.run_id, &n.name),
            })
            .collect();
        let deployment = Deployment {
            name: opts.name.clone(),
            run_id: opts.run_id.clone(),
            runtime: RuntimeKind::Docker,
            image: topology
                .image
                .clone()
                .unwrap_or_else(|| DEFAULT_IMAGE.to_string()),
            topology: topology.clone(),
            nodes,
        };

        self.create_network(&network, subnet, &deployment).await?;
        tracing::debug!(
            network,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "network created"
        );
        check_cancel(cancel)?;

        // Primaries first: a primary cannot report cluster_state:ok until 2 s
        // after its own start (Redis's writable delay), so each primary starts
        // as soon as it is created, while the replicas — which carry no such
        // delay — are created alongside and started once every primary runs.
        let image_of = |spec: &NodeSpec| images[spec.name.as_str()].clone();
        let (primaries, replicas): (Vec<_>, Vec<_>) = topology
            .nodes
            .iter()
            .zip(&deployment.nodes)
            .partition(|(spec, _)| spec.role == Role::Primary);
        let start_primaries = primaries.iter().map(|&(spec, node)| {
            let image = image_of(spec);
            let d = &deployment;
            let network = &network;
            async move {
                self.create_container(d, network, spec, node, image, None)
                    .await?;
                self.start_node(node).await
            }
        });
        let create_replicas = replicas.iter().map(|&(spec, node)| {
            self.create_container(&deployment, &network, spec, node, image_of(spec), None)
        });
        futures::future::try_join(
            futures::future::try_join_all(start_primaries),
            futures::future::try_join_all(create_replicas),
        )
        .await?;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "primaries started"
        );
        check_cancel(cancel)?;
        futures::future::try_join_all(replicas.iter().map(|(_, node)| self.start_node(node)))
            .await?;
        check_cancel(cancel)?;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "containers started"
        );

        // Readiness: redis answers PING; failing fast, with the node's log,
        // if its container exits meanwhile.
        let waits: Vec<_> = (deployment.nodes.iter())
            .map(|n| super::wait_for_ping(&n.name, n.addr, opts.timeout, cancel, || self.exited(n)))
            .collect();
        super::all_ready(waits, started, "docker").await?;
        check_cancel(cancel)?;
        super::docker_links::install_all(&self.docker, &deployment).await?;
        Ok(deployment)
    }

    /// Start one more container in `d`'s network: the next free static IP of
    /// its subnet, a free host port on 127.0.0.1, the same labels as `up` plus
    /// [`labels::ADDED_NODE`], which is how [`DockerRuntime::list`] learns of it.
    /// On error its container is removed again.
    pub async fn add_node(
        &self,
        d: &Deployment,
        spec: NodeSpec,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<Deployment, RuntimeError> {
        let started = Instant::now();
        let image = image_for(&d.topology, &spec);
        image::ensure(&self.docker, &image).await?;
        check_cancel(cancel)?;
        let network = network_name(&d.run_id);
        let ip = self.next_ip(d, &network).await?;
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let port = match spec.port {
            Some(p) if super::port_is_free(lo, p) => p,
            Some(p) => {
                return Err(RuntimeError::PortTaken {
                    node: spec.name.clone(),
                    ip: "127.0.0.1".into(),
                    port: p,
                });
            }
            None => super::free_port(lo)?,
        };
        let node = DeployedNode {
            name: spec.name.clone(),
            addr: SocketAddr::new(lo, port),
            announce: SocketAddr::new(IpAddr::V4(ip), DATA_PORT),
            bus_port: BUS_PORT,
            handle: container_name(&d.run_id, &spec.name),
        };
        let added = AddedNode {
            node: node.clone(),
            spec: spec.clone(),
        };
        let grown = d.with_node(added.clone());
        let result = async {
            self.create_container(&grown, &network, &spec, &node, image, Some(&added))
                .await?;
            check_cancel(cancel)?;
            self.start_node(&node).await?;
            super::wait_for_ping(&node.name, node.addr, timeout, cancel, || {
                self.exited(&node)
            })
            .await
        }
        .await;
        if let Err(e) = result {
            if let Err(undo) = self.remove_container(&node.handle).await {
                tracing::warn!(node = %node.name, "removing the half-added node failed: {undo}");
            }
            return Err(e);
        }
        tracing::info!(
            node = %node.name,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "docker node added"
        );
        Ok(grown)
    }

    /// Remove one node's container. Idempotent.
    pub async fn remove_node(&self, d: &Deployment, node: &str) -> Result<Removed, RuntimeError> {
        let containers = self
            .remove_container(&container_name(&d.run_id, node))
            .await?;
        Ok(Removed {
            containers,
            ..Default::default()
        })
    }

    /// Force-remove a container and its volumes; 1 when it was there, 0 when not.
    async fn remove_container(&self, id: &str) -> Result<usize, RuntimeError> {
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(opts)).await {
            Ok(()) => Ok(1),
            // Gone already, or being removed by a concurrent cleanup.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => Ok(0),
            Err(e) => Err(RuntimeError::Docker {
                context: format!("removing container {id}"),
                source: e,
            }),
        }
    }

    /// The lowest host address of `network`'s /24, from [`FIRST_HOST`], that
    /// neither a node of `d` nor any container on the network holds.
    async fn next_ip(&self, d: &Deployment, network: &str) -> Result<Ipv4Addr, RuntimeError> {
        let info = self
            .docker
            .inspect_network(
                network,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .map_err(RuntimeError::docker(format!(
                "inspecting network {network}"
            )))?;
        let subnet = info
            .ipam
            .as_ref()
            .and_then(|i| i.config.as_ref())
            .into_iter()
            .flatten()
            .find_map(|c| parse_cidr(c.subnet.as_deref()?))
            .ok_or_else(|| {
                RuntimeError::Environment(format!("network {network} has no IPv4 subnet"))
            })?;
        let mut used: Vec<Ipv4Addr> = d
            .nodes
            .iter()
            .filter_map(|n| match n.announce.ip() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            })
            .collect();
        used.extend(
            info.containers
                .unwrap_or_default()
                .values()
                .filter_map(|c| {
                    c.ipv4_address
                        .as_deref()?
                        .split('/')
                        .next()?
                        .parse::<Ipv4Addr>()
                        .ok()
                }),
        );
        next_free_host(subnet, &used).ok_or_else(|| {
            RuntimeError::Environment(format!("no free address left in network {network}"))
        })
    }

    /// The network namespace of the run's `clients` container, creating and
    /// starting the container when it is not there: an idle process (the
    /// image's redis-server listening on its own loopback) on the run's network at
    /// .2, labelled with the run id like everything else, so `down` and every
    /// cleanup path remove it.
    pub async fn client_namespace(&self, d: &Deployment) -> Result<NetNs, RuntimeError> {
        let name = container_name(&d.run_id, CLIENTS_SUFFIX);
        let running = match self.docker.inspect_container(&name, None).await {
            Ok(info) => info.state.and_then(|s| s.running).unwrap_or(false),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                self.create_clients(d, &name).await?;
                false
            }
            Err(e) => {
                return Err(RuntimeError::Docker {
                    context: format!("inspecting {name}"),
                    source: e,
                });
            }
        };
        if !running {
            self.docker
                .start_container(&name, None)
                .await
                .map_err(RuntimeError::docker(format!("starting {name}")))?;
        }
        let info = self
            .docker
            .inspect_container(&name, None)
            .await
            .map_err(RuntimeError::docker(format!("inspecting {name}")))?;
        let pid = info
            .state
            .and_then(|s| s.pid)
            .filter(|&p| p > 0)
            .ok_or_else(|| RuntimeError::Environment(format!("{name} has no process")))?;
        NetNs::of_pid(pid).map_err(RuntimeError::io(format!(
            "opening the network namespace of {name}"
        )))
    }

    /// The network namespace of `node`'s container (running).
    pub async fn node_namespace(&self, node: &DeployedNode) -> Result<NetNs, RuntimeError> {
        let pid = super::docker_links::container_pid(&self.docker, &node.handle).await?;
        NetNs::of_pid(pid).map_err(RuntimeError::io(format!(
            "opening the network namespace of node {}",
            node.name
        )))
    }

    async fn create_clients(&self, d: &Deployment, name: &str) -> Result<(), RuntimeError> {
        let ip = d
            .nodes
            .iter()
            .find_map(|n| match n.announce.ip() {
                IpAddr::V4(v4) => {
                    let o = v4.octets();
                    Some(Ipv4Addr::new(o[0], o[1], o[2], CLIENTS_HOST))
                }
                IpAddr::V6(_) => None,
            })
            .ok_or_else(|| RuntimeError::Environment(format!("{} has no IPv4 node", d.name)))?;
        self.create_idle(d, name, IpAddr::V4(ip), None).await
    }

    /// The network namespace of the clients of `region`, with the links'
    /// relay and rules when the topology has links: the container
    /// `<run>-_clients_<region>` at the region's client address
    /// ([`Deployment::client_addr`]), created and started when missing.
    pub async fn region_namespace(
        &self,
        d: &Deployment,
        region: &str,
    ) -> Result<NetNs, RuntimeError> {
        let name = region_clients_name(&d.run_id, region);
        let ip = d.client_addr(region).ok_or_else(|| {
            RuntimeError::BadInput(format!(
                "region `{region}` can have no clients here (an unknown region, or past the first {})",
                super::MAX_CLIENT_REGIONS
            ))
        })?;
        let fresh = match self.docker.inspect_container(&name, None).await {
            Ok(info) => !info.state.and_then(|s| s.running).unwrap_or(false),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                self.create_idle(d, &name, ip, Some(region)).await?;
                true
            }
            Err(e) => {
                return Err(RuntimeError::Docker {
                    context: format!("inspecting {name}"),
                    source: e,
                });
            }
        };
        if fresh {
            self.docker
                .start_container(&name, None)
                .await
                .map_err(RuntimeError::docker(format!("starting {name}")))?;
            if !d.topology.links.is_empty() {
                let what = format!("the clients of {region}");
                super::docker_links::install_relay(
                    &self.docker,
                    d,
                    super::docker_links::Holder {
                        what: &what,
                        handle: &name,
                        own: ip,
                    },
                )
                .await?;
            }
        }
        let pid = super::docker_links::container_pid(&self.docker, &name).await?;
        NetNs::of_pid(pid).map_err(RuntimeError::io(format!(
            "opening the network namespace of {name}"
        )))
    }

    /// An idle container of the run (no node) on its network at `ip`: the
    /// clients' namespace, and a region's, which also holds a relay.
    async fn create_idle(
        &self,
        d: &Deployment,
        name: &str,
        ip: IpAddr,
        region: Option<&str>,
    ) -> Result<(), RuntimeError> {
        let network = network_name(&d.run_id);
        let mut lbls = common_labels(d);
        lbls.insert(labels::ROLE.into(), "clients".into());
        if let Some(r) = region {
            lbls.insert(labels::REGION.into(), r.to_string());
        }
        let mut endpoints = HashMap::new();
        endpoints.insert(
            network.clone(),
            EndpointSettings {
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: Some(ip.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        let body = ContainerCreateBody {
            image: Some(d.image.clone()),
            // The image's redis-server, listening on its own loopback only
            // (Redis 7 exits when it listens nowhere): a process that holds
            // the namespace and does nothing.
            cmd: Some(
                ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                    .map(String::from)
                    .to_vec(),
            ),
            hostname: Some(region.map_or_else(|| "clients".into(), |r| format!("clients-{r}"))),
            labels: Some(lbls),
            host_config: Some(HostConfig {
                network_mode: Some(network.clone()),
                // A region's clients hold a relay of the links, as a node does.
                cap_add: region.map(|_| vec!["NET_ADMIN".into()]),
                binds: match region {
                    Some(_) => super::docker_links::bind(&d.topology.links)?.map(|b| vec![b]),
                    None => None,
                },
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(endpoints),
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().name(name).build();
        self.docker
            .create_container(Some(opts), body)
            .await
            .map_err(RuntimeError::docker(format!("creating {name}")))?;
        Ok(())
    }

    async fn start_node(&self, n: &DeployedNode) -> Result<(), RuntimeError> {
        self.docker
            .start_container(&n.handle, None)
            .await
            .map_err(|source| {
                let text = source.to_string();
                let hint = if text.contains("port is already allocated")
                    || text.contains("address already in use")
                {
                    format!(" (host port {} is taken)", n.addr.port())
                } else {
                    String::new()
                };
                RuntimeError::Docker {
                    context: format!("starting node {}{hint}", n.name),
                    source,
                }
            })
    }

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

    async fn create_network(
        &self,
        name: &str,
        subnet: [u8; 3],
        deployment: &Deployment,
    ) -> Result<(), RuntimeError> {
        let mut lbls = common_labels(deployment);
        lbls.insert(
            labels::DEPLOYMENT.into(),
            serde_json::to_string(deployment).expect("a deployment serializes"),
        );
        let req = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some(format!("{}.{}.{}.0/24", subnet[0], subnet[1], subnet[2])),
                    gateway: Some(format!("{}.{}.{}.1", subnet[0], subnet[1], subnet[2])),
                    ..Default::default()
                }]),
                options: None,
            }),
            labels: Some(lbls),
            ..Default::default()
        };
        self.docker
            .create_network(req)
            .await
            .map_err(RuntimeError::docker(format!("creating network {name}")))?;
        Ok(())
    }

    async fn create_container(
        &self,
        deployment: &Deployment,
        network: &str,
        spec: &NodeSpec,
        node: &DeployedNode,
        image: String,
        added: Option<&AddedNode>,
    ) -> Result<(), RuntimeError> {
        let topology = &deployment.topology;
        let replicaof = replica_target(deployment, spec).map(|a| (a.ip().to_string(), a.port()));
        let listen = Listen {
            bind: "0.0.0.0".into(),
            port: DATA_PORT,
            bus_port: BUS_PORT,
            dir: "/data".into(),
            logfile: String::new(),
            replicaof,
        };
        let args = config::to_args(&config::directives(topology, spec, &listen));
        let mut lbls = common_labels(deployment);
        lbls.insert(labels::NODE.into(), spec.name.clone());
        lbls.insert(
            labels::ROLE.into(),
            format!("{:?}", spec.role).to_lowercase(),
        );
        lbls.insert(labels::REGION.into(), spec.region.clone());
        if let Some(a) = added {
            lbls.insert(
                labels::ADDED_NODE.into(),
                serde_json::to_string(a).expect("a node serializes"),
            );
        }
        let mut ports: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        ports.insert(
            format!("{DATA_PORT}/tcp"),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(node.addr.port().to_string()),
            }]),
        );
        let mut endpoints = HashMap::new();
        endpoints.insert(
            network.to_string(),
            EndpointSettings {
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: Some(node.announce.ip().to_string()),
                    ..Default::default()
                }),
                aliases: Some(vec![spec.name.clone()]),
                ..Default::default()
            },
        );
        let body = ContainerCreateBody {
            image: Some(image),
            cmd: Some(args),
            hostname: Some(spec.name.clone()),
            labels: Some(lbls),
            exposed_ports: Some(vec![format!("{DATA_PORT}/tcp")]),
            // The data dir on an anonymous volume (the host's filesystem), not
            // the storage driver's: Redis fsyncs nodes.conf on every CLUSTER
            // SETSLOT, and on fuse-overlayfs that blocks the node for
            // milliseconds each time — hundreds of ms of client stalls during a
            // reshard that the process runtime never shows. Unlike a tmpfs it
            // survives a restart, so a restarted node keeps its cluster
            // identity; it is removed with the container (`v: true`).
            volumes: Some(vec!["/data".to_string()]),
            host_config: Some(HostConfig {
                port_bindings: Some(ports),
                network_mode: Some(network.to_string()),
                // iptables inside the node's own namespace, for partitions
                // and links (and the relay's SO_MARK).
                cap_add: Some(vec!["NET_ADMIN".into()]),
                // The relay of the links, run in the node's namespace.
                binds: super::docker_links::bind(&topology.links)?.map(|b| vec![b]),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(endpoints),
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default()
            .name(&node.handle)
            .build();
        self.docker
            .create_container(Some(opts), body)
            .await
            .map_err(RuntimeError::docker(format!("creating node {}", spec.name)))?;
        Ok(())
    }

    /// `Err(reason)` when the node's container has exited: its exit code and
    /// last log lines.
    async fn exited(&self, node: &DeployedNode) -> Result<(), String> {
        let Ok(info) = self.docker.inspect_container(&node.handle, None).await else {
            return Err("its container is gone".into());
        };
        let state = info.state.unwrap_or_default();
        if state.running == Some(true) {
            return Ok(());
        }
        let logs = self.logs(node, 20).await.unwrap_or_default();
        Err(format!(
            "its container exited with code {}; last log lines:\n{}",
            state.exit_code.unwrap_or(-1),
            logs.trim_end()
        ))
    }

    /// A /24 that no Docker network and no host route uses, from 172.28.0.0/14,
    /// starting at a random offset so concurrent runs rarely try the same one.
    async fn pick_subnet(&self) -> Result<[u8; 3], RuntimeError> {
        let nets = self
            .docker
            .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
            .await
            .map_err(RuntimeError::docker("listing networks"))?;
        let mut used: Vec<(u32, u32)> = nets
            .iter()
            .filter_map(|n| n.ipam.as_ref()?.config.as_ref())
            .flatten()
            .filter_map(|c| parse_cidr(c.subnet.as_deref()?))
            .collect();
        used.extend(host_routes());
        choose_subnet(&used, rand::random::<u16>()).ok_or_else(|| {
            RuntimeError::Environment(
                "no free /24 subnet left in 172.28.0.0/14 for a docker network".into(),
            )
        })
    }

    pub async fn find(&self, name: &str) -> Result<Option<Deployment>, RuntimeError> {
        Ok(self.list().await?.into_iter().find(|d| d.name == name))
    }

    pub async fn list(&self) -> Result<Vec<Deployment>, RuntimeError> {
        let mut filters = HashMap::new();
        filters.insert(
            "label".to_string(),
            vec![format!("{}={}", labels::TOOL, labels::TOOL_VALUE)],
        );
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
        let mut filters = HashMap::new();
        filters.insert(
            "label".to_string(),
            vec![
                format!("{}={}", labels::TOOL, labels::TOOL_VALUE),
                labels::ADDED_NODE.to_string(),
            ],
        );
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

    pub async fn remove_run(&self, run_id: &str) -> Result<Removed, RuntimeError> {
        self.remove_labelled(&format!("{}={run_id}", labels::RUN_ID))
            .await
    }

    pub async fn remove_all(&self) -> Result<Removed, RuntimeError> {
        self.remove_labelled(&format!("{}={}", labels::TOOL, labels::TOOL_VALUE))
            .await
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
        let mut filters = HashMap::new();
        filters.insert("label".to_string(), vec![label.to_string()]);
        let containers = self.containers(&filters).await?;
        let removes = containers
            .iter()
            .filter_map(|c| c.id.clone())
            .map(|id| async move {
                let opts = RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .v(true)
                    .build();
                match self.docker.remove_container(&id, Some(opts)).await {
                    Ok(()) => Ok(1),
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        ..
                    }) => Ok(0),
                    // Already being removed by a concurrent cleanup.
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 409,
                        ..
                    }) => Ok(0),
                    Err(e) => Err(RuntimeError::Docker {
                        context: format!("removing container {id}"),
                        source: e,
                    }),
                }
            });
        let containers: usize = futures::future::try_join_all(removes)
            .await?
            .into_iter()
            .sum();
        let nets = self.networks(&filters).await?;
        let mut networks = 0;
        for n in nets {
            let Some(id) = n.id else { continue };
            match self.docker.remove_network(&id).await {
                Ok(()) => networks += 1,
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => {
                    return Err(RuntimeError::Docker {
                        context: format!("removing network {id}"),
                        source: e,
                    });
                }
            }
        }
        Ok(Removed {
            containers,
            networks,
            ..Default::default()
        })
    }

    pub async fn node_action(
        &self,
        deployment: &Deployment,
        node: &DeployedNode,
        action: NodeAction,
    ) -> Result<(), RuntimeError> {
        let ctx = format!("{action} node {}", node.name);
        let d = &self.docker;
        let h = node.handle.as_str();
        match action {
            NodeAction::Kill => {
                d.kill_container(
                    h,
                    Some(
                        KillContainerOptionsBuilder::default()
                            .signal("SIGKILL")
                            .build(),
                    ),
                )
                .await
            }
            NodeAction::Stop => {
                d.stop_container(
                    h,
                    Some(
                        StopContainerOptionsBuilder::default()
                            .t(STOP_GRACE_S)
                            .build(),
                    ),
                )
                .await
            }
            NodeAction::Start => d.start_container(h, None).await,
            NodeAction::Restart => {
                d.restart_container(
                    h,
                    Some(
                        RestartContainerOptionsBuilder::default()
                            .t(STOP_GRACE_S)
                            .build(),
                    ),
                )
                .await
            }
            NodeAction::Pause => d.pause_container(h).await,
            NodeAction::Resume => d.unpause_container(h).await,
        }
        .map_err(RuntimeError::docker(ctx))?;
        // Docker reports a container started before redis-server listens in
        // it; wait for PING, as the process runtime does.
        if matches!(action, NodeAction::Start | NodeAction::Restart) {
            super::wait_for_ping(
                &node.name,
                node.addr,
                RESTART_READY_TIMEOUT,
                &CancellationToken::new(),
                || self.exited(node),
            )
            .await?;
            // A started container has a fresh network namespace: its links'
            // relay and rules are gone with the old one.
            super::docker_links::install(&self.docker, deployment, node).await?;
        }
        Ok(())
    }

    pub async fn exec(
        &self,
        node: &DeployedNode,
        cmd: &[String],
    ) -> Result<ExecOutput, RuntimeError> {
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        super::exec::exec_in(&self.docker, &node.handle, &cmd)
            .await
            .map_err(|e| match e {
                RuntimeError::Docker { source, .. } => RuntimeError::Docker {
                    context: format!("exec `{}` on node {}", cmd.join(" "), node.name),
                    source,
                },
                other => other,
            })
    }
}

impl DockerRuntime {
    pub async fn logs(&self, node: &DeployedNode, tail: usize) -> Result<String, RuntimeError> {
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&tail.to_string())
            .build();
        let chunks: Vec<_> = self
            .docker
            .logs(&node.handle, Some(opts))
            .try_collect()
            .await
            .map_err(RuntimeError::docker(format!(
                "reading logs of node {}",
                node.name
            )))?;
        Ok(chunks
            .into_iter()
            .map(|c| String::from_utf8_lossy(&c.into_bytes()).into_owned())
            .collect())
    }
}

fn check_cancel(cancel: &CancellationToken) -> Result<(), RuntimeError> {
    if cancel.is_cancelled() {
        Err(RuntimeError::Cancelled)
    } else {
        Ok(())
    }
}

fn network_name(run_id: &str) -> String {
    format!("redis-drill-{run_id}")
}

/// The lowest address from .[`FIRST_HOST`] to .254 of the /24 `subnet`
/// (network, mask) that is not in `used`.
fn next_free_host(subnet: (u32, u32), used: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    let (net, _) = subnet;
    (FIRST_HOST..=254)
        .map(|h| Ipv4Addr::from(net | u32::from(h)))
        .find(|ip| !used.contains(ip))
}

/// The container of the clients of `region`: node names cannot start with
/// an underscore, so it never clashes with a node's.
pub(crate) fn region_clients_name(run_id: &str, region: &str) -> String {
    container_name(run_id, &format!("_clients_{region}"))
}

fn container_name(run_id: &str, node: &str) -> String {
    format!("redis-drill-{run_id}-{node}")
}

fn image_for(topology: &Topology, node: &NodeSpec) -> String {
    node.image
        .clone()
        .or_else(|| topology.image.clone())
        .unwrap_or_else(|| DEFAULT_IMAGE.to_string())
}

fn common_labels(d: &Deployment) -> HashMap<String, String> {
    HashMap::from([
        (labels::TOOL.to_string(), labels::TOOL_VALUE.to_string()),
        (labels::RUN_ID.to_string(), d.run_id.clone()),
        (labels::TOPOLOGY.to_string(), d.name.clone()),
    ])
}

/// For replicas of a `replicated` topology: their primary's in-network address.
/// (Cluster replicas are attached by CLUSTER REPLICATE, not by config.)
pub(crate) fn replica_target(d: &Deployment, spec: &NodeSpec) -> Option<SocketAddr> {
    if d.topology.kind != Kind::Replicated {
        return None;
    }
    let primary = spec.replica_of.as_deref()?;
    d.nodes
        .iter()
        .find(|n| n.name == primary)
        .map(|n| n.announce)
}

/// Host ports for every node: the topology's fixed port (which must be free now)
/// or a free one.
fn host_ports(topology: &Topology) -> Result<Vec<u16>, RuntimeError> {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    topology
        .nodes
        .iter()
        .map(|n| match n.port {
            Some(p) if super::port_is_free(lo, p) => Ok(p),
            Some(p) => Err(RuntimeError::PortTaken {
                node: n.name.clone(),
                ip: "127.0.0.1".into(),
                port: p,
            }),
            None => super::free_port(lo),
        })
        .collect()
}

fn parse_cidr(s: &str) -> Option<(u32, u32)> {
    let (ip, len) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - len.min(32))
    };
    Some((u32::from(ip) & mask, mask))
}

/// IPv4 routes of the host (destination, mask) from /proc/net/route, so we never
/// shadow a real network with a docker bridge.
fn host_routes() -> Vec<(u32, u32)> {
    let Ok(text) = std::fs::read_to_string("/proc/net/route") else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?.swap_bytes();
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?.swap_bytes();
            (mask != 0).then_some((dest, mask))
        })
        .collect()
}

/// The first /24 in 172.28.0.0/14 (1024 of them), from `offset`, that overlaps
/// none of `used`.
fn choose_subnet(used: &[(u32, u32)], offset: u16) -> Option<[u8; 3]> {
    let base = u32::from(Ipv4Addr::new(172, 28, 0, 0));
    (0..1024u32)
        .map(|i| (i + u32::from(offset)) % 1024)
        .find_map(|i| {
            let net = base + (i << 8);
            let mask = u32::MAX << 8;
            let overlaps = used.iter().any(|&(u, m)| {
                let common = mask & m;
                net & common == u & common
            });
            (!overlaps).then(|| {
                let o = Ipv4Addr::from(net).octets();
                [o[0], o[1], o[2]]
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_avoids_used_ranges() {
        let used = vec![
            parse_cidr("172.28.0.0/24").unwrap(),
            parse_cidr("172.28.1.0/24").unwrap(),
        ];
        assert_eq!(choose_subnet(&used, 0), Some([172, 28, 2]));
        // a /16 covering the whole 172.28 block pushes us to 172.29
        let used = vec![parse_cidr("172.28.0.0/16").unwrap()];
        assert_eq!(choose_subnet(&used, 0), Some([172, 29, 0]));
        // a wide host route over everything leaves nothing
        let used = vec![parse_cidr("172.16.0.0/12").unwrap()];
        assert_eq!(choose_subnet(&used, 7), None);
        // the offset wraps
        assert_eq!(choose_subnet(&[], 1023), Some([172, 31, 255]));
        assert_eq!(choose_subnet(&[], 1024), Some([172, 28, 0]));
    }

    #[test]
    fn next_free_host_skips_used_addresses() {
        let net = parse_cidr("172.28.5.0/24").unwrap();
        let ip = |h: u8| Ipv4Addr::new(172, 28, 5, h);
        assert_eq!(next_free_host(net, &[]), Some(ip(11)));
        assert_eq!(next_free_host(net, &[ip(11), ip(12), ip(14)]), Some(ip(13)));
        let all: Vec<Ipv4Addr> = (11..=254).map(ip).collect();
        assert_eq!(next_free_host(net, &all), None);
    }
}
