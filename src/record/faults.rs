//! The faults as they happened (`record.json`'s `faults`): each a window
//! on the run's clock, written by the nemesis, read by the checker (which
//! failover, which outage, which loss belongs to which fault) and the
//! report (the fault table, the shaded windows).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Every fault the nemesis knows, by its one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// SIGKILL (docker kill): no clean shutdown, connections reset at once.
    Kill,
    /// Graceful stop then start.
    Restart,
    /// Graceful stop (SIGTERM, docker stop).
    Stop,
    /// Start a stopped or killed node with its data.
    Start,
    /// SIGSTOP / docker pause: the node freezes with its sockets open.
    Pause,
    /// SIGCONT / docker unpause.
    Resume,
    /// Drop packets between nodes as a grudge says (silently: no RST, no ICMP).
    Partition,
    /// Remove every partition.
    Heal,
    /// `CLUSTER FAILOVER [FORCE|TAKEOVER]` on a replica.
    Failover,
    /// Change a link between regions for a while: a latency spike (its
    /// `delay_ms` and `jitter_ms`), undone by `heal`.
    Slow,
    /// `FLUSHALL` on the target primaries: the cache restarts cold (their
    /// replicas follow). Nothing undoes it.
    Flush,
    /// `CLIENT PAUSE ALL`: the node stops serving its clients' commands, but
    /// it is not frozen as by SIGSTOP: it answers its cluster bus and its
    /// replicas, so no failover follows. Through Redis: works on a
    /// deployment the tool did not start.
    Stall,
    /// `CLIENT PAUSE WRITE`: the node holds its clients' writes (and
    /// commands that may write) and serves reads.
    #[serde(rename = "stall_writes")]
    StallWrites,
    /// `CLIENT UNPAUSE`: undoes `stall` and `stall_writes`.
    Unstall,
    /// `CLIENT KILL TYPE normal`: every client connection of the node is
    /// closed at once (replicas and the cluster bus are not clients): the
    /// clients must notice and reconnect. The node itself is fine. Through
    /// Redis; nothing to undo.
    #[serde(rename = "drop_clients")]
    DropClients,
    /// `DEBUG SLEEP` for the hold: the node's whole event loop stops —
    /// clients, the cluster bus, replication — the nearest thing to a
    /// SIGSTOP through Redis (its listening socket still accepts, the
    /// kernel does that). Needs `enable-debug-command` on the server.
    Sleep,
    /// Wait until a sleeping node answers again: undoes `sleep` (which
    /// ends by itself).
    Wake,
    /// `CONFIG SET` of the settings the fault's `set` gives, each node's
    /// old values read first (`CONFIG GET`) and put back by
    /// `restore_config`. Through Redis.
    Config,
    /// `CONFIG SET` of the values a `config` fault found: its undo.
    #[serde(rename = "restore_config")]
    RestoreConfig,
    /// Replace a node by a new one on another server, under load: the new
    /// node joins as a replica of the shard's primary and syncs; if the old
    /// node is the primary, a coordinated failover hands the shard to the
    /// new one; then the old node is stopped and forgotten by every other.
    /// One step of a rolling upgrade (or of its rollback). Nothing undoes it.
    Replace,
}

impl FaultKind {
    /// Every fault, once: what the parser lists in its message and the
    /// vocabulary tests walk.
    pub const ALL: [FaultKind; 20] = [
        FaultKind::Kill,
        FaultKind::Restart,
        FaultKind::Stop,
        FaultKind::Start,
        FaultKind::Pause,
        FaultKind::Resume,
        FaultKind::Partition,
        FaultKind::Heal,
        FaultKind::Failover,
        FaultKind::Slow,
        FaultKind::Flush,
        FaultKind::Stall,
        FaultKind::StallWrites,
        FaultKind::Unstall,
        FaultKind::DropClients,
        FaultKind::Sleep,
        FaultKind::Wake,
        FaultKind::Config,
        FaultKind::RestoreConfig,
        FaultKind::Replace,
    ];

    /// What undoes this fault at the end of its hold (`None`: nothing to undo).
    pub fn healed_by(self) -> Option<FaultKind> {
        match self {
            FaultKind::Kill | FaultKind::Stop => Some(FaultKind::Start),
            FaultKind::Pause => Some(FaultKind::Resume),
            FaultKind::Partition | FaultKind::Slow => Some(FaultKind::Heal),
            FaultKind::Stall | FaultKind::StallWrites => Some(FaultKind::Unstall),
            FaultKind::Sleep => Some(FaultKind::Wake),
            FaultKind::Config => Some(FaultKind::RestoreConfig),
            _ => None,
        }
    }

