//! Classic replication (`kind: replicated`): each node's role as it reports
//! it (`ROLE`), the failover of a primary to one of its replicas, and the
//! wait until replication is whole again. What [`super::failover`] and
//! [`super::admin::wait_converged`] are to a cluster.
//!
//! A replicated topology has no agreement protocol: after a failover nothing
//! makes the other replicas follow the new primary, and nothing stops the old
//! one from taking writes. So a failover here is the orchestrator's whole job,
//! done the two ways operators do it:
//!
//! - **default** — Redis's own coordinated `FAILOVER TO host port` on the
//!   primary: it pauses writes, waits until the replica has every write,
//!   then swaps roles. No acknowledged write is lost. The other replicas are
//!   then pointed at the new primary.
//! - **force** — `REPLICAOF NO ONE` on the replica at once (what a script or
//!   an operator does when the primary looks dead), then the other replicas
//!   and the old primary (when it answers) are pointed at it. Writes the old
//!   primary acknowledged after the replica stopped following it are lost
//!   when it resyncs: that is what a drill measures.

use std::time::{Duration, Instant};

use redis::Value;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::conn::{AddressMap, ConnectOptions, NodeConn, TimeBox};
use super::error::ClusterError;
use super::failover::{FailoverMode, FailoverReport};
use super::role::{ROLE_POLL, wait_primary};
pub use super::role::{RoleReply, parse_role};
use crate::record::watch::Role;

/// One node's role, named through the address map.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRole {
    pub name: String,
    /// Why it could not be read; the fields below are empty then.
    pub error: Option<String>,
    pub role: Option<Role>,
    /// For a replica: its primary's name.
    pub primary: Option<String>,
    /// For a replica: whether its link to the primary is up.
    pub connected: bool,
    /// The primary's offset, or what a connected replica has processed.
    pub offset: Option<u64>,
    /// For a primary: the replicas it serves, by name.
    pub replicas: Vec<String>,
}

/// `ROLE` on every node of `map` at once; a node that cannot be read has an
/// error and no role.
pub async fn roles(map: &AddressMap, connect: ConnectOptions) -> Vec<NodeRole> {
    futures::future::join_all(map.nodes().iter().map(|n| async move {
        let read = async {
            let mut c = NodeConn::connect(&n.name, n.addr, connect).await?;
            let v: Value = c.run(&redis::cmd("ROLE")).await?;
            parse_role(&v).map_err(|detail| c.reply_error("ROLE", detail))
        };
        match read.await {
            Ok(reply) => NodeRole::of(&n.name, reply, map),
            Err(e) => NodeRole {
                name: n.name.clone(),
                error: Some(super::error::error_chain(&e)),
                role: None,
                primary: None,
                connected: false,
                offset: None,
                replicas: Vec::new(),
            },
        }
    }))
    .await
}

impl NodeRole {
    /// `name`'s role from its `ROLE` reply, with addresses named through `map`.
    pub fn of(name: &str, reply: RoleReply, map: &AddressMap) -> NodeRole {
        let mut r = NodeRole {
            name: name.to_string(),
            error: None,
            role: None,
            primary: None,
            connected: false,
            offset: None,
            replicas: Vec::new(),
        };
        match reply {
            RoleReply::Primary { offset, replicas } => {
                r.role = Some(Role::Primary);
                r.offset = Some(offset);
                r.replicas = replicas
                    .into_iter()
                    .map(|(a, _)| map.name_of_announce(a))
                    .collect();
            }
            RoleReply::Replica {
                primary,
                connected,
                offset,
            } => {
                r.role = Some(Role::Replica);
                r.primary = Some(map.name_of_announce(primary));
                r.connected = connected;
                r.offset = offset;
            }
        }
        r
    }
}

/// The primary that clients should write to, from every node's role: the
/// one serving the most replicas, so that an old primary that has not been
/// demoted yet (it serves none once they follow the new one) loses; among
/// equals, `current`, so that clients do not flap. `None` when no node
/// reports itself primary. Pure.
pub fn current_primary<'a>(roles: &'a [NodeRole], current: Option<&str>) -> Option<&'a str> {
    roles
        .iter()
        .filter(|r| r.role == Some(Role::Primary))
        .max_by_key(|r| (r.replicas.len(), Some(r.name.as_str()) == current))
        .map(|r| r.name.as_str())
}

