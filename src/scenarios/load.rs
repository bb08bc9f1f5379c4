//! Loading a scenario file: the YAML read strictly, the topology it names
//! loaded, and every field held against the topology and the other fields
//! before anything starts. Each check is a function of its own, run in the
//! order the file reads, and each refusal names the field at its line.

use std::collections::BTreeMap;
use std::path::Path;

use super::ExpectSpec;
use super::check::slo;
use super::spec::{RawReshard, RawScenario, RawSlot, ReshardAction, ReshardStep, Scenario};
use crate::faults::FaultStep;
use crate::faults::schedule::RawFault;
use crate::record::replication::ReplProbeSpec;
use crate::record::stampede::StampedeSpec;
use crate::topology::{Doc as Document, Kind, Topology, TopologyError, parse_document};
use crate::workload::locks::{Algorithm, LockSpec, ResourceKind};
use crate::workload::{ReplicaReads, WorkloadSpec};

impl Scenario {
    /// Read and validate the scenario at `path` and the topology it names.
    /// Every refusal names the field at its line and column, and comes
    /// before anything starts; the checks run in the order the file reads.
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
        let topology = topology_of(path, &raw, &doc)?;
        if raw.reshard.is_none() && raw.faults.is_empty() && raw.during_ms == 0 {
            return Err(doc.invalid_field(
                &[],
                "a scenario needs something to do: `reshard`, `faults`, or a steady `during_ms` (any of them together)",
            ));
        }
        let reshard = match &raw.reshard {
            None => None,
            Some(r) => Some(reshard_step(r, &doc, &topology, raw.workload.as_ref())?),
        };
        let faults = faults_of(raw.faults, raw.reshard.is_some(), &topology, &doc)?;
        // A lock drill may run its locks alone: no `workload:`, or one that
        // would issue nothing.
        let alone = raw.locks.is_some() || raw.stampede.is_some() || raw.invalidation.is_some();
        let (workload, kv) = match (raw.workload, alone) {
            (None, true) => (WorkloadSpec::default(), false),
            (Some(w), true) if w.issues_nothing() => (w, false),
            (w, _) => (w.unwrap_or_default(), true),
        };
        if kv {
            check_workload(&workload, &topology, &doc)?;
        }
        check_slos(&raw.slo, kv, topology.kind, &doc)?;
        if raw.slo.contains_key("max_sentinel_failover_ms") && topology.sentinel.is_none() {
            return Err(doc.invalid_field(
                &["slo", "max_sentinel_failover_ms"],
                format!(
                    "{} has no Sentinels to fail its primary over (`sentinel:` in its topology)",
                    topology.name
                ),
            ));
        }
        let readers = raw.stampede.as_ref().map_or(&[][..], |s| &s.regions[..]);
        let clients: &[String] = if kv { &workload.regions } else { &[] };
        check_slos_by_region(&raw.slo_by_region, clients, readers, &doc)?;
        check_locks(raw.locks.as_ref(), &topology, &faults, &raw.slo)
            .map_err(|(path, msg)| at(&doc, &path, msg))?;
        check_beside(
            raw.replication_probe.as_ref(),
            raw.stampede.as_ref(),
            &topology,
            &doc,
        )?;
        if let Some(inv) = &raw.invalidation
            && let Err((field, msg)) = inv.check()
        {
            let path: Vec<&str> = std::iter::once("invalidation")
                .chain(field.split('.'))
                .collect();
            return Err(doc.invalid_field(&path, msg));
        }
        if let Some(inv) = &raw.invalidation {
            check_region_list(
                "invalidation",
                &inv.regions,
                inv.readers,
                "reader",
                &topology,
            )
            .map_err(|(path, msg)| at(&doc, &path, msg))?;
            if inv.replica_reads && topology.kind != Kind::Cluster {
                return Err(doc.invalid_field(
                    &["invalidation", "replica_reads"],
                    format!(
                        "a reader finds the replica of its key's shard in its region from the cluster's map: {} is {}",
                        topology.name,
                        kind_name(topology.kind)
                    ),
                ));
            }
        }
        if let Some(inv) = &raw.invalidation
            && inv.client_cache
            && topology.kind != Kind::Cluster
        {
            return Err(doc.invalid_field(
                &["invalidation", "client_cache"],
                format!(
                    "the readers' client-side cache follows a cluster's slots (redis-rs's cluster connection): {} is {}",
                    topology.name,
                    kind_name(topology.kind)
                ),
            ));
        }
        if let Some(e) = &raw.expect
            && let Err((path, why)) = check_expect(e, &raw.slo, &raw.slo_by_region)
        {
            return Err(at(&doc, &path, why));
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
            invalidation: raw.invalidation,
            baseline_ms: raw.baseline_ms,
            settle_ms: raw.settle_ms,
            recovery_timeout_ms: raw.recovery_timeout_ms,
            during_ms: raw.during_ms,
            reshard,
            faults,
            slo: raw.slo,
            slo_by_region: raw.slo_by_region,
            expect: raw.expect,
            source: path.to_path_buf(),
            read_only: false,
        };
        check_measurable(&scenario, &doc)?;
        check_reshard_reach(&scenario, &doc)?;
        Ok(scenario)
    }
}

