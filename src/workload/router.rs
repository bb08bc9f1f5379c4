//! The probe's view of the topology: a slot map (read from `CLUSTER NODES` on
//! a cluster; fixed on standalone primaries; the primary of the moment, from
//! `ROLE`, on a replicated topology — see [`Sharding`]), one multiplexed
//! connection per node, and the single-op and pipelined paths that follow a
//! MOVED or ASK once and report every other error as it is. Shared by every
//! op a probe connection has in flight; app clients of topologies that are
//! not a cluster use it too, with retries on top (`exec`).
//!
//! Used by the probe clients, by `load` and by `read_final`. Only addresses
//! the [`AddressMap`] allows are reached (127.0.0.0/8, or the run's own nodes
//! from inside its network).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisError, Value};

use crate::cluster::conn::AddressMap;
use crate::cluster::parse_cluster_nodes;
use crate::slots::SLOT_COUNT;

use super::classify;
use super::error::WorkloadError;
use super::sharding::Sharding;
use crate::cluster::replication::{self, NodeRole};
use crate::record::ops::{ErrorKind, Outcome};

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
    /// Bumped each time a connection is stored, so that a failure seen on an
    /// old connection does not throw away a newer one another op opened.
    generation: u64,
    /// Held while a connection to the node is being opened: one attempt at
    /// a time, the ops that need it wait for it (a client library's
    /// reconnect is single-flight too). Without it every op arriving while
    /// the node has no connection opened its own, hundreds a second at the
    /// drill's rates; cheap over plain TCP, but over TLS a storm of
    /// handshakes that took the CPU a failover needed.
    connecting: Arc<tokio::sync::Mutex<()>>,
}

/// A failed send: the error, and whether the request may have reached the server.
struct SendError {
    err: RedisError,
    sent: bool,
}

/// What an op sends: one command, or a transaction (the commands between
/// MULTI and EXEC, all on one slot).
#[derive(Debug, Clone)]
pub(crate) enum Req {
    One(Cmd),
    Txn(Vec<Cmd>),
}

impl Req {
    /// The commands as a plain pipeline (a transaction's MULTI and EXEC
    /// spelled out), and the index of the reply that is the op's.
    pub(crate) fn plain(&self) -> (Pipeline, usize) {
        let mut p = redis::pipe();
        match self {
            Req::One(c) => {
                p.add_command(c.clone());
                (p, 0)
            }
            Req::Txn(cmds) => {
                p.cmd("MULTI");
                for c in cmds {
                    p.add_command(c.clone());
                }
                p.cmd("EXEC");
                (p, cmds.len() + 1)
            }
        }
    }
}

/// The op's reply out of a plain pipeline's replies: the first error (a
/// command a transaction could not queue, MOVED or ASK among them, comes
/// before EXEC's EXECABORT), or else the last reply.
pub(crate) fn reply_of(mut replies: Vec<Value>) -> Result<Value, RedisError> {
    if let Some(i) = replies
        .iter()
        .position(|v| matches!(v, Value::ServerError(_)))
        && let Value::ServerError(e) = replies.swap_remove(i)
    {
        return Err(e.into());
    }
    replies
        .pop()
        .ok_or_else(|| RedisError::from((redis::ErrorKind::Parse, "no reply to a pipeline")))
}

/// What one command did.
pub(crate) struct Routed {
    pub outcome: Outcome,
    /// The reply when ok.
    pub value: Value,
    /// The owner in the client's view when the command was first sent.
    pub node: Option<String>,
    pub redirects: u32,
    /// The node that answered with success (an index for [`Router::wait`]),
    /// and the generation of the connection that carried it.
    pub served: Option<(usize, u64)>,
}

/// The slot map and the connections, behind one short lock that is never
/// held across an await.
struct State {
    nodes: Vec<Node>,
    /// Slot -> index into `nodes`, or [`NONE`].
    owner: Vec<u16>,
    /// A cluster's primaries' replicas, by the primary's index (from the
    /// last `CLUSTER NODES`): where a read of a near copy goes.
    replicas: std::collections::HashMap<u16, Vec<u16>>,
}

