//! `redis-drill check`: the checks of `redis-cli --cluster check`.

use super::error::CliError;
use super::locate::locate;
use super::output::print_json;
use crate::bringup;
use crate::exit;
use crate::runtime::RuntimeKind;

/// Check a running cluster like `redis-cli --cluster check`; exit 1 when a check fails.
#[derive(clap::Args, Debug)]
pub(crate) struct Check {
    /// Which topology (default: the only one that is up).
    #[arg(long)]
    name: Option<String>,
    /// Where nodes run: docker or process (default: $REDIS_DRILL_RUNTIME, else docker when an engine answers, else process).
    #[arg(long, value_enum)]
    runtime: Option<RuntimeKind>,
}

impl Check {
    /// Run the checks on the located topology and print them (JSON with `json`); exit 1 when
    /// one fails, so that a script can gate on a healthy cluster.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let (_rt, d) = locate(self.runtime, self.name.as_deref()).await?;
        let report = bringup::check(&d).await?;
        if json {
            print_json(&report);
        } else {
            crate::out!("{report}");
        }
        Ok(if report.ok {
            exit::SUCCESS
        } else {
            exit::CHECK_FAILED
        })
    }
}
