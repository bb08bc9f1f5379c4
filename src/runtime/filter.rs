//! Grudges as real packet drops: iptables `DROP` rules (never `REJECT`: a
//! partition must be silent, so peers learn of it only by timing out, as on a
//! real network).
//!
//! Only traffic *between nodes* is cut. A rule matches a peer node's address
//! as the source, and the controller never uses one: it reaches docker nodes
//! through their published port (docker-proxy, from the bridge gateway) and
//! process nodes from 127.0.0.1. So clients on both sides of a partition keep
//! working, which is what lets a drill see writes accepted by a minority.
//! The one exception is a grudge naming [`CLIENTS`] (the `clients` shape):
//! it cuts exactly those client addresses off from the nodes it names
//! (process: 127.0.0.1 ↔ the node, both ways; docker: the run's gateway and
//! `clients` container dropped at the node).
//!
//! - **docker**: each node's container has its own network namespace, and its
//!   filter table belongs to redis-drill. One `iptables-restore` per node
//!   (through `docker exec`, the script on stdin: the image has no shell)
//!   replaces the whole table at once: `INPUT` jumps to [`DOCKER_CHAIN`],
//!   which drops the addresses of the peers the node holds a grudge against.
//!   Nodes are written concurrently, so a partition starts within about one
//!   `docker exec` everywhere ([`Applied::spread`] measures it). The rules
//!   live in the namespace, so they go with the container (and with a
//!   restart of it: a restarted node hears everyone). The image's `iptables`
//!   is the nft flavour (legacy works in the containers too).
//! - **process**: every node has its own loopback address and sends from it
//!   (`bind-source-addr`), so host rules `-s <peer> -d <node> -j DROP` cut
//!   exactly one direction of one pair. They live in a per-run chain
//!   ([`process_chain`]) jumped to from the host's `INPUT`; that needs root.
//!   The process runtime's `remove_run` calls [`teardown_run`] and its
//!   `remove_all` calls [`teardown_all`], so no chain outlives its run.
//!
//! Both write a node's whole rule set in one `iptables-restore`, so a new
//! grudge replaces the previous one atomically, with no moment in which the
//! old rules are gone and the new ones not yet there.

use std::net::IpAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::exec::{first_line, restore};
use super::{Deployment, Runtime, RuntimeError, RuntimeKind};
use crate::exit::Class;
use crate::net::Grudge;
use crate::net::grudge::CLIENTS;

/// The chain inside each docker node's namespace. One name for all: the
/// namespace is the node's own.
pub const DOCKER_CHAIN: &str = "REDIS-DRILL";
/// Prefix of the per-run chains in the host's filter table (process runtime).
pub const PROCESS_CHAIN_PREFIX: &str = "RD-";
/// iptables refuses longer chain names (`XT_EXTENSION_MAXNAMELEN` - 1).
const CHAIN_MAX: usize = 28;
/// How many jumps to one chain `teardown_run` removes at most; more than one
/// only after a crash between two checks, so a handful is plenty.
const MAX_JUMPS: usize = 8;

/// Why a partition could not be applied or healed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Partitions cannot work here: not root, no iptables, no NET_ADMIN.
    #[error("apply a partition here: {0}")]
    Unsupported(String),
    /// A grudge naming nodes the deployment does not have.
    #[error("{0}")]
    BadInput(String),
    /// An iptables command ran and failed.
    #[error("run `{command}` for node {node} (exit code {code}): {stderr}")]
    Command {
        node: String,
        command: String,
        code: i64,
        stderr: String,
    },
    /// Docker cannot exec in a paused container, so a paused node keeps the
    /// rules it had; every other node was written.
    #[error(
        "write the drop rules of paused nodes {} (docker cannot exec in a paused container): \
         they keep their old rules until resumed and applied or healed again",
        nodes.join(", ")
    )]
    Paused { nodes: Vec<String> },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl NetError {
    /// What kind of failure this is (the CLI maps it to an exit code).
    pub fn class(&self) -> Class {
        match self {
            NetError::BadInput(_) => Class::BadInput,
            NetError::Runtime(e) => e.class(),
            NetError::Unsupported(_) | NetError::Command { .. } | NetError::Paused { .. } => {
                Class::Environment
            }
        }
    }
}

