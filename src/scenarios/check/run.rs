//! [`Run`]: what every checker is given — the stored run, and what they all
//! derive from it alike, each worked out once, when first asked for: the ops
//! by kind of client, the keys before and after, the lost-write and
//! stale-read judgements, and how downtime is cut (shards, and the parts of
//! a shard the drill split).

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::checker;
use crate::record::ops::{ClientMode, Op};
use crate::record::{Record, Stored};

/// The stored run, as every checker sees it (Jepsen's `test` and
/// `history` together).
pub(crate) struct Run<'a> {
    pub stored: &'a Stored,
    pub record: &'a Record,
    pub history: &'a [Op],
    /// The app clients' ops, and the probe clients'.
    pub app: Vec<&'a Op>,
    pub probe: Vec<&'a Op>,
    /// Every key's value before the run, and read back at its end.
    pub initial: HashMap<String, String>,
    pub finals: HashMap<String, Option<String>>,
    lost: OnceCell<checker::LostWrites>,
    takeovers: OnceCell<Vec<checker::ttl::Takeover>>,
    stale: OnceCell<Option<checker::stale::StaleReads>>,
    cuts: OnceCell<Cuts>,
    region_views: OnceCell<Vec<(String, [View; 3])>>,
}

impl<'a> Run<'a> {
    /// The stored run as every checker reads it: the record, and the
    /// history split once by client kind so no checker splits it again.
    pub fn new(stored: &'a Stored) -> Run<'a> {
        let history = &stored.history[..];
        let of = |mode| history.iter().filter(|o| o.mode == mode).collect();
        Run {
            stored,
            record: &stored.record,
            history,
            app: of(ClientMode::App),
            probe: of(ClientMode::Probe),
            initial: (stored.keys.iter())
                .map(|k| (k.key.clone(), k.initial.clone()))
                .collect(),
            finals: (stored.keys.iter())
                .map(|k| (k.key.clone(), k.final_value.clone()))
                .collect(),
            lost: OnceCell::new(),
            takeovers: OnceCell::new(),
            stale: OnceCell::new(),
            cuts: OnceCell::new(),
            region_views: OnceCell::new(),
        }
    }

    /// Every acknowledged write against the final state.
    pub fn lost(&self) -> &checker::LostWrites {
        self.lost.get_or_init(|| {
            checker::lost_writes(
                self.history,
                &self.initial,
                &self.finals,
                self.record.eviction,
            )
        })
    }

    /// The GETs judged for staleness; `None` when the drill read nothing.
    pub fn stale(&self) -> Option<&checker::stale::StaleReads> {
        self.stale
            .get_or_init(|| {
                (self.history.iter())
                    .any(|o| o.kind == crate::record::ops::OpKind::Get)
                    .then(|| checker::stale::stale_reads(self.history, &self.initial))
            })
            .as_ref()
    }

    /// The primaries a fault took away and a replica replaced (a cluster's,
    /// as the watcher saw them): who, by whom, when, over which slots, and
    /// when the old primary was first seen a replica again.
    pub fn takeovers(&self) -> &[checker::ttl::Takeover] {
        self.takeovers.get_or_init(|| {
            let r = self.record;
            if r.topology.kind != crate::topology::Kind::Cluster {
                return Vec::new();
            }
            let watch = &self.stored.watch;
            let mut out = Vec::new();
            for f in r.faults.iter().filter(|f| f.fault.takes_node_away()) {
                for p in &f.primaries {
                    let t = checker::failover::failover(watch, p, f.start_ns);
                    let (Some(by), Some(after_ms)) = (t.promoted, t.promoted_after_ms) else {
                        continue;
                    };
                    let promoted_ns = f.start_ns + (after_ms * 1e6) as u64;
                    let demoted_ns = (watch.samples.iter())
                        .filter(|s| &s.observer == p && s.reachable && s.at_ns >= promoted_ns)
                        .find(|s| s.role == Some(crate::record::watch::Role::Replica))
                        .map(|s| s.at_ns);
                    out.push(checker::ttl::Takeover {
                        primary: p.clone(),
                        by,
                        slots: (f.slot_owners.iter())
                            .filter(|o| &o.node == p)
                            .map(|o| (o.from, o.to))
                            .collect(),
                        promoted_ns,
                        demoted_ns,
                    });
                }
            }
            out
        })
    }

    /// How downtime is cut up.
    pub fn cuts(&self) -> &Cuts {
        self.cuts
            .get_or_init(|| Cuts::new(self.record, &self.stored.keys))
    }

    /// Each client region's downtime views, in `record.client_regions`
    /// order (none without regions): its app ops, its app writes, its
    /// probe ops. One region's clients may be out while another's are
    /// served — a shard's windows over every client at once would close
    /// the first's outage with the second's successes.
    pub fn region_views(&self) -> &[(String, [View; 3])] {
        self.region_views.get_or_init(|| {
            let r = self.record;
            let in_region = |region: &str, o: &&Op| {
                crate::record::region_of(&r.client_regions, o.client) == Some(region)
            };
            let cuts = self.cuts();
            let mut seen: Vec<&String> = Vec::new();
            (r.client_regions.iter())
                .filter(|g| {
                    let new = !seen.contains(g);
                    seen.push(g);
                    new
                })
                .map(|region| {
                    let app = self.app.iter().copied().filter(|o| in_region(region, o));
                    let probe = self.probe.iter().copied().filter(|o| in_region(region, o));
                    (
                        region.clone(),
                        [
                            cuts.view(app.clone(), "app ops"),
                            cuts.view(app.filter(|o| o.is_write()), "app writes"),
                            cuts.view(probe, "probe ops"),
                        ],
                    )
                })
                .collect()
        })
    }

    /// Whether the history has an op of one of `kinds`.
    pub fn ran(&self, kinds: &[crate::record::ops::OpKind]) -> bool {
        self.history.iter().any(|o| kinds.contains(&o.kind))
    }
}

/// How downtime is cut up: each slot's shard (its owner when the drill
/// began) and, for the slots of a shard the drill split, its part; and which
/// of them hold keys of the drill, so must have been reached for a view to
/// be measured.
pub(crate) struct Cuts {
    shard_names: Vec<String>,
    groups: Vec<Option<String>>,
    keyed_shards: BTreeSet<String>,
    keyed_groups: BTreeSet<String>,
}

/// One view of downtime (a kind of client, its writes, a region's): the
/// windows per shard and per split part, the longest of all, and why it
/// cannot be trusted when it cannot.
pub(crate) struct View {
    pub shards: checker::Downtime,
    pub groups: checker::Downtime,
    pub max_ms: f64,
    pub unknown: Option<String>,
}

impl Cuts {
    fn new(r: &Record, keys: &[crate::record::KeyValues]) -> Cuts {
        let mut shard_names =
            vec![String::from("unassigned"); usize::from(crate::slots::SLOT_COUNT)];
        for range in &r.slot_owners {
            for slot in range.from..=range.to {
                if let Some(s) = shard_names.get_mut(usize::from(slot)) {
                    s.clone_from(&range.node);
                }
            }
        }
        let groups = split_parts(r, &shard_names);
        let mut keyed_shards = BTreeSet::new();
        let mut keyed_groups = BTreeSet::new();
        for k in keys {
            let slot = usize::from(crate::slots::key_slot(k.key.as_bytes()));
            keyed_shards.insert(shard_names[slot].clone());
            if let Some(g) = &groups[slot] {
                keyed_groups.insert(g.clone());
            }
        }
        Cuts {
            shard_names,
            groups,
            keyed_shards,
            keyed_groups,
        }
    }

