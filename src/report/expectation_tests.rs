//! Tests of judging a run against the SLOs it is expected to break.

use super::*;

fn slo(name: &str, result: Verdict) -> SloResult {
    SloResult {
        name: name.into(),
        limit: 1.0,
        bound: Bound::AtMost,
        value: Some(2.0),
        result,
        note: None,
    }
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

fn spec(fail: &[&str], may_fail: &[&str], why: Option<&str>) -> ExpectSpec {
    ExpectSpec {
        fail: names(fail),
        may_fail: names(may_fail),
        why: why.map(str::to_string),
    }
}

#[test]
fn failing_exactly_the_listed_slos_meets_the_expectation() {
    let run = [
        slo("max_staleness_ms", Verdict::Fail),
        slo("max_lost_acknowledged_writes", Verdict::Pass),
    ];
    let e = expectation(&spec(&["max_staleness_ms"], &[], Some("TCP retries")), &run);
    assert_eq!(e.result, Verdict::Pass, "{e:?}");
    assert_eq!(e.note, "each of them failed, and no other SLO did");
    assert_eq!(
        e.line(),
        "Expected to fail: max_staleness_ms — TCP retries. As expected: each of them failed, and no other SLO did."
    );
    assert_eq!(e.spec.why.as_deref(), Some("TCP retries"));
}

#[test]
fn a_listed_slo_that_held_or_another_that_failed_is_a_failed_expectation() {
    let held = [
        slo("max_staleness_ms", Verdict::Pass),
        slo("max_lost_acknowledged_writes", Verdict::Pass),
    ];
    let e = expectation(&spec(&["max_staleness_ms"], &[], None), &held);
    assert_eq!(e.result, Verdict::Fail);
    assert_eq!(
        e.note,
        "max_staleness_ms held: the hazard the drill is written to show did not show"
    );
    let other = [
        slo("max_staleness_ms", Verdict::Fail),
        slo("max_lost_acknowledged_writes", Verdict::Fail),
    ];
    let e = expectation(&spec(&["max_staleness_ms"], &[], None), &other);
    assert_eq!(e.result, Verdict::Fail);
    assert_eq!(
        e.note,
        "max_lost_acknowledged_writes failed too, which was not expected"
    );
    // By region: the name carries the region.
    let regions = [
        slo("max_app_write_downtime_ms[us-east]", Verdict::Fail),
        slo("max_app_write_downtime_ms[ap-south]", Verdict::Pass),
    ];
    let e = expectation(
        &spec(
            &[
                "max_app_write_downtime_ms[us-east]",
                "max_app_write_downtime_ms[ap-south]",
            ],
            &[],
            None,
        ),
        &regions,
    );
    assert_eq!(e.result, Verdict::Fail);
    assert!(
        e.note
            .starts_with("max_app_write_downtime_ms[ap-south] held"),
        "{}",
        e.note
    );
    // An SLO that may fail meets the expectation either way.
    for ap_south in [Verdict::Pass, Verdict::Fail] {
        let regions = [
            slo("max_app_write_downtime_ms[us-east]", Verdict::Fail),
            slo("max_app_write_downtime_ms[ap-south]", ap_south),
        ];
        let e = expectation(
            &spec(
                &["max_app_write_downtime_ms[us-east]"],
                &["max_app_write_downtime_ms[ap-south]"],
                None,
            ),
            &regions,
        );
        assert_eq!(e.result, Verdict::Pass, "{e:?}");
        assert_eq!(
            e.note,
            format!(
                "each of them failed, and no other SLO did but those that may (max_app_write_downtime_ms[ap-south] {})",
                ap_south.as_str()
            )
        );
    }
}

#[test]
fn an_slo_that_could_not_be_established_leaves_it_unknown() {
    let run = [
        slo("max_staleness_ms", Verdict::Fail),
        slo("max_lost_acknowledged_writes", Verdict::Unknown),
    ];
    let e = expectation(&spec(&["max_staleness_ms"], &[], None), &run);
    assert_eq!(e.result, Verdict::Unknown);
    assert_eq!(
        e.note,
        "max_lost_acknowledged_writes could not be established"
    );
    // A failure that was not expected outweighs an unknown.
    let run = [
        slo("max_staleness_ms", Verdict::Unknown),
        slo("max_p99_during_ms", Verdict::Fail),
    ];
    let e = expectation(&spec(&["max_staleness_ms"], &[], None), &run);
    assert_eq!(e.result, Verdict::Fail);
}
