//! The command-line front end: clap definitions, and the edge where typed
//! errors become messages and exit codes.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::bringup::{self, UpReport};
use crate::cluster::reshard::{self, ReshardOptions, SlotOwners};
use crate::cluster::{self, AddressMap};
use crate::exit;
use crate::faults::schedule::RawFault;
use crate::faults::{FailoverMode, FaultKind};
use crate::report;
use crate::runtime::image::{self, DEFAULT_IMAGE};
use crate::runtime::{self, Deployment, Removed, Runtime, RuntimeError, RuntimeKind};
use crate::scenarios::{self, ReshardAction, Scenario};
use crate::status;
use crate::topology::Topology;

#[derive(Parser, Debug)]
#[command(
    name = "redis-drill",
    version,
    about = "Bring up Redis topologies, drive changes and faults through them under load, and report what clients saw"
)]
pub struct Cli {
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and check a topology file; errors name the file, line and column.
    Validate {
        /// The topology file to check.
        file: PathBuf,
    },
    /// Bring a topology up, wait until it is healthy, print its endpoints.
    Up {
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
    },
    /// Run a drill: bring up its topology, load it, run the workload, act, check, report, take it down.
    Run {
        /// The scenario file (see scenarios/).
        scenario: PathBuf,
        /// Where nodes run: docker or process (default: $REDIS_DRILL_RUNTIME, else docker when an engine answers, else process).
        #[arg(long, value_enum)]
        runtime: Option<RuntimeKind>,
        /// Seed for every random choice (default: the scenario's, else a fresh one, printed).
        #[arg(long)]
        seed: Option<u64>,
        /// Leave the topology up afterwards (and after a failure) for inspection.
        #[arg(long)]
        keep: bool,
        /// Root folder for runs: <out>/<scenario>/<timestamp>/.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        /// Drill this running topology instead of bringing the scenario's up
        /// (it is left up afterwards).
        #[arg(long, conflicts_with = "keep")]
        name: Option<String>,
    },
    /// Move slots on a running cluster: N slots between two primaries, a rebalance, or a drain.
    Reshard {
        /// Which topology (default: the only one that is up).
        #[arg(long)]
        name: Option<String>,
        /// Where the topology runs (default: search every available runtime).
        #[arg(long, value_enum)]
        runtime: Option<RuntimeKind>,
        /// Source primary (with --to and --slots).
        #[arg(long, requires_all = ["to", "slots"], conflicts_with_all = ["rebalance", "drain"])]
        from: Option<String>,
        /// Target primary.
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// How many slots to move.
        #[arg(long, requires = "from")]
        slots: Option<usize>,
        /// Even out the slots over every primary.
        #[arg(long, conflicts_with = "drain")]
        rebalance: bool,
        /// Move every slot of this primary onto the others.
        #[arg(long)]
        drain: Option<String>,
        /// Keys per MIGRATE.
        #[arg(long)]
        batch_keys: Option<usize>,
        /// Slots migrated at once.
        #[arg(long)]
        parallel_slots: Option<usize>,
    },
    /// Grow a running cluster by one node: an empty primary, or a replica of --replica-of.
    AddNode {
        /// Which topology (default: the only one that is up).
        #[arg(long)]
        name: Option<String>,
        /// Where the topology runs (default: search every available runtime).
        #[arg(long, value_enum)]
        runtime: Option<RuntimeKind>,
        /// Add a replica of this primary instead of a new primary.
        #[arg(long)]
        replica_of: Option<String>,
    },
    /// Render a stored report.json as Markdown or JUnit XML.
    Report {
        /// A report.json written by `redis-drill run`.
        report: PathBuf,
        #[arg(long, value_enum, default_value = "md")]
        format: ReportFormat,
    },
    /// Check a stored run again: recompute every figure, SLO and the verdict
    /// from what its folder recorded, rewrite its reports, exit with the verdict's code.
    CheckRun {
        /// A run folder written by `redis-drill run` (runs/<scenario>/<timestamp> or .../latest).
        run: PathBuf,
    },
    /// The topology report of a running topology: roles, slots, keys, memory.
    Status {
        /// Which topology (default: the only one that is up).
        #[arg(long)]
        name: Option<String>,
        /// Where nodes run: docker or process (default: $REDIS_DRILL_RUNTIME, else docker when an engine answers, else process).
        #[arg(long, value_enum)]
        runtime: Option<RuntimeKind>,
        /// List every running topology instead.
        #[arg(long)]
        all: bool,
    },
    /// Check a running cluster like `redis-cli --cluster check`; exit 1 when a check fails.
    Check {
        /// Which topology (default: the only one that is up).
        #[arg(long)]
        name: Option<String>,
        /// Where nodes run: docker or process (default: $REDIS_DRILL_RUNTIME, else docker when an engine answers, else process).
        #[arg(long, value_enum)]
        runtime: Option<RuntimeKind>,
    },
    /// Remove everything redis-drill created for a topology (or for all of them).
    Down {
        /// Which topology (default: the only one that is up).
        #[arg(long, conflicts_with = "all")]
        name: Option<String>,
        /// Everything redis-drill created, found by its labels and run directories.
        #[arg(long)]
        all: bool,
        /// Where nodes run: docker or process (default: $REDIS_DRILL_RUNTIME, else docker when an engine answers, else process).
        #[arg(long, value_enum)]
        runtime: Option<RuntimeKind>,
    },
    /// Print the docker-compose file equivalent to a topology.
    Compose {
        /// The topology file.
        topology: PathBuf,
        /// Write to this file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Build the local Redis image (FROM scratch, from this host's redis-server).
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// SIGKILL a node.
    Kill(NodeArgs),
    /// Stop a node gracefully (SIGTERM).
    Stop(NodeArgs),
    /// Start a stopped or killed node.
    Start(NodeArgs),
    /// Restart a node.
    Restart(NodeArgs),
    /// Freeze a node (SIGSTOP / docker pause).
    Pause(NodeArgs),
    /// Unfreeze a paused node.
    Resume(NodeArgs),
    /// Cut nodes off from each other: packets dropped silently (iptables DROP)
    /// as a grudge says, until `heal`.
    Partition {
        /// isolate | halves | bridge | majorities_ring | primaries | one_way | regions.
        shape: String,
        /// For isolate: the node(s) cut off; for one_way: the sender whose packets drop.
        target: Option<String>,
        /// For one_way: the node that drops what TARGET sends.
        #[arg(long)]
        peer: Option<String>,
        /// Which topology (default: the only one that is up).
        #[arg(long)]
        name: Option<String>,
        /// Where the topology runs (default: search every available runtime).
        #[arg(long, value_enum)]
        runtime: Option<RuntimeKind>,
        /// Seed for the shapes that shuffle the nodes (halves, bridge, ...).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Remove every partition.
    Heal {
        /// Which topology (default: the only one that is up).
        #[arg(long)]
        name: Option<String>,
        /// Where the topology runs (default: search every available runtime).
        #[arg(long, value_enum)]
        runtime: Option<RuntimeKind>,
    },
    /// Fail a primary over to a replica with CLUSTER FAILOVER [FORCE|TAKEOVER].
    Failover {
        #[command(flatten)]
        node: NodeArgs,
        /// default (coordinated, no write lost), force (without the primary), takeover (no election).
        #[arg(long, value_enum, default_value_t = FailoverMode::Default)]
        mode: FailoverMode,
    },
    /// Print the last lines of a node's log.
    Logs {
        #[command(flatten)]
        node: NodeArgs,
        /// How many lines.
        #[arg(long, default_value_t = 50)]
        tail: usize,
    },
    /// Run a command in a node's environment (inside its container, or on the host).
    Exec {
        #[command(flatten)]
        node: NodeArgs,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
}

#[derive(clap::Args, Debug)]
struct NodeArgs {
    /// A node's name (see `redis-drill status`) or a target: primary_of:SLOT,
    /// replica_of:TARGET, random_primary, replica, random_node, primaries,
    /// replicas, all, region:NAME.
    node: String,
    /// Which topology (default: the only one that is up).
    #[arg(long)]
    name: Option<String>,
    /// Where the topology runs (default: search every available runtime).
    #[arg(long, value_enum)]
    runtime: Option<RuntimeKind>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ReportFormat {
    Md,
    Junit,
    Json,
}

#[derive(Subcommand, Debug)]
enum ImageCommand {
    /// Build the default image FROM scratch from this host's redis-server.
    Build {
        /// Image name and tag to build.
        #[arg(long, default_value = DEFAULT_IMAGE)]
        tag: String,
    },
}

/// An error at the CLI edge: a message and the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    fn new(code: i32, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }
}

impl From<RuntimeError> for CliError {
    fn from(e: RuntimeError) -> Self {
        CliError::new(e.class().code(), e.to_string())
    }
}

impl From<crate::topology::TopologyError> for CliError {
    fn from(e: crate::topology::TopologyError) -> Self {
        CliError::new(exit::BAD_INPUT, e.to_string())
    }
}

impl From<scenarios::run::DrillError> for CliError {
    fn from(e: scenarios::run::DrillError) -> Self {
        drill_error(e)
    }
}

impl From<bringup::BringupError> for CliError {
    fn from(e: bringup::BringupError) -> Self {
        CliError::new(e.class().code(), e.to_string())
    }
}

/// Entry point: parse, run, map the outcome to an exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::SUCCESS
            };
            let _ = e.print();
            return code;
        }
    };
    init_tracing();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            crate::note!("error: failed to start the async runtime: {e}");
            return exit::ENVIRONMENT;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            crate::note!("error: {}", e.message);
            e.code
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    // redis-rs logs each slot refresh it makes while following MOVED at warn:
    // during a reshard that is hundreds of lines about what the drill itself
    // measures. RUST_LOG brings them back.
    let filter =
        EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("warn,redis=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli) -> Result<i32, CliError> {
    let json = cli.json;
    match cli.command {
        Command::Validate { file } => {
            let t = Topology::load(&file)?;
            if json {
                print_json(&serde_json::json!({"file": file, "valid": true, "topology": t}));
            } else {
                crate::outln!(
                    "{}: ok — {} `{}`, {} nodes in {} region(s)",
                    file.display(),
                    format!("{:?}", t.kind).to_lowercase(),
                    t.name,
                    t.nodes.len(),
                    t.regions.len()
                );
            }
            Ok(exit::SUCCESS)
        }
        Command::Up {
            topology,
            runtime,
            name,
            timeout,
            keep,
        } => {
            let t = Topology::load(&topology)?;
            let rt = Arc::new(Runtime::select(runtime).await?);
            let opts = runtime::UpOptions {
                name: name.unwrap_or_else(|| t.name.clone()),
                run_id: runtime::new_run_id(),
                timeout: Duration::from_secs(timeout),
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
            let task = {
                let rt = rt.clone();
                let cancel = cancel.clone();
                async move {
                    let (_, report) = bringup::up(&rt, &t, &opts, &cancel).await?;
                    Ok(report)
                }
            };
            let report: UpReport = guarded(rt.clone(), run_id, keep, cancel, task).await?;
            if json {
                print_json(&report);
            } else {
                crate::out!("{}", report.render_text());
            }
            Ok(exit::SUCCESS)
        }
        Command::Run {
            scenario,
            runtime,
            seed,
            keep,
            out,
            name,
        } => {
            let sc = Scenario::load(&scenario)?;
            let seed = seed.or(sc.seed).unwrap_or_else(rand::random);
            if let Some(name) = name {
                return run_on_running(sc, seed, runtime, &name, &out, json).await;
            }
            let rt = Arc::new(Runtime::select(runtime).await?);
            let run_id = runtime::new_run_id();
            let opts = runtime::UpOptions {
                name: format!("{}-{run_id}", sc.name),
                run_id: run_id.clone(),
                timeout: Duration::from_secs(60),
            };
            crate::note!(
                "{}: seed {seed} · {} runtime · run id {run_id}",
                sc.name,
                rt.kind()
            );
            let cancel = CancellationToken::new();
            let task = {
                let (rt, cancel) = (rt.clone(), cancel.clone());
                async move {
                    let (d, up) = bringup::up(&rt, &sc.topology, &opts, &cancel).await?;
                    if !json {
                        crate::note!("{} is up in {} ms", sc.topology.name, up.timings.total_ms);
                    }
                    let finished =
                        scenarios::run::execute(&sc, &rt, &d, seed, &out, json, &cancel).await?;
                    Ok(finished)
                }
            };
            let finished = guarded(rt.clone(), run_id.clone(), keep, cancel, task).await?;
            if keep {
                crate::note!(
                    "kept the topology up (--keep): redis-drill status --name {}-{run_id}",
                    finished.report.scenario
                );
            } else {
                cleanup(&rt, &run_id).await;
            }
            Ok(print_run(&finished, json))
        }
        Command::Reshard {
            name,
            runtime,
            from,
            to,
            slots,
            rebalance,
            drain,
            batch_keys,
            parallel_slots,
        } => {
            let action = match (from, to, slots, rebalance, drain) {
                (Some(from), Some(to), Some(slots), false, None) => {
                    ReshardAction::Move { from, to, slots }
                }
                (None, None, None, true, None) => ReshardAction::Rebalance,
                (None, None, None, false, Some(node)) => ReshardAction::Drain { node },
                _ => {
                    return Err(CliError::new(
                        exit::BAD_INPUT,
                        "give --from, --to and --slots; or --rebalance; or --drain NODE",
                    ));
                }
            };
            let (_rt, d) = locate(runtime, name.as_deref()).await?;
            reshard_cmd(&d, &action, batch_keys, parallel_slots, json).await
        }
        Command::AddNode {
            name,
            runtime,
            replica_of,
        } => {
            let (rt, d) = locate(runtime, name.as_deref()).await?;
            // Not `guarded`: a failure removes the new node only (bringup
            // does that), never the running topology.
            let cancel = CancellationToken::new();
            let work = bringup::add_node(&rt, &d, replica_of.as_deref(), &cancel);
            let (_, report) = {
                tokio::pin!(work);
                tokio::select! {
                    r = &mut work => r,
                    sig = shutdown_signal() => {
                        crate::note!("{sig}: stopping and removing the new node...");
                        cancel.cancel();
                        work.await
                    }
                }
            }?;
            if json {
                print_json(&report);
            } else {
                crate::out!("{}", report.render_text());
            }
            Ok(exit::SUCCESS)
        }
        Command::Report {
            report: path,
            format,
        } => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                CliError::new(
                    exit::BAD_INPUT,
                    format!("{}: cannot read the file: {e}", path.display()),
                )
            })?;
            let r: report::Report = serde_json::from_str(&text).map_err(|e| {
                CliError::new(
                    exit::BAD_INPUT,
                    format!("{}: not a redis-drill report: {e}", path.display()),
                )
            })?;
            match format {
                ReportFormat::Md => crate::out!("{}", report::render_markdown(&r)),
                ReportFormat::Junit => crate::out!("{}", report::render_junit(&r)),
                ReportFormat::Json => print_json(&r),
            }
            Ok(exit::SUCCESS)
        }
        Command::CheckRun { run } => {
            let stored = scenarios::check::Stored::read(&run).map_err(|e| {
                CliError::new(
                    exit::BAD_INPUT,
                    format!("{}: not a stored run: {e}", run.display()),
                )
            })?;
            let finished = scenarios::run::Finished {
                report: scenarios::check::check(&stored),
                dir: report::RunDir { path: run },
            };
            report::write_reports(&finished.dir, &finished.report).map_err(|e| {
                CliError::new(
                    exit::ENVIRONMENT,
                    format!("{}: writing the reports: {e}", finished.dir.path.display()),
                )
            })?;
            Ok(print_run(&finished, json))
        }
        Command::Status { name, runtime, all } => {
            if all {
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
                return Ok(exit::SUCCESS);
            }
            let (_rt, d) = locate(runtime, name.as_deref()).await?;
            let report = status::collect(&d).await;
            if json {
                print_json(&report);
            } else {
                crate::out!("{}", report.render_text());
            }
            Ok(exit::SUCCESS)
        }
        Command::Check { name, runtime } => {
            let (_rt, d) = locate(runtime, name.as_deref()).await?;
            let report = bringup::check(&d).await?;
            if json {
                print_json(&report);
            } else {
                crate::out!("{report}");
            }
            Ok(if report.ok {
                exit::SUCCESS
            } else {
                exit::CHECK_FAILED
            })
        }
        Command::Down { name, all, runtime } => {
            let removed = if all {
                down_all(runtime).await?
            } else {
                let (rt, d) = locate(runtime, name.as_deref()).await?;
                rt.remove_run(&d.run_id).await?
            };
            if json {
                print_json(&removed);
            } else if removed.is_empty() {
                crate::outln!("nothing to remove");
            } else {
                crate::outln!("removed {removed}");
            }
            Ok(exit::SUCCESS)
        }
        Command::Compose { topology, output } => {
            let t = Topology::load(&topology)?;
            let text = crate::compose::render(&t, DEFAULT_IMAGE);
            match output {
                Some(path) => std::fs::write(&path, text).map_err(|e| {
                    CliError::new(
                        exit::ENVIRONMENT,
                        format!("failed to write {}: {e}", path.display()),
                    )
                })?,
                None => crate::out!("{text}"),
            }
            Ok(exit::SUCCESS)
        }
        Command::Image {
            command: ImageCommand::Build { tag },
        } => {
            let docker = runtime::docker::DockerRuntime::connect().await?;
            let built = image::build(docker.client(), &tag).await?;
            if json {
                print_json(&built);
            } else {
                crate::outln!(
                    "built {} (redis {}, {} files, {} KiB context, iptables: {}) in {} ms",
                    built.image,
                    built.redis_version,
                    built.files,
                    built.context_bytes / 1024,
                    if built.iptables { "yes" } else { "no" },
                    built.elapsed_ms
                );
            }
            Ok(exit::SUCCESS)
        }
        Command::Kill(a) => node_fault(a, FaultKind::Kill, FailoverMode::Default, json).await,
        Command::Stop(a) => node_fault(a, FaultKind::Stop, FailoverMode::Default, json).await,
        Command::Start(a) => node_fault(a, FaultKind::Start, FailoverMode::Default, json).await,
        Command::Restart(a) => node_fault(a, FaultKind::Restart, FailoverMode::Default, json).await,
        Command::Pause(a) => node_fault(a, FaultKind::Pause, FailoverMode::Default, json).await,
        Command::Resume(a) => node_fault(a, FaultKind::Resume, FailoverMode::Default, json).await,
        Command::Failover { node, mode } => node_fault(node, FaultKind::Failover, mode, json).await,
        Command::Partition {
            shape,
            target,
            peer,
            name,
            runtime,
            seed,
        } => {
            let step = fault_now(RawFault {
                shape: Some(shape),
                target,
                peer,
                ..RawFault::new(FaultKind::Partition)
            })?;
            let (rt, d) = locate(runtime, name.as_deref()).await?;
            apply_fault(&rt, &d, &step, seed, json).await
        }
        Command::Heal { name, runtime } => {
            let (rt, d) = locate(runtime, name.as_deref()).await?;
            rt.check_partitions(&d)
                .await
                .map_err(|e| CliError::new(e.class().code(), e.to_string()))?;
            let healed = rt
                .heal(&d)
                .await
                .map_err(|e| CliError::new(e.class().code(), e.to_string()))?;
            if json {
                print_json(&serde_json::json!({
                    "name": d.name,
                    "fault": "heal",
                    "nodes": healed.nodes,
                    "skipped": healed.skipped,
                    "took_ms": healed.elapsed.as_secs_f64() * 1000.0,
                }));
            } else {
                crate::outln!(
                    "heal {}: every partition removed ({} nodes in {:.0} ms)",
                    d.name,
                    healed.nodes,
                    healed.elapsed.as_secs_f64() * 1000.0
                );
            }
            Ok(exit::SUCCESS)
        }
        Command::Logs { node, tail } => {
            let (rt, d) = locate(node.runtime, node.name.as_deref()).await?;
            let logs = rt.logs(&d, &node.node, tail).await?;
            crate::outln!("{}", logs.trim_end());
            Ok(exit::SUCCESS)
        }
        Command::Exec { node, cmd } => {
            let (rt, d) = locate(node.runtime, node.name.as_deref()).await?;
            let out = rt.exec(&d, &node.node, &cmd).await?;
            if json {
                print_json(&out);
            } else {
                crate::out!("{}", out.stdout);
                crate::note!("{}", out.stderr.trim_end());
            }
            Ok(if out.exit_code == 0 {
                exit::SUCCESS
            } else {
                exit::CHECK_FAILED
            })
        }
    }
}

