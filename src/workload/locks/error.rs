//! [`LockError`]: its own leaf, so that the lock workload's files name it
//! without reaching up into the folder's `mod.rs`.

use crate::exit::Class;

/// What went wrong starting the lock workload. Messages are lowercase
/// fragments that read after "failed to".
/// What can stop the lock workload from starting; [`LockError::class`] maps it
/// to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("check the lock workload: {field}: {message}")]
    Spec {
        field: &'static str,
        message: String,
    },
    #[error("start the lock workload: it has no lock instances")]
    NoInstances,
    #[error("connect to lock instance {instance}: {message}")]
    Connect { instance: String, message: String },
    #[error("{0}")]
    Start(String),
}

impl LockError {
    /// What kind of failure this is (the CLI maps it to an exit code).
    pub fn class(&self) -> Class {
        match self {
            LockError::Spec { .. } | LockError::NoInstances => Class::BadInput,
            LockError::Connect { .. } | LockError::Start(_) => Class::Environment,
        }
    }
}
