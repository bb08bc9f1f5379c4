//! The run as its folder stores it: everything a finished run gathered
//! ([`Run`]) turned into the [`Stored`] record the checks read.

use crate::checker;
use crate::record::Stored;
use crate::record::run::{RECORD_VERSION, Record};
use crate::record::status::slot_ranges;
use crate::record::timeline::Clock;
use crate::report::{Environment, ReshardSummary};
use crate::runtime::Deployment;

use super::act::Acted;
use super::end::EndState;
use super::recorders::Recordings;
use super::setup::Setup;
use crate::scenarios::Scenario;
use crate::scenarios::events::Timeline;
use crate::scenarios::resume::Resharded;

/// Everything a finished run gathered, to be stored in its folder.
pub(in crate::scenarios) struct Run<'a> {
    pub(in crate::scenarios) scenario: &'a Scenario,
    pub(in crate::scenarios) d: Deployment,
    pub(in crate::scenarios) seed: u64,
    pub(in crate::scenarios) started_at: std::time::SystemTime,
    pub(in crate::scenarios) clock: Clock,
    pub(in crate::scenarios) setup: Setup,
    pub(in crate::scenarios) timeline: Timeline,
    pub(in crate::scenarios) acted: Acted,
    pub(in crate::scenarios) convergence_ms: Option<f64>,
    pub(in crate::scenarios) recordings: Recordings,
    pub(in crate::scenarios) end: EndState,
}

impl Run<'_> {
    /// The run as its folder keeps it: what `check-run` reads again.
    pub(in crate::scenarios) fn store(self) -> Stored {
        let Run {
            scenario,
            d,
            seed,
            started_at,
            clock,
            setup,
            timeline,
            acted,
            convergence_ms,
            recordings,
            end,
        } = self;
        let spec = &scenario.workload;
        let owners = &setup.owners_before;
        Stored {
            record: Record {
                record_version: RECORD_VERSION,
                scenario: scenario.name.clone(),
                slo: scenario.slo.clone(),
                slo_by_region: scenario.slo_by_region.clone(),
                expect: scenario.expect.clone(),
                seed,
                started_at: humantime::format_rfc3339_seconds(started_at).to_string(),
                epoch_monotonic_ns: clock.epoch_monotonic_ns(),
                environment: Environment {
                    runtime: d.runtime.to_string(),
                    redis_version: end.redis_version,
                    servers: end.servers,
                    image: d.image.clone(),
                    host_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
                    client_path: setup.clients.path.clone(),
                    connections: crate::net::secure::current().facts(),
                    links_mechanism: if d.topology.links.is_empty() {
                        String::new()
                    } else {
                        crate::runtime::links::mechanism()
                    },
                    redis_drill_version: env!("CARGO_PKG_VERSION").to_string(),
                },
                // No KV workload, no clients of it (the lock workload's
                // workers are in `locks`).
                app_clients: if scenario.kv {
                    spec.clients.redis_rs
                } else {
                    0
                },
                probe_clients: if scenario.kv { spec.probe_clients } else { 0 },
                max_tool_lag_ms: spec.max_tool_lag_ms,
                reference_ping_ms: spec.reference_ping_ms,
                node_timeout_ms: scenario.topology.cluster.node_timeout_ms,
                worst_rank: worst_rank(&scenario.topology),
                topology: setup.topology,
                topology_after: end.topology_after,
                slot_owners: slot_ranges(|s| owners.owner(s).unwrap_or("unassigned").to_string()),
                phases: timeline.phases,
                events: timeline.events,
                faults: acted.windows,
                reshard: acted.reshard.as_ref().map(reshard_summary),
                convergence_ms,
                end_ns: clock.now_ns(),
                engine: recordings.recorded.stats,
                server: recordings.server.by_phase,
                steal_ms: recordings.server.steal_ms,
                cluster_check_ok: end.check_ok,
                cluster_check: end.check_lines,
                stray_keys: end.stray_keys,
                // Filled in by `execute` once the drill's keys are deleted.
                attached: None,
                eviction: checker::eviction::Eviction::widest(
                    scenario
                        .topology
                        .nodes
                        .iter()
                        // No maxmemory (or 0): no limit, nothing is evicted.
                        .filter(|n| n.config.get("maxmemory").is_some_and(|m| m.trim() != "0"))
                        .filter_map(|n| n.config.get("maxmemory-policy"))
                        .map(String::as_str),
                ),
                sentinel: d.topology.sentinel.clone(),
                // Measured before the drill, outside these stages; `execute` adds them.
                links: Vec::new(),
                client_regions: if scenario.kv {
                    spec.regions.clone()
                } else {
                    Vec::new()
                },
                client_paths: setup.client_paths.clone(),
            },
            history: recordings.recorded.history,
            pings: recordings.pings,
            watch: recordings.watch,
            keys: end.keys,
            locks: recordings.locks,
            keyspace: recordings.keyspace,
            replication: recordings.replication,
            stampede: recordings.stampede,
            invalidation: recordings.invalidation,
            sentinel: recordings.sentinel,
        }
    }
}

fn reshard_summary(r: &Resharded) -> ReshardSummary {
    let secs = r.duration.as_secs_f64().max(1e-9);
    ReshardSummary {
        from: r.from.clone(),
        to: r.to.clone(),
        slots_moved: r.slots_moved as u64,
        keys_moved: r.keys_moved,
        bytes_moved: r.bytes_moved,
        duration_ms: r.duration.as_secs_f64() * 1000.0,
        keys_per_s: r.keys_moved as f64 / secs,
        slots_per_s: r.slots_moved as f64 / secs,
        keys_overwritten: r.overwritten.len() as u64,
        overwritten: (r.overwritten.iter())
            .take(crate::report::MAX_OVERWRITTEN_LISTED)
            .cloned()
            .collect(),
        method: Some(r.method.as_str().to_string()),
        migrations: r.migrations.clone(),
    }
}

/// The highest election rank a replica can have: replicas per shard - 1.
fn worst_rank(t: &crate::topology::Topology) -> u32 {
    let most = (0..t.nodes.len())
        .map(|shard| {
            t.nodes
                .iter()
                .filter(|n| n.shard == shard && n.replica_of.is_some())
                .count()
        })
        .max()
        .unwrap_or(0);
    most.saturating_sub(1) as u32
}
