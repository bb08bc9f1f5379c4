//! The invalidation workload: a cache beside a source of truth the tool
//! owns, kept consistent by invalidation — where caches go wrong in
//! production. The `invalidation:` section of a scenario file; its history
//! is `invalidation.json` in the run folder, written by
//! [`crate::workload::invalidation`]; the pure checker is
//! [`crate::checker::invalidation`].
//!
//! ```yaml
//! invalidation:
//!   readers: 20                 # cache-aside readers, each reading in a loop
//!   writers: 4                  # writers of the store, each writing in a loop
//!   keys: 50                    # cache keys 0..keys, each a source of its own in the store
//!   key_prefix: "drill:"
//!   distribution: uniform       # or {zipfian: {s: 0.99}}: which key a read or write picks
//!   policies: [delete, update, double_delete]  # source s is kept by policies[s % len]
//!   read_every_ms: 5            # each reader's pause between reads
//!   write_every_ms: 20          # each writer's pause between writes
//!   store_ms: 5                 # a store read and its computation take this long (drawn from half to 1.5×)
//!   double_delete_ms: 50        # double_delete: the second DEL this long after the first
//!   ttl_ms: 0                   # the cached values' PX (0: none, a stale value stays until replaced)
//!   timeout_ms: 500             # each command's bound
//!   dependants: {0: [1, 2]}     # keys 1 and 2 are computed from key 0 too: writing 0 invalidates them
//!   tags: {catalog: [3, 4]}     # a tag is a source of its own: writing it invalidates 3 and 4
//!   tag_writes: 0.2             # the share of writes that write a tag (with tags)
//!   group_reads: 0.2            # the share of reads that read a key with its dependants in one MGET
//!   atomic: true                # a write's invalidations in one MULTI/EXEC (else one DEL each, in turn)
//!   client_cache: false         # readers keep local copies (RESP3 client tracking; cluster topologies)
//!   client_cache_ttl_ms: 1800000  # a local copy's longest life, invalidated or not
//!   regions: [eu-west, us-east] # optional: reader r lives in regions[r mod n]
//!   replica_reads: false        # readers read a replica in their region (READONLY), else the primary
//! ```
//!
//! **The store** is in the tool's memory: one version per source, raised by
//! one at each write, at an instant the tool knows exactly (`commit_ns`).
//! Sources are the keys `0..keys`, then the tags in name order.
//!
//! **A cached value** names every version it was computed from: key `k`
//! depends on itself, on every key it is a dependant of (and so on up), and
//! on every tag it is in. Its value is `<id>|<source>=<version>,…` with
//! `id` unique to the `SET` that wrote it. Keys of one group (joined by
//! dependants or tags) share a hash tag, `{<prefix>inv:<root>}:<k>` with
//! `root` the group's lowest key, so that one slot holds them all.
//!
//! **A reader** picks a key (or, `group_reads` of the time, the key and every
//! key that depends on it) and `GET`s it (`MGET`). On a miss it reads the
//! store (at `store_ns`), waits `store_ms` (the database's answer, the
//! computation) and `SET`s the value it computed (a *fill*).
//!
//! **A writer** picks a source, writes the store, then keeps the cache
//! consistent by the source's policy: `delete` — `DEL` every key depending on
//! the source; `update` — compute every such key again from the store and
//! `SET` it; `double_delete` — `DEL`, then `DEL` again `double_delete_ms`
//! later (a fill that raced the first is cleared by the second). With
//! `atomic`, one round's commands go in one `MULTI`/`EXEC`.
//!
//! Every command is sent once and recorded with its times and outcome.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::ops::Distribution;

/// More readers or writers than this is a typo on the machines drills run on.
pub const MAX_CLIENTS: u32 = 1_000;

/// More keys than this is not an invalidation drill.
pub const MAX_KEYS: u32 = 1_000_000;

/// Most keys in one group: one slot holds them all, and a group read is
/// one `MGET` of them.
pub const MAX_GROUP: usize = 100;

/// A day: every duration of the section is below it.
pub const MAX_MS: u64 = 86_400_000;

