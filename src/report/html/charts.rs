//! The run report's charts, drawn by plotters' SVG backend and inlined, so
//! the page needs no network and no JavaScript. A chart whose data the
//! report does not hold (no failover in a reshard drill) is an `Err` with a
//! line saying why, rather than a chart drawn empty.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::model::{ClientSecond, FailoverMs, FaultReport, Report, Second};
use crate::status::StatusReport;

/// Width and height of a chart, px.
const W: u32 = 960;
const H: u32 = 320;

type Drawn = Result<(), Box<dyn std::error::Error>>;

/// One chart of the page: its anchor, title, and the inline SVG or why
/// there is none.
pub(crate) struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    pub svg: Result<String, String>,
}

/// Every chart, in page order.
pub(crate) fn charts(r: &Report) -> Vec<Chart> {
    let chart = |id, title, svg| Chart { id, title, svg };
    vec![
        chart(
            "latency",
            "Latency over time (ok ops, due → end; fault windows shaded)",
            latency_chart(r),
        ),
        chart("ops", "Operations per second", ops_chart(r)),
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
    ]
}

/// The stampede drill's chart: its reads per second, by when each began.
pub(crate) fn stampede(r: &Report, st: &crate::checker::stampede::Stampede) -> Chart {
    Chart {
        id: "stampede",
        title: "Stampede reads per second (by when each began; fault windows shaded)",
        svg: stampede_chart(r, st),
    }
}

/// The name of the category drawn at `v` on an axis of categories (one
/// per whole number), or nothing between two of them.
fn category(names: &[String], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() < 1e-6 && i >= 0.0 {
        names.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

/// Draw into an SVG string of `W` x `h`, through `draw`.
fn svg(
    h: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Drawn,
) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (W, h)).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(Into::into));
        drawn.map_err(|e| format!("the chart could not be drawn: {e}"))?;
    }
    Ok(out)
}

/// The run's end on the chart's time axis, s.
fn run_end_s(r: &Report) -> f64 {
    let phases = r.phases.iter().map(|p| p.end_ms / 1000.0);
    let seconds = r.per_second.iter().map(|s| s.t_s as f64 + 1.0);
    phases.chain(seconds).fold(1.0, f64::max)
}

/// Each fault's window, s since the run's start (until undone, or the end).
fn fault_windows(r: &Report) -> Vec<(f64, f64, &FaultReport)> {
    let end = run_end_s(r);
    r.faults
        .iter()
        .map(|f| {
            (
                f.start_ms / 1000.0,
                f.undone_ms.map_or(end, |u| u / 1000.0),
                f,
            )
        })
        .collect()
}

/// A series with gaps: the runs of consecutive `Some` points, each drawn as
/// its own line so a second without a figure is a gap, not a slope.
fn runs(points: impl IntoIterator<Item = (f64, Option<f64>)>) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (x, y) in points {
        match y {
            Some(y) => out.last_mut().expect("never empty").push((x, y)),
            None if out.last().is_some_and(|l| !l.is_empty()) => out.push(Vec::new()),
            None => {}
        }
    }
    out.retain(|l| !l.is_empty());
    out
}

/// The latency lines of the chart: name, colour, points.
type Lines = Vec<(String, RGBColor, Vec<Vec<(f64, f64)>>)>;

fn latency_lines(r: &Report) -> Lines {
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
fn latency_chart(r: &Report) -> Result<String, String> {
    let lines = latency_lines(r);
    let values = lines
        .iter()
        .flat_map(|(_, _, runs)| runs.iter().flatten().map(|p| p.1));
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lines.is_empty() || lo > hi {
        return Err("No per-second latency in this report.".into());
    }
    let (y0, y1) = (lo / 1.5, hi * 1.5);
    let x1 = run_end_s(r);
    svg(H + 40, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x1, (y0..y1).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("seconds since the run's start")
            .y_desc("ms (log)")
            .y_labels(8)
            .y_label_formatter(&|v| fmt_axis(*v))
            .draw()?;
        shade_faults(&mut chart, r, y0, y1)?;
        mark_phases(&mut chart, r, y0, y1)?;
        for (name, colour, runs) in &lines {
            let colour = *colour;
            for (i, run) in runs.iter().enumerate() {
                let s = chart
                    .draw_series(LineSeries::new(run.iter().copied(), colour.stroke_width(2)))?;
                if i == 0 {
                    s.label(name.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                    });
                }
            }
        }
        legend(&mut chart)
    })
}

