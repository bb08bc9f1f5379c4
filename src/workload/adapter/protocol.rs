//! The adapter protocol, version 1: JSON lines between the tool and a client
//! library's adapter process (docs/clients.md says it for adapter authors).
//!
//! The tool writes to the adapter's stdin: one [`Hello`], then [`OpLine`]s
//! ahead of their due times, then `{"type":"end"}`. The adapter writes to
//! its stdout: one [`Ready`] (or `{"type":"error"}`) once its clients are
//! connected, then a [`ResultLine`] per op as each ends, then
//! `{"type":"done"}` once every op has its result. Times are ns since the
//! run's epoch on CLOCK_MONOTONIC (`hello.epoch_monotonic_ns` is that epoch),
//! which every process on the machine — in a container or not — reads alike.
//!
//! Pure: parsing and checking lines; [`super::host`] does the I/O.

use serde::{Deserialize, Serialize};

use crate::record::ops::{ErrorKind, OpKind, Outcome};

pub const PROTOCOL: u32 = 1;

/// The first line the tool writes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Hello {
    pub protocol: u32,
    /// The library the adapter is asked to drive (an adapter may serve several).
    pub library: String,
    /// `cluster` (the library's cluster client, seeded with `nodes`),
    /// `sentinel` (the library's Sentinel client: the primary of `service`
    /// as `sentinels` name it, asked again after a failover) or `standalone`
    /// (a plain client of `nodes[0]`).
    pub topology: String,
    /// Seeds, `host:port`.
    pub nodes: Vec<String>,
    /// `sentinel`: the Sentinels, `host:port`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sentinels: Vec<String>,
    /// `sentinel`: the name the Sentinels monitor the primary by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Clients to open: op lines name one by number, `0..clients`.
    pub clients: u32,
    /// The run's time 0 on CLOCK_MONOTONIC, ns.
    pub epoch_monotonic_ns: u64,
    /// The library's settings as the scenario names them, passed through.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Ops in flight at once at most, over all its clients (absent: the
    /// adapter's own default). An op due while this many are in flight is
    /// sent when one ends, and the wait shows as its lag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    /// An op its library has not returned this long after it was handed
    /// over is answered `indeterminate` by the adapter itself (class
    /// `redis-drill.NoReturn`), and the library's late answer dropped: a
    /// library that holds an op for minutes (a connect to an address that
    /// vanished, no timeout set) is measured, not taken for a hung adapter.
    /// Below the host's hang bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// `own`: the adapter runs on another host, whose CLOCK_MONOTONIC is not
    /// the tool's. It then ignores `epoch_monotonic_ns`, reads every time
    /// (`due_ns` in, `sent_ns`/`end_ns` out) on a clock of its own, and
    /// answers each [`clock_line`] at once with that clock's reading: the
    /// tool estimates the offset from the round trips (as NTP does), before
    /// the first op and after the last result, and maps the times both ways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
}

/// `hello.clock` of an adapter that keeps a clock of its own.
pub const OWN_CLOCK: &str = "own";

/// The adapter's first line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ready {
    pub library: String,
    /// The library's version as it reports it.
    pub version: String,
    /// Every setting that changes an outcome, as the library runs with it
    /// (its defaults included): recorded in the report.
    #[serde(default)]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// One op for the adapter to run at its due time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpLine {
    /// The op's number in this adapter's stream; its result names it.
    pub id: u64,
    pub client: u32,
    pub op: OpKind,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub due_ns: u64,
}

/// How an op ended, as the adapter saw it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Ended {
    Ok,
    /// Certainly not applied: refused by the server, or never sent.
    Fail,
    /// A timeout or a connection lost after sending: may have been applied.
    Indeterminate,
}

/// One op's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResultLine {
    pub id: u64,
    pub sent_ns: u64,
    pub end_ns: u64,
    pub outcome: Ended,
    /// `fail`: the class in the tool's terms (moved, ask, tryagain,
    /// clusterdown, loading, readonly, connection, timeout, other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    /// The error as the library raised it: its class (`redis.exceptions.
    /// TimeoutError`) and message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `get`: the value read (absent or null: nil); `incr`: the new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Redirects the library reports it followed, where it exposes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirects: Option<u32>,
    /// The node (`host:port`) the library last sent the op to — the one
    /// that answered it, when it was answered — where the library exposes
    /// it (the Python adapters' Sentinel clients): who took a write in a
    /// split brain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl ResultLine {
    /// The history's outcome: `fail` needs its kind; the library's class
    /// and message make the history's message.
    pub fn outcome(&self) -> Result<Outcome, String> {
        let message = match (&self.class, &self.message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => String::new(),
        };
        match self.outcome {
            Ended::Ok => Ok(Outcome::Ok),
            Ended::Indeterminate => Ok(Outcome::Indeterminate { message }),
            Ended::Fail => match self.kind {
                Some(kind) => Ok(Outcome::Fail { kind, message }),
                None => Err("a `fail` result without its `kind`".into()),
            },
        }
    }
}

