//! The Docker runtime (bollard): one container per node on one bridge network
//! per topology, static IPs so a restarted node keeps its address, the data
//! port published on 127.0.0.1 only.
//!
//! The network carries the whole deployment as a label, so a later invocation
//! (`status`, `down`, `kill`, ...) rebuilds it from Docker alone. A region can
//! later get a network of its own: nodes are created from a per-node network
//! name and address, not from one global value.
//!
//! This file holds the engine connection, the names of the run's
//! resources and the container-level operations every other file of the
//! backend builds on.

use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{LogsOptionsBuilder, RemoveContainerOptionsBuilder};
use futures::TryStreamExt;

use crate::runtime::deployment::{DeployedNode, ExecOutput};
use crate::runtime::error::RuntimeError;

/// The port redis-server listens on inside every container; the same in each,
/// since each container has its own address.
pub(super) const DATA_PORT: u16 = 6379;
/// The cluster bus port inside containers: data + 10000, the Redis default,
/// which is safe here because it is not a host port.
pub(super) const BUS_PORT: u16 = 16379;
/// Grace period for `stop` before Docker sends SIGKILL.
pub(super) const STOP_GRACE_S: i32 = 10;
/// How long a started or restarted node may take to answer PING again; the
/// process runtime allows the same.
pub(super) const RESTART_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Host address of the first container in a network (.1 is the gateway).
pub(super) const FIRST_HOST: u8 = 11;
/// The `clients` container's host address on the run's /24: below the nodes'
/// range, above the gateway (.1).
pub(super) const CLIENTS_HOST: u8 = 2;
/// The `clients` container's name suffix: node names cannot start with an
/// underscore, so it never clashes with a node's container.
pub(super) const CLIENTS_SUFFIX: &str = "_clients";
/// Where a node of a run with `security:` finds its certificates and its
/// settings file.
pub(super) const SECRETS_MOUNT: &str = "/secrets";

/// The docker backend: a connection to one engine, through which every
/// container, network and exec of a run goes.
pub struct DockerRuntime {
    /// The engine's client; every file of the backend calls through it.
    pub(super) docker: Docker,
    /// Where the secrets of runs with `security:` live on the host, one
    /// folder per run id, mounted read-only into its nodes at
    /// [`SECRETS_MOUNT`] and removed with the run.
    pub(super) secrets_base: std::path::PathBuf,
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
        Ok(DockerRuntime {
            docker,
            secrets_base: crate::runtime::state::base("-docker"),
        })
    }

    /// The folder of `run_id`'s secrets on the host (made by `up` when its
    /// topology has `security:`).
    pub(super) fn run_dir(&self, run_id: &str) -> std::path::PathBuf {
        self.secrets_base.join(run_id)
    }

    /// The engine's client, for `image build`, which needs nothing else.
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// Force-remove a container and its volumes; 1 when it was there, 0 when not.
    pub(super) async fn remove_container(&self, id: &str) -> Result<usize, RuntimeError> {
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

    /// Start a node's container; a host port the engine has already given
    /// to another container is [`RuntimeError::PortTaken`] (which `up`
    /// answers with other ports when the tool chose them).
    pub(super) async fn start_node(&self, n: &DeployedNode) -> Result<(), RuntimeError> {
        self.docker
            .start_container(&n.handle, None)
            .await
            .map_err(|source| {
                let text = source.to_string();
                if text.contains("port is already allocated")
                    || text.contains("address already in use")
                {
                    tracing::debug!(node = %n.name, "starting its container: {text}");
                    RuntimeError::PortTaken {
                        node: n.name.clone(),
                        ip: n.addr.ip().to_string(),
                        port: n.addr.port(),
                    }
                } else {
                    RuntimeError::Docker {
                        context: format!("starting node {}", n.name),
                        source,
                    }
                }
            })
    }

    /// `Err(reason)` when the node's container has exited: its exit code and
    /// last log lines.
    pub(super) async fn exited(&self, node: &DeployedNode) -> Result<(), String> {
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

    /// Run `cmd` inside the node's container, attached.
    pub async fn exec(
        &self,
        node: &DeployedNode,
        cmd: &[String],
    ) -> Result<ExecOutput, RuntimeError> {
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        // A redis-cli run there authenticates as the tool does: the
        // password in its environment (REDISCLI_AUTH), never on a command
        // line; the CA is at /secrets/ca.pem for `--tls --cacert`.
        let (_, env) = crate::net::secure::current().redis_cli();
        super::exec::exec_with(&self.docker, &node.handle, &cmd, &env)
            .await
            .map_err(|e| match e {
                RuntimeError::Docker { source, .. } => RuntimeError::Docker {
                    context: format!("exec `{}` on node {}", cmd.join(" "), node.name),
                    source,
                },
                other => other,
            })
    }

    /// The last `tail` lines the node's container logged.
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

/// The run's network: found again by its run id.
pub(super) fn network_name(run_id: &str) -> String {
    format!("redis-drill-{run_id}")
}

/// The container of the clients of `region`: node names cannot start with
/// an underscore, so it never clashes with a node's.
pub(super) fn region_clients_name(run_id: &str, region: &str) -> String {
    container_name(run_id, &format!("_clients_{region}"))
}

/// A node's container: the run id and the node's name, unique per run.
pub(super) fn container_name(run_id: &str, node: &str) -> String {
    format!("redis-drill-{run_id}-{node}")
}
