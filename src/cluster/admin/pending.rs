//! What has not converged yet: the conditions of `wait_converged`, judged on
//! one poll's snapshots of every node (pure).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::cluster::conn::Member;
use crate::cluster::nodes::{NodeLine, myself};
use crate::slots::SLOT_COUNT;

/// What the members say the cluster should look like.
#[derive(Debug, Clone, Default)]
pub(crate) struct Expectations {
    /// Number of nodes every view should list.
    pub nodes: usize,
    /// Replica name -> primary name.
    pub primary_of: HashMap<String, String>,
}

impl Expectations {
    /// What `members` imply: every node listed, every replica on its primary.
    pub fn of(members: &[Member]) -> Self {
        Expectations {
            nodes: members.len(),
            primary_of: members
                .iter()
                .filter_map(|m| Some((m.name.clone(), m.replica_of.clone()?)))
                .collect(),
        }
    }
}

/// One node's state, as one poll saw it.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub cluster_state: String,
    pub lines: Vec<NodeLine>,
    /// INFO replication `role`: master or slave.
    pub role: String,
    pub master_link_status: Option<String>,
    pub master_repl_offset: Option<i64>,
    pub slave_repl_offset: Option<i64>,
}

/// The conditions of [`wait_converged`] that do not hold, one string per node
/// ("s2n1: cluster_state:fail, ..."). Empty when the cluster has converged. Pure.
///
/// [`wait_converged`]: super::wait_converged
pub(crate) fn convergence_pending(
    views: &[(String, Result<Snapshot, String>)],
    expect: &Expectations,
    check_offsets: bool,
) -> Vec<String> {
    let poll = Poll::of(views, expect);
    let mut issues: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let position: HashMap<&str, usize> = views
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    for (i, (_, snap)) in views.iter().enumerate() {
        if let Err(e) = snap {
            issues
                .entry(i)
                .or_default()
                .push(format!("unreachable ({e})"));
        }
    }
    for (k, (name, s)) in poll.ok.iter().enumerate() {
        let mine = issues.entry(position[name]).or_default();
        poll.membership(k, s, mine);
        poll.replication(name, s, expect, check_offsets, mine);
    }
    issues
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(i, v)| format!("{}: {}", views[i].0, v.join(", ")))
        .collect()
}

/// One poll's views, read once: who is who, and what the majority says.
struct Poll<'v> {
    /// Node id -> name, and back, from the reachable nodes' `myself` lines.
    name_of: HashMap<&'v str, &'v str>,
    id_of: HashMap<&'v str, &'v str>,
    /// The reachable nodes, in the order of the views.
    ok: Vec<(&'v str, &'v Snapshot)>,
    /// Per reachable node: the owner of every slot, and the ids it lists.
    owners: Vec<Vec<Option<&'v str>>>,
    id_sets: Vec<BTreeSet<&'v str>>,
    /// The most common slot map, every id any node lists, and how many nodes
    /// every view should list.
    reference: Option<usize>,
    union: BTreeSet<&'v str>,
    total: usize,
}

impl<'v> Poll<'v> {
    fn of(views: &'v [(String, Result<Snapshot, String>)], expect: &Expectations) -> Self {
        let mut name_of: HashMap<&str, &str> = HashMap::new();
        let mut id_of: HashMap<&str, &str> = HashMap::new();
        for (name, snap) in views {
            if let Ok(s) = snap
                && let Some(me) = myself(&s.lines)
            {
                name_of.insert(me.id.as_str(), name.as_str());
                id_of.insert(name.as_str(), me.id.as_str());
            }
        }
        let ok: Vec<(&str, &Snapshot)> = views
            .iter()
            .filter_map(|(n, s)| s.as_ref().ok().map(|s| (n.as_str(), s)))
            .collect();
        let owners: Vec<Vec<Option<&str>>> =
            ok.iter().map(|(_, s)| slot_owners(&s.lines)).collect();
        // Handshake entries carry random ids until the handshake completes; they are
        // reported as flags below, not counted as nodes.
        let id_sets: Vec<BTreeSet<&str>> = ok
            .iter()
            .map(|(_, s)| {
                s.lines
                    .iter()
                    .filter(|l| !l.flags.handshake)
                    .map(|l| l.id.as_str())
                    .collect()
            })
            .collect();
        let reference = majority(&owners);
        let union: BTreeSet<&str> = id_sets.iter().flatten().copied().collect();
        let total = union.len().max(expect.nodes);
        Poll {
            name_of,
            id_of,
            ok,
            owners,
            id_sets,
            reference,
            union,
            total,
        }
    }

