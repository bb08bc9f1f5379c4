//! The check stage: from what a drill recorded to its report. A drill stores
//! its record in the run folder before anything is checked, and [`check`]
//! reads nothing else — no network, no clock — so `redis-drill check-run`
//! computes the same report again from a stored run.
//!
//! A run folder holds:
//! - `record.json`: the scenario's SLOs and settings, the environment, the
//!   topology before and after, the timeline (phases, events, fault
//!   windows), the reshard's summary, the engine's and the servers' figures,
//!   and the cluster's state at the end (its own check, stray keys);
//! - `history.jsonl`: every op the clients ran;
//! - `pings.jsonl`: the reference PINGs;
//! - `watch.json`: the watcher's recording of every node's view;
//! - `keys.jsonl`: every key's value before the run and at its end;
//! - `locks.jsonl`, when the drill ran a lock workload: its setup, every
//!   acquire attempt, grant, release, resource write and pause, its end;
//! - what [`check`] makes of them: `report.json`, `report.md`, `report.xml`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::checker;
use crate::cluster::keyspace::KeyspaceSample;
use crate::net::links::LinkSample;
use crate::record::Stored;
use crate::record::ops::{ClientMode, Op, OpKind, WorkloadStats};
use crate::record::run::Record;
use crate::record::status::StatusReport;
use crate::record::timeline::{Event, Phase};
use crate::report::{
    self, Checks, ClientRegion, ClientSummary, CounterChecks, DowntimeSummary, EXAMPLES, EventMs,
    EvictionChecks, EvictionPhase, FaultReport, LinkReport, LostKey, PhaseMs, PoolWait,
    ReferenceSummary, Report, StaleChecks, TtlChecks, TxnChecks, Verdict, WorkloadSummary,
};

use super::measure::fault_report;
use super::slo;
use crate::record::timeline::ms;

/// The counters' verdict as the report keeps it.
fn counter_checks(c: &checker::Counters) -> CounterChecks {
    CounterChecks {
        counters_checked: c.keys_checked,
        acknowledged_incrs: c.acknowledged_incrs,
        indeterminate_incrs: c.indeterminate_incrs,
        lost_increments: c.lost_increments,
        over_counted_increments: c.over_counted_increments,
        violations: c.violations.iter().take(EXAMPLES).cloned().collect(),
    }
}

/// The torn-transaction verdict as the report keeps it.
fn txn_checks(t: &checker::txn::Torn) -> TxnChecks {
    TxnChecks {
        reads_checked: t.reads_checked,
        torn_reads: t.torn_reads.len() as u64,
        groups_checked: t.groups_checked,
        groups_unread: t.groups_unread,
        torn_groups: t.torn_groups.len() as u64,
        torn_read_examples: t.torn_reads.iter().take(EXAMPLES).cloned().collect(),
        torn_group_examples: t.torn_groups.iter().take(EXAMPLES).cloned().collect(),
    }
}

/// The TTL verdict as the report keeps it.
fn ttl_checks(t: &checker::ttl::Ttl) -> TtlChecks {
    use checker::ttl::Ttl;
    TtlChecks {
        tolerance_ms: ms(checker::ttl::TOLERANCE_NS),
        ttl_writes: t.ttl_writes,
        reads_checked: t.reads_checked,
        reads_ambiguous: t.reads_ambiguous,
        reads_after_deadline: t.reads_after_deadline,
        reads_before_deadline: t.reads_before_deadline,
        zombie_reads: t.zombies.len() as u64,
        early_expiries: t.early_expiries.len() as u64,
        zombie_reads_in_faults: Ttl::in_faults(&t.zombies),
        early_expiries_in_faults: Ttl::in_faults(&t.early_expiries),
        expiries_seen: t.lateness_ns.len() as u64,
        lateness_at_least_ms: checker::percentiles(t.lateness_ns.iter().map(|l| l.0)),
        lateness_at_most_ms: checker::percentiles(t.lateness_ns.iter().map(|l| l.1)),
        zombie_examples: t.zombies.iter().take(EXAMPLES).cloned().collect(),
        early_examples: t.early_expiries.iter().take(EXAMPLES).cloned().collect(),
    }
}

/// What [`stale_side`] picks reads by.
#[derive(Clone, Copy)]
struct Read {
    sent_ns: u64,
    mode: ClientMode,
    client: u32,
}

/// The successful GETs with a value, and the stale reads, that `pick`
/// keeps.
fn stale_side(
    history: &[Op],
    stale: &[checker::stale::StaleRead],
    pick: impl Fn(Read) -> bool,
) -> crate::report::StaleSide {
    let reads = history
        .iter()
        .filter(|o| o.kind == OpKind::Get && o.is_ok() && o.value.is_some())
        .filter(|o| {
            pick(Read {
                sent_ns: o.sent_ns,
                mode: o.mode,
                client: o.client,
            })
        })
        .count() as u64;
    let mine: Vec<u64> = stale
        .iter()
        .filter(|s| {
            pick(Read {
                sent_ns: s.read_sent_ns,
                mode: s.mode,
                client: s.client,
            })
        })
        .map(|s| s.staleness_ns)
        .collect();
    crate::report::StaleSide {
        reads,
        stale_reads: mine.len() as u64,
        staleness_ms: checker::percentiles(mine),
    }
}

/// The eviction verdict: the clients' hits by phase beside INFO's.
fn eviction_checks(
    r: &Record,
    history: &[Op],
    samples: &[KeyspaceSample],
    evicted_at_end: u64,
) -> EvictionChecks {
    let hits = checker::eviction::hit_ratio(history, &r.phases);
    let info = crate::cluster::keyspace::phase_deltas(samples, &r.phases);
    let by_phase = hits
        .by_phase
        .iter()
        .map(|(name, h)| {
            let info = info.get(name).copied().unwrap_or_default();
            let (hit_ratio, info_hit_ratio) = (h.hit_ratio(), info.hit_ratio());
            let phase = EvictionPhase {
                hits: *h,
                hit_ratio,
                hot_miss_ratio: h.hot_miss_ratio(),
                info,
                info_hit_ratio,
                hit_ratio_difference: hit_ratio.zip(info_hit_ratio).map(|(a, b)| b - a),
            };
            (name.clone(), phase)
        })
        .collect();
    EvictionChecks {
        policy: r.eviction,
        evicted_keys_at_end: evicted_at_end,
        hot_keys: hits.hot_keys.len() as u64,
        hot_key_examples: hits.hot_keys.iter().take(5).cloned().collect(),
        info_samples: samples.len() as u64,
        by_phase,
    }
}

