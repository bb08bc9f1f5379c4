//! One planned op on one connection, and what came of it.
//!
//! App connections are redis-rs cluster connections on a cluster (retries,
//! MOVED/ASK followed inside the library) and [`Router`]s with retries on
//! the other kinds; probe connections are [`Router`]s (no retries, one
//! redirect followed and counted). Every op is bounded by `bound`, whatever
//! the client does inside it.

use std::sync::Arc;
use std::time::Duration;

use crate::record::ops::ErrorKind;

use redis::Value;

use super::classify;
use super::generator::Planned;
use super::router::{Req, Router};
use super::spec::WaitSpec;
use crate::cluster::AskingConnection;
use crate::record::ops::{OpKind, Outcome};

/// A connection an op can go out on.
#[derive(Clone)]
pub(crate) enum Conn {
    /// An app client on a cluster: redis-rs's cluster connection.
    App(AskingConnection),
    /// An app client on a topology that is not a cluster: the router, and
    /// how many times a failure that certainly did not apply is retried.
    Direct(Arc<Router>, u32),
    Probe(Arc<Router>),
}

/// An app client's connection, as its pool keeps it.
#[derive(Clone)]
pub(crate) enum AppConn {
    Cluster(AskingConnection),
    Direct(Arc<Router>),
}

impl AppConn {
    /// The connection an op goes out on, with `retries` for a direct one.
    pub(crate) fn conn(&self, retries: u32) -> Conn {
        match self {
            AppConn::Cluster(c) => Conn::App(c.clone()),
            AppConn::Direct(r) => Conn::Direct(r.clone(), retries),
        }
    }
}

/// The longest pause between two tries of a direct app client: retries
/// back off from 10 ms, doubling, to this — about redis-rs's own pacing.
const MAX_BACKOFF: Duration = Duration::from_millis(200);

/// What one op did.
pub(crate) struct OpDone {
    pub outcome: Outcome,
    /// The reply when ok.
    pub reply: Value,
    /// The owner in the client's view (probe only).
    pub node: Option<String>,
    /// The node that answered, when a retry went elsewhere than `node`.
    pub served: Option<String>,
    pub redirects: u32,
    /// With WAIT: the replicas it reported.
    pub replicas: Option<u32>,
}

/// The request an op sends.
pub(crate) fn request(p: &Planned) -> Req {
    let value = p.value.as_deref().unwrap_or("");
    match p.kind {
        OpKind::Get => Req::One(redis::cmd("GET").arg(&p.key).to_owned()),
        OpKind::Set => {
            let mut c = redis::cmd("SET");
            c.arg(&p.key).arg(value);
            if let Some(ttl) = p.ttl_ms {
                c.arg("PX").arg(ttl);
            }
            Req::One(c)
        }
        OpKind::Incr => Req::One(redis::cmd("INCR").arg(&p.key).to_owned()),
        OpKind::Del => Req::One(redis::cmd("DEL").arg(&p.key).to_owned()),
        OpKind::TxnRead => Req::One(redis::cmd("MGET").arg(&p.members).to_owned()),
        OpKind::Txn => Req::Txn(
            p.members
                .iter()
                .map(|m| redis::cmd("SET").arg(m).arg(value).to_owned())
                .collect(),
        ),
    }
}

