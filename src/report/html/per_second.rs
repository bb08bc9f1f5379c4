//! The fallback time charts, from `report.json` alone: latency and ops
//! counted per whole second (the report's `per_second` series). A drawing
//! from the run's history ([`super::binned`]) is finer; these are what is
//! left when the page is re-made from `report.json`.

use plotters::prelude::*;

use super::draw::{Lines, Series, latency_lines_chart, ops_lines_chart, per_covered_second, runs};
use crate::report::model::{ClientSecond, Report, Second};

/// The per-second latency lines (app and probe p50/p99, reference PING),
/// the fallback when the page is made from report.json alone.
pub(super) fn latency_lines(r: &Report) -> Lines {
    let mid = |t: u64| t as f64 + 0.5;
    let positive = |v: Option<f64>| v.filter(|v| *v > 0.0);
    let mut lines: Lines = Vec::new();
    let mut add = |name: &str, colour, points: Vec<(f64, Option<f64>)>| {
        let r = runs(points);
        if !r.is_empty() {
            lines.push((name.to_string(), colour, r));
        }
    };
    let ps = &r.per_second;
    if ps.iter().any(|s| s.app.is_some()) {
        let col = |f: fn(&ClientSecond) -> Option<f64>, probe: bool| {
            ps.iter()
                .map(|s| {
                    let c = if probe { s.probe } else { s.app };
                    (mid(s.t_s), positive(c.as_ref().and_then(f)))
                })
                .collect::<Vec<_>>()
        };
        add("app p50", RGBColor(120, 170, 230), col(|c| c.p50_ms, false));
        add("app p99", RGBColor(20, 80, 200), col(|c| c.p99_ms, false));
        add(
            "probe p50",
            RGBColor(240, 180, 100),
            col(|c| c.p50_ms, true),
        );
        add("probe p99", RGBColor(220, 100, 0), col(|c| c.p99_ms, true));
    } else {
        // A report written before the split: every client's p99 in one line.
        add(
            "all clients p99",
            RGBColor(20, 80, 200),
            ps.iter()
                .map(|s| (mid(s.t_s), positive((s.ok > 0).then_some(s.p99_ms))))
                .collect(),
        );
    }
    add(
        "reference PING p99",
        RGBColor(120, 120, 120),
        ps.iter()
            .map(|s| (mid(s.t_s), positive(s.ping_p99_ms)))
            .collect(),
    );
    lines
}

/// Latency per second on a log axis (a failover's 500 ms timeouts beside a
/// 0.3 ms baseline), phases marked, faults shaded.
pub(super) fn latency_chart(r: &Report) -> Result<String, String> {
    latency_lines_chart(
        r,
        &latency_lines(r),
        "No per-second latency in this report.",
    )
}

/// Ok, failed and indeterminate ops per second (app and probe together).
pub(super) fn ops_chart(r: &Report) -> Result<String, String> {
    let ps = &r.per_second;
    if ps.is_empty() {
        return Err("No per-second counts in this report.".into());
    }
    let count = |f: fn(&ClientSecond) -> u64, s: &Second| {
        s.app.as_ref().map_or(0, f) + s.probe.as_ref().map_or(0, f)
    };
    let split = ps.iter().any(|s| s.app.is_some());
    let series: Vec<Series> = vec![
        (
            "ok",
            RGBColor(40, 150, 60),
            ps.iter()
                .map(|s| (s.t_s as f64 + 0.5, s.ok as f64))
                .collect(),
        ),
        (
            if split {
                "failed"
            } else {
                "failed or indeterminate"
            },
            RGBColor(210, 40, 40),
            ps.iter()
                .map(|s| {
                    let v = if split {
                        count(|c| c.failed, s)
                    } else {
                        s.failed
                    };
                    (s.t_s as f64 + 0.5, v as f64)
                })
                .collect(),
        ),
        (
            "indeterminate",
            RGBColor(230, 150, 0),
            if split {
                ps.iter()
                    .map(|s| (s.t_s as f64 + 0.5, count(|c| c.indeterminate, s) as f64))
                    .collect()
            } else {
                Vec::new()
            },
        ),
    ];
    // A second the run covered only in part (its last) is a rate over the
    // part it covered, drawn at that part's middle; a sliver under a quarter
    // second is left out rather than drawn as a dip or a spike.
    let recorded_end = r
        .phases
        .iter()
        .map(|p| p.end_ms / 1000.0)
        .fold(0.0, f64::max);
    let series: Vec<Series> = series
        .into_iter()
        .map(|(name, colour, points)| {
            let points = points
                .into_iter()
                .filter_map(|(x, y)| per_covered_second(x - 0.5, y, recorded_end))
                .collect();
            (name, colour, points)
        })
        .collect();
    ops_lines_chart(r, series)
}