/// The report of a stored run: every figure, every SLO, the verdict.
pub fn check(s: &Stored) -> Report {
    let r = &s.record;
    let history = &s.history;
    let initial: HashMap<String, String> = s
        .keys
        .iter()
        .map(|k| (k.key.clone(), k.initial.clone()))
        .collect();
    let finals: HashMap<String, Option<String>> = s
        .keys
        .iter()
        .map(|k| (k.key.clone(), k.final_value.clone()))
        .collect();
    let lost = checker::lost_writes(history, &initial, &finals, r.eviction);
    let counters = checker::counters(history, &initial, &finals);
    let torn = checker::txn::torn(history, &finals);
    let fault_windows: Vec<(u64, u64)> = r
        .faults
        .iter()
        .map(|f| {
            (
                f.start_ns,
                f.undone_ns.unwrap_or(r.end_ns).max(f.applied_ns),
            )
        })
        .collect();
    let ttl = history
        .iter()
        .any(|o| o.ttl_ms.is_some())
        .then(|| ttl_checks(&checker::ttl::ttl(history, &fault_windows)));
    let ran = |kinds: &[OpKind]| history.iter().any(|o| kinds.contains(&o.kind));
    let judged = ran(&[OpKind::Get]).then(|| checker::stale::stale_reads(history, &initial));
    let stale = judged.as_ref().map(|st| StaleChecks {
        reads_checked: st.reads_checked,
        nil_reads: st.nil_reads,
        reads_unexplained: st.reads_unexplained,
        stale_reads: st.stale.len() as u64,
        staleness_ms: checker::percentiles(st.stale.iter().map(|x| x.staleness_ns)),
        examples: st.stale.iter().take(EXAMPLES).cloned().collect(),
        by_mode: [ClientMode::App, ClientMode::Probe]
            .into_iter()
            .map(|m| {
                let side = stale_side(history, &st.stale, |o| o.mode == m);
                (m.as_str().to_string(), side)
            })
            .filter(|(_, s)| s.reads > 0)
            .collect(),
        by_phase: r
            .phases
            .iter()
            .map(|p| {
                let inside = |o: Read| {
                    crate::record::timeline::phase_at(&r.phases, o.sent_ns)
                        .is_some_and(|q| std::ptr::eq(q, p))
                };
                (p.name.clone(), stale_side(history, &st.stale, inside))
            })
            .filter(|(_, s)| s.reads > 0)
            .collect(),
    });
    let eviction = (r.eviction != checker::eviction::Eviction::None)
        .then(|| eviction_checks(r, history, &s.keyspace, lost.evicted_keys));

    let app: Vec<&Op> = history
        .iter()
        .filter(|o| o.mode == ClientMode::App)
        .collect();
    let probe: Vec<&Op> = history
        .iter()
        .filter(|o| o.mode == ClientMode::Probe)
        .collect();
    let cuts = Cuts::new(r, &s.keys);
    let view_app = cuts.view(app.iter().copied(), "app ops");
    let view_probe = cuts.view(probe.iter().copied(), "probe ops");
    // Writes alone: a shard whose reads go on while its writes are paused
    // (a coordinated failover) is down for writers all the same.
    let view_writes = cuts.view(app.iter().copied().filter(|o| o.is_write()), "app writes");
    let down_app = &view_app.shards;
    let down_probe = &view_probe.shards;

    let app_summary = summarize(&app, r.app_clients, &r.phases);
    let self_check = checker::self_check(
        &app_summary
            .tool_lag_ms
            .iter()
            .map(|(k, l)| {
                (
                    k.clone(),
                    checker::Timing {
                        tool_lag: *l,
                        ..Default::default()
                    },
                )
            })
            .collect(),
        r.max_tool_lag_ms,
    )
    .with_steal(&r.steal_ms);
    let workload = WorkloadSummary {
        app: app_summary,
        probe: summarize(&probe, r.probe_clients, &r.phases),
        engine: r.engine.clone(),
        self_check,
    };
    let keys_on_primaries = |s: &StatusReport| -> u64 {
        s.nodes
            .iter()
            .filter(|n| n.role == Some(crate::topology::Role::Primary))
            .filter_map(|n| n.keys)
            .sum()
    };
    let checks = Checks {
        unknown: checks_unknown(&lost, &counters, r),
        keys_unread: lost.keys_unread,
        lost_writes: lost.lost.len() as u64,
        lost: lost
            .lost
            .iter()
            .take(100)
            .map(|l| LostKey {
                key: l.key.clone(),
                slot: l.slot,
                found: l.found.clone(),
                acceptable: l.acceptable.iter().take(5).cloned().collect(),
                last_ack_ms: l.last_ack_end_ns.map_or(0.0, ms),
            })
            .collect(),
        keys_checked: lost.keys_checked,
        acknowledged_writes: lost.acknowledged_writes,
        indeterminate_writes: lost.indeterminate_writes,
        counter_violations: counters.violations.len() as u64,
        lost_acknowledged_writes: lost.lost_acknowledged_writes,
        loss_window_ms: lost.loss_window_ns.map(|(a, b)| (ms(a), ms(b))),
        stray_keys: r.stray_keys,
        keys_before: keys_on_primaries(&r.topology),
        keys_after: keys_on_primaries(&r.topology_after),
        cluster_check_ok: r.cluster_check_ok,
        cluster_check: r.cluster_check.clone(),
        counters: ran(&[OpKind::Incr]).then(|| counter_checks(&counters)),
        txn: ran(&[OpKind::Txn, OpKind::TxnRead]).then(|| txn_checks(&torn)),
        ttl,
        stale,
        eviction,
        replication: s.replication.as_ref().map(|rec| {
            let phases: Vec<(String, u64, u64)> = r
                .phases
                .iter()
                .map(|p| (p.name.clone(), p.start_ns, p.end_ns))
                .collect();
            let mut rep = checker::replication::replication(
                &rec.writes,
                &rec.seen,
                &replica_places(r),
                &phases,
            );
            let deltas = crate::cluster::keyspace::phase_deltas(&s.keyspace, &r.phases);
            rep.resyncs_full = deltas.values().map(|d| d.sync_full).sum();
            rep.resyncs_partial = deltas.values().map(|d| d.sync_partial_ok).sum();
            rep
        }),
        stampede: s.stampede.as_ref().map(|rec| {
            let phases: Vec<(String, u64, u64)> = r
                .phases
                .iter()
                .map(|p| (p.name.clone(), p.start_ns, p.end_ns))
                .collect();
            checker::stampede::stampede(rec, &phases)
        }),
    };
    let mut downtime = DowntimeSummary {
        per_shard: ms_of(down_app),
        max: view_app.max_ms,
        windows: down_app.per_shard.values().map(|w| w.windows).sum(),
        probe_per_shard: ms_of(down_probe),
        probe_max: view_probe.max_ms,
        gap_per_shard: (down_app.per_shard.iter())
            .map(|(k, w)| (k.clone(), w.longest_gap_ms))
            .collect(),
        gap_max: (down_app.per_shard.values())
            .map(|w| w.longest_gap_ms)
            .fold(0.0, f64::max),
        write_per_shard: ms_of(&view_writes.shards),
        write_max: view_writes.max_ms,
        per_group: ms_of(&view_app.groups),
        probe_per_group: ms_of(&view_probe.groups),
        write_per_group: ms_of(&view_writes.groups),
        unknown: [
            ("app", &view_app),
            ("writes", &view_writes),
            ("probe", &view_probe),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v.unknown.clone()?)))
        .collect(),
    };
    // Clients in regions see different networks: the downtime the SLOs read
    // is the worst region's, which the windows over every client at once
    // (one region's successes closing another's outage) can hide.
    let stale_found = judged.as_ref().map(|st| st.stale.as_slice());
    let client_regions = client_regions(r, history, &lost, stale_found, &cuts);
    for g in &client_regions {
        downtime.max = downtime.max.max(g.downtime_ms);
        downtime.write_max = downtime.write_max.max(g.write_downtime_ms);
        downtime.probe_max = downtime.probe_max.max(g.probe_downtime_ms);
        // A region's view that could not be measured leaves the worst
        // region's downtime unknown too.
        for (view, why) in &g.unknown {
            downtime
                .unknown
                .entry(view.clone())
                .or_insert_with(|| format!("the clients in `{}`: {why}", g.region));
        }
    }
    let faults: Vec<FaultReport> = r
        .faults
        .iter()
        .enumerate()
        .map(|(i, w)| {
            // The fault is "the latest" until the next one starts.
            let until = r.faults.get(i + 1).map_or(r.end_ns, |n| n.start_ns);
            fault_report(
                w,
                until,
                down_app,
                down_probe,
                (r.topology.kind == crate::topology::Kind::Cluster).then_some(&s.watch),
                r.node_timeout_ms,
                r.worst_rank,
            )
        })
        .collect();

    let locks = s.locks.as_ref().map(checker::locks::check);
    let (convergence_seen_ms, convergence_doubt) = convergence_seen(r, &s.watch);
    let figures = slo::Figures {
        checks: &checks,
        workload: &workload,
        downtime: &downtime,
        convergence_ms: r.convergence_ms,
        convergence_doubt,
        reshard: r.reshard.as_ref(),
        faults: &faults,
        history_incomplete: history_incomplete(&r.engine),
        watch_incomplete: (!s.watch.truncated.is_empty()).then(|| {
            format!(
                "the watcher's recording of {} stopped at its size limit",
                s.watch.truncated.join(", ")
            )
        }),
        locks: locks.as_ref(),
    };
    // A run stored before an SLO was renamed is checked under its new name.
    let limits: BTreeMap<String, f64> = r
        .slo
        .iter()
        .map(|(name, &limit)| {
            let name = slo::renamed(name).unwrap_or(name);
            (name.to_string(), limit)
        })
        .collect();
    let mut slo = report::evaluate_slos(&limits, |name| figures.of(name), slo::bound_of);
    for (region, limits) in &r.slo_by_region {
        let at = slo::InRegion {
            region,
            clients: client_regions.iter().find(|g| &g.region == region),
            readers: (checks.stampede.iter())
                .flat_map(|s| &s.by_region)
                .find(|g| &g.region == region),
        };
        let mut by_region =
            report::evaluate_slos(limits, |name| figures.of_region(at, name), slo::bound_of);
        for s in &mut by_region {
            s.name = slo::region_slo_name(&s.name, region);
        }
        slo.extend(by_region);
    }
    // A run held to nothing shows nothing: no verdict but `unknown`.
    if r.slo.is_empty() && r.slo_by_region.is_empty() {
        slo.push(report::SloResult {
            name: "slo".into(),
            limit: 0.0,
            bound: report::Bound::AtMost,
            value: None,
            result: Verdict::Unknown,
            note: Some(
                "the scenario set no SLO: the run is held to nothing, so it passes nothing".into(),
            ),
        });
    }
    // A cluster that fails its own check at the end fails the run, SLO or not.
    if !checks.cluster_check_ok {
        slo.push(report::SloResult {
            name: "cluster_check".into(),
            limit: 0.0,
            bound: report::Bound::AtMost,
            value: Some(1.0),
            result: Verdict::Fail,
            note: Some("the cluster failed its own check at the end".into()),
        });
    }
    // A fault that did not hit when the scenario asked: the drill did not
    // do what it says.
    for w in &r.faults {
        if let Some(why) = &w.mistimed {
            slo.push(report::SloResult {
                name: "fault_timing".into(),
                limit: 0.0,
                bound: report::Bound::AtMost,
                value: Some(1.0),
                result: Verdict::Fail,
                note: Some(format!("{} {}: {why}", w.fault, w.target)),
            });
        }
    }
    // A fault the runtime could not perform: the drill ran, but not the
    // drill it says, so it passes nothing.
    let skipped: Vec<String> = r
        .faults
        .iter()
        .filter_map(|w| {
            let why = w.skipped.as_ref()?;
            Some(format!("{} {}: not performed: {why}", w.fault, w.target))
        })
        .collect();
    if !skipped.is_empty() {
        slo.push(report::SloResult {
            name: "faults_performed".into(),
            limit: 0.0,
            bound: report::Bound::AtMost,
            value: Some(skipped.len() as f64),
            result: Verdict::Unknown,
            note: Some(format!(
                "{} of {} fault(s) could not be performed here, so the drill ran without them: {}",
                skipped.len(),
                r.faults.len(),
                skipped.join("; ")
            )),
        });
    }
    let verdict = Report::verdict_from(&slo);
    let expected = r.expect.as_ref().map(|e| report::expectation(e, &slo));
    let ping_p99 = checker::ping_p99_per_second(&s.pings);
    let app_seconds = checker::client_seconds(app.iter().copied());
    let probe_seconds = checker::client_seconds(probe.iter().copied());
    Report {
        format_version: report::FORMAT_VERSION,
        scenario: r.scenario.clone(),
        seed: r.seed,
        started_at: r.started_at.clone(),
        epoch_monotonic_ns: Some(r.epoch_monotonic_ns),
        environment: r.environment.clone(),
        topology: r.topology.clone(),
        topology_after: Some(r.topology_after.clone()),
        phases: r
            .phases
            .iter()
            .map(|p| PhaseMs {
                name: p.name.clone(),
                start_ms: ms(p.start_ns),
                end_ms: ms(p.end_ns),
            })
            .collect(),
        events: events(r)
            .iter()
            .map(|e| EventMs {
                at_ms: ms(e.at_ns),
                kind: e.kind.clone(),
                detail: e.detail.clone(),
            })
            .collect(),
        workload,
        downtime_ms: downtime,
        convergence_ms: r.convergence_ms,
        convergence_seen_ms,
        reshard: r.reshard.clone(),
        checks,
        slo,
        verdict,
        expected,
        per_second: checker::per_second(history.iter())
            .into_iter()
            .map(|sec| {
                let (from, to) = (sec.t_s * 1_000_000_000, (sec.t_s + 1) * 1_000_000_000);
                report::Second {
                    ping_p99_ms: ping_p99.get(&sec.t_s).copied(),
                    // A second in the run without one class's ops: none of theirs ran.
                    app: Some(app_seconds.get(&sec.t_s).copied().unwrap_or_default()),
                    probe: Some(probe_seconds.get(&sec.t_s).copied().unwrap_or_default()),
                    faults: r
                        .faults
                        .iter()
                        .enumerate()
                        .filter(|(_, w)| w.start_ns < to && w.undone_ns.unwrap_or(r.end_ns) >= from)
                        .map(|(i, _)| i)
                        .collect(),
                    ..sec
                }
            })
            .collect(),
        locks,
        reference: (r.reference_ping_ms > 0).then(|| ReferenceSummary {
            interval_ms: r.reference_ping_ms,
            ping_ms: checker::pings_by_phase(&s.pings, &r.phases),
            server: r.server.clone(),
        }),
        faults,
        links: r.links.iter().map(link_report).collect(),
        client_regions,
    }
}

