//! Members, the address map, and the controller's connections to single nodes.
//!
//! The controller only ever connects to 127.0.0.0/8 (a published port or a
//! loopback alias). Nodes announce other addresses to each other (container
//! IPs); [`AddressMap`] translates what they announce into where the controller
//! reaches them, and refuses anything else. The one exception is a map made
//! [`within_network`](AddressMap::within_network) for the workload's clients
//! when they sit in the run's own network namespace: they reach the nodes at
//! the addresses the nodes announce, and nowhere else.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Cmd, FromRedisValue};
use tokio_util::sync::CancellationToken;

use super::error::ClusterError;
use super::nodes::{NodeLine, parse_cluster_nodes};
use crate::slots::SlotRange;

/// One node of a cluster, as the runtime brought it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    /// Where the controller reaches the node: always 127.0.0.0/8 (a published port or a loopback alias).
    pub addr: SocketAddr,
    /// What the node announces to the cluster and what CLUSTER NODES shows (a container IP, or the same 127.x.y.z address).
    pub announce: SocketAddr,
    /// Cluster bus port as other nodes reach it (announce ip, this port).
    pub bus_port: u16,
    /// For a replica, the name of its primary member.
    pub replica_of: Option<String>,
    /// For a primary, the slots to assign at create.
    pub slots: Vec<SlotRange>,
}

/// One entry of an [`AddressMap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedNode {
    pub name: String,
    /// The address the node announces.
    pub announce: SocketAddr,
    /// The loopback address the controller connects to.
    pub addr: SocketAddr,
}

/// Announced address -> controller address, with the node names.
///
/// An announced address that is not in the map but is itself loopback maps to
/// itself (a process runtime where nodes announce 127.0.0.1); anything else is
/// an error: the controller must never connect to a non-loopback address.
#[derive(Debug, Clone, Default)]
pub struct AddressMap {
    nodes: Vec<MappedNode>,
    /// Non-loopback addresses this map may hand out: the run's own node
    /// addresses, for a client inside the run's network; empty otherwise.
    network: Vec<IpAddr>,
    /// The topology's Sentinels (`sentinel:`), reached as the nodes are:
    /// what a client asks where the primary is. Never among [`Self::nodes`].
    sentinels: Vec<MappedNode>,
}

/// Whether the controller may connect to `ip`. IPv4 127.0.0.0/8 and `::1`.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

impl AddressMap {
    /// An empty map: only loopback addresses resolve (to themselves).
    pub fn new() -> Self {
        Self::default()
    }

    /// The map of a set of members. Fails when a member's controller address
    /// is not loopback, or when two members share a controller or announced address.
    pub fn from_members(members: &[Member]) -> Result<Self, ClusterError> {
        let mut map = AddressMap::new();
        for m in members {
            map.insert(&m.name, m.announce, m.addr)?;
        }
        Ok(map)
    }

    /// The map of a client inside the run's network (see the module docs):
    /// every member reached at the address it announces.
    pub fn within_network(members: &[Member]) -> Result<Self, ClusterError> {
        let mut map = AddressMap {
            nodes: Vec::new(),
            network: members.iter().map(|m| m.announce.ip()).collect(),
            sentinels: Vec::new(),
        };
        for m in members {
            map.insert(&m.name, m.announce, m.announce)?;
        }
        Ok(map)
    }

    /// A map of `members` made as this one was made: within the run's
    /// network if it is, else at their controller addresses (the nodes a
    /// rolling upgrade left).
    pub fn remade(&self, members: &[Member]) -> Result<Self, ClusterError> {
        let mut map = if self.network.is_empty() {
            Self::from_members(members)?
        } else {
            Self::within_network(members)?
        };
        if !self.network.is_empty() {
            map.network
                .extend(self.sentinels.iter().map(|s| s.announce.ip()));
        }
        map.sentinels = self.sentinels.clone();
        Ok(map)
    }