/// Slot map and connections, shared by every op the probe has in flight:
/// each method takes `&self`, and a node's multiplexed connection carries
/// the ops of many tasks at once.
pub(crate) struct Router {
    map: AddressMap,
    sharding: Sharding,
    config: AsyncConnectionConfig,
    timeout: Duration,
    state: Mutex<State>,
    /// Set by errors that suggest the map is out of date (connection, CLUSTERDOWN).
    stale: AtomicBool,
    /// Held while the map is re-read: one refresh at a time.
    refreshing: tokio::sync::Mutex<()>,
    last_refresh: Mutex<Option<Instant>>,
    /// The Sentinel asked first (the last one that answered), as Sentinel
    /// clients keep the one that answered at the front of their list.
    sentinel_first: std::sync::atomic::AtomicUsize,
}

impl Router {
    /// A router whose connections time out after `timeout` (connect and
    /// response), with its slot map as `sharding` says: read from the first
    /// node that answers on a cluster, fixed on standalone primaries, the
    /// primary found by `ROLE` on a replicated topology.
    pub async fn connect(
        map: &AddressMap,
        sharding: &Sharding,
        timeout: Duration,
    ) -> Result<Router, WorkloadError> {
        if map.is_empty() {
            return Err(WorkloadError::NoNodes);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let r = Router {
            map: map.clone(),
            sharding: sharding.clone(),
            config,
            timeout,
            state: Mutex::new(State {
                nodes: map
                    .nodes()
                    .iter()
                    .map(|n| Node {
                        name: n.name.clone(),
                        announce: n.announce,
                        addr: n.addr,
                        conn: None,
                        generation: 0,
                        connecting: Default::default(),
                    })
                    .collect(),
                owner: vec![NONE; usize::from(SLOT_COUNT)],
                replicas: Default::default(),
            }),
            stale: AtomicBool::new(false),
            refreshing: tokio::sync::Mutex::new(()),
            last_refresh: Mutex::new(None),
            sentinel_first: Default::default(),
        };
        if let Sharding::Sharded(ranges) = sharding {
            let mut st = r.state();
            for (name, range) in ranges {
                let i = st
                    .nodes
                    .iter()
                    .position(|n| &n.name == name)
                    .ok_or_else(|| {
                        WorkloadError::Cluster(format!("{name} is not in the address map"))
                    })?;
                for s in range.slots() {
                    st.owner[usize::from(s)] = i as u16;
                }
            }
        }
        r.refresh().await?;
        Ok(r)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent between statements: a panic elsewhere
        // cannot leave it half-written.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The node index for an announced address, adding it when new.
    fn node_index(&self, st: &mut State, announce: SocketAddr) -> Result<usize, WorkloadError> {
        if let Some(i) = st.nodes.iter().position(|n| n.announce == announce) {
            return Ok(i);
        }
        let addr = self.map.resolve(announce)?;
        if st.nodes.len() >= usize::from(NONE) {
            return Err(WorkloadError::Cluster(format!(
                "more than {NONE} nodes announced"
            )));
        }
        st.nodes.push(Node {
            name: self.map.name_of_announce(announce),
            announce,
            addr,
            conn: None,
            generation: 0,
            connecting: Default::default(),
        });
        Ok(st.nodes.len() - 1)
    }

    /// Re-read the slot map: CLUSTER NODES on every known node at once, the
    /// first answer wins (a paused node must not hold the probe up).
    pub async fn refresh(&self) -> Result<(), WorkloadError> {
        let _one_at_a_time = self.refreshing.lock().await;
        self.refresh_locked().await
    }

    async fn refresh_locked(&self) -> Result<(), WorkloadError> {
        *self.last_refresh.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        match &self.sharding {
            Sharding::Cluster => self.refresh_cluster().await,
            // The shards are the client's own: nothing to learn.
            Sharding::Sharded(_) => {
                self.stale.store(false, Ordering::Relaxed);
                Ok(())
            }
            Sharding::Primary {
                sentinel: Some(master),
                ..
            } if !self.map.sentinels().is_empty() => self.refresh_from_sentinels(master).await,
            Sharding::Primary { .. } => self.refresh_primary().await,
        }
    }

    /// Ask the Sentinels where the primary is
    /// (`SENTINEL get-master-addr-by-name`), one after the other from the
    /// one that answered last, each bounded by the timeout; the first
    /// answer names the primary of every slot — what redis-py's and
    /// redis-rs's Sentinel clients do. Nothing else is checked: a client
    /// beside a minority of Sentinels that still name the old primary
    /// writes there, as those clients do in a split brain.
    async fn refresh_from_sentinels(&self, master: &str) -> Result<(), WorkloadError> {
        let sentinels = self.map.sentinels();
        let first = self.sentinel_first.load(Ordering::Relaxed);
        let mut heard = Vec::new();
        for k in 0..sentinels.len() {
            let i = (first + k) % sentinels.len();
            let s = &sentinels[i];
            let ask = async {
                let mut c = open(s.addr, &self.config, self.timeout).await?;
                redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(master)
                    .query_async::<Option<(String, u16)>>(&mut c)
                    .await
            };
            let said = match tokio::time::timeout(self.timeout, ask).await {
                Ok(Ok(Some((host, port)))) => match host.parse::<std::net::IpAddr>() {
                    Ok(ip) => SocketAddr::new(ip, port),
                    Err(_) => {
                        heard.push(format!("{}: primary at {host}:{port}", s.name));
                        continue;
                    }
                },
                Ok(Ok(None)) => {
                    heard.push(format!("{}: no primary named {master}", s.name));
                    continue;
                }
                Ok(Err(e)) => {
                    heard.push(format!("{}: {e}", s.name));
                    continue;
                }
                Err(_) => {
                    heard.push(format!("{}: no answer within {:?}", s.name, self.timeout));
                    continue;
                }
            };
            let mut st = self.state();
            let n = self.node_index(&mut st, said)? as u16;
            st.owner = vec![n; usize::from(SLOT_COUNT)];
            drop(st);
            self.sentinel_first.store(i, Ordering::Relaxed);
            self.stale.store(false, Ordering::Relaxed);
            return Ok(());
        }
        Err(WorkloadError::Cluster(format!(
            "no Sentinel named the primary: {}",
            heard.join("; ")
        )))
    }

    /// Every node's `ROLE` at once (each bounded by the timeout); every slot
    /// to the primary clients should follow
    /// ([`replication::current_primary`]). No primary: the old map stays.
    async fn refresh_primary(&self) -> Result<(), WorkloadError> {
        let count = self.state().nodes.len();
        let reads = (0..count).map(|i| async move {
            let read = async {
                let (generation, mut conn) = self.conn(i).await?;
                redis::cmd("ROLE")
                    .query_async::<Value>(&mut conn)
                    .await
                    .inspect_err(|e| {
                        if e.is_io_error() {
                            self.connection_failed(i, generation);
                        }
                    })
            };
            let name = self.node_name(i);
            match tokio::time::timeout(self.timeout, read).await {
                Ok(Ok(v)) => match replication::parse_role(&v) {
                    Ok(reply) => Some(NodeRole::of(&name, reply, &self.map)),
                    Err(_) => None,
                },
                _ => None,
            }
        });
        let roles: Vec<NodeRole> = futures::future::join_all(reads)
            .await
            .into_iter()
            .flatten()
            .collect();
        let current = self.owner_name(0);
        let Some(primary) = replication::current_primary(&roles, current.as_deref()) else {
            return Err(WorkloadError::Cluster(
                "read ROLE: no node reports itself primary".into(),
            ));
        };
        let mut st = self.state();
        let i = st
            .nodes
            .iter()
            .position(|n| n.name == primary)
            .expect("named from the map") as u16;
        st.owner = vec![i; usize::from(SLOT_COUNT)];
        drop(st);
        self.stale.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// `CLUSTER NODES` on every known node at once; the first answer wins.
    async fn refresh_cluster(&self) -> Result<(), WorkloadError> {
        let known: Vec<(usize, Option<MultiplexedConnection>, SocketAddr)> = self
            .state()
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (i, n.conn.clone(), n.addr))
            .collect();
        let asks = known.into_iter().map(|(i, conn, addr)| {
            let (config, timeout) = (self.config.clone(), self.timeout);
            Box::pin(async move {
                let (mut conn, opened) = match conn {
                    Some(c) => (c, false),
                    None => (open(addr, &config, timeout).await?, true),
                };
                let text: String = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query_async(&mut conn)
                    .await?;
                Ok::<_, RedisError>((i, conn, opened, text))
            })
        });
        let first = tokio::time::timeout(self.timeout, futures::future::select_ok(asks)).await;
        let (i, conn, opened, text) = match first {
            Ok(Ok(((i, conn, opened, text), _rest))) => (i, conn, opened, text),
            Ok(Err(e)) => return Err(WorkloadError::Cluster(format!("read CLUSTER NODES: {e}"))),
            Err(_) => {
                return Err(WorkloadError::Cluster(format!(
                    "read CLUSTER NODES: no node answered within {:?}",
                    self.timeout
                )));
            }
        };
        let mut st = self.state();
        if opened && st.nodes[i].conn.is_none() {
            st.nodes[i].conn = Some(conn);
            st.nodes[i].generation += 1;
        }
        let lines = parse_cluster_nodes(&text).map_err(|e| {
            WorkloadError::Cluster(format!("parse CLUSTER NODES of {}: {e}", st.nodes[i].name))
        })?;
        let mut owner = vec![NONE; usize::from(SLOT_COUNT)];
        let mut by_id: std::collections::HashMap<&str, u16> = Default::default();
        for line in lines
            .iter()
            .filter(|l| l.is_primary() && !l.slots.is_empty())
        {
            let Some(announce) = line.addr else { continue };
            let idx = self.node_index(&mut st, announce)? as u16;
            by_id.insert(line.id.as_str(), idx);
            for range in &line.slots {
                for s in range.slots() {
                    owner[usize::from(s)] = idx;
                }
            }
        }
        let mut replicas: std::collections::HashMap<u16, Vec<u16>> = Default::default();
        for line in &lines {
            let (Some(primary), Some(announce)) = (line.primary_id.as_deref(), line.addr) else {
                continue;
            };
            if line.flags.fail || line.flags.pfail {
                continue;
            }
            // A replica the map cannot reach is left out: it must not
            // cost the primaries their routes.
            if let Some(&p) = by_id.get(primary)
                && let Ok(idx) = self.node_index(&mut st, announce)
            {
                replicas.entry(p).or_default().push(idx as u16);
            }
        }
        st.owner = owner;
        st.replicas = replicas;
        self.stale.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Refresh when an error marked the map stale and the last refresh is
    /// older than [`REFRESH_INTERVAL`]; skipped while another op refreshes.
    /// A failed refresh keeps the old map.
    pub async fn refresh_if_stale(&self) {
        if !self.stale.load(Ordering::Relaxed) {
            return;
        }
        let due = self
            .last_refresh
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|t| t.elapsed() >= REFRESH_INTERVAL);
        if !due {
            return;
        }
        let Ok(_guard) = self.refreshing.try_lock() else {
            return;
        };
        if let Err(e) = self.refresh_locked().await {
            tracing::debug!("slot map refresh: {e}");
        }
    }

    /// Distrust the map: the next op refreshes it (at most every
    /// [`REFRESH_INTERVAL`]). A client that failed to reach a node does so.
    pub fn distrust(&self) {
        self.stale.store(true, Ordering::Relaxed);
    }

    fn owner_of(&self, slot: u16) -> Option<usize> {
        match self.state().owner[usize::from(slot)] {
            NONE => None,
            i => Some(usize::from(i)),
        }
    }

    /// The name of the node owning `slot` in this view.
    pub fn owner_name(&self, slot: u16) -> Option<String> {
        let st = self.state();
        match st.owner[usize::from(slot)] {
            NONE => None,
            i => Some(st.nodes[usize::from(i)].name.clone()),
        }
    }

    /// The connection to node `i` and its generation, opened when there is none.
    async fn conn(&self, i: usize) -> Result<(u64, MultiplexedConnection), RedisError> {
        let connecting = {
            let st = self.state();
            if let Some(c) = &st.nodes[i].conn {
                return Ok((st.nodes[i].generation, c.clone()));
            }
            st.nodes[i].connecting.clone()
        };
        // Bounded: an op waits at most its own timeout for another's attempt.
        let _turn = tokio::time::timeout(self.timeout, connecting.lock())
            .await
            .map_err(|_| {
                RedisError::from((
                    redis::ErrorKind::Io,
                    "connect",
                    "waited a timeout for another op's connection attempt".to_string(),
                ))
            })?;
        let addr = {
            let st = self.state();
            // The attempt this op waited for succeeded: use it.
            if let Some(c) = &st.nodes[i].conn {
                return Ok((st.nodes[i].generation, c.clone()));
            }
            st.nodes[i].addr
        };
        let c = open(addr, &self.config, self.timeout).await?;
        let mut st = self.state();
        let n = &mut st.nodes[i];
        // Another op may have opened one meanwhile: use the one stored.
        if let Some(existing) = &n.conn {
            return Ok((n.generation, existing.clone()));
        }
        n.generation += 1;
        n.conn = Some(c.clone());
        Ok((n.generation, c))
    }

    /// After an I/O error a multiplexed connection is dead for good: forget it
    /// (the next op reconnects) and distrust the slot map.
    fn connection_failed(&self, i: usize, generation: u64) {
        let mut st = self.state();
        if st.nodes[i].generation == generation {
            st.nodes[i].conn = None;
        }
        self.stale.store(true, Ordering::Relaxed);
    }

    /// The owner named by a MOVED/ASK error.
    fn redirect_target(&self, err: &RedisError) -> Result<usize, String> {
        let (addr, _slot) = err
            .redirect_node()
            .ok_or_else(|| format!("redirect without a target: {err}"))?;
        let announce: SocketAddr = addr
            .parse()
            .map_err(|_| format!("redirect target `{addr}` is not ip:port"))?;
        let mut st = self.state();
        self.node_index(&mut st, announce)
            .map_err(|e| e.to_string())
    }

    /// Node `i`'s name, as ops record their target.
    pub(crate) fn node_name(&self, i: usize) -> String {
        self.state().nodes[i].name.clone()
    }

    fn set_owner(&self, slot: u16, i: usize) {
        self.state().owner[usize::from(slot)] = i as u16;
    }

    /// Send one command to the owner of `slot`. MOVED: update the slot map and
    /// re-send once to the new owner; ASK: send ASKING + the command to the
    /// target once. Every other error is the outcome. Redirects are counted.
    pub async fn execute(&self, req: &Req, slot: u16) -> Routed {
        let Some(first) = self.owner_of(slot) else {
            self.stale.store(true, Ordering::Relaxed);
            return Routed::failed(
                None,
                0,
                ErrorKind::Other,
                format!("no node serves slot {slot} in the probe's view"),
            );
        };
        let node = Some(self.node_name(first));
        let mut redirects = 0;
        let mut err = match self.send(first, req, false).await {
            Ok((v, generation)) => return Routed::ok(v, node, 0, (first, generation)),
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
                Err(m) => return Routed::failed(node, redirects, ErrorKind::Other, m),
            };
            if !asking {
                self.set_owner(slot, target);
            }
            err = match self.send(target, req, asking).await {
                Ok((v, generation)) => {
                    return Routed::ok(v, node, redirects, (target, generation));
                }
                Err(e) => e,
            };
        }
        Routed {
            outcome: self.outcome_of(&err),
            value: Value::Nil,
            node,
            redirects,
            served: None,
        }
    }

    /// [`Router::execute`] for a client that retries nothing: the map
    /// re-read first when an error made it stale, and distrusted after a
    /// failure, so that the next command re-reads it.
    pub async fn call(&self, req: &Req, slot: u16) -> Routed {
        self.refresh_if_stale().await;
        let e = self.execute(req, slot).await;
        if !matches!(e.outcome, Outcome::Ok) {
            self.distrust();
        }
        e
    }

    /// A read of `slot` from a replica of its primary among `near` (the
    /// announced addresses of the reader's region), `READONLY` sent with it;
    /// from the primary, as [`Router::call`], when the slot's primary has no
    /// replica there or the replica redirects (it no longer serves the slot).
    pub async fn call_near(&self, req: &Req, slot: u16, near: &[SocketAddr]) -> Routed {
        self.refresh_if_stale().await;
        let replica = {
            let st = self.state();
            let owner = st.owner[usize::from(slot)];
            st.replicas.get(&owner).and_then(|rs| {
                rs.iter()
                    .map(|&r| usize::from(r))
                    .find(|&r| near.contains(&st.nodes[r].announce))
            })
        };
        let (Some(i), Req::One(cmd)) = (replica, req) else {
            return self.call(req, slot).await;
        };
        let name = self.node_name(i);
        let (generation, mut conn) = match self.conn(i).await {
            Ok(c) => c,
            Err(_) => {
                self.distrust();
                return self.call(req, slot).await;
            }
        };
        let mut p = redis::pipe();
        p.cmd("READONLY").ignore();
        p.add_command(cmd.clone());
        let sent = tokio::time::timeout(self.timeout, p.query_async::<Vec<Value>>(&mut conn)).await;
        match sent {
            Ok(Ok(mut v)) if v.len() == 1 => Routed {
                outcome: Outcome::Ok,
                value: v.remove(0),
                node: Some(name),
                redirects: 0,
                served: Some((i, generation)),
            },
            Ok(Err(e)) if e.redirect_node().is_some() => {
                // A replica of another primary now: read the map again.
                self.distrust();
                self.call(req, slot).await
            }
            Ok(Err(err)) => {
                if err.is_io_error() {
                    self.connection_failed(i, generation);
                }
                self.distrust();
                Routed {
                    outcome: self.outcome_of(&SendError { err, sent: true }),
                    value: Value::Nil,
                    node: Some(name),
                    redirects: 0,
                    served: None,
                }
            }
            Ok(Ok(_)) | Err(_) => {
                self.connection_failed(i, generation);
                self.distrust();
                Routed {
                    outcome: Outcome::Indeterminate {
                        message: "timeout".into(),
                    },
                    value: Value::Nil,
                    node: Some(name),
                    redirects: 0,
                    served: None,
                }
            }
        }
    }

    /// Whether node `i` answered a read of `slot` as a replica: it is not
    /// the slot's primary in the router's map.
    pub fn is_replica_read(&self, i: usize, slot: u16) -> bool {
        let st = self.state();
        let owner = st.owner[usize::from(slot)];
        owner != NONE && usize::from(owner) != i
    }

    /// `WAIT replicas timeout_ms` on the connection to node `i` — the one that
    /// just served this client's write, so WAIT counts that write.
    pub async fn wait(
        &self,
        (i, generation): (usize, u64),
        replicas: u32,
        timeout_ms: u64,
    ) -> Result<u32, RedisError> {
        // WAIT counts the replicas that have every write of *its*
        // connection: on any other (one opened since, after an error) it
        // has nothing to wait for and reports every replica at once.
        let conn = {
            let st = self.state();
            let n = &st.nodes[i];
            n.conn.clone().filter(|_| n.generation == generation)
        };
        let Some(mut conn) = conn else {
            return Err(RedisError::from((
                redis::ErrorKind::Io,
                "WAIT",
                "the connection that carried the write was closed before WAIT could be sent on it"
                    .to_string(),
            )));
        };
        let n: i64 = redis::cmd("WAIT")
            .arg(replicas)
            .arg(timeout_ms)
            .query_async(&mut conn)
            .await?;
        Ok(u32::try_from(n).unwrap_or(0))
    }

    fn outcome_of(&self, e: &SendError) -> Outcome {
        let outcome = classify(&e.err, e.sent);
        if let Outcome::Fail {
            kind: ErrorKind::ClusterDown | ErrorKind::TryAgain | ErrorKind::ReadOnly,
            ..
        } = outcome
        {
            self.stale.store(true, Ordering::Relaxed);
        }
        outcome
    }

    /// One request to node `i` (with ASKING first when `asking`). A
    /// transaction goes as a plain pipeline, so that a command it could not
    /// queue (MOVED, ASK) is the error rather than EXEC's EXECABORT.
    async fn send(&self, i: usize, req: &Req, asking: bool) -> Result<(Value, u64), SendError> {
        let (generation, mut conn) = match self.conn(i).await {
            Ok(c) => c,
            Err(err) => {
                self.stale.store(true, Ordering::Relaxed);
                return Err(SendError { err, sent: false });
            }
        };
        let r = match (req, asking) {
            (Req::One(cmd), false) => cmd.query_async::<Value>(&mut conn).await,
            _ => {
                let mut p = redis::pipe();
                if asking {
                    p.cmd("ASKING").ignore();
                }
                for c in req.plain().0.cmd_iter() {
                    p.add_command(c.clone());
                }
                p.ignore_errors();
                p.query_async::<Vec<Value>>(&mut conn)
                    .await
                    .and_then(reply_of)
            }
        };
        r.map(|v| (v, generation)).map_err(|err| {
            if err.is_io_error() {
                self.connection_failed(i, generation);
            }
            SendError { err, sent: true }
        })
    }

    /// Run `cmds` (each with its slot), pipelined per owner, following MOVED
    /// and ASK for up to [`PIPELINE_ROUNDS`] rounds. One result per command, in order.
    pub async fn pipelined(&self, cmds: &[(u16, Cmd)]) -> Vec<Result<Value, RedisError>> {
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
                let (generation, conn) = match self.conn(node).await {
                    Ok(c) => c,
                    Err(e) => {
                        for i in idx {
                            results[i] = Some(Err(e.clone()));
                        }
                        continue;
                    }
                };
                sends.push(send_chunks(conn, (node, generation), asking, idx, cmds));
            }
            pending.clear();
            for ((node, generation), replies) in futures::future::join_all(sends).await {
                for (i, r) in replies {
                    match r {
                        Err(e)
                            if e.kind()
                                == redis::ErrorKind::Server(redis::ServerErrorKind::Moved) =>
                        {
                            match self.redirect_target(&e) {
                                Ok(t) => {
                                    self.set_owner(cmds[i].0, t);
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
                                self.connection_failed(node, generation);
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
    node: (usize, u64),
    asking: bool,
    idx: Vec<usize>,
    cmds: &[(u16, Cmd)],
) -> ((usize, u64), Vec<(usize, Result<Value, RedisError>)>) {
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

impl Routed {
    fn ok(value: Value, node: Option<String>, redirects: u32, served: (usize, u64)) -> Routed {
        Routed {
            outcome: Outcome::Ok,
            value,
            node,
            redirects,
            served: Some(served),
        }
    }

    fn failed(node: Option<String>, redirects: u32, kind: ErrorKind, message: String) -> Routed {
        Routed {
            outcome: Outcome::Fail { kind, message },
            value: Value::Nil,
            node,
            redirects,
            served: None,
        }
    }
}

/// Open a multiplexed connection to a loopback address (from the thread's
/// region, when it has one: [`crate::net::dial`]).
async fn open(
    addr: SocketAddr,
    config: &AsyncConnectionConfig,
    timeout: Duration,
) -> Result<MultiplexedConnection, RedisError> {
    crate::net::dial::multiplexed(addr, config, timeout).await
}
