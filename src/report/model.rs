//! The report's model: [`Report`], the source of truth every rendering
//! reads, and the types it is made of, with the SLO evaluation that fills
//! its verdict. Kept apart from `mod.rs` so that the renderings below can
//! read it without reaching up into the folder's entry.

pub use crate::record::run::{Environment, ExpectSpec, MAX_OVERWRITTEN_LISTED, ReshardSummary};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::status::StatusReport;

/// Bumped whenever a field changes meaning or disappears. 2: SLO results and
/// the verdict are tri-state (`pass` | `fail` | `unknown`); the history's
/// `start_ns` became `due_ns`, with `sent_ns` beside it.
pub const FORMAT_VERSION: u32 = 2;

/// One run, as `report.json` stores it: the source of truth. Every
/// rendering (Markdown, HTML, JUnit) and every later look (`compare`, the
/// nightly, `check-run`) reads this and nothing else, so that a run can be
/// judged again, and drawn again, long after its cluster is gone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub format_version: u32,
    pub scenario: String,
    /// The seed every random choice came from; `--seed` replays it.
    pub seed: u64,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// The run's time 0 on the machine's CLOCK_MONOTONIC, ns: every `*_ms`
    /// of the report plus this is a `clock_gettime(CLOCK_MONOTONIC)` reading,
    /// so another tool's timestamps on the same machine line up with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch_monotonic_ns: Option<u64>,
    pub environment: Environment,
    /// The topology report (as `status --json`) before the drill's action.
    pub topology: StatusReport,
    /// ... and after the drill, before teardown.
    pub topology_after: Option<StatusReport>,
    pub phases: Vec<PhaseMs>,
    pub events: Vec<EventMs>,
    pub workload: WorkloadSummary,
    pub downtime_ms: DowntimeSummary,
    /// From the last step of the drill's action (the last SETSLOT of a reshard)
    /// until every node agrees on the slot map (a replicated topology: until
    /// one primary has every replica caught up, and with Sentinels every one
    /// names it with no failover under way); `null` when not measured.
    pub convergence_ms: Option<f64>,
    /// The same moment as the watcher's recording shows it (a cluster): the
    /// first poll after the action at which every node that is up said
    /// `cluster_state:ok` and all agreed on the slot owners, ms after the
    /// action; `null` when the recording never shows it, or has nothing to
    /// show (not a cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convergence_seen_ms: Option<f64>,
    pub reshard: Option<ReshardSummary>,
    pub checks: Checks,
    pub slo: Vec<SloResult>,
    pub verdict: Verdict,
    /// The SLOs the scenario is written to break (`expect.fail`), and
    /// whether they did; `None` for a drill that expects every SLO to hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Expected>,
    /// Per second of the run: ops ok, failed, p99 — for charts.
    #[serde(default)]
    pub per_second: Vec<Second>,
    /// The server-side reference beside the clients' figures: raw PINGs per
    /// primary and each node's own command figures, by phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceSummary>,
    /// Every fault the nemesis applied, with what it cost (empty for a pure
    /// reshard drill).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultReport>,
    /// The lock workload's safety and liveness, when the drill ran one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locks: Option<LocksReport>,
    /// Each link between regions: its declared round trip beside the one
    /// measured through it before the drill; empty without links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkReport>,
    /// The clients of each region (`workload.regions`): what they cross to
    /// reach each region, and what they saw; empty without regions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_regions: Vec<ClientRegion>,
    /// Each client library's clients apart, when the drill ran more than
    /// redis-rs (`workload.clients` groups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_libraries: Vec<ClientLibrary>,
    /// The run's ops for the HTML charts, when the report was just made
    /// from its stored run (`check`): never written to `report.json`, whose
    /// per-second series stays as it was; absent when a page is re-made
    /// from `report.json` alone, and the charts then say they are per second.
    #[serde(skip)]
    pub op_log: Option<super::oplog::OpLog>,
    /// On a deployment the tool did not start: its servers, the keys the
    /// drill kept to, and what the tool did to it, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<crate::record::attached::AttachedRun>,
    /// With Sentinels: what they published and each fault's failover
    /// timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel: Option<super::sentinel::SentinelReport>,
    /// Every key's history against one copy of the key: keys decided,
    /// violations and their smallest counter-examples; absent for a drill
    /// with no key/value workload (and in runs checked before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linearizability: Option<super::linearizability::LinearizabilityReport>,
    /// The clients' ops by shard and by slot, on a cluster: each shard's
    /// share and service time, the busiest slots, the skew; absent on
    /// other topologies (and in runs checked before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<super::shards::ShardLoad>,
}

