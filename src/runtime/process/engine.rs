//! The process backend's nodes: redis-server processes on loopback, each
//! at its own address in the run's block, the run described by
//! `deployment.json` in its directory. Bring-up, node actions, listing and
//! removal; the network rules are in [`super::partitions`] and
//! [`super::links`], the processes themselves in [`super::procs`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::blocks::{BLOCKS, claim_block, claims_dir};
use super::procs::{STOP_GRACE, kill_and_remove, kill_matching, pids_matching, signal, tail_file};
use crate::runtime::config::{self, Listen};
use crate::runtime::deployment::{
    AddedNode, DeployedNode, Deployment, NodeAction, Removed, RuntimeKind, UpOptions,
};
use crate::runtime::error::RuntimeError;
use crate::runtime::ready::{all_ready, check_cancel, port_is_free, wait_for_ping};
use crate::runtime::{secrets, servers};
use crate::topology::{Kind, NodeSpec, Topology};

pub use crate::runtime::state::STATE_DIR_ENV;
/// Default data port on each node's own address.
const DATA_PORT: u16 = 6379;
/// Default bus port: explicit (cluster-port), low, and out of the kernel's
/// ephemeral range (32768-60999).
const BUS_PORT: u16 = 16379;
/// Host part of the first node's address in its block.
const FIRST_HOST: u8 = 11;

/// The process backend: where its runs' directories live. Each node runs
/// its topology's server binary (`runtime::servers`).
pub struct ProcessRuntime {
    base: PathBuf,
}

impl ProcessRuntime {
    /// The backend with the default state directory (or
    /// `REDIS_DRILL_STATE_DIR`); fails when redis-server is not installed
    /// (the default server, and the host's tools beside it).
    pub fn new() -> Result<ProcessRuntime, RuntimeError> {
        crate::runtime::host::which("redis-server").ok_or_else(|| {
            RuntimeError::Environment(
                "redis-server not found on PATH; install it (apt-get install redis-server) or use --runtime docker".into(),
            )
        })?;
        Ok(ProcessRuntime {
            base: crate::runtime::state::base(""),
        })
    }

    /// A runtime whose runs live under `base`, as [`STATE_DIR_ENV`] would
    /// say: for tests that drive the library beside the binary, in parallel,
    /// without touching the process's environment.
    pub fn with_state_dir(base: impl Into<PathBuf>) -> Result<ProcessRuntime, RuntimeError> {
        ProcessRuntime::new()?;
        Ok(ProcessRuntime { base: base.into() })
    }

    /// The directory of `d`'s run.
    pub fn run_dir_of(&self, d: &Deployment) -> PathBuf {
        self.run_dir(&d.run_id)
    }

    fn run_dir(&self, run_id: &str) -> PathBuf {
        self.base.join(run_id)
    }