/// How a writer keeps the cache consistent with the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// `DEL` the cached keys after the store write.
    Delete,
    /// Compute the cached keys again and `SET` them.
    Update,
    /// `DEL`, then `DEL` again `double_delete_ms` later.
    DoubleDelete,
}

impl Policy {
    /// The name the spec and the reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Delete => "delete",
            Policy::Update => "update",
            Policy::DoubleDelete => "double_delete",
        }
    }
}

/// The `invalidation:` section of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvalidationSpec {
    pub readers: u32,
    pub writers: u32,
    pub keys: u32,
    pub key_prefix: String,
    pub distribution: Distribution,
    pub policies: Vec<Policy>,
    pub read_every_ms: u64,
    pub write_every_ms: u64,
    pub store_ms: u64,
    pub double_delete_ms: u64,
    pub ttl_ms: u64,
    pub timeout_ms: u64,
    /// Key → the keys computed from it too.
    pub dependants: BTreeMap<u32, Vec<u32>>,
    /// Tag → its keys.
    pub tags: BTreeMap<String, Vec<u32>>,
    pub tag_writes: f64,
    pub group_reads: f64,
    pub atomic: bool,
    /// Each reader reads through a client-side cache of its own: redis-rs's
    /// server-assisted caching (RESP3, `CLIENT TRACKING`), a second cache
    /// layer whose copies the server's invalidation messages must clear.
    pub client_cache: bool,
    /// A local copy's longest life, whatever the server says.
    pub client_cache_ttl_ms: u64,
    /// The regions the readers live in, taken in turn (reader r in
    /// `regions[r mod n]`); the writers live in none.
    pub regions: Vec<String>,
    /// Each reader reads a replica of its key's primary in its own region
    /// (`READONLY`), the primary when there is none there.
    pub replica_reads: bool,
}

impl Default for InvalidationSpec {
    fn default() -> Self {
        InvalidationSpec {
            readers: 20,
            writers: 4,
            keys: 50,
            key_prefix: "drill:".into(),
            distribution: Distribution::Uniform,
            policies: vec![Policy::Delete, Policy::Update, Policy::DoubleDelete],
            read_every_ms: 5,
            write_every_ms: 20,
            store_ms: 5,
            double_delete_ms: 50,
            ttl_ms: 0,
            timeout_ms: 500,
            dependants: BTreeMap::new(),
            tags: BTreeMap::new(),
            tag_writes: 0.0,
            group_reads: 0.0,
            atomic: true,
            client_cache: false,
            client_cache_ttl_ms: 1_800_000,
            regions: Vec::new(),
            replica_reads: false,
        }
    }
}

/// What is wrong with a section: the field (a dotted path below
/// `invalidation`) and why.
pub type SpecError = (String, String);

