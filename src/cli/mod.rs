//! The command-line front end, one file per command as in mini-redis's
//! `cmd/`: each command is a clap `Args` type with an `async fn run`, and
//! [`Command::run`] below is the whole dispatcher.
//!
//! Adding a command is a new file here (the `Args` type, its help text as the
//! type's doc comment, and its `run`) plus one variant and one match arm below.
//!
//! Shared by the commands:
//! - [`error`]: the one error type of the edge, which keeps every lower error
//!   and its class ([`crate::exit::Class`] turns that into the exit code);
//! - [`interrupt`]: what SIGINT/SIGTERM does to running work;
//! - [`locate`]: which running topology a command means;
//! - [`output`]: JSON printing and a finished run's summary and verdict.

mod adapter;
mod add_node;
mod attach;
mod check;
mod check_run;
mod compare;
mod compose;
mod down;
mod error;
mod exec;
mod fix;
mod image;
mod interrupt;
mod lab;
mod locate;
mod logs;
mod nightly;
mod node;
mod output;
mod partition;
mod relay;
mod remove_node;
mod report;
mod reshard;
mod run;
mod status;
mod supervisor;
mod up;
mod validate;

use clap::{Parser, Subcommand};

use crate::exit;
use crate::faults::FaultKind;

pub use error::CliError;
pub use interrupt::shutdown_signal;

/// The parsed command line.
#[derive(Parser, Debug)]
#[command(
    name = "redis-drill",
    version,
    about = "Bring up Redis topologies, drive changes and faults through them under load, and report what clients saw",
    long_about = None
)]
/// The command line as clap parses it: the global `--json` and one command.
/// (`long_about = None` keeps this comment out of `--help`.)
pub struct Cli {
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// Every subcommand. The help text of each is its type's doc comment (in its
/// own file); the node faults share one type, so theirs is written here.
#[derive(Subcommand, Debug)]
enum Command {
    Validate(validate::Validate),
    Up(up::Up),
    Attach(attach::Attach),
    Run(run::Run),
    Reshard(reshard::Reshard),
    AddNode(add_node::AddNode),
    RemoveNode(remove_node::RemoveNode),
    Report(report::Report),
    CheckRun(check_run::CheckRun),
    Compare(compare::Compare),
    Nightly(nightly::Nightly),
    Status(status::Status),
    Check(check::Check),
    Fix(fix::Fix),
    Down(down::Down),
    Compose(compose::Compose),
    Image(image::Image),
    Lab(lab::Lab),
    /// SIGKILL a node.
    Kill(node::NodeArgs),
    /// Stop a node gracefully (SIGTERM).
    Stop(node::NodeArgs),
    /// Start a stopped or killed node.
    Start(node::NodeArgs),
    /// Restart a node.
    Restart(node::NodeArgs),
    /// Freeze a node (SIGSTOP / docker pause).
    Pause(node::NodeArgs),
    /// Unfreeze a paused node.
    Resume(node::NodeArgs),

    Partition(partition::Partition),
    Heal(partition::Heal),
    Failover(node::Failover),
    Logs(logs::Logs),
    Exec(exec::Exec),
    #[command(hide = true)]
    Relay(relay::Relay),
    #[command(hide = true)]
    Adapter(adapter::AdapterCmd),
}

impl Command {
    /// Run the command. `Ok` is the exit code of a command that did its work
    /// (a check that found a problem is still `Ok(CHECK_FAILED)`); `Err` is a
    /// command that could not.
    async fn run(self, json: bool) -> Result<i32, CliError> {
        match self {
            Command::Validate(cmd) => cmd.run(json).await,
            Command::Adapter(cmd) => cmd.run(json).await,
            Command::Up(cmd) => cmd.run(json).await,
            Command::Attach(cmd) => cmd.run(json).await,
            Command::Run(cmd) => cmd.run(json).await,
            Command::Reshard(cmd) => cmd.run(json).await,
            Command::AddNode(cmd) => cmd.run(json).await,
            Command::RemoveNode(cmd) => cmd.run(json).await,
            Command::Report(cmd) => cmd.run(json).await,
            Command::CheckRun(cmd) => cmd.run(json).await,
            Command::Compare(cmd) => cmd.run(json).await,
            Command::Nightly(cmd) => cmd.run(json).await,
            Command::Status(cmd) => cmd.run(json).await,
            Command::Check(cmd) => cmd.run(json).await,
            Command::Fix(cmd) => cmd.run(json).await,
            Command::Down(cmd) => cmd.run(json).await,
            Command::Compose(cmd) => cmd.run(json).await,
            Command::Image(cmd) => cmd.run(json).await,
            Command::Lab(cmd) => cmd.run(json).await,
            Command::Kill(node) => node.run(FaultKind::Kill, json).await,
            Command::Stop(node) => node.run(FaultKind::Stop, json).await,
            Command::Start(node) => node.run(FaultKind::Start, json).await,
            Command::Restart(node) => node.run(FaultKind::Restart, json).await,
            Command::Pause(node) => node.run(FaultKind::Pause, json).await,
            Command::Resume(node) => node.run(FaultKind::Resume, json).await,

            Command::Partition(cmd) => cmd.run(json).await,
            Command::Heal(cmd) => cmd.run(json).await,
            Command::Failover(cmd) => cmd.run(json).await,
            Command::Logs(cmd) => cmd.run(json).await,
            Command::Exec(cmd) => cmd.run(json).await,
            Command::Relay(cmd) => cmd.run(json).await,
        }
    }
}

/// Entry point: parse, run, map the outcome to an exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // `--help` and `--version` come here too, on stdout.
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
    let outcome = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(cli.command.run(cli.json)),
        Err(e) => Err(CliError::AsyncRuntime(e)),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            crate::note!("error: {e}");
            e.class().code()
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
