//! What every chart of the run report shares: the SVG canvas, the axis
//! labels and legend, the run's time axis with its fault windows and phases.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::model::{FaultReport, Report};

/// Width and height of a chart, px.
pub(super) const W: u32 = 960;
/// Height of a chart, px: three to one, readable at the page's width.
pub(super) const H: u32 = 320;

/// What drawing a chart gives: nothing, or why plotters could not draw it.
pub(super) type Drawn = Result<(), Box<dyn std::error::Error>>;

/// The name of the category drawn at `v` on an axis of categories (one
/// per whole number), or nothing between two of them.
pub(super) fn category(names: &[String], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() < 1e-6 && i >= 0.0 {
        names.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

/// Draw into an SVG string of `W` x `h`, through `draw`.
pub(super) fn svg(
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
pub(super) fn run_end_s(r: &Report) -> f64 {
    let phases = r.phases.iter().map(|p| p.end_ms / 1000.0);
    let seconds = r.per_second.iter().map(|s| s.t_s as f64 + 1.0);
    phases.chain(seconds).fold(1.0, f64::max)
}

/// Each fault's window, s since the run's start: until undone, or the end;
/// a fault nothing undoes (a failover, a flush, a replace) is over once
/// applied.
pub(super) fn fault_windows(r: &Report) -> Vec<(f64, f64, &FaultReport)> {
    let end = run_end_s(r);
    r.faults
        .iter()
        .map(|f| {
            let once = f
                .fault
                .parse::<crate::faults::FaultKind>()
                .is_ok_and(|k| k.healed_by().is_none());
            let until = match f.undone_ms {
                Some(u) => u / 1000.0,
                None if once => f.applied_ms / 1000.0,
                None => end,
            };
            (f.start_ms / 1000.0, until, f)
        })
        .collect()
}

/// A series with gaps: the runs of consecutive `Some` points, each drawn as
/// its own line so a second without a figure is a gap, not a slope.
pub(crate) fn runs(points: impl IntoIterator<Item = (f64, Option<f64>)>) -> Vec<Vec<(f64, f64)>> {
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

/// An axis value without trailing noise (0.3, 12, 1500).
pub(super) fn fmt_axis(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The series' names, boxed in the upper right corner of the plot: for
/// the bar charts, which leave room above their bars for it.
pub(super) fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
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

/// The room on a time chart's right, px, where its legend goes: outside
/// the plot, so that it covers neither the data nor the phase and fault
/// labels. A time chart leaves it with `.margin_right(LEGEND_W)`.
pub(super) const LEGEND_W: u32 = 220;

/// How a legend entry shows its series.
#[derive(Debug, Clone, Copy)]
pub(super) enum Swatch {
    Line,
    Dot,
}

/// A time chart's legend: each series' name, colour and swatch.
pub(super) type Key = Vec<(String, RGBColor, Swatch)>;

/// Draw `key` boxed in the room [`LEGEND_W`] leaves right of the plot,
/// level with its top.
pub(super) fn side_legend(root: &DrawingArea<SVGBackend, Shift>, key: &Key) -> Drawn {
    if key.is_empty() {
        return Ok(());
    }
    const ROW: i32 = 16;
    let (w, _) = root.dim_in_pixel();
    let x0 = i32::try_from(w.saturating_sub(LEGEND_W)).unwrap_or(0) + 8;
    let (x1, y0) = (x0 + i32::try_from(LEGEND_W).unwrap_or(0) - 16, 12);
    let rows = i32::try_from(key.len()).unwrap_or(i32::MAX);
    let y1 = y0 + 8 + rows.saturating_mul(ROW);
    root.draw(&Rectangle::new([(x0, y0), (x1, y1)], WHITE.filled()))?;
    root.draw(&Rectangle::new([(x0, y0), (x1, y1)], BLACK.mix(0.4)))?;
    for (i, (name, colour, swatch)) in key.iter().enumerate() {
        let y = y0 + 4 + ROW / 2 + i32::try_from(i).unwrap_or(0) * ROW;
        match swatch {
            Swatch::Line => root.draw(&PathElement::new(
                vec![(x0 + 6, y), (x0 + 24, y)],
                colour.stroke_width(2),
            ))?,
            Swatch::Dot => root.draw(&Circle::new((x0 + 15, y), 4, colour.filled()))?,
        }
        root.draw(&Text::new(
            name.clone(),
            (x0 + 30, y - 6),
            ("sans-serif", 12).into_font(),
        ))?;
    }
    Ok(())
}

/// A chart whose x axis is seconds since the run's start, y of any kind:
/// every time chart shades faults and marks phases on one of these.
pub(super) type TimeChart<'a, 'b, Y> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>;

/// Draw `points` as a line, named in `key`.
pub(super) fn named_line<Y>(
    chart: &mut TimeChart<'_, '_, Y>,
    key: &mut Key,
    name: &str,
    colour: RGBColor,
    points: Vec<(f64, f64)>,
) -> Drawn
where
    Y: Ranged<ValueType = f64>,
{
    chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
    key.push((name.to_string(), colour, Swatch::Line));
    Ok(())
}

/// Shade each fault's window, labelled with the fault at its top.
pub(super) fn shade_faults<Y>(
    chart: &mut TimeChart<'_, '_, Y>,
    r: &Report,
    y0: f64,
    y1: f64,
) -> Drawn
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
pub(super) fn mark_phases<Y>(
    chart: &mut TimeChart<'_, '_, Y>,
    r: &Report,
    y0: f64,
    y1: f64,
) -> Drawn
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
pub(super) type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);
/// The count of the second starting at `t` as a point of a per-second rate:
/// `(middle of the covered part, count / covered seconds)`, where the run
/// ended at `end` (s; 0 when unknown: the whole second counts). None for a
/// second covered less than a quarter.
pub(super) fn per_covered_second(t: f64, count: f64, end: f64) -> Option<(f64, f64)> {
    per_covered(t, 1.0, count, end)
}

/// The count of the bin `[t, t + width)` as a point of a per-second rate:
/// `(middle of the covered part, count / covered seconds)`, where the run
/// ended at `end` (s; 0 when unknown: the whole bin counts). None for a bin
/// covered less than a quarter: a sliver would be drawn as a dip or a spike.
pub(super) fn per_covered(t: f64, width: f64, count: f64, end: f64) -> Option<(f64, f64)> {
    let covered = if end > 0.0 {
        (end - t).clamp(0.0, width)
    } else {
        width
    };
    (covered >= width / 4.0).then(|| (t + covered / 2.0, count / covered))
}

/// When the run's recording ended, s (0 when the report has no phases).
pub(super) fn recorded_end_s(r: &Report) -> f64 {
    r.phases
        .iter()
        .map(|p| p.end_ms / 1000.0)
        .fold(0.0, f64::max)
}

/// Latency lines: each a name, a colour and its runs of points (a run
/// breaks where a bin or second had no value, so a gap reads as a gap).
pub(super) type Lines = Vec<(String, RGBColor, Vec<Vec<(f64, f64)>>)>;

/// Latency lines on a log axis over the run's time (a failover's 500 ms
/// timeouts beside a 0.3 ms baseline), phases marked, faults shaded: the
/// latency chart whether its points are per bin or per second. `empty` is
/// why there is no chart when no line has a point.
pub(super) fn latency_lines_chart(
    r: &Report,
    lines: &Lines,
    empty: &str,
) -> Result<String, String> {
    let values = lines
        .iter()
        .flat_map(|(_, _, runs)| runs.iter().flatten().map(|p| p.1));
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lines.is_empty() || lo > hi {
        return Err(empty.into());
    }
    let (y0, y1) = (lo / 1.5, hi * 1.5);
    let x1 = run_end_s(r);
    svg(H + 40, |root| {
        let mut chart = latency_axes(root, r, x1, (y0, y1), "seconds since the run's start")?;
        let mut key = Key::new();
        for (name, colour, runs) in lines {
            for run in runs {
                chart.draw_series(LineSeries::new(run.iter().copied(), colour.stroke_width(2)))?;
            }
            if !runs.is_empty() {
                key.push((name.clone(), *colour, Swatch::Line));
            }
        }
        side_legend(root, &key)
    })
}

/// A latency chart's axes: seconds since the run's start across (to
/// `x1`), ms on a log scale up (`y0..y1`), faults shaded and phases
/// marked; room on the right for the legend ([`LEGEND_W`]).
pub(super) fn latency_axes<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    r: &Report,
    x1: f64,
    (y0, y1): (f64, f64),
    x_desc: &str,
) -> Result<TimeChart<'a, 'b, LogCoord<f64>>, Box<dyn std::error::Error>> {
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .margin_right(LEGEND_W)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x1, (y0..y1).log_scale())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("ms (log)")
        .y_labels(8)
        .y_label_formatter(&|v| fmt_axis(*v))
        .draw()?;
    shade_faults(&mut chart, r, y0, y1)?;
    mark_phases(&mut chart, r, y0, y1)?;
    Ok(chart)
}

/// An ops/s chart: each of `series` (empty ones left out) as a line over
/// the run, faults shaded, whether its points are per bin or per second.
pub(super) fn ops_lines_chart(r: &Report, series: Vec<Series>) -> Result<String, String> {
    let y1 = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 1.15;
    let x1 = run_end_s(r);
    svg(H, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(LEGEND_W)
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
        let mut key = Key::new();
        for (name, colour, points) in series.into_iter().filter(|s| !s.2.is_empty()) {
            named_line(&mut chart, &mut key, name, colour, points)?;
        }
        side_legend(root, &key)
    })
}
