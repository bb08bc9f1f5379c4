//! `during` and `recovery`: the reshard and the faults side by side, then
//! whatever is in force undone ([`act`]); then the wait until every node
//! agrees on the slot map ([`converge`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::cluster;
use crate::faults::{FaultWindow, Nemesis};
use crate::record::timeline::Clock;
use crate::runtime::Deployment;
use crate::topology::Kind;
use crate::workload::locks::LockControl;

use super::setup::{Setup, address_map};
use crate::scenarios::Scenario;
use crate::scenarios::error::DrillError;
use crate::scenarios::events::{Bus, DrillEvent};
use crate::scenarios::reshard::convergence_members;
use crate::scenarios::resume::{Resharded, Resharding};

/// What `during` did: when it began and ended, the reshard's outcome, each
/// fault's window, and the nodes the faults left down.
pub(in crate::scenarios) struct Acted {
    pub(in crate::scenarios) started: Instant,
    pub(in crate::scenarios) ended: Instant,
    pub(in crate::scenarios) reshard: Option<Resharded>,
    pub(in crate::scenarios) windows: Vec<FaultWindow>,
    pub(in crate::scenarios) down: std::collections::BTreeSet<String>,
    /// The deployment as the faults left it, when a `replace` changed its
    /// nodes (the drill goes on with it).
    pub(in crate::scenarios) deployment: Option<Deployment>,
}

/// `during`: the reshard and the faults side by side, then whatever is in
/// force undone — on every path, cancellation included. When one side fails,
/// the other stops too: the reshard closes its slots in flight, the nemesis
/// stops applying faults. Undos that fail are reported and make this an error.
#[allow(clippy::too_many_arguments)]
pub(in crate::scenarios) async fn act(
    scenario: &Scenario,
    rt: &crate::runtime::Runtime,
    d: &Deployment,
    setup: &Setup,
    clock: Clock,
    seed: u64,
    locks: Option<LockControl>,
    watch: Option<crate::cluster::watch::Follow>,
    bus: &Bus,
    cancel: &CancellationToken,
) -> Result<Acted, DrillError> {
    // Nodes admitted by an earlier drill of this process are not this one's.
    crate::cluster::conn::clear_admitted();
    let mut nemesis = Nemesis::new(rt, d, setup.map.clone(), clock, seed);
    if let Some(why) = &setup.partitions_unsupported {
        nemesis = nemesis.without_partitions(why.clone());
    }
    if let Some(w) = watch {
        nemesis = nemesis.with_watch(w);
    }
    if let Some(control) = locks {
        nemesis = nemesis.with_clients(Arc::new(control));
    }
    let started = Instant::now();
    let outcome = reshard_and_faults(scenario, setup, &mut nemesis, started, bus, cancel).await;
    let heal_errors = nemesis.heal_all().await;
    let windows: Vec<FaultWindow> = nemesis.windows().to_vec();
    for e in &heal_errors {
        bus.emit(DrillEvent::UndoFailed(e.to_string()));
    }
    for w in &windows {
        bus.emit(DrillEvent::Fault(Box::new(w.clone())));
    }
    let reshard = outcome?;
    let count = heal_errors.len();
    if let Some(first) = heal_errors.into_iter().next() {
        return Err(DrillError::Heal {
            count,
            first: Box::new(first),
        });
    }
    let mut ended = started + Duration::from_millis(scenario.during_ms);
    if let Some(r) = &reshard {
        ended = ended.max(r.finished_at);
    }
    for w in &windows {
        ended = ended.max(clock.instant(w.undone_ns.unwrap_or(w.applied_ns)));
    }
    let replaced = windows
        .iter()
        .any(|w| w.fault == crate::faults::FaultKind::Replace);
    Ok(Acted {
        started,
        ended,
        reshard,
        windows,
        down: nemesis.unavailable_nodes(),
        deployment: replaced.then(|| nemesis.deployment().clone()),
    })
}