    /// Whether the fault takes its node(s) away from the cluster until healed,
    /// so that the others may fail it over.
    pub fn takes_node_away(self) -> bool {
        matches!(
            self,
            FaultKind::Kill | FaultKind::Stop | FaultKind::Pause | FaultKind::Partition
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultKind::Kill => "kill",
            FaultKind::Restart => "restart",
            FaultKind::Stop => "stop",
            FaultKind::Start => "start",
            FaultKind::Pause => "pause",
            FaultKind::Resume => "resume",
            FaultKind::Partition => "partition",
            FaultKind::Heal => "heal",
            FaultKind::Failover => "failover",
            FaultKind::Slow => "slow",
            FaultKind::Flush => "flush",
            FaultKind::Stall => "stall",
            FaultKind::StallWrites => "stall_writes",
            FaultKind::Unstall => "unstall",
            FaultKind::DropClients => "drop_clients",
            FaultKind::Sleep => "sleep",
            FaultKind::Wake => "wake",
            FaultKind::Config => "config",
            FaultKind::RestoreConfig => "restore_config",
            FaultKind::Replace => "replace",
        })
    }
}

impl FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.to_string() == s)
            .ok_or_else(|| {
                format!(
                    "unknown fault `{s}` (faults: {})",
                    FaultKind::ALL.map(|k| k.to_string()).join(", ")
                )
            })
    }
}

/// One fault as it happened: the report's fault table and the chart's shaded
/// windows come from these.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultWindow {
    pub fault: FaultKind,
    /// The target as written (`primary_of:0`), or the shape for a partition.
    pub target: String,
    /// The nodes it hit.
    pub nodes: Vec<String>,
    /// Of those, the ones that were primaries serving slots when it hit: the
    /// shards whose failover the drill measures.
    pub primaries: Vec<String>,
    /// What exactly: the grudge of a partition, the mode of a failover.
    pub detail: String,
    /// A partition's shape (`isolate`, `clients`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<crate::net::Shape>,
    /// A partition that left the primary of the moment apart from enough
    /// Sentinels to fail it over (its quorum, and a majority of them): the
    /// Sentinels' failover is due, whatever the shape.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub primary_cut_from_sentinels: bool,
    /// When applying began and when it returned, ns since the run's epoch.
    pub start_ns: u64,
    pub applied_ns: u64,
    /// What undoes it, and when that began and returned (None: still in force,
    /// or nothing to undo).
    pub undo: Option<FaultKind>,
    pub undo_start_ns: Option<u64>,
    pub undone_ns: Option<u64>,
    /// For a failover: how long until the replica reported itself primary.
    pub promoted_ms: Option<f64>,
    /// Why the fault did not hit when the scenario asked (`after_slots`
    /// reached by no reshard): the drill did not do what it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mistimed: Option<String>,
    /// Why the runtime could not perform it at all (a partition without
    /// root, an image without iptables): the drill ran on without it, and
    /// its verdict is `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Who served which slots when the fault hit (a cluster's primaries
    /// that answered; empty for other kinds): with the owners before and
    /// after the drill, what splits a shard into the groups of slots whose
    /// outages are judged apart (the slots a move had already given to a
    /// target that is killed, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slot_owners: Vec<super::status::OwnedRange>,
    /// The user's commands run for this fault and its undo (on a deployment
    /// reached through hooks), in the order they started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<HookRun>,
}

/// One run of a user's hook command: what ran, when, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookRun {
    /// The fault kind it stands for (`kill`, `start`, `partition`...).
    pub hook: String,
    /// The node it was run for.
    pub node: String,
    /// The command as run, placeholders filled in.
    pub command: String,
    /// When it started and when it ended (or was killed), ns on the run's clock.
    pub start_ns: u64,
    pub end_ns: u64,
    /// Its exit code; `None` when it was killed (a timeout) or died of a signal.
    pub exit_code: Option<i32>,
    /// Killed after the hooks' timeout.
    #[serde(default)]
    pub timed_out: bool,
    /// The end of what it printed (stdout then stderr).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
}

impl HookRun {
    /// Whether it did what it stands for: exit 0 within the timeout.
    pub fn ok(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// `kill s1n1: exit 1` / `kill s1n1: timed out`, for verdicts and messages.
    pub fn outcome(&self) -> String {
        let how = match (self.timed_out, self.exit_code) {
            (true, _) => "timed out".to_string(),
            (false, Some(c)) => format!("exit {c}"),
            (false, None) => "killed by a signal".to_string(),
        };
        format!("{} {}: {how}", self.hook, self.node)
    }
}
