//! What a running topology is, whatever runs it: the [`Deployment`] (its
//! nodes, where the controller reaches each and what each announces), the
//! labels that let a later invocation find it again, and the small value
//! types every backend's operations take and return (node actions, exec
//! output, what `down` removed). A leaf of `runtime/`: every backend and the
//! [`super::Runtime`] handle read it, and it reads none of them.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::RuntimeError;
pub use crate::record::attached::ServerFacts;
pub use crate::topology::RuntimeKind;
use crate::topology::{NodeSpec, Role, Topology};

/// Label keys. Every container and network carries them; cleanup finds
/// resources by `redis-drill.run-id` alone.
pub mod labels {
    /// The tool that made a resource: what `down --all` looks for.
    pub const TOOL: &str = "redis-drill.tool";
    /// The run a resource belongs to: cleanup removes by it alone.
    pub const RUN_ID: &str = "redis-drill.run-id";
    /// The deployment's name, for people reading `docker ps`.
    pub const TOPOLOGY: &str = "redis-drill.topology";
    /// A node's name, on its container.
    pub const NODE: &str = "redis-drill.node";
    /// A node's role (or `clients`), on its container.
    pub const ROLE: &str = "redis-drill.role";
    /// A node's region, on its container.
    pub const REGION: &str = "redis-drill.region";
    /// On the network only: the whole [`super::Deployment`] as JSON.
    pub const DEPLOYMENT: &str = "redis-drill.deployment";
    /// On a container started by `add-node` only: its [`super::AddedNode`] as
    /// JSON. A network's labels cannot change after it is created, so the
    /// deployment read from the network is completed from these.
    pub const ADDED_NODE: &str = "redis-drill.added-node";
    /// The value of [`TOOL`].
    pub const TOOL_VALUE: &str = "redis-drill";
}

impl FromStr for RuntimeKind {
    type Err = RuntimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "docker" => Ok(RuntimeKind::Docker),
            "process" => Ok(RuntimeKind::Process),
            "external" => Ok(RuntimeKind::External),
            "swarm" => Ok(RuntimeKind::Swarm),
            other => Err(RuntimeError::BadInput(format!(
                "unknown runtime `{other}` (expected docker, process, swarm or external)"
            ))),
        }
    }
}

/// A running topology.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployment {
    /// The name it is addressed by (`--name`, default: the topology's name).
    pub name: String,
    /// Unique per `up`; every resource is labelled with it.
    pub run_id: String,
    /// Which backend runs it: a later invocation must use the same.
    pub runtime: RuntimeKind,
    /// The image the nodes run (docker) or the redis-server binary (process).
    pub image: String,
    /// The topology it was brought up from (grown by `add-node`).
    pub topology: Topology,
    /// Every node, in the topology's order.
    pub nodes: Vec<DeployedNode>,
    /// The Sentinels (`sentinel:`), in the topology's order; they answer on
    /// their own port and are nobody's peers in the cluster sense.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sentinels: Vec<DeployedNode>,
    /// For a deployment the tool did not start ([`RuntimeKind::External`]):
    /// how it was attached and what its servers said of themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<Attachment>,
    /// How the tool's connections to it authenticate and encrypt: what,
    /// never a secret.
    #[serde(
        default,
        skip_serializing_if = "crate::net::secure::SecurityFacts::is_plain"
    )]
    pub security: crate::net::secure::SecurityFacts,
    /// The credentials file every command on it reads: made at bring-up
    /// for a topology with `security:` (in the run's folder, removed with
    /// it), or given at attach (`--credentials`). The secrets stay in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<std::path::PathBuf>,
}

/// How a deployment the tool did not start was attached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    /// The addresses given, as given (`name=host:port` or `host:port`).
    pub seeds: Vec<String>,
    /// Every server as it described itself when attached.
    pub servers: Vec<ServerFacts>,
    /// The user's commands for the faults redis-drill cannot carry out on
    /// it (`--hooks FILE`); none: only faults through Redis.
    #[serde(default)]
    pub hooks: super::hooks::Hooks,
}