/// Print a finished run and return its exit code (from the SLO verdict).
fn print_run(finished: &scenarios::run::Finished, json: bool) -> i32 {
    if json {
        print_json(&finished.report);
    } else {
        crate::out!("\n{}", report::render_markdown(&finished.report));
        crate::note!("\nreport: {}", finished.dir.path.display());
    }
    match finished.report.verdict {
        report::Verdict::Pass => exit::SUCCESS,
        report::Verdict::Fail => exit::CHECK_FAILED,
        report::Verdict::Unknown => exit::UNKNOWN,
    }
}

/// `run --name`: drill a topology that is already up, and leave it up. On
/// Ctrl-C the workload stops and the reshard finishes or rolls back the slots
/// in flight; nothing is removed.
async fn run_on_running(
    sc: Scenario,
    seed: u64,
    runtime: Option<RuntimeKind>,
    name: &str,
    out: &std::path::Path,
    json: bool,
) -> Result<i32, CliError> {
    let (rt, d) = locate(runtime, Some(name)).await?;
    if d.topology.kind != crate::topology::Kind::Cluster {
        return Err(CliError::new(
            exit::BAD_INPUT,
            format!("{name} is not a cluster; the reshard drill needs one"),
        ));
    }
    crate::note!(
        "{}: seed {seed} · on the running topology {name} ({} runtime)",
        sc.name,
        rt.kind()
    );
    let cancel = CancellationToken::new();
    let work = scenarios::run::execute(&sc, &rt, &d, seed, out, json, &cancel);
    tokio::pin!(work);
    let finished = tokio::select! {
        r = &mut work => r?,
        sig = shutdown_signal() => {
            crate::note!("{sig}: stopping the drill; {name} stays up");
            cancel.cancel();
            work.await?
        }
    };
    Ok(print_run(&finished, json))
}

