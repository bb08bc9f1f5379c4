//! A redis-rs cluster client that reaches the nodes through the address map.
//!
//! Nodes announce addresses the controller may not be able to reach (container
//! IPs). `node_address_map` translates them at connect time while the client's
//! slot map keeps the announced addresses (so MOVED/ASK still match), and the
//! map's resolver refuses any address outside 127.0.0.0/8 (or, for a map made
//! within the run's network, outside the run's own nodes).
//!
//! # ASKING in one write
//!
//! redis-rs 1.8 follows an ASK redirect by sending `ASKING`, awaiting its
//! reply, then sending the command, on the node's multiplexed connection.
//! Another task's request can be written in between: it consumes the
//! one-shot ASKING flag, and the redirected command is answered MOVED. During
//! a slot migration that shows as failed ops that are the library's doing.
//! [`connect_app`] gives the cluster client node connections of type
//! [`AskingInOneWrite`], which hold the ASKING back and write it together
//! with the command that follows, so nothing can come between them. App
//! connections can then carry many requests at once, as applications use them.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder, NodeAddress};
use redis::cluster_async::{ClusterConnection, Connect};
use redis::cluster_read_routing::{
    ReadCandidates, ReadRoutingStrategy, ReadRoutingStrategyFactory, Replicas,
};
use redis::io::tcp::TcpSettings;
use redis::{
    AsyncConnectionConfig, Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisError, RedisFuture,
    RedisResult, Value,
};

use super::conn::AddressMap;

/// Timeouts and retries of a cluster client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connection_timeout: Duration,
    pub response_timeout: Duration,
    /// Retries on MOVED/ASK/TRYAGAIN and connection errors; 0 for a probe that
    /// must see every failure.
    pub retries: u32,
    /// Where read-only commands go.
    pub reads: Reads,
    /// Server-assisted client-side caching (RESP3, `CLIENT TRACKING`):
    /// redis-rs keeps read values locally and drops them on the server's
    /// invalidation messages, for at most this long. `None`: no local copies.
    pub client_cache: Option<Duration>,
}

/// Where a cluster client sends read-only commands.
#[derive(Debug, Clone, Default)]
pub enum Reads {
    /// To the slot's primary.
    #[default]
    Primary,
    /// To a replica of the slot's primary picked at random (READONLY on
    /// replica connections): redis-rs's `RandomReplicaStrategy`.
    RandomReplica,
    /// To the nearest copy: a replica among `near` (the announced
    /// addresses of the nodes in the client's region), else the primary
    /// when it is among them, else a replica at random. See
    /// [`NearestCopy`].
    Nearest { near: Arc<HashSet<SocketAddr>> },
}

impl Default for ClientOptions {
    /// 1 s timeouts (a loopback node answers in well under a millisecond; a
    /// slower answer is a fault the drill should see) and redis-rs's default
    /// of 16 retries is cut to 3 so that a request fails within seconds.
    fn default() -> Self {
        ClientOptions {
            connection_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            retries: 3,
            reads: Reads::Primary,
            client_cache: None,
        }
    }
}

impl ClientOptions {
    /// No retries: every error reaches the caller.
    pub fn probe() -> Self {
        ClientOptions {
            retries: 0,
            ..ClientOptions::default()
        }
    }
}

/// The version of redis-rs the app clients are (Cargo.lock's, checked by a test).
pub const REDIS_RS_VERSION: &str = "1.8.1";

/// A cluster client seeded with every mapped node's controller address.
pub fn cluster_client(map: &AddressMap, opts: &ClientOptions) -> RedisResult<ClusterClient> {
    if map.is_empty() {
        return Err(RedisError::from((
            ErrorKind::InvalidClientConfig,
            "the address map has no nodes to start from",
        )));
    }
    let seeds: Vec<String> = map
        .nodes()
        .iter()
        .map(|n| format!("redis://{}/", n.addr))
        .collect();
    let translate: HashMap<NodeAddress, NodeAddress> = map
        .nodes()
        .iter()
        .map(|n| {
            (
                NodeAddress::new(n.announce.ip().to_string(), n.announce.port()),
                NodeAddress::new(n.addr.ip().to_string(), n.addr.port()),
            )
        })
        .collect();
    common_settings(ClusterClientBuilder::new(seeds), opts)
        .node_address_map(translate)
        .async_dns_resolver(map.resolver())
        .build()
}