/// An error at the field `path` (owned segments, as the list checks give them).
fn at(doc: &Document, path: &[String], why: impl Into<String>) -> TopologyError {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    doc.invalid_field(&path, why)
}

/// The topology the scenario names, relative to the scenario file; a
/// reshard only on a cluster.
fn topology_of(path: &Path, raw: &RawScenario, doc: &Document) -> Result<Topology, TopologyError> {
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
    Ok(topology)
}

/// Each fault validated, its targets in the topology, a failover only where
/// there are replicas, a slow link only between declared regions, and
/// `after_slots` only beside a reshard.
fn faults_of(
    raw: Vec<RawFault>,
    resharding: bool,
    topology: &Topology,
    doc: &Document,
) -> Result<Vec<FaultStep>, TopologyError> {
    let mut faults = Vec::new();
    for (i, f) in raw.into_iter().enumerate() {
        let index = i.to_string();
        let here = |field: &str, msg: String| doc.invalid_field(&["faults", &index, field], msg);
        let step = f.validate().map_err(|(field, msg)| here(field, msg))?;
        check_targets(&step, topology).map_err(|(field, msg)| here(field, msg))?;
        if step.fault == crate::faults::FaultKind::Failover && topology.kind == Kind::Standalone {
            return Err(here(
                "fault",
                "standalone primaries have no replica to fail over to".into(),
            ));
        }
        if step.shape == Some(crate::net::Shape::Sentinels) && topology.sentinel.is_none() {
            return Err(here(
                "shape",
                format!(
                    "a `sentinels` partition cuts the Sentinels apart, and {} has none (`sentinel:` in its topology)",
                    topology.name
                ),
            ));
        }
        if step.fault == crate::faults::FaultKind::Replace && topology.kind != Kind::Cluster {
            return Err(here(
                "fault",
                "a replace joins a new node to a cluster: this topology is not one".into(),
            ));
        }
        if let Some(change) = &step.link {
            check_link_change(change.between.as_ref(), topology)
                .map_err(|(field, msg)| here(field, msg))?;
        }
        if step.after_slots.is_some() && !resharding {
            return Err(here(
                "after_slots",
                "waits for the reshard's progress, and this scenario has no `reshard`".into(),
            ));
        }
        faults.push(step);
    }
    Ok(faults)
}

