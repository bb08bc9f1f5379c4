//! What several commands print the same way: JSON for scripts, and a
//! finished run's summary with the exit code of its verdict.

use crate::exit;
use crate::report::{self, Verdict};
use crate::scenarios::run::Finished;

/// Print `v` as pretty JSON on stdout (`--json`).
pub(crate) fn print_json<T: serde::Serialize>(v: &T) {
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(v).expect("reports serialize")
    );
}

/// Print a finished run (`run`, `check-run`) and return the exit code of its
/// verdict: a run that did its work exits by what it found, not by an error.
pub(crate) fn print_run(finished: &Finished, json: bool) -> i32 {
    if json {
        print_json(&finished.report);
    } else {
        crate::out!("\n{}", report::render_markdown(&finished.report));
        crate::note!("\nreport: {}", finished.dir.path.display());
    }
    verdict_code(finished.report.verdict)
}

/// The exit code of a run with this verdict.
pub(crate) fn verdict_code(v: Verdict) -> i32 {
    match v {
        Verdict::Pass => exit::SUCCESS,
        Verdict::Fail => exit::CHECK_FAILED,
        Verdict::Unknown => exit::UNKNOWN,
    }
}
