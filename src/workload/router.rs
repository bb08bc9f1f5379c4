//! The probe's view of the cluster: a slot map read from `CLUSTER NODES`, one
//! multiplexed connection per node, and the single-op and pipelined paths that
//! follow a MOVED or ASK once and report every other error as it is.
//!
//! Used by the probe clients, by `load` and by `read_final`. Only addresses
//! the [`AddressMap`] resolves are reached (127.0.0.0/8).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Cmd, RedisError, Value};

use crate::cluster::conn::{AddressMap, LoopbackOnly};
use crate::cluster::parse_cluster_nodes;
use crate::cluster::slots::SLOT_COUNT;

use super::WorkloadError;
use super::history::{ErrorKind, Outcome, classify};

/// No owner known for a slot.
const NONE: u16 = u16::MAX;

/// The least time between two slot-map refreshes after errors: often enough to
/// find a new primary within a failover's first 100 ms, rarely enough that a
/// dead node costs the probe ~10 extra requests a second, not one per op.
pub(crate) const REFRESH_INTERVAL: Duration = Duration::from_millis(100);

/// Commands per pipeline in `load` and `read_final`: large enough to amortise
/// round trips, small enough that a pipeline answers well within the timeout.
const PIPELINE_CHUNK: usize = 1000;

/// Rounds of MOVED/ASK-following in the pipelined path: a slot migrating
/// during the final read can redirect a key twice (MOVED, then ASK); more than
/// that is a cluster that does not settle, and an error.
const PIPELINE_ROUNDS: usize = 4;

struct Node {
    name: String,
    announce: SocketAddr,
    addr: SocketAddr,
    conn: Option<MultiplexedConnection>,
}

/// A failed send: the error, and whether the request may have reached the server.
struct SendError {
    err: RedisError,
    sent: bool,
}

/// What one command did.
pub(crate) struct Exec {
    pub outcome: Outcome,
    /// The reply when ok.
    pub value: Value,
    /// The owner in the client's view when the command was first sent.
    pub node: Option<String>,
    pub redirects: u32,
    /// The node that answered with success (an index for [`Router::wait`]).
    pub served: Option<usize>,
}

/// Slot map and connections.
pub(crate) struct Router {
    map: AddressMap,
    nodes: Vec<Node>,
    /// Slot -> index into `nodes`, or [`NONE`].
    owner: Vec<u16>,
    config: AsyncConnectionConfig,
    timeout: Duration,
    /// Set by errors that suggest the map is out of date (connection, CLUSTERDOWN).
    stale: bool,
    last_refresh: Option<Instant>,
}

