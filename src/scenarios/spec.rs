//! A scenario as data: [`Scenario`] (what `load` returns, validated) and
//! the reshard step it may hold, and the raw YAML shapes `load` reads
//! before validating them. Kept apart from the folder's index so that
//! `mod.rs` only says what the folder holds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::faults::FaultStep;
use crate::faults::schedule::RawFault;
use crate::record::invalidation::InvalidationSpec;
use crate::record::replication::ReplProbeSpec;
use crate::record::stampede::StampedeSpec;
use crate::report::ExpectSpec;
use crate::topology::Topology;
use crate::workload::WorkloadSpec;
use crate::workload::locks::LockSpec;

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
    /// The invalidation workload, beside the others: a cache kept
    /// consistent with a store the tool owns ([`crate::workload::invalidation`]).
    pub invalidation: Option<InvalidationSpec>,
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
    /// Run without a single write (`run --read-only`): no keys loaded, the
    /// workload only reads; see [`Scenario::read_only`].
    pub read_only: bool,
}

impl Scenario {
    /// This drill without a single write, for a deployment that must not be
    /// written (`run --read-only`): no keys loaded before the baseline, and
    /// every op of the workload a GET of the drill's own (absent) keys, so
    /// latency, downtime and failover come from reads alone and the
    /// figures that need writes (lost writes, staleness) are not measured.
    /// Refused, naming why, for a drill whose point is writing: locks, a
    /// stampede, a replication probe, a reshard (MIGRATE writes), a flush.
    /// The scenario with these app clients (`run --clients`), checked as
    /// its own `workload.clients` would be; the error names the file.
    pub fn with_clients(mut self, clients: crate::workload::Clients) -> Result<Scenario, String> {
        let bad = |why: String| format!("{}: --clients: {why}", self.source.display());
        if !self.kv {
            return Err(bad("this drill has no key/value workload".into()));
        }
        if clients.all() == 0 {
            return Err(bad("a drill needs at least one app client".into()));
        }
        if let Some(why) =
            clients.topology_problem(self.topology.kind, self.topology.sentinel.is_some())
        {
            return Err(bad(why));
        }
        self.workload.clients = clients;
        if let Some((field, why)) = self.workload.problem() {
            let field = field.join(".");
            return Err(bad(if field.is_empty() {
                why
            } else {
                format!("workload.{field}: {why}")
            }));
        }
        Ok(self)
    }

    pub fn read_only(mut self) -> Result<Scenario, String> {
        let refuse = |what: &str| {
            Err(format!(
                "{}: --read-only: {what} writes by nature, so this drill cannot run without writing",
                self.source.display()
            ))
        };
        if self.locks.is_some() {
            return refuse("the lock workload");
        }
        if self.stampede.is_some() {
            return refuse("the stampede workload");
        }
        if self.invalidation.is_some() {
            return refuse("the invalidation workload");
        }
        if self.replication_probe.is_some() {
            return refuse("the replication probe");
        }
        if self.reshard.is_some() {
            return refuse("a reshard (MIGRATE)");
        }
        if self
            .faults
            .iter()
            .any(|f| f.fault == crate::faults::FaultKind::Flush)
        {
            return refuse("a flush");
        }
        self.workload.mix = crate::workload::spec::Mix {
            get: 100,
            set: 0,
            incr: 0,
            del: 0,
            set_ttl: 0,
            txn: 0,
            txn_read: 0,
        };
        self.workload.wait = None;
        self.read_only = true;
        Ok(self)
    }
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
    /// Move one slot, from whichever primary holds it, to `to`
    /// (`slot: hot`: the slot of the workload's `hot_slot` keys).
    MoveSlot { slot: u16, to: String },
}

/// A drill's reshard step: what to move, with the engine's settings.
#[derive(Debug, Clone, Serialize)]
pub struct ReshardStep {
    pub action: ReshardAction,
    /// Keys per MIGRATE (engine default when absent).
    pub batch_keys: Option<usize>,
    /// Slots migrated at once (engine default when absent).
    pub parallel_slots: Option<usize>,
    /// Key by key, atomic (the server's own migration) or auto.
    pub method: crate::cluster::reshard::Method,
    /// Key by key: the sources' PING bound the engine steers by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_impact_ms: Option<f64>,
    /// Atomic: at most this many keys per server job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub atomic_job_keys: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: Option<String>,
    /// Path of the topology file, relative to the scenario file.
    pub(super) topology: String,
    #[serde(default)]
    pub(super) seed: Option<u64>,
    #[serde(default)]
    pub(super) workload: Option<WorkloadSpec>,
    #[serde(default)]
    pub(super) locks: Option<LockSpec>,
    #[serde(default)]
    pub(super) replication_probe: Option<ReplProbeSpec>,
    #[serde(default)]
    pub(super) stampede: Option<StampedeSpec>,
    #[serde(default)]
    pub(super) invalidation: Option<InvalidationSpec>,
    #[serde(default = "default_phase_ms")]
    pub(super) baseline_ms: u64,
    #[serde(default = "default_phase_ms")]
    pub(super) settle_ms: u64,
    #[serde(default = "default_recovery_timeout_ms")]
    pub(super) recovery_timeout_ms: u64,
    /// The shortest `during` phase (ms): with no reshard and no faults, the
    /// workload simply runs this long (a steady drill).
    #[serde(default)]
    pub(super) during_ms: u64,
    #[serde(default)]
    pub(super) reshard: Option<RawReshard>,
    #[serde(default)]
    pub(super) faults: Vec<RawFault>,
    /// SLO name → limit; the names are checked against [`super::check::slo::SLOS`].
    #[serde(default)]
    pub(super) slo: BTreeMap<String, f64>,
    /// Client region → SLO name → limit: the same SLOs over one region's
    /// clients alone ([`super::check::slo::BY_REGION`]).
    #[serde(default)]
    pub(super) slo_by_region: BTreeMap<String, BTreeMap<String, f64>>,
    /// The SLOs the drill is written to break.
    #[serde(default)]
    pub(super) expect: Option<ExpectSpec>,
}

fn default_phase_ms() -> u64 {
    2000
}

/// A minute: a failover with a 15 s node timeout recovers in about 17 s; a
/// cluster still not converged a minute after its last fault is a finding.
fn default_recovery_timeout_ms() -> u64 {
    60_000
}

/// `reshard.slot`: a slot number, or `hot`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawSlot {
    Number(u16),
    Name(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReshard {
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
    pub(super) slots: Option<usize>,
    /// One slot to move, by number or `hot` (the workload's hot slot).
    pub(super) slot: Option<RawSlot>,
    #[serde(default)]
    pub(super) rebalance: bool,
    /// With `rebalance: true`: first add an empty primary.
    #[serde(default)]
    pub(super) add_primary: bool,
    pub(super) drain: Option<String>,
    pub(super) batch_keys: Option<usize>,
    pub(super) parallel_slots: Option<usize>,
    #[serde(default)]
    pub(super) method: crate::cluster::reshard::Method,
    pub(super) max_impact_ms: Option<f64>,
    pub(super) atomic_job_keys: Option<u64>,
}
