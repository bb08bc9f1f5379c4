//! Create a cluster and wait for it to converge, in Rust (no redis-cli).
//!
//! `create`: connect to every node, check each is an empty cluster node, assign
//! slots (one ADDSLOTSRANGE per primary), give every node a distinct config
//! epoch, MEET every pair of nodes, wait until every node knows every other,
//! MEET again from each primary (so that every node learns every primary's
//! slots at once instead of from the next periodic PING), REPLICATE, then
//! [`wait_converged`]. Needs Redis 7.0 (CLUSTER ADDSLOTSRANGE).
//!
//! Everything is bounded by one timeout and aborted by one cancellation token.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};
use tokio_util::sync::CancellationToken;

use super::conn::{AddressMap, Bound, ConnectOptions, Member, NodeConn, connect_all, parse_info};
use super::error::ClusterError;
use super::nodes::{NodeLine, myself};
use crate::slots::{SLOT_COUNT, ranges_from_slots};

/// How often the waits poll. The cluster bus gossips every 100 ms, so 25 ms
/// measures convergence to within a quarter of a gossip round while costing
/// one pipelined round trip per node per poll.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Options of [`create`].
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Bound on the whole operation, convergence included. Primaries can take
    /// up to ~5 s to report `cluster_state:ok` (see [`create`]), so allow more.
    pub timeout: Duration,
    pub cancel: CancellationToken,
    pub connect: ConnectOptions,
    pub interval: Duration,
    /// Also require replicas' replication offsets to equal their primary's.
    pub check_offsets: bool,
}

impl CreateOptions {
    pub fn new(timeout: Duration, cancel: CancellationToken) -> Self {
        CreateOptions {
            timeout,
            cancel,
            connect: ConnectOptions::default(),
            interval: POLL_INTERVAL,
            check_offsets: false,
        }
    }
}

/// What [`create`] did and how long it took. Times are from the start of `create`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateReport {
    /// Member name -> node id.
    pub ids: BTreeMap<String, String>,
    #[serde(serialize_with = "millis")]
    pub total: Duration,
    /// Until every node listed every other with no handshake or noaddr flag.
    #[serde(serialize_with = "millis")]
    pub all_known: Duration,
    /// Until [`wait_converged`]'s conditions all held.
    #[serde(serialize_with = "millis")]
    pub converged: Duration,
    /// Polls of the convergence wait.
    pub polls: u32,
}

/// Options of [`wait_converged`].
#[derive(Debug, Clone)]
pub struct ConvergeOptions {
    pub timeout: Duration,
    pub cancel: CancellationToken,
    pub connect: ConnectOptions,
    pub interval: Duration,
    /// Also require replicas' replication offsets to equal their primary's.
    pub check_offsets: bool,
}

impl ConvergeOptions {
    pub fn new(timeout: Duration, cancel: CancellationToken) -> Self {
        ConvergeOptions {
            timeout,
            cancel,
            connect: ConnectOptions::default(),
            interval: POLL_INTERVAL,
            check_offsets: false,
        }
    }
}

/// The outcome of a successful wait for convergence.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Convergence {
    #[serde(serialize_with = "millis")]
    pub elapsed: Duration,
    pub polls: u32,
}

fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// Build a cluster from empty nodes. See the module documentation for the steps.
///
/// How long it takes is mostly Redis's own delays for primaries (cluster.c,
/// `clusterUpdateState`): no `cluster_state:ok` within 2 s of the server's
/// start, and, for a primary that ran for more than those 2 s without slots
/// (it counts itself in a minority meanwhile), none until
/// min(cluster-node-timeout, 5 s) after it gets them. Measured here on 6 local
/// nodes: all nodes know each other ~0.2 s after the call; converged ~2.0 s
/// after the servers started when `create` runs right after they answer PING,
/// ~5.1 s after the call when it runs later. Runtimes should call it early.
pub async fn create(
    members: &[Member],
    opts: &CreateOptions,
) -> Result<CreateReport, ClusterError> {
    validate(members)?;
    let bound = Bound::new(opts.timeout, &opts.cancel, "create the cluster");
    let n = members.len();

    let mut conns = bound
        .step(
            "create the cluster: connect to every node",
            connect_all(
                members.iter().map(|m| (m.name.clone(), m.addr)),
                opts.connect,
            ),
        )
        .await?;

    bound
        .step(
            "create the cluster: check every node is empty",
            futures::future::try_join_all(conns.iter_mut().map(check_empty)),
        )
        .await?;

    bound
        .step(
            "create the cluster: assign slots",
            futures::future::try_join_all(
                members
                    .iter()
                    .zip(conns.iter_mut())
                    .filter(|(m, _)| !m.slots.is_empty())
                    .map(|(m, c)| async move {
                        let mut cmd = redis::cmd("CLUSTER");
                        cmd.arg("ADDSLOTSRANGE");
                        for r in &m.slots {
                            cmd.arg(r.start).arg(r.end);
                        }
                        c.run::<()>(&cmd).await
                    }),
            ),
        )
        .await?;

    // Distinct epochs before the nodes meet, so that no two primaries collide
    // on an epoch and none has to bump its own (what redis-cli does too).
    let ids: Vec<String> = bound
        .step(
            "create the cluster: set config epochs",
            futures::future::try_join_all(conns.iter_mut().enumerate().map(|(i, c)| async move {
                c.run::<()>(redis::cmd("CLUSTER").arg("SET-CONFIG-EPOCH").arg(i + 1))
                    .await?;
                c.run::<String>(redis::cmd("CLUSTER").arg("MYID")).await
            })),
        )
        .await?;

    // Every pair meets directly (node i MEETs every j > i): meeting only the
    // first node leaves the others to learn of each other from gossip, which
    // rides on PINGs sent about once a second per node (~2 s for 6 nodes here).
    let pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .collect();
    let introduce = Introduce {
        what: "create the cluster",
        who: "every other",
        interval: opts.interval,
    };
    introduce
        .run(&bound, &mut conns, members, &pairs, &ids)
        .await?;
    let all_known = bound.started.elapsed();

    // A handshake teaches the node that sent MEET the slots of the node it met,
    // not the other way round; the other side would learn them from a later
    // PING, again about a second per node away. A second MEET to a node that
    // already knows the sender makes it read the sender's slots from the MEET
    // header at once (the extra handshake entry is dropped by Redis as soon as
    // the reply shows it is a known node). Only primaries have slots to teach.
    let again: Vec<(usize, usize)> = pairs
        .iter()
        .copied()
        .filter(|&(i, _)| !members[i].slots.is_empty())
        .collect();
    meet(
        &bound,
        &conns,
        members,
        &again,
        "create the cluster: send CLUSTER MEET again",
    )
    .await?;

    let index: HashMap<&str, usize> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();
    bound
        .step(
            "create the cluster: send CLUSTER REPLICATE",
            futures::future::try_join_all(members.iter().zip(conns.iter_mut()).filter_map(
                |(m, c)| {
                    let primary = m.replica_of.as_deref()?;
                    let primary_id = ids[index[primary]].clone();
                    Some(async move {
                        c.run::<()>(redis::cmd("CLUSTER").arg("REPLICATE").arg(primary_id))
                            .await
                    })
                },
            )),
        )
        .await?;

    let expect = Expectations::of(members);
    let convergence = converge_on(
        &bound,
        conns,
        &expect,
        (opts.connect, opts.interval, opts.check_offsets),
        "create the cluster: wait for convergence",
    )
    .await?;
    let converged = bound.started.elapsed();
    debug_assert_eq!(ids.len(), n);
    Ok(CreateReport {
        ids: members.iter().map(|m| m.name.clone()).zip(ids).collect(),
        total: bound.started.elapsed(),
        all_known,
        converged,
        polls: convergence.polls,
    })
}

/// Wait until the cluster formed by `members` has converged: every node reports
/// `cluster_state:ok`; every node's view has the same slot owners and the same
/// node ids; no view flags a node fail, fail?, handshake or noaddr; every
/// replica with a known `replica_of` is a replica of that primary with
/// `master_link_status:up`; and, when asked, replication offsets are equal.
///
/// On timeout the error lists, per node, the conditions that did not hold on
/// the last poll.
pub async fn wait_converged(
    members: &[Member],
    opts: &ConvergeOptions,
) -> Result<Convergence, ClusterError> {
    // Building the map checks every address is loopback.
    AddressMap::from_members(members)?;
    let bound = Bound::new(opts.timeout, &opts.cancel, "wait for convergence");
    let expect = Expectations::of(members);
    let mut polled: Vec<Polled> = members
        .iter()
        .map(|m| Polled {
            name: m.name.clone(),
            addr: m.addr,
            conn: None,
        })
        .collect();
    converge_loop(
        &bound,
        &mut polled,
        &expect,
        opts.connect,
        opts.interval,
        opts.check_offsets,
        "converge",
    )
    .await
}

/// What [`add_node`] did and how long it took. Times are from the start of `add_node`.
#[derive(Debug, Clone, Serialize)]
pub struct AddNodeReport {
    /// The new node's id.
    pub id: String,
    /// Until every node, the new one included, listed every other with no
    /// handshake or noaddr flag.
    #[serde(serialize_with = "millis")]
    pub all_known: Duration,
    /// Until [`wait_converged`]'s conditions all held, the new node included.
    #[serde(serialize_with = "millis")]
    pub converged: Duration,
    #[serde(serialize_with = "millis")]
    pub total: Duration,
    /// Polls of the convergence wait.
    pub polls: u32,
}

