//! The cluster watcher: what every node thought of the cluster, polled on the
//! run's clock while a drill runs. The analyses of a recording are the
//! checker's ([`crate::checker::failover`]).
//!
//! The workload's history says what clients saw; the watcher says why. Every
//! `interval` each node is asked, in one pipelined round trip, for `CLUSTER
//! NODES`, `CLUSTER INFO` and `INFO replication`, and its answer (or its
//! silence) becomes a [`Sample`]. After the drill, [`failover`] reads from the
//! samples when the other nodes suspected the failed primary (`fail?`), agreed
//! it had failed (`fail`), when its replica took over and when every node was
//! back to `cluster_state:ok`; [`rejoin`] reads how the old primary came back
//! as a replica; [`state_fail_intervals`] and [`unreachable_intervals`] give
//! the windows to draw on the report's charts.
//!
//! The analyses never touch the system (the checker side of Jepsen's split), so
//! a stored [`Recording`] can be analysed again offline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::poll::Ticks;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::conn::{AddressMap, ConnectOptions, MappedNode, NodeConn, parse_info};
use super::error::ClusterError;
use super::error::error_chain;
use super::nodes::NodeLine;
use crate::record::timeline::Clock;
use crate::record::watch::{PeerFlags, PeerView, Recording, Role, Sample};
use crate::slots::count;

/// Samples kept per node: about 16 minutes at the drill's 50 ms interval, far
/// longer than a failover drill, and at most ~15 MB per node (a sample of a
/// 6-node cluster is under 1 KB). A node that reaches it stops being polled
/// and is listed in [`Recording::truncated`].
pub const MAX_SAMPLES_PER_NODE: usize = 20_000;

/// Floor of a poll's timeout: on a loaded 2-core machine a live node can take
/// tens of milliseconds to answer, and a live node must not look unreachable.
const MIN_POLL_TIMEOUT: Duration = Duration::from_millis(200);

/// Ceiling of a poll's timeout: a paused node (SIGSTOP accepts connections but
/// never answers) should show as unreachable well within a node timeout
/// (seconds), so that its samples say when it stopped answering.
const MAX_POLL_TIMEOUT: Duration = Duration::from_millis(500);

/// The shortest polling interval: a tenth of Redis' clusterCron period (the
/// fastest the cluster's state moves); polling faster only costs CPU.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// How long [`Watcher::stop`] waits for a polling task after cancelling it.
/// Every await in a task races the cancellation, so this only matters if a task
/// is stuck in something that does not yield.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A poll's timeout for a polling interval: four intervals, within
/// [`MIN_POLL_TIMEOUT`, `MAX_POLL_TIMEOUT`].
pub(crate) fn poll_timeout(interval: Duration) -> Duration {
    (interval * 4).clamp(MIN_POLL_TIMEOUT, MAX_POLL_TIMEOUT)
}

/// One node's samples, shared between its polling task and the [`Watcher`].
#[derive(Debug, Default)]
struct NodeLog {
    samples: Vec<Sample>,
    truncated: bool,
}

fn lock(log: &Mutex<NodeLog>) -> MutexGuard<'_, NodeLog> {
    // A task that panicked while pushing leaves a log that is still whole.
    log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Polls every node of an address map on an interval until stopped.
///
/// Dropping a watcher without [`Watcher::stop`] cancels its tasks and loses
/// the recording.
pub struct Watcher {
    stop: CancellationToken,
    interval: Duration,
    inner: Arc<Mutex<Watched>>,
    /// What a [`Follow`] needs to start one more polling task.
    map: Arc<AddressMap>,
    clock: Clock,
}

/// The nodes polled, their logs and tasks, and when each joined or left the
/// watch after it began.
#[derive(Default)]
struct Watched {
    observers: Vec<String>,
    logs: Vec<Arc<Mutex<NodeLog>>>,
    tasks: Vec<JoinHandle<()>>,
    /// Each node's own stop (a child of the watcher's).
    stops: Vec<CancellationToken>,
    joined: std::collections::BTreeMap<String, u64>,
    left: std::collections::BTreeMap<String, u64>,
}