/// Where one node runs and how it is reached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeployedNode {
    /// The name it is addressed by.
    pub name: String,
    /// Where the controller reaches the node: on 127.0.0.0/8 (a published
    /// port for docker, the node's own loopback alias for process), or on a
    /// host the engines file declares (swarm: its engine's address and a
    /// port published there).
    pub addr: SocketAddr,
    /// The address the node announces to its peers (container IP, or = `addr`).
    pub announce: SocketAddr,
    /// Cluster bus port, as peers reach it at the announce IP.
    pub bus_port: u16,
    /// Container name (docker) or pid (process) — runtime specific.
    pub handle: String,
    /// The host that runs it, where the deployment spans several (the
    /// swarm runtime: its engine's name); none on one machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl Deployment {
    /// Every node's name, comma-separated: what an error about a node that
    /// is not there lists.
    pub fn node_names(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A node or a Sentinel by name: what node commands (kill, start, logs)
    /// act on.
    pub fn member(&self, name: &str) -> Result<&DeployedNode, RuntimeError> {
        match self.sentinels.iter().find(|n| n.name == name) {
            Some(s) => Ok(s),
            None => self.node(name),
        }
    }

    /// The side a node or Sentinel takes in a partition: a Sentinel placed
    /// beside a node (`placement: [{host: n1}]`, the default) shares its
    /// machine and so its fate; anything else stands for itself.
    pub fn party_of<'a>(&'a self, name: &'a str) -> &'a str {
        (self.topology.sentinel.iter())
            .flat_map(|s| &s.members)
            .find(|m| m.name == name)
            .and_then(|m| m.host.as_deref())
            .unwrap_or(name)
    }

    /// The Sentinels on machines of their own, with their regions: the
    /// parties of a partition beside the nodes.
    pub fn lone_sentinels(&self) -> Vec<(String, String)> {
        (self.topology.sentinel.iter())
            .flat_map(|s| &s.members)
            .filter(|m| m.host.is_none())
            .map(|m| (m.name.clone(), m.region.clone()))
            .collect()
    }

    /// A node's region, or a Sentinel's.
    pub fn region_of(&self, name: &str) -> Option<&str> {
        self.spec(name).map(|s| s.region.as_str()).or_else(|| {
            (self.topology.sentinel.iter())
                .flat_map(|s| &s.members)
                .find(|m| m.name == name)
                .map(|m| m.region.as_str())
        })
    }

    /// The node named `name`, or an error listing the ones there are.
    pub fn node(&self, name: &str) -> Result<&DeployedNode, RuntimeError> {
        self.nodes.iter().find(|n| n.name == name).ok_or_else(|| {
            RuntimeError::BadInput(format!(
                "no node named `{name}` in {} (nodes: {})",
                self.name,
                self.node_names()
            ))
        })
    }

    /// The topology's spec of node `name` (its role, region, shard).
    pub fn spec(&self, name: &str) -> Option<&NodeSpec> {
        self.topology.node(name)
    }

    /// The address of the clients that live in `region`: on the nodes'
    /// own network (their /24), at host .[`FIRST_CLIENT_HOST`] + the
    /// region's index, below the nodes' .11 and up. Every region has one
    /// from `up` on, so the links' rules know them before any client comes;
    /// `None` for an unknown region, past the [`MAX_CLIENT_REGIONS`]th, or
    /// without an IPv4 node.
    pub fn client_addr(&self, region: &str) -> Option<IpAddr> {
        let i = self
            .topology
            .regions
            .iter()
            .position(|r| r.name == region)?;
        if i >= MAX_CLIENT_REGIONS {
            return None;
        }
        self.nodes.iter().find_map(|n| match n.announce.ip() {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                Some(IpAddr::V4(std::net::Ipv4Addr::new(
                    o[0],
                    o[1],
                    o[2],
                    FIRST_CLIENT_HOST + i as u8,
                )))
            }
            IpAddr::V6(_) => None,
        })
    }

    /// Everything the links sort by region: every node's address on its
    /// network, then every region's client address.
    pub fn link_members(&self) -> Vec<(IpAddr, String)> {
        let nodes = self
            .nodes
            .iter()
            .filter_map(|n| Some((n.announce.ip(), self.spec(&n.name)?.region.clone())));
        let clients = self
            .topology
            .regions
            .iter()
            .filter_map(|r| Some((self.client_addr(&r.name)?, r.name.clone())));
        nodes.chain(clients).collect()
    }
}

/// The host part of the first region's client address (see
/// [`Deployment::client_addr`]); .2 is the docker runtime's `clients`.
pub const FIRST_CLIENT_HOST: u8 = 3;
/// Regions that can have clients: hosts .3 to .10.
pub const MAX_CLIENT_REGIONS: usize = 8;

/// A node added to a running deployment (`add-node`): where it runs and what it
/// is, as the docker runtime records it on the node's own container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddedNode {
    /// Where it runs.
    pub node: DeployedNode,
    /// What it is in the topology.
    pub spec: NodeSpec,
}

impl Deployment {
    /// This deployment grown by `added`: the node listed, its spec in the topology.
    pub fn with_node(&self, added: AddedNode) -> Deployment {
        let mut d = self.clone();
        d.nodes.push(added.node);
        d.topology.nodes.push(added.spec);
        d
    }

