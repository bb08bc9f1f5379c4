//! Who a fault hits. Targets are chosen by role at the moment the fault is
//! applied — after a failover `primary_of:0` is another node — from a
//! [`ClusterSnapshot`]; every random pick comes from the run's seeded rng.
//!
//! | target | means |
//! |---|---|
//! | `s1n1` | that node |
//! | `primary_of:<slot>` | the primary serving the slot now |
//! | `replica_of:<target>` | one replica of the (one) primary `<target>` names |
//! | `random_primary` | one primary that serves slots |
//! | `replica` | one replica |
//! | `random_node` | any node |
//! | `primaries` / `replicas` / `all` | every such node |
//! | `region:<name>` | every node of the region |
//! | `lock_holder:<n>` | not a node: the lock workload's worker holding lock `n` (only `pause` takes it; see [`super::ClientPause`]) |

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand::rngs::StdRng;
use serde::{Serialize, Serializer};

use crate::cluster::replication::NodeRole;
use crate::cluster::{NodeView, Role};
use crate::runtime::Deployment;
use crate::slots::{SLOT_COUNT, SlotRange};

/// A fault's target, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Node(String),
    PrimaryOf(u16),
    ReplicaOf(Box<Target>),
    RandomPrimary,
    Replica,
    RandomNode,
    Primaries,
    Replicas,
    All,
    Region(String),
    /// The client of the drill's lock workload that holds lock `n` when the
    /// fault hits (or, when nobody does, the next one granted it).
    LockHolder(u32),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Node(n) => f.write_str(n),
            Target::PrimaryOf(s) => write!(f, "primary_of:{s}"),
            Target::ReplicaOf(t) => write!(f, "replica_of:{t}"),
            Target::RandomPrimary => f.write_str("random_primary"),
            Target::Replica => f.write_str("replica"),
            Target::RandomNode => f.write_str("random_node"),
            Target::Primaries => f.write_str("primaries"),
            Target::Replicas => f.write_str("replicas"),
            Target::All => f.write_str("all"),
            Target::Region(r) => write!(f, "region:{r}"),
            Target::LockHolder(n) => write!(f, "lock_holder:{n}"),
        }
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Target, String> {
        let s = s.trim();
        if let Some(slot) = s.strip_prefix("primary_of:") {
            let slot: u16 = slot
                .parse()
                .ok()
                .filter(|n| *n < SLOT_COUNT)
                .ok_or_else(|| format!("`{s}`: the slot must be 0..{}", SLOT_COUNT - 1))?;
            return Ok(Target::PrimaryOf(slot));
        }
        if let Some(inner) = s.strip_prefix("replica_of:") {
            return Ok(Target::ReplicaOf(Box::new(inner.parse()?)));
        }
        if let Some(region) = s.strip_prefix("region:") {
            if region.is_empty() {
                return Err("`region:` needs a region name".into());
            }
            return Ok(Target::Region(region.to_string()));
        }
        if let Some(lock) = s.strip_prefix("lock_holder:") {
            let lock: u32 = lock
                .parse()
                .map_err(|_| format!("`{s}`: the lock is a number (lock_holder:0 is the first)"))?;
            return Ok(Target::LockHolder(lock));
        }
        Ok(match s {
            "random_primary" => Target::RandomPrimary,
            "replica" => Target::Replica,
            "random_node" => Target::RandomNode,
            "primaries" => Target::Primaries,
            "replicas" => Target::Replicas,
            "all" => Target::All,
            "" => return Err("an empty target".into()),
            name if name.contains(':') => {
                return Err(format!(
                    "unknown target `{name}` (targets: a node name, primary_of:<slot>, replica_of:<target>, random_primary, replica, random_node, primaries, replicas, all, region:<name>, lock_holder:<n>)"
                ));
            }
            name => Target::Node(name.to_string()),
        })
    }
}

