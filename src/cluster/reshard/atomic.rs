//! Atomic slot migration: the server moves whole slot ranges by itself — a
//! forked snapshot of the ranges, the writes made since streamed after it, a
//! short write pause on the source, then the handover — while the engine
//! starts it, follows it to its end, cancels it when told to, and checks that
//! every slot it touched ends with exactly one owner.
//!
//! Implemented for Valkey 9.0+: `CLUSTER MIGRATESLOTS SLOTSRANGE a b ... NODE
//! <target-id>` sent to the source (one job per target), followed with
//! `CLUSTER GETSLOTMIGRATIONS` on the source, cancelled with `CLUSTER
//! CANCELSLOTMIGRATIONS` (no argument: every job of that node, although the
//! server's help says `ALL`). Redis 8.4's `CLUSTER MIGRATION IMPORT | STATUS |
//! CANCEL` has the same three steps with the roles turned — started on the
//! target, which answers a task id that STATUS and CANCEL then name — so it
//! would fit as a second way to start, follow and cancel a job (the job's
//! name being that id, polled on the target); no Redis 8.4 binary is
//! reachable on the machine this was built on, and it is not implemented.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use redis::Value;

use crate::cluster::error::{ClusterError, error_chain};
use crate::record::run::{MigrationRecord, SeenState};
use crate::slots::{SlotRange, join, ranges_from_slots};

use super::engine::Progress;
use super::live::Node;
use super::options::ReshardOptions;

/// How often the engine asks each source how its migrations stand.
const POLL: Duration = Duration::from_millis(10);

/// How long the slots' claims may take to settle once a migration ended
/// (the handover is gossiped; both nodes are asked directly).
const CLAIMS_SETTLE: Duration = Duration::from_secs(5);

const TERMINAL: [&str; 3] = ["success", "failed", "cancelled"];
/// The source's states while it holds its writes for the handover.
const PAUSED: [&str; 3] = ["waiting-to-pause", "failover-paused", "failover-granted"];

/// Whether a node has Valkey's atomic slot migration (`COMMAND INFO` of
/// the subcommand: nil on a server without it).
pub(super) async fn supported_by(node: &Node) -> Result<bool, ClusterError> {
    let mut cmd = redis::cmd("COMMAND");
    cmd.arg("INFO").arg("CLUSTER|MIGRATESLOTS");
    let v: Value = node.conn().run(&cmd).await?;
    Ok(matches!(&v, Value::Array(items) if items.iter().any(|i| !matches!(i, Value::Nil))))
}

/// The slots going from one primary to another: one server job.
pub(super) struct Pair<'a> {
    pub src: &'a Node,
    pub dst: &'a Node,
    pub slots: Vec<u16>,
}

/// What the migrations did, for the engine's report.
pub(super) struct Outcome {
    pub slots_done: usize,
    pub keys: u64,
    pub finished_at: Instant,
}

/// One job as `CLUSTER GETSLOTMIGRATIONS` lists it.
#[derive(Debug, Clone, Default, PartialEq)]
struct JobView {
    name: String,
    operation: String,
    slot_ranges: String,
    target_node: String,
    state: String,
    message: String,
    cow_size: u64,
    create_time: i64,
    last_update_time: i64,
}

fn terminal(state: &str) -> bool {
    TERMINAL.contains(&state)
}

/// A reply element as text (bulk, simple, verbatim or integer).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Nil => Some(String::new()),
        _ => None,
    }
}

/// The jobs of a `CLUSTER GETSLOTMIGRATIONS` reply: an array of jobs, each
/// a flat array of field/value pairs (RESP2) or a map (RESP3).
fn parse_jobs(v: &Value) -> Result<Vec<JobView>, String> {
    let Value::Array(jobs) = v else {
        return Err(format!("expected an array of jobs, got {v:?}"));
    };
    jobs.iter()
        .map(|job| {
            let pairs: Vec<(&Value, &Value)> = match job {
                Value::Array(flat) if flat.len() % 2 == 0 => {
                    flat.chunks(2).map(|c| (&c[0], &c[1])).collect()
                }
                Value::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
                other => return Err(format!("expected a job's fields, got {other:?}")),
            };
            let mut j = JobView::default();
            for (k, v) in pairs {
                let (Some(k), Some(t)) = (text(k), text(v)) else {
                    continue;
                };
                match k.as_str() {
                    "name" => j.name = t,
                    "operation" => j.operation = t,
                    "slot_ranges" => j.slot_ranges = t,
                    "target_node" => j.target_node = t,
                    "state" => j.state = t,
                    "message" => j.message = t,
                    "cow_size" => j.cow_size = t.parse().unwrap_or(0),
                    "create_time" => j.create_time = t.parse().unwrap_or(0),
                    "last_update_time" => j.last_update_time = t.parse().unwrap_or(0),
                    _ => {}
                }
            }
            if j.name.is_empty() {
                return Err("a job without a name".into());
            }
            Ok(j)
        })
        .collect()
}

