//! The time charts drawn from the run's ops ([`OpLog`]): latency and ops
//! binned at the run's own scale, so that a reshard of 0.6 s is a dozen
//! points rather than one second's.

use plotters::prelude::*;

use super::draw::{
    Lines, Series, latency_lines_chart, ops_lines_chart, recorded_end_s, run_end_s, runs,
};
use crate::report::model::Report;
use crate::report::oplog::{OpEnd, OpLog};

/// The fewest bins a run is cut into: ~50 points show a sub-second
/// event's shape over a 10 s run without one bin's few ops making noise.
pub(super) const MIN_BINS: f64 = 50.0;

/// Bin widths a reader can take in at a glance, s.
const WIDTHS: [f64; 14] = [
    0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0,
];

/// The widest readable bin that still cuts a run of `end_s` into at least
/// [`MIN_BINS`] bins (the narrowest for a run too short for that).
pub(super) fn bin_width(end_s: f64) -> f64 {
    WIDTHS
        .iter()
        .copied()
        .rev()
        .find(|w| end_s / w >= MIN_BINS)
        .unwrap_or(WIDTHS[0])
}

/// The width as the charts' titles write it (`0.2 s`, `1 s`).
pub(super) fn width_label(w: f64) -> String {
    if w >= 1.0 {
        format!("{w:.0} s")
    } else if w >= 0.1 {
        format!("{} s", (w * 100.0).round() / 100.0)
    } else {
        format!("{:.0} ms", w * 1000.0)
    }
}

/// One bin's ops.
#[derive(Default)]
struct Bin {
    app: Vec<f64>,
    probe: Vec<f64>,
    ok: u64,
    failed: u64,
    indeterminate: u64,
}

/// The ops cut into bins of `w` s, from the first op's bin to the last's,
/// quiet bins included (a stall is a gap, not nothing): `(bin start, bin)`.
fn bins(log: &OpLog, w: f64) -> Vec<(f64, Bin)> {
    // An op due on a bin's edge belongs to the later bin, whatever the
    // division's last bit says (0.6 / 0.2 is 2.9999999999999996).
    let index = |t: f64| (t / w + 1e-9).floor().max(0.0) as usize;
    let (Some(first), Some(last)) = (log.ops.first(), log.ops.last()) else {
        return Vec::new();
    };
    let (first, last) = (index(first.due_s), index(last.due_s));
    let mut out: Vec<(f64, Bin)> = (first..=last)
        .map(|i| (i as f64 * w, Bin::default()))
        .collect();
    for op in &log.ops {
        let b = &mut out[index(op.due_s).clamp(first, last) - first].1;
        match op.end {
            OpEnd::Ok => {
                b.ok += 1;
                let v = if op.probe { &mut b.probe } else { &mut b.app };
                v.push(op.latency_ms);
            }
            OpEnd::Failed => b.failed += 1,
            OpEnd::Indeterminate => b.indeterminate += 1,
        }
    }
    out
}

