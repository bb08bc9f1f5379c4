//! `redis-drill report REPORT.json`: render a stored report.

use std::path::PathBuf;

use super::error::CliError;
use super::output::print_json;
use crate::exit;
use crate::report;

/// Render a stored report.json as Markdown, HTML (the charts page) or JUnit XML.
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
    /// The self-contained page with charts (as `report.html`).
    Html,
    Junit,
    Json,
}

impl Report {
    /// Print the report in the chosen format (`json` has nothing to add: `--format json` is the
    /// JSON).
    pub(crate) async fn run(self, _json: bool) -> Result<i32, CliError> {
        let r = super::compare::read_report(&self.report)?;
        match self.format {
            Format::Md => crate::out!("{}", report::render_markdown(&r)),
            Format::Html => crate::out!("{}", report::render_html(&r)),
            Format::Junit => crate::out!("{}", report::render_junit(&r)),
            Format::Json => print_json(&r),
        }
        Ok(exit::SUCCESS)
    }
}
