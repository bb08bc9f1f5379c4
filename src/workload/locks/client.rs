//! The lock client. A single-instance lock and Redlock are one algorithm
//! over N instances: one round sends the grant script to every instance at
//! once, counts the instances that set the key, and holds the lock when a
//! quorum did (all of one; N/2 + 1 of N) with validity left — validity being
//! TTL − the round's duration − drift. A round that fails releases whatever
//! it took, on every instance (a reply lost on the way may have set the key).
//!
//! The scripts:
//! - **grant**: `SET lock token NX PX ttl`, and when it set the key,
//!   `INCR` the fencing counter kept beside it, in one script so that no
//!   other grant can come between the two (the holder's fencing token is
//!   that counter);
//! - **release**: compare-and-delete — `DEL` only when the key still holds
//!   this grant's token;
//! - **extend**: compare-and-`PEXPIRE`, the same way.
//!
//! Each worker has its own connection to each instance, bounded by the
//! instance timeout; a connection that failed is dropped and opened again on
//! its next use, so a killed and restarted instance is found again.
//!
//! A single-instance lock on a replicated topology follows the primary of
//! the moment, as a failover-aware client does: after any error from its
//! instance (a lost connection, a timeout, `READONLY` from a demoted
//! primary), the next round first reads `ROLE` on every node of the group
//! and moves to the primary [`replication::current_primary`] names; a
//! release or an extension that got such an error is sent again to the
//! promoted primary at once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Cmd, RedisError};

use super::spec::LockSpec;
use crate::cluster::AddressMap;
use crate::cluster::replication::{self, NodeRole};
use crate::record::locks::AttemptOutcome;
use crate::record::timeline::Clock;
use crate::workload::spec::WaitSpec;

/// How long each instance's first connection may take, before the drill.
const START_CONNECT: Duration = Duration::from_secs(5);

/// Looks for the primary of the moment a release or an extension makes
/// after an error, at most (one instance timeout apart, within the TTL).
const FOLLOW_ATTEMPTS: u32 = 10;

/// KEYS[1] the lock, KEYS[2] its fencing counter; ARGV[1] the token,
/// ARGV[2] the TTL (ms). Returns the new counter, or nil when the lock is
/// taken.
const GRANT_LUA: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false
";

/// KEYS[1] the lock; ARGV[1] the token. 1 when it deleted the key (the
/// stampede workload's locks are released with it too).
pub(crate) const RELEASE_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// KEYS[1] the lock; ARGV[1] the token, ARGV[2] the TTL (ms). 1 when it
/// extended the key.
const EXTEND_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// `EVAL script numkeys keys… args…`. The script's text travels with each
/// call (a few hundred bytes); the server compiles it once and keeps it, and
/// an instance restarted without persistence needs nothing loaded again.
fn eval(script: &str, keys: &[&str], args: &[&str]) -> Cmd {
    let mut c = redis::cmd("EVAL");
    c.arg(script).arg(keys.len()).arg(keys).arg(args);
    c
}

/// The Redis keys of lock `n`: the lock and its fencing counter share a hash
/// tag, so both sit in one slot where a cluster holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LockKeys {
    pub lock: String,
    pub fence: String,
}

impl LockKeys {
    /// The keys of lock `n`.
    pub fn of(n: u32) -> LockKeys {
        LockKeys {
            lock: format!("drill:lock:{{{n}}}"),
            fence: format!("drill:lock:{{{n}}}:fence"),
        }
    }
}

/// One instance, as one worker reaches it.
struct Instance {
    name: String,
    addr: SocketAddr,
    timeout: Duration,
    conn: Option<MultiplexedConnection>,
    /// An error since the last round: a client that follows the primary
    /// looks for it again before the next one.
    failed: bool,
}

/// A command that got no value back.
pub(crate) struct Failed {
    /// A short label for the history.
    pub label: String,
    /// No answer came: the command may have been applied.
    pub maybe_applied: bool,
}

/// What one instance said to a command.
enum Said<T> {
    Value(T),
    /// No answer, or not a yes or no: a short label for the history.
    Error(String),
}

impl Instance {
    fn new(node: &crate::cluster::MappedNode, timeout: Duration) -> Instance {
        Instance {
            name: node.name.clone(),
            addr: node.addr,
            timeout,
            conn: None,
            failed: false,
        }
    }

