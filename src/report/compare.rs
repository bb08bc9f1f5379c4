//! `compare OLD NEW`: what moved between two runs of the same drills (two
//! report.json files, or two folders of runs such as two nightlies). Pure:
//! the CLI reads the reports, this diffs them.
//!
//! The figures are the headline figures ([`super::headline`]); every one of
//! them is better lower. A figure moved when the change passes BOTH its
//! threshold's absolute and relative parts (so 0.3 → 0.6 ms is not a p99
//! regression, and 0 → 1 lost write is). A verdict flip is always listed.

use std::collections::BTreeMap;

use serde::Serialize;

use super::figures::{bounding_slos, headline};
use super::model::{Report, Verdict};

/// How far a figure may move before it is listed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Threshold {
    /// In the figure's unit.
    pub abs: f64,
    /// As a fraction of the old value.
    pub rel: f64,
}

/// The default thresholds, per headline figure. A loss where there was none
/// is always listed (0 → 1 passes any relative part); a drill that loses
/// writes by design (a node without persistence killed) loses a different
/// number every run, so past zero a loss is listed when it grows by more
/// than a quarter — else a nightly would cry wolf every night.
pub fn default_thresholds() -> BTreeMap<&'static str, Threshold> {
    let t = |abs, rel| Threshold { abs, rel };
    BTreeMap::from([
        ("downtime_ms", t(500.0, 0.25)),
        ("probe_downtime_ms", t(500.0, 0.25)),
        ("p99_ms", t(5.0, 0.5)),
        ("lost_writes", t(0.0, 0.25)),
        ("lost_acknowledged_writes", t(0.0, 0.25)),
        ("failover_ms", t(500.0, 0.2)),
        ("convergence_ms", t(500.0, 0.5)),
    ])
}

/// Which way a change went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Worse: a regression.
    Worse,
    Better,
    /// Measured before, not now: a regression (nothing shows it held).
    NoLongerMeasured,
    /// Measured now, not before.
    NowMeasured,
}

impl Direction {
    /// Whether the move makes the nightly fail as regressed: worse, or a
    /// figure that is no longer measured (a blind spot is a regression).
    pub fn is_regression(self) -> bool {
        matches!(self, Direction::Worse | Direction::NoLongerMeasured)
    }
}

/// One figure of one drill that moved beyond its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Moved {
    pub drill: String,
    pub figure: &'static str,
    pub old: Option<f64>,
    pub new: Option<f64>,
    pub direction: Direction,
    /// Worse, but the drill expects (or allows) an SLO over this figure to
    /// fail and its expectation held: listed, not a regression.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expected: bool,
}

impl Moved {
    /// Whether this move is a regression: worse (unless the drill expects
    /// it), or no longer measured.
    pub fn is_regression(&self) -> bool {
        self.direction.is_regression() && !(self.expected && self.direction == Direction::Worse)
    }
}

/// A drill whose verdict changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flip {
    pub drill: String,
    /// `None`: the drill did not run on that side.
    pub old: Option<Verdict>,
    pub new: Option<Verdict>,
    /// Whether what the drill is gated on got worse: its verdict, or for a
    /// drill with an `expect` block, whether its expectation held (a drill
    /// allowed to fail that flips from pass to fail has not regressed).
    pub regression: bool,
}

/// Everything that moved between two sets of runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comparison {
    pub moved: Vec<Moved>,
    pub flips: Vec<Flip>,
    pub regressed: bool,
}

/// What a drill is gated on: its verdict, or for a drill written to show a
/// hazard, whether it showed as expected.
fn gate(r: &Report) -> Verdict {
    r.expected.as_ref().map_or(r.verdict, |e| e.result)
}

/// A verdict's rank: the higher, the worse.
fn rank(v: Option<Verdict>) -> u8 {
    match v {
        Some(Verdict::Pass) => 0,
        Some(Verdict::Unknown) => 1,
        Some(Verdict::Fail) => 2,
        // A drill that did not run shows nothing held.
        None => 3,
    }
}

