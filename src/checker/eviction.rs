//! Eviction: what a `maxmemory-policy` allows the checkers to accept, and
//! the clients' own hit ratio, whole and on the hot keys, by phase.
//!
//! Under an `allkeys-*` policy any key may vanish at any time, so a nil read
//! (or a key missing at the end) is no lost write: it is counted as evicted,
//! apart. Under a `volatile-*` policy only keys with a TTL may be evicted,
//! and those may expire anyway: nothing more is acceptable. An *older* value
//! is never acceptable under any policy: eviction removes keys, it does not
//! bring back values (the stale-read check judges those).
//!
//! The hit ratio is the figure; the nodes' `INFO stats` keyspace hits and
//! misses are its cross-check (see [`crate::cluster::keyspace`]).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::record::ops::{Op, OpKind};
pub use crate::record::run::Eviction;
use crate::record::timeline::Phase;

/// The share of GETs on the hottest keys: 1% of the keys read, at least one.
pub const HOT_SHARE: f64 = 0.01;

/// Successful GETs of one phase and what they found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Hits {
    pub reads: u64,
    /// Reads that returned a value.
    pub hits: u64,
    /// Reads that returned nil.
    pub misses: u64,
    /// The same on the hot keys.
    pub hot_reads: u64,
    pub hot_misses: u64,
}

impl Hits {
    /// Misses over reads, `None` without reads.
    pub fn miss_ratio(&self) -> Option<f64> {
        (self.reads > 0).then(|| self.misses as f64 / self.reads as f64)
    }

    /// Hits over reads; `None` without reads, so an idle phase reads unknown, not 0.
    pub fn hit_ratio(&self) -> Option<f64> {
        (self.reads > 0).then(|| self.hits as f64 / self.reads as f64)
    }

    /// Misses on hot keys over reads of hot keys: what eviction costs the keys
    /// that matter; `None` without such reads.
    pub fn hot_miss_ratio(&self) -> Option<f64> {
        (self.hot_reads > 0).then(|| self.hot_misses as f64 / self.hot_reads as f64)
    }
}

/// The clients' hits and misses by phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HitRatio {
    /// The keys counted as hot: the [`HOT_SHARE`] most read, by reads then key.
    pub hot_keys: Vec<String>,
    pub by_phase: BTreeMap<String, Hits>,
    pub total: Hits,
}

/// Hits and misses of every successful GET, by the phase it was sent in
/// (the server counts a lookup when it runs it, which is after it was sent,
/// not when it was due).
pub fn hit_ratio<'a>(history: impl IntoIterator<Item = &'a Op>, phases: &[Phase]) -> HitRatio {
    let reads: Vec<&Op> = history
        .into_iter()
        .filter(|o| o.kind == OpKind::Get && o.is_ok())
        .collect();
    let mut per_key: HashMap<&str, u64> = HashMap::new();
    for g in &reads {
        *per_key.entry(g.key.as_str()).or_insert(0) += 1;
    }
    let mut ranked: Vec<(&str, u64)> = per_key.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let n_hot = ((ranked.len() as f64 * HOT_SHARE).ceil() as usize).min(ranked.len());
    let hot: std::collections::HashSet<&str> = ranked[..n_hot].iter().map(|k| k.0).collect();
    let mut out = HitRatio {
        hot_keys: ranked[..n_hot].iter().map(|k| k.0.to_string()).collect(),
        ..HitRatio::default()
    };
    for p in phases {
        out.by_phase.entry(p.name.clone()).or_default();
    }
    for g in reads {
        let is_hot = hot.contains(g.key.as_str());
        let count = |h: &mut Hits| {
            h.reads += 1;
            match g.value {
                Some(_) => h.hits += 1,
                None => h.misses += 1,
            }
            if is_hot {
                h.hot_reads += 1;
                h.hot_misses += u64::from(g.value.is_none());
            }
        };
        count(&mut out.total);
        if let Some(p) = crate::record::timeline::phase_at(phases, g.sent_ns)
            && let Some(h) = out.by_phase.get_mut(&p.name)
        {
            count(h);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;

    #[test]
    fn policies() {
        for (p, e) in [
            ("allkeys-lru", Eviction::AllKeys),
            ("AllKeys-LFU", Eviction::AllKeys),
            ("allkeys-random", Eviction::AllKeys),
            ("volatile-ttl", Eviction::Volatile),
            ("noeviction", Eviction::None),
            ("", Eviction::None),
        ] {
            assert_eq!(Eviction::of(p), e, "{p}");
        }
        assert_eq!(
            Eviction::widest(["noeviction", "allkeys-lru", "volatile-lru"]),
            Eviction::AllKeys
        );
        assert_eq!(Eviction::widest([]), Eviction::None);
    }

    #[test]
    fn hits_by_phase_and_on_hot_keys() {
        let phases = vec![
            Phase {
                name: "baseline".into(),
                start_ns: 0,
                end_ns: 100_000_000,
            },
            Phase {
                name: "during".into(),
                start_ns: 100_000_000,
                end_ns: 200_000_000,
            },
        ];
        let mut h = Vec::new();
        // "hot" is read 10 times, the 99 others once each: 1 hot key of 100.
        for i in 0..10 {
            let v = (i != 9).then_some("v");
            h.push(op(OpKind::Get, "hot", v, 10 + i * 10, 11 + i * 10));
        }
        for i in 0..99 {
            let key = format!("cold{i}");
            let v = (i % 3 != 0).then_some("v");
            h.push(op(OpKind::Get, &key, v, 150, 151));
        }
        h.push(failed(get("hot", 5, 6)));
        let r = hit_ratio(&h, &phases);
        assert_eq!(r.hot_keys, vec!["hot"]);
        assert_eq!(r.total.reads, 109);
        assert_eq!(r.total.misses, 1 + 33);
        let b = r.by_phase["baseline"];
        assert_eq!((b.reads, b.hits, b.hot_reads, b.hot_misses), (9, 9, 9, 0));
        let d = r.by_phase["during"];
        assert_eq!(
            (d.reads, d.misses, d.hot_reads, d.hot_misses),
            (100, 34, 1, 1)
        );
        assert_eq!(d.hot_miss_ratio(), Some(1.0));
        assert_eq!(b.hot_miss_ratio(), Some(0.0));
        assert_eq!(Hits::default().miss_ratio(), None);
    }
}