/// Add `new`, an empty cluster node, to the running cluster of `members`: as
/// a primary with no slots, or, when `new.replica_of` names a member, as its
/// replica. Slots are not moved (that is `reshard --rebalance`).
///
/// The new node MEETs every member: each then learns of it from its own
/// handshake at once instead of from gossip (about a second per node away),
/// and the new node learns every primary's slots from the handshakes it
/// started. Then: wait until every node knows every other, CLUSTER REPLICATE
/// for a replica, and the conditions of [`wait_converged`] over the grown
/// cluster (a primary with no slots passes them: no condition counts slots).
///
/// A new primary reports `cluster_state:ok` only after Redis's writable delay
/// (2 s after its start) — and when it ran alone for longer than that, it
/// counts itself in a minority until min(cluster-node-timeout, 5 s) after it
/// learns the slots; so call this as soon as the node answers PING.
pub async fn add_node(
    members: &[Member],
    new: &Member,
    opts: &ConvergeOptions,
) -> Result<AddNodeReport, ClusterError> {
    validate_addition(members, new)?;
    let bound = Bound::new(opts.timeout, &opts.cancel, "add a node to the cluster");
    let mut all: Vec<Member> = members.to_vec();
    all.push(new.clone());

    let mut conns = bound
        .step(
            "add a node: connect to every node",
            connect_all(all.iter().map(|m| (m.name.clone(), m.addr)), opts.connect),
        )
        .await?;
    let new_index = all.len() - 1;
    bound
        .step(
            "add a node: check the new node is empty",
            check_empty(&mut conns[new_index]),
        )
        .await?;
    let ids: Vec<String> =
        bound
            .step(
                "add a node: read node ids",
                futures::future::try_join_all(conns.iter_mut().map(|c| async move {
                    c.run::<String>(redis::cmd("CLUSTER").arg("MYID")).await
                })),
            )
            .await?;

    let pairs: Vec<(usize, usize)> = (0..members.len()).map(|to| (new_index, to)).collect();
    let introduce = Introduce {
        what: "add a node",
        who: "the new one",
        interval: opts.interval,
    };
    introduce
        .run(&bound, &mut conns, &all, &pairs, &ids)
        .await?;
    let all_known = bound.started.elapsed();

    if let Some(primary) = &new.replica_of {
        let at = all
            .iter()
            .position(|m| &m.name == primary)
            .expect("validated: the primary is a member");
        let primary_id = ids[at].clone();
        let c = &mut conns[new_index];
        bound
            .step(
                "add a node: send CLUSTER REPLICATE",
                c.run::<()>(redis::cmd("CLUSTER").arg("REPLICATE").arg(primary_id)),
            )
            .await?;
    }

    let expect = Expectations::of(&all);
    let convergence = converge_on(
        &bound,
        conns,
        &expect,
        (opts.connect, opts.interval, opts.check_offsets),
        "add a node: wait for convergence",
    )
    .await?;
    let converged = bound.started.elapsed();
    Ok(AddNodeReport {
        id: ids[new_index].clone(),
        all_known,
        converged,
        total: bound.started.elapsed(),
        polls: convergence.polls,
    })
}

/// Make every member forget the nodes it knows that are not members: what a
/// node removed half-way through [`add_node`] leaves in the others' tables
/// (`master,fail` forever, which later clients try to reach). CLUSTER FORGET
/// goes to every member, so that none gossips the stranger back during the
/// ban (60 s). Returns the ids forgotten.
pub async fn forget_strangers(
    members: &[Member],
    connect: ConnectOptions,
) -> Result<Vec<String>, ClusterError> {
    let known: Vec<SocketAddr> = members.iter().map(|m| m.announce).collect();
    let mut conns = connect_all(members.iter().map(|m| (m.name.clone(), m.addr)), connect).await?;
    let mut strangers: Vec<String> = Vec::new();
    for c in &mut conns {
        for l in c.cluster_nodes().await? {
            let stranger = l.addr.is_none_or(|a| !known.contains(&a));
            if stranger && !l.flags.myself && !strangers.contains(&l.id) {
                strangers.push(l.id);
            }
        }
    }
    for c in &mut conns {
        for id in &strangers {
            // A member that never learnt of it answers "Unknown node": fine.
            if let Err(e) = c
                .run::<()>(redis::cmd("CLUSTER").arg("FORGET").arg(id))
                .await
            {
                tracing::debug!(node = %c.name, %id, "CLUSTER FORGET: {e}");
            }
        }
    }
    Ok(strangers)
}

/// The checks of [`add_node`] that need no node: names and addresses unique
/// and loopback, no slots on the new node, its primary a member.
fn validate_addition(members: &[Member], new: &Member) -> Result<(), ClusterError> {
    if members.is_empty() {
        return Err(ClusterError::Plan(format!(
            "no cluster to add {} to",
            new.name
        )));
    }
    let mut all = members.to_vec();
    all.push(new.clone());
    AddressMap::from_members(&all)?;
    if !new.slots.is_empty() {
        return Err(ClusterError::Plan(format!(
            "{} must join with no slots (move them with a reshard afterwards)",
            new.name
        )));
    }
    if let Some(p) = &new.replica_of
        && !members.iter().any(|m| &m.name == p)
    {
        return Err(ClusterError::Plan(format!(
            "{} replicates unknown member {p}",
            new.name
        )));
    }
    Ok(())
}

