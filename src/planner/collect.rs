//! The capacity planner's report (`status --report md|html|json`): per node,
//! per shard (a primary with its replicas) and per region, the slots and
//! keys, keys per slot and their skew (cluster), memory against `maxmemory`,
//! evictions and expiries, ops/s sampled over an interval, replication lag
//! and clients; and the what-if figures from the measured rates: when each
//! node's headroom fills, and the reshard that would even out memory.
//!
//! Reading is here; the arithmetic is in [`super::arithmetic`] (pure); the
//! renderers are [`super::render`]'s. Field names of [`PlannerReport`] are
//! the JSON's and stay stable (docs/report.md, "The capacity report").

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::arithmetic::{
    EvenPlan, Fill, Headroom, PrimaryLoad, SlotKeys, SlotSkew, even_out, fill_time, headroom,
    slot_skew,
};
use crate::cluster::conn::{NodeConn, parse_info};
use crate::cluster::role::{RoleReply, parse_role};
use crate::cluster::{ClusterError, ConnectOptions};
use crate::report::ReshardSummary;
use crate::runtime::{Deployment, RuntimeKind};
use crate::slots::SlotRange;
use crate::status::{ClusterStatus, NodeStatus, StatusReport, collect};
use crate::topology::{Kind, Role};

/// Bumped whenever a field of [`PlannerReport`] changes meaning or disappears.
pub const PLANNER_FORMAT_VERSION: u32 = 1;

/// Our own commands that fall between the two INFO reads and that the
/// delta of `total_commands_processed` counts: the first INFO (a command
/// is counted once it has run, so the second INFO does not count itself).
const OWN_COMMANDS_IN_DELTA: u64 = 1;

/// The planner's report of a running topology.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannerReport {
    pub format_version: u32,
    pub name: String,
    pub run_id: String,
    pub runtime: RuntimeKind,
    pub kind: Kind,
    /// RFC 3339, UTC: when the first sample was taken.
    pub taken_at: String,
    /// The interval asked for between the two samples, ms (each node's
    /// measured one is its `sampled_ms`).
    pub interval_ms: u64,
    pub nodes: Vec<NodePlan>,
    pub shards: Vec<ShardPlan>,
    pub regions: Vec<RegionPlan>,
    /// Cluster state, as plain `status` reports it; `null` elsewhere.
    pub cluster: Option<ClusterStatus>,
    /// The reshard that would even out memory across the primaries; `null`
    /// for standalone and replicated topologies (no slots to move).
    pub even_out: Option<EvenPlan>,
    /// Where the estimated reshard durations come from.
    pub reshard_rate: ReshardRate,
}

/// The keys/s of the newest reshard drill on record (`report.json` with a
/// `reshard` section under the runs folder), or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReshardRate {
    /// `null` when no reshard drill is on record.
    pub keys_per_s: Option<f64>,
    /// The report.json it was read from.
    pub source: Option<String>,
    /// That drill's `started_at`.
    pub started_at: Option<String>,
    /// Empty when found; else what to do about it.
    pub note: String,
}

impl ReshardRate {
    /// No reshard drill on record.
    pub fn none() -> ReshardRate {
        ReshardRate {
            keys_per_s: None,
            source: None,
            started_at: None,
            note: "no reshard drill on record: run `just cluster-reshard` first".into(),
        }
    }
}

/// One node's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodePlan {
    pub name: String,
    /// Its role now; `null` when it could not be read.
    pub role: Option<Role>,
    pub region: String,
    pub address: SocketAddr,
    /// The primary whose shard it belongs to (itself for a primary).
    pub shard: String,
    /// Slots served (cluster primaries; 0 otherwise).
    pub slots: usize,
    /// DBSIZE.
    pub keys: Option<u64>,
    /// Keys per slot over the slots it owns: cluster primaries only, `null`
    /// elsewhere ("n/a" in the text reports).
    pub keys_per_slot: Option<SlotSkew>,
    /// `used_memory` of the second sample.
    pub used_memory_bytes: Option<u64>,
    /// `used_memory_dataset`: what moves with the keys.
    pub used_memory_dataset_bytes: Option<u64>,
    pub maxmemory_policy: Option<String>,
    /// Used memory against `maxmemory` (0: no limit).
    pub headroom: Option<Headroom>,
    /// `used_memory` growth between the two samples, bytes/s.
    pub memory_growth_bytes_per_s: Option<f64>,
    pub fill: Fill,
    /// INFO stats, cumulative since the node started.
    pub evicted_keys: Option<u64>,
    pub expired_keys: Option<u64>,
    /// Commands per second between the two samples: the delta of
    /// `total_commands_processed` (less our own first INFO) over the
    /// measured time between the two reads.
    pub ops_per_s: Option<f64>,
    /// Redis's own estimate at the second sample (a 1.6 s moving average),
    /// beside as a cross-check.
    pub instantaneous_ops_per_sec: Option<u64>,
    /// The measured time between the two reads, ms.
    pub sampled_ms: Option<f64>,
    pub connected_clients: Option<u64>,
    /// Replication offset (`ROLE`); for a primary its own, for a replica
    /// what it has processed.
    pub replication_offset: Option<u64>,
    /// For a primary: each replica's lag, its offset minus the replica's
    /// acknowledged offset, bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<OffsetLag>,
    /// For a replica: its lag as its primary's `ROLE` reports it.
    pub lag_bytes: Option<u64>,
    /// What could not be read, when something could not.
    pub error: Option<String>,
}