/// The nearest-rank percentile of `v`, as the checker takes it; None when empty.
fn percentile(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

/// The fewest ok ops per bin, on average, for a client class's
/// percentiles to mean something: below it, a bin's p99 is one op's latency
/// and the line is noise; the scatter ([`super::scatter`]) shows those ops.
const MIN_OPS_PER_BIN: f64 = 2.0;

/// Whether the app's (or the probe's) ok ops are too few to bin at `w`.
pub(super) fn too_sparse(log: &OpLog, w: f64, probe: bool) -> bool {
    let mine = || {
        log.ops
            .iter()
            .filter(|o| o.probe == probe && o.end == OpEnd::Ok)
    };
    let (Some(first), Some(last)) = (mine().next(), mine().next_back()) else {
        return true;
    };
    let bins = ((last.due_s - first.due_s) / w).floor() + 1.0;
    (mine().count() as f64) / bins < MIN_OPS_PER_BIN
}

/// App and probe p50 and p99 per bin, and the reference PING's p99 per
/// second (the pings are in the report, per second only).
pub(super) fn latency_lines(r: &Report, log: &OpLog, w: f64) -> Lines {
    let mut bins = bins(log, w);
    let mut lines: Lines = Vec::new();
    let mut add = |name: &str, colour, points: Vec<(f64, Option<f64>)>| {
        let r = runs(points);
        if !r.is_empty() {
            lines.push((name.to_string(), colour, r));
        }
    };
    let positive = |v: Option<f64>| v.filter(|v| *v > 0.0);
    let mut col = |probe: bool, q: f64| -> Vec<(f64, Option<f64>)> {
        (bins.iter_mut())
            .map(|(t, b)| {
                let v = if probe { &mut b.probe } else { &mut b.app };
                (*t + w / 2.0, positive(percentile(v, q)))
            })
            .collect()
    };
    let series = [
        ("app p50", RGBColor(120, 170, 230), col(false, 0.50)),
        ("app p99", RGBColor(20, 80, 200), col(false, 0.99)),
        ("probe p50", RGBColor(240, 180, 100), col(true, 0.50)),
        ("probe p99", RGBColor(220, 100, 0), col(true, 0.99)),
    ];
    for (i, (name, colour, points)) in series.into_iter().enumerate() {
        let probe = i >= 2;
        if !too_sparse(log, w, probe) {
            add(name, colour, points);
        }
    }
    add(
        "reference PING p99 (per second)",
        RGBColor(120, 120, 120),
        (r.per_second.iter())
            .map(|s| (s.t_s as f64 + 0.5, positive(s.ping_p99_ms)))
            .collect(),
    );
    lines
}

/// Latency per bin on a log axis (a failover's 500 ms timeouts beside a
/// 0.3 ms baseline), phases marked, faults shaded.
pub(super) fn latency_chart(r: &Report, log: &OpLog) -> Result<String, String> {
    let lines = latency_lines(r, log, bin_width(run_end_s(r)));
    latency_lines_chart(
        r,
        &lines,
        "No op succeeded in this run: no latency to draw.",
    )
}

/// When the workload was sending, s: from the first op due to the later of
/// the recording's end and the last op due (the schedule's last ops fall
/// due a few ms after the last phase is closed). The first and last bins
/// are rates over this span, so neither reads as a dip or a spike.
fn sending(log: &OpLog, end: f64) -> (f64, f64) {
    match (log.ops.first(), log.ops.last()) {
        (Some(first), Some(last)) => (first.due_s, last.due_s.max(end)),
        _ => (0.0, end),
    }
}

/// The count of bin `[t, t + w)` as a rate over the part of it inside the
/// sending span: `(middle of that part, count / its length)`; None for a
/// part shorter than a quarter bin (a sliver would be drawn as a spike).
fn per_sending(t: f64, w: f64, count: f64, (from, to): (f64, f64)) -> Option<(f64, f64)> {
    let (a, b) = (t.max(from), (t + w).min(to));
    let covered = b - a;
    (covered >= w / 4.0).then(|| (a + covered / 2.0, count / covered))
}

/// Ok, failed and indeterminate ops per bin, as rates (ops/s) so that the
/// axis reads the same whatever the bin; app and probe together.
pub(super) fn ops_series(r: &Report, log: &OpLog, w: f64) -> Vec<Series<'static>> {
    let bins = bins(log, w);
    let span = sending(log, recorded_end_s(r));
    let line = |f: fn(&Bin) -> u64| -> Vec<(f64, f64)> {
        (bins.iter())
            .filter_map(|(t, b)| per_sending(*t, w, f(b) as f64, span))
            .collect()
    };
    vec![
        ("ok", RGBColor(40, 150, 60), line(|b| b.ok)),
        ("failed", RGBColor(210, 40, 40), line(|b| b.failed)),
        (
            "indeterminate",
            RGBColor(230, 150, 0),
            line(|b| b.indeterminate),
        ),
    ]
}

