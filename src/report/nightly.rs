//! A nightly: every shipped drill run in turn into one folder, summed up.
//! Pure: the CLI (`redis-drill nightly`) runs the drills and reads their
//! reports; this builds the summary, its trend against the previous nightly
//! ([`super::compare`]), the exit code, `index.html` and `junit.xml`.
//!
//! A drill that did not finish (it hung past its time bound, or its run
//! could not start or crashed) has no report: it is listed with its
//! [`DrillStatus`], its verdict is `unknown` (the tool could not do what was
//! asked), and `compare` sees it as a drill that did not run — a regression
//! when it ran the night before.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};

use super::compare::{self, Comparison, Direction, Threshold};
use super::figures::headline;
use super::model::{Expected, Report, Verdict};
use crate::exit;
use maud::{Markup, html};

/// How a drill's run ended, as the nightly saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillStatus {
    /// It ran to its end and wrote a report (whatever its verdict).
    Finished,
    /// It ran past its time bound and was killed; its resources were
    /// removed by run id.
    TimedOut,
    /// It ended without a report: bad input, environment, crash (the exit
    /// code and the end of its stderr say which).
    Error,
}

/// One headline figure of a drill, owned (the summary is read back by the
/// next nightly); named apart from the report model's `Figure`, which is
/// what a run knows of one SLO's figure (measured, or why not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadlineFigure {
    pub key: String,
    pub label: String,
    pub unit: String,
    pub value: Option<f64>,
}

/// One drill of a nightly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillEntry {
    /// The scenario's name (its file's stem).
    pub drill: String,
    pub status: DrillStatus,
    /// The report's verdict; `unknown` when there is no report.
    pub verdict: Verdict,
    /// The `run` process's exit code (`None`: killed).
    pub exit_code: Option<i32>,
    pub run_id: String,
    pub duration_ms: f64,
    /// The run folder, relative to the nightly folder (`None`: no report).
    pub run_dir: Option<String>,
    /// SLOs passed, failed, unknown.
    pub slo_pass: usize,
    pub slo_fail: usize,
    pub slo_unknown: usize,
    /// The SLOs that did not pass, as `name value (limit L)` or `name
    /// unknown: why` — what a reader of the index wants first.
    #[serde(default)]
    pub not_passed: Vec<String>,
    pub figures: Vec<HeadlineFigure>,
    /// Why there is no report (timeout, the last lines of stderr).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The SLOs the drill is written to break, and whether it did
    /// (the report's `expected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Expected>,
}

impl DrillEntry {
    /// The entry of a drill that wrote `report` into `run_dir`.
    pub fn finished(
        report: &Report,
        run_id: String,
        exit_code: Option<i32>,
        duration_ms: f64,
        run_dir: String,
    ) -> DrillEntry {
        let count = |v| report.slo.iter().filter(|s| s.result == v).count();
        DrillEntry {
            drill: report.scenario.clone(),
            status: DrillStatus::Finished,
            verdict: report.verdict,
            exit_code,
            run_id,
            duration_ms,
            run_dir: Some(run_dir),
            slo_pass: count(Verdict::Pass),
            slo_fail: count(Verdict::Fail),
            slo_unknown: count(Verdict::Unknown),
            not_passed: report
                .slo
                .iter()
                .filter(|s| s.result != Verdict::Pass)
                .map(|s| match (s.result, s.value) {
                    (Verdict::Fail, Some(v)) => {
                        format!("{} {v:.2} (limit {})", s.name, s.bound.show(s.limit))
                    }
                    _ => format!(
                        "{} {}: {}",
                        s.name,
                        s.result.as_str(),
                        s.note.as_deref().unwrap_or("not measured")
                    ),
                })
                .collect(),
            figures: headline(report)
                .into_iter()
                .map(|h| HeadlineFigure {
                    key: h.key.into(),
                    label: h.label.into(),
                    unit: h.unit.into(),
                    value: h.value,
                })
                .collect(),
            note: None,
            expected: report.expected.clone(),
        }
    }

    /// What the nightly counts: the verdict, or for a drill written to show
    /// a hazard, whether it failed as it is meant to.
    pub fn gate(&self) -> Verdict {
        match (&self.expected, self.status) {
            (Some(e), DrillStatus::Finished) => e.result,
            _ => self.verdict,
        }
    }