/// The clients of one region and what they saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRegion {
    pub region: String,
    /// The round trips from these clients to a node of each region (their
    /// own included), measured before the drill, against the declared ones.
    pub paths: Vec<LinkReport>,
    /// Their app clients' ops: counts, and latency by phase.
    pub app: ClientSummary,
    /// Their probe clients' ops.
    pub probe: ClientSummary,
    /// App clients: the longest unavailable window over all shards (ms);
    /// writes alone; the probe clients'.
    pub downtime_ms: f64,
    pub write_downtime_ms: f64,
    pub probe_downtime_ms: f64,
    /// Acknowledged writes of these clients that the final state
    /// contradicts.
    pub lost_acknowledged_writes: u64,
    /// Their app clients' ok writes, from sending to the answer (ms): those
    /// without a WAIT, and (with `workload.wait`) those with one. From a
    /// region away from the primary the difference is what waiting for a
    /// replica costs there.
    #[serde(default)]
    pub writes_ms: crate::checker::Latency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_with_wait_ms: Option<crate::checker::Latency>,
    /// Their app clients' reads judged for staleness (`replica_reads`:
    /// with `local`, what a region's own replicas gave them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<StaleSide>,
    /// Their downtime figures that could not be measured, and why (`app`,
    /// `writes`, `probe`: no op, or a shard holding the drill's keys with
    /// no op of theirs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<String, String>,
}

/// One client library's clients and what they saw, when a drill ran more
/// than one library (`workload.clients` groups): a column of the report's
/// client-libraries table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientLibrary {
    /// The group's name (its library's, unless the scenario named it).
    pub name: String,
    pub library: String,
    /// As the library reported it (`None`: its adapter never said).
    pub version: Option<String>,
    /// Every setting that changes an outcome, as the library ran with it.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub clients: u32,
    /// Counts, errors, latency and the tool's lag by phase.
    pub summary: ClientSummary,
    /// The longest unavailable window over all shards (ms), and of writes alone.
    pub downtime_ms: f64,
    pub write_downtime_ms: f64,
    /// The longest time between two successes on any shard (ms): ops that
    /// hang, then succeed, open no failure window, but the clients waited.
    #[serde(default)]
    pub longest_wait_ms: f64,
    /// The longest window of each shard (its primary when the drill began).
    #[serde(default)]
    pub downtime_by_shard_ms: BTreeMap<String, f64>,
    /// The longest window of each part of a shard the drill split, by its
    /// chain of owners (`s1n1→s2n1→s2n2`), as `downtime_ms.per_group`:
    /// `downtime_ms` is the longest of these and the shards'.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub downtime_by_group_ms: BTreeMap<String, f64>,
    /// Its acknowledged writes that the final state contradicts.
    pub lost_acknowledged_writes: u64,
    /// Its reads judged for staleness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<StaleSide>,
    /// Failed and indeterminate ops by the error the library raised.
    #[serde(default)]
    pub error_classes: BTreeMap<String, u64>,
    /// Ok ops per 100 ms of the run (by when they ended), from its start.
    #[serde(default)]
    pub ok_per_bucket: Vec<u32>,
    /// Figures that could not be measured, and why (`downtime`, `writes`,
    /// `latency <phase>`, `lost`, `stale`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<String, String>,
    /// Why its adapter's figures cannot be trusted, naming the line at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr_tail: String,
    /// A worker on another host: where it ran, and its clock against the
    /// controller's (offset at start and end, uncertainty, and the error
    /// against the truth where the engines share one clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<crate::workload::adapter::clock::WorkerClock>,
}

/// One link's round trip, declared and measured (`runtime::links::measure`:
/// sequential PINGs on one connection from a node of one region, bound to
/// its address, to a node of the other, through the relay as the nodes'
/// own traffic goes), and whether they matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkReport {
    /// `eu<->us`.
    pub link: String,
    /// Twice the one-way `delay_ms`.
    pub declared_rtt_ms: f64,
    pub jitter_ms: f64,
    pub loss_pct: f64,
    /// The two nodes measured between, `from` sending the PINGs.
    pub from: String,
    pub to: String,
    /// PINGs answered; 0 when the link could not be measured.
    pub pings: usize,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub min_ms: Option<f64>,
    /// pass: the median within 10 % (at least 1 ms) of the declared round
    /// trip and no PING faster than the declared round trip less twice the
    /// jitter; fail otherwise; unknown when nothing was measured.
    pub check: Verdict,
    /// The check in words, or why the link was not measured.
    pub note: String,
}

