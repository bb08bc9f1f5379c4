//! The running workload: one background task per client, each recording its
//! ops in its own list; [`Workload::stop`] merges them into the history.
//!
//! App clients use the redis crate's cluster client with explicit retries and
//! timeouts, each with its own connection (`app_connection: per_client`) or all
//! sharing one (`shared`, one application instance with concurrent workers).
//! Probe clients each own a `Router`: no retries, one MOVED or ASK followed
//! and counted, every other error recorded as it came.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::WorkloadError;
use super::generator::{OpGen, Planned};
use super::history::{ClientMode, History, Op, OpKind, Outcome, classify};
use super::pacer::Pacer;
use super::router::Router;
use super::spec::AppConnection;
use super::spec::{Model, WaitSpec, WorkloadSpec};
use crate::cluster::{AddressMap, ClientOptions, cluster_client};
use crate::timeline::Clock;

/// Ops one client records at most: ~200 bytes each, so 5 M ops bound a
/// client's memory near 1 GB, and at 20k ops/s it is over four minutes.
pub const MAX_OPS_PER_CLIENT: usize = 5_000_000;

/// How long a workload runs at most if nobody stops it. Drills run minutes.
pub const MAX_RUN: Duration = Duration::from_secs(3600);

/// After a failure that came back faster than this, a closed-loop client
/// pauses for this long before its next op, so that a refused connection does
/// not turn into a million-op history. Successes are never paced, and 1 ms is
/// below any downtime the drill reports.
const FAILURE_PACE: Duration = Duration::from_millis(1);

/// One client's connection.
enum Client {
    App(ClusterConnection),
    Probe(Box<Router>),
}

/// What every client task shares.
#[derive(Clone)]
struct Ctx {
    clock: Clock,
    cancel: CancellationToken,
    /// Bound on one op, whatever the client does inside it.
    op_bound: Duration,
    /// WAIT after every write.
    wait: Option<WaitSpec>,
}

/// The workload running in background tasks. Stop it with [`Workload::stop`];
/// dropping it cancels the clients and discards their history.
pub struct Workload {
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    logs: Vec<Arc<Mutex<Vec<Op>>>>,
    /// How long `stop` waits for the clients.
    stop_bound: Duration,
}

impl Workload {
    /// Connect every client, then start them. Ops are timed on `clock`; the
    /// clients stop when `cancel` fires or at [`Workload::stop`].
    pub async fn start(
        map: AddressMap,
        spec: WorkloadSpec,
        seed: u64,
        clock: Clock,
        cancel: CancellationToken,
    ) -> Result<Workload, WorkloadError> {
        spec.validate()?;
        if map.is_empty() {
            return Err(WorkloadError::NoNodes);
        }
        let timeout = Duration::from_millis(spec.timeout_ms);
        let mut clients = Vec::new();
        if spec.clients > 0 {
            let opts = ClientOptions {
                connection_timeout: timeout,
                response_timeout: timeout,
                retries: spec.app_retries,
            };
            let client = cluster_client(&map, &opts).map_err(WorkloadError::AppClient)?;
            let connect = || async {
                tokio::time::timeout(timeout * 3, client.get_async_connection())
                    .await
                    .map_err(|_| {
                        WorkloadError::AppClient(redis::RedisError::from((
                            redis::ErrorKind::Io,
                            "cluster connection timed out",
                        )))
                    })?
                    .map_err(WorkloadError::AppClient)
            };
            match spec.app_connection {
                AppConnection::Shared => {
                    let conn = connect().await?;
                    for _ in 0..spec.clients {
                        clients.push(Client::App(conn.clone()));
                    }
                }
                AppConnection::PerClient => {
                    for _ in 0..spec.clients {
                        clients.push(Client::App(connect().await?));
                    }
                }
            }
        }
        for _ in 0..spec.probe_clients {
            clients.push(Client::Probe(Box::new(
                Router::connect(&map, timeout).await?,
            )));
        }

        // A probe op: connect + send, then once more after a redirect, and a
        // slot-map refresh first; an app op is bounded by redis-rs's overall
        // timeout. One more second for the scheduler of a loaded 2-core box.
        let op_bound = timeout * 5 + Duration::from_secs(1);
        let ctx = Ctx {
            clock,
            cancel: cancel.child_token(),
            op_bound,
            wait: spec.wait,
        };
        let n = clients.len() as u32;
        let t0 = Instant::now();
        let mut pacer: Option<Pacer> = None;
        let mut tasks = Vec::new();
        let mut logs = Vec::new();
        for (i, client) in clients.into_iter().enumerate() {
            let id = i as u32;
            let mode = if id < spec.clients {
                ClientMode::App
            } else {
                ClientMode::Probe
            };
            let log = Arc::new(Mutex::new(Vec::new()));
            logs.push(log.clone());
            let ops = OpGen::new(&spec, seed, id);
            let ctx = ctx.clone();
            let rec = Recorder {
                id,
                mode,
                client,
                log,
            };
            tasks.push(match spec.model {
                Model::Closed => tokio::spawn(run_closed(rec, ops, ctx)),
                Model::Open { rate } => {
                    // Each client runs at rate/n, staggered by its share of one interval.
                    let interval_ns = 1e9 * f64::from(n) / rate;
                    let offset_ns = interval_ns * f64::from(id) / f64::from(n);
                    let pacer = pacer.get_or_insert_with(|| Pacer::start(MAX_RUN)).clone();
                    tokio::spawn(run_open(rec, ops, ctx, t0, interval_ns, offset_ns, pacer))
                }
            });
        }
        Ok(Workload {
            cancel: ctx.cancel,
            tasks,
            logs,
            stop_bound: op_bound * 2 + Duration::from_secs(2),
        })
    }

