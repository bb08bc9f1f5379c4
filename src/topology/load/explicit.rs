//! The explicit form: a `nodes:` list, each node named and placed by the file.

use std::collections::HashMap;

use super::error::Result;
use super::limits::MAX_NODES;
use super::resolve::{Draft, Resolver, kind_name};
use crate::slots::even_split;
use crate::topology::model::{Kind, Role};

impl<'a> Resolver<'a> {
    pub(super) fn explicit(&self, kind: Kind, regions: &[String]) -> Result<Vec<Draft<'a>>> {
        let raw = self.raw;
        let doc = self.doc;
        let list = raw.nodes.as_ref().expect("explicit form has nodes");
        let nodes_loc = doc.key_or(&["nodes"], list.referenced);
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
                "only allowed with the short form; with `nodes`, set `region`, `port`, `image` and `redis` on the node itself",
            ));
        }
        if list.value.is_empty() {
            return Err(doc.invalid(list.referenced, "nodes", "the list is empty"));
        }
        if list.value.len() > MAX_NODES {
            return Err(self.too_many(nodes_loc, "nodes", list.value.len() as u64));
        }

        // Names first, so `replica_of` can point forwards.
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, n) in list.value.iter().enumerate() {
            let field = format!("nodes[{i}].name");
            self.name(&n.name, &field)?;
            if let Some(&first) = index.get(n.name.value.as_str()) {
                return Err(doc.invalid(
                    n.name.referenced,
                    field,
                    format!(
                        "duplicate node name \"{}\" (first given at line {})",
                        n.name.value,
                        list.value[first].name.referenced.line()
                    ),
                ));
            }
            index.insert(&n.name.value, i);
        }

        // Who is a primary, before what the replicas point at: a file where
        // every node is a replica is best told so.
        if kind == Kind::Standalone
            && let Some((i, of)) = list
                .value
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
        let primaries: Vec<usize> = (0..list.value.len())
            .filter(|&i| list.value[i].replica_of.is_none())
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
                let (first, second) = (&list.value[primaries[0]], &list.value[primaries[1]]);
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

        for (i, n) in list.value.iter().enumerate() {
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
            if let Some(grand) = &list.value[target].replica_of {
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
                .value
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

        // Slots: from every primary or from none.
        let with: Vec<usize> = primaries
            .iter()
            .copied()
            .filter(|&i| list.value[i].slots.is_some())
            .collect();
        if !with.is_empty() && with.len() != primaries.len() {
            let without = primaries
                .iter()
                .copied()
                .find(|i| list.value[*i].slots.is_none())
                .expect("some primary has no slots");
            let (n, w) = (&list.value[without], &list.value[with[0]]);
            return Err(doc.invalid(
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
        let even = if kind == Kind::Cluster && with.is_empty() {
            even_split(primaries.len())
        } else {
            Vec::new()
        };

        let mut drafts = Vec::with_capacity(list.value.len());
        for (shard, &p) in primaries.iter().enumerate() {
            let mut members = vec![p];
            members.extend((0..list.value.len()).filter(|&i| {
                list.value[i]
                    .replica_of
                    .as_ref()
                    .is_some_and(|of| of.value == list.value[p].name.value)
            }));
            for i in members {
                let n = &list.value[i];
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
                if let Some(m) = &n.redis {
                    d.redis = Some((m, format!("{prefix}.redis")));
                }
                if role == Role::Primary && kind == Kind::Cluster {
                    d.slots = match &n.slots {
                        Some(s) => self.ranges(&s.value, &format!("{prefix}.slots"))?,
                        None => vec![(even[shard], None)],
                    };
                }
                drafts.push(d);
            }
        }
        Ok(drafts)
    }
}