    /// The entry of a drill that left no report.
    pub fn without_report(
        drill: String,
        status: DrillStatus,
        run_id: String,
        exit_code: Option<i32>,
        duration_ms: f64,
        note: String,
    ) -> DrillEntry {
        DrillEntry {
            drill,
            status,
            verdict: Verdict::Unknown,
            exit_code,
            run_id,
            duration_ms,
            run_dir: None,
            slo_pass: 0,
            slo_fail: 0,
            slo_unknown: 0,
            not_passed: Vec::new(),
            figures: Vec::new(),
            note: Some(note),
            expected: None,
        }
    }
}

/// What the index's sparklines read of an earlier nightly's `summary.json`:
/// when it ran and its drills (the rest of the file is left unread).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PastNightly {
    pub started_at: String,
    pub drills: Vec<DrillEntry>,
}

/// `summary.json` of a nightly folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub format_version: u32,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_ms: f64,
    pub runtime: String,
    /// Each drill's time bound, s.
    pub drill_timeout_s: u64,
    pub drills: Vec<DrillEntry>,
    /// The previous nightly folder the trend compares against (its name, a
    /// sibling of this one); `None` on the first nightly.
    pub previous: Option<String>,
    /// What moved since the previous nightly (empty without one).
    pub trend: Comparison,
    /// pass, fail, regressed or unknown: what [`exit_code`] says in words.
    pub outcome: NightlyOutcome,
    pub exit_code: i32,
}

/// What a nightly found, worst first: a scheduler reads it from the exit
/// code. Named apart from an op's `record::ops::Outcome`; serialized as
/// before (`failed`, `regressed`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NightlyOutcome {
    /// A drill's verdict is fail.
    Failed,
    /// No drill failed, but something got worse since the previous nightly.
    Regressed,
    /// Nothing failed or regressed, but a verdict is unknown (or a drill
    /// timed out or could not run).
    Unknown,
    /// Every drill passed and nothing regressed.
    Passed,
}

impl NightlyOutcome {
    /// The exit code of `redis-drill nightly` ([`crate::exit`]).
    pub const fn code(self) -> i32 {
        match self {
            NightlyOutcome::Failed => exit::CHECK_FAILED,
            NightlyOutcome::Regressed => exit::REGRESSED,
            NightlyOutcome::Unknown => exit::UNKNOWN,
            NightlyOutcome::Passed => exit::SUCCESS,
        }
    }
}

/// The nightly's outcome from its drills and its trend.
pub fn outcome(drills: &[DrillEntry], trend: &Comparison) -> NightlyOutcome {
    if drills.iter().any(|d| d.gate() == Verdict::Fail) {
        NightlyOutcome::Failed
    } else if trend.regressed {
        NightlyOutcome::Regressed
    } else if drills.iter().any(|d| d.gate() != Verdict::Pass) {
        NightlyOutcome::Unknown
    } else {
        NightlyOutcome::Passed
    }
}

/// The trend: `compare` of the previous nightly's reports against this
/// one's, over the drills this nightly ran (a drill left out with `--only`
/// is not a drill that stopped running). A drill of this nightly without a
/// report is absent from `new`, so a drill that ran before and hung now is
/// a regression.
pub fn trend(
    previous: &BTreeMap<String, Report>,
    current: &BTreeMap<String, Report>,
    drills: &[DrillEntry],
    thresholds: &BTreeMap<&'static str, Threshold>,
) -> Comparison {
    let ran: std::collections::BTreeSet<&str> = drills.iter().map(|d| d.drill.as_str()).collect();
    let old: BTreeMap<String, Report> = previous
        .iter()
        .filter(|(k, _)| ran.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if old.is_empty() {
        return Comparison::default();
    }
    compare::compare(&old, current, thresholds)
}

/// The drill's result in a few words: its verdict (for a drill written to
/// fail, with whether it failed so), `timed out` or `error`.
pub fn status_word(d: &DrillEntry) -> &'static str {
    match d.status {
        DrillStatus::Finished if d.expected.is_some() => match (d.verdict, d.gate()) {
            // Only `may_fail` SLOs: either result meets the expectation.
            (Verdict::Fail, Verdict::Pass)
                if d.expected.as_ref().is_some_and(|e| e.spec.fail.is_empty()) =>
            {
                "fail, as allowed"
            }
            (Verdict::Pass, Verdict::Pass) => "pass",
            (Verdict::Fail, Verdict::Pass) => "fail, as expected",
            (Verdict::Pass, _) => "pass, expected fail",
            (_, Verdict::Unknown) => "unknown",
            _ => "fail, not as expected",
        },
        DrillStatus::Finished => d.verdict.as_str(),
        DrillStatus::TimedOut => "timed out",
        DrillStatus::Error => "error",
    }
}