    /// This map with the topology's Sentinels, reached as the nodes are:
    /// at their announced addresses within the run's network, else at
    /// their controller addresses.
    pub fn with_sentinels(mut self, sentinels: &[Member]) -> Result<Self, ClusterError> {
        let within = !self.network.is_empty();
        for m in sentinels {
            let addr = if within {
                self.network.push(m.announce.ip());
                m.announce
            } else {
                m.addr
            };
            if !self.allows(addr.ip()) {
                return Err(ClusterError::BadInput(format!(
                    "Sentinel {}'s controller address {addr} is not a loopback address",
                    m.name
                )));
            }
            self.sentinels.push(MappedNode {
                name: m.name.clone(),
                announce: m.announce,
                addr,
            });
        }
        Ok(self)
    }

    /// The Sentinels, in the topology's order (empty without `sentinel:`).
    pub fn sentinels(&self) -> &[MappedNode] {
        &self.sentinels
    }

    /// The nodes named in `names`, in that order, reached as this map
    /// reaches them (within the run's network too). Names it does not hold
    /// are left out.
    pub fn subset(&self, names: &[&str]) -> AddressMap {
        AddressMap {
            nodes: names
                .iter()
                .filter_map(|name| self.nodes.iter().find(|n| n.name == *name).cloned())
                .collect(),
            network: self.network.clone(),
            sentinels: self.sentinels.clone(),
        }
    }

    /// Whether this map's holder may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        is_loopback(ip) || self.network.contains(&ip) || is_declared_host(ip)
    }

    /// A resolver for redis-rs that yields only what [`AddressMap::allows`].
    /// The run's node addresses it allows are remembered for the process
    /// ([`is_own`]): a cluster client's connections that go through the
    /// tool's own dialer (TLS, AUTH, a region) are held to the same.
    pub fn resolver(&self) -> OwnAddressesOnly {
        OWN_NETWORK
            .lock()
            .expect("the own-network set is never poisoned")
            .extend(self.network.iter().copied());
        OwnAddressesOnly {
            network: self.network.clone().into(),
        }
    }

    /// Add one node. Fails when `addr` is not loopback (or, within the run's
    /// network, one of its nodes) or an address is already mapped.
    pub fn insert(
        &mut self,
        name: &str,
        announce: SocketAddr,
        addr: SocketAddr,
    ) -> Result<(), ClusterError> {
        if !self.allows(addr.ip()) {
            return Err(ClusterError::BadInput(format!(
                "{name}'s controller address {addr} is not a loopback address"
            )));
        }
        if let Some(other) = self
            .nodes
            .iter()
            .find(|n| n.announce == announce || n.addr == addr || n.name == name)
        {
            return Err(ClusterError::BadInput(format!(
                "{name} ({announce} via {addr}) clashes with {} ({} via {})",
                other.name, other.announce, other.addr
            )));
        }
        self.nodes.push(MappedNode {
            name: name.to_string(),
            announce,
            addr,
        });
        Ok(())
    }

    /// Where the controller reaches the node announcing `announce`. Within
    /// the run's network, a node the run added since this map was made
    /// ([`admit`]) is reached at what it announces.
    /// A node admitted since takes precedence over this map's entry for the
    /// same address: a removed node's address may be given to a new one.
    pub fn resolve(&self, announce: SocketAddr) -> Result<SocketAddr, ClusterError> {
        if let Some(name) = admitted(announce) {
            if let Some(n) = self.nodes.iter().find(|n| n.name == name) {
                return Ok(n.addr);
            }
            if is_loopback(announce.ip()) || !self.network.is_empty() {
                return Ok(announce);
            }
        }
        match self.nodes.iter().find(|n| n.announce == announce) {
            Some(n) => Ok(n.addr),
            // A controller address already: loopback, or a declared host's
            // published port.
            None if is_loopback(announce.ip()) || is_declared_host(announce.ip()) => Ok(announce),
            None => Err(ClusterError::Unmapped { announce }),
        }
    }

    /// The name of the node announcing `announce`: one [`admit`]ted since
    /// first (it may hold a removed node's address), else this map's.
    pub fn name_at(&self, announce: SocketAddr) -> Option<String> {
        admitted(announce).or_else(|| {
            self.nodes
                .iter()
                .find(|n| n.announce == announce)
                .map(|n| n.name.clone())
        })
    }

    /// Map one more member, as this map maps the others: at its announced
    /// address within the run's network, else at its controller address.
    /// Also [`admit`]s it, for the maps made before it joined.
    pub fn add_member(&mut self, m: &Member) -> Result<(), ClusterError> {
        let addr = if self.network.is_empty() {
            m.addr
        } else {
            self.network.push(m.announce.ip());
            m.announce
        };
        admit(&m.name, m.announce);
        self.insert(&m.name, m.announce, addr)
    }

    /// Forget the node named `name` (removed from the cluster).
    pub fn remove(&mut self, name: &str) {
        self.nodes.retain(|n| n.name != name);
    }

    /// The name of the node at controller address `addr`, or the address itself.
    pub fn name_of_addr(&self, addr: SocketAddr) -> String {
        self.name_where(|n| n.addr == addr, addr)
    }

    /// The name of the node announcing `announce` (one [`admit`]ted since
    /// included), or the address itself.
    pub fn name_of_announce(&self, announce: SocketAddr) -> String {
        self.name_at(announce)
            .unwrap_or_else(|| announce.to_string())
    }

    fn name_where(&self, this: impl Fn(&MappedNode) -> bool, or: SocketAddr) -> String {
        self.nodes
            .iter()
            .find(|n| this(n))
            .map_or_else(|| or.to_string(), |n| n.name.clone())
    }

    /// Every mapped node, in insertion order.
    pub fn nodes(&self) -> &[MappedNode] {
        &self.nodes
    }

    /// No node mapped: callers refuse to start on an empty map.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// Timeouts of the controller's node connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
}

