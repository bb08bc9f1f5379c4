//! `redis-drill adapter`: the tool's own client adapter (redis-rs behind the
//! adapter protocol) on stdin and stdout. Not for people: the swarm runtime
//! runs it as a region's worker on another engine (docs/swarm.md).

use super::error::CliError;
use crate::exit;

/// Serve the adapter protocol with redis-rs (a worker; hidden).
#[derive(clap::Args, Debug)]
pub(crate) struct AdapterCmd {
    /// Added to every reading of the worker's own clock (`hello.clock: own`):
    /// a test's stand-in for a host whose clock is elsewhere.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    clock_skew_ns: i64,
}

impl AdapterCmd {
    pub(crate) async fn run(self, _json: bool) -> Result<i32, CliError> {
        // On a runtime of one thread, as each of the built-in clients' threads.
        let skew = self.clock_skew_ns;
        let served = tokio::task::spawn_blocking(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("a runtime: {e}"))?
                .block_on(crate::workload::adapter::worker::serve(skew))
        })
        .await
        .unwrap_or_else(|e| Err(format!("the worker's thread: {e}")));
        match served {
            Ok(()) => Ok(exit::SUCCESS),
            Err(e) => {
                eprintln!("redis-drill adapter: {e}");
                Ok(exit::ENVIRONMENT)
            }
        }
    }
}