/// An axis value without trailing noise (0.3, 12, 1500).
fn fmt_axis(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The series' names, boxed in the upper right corner.
fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(|e| e.to_string().into())
}

type TimeChart<'a, 'b, Y> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>;

/// Draw `points` as a line, named in the legend.
fn named_line<Y>(
    chart: &mut TimeChart<'_, '_, Y>,
    name: &str,
    colour: RGBColor,
    points: Vec<(f64, f64)>,
) -> Drawn
where
    Y: Ranged<ValueType = f64>,
{
    chart
        .draw_series(LineSeries::new(points, colour.stroke_width(2)))?
        .label(name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
    Ok(())
}

/// Shade each fault's window, labelled with the fault at its top.
fn shade_faults<Y>(chart: &mut TimeChart<'_, '_, Y>, r: &Report, y0: f64, y1: f64) -> Drawn
where
    Y: Ranged<ValueType = f64>,
{
    for (from, to, f) in fault_windows(r) {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(from, y0), (to, y1)],
            RGBColor(230, 60, 60).mix(0.12).filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{} {}", f.fault, f.target),
            (from, y1),
            ("sans-serif", 12).into_font().color(&RGBColor(170, 30, 30)),
        )))?;
    }
    Ok(())
}

/// A dashed-looking grey line at each phase's start, named below the top
/// (staggered so that short phases' names do not overlap).
fn mark_phases<Y>(chart: &mut TimeChart<'_, '_, Y>, r: &Report, y0: f64, y1: f64) -> Drawn
where
    Y: Ranged<ValueType = f64>,
{
    // The label rows, from the top: the second row sits lower on a log axis too.
    let rows = [y1 / 1.35, y1 / 1.8, y1 / 2.4];
    for (i, p) in r.phases.iter().enumerate() {
        let x = p.start_ms / 1000.0;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, y0), (x, y1)],
            BLACK.mix(0.35).stroke_width(1),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            p.name.clone(),
            (x, rows[i % rows.len()]),
            ("sans-serif", 12).into_font().color(&BLACK.mix(0.7)),
        )))?;
    }
    Ok(())
}

/// A named line: name, colour, points.
type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// A failover marker: name, colour, and when it happened (ms after the fault).
type Mark = (&'static str, RGBColor, fn(&FailoverMs) -> Option<f64>);

/// Ok, failed and indeterminate ops per second (app and probe together).
fn ops_chart(r: &Report) -> Result<String, String> {
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
    let y1 = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 1.15;
    let x1 = run_end_s(r);
    svg(H, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x1, 0f64..y1)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the run's start")
            .y_desc("ops/s")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        shade_faults(&mut chart, r, 0.0, y1)?;
        for (name, colour, points) in series.into_iter().filter(|s| !s.2.is_empty()) {
            named_line(&mut chart, name, colour, points)?;
        }
        legend(&mut chart)
    })
}

