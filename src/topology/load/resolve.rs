//! The third pass: [`Resolver`] checks the meaning of the raw form and builds
//! the resolved [`Topology`]; the node lists come from `short_form` or
//! `explicit`, the cross-node checks from `validate`.

use std::collections::{BTreeMap, HashMap};

use serde_saphyr::Location;

use super::doc::Doc;
use super::error::{Result, TopologyError};
use super::limits::*;
use super::raw::{RawTopology, RedisMap, S};
use crate::slots::SlotRange;
use crate::topology::model::{
    AuthMode, ClusterSettings, Kind, Link, NodeSpec, Region, Role, SecuritySpec, Server, Topology,
};

/// Whether `s` may name a topology, region or node: lowercase letters,
/// digits and `-`, at most `NAME_MAX` bytes, since names end up inside
/// container, network and host names.
pub(crate) fn valid_name(s: &str) -> bool {
    (1..=NAME_MAX).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A kind as the file spells it, for messages that name the section to use.
pub(super) fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Cluster => "cluster",
        Kind::Standalone => "standalone",
        Kind::Replicated => "replicated",
    }
}

/// `a, b, c`, at most `max` of them.
pub(super) fn name_list<'a>(names: impl IntoIterator<Item = &'a str>, max: usize) -> String {
    let all: Vec<&str> = names.into_iter().collect();
    let mut out = all.iter().take(max).copied().collect::<Vec<_>>().join(", ");
    if all.len() > max {
        out.push_str(&format!(", ... ({} in all)", all.len()));
    }
    out
}

/// Slot ranges, each with where it was written (`None` for a generated range).
pub(super) type Slots = Vec<(SlotRange, Option<(Location, String)>)>;

/// A node on its way to a [`NodeSpec`], with where its settings came from.
pub(super) struct Draft<'r> {
    pub(super) name: String,
    /// Where the node is named in the file (`nodes[i].name`, or its key under
    /// `overrides`), if it is; and the field path prefix of its settings.
    pub(super) at: Option<(Location, String)>,
    pub(super) role: Role,
    pub(super) replica_of: Option<String>,
    pub(super) shard: usize,
    pub(super) region: String,
    pub(super) port: Option<(u16, Location, String)>,
    pub(super) image: Option<String>,
    pub(super) server: Option<Server>,
    pub(super) redis: Option<(&'r RedisMap, String)>,
    /// Slots with where each range was written (generated ranges have no position).
    pub(super) slots: Slots,
}

impl Draft<'_> {
    /// A node drafted with no per-node settings yet: the short forms draft each node, then
    /// overrides fill in port, image, redis and slots.
    pub(super) fn new(
        name: String,
        role: Role,
        replica_of: Option<String>,
        shard: usize,
        region: String,
    ) -> Self {
        Draft {
            name,
            at: None,
            role,
            replica_of,
            shard,
            region,
            port: None,
            image: None,
            server: None,
            redis: None,
            slots: Vec::new(),
        }
    }
}

/// Turns the raw form into a [`Topology`]: holds the document so that every check can point at
/// the value it refuses.
pub(super) struct Resolver<'a> {
    pub(super) doc: &'a Doc<'a>,
    pub(super) raw: &'a RawTopology,
}

impl<'a> Resolver<'a> {
    /// The resolved topology: the file's settings, then its nodes (from the
    /// short form or the `nodes` list), checked across nodes.
    pub(super) fn resolve(&self) -> Result<Topology> {
        let raw = self.raw;
        let name = self.name(&raw.name, "name")?;
        let kind = self.kind()?;
        let image = match &raw.image {
            Some(i) => Some(self.image(i, "image")?),
            None => None,
        };
        let server = match &raw.server {
            Some(s) => self.server(s, "server")?,
            None => Server::default(),
        };
        let regions = self.regions()?;
        let links = self.links(&regions)?;
        self.sections_match(kind)?;
        let node_timeout_ms = self.node_timeout_ms()?;
        let topology_config = match &raw.redis {
            Some(m) => self.redis(m, "redis")?,
            None => BTreeMap::new(),
        };
        let drafts = if raw.nodes.is_some() {
            self.explicit(kind, &regions)?
        } else {
            self.short_form(kind, &regions)?
        };
        self.check_ports(&drafts)?;
        if kind == Kind::Cluster {
            self.check_slots(&drafts)?;
        }
        let nodes = self.node_specs(drafts, &topology_config, &server)?;
        let sentinel = self.sentinel(&name, kind, &regions, &nodes, &server)?;
        Ok(Topology {
            name,
            kind,
            image,
            regions: regions.into_iter().map(|name| Region { name }).collect(),
            links,
            cluster: ClusterSettings { node_timeout_ms },
            nodes,
            security: self.security()?,
            sentinel,
            source: None,
        })
    }

