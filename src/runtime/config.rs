//! redis.conf directives for a node: the built-in drill defaults, the directives
//! the runtime owns (listening address, cluster bus, replication), and the user's.
//! Shared by both runtimes and by `compose`, so the three agree.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::topology::{Kind, NodeSpec, Topology};

/// Defaults that make drills measure the topology rather than the disk: no
/// persistence, and diskless replication with no delay (a primary killed before
/// its replica's first sync is never failed over, and the stock 5 s
/// `repl-diskless-sync-delay` makes that window wide).
pub const DEFAULTS: &[(&str, &str)] = &[
    ("appendonly", "no"),
    ("save", "\"\""),
    ("protected-mode", "no"),
    ("repl-diskless-sync", "yes"),
    ("repl-diskless-sync-delay", "0"),
    // The `sleep` fault is DEBUG SLEEP, which Redis 7 refuses by default.
    ("enable-debug-command", "yes"),
];

/// Where a node listens and how it reaches its primary: what differs between
/// runtimes.
#[derive(Debug, Clone)]
pub struct Listen {
    /// Address to bind (`0.0.0.0` in a container, the node's own 127.x.y.z as a process).
    pub bind: String,
    /// Data port.
    pub port: u16,
    /// Cluster bus port (cluster kind only).
    pub bus_port: u16,
    /// Data directory.
    pub dir: String,
    /// Log file; empty means stdout.
    pub logfile: String,
    /// For replicas of a replicated topology: the primary's address as the node sees it.
    pub replicaof: Option<(String, u16)>,
}

/// Every directive for `node`, in a stable order: runtime-owned first, then
/// defaults, then the node's resolved config (which already holds the topology's
/// and the node's own `redis` settings).
pub fn directives(topology: &Topology, node: &NodeSpec, listen: &Listen) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![
        ("bind".into(), listen.bind.clone()),
        ("port".into(), listen.port.to_string()),
        ("dir".into(), listen.dir.clone()),
        ("daemonize".into(), "no".into()),
        ("logfile".into(), quote(&listen.logfile)),
    ];
    if topology.kind == Kind::Cluster {
        out.push(("cluster-enabled".into(), "yes".into()));
        out.push(("cluster-config-file".into(), "nodes.conf".into()));
        out.push(("cluster-port".into(), listen.bus_port.to_string()));
        out.push((
            "cluster-node-timeout".into(),
            topology.cluster.node_timeout_ms.to_string(),
        ));
    }
    if let Some((host, port)) = &listen.replicaof {
        out.push(("replicaof".into(), format!("{host} {port}")));
    }
    let mut rest: BTreeMap<String, String> = DEFAULTS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in &node.config {
        rest.insert(k.clone(), v.clone());
    }
    out.extend(rest);
    out
}

/// The port every Sentinel listens on (Redis's own convention).
pub const SENTINEL_PORT: u16 = 26379;

/// A Sentinel's directives, in a stable order: where it listens (and, so
/// that its peers reach it there rather than where its connections leave
/// from, what it announces), then what it monitors. The file is the
/// Sentinel's own afterwards: it rewrites it with its id, epochs and peers.
pub fn sentinel_directives(
    s: &crate::topology::Sentinels,
    listen: &Listen,
    announce: SocketAddr,
    primary: SocketAddr,
) -> Vec<(String, String)> {
    let m = &s.master_name;
    vec![
        ("bind".into(), listen.bind.clone()),
        ("port".into(), listen.port.to_string()),
        ("dir".into(), listen.dir.clone()),
        ("daemonize".into(), "no".into()),
        ("logfile".into(), quote(&listen.logfile)),
        ("protected-mode".into(), "no".into()),
        ("sentinel announce-ip".into(), announce.ip().to_string()),
        ("sentinel announce-port".into(), announce.port().to_string()),
        (
            "sentinel monitor".into(),
            format!("{m} {} {} {}", primary.ip(), primary.port(), s.quorum),
        ),
        (
            "sentinel down-after-milliseconds".into(),
            format!("{m} {}", s.down_after_ms),
        ),
        (
            "sentinel failover-timeout".into(),
            format!("{m} {}", s.failover_timeout_ms),
        ),
        (
            "sentinel parallel-syncs".into(),
            format!("{m} {}", s.parallel_syncs),
        ),
    ]
}

/// Render directives as a redis.conf file.
pub fn to_conf(directives: &[(String, String)]) -> String {
    let mut s = String::from("# written by redis-drill\n");
    for (k, v) in directives {
        s.push_str(k);
        s.push(' ');
        s.push_str(v);
        s.push('\n');
    }
    s
}

/// Render directives as `redis-server` arguments (`--key value...`), the form a
/// container command takes. Values with spaces become several arguments, as
/// redis-server expects (`--save 900 1`).
pub fn to_args(directives: &[(String, String)]) -> Vec<String> {
    let mut args = Vec::with_capacity(directives.len() * 2);
    for (k, v) in directives {
        args.push(format!("--{k}"));
        let v = v.trim();
        if v == "\"\"" || v.is_empty() {
            args.push(String::new());
        } else {
            args.extend(v.split_whitespace().map(str::to_string));
        }
    }
    args
}

fn quote(s: &str) -> String {
    if s.is_empty() {
        "\"\"".into()
    } else {
        s.to_string()
    }
}