fn validate(members: &[Member]) -> Result<(), ClusterError> {
    if members.is_empty() {
        return Err(ClusterError::Plan("no members".into()));
    }
    AddressMap::from_members(members)?;
    let by_name: HashMap<&str, &Member> = members.iter().map(|m| (m.name.as_str(), m)).collect();
    let mut owner: Vec<Option<&str>> = vec![None; usize::from(SLOT_COUNT)];
    for m in members {
        if let Some(p) = &m.replica_of {
            match by_name.get(p.as_str()) {
                None => {
                    return Err(ClusterError::Plan(format!(
                        "{} replicates unknown member {p}",
                        m.name
                    )));
                }
                Some(pm) if pm.replica_of.is_some() => {
                    return Err(ClusterError::Plan(format!(
                        "{} replicates {p}, which is itself a replica",
                        m.name
                    )));
                }
                Some(_) => {}
            }
            if !m.slots.is_empty() {
                return Err(ClusterError::Plan(format!(
                    "{} is a replica but has slots assigned",
                    m.name
                )));
            }
        }
        for r in &m.slots {
            for s in r.slots() {
                if let Some(other) = owner[usize::from(s)].replace(&m.name) {
                    return Err(ClusterError::Plan(format!(
                        "slot {s} is assigned to both {other} and {}",
                        m.name
                    )));
                }
            }
        }
    }
    let uncovered = ranges_from_slots((0..SLOT_COUNT).filter(|&s| owner[usize::from(s)].is_none()));
    if !uncovered.is_empty() {
        return Err(ClusterError::Plan(format!(
            "slots {} are assigned to no primary (the cluster could never report cluster_state:ok)",
            crate::slots::join(&uncovered)
        )));
    }
    Ok(())
}

async fn check_empty(c: &mut NodeConn) -> Result<(), ClusterError> {
    let info: String = match c.run(redis::cmd("CLUSTER").arg("INFO")).await {
        Ok(text) => text,
        Err(ClusterError::Command { source, .. })
            if source.to_string().contains("cluster support disabled") =>
        {
            return Err(not_empty(
                c,
                "cluster support is disabled (cluster-enabled no)",
            ));
        }
        Err(e) => return Err(e),
    };
    let info = parse_info(&info);
    let field = |k: &str| -> Result<u64, ClusterError> {
        info.get(k)
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| c.reply_error("CLUSTER INFO", format!("no numeric {k}")))
    };
    let known = field("cluster_known_nodes")?;
    if known != 1 {
        return Err(not_empty(c, &format!("it already knows {known} nodes")));
    }
    let assigned = field("cluster_slots_assigned")?;
    if assigned != 0 {
        return Err(not_empty(
            c,
            &format!("it already has {assigned} slots assigned"),
        ));
    }
    let keys: u64 = c.run(&redis::cmd("DBSIZE")).await?;
    if keys != 0 {
        return Err(not_empty(c, &format!("it holds {keys} keys")));
    }
    Ok(())
}

fn not_empty(c: &NodeConn, reason: &str) -> ClusterError {
    ClusterError::NotEmpty {
        node: c.name.clone(),
        addr: c.addr,
        reason: reason.to_string(),
    }
}

/// `CLUSTER MEET` for every (from, to) pair of member indexes, concurrently.
/// MEET the `pairs`, then wait until every node knows `who`: the first half
/// of both creating a cluster and adding a node, named `what` in errors.
struct Introduce {
    what: &'static str,
    who: &'static str,
    interval: Duration,
}

impl Introduce {
    async fn run(
        &self,
        bound: &Bound<'_>,
        conns: &mut [NodeConn],
        members: &[Member],
        pairs: &[(usize, usize)],
        ids: &[String],
    ) -> Result<(), ClusterError> {
        let what = self.what;
        meet(
            bound,
            conns,
            members,
            pairs,
            &format!("{what}: send CLUSTER MEET"),
        )
        .await?;
        let step = format!("{what}: wait until every node knows {}", self.who);
        wait_all_known(bound, conns, ids, self.interval, &step).await
    }
}

async fn meet(
    bound: &Bound<'_>,
    conns: &[NodeConn],
    members: &[Member],
    pairs: &[(usize, usize)],
    step: &str,
) -> Result<(), ClusterError> {
    bound
        .step(
            step,
            futures::future::try_join_all(pairs.iter().map(|&(from, to)| {
                let mut c = conns[from].clone();
                let m = &members[to];
                async move {
                    c.run::<()>(
                        redis::cmd("CLUSTER")
                            .arg("MEET")
                            .arg(m.announce.ip().to_string())
                            .arg(m.announce.port())
                            .arg(m.bus_port),
                    )
                    .await
                }
            })),
        )
        .await
        .map(|_| ())
}