    /// `security`: `tls` a boolean, `auth` one of none, password, acl.
    fn security(&self) -> Result<SecuritySpec> {
        let Some(raw) = &self.raw.security else {
            return Ok(SecuritySpec::default());
        };
        let auth = match &raw.auth {
            None => AuthMode::None,
            Some(a) => match a.value.as_str() {
                "none" => AuthMode::None,
                "password" => AuthMode::Password,
                "acl" => AuthMode::Acl,
                other => {
                    return Err(self.doc.invalid(
                        a.referenced,
                        "security.auth",
                        format!("unknown auth \"{other}\"; expected none, password or acl"),
                    ));
                }
            },
        };
        Ok(SecuritySpec {
            tls: raw.tls.as_ref().is_some_and(|t| t.value),
            auth,
        })
    }

    /// `kind`: one of the three.
    fn kind(&self) -> Result<Kind> {
        let raw = self.raw;
        Ok(match raw.kind.value.as_str() {
            "cluster" => Kind::Cluster,
            "standalone" => Kind::Standalone,
            "replicated" => Kind::Replicated,
            other => {
                return Err(self.doc.invalid(
                    raw.kind.referenced,
                    "kind",
                    format!("unknown kind \"{other}\"; expected cluster, standalone or replicated"),
                ));
            }
        })
    }

