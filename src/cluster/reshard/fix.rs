//! Closing open slots: [`fix_open_slots`] for slots a killed controller left
//! MIGRATING/IMPORTING, and the engine's own clean-up after an error or a
//! cancel. Both go through [`close_slot`].
//!
//! The cases follow what `redis-cli --cluster fix` handles for an open slot,
//! reduced to one rule: find the owner (the one primary that claims the slot;
//! when gossip has not settled and two claim it, the one with the higher
//! config epoch, provided the other holds no keys); if the owner is migrating
//! the slot to a node that is importing it from the owner, *finish* that move;
//! otherwise the owner keeps the slot. Then every other primary that holds keys
//! of the slot gives them to the (new) owner, and every open state is closed
//! (SETSLOT STABLE). A slot no primary claims is not handled (that is a
//! coverage problem, not an open slot).

use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};

use crate::cluster::conn::AddressMap;
use crate::cluster::error::ClusterError;
use crate::cluster::nodes::{NodeLine, myself};

use super::live::{Live, Node};
use super::options::ReshardOptions;
use super::steps::{
    DrainError, DrainOpts, Drained, Hooks, OnConflict, assign, drain, is_replica_refusal, lossy,
    setslot,
};

/// What was done to one open slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixAction {
    /// The interrupted move was completed: the slot now belongs to the node it was moving to.
    Finished,
    /// Keys that had moved were brought back to the owner, which keeps the slot.
    RolledBack,
    /// Only the open states were cleared; no key had to move.
    Closed,
}

/// One slot [`fix_open_slots`] closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixedSlot {
    pub slot: u16,
    pub action: FixAction,
    /// The primary serving the slot afterwards.
    pub owner: String,
    pub keys_moved: u64,
    /// Keys left on a node that does not serve the slot, because the owner
    /// holds a different value under the same name: a finding to resolve by hand.
    pub stray_keys: Vec<String>,
}

/// What [`fix_open_slots`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixReport {
    pub slots: Vec<FixedSlot>,
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
}

fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// [`fix_open_slots_with`] with default options (10 minutes, never cancelled).
pub async fn fix_open_slots(map: &AddressMap) -> Result<FixReport, ClusterError> {
    fix_open_slots_with(map, &ReshardOptions::default()).await
}

/// Find every slot some primary has MIGRATING or IMPORTING and close each
/// (see the module documentation), one slot at a time. Uses `opts`' batch
/// size, MIGRATE timeout, connection options, timeout and token. Must not run
/// while another controller moves slots. Fails on the first slot it cannot
/// close, leaving the ones after it as they were.
pub async fn fix_open_slots_with(
    map: &AddressMap,
    opts: &ReshardOptions,
) -> Result<FixReport, ClusterError> {
    let started = Instant::now();
    let deadline = started + opts.timeout;
    let live = step(opts, deadline, Live::load(map, opts.engine_connect())).await?;
    let mut open: Vec<u16> = live
        .primaries()
        .flat_map(|n| {
            n.me.migrating
                .iter()
                .chain(&n.me.importing)
                .map(|(s, _)| *s)
        })
        .collect();
    open.sort_unstable();
    open.dedup();
    // A failed primary not yet replaced may hold keys of an open slot (the
    // target of an interrupted move), and its replica has them too; a replica
    // is no owner, so closing the slot now would leave them where no one
    // looks. Wait for the failover (or the node's return).
    if let (Some(&slot), [(name, slots), ..]) = (open.first(), live.failed_owners(map).as_slice()) {
        return Err(ClusterError::OpenSlot {
            slot,
            detail: format!(
                "{name} is flagged failed and still serves {slots} slots: its keys of an open \
                 slot may be on it or its replica; fix once its replica is promoted or it is back"
            ),
        });
    }
    let drain_opts = DrainOpts {
        batch: opts.batch_keys,
        throttle: None,
        migrate_timeout_ms: opts.migrate_timeout_ms,
        measure: false,
        conflicts: OnConflict::forward(&opts.on_conflict),
    };
    let mut slots = Vec::with_capacity(open.len());
    for slot in open {
        if opts.cancel.is_cancelled() {
            return Err(ClusterError::Cancelled {
                what: "fix open slots".into(),
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ClusterError::Timeout {
                what: "fix open slots".into(),
                timeout: opts.timeout,
                pending: vec![format!("slot {slot} and the open slots after it")],
            });
        }
        let closed = close_slot(&live, slot, Prefer::Finish, &drain_opts, left).await?;
        slots.push(FixedSlot {
            slot,
            action: closed.action,
            owner: closed.owner,
            keys_moved: closed.keys_moved,
            stray_keys: closed.stray_keys,
        });
    }
    Ok(FixReport {
        slots,
        duration: started.elapsed(),
    })
}

async fn step<T>(
    opts: &ReshardOptions,
    deadline: Instant,
    fut: impl Future<Output = Result<T, ClusterError>>,
) -> Result<T, ClusterError> {
    tokio::select! {
        biased;
        _ = opts.cancel.cancelled() => Err(ClusterError::Cancelled { what: "fix open slots".into() }),
        _ = tokio::time::sleep_until(deadline.into()) => Err(ClusterError::Timeout {
            what: "fix open slots: load the cluster".into(),
            timeout: opts.timeout,
            pending: Vec::new(),
        }),
        r = fut => r,
    }
}

/// Which way an open slot goes when both are possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefer {
    /// Complete the move (the fixer: what the interrupted operator asked for).
    Finish,
    /// Complete the move only when the owner has no keys left in the slot,
    /// else bring the moved keys back (the engine after an error or cancel).
    RollBackUnlessEmpty,
}