fn watched(w: &Mutex<Watched>) -> MutexGuard<'_, Watched> {
    w.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A drill's handle on the watcher's membership: a node added to the
/// cluster while the drill runs is polled from then on, and a node removed
/// from it stops being polled (a rolling upgrade's). Both are recorded, so
/// that the analyses wait for a node only while it was a member.
#[derive(Clone)]
pub struct Follow {
    stop: CancellationToken,
    interval: Duration,
    inner: Arc<Mutex<Watched>>,
    map: Arc<AddressMap>,
    clock: Clock,
}

impl Follow {
    /// Poll `node` from now on.
    pub fn join(&self, node: MappedNode) {
        if self.stop.is_cancelled() {
            return;
        }
        let mut w = watched(&self.inner);
        if w.observers.contains(&node.name) {
            return;
        }
        w.joined.insert(node.name.clone(), self.clock.now_ns());
        spawn_watch(
            &mut w,
            node,
            &self.map,
            self.clock,
            self.interval,
            &self.stop,
        );
    }

    /// Stop polling `name`, which has left the cluster; its samples stay.
    pub fn leave(&self, name: &str) {
        let mut w = watched(&self.inner);
        if let Some(i) = w.observers.iter().position(|o| o == name) {
            w.stops[i].cancel();
            w.left.insert(name.to_string(), self.clock.now_ns());
        }
    }
}

/// Start polling `node`, its log and task kept in `w`.
fn spawn_watch(
    w: &mut Watched,
    node: MappedNode,
    map: &Arc<AddressMap>,
    clock: Clock,
    interval: Duration,
    stop: &CancellationToken,
) {
    let log = Arc::new(Mutex::new(NodeLog::default()));
    let own = stop.child_token();
    w.observers.push(node.name.clone());
    w.logs.push(log.clone());
    w.stops.push(own.clone());
    w.tasks.push(tokio::spawn(watch_node(
        node,
        map.clone(),
        clock,
        interval,
        own,
        log,
    )));
}

impl Watcher {
    /// Start one polling task per node of `map`, every `interval` (at least
    /// [`MIN_INTERVAL`]). Must be called within a Tokio runtime. The tasks end
    /// on [`Watcher::stop`], when `cancel` fires, or after
    /// [`MAX_SAMPLES_PER_NODE`] polls.
    ///
    /// Each poll is bounded by four intervals, within 200..500 ms; a node that
    /// fails or times out yields a `reachable: false` sample, its connection
    /// is dropped, and the next poll connects afresh (a restarted node comes
    /// back on the same address).
    pub fn start(
        map: AddressMap,
        clock: Clock,
        interval: Duration,
        cancel: CancellationToken,
    ) -> Watcher {
        let interval = interval.max(MIN_INTERVAL);
        let stop = cancel.child_token();
        let map = Arc::new(map);
        let mut w = Watched::default();
        for node in map.nodes() {
            spawn_watch(&mut w, node.clone(), &map, clock, interval, &stop);
        }
        Watcher {
            stop,
            interval,
            inner: Arc::new(Mutex::new(w)),
            map,
            clock,
        }
    }

    /// A handle that adds and retires nodes while the watcher runs.
    pub fn follow(&self) -> Follow {
        Follow {
            stop: self.stop.clone(),
            interval: self.interval,
            inner: self.inner.clone(),
            map: self.map.clone(),
            clock: self.clock,
        }
    }

    /// The most recent sample of every node polled so far, for a drill that
    /// waits on what the nodes report.
    pub fn latest(&self) -> Vec<Sample> {
        watched(&self.inner)
            .logs
            .iter()
            .filter_map(|l| lock(l).samples.last().cloned())
            .collect()
    }

