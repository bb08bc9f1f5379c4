//! The reshard as an engine API, one for the drill's reshard step and
//! `redis-drill reshard` alike: the slot moves an action asks for
//! ([`slot_moves`]), the nodes they go between ([`endpoints`]), running them
//! with their progress delivered as events to whoever subscribes
//! ([`run_moves`]; the terminal's [`ReshardBar`](super::bar::ReshardBar) is
//! one subscriber, the drill's event bus another), and the members to wait
//! on afterwards ([`convergence_members`]). Nothing here draws or prints.

use crate::cluster::reshard::{self, ReshardOptions, ReshardReport, SlotMoves, SlotOwners};
use crate::cluster::{self, AddressMap, ClusterError};
use crate::runtime::Deployment;

use super::ReshardAction;
use super::error::DrillError;

/// Run `moves` with the engine; each slot that moved is an event given to
/// `subscriber` (the engine's [`reshard::Progress`]), so that the caller
/// decides who hears of it: a bar, a bus, a watch channel.
pub(crate) async fn run_moves(
    map: &AddressMap,
    moves: &SlotMoves,
    opts: &ReshardOptions,
    subscriber: &mut (dyn FnMut(reshard::Progress) + Send),
) -> Result<ReshardReport, ClusterError> {
    reshard::execute(map, moves, opts, subscriber).await
}

/// The slot moves the scenario's `action` asks for, from the current slot
/// owners: what the drill's reshard step and `redis-drill reshard` move.
pub(crate) fn slot_moves(
    action: &ReshardAction,
    owners: &SlotOwners,
) -> Result<SlotMoves, DrillError> {
    Ok(match action {
        ReshardAction::Move { from, to, slots } => {
            reshard::moves_between(owners, from, to, *slots)?
        }
        ReshardAction::Rebalance | ReshardAction::AddPrimary => {
            reshard::rebalance_moves(owners, owners.primaries())?
        }
        ReshardAction::MoveSlot { slot, to } => {
            let from = owners.owner(*slot).ok_or_else(|| {
                ClusterError::BadInput(format!("slot {slot} has no primary to move it from"))
            })?;
            if from == to {
                return Err(ClusterError::BadInput(format!(
                    "slot {slot} is already on {to}: nothing to move"
                ))
                .into());
            }
            SlotMoves {
                moves: vec![reshard::SlotMove {
                    slot: *slot,
                    from: from.to_string(),
                    to: to.clone(),
                }],
            }
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

/// The distinct sources and targets of the moves, in first-seen order: how
/// a reshard is named to the person and in the report.
pub(crate) fn endpoints(moves: &SlotMoves) -> (Vec<String>, Vec<String>) {
    let mut from: Vec<String> = Vec::new();
    let mut to: Vec<String> = Vec::new();
    for m in &moves.moves {
        if !from.contains(&m.from) {
            from.push(m.from.clone());
        }
        if !to.contains(&m.to) {
            to.push(m.to.clone());
        }
    }
    (from, to)
}

/// The members to wait on after `action`. A drained primary turns into a
/// replica (replica migration) and replicas may follow other primaries, so
/// after a drain — or any failover — no fixed pairing is expected.
pub(crate) fn convergence_members(
    d: &Deployment,
    action: Option<&ReshardAction>,
    failovers: bool,
) -> Vec<cluster::Member> {
    let mut members = crate::bringup::members(d);
    if failovers || matches!(action, Some(ReshardAction::Drain { .. })) {
        for m in &mut members {
            m.replica_of = None;
        }
    }
    members
}