    /// The connection, opened within the instance timeout when there is
    /// none (a reconnection during the drill is part of what it measures).
    async fn connection(&mut self) -> Result<MultiplexedConnection, String> {
        self.connection_within(self.timeout).await
    }

    async fn connection_within(
        &mut self,
        bound: Duration,
    ) -> Result<MultiplexedConnection, String> {
        if let Some(c) = &self.conn {
            return Ok(c.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(bound))
            // Each command has its own bound (WAIT's is longer).
            .set_response_timeout(None);
        let c = tokio::time::timeout(
            bound,
            crate::net::dial::multiplexed(self.addr, &config, bound),
        )
        .await
        .map_err(|_| "connect: timeout".to_string())?
        .map_err(|e| format!("connect: {}", label(&e)))?;
        self.conn = Some(c.clone());
        Ok(c)
    }

    /// Run `f` on this instance's connection within `bound`. A failure that
    /// is not the server's answer drops the connection.
    async fn run<T, F, Fut>(&mut self, bound: Duration, f: F) -> Said<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        match self.attempt(bound, f).await {
            Ok(v) => Said::Value(v),
            Err(e) => Said::Error(e.label),
        }
    }

    /// [`Instance::run`], saying of a failure whether the command may have
    /// been applied all the same.
    async fn attempt<T, F, Fut>(&mut self, bound: Duration, f: F) -> Result<T, Failed>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let conn = match self.connection().await {
            Ok(c) => c,
            Err(label) => {
                self.failed = true;
                // Never sent.
                return Err(Failed {
                    label,
                    maybe_applied: false,
                });
            }
        };
        let failed = match tokio::time::timeout(bound, f(conn)).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => {
                // The server's refusal is an answer: nothing was applied.
                let answered = matches!(e.kind(), redis::ErrorKind::Server(_));
                if !answered {
                    self.conn = None;
                }
                Failed {
                    label: label(&e),
                    maybe_applied: !answered,
                }
            }
            Err(_) => {
                self.conn = None;
                Failed {
                    label: "timeout".into(),
                    maybe_applied: true,
                }
            }
        };
        self.failed = true;
        Err(failed)
    }

    /// This node's `ROLE`, named through `map`; `None` when it did not say.
    async fn role(&mut self, map: &AddressMap) -> Option<NodeRole> {
        let said = self
            .run(self.timeout, |mut c| async move {
                redis::cmd("ROLE").query_async::<redis::Value>(&mut c).await
            })
            .await;
        match said {
            Said::Value(v) => replication::parse_role(&v)
                .ok()
                .map(|reply| NodeRole::of(&self.name, reply, map)),
            Said::Error(_) => None,
        }
    }

    /// The grant script, then WAIT when asked: the new fencing counter when
    /// this instance granted.
    async fn grant(
        &mut self,
        keys: &LockKeys,
        token: &str,
        ttl_ms: u64,
        wait: Option<WaitSpec>,
    ) -> Said<Option<u64>> {
        let bound = self.timeout;
        let granted = self
            .run(bound, |mut c| async move {
                eval(
                    GRANT_LUA,
                    &[&keys.lock, &keys.fence],
                    &[token, &ttl_ms.to_string()],
                )
                .query_async::<Option<u64>>(&mut c)
                .await
            })
            .await;
        let (Said::Value(Some(fence)), Some(w)) = (&granted, wait) else {
            return granted;
        };
        let fence = *fence;
        let bound = self.timeout + Duration::from_millis(w.timeout_ms);
        let waited = self
            .run(bound, |mut c| async move {
                redis::cmd("WAIT")
                    .arg(w.replicas)
                    .arg(w.timeout_ms)
                    .query_async::<u32>(&mut c)
                    .await
            })
            .await;
        match waited {
            Said::Value(n) if n >= w.replicas => Said::Value(Some(fence)),
            Said::Value(n) => Said::Error(format!("wait: {n} of {} replicas", w.replicas)),
            Said::Error(e) => Said::Error(format!("wait: {e}")),
        }
    }

    /// A compare-and-something script: whether it acted.
    async fn compare(&mut self, script: &str, keys: &LockKeys, args: &[String]) -> Said<bool> {
        let bound = self.timeout;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd = eval(script, &[&keys.lock], &args);
        self.run(bound, |mut c| async move {
            cmd.query_async::<i64>(&mut c).await.map(|n| n == 1)
        })
        .await
    }
}

