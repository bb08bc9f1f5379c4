//! Sample reports the renderings' tests share, and the SLO evaluation's tests.

use std::collections::BTreeMap;

use super::*;
use crate::runtime::RuntimeKind;
use crate::status::StatusReport;
use crate::topology::Kind;

/// A small but complete report, for rendering tests.
pub(crate) fn sample() -> Report {
    let lat = |p50, p99| Latency {
        count: 1000,
        p50,
        p95: p50 * 2.0,
        p99,
        p999: p99 * 2.0,
        max: p99 * 3.0,
    };
    let slo = evaluate_slos(
        &BTreeMap::from([
            ("max_lost_keys".to_string(), 0.0),
            ("max_p99_during_ms".to_string(), 5.0),
        ]),
        |n| match n {
            "max_lost_keys" => Figure::Measured(0.0),
            "max_p99_during_ms" => Figure::Measured(7.5),
            _ => Figure::Unknown {
                value: None,
                why: "not in the sample".into(),
            },
        },
        |_| Bound::AtMost,
    );
    Report {
        format_version: FORMAT_VERSION,
        scenario: "cluster-reshard".into(),
        seed: 42,
        started_at: "2026-11-21T17:00:00Z".into(),
        epoch_monotonic_ns: Some(1_000_000_000),
        environment: Environment {
            runtime: "docker".into(),
            redis_version: "7.0.15".into(),
            image: "redis-drill/redis:local".into(),
            host_cores: 2,
            redis_drill_version: "0.1.0".into(),
            client_path: "inside the run's network (the clients container's namespace)".into(),
            connections: Default::default(),
            links_mechanism: String::new(),
            servers: Default::default(),
        },
        topology: StatusReport {
            name: "cluster-reshard".into(),
            run_id: "abcd1234".into(),
            runtime: RuntimeKind::Docker,
            kind: Kind::Cluster,
            nodes: vec![],
            cluster: None,
            sentinels: vec![],
        },
        topology_after: None,
        phases: vec![
            PhaseMs {
                name: "baseline".into(),
                start_ms: 0.0,
                end_ms: 2000.0,
            },
            PhaseMs {
                name: "during".into(),
                start_ms: 2000.0,
                end_ms: 2400.0,
            },
            PhaseMs {
                name: "after".into(),
                start_ms: 2400.0,
                end_ms: 4400.0,
            },
        ],
        events: vec![EventMs {
            at_ms: 2000.0,
            kind: "reshard-start".into(),
            detail: "2000 slots s1n1 -> s2n1".into(),
        }],
        workload: WorkloadSummary {
            app: ClientSummary {
                clients: 8,
                ops_ok: 40000,
                ops_failed: 0,
                ops_indeterminate: 0,
                redirects: 0,
                errors_by_kind: BTreeMap::new(),
                latency_ms: BTreeMap::from([
                    ("baseline".to_string(), lat(0.3, 1.1)),
                    ("during".to_string(), lat(0.6, 7.5)),
                    ("after".to_string(), lat(0.3, 1.0)),
                ]),
                latency_all_ms: BTreeMap::from([
                    ("baseline".to_string(), lat(0.3, 1.1)),
                    ("during".to_string(), lat(0.6, 9.5)),
                    ("after".to_string(), lat(0.3, 1.0)),
                ]),
                service_ms: BTreeMap::from([
                    ("baseline".to_string(), lat(0.25, 0.9)),
                    ("during".to_string(), lat(0.5, 7.0)),
                    ("after".to_string(), lat(0.25, 0.8)),
                ]),
                tool_lag_ms: BTreeMap::from([
                    ("baseline".to_string(), lat(0.02, 0.1)),
                    ("during".to_string(), lat(0.03, 0.3)),
                    ("after".to_string(), lat(0.02, 0.1)),
                ]),
                pool_wait: BTreeMap::new(),
                p99_answered_ms: BTreeMap::from([
                    ("baseline".to_string(), 1.1),
                    ("during".to_string(), 7.5),
                    ("after".to_string(), 1.0),
                ]),
                unknown: BTreeMap::new(),
            },
            probe: ClientSummary {
                clients: 1,
                ops_ok: 5000,
                ops_failed: 3,
                ops_indeterminate: 0,
                redirects: 120,
                errors_by_kind: BTreeMap::from([("tryagain".to_string(), 3)]),
                ..Default::default()
            },
            engine: WorkloadStats {
                model: "open".into(),
                ops_dispatched: 45003,
                peak_in_flight: 12,
                max_in_flight: 24010,
                app_connections: 8,
                probe_connections: 1,
                threads: 2,
                priority: Some("realtime (SCHED_FIFO 1)".into()),
                dispatcher_max_late_ms: 0.4,
                ..Default::default()
            },
            self_check: SelfCheck {
                max_tool_lag_ms: 1.0,
                phases: BTreeMap::from([
                    (
                        "baseline".to_string(),
                        PhaseCheck {
                            tool_lag_p99_ms: 0.1,
                            ok: true,
                            steal_ms: None,
                        },
                    ),
                    (
                        "during".to_string(),
                        PhaseCheck {
                            tool_lag_p99_ms: 0.3,
                            ok: true,
                            steal_ms: None,
                        },
                    ),
                ]),
                ok: true,
                note: None,
            },
        },
        downtime_ms: DowntimeSummary {
            per_shard: BTreeMap::from([("s1n1".to_string(), 0.0)]),
            max: 0.0,
            windows: 0,
            probe_per_shard: BTreeMap::from([("s1n1".to_string(), 1.5)]),
            probe_max: 1.5,
            gap_per_shard: BTreeMap::from([("s1n1".to_string(), 3.2)]),
            gap_max: 3.2,
            write_per_shard: BTreeMap::from([("s1n1".to_string(), 0.0)]),
            write_max: 0.0,
            ..DowntimeSummary::default()
        },
        convergence_ms: Some(104.0),
        convergence_seen_ms: None,
        reshard: Some(ReshardSummary {
            from: vec!["s1n1".into()],
            to: vec!["s2n1".into()],
            slots_moved: 2000,
            keys_moved: 36000,
            bytes_moved: 4_100_000,
            duration_ms: 412.0,
            keys_per_s: 87378.6,
            slots_per_s: 4854.4,
            ..Default::default()
        }),
        checks: Checks {
            lost_writes: 0,
            keys_checked: 20000,
            acknowledged_writes: 20000,
            keys_before: 20000,
            keys_after: 20000,
            cluster_check_ok: true,
            ..Default::default()
        },
        verdict: Report::verdict_from(&slo),
        expected: None,
        slo,
        per_second: vec![],
        links: vec![],
        client_regions: vec![],
        client_libraries: vec![],
        op_log: None,
        attached: None,
        sentinel: None,
        linearizability: None,
        shards: None,
        reference: Some(ReferenceSummary {
            interval_ms: 5,
            ping_ms: BTreeMap::from([(
                "during".to_string(),
                BTreeMap::from([(
                    "s1n1".to_string(),
                    PingSummary {
                        count: 80,
                        failed: 0,
                        p50: 0.2,
                        p99: 6.5,
                        max: 7.0,
                    },
                )]),
            )]),
            server: BTreeMap::from([(
                "during".to_string(),
                BTreeMap::from([(
                    "s1n1".to_string(),
                    NodeSample::from([(
                        "get".to_string(),
                        CommandStats {
                            calls: 800,
                            usec_per_call: 1.5,
                            p50_usec: Some(1.0),
                            p99_usec: Some(4.0),
                            p999_usec: Some(9.0),
                        },
                    )]),
                )]),
            )]),
        }),
        faults: vec![],
        locks: None,
    }
}

