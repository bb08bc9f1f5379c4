//! Bringing a topology up on a swarm, and the node actions.
//!
//! Each node is a service of one replica, placed on its engine by node id,
//! its data on a named volume of that engine (a node started again keeps
//! its identity), its data port published in host mode on a port the tool
//! fixes (so the controller reaches it at the same address after a
//! restart), restart policy `none` (a killed node stays down until started,
//! as on the other runtimes). Replicas of a `replicated` topology follow
//! their primary's task address, so primaries come first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, EndpointSpecModeEnum, Mount, MountType, MountVolumeOptions,
    NetworkAttachmentConfig, NetworkCreateRequest, ServiceSpec, ServiceSpecMode,
    ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec, TaskSpecPlacement,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum, TaskState,
};
use tokio_util::sync::CancellationToken;

use super::engine::{
    BUS_PORT, DATA_PORT, FIRST_PUBLISHED, OVERLAY_POOL, SwarmRuntime, TASK_RANGE, network_name,
    service_name,
};
use super::engines::Engine;
use crate::runtime::config::{self, Listen};
use crate::runtime::deployment::{
    DeployedNode, Deployment, NodeAction, RuntimeKind, UpOptions, labels,
};
pub(super) use crate::runtime::docker::containers::common_labels;
use crate::runtime::docker::containers::image_for;
use crate::runtime::error::RuntimeError;
use crate::runtime::image;
use crate::runtime::ready::{all_ready, check_cancel, wait_for_ping};
use crate::topology::{Kind, NodeSpec, Role, Topology};

/// How long a node started again may take to answer PING.
const RESTART_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a force update may go without one new task before it is made
/// again ([`SwarmRuntime::start_new_task`]).
const NO_TASK_GRACE: Duration = Duration::from_secs(10);

/// Why a node does not run when its service has no task (left) at all.
const NO_TASK: &str = "no task yet";
/// Grace period for `stop` before the engine sends SIGKILL.
const STOP_GRACE_S: i32 = 10;

/// Where a node's task runs now.
#[derive(Debug, Clone)]
pub(super) struct Running {
    /// The engine running it.
    pub engine: String,
    /// Its container there.
    pub container: String,
    /// Its address on the run's overlay network.
    pub ip: IpAddr,
}

impl SwarmRuntime {
    /// Refuse what the swarm runtime does not do yet, before anything is made.
    fn refuse(&self, topology: &Topology) -> Result<(), RuntimeError> {
        let no = |what: &str| {
            Err(RuntimeError::BadInput(format!(
                "topology {}: {what} is not supported on the swarm runtime yet (docs/swarm.md)",
                topology.name
            )))
        };
        if topology.sentinel.is_some() {
            return no("`sentinel:`");
        }
        if !topology.security.is_plain() {
            return no("`security:`");
        }
        Ok(())
    }

    /// Bring `topology` up; on any error the caller removes the run.
    pub(super) async fn up(
        &self,
        topology: &Topology,
        opts: &UpOptions,
        cancel: &CancellationToken,
    ) -> Result<Deployment, RuntimeError> {
        let started = Instant::now();
        self.refuse(topology)?;
        let placement = self.place(topology)?;
        if let Some(existing) = self.find(&opts.name).await? {
            return Err(RuntimeError::AlreadyUp {
                name: opts.name.clone(),
                run_id: existing.run_id,
            });
        }
        // Nodes on the engines that share this machine's kernel (a lab's)
        // share its neighbour table; the other hosts' tables are theirs
        // (docs/swarm.md says what a host needs).
        let local = (placement.iter())
            .filter(|e| self.engines.get(*e).is_some_and(|e| e.local))
            .count();
        crate::runtime::neigh::check_here(local, placement.len(), "swarm engines on this machine")?;
        crate::runtime::servers::check_nodes(topology, |n| {
            n.image.is_none() && topology.image.is_none()
        })?;
        let ports = self.published_ports(topology).await?;
        // The image on every engine that runs a node, built there from this
        // host's files when missing: nothing is ever pulled.
        let mut wanted: BTreeMap<(String, String), &NodeSpec> = BTreeMap::new();
        for (n, e) in topology.nodes.iter().zip(&placement) {
            wanted
                .entry((e.clone(), image_for(topology, n)))
                .or_insert(n);
        }
        futures::future::try_join_all(wanted.iter().map(|((e, img), n)| async move {
            let engine = self.engine(e)?;
            image::ensure_local(&engine.docker, img, &n.server)
                .await
                .map_err(|err| {
                    RuntimeError::Environment(format!(
                        "swarm engine `{e}` (node {}): {err}",
                        n.name
                    ))
                })
        }))
        .await?;
        check_cancel(cancel)?;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "images on every engine"
        );

