//! The run report's charts, drawn by plotters' SVG backend and inlined, so
//! the page needs no network and no JavaScript. A chart whose data the
//! report does not hold (no failover in a reshard drill) is an `Err` with a
//! line saying why, rather than a chart drawn empty.
//!
//! The time charts are drawn from the run's ops ([`OpLog`]) when the check
//! stage handed them over, binned at the run's scale ([`binned`]) with
//! every op as a point ([`scatter`]); from `report.json` alone they fall
//! back to its per-second series ([`per_second`]) and say so.

use super::bars::{downtime_chart, node_chart};
use super::cluster::{failover_chart, slot_chart};
use super::{binned, per_second, scatter};
use crate::report::model::Report;

/// One chart of the page: its anchor, title, and the inline SVG or why
/// there is none.
pub(crate) struct Chart {
    pub id: &'static str,
    pub title: String,
    pub svg: Result<String, String>,
}

/// Every chart, in page order.
pub(crate) fn charts(r: &Report) -> Vec<Chart> {
    let chart = |id, title: &str, svg| Chart {
        id,
        title: title.to_string(),
        svg,
    };
    let mut all = time_charts(r);
    if !r.client_libraries.is_empty() {
        all.push(chart(
            "libraries",
            "Successes by client library (ok ops per 100 ms, as ops/s, a strip each; fault windows shaded)",
            libraries_chart(r),
        ));
    }
    if let Some(s) = &r.sentinel
        && !s.writes_per_bucket.is_empty()
    {
        all.push(chart(
            "primaries",
            "Acknowledged writes by the node that answered them (per 100 ms, as writes/s, a strip each; fault windows shaded, the Sentinels' +switch-master and +convert-to-slave marked)",
            primaries_chart(r, s),
        ));
    }
    if let Some(l) = &r.linearizability {
        const IDS: [&str; 3] = [
            "linearizability-1",
            "linearizability-2",
            "linearizability-3",
        ];
        for (w, id) in l.witnesses.iter().zip(IDS) {
            all.push(chart(
                id,
                &format!(
                    "Not linearizable: {} — the smallest set of its {} ops no single copy explains (each op a bar from its send to its answer; a pale bar's outcome is unknown; fault windows shaded)",
                    w.key, w.ops_on_key
                ),
                super::linearizable::witness_chart(r, w),
            ));
        }
    }
    all.extend([
        chart("downtime", "Downtime per shard", downtime_chart(r)),
        chart("failover", "Failover timeline", failover_chart(r)),
        chart("slots", "Slot map before and after", slot_chart(r)),
        chart(
            "keys",
            "Keys per node",
            node_chart(r, "keys", |n| n.keys.map(|k| k as f64)),
        ),
        chart(
            "memory",
            "Used memory per node (MiB)",
            node_chart(r, "MiB", |n| {
                n.used_memory_bytes.map(|b| b as f64 / f64::from(1 << 20))
            }),
        ),
    ]);
    all
}

/// Colours of the strips, in order.
const STRIP_COLOURS: [plotters::style::RGBColor; 6] = [
    plotters::style::RGBColor(40, 90, 200),
    plotters::style::RGBColor(220, 110, 0),
    plotters::style::RGBColor(40, 150, 60),
    plotters::style::RGBColor(170, 40, 160),
    plotters::style::RGBColor(90, 90, 90),
    plotters::style::RGBColor(200, 40, 40),
];

/// One strip: its name, its rate per bucket (per s) and its y axis's top.
struct Strip {
    name: String,
    rates: Vec<f64>,
    y1: f64,
}