/// Where each replica of the run sits, and the link its primary's writes
/// cross to reach it (as declared: the physical floor of its lag).
fn replica_places(r: &Record) -> Vec<checker::replication::ReplicaPlace> {
    let nodes = &r.topology.nodes;
    nodes
        .iter()
        .filter_map(|n| {
            let primary = nodes
                .iter()
                .find(|p| Some(&p.name) == n.replica_of.as_ref())?;
            let link = r
                .links
                .iter()
                .map(|l| &l.link)
                .find(|l| l.joins(&primary.region, &n.region));
            Some(checker::replication::ReplicaPlace {
                replica: n.name.clone(),
                region: n.region.clone(),
                primary: primary.name.clone(),
                primary_region: primary.region.clone(),
                one_way_ms: link.map_or(0.0, |l| l.delay_ms),
                jitter_ms: link.map_or(0.0, |l| l.jitter_ms),
            })
        })
        .collect()
}

/// How far a link's median round trip may be from the declared one: 10 %,
/// as the issue asks, but at least 1 ms (a link of a few ms would otherwise
/// be judged on the relay's own 0.1 ms and the scheduler's wake-ups).
const LINK_TOLERANCE: f64 = 0.10;
const LINK_TOLERANCE_MIN_MS: f64 = 1.0;

