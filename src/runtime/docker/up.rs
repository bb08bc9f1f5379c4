//! Bringing a topology up on Docker, growing and shrinking it, and the
//! node actions (kill, stop, start, restart, pause, resume).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    KillContainerOptionsBuilder, RestartContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use tokio_util::sync::CancellationToken;

use super::containers::{SENTINEL_MOUNT, host_ports, image_for, sentinel_ports};
use super::engine::{
    BUS_PORT, DATA_PORT, DockerRuntime, FIRST_HOST, RESTART_READY_TIMEOUT, STOP_GRACE_S,
    container_name, network_name,
};
use crate::runtime::deployment::{
    AddedNode, DeployedNode, Deployment, NodeAction, Removed, RuntimeKind, UpOptions,
};
use crate::runtime::error::RuntimeError;
use crate::runtime::image;
use crate::runtime::ready::{all_ready, check_cancel, free_port, port_is_free, wait_for_ping};
use crate::runtime::secrets;
use crate::topology::{NodeSpec, Role, Topology};

impl DockerRuntime {
    /// Start every node of `topology` on a network of its own and wait until
    /// each answers PING; then install the links' relays. On any error the
    /// caller removes the run by its id.
    pub(super) async fn up(
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
        let sentinels = topology.sentinel.as_ref().map_or(0, |s| s.members.len());
        let on_network = topology.nodes.len() + sentinels;
        crate::runtime::neigh::check_here(on_network, on_network, "Docker")?;
        let images = self.ensure_images(topology).await?;
        check_cancel(cancel)?;
        // The host ports the tool picks are free when picked, but another
        // process (a second drill) may pick one too before this run's
        // container holds it: then the run is removed and brought up again
        // on other ports, a bounded number of times. A port the topology
        // fixed is not retried.
        const TRIES: usize = 3;
        for attempt in 1..=TRIES {
            match self.up_once(topology, opts, &images, started, cancel).await {
                Err(RuntimeError::PortTaken { node, ip, port })
                    if attempt < TRIES && !fixed_port(topology, &node) =>
                {
                    tracing::warn!(
                        node,
                        port,
                        attempt,
                        "host port {ip}:{port} was taken before the container held it; \
                         bringing the run up again on other ports"
                    );
                    self.remove_run(&opts.run_id).await?;
                    check_cancel(cancel)?;
                }
                other => return other,
            }
        }
        unreachable!("the last try returns")
    }

    /// One try of [`Self::up`], from the host ports on.
    async fn up_once(
        &self,
        topology: &Topology,
        opts: &UpOptions,
        images: &BTreeMap<&str, String>,
        started: Instant,
        cancel: &CancellationToken,
    ) -> Result<Deployment, RuntimeError> {
        // Fixed host ports are refused before the engine is asked for a subnet.
        let host_ports = host_ports(topology)?;
        let sentinel_ports = sentinel_ports(topology, &host_ports)?;
        let subnet = self.pick_subnet().await?;
        let mut deployment = layout(topology, opts, subnet, &host_ports, &sentinel_ports);
        if !topology.security.is_plain() {
            self.make_secrets(&mut deployment, subnet)?;
        }
        let network = network_name(&opts.run_id);
        self.create_network(&network, subnet, &deployment).await?;
        tracing::debug!(
            network,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "network created"
        );
        check_cancel(cancel)?;
        self.start_containers(&deployment, &network, images, started, cancel)
            .await?;

        // Readiness: redis answers PING; failing fast, with the node's log,
        // if its container exits meanwhile.
        let waits: Vec<_> = (deployment.nodes.iter())
            .map(|n| wait_for_ping(&n.name, n.addr, opts.timeout, cancel, || self.exited(n)))
            .collect();
        all_ready(waits, started, "docker").await?;
        check_cancel(cancel)?;
        if let Some(s) = &topology.sentinel {
            // Once the nodes answer, so that none starts by judging the
            // primary down.
            futures::future::try_join_all(
                (s.members.iter().zip(&deployment.sentinels))
                    .map(|(m, n)| self.start_sentinel(&deployment, &network, s, m, n)),
            )
            .await?;
            let waits: Vec<_> = (deployment.sentinels.iter())
                .map(|n| wait_for_ping(&n.name, n.addr, opts.timeout, cancel, || self.exited(n)))
                .collect();
            all_ready(waits, started, "docker").await?;
            check_cancel(cancel)?;
        }
        super::links::install_all(&self.docker, &deployment).await?;
        Ok(deployment)
    }