/// A line from the adapter.
#[derive(Debug, Clone, PartialEq)]
pub enum FromAdapter {
    Ready(Ready),
    /// It could not start (its library missing, no node reachable, ...).
    Error(String),
    Result(ResultLine),
    Done,
    /// The answer to a clock line: the adapter's clock when it read it.
    Clock {
        id: u32,
        now_ns: u64,
    },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Tagged {
    Ready(Ready),
    Error { message: String },
    Result(ResultLine),
    Done,
    Clock { id: u32, now_ns: u64 },
}

/// One line of the adapter's stdout, checked: valid JSON of a known type,
/// times in order. The error says what is wrong; the caller adds which
/// adapter and line.
pub fn parse(line: &str) -> Result<FromAdapter, String> {
    let t: Tagged = serde_json::from_str(line).map_err(|e| format!("not a protocol line: {e}"))?;
    Ok(match t {
        Tagged::Ready(r) => FromAdapter::Ready(r),
        Tagged::Error { message } => FromAdapter::Error(message),
        Tagged::Done => FromAdapter::Done,
        Tagged::Clock { id, now_ns } => FromAdapter::Clock { id, now_ns },
        Tagged::Result(r) => {
            if r.end_ns < r.sent_ns {
                return Err(format!(
                    "op {}: ends ({} ns) before it was sent ({} ns)",
                    r.id, r.end_ns, r.sent_ns
                ));
            }
            r.outcome().map_err(|e| format!("op {}: {e}", r.id))?;
            FromAdapter::Result(r)
        }
    })
}

/// A tool line, serialized with its `type`.
pub fn hello_line(h: &Hello) -> String {
    tagged("hello", h)
}

pub fn op_line(o: &OpLine) -> String {
    tagged("op", o)
}

/// A clock exchange's question (`hello.clock: own`); the adapter answers
/// `{"type":"clock","id":ID,"now_ns":NOW}` at once.
pub fn clock_line(id: u32) -> String {
    format!("{{\"type\":\"clock\",\"id\":{id}}}")
}

pub fn end_line() -> String {
    "{\"type\":\"end\"}".to_string()
}

fn tagged<T: Serialize>(kind: &str, v: &T) -> String {
    let mut m = match serde_json::to_value(v) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => unreachable!("protocol lines are structs"),
    };
    m.insert("type".into(), serde_json::Value::String(kind.into()));
    serde_json::Value::Object(m).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_parse_into_outcomes_and_bad_lines_say_why() {
        let ok = parse(
            r#"{"type":"result","id":3,"sent_ns":10,"end_ns":20,"outcome":"ok","value":"v"}"#,
        )
        .unwrap();
        let FromAdapter::Result(r) = ok else {
            panic!("{ok:?}")
        };
        assert_eq!((r.id, r.value.as_deref()), (3, Some("v")));
        assert_eq!(r.outcome().unwrap(), Outcome::Ok);
        let fail = parse(
            r#"{"type":"result","id":4,"sent_ns":10,"end_ns":20,"outcome":"fail","kind":"clusterdown","class":"redis.exceptions.ClusterDownError","message":"CLUSTERDOWN"}"#,
        )
        .unwrap();
        let FromAdapter::Result(r) = fail else {
            panic!()
        };
        assert_eq!(
            r.outcome().unwrap(),
            Outcome::Fail {
                kind: ErrorKind::ClusterDown,
                message: "redis.exceptions.ClusterDownError: CLUSTERDOWN".into()
            }
        );
        assert_eq!(
            parse(r#"{"type":"ready","library":"redis-py","version":"8.1.0"}"#).unwrap(),
            FromAdapter::Ready(Ready {
                library: "redis-py".into(),
                version: "8.1.0".into(),
                settings: Default::default()
            })
        );
        assert_eq!(parse(r#"{"type":"done"}"#).unwrap(), FromAdapter::Done);
        for (bad, says) in [
            ("not json", "not a protocol line"),
            (r#"{"type":"banana"}"#, "not a protocol line"),
            (r#"{"type":"result","id":1}"#, "not a protocol line"),
            (
                r#"{"type":"result","id":1,"sent_ns":30,"end_ns":20,"outcome":"ok"}"#,
                "before it was sent",
            ),
            (
                r#"{"type":"result","id":1,"sent_ns":10,"end_ns":20,"outcome":"fail"}"#,
                "without its `kind`",
            ),
            (
                r#"{"type":"result","id":1,"sent_ns":10,"end_ns":20,"outcome":"fail","kind":"weird"}"#,
                "not a protocol line",
            ),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn tool_lines_carry_their_type() {
        let o = OpLine {
            id: 7,
            client: 1,
            op: OpKind::Set,
            key: "k".into(),
            value: Some("v".into()),
            due_ns: 5,
        };
        let v: serde_json::Value = serde_json::from_str(&op_line(&o)).unwrap();
        assert_eq!(v["type"], "op");
        assert_eq!(v["op"], "set");
        assert_eq!(v["due_ns"], 5);
        assert_eq!(end_line(), r#"{"type":"end"}"#);
    }
}