/// `redis-drill reshard`: plan from the live slot owners, move with a progress
/// bar, and on Ctrl-C let the engine finish or roll back the slots in flight.
async fn reshard_cmd(
    d: &Deployment,
    action: &ReshardAction,
    batch_keys: Option<usize>,
    parallel_slots: Option<usize>,
    json: bool,
) -> Result<i32, CliError> {
    let map = AddressMap::from_members(&bringup::members(d)).map_err(cluster_error)?;
    let owners = SlotOwners::load(&map, cluster::ConnectOptions::default())
        .await
        .map_err(cluster_error)?;
    let plan = scenarios::run::plan(action, &owners).map_err(drill_error)?;
    let cancel = CancellationToken::new();
    let mut opts = ReshardOptions::new(Duration::from_secs(3600), cancel.clone());
    if let Some(b) = batch_keys {
        opts.batch_keys = b;
    }
    if let Some(p) = parallel_slots {
        opts.parallel_slots = p;
    }
    opts.measure_bytes = true;
    let (from, to) = scenarios::run::endpoints(&plan);
    if !json {
        crate::note!(
            "moving {} slots {} -> {}",
            plan.moves.len(),
            from.join(","),
            to.join(",")
        );
    }
    let mut bar = scenarios::run::Progress::new(plan.moves.len() as u64, json);
    let mut on_progress = |p: reshard::Progress| bar.update(p.slots_done as u64, p.keys_moved);
    let work = reshard::execute(&map, &plan, &opts, &mut on_progress);
    let result = {
        tokio::pin!(work);
        tokio::select! {
            r = &mut work => r,
            sig = shutdown_signal() => {
                crate::note!("{sig}: finishing or rolling back the slots in flight...");
                cancel.cancel();
                work.await
            }
        }
    };
    bar.finish();
    let rep = result.map_err(cluster_error)?;
    // Replicas learn the new owners by gossip: wait until every node agrees, so
    // that the command's end means a settled cluster.
    let members = scenarios::run::convergence_members(d, Some(action), false);
    let conv = cluster::wait_converged(
        &members,
        &cluster::ConvergeOptions::new(Duration::from_secs(60), cancel.clone()),
    )
    .await
    .map_err(cluster_error)?;
    let convergence_ms = rep.finished_at.elapsed().as_secs_f64() * 1000.0;
    if json {
        let mut v = serde_json::to_value(&rep).expect("a reshard report serializes");
        v["convergence_ms"] = serde_json::json!(convergence_ms);
        v["convergence_polls"] = serde_json::json!(conv.polls);
        print_json(&v);
    } else {
        crate::outln!(
            "moved {} slots, {} keys ({} bytes) in {:.0} ms: {:.0} keys/s, {:.0} slots/s",
            rep.slots_moved,
            rep.keys_moved,
            rep.bytes_moved,
            rep.duration.as_secs_f64() * 1000.0,
            rep.keys_per_s,
            rep.slots_per_s
        );
        crate::outln!("every node agreed {convergence_ms:.0} ms after the last SETSLOT");
    }
    Ok(exit::SUCCESS)
}