/// One node as the cluster shows it when a fault is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotNode {
    pub name: String,
    pub region: String,
    /// Whether the controller could read it (a killed node is not).
    pub reachable: bool,
    /// Why not, when it could not: the read's error, or what a fault did
    /// to it (a node a fault holds down is not asked). Named in a target's
    /// "no … reachable" error.
    pub why_unreachable: Option<String>,
    pub role: Option<Role>,
    /// For a replica: its primary's name.
    pub primary: Option<String>,
    pub slots: Vec<SlotRange>,
    pub config_epoch: u64,
}

/// The nodes, their current roles and slots: what targets resolve against.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterSnapshot {
    /// Every node of the deployment, in its order (unreachable ones too).
    pub nodes: Vec<SnapshotNode>,
}

impl ClusterSnapshot {
    /// From the deployment and the nodes' own views (see `cluster::node_views`).
    /// A node that could not be read keeps its topology role as unknown.
    pub fn from_views(d: &Deployment, views: &[NodeView]) -> ClusterSnapshot {
        let nodes = d
            .nodes
            .iter()
            .map(|n| {
                let region = d
                    .spec(&n.name)
                    .map(|s| s.region.clone())
                    .unwrap_or_default();
                let v = views.iter().find(|v| v.name == n.name && v.error.is_none());
                let why = match views.iter().find(|v| v.name == n.name) {
                    None => Some("not asked".to_string()),
                    Some(v) => v.error.clone(),
                };
                SnapshotNode {
                    name: n.name.clone(),
                    region,
                    reachable: v.is_some(),
                    why_unreachable: if v.is_some() { None } else { why },
                    role: v.and_then(|v| v.role),
                    primary: v.and_then(|v| v.primary_name.clone()),
                    slots: v.map(|v| v.slots.clone()).unwrap_or_default(),
                    config_epoch: v.and_then(|v| v.config_epoch).unwrap_or(0),
                }
            })
            .collect();
        ClusterSnapshot { nodes }
    }

    /// A topology that is not a cluster, from every node's `ROLE`: a
    /// primary serves the slots its clients route to it
    /// ([`Sharding`](crate::workload::Sharding)): its shard on standalone
    /// primaries, every slot for the primary clients follow on a replicated
    /// topology (another node that still calls itself primary serves none).
    pub fn from_roles(d: &Deployment, roles: &[NodeRole]) -> ClusterSnapshot {
        use crate::workload::Sharding;
        let sharding = Sharding::of(&d.topology);
        let serving = crate::cluster::replication::current_primary(roles, None);
        let nodes = d
            .nodes
            .iter()
            .map(|n| {
                let r = roles.iter().find(|r| r.name == n.name && r.error.is_none());
                let why = match roles.iter().find(|r| r.name == n.name) {
                    None => Some("not asked".to_string()),
                    Some(r) => r.error.clone(),
                };
                let slots = match (&sharding, r.and_then(|r| r.role)) {
                    (Sharding::Sharded(ranges), Some(Role::Primary)) => ranges
                        .iter()
                        .filter(|(name, _)| name == &n.name)
                        .map(|(_, range)| *range)
                        .collect(),
                    (Sharding::Primary { .. }, Some(Role::Primary))
                        if serving == Some(n.name.as_str()) =>
                    {
                        vec![SlotRange::new(0, SLOT_COUNT - 1)]
                    }
                    _ => Vec::new(),
                };
                SnapshotNode {
                    name: n.name.clone(),
                    region: d
                        .spec(&n.name)
                        .map(|s| s.region.clone())
                        .unwrap_or_default(),
                    reachable: r.is_some(),
                    why_unreachable: if r.is_some() { None } else { why },
                    role: r.and_then(|r| r.role),
                    primary: r.and_then(|r| r.primary.clone()),
                    slots,
                    config_epoch: 0,
                }
            })
            .collect();
        ClusterSnapshot { nodes }
    }

