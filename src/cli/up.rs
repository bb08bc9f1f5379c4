//! `redis-drill up TOPOLOGY`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::CliError;
use super::interrupt::owned_run;
use super::output::print_json;
use crate::bringup;
use crate::exit;
use crate::runtime::{self, Runtime, RuntimeKind};
use crate::topology::Topology;

/// Bring a topology up, wait until it is healthy, print its endpoints.
#[derive(clap::Args, Debug)]
pub(crate) struct Up {
    /// The topology file (see topologies/).
    topology: PathBuf,
    /// Where nodes run: docker or process (default: $REDIS_DRILL_RUNTIME, else docker when an engine answers, else process).
    #[arg(long, value_enum)]
    runtime: Option<RuntimeKind>,
    /// Name to address it by later (default: the topology's name).
    #[arg(long)]
    name: Option<String>,
    /// Seconds allowed for nodes to start and the cluster to converge.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// On failure, leave what was started in place for inspection.
    #[arg(long)]
    keep: bool,
}

impl Up {
    /// Load the topology, bring it up on the chosen runtime and print its endpoints; on failure
    /// nothing of it is left unless `--keep` says so.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let t = Topology::load(&self.topology)?;
        let rt = Arc::new(Runtime::select(self.runtime).await?);
        let opts = runtime::UpOptions {
            name: self.name.unwrap_or_else(|| t.name.clone()),
            run_id: runtime::new_run_id(),
            timeout: Duration::from_secs(self.timeout),
        };
        crate::note!(
            "bringing up {} ({} nodes) on {} as `{}`, run id {}",
            t.name,
            t.nodes.len(),
            rt.kind(),
            opts.name,
            opts.run_id
        );
        let cancel = CancellationToken::new();
        let run_id = opts.run_id.clone();
        let work = {
            let (rt, cancel) = (rt.clone(), cancel.clone());
            async move {
                let (_, report) = bringup::up(&rt, &t, &opts, &cancel).await?;
                Ok(report)
            }
        };
        let report = owned_run(rt, run_id, self.keep, cancel, work).await?;
        if json {
            print_json(&report);
        } else {
            crate::out!("{}", report.render_text());
        }
        Ok(exit::SUCCESS)
    }
}
