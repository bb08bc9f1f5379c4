//! The error type of cluster administration. Messages are lowercase fragments
//! that read after "failed to".

use std::net::SocketAddr;
use std::time::Duration;

use super::nodes::NodesParseError;
use crate::exit::Class;

/// What went wrong in a cluster operation, with the node (name and address)
/// and the condition involved.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The members do not describe a cluster we can build.
    #[error("plan the cluster: {0}")]
    BadInput(String),

    /// The controller was about to reach an address it must not connect to.
    #[error(
        "map {announce} to a controller address: it is not in the address map and not a loopback address"
    )]
    Unmapped { announce: SocketAddr },

    #[error("connect to {node} ({addr})")]
    Connect {
        node: String,
        addr: SocketAddr,
        #[source]
        source: redis::RedisError,
    },

    #[error("run `{command}` on {node} ({addr})")]
    Command {
        node: String,
        addr: SocketAddr,
        command: String,
        #[source]
        source: redis::RedisError,
    },

    /// A reply that does not have the shape Redis documents.
    #[error("read the {what} reply of {node} ({addr}): {detail}")]
    Reply {
        node: String,
        addr: SocketAddr,
        what: &'static str,
        detail: String,
    },

    #[error("parse CLUSTER NODES of {node} ({addr})")]
    Nodes {
        node: String,
        addr: SocketAddr,
        #[source]
        source: NodesParseError,
    },

    /// `create` found a node that already holds data or cluster state.
    #[error("create the cluster: {node} ({addr}) is not an empty cluster node: {reason}")]
    NotEmpty {
        node: String,
        addr: SocketAddr,
        reason: String,
    },

    /// A bounded wait ran out; `pending` lists, per node, what still did not hold
    /// on the last poll.
    #[error("{what} within {timeout:?}; still pending: {}", pending_text(.pending))]
    Timeout {
        what: String,
        timeout: Duration,
        pending: Vec<String>,
    },

    /// The operation's cancellation token fired.
    #[error("{what}: cancelled")]
    Cancelled { what: String },

    /// Moving one slot failed. The slot was closed again (finished or rolled
    /// back) unless `left_open` says why it could not be.
    #[error(
        "move slot {slot} from {from} to {to}{}",
        left_open.as_deref().map(|why| format!(" (and the slot is left open: {why}; `redis-drill fix` closes it)")).unwrap_or_default()
    )]
    SlotMove {
        slot: u16,
        from: String,
        to: String,
        left_open: Option<String>,
        #[source]
        source: Box<ClusterError>,
    },

    /// MIGRATE found keys that exist on both nodes with different values
    /// (BUSYKEY); the move stopped rather than overwrite either.
    #[error(
        "move slot {slot} from {from} to {to}: {} keys exist on both nodes with different values: {}",
        keys.len(),
        keys.join(", ")
    )]
    BusyKeys {
        slot: u16,
        from: String,
        to: String,
        keys: Vec<String>,
    },

    /// An open slot in a state the fixer does not handle.
    #[error("fix open slot {slot}: {detail}")]
    OpenSlot { slot: u16, detail: String },

    /// An atomic slot migration (the server's own) did not end with its
    /// slots on the target: failed, cancelled, its source gone, or the slots'
    /// claims wrong afterwards.
    #[error("atomic slot migration of slots {ranges} from {from} to {to}: {detail}")]
    Migration {
        from: String,
        to: String,
        ranges: String,
        detail: String,
    },

    /// `--method atomic` on nodes whose server has no atomic slot migration.
    #[error("{detail}")]
    Unsupported { detail: String },
}

fn pending_text(pending: &[String]) -> String {
    if pending.is_empty() {
        return "nothing recorded (the wait ended during the first poll)".to_string();
    }
    // A 60-node cluster that does not converge has 60 lines of 59 peers:
    // the first few, each clipped, and how many more.
    let mut shown: Vec<String> = (pending.iter().take(PENDING_SHOWN))
        .map(|p| clip(p, PENDING_CLIP))
        .collect();
    if pending.len() > PENDING_SHOWN {
        shown.push(format!("… and {} more", pending.len() - PENDING_SHOWN));
    }
    shown.join("; ")
}

/// Pending entries a timeout's message shows, and how long each may be.
const PENDING_SHOWN: usize = 8;
const PENDING_CLIP: usize = 400;

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let rest = s[end..].split(", ").count();
    format!("{}… ({rest} more)", &s[..end])
}

impl ClusterError {
    /// Whether this error is a cancellation (callers usually stay quiet about it).
    pub fn is_cancelled(&self) -> bool {
        matches!(self, ClusterError::Cancelled { .. })
    }

    /// What kind of failure this is (the CLI maps it to an exit code): a plan
    /// that cannot be made is about what was asked for; a cancellation is the
    /// interrupt; anything else is the cluster or the machine.
    pub fn class(&self) -> Class {
        match self {
            ClusterError::Cancelled { .. } => Class::Interrupted,
            ClusterError::BadInput(_) | ClusterError::Unsupported { .. } => Class::BadInput,
            _ => Class::Environment,
        }
    }

    /// Whether this error is a bounded wait running out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClusterError::Timeout { .. })
    }

    /// A timeout that names what was still pending when it ran out; other
    /// errors unchanged.
    pub(crate) fn with_pending(self, pending: Vec<String>) -> ClusterError {
        match self {
            ClusterError::Timeout { what, timeout, .. } => ClusterError::Timeout {
                what,
                timeout,
                pending,
            },
            e => e,
        }
    }
}

/// An error and its sources on one line: how every cluster failure is shown
/// in a report row or an event, where a multi-line chain would not fit.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        // redis-rs repeats an I/O error's text as its own and as its source.
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod pending_tests {
    #[test]
    fn a_long_pending_list_is_cut_to_what_a_reader_can_take() {
        let one: Vec<String> = (0..59).map(|i| format!("s{i}n1")).collect();
        let line = format!("s0n1: does not know {}", one.join(", "));
        let pending: Vec<String> = (0..60).map(|_| line.clone()).collect();
        let text = super::pending_text(&pending);
        assert!(text.ends_with("… and 52 more"), "{text}");
        assert!(text.len() < 8 * 420 + 20, "{}", text.len());
        assert!(text.contains("more)"), "each line clipped: {text}");
        // A short list is kept whole.
        let short = vec![
            "s1n1: does not know s2n1".to_string(),
            "s2n1: fail 10.0.0.1".to_string(),
        ];
        assert_eq!(super::pending_text(&short), short.join("; "));
    }
}
