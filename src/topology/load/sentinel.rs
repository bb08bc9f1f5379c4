//! `sentinel:`: Redis Sentinels watching a replicated topology's primary,
//! checked at their lines before anything starts.

use super::error::Result;
use super::limits::*;
use super::raw::S;
use super::resolve::{Resolver, kind_name, name_list};
use crate::topology::model::{Kind, NodeSpec, SentinelSpec, Sentinels, Server};

impl Resolver<'_> {
    /// The Sentinels, from `sentinel:` and the resolved nodes; `None`
    /// without the section.
    pub(super) fn sentinel(
        &self,
        name: &str,
        kind: Kind,
        regions: &[String],
        nodes: &[NodeSpec],
        server: &Server,
    ) -> Result<Option<Sentinels>> {
        let Some(raw) = &self.raw.sentinel else {
            return Ok(None);
        };
        let at = raw.referenced;
        let raw = &raw.value;
        if kind != Kind::Replicated {
            return Err(self.doc.invalid(
                at,
                "sentinel",
                format!(
                    "Sentinels watch a primary and its replicas: `sentinel` goes with `kind: replicated`, not `kind: {}`",
                    kind_name(kind)
                ),
            ));
        }
        if self.raw.security.is_some() {
            return Err(self.doc.invalid(
                at,
                "sentinel",
                "Sentinels with `security:` (TLS, passwords) are not supported yet: remove one of the two",
            ));
        }
        let count = match &raw.count {
            Some(c) => self.bounded(c, "sentinel.count", 1, MAX_SENTINELS)?,
            None => DEFAULT_SENTINELS,
        };
        let quorum = match &raw.quorum {
            Some(q) if q.value > count => {
                return Err(self.doc.invalid(
                    q.referenced,
                    "sentinel.quorum",
                    format!(
                        "a quorum of {} is more than the {count} Sentinels (`sentinel.count`): the primary could never be judged down",
                        q.value
                    ),
                ));
            }
            Some(q) => self.bounded(q, "sentinel.quorum", 1, count)?,
            None => count / 2 + 1,
        };
        let ms = |s: &Option<S<i64>>, field: &str, default: i64| match s {
            Some(v) => self.bounded(v, field, 1, MAX_SENTINEL_MS),
            None => Ok(default),
        };
        let down_after_ms = ms(
            &raw.down_after_ms,
            "sentinel.down_after_ms",
            DEFAULT_DOWN_AFTER_MS,
        )?;
        let failover_timeout_ms = ms(
            &raw.failover_timeout_ms,
            "sentinel.failover_timeout_ms",
            DEFAULT_FAILOVER_TIMEOUT_MS,
        )?;
        let parallel_syncs = match &raw.parallel_syncs {
            Some(p) => self.bounded(p, "sentinel.parallel_syncs", 1, MAX_NODES as i64)?,
            None => 1,
        };
        if let Some(n) = nodes.iter().find(|n| is_sentinel_name(&n.name)) {
            return Err(self.doc.invalid(
                at,
                "sentinel",
                format!(
                    "node {} has a Sentinel's name (sentinel1, sentinel2, …): rename the node",
                    n.name
                ),
            ));
        }
        let members = self.placement(raw.placement.as_ref(), count, regions, nodes, server)?;
        Ok(Some(Sentinels {
            master_name: name.to_string(),
            quorum: quorum as u32,
            down_after_ms: down_after_ms as u64,
            failover_timeout_ms: failover_timeout_ms as u64,
            parallel_syncs: parallel_syncs as u32,
            members,
        }))
    }

    /// Where each Sentinel runs: as `placement` says (one entry per
    /// Sentinel), else Sentinel i beside node i, and those beyond the nodes
    /// in the regions in turn.
    fn placement(
        &self,
        placement: Option<&S<Vec<S<super::raw::RawPlacement>>>>,
        count: i64,
        regions: &[String],
        nodes: &[NodeSpec],
        topology_server: &Server,
    ) -> Result<Vec<SentinelSpec>> {
        let name = |i: usize| format!("sentinel{}", i + 1);
        let Some(list) = placement else {
            return Ok((0..count as usize)
                .map(|i| match nodes.get(i) {
                    Some(n) => SentinelSpec {
                        name: name(i),
                        region: n.region.clone(),
                        host: Some(n.name.clone()),
                        server: n.server.clone(),
                        field: "sentinel".into(),
                    },
                    None => SentinelSpec {
                        name: name(i),
                        region: regions[i % regions.len()].clone(),
                        host: None,
                        server: topology_server.clone(),
                        field: "sentinel".into(),
                    },
                })
                .collect());
        };
        if list.value.len() as i64 != count {
            return Err(self.doc.invalid(
                list.referenced,
                "sentinel.placement",
                format!(
                    "{} entries for {count} Sentinels (`sentinel.count`): give one per Sentinel, or leave `placement` out",
                    list.value.len()
                ),
            ));
        }
        let mut out = Vec::new();
        for (i, entry) in list.value.iter().enumerate() {
            let field = format!("sentinel.placement[{i}]");
            let spec = match (&entry.value.host, &entry.value.region) {
                (Some(h), None) => {
                    let Some(n) = nodes.iter().find(|n| n.name == h.value) else {
                        return Err(self.doc.invalid(
                            h.referenced,
                            format!("{field}.host"),
                            format!(
                                "no node named \"{}\"; this topology's nodes are {}",
                                h.value.escape_debug(),
                                name_list(nodes.iter().map(|n| n.name.as_str()), 20)
                            ),
                        ));
                    };
                    SentinelSpec {
                        name: name(i),
                        region: n.region.clone(),
                        host: Some(n.name.clone()),
                        server: n.server.clone(),
                        field,
                    }
                }
                (None, Some(r)) => SentinelSpec {
                    name: name(i),
                    region: self.region(r, &format!("{field}.region"), regions)?,
                    host: None,
                    server: topology_server.clone(),
                    field,
                },
                _ => {
                    return Err(self.doc.invalid(
                        entry.referenced,
                        field,
                        "give either `host: NODE` (beside a node) or `region: REGION` (a machine of its own), one of the two",
                    ));
                }
            };
            out.push(spec);
        }
        Ok(out)
    }

    /// An integer from `min` to `max`, or an error at it naming the range.
    fn bounded(&self, s: &S<i64>, field: &str, min: i64, max: i64) -> Result<i64> {
        if s.value < min || s.value > max {
            return Err(self.doc.invalid(
                s.referenced,
                field,
                format!("{} is out of range ({min} to {max})", s.value),
            ));
        }
        Ok(s.value)
    }
}

/// Whether `name` is one the Sentinels take (`sentinel` and digits).
pub(crate) fn is_sentinel_name(name: &str) -> bool {
    name.strip_prefix("sentinel")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}
