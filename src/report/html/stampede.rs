//! The stampede drill's chart.

use plotters::prelude::*;

use super::draw::{
    H, Key, LEGEND_W, Series, mark_phases, named_line, per_covered_second, run_end_s, shade_faults,
    side_legend, svg,
};
use crate::report::model::Report;

/// The stampede readers' reads per second — from the cache, after a miss,
/// stale, failed — and the computations, over the run.
pub(super) fn stampede_chart(
    r: &Report,
    st: &crate::checker::stampede::Stampede,
) -> Result<String, String> {
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
        * 6.0; // room above the highest line for the phase and fault labels
    let x1 = run_end_s(r).max(ps.len() as f64);
    svg(H, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(LEGEND_W)
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
        let mut key = Key::new();
        for (name, colour, points) in series {
            // A count of 0 has no place on a log scale: drawn at its floor.
            let points: Vec<(f64, f64)> =
                points.into_iter().map(|(x, y)| (x, y.max(0.5))).collect();
            named_line(&mut chart, &mut key, name, colour, points)?;
        }
        side_legend(root, &key)
    })
}