impl Default for ConnectOptions {
    /// 2 s each: a loopback node that has not answered in 2 s is stuck, and
    /// every wait above these has its own, longer, bound.
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
        }
    }
}

/// Every run-network node address a resolver of this process allows.
static OWN_NETWORK: std::sync::Mutex<std::collections::BTreeSet<IpAddr>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Hosts whose addresses the user declared as the deployment's own (the
/// swarm runtime's engines file): the ports their engines publish reach
/// the nodes.
static DECLARED_HOSTS: std::sync::Mutex<std::collections::BTreeSet<IpAddr>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Let this process's connections reach `hosts`, the addresses of hosts a
/// file the user gave names as running the deployment's nodes.
pub fn declare_hosts(hosts: impl IntoIterator<Item = IpAddr>) {
    DECLARED_HOSTS
        .lock()
        .expect("the declared-hosts set is never poisoned")
        .extend(hosts);
}

fn is_declared_host(ip: IpAddr) -> bool {
    DECLARED_HOSTS
        .lock()
        .expect("the declared-hosts set is never poisoned")
        .contains(&ip)
}

/// Nodes a run added while it ran (a rolling upgrade's new servers), by
/// announced address: clients whose maps were made before them reach them
/// too, as a real client would after a refresh of its slot map.
static ADMITTED: std::sync::Mutex<Vec<(String, SocketAddr)>> = std::sync::Mutex::new(Vec::new());

/// Let this process's clients reach `name`, a node the run has just added
/// at `announce` (within its network, its address joins [`is_own`]'s).
pub fn admit(name: &str, announce: SocketAddr) {
    let mut admitted = ADMITTED
        .lock()
        .expect("the admitted list is never poisoned");
    admitted.retain(|(_, a)| *a != announce);
    admitted.push((name.to_string(), announce));
    if !is_loopback(announce.ip()) {
        OWN_NETWORK
            .lock()
            .expect("the own-network set is never poisoned")
            .insert(announce.ip());
    }
}

/// Forget every node [`admit`]ted: a drill starts with none (the list
/// is the process's, and a matrix runs drills one after another).
pub fn clear_admitted() {
    ADMITTED
        .lock()
        .expect("the admitted list is never poisoned")
        .clear();
}

