//! A cluster's health: the checks of `redis-cli --cluster check`, in Rust.
//!
//! Like redis-cli, [`health`] starts from one entry node, loads `CLUSTER NODES`
//! from it and from every node it knows (skipping those it flags `noaddr` or
//! `fail`), and then judges the collected views with [`evaluate`], which is pure:
//!
//! - *slots configuration*: every loaded node sees the same owner for every slot
//!   (redis-cli compares a signature of the slot-holding lines of each view);
//! - *open slots*: no node's own line has `[slot->-id]` or `[slot-<-id]` entries;
//! - *slots coverage*: the slots the loaded nodes claim for themselves cover all 16384;
//! - *multiple owners*: no slot is claimed, or holds keys, on more than one primary.
//!   redis-cli runs this one only with `--cluster-search-multiple-owners`; we always do.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::admin::{majority, slot_owners};
use super::conn::{AddressMap, ConnectOptions, NodeConn};
use super::error::ClusterError;
use super::error::error_chain;
use super::nodes::{NodeLine, myself};
use crate::slots::{SLOT_COUNT, SlotRange, ranges_from_slots};

/// Check ids, stable for scripts reading the JSON.
pub const CONFIG_CONSISTENT: &str = "config_consistent";
/// No slot left migrating or importing.
pub const OPEN_SLOTS: &str = "open_slots";
/// Every slot served by some primary.
pub const SLOTS_COVERAGE: &str = "slots_coverage";
/// No slot claimed by two primaries.
pub const MULTIPLE_OWNERS: &str = "multiple_owners";

/// One node as [`health`] loaded it.
#[derive(Debug, Clone)]
pub struct LoadedNode {
    pub name: String,
    /// The controller address it was loaded from.
    pub addr: SocketAddr,
    /// Its `CLUSTER NODES`.
    pub lines: Vec<NodeLine>,
    /// For a primary: slots it holds keys in without claiming them.
    pub keys_in_unclaimed: Vec<u16>,
}

impl LoadedNode {
    fn label(&self) -> String {
        format!("{} ({})", self.name, self.addr)
    }
}

/// One of the four checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id: [`CONFIG_CONSISTENT`], [`OPEN_SLOTS`], [`SLOTS_COVERAGE`], [`MULTIPLE_OWNERS`].
    pub name: String,
    pub ok: bool,
    /// The one-line verdict, worded like redis-cli's.
    pub summary: String,
    /// What is wrong, naming nodes and slots; empty when ok.
    pub details: Vec<String>,
}

/// The result of [`health`]. `ok` when every check is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The node the check started from.
    pub entry: String,
    pub checks: Vec<Finding>,
    pub ok: bool,
    /// Nodes the entry knows that were not loaded, and why (as redis-cli, they
    /// are left out of every check, so a primary among them shows up as uncovered slots).
    pub skipped: Vec<String>,
}

impl Health {
    /// The check with this id (one of the constants above).
    pub fn get(&self, name: &str) -> Option<&Finding> {
        self.checks.iter().find(|c| c.name == name)
    }
}

impl fmt::Display for Health {
    /// The lines redis-cli prints: `[OK] ...`, `[ERR] ...`, `[WARNING] ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            ">>> Performing Cluster Check (using node {})",
            self.entry
        )?;
        for s in &self.skipped {
            writeln!(f, "[WARNING] Not loaded: {s}")?;
        }
        for c in &self.checks {
            let tag = match (c.ok, c.name.as_str()) {
                (true, _) => "[OK]",
                (false, OPEN_SLOTS | MULTIPLE_OWNERS) => "[WARNING]",
                (false, _) => "[ERR]",
            };
            writeln!(f, "{tag} {}", c.summary)?;
            for d in &c.details {
                writeln!(f, "    {d}")?;
            }
        }
        Ok(())
    }
}

/// Judge the views of the loaded nodes. Pure.
pub fn evaluate(entry: &str, nodes: &[LoadedNode], skipped: Vec<String>) -> Health {
    let checks = vec![
        config_consistent(nodes),
        open_slots(nodes),
        slots_coverage(nodes),
        multiple_owners(nodes),
    ];
    Health {
        entry: entry.to_string(),
        ok: checks.iter().all(|c| c.ok),
        checks,
        skipped,
    }
}

fn verdict(
    name: &str,
    ok: bool,
    ok_summary: &str,
    err_summary: String,
    details: Vec<String>,
) -> Finding {
    Finding {
        name: name.to_string(),
        ok,
        summary: if ok {
            ok_summary.to_string()
        } else {
            err_summary
        },
        details,
    }
}