/// One fault and what it did to the cluster and to clients. Times are ms
/// since the run's start unless a name says `_after_ms` (then: since the fault).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FaultReport {
    pub fault: String,
    /// As written (`primary_of:0`), or the partition's shape.
    pub target: String,
    pub nodes: Vec<String>,
    /// Primaries (serving slots) it hit: the shards whose failover is measured.
    pub primaries: Vec<String>,
    /// The grudge of a partition, the mode of a failover.
    pub detail: String,
    pub start_ms: f64,
    pub applied_ms: f64,
    /// What undid it (`start`, `resume`, `heal`) and when that returned.
    pub undo: Option<String>,
    pub undone_ms: Option<f64>,
    /// Manual failover: until the replica reported itself primary.
    pub promoted_after_ms: Option<f64>,
    /// Why the runtime could not perform this fault (a partition without
    /// root, an image without iptables): the drill ran without it, and its
    /// verdict is `unknown` (SLO `faults_performed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The user's hooks run for it and its undo (an attached deployment).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<crate::record::faults::HookRun>,
    /// From the undo (or, with nothing to undo, from the fault) until every
    /// node answered, reported `cluster_state:ok`, flagged nobody and agreed
    /// on the slot owners, as the watcher saw it.
    #[serde(default)]
    pub converged_after_ms: Option<f64>,
    /// Per primary hit: the failover as the other nodes saw it.
    #[serde(default)]
    pub failover: Vec<FailoverMs>,
    /// Per node undone after a kill or stop: its way back in.
    #[serde(default)]
    pub rejoin: Vec<RejoinMs>,
    /// Per shard: the longest client-observed unavailable window that was
    /// open while this fault was the latest (app clients, then probe).
    #[serde(default)]
    pub downtime_ms: BTreeMap<String, f64>,
    #[serde(default)]
    pub probe_downtime_ms: BTreeMap<String, f64>,
    /// Distinct unavailable windows (app clients, all shards) in that time.
    #[serde(default)]
    pub downtime_windows: u32,
    /// Why the downtime above may miss windows: a flapping shard had more
    /// windows than the analysis keeps, and the ones it dropped may fall in
    /// this fault's time. The figures are then a lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime_incomplete: Option<String>,
}

/// A failover as the cluster's nodes recorded it (ms after the fault).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FailoverMs {
    /// The primary that failed.
    pub node: String,
    /// The replica that took over, if one did.
    pub promoted: Option<String>,
    /// First time another node flagged it PFAIL, then FAIL.
    pub pfail_after_ms: Option<f64>,
    pub fail_after_ms: Option<f64>,
    /// First time its replica reported itself primary.
    pub promoted_after_ms: Option<f64>,
    /// First time every reachable node reported cluster_state:ok after that.
    pub state_ok_after_ms: Option<f64>,
    /// First time every reachable node agreed on the slot owners after that.
    pub agreed_after_ms: Option<f64>,
    /// The Redis Cluster spec's bound for this failover: node timeout, then the
    /// election delay (500 ms + up to 500 ms random + 1 s per rank).
    pub node_timeout_ms: u64,
    /// The spec's range for the promotion: at best node timeout + 500 ms
    /// (+1 s per rank), at worst 2 × node timeout + 1.5 s (+1 s per rank).
    #[serde(default)]
    pub expected_min_ms: f64,
    pub expected_max_ms: f64,
}

/// A node's way back after a restart (ms after it was started again).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RejoinMs {
    pub node: String,
    pub reachable_after_ms: Option<f64>,
    /// First seen by itself as a replica.
    pub replica_after_ms: Option<f64>,
    pub link_up_after_ms: Option<f64>,
    /// Its replication offset reached its primary's.
    pub caught_up_after_ms: Option<f64>,
}

/// A phase of the drill (baseline, during, recovery, after) and when it
/// ran: every figure by phase, and the charts' phase marks, key on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseMs {
    pub name: String,
    pub start_ms: f64,
    pub end_ms: f64,
}

/// Something the drill did, and when: the timeline a reader lines the
/// figures up against.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventMs {
    pub at_ms: f64,
    pub kind: String,
    pub detail: String,
}

pub use crate::checker::locks::LockCheck as LocksReport;
pub use crate::checker::{ClientSecond, Latency, PhaseCheck, PingSummary, Second, SelfCheck};
pub use crate::record::ops::WorkloadStats;
pub use crate::record::pings::{CommandStats, NodeSample};

