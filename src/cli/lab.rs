//! `redis-drill lab up|down|status`: a lab of Docker engines on this
//! machine, joined in a swarm, for the swarm runtime ([`crate::lab`]).

use super::error::CliError;
use super::output::print_json;
use crate::exit;
use crate::lab;

/// Make or remove a lab of Docker engines on this machine, each in a network
/// namespace of its own, joined in one swarm: where `--runtime swarm` runs
/// multi-host drills on one host (docs/swarm.md). Needs root.
#[derive(clap::Args, Debug)]
pub(crate) struct Lab {
    #[command(subcommand)]
    command: LabCommand,
}

/// What `lab` does.
#[derive(clap::Subcommand, Debug)]
enum LabCommand {
    /// Start N engines in a swarm and write the engines file the swarm
    /// runtime reads; on failure nothing of it is left.
    Up {
        /// How many engines.
        #[arg(default_value_t = 3)]
        engines: usize,
        /// The regions, given to the engines in turn (swarm node label
        /// `redis-drill.region`).
        #[arg(long, value_delimiter = ',', default_values_t = lab::DEFAULT_REGIONS.map(String::from))]
        regions: Vec<String>,
    },
    /// Stop every engine of the lab and remove everything it made.
    Down,
    /// Whether a lab is up, and its engines.
    Status,
}

impl Lab {
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        match self.command {
            LabCommand::Up { engines, regions } => {
                crate::note!("starting {engines} engines in a swarm...");
                let made = lab::up(engines, &regions).await?;
                if json {
                    print_json(&made);
                } else {
                    for e in &made.engines {
                        crate::outln!(
                            "{}  {}  region {}  {}",
                            e.name,
                            e.address,
                            e.region,
                            e.socket.display()
                        );
                    }
                    crate::outln!(
                        "lab up in {:.1} s; engines file {} (the swarm runtime reads it: --runtime swarm)",
                        made.elapsed_ms as f64 / 1000.0,
                        made.engines_file.display()
                    );
                    crate::outln!(
                        "the same engines over TCP with TLS: {} (REDIS_DRILL_ENGINES={0})",
                        made.engines_tls_file.display()
                    );
                    if let Some(ssh) = &made.engines_ssh_file {
                        crate::outln!("and over SSH: {} (REDIS_DRILL_ENGINES={0})", ssh.display());
                    }
                    if let Some(t) = &made.neighbour_thresholds {
                        crate::outln!(
                            "raised the kernel's neighbour-table thresholds (gc_thresh1/2/3) {t}: \
                             the engines share this machine's table; `lab down` puts them back"
                        );
                    }
                }
                Ok(exit::SUCCESS)
            }
            LabCommand::Down => {
                let removed = lab::down().await?;
                if json {
                    print_json(&removed);
                } else {
                    crate::outln!(
                        "lab down: {} engines stopped, {} namespaces removed{}{}{}",
                        removed.engines,
                        removed.namespaces,
                        if removed.bridge {
                            ", bridge removed"
                        } else {
                            ""
                        },
                        if removed.stray_processes > 0 {
                            format!(", {} stray processes killed", removed.stray_processes)
                        } else {
                            String::new()
                        },
                        match &removed.neighbour_thresholds {
                            Some(t) => format!(", neighbour-table thresholds back to {t}"),
                            None => String::new(),
                        }
                    );
                }
                Ok(exit::SUCCESS)
            }
            LabCommand::Status => {
                let file = lab::status();
                if json {
                    print_json(&file);
                } else {
                    match &file {
                        Some(f) => {
                            for (name, e) in &f.engines {
                                crate::outln!("{name}  {}  {}", e.address, e.endpoint);
                            }
                        }
                        None => crate::outln!("no lab is up"),
                    }
                }
                Ok(exit::SUCCESS)
            }
        }
    }
}