    /// The shard of a slot: its owner when the drill began.
    pub fn shard_of(&self, slot: u16) -> String {
        self.shard_names[usize::from(slot)].clone()
    }

    /// The view of `ops`, by `who` (`app ops`, `probe ops`, `app writes`).
    pub fn view<'a>(&self, ops: impl Iterator<Item = &'a Op> + Clone, who: &str) -> View {
        let shards = checker::downtime(ops.clone(), |s| self.shard_of(s));
        let groups =
            checker::downtime_of_groups(ops.clone(), |s| self.groups[usize::from(s)].clone());
        let max_ms = shards.max_ms.max(groups.max_ms);
        let mut unreached: Vec<&str> = (self.keyed_shards.iter())
            .filter(|s| !shards.per_shard.contains_key(*s))
            .chain((self.keyed_groups.iter()).filter(|g| !groups.per_shard.contains_key(*g)))
            .map(String::as_str)
            .collect();
        unreached.sort_unstable();
        let unknown = if ops.clone().next().is_none() {
            Some(format!("no {who} were recorded"))
        } else if !unreached.is_empty() {
            Some(format!(
                "no {who} reached {}, which hold{} keys of the drill: an outage there would not show",
                unreached.join(", "),
                if unreached.len() == 1 { "s" } else { "" }
            ))
        } else {
            None
        };
        View {
            shards,
            groups,
            max_ms,
            unknown,
        }
    }
}