    /// Stop polling and return everything recorded, sorted by time. A poll in
    /// flight is abandoned.
    pub async fn stop(self) -> Recording {
        self.stop.cancel();
        let (tasks, observers, logs, joined, left) = {
            let mut w = watched(&self.inner);
            (
                std::mem::take(&mut w.tasks),
                std::mem::take(&mut w.observers),
                std::mem::take(&mut w.logs),
                std::mem::take(&mut w.joined),
                std::mem::take(&mut w.left),
            )
        };
        for mut task in tasks {
            if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
                task.abort();
            }
        }
        let mut rec = Recording {
            interval_ns: u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX),
            observers,
            samples: Vec::new(),
            truncated: Vec::new(),
            joined,
            left,
        };
        for (name, log) in rec.observers.iter().zip(&logs) {
            let mut log = lock(log);
            rec.samples.append(&mut log.samples);
            if log.truncated {
                rec.truncated.push(name.clone());
            }
        }
        rec.samples
            .sort_by(|a, b| (a.at_ns, &a.observer).cmp(&(b.at_ns, &b.observer)));
        rec
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Poll one node every `interval` until `stop` fires or the log is full.
async fn watch_node(
    node: MappedNode,
    map: Arc<AddressMap>,
    clock: Clock,
    interval: Duration,
    stop: CancellationToken,
    log: Arc<Mutex<NodeLog>>,
) {
    let timeout = poll_timeout(interval);
    let opts = ConnectOptions {
        connect_timeout: timeout,
        response_timeout: timeout,
    };
    let mut conn: Option<NodeConn> = None;
    let mut ticks = Ticks::new(interval, &stop, MAX_SAMPLES_PER_NODE);
    while ticks.next().await {
        let sent_ns = clock.now_ns();
        let polled = tokio::time::timeout(timeout, poll(&mut conn, &node, opts));
        let Some(polled) = ticks.or_stop(polled).await else {
            return;
        };
        let mut sample = match polled {
            Ok(Ok(raw)) => raw.into_sample(clock.now_ns(), &node.name, &map),
            Ok(Err(e)) => {
                conn = None;
                Sample::unreachable(clock.now_ns(), &node.name, error_chain(&e))
            }
            Err(_) => {
                conn = None;
                Sample::unreachable(
                    sent_ns,
                    &node.name,
                    format!("no answer within {} ms", timeout.as_millis()),
                )
            }
        };
        sample.sent_ns = sent_ns;
        lock(&log).samples.push(sample);
    }
    if ticks.full() {
        lock(&log).truncated = true;
    }
}

/// The replies of one poll.
struct Raw {
    cluster_info: String,
    lines: Vec<NodeLine>,
    replication: String,
}

async fn poll(
    conn: &mut Option<NodeConn>,
    node: &MappedNode,
    opts: ConnectOptions,
) -> Result<Raw, ClusterError> {
    let c = NodeConn::kept(conn, &node.name, node.addr, opts).await?;
    let mut pipe = redis::pipe();
    pipe.cmd("CLUSTER")
        .arg("NODES")
        .cmd("CLUSTER")
        .arg("INFO")
        .cmd("INFO")
        .arg("replication");
    let (nodes, cluster_info, replication): (String, String, String) = c
        .run_pipe(&pipe, "CLUSTER NODES + CLUSTER INFO + INFO replication")
        .await?;
    Ok(Raw {
        cluster_info,
        lines: c.parse_nodes(&nodes)?,
        replication,
    })
}

impl Raw {
    fn into_sample(self, at_ns: u64, observer: &str, map: &AddressMap) -> Sample {
        sample_from(
            at_ns,
            observer,
            &self.cluster_info,
            &self.lines,
            &self.replication,
            map,
        )
    }
}

