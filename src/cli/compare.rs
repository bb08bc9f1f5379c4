//! `redis-drill compare OLD NEW`: what moved between two runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::CliError;
use super::output::print_json;
use crate::exit;
use crate::report::{self, Report, compare};

/// List every headline figure that moved beyond its threshold between two
/// runs, and every verdict flip. OLD and NEW are each a report.json or a
/// folder of runs (two nightlies, two `--out` folders): every report.json
/// under it, matched by scenario. Exits 0 when nothing regressed, 5 when
/// something did.
#[derive(clap::Args, Debug)]
pub(crate) struct Compare {
    /// The earlier report.json or folder of runs.
    old: PathBuf,
    /// The later one.
    new: PathBuf,
    /// Override a figure's threshold: FIGURE=ABS or FIGURE=ABS,REL (REL a
    /// fraction of the old value; both must be passed to be listed).
    /// Repeatable. Defaults: docs/report.md#compare.
    #[arg(long = "threshold", value_name = "FIGURE=ABS[,REL]")]
    thresholds: Vec<String>,
}

impl Compare {
    /// Compare the two sides under the thresholds given (defaults for the rest) and print what
    /// moved; the exit code says whether anything regressed.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let mut thresholds = compare::default_thresholds();
        for spec in &self.thresholds {
            compare::set_threshold(&mut thresholds, spec).map_err(CliError::BadThreshold)?;
        }
        let old = reports_in(&self.old)?;
        let new = reports_in(&self.new)?;
        let c = compare::compare(&old, &new, &thresholds);
        if json {
            print_json(&c);
        } else {
            crate::out!("{}", compare::render_text(&c));
        }
        Ok(if c.regressed {
            exit::REGRESSED
        } else {
            exit::SUCCESS
        })
    }
}

/// The reports of `path` by scenario: the file itself, or every report.json
/// under the folder (for a scenario run more than once, the last by path,
/// which is the latest run: run folders are named by their start time).
pub(crate) fn reports_in(path: &Path) -> Result<BTreeMap<String, Report>, CliError> {
    let mut files = Vec::new();
    if path.is_dir() {
        find_reports(path, &mut files).map_err(|source| CliError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        if files.is_empty() {
            return Err(CliError::ReadFile {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no report.json under it",
                ),
            });
        }
    } else {
        files.push(path.to_path_buf());
    }
    files.sort();
    let mut out = BTreeMap::new();
    for file in files {
        let r = read_report(&file)?;
        out.insert(r.scenario.clone(), r);
    }
    Ok(out)
}

/// Every `report.json` under `dir`, not following symlinks (a `latest` link
/// would count its run twice).
fn find_reports(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            find_reports(&entry.path(), out)?;
        } else if kind.is_file() && entry.file_name() == "report.json" {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// Read and parse one report.json.
pub(crate) fn read_report(path: &Path) -> Result<Report, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str::<report::Report>(&text).map_err(|source| CliError::NotAReport {
        path: path.to_path_buf(),
        source,
    })
}
