//! The history: every operation a client issued, with its timing, target and
//! outcome. The contract between the workload (which records it) and the
//! checkers (which read it, also offline from a JSON-lines file).
//!
//! # JSON lines
//!
//! One [`Op`] per line, fields in declaration order:
//!
//! ```text
//! {"client":0,"mode":"app","kind":"set","key":"drill:17","slot":9842,"value":"c0-41-xxxx",
//!  "due_ns":1503211,"sent_ns":1503290,"end_ns":1731002,"node":null,"redirects":0,"outcome":"ok"}
//! {"client":8,"mode":"probe","kind":"get","key":"drill:3","slot":1234,"value":null,...,
//!  "node":"s1n1","redirects":1,"outcome":{"fail":{"kind":"clusterdown","message":"..."}}}
//! {...,"outcome":{"indeterminate":{"message":"timeout: ..."}}}
//! ```
//!
//! Three times per op, all in ns since the run's epoch: `due_ns` (when the
//! schedule asked for it), `sent_ns` (when a client started sending it) and
//! `end_ns` (when its outcome was known). Latency, what a user feels, runs
//! from due to end; service time from sent to end; the difference is the
//! tool's own lag, reported apart (and `pool_wait_ns`, present when not 0,
//! is the part of that lag spent waiting for an in-flight slot).
//!
//! The file is counted JSON lines ([`super::jsonl`]): it ends with
//! `{"end":{"entries":N}}`. Every field above is required and no other is
//! accepted: a history that lacks a time cannot be judged, and a reader
//! that guessed one would judge something else.
//!
//! `mode` is `app` | `probe`; `kind` is `get` | `set` | `incr` | `del` | `txn` |
//! `txn_read`; `outcome` is the
//! string `"ok"` or a one-key object `fail` / `indeterminate`; a failure's `kind`
//! is one of `moved`, `ask`, `tryagain`, `clusterdown`, `loading`, `readonly`, `connection`,
//! `timeout`, `other` (the Redis error codes, lowercase).
//!
//! A `set` with a TTL carries `ttl_ms` (it was sent as `SET PX`). A `txn` (MULTI,
//! a SET of every member, EXEC) and a `txn_read` (MGET of the members) carry
//! `members`, the group's keys in order; `key` is the group's hash tag. A txn's
//! `value` is its op id, the value it wrote to every member; a txn_read's
//! `values` what MGET returned, member by member (null = nil):
//!
//! ```text
//! {...,"kind":"txn","key":"{drill:g3}","slot":...,"value":"c2-17-xx",...,
//!  "members":["{drill:g3}:a","{drill:g3}:b"]}
//! {...,"kind":"txn_read","key":"{drill:g3}",...,"members":[...],"values":["c2-17-xx",null]}
//! ```

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::jsonl::JsonlError;

/// The recorded operations of a run, sorted by start.
pub type History = Vec<Op>;

/// One operation as a client saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Op {
    /// Client number: app clients first (0..clients), then probe clients.
    pub client: u32,
    pub mode: ClientMode,
    pub kind: OpKind,
    pub key: String,
    pub slot: u16,
    /// Set: the value written; Get: the value read (None = nil); Incr: the
    /// new value if ok; Txn: its op id, written to every member; Del, TxnRead: None.
    pub value: Option<String>,
    /// When the op was due, ns since the run's epoch (timeline::Clock). Open
    /// loop: its place in the schedule, so that a stall shows in the latency
    /// instead of delaying the schedule; closed loop: when it was sent.
    pub due_ns: u64,
    /// When a client began sending it (after any wait for an in-flight slot).
    /// Nothing can have happened on a server before this.
    pub sent_ns: u64,
    /// When its outcome was known.
    pub end_ns: u64,
    /// How long it waited for an in-flight slot (`workload.max_in_flight`)
    /// before being sent; part of `sent_ns - due_ns`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pool_wait_ns: u64,
    /// The primary (name) that owned the slot in the client's view when sent, if
    /// known (probe clients; the app client's redis-rs view is not visible).
    pub node: Option<String>,
    /// The node that answered it, when not `node`: an op retried after an
    /// error and answered by another node (a Sentinel client's write that
    /// failed on the dead primary and succeeded on the new one). Who took
    /// a write is `served` or else `node` ([`Op::served_by`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served: Option<String>,
    /// MOVED/ASK redirects the op went through (probe clients count them exactly;
    /// app clients follow them inside redis-rs and record 0).
    pub redirects: u32,
    pub outcome: Outcome,
    /// With `wait:` in the workload: how many replicas WAIT reported for this
    /// write (absent when no WAIT was sent, e.g. the write itself failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// A `set` sent as `SET PX`: its time to live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
    /// `txn`, `txn_read`: the group's member keys, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// `txn_read` that succeeded: each member's value (None = nil), in the
    /// order of `members`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Option<String>>,
}

