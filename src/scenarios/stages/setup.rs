//! Before anything is measured: where the clients sit and how they reach
//! the nodes ([`ClientSide`]), what the drill prepares ([`Setup`]: the
//! address map, the sharding, the data loaded, the lock target), and a
//! primary added when the drill rebalances onto one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::cluster::reshard::SlotOwners;
use crate::cluster::{self, AddressMap};
use crate::faults::{FaultError, FaultKind};
use crate::runtime::Deployment;
use crate::runtime::netns::NetNs;
use crate::status;
use crate::workload::locks::{Algorithm, LockSpec, LockTarget};
use crate::workload::replication::ProbeTarget;
use crate::workload::{self, Place, Sharding};

use crate::scenarios::Scenario;
use crate::scenarios::error::DrillError;
use crate::scenarios::events::{Bus, DrillEvent};

/// Where the workload's clients sit and how they reach the nodes.
pub(in crate::scenarios) struct ClientSide {
    pub(super) map: AddressMap,
    pub(super) netns: Option<Arc<NetNs>>,
    /// Where the key/value workload's clients live: one place each of
    /// `workload.regions`, else the one above.
    pub(super) places: Vec<Place>,
    /// Where the lock workers live: one place each of `locks.regions`,
    /// else the one above.
    pub(super) lock_places: Vec<Place>,
    /// Where the stampede readers live: one place each of
    /// `stampede.regions`, else the one above.
    pub(super) stampede_places: Vec<Place>,
    /// Where the invalidation readers live: one place each of
    /// `invalidation.regions`, else none (with the writers, above).
    pub(super) invalidation_places: Vec<Place>,
    /// In words, for the report.
    pub(super) path: String,
}

/// The regions each workload's clients live in (empty: none).
struct Regions<'a> {
    kv: &'a [String],
    locks: &'a [String],
    stampede: &'a [String],
    invalidation: &'a [String],
}

impl ClientSide {
    /// On Docker, inside the run's network when this process may join it
    /// (root); else through the published ports, with a notice. On the
    /// process runtime, the host's loopback, where the nodes are.
    async fn of(
        rt: &crate::runtime::Runtime,
        d: &Deployment,
        map: &AddressMap,
        threads: u32,
        regions: Regions<'_>,
    ) -> Result<ClientSide, DrillError> {
        let Regions {
            kv: regions,
            locks: lock_regions,
            stampede: stampede_regions,
            invalidation: invalidation_regions,
        } = regions;
        let mut side = Self::unplaced(rt, d, map, threads).await?;
        side.places = vec![Place::unplaced(side.netns.clone())];
        side.lock_places = side.places.clone();
        side.stampede_places = side.places.clone();
        if regions.is_empty()
            && lock_regions.is_empty()
            && stampede_regions.is_empty()
            && invalidation_regions.is_empty()
        {
            return Ok(side);
        }
        if matches!(rt.kind(), crate::runtime::RuntimeKind::Docker) && side.netns.is_none() {
            return Err(DrillError::Workload(workload::WorkloadError::Spec(
                format!(
                    "clients in regions live in their regions' own network namespaces, and this run cannot join the run's network ({}): run as root",
                    side.path
                ),
            )));
        }
        // One place per region, whoever lives there.
        let mut by_region: Vec<(String, Place)> = Vec::new();
        for r in (regions.iter())
            .chain(lock_regions)
            .chain(stampede_regions)
            .chain(invalidation_regions)
        {
            if by_region.iter().any(|(name, _)| name == r) {
                continue;
            }
            let (ns, source) = rt.region_place(d, r).await?;
            let near = (d.nodes.iter())
                .filter(|n| d.topology.node(&n.name).is_some_and(|s| &s.region == r))
                .map(|n| n.announce)
                .collect();
            let place = Place {
                region: Some(r.clone()),
                netns: ns.map(Arc::new),
                source,
                near,
                workers: Vec::new(),
            };
            by_region.push((r.clone(), place));
        }
        let place_of = |r: &String| {
            (by_region.iter().find(|(name, _)| name == r))
                .map(|(_, p)| p.clone())
                .unwrap_or_default()
        };
        if !regions.is_empty() {
            side.places = regions.iter().map(place_of).collect();
            side.path = format!("{}, clients in {}", side.path, regions.join(", "));
        }
        if !lock_regions.is_empty() {
            side.lock_places = lock_regions.iter().map(place_of).collect();
            side.path = format!("{}, lock workers in {}", side.path, lock_regions.join(", "));
        }
        if !stampede_regions.is_empty() {
            side.stampede_places = stampede_regions.iter().map(place_of).collect();
            side.path = format!(
                "{}, stampede readers in {}",
                side.path,
                stampede_regions.join(", ")
            );
        }
        if !invalidation_regions.is_empty() {
            side.invalidation_places = invalidation_regions.iter().map(place_of).collect();
            side.path = format!(
                "{}, invalidation readers in {}",
                side.path,
                invalidation_regions.join(", ")
            );
        }
        Ok(side)
    }