    /// The spec of the node `add-node` would start next: a new empty primary
    /// in a shard of its own (`s{k}n1`, k one past the highest shard), or a
    /// replica of `replica_of` in that primary's shard (`s{k}n{m}`, m one past
    /// the shard's node count, skipping names in use). A replica lives in its
    /// primary's region, a new primary in the first region. Its redis.conf
    /// settings are the ones every existing node shares — the topology's own
    /// `redis` section, without any one node's overrides. Pure.
    pub fn next_node_spec(&self, replica_of: Option<&str>) -> Result<NodeSpec, RuntimeError> {
        let t = &self.topology;
        let taken =
            |name: &str| t.node(name).is_some() || self.nodes.iter().any(|n| n.name == name);
        let (role, shard, region, name) = match replica_of {
            None => {
                let shard = t.nodes.iter().map(|n| n.shard + 1).max().unwrap_or(0);
                let region = t
                    .regions
                    .first()
                    .map(|r| r.name.clone())
                    .unwrap_or_else(|| crate::topology::DEFAULT_REGION.to_string());
                let name = format!("s{}n1", shard + 1);
                if taken(&name) {
                    return Err(RuntimeError::BadInput(format!(
                        "the next primary's name {name} is already taken in {}",
                        self.name
                    )));
                }
                (Role::Primary, shard, region, name)
            }
            Some(p) => {
                let primary = t.node(p).ok_or_else(|| {
                    RuntimeError::BadInput(format!(
                        "no node named `{p}` in {} (primaries: {})",
                        self.name,
                        t.primaries()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
                if primary.role != Role::Primary {
                    return Err(RuntimeError::BadInput(format!(
                        "{p} is a replica; a new replica needs a primary to replicate"
                    )));
                }
                let in_shard = t.nodes.iter().filter(|n| n.shard == primary.shard).count();
                // Bounded: at most every node name is taken.
                let name = (in_shard + 1..=in_shard + 1 + t.nodes.len())
                    .map(|m| format!("s{}n{m}", primary.shard + 1))
                    .find(|n| !taken(n))
                    .ok_or_else(|| {
                        RuntimeError::BadInput(format!("no free node name in {p}'s shard"))
                    })?;
                (Role::Replica, primary.shard, primary.region.clone(), name)
            }
        };
        if name.len() > crate::topology::NAME_MAX {
            return Err(RuntimeError::BadInput(format!(
                "the new node's name {name} is longer than {} characters",
                crate::topology::NAME_MAX
            )));
        }
        Ok(NodeSpec {
            name,
            role,
            replica_of: replica_of.map(str::to_string),
            shard,
            region,
            port: None,
            image: None,
            // The server most of the nodes run (`add-node --server` is to come).
            server: common_server(&t.nodes),
            config: shared_config(&t.nodes),
            slots: Vec::new(),
        })
    }
}

/// The server most of `nodes` run (the first such in node order on a tie).
fn common_server(nodes: &[NodeSpec]) -> crate::topology::Server {
    let count = |s: &crate::topology::Server| nodes.iter().filter(|n| &n.server == s).count();
    nodes
        .iter()
        .map(|n| &n.server)
        .fold(None::<&crate::topology::Server>, |best, s| match best {
            Some(b) if count(b) >= count(s) => Some(b),
            _ => Some(s),
        })
        .cloned()
        .unwrap_or_default()
}

/// The redis.conf settings every one of `nodes` has, with the same value.
fn shared_config(nodes: &[NodeSpec]) -> std::collections::BTreeMap<String, String> {
    let Some((first, rest)) = nodes.split_first() else {
        return Default::default();
    };
    first
        .config
        .iter()
        .filter(|(k, v)| rest.iter().all(|n| n.config.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A one-line summary of a running deployment, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentSummary {
    /// The name it is addressed by.
    pub name: String,
    /// The run id every resource of it is labelled with.
    pub run_id: String,
    /// Which backend runs it: a later invocation must use the same.
    pub runtime: RuntimeKind,
    /// How many nodes it has.
    pub nodes: usize,
}

/// What `down` removed.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Removed {
    /// Containers removed (docker).
    pub containers: usize,
    /// Networks removed (docker).
    pub networks: usize,
    /// Processes killed (process).
    pub processes: usize,
    /// Run directories removed (process).
    pub dirs: usize,
    /// Services removed (swarm).
    #[serde(default)]
    pub services: usize,
    /// Volumes removed (swarm).
    #[serde(default)]
    pub volumes: usize,
}

impl Removed {
    /// Count `other` in too: `down --all` sums over runs.
    pub fn add(&mut self, other: Removed) {
        self.containers += other.containers;
        self.networks += other.networks;
        self.processes += other.processes;
        self.dirs += other.dirs;
        self.services += other.services;
        self.volumes += other.volumes;
    }

    /// Whether nothing was there to remove.
    pub fn is_empty(&self) -> bool {
        self.containers + self.networks + self.processes + self.dirs + self.services + self.volumes
            == 0
    }
}

impl fmt::Display for Removed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} containers, {} networks, {} processes, {} directories",
            self.containers, self.networks, self.processes, self.dirs
        )?;
        if self.services + self.volumes > 0 {
            write!(f, ", {} services, {} volumes", self.services, self.volumes)?;
        }
        Ok(())
    }
}

/// Node-level operations, the same words everywhere (code, YAML, CLI, reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NodeAction {
    /// SIGKILL: the process dies at once, no clean shutdown.
    Kill,
    /// Graceful stop (SIGTERM).
    Stop,
    /// Start a stopped or killed node again with its data directory.
    Start,
    /// Stop then start.
    Restart,
    /// SIGSTOP / docker pause: the node freezes, its sockets stay open.
    Pause,
    /// SIGCONT / docker unpause.
    Resume,
}

impl fmt::Display for NodeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeAction::Kill => "kill",
            NodeAction::Stop => "stop",
            NodeAction::Start => "start",
            NodeAction::Restart => "restart",
            NodeAction::Pause => "pause",
            NodeAction::Resume => "resume",
        })
    }
}

