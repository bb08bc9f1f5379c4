//! `report.html` in a real browser: a short failover drill on the process
//! runtime writes its run folder; every chart section of its report.html
//! holds an SVG with drawn marks; headless Chromium renders the page to PNG,
//! and the PNG is neither blank nor without the charts' colours. `redis-drill
//! report --format html` re-renders the same page from report.json.
//!
//! Chromium is Debian's `chromium` package (bootstrap.sh installs it). Without
//! it the test fails: a report nobody looked at in a browser is not tested.

mod common;

use common::*;
use redis_drill::exit;

fn scenario(env: &Env) -> std::path::PathBuf {
    let yaml = format!(
        "name: html-test\n\
         topology: {}\n\
         seed: 5\n\
         workload:\n  clients: 4\n  probe_clients: 1\n  model: {{open: {{rate: 800}}}}\n  keys: 2000\n  value_size: 32\n  mix: {{get: 50, set: 50}}\n  timeout_ms: 500\n  app_retries: 3\n\
         baseline_ms: 1000\n\
         settle_ms: 1000\n\
         faults:\n  - fault: kill\n    target: primary_of:0\n    hold_ms: 6000\n\
         slo:\n  max_app_error_ratio: 1\n",
        topology("cluster-3x1-fast.yaml").display()
    );
    env.write("html-test.yaml", &yaml)
}

/// What a chart drew of its data, not of its frame: lines in a colour
/// (axes and ticks are black two-point lines), coloured points, and
/// coloured bars beyond the one legend swatch each colour has.
fn data_marks(svg: &str) -> usize {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
        Some(tag[at..].split('"').next()?.to_string())
    };
    let tags = |element: &str| -> Vec<&str> {
        svg.match_indices(&format!("<{element}"))
            .map(|(i, _)| &svg[i..i + svg[i..].find('>').unwrap_or(0)])
            .collect()
    };
    let frame = |colour: &Option<String>| {
        matches!(
            colour.as_deref(),
            None | Some("#000000" | "#FFFFFF" | "none")
        )
    };
    let lines = (tags("polyline").iter())
        .filter(|t| !frame(&attr(t, "stroke")))
        .filter(|t| attr(t, "points").is_some_and(|p| p.split_whitespace().count() >= 3))
        .count();
    let points = (tags("circle").iter())
        .filter(|t| !frame(&attr(t, "fill")))
        .count();
    let fills: Vec<String> = (tags("rect").iter())
        .filter_map(|t| attr(t, "fill"))
        .filter(|f| !frame(&Some(f.clone())))
        .collect();
    let colours: std::collections::BTreeSet<&String> = fills.iter().collect();
    lines + points + (fills.len() - colours.len())
}

/// The `<section class="chart" id="…">` blocks of a page, by id.
fn sections(page: &str) -> Vec<(String, String)> {
    page.split("<section class=\"chart\" id=\"")
        .skip(1)
        .map(|s| {
            let (id, rest) = s.split_once('"').expect("an id");
            let body = rest.split("</section>").next().unwrap_or_default();
            (id.to_string(), body.to_string())
        })
        .collect()
}

#[test]
fn a_drills_report_html_renders_in_chromium_with_every_chart_drawn() {
    let env = Env::new("process");
    let d = env.drill(&scenario(&env), &[]);
    d.assert_code(exit::SUCCESS);
    let dir = d.run_dir();
    let html = dir.join("report.html");
    let page = std::fs::read_to_string(&html).expect("the drill wrote report.html");

    // Every chart a failover drill has data for is drawn, with marks.
    let found = sections(&page);
    let ids: Vec<&str> = found.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        ids,
        [
            "latency",
            "latency-raw",
            "ops",
            "downtime",
            "failover",
            "slots",
            "keys",
            "memory"
        ]
    );
    for (id, body) in &found {
        assert!(body.contains("<svg"), "{id}: no chart: {body}");
        assert!(
            data_marks(body) > 0,
            "{id}: nothing drawn but axes and legend"
        );
    }
    assert!(
        page.contains("kill primary_of:0"),
        "the fault is not marked"
    );

    // `report --format html` is the same page from report.json alone, but
    // for the time charts: without the run's ops they are per second, and
    // say so; every op's chart says why it is not drawn.
    let again = env.run(&[
        "report",
        dir.join("report.json").to_str().unwrap(),
        "--format",
        "html",
    ]);
    assert_eq!(again.status.code(), Some(exit::SUCCESS));
    let again = String::from_utf8_lossy(&again.stdout);
    let before_charts = |p: &str| {
        p.split("<section class=\"chart\"")
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(before_charts(&again), before_charts(&page));
    let after_time_charts = |p: &str| {
        p.split("<section class=\"chart\" id=\"downtime\"")
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(after_time_charts(&again), after_time_charts(&page));
    assert!(
        again.contains("per whole second"),
        "the fallback does not say so"
    );
    assert!(again.contains("report.json alone"));

    // In a real browser: not blank, and the app p99 line's blue is on it.
    let shots = tempfile::tempdir().unwrap();
    let png = shots.path().join("report.png");
    screenshot(&html, &png, (1000, 3200));
    let (all, ink, blue) = census(&png, [20, 80, 200]);
    assert!(all >= 1000 * 3000, "a {all}-pixel screenshot");
    assert!(ink * 50 > all, "nearly blank: {ink} of {all} pixels drawn");
    assert!(
        blue > 200,
        "the app p99 line is not on the page: {blue} pixels"
    );
    if let Ok(keep) = std::env::var("REDIS_DRILL_KEEP_PNG") {
        let _ = std::fs::copy(&png, keep);
    }
}
