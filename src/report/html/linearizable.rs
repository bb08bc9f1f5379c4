//! A linearizability counter-example drawn as a timeline: each op of the
//! witness a bar from its send to its answer (an op whose outcome is
//! unknown runs on to the right edge, paler: it may have taken effect any
//! time after its send), labelled with its client and what it did, the
//! fault windows shaded — the picture a person needs to believe that no
//! single copy of the key explains what the clients saw.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::draw::{W, fault_windows, svg};
use crate::report::linearizability::Witness;
use crate::report::model::Report;

/// Height of one op's row, px.
const ROW: u32 = 30;
/// Room for the op labels left of the plot, px.
const LABEL_W: u32 = 330;

/// The timeline of one counter-example.
pub(super) fn witness_chart(r: &Report, w: &Witness) -> Result<String, String> {
    if w.ops.is_empty() {
        return Err("The counter-example has no op.".into());
    }
    let t0 = w
        .ops
        .iter()
        .map(|o| o.call_ms)
        .fold(f64::INFINITY, f64::min);
    let t1 = (w.ops.iter())
        .map(|o| o.ret_ms.unwrap_or(o.call_ms).max(o.call_ms))
        .fold(t0, f64::max);
    let pad = ((t1 - t0) * 0.06).max(0.5);
    let (x0, x1) = (t0 - pad, t1 + pad);
    // A bar narrower than this is drawn this wide, so a 0.2 ms op on a 20 s
    // axis still shows.
    let min_w = (x1 - x0) / 250.0;
    let n = w.ops.len();
    let labels: Vec<String> = (w.ops.iter())
        .map(|o| {
            let label = format!("{}: {}", o.client, o.op);
            if label.chars().count() > 46 {
                let cut: String = label.chars().take(45).collect();
                format!("{cut}…")
            } else {
                label
            }
        })
        .collect();
    let h = 90 + ROW * u32::try_from(n).unwrap_or(u32::MAX / ROW);
    svg(h, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(LABEL_W)
            .build_cartesian_2d(x0..x1, -0.5f64..n as f64 - 0.5)?;
        // Row i (the i-th op by its send) from the top.
        let row = |i: usize| (n - 1 - i) as f64;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() > 1e-6 || i < 0.0 || i as usize >= n {
                    return String::new();
                }
                labels[n - 1 - i as usize].clone()
            })
            .x_desc("ms since the run's start")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        for (from, to, f) in fault_windows(r) {
            let (a, b) = ((from * 1000.0).max(x0), (to * 1000.0).min(x1));
            if a < b {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(a, -0.5), (b, n as f64 - 0.5)],
                    RGBColor(230, 60, 60).mix(0.12).filled(),
                )))?;
                chart.draw_series(std::iter::once(Text::new(
                    format!("{} {}", f.fault, f.target),
                    (a, n as f64 - 0.5),
                    ("sans-serif", 12).into_font().color(&RGBColor(170, 30, 30)),
                )))?;
            }
        }
        for (i, o) in w.ops.iter().enumerate() {
            let y = row(i);
            let colour = if o.client == "final read" {
                RGBColor(90, 90, 90)
            } else if o.op.starts_with("GET") || o.op.starts_with("MGET") {
                RGBColor(40, 90, 200)
            } else {
                RGBColor(220, 110, 0)
            };
            let (a, b, style) = match o.ret_ms {
                Some(ret) => (o.call_ms, ret.max(o.call_ms + min_w), colour.filled()),
                None => (o.call_ms, x1, colour.mix(0.3).filled()),
            };
            chart.draw_series(std::iter::once(Rectangle::new(
                [(a, y - 0.28), (b, y + 0.28)],
                style,
            )))?;
            let node = o
                .node
                .as_deref()
                .map_or(String::new(), |n| format!(" on {n}"));
            let answered = match o.ret_ms {
                Some(ret) => format!("{:.1}–{:.1} ms{node}", o.call_ms, ret),
                None => format!("{:.1} ms →, {}{node}", o.call_ms, o.outcome),
            };
            // The times beside the bar, on the side with room.
            let right = (b - x0) / (x1 - x0) < 0.6;
            let at = if right {
                (b + min_w, y)
            } else {
                (a - min_w, y)
            };
            let style = ("sans-serif", 11).into_font().color(&BLACK).pos(Pos::new(
                if right { HPos::Left } else { HPos::Right },
                VPos::Center,
            ));
            chart.draw_series(std::iter::once(Text::new(answered, at, style)))?;
        }
        Ok(())
    })
}

/// The page's width is the chart's: a witness's labels are sized to it.
const _: () = assert!(LABEL_W < W / 2);