/// The stampede readers' reads per second — from the cache, after a miss,
/// stale, failed — and the computations, over the run.
fn stampede_chart(r: &Report, st: &crate::checker::stampede::Stampede) -> Result<String, String> {
    use crate::checker::stampede::Second;
    let ps = &st.per_second;
    if ps.is_empty() {
        return Err("The stampede readers recorded no read.".into());
    }
    let recorded_end = r
        .phases
        .iter()
        .map(|p| p.end_ms / 1000.0)
        .fold(0.0, f64::max);
    let line = |f: fn(&Second) -> u64| -> Vec<(f64, f64)> {
        ps.iter()
            .filter_map(|s| per_covered_second(s.t_s as f64, f(s) as f64, recorded_end))
            .collect()
    };
    let series: Vec<Series> = vec![
        ("hits", RGBColor(40, 150, 60), line(|s| s.hits)),
        (
            "misses (waited or computed)",
            RGBColor(20, 80, 200),
            line(|s| s.misses),
        ),
        ("stale served", RGBColor(150, 60, 180), line(|s| s.stale)),
        ("failed", RGBColor(210, 40, 40), line(|s| s.failed)),
        ("computations", RGBColor(230, 150, 0), line(|s| s.computes)),
    ];
    let series: Vec<Series> = series
        .into_iter()
        .filter(|s| s.2.iter().any(|p| p.1 > 0.0))
        .collect();
    let y1 = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 40.0; // a decade and a half above the highest line, for the legend
    let x1 = run_end_s(r).max(ps.len() as f64);
    svg(H, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x1, (0.5f64..y1).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("seconds since the run's start")
            .y_desc("reads/s (log)")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        shade_faults(&mut chart, r, 0.5, y1)?;
        mark_phases(&mut chart, r, 0.5, y1)?;
        for (name, colour, points) in series {
            // A count of 0 has no place on a log scale: drawn at its floor.
            let points: Vec<(f64, f64)> =
                points.into_iter().map(|(x, y)| (x, y.max(0.5))).collect();
            named_line(&mut chart, name, colour, points)?;
        }
        legend(&mut chart)
    })
}

/// The count of the second starting at `t` as a point of a per-second rate:
/// `(middle of the covered part, count / covered seconds)`, where the run
/// ended at `end` (s; 0 when unknown: the whole second counts). None for a
/// second covered less than a quarter.
fn per_covered_second(t: f64, count: f64, end: f64) -> Option<(f64, f64)> {
    let covered = if end > 0.0 {
        (end - t).clamp(0.0, 1.0)
    } else {
        1.0
    };
    (covered >= 0.25).then(|| (t + covered / 2.0, count / covered))
}

/// Bars in groups, one group per name: `(group label, [(series value)])`.
/// Series names and colours are shared by every group.
pub(crate) struct Bars<'a> {
    pub groups: Vec<(String, Vec<Option<f64>>)>,
    pub series: Vec<(&'a str, RGBColor)>,
    pub unit: &'a str,
}

/// Bars side by side per group (a node's keys before and after, the
/// planner's sizes): one chart shape that the run report and the capacity
/// planner both draw.
pub(crate) fn bar_chart(b: Bars<'_>) -> Result<String, String> {
    let n = b.groups.len();
    let y1 = b
        .groups
        .iter()
        .flat_map(|g| g.1.iter().flatten())
        .fold(0.0, |a: f64, v| a.max(*v));
    // Room above the tallest bar for its label and for the legend box,
    // which sits top right over the last group.
    let y1 = if y1 > 0.0 { y1 * 1.5 } else { 1.0 };
    let per = b.series.len().max(1) as f64;
    let names: Vec<String> = b.groups.iter().map(|g| g.0.clone()).collect();
    svg(H, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..y1)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n + 1)
            .x_label_formatter(&|x| category(&names, *x))
            .y_desc(b.unit)
            .y_label_formatter(&|v| fmt_axis(*v))
            .draw()?;
        for (k, (name, colour)) in b.series.iter().enumerate() {
            let colour = *colour;
            let width = 0.8 / per;
            let bars = b.groups.iter().enumerate().filter_map(|(i, g)| {
                let v = g.1.get(k).copied().flatten()?;
                let x0 = i as f64 - 0.4 + k as f64 * width;
                Some(Rectangle::new(
                    [(x0, 0.0), (x0 + width * 0.9, v)],
                    colour.filled(),
                ))
            });
            chart.draw_series(bars)?.label(*name).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
            });
            // The value above each bar: a 0 is a drawn figure too.
            let labels = b.groups.iter().enumerate().filter_map(|(i, g)| {
                let v = g.1.get(k).copied().flatten()?;
                let x0 = i as f64 - 0.4 + k as f64 * width;
                Some(Text::new(
                    fmt_axis(v),
                    (x0, v + y1 * 0.06),
                    ("sans-serif", 11).into_font(),
                ))
            });
            chart.draw_series(labels)?;
        }
        legend(&mut chart)
    })
}