    /// Ops recorded so far, over all clients (for progress output).
    pub fn recorded(&self) -> usize {
        self.logs
            .iter()
            .map(|l| l.lock().map(|v| v.len()).unwrap_or(0))
            .sum()
    }

    /// Stop the clients and return the history, sorted by start. Ops in flight
    /// complete or time out; an open-loop client first sends the ops scheduled
    /// before the stop that it is behind on (bounded). Bounded in time: a client
    /// that does not finish is aborted, keeping what it recorded.
    pub async fn stop(mut self) -> History {
        self.cancel.cancel();
        let deadline = tokio::time::Instant::now() + self.stop_bound;
        for task in std::mem::take(&mut self.tasks) {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!(
                    "a workload client did not stop within {:?}",
                    self.stop_bound
                );
                abort.abort();
            }
        }
        let mut ops: Vec<Op> = Vec::new();
        for log in std::mem::take(&mut self.logs) {
            let mut v = match log.lock() {
                Ok(mut g) => std::mem::take(&mut *g),
                Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
            };
            ops.append(&mut v);
        }
        ops.sort_by_key(|o| (o.start_ns, o.client));
        ops
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A client and where it records.
struct Recorder {
    id: u32,
    mode: ClientMode,
    client: Client,
    log: Arc<Mutex<Vec<Op>>>,
}

impl Recorder {
    /// Run one planned op and record it with `start_ns`.
    async fn run(&mut self, p: Planned, start_ns: u64, ctx: &Ctx) -> bool {
        let cmd = match p.kind {
            OpKind::Get => redis::cmd("GET").arg(&p.key).to_owned(),
            OpKind::Set => redis::cmd("SET")
                .arg(&p.key)
                .arg(p.value.as_deref().unwrap_or(""))
                .to_owned(),
            OpKind::Incr => redis::cmd("INCR").arg(&p.key).to_owned(),
        };
        let wait = ctx.wait.filter(|_| p.kind != OpKind::Get);
        let (mut outcome, reply, node, redirects, replicas) = match &mut self.client {
            Client::App(conn) => {
                let (o, v, r) = match wait {
                    None => {
                        let (o, v) = app_exec(conn, &cmd, ctx.op_bound).await;
                        (o, v, None)
                    }
                    Some(w) => app_exec_wait(conn, cmd, p.slot, w, ctx.op_bound).await,
                };
                (o, v, None, 0, r)
            }
            Client::Probe(router) => {
                match tokio::time::timeout(ctx.op_bound, async {
                    router.refresh_if_stale().await;
                    let e = router.execute(&cmd, p.slot).await;
                    let replicas = match (wait, e.served) {
                        (Some(w), Some(i)) => Some(router.wait(i, w.replicas, w.timeout_ms).await),
                        _ => None,
                    };
                    (e, replicas)
                })
                .await
                {
                    Ok((e, replicas)) => {
                        let (o, r) = match replicas {
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
                        (o, e.value, e.node, e.redirects, r)
                    }
                    Err(_) => (
                        bound_exceeded(ctx.op_bound),
                        Value::Nil,
                        router.owner_name(p.slot).map(str::to_string),
                        0,
                        None,
                    ),
                }
            }
        };
        if let (Some(w), Some(n), Outcome::Ok) = (wait, replicas, &outcome)
            && n < w.replicas
        {
            outcome = Outcome::Indeterminate {
                message: format!(
                    "WAIT: {n} of {} replicas acknowledged within {} ms",
                    w.replicas, w.timeout_ms
                ),
            };
        }
        let end_ns = ctx.clock.now_ns();
        let ok = matches!(outcome, Outcome::Ok);
        let value = match p.kind {
            OpKind::Set => p.value,
            OpKind::Get | OpKind::Incr if ok => reply_text(reply),
            _ => None,
        };
        let op = Op {
            client: self.id,
            mode: self.mode,
            kind: p.kind,
            key: p.key,
            slot: p.slot,
            value,
            start_ns,
            end_ns,
            node,
            redirects,
            outcome,
            replicas,
        };
        match self.log.lock() {
            Ok(mut g) => g.push(op),
            Err(poisoned) => poisoned.into_inner().push(op),
        }
        ok
    }
}

fn bound_exceeded(bound: Duration) -> Outcome {
    Outcome::Indeterminate {
        message: format!("timeout: no outcome within the op bound of {bound:?}"),
    }
}

async fn app_exec(conn: &mut ClusterConnection, cmd: &Cmd, bound: Duration) -> (Outcome, Value) {
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
    conn: &mut ClusterConnection,
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
fn reply_text(v: Value) -> Option<String> {
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

/// Closed loop: the next op when the previous one completed.
async fn run_closed(mut rec: Recorder, mut ops: OpGen, ctx: Ctx) {
    let deadline = Instant::now() + MAX_RUN;
    for _ in 0..MAX_OPS_PER_CLIENT {
        if ctx.cancel.is_cancelled() || Instant::now() >= deadline {
            break;
        }
        let p = ops.next_op();
        let started = Instant::now();
        let start_ns = ctx.clock.ns(started);
        if !rec.run(p, start_ns, &ctx).await && started.elapsed() < FAILURE_PACE {
            tokio::select! {
                _ = ctx.cancel.cancelled() => {}
                _ = tokio::time::sleep(FAILURE_PACE) => {}
            }
        }
    }
}

/// Open loop: op k is due at `t0 + offset + k * interval`; its latency counts
/// from then. A client behind schedule sends at once and never skips. At a
/// stop, the ops already due are still sent, for at most one op bound more.
async fn run_open(
    mut rec: Recorder,
    mut ops: OpGen,
    ctx: Ctx,
    t0: Instant,
    interval_ns: f64,
    offset_ns: f64,
    pacer: Pacer,
) {
    let end = t0 + MAX_RUN;
    // Set at the stop: (stop instant, drain deadline).
    let mut stopping: Option<(Instant, Instant)> = None;
    for k in 0..MAX_OPS_PER_CLIENT {
        let due = t0 + Duration::from_nanos((offset_ns + k as f64 * interval_ns) as u64);
        match stopping {
            Some((stop, drain_end)) => {
                if due >= stop || Instant::now() >= drain_end {
                    break;
                }
            }
            None => {
                if due >= end {
                    break;
                }
                let cancelled = tokio::select! {
                    biased;
                    _ = ctx.cancel.cancelled() => true,
                    _ = pacer.wait_until(due) => false,
                };
                if cancelled {
                    let now = Instant::now();
                    stopping = Some((now, now + ctx.op_bound));
                    if due >= now {
                        break;
                    }
                }
            }
        }
        let p = ops.next_op();
        rec.run(p, ctx.clock.ns(due), &ctx).await;
    }
}
