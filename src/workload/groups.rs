//! `workload.clients`: how many app clients, of which client library.
//!
//! ```yaml
//! clients: 8                                   # eight redis-rs app clients
//! clients:                                     # or groups, one per library
//!   - {library: redis-rs, count: 8}
//!   - {library: redis-py, count: 8}
//!   - {library: redis-py, count: 8, name: redis-py-refresh,
//!      settings: {reinitialize_steps: 1}}
//! ```
//!
//! redis-rs is built in; every other library runs as an adapter process
//! ([`super::adapter`]) whose group is reported apart, under its name. Pure:
//! parsing and checking.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The built-in library: the tool's own redis-rs cluster client.
pub const REDIS_RS: &str = "redis-rs";

/// The app clients of a workload: the built-in redis-rs ones, and groups of
/// other libraries' clients run by adapters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Clients {
    /// redis-rs app clients (the number `clients: N` gives).
    pub redis_rs: u32,
    /// Groups of another library's clients, in the order given.
    pub groups: Vec<ClientGroup>,
}

/// One group of a library's clients, run by that library's adapter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientGroup {
    /// The library, as the shipped adapters name it (`redis-py`, ...).
    pub library: String,
    /// Clients: each a client object of the library, with its own connections.
    pub count: u32,
    /// How the report names the group (default: the library's name); two
    /// groups of one library with different settings need a name each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The library's settings, by the library's own names, passed to its
    /// client as they are (and recorded in the report as the library runs
    /// with them, defaults included).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// The region whose host runs these clients, as a worker (the swarm
    /// runtime: a container of the tool's own binary on an engine of the
    /// region, its clock offset estimated). redis-rs only; its settings are
    /// the workload's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl ClientGroup {
    /// The group's name in the report: its `name`, else its library's
    /// (with its region, for a worker: `redis-rs@us-east`).
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.library)
    }

    /// Whether it runs as a worker on its region's host.
    pub fn is_worker(&self) -> bool {
        self.region.is_some()
    }
}

impl From<u32> for Clients {
    fn from(redis_rs: u32) -> Clients {
        Clients {
            redis_rs,
            groups: Vec::new(),
        }
    }
}

impl Clients {
    /// App clients of the adapters' groups.
    pub fn adapted(&self) -> u32 {
        self.groups.iter().map(|g| g.count).sum()
    }

    /// App clients of every library.
    pub fn all(&self) -> u32 {
        self.redis_rs + self.adapted()
    }

    /// What is wrong with the groups, if anything: a count of 0, a name
    /// given twice, redis-rs with settings (its settings are the workload's
    /// own fields).
    pub fn problem(&self) -> Option<String> {
        let mut seen: Vec<&str> = Vec::new();
        if self.redis_rs > 0 && !self.groups.is_empty() {
            seen.push(REDIS_RS);
        }
        for g in &self.groups {
            if g.count == 0 {
                return Some(format!("clients: the {} group has count 0", g.label()));
            }
            if g.label().is_empty() {
                return Some("clients: a group's name is empty".into());
            }
            if let Some(r) = &g.region
                && (self.groups.iter())
                    .filter(|o| o.region.as_ref() == Some(r))
                    .count()
                    > 1
            {
                return Some(format!(
                    "clients: two groups run as workers in region {r}; one worker a region (give it the count of both)"
                ));
            }
            if seen.contains(&g.label()) {
                return Some(format!(
                    "clients: two groups are named {}; give one a `name:` of its own",
                    g.label()
                ));
            }
            seen.push(g.label());
        }
        None
    }

    /// Why these groups cannot run against a topology of this kind, if
    /// they cannot: adapters drive a library's cluster client, or its
    /// Sentinel client on a replicated topology with Sentinels.
    pub fn topology_problem(&self, kind: crate::topology::Kind, sentinels: bool) -> Option<String> {
        use crate::topology::Kind;
        if self.groups.is_empty() {
            return None;
        }
        match kind {
            Kind::Cluster => None,
            Kind::Replicated if sentinels => self.groups.iter().find_map(|g| {
                super::adapter::no_sentinel_client(&g.library).map(|why| {
                    format!(
                        "the {} group cannot ask the Sentinels where the primary is: {why} (redis-py and valkey-py can)",
                        g.label()
                    )
                })
            }),
            Kind::Replicated => Some(
                "client libraries other than redis-rs run against a replicated topology through its Sentinels, and this one has no `sentinel:`".into(),
            ),
            Kind::Standalone => Some(
                "client libraries other than redis-rs run against a cluster or a replicated topology with Sentinels; this topology is standalone (not built yet)".into(),
            ),
        }
    }
}