/// A name for a node id: the loaded node whose own line has that id, else the id's prefix.
fn namer(nodes: &[LoadedNode]) -> impl Fn(&str) -> String + '_ {
    move |id: &str| {
        nodes
            .iter()
            .find(|n| myself(&n.lines).is_some_and(|m| m.id == id))
            .map(|n| n.name.clone())
            .unwrap_or_else(|| id[..id.len().min(8)].to_string())
    }
}

fn config_consistent(nodes: &[LoadedNode]) -> Finding {
    let mut details = Vec::new();
    if nodes.len() > 1 {
        let owners: Vec<Vec<Option<&str>>> = nodes.iter().map(|n| slot_owners(&n.lines)).collect();
        for (n, o) in nodes.iter().zip(&owners) {
            if o.iter().all(Option::is_none) {
                details.push(format!("{} sees no slot assigned", n.label()));
            }
        }
        if let Some(r) = majority(&owners) {
            let name = namer(nodes);
            for (k, n) in nodes.iter().enumerate() {
                if owners[k] == owners[r] || owners[k].iter().all(Option::is_none) {
                    continue;
                }
                // Group the differing slots by (this view's owner, the majority's).
                let mut diff: BTreeMap<(Option<&str>, Option<&str>), Vec<u16>> = BTreeMap::new();
                for s in 0..SLOT_COUNT {
                    let (mine, theirs) = (owners[k][usize::from(s)], owners[r][usize::from(s)]);
                    if mine != theirs {
                        diff.entry((mine, theirs)).or_default().push(s);
                    }
                }
                for ((mine, theirs), slots) in diff {
                    let show = |o: Option<&str>| o.map(&name).unwrap_or_else(|| "nobody".into());
                    details.push(format!(
                        "{} sees slots {} served by {}, {} sees them served by {}",
                        n.label(),
                        crate::slots::join(&ranges_from_slots(slots)),
                        show(mine),
                        nodes[r].label(),
                        show(theirs)
                    ));
                }
            }
        }
    }
    verdict(
        CONFIG_CONSISTENT,
        details.is_empty(),
        "All nodes agree about slots configuration.",
        "Nodes don't agree about configuration!".to_string(),
        details,
    )
}

fn open_slots(nodes: &[LoadedNode]) -> Finding {
    let name = namer(nodes);
    let mut details = Vec::new();
    let mut open: Vec<u16> = Vec::new();
    for n in nodes {
        let Some(me) = myself(&n.lines) else { continue };
        for (state, list, dir) in [
            ("migrating", &me.migrating, "to"),
            ("importing", &me.importing, "from"),
        ] {
            if list.is_empty() {
                continue;
            }
            let slots: Vec<String> = list
                .iter()
                .map(|(s, id)| format!("{s} ({dir} {})", name(id)))
                .collect();
            details.push(format!(
                "{} has slots in {state} state: {}",
                n.label(),
                slots.join(", ")
            ));
            open.extend(list.iter().map(|(s, _)| *s));
        }
    }
    open.sort_unstable();
    open.dedup();
    let listed: Vec<String> = open.iter().map(u16::to_string).collect();
    verdict(
        OPEN_SLOTS,
        open.is_empty(),
        "No open slots.",
        format!("The following slots are open: {}.", listed.join(",")),
        details,
    )
}

fn slots_coverage(nodes: &[LoadedNode]) -> Finding {
    let mut covered = vec![false; usize::from(SLOT_COUNT)];
    for n in nodes {
        if let Some(me) = myself(&n.lines) {
            for r in &me.slots {
                for s in r.slots() {
                    covered[usize::from(s)] = true;
                }
            }
        }
    }
    let uncovered = ranges_from_slots((0..SLOT_COUNT).filter(|&s| !covered[usize::from(s)]));
    let details = if uncovered.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "{} slots not covered: {}",
            crate::slots::count(&uncovered),
            crate::slots::join(&uncovered)
        )]
    };
    verdict(
        SLOTS_COVERAGE,
        uncovered.is_empty(),
        &format!("All {SLOT_COUNT} slots covered."),
        format!("Not all {SLOT_COUNT} slots are covered by nodes."),
        details,
    )
}