/// Fail the primary of `node` over to `node` (a replica), as `mode` says
/// (see the module's doc), then point every other replica of the old
/// primary at it. Waits up to `timeout` for `node` to report itself primary.
pub async fn failover(
    map: &AddressMap,
    node: &str,
    mode: FailoverMode,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<FailoverReport, ClusterError> {
    if mode == FailoverMode::Takeover {
        return Err(ClusterError::BadInput(
            "takeover is a cluster failover (no election); a replicated topology fails over with `default` (coordinated FAILOVER) or `force` (REPLICAOF NO ONE)".into(),
        ));
    }
    let connect = ConnectOptions::default();
    let target = map
        .nodes()
        .iter()
        .find(|n| n.name == node)
        .ok_or_else(|| ClusterError::BadInput(format!("no node named `{node}`")))?;
    let before = roles(map, connect).await;
    let me = before.iter().find(|r| r.name == node).expect("in the map");
    let old = match (&me.role, &me.primary) {
        (Some(Role::Replica), Some(p)) => p.clone(),
        _ => {
            return Err(ClusterError::BadInput(format!(
                "{node} is not a replica{}: a failover is asked of the replica that should take over",
                me.error
                    .as_ref()
                    .map(|e| format!(" (it could not be read: {e})"))
                    .unwrap_or_default()
            )));
        }
    };
    let bound = TimeBox::new(timeout, cancel, "fail the primary over");
    let started = Instant::now();
    let mut conn = NodeConn::connect(node, target.addr, connect).await?;
    match mode {
        FailoverMode::Default => {
            let primary = map.nodes().iter().find(|n| n.name == old).ok_or_else(|| {
                ClusterError::BadInput(format!("{node}'s primary {old} is unknown"))
            })?;
            let mut p = NodeConn::connect(&primary.name, primary.addr, connect).await?;
            // Redis gives up (and lets writes go on) after its own timeout,
            // well inside ours.
            let redis_timeout = (timeout / 2).as_millis().max(1) as u64;
            let _: () = p
                .run(
                    redis::cmd("FAILOVER")
                        .arg("TO")
                        .arg(target.announce.ip().to_string())
                        .arg(target.announce.port())
                        .arg("TIMEOUT")
                        .arg(redis_timeout),
                )
                .await?;
        }
        _ => {
            let _: () = conn
                .run(redis::cmd("REPLICAOF").arg("NO").arg("ONE"))
                .await?;
        }
    }
    wait_primary(&mut conn, &bound, &format!("{node} is still a replica")).await?;
    let promoted_ms = started.elapsed().as_secs_f64() * 1000.0;
    // The others follow the new primary; the old one too after a forced
    // failover (a coordinated one made it a replica already). A node that
    // does not answer (down, paused) keeps its old primary: it is pointed
    // again when it is back (see `repoint`).
    let others: Vec<&str> = before
        .iter()
        .filter(|r| r.name != node)
        .filter(|r| r.primary.as_deref() == Some(old.as_str()) || r.name == old)
        .map(|r| r.name.as_str())
        .collect();
    repoint(map, node, &others, connect).await;
    Ok(FailoverReport {
        node: node.to_string(),
        mode,
        old_primary: Some(old),
        promoted_ms,
    })
}

/// Point every node of `nodes` at `primary` (`REPLICAOF host port`); nodes
/// that do not answer are skipped and logged.
pub async fn repoint(map: &AddressMap, primary: &str, nodes: &[&str], connect: ConnectOptions) {
    let Some(p) = map.nodes().iter().find(|n| n.name == primary) else {
        return;
    };
    let (host, port) = (p.announce.ip().to_string(), p.announce.port());
    let sends = nodes.iter().filter_map(|name| {
        let n = map.nodes().iter().find(|n| n.name == *name)?;
        let (host, name) = (host.clone(), n.name.clone());
        Some(async move {
            let r = async {
                let mut c = NodeConn::connect(&name, n.addr, connect).await?;
                c.run::<()>(redis::cmd("REPLICAOF").arg(&host).arg(port))
                    .await
            };
            if let Err(e) = r.await {
                tracing::warn!(node = %name, %primary, "could not point it at the new primary: {e}");
            }
        })
    });
    futures::future::join_all(sends).await;
}

/// What [`wait_replicated`] saw when replication was whole.
#[derive(Debug, Clone, Serialize)]
pub struct Replicated {
    pub primary: String,
    pub polls: usize,
    pub elapsed: Duration,
}

/// The Sentinels a wait for whole replication also asks: the name they
/// watch the primary by and the Sentinels (names in the map) that are up.
#[derive(Debug, Clone, Copy)]
pub struct SentinelsToAsk<'a> {
    pub master_name: &'a str,
    pub names: &'a [String],
}

