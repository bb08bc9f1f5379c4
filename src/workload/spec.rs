//! What the workload does, as plain data: the `workload:` section of a
//! scenario file. Every random choice is made from the run's seed, so a spec
//! and a seed describe the same schedule of keys, values and commands.
//!
//! ```yaml
//! workload:
//!   clients: 8                 # app clients (redis-rs cluster client with retries), or
//!                              # groups of client libraries (see [`super::groups`]):
//!                              # [{library: redis-rs, count: 8}, {library: redis-py, count: 8}]
//!   probe_clients: 1           # the drill's own client, no retries
//!   model: closed              # or: {open: {rate: 2000}}   (ops/s over all clients)
//!   keys: 10000
//!   key_prefix: "drill:"
//!   distribution: uniform      # or: {zipfian: {s: 0.99}}
//!   hot_slot: 0                # a share of the keys under one hash tag: one slot, one shard
//!   value_size: 64             # or: {min: 16, max: 1024}, or by weight:
//!                              # [{size: 100, weight: 9}, {size: 10000, weight: 1}]
//!   mix: {get: 50, set: 50, incr: 0, del: 0, set_ttl: 0, txn: 0, txn_read: 0}
//!   counter_keys: 1000         # incr targets `<prefix>counter:<n>`
//!   ttl_ms: 0                  # set_ttl sends SET PX ttl_ms
//!   ttls_ms: []                # or: each set_ttl draws one of these (mixed TTLs)
//!   groups: 0                  # txn / txn_read target `{<prefix>g<n>}`
//!   group_size: 2              # members of a group: `{<prefix>g<n>}:a`, `:b`, …
//!   timeout_ms: 1000
//!   app_retries: 5
//!   app_connection: per_client # or: shared (one connection for all app clients)
//!   wait: {replicas: 1, timeout_ms: 100}   # WAIT after each write (absent: no WAIT)
//!                              # every: 2 -- after every 2nd write of a client only
//!   max_in_flight: 20000       # open loop: ops in flight at once (default: never reached)
//!   max_connections: 16        # open loop: connections of each kind at most
//!   depth: 1                   # closed loop: ops each client keeps in flight
//!   max_tool_lag_ms: 1         # the self-check: tool lag p99 bound per phase
//!   threads: 2                 # the clients' own threads (0: share the controller's)
//!   realtime: true             # open loop: event loops in SCHED_FIFO (needs root)
//!   nice: -10                  # otherwise their nice value (needs root; else 0)
//!   reference_ping_ms: 5       # a raw PING to every primary this often (0: off)
//!   replica_reads: false       # app clients send GETs to replicas (READONLY; clusters only):
//!                              # true: a random one; local: one in the client's own region
//!   regions: []                # the clients' regions, taken in turn: client i in regions[i mod n]
//! ```

use std::fmt;
use std::time::Duration;

use rand::Rng;
use rand::distr::Distribution as _;
use rand::distr::weighted::WeightedIndex;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::error::WorkloadError;
pub use super::groups::{ClientGroup, Clients};
pub use crate::record::ops::{Distribution, WaitSpec};

/// Largest value a spec may ask for: values are held in memory per op and
/// written to the history, and a drill measures availability, not bandwidth.
pub const MAX_VALUE_SIZE: usize = 1 << 20;

/// More client threads than this buys nothing on the machines drills run on.
pub const MAX_THREADS: u32 = 64;