    /// The nodes the controller could not read and why, for an error that
    /// says no node of a kind is reachable ("" when every node was read): a
    /// primary that did not answer in time under load reads differently
    /// from one a fault killed.
    pub fn unreachable_note(&self) -> String {
        let out: Vec<String> = (self.nodes.iter())
            .filter(|n| !n.reachable)
            .map(|n| match &n.why_unreachable {
                Some(why) => format!("{} ({why})", n.name),
                None => n.name.clone(),
            })
            .collect();
        if out.is_empty() {
            String::new()
        } else {
            format!("; not reachable: {}", out.join(", "))
        }
    }

    /// Every node name, in deployment order.
    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Reachable primaries that serve slots, in deployment order.
    pub fn primaries(&self) -> Vec<&SnapshotNode> {
        self.nodes
            .iter()
            .filter(|n| n.reachable && n.role == Some(Role::Primary) && !n.slots.is_empty())
            .collect()
    }

    /// Reachable replicas, in deployment order.
    pub fn replicas(&self) -> Vec<&SnapshotNode> {
        self.nodes
            .iter()
            .filter(|n| n.reachable && n.role == Some(Role::Replica))
            .collect()
    }

    /// The primary serving `slot`: of the nodes claiming it, the one with the
    /// highest config epoch (a stale primary may still claim it).
    pub fn primary_of(&self, slot: u16) -> Option<&SnapshotNode> {
        self.primaries()
            .into_iter()
            .filter(|n| n.slots.iter().any(|r| r.contains(slot)))
            .max_by_key(|n| n.config_epoch)
    }

    /// Why `target` can never resolve here — it names a node or a region the
    /// deployment does not have — as opposed to not resolving right now.
    pub fn unknown(&self, target: &Target) -> Option<String> {
        match target {
            Target::Node(name) if !self.nodes.iter().any(|n| &n.name == name) => Some(format!(
                "no node named `{name}` (nodes: {})",
                self.names().join(", ")
            )),
            Target::Region(r) if !self.nodes.iter().any(|n| &n.region == r) => {
                let mut regions: Vec<&str> = self.nodes.iter().map(|n| n.region.as_str()).collect();
                regions.dedup();
                Some(format!(
                    "no node in region `{r}` (regions: {})",
                    regions.join(", ")
                ))
            }
            Target::ReplicaOf(inner) => self.unknown(inner),
            _ => None,
        }
    }