/// One Sentinel's `SENTINEL MASTER <name>`: the primary it names (a node
/// name through the map) and its flags (`master` alone when it sees the
/// primary up and no failover of its own under way).
#[derive(Debug, Clone, PartialEq)]
pub struct SentinelView {
    pub name: String,
    /// Why it could not be read; the fields below are empty then.
    pub error: Option<String>,
    pub primary: Option<String>,
    pub flags: Option<String>,
}

/// `SENTINEL MASTER` on each Sentinel of `ask` at once, in `ask`'s order;
/// one the map does not hold is a view with an error (never left out: a
/// wait that asked nobody would pass).
pub async fn sentinel_views(
    map: &AddressMap,
    ask: SentinelsToAsk<'_>,
    connect: ConnectOptions,
) -> Vec<SentinelView> {
    futures::future::join_all(ask.names.iter().map(|name| async move {
        let Some(s) = map.sentinels().iter().find(|s| &s.name == name) else {
            return SentinelView {
                name: name.clone(),
                error: Some("not among the address map's Sentinels".into()),
                primary: None,
                flags: None,
            };
        };
        let read = async {
            let mut c = NodeConn::connect(&s.name, s.addr, connect).await?;
            c.run::<Vec<String>>(redis::cmd("SENTINEL").arg("MASTER").arg(ask.master_name))
                .await
        };
        match read.await {
            Ok(kv) => {
                let get = |k: &str| kv.chunks(2).find(|p| p[0] == k).and_then(|p| p.get(1));
                let primary = match (get("ip"), get("port")) {
                    (Some(ip), Some(port)) => Some(
                        format!("{ip}:{port}")
                            .parse::<std::net::SocketAddr>()
                            .map_or_else(|_| format!("{ip}:{port}"), |a| map.name_of_announce(a)),
                    ),
                    _ => None,
                };
                SentinelView {
                    name: s.name.clone(),
                    error: None,
                    primary,
                    flags: get("flags").cloned(),
                }
            }
            Err(e) => SentinelView {
                name: s.name.clone(),
                error: Some(super::error::error_chain(&e)),
                primary: None,
                flags: None,
            },
        }
    }))
    .await
}

/// What keeps the Sentinels from agreeing with whole replication under
/// `primary` (empty: nothing): each one that answers names it, sees it up
/// and has no failover under way (flags `master`, as after bring-up). A
/// Sentinel that cannot be read is pending too: it may be the one about to
/// promote a replica. (A Sentinel in TILT — paused or starved for over 2 s —
/// acts on nothing for 30 s: a flag it had then stays, and the wait with it.)
/// Pure.
pub fn sentinels_pending(views: &[SentinelView], primary: &str) -> Vec<String> {
    let mut out = Vec::new();
    for v in views {
        if let Some(e) = &v.error {
            out.push(format!("{}: {e}", v.name));
        } else if v.primary.as_deref() != Some(primary) {
            out.push(format!(
                "{} names {} as the primary, not {primary}",
                v.name,
                v.primary.as_deref().unwrap_or("nobody")
            ));
        } else if v.flags.as_deref() != Some("master") {
            out.push(format!(
                "{} flags the primary {}",
                v.name,
                v.flags.as_deref().unwrap_or("-")
            ));
        }
    }
    out
}