    /// One Sentinel's container: the image of its server, its
    /// `sentinel.conf` in a folder of the run's on the host, mounted
    /// writable (a Sentinel rewrites its file with its id, epochs and
    /// peers), listening on [`config::SENTINEL_PORT`] at its static address
    /// and announcing it, published on a host port of 127.0.0.1.
    async fn start_sentinel(
        &self,
        d: &Deployment,
        network: &str,
        s: &crate::topology::Sentinels,
        m: &crate::topology::SentinelSpec,
        node: &DeployedNode,
    ) -> Result<(), RuntimeError> {
        let primary = (d.topology.nodes.iter().zip(&d.nodes))
            .find(|(spec, _)| spec.role == Role::Primary)
            .map(|(_, n)| n.announce)
            .ok_or_else(|| {
                RuntimeError::BadInput("the Sentinels have no primary to watch".into())
            })?;
        let dir = self.run_dir(&d.run_id).join(&m.name);
        std::fs::create_dir_all(&dir)
            .map_err(RuntimeError::io(format!("creating {}", dir.display())))?;
        let listen = crate::runtime::config::Listen {
            bind: "0.0.0.0".into(),
            port: crate::runtime::config::SENTINEL_PORT,
            bus_port: 0,
            dir: SENTINEL_MOUNT.into(),
            logfile: String::new(),
            replicaof: None,
        };
        let conf = crate::runtime::config::to_conf(&crate::runtime::config::sentinel_directives(
            s,
            &listen,
            node.announce,
            primary,
        ));
        let path = dir.join("sentinel.conf");
        std::fs::write(&path, conf)
            .map_err(RuntimeError::io(format!("writing {}", path.display())))?;
        let image = crate::runtime::image::for_server(&m.server);
        image::ensure(&self.docker, &image, &m.server).await?;
        self.create_sentinel_container(d, network, m, node, image, &dir)
            .await?;
        self.start_node(node).await
    }

    /// The secrets of a topology with `security:`, in the run's folder on
    /// the host: a CA whose server certificate covers 127.0.0.1 (the
    /// published ports) and every address of the run's subnet (the bus,
    /// replication, nodes added later), a password, the credentials file
    /// every later command reads — installed for this process's
    /// connections from here on, the readiness PINGs first.
    fn make_secrets(&self, d: &mut Deployment, subnet: [u8; 3]) -> Result<(), RuntimeError> {
        let dir = self.run_dir(&d.run_id);
        std::fs::create_dir_all(&dir)
            .map_err(RuntimeError::io(format!("creating {}", dir.display())))?;
        let ips: Vec<IpAddr> = std::iter::once(IpAddr::V4(Ipv4Addr::LOCALHOST))
            .chain((1..=254).map(|h| IpAddr::V4(Ipv4Addr::new(subnet[0], subnet[1], subnet[2], h))))
            .collect();
        let made = secrets::make(&dir, d.topology.security, &ips)?;
        let sec = crate::net::secure::Security::load_with(Some(&made.credentials), |_| None)
            .map_err(|e| RuntimeError::Environment(e.to_string()))?;
        d.security = sec.facts();
        d.credentials = Some(made.credentials);
        crate::net::secure::install(sec);
        Ok(())
    }