/// Strips on one time axis, one per series, each `width_s` bucket a point,
/// the fault windows shaded and each of `marks` (s, what) a grey line,
/// named in the first strip. A point above its strip's axis is drawn at
/// the top, and the strip's name says how many were.
fn strips_chart(
    r: &Report,
    strips: &[Strip],
    width_s: f64,
    y_desc: &str,
    marks: &[(f64, String)],
) -> Result<String, String> {
    use plotters::prelude::*;
    const STRIP: u32 = 110;
    let x1 = super::draw::run_end_s(r);
    let h = STRIP * strips.len() as u32 + 70;
    super::draw::svg(h, |root| {
        let (top, axis) = root.split_vertically(h - 70);
        let areas = top.split_evenly((strips.len(), 1));
        for (i, (st, area)) in strips.iter().zip(areas.iter()).enumerate() {
            let (y1, colour) = (st.y1, STRIP_COLOURS[i % STRIP_COLOURS.len()]);
            let mut chart = ChartBuilder::on(area)
                .margin_left(12)
                .margin_right(super::draw::LEGEND_W)
                .margin_top(4)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..x1, 0f64..y1)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(0)
                .y_labels(3)
                .y_desc(y_desc)
                .y_label_formatter(&|v| format!("{v:.0}"))
                .draw()?;
            super::draw::shade_faults(&mut chart, r, 0.0, y1)?;
            for (at, what) in marks {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(*at, 0.0), (*at, y1)],
                    RGBColor(90, 90, 90).stroke_width(1),
                )))?;
                if i == 0 {
                    chart.draw_series(std::iter::once(Text::new(
                        what.clone(),
                        (*at, y1 * 0.2),
                        ("sans-serif", 11).into_font().color(&RGBColor(60, 60, 60)),
                    )))?;
                }
            }
            let points =
                (st.rates.iter().enumerate()).map(|(b, v)| ((b as f64 + 0.5) * width_s, v.min(y1)));
            chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
            let over = st.rates.iter().filter(|v| **v > y1).count();
            let name = if over > 0 {
                format!("{} ({over} above the axis)", st.name)
            } else {
                st.name.clone()
            };
            // Its name in the right margin, beside its strip.
            area.draw(&Text::new(
                name,
                (W_LABEL_X, STRIP as i32 / 2 - 8),
                ("sans-serif", 13).into_font().color(&colour),
            ))?;
        }
        // The shared time axis under the strips.
        let mut chart = ChartBuilder::on(&axis)
            .margin_left(12)
            .margin_right(super::draw::LEGEND_W)
            .x_label_area_size(55)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x1, 0f64..1f64)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .y_labels(0)
            .x_label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .x_desc("seconds since the run's start")
            .draw()?;
        Ok(())
    })
}

/// Each library's ok ops per 100 ms, a strip each on one time axis:
/// where one library's strip drops and another's does not, the library is
/// the cause. Each strip's y axis goes to twice that library's median rate,
/// so that one library's burst after a fault (a queue flushed) does not
/// flatten the others; a point above it is drawn at the top and says so.
fn libraries_chart(r: &Report) -> Result<String, String> {
    let libs = &r.client_libraries;
    if libs.iter().all(|l| l.ok_per_bucket.iter().all(|&n| n == 0)) {
        return Err("No library's ops were counted.".into());
    }
    let width_s = crate::scenarios::check::LIBRARY_BUCKET_MS as f64 / 1000.0;
    let strips: Vec<Strip> = (libs.iter())
        .map(|l| {
            let rates: Vec<f64> = (l.ok_per_bucket.iter())
                .map(|n| f64::from(*n) / width_s)
                .collect();
            let mut sorted: Vec<f64> = rates.iter().copied().filter(|v| *v > 0.0).collect();
            sorted.sort_by(f64::total_cmp);
            let median = sorted.get(sorted.len() / 2).copied().unwrap_or(1.0);
            Strip {
                name: l.name.clone(),
                rates,
                y1: (median * 2.0).max(1.0),
            }
        })
        .collect();
    strips_chart(r, &strips, width_s, "ops/s", &[])
}