fn cluster_error(e: cluster::ClusterError) -> CliError {
    CliError::new(
        e.class().code(),
        format!("failed to {}", cluster::admin::error_chain(&e)),
    )
}

fn drill_error(e: scenarios::run::DrillError) -> CliError {
    CliError::new(e.class().code(), e.to_string())
}

/// A node fault (kill, stop, start, restart, pause, resume, failover) on a
/// node or a target, once, through the nemesis: the same code a drill runs.
async fn node_fault(
    a: NodeArgs,
    fault: FaultKind,
    mode: FailoverMode,
    json: bool,
) -> Result<i32, CliError> {
    let step = fault_now(RawFault {
        target: Some(a.node),
        mode: (fault == FaultKind::Failover).then_some(mode),
        ..RawFault::new(fault)
    })?;
    let (rt, d) = locate(a.runtime, a.name.as_deref()).await?;
    apply_fault(&rt, &d, &step, None, json).await
}

/// A fault from the command line, checked by the same rules as a scenario's.
fn fault_now(raw: RawFault) -> Result<crate::faults::FaultStep, CliError> {
    raw.validate_now()
        .map_err(|(field, m)| CliError::new(exit::BAD_INPUT, format!("{field}: {m}")))
}

/// Apply one fault now and say what it hit.
async fn apply_fault(
    rt: &Runtime,
    d: &Deployment,
    step: &crate::faults::FaultStep,
    seed: Option<u64>,
    json: bool,
) -> Result<i32, CliError> {
    let fault_err = |e: crate::faults::FaultError| CliError::new(e.class().code(), e.to_string());
    if step.fault == FaultKind::Partition {
        rt.check_partitions(d)
            .await
            .map_err(|e| fault_err(e.into()))?;
    }
    let map = crate::cluster::AddressMap::from_members(&bringup::members(d))
        .map_err(|e| CliError::new(exit::BAD_INPUT, e.to_string()))?;
    let mut nemesis = crate::faults::Nemesis::new(
        rt,
        d,
        map,
        crate::timeline::Clock::start(),
        seed.unwrap_or_else(rand::random),
    );
    let i = nemesis
        .apply(step, &CancellationToken::new())
        .await
        .map_err(fault_err)?;
    let w = &nemesis.windows()[i];
    if json {
        print_json(&serde_json::json!({
            "name": d.name,
            "fault": w.fault,
            "target": w.target,
            "nodes": w.nodes,
            "detail": w.detail,
            "took_ms": (w.applied_ns.saturating_sub(w.start_ns)) as f64 / 1e6,
            "promoted_ms": w.promoted_ms,
        }));
    } else {
        crate::outln!(
            "{} {}: {}{}{}",
            w.fault,
            w.target,
            w.nodes.join(" "),
            if w.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", w.detail)
            },
            match w.promoted_ms {
                Some(p) => format!(", promoted in {p:.0} ms"),
                None => String::new(),
            }
        );
    }
    Ok(exit::SUCCESS)
}