    async fn unplaced(
        rt: &crate::runtime::Runtime,
        d: &Deployment,
        map: &AddressMap,
        threads: u32,
    ) -> Result<ClientSide, DrillError> {
        let through_ports = |why: String| {
            crate::note!(
                "notice: {why}; the clients reach the nodes through their published ports (docker-proxy), which adds latency and CPU of its own"
            );
            ClientSide {
                map: map.clone(),
                netns: None,
                places: Vec::new(),
                lock_places: Vec::new(),
                stampede_places: Vec::new(),
                invalidation_places: Vec::new(),
                path: "published ports (docker-proxy)".into(),
            }
        };
        if threads == 0 {
            return Ok(match rt.kind() {
                crate::runtime::RuntimeKind::Process | crate::runtime::RuntimeKind::External => {
                    ClientSide {
                        map: map.clone(),
                        netns: None,
                        places: Vec::new(),
                        lock_places: Vec::new(),
                        stampede_places: Vec::new(),
                        invalidation_places: Vec::new(),
                        path: host_path(d),
                    }
                }
                _ => through_ports("workload.threads is 0".into()),
            });
        }
        let ns = match rt.client_namespace(d).await {
            Ok(Some(ns)) => ns,
            Ok(None) => {
                return Ok(ClientSide {
                    map: map.clone(),
                    netns: None,
                    places: Vec::new(),
                    lock_places: Vec::new(),
                    stampede_places: Vec::new(),
                    invalidation_places: Vec::new(),
                    path: host_path(d),
                });
            }
            Err(e) => return Ok(through_ports(format!("no clients container: {e}"))),
        };
        let members = crate::bringup::members(d);
        let first = members.first().map(|m| m.announce);
        if let Err(e) = ns.probe(first, Duration::from_secs(2)) {
            let why = if e.raw_os_error() == Some(libc::EPERM) {
                format!("cannot join the run's network namespace ({e}; it needs root)")
            } else {
                format!("the run's network namespace does not reach the nodes ({e})")
            };
            return Ok(through_ports(why));
        }
        Ok(ClientSide {
            map: AddressMap::within_network(&members)?
                .with_sentinels(&crate::bringup::sentinel_members(d))?,
            netns: Some(Arc::new(ns)),
            places: Vec::new(),
            lock_places: Vec::new(),
            stampede_places: Vec::new(),
            invalidation_places: Vec::new(),
            path: "inside the run's network (the clients container's namespace)".into(),
        })
    }
}

/// The clients' path when they run on the host: its loopback for the
/// process runtime; for a deployment the tool did not start, whatever lies
/// behind the addresses it was attached by (published ports, a tunnel),
/// which the tool cannot see.
fn host_path(d: &Deployment) -> String {
    match &d.attached {
        None => "host loopback".into(),
        Some(a) => format!(
            "from this host to the addresses attached ({}), through whatever serves them",
            a.seeds.first().map_or("", String::as_str)
        ),
    }
}

/// What is ready before anything is measured.
pub(in crate::scenarios) struct Setup {
    pub(in crate::scenarios) map: AddressMap,
    /// How the clients find a key's node (see [`Sharding`]).
    pub(in crate::scenarios) sharding: Sharding,
    pub(super) loaded: workload::LoadReport,
    pub(super) topology: status::StatusReport,
    /// The shard of a slot, for downtime: its owner before the action.
    pub(super) owners_before: SlotOwners,
    pub(super) clients: ClientSide,
    /// The round trips from each region's clients to each region.
    pub(super) client_paths: Vec<crate::net::links::LinkSample>,
    /// Where the lock workload takes its locks, when the scenario has one.
    pub(super) locks: Option<LockTarget>,
    /// Why the scenario's partitions cannot be applied here: they are
    /// skipped, and the verdict is `unknown`.
    pub(super) partitions_unsupported: Option<String>,
    /// A deployment the tool did not start: its servers' counters and
    /// settings are left as they are.
    pub(super) attached: bool,
}

