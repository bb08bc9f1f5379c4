//! The nemesis: faults as plain data, and the executor that applies them to a
//! running deployment.
//!
//! One vocabulary everywhere — code, YAML, CLI, reports: `kill`, `restart`,
//! `stop`, `start`, `pause`, `resume`, `partition`, `heal`, `failover`.
//!
//! - [`target`]   — who a fault hits: a node, `primary_of:<slot>`,
//!   `random_primary`, `replica_of:<target>`, `region:<name>`, ... (pure
//!   resolution against a snapshot of the cluster, random picks from the seed).
//! - [`schedule`] — the `faults:` list of a scenario: what, when, how long
//!   (pure, validated with the file's line and field).
//! - [`pause`]    — [`ClientPause`], how the nemesis freezes a client.
//! - `action`     — the runtime action behind each node fault.
//! - [`hooked`]   — on a deployment the tool did not start: which faults it
//!   can carry out (checked before the drill) and the user's hooks run.
//! - [`nemesis`]  — the executor: applies a schedule on the run's clock,
//!   records every fault's window, and heals everything on every exit path.
//!
//! `pause` also freezes a *client*: `pause lock_holder:<n>` stops the lock
//! workload's worker that holds lock `n`, past its TTL, the way a GC pause
//! or a stopped VM would ([`ClientPause`]). It is the same verb because it
//! is the same fault — a process that stops running while its peers go on —
//! hitting the other side of the connection; the target says which side.

mod action;
pub mod hooked;
pub mod nemesis;
pub mod pause;
pub mod schedule;
pub mod target;

pub use crate::record::faults::FaultWindow;
pub use nemesis::{FaultError, Nemesis};
pub use pause::ClientPause;
pub use schedule::{FaultStep, Shape};
pub use target::{ClusterSnapshot, Target};

pub use crate::record::faults::FaultKind;

/// How `CLUSTER FAILOVER` is asked for: the cluster layer's, named here too
/// because a fault schedule sets it.
pub use crate::cluster::failover::FailoverMode;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vocabulary_round_trips() {
        for k in FaultKind::ALL {
            assert_eq!(k.to_string().parse::<FaultKind>(), Ok(k));
            let yaml = serde_json::to_string(&k).unwrap();
            assert_eq!(yaml, format!("\"{k}\""));
        }
        assert!(
            "crash"
                .parse::<FaultKind>()
                .unwrap_err()
                .contains("faults: kill, restart")
        );
        assert_eq!(FaultKind::Kill.healed_by(), Some(FaultKind::Start));
        assert_eq!(FaultKind::Partition.healed_by(), Some(FaultKind::Heal));
        assert_eq!(FaultKind::Failover.healed_by(), None);
        // Node faults and the runtime's actions share their names.
        for k in FaultKind::ALL {
            if let Some(a) = k.node_action() {
                assert_eq!(a.to_string(), k.to_string());
            }
        }
    }
}