/// For `skip_serializing_if`: a share left at 0 is not written.
fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// The workload section of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadSpec {
    /// App clients: redis-rs's cluster client with `app_retries`, and
    /// groups of other client libraries run by adapters.
    pub clients: Clients,
    /// Probe clients: no retries, redirects counted exactly.
    pub probe_clients: u32,
    pub model: Model,
    /// Size of the key space (`<prefix><n>`, n in 0..keys).
    pub keys: u64,
    pub key_prefix: String,
    pub distribution: Distribution,
    /// A share of the key space (0 to 1) named under one hash tag,
    /// `{<prefix>hot-slot}:<n>`, so that it lives in one slot, on one shard:
    /// the keys `0..round(keys × hot_slot)` (under a zipfian distribution,
    /// the most drawn). 0: none.
    #[serde(skip_serializing_if = "is_zero")]
    pub hot_slot: f64,
    pub value_size: ValueSize,
    pub mix: Mix,
    /// Size of the counter key space for `incr` (`<prefix>counter:<n>`), kept
    /// apart from the string keys so that sets never clobber counters.
    pub counter_keys: u64,
    /// The time to live of a `set_ttl` op (`SET key value PX ttl_ms`).
    pub ttl_ms: u64,
    /// Mixed TTLs: each `set_ttl` draws one of these (uniformly) instead of
    /// `ttl_ms`. Empty: every `set_ttl` uses `ttl_ms`.
    pub ttls_ms: Vec<u64>,
    /// Hash-tagged groups for `txn` and `txn_read` (`{<prefix>g<n>}`), kept
    /// apart from the string keys: a group's members change only together.
    pub groups: u64,
    /// Members of each group (`{<prefix>g<n>}:a`, `:b`, …), all in one slot.
    pub group_size: u32,
    /// Bound on each op: the response timeout of both clients (and the app
    /// client's overall bound, retries included).
    pub timeout_ms: u64,
    /// Retries of the app client (MOVED/ASK/TRYAGAIN/connection). redis-rs's
    /// default of 16 with no response timeout would hide downtime.
    pub app_retries: u32,
    /// Whether app clients each own a cluster connection or share one.
    pub app_connection: AppConnection,
    /// `WAIT replicas timeout_ms` after every write, on the connection that
    /// wrote. A write counts as acknowledged only when WAIT reports at least
    /// `replicas`; fewer is an indeterminate write (it may survive or not).
    pub wait: Option<WaitSpec>,
    /// Open loop: the most ops in flight at once, over all clients. An op due
    /// while this many are in flight waits for one to finish; the wait is
    /// recorded (`pool_wait_ns`) and is part of the tool's lag. Absent: enough
    /// that it is never reached ([`WorkloadSpec::in_flight_limit`]).
    pub max_in_flight: Option<u32>,
    /// Open loop: connections of each kind (app, probe) the pool may grow to.
    /// It starts with `clients` (and `probe_clients`) and opens one more
    /// whenever every connection is busy.
    pub max_connections: u32,
    /// Closed loop: ops each client keeps in flight on its connection (1: one
    /// at a time; 16 pipelines like `redis-benchmark -P 16`).
    pub depth: u32,
    /// The self-check: when the tool's own lag (due → sent) has a p99 above
    /// this in a phase, that phase's latency SLOs are `unknown` — the machine
    /// could not drive the rate, so the latency measured the tool.
    pub max_tool_lag_ms: f64,
    /// Worker threads of the clients' own runtime, apart from the controller's
    /// (resharding engine, nemesis, watcher), so those cannot starve them. 0:
    /// the clients share the controller's threads.
    pub threads: u32,
    /// Open loop: run the workload's event loops and the reference PINGs in
    /// the real-time class (SCHED_FIFO, its lowest priority), so that an op
    /// due now is sent now even when Redis and the controller fill both CPUs.
    /// They sleep between ops, and the kernel's real-time throttling keeps 5%
    /// of every CPU for the rest. Needs CAP_SYS_NICE (root); without it they
    /// fall back to `nice`, and the report says which applied.
    pub realtime: bool,
    /// The nice value of the workload's own threads when they are not
    /// real-time (the closed loop, or without the privilege): below 0 they
    /// get the CPU before nice-0 threads. Needs CAP_SYS_NICE to go below 0.
    pub nice: i32,
    /// The server-side reference: a raw PING to every primary this often, on
    /// a thread per primary, beside the clients. 0: off.
    pub reference_ping_ms: u64,
    /// App clients send reads (GET, MGET) to a replica of the key's
    /// primary (READONLY on each replica connection): a random one, or the
    /// nearest (see [`ReplicaReads`]). Probe clients keep reading
    /// primaries: the two are judged apart. Clusters only.
    pub replica_reads: ReplicaReads,
    /// The regions the clients live in, taken in turn (client i in
    /// `regions[i mod n]`, app and probe clients alike): their traffic to a
    /// node in another region crosses the link between the two, and the
    /// report gives each region's clients' figures apart. Empty: the
    /// clients are in no region (no link on their path).
    pub regions: Vec<String>,
}

impl WaitSpec {
    /// WAIT for `replicas` within `timeout_ms` after every write.
    pub fn new(replicas: u32, timeout_ms: u64) -> WaitSpec {
        WaitSpec {
            replicas,
            timeout_ms,
            every: 1,
        }
    }
}

/// Where app clients send their reads (`replica_reads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplicaReads {
    /// To the key's primary (`false`).
    #[default]
    Primary,
    /// To a replica of the key's primary, picked at random (`true`, redis-rs's
    /// `RandomReplicaStrategy`).
    Random,
    /// To the nearest copy (`local`): a replica in the client's own region,
    /// else the primary when it is there, else any replica. Needs
    /// `workload.regions`.
    Local,
}

impl ReplicaReads {
    /// Whether reads leave the primary at all (READONLY connections).
    pub fn from_replicas(self) -> bool {
        self != ReplicaReads::Primary
    }
}

impl Serialize for ReplicaReads {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ReplicaReads::Primary => s.serialize_bool(false),
            ReplicaReads::Random => s.serialize_bool(true),
            ReplicaReads::Local => s.serialize_str("local"),
        }
    }
}