/// A replica's offset lag behind its primary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OffsetLag {
    pub name: String,
    pub lag_bytes: u64,
}

/// A primary with its replicas.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardPlan {
    pub primary: String,
    pub replicas: Vec<String>,
    pub region: String,
    pub slots: usize,
    /// The primary's keys.
    pub keys: Option<u64>,
    pub keys_per_slot: Option<SlotSkew>,
    /// The primary's memory and headroom: the replicas hold the same data.
    pub used_memory_bytes: Option<u64>,
    pub headroom: Option<Headroom>,
    pub fill: Fill,
    /// Every node of the shard (replicas apply the primary's writes).
    pub ops_per_s: Option<f64>,
    /// The largest replica lag; `null` without replicas.
    pub max_lag_bytes: Option<u64>,
}

/// One region's totals.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegionPlan {
    pub region: String,
    pub nodes: usize,
    pub primaries: usize,
    pub slots: usize,
    /// Keys on the region's primaries (replicas hold copies).
    pub keys: u64,
    /// Every node of the region.
    pub used_memory_bytes: u64,
    /// Sum of `maxmemory`; `null` when a node has no limit (the region's
    /// headroom is then unknown).
    pub maxmemory_bytes: Option<u64>,
    pub headroom_bytes: Option<i64>,
    pub ops_per_s: f64,
    pub connected_clients: u64,
    pub evicted_keys: u64,
    pub expired_keys: u64,
}

/// What one node gave: the figures read once, and the two samples.
#[derive(Debug, Default)]
struct Reading {
    maxmemory: Option<u64>,
    policy: Option<String>,
    counts: Option<Vec<SlotKeys>>,
    first: Option<(Instant, HashMap<String, String>)>,
    second: Option<(Instant, HashMap<String, String>)>,
    role: Option<RoleReply>,
    error: Option<String>,
}

/// Read the topology for the planner: plain `status`, then on every node at
/// once `maxmemory`, INFO twice `interval` apart, ROLE, and (cluster
/// primaries) the keys in each owned slot. Never fails: what a node
/// did not answer is `null` with its error.
pub async fn collect_planner(
    d: &Deployment,
    interval: Duration,
    rate: ReshardRate,
) -> PlannerReport {
    let base = collect(d).await;
    let taken_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let cluster = d.topology.kind == Kind::Cluster;
    let readings = futures::future::join_all(base.nodes.iter().map(|n| async move {
        let mut r = Reading::default();
        if let Err(e) = read_node(n, cluster, interval, &mut r).await {
            r.error = Some(e.to_string());
        }
        r
    }))
    .await;
    assemble(base, taken_at, interval, readings, d, rate)
}

/// The slots a node's ranges (as `status` writes them) cover.
fn owned_slots(n: &NodeStatus) -> Vec<u16> {
    n.slot_ranges
        .iter()
        .filter_map(|r| r.parse::<SlotRange>().ok())
        .flat_map(|r| r.start..=r.end)
        .collect()
}