/// A cluster client of a worker on another host, which reaches the nodes at
/// the addresses they announce (`host:port` seeds): the app clients'
/// settings, without the controller's address map.
pub fn worker_client(seeds: &[String], opts: &ClientOptions) -> RedisResult<ClusterClient> {
    // Only the nodes the hello names, as the app clients reach only the run's.
    let ips: Vec<std::net::IpAddr> = (seeds.iter())
        .filter_map(|s| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .collect();
    let seeds: Vec<String> = seeds.iter().map(|s| format!("redis://{s}/")).collect();
    common_settings(ClusterClientBuilder::new(seeds), opts)
        .async_dns_resolver(crate::cluster::conn::OwnAddressesOnly::of(ips))
        .build()
}

/// The settings every app client shares: reads, local copies, no Nagle,
/// the timeouts and retries.
fn common_settings(builder: ClusterClientBuilder, opts: &ClientOptions) -> ClusterClientBuilder {
    let builder = match &opts.reads {
        Reads::Primary => builder,
        Reads::RandomReplica => {
            builder.read_routing_strategy(redis::cluster_read_routing::RandomReplicaStrategy)
        }
        Reads::Nearest { near } => {
            builder.read_routing_strategy(NearestCopy { near: near.clone() })
        }
    };
    let builder = match opts.client_cache {
        None => builder,
        Some(ttl) => builder
            .use_protocol(redis::ProtocolVersion::RESP3)
            .cache_config(redis::caching::CacheConfig::new().set_default_client_ttl(ttl)),
    };
    builder
        // A measuring client must not hold a small write back (Nagle).
        .tcp_settings(TcpSettings::default().set_nodelay(true))
        .connection_timeout(opts.connection_timeout)
        .response_timeout(opts.response_timeout)
        .retries(opts.retries)
}

/// Read routing to the nearest copy of a slot: a replica in the client's
/// region (at random among several), else the primary when it is in the
/// region, else a replica at random, as client libraries with zone
/// affinity route (Valkey GLIDE's `AZAffinity`). Nearness is declared, by
/// region, not measured: redis-rs hands the strategy the announced
/// addresses of the slot's nodes, and `near` holds those of the client's
/// region.
#[derive(Debug, Clone)]
pub struct NearestCopy {
    pub near: Arc<HashSet<SocketAddr>>,
}

impl NearestCopy {
    fn is_near(&self, a: &NodeAddress) -> bool {
        a.host()
            .parse()
            .is_ok_and(|ip| self.near.contains(&SocketAddr::new(ip, a.port())))
    }

    fn pick<'a>(
        &self,
        replicas: &Replicas<'a>,
        primary: Option<&'a NodeAddress>,
    ) -> &'a NodeAddress {
        let near: Vec<&'a NodeAddress> = replicas.iter().filter(|r| self.is_near(r)).collect();
        if !near.is_empty() {
            return near[rand::random_range(0..near.len())];
        }
        match primary {
            Some(p) if self.is_near(p) => p,
            _ => replicas.choose_random(),
        }
    }
}

impl ReadRoutingStrategy for NearestCopy {
    fn route_read<'a>(&self, candidates: &ReadCandidates<'a>) -> &'a NodeAddress {
        match candidates {
            ReadCandidates::AnyNode(c) => self.pick(c.replicas(), Some(c.primary())),
            ReadCandidates::ReplicasOnly(c) => self.pick(c.replicas(), None),
        }
    }
}

