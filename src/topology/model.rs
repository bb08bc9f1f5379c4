//! The resolved topology: what every stage downstream of loading sees.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::slots::SlotRange;

/// Directives the runtimes set themselves; a topology that sets one is
/// rejected, naming the field to use instead. Declared here, with the model,
/// because loading checks against it; `runtime::config` honours it.
pub const RUNTIME_OWNED: &[(&str, &str)] = &[
    ("port", "the node's `port` field"),
    ("bind", "the runtime (it assigns each node its address)"),
    (
        "bind-source-addr",
        "the runtime (it gives each node its own address)",
    ),
    ("dir", "the runtime (each node gets its own data directory)"),
    (
        "daemonize",
        "the runtime (it supervises redis-server itself)",
    ),
    ("logfile", "the runtime (it collects each node's log)"),
    ("pidfile", "the runtime"),
    ("include", "inline directives under `redis`"),
    ("cluster-enabled", "`kind: cluster`"),
    ("cluster-config-file", "the runtime"),
    ("cluster-node-timeout", "`cluster.node_timeout_ms`"),
    (
        "cluster-port",
        "the runtime (it keeps the bus port out of the ephemeral range)",
    ),
    ("cluster-announce-ip", "the runtime"),
    ("cluster-announce-port", "the runtime"),
    ("cluster-announce-bus-port", "the runtime"),
    ("replicaof", "the node's `replica_of` field"),
    ("slaveof", "the node's `replica_of` field"),
    (
        "requirepass",
        "`security.auth` (the runtime makes the password)",
    ),
    ("masterauth", "`security.auth`"),
    ("masteruser", "`security.auth`"),
    (
        "tls-port",
        "`security.tls` (the node's `port` becomes its TLS port)",
    ),
    (
        "tls-cert-file",
        "`security.tls` (the runtime makes a throwaway CA)",
    ),
    ("tls-key-file", "`security.tls`"),
    ("tls-ca-cert-file", "`security.tls`"),
    ("tls-replication", "`security.tls`"),
    ("tls-cluster", "`security.tls`"),
];

/// What kind of Redis deployment a topology describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Redis Cluster: shards of one primary and R replicas, 16384 slots.
    Cluster,
    /// N independent primaries that know nothing of each other (Redlock's setting).
    Standalone,
    /// One primary with R replicas (classic replication).
    Replicated,
}

/// A node's role: primary or replica. In a topology it is the role a node is
/// brought up with; roles change under failover, and a recording
/// (`record::watch`) holds the role each node reported at each sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Replica,
}

/// A resolved, validated topology.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    pub name: String,
    pub kind: Kind,
    /// Image for every node that does not name its own; `None` means the
    /// locally built default image (see `runtime::image`).
    pub image: Option<String>,
    /// At least one region; a file without `regions` gets one named `default`.
    pub regions: Vec<Region>,
    /// Impaired links between pairs of regions; an unlisted pair has none.
    /// Absent from deployments recorded before links existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// Cluster-wide settings; only meaningful for [`Kind::Cluster`].
    pub cluster: ClusterSettings,
    /// Every node, primaries of each shard first, in a stable order.
    pub nodes: Vec<NodeSpec>,
    /// TLS and AUTH on every node, with credentials the runtime makes at
    /// bring-up; absent: plain TCP, no password.
    #[serde(default, skip_serializing_if = "SecuritySpec::is_plain")]
    pub security: SecuritySpec,
    /// Redis Sentinels watching a replicated topology's primary (`sentinel:`);
    /// absent: nothing fails it over by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel: Option<Sentinels>,
    /// The file this came from, for error messages and reports.
    pub source: Option<PathBuf>,
}

/// The Sentinels of a replicated topology and how they judge its primary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentinels {
    /// The name they monitor the primary by (`sentinel monitor <name> …`):
    /// the topology's name.
    pub master_name: String,
    /// Sentinels that must agree the primary is down (`+odown`) before one
    /// of them may fail it over; the failover itself needs a majority.
    pub quorum: u32,
    /// `down-after-milliseconds`: how long the primary may go unanswered
    /// before a Sentinel marks it subjectively down (`+sdown`).
    pub down_after_ms: u64,
    /// `failover-timeout`: bounds a failover's steps, and the time before the
    /// same primary may be failed over again (twice this).
    pub failover_timeout_ms: u64,
    /// `parallel-syncs`: replicas resynchronised with a new primary at once.
    pub parallel_syncs: u32,
    /// Each Sentinel, in order (`sentinel1`, `sentinel2`, …).
    pub members: Vec<SentinelSpec>,
}