    /// The node names `target` stands for now, random picks from `rng`.
    pub fn resolve(&self, target: &Target, rng: &mut StdRng) -> Result<Vec<String>, String> {
        let pick = |nodes: Vec<&SnapshotNode>, rng: &mut StdRng, what: &str| {
            if nodes.is_empty() {
                Err(format!(
                    "{target}: no {what} is reachable now{}",
                    self.unreachable_note()
                ))
            } else {
                Ok(vec![nodes[rng.random_range(0..nodes.len())].name.clone()])
            }
        };
        let all = |nodes: Vec<&SnapshotNode>, what: &str| {
            if nodes.is_empty() {
                Err(format!(
                    "{target}: no {what} is reachable now{}",
                    self.unreachable_note()
                ))
            } else {
                Ok(nodes.iter().map(|n| n.name.clone()).collect())
            }
        };
        match target {
            Target::Node(name) => {
                if self.nodes.iter().any(|n| &n.name == name) {
                    Ok(vec![name.clone()])
                } else {
                    Err(format!(
                        "no node named `{name}` (nodes: {})",
                        self.names().join(", ")
                    ))
                }
            }
            Target::PrimaryOf(slot) => self
                .primary_of(*slot)
                .map(|n| vec![n.name.clone()])
                .ok_or_else(|| {
                    format!(
                        "{target}: no reachable primary serves slot {slot}{}",
                        self.unreachable_note()
                    )
                }),
            Target::ReplicaOf(inner) => {
                let primaries = self.resolve(inner, rng)?;
                let [primary] = primaries.as_slice() else {
                    return Err(format!(
                        "{target}: `{inner}` names {} nodes, not one primary",
                        primaries.len()
                    ));
                };
                let replicas: Vec<&SnapshotNode> = self
                    .replicas()
                    .into_iter()
                    .filter(|n| n.primary.as_deref() == Some(primary))
                    .collect();
                if replicas.is_empty() {
                    return Err(format!(
                        "{target}: {primary} has no reachable replica{}",
                        self.unreachable_note()
                    ));
                }
                pick(replicas, rng, "replica")
            }
            Target::RandomPrimary => pick(self.primaries(), rng, "primary"),
            Target::Replica => pick(self.replicas(), rng, "replica"),
            Target::RandomNode => pick(
                self.nodes.iter().filter(|n| n.reachable).collect(),
                rng,
                "node",
            ),
            Target::Primaries => all(self.primaries(), "primary"),
            Target::Replicas => all(self.replicas(), "replica"),
            Target::All => Ok(self.names()),
            Target::Region(r) => {
                let nodes: Vec<String> = self
                    .nodes
                    .iter()
                    .filter(|n| &n.region == r)
                    .map(|n| n.name.clone())
                    .collect();
                if nodes.is_empty() {
                    let mut regions: Vec<&str> =
                        self.nodes.iter().map(|n| n.region.as_str()).collect();
                    regions.dedup();
                    Err(format!(
                        "no node in region `{r}` (regions: {})",
                        regions.join(", ")
                    ))
                } else {
                    Ok(nodes)
                }
            }
            Target::LockHolder(_) => Err(format!(
                "{target} is a client of the lock workload, not a node"
            )),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::SeedableRng;

    fn node(
        name: &str,
        role: Role,
        primary: Option<&str>,
        slots: &[(u16, u16)],
        epoch: u64,
    ) -> SnapshotNode {
        SnapshotNode {
            name: name.into(),
            region: if name.ends_with('2') {
                "east".into()
            } else {
                "west".into()
            },
            reachable: true,
            why_unreachable: None,
            role: Some(role),
            primary: primary.map(str::to_string),
            slots: slots.iter().map(|&(a, b)| SlotRange::new(a, b)).collect(),
            config_epoch: epoch,
        }
    }

    /// Three shards of a primary and a replica, as after create.
    pub(crate) fn six() -> ClusterSnapshot {
        ClusterSnapshot {
            nodes: vec![
                node("s1n1", Role::Primary, None, &[(0, 5460)], 1),
                node("s2n1", Role::Primary, None, &[(5461, 10922)], 2),
                node("s3n1", Role::Primary, None, &[(10923, 16383)], 3),
                node("s1n2", Role::Replica, Some("s1n1"), &[], 1),
                node("s2n2", Role::Replica, Some("s2n1"), &[], 2),
                node("s3n2", Role::Replica, Some("s3n1"), &[], 3),
            ],
        }
    }

    fn resolve(snap: &ClusterSnapshot, t: &str) -> Result<Vec<String>, String> {
        snap.resolve(&t.parse()?, &mut StdRng::seed_from_u64(1))
    }

    #[test]
    fn targets_parse_and_print_back() {
        for t in [
            "s1n1",
            "primary_of:0",
            "replica_of:primary_of:16383",
            "replica_of:s2n1",
            "random_primary",
            "replica",
            "random_node",
            "primaries",
            "replicas",
            "all",
            "region:east",
            "lock_holder:3",
        ] {
            assert_eq!(t.parse::<Target>().unwrap().to_string(), t);
        }
        for (bad, msg) in [
            ("primary_of:16384", "the slot must be 0..16383"),
            ("primary_of:x", "the slot must be"),
            ("region:", "needs a region name"),
            ("lock_holder:x", "the lock is a number"),
            ("leader_of:3", "unknown target `leader_of:3`"),
            ("", "an empty target"),
        ] {
            let e = bad.parse::<Target>().unwrap_err();
            assert!(e.contains(msg), "{bad}: {e}");
        }
    }

    #[test]
    fn targets_resolve_by_current_role() {
        let mut snap = six();
        assert_eq!(resolve(&snap, "primary_of:0").unwrap(), ["s1n1"]);
        assert_eq!(resolve(&snap, "primary_of:16383").unwrap(), ["s3n1"]);
        assert_eq!(
            resolve(&snap, "replica_of:primary_of:6000").unwrap(),
            ["s2n2"]
        );
        assert_eq!(resolve(&snap, "replica_of:s1n1").unwrap(), ["s1n2"]);
        assert_eq!(
            resolve(&snap, "primaries").unwrap(),
            ["s1n1", "s2n1", "s3n1"]
        );
        assert_eq!(
            resolve(&snap, "region:east").unwrap(),
            ["s1n2", "s2n2", "s3n2"]
        );
        assert_eq!(resolve(&snap, "all").unwrap().len(), 6);
        assert!(
            resolve(&snap, "s9n9")
                .unwrap_err()
                .contains("no node named `s9n9`")
        );
        assert!(
            resolve(&snap, "region:moon")
                .unwrap_err()
                .contains("regions: west, east")
        );
        assert!(
            resolve(&snap, "replica_of:primaries")
                .unwrap_err()
                .contains("names 3 nodes, not one primary")
        );
        // After a failover s1n2 serves slot 0 with a higher epoch; the old
        // primary, back as a zombie still claiming the slots, loses to it.
        snap.nodes[3] = node("s1n2", Role::Primary, None, &[(0, 5460)], 7);
        assert_eq!(resolve(&snap, "primary_of:0").unwrap(), ["s1n2"]);
        // Once the old primary is killed it is not reachable: not a primary.
        snap.nodes[0].reachable = false;
        assert_eq!(resolve(&snap, "primary_of:100").unwrap(), ["s1n2"]);
        assert!(
            resolve(&snap, "replica_of:s1n2")
                .unwrap_err()
                .contains("no reachable replica")
        );
    }

    /// A target that finds nobody says who could not be read and why: a
    /// primary that timed out under load is not one a fault killed.
    #[test]
    fn an_unresolved_target_names_the_nodes_not_read_and_why() {
        let mut snap = six();
        snap.nodes[0].reachable = false;
        snap.nodes[0].why_unreachable = Some("timed out after 500 ms".into());
        snap.nodes[3].reachable = false;
        snap.nodes[3].why_unreachable = Some("down: a fault of the drill stopped it".into());
        assert_eq!(
            resolve(&snap, "primary_of:0").unwrap_err(),
            "primary_of:0: no reachable primary serves slot 0; not reachable: \
             s1n1 (timed out after 500 ms), s1n2 (down: a fault of the drill stopped it)"
        );
        assert!(
            resolve(&snap, "replica_of:s2n1").is_ok(),
            "a shard whose nodes answered still resolves"
        );
        for n in &mut snap.nodes {
            n.reachable = false;
            n.why_unreachable = None;
        }
        let e = resolve(&snap, "random_node").unwrap_err();
        assert!(
            e.ends_with("not reachable: s1n1, s2n1, s3n1, s1n2, s2n2, s3n2"),
            "{e}"
        );
        assert!(six().unreachable_note().is_empty());
    }

    #[test]
    fn random_picks_follow_the_seed() {
        let snap = six();
        let picks = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..20)
                .map(|_| snap.resolve(&Target::RandomPrimary, &mut rng).unwrap()[0].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(picks(3), picks(3));
        let seen: std::collections::BTreeSet<String> = picks(3).into_iter().collect();
        assert_eq!(seen.len(), 3, "20 picks over 3 primaries reach all of them");
        for _ in 0..5 {
            let r = resolve(&snap, "replica").unwrap();
            assert!(r[0].ends_with('2'));
        }
    }
}
