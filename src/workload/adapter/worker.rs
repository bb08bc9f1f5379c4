//! The tool's own adapter: redis-rs's cluster client behind the [`protocol`],
//! run as `redis-drill adapter` — the worker a region's clients are on
//! another host (the swarm runtime runs it in a container on the region's
//! engine, its stdin and stdout attached through that engine's API).
//!
//! Each op waits for its due time on the worker's clock, then takes a
//! connection from the worker's pool as the built-in app clients' open loop
//! does ([`Lanes`]: an idle one, else the least busy, pipelined behind what
//! is there) and runs on it; its result line goes out as it ends. The pool
//! is `connections` cluster connections of one cluster client, opened
//! before `ready`. One connection per client, carrying every op of that
//! client, never recovered from a killed primary at a few hundred ops a
//! second: every op timed out to the end of the run (docs/swarm.md).
//!
//! With `hello.clock: own` every time is on the worker's own clock
//! (CLOCK_MONOTONIC, plus a skew a test may set), and clock lines are
//! answered at once with that clock's reading. `redis-drill adapter` runs it
//! on a tokio runtime of one thread, as each built-in client thread runs.
//!
//! Settings (`hello.settings`): `timeout_ms` (each command's response
//! timeout, default 500), `retries` (redis-rs's own, default 3),
//! `connect_timeout_ms` (default: `timeout_ms`, as the built-in clients),
//! `connections` (the pool, default: the hello's `clients`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Semaphore, mpsc};

use super::protocol::{Hello, OWN_CLOCK, OpLine};
use crate::record::ops::{ErrorKind, OpKind, Outcome};
use crate::workload::lanes::Lanes;

/// The worker's clock: CLOCK_MONOTONIC, as run time (since the hello's
/// epoch) or as its own reading plus a skew.
#[derive(Clone, Copy)]
struct WorkerClock {
    /// Subtracted from CLOCK_MONOTONIC (the run's epoch), or 0 with an own clock.
    epoch_ns: u64,
    /// Added to the reading (a test's stand-in for another host's clock).
    skew_ns: i64,
}

impl WorkerClock {
    fn now_ns(&self) -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec it is given.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let raw = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        raw.saturating_sub(self.epoch_ns)
            .saturating_add_signed(self.skew_ns)
    }

    /// How long until `due_ns` on this clock.
    fn until(&self, due_ns: u64) -> Duration {
        Duration::from_nanos(due_ns.saturating_sub(self.now_ns()))
    }
}