/// The failover drill's report: one kill, its failover and rejoin.
pub(crate) fn sample_failover() -> Report {
    let mut r = sample();
    // One story throughout: s1n1 killed at 2001 ms, its replica
    // promoted, every node agreeing 2791 ms after the kill, s1n1 started
    // again at 10 001 ms, the run over at 12 000 ms; the clients saw
    // s1n1's shard down 2843 ms and lost 4 acknowledged writes on 3 keys.
    r.scenario = "cluster-failover".into();
    r.reshard = None;
    r.phases = [
        ("baseline", 0.0, 2000.0),
        ("during", 2000.0, 2040.0),
        ("recovery", 2040.0, 4831.0),
        ("after", 4831.0, 12000.0),
    ]
    .map(|(name, start_ms, end_ms)| PhaseMs {
        name: name.into(),
        start_ms,
        end_ms,
    })
    .to_vec();
    r.events.clear();
    r.convergence_ms = Some(2791.0);
    let recovery = |p50: f64, p99: f64| Latency {
        count: 5_000,
        p50,
        p95: p50 * 2.0,
        p99,
        p999: p99 * 2.0,
        max: p99 * 3.0,
    };
    let app = &mut r.workload.app;
    app.latency_ms.insert("recovery".into(), recovery(0.4, 2.9));
    app.latency_all_ms
        .insert("recovery".into(), recovery(0.4, 2.9));
    app.service_ms.insert("recovery".into(), recovery(0.3, 2.7));
    app.tool_lag_ms
        .insert("recovery".into(), recovery(0.02, 0.1));
    r.workload.app.ops_ok = 38_760;
    r.workload.app.ops_failed = 1_200;
    r.workload.app.ops_indeterminate = 40;
    r.workload.app.errors_by_kind = BTreeMap::from([
        ("clusterdown".to_string(), 1_200),
        ("indeterminate".to_string(), 40),
    ]);
    r.downtime_ms = DowntimeSummary {
        per_shard: BTreeMap::from([
            ("s1n1".to_string(), 2843.0),
            ("s2n1".to_string(), 0.0),
            ("s3n1".to_string(), 0.0),
        ]),
        max: 2843.0,
        windows: 1,
        probe_per_shard: BTreeMap::from([
            ("s1n1".to_string(), 2810.0),
            ("s2n1".to_string(), 0.0),
            ("s3n1".to_string(), 0.0),
        ]),
        probe_max: 2810.0,
        gap_per_shard: BTreeMap::from([("s1n1".to_string(), 2843.0)]),
        gap_max: 2843.0,
        write_per_shard: BTreeMap::from([("s1n1".to_string(), 2843.0)]),
        write_max: 2843.0,
        ..DowntimeSummary::default()
    };
    r.checks.lost_writes = 3;
    r.checks.lost_acknowledged_writes = 4;
    r.checks.acknowledged_writes = 20_000;
    r.checks.loss_window_ms = Some((2011.5, 2043.0));
    r.slo = evaluate_slos(
        &BTreeMap::from([
            ("max_lost_keys".to_string(), 0.0),
            ("max_p99_during_ms".to_string(), 5.0),
        ]),
        |n| match n {
            "max_lost_keys" => Figure::Measured(3.0),
            _ => Figure::Measured(7.5),
        },
        |_| Bound::AtMost,
    );
    r.verdict = Report::verdict_from(&r.slo);
    r.faults = vec![FaultReport {
        fault: "kill".into(),
        target: "primary_of:0".into(),
        nodes: vec!["s1n1".into()],
        primaries: vec!["s1n1".into()],
        start_ms: 2001.0,
        applied_ms: 2040.0,
        undo: Some("start".into()),
        undone_ms: Some(10001.0),
        converged_after_ms: Some(310.0),
        failover: vec![FailoverMs {
            node: "s1n1".into(),
            promoted: Some("s1n2".into()),
            pfail_after_ms: Some(2050.0),
            fail_after_ms: Some(2101.0),
            promoted_after_ms: Some(2712.0),
            state_ok_after_ms: Some(2790.0),
            agreed_after_ms: Some(2790.0),
            node_timeout_ms: 2000,
            expected_min_ms: 2500.0,
            expected_max_ms: 5500.0,
        }],
        rejoin: vec![RejoinMs {
            node: "s1n1".into(),
            reachable_after_ms: Some(60.0),
            replica_after_ms: Some(61.0),
            link_up_after_ms: Some(160.0),
            caught_up_after_ms: Some(160.0),
        }],
        downtime_ms: BTreeMap::from([("s1n1".to_string(), 2843.0)]),
        probe_downtime_ms: BTreeMap::from([("s1n1".to_string(), 2810.0)]),
        downtime_windows: 1,
        ..Default::default()
    }];
    r
}