/// The name of the node [`admit`]ted at `announce`, if one was.
fn admitted(announce: SocketAddr) -> Option<String> {
    ADMITTED
        .lock()
        .expect("the admitted list is never poisoned")
        .iter()
        .find(|(_, a)| *a == announce)
        .map(|(n, _)| n.clone())
}

/// Whether a connection of this process may go to `ip`: loopback, or a node
/// of a run's own network that a client's resolver allows.
pub fn is_own(ip: IpAddr) -> bool {
    is_loopback(ip)
        || is_declared_host(ip)
        || OWN_NETWORK
            .lock()
            .expect("the own-network set is never poisoned")
            .contains(&ip)
}

/// A DNS resolver for redis-rs that only yields loopback addresses, so that no
/// connection (a cluster client following a redirect included) leaves 127.0.0.0/8.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoopbackOnly;

/// `host:port` as an address when `allowed` says yes, else the refusal.
fn resolve_allowed(
    host: &str,
    port: u16,
    allowed: impl Fn(IpAddr) -> bool,
) -> Result<SocketAddr, redis::RedisError> {
    if host == "localhost" {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(ip) if allowed(ip) => Ok(SocketAddr::new(ip, port)),
        _ => Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "refusing to connect to an address that is neither loopback nor a node of the run",
            format!("{host}:{port}"),
        ))),
    }
}

fn one_address<'a>(
    result: Result<SocketAddr, redis::RedisError>,
) -> redis::RedisFuture<'a, Box<dyn Iterator<Item = SocketAddr> + Send + 'a>> {
    Box::pin(async move {
        let addr = result?;
        Ok(Box::new(std::iter::once(addr)) as Box<dyn Iterator<Item = SocketAddr> + Send>)
    })
}

impl redis::io::AsyncDNSResolver for LoopbackOnly {
    fn resolve<'a, 'b: 'a>(
        &'a self,
        host: &'b str,
        port: u16,
    ) -> redis::RedisFuture<'a, Box<dyn Iterator<Item = SocketAddr> + Send + 'a>> {
        one_address(resolve_allowed(host, port, is_loopback))
    }
}

/// A DNS resolver for redis-rs that yields loopback addresses and the run's
/// own node addresses (for clients inside the run's network), nothing else.
#[derive(Debug, Clone, Default)]
pub struct OwnAddressesOnly {
    network: std::sync::Arc<[IpAddr]>,
}

impl OwnAddressesOnly {
    /// Yielding loopback and `ips` only (a worker's: the nodes its hello names).
    pub fn of(ips: impl IntoIterator<Item = IpAddr>) -> OwnAddressesOnly {
        OwnAddressesOnly {
            network: ips.into_iter().collect::<Vec<_>>().into(),
        }
    }
}

impl redis::io::AsyncDNSResolver for OwnAddressesOnly {
    fn resolve<'a, 'b: 'a>(
        &'a self,
        host: &'b str,
        port: u16,
    ) -> redis::RedisFuture<'a, Box<dyn Iterator<Item = SocketAddr> + Send + 'a>> {
        // A node admitted since (a rolling upgrade's) too.
        one_address(resolve_allowed(host, port, |ip| {
            is_loopback(ip) || self.network.contains(&ip) || is_own(ip)
        }))
    }
}

/// A connection to one node, carrying its name and address for error context.
#[derive(Clone)]
pub(crate) struct NodeConn {
    pub name: String,
    pub addr: SocketAddr,
    conn: MultiplexedConnection,
}

