//! JUnit XML for CI: one test suite per run, one test case per SLO (a failed
//! SLO is a failure with the figure in its message, an unknown one is
//! skipped with the reason), plus the cluster check.

use super::Verdict;

use std::fmt::Write as _;

use super::Report;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

pub fn render(r: &Report) -> String {
    let cases = r.slo.len() + 1;
    let failures = r.slo.iter().filter(|s| s.result == Verdict::Fail).count()
        + usize::from(!r.checks.cluster_check_ok);
    let skipped = r
        .slo
        .iter()
        .filter(|s| s.result == Verdict::Unknown)
        .count();
    let total_s = r.phases.last().map_or(0.0, |p| p.end_ms / 1000.0);
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"redis-drill\" tests=\"{cases}\" failures=\"{failures}\" skipped=\"{skipped}\">\n  \
         <testsuite name=\"{}\" tests=\"{cases}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{total_s:.3}\" timestamp=\"{}\">",
        escape(&r.scenario),
        escape(&r.started_at)
    );
    let _ = writeln!(
        s,
        "    <properties><property name=\"seed\" value=\"{}\"/><property name=\"runtime\" value=\"{}\"/><property name=\"redis_version\" value=\"{}\"/></properties>",
        r.seed,
        escape(&r.environment.runtime),
        escape(&r.environment.redis_version)
    );
    for slo in &r.slo {
        let value = slo
            .value
            .map_or("not measured".to_string(), |v| v.to_string());
        let _ = write!(
            s,
            "    <testcase classname=\"{}.slo\" name=\"{}\"",
            escape(&r.scenario),
            escape(&slo.name)
        );
        match slo.result {
            Verdict::Pass => {
                let _ = writeln!(s, "/>");
            }
            Verdict::Fail => {
                let _ = writeln!(
                    s,
                    ">\n      <failure message=\"{} = {} {} {}\"/>\n    </testcase>",
                    escape(&slo.name),
                    escape(&value),
                    match slo.bound {
                        super::Bound::AtMost => "exceeds the limit",
                        super::Bound::AtLeast => "is under the minimum",
                    },
                    slo.limit
                );
            }
            Verdict::Unknown => {
                let _ = writeln!(
                    s,
                    ">\n      <skipped message=\"unknown: {}\"/>\n    </testcase>",
                    escape(slo.note.as_deref().unwrap_or("not established"))
                );
            }
        }
    }
    let _ = write!(
        s,
        "    <testcase classname=\"{}.checks\" name=\"cluster_check\"",
        escape(&r.scenario)
    );
    if r.checks.cluster_check_ok {
        let _ = writeln!(s, "/>");
    } else {
        let _ = writeln!(
            s,
            ">\n      <failure message=\"the cluster check failed at the end\">{}</failure>\n    </testcase>",
            escape(&r.checks.cluster_check.join("\n"))
        );
    }
    let _ = writeln!(s, "  </testsuite>\n</testsuites>");
    s
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
        assert!(xml.contains(r#"failures="0" skipped="1""#), "{xml}");
        assert!(
            xml.contains("<skipped message=\"unknown: tool lag p99 4.20 ms"),
            "{xml}"
        );
    }
}