impl<'de> Deserialize<'de> for ReplicaReads {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ReplicaReads;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "false, true (a random replica) or `local` (a replica in the client's region)",
                )
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ReplicaReads, E> {
                Ok(if v {
                    ReplicaReads::Random
                } else {
                    ReplicaReads::Primary
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ReplicaReads, E> {
                match v {
                    "local" => Ok(ReplicaReads::Local),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// How app clients hold their redis-rs cluster connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppConnection {
    /// Each app client has its own cluster connection: failures measure the
    /// cluster, not contention inside one client.
    PerClient,
    /// All app clients share one multiplexed cluster connection, the usual
    /// redis-rs setup. redis-rs 1.8 sends ASKING and the redirected command
    /// as two requests, so on a shared connection another task's command can
    /// take the ASKING and the redirected one gets MOVED: during a slot
    /// migration this shows up as failed ops that are the library's doing.
    Shared,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            clients: Clients::from(8),
            probe_clients: 1,
            model: Model::Closed,
            keys: 10_000,
            key_prefix: "drill:".to_string(),
            distribution: Distribution::Uniform,
            hot_slot: 0.0,
            value_size: ValueSize::Fixed(64),
            mix: Mix::default(),
            counter_keys: 1_000,
            ttl_ms: 0,
            ttls_ms: Vec::new(),
            groups: 0,
            group_size: 2,
            timeout_ms: 1_000,
            app_retries: 5,
            app_connection: AppConnection::PerClient,
            wait: None,
            max_in_flight: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            depth: 1,
            max_tool_lag_ms: DEFAULT_MAX_TOOL_LAG_MS,
            threads: DEFAULT_THREADS,
            realtime: true,
            nice: DEFAULT_NICE,
            reference_ping_ms: DEFAULT_REFERENCE_PING_MS,
            replica_reads: ReplicaReads::Primary,
            regions: Vec::new(),
        }
    }
}

/// Connections of each kind an open loop may open: more than the ops in
/// flight on a healthy cluster at the rates drills use (a few at 4000 ops/s),
/// so ops rarely share one; few enough that a hung node, when every op to it
/// waits out its timeout and every connection is busy, does not open dozens
/// of redis-rs cluster connections, each refreshing its slot map and
/// reconnecting on the workload's threads after the failover (ops then share
/// connections, which are multiplexed).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

/// The self-check's bound: 1 ms at p99. Loopback Redis answers in ~0.1 ms,
/// so more tool lag than this is of the order of what is being measured.
pub const DEFAULT_MAX_TOOL_LAG_MS: f64 = 1.0;

/// Two worker threads: one per core of the reference machine.
pub const DEFAULT_THREADS: u32 = 2;

/// Nice −10: a CFS weight about 9× that of a nice-0 thread (Redis, the
/// controller), enough to be scheduled first on wake-up when the CPUs are
/// full; not −20, which would also take CPU from the kernel's own threads.
pub const DEFAULT_NICE: i32 = -10;

/// A PING every 5 ms: 200 a second per primary, light beside the workload,
/// and fine enough to catch a 10 ms stall.
pub const DEFAULT_REFERENCE_PING_MS: u64 = 5;

/// When clients send.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Model {
    /// Each client sends its next op when the previous one completed (or
    /// keeps `depth` in flight).
    Closed,
    /// A fixed schedule: `rate` ops/s over all clients, app and probe, each op
    /// sent at its due time on a free connection, whatever the earlier ones
    /// are doing (a constant arrival rate, as wrk2 and k6 do). Latency is
    /// measured from the due time; nothing is skipped (no coordinated omission).
    Open { rate: f64 },
}

/// Size of written values in bytes: `64`, `{min: 16, max: 1024}` (uniform,
/// inclusive), or sizes with weights, each value drawing one
/// (`[{size: 100, weight: 9}, {size: 10000, weight: 1}]`: nine values in ten
/// of 100 B).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ValueSize {
    Fixed(usize),
    Range { min: usize, max: usize },
    Weighted(Vec<WeightedSize>),
}

/// One size of a weighted `value_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedSize {
    /// Bytes.
    pub size: usize,
    /// Relative weight (> 0).
    pub weight: u32,
}

impl ValueSize {
    /// The smallest and largest value, in bytes.
    pub fn bounds(&self) -> (usize, usize) {
        match self {
            ValueSize::Fixed(n) => (*n, *n),
            ValueSize::Range { min, max } => (*min, *max),
            ValueSize::Weighted(w) => (
                w.iter().map(|w| w.size).min().unwrap_or(0),
                w.iter().map(|w| w.size).max().unwrap_or(0),
            ),
        }
    }

    /// What draws each value's size. The spec must have passed `validate`.
    pub fn draw(&self) -> SizeDraw {
        match self {
            ValueSize::Weighted(w) => SizeDraw::Weighted {
                sizes: w.iter().map(|w| w.size).collect(),
                weights: WeightedIndex::new(w.iter().map(|w| w.weight))
                    .expect("validated: weights above 0"),
            },
            other => {
                let (min, max) = other.bounds();
                SizeDraw::Uniform { min, max }
            }
        }
    }