/// Run `p` on `conn`: the command, and WAIT after it when `p` is a write
/// planned with one (see `workload.wait`).
pub(crate) async fn run(
    conn: &Conn,
    p: &Planned,
    wait: Option<WaitSpec>,
    bound: Duration,
) -> OpDone {
    let req = request(p);
    let wait = wait.filter(|_| p.wait);
    let mut done = match conn {
        Conn::App(c) => {
            let mut c = c.clone();
            let (outcome, reply, replicas) = match wait {
                None => {
                    let (o, v) = app_exec(&mut c, &req, bound).await;
                    (o, v, None)
                }
                Some(w) => app_exec_wait(&mut c, &req, p.slot, w, bound).await,
            };
            OpDone {
                outcome,
                reply,
                node: None,
                served: None,
                redirects: 0,
                replicas,
            }
        }
        Conn::Probe(router) => {
            bounded(router, p.slot, bound, one_try(router, &req, p.slot, wait)).await
        }
        Conn::Direct(router, retries) => {
            let tries = retrying(router, &req, p.slot, wait, *retries);
            bounded(router, p.slot, bound, tries).await
        }
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

/// One try of `cmd` through the router (a refresh first when its map is
/// stale), and WAIT on the node that served it when asked.
async fn one_try(router: &Router, req: &Req, slot: u16, wait: Option<WaitSpec>) -> OpDone {
    router.refresh_if_stale().await;
    let e = router.execute(req, slot).await;
    let replicas = match (wait, e.served) {
        (Some(w), Some(i)) => Some(router.wait(i, w.replicas, w.timeout_ms).await),
        _ => None,
    };
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
    OpDone {
        outcome,
        reply: e.value,
        node: e.node,
        served: None,
        redirects: e.redirects,
        replicas,
    }
}

/// Tries until one does not fail for a reason that is certain not to have
/// applied (refused, not connected, READONLY, LOADING, TRYAGAIN,
/// CLUSTERDOWN), at most `retries` more times, backing off: what an
/// application's client does. An indeterminate outcome is never retried,
/// so no write is sent twice. Redirects add up over the tries.
async fn retrying(
    router: &Router,
    req: &Req,
    slot: u16,
    wait: Option<WaitSpec>,
    retries: u32,
) -> OpDone {
    let mut redirects = 0;
    let mut first_node = None;
    let mut backoff = Duration::from_millis(10);
    for tried in 0.. {
        let mut done = one_try(router, req, slot, wait).await;
        redirects += done.redirects;
        first_node = first_node.or(done.node.clone());
        let again = matches!(
            &done.outcome,
            Outcome::Fail { kind, .. } if kind != &ErrorKind::Other && kind != &ErrorKind::Moved && kind != &ErrorKind::Ask
        );
        if !again || tried >= retries {
            done.redirects = redirects;
            if done.node != first_node {
                done.served = done.node.take();
            }
            done.node = first_node;
            return done;
        }
        router.distrust();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    unreachable!("the loop returns")
}

/// `attempt`, or an indeterminate outcome once `bound` has passed.
async fn bounded(
    router: &Router,
    slot: u16,
    bound: Duration,
    attempt: impl std::future::Future<Output = OpDone>,
) -> OpDone {
    match tokio::time::timeout(bound, attempt).await {
        Ok(done) => done,
        Err(_) => OpDone {
            outcome: bound_exceeded(bound),
            reply: Value::Nil,
            node: router.owner_name(slot),
            served: None,
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

/// One request on redis-rs's cluster connection: a command as it is, a
/// transaction as redis-rs's own atomic pipeline (routed by its keys' slot).
async fn app_query(conn: &mut AskingConnection, req: &Req) -> redis::RedisResult<Value> {
    match req {
        Req::One(cmd) => cmd.query_async::<Value>(conn).await,
        Req::Txn(cmds) => {
            let mut p = redis::pipe();
            p.atomic();
            for c in cmds {
                p.add_command(c.clone());
            }
            p.query_async::<Value>(conn).await
        }
    }
}

async fn app_exec(conn: &mut AskingConnection, req: &Req, bound: Duration) -> (Outcome, Value) {
    match tokio::time::timeout(bound, app_query(conn, req)).await {
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
    conn: &mut AskingConnection,
    req: &Req,
    slot: u16,
    w: WaitSpec,
    bound: Duration,
) -> (Outcome, Value, Option<u32>) {
    use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
    let (mut pipe, at) = req.plain();
    pipe.cmd("WAIT").arg(w.replicas).arg(w.timeout_ms);
    let route = SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master));
    match tokio::time::timeout(bound, conn.route_pipeline(pipe, at, 2, route)).await {
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

/// The texts of an MGET reply, element by element (nil -> None).
pub(crate) fn reply_texts(v: Value) -> Vec<Option<String>> {
    match v {
        Value::Array(items) => items.into_iter().map(reply_text).collect(),
        other => vec![reply_text(other)],
    }
}
