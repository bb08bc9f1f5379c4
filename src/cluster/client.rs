//! A redis-rs cluster client that reaches the nodes through the address map.
//!
//! Nodes announce addresses the controller may not be able to reach (container
//! IPs). `node_address_map` translates them at connect time while the client's
//! slot map keeps the announced addresses (so MOVED/ASK still match), and the
//! [`LoopbackOnly`] resolver refuses any address outside 127.0.0.0/8.

use std::collections::HashMap;
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterClientBuilder, NodeAddress};
use redis::{ErrorKind, RedisError, RedisResult};

use super::conn::{AddressMap, LoopbackOnly};

/// Timeouts and retries of a cluster client.
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    pub connection_timeout: Duration,
    pub response_timeout: Duration,
    /// Retries on MOVED/ASK/TRYAGAIN and connection errors; 0 for a probe that
    /// must see every failure.
    pub retries: u32,
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
    ClusterClientBuilder::new(seeds)
        .node_address_map(translate)
        .async_dns_resolver(LoopbackOnly)
        .connection_timeout(opts.connection_timeout)
        .response_timeout(opts.response_timeout)
        .retries(opts.retries)
        .build()
}