/// Poll CLUSTER NODES until every node lists exactly the members' ids, none in
/// handshake or without an address.
async fn wait_all_known(
    bound: &Bound<'_>,
    conns: &mut [NodeConn],
    ids: &[String],
    interval: Duration,
    step: &str,
) -> Result<(), ClusterError> {
    let conn_names: Vec<String> = conns.iter().map(|c| c.name.clone()).collect();
    let names: HashMap<&str, &str> = ids
        .iter()
        .map(String::as_str)
        .zip(conn_names.iter().map(String::as_str))
        .collect();
    let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let mut pending: Vec<String> = Vec::new();
    for _ in 0..max_polls(bound.timeout, interval) {
        let views = bound
            .step(step, async {
                Ok(futures::future::join_all(conns.iter_mut().map(|c| c.cluster_nodes())).await)
            })
            .await
            .map_err(|e| e.with_pending(pending.clone()))?;
        pending.clear();
        for (name, view) in conn_names.iter().zip(views) {
            let lines = view?;
            let mut issues = Vec::new();
            let known: BTreeSet<&str> = lines
                .iter()
                .filter(|l| l.flags.unsettled().is_empty())
                .map(|l| l.id.as_str())
                .collect();
            let missing: Vec<&str> = wanted.difference(&known).map(|id| names[id]).collect();
            if !missing.is_empty() {
                issues.push(format!("does not know {}", missing.join(", ")));
            }
            for l in lines.iter().filter(|l| !l.flags.unsettled().is_empty()) {
                let who = l
                    .addr
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| short(&l.id).to_string());
                issues.push(format!("{} {who}", l.flags.unsettled().join(",")));
            }
            if !issues.is_empty() {
                pending.push(format!("{name}: {}", issues.join(", ")));
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        bound.pause(interval, step, &pending).await?;
    }
    Err(bound.timed_out(step, pending))
}

/// An upper bound on the polls of a wait, on top of its time bound.
fn max_polls(timeout: Duration, interval: Duration) -> u64 {
    let interval = interval.max(Duration::from_millis(1));
    (timeout.as_millis() / interval.as_millis()) as u64 + 2
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// What the members say the cluster should look like.
#[derive(Debug, Clone, Default)]
pub(crate) struct Expectations {
    /// Number of nodes every view should list.
    pub nodes: usize,
    /// Replica name -> primary name.
    pub primary_of: HashMap<String, String>,
}

impl Expectations {
    pub fn of(members: &[Member]) -> Self {
        Expectations {
            nodes: members.len(),
            primary_of: members
                .iter()
                .filter_map(|m| Some((m.name.clone(), m.replica_of.clone()?)))
                .collect(),
        }
    }
}

/// One node's state, as one poll saw it.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub cluster_state: String,
    pub lines: Vec<NodeLine>,
    /// INFO replication `role`: master or slave.
    pub role: String,
    pub master_link_status: Option<String>,
    pub master_repl_offset: Option<i64>,
    pub slave_repl_offset: Option<i64>,
}

struct Polled {
    name: String,
    addr: SocketAddr,
    /// Dropped after an error and re-made on the next poll, so that a node that
    /// restarts during a wait is picked up again.
    conn: Option<NodeConn>,
}

async fn snapshot(c: &mut NodeConn) -> Result<Snapshot, ClusterError> {
    let mut pipe = redis::pipe();
    pipe.cmd("CLUSTER")
        .arg("INFO")
        .cmd("CLUSTER")
        .arg("NODES")
        .cmd("INFO")
        .arg("replication");
    let (cluster_info, nodes, repl): (String, String, String) = c
        .run_pipe(&pipe, "CLUSTER INFO + CLUSTER NODES + INFO replication")
        .await?;
    let cluster_info = parse_info(&cluster_info);
    let repl = parse_info(&repl);
    let offset = |k: &str| repl.get(k).and_then(|v| v.parse().ok());
    Ok(Snapshot {
        cluster_state: cluster_info
            .get("cluster_state")
            .cloned()
            .ok_or_else(|| c.reply_error("CLUSTER INFO", "no cluster_state"))?,
        lines: c.parse_nodes(&nodes)?,
        role: repl.get("role").cloned().unwrap_or_default(),
        master_link_status: repl.get("master_link_status").cloned(),
        master_repl_offset: offset("master_repl_offset"),
        slave_repl_offset: offset("slave_repl_offset"),
    })
}

async fn poll_one(p: &mut Polled, connect: ConnectOptions) -> Result<Snapshot, String> {
    if p.conn.is_none() {
        p.conn = Some(
            NodeConn::connect(&p.name, p.addr, connect)
                .await
                .map_err(|e| error_chain(&e))?,
        );
    }
    let Some(conn) = p.conn.as_mut() else {
        return Err("not connected".into());
    };
    match snapshot(conn).await {
        Ok(s) => Ok(s),
        Err(e) => {
            p.conn = None;
            Err(error_chain(&e))
        }
    }
}

/// An error and its sources on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// [`converge_loop`] over connections that are already open (after create or
/// add-node, which connected to every node anyway).
async fn converge_on(
    bound: &Bound<'_>,
    conns: Vec<NodeConn>,
    expect: &Expectations,
    (connect, interval, check_offsets): (ConnectOptions, Duration, bool),
    step: &str,
) -> Result<Convergence, ClusterError> {
    let mut polled: Vec<Polled> = conns
        .into_iter()
        .map(|c| Polled {
            name: c.name.clone(),
            addr: c.addr,
            conn: Some(c),
        })
        .collect();
    converge_loop(
        bound,
        &mut polled,
        expect,
        connect,
        interval,
        check_offsets,
        step,
    )
    .await
}

async fn converge_loop(
    bound: &Bound<'_>,
    polled: &mut [Polled],
    expect: &Expectations,
    connect: ConnectOptions,
    interval: Duration,
    check_offsets: bool,
    step: &str,
) -> Result<Convergence, ClusterError> {
    let started = Instant::now();
    let mut pending: Vec<String> = Vec::new();
    for poll in 0..max_polls(bound.timeout, interval) {
        let snaps = bound
            .step(step, async {
                Ok(
                    futures::future::join_all(polled.iter_mut().map(|p| poll_one(p, connect)))
                        .await,
                )
            })
            .await
            .map_err(|e| e.with_pending(pending.clone()))?;
        let views: Vec<(String, Result<Snapshot, String>)> =
            polled.iter().map(|p| p.name.clone()).zip(snaps).collect();
        pending = convergence_pending(&views, expect, check_offsets);
        if pending.is_empty() {
            return Ok(Convergence {
                elapsed: started.elapsed(),
                polls: u32::try_from(poll + 1).unwrap_or(u32::MAX),
            });
        }
        bound.pause(interval, step, &pending).await?;
    }
    Err(bound.timed_out(step, pending))
}

/// The conditions of [`wait_converged`] that do not hold, one string per node
/// ("s2n1: cluster_state:fail, ..."). Empty when the cluster has converged. Pure.
pub(crate) fn convergence_pending(
    views: &[(String, Result<Snapshot, String>)],
    expect: &Expectations,
    check_offsets: bool,
) -> Vec<String> {
    // Node ids of the reachable nodes, from their own `myself` lines.
    let mut name_of: HashMap<&str, &str> = HashMap::new();
    let mut id_of: HashMap<&str, &str> = HashMap::new();
    for (name, snap) in views {
        if let Ok(s) = snap
            && let Some(me) = myself(&s.lines)
        {
            name_of.insert(me.id.as_str(), name.as_str());
            id_of.insert(name.as_str(), me.id.as_str());
        }
    }
    let label = |id: &str| -> String {
        name_of
            .get(id)
            .map(|n| n.to_string())
            .unwrap_or_else(|| short(id).to_string())
    };

    let ok: Vec<(&str, &Snapshot)> = views
        .iter()
        .filter_map(|(n, s)| s.as_ref().ok().map(|s| (n.as_str(), s)))
        .collect();
    let owners: Vec<Vec<Option<&str>>> = ok.iter().map(|(_, s)| slot_owners(&s.lines)).collect();
    // Handshake entries carry random ids until the handshake completes; they are
    // reported as flags below, not counted as nodes.
    let id_sets: Vec<BTreeSet<&str>> = ok
        .iter()
        .map(|(_, s)| {
            s.lines
                .iter()
                .filter(|l| !l.flags.handshake)
                .map(|l| l.id.as_str())
                .collect()
        })
        .collect();
    let reference = majority(&owners);
    let union: BTreeSet<&str> = id_sets.iter().flatten().copied().collect();
    let total = union.len().max(expect.nodes);

    let mut issues: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let position: HashMap<&str, usize> = views
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    for (i, (_, snap)) in views.iter().enumerate() {
        if let Err(e) = snap {
            issues
                .entry(i)
                .or_default()
                .push(format!("unreachable ({e})"));
        }
    }
    for (k, (name, s)) in ok.iter().enumerate() {
        let mine = issues.entry(position[name]).or_default();
        if s.cluster_state != "ok" {
            mine.push(format!("cluster_state:{}", s.cluster_state));
        }
        if myself(&s.lines).is_none() {
            mine.push("no myself line in CLUSTER NODES".into());
        }
        if let Some(r) = reference {
            let differ = owners[k]
                .iter()
                .zip(&owners[r])
                .filter(|(a, b)| a != b)
                .count();
            if differ > 0 {
                mine.push(format!(
                    "slot map differs from the majority on {differ} slots"
                ));
            }
        }
        if id_sets[k].len() < total || id_sets[k] != union {
            mine.push(format!("knows {} of {total} nodes", id_sets[k].len()));
        }
        for l in &s.lines {
            let flags = l.flags.unsettled();
            if !flags.is_empty() {
                mine.push(format!("sees {} as {}", label(&l.id), flags.join(",")));
            }
        }
        // Replication.
        let me = myself(&s.lines);
        let expected_primary = expect.primary_of.get(*name);
        if let Some(primary) = expected_primary {
            if s.role != "slave" {
                mine.push(format!("role {}, expected replica of {primary}", s.role));
            } else if let (Some(want), Some(me)) = (id_of.get(primary.as_str()), me)
                && me.primary_id.as_deref() != Some(*want)
            {
                let actual = me
                    .primary_id
                    .as_deref()
                    .map(label)
                    .unwrap_or_else(|| "nothing".into());
                mine.push(format!("replica of {actual}, expected {primary}"));
            }
        }
        if s.role == "slave" {
            let status = s.master_link_status.as_deref().unwrap_or("missing");
            if status != "up" {
                mine.push(format!("master_link_status:{status}"));
            }
            if check_offsets {
                let primary_snap = me
                    .and_then(|m| m.primary_id.as_deref())
                    .and_then(|pid| name_of.get(pid))
                    .and_then(|pn| ok.iter().find(|(n, _)| n == pn));
                if let Some((pn, ps)) = primary_snap
                    && (ps.master_repl_offset != s.slave_repl_offset
                        || s.slave_repl_offset.is_none())
                {
                    mine.push(format!(
                        "slave_repl_offset {} differs from {pn}'s master_repl_offset {}",
                        opt(s.slave_repl_offset),
                        opt(ps.master_repl_offset)
                    ));
                }
            }
        }
    }
    issues
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(i, v)| format!("{}: {}", views[i].0, v.join(", ")))
        .collect()
}

