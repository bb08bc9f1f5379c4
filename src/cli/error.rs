//! The one error type at the CLI edge. It keeps each lower module's error as
//! it came (with its sources), adds the few failures that only the command
//! line has, and classifies all of them in one `match`: [`CliError::class`],
//! which [`crate::exit::Class::code`] turns into the exit code.
//!
//! Each message is the line printed after `error: `. The lower errors print
//! as they always have: their own Display already carries their sources.

use std::path::PathBuf;

use crate::bringup::BringupError;
use crate::cluster::{ClusterError, error::error_chain};
use crate::exit::Class;
use crate::faults::FaultError;
use crate::record::StoredError;
use crate::runtime::{NetError, RuntimeError};
use crate::scenarios::run::DrillError;
use crate::topology::TopologyError;

/// Why a command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Net(#[from] NetError),
    /// Cluster errors are fragments ("connect to s1n1 ..."), so the edge
    /// says "failed to" and spells out their sources.
    #[error("failed to {}", error_chain(.0))]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Bringup(#[from] BringupError),
    #[error(transparent)]
    Attach(#[from] crate::attach::AttachError),
    #[error(transparent)]
    Fault(#[from] FaultError),
    /// Boxed: the largest of them, and rare.
    #[error(transparent)]
    Drill(Box<DrillError>),

    /// Flags that each parse but do not fit together, in a way clap's
    /// attributes cannot say.
    #[error("{0}")]
    Usage(&'static str),
    /// A fault given on the command line that the scenario's rules refuse
    /// (the same rules, so a command and a scenario agree); names the field.
    #[error("{field}: {message}")]
    FaultArgs {
        field: &'static str,
        message: String,
    },
    /// Credentials (`--credentials`, `REDIS_DRILL_*`) that cannot be read.
    #[error("credentials: {0}")]
    Security(#[from] crate::net::secure::SecurityError),
    /// A command on an attached deployment without the connection security
    /// it was attached with.
    #[error(
        "{name} was attached with {attached}; this command has {now}: give the same --credentials file or REDIS_DRILL_* variables (docs/attach.md)"
    )]
    SecurityMismatch {
        name: String,
        attached: String,
        now: String,
    },
    /// `run --read-only` of a drill that writes by nature.
    #[error("{0}")]
    ReadOnly(String),
    /// `run --clients` that the scenario's workload cannot run.
    #[error("{0}")]
    Clients(String),
    /// A command that needs a running topology, and none is up.
    #[error("nothing is up (start one with `redis-drill up TOPOLOGY`)")]
    NothingUp,
    /// A command that needs one running topology, no `--name`, and several up.
    #[error("several topologies are up; pick one with --name: {}", .0.join(", "))]
    Ambiguous(Vec<String>),
    /// A drill on a running topology of another kind than its scenario's.
    #[error("{name} is a {running} topology; the scenario {scenario} is written for a {wants} one")]
    KindMismatch {
        name: String,
        running: String,
        scenario: String,
        wants: String,
    },
    #[error("{}: cannot read the file: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a redis-drill report: {source}", path.display())]
    NotAReport {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// `nightly --only` names a drill that is not in the scenarios folder.
    #[error("--only {name}: no scenario {name}.yaml in {}; the drills: {}", dir.display(), known.join(", "))]
    UnknownDrill {
        name: String,
        dir: PathBuf,
        known: Vec<String>,
    },
    /// A `compare --threshold` that does not parse.
    #[error("--threshold {0}")]
    BadThreshold(String),
    #[error("{}: not a stored run: {source}", path.display())]
    NotARun {
        path: PathBuf,
        #[source]
        source: StoredError,
    },
    #[error("{}: writing the reports: {source}", path.display())]
    WriteReports {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write {}: {source}", path.display())]
    WriteFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// SIGINT/SIGTERM stopped work that owned a run id; everything of the run
    /// was removed.
    #[error("interrupted by {signal}; removed run {run_id}")]
    Interrupted {
        signal: &'static str,
        run_id: String,
    },
    /// The task doing a run's work panicked (or was aborted); the run was removed.
    #[error(
        "internal error: the run {}; removed run {run_id}",
        if source.is_panic() { "panicked" } else { "was cancelled" }
    )]
    Lost {
        run_id: String,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("failed to start the async runtime: {0}")]
    AsyncRuntime(#[source] std::io::Error),
}

impl From<DrillError> for CliError {
    fn from(e: DrillError) -> Self {
        CliError::Drill(Box::new(e))
    }
}

impl CliError {
    /// What kind of failure this is: the lower modules' own classification,
    /// and the edge's for its own variants. No `_` arm: a new variant must
    /// be classified here.
    pub fn class(&self) -> Class {
        match self {
            CliError::Topology(_) => Class::BadInput,
            CliError::Runtime(e) => e.class(),
            CliError::Net(e) => e.class(),
            CliError::Cluster(e) => e.class(),
            CliError::Bringup(e) => e.class(),
            CliError::Attach(e) => e.class(),
            CliError::Fault(e) => e.class(),
            CliError::Drill(e) => e.class(),
            CliError::Usage(_)
            | CliError::ReadOnly(_)
            | CliError::Clients(_)
            | CliError::Security(_)
            | CliError::SecurityMismatch { .. }
            | CliError::FaultArgs { .. }
            | CliError::NothingUp
            | CliError::Ambiguous(_)
            | CliError::KindMismatch { .. }
            | CliError::ReadFile { .. }
            | CliError::NotAReport { .. }
            | CliError::BadThreshold(_)
            | CliError::UnknownDrill { .. }
            | CliError::NotARun { .. } => Class::BadInput,
            CliError::WriteReports { .. }
            | CliError::WriteFile { .. }
            | CliError::Lost { .. }
            | CliError::AsyncRuntime(_) => Class::Environment,
            CliError::Interrupted { .. } => Class::Interrupted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit;

    /// The documented codes (docs/commands.md "Exit codes", docs/report.md) for a
    /// sample of each family: the lower modules' classes pass through.
    #[test]
    fn errors_map_to_the_documented_exit_codes() {
        let code = |e: CliError| e.class().code();
        assert_eq!(code(CliError::NothingUp), exit::BAD_INPUT);
        assert_eq!(code(CliError::Usage("x")), exit::BAD_INPUT);
        assert_eq!(
            code(RuntimeError::NotFound("x".into()).into()),
            exit::BAD_INPUT
        );
        assert_eq!(
            code(RuntimeError::DockerSilent("x").into()),
            exit::ENVIRONMENT
        );
        assert_eq!(code(RuntimeError::Cancelled.into()), exit::INTERRUPTED);
        assert_eq!(
            code(ClusterError::BadInput("x".into()).into()),
            exit::BAD_INPUT
        );
        assert_eq!(
            code(ClusterError::Cancelled { what: "x".into() }.into()),
            exit::INTERRUPTED
        );
        let timeout = || ClusterError::Timeout {
            what: "x".into(),
            timeout: std::time::Duration::from_secs(1),
            pending: vec![],
        };
        assert_eq!(code(timeout().into()), exit::ENVIRONMENT);
        // Bring-up: even a plan error is the environment (the topology validated).
        assert_eq!(
            code(BringupError::Cluster(ClusterError::BadInput("x".into())).into()),
            exit::ENVIRONMENT
        );
        assert_eq!(
            code(BringupError::Cluster(ClusterError::Cancelled { what: "x".into() }).into()),
            exit::INTERRUPTED
        );
        assert_eq!(
            code(DrillError::Fault(FaultError::Net(NetError::BadInput("x".into()))).into()),
            exit::BAD_INPUT
        );
        assert_eq!(code(DrillError::Cancelled.into()), exit::INTERRUPTED);
        assert_eq!(
            code(
                DrillError::Heal {
                    count: 1,
                    first: Box::new(FaultError::Runtime(RuntimeError::Cancelled)),
                }
                .into()
            ),
            exit::INTERRUPTED
        );
        assert_eq!(
            code(CliError::Interrupted {
                signal: "SIGINT",
                run_id: "r".into()
            }),
            exit::INTERRUPTED
        );
    }

    /// The edge's own messages keep the cause and the path.
    #[test]
    fn messages_name_the_file_and_keep_the_cause() {
        let e = CliError::ReadFile {
            path: "/x/r.json".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(
            e.to_string(),
            "/x/r.json: cannot read the file: entity not found"
        );
        assert!(std::error::Error::source(&e).is_some());
        let e: CliError = ClusterError::BadInput("no members".into()).into();
        assert_eq!(e.to_string(), "failed to plan the cluster: no members");
    }
}