/// A reachable sample from one poll's replies. Pure.
pub(crate) fn sample_from(
    at_ns: u64,
    observer: &str,
    cluster_info: &str,
    lines: &[NodeLine],
    replication: &str,
    map: &AddressMap,
) -> Sample {
    let info = parse_info(cluster_info);
    let repl = parse_info(replication);
    let role = match repl.get("role").map(String::as_str) {
        Some("master") => Some(Role::Primary),
        Some("slave") => Some(Role::Replica),
        _ => None,
    };
    let offset = |k: &str| repl.get(k).and_then(|v| v.parse::<i64>().ok());
    let (repl_offset, link_up) = match role {
        Some(Role::Replica) => (
            offset("slave_repl_offset").or_else(|| offset("master_repl_offset")),
            Some(repl.get("master_link_status").map(String::as_str) == Some("up")),
        ),
        _ => (offset("master_repl_offset"), None),
    };
    // Names by node id first, so that a replica's primary resolves too.
    let names: HashMap<&str, String> = lines
        .iter()
        .map(|l| (l.id.as_str(), peer_name(l, observer, map)))
        .collect();
    // A handshake entry carries a random id, often with the address of a node
    // listed under its real id too: it would be a second, flagless, view of
    // that node.
    let peers = lines
        .iter()
        .filter(|l| !l.flags.handshake)
        .map(|l| PeerView {
            name: names[l.id.as_str()].clone(),
            flags: PeerFlags {
                myself: l.flags.myself,
                primary: l.flags.master,
                replica: l.flags.slave,
                pfail: l.flags.pfail,
                fail: l.flags.fail,
            },
            replica_of: l
                .primary_id
                .as_deref()
                .map(|id| names.get(id).cloned().unwrap_or_else(|| id.to_string())),
            slots: count(&l.slots),
            link_connected: l.link_connected,
        })
        .collect();
    Sample {
        at_ns,
        sent_ns: at_ns,
        observer: observer.to_string(),
        reachable: true,
        error: None,
        state_ok: info.get("cluster_state").map(String::as_str) == Some("ok"),
        epoch: info
            .get("cluster_current_epoch")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        role,
        repl_offset,
        link_up,
        peers,
    }
}