async fn read_node(
    n: &NodeStatus,
    cluster: bool,
    interval: Duration,
    r: &mut Reading,
) -> Result<(), ClusterError> {
    let mut conn = NodeConn::connect(&n.name, n.address, ConnectOptions::default()).await?;
    let mut pipe = redis::pipe();
    pipe.cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy");
    let (mm, policy): (Vec<String>, Vec<String>) = conn
        .run_pipe(&pipe, "CONFIG GET maxmemory; CONFIG GET maxmemory-policy")
        .await?;
    r.maxmemory = mm.get(1).and_then(|v| v.parse().ok());
    r.policy = policy.get(1).cloned();
    r.first = Some(sample(&mut conn).await?);
    tokio::time::sleep(interval).await;
    r.second = Some(sample(&mut conn).await?);
    let role: redis::Value = conn.run(&redis::cmd("ROLE")).await?;
    r.role = parse_role(&role).ok();
    // Counted after the samples: thousands of commands in a burst would
    // otherwise stand in Redis's instantaneous_ops_per_sec (its last 1.6 s)
    // at the second sample, the cross-check of our own ops/s.
    let slots = owned_slots(n);
    if cluster && n.role == Some(Role::Primary) {
        let got = conn.count_keys_in_slots(&slots).await?;
        let counts = slots
            .iter()
            .zip(got)
            .map(|(&slot, keys)| SlotKeys { slot, keys })
            .collect();
        r.counts = Some(counts);
    }
    Ok(())
}

/// One INFO read, stamped at the middle of its round trip.
async fn sample(conn: &mut NodeConn) -> Result<(Instant, HashMap<String, String>), ClusterError> {
    let sent = Instant::now();
    let text: String = conn.run(&redis::cmd("INFO")).await?;
    let got = Instant::now();
    Ok((sent + (got - sent) / 2, parse_info(&text)))
}

fn num(info: &HashMap<String, String>, field: &str) -> Option<u64> {
    info.get(field).and_then(|v| v.parse().ok())
}

/// From two INFO reads: ops/s (less our own commands) and memory growth,
/// bytes/s, over the measured time between them. Pure.
pub fn rates(first: (Duration, u64, u64), second: (Duration, u64, u64)) -> Option<(f64, f64, f64)> {
    let elapsed = second.0.checked_sub(first.0)?.as_secs_f64();
    if elapsed <= 0.0 {
        return None;
    }
    let commands = second.1.saturating_sub(first.1 + OWN_COMMANDS_IN_DELTA);
    let growth = second.2 as f64 - first.2 as f64;
    Some((
        commands as f64 / elapsed,
        growth / elapsed,
        elapsed * 1000.0,
    ))
}

/// The planner's report from the status read and the two INFO readings of
/// each node: per node, then lags filled in from the primaries' side, the
/// even-out plan, shards and regions.
fn assemble(
    base: StatusReport,
    taken_at: String,
    interval: Duration,
    readings: Vec<Reading>,
    d: &Deployment,
    rate: ReshardRate,
) -> PlannerReport {
    let cluster = base.kind == Kind::Cluster;
    let name_of: BTreeMap<SocketAddr, String> = d
        .nodes
        .iter()
        .flat_map(|n| [(n.announce, n.name.clone()), (n.addr, n.name.clone())])
        .collect();
    let origin = readings
        .iter()
        .filter_map(|r| r.first.as_ref().map(|f| f.0))
        .min()
        .unwrap_or_else(Instant::now);
    let mut nodes: Vec<NodePlan> = base
        .nodes
        .iter()
        .zip(&readings)
        .map(|(n, r)| node_plan(n, r, origin, &name_of))
        .collect();
    let lags: BTreeMap<String, u64> = nodes
        .iter()
        .flat_map(|n| n.replicas.iter().map(|l| (l.name.clone(), l.lag_bytes)))
        .collect();
    for n in &mut nodes {
        if n.role == Some(Role::Replica) {
            n.lag_bytes = lags.get(&n.name).copied();
        }
    }
    let even = cluster.then(|| even_out(&primary_loads(&nodes, &readings), rate.keys_per_s));
    let shards = shards(&nodes, cluster);
    let regions = regions(&nodes);
    PlannerReport {
        format_version: PLANNER_FORMAT_VERSION,
        name: base.name,
        run_id: base.run_id,
        runtime: base.runtime,
        kind: base.kind,
        taken_at,
        interval_ms: interval.as_millis() as u64,
        nodes,
        shards,
        regions,
        cluster: base.cluster,
        even_out: even,
        reshard_rate: rate,
    }
}

