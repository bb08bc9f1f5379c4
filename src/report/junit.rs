//! JUnit XML for CI: one test suite per run, one test case per SLO (a failed
//! SLO is a failure with the figure in its message, an unknown one is
//! skipped with the reason), plus the cluster check.
//!
//! Written by the `quick-junit` crate, which escapes what XML needs escaped
//! and drops the control characters XML 1.0 forbids (an error message from a
//! node can carry them): the output always parses.

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use super::model::{Bound, Report, SloResult, Verdict};

/// The run as one JUnit report of one suite.
pub fn render(r: &Report) -> String {
    let mut report = quick_junit::Report::new("redis-drill");
    report.add_test_suite(suite(r));
    report
        .to_string()
        // Serialising to a String writes to memory: only a bug in the crate fails.
        .unwrap_or_else(|e| panic!("serialising JUnit XML in memory failed: {e}"))
}

/// The run's suite: its SLOs and the cluster check.
pub fn suite(r: &Report) -> TestSuite {
    let mut suite = TestSuite::new(r.scenario.as_str());
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&r.started_at) {
        suite.set_timestamp(t);
    }
    let total_ms = r.phases.last().map_or(0.0, |p| p.end_ms);
    suite.set_time(std::time::Duration::from_secs_f64(
        total_ms.max(0.0) / 1000.0,
    ));
    suite.add_properties([
        Property::new("seed", r.seed.to_string()),
        Property::new("runtime", r.environment.runtime.as_str()),
        Property::new("redis_version", r.environment.redis_version.as_str()),
    ]);
    if !r.environment.servers.is_empty() {
        suite.add_property(Property::new("server", r.environment.server_line()));
    }
    let expect = |name: &String| match &r.expected {
        Some(e) if e.spec.fail.contains(name) => Expect::Fail,
        Some(e) if e.spec.may_fail.contains(name) => Expect::Either,
        _ => Expect::Hold,
    };
    suite.add_test_cases(
        r.slo
            .iter()
            .map(|slo| slo_case(&r.scenario, slo, expect(&slo.name))),
    );
    let mut check = TestCase::new(
        "cluster_check",
        if r.checks.cluster_check_ok {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message("the cluster check failed at the end")
                .set_description(r.checks.cluster_check.join("\n"));
            s
        },
    );
    check.set_classname(format!("{}.checks", r.scenario));
    suite.add_test_case(check);
    suite
}

/// What the scenario expects of one SLO (`expect:`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// To hold: every SLO of a drill without `expect:`.
    Hold,
    /// To fail (`expect.fail`).
    Fail,
    /// Either (`expect.may_fail`).
    Either,
}

/// One SLO as a test case: pass, failure with its figure, or skipped with
/// why it is unknown. An SLO the scenario expects to fail (`expect.fail`)
/// is the other way round: its failure is the case's success (said in its
/// output), and its holding is the failure; one that may fail passes
/// either way.
fn slo_case(scenario: &str, slo: &SloResult, expect: Expect) -> TestCase {
    let value = slo
        .value
        .map_or("not measured".to_string(), |v| v.to_string());
    let side = match slo.bound {
        Bound::AtMost => "exceeds the limit",
        Bound::AtLeast => "is under the minimum",
    };
    let status = match (slo.result, expect) {
        (Verdict::Pass, Expect::Hold | Expect::Either) => TestCaseStatus::success(),
        (Verdict::Fail, Expect::Fail | Expect::Either) => TestCaseStatus::success(),
        (Verdict::Pass, Expect::Fail) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!(
                "{} = {value} held (limit {}), and the scenario expects it to fail: the hazard it is written to show did not show",
                slo.name,
                slo.bound.show(slo.limit)
            ));
            s
        }
        (Verdict::Fail, Expect::Hold) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("{} = {value} {side} {}", slo.name, slo.limit));
            s
        }
        (Verdict::Unknown, _) => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!(
                "unknown: {}",
                slo.note.as_deref().unwrap_or("not established")
            ));
            s
        }
    };
    let mut case = TestCase::new(slo.name.as_str(), status);
    case.set_classname(format!("{scenario}.slo"));
    if slo.result == Verdict::Fail && expect != Expect::Hold {
        case.set_system_out(format!(
            "failed as {}: {} = {value} {side} {}",
            if expect == Expect::Fail {
                "expected"
            } else {
                "the scenario allows (may fail)"
            },
            slo.name,
            slo.limit
        ));
    }
    case
}

#[cfg(test)]
mod tests {
    #[test]
    fn junit_snapshot() {
        insta::assert_snapshot!(super::render(&crate::report::tests::sample()));
    }

    #[test]
    fn an_unknown_slo_is_skipped_with_its_reason() {
        let xml = super::render(&crate::report::tests::sample_unknown());
        assert!(xml.contains(r#"failures="0""#), "{xml}");
        assert!(xml.contains(r#"skipped="1""#), "{xml}");
        assert!(
            xml.contains("<skipped message=\"unknown: tool lag p99 4.20 ms"),
            "{xml}"
        );
    }

    #[test]
    fn control_characters_never_reach_the_xml() {
        let mut r = crate::report::tests::sample();
        r.scenario = "drill\u{1}\u{8}name & <co>".into();
        r.checks.cluster_check_ok = false;
        r.checks.cluster_check = vec![
            "node s1n1: ERR \u{0}\u{1b}[31mbad\u{1b}[0m\u{7}".into(),
            "slot 12 \"open\"".into(),
        ];
        r.slo[1].note = Some("why\u{c}\u{1f}".into());
        let xml = super::render(&r);
        // Nothing XML 1.0 forbids: every char below U+0020 but tab, LF and CR.
        let bad: Vec<char> = xml
            .chars()
            .filter(|c| (*c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
            .collect();
        assert!(
            bad.is_empty(),
            "control characters in the XML: {bad:?}\n{xml}"
        );
        // What remains is escaped, not dropped.
        assert!(xml.contains("drillname &amp; &lt;co&gt;"), "{xml}");
        assert!(xml.contains("node s1n1: ERR bad"), "{xml}");
        assert!(xml.contains("<failure message=\"the cluster check failed at the end\""));
    }
}