impl ReadRoutingStrategyFactory for NearestCopy {
    fn create_strategy(&self) -> Box<dyn ReadRoutingStrategy> {
        Box::new(self.clone())
    }
}

/// A cluster connection whose node connections write ASKING together with
/// the command it is for (see the module docs).
pub type AskingConnection = ClusterConnection<AskingInOneWrite>;

/// Open a cluster connection of `client` whose node connections are
/// [`AskingInOneWrite`]: safe to share between concurrent requests during a
/// slot migration.
pub async fn connect_app(client: &ClusterClient) -> RedisResult<AskingConnection> {
    client
        .get_async_generic_connection::<AskingInOneWrite>()
        .await
}

/// A node connection for redis-rs's cluster client: a multiplexed connection
/// that, asked to send `ASKING`, answers OK at once and sends the ASKING
/// with the next request made through the same handle, in one write.
///
/// redis-rs clones a node's connection for each request, sends ASKING on the
/// clone and the redirected command on the same clone, so the flag lives in
/// the handle (a fresh clone never carries it) and cannot reach another
/// task's request.
pub struct AskingInOneWrite {
    inner: MultiplexedConnection,
    asking: bool,
}

impl Clone for AskingInOneWrite {
    fn clone(&self) -> Self {
        AskingInOneWrite {
            inner: self.inner.clone(),
            asking: false,
        }
    }
}

/// Whether `cmd` is a bare `ASKING`.
fn is_asking(cmd: &Cmd) -> bool {
    let mut args = cmd.args_iter();
    args.len() == 1
        && matches!(args.next(), Some(redis::Arg::Simple(a)) if a.eq_ignore_ascii_case(b"ASKING"))
}

/// `ASKING`, then the commands of `p` exactly as `p` would write them (a
/// transaction's MULTI and EXEC included), as one pipeline: offsets into the
/// original's replies move by one.
fn with_asking(p: &Pipeline) -> Pipeline {
    let mut out = redis::pipe();
    out.cmd("ASKING");
    if p.is_transaction() {
        out.cmd("MULTI");
    }
    for c in p.cmd_iter() {
        out.add_command(c.clone());
    }
    if p.is_transaction() {
        out.cmd("EXEC");
    }
    out
}