fn opt(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "missing".into())
}

/// Owner id per slot in one view: from every line that lists slots (what
/// redis-cli's configuration signature reads).
pub(crate) fn slot_owners(lines: &[NodeLine]) -> Vec<Option<&str>> {
    let mut owners = vec![None; usize::from(SLOT_COUNT)];
    for l in lines {
        for r in &l.slots {
            for s in r.slots() {
                owners[usize::from(s)] = Some(l.id.as_str());
            }
        }
    }
    owners
}

/// Index of the most common element (the first of the most common on a tie).
pub(crate) fn majority<T: PartialEq>(items: &[T]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, a) in items.iter().enumerate() {
        let count = items.iter().filter(|b| *b == a).count();
        if best.is_none_or(|(_, c)| count > c) {
            best = Some((i, count));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::nodes::parse_cluster_nodes;
    use crate::slots::SlotRange;
    use crate::slots::even_split;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const R: &str = "cccccccccccccccccccccccccccccccccccccccc";

    /// A, B primaries (0-8191, 8192-16383); R replica of A. `me` marks myself.
    fn view(me: &str, extra_flags: &[(&str, &str)]) -> Vec<NodeLine> {
        let flag = |id: &str, base: &str| {
            let mut f = String::new();
            if id == me {
                f.push_str("myself,");
            }
            f.push_str(base);
            for (who, fl) in extra_flags {
                if *who == id {
                    f.push(',');
                    f.push_str(fl);
                }
            }
            f
        };
        let text = format!(
            "{A} 127.0.0.1:7000@17000 {} - 0 0 1 connected 0-8191\n\
             {B} 127.0.0.1:7001@17001 {} - 0 0 2 connected 8192-16383\n\
             {R} 127.0.0.1:7002@17002 {} {A} 0 0 3 connected\n",
            flag(A, "master"),
            flag(B, "master"),
            flag(R, "slave")
        );
        parse_cluster_nodes(&text).unwrap()
    }

    fn snap(lines: Vec<NodeLine>, role: &str, link: Option<&str>) -> Snapshot {
        Snapshot {
            cluster_state: "ok".into(),
            lines,
            role: role.into(),
            master_link_status: link.map(str::to_string),
            master_repl_offset: Some(100),
            slave_repl_offset: if role == "slave" { Some(100) } else { None },
        }
    }

    fn healthy() -> Vec<(String, Result<Snapshot, String>)> {
        vec![
            ("a".into(), Ok(snap(view(A, &[]), "master", None))),
            ("b".into(), Ok(snap(view(B, &[]), "master", None))),
            ("r".into(), Ok(snap(view(R, &[]), "slave", Some("up")))),
        ]
    }

    fn expect() -> Expectations {
        Expectations {
            nodes: 3,
            primary_of: [("r".to_string(), "a".to_string())].into(),
        }
    }

    #[test]
    fn healthy_cluster_has_nothing_pending() {
        assert_eq!(
            convergence_pending(&healthy(), &expect(), true),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_condition_is_reported_per_node() {
        type Mutate = fn(&mut Vec<(String, Result<Snapshot, String>)>);
        let cases: Vec<(Mutate, &str)> = vec![
            (
                |v| v[1].1.as_mut().unwrap().cluster_state = "fail".into(),
                "b: cluster_state:fail",
            ),
            (
                |v| v[0].1 = Err("connection refused".into()),
                "a: unreachable (connection refused)",
            ),
            (
                |v| v[2].1.as_mut().unwrap().master_link_status = Some("down".into()),
                "r: master_link_status:down",
            ),
            (
                |v| v[2].1.as_mut().unwrap().role = "master".into(),
                "r: role master, expected replica of a",
            ),
            (
                |v| v[2].1.as_mut().unwrap().slave_repl_offset = Some(90),
                "r: slave_repl_offset 90 differs from a's master_repl_offset 100",
            ),
            (
                |v| v[0].1.as_mut().unwrap().lines = view(A, &[(B, "fail?")]),
                "a: sees b as fail?",
            ),
            (
                |v| v[0].1.as_mut().unwrap().lines.truncate(2),
                "a: knows 2 of 3 nodes",
            ),
            (
                |v| {
                    let lines = &mut v[1].1.as_mut().unwrap().lines;
                    lines[0].slots = vec![SlotRange::new(0, 8190)];
                },
                "b: slot map differs from the majority on 1 slots",
            ),
            (
                |v| {
                    let lines = &mut v[2].1.as_mut().unwrap().lines;
                    lines[2].primary_id = Some(B.into());
                },
                "r: replica of b, expected a",
            ),
        ];
        for (mutate, want) in cases {
            let mut v = healthy();
            mutate(&mut v);
            let pending = convergence_pending(&v, &expect(), true);
            assert!(
                pending.iter().any(|p| p == want),
                "want {want:?}, got {pending:?}"
            );
        }
    }

    #[test]
    fn majority_picks_most_common_then_first() {
        assert_eq!(majority(&[1, 2, 2]), Some(1));
        assert_eq!(majority(&[1, 2]), Some(0));
        assert_eq!(majority::<u8>(&[]), None);
    }

    fn member(name: &str, port: u16, replica_of: Option<&str>, slots: Vec<SlotRange>) -> Member {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        Member {
            name: name.into(),
            addr,
            announce: addr,
            bus_port: port + 10000,
            replica_of: replica_of.map(str::to_string),
            slots,
        }
    }

    #[test]
    fn validate_rejects_bad_plans() {
        let split = even_split(2);
        let good = vec![
            member("p1", 7000, None, vec![split[0]]),
            member("p2", 7001, None, vec![split[1]]),
            member("r1", 7002, Some("p1"), vec![]),
        ];
        validate(&good).unwrap();
        let cases: Vec<(Vec<Member>, &str)> = vec![
            (vec![], "no members"),
            (
                vec![member("p1", 7000, None, vec![split[0]])],
                "slots 8192-16383 are assigned to no primary",
            ),
            (
                vec![
                    member("p1", 7000, None, even_split(1)),
                    member("r", 7001, Some("x"), vec![]),
                ],
                "replicates unknown member x",
            ),
            (
                vec![
                    member("p1", 7000, None, even_split(1)),
                    member("r", 7001, Some("p1"), vec![]),
                    member("rr", 7002, Some("r"), vec![]),
                ],
                "itself a replica",
            ),
            (
                vec![
                    member("p1", 7000, None, even_split(1)),
                    member("p2", 7001, None, vec![SlotRange::new(5, 6)]),
                ],
                "slot 5 is assigned to both p1 and p2",
            ),
            (
                vec![
                    member("p1", 7000, None, even_split(1)),
                    member("r", 7001, Some("p1"), vec![SlotRange::new(5, 6)]),
                ],
                "replica but has slots",
            ),
        ];
        for (members, want) in cases {
            let err = validate(&members).unwrap_err().to_string();
            assert!(err.contains(want), "want {want:?} in {err:?}");
        }
    }

    #[test]
    fn validate_addition_rejects_bad_new_nodes() {
        let split = even_split(2);
        let members = vec![
            member("p1", 7000, None, vec![split[0]]),
            member("p2", 7001, None, vec![split[1]]),
        ];
        validate_addition(&members, &member("p3", 7002, None, vec![])).unwrap();
        validate_addition(&members, &member("r", 7002, Some("p1"), vec![])).unwrap();
        let cases: Vec<(Vec<Member>, Member, &str)> = vec![
            (
                vec![],
                member("p3", 7002, None, vec![]),
                "no cluster to add p3 to",
            ),
            (
                members.clone(),
                member("p3", 7002, None, vec![SlotRange::new(0, 1)]),
                "must join with no slots",
            ),
            (
                members.clone(),
                member("r", 7002, Some("x"), vec![]),
                "replicates unknown member x",
            ),
            (
                members.clone(),
                member("p2", 7002, None, vec![]),
                "clashes with p2",
            ),
            (
                members.clone(),
                member("p3", 7001, None, vec![]),
                "clashes with p2",
            ),
        ];
        for (members, new, want) in cases {
            let err = validate_addition(&members, &new).unwrap_err().to_string();
            assert!(err.contains(want), "want {want:?} in {err:?}");
        }
    }

    #[test]
    fn timeout_error_lists_pending() {
        let e = ClusterError::Timeout {
            what: "converge".into(),
            timeout: Duration::from_secs(10),
            pending: vec![
                "s2n1: cluster_state:fail".into(),
                "s3n2: master_link_status:down".into(),
            ],
        };
        assert_eq!(
            e.to_string(),
            "converge within 10s; still pending: s2n1: cluster_state:fail; s3n2: master_link_status:down"
        );
    }
}
