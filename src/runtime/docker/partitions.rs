//! Partitions on the docker backend: each node's container has its own
//! network namespace, and its filter table belongs to redis-drill. One
//! `iptables-restore` per node (through `docker exec`, the script on stdin:
//! the image has no shell) replaces the whole table at once: `INPUT` jumps
//! to [`DOCKER_CHAIN`], which drops the addresses of the peers the node
//! holds a grudge against. Nodes are written concurrently, so a partition
//! starts within about one `docker exec` everywhere ([`Applied::spread`]
//! measures it). The rules live in the namespace, so they go with the
//! container (and with a restart of it: a restarted node hears everyone).
//! The image's `iptables` is the nft flavour (legacy works in the
//! containers too).

use std::net::IpAddr;
use std::time::Instant;

use super::engine::{CLIENTS_HOST, DockerRuntime};
use super::exec::restore;
use crate::net::Applied;
use crate::runtime::deployment::{Deployment, ExecOutput};
use crate::runtime::error::{NetError, RuntimeError};
use crate::runtime::host::{argv, first_line};
use crate::runtime::image::DEFAULT_IMAGE;

/// The chain inside each docker node's namespace. One name for all: the
/// namespace is the node's own.
pub const DOCKER_CHAIN: &str = "REDIS-DRILL";

/// The source addresses of the drill's own connections to `d`'s nodes (the
/// `clients` of a grudge): the run's `clients` container (.2, where the
/// workloads sit when they may join its namespace) and the network's
/// gateway (.1, the source of everything that comes through a published
/// port, the controller included).
pub(super) fn client_sources(d: &Deployment) -> Vec<IpAddr> {
    let Some(o) = d.nodes.iter().find_map(|n| match n.announce.ip() {
        IpAddr::V4(v4) => Some(v4.octets()),
        IpAddr::V6(_) => None,
    }) else {
        return Vec::new();
    };
    [1, CLIENTS_HOST]
        .map(|h| IpAddr::V4(std::net::Ipv4Addr::new(o[0], o[1], o[2], h)))
        .to_vec()
}

/// The whole filter table of a docker node: INPUT jumps to [`DOCKER_CHAIN`],
/// which drops `from`. Replacing the table (no `--noflush`) makes the write
/// idempotent and atomic.
pub(crate) fn docker_script(from: &[IpAddr]) -> String {
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

impl DockerRuntime {
    /// Whether every running node's and Sentinel's image ships iptables and
    /// its container may use it (NET_ADMIN).
    pub(super) async fn probe_partitions(&self, d: &Deployment) -> Result<(), NetError> {
        let checks = d.nodes.iter().chain(&d.sentinels).map(|n| async move {
            let cmd = argv(&["iptables", "-w", "-S", "INPUT"]);
            match self.exec(n, &cmd).await {
                Ok(out) if out.exit_code == 0 => Ok(()),
                Ok(out) if matches!(out.exit_code, 126 | 127) => {
                    Err(NetError::Unsupported(format!(
                        "node {}'s image has no iptables (the default image {DEFAULT_IMAGE} has)",
                        n.name,
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

    /// Write every node's table, all nodes at once: most of the time goes into
    /// Docker starting a process in each container (tens to a hundred ms each,
    /// partly serialised by the engine), so concurrency is what keeps the start
    /// of a partition sharp. [`Applied::spread`] says how sharp it was.
    pub(super) async fn write_partitions(
        &self,
        d: &Deployment,
        peers: &[(String, Vec<IpAddr>)],
    ) -> Result<Applied, NetError> {
        let docker = &self.docker;
        let writes = peers.iter().map(|(node, from)| async move {
            let handle = &d.member(node)?.handle;
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
        let mut results = Vec::new();
        for result in futures::future::join_all(writes).await {
            let (node, rules, result) = result?;
            results.push((node.clone(), rules, Some(result)));
        }
        applied(results)
    }
}

/// One node's write: its name, how many rules it was given, and its
/// `iptables-restore`'s outcome (none when nothing of it runs).
pub(crate) type Written = (
    String,
    usize,
    Option<Result<(ExecOutput, Instant), RuntimeError>>,
);

/// What every node's `iptables-restore` did, as one [`Applied`]: each
/// node's name, how many rules it was given, and its exec's outcome (none
/// when the node has nothing running to exec in). A node not running is
/// skipped (it has no rules), a paused one refused by name, an image with no
/// iptables skipped when it had no rule to lift; any other failure fails.
/// Shared by the runtimes whose rules live in each node's container.
pub(crate) fn applied(results: Vec<Written>) -> Result<Applied, NetError> {
    let mut applied = Applied::none(0);
    let mut paused = Vec::new();
    let mut done_at: Vec<Instant> = Vec::new();
    for (node, rules, result) in results {
        let Some(result) = result else {
            applied.skipped.push(node);
            continue;
        };
        let (out, done) = match result {
            Ok(r) => r,
            Err(e) => match exec_refused(&e) {
                Some(Refused::Paused) => {
                    paused.push(node);
                    continue;
                }
                Some(Refused::NotRunning) => {
                    applied.skipped.push(node);
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
            126 | 127 if rules == 0 => applied.skipped.push(node),
            code => {
                return Err(NetError::Command {
                    node,
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
pub(crate) enum Refused {
    NotRunning,
    Paused,
}

/// Docker answers 409 to an exec in a container that is stopped or paused.
pub(crate) fn exec_refused(e: &RuntimeError) -> Option<Refused> {
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
}