/// What one class of clients saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientSummary {
    pub clients: u32,
    pub ops_ok: u64,
    pub ops_failed: u64,
    /// Timed out or cut off after sending: may have taken effect.
    pub ops_indeterminate: u64,
    /// MOVED/ASK redirects seen (counted exactly by probe clients).
    pub redirects: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Latency from the schedule (due → end) of ok ops, by phase: what a
    /// user feels; the latency SLOs read it.
    pub latency_ms: BTreeMap<String, Latency>,
    /// Latency from the schedule of every op, by phase: failed and timed-out
    /// ops count at the time they took to fail. No SLO reads it; it shows
    /// what `latency_ms` leaves out.
    #[serde(default)]
    pub latency_all_ms: BTreeMap<String, Latency>,
    /// Service time (sent → end) of ok ops, by phase: the client path and
    /// the server.
    #[serde(default)]
    pub service_ms: BTreeMap<String, Latency>,
    /// The tool's own lag (due → sent) of every op, by phase.
    #[serde(default)]
    pub tool_lag_ms: BTreeMap<String, Latency>,
    /// Ops that waited for room in flight (`max_in_flight`), by phase.
    #[serde(default)]
    pub pool_wait: BTreeMap<String, PoolWait>,
    /// By phase, the latency 99 % of the ops due in it were answered within
    /// (an op that failed or timed out counting as slower than any answer);
    /// absent for a phase where more than 1 % got no answer, or none was
    /// due. The latency SLOs read it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub p99_answered_ms: BTreeMap<String, f64>,
    /// Figures of these clients the run could not measure, and why (`ops`:
    /// no op of theirs was recorded).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<String, String>,
}

/// Ops that had to wait for room in flight before they were sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolWait {
    pub ops: u64,
    pub max_ms: f64,
}

/// The server-side reference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceSummary {
    /// How often each primary was PINGed (ms).
    pub interval_ms: u64,
    /// Phase → node → round trips of successful PINGs.
    pub ping_ms: BTreeMap<String, BTreeMap<String, PingSummary>>,
    /// Phase → node → command (`get`, `set`, …) → what the node counted.
    #[serde(default)]
    pub server: BTreeMap<String, BTreeMap<String, NodeSample>>,
}

/// What the clients did: the app clients (with retries, as an application
/// sees the cluster) and the probe (without, as the cluster is), apart,
/// because the difference between them is what retries hide.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkloadSummary {
    /// Application clients: the redis crate's cluster client with retries.
    #[serde(flatten)]
    pub app: ClientSummary,
    /// Probe clients: no retries; what the cluster really did.
    pub probe: ClientSummary,
    /// What the workload engine did (dispatch, in flight, connections).
    #[serde(default)]
    pub engine: WorkloadStats,
    /// Whether the tool kept its schedule.
    #[serde(default)]
    pub self_check: SelfCheck,
}

/// How long clients could not be served, from the recorded history: per
/// shard and at worst, for the app clients, their writes and the probe.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DowntimeSummary {
    /// App clients: per shard (initial primary's name), the longest window from
    /// the last success before a failure to the first success after it.
    pub per_shard: BTreeMap<String, f64>,
    /// The longest window over all shards; with clients in regions, the
    /// worst region's (`client_regions`), when that is longer.
    pub max: f64,
    /// Distinct unavailable windows over all shards (app clients).
    pub windows: u32,
    /// The same for probe clients.
    pub probe_per_shard: BTreeMap<String, f64>,
    pub probe_max: f64,
    /// App clients: per shard, the longest time between two successes
    /// (a stall that ends in success is no failure window, but a wait).
    #[serde(default)]
    pub gap_per_shard: BTreeMap<String, f64>,
    #[serde(default)]
    pub gap_max: f64,
    /// App clients' writes alone: per shard, the longest window from the
    /// last write that succeeded before a failed one to the first after it.
    /// A shard can serve reads while its writes wait (a coordinated
    /// failover pauses them), which the windows above, over every op, miss.
    #[serde(default)]
    pub write_per_shard: BTreeMap<String, f64>,
    #[serde(default)]
    pub write_max: f64,
    /// The parts of a shard split by the drill — its slots grouped by their
    /// chain of owners from the start, through each fault, to the end
    /// (`s1n1→s2n1→s2n2`: given to s2n1, killed, served by its replica;
    /// `s1n1 (kept)`: never left) — each judged apart, since one part's
    /// successes must not close another's outage: app clients, probe
    /// clients, app writes. A shard that stayed or moved whole has none
    /// (its own windows are its group's). `max`, `probe_max` and
    /// `write_max` include them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_group: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub probe_per_group: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub write_per_group: BTreeMap<String, f64>,
    /// Which of the three views could not be measured, and why (`app`,
    /// `writes`, `probe`): no op of that kind, or a shard or moved group
    /// holding the drill's keys that none reached. Its `max` is then a
    /// lower bound.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<String, String>,
}