/// A link's measured round trips against its declared one. Below the
/// declared round trip less twice the jitter is physically impossible
/// through the relay: a PING that fast means it did not cross the link.
pub(crate) fn link_report(s: &LinkSample) -> LinkReport {
    let declared = 2.0 * s.link.delay_ms;
    let mut rtt = s.rtt_ms.clone();
    rtt.sort_by(f64::total_cmp);
    let q = |p: f64| (!rtt.is_empty()).then(|| rtt[((rtt.len() - 1) as f64 * p).round() as usize]);
    let (p50, p99, min) = (q(0.5), q(0.99), rtt.first().copied());
    let tolerance = (declared * LINK_TOLERANCE).max(LINK_TOLERANCE_MIN_MS);
    let floor = declared - 2.0 * s.link.jitter_ms;
    let (check, note) = match (p50, min) {
        (Some(p50), Some(min)) => {
            let near = (p50 - declared).abs() <= tolerance;
            let above = min >= floor;
            let verdict = if near && above {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            let mut note = format!(
                "p50 {p50:.1} ms {} {declared:.0} ms ± {tolerance:.1} ms; min {min:.1} ms {} the floor {floor:.1} ms",
                if near { "within" } else { "outside" },
                if above { "at or above" } else { "below" },
            );
            if let Some(e) = &s.error {
                note.push_str(&format!(" (stopped after {} PINGs: {e})", rtt.len()));
            }
            (verdict, note)
        }
        _ => (
            Verdict::Unknown,
            format!(
                "not measured: {}",
                s.error.as_deref().unwrap_or("no PING was answered")
            ),
        ),
    };
    LinkReport {
        link: s.link.label(),
        declared_rtt_ms: declared,
        jitter_ms: s.link.jitter_ms,
        loss_pct: s.link.loss_pct,
        from: s.from.clone(),
        to: s.to.clone(),
        pings: rtt.len(),
        p50_ms: p50,
        p99_ms: p99,
        min_ms: min,
        check,
        note,
    }
}

/// What the clients of each region saw (`workload.regions`): client i is
/// in `r.client_regions[i mod n]`.
fn client_regions(
    r: &Record,
    history: &[Op],
    lost: &checker::LostWrites,
    stale: Option<&[checker::stale::StaleRead]>,
    cuts: &Cuts,
) -> Vec<ClientRegion> {
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
            let views = [
                ("app", cuts.view(app.iter().copied(), "app ops")),
                (
                    "writes",
                    cuts.view(app.iter().copied().filter(|o| o.is_write()), "app writes"),
                ),
                ("probe", cuts.view(probe.iter().copied(), "probe ops")),
            ];
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

/// The drill's convergence held against the watcher's recording: the
/// watcher's view of the moment (ms after the action), and why the drill's
/// own figure cannot be trusted, when the recording contradicts it.
pub(crate) fn convergence_seen(
    r: &Record,
    watch: &crate::record::watch::Recording,
) -> (Option<f64>, Option<String>) {
    let (Some(measured), Some(recovery)) = (
        r.convergence_ms,
        r.phases.iter().find(|p| p.name == "recovery"),
    ) else {
        return (None, None);
    };
    if r.topology.kind != crate::topology::Kind::Cluster {
        return (None, None);
    }
    if watch.samples.is_empty() {
        return (
            None,
            Some(format!(
                "the drill measured {measured:.1} ms, but the watcher's recording is empty: nothing shows the nodes agreeing"
            )),
        );
    }
    let from = recovery.start_ns;
    // Nodes a fault took away and nothing brought back before the wait
    // began: the drill's wait leaves them out too.
    let left_out: std::collections::BTreeSet<&str> = (r.faults.iter())
        .filter(|f| f.fault.takes_node_away() && f.undone_ns.is_none_or(|u| u > from))
        .flat_map(|f| f.nodes.iter().map(String::as_str))
        .collect();
    let seen = checker::failover::agreed_at(watch, from, &left_out).map(|at| ms(at - from));
    // The watcher sees a change at most an interval and a poll's round trip
    // after it happened; twice the interval covers a poll that just missed it.
    let rtt = (watch.samples.iter())
        .filter(|s| s.sent_ns >= from)
        .map(|s| s.at_ns - s.sent_ns)
        .max()
        .unwrap_or(0);
    let slack = ms(2 * watch.interval_ns + rtt);
    let doubt = match seen {
        None => Some(format!(
            "the drill measured {measured:.1} ms, but the watcher's recording never shows every node that is up agreeing on the slot map after the action"
        )),
        Some(s) if s > measured + slack => Some(format!(
            "the drill measured {measured:.1} ms, but the watcher's recording shows the nodes agreeing only {s:.1} ms after the action (more than its {slack:.1} ms of polling slack later)"
        )),
        Some(_) => None,
    };
    (seen, doubt)
}

/// How downtime is cut up: each slot's shard (its owner when the drill
/// began) and, for the slots that changed hands, its group; and which of
/// them hold keys of the drill, so must have been reached for a view to
/// be measured.
struct Cuts {
    shard_names: Vec<String>,
    groups: Vec<Option<String>>,
    keyed_shards: BTreeSet<String>,
    keyed_groups: BTreeSet<String>,
}

/// One view of downtime (a kind of client, its writes, a region's): the
/// windows per shard and per moved group, the longest of all, and why it
/// cannot be trusted when it cannot.
struct View {
    shards: checker::Downtime,
    groups: checker::Downtime,
    max_ms: f64,
    unknown: Option<String>,
}

impl Cuts {
    fn new(r: &Record, keys: &[crate::record::KeyValues]) -> Cuts {
        let mut shard_names =
            vec![String::from("unassigned"); usize::from(crate::slots::SLOT_COUNT)];
        for range in &r.slot_owners {
            for slot in range.from..=range.to {
                if let Some(s) = shard_names.get_mut(usize::from(slot)) {
                    s.clone_from(&range.node);
                }
            }
        }
        let groups = moved_groups(r, &shard_names);
        let mut keyed_shards = BTreeSet::new();
        let mut keyed_groups = BTreeSet::new();
        for k in keys {
            let slot = usize::from(crate::slots::key_slot(k.key.as_bytes()));
            keyed_shards.insert(shard_names[slot].clone());
            if let Some(g) = &groups[slot] {
                keyed_groups.insert(g.clone());
            }
        }
        Cuts {
            shard_names,
            groups,
            keyed_shards,
            keyed_groups,
        }
    }

    fn shard_of(&self, slot: u16) -> String {
        self.shard_names[usize::from(slot)].clone()
    }

    /// The view of `ops`, by `who` (`app ops`, `probe ops`, `app writes`).
    fn view<'a>(&self, ops: impl Iterator<Item = &'a Op> + Clone, who: &str) -> View {
        let shards = checker::downtime(ops.clone(), |s| self.shard_of(s));
        let groups =
            checker::downtime_of_groups(ops.clone(), |s| self.groups[usize::from(s)].clone());
        let max_ms = shards.max_ms.max(groups.max_ms);
        let mut unreached: Vec<&str> = (self.keyed_shards.iter())
            .filter(|s| !shards.per_shard.contains_key(*s))
            .chain(
                self.keyed_groups
                    .iter()
                    .filter(|g| !groups.per_shard.contains_key(*g)),
            )
            .map(String::as_str)
            .collect();
        unreached.sort_unstable();
        let unknown = if ops.clone().next().is_none() {
            Some(format!("no {who} were recorded"))
        } else if !unreached.is_empty() {
            Some(format!(
                "no {who} reached {}, which hold{} keys of the drill: an outage there would not show",
                unreached.join(", "),
                if unreached.len() == 1 { "s" } else { "" }
            ))
        } else {
            None
        };
        View {
            shards,
            groups,
            max_ms,
            unknown,
        }
    }
}

/// Which of the lost-write, counter and key-count figures the run could not
/// measure, and why.
fn checks_unknown(
    lost: &checker::LostWrites,
    counters: &checker::Counters,
    r: &Record,
) -> BTreeMap<String, String> {
    let mut unknown = BTreeMap::new();
    let lost_why = if lost.keys_checked == 0 && lost.keys_unread == 0 {
        Some("the drill loaded, wrote and read no key to read back".to_string())
    } else if lost.keys_unread > 0 {
        Some(format!(
            "{} of the {} keys the drill loaded, wrote or read were not read back at the end: a write to them may be lost unseen",
            lost.keys_unread,
            lost.keys_unread + lost.keys_checked
        ))
    } else {
        None
    };
    if let Some(why) = lost_why {
        unknown.insert("lost_writes".to_string(), why);
    }
    if counters.keys_unread > 0 {
        unknown.insert(
            "counters".to_string(),
            format!(
                "{} of the {} counters were not read back at the end",
                counters.keys_unread,
                counters.keys_unread + counters.keys_checked
            ),
        );
    }
    let unreadable: Vec<String> = [
        ("before the drill", &r.topology),
        ("after it", &r.topology_after),
    ]
    .into_iter()
    .flat_map(|(when, t)| {
        (t.nodes.iter())
            .filter(|n| n.role == Some(crate::topology::Role::Primary) && n.keys.is_none())
            .map(move |n| format!("{} {when}", n.name))
    })
    .collect();
    let no_primary = [&r.topology, &r.topology_after].iter().any(|t| {
        !t.nodes
            .iter()
            .any(|n| n.role == Some(crate::topology::Role::Primary))
    });
    if !unreadable.is_empty() {
        unknown.insert(
            "keys_missing".to_string(),
            format!("the keys of {} could not be counted", unreadable.join(", ")),
        );
    } else if no_primary {
        unknown.insert(
            "keys_missing".to_string(),
            "no primary could be read before or after the drill".to_string(),
        );
    }
    unknown
}

/// Each group's longest window, ms.
fn ms_of(d: &checker::Downtime) -> BTreeMap<String, f64> {
    d.per_shard.iter().map(|(k, w)| (k.clone(), w.ms)).collect()
}

/// The group of each slot of a shard that was split: the slots whose
/// hands differed along the drill — the owners at its start
/// (`shard_names`), when each fault hit (`faults[].slot_owners`), at its
/// end (the primaries of `topology_after`) — are judged apart, since the
/// successes of one part must not close the other's outage. A group is
/// named by its chain of owners (`s1n1→s2n1→s2n2`: given to s2n1, which
/// was killed, then served by its promoted replica), or `s1n1 (kept)` for
/// the slots that never left. `None` for the slots of a shard that stayed
/// or moved whole (a failover: its shard's windows are that group's).
fn moved_groups(r: &Record, shard_names: &[String]) -> Vec<Option<String>> {
    let slots = shard_names.len();
    let owners_of = |ranges: &mut dyn Iterator<Item = (u16, u16, &str)>| {
        let mut owner: Vec<Option<String>> = vec![None; slots];
        for (from, to, node) in ranges {
            for slot in from..=to {
                if let Some(o) = owner.get_mut(usize::from(slot)) {
                    *o = Some(node.to_string());
                }
            }
        }
        owner
    };
    let mut stages: Vec<Vec<Option<String>>> = Vec::new();
    for f in r.faults.iter().filter(|f| !f.slot_owners.is_empty()) {
        stages.push(owners_of(
            &mut f
                .slot_owners
                .iter()
                .map(|o| (o.from, o.to, o.node.as_str())),
        ));
    }
    stages.push(owners_of(
        &mut (r.topology_after.nodes.iter())
            .filter(|n| n.role == Some(crate::topology::Role::Primary))
            .flat_map(|n| {
                (n.slot_ranges.iter())
                    .filter_map(|s| s.parse::<crate::slots::SlotRange>().ok())
                    .map(move |range| (range.start, range.end, n.name.as_str()))
            }),
    ));
    // Each slot's chain of distinct owners (an owner not known at a stage
    // adds nothing).
    let chains: Vec<Vec<&str>> = (0..slots)
        .map(|slot| {
            let mut chain = vec![shard_names[slot].as_str()];
            for stage in &stages {
                if let Some(o) = &stage[slot]
                    && chain.last() != Some(&o.as_str())
                {
                    chain.push(o);
                }
            }
            chain
        })
        .collect();
    // The shards whose slots went more than one way: each way is a group.
    let mut ways: BTreeMap<&str, BTreeSet<&[&str]>> = BTreeMap::new();
    for chain in &chains {
        ways.entry(chain[0]).or_default().insert(chain.as_slice());
    }
    chains
        .iter()
        .map(|chain| {
            (ways[chain[0]].len() > 1).then(|| match chain.len() {
                1 => format!("{} (kept)", chain[0]),
                _ => chain.join("→"),
            })
        })
        .collect()
}

/// Why the history lacks ops the clients ran, if it does.
fn history_incomplete(e: &WorkloadStats) -> Option<String> {
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

/// The drill's events and each fault's (applied, undone), in time order.
fn events(r: &Record) -> Vec<Event> {
    let mut events = r.events.clone();
    for w in &r.faults {
        events.push(Event {
            at_ns: w.start_ns,
            kind: w.fault.to_string(),
            detail: format!("{} [{}] {}", w.target, w.nodes.join(" "), w.detail)
                .trim_end()
                .to_string(),
        });
        if let (Some(u), Some(at)) = (w.undo, w.undone_ns) {
            events.push(Event {
                at_ns: at,
                kind: u.to_string(),
                detail: format!("after {} {}", w.fault, w.target),
            });
        }
    }
    events.sort_by_key(|e| e.at_ns);
    events
}

/// One kind of client's figures: counts, errors, and timing by phase.
fn summarize(ops: &[&Op], clients: u32, phases: &[Phase]) -> ClientSummary {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_split_by_the_chain_of_its_slots_owners() {
        let mut r = record(serde_json::json!([]));
        let status = |nodes: serde_json::Value| -> crate::record::status::StatusReport {
            serde_json::from_value(serde_json::json!({"name": "t", "run_id": "r",
                "runtime": "process", "kind": "cluster", "nodes": nodes, "cluster": null}))
            .unwrap()
        };
        let node = |name: &str, ranges: &[&str]| {
            serde_json::json!({"name": name, "role": "primary", "region": "default",
                "address": "127.0.0.1:1", "announce": "127.0.0.1:1", "slots": 1,
                "slot_ranges": ranges, "keys": 0, "used_memory_bytes": 0})
        };
        // 3000 of s1n1's slots go to s2n1; s2n1 is killed after 500 of them
        // moved, and its replica s2n2 takes them all in the end.
        r.topology_after = status(serde_json::json!([
            node("s1n1", &["3000-5460"]),
            node("s2n2", &["0-2999", "5461-10922"]),
            node("s3n1", &["10923-16383"]),
        ]));
        let owned = |from, to, node: &str| crate::record::OwnedRange {
            from,
            to,
            node: node.into(),
        };
        r.faults = serde_json::from_value(serde_json::json!([{"fault": "kill",
            "target": "s2n1", "nodes": ["s2n1"], "primaries": ["s2n1"], "detail": "",
            "start_ns": 10, "applied_ns": 20, "undo": null, "undo_start_ns": null,
            "undone_ns": null, "promoted_ms": null}]))
        .unwrap();
        r.faults[0].slot_owners = vec![
            owned(0, 499, "s2n1"),
            owned(500, 5460, "s1n1"),
            owned(5461, 10922, "s2n1"),
            owned(10923, 16383, "s3n1"),
        ];
        let names: Vec<String> = (0..16384u16)
            .map(|s| match s {
                0..=5460 => "s1n1",
                5461..=10922 => "s2n1",
                _ => "s3n1",
            })
            .map(String::from)
            .collect();
        let g = moved_groups(&r, &names);
        assert_eq!(g[0].as_deref(), Some("s1n1→s2n1→s2n2"));
        assert_eq!(g[499].as_deref(), Some("s1n1→s2n1→s2n2"));
        assert_eq!(g[500].as_deref(), Some("s1n1→s2n2"));
        assert_eq!(g[3000].as_deref(), Some("s1n1 (kept)"));
        // s2n1's own slots moved whole to s2n2 (a failover), s3n1's stayed.
        assert_eq!(g[6000], None);
        assert_eq!(g[12000], None);
    }
    use crate::record::locks::{LOCKS_FILE, LockRecording};
    use crate::record::run::{KeyValues, RECORD_VERSION};
    use crate::record::stampede::StampedeRecording;
    use crate::record::watch;

    /// A minimal record: one phase, no ops, `max_lost_writes: 0` (an SLO's
    /// old name, as a run stored before the rename has it).
    fn record(faults: serde_json::Value) -> Record {
        let topology = serde_json::json!({"name": "t", "run_id": "r", "runtime": "process",
            "kind": "cluster", "nodes": [], "cluster": null});
        serde_json::from_value(serde_json::json!({
            "record_version": RECORD_VERSION, "scenario": "t", "slo": {"max_lost_writes": 0.0},
            "seed": 1, "started_at": "2026-11-22T00:00:00Z", "epoch_monotonic_ns": 0,
            "environment": {"runtime": "process", "redis_version": "7.0.15", "image": "",
                "host_cores": 2, "client_path": "host loopback", "redis_drill_version": "0"},
            "app_clients": 1, "probe_clients": 0, "max_tool_lag_ms": 1.0, "reference_ping_ms": 0,
            "node_timeout_ms": 2000, "worst_rank": 0, "topology": topology,
            "topology_after": topology, "slot_owners": [],
            "phases": [{"name": "baseline", "start_ns": 0, "end_ns": 1000}],
            "events": [], "faults": faults, "reshard": null, "convergence_ms": 0.0,
            "end_ns": 1000, "engine": WorkloadStats::default(), "server": {},
            "cluster_check_ok": true, "cluster_check": [], "stray_keys": 0
        }))
        .expect("a valid record")
    }

    /// `record` with no op and one key, read back as it was loaded: its
    /// lost-write figures are measured (0).
    fn stored(record: Record) -> Stored {
        Stored {
            record,
            history: Vec::new(),
            pings: Vec::new(),
            watch: watch::Recording::default(),
            keys: vec![KeyValues {
                key: "drill:0".into(),
                initial: "v".into(),
                final_value: Some("v".into()),
            }],
            locks: None,
            keyspace: Vec::new(),
            replication: None,
            stampede: None,
        }
    }

    #[test]
    fn a_link_passes_near_its_declared_round_trip_and_never_below_it() {
        let sample = |delay_ms: f64, rtt_ms: Vec<f64>, error: Option<&str>| LinkSample {
            link: crate::topology::Link {
                between: ["eu".into(), "us".into()],
                delay_ms,
                jitter_ms: 0.0,
                loss_pct: 0.0,
                rate_mbit: None,
            },
            from: "n1".into(),
            to: "n2".into(),
            rtt_ms,
            error: error.map(str::to_string),
        };
        let ok = link_report(&sample(40.0, vec![82.0, 81.0, 83.0, 90.0], None));
        assert_eq!(ok.check, Verdict::Pass, "{}", ok.note);
        assert_eq!((ok.declared_rtt_ms, ok.pings), (80.0, 4));
        assert_eq!(
            (ok.p50_ms, ok.min_ms, ok.p99_ms),
            (Some(83.0), Some(81.0), Some(90.0))
        );
        // Too slow at the median.
        let slow = link_report(&sample(40.0, vec![95.0, 96.0, 97.0], None));
        assert_eq!(slow.check, Verdict::Fail, "{}", slow.note);
        assert!(slow.note.contains("outside"), "{}", slow.note);
        // One PING faster than the link allows: it did not cross it.
        let short = link_report(&sample(40.0, vec![0.1, 81.0, 82.0], None));
        assert_eq!(short.check, Verdict::Fail, "{}", short.note);
        assert!(short.note.contains("below the floor"), "{}", short.note);
        // Nothing measured: unknown, and why.
        let none = link_report(&sample(40.0, vec![], Some("connecting took over 10s")));
        assert_eq!(none.check, Verdict::Unknown);
        assert_eq!(none.note, "not measured: connecting took over 10s");
        // A small link is judged within 1 ms, not 10 %.
        let small = link_report(&sample(1.0, vec![2.6, 2.7], None));
        assert_eq!(small.check, Verdict::Pass, "{}", small.note);
    }

    #[test]
    fn each_regions_clients_are_judged_apart_and_the_worst_region_is_the_downtime() {
        use crate::checker::fixture;
        let mut r = record(serde_json::json!([]));
        r.phases[0].end_ns = 2_000_000_000;
        r.end_ns = 2_000_000_000;
        r.app_clients = 2;
        r.client_regions = vec!["eu".into(), "us".into()];
        let at = |client: u32, op: Op| Op {
            client,
            mode: ClientMode::App,
            ..op
        };
        let timeout = crate::record::ops::Outcome::Indeterminate {
            message: "timed out".into(),
        };
        let mut history = Vec::new();
        // us (client 1) succeeds every 50 ms throughout; eu (client 0)
        // fails from 100 to 600 ms.
        for t in (0..1000).step_by(50) {
            history.push(at(1, fixture::get("k", t, t + 1)));
            let mut eu = at(0, fixture::get("k", t + 10, t + 11));
            if (100..600).contains(&t) {
                eu.outcome = timeout.clone();
            }
            history.push(eu);
        }
        // us writes b, then eu's later write of a is acknowledged and lost.
        history.push(at(1, fixture::set("k", "b", 700, 701)));
        history.push(at(0, fixture::set("k", "a", 800, 801)));
        history.sort_by_key(|o| o.due_ns);
        let mut st = stored(r);
        st.history = history;
        st.keys = vec![KeyValues {
            key: "k".into(),
            initial: "x".into(),
            final_value: Some("b".into()),
        }];
        let report = check(&st);
        let [eu, us] = &report.client_regions[..] else {
            panic!("{:?}", report.client_regions.len());
        };
        assert_eq!((eu.region.as_str(), us.region.as_str()), ("eu", "us"));
        assert_eq!((eu.app.clients, us.app.clients), (1, 1));
        // eu: from its last success (60 ms) to its first after (610 ms).
        assert!(
            (549.0..=551.0).contains(&eu.downtime_ms),
            "{}",
            eu.downtime_ms
        );
        assert_eq!(us.downtime_ms, 0.0);
        assert_eq!(
            (eu.lost_acknowledged_writes, us.lost_acknowledged_writes),
            (1, 0)
        );
        // Over every client at once, us's successes close eu's outage; the
        // figure the SLOs read is eu's.
        assert_eq!(report.downtime_ms.max, eu.downtime_ms);
    }

    #[test]
    fn each_regions_writes_split_by_wait_and_its_stale_reads() {
        use crate::checker::fixture;
        let mut r = record(serde_json::json!([]));
        r.client_regions = vec!["eu".into(), "us".into()];
        let at = |client: u32, op: Op| Op {
            client,
            mode: ClientMode::App,
            ..op
        };
        let waited = |op: Op| Op {
            replicas: Some(1),
            ..op
        };
        let read = |client: u32, value: &str, t: u64| Op {
            value: Some(value.into()),
            ..at(client, fixture::get("k", t, t + 1))
        };
        let history = vec![
            // eu (client 0) writes next to the primary: 1 ms, 81 ms with WAIT.
            at(0, fixture::set("k", "c0-1-", 0, 1)),
            waited(at(0, fixture::set("k", "c0-2-", 10, 91))),
            // us (client 1): 80 ms away, 160 ms with WAIT.
            at(1, fixture::set("j", "c1-1-", 100, 180)),
            waited(at(1, fixture::set("j", "c1-2-", 200, 360))),
            // eu reads the newest value; us reads one superseded 400 ms
            // earlier (c0-2- ended at 91), then the newest.
            read(0, "c0-2-", 400),
            read(1, "c0-1-", 491),
            read(1, "c0-2-", 600),
        ];
        let mut st = stored(r);
        st.history = history;
        let report = check(&st);
        let [eu, us] = &report.client_regions[..] else {
            panic!("{:?}", report.client_regions.len());
        };
        let p50 = |l: &crate::checker::Latency| (l.count, l.p50.round());
        assert_eq!(p50(&eu.writes_ms), (1, 1.0));
        assert_eq!(p50(eu.writes_with_wait_ms.as_ref().unwrap()), (1, 81.0));
        assert_eq!(p50(&us.writes_ms), (1, 80.0));
        assert_eq!(p50(us.writes_with_wait_ms.as_ref().unwrap()), (1, 160.0));
        let (eu_st, us_st) = (eu.stale.as_ref().unwrap(), us.stale.as_ref().unwrap());
        assert_eq!((eu_st.reads, eu_st.stale_reads), (1, 0));
        assert_eq!((us_st.reads, us_st.stale_reads), (2, 1));
        assert_eq!(us_st.staleness_ms.max.round(), 400.0);

        // SLOs by region read each region's own figures: us's stale read
        // fails its bound, eu's pass, and the run fails with it.
        let mut r = st.record.clone();
        r.slo_by_region = [
            (
                "eu".to_string(),
                [("max_stale_reads".to_string(), 0.0)].into(),
            ),
            (
                "us".to_string(),
                [
                    ("max_stale_reads".to_string(), 0.0),
                    ("max_staleness_ms".to_string(), 500.0),
                ]
                .into(),
            ),
        ]
        .into();
        st.record = r;
        let report = check(&st);
        let result = |name: &str| {
            let s = report.slo.iter().find(|s| s.name == name).unwrap();
            (s.value, s.result)
        };
        assert_eq!(result("max_stale_reads[eu]"), (Some(0.0), Verdict::Pass));
        assert_eq!(result("max_stale_reads[us]"), (Some(1.0), Verdict::Fail));
        assert_eq!(result("max_staleness_ms[us]").1, Verdict::Pass);
        assert_eq!(report.verdict, Verdict::Fail);
    }

    #[test]
    fn stampede_readers_in_a_region_are_held_to_their_own_slos() {
        use crate::record::stampede::{Read, ReadOutcome, StampedeSpec};
        const MS: u64 = 1_000_000;
        let read = |reader: u32, at: u64, took: u64, outcome: ReadOutcome| Read {
            reader,
            key: 0,
            start_ns: at * MS,
            end_ns: (at + took) * MS,
            outcome,
            polls: 0,
            errors: 0,
        };
        let hit = || ReadOutcome::Hit {
            value: "v|0".into(),
        };
        let spec = StampedeSpec {
            readers: 2,
            regions: vec!["eu".into(), "ap".into()],
            ..Default::default()
        };
        // eu (reader 0) is served in 1 ms; ap (reader 1) in 150 ms, and
        // one of its reads fails.
        let mut reads: Vec<Read> = (0..20).map(|i| read(0, i * 10, 1, hit())).collect();
        reads.extend((0..20).map(|i| read(1, i * 10, 150, hit())));
        reads.push(read(
            1,
            300,
            2000,
            ReadOutcome::Failed {
                message: "timeout".into(),
            },
        ));
        let mut st = stored(record(serde_json::json!([])));
        st.stampede = Some(StampedeRecording {
            spec: Some(spec),
            slot: 0,
            reads,
            computes: Vec::new(),
            unrecorded: 0,
        });
        let limits = |p99: f64| -> BTreeMap<String, f64> {
            [
                ("max_stampede_serve_p99_ms".to_string(), p99),
                ("max_failed_reads".to_string(), 0.0),
                ("max_p99_during_ms".to_string(), 10.0),
            ]
            .into()
        };
        st.record.slo_by_region = [
            ("eu".to_string(), limits(10.0)),
            ("ap".to_string(), limits(100.0)),
        ]
        .into();
        let report = check(&st);
        let result = |name: &str| {
            let s = report.slo.iter().find(|s| s.name == name).unwrap();
            (s.value, s.result)
        };
        assert_eq!(
            result("max_stampede_serve_p99_ms[eu]"),
            (Some(1.0), Verdict::Pass)
        );
        assert_eq!(result("max_failed_reads[eu]"), (Some(0.0), Verdict::Pass));
        assert_eq!(
            result("max_stampede_serve_p99_ms[ap]"),
            (Some(150.0), Verdict::Fail)
        );
        assert_eq!(result("max_failed_reads[ap]"), (Some(1.0), Verdict::Fail));
        // No key/value clients in eu: their SLO there is not known, not passed.
        assert_eq!(result("max_p99_during_ms[eu]"), (None, Verdict::Unknown));
    }

    #[test]
    fn a_fault_that_missed_its_moment_fails_the_run() {
        let window = |mistimed: Option<&str>| {
            serde_json::json!([{"fault": "kill", "target": "primary_of:0", "nodes": ["s1n1"],
                "primaries": [], "detail": "", "start_ns": 10, "applied_ns": 20, "undo": null,
                "undo_start_ns": null, "undone_ns": null, "promoted_ms": null,
                "mistimed": mistimed}])
        };
        let on_time = check(&stored(record(window(None))));
        assert_eq!(on_time.verdict, Verdict::Pass, "{:?}", on_time.slo);
        let late = check(&stored(record(window(Some("the reshard ended first")))));
        assert_eq!(late.verdict, Verdict::Fail);
        let timing = late.slo.iter().find(|s| s.name == "fault_timing").unwrap();
        assert!(
            timing
                .note
                .as_deref()
                .unwrap()
                .contains("the reshard ended first")
        );
        // Its events: the fault, merged into the drill's.
        assert_eq!(late.events[0].kind, "kill");
    }

    #[test]
    fn a_fault_the_runtime_could_not_perform_makes_the_run_unknown() {
        let window = |skipped: Option<&str>, mistimed: Option<&str>| {
            serde_json::json!([{"fault": "partition", "target": "isolate", "nodes": ["s1n1"],
                "primaries": [], "detail": "", "start_ns": 10, "applied_ns": 20, "undo": null,
                "undo_start_ns": null, "undone_ns": null, "promoted_ms": null,
                "mistimed": mistimed, "skipped": skipped}])
        };
        let done = check(&stored(record(window(None, None))));
        assert_eq!(done.verdict, Verdict::Pass, "{:?}", done.slo);
        assert!(done.faults[0].skipped.is_none());
        let r = check(&stored(record(window(Some("needs root"), None))));
        assert_eq!(r.verdict, Verdict::Unknown, "{:?}", r.slo);
        let s = r.slo.iter().find(|s| s.name == "faults_performed").unwrap();
        let note = s.note.as_deref().unwrap();
        assert!(
            note.contains("partition isolate: not performed: needs root"),
            "{note}"
        );
        assert_eq!(r.faults[0].skipped.as_deref(), Some("needs root"));
        // A failure elsewhere still fails the run.
        let both = check(&stored(record(window(Some("needs root"), Some("late")))));
        assert_eq!(both.verdict, Verdict::Fail);
    }

    #[test]
    fn a_run_stored_under_an_old_slo_name_is_checked_under_the_new_one() {
        let r = check(&stored(record(serde_json::json!([]))));
        let names: Vec<&str> = r.slo.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["max_lost_keys"]);
        assert_eq!(r.slo[0].result, Verdict::Pass);
    }

    /// A run with a lock workload keeps its history in `locks.jsonl`; the
    /// report's `locks` section and the lock SLOs come from it.
    #[test]
    fn a_lock_history_is_stored_checked_and_judged() {
        use crate::record::locks::{Algorithm, Grant, LockEnd, LockEvent, LockSetup};
        let grant = |worker: u32, end_ns: u64| {
            LockEvent::Grant(Grant {
                worker,
                lock: 0,
                acquisition: 0,
                token: format!("w{worker}"),
                fence: u64::from(worker) + 1,
                start_ns: end_ns - 1_000_000,
                end_ns,
                attempt_start_ns: end_ns - 1_000_000,
                validity_ns: 90_000_000,
                attempts: 1,
                granted_on: vec!["n1".into()],
            })
        };
        let mut s = stored(record(serde_json::json!([])));
        s.record.slo = BTreeMap::from([
            ("max_lock_violations".to_string(), 0.0),
            ("min_grants_per_s".to_string(), 1.0),
        ]);
        s.locks = Some(LockRecording {
            setup: LockSetup {
                algorithm: Algorithm::Single,
                instances: vec!["n1".into()],
                quorum: 1,
                workers: 2,
                locks: 1,
                ttl_ms: 100,
                drift_ms: 3.0,
                instance_timeout_ms: 10,
                check_validity: true,
                extend: false,
                resources: vec![],
                wait: None,
                seed: 1,
                started_ns: 0,
                regions: Vec::new(),
            },
            // Both hold lock 0 from 11 ms: one violation.
            events: vec![grant(0, 10_000_000), grant(1, 11_000_000)],
            end: LockEnd {
                stopped_ns: 1_000_000_000,
                ..Default::default()
            },
        });
        let dir = tempfile::tempdir().unwrap();
        s.write(dir.path()).unwrap();
        assert!(dir.path().join(LOCKS_FILE).is_file());
        let r = check(&Stored::read(dir.path()).unwrap());
        let locks = r.locks.as_ref().expect("a locks section");
        assert_eq!((locks.grants, locks.violations), (2, 1));
        let result = |name: &str| r.slo.iter().find(|x| x.name == name).unwrap().result;
        assert_eq!(result("max_lock_violations"), Verdict::Fail);
        assert_eq!(result("min_grants_per_s"), Verdict::Pass);
        // A run without one has no section, and reads back without the file.
        let plain = stored(record(serde_json::json!([])));
        let other = tempfile::tempdir().unwrap();
        plain.write(other.path()).unwrap();
        assert!(check(&Stored::read(other.path()).unwrap()).locks.is_none());
    }

    #[test]
    fn a_stored_run_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let s = stored(record(serde_json::json!([])));
        s.write(dir.path()).unwrap();
        let back = Stored::read(dir.path()).unwrap();
        assert_eq!(
            serde_json::to_value(check(&back)).unwrap(),
            serde_json::to_value(check(&s)).unwrap()
        );
        // Another version is refused, naming the file.
        let mut other = s.record.clone();
        other.record_version = RECORD_VERSION + 1;
        std::fs::write(
            dir.path().join("record.json"),
            serde_json::to_vec_pretty(&other).unwrap(),
        )
        .unwrap();
        let err = Stored::read(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("record.json") && err.contains("record version"),
            "{err}"
        );
    }
}
