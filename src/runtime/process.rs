//! The process runtime: redis-server processes on loopback, for machines with
//! no Docker engine (and for fast local runs).
//!
//! Each node gets its own address, 127.0.B.(11+i), with one block B per run, so
//! [`super::filter`] can drop traffic between pairs of nodes with iptables,
//! and every node can use the standard ports. A run lives in its own directory,
//! `<base>/<run-id>/`, holding `deployment.json` and one directory per node
//! (redis.conf, nodes.conf, redis.log). The run directory plays the part of the
//! Docker label: every redis-server we start has its path on its command line,
//! so cleanup finds our processes — and only ours — from /proc.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::config::{self, Listen};
use super::{
    AddedNode, DeployedNode, Deployment, ExecOutput, NodeAction, Removed, RuntimeError,
    RuntimeKind, UpOptions,
};
use crate::topology::{Kind, NodeSpec, Topology};

/// Overrides where run directories live (default: `$TMPDIR/redis-drill`).
/// Tests point it at their own temp dir so they never see each other's runs.
pub const STATE_DIR_ENV: &str = "REDIS_DRILL_STATE_DIR";
/// Default data port on each node's own address.
const DATA_PORT: u16 = 6379;
/// Default bus port: explicit (cluster-port), low, and out of the kernel's
/// ephemeral range (32768-60999).
const BUS_PORT: u16 = 16379;
/// Host part of the first node's address in its block.
const FIRST_HOST: u8 = 11;
/// Blocks 127.0.B.0/24 we draw from; 127.0.0.0/24 is left to everything else.
const BLOCKS: std::ops::RangeInclusive<u8> = 100..=250;
/// How long a graceful stop may take before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

pub struct ProcessRuntime {
    redis_server: PathBuf,
    base: PathBuf,
}

impl ProcessRuntime {
    pub fn new() -> Result<ProcessRuntime, RuntimeError> {
        let redis_server = super::image::which("redis-server").ok_or_else(|| {
            RuntimeError::Environment(
                "redis-server not found on PATH; install it (apt-get install redis-server) or use --runtime docker".into(),
            )
        })?;
        let base = match std::env::var_os(STATE_DIR_ENV) {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => std::env::temp_dir().join("redis-drill"),
        };
        Ok(ProcessRuntime { redis_server, base })
    }

    /// A runtime whose runs live under `base`, as [`STATE_DIR_ENV`] would
    /// say: for tests that drive the library beside the binary, in parallel,
    /// without touching the process's environment.
    pub fn with_state_dir(base: impl Into<PathBuf>) -> Result<ProcessRuntime, RuntimeError> {
        Ok(ProcessRuntime {
            base: base.into(),
            ..ProcessRuntime::new()?
        })
    }

    /// The directory of `d`'s run.
    pub fn run_dir_of(&self, d: &Deployment) -> PathBuf {
        self.run_dir(&d.run_id)
    }

    fn run_dir(&self, run_id: &str) -> PathBuf {
        self.base.join(run_id)
    }

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
        let run_dir = self.run_dir(&opts.run_id);
        std::fs::create_dir_all(&run_dir)
            .map_err(RuntimeError::io(format!("creating {}", run_dir.display())))?;