    /// Start every node of `topology` as a process in a block of its own, its
    /// links' relay and rules, and wait until each answers PING.
    pub async fn up(
        &self,
        topology: &Topology,
        opts: &UpOptions,
        cancel: &CancellationToken,
    ) -> Result<Deployment, RuntimeError> {
        let started = Instant::now();
        if let Some(existing) = self.find(&opts.name)? {
            return Err(RuntimeError::AlreadyUp {
                name: opts.name.clone(),
                run_id: existing.run_id,
            });
        }
        // Every node's server found and asked before anything is made.
        let servers = servers::check(topology)?;
        let run_dir = self.run_dir(&opts.run_id);
        std::fs::create_dir_all(&run_dir)
            .map_err(RuntimeError::io(format!("creating {}", run_dir.display())))?;

        let block = self.pick_block(topology, &run_dir)?;
        let mut deployment = Deployment {
            name: opts.name.clone(),
            run_id: opts.run_id.clone(),
            runtime: RuntimeKind::Process,
            attached: None,
            security: Default::default(),
            credentials: None,
            sentinels: Vec::new(),
            image: {
                let mut bins: Vec<String> = servers
                    .values()
                    .map(|f| f.binary.display().to_string())
                    .collect();
                bins.dedup();
                bins.join(", ")
            },
            topology: topology.clone(),
            nodes: topology
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, block, FIRST_HOST + i as u8));
                    let addr = SocketAddr::new(ip, n.port.unwrap_or(DATA_PORT));
                    DeployedNode {
                        name: n.name.clone(),
                        addr,
                        announce: addr,
                        bus_port: BUS_PORT,
                        handle: String::new(),
                        host: None,
                    }
                })
                .collect(),
        };
        if !topology.security.is_plain() {
            let made = secrets::make(&run_dir, topology.security, &secrets::block_ips(block))?;
            let sec = crate::net::secure::Security::load_with(Some(&made.credentials), |_| None)
                .map_err(|e| RuntimeError::Environment(e.to_string()))?;
            deployment.security = sec.facts();
            deployment.credentials = Some(made.credentials);
            // Every connection from here on (the readiness PINGs first).
            crate::net::secure::install(sec);
        }
        // Written before anything starts, so cleanup can find this run whatever happens next.
        self.save(&deployment)?;
        // The links' relay and rules, before any node can open a connection
        // that should cross one.
        super::links::start(&run_dir, &deployment).await?;

        for (spec, node) in topology.nodes.iter().zip(deployment.nodes.iter_mut()) {
            if cancel.is_cancelled() {
                return Err(RuntimeError::Cancelled);
            }
            self.write_conf(
                &run_dir,
                topology,
                spec,
                node.addr,
                replica_target(topology, &deployment_addrs(topology, block), spec),
            )?;
            let pid = self.spawn(&run_dir, &spec.name, &servers[&spec.server].binary)?;
            node.handle = pid.to_string();
        }
        self.save(&deployment)?;

        answering(&run_dir, &deployment.nodes, opts.timeout, cancel, started).await?;
        if let Some(sentinels) = &topology.sentinel {
            self.start_sentinels(
                &run_dir,
                topology,
                sentinels,
                &servers,
                block,
                &mut deployment,
            )?;
            self.save(&deployment)?;
            answering(
                &run_dir,
                &deployment.sentinels,
                opts.timeout,
                cancel,
                started,
            )
            .await?;
        }
        Ok(deployment)
    }

    /// Each Sentinel in a folder of its own beside the nodes', at the next
    /// addresses of the block, once the nodes answer (so that none starts
    /// by judging the primary down).
    fn start_sentinels(
        &self,
        run_dir: &Path,
        topology: &Topology,
        sentinels: &crate::topology::Sentinels,
        servers: &std::collections::BTreeMap<crate::topology::Server, servers::Found>,
        block: u8,
        deployment: &mut Deployment,
    ) -> Result<(), RuntimeError> {
        let primary = (topology.nodes.iter())
            .position(|n| n.role == crate::topology::Role::Primary)
            .map(|i| deployment.nodes[i].addr)
            .ok_or_else(|| {
                RuntimeError::BadInput("the Sentinels have no primary to watch".into())
            })?;
        let mut addrs = Vec::with_capacity(sentinels.members.len());
        for j in 0..sentinels.members.len() {
            let host = FIRST_HOST as usize + topology.nodes.len() + j;
            let host = u8::try_from(host).map_err(|_| {
                RuntimeError::Environment(
                    "too many nodes and Sentinels for one 127.0.B.0/24 block".into(),
                )
            })?;
            addrs.push(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(127, 0, block, host)),
                config::SENTINEL_PORT,
            ));
        }
        // As root, each Sentinel runs under a uid of its own whose packets
        // the nat table gives its address, so partitions can cut it off like
        // a node; otherwise partitions of this run are refused as unsupported.
        let sourced = crate::runtime::host::iptables_usable()
            && match super::partitions::source_sentinels(
                &deployment.run_id,
                &addrs.iter().map(|a| a.ip()).collect::<Vec<_>>(),
            ) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(
                        "the Sentinels send from 127.0.0.1, so partitions cannot cut them off: {e}"
                    );
                    false
                }
            };
        for (m, addr) in sentinels.members.iter().zip(addrs) {
            let dir = run_dir.join(&m.name);
            std::fs::create_dir_all(&dir)
                .map_err(RuntimeError::io(format!("creating {}", dir.display())))?;
            let listen = Listen {
                bind: addr.ip().to_string(),
                port: addr.port(),
                bus_port: 0,
                dir: dir.display().to_string(),
                logfile: dir.join("redis.log").display().to_string(),
                replicaof: None,
            };
            let conf = config::to_conf(&config::sentinel_directives(
                sentinels, &listen, addr, primary,
            ));
            let path = dir.join("sentinel.conf");
            std::fs::write(&path, conf)
                .map_err(RuntimeError::io(format!("writing {}", path.display())))?;
            let binary = &servers
                .get(&m.server)
                .ok_or_else(|| {
                    RuntimeError::Environment(format!("server {} was not checked", m.server))
                })?
                .binary;
            let uid = if sourced {
                let uid = super::partitions::sentinel_uid(addr.ip());
                if let Some(uid) = uid {
                    give_to(&dir, uid)?;
                }
                uid
            } else {
                None
            };
            let binary = match uid {
                Some(_) => runnable_by_anyone(run_dir, binary)?,
                None => binary.clone(),
            };
            let pid = self.spawn_with(
                run_dir,
                &m.name,
                &binary,
                "sentinel.conf",
                &["--sentinel"],
                uid,
            )?;
            deployment.sentinels.push(DeployedNode {
                name: m.name.clone(),
                addr,
                announce: addr,
                bus_port: 0,
                handle: pid.to_string(),
                host: None,
            });
        }
        Ok(())
    }

    /// Start one more redis-server in `d`'s run: the lowest free address of
    /// the run's block 127.0.B.x, its own node directory, recorded in
    /// `deployment.json`. On error its process and directory are removed again.
    pub async fn add_node(
        &self,
        d: &Deployment,
        spec: NodeSpec,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<Deployment, RuntimeError> {
        let started = Instant::now();
        let run_dir = self.run_dir(&d.run_id);
        if !run_dir.join("deployment.json").is_file() {
            return Err(RuntimeError::NotFound(d.name.clone()));
        }
        let used: Vec<Ipv4Addr> = d
            .nodes
            .iter()
            .filter_map(|n| match n.addr.ip() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            })
            .collect();
        let block = used.first().map(|ip| ip.octets()[2]).ok_or_else(|| {
            RuntimeError::Environment(format!("{} lists no node to find its block from", d.name))
        })?;
        let mut ports = vec![spec.port.unwrap_or(DATA_PORT)];
        if d.topology.kind == Kind::Cluster {
            ports.push(BUS_PORT);
        }
        // The first address no node of the run holds and whose ports can be
        // bound now: one a node removed a moment ago (a rolling upgrade's
        // replace) may still be held by what it forked — a full sync's
        // child keeps the listening socket until it is done.
        let mut taken: Option<RuntimeError> = None;
        let ip = (FIRST_HOST..=254)
            .map(|h| Ipv4Addr::new(127, 0, block, h))
            .filter(|ip| !used.contains(ip))
            .find(
                |ip| match ports.iter().find(|&&p| !port_is_free(IpAddr::V4(*ip), p)) {
                    Some(&port) => {
                        taken.get_or_insert(RuntimeError::PortTaken {
                            node: spec.name.clone(),
                            ip: ip.to_string(),
                            port,
                        });
                        false
                    }
                    None => true,
                },
            )
            .ok_or_else(|| {
                taken.take().unwrap_or_else(|| {
                    RuntimeError::Environment(format!("no free address left in 127.0.{block}.0/24"))
                })
            })?;
        let addr = SocketAddr::new(IpAddr::V4(ip), ports[0]);
        check_cancel(cancel)?;
        let name = spec.name.clone();
        let mut grown = d.with_node(AddedNode {
            node: DeployedNode {
                name: name.clone(),
                addr,
                announce: addr,
                bus_port: BUS_PORT,
                handle: String::new(),
                host: None,
            },
            spec: spec.clone(),
        });
        let result = async {
            let addrs: Vec<(String, SocketAddr)> = grown
                .nodes
                .iter()
                .map(|n| (n.name.clone(), n.addr))
                .collect();
            self.write_conf(
                &run_dir,
                &grown.topology,
                &spec,
                addr,
                replica_target(&grown.topology, &addrs, &spec),
            )?;
            let binary = servers::find(&spec.server)?.binary;
            let pid = self.spawn(&run_dir, &name, &binary)?;
            if let Some(n) = grown.nodes.iter_mut().find(|n| n.name == name) {
                n.handle = pid.to_string();
            }
            self.save(&grown)?;
            let dir = run_dir.join(&name);
            wait_for_ping(&name, addr, timeout, cancel, move || {
                let dir = dir.clone();
                async move { exited(&dir) }
            })
            .await
        }
        .await;
        if let Err(e) = result {
            if let Err(undo) = self.remove_node(&grown, &name) {
                tracing::warn!(node = %name, "removing the half-added node failed: {undo}");
            }
            return Err(e);
        }
        tracing::info!(
            node = %name,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "process node added"
        );
        Ok(grown)
    }

    /// Stop one node's redis-server (SIGKILL), remove its directory and drop
    /// it from `deployment.json`. Idempotent.
    pub fn remove_node(&self, d: &Deployment, node: &str) -> Result<Removed, RuntimeError> {
        let run_dir = self.run_dir(&d.run_id);
        let dir = run_dir.join(node);
        let removed = kill_and_remove(&dir)?;
        // What is on disk is the latest (a `start` may have changed a pid);
        // a run that is gone stays gone.
        let path = run_dir.join("deployment.json");
        if path.is_file() {
            let mut current: Deployment = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_else(|| d.clone());
            current.nodes.retain(|n| n.name != node);
            current.topology.nodes.retain(|n| n.name != node);
            self.save(&current)?;
        }
        Ok(removed)
    }

    /// A block B whose addresses no other run uses, and where every node's
    /// data and bus ports can be bound now, claimed for `run_dir` (see
    /// [`claim_block`]) so that an `up` running at the same moment with
    /// another state dir cannot pick it too.
    fn pick_block(&self, topology: &Topology, run_dir: &Path) -> Result<u8, RuntimeError> {
        let used: Vec<u8> = self
            .list()?
            .iter()
            .filter_map(|d| match d.nodes.first()?.addr.ip() {
                IpAddr::V4(v4) => Some(v4.octets()[2]),
                IpAddr::V6(_) => None,
            })
            .collect();
        let span = (*BLOCKS.end() - *BLOCKS.start()) as u16 + 1;
        let offset: u16 = rand::random::<u16>() % span;
        let mut last_err = None;
        for k in 0..span {
            let block = *BLOCKS.start() + ((offset + k) % span) as u8;
            if used.contains(&block) {
                continue;
            }
            match ports_free(topology, block) {
                Ok(()) => {
                    if claim_block(&claims_dir(), block, run_dir)? {
                        return Ok(block);
                    }
                }
                Err(e) => {
                    // A fixed port that is taken is taken on every block (a
                    // wildcard listener): say so rather than trying them all.
                    if matches!(&e, RuntimeError::PortTaken { node, .. } if topology.node(node).and_then(|n| n.port).is_some())
                    {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| {
            RuntimeError::Environment("no free loopback block 127.0.B.0/24 for the nodes".into())
        }))
    }

    fn write_conf(
        &self,
        run_dir: &Path,
        topology: &Topology,
        spec: &NodeSpec,
        addr: SocketAddr,
        replicaof: Option<SocketAddr>,
    ) -> Result<(), RuntimeError> {
        let dir = run_dir.join(&spec.name);
        std::fs::create_dir_all(&dir)
            .map_err(RuntimeError::io(format!("creating {}", dir.display())))?;
        let listen = Listen {
            bind: addr.ip().to_string(),
            port: addr.port(),
            bus_port: BUS_PORT,
            dir: dir.display().to_string(),
            logfile: dir.join("redis.log").display().to_string(),
            replicaof: replicaof.map(|a| (a.ip().to_string(), a.port())),
        };
        let mut directives = config::directives(topology, spec, &listen);
        // Outgoing connections (cluster bus, replication) would otherwise leave
        // from 127.0.0.1, so peers would learn the wrong address and a
        // per-pair packet filter could not tell nodes apart.
        directives.insert(1, ("bind-source-addr".into(), addr.ip().to_string()));
        if topology.kind == Kind::Cluster {
            directives.insert(2, ("cluster-announce-ip".into(), addr.ip().to_string()));
        }
        if !topology.security.is_plain() {
            let made = secrets::load(run_dir, topology.security)?;
            secrets::directives(topology.security, topology.kind, &made, &mut directives);
        }
        // So `ps` shows which run a node belongs to.
        directives.push((
            "proc-title-template".into(),
            "\"{title} {listen-addr} {server-mode} {config-file}\"".into(),
        ));
        let conf = config::to_conf(&directives);
        let path = dir.join("redis.conf");
        std::fs::write(&path, conf).map_err(RuntimeError::io(format!("writing {}", path.display())))
    }

    /// Start the node's redis-server in its own process group (a Ctrl-C at the
    /// terminal reaches us, and we clean up, rather than killing nodes behind
    /// our back). A thread reaps it when it exits, so no zombie is left.
    fn spawn(&self, run_dir: &Path, node: &str, binary: &Path) -> Result<u32, RuntimeError> {
        self.spawn_with(run_dir, node, binary, "redis.conf", &[], None)
    }

    /// [`Self::spawn`] with another config file in the node's folder and
    /// arguments after it (a Sentinel: `sentinel.conf --sentinel`), and,
    /// given a uid, run as that user (a Sentinel as root: see
    /// [`super::partitions::sentinel_uid`]).
    fn spawn_with(
        &self,
        run_dir: &Path,
        node: &str,
        binary: &Path,
        conf_name: &str,
        args: &[&str],
        uid: Option<u32>,
    ) -> Result<u32, RuntimeError> {
        use std::os::unix::process::CommandExt;
        let dir = run_dir.join(node);
        let conf = dir.join(conf_name);
        // What redis-server prints before its log file is open (a config
        // error, say) goes here.
        let console_path = dir.join("console.log");
        let console = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&console_path)
            .map_err(RuntimeError::io(format!(
                "opening {}",
                console_path.display()
            )))?;
        let mut command = Command::new(binary);
        if let Some(uid) = uid {
            command.uid(uid).gid(uid);
        }
        let mut child = command
            .arg(&conf)
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(
                console
                    .try_clone()
                    .map_err(RuntimeError::io("duplicating a file handle"))?,
            )
            .stderr(console)
            .process_group(0)
            .spawn()
            .map_err(RuntimeError::io(format!(
                "starting {} for node {node}",
                binary.display()
            )))?;
        let pid = child.id();
        std::thread::Builder::new()
            .name(format!("reap-{pid}"))
            .spawn(move || {
                let _ = child.wait();
            })
            .map_err(RuntimeError::io("starting a reaper thread"))?;
        Ok(pid)
    }

    fn save(&self, d: &Deployment) -> Result<(), RuntimeError> {
        crate::runtime::state::save(&self.base, d)
    }

    /// The deployment with this name, if it is up.
    pub fn find(&self, name: &str) -> Result<Option<Deployment>, RuntimeError> {
        Ok(self.list()?.into_iter().find(|d| d.name == name))
    }

    /// Every run of this state directory, read from its `deployment.json`.
    pub fn list(&self) -> Result<Vec<Deployment>, RuntimeError> {
        Ok(crate::runtime::state::list(&self.base))
    }

    /// Kill the run's nodes (and its links' relay), remove its directory, and
    /// lift its partition and its links (its iptables chains on the host),
    /// whatever state it was left in.
    pub fn remove_run(&self, run_id: &str) -> Result<Removed, RuntimeError> {
        let dir = self.run_dir(run_id);
        let removed = kill_and_remove(&dir)?;
        super::partitions::teardown_run(run_id).map_err(|e| {
            RuntimeError::Environment(format!("removing the partition rules of run {run_id}: {e}"))
        })?;
        super::links::teardown_run(run_id).map_err(|e| {
            RuntimeError::Environment(format!("removing the link rules of run {run_id}: {e}"))
        })?;
        Ok(removed)
    }

    /// Remove every run of this state directory, orphaned processes, and every
    /// redis-drill chain on the host: `down --all`.
    pub fn remove_all(&self) -> Result<Removed, RuntimeError> {
        let mut removed = Removed::default();
        if let Ok(entries) = std::fs::read_dir(&self.base) {
            for e in entries.flatten() {
                if e.path().is_dir() {
                    removed.add(self.remove_run(&e.file_name().to_string_lossy())?);
                }
            }
        }
        // Orphans whose run directory is already gone.
        removed.processes += kill_matching(&self.base, libc::SIGKILL, STOP_GRACE)?;
        // Partition chains of every run, this state directory's or not: like
        // `down --all` on docker, everything redis-drill made on the host.
        super::partitions::teardown_all()
            .map_err(|e| RuntimeError::Environment(format!("removing partition rules: {e}")))?;
        super::links::teardown_all()
            .map_err(|e| RuntimeError::Environment(format!("removing link rules: {e}")))?;
        Ok(removed)
    }

    /// Signal the node's processes (or start it again from its directory).
    pub async fn node_action(
        &self,
        d: &Deployment,
        node: &DeployedNode,
        action: NodeAction,
    ) -> Result<(), RuntimeError> {
        let node_dir = self.run_dir(&d.run_id).join(&node.name);
        let signal_all = |sig| -> Result<usize, RuntimeError> {
            let pids = pids_matching(&node_dir);
            for &pid in &pids {
                signal(pid, sig);
            }
            Ok(pids.len())
        };
        match action {
            NodeAction::Kill => {
                // As `docker kill` of a stopped container: a kill that finds
                // no process killed nothing, and must not pass for one.
                if kill_matching(&node_dir, libc::SIGKILL, STOP_GRACE)? == 0 {
                    return Err(RuntimeError::BadInput(format!(
                        "node {} is not running (no server process of it found)",
                        node.name
                    )));
                }
            }
            NodeAction::Stop => {
                kill_matching(&node_dir, libc::SIGTERM, STOP_GRACE)?;
            }
            NodeAction::Start => self.start(d, node).await?,
            NodeAction::Restart => {
                kill_matching(&node_dir, libc::SIGTERM, STOP_GRACE)?;
                self.start(d, node).await?;
            }
            NodeAction::Pause => {
                if signal_all(libc::SIGSTOP)? == 0 {
                    return Err(RuntimeError::BadInput(format!(
                        "node {} is not running",
                        node.name
                    )));
                }
            }
            NodeAction::Resume => {
                if signal_all(libc::SIGCONT)? == 0 {
                    return Err(RuntimeError::BadInput(format!(
                        "node {} is not running",
                        node.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Start a node that is not running (a no-op when it is, as with Docker),
    /// and record its new pid.
    async fn start(&self, d: &Deployment, node: &DeployedNode) -> Result<(), RuntimeError> {
        let run_dir = self.run_dir(&d.run_id);
        if !pids_matching(&run_dir.join(&node.name)).is_empty() {
            return Ok(());
        }
        let sentinel = (d.topology.sentinel.iter())
            .flat_map(|s| &s.members)
            .find(|m| m.name == node.name);
        let pid = match sentinel {
            // From the file it rewrote: its id, epoch and peers as it left
            // them; under its own uid again if its folder is that uid's.
            Some(m) => {
                let dir = run_dir.join(&node.name);
                let uid = super::partitions::sentinel_uid(node.announce.ip()).filter(|uid| {
                    use std::os::unix::fs::MetadataExt;
                    std::fs::metadata(&dir).is_ok_and(|md| md.uid() == *uid)
                });
                let binary = servers::expected_binary(&m.server)?;
                let binary = match uid {
                    Some(_) => runnable_by_anyone(&run_dir, &binary)?,
                    None => binary,
                };
                self.spawn_with(
                    &run_dir,
                    &node.name,
                    &binary,
                    "sentinel.conf",
                    &["--sentinel"],
                    uid,
                )?
            }
            None => {
                let server = d
                    .topology
                    .node(&node.name)
                    .map(|n| n.server.clone())
                    .unwrap_or_default();
                self.spawn(&run_dir, &node.name, &servers::expected_binary(&server)?)?
            }
        };
        let mut updated = d.clone();
        if let Some(n) = (updated.nodes.iter_mut())
            .chain(updated.sentinels.iter_mut())
            .find(|n| n.name == node.name)
        {
            n.handle = pid.to_string();
        }
        self.save(&updated)?;
        let dir = run_dir.join(&node.name);
        wait_for_ping(
            &node.name,
            node.addr,
            Duration::from_secs(10),
            &CancellationToken::new(),
            || {
                let dir = dir.clone();
                async move { exited(&dir) }
            },
        )
        .await
    }

    /// The last `tail` lines of the node's `redis.log`.
    pub fn logs(
        &self,
        d: &Deployment,
        node: &DeployedNode,
        tail: usize,
    ) -> Result<String, RuntimeError> {
        Ok(tail_file(
            &self.run_dir(&d.run_id).join(&node.name).join("redis.log"),
            tail,
        ))
    }
}

/// `Err(reason)` when no redis-server runs in the node directory `dir` any
/// more: its last log lines.
fn exited(dir: &Path) -> Result<(), String> {
    if pids_matching(dir).is_empty() {
        let log = [
            tail_file(&dir.join("console.log"), 10),
            tail_file(&dir.join("redis.log"), 10),
        ]
        .join("\n");
        Err(format!(
            "redis-server exited; last log lines:\n{}",
            log.trim()
        ))
    } else {
        Ok(())
    }
}

/// Addresses of every node in `block`, in node order (what `up` will assign).
fn deployment_addrs(topology: &Topology, block: u8) -> Vec<(String, SocketAddr)> {
    topology
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let ip = IpAddr::V4(Ipv4Addr::new(127, 0, block, FIRST_HOST + i as u8));
            (
                n.name.clone(),
                SocketAddr::new(ip, n.port.unwrap_or(DATA_PORT)),
            )
        })
        .collect()
}

/// For replicas of a `replicated` topology: the primary's address.
fn replica_target(
    topology: &Topology,
    addrs: &[(String, SocketAddr)],
    spec: &NodeSpec,
) -> Option<SocketAddr> {
    if topology.kind != Kind::Replicated {
        return None;
    }
    let primary = spec.replica_of.as_deref()?;
    addrs.iter().find(|(n, _)| n == primary).map(|(_, a)| *a)
}

/// Wait until each of `members` answers PING (or its process has exited,
/// which is an error naming its log).
async fn answering(
    run_dir: &Path,
    members: &[DeployedNode],
    timeout: Duration,
    cancel: &CancellationToken,
    started: Instant,
) -> Result<(), RuntimeError> {
    let waits: Vec<_> = (members.iter())
        .map(|n| {
            let dir = run_dir.join(&n.name);
            wait_for_ping(&n.name, n.addr, timeout, cancel, move || {
                let dir = dir.clone();
                async move { exited(&dir) }
            })
        })
        .collect();
    all_ready(waits, started, "process").await
}

fn ports_free(topology: &Topology, block: u8) -> Result<(), RuntimeError> {
    for (name, addr) in deployment_addrs(topology, block) {
        let mut ports = vec![addr.port()];
        if topology.kind == Kind::Cluster {
            ports.push(BUS_PORT);
        }
        for port in ports {
            if !port_is_free(addr.ip(), port) {
                return Err(RuntimeError::PortTaken {
                    node: name,
                    ip: addr.ip().to_string(),
                    port,
                });
            }
        }
    }
    Ok(())
}

/// Give a Sentinel's folder and the files in it to `uid` (its group too),
/// so that, running as that user, it can rewrite its `sentinel.conf` and
/// write its log there.
fn give_to(dir: &Path, uid: u32) -> Result<(), RuntimeError> {
    let chown = |p: &Path| {
        std::os::unix::fs::chown(p, Some(uid), Some(uid)).map_err(RuntimeError::io(format!(
            "giving {} to uid {uid}",
            p.display()
        )))
    };
    chown(dir)?;
    for entry in
        std::fs::read_dir(dir).map_err(RuntimeError::io(format!("listing {}", dir.display())))?
    {
        let entry = entry.map_err(RuntimeError::io(format!("listing {}", dir.display())))?;
        chown(&entry.path())?;
    }
    Ok(())
}

/// `binary`, or, when a user other than root could not run it where it is
/// (a server built under root's home, mode 700), a copy of it in the run's
/// folder (`bin/`), made once, that anyone can run.
fn runnable_by_anyone(run_dir: &Path, binary: &Path) -> Result<PathBuf, RuntimeError> {
    use std::os::unix::fs::PermissionsExt;
    let others_x =
        |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0);
    if binary.ancestors().all(others_x) {
        return Ok(binary.to_path_buf());
    }
    let name = binary
        .file_name()
        .ok_or_else(|| RuntimeError::Environment(format!("{} names no file", binary.display())))?;
    let bin = run_dir.join("bin");
    let copy = bin.join(name);
    if !copy.is_file() {
        std::fs::create_dir_all(&bin)
            .map_err(RuntimeError::io(format!("creating {}", bin.display())))?;
        std::fs::copy(binary, &copy).map_err(RuntimeError::io(format!(
            "copying {} to {}",
            binary.display(),
            copy.display()
        )))?;
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).map_err(
            RuntimeError::io(format!("making {} runnable", copy.display())),
        )?;
    }
    if !copy.ancestors().all(others_x) {
        return Err(RuntimeError::Environment(format!(
            "a Sentinel runs under a uid of its own, which cannot reach {} (a folder on the way is not searchable by others)",
            copy.display()
        )));
    }
    Ok(copy)
}
