//! `redis-drill relay CONFIG`: the links' delaying relay, as a process of a
//! run. Not for people: the process runtime starts it (see `runtime::relay`).

use std::path::PathBuf;

use super::error::CliError;
use crate::exit;

/// Run the delaying relay of a run's links (started by `up`; hidden).
#[derive(clap::Args, Debug)]
pub(crate) struct Relay {
    /// The relay's configuration (`relay.json` in the run's `relay/` directory).
    #[arg(required_unless_present_any = ["inline", "tell", "ping"])]
    config: Option<PathBuf>,
    /// The configuration itself, as JSON (the docker runtime, whose
    /// containers have no file of the run's): then the relay listens on
    /// 127.0.0.1:`--port`.
    #[arg(long, requires = "port", conflicts_with = "config")]
    inline: Option<String>,
    /// The port to listen on with `--inline`.
    #[arg(long)]
    port: Option<u16>,
    /// The port that takes new links with `--inline` (the `slow` fault),
    /// or that `--tell` tells.
    #[arg(long)]
    control_port: Option<u16>,
    /// Tell the relay on 127.0.0.1:`--control-port` this line (new links,
    /// or a whole configuration) and exit: 0 when it took it. The swarm
    /// runtime runs it in a helper, through the engine.
    #[arg(long, requires = "control_port", conflicts_with_all = ["config", "inline", "ping"])]
    tell: Option<String>,
    /// PING a node at this address as a link is measured, from wherever
    /// this runs, and print the round trips as one line of JSON (the swarm
    /// runtime's link measurement, inside a node's namespace).
    #[arg(long, conflicts_with_all = ["config", "inline"])]
    ping: Option<std::net::SocketAddr>,
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
        if let Some(line) = &self.tell {
            let control = std::net::SocketAddr::from((
                std::net::Ipv4Addr::LOCALHOST,
                self.control_port.expect("clap requires it"),
            ));
            return match crate::runtime::relay::tell_relay(control, line) {
                Ok(()) => Ok(exit::SUCCESS),
                Err(e) => {
                    crate::note!("relay --tell: {control}: {e}");
                    Ok(exit::ENVIRONMENT)
                }
            };
        }
        if let Some(to) = self.ping {
            let pinged = crate::runtime::links::ping_from(None, None, to).await;
            let report = crate::runtime::links::PingReport::of(pinged);
            println!(
                "{}",
                serde_json::to_string(&report).expect("a report serializes")
            );
            return Ok(exit::SUCCESS);
        }
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