/// A slow fault changes a declared link between regions.
fn check_link_change(
    between: Option<&[String; 2]>,
    topology: &Topology,
) -> Result<(), (&'static str, String)> {
    if topology.links.is_empty() {
        return Err((
            "fault",
            "a slow fault changes a link between regions, and this topology declares no `links`"
                .into(),
        ));
    }
    if let Some([a, b]) = between
        && !topology.links.iter().any(|l| l.joins(a, b))
    {
        let links: Vec<String> = topology.links.iter().map(|l| l.label()).collect();
        return Err((
            "between",
            format!(
                "the topology declares no link between {a} and {b} (links: {})",
                links.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The key/value workload: clients to run, replica reads where they mean
/// something, clients' regions in the topology.
fn check_workload(
    workload: &WorkloadSpec,
    topology: &Topology,
    doc: &Document,
) -> Result<(), TopologyError> {
    let kind = topology.kind;
    if workload.clients.all() == 0 {
        return Err(doc.invalid_field(
            &["workload", "clients"],
            "a drill needs at least one app client (a lock or stampede drill may leave `workload:` out)",
        ));
    }
    if let Some(why) = workload
        .clients
        .topology_problem(kind, topology.sentinel.is_some())
    {
        return Err(doc.invalid_field(&["workload", "clients"], why));
    }
    if workload.replica_reads.from_replicas() && kind != Kind::Cluster {
        return Err(doc.invalid_field(
            &["workload", "replica_reads"],
            format!(
                "replica reads are for clusters (redis-rs's read_from_replicas); this topology is {}",
                kind_name(kind)
            ),
        ));
    }
    if workload.replica_reads == ReplicaReads::Local && workload.regions.is_empty() {
        return Err(doc.invalid_field(
            &["workload", "replica_reads"],
            "`local` reads from a replica in the client's own region, and these clients are in none: give them `workload.regions`",
        ));
    }
    if !workload.regions.is_empty() {
        let clients = workload.total_clients();
        check_region_list("workload", &workload.regions, clients, "client", topology)
            .map_err(|(path, why)| at(doc, &path, why))?;
        if workload.threads == 0 {
            return Err(doc.invalid_field(
                &["workload", "threads"],
                "clients in regions run on threads of their own (each region's): threads must be 1 or more",
            ));
        }
    }
    if let Some((field, why)) = workload.problem() {
        let path: Vec<&str> = std::iter::once("workload").chain(field).collect();
        return Err(doc.invalid_field(&path, why));
    }
    Ok(())
}

/// Every SLO known, measurable by this drill's workload, defined for this
/// kind of topology, and a number ≥ 0.
fn check_slos(
    slos: &BTreeMap<String, f64>,
    kv: bool,
    kind: Kind,
    doc: &Document,
) -> Result<(), TopologyError> {
    if !kv
        && let Some(s) = slos
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
    if let Some(name) = slos.keys().find(|n| slo::find(n).is_none()) {
        let why = match slo::renamed(name) {
            Some(new) => format!("`{name}` is now called `{new}`"),
            None => {
                let known: Vec<&str> = slo::SLOS.iter().map(|s| s.name).collect();
                format!("unknown SLO `{name}`; the SLOs are {}", known.join(", "))
            }
        };
        return Err(doc.invalid_field(&["slo", name], why));
    }
    if let Some(s) = slos
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
    if let Some((name, _)) = slos.iter().find(|(_, v)| !v.is_finite() || **v < 0.0) {
        return Err(doc.invalid_field(&["slo", name], "an SLO limit is a number ≥ 0"));
    }
    Ok(())
}

/// `a, b` or `none`.
fn listed(l: &[String]) -> String {
    if l.is_empty() {
        "none".to_string()
    } else {
        l.join(", ")
    }
}

/// `slo_by_region`: each region holds clients (`workload.regions`, when the
/// key/value workload runs) or stampede readers (`stampede.regions`), and
/// each SLO is one those clients or readers have apart.
fn check_slos_by_region(
    by_region: &BTreeMap<String, BTreeMap<String, f64>>,
    client_regions: &[String],
    reader_regions: &[String],
    doc: &Document,
) -> Result<(), TopologyError> {
    for (region, limits) in by_region {
        let clients_here = client_regions.contains(region);
        let readers_here = reader_regions.contains(region);
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
                &["slo_by_region", region],
                format!(
                    "no clients in `{region}`: an SLO by region reads the clients `workload.regions` puts there ({}){readers}",
                    listed(client_regions)
                ),
            ));
        }
        for (name, limit) in limits {
            region_slo_problem(region, name, *limit, clients_here, readers_here)
                .map_or(Ok(()), |why| {
                    Err(doc.invalid_field(&["slo_by_region", region, name], why))
                })?;
        }
    }
    Ok(())
}

/// Why the SLO `name` cannot be set over `region`'s clients or readers.
fn region_slo_problem(
    region: &str,
    name: &str,
    limit: f64,
    clients_here: bool,
    readers_here: bool,
) -> Option<String> {
    let (kv_slo, reader_slo) = (
        slo::BY_REGION.contains(&name),
        slo::BY_READER_REGION.contains(&name),
    );
    if !kv_slo && !reader_slo {
        return Some(format!(
            "not an SLO a region's clients have apart; these are: {}; and for stampede readers: {}",
            slo::BY_REGION.join(", "),
            slo::BY_READER_REGION.join(", ")
        ));
    }
    if kv_slo && !clients_here {
        return Some(format!(
            "reads the key/value clients in `{region}`, and `workload.regions` puts none there"
        ));
    }
    if reader_slo && !readers_here {
        return Some(format!(
            "reads the stampede readers in `{region}`, and `stampede.regions` puts none there"
        ));
    }
    if !limit.is_finite() || limit < 0.0 {
        return Some("an SLO limit is a number ≥ 0".into());
    }
    None
}

/// The workloads that run beside the key/value one: the replication probe
/// (which reads replicas) and the stampede readers (in declared regions).
fn check_beside(
    probe: Option<&ReplProbeSpec>,
    stampede: Option<&StampedeSpec>,
    topology: &Topology,
    doc: &Document,
) -> Result<(), TopologyError> {
    if let Some(probe) = probe {
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
    if let Some(st) = stampede {
        if let Err((field, msg)) = st.check() {
            return Err(doc.invalid_field(&["stampede", field], msg));
        }
        check_region_list("stampede", &st.regions, st.readers, "reader", topology)
            .map_err(|(path, why)| at(doc, &path, why))?;
    }
    Ok(())
}

/// At least one SLO, and each one this drill can measure: a drill without
/// an SLO would pass on nothing, and one it cannot measure would end
/// `unknown` at every run, after the whole drill.
fn check_measurable(scenario: &Scenario, doc: &Document) -> Result<(), TopologyError> {
    if scenario.slo.is_empty() && scenario.slo_by_region.is_empty() {
        return Err(doc.invalid_field(
            &[],
            "a scenario needs at least one SLO (`slo:`): without one its run would pass on nothing (the SLOs are listed in docs/scenarios.md)",
        ));
    }
    for name in scenario.slo.keys() {
        if let Some(why) = slo::unmeasurable(name, scenario) {
            return Err(doc.invalid_field(
                &["slo", name],
                format!("this drill cannot measure it: {why}"),
            ));
        }
    }
    Ok(())
}

/// A move takes no more slots than its source holds, and a fault waiting
/// for `after_slots` waits for no more than the move moves.
fn check_reshard_reach(scenario: &Scenario, doc: &Document) -> Result<(), TopologyError> {
    let Some(ReshardStep {
        action: ReshardAction::Move { from, slots, .. },
        ..
    }) = &scenario.reshard
    else {
        return Ok(());
    };
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
    Ok(())
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
    if slo.contains_key("max_lost_updates") && !spec.counter {
        return at(
            &["slo", "max_lost_updates"],
            "reads the lock workload's counters, and `locks.counter` is not set".into(),
        );
    }
    if slo.contains_key("min_atomic_speedup") && spec.atomic_workers == 0 {
        return at(
            &["slo", "min_atomic_speedup"],
            "compares the atomic path with the locked one, and `locks.atomic_workers` is 0".into(),
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
    doc: &Document,
    topology: &Topology,
    workload: Option<&WorkloadSpec>,
) -> Result<ReshardStep, TopologyError> {
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
    if r.add_primary && !r.rebalance {
        return Err(doc.invalid_field(
            &["reshard", "add_primary"],
            "goes with `rebalance: true` (the new primary starts empty)",
        ));
    }
    if let Some(slot) = &r.slot {
        return reshard_settings(
            r,
            doc,
            topology,
            move_slot(r, slot, doc, workload, &primary)?,
        );
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
                "give exactly one of: `from`, `to` and `slots` together; `slot` (a number or `hot`) and `to`; `rebalance: true` (with `add_primary: true` to add an empty primary first); `drain: NODE`",
            ));
        }
    };
    reshard_settings(r, doc, topology, action)
}

/// `reshard: {slot: N | hot, to: NODE}`: one slot, from whoever holds it.
fn move_slot(
    r: &RawReshard,
    slot: &RawSlot,
    doc: &Document,
    workload: Option<&WorkloadSpec>,
    primary: &dyn Fn(&str, &str) -> Result<String, TopologyError>,
) -> Result<ReshardAction, TopologyError> {
    if r.from.is_some() || r.slots.is_some() || r.rebalance || r.drain.is_some() {
        return Err(doc.invalid_field(
            &["reshard", "slot"],
            "moves one slot from whichever primary holds it: give it with `to` alone (no `from`, `slots`, `rebalance` or `drain`)",
        ));
    }
    let Some(to) = &r.to else {
        return Err(doc.invalid_field(
            &["reshard", "slot"],
            "needs `to`: the primary to move it to",
        ));
    };
    let slot = match slot {
        RawSlot::Number(n) if *n < crate::slots::SLOT_COUNT => *n,
        RawSlot::Number(n) => {
            return Err(doc.invalid_field(
                &["reshard", "slot"],
                format!("{n} is not a slot (0 to {})", crate::slots::SLOT_COUNT - 1),
            ));
        }
        RawSlot::Name(name) if name == "hot" => match workload.filter(|w| w.hot_slot > 0.0) {
            Some(w) => crate::slots::key_slot(w.key(0).as_bytes()),
            None => {
                return Err(doc.invalid_field(
                    &["reshard", "slot"],
                    "`hot` is the slot of the workload's `hot_slot` keys, and the workload sets no `hot_slot`",
                ));
            }
        },
        RawSlot::Name(other) => {
            return Err(doc.invalid_field(
                &["reshard", "slot"],
                format!("`{other}`: give a slot number or `hot`"),
            ));
        }
    };
    Ok(ReshardAction::MoveSlot {
        slot,
        to: primary("to", to)?,
    })
}

/// The engine's settings of a `reshard:` section, checked, with its action.
fn reshard_settings(
    r: &RawReshard,
    doc: &Document,
    topology: &Topology,
    action: ReshardAction,
) -> Result<ReshardStep, TopologyError> {
    for (field, v) in [
        ("batch_keys", r.batch_keys),
        ("parallel_slots", r.parallel_slots),
    ] {
        if v == Some(0) {
            return Err(doc.invalid_field(&["reshard", field], "must be at least 1"));
        }
    }

    check_method(r, doc, topology)?;
    if let Some(ms) = r.max_impact_ms {
        if !(ms.is_finite() && ms > 0.0) {
            return Err(doc.invalid_field(
                &["reshard", "max_impact_ms"],
                "must be a positive number of ms",
            ));
        }
        if r.method != crate::cluster::reshard::Method::Keys {
            return Err(doc.invalid_field(
                &["reshard", "max_impact_ms"],
                "steers key-by-key moves (`method: keys`): an atomic migration is the server's",
            ));
        }
    }
    if let Some(n) = r.atomic_job_keys {
        if n == 0 {
            return Err(doc.invalid_field(&["reshard", "atomic_job_keys"], "must be at least 1"));
        }
        if r.method == crate::cluster::reshard::Method::Keys {
            return Err(doc.invalid_field(
                &["reshard", "atomic_job_keys"],
                "splits atomic migrations: give `method: atomic` or `method: auto`",
            ));
        }
    }
    Ok(ReshardStep {
        action,
        batch_keys: r.batch_keys,
        parallel_slots: r.parallel_slots,
        method: r.method,
        max_impact_ms: r.max_impact_ms,
        atomic_job_keys: r.atomic_job_keys,
    })
}

/// `method: atomic` on a topology whose servers are known to lack atomic
/// slot migration is refused here, at its line; a server the tool cannot
/// know (the host's `redis-server`, a path) is asked when the slots move.
fn check_method(r: &RawReshard, doc: &Document, topology: &Topology) -> Result<(), TopologyError> {
    if r.method != crate::cluster::reshard::Method::Atomic {
        return Ok(());
    }
    let lacking: Vec<String> = topology
        .primaries()
        .filter(|n| n.server.atomic_migration() == Some(false))
        .map(|n| format!("{} ({})", n.name, n.server))
        .collect();
    if lacking.is_empty() {
        return Ok(());
    }
    Err(doc.invalid_field(
        &["reshard", "method"],
        format!(
            "atomic slot migration needs Valkey 9.0 or later; {} {} not (use `method: keys`, or `auto` to use it where the servers have it)",
            lacking.join(", "),
            if lacking.len() == 1 { "is" } else { "are" }
        ),
    ))
}

/// Targets that name a node or a region must name one the topology has;
/// role-based targets are resolved when the fault is applied.
fn check_targets(step: &FaultStep, topology: &Topology) -> Result<(), (&'static str, String)> {
    use crate::faults::{FaultKind, Target};
    // A Sentinel named as a target: the faults a process or a machine can
    // suffer, and partitions around it.
    let sentinel = |t: &Option<Target>| match t {
        Some(Target::Node(n)) => (topology.sentinel.iter())
            .flat_map(|s| &s.members)
            .any(|m| &m.name == n)
            .then(|| n.clone()),
        _ => None,
    };
    for (field, t) in [("target", &step.target), ("peer", &step.peer)] {
        if let Some(name) = sentinel(t) {
            let fits = match step.fault {
                FaultKind::Kill
                | FaultKind::Stop
                | FaultKind::Start
                | FaultKind::Restart
                | FaultKind::Pause
                | FaultKind::Resume => true,
                FaultKind::Partition => step.shape != Some(crate::net::Shape::Clients),
                _ => false,
            };
            if !fits {
                return Err((
                    field,
                    format!(
                        "`{name}` is a Sentinel: only kill, stop, start, restart, pause, resume and partitions around it take one, not {}{}",
                        step.fault,
                        if step.fault == FaultKind::Partition {
                            " of shape clients"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
    }
    let sentinel_named = |t: &Target| sentinel(&Some(t.clone())).is_some();
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
        if let Some(t) = t
            && !sentinel_named(t)
        {
            walk(t, topology).map_err(|m| (field, m))?;
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