/// The output of a command run on (or for) a node.
#[derive(Debug, Clone, Serialize)]
pub struct ExecOutput {
    /// Its exit code; -1 when the engine did not say.
    pub exit_code: i64,
    /// What it wrote to stdout.
    pub stdout: String,
    /// What it wrote to stderr.
    pub stderr: String,
}

/// Options for bringing a topology up.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The name it is addressed by.
    pub name: String,
    /// The run id every resource of it is labelled with.
    pub run_id: String,
    /// Bound on the whole bring-up of the nodes (not the cluster creation).
    pub timeout: Duration,
}

/// A fresh run id: short, unique enough for concurrent runs, safe in names.
pub fn new_run_id() -> String {
    use rand::Rng;
    let n: u32 = rand::rng().random();
    format!("{n:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(yaml: &str) -> Deployment {
        let topology = Topology::parse(yaml, None).unwrap();
        let nodes = topology
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let addr: SocketAddr = format!("127.0.0.1:{}", 7000 + i).parse().unwrap();
                DeployedNode {
                    name: n.name.clone(),
                    addr,
                    announce: addr,
                    bus_port: 17000 + i as u16,
                    handle: String::new(),
                    host: None,
                }
            })
            .collect();
        Deployment {
            name: "t".into(),
            run_id: "r".into(),
            runtime: RuntimeKind::Process,
            attached: None,
            security: Default::default(),
            credentials: None,
            sentinels: Vec::new(),
            image: String::new(),
            topology,
            nodes,
        }
    }

    #[test]
    fn next_node_spec_names_and_places_the_new_node() {
        let d = deployment(
            "name: c\nkind: cluster\nregions: [{name: a}, {name: b}]\nredis: {maxmemory: 64mb}\ncluster: {shards: 3, replicas: 1}\noverrides:\n  s1n1: {redis: {maxmemory-policy: allkeys-lru}}\n",
        );
        let p = d.next_node_spec(None).unwrap();
        assert_eq!(
            (p.name.as_str(), p.role, p.shard, p.region.as_str()),
            ("s4n1", Role::Primary, 3, "a")
        );
        assert!(p.slots.is_empty() && p.replica_of.is_none() && p.port.is_none());
        // The topology's settings, not one node's override.
        assert_eq!(p.config.get("maxmemory").map(String::as_str), Some("64mb"));
        assert!(!p.config.contains_key("maxmemory-policy"));

        let r = d.next_node_spec(Some("s2n1")).unwrap();
        let primary = d.spec("s2n1").unwrap();
        assert_eq!(
            (r.name.as_str(), r.role, r.shard, r.replica_of.as_deref()),
            ("s2n3", Role::Replica, 1, Some("s2n1"))
        );
        assert_eq!(r.region, primary.region);

        // Grown by the new primary, the next replica of it is s4n2.
        let grown = d.with_node(AddedNode {
            node: DeployedNode {
                name: p.name.clone(),
                ..d.nodes[0].clone()
            },
            spec: p,
        });
        assert_eq!(grown.next_node_spec(Some("s4n1")).unwrap().name, "s4n2");
        assert_eq!(grown.next_node_spec(None).unwrap().name, "s5n1");

        for (arg, want) in [
            ("nosuch", "no node named `nosuch`"),
            ("s1n2", "s1n2 is a replica"),
        ] {
            let err = d.next_node_spec(Some(arg)).unwrap_err().to_string();
            assert!(err.contains(want), "want {want:?} in {err:?}");
        }
    }
}