/// What the even-out plan weighs: each primary that holds slots, its
/// dataset, keys and keys per slot.
fn primary_loads(nodes: &[NodePlan], readings: &[Reading]) -> Vec<PrimaryLoad> {
    nodes
        .iter()
        .zip(readings)
        .filter(|(n, _)| n.role == Some(Role::Primary) && n.slots > 0)
        .map(|(n, r)| PrimaryLoad {
            name: n.name.clone(),
            dataset_bytes: n.used_memory_dataset_bytes.unwrap_or(0),
            keys: n.keys.unwrap_or(0),
            slots: r.counts.clone().unwrap_or_default(),
        })
        .collect()
}

/// Ops/s, memory growth and the sampled time from a node's two readings,
/// timed from `origin` (the first reading of all).
fn measured_rates(r: &Reading, origin: Instant) -> Option<(f64, f64, f64)> {
    let (Some(a), Some(b)) = (&r.first, &r.second) else {
        return None;
    };
    let at = |s: &(Instant, HashMap<String, String>)| {
        Some((
            s.0.duration_since(origin),
            num(&s.1, "total_commands_processed")?,
            num(&s.1, "used_memory")?,
        ))
    };
    at(a).zip(at(b)).and_then(|(a, b)| rates(a, b))
}

/// A node's replication offset and, for a primary, each replica's lag as
/// the primary sees it (`ROLE`), replicas named by their address.
fn replication_of(
    r: &Reading,
    name_of: &BTreeMap<SocketAddr, String>,
) -> (Option<u64>, Vec<OffsetLag>) {
    match &r.role {
        Some(RoleReply::Primary { offset, replicas }) => (
            Some(*offset),
            replicas
                .iter()
                .map(|(addr, acked)| OffsetLag {
                    name: name_of
                        .get(addr)
                        .cloned()
                        .unwrap_or_else(|| addr.to_string()),
                    lag_bytes: offset.saturating_sub(*acked),
                })
                .collect(),
        ),
        Some(RoleReply::Replica { offset, .. }) => (*offset, Vec::new()),
        None => (None, Vec::new()),
    }
}

/// One node's row of the report: the status read, the second INFO reading's
/// figures, the rates between the readings, headroom and fill time.
fn node_plan(
    n: &NodeStatus,
    r: &Reading,
    origin: Instant,
    name_of: &BTreeMap<SocketAddr, String>,
) -> NodePlan {
    let info = r.second.as_ref().map(|s| &s.1);
    let get = |f: &str| info.and_then(|i| num(i, f));
    let used = get("used_memory").or(n.used_memory_bytes);
    let measured = measured_rates(r, origin);
    let head = match (used, r.maxmemory) {
        (Some(u), Some(m)) => Some(headroom(u, m)),
        _ => None,
    };
    let growth = measured.map(|m| m.1);
    let fill = head
        .as_ref()
        .map_or(Fill::Unknown, |h| fill_time(h, growth));
    let (offset, replicas) = replication_of(r, name_of);
    NodePlan {
        name: n.name.clone(),
        role: n.role,
        region: n.region.clone(),
        address: n.address,
        shard: n.replica_of.clone().unwrap_or_else(|| n.name.clone()),
        slots: n.slots,
        keys: n.keys,
        keys_per_slot: r.counts.as_deref().and_then(slot_skew),
        used_memory_bytes: used,
        used_memory_dataset_bytes: get("used_memory_dataset"),
        maxmemory_policy: r.policy.clone(),
        headroom: head,
        memory_growth_bytes_per_s: growth,
        fill,
        evicted_keys: get("evicted_keys"),
        expired_keys: get("expired_keys"),
        ops_per_s: measured.map(|m| m.0),
        instantaneous_ops_per_sec: get("instantaneous_ops_per_sec"),
        sampled_ms: measured.map(|m| m.2),
        connected_clients: get("connected_clients"),
        replication_offset: offset,
        replicas,
        lag_bytes: None,
        error: r.error.clone().or_else(|| n.error.clone()),
    }
}

/// Group nodes into shards: each primary (or unreadable node) with the
/// replicas that name it. Pure.
pub fn shards(nodes: &[NodePlan], cluster: bool) -> Vec<ShardPlan> {
    nodes
        .iter()
        .filter(|n| n.role != Some(Role::Replica))
        .map(|p| {
            let members: Vec<&NodePlan> = nodes.iter().filter(|n| n.shard == p.name).collect();
            let replicas: Vec<&NodePlan> = members
                .iter()
                .copied()
                .filter(|n| n.name != p.name)
                .collect();
            let ops: Vec<f64> = members.iter().filter_map(|n| n.ops_per_s).collect();
            ShardPlan {
                primary: p.name.clone(),
                replicas: replicas.iter().map(|n| n.name.clone()).collect(),
                region: p.region.clone(),
                slots: p.slots,
                keys: p.keys,
                keys_per_slot: if cluster {
                    p.keys_per_slot.clone()
                } else {
                    None
                },
                used_memory_bytes: p.used_memory_bytes,
                headroom: p.headroom.clone(),
                fill: p.fill.clone(),
                ops_per_s: (ops.len() == members.len()).then(|| ops.iter().sum()),
                max_lag_bytes: p.replicas.iter().map(|l| l.lag_bytes).max(),
            }
        })
        .collect()
}