/// What an apply or a heal did, for timelines and reports.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// Nodes whose rules were written (docker) or covered by the run's chain
    /// (process).
    pub nodes: usize,
    /// DROP rules in force afterwards.
    pub rules: usize,
    /// Nodes not running (killed, stopped), whose rules could not be written.
    /// A docker node that starts again comes back with no rules at all.
    pub skipped: Vec<String>,
    /// From the first command to the last one's return.
    pub elapsed: Duration,
    /// Between the first node's command returning and the last one's: about
    /// how far apart in time the nodes' rules changed, i.e. how sharp the
    /// partition's start is ([`Applied::elapsed`] bounds it). Zero when one
    /// transaction writes every rule (process runtime).
    pub spread: Duration,
}

/// Make `d`'s drop rules exactly `grudge`: what an earlier apply installed
/// and `grudge` does not say is lifted; an empty grudge heals.
pub async fn apply(rt: &Runtime, d: &Deployment, grudge: &Grudge) -> Result<Applied, NetError> {
    let peers = resolve(d, grudge)?;
    let started = Instant::now();
    let mut applied = match rt.kind() {
        // The clients' side is not a container: the node's INPUT rule
        // stops their requests, so nothing comes back to them either.
        RuntimeKind::Docker => docker_write(rt, d, &peers).await?,
        RuntimeKind::Process => {
            // On the host both directions can be cut: the nodes' replies
            // to the clients too.
            let to_clients: Vec<(IpAddr, IpAddr)> = grudge
                .drops_from(CLIENTS)
                .filter_map(|from| d.nodes.iter().find(|n| n.name == from))
                .flat_map(|n| {
                    client_sources(d)
                        .into_iter()
                        .map(move |c| (n.announce.ip(), c))
                })
                .collect();
            process_write(d, &peers, &to_clients).await?
        }
    };
    applied.elapsed = started.elapsed();
    tracing::info!(
        deployment = %d.name,
        grudge = %grudge.describe(),
        rules = applied.rules,
        elapsed_ms = applied.elapsed.as_millis() as u64,
        spread_ms = applied.spread.as_millis() as u64,
        "partition applied"
    );
    Ok(applied)
}

/// Lift every drop rule of `d`. Succeeds on nodes that never had rules, and
/// skips nodes that are not running (a docker node's rules die with it).
pub async fn heal(rt: &Runtime, d: &Deployment) -> Result<Applied, NetError> {
    let started = Instant::now();
    let mut healed = match rt.kind() {
        RuntimeKind::Docker => {
            let empty: Vec<(String, Vec<IpAddr>)> = d
                .nodes
                .iter()
                .map(|n| (n.name.clone(), Vec::new()))
                .collect();
            docker_write(rt, d, &empty).await?
        }
        RuntimeKind::Process => process_heal(d).await?,
    };
    healed.elapsed = started.elapsed();
    tracing::info!(
        deployment = %d.name,
        elapsed_ms = healed.elapsed.as_millis() as u64,
        "partition healed"
    );
    Ok(healed)
}