/// How one open slot was closed: who owns it now, and the keys moved or
/// left behind, for the fix's report.
pub(crate) struct Closed {
    pub action: FixAction,
    pub owner: String,
    pub owner_id: String,
    pub keys_moved: u64,
    pub stray_keys: Vec<String>,
}

/// One primary as it is now.
struct State<'a> {
    node: &'a Node,
    me: NodeLine,
    keys: u64,
}

impl State<'_> {
    fn importing(&self, slot: u16) -> Option<&str> {
        self.me
            .importing
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, id)| id.as_str())
    }

    fn migrating(&self, slot: u16) -> Option<&str> {
        self.me
            .migrating
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, id)| id.as_str())
    }

    fn open(&self, slot: u16) -> bool {
        self.importing(slot).is_some() || self.migrating(slot).is_some()
    }
}

/// Each loaded node's own view and key count of `slot`, now; nodes that are
/// replicas now (a drained primary turns into one) are left out.
async fn states(live: &Live, slot: u16) -> Result<Vec<State<'_>>, ClusterError> {
    let read = futures::future::join_all(live.primaries().map(|n| async move {
        let mut pipe = redis::pipe();
        pipe.cmd("CLUSTER")
            .arg("NODES")
            .cmd("CLUSTER")
            .arg("COUNTKEYSINSLOT")
            .arg(slot);
        let mut c = n.conn();
        let (text, keys): (String, u64) = c
            .run_pipe(&pipe, "CLUSTER NODES + CLUSTER COUNTKEYSINSLOT")
            .await?;
        let lines = c.parse_nodes(&text)?;
        let me = myself(&lines)
            .cloned()
            .ok_or_else(|| c.reply_error("CLUSTER NODES", "no line flagged myself"))?;
        Ok::<_, ClusterError>(State { node: n, me, keys })
    }))
    .await;
    let mut out = Vec::new();
    for r in read {
        let s = r?;
        if s.me.is_primary() {
            out.push(s);
        }
    }
    Ok(out)
}