impl NodeConn {
    /// The connection a poller kept in `slot` from its last poll, or a new one
    /// put there: a sampler reconnects only after a failure dropped it.
    pub(crate) async fn kept<'c>(
        slot: &'c mut Option<NodeConn>,
        name: &str,
        addr: SocketAddr,
        opts: ConnectOptions,
    ) -> Result<&'c mut NodeConn, ClusterError> {
        Ok(match slot {
            Some(c) => c,
            None => slot.insert(NodeConn::connect(name, addr, opts).await?),
        })
    }

    /// Connect to one node, named in every error it returns, within the
    /// connect options' timeouts.
    pub async fn connect(
        name: &str,
        addr: SocketAddr,
        opts: ConnectOptions,
    ) -> Result<NodeConn, ClusterError> {
        if !is_loopback(addr.ip()) && !is_declared_host(addr.ip()) {
            return Err(ClusterError::Unmapped { announce: addr });
        }
        let wrap = |source| ClusterError::Connect {
            node: name.to_string(),
            addr,
            source,
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(opts.connect_timeout))
            .set_response_timeout(Some(opts.response_timeout));
        // The whole connect bounded, its setup commands included, as
        // redis-rs bounds its own: a node that accepts but never answers
        // (SIGSTOP) must not hang an admin command.
        let conn = tokio::time::timeout(
            opts.connect_timeout + opts.response_timeout,
            crate::net::dial::multiplexed(addr, &config, opts.connect_timeout),
        )
        .await
        .map_err(|_| {
            wrap(redis::RedisError::from((
                redis::ErrorKind::Io,
                "connect",
                format!("{addr} accepted the connection but did not answer its setup"),
            )))
        })?
        .map_err(wrap)?;
        Ok(NodeConn {
            name: name.to_string(),
            addr,
            conn,
        })
    }

    /// Run one command; errors name the node and the command.
    pub async fn run<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T, ClusterError> {
        cmd.query_async(&mut self.conn)
            .await
            .map_err(|source| self.command_error(cmd, source))
    }

    /// The keys in each of `slots` (`CLUSTER COUNTKEYSINSLOT`), in their
    /// order, in pipelines of [`COUNT_BATCH`]: a few round trips, bounded
    /// replies. The health check and the capacity planner both count this way.
    pub async fn count_keys_in_slots(&mut self, slots: &[u16]) -> Result<Vec<u64>, ClusterError> {
        let mut counts = Vec::with_capacity(slots.len());
        for batch in slots.chunks(COUNT_BATCH) {
            let mut pipe = redis::pipe();
            for s in batch {
                pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(*s);
            }
            let got: Vec<u64> = self.run_pipe(&pipe, "CLUSTER COUNTKEYSINSLOT").await?;
            counts.extend(got);
        }
        Ok(counts)
    }

    /// Run a pipeline; errors name the node and the pipeline's first command.
    pub async fn run_pipe<T: FromRedisValue>(
        &mut self,
        pipe: &redis::Pipeline,
        label: &str,
    ) -> Result<T, ClusterError> {
        pipe.query_async(&mut self.conn)
            .await
            .map_err(|source| ClusterError::Command {
                node: self.name.clone(),
                addr: self.addr,
                command: label.to_string(),
                source,
            })
    }

    fn command_error(&self, cmd: &Cmd, source: redis::RedisError) -> ClusterError {
        ClusterError::Command {
            node: self.name.clone(),
            addr: self.addr,
            command: command_label(cmd),
            source,
        }
    }

    /// An unexpected reply to `what`, naming this node, for replies that
    /// parse but do not say what Redis documents.
    pub fn reply_error(&self, what: &'static str, detail: impl Into<String>) -> ClusterError {
        ClusterError::Reply {
            node: self.name.clone(),
            addr: self.addr,
            what,
            detail: detail.into(),
        }
    }

    /// CLUSTER NODES text as lines, a parse error naming this node.
    pub fn parse_nodes(&self, text: &str) -> Result<Vec<NodeLine>, ClusterError> {
        parse_cluster_nodes(text).map_err(|source| ClusterError::Nodes {
            node: self.name.clone(),
            addr: self.addr,
            source,
        })
    }

    /// This node's view of the cluster (CLUSTER NODES), parsed.
    pub async fn cluster_nodes(&mut self) -> Result<Vec<NodeLine>, ClusterError> {
        let text: String = self.run(redis::cmd("CLUSTER").arg("NODES")).await?;
        self.parse_nodes(&text)
    }
}