impl Serialize for Clients {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.groups.is_empty() {
            return s.serialize_u32(self.redis_rs);
        }
        let mut all = Vec::new();
        if self.redis_rs > 0 {
            all.push(ClientGroup {
                library: REDIS_RS.into(),
                count: self.redis_rs,
                name: None,
                settings: serde_json::Map::new(),
                region: None,
            });
        }
        all.extend(self.groups.iter().cloned());
        all.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Clients {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Clients;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a number of redis-rs clients, or a list of groups ({library: redis-py, count: 8, settings: {...}})",
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Clients, E> {
                u32::try_from(v)
                    .map(Clients::from)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Clients, E> {
                u32::try_from(v)
                    .map(Clients::from)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Clients, A::Error> {
                let mut out = Clients::default();
                let mut rs = false;
                // Bounded by the document.
                while let Some(mut g) = seq.next_element::<ClientGroup>()? {
                    if g.library == REDIS_RS && g.region.is_some() {
                        if !g.settings.is_empty() {
                            return Err(de::Error::custom(
                                "a redis-rs worker takes no `settings:`: its settings are the workload's own fields (timeout_ms, app_retries)",
                            ));
                        }
                        if g.name.is_none() {
                            g.name =
                                Some(format!("{REDIS_RS}@{}", g.region.as_deref().unwrap_or("")));
                        }
                        out.groups.push(g);
                    } else if g.region.is_some() {
                        return Err(de::Error::custom(format!(
                            "{}: only redis-rs runs as a worker on a region's host (`region:`); the other libraries' adapters run beside the controller",
                            g.library
                        )));
                    } else if g.library == REDIS_RS {
                        if rs {
                            return Err(de::Error::custom(
                                "redis-rs is listed twice (it is one group: the workload's own settings apply to it)",
                            ));
                        }
                        if !g.settings.is_empty() || g.name.is_some() {
                            return Err(de::Error::custom(
                                "redis-rs takes no `settings:` or `name:` here: its settings are the workload's own fields (timeout_ms, app_retries, app_connection, replica_reads)",
                            ));
                        }
                        rs = true;
                        out.redis_rs = g.count;
                    } else {
                        out.groups.push(g);
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Clients, String> {
        serde_saphyr::from_str::<Clients>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn a_number_is_redis_rs_clients_and_a_list_is_groups() {
        assert_eq!(parse("8").unwrap(), Clients::from(8));
        let c = parse(
            "- {library: redis-rs, count: 4}\n- {library: redis-py, count: 2, settings: {socket_timeout: 1}}\n",
        )
        .unwrap();
        assert_eq!(c.redis_rs, 4);
        assert_eq!(c.groups.len(), 1);
        assert_eq!(c.groups[0].label(), "redis-py");
        assert_eq!(c.groups[0].settings["socket_timeout"], 1);
        assert_eq!((c.adapted(), c.all()), (2, 6));
        assert_eq!(c.problem(), None);
    }

    #[test]
    fn groups_round_trip_and_a_plain_count_stays_a_number() {
        let c =
            parse("- {library: redis-rs, count: 4}\n- {library: redis-py, count: 2}\n").unwrap();
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back[0]["library"], "redis-rs");
        assert_eq!(back[1]["count"], 2);
        assert_eq!(serde_json::to_value(Clients::from(3)).unwrap(), 3);
    }

    #[test]
    fn bad_groups_are_named() {
        let e = parse("- {library: redis-rs, count: 1}\n- {library: redis-rs, count: 2}\n")
            .unwrap_err();
        assert!(e.contains("listed twice"), "{e}");
        let e = parse("- {library: redis-rs, count: 1, settings: {a: 1}}\n").unwrap_err();
        assert!(e.contains("workload's own fields"), "{e}");
        let e = parse("- {library: redis-py, count: 1, retries: 3}\n").unwrap_err();
        assert!(e.contains("retries"), "{e}");
        let c =
            parse("- {library: redis-py, count: 1}\n- {library: redis-py, count: 2}\n").unwrap();
        assert!(
            c.problem()
                .unwrap()
                .contains("two groups are named redis-py")
        );
        let c = parse("- {library: redis-py, count: 0}\n").unwrap();
        assert!(c.problem().unwrap().contains("count 0"));
        let c =
            parse("- {library: redis-py, count: 1}\n- {library: redis-py, count: 1, name: b}\n")
                .unwrap();
        assert_eq!(c.problem(), None);
    }
}