/// How many of them report.md and report.html show.
pub const OVERWRITTEN_SHOWN: usize = 10;

/// One key whose final value no acknowledged or in-flight write explains.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LostKey {
    pub key: String,
    pub slot: u16,
    pub found: Option<String>,
    /// Up to a few of the values that would have been acceptable.
    pub acceptable: Vec<String>,
    pub last_ack_ms: f64,
}

/// What the checkers found in the history and the final state: lost and
/// stray writes, the cluster check, and each cache checker the workload ran.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Checks {
    /// Figures of this section the run could not measure, and why:
    /// `lost_writes` (and the acknowledged writes lost with them) when
    /// keys were not read back, `counters` when counters were not,
    /// `keys_missing` when a primary's keys could not be counted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<String, String>,
    /// Keys the drill loaded or wrote that were not read back at the end:
    /// no write to them is judged.
    #[serde(default)]
    pub keys_unread: u64,
    pub lost_writes: u64,
    pub lost: Vec<LostKey>,
    pub keys_checked: u64,
    pub acknowledged_writes: u64,
    pub indeterminate_writes: u64,
    pub counter_violations: u64,
    /// Acknowledged writes the final state contradicts, and when the first
    /// and last of them were acknowledged (ms since the run's start).
    #[serde(default)]
    pub lost_acknowledged_writes: u64,
    #[serde(default)]
    pub loss_window_ms: Option<(f64, f64)>,
    /// Keys found on a primary that does not own their slot (left behind by
    /// an interrupted migration): in two places, or in none the cluster serves.
    #[serde(default)]
    pub stray_keys: u64,
    /// Keys in the cluster before the drill's action and at the end.
    pub keys_before: u64,
    pub keys_after: u64,
    /// Our `check` (the four checks of `redis-cli --cluster check`) at the end.
    pub cluster_check_ok: bool,
    pub cluster_check: Vec<String>,
    /// Counters, when the workload ran `incr` (absent: it did not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<CounterChecks>,
    /// Torn transactions, when the workload ran `txn` or `txn_read`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn: Option<TxnChecks>,
    /// TTL accuracy, when the workload ran `SET PX`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<TtlChecks>,
    /// Stale reads, when the workload ran GETs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<StaleChecks>,
    /// Eviction, when the topology has a `maxmemory-policy` that evicts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction: Option<EvictionChecks>,
    /// Replication lag per replica and per region, when the drill ran the
    /// replication probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<crate::checker::replication::Replication>,
    /// The stampede workload's verdict, when the drill ran one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stampede: Option<crate::checker::stampede::Stampede>,
    /// The invalidation workload's verdict, when the drill ran one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalidation: Option<crate::checker::invalidation::Invalidation>,
}

/// The counters' verdict (checker::counters), with a few examples.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CounterChecks {
    pub counters_checked: u64,
    pub acknowledged_incrs: u64,
    pub indeterminate_incrs: u64,
    /// Acknowledged increments missing at the end (counters below bounds).
    pub lost_increments: u64,
    /// Increments beyond every acknowledged and uncertain one (an INCR that
    /// applied twice), apart from the lost ones.
    pub over_counted_increments: u64,
    /// Up to [`EXAMPLES`] counters out of bounds.
    pub violations: Vec<crate::checker::CounterViolation>,
}

/// The torn-transaction verdict (checker::txn::torn), with a few examples.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TxnChecks {
    pub reads_checked: u64,
    pub torn_reads: u64,
    pub groups_checked: u64,
    pub groups_unread: u64,
    pub torn_groups: u64,
    /// Up to [`EXAMPLES`] of each.
    pub torn_read_examples: Vec<crate::checker::txn::TornRead>,
    pub torn_group_examples: Vec<crate::checker::txn::TornGroup>,
}

