//! Every op's latency as a point, coloured by how it ended, fault windows
//! shaded: Jepsen's latency-raw plot. Where the binned lines show the
//! percentiles, this shows each timeout and each error where it happened.

use plotters::prelude::*;

use super::draw::{H, Key, Swatch, latency_axes, run_end_s, side_legend, svg};
use crate::report::model::Report;
use crate::report::oplog::{OpEnd, OpLog, OpPoint};

/// The most points drawn: ~20k circles keep the page near 2 MB and quick
/// to open; a longer run's ok ops are thinned to fit.
pub(super) const MAX_POINTS: usize = 20_000;

/// The ops drawn, and how the ok ops were thinned.
pub(super) struct Thinned<'a> {
    /// The points to draw: every error and timeout (thinned too only when
    /// they alone are over half the cap), then every `ok_every`-th ok op.
    pub points: Vec<&'a OpPoint>,
    /// 1 when every ok op is drawn.
    pub ok_every: usize,
    /// 1 when every failed or indeterminate op is drawn.
    pub other_every: usize,
}

/// Thin `log` to at most [`MAX_POINTS`], deterministically (every n-th in
/// due order, no sampling): errors and timeouts are the points a reader
/// looks for, so they keep their places first.
pub(super) fn thin(log: &OpLog) -> Thinned<'_> {
    let ok = log.ops.iter().filter(|o| o.end == OpEnd::Ok).count();
    let other = log.ops.len() - ok;
    let every = |n: usize, room: usize| n.div_ceil(room.max(1)).max(1);
    let other_every = if other > MAX_POINTS / 2 {
        every(other, MAX_POINTS / 2)
    } else {
        1
    };
    let ok_every = every(ok, MAX_POINTS - other.div_ceil(other_every));
    let (mut n_ok, mut n_other) = (0usize, 0usize);
    let points = (log.ops.iter())
        .filter(|o| {
            let (n, step) = if o.end == OpEnd::Ok {
                (&mut n_ok, ok_every)
            } else {
                (&mut n_other, other_every)
            };
            *n += 1;
            (*n - 1) % step == 0
        })
        .collect();
    Thinned {
        points,
        ok_every,
        other_every,
    }
}

/// `n` as English writes an ordinal: 2nd, 3rd, 11th, 21st.
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The chart's title, saying what was left out when the ops were thinned.
pub(super) fn title(log: &OpLog) -> String {
    let t = thin(log);
    let base =
        "Every op's latency (due → end, app and probe; coloured by outcome; fault windows shaded)";
    match (t.ok_every, t.other_every) {
        (1, 1) => base.to_string(),
        (k, 1) => format!(
            "{base} — thinned: every {} ok op of {} drawn, every error and timeout",
            ordinal(k),
            log.ops.len()
        ),
        (k, j) => format!(
            "{base} — thinned: every {} ok op and every {} error or timeout of {} drawn",
            ordinal(k),
            ordinal(j),
            log.ops.len()
        ),
    }
}

/// The colour and legend name of each outcome, drawn in this order (ok
/// underneath, the rarer outcomes on top).
const OUTCOMES: [(OpEnd, &str, RGBColor); 3] = [
    (OpEnd::Ok, "ok", RGBColor(20, 80, 200)),
    (OpEnd::Failed, "error", RGBColor(210, 40, 40)),
    (
        OpEnd::Indeterminate,
        "indeterminate (timeout)",
        RGBColor(230, 150, 0),
    ),
];

/// The scatter on a log axis of ms.
pub(super) fn chart(r: &Report, log: &OpLog) -> Result<String, String> {
    let t = thin(log);
    if t.points.is_empty() {
        return Err("The run's history holds no op.".into());
    }
    // An op that ended within the clock's resolution still has a place.
    let floor = 0.001;
    let y = |p: &OpPoint| p.latency_ms.max(floor);
    let (lo, hi) = (t.points.iter())
        .map(|p| y(p))
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (y0, y1) = (lo / 1.5, hi * 3.0);
    let x1 = run_end_s(r).max(t.points.iter().map(|p| p.due_s).fold(0.0, f64::max));
    svg(H + 80, |root| {
        let x_desc = "seconds since the run's start (when the op was due)";
        let mut chart = latency_axes(root, r, x1, (y0, y1), x_desc)?;
        let mut key = Key::new();
        for (end, name, colour) in OUTCOMES {
            let mine: Vec<&OpPoint> = t.points.iter().copied().filter(|p| p.end == end).collect();
            if mine.is_empty() {
                continue;
            }
            let (style, r_px) = if end == OpEnd::Ok {
                (colour.mix(0.35).filled(), 2)
            } else {
                (colour.mix(0.9).filled(), 3)
            };
            let all = log.ops.iter().filter(|o| o.end == end).count();
            chart.draw_series(
                mine.iter()
                    .map(|p| Circle::new((p.due_s, y(p)), r_px, style)),
            )?;
            key.push((format!("{name} ({all})"), colour, Swatch::Dot));
        }
        side_legend(root, &key)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(ok: usize, failed: usize) -> OpLog {
        let op = |i: usize, end| OpPoint {
            due_s: i as f64 / 1000.0,
            latency_ms: 1.0,
            end,
            probe: false,
        };
        let mut ops: Vec<OpPoint> = (0..ok).map(|i| op(i, OpEnd::Ok)).collect();
        ops.extend((0..failed).map(|i| op(i * 7, OpEnd::Failed)));
        ops.sort_by(|a, b| a.due_s.total_cmp(&b.due_s));
        OpLog { ops }
    }

    #[test]
    fn a_small_run_draws_every_op_and_says_nothing_of_thinning() {
        let l = log(500, 20);
        let t = thin(&l);
        assert_eq!(t.points.len(), 520);
        assert!(!title(&l).contains("thinned"));
        let svg = chart(&crate::report::tests::sample(), &l).unwrap();
        assert_eq!(
            svg.matches("<circle").count(),
            520 + 2,
            "every op and two legend marks"
        );
        assert!(svg.contains("error (20)"));
    }

    #[test]
    fn a_long_run_is_thinned_to_the_cap_keeping_every_error() {
        let l = log(100_000, 300);
        let t = thin(&l);
        assert!(t.points.len() <= MAX_POINTS, "{}", t.points.len());
        assert!(t.points.len() > MAX_POINTS * 3 / 4, "{}", t.points.len());
        let errors = t.points.iter().filter(|p| p.end == OpEnd::Failed).count();
        assert_eq!(errors, 300);
        assert_eq!(t.ok_every, 6);
        // Deterministic: the same log thins the same way.
        let again = thin(&l);
        assert!(t.points.iter().zip(&again.points).all(|(a, b)| a == b));
        assert!(title(&l).contains("every 6th ok op of 100300 drawn"));
        let ords: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 111].map(ordinal).to_vec();
        assert_eq!(
            ords,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "111th"
            ]
        );
    }
}