/// Totals per region, in the order regions first appear. Pure.
pub fn regions(nodes: &[NodePlan]) -> Vec<RegionPlan> {
    let mut order: Vec<String> = Vec::new();
    for n in nodes {
        if !order.contains(&n.region) {
            order.push(n.region.clone());
        }
    }
    order
        .into_iter()
        .map(|region| {
            let here: Vec<&NodePlan> = nodes.iter().filter(|n| n.region == region).collect();
            let primaries: Vec<&&NodePlan> = here
                .iter()
                .filter(|n| n.role == Some(Role::Primary))
                .collect();
            let sum =
                |f: fn(&NodePlan) -> Option<u64>| -> u64 { here.iter().filter_map(|n| f(n)).sum() };
            let limits: Option<Vec<u64>> = here
                .iter()
                .map(|n| {
                    n.headroom
                        .as_ref()
                        .filter(|h| h.limited())
                        .map(|h| h.maxmemory_bytes)
                })
                .collect();
            let maxmemory = limits.map(|l| l.iter().sum::<u64>());
            let used = sum(|n| n.used_memory_bytes);
            RegionPlan {
                nodes: here.len(),
                primaries: primaries.len(),
                slots: primaries.iter().map(|n| n.slots).sum(),
                keys: primaries.iter().filter_map(|n| n.keys).sum(),
                used_memory_bytes: used,
                maxmemory_bytes: maxmemory,
                headroom_bytes: maxmemory.map(|m| m as i64 - used as i64),
                ops_per_s: here.iter().filter_map(|n| n.ops_per_s).sum(),
                connected_clients: sum(|n| n.connected_clients),
                evicted_keys: sum(|n| n.evicted_keys),
                expired_keys: sum(|n| n.expired_keys),
                region,
            }
        })
        .collect()
}

