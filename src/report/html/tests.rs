//! Tests of the page: what it shows for each kind of drill, and that it
//! escapes what it shows.

use super::charts::tests::drawn;
use super::render;
use crate::report::model::Verdict;
use crate::report::tests::sample;

#[test]
fn a_stampede_drill_draws_its_reads_per_second_alone() {
    use crate::checker::stampede::{Second, Stampede};
    let mut r = sample();
    r.workload.app.clients = 0;
    r.workload.probe.clients = 0;
    r.checks.stampede = Some(Stampede {
        reads: 30,
        per_second: (0..3)
            .map(|t_s| Second {
                t_s,
                hits: 10,
                misses: t_s,
                computes: 1,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    });
    let page = render(&r);
    assert!(page.contains("id=\"stampede\""), "the stampede chart");
    assert!(page.contains("misses (waited or computed)") && page.contains("computations"));
    // No key/value workload: none of its charts.
    assert!(!page.contains("id=\"latency\""));
    // No readers in regions: no table of them; with some, a row each.
    assert!(!page.contains("By the readers' region"));
    r.checks.stampede.as_mut().unwrap().by_region = vec![crate::checker::stampede::RegionFigures {
        region: "ap-south".into(),
        readers: 3,
        ..Default::default()
    }];
    let page = render(&r);
    assert!(page.contains("By the readers' region"));
    assert!(page.contains("<td>ap-south</td><td class=\"n\">3</td>"));
    // With no read, it says so.
    r.checks.stampede.as_mut().unwrap().per_second.clear();
    assert!(render(&r).contains("recorded no read"));
}

#[test]
fn the_page_escapes_names_and_is_self_contained() {
    let mut r = drawn();
    r.scenario = "<script>alert('x')</script>&".into();
    r.slo[0].note = Some("a \"quoted\" <note>".into());
    let page = render(&r);
    assert!(!page.contains("<script>"), "raw scenario name in the page");
    assert!(page.contains("&lt;script&gt;alert('x')&lt;/script&gt;&amp;"));
    assert!(page.contains("a &quot;quoted&quot; &lt;note&gt;"));
    // Nothing fetched, nothing run.
    for banned in ["http://", "https://", "<script", "<link", "<img", "<iframe"] {
        let hits: Vec<_> = page.match_indices(banned).collect();
        // The SVG namespace is an identifier, not a fetch.
        let real = hits
            .iter()
            .filter(|(i, _)| !page[*i..].starts_with("http://www.w3.org/2000/svg"))
            .count();
        assert_eq!(real, 0, "{banned} in the page");
    }
    assert!(page.contains("<td>max_p99_during_ms</td>"));
    assert!(page.contains("class=\"verdict fail\""));
}

#[test]
fn the_page_shows_the_links_and_each_client_regions_figures() {
    let mut r = sample();
    assert!(!render(&r).contains("Clients by region"));
    let g: crate::report::model::ClientRegion = serde_json::from_value(serde_json::json!({
        "region": "us-east", "paths": [], "app": {"clients": 2, "ops_ok": 1, "ops_failed": 0,
        "ops_indeterminate": 0, "redirects": 0, "errors_by_kind": {}, "latency_ms": {}},
        "probe": {"clients": 0, "ops_ok": 0, "ops_failed": 0, "ops_indeterminate": 0,
        "redirects": 0, "errors_by_kind": {}, "latency_ms": {}},
        "downtime_ms": 1500.0, "write_downtime_ms": 1500.0, "probe_downtime_ms": 0.0,
        "lost_acknowledged_writes": 3,
        "writes_ms": {"count": 10, "p50": 82.0, "p95": 83.0, "p99": 84.0, "p999": 84.0, "max": 84.0},
        "stale": {"reads": 40, "stale_reads": 4, "staleness_ms":
            {"count": 4, "p50": 40.0, "p95": 41.0, "p99": 41.0, "p999": 41.0, "max": 41.5}}
    }))
    .unwrap();
    r.client_regions = vec![g];
    let page = render(&r);
    assert!(page.contains("<h2>Clients by region</h2>"), "{page}");
    assert!(
        page.contains("<td>us-east</td><td class=\"n\">2</td><td class=\"n\">1500 ms</td>"),
        "{page}"
    );
    // Its reads judged for staleness: 40 reads, 4 stale, the longest 41.5 ms.
    assert!(
        page.contains("<td class=\"n\">40</td><td class=\"n\">4</td><td class=\"n\">40.0 ms</td>"),
        "{page}"
    );
    assert!(page.contains("<td class=\"n\">41.5 ms</td></tr>"), "{page}");
    // How the links were made, when the run had any.
    assert!(!page.contains("Links made by"));
    r.environment.links_mechanism = "user-space delaying relay (this kernel has no netem)".into();
    assert!(
        render(&r).contains(
            "<p>Links made by: user-space delaying relay (this kernel has no netem).</p>"
        )
    );
}

#[test]
fn the_summary_says_not_measured_not_zero() {
    let page = render(&sample());
    // The sample measured no failover: its headline row says so.
    assert!(
        page.contains(
            "Failover (fault → cluster_state ok), longest</td><td class=\"n\">not measured"
        ),
        "{page}"
    );
}

#[test]
fn a_locks_only_drill_shows_its_locks_and_no_key_value_figures() {
    let mut r = sample();
    r.workload.app.clients = 0;
    r.workload.probe.clients = 0;
    let mut l = crate::report::model::LocksReport {
        algorithm: "single".into(),
        instances: vec!["n1".into()],
        violations: 2,
        longest_overlap_ms: 12.5,
        ..Default::default()
    };
    l.grants = 7;
    r.locks = Some(l);
    let page = render(&r);
    assert!(page.contains("<h2>Locks</h2>"), "{page}");
    assert!(
        page.contains("<tr class=\"fail\"><td>mutual exclusion</td><td>2 violations:"),
        "{page}"
    );
    assert!(!page.contains("Headline figures"), "{page}");
    assert!(!page.contains("<section class=\"chart\""), "{page}");
    // Workers in regions: a row each; the links are shown too.
    assert!(!page.contains("By the workers' region"));
    r.environment.links_mechanism = "user-space delaying relay".into();
    assert!(render(&r).contains("Links made by: user-space delaying relay."));
    r.locks.as_mut().unwrap().by_region = vec![crate::checker::locks::LockRegion {
        region: "ap-south".into(),
        workers: 2,
        grants: 5,
        ..Default::default()
    }];
    let page = render(&r);
    assert!(page.contains("<p>By the workers' region:</p>"), "{page}");
    assert!(
        page.contains("<td>ap-south</td><td class=\"n\">2</td><td class=\"n\">5</td>"),
        "{page}"
    );
    // With a key/value workload beside the locks, both are shown.
    r.workload.app.clients = 1;
    let page = render(&r);
    assert!(page.contains("<h2>Locks</h2>") && page.contains("Headline figures"));
}

#[test]
fn the_cache_checks_are_shown_and_a_broken_guarantee_is_marked() {
    let mut r = drawn();
    assert!(
        !render(&r).contains("<td>counters</td>"),
        "no cache workload, no cache rows"
    );
    r.checks.counters = Some(crate::report::tests::counters());
    r.checks.txn = Some(crate::report::model::TxnChecks {
        reads_checked: 9_800,
        groups_checked: 64,
        ..Default::default()
    });
    let page = render(&r);
    assert!(page.contains(
        "<tr class=\"fail\"><td>counters</td><td>1 checked · 41 200 acknowledged INCRs, 12 indeterminate · lost 3 · over-counted 0</td></tr>"
    ));
    assert!(page.contains("<tr><td>transactions</td><td>9 800 reads, 0 torn"));
}

#[test]
fn a_passing_verdict_is_shown_as_pass() {
    let mut r = drawn();
    r.verdict = Verdict::Pass;
    assert!(render(&r).contains("class=\"verdict pass\">PASS"));
}

/// A chart without data is a line in the page saying why.
#[test]
fn a_chart_without_data_says_why_in_the_page() {
    assert!(render(&sample()).contains("This run has no failover."));
}