/// What changed for `drill` since the previous nightly, as short lines.
fn changes(s: &Summary, drill: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for f in s.trend.flips.iter().filter(|f| f.drill == drill) {
        let v = |v: Option<Verdict>| v.map_or("did not finish", Verdict::as_str);
        out.push((format!("verdict {} → {}", v(f.old), v(f.new)), f.regression));
    }
    for m in s.trend.moved.iter().filter(|m| m.drill == drill) {
        let word = match m.direction {
            Direction::Worse if m.expected => "worse, as the drill allows",
            Direction::Worse => "worse",
            Direction::Better => "better",
            Direction::NoLongerMeasured => "no longer measured",
            Direction::NowMeasured => "now measured",
        };
        let n = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.1}"));
        out.push((
            format!("{} {} → {} ({word})", m.figure, n(m.old), n(m.new)),
            m.is_regression(),
        ));
    }
    out
}

/// How much a drill needs a reader's look, most first: failed, did not
/// finish, unknown, regressed, passed only as its scenario expects (a
/// drill written to fail), passed. The index lists them in this order.
fn attention(s: &Summary, d: &DrillEntry) -> u8 {
    let regressed = || changes(s, &d.drill).iter().any(|(_, reg)| *reg);
    match (d.status, d.gate()) {
        (DrillStatus::Finished, Verdict::Fail) => 0,
        (DrillStatus::TimedOut | DrillStatus::Error, _) => 1,
        (_, Verdict::Unknown) => 2,
        _ if regressed() => 3,
        _ if d.expected.is_some() => 4,
        _ => 5,
    }
}

