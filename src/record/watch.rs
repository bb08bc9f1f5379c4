//! The watcher's recording: what every node thought of the cluster, polled
//! on the run's clock while a drill ran (`watch.json`). The cluster's
//! watcher writes it; the checker reads it (failover and rejoin timelines,
//! convergence, outage windows), also offline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A node's role as its own `CLUSTER NODES` line gives it: the same two
/// values a topology declares, so one type serves both.
pub use crate::topology::Role;

/// The flags of one `CLUSTER NODES` line that a failover moves through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerFlags {
    pub myself: bool,
    pub primary: bool,
    pub replica: bool,
    /// `fail?`: the observer has had no answer from the peer for a node timeout.
    pub pfail: bool,
    /// `fail`: a majority of primaries agreed the peer is down.
    pub fail: bool,
}

/// What an observer believes about one node (itself included, flagged `myself`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    /// The node's name, from its announced address through the [`AddressMap`];
    /// its node id when the address is unknown (a node the map does not list).
    pub name: String,
    pub flags: PeerFlags,
    /// For a replica, the name of its primary (resolved like `name`).
    pub replica_of: Option<String>,
    /// Number of slots the observer believes the node serves.
    pub slots: usize,
    /// Whether the observer's cluster bus link to the node is up.
    pub link_connected: bool,
}

/// One poll of one node: its own state and its view of every node.
///
/// When `reachable` is false the node did not answer (killed, paused, or cut
/// off); every field after `error` is then empty (false, 0, `None`, no peers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// When the sample's view was known to hold, in nanoseconds on the run's
    /// clock: the reply's arrival (or the error's). A node that did not
    /// answer within the poll's timeout is stamped at the poll's sending: it
    /// was not answering from then on. Stamping at the reply keeps events
    /// from reading early: a change is seen at the latest when it was known.
    pub at_ns: u64,
    /// When the poll was sent. `at_ns - sent_ns` is the poll's round trip:
    /// how much earlier than `at_ns` the view may already have held, on top
    /// of the polling interval.
    #[serde(default)]
    pub sent_ns: u64,
    /// The polled node's name.
    pub observer: String,
    pub reachable: bool,
    /// Why the node was not reachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// CLUSTER INFO `cluster_state:ok`.
    pub state_ok: bool,
    /// CLUSTER INFO `cluster_current_epoch`: a failover raises it.
    pub epoch: u64,
    /// INFO replication `role`.
    pub role: Option<Role>,
    /// `master_repl_offset` for a primary, `slave_repl_offset` for a replica:
    /// how far into its primary's stream a replica is, comparable with its
    /// primary's own offset.
    pub repl_offset: Option<i64>,
    /// For a replica, `master_link_status:up`; `None` for a primary.
    pub link_up: Option<bool>,
    pub peers: Vec<PeerView>,
}

impl Sample {
    /// The sample of a node that did not answer.
    pub(crate) fn unreachable(at_ns: u64, observer: &str, error: String) -> Sample {
        Sample {
            at_ns,
            sent_ns: at_ns,
            observer: observer.to_string(),
            reachable: false,
            error: Some(error),
            state_ok: false,
            epoch: 0,
            role: None,
            repl_offset: None,
            link_up: None,
            peers: Vec::new(),
        }
    }

    /// The observer's view of the node called `name`.
    pub fn peer(&self, name: &str) -> Option<&PeerView> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// The observer's own line.
    pub fn me(&self) -> Option<&PeerView> {
        self.peers.iter().find(|p| p.flags.myself)
    }

    /// Who serves slots in this view, and how many: the primaries with slots.
    /// Two observers with equal owners agree on the slot map as far as slot
    /// counts tell (a failover moves a shard's slots whole, so counts suffice).
    pub fn owners(&self) -> BTreeMap<&str, usize> {
        self.peers
            .iter()
            .filter(|p| p.flags.primary && p.slots > 0)
            .map(|p| (p.name.as_str(), p.slots))
            .collect()
    }
}

/// Everything a watcher saw, sorted by time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    /// The polling interval: the resolution of every time read from the samples.
    pub interval_ns: u64,
    /// The polled nodes, in the address map's order.
    pub observers: Vec<String>,
    /// Sorted by `at_ns`, then observer.
    pub samples: Vec<Sample>,
    /// Nodes whose polling stopped at the watcher's `MAX_SAMPLES_PER_NODE`; their
    /// samples end before the recording does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<String>,
    /// Nodes that joined the watch after it began (a rolling upgrade's new
    /// nodes), with when (ns on the run's clock).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub joined: BTreeMap<String, u64>,
    /// Nodes that left the cluster while it was watched, with when: from
    /// then on no analysis waits for them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub left: BTreeMap<String, u64>,
}

impl Recording {
    /// Whether `observer` was a member of the cluster at `at_ns`: it had
    /// joined the watch (or was in it from the start) and had not left.
    pub fn member_at(&self, observer: &str, at_ns: u64) -> bool {
        self.joined.get(observer).is_none_or(|&j| j <= at_ns)
            && self.left.get(observer).is_none_or(|&l| l > at_ns)
    }

    /// The samples of one observer, in time order.
    pub fn of<'a>(&'a self, observer: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.observer == observer)
    }
}