    /// Every node's image, present locally (built or checked) before
    /// anything is created: a bad image name must fail first.
    async fn ensure_images<'t>(
        &self,
        topology: &'t Topology,
    ) -> Result<BTreeMap<&'t str, String>, RuntimeError> {
        // Every node's server found and asked first (its image is built
        // from it), and whether it has TLS when the topology asks for it —
        // but for nodes of an image the topology names, which brings its own.
        crate::runtime::servers::check_nodes(topology, |n| {
            n.image.is_none() && topology.image.is_none()
        })?;
        let images: BTreeMap<&str, String> = topology
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), image_for(topology, n)))
            .collect();
        let mut done: Vec<&String> = Vec::new();
        for n in &topology.nodes {
            let img = &images[n.name.as_str()];
            if !done.contains(&img) {
                image::ensure(&self.docker, img, &n.server).await?;
                done.push(img);
            }
        }
        Ok(images)
    }

    /// Create every node's container and start it. Primaries first: a
    /// primary cannot report cluster_state:ok until 2 s after its own start
    /// (Redis's writable delay), so each primary starts as soon as it is
    /// created, while the replicas — which carry no such delay — are created
    /// alongside and started once every primary runs.
    async fn start_containers(
        &self,
        deployment: &Deployment,
        network: &str,
        images: &BTreeMap<&str, String>,
        started: Instant,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        let topology = &deployment.topology;
        let image_of = |spec: &NodeSpec| images[spec.name.as_str()].clone();
        let (primaries, replicas): (Vec<_>, Vec<_>) = topology
            .nodes
            .iter()
            .zip(&deployment.nodes)
            .partition(|(spec, _)| spec.role == Role::Primary);
        let start_primaries = primaries.iter().map(|&(spec, node)| {
            let image = image_of(spec);
            async move {
                self.create_container(deployment, network, spec, node, image, None)
                    .await?;
                self.start_node(node).await
            }
        });
        let create_replicas = replicas.iter().map(|&(spec, node)| {
            self.create_container(deployment, network, spec, node, image_of(spec), None)
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
        Ok(())
    }

    /// Start one more container in `d`'s network: the next free static IP of
    /// its subnet, a free host port on 127.0.0.1, the same labels as `up` plus
    /// [`labels::ADDED_NODE`], which is how [`DockerRuntime::list`] learns of it.
    /// On error its container is removed again.
    pub(super) async fn add_node(
        &self,
        d: &Deployment,
        spec: NodeSpec,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<Deployment, RuntimeError> {
        let started = Instant::now();
        let image = image_for(&d.topology, &spec);
        image::ensure(&self.docker, &image, &spec.server).await?;
        check_cancel(cancel)?;
        let network = network_name(&d.run_id);
        let ip = self.next_ip(d, &network).await?;
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        // As in `up`: a port the tool picked that another process took
        // before the container held it is picked again (bounded).
        const TRIES: usize = 3;
        let mut attempt = 0;
        let (node, grown) = loop {
            attempt += 1;
            let port = match spec.port {
                Some(p) if port_is_free(lo, p) => p,
                Some(p) => {
                    return Err(RuntimeError::PortTaken {
                        node: spec.name.clone(),
                        ip: "127.0.0.1".into(),
                        port: p,
                    });
                }
                None => free_port(lo)?,
            };
            let node = DeployedNode {
                name: spec.name.clone(),
                addr: SocketAddr::new(lo, port),
                announce: SocketAddr::new(IpAddr::V4(ip), DATA_PORT),
                bus_port: BUS_PORT,
                handle: container_name(&d.run_id, &spec.name),
                host: None,
            };
            let added = AddedNode {
                node: node.clone(),
                spec: spec.clone(),
            };
            let grown = d.with_node(added.clone());
            let result = async {
                self.create_container(&grown, &network, &spec, &node, image.clone(), Some(&added))
                    .await?;
                check_cancel(cancel)?;
                self.start_node(&node).await?;
                wait_for_ping(&node.name, node.addr, timeout, cancel, || {
                    self.exited(&node)
                })
                .await
            }
            .await;
            match result {
                Ok(()) => break (node, grown),
                Err(e) => {
                    if let Err(undo) = self.remove_container(&node.handle).await {
                        tracing::warn!(node = %node.name, "removing the half-added node failed: {undo}");
                    }
                    let retry = matches!(e, RuntimeError::PortTaken { .. })
                        && spec.port.is_none()
                        && attempt < TRIES;
                    if !retry {
                        return Err(e);
                    }
                    tracing::warn!(node = %node.name, port, attempt, "host port taken before the container held it; trying another");
                }
            }
        };
        tracing::info!(
            node = %node.name,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "docker node added"
        );
        Ok(grown)
    }

    /// Remove one node's container. Idempotent.
    pub(super) async fn remove_node(
        &self,
        d: &Deployment,
        node: &str,
    ) -> Result<Removed, RuntimeError> {
        let containers = self
            .remove_container(&container_name(&d.run_id, node))
            .await?;
        Ok(Removed {
            containers,
            ..Default::default()
        })
    }

    /// Apply a node action; a started node is waited for and gets its
    /// links' relay and rules again (its namespace is a fresh one).
    pub(super) async fn node_action(
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
            wait_for_ping(
                &node.name,
                node.addr,
                RESTART_READY_TIMEOUT,
                &CancellationToken::new(),
                || self.exited(node),
            )
            .await?;
            // A started container has a fresh network namespace: its links'
            // relay and rules are gone with the old one. (A Sentinel has
            // none: its traffic does not cross the links' relays.)
            if !deployment.sentinels.iter().any(|s| s.name == node.name) {
                super::links::install(&self.docker, deployment, node).await?;
            }
        }
        Ok(())
    }
}

/// What `up` will make of `topology` on the /24 `subnet`: each node at its
/// static address from .[`FIRST_HOST`], its data port published on a host
/// port of 127.0.0.1 (`host_ports`, one per node, already checked free).
fn layout(
    topology: &Topology,
    opts: &UpOptions,
    subnet: [u8; 3],
    host_ports: &[u16],
    sentinel_ports: &[u16],
) -> Deployment {
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
            host: None,
        })
        .collect();
    Deployment {
        name: opts.name.clone(),
        run_id: opts.run_id.clone(),
        runtime: RuntimeKind::Docker,
        attached: None,
        security: Default::default(),
        credentials: None,
        // The Sentinels at the addresses after the nodes'.
        sentinels: (topology.sentinel.iter())
            .flat_map(|s| &s.members)
            .enumerate()
            .map(|(j, m)| DeployedNode {
                name: m.name.clone(),
                addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), sentinel_ports[j]),
                announce: SocketAddr::new(
                    IpAddr::V4(ip_of(topology.nodes.len() + j)),
                    crate::runtime::config::SENTINEL_PORT,
                ),
                bus_port: 0,
                handle: container_name(&opts.run_id, &m.name),
                host: None,
            })
            .collect(),
        image: {
            let mut images: Vec<String> = topology
                .nodes
                .iter()
                .map(|n| image_for(topology, n))
                .collect();
            images.sort();
            images.dedup();
            images.join(", ")
        },
        topology: topology.clone(),
        nodes,
    }
}

/// Whether `node` is a node of `topology` with a host port it fixed.
fn fixed_port(topology: &Topology, node: &str) -> bool {
    topology.node(node).and_then(|n| n.port).is_some()
}
