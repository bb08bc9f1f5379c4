//! `redis-drill down`: remove what redis-drill created.

use super::error::CliError;
use super::locate::{find, runtimes};
use super::output::print_json;
use crate::exit;
use crate::runtime::{Removed, RuntimeKind};

/// Remove everything redis-drill created for a topology (or for all of them).
#[derive(clap::Args, Debug)]
pub(crate) struct Down {
    /// Which topology (default: the only one that is up).
    #[arg(long, conflicts_with = "all")]
    name: Option<String>,
    /// Everything redis-drill created, found by its labels and run directories.
    #[arg(long)]
    all: bool,
    /// Where nodes run: docker or process (default: $REDIS_DRILL_RUNTIME, else docker when an engine answers, else process).
    #[arg(long, value_enum)]
    runtime: Option<RuntimeKind>,
}

impl Down {
    /// Remove one located run, or with `--all` every run of every runtime, and print what was
    /// removed.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let removed = if self.all {
            let mut removed = Removed::default();
            for rt in runtimes(self.runtime).await? {
                removed.add(rt.remove_all().await?);
            }
            removed
        } else {
            let (rt, d) = find(self.runtime, self.name.as_deref()).await?;
            let removed = rt.remove_run(&d.run_id).await?;
            if d.attached.is_some() && !json {
                crate::outln!("forgot {} (attached: its servers were not touched)", d.name);
                return Ok(exit::SUCCESS);
            }
            removed
        };
        if json {
            print_json(&removed);
        } else if removed.is_empty() {
            crate::outln!("nothing to remove");
        } else {
            crate::outln!("removed {removed}");
        }
        Ok(exit::SUCCESS)
    }
}