impl Router {
    /// A router whose connections time out after `timeout` (connect and
    /// response), with its slot map read from the first node that answers.
    pub async fn connect(map: &AddressMap, timeout: Duration) -> Result<Router, WorkloadError> {
        if map.is_empty() {
            return Err(WorkloadError::NoNodes);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_dns_resolver(LoopbackOnly);
        let mut r = Router {
            map: map.clone(),
            nodes: map
                .nodes()
                .iter()
                .map(|n| Node {
                    name: n.name.clone(),
                    announce: n.announce,
                    addr: n.addr,
                    conn: None,
                })
                .collect(),
            owner: vec![NONE; usize::from(SLOT_COUNT)],
            config,
            timeout,
            stale: false,
            last_refresh: None,
        };
        r.refresh().await?;
        Ok(r)
    }

    /// The node index for an announced address, adding it when new.
    fn node_index(&mut self, announce: SocketAddr) -> Result<usize, WorkloadError> {
        if let Some(i) = self.nodes.iter().position(|n| n.announce == announce) {
            return Ok(i);
        }
        let addr = self.map.resolve(announce)?;
        if self.nodes.len() >= usize::from(NONE) {
            return Err(WorkloadError::Cluster(format!(
                "more than {NONE} nodes announced"
            )));
        }
        self.nodes.push(Node {
            name: self.map.name_of_announce(announce),
            announce,
            addr,
            conn: None,
        });
        Ok(self.nodes.len() - 1)
    }

    /// Re-read the slot map: CLUSTER NODES on every known node at once, the
    /// first answer wins (a paused node must not hold the probe up).
    pub async fn refresh(&mut self) -> Result<(), WorkloadError> {
        self.last_refresh = Some(Instant::now());
        let asks = self.nodes.iter().enumerate().map(|(i, n)| {
            let conn = n.conn.clone();
            let (addr, config) = (n.addr, self.config.clone());
            Box::pin(async move {
                let mut conn = match conn {
                    Some(c) => c,
                    None => open(addr, &config).await?,
                };
                let text: String = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query_async(&mut conn)
                    .await?;
                Ok::<_, RedisError>((i, conn, text))
            })
        });
        let first = tokio::time::timeout(self.timeout, futures::future::select_ok(asks)).await;
        let (i, conn, text) = match first {
            Ok(Ok(((i, conn, text), _rest))) => (i, conn, text),
            Ok(Err(e)) => return Err(WorkloadError::Cluster(format!("read CLUSTER NODES: {e}"))),
            Err(_) => {
                return Err(WorkloadError::Cluster(format!(
                    "read CLUSTER NODES: no node answered within {:?}",
                    self.timeout
                )));
            }
        };
        self.nodes[i].conn.get_or_insert(conn);
        let lines = parse_cluster_nodes(&text).map_err(|e| {
            WorkloadError::Cluster(format!(
                "parse CLUSTER NODES of {}: {e}",
                self.nodes[i].name
            ))
        })?;
        let mut owner = vec![NONE; usize::from(SLOT_COUNT)];
        for line in lines
            .iter()
            .filter(|l| l.is_primary() && !l.slots.is_empty())
        {
            let Some(announce) = line.addr else { continue };
            let idx = self.node_index(announce)? as u16;
            for range in &line.slots {
                for s in range.slots() {
                    owner[usize::from(s)] = idx;
                }
            }
        }
        self.owner = owner;
        self.stale = false;
        Ok(())
    }

    /// Refresh when an error marked the map stale and the last refresh is
    /// older than [`REFRESH_INTERVAL`]. A failed refresh keeps the old map.
    pub async fn refresh_if_stale(&mut self) {
        let due = self
            .last_refresh
            .is_none_or(|t| t.elapsed() >= REFRESH_INTERVAL);
        if self.stale
            && due
            && let Err(e) = self.refresh().await
        {
            tracing::debug!("slot map refresh: {e}");
        }
    }

    fn owner_of(&self, slot: u16) -> Option<usize> {
        match self.owner[usize::from(slot)] {
            NONE => None,
            i => Some(usize::from(i)),
        }
    }

    /// The name of the node owning `slot` in this view.
    pub fn owner_name(&self, slot: u16) -> Option<&str> {
        self.owner_of(slot).map(|i| self.nodes[i].name.as_str())
    }

    /// The connection to node `i`, opened when there is none.
    async fn conn(&mut self, i: usize) -> Result<MultiplexedConnection, RedisError> {
        if let Some(c) = &self.nodes[i].conn {
            return Ok(c.clone());
        }
        let c = open(self.nodes[i].addr, &self.config).await?;
        self.nodes[i].conn = Some(c.clone());
        Ok(c)
    }

    /// After an I/O error a multiplexed connection is dead for good: forget it
    /// (the next op reconnects) and distrust the slot map.
    fn connection_failed(&mut self, i: usize) {
        self.nodes[i].conn = None;
        self.stale = true;
    }

    /// The owner named by a MOVED/ASK error.
    fn redirect_target(&mut self, err: &RedisError) -> Result<usize, String> {
        let (addr, _slot) = err
            .redirect_node()
            .ok_or_else(|| format!("redirect without a target: {err}"))?;
        let announce: SocketAddr = addr
            .parse()
            .map_err(|_| format!("redirect target `{addr}` is not ip:port"))?;
        self.node_index(announce).map_err(|e| e.to_string())
    }

    /// Send one command to the owner of `slot`. MOVED: update the slot map and
    /// re-send once to the new owner; ASK: send ASKING + the command to the
    /// target once. Every other error is the outcome. Redirects are counted.
    pub async fn execute(&mut self, cmd: &Cmd, slot: u16) -> Exec {
        let Some(first) = self.owner_of(slot) else {
            self.stale = true;
            return Exec::failed(
                None,
                0,
                ErrorKind::Other,
                format!("no node serves slot {slot} in the probe's view"),
            );
        };
        let node = Some(self.nodes[first].name.clone());
        let mut redirects = 0;
        let mut err = match self.send(first, cmd, false).await {
            Ok(v) => return Exec::ok(v, node, 0, first),
            Err(e) => e,
        };
        for _ in 0..2 {
            let asking = match err.err.kind() {
                redis::ErrorKind::Server(redis::ServerErrorKind::Moved) => false,
                redis::ErrorKind::Server(redis::ServerErrorKind::Ask) => true,
                _ => break,
            };
            redirects += 1;
            if redirects > 1 {
                // One redirect followed; a second is the outcome.
                break;
            }
            let target = match self.redirect_target(&err.err) {
                Ok(t) => t,
                Err(m) => return Exec::failed(node, redirects, ErrorKind::Other, m),
            };
            if !asking {
                self.owner[usize::from(slot)] = target as u16;
            }
            err = match self.send(target, cmd, asking).await {
                Ok(v) => return Exec::ok(v, node, redirects, target),
                Err(e) => e,
            };
        }
        Exec {
            outcome: self.outcome_of(&err),
            value: Value::Nil,
            node,
            redirects,
            served: None,
        }
    }

    /// `WAIT replicas timeout_ms` on the connection to node `i` — the one that
    /// just served this client's write, so WAIT counts that write.
    pub async fn wait(
        &mut self,
        i: usize,
        replicas: u32,
        timeout_ms: u64,
    ) -> Result<u32, RedisError> {
        let mut conn = self.conn(i).await?;
        let n: i64 = redis::cmd("WAIT")
            .arg(replicas)
            .arg(timeout_ms)
            .query_async(&mut conn)
            .await?;
        Ok(u32::try_from(n).unwrap_or(0))
    }

    fn outcome_of(&mut self, e: &SendError) -> Outcome {
        let outcome = classify(&e.err, e.sent);
        if let Outcome::Fail {
            kind: ErrorKind::ClusterDown | ErrorKind::TryAgain,
            ..
        } = outcome
        {
            self.stale = true;
        }
        outcome
    }

    /// One command to node `i` (with ASKING first when `asking`).
    async fn send(&mut self, i: usize, cmd: &Cmd, asking: bool) -> Result<Value, SendError> {
        let mut conn = match self.conn(i).await {
            Ok(c) => c,
            Err(err) => {
                self.stale = true;
                return Err(SendError { err, sent: false });
            }
        };
        let r = if asking {
            let mut p = redis::pipe();
            p.cmd("ASKING")
                .ignore()
                .add_command(cmd.clone())
                .ignore_errors();
            p.query_async::<Vec<Value>>(&mut conn)
                .await
                .and_then(|mut v| match v.pop() {
                    Some(Value::ServerError(e)) => Err(e.into()),
                    Some(v) => Ok(v),
                    None => Err(RedisError::from((
                        redis::ErrorKind::Parse,
                        "empty reply to ASKING pipeline",
                    ))),
                })
        } else {
            cmd.query_async::<Value>(&mut conn).await
        };
        r.map_err(|err| {
            if err.is_io_error() {
                self.connection_failed(i);
            }
            SendError { err, sent: true }
        })
    }

    /// Run `cmds` (each with its slot), pipelined per owner, following MOVED
    /// and ASK for up to [`PIPELINE_ROUNDS`] rounds. One result per command, in order.
    pub async fn pipelined(&mut self, cmds: &[(u16, Cmd)]) -> Vec<Result<Value, RedisError>> {
        let mut results: Vec<Option<Result<Value, RedisError>>> = vec![None; cmds.len()];
        // (command index, asking target) still to send.
        let mut pending: Vec<(usize, Option<usize>)> = (0..cmds.len()).map(|i| (i, None)).collect();
        for _ in 0..PIPELINE_ROUNDS {
            if pending.is_empty() {
                break;
            }
            // Group by target node (and whether ASKING is needed).
            let mut groups: Vec<(usize, bool, Vec<usize>)> = Vec::new();
            for &(i, ask) in &pending {
                let (node, asking) = match ask {
                    Some(t) => (Some(t), true),
                    None => (self.owner_of(cmds[i].0), false),
                };
                let Some(node) = node else {
                    results[i] = Some(Err(RedisError::from((
                        redis::ErrorKind::ClusterConnectionNotFound,
                        "no node serves the slot",
                        format!("slot {}", cmds[i].0),
                    ))));
                    continue;
                };
                match groups.iter_mut().find(|g| g.0 == node && g.1 == asking) {
                    Some(g) => g.2.push(i),
                    None => groups.push((node, asking, vec![i])),
                }
            }
            let mut sends = Vec::new();
            for (node, asking, idx) in groups {
                let conn = match self.conn(node).await {
                    Ok(c) => c,
                    Err(e) => {
                        for i in idx {
                            results[i] = Some(Err(e.clone()));
                        }
                        continue;
                    }
                };
                sends.push(send_chunks(conn, node, asking, idx, cmds));
            }
            pending.clear();
            for (node, replies) in futures::future::join_all(sends).await {
                for (i, r) in replies {
                    match r {
                        Err(e)
                            if e.kind()
                                == redis::ErrorKind::Server(redis::ServerErrorKind::Moved) =>
                        {
                            match self.redirect_target(&e) {
                                Ok(t) => {
                                    self.owner[usize::from(cmds[i].0)] = t as u16;
                                    pending.push((i, None));
                                }
                                Err(_) => results[i] = Some(Err(e)),
                            }
                        }
                        Err(e)
                            if e.kind()
                                == redis::ErrorKind::Server(redis::ServerErrorKind::Ask) =>
                        {
                            match self.redirect_target(&e) {
                                Ok(t) => pending.push((i, Some(t))),
                                Err(_) => results[i] = Some(Err(e)),
                            }
                        }
                        Err(e) => {
                            if e.is_io_error() {
                                self.connection_failed(node);
                            }
                            results[i] = Some(Err(e));
                        }
                        Ok(v) => results[i] = Some(Ok(v)),
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(RedisError::from((
                        redis::ErrorKind::Client,
                        "still redirected after the last round",
                    )))
                })
            })
            .collect()
    }
}

/// Send the commands `idx` of `cmds` to one node in pipelines of
/// [`PIPELINE_CHUNK`], one after another. A failed pipeline fails its commands.
async fn send_chunks(
    mut conn: MultiplexedConnection,
    node: usize,
    asking: bool,
    idx: Vec<usize>,
    cmds: &[(u16, Cmd)],
) -> (usize, Vec<(usize, Result<Value, RedisError>)>) {
    let mut out = Vec::with_capacity(idx.len());
    for chunk in idx.chunks(PIPELINE_CHUNK) {
        let mut p = redis::pipe();
        for &i in chunk {
            if asking {
                p.cmd("ASKING").ignore();
            }
            p.add_command(cmds[i].1.clone());
        }
        p.ignore_errors();
        match p.query_async::<Vec<Value>>(&mut conn).await {
            Ok(values) if values.len() == chunk.len() => {
                for (&i, v) in chunk.iter().zip(values) {
                    out.push((
                        i,
                        match v {
                            Value::ServerError(e) => Err(e.into()),
                            v => Ok(v),
                        },
                    ));
                }
            }
            Ok(values) => {
                let e = RedisError::from((
                    redis::ErrorKind::Parse,
                    "pipeline reply of the wrong length",
                    format!("{} replies to {} commands", values.len(), chunk.len()),
                ));
                out.extend(chunk.iter().map(|&i| (i, Err(e.clone()))));
            }
            Err(e) => out.extend(chunk.iter().map(|&i| (i, Err(e.clone())))),
        }
    }
    (node, out)
}

impl Exec {
    fn ok(value: Value, node: Option<String>, redirects: u32, served: usize) -> Exec {
        Exec {
            outcome: Outcome::Ok,
            value,
            node,
            redirects,
            served: Some(served),
        }
    }

    fn failed(node: Option<String>, redirects: u32, kind: ErrorKind, message: String) -> Exec {
        Exec {
            outcome: Outcome::Fail { kind, message },
            value: Value::Nil,
            node,
            redirects,
            served: None,
        }
    }
}

/// Open a multiplexed connection to a loopback address.
async fn open(
    addr: SocketAddr,
    config: &AsyncConnectionConfig,
) -> Result<MultiplexedConnection, RedisError> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    client
        .get_multiplexed_async_connection_with_config(config)
        .await
}
