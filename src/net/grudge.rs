//! Partitions as data: a [`Grudge`] says, for each node, which nodes it drops
//! traffic from (Jepsen's `net/grudge`). The shapes — isolate one node, halves,
//! bridge, majorities ring, primaries apart, one way, regions — are pure
//! functions of an ordered list of node names; the caller orders that list
//! with the run's seed, so the same seed cuts the same nodes. Applying a grudge
//! to real packets is each runtime backend's job ([`super::Net::partition`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Who drops traffic from whom. A node that drops nothing is not listed, so
/// two grudges that cut the same links compare equal however they were built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Grudge {
    /// Each node → the nodes whose packets it drops. Never empty sets.
    pub drops: BTreeMap<String, BTreeSet<String>>,
    /// The components the grudge was built from (nodes inside one component
    /// talk freely), kept for reports; empty for grudges that are not a set of
    /// components (one way, unions).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Vec<String>>,
}

impl Grudge {
    /// Every node drops traffic from every node with which it shares no
    /// component. Components may overlap (a bridge node sits in two, and so
    /// hears everyone); empty components are ignored.
    pub fn from_components(components: &[Vec<String>]) -> Grudge {
        let components: Vec<Vec<String>> = components
            .iter()
            .filter(|c| !c.is_empty())
            .cloned()
            .collect();
        let everyone: BTreeSet<&String> = components.iter().flatten().collect();
        let mut drops: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for &node in &everyone {
            let heard: BTreeSet<&String> = components
                .iter()
                .filter(|c| c.contains(node))
                .flatten()
                .collect();
            let dropped: BTreeSet<String> = everyone
                .iter()
                .filter(|&&other| !heard.contains(other))
                .map(|&other| other.clone())
                .collect();
            if !dropped.is_empty() {
                drops.insert(node.clone(), dropped);
            }
        }
        Grudge { drops, components }
    }

