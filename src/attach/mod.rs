//! Attaching to a deployment the tool did not start: from the addresses the
//! user gives, find out what it is — a cluster (its nodes, shards and
//! slots), a primary with replicas, or independent instances — name its
//! nodes as the tool names its own (`s1n1` is the primary of the shard
//! serving slot 0; the user's own name for a node goes to the hooks as
//! `{seed}`), and record what each server says of itself. The result is a [`Deployment`] of the external runtime, which
//! every command then works on as on one of its own, except that nothing is
//! ever started, stopped or removed.
//!
//! Discovery asks each seed `INFO`, `CLUSTER MYID`, `CLUSTER NODES` (a
//! cluster) and `CONFIG GET` (what the drills' figures depend on); a node
//! the cluster names that is not among the seeds is reached at the address
//! it announces, when that is one the tool may reach.

pub mod file;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use crate::cluster::conn::{NodeConn, is_loopback, parse_info};
use crate::cluster::nodes::NodeLine;
use crate::cluster::{ClusterError, ConnectOptions, error::error_chain};
use crate::exit::Class;
use crate::record::attached::{CONFIG_RECORDED, ServerFacts};
use crate::runtime::{Attachment, DeployedNode, Deployment, RuntimeKind};
use crate::slots::SlotRange;
use crate::topology::{ClusterSettings, Kind, NodeSpec, Region, Role, Topology};

/// The node timeout assumed when a server will not say its own (Redis's default).
const DEFAULT_NODE_TIMEOUT_MS: u64 = 15_000;

/// Why a deployment could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// The seeds as given do not parse, or name a deployment the tool
    /// cannot drill (several primaries with replicas outside a cluster).
    #[error("--attach: {0}")]
    BadInput(String),
    /// A seed that does not answer, or answers with an error (a wrong
    /// password, a refused command).
    #[error("--attach: {seed} does not answer as a Redis server: {}{}", error_chain(.source), security_hint(.source))]
    Unreachable {
        seed: String,
        #[source]
        source: Box<ClusterError>,
    },
    /// A node the cluster names that cannot be reached from here.
    #[error(
        "--attach: the cluster names node {id} at {announce}, which is not among the seeds and not an address redis-drill may reach from here; give its address as a seed (name=host:port)"
    )]
    UnreachableNode { id: String, announce: String },
}

/// What to do about a seed refused for want of credentials or TLS, from the
/// error's text (redis-rs keeps its kinds coarse).
fn security_hint(e: &ClusterError) -> String {
    use crate::net::secure::{self, ENV_PASSWORD, ENV_TLS_CA, ENV_TLS_SERVER_NAME, ENV_USER};
    let text = error_chain(e);
    let has_tls = secure::current().tls.is_some();
    let hint = if text.contains("AuthenticationFailed") || text.contains("WRONGPASS") {
        format!(
            "the server refused the user and password given ({}); check {ENV_USER} and {ENV_PASSWORD} or the --credentials file",
            secure::current().facts().describe()
        )
    } else if text.contains("NOAUTH") || text.contains("NOPERM") {
        format!(
            "the server wants a password (or a user allowed INFO): give it in {ENV_PASSWORD} ({ENV_USER} for an ACL user) or a --credentials file"
        )
    } else if text.contains("certificate") || text.contains("TLS handshake") {
        format!(
            "the server's certificate is not trusted by the CA given ({ENV_TLS_CA}) or not made out to this address (set {ENV_TLS_SERVER_NAME} to the name it is)"
        )
    } else if !has_tls
        && [
            "reset by peer",
            "end of file",
            "Broken pipe",
            "unexpected EOF",
        ]
        .iter()
        .any(|t| text.contains(t))
    {
        format!(
            "the connection was dropped at once; if the port speaks TLS, give the CA that signed its certificate in {ENV_TLS_CA} or a --credentials file"
        )
    } else {
        return String::new();
    };
    format!(" ({hint})")
}

impl AttachError {
    /// Bad seeds are the user's input; a server that does not answer is the
    /// environment.
    pub fn class(&self) -> Class {
        match self {
            AttachError::BadInput(_) => Class::BadInput,
            AttachError::Unreachable { .. } | AttachError::UnreachableNode { .. } => {
                Class::Environment
            }
        }
    }
}

/// One address to attach by, with the name the user gave it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Seed {
    pub name: Option<String>,
    pub addr: SocketAddr,
    /// As given, for messages and the report.
    pub text: String,
}

