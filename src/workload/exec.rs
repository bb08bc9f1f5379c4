//! One planned op on one connection, and what came of it.
//!
//! App connections are redis-rs cluster connections (retries, MOVED/ASK
//! followed inside the library); probe connections are [`Router`]s (no
//! retries, one redirect followed and counted). Every op is bounded by
//! `bound`, whatever the client does inside it.

use std::sync::Arc;
use std::time::Duration;

use redis::{Cmd, Value};

use super::generator::Planned;
use super::history::{OpKind, Outcome, classify};
use super::router::Router;
use super::spec::WaitSpec;
use crate::cluster::AppConnection;

/// A connection an op can go out on.
#[derive(Clone)]
pub(crate) enum Conn {
    App(AppConnection),
    Probe(Arc<Router>),
}

/// What one op did.
pub(crate) struct Done {
    pub outcome: Outcome,
    /// The reply when ok.
    pub reply: Value,
    /// The owner in the client's view (probe only).
    pub node: Option<String>,
    pub redirects: u32,
    /// With WAIT: the replicas it reported.
    pub replicas: Option<u32>,
}

/// The command an op sends.
pub(crate) fn command(p: &Planned) -> Cmd {
    match p.kind {
        OpKind::Get => redis::cmd("GET").arg(&p.key).to_owned(),
        OpKind::Set => redis::cmd("SET")
            .arg(&p.key)
            .arg(p.value.as_deref().unwrap_or(""))
            .to_owned(),
        OpKind::Incr => redis::cmd("INCR").arg(&p.key).to_owned(),
    }
}

/// Run `p` on `conn`: the command, and WAIT after a write when `wait` says so.
pub(crate) async fn run(conn: &Conn, p: &Planned, wait: Option<WaitSpec>, bound: Duration) -> Done {
    let cmd = command(p);
    let wait = wait.filter(|_| p.kind != OpKind::Get);
    let mut done = match conn {
        Conn::App(c) => {
            let mut c = c.clone();
            let (outcome, reply, replicas) = match wait {
                None => {
                    let (o, v) = app_exec(&mut c, &cmd, bound).await;
                    (o, v, None)
                }
                Some(w) => app_exec_wait(&mut c, cmd, p.slot, w, bound).await,
            };
            Done {
                outcome,
                reply,
                node: None,
                redirects: 0,
                replicas,
            }
        }
        Conn::Probe(router) => probe_exec(router, &cmd, p.slot, wait, bound).await,
    };
    if let (Some(w), Some(n), Outcome::Ok) = (wait, done.replicas, &done.outcome)
        && n < w.replicas
    {
        done.outcome = Outcome::Indeterminate {
            message: format!(
                "WAIT: {n} of {} replicas acknowledged within {} ms",
                w.replicas, w.timeout_ms
            ),
        };
    }
    done
}

async fn probe_exec(
    router: &Router,
    cmd: &Cmd,
    slot: u16,
    wait: Option<WaitSpec>,
    bound: Duration,
) -> Done {
    let attempt = async {
        router.refresh_if_stale().await;
        let e = router.execute(cmd, slot).await;
        let replicas = match (wait, e.served) {
            (Some(w), Some(i)) => Some(router.wait(i, w.replicas, w.timeout_ms).await),
            _ => None,
        };
        (e, replicas)
    };
    match tokio::time::timeout(bound, attempt).await {
        Ok((e, replicas)) => {
            let (outcome, replicas) = match replicas {
                None => (e.outcome, None),
                Some(Ok(n)) => (e.outcome, Some(n)),
                // The write was acknowledged, its WAIT was not.
                Some(Err(err)) => (
                    Outcome::Indeterminate {
                        message: format!("the write succeeded, its WAIT failed: {err}"),
                    },
                    None,
                ),
            };
            Done {
                outcome,
                reply: e.value,
                node: e.node,
                redirects: e.redirects,
                replicas,
            }
        }
        Err(_) => Done {
            outcome: bound_exceeded(bound),
            reply: Value::Nil,
            node: router.owner_name(slot),
            redirects: 0,
            replicas: None,
        },
    }
}

fn bound_exceeded(bound: Duration) -> Outcome {
    Outcome::Indeterminate {
        message: format!("timeout: no outcome within the op bound of {bound:?}"),
    }
}

async fn app_exec(conn: &mut AppConnection, cmd: &Cmd, bound: Duration) -> (Outcome, Value) {
    match tokio::time::timeout(bound, cmd.query_async::<Value>(conn)).await {
        Ok(Ok(v)) => (Outcome::Ok, v),
        // redis-rs may have sent it (and retried it): every error may have applied
        // if it is a timeout or a dropped connection; classify says which.
        Ok(Err(e)) => (classify(&e, true), Value::Nil),
        Err(_) => (bound_exceeded(bound), Value::Nil),
    }
}

/// A write and its WAIT as one pipeline to the slot's primary, so that WAIT
/// runs on the connection that wrote (redis-rs would send a bare WAIT to every
/// primary). Returns the outcome, the write's reply and WAIT's count.
async fn app_exec_wait(
    conn: &mut AppConnection,
    cmd: Cmd,
    slot: u16,
    w: WaitSpec,
    bound: Duration,
) -> (Outcome, Value, Option<u32>) {
    use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
    let mut pipe = redis::pipe();
    pipe.add_command(cmd)
        .cmd("WAIT")
        .arg(w.replicas)
        .arg(w.timeout_ms);
    let route = SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master));
    match tokio::time::timeout(bound, conn.route_pipeline(pipe, 0, 2, route)).await {
        Ok(Ok(mut v)) if v.len() == 2 => {
            let waited = v.pop().unwrap_or(Value::Nil);
            match v.pop().unwrap_or(Value::Nil) {
                Value::ServerError(e) => (classify(&e.into(), true), Value::Nil, None),
                reply => match waited {
                    Value::Int(n) => (Outcome::Ok, reply, Some(u32::try_from(n).unwrap_or(0))),
                    other => (
                        Outcome::Indeterminate {
                            message: format!("the write succeeded, its WAIT answered {other:?}"),
                        },
                        reply,
                        None,
                    ),
                },
            }
        }
        Ok(Ok(v)) => (
            Outcome::Indeterminate {
                message: format!("{} replies to a write and its WAIT", v.len()),
            },
            Value::Nil,
            None,
        ),
        Ok(Err(e)) => (classify(&e, true), Value::Nil, None),
        Err(_) => (bound_exceeded(bound), Value::Nil, None),
    }
}

/// The text of a GET or INCR reply (nil -> None).
pub(crate) fn reply_text(v: Value) -> Option<String> {
    match v {
        Value::Nil => None,
        Value::BulkString(b) => Some(
            String::from_utf8(b)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        ),
        Value::SimpleString(s) => Some(s),
        Value::Int(n) => Some(n.to_string()),
        Value::Okay => Some("OK".to_string()),
        other => Some(format!("{other:?}")),
    }
}
