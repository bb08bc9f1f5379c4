//! The cluster's own charts: the failover timeline and the slot map.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::draw::{category, svg};
use crate::report::model::{FailoverMs, Report};
use crate::status::StatusReport;

/// A failover marker: name, colour, and when it happened (ms after the fault).
pub(super) type Mark = (&'static str, RGBColor, fn(&FailoverMs) -> Option<f64>);
/// One row per failover: the spec's range shaded, then PFAIL, FAIL,
/// promoted, and cluster_state ok everywhere, ms after the fault.
pub(super) fn failover_chart(r: &Report) -> Result<String, String> {
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
        return Err(if r.sentinel.is_some() {
            "A cluster's failover is drawn here; the Sentinels' failovers are timed step by step in the Sentinels section above.".into()
        } else {
            "This run has no failover.".into()
        });
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
pub(super) fn parse_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        None => {
            let v = s.trim().parse().ok()?;
            Some((v, v))
        }
    }
}

/// Each node's slot ranges, by node name.
pub(super) fn slot_owners(t: &StatusReport) -> BTreeMap<String, Vec<(u16, u16)>> {
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
pub(super) fn slot_chart(r: &Report) -> Result<String, String> {
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
