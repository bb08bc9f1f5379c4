//! The end state ([`EndState`]): every key read back, and the topology
//! checked by our own check once the workload stopped.

use std::time::Duration;

use crate::cluster::{self, AddressMap, ClusterError};
use crate::record::run::KeyValues;
use crate::runtime::Deployment;
use crate::status;
use crate::topology::Kind;
use crate::workload;

use super::setup::Setup;
use crate::scenarios::error::DrillError;

/// The end state: every key read back, the topology checked by our own
/// check (a cluster's four checks; one primary with every replica caught up
/// on a replicated topology; every primary answering on standalone ones).
pub(in crate::scenarios) struct EndState {
    pub(super) keys: Vec<KeyValues>,
    pub(super) check_ok: bool,
    pub(super) check_lines: Vec<String>,
    pub(super) stray_keys: u64,
    pub(super) topology_after: status::StatusReport,
    pub(super) redis_version: String,
    /// What each node says it runs (`valkey 9.1.2`).
    pub(super) servers: std::collections::BTreeMap<String, String>,
}

impl EndState {
    /// Read every key back and check the topology, once the workload stopped.
    pub(in crate::scenarios) async fn read(
        setup: &Setup,
        d: &Deployment,
    ) -> Result<EndState, DrillError> {
        let map = &setup.map;
        let names: Vec<String> = setup.loaded.initial.keys().cloned().collect();
        let finals = workload::read_final(map, &setup.sharding, &names).await?;
        let (check_ok, check_lines, stray_keys) = if setup.sharding.is_cluster() {
            let check = cluster::health(map.nodes()[0].addr, map).await?;
            let lines = check.to_string().lines().map(str::to_string).collect();
            (check.ok, lines, cluster::stray_keys(map).await?)
        } else {
            let (ok, lines) = replication_check(map, d.topology.kind).await;
            (ok, lines, 0)
        };
        let mut keys: Vec<KeyValues> = setup
            .loaded
            .initial
            .iter()
            .map(|(k, v)| KeyValues {
                key: k.clone(),
                initial: v.clone(),
                final_value: finals.get(k).cloned().flatten(),
            })
            .collect();
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(EndState {
            keys,
            check_ok,
            check_lines,
            stray_keys,
            topology_after: status::collect(d).await,
            redis_version: redis_version(map).await,
            servers: servers(map).await,
        })
    }
}

/// How long the end check lets replicas catch up after the workload stopped:
/// 40 polls 50 ms apart, 2 s — many times any link's delay.
const END_CATCH_UP_POLLS: usize = 40;
const END_CATCH_UP_POLL: Duration = Duration::from_millis(50);

/// The end check of a topology that is not a cluster, as lines in the
/// manner of `redis-cli --cluster check`: on a replicated one, a single
/// primary with every replica connected and caught up; on standalone ones,
/// every node answering as a primary.
async fn replication_check(map: &AddressMap, kind: Kind) -> (bool, Vec<String>) {
    let mut roles = cluster::replication::roles(map, cluster::ConnectOptions::default()).await;
    // The workload has stopped, but its last writes may still be crossing a
    // link to a far replica: give them the time a WAN allows, then judge.
    if kind == Kind::Replicated {
        for _ in 0..END_CATCH_UP_POLLS {
            if cluster::replication::replication_pending(&roles).is_empty() {
                break;
            }
            tokio::time::sleep(END_CATCH_UP_POLL).await;
            roles = cluster::replication::roles(map, cluster::ConnectOptions::default()).await;
        }
    }
    let problems: Vec<String> = match kind {
        Kind::Replicated => cluster::replication::replication_pending(&roles),
        _ => roles
            .iter()
            .filter(|r| r.role != Some(cluster::Role::Primary))
            .map(|r| match &r.error {
                Some(e) => format!("{}: {e}", r.name),
                None => format!("{} is not a primary", r.name),
            })
            .collect(),
    };
    if problems.is_empty() {
        let what = match kind {
            Kind::Replicated => format!(
                "[OK] One primary ({}), every replica connected and caught up.",
                cluster::replication::current_primary(&roles, None).unwrap_or("-")
            ),
            _ => format!("[OK] All {} primaries answer.", roles.len()),
        };
        (true, vec![what])
    } else {
        (
            false,
            problems.into_iter().map(|p| format!("[ERR] {p}")).collect(),
        )
    }
}

/// What every node says it runs, from `INFO server`
/// ([`cluster::conn::server_of`]); `unknown` for a node that does not answer.
async fn servers(map: &AddressMap) -> std::collections::BTreeMap<String, String> {
    let reads = map.nodes().iter().map(|n| async move {
        let read = async {
            let mut c = cluster::conn::NodeConn::connect(
                &n.name,
                n.addr,
                cluster::ConnectOptions::default(),
            )
            .await?;
            let info: String = c.run(redis::cmd("INFO").arg("server")).await?;
            Ok::<_, ClusterError>(cluster::conn::server_of(&cluster::conn::parse_info(&info)))
        };
        (
            n.name.clone(),
            read.await
                .ok()
                .flatten()
                .unwrap_or_else(|| "unknown".into()),
        )
    });
    futures::future::join_all(reads).await.into_iter().collect()
}

/// The Redis version of the first node, for the report's environment
/// ("unknown" when it does not say).
async fn redis_version(map: &AddressMap) -> String {
    let Some(n) = map.nodes().first() else {
        return "unknown".into();
    };
    let read = async {
        let mut c =
            cluster::conn::NodeConn::connect(&n.name, n.addr, cluster::ConnectOptions::default())
                .await?;
        let info: String = c.run(redis::cmd("INFO").arg("server")).await?;
        Ok::<_, ClusterError>(
            cluster::conn::parse_info(&info)
                .get("redis_version")
                .cloned(),
        )
    };
    read.await
        .ok()
        .flatten()
        .unwrap_or_else(|| "unknown".into())
}