/// Serve one run on stdin/stdout: hello, ready, ops, end, done.
pub async fn serve(skew_ns: i64) -> Result<(), String> {
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    // One writer for every line, so that lines never interleave.
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = out_rx.recv().await {
            if stdout.write_all(line.as_bytes()).await.is_err()
                || stdout.write_all(b"\n").await.is_err()
            {
                return;
            }
            // Flush when nothing else is queued: a clock answer goes at once.
            if out_rx.is_empty() && stdout.flush().await.is_err() {
                return;
            }
        }
        let _ = stdout.flush().await;
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let first = (lines.next_line().await)
        .map_err(|e| format!("reading the hello: {e}"))?
        .ok_or("stdin ended before the hello")?;
    let hello: Hello =
        serde_json::from_str(&first).map_err(|e| format!("the hello is not one: {e}"))?;
    let clock = WorkerClock {
        epoch_ns: if hello.clock.as_deref() == Some(OWN_CLOCK) {
            0
        } else {
            hello.epoch_monotonic_ns
        },
        skew_ns,
    };
    let settings = Settings::of(&hello.settings, hello.clients);
    let pool = match connect(&hello, &settings).await {
        Ok(c) => Arc::new(Lanes::new(c, settings.connections)),
        Err(why) => {
            let _ = out_tx.send(json!({"type": "error", "message": why}).to_string());
            drop(out_tx);
            let _ = writer.await;
            return Ok(());
        }
    };
    let _ = out_tx.send(
        json!({
            "type": "ready",
            "library": "redis-rs",
            "version": crate::cluster::REDIS_RS_VERSION,
            "settings": settings.as_map(),
        })
        .to_string(),
    );
    let in_flight = Arc::new(Semaphore::new(
        hello.max_in_flight.unwrap_or(256).max(1) as usize
    ));
    let deadline = hello.deadline_ms.map(Duration::from_millis);
    let mut running = tokio::task::JoinSet::new();
    // Bounded by stdin: the tool ends it with `end`, or closes it.
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| format!("reading stdin: {e}"))?
    {
        let v: Value =
            serde_json::from_str(&line).map_err(|e| format!("not a protocol line: {e}: {line}"))?;
        match v.get("type").and_then(Value::as_str) {
            Some("clock") => {
                let now = clock.now_ns();
                let id = v.get("id").cloned().unwrap_or(Value::Null);
                let _ = out_tx.send(json!({"type": "clock", "id": id, "now_ns": now}).to_string());
            }
            Some("op") => {
                let op: OpLine =
                    serde_json::from_value(v).map_err(|e| format!("an op line: {e}: {line}"))?;
                if op.client >= hello.clients {
                    return Err(format!("op {} names client {}", op.id, op.client));
                }
                let pool = pool.clone();
                let tx = out_tx.clone();
                let permits = in_flight.clone();
                running.spawn(async move {
                    tokio::time::sleep(clock.until(op.due_ns)).await;
                    let _permit = permits.acquire_owned().await;
                    // The pool is opened at its size (never empty) and never
                    // asked to grow: `take` finds a lane.
                    let line = match pool.take() {
                        Some((taken, _grow)) => {
                            run_op(taken.conn().clone(), &op, clock, deadline).await
                        }
                        None => {
                            let now = clock.now_ns();
                            json!({"type": "result", "id": op.id, "sent_ns": now, "end_ns": now,
                                "outcome": "fail", "kind": "other", "class": "redis-drill.NoConnection",
                                "message": "the worker's pool has no connection"})
                        }
                    };
                    let _ = tx.send(line.to_string());
                });
                // Reap what has ended, so the set holds only ops in flight.
                while running.try_join_next().is_some() {}
            }
            Some("end") => break,
            other => return Err(format!("unexpected line type {other:?}: {line}")),
        }
    }
    while running.join_next().await.is_some() {}
    let _ = out_tx.send(json!({"type": "done"}).to_string());
    drop(out_tx);
    let _ = writer.await;
    Ok(())
}

/// The worker's settings, its defaults filled in.
struct Settings {
    timeout_ms: u64,
    retries: u32,
    connect_timeout_ms: u64,
    connections: usize,
}

impl Settings {
    fn of(m: &Map<String, Value>, clients: u32) -> Settings {
        let num = |k: &str, d: u64| m.get(k).and_then(Value::as_u64).unwrap_or(d);
        Settings {
            timeout_ms: num("timeout_ms", 500),
            retries: num("retries", 3) as u32,
            // As the built-in clients: the op timeout bounds a connect too.
            connect_timeout_ms: num("connect_timeout_ms", num("timeout_ms", 500)),
            connections: num("connections", u64::from(clients)).clamp(1, 1024) as usize,
        }
    }

    fn as_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("timeout_ms".into(), self.timeout_ms.into());
        m.insert("retries".into(), self.retries.into());
        m.insert("connect_timeout_ms".into(), self.connect_timeout_ms.into());
        m.insert("connections".into(), self.connections.into());
        m
    }
}