/// Wait until replication among `nodes` (names in `map`) is whole: exactly
/// one primary, every other node a connected replica of it with the
/// primary's offset — and, with `sentinels`, every one of them naming that
/// primary with no failover under way (a failover the Sentinels decided
/// while a cut held can promote a replica seconds after replication looked
/// whole again). Fails with what still differs when `timeout` runs out.
pub async fn wait_replicated(
    map: &AddressMap,
    nodes: &[String],
    sentinels: Option<SentinelsToAsk<'_>>,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Replicated, ClusterError> {
    let started = Instant::now();
    let bound = TimeBox::new(timeout, cancel, "wait for replication to converge");
    let mut sub = AddressMap::new();
    for n in map.nodes().iter().filter(|n| nodes.contains(&n.name)) {
        sub.insert(&n.name, n.announce, n.addr)?;
    }
    let connect = ConnectOptions {
        connect_timeout: Duration::from_millis(500),
        response_timeout: Duration::from_millis(500),
    };
    let mut pending = vec!["no roles read yet".to_string()];
    // Where the primary was when replication was first seen whole but for
    // the offsets: under steady writes across a link a replica is never at
    // the primary's offset of the same instant, so it has caught up once it
    // reached this mark (and the primary may have moved on meanwhile).
    let mut mark: Option<(String, u64)> = None;
    let max_polls = (timeout.as_millis() / ROLE_POLL.as_millis()).max(1) as usize + 1;
    for poll in 1..=max_polls {
        let read = bound.step("read every node's role", async {
            Ok(roles(&sub, connect).await)
        });
        let roles = read.await?;
        let primary = current_primary(&roles, None).map(str::to_string);
        if mark.as_ref().map(|(p, _)| Some(p)) != Some(primary.as_ref()) {
            mark = primary.as_ref().and_then(|p| {
                let offset = roles.iter().find(|r| &r.name == p)?.offset?;
                Some((p.clone(), offset))
            });
        }
        pending = replication_pending_at(&roles, mark.as_ref().map(|(_, o)| *o));
        if let (true, Some(ask), Some(p)) = (pending.is_empty(), sentinels, &primary) {
            let views = bound.step("ask every Sentinel for the primary", async {
                Ok(sentinel_views(map, ask, connect).await)
            });
            pending = sentinels_pending(&views.await?, p);
        }
        if pending.is_empty() {
            return Ok(Replicated {
                primary: current_primary(&roles, None)
                    .unwrap_or_default()
                    .to_string(),
                polls: poll,
                elapsed: started.elapsed(),
            });
        }
        bound
            .pause(ROLE_POLL, "wait for replication to converge", &pending)
            .await?;
    }
    Err(bound.timed_out("replication to converge", pending))
}

/// What keeps `roles` from being whole replication (empty: nothing): every
/// replica at its primary's offset. Pure.
pub fn replication_pending(roles: &[NodeRole]) -> Vec<String> {
    replication_pending_at(roles, None)
}