/// A short label for a failure, for the history.
fn label(e: &RedisError) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connection_refusal() {
        "refused".into()
    } else if e.is_connection_dropped() || e.is_io_error() {
        "connection lost".into()
    } else if let Some(code) = e.code() {
        code.to_string()
    } else {
        e.to_string()
    }
}

/// One round of acquisition, as it went.
#[derive(Debug)]
pub(crate) struct Round {
    pub start_ns: u64,
    /// When every instance had answered (or timed out): the grant, if any.
    pub decided_ns: u64,
    /// After the release of a failed round.
    pub end_ns: u64,
    pub outcome: AttemptOutcome,
    pub granted_on: Vec<String>,
    pub errors: BTreeMap<String, String>,
    /// The highest fencing counter of the instances that granted.
    pub fence: Option<u64>,
    /// TTL − the round's duration − drift, ns from `decided_ns` (0 when none).
    pub validity_ns: u64,
}

/// A compare-and-delete or compare-and-extend on every instance.
#[derive(Debug)]
pub(crate) struct Compared {
    pub start_ns: u64,
    pub end_ns: u64,
    pub on: Vec<String>,
    pub errors: BTreeMap<String, String>,
    /// The promoted primary it was sent to again after an error, if any.
    pub followed_to: Option<String>,
}

/// Where the lock lives.
#[derive(Debug, Clone)]
pub enum LockTarget {
    /// These nodes, in order: the one instance of a single-instance lock, or
    /// Redlock's N.
    Instances(AddressMap),
    /// One instance, the primary of the moment among the nodes of `group`
    /// (a replicated topology): `initial` first, then whichever node `ROLE`
    /// shows promoted after an error.
    PrimaryOf { group: AddressMap, initial: String },
}

impl LockTarget {
    /// The instances the lock starts on, by name.
    pub fn initial(&self) -> Vec<String> {
        match self {
            LockTarget::Instances(m) => m.nodes().iter().map(|n| n.name.clone()).collect(),
            LockTarget::PrimaryOf { initial, .. } => vec![initial.clone()],
        }
    }
}

/// The nodes a client that follows the primary reads `ROLE` on.
struct Group {
    map: AddressMap,
    nodes: Vec<Instance>,
}

/// One worker's lock client.
pub(crate) struct LockClient {
    instances: Vec<Instance>,
    /// Following the primary of a replicated group, when the lock does.
    group: Option<Group>,
    quorum: usize,
    ttl: Duration,
    drift: Duration,
    wait: Option<WaitSpec>,
    clock: Clock,
}

impl LockClient {
    /// A client of `target`. Connections open on first use.
    pub fn new(target: &LockTarget, spec: &LockSpec, clock: Clock) -> LockClient {
        let timeout = spec.instance_timeout();
        let all = |map: &AddressMap| -> Vec<Instance> {
            map.nodes()
                .iter()
                .map(|n| Instance::new(n, timeout))
                .collect()
        };
        let (instances, group) = match target {
            LockTarget::Instances(map) => (all(map), None),
            LockTarget::PrimaryOf { group, initial } => (
                all(&group.subset(&[initial.as_str()])),
                Some(Group {
                    map: group.clone(),
                    nodes: all(group),
                }),
            ),
        };
        LockClient {
            quorum: spec.quorum(instances.len()),
            instances,
            group,
            ttl: spec.ttl(),
            drift: spec.drift(),
            wait: spec.wait,
            clock,
        }
    }

    /// Open every connection now; the instances that could not be reached.
    /// Open every instance's connection before the workers start, each
    /// within [`START_CONNECT`] rather than the instance timeout (tens of
    /// ms, which a busy machine's first connect can miss): setting up is
    /// not what a drill measures.
    pub async fn connect(&mut self) -> Vec<(String, String)> {
        let tried = futures::future::join_all(self.instances.iter_mut().map(|i| async move {
            (i.connection_within(START_CONNECT).await.err()).map(|e| (i.name.clone(), e))
        }))
        .await;
        tried.into_iter().flatten().collect()
    }