/// Close `slot` (see the module documentation). Keys of the slot found on a
/// node that does not serve it are given to the owner; under
/// [`Prefer::RollBackUnlessEmpty`] a key the owner holds with a different
/// value is left where it is and listed in `stray_keys` (unless `opts` say
/// replace). Bounded by `timeout`
/// (checked between MIGRATE batches; each command has its own response timeout).
pub(crate) async fn close_slot(
    live: &Live,
    slot: u16,
    prefer: Prefer,
    opts: &DrainOpts<'_>,
    timeout: Duration,
) -> Result<Closed, ClusterError> {
    let deadline = Deadline {
        at: Instant::now() + timeout,
        timeout,
    };
    let st = states(live, slot).await?;
    let owner = settle_owner(&st, slot).await?;
    let finish = finish_target(&st, owner, slot, prefer);
    let mut keys_moved = 0u64;
    let new_owner = match finish {
        Some(t) => {
            keys_moved += finish_move(&st, owner, t, slot, opts, deadline).await?;
            t
        }
        None => owner,
    };
    let leave = match prefer {
        Prefer::Finish => opts.conflicts,
        Prefer::RollBackUnlessEmpty => opts.conflicts.rolling_back(),
    };

    // The owner keeps the slot (or has just been given it). A migrating owner
    // answers the RESTORE of a key it lacks with ASK, so it must be stable
    // before keys can come back to it.
    if finish.is_none() && st[new_owner].open(slot) {
        setslot(st[new_owner].node, slot, &["STABLE"]).await?;
    }
    // Everyone else gives its keys of the slot to the owner, then closes.
    let mut stray: Vec<Vec<u8>> = Vec::new();
    let give = GiveBack {
        owner: st[new_owner].node,
        slot,
        opts,
        leave,
        deadline,
    };
    for i in (0..st.len()).filter(|&i| i != new_owner && !(finish.is_some() && i == owner)) {
        let (moved, left) = give.from(&st[i]).await?;
        keys_moved += moved;
        stray.extend(left);
    }
    stray.sort();
    stray.dedup();
    let action = match finish {
        Some(_) => FixAction::Finished,
        None if keys_moved > 0 => FixAction::RolledBack,
        None => FixAction::Closed,
    };
    Ok(Closed {
        action,
        owner: st[new_owner].node.name.clone(),
        owner_id: st[new_owner].node.id.clone(),
        keys_moved,
        stray_keys: stray.iter().map(|k| lossy(k)).collect(),
    })
}

/// The one primary that keeps serving `slot`. When gossip has not settled and
/// several claim it, the higher config epoch wins, as it will in the cluster,
/// and the others are told so; a tie, or a loser holding keys, is an error.
async fn settle_owner(st: &[State<'_>], slot: u16) -> Result<usize, ClusterError> {
    let open_slot = |detail: String| ClusterError::OpenSlot { slot, detail };
    let claimants: Vec<usize> = (0..st.len()).filter(|&i| st[i].me.serves(slot)).collect();
    match claimants.as_slice() {
        [] => Err(open_slot(
            "no primary serves it (a coverage problem: `redis-cli --cluster fix` assigns it)"
                .into(),
        )),
        [one] => Ok(*one),
        many => {
            let best = *many
                .iter()
                .max_by_key(|&&i| st[i].me.config_epoch)
                .expect("not empty");
            for &i in many {
                if i == best {
                    continue;
                }
                if st[i].me.config_epoch == st[best].me.config_epoch || st[i].keys > 0 {
                    return Err(open_slot(format!(
                        "both {} ({} keys, epoch {}) and {} ({} keys, epoch {}) serve it",
                        st[best].node.name,
                        st[best].keys,
                        st[best].me.config_epoch,
                        st[i].node.name,
                        st[i].keys,
                        st[i].me.config_epoch
                    )));
                }
                setslot(st[i].node, slot, &["NODE", &st[best].node.id]).await?;
            }
            Ok(best)
        }
    }
}

/// Where to finish the move the owner was making, when that is what `prefer`
/// wants and the target is importing from it.
fn finish_target(st: &[State<'_>], owner: usize, slot: u16, prefer: Prefer) -> Option<usize> {
    let target = st[owner].migrating(slot).and_then(|id| {
        st.iter()
            .position(|t| t.node.id == id && t.importing(slot) == Some(&st[owner].node.id))
    });
    match (prefer, target) {
        (Prefer::Finish, Some(t)) => Some(t),
        (Prefer::RollBackUnlessEmpty, Some(t)) if st[owner].keys == 0 => Some(t),
        _ => None,
    }
}

/// Finish the owner's move: drain it into `t`, then give `t` the slot
/// everywhere. Returns the keys moved.
async fn finish_move(
    st: &[State<'_>],
    owner: usize,
    t: usize,
    slot: u16,
    opts: &DrainOpts<'_>,
    deadline: Deadline,
) -> Result<u64, ClusterError> {
    let d = drain_within(
        st[owner].node,
        st[t].node,
        slot,
        st[owner].keys,
        opts,
        opts.conflicts,
        deadline,
    )
    .await?;
    let rest: Vec<&Node> = st
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != t)
        .map(|(_, s)| s.node)
        .collect();
    assign(st[t].node, slot, &rest).await?;
    Ok(d.keys)
}

/// Giving a slot's keys back to its owner from the other primaries.
struct GiveBack<'a> {
    owner: &'a Node,
    slot: u16,
    opts: &'a DrainOpts<'a>,
    leave: OnConflict<'a>,
    deadline: Deadline,
}

impl GiveBack<'_> {
    /// Move the keys of the slot `s` holds to the owner, then close the slot
    /// on `s`. MIGRATE only runs on a node that owns the slot or has it open,
    /// so a node holding keys is made to import from the owner first. Returns
    /// the keys moved and those left on purpose.
    async fn from(&self, s: &State<'_>) -> Result<(u64, Vec<Vec<u8>>), ClusterError> {
        let (node, slot, mut keys) = (s.node, self.slot, s.keys);
        if keys == 0 && !s.open(slot) {
            return Ok((0, Vec::new()));
        }
        let mut importing = s.importing(slot).is_some();
        let mut moved = 0;
        let mut left_here: Vec<Vec<u8>> = Vec::new();
        // A write redirected (ASK) before the owner became stable can still
        // land here until this node is stable too; once it is, nothing can,
        // so a last count that finds only the keys left on purpose proves
        // nothing was stranded.
        let mut attempts = 0;
        while keys > left_here.len() as u64 {
            attempts += 1;
            if attempts > CLOSE_ATTEMPTS {
                return Err(ClusterError::OpenSlot {
                    slot,
                    detail: format!(
                        "{} still holds {keys} keys of the slot after {CLOSE_ATTEMPTS} rounds",
                        node.name
                    ),
                });
            }
            if !importing {
                setslot(node, slot, &["IMPORTING", &self.owner.id]).await?;
            }
            let drained = drain_within(
                node,
                self.owner,
                slot,
                keys,
                self.opts,
                self.leave,
                self.deadline,
            )
            .await;
            let d = match drained {
                Ok(d) => d,
                Err(e) => {
                    // Not the owner: closing it only stops it taking redirected writes.
                    let _ = setslot_stable(node, slot).await;
                    return Err(e);
                }
            };
            moved += d.keys;
            left_here = d.left;
            setslot_stable(node, slot).await?;
            importing = false;
            keys = count_keys(node, slot).await?;
        }
        if attempts == 0 && s.open(slot) {
            setslot_stable(node, slot).await?;
        }
        Ok((moved, left_here))
    }
}