fn multiple_owners(nodes: &[LoadedNode]) -> Finding {
    // Per slot, the indexes of the primaries claiming it or holding keys in it.
    let mut owners: Vec<Vec<usize>> = vec![Vec::new(); usize::from(SLOT_COUNT)];
    for (i, n) in nodes.iter().enumerate() {
        let Some(me) = myself(&n.lines) else { continue };
        if me.is_replica() {
            continue;
        }
        for r in &me.slots {
            for s in r.slots() {
                owners[usize::from(s)].push(i);
            }
        }
        for &s in &n.keys_in_unclaimed {
            if !me.serves(s) {
                owners[usize::from(s)].push(i);
            }
        }
    }
    // Consecutive slots with the same owner set make one line.
    let mut details = Vec::new();
    let mut count = 0usize;
    let mut s = 0usize;
    while s < owners.len() {
        if owners[s].len() < 2 {
            s += 1;
            continue;
        }
        let mut end = s;
        while end + 1 < owners.len() && owners[end + 1] == owners[s] {
            end += 1;
        }
        count += end - s + 1;
        let range = SlotRange::new(s as u16, end as u16);
        let who: Vec<String> = owners[s].iter().map(|&i| nodes[i].label()).collect();
        details.push(format!(
            "slot {range} has {} owners: {}",
            who.len(),
            who.join(", ")
        ));
        s = end + 1;
    }
    verdict(
        MULTIPLE_OWNERS,
        details.is_empty(),
        "No multiple owners found.",
        format!("{count} slots have multiple owners."),
        details,
    )
}

/// Options of [`health_with`].
#[derive(Debug, Clone, Copy)]
pub struct HealthOptions {
    pub connect: ConnectOptions,
    /// Look for keys in slots a primary does not claim (`CLUSTER COUNTKEYSINSLOT`
    /// on each of them, pipelined, skipped on empty nodes), as redis-cli's
    /// `--cluster-search-multiple-owners` does.
    pub count_keys: bool,
}

impl Default for HealthOptions {
    fn default() -> Self {
        HealthOptions {
            connect: ConnectOptions::default(),
            count_keys: true,
        }
    }
}

/// [`health_with`] with default options.
pub async fn health(entry: SocketAddr, map: &AddressMap) -> Result<Health, ClusterError> {
    health_with(entry, map, &HealthOptions::default()).await
}

/// Load the views of `entry` and every node it knows (reached through `map`),
/// then [`evaluate`] them. Fails when the entry cannot be loaded, or when a
/// node it knows announces an address the map cannot translate to loopback.
pub async fn health_with(
    entry: SocketAddr,
    map: &AddressMap,
    opts: &HealthOptions,
) -> Result<Health, ClusterError> {
    let entry_name = map.name_of_addr(entry);
    let mut conn = NodeConn::connect(&entry_name, entry, opts.connect).await?;
    let lines = conn.cluster_nodes().await?;
    let entry_label = format!("{entry_name} ({entry})");

    let mut skipped = Vec::new();
    let mut friends = Vec::new();
    for l in lines.iter().filter(|l| !l.flags.myself) {
        let Some(announce) = l.addr.filter(|_| !l.flags.noaddr) else {
            skipped.push(format!(
                "{}: no address (noaddr in {entry_name}'s view)",
                l.id
            ));
            continue;
        };
        let name = map.name_of_announce(announce);
        if l.flags.fail {
            skipped.push(format!(
                "{name} ({announce}): flagged fail in {entry_name}'s view"
            ));
            continue;
        }
        friends.push((name, map.resolve(announce)?));
    }

    let entry_node = load(conn, lines, opts.count_keys).await?;
    let loaded = futures::future::join_all(friends.into_iter().map(|(name, addr)| async move {
        let result = async {
            let mut c = NodeConn::connect(&name, addr, opts.connect).await?;
            let lines = c.cluster_nodes().await?;
            load(c, lines, opts.count_keys).await
        }
        .await;
        result.map_err(|e| format!("{name} ({addr}): {}", error_chain(&e)))
    }))
    .await;
    let mut nodes = vec![entry_node];
    for r in loaded {
        match r {
            Ok(n) => nodes.push(n),
            Err(e) => skipped.push(e),
        }
    }
    Ok(evaluate(&entry_label, &nodes, skipped))
}