/// The keys/s of the newest run under `root` (`<root>/<scenario>/<stamp>/report.json`)
/// whose report has a `reshard` section that moved keys: what the capacity
/// planner's reshard plan is timed with. Newest by `started_at`; `latest`
/// links are skipped (they point at a run already seen), and so is a file
/// that does not read as a report.
pub fn newest_reshard(root: &Path) -> ReshardRate {
    /// The two fields read: a report of another format version still has them.
    #[derive(serde::Deserialize)]
    struct ReportHead {
        started_at: String,
        reshard: Option<ReshardSummary>,
    }
    let mut best: Option<(String, PathBuf, f64)> = None;
    let dirs = |p: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.file_name() != "latest")
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    for scenario in dirs(root) {
        for run in dirs(&scenario) {
            let file = run.join("report.json");
            let Ok(text) = std::fs::read(&file) else {
                continue;
            };
            let Ok(stored) = serde_json::from_slice::<ReportHead>(&text) else {
                continue;
            };
            let Some(r) = stored
                .reshard
                .filter(|r| r.keys_moved > 0 && r.keys_per_s > 0.0)
            else {
                continue;
            };
            if best.as_ref().is_none_or(|b| stored.started_at > b.0) {
                best = Some((stored.started_at, file, r.keys_per_s));
            }
        }
    }
    match best {
        Some((started_at, file, keys_per_s)) => ReshardRate {
            keys_per_s: Some(keys_per_s),
            source: Some(file.display().to_string()),
            started_at: Some(started_at),
            note: String::new(),
        },
        None => ReshardRate::none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_the_measured_time_less_our_own_info() {
        let a = (Duration::from_millis(0), 1000, 5_000_000);
        let b = (Duration::from_millis(2000), 5001, 5_002_000);
        let (ops, growth, ms) = rates(a, b).unwrap();
        assert_eq!(ops, 2000.0);
        assert_eq!(growth, 1000.0);
        assert_eq!(ms, 2000.0);
        // Shrinking memory is a negative growth, not an error.
        let shrink = (Duration::from_millis(1000), 1001, 4_000_000);
        assert_eq!(rates(a, shrink).unwrap().1, -1_000_000.0);
        // An idle node: the only command between the reads is ours.
        let idle = (Duration::from_millis(1000), 1001, 5_000_000);
        assert_eq!(rates(a, idle).unwrap().0, 0.0);
        assert_eq!(rates(b, a), None, "samples out of order");
        assert_eq!(rates(a, a), None);
    }

    pub(crate) fn node(name: &str, role: Role, region: &str, shard: &str) -> NodePlan {
        NodePlan {
            name: name.into(),
            role: Some(role),
            region: region.into(),
            address: "127.0.0.1:7000".parse().unwrap(),
            shard: shard.into(),
            slots: 0,
            keys: Some(10),
            keys_per_slot: None,
            used_memory_bytes: Some(1000),
            used_memory_dataset_bytes: Some(100),
            maxmemory_policy: Some("noeviction".into()),
            headroom: Some(headroom(1000, 0)),
            memory_growth_bytes_per_s: Some(0.0),
            fill: Fill::NoLimit,
            evicted_keys: Some(1),
            expired_keys: Some(2),
            ops_per_s: Some(10.0),
            instantaneous_ops_per_sec: Some(9),
            sampled_ms: Some(2000.0),
            connected_clients: Some(3),
            replication_offset: Some(500),
            replicas: Vec::new(),
            lag_bytes: None,
            error: None,
        }
    }

    #[test]
    fn shards_and_regions_add_up() {
        let mut p = node("p", Role::Primary, "eu", "p");
        p.slots = 100;
        p.headroom = Some(headroom(1000, 4000));
        p.replicas = vec![OffsetLag {
            name: "r".into(),
            lag_bytes: 42,
        }];
        let mut r = node("r", Role::Replica, "us", "p");
        r.headroom = Some(headroom(1000, 4000));
        let q = node("q", Role::Primary, "eu", "q");
        let nodes = vec![p, r, q];
        let s = shards(&nodes, true);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].replicas, vec!["r"]);
        assert_eq!(s[0].ops_per_s, Some(20.0));
        assert_eq!(s[0].max_lag_bytes, Some(42));
        assert_eq!(s[1].max_lag_bytes, None);
        let g = regions(&nodes);
        assert_eq!(g.len(), 2);
        assert_eq!(
            (g[0].region.as_str(), g[0].nodes, g[0].primaries),
            ("eu", 2, 2)
        );
        assert_eq!(g[0].keys, 20);
        assert_eq!(g[0].slots, 100);
        // q has no limit: eu's headroom is unknown, not p's alone.
        assert_eq!((g[0].maxmemory_bytes, g[0].headroom_bytes), (None, None));
        assert_eq!(
            (g[1].maxmemory_bytes, g[1].headroom_bytes),
            (Some(4000), Some(3000))
        );
        assert_eq!(g[1].keys, 0, "a replica's keys are copies");
    }

    #[test]
    fn the_newest_reshard_on_record_gives_the_rate() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(newest_reshard(root.path()), ReshardRate::none());
        let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let mut r = crate::report::tests::sample();
        let write = |r: &crate::report::Report, scenario: &str, secs: u64| {
            let dir = crate::report::RunDir::create(
                root.path(),
                scenario,
                t + std::time::Duration::from_secs(secs),
            )
            .unwrap();
            crate::report::write_run(&dir, r).unwrap();
            dir
        };
        r.started_at = "2027-01-15T08:00:00Z".into();
        r.reshard.as_mut().unwrap().keys_per_s = 1000.0;
        write(&r, "cluster-reshard", 0);
        r.started_at = "2027-01-15T09:00:00Z".into();
        r.reshard.as_mut().unwrap().keys_per_s = 2000.0;
        let newest = write(&r, "cluster-reshard", 3600);
        // A newer run without a reshard does not count.
        r.started_at = "2027-01-15T10:00:00Z".into();
        r.reshard = None;
        write(&r, "cluster-failover", 7200);
        let got = newest_reshard(root.path());
        assert_eq!(got.keys_per_s, Some(2000.0));
        assert_eq!(got.started_at.as_deref(), Some("2027-01-15T09:00:00Z"));
        assert_eq!(
            got.source.as_deref(),
            Some(newest.file("report.json").display().to_string().as_str())
        );
        assert!(got.note.is_empty());
    }
}