/// The TTL verdict (checker::ttl::ttl), with a few examples.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TtlChecks {
    /// How far past its latest deadline a value may still be read (ms).
    pub tolerance_ms: f64,
    pub ttl_writes: u64,
    pub reads_checked: u64,
    pub reads_ambiguous: u64,
    /// Judged reads that could show a zombie (sent past the deadline plus
    /// the tolerance) or an early expiry (ended before the deadline).
    pub reads_after_deadline: u64,
    pub reads_before_deadline: u64,
    pub zombie_reads: u64,
    pub early_expiries: u64,
    /// Of those, the ones whose write or read overlapped a fault window.
    pub zombie_reads_in_faults: u64,
    pub early_expiries_in_faults: u64,
    /// Expiries seen (a nil after the deadline), and their lateness: at
    /// least (the last read of the value past the latest deadline) and at
    /// most (the first nil's end past the earliest), ms.
    pub expiries_seen: u64,
    pub lateness_at_least_ms: crate::checker::Latency,
    pub lateness_at_most_ms: crate::checker::Latency,
    /// Up to [`EXAMPLES`] of each.
    pub zombie_examples: Vec<crate::checker::ttl::TtlViolation>,
    pub early_examples: Vec<crate::checker::ttl::TtlViolation>,
    /// Writes read back as nil before their deadline that a replaced
    /// primary acknowledged after its replica's promotion: lost to the
    /// failover (counted in `checks.lost_acknowledged_writes`), not expired
    /// early; and up to [`EXAMPLES`] of them, each with the primary that
    /// acknowledged it, the one promoted in its place, and when.
    #[serde(default)]
    pub lost_in_failover: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost_in_failover_examples: Vec<crate::checker::ttl::LostToFailover>,
}

/// The stale-read verdict (checker::stale::stale_reads), with a few examples.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StaleChecks {
    /// Successful GETs whose value names one write (judged).
    pub reads_checked: u64,
    pub nil_reads: u64,
    /// GETs whose value names no write of the key (not judged).
    pub reads_unexplained: u64,
    pub stale_reads: u64,
    /// How long each stale read's value had been superseded (ms).
    pub staleness_ms: crate::checker::Latency,
    /// The first [`EXAMPLES`].
    pub examples: Vec<crate::checker::stale::StaleRead>,
    /// By client mode (`app`, `probe`): with `replica_reads`, app clients
    /// read replicas and probes primaries.
    #[serde(default)]
    pub by_mode: BTreeMap<String, StaleSide>,
    /// By the phase the read was sent in.
    #[serde(default)]
    pub by_phase: BTreeMap<String, StaleSide>,
}

/// Reads of one kind of client, or of one phase, and how many were stale.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StaleSide {
    /// Successful GETs that returned a value.
    pub reads: u64,
    pub stale_reads: u64,
    pub staleness_ms: crate::checker::Latency,
}

/// The eviction verdict: the policy, the keys found evicted at the end, and
/// each phase's hits and misses as the clients saw them beside the nodes'
/// own INFO counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EvictionChecks {
    pub policy: crate::checker::eviction::Eviction,
    /// Keys found nil at the end that only the policy explains.
    pub evicted_keys_at_end: u64,
    /// How many keys count as hot, and the first of them.
    pub hot_keys: u64,
    pub hot_key_examples: Vec<String>,
    /// INFO readings taken (every node, each second and phase end).
    pub info_samples: u64,
    pub by_phase: BTreeMap<String, EvictionPhase>,
}

impl EvictionChecks {
    /// The phases in the order the run went through them (`phases`, the
    /// report's), then any the run's list does not name.
    pub fn in_run_order<'a>(&'a self, phases: &[PhaseMs]) -> Vec<(&'a str, &'a EvictionPhase)> {
        let mut out: Vec<(&str, &EvictionPhase)> = phases
            .iter()
            .filter_map(|p| {
                let (k, v) = self.by_phase.get_key_value(&p.name)?;
                Some((k.as_str(), v))
            })
            .collect();
        for (k, v) in &self.by_phase {
            if !out.iter().any(|(n, _)| *n == k.as_str()) {
                out.push((k.as_str(), v));
            }
        }
        out
    }
}

/// One phase: the clients' figure and INFO's cross-check.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EvictionPhase {
    /// Successful GETs of every workload client, from the history.
    pub hits: crate::checker::eviction::Hits,
    pub hit_ratio: Option<f64>,
    pub hot_miss_ratio: Option<f64>,
    /// What the nodes counted (summed), and their keyspace hit ratio.
    pub info: crate::cluster::keyspace::PhaseDelta,
    pub info_hit_ratio: Option<f64>,
    /// `info_hit_ratio - hit_ratio`: the cross-check's disagreement.
    pub hit_ratio_difference: Option<f64>,
}

/// How many examples of a finding a report keeps.
pub const EXAMPLES: usize = 20;