/// Whether partitions can be applied to `d` here, and if not, why. Process
/// runtime: root and a working host iptables. Docker: every running node's
/// image ships iptables and its container may use it (NET_ADMIN).
pub async fn preflight(rt: &Runtime, d: &Deployment) -> Result<(), NetError> {
    match rt.kind() {
        RuntimeKind::Process => process_preflight().await,
        RuntimeKind::Docker => {
            let checks = d.nodes.iter().map(|n| async move {
                let cmd = argv(&["iptables", "-w", "-S", "INPUT"]);
                match rt.exec(d, &n.name, &cmd).await {
                    Ok(out) if out.exit_code == 0 => Ok(()),
                    Ok(out) if matches!(out.exit_code, 126 | 127) => {
                        Err(NetError::Unsupported(format!(
                            "node {}'s image has no iptables (the default image {} has)",
                            n.name,
                            super::image::DEFAULT_IMAGE
                        )))
                    }
                    Ok(out) => Err(NetError::Unsupported(format!(
                        "iptables does not work in node {}'s container (exit code {}): {} \
                         (the container needs the NET_ADMIN capability)",
                        n.name,
                        out.exit_code,
                        first_line(&out.stderr, &out.stdout)
                    ))),
                    Err(e) => match exec_refused(&e) {
                        // Not running: nothing to check, nothing to cut.
                        Some(_) => Ok(()),
                        None => Err(e.into()),
                    },
                }
            });
            futures::future::try_join_all(checks).await.map(|_| ())
        }
    }
}

