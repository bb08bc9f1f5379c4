//! `redis-drill check-run RUN_DIR`: check a stored run again.

use std::path::PathBuf;

use super::error::CliError;
use super::output::print_run;
use crate::record::Stored;
use crate::report;
use crate::scenarios::check;
use crate::scenarios::run::Finished;

/// Check a stored run again: read its folder back whole (a record cut
/// short, with an op twice, an impossible time or an unknown node is bad
/// input, exit 2, and its old reports are removed), recompute every figure,
/// SLO and the verdict from the history and recordings, rewrite its
/// reports, exit with the verdict's code. The drill's own timings (the
/// reshard's duration, the convergence it waited for) are read from
/// `record.json` and held against the watcher's recording.
#[derive(clap::Args, Debug)]
pub(crate) struct CheckRun {
    /// A run folder written by `redis-drill run` (runs/<scenario>/<timestamp> or .../latest).
    run: PathBuf,
}

impl CheckRun {
    /// Judge the stored run again and rewrite its reports; a folder that no longer reads back
    /// loses its old reports, so no verdict outlives its record.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let path = self.run;
        let stored = match Stored::read(&path) {
            Ok(s) => s,
            Err(source) => {
                // No verdict may outlive the record it came from.
                let dir = report::RunDir { path: path.clone() };
                match report::remove_reports(&dir) {
                    Ok(removed) => {
                        for f in removed {
                            tracing::warn!(
                                "removed {}: its run can no longer be read",
                                f.display()
                            );
                        }
                    }
                    Err(e) => tracing::error!(
                        "could not remove the old reports of {}: {e}",
                        path.display()
                    ),
                }
                return Err(CliError::NotARun { path, source });
            }
        };
        let dir = report::RunDir { path };
        let mut report = check::check(&stored);
        report::recall_check_time(&dir, &mut report);
        let finished = Finished { report, dir };
        if let Err(source) = report::write_reports(&finished.dir, &finished.report) {
            let path = finished.dir.path;
            return Err(CliError::WriteReports { path, source });
        }
        Ok(print_run(&finished, json))
    }
}
