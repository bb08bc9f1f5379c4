//! Waiting for convergence: poll every node until [`super::pending`] finds
//! nothing pending, reconnecting to nodes that restart meanwhile.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};
use tokio_util::sync::CancellationToken;

use super::pending::{Expectations, Snapshot, convergence_pending};
use crate::cluster::conn::{AddressMap, ConnectOptions, Member, NodeConn, TimeBox, parse_info};
use crate::cluster::error::{ClusterError, error_chain};

/// How often the waits poll. The cluster bus gossips every 100 ms, so 25 ms
/// measures convergence to within a quarter of a gossip round while costing
/// one pipelined round trip per node per poll.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Options of an operation that ends in a convergence wait: [`wait_converged`]
/// itself, `create` and `add_node` (one type, since all three take the same).
#[derive(Debug, Clone)]
pub struct ConvergeOptions {
    /// Bound on the whole operation, convergence included. Primaries of a new
    /// cluster can take up to ~5 s to report `cluster_state:ok` (see
    /// `create`), so allow more there.
    pub timeout: Duration,
    /// Fired to stop the operation early; it then returns `Cancelled`.
    pub cancel: CancellationToken,
    /// Timeouts of each node connection.
    pub connect: ConnectOptions,
    /// How often the wait polls (default [`POLL_INTERVAL`]).
    pub interval: Duration,
    /// Also require replicas' replication offsets to equal their primary's.
    pub check_offsets: bool,
}

impl ConvergeOptions {
    /// The defaults with the two settings every caller must choose.
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
pub struct ConvergeReport {
    #[serde(serialize_with = "millis")]
    pub elapsed: Duration,
    pub polls: u32,
}

/// A duration serialized as fractional milliseconds, the unit of every time
/// in the admin reports' JSON.
pub(super) fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
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
) -> Result<ConvergeReport, ClusterError> {
    // Building the map checks every address is loopback.
    AddressMap::from_members(members)?;
    let bound = TimeBox::new(opts.timeout, &opts.cancel, "wait for convergence");
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

/// One node the convergence wait polls, by name and address, with the
/// connection kept between polls.
pub(super) struct Polled {
    pub(super) name: String,
    pub(super) addr: SocketAddr,
    /// Dropped after an error and re-made on the next poll, so that a node that
    /// restarts during a wait is picked up again.
    pub(super) conn: Option<NodeConn>,
}

/// One node's state as the convergence conditions need it, read in one
/// pipelined round trip (`CLUSTER INFO`, `CLUSTER NODES`, `INFO replication`).
pub(super) async fn snapshot(c: &mut NodeConn) -> Result<Snapshot, ClusterError> {
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

/// One poll of one node: its snapshot, or why there is none as text (the
/// wait lists it as pending). A failed poll drops the connection, so that the
/// next one reconnects to a node that restarted.
pub(super) async fn poll_one(p: &mut Polled, connect: ConnectOptions) -> Result<Snapshot, String> {
    let conn = NodeConn::kept(&mut p.conn, &p.name, p.addr, connect)
        .await
        .map_err(|e| error_chain(&e))?;
    match snapshot(conn).await {
        Ok(s) => Ok(s),
        Err(e) => {
            p.conn = None;
            Err(error_chain(&e))
        }
    }
}

/// [`converge_loop`] over connections that are already open (after create or
/// add-node, which connected to every node anyway).
pub(super) async fn converge_on(
    bound: &TimeBox<'_>,
    conns: Vec<NodeConn>,
    expect: &Expectations,
    (connect, interval, check_offsets): (ConnectOptions, Duration, bool),
    step: &str,
) -> Result<ConvergeReport, ClusterError> {
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

/// Poll every node every `interval` until [`wait_converged`]'s conditions
/// hold for `expect`, or fail when `bound` runs out (naming `step` and the
/// nodes still pending) or is cancelled.
pub(super) async fn converge_loop(
    bound: &TimeBox<'_>,
    polled: &mut [Polled],
    expect: &Expectations,
    connect: ConnectOptions,
    interval: Duration,
    check_offsets: bool,
    step: &str,
) -> Result<ConvergeReport, ClusterError> {
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
            return Ok(ConvergeReport {
                elapsed: started.elapsed(),
                polls: u32::try_from(poll + 1).unwrap_or(u32::MAX),
            });
        }
        bound.pause(interval, step, &pending).await?;
    }
    Err(bound.timed_out(step, pending))
}

/// An upper bound on the polls of a wait, on top of its time bound.
pub(super) fn max_polls(timeout: Duration, interval: Duration) -> u64 {
    let interval = interval.max(Duration::from_millis(1));
    (timeout.as_millis() / interval.as_millis()) as u64 + 2
}