impl ConnectionLike for AskingInOneWrite {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        if is_asking(cmd) {
            self.asking = true;
            return async { Ok(Value::Okay) }.boxed();
        }
        if !std::mem::take(&mut self.asking) {
            return self.inner.req_packed_command(cmd);
        }
        async move {
            let mut p = redis::pipe();
            p.cmd("ASKING").add_command(cmd.clone());
            let mut replies = self.inner.req_packed_commands(&p, 1, 1).await?;
            replies.pop().ok_or_else(|| {
                RedisError::from((ErrorKind::Parse, "no reply to a command sent after ASKING"))
            })
        }
        .boxed()
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        if !std::mem::take(&mut self.asking) {
            return self.inner.req_packed_commands(pipeline, offset, count);
        }
        async move {
            let p = with_asking(pipeline);
            self.inner.req_packed_commands(&p, offset + 1, count).await
        }
        .boxed()
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

impl Connect for AskingInOneWrite {
    fn connect_with_config<'a, T>(info: T, config: AsyncConnectionConfig) -> RedisFuture<'a, Self>
    where
        T: IntoConnectionInfo + Send + 'a,
    {
        fn wrap(inner: MultiplexedConnection) -> AskingInOneWrite {
            AskingInOneWrite {
                inner,
                asking: false,
            }
        }
        if crate::net::dial::source().is_none() && crate::net::secure::current().is_plain() {
            return MultiplexedConnection::connect_with_config(info, config)
                .map(|r| r.map(wrap))
                .boxed();
        }
        // A client in a region (the connection leaves from its address), or
        // connections with TLS or AUTH (as every other connection gets them):
        // through the tool's own dialer, to loopback addresses and the run's
        // own nodes only, as the client's resolver allows.
        async move {
            let info = info.into_connection_info()?;
            let addr = match info.addr() {
                redis::ConnectionAddr::Tcp(host, port) => host
                    .parse::<std::net::IpAddr>()
                    .ok()
                    .filter(|ip| super::conn::is_own(*ip))
                    .map(|ip| std::net::SocketAddr::new(ip, *port)),
                _ => None,
            }
            .ok_or_else(|| {
                RedisError::from((
                    ErrorKind::InvalidClientConfig,
                    "a client in a region, or with TLS or AUTH, connects to loopback addresses and the run's own nodes only",
                    format!("{:?}", info.addr()),
                ))
            })?;
            let timeout = crate::net::dial::connect_timeout();
            crate::net::dial::multiplexed_on(addr, info.redis_settings(), config, timeout)
                .await
                .map(wrap)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_asking_and_rewrites_pipelines() {
        assert!(is_asking(&redis::cmd("ASKING")));
        assert!(is_asking(&redis::cmd("asking")));
        assert!(!is_asking(redis::cmd("ASKING").arg("x")));
        assert!(!is_asking(redis::cmd("GET").arg("ASKING")));

        let mut p = redis::pipe();
        p.cmd("SET").arg("k").arg("v").cmd("WAIT").arg(1).arg(100);
        let mut expected = redis::pipe();
        expected
            .cmd("ASKING")
            .cmd("SET")
            .arg("k")
            .arg("v")
            .cmd("WAIT")
            .arg(1)
            .arg(100);
        assert_eq!(
            with_asking(&p).get_packed_pipeline(),
            expected.get_packed_pipeline()
        );

        // A transaction keeps its MULTI and EXEC, after the ASKING.
        let mut t = redis::pipe();
        t.atomic().cmd("SET").arg("k").arg("v");
        let mut expected = redis::cmd("ASKING").get_packed_command();
        expected.extend(t.get_packed_pipeline());
        assert_eq!(with_asking(&t).get_packed_pipeline(), expected);
    }

    #[test]
    fn nearest_copy_prefers_a_replica_in_the_region_then_its_primary() {
        let a = |h: &str| NodeAddress::new(h.to_string(), 6379);
        let s = |h: &str| SocketAddr::new(h.parse().unwrap(), 6379);
        let strategy = NearestCopy {
            near: Arc::new([s("10.0.0.1"), s("10.0.0.2")].into_iter().collect()),
        };
        let (primary_far, primary_near) = (a("10.0.0.9"), a("10.0.0.2"));
        let replicas = [a("10.0.0.7"), a("10.0.0.1"), a("10.0.0.8")];
        let r = Replicas::new(&replicas).unwrap();
        for _ in 0..20 {
            assert_eq!(strategy.pick(&r, Some(&primary_far)), &a("10.0.0.1"));
        }
        // No replica in the region: its primary, when it is there.
        let far = [a("10.0.0.7"), a("10.0.0.8")];
        let r = Replicas::new(&far).unwrap();
        assert_eq!(strategy.pick(&r, Some(&primary_near)), &primary_near);
        // Neither: some replica, never the far primary.
        for _ in 0..20 {
            assert!(far.contains(strategy.pick(&r, Some(&primary_far))));
            assert!(far.contains(strategy.pick(&r, None)));
        }
    }
}

#[cfg(test)]
mod version_tests {
    #[test]
    fn the_redis_rs_version_named_in_reports_is_the_one_built() {
        let lock = include_str!("../../Cargo.lock");
        let at = lock
            .find("\nname = \"redis\"\n")
            .expect("redis in Cargo.lock");
        let version = lock[at..]
            .lines()
            .find_map(|l| l.strip_prefix("version = \""))
            .and_then(|v| v.strip_suffix('"'));
        assert_eq!(version, Some(super::REDIS_RS_VERSION));
    }
}
