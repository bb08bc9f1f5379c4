//! The reshard step of a drill, and how it gets through faults: when one
//! breaks the migration off, close the slots left open once the failover is
//! over, wait until the cluster has recovered, and move what is left to the
//! shard each slot was bound for.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::cluster::reshard::{self, ReshardOptions, SlotMoves, SlotOwners};
use crate::cluster::{self, AddressMap, ClusterError};

use super::ReshardAction;
use super::error::DrillError;
use super::events::{Bus, DrillEvent};
use super::progress::hold;

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
    /// Keys a move met on two nodes with different values, and overwrote.
    pub(super) overwritten: Vec<reshard::OverwrittenKey>,
}

/// How many times a reshard is resumed after a fault interrupted it.
const RESHARD_ATTEMPTS: u32 = 5;

/// The reshard step of a drill: what it moves, and how it resumes.
pub(super) struct Resharding<'a> {
    pub(super) map: &'a AddressMap,
    pub(super) step: &'a super::ReshardStep,
    /// The slot owners before the action: the plan, and the shard each slot is bound for.
    pub(super) owners_before: &'a SlotOwners,
    /// Resume after an interruption (faults may break the migration off).
    pub(super) resume: bool,
    /// How long the cluster may take to recover before a resumption.
    pub(super) recovery_timeout: Duration,
}

impl Resharding<'_> {
    /// Run the reshard; when faults may interrupt it, resume it after the
    /// cluster recovers: close what the interruption left open (finishing or
    /// rolling back each slot), then move what is left to the shard each slot
    /// was bound for — whichever node serves that shard now. `slots_done`
    /// carries the progress to faults that wait for it.
    pub(super) async fn run(
        &self,
        bus: &Bus,
        slots_done: &tokio::sync::watch::Sender<usize>,
        cancel: &CancellationToken,
    ) -> Result<Resharded, DrillError> {
        let Resharding {
            map,
            step,
            owners_before,
            resume,
            recovery_timeout,
        } = *self;
        let first = plan(&step.action, owners_before)?;
        let (from, to) = endpoints(&first);
        bus.emit(DrillEvent::ReshardPlanned {
            slots: first.moves.len(),
            from: from.clone(),
            to: to.clone(),
        });
        let mut opts = ReshardOptions::new(Duration::from_secs(600), cancel.clone());
        if let Some(b) = step.batch_keys {
            opts.batch_keys = b;
        }
        if let Some(p) = step.parallel_slots {
            opts.parallel_slots = p;
        }
        opts.measure_bytes = true;
        // A key the faults left on two nodes with different values is a
        // finding, not a reason to stop the drill without a report: keep the
        // value of the node giving the key up, as `redis-cli --cluster fix
        // --cluster-replace` does, and report both.
        let overwrites = reshard::Overwrites::default();
        opts.on_conflict = reshard::KeyConflicts::Replace(overwrites.clone());
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
            overwritten: Vec::new(),
        };
        let mut current = first.clone();
        loop {
            done.attempts += 1;
            bus.emit(DrillEvent::ReshardAttempt {
                slots: current.moves.len(),
            });
            // Keys an interrupted attempt moved: its report is lost with its error.
            let mut keys_this_attempt = 0;
            let r = reshard::execute(map, &current, &opts, &mut |p| {
                keys_this_attempt = p.keys_moved;
                slots_done.send_replace(done.slots_moved + p.slots_done);
                bus.emit(DrillEvent::ReshardProgress {
                    slots_done: p.slots_done as u64,
                    keys_moved: p.keys_moved,
                });
            })
            .await;
            let err = match r {
                Ok(rep) => {
                    done.slots_moved += rep.slots_moved;
                    done.keys_moved += rep.keys_moved;
                    done.bytes_moved += rep.bytes_moved;
                    done.finished_at = rep.finished_at;
                    done.duration = rep.finished_at.saturating_duration_since(started);
                    done.overwritten = overwrites.take();
                    bus.emit(done.event(started));
                    return Ok(done);
                }
                Err(e) => e,
            };
            if err.is_cancelled() || !resume || done.attempts >= RESHARD_ATTEMPTS {
                return Err(err.into());
            }
            done.keys_moved += keys_this_attempt;
            bus.emit(DrillEvent::ReshardInterrupted {
                why: crate::cluster::admin::error_chain(&err),
            });
            // Close every open slot, then wait until every owner answers. The
            // fixer refuses while a failed primary that serves slots is not
            // yet replaced (the keys the migration had moved to it are on its
            // replica then, which no fix sees), so it runs once the failover
            // is over; and it must run before the cluster can be whole again: a
            // node importing a slot from a primary that failed takes no new
            // owner for it, and says cluster_state:fail until it is closed.
            let bound = Instant::now() + recovery_timeout;
            let owners = loop {
                let attempt = async {
                    let mut fix_opts = opts.clone();
                    fix_opts.timeout = Duration::from_secs(60);
                    reshard::fix_open_slots_with(map, &fix_opts).await?;
                    // The owners after the fix: finishing a slot changes its owner.
                    recovered(map).await
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
            bus.emit(DrillEvent::ReshardResumed {
                slots_left: moves.len(),
            });
            current = SlotMoves { moves };
            if current.is_empty() {
                done.finished_at = Instant::now();
                done.duration = done.finished_at.saturating_duration_since(started);
                done.overwritten = overwrites.take();
                bus.emit(done.event(started));
                return Ok(done);
            }
        }
    }
}

/// The slot owners, once the cluster has recovered: every owner answers and
/// every node that answers serves every slot (a failed primary still owns its
/// slots until its replica is promoted, and while it is flagged failed and
/// not yet replaced the others say `cluster_state:fail`).
async fn recovered(map: &AddressMap) -> Result<SlotOwners, ClusterError> {
    let owners = SlotOwners::load(map, cluster::ConnectOptions::default()).await?;
    let views = cluster::node_views(map, cluster::ConnectOptions::default()).await;
    let up: Vec<&cluster::NodeView> = views.iter().filter(|v| v.error.is_none()).collect();
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
        Err(ClusterError::BadInput(pending.join("; ")))
    }
}

impl Resharded {
    /// The reshard's end, as an event.
    fn event(&self, started: Instant) -> DrillEvent {
        DrillEvent::Resharded {
            from: self.from.clone(),
            to: self.to.clone(),
            slots: self.slots_moved,
            keys: self.keys_moved,
            attempts: self.attempts,
            overwritten: self.overwritten.len(),
            started,
            finished: self.finished_at,
        }
    }
}

/// The plan for the scenario's action, from the current slot owners.
pub(crate) fn plan(action: &ReshardAction, owners: &SlotOwners) -> Result<SlotMoves, DrillError> {
    Ok(match action {
        ReshardAction::Move { from, to, slots } => {
            reshard::moves_between(owners, from, to, *slots)?
        }
        ReshardAction::Rebalance | ReshardAction::AddPrimary => {
            reshard::rebalance_moves(owners, owners.primaries())?
        }
        ReshardAction::Drain { node } => {
            let onto: Vec<String> = owners
                .primaries()
                .iter()
                .filter(|p| *p != node)
                .cloned()
                .collect();
            reshard::drain_moves(owners, node, &onto)?
        }
    })
}

/// The distinct sources and targets of a plan, in first-seen order.
pub(crate) fn endpoints(plan: &SlotMoves) -> (Vec<String>, Vec<String>) {
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
