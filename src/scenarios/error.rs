//! Why a drill stopped, and the exit code each reason gives.

use crate::cluster::ClusterError;
use crate::faults::FaultError;
use crate::workload;

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("failed to {}", crate::cluster::admin::error_chain(.0))]
    Cluster(#[from] ClusterError),
    #[error("workload: {0}")]
    Workload(#[from] workload::WorkloadError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to add a primary: {0}")]
    AddNode(#[source] crate::bringup::BringupError),
    #[error("{0}")]
    Fault(#[from] FaultError),
    /// Undoing what the faults left in force failed: the first error, and
    /// how many there were.
    #[error("faults left in force ({count} undo(s) failed), first: {first}")]
    Heal {
        count: usize,
        #[source]
        first: Box<FaultError>,
    },
    #[error("interrupted")]
    Cancelled,
    /// The plan ended without a stage the record needs (a plan missing a
    /// step is this tool's bug, reported rather than stored half-empty).
    #[error("the drill ended without {0}")]
    Incomplete(String),
}

impl DrillError {
    pub fn exit_code(&self) -> i32 {
        match self {
            DrillError::Cancelled => crate::exit::INTERRUPTED,
            DrillError::Cluster(e) if e.is_cancelled() => crate::exit::INTERRUPTED,
            // A plan that cannot be made is about what was asked for.
            DrillError::Cluster(ClusterError::Plan(_)) => crate::exit::BAD_INPUT,
            DrillError::Fault(e) => e.exit_code(),
            DrillError::AddNode(e) => e.exit_code(),
            DrillError::Heal { first, .. } => first.exit_code(),
            _ => crate::exit::ENVIRONMENT,
        }
    }
}