/// `HOST:PORT[,HOST:PORT…]`, each optionally `NAME=HOST:PORT`; the host is
/// an IP address or `localhost`.
pub fn parse_seeds(s: &str) -> Result<Vec<Seed>, AttachError> {
    let mut out: Vec<Seed> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, addr) = match part.split_once('=') {
            Some((n, a)) => (Some(n.trim().to_string()), a.trim()),
            None => (None, part),
        };
        if let Some(n) = &name
            && !valid_name(n)
        {
            return Err(AttachError::BadInput(format!(
                "`{part}`: a node name is letters, digits, `-` and `_`"
            )));
        }
        let addr = addr.replacen("localhost:", "127.0.0.1:", 1);
        let addr: SocketAddr = addr.parse().map_err(|_| {
            AttachError::BadInput(format!(
                "`{part}`: expected HOST:PORT or NAME=HOST:PORT with an IP address"
            ))
        })?;
        if out.iter().any(|o| o.addr == addr) {
            return Err(AttachError::BadInput(format!("{addr} is given twice")));
        }
        if name.is_some() && out.iter().any(|o| o.name == name) {
            return Err(AttachError::BadInput(format!(
                "the name `{}` is given twice",
                name.unwrap_or_default()
            )));
        }
        out.push(Seed {
            name,
            addr,
            text: part.to_string(),
        });
    }
    if out.is_empty() {
        return Err(AttachError::BadInput(
            "no address given (HOST:PORT[,HOST:PORT...])".into(),
        ));
    }
    Ok(out)
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 40
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What one seed said of itself.
#[derive(Debug, Clone)]
struct Probed {
    seed: Seed,
    info: HashMap<String, String>,
    config: BTreeMap<String, String>,
    /// `CLUSTER MYID` and `CLUSTER NODES`, on a cluster node.
    myid: Option<String>,
    nodes: Vec<NodeLine>,
}

/// Find out what the seeds are and describe them as a deployment named
/// `name`, remembered under `run_id`.
pub async fn discover(seeds: &[Seed], name: &str, run_id: &str) -> Result<Deployment, AttachError> {
    let mut probed = Vec::with_capacity(seeds.len());
    for seed in seeds {
        probed.push(probe(seed).await?);
    }
    let (topology, nodes, facts) = layout(name, &probed)?;
    Ok(Deployment {
        name: name.to_string(),
        run_id: run_id.to_string(),
        runtime: RuntimeKind::External,
        image: format!("attached: {}", versions(&facts)),
        topology,
        nodes,
        attached: Some(Attachment {
            seeds: seeds.iter().map(|s| s.text.clone()).collect(),
            servers: facts,
            hooks: Default::default(),
        }),
        security: crate::net::secure::current().facts(),
        credentials: None,
        sentinels: Vec::new(),
    })
}

/// `redis 7.0.15` (or `valkey 8.1.1`), or every version found when they differ.
pub fn versions(facts: &[ServerFacts]) -> String {
    let mut v: Vec<&str> = facts.iter().map(|f| f.version.as_str()).collect();
    v.sort_unstable();
    v.dedup();
    v.join(", ")
}

async fn probe(seed: &Seed) -> Result<Probed, AttachError> {
    let label = seed.name.clone().unwrap_or_else(|| seed.addr.to_string());
    let unreachable = |source| AttachError::Unreachable {
        seed: seed.text.clone(),
        source: Box::new(source),
    };
    if !is_loopback(seed.addr.ip()) {
        return Err(AttachError::BadInput(format!(
            "`{}`: this build of redis-drill reaches only addresses on 127.0.0.0/8 (publish the servers' ports on this host, or run redis-drill where they are)",
            seed.text
        )));
    }
    let mut conn = NodeConn::connect(&label, seed.addr, ConnectOptions::default())
        .await
        .map_err(unreachable)?;
    let text: String = conn.run(&redis::cmd("INFO")).await.map_err(unreachable)?;
    let info = parse_info(&text);
    let mut config = BTreeMap::new();
    for key in CONFIG_RECORDED {
        // CONFIG may be renamed or refused by an ACL: recorded without it.
        if let Ok(pair) = conn
            .run::<Vec<String>>(redis::cmd("CONFIG").arg("GET").arg(*key))
            .await
            && let [k, v] = pair.as_slice()
        {
            config.insert(k.clone(), v.clone());
        }
    }
    let (myid, nodes) = if info.get("cluster_enabled").map(String::as_str) == Some("1") {
        let id: String = conn
            .run(redis::cmd("CLUSTER").arg("MYID"))
            .await
            .map_err(unreachable)?;
        let nodes = conn.cluster_nodes().await.map_err(unreachable)?;
        (Some(id), nodes)
    } else {
        (None, Vec::new())
    };
    Ok(Probed {
        seed: seed.clone(),
        info,
        config,
        myid,
        nodes,
    })
}

