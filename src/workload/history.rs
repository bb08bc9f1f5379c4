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
//! is the part of that lag spent waiting for an in-flight slot). Histories
//! written before these fields existed have `start_ns`, read as `due_ns` and
//! `sent_ns` both.
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
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The recorded operations of a run, sorted by start.
pub type History = Vec<Op>;

/// One operation as a client saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    #[serde(alias = "start_ns")]
    pub due_ns: u64,
    /// When a client began sending it (after any wait for an in-flight slot).
    /// Nothing can have happened on a server before this.
    #[serde(default = "unset")]
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

/// `sent_ns` of a history written before it existed: filled with `due_ns` on read.
fn unset() -> u64 {
    u64::MAX
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Op {
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
}

impl ClientMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientMode::App => "app",
            ClientMode::Probe => "probe",
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

/// The outcome of a redis-rs error.
///
/// `sent` says whether the request may have reached the server: a connection
/// dropped or a response timeout after sending is then indeterminate. A
/// refused connection never sent anything, whatever `sent` says.
pub fn classify(err: &redis::RedisError, sent: bool) -> Outcome {
    use redis::{ErrorKind as K, ServerErrorKind as S};
    let message = err.to_string();
    let fail = |kind| Outcome::Fail {
        kind,
        message: message.clone(),
    };
    match err.kind() {
        K::Server(S::Moved) => fail(ErrorKind::Moved),
        K::Server(S::Ask) => fail(ErrorKind::Ask),
        K::Server(S::TryAgain) => fail(ErrorKind::TryAgain),
        K::Server(S::ClusterDown) => fail(ErrorKind::ClusterDown),
        K::Server(S::BusyLoading) => fail(ErrorKind::Loading),
        K::Server(S::ReadOnly) => fail(ErrorKind::ReadOnly),
        // redis-rs's "Transaction aborted" (EXECABORT): EXEC ran nothing, and
        // the queued command's own error (MOVED, TRYAGAIN, ...) says why.
        K::Server(S::ExecAbort) => match err.clone().into_server_errors() {
            Some(queued) => fail(aborted_kind(queued.iter().map(|(_, e)| e))),
            None => fail(ErrorKind::Other),
        },
        K::Server(_) | K::Extension => match err.code() {
            Some("LOADING") => fail(ErrorKind::Loading),
            Some("READONLY") => fail(ErrorKind::ReadOnly),
            Some("TRYAGAIN") => fail(ErrorKind::TryAgain),
            Some("CLUSTERDOWN") => fail(ErrorKind::ClusterDown),
            _ => fail(ErrorKind::Other),
        },
        _ if err.is_connection_refusal() => fail(ErrorKind::Connection),
        _ if err.is_timeout() => {
            if sent {
                Outcome::Indeterminate {
                    message: format!("timeout: {message}"),
                }
            } else {
                fail(ErrorKind::Timeout)
            }
        }
        K::Io => {
            if sent {
                Outcome::Indeterminate {
                    message: format!("connection: {message}"),
                }
            } else {
                fail(ErrorKind::Connection)
            }
        }
        K::ClusterConnectionNotFound => fail(ErrorKind::Connection),
        _ => fail(ErrorKind::Other),
    }
}

/// The class of an aborted transaction: that of the first queued command's
/// error that is not EXECABORT itself (`other` when none says more).
fn aborted_kind<'a>(queued: impl IntoIterator<Item = &'a redis::ServerError>) -> ErrorKind {
    queued
        .into_iter()
        .filter(|e| e.kind() != Some(redis::ServerErrorKind::ExecAbort))
        .find_map(|e| match classify(&e.clone().into(), false) {
            Outcome::Fail { kind, .. } => Some(kind),
            _ => None,
        })
        .unwrap_or(ErrorKind::Other)
}

/// Why a history file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("write history {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read history {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parse line {line} of history {}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// Write `ops` to `path` as JSON lines (one op per line).
pub fn write_jsonl(path: &Path, ops: &[Op]) -> Result<(), HistoryError> {
    let wrap = |source| HistoryError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut w = BufWriter::new(File::create(path).map_err(wrap)?);
    for op in ops {
        serde_json::to_writer(&mut w, op).map_err(|e| wrap(e.into()))?;
        w.write_all(b"\n").map_err(wrap)?;
    }
    w.flush().map_err(wrap)
}

/// Read a history written by [`write_jsonl`]. Blank lines are skipped.
pub fn read_jsonl(path: &Path) -> Result<History, HistoryError> {
    let wrap = |source| HistoryError::Read {
        path: path.to_path_buf(),
        source,
    };
    let reader = BufReader::new(File::open(path).map_err(wrap)?);
    let mut ops = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(wrap)?;
        if line.trim().is_empty() {
            continue;
        }
        let mut op: Op = serde_json::from_str(&line).map_err(|source| HistoryError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        if op.sent_ns == unset() {
            op.sent_ns = op.due_ns;
        }
        ops.push(op);
    }
    Ok(ops)
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
        // A history from before the three times: start_ns is both due and sent.
        std::fs::write(
            &path,
            r#"{"client":3,"mode":"probe","kind":"get","key":"k","slot":1,"value":null,"start_ns":10,"end_ns":20,"node":null,"redirects":0,"outcome":"ok"}"#,
        )
        .unwrap();
        let old = read_jsonl(&path).unwrap();
        assert_eq!((old[0].due_ns, old[0].sent_ns, old[0].end_ns), (10, 10, 20));
        std::fs::write(&path, "{\"client\":1}\n").unwrap();
        let err = read_jsonl(&path).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn classification() {
        let moved = redis::RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::Moved),
            "moved",
            "3999 127.0.0.1:6381".to_string(),
        ));
        assert!(matches!(
            classify(&moved, true),
            Outcome::Fail {
                kind: ErrorKind::Moved,
                ..
            }
        ));
        let timeout = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(matches!(
            classify(&timeout, true),
            Outcome::Indeterminate { .. }
        ));
        assert!(matches!(
            classify(&timeout, false),
            Outcome::Fail {
                kind: ErrorKind::Timeout,
                ..
            }
        ));
        let refused =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(
            classify(&refused, true),
            Outcome::Fail {
                kind: ErrorKind::Connection,
                ..
            }
        ));
        let reset =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(matches!(
            classify(&reset, true),
            Outcome::Indeterminate { .. }
        ));
        // An aborted transaction is classed by its queued command's error.
        let server = |resp: &str| match redis::parse_redis_value(resp.as_bytes()).unwrap() {
            redis::Value::ServerError(e) => e,
            other => panic!("{other:?}"),
        };
        let execabort = server("-EXECABORT Transaction discarded because of previous errors.\r\n");
        let moved = server("-MOVED 3999 127.0.0.1:6381\r\n");
        let tryagain = server("-TRYAGAIN Multiple keys request during rehashing of slot\r\n");
        assert_eq!(
            aborted_kind([&execabort, &moved, &tryagain]),
            ErrorKind::Moved
        );
        assert_eq!(aborted_kind([&tryagain]), ErrorKind::TryAgain);
        assert_eq!(aborted_kind([&execabort]), ErrorKind::Other);
        assert!(matches!(
            classify(&execabort.into(), true),
            Outcome::Fail {
                kind: ErrorKind::Other,
                ..
            }
        ));
        let loading = redis::make_extension_error("LOADING".into(), Some("x".into()));
        assert!(matches!(
            classify(&loading, true),
            Outcome::Fail {
                kind: ErrorKind::Loading,
                ..
            }
        ));
    }
}