/// The ops chart: [`ops_series`] over the run, faults shaded.
pub(super) fn ops_chart(r: &Report, log: &OpLog) -> Result<String, String> {
    if log.ops.is_empty() {
        return Err("The run's history holds no op.".into());
    }
    let w = bin_width(run_end_s(r));
    let series = ops_series(r, log, w);
    ops_lines_chart(r, series)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::oplog::OpPoint;

    /// A 10 s run of 100 ops/s at 1 ms, with a 0.6 s stall at 4.2 s where
    /// ops took 400 ms and a few timed out.
    fn stalled() -> OpLog {
        let ops = (0..1000)
            .map(|i| {
                let t = i as f64 / 100.0;
                let stalled = (4.2..4.8).contains(&t);
                OpPoint {
                    due_s: t,
                    latency_ms: if stalled { 400.0 } else { 1.0 },
                    end: if stalled && i % 5 == 0 {
                        OpEnd::Indeterminate
                    } else {
                        OpEnd::Ok
                    },
                    probe: i % 10 == 0,
                }
            })
            .collect();
        OpLog { ops }
    }

    /// The Docker reshard's shape: 4000 ops/s due from 50.7 ms to 5348.5 ms,
    /// the last phase closed at 5340 ms. Every bin reads 4000 ops/s: the
    /// first is not a dip (ops began mid-bin) and the last not a spike (ops
    /// fell due after the recording's end).
    #[test]
    fn the_first_and_last_bins_are_rates_over_the_time_ops_were_sent() {
        let ops = (0..21192)
            .map(|i| OpPoint {
                due_s: 0.0507 + i as f64 / 4000.0,
                latency_ms: 1.0,
                end: OpEnd::Ok,
                probe: false,
            })
            .collect();
        let log = OpLog { ops };
        let span = sending(&log, 5.340);
        let rates: Vec<f64> = (bins(&log, 0.1).iter())
            .filter_map(|(t, b)| per_sending(*t, 0.1, b.ok as f64, span))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(rates.len(), 54);
        for v in rates {
            assert!((3950.0..4050.0).contains(&v), "{v} ops/s");
        }
        // Without the span, as drawn before: the last bin read 4850 ops/s.
        assert_eq!(
            super::super::draw::per_covered(5.3, 0.1, 194.0, 5.340).map(|p| p.1.round()),
            Some(4850.0)
        );
    }

    #[test]
    fn a_run_is_cut_into_at_least_fifty_readable_bins() {
        assert_eq!(bin_width(10.0), 0.2);
        assert_eq!(bin_width(12.0), 0.2);
        assert_eq!(bin_width(60.0), 1.0);
        assert_eq!(bin_width(600.0), 10.0);
        // Too short for 50 of the narrowest: the narrowest.
        assert_eq!(bin_width(0.2), 0.01);
        assert_eq!(width_label(0.2), "0.2 s");
        assert_eq!(width_label(0.05), "50 ms");
        assert_eq!(width_label(2.0), "2 s");
    }

    #[test]
    fn a_sub_second_stall_is_several_points_not_one_second() {
        let mut r = crate::report::tests::sample();
        r.phases = vec![crate::report::model::PhaseMs {
            name: "during".into(),
            start_ms: 0.0,
            end_ms: 10_000.0,
        }];
        let log = stalled();
        let w = bin_width(10.0);
        let lines = latency_lines(&r, &log, w);
        let app_p99 = &lines.iter().find(|l| l.0 == "app p99").unwrap().2;
        let points: Vec<(f64, f64)> = app_p99.iter().flatten().copied().collect();
        assert_eq!(points.len(), 50, "one point per 0.2 s bin");
        let slow = points.iter().filter(|p| p.1 >= 400.0).count();
        assert_eq!(slow, 3, "the 0.6 s stall is three bins: {points:?}");
        let ops = ops_series(&r, &log, w);
        let indeterminate = &ops[2].2;
        assert!(indeterminate.iter().any(|p| p.1 > 0.0));
        // 100 ops/s whatever the bin: a rate, not a count per bin.
        assert!(ops[0].2.iter().take(10).all(|p| (p.1 - 100.0).abs() < 1e-6));
        assert!(latency_chart(&r, &log).unwrap().contains("app p99"));
    }
}
