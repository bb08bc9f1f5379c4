//! Why a drill stopped, and what kind of failure each reason is.

use crate::cluster::ClusterError;
use crate::exit::Class;
use crate::faults::FaultError;
use crate::workload;

/// Why a drill could not run to its verdict (bad input, the environment,
/// the cluster, an interrupt): an error, never a verdict, so its exit code
/// is bad input, environment or interrupted, never a check's 1.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("failed to {}", crate::cluster::error::error_chain(.0))]
    Cluster(#[from] ClusterError),
    /// The workload's errors are fragments with their causes as sources:
    /// spelled out, so that "connect the app client" says why.
    #[error("workload: {}", crate::cluster::error::error_chain(.0))]
    Workload(#[from] workload::WorkloadError),
    #[error("failed to {0}")]
    Locks(#[from] workload::locks::LockError),
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
    #[error("{0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// Undoing what the faults left in force failed: the first error, and
    /// how many there were.
    #[error("faults left in force ({count} undo(s) failed), first: {first}")]
    Heal {
        count: usize,
        #[source]
        first: Box<FaultError>,
    },
    /// A drill refused on a deployment the tool did not start (a fault it
    /// cannot carry out there, keys under its prefix already).
    #[error("{0}")]
    Attached(String),
    #[error("interrupted")]
    Cancelled,
    /// The plan ended without a stage the record needs (a plan missing a
    /// step is this tool's bug, reported rather than stored half-empty).
    #[error("the drill ended without {0}")]
    Incomplete(String),
}

impl DrillError {
    /// What kind of failure this is (the CLI maps it to an exit code).
    pub fn class(&self) -> Class {
        match self {
            DrillError::Cancelled => Class::Interrupted,
            DrillError::Attached(_) => Class::BadInput,
            DrillError::Cluster(e) => e.class(),
            DrillError::Fault(e) => e.class(),
            DrillError::Runtime(e) => e.class(),
            DrillError::AddNode(e) => e.class(),
            DrillError::Locks(e) => e.class(),
            DrillError::Heal { first, .. } => first.class(),
            // An incomplete plan is this tool's own failure, not the user's input.
            DrillError::Workload(_) | DrillError::Io { .. } | DrillError::Incomplete(_) => {
                Class::Environment
            }
        }
    }
}