/// What discovery found, as the tool's own topologies are described.
type Layout = (Topology, Vec<DeployedNode>, Vec<ServerFacts>);

/// The deployment the probed seeds make: pure, so that it is tested
/// without servers.
fn layout(name: &str, probed: &[Probed]) -> Result<Layout, AttachError> {
    let clustered = probed.iter().filter(|p| p.myid.is_some()).count();
    if clustered > 0 && clustered < probed.len() {
        return Err(AttachError::BadInput(
            "some seeds are cluster nodes and some are not: attach one deployment at a time".into(),
        ));
    }
    let placed = if clustered > 0 {
        cluster_layout(probed)?
    } else {
        plain_layout(probed)?
    };
    let kind = if clustered > 0 {
        Kind::Cluster
    } else if placed.iter().any(|n| n.spec.role == Role::Replica) {
        Kind::Replicated
    } else {
        Kind::Standalone
    };
    let node_timeout_ms = (probed.iter())
        .find_map(|p| p.config.get("cluster-node-timeout")?.parse().ok())
        .unwrap_or(DEFAULT_NODE_TIMEOUT_MS);
    let facts = (placed.iter())
        .map(|n| {
            let p = n.probed.as_ref();
            ServerFacts {
                node: n.spec.name.clone(),
                addr: n.node.addr.to_string(),
                version: p.map_or_else(|| "not asked".into(), server_version),
                role: match n.spec.role {
                    Role::Primary => "primary".into(),
                    Role::Replica => "replica".into(),
                },
                config: p.map(|p| p.config.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let topology = Topology {
        name: name.to_string(),
        kind,
        image: None,
        regions: vec![Region {
            name: "default".into(),
        }],
        links: Vec::new(),
        cluster: ClusterSettings { node_timeout_ms },
        nodes: placed.iter().map(|n| n.spec.clone()).collect(),
        security: Default::default(),
        sentinel: None,
        source: None,
    };
    let nodes = placed.into_iter().map(|n| n.node).collect();
    Ok((topology, nodes, facts))
}

fn server_version(p: &Probed) -> String {
    crate::cluster::conn::server_of(&p.info).unwrap_or_else(|| "unknown".into())
}

/// One node as placed: its spec, where it is reached, what it said.
struct Placed {
    spec: NodeSpec,
    node: DeployedNode,
    probed: Option<Probed>,
}

fn placed(
    name: String,
    role: Role,
    replica_of: Option<String>,
    shard: usize,
    slots: Vec<SlotRange>,
    node: (SocketAddr, SocketAddr, u16, String),
    probed: Option<Probed>,
) -> Placed {
    let config = probed
        .as_ref()
        .map(|p| p.config.clone())
        .unwrap_or_default();
    Placed {
        spec: NodeSpec {
            name: name.clone(),
            role,
            replica_of,
            shard,
            region: "default".into(),
            port: None,
            image: None,
            // Not the tool's to choose: what each server is, is recorded
            // from what it reports (`servers`).
            server: Default::default(),
            config,
            slots,
        },
        node: DeployedNode {
            name,
            addr: node.0,
            announce: node.1,
            bus_port: node.2,
            handle: node.3,
            host: None,
        },
        probed,
    }
}

/// A cluster: every node the first seed's CLUSTER NODES names, primaries in
/// the order of their first slot (shard 0 serves slot 0), each followed by
/// its replicas; a node named by a seed keeps that name, the others are
/// `s<shard>n1` (the primary) and `s<shard>n2…`.
fn cluster_layout(probed: &[Probed]) -> Result<Vec<Placed>, AttachError> {
    let lines: Vec<&NodeLine> = (probed[0].nodes.iter())
        .filter(|l| l.addr.is_some() && !l.flags.handshake)
        .collect();
    let seed_of = |id: &str| probed.iter().find(|p| p.myid.as_deref() == Some(id));
    let mut primaries: Vec<&NodeLine> = lines.iter().copied().filter(|l| l.is_primary()).collect();
    primaries.sort_by_key(|l| {
        (
            l.slots.first().map_or(u32::MAX, |r| u32::from(r.start)),
            l.id.clone(),
        )
    });
    let mut out = Vec::new();
    for (shard, p) in primaries.iter().enumerate() {
        let mut replicas: Vec<&NodeLine> = (lines.iter().copied())
            .filter(|l| l.is_replica() && l.primary_id.as_deref() == Some(p.id.as_str()))
            .collect();
        replicas.sort_by_key(|l| l.addr);
        let primary_name = format!("s{}n1", shard + 1);
        for (j, line) in std::iter::once(*p).chain(replicas).enumerate() {
            let seed = seed_of(&line.id);
            let announce = line.addr.expect("lines with an address");
            let addr = match seed {
                Some(s) => s.seed.addr,
                None if is_loopback(announce.ip()) => announce,
                None => {
                    return Err(AttachError::UnreachableNode {
                        id: line.id.clone(),
                        announce: announce.to_string(),
                    });
                }
            };
            let (name, role, of, slots) = if j == 0 {
                (primary_name.clone(), Role::Primary, None, p.slots.clone())
            } else {
                let n = format!("s{}n{}", shard + 1, j + 1);
                (n, Role::Replica, Some(primary_name.clone()), Vec::new())
            };
            out.push(placed(
                name,
                role,
                of,
                shard,
                slots,
                (
                    addr,
                    announce,
                    line.bus_port,
                    handle(seed.map(|p| &p.seed), announce),
                ),
                seed.cloned(),
            ));
        }
    }
    Ok(out)
}

/// What the user calls a node (the hooks' `{seed}`): the name its seed gave
/// (`NAME=HOST:PORT`), else the address it is reached at.
fn handle(seed: Option<&Seed>, reached: SocketAddr) -> String {
    match seed {
        Some(s) => s.name.clone().unwrap_or_else(|| s.addr.to_string()),
        None => reached.to_string(),
    }
}

/// Not a cluster: one primary with the replicas among the seeds (a
/// replicated deployment), or primaries that replicate nothing
/// (standalone). Replicas are found from the seeds' own `INFO
/// replication`: give every node as a seed.
fn plain_layout(probed: &[Probed]) -> Result<Vec<Placed>, AttachError> {
    let is_replica = |p: &Probed| p.info.get("role").map(String::as_str) == Some("slave");
    let primaries: Vec<&Probed> = probed.iter().filter(|p| !is_replica(p)).collect();
    let replicas: Vec<&Probed> = probed.iter().filter(|p| is_replica(p)).collect();
    let node = |p: &Probed| {
        (
            p.seed.addr,
            p.seed.addr,
            0,
            handle(Some(&p.seed), p.seed.addr),
        )
    };
    if replicas.is_empty() {
        return Ok((primaries.iter().enumerate())
            .map(|(i, p)| {
                let name = format!("n{}", i + 1);
                placed(
                    name,
                    Role::Primary,
                    None,
                    i,
                    Vec::new(),
                    node(p),
                    Some((*p).clone()),
                )
            })
            .collect());
    }
    let [primary] = primaries.as_slice() else {
        return Err(AttachError::BadInput(format!(
            "{} primaries and {} replicas: redis-drill attaches one primary with its replicas, or primaries without replicas, or a cluster",
            primaries.len(),
            replicas.len()
        )));
    };
    let primary_name = "n1".to_string();
    let mut out = vec![placed(
        primary_name.clone(),
        Role::Primary,
        None,
        0,
        Vec::new(),
        node(primary),
        Some((*primary).clone()),
    )];
    for (j, r) in replicas.iter().enumerate() {
        let follows = format!(
            "{}:{}",
            r.info.get("master_host").map_or("", String::as_str),
            r.info.get("master_port").map_or("", String::as_str)
        );
        let port = primary.seed.addr.port().to_string();
        if !follows.ends_with(&format!(":{port}")) {
            return Err(AttachError::BadInput(format!(
                "`{}` replicates {follows}, not the primary among the seeds ({})",
                r.seed.text, primary.seed.text
            )));
        }
        let name = format!("n{}", j + 2);
        out.push(placed(
            name,
            Role::Replica,
            Some(primary_name.clone()),
            0,
            Vec::new(),
            node(r),
            Some((*r).clone()),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probed(seed: &str, info: &[(&str, &str)], myid: Option<&str>, nodes: &str) -> Probed {
        let seed = parse_seeds(seed).unwrap().remove(0);
        Probed {
            seed,
            info: info
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            config: BTreeMap::from([("cluster-node-timeout".into(), "2000".into())]),
            myid: myid.map(String::from),
            nodes: crate::cluster::nodes::parse_cluster_nodes(nodes).unwrap(),
        }
    }

    const NODES: &str = "\
aaa 172.29.1.11:6379@16379 myself,master - 0 0 1 connected 0-5460
bbb 172.29.1.12:6379@16379 master - 0 0 2 connected 5461-10922
ccc 172.29.1.13:6379@16379 master - 0 0 3 connected 10923-16383
ddd 172.29.1.14:6379@16379 slave bbb 0 0 2 connected
eee 172.29.1.15:6379@16379 slave ccc 0 0 3 connected
fff 172.29.1.16:6379@16379 slave aaa 0 0 1 connected
";

    #[test]
    fn seeds_parse_with_and_without_names_and_refuse_bad_ones() {
        let s = parse_seeds("a=127.0.0.1:7001, 127.0.0.1:7002,localhost:7003").unwrap();
        assert_eq!(s[0].name.as_deref(), Some("a"));
        assert_eq!(s[1].name, None);
        assert_eq!(s[2].addr, "127.0.0.1:7003".parse().unwrap());
        for bad in [
            "",
            "127.0.0.1",
            "x y=127.0.0.1:1",
            "127.0.0.1:1,127.0.0.1:1",
            "redis.example:6379",
        ] {
            let e = parse_seeds(bad).unwrap_err();
            assert!(matches!(e, AttachError::BadInput(_)), "{bad}: {e}");
            assert_eq!(e.class(), Class::BadInput);
        }
    }

    #[test]
    fn a_cluster_is_laid_out_by_shard_and_named_as_the_tools_own() {
        let cluster = [("cluster_enabled", "1"), ("redis_version", "7.0.15")];
        let seeds: Vec<Probed> = ["aaa", "bbb", "ccc", "ddd", "eee", "fff"]
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let seed = if i == 1 {
                    format!("second=127.0.0.1:{}", 7001 + i)
                } else {
                    format!("127.0.0.1:{}", 7001 + i)
                };
                probed(&seed, &cluster, Some(id), NODES)
            })
            .collect();
        let (t, nodes, facts) = layout("staging", &seeds).unwrap();
        assert_eq!(t.kind, Kind::Cluster);
        assert_eq!(t.cluster.node_timeout_ms, 2000);
        let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["s1n1", "s1n2", "s2n1", "s2n2", "s3n1", "s3n2"]);
        assert_eq!(t.nodes[3].replica_of.as_deref(), Some("s2n1"));
        // The user's name for a node stays with it, for the hooks.
        assert_eq!(nodes[2].handle, "second");
        assert_eq!(nodes[0].handle, "127.0.0.1:7001");
        assert_eq!(t.nodes[4].slots, vec![SlotRange::new(10923, 16383)]);
        // Reached at the seed's address, announcing the cluster's own.
        assert_eq!(nodes[1].addr, "127.0.0.1:7006".parse().unwrap());
        assert_eq!(nodes[1].announce, "172.29.1.16:6379".parse().unwrap());
        assert_eq!(facts[0].version, "redis 7.0.15");
        assert_eq!(facts[1].role, "replica");
    }

    #[test]
    fn a_cluster_node_that_is_neither_a_seed_nor_reachable_is_refused() {
        let cluster = [("cluster_enabled", "1")];
        let seeds = [probed("127.0.0.1:7001", &cluster, Some("aaa"), NODES)];
        let e = layout("x", &seeds).err().unwrap();
        assert!(e.to_string().contains("not among the seeds"), "{e}");
        assert_eq!(e.class(), Class::Environment);
    }

    #[test]
    fn plain_servers_are_standalone_or_one_primary_with_replicas() {
        let primary = [("role", "master"), ("redis_version", "7.0.15")];
        let replica = [
            ("role", "slave"),
            ("master_host", "127.0.0.1"),
            ("master_port", "7101"),
        ];
        let two = [
            probed("127.0.0.1:7101", &primary, None, ""),
            probed("127.0.0.1:7102", &primary, None, ""),
        ];
        let (t, _, _) = layout("x", &two).unwrap();
        assert_eq!(t.kind, Kind::Standalone);
        assert_eq!(t.nodes[1].name, "n2");
        assert_eq!(t.nodes[1].shard, 1);
        let pr = [
            probed("127.0.0.1:7101", &primary, None, ""),
            probed("r=127.0.0.1:7102", &replica, None, ""),
        ];
        let (t, _, _) = layout("x", &pr).unwrap();
        assert_eq!(t.kind, Kind::Replicated);
        assert_eq!(t.nodes[1].name, "n2");
        assert_eq!(t.nodes[1].replica_of.as_deref(), Some("n1"));
        let stray = [
            probed("127.0.0.1:7101", &primary, None, ""),
            probed("127.0.0.1:7102", &primary, None, ""),
            probed("127.0.0.1:7103", &replica, None, ""),
        ];
        assert!(layout("x", &stray).is_err());
    }
}
