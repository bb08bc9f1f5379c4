//! One drill run once per server (`run SCENARIO --servers a,b,c`), same
//! seed, and the runs side by side: each server's verdict, the SLOs that did
//! not pass, its headline figures, and its run folder. Markdown for people
//! and CI logs, HTML for a browser, JSON for scripts (`matrix.json`).

use serde::{Deserialize, Serialize};

use super::model::Verdict;
use super::nightly::{DrillEntry, DrillStatus};
use crate::exit;
use maud::html;

/// One run of the drill: one server, one method, or one of each.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatrixEntry {
    /// What this run varied, as the matrix named it: `valkey-9.1`,
    /// `atomic`, or `valkey-9.1 · atomic`.
    #[serde(alias = "server")]
    pub variant: String,
    /// What its nodes reported (`valkey 9.1.2`); empty without a report.
    pub reported: String,
    pub entry: DrillEntry,
}

/// The whole matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Matrix {
    pub scenario: String,
    pub seed: u64,
    pub runtime: String,
    pub started_at: String,
    /// What varies between the runs: `servers`, `methods` (the reshard's),
    /// or `servers and methods`.
    #[serde(default = "servers_axis")]
    pub axis: String,
    pub runs: Vec<MatrixEntry>,
}

fn servers_axis() -> String {
    "servers".into()
}

impl Matrix {
    /// Failed when one run failed, else unknown when one could not be
    /// judged (or left no report), else passed.
    pub fn exit_code(&self) -> i32 {
        let verdicts = || self.runs.iter().map(|r| r.entry.verdict);
        if verdicts().any(|v| v == Verdict::Fail) {
            exit::CHECK_FAILED
        } else if verdicts().any(|v| v == Verdict::Unknown) {
            exit::UNKNOWN
        } else {
            exit::SUCCESS
        }
    }

    /// Every headline figure any run has, in the runs' order: (key, label,
    /// unit).
    fn figure_rows(&self) -> Vec<(String, String, String)> {
        let mut rows: Vec<(String, String, String)> = Vec::new();
        for r in &self.runs {
            for f in &r.entry.figures {
                if !rows.iter().any(|(k, _, _)| *k == f.key) {
                    rows.push((f.key.clone(), f.label.clone(), f.unit.clone()));
                }
            }
        }
        rows
    }

    /// Each run's value of the figure `key`, as shown: `not measured` when
    /// the run did not measure it (never 0), `—` without a report.
    fn cells(&self, key: &str) -> Vec<String> {
        self.runs
            .iter()
            .map(|r| {
                if r.entry.status != DrillStatus::Finished {
                    return "—".into();
                }
                match r.entry.figures.iter().find(|f| f.key == key) {
                    Some(f) => f.value.map_or_else(|| "not measured".into(), show),
                    None => "not measured".into(),
                }
            })
            .collect()
    }

    fn verdict_cell(r: &MatrixEntry) -> String {
        match r.entry.status {
            DrillStatus::Finished => r.entry.verdict.as_str().to_string(),
            _ => format!(
                "unknown: {}",
                r.entry.note.as_deref().unwrap_or("no report")
            ),
        }
    }

    /// `cluster-reshard on 3 servers`, `cluster-reshard by 2 methods`.
    fn title(&self) -> String {
        let n = self.runs.len();
        match self.axis.as_str() {
            "servers" => format!("{} on {n} servers", self.scenario),
            "methods" => format!("{} by {n} methods", self.scenario),
            axis => format!("{}, {n} runs by {axis}", self.scenario),
        }
    }

    /// The matrix as Markdown.
    pub fn render_markdown(&self) -> String {
        let mut s = format!(
            "# {}\n\nseed {} · {} runtime · {}\n\n",
            self.title(),
            self.seed,
            self.runtime,
            self.started_at
        );
        let head: Vec<&str> = self.runs.iter().map(|r| r.variant.as_str()).collect();
        s.push_str(&format!("| | {} |\n", head.join(" | ")));
        s.push_str(&format!("|---|{}\n", "---:|".repeat(self.runs.len())));
        let row =
            |label: &str, cells: Vec<String>| format!("| {label} | {} |\n", cells.join(" | "));
        s.push_str(&row(
            "server reported",
            self.runs
                .iter()
                .map(|r| {
                    if r.reported.is_empty() {
                        "—".to_string()
                    } else {
                        r.reported.clone()
                    }
                })
                .collect(),
        ));
        s.push_str(&row(
            "verdict",
            self.runs.iter().map(Self::verdict_cell).collect(),
        ));
        for (key, label, unit) in self.figure_rows() {
            s.push_str(&row(&format!("{label} ({unit})"), self.cells(&key)));
        }
        s.push_str("\nNot passed:\n\n");
        for r in &self.runs {
            let np = if r.entry.not_passed.is_empty() {
                "none".to_string()
            } else {
                r.entry.not_passed.join("; ")
            };
            s.push_str(&format!("- {}: {np}\n", r.variant));
        }
        s.push_str("\nRuns:\n\n");
        for r in &self.runs {
            s.push_str(&format!(
                "- {}: {}\n",
                r.variant,
                r.entry.run_dir.as_deref().unwrap_or("no report")
            ));
        }
        s
    }