/// Whether the scenario's partitions can be applied here: `None` when it has
/// none or they can; the reason when the runtime cannot (not root, no
/// iptables), so that the drill runs without them and says so (its verdict
/// is then `unknown`, never an error exit: the rest of the drill — the
/// workload, the other faults — is still measured).
async fn partitions_here(
    scenario: &Scenario,
    rt: &crate::runtime::Runtime,
    d: &Deployment,
) -> Result<Option<String>, DrillError> {
    if !scenario
        .faults
        .iter()
        .any(|f| matches!(f.fault, FaultKind::Partition | FaultKind::Heal))
        // The user's hooks cut and heal an attached deployment.
        || crate::faults::hooked::command(d, FaultKind::Partition).is_some()
    {
        return Ok(None);
    }
    let why = match rt.can_partition(d).await {
        Ok(()) => return Ok(None),
        Err(crate::runtime::NetError::Unsupported(why)) => why,
        Err(e) => return Err(FaultError::from(e).into()),
    };
    crate::note!(
        "notice: {}: the partitions of `faults` cannot be applied here ({why}); the drill runs without them and its verdict will be unknown",
        scenario.source.display()
    );
    Ok(Some(why))
}

impl Setup {
    /// How many keys were written before the baseline.
    pub(in crate::scenarios) fn loaded_keys(&self) -> usize {
        self.loaded.initial.len()
    }

    /// Load the key space, read the topology and the slot owners, place the clients.
    pub(in crate::scenarios) async fn prepare(
        scenario: &Scenario,
        rt: &crate::runtime::Runtime,
        d: &Deployment,
        seed: u64,
        bus: &Bus,
        cancel: &CancellationToken,
    ) -> Result<Setup, DrillError> {
        let partitions_unsupported = partitions_here(scenario, rt, d).await?;
        let map = address_map(d)?;
        let (sharding, owners_before) = routing_now(d, &map).await?;
        let t = Instant::now();
        // A lock drill without a KV workload has no key space to load; a
        // read-only drill writes nothing, not even its own keys.
        let loaded = if scenario.kv && !scenario.read_only {
            workload::load(&map, &sharding, &scenario.workload, seed).await?
        } else {
            workload::LoadReport {
                initial: Default::default(),
                elapsed_ms: 0,
            }
        };
        bus.emit(DrillEvent::Loaded {
            keys: loaded.initial.len(),
            secs: t.elapsed().as_secs_f64(),
        });
        let topology = status::collect(d).await;
        bus.emit(DrillEvent::Topology(Box::new(topology.clone())));
        let clients = ClientSide::of(
            rt,
            d,
            &map,
            scenario.workload.threads,
            // The key/value workload's clients, the lock workers, the
            // stampede and the invalidation readers have regions.
            Regions {
                kv: if scenario.kv {
                    &scenario.workload.regions
                } else {
                    &[]
                },
                locks: scenario.locks.as_ref().map_or(&[], |l| &l.regions[..]),
                stampede: scenario.stampede.as_ref().map_or(&[], |s| &s.regions[..]),
                invalidation: (scenario.invalidation.as_ref()).map_or(&[], |i| &i.regions[..]),
            },
        )
        .await?;
        let mut clients = clients;
        // The client groups that run as workers on their regions' hosts.
        let mut worker_regions = Vec::new();
        for g in &scenario.workload.clients.groups {
            if let Some(region) = &g.region {
                let w = rt.worker(d, region).await?;
                if clients.places.is_empty() {
                    clients.places.push(Place::unplaced(clients.netns.clone()));
                }
                clients.places[0].workers.push((region.clone(), w));
                worker_regions.push(region.as_str());
            }
        }
        if !worker_regions.is_empty() {
            clients.path = format!(
                "{}, redis-rs workers on the hosts of {}",
                clients.path,
                worker_regions.join(", ")
            );
        }
        if let Sharding::Primary {
            sentinel: Some(master),
            ..
        } = &sharding
        {
            clients.path = format!(
                "{}; the primary from the Sentinels (SENTINEL get-master-addr-by-name {master}, the first of {} to answer, asked again after an error)",
                clients.path,
                map.sentinels().len()
            );
        }
        let locks = scenario
            .locks
            .as_ref()
            .map(|spec| lock_target(spec, &scenario.topology, &sharding, &clients.map));
        // What each region's clients cross to reach each region, on the
        // idle topology, before anything is measured.
        let origins: Vec<_> = clients
            .places
            .iter()
            .filter_map(|p| Some((p.region.clone()?, p.netns.clone(), p.source)))
            .collect();
        let client_paths = crate::runtime::links::measure_clients(d, &origins, cancel).await;
        Ok(Setup {
            client_paths,
            map,
            sharding,
            loaded,
            topology,
            owners_before,
            clients,
            locks,
            partitions_unsupported,
            attached: d.attached.is_some(),
        })
    }

