//! The SLO table against the docs and the figures it reads.

use super::figures::*;
use super::*;
use crate::report::{ClientSummary, CounterChecks};

/// docs/scenarios.md lists every SLO as declared here: what it counts,
/// and when it is `unknown`.
#[test]
fn the_docs_slo_table_is_the_declared_one() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scenarios.md")).unwrap();
    let (begin, end) = ("<!-- slo-table: begin -->\n", "<!-- slo-table: end -->");
    let a = docs.find(begin).expect("the table's begin marker") + begin.len();
    let b = docs.find(end).expect("the table's end marker");
    let table = markdown_table();
    assert!(
        docs[a..b] == table,
        "docs/scenarios.md's SLO table is not the declared one; it should read:\n{table}"
    );
}
use crate::report::{
    Checks, DowntimeSummary, FailoverMs, FaultReport, LocksReport, ReshardSummary, Verdict,
    WorkloadSummary,
};

/// The sections of a run with these figures, converged in 12 ms.
fn figures(
    checks: &Checks,
    workload: &WorkloadSummary,
    downtime: &DowntimeSummary,
    faults: &[FaultReport],
) -> Sections {
    Sections {
        checks: checks.clone(),
        workload: workload.clone(),
        downtime: downtime.clone(),
        faults: faults.to_vec(),
        convergence: super::super::Converged {
            measured_ms: Some(12.0),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn names_are_unique_and_say_their_bound() {
    for s in SLOS {
        let expected = match s.name.split('_').next() {
            Some("max") => Bound::AtMost,
            Some("min") => Bound::AtLeast,
            _ => panic!("{}: an SLO's name starts with max_ or min_", s.name),
        };
        assert_eq!(s.bound, expected, "{}", s.name);
    }
    let mut names: Vec<&str> = SLOS.iter().map(|s| s.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), SLOS.len());
}

/// Every SLO can fail: with a figure past its limit its result is `fail`
/// (or, for a figure the run did not measure, `fail` as not measured).
fn eviction(base: f64, later: f64) -> crate::report::EvictionChecks {
    let phase = |r: f64| crate::report::EvictionPhase {
        hot_miss_ratio: Some(r),
        ..Default::default()
    };
    crate::report::EvictionChecks {
        by_phase: [
            ("baseline".to_string(), phase(base)),
            ("during".to_string(), phase(later)),
            ("after".to_string(), phase(base)),
        ]
        .into(),
        ..Default::default()
    }
}

/// A second computation of an epoch, granted by `node` (the first by n1).
fn duplicate(node: &str) -> crate::checker::stampede::Duplicate {
    crate::checker::stampede::Duplicate {
        key: 0,
        variant: crate::record::stampede::Variant::Lock,
        predecessor: None,
        first: "a".into(),
        first_node: "n1".into(),
        first_grant_ms: 1.0,
        second: "b".into(),
        second_node: node.into(),
        second_grant_ms: 2.0,
    }
}

#[test]
fn every_slo_fails_over_its_limit() {
    let checks = Checks {
        lost_writes: 3,
        lost_acknowledged_writes: 3,
        counter_violations: 3,
        stray_keys: 3,
        keys_before: 10,
        keys_after: 7,
        counters: Some(CounterChecks {
            counters_checked: 1,
            lost_increments: 3,
            over_counted_increments: 3,
            ..Default::default()
        }),
        txn: Some(crate::report::TxnChecks {
            reads_checked: 10,
            torn_reads: 3,
            groups_checked: 10,
            torn_groups: 3,
            ..Default::default()
        }),
        ttl: Some(crate::report::TtlChecks {
            reads_after_deadline: 10,
            reads_before_deadline: 10,
            zombie_reads: 3,
            early_expiries: 3,
            ..Default::default()
        }),
        stale: Some(crate::report::StaleChecks {
            reads_checked: 10,
            stale_reads: 3,
            staleness_ms: crate::checker::percentiles([3_000_000, 3_000_000]),
            ..Default::default()
        }),
        // 0 % of hot reads missed in baseline, 3 % during.
        eviction: Some(eviction(0.0, 0.03)),
        replication: Some(crate::checker::replication::Replication {
            replicas: vec![crate::checker::replication::ReplicaLag {
                writes_judged: 10,
                unseen: 3,
                floor_violations: 3,
                ..Default::default()
            }],
            resyncs_full: 3,
            regions: vec![crate::checker::replication::RegionLag {
                lag_ms: crate::checker::percentiles([3_000_000, 3_000_000]),
                ..Default::default()
            }],
            ..Default::default()
        }),
        stampede: Some(crate::checker::stampede::Stampede {
            reads: 10,
            violations: vec![duplicate("n1"); 3],
            failover_computes: vec![duplicate("n2"); 3],
            superseded_serves: 3,
            failed: 3,
            no_serve_max_ms: 3.0,
            staleness_ms: crate::checker::percentiles([3_000_000, 3_000_000]),
            serve_ms: crate::checker::percentiles([3_000_000, 3_000_000]),
            warm: Some(crate::checker::stampede::Warm {
                warm_ms: Some(3.0),
                ..Default::default()
            }),
            ..Default::default()
        }),
        invalidation: Some(crate::checker::invalidation::Invalidation {
            hits: 10,
            local_hits: 4,
            writes: 10,
            stale_after_invalidation: 3,
            causes: crate::checker::invalidation::Causes {
                lost_invalidation: 3,
                local_copy: 3,
                ..Default::default()
            },
            stale_lifetime: crate::checker::percentiles([3_000_000, 3_000_000]),
            invalidation_time: crate::checker::percentiles([3_000_000, 3_000_000]),
            group_reads: 5,
            mixed_group_reads: 3,
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut workload = WorkloadSummary::default();
    workload.app.ops_failed = 3;
    workload.app.ops_indeterminate = 3;
    workload.probe.ops_failed = 3;
    for phase in ["baseline", "during", "after"] {
        answered(&mut workload.app, phase, &[3_000_000, 3_000_000]);
    }
    let downtime = DowntimeSummary {
        max: 3.0,
        probe_max: 3.0,
        write_max: 3.0,
        windows: 3,
        ..Default::default()
    };
    let faults = vec![FaultReport {
        failover: vec![FailoverMs {
            node: "s1n1".into(),
            state_ok_after_ms: Some(3.0),
            promoted_after_ms: Some(3.0),
            ..Default::default()
        }],
        rejoin: vec![crate::report::RejoinMs {
            node: "s1n1".into(),
            caught_up_after_ms: Some(3.0),
            ..Default::default()
        }],
        ..Default::default()
    }];
    let reshard = ReshardSummary {
        duration_ms: 3.0,
        keys_overwritten: 3,
        ..Default::default()
    };
    let locks = LocksReport {
        violations: 3,
        grants_per_s: 3.0,
        acquire_ms: crate::checker::percentiles([3_000_000, 3_000_000]),
        resources: crate::checker::locks::Resources {
            fenced: Some(crate::checker::locks::Fenced {
                stale_writes_accepted: 3,
                ..Default::default()
            }),
            unfenced: None,
        },
        counters: Some(crate::checker::atomic::Counters {
            locked: crate::checker::atomic::CounterPathCheck {
                lost: Some(1),
                ..Default::default()
            },
            atomic: Some(crate::checker::atomic::CounterPathCheck {
                lost: Some(2),
                ..Default::default()
            }),
            atomic_speedup: Some(3.0),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut f = figures(&checks, &workload, &downtime, &faults);
    f.convergence.measured_ms = Some(3.0);
    f.reshard = Some(reshard);
    f.locks = Some(locks);
    f.sentinel = Some(sentinels_switching_after(3.0));
    f.linearizability = Some(crate::report::linearizability::LinearizabilityReport {
        keys_checked: 10,
        keys_linearizable: 7,
        violations: 3,
        ..Default::default()
    });
    f.shards = Some(crate::report::shards::ShardLoad {
        skew: Some(3.0),
        ..Default::default()
    });
    // A ratio and a share: their own tests.
    for slo in SLOS
        .iter()
        .filter(|s| s.name != "max_p99_during_over_baseline" && s.name != "max_app_error_ratio")
    {
        // Every figure is 3: a maximum of 2 fails, a minimum of 4 fails.
        let failing = match slo.bound {
            Bound::AtMost => 2.0,
            Bound::AtLeast => 4.0,
        };
        let limits = [(slo.name.to_string(), failing)].into();
        let r = crate::report::evaluate_slos(&limits, |n| f.of(n), bound_of);
        assert_eq!(r[0].result, Verdict::Fail, "{}: {:?}", slo.name, r[0]);
        assert_eq!(r[0].value, Some(3.0), "{}", slo.name);
        let limits = [(slo.name.to_string(), 3.0)].into();
        let r = crate::report::evaluate_slos(&limits, |n| f.of(n), bound_of);
        assert_eq!(r[0].result, Verdict::Pass, "{}: {:?}", slo.name, r[0]);
    }
}

/// Ops of `phase` that were all answered, taking `ns` each.
fn answered(app: &mut ClientSummary, phase: &str, ns: &[u64]) {
    let l = crate::checker::percentiles(ns.iter().copied());
    app.latency_ms.insert(phase.into(), l);
    app.latency_all_ms.insert(phase.into(), l);
    app.p99_answered_ms.insert(phase.into(), l.p99);
}

#[test]
fn a_latency_slo_fails_when_more_than_one_op_in_a_hundred_got_no_answer() {
    let (checks, downtime) = Default::default();
    let mut workload = WorkloadSummary::default();
    // 95 % of `after` failed fast; the few that succeeded were quick.
    let ok = crate::checker::percentiles([500_000; 5]);
    let all = crate::checker::percentiles([100_000; 100]);
    workload.app.latency_ms.insert("after".into(), ok);
    workload.app.latency_all_ms.insert("after".into(), all);
    let f = figures(&checks, &workload, &downtime, &[]);
    let Figure::NoAnswer { why } = f.of("max_p99_after_ms") else {
        panic!("{:?}", f.of("max_p99_after_ms"));
    };
    assert!(
        why.contains("95 of the 100 app ops due in `after`"),
        "{why}"
    );
    let limits = [("max_p99_after_ms".to_string(), 1e9)].into();
    let r = crate::report::evaluate_slos(&limits, |n| f.of(n), bound_of);
    assert_eq!((r[0].result, r[0].value), (Verdict::Fail, None));
    // One in a hundred unanswered: the p99 is the slowest answer's rank.
    workload.app.p99_answered_ms.insert("after".into(), 0.5);
    let f = figures(&checks, &workload, &downtime, &[]);
    assert_eq!(f.of("max_p99_after_ms"), Figure::Measured(0.5));
    // No op due in the phase: not measured.
    assert!(matches!(
        f.of("max_p99_during_ms"),
        Figure::Unknown { value: None, .. }
    ));
}

#[test]
fn the_error_ratio_is_failed_and_timed_out_over_every_app_op() {
    let (checks, downtime) = Default::default();
    let mut workload = WorkloadSummary::default();
    let f = figures(&checks, &workload, &downtime, &[]);
    assert_eq!(
        f.of("max_app_error_ratio"),
        not_measured("no app op was recorded")
    );
    workload.app.ops_ok = 90;
    workload.app.ops_failed = 6;
    workload.app.ops_indeterminate = 4;
    let f = figures(&checks, &workload, &downtime, &[]);
    assert_eq!(f.of("max_app_error_ratio"), Figure::Measured(0.1));
}

#[test]
fn latency_over_baseline_is_a_ratio_of_the_same_run() {
    let (checks, downtime) = Default::default();
    let mut workload = WorkloadSummary::default();
    for (phase, ns) in [("baseline", 2_000_000), ("during", 6_000_000)] {
        answered(&mut workload.app, phase, &[ns]);
    }
    let f = figures(&checks, &workload, &downtime, &[]);
    let Figure::Measured(x) = f.of("max_p99_during_over_baseline") else {
        panic!("{:?}", f.of("max_p99_during_over_baseline"));
    };
    assert!((x - 3.0).abs() < 0.01, "{x}");
    workload.app.latency_ms.remove("baseline");
    workload.app.latency_all_ms.remove("baseline");
    workload.app.p99_answered_ms.remove("baseline");
    let f = figures(&checks, &workload, &downtime, &[]);
    assert!(matches!(
        f.of("max_p99_during_over_baseline"),
        Figure::Unknown { .. }
    ));
}

#[test]
fn hot_miss_ratio_rise_is_the_worst_later_phase_over_baseline() {
    let (workload, downtime) = Default::default();
    let checks = Checks {
        eviction: Some(eviction(0.25, 0.5)),
        ..Default::default()
    };
    let f = figures(&checks, &workload, &downtime, &[]);
    assert_eq!(f.of("max_hot_miss_ratio_rise"), Figure::Measured(25.0));
    // Better than baseline: a negative rise.
    let checks = Checks {
        eviction: Some(eviction(0.5, 0.25)),
        ..Default::default()
    };
    let f = figures(&checks, &workload, &downtime, &[]);
    assert_eq!(f.of("max_hot_miss_ratio_rise"), Figure::Measured(0.0));
}

#[test]
fn cache_figures_are_unknown_when_nothing_was_checked() {
    let (workload, downtime) = Default::default();
    // No incr, no txn in the run: not measured, never 0.
    let checks = Checks::default();
    let f = figures(&checks, &workload, &downtime, &[]);
    for name in [
        "max_lost_increments",
        "max_over_counted_increments",
        "max_torn_reads",
        "max_torn_groups",
        "max_zombie_reads",
        "max_early_expiries",
        "max_stale_reads",
        "max_staleness_ms",
        "max_hot_miss_ratio_rise",
    ] {
        assert!(
            matches!(f.of(name), Figure::Unknown { value: None, .. }),
            "{name}: {:?}",
            f.of(name)
        );
    }
    // Ran, but nothing read back: still unknown.
    let checks = Checks {
        txn: Some(crate::report::TxnChecks::default()),
        counters: Some(CounterChecks::default()),
        // TTL'd keys written, but every read before their deadline.
        ttl: Some(crate::report::TtlChecks {
            reads_checked: 5,
            reads_before_deadline: 5,
            ..Default::default()
        }),
        ..Default::default()
    };
    let f = figures(&checks, &workload, &downtime, &[]);
    assert!(matches!(f.of("max_torn_reads"), Figure::Unknown { .. }));
    assert!(matches!(f.of("max_zombie_reads"), Figure::Unknown { .. }));
    assert_eq!(f.of("max_early_expiries"), Figure::Measured(0.0));
    assert!(matches!(
        f.of("max_lost_increments"),
        Figure::Unknown { .. }
    ));
}

#[test]
fn a_failover_never_seen_to_end_makes_the_worst_unknown() {
    let (checks, workload, downtime) = Default::default();
    let faults = vec![FaultReport {
        failover: vec![
            FailoverMs {
                node: "s1n1".into(),
                state_ok_after_ms: Some(3000.0),
                ..Default::default()
            },
            FailoverMs {
                node: "s2n1".into(),
                state_ok_after_ms: None,
                ..Default::default()
            },
        ],
        ..Default::default()
    }];
    let f = figures(&checks, &workload, &downtime, &faults);
    match f.of("max_failover_ms") {
        Figure::Unknown { value, why } => {
            assert_eq!(value, Some(3000.0));
            assert!(why.contains("s2n1"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    // No failover at all: nothing measured.
    let none = figures(&checks, &workload, &downtime, &[]);
    assert_eq!(
        none.of("max_failover_ms"),
        not_measured("the drill failed no primary over")
    );
}

#[test]
fn an_incomplete_source_makes_its_figures_unknown() {
    let (mut checks, mut workload, downtime): (Checks, WorkloadSummary, DowntimeSummary) =
        Default::default();
    // Counters and groups were read back: their figures are measured.
    checks.counters = Some(CounterChecks {
        counters_checked: 1,
        ..Default::default()
    });
    checks.txn = Some(crate::report::TxnChecks {
        reads_checked: 1,
        groups_checked: 1,
        ..Default::default()
    });
    checks.ttl = Some(crate::report::TtlChecks {
        reads_after_deadline: 1,
        reads_before_deadline: 1,
        ..Default::default()
    });
    checks.stale = Some(crate::report::StaleChecks {
        reads_checked: 1,
        ..Default::default()
    });
    checks.eviction = Some(eviction(0.0, 0.0));
    for phase in ["baseline", "during", "after"] {
        answered(&mut workload.app, phase, &[1_000_000]);
    }
    workload.app.ops_ok = 3;
    let mut f = figures(&checks, &workload, &downtime, &[]);
    f.linearizability = Some(crate::report::linearizability::LinearizabilityReport {
        keys_checked: 1,
        keys_linearizable: 1,
        ..Default::default()
    });
    f.shards = Some(crate::report::shards::ShardLoad {
        skew: Some(1.0),
        ..Default::default()
    });
    f.incomplete.history = Some("12 ops dropped at the stop".into());
    for slo in SLOS {
        let figure = f.of(slo.name);
        let unknown = matches!(&figure, Figure::Unknown { why, .. } if why.contains("dropped"));
        assert_eq!(
            unknown,
            slo.source == Source::History,
            "{}: {figure:?}",
            slo.name
        );
    }
}

/// A drill without a lock workload measured no lock figure: its lock
/// SLOs are never a 0 that passes. One whose workload granted nothing
/// has no latency to judge.
#[test]
fn lock_slos_without_a_lock_workload_are_not_measured() {
    let (checks, workload, downtime) = Default::default();
    let mut f = figures(&checks, &workload, &downtime, &[]);
    for name in [
        "max_lock_violations",
        "max_stale_writes_accepted",
        "max_acquire_p99_ms",
        "min_grants_per_s",
        "max_lost_updates",
        "min_atomic_speedup",
    ] {
        assert_eq!(f.of(name), no_locks(), "{name}");
    }
    let idle = LocksReport::default();
    f.locks = Some(idle);
    assert!(matches!(
        f.of("max_acquire_p99_ms"),
        Figure::Unknown { value: None, .. }
    ));
    // No fenced resource: nothing to say about its stale writes.
    assert_eq!(
        f.of("max_stale_writes_accepted"),
        not_measured("the lock workload wrote no fenced resource")
    );
    assert_eq!(f.of("max_lock_violations"), Figure::Measured(0.0));
    // No counter, or no atomic path: nothing to say about them.
    assert_eq!(
        f.of("max_lost_updates"),
        not_measured("the lock workload kept no counter (`locks.counter`)")
    );
    let mut counted = LocksReport {
        counters: Some(crate::checker::atomic::Counters::default()),
        ..Default::default()
    };
    f.locks = Some(counted.clone());
    assert_eq!(
        f.of("min_atomic_speedup"),
        not_measured("the lock workload ran no atomic path (`locks.atomic_workers`)")
    );
    // A counter not read back: its lost updates are unknown, never 0.
    let unread = crate::checker::atomic::CounterPathCheck {
        unknown: Some("the locked counter of lock 0 was not read back: timeout".into()),
        ..Default::default()
    };
    counted.counters.as_mut().unwrap().locked = unread.clone();
    counted.counters.as_mut().unwrap().atomic = Some(unread);
    f.locks = Some(counted);
    assert!(
        matches!(f.of("max_lost_updates"), Figure::Unknown { value: None, ref why } if why.contains("not read back")),
        "{:?}",
        f.of("max_lost_updates")
    );
    assert!(matches!(
        f.of("min_atomic_speedup"),
        Figure::Unknown { value: None, .. }
    ));
    // A history cut short makes every lock figure unknown.
    let cut = LocksReport {
        incomplete: Some("4 lock events ran past the history's size limit".into()),
        ..Default::default()
    };
    f.locks = Some(cut);
    assert!(matches!(
        f.of("max_lock_violations"),
        Figure::Unknown { value: Some(_), .. }
    ));
}

#[test]
fn an_empty_phase_is_unknown_never_zero() {
    let (checks, workload, downtime) = Default::default();
    let f = figures(&checks, &workload, &downtime, &[]);
    assert!(matches!(
        f.of("max_p99_during_ms"),
        Figure::Unknown { value: None, .. }
    ));
}

/// A Sentinels section with one kill of the primary, switched `ms` after.
fn sentinels_switching_after(ms: f64) -> crate::report::sentinel::SentinelReport {
    use crate::report::sentinel::{SentinelReport, SentinelStep, SentinelTimeline};
    let step = |event: &str, after_ms: Option<f64>| SentinelStep {
        event: event.into(),
        after_ms,
        sentinel: None,
        detail: None,
    };
    SentinelReport {
        master_name: "m".into(),
        sentinels: vec!["sentinel1".into(), "sentinel2".into(), "sentinel3".into()],
        quorum: 2,
        down_after_ms: 2000,
        failover_timeout_ms: 10000,
        events: Default::default(),
        timelines: vec![SentinelTimeline {
            fault: "kill primary_of:0".into(),
            nodes: vec!["n1".into()],
            at_ms: 1000.0,
            failover_due: true,
            window_ms: 9000.0,
            listening: 3,
            steps: vec![
                step("+sdown", Some(ms.min(2.0))),
                step("+switch-master", Some(ms)),
            ],
            old_primary: Some("n1".into()),
            new_primary: Some("n2".into()),
            first_success_ms: None,
            sdown_late: Some(false),
            split_brain: None,
            unknown: Default::default(),
        }],
        writes_per_bucket: Default::default(),
        unknown: Default::default(),
    }
}

#[test]
fn a_sentinel_failover_that_did_not_come_fails_with_no_figure_and_one_unheard_is_unknown() {
    let (checks, workload, downtime, faults): (
        Checks,
        WorkloadSummary,
        DowntimeSummary,
        Vec<FaultReport>,
    ) = Default::default();
    let mut f = figures(&checks, &workload, &downtime, &faults);
    assert!(matches!(
        f.of("max_sentinel_failover_ms"),
        Figure::Unknown { value: None, .. }
    ));
    let mut s = sentinels_switching_after(3300.0);
    f.sentinel = Some(s.clone());
    assert_eq!(f.of("max_sentinel_failover_ms"), Figure::Measured(3300.0));
    // Heard throughout, never switched: the failover did not happen.
    s.timelines[0].steps.retain(|x| x.event == "+sdown");
    s.timelines[0].new_primary = None;
    f.sentinel = Some(s.clone());
    let Figure::NoAnswer { why } = f.of("max_sentinel_failover_ms") else {
        panic!("{:?}", f.of("max_sentinel_failover_ms"))
    };
    assert!(
        why.contains("did not fail n1 over") && why.contains("+sdown at 2 ms"),
        "{why}"
    );
    // Nobody heard: nothing is known.
    s.timelines[0].listening = 0;
    f.sentinel = Some(s.clone());
    assert!(matches!(
        f.of("max_sentinel_failover_ms"),
        Figure::Unknown { .. }
    ));
    // No fault of the primary: nothing to time.
    s.timelines[0].failover_due = false;
    f.sentinel = Some(s);
    assert!(matches!(
        f.of("max_sentinel_failover_ms"),
        Figure::Unknown { value: None, .. }
    ));
}

/// A client-side cache that answered nothing itself has no stale local
/// copy to count: not measured, never a 0 that passes.
#[test]
fn stale_local_copies_without_a_local_hit_are_not_measured() {
    let (workload, downtime) = Default::default();
    let mut checks = Checks {
        invalidation: Some(crate::checker::invalidation::Invalidation {
            hits: 10,
            writes: 10,
            ..Default::default()
        }),
        ..Default::default()
    };
    let f = figures(&checks, &workload, &downtime, &[]);
    assert_eq!(
        f.of("max_stale_local_copies"),
        not_measured("no read was answered by a reader's local copy")
    );
    checks.invalidation.as_mut().unwrap().local_hits = 3;
    let f = figures(&checks, &workload, &downtime, &[]);
    assert_eq!(f.of("max_stale_local_copies"), Figure::Measured(0.0));
}