/// Rounds of drain-then-STABLE on one node before giving up on writes that
/// keep arriving (one round is the rule; a second catches a write that was
/// in flight when the node closed).
const CLOSE_ATTEMPTS: usize = 3;

/// SETSLOT STABLE, where a node that turned replica meanwhile is no error.
async fn setslot_stable(node: &Node, slot: u16) -> Result<(), ClusterError> {
    match setslot(node, slot, &["STABLE"]).await {
        Err(e) if !is_replica_refusal(&e) => Err(e),
        _ => Ok(()),
    }
}

async fn count_keys(node: &Node, slot: u16) -> Result<u64, ClusterError> {
    node.conn()
        .run(redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot))
        .await
}

/// When closing a slot must be done.
/// When closing a slot must be done by, and the timeout that set it (named
/// in the error).
#[derive(Clone, Copy)]
struct Deadline {
    at: Instant,
    timeout: Duration,
}

/// [`drain`] bounded by `deadline` (checked between batches).
async fn drain_within(
    from: &Node,
    to: &Node,
    slot: u16,
    expected: u64,
    opts: &DrainOpts<'_>,
    conflicts: OnConflict<'_>,
    deadline: Deadline,
) -> Result<Drained, ClusterError> {
    let o = DrainOpts { conflicts, ..*opts };
    let past = || Instant::now() >= deadline.at;
    let hooks = Hooks {
        interrupted: &past,
        on_batch: &|_, _| {},
        gates: &[],
    };
    match drain(from, to, slot, None, expected, &o, &hooks).await {
        Ok(d) => Ok(d),
        Err(DrainError::Failed(e)) => Err(e),
        Err(DrainError::Interrupted) => Err(ClusterError::Timeout {
            what: format!(
                "close slot {slot}: move its keys from {} to {}",
                from.name, to.name
            ),
            timeout: deadline.timeout,
            pending: vec![format!("slot {slot} is still open")],
        }),
    }
}