impl InvalidationSpec {
    /// What is wrong with the section.
    pub fn check(&self) -> Result<(), SpecError> {
        let err = |f: &str, m: String| Err((f.to_string(), m));
        let within = |field: &str, v: u64, lo: u64, hi: u64| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                err(field, format!("must be between {lo} and {hi}, not {v}"))
            }
        };
        within(
            "readers",
            u64::from(self.readers),
            0,
            u64::from(MAX_CLIENTS),
        )?;
        within(
            "writers",
            u64::from(self.writers),
            0,
            u64::from(MAX_CLIENTS),
        )?;
        if self.readers + self.writers == 0 {
            return err("readers", "a drill needs a reader or a writer".into());
        }
        within("keys", u64::from(self.keys), 1, u64::from(MAX_KEYS))?;
        if let Distribution::Zipfian { s } = self.distribution
            && !(s > 0.0 && s.is_finite())
        {
            return err(
                "distribution",
                format!("zipfian s must be above 0, not {s}"),
            );
        }
        within("read_every_ms", self.read_every_ms, 0, MAX_MS)?;
        within("write_every_ms", self.write_every_ms, 0, MAX_MS)?;
        within("store_ms", self.store_ms, 0, MAX_MS)?;
        within("double_delete_ms", self.double_delete_ms, 0, MAX_MS)?;
        within("ttl_ms", self.ttl_ms, 0, MAX_MS)?;
        within("timeout_ms", self.timeout_ms, 1, MAX_MS)?;
        within("client_cache_ttl_ms", self.client_cache_ttl_ms, 1, MAX_MS)?;
        if self.replica_reads && self.regions.is_empty() {
            return err(
                "replica_reads",
                "a reader reads the replica in its own region: list the readers' `regions`".into(),
            );
        }
        if self.client_cache && (self.replica_reads || !self.regions.is_empty()) {
            return err(
                "client_cache",
                "the readers' client-side cache reads primaries from no region: leave `regions` and `replica_reads` out".into(),
            );
        }
        if self.client_cache && self.group_reads > 0.0 {
            return err(
                "client_cache",
                "a local copy is judged key by key: client-side caching reads single keys (leave group_reads out)".into(),
            );
        }
        if self.policies.is_empty() {
            return err(
                "policies",
                "name at least one of delete, update, double_delete".into(),
            );
        }
        if self.key_prefix.contains(['{', '}']) {
            return err(
                "key_prefix",
                "the keys are hash-tagged already: no `{` or `}`".into(),
            );
        }
        for (field, share) in [
            ("tag_writes", self.tag_writes),
            ("group_reads", self.group_reads),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return err(
                    field,
                    format!("must be a share between 0 and 1, not {share}"),
                );
            }
        }
        if self.tag_writes > 0.0 && self.tags.is_empty() {
            return err(
                "tag_writes",
                "no tag is declared: declare `tags:` or leave this out".into(),
            );
        }
        for (&key, deps) in &self.dependants {
            let at = format!("dependants.{key}");
            if key >= self.keys {
                return err(
                    &at,
                    format!("key {key} is outside the key space 0..{}", self.keys),
                );
            }
            if deps.is_empty() {
                return err(&at, "names no dependant".into());
            }
            for &d in deps {
                if d >= self.keys {
                    return err(
                        &at,
                        format!("dependant {d} is outside the key space 0..{}", self.keys),
                    );
                }
                if d == key {
                    return err(&at, format!("key {key} cannot depend on itself"));
                }
            }
        }
        if let Some(cycle) = self.cycle() {
            return err(
                &format!("dependants.{}", cycle[0]),
                format!(
                    "the dependants go round in a circle: {}",
                    cycle
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(" → ")
                ),
            );
        }
        for (tag, keys) in &self.tags {
            let at = format!("tags.{tag}");
            if keys.is_empty() {
                return err(&at, "a tag without keys invalidates nothing".into());
            }
            if let Some(&k) = keys.iter().find(|&&k| k >= self.keys) {
                return err(
                    &at,
                    format!("key {k} is outside the key space 0..{}", self.keys),
                );
            }
        }
        for root in self.roots() {
            let n = self.group_of(root).len();
            if n > MAX_GROUP {
                return err(
                    "dependants",
                    format!(
                        "the group of key {root} has {n} keys; at most {MAX_GROUP} share one slot"
                    ),
                );
            }
        }
        Ok(())
    }

    /// A circle of dependants, from its first key round to it again.
    fn cycle(&self) -> Option<Vec<u32>> {
        // Depth-first, colouring keys: 1 on the path, 2 done.
        fn visit(
            spec: &InvalidationSpec,
            k: u32,
            colour: &mut BTreeMap<u32, u8>,
            path: &mut Vec<u32>,
        ) -> Option<Vec<u32>> {
            match colour.get(&k) {
                Some(2) => return None,
                Some(1) => {
                    let from = path.iter().position(|&p| p == k).unwrap_or(0);
                    let mut c = path[from..].to_vec();
                    c.push(k);
                    return Some(c);
                }
                _ => {}
            }
            colour.insert(k, 1);
            path.push(k);
            for &d in spec.dependants.get(&k).map_or(&[][..], |v| &v[..]) {
                if let Some(c) = visit(spec, d, colour, path) {
                    return Some(c);
                }
            }
            path.pop();
            colour.insert(k, 2);
            None
        }
        let mut colour = BTreeMap::new();
        for &k in self.dependants.keys() {
            if let Some(c) = visit(self, k, &mut colour, &mut Vec::new()) {
                return Some(c);
            }
        }
        None
    }

    /// The region reader `reader` lives in (`None` without `regions`).
    pub fn region_of(&self, reader: u32) -> Option<&str> {
        super::regions::region_of(&self.regions, reader)
    }

    /// How many sources the store holds: the keys, then the tags.
    pub fn sources(&self) -> u32 {
        self.keys + self.tags.len() as u32
    }

    /// The source of tag `name`.
    pub fn tag_source(&self, name: &str) -> Option<u32> {
        let i = self.tags.keys().position(|t| t == name)?;
        Some(self.keys + i as u32)
    }

    /// A source's name for people: the key's number, or `tag:<name>`.
    pub fn source_name(&self, source: u32) -> String {
        if source < self.keys {
            source.to_string()
        } else {
            match self.tags.keys().nth((source - self.keys) as usize) {
                Some(t) => format!("tag:{t}"),
                None => format!("source {source}"),
            }
        }
    }

    /// The policy that keeps source `source`.
    pub fn policy_of(&self, source: u32) -> Policy {
        self.policies[source as usize % self.policies.len()]
    }

    /// The sources key `key`'s value is computed from: itself, every key it
    /// is a dependant of (transitively), every tag it is in.
    pub fn deps(&self, key: u32) -> BTreeSet<u32> {
        let mut out = BTreeSet::new();
        let mut todo = vec![key];
        while let Some(k) = todo.pop() {
            if !out.insert(k) {
                continue;
            }
            for (&a, ds) in &self.dependants {
                if ds.contains(&k) {
                    todo.push(a);
                }
            }
        }
        for (i, keys) in self.tags.values().enumerate() {
            if keys.iter().any(|k| out.contains(k)) {
                out.insert(self.keys + i as u32);
            }
        }
        out
    }

    /// The cached keys a write of `source` invalidates: every key whose
    /// value is computed from it, in order.
    pub fn affected(&self, source: u32) -> Vec<u32> {
        if source >= self.keys {
            let i = (source - self.keys) as usize;
            let mut keys: BTreeSet<u32> = BTreeSet::new();
            for &k in self.tags.values().nth(i).map_or(&[][..], |v| &v[..]) {
                keys.extend(self.dependants_of(k));
            }
            return keys.into_iter().collect();
        }
        self.dependants_of(source).into_iter().collect()
    }

    /// `key` and every key that depends on it, transitively.
    pub fn dependants_of(&self, key: u32) -> BTreeSet<u32> {
        let mut out = BTreeSet::new();
        let mut todo = vec![key];
        while let Some(k) = todo.pop() {
            if out.insert(k) {
                todo.extend(self.dependants.get(&k).into_iter().flatten());
            }
        }
        out
    }

    /// The lowest key of the group `key` is in (keys joined by dependants or
    /// by a tag): its hash tag.
    pub fn root_of(&self, key: u32) -> u32 {
        self.group_of(key).into_iter().next().unwrap_or(key)
    }

    /// Every key of `key`'s group.
    pub fn group_of(&self, key: u32) -> BTreeSet<u32> {
        let mut out = BTreeSet::new();
        let mut todo = vec![key];
        while let Some(k) = todo.pop() {
            if !out.insert(k) {
                continue;
            }
            todo.extend(self.dependants.get(&k).into_iter().flatten());
            for (&a, ds) in &self.dependants {
                if ds.contains(&k) {
                    todo.push(a);
                }
            }
            for keys in self.tags.values() {
                if keys.contains(&k) {
                    todo.extend(keys);
                }
            }
        }
        out
    }

    /// The root of every group of more than one key.
    fn roots(&self) -> BTreeSet<u32> {
        let mut members: BTreeSet<u32> = self.dependants.keys().copied().collect();
        members.extend(self.dependants.values().flatten());
        members.extend(self.tags.values().flatten());
        members.into_iter().map(|k| self.root_of(k)).collect()
    }

    /// Cache key `key`'s name.
    pub fn key(&self, key: u32) -> String {
        format!("{{{}inv:{}}}:{key}", self.key_prefix, self.root_of(key))
    }

    /// The slot of cache key `key` (and of its whole group).
    pub fn slot_of(&self, key: u32) -> u16 {
        crate::slots::key_slot(self.key(key).as_bytes())
    }
}