async fn jobs_of(node: &Node) -> Result<Vec<JobView>, ClusterError> {
    let v: Value = node
        .conn()
        .run(redis::cmd("CLUSTER").arg("GETSLOTMIGRATIONS"))
        .await?;
    parse_jobs(&v).map_err(|detail| node.conn().reply_error("CLUSTER GETSLOTMIGRATIONS", detail))
}

/// Cancel every migration of `nodes` (errors only logged: a node that is
/// gone runs nothing).
async fn cancel_all(nodes: &[&Node]) {
    let sent = futures::future::join_all(nodes.iter().map(|n| async move {
        (
            n.name.clone(),
            n.conn()
                .run::<()>(redis::cmd("CLUSTER").arg("CANCELSLOTMIGRATIONS"))
                .await,
        )
    }))
    .await;
    for (name, r) in sent {
        if let Err(e) = r {
            tracing::warn!(node = %name, "cancel slot migrations: {}", error_chain(&e));
        }
    }
}

/// One job followed.
struct Followed<'a> {
    pair: &'a Pair<'a>,
    ranges: Vec<SlotRange>,
    sent_at: Option<Instant>,
    /// Its record; its `name` is the server's job, once found.
    record: MigrationRecord,
    ended: bool,
    /// Its end taken into the outcome.
    counted: bool,
    pause_first_seen: Option<Instant>,
    /// When the source last answered a poll.
    last_answer: Instant,
}

impl<'a> Followed<'a> {
    fn new(pair: &'a Pair<'a>, now: Instant) -> Self {
        let ranges = ranges_from_slots(pair.slots.iter().copied());
        Followed {
            record: MigrationRecord {
                source: pair.src.name.clone(),
                target: pair.dst.name.clone(),
                slot_ranges: join(&ranges),
                slots: pair.slots.len(),
                state: "not-started".into(),
                ..MigrationRecord::default()
            },
            pair,
            ranges,
            sent_at: None,
            ended: false,
            counted: false,
            pause_first_seen: None,
            last_answer: now,
        }
    }

    /// Take in a poll of the source: find the job (the new one towards this
    /// target), note each new state with when it was first seen.
    fn update(&mut self, jobs: &[JobView], before: &HashSet<String>, t0: Instant, now: Instant) {
        self.last_answer = now;
        let found = if self.record.name.is_empty() {
            jobs.iter().find(|x| {
                x.operation.eq_ignore_ascii_case("export")
                    && x.target_node == self.pair.dst.id
                    && !before.contains(&x.name)
            })
        } else {
            jobs.iter().find(|x| x.name == self.record.name)
        };
        let Some(j) = found else {
            return;
        };
        let at_ms = ms(now.saturating_duration_since(t0));
        if self.record.states.last().is_none_or(|s| s.state != j.state) {
            self.record.states.push(SeenState {
                state: j.state.clone(),
                at_ms,
            });
        }
        let paused = PAUSED.contains(&j.state.as_str());
        match (paused, self.pause_first_seen) {
            (true, None) => self.pause_first_seen = Some(now),
            (false, Some(p)) if self.record.pause_seen_ms.is_none() => {
                self.record.pause_seen_ms = Some(ms(now.saturating_duration_since(p)));
            }
            _ => {}
        }
        self.record.name = j.name.clone();
        self.record.slot_ranges = j.slot_ranges.clone();
        self.record.state = j.state.clone();
        self.record.message = j.message.clone();
        self.record.cow_size = j.cow_size;
        self.record.server_create_time = j.create_time;
        self.record.server_last_update_time = j.last_update_time;
        if terminal(&j.state) && !self.ended {
            self.ended = true;
            if let Some(sent) = self.sent_at {
                self.record.duration_ms = ms(now.saturating_duration_since(sent));
            }
        }
    }