/// As [`replication_pending`], but a replica at or past `mark` (an offset
/// the primary had earlier) has caught up. Pure.
pub fn replication_pending_at(roles: &[NodeRole], mark: Option<u64>) -> Vec<String> {
    let mut out = Vec::new();
    for r in roles.iter().filter(|r| r.error.is_some()) {
        out.push(format!("{}: {}", r.name, r.error.as_deref().unwrap_or("")));
    }
    let primaries: Vec<&NodeRole> = roles
        .iter()
        .filter(|r| r.role == Some(Role::Primary))
        .collect();
    let [primary] = primaries.as_slice() else {
        out.push(format!(
            "{} primaries ({})",
            primaries.len(),
            primaries
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return out;
    };
    for r in roles.iter().filter(|r| r.role == Some(Role::Replica)) {
        if r.primary.as_deref() != Some(primary.name.as_str()) {
            out.push(format!(
                "{} replicates {}, not {}",
                r.name,
                r.primary.as_deref().unwrap_or("nobody"),
                primary.name
            ));
        } else if !r.connected {
            out.push(format!("{}: link to {} not up", r.name, primary.name));
        } else if match mark {
            Some(m) => r.offset.is_none_or(|o| o < m),
            None => r.offset != primary.offset,
        } {
            out.push(format!(
                "{}: offset {} behind {}'s {}",
                r.name,
                r.offset.map_or("-".into(), |o| o.to_string()),
                primary.name,
                mark.or(primary.offset)
                    .map_or("-".into(), |o| o.to_string())
            ));
        }
    }
    out
}

/// Wait until every node's `CLUSTER SLOTS` lists, for each slot range, every
/// replica `CLUSTER NODES` shows following its primary (not failed). Redis
/// leaves a replica out of `CLUSTER SLOTS` until its replication offset,
/// as gossiped, is not 0, and a client that reads from replicas (redis-rs's
/// read routing) takes its map from there once: started too early, it reads
/// only primaries, silently. Returns how long it took, or which primary
/// still had a replica missing at `timeout`.
pub async fn wait_replicas_listed(map: &AddressMap, timeout: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let mut last = String::new();
    for _ in 0..1000 {
        match replicas_unlisted(map).await {
            Ok(None) => return Ok(start.elapsed()),
            Ok(Some(why)) | Err(why) => last = why,
        }
        if start.elapsed() >= timeout {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "CLUSTER SLOTS still left a replica out after {:.1} s: {last}",
        timeout.as_secs_f64()
    ))
}

/// `None` when every node's `CLUSTER SLOTS` lists every following replica;
/// else what is missing where.
async fn replicas_unlisted(map: &AddressMap) -> Result<Option<String>, String> {
    for n in map.nodes() {
        let mut c = NodeConn::connect(&n.name, n.addr, ConnectOptions::default())
            .await
            .map_err(|e| super::error::error_chain(&e))?;
        let nodes = c
            .cluster_nodes()
            .await
            .map_err(|e| super::error::error_chain(&e))?;
        let slots: Value = c
            .run(redis::cmd("CLUSTER").arg("SLOTS"))
            .await
            .map_err(|e| super::error::error_chain(&e))?;
        let Value::Array(ranges) = slots else {
            return Err(format!("{}: CLUSTER SLOTS is not an array", n.name));
        };
        for range in ranges {
            let Value::Array(parts) = range else { continue };
            // [start, end, primary, replica…]; each node [ip, port, id, …].
            let id = |v: &Value| match v {
                Value::Array(a) => a.get(2).and_then(|id| match id {
                    Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
                    _ => None,
                }),
                _ => None,
            };
            let Some(primary) = parts.get(2).and_then(id) else {
                continue;
            };
            let listed = parts.len().saturating_sub(3);
            let following = nodes
                .iter()
                .filter(|l| l.primary_id.as_deref() == Some(primary.as_str()))
                .filter(|l| !l.flags.fail && !l.flags.pfail)
                .count();
            if listed < following {
                return Ok(Some(format!(
                    "{} lists {listed} of the {following} replica(s) of {primary}",
                    n.name
                )));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, role: Role, primary: Option<&str>, offset: u64) -> NodeRole {
        NodeRole {
            name: name.into(),
            error: None,
            role: Some(role),
            primary: primary.map(str::to_string),
            connected: primary.is_some(),
            offset: Some(offset),
            replicas: Vec::new(),
        }
    }

    #[test]
    fn the_primary_clients_follow_serves_the_most_replicas() {
        let mut old = role("n1", Role::Primary, None, 10);
        let mut new = role("n2", Role::Primary, None, 10);
        let r = role("n3", Role::Replica, Some("n2"), 10);
        new.replicas = vec!["n3".into()];
        let roles = vec![old.clone(), new.clone(), r.clone()];
        assert_eq!(current_primary(&roles, Some("n1")), Some("n2"));
        // Equal: the current one stays.
        new.replicas.clear();
        let tie = vec![old.clone(), new, r];
        assert_eq!(current_primary(&tie, Some("n1")), Some("n1"));
        assert_eq!(current_primary(&tie, Some("n2")), Some("n2"));
        old.role = Some(Role::Replica);
        assert_eq!(current_primary(&[old], None), None);
    }

    #[test]
    fn replication_is_whole_with_one_primary_and_every_replica_caught_up() {
        let p = role("n2", Role::Primary, None, 50);
        let a = role("n1", Role::Replica, Some("n2"), 50);
        let b = role("n3", Role::Replica, Some("n2"), 50);
        assert!(replication_pending(&[p.clone(), a.clone(), b.clone()]).is_empty());
        let behind = role("n3", Role::Replica, Some("n2"), 40);
        assert_eq!(
            replication_pending(&[p.clone(), a.clone(), behind]),
            ["n3: offset 40 behind n2's 50"]
        );
        let elsewhere = role("n3", Role::Replica, Some("n1"), 50);
        assert_eq!(
            replication_pending(&[p.clone(), a.clone(), elsewhere]),
            ["n3 replicates n1, not n2"]
        );
        let two = role("n1", Role::Primary, None, 50);
        assert_eq!(
            replication_pending(&[p.clone(), two, b]),
            ["2 primaries (n2, n1)"]
        );
        // Against an earlier mark of the primary's (it wrote on meanwhile):
        // a replica at or past the mark has caught up, one short of it not.
        let past = role("n3", Role::Replica, Some("n2"), 45);
        assert!(replication_pending_at(&[p.clone(), a.clone(), past.clone()], Some(45)).is_empty());
        assert_eq!(
            replication_pending_at(&[p, a, past], Some(46)),
            ["n3: offset 45 behind n2's 46"]
        );
    }

    /// Whole replication under n2 is not convergence while a Sentinel names
    /// the old primary, still flags a failover of its own, or cannot be read.
    #[test]
    fn sentinels_agree_only_when_each_names_the_primary_with_nothing_under_way() {
        let view = |name: &str, primary: Option<&str>, flags: Option<&str>| SentinelView {
            name: name.into(),
            error: None,
            primary: primary.map(str::to_string),
            flags: flags.map(str::to_string),
        };
        let agreed = [
            view("sentinel1", Some("n2"), Some("master")),
            view("sentinel2", Some("n2"), Some("master")),
        ];
        assert!(sentinels_pending(&agreed, "n2").is_empty());
        assert_eq!(
            sentinels_pending(&agreed, "n1"),
            [
                "sentinel1 names n2 as the primary, not n1",
                "sentinel2 names n2 as the primary, not n1"
            ]
        );
        let midway = [
            view("sentinel1", Some("n2"), Some("master")),
            view("sentinel2", Some("n2"), Some("master,failover_in_progress")),
            view("sentinel3", Some("n2"), Some("s_down,master")),
            view("sentinel4", None, None),
        ];
        assert_eq!(
            sentinels_pending(&midway, "n2"),
            [
                "sentinel2 flags the primary master,failover_in_progress",
                "sentinel3 flags the primary s_down,master",
                "sentinel4 names nobody as the primary, not n2"
            ]
        );
        let unread = SentinelView {
            error: Some("connection refused".into()),
            ..view("sentinel1", None, None)
        };
        assert_eq!(
            sentinels_pending(&[unread], "n2"),
            ["sentinel1: connection refused"]
        );
    }

    /// A Sentinel the map does not hold is asked nothing but still counted:
    /// pending, never left out of the wait.
    #[tokio::test]
    async fn a_sentinel_missing_from_the_map_is_pending() {
        let names = ["sentinel1".to_string()];
        let ask = SentinelsToAsk {
            master_name: "t",
            names: &names,
        };
        let views = sentinel_views(&AddressMap::new(), ask, ConnectOptions::default()).await;
        assert_eq!(
            sentinels_pending(&views, "n1"),
            ["sentinel1: not among the address map's Sentinels"]
        );
    }
}