fn print_json<T: serde::Serialize>(v: &T) {
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(v).expect("reports serialize")
    );
}

/// The runtimes to search: the one named, or every one that is available.
async fn runtimes(flag: Option<RuntimeKind>) -> Result<Vec<Runtime>, CliError> {
    if flag.is_some() || std::env::var(runtime::RUNTIME_ENV).is_ok_and(|v| !v.is_empty()) {
        return Ok(vec![Runtime::select(flag).await?]);
    }
    let mut out = Vec::new();
    if let Ok(d) = runtime::docker::DockerRuntime::connect().await {
        out.push(Runtime::Docker(d));
    }
    if let Ok(p) = runtime::process::ProcessRuntime::new() {
        out.push(Runtime::Process(p));
    }
    Ok(out)
}

async fn list_all(flag: Option<RuntimeKind>) -> Result<Vec<Deployment>, CliError> {
    let mut all = Vec::new();
    for rt in runtimes(flag).await? {
        all.extend(rt.list().await?);
    }
    Ok(all)
}

/// The running deployment a command means: by name, or the only one that is up.
async fn locate(
    flag: Option<RuntimeKind>,
    name: Option<&str>,
) -> Result<(Runtime, Deployment), CliError> {
    let mut rts = runtimes(flag).await?;
    let mut found: Vec<(usize, Deployment)> = Vec::new();
    for (i, rt) in rts.iter().enumerate() {
        for d in rt.list().await? {
            if name.is_none_or(|n| n == d.name) {
                found.push((i, d));
            }
        }
    }
    match (found.len(), name) {
        (1, _) => {
            let (i, d) = found.pop().expect("one");
            Ok((rts.swap_remove(i), d))
        }
        (0, Some(n)) => Err(RuntimeError::NotFound(n.to_string()).into()),
        (0, None) => Err(CliError::new(
            exit::BAD_INPUT,
            "nothing is up (start one with `redis-drill up TOPOLOGY`)",
        )),
        (_, _) => Err(CliError::new(
            exit::BAD_INPUT,
            format!(
                "several topologies are up; pick one with --name: {}",
                found
                    .iter()
                    .map(|(_, d)| format!("{} ({})", d.name, d.runtime))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

async fn down_all(flag: Option<RuntimeKind>) -> Result<Removed, CliError> {
    let mut removed = Removed::default();
    for rt in runtimes(flag).await? {
        removed.add(rt.remove_all().await?);
    }
    Ok(removed)
}

/// Run `work` so that whatever it started under `run_id` is removed when it
/// fails, panics, or is interrupted by SIGINT/SIGTERM (unless `keep`, which
/// applies to failures only: an interrupt always cleans up).
async fn guarded<T: Send + 'static>(
    rt: Arc<Runtime>,
    run_id: String,
    keep: bool,
    cancel: CancellationToken,
    work: impl Future<Output = Result<T, CliError>> + Send + 'static,
) -> Result<T, CliError> {
    let mut task = tokio::spawn(work);
    let outcome = tokio::select! {
        r = &mut task => r,
        sig = shutdown_signal() => {
            crate::note!("{sig}: stopping and removing run {run_id}...");
            cancel.cancel();
            // Let the work see the cancellation and finish its in-flight calls,
            // so nothing is created after we clean up.
            if tokio::time::timeout(Duration::from_secs(20), &mut task).await.is_err() {
                task.abort();
            }
            cleanup(&rt, &run_id).await;
            return Err(CliError::new(exit::INTERRUPTED, format!("interrupted by {sig}; removed run {run_id}")));
        }
    };
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            if keep {
                crate::note!(
                    "keeping run {run_id} for inspection (--keep); remove it with `redis-drill down --all`"
                );
            } else {
                cleanup(&rt, &run_id).await;
            }
            Err(e)
        }
        Err(join) => {
            cleanup(&rt, &run_id).await;
            let what = if join.is_panic() {
                "panicked"
            } else {
                "was cancelled"
            };
            Err(CliError::new(
                exit::ENVIRONMENT,
                format!("internal error: the run {what}; removed run {run_id}"),
            ))
        }
    }
}

async fn cleanup(rt: &Runtime, run_id: &str) {
    match rt.remove_run(run_id).await {
        Ok(r) => tracing::info!(run_id, removed = %r, "cleaned up"),
        Err(e) => {
            crate::note!(
                "warning: cleanup of run {run_id} failed: {e}; run `redis-drill down --all`"
            )
        }
    }
}

/// The first SIGINT or SIGTERM, by name.
pub async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