/// Each node of `d` with the addresses it drops, in node order. Fails on a
/// grudge naming a node `d` does not have.
fn resolve(d: &Deployment, grudge: &Grudge) -> Result<Vec<(String, Vec<IpAddr>)>, NetError> {
    for (dropper, from) in grudge.pairs() {
        for name in [dropper, from] {
            if name != CLIENTS && d.nodes.iter().all(|n| n.name != name) {
                return Err(NetError::BadInput(format!(
                    "the partition names node `{name}`, which {} does not have (nodes: {})",
                    d.name,
                    d.nodes
                        .iter()
                        .map(|n| n.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    Ok(d.nodes
        .iter()
        .map(|n| {
            let ips = grudge
                .drops_from(&n.name)
                .flat_map(|from| match from {
                    CLIENTS => client_sources(d),
                    _ => d
                        .nodes
                        .iter()
                        .filter(|p| p.name == from)
                        .map(|p| p.announce.ip())
                        .collect(),
                })
                .chain(region_clients_cut(d, grudge, &n.name))
                .collect();
            (n.name.clone(), ips)
        })
        .collect())
}

/// The client addresses of other regions that `node` drops under `grudge`:
/// a region's clients share their region's fate, so a node that drops
/// every node of another region drops that region's clients too (a region
/// cut off is cut off from its clients' view as well); the clients of its
/// own region keep reaching it, as on one LAN.
fn region_clients_cut(d: &Deployment, grudge: &Grudge, node: &str) -> Vec<IpAddr> {
    let region_of = |name: &str| d.spec(name).map(|s| s.region.as_str());
    let own = region_of(node);
    let dropped: Vec<&str> = grudge.drops_from(node).collect();
    d.topology
        .regions
        .iter()
        .filter(|r| Some(r.name.as_str()) != own)
        .filter(|r| {
            let mut of_r = d
                .nodes
                .iter()
                .filter(|p| region_of(&p.name) == Some(r.name.as_str()))
                .peekable();
            of_r.peek().is_some() && of_r.all(|p| dropped.contains(&p.name.as_str()))
        })
        .filter_map(|r| d.client_addr(&r.name))
        .collect()
}

/// The source addresses of the drill's own connections to `d`'s nodes (the
/// [`CLIENTS`] of a grudge). Process runtime: the host's 127.0.0.1, from
/// which the workload, the lock workload and the controller connect to the
/// nodes' own loopback addresses. Docker: the run's `clients` container
/// (.2, where the workloads sit when they may join its namespace) and the
/// network's gateway (.1, the source of everything that comes through a
/// published port, the controller included).
fn client_sources(d: &Deployment) -> Vec<IpAddr> {
    match d.runtime {
        RuntimeKind::Process => vec![IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)],
        RuntimeKind::Docker => {
            let Some(o) = d.nodes.iter().find_map(|n| match n.announce.ip() {
                IpAddr::V4(v4) => Some(v4.octets()),
                IpAddr::V6(_) => None,
            }) else {
                return Vec::new();
            };
            [1, super::docker::CLIENTS_HOST]
                .map(|h| IpAddr::V4(std::net::Ipv4Addr::new(o[0], o[1], o[2], h)))
                .to_vec()
        }
    }
}

/// The whole filter table of a docker node: INPUT jumps to [`DOCKER_CHAIN`],
/// which drops `from`. Replacing the table (no `--noflush`) makes the write
/// idempotent and atomic.
fn docker_script(from: &[IpAddr]) -> String {
    let mut s = format!(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         :{DOCKER_CHAIN} - [0:0]\n-A INPUT -j {DOCKER_CHAIN}\n"
    );
    for ip in from {
        s.push_str(&format!("-A {DOCKER_CHAIN} -s {ip} -j DROP\n"));
    }
    s.push_str("COMMIT\n");
    s
}

/// Write every node's table, all nodes at once: most of the time goes into
/// Docker starting a process in each container (tens to a hundred ms each,
/// partly serialised by the engine), so concurrency is what keeps the start
/// of a partition sharp. [`Applied::spread`] says how sharp it was.
async fn docker_write(
    rt: &Runtime,
    d: &Deployment,
    peers: &[(String, Vec<IpAddr>)],
) -> Result<Applied, NetError> {
    let Runtime::Docker(docker) = rt else {
        unreachable!("docker_write is only called for the docker runtime");
    };
    let docker = docker.client();
    let writes = peers.iter().map(|(node, from)| async move {
        let handle = &d.node(node)?.handle;
        let result = restore(
            docker,
            &format!("node {node}"),
            handle,
            &[],
            &docker_script(from),
        )
        .await;
        Ok::<_, NetError>((node, from.len(), result))
    });
    let mut applied = Applied {
        nodes: 0,
        rules: 0,
        skipped: Vec::new(),
        elapsed: Duration::ZERO,
        spread: Duration::ZERO,
    };
    let mut paused = Vec::new();
    let mut done_at: Vec<Instant> = Vec::new();
    for result in futures::future::join_all(writes).await {
        let (node, rules, result) = result?;
        let (out, done) = match result {
            Ok(r) => r,
            Err(e) => match exec_refused(&e) {
                Some(Refused::Paused) => {
                    paused.push(node.clone());
                    continue;
                }
                Some(Refused::NotRunning) => {
                    applied.skipped.push(node.clone());
                    continue;
                }
                None => return Err(e.into()),
            },
        };
        match out.exit_code {
            0 => {
                applied.nodes += 1;
                applied.rules += rules;
                done_at.push(done);
            }
            // No iptables in the image: no rule can be there to lift.
            126 | 127 if rules == 0 => applied.skipped.push(node.clone()),
            code => {
                return Err(NetError::Command {
                    node: node.clone(),
                    command: "iptables-restore -w".into(),
                    code,
                    stderr: first_line(&out.stderr, &out.stdout),
                });
            }
        }
    }
    if let (Some(first), Some(last)) = (done_at.iter().min(), done_at.iter().max()) {
        applied.spread = last.saturating_duration_since(*first);
    }
    if !paused.is_empty() {
        return Err(NetError::Paused { nodes: paused });
    }
    if !applied.skipped.is_empty() {
        tracing::warn!(nodes = ?applied.skipped, "nodes not running: their rules were not written");
    }
    Ok(applied)
}

/// Why Docker would not exec in a container.
enum Refused {
    NotRunning,
    Paused,
}

/// Docker answers 409 to an exec in a container that is stopped or paused.
fn exec_refused(e: &RuntimeError) -> Option<Refused> {
    match e {
        RuntimeError::Docker {
            source:
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 409,
                    message,
                },
            ..
        } => Some(if message.contains("paused") {
            Refused::Paused
        } else {
            Refused::NotRunning
        }),
        RuntimeError::Docker {
            source:
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                },
            ..
        } => Some(Refused::NotRunning),
        _ => None,
    }
}

/// The host chain holding `run_id`'s drop rules: `RD-<run id>`, so cleanup
/// finds it by run id alone, and `down --all` by its prefix.
pub fn process_chain(run_id: &str) -> Result<String, NetError> {
    let name = format!("{PROCESS_CHAIN_PREFIX}{run_id}");
    if name.len() > CHAIN_MAX
        || !run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(NetError::BadInput(format!(
            "run id `{run_id}` cannot name an iptables chain (at most {} characters of [A-Za-z0-9_-])",
            CHAIN_MAX - PROCESS_CHAIN_PREFIX.len()
        )));
    }
    Ok(name)
}

/// The chain's rules, `--noflush` (the host's table is shared with Docker
/// and everything else): declaring the chain creates it or flushes it, in the
/// same transaction as the new rules; the jump from INPUT (first, so that no
/// ACCEPT rule of the host's firewall lets peer traffic through before it)
/// only when it is not there yet.
fn process_script(chain: &str, drops: &[(IpAddr, IpAddr)], add_jump: bool) -> String {
    let mut s = format!("*filter\n:{chain} - [0:0]\n");
    for (from, to) in drops {
        s.push_str(&format!("-A {chain} -s {from} -d {to} -j DROP\n"));
    }
    if add_jump {
        s.push_str(&format!("-I INPUT 1 -j {chain}\n"));
    }
    s.push_str("COMMIT\n");
    s
}

async fn process_write(
    d: &Deployment,
    peers: &[(String, Vec<IpAddr>)],
    extra: &[(IpAddr, IpAddr)],
) -> Result<Applied, NetError> {
    process_preflight().await?;
    let chain = process_chain(&d.run_id)?;
    let drops: Vec<(IpAddr, IpAddr)> = peers
        .iter()
        .flat_map(|(node, from)| {
            let to = d
                .nodes
                .iter()
                .find(|n| &n.name == node)
                .map(|n| n.announce.ip());
            from.iter().filter_map(move |f| Some((*f, to?)))
        })
        .chain(extra.iter().copied())
        .collect();
    let jumped = host(&["iptables", "-w", "-C", "INPUT", "-j", &chain], None).await?;
    let script = process_script(&chain, &drops, jumped.exit_code != 0);
    let out = host(
        &["iptables-restore", "-w", "--noflush"],
        Some(script.as_bytes()),
    )
    .await?;
    if out.exit_code != 0 {
        return Err(NetError::Command {
            node: format!("(host, run {})", d.run_id),
            command: "iptables-restore -w --noflush".into(),
            code: out.exit_code,
            stderr: first_line(&out.stderr, &out.stdout),
        });
    }
    Ok(Applied {
        nodes: d.nodes.len(),
        rules: drops.len(),
        skipped: Vec::new(),
        elapsed: Duration::ZERO,
        spread: Duration::ZERO,
    })
}

/// Flush the run's chain. Without root no chain can have been made by this
/// user, so there is nothing to heal; a chain that does not exist is healed.
async fn process_heal(d: &Deployment) -> Result<Applied, NetError> {
    let healed = Applied {
        nodes: d.nodes.len(),
        rules: 0,
        skipped: Vec::new(),
        elapsed: Duration::ZERO,
        spread: Duration::ZERO,
    };
    if !is_root() || super::image::which("iptables").is_none() {
        return Ok(healed);
    }
    let chain = process_chain(&d.run_id)?;
    let out = host(&["iptables", "-w", "-F", &chain], None).await?;
    if out.exit_code != 0 && chain_exists_async(&chain).await? {
        return Err(NetError::Command {
            node: format!("(host, run {})", d.run_id),
            command: format!("iptables -w -F {chain}"),
            code: out.exit_code,
            stderr: first_line(&out.stderr, &out.stdout),
        });
    }
    Ok(healed)
}

pub(super) async fn process_preflight() -> Result<(), NetError> {
    if !is_root() {
        // SAFETY: geteuid(2) cannot fail.
        let euid = unsafe { libc::geteuid() };
        return Err(NetError::Unsupported(format!(
            "the process runtime changes the host's iptables, which needs root (euid 0), \
             and this runs as euid {euid}; run as root, or use --runtime docker"
        )));
    }
    for program in ["iptables", "iptables-restore"] {
        if super::image::which(program).is_none() {
            return Err(NetError::Unsupported(format!(
                "`{program}` is not installed on this host (apt-get install iptables)"
            )));
        }
    }
    let out = host(&["iptables", "-w", "-S", "INPUT"], None).await?;
    if out.exit_code != 0 {
        return Err(NetError::Unsupported(format!(
            "the host's iptables does not work (`iptables -w -S INPUT` exit code {}): {}",
            out.exit_code,
            first_line(&out.stderr, &out.stdout)
        )));
    }
    Ok(())
}

async fn chain_exists_async(chain: &str) -> Result<bool, NetError> {
    Ok(host(&["iptables", "-w", "-S", chain], None)
        .await?
        .exit_code
        == 0)
}

/// Remove `run_id`'s host chain and its jumps; how many chains were removed
/// (0 or 1). Nothing to do, and no error, without root or iptables: then no
/// chain can have been made. Synchronous, for the process runtime's cleanup.
pub fn teardown_run(run_id: &str) -> Result<usize, NetError> {
    if !is_root() || super::image::which("iptables").is_none() {
        return Ok(0);
    }
    remove_chain(&process_chain(run_id)?)
}

/// Remove every redis-drill chain (`RD-*`) from the host's filter table, of
/// any run: `down --all`. How many were removed.
pub fn teardown_all() -> Result<usize, NetError> {
    if !is_root() || super::image::which("iptables").is_none() {
        return Ok(0);
    }
    let out = host_sync(&["iptables", "-w", "-S"])?;
    if out.exit_code != 0 {
        // No working iptables: nothing can be there.
        return Ok(0);
    }
    let mut removed = 0;
    for chain in chains_in(&out.stdout) {
        removed += remove_chain(chain)?;
    }
    Ok(removed)
}

/// The redis-drill chains an `iptables -S` listing declares.
fn chains_in(listing: &str) -> impl Iterator<Item = &str> {
    listing
        .lines()
        .filter_map(|l| l.strip_prefix("-N "))
        .map(str::trim)
        .filter(|c| c.starts_with(PROCESS_CHAIN_PREFIX))
}

fn remove_chain(chain: &str) -> Result<usize, NetError> {
    if host_sync(&["iptables", "-w", "-S", chain])?.exit_code != 0 {
        return Ok(0);
    }
    // A jump may (after a crash between check and insert) be there twice.
    for _ in 0..MAX_JUMPS {
        if host_sync(&["iptables", "-w", "-D", "INPUT", "-j", chain])?.exit_code != 0 {
            break;
        }
    }
    for args in [
        ["iptables", "-w", "-F", chain],
        ["iptables", "-w", "-X", chain],
    ] {
        let out = host_sync(&args)?;
        if out.exit_code != 0 {
            return Err(NetError::Command {
                node: "(host)".into(),
                command: args.join(" "),
                code: out.exit_code,
                stderr: first_line(&out.stderr, &out.stdout),
            });
        }
    }
    tracing::debug!(chain, "partition chain removed");
    Ok(1)
}

pub(super) fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// What a host command printed and returned.
pub(super) struct HostOutput {
    pub(super) exit_code: i64,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

/// Run a host command, `input` on its stdin.
pub(super) async fn host(args: &[&str], input: Option<&[u8]>) -> Result<HostOutput, NetError> {
    use tokio::io::AsyncWriteExt as _;
    let ctx = || format!("running `{}`", args.join(" "));
    let mut child = tokio::process::Command::new(program(args[0]))
        .args(&args[1..])
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(RuntimeError::io(ctx()))?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(bytes)
            .await
            .map_err(RuntimeError::io(ctx()))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(RuntimeError::io(ctx()))?;
    Ok(HostOutput {
        exit_code: out.status.code().map(i64::from).unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

pub(super) fn host_sync(args: &[&str]) -> Result<HostOutput, NetError> {
    let out = std::process::Command::new(program(args[0]))
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(RuntimeError::io(format!("running `{}`", args.join(" "))))?;
    Ok(HostOutput {
        exit_code: out.status.code().map(i64::from).unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Where `name` is installed (root's PATH may lack the sbin directories in
/// CI); the bare name when it is nowhere, so the error names it.
fn program(name: &str) -> std::path::PathBuf {
    super::image::which(name).unwrap_or_else(|| name.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_script_replaces_the_table() {
        let ips: Vec<IpAddr> = vec![
            "172.28.5.12".parse().unwrap(),
            "172.28.5.13".parse().unwrap(),
        ];
        assert_eq!(
            docker_script(&ips),
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
             :REDIS-DRILL - [0:0]\n-A INPUT -j REDIS-DRILL\n\
             -A REDIS-DRILL -s 172.28.5.12 -j DROP\n-A REDIS-DRILL -s 172.28.5.13 -j DROP\nCOMMIT\n"
        );
        assert!(!docker_script(&[]).contains("DROP"));
        assert!(!docker_script(&ips).contains("REJECT"));
    }

    #[test]
    fn process_script_fills_the_chain_and_jumps_once() {
        let a: IpAddr = "127.0.101.11".parse().unwrap();
        let b: IpAddr = "127.0.101.12".parse().unwrap();
        assert_eq!(
            process_script("RD-0badf00d", &[(a, b)], true),
            "*filter\n:RD-0badf00d - [0:0]\n\
             -A RD-0badf00d -s 127.0.101.11 -d 127.0.101.12 -j DROP\n\
             -I INPUT 1 -j RD-0badf00d\nCOMMIT\n"
        );
        assert_eq!(
            process_script("RD-0badf00d", &[], false),
            "*filter\n:RD-0badf00d - [0:0]\nCOMMIT\n"
        );
    }

    #[test]
    fn process_chains_are_named_by_run_id() {
        assert_eq!(process_chain("0badf00d").unwrap(), "RD-0badf00d");
        assert!(process_chain(&"x".repeat(25)).is_ok());
        for bad in ["x".repeat(26), "a b".into(), "a;b".into()] {
            let e = process_chain(&bad).unwrap_err();
            assert_eq!(e.class(), Class::BadInput, "{e}");
        }
        let listing = "-P INPUT ACCEPT\n-N DOCKER\n-N RD-0badf00d\n-N RD-1\n\
                       -A INPUT -j RD-0badf00d\n-A RD-1 -s 127.0.0.1/32 -j DROP\n";
        assert_eq!(
            chains_in(listing).collect::<Vec<_>>(),
            ["RD-0badf00d", "RD-1"]
        );
    }

    fn deployment() -> Deployment {
        let topology = crate::topology::Topology::parse(
            "name: c\nkind: cluster\ncluster: {shards: 2, replicas: 1}\n",
            None,
        )
        .unwrap();
        let nodes = topology
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let addr: std::net::SocketAddr = format!("127.0.0.1:{}", 7000 + i).parse().unwrap();
                crate::runtime::DeployedNode {
                    name: n.name.clone(),
                    addr,
                    announce: format!("172.28.5.{}:6379", 11 + i).parse().unwrap(),
                    bus_port: 16379,
                    handle: String::new(),
                }
            })
            .collect();
        Deployment {
            name: "c".into(),
            run_id: "0badf00d".into(),
            runtime: RuntimeKind::Docker,
            image: String::new(),
            topology,
            nodes,
        }
    }

    #[test]
    fn grudges_resolve_to_peer_addresses() {
        let d = deployment();
        let all: Vec<String> = d.nodes.iter().map(|n| n.name.clone()).collect();
        assert_eq!(all, ["s1n1", "s1n2", "s2n1", "s2n2"]);
        let peers = resolve(&d, &crate::net::grudge::isolate("s1n2", &all)).unwrap();
        let ip = |h: u8| IpAddr::from([172, 28, 5, h]);
        assert_eq!(
            peers,
            [
                ("s1n1".to_string(), vec![ip(12)]),
                ("s1n2".to_string(), vec![ip(11), ip(13), ip(14)]),
                ("s2n1".to_string(), vec![ip(12)]),
                ("s2n2".to_string(), vec![ip(12)]),
            ]
        );
        // Every node is listed, so an apply rewrites (heals) the others.
        let none = resolve(&d, &Grudge::default()).unwrap();
        assert!(none.iter().all(|(_, from)| from.is_empty()) && none.len() == 4);

        let e = resolve(&d, &crate::net::grudge::one_way("s1n1", "s9n9")).unwrap_err();
        assert_eq!(e.class(), Class::BadInput);
        assert_eq!(
            e.to_string(),
            "the partition names node `s9n9`, which c does not have (nodes: s1n1, s1n2, s2n1, s2n2)"
        );
    }

    #[test]
    fn a_region_cut_off_is_cut_off_from_the_other_regions_clients() {
        let mut d = deployment();
        d.topology = crate::topology::Topology::parse(
            "name: c\nkind: cluster\nregions: [{name: eu}, {name: us}]\ncluster: {shards: 2, replicas: 1}\n",
            None,
        )
        .unwrap();
        let region = |n: &str| d.spec(n).unwrap().region.clone();
        let all: Vec<String> = d.nodes.iter().map(|n| n.name.clone()).collect();
        let eu: Vec<&String> = all.iter().filter(|n| region(n) == "eu").collect();
        let ip = |h: u8| IpAddr::from([172, 28, 5, h]);
        let (eu_clients, us_clients) = (ip(3), ip(4));
        assert_eq!(d.client_addr("eu"), Some(eu_clients));
        assert_eq!(d.client_addr("us"), Some(us_clients));
        let grudge = crate::net::grudge::regions(
            &d.nodes
                .iter()
                .map(|n| (n.name.clone(), region(&n.name)))
                .collect(),
        );
        for (node, from) in resolve(&d, &grudge).unwrap() {
            // Each side drops the other region's clients, never its own.
            let (theirs, mine) = if eu.contains(&&node) {
                (us_clients, eu_clients)
            } else {
                (eu_clients, us_clients)
            };
            assert!(
                from.contains(&theirs) && !from.contains(&mine),
                "{node}: {from:?}"
            );
        }
        // One node cut off from its shard peer alone: no region is cut off.
        let one = crate::net::grudge::one_way("s1n1", "s1n2");
        for (_, from) in resolve(&d, &one).unwrap() {
            assert!(!from.contains(&eu_clients) && !from.contains(&us_clients));
        }
    }

    #[test]
    fn errors_are_classified() {
        assert_eq!(
            NetError::Unsupported("x".into()).class(),
            Class::Environment
        );
        assert_eq!(
            NetError::Paused {
                nodes: vec!["a".into()]
            }
            .class(),
            Class::Environment
        );
        assert_eq!(NetError::BadInput("x".into()).class(), Class::BadInput);
        assert_eq!(
            NetError::Runtime(RuntimeError::Cancelled).class(),
            Class::Interrupted
        );
    }
}
