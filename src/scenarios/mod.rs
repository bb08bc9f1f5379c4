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
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::faults::FaultStep;
use crate::faults::schedule::RawFault;
use crate::record::replication::ReplProbeSpec;
use crate::record::stampede::StampedeSpec;
pub use crate::report::ExpectSpec;
use crate::topology::{Kind, Topology, TopologyError, parse_document};
use crate::workload::locks::{Algorithm, LockSpec, ResourceKind};
use crate::workload::{ReplicaReads, WorkloadSpec};

pub mod check;
use check::slo;
mod error;
mod events;
mod plan;
mod progress;
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

impl Scenario {
    /// Read and validate the scenario at `path` and the topology it names.
    pub fn load(path: &Path) -> Result<Scenario, TopologyError> {
        let src = std::fs::read_to_string(path).map_err(|source| TopologyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let (raw, doc) = parse_document::<RawScenario>(
            &src,
            Some(path),
            "the file is empty; a scenario needs at least `name`, `topology`, and `reshard` or `faults`",
        )?;
        let topology_path = path.parent().unwrap_or(Path::new(".")).join(&raw.topology);
        if !topology_path.is_file() {
            return Err(doc.invalid_field(
                &["topology"],
                format!(
                    "no topology file at {} (paths are relative to the scenario file)",
                    topology_path.display()
                ),
            ));
        }
        let topology = Topology::load(&topology_path)?;
        let kind = topology.kind;
        if raw.reshard.is_some() && kind != Kind::Cluster {
            return Err(doc.invalid_field(
                &["reshard"],
                format!(
                    "a reshard moves a cluster's slots; {} is a {} topology",
                    topology_path.display(),
                    kind_name(kind)
                ),
            ));
        }
        let primaries: Vec<&str> = topology.primaries().map(|n| n.name.as_str()).collect();
        let primary = |field: &str, name: &str| {
            if primaries.contains(&name) {
                Ok(name.to_string())
            } else {
                Err(doc.invalid_field(
                    &["reshard", field],
                    format!(
                        "`{name}` is not a primary of {} (primaries: {})",
                        topology.name,
                        primaries.join(", ")
                    ),
                ))
            }
        };
        if raw.reshard.is_none() && raw.faults.is_empty() && raw.during_ms == 0 {
            return Err(doc.invalid_field(
                &[],
                "a scenario needs something to do: `reshard`, `faults`, or a steady `during_ms` (any of them together)",
            ));
        }
        let reshard = match &raw.reshard {
            None => None,
            Some(r) => Some(reshard_step(r, &doc, &topology, &primary)?),
        };
        let mut faults = Vec::new();
        for (i, f) in raw.faults.into_iter().enumerate() {
            let index = i.to_string();
            let step = f
                .validate()
                .map_err(|(field, msg)| doc.invalid_field(&["faults", &index, field], msg))?;
            check_targets(&step, &topology)
                .map_err(|(field, msg)| doc.invalid_field(&["faults", &index, field], msg))?;
            if step.fault == crate::faults::FaultKind::Failover && kind == Kind::Standalone {
                return Err(doc.invalid_field(
                    &["faults", &index, "fault"],
                    "standalone primaries have no replica to fail over to",
                ));
            }
            if let Some(change) = &step.link {
                if topology.links.is_empty() {
                    return Err(doc.invalid_field(
                        &["faults", &index, "fault"],
                        "a slow fault changes a link between regions, and this topology declares no `links`",
                    ));
                }
                if let Some([a, b]) = &change.between
                    && !topology.links.iter().any(|l| l.joins(a, b))
                {
                    return Err(doc.invalid_field(
                        &["faults", &index, "between"],
                        format!(
                            "the topology declares no link between {a} and {b} (links: {})",
                            topology
                                .links
                                .iter()
                                .map(|l| l.label())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
            if step.after_slots.is_some() && raw.reshard.is_none() {
                return Err(doc.invalid_field(
                    &["faults", &index, "after_slots"],
                    "waits for the reshard's progress, and this scenario has no `reshard`",
                ));
            }
            faults.push(step);
        }
        // A lock drill may run its locks alone: no `workload:`, or one that
        // would issue nothing.
        let alone = raw.locks.is_some() || raw.stampede.is_some();
        let (workload, kv) = match (raw.workload, alone) {
            (None, true) => (WorkloadSpec::default(), false),
            (Some(w), true) if w.issues_nothing() => (w, false),
            (w, _) => (w.unwrap_or_default(), true),
        };
        if kv && workload.clients == 0 {
            return Err(doc.invalid_field(
                &["workload", "clients"],
                "a drill needs at least one app client (a lock or stampede drill may leave `workload:` out)",
            ));
        }
        if kv && workload.replica_reads.from_replicas() && kind != Kind::Cluster {
            return Err(doc.invalid_field(
                &["workload", "replica_reads"],
                format!(
                    "replica reads are for clusters (redis-rs's read_from_replicas); this topology is {}",
                    kind_name(kind)
                ),
            ));
        }
        if kv && workload.replica_reads == ReplicaReads::Local && workload.regions.is_empty() {
            return Err(doc.invalid_field(
                &["workload", "replica_reads"],
                "`local` reads from a replica in the client's own region, and these clients are in none: give them `workload.regions`",
            ));
        }
        if kv && !workload.regions.is_empty() {
            let clients = workload.total_clients();
            if let Err((path, why)) =
                check_region_list("workload", &workload.regions, clients, "client", &topology)
            {
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                return Err(doc.invalid_field(&path, why));
            }
            if workload.threads == 0 {
                return Err(doc.invalid_field(
                    &["workload", "threads"],
                    "clients in regions run on threads of their own (each region's): threads must be 1 or more",
                ));
            }
        }
        if let Some((field, why)) = workload.problem().filter(|_| kv) {
            let path: Vec<&str> = std::iter::once("workload").chain(field).collect();
            return Err(doc.invalid_field(&path, why));
        }
        let slo = raw.slo;
        if !kv
            && let Some(s) = slo
                .keys()
                .filter_map(|n| slo::find(n))
                .find(|s| s.source == slo::Source::History)
        {
            return Err(doc.invalid_field(
                &["slo", s.name],
                format!(
                    "this drill runs no key/value workload (only `locks:` or `stampede:`), so nothing measures {} ({})",
                    s.name, s.reads
                ),
            ));
        }
        if let Some(name) = slo.keys().find(|n| slo::find(n).is_none()) {
            let why = match slo::renamed(name) {
                Some(new) => format!("`{name}` is now called `{new}`"),
                None => {
                    let known: Vec<&str> = slo::SLOS.iter().map(|s| s.name).collect();
                    format!("unknown SLO `{name}`; the SLOs are {}", known.join(", "))
                }
            };
            return Err(doc.invalid_field(&["slo", name], why));
        }
        if let Some(s) = slo
            .keys()
            .filter_map(|n| slo::find(n))
            .find(|s| !s.on.contains(&kind))
        {
            return Err(doc.invalid_field(
                &["slo", s.name],
                format!(
                    "{} topologies have no such figure ({} reads {})",
                    kind_name(kind),
                    s.name,
                    s.reads
                ),
            ));
        }
        if let Some((name, _)) = slo.iter().find(|(_, v)| !v.is_finite() || **v < 0.0) {
            return Err(doc.invalid_field(&["slo", name], "an SLO limit is a number ≥ 0"));
        }
        for (region, limits) in &raw.slo_by_region {
            fn here<'a>(region: &'a str, name: &'a str) -> Vec<&'a str> {
                if name.is_empty() {
                    vec!["slo_by_region", region]
                } else {
                    vec!["slo_by_region", region, name]
                }
            }
            let clients_here = kv && workload.regions.contains(region);
            let reader_regions = raw.stampede.as_ref().map_or(&[][..], |s| &s.regions[..]);
            let readers_here = reader_regions.contains(region);
            let listed = |l: &[String]| {
                if l.is_empty() {
                    "none".to_string()
                } else {
                    l.join(", ")
                }
            };
            if !clients_here && !readers_here {
                let readers = if reader_regions.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", or the stampede readers `stampede.regions` puts there ({})",
                        listed(reader_regions)
                    )
                };
                return Err(doc.invalid_field(
                    &here(region, ""),
                    format!(
                        "no clients in `{region}`: an SLO by region reads the clients `workload.regions` puts there ({}){readers}",
                        listed(if kv { &workload.regions } else { &[] })
                    ),
                ));
            }
            for (name, limit) in limits {
                let (kv_slo, reader_slo) = (
                    slo::BY_REGION.contains(&name.as_str()),
                    slo::BY_READER_REGION.contains(&name.as_str()),
                );
                if !kv_slo && !reader_slo {
                    return Err(doc.invalid_field(
                        &here(region, name),
                        format!(
                            "not an SLO a region's clients have apart; these are: {}; and for stampede readers: {}",
                            slo::BY_REGION.join(", "),
                            slo::BY_READER_REGION.join(", ")
                        ),
                    ));
                }
                if kv_slo && !clients_here {
                    return Err(doc.invalid_field(
                        &here(region, name),
                        format!("reads the key/value clients in `{region}`, and `workload.regions` puts none there"),
                    ));
                }
                if reader_slo && !readers_here {
                    return Err(doc.invalid_field(
                        &here(region, name),
                        format!("reads the stampede readers in `{region}`, and `stampede.regions` puts none there"),
                    ));
                }
                if !limit.is_finite() || *limit < 0.0 {
                    return Err(
                        doc.invalid_field(&here(region, name), "an SLO limit is a number ≥ 0")
                    );
                }
            }
        }
        check_locks(raw.locks.as_ref(), &topology, &faults, &slo).map_err(|(path, msg)| {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            doc.invalid_field(&path, msg)
        })?;
        if let Some(probe) = &raw.replication_probe {
            if let Err((field, msg)) = probe.check() {
                return Err(doc.invalid_field(&["replication_probe", field], msg));
            }
            if !topology
                .nodes
                .iter()
                .any(|n| n.role == crate::topology::Role::Replica)
            {
                return Err(doc.invalid_field(
                    &["replication_probe"],
                    "the replication probe reads replicas, and this topology has none",
                ));
            }
        }
        if let Some(st) = &raw.stampede {
            if let Err((field, msg)) = st.check() {
                return Err(doc.invalid_field(&["stampede", field], msg));
            }
            if let Err((path, why)) =
                check_region_list("stampede", &st.regions, st.readers, "reader", &topology)
            {
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                return Err(doc.invalid_field(&path, why));
            }
        }
        if let Some(e) = &raw.expect
            && let Err((path, why)) = check_expect(e, &slo, &raw.slo_by_region)
        {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            return Err(doc.invalid_field(&path, why));
        }
        let scenario = Scenario {
            name: raw.name,
            description: raw.description,
            topology,
            seed: raw.seed,
            workload,
            kv,
            locks: raw.locks,
            replication_probe: raw.replication_probe,
            stampede: raw.stampede,
            baseline_ms: raw.baseline_ms,
            settle_ms: raw.settle_ms,
            recovery_timeout_ms: raw.recovery_timeout_ms,
            during_ms: raw.during_ms,
            reshard,
            faults,
            slo,
            slo_by_region: raw.slo_by_region,
            expect: raw.expect,
            source: path.to_path_buf(),
        };
        // A drill without an SLO has no verdict to give: it would pass on
        // nothing.
        if scenario.slo.is_empty() && scenario.slo_by_region.is_empty() {
            return Err(doc.invalid_field(
                &[],
                "a scenario needs at least one SLO (`slo:`): without one its run would pass on nothing (the SLOs are listed in docs/scenarios.md)",
            ));
        }
        // Each SLO must be one the drill can measure: one it cannot would
        // end `unknown` at every run, after the whole drill.
        for name in scenario.slo.keys() {
            if let Some(why) = slo::unmeasurable(name, &scenario) {
                return Err(doc.invalid_field(
                    &["slo", name],
                    format!("this drill cannot measure it: {why}"),
                ));
            }
        }
        if let Some(ReshardStep {
            action: ReshardAction::Move { from, slots, .. },
            ..
        }) = &scenario.reshard
        {
            let held: usize =
                (scenario.topology.node(from)).map_or(0, |n| n.slots.iter().map(|r| r.len()).sum());
            if *slots > held {
                return Err(doc.invalid_field(
                    &["reshard", "slots"],
                    format!(
                        "{from} holds {held} slots when {} is brought up; it cannot give {slots}",
                        scenario.topology.name
                    ),
                ));
            }
            for (i, f) in scenario.faults.iter().enumerate() {
                if let Some(after) = f.after_slots.filter(|a| a > slots) {
                    return Err(doc.invalid_field(
                        &["faults", &i.to_string(), "after_slots"],
                        format!(
                            "waits for {after} slots moved, and the reshard moves {slots}: the fault would never hit mid-move"
                        ),
                    ));
                }
            }
        }
        Ok(scenario)
    }
}

/// `expect.fail`: at least one name, each an SLO the scenario sets (by
/// region as `name[region]`), none twice.
fn check_expect(
    e: &ExpectSpec,
    slo: &BTreeMap<String, f64>,
    by_region: &BTreeMap<String, BTreeMap<String, f64>>,
) -> Result<(), (Vec<String>, String)> {
    let at = |field: &str, i: Option<usize>, msg: String| {
        let mut path = vec!["expect".to_string(), field.to_string()];
        path.extend(i.map(|i| i.to_string()));
        (path, msg)
    };
    if e.fail.is_empty() && e.may_fail.is_empty() {
        return Err(at(
            "fail",
            None,
            "name the SLOs this drill is written to break (`fail`), or may break in some runs (`may_fail`): at least one".into(),
        ));
    }
    let set: Vec<String> =
        slo.keys()
            .cloned()
            .chain(by_region.iter().flat_map(|(region, limits)| {
                limits.keys().map(|n| slo::region_slo_name(n, region))
            }))
            .collect();
    let listed = e
        .fail
        .iter()
        .enumerate()
        .map(|(i, n)| ("fail", i, n))
        .chain(
            e.may_fail
                .iter()
                .enumerate()
                .map(|(i, n)| ("may_fail", i, n)),
        );
    let mut seen: Vec<&String> = Vec::new();
    for (field, i, name) in listed {
        if seen.contains(&name) {
            return Err(at(field, Some(i), format!("`{name}` is listed twice")));
        }
        seen.push(name);
        if !set.contains(name) {
            let sets = if set.is_empty() {
                "none".to_string()
            } else {
                set.join(", ")
            };
            return Err(at(
                field,
                Some(i),
                format!("`{name}` is not an SLO of this scenario; it sets {sets}"),
            ));
        }
    }
    Ok(())
}

/// A list of regions that some members of `section` are spread over in
/// turn (`workload.regions`, `locks.regions`, `stampede.regions`): each a
/// region of the topology, none twice, and a member for each. The error's
/// path names the field.
fn check_region_list(
    section: &str,
    list: &[String],
    members: u32,
    member: &str,
    topology: &Topology,
) -> Result<(), (Vec<String>, String)> {
    let known: Vec<&str> = topology.regions.iter().map(|r| r.name.as_str()).collect();
    let at = |i: Option<usize>, msg: String| {
        let mut path = vec![section.to_string(), "regions".to_string()];
        path.extend(i.map(|i| i.to_string()));
        Err((path, msg))
    };
    for (i, r) in list.iter().enumerate() {
        if !known.contains(&r.as_str()) {
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            return at(
                Some(i),
                format!("no region `{r}` in the topology (regions: {known})"),
            );
        }
        if list[..i].contains(r) {
            return at(Some(i), format!("`{r}` is listed twice"));
        }
    }
    if members < list.len() as u32 {
        return at(
            None,
            format!(
                "{} regions and {members} {member}s: every region needs a {member} ({member}s are spread over the regions in turn)",
                list.len()
            ),
        );
    }
    Ok(())
}

/// The `locks:` section against the rest of the scenario: the section
/// itself, the topology it runs on, the lock holders the faults pause, and
/// the lock SLOs (which read nothing without it). The error's path names
/// the field.
fn check_locks(
    locks: Option<&LockSpec>,
    topology: &Topology,
    faults: &[FaultStep],
    slo: &BTreeMap<String, f64>,
) -> Result<(), (Vec<String>, String)> {
    let at = |path: &[&str], msg: String| Err((path.iter().map(|p| p.to_string()).collect(), msg));
    let paused = faults.iter().enumerate().find_map(|(i, f)| match f.target {
        Some(crate::faults::Target::LockHolder(n)) => Some((i, n)),
        _ => None,
    });
    let Some(spec) = locks else {
        if let Some(name) = slo
            .keys()
            .find(|n| slo::find(n).is_some_and(|s| s.source == slo::Source::Locks))
        {
            return at(
                &["slo", name],
                format!("{name} reads the lock workload, and this scenario has no `locks:`"),
            );
        }
        if let Some((i, _)) = paused {
            return at(
                &["faults", &i.to_string(), "target"],
                "names a lock holder, and this scenario has no `locks:`".into(),
            );
        }
        return Ok(());
    };
    if let Err((field, msg)) = spec.validate() {
        return at(&["locks", field], msg);
    }
    check_region_list("locks", &spec.regions, spec.workers, "worker", topology)?;
    match (topology.kind, spec.algorithm) {
        (Kind::Cluster, _) => {
            return at(
                &["locks"],
                "a lock workload runs on a standalone topology (one instance, or Redlock over its primaries) or a replicated one (its primary); this is a cluster".into(),
            );
        }
        (Kind::Replicated, Algorithm::Redlock) => {
            return at(
                &["locks", "algorithm"],
                "Redlock takes independent primaries: a standalone topology (a replicated one has one primary)".into(),
            );
        }
        _ => {}
    }
    if let Some((i, n)) = paused
        && n >= spec.locks
    {
        return at(
            &["faults", &i.to_string(), "target"],
            format!(
                "lock_holder:{n}: the lock workload has {} lock(s), 0..{}",
                spec.locks,
                spec.locks - 1
            ),
        );
    }
    if slo.contains_key("max_stale_writes_accepted") && !spec.uses(ResourceKind::Fenced) {
        return at(
            &["slo", "max_stale_writes_accepted"],
            "reads the fenced resource, and `locks.resources` has none".into(),
        );
    }
    Ok(())
}

/// The kind as a scenario's reader knows it.
fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Cluster => "cluster",
        Kind::Standalone => "standalone",
        Kind::Replicated => "replicated",
    }
}

/// The `reshard:` section, checked against the topology's primaries.
fn reshard_step(
    r: &RawReshard,
    doc: &crate::topology::Doc,
    topology: &Topology,
    primary: &dyn Fn(&str, &str) -> Result<String, TopologyError>,
) -> Result<ReshardStep, TopologyError> {
    let primaries: Vec<&str> = topology.primaries().map(|n| n.name.as_str()).collect();
    if r.add_primary && !r.rebalance {
        return Err(doc.invalid_field(
            &["reshard", "add_primary"],
            "goes with `rebalance: true` (the new primary starts empty)",
        ));
    }
    let action = match (&r.from, &r.to, r.slots, r.rebalance, &r.drain) {
        (Some(from), Some(to), Some(slots), false, None) => {
            if from == to {
                return Err(
                    doc.invalid_field(&["reshard", "to"], "`from` and `to` are the same node")
                );
            }
            if slots == 0 {
                return Err(doc.invalid_field(&["reshard", "slots"], "must be at least 1"));
            }
            ReshardAction::Move {
                from: primary("from", from)?,
                to: primary("to", to)?,
                slots,
            }
        }
        (None, None, None, true, None) if r.add_primary => ReshardAction::AddPrimary,
        (None, None, None, true, None) => ReshardAction::Rebalance,
        (None, None, None, false, Some(node)) => {
            if primaries.len() < 2 {
                return Err(doc.invalid_field(
                    &["reshard", "drain"],
                    "draining needs another primary to take the slots",
                ));
            }
            ReshardAction::Drain {
                node: primary("drain", node)?,
            }
        }
        _ => {
            return Err(doc.invalid_field(
                &["reshard"],
                "give exactly one of: `from`, `to` and `slots` together; `rebalance: true` (with `add_primary: true` to add an empty primary first); `drain: NODE`",
            ));
        }
    };
    for (field, v) in [
        ("batch_keys", r.batch_keys),
        ("parallel_slots", r.parallel_slots),
    ] {
        if v == Some(0) {
            return Err(doc.invalid_field(&["reshard", field], "must be at least 1"));
        }
    }

    Ok(ReshardStep {
        action,
        batch_keys: r.batch_keys,
        parallel_slots: r.parallel_slots,
    })
}

/// Targets that name a node or a region must name one the topology has;
/// role-based targets are resolved when the fault is applied.
fn check_targets(step: &FaultStep, topology: &Topology) -> Result<(), (&'static str, String)> {
    use crate::faults::Target;
    fn walk(t: &Target, topology: &Topology) -> Result<(), String> {
        match t {
            Target::Node(n) if topology.node(n).is_none() => Err(format!(
                "no node named `{n}` in {} (nodes: {})",
                topology.name,
                topology
                    .nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Target::Region(r) if !topology.regions.iter().any(|x| &x.name == r) => Err(format!(
                "no region named `{r}` in {} (regions: {})",
                topology.name,
                topology
                    .regions
                    .iter()
                    .map(|x| x.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            // Nothing to resolve to in a topology without replicas, whatever
            // roles the drill goes through.
            Target::ReplicaOf(_) | Target::Replica | Target::Replicas
                if !topology.nodes.iter().any(|n| n.replica_of.is_some()) =>
            {
                Err(format!(
                    "`{t}` names a replica, and {} has none",
                    topology.name
                ))
            }
            Target::ReplicaOf(inner) => walk(inner, topology),
            _ => Ok(()),
        }
    }
    for (field, t) in [("target", &step.target), ("peer", &step.peer)] {
        if let Some(t) = t {
            walk(t, topology).map_err(|m| (field, m))?;
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The scenario `yaml`, beside a 3x1 cluster topology `c.yaml`; an
    /// error as its message, with the folder written `DIR`.
    pub(crate) fn load(yaml: &str) -> Result<Scenario, String> {
        load_beside(
            "name: c\nkind: cluster\ncluster:\n  shards: 3\n  replicas: 1\n",
            yaml,
        )
    }

    /// The scenario `yaml` beside the topology `topology` as `c.yaml`. A
    /// `yaml` without SLOs gets one every drill measures (`max_keys_missing`),
    /// after its last line, so that positions in errors stay as written.
    pub(crate) fn load_beside(topology: &str, yaml: &str) -> Result<Scenario, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.yaml"), topology).unwrap();
        let p = dir.path().join("s.yaml");
        let yaml = if yaml.contains("slo:") {
            yaml.to_string()
        } else {
            format!("{yaml}slo:\n  max_keys_missing: 1000000\n")
        };
        std::fs::write(&p, yaml).unwrap();
        Scenario::load(&p).map_err(|e| {
            e.to_string()
                .replace(&dir.path().display().to_string(), "DIR")
        })
    }

    #[test]
    fn the_shipped_scenarios_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "yaml") {
                Scenario::load(&e.path()).unwrap_or_else(|err| panic!("{err}"));
                n += 1;
            }
        }
        assert!(n >= 1);
    }

    const STANDALONE: &str = "name: s\nkind: standalone\nstandalone: {primaries: 3}\n";
    const REPLICATED: &str = "name: r\nkind: replicated\nreplicated: {replicas: 2}\n";

    #[test]
    fn drills_load_on_every_kind_with_what_that_kind_has() {
        let kill = "name: k\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: primary_of:0, hold_ms: 100}\nslo:\n  max_lost_keys: 0\n";
        assert_eq!(
            load_beside(STANDALONE, kill).unwrap().topology.kind,
            Kind::Standalone
        );
        let failover = "name: f\ntopology: c.yaml\nfaults:\n  - {fault: failover, target: n2, mode: force}\nslo:\n  max_convergence_ms: 5000\n";
        assert_eq!(load_beside(REPLICATED, failover).unwrap().faults.len(), 1);
        let cases = [
            (
                STANDALONE,
                "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\n",
                "DIR/s.yaml:3:1: reshard: a reshard moves a cluster's slots; DIR/c.yaml is a standalone topology",
            ),
            (
                STANDALONE,
                "name: f\ntopology: c.yaml\nfaults:\n  - {fault: failover, target: n2}\n",
                "DIR/s.yaml:4:6: faults.0.fault: standalone primaries have no replica to fail over to",
            ),
            (
                STANDALONE,
                "name: k\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: n1}\nslo:\n  max_convergence_ms: 1\n",
                "DIR/s.yaml:6:3: slo.max_convergence_ms: standalone topologies have no such figure",
            ),
            (
                REPLICATED,
                "name: k\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: n1}\nslo:\n  max_stray_keys: 0\n",
                "DIR/s.yaml:6:3: slo.max_stray_keys: replicated topologies have no such figure (max_stray_keys reads keys left in slots",
            ),
        ];
        for (topology, yaml, expected) in cases {
            let err = load_beside(topology, yaml).unwrap_err();
            assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
        }
    }

    #[test]
    fn stampede_and_replica_reads_load_and_their_errors_name_the_place() {
        const CLUSTER: &str = "name: c\nkind: cluster\ncluster:\n  shards: 3\n  replicas: 1\n";
        let base = "name: s\ntopology: c.yaml\nfaults:\n  - {fault: flush, target: primaries}\n";
        let s = load_beside(
            CLUSTER,
            &format!("{base}stampede:\n  readers: 10\n  one_slot: false\n  keys: 500\nslo:\n  max_warm_ms: 100\n"),
        )
        .unwrap();
        assert!(
            !s.kv,
            "a stampede drill may run without the key/value workload"
        );
        assert_eq!(s.stampede.unwrap().keys, 500);
        let cases = [
            (
                CLUSTER,
                format!("{base}stampede:\n  keys: 500\n"),
                "DIR/s.yaml:6:3: stampede.keys: must be between 1 and 100, not 500",
            ),
            (
                CLUSTER,
                format!("{base}stampede:\n  policy: serve_stale\n"),
                "DIR/s.yaml:5:1: stampede.stale_ms: serve_stale needs",
            ),
            (
                CLUSTER,
                format!("{base}stampede:\n  readerz: 5\n"),
                "DIR/s.yaml:6:3: stampede.readerz: unknown field `readerz`",
            ),
            (
                REPLICATED,
                "name: k\ntopology: c.yaml\nworkload:\n  replica_reads: true\nfaults:\n  - {fault: kill, target: n1}\n".to_string(),
                "DIR/s.yaml:4:3: workload.replica_reads: replica reads are for clusters",
            ),
            (
                CLUSTER,
                format!("{base}stampede: {{}}\n").replace("flush, target: primaries", "flush, target: primaries, hold_ms: 5"),
                "DIR/s.yaml:4:39: faults.0.hold_ms: flush is not undone, so it has no hold",
            ),
        ];
        for (topology, yaml, expected) in cases {
            let err = load_beside(topology, &yaml).unwrap_err();
            assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
        }
    }

    #[test]
    fn stampede_readers_in_regions_load_and_their_errors_name_the_place() {
        const TWO: &str = "name: c\nkind: cluster\nregions: [{name: eu}, {name: us}]\ncluster:\n  shards: 3\n  replicas: 1\n";
        let base = "name: s\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: s1n1}\n";
        let s = load_beside(
            TWO,
            &format!("{base}stampede:\n  readers: 4\n  regions: [us, eu]\n"),
        )
        .unwrap();
        let st = s.stampede.unwrap();
        assert_eq!(st.regions, ["us", "eu"]);
        assert_eq!((st.region_of(0), st.region_of(3)), (Some("us"), Some("eu")));
        let gated = format!(
            "{base}stampede:\n  regions: [eu, us]\nslo_by_region:\n  us: {{max_stampede_serve_p99_ms: 200, max_failed_reads: 0}}\n"
        );
        let s = load_beside(TWO, &gated).unwrap();
        assert_eq!(s.slo_by_region["us"]["max_stampede_serve_p99_ms"], 200.0);
        for (yaml, expected) in [
            (
                format!(
                    "{base}stampede:\n  regions: [eu, us]\nslo_by_region:\n  us: {{max_app_downtime_ms: 1}}\n"
                ),
                "DIR/s.yaml:8:8: slo_by_region.us.max_app_downtime_ms: reads the key/value clients in `us`, and `workload.regions` puts none there",
            ),
            (
                format!(
                    "{base}workload:\n  regions: [eu, us]\nslo_by_region:\n  eu: {{max_failed_reads: 1}}\n"
                ),
                "DIR/s.yaml:8:8: slo_by_region.eu.max_failed_reads: reads the stampede readers in `eu`, and `stampede.regions` puts none there",
            ),
            (
                format!("{base}stampede:\n  regions: [eu, mars]\n"),
                "DIR/s.yaml:6:17: stampede.regions.1: no region `mars` in the topology (regions: eu, us)",
            ),
            (
                format!("{base}stampede:\n  regions: [eu, eu]\n"),
                "DIR/s.yaml:6:17: stampede.regions.1: `eu` is listed twice",
            ),
            (
                format!("{base}stampede:\n  readers: 1\n  regions: [eu, us]\n"),
                "DIR/s.yaml:7:3: stampede.regions: 2 regions and 1 readers: every region needs a reader",
            ),
        ] {
            let err = load_beside(TWO, &yaml).unwrap_err();
            assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
        }
    }

    #[test]
    fn expected_failures_name_slos_of_the_scenario() {
        const TWO: &str = "name: c\nkind: cluster\nregions: [{name: eu}, {name: us}]\ncluster:\n  shards: 3\n  replicas: 1\n";
        let base = "name: s\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: s1n1}\nworkload:\n  regions: [eu, us]\nslo:\n  max_staleness_ms: 100\nslo_by_region:\n  us: {max_app_write_downtime_ms: 9000}\n";
        let s = load_beside(
            TWO,
            &format!(
                "{base}expect:\n  fail: [max_staleness_ms, 'max_app_write_downtime_ms[us]']\n  why: replicas serve what they have\n"
            ),
        )
        .unwrap();
        let e = s.expect.expect("an expectation");
        assert_eq!(
            e.fail,
            ["max_staleness_ms", "max_app_write_downtime_ms[us]"]
        );
        assert_eq!(e.why.as_deref(), Some("replicas serve what they have"));
        for (yaml, expected) in [
            (
                format!("{base}expect:\n  fail: [max_p99_during_ms]\n"),
                "DIR/s.yaml:12:10: expect.fail.0: `max_p99_during_ms` is not an SLO of this scenario; it sets max_staleness_ms, max_app_write_downtime_ms[us]",
            ),
            (
                format!("{base}expect:\n  fail: [max_staleness_ms, max_staleness_ms]\n"),
                "DIR/s.yaml:12:28: expect.fail.1: `max_staleness_ms` is listed twice",
            ),
            (
                format!(
                    "{base}expect:\n  fail: [max_staleness_ms]\n  may_fail: [max_staleness_ms]\n"
                ),
                "DIR/s.yaml:13:14: expect.may_fail.0: `max_staleness_ms` is listed twice",
            ),
            (
                format!(
                    "{base}expect:\n  fail: [max_staleness_ms]\n  may_fail: [max_p99_after_ms]\n"
                ),
                "DIR/s.yaml:13:14: expect.may_fail.0: `max_p99_after_ms` is not an SLO of this scenario",
            ),
            (
                format!("{base}expect:\n  fail: []\n"),
                "DIR/s.yaml:12:3: expect.fail: name the SLOs this drill is written to break",
            ),
            (
                format!("{base}expect:\n  fails: [max_staleness_ms]\n"),
                "DIR/s.yaml:12:3: expect.fails: unknown field `fails`; expected one of `fail`, `may_fail`, `why`",
            ),
        ] {
            let err = load_beside(TWO, &yaml).unwrap_err();
            assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
        }
    }

    #[test]
    fn client_regions_load_and_their_errors_name_the_place() {
        const TWO: &str = "name: c\nkind: cluster\nregions: [{name: eu}, {name: us}]\ncluster:\n  shards: 3\n  replicas: 1\n";
        let base = "name: s\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: s1n1}\n";
        let s = load_beside(TWO, &format!("{base}workload:\n  regions: [us, eu]\n")).unwrap();
        assert_eq!(s.workload.regions, ["us", "eu"]);
        let local = format!(
            "{base}workload:\n  regions: [eu, us]\n  replica_reads: local\n  wait: {{replicas: 1, timeout_ms: 100, every: 2}}\n"
        );
        let s = load_beside(TWO, &local).unwrap();
        assert_eq!(s.workload.replica_reads, ReplicaReads::Local);
        assert_eq!(s.workload.wait.map(|w| w.every), Some(2));
        let by_region = format!(
            "{base}workload:\n  regions: [eu, us]\nslo_by_region:\n  us: {{max_app_write_downtime_ms: 9000, max_staleness_ms: 100}}\n"
        );
        let s = load_beside(TWO, &by_region).unwrap();
        assert_eq!(s.slo_by_region["us"]["max_staleness_ms"], 100.0);
        let cases = [
            (
                format!(
                    "{base}workload:\n  regions: [eu]\nslo_by_region:\n  us: {{max_app_downtime_ms: 1}}\n"
                ),
                "DIR/s.yaml:8:3: slo_by_region.us: no clients in `us`: an SLO by region reads the clients `workload.regions` puts there (eu)",
            ),
            (
                format!(
                    "{base}workload:\n  regions: [eu, us]\nslo_by_region:\n  us: {{max_convergence_ms: 1}}\n"
                ),
                "DIR/s.yaml:8:8: slo_by_region.us.max_convergence_ms: not an SLO a region's clients have apart",
            ),
            (
                format!(
                    "{base}workload:\n  regions: [eu, us]\nslo_by_region:\n  us: {{max_app_downtime_ms: -1}}\n"
                ),
                "DIR/s.yaml:8:8: slo_by_region.us.max_app_downtime_ms: an SLO limit is a number ≥ 0",
            ),
            (
                format!("{base}workload:\n  replica_reads: local\n"),
                "DIR/s.yaml:6:3: workload.replica_reads: `local` reads from a replica in the client's own region, and these clients are in none",
            ),
            (
                format!("{base}workload:\n  replica_reads: near\n"),
                "DIR/s.yaml:6:3: workload.replica_reads: invalid value: string \"near\", expected false, true",
            ),
            (
                format!("{base}workload:\n  wait: {{replicas: 1, timeout_ms: 100, every: 0}}\n"),
                "DIR/s.yaml:6:3: workload.wait: wait.every must be at least 1",
            ),
            (
                format!("{base}workload:\n  regions: [eu, mars]\n"),
                "DIR/s.yaml:6:17: workload.regions.1: no region `mars` in the topology (regions: eu, us)",
            ),
            (
                format!("{base}workload:\n  regions: [eu, eu]\n"),
                "DIR/s.yaml:6:17: workload.regions.1: `eu` is listed twice",
            ),
            (
                format!("{base}workload:\n  clients: 1\n  probe_clients: 0\n  regions: [eu, us]\n"),
                "DIR/s.yaml:8:3: workload.regions: 2 regions and 1 clients: every region needs a client",
            ),
            (
                format!("{base}workload:\n  threads: 0\n  regions: [eu]\n"),
                "DIR/s.yaml:6:3: workload.threads: clients in regions run on threads of their own",
            ),
        ];
        for (yaml, expected) in cases {
            let err = load_beside(TWO, &yaml).unwrap_err();
            assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
        }
    }

    #[test]
    fn a_locks_section_loads_and_its_errors_name_the_place() {
        let base = "name: l\ntopology: c.yaml\nfaults:\n  - {fault: pause, target: lock_holder:0, hold_ms: 500}\n";
        let s = load_beside(
            STANDALONE,
            &format!("{base}locks:\n  algorithm: redlock\n  ttl_ms: 800\nslo:\n  max_lock_violations: 0\n"),
        )
        .unwrap();
        let l = s.locks.unwrap();
        assert_eq!((l.algorithm, l.ttl_ms), (Algorithm::Redlock, 800));
        let single = format!("{base}locks: {{algorithm: single}}\n");
        assert!(load_beside(REPLICATED, &single).unwrap().locks.is_some());
        const REGIONS: &str = "name: s\nkind: standalone\nregions: [{name: eu}, {name: us}]\nstandalone: {primaries: 2}\n";
        let placed = format!("{base}locks:\n  algorithm: redlock\n  regions: [us, eu]\n");
        let l = load_beside(REGIONS, &placed).unwrap().locks.unwrap();
        assert_eq!(l.regions, ["us", "eu"]);
        for (yaml, expected) in [
            (
                format!("{base}locks:\n  regions: [eu, mars]\n"),
                "DIR/s.yaml:6:17: locks.regions.1: no region `mars` in the topology (regions: eu, us)",
            ),
            (
                format!("{base}locks:\n  regions: [eu, eu]\n"),
                "DIR/s.yaml:6:17: locks.regions.1: `eu` is listed twice",
            ),
            (
                format!("{base}locks:\n  workers: 1\n  regions: [eu, us]\n"),
                "DIR/s.yaml:7:3: locks.regions: 2 regions and 1 workers: every region needs a worker",
            ),
        ] {
            let err = load_beside(REGIONS, &yaml).unwrap_err();
            assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
        }
        let cases = [
            (
                STANDALONE,
                format!("{base}locks:\n  workers: 0\n"),
                "DIR/s.yaml:6:3: locks.workers: must be between 1 and 256, not 0",
            ),
            (
                STANDALONE,
                format!("{base}locks:\n  tll_ms: 5\n"),
                "DIR/s.yaml:6:3: locks.tll_ms: unknown field `tll_ms`",
            ),
            (
                REPLICATED,
                format!("{base}locks:\n  algorithm: redlock\n"),
                "DIR/s.yaml:6:3: locks.algorithm: Redlock takes independent primaries",
            ),
            (
                "name: c\nkind: cluster\ncluster:\n  shards: 3\n",
                single.clone(),
                "DIR/s.yaml:5:1: locks: a lock workload runs on a standalone topology",
            ),
            (
                STANDALONE,
                base.to_string(),
                "DIR/s.yaml:4:20: faults.0.target: names a lock holder, and this scenario has no `locks:`",
            ),
            (
                STANDALONE,
                "name: k\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: n1}\nslo:\n  min_grants_per_s: 5\n".to_string(),
                "DIR/s.yaml:6:3: slo.min_grants_per_s: min_grants_per_s reads the lock workload, and this scenario has no `locks:`",
            ),
            (
                STANDALONE,
                format!("{base}locks: {{locks: 1}}\n").replace("lock_holder:0", "lock_holder:3"),
                "DIR/s.yaml:4:20: faults.0.target: lock_holder:3: the lock workload has 1 lock(s)",
            ),
            (
                STANDALONE,
                format!("{base}locks: {{resources: [unfenced]}}\nslo:\n  max_stale_writes_accepted: 0\n"),
                "DIR/s.yaml:7:3: slo.max_stale_writes_accepted: reads the fenced resource",
            ),
        ];
        for (topology, yaml, expected) in cases {
            let err = load_beside(topology, &yaml).unwrap_err();
            assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
        }
    }

    #[test]
    fn a_lock_drill_may_run_its_locks_alone() {
        let drill = |workload: &str, slo: &str| {
            load_beside(
                STANDALONE,
                &format!(
                    "name: l\ntopology: c.yaml\n{workload}locks:\n  algorithm: single\n\
                     faults:\n  - {{fault: pause, target: lock_holder:0, hold_ms: 100}}\n\
                     slo:\n  max_lock_violations: 0\n{slo}"
                ),
            )
        };
        // No `workload:`, or one that issues nothing: the locks alone.
        for w in [
            "",
            "workload:\n  model: {open: {rate: 0}}\n",
            "workload:\n  clients: 0\n  probe_clients: 0\n",
        ] {
            let s = drill(w, "").unwrap_or_else(|e| panic!("{w:?}: {e}"));
            assert!(!s.kv, "{w:?}");
        }
        assert!(drill("workload:\n  clients: 2\n", "").unwrap().kv);
        // Nothing measures a KV figure then: the SLO's line says so.
        let err = drill("", "  max_app_failed_ops: 0\n").unwrap_err();
        assert!(
            err.contains("slo.max_app_failed_ops: this drill runs no key/value workload"),
            "{err}"
        );
        // Without locks, a workload that issues nothing is still refused.
        let err = load_beside(
            STANDALONE,
            "name: l\ntopology: c.yaml\nworkload:\n  model: {open: {rate: 0}}\n\
             faults:\n  - {fault: kill, target: n1, hold_ms: 100}\n",
        )
        .unwrap_err();
        assert!(err.contains("rate must be a positive number"), "{err}");
    }

    #[test]
    fn a_move_resolves() {
        let a =
            load("name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\n  add_primary: true\n")
                .unwrap();
        assert_eq!(a.reshard.unwrap().action, ReshardAction::AddPrimary);
        let s = load("name: r\ntopology: c.yaml\nreshard:\n  from: s1n1\n  to: s2n1\n  slots: 100\nslo:\n  max_lost_keys: 0\n").unwrap();
        assert_eq!(
            s.reshard.as_ref().unwrap().action,
            ReshardAction::Move {
                from: "s1n1".into(),
                to: "s2n1".into(),
                slots: 100
            }
        );
        assert_eq!(s.slo, BTreeMap::from([("max_lost_keys".to_string(), 0.0)]));
        assert_eq!((s.baseline_ms, s.settle_ms), (2000, 2000));
        assert_eq!(s.topology.name, "c");
    }

    #[test]
    fn a_steady_drill_needs_only_its_duration() {
        let s = load("name: r\ntopology: c.yaml\nduring_ms: 5000\n").unwrap();
        assert_eq!(s.during_ms, 5000);
        assert!(s.reshard.is_none() && s.faults.is_empty());
        let s = load("name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\n").unwrap();
        assert_eq!(s.during_ms, 0);
    }

    /// What the run could only end `unknown` or fail to do is refused when
    /// the scenario is loaded, at its line: no SLO at all, an SLO whose
    /// figure nothing in the drill makes, a move of more slots than the
    /// source holds, a fault waiting for more slots than the move moves.
    #[test]
    fn what_a_run_cannot_measure_or_do_is_refused_before_it_starts() {
        let move_of = |slots: usize, rest: &str| {
            format!(
                "name: r\ntopology: c.yaml\nreshard:\n  from: s1n1\n  to: s2n1\n  slots: {slots}\n{rest}"
            )
        };
        let direct = |yaml: &str| -> String {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(
                dir.path().join("c.yaml"),
                "name: c\nkind: cluster\ncluster:\n  shards: 3\n  replicas: 1\n",
            )
            .unwrap();
            std::fs::write(dir.path().join("s.yaml"), yaml).unwrap();
            Scenario::load(&dir.path().join("s.yaml"))
                .unwrap_err()
                .to_string()
                .replace(&dir.path().display().to_string(), "DIR")
        };
        assert_eq!(
            direct(&move_of(5, "")),
            "DIR/s.yaml:1:1: a scenario needs at least one SLO (`slo:`): without one its run would pass on nothing (the SLOs are listed in docs/scenarios.md)"
        );
        let cases = [
            (
                move_of(99999, "slo:\n  max_lost_keys: 0\n"),
                "DIR/s.yaml:6:3: reshard.slots: s1n1 holds 5461 slots when c is brought up; it cannot give 99999",
            ),
            (
                move_of(
                    100,
                    "faults:\n  - {fault: kill, target: s2n1, after_slots: 500}\nslo:\n  max_lost_keys: 0\n",
                ),
                "DIR/s.yaml:8:33: faults.0.after_slots: waits for 500 slots moved, and the reshard moves 100: the fault would never hit mid-move",
            ),
            (
                move_of(100, "slo:\n  max_failover_ms: 5000\n"),
                "DIR/s.yaml:8:3: slo.max_failover_ms: this drill cannot measure it: no fault takes a node away or fails one over",
            ),
            (
                move_of(100, "slo:\n  max_rejoin_ms: 5000\n"),
                "DIR/s.yaml:8:3: slo.max_rejoin_ms: this drill cannot measure it: no node is started again",
            ),
            (
                move_of(100, "slo:\n  max_lost_increments: 0\n"),
                "DIR/s.yaml:8:3: slo.max_lost_increments: this drill cannot measure it: the workload's `mix` sends no `incr`",
            ),
            (
                move_of(100, "slo:\n  max_replication_lag_p99_ms: 1\n"),
                "DIR/s.yaml:8:3: slo.max_replication_lag_p99_ms: this drill cannot measure it: the scenario runs no `replication_probe`",
            ),
            (
                "name: r\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: s1n1}\nslo:\n  max_reshard_ms: 1\n".to_string(),
                "DIR/s.yaml:6:3: slo.max_reshard_ms: this drill cannot measure it: the scenario has no `reshard`",
            ),
        ];
        for (yaml, want) in cases {
            let got = load(&yaml).unwrap_err();
            assert!(got.starts_with(want), "{got}\nwanted: {want}");
        }
        // A replica target where there is no replica to resolve to.
        let got = load_beside(
            "name: c\nkind: standalone\nstandalone: {primaries: 2}\n",
            "name: r\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: 'replica_of:primary_of:0'}\nslo:\n  max_keys_missing: 0\n",
        )
        .unwrap_err();
        assert_eq!(
            got,
            "DIR/s.yaml:4:19: faults.0.target: `replica_of:primary_of:0` names a replica, and c has none"
        );
    }

    #[test]
    fn errors_name_the_place() {
        let cases = [
            (
                "name: r\ntopology: c.yaml\nreshard:\n  from: s1n2\n  to: s2n1\n  slots: 1\n",
                "DIR/s.yaml:4:3: reshard.from: `s1n2` is not a primary of c (primaries: s1n1, s2n1, s3n1)",
            ),
            (
                "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\n  drain: s1n1\n",
                "DIR/s.yaml:3:1: reshard: give exactly one of",
            ),
            (
                "name: r\ntopology: nope.yaml\nreshard:\n  rebalance: true\n",
                "DIR/s.yaml:2:1: topology: no topology file at DIR/nope.yaml",
            ),
            (
                "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\nslo:\n  max_lost_write: 0\n",
                "DIR/s.yaml:6:3: slo.max_lost_write: unknown SLO `max_lost_write`; the SLOs are max_lost_keys,",
            ),
            (
                "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\nslo:\n  max_lost_writes: 0\n",
                "DIR/s.yaml:6:3: slo.max_lost_writes: `max_lost_writes` is now called `max_lost_keys`",
            ),
            (
                "name: r\ntopology: c.yaml\nreshard:\n  from: s1n1\n  to: s1n1\n  slots: 5\n",
                "DIR/s.yaml:5:3: reshard.to: `from` and `to` are the same node",
            ),
            (
                "name: r\ntopology: c.yaml\n",
                "DIR/s.yaml:1:1: a scenario needs something to do",
            ),
            (
                "name: r\ntopology: c.yaml\nfaults:\n  - fault: kill\n    target: primary_of:0\n  - fault: pause\n    target: region:moon\n    hold_ms: 5\n",
                "DIR/s.yaml:7:5: faults.1.target: no region named `moon` in c (regions: default)",
            ),
            (
                "name: r\ntopology: c.yaml\nfaults:\n  - fault: kill\n    target: s1n1\n    after_slots: 5\n",
                "DIR/s.yaml:6:5: faults.0.after_slots: waits for the reshard's progress",
            ),
            (
                "name: r\ntopology: c.yaml\nfaults:\n  - fault: partition\n    target: s1n1\n    hold_ms: 5\n",
                "DIR/s.yaml:4:5: faults.0.shape: a partition needs a shape",
            ),
            (
                "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\nworkload:\n  mix: {get: 1, txn: 1}\n  groups: 0\n",
                "DIR/s.yaml:7:3: workload.groups: mix has txn or txn_read but groups is 0",
            ),
            (
                "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\nworkload:\n  mix: {set_ttl: 1}\n  ttl_ms: 0\n",
                "DIR/s.yaml:7:3: workload.ttl_ms: mix has set_ttl but ttl_ms is 0",
            ),
            (
                "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\nworkload:\n  mix: {txn: 1}\n  groups: 4\n  group_size: 1\n",
                "DIR/s.yaml:8:3: workload.group_size: group_size must be between 2 and 26",
            ),
            (
                "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\nworkload:\n  mix:\n    get: 1\n    txn_reads: 1\n",
                "DIR/s.yaml:8:5: workload.mix.txn_reads: unknown field `txn_reads`",
            ),
        ];
        for (yaml, expected) in cases {
            let err = load(yaml).unwrap_err();
            assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
        }
    }
}
