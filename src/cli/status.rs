//! `redis-drill status`: the topology report of a running topology, or the
//! list of every running topology.

use super::CliError;
use super::locate::{list_all, locate};
use super::output::print_json;
use crate::exit;
use crate::runtime::RuntimeKind;
use crate::status;

/// The topology report of a running topology: roles, slots, keys, memory.
#[derive(clap::Args, Debug)]
pub(crate) struct Status {
    /// Which topology (default: the only one that is up).
    #[arg(long)]
    name: Option<String>,
    /// Where nodes run: docker or process (default: $REDIS_DRILL_RUNTIME, else docker when an engine answers, else process).
    #[arg(long, value_enum)]
    runtime: Option<RuntimeKind>,
    /// List every running topology instead.
    #[arg(long)]
    all: bool,
}

impl Status {
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        if self.all {
            return list(self.runtime, json).await;
        }
        let (_rt, d) = locate(self.runtime, self.name.as_deref()).await?;
        let report = status::collect(&d).await;
        if json {
            print_json(&report);
        } else {
            crate::out!("{}", report.render_text());
        }
        Ok(exit::SUCCESS)
    }
}

/// `status --all`: one line per running topology.
async fn list(runtime: Option<RuntimeKind>, json: bool) -> Result<i32, CliError> {
    let list = list_all(runtime).await?;
    if json {
        print_json(&list);
    } else if list.is_empty() {
        crate::outln!("nothing is up");
    } else {
        for d in &list {
            crate::outln!(
                "{:<24} {:<8} {} nodes  run id {}",
                d.name,
                d.runtime,
                d.nodes.len(),
                d.run_id
            );
        }
    }
    Ok(exit::SUCCESS)
}
