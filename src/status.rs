//! The topology report of a running deployment: for each node its current role,
//! region, address, primary or replicas, slots, keys and memory; for a cluster,
//! its state, the slots assigned and whether all nodes agree. What a capacity
//! planner reads first, and what `status --json` gives scripts. The
//! planner's own report (`status --report`), with rates sampled over an
//! interval and what-if figures, is [`crate::planner`]'s.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::cluster::conn::{NodeConn, parse_info};
use crate::cluster::{self, AddressMap, ConnectOptions};
pub use crate::record::status::{ClusterStatus, NodeStatus, StatusReport};
use crate::runtime::Deployment;
use crate::slots::SLOT_COUNT;
use crate::topology::{Kind, Role};

/// Read the deployment's nodes now. Never fails: an unreadable node is listed
/// with its error.
pub async fn collect(d: &Deployment) -> StatusReport {
    let connect = ConnectOptions::default();
    let mut map = AddressMap::new();
    for n in &d.nodes {
        if let Err(e) = map.insert(&n.name, n.announce, n.addr) {
            tracing::warn!(node = %n.name, "not in the address map: {e}");
        }
    }
    let (nodes, cluster) = if d.topology.kind == Kind::Cluster {
        from_cluster_views(d, cluster::node_views(&map, connect).await)
    } else {
        (from_replication(d, connect).await, None)
    };
    StatusReport {
        name: d.name.clone(),
        run_id: d.run_id.clone(),
        runtime: d.runtime,
        kind: d.topology.kind,
        nodes,
        cluster,
        sentinels: from_sentinels(d, connect).await,
    }
}

/// Each Sentinel's `SENTINEL MASTER`: the primary it names (by node name,
/// through the nodes' announced addresses), its epoch and flags.
async fn from_sentinels(
    d: &Deployment,
    connect: ConnectOptions,
) -> Vec<crate::record::status::SentinelStatus> {
    let Some(s) = &d.topology.sentinel else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for n in &d.sentinels {
        let region = (s.members.iter())
            .find(|m| m.name == n.name)
            .map(|m| m.region.clone())
            .unwrap_or_default();
        let mut st = crate::record::status::SentinelStatus {
            name: n.name.clone(),
            region,
            address: n.addr,
            primary: None,
            config_epoch: None,
            flags: None,
            replicas: None,
            other_sentinels: None,
            error: None,
        };
        let read = async {
            let mut c = NodeConn::connect(&n.name, n.addr, connect).await?;
            c.run::<Vec<String>>(redis::cmd("SENTINEL").arg("MASTER").arg(&s.master_name))
                .await
        };
        match read.await {
            Ok(kv) => {
                let get = |k: &str| kv.chunks(2).find(|p| p[0] == k).and_then(|p| p.get(1));
                let num = |k: &str| get(k).and_then(|v| v.parse().ok());
                if let (Some(ip), Some(port)) = (get("ip"), get("port")) {
                    let named = (d.nodes.iter())
                        .find(|x| {
                            x.announce.ip().to_string() == *ip
                                && x.announce.port().to_string() == *port
                        })
                        .map(|x| x.name.clone());
                    st.primary = Some(named.unwrap_or_else(|| format!("{ip}:{port}")));
                }
                st.config_epoch = num("config-epoch");
                st.flags = get("flags").cloned();
                st.replicas = num("num-slaves");
                st.other_sentinels = num("num-other-sentinels");
            }
            Err(e) => st.error = Some(e.to_string()),
        }
        out.push(st);
    }
    out
}

fn region_of(d: &Deployment, node: &str) -> String {
    d.spec(node).map(|s| s.region.clone()).unwrap_or_default()
}