/// What the workload engine itself did: the figures of the self-check that
/// are not in the history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadStats {
    /// `open` or `closed`.
    pub model: String,
    /// Ops handed to the clients (open loop: by the dispatchers).
    pub ops_dispatched: u64,
    /// The most ops in flight at once, and the limit.
    pub peak_in_flight: u64,
    pub max_in_flight: u64,
    /// Connections open at the end, by kind.
    pub app_connections: u64,
    pub probe_connections: u64,
    /// Event-loop threads of the workload (0: one loop on the controller's runtime).
    pub threads: u32,
    /// How the workload's threads were scheduled (the weakest of them):
    /// `realtime (SCHED_FIFO 1)` or `nice N`; `None` when none of its own ran.
    #[serde(default)]
    pub priority: Option<String>,
    /// The latest a dispatcher handed an op over after its due time (ms).
    pub dispatcher_max_late_ms: f64,
    /// Ops that ran but are not in the history (the workload's `MAX_OPS` reached).
    pub unrecorded: u64,
    /// Ops due before the stop that never ended: still waiting for room in
    /// flight, or in flight, when the drain after the stop ran out.
    pub dropped_at_stop: u64,
    /// Event loops that had not ended when the stop's bound ran out: their
    /// ops, and their count of ops handed over, are missing from the run.
    pub loops_unfinished: u32,
    /// The groups of other libraries' clients, each run by its adapter, in
    /// the order of their client numbers (after the probe clients).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adapters: Vec<AdapterStats>,
    /// The app clients' library (redis-rs), its version and the settings
    /// that change outcomes; absent without app clients (and in runs
    /// recorded before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_library: Option<LibraryInfo>,
}

/// A client library as a run used it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LibraryInfo {
    pub library: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// One adapter's group: who it was, and what it did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdapterStats {
    /// The group's name in the report (its library's, unless named).
    pub name: String,
    pub library: String,
    /// The library's version as its adapter reported it (`None`: it never
    /// said it was ready).
    pub version: Option<String>,
    /// The settings that change outcomes, as the library ran with them.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Its clients are numbers `first_client..first_client + clients`.
    pub first_client: u32,
    pub clients: u32,
    /// Ops sent to the adapter (due before the stop), and those of them it
    /// gave a result for.
    pub fed: u64,
    pub results: u64,
    /// Why this group's figures cannot be trusted: the adapter, and the
    /// line at fault. Its ops without a result are in the history as
    /// indeterminate (they may have been applied), never as lost writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The last lines it wrote to stderr, when it had a problem.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr_tail: String,
    /// A worker on another host: where, and its clock against the run's
    /// (offset, uncertainty, and the error against the truth where known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<crate::workload::adapter::clock::WorkerClock>,
}

impl WorkloadStats {
    /// The adapter group client `c` belongs to, if any.
    pub fn adapter_of(&self, client: u32) -> Option<&AdapterStats> {
        self.adapters
            .iter()
            .find(|a| (a.first_client..a.first_client + a.clients).contains(&client))
    }
}

/// The `wait:` setting of a workload: what a careful application does to make
/// an acknowledged write survive a failover (it narrows the loss, it does not
/// close it: Redis replication stays asynchronous).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitSpec {
    /// Replicas that must have the write.
    pub replicas: u32,
    /// WAIT's own timeout; it returns the count reached by then.
    pub timeout_ms: u64,
    /// WAIT after every n-th write of a client (1: every write), so that
    /// one run shows writes with and without it side by side.
    #[serde(default = "every_write", skip_serializing_if = "is_every_write")]
    pub every: u32,
}

fn every_write() -> u32 {
    1
}

fn is_every_write(n: &u32) -> bool {
    *n == 1
}