    /// Every (dropper, from) pair: `dropper` drops packets whose source is `from`.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.drops
            .iter()
            .flat_map(|(d, from)| from.iter().map(move |f| (d.as_str(), f.as_str())))
    }

    /// The nodes `node` drops traffic from (empty when it drops nothing).
    pub fn drops_from(&self, node: &str) -> impl Iterator<Item = &str> {
        self.drops
            .get(node)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Whether `a` and `b` cannot talk: either drops the other's packets.
    pub fn cuts(&self, a: &str, b: &str) -> bool {
        self.drops_from(a).any(|x| x == b) || self.drops_from(b).any(|x| x == a)
    }

    /// Whether nobody drops anything: applying it is a heal.
    pub fn is_empty(&self) -> bool {
        self.drops.is_empty()
    }

    /// Both grudges at once: a node drops what either says it drops. The
    /// result keeps components only when one side is empty (a union of two
    /// partitions is not, in general, a set of components).
    pub fn union(&self, other: &Grudge) -> Grudge {
        let mut drops = self.drops.clone();
        for (d, from) in &other.drops {
            drops
                .entry(d.clone())
                .or_default()
                .extend(from.iter().cloned());
        }
        let components = if other.is_empty() {
            self.components.clone()
        } else if self.is_empty() {
            other.components.clone()
        } else {
            Vec::new()
        };
        Grudge { drops, components }
    }

    /// A short human form for reports and logs: the components
    /// (`s1n1 | s2n1 s3n1 s1n2`), or the cut links (`a -/-> b` when only `b`
    /// drops `a`'s packets, `a -/- b` when both drop each other's).
    pub fn describe(&self) -> String {
        if self.is_empty() {
            return "no partition".into();
        }
        if !self.components.is_empty() {
            return self
                .components
                .iter()
                .map(|c| c.join(" "))
                .collect::<Vec<_>>()
                .join(" | ");
        }
        // (first, second, one way?), sorted so the same cut reads the same.
        let mut links: Vec<(&str, &str, bool)> = Vec::new();
        for (dropper, from) in self.pairs() {
            let mutual = self.drops_from(from).any(|n| n == dropper);
            if !mutual {
                links.push((from, dropper, true));
            } else if from < dropper {
                links.push((from, dropper, false));
            }
        }
        links.sort();
        links
            .iter()
            .map(|(a, b, one_way)| {
                if *one_way {
                    format!("{a} -/-> {b}")
                } else {
                    format!("{a} -/- {b}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Grudge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// `all` without the nodes in `minus`, in order.
fn without(all: &[String], minus: &[String]) -> Vec<String> {
    all.iter().filter(|n| !minus.contains(n)).cloned().collect()
}

/// `node` alone on one side, everyone else together on the other.
pub fn isolate(node: &str, all: &[String]) -> Grudge {
    let node = node.to_string();
    let rest = without(all, std::slice::from_ref(&node));
    Grudge::from_components(&[vec![node], rest])
}

/// The first ⌊n/2⌋ nodes against the rest: for odd n, a minority against a
/// majority; for even n, two sides of which neither has a majority.
pub fn halves(all: &[String]) -> Grudge {
    let (a, b) = all.split_at(all.len() / 2);
    Grudge::from_components(&[a.to_vec(), b.to_vec()])
}

/// `minority` on one side, everyone else on the other.
pub fn majority_minority(minority: &[String], all: &[String]) -> Grudge {
    Grudge::from_components(&[minority.to_vec(), without(all, minority)])
}

/// Jepsen's bridge: the network cut in halves, except one node (the first of
/// the second half) that stays in both, hearing and heard by everyone. With
/// 5 nodes `a b c d e`: `a b c | c d e`.
pub fn bridge(all: &[String]) -> Grudge {
    let h = all.len() / 2;
    if all.len() < 3 {
        // Nobody is left on the far side of a bridge.
        return Grudge::default();
    }
    Grudge::from_components(&[all[..=h].to_vec(), all[h..].to_vec()])
}

/// Jepsen's majorities ring: every node sees a majority of the cluster
/// (itself included), and no two nodes see the same majority — so every node
/// may believe it is in the majority, and none agree on which one.
///
/// Unlike Jepsen's, the ring here is symmetric (if `a` drops `b`, `b` drops
/// `a`), built as a circulant graph over `all` in order: each node sees the
/// ⌊(m-1)/2⌋ nodes on either side of it, and, when m-1 is odd, one node across
/// the ring. Each node then drops exactly n - m nodes (m = ⌊n/2⌋ + 1) — except
/// where that is impossible: when n and m-1 are both odd (n = 3, 7, 11, …), no
/// graph gives every node an odd number of peers, so one node sees one node
/// more than a majority (for n = 3 the ring degenerates into a bridge).
pub fn majorities_ring(all: &[String]) -> Grudge {
    let n = all.len();
    if n < 3 {
        // Two nodes have a single majority: both of them.
        return Grudge::default();
    }
    let m = n / 2 + 1;
    let degree = m - 1;
    let mut sees: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut link = |a: usize, b: usize| {
        sees[a].insert(b);
        sees[b].insert(a);
    };
    for i in 0..n {
        for k in 1..=degree / 2 {
            link(i, (i + k) % n);
        }
    }
    if degree % 2 == 1 {
        if n.is_multiple_of(2) {
            // Across the ring: i + n/2 is its own inverse, a perfect matching.
            for i in 0..n / 2 {
                link(i, i + n / 2);
            }
        } else {
            // Offset `degree` walks every node once (gcd(degree, n) = 1 for
            // n = 2·degree + 1): take every other step of that walk as a
            // matching, and link the one node it leaves out to its successor.
            let step = |i: usize| (i + degree) % n;
            let walk: Vec<usize> = std::iter::successors(Some(0), |&i| Some(step(i)))
                .take(n)
                .collect();
            for pair in walk[..n - 1].chunks(2) {
                link(pair[0], pair[1]);
            }
            let last = walk[n - 1];
            link(last, step(last));
        }
    }
    let mut drops = BTreeMap::new();
    for (i, seen) in sees.iter().enumerate() {
        let dropped: BTreeSet<String> = (0..n)
            .filter(|j| *j != i && !seen.contains(j))
            .map(|j| all[j].clone())
            .collect();
        if !dropped.is_empty() {
            drops.insert(all[i].clone(), dropped);
        }
    }
    Grudge {
        drops,
        components: Vec::new(),
    }
}

/// Every primary alone, cut from every other node; the replicas together.
/// The cluster's worst case: each shard's replicas may elect, and no primary
/// hears any other.
pub fn primaries(primaries: &[String], all: &[String]) -> Grudge {
    let mut components: Vec<Vec<String>> = primaries.iter().map(|p| vec![p.clone()]).collect();
    components.push(without(all, primaries));
    Grudge::from_components(&components)
}

/// The name that stands in a [`Grudge`] for the drill's own clients — the
/// workload, the lock workload and the controller — which are not nodes:
/// each runtime backend knows their source addresses (its `partitions`).
pub const CLIENTS: &str = "clients";

/// The drill's clients cut off from `nodes`, both ways; the nodes still hear
/// each other and every other node, and the clients every other node.
pub fn clients(nodes: &[String]) -> Grudge {
    let nodes: Vec<String> = nodes.iter().filter(|n| *n != CLIENTS).cloned().collect();
    if nodes.is_empty() {
        return Grudge::default();
    }
    Grudge::from_components(&[vec![CLIENTS.to_string()], nodes])
}

/// Each Sentinel alone among the Sentinels: every one drops every other;
/// nobody else is cut.
pub fn sentinels(names: &[String]) -> Grudge {
    let alone: Vec<Vec<String>> = names.iter().map(|n| vec![n.clone()]).collect();
    Grudge::from_components(&alone)
}

/// `to` drops traffic from `from`; `from` still hears `to`. (Over TCP both
/// directions of a connection between them stall, since `to` drops the
/// replies to its own packets too; datagrams from `to` still arrive.)
pub fn one_way(from: &str, to: &str) -> Grudge {
    if from == to {
        return Grudge::default();
    }
    Grudge {
        drops: BTreeMap::from([(to.to_string(), BTreeSet::from([from.to_string()]))]),
        components: Vec::new(),
    }
}

/// One component per region (`node → region`), in region-name order; nodes
/// in one region keep talking.
pub fn regions(region_of: &BTreeMap<String, String>) -> Grudge {
    let mut by_region: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (node, region) in region_of {
        by_region.entry(region).or_default().push(node.clone());
    }
    Grudge::from_components(&by_region.into_values().collect::<Vec<_>>())
}

/// The partition shapes: the words a scenario file and the CLI use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// The first node (in seeded order) alone against the rest.
    Isolate,
    /// ⌊n/2⌋ nodes against the rest.
    Halves,
    /// Halves with one node in both.
    Bridge,
    /// Every node sees a different majority.
    MajoritiesRing,
    /// Every primary alone, the replicas together.
    Primaries,
    /// The second node drops the first one's traffic, not the other way round.
    OneWay,
    /// One side per region.
    Regions,
    /// The drill's clients cut off from the target's nodes (both ways): a
    /// client-side partition, for nodes that never talk to each other
    /// (Redlock's instances).
    Clients,
    /// Every Sentinel alone against every other Sentinel; the nodes and
    /// the clients still reach each Sentinel, and each other: Sentinels
    /// that see the primary but cannot agree on it.
    Sentinels,
}

impl Shape {
    /// Every shape, in the order error messages list them.
    pub const ALL: [Shape; 9] = [
        Shape::Isolate,
        Shape::Halves,
        Shape::Bridge,
        Shape::MajoritiesRing,
        Shape::Primaries,
        Shape::OneWay,
        Shape::Regions,
        Shape::Clients,
        Shape::Sentinels,
    ];

    /// The shape's name, as YAML and the CLI write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Isolate => "isolate",
            Shape::Halves => "halves",
            Shape::Bridge => "bridge",
            Shape::MajoritiesRing => "majorities_ring",
            Shape::Primaries => "primaries",
            Shape::OneWay => "one_way",
            Shape::Regions => "regions",
            Shape::Clients => "clients",
            Shape::Sentinels => "sentinels",
        }
    }

    /// The grudge this shape cuts among `members`. Pure: the choice of which
    /// nodes is entirely `members.order`, which the caller shuffles with the
    /// run's seed.
    pub fn grudge(self, members: &Members<'_>) -> Grudge {
        let all = members.order;
        match self {
            Shape::Isolate => all.first().map(|n| isolate(n, all)).unwrap_or_default(),
            Shape::Halves => halves(all),
            Shape::Bridge => bridge(all),
            Shape::MajoritiesRing => majorities_ring(all),
            Shape::Primaries => {
                // In seeded order too, so components read the same way.
                let ps: Vec<String> = all
                    .iter()
                    .filter(|n| members.primaries.contains(n))
                    .cloned()
                    .collect();
                primaries(&ps, all)
            }
            Shape::OneWay => match all {
                [from, to, ..] => one_way(from, to),
                _ => Grudge::default(),
            },
            Shape::Regions => regions(members.region_of),
            Shape::Clients => all
                .first()
                .map(|n| clients(std::slice::from_ref(n)))
                .unwrap_or_default(),
            Shape::Sentinels => sentinels(members.sentinels),
        }
    }
}

/// What a [`Shape`] needs to know about the nodes it cuts.
#[derive(Debug, Clone, Copy)]
pub struct Members<'a> {
    /// Every node, in the order the run's seed chose.
    pub order: &'a [String],
    /// Which of them are primaries (for [`Shape::Primaries`]).
    pub primaries: &'a [String],
    /// Each node's region (for [`Shape::Regions`]).
    pub region_of: &'a BTreeMap<String, String>,
    /// The Sentinels, by name (for [`Shape::Sentinels`]).
    pub sentinels: &'a [String],
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A partition shape name that is not one of [`Shape::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown partition shape `{given}` (expected one of: {})", Shape::ALL.map(Shape::as_str).join(", "))]
pub struct UnknownShape {
    /// The name that was given.
    pub given: String,
}

impl FromStr for Shape {
    type Err = UnknownShape;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Shape::ALL
            .into_iter()
            .find(|shape| shape.as_str() == s)
            .ok_or_else(|| UnknownShape {
                given: s.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    /// The 3x1 cluster: primaries first, as the topology lists them.
    fn six() -> Vec<String> {
        names("s1n1 s2n1 s3n1 s1n2 s2n2 s3n2")
    }

    /// `a:b c;d:e` → a drops b and c, d drops e.
    fn drops(spec: &str) -> BTreeMap<String, BTreeSet<String>> {
        spec.split(';')
            .filter(|s| !s.trim().is_empty())
            .map(|entry| {
                let (d, from) = entry.split_once(':').unwrap();
                (d.trim().to_string(), names(from).into_iter().collect())
            })
            .collect()
    }

    /// What every grudge must satisfy: nobody drops itself, and (unless it
    /// is one-way) a dropped link is dropped from both ends.
    fn assert_sane(g: &Grudge, symmetric: bool) {
        for (d, f) in g.pairs() {
            assert_ne!(d, f, "{d} drops itself in {g:?}");
            if symmetric {
                assert!(
                    g.drops_from(f).any(|x| x == d),
                    "{d} drops {f} but not the other way round: {g:?}"
                );
            }
        }
        assert!(g.drops.values().all(|s| !s.is_empty()), "empty set: {g:?}");
    }

    #[test]
    fn builders_cut_what_they_say() {
        let six = six();
        let five = names("a b c d e");
        let three = names("a b c");
        let cases: Vec<(&str, Grudge, &str, &str)> = vec![
            (
                "isolate a primary of six",
                isolate("s1n1", &six),
                "s1n1: s2n1 s3n1 s1n2 s2n2 s3n2; s2n1: s1n1; s3n1: s1n1; s1n2: s1n1; s2n2: s1n1; s3n2: s1n1",
                "s1n1 | s2n1 s3n1 s1n2 s2n2 s3n2",
            ),
            (
                "isolate one of three",
                isolate("b", &three),
                "a: b; b: a c; c: b",
                "b | a c",
            ),
            (
                "halves of six",
                halves(&six),
                "s1n1: s1n2 s2n2 s3n2; s2n1: s1n2 s2n2 s3n2; s3n1: s1n2 s2n2 s3n2; \
                 s1n2: s1n1 s2n1 s3n1; s2n2: s1n1 s2n1 s3n1; s3n2: s1n1 s2n1 s3n1",
                "s1n1 s2n1 s3n1 | s1n2 s2n2 s3n2",
            ),
            (
                "halves of five: two against three",
                halves(&five),
                "a: c d e; b: c d e; c: a b; d: a b; e: a b",
                "a b | c d e",
            ),
            (
                "halves of three",
                halves(&three),
                "a: b c; b: a; c: a",
                "a | b c",
            ),
            (
                "majority/minority",
                majority_minority(&names("d e"), &five),
                "a: d e; b: d e; c: d e; d: a b c; e: a b c",
                "d e | a b c",
            ),
            (
                "bridge of five",
                bridge(&five),
                "a: d e; b: d e; d: a b; e: a b",
                "a b c | c d e",
            ),
            ("bridge of three", bridge(&three), "a: c; c: a", "a b | b c"),
            (
                "bridge of six",
                bridge(&six),
                "s1n1: s2n2 s3n2; s2n1: s2n2 s3n2; s3n1: s2n2 s3n2; \
                 s2n2: s1n1 s2n1 s3n1; s3n2: s1n1 s2n1 s3n1",
                "s1n1 s2n1 s3n1 s1n2 | s1n2 s2n2 s3n2",
            ),
            (
                "primaries of six",
                primaries(&names("s1n1 s2n1 s3n1"), &six),
                "s1n1: s2n1 s3n1 s1n2 s2n2 s3n2; s2n1: s1n1 s3n1 s1n2 s2n2 s3n2; \
                 s3n1: s1n1 s2n1 s1n2 s2n2 s3n2; s1n2: s1n1 s2n1 s3n1; \
                 s2n2: s1n1 s2n1 s3n1; s3n2: s1n1 s2n1 s3n1",
                "s1n1 | s2n1 | s3n1 | s1n2 s2n2 s3n2",
            ),
            (
                "one way",
                one_way("s1n1", "s2n1"),
                "s2n1: s1n1",
                "s1n1 -/-> s2n1",
            ),
            (
                "regions",
                regions(&BTreeMap::from(
                    [("a", "east"), ("b", "west"), ("c", "east"), ("d", "west")]
                        .map(|(n, r)| (n.to_string(), r.to_string())),
                )),
                "a: b d; b: a c; c: b d; d: a c",
                "a c | b d",
            ),
        ];
        for (what, g, want, described) in cases {
            assert_eq!(g.drops, drops(want), "{what}");
            assert_eq!(g.describe(), described, "{what}");
            assert_sane(&g, what != "one way");
        }
    }

    #[test]
    fn degenerate_inputs_cut_nothing() {
        let one = names("a");
        let two = names("a b");
        for (what, g) in [
            ("halves of one", halves(&one)),
            ("bridge of two", bridge(&two)),
            ("ring of two", majorities_ring(&two)),
            ("isolate the only node", isolate("a", &one)),
            (
                "one region",
                regions(&BTreeMap::from([("a".into(), "r".into())])),
            ),
            ("one way to itself", one_way("a", "a")),
            ("no primaries", primaries(&[], &two)),
        ] {
            assert!(g.is_empty(), "{what}: {g:?}");
            assert_eq!(g.describe(), "no partition", "{what}");
        }
    }

    #[test]
    fn bridge_node_drops_nothing_and_is_dropped_by_nobody() {
        for n in 3..=9 {
            let all: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
            let g = bridge(&all);
            let middle = &all[n / 2];
            assert!(!g.drops.contains_key(middle), "n={n}: {g:?}");
            assert!(g.pairs().all(|(_, f)| f != middle), "n={n}: {g:?}");
            assert!(!g.is_empty(), "n={n}");
            assert_sane(&g, true);
        }
    }

    #[test]
    fn majorities_ring_gives_every_node_its_own_majority() {
        for n in 3..=15 {
            let all: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
            let g = majorities_ring(&all);
            assert_sane(&g, true);
            let m = n / 2 + 1;
            let views: Vec<BTreeSet<&str>> = all
                .iter()
                .map(|node| {
                    all.iter()
                        .map(String::as_str)
                        .filter(|o| !g.drops_from(node).any(|d| d == *o))
                        .collect()
                })
                .collect();
            for (node, view) in all.iter().zip(&views) {
                assert!(view.len() >= m, "n={n}: {node} sees {view:?}");
            }
            let distinct: BTreeSet<&BTreeSet<&str>> = views.iter().collect();
            assert_eq!(distinct.len(), n, "n={n}: two nodes see the same majority");
            // Exactly n - m dropped everywhere, but where parity forbids it
            // (n and m-1 odd): there one node sees one more.
            let counts: Vec<usize> = all.iter().map(|a| g.drops_from(a).count()).collect();
            let odd = n % 2 == 1 && (m - 1) % 2 == 1;
            let exact = counts.iter().filter(|&&c| c == n - m).count();
            if odd {
                assert_eq!(exact, n - 1, "n={n}: {counts:?}");
                assert_eq!(counts.iter().filter(|&&c| c + 1 == n - m).count(), 1);
            } else {
                assert_eq!(exact, n, "n={n}: {counts:?}");
            }
        }
    }

    #[test]
    fn majorities_ring_of_five_is_jepsens() {
        // Each node sees its two ring neighbours, drops the two across.
        let g = majorities_ring(&names("a b c d e"));
        assert_eq!(
            g.drops,
            drops("a: c d; b: d e; c: a e; d: a b; e: b c"),
            "{g:?}"
        );
        assert_eq!(g.describe(), "a -/- c, a -/- d, b -/- d, b -/- e, c -/- e");
    }

    #[test]
    fn majorities_ring_of_six() {
        // m = 4: each node sees its neighbours and the node across, drops 2.
        let g = majorities_ring(&six());
        assert_eq!(
            g.drops,
            drops(
                "s1n1: s3n1 s2n2; s2n1: s1n2 s3n2; s3n1: s1n1 s2n2; \
                 s1n2: s2n1 s3n2; s2n2: s1n1 s3n1; s3n2: s2n1 s1n2"
            ),
            "{g:?}"
        );
    }

    #[test]
    fn union_merges_drops() {
        let a = one_way("x", "y");
        let b = one_way("y", "x");
        let u = a.union(&b);
        assert_eq!(u.drops, drops("x: y; y: x"));
        assert_eq!(u.describe(), "x -/- y");
        let iso = isolate("x", &names("x y z"));
        assert_eq!(iso.union(&Grudge::default()), iso);
        assert_eq!(Grudge::default().union(&iso), iso);
        let both = iso.union(&one_way("y", "z"));
        assert!(both.components.is_empty());
        assert_eq!(both.drops, drops("x: y z; y: x; z: x y"));
    }

    #[test]
    fn shapes_parse_and_print() {
        for shape in Shape::ALL {
            assert_eq!(shape.as_str().parse::<Shape>(), Ok(shape));
            let yaml = serde_json::to_string(&shape).unwrap();
            assert_eq!(yaml, format!("\"{shape}\""));
        }
        let err = "majority".parse::<Shape>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown partition shape `majority` (expected one of: isolate, halves, bridge, \
             majorities_ring, primaries, one_way, regions, clients, sentinels)"
        );
    }

    #[test]
    fn shapes_cut_in_seeded_order() {
        let order = names("s2n2 s1n1 s3n1 s2n1 s1n2 s3n2");
        let ps = names("s1n1 s2n1 s3n1");
        let region_of: BTreeMap<String, String> = six()
            .into_iter()
            .map(|n| {
                let r = if n.ends_with("n1") { "a" } else { "b" };
                (n, r.to_string())
            })
            .collect();
        let m = Members {
            order: &order,
            primaries: &ps,
            region_of: &region_of,
            sentinels: &names("t1 t2 t3"),
        };
        let described: Vec<String> = Shape::ALL
            .iter()
            .map(|s| format!("{s}: {}", s.grudge(&m)))
            .collect();
        assert_eq!(
            described,
            [
                "isolate: s2n2 | s1n1 s3n1 s2n1 s1n2 s3n2",
                "halves: s2n2 s1n1 s3n1 | s2n1 s1n2 s3n2",
                "bridge: s2n2 s1n1 s3n1 s2n1 | s2n1 s1n2 s3n2",
                "majorities_ring: s1n1 -/- s2n1, s1n1 -/- s3n2, s1n2 -/- s2n2, \
                 s1n2 -/- s3n1, s2n1 -/- s3n2, s2n2 -/- s3n1",
                "primaries: s1n1 | s3n1 | s2n1 | s2n2 s1n2 s3n2",
                "one_way: s2n2 -/-> s1n1",
                "regions: s1n1 s2n1 s3n1 | s1n2 s2n2 s3n2",
                // The drill's clients against the first node alone.
                "clients: clients | s2n2",
                // The Sentinels apart; the nodes untouched.
                "sentinels: t1 | t2 | t3",
            ]
        );
        let c = clients(&names("s1n1 s2n1"));
        assert_eq!(c.drops_from(CLIENTS).collect::<Vec<_>>(), ["s1n1", "s2n1"]);
        assert_eq!(c.drops_from("s1n1").collect::<Vec<_>>(), [CLIENTS]);
        assert!(
            c.drops_from("s3n1").next().is_none(),
            "the rest hear everyone"
        );
        let serialized = serde_json::to_value(Shape::OneWay.grudge(&m)).unwrap();
        assert_eq!(serialized, serde_json::json!({"drops": {"s1n1": ["s2n2"]}}));
    }
}
