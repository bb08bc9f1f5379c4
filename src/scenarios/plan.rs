//! A drill as a plan: the list of steps a scenario asks for, as plain data
//! (Jepsen's `phases`). Pure: [`plan`] reads the scenario and nothing else, so
//! what a drill will do can be tested, printed and reasoned about apart from
//! doing it; `run` is the short interpreter that carries a plan out.

use std::fmt;

use crate::topology::Kind;

use super::{ReshardAction, Scenario};

/// One step of a drill, in the order the interpreter runs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Grow the cluster by one empty primary, before anything is measured:
    /// app clients map announced addresses when they connect, so a node
    /// added later would be out of their reach on Docker.
    AddPrimary,
    /// Load the key space (every read then has an expected value), read the
    /// topology and who owns which slot, and place the clients.
    Prepare,
    /// Start the recorders — workload, watcher, reference PINGs, the
    /// servers' own figures — on one clock: the run's time 0.
    Record,
    /// Let the workload run for `ms`, then close the phase `phase`.
    Hold { phase: &'static str, ms: u64 },
    /// The reshard and the fault schedule side by side, then undo whatever
    /// is still in force (on every path); closes `during`.
    Act,
    /// Wait until every node agrees on the slot map again (a cluster), or
    /// until one primary has every replica caught up (a replicated
    /// topology) and every Sentinel that is up names it with no failover
    /// under way; closes `recovery`.
    Converge { timeout_ms: u64 },
    /// Stop the recorders. Runs on every path once `Record` has run.
    Stop,
    /// Read the end state: every key's value, the cluster's own check, the
    /// topology after.
    ReadEnd,
}

impl Step {
    /// Whether the interpreter runs this step after an earlier one failed
    /// (so that nothing keeps recording, and the run's figures stop together).
    pub(crate) fn runs_after_failure(&self) -> bool {
        matches!(self, Step::Stop)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::AddPrimary => f.write_str("add an empty primary"),
            Step::Prepare => f.write_str("load the key space"),
            Step::Record => f.write_str("start recording"),
            Step::Hold { phase, ms } => write!(f, "{phase}: {ms} ms"),
            Step::Act => f.write_str("during: the action, then undo"),
            Step::Converge { timeout_ms } => {
                write!(f, "recovery: converge (at most {timeout_ms} ms)")
            }
            Step::Stop => f.write_str("stop recording"),
            Step::ReadEnd => f.write_str("read the end state"),
        }
    }
}

/// The steps `scenario` asks for. Storing and checking the run follow every
/// plan and are not steps of it.
pub(crate) fn plan(scenario: &Scenario) -> Vec<Step> {
    let mut steps = Vec::new();
    let adds_primary = scenario
        .reshard
        .as_ref()
        .is_some_and(|r| r.action == ReshardAction::AddPrimary);
    if adds_primary {
        steps.push(Step::AddPrimary);
    }
    steps.extend([
        Step::Prepare,
        Step::Record,
        Step::Hold {
            phase: "baseline",
            ms: scenario.baseline_ms,
        },
        Step::Act,
    ]);
    // Standalone primaries have nothing to agree on.
    if scenario.topology.kind != Kind::Standalone {
        steps.push(Step::Converge {
            timeout_ms: scenario.recovery_timeout_ms,
        });
    }
    steps.extend([
        Step::Hold {
            phase: "after",
            ms: scenario.settle_ms,
        },
        Step::Stop,
        Step::ReadEnd,
    ]);
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(yaml: &str) -> Scenario {
        super::super::load::tests::load(yaml).unwrap()
    }

    fn names(steps: &[Step]) -> Vec<String> {
        steps.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_reshard_drill_is_the_seven_stages() {
        let s = scenario(
            "name: r\ntopology: c.yaml\nbaseline_ms: 100\nsettle_ms: 300\nreshard:\n  from: s1n1\n  to: s2n1\n  slots: 10\n",
        );
        assert_eq!(
            names(&plan(&s)),
            [
                "load the key space",
                "start recording",
                "baseline: 100 ms",
                "during: the action, then undo",
                "recovery: converge (at most 60000 ms)",
                "after: 300 ms",
                "stop recording",
                "read the end state",
            ]
        );
    }

    #[test]
    fn rebalancing_onto_a_new_primary_adds_it_first() {
        let s = scenario(
            "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\n  add_primary: true\n",
        );
        let steps = plan(&s);
        assert_eq!(steps[0], Step::AddPrimary);
        assert_eq!(steps[1], Step::Prepare);
    }

    #[test]
    fn recovery_waits_for_what_the_kind_has_to_agree_on() {
        let with = |topology: &str| {
            let s = super::super::load::tests::load_beside(
                topology,
                "name: k\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: n1, hold_ms: 10}\n",
            )
            .unwrap();
            plan(&s).iter().any(|s| matches!(s, Step::Converge { .. }))
        };
        assert!(!with(
            "name: s\nkind: standalone\nstandalone: {primaries: 2}\n"
        ));
        assert!(with(
            "name: r\nkind: replicated\nreplicated: {replicas: 1}\n"
        ));
    }

    #[test]
    fn only_stop_runs_after_a_failure() {
        let s = scenario("name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\n");
        let after: Vec<Step> = plan(&s)
            .into_iter()
            .filter(Step::runs_after_failure)
            .collect();
        assert_eq!(after, [Step::Stop]);
    }
}