    /// A node's name when a reachable node calls itself by `id`, else the
    /// short id.
    fn label(&self, id: &str) -> String {
        self.name_of
            .get(id)
            .map(|n| n.to_string())
            .unwrap_or_else(|| short(id).to_string())
    }

    /// Reachable node `k`'s own state, slot map, node list and flags.
    fn membership(&self, k: usize, s: &Snapshot, mine: &mut Vec<String>) {
        if s.cluster_state != "ok" {
            mine.push(format!("cluster_state:{}", s.cluster_state));
        }
        if myself(&s.lines).is_none() {
            mine.push("no myself line in CLUSTER NODES".into());
        }
        if let Some(r) = self.reference {
            let differ = self.owners[k]
                .iter()
                .zip(&self.owners[r])
                .filter(|(a, b)| a != b)
                .count();
            if differ > 0 {
                mine.push(format!(
                    "slot map differs from the majority on {differ} slots"
                ));
            }
        }
        let (ids, total) = (&self.id_sets[k], self.total);
        if ids.len() < total || *ids != self.union {
            mine.push(format!("knows {} of {total} nodes", ids.len()));
        }
        for l in &s.lines {
            let flags = l.flags.unsettled();
            if !flags.is_empty() {
                mine.push(format!("sees {} as {}", self.label(&l.id), flags.join(",")));
            }
        }
    }

    /// Node `name`'s replication: the primary it should follow, its link and,
    /// when asked, its offset against its primary's.
    fn replication(
        &self,
        name: &str,
        s: &Snapshot,
        expect: &Expectations,
        check_offsets: bool,
        mine: &mut Vec<String>,
    ) {
        let me = myself(&s.lines);
        if let Some(primary) = expect.primary_of.get(name) {
            if s.role != "slave" {
                mine.push(format!("role {}, expected replica of {primary}", s.role));
            } else if let (Some(want), Some(me)) = (self.id_of.get(primary.as_str()), me)
                && me.primary_id.as_deref() != Some(*want)
            {
                let actual = me
                    .primary_id
                    .as_deref()
                    .map(|id| self.label(id))
                    .unwrap_or_else(|| "nothing".into());
                mine.push(format!("replica of {actual}, expected {primary}"));
            }
        }
        if s.role != "slave" {
            return;
        }
        let status = s.master_link_status.as_deref().unwrap_or("missing");
        if status != "up" {
            mine.push(format!("master_link_status:{status}"));
        }
        if !check_offsets {
            return;
        }
        let primary_snap = me
            .and_then(|m| m.primary_id.as_deref())
            .and_then(|pid| self.name_of.get(pid))
            .and_then(|pn| self.ok.iter().find(|(n, _)| n == pn));
        if let Some((pn, ps)) = primary_snap
            && (ps.master_repl_offset != s.slave_repl_offset || s.slave_repl_offset.is_none())
        {
            mine.push(format!(
                "slave_repl_offset {} differs from {pn}'s master_repl_offset {}",
                opt(s.slave_repl_offset),
                opt(ps.master_repl_offset)
            ));
        }
    }
}

/// An offset as written in a pending condition, "missing" when INFO gave none.
fn opt(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "missing".into())
}

/// Owner id per slot in one view: from every line that lists slots (what
/// redis-cli's configuration signature reads).
pub(crate) fn slot_owners(lines: &[NodeLine]) -> Vec<Option<&str>> {
    let mut owners = vec![None; usize::from(SLOT_COUNT)];
    for l in lines {
        for r in &l.slots {
            for s in r.slots() {
                owners[usize::from(s)] = Some(l.id.as_str());
            }
        }
    }
    owners
}

/// Index of the most common element (the first of the most common on a tie).
pub(crate) fn majority<T: PartialEq>(items: &[T]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, a) in items.iter().enumerate() {
        let count = items.iter().filter(|b| *b == a).count();
        if best.is_none_or(|(_, c)| count > c) {
            best = Some((i, count));
        }
    }
    best.map(|(i, _)| i)
}

/// A node id cut to its first 8 characters, as redis-cli shows it, for
/// nodes that no member's `myself` line names.
pub(super) fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}