    /// The primaries as the run began, as `m` reaches them.
    /// Each primary with replicas, as the clients reach them, and a key of
    /// its own: on a cluster one whose slot it owned before the action.
    pub(super) fn probe_targets(&self) -> Vec<ProbeTarget> {
        let m = &self.clients.map;
        let addr = |name: &str| m.nodes().iter().find(|n| n.name == name).map(|n| n.addr);
        let cluster = self.sharding.is_cluster();
        let mut out = Vec::new();
        for p in &self.topology.nodes {
            if p.role != Some(crate::topology::Role::Primary) {
                continue;
            }
            let replicas: Vec<(String, SocketAddr)> = self
                .topology
                .nodes
                .iter()
                .filter(|r| r.replica_of.as_deref() == Some(p.name.as_str()))
                .filter_map(|r| Some((r.name.clone(), addr(&r.name)?)))
                .collect();
            let Some(primary) = addr(&p.name) else {
                continue;
            };
            if replicas.is_empty() {
                continue;
            }
            let key = if cluster {
                // The first probe key whose slot this primary owns.
                let found = (0..100_000u32)
                    .map(|i| format!("{{drill:repl:{i}}}"))
                    .find(|k| {
                        self.owners_before
                            .owner(crate::slots::key_slot(k.as_bytes()))
                            == Some(p.name.as_str())
                    });
                match found {
                    Some(k) => k,
                    None => continue,
                }
            } else {
                format!("drill:repl:{}", p.name)
            };
            out.push(ProbeTarget {
                primary: (p.name.clone(), primary),
                replicas,
                key,
                cluster,
            });
        }
        out
    }

    /// The primaries as `m` reaches them: the reference PINGs and the servers' figures read these.
    pub(super) fn primaries(&self, m: &AddressMap) -> Vec<(String, SocketAddr)> {
        m.nodes()
            .iter()
            .filter(|n| {
                self.topology
                    .nodes
                    .iter()
                    .any(|t| t.name == n.name && t.role == Some(crate::topology::Role::Primary))
            })
            .map(|n| (n.name.clone(), n.addr))
            .collect()
    }
}

/// Where the lock workload takes its locks, as the clients reach the nodes:
/// Redlock over every primary of a standalone topology; one instance — a
/// standalone topology's first primary, or a replicated topology's primary
/// of the moment, followed through failovers. (`Scenario::load` refused the
/// other pairings.)
fn lock_target(
    spec: &LockSpec,
    topology: &crate::topology::Topology,
    sharding: &Sharding,
    clients: &AddressMap,
) -> LockTarget {
    let primaries: Vec<&str> = topology.primaries().map(|n| n.name.as_str()).collect();
    match (sharding, spec.algorithm) {
        (Sharding::Primary { initial, .. }, _) => LockTarget::PrimaryOf {
            group: clients.clone(),
            initial: initial.clone(),
        },
        (_, Algorithm::Redlock) => LockTarget::Instances(clients.subset(&primaries)),
        (_, Algorithm::Single) => LockTarget::Instances(clients.subset(&primaries[..1])),
    }
}

/// Who serves which slots as the drill begins, and how clients will route:
/// a cluster's own map; the client's shards on standalone primaries; every
/// slot to the primary of the moment on a replicated topology (which a
/// drill on a running topology may have failed over already).
async fn routing_now(
    d: &Deployment,
    map: &AddressMap,
) -> Result<(Sharding, SlotOwners), DrillError> {
    let connect = cluster::ConnectOptions::default();
    let sharding = match Sharding::of(&d.topology) {
        Sharding::Cluster => return Ok((Sharding::Cluster, SlotOwners::load(map, connect).await?)),
        Sharding::Primary {
            nodes,
            initial,
            sentinel,
        } => {
            let roles = cluster::replication::roles(map, connect).await;
            let now = cluster::replication::current_primary(&roles, Some(&initial))
                .map_or(initial, str::to_string);
            Sharding::Primary {
                nodes,
                initial: now,
                sentinel,
            }
        }
        sharded => sharded,
    };
    let assignments = sharding.assignments();
    let owners =
        SlotOwners::from_assignments(assignments.iter().map(|(n, r)| (n.as_str(), r.as_slice())))?;
    Ok((sharding, owners))
}

/// A primary to rebalance onto, added before the workload starts. Returns
/// the grown deployment.
pub(in crate::scenarios) async fn add_primary(
    rt: &crate::runtime::Runtime,
    d: &Deployment,
    bus: &Bus,
    cancel: &CancellationToken,
) -> Result<Deployment, DrillError> {
    let (grown, added) = crate::bringup::add_node(rt, d, None, None, cancel)
        .await
        .map_err(DrillError::AddNode)?;
    bus.emit(DrillEvent::NodeAdded {
        node: added.node,
        took_ms: added.timings.total_ms,
    });
    Ok(grown)
}

/// The deployment's nodes as the controller reaches them.
pub(super) fn address_map(d: &Deployment) -> Result<AddressMap, DrillError> {
    Ok(AddressMap::from_members(&crate::bringup::members(d))?
        .with_sentinels(&crate::bringup::sentinel_members(d))?)
}