/// The pool's cluster connections, from the hello's seeds.
async fn connect(
    hello: &Hello,
    s: &Settings,
) -> Result<Vec<crate::cluster::AskingConnection>, String> {
    if hello.topology != "cluster" {
        return Err(format!(
            "the redis-rs worker drives a cluster, not a {} topology",
            hello.topology
        ));
    }
    let opts = crate::cluster::ClientOptions {
        connection_timeout: Duration::from_millis(s.connect_timeout_ms),
        response_timeout: Duration::from_millis(s.timeout_ms),
        retries: s.retries,
        ..crate::cluster::ClientOptions::default()
    };
    // One client object; the pool's connections from it, whose node
    // connections send ASKING with its command (as the built-in clients').
    let client = crate::cluster::client::worker_client(&hello.nodes, &opts)
        .map_err(|e| format!("a cluster client of {:?}: {e}", hello.nodes))?;
    let mut out = Vec::new();
    for i in 0..s.connections {
        let c = (crate::cluster::client::connect_app(&client).await)
            .map_err(|e| format!("connection {i}: connecting to {:?}: {e}", hello.nodes))?;
        out.push(c);
    }
    Ok(out)
}

/// Run one op; its result line.
async fn run_op(
    mut conn: crate::cluster::AskingConnection,
    op: &OpLine,
    clock: WorkerClock,
    deadline: Option<Duration>,
) -> Value {
    let mut cmd = match op.op {
        OpKind::Get => redis::cmd("GET"),
        OpKind::Set => redis::cmd("SET"),
        OpKind::Incr => redis::cmd("INCR"),
        OpKind::Del => redis::cmd("DEL"),
        OpKind::Txn | OpKind::TxnRead => {
            let now = clock.now_ns();
            return json!({"type": "result", "id": op.id, "sent_ns": now, "end_ns": now,
                "outcome": "fail", "kind": "other", "class": "redis-drill.Unsupported",
                "message": "the worker runs get, set, incr and del"});
        }
    };
    cmd.arg(&op.key);
    if let (OpKind::Set, Some(v)) = (op.op, &op.value) {
        cmd.arg(v);
    }
    let sent = clock.now_ns();
    let call = cmd.query_async::<redis::Value>(&mut conn);
    let answer = match deadline {
        Some(d) => tokio::time::timeout(d, call).await.ok(),
        None => Some(call.await),
    };
    let end = clock.now_ns();
    let mut line = json!({"type": "result", "id": op.id, "sent_ns": sent, "end_ns": end});
    let m = line.as_object_mut().expect("an object");
    match answer {
        None => {
            m.insert("outcome".into(), "indeterminate".into());
            m.insert("class".into(), "redis-drill.NoReturn".into());
        }
        Some(Ok(v)) => {
            m.insert("outcome".into(), "ok".into());
            let value = match v {
                redis::Value::BulkString(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                redis::Value::Int(i) if op.op == OpKind::Incr => Some(i.to_string()),
                _ => None,
            };
            if let Some(v) = value {
                m.insert("value".into(), v.into());
            }
        }
        Some(Err(e)) => match crate::workload::classify::classify(&e, true) {
            Outcome::Fail { kind, message } => {
                m.insert("outcome".into(), "fail".into());
                m.insert("kind".into(), json!(kind));
                m.insert("class".into(), "redis::RedisError".into());
                m.insert("message".into(), message.into());
            }
            Outcome::Indeterminate { message } => {
                m.insert("outcome".into(), "indeterminate".into());
                m.insert("class".into(), "redis::RedisError".into());
                m.insert("message".into(), message.into());
            }
            Outcome::Ok => {
                m.insert("outcome".into(), "fail".into());
                m.insert("kind".into(), json!(ErrorKind::Other));
            }
        },
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_is_the_settings_connections_else_one_per_client() {
        let s = Settings::of(&Map::new(), 2);
        assert_eq!(
            (s.timeout_ms, s.retries, s.connect_timeout_ms),
            (500, 3, 500)
        );
        assert_eq!(s.connections, 2);
        let mut m = Map::new();
        m.insert("connections".into(), 16.into());
        m.insert("timeout_ms".into(), 200.into());
        let s = Settings::of(&m, 2);
        assert_eq!((s.connections, s.connect_timeout_ms), (16, 200));
        assert_eq!(s.as_map()["connections"], 16);
        m.insert("connections".into(), 0.into());
        assert_eq!(Settings::of(&m, 2).connections, 1, "never an empty pool");
    }
}
