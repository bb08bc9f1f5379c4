//! The data checker: what became of the data — acknowledged writes against
//! the final state (lost keys and writes), counters, transactions, TTLs,
//! stale reads, eviction, the replication probe's lag, the stampede's single
//! flight — as the report's `checks`, with every figure the run could not
//! measure listed in `checks.unknown` with why.

use std::collections::BTreeMap;

use super::{Checker, Run};
use crate::checker;
use crate::cluster::keyspace::KeyspaceSample;
use crate::record::ops::{ClientMode, Op, OpKind};
use crate::record::run::Record;
use crate::record::status::StatusReport;
use crate::record::timeline::ms;
use crate::report::{
    Checks, CounterChecks, EXAMPLES, EvictionChecks, EvictionPhase, LostKey, StaleChecks,
    StaleSide, TtlChecks, TxnChecks,
};

/// The data checker.
pub(crate) struct Data;

impl Checker for Data {
    type Section = Checks;

    fn check(&self, run: &Run) -> Checks {
        let r = run.record;
        let history = run.history;
        let lost = run.lost();
        let counters = checker::counters(history, &run.initial, &run.finals);
        let keys_on_primaries = |s: &StatusReport| -> u64 {
            (s.nodes.iter())
                .filter(|n| n.role == Some(crate::topology::Role::Primary))
                .filter_map(|n| n.keys)
                .sum()
        };
        // TTL accuracy: also the SET PX writes a replaced primary lost.
        let ttl = history.iter().any(|o| o.ttl_ms.is_some()).then(|| {
            let fault_windows: Vec<(u64, u64)> = (r.faults.iter())
                .map(|f| {
                    (
                        f.start_ns,
                        f.undone_ns.unwrap_or(r.end_ns).max(f.applied_ns),
                    )
                })
                .collect();
            checker::ttl::ttl(history, &fault_windows, run.takeovers())
        });
        let phases: Vec<(String, u64, u64)> = (r.phases.iter())
            .map(|p| (p.name.clone(), p.start_ns, p.end_ns))
            .collect();
        Checks {
            unknown: checks_unknown(lost, &counters, r),
            keys_unread: lost.keys_unread,
            lost_writes: lost.lost.len() as u64,
            lost: (lost.lost.iter())
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
            lost_acknowledged_writes: lost.lost_acknowledged_writes
                + ttl.as_ref().map_or(0, lost_writes_in_failover),
            loss_window_ms: lost.loss_window_ns.map(|(a, b)| (ms(a), ms(b))),
            stray_keys: r.stray_keys,
            keys_before: keys_on_primaries(&r.topology),
            keys_after: keys_on_primaries(&r.topology_after),
            cluster_check_ok: r.cluster_check_ok,
            cluster_check: r.cluster_check.clone(),
            counters: run.ran(&[OpKind::Incr]).then(|| counter_checks(&counters)),
            txn: run
                .ran(&[OpKind::Txn, OpKind::TxnRead])
                .then(|| txn_checks(&checker::txn::torn(history, &run.finals))),
            ttl: ttl.as_ref().map(ttl_checks),
            stale: run.stale().map(|st| stale_checks(run, st)),
            eviction: (r.eviction != checker::eviction::Eviction::None)
                .then(|| eviction_checks(r, history, &run.stored.keyspace, lost.evicted_keys)),
            replication: run.stored.replication.as_ref().map(|rec| {
                let mut rep = checker::replication::replication(
                    &rec.writes,
                    &rec.seen,
                    &replica_places(r),
                    &phases,
                );
                let deltas =
                    crate::cluster::keyspace::phase_deltas(&run.stored.keyspace, &r.phases);
                rep.resyncs_full = deltas.values().map(|d| d.sync_full).sum();
                rep.resyncs_partial = deltas.values().map(|d| d.sync_partial_ok).sum();
                rep
            }),
            stampede: (run.stored.stampede.as_ref())
                .map(|rec| checker::stampede::stampede(rec, &phases)),
            invalidation: (run.stored.invalidation.as_ref()).map(checker::invalidation::check),
        }
    }
}

/// The stale-read verdict as the report keeps it, by kind of client and by
/// phase.
fn stale_checks(run: &Run, st: &checker::stale::StaleReads) -> StaleChecks {
    let (history, r) = (run.history, run.record);
    StaleChecks {
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
        by_phase: (r.phases.iter())
            .map(|p| {
                let inside = |o: Read| {
                    crate::record::timeline::phase_at(&r.phases, o.sent_ns)
                        .is_some_and(|q| std::ptr::eq(q, p))
                };
                (p.name.clone(), stale_side(history, &st.stale, inside))
            })
            .filter(|(_, s)| s.reads > 0)
            .collect(),
    }
}

/// The counters' verdict as the report keeps it.
fn counter_checks(c: &checker::CounterVerdict) -> CounterChecks {
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
        lost_in_failover: lost_writes_in_failover(t),
        lost_in_failover_examples: t.lost_in_failover.iter().take(EXAMPLES).cloned().collect(),
    }
}

/// The writes the TTL checker found lost to a failover: each write once,
/// however many reads found it gone.
fn lost_writes_in_failover(t: &checker::ttl::Ttl) -> u64 {
    let writes: std::collections::BTreeSet<(&str, u64)> = (t.lost_in_failover.iter())
        .map(|l| (l.read.key.as_str(), l.read.write_sent_ns))
        .collect();
    writes.len() as u64
}

/// What [`stale_side`] picks reads by.
#[derive(Clone, Copy)]
pub(super) struct Read {
    pub sent_ns: u64,
    pub mode: ClientMode,
    pub client: u32,
}

/// The successful GETs with a value, and the stale reads, that `pick`
/// keeps.
pub(super) fn stale_side(
    history: &[Op],
    stale: &[checker::stale::StaleRead],
    pick: impl Fn(Read) -> bool,
) -> StaleSide {
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
    StaleSide {
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

/// Which of the lost-write, counter and key-count figures the run could not
/// measure, and why.
fn checks_unknown(
    lost: &checker::LostWrites,
    counters: &checker::CounterVerdict,
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