    /// The matrix as one self-contained HTML page.
    pub fn render_html(&self) -> String {
        let css = "body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:.3em .6em}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.pass{background:#d9f2d9}.fail{background:#f8d0d0}.unknown{background:#f3ecc2}small{color:#666}";
        let rows = self.figure_rows();
        html! {
            (maud::DOCTYPE)
            html {
                head {
                    meta charset="utf-8";
                    title { (self.title()) }
                    style { (maud::PreEscaped(css)) }
                }
                body {
                    h1 { (self.title()) }
                    p { "seed " (self.seed) " · " (self.runtime) " runtime · " (self.started_at) }
                    table {
                        tr { th {} @for r in &self.runs { th { (r.variant) } } }
                        tr { td { "server reported" } @for r in &self.runs { td { (r.reported) } } }
                        tr {
                            td { "verdict" }
                            @for r in &self.runs {
                                td class=(r.entry.verdict.as_str()) {
                                    (Self::verdict_cell(r))
                                    @if !r.entry.not_passed.is_empty() {
                                        br; small { (r.entry.not_passed.join("; ")) }
                                    }
                                }
                            }
                        }
                        @for (key, label, unit) in &rows {
                            tr {
                                td { (label) " " small { "(" (unit) ")" } }
                                @for c in self.cells(key) { td class="n" { (c) } }
                            }
                        }
                        tr {
                            td { "run folder" }
                            @for r in &self.runs {
                                td {
                                    small {
                                        @match r.entry.run_dir.as_deref() {
                                            Some(d) => a href=(format!("{d}/report.html")) { (d) },
                                            None => "no report",
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        .into_string()
    }
}

/// A figure as the tables show it: 3 significant digits at most.
fn show(v: f64) -> String {
    if (v == v.trunc() && v.abs() < 1e9) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::nightly::HeadlineFigure;

    fn entry(verdict: Verdict, p99: Option<f64>) -> DrillEntry {
        let mut e = DrillEntry::without_report(
            "cluster-failover".into(),
            DrillStatus::Finished,
            "ab".into(),
            Some(0),
            1000.0,
            String::new(),
        );
        e.note = None;
        e.verdict = verdict;
        e.run_dir = Some("runs/cluster-failover/x".into());
        e.figures = vec![HeadlineFigure {
            key: "p99_ms".into(),
            label: "App p99, worst phase".into(),
            unit: "ms".into(),
            value: p99,
        }];
        e
    }

    #[test]
    fn a_matrix_shows_each_server_beside_the_others_and_exits_on_the_worst() {
        let mut m = Matrix {
            scenario: "cluster-failover".into(),
            seed: 7,
            runtime: "process".into(),
            started_at: "2026-11-26T18:00:00Z".into(),
            axis: "servers".into(),
            runs: vec![
                MatrixEntry {
                    variant: "redis-7.0".into(),
                    reported: "redis 7.0.15".into(),
                    entry: entry(Verdict::Pass, Some(1.234)),
                },
                MatrixEntry {
                    variant: "valkey-9.1".into(),
                    reported: "valkey 9.1.2".into(),
                    entry: entry(Verdict::Pass, None),
                },
            ],
        };
        let md = m.render_markdown();
        assert!(md.contains("| | redis-7.0 | valkey-9.1 |"), "{md}");
        assert!(
            md.contains("| App p99, worst phase (ms) | 1.23 | not measured |"),
            "{md}"
        );
        assert_eq!(m.exit_code(), exit::SUCCESS);
        m.runs[1].entry.verdict = Verdict::Unknown;
        assert_eq!(m.exit_code(), exit::UNKNOWN);
        m.runs[0].entry.verdict = Verdict::Fail;
        assert_eq!(m.exit_code(), exit::CHECK_FAILED);
        let html = m.render_html();
        assert!(html.contains("<td class=\"n\">not measured</td>"), "{html}");
    }
}