/// Whether `old → new` passes the threshold (both its parts).
fn beyond(old: f64, new: f64, t: Threshold) -> bool {
    let d = (new - old).abs();
    d > t.abs && d > t.rel * old.abs()
}

/// Compare drills by scenario name: `old` and `new` map a drill to its report.
pub fn compare(
    old: &BTreeMap<String, Report>,
    new: &BTreeMap<String, Report>,
    thresholds: &BTreeMap<&'static str, Threshold>,
) -> Comparison {
    let mut c = Comparison::default();
    let drills: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for drill in drills {
        let (o, n) = (old.get(drill), new.get(drill));
        let (ov, nv) = (o.map(|r| r.verdict), n.map(|r| r.verdict));
        if ov != nv {
            c.flips.push(Flip {
                drill: drill.clone(),
                old: ov,
                new: nv,
                regression: rank(n.map(gate)) > rank(o.map(gate)),
            });
        }
        let (Some(o), Some(n)) = (o, n) else { continue };
        let expected = |key: &str| {
            let Some(e) = n.expected.as_ref().filter(|e| e.result == Verdict::Pass) else {
                return false;
            };
            let bounds = bounding_slos(key);
            (e.spec.fail.iter().chain(&e.spec.may_fail))
                .any(|slo| bounds.contains(&slo.split('[').next().unwrap_or(slo)))
        };
        let before: BTreeMap<_, _> = headline(o).into_iter().map(|h| (h.key, h.value)).collect();
        for h in headline(n) {
            let was = before.get(h.key).copied().flatten();
            let direction = match (was, h.value) {
                (Some(a), Some(b)) => {
                    let t = thresholds
                        .get(h.key)
                        .copied()
                        .unwrap_or(Threshold { abs: 0.0, rel: 0.0 });
                    if !beyond(a, b, t) {
                        continue;
                    }
                    if b > a {
                        Direction::Worse
                    } else {
                        Direction::Better
                    }
                }
                (Some(_), None) => Direction::NoLongerMeasured,
                (None, Some(_)) => Direction::NowMeasured,
                (None, None) => continue,
            };
            c.moved.push(Moved {
                drill: drill.clone(),
                figure: h.key,
                old: was,
                new: h.value,
                direction,
                expected: expected(h.key),
            });
        }
    }
    c.regressed = c.flips.iter().any(|f| f.regression) || c.moved.iter().any(Moved::is_regression);
    c
}

/// Parse `KEY=ABS` or `KEY=ABS,REL` into `thresholds` (a `--threshold`).
pub fn set_threshold(
    thresholds: &mut BTreeMap<&'static str, Threshold>,
    spec: &str,
) -> Result<(), String> {
    let (key, value) = spec
        .split_once('=')
        .ok_or_else(|| format!("`{spec}`: expected FIGURE=ABS or FIGURE=ABS,REL"))?;
    let (&name, t) = thresholds
        .iter()
        .find(|(k, _)| **k == key.trim())
        .ok_or_else(|| {
            let known: Vec<&str> = thresholds.keys().copied().collect();
            format!(
                "`{key}`: not a compared figure (one of {})",
                known.join(", ")
            )
        })?;
    let mut t = *t;
    let number = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("`{spec}`: `{s}` is not a number ≥ 0"))
    };
    match value.split_once(',') {
        Some((abs, rel)) => {
            t.abs = number(abs)?;
            t.rel = number(rel)?;
        }
        None => t.abs = number(value)?,
    }
    thresholds.insert(name, t);
    Ok(())
}