/// One Sentinel: where it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentinelSpec {
    pub name: String,
    /// Its region (its host node's, when it has one).
    pub region: String,
    /// The node whose machine it shares (`placement: [{host: n1}]`): in a
    /// partition it is on that node's side. `None`: a machine of its own.
    pub host: Option<String>,
    /// The server binary it runs in Sentinel mode (its host's, else the topology's).
    #[serde(default, skip_serializing_if = "Server::is_default")]
    pub server: Server,
    /// Where in the file it was placed (`sentinel.placement[1]`, or
    /// `sentinel` for the default placement), for errors found later.
    pub field: String,
}

/// What a topology's `security:` asks of its nodes, so that a drill shows
/// what TLS and ACL checks cost clients beside the same drill without them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecuritySpec {
    /// TLS only: each node's port speaks TLS (no plain port), replication
    /// and the cluster bus too, with certificates from a CA made at bring-up.
    #[serde(default)]
    pub tls: bool,
    #[serde(default)]
    pub auth: AuthMode,
}

impl SecuritySpec {
    pub fn is_plain(&self) -> bool {
        !self.tls && self.auth == AuthMode::None
    }

    /// `TLS and AUTH as an ACL user`, for reports.
    pub fn describe(&self) -> String {
        let auth = match self.auth {
            AuthMode::None => None,
            AuthMode::Password => Some("AUTH with a password (requirepass)"),
            AuthMode::Acl => Some("AUTH as an ACL user (the default user off)"),
        };
        match (self.tls, auth) {
            (false, None) => "plain TCP, no AUTH".into(),
            (true, None) => "TLS (a throwaway CA)".into(),
            (false, Some(a)) => a.into(),
            (true, Some(a)) => format!("TLS (a throwaway CA) and {a}"),
        }
    }
}

/// How clients authenticate to a topology's nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No password.
    #[default]
    None,
    /// `requirepass`: AUTH as the default user.
    Password,
    /// An ACL user (`drill`) with its own password, the default user off.
    Acl,
}

/// Which server a node runs: a build redis-drill knows by name, or a binary
/// by its path. The version each node reports is what the report records.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Server {
    /// The host's `redis-server`, whatever its version (the default).
    #[default]
    Redis,
    /// The host's `redis-server`, which must be Redis 7.0 (Debian's).
    Redis70,
    /// Valkey 8.1, key-by-key slot migration like Redis 7.
    Valkey81,
    /// Valkey 9.1, with atomic slot migration (`CLUSTER MIGRATESLOTS`).
    Valkey91,
    /// Any redis-server or valkey-server binary.
    Path(PathBuf),
}

impl Server {
    /// The servers known by name, as a file spells them.
    pub const NAMED: [(&'static str, Server); 4] = [
        ("redis", Server::Redis),
        ("redis-7.0", Server::Redis70),
        ("valkey-8.1", Server::Valkey81),
        ("valkey-9.1", Server::Valkey91),
    ];

    /// A name from [`Self::NAMED`], or a path (it holds a `/`).
    pub fn parse(s: &str) -> Result<Server, String> {
        let s = s.trim();
        if let Some((_, server)) = Self::NAMED.iter().find(|(n, _)| *n == s) {
            return Ok(server.clone());
        }
        if s.contains('/') {
            return Ok(Server::Path(PathBuf::from(s)));
        }
        let names: Vec<&str> = Self::NAMED.iter().map(|(n, _)| *n).collect();
        Err(format!(
            "unknown server \"{}\"; expected {}, or the path of a server binary (with a `/`)",
            s.escape_debug(),
            names.join(", ")
        ))
    }

    pub fn is_default(&self) -> bool {
        *self == Server::Redis
    }

    /// The `major.minor` a named server's binary must report.
    pub fn version_prefix(&self) -> Option<&'static str> {
        match self {
            Server::Redis70 => Some("7.0."),
            Server::Valkey81 => Some("8.1."),
            Server::Valkey91 => Some("9.1."),
            Server::Redis | Server::Path(_) => None,
        }
    }

    /// Whether the server has atomic slot migration (`CLUSTER
    /// MIGRATESLOTS`, Valkey 9.0+); `None` for a server known only when it
    /// runs (the host's `redis-server`, a path).
    pub fn atomic_migration(&self) -> Option<bool> {
        match self {
            Server::Redis70 | Server::Valkey81 => Some(false),
            Server::Valkey91 => Some(true),
            Server::Redis | Server::Path(_) => None,
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Server::Path(p) => write!(f, "{}", p.display()),
            named => {
                let name = Self::NAMED
                    .iter()
                    .find(|(_, s)| s == named)
                    .map_or("?", |(n, _)| n);
                f.write_str(name)
            }
        }
    }
}