/// A cached value: the `SET` that wrote it and the versions it was
/// computed from.
pub fn value_of(id: &str, versions: &BTreeMap<u32, u64>) -> String {
    let parts: Vec<String> = versions.iter().map(|(s, v)| format!("{s}={v}")).collect();
    format!("{id}|{}", parts.join(","))
}

/// A cached value read back: its writer's id and its versions; `None` for a
/// value that is not one of the workload's.
pub fn parse_value(value: &str) -> Option<(&str, BTreeMap<u32, u64>)> {
    let (id, rest) = value.split_once('|')?;
    let mut versions = BTreeMap::new();
    for part in rest.split(',').filter(|p| !p.is_empty()) {
        let (s, v) = part.split_once('=')?;
        versions.insert(s.parse().ok()?, v.parse().ok()?);
    }
    Some((id, versions))
}

/// A `Set`'s versions as a JSON object keyed by source. Its keys are read
/// back as text and parsed: inside the op's tagged enum serde buffers the
/// object, and a buffered key is a string that a number will not accept.
mod versions_map {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &BTreeMap<u32, u64>, s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<String, u64>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<u32, u64>, D::Error> {
        BTreeMap::<String, u64>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| {
                k.parse()
                    .map(|k| (k, v))
                    .map_err(|_| serde::de::Error::custom(format!("`{k}` is not a source")))
            })
            .collect()
    }
}