async fn reshard_and_faults(
    scenario: &Scenario,
    setup: &Setup,
    nemesis: &mut Nemesis<'_>,
    started: Instant,
    bus: &Bus,
    cancel: &CancellationToken,
) -> Result<Option<Resharded>, DrillError> {
    if !scenario.faults.is_empty() {
        bus.emit(DrillEvent::FaultsScheduled {
            count: scenario.faults.iter().map(|f| f.repeat as usize).sum(),
            span_ms: crate::faults::schedule::duration_ms(&scenario.faults),
        });
    }
    // The reshard's progress, for faults that wait for it; dropped with the
    // reshard future, which tells them it is over.
    let (slots_tx, slots_rx) = tokio::sync::watch::channel(0usize);
    let stop = cancel.child_token();
    let reshard = async {
        let slots_tx = slots_tx;
        let r = match &scenario.reshard {
            None => Ok(None),
            Some(step) => Resharding {
                map: &setup.map,
                step,
                owners_before: &setup.owners_before,
                resume: !scenario.faults.is_empty(),
                recovery_timeout: Duration::from_millis(scenario.recovery_timeout_ms),
            }
            .run(bus, &slots_tx, &stop)
            .await
            .map(Some),
        };
        if r.is_err() {
            stop.cancel();
        }
        r
    };
    let faults = async {
        let r = nemesis
            .run(&scenario.faults, started, Some(slots_rx), &stop)
            .await
            .map_err(DrillError::from);
        if r.is_err() {
            stop.cancel();
        }
        r
    };
    // A steady drill: the workload runs at least `during_ms` whatever else
    // happens (cut short only by an error on either side or a cancel).
    let steady = async {
        let until = started + Duration::from_millis(scenario.during_ms);
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => {}
            _ = stop.cancelled() => {}
        }
    };
    let (reshard, faults, ()) = tokio::join!(reshard, faults, steady);
    // The error that stopped the other side, not the other side's
    // cancellation (unless the run itself was cancelled).
    let interrupted = |e: &DrillError| e.class() == crate::exit::Class::Interrupted;
    match (reshard, faults) {
        (Ok(r), Ok(())) => Ok(r),
        (Err(e), Ok(())) | (Ok(_), Err(e)) => Err(e),
        (Err(a), Err(b)) => Err(if interrupted(&a) { b } else { a }),
    }
}

/// `recovery`: wait until every node that is up agrees on the slot map,
/// measured from the end of the last action; a replicated topology: until one
/// primary has every replica caught up, and every Sentinel that is up names it
/// with no failover under way. Failovers change who replicates whom, so no
/// fixed pairing is expected then; nodes (and Sentinels) still down are left out.
/// Returns the convergence time (ms) and when it was reached.
pub(in crate::scenarios) async fn converge(
    scenario: &Scenario,
    d: &Deployment,
    acted: &Acted,
    timeout: Duration,
    bus: &Bus,
    cancel: &CancellationToken,
) -> Result<(f64, Instant), DrillError> {
    let polls = match d.topology.kind {
        Kind::Cluster => {
            let members: Vec<cluster::Member> = convergence_members(
                d,
                scenario.reshard.as_ref().map(|r| &r.action),
                !scenario.faults.is_empty(),
            )
            .into_iter()
            .filter(|m| !acted.down.contains(&m.name))
            .collect();
            let opts = cluster::ConvergeOptions::new(timeout, cancel.clone());
            cluster::wait_converged(&members, &opts).await?.polls
        }
        // One primary, and every replica that is up following it with all
        // of its writes.
        _ => {
            let up: Vec<String> = d
                .nodes
                .iter()
                .map(|n| n.name.clone())
                .filter(|n| !acted.down.contains(n))
                .collect();
            let map = address_map(d)?;
            // Sentinels a fault left down are left out, as nodes are.
            let sentinels: Vec<String> = (d.sentinels.iter())
                .map(|s| s.name.clone())
                .filter(|s| !acted.down.contains(s))
                .collect();
            let ask =
                (d.topology.sentinel.as_ref()).map(|s| cluster::replication::SentinelsToAsk {
                    master_name: &s.master_name,
                    names: &sentinels,
                });
            let done =
                cluster::replication::wait_replicated(&map, &up, ask, timeout, cancel).await?;
            u32::try_from(done.polls).unwrap_or(u32::MAX)
        }
    };
    let at = Instant::now();
    let after_ms = at.saturating_duration_since(acted.ended).as_secs_f64() * 1000.0;
    bus.emit(DrillEvent::Converged {
        at,
        after_ms,
        polls,
    });
    Ok((after_ms, at))
}