/// The part of each slot of a shard the drill split: the slots whose hands
/// differed along the drill — the owners at its start (`shard_names`), when
/// each fault hit (`faults[].slot_owners`), at its end (the primaries of
/// `topology_after`) — are judged apart, since the successes of one part
/// must not close another's outage. A part is named by its chain of owners
/// (`s1n1→s2n1→s2n2`: given to s2n1, which was killed, then served by its
/// promoted replica), or `s1n1 (kept)` for the slots that never left.
/// `None` for the slots of a shard that stayed or moved whole (a failover:
/// its shard's windows are that part's).
pub(crate) fn split_parts(r: &Record, shard_names: &[String]) -> Vec<Option<String>> {
    let slots = shard_names.len();
    let owners_of = |ranges: &mut dyn Iterator<Item = (u16, u16, &str)>| {
        let mut owner: Vec<Option<String>> = vec![None; slots];
        for (from, to, node) in ranges {
            for slot in from..=to {
                if let Some(o) = owner.get_mut(usize::from(slot)) {
                    *o = Some(node.to_string());
                }
            }
        }
        owner
    };
    let mut stages: Vec<Vec<Option<String>>> = Vec::new();
    for f in r.faults.iter().filter(|f| !f.slot_owners.is_empty()) {
        stages.push(owners_of(
            &mut (f.slot_owners.iter()).map(|o| (o.from, o.to, o.node.as_str())),
        ));
    }
    stages.push(owners_of(
        &mut (r.topology_after.nodes.iter())
            .filter(|n| n.role == Some(crate::topology::Role::Primary))
            .flat_map(|n| {
                (n.slot_ranges.iter())
                    .filter_map(|s| s.parse::<crate::slots::SlotRange>().ok())
                    .map(move |range| (range.start, range.end, n.name.as_str()))
            }),
    ));
    // Each slot's chain of distinct owners (an owner not known at a stage
    // adds nothing).
    let chains: Vec<Vec<&str>> = (0..slots)
        .map(|slot| {
            let mut chain = vec![shard_names[slot].as_str()];
            for stage in &stages {
                if let Some(o) = &stage[slot]
                    && chain.last() != Some(&o.as_str())
                {
                    chain.push(o);
                }
            }
            chain
        })
        .collect();
    // The shards whose slots went more than one way: each way is a part.
    let mut ways: BTreeMap<&str, BTreeSet<&[&str]>> = BTreeMap::new();
    for chain in &chains {
        ways.entry(chain[0]).or_default().insert(chain.as_slice());
    }
    chains
        .iter()
        .map(|chain| {
            (ways[chain[0]].len() > 1).then(|| match chain.len() {
                1 => format!("{} (kept)", chain[0]),
                _ => chain.join("→"),
            })
        })
        .collect()
}
