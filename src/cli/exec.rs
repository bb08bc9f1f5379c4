//! `redis-drill exec NODE -- CMD...`.

use super::error::CliError;
use super::locate::locate;
use super::node::NodeArgs;
use super::output::print_json;
use crate::exit;

/// Run a command in a node's environment (inside its container, or on the host).
#[derive(clap::Args, Debug)]
pub(crate) struct Exec {
    #[command(flatten)]
    node: NodeArgs,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    cmd: Vec<String>,
}

impl Exec {
    /// Run the command in the node's environment and print its output; its non-zero exit is
    /// this command's failed check.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let n = self.node;
        let (rt, d) = locate(n.runtime, n.name.as_deref()).await?;
        let out = rt.exec(&d, &n.node, &self.cmd).await?;
        if json {
            print_json(&out);
        } else {
            crate::out!("{}", out.stdout);
            crate::note!("{}", out.stderr.trim_end());
        }
        // The command ran; its failure is a failed check, as a script sees it.
        Ok(if out.exit_code == 0 {
            exit::SUCCESS
        } else {
            exit::CHECK_FAILED
        })
    }
}