    /// TTL − elapsed − drift, ns (0 when nothing is left).
    fn validity_ns(&self, elapsed: Duration) -> u64 {
        self.ttl
            .checked_sub(elapsed + self.drift)
            .map_or(0, |d| d.as_nanos() as u64)
    }

    /// One round: the grant script on every instance at once. A round
    /// without a quorum, or without validity left, is undone on every instance.
    pub async fn try_lock(&mut self, keys: &LockKeys, token: &str) -> Round {
        self.follow().await;
        let started = Instant::now();
        let start_ns = self.clock.ns(started);
        let ttl_ms = self.ttl.as_millis() as u64;
        let wait = self.wait;
        let said =
            futures::future::join_all(self.instances.iter_mut().map(|i| async move {
                (i.name.clone(), i.grant(keys, token, ttl_ms, wait).await)
            }))
            .await;
        let decided = Instant::now();
        let mut round = Round {
            start_ns,
            decided_ns: self.clock.ns(decided),
            end_ns: 0,
            outcome: AttemptOutcome::NoQuorum,
            granted_on: Vec::new(),
            errors: BTreeMap::new(),
            fence: None,
            validity_ns: 0,
        };
        for (name, s) in said {
            match s {
                Said::Value(Some(fence)) => {
                    round.granted_on.push(name);
                    round.fence = round.fence.max(Some(fence));
                }
                Said::Value(None) => {}
                Said::Error(e) => {
                    round.errors.insert(name, e);
                }
            }
        }
        let validity = self.validity_ns(decided - started);
        round.outcome = match (round.granted_on.len() >= self.quorum, validity > 0) {
            (true, true) => AttemptOutcome::Granted,
            (true, false) => AttemptOutcome::Expired,
            (false, _) => AttemptOutcome::NoQuorum,
        };
        if round.outcome == AttemptOutcome::Granted {
            round.validity_ns = validity;
        } else if !round.granted_on.is_empty() || !round.errors.is_empty() {
            // What it took, and what it may have taken with a lost reply.
            self.unlock(keys, token).await;
        }
        round.end_ns = self.clock.now_ns();
        round
    }

    /// After an error from the instance, find the primary of the moment
    /// (`ROLE` on every node of the group) and move to it. Nothing to do
    /// for a fixed set of instances, or when nothing failed. False when no
    /// node said it is the primary (none answered within the instance
    /// timeout, or the promotion is not done yet).
    async fn follow(&mut self) -> bool {
        let Some(group) = self.group.as_mut() else {
            return true;
        };
        let Some(current) = self.instances.first_mut().filter(|i| i.failed) else {
            return true;
        };
        let map = &group.map;
        let roles: Vec<NodeRole> =
            futures::future::join_all(group.nodes.iter_mut().map(|n| n.role(map)))
                .await
                .into_iter()
                .flatten()
                .collect();
        // No primary to be seen: look again after the next error.
        let Some(primary) = replication::current_primary(&roles, Some(&current.name)) else {
            return false;
        };
        current.failed = false;
        if primary == current.name {
            return true;
        }
        if let Some(node) = map.nodes().iter().find(|n| n.name == primary) {
            tracing::info!(from = %current.name, to = primary, "the lock follows the primary");
            *current = Instance::new(node, current.timeout);
        }
        true
    }

    /// Compare-and-delete on every instance.
    pub async fn unlock(&mut self, keys: &LockKeys, token: &str) -> Compared {
        self.compare_all(RELEASE_LUA, keys, &[token.to_string()])
            .await
    }

    /// Compare-and-PEXPIRE on every instance; with the validity it gives
    /// (ns from `end_ns`; 0 without a quorum).
    pub async fn extend(&mut self, keys: &LockKeys, token: &str) -> (Compared, u64) {
        let started = Instant::now();
        let args = [token.to_string(), self.ttl.as_millis().to_string()];
        let done = self.compare_all(EXTEND_LUA, keys, &args).await;
        let validity = self.validity_ns(started.elapsed());
        let ok = done.on.len() >= self.quorum;
        (done, if ok { validity } else { 0 })
    }