    /// The `cluster`, `standalone` and `replicated` sections: only the kind's own.
    fn sections_match(&self, kind: Kind) -> Result<()> {
        let raw = self.raw;
        let doc = self.doc;
        for (present, k) in [
            (raw.cluster.is_some(), Kind::Cluster),
            (raw.standalone.is_some(), Kind::Standalone),
            (raw.replicated.is_some(), Kind::Replicated),
        ] {
            if present && k != kind {
                let sec = kind_name(k);
                return Err(doc.invalid(
                    doc.key_or(&[sec], raw.kind.referenced),
                    sec,
                    format!(
                        "this section is only allowed with `kind: {sec}` (this topology is `kind: {}`)",
                        kind_name(kind)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `cluster.node_timeout_ms`, above 0, or the default.
    fn node_timeout_ms(&self) -> Result<u64> {
        Ok(
            match self
                .raw
                .cluster
                .as_ref()
                .and_then(|c| c.node_timeout_ms.as_ref())
            {
                Some(t) if t.value <= 0 => {
                    return Err(self.doc.invalid(
                        t.referenced,
                        "cluster.node_timeout_ms",
                        format!("must be greater than 0 (milliseconds), not {}", t.value),
                    ));
                }
                Some(t) => t.value as u64,
                None => DEFAULT_NODE_TIMEOUT_MS,
            },
        )
    }

    /// The drafts as nodes, each with the topology's `redis` directives
    /// under its own.
    fn node_specs(
        &self,
        drafts: Vec<Draft>,
        topology_config: &BTreeMap<String, String>,
        server: &Server,
    ) -> Result<Vec<NodeSpec>> {
        let mut nodes = Vec::with_capacity(drafts.len());
        for d in drafts {
            let mut config = topology_config.clone();
            if let Some((map, prefix)) = &d.redis {
                config.extend(self.redis(map, prefix)?);
            }
            nodes.push(NodeSpec {
                name: d.name,
                role: d.role,
                replica_of: d.replica_of,
                shard: d.shard,
                region: d.region,
                port: d.port.map(|(p, _, _)| p),
                image: d.image,
                server: d.server.unwrap_or_else(|| server.clone()),
                config,
                slots: d.slots.into_iter().map(|(r, _)| r).collect(),
            });
        }
        Ok(nodes)
    }

    /// `s` as a name, or an error at it (see [`valid_name`]).
    pub(super) fn name(&self, s: &S<String>, field: &str) -> Result<String> {
        if valid_name(&s.value) {
            Ok(s.value.clone())
        } else {
            Err(self.doc.invalid(
                s.referenced,
                field,
                format!(
                    "\"{}\" is not a valid name; use 1 to {NAME_MAX} lowercase letters, digits and '-'",
                    s.value.escape_debug()
                ),
            ))
        }
    }

    /// `s` as a server: a name redis-drill knows, or a path (see [`Server::parse`]).
    pub(super) fn server(&self, s: &S<String>, field: &str) -> Result<Server> {
        Server::parse(&s.value).map_err(|why| self.doc.invalid(s.referenced, field, why))
    }

    /// `s` as an image reference, trimmed; refused when empty or with white space inside (it
    /// goes on a command line).
    pub(super) fn image(&self, s: &S<String>, field: &str) -> Result<String> {
        let v = s.value.trim();
        if v.is_empty() || v.chars().any(char::is_whitespace) {
            return Err(self.doc.invalid(
                s.referenced,
                field,
                format!(
                    "\"{}\" is not an image reference (like redis:7.2)",
                    s.value.escape_debug()
                ),
            ));
        }
        Ok(v.to_string())
    }

    /// The declared region names, in file order, or the single default region when the file
    /// declares none; each name valid and declared once.
    pub(super) fn regions(&self) -> Result<Vec<String>> {
        let Some(list) = &self.raw.regions else {
            return Ok(vec![DEFAULT_REGION.to_string()]);
        };
        if list.value.is_empty() {
            return Err(self.doc.invalid(
                list.referenced,
                "regions",
                format!("the list is empty; leave `regions` out for one region named \"{DEFAULT_REGION}\""),
            ));
        }
        let mut seen: HashMap<&str, Location> = HashMap::new();
        let mut out = Vec::new();
        for (i, r) in list.value.iter().enumerate() {
            let field = format!("regions[{i}].name");
            let name = self.name(&r.name, &field)?;
            if let Some(first) = seen.get(r.name.value.as_str()) {
                return Err(self.doc.invalid(
                    r.name.referenced,
                    field,
                    format!(
                        "duplicate region name \"{name}\" (first given at line {})",
                        first.line()
                    ),
                ));
            }
            seen.insert(&r.name.value, r.name.referenced);
            out.push(name);
        }
        Ok(out)
    }

    /// The `links` list: each between two different known regions, no pair
    /// twice (in either order), every figure in its range.
    pub(super) fn links(&self, regions: &[String]) -> Result<Vec<Link>> {
        let Some(list) = &self.raw.links else {
            return Ok(Vec::new());
        };
        let mut out: Vec<(Link, Location)> = Vec::new();
        for (i, raw) in list.value.iter().enumerate() {
            let prefix = format!("links[{i}]");
            let between = &raw.between;
            let [a, b] = between.value.as_slice() else {
                return Err(self.doc.invalid(
                    between.referenced,
                    format!("{prefix}.between"),
                    format!(
                        "a link is between exactly two regions, not {}",
                        between.value.len()
                    ),
                ));
            };
            let a_name = self.region(a, &format!("{prefix}.between[0]"), regions)?;
            let b_name = self.region(b, &format!("{prefix}.between[1]"), regions)?;
            if a_name == b_name {
                return Err(self.doc.invalid(
                    b.referenced,
                    format!("{prefix}.between[1]"),
                    format!(
                        "a link joins two different regions; traffic inside \"{a_name}\" is never impaired"
                    ),
                ));
            }
            if let Some((_, first)) = out.iter().find(|(l, _)| l.joins(&a_name, &b_name)) {
                return Err(self.doc.invalid(
                    between.referenced,
                    format!("{prefix}.between"),
                    format!(
                        "the link between \"{a_name}\" and \"{b_name}\" is already given at line {}",
                        first.line()
                    ),
                ));
            }
            let delay_ms =
                self.figure(&raw.delay_ms, &format!("{prefix}.delay_ms"), LINK_DELAY_MS)?;
            let jitter_ms = match &raw.jitter_ms {
                Some(j) => {
                    let field = format!("{prefix}.jitter_ms");
                    let v = self.figure(j, &field, LINK_DELAY_MS)?;
                    if v > delay_ms {
                        return Err(self.doc.invalid(
                            j.referenced,
                            field,
                            format!(
                                "{v} ms of jitter is more than the {delay_ms} ms delay; a delay cannot go below 0"
                            ),
                        ));
                    }
                    v
                }
                None => 0.0,
            };
            let loss_pct = match &raw.loss_pct {
                Some(l) => self.figure(l, &format!("{prefix}.loss_pct"), LINK_LOSS_PCT)?,
                None => 0.0,
            };
            let rate_mbit = match &raw.rate_mbit {
                Some(r) => Some(self.figure(r, &format!("{prefix}.rate_mbit"), LINK_RATE_MBIT)?),
                None => None,
            };
            out.push((
                Link {
                    between: [a_name, b_name],
                    delay_ms,
                    jitter_ms,
                    loss_pct,
                    rate_mbit,
                },
                between.referenced,
            ));
        }
        Ok(out.into_iter().map(|(l, _)| l).collect())
    }

    /// A link figure inside its range (`range.0` to `range.1`, with
    /// `range.2` saying what the bounds mean).
    pub(super) fn figure(&self, s: &S<f64>, field: &str, range: FigureRange) -> Result<f64> {
        let (min, max, unit, open_min) = range;
        let v = s.value;
        let below = if open_min { v <= min } else { v < min };
        if !v.is_finite() || below || v > max {
            let low = if open_min {
                format!("more than {min}")
            } else {
                format!("from {min}")
            };
            return Err(self.doc.invalid(
                s.referenced,
                field,
                format!("{v} is out of range ({low} to {max} {unit})"),
            ));
        }
        Ok(v)
    }

    /// `s` as one of the declared `regions`, or an error at it that lists them.
    pub(super) fn region(&self, s: &S<String>, field: &str, regions: &[String]) -> Result<String> {
        if regions.contains(&s.value) {
            return Ok(s.value.clone());
        }
        let known = if self.raw.regions.is_none() {
            format!(
                "this topology has one region, \"{DEFAULT_REGION}\" (add a `regions` list to name others)"
            )
        } else {
            format!(
                "the regions are {}",
                name_list(regions.iter().map(String::as_str), 20)
            )
        };
        Err(self.doc.invalid(
            s.referenced,
            field,
            format!("no region named \"{}\"; {known}", s.value.escape_debug()),
        ))
    }

    /// `s` as a port (1-65535), with where it was written and its field, so
    /// that a port two nodes share is reported at the later one.
    pub(super) fn port(&self, s: &S<i64>, field: &str) -> Result<(u16, Location, String)> {
        match u16::try_from(s.value) {
            Ok(p) if p > 0 => Ok((p, s.referenced, field.to_string())),
            _ => Err(self.doc.invalid(
                s.referenced,
                field,
                format!("port {} is out of range (1-65535)", s.value),
            )),
        }
    }

    /// A count that must be at least `min`.
    pub(super) fn count(&self, s: &S<i64>, field: &str, min: i64) -> Result<usize> {
        if s.value < min {
            let what = if min == 0 { "0 or more" } else { "at least 1" };
            return Err(self.doc.invalid(
                s.referenced,
                field,
                format!("must be {what}, not {}", s.value),
            ));
        }
        if s.value as u64 > MAX_NODES as u64 {
            return Err(self.too_many(s.referenced, field, s.value as u64));
        }
        Ok(s.value as usize)
    }

    /// The error for a topology of more nodes than one machine runs (`MAX_NODES`), at the count
    /// that asks for them.
    pub(super) fn too_many(&self, loc: Location, field: &str, n: u64) -> TopologyError {
        self.doc.invalid(
            loc,
            field,
            format!("{n} nodes is more than redis-drill runs on one machine (at most {MAX_NODES})"),
        )
    }
}