impl From<Server> for String {
    fn from(s: Server) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for Server {
    type Error = String;
    fn try_from(s: String) -> Result<Server, String> {
        Server::parse(&s)
    }
}

/// A named place nodes live in. What lies between two regions is a [`Link`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    pub name: String,
}

/// The network between two regions, as a WAN link behaves: every packet
/// between a node of one and a node of the other is delayed, may be lost,
/// and shares a rate. Symmetric: both directions get the same impairment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// The two regions, in the file's order (never the same one twice).
    pub between: [String; 2],
    /// One-way delay in ms: a round trip across the link takes twice this.
    pub delay_ms: f64,
    /// Each delay is drawn uniformly from `delay_ms ± jitter_ms` (never
    /// reordering bytes of one connection); 0 for none. At most `delay_ms`.
    pub jitter_ms: f64,
    /// Percentage of packets dropped in each direction, 0 for none.
    pub loss_pct: f64,
    /// Bandwidth in Mbit/s in each direction; `None` for unlimited.
    pub rate_mbit: Option<f64>,
}

impl Link {
    /// Whether this link joins regions `a` and `b` (in either order).
    pub fn joins(&self, a: &str, b: &str) -> bool {
        (self.between[0] == a && self.between[1] == b)
            || (self.between[0] == b && self.between[1] == a)
    }

    /// `eu-west<->us-east`, for messages and reports.
    pub fn label(&self) -> String {
        format!("{}<->{}", self.between[0], self.between[1])
    }

    /// What the link does, in one line: `delay 40 ms ± 4 ms, loss 0.5 %, 100 Mbit/s`.
    pub fn describe(&self) -> String {
        let mut s = format!("delay {} ms", self.delay_ms);
        if self.jitter_ms > 0.0 {
            s.push_str(&format!(" ± {} ms", self.jitter_ms));
        }
        if self.loss_pct > 0.0 {
            s.push_str(&format!(", loss {} %", self.loss_pct));
        }
        if let Some(r) = self.rate_mbit {
            s.push_str(&format!(", {r} Mbit/s"));
        }
        s
    }
}

/// Settings that apply to every node of a cluster, kept apart from the nodes
/// so the runtimes write them once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterSettings {
    /// `cluster-node-timeout` in ms: how long a node may be unreachable before it
    /// is marked PFAIL. Drives failover time, so drills set it explicitly.
    pub node_timeout_ms: u64,
}

/// One Redis node, fully resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub name: String,
    pub role: Role,
    /// For replicas: the name of the primary they replicate.
    pub replica_of: Option<String>,
    /// Index of the shard (0-based): a primary and its replicas share it.
    /// For standalone topologies each node is its own shard.
    pub shard: usize,
    pub region: String,
    /// Fixed host port, if the file gives one; otherwise the runtime picks a free one.
    pub port: Option<u16>,
    /// Image override for this node.
    pub image: Option<String>,
    /// The server it runs (absent in deployments recorded before servers
    /// could differ: the default).
    #[serde(default, skip_serializing_if = "Server::is_default")]
    pub server: Server,
    /// redis.conf directives for this node: built-in defaults, then the
    /// topology's `redis`, then the node's own `redis`, later ones winning.
    /// Directives the runtime owns (port, bind, dir, cluster-enabled, ...) are
    /// rejected at validation.
    pub config: BTreeMap<String, String>,
    /// Slots this node owns at creation (cluster primaries only; empty otherwise).
    pub slots: Vec<SlotRange>,
}

impl Topology {
    /// The node with this name.
    pub fn node(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The link between regions `a` and `b`, if the file declares one.
    pub fn link(&self, a: &str, b: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.joins(a, b))
    }

    /// The primaries, in shard order.
    pub fn primaries(&self) -> impl Iterator<Item = &NodeSpec> {
        self.nodes.iter().filter(|n| n.role == Role::Primary)
    }
}

/// Which runtime runs the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    Docker,
    Process,
    /// A deployment the tool did not start and never starts or stops:
    /// attached by address (`redis-drill attach`, `run --attach`).
    External,
    /// Several Docker engines joined in a Docker Swarm (docs/swarm.md).
    Swarm,
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Process => "process",
            RuntimeKind::External => "external",
            RuntimeKind::Swarm => "swarm",
        })
    }
}