fn from_cluster_views(
    d: &Deployment,
    views: Vec<cluster::NodeView>,
) -> (Vec<NodeStatus>, Option<ClusterStatus>) {
    let mut replicas: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in &views {
        if let (Some(cluster::Role::Replica), Some(p)) = (v.role, &v.primary_name) {
            replicas.entry(p.clone()).or_default().push(v.name.clone());
        }
    }
    let nodes: Vec<NodeStatus> = d
        .nodes
        .iter()
        .map(|n| {
            let v = views.iter().find(|v| v.name == n.name);
            let role = v.and_then(|v| v.role);
            NodeStatus {
                name: n.name.clone(),
                role,
                region: region_of(d, &n.name),
                address: n.addr,
                announce: n.announce,
                host: n.host.clone(),
                primary_of: (role == Some(Role::Primary))
                    .then(|| replicas.get(&n.name).cloned().unwrap_or_default()),
                replica_of: if role == Some(Role::Replica) {
                    v.and_then(|v| v.primary_name.clone())
                } else {
                    None
                },
                slots: v.map_or(0, |v| v.slot_count),
                slot_ranges: v
                    .map(|v| v.slots.iter().map(ToString::to_string).collect())
                    .unwrap_or_default(),
                keys: v.and_then(|v| v.keys),
                used_memory_bytes: v.and_then(|v| v.used_memory),
                cluster_state: v.and_then(|v| v.cluster_state.clone()),
                error: v.map_or(Some("not read".into()), |v| v.error.clone()),
            }
        })
        .collect();
    let all_ok = !views.is_empty()
        && views
            .iter()
            .all(|v| v.cluster_state.as_deref() == Some("ok"));
    let status = ClusterStatus {
        state: if all_ok { "ok".into() } else { "fail".into() },
        slots_assigned: views
            .iter()
            .filter(|v| v.role == Some(cluster::Role::Primary))
            .map(|v| v.slot_count)
            .sum(),
        nodes_agree: !views.is_empty() && views.iter().all(|v| v.agrees == Some(true)),
    };
    (nodes, Some(status))
}

/// Standalone and replicated topologies: role and primary from INFO replication.
async fn from_replication(d: &Deployment, connect: ConnectOptions) -> Vec<NodeStatus> {
    let reads = futures::future::join_all(d.nodes.iter().map(|n| async move {
        let mut conn = NodeConn::connect(&n.name, n.addr, connect).await?;
        let mut pipe = redis::pipe();
        pipe.cmd("INFO")
            .arg("replication")
            .cmd("INFO")
            .arg("memory")
            .cmd("DBSIZE");
        let (repl, mem, keys): (String, String, u64) = conn
            .run_pipe(&pipe, "INFO replication; INFO memory; DBSIZE")
            .await?;
        Ok::<_, cluster::ClusterError>((parse_info(&repl), parse_info(&mem), keys))
    }))
    .await;
    // A replica names its primary by the address it connects to: the announce address.
    let by_announce: BTreeMap<String, String> = d
        .nodes
        .iter()
        .map(|n| {
            (
                format!("{}:{}", n.announce.ip(), n.announce.port()),
                n.name.clone(),
            )
        })
        .collect();
    let primary_name = |info: &std::collections::HashMap<String, String>| -> Option<String> {
        let host = info.get("master_host")?;
        let port = info.get("master_port")?;
        by_announce.get(&format!("{host}:{port}")).cloned()
    };
    let mut out: Vec<NodeStatus> = d
        .nodes
        .iter()
        .zip(&reads)
        .map(|(n, r)| match r {
            Ok((repl, mem, keys)) => {
                let role = match repl.get("role").map(String::as_str) {
                    Some("master") => Some(Role::Primary),
                    Some("slave") => Some(Role::Replica),
                    _ => None,
                };
                NodeStatus {
                    name: n.name.clone(),
                    role,
                    region: region_of(d, &n.name),
                    address: n.addr,
                    announce: n.announce,
                    host: n.host.clone(),
                    primary_of: (role == Some(Role::Primary)).then(Vec::new),
                    replica_of: if role == Some(Role::Replica) {
                        primary_name(repl)
                    } else {
                        None
                    },
                    slots: 0,
                    slot_ranges: Vec::new(),
                    keys: Some(*keys),
                    used_memory_bytes: mem.get("used_memory").and_then(|v| v.parse().ok()),
                    cluster_state: None,
                    error: None,
                }
            }
            Err(e) => NodeStatus {
                name: n.name.clone(),
                role: None,
                region: region_of(d, &n.name),
                address: n.addr,
                announce: n.announce,
                host: n.host.clone(),
                primary_of: None,
                replica_of: None,
                slots: 0,
                slot_ranges: Vec::new(),
                keys: None,
                used_memory_bytes: None,
                cluster_state: None,
                error: Some(e.to_string()),
            },
        })
        .collect();
    let links: Vec<(String, String)> = out
        .iter()
        .filter_map(|n| Some((n.replica_of.clone()?, n.name.clone())))
        .collect();
    for (primary, replica) in links {
        if let Some(p) = out.iter_mut().find(|n| n.name == primary) {
            p.primary_of.get_or_insert_with(Vec::new).push(replica);
        }
    }
    out
}