/// The command name for error messages: the first word, plus the subcommand for
/// container commands (`CLUSTER ADDSLOTSRANGE`), never the keys or values.
fn command_label(cmd: &Cmd) -> String {
    let words: Vec<String> = cmd
        .args_iter()
        .take(2)
        .filter_map(|a| match a {
            redis::Arg::Simple(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect();
    match words.as_slice() {
        [first, second]
            if ["CLUSTER", "CONFIG", "INFO"].contains(&first.to_ascii_uppercase().as_str()) =>
        {
            format!(
                "{} {}",
                first.to_ascii_uppercase(),
                second.to_ascii_uppercase()
            )
        }
        [first, ..] => first.to_ascii_uppercase(),
        [] => String::new(),
    }
}

/// `key:value` lines of INFO and CLUSTER INFO. Section headers and blank lines are skipped.
/// `valkey 9.1.2` or `redis 7.0.15` from a node's `INFO server` fields:
/// `valkey_version` when it has one, else `redis_version` (which Valkey also
/// reports, as the Redis version it is compatible with).
pub fn server_of(info: &HashMap<String, String>) -> Option<String> {
    match (info.get("valkey_version"), info.get("redis_version")) {
        (Some(v), _) => Some(format!("valkey {v}")),
        (None, Some(r)) => Some(format!("redis {r}")),
        (None, None) => None,
    }
}

pub fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// How many `CLUSTER COUNTKEYSINSLOT` go in one pipeline: a primary of a
/// three-shard cluster owns 5461 slots; 1024 a round trip keeps each reply
/// small and the count to a handful of round trips.
const COUNT_BATCH: usize = 1024;

/// The time and cancellation bound of one operation: every step and every wait
/// goes through it, so that a cancel returns promptly and nothing outlives the timeout.
pub(crate) struct TimeBox<'a> {
    pub started: Instant,
    pub deadline: Instant,
    pub timeout: Duration,
    pub cancel: &'a CancellationToken,
    /// What the operation is, for the cancellation error ("create the cluster").
    pub what: &'static str,
}

impl<'a> TimeBox<'a> {
    /// Start the clock of an operation named `what` (in errors) now.
    pub fn new(timeout: Duration, cancel: &'a CancellationToken, what: &'static str) -> Self {
        let started = Instant::now();
        TimeBox {
            started,
            deadline: started + timeout,
            timeout,
            cancel,
            what,
        }
    }

    /// The error of this operation cancelled, naming it.
    pub fn cancelled(&self) -> ClusterError {
        ClusterError::Cancelled {
            what: self.what.to_string(),
        }
    }

    /// The error of step `what` out of time, with what was still pending.
    pub fn timed_out(&self, what: impl Into<String>, pending: Vec<String>) -> ClusterError {
        ClusterError::Timeout {
            what: what.into(),
            timeout: self.timeout,
            pending,
        }
    }

    /// Run one step, or fail when the token fires or the deadline passes first.
    /// `step` names the step in a timeout error, as a fragment after "failed to".
    pub async fn step<T>(
        &self,
        step: &str,
        fut: impl Future<Output = Result<T, ClusterError>>,
    ) -> Result<T, ClusterError> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(self.cancelled()),
            _ = tokio::time::sleep_until(self.deadline.into()) => Err(self.timed_out(step, Vec::new())),
            r = fut => r,
        }
    }

    /// Sleep `interval` between polls. Fails on cancel, or with `pending` when the
    /// deadline comes first.
    pub async fn pause(
        &self,
        interval: Duration,
        step: &str,
        pending: &[String],
    ) -> Result<(), ClusterError> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(self.timed_out(step, pending.to_vec()));
        }
        let wake = (now + interval).min(self.deadline);
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(self.cancelled()),
            _ = tokio::time::sleep_until(wake.into()) => Ok(()),
        }
    }
}