/// The index's style: the run report's, with compact rows.
const INDEX_STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222;max-width:1200px}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;vertical-align:top;text-align:left}\
td.n{text-align:right;white-space:nowrap}td.v{white-space:nowrap}td.v small{white-space:normal;display:inline-block;max-width:24em}\
.pass{background:#d9f2d9}.fail,.error,.timed-out{background:#f8d0d0}.unknown{background:#f3ecc2}\
.regressed{background:#fbe0c0}.reg{color:#b00;font-weight:bold}small{color:#666}h2{font-size:1.1em}\
rect.sq{stroke:#888;stroke-width:.5}rect.pass{fill:#5a5}rect.fail,rect.error,rect.timed-out{fill:#d44}\
rect.unknown{fill:#db3}rect.absent{fill:none}.spark{fill:none;stroke:#357;stroke-width:1.2}circle.spark{fill:#357}";

/// `index.html`: the drills that need a look (did not pass, regressed, or
/// passed only as expected) on top, then those that passed; one compact
/// row per drill, linking to its `report.html`. Self-contained (inline
/// CSS, no script, no network); written through maud, which escapes every
/// value. `history` holds the earlier nightlies in this folder, oldest
/// first, for each drill's sparkline ([`SPARK_NIGHTLIES`] at most are drawn).
pub fn render_index(s: &Summary, history: &[PastNightly]) -> String {
    let history = &history[history.len().saturating_sub(SPARK_NIGHTLIES - 1)..];
    let mut drills: Vec<&DrillEntry> = s.drills.iter().collect();
    drills.sort_by_key(|d| attention(s, d));
    let (look, passed): (Vec<&DrillEntry>, Vec<&DrillEntry>) =
        drills.into_iter().partition(|d| attention(s, d) < 5);
    let body = html! {
        h1 { "Nightly " (s.started_at) }
        (index_head(s))
        @if !look.is_empty() {
            h2 { "Needs a look (" (look.len()) ")" }
            (drill_table(s, history, &look))
        }
        @if !passed.is_empty() {
            h2 { "Passed (" (passed.len()) ")" }
            (drill_table(s, history, &passed))
        }
        @for f in s.trend.flips.iter().filter(|f| !s.drills.iter().any(|d| d.drill == f.drill)) {
            p class="reg" { (f.drill) ": ran in the previous nightly, not in this one — REGRESSION" }
        }
        p { small { "Written by redis-drill nightly; summary.json holds the same, junit.xml one suite per drill." } }
    };
    super::html::page(
        &format!("redis-drill nightly {}", s.started_at),
        &[INDEX_STYLE],
        body,
    )
}

/// The outcome, the environment, and the nightly compared with.
fn index_head(s: &Summary) -> Markup {
    let outcome = match s.outcome {
        NightlyOutcome::Failed => "fail",
        NightlyOutcome::Regressed => "regressed",
        NightlyOutcome::Unknown => "unknown",
        NightlyOutcome::Passed => "pass",
    };
    html! {
        p class=(outcome) {
            "Outcome: " b { (outcome) } " (exit code " (s.exit_code) ") · " (s.drills.len())
            " drills · " (s.runtime) " runtime · " (format!("{:.1}", s.duration_ms / 60_000.0))
            " min · each drill bounded to " (s.drill_timeout_s) " s"
        }
        p {
            "Compared with: "
            @match s.previous.as_deref() {
                Some(p) => a href={ "../" (p) "/index.html" } { (p) },
                None => "nothing (the first nightly in this folder)",
            }
        }
    }
}

/// One compact row per drill: its name and run, its verdict (and what it
/// was expected to do), its SLOs and those that did not pass, what moved
/// since the previous nightly, its time, its report.
fn drill_table(s: &Summary, history: &[PastNightly], drills: &[&DrillEntry]) -> Markup {
    html! {
        table {
            tr {
                th { "Drill" } th { "Verdict" } th { "Last nightlies" } th { "SLOs pass/fail/unknown" }
                th { "Since the previous nightly" } th { "Time" } th { "Report" }
            }
            @for d in drills {
                tr {
                    td { (d.drill) br; small { "run " (d.run_id) } }
                    td class={ "v " (verdict_class(d)) } {
                        (status_word(d))
                        @if let Some(e) = &d.expected { br; small { (e.line()) } }
                    }
                    td class="v" { (sparkline(s, history, d)) }
                    td {
                        (d.slo_pass) "/" (d.slo_fail) "/" (d.slo_unknown)
                        @for n in &d.not_passed { br; small { (n) } }
                        @if let Some(note) = &d.note { br; small { (note) } }
                    }
                    td { (moved(s, d)) }
                    td class="n" { (format!("{:.0} s", d.duration_ms / 1000.0)) }
                    td {
                        @match d.run_dir.as_deref() {
                            Some(dir) => {
                                a href={ (dir) "/report.html" } { "report.html" } " · "
                                a href={ (dir) "/report.json" } { "json" }
                            }
                            None => "—",
                        }
                    }
                }
            }
        }
    }
}

/// How many nightlies (this one included) a drill's sparkline shows.
pub const SPARK_NIGHTLIES: usize = 14;

/// One drill across the last nightlies, oldest on the left, this one on the
/// right: a square per nightly coloured by its verdict (hollow where the
/// drill did not run), and under it a line of its first measured headline
/// figure (a gap where it was not measured). Each square's tooltip says the
/// nightly and the result.
fn sparkline(s: &Summary, history: &[PastNightly], d: &DrillEntry) -> Markup {
    const STEP: f64 = 12.0;
    const LINE_H: f64 = 16.0;
    let nights: Vec<(&str, Option<&DrillEntry>)> = history
        .iter()
        .map(|h| {
            let e = h.drills.iter().find(|e| e.drill == d.drill);
            (h.started_at.as_str(), e)
        })
        .chain(std::iter::once((s.started_at.as_str(), Some(d))))
        .collect();
    let figure = d.figures.iter().find(|f| f.value.is_some());
    let values: Vec<Option<f64>> = nights
        .iter()
        .map(|(_, e)| {
            let f = figure?;
            (*e)?.figures.iter().find(|g| g.key == f.key)?.value
        })
        .collect();
    let (lo, hi) = values
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let y = |v: f64| {
        let span = hi - lo;
        let at = if span > 0.0 { (v - lo) / span } else { 0.5 };
        14.0 + LINE_H - at * LINE_H
    };
    let runs = super::html::runs(
        (values.iter().enumerate()).map(|(i, v)| (i as f64 * STEP + 5.5, v.map(y))),
    );
    let width = nights.len() as f64 * STEP;
    let height = 16.0 + LINE_H;
    html! {
        svg width=(width) height=(height) role="img" aria-label={ "the last " (nights.len()) " nightlies" } {
            @for (i, (at, e)) in nights.iter().enumerate() {
                rect x=(i as f64 * STEP + 0.5) y="0.5" width="10" height="10"
                    class={ "sq " (e.map_or("absent".to_string(), verdict_class)) } {
                    title { (at) ": " (e.map_or("did not run", status_word)) }
                }
            }
            @for run in &runs {
                @let points = run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ");
                @if run.len() == 1 {
                    circle cx=(format!("{:.1}", run[0].0)) cy=(format!("{:.1}", run[0].1)) r="1.5" class="spark" {}
                } @else {
                    polyline points=(points) class="spark" {}
                }
            }
            @if let Some(f) = figure {
                title { (f.label) ", " (format!("{:.1}", lo)) "–" (format!("{:.1}", hi)) " " (f.unit) " over these nightlies" }
            }
        }
    }
}

/// The class that colours a drill's verdict: its gate, or how it ended.
fn verdict_class(d: &DrillEntry) -> String {
    match d.status {
        DrillStatus::Finished => d.gate().as_str().to_string(),
        _ => status_word(d).replace(' ', "-"),
    }
}

/// What moved for `d` since the previous nightly, regressions flagged.
fn moved(s: &Summary, d: &DrillEntry) -> Markup {
    let change = changes(s, &d.drill);
    html! {
        @if s.previous.is_none() {
        } @else if change.is_empty() {
            "no change beyond thresholds"
        } @else {
            @for (i, (t, reg)) in change.iter().enumerate() {
                @if i > 0 { br; }
                @if *reg { span class="reg" { (t) " — REGRESSION" } } @else { (t) }
            }
        }
    }
}

/// `junit.xml`: one suite per drill, one case per SLO and check (the run's
/// own suite, [`super::junit::suite`]); a drill without a report is one
/// suite holding one errored case that says why.
pub fn render_junit(s: &Summary, reports: &BTreeMap<String, Report>) -> String {
    let mut report = quick_junit::Report::new("redis-drill nightly");
    for d in &s.drills {
        match reports.get(&d.drill) {
            Some(r) if d.status == DrillStatus::Finished => {
                report.add_test_suite(super::junit::suite(r));
            }
            _ => {
                let mut suite = TestSuite::new(d.drill.as_str());
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message(format!(
                    "{}: {}",
                    status_word(d),
                    d.note.as_deref().unwrap_or("no report")
                ));
                let mut case = TestCase::new("run", status);
                case.set_classname(format!("{}.run", d.drill));
                case.set_time(std::time::Duration::from_secs_f64(
                    d.duration_ms.max(0.0) / 1000.0,
                ));
                suite.add_test_case(case);
                report.add_test_suite(suite);
            }
        }
    }
    report
        .to_string()
        // Serialising to a String writes to memory: only a bug in the crate fails.
        .unwrap_or_else(|e| panic!("serialising JUnit XML in memory failed: {e}"))
}

/// The summary as lines for a terminal.
pub fn render_text(s: &Summary) -> String {
    let mut t = String::new();
    for d in &s.drills {
        let _ = write!(
            t,
            "{:<32} {:<21} {:>5.0} s",
            d.drill,
            status_word(d),
            d.duration_ms / 1000.0
        );
        for n in &d.not_passed {
            let _ = write!(t, "  · {n}");
        }
        for (c, reg) in changes(s, &d.drill) {
            let _ = write!(t, "  · {c}{}", if reg { " REGRESSION" } else { "" });
        }
        t.push('\n');
    }
    let _ = writeln!(
        t,
        "nightly: {:?} (exit {}) in {:.1} min{}",
        s.outcome,
        s.exit_code,
        s.duration_ms / 60_000.0,
        s.previous
            .as_deref()
            .map_or(String::new(), |p| format!(", compared with {p}"))
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{sample, sample_failover};

    /// A drill killed at its time bound.
    fn hung(drill: &str) -> DrillEntry {
        DrillEntry::without_report(
            drill.into(),
            DrillStatus::TimedOut,
            "2".into(),
            None,
            600_000.0,
            "killed after 600 s".into(),
        )
    }

    fn entry(r: &Report) -> DrillEntry {
        DrillEntry::finished(
            r,
            "0000abcd".into(),
            Some(0),
            12_000.0,
            format!("{}/2026-11-23T22-00-00Z", r.scenario),
        )
    }

    fn reports(rs: &[Report]) -> BTreeMap<String, Report> {
        rs.iter().map(|r| (r.scenario.clone(), r.clone())).collect()
    }

    fn summary(drills: Vec<DrillEntry>, previous: Option<&str>, trend: Comparison) -> Summary {
        let o = outcome(&drills, &trend);
        Summary {
            format_version: 1,
            started_at: "2026-11-23T22:00:00Z".into(),
            duration_ms: 60_000.0,
            runtime: "process".into(),
            drill_timeout_s: 600,
            drills,
            previous: previous.map(String::from),
            trend,
            outcome: o,
            exit_code: o.code(),
        }
    }

    fn passing_failover() -> Report {
        let mut r = sample_failover();
        r.verdict = Verdict::Pass;
        r
    }

    #[test]
    fn outcome_orders_fail_then_regressed_then_unknown() {
        let pass = entry(&passing_failover());
        let fail = entry(&sample());
        assert_eq!(fail.verdict, Verdict::Fail);
        let none = Comparison::default();
        let regressed = Comparison {
            regressed: true,
            ..Comparison::default()
        };
        assert_eq!(
            outcome(std::slice::from_ref(&pass), &none),
            NightlyOutcome::Passed
        );
        assert_eq!(
            outcome(std::slice::from_ref(&pass), &regressed),
            NightlyOutcome::Regressed
        );
        assert_eq!(
            outcome(&[pass.clone(), fail], &regressed),
            NightlyOutcome::Failed
        );
        let hung = DrillEntry::without_report(
            "hung".into(),
            DrillStatus::TimedOut,
            "1".into(),
            None,
            1.0,
            "killed after 1 s".into(),
        );
        assert_eq!(hung.verdict, Verdict::Unknown);
        assert_eq!(outcome(&[pass, hung], &none), NightlyOutcome::Unknown);
        assert_eq!(NightlyOutcome::Passed.code(), exit::SUCCESS);
        assert_eq!(NightlyOutcome::Failed.code(), exit::CHECK_FAILED);
        assert_eq!(NightlyOutcome::Regressed.code(), exit::REGRESSED);
        assert_eq!(NightlyOutcome::Unknown.code(), exit::UNKNOWN);
    }

    #[test]
    fn a_drill_written_to_fail_passes_the_nightly_when_it_fails_so() {
        // sample(): max_p99_during_ms fails, max_lost_keys holds.
        let mut hazard = sample();
        assert_eq!(hazard.verdict, Verdict::Fail);
        let expect = |r: &Report, fail: &str| {
            let spec = crate::report::model::ExpectSpec {
                fail: vec![fail.to_string()],
                may_fail: vec![],
                why: Some("the point of the drill".into()),
            };
            crate::report::model::expectation(&spec, &r.slo)
        };
        hazard.expected = Some(expect(&hazard, "max_p99_during_ms"));
        let met = entry(&hazard);
        assert_eq!((met.verdict, met.gate()), (Verdict::Fail, Verdict::Pass));
        let none = Comparison::default();
        let pass = entry(&passing_failover());
        assert_eq!(
            outcome(&[pass.clone(), met.clone()], &none),
            NightlyOutcome::Passed
        );
        // The hazard did not show: the listed SLO held.
        let mut toothless = sample();
        toothless.expected = Some(expect(&toothless, "max_lost_keys"));
        let unmet = entry(&toothless);
        assert_eq!(unmet.gate(), Verdict::Fail);
        assert_eq!(
            outcome(&[pass, unmet.clone()], &none),
            NightlyOutcome::Failed
        );
        let s = summary(vec![met, unmet], None, none);
        let html = render_index(&s, &[]);
        assert!(
            html.contains("<td class=\"v pass\">fail, as expected<br><small>Expected to fail: max_p99_during_ms — the point of the drill. As expected: each of them failed, and no other SLO did.</small>"),
            "{html}"
        );
        assert!(
            html.contains("<td class=\"v fail\">fail, not as expected"),
            "{html}"
        );
        // JUnit: the expected failure is a passing case, saying so.
        let xml = render_junit(&s, &reports(&[hazard]));
        assert!(
            xml.contains("failed as expected: max_p99_during_ms = 7.5"),
            "{xml}"
        );
    }

    #[test]
    fn trend_flags_a_worse_figure_and_a_drill_that_hung_since() {
        let old = passing_failover();
        let mut new = passing_failover();
        new.faults[0].failover[0].state_ok_after_ms = Some(4000.0);
        let mut other = sample();
        other.scenario = "other".into();
        other.verdict = Verdict::Pass;
        let hung = hung("other");
        let drills = vec![entry(&new), hung];
        let t = trend(
            &reports(&[old.clone(), other]),
            &reports(std::slice::from_ref(&new)),
            &drills,
            &compare::default_thresholds(),
        );
        assert!(t.regressed);
        assert_eq!(t.moved.len(), 1, "{t:?}");
        assert_eq!(t.moved[0].figure, "failover_ms");
        assert_eq!(t.flips.len(), 1);
        assert_eq!(t.flips[0].drill, "other");
        assert!(t.flips[0].regression);
        // A drill left out of this nightly (`--only`) is not a regression.
        let only = trend(
            &reports(&[old.clone(), {
                let mut o = sample();
                o.scenario = "left-out".into();
                o
            }]),
            &reports(std::slice::from_ref(&old)),
            &[entry(&old)],
            &compare::default_thresholds(),
        );
        assert_eq!(only, Comparison::default());
        // No previous nightly: no trend.
        assert_eq!(
            trend(
                &BTreeMap::new(),
                &reports(&[new]),
                &drills,
                &compare::default_thresholds()
            ),
            Comparison::default()
        );
    }

    #[test]
    fn index_has_a_row_per_drill_with_links_and_flags_regressions() {
        let old = passing_failover();
        let mut new = passing_failover();
        new.faults[0].failover[0].state_ok_after_ms = Some(4000.0);
        let hung = hung("a<b>&hung");
        let drills = vec![entry(&new), hung];
        let t = trend(
            &reports(&[old]),
            &reports(std::slice::from_ref(&new)),
            &drills,
            &compare::default_thresholds(),
        );
        let s = summary(drills, Some("2026-11-22T22-00-00Z"), t);
        assert_eq!(s.outcome, NightlyOutcome::Regressed);
        let html = render_index(&s, &[]);
        assert_eq!(html.matches("<tr><td>").count(), 2, "{html}");
        assert!(html.contains(&format!(
            "<a href=\"{}/2026-11-23T22-00-00Z/report.html\">",
            new.scenario
        )));
        assert!(html.contains("failover_ms 2790.0 → 4000.0 (worse) — REGRESSION"));
        assert!(html.contains("a&lt;b&gt;&amp;hung"));
        assert!(html.contains("timed out"));
        assert!(html.contains("href=\"../2026-11-22T22-00-00Z/index.html\""));
        assert!(html.contains("Outcome: <b>regressed</b> (exit code 5)"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("http"), "no network: {html}");
        let text = render_text(&s);
        assert!(text.contains("REGRESSION"), "{text}");
        assert!(text.contains("exit 5"), "{text}");
    }

    /// What did not pass comes first, whatever the order the drills ran in.
    #[test]
    fn the_index_lists_what_needs_a_look_above_what_passed() {
        let pass = entry(&passing_failover());
        let fail = entry(&sample());
        let s = summary(vec![pass, fail], None, Comparison::default());
        let html = render_index(&s, &[]);
        let look = html
            .find("Needs a look (1)")
            .expect("a section of drills to look at");
        let passed = html
            .find("Passed (1)")
            .expect("a section of drills that passed");
        let failing = html.find("fail</td>").expect("the failing drill's row");
        assert!(look < failing && failing < passed, "{html}");
    }

    /// Each drill's sparkline has a square per nightly (oldest first, hollow
    /// where it did not run) and a line through its figure where measured.
    #[test]
    fn the_sparkline_shows_each_earlier_nightly_of_the_drill() {
        let mut failed = entry(&passing_failover());
        failed.verdict = Verdict::Fail;
        let night = |at: &str, drills| PastNightly {
            started_at: at.into(),
            drills,
        };
        let history = vec![
            night("2026-11-20T22:00:00Z", vec![entry(&passing_failover())]),
            night("2026-11-21T22:00:00Z", vec![failed]),
            night("2026-11-22T22:00:00Z", vec![]),
        ];
        let s = summary(
            vec![entry(&passing_failover())],
            None,
            Comparison::default(),
        );
        let html = render_index(&s, &history);
        let squares: Vec<&str> = html
            .match_indices("<rect ")
            .map(|(i, _)| {
                let class = &html[i..].split("class=\"sq ").nth(1).expect("a class");
                &class[..class.find('"').expect("a closing quote")]
            })
            .collect();
        assert_eq!(squares, ["pass", "fail", "absent", "pass"], "{html}");
        assert!(
            html.contains("<title>2026-11-22T22:00:00Z: did not run</title>"),
            "{html}"
        );
        assert_eq!(html.matches("<polyline").count(), 1, "{html}");
        assert_eq!(
            html.matches("<circle").count(),
            1,
            "a gap where it did not run: {html}"
        );
        let long: Vec<PastNightly> = (0..30).map(|_| night("old", vec![])).collect();
        let html = render_index(&s, &long);
        assert_eq!(html.matches("<rect ").count(), SPARK_NIGHTLIES, "{html}");
    }

    #[test]
    fn a_drill_that_did_not_pass_names_its_slos() {
        let failing = entry(&sample());
        assert!(!failing.not_passed.is_empty());
        let named = &failing.not_passed[0];
        let slo = sample()
            .slo
            .into_iter()
            .find(|s| s.result != Verdict::Pass)
            .unwrap();
        assert!(named.starts_with(&slo.name), "{named}");
        let mut all_pass = sample();
        for s in &mut all_pass.slo {
            s.result = Verdict::Pass;
        }
        assert!(entry(&all_pass).not_passed.is_empty());
        let s = summary(vec![failing.clone()], None, Comparison::default());
        let shown = maud::html! { (named) }.into_string();
        assert!(render_index(&s, &[]).contains(&format!("<br><small>{shown}</small>")));
        assert!(render_text(&s).contains(named.as_str()));
    }

    #[test]
    fn summary_json_reads_back_its_drills() {
        let s = summary(
            vec![entry(&passing_failover())],
            None,
            Comparison::default(),
        );
        let json = serde_json::to_value(&s).unwrap();
        let drills: Vec<DrillEntry> = serde_json::from_value(json["drills"].clone()).unwrap();
        assert_eq!(drills, s.drills);
        assert_eq!(json["outcome"], "passed");
        assert_eq!(json["exit_code"], 0);
        assert_eq!(json["drills"][0]["status"], "finished");
    }

    #[test]
    fn junit_has_a_suite_per_drill_and_an_error_for_a_hung_one() {
        let r = passing_failover();
        let hung = DrillEntry::without_report(
            "hung\u{1}".into(),
            DrillStatus::TimedOut,
            "2".into(),
            None,
            5000.0,
            "killed after 5 s\u{7}".into(),
        );
        let s = summary(vec![entry(&r), hung], None, Comparison::default());
        let xml = render_junit(&s, &reports(std::slice::from_ref(&r)));
        assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
        assert_eq!(
            xml.matches("<testcase ").count(),
            r.slo.len() + 1 + 1,
            "{xml}"
        );
        assert!(xml.contains("<error message=\"timed out: killed after 5 s\""));
        assert!(
            !xml.chars()
                .any(|c| (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
        );
    }
}