/// A run whose tool fell behind in `during`: its latency SLO is unknown.
pub(crate) fn sample_unknown() -> Report {
    let mut r = sample();
    r.workload.self_check = crate::checker::self_check(
        &BTreeMap::from([
            (
                "baseline".to_string(),
                crate::checker::Timing {
                    tool_lag: Latency {
                        count: 100,
                        p99: 0.2,
                        ..Latency::default()
                    },
                    ..Default::default()
                },
            ),
            (
                "during".to_string(),
                crate::checker::Timing {
                    tool_lag: Latency {
                        count: 100,
                        p99: 4.2,
                        ..Latency::default()
                    },
                    ..Default::default()
                },
            ),
        ]),
        1.0,
    );
    if let Some(l) = r.workload.app.tool_lag_ms.get_mut("during") {
        l.p99 = 4.2;
    }
    let why = r.workload.self_check.distrust("during").unwrap();
    r.slo = evaluate_slos(
        &BTreeMap::from([
            ("max_lost_keys".to_string(), 0.0),
            ("max_p99_during_ms".to_string(), 50.0),
        ]),
        |n| match n {
            "max_lost_keys" => Figure::Measured(0.0),
            _ => Figure::Unknown {
                value: Some(7.5),
                why: why.clone(),
            },
        },
        |_| Bound::AtMost,
    );
    r.verdict = Report::verdict_from(&r.slo);
    r
}