/// One recorded step of the workload. Times in ns since the run's epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum InvOp {
    /// A writer's store write: `source` became `version` at `commit_ns`
    /// (exact: the store is the tool's own), `start_ns` when the writer
    /// began it.
    Write {
        writer: u32,
        source: u32,
        version: u64,
        start_ns: u64,
        commit_ns: u64,
    },
    /// A writer's invalidation of the keys a write affects (`delete`,
    /// `double_delete`): round 1 the first `DEL`s, round 2 the second. One
    /// op per command: with `atomic` the whole `MULTI`/`EXEC`, else one
    /// `DEL` per key.
    Invalidate {
        writer: u32,
        source: u32,
        version: u64,
        round: u8,
        keys: Vec<u32>,
        start_ns: u64,
        end_ns: u64,
        ok: bool,
        /// The node that answered (none when the command failed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A `SET` of a cached value: a reader's fill after a miss (`fill`), or
    /// a writer's update. `store_ns` when its versions were read from the
    /// store. With an `update` under `atomic`, one op per key of one
    /// `MULTI`/`EXEC` (the same times).
    Set {
        id: String,
        key: u32,
        fill: bool,
        /// The write (source, version) an update follows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<(u32, u64)>,
        #[serde(with = "versions_map")]
        versions: BTreeMap<u32, u64>,
        store_ns: u64,
        start_ns: u64,
        end_ns: u64,
        ok: bool,
        /// The node that answered (none when the command failed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A reader's `GET` (or a group's `MGET`): what the cache held for each
    /// key (`None`: a miss, then filled by a `Set` with id `<id>.<key>`).
    Read {
        id: String,
        reader: u32,
        keys: Vec<u32>,
        start_ns: u64,
        end_ns: u64,
        /// The node that answered (none when the command failed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
        /// Absent when the read failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        found: Option<Vec<Option<String>>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Answered from the reader's client-side cache, not by a node.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        local: bool,
        /// Answered by a replica (`replica_reads`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        replica: bool,
    },
}

impl InvOp {
    /// When the op began.
    pub fn start_ns(&self) -> u64 {
        match self {
            InvOp::Write { start_ns, .. }
            | InvOp::Invalidate { start_ns, .. }
            | InvOp::Set { start_ns, .. }
            | InvOp::Read { start_ns, .. } => *start_ns,
        }
    }
}

/// What the invalidation workload recorded, stored as `invalidation.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvalidationRecording {
    pub spec: Option<InvalidationSpec>,
    /// Every op, in the order they began.
    pub ops: Vec<InvOp>,
    /// Ops not recorded because the history was full: the checker cannot
    /// judge a history with holes.
    pub unrecorded: u64,
    /// Second deletes of `double_delete` not sent because the drill stopped
    /// first.
    pub unfinished: u64,
    /// The readers and writers did not end within their bound when told to
    /// stop: what they did after the recording was taken is missing, and
    /// the checker judges nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut_short: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> InvalidationSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn groups_share_a_tag_and_values_name_their_versions() {
        let s = spec("keys: 10\ndependants: {0: [1, 2], 2: [3]}\ntags: {cat: [5, 6]}\n");
        s.check().unwrap();
        assert_eq!(s.deps(3), BTreeSet::from([0, 2, 3]));
        assert_eq!(s.affected(0), vec![0, 1, 2, 3]);
        assert_eq!(s.affected(2), vec![2, 3]);
        assert_eq!(s.tag_source("cat"), Some(10));
        assert_eq!(s.deps(5), BTreeSet::from([5, 10]));
        assert_eq!(s.affected(10), vec![5, 6]);
        assert_eq!(s.key(3), "{drill:inv:0}:3");
        assert_eq!(s.key(6), "{drill:inv:5}:6");
        assert_eq!(s.key(8), "{drill:inv:8}:8");
        assert_eq!(s.slot_of(1), s.slot_of(3));
        assert_eq!(s.source_name(10), "tag:cat");
        let v = value_of("r1-2.3", &BTreeMap::from([(0, 4), (3, 1)]));
        assert_eq!(v, "r1-2.3|0=4,3=1");
        let (id, vs) = parse_value(&v).unwrap();
        assert_eq!((id, vs), ("r1-2.3", BTreeMap::from([(0, 4), (3, 1)])));
        assert_eq!(parse_value("hello"), None);
    }

    #[test]
    fn a_recording_reads_back_as_it_was_written() {
        let rec = InvalidationRecording {
            spec: Some(spec("keys: 4\ndependants: {0: [1]}\n")),
            ops: vec![InvOp::Set {
                id: "r1-1.1".into(),
                key: 1,
                fill: true,
                after: None,
                versions: BTreeMap::from([(0, 3), (1, 7)]),
                store_ns: 1,
                start_ns: 2,
                end_ns: 3,
                ok: true,
                node: Some("s1n1".into()),
                error: None,
            }],
            unrecorded: 0,
            unfinished: 0,
            cut_short: false,
        };
        let json = serde_json::to_vec(&rec).unwrap();
        let back: InvalidationRecording = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn bad_sections_are_refused_with_their_field() {
        let bad = |y: &str| spec(y).check().unwrap_err();
        assert_eq!(bad("keys: 4\ndependants: {0: [7]}\n").0, "dependants.0");
        assert!(
            bad("keys: 4\ndependants: {0: [7]}\n")
                .1
                .contains("outside the key space")
        );
        assert_eq!(bad("keys: 4\ndependants: {9: [1]}\n").0, "dependants.9");
        assert_eq!(
            bad("keys: 4\ndependants: {0: [1], 1: [0]}\n").0,
            "dependants.0"
        );
        assert_eq!(bad("keys: 4\ntags: {x: []}\n").0, "tags.x");
        assert_eq!(bad("keys: 4\ntags: {x: [4]}\n").0, "tags.x");
        assert_eq!(bad("tag_writes: 0.5\n").0, "tag_writes");
        assert_eq!(bad("group_reads: 2\n").0, "group_reads");
        assert_eq!(bad("policies: []\n").0, "policies");
        assert_eq!(bad("key_prefix: '{a}'\n").0, "key_prefix");
        assert_eq!(bad("readers: 0\nwriters: 0\n").0, "readers");
    }
}
