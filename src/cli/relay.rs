//! `redis-drill relay CONFIG`: the links' delaying relay, as a process of a
//! run. Not for people: the process runtime starts it (see `runtime::relay`).

use std::path::PathBuf;

use super::error::CliError;
use crate::exit;

/// Run the delaying relay of a run's links (started by `up`; hidden).
#[derive(clap::Args, Debug)]
pub(crate) struct Relay {
    /// The relay's configuration (`relay.json` in the run's `relay/` directory).
    #[arg(required_unless_present = "inline")]
    config: Option<PathBuf>,
    /// The configuration itself, as JSON (the docker runtime, whose
    /// containers have no file of the run's): then the relay listens on
    /// 127.0.0.1:`--port`.
    #[arg(long, requires = "port", conflicts_with = "config")]
    inline: Option<String>,
    /// The port to listen on with `--inline`.
    #[arg(long)]
    port: Option<u16>,
    /// The port that takes new links with `--inline` (the `slow` fault).
    #[arg(long, requires = "inline")]
    control_port: Option<u16>,
}

impl Relay {
    /// Run the relay from its config file (or the inline form) until a signal stops it; `up`
    /// starts it, a user never needs to.
    pub(crate) async fn run(self, _json: bool) -> Result<i32, CliError> {
        let cancel = tokio_util::sync::CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            super::interrupt::shutdown_signal().await;
            stop.cancel();
        });
        let (result, what) = match (&self.config, &self.inline, self.port) {
            (Some(config), _, _) => (
                crate::runtime::relay::run(config, cancel).await,
                config.display().to_string(),
            ),
            (None, Some(inline), Some(port)) => (
                crate::runtime::relay::run_inline(
                    inline,
                    port,
                    self.control_port.unwrap_or(port.saturating_sub(1)),
                    cancel,
                )
                .await,
                format!("port {port}"),
            ),
            _ => unreachable!("clap requires a config or --inline with --port"),
        };
        match result {
            Ok(()) => Ok(exit::SUCCESS),
            Err(e) => {
                crate::note!("relay: {what}: {e}");
                Ok(exit::ENVIRONMENT)
            }
        }
    }
}