/// One SLO of the scenario held against what the run measured: the rows
/// the verdict is made of.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SloResult {
    pub name: String,
    /// The value must stay on the `bound` side of this.
    pub limit: f64,
    /// `at_most` (a `max_*` SLO) or `at_least` (a `min_*` SLO). Reports
    /// written before minimums existed hold only maxima.
    #[serde(default)]
    pub bound: Bound,
    /// The figure (`null` when the run could not measure it).
    pub value: Option<f64>,
    pub result: Verdict,
    /// Why the result is `unknown`, or why a figure is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Tri-state, as in Jepsen: `unknown` when the run could not establish the
/// figure (the tool could not keep its schedule, nothing was measured), so
/// it can pass nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Unknown,
}

impl Verdict {
    /// The verdict's word, as `report.json` and every rendering spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Unknown => "unknown",
        }
    }
}

/// Which side of its limit an SLO's figure must stay on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The figure may reach the limit, not pass it (`max_*`: losses, latency).
    #[default]
    AtMost,
    /// The figure must reach the limit (`min_*`: throughput, grants).
    AtLeast,
}

impl Bound {
    /// Whether `value` holds against `limit`.
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Bound::AtMost => value <= limit,
            Bound::AtLeast => value >= limit,
        }
    }

    /// The limit as people read it: `50` for a maximum, `≥ 10` for a minimum.
    pub fn show(self, limit: f64) -> String {
        match self {
            Bound::AtMost => format!("{limit}"),
            Bound::AtLeast => format!("≥ {limit}"),
        }
    }
}

/// What the run knows of one SLO's figure.
#[derive(Debug, Clone, PartialEq)]
pub enum Figure {
    /// Measured and trusted.
    Measured(f64),
    /// Beyond every limit: a latency percentile that fell on ops that got
    /// no answer at all (they failed or timed out). The SLO fails.
    NoAnswer { why: String },
    /// Measured or not, it cannot be trusted: the SLO is `unknown`.
    Unknown { value: Option<f64>, why: String },
    /// At least `value`, and maybe more: what was established is a floor
    /// (violations found among the keys decided, others undecided). It
    /// breaks a maximum it is already over, meets a minimum it already
    /// reaches, and is `unknown` otherwise.
    AtLeast { value: f64, why: String },
}

/// What a scenario written to show a hazard expects, and whether the run
/// met it. The verdict stays what the SLOs give; this says whether the run
/// failed the way the drill is meant to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expected {
    #[serde(flatten)]
    pub spec: ExpectSpec,
    /// `pass` when every SLO in `fail` failed and every other one held
    /// (those in `may_fail` aside); `fail` when one in `fail` held (the
    /// hazard did not show) or one in neither list failed; `unknown`
    /// otherwise (an SLO could not be established).
    pub result: Verdict,
    /// What happened, in words.
    pub note: String,
}

impl Expected {
    /// The outcome in two words: `As expected`, `Not as expected`, or
    /// `Expectation unknown`.
    pub fn word(&self) -> &'static str {
        match self.result {
            Verdict::Pass => "As expected",
            Verdict::Fail => "Not as expected",
            Verdict::Unknown => "Expectation unknown",
        }
    }

    /// The line beside the verdict: what is expected, why, and what happened.
    pub fn line(&self) -> String {
        let spec = &self.spec;
        let listed = match (spec.fail.is_empty(), spec.may_fail.is_empty()) {
            (false, true) => format!("Expected to fail: {}", spec.fail.join(", ")),
            (false, false) => format!(
                "Expected to fail: {} (and may fail: {})",
                spec.fail.join(", "),
                spec.may_fail.join(", ")
            ),
            (true, _) => format!("May fail: {}", spec.may_fail.join(", ")),
        };
        format!(
            "{listed}{}. {}: {}.",
            spec.why
                .as_deref()
                .map(|w| format!(" — {w}"))
                .unwrap_or_default(),
            self.word(),
            self.note
        )
    }
}

