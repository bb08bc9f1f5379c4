//! The explicit form: a `nodes:` list, each node named and placed by the file.

use std::collections::HashMap;

use serde_saphyr::Location;

use super::error::Result;
use super::limits::MAX_NODES;
use super::raw::RawNode;
use super::resolve::{Draft, Resolver, kind_name};
use crate::slots::{SlotRange, even_split};
use crate::topology::model::{Kind, Role};

impl<'a> Resolver<'a> {
    /// The drafts of a `nodes:` list: each check in the order a reader fixes a
    /// file (the list on its own, names, primaries, replicas, slots), then one
    /// draft per node, shard by shard.
    pub(super) fn explicit(&self, kind: Kind, regions: &[String]) -> Result<Vec<Draft<'a>>> {
        let list = self.raw.nodes.as_ref().expect("explicit form has nodes");
        let nodes_loc = self.doc.key_or(&["nodes"], list.referenced);
        self.explicit_alone(&list.value, list.referenced, nodes_loc)?;
        let nodes = &list.value;
        let index = self.explicit_names(nodes)?;
        let primaries = self.explicit_primaries(kind, nodes, nodes_loc)?;
        self.explicit_replicas(kind, nodes, &index)?;
        let given = self.explicit_slots_given(nodes, &primaries)?;
        let even = if kind == Kind::Cluster && !given {
            even_split(primaries.len())
        } else {
            Vec::new()
        };
        let mut drafts = Vec::with_capacity(nodes.len());
        for (shard, &p) in primaries.iter().enumerate() {
            let mut members = vec![p];
            members.extend((0..nodes.len()).filter(|&i| {
                nodes[i]
                    .replica_of
                    .as_ref()
                    .is_some_and(|of| of.value == nodes[p].name.value)
            }));
            for i in members {
                let slots = (kind == Kind::Cluster && i == p).then(|| even.get(shard).copied());
                drafts.push(self.explicit_draft(nodes, i, p, shard, slots, regions)?);
            }
        }
        Ok(drafts)
    }

    /// The list on its own: not beside the short form's counts or
    /// `overrides`, not empty, not too long.
    fn explicit_alone(
        &self,
        list: &[RawNode],
        list_loc: Location,
        nodes_loc: Location,
    ) -> Result<()> {
        let raw = self.raw;
        let doc = self.doc;
        if let Some((field, loc)) = self.short_form_fields().first() {
            return Err(doc.invalid(
                *loc,
                *field,
                format!(
                    "cannot be combined with `nodes` (line {}); give either the counts or an explicit `nodes` list",
                    nodes_loc.line()
                ),
            ));
        }
        if let Some(o) = &raw.overrides {
            let loc = doc.key_or(
                &["overrides"],
                o.0.first().map_or(nodes_loc, |(k, _)| k.referenced),
            );
            return Err(doc.invalid(
                loc,
                "overrides",
                "only allowed with the short form; with `nodes`, set `region`, `port`, `image`, `server` and `redis` on the node itself",
            ));
        }
        if list.is_empty() {
            return Err(doc.invalid(list_loc, "nodes", "the list is empty"));
        }
        if list.len() > MAX_NODES {
            return Err(self.too_many(nodes_loc, "nodes", list.len() as u64));
        }
        Ok(())
    }

    /// Every name valid and given once; names first, so `replica_of` can
    /// point forwards. Returns each name's index in the list.
    fn explicit_names<'n>(&self, list: &'n [RawNode]) -> Result<HashMap<&'n str, usize>> {
        let doc = self.doc;
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, n) in list.iter().enumerate() {
            let field = format!("nodes[{i}].name");
            self.name(&n.name, &field)?;
            if let Some(&first) = index.get(n.name.value.as_str()) {
                return Err(doc.invalid(
                    n.name.referenced,
                    field,
                    format!(
                        "duplicate node name \"{}\" (first given at line {})",
                        n.name.value,
                        list[first].name.referenced.line()
                    ),
                ));
            }
            index.insert(&n.name.value, i);
        }
        Ok(index)
    }

    /// The primaries' indexes, as many as the kind allows. Who is a primary, before what the replicas point at: a file where
    /// every node is a replica is best told so.
    fn explicit_primaries(
        &self,
        kind: Kind,
        list: &[RawNode],
        nodes_loc: Location,
    ) -> Result<Vec<usize>> {
        let doc = self.doc;
        if kind == Kind::Standalone
            && let Some((i, of)) = list
                .iter()
                .enumerate()
                .find_map(|(i, n)| n.replica_of.as_ref().map(|o| (i, o)))
        {
            return Err(doc.invalid(
                of.referenced,
                format!("nodes[{i}].replica_of"),
                "standalone nodes are independent primaries; use `kind: replicated` or `kind: cluster` for replicas",
            ));
        }
        let primaries: Vec<usize> = (0..list.len())
            .filter(|&i| list[i].replica_of.is_none())
            .collect();
        match kind {
            Kind::Cluster if primaries.is_empty() => {
                return Err(doc.invalid(
                    nodes_loc,
                    "nodes",
                    "a cluster needs at least one primary (a node without `replica_of`); every node here is a replica",
                ));
            }
            Kind::Replicated if primaries.is_empty() => {
                return Err(doc.invalid(
                    nodes_loc,
                    "nodes",
                    "a replicated topology needs exactly one primary (a node without `replica_of`); every node here is a replica",
                ));
            }
            Kind::Replicated if primaries.len() > 1 => {
                let (first, second) = (&list[primaries[0]], &list[primaries[1]]);
                return Err(doc.invalid(
                    second.name.referenced,
                    format!("nodes[{}]", primaries[1]),
                    format!(
                        "a replicated topology has exactly one primary, and \"{}\" (line {}) is already it; give \"{}\" a `replica_of`",
                        first.name.value,
                        first.name.referenced.line(),
                        second.name.value
                    ),
                ));
            }
            _ => {}
        }
        Ok(primaries)
    }

    /// Every `replica_of` names another node that is a primary, and only
    /// cluster primaries own slots.
    fn explicit_replicas(
        &self,
        kind: Kind,
        list: &[RawNode],
        index: &HashMap<&str, usize>,
    ) -> Result<()> {
        let doc = self.doc;
        for (i, n) in list.iter().enumerate() {
            let Some(of) = &n.replica_of else { continue };
            let field = format!("nodes[{i}].replica_of");
            let Some(&target) = index.get(of.value.as_str()) else {
                return Err(doc.invalid(
                    of.referenced,
                    field,
                    format!("no node named \"{}\"", of.value.escape_debug()),
                ));
            };
            if target == i {
                return Err(doc.invalid(of.referenced, field, "a node cannot replicate itself"));
            }
            if let Some(grand) = &list[target].replica_of {
                return Err(doc.invalid(
                    of.referenced,
                    field,
                    format!(
                        "\"{}\" is itself a replica (of \"{}\"); chains of replicas are not supported, replicate a primary",
                        of.value, grand.value
                    ),
                ));
            }
            if let Some(s) = &n.slots {
                return Err(doc.invalid(
                    s.referenced,
                    format!("nodes[{i}].slots"),
                    format!(
                        "only primaries own slots, and \"{}\" is a replica of \"{}\"",
                        n.name.value, of.value
                    ),
                ));
            }
        }
        if kind != Kind::Cluster
            && let Some((i, s)) = list
                .iter()
                .enumerate()
                .find_map(|(i, n)| n.slots.as_ref().map(|s| (i, s)))
        {
            return Err(doc.invalid(
                s.referenced,
                format!("nodes[{i}].slots"),
                format!(
                    "only cluster primaries own slots (this topology is `kind: {}`)",
                    kind_name(kind)
                ),
            ));
        }

        Ok(())
    }

    /// Slots come from every primary or from none; returns whether the file
    /// gives them (when not, they are split evenly).
    fn explicit_slots_given(&self, list: &[RawNode], primaries: &[usize]) -> Result<bool> {
        let with: Vec<usize> = primaries
            .iter()
            .copied()
            .filter(|&i| list[i].slots.is_some())
            .collect();
        if !with.is_empty() && with.len() != primaries.len() {
            let without = primaries
                .iter()
                .copied()
                .find(|i| list[*i].slots.is_none())
                .expect("some primary has no slots");
            let (n, w) = (&list[without], &list[with[0]]);
            return Err(self.doc.invalid(
                n.name.referenced,
                format!("nodes[{without}]"),
                format!(
                    "primary \"{}\" gives no `slots` but \"{}\" does (line {}); give slots to every primary or to none (then they are split evenly)",
                    n.name.value,
                    w.name.value,
                    w.name.referenced.line()
                ),
            ));
        }
        Ok(!with.is_empty())
    }

    /// Node `i` of shard `shard` (whose primary is `p`) as a draft; `slots`
    /// is `Some` for a cluster primary, with its even share when the file
    /// gives none.
    fn explicit_draft(
        &self,
        list: &'a [RawNode],
        i: usize,
        p: usize,
        shard: usize,
        slots: Option<Option<SlotRange>>,
        regions: &[String],
    ) -> Result<Draft<'a>> {
        let n = &list[i];
        let prefix = format!("nodes[{i}]");
        let region = match &n.region {
            Some(r) => self.region(r, &format!("{prefix}.region"), regions)?,
            None => regions[0].clone(),
        };
        let role = if i == p { Role::Primary } else { Role::Replica };
        let mut d = Draft::new(
            n.name.value.clone(),
            role,
            n.replica_of.as_ref().map(|s| s.value.clone()),
            shard,
            region,
        );
        d.at = Some((n.name.referenced, prefix.clone()));
        if let Some(port) = &n.port {
            d.port = Some(self.port(port, &format!("{prefix}.port"))?);
        }
        if let Some(img) = &n.image {
            d.image = Some(self.image(img, &format!("{prefix}.image"))?);
        }
        if let Some(s) = &n.server {
            d.server = Some(self.server(s, &format!("{prefix}.server"))?);
        }
        if let Some(m) = &n.redis {
            d.redis = Some((m, format!("{prefix}.redis")));
        }
        if let Some(even) = slots {
            d.slots = match &n.slots {
                Some(s) => self.ranges(&s.value, &format!("{prefix}.slots"))?,
                None => vec![(even.expect("an even share for every shard"), None)],
            };
        }
        Ok(d)
    }
}
