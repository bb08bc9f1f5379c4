//! The reshard step of a drill, and how it gets through faults: when one
//! breaks the migration off, wait until the cluster has recovered, close the
//! slots left open, and move what is left to the shard each slot was bound for.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::cluster::reshard::{self, Plan, ReshardOptions, SlotOwners};
use crate::cluster::{self, AddressMap, ClusterError};

use super::ReshardAction;
use super::error::DrillError;
use super::progress::{Progress, Say, hold};

/// A reshard that finished, possibly over several attempts.
pub(super) struct Resharded {
    pub(super) from: Vec<String>,
    pub(super) to: Vec<String>,
    pub(super) slots_moved: usize,
    pub(super) keys_moved: u64,
    pub(super) bytes_moved: u64,
    pub(super) duration: Duration,
    pub(super) finished_at: Instant,
    pub(super) attempts: u32,
}

/// How many times a reshard is resumed after a fault interrupted it.
const RESHARD_ATTEMPTS: u32 = 5;

/// Run the reshard step; when faults may interrupt it, resume it after the
/// cluster recovers: close what the interruption left open (finishing or
/// rolling back each slot), then move what is left to the shard each slot was
/// bound for — whichever node serves that shard now.
#[allow(clippy::too_many_arguments)]
pub(super) async fn reshard_through_faults(
    map: &AddressMap,
    step: &super::ReshardStep,
    owners_before: &SlotOwners,
    resume: bool,
    recovery_timeout: Duration,
    say: &Say,
    quiet: bool,
    slots_done: &tokio::sync::watch::Sender<usize>,
    cancel: &CancellationToken,
) -> Result<Resharded, DrillError> {
    let first = plan(&step.action, owners_before)?;
    let (from, to) = endpoints(&first);
    say.line(format!(
        "resharding {} slots {} -> {}",
        first.moves.len(),
        from.join(","),
        to.join(",")
    ));
    let mut opts = ReshardOptions::new(Duration::from_secs(600), cancel.clone());
    if let Some(b) = step.batch_keys {
        opts.batch_keys = b;
    }
    if let Some(p) = step.parallel_slots {
        opts.parallel_slots = p;
    }
    opts.measure_bytes = true;
    // A shard is known by a slot its primary served before the move.
    let anchor: HashMap<String, u16> = to
        .iter()
        .filter_map(|n| Some((n.clone(), *owners_before.slots_of(n).first()?)))
        .collect();
    let started = Instant::now();
    let mut done = Resharded {
        from,
        to,
        slots_moved: 0,
        keys_moved: 0,
        bytes_moved: 0,
        duration: Duration::ZERO,
        finished_at: started,
        attempts: 0,
    };
    let mut current = first.clone();
    loop {
        done.attempts += 1;
        let mut bar = Progress::new(current.moves.len() as u64, quiet);
        // Keys an interrupted attempt moved: its report is lost with its error.
        let mut keys_this_attempt = 0;
        let r = reshard::execute(map, &current, &opts, &mut |p| {
            keys_this_attempt = p.keys_moved;
            slots_done.send_replace(done.slots_moved + p.slots_done);
            bar.update(p.slots_done as u64, p.keys_moved)
        })
        .await;
        bar.finish();
        let err = match r {
            Ok(rep) => {
                done.slots_moved += rep.slots_moved;
                done.keys_moved += rep.keys_moved;
                done.bytes_moved += rep.bytes_moved;
                done.finished_at = rep.finished_at;
                done.duration = rep.finished_at.saturating_duration_since(started);
                say.line(format!(
                    "moved {} slots, {} keys in {:.0} ms{}",
                    done.slots_moved,
                    done.keys_moved,
                    done.duration.as_secs_f64() * 1000.0,
                    if done.attempts > 1 {
                        format!(" over {} attempts", done.attempts)
                    } else {
                        String::new()
                    }
                ));
                return Ok(done);
            }
            Err(e) => e,
        };
        if err.is_cancelled() || !resume || done.attempts >= RESHARD_ATTEMPTS {
            return Err(err.into());
        }
        done.keys_moved += keys_this_attempt;
        say.line(format!(
            "reshard interrupted: {}; resuming once the cluster recovers",
            crate::cluster::admin::error_chain(&err)
        ));
        // Wait until every slot is closed and every owner answers.
        let bound = Instant::now() + recovery_timeout;
        let owners = loop {
            let attempt = async {
                let mut fix_opts = opts.clone();
                fix_opts.timeout = Duration::from_secs(60);
                reshard::fix_open_slots_with(map, &fix_opts).await?;
                let owners = SlotOwners::load(map, cluster::ConnectOptions::default()).await?;
                // Recovered: every owner answers and every node that answers
                // serves every slot (a failed primary still owns its slots
                // until its replica is promoted).
                let views = cluster::node_views(map, cluster::ConnectOptions::default()).await;
                let up: Vec<&cluster::NodeView> =
                    views.iter().filter(|v| v.error.is_none()).collect();
                let pending: Vec<String> = owners
                    .primaries()
                    .iter()
                    .filter(|p| !up.iter().any(|v| &v.name == *p))
                    .map(|p| format!("{p} owns slots and does not answer"))
                    .chain(
                        up.iter()
                            .filter(|v| v.cluster_state.as_deref() != Some("ok"))
                            .map(|v| format!("{}: cluster_state is not ok", v.name)),
                    )
                    .collect();
                if pending.is_empty() {
                    Ok(owners)
                } else {
                    Err(ClusterError::Plan(pending.join("; ")))
                }
            };
            match attempt.await {
                Ok(o) => break o,
                Err(e) if e.is_cancelled() => return Err(e.into()),
                Err(e) if Instant::now() >= bound => return Err(e.into()),
                Err(e) => tracing::debug!("not recovered yet: {e}"),
            }
            hold(Duration::from_millis(250), cancel).await?;
        };
        let moves: Vec<reshard::SlotMove> = first
            .moves
            .iter()
            .filter_map(|m| {
                let dest = anchor
                    .get(&m.to)
                    .and_then(|&s| owners.owner(s))
                    .unwrap_or(&m.to)
                    .to_string();
                let now = owners.owner(m.slot)?;
                (now != dest).then(|| reshard::SlotMove {
                    slot: m.slot,
                    from: now.to_string(),
                    to: dest,
                })
            })
            .collect();
        // Slots already where they were bound for, the interrupted ones that
        // `fix` finished included.
        done.slots_moved = first.moves.len() - moves.len();
        say.line(format!("{} slots left to move", moves.len()));
        current = Plan { moves };
        if current.is_empty() {
            done.finished_at = Instant::now();
            done.duration = done.finished_at.saturating_duration_since(started);
            return Ok(done);
        }
    }
}

/// The plan for the scenario's action, from the current slot owners.
pub(crate) fn plan(action: &ReshardAction, owners: &SlotOwners) -> Result<Plan, DrillError> {
    Ok(match action {
        ReshardAction::Move { from, to, slots } => reshard::plan_move(owners, from, to, *slots)?,
        ReshardAction::Rebalance | ReshardAction::AddPrimary => {
            reshard::plan_rebalance(owners, owners.primaries())?
        }
        ReshardAction::Drain { node } => {
            let onto: Vec<String> = owners
                .primaries()
                .iter()
                .filter(|p| *p != node)
                .cloned()
                .collect();
            reshard::plan_drain(owners, node, &onto)?
        }
    })
}

/// The distinct sources and targets of a plan, in first-seen order.
pub(crate) fn endpoints(plan: &Plan) -> (Vec<String>, Vec<String>) {
    let mut from: Vec<String> = Vec::new();
    let mut to: Vec<String> = Vec::new();
    for m in &plan.moves {
        if !from.contains(&m.from) {
            from.push(m.from.clone());
        }
        if !to.contains(&m.to) {
            to.push(m.to.clone());
        }
    }
    (from, to)
}
