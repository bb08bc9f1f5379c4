//! The raw form: exactly what a file may say, `deny_unknown_fields`
//! everywhere, with [`Spanned`] values where a later check points at them.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Short for a value with its position: the raw form has one on nearly every field.
pub(super) type S<T> = Spanned<T>;

/// A topology file as written, before any default or cross-field rule: each field optional
/// where the file may leave it out, with its position for errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTopology {
    pub(super) name: S<String>,
    pub(super) kind: S<String>,
    pub(super) image: Option<S<String>>,
    pub(super) server: Option<S<String>>,
    pub(super) regions: Option<S<Vec<RawRegion>>>,
    pub(super) links: Option<S<Vec<RawLink>>>,
    pub(super) redis: Option<RedisMap>,
    pub(super) cluster: Option<RawCluster>,
    pub(super) standalone: Option<RawStandalone>,
    pub(super) replicated: Option<RawReplicated>,
    pub(super) overrides: Option<Entries<RawOverride>>,
    pub(super) nodes: Option<S<Vec<RawNode>>>,
    pub(super) security: Option<RawSecurity>,
    pub(super) sentinel: Option<S<RawSentinel>>,
}

/// `sentinel:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSentinel {
    pub(super) count: Option<S<i64>>,
    pub(super) quorum: Option<S<i64>>,
    pub(super) down_after_ms: Option<S<i64>>,
    pub(super) failover_timeout_ms: Option<S<i64>>,
    pub(super) parallel_syncs: Option<S<i64>>,
    pub(super) placement: Option<S<Vec<S<RawPlacement>>>>,
}

/// One `sentinel.placement` entry: beside a node, or on its own in a region.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlacement {
    pub(super) host: Option<S<String>>,
    pub(super) region: Option<S<String>>,
}

/// `security:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecurity {
    pub(super) tls: Option<S<bool>>,
    pub(super) auth: Option<S<String>>,
}

/// One `regions:` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegion {
    pub(super) name: S<String>,
}

/// One `links:` entry as written: the two regions and the link's figures, checked later.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLink {
    pub(super) between: S<Vec<S<String>>>,
    pub(super) delay_ms: S<f64>,
    pub(super) jitter_ms: Option<S<f64>>,
    pub(super) loss_pct: Option<S<f64>>,
    pub(super) rate_mbit: Option<S<f64>>,
}

/// The `cluster:` short form as written: counts and the optional explicit slot ranges per
/// shard.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub(super) shards: Option<S<i64>>,
    pub(super) replicas: Option<S<i64>>,
    pub(super) node_timeout_ms: Option<S<i64>>,
    pub(super) slots: Option<S<Vec<Vec<S<String>>>>>,
}

/// The `standalone:` short form as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStandalone {
    pub(super) primaries: Option<S<i64>>,
}

/// The `replicated:` short form as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReplicated {
    pub(super) replicas: Option<S<i64>>,
}

/// One `overrides:` entry as written: settings for one node of a short form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOverride {
    pub(super) region: Option<S<String>>,
    pub(super) port: Option<S<i64>>,
    pub(super) image: Option<S<String>>,
    pub(super) server: Option<S<String>>,
    pub(super) redis: Option<RedisMap>,
}

/// One `nodes:` entry as written (the explicit form).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    pub(super) name: S<String>,
    pub(super) replica_of: Option<S<String>>,
    pub(super) region: Option<S<String>>,
    pub(super) port: Option<S<i64>>,
    pub(super) image: Option<S<String>>,
    pub(super) server: Option<S<String>>,
    pub(super) redis: Option<RedisMap>,
    pub(super) slots: Option<S<Vec<S<String>>>>,
}

/// A `redis:` mapping of directives, in file order with positions, so that a bad directive is
/// reported where it stands.
pub(super) type RedisMap = Entries<S<RedisValue>>;

/// A mapping kept in file order, each key with its position (serde's maps
/// would lose both).
#[derive(Debug)]
pub(super) struct Entries<V>(pub(super) Vec<(S<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V_<V> {
            type Value = Entries<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key()? {
                    out.push((k, map.next_value()?));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V_(PhantomData))
    }
}

/// The value of a redis.conf directive as written. Lists and mappings are kept
/// only as a note, so validation can reject them with a position.
#[derive(Debug)]
pub(super) enum RedisValue {
    Text(String),
    Null,
    Nested(&'static str),
}

impl<'de> Deserialize<'de> for RedisValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_;
        impl<'de> Visitor<'de> for V_ {
            type Value = RedisValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number or a bool")
            }
            fn visit_bool<E>(self, v: bool) -> Result<RedisValue, E> {
                Ok(RedisValue::Text(if v { "yes" } else { "no" }.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RedisValue, E> {
                Ok(RedisValue::Text(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RedisValue, E> {
                Ok(RedisValue::Text(v.to_string()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<RedisValue, E> {
                Ok(RedisValue::Text(v.to_string()))
            }
            fn visit_u128<E>(self, v: u128) -> Result<RedisValue, E> {
                Ok(RedisValue::Text(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RedisValue, E> {
                Ok(RedisValue::Text(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<RedisValue, E> {
                Ok(RedisValue::Text(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<RedisValue, E> {
                Ok(RedisValue::Null)
            }
            fn visit_none<E>(self) -> Result<RedisValue, E> {
                Ok(RedisValue::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RedisValue, D::Error> {
                RedisValue::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RedisValue, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RedisValue::Nested("a list"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RedisValue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(RedisValue::Nested("a mapping"))
            }
        }
        d.deserialize_any(V_)
    }
}