/// How keys are picked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Distribution {
    Uniform,
    /// Key n (0-based) has weight 1/(n+1)^s: key 0 is the hottest.
    Zipfian {
        s: f64,
    },
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Op {
    /// The node that answered the op, as far as the client knows: the one
    /// its last try went to.
    pub fn served_by(&self) -> Option<&str> {
        self.served.as_deref().or(self.node.as_deref())
    }

    /// Acknowledged: the op certainly happened.
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok)
    }

    /// Whether the op is a write (`set`, `incr`, `del` or `txn`).
    pub fn is_write(&self) -> bool {
        self.kind.is_write()
    }

    /// Latency from the schedule, ns: due to end. What a user feels.
    pub fn latency_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.due_ns)
    }

    /// Service time, ns: sent to end. What the client path and the server took.
    pub fn service_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.sent_ns)
    }

    /// The tool's own lag, ns: due to sent. Time the op spent waiting to be
    /// sent (a late wake-up, a busy CPU, a full pool), not in Redis.
    pub fn tool_lag_ns(&self) -> u64 {
        self.sent_ns.saturating_sub(self.due_ns)
    }
}

/// Which kind of client issued an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientMode {
    /// The redis-rs cluster client with retries: what an application feels.
    App,
    /// The drill's own client without retries: what the cluster really did.
    Probe,
    /// A client of another library, run by its adapter: which library is
    /// told by the client's number (`WorkloadStats::adapters`).
    Adapter,
}

impl ClientMode {
    /// Whether this client retries inside its library, so that an op it
    /// reports failed may still have been applied by an earlier attempt.
    pub fn retries(self) -> bool {
        self != ClientMode::Probe
    }

    /// The name the history and the reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientMode::App => "app",
            ClientMode::Probe => "probe",
            ClientMode::Adapter => "adapter",
        }
    }
}

impl fmt::Display for ClientMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The command of an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Get,
    Set,
    Incr,
    Del,
    /// MULTI; SET of every member of a hash-tagged group to the op's id; EXEC.
    Txn,
    /// MGET of every member of a group.
    TxnRead,
}

impl OpKind {
    /// Every kind, in the order of the workload's mix.
    pub const ALL: [OpKind; 6] = [
        OpKind::Get,
        OpKind::Set,
        OpKind::Incr,
        OpKind::Del,
        OpKind::Txn,
        OpKind::TxnRead,
    ];

    /// The name the history and the reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::Set => "set",
            OpKind::Incr => "incr",
            OpKind::Del => "del",
            OpKind::Txn => "txn",
            OpKind::TxnRead => "txn_read",
        }
    }

    /// Whether an op of this kind changes the data.
    pub fn is_write(self) -> bool {
        matches!(self, OpKind::Set | OpKind::Incr | OpKind::Del | OpKind::Txn)
    }
}

/// How an op ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    /// The op certainly did not take effect (the server refused it, or it was never sent).
    Fail {
        kind: ErrorKind,
        message: String,
    },
    /// A timeout or a connection dropped after sending: it may have taken effect.
    Indeterminate {
        message: String,
    },
}

impl Outcome {
    /// A short label: `ok`, the failure kind, or `indeterminate`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail { kind, .. } => kind.as_str(),
            Outcome::Indeterminate { .. } => "indeterminate",
        }
    }
}

/// The class of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    Moved,
    Ask,
    TryAgain,
    ClusterDown,
    Loading,
    /// `READONLY`: a write reached a replica (a demoted primary, on a
    /// replicated topology).
    ReadOnly,
    /// Could not connect (refused, reset before sending, no connection to the node).
    Connection,
    /// Connecting timed out (nothing was sent; a response timeout is indeterminate).
    Timeout,
    Other,
}