    /// Why this size cannot be used, if it cannot.
    fn invalid(&self) -> Option<String> {
        if let ValueSize::Weighted(w) = self {
            if w.is_empty() {
                return Some("value_size lists no sizes".into());
            }
            if let Some(z) = w.iter().find(|w| w.weight == 0) {
                return Some(format!(
                    "value_size {} has weight 0: it would never be drawn; leave it out",
                    z.size
                ));
            }
            for (i, a) in w.iter().enumerate() {
                if w[..i].iter().any(|b| b.size == a.size) {
                    return Some(format!("value_size {} is listed twice", a.size));
                }
            }
        }
        let (min, max) = self.bounds();
        if min > max {
            return Some(format!("value_size min {min} is above max {max}"));
        }
        if max > MAX_VALUE_SIZE {
            return Some(format!(
                "value_size {max} is above the limit of {MAX_VALUE_SIZE} bytes"
            ));
        }
        None
    }
}

/// Draws values' sizes from a seeded stream: uniform over a range (a fixed
/// size is the range of one), or one of a list by weight.
#[derive(Debug, Clone)]
pub enum SizeDraw {
    Uniform {
        min: usize,
        max: usize,
    },
    Weighted {
        sizes: Vec<usize>,
        weights: WeightedIndex<u32>,
    },
}

impl SizeDraw {
    /// The next value's size.
    pub fn next(&self, rng: &mut impl Rng) -> usize {
        match self {
            SizeDraw::Uniform { min, max } => rng.random_range(*min..=*max),
            SizeDraw::Weighted { sizes, weights } => sizes[weights.sample(rng)],
        }
    }
}