/// Each node's acknowledged writes per 100 ms, a strip each on one time
/// axis on one scale, the fault windows shaded and the Sentinels'
/// `+switch-master` and `+convert-to-slave` marked: a split brain is two
/// strips taking writes at once, and the old primary's strip after the
/// switch is what was lost.
fn primaries_chart(
    r: &Report,
    s: &crate::report::sentinel::SentinelReport,
) -> Result<String, String> {
    let width_s = crate::checker::sentinel::BUCKET_MS as f64 / 1000.0;
    let rates = |v: &Vec<u32>| -> Vec<f64> { v.iter().map(|n| f64::from(*n) / width_s).collect() };
    let y1 = (s.writes_per_bucket.values())
        .flat_map(rates)
        .fold(1.0, f64::max)
        * 1.1;
    let strips: Vec<Strip> = (s.writes_per_bucket.iter())
        .map(|(node, v)| Strip {
            name: node.clone(),
            rates: rates(v),
            y1,
        })
        .collect();
    // The Sentinels' switch and conversion, s since the run's start.
    let marks: Vec<(f64, String)> = (s.timelines.iter())
        .flat_map(|t| {
            t.steps.iter().filter_map(move |st| {
                let after = st.after_ms?;
                matches!(st.event.as_str(), "+switch-master" | "+convert-to-slave")
                    .then(|| ((t.at_ms + after) / 1000.0, st.event.clone()))
            })
        })
        .collect();
    strips_chart(r, &strips, width_s, "writes/s", &marks)
}

/// Where a strip's library name is written, px from the left: in the
/// right margin the other charts give their legend.
const W_LABEL_X: i32 = (super::draw::W - super::draw::LEGEND_W + 16) as i32;

/// Latency, every op, and ops over time: from the run's ops when the
/// report has them, else per second from `report.json`, saying so.
fn time_charts(r: &Report) -> Vec<Chart> {
    let Some(log) = r.op_log.as_ref().filter(|l| !l.ops.is_empty()) else {
        return per_second_charts(r);
    };
    let width = binned::bin_width(super::draw::run_end_s(r));
    let w = binned::width_label(width);
    let sparse = if binned::too_sparse(log, width, true) {
        "; probe ops too few to bin, each is in the next chart"
    } else {
        ""
    };
    vec![
        Chart {
            id: "latency",
            title: format!(
                "Latency over time (ok ops, due → end, p50 and p99 per {w}; fault windows shaded{sparse})"
            ),
            svg: binned::latency_chart(r, log),
        },
        Chart {
            id: "latency-raw",
            title: scatter::title(log),
            svg: scatter::chart(r, log),
        },
        Chart {
            id: "ops",
            title: format!("Operations per second (counted per {w})"),
            svg: binned::ops_chart(r, log),
        },
    ]
}

/// The time charts from `report.json` alone: per whole second, no op's
/// own point.
fn per_second_charts(r: &Report) -> Vec<Chart> {
    const NOTE: &str = "per whole second: this page was made from report.json alone, \
                        without the run's ops history";
    vec![
        Chart {
            id: "latency",
            title: format!("Latency over time (ok ops, due → end; fault windows shaded) — {NOTE}"),
            svg: per_second::latency_chart(r),
        },
        Chart {
            id: "latency-raw",
            title: "Every op's latency".to_string(),
            svg: Err(
                "Not drawn: this page was made from report.json alone, which keeps \
                      per-second figures only; `redis-drill check-run` on the run's folder \
                      draws every op from its history."
                    .to_string(),
            ),
        },
        Chart {
            id: "ops",
            title: format!("Operations per second — {NOTE}"),
            svg: per_second::ops_chart(r),
        },
    ]
}