        let block = self.pick_block(topology, &run_dir)?;
        let mut deployment = Deployment {
            name: opts.name.clone(),
            run_id: opts.run_id.clone(),
            runtime: RuntimeKind::Process,
            image: self.redis_server.display().to_string(),
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
                    }
                })
                .collect(),
        };
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
            let pid = self.spawn(&run_dir, &spec.name)?;
            node.handle = pid.to_string();
        }
        self.save(&deployment)?;

        let waits: Vec<_> = (deployment.nodes.iter())
            .map(|n| {
                let dir = run_dir.join(&n.name);
                super::wait_for_ping(&n.name, n.addr, opts.timeout, cancel, move || {
                    let dir = dir.clone();
                    async move { exited(&dir) }
                })
            })
            .collect();
        super::all_ready(waits, started, "process").await?;
        Ok(deployment)
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
        let ip = (FIRST_HOST..=254)
            .map(|h| Ipv4Addr::new(127, 0, block, h))
            .find(|ip| !used.contains(ip))
            .ok_or_else(|| {
                RuntimeError::Environment(format!("no free address left in 127.0.{block}.0/24"))
            })?;
        let addr = SocketAddr::new(IpAddr::V4(ip), spec.port.unwrap_or(DATA_PORT));
        let mut ports = vec![addr.port()];
        if d.topology.kind == Kind::Cluster {
            ports.push(BUS_PORT);
        }
        if let Some(&port) = ports.iter().find(|&&p| !super::port_is_free(addr.ip(), p)) {
            return Err(RuntimeError::PortTaken {
                node: spec.name.clone(),
                ip: ip.to_string(),
                port,
            });
        }
        check_cancel(cancel)?;
        let name = spec.name.clone();
        let mut grown = d.with_node(AddedNode {
            node: DeployedNode {
                name: name.clone(),
                addr,
                announce: addr,
                bus_port: BUS_PORT,
                handle: String::new(),
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
            let pid = self.spawn(&run_dir, &name)?;
            if let Some(n) = grown.nodes.iter_mut().find(|n| n.name == name) {
                n.handle = pid.to_string();
            }
            self.save(&grown)?;
            let dir = run_dir.join(&name);
            super::wait_for_ping(&name, addr, timeout, cancel, move || {
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
    fn spawn(&self, run_dir: &Path, node: &str) -> Result<u32, RuntimeError> {
        use std::os::unix::process::CommandExt;
        let dir = run_dir.join(node);
        let conf = dir.join("redis.conf");
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
        let mut child = Command::new(&self.redis_server)
            .arg(&conf)
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
                "starting redis-server for node {node}"
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
        let path = self.run_dir(&d.run_id).join("deployment.json");
        let tmp = path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(d).expect("a deployment serializes");
        std::fs::write(&tmp, json)
            .map_err(RuntimeError::io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &path)
            .map_err(RuntimeError::io(format!("writing {}", path.display())))
    }

    pub fn find(&self, name: &str) -> Result<Option<Deployment>, RuntimeError> {
        Ok(self.list()?.into_iter().find(|d| d.name == name))
    }

    pub fn list(&self) -> Result<Vec<Deployment>, RuntimeError> {
        let Ok(entries) = std::fs::read_dir(&self.base) else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Deployment> = entries
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("deployment.json")).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Kill the run's nodes (and its links' relay), remove its directory, and
    /// lift its partition and its links (its iptables chains on the host),
    /// whatever state it was left in.
    pub fn remove_run(&self, run_id: &str) -> Result<Removed, RuntimeError> {
        let dir = self.run_dir(run_id);
        let removed = kill_and_remove(&dir)?;
        super::filter::teardown_run(run_id).map_err(|e| {
            RuntimeError::Environment(format!("removing the partition rules of run {run_id}: {e}"))
        })?;
        super::links::teardown_run(run_id).map_err(|e| {
            RuntimeError::Environment(format!("removing the link rules of run {run_id}: {e}"))
        })?;
        Ok(removed)
    }

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
        super::filter::teardown_all()
            .map_err(|e| RuntimeError::Environment(format!("removing partition rules: {e}")))?;
        super::links::teardown_all()
            .map_err(|e| RuntimeError::Environment(format!("removing link rules: {e}")))?;
        Ok(removed)
    }

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
                kill_matching(&node_dir, libc::SIGKILL, STOP_GRACE)?;
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
        let pid = self.spawn(&run_dir, &node.name)?;
        let mut updated = d.clone();
        if let Some(n) = updated.nodes.iter_mut().find(|n| n.name == node.name) {
            n.handle = pid.to_string();
        }
        self.save(&updated)?;
        let dir = run_dir.join(&node.name);
        super::wait_for_ping(
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

    pub async fn exec(&self, cmd: &[String]) -> Result<ExecOutput, RuntimeError> {
        let (program, args) = cmd
            .split_first()
            .ok_or_else(|| RuntimeError::BadInput("exec needs a command".into()))?;
        let out = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(RuntimeError::io(format!("running `{}`", cmd.join(" "))))?;
        Ok(ExecOutput {
            exit_code: out.status.code().map(i64::from).unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

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

fn check_cancel(cancel: &CancellationToken) -> Result<(), RuntimeError> {
    if cancel.is_cancelled() {
        Err(RuntimeError::Cancelled)
    } else {
        Ok(())
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

fn ports_free(topology: &Topology, block: u8) -> Result<(), RuntimeError> {
    for (name, addr) in deployment_addrs(topology, block) {
        let mut ports = vec![addr.port()];
        if topology.kind == Kind::Cluster {
            ports.push(BUS_PORT);
        }
        for port in ports {
            if !super::port_is_free(addr.ip(), port) {
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

/// Pids of our live (non-zombie) redis-server processes under `dir` (a run
/// directory, a node directory, or the base). Redis rewrites its process
/// title, so the command line is not enough: a process is ours when its
/// executable is a redis binary and its working directory (the node's data
/// dir, where we start it and where `dir` points it) lies under `dir`, or when
/// its title names a config file there (`proc-title-template` below).
fn pids_matching(dir: &Path) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    // With a trailing slash, so that s1n1 never matches s1n10's config path.
    let mut needle = dir.as_os_str().as_encoded_bytes().to_vec();
    needle.push(b'/');
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me && !is_zombie(pid))
        .filter(|&pid| {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            if !exe
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("redis-"))
            {
                return false;
            }
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
            // A removed directory reads as "<path> (deleted)".
            let cwd = cwd.to_string_lossy();
            let cwd = Path::new(cwd.strip_suffix(" (deleted)").unwrap_or(&cwd));
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            cwd.starts_with(dir)
                || cmdline
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice())
        })
        .collect()
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(true)
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a pid we just read from /proc; a stale pid yields ESRCH.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Send `sig` to every process mentioning `needle` (a paused one is resumed so
/// it can act on SIGTERM), wait up to `grace` for them to go, then SIGKILL what
/// is left. Returns how many there were.
fn kill_matching(needle: &Path, sig: i32, grace: Duration) -> Result<usize, RuntimeError> {
    let pids = pids_matching(needle);
    for &pid in &pids {
        signal(pid, sig);
        if sig != libc::SIGKILL {
            signal(pid, libc::SIGCONT);
        }
    }
    let started = Instant::now();
    let interval = Duration::from_millis(10);
    let max_polls = grace.as_millis() / interval.as_millis() + 1;
    for _ in 0..max_polls {
        if pids.iter().all(|&p| is_zombie(p)) {
            return Ok(pids.len());
        }
        if started.elapsed() >= grace {
            break;
        }
        std::thread::sleep(interval);
    }
    for &pid in &pids {
        signal(pid, libc::SIGKILL);
    }
    for _ in 0..200 {
        if pids.iter().all(|&p| is_zombie(p)) {
            return Ok(pids.len());
        }
        std::thread::sleep(interval);
    }
    Err(RuntimeError::Environment(format!(
        "processes {pids:?} did not exit after SIGKILL"
    )))
}

fn tail_file(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// SIGKILL every redis-server running from under `dir`, then remove `dir`
/// and its claim on a block.
fn kill_and_remove(dir: &Path) -> Result<Removed, RuntimeError> {
    let mut removed = Removed {
        processes: kill_matching(dir, libc::SIGKILL, STOP_GRACE)?,
        ..Default::default()
    };
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(RuntimeError::io(format!("removing {}", dir.display())))?;
        removed.dirs = 1;
    }
    release_blocks(&claims_dir(), dir);
    Ok(removed)
}

/// Where runs claim their blocks: one directory for the whole machine,
/// whatever state dir a run keeps, because the loopback addresses are the
/// machine's. (Two `up`s with their own state dirs, as parallel tests have,
/// once picked the same block between one's choice and its first listener.)
fn claims_dir() -> PathBuf {
    std::env::temp_dir().join("redis-drill-blocks")
}

/// Claim `block` for the run in `run_dir`: a file named after the block,
/// created only if absent, naming the run's directory. A claim whose run
/// directory is gone (a run removed by hand, a killed `up`) is stale and is
/// taken over. Returns false when a live run holds the block.
fn claim_block(dir: &Path, block: u8, run_dir: &Path) -> Result<bool, RuntimeError> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir)
            .map_err(RuntimeError::io(format!("creating {}", dir.display())))?;
        // Shared by every user's runs, as the addresses are: writable by
        // all, each claim removable only by its owner (as /tmp).
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777));
    }
    let path = dir.join(block.to_string());
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(run_dir.as_os_str().as_encoded_bytes())
                    .map_err(RuntimeError::io(format!("writing {}", path.display())))?;
                return Ok(true);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                // An empty holder is a claim being written this instant,
                // unless it has been empty for long.
                let fresh = || {
                    std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(10))
                };
                if Path::new(&holder).is_dir() || (holder.is_empty() && fresh()) {
                    return Ok(false);
                }
                let _ = std::fs::remove_file(&path);
            }
            // A claims dir another user made without room for ours: run
            // unclaimed, as before claims existed, rather than not at all.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                tracing::warn!(
                    "cannot claim block {block} in {} ({e}): running without a claim",
                    dir.display()
                );
                return Ok(true);
            }
            Err(e) => {
                return Err(RuntimeError::io(format!("creating {}", path.display()))(e));
            }
        }
    }
    Ok(false)
}

/// Remove every claim held by the run in `run_dir`.
fn release_blocks(dir: &Path, run_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let holder = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if Path::new(&holder) == run_dir {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_claimed_once_while_its_run_lives() {
        let tmp = tempfile::tempdir().unwrap();
        let claims = tmp.path().join("claims");
        let (a, b) = (tmp.path().join("run-a"), tmp.path().join("run-b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        assert!(claim_block(&claims, 170, &a).unwrap());
        assert!(
            !claim_block(&claims, 170, &b).unwrap(),
            "a live run holds 170"
        );
        assert!(claim_block(&claims, 171, &b).unwrap());
        // Run a's directory goes without a release: its claim is stale.
        std::fs::remove_dir_all(&a).unwrap();
        assert!(
            claim_block(&claims, 170, &b).unwrap(),
            "stale claim taken over"
        );
        release_blocks(&claims, &b);
        assert_eq!(std::fs::read_dir(&claims).unwrap().count(), 0);
    }
}