#[test]
fn slos_are_maxima_no_answer_fails_unmeasured_or_untrusted_is_unknown() {
    let limits = BTreeMap::from([
        ("a".to_string(), 1.0),
        ("b".to_string(), 1.0),
        ("c".to_string(), 1.0),
        ("d".to_string(), 1.0),
        ("e".to_string(), 1.0),
    ]);
    let r = evaluate_slos(
        &limits,
        |n| match n {
            "a" => Figure::Measured(1.0),
            "b" => Figure::Measured(1.01),
            "c" => Figure::NoAnswer {
                why: "ops got no answer".into(),
            },
            // Below the limit, but untrusted: passes nothing.
            "d" => Figure::Unknown {
                value: Some(0.5),
                why: "tool lag".into(),
            },
            // Above the limit, but untrusted: fails nothing either.
            _ => Figure::Unknown {
                value: Some(7.0),
                why: "tool lag".into(),
            },
        },
        |_| Bound::AtMost,
    );
    assert_eq!(
        r.iter().map(|s| s.result).collect::<Vec<_>>(),
        vec![
            Verdict::Pass,
            Verdict::Fail,
            Verdict::Fail,
            Verdict::Unknown,
            Verdict::Unknown
        ]
    );
    assert_eq!(r[2].note.as_deref(), Some("ops got no answer"));
    assert_eq!(
        (r[3].value, r[3].note.as_deref()),
        (Some(0.5), Some("tool lag"))
    );
    assert_eq!(Report::verdict_from(&r), Verdict::Fail);
    assert_eq!(Report::verdict_from(&r[..1]), Verdict::Pass);
    // Unknown beats pass, fail beats unknown.
    assert_eq!(Report::verdict_from(&r[3..]), Verdict::Unknown);
    assert_eq!(
        Report::verdict_from(&[r[0].clone(), r[3].clone()]),
        Verdict::Unknown
    );
    assert_eq!(
        Report::verdict_from(&[r[3].clone(), r[1].clone()]),
        Verdict::Fail
    );
}