/// The stampede drill's chart: its reads per second, by when each began.
pub(crate) fn stampede(r: &Report, st: &crate::checker::stampede::Stampede) -> Chart {
    Chart {
        id: "stampede",
        title: "Stampede reads per second (by when each began; fault windows shaded)".to_string(),
        svg: super::stampede::stampede_chart(r, st),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use super::super::cluster::parse_range;
    use super::super::draw::{per_covered_second, runs};
    use super::super::per_second::{latency_chart, latency_lines};
    use super::*;
    use crate::report::model::{ClientSecond, Second};
    use crate::report::tests::{sample, sample_failover};
    use crate::status::NodeStatus;

    /// The sample with per-second figures, a slot map and keys per node.
    pub(crate) fn drawn() -> Report {
        let mut r = sample_failover();
        r.per_second = (0..5)
            .map(|t| Second {
                t_s: t,
                ok: 900,
                failed: if t == 2 { 40 } else { 0 },
                p99_ms: 1.0,
                ping_p99_ms: Some(0.4),
                faults: if t >= 2 { vec![0] } else { vec![] },
                app: Some(ClientSecond {
                    ok: 800,
                    failed: if t == 2 { 30 } else { 0 },
                    indeterminate: if t == 2 { 5 } else { 0 },
                    p50_ms: Some(0.3),
                    p99_ms: Some(if t == 2 { 480.0 } else { 1.1 }),
                }),
                probe: Some(ClientSecond {
                    ok: 100,
                    failed: if t == 2 { 5 } else { 0 },
                    indeterminate: 0,
                    // No probe success in second 2: a gap.
                    p50_ms: (t != 2).then_some(0.25),
                    p99_ms: (t != 2).then_some(0.9),
                }),
                ..Default::default()
            })
            .collect();
        let node = |name: &str, ranges: &[&str], keys: u64| NodeStatus {
            name: name.into(),
            role: None,
            region: "default".into(),
            address: "127.0.0.1:7000".parse().unwrap(),
            announce: "127.0.0.1:7000".parse().unwrap(),
            host: None,
            primary_of: None,
            replica_of: None,
            slots: 0,
            slot_ranges: ranges.iter().map(|s| s.to_string()).collect(),
            keys: Some(keys),
            used_memory_bytes: Some(keys * 100),
            cluster_state: None,
            error: None,
        };
        r.topology.nodes = vec![
            node("s1n1", &["0-5460"], 1000),
            node("s2n1", &["5461-10922"], 1000),
            node("s3n1", &["10923-16383"], 1000),
        ];
        let mut after = r.topology.clone();
        after.nodes = vec![
            node("s1n2", &["0-5460"], 997),
            node("s2n1", &["5461-10922"], 1000),
            node("s3n1", &["10923-16383"], 1000),
        ];
        r.topology_after = Some(after);
        r.op_log = Some(crate::report::oplog::OpLog {
            ops: (0..500)
                .map(|i| crate::report::oplog::OpPoint {
                    due_s: i as f64 / 100.0,
                    latency_ms: if (200..300).contains(&i) { 480.0 } else { 0.4 },
                    end: match i {
                        250..=259 => crate::report::oplog::OpEnd::Indeterminate,
                        260..=269 => crate::report::oplog::OpEnd::Failed,
                        _ => crate::report::oplog::OpEnd::Ok,
                    },
                    probe: i % 2 == 0,
                })
                .collect(),
        });
        r
    }

    #[test]
    fn a_split_brain_draws_a_strip_per_primary_with_the_switch_marked() {
        let mut r = drawn();
        assert!(
            charts(&r).iter().all(|c| c.id != "primaries"),
            "no Sentinels, no chart"
        );
        let step = |event: &str, after: f64| crate::report::sentinel::SentinelStep {
            event: event.into(),
            after_ms: Some(after),
            sentinel: Some("sentinel2".into()),
            detail: None,
        };
        r.sentinel = Some(crate::report::sentinel::SentinelReport {
            master_name: "t".into(),
            sentinels: vec!["sentinel1".into()],
            quorum: 1,
            down_after_ms: 2000,
            failover_timeout_ms: 10000,
            events: Default::default(),
            timelines: vec![crate::report::sentinel::SentinelTimeline {
                failover_due: true,
                fault: "partition primary_of:0".into(),
                nodes: vec!["n1".into()],
                at_ms: 1000.0,
                window_ms: 4000.0,
                listening: 1,
                steps: vec![
                    step("+switch-master", 1500.0),
                    step("+convert-to-slave", 3000.0),
                ],
                old_primary: Some("n1".into()),
                new_primary: Some("n2".into()),
                first_success_ms: None,
                sdown_late: None,
                split_brain: None,
                unknown: Default::default(),
            }],
            writes_per_bucket: [
                ("n1".to_string(), vec![50; 40]),
                ("n2".to_string(), vec![0, 0, 30]),
            ]
            .into_iter()
            .collect(),
            unknown: Default::default(),
        });
        let c = charts(&r)
            .into_iter()
            .find(|c| c.id == "primaries")
            .expect("the chart");
        let svg = c.svg.expect("drawn");
        for text in ["n1", "n2", "+switch-master", "+convert-to-slave"] {
            assert!(svg.contains(&format!(">\n{text}\n<")), "{text} missing");
        }
        // One line per node in its colour.
        assert!(
            svg.contains("#285AC8") && svg.contains("#DC6E00"),
            "the strips' lines"
        );
    }

    #[test]
    fn every_chart_of_a_full_report_draws_its_data() {
        let r = drawn();
        for c in charts(&r) {
            let svg = c.svg.unwrap_or_else(|e| panic!("{}: {e}", c.id));
            assert!(svg.starts_with("<svg"), "{}", c.id);
            // Lines are polylines, bars and shading rects, markers circles.
            let marks = svg.matches("<polyline").count()
                + svg.matches("<rect").count()
                + svg.matches("<circle").count();
            assert!(marks > 3, "{}: nothing drawn\n{svg}", c.id);
        }
    }

    #[test]
    fn the_latency_chart_has_every_line_and_a_gap_where_no_probe_succeeded() {
        let lines = latency_lines(&drawn());
        let names: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "app p50",
                "app p99",
                "probe p50",
                "probe p99",
                "reference PING p99"
            ]
        );
        assert_eq!(lines[0].2.len(), 1, "app: one unbroken line");
        assert_eq!(lines[3].2.len(), 2, "probe p99: broken at second 2");
        let svg = latency_chart(&drawn()).unwrap();
        for text in [
            "baseline",
            "during",
            "after",
            "kill primary_of:0",
            "app p99",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
    }

    #[test]
    fn without_the_ops_history_the_time_charts_are_per_second_and_say_so() {
        let mut r = drawn();
        let binned = charts(&r);
        assert!(
            binned[0].title.contains("p50 and p99 per "),
            "{}",
            binned[0].title
        );
        assert_eq!(binned[1].id, "latency-raw");
        assert!(binned[1].svg.is_ok());
        r.op_log = None;
        let fallback = charts(&r);
        assert!(fallback[0].title.contains("per whole second"));
        assert!(fallback[0].svg.is_ok());
        assert!(
            fallback[1]
                .svg
                .as_ref()
                .unwrap_err()
                .contains("report.json alone")
        );
        assert!(fallback[2].title.contains("per whole second"));
    }

    #[test]
    fn a_chart_without_data_says_so_instead_of_drawing_nothing() {
        let r = sample();
        let by_id: BTreeMap<&str, Result<String, String>> =
            charts(&r).into_iter().map(|c| (c.id, c.svg)).collect();
        assert!(by_id["latency"].is_err());
        assert!(
            by_id["failover"]
                .as_ref()
                .unwrap_err()
                .contains("no failover")
        );
        assert!(by_id["slots"].is_err());
        // Downtime was measured (0 ms is a figure): drawn.
        assert!(by_id["downtime"].is_ok());
    }

    #[test]
    fn a_partly_covered_last_second_is_a_rate_over_its_part() {
        // A whole second.
        assert_eq!(per_covered_second(3.0, 4000.0, 9.3), Some((3.5, 4000.0)));
        // The run ended 0.3 s into second 9: 1200 ops there is 4000/s.
        let (x, y) = per_covered_second(9.0, 1200.0, 9.3).unwrap();
        assert!(
            (x - 9.15).abs() < 1e-9 && (y - 4000.0).abs() < 1e-6,
            "{x} {y}"
        );
        // A sliver is left out; an unknown end counts the whole second.
        assert_eq!(per_covered_second(9.0, 100.0, 9.1), None);
        assert_eq!(per_covered_second(9.0, 100.0, 0.0), Some((9.5, 100.0)));
    }

    #[test]
    fn slot_ranges_parse_as_status_writes_them() {
        assert_eq!(parse_range("0-5460"), Some((0, 5460)));
        assert_eq!(parse_range("5461"), Some((5461, 5461)));
        assert_eq!(parse_range("x"), None);
    }

    #[test]
    fn runs_break_at_gaps() {
        let r = runs([
            (0.0, Some(1.0)),
            (1.0, None),
            (2.0, Some(2.0)),
            (3.0, Some(3.0)),
        ]);
        assert_eq!(r, vec![vec![(0.0, 1.0)], vec![(2.0, 2.0), (3.0, 3.0)]]);
        assert!(runs([(0.0, None)]).is_empty());
    }
}
