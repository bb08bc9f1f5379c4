//! Manual failover: `CLUSTER FAILOVER [FORCE|TAKEOVER]` sent to a replica,
//! then a wait until the replica reports itself primary.

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::conn::{AddressMap, ConnectOptions, NodeConn, TimeBox, parse_info};
use super::error::ClusterError;

/// How `CLUSTER FAILOVER` is asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FailoverMode {
    /// Coordinated with the primary: it stops writes, the replica catches up,
    /// then takes over. No acknowledged write is lost.
    #[default]
    Default,
    /// Without the primary's agreement (it may be down), still with an election.
    Force,
    /// No election: the replica takes a new epoch by itself.
    Takeover,
}

impl fmt::Display for FailoverMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailoverMode::Default => "default",
            FailoverMode::Force => "force",
            FailoverMode::Takeover => "takeover",
        })
    }
}

/// What a manual failover did.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverReport {
    pub node: String,
    pub mode: FailoverMode,
    /// The primary it replicated before.
    pub old_primary: Option<String>,
    /// From the command to the replica reporting `role:master`.
    pub promoted_ms: f64,
}

/// Ask `node` (a replica) to fail over its primary and wait up to `timeout`
/// until it reports `role:master`.
pub async fn manual_failover(
    map: &AddressMap,
    node: &str,
    mode: FailoverMode,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<FailoverReport, ClusterError> {
    let target =
        map.nodes().iter().find(|n| n.name == node).ok_or_else(|| {
            ClusterError::BadInput(format!("no node named `{node}` in the cluster"))
        })?;
    let connect = ConnectOptions::default();
    let mut conn = NodeConn::connect(&target.name, target.addr, connect).await?;
    let info: String = conn.run(redis::cmd("INFO").arg("replication")).await?;
    let info = parse_info(&info);
    if info.get("role").map(String::as_str) != Some("slave") {
        return Err(ClusterError::BadInput(format!(
            "{node} is not a replica: a failover is asked of the replica that should take over"
        )));
    }
    let old_primary = match (info.get("master_host"), info.get("master_port")) {
        (Some(h), Some(p)) => format!("{h}:{p}")
            .parse()
            .ok()
            .map(|a| map.name_of_announce(a)),
        _ => None,
    };
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("FAILOVER");
    match mode {
        FailoverMode::Default => {}
        FailoverMode::Force => {
            cmd.arg("FORCE");
        }
        FailoverMode::Takeover => {
            cmd.arg("TAKEOVER");
        }
    }
    let started = Instant::now();
    let _: () = conn.run(&cmd).await?;
    let bound = TimeBox::new(timeout, cancel, "wait for the replica to take over");
    let still = format!(
        "{node} is still a replica: the cluster did not grant the failover \
         (a primary votes for one failover per shard every 2 x node timeout, \
         and Redis abandons a manual failover after 5 s)"
    );
    super::role::wait_primary(&mut conn, &bound, &still).await?;
    Ok(FailoverReport {
        node: node.to_string(),
        mode,
        old_primary,
        promoted_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}