        let mut d = layout(topology, opts, &placement, &ports, self);
        let network = network_name(&opts.run_id);
        let subnet = self.pick_subnet().await?;
        self.create_network(&d, &network, subnet).await?;
        check_cancel(cancel)?;
        // Primaries first: a replica of a replicated topology is told its
        // primary's task address.
        let (primaries, replicas): (Vec<_>, Vec<_>) = (topology.nodes.iter())
            .zip(d.nodes.clone())
            .partition(|(spec, _)| spec.role == Role::Primary || topology.kind != Kind::Replicated);
        for group in [primaries, replicas] {
            futures::future::try_join_all(
                group
                    .iter()
                    .map(|(spec, node)| self.create_service(&d, &network, spec, node)),
            )
            .await?;
            let names: Vec<String> = group.iter().map(|(s, _)| s.name.clone()).collect();
            self.wait_running(&mut d, &names, &[], opts.timeout, cancel)
                .await?;
        }
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "tasks running"
        );
        let waits: Vec<_> = (d.nodes.iter())
            .map(|n| wait_for_ping(&n.name, n.addr, opts.timeout, cancel, || self.alive(&d, n)))
            .collect();
        all_ready(waits, started, "swarm").await?;
        check_cancel(cancel)?;
        self.install_all_links(&d).await?;
        Ok(d)
    }

    /// A host port per node on its engine, from [`FIRST_PUBLISHED`] up,
    /// none that a service of the swarm publishes already (the topology's
    /// own `port` when it fixes one).
    async fn published_ports(&self, topology: &Topology) -> Result<Vec<u16>, RuntimeError> {
        let services = self
            .manager
            .docker
            .list_services(None::<bollard::query_parameters::ListServicesOptions>)
            .await
            .map_err(RuntimeError::docker("listing the swarm's services"))?;
        let taken: BTreeSet<u16> = services
            .iter()
            .filter_map(|s| s.endpoint.as_ref()?.ports.clone())
            .flatten()
            .filter_map(|p| p.published_port.map(|p| p as u16))
            .chain(topology.nodes.iter().filter_map(|n| n.port))
            .collect();
        let mut next = FIRST_PUBLISHED;
        let mut out = Vec::new();
        for n in &topology.nodes {
            if let Some(p) = n.port {
                out.push(p);
                continue;
            }
            while taken.contains(&next) || out.contains(&next) {
                next += 1;
            }
            out.push(next);
            next += 1;
        }
        Ok(out)
    }

    /// A /24 for the run's overlay network: the first of
    /// [`OVERLAY_POOL`] that no network the manager knows uses.
    async fn pick_subnet(&self) -> Result<[u8; 3], RuntimeError> {
        let nets = self
            .manager
            .docker
            .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
            .await
            .map_err(RuntimeError::docker("listing the swarm's networks"))?;
        let used: BTreeSet<String> = nets
            .iter()
            .filter_map(|n| n.ipam.as_ref()?.config.clone())
            .flatten()
            .filter_map(|c| c.subnet)
            .collect();
        (0..=255u8)
            .map(|third| [OVERLAY_POOL[0], OVERLAY_POOL[1], third])
            .find(|s| !used.contains(&format!("{}.{}.{}.0/24", s[0], s[1], s[2])))
            .ok_or_else(|| {
                RuntimeError::Environment(format!(
                    "every /24 of {}.{}.0.0/16 is taken by a network of the swarm",
                    OVERLAY_POOL[0], OVERLAY_POOL[1]
                ))
            })
    }

    /// The run's attachable overlay network on `subnet`, carrying the
    /// deployment. The tasks take addresses from its upper half only
    /// ([`TASK_RANGE`]): the lower half is the clients', at fixed
    /// addresses, as on the Docker runtime (.2 the run's clients, .3 on
    /// each region's), so a grudge can name them.
    async fn create_network(
        &self,
        d: &Deployment,
        name: &str,
        subnet: [u8; 3],
    ) -> Result<(), RuntimeError> {
        let [a, b, c] = subnet;
        let mut lbls = common_labels(d);
        lbls.insert(
            labels::DEPLOYMENT.into(),
            serde_json::to_string(d).expect("a deployment serializes"),
        );
        self.manager
            .docker
            .create_network(NetworkCreateRequest {
                name: name.to_string(),
                driver: Some("overlay".into()),
                attachable: Some(true),
                ipam: Some(bollard::models::Ipam {
                    config: Some(vec![bollard::models::IpamConfig {
                        subnet: Some(format!("{a}.{b}.{c}.0/24")),
                        ip_range: Some(format!("{a}.{b}.{c}.{TASK_RANGE}")),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                labels: Some(lbls),
                ..Default::default()
            })
            .await
            .map_err(RuntimeError::docker(format!(
                "creating the overlay network {name}"
            )))?;
        Ok(())
    }

    /// One node's service.
    async fn create_service(
        &self,
        d: &Deployment,
        network: &str,
        spec: &NodeSpec,
        node: &DeployedNode,
    ) -> Result<(), RuntimeError> {
        let topology = &d.topology;
        let replicaof = (topology.kind == Kind::Replicated)
            .then_some(spec.replica_of.as_deref())
            .flatten()
            .and_then(|p| d.nodes.iter().find(|n| n.name == p))
            .map(|p| (p.announce.ip().to_string(), p.announce.port()));
        let listen = Listen {
            bind: "0.0.0.0".into(),
            port: DATA_PORT,
            bus_port: BUS_PORT,
            dir: "/data".into(),
            logfile: String::new(),
            replicaof,
        };
        let args = config::to_args(&config::directives(topology, spec, &listen));
        let engine = node.host.as_deref().unwrap_or_default();
        let engine = self.engine(engine)?;
        let mut lbls = common_labels(d);
        lbls.insert(labels::NODE.into(), spec.name.clone());
        lbls.insert(
            labels::ROLE.into(),
            format!("{:?}", spec.role).to_lowercase(),
        );
        lbls.insert(labels::REGION.into(), spec.region.clone());
        let service = ServiceSpec {
            name: Some(node.handle.clone()),
            labels: Some(lbls.clone()),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(image_for(topology, spec)),
                    args: Some(args),
                    hostname: Some(spec.name.clone()),
                    labels: Some(lbls),
                    mounts: Some(vec![Mount {
                        target: Some("/data".into()),
                        source: Some(node.handle.clone()),
                        typ: Some(MountType::VOLUME),
                        volume_options: Some(MountVolumeOptions {
                            labels: Some(common_labels(d)),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    // iptables in the node's namespace, for partitions.
                    capability_add: Some(vec!["CAP_NET_ADMIN".into()]),
                    ..Default::default()
                }),
                placement: Some(TaskSpecPlacement {
                    constraints: Some(vec![format!("node.id=={}", engine.node_id)]),
                    ..Default::default()
                }),
                restart_policy: Some(TaskSpecRestartPolicy {
                    condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                    ..Default::default()
                }),
                networks: Some(vec![NetworkAttachmentConfig {
                    target: Some(network.to_string()),
                    aliases: Some(vec![spec.name.clone()]),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
                ..Default::default()
            }),
            endpoint_spec: Some(EndpointSpec {
                // No virtual IP: this kernel has no IPVS, and a node is
                // reached by its task's own address anyway.
                mode: Some(EndpointSpecModeEnum::DNSRR),
                ports: Some(vec![EndpointPortConfig {
                    protocol: Some(EndpointPortConfigProtocolEnum::TCP),
                    target_port: Some(DATA_PORT as i64),
                    published_port: Some(node.addr.port() as i64),
                    publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
                    ..Default::default()
                }]),
            }),
            ..Default::default()
        };
        // No registry credentials and no digest: the engines use the image
        // they hold.
        self.manager
            .docker
            .create_service(service, None)
            .await
            .map_err(RuntimeError::docker(format!(
                "creating the service of node {} on {}",
                spec.name, engine.name
            )))?;
        Ok(())
    }

    /// Wait until each of `names` has a running task, and record its
    /// overlay address in `d`; a task that failed is named with its error.
    async fn wait_running(
        &self,
        d: &mut Deployment,
        names: &[String],
        old: &[String],
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        let deadline = Instant::now() + timeout;
        let mut pending: Vec<String> = names.to_vec();
        while !pending.is_empty() {
            check_cancel(cancel)?;
            let mut still = Vec::new();
            for name in pending {
                let node = d.node(&name)?.clone();
                match self.running_except(&d.run_id, &node, old).await? {
                    Ok(r) => {
                        let n = d
                            .nodes
                            .iter_mut()
                            .find(|n| n.name == name)
                            .expect("a node of d");
                        n.announce = SocketAddr::new(r.ip, DATA_PORT);
                    }
                    Err(why) if Instant::now() > deadline => {
                        return Err(RuntimeError::NotReady {
                            node: name,
                            condition: why,
                            waited: timeout,
                        });
                    }
                    Err(why) if why.starts_with("failed") => {
                        return Err(RuntimeError::Environment(format!(
                            "node {name}: its task {why}"
                        )));
                    }
                    Err(_) => still.push(name),
                }
            }
            pending = still;
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Where `node`'s task runs now, or why it does not run (starting with
    /// "failed" when its last task failed).
    pub(super) async fn running(
        &self,
        run_id: &str,
        node: &DeployedNode,
    ) -> Result<Result<Running, String>, RuntimeError> {
        self.running_except(run_id, node, &[]).await
    }

    /// [`Self::running`], with the tasks in `old` left out (those a start
    /// replaces).
    pub(super) async fn running_except(
        &self,
        run_id: &str,
        node: &DeployedNode,
        old: &[String],
    ) -> Result<Result<Running, String>, RuntimeError> {
        let service = &node.handle;
        let mut tasks = self.tasks_of(service).await?;
        tasks.retain(|t| !old.iter().any(|o| Some(o) == t.id.as_ref()));
        tasks.sort_by_key(|t| t.created_at.clone().map(|d| d.to_string()));
        let Some(last) = tasks.last() else {
            return Ok(Err(NO_TASK.into()));
        };
        let status = last.status.clone().unwrap_or_default();
        match status.state {
            Some(TaskState::RUNNING) => {}
            Some(TaskState::FAILED | TaskState::REJECTED) => {
                return Ok(Err(format!(
                    "failed: {}",
                    status.err.or(status.message).unwrap_or_default()
                )));
            }
            other => return Ok(Err(format!("task {:?}", other))),
        }
        let container = status
            .container_status
            .and_then(|c| c.container_id)
            .ok_or_else(|| {
                RuntimeError::Environment(format!("{service}'s task has no container"))
            })?;
        let engine_id = last.node_id.clone().unwrap_or_default();
        let engine = self.engine_of_node(&engine_id).ok_or_else(|| {
            RuntimeError::Environment(format!(
                "node {}'s task runs on swarm node {engine_id}, which no engine of {} is",
                node.name,
                self.file.display()
            ))
        })?;
        // The swarm may still call a task running whose container just
        // died: no container, or no address, is "not running" too.
        let info = match engine.docker.inspect_container(&container, None).await {
            Ok(info) => info,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                return Ok(Err("its container is gone".into()));
            }
            Err(e) => {
                return Err(RuntimeError::Docker {
                    context: format!("inspecting {service}'s container on {}", engine.name),
                    source: e,
                });
            }
        };
        let net = network_name(run_id);
        let Some(ip) = info
            .network_settings
            .and_then(|s| s.networks)
            .and_then(|n| n.get(&net).cloned())
            .and_then(|e| e.ip_address)
            .and_then(|ip| ip.parse::<IpAddr>().ok())
        else {
            return Ok(Err(format!(
                "its container has no address on {net} (not running)"
            )));
        };
        Ok(Ok(Running {
            engine: engine.name.clone(),
            container,
            ip,
        }))
    }

    /// Every task `service` has had.
    async fn tasks_of(&self, service: &str) -> Result<Vec<bollard::models::Task>, RuntimeError> {
        let filters = HashMap::from([("service".to_string(), vec![service.to_string()])]);
        self.manager
            .docker
            .list_tasks(Some(
                bollard::query_parameters::ListTasksOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(RuntimeError::docker(format!(
                "listing the tasks of {service}"
            )))
    }

    /// Whether `node`'s task still runs, for the readiness wait.
    async fn alive(&self, d: &Deployment, node: &DeployedNode) -> Result<(), String> {
        match self.running(&d.run_id, node).await {
            Ok(Ok(_)) | Err(_) => Ok(()),
            Ok(Err(why)) if why.starts_with("failed") => Err(why),
            Ok(Err(_)) => Ok(()),
        }
    }

    /// The engine and container of `node`'s running task.
    pub(super) async fn task(
        &self,
        d: &Deployment,
        node: &DeployedNode,
    ) -> Result<(&Engine, Running), RuntimeError> {
        match self.running(&d.run_id, node).await? {
            Ok(r) => Ok((self.engine(&r.engine)?, r)),
            Err(why) => Err(RuntimeError::Environment(format!(
                "node {} has no running task ({why})",
                node.name
            ))),
        }
    }

    /// Kill, stop, pause or resume a node's container on its engine; start
    /// or restart it as a new task of its service (Swarm does not restart a
    /// task's container), at a new overlay address, and wait for PING.
    pub(super) async fn node_action(
        &self,
        d: &Deployment,
        node: &DeployedNode,
        action: NodeAction,
    ) -> Result<(), RuntimeError> {
        use bollard::query_parameters::{KillContainerOptionsBuilder, StopContainerOptionsBuilder};
        let ctx = format!("{action} node {}", node.name);
        match action {
            NodeAction::Start | NodeAction::Restart => {
                if action == NodeAction::Start
                    && let Ok(Ok(_)) = self.running(&d.run_id, node).await
                {
                    return Ok(());
                }
                let old: Vec<String> = (self.tasks_of(&node.handle).await?)
                    .into_iter()
                    .filter_map(|t| t.id)
                    .collect();
                self.start_new_task(d, node, &old).await?;
                wait_for_ping(
                    &node.name,
                    node.addr,
                    RESTART_READY_TIMEOUT,
                    &CancellationToken::new(),
                    || self.alive(d, node),
                )
                .await?;
                // A new task: a new namespace at a new address, which the
                // links' relays and rules follow.
                self.links_after_restart(d, node).await
            }
            _ => {
                let (engine, r) = self.task(d, node).await?;
                let docker = &engine.docker;
                let c = r.container.as_str();
                match action {
                    NodeAction::Kill => {
                        docker
                            .kill_container(
                                c,
                                Some(
                                    KillContainerOptionsBuilder::default()
                                        .signal("SIGKILL")
                                        .build(),
                                ),
                            )
                            .await
                    }
                    NodeAction::Stop => {
                        docker
                            .stop_container(
                                c,
                                Some(
                                    StopContainerOptionsBuilder::default()
                                        .t(STOP_GRACE_S)
                                        .build(),
                                ),
                            )
                            .await
                    }
                    NodeAction::Pause => docker.pause_container(c).await,
                    NodeAction::Resume => docker.unpause_container(c).await,
                    NodeAction::Start | NodeAction::Restart => unreachable!("handled above"),
                }
                .map_err(RuntimeError::docker(format!("{ctx} on {}", engine.name)))
            }
        }
    }

    /// Start `node`'s service on a new task (not one of `old`) and wait,
    /// within [`RESTART_READY_TIMEOUT`], until it runs. A force update the
    /// swarm has not acted on at all — not one new task — after
    /// [`NO_TASK_GRACE`] is made again (a CI run once saw no task 30 s after
    /// the one update, cause not found; a new task appears in under 8 s
    /// otherwise); one that has a new task is only waited for. A failure
    /// says what the service's own update status said, and how often it
    /// was updated.
    async fn start_new_task(
        &self,
        d: &Deployment,
        node: &DeployedNode,
        old: &[String],
    ) -> Result<(), RuntimeError> {
        let began = Instant::now();
        self.force_update(node).await?;
        let mut updates = 1;
        let mut since_update = Instant::now();
        let mut d2 = d.clone();
        let names = std::slice::from_ref(&node.name);
        // Bounded: each turn waits at least a moment or ends, and the whole
        // is bounded by RESTART_READY_TIMEOUT.
        loop {
            let left = RESTART_READY_TIMEOUT.saturating_sub(began.elapsed());
            let window = left.min(Duration::from_secs(1));
            let cancel = CancellationToken::new();
            match self
                .wait_running(&mut d2, names, old, window, &cancel)
                .await
            {
                Ok(()) => return Ok(()),
                Err(RuntimeError::NotReady { condition, .. }) if !left.is_zero() => {
                    if condition == NO_TASK && since_update.elapsed() >= NO_TASK_GRACE {
                        let status = self.update_status(node).await;
                        tracing::warn!(
                            node = %node.name,
                            %status,
                            "no new task {:?} after the service's update: updating it again",
                            since_update.elapsed()
                        );
                        self.force_update(node).await?;
                        updates += 1;
                        since_update = Instant::now();
                    }
                }
                Err(RuntimeError::NotReady { condition, .. }) => {
                    let status = self.update_status(node).await;
                    return Err(RuntimeError::NotReady {
                        node: node.name.clone(),
                        condition: format!(
                            "{condition}; its service updated {updates} time(s), the swarm's update status: {status}"
                        ),
                        waited: began.elapsed(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The service's update status as the manager reports it (state and
    /// message), for a log line or an error.
    async fn update_status(&self, node: &DeployedNode) -> String {
        let inspected = (self.manager.docker)
            .inspect_service(
                &node.handle,
                None::<bollard::query_parameters::InspectServiceOptions>,
            )
            .await;
        match inspected {
            Ok(s) => match s.update_status {
                Some(u) => format!(
                    "{} ({})",
                    u.state.map_or("-".to_string(), |s| s.to_string()),
                    u.message.unwrap_or_default()
                ),
                None => "none".into(),
            },
            Err(e) => format!("not read: {e}"),
        }
    }

    /// Bump the service's force-update counter: Swarm replaces its task.
    async fn force_update(&self, node: &DeployedNode) -> Result<(), RuntimeError> {
        let docker = &self.manager.docker;
        let service = docker
            .inspect_service(
                &node.handle,
                None::<bollard::query_parameters::InspectServiceOptions>,
            )
            .await
            .map_err(RuntimeError::docker(format!(
                "inspecting the service of node {}",
                node.name
            )))?;
        let version = service.version.and_then(|v| v.index).unwrap_or(0) as i32;
        let mut spec = service.spec.unwrap_or_default();
        let template = spec.task_template.get_or_insert_with(Default::default);
        template.force_update = Some(template.force_update.unwrap_or(0) + 1);
        docker
            .update_service(
                &node.handle,
                spec,
                bollard::query_parameters::UpdateServiceOptions {
                    version,
                    ..Default::default()
                },
                None,
            )
            .await
            .map_err(RuntimeError::docker(format!(
                "starting node {} again",
                node.name
            )))?;
        Ok(())
    }
}

/// The deployment before its tasks run: each node on its engine, reached
/// at its engine's address and published port; its overlay address is
/// filled in once its task runs.
fn layout(
    topology: &Topology,
    opts: &UpOptions,
    placement: &[String],
    ports: &[u16],
    rt: &SwarmRuntime,
) -> Deployment {
    let nodes = (topology.nodes.iter().zip(placement).zip(ports))
        .map(|((n, e), port)| {
            let address = rt
                .engines
                .get(e)
                .map(|e| e.address)
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            DeployedNode {
                name: n.name.clone(),
                addr: SocketAddr::new(address, *port),
                announce: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DATA_PORT),
                bus_port: BUS_PORT,
                handle: service_name(&opts.run_id, &n.name),
                host: Some(e.clone()),
            }
        })
        .collect();
    let mut images: Vec<String> = topology
        .nodes
        .iter()
        .map(|n| image_for(topology, n))
        .collect();
    images.sort();
    images.dedup();
    Deployment {
        name: opts.name.clone(),
        run_id: opts.run_id.clone(),
        runtime: RuntimeKind::Swarm,
        image: images.join(", "),
        topology: topology.clone(),
        nodes,
        sentinels: Vec::new(),
        attached: None,
        security: Default::default(),
        credentials: None,
    }
}