    /// `cmd` on the first instance (the one a single-instance lock and its
    /// counters live on, followed to the primary of the moment), within the
    /// instance timeout: its answer, or what went wrong and whether the
    /// command may have been applied all the same (no answer came).
    pub async fn on_first<T>(&mut self, cmd: Cmd) -> Result<T, Failed>
    where
        T: redis::FromRedisValue + Send + 'static,
    {
        self.follow().await;
        let Some(i) = self.instances.first_mut() else {
            return Err(Failed {
                label: "no instance".into(),
                maybe_applied: false,
            });
        };
        let bound = i.timeout;
        i.attempt(
            bound,
            |mut c| async move { cmd.query_async::<T>(&mut c).await },
        )
        .await
    }

    /// A compare-and-something on every instance. A client that follows
    /// the primary and got an error (`READONLY` from a demoted primary, a
    /// lost connection) looks for the primary of the moment and, when it
    /// moved, sends it there too: a release that stopped at the old primary
    /// would leave the holder's key on the promoted one, replicated before
    /// the failover, and every waiter would wait out its TTL. Compare-and-
    /// delete touches only this grant's key, so the second try is safe.
    async fn compare_all(&mut self, script: &str, keys: &LockKeys, args: &[String]) -> Compared {
        let first = self.compare_once(script, keys, args).await;
        if self.group.is_none() || first.errors.is_empty() {
            return first;
        }
        let before = self.instances.first().map(|i| i.name.clone());
        // Look for the primary until one answers, while the key could still
        // be live (its TTL from the first try): a release that gave up
        // because no node answered ROLE within the instance timeout — a
        // busy machine, a promotion under way — would leave the key on the
        // promoted primary for every waiter to wait out.
        let started = Instant::now();
        for attempt in 0..FOLLOW_ATTEMPTS {
            if self.follow().await {
                break;
            }
            let pause = self.instances.first().map_or(Duration::ZERO, |i| i.timeout);
            if attempt + 1 == FOLLOW_ATTEMPTS || started.elapsed() + pause >= self.ttl {
                break;
            }
            tokio::time::sleep(pause).await;
        }
        if self.instances.first().map(|i| &i.name) == before.as_ref() {
            return first;
        }
        let again = self.compare_once(script, keys, args).await;
        let mut errors = first.errors;
        errors.extend(again.errors);
        Compared {
            start_ns: first.start_ns,
            end_ns: again.end_ns,
            on: again.on,
            errors,
            followed_to: self.instances.first().map(|i| i.name.clone()),
        }
    }

    async fn compare_once(&mut self, script: &str, keys: &LockKeys, args: &[String]) -> Compared {
        let start_ns = self.clock.now_ns();
        let said = futures::future::join_all(
            self.instances
                .iter_mut()
                .map(|i| async move { (i.name.clone(), i.compare(script, keys, args).await) }),
        )
        .await;
        let mut done = Compared {
            start_ns,
            end_ns: self.clock.now_ns(),
            on: Vec::new(),
            errors: BTreeMap::new(),
            followed_to: None,
        };
        for (name, s) in said {
            match s {
                Said::Value(true) => done.on.push(name),
                Said::Value(false) => {}
                Said::Error(e) => {
                    done.errors.insert(name, e);
                }
            }
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_and_its_counter_share_a_slot() {
        let k = LockKeys::of(7);
        assert_eq!(k.lock, "drill:lock:{7}");
        assert_eq!(k.fence, "drill:lock:{7}:fence");
        assert_eq!(
            crate::slots::key_slot(k.lock.as_bytes()),
            crate::slots::key_slot(k.fence.as_bytes())
        );
    }

    #[test]
    fn validity_is_the_ttl_less_the_round_and_the_drift() {
        let spec = LockSpec {
            ttl_ms: 1000,
            ..Default::default()
        };
        let c = LockClient::new(
            &LockTarget::Instances(AddressMap::new()),
            &spec,
            Clock::start(),
        );
        // 1000 − 100 − (10 + 2) ms.
        assert_eq!(c.validity_ns(Duration::from_millis(100)), 888_000_000);
        assert_eq!(c.validity_ns(Duration::from_millis(990)), 0);
    }
}