#[test]
fn a_minimum_holds_at_its_limit_and_fails_below_it() {
    let limits = BTreeMap::from([
        ("min_a".to_string(), 10.0),
        ("min_b".to_string(), 10.0),
        ("min_c".to_string(), 10.0),
    ]);
    let r = evaluate_slos(
        &limits,
        |n| match n {
            "min_a" => Figure::Measured(10.0),
            "min_b" => Figure::Measured(9.99),
            _ => Figure::Unknown {
                value: None,
                why: "no grant".into(),
            },
        },
        |_| Bound::AtLeast,
    );
    let results: Vec<Verdict> = r.iter().map(|s| s.result).collect();
    assert_eq!(results, [Verdict::Pass, Verdict::Fail, Verdict::Unknown]);
    assert_eq!(r[0].bound, Bound::AtLeast);
    assert_eq!(Bound::AtLeast.show(10.0), "≥ 10");
}

#[test]
fn report_json_round_trips() {
    let r = sample();
    let json = serde_json::to_string(&r).unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        serde_json::to_value(&r).unwrap()
    );
    // The app clients' figures sit at the top of `workload`, as the contract says.
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["workload"]["ops_ok"], 40000);
    assert_eq!(v["workload"]["latency_ms"]["during"]["p99"], 7.5);
    assert_eq!(v["workload"]["service_ms"]["during"]["p99"], 7.0);
    assert_eq!(v["workload"]["tool_lag_ms"]["during"]["p99"], 0.3);
    assert_eq!(v["workload"]["self_check"]["ok"], true);
    assert_eq!(v["reference"]["ping_ms"]["during"]["s1n1"]["p99"], 6.5);
    assert_eq!(v["verdict"], "fail");
    assert_eq!(v["slo"][1]["result"], "fail");
}

/// A counter checker that found 3 increments lost: a broken guarantee the
/// renderings mark.
pub(crate) fn counters() -> CounterChecks {
    CounterChecks {
        counters_checked: 1,
        acknowledged_incrs: 41_200,
        indeterminate_incrs: 12,
        lost_increments: 3,
        over_counted_increments: 0,
        violations: vec![],
    }
}

#[test]
fn the_reshard_figures_say_not_measured_never_zero() {
    use super::figures::reshard;
    let find = |r: &Report, key: &str| reshard(r).into_iter().find(|h| h.key == key).unwrap().value;
    let mut r = sample();
    assert_eq!(find(&r, "reshard_ms"), Some(412.0));
    assert_eq!(find(&r, "reshard_keys_per_s"), Some(87378.6));
    // Key by key: no server pause to show.
    assert_eq!(find(&r, "pause_seen_ms"), None);
    let rs = r.reshard.as_mut().unwrap();
    rs.method = Some("atomic".into());
    rs.migrations = vec![
        crate::record::run::MigrationRecord {
            pause_seen_ms: Some(12.5),
            ..Default::default()
        },
        crate::record::run::MigrationRecord::default(),
    ];
    assert_eq!(find(&r, "pause_seen_ms"), Some(12.5));
    // No op during the move: its p99 and rate are not measured, not 0.
    r.workload.app.latency_ms.remove("during");
    assert_eq!(find(&r, "p99_during_ms"), None);
    assert_eq!(find(&r, "ops_during_per_s"), None);
    r.reshard.as_mut().unwrap().slots_moved = 0;
    assert_eq!(find(&r, "reshard_ms"), None);
    r.reshard = None;
    assert!(reshard(&r).is_empty());
}
