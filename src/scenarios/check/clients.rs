//! The clients checker: what each kind of client saw — counts, errors,
//! latency, service time and the tool's own lag by phase, and whether the
//! tool kept its schedule (the self-check) — as the report's `workload`; and
//! the same, with downtime, lost writes and stale reads, for the clients of
//! each region (`client_regions`).

use std::collections::BTreeMap;

use super::data::stale_side;
use super::links::link_report;
use super::{Checker, Run};
use crate::checker;
use crate::record::ops::{ClientMode, Op, WorkloadStats};
use crate::record::timeline::Phase;
use crate::report::{ClientRegion, ClientSummary, PoolWait, WorkloadSummary};

/// The clients checker.
pub(crate) struct Clients;

impl Checker for Clients {
    type Section = WorkloadSummary;

    fn check(&self, run: &Run) -> WorkloadSummary {
        let r = run.record;
        let app = summarize(&run.app, r.app_clients, &r.phases);
        let self_check = lag_check(&app, r.max_tool_lag_ms).with_steal(&r.steal_ms);
        WorkloadSummary {
            app,
            probe: summarize(&run.probe, r.probe_clients, &r.phases),
            engine: r.engine.clone(),
            self_check,
        }
    }
}

/// The regions checker: the clients of each region apart.
pub(crate) struct Regions;

impl Checker for Regions {
    type Section = Vec<ClientRegion>;

    fn check(&self, run: &Run) -> Vec<ClientRegion> {
        client_regions(run)
    }
}

/// What the clients of each region saw (`workload.regions`): client i is
/// in `r.client_regions[i mod n]`.
fn client_regions(run: &Run) -> Vec<ClientRegion> {
    let (r, history, lost) = (run.record, run.history, run.lost());
    let stale = run.stale().map(|st| st.stale.as_slice());
    let in_region = |region: &str, client: u32| {
        crate::record::region_of(&r.client_regions, client) == Some(region)
    };
    let count = |region: &str, from: u32, clients: u32| {
        (from..from + clients)
            .filter(|&c| in_region(region, c))
            .count() as u32
    };
    r.client_regions
        .iter()
        .map(|region| {
            let mine = |mode: ClientMode| -> Vec<&Op> {
                history
                    .iter()
                    .filter(|o| o.mode == mode && in_region(region, o.client))
                    .collect()
            };
            let (app, probe) = (mine(ClientMode::App), mine(ClientMode::Probe));
            let from = format!("clients in {region}");
            // Ok writes, from sending to the answer (WAIT's included).
            let writes = |waited: bool| {
                checker::percentiles(
                    (app.iter())
                        .filter(|o| o.is_write() && o.is_ok() && o.replicas.is_some() == waited)
                        .map(|o| o.end_ns.saturating_sub(o.sent_ns)),
                )
            };
            let with_wait = writes(true);
            let [app_v, writes_v, probe_v] = &(run.region_views().iter())
                .find(|(g, _)| g == region)
                .expect("a view of every client region")
                .1;
            let views = [("app", app_v), ("writes", writes_v), ("probe", probe_v)];
            ClientRegion {
                unknown: (views.iter())
                    .filter_map(|(k, v)| Some((k.to_string(), v.unknown.clone()?)))
                    .collect(),
                region: region.clone(),
                paths: r
                    .client_paths
                    .iter()
                    .filter(|p| p.from == from)
                    .map(link_report)
                    .collect(),
                downtime_ms: views[0].1.max_ms,
                write_downtime_ms: views[1].1.max_ms,
                probe_downtime_ms: views[2].1.max_ms,
                lost_acknowledged_writes: lost
                    .lost_acks_by_client
                    .iter()
                    .filter(|(c, _)| in_region(region, **c))
                    .map(|(_, k)| k)
                    .sum(),
                writes_ms: writes(false),
                writes_with_wait_ms: (with_wait.count > 0).then_some(with_wait),
                stale: stale
                    .map(|st| {
                        stale_side(history, st, |o| {
                            o.mode == ClientMode::App && in_region(region, o.client)
                        })
                    })
                    .filter(|s| s.reads > 0),
                app: summarize(&app, count(region, 0, r.app_clients), &r.phases),
                probe: summarize(
                    &probe,
                    count(region, r.app_clients, r.probe_clients),
                    &r.phases,
                ),
            }
        })
        .collect()
}

/// The self-check of one kind of client: its tool lag's p99 by phase
/// against `bound_ms`.
pub(super) fn lag_check(c: &ClientSummary, bound_ms: f64) -> checker::SelfCheck {
    let timing = (c.tool_lag_ms.iter())
        .map(|(k, l)| {
            let t = checker::Timing {
                tool_lag: *l,
                ..Default::default()
            };
            (k.clone(), t)
        })
        .collect();
    checker::self_check(&timing, bound_ms)
}

/// One kind of client's figures: counts, errors, and timing by phase.
pub(super) fn summarize(ops: &[&Op], clients: u32, phases: &[Phase]) -> ClientSummary {
    let timing = checker::timing_by_phase(ops.iter().copied(), phases);
    let by_phase = |f: fn(&checker::Timing) -> checker::Latency| {
        timing.iter().map(|(k, t)| (k.clone(), f(t))).collect()
    };
    let counts = checker::counts(ops.iter().copied());
    let mut unknown = BTreeMap::new();
    if counts.total == 0 {
        unknown.insert(
            "ops".to_string(),
            "no op of these clients was recorded".to_string(),
        );
    }
    ClientSummary {
        p99_answered_ms: (timing.iter())
            .filter_map(|(k, t)| Some((k.clone(), t.p99_answered?)))
            .collect(),
        unknown,
        clients,
        ops_ok: counts.ok,
        ops_failed: counts.failed,
        ops_indeterminate: counts.indeterminate,
        redirects: checker::redirects(ops.iter().copied()),
        errors_by_kind: checker::errors_by_kind(ops.iter().copied()),
        latency_ms: by_phase(|t| t.latency),
        latency_all_ms: by_phase(|t| t.latency_all),
        service_ms: by_phase(|t| t.service),
        tool_lag_ms: by_phase(|t| t.tool_lag),
        pool_wait: timing
            .iter()
            .map(|(k, t)| {
                (
                    k.clone(),
                    PoolWait {
                        ops: t.pool_waits,
                        max_ms: t.pool_wait_max_ms,
                    },
                )
            })
            .collect(),
    }
}

/// Why the history lacks ops the clients ran, if it does.
pub(super) fn history_incomplete(e: &WorkloadStats) -> Option<String> {
    let mut why = Vec::new();
    if e.unrecorded > 0 {
        why.push(format!(
            "{} ops ran past the history's size limit and are not in it",
            e.unrecorded
        ));
    }
    if e.loops_unfinished > 0 {
        why.push(format!(
            "{} of the workload's event loops did not end within the stop's bound, and their ops are not in the history",
            e.loops_unfinished
        ));
    }
    if e.dropped_at_stop > 0 {
        why.push(format!(
            "{} ops were still unfinished when the drain after the stop ran out",
            e.dropped_at_stop
        ));
    }
    (!why.is_empty()).then(|| why.join("; "))
}