    /// End it without the server's word (its source stopped answering, or it
    /// never started).
    fn give_up(&mut self, why: String, now: Instant) {
        self.ended = true;
        if self.record.state != "not-started" {
            self.record.state = "unknown".into();
        }
        self.record.message = why;
        if let Some(sent) = self.sent_at {
            self.record.duration_ms = ms(now.saturating_duration_since(sent));
        }
    }

    fn error(&self, detail: String) -> ClusterError {
        ClusterError::Migration {
            from: self.pair.src.name.clone(),
            to: self.pair.dst.name.clone(),
            ranges: join(&self.ranges),
            detail,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Run the pairs' migrations at once, following them to their ends. On a
/// cancel, the deadline or a job that fails, every migration still running
/// is cancelled (the servers roll them back) and followed to its end, within
/// the settle timeout. Every record goes to `opts.migrations`, and every slot
/// involved is checked to end with one owner, its source or its target,
/// however the migrations ended.
///
/// With `opts.atomic_job_keys`, each pair is split into jobs of at most that
/// many keys (counted on the source first; a slot with more is a job of its
/// own), run in rounds: every pair's first job at once, then every pair's
/// second, and so on. A job's end deletes its keys on the source in one go
/// (Valkey 9.1 holds the source about 0.8 us a key, ~0.8 s for a million),
/// so smaller jobs bound that stall at the cost of a fork and a handover each.
pub(super) async fn run(
    pairs: &[Pair<'_>],
    opts: &ReshardOptions,
    t0: Instant,
    deadline: Instant,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Outcome, ClusterError> {
    let Some(limit) = opts.atomic_job_keys else {
        return run_round(pairs, opts, t0, deadline, progress).await;
    };
    let mut split: Vec<Vec<Vec<u16>>> = Vec::with_capacity(pairs.len());
    for p in pairs {
        let counts = p.src.conn().count_keys_in_slots(&p.slots).await?;
        split.push(chunks_by_keys(&p.slots, &counts, limit));
    }
    let rounds = split.iter().map(Vec::len).max().unwrap_or(0);
    let total: usize = pairs.iter().map(|p| p.slots.len()).sum();
    let mut outcome = Outcome {
        slots_done: 0,
        keys: 0,
        finished_at: t0,
    };
    for r in 0..rounds {
        // Between two rounds nothing runs: a cancel or the deadline stops here.
        if opts.cancel.is_cancelled() {
            return Err(ClusterError::Cancelled {
                what: "move slots".into(),
            });
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::Timeout {
                what: "move slots (atomic)".into(),
                timeout: opts.timeout,
                pending: vec![format!(
                    "{} of {rounds} rounds of jobs not started",
                    rounds - r
                )],
            });
        }
        let round: Vec<Pair> = pairs
            .iter()
            .zip(&split)
            .filter_map(|(p, chunks)| {
                chunks.get(r).map(|slots| Pair {
                    src: p.src,
                    dst: p.dst,
                    slots: slots.clone(),
                })
            })
            .collect();
        let (done, keys) = (outcome.slots_done, outcome.keys);
        let mut inner = |mut pr: Progress| {
            pr.slots_done += done;
            pr.slots_total = total;
            pr.keys_moved += keys;
            progress(pr)
        };
        let out = run_round(&round, opts, t0, deadline, &mut inner).await?;
        outcome.slots_done += out.slots_done;
        outcome.keys += out.keys;
        outcome.finished_at = outcome.finished_at.max(out.finished_at);
    }
    Ok(outcome)
}

/// Consecutive runs of `slots` holding at most `limit` keys each (`counts`
/// is each slot's key count); a slot over the limit alone. Never empty
/// runs, and every slot once, in order.
fn chunks_by_keys(slots: &[u16], counts: &[u64], limit: u64) -> Vec<Vec<u16>> {
    let mut out: Vec<Vec<u16>> = Vec::new();
    let mut cur: Vec<u16> = Vec::new();
    let mut keys = 0u64;
    for (&s, &n) in slots.iter().zip(counts) {
        if !cur.is_empty() && keys + n > limit {
            out.push(std::mem::take(&mut cur));
            keys = 0;
        }
        cur.push(s);
        keys += n;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// One round: the pairs' migrations at once, one server job each.
async fn run_round(
    pairs: &[Pair<'_>],
    opts: &ReshardOptions,
    t0: Instant,
    deadline: Instant,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Outcome, ClusterError> {
    let now = Instant::now();
    let mut followed: Vec<Followed> = pairs.iter().map(|p| Followed::new(p, now)).collect();
    let r = drive(&mut followed, opts, t0, deadline, progress).await;
    // The target's half of each job ends a little after the source's (a
    // cancelled import is cleaned up once the target sees the link drop).
    let imports = imports_ended(&followed, opts.settle_timeout).await;
    let claims = check_claims(&followed).await;
    for f in &followed {
        opts.migrations.push(f.record.clone());
    }
    // Something left running, or a slot without its one owner, outranks
    // why the migrations stopped.
    imports?;
    claims?;
    r
}

/// The distinct nodes among `nodes`, first-seen order.
fn distinct<'a>(nodes: impl Iterator<Item = &'a Node>) -> Vec<&'a Node> {
    let mut out: Vec<&Node> = Vec::new();
    for n in nodes {
        if !out.iter().any(|o| o.id == n.id) {
            out.push(n);
        }
    }
    out
}

async fn drive(
    followed: &mut [Followed<'_>],
    opts: &ReshardOptions,
    t0: Instant,
    deadline: Instant,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Outcome, ClusterError> {
    let sources = distinct(followed.iter().map(|f| f.pair.src));
    let involved = distinct(followed.iter().flat_map(|f| [f.pair.src, f.pair.dst]));
    // Nothing may be migrating already on a node involved: its job and ours
    // would be told apart only by guesswork, and a cancel stops every job.
    let mut before: Vec<HashSet<String>> = vec![HashSet::new(); sources.len()];
    for n in &involved {
        let jobs = jobs_of(n).await?;
        if let Some(j) = jobs.iter().find(|j| !terminal(&j.state)) {
            return Err(ClusterError::BadInput(format!(
                "{} is already running slot migration {} ({} of {}, state {}); wait for it to end or cancel it (CLUSTER CANCELSLOTMIGRATIONS)",
                n.name,
                j.name,
                j.operation.to_lowercase(),
                j.slot_ranges,
                j.state
            )));
        }
        if let Some(i) = sources.iter().position(|s| s.id == n.id) {
            before[i] = jobs.into_iter().map(|j| j.name).collect();
        }
    }
    let total: usize = followed.iter().map(|f| f.pair.slots.len()).sum();

    // Start: one MIGRATESLOTS per source, a SLOTSRANGE ... NODE block per target.
    let mut stop: Option<ClusterError> = None;
    for src in &sources {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("MIGRATESLOTS");
        for f in followed.iter().filter(|f| f.pair.src.id == src.id) {
            cmd.arg("SLOTSRANGE");
            for r in &f.ranges {
                cmd.arg(r.start).arg(r.end);
            }
            cmd.arg("NODE").arg(&f.pair.dst.id);
        }
        let sent = Instant::now();
        match src.conn().run::<()>(&cmd).await {
            Ok(()) => {
                for f in followed.iter_mut().filter(|f| f.pair.src.id == src.id) {
                    f.sent_at = Some(sent);
                    f.record.state = "started".into();
                }
            }
            Err(e) => {
                stop = Some(e);
                break;
            }
        }
    }
    if stop.is_some() {
        let now = Instant::now();
        for f in followed.iter_mut().filter(|f| f.sent_at.is_none()) {
            f.give_up(
                "not started: an earlier MIGRATESLOTS was refused".into(),
                now,
            );
        }
        cancel_all(&involved).await;
    }

    let mut outcome = Outcome {
        slots_done: 0,
        keys: 0,
        finished_at: t0,
    };
    let mut settle_by: Option<Instant> =
        stop.as_ref().map(|_| Instant::now() + opts.settle_timeout);
    loop {
        let now = Instant::now();
        if settle_by.is_none() && (opts.cancel.is_cancelled() || now >= deadline) {
            settle_by = Some(now + opts.settle_timeout);
            cancel_all(&involved).await;
        }
        let open: Vec<usize> = (0..followed.len())
            .filter(|&i| !followed[i].ended)
            .collect();
        if open.is_empty() {
            break;
        }
        if let Some(by) = settle_by
            && now >= by
        {
            let running: Vec<String> = open
                .iter()
                .map(|&i| {
                    let f = &followed[i];
                    format!(
                        "{} -> {} ({}): {}",
                        f.pair.src.name, f.pair.dst.name, f.record.slot_ranges, f.record.state
                    )
                })
                .collect();
            for &i in &open {
                followed[i].give_up("still running when the settle timeout ended".into(), now);
            }
            return Err(ClusterError::Timeout {
                what: "end the atomic slot migrations".into(),
                timeout: opts.settle_timeout,
                pending: running,
            });
        }
        // Poll every source with a job still open, at once.
        let polled = futures::future::join_all(sources.iter().enumerate().map(|(i, s)| {
            let wanted = open.iter().any(|&k| followed[k].pair.src.id == s.id);
            async move {
                if wanted {
                    Some((i, jobs_of(s).await))
                } else {
                    None
                }
            }
        }))
        .await;
        let now = Instant::now();
        for (i, r) in polled.into_iter().flatten() {
            let src = sources[i];
            match r {
                Ok(jobs) => {
                    for f in followed
                        .iter_mut()
                        .filter(|f| f.pair.src.id == src.id && !f.ended)
                    {
                        f.update(&jobs, &before[i], t0, now);
                    }
                }
                Err(e) => {
                    tracing::debug!(node = %src.name, "poll slot migrations: {}", error_chain(&e));
                    for f in followed
                        .iter_mut()
                        .filter(|f| f.pair.src.id == src.id && !f.ended)
                    {
                        if now.saturating_duration_since(f.last_answer) >= opts.settle_timeout {
                            f.give_up(
                                format!("the source stopped answering: {}", error_chain(&e)),
                                now,
                            );
                            if stop.is_none() {
                                stop = Some(f.error(f.record.message.clone()));
                            }
                        }
                    }
                }
            }
        }
        // The jobs that ended in this poll.
        for f in followed.iter_mut().filter(|f| f.ended && !f.counted) {
            f.counted = true;
            if f.record.state == "success" {
                outcome.slots_done += f.pair.slots.len();
                outcome.finished_at = outcome.finished_at.max(now);
                match f.pair.dst.conn().count_keys_in_slots(&f.pair.slots).await {
                    Ok(counts) => {
                        let keys: u64 = counts.iter().sum();
                        f.record.keys_on_target = Some(keys);
                        outcome.keys += keys;
                    }
                    Err(e) => tracing::warn!(
                        node = %f.pair.dst.name,
                        "count the moved keys: {}",
                        error_chain(&e)
                    ),
                }
                progress(Progress {
                    slot: f.pair.slots.last().copied().unwrap_or_default(),
                    slots_done: outcome.slots_done,
                    slots_total: total,
                    keys_moved: outcome.keys,
                });
            } else if settle_by.is_none() {
                let why = if f.record.message.is_empty() {
                    f.record.state.clone()
                } else {
                    format!("{}: {}", f.record.state, f.record.message)
                };
                stop = Some(f.error(format!("ended {why}")));
                settle_by = Some(now + opts.settle_timeout);
                cancel_all(&involved).await;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = opts.cancel.cancelled(), if settle_by.is_none() => {}
        }
    }
    if let Some(e) = stop {
        return Err(e);
    }
    if opts.cancel.is_cancelled() {
        return Err(ClusterError::Cancelled {
            what: "move slots".into(),
        });
    }
    if followed.iter().any(|f| f.record.state != "success") {
        return Err(ClusterError::Timeout {
            what: "move slots (atomic)".into(),
            timeout: opts.timeout,
            pending: followed
                .iter()
                .filter(|f| f.record.state != "success")
                .map(|f| {
                    format!(
                        "{} -> {}: {}",
                        f.pair.src.name, f.pair.dst.name, f.record.state
                    )
                })
                .collect(),
        });
    }
    Ok(outcome)
}

/// Wait until no target still runs the import half of one of our jobs
/// (same name on both nodes), within `bound`. A target that does not answer
/// runs nothing.
async fn imports_ended(followed: &[Followed<'_>], bound: Duration) -> Result<(), ClusterError> {
    let until = Instant::now() + bound;
    let ours: HashSet<&str> = followed
        .iter()
        .filter(|f| !f.record.name.is_empty())
        .map(|f| f.record.name.as_str())
        .collect();
    if ours.is_empty() {
        return Ok(());
    }
    let targets = distinct(followed.iter().map(|f| f.pair.dst));
    loop {
        let mut running: Vec<String> = Vec::new();
        for t in &targets {
            let Ok(jobs) = jobs_of(t).await else {
                continue;
            };
            running.extend(
                jobs.iter()
                    .filter(|j| ours.contains(j.name.as_str()) && !terminal(&j.state))
                    .map(|j| format!("{}: import {} {}", t.name, j.slot_ranges, j.state)),
            );
        }
        if running.is_empty() {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(ClusterError::Timeout {
                what: "end the atomic slot migrations on their targets".into(),
                timeout: bound,
                pending: running,
            });
        }
        tokio::time::sleep(POLL * 5).await;
    }
}

/// After the migrations ended, however they ended: every slot of every pair
/// is claimed by exactly one of its two nodes (both asked directly), within
/// a few seconds of gossip. A node that does not answer is skipped (a killed
/// target claims nothing; the cluster's own check will say the rest).
async fn check_claims(followed: &[Followed<'_>]) -> Result<(), ClusterError> {
    let until = Instant::now() + CLAIMS_SETTLE;
    loop {
        let mut problem: Option<(usize, String)> = None;
        for (i, f) in followed.iter().enumerate() {
            let (mut s, mut d) = (f.pair.src.conn(), f.pair.dst.conn());
            let (Ok(src_view), Ok(dst_view)) = (s.cluster_nodes().await, d.cluster_nodes().await)
            else {
                continue;
            };
            let claims = |view: &[crate::cluster::nodes::NodeLine]| {
                crate::cluster::nodes::myself(view).cloned()
            };
            let (Some(sm), Some(dm)) = (claims(&src_view), claims(&dst_view)) else {
                continue;
            };
            for &slot in &f.pair.slots {
                match (sm.serves(slot), dm.serves(slot)) {
                    (true, false) | (false, true) => {}
                    (false, false) => {
                        problem = Some((i, format!("slot {slot} is claimed by neither node")));
                        break;
                    }
                    (true, true) => {
                        problem = Some((i, format!("slot {slot} is claimed by both nodes")));
                        break;
                    }
                }
            }
            if problem.is_some() {
                break;
            }
        }
        match problem {
            None => return Ok(()),
            Some((i, why)) if Instant::now() >= until => {
                return Err(followed[i].error(format!(
                    "after it ended {why} ({} s later)",
                    CLAIMS_SETTLE.as_secs()
                )));
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_hold_at_most_the_limit_and_every_slot_once() {
        let slots: Vec<u16> = (0..6).collect();
        let counts = [40, 40, 30, 150, 0, 10];
        let chunks = chunks_by_keys(&slots, &counts, 100);
        assert_eq!(chunks, vec![vec![0, 1], vec![2], vec![3], vec![4, 5]]);
        // A limit above the total: one job, as without a limit.
        assert_eq!(chunks_by_keys(&slots, &counts, 1000), vec![slots.clone()]);
        // Empty slots only: one job.
        assert_eq!(chunks_by_keys(&[7, 8], &[0, 0], 1), vec![vec![7, 8]]);
        assert!(chunks_by_keys(&[], &[], 10).is_empty());
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn a_resp2_reply_parses_into_jobs() {
        let job = Value::Array(vec![
            bulk("name"),
            bulk("6c7e"),
            bulk("operation"),
            bulk("EXPORT"),
            bulk("slot_ranges"),
            bulk("0-999"),
            bulk("target_node"),
            bulk("8a73"),
            bulk("create_time"),
            Value::Int(1795729388),
            bulk("state"),
            bulk("success"),
            bulk("message"),
            bulk(""),
            bulk("cow_size"),
            Value::Int(4096),
        ]);
        let jobs = parse_jobs(&Value::Array(vec![job])).unwrap();
        assert_eq!(jobs.len(), 1);
        let j = &jobs[0];
        assert_eq!(j.name, "6c7e");
        assert_eq!(j.operation, "EXPORT");
        assert_eq!(j.target_node, "8a73");
        assert_eq!(j.state, "success");
        assert_eq!(j.cow_size, 4096);
        assert_eq!(j.create_time, 1795729388);
        assert!(terminal(&j.state));
    }

    #[test]
    fn a_resp3_map_parses_too_and_nameless_jobs_are_refused() {
        let job = Value::Map(vec![
            (bulk("name"), bulk("ab")),
            (bulk("state"), bulk("snapshotting")),
        ]);
        let jobs = parse_jobs(&Value::Array(vec![job])).unwrap();
        assert_eq!(jobs[0].state, "snapshotting");
        assert!(!terminal(&jobs[0].state));
        let nameless = Value::Array(vec![Value::Array(vec![bulk("state"), bulk("failed")])]);
        assert!(parse_jobs(&nameless).is_err());
        assert!(parse_jobs(&bulk("OK")).is_err());
    }
}