/// The comparison as lines for a terminal.
pub fn render_text(c: &Comparison) -> String {
    use std::fmt::Write as _;
    let show = |v: Option<f64>| v.map_or("not measured".to_string(), |v| format!("{v:.2}"));
    let show_v = |v: Option<Verdict>| v.map_or("did not run", Verdict::as_str);
    let mut s = String::new();
    for f in &c.flips {
        let _ = writeln!(
            s,
            "{}  verdict {} → {}{}",
            f.drill,
            show_v(f.old),
            show_v(f.new),
            if f.regression { "  REGRESSION" } else { "" }
        );
    }
    for m in &c.moved {
        let _ = writeln!(
            s,
            "{}  {} {} → {}  ({}){}",
            m.drill,
            m.figure,
            show(m.old),
            show(m.new),
            match m.direction {
                Direction::Worse => "worse",
                Direction::Better => "better",
                Direction::NoLongerMeasured => "no longer measured",
                Direction::NowMeasured => "now measured",
            },
            if m.is_regression() {
                "  REGRESSION"
            } else if m.expected {
                "  (expected by the drill)"
            } else {
                ""
            }
        );
    }
    if s.is_empty() {
        s.push_str("nothing moved beyond its threshold\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{sample, sample_failover};

    fn one(r: Report) -> BTreeMap<String, Report> {
        BTreeMap::from([(r.scenario.clone(), r)])
    }

    #[test]
    fn the_same_run_moves_nothing() {
        let c = compare(
            &one(sample_failover()),
            &one(sample_failover()),
            &default_thresholds(),
        );
        assert_eq!(c, Comparison::default());
        assert_eq!(render_text(&c), "nothing moved beyond its threshold\n");
    }

    #[test]
    fn an_injected_regression_is_flagged_and_noise_is_not() {
        let mut old = sample_failover();
        let mut new = sample_failover();
        // Failover 2790 → 4000 ms: beyond 500 ms and 20 %.
        new.faults[0].failover[0].state_ok_after_ms = Some(4000.0);
        // A first lost write, where there was none: always listed.
        old.checks.lost_acknowledged_writes = 0;
        new.checks.lost_acknowledged_writes = 1;
        // p99 7.5 → 9 ms: under 5 ms, not listed.
        new.workload.app.latency_ms.get_mut("during").unwrap().p99 = 9.0;
        let c = compare(&one(old), &one(new), &default_thresholds());
        let figures: Vec<(&str, Direction)> =
            c.moved.iter().map(|m| (m.figure, m.direction)).collect();
        assert_eq!(
            figures,
            [
                ("lost_acknowledged_writes", Direction::Worse),
                ("failover_ms", Direction::Worse)
            ]
        );
        assert!(c.regressed);
        assert!(render_text(&c).contains("failover_ms 2790.00 → 4000.00  (worse)  REGRESSION"));
    }

    #[test]
    fn a_loss_by_design_is_listed_when_it_grows_by_more_than_a_quarter() {
        let lost = |old: u64, new: u64| {
            let (mut a, mut b) = (sample_failover(), sample_failover());
            a.checks.lost_acknowledged_writes = old;
            b.checks.lost_acknowledged_writes = new;
            compare(&one(a), &one(b), &default_thresholds())
                .moved
                .iter()
                .map(|m| m.figure)
                .collect::<Vec<_>>()
        };
        assert!(lost(319, 331).is_empty(), "run-to-run noise");
        assert!(lost(4, 5).is_empty());
        assert_eq!(lost(4, 6), ["lost_acknowledged_writes"]);
        assert_eq!(lost(0, 1), ["lost_acknowledged_writes"]);
    }

    #[test]
    fn an_improvement_is_listed_but_no_regression() {
        let old = sample_failover();
        let mut new = sample_failover();
        new.faults[0].failover[0].state_ok_after_ms = Some(1000.0);
        let c = compare(&one(old), &one(new), &default_thresholds());
        assert_eq!(c.moved.len(), 1);
        assert_eq!(c.moved[0].direction, Direction::Better);
        assert!(!c.regressed);
    }

    #[test]
    fn verdict_flips_are_always_listed_and_worse_ones_regress() {
        let mut pass = sample();
        pass.verdict = Verdict::Pass;
        let fail = sample();
        let c = compare(
            &one(pass.clone()),
            &one(fail.clone()),
            &default_thresholds(),
        );
        assert_eq!(c.flips.len(), 1);
        assert!(c.flips[0].regression && c.regressed);
        let back = compare(&one(fail), &one(pass.clone()), &default_thresholds());
        assert!(!back.flips[0].regression && !back.regressed);
        // A drill that no longer ran is a regression; a new drill is not.
        let gone = compare(&one(pass.clone()), &BTreeMap::new(), &default_thresholds());
        assert!(gone.regressed, "{gone:?}");
        let added = compare(&BTreeMap::new(), &one(pass), &default_thresholds());
        assert!(!added.regressed, "{added:?}");
    }

    /// A drill allowed to lose acknowledged writes (`may_fail`) that loses
    /// one tonight and none last night has not regressed: its flip and its
    /// figure are listed, the nightly stays green; once its expectation
    /// fails (another SLO broke), the same flip is a regression.
    #[test]
    fn what_a_drill_allows_to_fail_does_not_regress_while_its_expectation_holds() {
        let allowing = |verdict, lost, held| {
            let mut r = sample_failover();
            r.verdict = verdict;
            r.checks.lost_acknowledged_writes = lost;
            r.expected = Some(crate::report::model::Expected {
                spec: crate::report::model::ExpectSpec {
                    fail: vec![],
                    may_fail: vec!["max_lost_acknowledged_writes".into()],
                    why: None,
                },
                result: if held { Verdict::Pass } else { Verdict::Fail },
                note: String::new(),
            });
            r
        };
        let old = allowing(Verdict::Pass, 0, true);
        let c = compare(
            &one(old.clone()),
            &one(allowing(Verdict::Fail, 1, true)),
            &default_thresholds(),
        );
        assert_eq!(c.flips.len(), 1, "{c:?}");
        assert!(!c.flips[0].regression, "{c:?}");
        let lost = c
            .moved
            .iter()
            .find(|m| m.figure == "lost_acknowledged_writes");
        assert!(
            lost.is_some_and(|m| m.expected && !m.is_regression()),
            "{c:?}"
        );
        assert!(!c.regressed, "{c:?}");
        assert!(
            render_text(&c).contains("(worse)  (expected by the drill)"),
            "{}",
            render_text(&c)
        );
        let broke = compare(
            &one(old),
            &one(allowing(Verdict::Fail, 1, false)),
            &default_thresholds(),
        );
        assert!(broke.flips[0].regression && broke.regressed, "{broke:?}");
        assert!(broke.moved.iter().all(|m| !m.expected), "{broke:?}");
    }

    #[test]
    fn a_figure_no_longer_measured_regresses() {
        let old = sample();
        let mut new = sample();
        new.convergence_ms = None;
        let c = compare(&one(old), &one(new), &default_thresholds());
        assert_eq!(c.moved[0].figure, "convergence_ms");
        assert_eq!(c.moved[0].direction, Direction::NoLongerMeasured);
        assert!(c.regressed);
    }

    #[test]
    fn thresholds_parse_and_name_what_is_wrong() {
        let mut t = default_thresholds();
        set_threshold(&mut t, "p99_ms=2").unwrap();
        assert_eq!(t["p99_ms"], Threshold { abs: 2.0, rel: 0.5 });
        set_threshold(&mut t, "downtime_ms=100,0.1").unwrap();
        assert_eq!(
            t["downtime_ms"],
            Threshold {
                abs: 100.0,
                rel: 0.1
            }
        );
        assert!(
            set_threshold(&mut t, "p99=2")
                .unwrap_err()
                .contains("not a compared figure")
        );
        assert!(
            set_threshold(&mut t, "p99_ms=-1")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            set_threshold(&mut t, "p99_ms")
                .unwrap_err()
                .contains("expected")
        );
        // Every headline figure has a default.
        for h in headline(&sample()) {
            assert!(default_thresholds().contains_key(h.key), "{}", h.key);
        }
    }
}
