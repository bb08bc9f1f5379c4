//! The short form: counts (`shards`, `replicas`, `primaries`) that expand into
//! generated, named nodes, with per-node overrides.

use serde_saphyr::Location;

use super::error::{Result, TopologyError};
use super::limits::MAX_NODES;
use super::raw::S;
use super::resolve::{Draft, Resolver, Slots, name_list};
use crate::slots::{SlotRange, even_split};
use crate::topology::model::{Kind, Role};

impl<'a> Resolver<'a> {
    /// The short-form counts the file gives, with their positions.
    pub(super) fn short_form_fields(&self) -> Vec<(&'static str, Location)> {
        let raw = self.raw;
        let mut out = Vec::new();
        let doc = self.doc;
        let mut add = |path: &'static str, loc: Option<Location>| {
            if let Some(l) = loc {
                let keys: Vec<&str> = path.split('.').collect();
                out.push((path, doc.key_or(&keys, l)));
            }
        };
        if let Some(c) = &raw.cluster {
            add("cluster.shards", c.shards.as_ref().map(|s| s.referenced));
            add(
                "cluster.replicas",
                c.replicas.as_ref().map(|s| s.referenced),
            );
            add("cluster.slots", c.slots.as_ref().map(|s| s.referenced));
        }
        if let Some(s) = &raw.standalone {
            add(
                "standalone.primaries",
                s.primaries.as_ref().map(|s| s.referenced),
            );
        }
        if let Some(r) = &raw.replicated {
            add(
                "replicated.replicas",
                r.replicas.as_ref().map(|s| s.referenced),
            );
        }
        out
    }

    /// The drafts of the short form: the kind's counts expanded into named
    /// nodes, then the `overrides` applied by name.
    pub(super) fn short_form(&self, kind: Kind, regions: &[String]) -> Result<Vec<Draft<'a>>> {
        let mut drafts = match kind {
            Kind::Cluster => self.short_cluster(regions)?,
            Kind::Standalone => self.short_standalone(regions)?,
            Kind::Replicated => self.short_replicated(regions)?,
        };
        self.short_overrides(&mut drafts, regions)?;
        Ok(drafts)
    }

    /// "no nodes: give ... or a `nodes` list", at the kind's section when the
    /// file has one, else at `kind`.
    fn no_nodes(&self, section: &str, what: &str) -> TopologyError {
        let (loc, field) = match self.doc.key_loc(&[section]) {
            Some(l) => (l, section.to_string()),
            None => (self.raw.kind.referenced, "kind".to_string()),
        };
        self.doc.invalid(
            loc,
            field,
            format!("no nodes: give {what} or a `nodes` list"),
        )
    }

    /// `cluster.shards` shards of one primary `s<i>n1` and `cluster.replicas`
    /// replicas `s<i>n2...`, spread over the regions in turn.
    fn short_cluster(&self, regions: &[String]) -> Result<Vec<Draft<'a>>> {
        let k = regions.len();
        let c = self.raw.cluster.as_ref();
        let Some(shards) = c.and_then(|c| c.shards.as_ref()) else {
            return Err(self.no_nodes("cluster", "`cluster.shards` (and `cluster.replicas`)"));
        };
        let n = self.count(shards, "cluster.shards", 1)?;
        let r = match c.and_then(|c| c.replicas.as_ref()) {
            Some(r) => self.count(r, "cluster.replicas", 0)?,
            None => 0,
        };
        if n * (r + 1) > MAX_NODES {
            return Err(self.too_many(shards.referenced, "cluster.shards", (n * (r + 1)) as u64));
        }
        let slots = match c.and_then(|c| c.slots.as_ref()) {
            Some(s) => self.short_slots(s, n)?,
            None => even_split(n).into_iter().map(|r| vec![(r, None)]).collect(),
        };
        let mut drafts = Vec::new();
        for (i, shard_slots) in (1..=n).zip(slots) {
            let primary = format!("s{i}n1");
            let mut p = Draft::new(
                primary.clone(),
                Role::Primary,
                None,
                i - 1,
                regions[(i - 1) % k].clone(),
            );
            p.slots = shard_slots;
            drafts.push(p);
            for j in 1..=r {
                drafts.push(Draft::new(
                    format!("s{i}n{}", j + 1),
                    Role::Replica,
                    Some(primary.clone()),
                    i - 1,
                    regions[(i - 1 + j) % k].clone(),
                ));
            }
        }
        Ok(drafts)
    }

    /// `standalone.primaries` independent primaries `n1...`.
    fn short_standalone(&self, regions: &[String]) -> Result<Vec<Draft<'a>>> {
        let k = regions.len();
        let Some(p) = self
            .raw
            .standalone
            .as_ref()
            .and_then(|s| s.primaries.as_ref())
        else {
            return Err(self.no_nodes("standalone", "`standalone.primaries`"));
        };
        let n = self.count(p, "standalone.primaries", 1)?;
        Ok((1..=n)
            .map(|i| {
                Draft::new(
                    format!("n{i}"),
                    Role::Primary,
                    None,
                    i - 1,
                    regions[(i - 1) % k].clone(),
                )
            })
            .collect())
    }

    /// One primary `n1` and `replicated.replicas` replicas `n2...`.
    fn short_replicated(&self, regions: &[String]) -> Result<Vec<Draft<'a>>> {
        let raw = self.raw;
        let k = regions.len();
        let Some(r) = raw.replicated.as_ref().and_then(|s| s.replicas.as_ref()) else {
            return Err(self.no_nodes("replicated", "`replicated.replicas`"));
        };
        let r = self.count(r, "replicated.replicas", 0)?;
        if r + 1 > MAX_NODES {
            return Err(self.too_many(raw.kind.referenced, "replicated.replicas", (r + 1) as u64));
        }
        let mut drafts = vec![Draft::new(
            "n1".into(),
            Role::Primary,
            None,
            0,
            regions[0].clone(),
        )];
        for j in 1..=r {
            drafts.push(Draft::new(
                format!("n{}", j + 1),
                Role::Replica,
                Some("n1".into()),
                0,
                regions[j % k].clone(),
            ));
        }
        Ok(drafts)
    }

    /// `overrides`: per-node region, port, image and directives, by the
    /// generated node's name.
    fn short_overrides(&self, drafts: &mut [Draft<'a>], regions: &[String]) -> Result<()> {
        let doc = self.doc;
        let Some(overrides) = &self.raw.overrides else {
            return Ok(());
        };
        for (key, ov) in &overrides.0 {
            let prefix = format!("overrides.{}", key.value);
            let names = name_list(drafts.iter().map(|d| d.name.as_str()), 12);
            let Some(d) = drafts.iter_mut().find(|d| d.name == key.value) else {
                return Err(doc.invalid(
                    key.referenced,
                    prefix,
                    format!(
                        "no node named \"{}\"; this topology's nodes are {names}",
                        key.value.escape_debug(),
                    ),
                ));
            };
            d.at = Some((key.referenced, prefix.clone()));
            if let Some(r) = &ov.region {
                d.region = self.region(r, &format!("{prefix}.region"), regions)?;
            }
            if let Some(p) = &ov.port {
                d.port = Some(self.port(p, &format!("{prefix}.port"))?);
            }
            if let Some(i) = &ov.image {
                d.image = Some(self.image(i, &format!("{prefix}.image"))?);
            }
            if let Some(s) = &ov.server {
                d.server = Some(self.server(s, &format!("{prefix}.server"))?);
            }
            if let Some(m) = &ov.redis {
                d.redis = Some((m, format!("{prefix}.redis")));
            }
        }
        Ok(())
    }

    /// `cluster.slots`: one list of ranges per shard.
    pub(super) fn short_slots(
        &self,
        s: &S<Vec<Vec<S<String>>>>,
        shards: usize,
    ) -> Result<Vec<Slots>> {
        if s.value.len() != shards {
            return Err(self.doc.invalid(
                s.referenced,
                "cluster.slots",
                format!(
                    "has {} entries but `cluster.shards` is {shards}; give one list of ranges per shard",
                    s.value.len()
                ),
            ));
        }
        s.value
            .iter()
            .enumerate()
            .map(|(i, ranges)| self.ranges(ranges, &format!("cluster.slots[{i}]")))
            .collect()
    }

    /// One shard's `cluster.slots` entries parsed as slot ranges, each with where it was
    /// written, for the coverage and overlap checks.
    pub(super) fn ranges(&self, ranges: &[S<String>], prefix: &str) -> Result<Slots> {
        ranges
            .iter()
            .enumerate()
            .map(|(j, r)| {
                let field = format!("{prefix}[{j}]");
                match r.value.parse::<SlotRange>() {
                    Ok(range) => Ok((range, Some((r.referenced, field)))),
                    Err(e) => Err(self.doc.invalid(r.referenced, field, e.to_string())),
                }
            })
            .collect()
    }
}
