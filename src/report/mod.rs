//! Reports: `report.json` is the source of truth; Markdown and HTML (for
//! people, the HTML with charts) and JUnit XML (for CI) are renderings of it,
//! and can be re-made offline with
//! `redis-drill report REPORT.json --format md|html|junit`.
//!
//! Figures are milliseconds (f64) unless a name says otherwise. A violated
//! invariant (a lost write, a failed SLO) is a value in the report, never an
//! error: the run completes and the verdict says what happened.
//!
//! # Layout, from the bottom up
//!
//! - `model`: [`Report`] and the types it is made of; the SLO evaluation.
//! - `oplog`: the run's ops cut down for the charts, handed over beside
//!   the report by the check stage, never serialized.
//! - `text`, `section`: how numbers are written; the section model — a
//!   titled list of tables (head, alignment, rows, marks), paragraphs and
//!   lists — with its one empty-cell mark.
//! - `summary`, `cache`, `timing`, `regions`, `faults`, `stampede`,
//!   `locks`: each builds the sections of its subject from a report.
//! - `sections`: the sections in reading order, and the SLO table.
//! - `markdown`, `html`: the two renderings, each a loop over the sections
//!   (the HTML adds the charts); `junit` for CI.
//! - `store`, `compare`, `nightly`, `figures`: writing a run's reports,
//!   comparing runs, the nightly's pages, the headline figures.

mod attached;
mod cache;
/// `compare`: what moved between two runs of the same drills.
pub mod compare;
mod faults;
mod figures;
/// The run report's HTML page, and what the capacity planner's page shares
/// with it (the style sheet, the bar chart).
pub(crate) mod html;
mod invalidation;
mod junit;
mod libraries;
pub mod linearizability;
mod locks;
pub(crate) mod markdown;
/// The nightly's summary, index and JUnit, from the drills' reports.
pub mod matrix;
mod model;
pub mod nightly;
mod oplog;
mod regions;
pub(crate) mod section;
mod sections;
pub mod sentinel;
pub mod shards;
mod stampede;
mod store;
mod summary;
mod text;
mod timing;

pub use figures::{Headline, headline, reshard as reshard_figures};
pub use html::render as render_html;
pub use junit::render as render_junit;
pub use markdown::render as render_markdown;
pub use model::*;
pub use oplog::{OpEnd, OpLog, OpPoint};
pub use store::{
    CHECK_TIME_FILE, REPORT_FILES, RunDir, recall_check_time, remove_reports, save_check_time,
    write_reports, write_run,
};

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod expectation_tests;