/// Finish loading one node: for a primary with keys, find the slots it holds
/// keys in without claiming them.
async fn load(
    mut c: NodeConn,
    lines: Vec<NodeLine>,
    count_keys: bool,
) -> Result<LoadedNode, ClusterError> {
    let mut keys_in_unclaimed = Vec::new();
    let primary = myself(&lines).is_some_and(|m| !m.is_replica());
    if count_keys && primary {
        let keys: u64 = c.run(&redis::cmd("DBSIZE")).await?;
        if keys > 0 {
            let me = myself(&lines);
            let unclaimed: Vec<u16> = (0..SLOT_COUNT)
                .filter(|&s| !me.is_some_and(|m| m.serves(s)))
                .collect();
            let counts = c.count_keys_in_slots(&unclaimed).await?;
            keys_in_unclaimed.extend(
                unclaimed
                    .iter()
                    .zip(counts)
                    .filter(|(_, n)| *n > 0)
                    .map(|(s, _)| *s),
            );
        }
    }
    Ok(LoadedNode {
        name: c.name.clone(),
        addr: c.addr,
        lines,
        keys_in_unclaimed,
    })
}

/// Keys held by a primary in slots it does not own: what an interrupted
/// migration can leave behind. One pipelined COUNTKEYSINSLOT per foreign slot.
pub async fn stray_keys(map: &AddressMap) -> Result<u64, ClusterError> {
    let views = super::view::node_views(map, ConnectOptions::default()).await;
    let mut stray = 0;
    // Replicas hold their primary's keys and own no slots: only primaries count.
    for v in views
        .iter()
        .filter(|v| v.error.is_none() && v.role == Some(crate::record::watch::Role::Primary))
    {
        let owned: Vec<bool> = {
            let mut o = vec![false; usize::from(SLOT_COUNT)];
            for r in &v.slots {
                for s in r.slots() {
                    o[usize::from(s)] = true;
                }
            }
            o
        };
        if v.keys == Some(0) {
            continue;
        }
        let mut conn = NodeConn::connect(&v.name, v.addr, ConnectOptions::default()).await?;
        let mut pipe = redis::pipe();
        for s in (0..SLOT_COUNT).filter(|&s| !owned[usize::from(s)]) {
            pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(s);
        }
        let counts: Vec<u64> = conn.run_pipe(&pipe, "CLUSTER COUNTKEYSINSLOT").await?;
        stray += counts.iter().sum::<u64>();
    }
    Ok(stray)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::nodes::parse_cluster_nodes;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccc";
    const R: &str = "dddddddddddddddddddddddddddddddddddddddd";

    /// The CLUSTER NODES text a node `me` would print, with the given slot
    /// columns per node id (in A, B, C, R order) and extra tokens for `me`.
    fn text(me: &str, slots: [&str; 3], extra: &str) -> String {
        let line = |id: &str, port: u16, role: &str, primary: &str, slots: &str| {
            let myself = if id == me { "myself," } else { "" };
            let extra = if id == me { extra } else { "" };
            format!(
                "{id} 127.0.0.1:{port}@{} {myself}{role} {primary} 0 0 1 connected {slots} {extra}\n",
                port + 10000
            )
        };
        [
            line(A, 7000, "master", "-", slots[0]),
            line(B, 7001, "master", "-", slots[1]),
            line(C, 7002, "master", "-", slots[2]),
            line(R, 7003, "slave", A, ""),
        ]
        .concat()
    }

    const GOOD: [&str; 3] = ["0-5460", "5461-10922", "10923-16383"];

    fn node(name: &str, port: u16, text: &str) -> LoadedNode {
        LoadedNode {
            name: name.into(),
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            lines: parse_cluster_nodes(text).unwrap(),
            keys_in_unclaimed: vec![],
        }
    }

    /// Nodes a, b, c (primaries) and r (replica of a); per node, the slot
    /// columns of its view and extra tokens on its own line.
    fn cluster(views: [([&str; 3], &str); 4]) -> Vec<LoadedNode> {
        let ids = [A, B, C, R];
        let names = ["a", "b", "c", "r"];
        (0..4)
            .map(|i| {
                node(
                    names[i],
                    7000 + i as u16,
                    &text(ids[i], views[i].0, views[i].1),
                )
            })
            .collect()
    }

    fn healthy() -> Vec<LoadedNode> {
        cluster([(GOOD, ""); 4])
    }

    fn failing(report: &Health) -> Vec<&str> {
        report
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name.as_str())
            .collect()
    }

    #[test]
    fn healthy_cluster_passes_every_check() {
        let r = evaluate("a (127.0.0.1:7000)", &healthy(), vec![]);
        assert!(r.ok, "{r}");
        assert_eq!(r.checks.len(), 4);
        let text = r.to_string();
        assert!(
            text.contains("[OK] All nodes agree about slots configuration."),
            "{text}"
        );
        assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
        assert!(text.contains("[OK] No multiple owners found."), "{text}");
    }

    #[test]
    fn disagreement_names_the_node_and_slots() {
        // c has not yet heard that slots 0-99 moved to b.
        let moved = ["100-5460", "0-99 5461-10922", "10923-16383"];
        let nodes = cluster([(moved, ""), (moved, ""), (GOOD, ""), (moved, "")]);
        let r = evaluate("a", &nodes, vec![]);
        assert_eq!(failing(&r), vec![CONFIG_CONSISTENT]);
        let c = r.get(CONFIG_CONSISTENT).unwrap();
        assert_eq!(
            c.details,
            vec![
                "c (127.0.0.1:7002) sees slots 0-99 served by a, a (127.0.0.1:7000) sees them served by b"
            ]
        );
        assert!(
            r.to_string()
                .contains("[ERR] Nodes don't agree about configuration!")
        );
    }

    #[test]
    fn open_slots_name_node_and_slot() {
        let mig = format!("[5000->-{B}]");
        let imp = format!("[5000-<-{A}]");
        let nodes = cluster([(GOOD, &mig), (GOOD, &imp), (GOOD, ""), (GOOD, "")]);
        let r = evaluate("a", &nodes, vec![]);
        assert_eq!(failing(&r), vec![OPEN_SLOTS]);
        let c = r.get(OPEN_SLOTS).unwrap();
        assert_eq!(c.summary, "The following slots are open: 5000.");
        assert_eq!(
            c.details,
            vec![
                "a (127.0.0.1:7000) has slots in migrating state: 5000 (to b)",
                "b (127.0.0.1:7001) has slots in importing state: 5000 (from a)",
            ]
        );
        assert!(
            r.to_string()
                .contains("[WARNING] The following slots are open: 5000.")
        );
    }

    #[test]
    fn uncovered_slots_are_listed_as_ranges() {
        let hole = ["0-5460", "5461-10000", "10923-16383"];
        let nodes = cluster([(hole, ""); 4]);
        let r = evaluate("a", &nodes, vec![]);
        assert_eq!(failing(&r), vec![SLOTS_COVERAGE]);
        assert_eq!(
            r.get(SLOTS_COVERAGE).unwrap().details,
            vec!["922 slots not covered: 10001-10922"]
        );
        assert!(
            r.to_string()
                .contains("[ERR] Not all 16384 slots are covered by nodes.")
        );
    }

    #[test]
    fn coverage_only_counts_loaded_nodes_own_claims() {
        // c was skipped (unreachable): its slots are uncovered even though others list them.
        let mut nodes = healthy();
        nodes.remove(2);
        let r = evaluate(
            "a",
            &nodes,
            vec!["c (127.0.0.1:7002): connection refused".into()],
        );
        assert_eq!(failing(&r), vec![SLOTS_COVERAGE]);
        assert!(
            r.to_string()
                .contains("[WARNING] Not loaded: c (127.0.0.1:7002)")
        );
    }

    #[test]
    fn multiple_owners_by_claim_and_by_keys() {
        // b claims 100-101 too (and nobody else agrees yet: config also fails).
        let own = ["0-5460", "100-101 5461-10922", "10923-16383"];
        let nodes = cluster([(GOOD, ""), (own, ""), (GOOD, ""), (GOOD, "")]);
        let r = evaluate("a", &nodes, vec![]);
        assert_eq!(failing(&r), vec![CONFIG_CONSISTENT, MULTIPLE_OWNERS]);
        assert_eq!(
            r.get(MULTIPLE_OWNERS).unwrap().details,
            vec!["slot 100-101 has 2 owners: a (127.0.0.1:7000), b (127.0.0.1:7001)"]
        );

        // c holds keys in slot 7 it does not claim.
        let mut nodes = healthy();
        nodes[2].keys_in_unclaimed = vec![7];
        let r = evaluate("a", &nodes, vec![]);
        assert_eq!(failing(&r), vec![MULTIPLE_OWNERS]);
        assert_eq!(
            r.get(MULTIPLE_OWNERS).unwrap().summary,
            "1 slots have multiple owners."
        );
        assert_eq!(
            r.get(MULTIPLE_OWNERS).unwrap().details,
            vec!["slot 7 has 2 owners: a (127.0.0.1:7000), c (127.0.0.1:7002)"]
        );
    }

    #[test]
    fn a_single_node_is_consistent_and_json_is_stable() {
        let nodes = vec![node(
            "a",
            7000,
            &format!("{A} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-16383\n"),
        )];
        let r = evaluate("a", &nodes, vec![]);
        assert!(r.ok, "{r}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["checks"][0]["name"], CONFIG_CONSISTENT);
        assert_eq!(json["ok"], true);
    }
}
