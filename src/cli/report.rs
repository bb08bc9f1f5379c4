//! `redis-drill report REPORT.json`: render a stored report.

use std::path::PathBuf;

use super::CliError;
use super::output::print_json;
use crate::exit;
use crate::report;

/// Render a stored report.json as Markdown or JUnit XML.
#[derive(clap::Args, Debug)]
pub(crate) struct Report {
    /// A report.json written by `redis-drill run`.
    report: PathBuf,
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
}

/// The renderings of a report.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Format {
    Md,
    Junit,
    Json,
}

impl Report {
    pub(crate) async fn run(self, _json: bool) -> Result<i32, CliError> {
        let path = self.report;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(source) => return Err(CliError::ReadFile { path, source }),
        };
        let r: report::Report = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(source) => return Err(CliError::NotAReport { path, source }),
        };
        match self.format {
            Format::Md => crate::out!("{}", report::render_markdown(&r)),
            Format::Junit => crate::out!("{}", report::render_junit(&r)),
            Format::Json => print_json(&r),
        }
        Ok(exit::SUCCESS)
    }
}