/// App and probe downtime per shard.
fn downtime_chart(r: &Report) -> Result<String, String> {
    let d = &r.downtime_ms;
    // The shards, then the groups of slots that changed hands.
    let (app, probe) = (
        |s: &String| d.per_shard.get(s).or(d.per_group.get(s)).copied(),
        |s: &String| {
            d.probe_per_shard
                .get(s)
                .or(d.probe_per_group.get(s))
                .copied()
        },
    );
    let shards: Vec<&String> = (d.per_shard.keys())
        .chain(d.probe_per_shard.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .chain(
            (d.per_group.keys())
                .chain(d.probe_per_group.keys())
                .collect::<std::collections::BTreeSet<_>>(),
        )
        .collect();
    if shards.is_empty() {
        return Err("No shard's downtime was measured in this run.".into());
    }
    let longest = (shards.iter())
        .flat_map(|s| [app(s), probe(s)])
        .flatten()
        .fold(0.0, f64::max);
    if longest == 0.0 {
        return Err(format!(
            "No downtime: 0 ms on every shard ({}), for app and probe clients alike.",
            shards
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    bar_chart(Bars {
        groups: shards
            .into_iter()
            .map(|s| (s.clone(), vec![app(s), probe(s)]))
            .collect(),
        series: vec![
            ("app", RGBColor(20, 80, 200)),
            ("probe", RGBColor(220, 100, 0)),
        ],
        unit: "ms (longest window)",
    })
}

/// One row per failover: the spec's range shaded, then PFAIL, FAIL,
/// promoted, and cluster_state ok everywhere, ms after the fault.
fn failover_chart(r: &Report) -> Result<String, String> {
    let rows: Vec<(String, &FailoverMs)> = r
        .faults
        .iter()
        .flat_map(|f| {
            f.failover
                .iter()
                .map(move |fo| (format!("{} {}", f.fault, fo.node), fo))
        })
        .collect();
    if rows.is_empty() {
        return Err("This run has no failover.".into());
    }
    let marks: [Mark; 5] = [
        ("PFAIL", RGBColor(240, 180, 0), |f| f.pfail_after_ms),
        ("FAIL", RGBColor(220, 90, 0), |f| f.fail_after_ms),
        ("promoted", RGBColor(150, 40, 180), |f| f.promoted_after_ms),
        ("cluster_state ok", RGBColor(40, 150, 60), |f| {
            f.state_ok_after_ms
        }),
        ("slot owners agreed", RGBColor(20, 80, 200), |f| {
            f.agreed_after_ms
        }),
    ];
    let x1 = rows
        .iter()
        .flat_map(|(_, f)| {
            marks
                .iter()
                .filter_map(|m| m.2(f))
                .chain([f.expected_max_ms])
        })
        .fold(1.0, f64::max)
        * 1.1;
    let n = rows.len();
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    svg(140 + 50 * n as u32, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(110)
            .build_cartesian_2d(0f64..x1, -0.5f64..(n as f64 - 0.5))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n + 1)
            .y_label_formatter(&|y| category(&labels, *y))
            .x_desc("ms after the fault")
            .draw()?;
        chart
            .draw_series(rows.iter().enumerate().map(|(i, (_, f))| {
                let y = i as f64;
                Rectangle::new(
                    [(f.expected_min_ms, y - 0.35), (f.expected_max_ms, y + 0.35)],
                    RGBColor(60, 170, 80).mix(0.15).filled(),
                )
            }))?
            .label("the spec's range for the promotion")
            .legend(|(x, y)| {
                Rectangle::new(
                    [(x, y - 5), (x + 12, y + 5)],
                    RGBColor(60, 170, 80).mix(0.3).filled(),
                )
            });
        for (name, colour, get) in marks {
            chart
                .draw_series(rows.iter().enumerate().filter_map(|(i, (_, f))| {
                    Some(Circle::new((get(f)?, i as f64), 6, colour.filled()))
                }))?
                .label(name)
                .legend(move |(x, y)| Circle::new((x + 6, y), 5, colour.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()?;
        Ok(())
    })
}

/// A slot range as `status` writes it: `0-5460` or `5461`.
fn parse_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        None => {
            let v = s.trim().parse().ok()?;
            Some((v, v))
        }
    }
}

/// Each node's slot ranges, by node name.
fn slot_owners(t: &StatusReport) -> BTreeMap<String, Vec<(u16, u16)>> {
    t.nodes
        .iter()
        .filter(|n| !n.slot_ranges.is_empty())
        .map(|n| {
            (
                n.name.clone(),
                n.slot_ranges
                    .iter()
                    .filter_map(|s| parse_range(s))
                    .collect(),
            )
        })
        .collect()
}

/// Two bars over the 16384 slots, before and after, coloured by owner.
fn slot_chart(r: &Report) -> Result<String, String> {
    let before = slot_owners(&r.topology);
    let after = r
        .topology_after
        .as_ref()
        .map(slot_owners)
        .unwrap_or_default();
    if before.is_empty() && after.is_empty() {
        return Err("No slot map: not a cluster, or no node could be read.".into());
    }
    // One colour per node, the same in both bars.
    let colours: BTreeMap<&String, RGBColor> = before
        .keys()
        .chain(after.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            let c = Palette99::pick(i).to_rgba();
            (n, RGBColor(c.0, c.1, c.2))
        })
        .collect();
    let rows = [("before", &before), ("after", &after)];
    svg(200, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..16384.0, -0.5f64..1.5)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(3)
            .y_label_formatter(&|y| match y.round() as i64 {
                0 if (y - 0.0).abs() < 1e-6 => "after".into(),
                1 if (y - 1.0).abs() < 1e-6 => "before".into(),
                _ => String::new(),
            })
            .x_desc("slot")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()?;
        for (row, (_, owners)) in rows.iter().enumerate() {
            // "before" on top.
            let y = 1.0 - row as f64;
            for (node, ranges) in owners.iter() {
                let colour = colours[node];
                chart.draw_series(ranges.iter().map(|&(a, b)| {
                    Rectangle::new(
                        [(f64::from(a), y - 0.35), (f64::from(b) + 1.0, y + 0.35)],
                        colour.filled(),
                    )
                }))?;
                // The owner's name on each range wide enough to hold it.
                chart.draw_series(ranges.iter().filter(|(a, b)| b - a > 900).map(|&(a, _)| {
                    Text::new(
                        node.clone(),
                        (f64::from(a) + 150.0, y + 0.1),
                        ("sans-serif", 13).into_font().color(&BLACK),
                    )
                }))?;
            }
        }
        Ok(())
    })
}

/// One figure per node, before and after the drill.
fn node_chart(
    r: &Report,
    unit: &str,
    figure: fn(&crate::status::NodeStatus) -> Option<f64>,
) -> Result<String, String> {
    let of = |t: &StatusReport| -> BTreeMap<String, f64> {
        t.nodes
            .iter()
            .filter_map(|n| Some((n.name.clone(), figure(n)?)))
            .collect()
    };
    let before = of(&r.topology);
    let after = r.topology_after.as_ref().map(of).unwrap_or_default();
    if before.is_empty() && after.is_empty() {
        return Err("Not in this report: no node could be read.".into());
    }
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    bar_chart(Bars {
        groups: names
            .into_iter()
            .map(|n| {
                (
                    n.clone(),
                    vec![before.get(n).copied(), after.get(n).copied()],
                )
            })
            .collect(),
        series: vec![
            ("before", RGBColor(150, 150, 150)),
            ("after", RGBColor(20, 80, 200)),
        ],
        unit,
    })
}

#[cfg(test)]
pub(super) mod tests {
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
        r
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
