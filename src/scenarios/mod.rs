//! Scenario files: what a drill does, as plain data — the topology, the
//! workload, the lock workload beside it (`locks:`), the actions (a reshard, a schedule of faults, or both), the
//! phases, and the SLOs that decide the exit code. Loading is pure.
//!
//! - `plan`      — a scenario as the list of steps a drill takes (pure).
//! - [`run`]     — the interpreter of a plan: runs each step, stores the run, checks it.
//! - `stages`    — what each step does (prepare, record, act, converge, end state, store).
//! - `events`    — the typed events the steps emit; the timeline and the terminal subscribe.
//! - `resume`    — the reshard step, resumed after a fault breaks it off.
//! - [`check`]   — from a stored run to its report (pure): what `check-run`
//!   re-runs; the checkers, each the run in and its section out, and
//!   [`check::slo`], every SLO declared once.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::faults::FaultStep;
use crate::faults::schedule::RawFault;
use crate::record::replication::ReplProbeSpec;
use crate::record::stampede::StampedeSpec;
pub use crate::report::ExpectSpec;
use crate::topology::Topology;
use crate::workload::WorkloadSpec;
use crate::workload::locks::LockSpec;

pub(crate) mod bar;
pub mod check;
mod error;
mod events;
mod hold;
mod load;
mod plan;
pub(crate) mod reshard;
mod resume;
pub mod run;
mod stages;

/// A loaded, validated scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    pub topology: Topology,
    /// Seed for every random choice; `--seed` overrides it, and without either
    /// one is drawn and printed.
    pub seed: Option<u64>,
    pub workload: WorkloadSpec,
    /// Whether the key/value workload runs. Not when a lock drill has no
    /// `workload:` section, or one that would issue nothing (open-loop rate
    /// 0, or no clients): then only the lock workload runs, and the report
    /// has only its figures. `workload`'s settings that are not the KV
    /// workload's own (threads, timeouts) still apply.
    pub kv: bool,
    /// The lock workload, run beside the key/value one: on a standalone
    /// topology's first primary or all of them (Redlock), or on a
    /// replicated topology's primary of the moment.
    pub locks: Option<LockSpec>,
    /// The replication probe, beside the workload: how long a write takes to
    /// show on each replica ([`crate::workload::replication`]).
    pub replication_probe: Option<ReplProbeSpec>,
    /// The stampede workload, beside the others: many readers of a few hot
    /// keys that expire ([`crate::workload::stampede`]).
    pub stampede: Option<StampedeSpec>,
    /// How long the workload runs before the action (ms).
    pub baseline_ms: u64,
    /// How long it runs after the action and convergence (ms).
    pub settle_ms: u64,
    /// How long the cluster may take to converge after the last action (ms).
    pub recovery_timeout_ms: u64,
    /// The shortest `during` phase (ms); 0 when the action alone decides.
    pub during_ms: u64,
    /// A reshard, started at the end of the baseline.
    pub reshard: Option<ReshardStep>,
    /// Faults, timed from the end of the baseline.
    pub faults: Vec<FaultStep>,
    /// SLO name → the maximum the measured value may reach.
    pub slo: BTreeMap<String, f64>,
    /// Client region → SLO name → limit, over that region's clients alone
    /// (`workload.regions`).
    pub slo_by_region: BTreeMap<String, BTreeMap<String, f64>>,
    /// The SLOs this drill is written to break (`expect:`).
    pub expect: Option<ExpectSpec>,
    pub source: PathBuf,
}

/// What the reshard step moves.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReshardAction {
    /// Move `slots` slots from one primary to another.
    Move {
        from: String,
        to: String,
        slots: usize,
    },
    /// Even out the slots over every primary.
    Rebalance,
    /// Add one empty primary (before the workload starts), then rebalance onto it.
    AddPrimary,
    /// Move every slot of a primary onto the others.
    Drain { node: String },
}

/// A drill's reshard step: what to move, with the engine's settings.
#[derive(Debug, Clone, Serialize)]
pub struct ReshardStep {
    pub action: ReshardAction,
    /// Keys per MIGRATE (engine default when absent).
    pub batch_keys: Option<usize>,
    /// Slots migrated at once (engine default when absent).
    pub parallel_slots: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: Option<String>,
    /// Path of the topology file, relative to the scenario file.
    topology: String,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    workload: Option<WorkloadSpec>,
    #[serde(default)]
    locks: Option<LockSpec>,
    #[serde(default)]
    replication_probe: Option<ReplProbeSpec>,
    #[serde(default)]
    stampede: Option<StampedeSpec>,
    #[serde(default = "default_phase_ms")]
    baseline_ms: u64,
    #[serde(default = "default_phase_ms")]
    settle_ms: u64,
    #[serde(default = "default_recovery_timeout_ms")]
    recovery_timeout_ms: u64,
    /// The shortest `during` phase (ms): with no reshard and no faults, the
    /// workload simply runs this long (a steady drill).
    #[serde(default)]
    during_ms: u64,
    #[serde(default)]
    reshard: Option<RawReshard>,
    #[serde(default)]
    faults: Vec<RawFault>,
    /// SLO name → limit; the names are checked against [`slo::SLOS`].
    #[serde(default)]
    slo: BTreeMap<String, f64>,
    /// Client region → SLO name → limit: the same SLOs over one region's
    /// clients alone ([`slo::BY_REGION`]).
    #[serde(default)]
    slo_by_region: BTreeMap<String, BTreeMap<String, f64>>,
    /// The SLOs the drill is written to break.
    #[serde(default)]
    expect: Option<ExpectSpec>,
}

fn default_phase_ms() -> u64 {
    2000
}

/// A minute: a failover with a 15 s node timeout recovers in about 17 s; a
/// cluster still not converged a minute after its last fault is a finding.
fn default_recovery_timeout_ms() -> u64 {
    60_000
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReshard {
    from: Option<String>,
    to: Option<String>,
    slots: Option<usize>,
    #[serde(default)]
    rebalance: bool,
    /// With `rebalance: true`: first add an empty primary.
    #[serde(default)]
    add_primary: bool,
    drain: Option<String>,
    batch_keys: Option<usize>,
    parallel_slots: Option<usize>,
}