impl StatusReport {
    /// A table a person reads at a glance.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} — {} on {}, run id {}",
            self.name,
            format!("{:?}", self.kind).to_lowercase(),
            self.runtime,
            self.run_id
        );
        let header = [
            "NODE",
            "ROLE",
            "REGION",
            "ADDRESS",
            "PRIMARY/REPLICAS",
            "SLOTS",
            "RANGES",
            "KEYS",
            "MEMORY",
        ];
        let rows: Vec<[String; 9]> = self
            .nodes
            .iter()
            .map(|n| {
                let role = match (n.role, &n.error) {
                    (Some(Role::Primary), _) => "primary".to_string(),
                    (Some(Role::Replica), _) => "replica".to_string(),
                    (None, Some(_)) => "DOWN".to_string(),
                    (None, None) => "?".to_string(),
                };
                let link = match (&n.replica_of, &n.primary_of) {
                    (Some(p), _) => format!("of {p}"),
                    (None, Some(r)) if !r.is_empty() => r.join(","),
                    _ => "-".into(),
                };
                [
                    n.name.clone(),
                    role,
                    // Where it runs, on a deployment over several hosts.
                    match &n.host {
                        Some(h) => format!("{}@{h}", n.region),
                        None => n.region.clone(),
                    },
                    n.address.to_string(),
                    link,
                    if n.slots > 0 {
                        n.slots.to_string()
                    } else {
                        "-".into()
                    },
                    if n.slot_ranges.is_empty() {
                        "-".into()
                    } else {
                        n.slot_ranges.join(",")
                    },
                    n.keys.map_or("-".into(), |k| k.to_string()),
                    n.used_memory_bytes.map_or("-".into(), human_bytes),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.len());
            }
        }
        let line = |cells: &[String]| -> String {
            let mut l = String::new();
            for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
                if i + 1 == cells.len() {
                    l.push_str(c);
                } else {
                    let _ = write!(l, "{c:<w$}  ");
                }
            }
            l.trim_end().to_string()
        };
        let _ = writeln!(s, "{}", line(&header.map(String::from)));
        for r in &rows {
            let _ = writeln!(s, "{}", line(r));
        }
        for n in &self.nodes {
            if let Some(e) = &n.error {
                let _ = writeln!(s, "  {}: {e}", n.name);
            }
        }
        if let Some(c) = &self.cluster {
            let _ = writeln!(
                s,
                "cluster: state {}, {}/{} slots assigned, {}",
                c.state,
                c.slots_assigned,
                SLOT_COUNT,
                if c.nodes_agree {
                    "all nodes agree"
                } else {
                    "nodes DISAGREE about the configuration"
                }
            );
        }
        if !self.sentinels.is_empty() {
            let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            let mut rows: Vec<Vec<String>> = vec![
                [
                    "SENTINEL",
                    "REGION",
                    "ADDRESS",
                    "PRIMARY",
                    "EPOCH",
                    "FLAGS",
                    "REPLICAS",
                    "SENTINELS",
                ]
                .map(String::from)
                .to_vec(),
            ];
            for t in &self.sentinels {
                rows.push(vec![
                    t.name.clone(),
                    t.region.clone(),
                    t.address.to_string(),
                    or_dash(t.primary.clone()),
                    or_dash(t.config_epoch.map(|e| e.to_string())),
                    or_dash(t.flags.clone()),
                    or_dash(t.replicas.map(|e| e.to_string())),
                    // Itself and the others it knows.
                    or_dash(t.other_sentinels.map(|e| (e + 1).to_string())),
                ]);
            }
            let mut widths = [0usize; 8];
            for r in &rows {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.len());
                }
            }
            let _ = writeln!(s);
            for r in &rows {
                let mut l = String::new();
                for (c, w) in r.iter().zip(widths) {
                    let _ = write!(l, "{c:<w$}  ");
                }
                let _ = writeln!(s, "{}", l.trim_end());
            }
            for t in &self.sentinels {
                if let Some(e) = &t.error {
                    let _ = writeln!(s, "  {}: {e}", t.name);
                }
            }
            let mut named: Vec<&str> = (self.sentinels.iter())
                .filter_map(|t| t.primary.as_deref())
                .collect();
            named.sort_unstable();
            named.dedup();
            let _ = match named.as_slice() {
                [one] if self.sentinels.iter().all(|t| t.primary.is_some()) => {
                    writeln!(s, "sentinels: all name {one} as the primary")
                }
                _ => writeln!(
                    s,
                    "sentinels DISAGREE or could not all be read: they name {}",
                    if named.is_empty() {
                        "none".to_string()
                    } else {
                        named.join(", ")
                    }
                ),
            };
        }
        s
    }
}

/// Bytes for a reader (`1.5 MiB`): the status text and the planner's report
/// show memory this way.
pub(crate) fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