/// The name of the node a line describes: the observer itself for `myself`,
/// else the map's name for its announced address, else its node id.
fn peer_name(line: &NodeLine, observer: &str, map: &AddressMap) -> String {
    if line.flags.myself {
        return observer.to_string();
    }
    line.addr
        .and_then(|a| map.name_at(a))
        .unwrap_or_else(|| line.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::nodes::parse_cluster_nodes;

    const MS: u64 = 1_000_000;

    #[test]
    fn sample_from_replies() {
        const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        const R: &str = "cccccccccccccccccccccccccccccccccccccccc";
        const X: &str = "dddddddddddddddddddddddddddddddddddddddd";
        const H: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
        let mut map = AddressMap::new();
        for (name, announce, addr) in [
            ("a", "172.18.0.2:6379", "127.0.0.1:7001"),
            ("b", "172.18.0.3:6379", "127.0.0.1:7002"),
            ("r", "172.18.0.4:6379", "127.0.0.1:7003"),
        ] {
            map.insert(name, announce.parse().unwrap(), addr.parse().unwrap())
                .unwrap();
        }
        let lines = parse_cluster_nodes(&format!(
            "{A} 172.18.0.2:6379@16379 master,fail? - 0 0 1 connected 0-8191\n\
             {B} 172.18.0.3:6379@16379 master - 0 0 2 connected 8192-16383\n\
             {R} 172.18.0.4:6379@16379 myself,slave {A} 0 0 3 connected\n\
             {X} 172.18.0.9:6379@16379 slave,fail {B} 0 0 2 disconnected\n\
             {H} 172.18.0.2:6379@16379 handshake - 0 0 0 connected\n"
        ))
        .unwrap();
        let s = sample_from(
            42,
            "r",
            "cluster_state:ok\r\ncluster_current_epoch:6\r\n",
            &lines,
            "# Replication\r\nrole:slave\r\nmaster_link_status:down\r\n\
             slave_repl_offset:1234\r\nmaster_repl_offset:1300\r\n",
            &map,
        );
        assert!(s.reachable && s.state_ok);
        assert_eq!(s.epoch, 6);
        assert_eq!(s.role, Some(Role::Replica));
        assert_eq!(s.repl_offset, Some(1234));
        assert_eq!(s.link_up, Some(false));
        assert_eq!(s.me().unwrap().name, "r");
        assert_eq!(s.me().unwrap().replica_of.as_deref(), Some("a"));
        let a = s.peer("a").unwrap();
        assert!(a.flags.pfail && a.flags.primary && !a.flags.fail);
        assert_eq!(a.slots, 8192);
        // Not in the map: named by its id.
        let x = s.peer(X).unwrap();
        assert!(x.flags.fail && !x.link_connected);
        assert_eq!(x.replica_of.as_deref(), Some("b"));
        assert_eq!(
            s.owners(),
            std::collections::BTreeMap::from([("a", 8192), ("b", 8192)])
        );
        // The handshake entry with a's address is left out.
        assert_eq!(s.peers.len(), 4);
        assert_eq!(s.peers.iter().filter(|p| p.name == "a").count(), 1);

        let p = sample_from(
            1,
            "b",
            "cluster_state:fail\r\n",
            &lines,
            "role:master\r\nmaster_repl_offset:99\r\n",
            &map,
        );
        assert!(!p.state_ok);
        assert_eq!(p.epoch, 0);
        assert_eq!(p.role, Some(Role::Primary));
        assert_eq!(p.repl_offset, Some(99));
        assert_eq!(p.link_up, None);
    }

    #[test]
    fn poll_timeouts() {
        assert_eq!(poll_timeout(Duration::from_millis(50)), MIN_POLL_TIMEOUT);
        assert_eq!(
            poll_timeout(Duration::from_millis(100)),
            Duration::from_millis(400)
        );
        assert_eq!(poll_timeout(Duration::from_secs(1)), MAX_POLL_TIMEOUT);
    }

    /// A node that accepts connections and never answers (as a paused
    /// redis-server does) and one that refuses them (a killed one): both yield
    /// unreachable samples, on time, and stop returns promptly.
    #[tokio::test]
    async fn silent_and_refusing_nodes_are_unreachable() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_addr = silent.local_addr().unwrap();
        let refusing = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let held = tokio::spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..100 {
                match silent.accept().await {
                    Ok((c, _)) => conns.push(c),
                    Err(_) => break,
                }
            }
        });
        let mut map = AddressMap::new();
        map.insert("silent", silent_addr, silent_addr).unwrap();
        map.insert("refusing", refusing, refusing).unwrap();
        let clock = Clock::start();
        let cancel = CancellationToken::new();
        let w = Watcher::start(map, clock, Duration::from_millis(20), cancel.clone());
        // Wait (bounded: 5 s, ample on a loaded 2-core box) until the silent
        // node has timed out twice.
        for _ in 0..250 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if w.latest().len() == 2 && lock(&watched(&w.inner).logs[0]).samples.len() >= 2 {
                break;
            }
        }
        let started = std::time::Instant::now();
        let rec = w.stop().await;
        assert!(started.elapsed() < Duration::from_millis(500));
        held.abort();
        assert_eq!(rec.observers, vec!["silent", "refusing"]);
        assert!(
            rec.samples
                .iter()
                .all(|s| !s.reachable && s.error.is_some())
        );
        let silent: Vec<&Sample> = rec.of("silent").collect();
        assert!(silent.len() >= 2, "{silent:?}");
        // Polled again right after each timeout, not in a burst.
        let gap = silent[1].at_ns - silent[0].at_ns;
        assert!(gap >= 200 * MS, "{gap}");
        assert!(rec.of("refusing").count() > silent.len());
        assert!(rec.samples.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
        assert!(rec.truncated.is_empty());
        assert_eq!(rec.interval_ns, 20 * MS);
    }

    #[tokio::test]
    async fn the_parent_token_stops_the_tasks() {
        let refusing = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let mut map = AddressMap::new();
        map.insert("gone", refusing, refusing).unwrap();
        let cancel = CancellationToken::new();
        let w = Watcher::start(
            map,
            Clock::start(),
            Duration::from_millis(10),
            cancel.clone(),
        );
        cancel.cancel();
        for _ in 0..100 {
            if watched(&w.inner).tasks.iter().all(|t| t.is_finished()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(watched(&w.inner).tasks.iter().all(|t| t.is_finished()));
        let n = w.stop().await.samples.len();
        assert!(n <= 1, "{n} samples after an immediate cancel");
    }
}
