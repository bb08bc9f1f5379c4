//! `redis-drill logs NODE`.

use super::error::CliError;
use super::locate::find;
use super::node::NodeArgs;
use crate::exit;

/// Print the last lines of a node's log.
#[derive(clap::Args, Debug)]
pub(crate) struct Logs {
    #[command(flatten)]
    node: NodeArgs,
    /// How many lines.
    #[arg(long, default_value_t = 50)]
    tail: usize,
}

impl Logs {
    /// Print the node's last log lines (plain text whatever `json` says: a log is text).
    pub(crate) async fn run(self, _json: bool) -> Result<i32, CliError> {
        let n = self.node;
        let (rt, d) = find(n.runtime, n.name.as_deref()).await?;
        let logs = rt.logs(&d, &n.node, self.tail).await?;
        crate::outln!("{}", logs.trim_end());
        Ok(exit::SUCCESS)
    }
}
