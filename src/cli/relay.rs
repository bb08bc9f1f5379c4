//! `redis-drill relay CONFIG`: the links' delaying relay, as a process of a
//! run. Not for people: the process runtime starts it (see `runtime::relay`).

use std::path::PathBuf;

use super::CliError;
use crate::exit;

/// Run the delaying relay of a run's links (started by `up`; hidden).
#[derive(clap::Args, Debug)]
pub(crate) struct Relay {
    /// The relay's configuration (`relay.json` in the run's `relay/` directory).
    config: PathBuf,
}

impl Relay {
    pub(crate) async fn run(self, _json: bool) -> Result<i32, CliError> {
        let cancel = tokio_util::sync::CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            super::shutdown_signal().await;
            stop.cancel();
        });
        match crate::runtime::relay::run(&self.config, cancel).await {
            Ok(()) => Ok(exit::SUCCESS),
            Err(e) => {
                crate::note!("relay: {}: {e}", self.config.display());
                Ok(exit::ENVIRONMENT)
            }
        }
    }
}
