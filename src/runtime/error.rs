//! The runtime's two error types: [`RuntimeError`] for bringing nodes up and
//! acting on them, [`NetError`] for the network rules ([`crate::net::Net`]).
//! A leaf of `runtime/`, so that every backend names them without reaching
//! up into the folder's `mod.rs`.

use std::time::Duration;

use crate::exit::Class;

/// Why a runtime operation failed: bad input, no engine, a node that did
/// not come up. [`RuntimeError::class`] maps it to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    BadInput(String),
    /// The client could not reach an engine (no socket, refused, a bad reply).
    #[error("no docker engine answers: {0}")]
    NoDocker(#[source] bollard::errors::Error),
    /// An engine was reached but stayed silent: what did not come back in time.
    #[error("no docker engine answers: {0}")]
    DockerSilent(&'static str),
    #[error("docker: {context}: {source}")]
    Docker {
        context: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("image `{image}` is not available: {reason}")]
    Image { image: String, reason: String },
    #[error("port {port} for node {node} is already in use on {ip}")]
    PortTaken { node: String, ip: String, port: u16 },
    #[error("{0}")]
    Environment(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("node {node} did not become ready: {condition} (waited {waited:?})")]
    NotReady {
        node: String,
        condition: String,
        waited: Duration,
    },
    #[error("no running topology named `{0}` (see `redis-drill status --all`)")]
    NotFound(String),
    #[error(
        "a topology named `{name}` is already up (run id {run_id}); take it down with `redis-drill down --name {name}` or pick another --name"
    )]
    AlreadyUp { name: String, run_id: String },
    #[error("interrupted")]
    Cancelled,
}

impl RuntimeError {
    /// What kind of failure this is (the CLI maps it to an exit code).
    pub fn class(&self) -> Class {
        match self {
            RuntimeError::BadInput(_) | RuntimeError::NotFound(_) => Class::BadInput,
            RuntimeError::Cancelled => Class::Interrupted,
            _ => Class::Environment,
        }
    }

    /// An I/O error with what was being done, for `map_err`.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RuntimeError {
        let context = context.into();
        move |source| RuntimeError::Io { context, source }
    }

    /// An engine error with what was being done, for `map_err`.
    pub(crate) fn docker(
        context: impl Into<String>,
    ) -> impl FnOnce(bollard::errors::Error) -> RuntimeError {
        let context = context.into();
        move |source| RuntimeError::Docker { context, source }
    }
}

/// Why a partition could not be applied or healed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Partitions cannot work here: not root, no iptables, no NET_ADMIN.
    #[error("apply a partition here: {0}")]
    Unsupported(String),
    /// A grudge naming nodes the deployment does not have.
    #[error("{0}")]
    BadInput(String),
    /// An iptables command ran and failed.
    #[error("run `{command}` for node {node} (exit code {code}): {stderr}")]
    Command {
        node: String,
        command: String,
        code: i64,
        stderr: String,
    },
    /// Docker cannot exec in a paused container, so a paused node keeps the
    /// rules it had; every other node was written.
    #[error(
        "write the drop rules of paused nodes {} (docker cannot exec in a paused container): \
         they keep their old rules until resumed and applied or healed again",
        nodes.join(", ")
    )]
    Paused { nodes: Vec<String> },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl NetError {
    /// What kind of failure this is (the CLI maps it to an exit code).
    pub fn class(&self) -> Class {
        match self {
            NetError::BadInput(_) => Class::BadInput,
            NetError::Runtime(e) => e.class(),
            NetError::Unsupported(_) | NetError::Command { .. } | NetError::Paused { .. } => {
                Class::Environment
            }
        }
    }
}

impl NetError {
    /// The runtime error inside, for operations whose callers speak
    /// [`RuntimeError`] (setting links): a backend's link code fails only
    /// with runtime errors, and anything else is told as the environment's.
    pub fn into_runtime(self) -> RuntimeError {
        match self {
            NetError::Runtime(r) => r,
            other => RuntimeError::Environment(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified() {
        assert_eq!(
            NetError::Unsupported("x".into()).class(),
            Class::Environment
        );
        assert_eq!(
            NetError::Paused {
                nodes: vec!["a".into()]
            }
            .class(),
            Class::Environment
        );
        assert_eq!(NetError::BadInput("x".into()).class(), Class::BadInput);
        assert_eq!(
            NetError::Runtime(RuntimeError::Cancelled).class(),
            Class::Interrupted
        );
    }
}
