//! `redis-drill check-run RUN_DIR`: check a stored run again.

use std::path::PathBuf;

use super::CliError;
use super::output::print_run;
use crate::record::Stored;
use crate::report;
use crate::scenarios::check;
use crate::scenarios::run::Finished;

/// Check a stored run again: recompute every figure, SLO and the verdict
/// from what its folder recorded, rewrite its reports, exit with the verdict's code.
#[derive(clap::Args, Debug)]
pub(crate) struct CheckRun {
    /// A run folder written by `redis-drill run` (runs/<scenario>/<timestamp> or .../latest).
    run: PathBuf,
}

impl CheckRun {
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let path = self.run;
        let stored = match Stored::read(&path) {
            Ok(s) => s,
            Err(source) => return Err(CliError::NotARun { path, source }),
        };
        let finished = Finished {
            report: check::check(&stored),
            dir: report::RunDir { path },
        };
        if let Err(source) = report::write_reports(&finished.dir, &finished.report) {
            let path = finished.dir.path;
            return Err(CliError::WriteReports { path, source });
        }
        Ok(print_run(&finished, json))
    }
}
