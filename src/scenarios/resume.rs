//! The reshard step of a drill, and how it gets through faults: when one
//! breaks the migration off, close the slots left open once the failover is
//! over, wait until the cluster has recovered, and move what is left to the
//! shard each slot was bound for.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::cluster::reshard::{self, ReshardOptions, SlotMoves, SlotOwners};
use crate::cluster::{self, AddressMap, ClusterError};

use super::error::DrillError;
use super::events::{Bus, DrillEvent};
use super::hold::hold;
use super::reshard::{endpoints, run_moves, slot_moves};

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
    /// How the slots moved (the last attempt's choice).
    pub(super) method: reshard::Method,
    /// The atomic migrations the servers ran, every attempt's.
    pub(super) migrations: Vec<reshard::MigrationRecord>,
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
            ..
        } = *self;
        let first = slot_moves(&step.action, owners_before)?;
        let (from, to) = endpoints(&first);
        bus.emit(DrillEvent::ReshardPlanned {
            slots: first.moves.len(),
            from: from.clone(),
            to: to.clone(),
        });
        let overwrites = reshard::Overwrites::default();
        let opts = self.options(&overwrites, cancel);
        // A shard is known by a slot its primary served before the move.
        let anchor: HashMap<String, u16> = to
            .iter()
            .filter_map(|n| Some((n.clone(), *owners_before.slots_of(n).first()?)))
            .collect();
        let started = Instant::now();
        let mut done = Resharded::new(from, to, started);
        let mut current = first.clone();
        loop {
            done.attempts += 1;
            bus.emit(DrillEvent::ReshardAttempt {
                slots: current.moves.len(),
            });
            // Keys an interrupted attempt moved: its report is lost with its error.
            let mut keys_this_attempt = 0;
            let r = run_moves(map, &current, &opts, &mut |p| {
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
                    done.method = rep.method;
                    done.finish(rep.finished_at, started, &overwrites, &opts.migrations, bus);
                    return Ok(done);
                }
                Err(e) => e,
            };
            if err.is_cancelled() || !resume || done.attempts >= RESHARD_ATTEMPTS {
                return Err(err.into());
            }
            done.keys_moved += keys_this_attempt;
            bus.emit(DrillEvent::ReshardInterrupted {
                why: crate::cluster::error::error_chain(&err),
            });
            let owners = self.recover(&opts, cancel).await?;
            let moves = moves_left(&first, &anchor, &owners);
            // Slots already where they were bound for, the interrupted ones that
            // `fix` finished included.
            done.slots_moved = first.moves.len() - moves.len();
            bus.emit(DrillEvent::ReshardResumed {
                slots_left: moves.len(),
            });
            current = SlotMoves { moves };
            if current.is_empty() {
                done.finish(Instant::now(), started, &overwrites, &opts.migrations, bus);
                return Ok(done);
            }
        }
    }

    /// The engine's options for this step: its batch and parallelism, bytes
    /// measured, and a key the faults left on two nodes with different values
    /// overwritten into `overwrites` rather than stopping the drill.
    fn options(
        &self,
        overwrites: &reshard::Overwrites,
        cancel: &CancellationToken,
    ) -> ReshardOptions {
        let mut opts = ReshardOptions::new(Duration::from_secs(600), cancel.clone());
        if let Some(b) = self.step.batch_keys {
            opts.batch_keys = b;
        }
        if let Some(p) = self.step.parallel_slots {
            opts.parallel_slots = p;
        }
        opts.method = self.step.method;
        opts.max_impact_ms = self.step.max_impact_ms;
        opts.atomic_job_keys = self.step.atomic_job_keys;
        opts.measure_bytes = true;
        // A key the faults left on two nodes with different values is a
        // finding, not a reason to stop the drill without a report: keep the
        // value of the node giving the key up, as `redis-cli --cluster fix
        // --cluster-replace` does, and report both.
        opts.on_conflict = reshard::KeyConflicts::Replace(overwrites.clone());
        opts
    }

    /// After an interruption: close every open slot, then wait until every
    /// owner answers, within the recovery timeout; the slot owners then.
    async fn recover(
        &self,
        opts: &ReshardOptions,
        cancel: &CancellationToken,
    ) -> Result<SlotOwners, DrillError> {
        // The fixer refuses while a failed primary that serves slots is not
        // yet replaced (the keys the migration had moved to it are on its
        // replica then, which no fix sees), so it runs once the failover
        // is over; and it must run before the cluster can be whole again: a
        // node importing a slot from a primary that failed takes no new
        // owner for it, and says cluster_state:fail until it is closed.
        let bound = Instant::now() + self.recovery_timeout;
        loop {
            let attempt = async {
                let mut fix_opts = opts.clone();
                fix_opts.timeout = Duration::from_secs(60);
                reshard::fix_open_slots_with(self.map, &fix_opts).await?;
                // The owners after the fix: finishing a slot changes its owner.
                recovered(self.map).await
            };
            match attempt.await {
                Ok(o) => return Ok(o),
                Err(e) if e.is_cancelled() => return Err(e.into()),
                Err(e) if Instant::now() >= bound => return Err(e.into()),
                Err(e) => tracing::debug!("not recovered yet: {e}"),
            }
            hold(Duration::from_millis(250), cancel).await?;
        }
    }
}

/// The moves of the first plan still to do, given the owners now: each slot
/// goes to the shard it was bound for (known by its `anchor` slot), whichever
/// node serves that shard now; slots already there are left out.
fn moves_left(
    first: &SlotMoves,
    anchor: &HashMap<String, u16>,
    owners: &SlotOwners,
) -> Vec<reshard::SlotMove> {
    first
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
        .collect()
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
    /// Nothing moved yet, between `from` and `to`, from `started` on.
    fn new(from: Vec<String>, to: Vec<String>, started: Instant) -> Resharded {
        Resharded {
            from,
            to,
            slots_moved: 0,
            keys_moved: 0,
            bytes_moved: 0,
            duration: Duration::ZERO,
            finished_at: started,
            attempts: 0,
            overwritten: Vec::new(),
            method: reshard::Method::Keys,
            migrations: Vec::new(),
        }
    }

    /// The reshard ended at `at`: take the keys it overwrote and say so.
    fn finish(
        &mut self,
        at: Instant,
        started: Instant,
        overwrites: &reshard::Overwrites,
        migrations: &reshard::MigrationLog,
        bus: &Bus,
    ) {
        self.finished_at = at;
        self.duration = at.saturating_duration_since(started);
        self.overwritten = overwrites.take();
        self.migrations = migrations.take();
        bus.emit(self.event(started));
    }

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
