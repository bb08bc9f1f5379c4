//! Bars side by side per group: a shard's downtime, a node's keys or
//! memory before and after, the capacity planner's sizes.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::draw::{H, category, fmt_axis, legend, svg};
use crate::report::model::Report;
use crate::status::StatusReport;

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
pub(super) fn downtime_chart(r: &Report) -> Result<String, String> {
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
/// One figure per node, before and after the drill.
pub(super) fn node_chart(
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