impl ErrorKind {
    /// The serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Moved => "moved",
            ErrorKind::Ask => "ask",
            ErrorKind::TryAgain => "tryagain",
            ErrorKind::ClusterDown => "clusterdown",
            ErrorKind::Loading => "loading",
            ErrorKind::ReadOnly => "readonly",
            ErrorKind::Connection => "connection",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Write `ops` to `path` as counted JSON lines (one op a line, then the end line).
pub fn write_jsonl(path: &Path, ops: &[Op]) -> Result<(), JsonlError> {
    super::jsonl::write(path, ops).map(|_| ())
}

/// Read a history [`write_jsonl`] wrote, refusing one that is not whole.
pub fn read_jsonl(path: &Path) -> Result<History, JsonlError> {
    Ok(super::jsonl::read(path)?
        .into_iter()
        .map(|(_, op)| op)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(outcome: Outcome) -> Op {
        Op {
            replicas: None,
            ttl_ms: None,
            members: Vec::new(),
            values: Vec::new(),
            client: 3,
            mode: ClientMode::Probe,
            kind: OpKind::Set,
            key: "drill:1".into(),
            slot: 9842,
            value: Some("c3-0".into()),
            due_ns: 10,
            sent_ns: 12,
            end_ns: 20,
            pool_wait_ns: 0,
            node: Some("s1n1".into()),
            served: None,
            redirects: 1,
            outcome,
        }
    }

    #[test]
    fn json_forms() {
        let ok = serde_json::to_string(&op(Outcome::Ok)).unwrap();
        assert_eq!(
            ok,
            r#"{"client":3,"mode":"probe","kind":"set","key":"drill:1","slot":9842,"value":"c3-0","due_ns":10,"sent_ns":12,"end_ns":20,"node":"s1n1","redirects":1,"outcome":"ok"}"#
        );
        let mut waited = op(Outcome::Ok);
        waited.pool_wait_ns = 1;
        assert!(
            serde_json::to_string(&waited)
                .unwrap()
                .contains(r#""pool_wait_ns":1,"#)
        );
        let o = op(Outcome::Ok);
        assert_eq!(
            (o.latency_ns(), o.service_ns(), o.tool_lag_ns()),
            (10, 8, 2)
        );
        let fail = serde_json::to_string(&op(Outcome::Fail {
            kind: ErrorKind::TryAgain,
            message: "m".into(),
        }))
        .unwrap();
        assert!(
            fail.ends_with(r#""outcome":{"fail":{"kind":"tryagain","message":"m"}}}"#),
            "{fail}"
        );
        let ind = serde_json::to_string(&op(Outcome::Indeterminate {
            message: "timeout".into(),
        }))
        .unwrap();
        assert!(
            ind.ends_with(r#""outcome":{"indeterminate":{"message":"timeout"}}}"#),
            "{ind}"
        );
    }

    #[test]
    fn cache_ops_json_forms() {
        let mut t = op(Outcome::Ok);
        t.kind = OpKind::Txn;
        t.key = "{drill:g3}".into();
        t.members = vec!["{drill:g3}:a".into(), "{drill:g3}:b".into()];
        let json = serde_json::to_string(&t).unwrap();
        assert!(
            json.contains(r#""kind":"txn","key":"{drill:g3}""#),
            "{json}"
        );
        assert!(
            json.ends_with(r#""outcome":"ok","members":["{drill:g3}:a","{drill:g3}:b"]}"#),
            "{json}"
        );
        t.kind = OpKind::TxnRead;
        t.values = vec![Some("x".into()), None];
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.contains(r#""kind":"txn_read""#), "{json}");
        assert!(json.ends_with(r#""values":["x",null]}"#), "{json}");
        let mut s = op(Outcome::Ok);
        s.ttl_ms = Some(250);
        assert!(
            serde_json::to_string(&s)
                .unwrap()
                .ends_with(r#""outcome":"ok","ttl_ms":250}"#)
        );
        for k in OpKind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert!(OpKind::Del.is_write() && OpKind::Txn.is_write());
        assert!(!OpKind::TxnRead.is_write() && !OpKind::Get.is_write());
    }

    #[test]
    fn jsonl_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let ops = vec![
            op(Outcome::Ok),
            op(Outcome::Fail {
                kind: ErrorKind::ClusterDown,
                message: "CLUSTERDOWN".into(),
            }),
            op(Outcome::Indeterminate {
                message: "t".into(),
            }),
        ];
        write_jsonl(&path, &ops).unwrap();
        assert_eq!(read_jsonl(&path).unwrap(), ops);
        // Without a time, or with a field no op has, a line is refused at its number.
        let line = serde_json::to_string(&ops[0]).unwrap();
        for bad in [
            line.replace(r#""sent_ns":12,"#, ""),
            line.replace(r#""slot":9842,"#, r#""slot":9842,"shard":"s1","#),
        ] {
            std::fs::write(
                &path,
                format!("{line}\n{bad}\n{{\"end\":{{\"entries\":2}}}}\n"),
            )
            .unwrap();
            let err = read_jsonl(&path).unwrap_err().to_string();
            assert!(err.contains("h.jsonl:2: "), "{err}");
        }
    }
}