/// Judge `slo` against the SLOs expected to fail (and those that may).
pub fn expectation(spec: &ExpectSpec, slo: &[SloResult]) -> Expected {
    let (fail, may_fail) = (&spec.fail, &spec.may_fail);
    let listed = |s: &SloResult| fail.contains(&s.name) || may_fail.contains(&s.name);
    let held: Vec<&str> = slo
        .iter()
        .filter(|s| fail.contains(&s.name) && s.result == Verdict::Pass)
        .map(|s| s.name.as_str())
        .collect();
    let others: Vec<&str> = slo
        .iter()
        .filter(|s| !listed(s) && s.result == Verdict::Fail)
        .map(|s| s.name.as_str())
        .collect();
    let unsure: Vec<&str> = slo
        .iter()
        .filter(|s| s.result == Verdict::Unknown)
        .map(|s| s.name.as_str())
        .chain(
            fail.iter()
                .filter(|n| !slo.iter().any(|s| &s.name == *n))
                .map(String::as_str),
        )
        .collect();
    let (result, note) = if !held.is_empty() || !others.is_empty() {
        let mut why = Vec::new();
        if !held.is_empty() {
            why.push(format!(
                "{} held: the hazard the drill is written to show did not show",
                held.join(", ")
            ));
        }
        if !others.is_empty() {
            why.push(format!(
                "{} failed too, which was not expected",
                others.join(", ")
            ));
        }
        (Verdict::Fail, why.join("; "))
    } else if !unsure.is_empty() {
        (
            Verdict::Unknown,
            format!("{} could not be established", unsure.join(", ")),
        )
    } else {
        let maybe: Vec<String> = slo
            .iter()
            .filter(|s| may_fail.contains(&s.name))
            .map(|s| format!("{} {}", s.name, s.result.as_str()))
            .collect();
        let each = if fail.is_empty() {
            "no SLO failed"
        } else {
            "each of them failed, and no other SLO did"
        };
        (
            Verdict::Pass,
            if maybe.is_empty() {
                each.to_string()
            } else {
                format!("{each} but those that may ({})", maybe.join(", "))
            },
        )
    };
    Expected {
        spec: spec.clone(),
        result,
        note,
    }
}

impl Report {
    /// Every figure of the report the run could not measure, and why, by
    /// section: what a reader must not take for a 0.
    pub fn unknown_figures(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut add = |section: &str, unknown: &BTreeMap<String, String>| {
            for (figure, why) in unknown {
                out.push((format!("{section}.{figure}"), why.clone()));
            }
        };
        add("checks", &self.checks.unknown);
        add("downtime", &self.downtime_ms.unknown);
        add("app", &self.workload.app.unknown);
        add("probe", &self.workload.probe.unknown);
        for g in &self.client_regions {
            add(&format!("clients in {}", g.region), &g.unknown);
        }
        out
    }

    /// The verdict the SLOs give: fail when one fails; otherwise unknown when
    /// one is unknown, or when there is none (a run held to nothing has
    /// shown nothing); pass only when every one holds.
    pub fn verdict_from(slo: &[SloResult]) -> Verdict {
        if slo.is_empty() {
            Verdict::Unknown
        } else if slo.iter().any(|s| s.result == Verdict::Fail) {
            Verdict::Fail
        } else if slo.iter().any(|s| s.result == Verdict::Unknown) {
            Verdict::Unknown
        } else {
            Verdict::Pass
        }
    }
}

/// Evaluate `limits` (name → maximum) against `figure_of`. Unknown names
/// were rejected when the scenario was loaded. A figure the run did not
/// measure fails its SLO; one it could not trust is `unknown` (even when it
/// is above the limit: an untrusted figure proves nothing either way).
pub fn evaluate_slos(
    limits: &BTreeMap<String, f64>,
    figure_of: impl Fn(&str) -> Figure,
    bound_of: impl Fn(&str) -> Bound,
) -> Vec<SloResult> {
    limits
        .iter()
        .map(|(name, &limit)| {
            let bound = bound_of(name);
            let (value, result, note) = match figure_of(name) {
                Figure::Measured(v) => (
                    Some(v),
                    if bound.holds(v, limit) {
                        Verdict::Pass
                    } else {
                        Verdict::Fail
                    },
                    None,
                ),
                Figure::NoAnswer { why } => (None, Verdict::Fail, Some(why)),
                Figure::Unknown { value, why } => (value, Verdict::Unknown, Some(why)),
                Figure::AtLeast { value, why } => {
                    let settled = match bound {
                        Bound::AtMost => !bound.holds(value, limit),
                        Bound::AtLeast => bound.holds(value, limit),
                    };
                    let result = match (settled, bound) {
                        (false, _) => Verdict::Unknown,
                        (true, Bound::AtMost) => Verdict::Fail,
                        (true, Bound::AtLeast) => Verdict::Pass,
                    };
                    (
                        Some(value),
                        result,
                        Some(format!("at least {value}: {why}")),
                    )
                }
            };
            SloResult {
                name: name.clone(),
                limit,
                bound,
                value,
                result,
                note,
            }
        })
        .collect()
}