// By hand rather than `untagged`, for an error that says what is expected.
impl<'de> Deserialize<'de> for ValueSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ValueSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a size in bytes, a range like {min: 16, max: 1024}, or sizes with weights like [{size: 100, weight: 9}, {size: 10000, weight: 1}]",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ValueSize, A::Error> {
                let mut sizes = Vec::new();
                while let Some(w) = seq.next_element::<WeightedSize>()? {
                    sizes.push(w);
                }
                Ok(ValueSize::Weighted(sizes))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ValueSize, E> {
                usize::try_from(v)
                    .map(ValueSize::Fixed)
                    .map_err(|_| E::custom("value size too large"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ValueSize, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("value size must not be negative"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValueSize, A::Error> {
                let (mut min, mut max) = (None, None);
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        "min" if min.is_none() => min = Some(map.next_value::<usize>()?),
                        "max" if max.is_none() => max = Some(map.next_value::<usize>()?),
                        "min" | "max" => return Err(de::Error::duplicate_field("min/max")),
                        other => return Err(de::Error::unknown_field(other, &["min", "max"])),
                    }
                }
                Ok(ValueSize::Range {
                    min: min.ok_or_else(|| de::Error::missing_field("min"))?,
                    max: max.ok_or_else(|| de::Error::missing_field("max"))?,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Relative weights of the commands. A `mix:` that is written is exactly
/// what it says: a command it does not name weighs 0 (`{incr: 90, get: 10}`
/// sends no SET). Only a workload with no `mix:` at all gets the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    #[serde(default)]
    pub get: u32,
    #[serde(default)]
    pub set: u32,
    #[serde(default)]
    pub incr: u32,
    /// DEL of a string key.
    #[serde(default)]
    pub del: u32,
    /// `SET PX ttl_ms` of a string key (recorded as a `set` with its `ttl_ms`).
    #[serde(default)]
    pub set_ttl: u32,
    /// MULTI; SET of every member of a group; EXEC.
    #[serde(default)]
    pub txn: u32,
    /// MGET of every member of a group.
    #[serde(default)]
    pub txn_read: u32,
}

impl Default for Mix {
    /// Half reads, half writes: enough writes for the lost-write check to bite.
    fn default() -> Self {
        Mix {
            get: 50,
            set: 50,
            incr: 0,
            del: 0,
            set_ttl: 0,
            txn: 0,
            txn_read: 0,
        }
    }
}

impl Mix {
    /// The weights in the generator's order: get, set, incr, del, set_ttl, txn, txn_read.
    pub fn weights(&self) -> [u32; 7] {
        [
            self.get,
            self.set,
            self.incr,
            self.del,
            self.set_ttl,
            self.txn,
            self.txn_read,
        ]
    }

    /// Whether the mix touches groups.
    pub fn has_groups(&self) -> bool {
        self.txn > 0 || self.txn_read > 0
    }
}

/// The most members a group may have: they are named `a` to `z`.
pub const MAX_GROUP_SIZE: u32 = 26;

impl WorkloadSpec {
    /// Whether this workload would issue no op at all: no clients, or an
    /// open loop at rate 0. A lock drill's KV workload may be so (the lock
    /// workload then runs alone); any other drill's may not (`validate`).
    pub fn issues_nothing(&self) -> bool {
        (self.clients.all() == 0 && self.probe_clients == 0)
            || matches!(self.model, Model::Open { rate } if rate == 0.0)
    }

    /// Check the values serde cannot: ranges, a non-empty mix, a positive rate.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        match self.problem() {
            None => Ok(()),
            Some((_, m)) => Err(WorkloadError::Spec(m)),
        }
    }

    /// What [`validate`](Self::validate) rejects, with the field at fault
    /// (its path under `workload:`, empty when it is the section as a whole),
    /// so that a scenario's error points at the line.
    pub fn problem(&self) -> Option<(Vec<&'static str>, String)> {
        if let Some((field, m)) = self.cache_problem() {
            return Some((field, m));
        }
        if let Some(m) = self.wait_problem() {
            return Some((vec!["wait"], m));
        }
        if let Some((field, m)) = self.groups_problem() {
            return Some((field, m));
        }
        self.general_problem().err().map(|m| (Vec::new(), m))
    }

    /// The cache ops' settings: a TTL for `set_ttl`, groups for `txn`.
    fn cache_problem(&self) -> Option<(Vec<&'static str>, String)> {
        let m = self.mix;
        if self.ttls_ms.contains(&0) {
            return Some((
                vec!["ttls_ms"],
                "ttls_ms has a 0 (SET PX needs a time to live of at least 1 ms)".into(),
            ));
        }
        if m.set_ttl > 0 && self.ttl_ms == 0 && self.ttls_ms.is_empty() {
            return Some((
                vec!["ttl_ms"],
                "mix has set_ttl but ttl_ms is 0 and ttls_ms empty (SET PX needs a time to live of at least 1 ms)"
                    .into(),
            ));
        }
        if m.has_groups() && self.groups == 0 {
            return Some((
                vec!["groups"],
                "mix has txn or txn_read but groups is 0".into(),
            ));
        }
        if !(2..=MAX_GROUP_SIZE).contains(&self.group_size) {
            return Some((
                vec!["group_size"],
                format!(
                    "group_size must be between 2 and {MAX_GROUP_SIZE} (a group of one cannot be torn), not {}",
                    self.group_size
                ),
            ));
        }
        None
    }

    fn general_problem(&self) -> Result<(), String> {
        let bad = |m: String| Err(m);
        if self.clients.all() == 0 && self.probe_clients == 0 {
            return bad("clients and probe_clients are both 0: nothing would run".into());
        }
        if self.keys == 0 {
            return bad("keys must be at least 1".into());
        }
        if let Model::Open { rate } = self.model
            && !(rate.is_finite() && rate > 0.0)
        {
            return bad(format!(
                "open-loop rate must be a positive number, not {rate}"
            ));
        }
        if let Distribution::Zipfian { s } = self.distribution
            && !(s.is_finite() && s >= 0.0)
        {
            return bad(format!("zipfian s must be a number >= 0, not {s}"));
        }
        if let Some(why) = self.value_size.invalid() {
            return bad(why);
        }
        let total: u64 = self.mix.weights().iter().map(|&w| u64::from(w)).sum();
        if total == 0 {
            return bad("mix weights are all 0".into());
        }
        if !(self.hot_slot.is_finite() && (0.0..=1.0).contains(&self.hot_slot)) {
            return bad(format!(
                "hot_slot is the share of the keys under one hash tag, from 0 to 1, not {}",
                self.hot_slot
            ));
        }
        if self.hot_slot > 0.0 && self.hot_keys() == 0 {
            return bad(format!(
                "hot_slot {} of {} keys is no key: raise it or the keys",
                self.hot_slot, self.keys
            ));
        }
        if self.hot_slot > 0.0 && self.key_prefix.contains(['{', '}']) {
            return bad(format!(
                "hot_slot puts keys under the hash tag {{<key_prefix>hot-slot}}: a key_prefix with braces ({:?}) would break it",
                self.key_prefix
            ));
        }
        if self.mix.incr > 0 && self.counter_keys == 0 {
            return bad("mix has incr but counter_keys is 0".into());
        }
        if self.timeout_ms == 0 {
            return bad("timeout_ms must be at least 1".into());
        }
        if self.depth == 0 {
            return bad("depth must be at least 1".into());
        }
        if self.depth > 1 && self.model != Model::Closed {
            return bad(format!(
                "depth {} applies to the closed loop; an open loop keeps as many ops in flight as its schedule asks for",
                self.depth
            ));
        }
        if self.max_in_flight == Some(0) {
            return bad("max_in_flight must be at least 1".into());
        }
        if self.max_connections == 0 {
            return bad("max_connections must be at least 1".into());
        }
        if !(self.max_tool_lag_ms.is_finite() && self.max_tool_lag_ms > 0.0) {
            return bad(format!(
                "max_tool_lag_ms must be a positive number, not {}",
                self.max_tool_lag_ms
            ));
        }
        if !(-20..=19).contains(&self.nice) {
            return bad(format!(
                "nice must be between -20 and 19, not {}",
                self.nice
            ));
        }
        if self.threads > MAX_THREADS {
            return bad(format!(
                "threads must be at most {MAX_THREADS}, not {}",
                self.threads
            ));
        }
        Ok(())
    }

    /// What the adapters' groups cannot do with this workload: they run an
    /// open loop's schedule of GET, SET, INCR and DEL, from the run's own
    /// network (not a region), without WAIT.
    fn groups_problem(&self) -> Option<(Vec<&'static str>, String)> {
        let c = &self.clients;
        if let Some(m) = c.problem() {
            return Some((vec!["clients"], m));
        }
        let first = c.groups.first()?;
        let shipped = super::adapter::SHIPPED;
        if let Some(g) = c
            .groups
            .iter()
            .find(|g| !g.is_worker() && !shipped.contains(&g.library.as_str()))
        {
            return Some((
                vec!["clients"],
                format!(
                    "client library {} has no shipped adapter (built in: redis-rs; adapters: {})",
                    g.library,
                    shipped.join(", ")
                ),
            ));
        }
        let who = format!("the {} clients run by an adapter", first.label());
        if self.model == Model::Closed {
            return Some((
                vec!["model"],
                format!(
                    "{who} keep an open loop's schedule: give the workload `model: {{open: {{rate: N}}}}`"
                ),
            ));
        }
        let m = self.mix;
        if m.set_ttl > 0 || m.has_groups() {
            return Some((
                vec!["mix"],
                format!("{who} run get, set, incr and del; this mix has set_ttl, txn or txn_read"),
            ));
        }
        if self.wait.is_some() {
            return Some((
                vec!["wait"],
                format!("{who} do not send WAIT after their writes; leave `wait:` out"),
            ));
        }
        if !self.regions.is_empty() {
            return Some((
                vec!["regions"],
                format!("{who} run in the run's own network, not in regions (not built yet)"),
            ));
        }
        None
    }

    /// The `wait:` setting's problem, if it has one.
    fn wait_problem(&self) -> Option<String> {
        let w = self.wait?;
        if w.replicas == 0 {
            return Some("wait.replicas must be at least 1".into());
        }
        if w.every == 0 {
            return Some("wait.every must be at least 1 (1: WAIT after every write)".into());
        }
        if w.timeout_ms == 0 || w.timeout_ms >= self.timeout_ms {
            return Some(format!(
                "wait.timeout_ms must be between 1 and timeout_ms ({}) exclusive, not {}: a WAIT of 0 blocks forever and one as long as the op timeout leaves no time for the write",
                self.timeout_ms, w.timeout_ms
            ));
        }
        None
    }

    /// Key number `n` of the key space.
    pub fn key(&self, n: u64) -> String {
        if n < self.hot_keys() {
            format!("{{{}hot-slot}}:{n}", self.key_prefix)
        } else {
            format!("{}{n}", self.key_prefix)
        }
    }

    /// How many keys `hot_slot` puts in one slot (the first ones).
    pub fn hot_keys(&self) -> u64 {
        (self.keys as f64 * self.hot_slot).round() as u64
    }

    /// Counter number `n` of the counter key space.
    pub fn counter_key(&self, n: u64) -> String {
        format!("{}counter:{n}", self.key_prefix)
    }

    /// Group number `n`: its hash tag, `{<prefix>g<n>}`, which every member
    /// shares, so that the group lives in one slot.
    pub fn group_key(&self, n: u64) -> String {
        format!("{{{}g{n}}}", self.key_prefix)
    }

    /// The members of group number `n`, in order: `<group>:a`, `<group>:b`, …
    pub fn group_members(&self, n: u64) -> Vec<String> {
        let group = self.group_key(n);
        (0..self.group_size.min(MAX_GROUP_SIZE) as u8)
            .map(|i| format!("{group}:{}", char::from(b'a' + i)))
            .collect()
    }

    /// Every key of the key space, then every counter key when the mix has
    /// incr, then every group member when it has txn or txn_read.
    pub fn all_keys(&self) -> Vec<String> {
        let counters = if self.mix.incr > 0 {
            self.counter_keys
        } else {
            0
        };
        let groups = if self.mix.has_groups() {
            self.groups
        } else {
            0
        };
        (0..self.keys)
            .map(|n| self.key(n))
            .chain((0..counters).map(|n| self.counter_key(n)))
            .chain((0..groups).flat_map(|n| self.group_members(n)))
            .collect()
    }

    /// Every client of the workload, over all its client groups: the
    /// streams of the open loop's schedule.
    pub fn total_clients(&self) -> u32 {
        self.clients.all() + self.probe_clients
    }

    /// The clients the tool runs itself: redis-rs app clients, then probe
    /// clients (streams `0..builtin_clients()`; the adapters' groups
    /// follow, in order).
    pub fn builtin_clients(&self) -> u32 {
        self.clients.redis_rs + self.probe_clients
    }

    /// The bound on one op, whatever the client does inside it: a probe op
    /// connects and sends, then once more after a redirect, with a slot-map
    /// refresh first; an app op is bounded by redis-rs's overall timeout. One
    /// second more for the scheduler of a loaded 2-core box.
    pub fn op_bound(&self) -> Duration {
        Duration::from_millis(self.timeout_ms) * 5 + Duration::from_secs(1)
    }

    /// The most ops in flight at once: `max_in_flight`, or by default one
    /// more than can ever be: in the open loop, every op of one op bound's
    /// worth of schedule (each op ends within the bound, so no more can be in
    /// flight), plus the clients; in the closed loop, clients × depth.
    pub fn in_flight_limit(&self) -> usize {
        if let Some(n) = self.max_in_flight {
            return n as usize;
        }
        let clients = self.total_clients() as usize;
        match self.model {
            Model::Closed => clients * self.depth as usize,
            Model::Open { rate } => {
                (rate * self.op_bound().as_secs_f64()).ceil() as usize + clients + 1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<WorkloadSpec, String> {
        serde_saphyr::from_str::<WorkloadSpec>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn a_written_mix_is_exactly_what_it_names() {
        let s = parse("counter_keys: 1\nmix: {incr: 90, get: 10}\n").unwrap();
        assert_eq!(s.mix.weights(), [10, 0, 90, 0, 0, 0, 0]);
        s.validate().unwrap();
        // No mix at all: half reads, half writes.
        assert_eq!(parse("clients: 1\n").unwrap().mix, Mix::default());
        assert_eq!(Mix::default().weights(), [50, 50, 0, 0, 0, 0, 0]);
        let err = parse("mix: {}\n").unwrap().validate().unwrap_err();
        assert!(err.to_string().contains("all 0"), "{err}");
    }

    #[test]
    fn defaults_and_forms() {
        let s = parse("clients: 4\n").unwrap();
        assert_eq!(s.clients, Clients::from(4));
        assert_eq!(s.probe_clients, 1);
        assert_eq!(s.model, Model::Closed);
        assert_eq!(s.timeout_ms, 1000);
        assert_eq!(s.app_retries, 5);
        s.validate().unwrap();

        let s = parse(
            "model: {open: {rate: 2000}}\ndistribution: {zipfian: {s: 0.99}}\nvalue_size: {min: 8, max: 32}\nmix: {get: 1, set: 2, incr: 3}\n",
        )
        .unwrap();
        assert_eq!(s.model, Model::Open { rate: 2000.0 });
        assert_eq!(s.distribution, Distribution::Zipfian { s: 0.99 });
        assert_eq!(s.value_size, ValueSize::Range { min: 8, max: 32 });
        assert_eq!(
            s.mix,
            Mix {
                get: 1,
                set: 2,
                incr: 3,
                ..Mix::default()
            }
        );
        s.validate().unwrap();
        assert_eq!(
            parse("value_size: 100\n").unwrap().value_size,
            ValueSize::Fixed(100)
        );
    }

    #[test]
    fn value_sizes_by_weight_are_drawn_in_their_proportions() {
        let s = parse("value_size: [{size: 100, weight: 9}, {size: 10000, weight: 1}]\n").unwrap();
        s.validate().unwrap();
        assert_eq!(
            s.value_size,
            ValueSize::Weighted(vec![
                WeightedSize {
                    size: 100,
                    weight: 9
                },
                WeightedSize {
                    size: 10000,
                    weight: 1
                },
            ])
        );
        assert_eq!(s.value_size.bounds(), (100, 10000));
        let draw = s.value_size.draw();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
        let n = 20_000;
        let small = (0..n).filter(|_| draw.next(&mut rng) == 100).count();
        // 9 in 10, within 5 standard deviations (sd = sqrt(n 0.9 0.1) = 42).
        assert!((17_790..=18_210).contains(&small), "{small} of {n}");
        // A fixed size and a range draw as before: uniform, inclusive.
        let fixed = ValueSize::Fixed(64).draw();
        assert!((0..100).all(|_| fixed.next(&mut rng) == 64));
        let range = ValueSize::Range { min: 8, max: 10 }.draw();
        let seen: std::collections::BTreeSet<usize> =
            (0..200).map(|_| range.next(&mut rng)).collect();
        assert_eq!(seen, [8, 9, 10].into());
    }

    #[test]
    fn a_hot_slot_puts_the_first_keys_under_one_hash_tag() {
        let s = parse("keys: 1000\nhot_slot: 0.25\n").unwrap();
        s.validate().unwrap();
        assert_eq!(s.hot_keys(), 250);
        assert_eq!(s.key(0), "{drill:hot-slot}:0");
        assert_eq!(s.key(249), "{drill:hot-slot}:249");
        assert_eq!(s.key(250), "drill:250");
        let slot = |k: String| crate::slots::key_slot(k.as_bytes());
        assert!((0..250).all(|n| slot(s.key(n)) == slot(s.key(0))));
        assert_eq!(
            (250..1000)
                .filter(|&n| slot(s.key(n)) == slot(s.key(0)))
                .count(),
            (250..1000)
                .filter(|&n| slot(format!("drill:{n}")) == slot(s.key(0)))
                .count(),
        );
        // Off by default: every key as before.
        assert_eq!(parse("keys: 10\n").unwrap().key(0), "drill:0");
        let why = |yaml: &str| parse(yaml).unwrap().validate().unwrap_err().to_string();
        assert!(why("hot_slot: 1.5\n").contains("from 0 to 1"));
        assert!(why("keys: 10\nhot_slot: 0.01\n").contains("is no key"));
        assert!(why("key_prefix: \"{x}:\"\nhot_slot: 0.5\n").contains("braces"));
    }

    #[test]
    fn bad_weighted_value_sizes_are_refused() {
        let why = |yaml: &str| match parse(yaml) {
            Err(e) => e,
            Ok(s) => s.validate().unwrap_err().to_string(),
        };
        assert!(why("value_size: []\n").contains("lists no sizes"));
        assert!(why("value_size: [{size: 100, weight: 0}]\n").contains("weight 0"));
        assert!(
            why("value_size: [{size: 100, weight: 1}, {size: 100, weight: 2}]\n")
                .contains("100 is listed twice")
        );
        assert!(why("value_size: [{size: 2000000, weight: 1}]\n").contains("above the limit"));
        assert!(why("value_size: [{size: 100, wieght: 1}]\n").contains("wieght"));
        assert!(why("value_size: [{size: 100}]\n").contains("weight"));
    }

    #[test]
    fn rejections() {
        assert!(parse("clientz: 1\n").unwrap_err().contains("clientz"));
        assert!(
            parse("mix: {get: 1, put: 1}\n")
                .unwrap_err()
                .contains("put")
        );
        assert!(parse("value_size: {min: 1}\n").unwrap_err().contains("max"));
        assert!(parse("value_size: -1\n").is_err());
        let bad = |s: WorkloadSpec| s.validate().unwrap_err().to_string();
        let base = WorkloadSpec::default();
        assert!(
            bad(WorkloadSpec {
                clients: Clients::from(0),
                probe_clients: 0,
                ..base.clone()
            })
            .contains("nothing would run")
        );
        assert!(
            bad(WorkloadSpec {
                model: Model::Open { rate: 0.0 },
                ..base.clone()
            })
            .contains("rate")
        );
        assert!(
            bad(WorkloadSpec {
                value_size: ValueSize::Range { min: 5, max: 1 },
                ..base.clone()
            })
            .contains("min 5")
        );
        assert!(
            bad(WorkloadSpec {
                mix: Mix {
                    get: 0,
                    set: 0,
                    incr: 0,
                    ..Mix::default()
                },
                ..base.clone()
            })
            .contains("all 0")
        );
        assert!(
            bad(WorkloadSpec {
                depth: 4,
                model: Model::Open { rate: 100.0 },
                ..base.clone()
            })
            .contains("closed loop")
        );
        assert!(
            bad(WorkloadSpec {
                max_in_flight: Some(0),
                ..base.clone()
            })
            .contains("max_in_flight")
        );
        assert!(
            bad(WorkloadSpec {
                max_tool_lag_ms: 0.0,
                ..base.clone()
            })
            .contains("max_tool_lag_ms")
        );
        assert!(
            bad(WorkloadSpec {
                threads: 1000,
                ..base.clone()
            })
            .contains("threads")
        );
    }

    #[test]
    fn the_default_in_flight_limit_is_never_reached() {
        // 4000 ops/s with 1 s timeouts: ops end within 6 s, so at most
        // 24 000 can be in flight; the limit is above that.
        let s = WorkloadSpec {
            model: Model::Open { rate: 4000.0 },
            timeout_ms: 1000,
            ..WorkloadSpec::default()
        };
        assert_eq!(s.op_bound(), Duration::from_secs(6));
        assert_eq!(s.in_flight_limit(), 24_000 + 9 + 1);
        let s = WorkloadSpec {
            max_in_flight: Some(3),
            ..s
        };
        assert_eq!(s.in_flight_limit(), 3);
        let s = WorkloadSpec {
            depth: 16,
            clients: Clients::from(4),
            probe_clients: 0,
            ..WorkloadSpec::default()
        };
        assert_eq!(s.in_flight_limit(), 64);
    }

    #[test]
    fn key_names() {
        let s = WorkloadSpec {
            keys: 2,
            counter_keys: 1,
            mix: Mix {
                get: 1,
                set: 1,
                incr: 1,
                ..Mix::default()
            },
            ..WorkloadSpec::default()
        };
        assert_eq!(s.all_keys(), vec!["drill:0", "drill:1", "drill:counter:0"]);
    }
}