/// Connect to every node concurrently; the first failure wins.
pub(crate) async fn connect_all(
    nodes: impl IntoIterator<Item = (String, SocketAddr)>,
    opts: ConnectOptions,
) -> Result<Vec<NodeConn>, ClusterError> {
    futures::future::try_join_all(
        nodes
            .into_iter()
            .map(|(name, addr)| async move { NodeConn::connect(&name, addr, opts).await }),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn member(name: &str, addr: &str, announce: &str) -> Member {
        Member {
            name: name.into(),
            addr: sa(addr),
            announce: sa(announce),
            bus_port: 16379,
            replica_of: None,
            slots: vec![],
        }
    }

    #[test]
    fn sentinels_are_reached_as_the_nodes_are_and_never_listed_among_them() {
        let nodes = [member("n1", "127.0.0.1:7001", "172.18.0.2:6379")];
        let sentinels = [member("sentinel1", "127.0.0.1:7101", "172.18.0.5:26379")];
        // From the host: at their published ports; no container address allowed.
        let host = AddressMap::from_members(&nodes)
            .unwrap()
            .with_sentinels(&sentinels)
            .unwrap();
        assert_eq!(host.sentinels()[0].addr, sa("127.0.0.1:7101"));
        assert_eq!(host.nodes().len(), 1, "a Sentinel is not a node");
        let again = host.remade(&nodes).unwrap();
        assert_eq!(again.sentinels(), host.sentinels());
        assert!(
            !again.allows("172.18.0.5".parse().unwrap()),
            "remade from the host stays on the host"
        );
        // Inside the run's network: at their own addresses, which it then allows.
        let inside = AddressMap::within_network(&nodes)
            .unwrap()
            .with_sentinels(&sentinels)
            .unwrap();
        assert_eq!(inside.sentinels()[0].addr, sa("172.18.0.5:26379"));
        assert!(inside.allows("172.18.0.5".parse().unwrap()));
        assert!(inside.subset(&["n1"]).sentinels().len() == 1);
        // A Sentinel the host would reach at a container address is refused.
        let bad = [member("sentinel1", "172.18.0.5:26379", "172.18.0.5:26379")];
        assert!(
            AddressMap::from_members(&nodes)
                .unwrap()
                .with_sentinels(&bad)
                .is_err()
        );
    }

    #[test]
    fn address_map_resolves_and_refuses() {
        let map = AddressMap::from_members(&[
            member("a", "127.0.0.1:7001", "172.18.0.2:6379"),
            member("b", "127.0.0.1:7002", "172.18.0.3:6379"),
        ])
        .unwrap();
        assert_eq!(
            map.resolve(sa("172.18.0.2:6379")).unwrap(),
            sa("127.0.0.1:7001")
        );
        assert_eq!(
            map.resolve(sa("172.18.0.3:6379")).unwrap(),
            sa("127.0.0.1:7002")
        );
        // loopback not in the map: itself
        assert_eq!(
            map.resolve(sa("127.0.0.5:6379")).unwrap(),
            sa("127.0.0.5:6379")
        );
        let err = map.resolve(sa("10.0.0.1:6379")).unwrap_err();
        assert!(err.to_string().contains("10.0.0.1:6379"), "{err}");
        assert_eq!(map.name_of_addr(sa("127.0.0.1:7002")), "b");
        assert_eq!(map.name_of_announce(sa("172.18.0.2:6379")), "a");
        assert_eq!(map.name_of_addr(sa("127.0.0.1:9")), "127.0.0.1:9");
    }

    #[test]
    fn address_map_rejects_bad_members() {
        let err =
            AddressMap::from_members(&[member("a", "10.1.1.1:7001", "10.1.1.1:7001")]).unwrap_err();
        assert!(err.to_string().contains("not a loopback"), "{err}");
        let err = AddressMap::from_members(&[
            member("a", "127.0.0.1:7001", "172.18.0.2:6379"),
            member("b", "127.0.0.1:7001", "172.18.0.3:6379"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("clashes with a"), "{err}");
    }

    #[test]
    fn info_fields() {
        let info = parse_info("# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n\r\n");
        assert_eq!(info["role"], "slave");
        assert_eq!(info["master_link_status"], "up");
        assert_eq!(info.len(), 2);
    }

    #[test]
    fn labels_hide_arguments() {
        assert_eq!(
            command_label(redis::cmd("cluster").arg("addslotsrange").arg(0).arg(5)),
            "CLUSTER ADDSLOTSRANGE"
        );
        assert_eq!(
            command_label(redis::cmd("SET").arg("secret").arg("v")),
            "SET"
        );
    }
}
