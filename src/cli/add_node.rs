//! `redis-drill add-node`: grow a running cluster by one node.

use tokio_util::sync::CancellationToken;

use super::error::CliError;
use super::interrupt::cancel_on_signal;
use super::locate::locate;
use super::output::print_json;
use crate::bringup;
use crate::exit;
use crate::runtime::RuntimeKind;

/// Grow a running cluster by one node: an empty primary, or a replica of --replica-of.
#[derive(clap::Args, Debug)]
pub(crate) struct AddNode {
    /// Which topology (default: the only one that is up).
    #[arg(long)]
    name: Option<String>,
    /// Where the topology runs (default: search every available runtime).
    #[arg(long, value_enum)]
    runtime: Option<RuntimeKind>,
    /// Add a replica of this primary instead of a new primary.
    #[arg(long)]
    replica_of: Option<String>,
    /// The server the new node runs (redis, redis-7.0, valkey-8.1,
    /// valkey-9.1, or a path; default: the one most nodes run).
    #[arg(long, value_parser = crate::topology::Server::parse)]
    server: Option<crate::topology::Server>,
}

impl AddNode {
    /// Add the node to the located topology and print what it took; a failure or Ctrl-C removes
    /// the new node only, never the running topology.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let (rt, d) = locate(self.runtime, self.name.as_deref()).await?;
        // Not `owned_run`: a failure removes the new node only (bringup does
        // that), never the running topology.
        let cancel = CancellationToken::new();
        let work = bringup::add_node(
            &rt,
            &d,
            self.replica_of.as_deref(),
            self.server.as_ref(),
            &cancel,
        );
        let undoing = "stopping and removing the new node...";
        let (_, report) = cancel_on_signal(work, &cancel, undoing).await.output?;
        if json {
            print_json(&report);
        } else {
            crate::out!("{}", report.render_text());
        }
        Ok(exit::SUCCESS)
    }
}
