//! Stale cache reads, from the invalidation workload's history
//! ([`crate::record::invalidation`], run by
//! [`crate::workload::invalidation`]). Pure.
//!
//! - **The store's version** of source `s` at instant `t` is the highest
//!   `version` among the `Write`s of `s` committed at or before `t`
//!   (`commit_ns <= t`); 0 before any (versions start at 1). The store is
//!   the tool's own, so this is exact. A source's versions rise with its
//!   commits (one lock hands out both).
//! - **A hit** is a key of a successful `Read` whose found value is there.
//!   Every key of a successful read counts once in `reads` (a group read
//!   once per key), as a hit or a miss. A hit whose value is not the
//!   workload's ([`parse_value`] gives `None`), or whose `SET` (the `Set`
//!   op with the value's id, of that key and those versions) is not in the
//!   history, is **unjudged**: counted
//!   in `hits` and `unjudged`, in no stale figure. Failed reads (no answer)
//!   are counted apart and not judged; so are fills whose `SET` failed.
//! - **Stale.** A judged hit of key `k` read by a read that began at `t` is
//!   stale on source `s` (one of the sources its value names, at version
//!   `v`) when the store's version of `s` at `t` is above `v`. The **newer
//!   writes** are the writes of `s` with a version above `v` committed at
//!   or before `t`.
//! - **The invalidations of `k` for a write** of `(s, version)`: with
//!   `delete` and `double_delete`, the round-1 `Invalidate` ops of that
//!   `(s, version)` whose keys hold `k`; with `update`, the `Set` ops that
//!   are no fill, follow `(s, version)` (`after`) and set `k`. An
//!   invalidation is **acknowledged** when it is ok. Round-2 deletes of
//!   `double_delete` never acknowledge: they clear values, which shows as
//!   later reads missing, and that is all.
//! - **A stale hit is classified**, on each source it is stale on:
//!   - **after invalidation** when some newer write has an acknowledged
//!     invalidation of `k` that ended at or before `t`; `I` is, of these,
//!     the one that began last (the value had to survive it). The value
//!     should have been gone: the defect.
//!   - else **unacked** when every newer write has invalidations of `k`,
//!     all ended at or before `t` (and so none acknowledged): they failed
//!     or timed out, and the value staying is the writer's failure, not the
//!     cache's;
//!   - else **in window**: some newer write's invalidation of `k` had not
//!     ended at `t`, or was not sent at all yet (a writer between its
//!     commit and its `DEL`): inherent to cache-aside.
//!
//!   A hit stale on several sources counts once, in the worst class (after
//!   invalidation — a lost invalidation before a race, see below — then
//!   unacked, then in window), on the first source (in source order) in
//!   that class. It is attributed to that source's policy.
//! - **The cause** of a stale-after-invalidation hit, with `S` the `Set`
//!   that wrote the value: when `S` ended after `I` began, `S` may have
//!   landed after the invalidation — a **fill race** when `S` is a reader's
//!   fill (it read the store before the write, and set its old value after
//!   the `DEL`), an **update race** when it is a writer's update (two
//!   updates landing out of order). Else the value was written before the
//!   invalidation was sent, the invalidation was acknowledged, and the value
//!   is still read: a **lost invalidation** (a failover that lost the
//!   `DEL`). `stale_after_invalidation` is the sum of the causes. A `SET`
//!   whose times overlap the invalidation's (one that timed out ends at its
//!   timeout) may have landed before or after it: it counts as a race, so
//!   the lost invalidations are a lower bound.
//! - **Episodes.** The stale-after-invalidation hits of one value (key and
//!   value id) are one episode. It should have been gone at
//!   `max(I's end, S's end)` (the earliest over its hits); its **lifetime**
//!   runs from then to the start of the last read that saw it, stale after
//!   invalidation: a lower bound (a value is seen only when read). An
//!   episode belongs to the policy of its first hit's source.
//! - **Witnesses**: the first hit of each episode, at most
//!   [`MAX_WITNESSES`] per cause in history order of the stale read, causes
//!   in the order fill race, update race, lost invalidation. The steps (by
//!   their start; a write's at its commit): for a race, `S`'s store read,
//!   `I`'s write, `I`, `S`, the stale read; for a lost invalidation, `S`,
//!   the write, `I`, the stale read.
//! - **Invalidation time**, per write: from its commit to the end of the
//!   last of its invalidations (round 1, or its update `SET`s). A write with
//!   an invalidation that failed counts in `invalidations_failed`; one with
//!   an affected key (the spec's [`InvalidationSpec::affected`]; without a
//!   spec the keys its commands name) never invalidated — the drill stopped
//!   first — in `unfinished_writes` (a write can be both). Either is left out
//!   of the time.
//! - **Group reads** (more than one key, successful): the value served for
//!   each key is the one found, or for a miss the versions of its fill (the
//!   `Set` `<read id>.<key>`, when ok); a key with neither is left out. The
//!   read is **mixed** when two served values name one source at different
//!   versions.
//! - **Per policy** (the spec's policies in order, once each): the writes of
//!   its sources; the judged hits whose value names one of its sources
//!   (a hit counts once per policy); the stale hits attributed to it; the
//!   longest lifetime of its episodes; the p99 of its writes' invalidation
//!   times. Empty without a spec.
//! - **Unknown**: the stale figures cannot be trusted when the workload
//!   did not end within its bound at the stop (`cut_short`), when ops went
//!   unrecorded (the history has holes), when no write was made, or when no
//!   judged hit was read: nothing was judged, and a 0 then means nothing.
//!
//! Every lookup is indexed (writes per source by commit, invalidations per
//! write and per source and key, `SET`s by id): no scan is quadratic.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::latency::{Latency, percentiles};
use crate::record::invalidation::{
    InvOp, InvalidationRecording, InvalidationSpec, Policy, parse_value,
};

/// Witnesses kept per cause at most.
pub const MAX_WITNESSES: usize = 3;

/// Why a value was read after its invalidation was acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A reader's fill, computed from the store before the write, landed
    /// after the invalidation began.
    FillRace,
    /// A writer's update landed after a newer write's invalidation began.
    UpdateRace,
    /// The value was written before the invalidation was sent, the
    /// invalidation was acknowledged, and the value stayed.
    LostInvalidation,
    /// As a lost invalidation, but the value came from the reader's own
    /// client-side cache: the server's invalidation message did not clear
    /// the local copy (not sent, not received, or the copy outlived the
    /// connection that tracked it).
    LocalCopy,
    /// As a lost invalidation, but a replica answered the read: the
    /// invalidation had not reached it yet (its replication lag, a link's
    /// delay on the way) — or never will, which one history cannot tell.
    ReplicaLag,
}

impl Cause {
    /// The name the reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::FillRace => "fill_race",
            Cause::UpdateRace => "update_race",
            Cause::LostInvalidation => "lost_invalidation",
            Cause::LocalCopy => "local_copy",
            Cause::ReplicaLag => "replica_lag",
        }
    }
}

/// Stale-after-invalidation hits by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Causes {
    pub fill_race: u64,
    pub update_race: u64,
    pub lost_invalidation: u64,
    #[serde(default)]
    pub local_copy: u64,
    #[serde(default)]
    pub replica_lag: u64,
}

impl Causes {
    fn add(&mut self, cause: Cause) {
        match cause {
            Cause::FillRace => self.fill_race += 1,
            Cause::UpdateRace => self.update_race += 1,
            Cause::LostInvalidation => self.lost_invalidation += 1,
            Cause::LocalCopy => self.local_copy += 1,
            Cause::ReplicaLag => self.replica_lag += 1,
        }
    }

    /// Every stale-after-invalidation hit.
    pub fn total(&self) -> u64 {
        self.fill_race
            + self.update_race
            + self.lost_invalidation
            + self.local_copy
            + self.replica_lag
    }
}

/// One step of a witness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// When the step began (a write: its commit), ms since the run's epoch.
    pub at_ms: f64,
    pub what: String,
}

/// How one stale value came to be read after its invalidation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Witness {
    pub cause: Cause,
    pub key: u32,
    /// The source the value was stale on.
    pub source: u32,
    /// In time order.
    pub steps: Vec<Step>,
}

/// One policy's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyFigures {
    pub policy: Policy,
    /// Writes of the sources this policy keeps.
    pub writes: u64,
    /// Judged hits whose value names a source this policy keeps.
    pub hits: u64,
    pub stale_in_window: u64,
    /// Stale hits whose newer writes' invalidations all failed.
    pub stale_unacked: u64,
    pub stale_after_invalidation: u64,
    /// The longest lifetime of this policy's episodes (`None`: none).
    pub longest_stale_ms: Option<f64>,
    /// The p99 of this policy's writes' invalidation times (`None`: none
    /// measured).
    pub invalidation_p99_ms: Option<f64>,
}

/// The readers of one region (`invalidation.regions`) and what they read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionFigures {
    pub region: String,
    pub readers: u32,
    /// Key reads judged, hits, and hits a replica answered.
    pub reads: u64,
    pub hits: u64,
    pub replica_hits: u64,
    pub stale_in_window: u64,
    pub stale_after_invalidation: u64,
    pub causes: Causes,
    /// This region's stale values (per key and value), each from when it
    /// should have been gone to this region's last read of it: its window
    /// of staleness.
    pub stale_lifetime: Latency,
}

/// What the invalidation checker found (see the module docs for each rule).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Invalidation {
    /// Key reads judged (a group read counts once per key), hits among
    /// them (found in the cache), misses (then filled).
    pub reads: u64,
    pub hits: u64,
    pub misses: u64,
    /// Hits answered from a reader's client-side cache (`client_cache`).
    #[serde(default)]
    pub local_hits: u64,
    /// Read ops that failed (error), fills that failed.
    pub failed_reads: u64,
    pub failed_fills: u64,
    pub writes: u64,
    /// Writes whose invalidation (round 1; for update: the update SETs)
    /// had a command that failed.
    pub invalidations_failed: u64,
    /// Hits that returned a version older than the store's at the read's
    /// start while the newer write's invalidation of that key was not yet
    /// acknowledged (inherent to cache-aside).
    pub stale_in_window: u64,
    /// ... after every invalidation of that key for the newer writes
    /// ended, none acknowledged (failed or timed out).
    pub stale_unacked: u64,
    /// ... after the newer write's invalidation of that key was
    /// acknowledged: the defect. The sum of `causes`.
    pub stale_after_invalidation: u64,
    pub causes: Causes,
    /// Episodes of stale-after-invalidation: one per (key, value id).
    pub stale_episodes: u64,
    /// Each episode's lifetime: from when the value should have been gone
    /// (max(invalidation end, the value's SET end)) to the start of the
    /// last read that saw it; a lower bound.
    pub stale_lifetime: Latency,
    /// Per write (round 1): from commit to the end of the last command that
    /// invalidated (or updated) an affected key; writes with a failed
    /// command or with a key never invalidated are left out.
    pub invalidation_time: Latency,
    /// Writes with an affected key never invalidated (the drill stopped
    /// first).
    pub unfinished_writes: u64,
    /// Group reads (a read of more than one key) judged, and those whose
    /// served values disagree on some source's version.
    pub group_reads: u64,
    pub mixed_group_reads: u64,
    /// Hits whose value is not the workload's or whose SET is not in the
    /// history: not judged.
    pub unjudged: u64,
    /// One per policy, in the spec's order (each once); empty without a
    /// spec.
    pub by_policy: Vec<PolicyFigures>,
    /// With `regions`: each region's readers, in the spec's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_region: Vec<RegionFigures>,
    /// At most [`MAX_WITNESSES`] per cause, in history order of the stale
    /// read; causes in the order fill race, update race, lost invalidation.
    pub witnesses: Vec<Witness>,
    /// Why the stale figures cannot be trusted, when they cannot; `None`
    /// when judged.
    pub unknown: Option<String>,
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// A store write.
#[derive(Debug, Clone, Copy)]
struct Write {
    writer: u32,
    version: u64,
    commit_ns: u64,
}

/// One source's writes, by commit, with the running highest version.
#[derive(Debug, Default)]
struct SourceWrites {
    writes: Vec<Write>,
    /// `pmax[j]`: the highest version among `writes[..=j]`.
    pmax: Vec<u64>,
}

/// A command that invalidated keys for one write: a round-1 `Invalidate`,
/// or an update's `SET` of one key.
#[derive(Debug, Clone, Copy)]
struct Cmd<'r> {
    keys: &'r [u32],
    start_ns: u64,
    end_ns: u64,
    ok: bool,
    /// The node that answered.
    node: Option<&'r str>,
    /// An update's `SET`: the versions it set.
    set: Option<&'r BTreeMap<u32, u64>>,
}

/// A `Set` op.
#[derive(Debug, Clone, Copy)]
struct SetOp<'r> {
    id: &'r str,
    key: u32,
    fill: bool,
    after: Option<(u32, u64)>,
    versions: &'r BTreeMap<u32, u64>,
    store_ns: u64,
    start_ns: u64,
    end_ns: u64,
    ok: bool,
    node: Option<&'r str>,
}

/// An acknowledged invalidation of one key, for the write `j` (its index
/// in its source's writes).
#[derive(Debug, Clone, Copy)]
struct Ack {
    end_ns: u64,
    version: u64,
    j: usize,
    cmd: usize,
}

/// Range maxima over a fixed array: a segment tree, bottom-up.
#[derive(Debug)]
struct MaxTree {
    n: usize,
    t: Vec<u64>,
}

impl MaxTree {
    fn new(a: &[u64]) -> MaxTree {
        let n = a.len();
        let mut t = vec![0; 2 * n];
        t[n..].copy_from_slice(a);
        for i in (1..n).rev() {
            t[i] = t[2 * i].max(t[2 * i + 1]);
        }
        MaxTree { n, t }
    }

    /// The maximum of `a[l..r]` (0 when empty).
    fn max(&self, l: usize, r: usize) -> u64 {
        let (mut l, mut r, mut m) = (l + self.n, r + self.n, 0);
        while l < r {
            if l & 1 == 1 {
                m = m.max(self.t[l]);
                l += 1;
            }
            if r & 1 == 1 {
                r -= 1;
                m = m.max(self.t[r]);
            }
            l >>= 1;
            r >>= 1;
        }
        m
    }
}

/// The invalidations of one key for one source's writes.
#[derive(Debug)]
struct KeyIndex {
    /// The acknowledged ones, by end.
    acks: Vec<Ack>,
    /// `acks_pmax[i]`: the highest version among `acks[..=i]`.
    acks_pmax: Vec<u64>,
    /// Per write (by commit): the end of its last invalidation of the key,
    /// `u64::MAX` when it has none.
    done: MaxTree,
}

/// How a stale hit is classified on one source.
#[derive(Debug, Clone, Copy)]
enum Class {
    Window,
    Unacked,
    After(Ack),
}

impl Class {
    fn rank(&self) -> u8 {
        match self {
            Class::Window => 0,
            Class::Unacked => 1,
            Class::After(_) => 2,
        }
    }
}

/// The history, indexed.
struct Index<'r> {
    spec: Option<&'r InvalidationSpec>,
    writes: HashMap<u32, SourceWrites>,
    /// (source, version) → its index in the source's writes.
    write_at: HashMap<(u32, u64), usize>,
    cmds: Vec<Cmd<'r>>,
    /// (source, version) → its commands, in history order.
    cmds_of: HashMap<(u32, u64), Vec<usize>>,
    sets: HashMap<&'r str, SetOp<'r>>,
    /// Read id → reader.
    readers: HashMap<&'r str, u32>,
}

/// Built on demand: source → key → (write index, command), and the key
/// indexes.
#[derive(Default)]
struct Lazy {
    grouped: HashMap<u32, HashMap<u32, Vec<(usize, usize)>>>,
    keyed: HashMap<(u32, u32), KeyIndex>,
}

impl<'r> Index<'r> {
    fn of(rec: &'r InvalidationRecording) -> Index<'r> {
        let mut ix = Index {
            spec: rec.spec.as_ref(),
            writes: HashMap::new(),
            write_at: HashMap::new(),
            cmds: Vec::new(),
            cmds_of: HashMap::new(),
            sets: HashMap::new(),
            readers: HashMap::new(),
        };
        for op in &rec.ops {
            match op {
                InvOp::Write {
                    writer,
                    source,
                    version,
                    commit_ns,
                    ..
                } => ix.writes.entry(*source).or_default().writes.push(Write {
                    writer: *writer,
                    version: *version,
                    commit_ns: *commit_ns,
                }),
                InvOp::Invalidate {
                    source,
                    version,
                    round: 1,
                    keys,
                    start_ns,
                    end_ns,
                    ok,
                    node,
                    ..
                } => {
                    ix.cmds_of
                        .entry((*source, *version))
                        .or_default()
                        .push(ix.cmds.len());
                    ix.cmds.push(Cmd {
                        keys,
                        start_ns: *start_ns,
                        end_ns: *end_ns,
                        ok: *ok,
                        node: node.as_deref(),
                        set: None,
                    });
                }
                InvOp::Invalidate { .. } => {}
                InvOp::Set {
                    id,
                    key,
                    fill,
                    after,
                    versions,
                    store_ns,
                    start_ns,
                    end_ns,
                    ok,
                    node,
                    ..
                } => {
                    ix.sets.entry(id.as_str()).or_insert(SetOp {
                        id,
                        key: *key,
                        fill: *fill,
                        after: *after,
                        versions,
                        store_ns: *store_ns,
                        start_ns: *start_ns,
                        end_ns: *end_ns,
                        ok: *ok,
                        node: node.as_deref(),
                    });
                    if let (false, Some(after)) = (*fill, after) {
                        ix.cmds_of.entry(*after).or_default().push(ix.cmds.len());
                        ix.cmds.push(Cmd {
                            keys: std::slice::from_ref(key),
                            start_ns: *start_ns,
                            end_ns: *end_ns,
                            ok: *ok,
                            node: node.as_deref(),
                            set: Some(versions),
                        });
                    }
                }
                InvOp::Read { id, reader, .. } => {
                    ix.readers.insert(id, *reader);
                }
            }
        }
        for (&s, sw) in &mut ix.writes {
            sw.writes.sort_by_key(|w| (w.commit_ns, w.version));
            let mut m = 0;
            sw.pmax = sw
                .writes
                .iter()
                .map(|w| {
                    m = m.max(w.version);
                    m
                })
                .collect();
            for (j, w) in sw.writes.iter().enumerate() {
                ix.write_at.entry((s, w.version)).or_insert(j);
            }
        }
        ix
    }

    /// The commands of write `(source, version)`.
    fn cmds_of(&self, source: u32, version: u64) -> &[usize] {
        self.cmds_of
            .get(&(source, version))
            .map_or(&[][..], |v| &v[..])
    }

    fn write(&self, source: u32, j: usize) -> Write {
        self.writes[&source].writes[j]
    }

    /// The invalidations of key `k` for source `s`'s writes, built once.
    fn key_index<'c>(&self, lazy: &'c mut Lazy, s: u32, k: u32) -> &'c KeyIndex {
        if !lazy.keyed.contains_key(&(s, k)) {
            let grouped = lazy.grouped.entry(s).or_insert_with(|| self.group(s));
            let list = grouped.get(&k).map_or(&[][..], |v| &v[..]);
            let ki = self.build_key_index(s, list);
            lazy.keyed.insert((s, k), ki);
        }
        &lazy.keyed[&(s, k)]
    }

    /// Source `s`'s commands by the keys they invalidate.
    fn group(&self, s: u32) -> HashMap<u32, Vec<(usize, usize)>> {
        let mut out: HashMap<u32, Vec<(usize, usize)>> = HashMap::new();
        let Some(sw) = self.writes.get(&s) else {
            return out;
        };
        for (j, w) in sw.writes.iter().enumerate() {
            for &c in self.cmds_of(s, w.version) {
                for &k in self.cmds[c].keys {
                    let e = out.entry(k).or_default();
                    if e.last() != Some(&(j, c)) {
                        e.push((j, c));
                    }
                }
            }
        }
        out
    }

    fn build_key_index(&self, s: u32, list: &[(usize, usize)]) -> KeyIndex {
        let writes = self.writes.get(&s).map_or(&[][..], |sw| &sw.writes[..]);
        let mut done: Vec<Option<u64>> = vec![None; writes.len()];
        let mut acks = Vec::new();
        for &(j, c) in list {
            let cmd = &self.cmds[c];
            done[j] = Some(done[j].map_or(cmd.end_ns, |d| d.max(cmd.end_ns)));
            if cmd.ok {
                acks.push(Ack {
                    end_ns: cmd.end_ns,
                    version: writes[j].version,
                    j,
                    cmd: c,
                });
            }
        }
        acks.sort_by_key(|a| (a.end_ns, a.j, a.cmd));
        let mut m = 0;
        let acks_pmax = acks
            .iter()
            .map(|a| {
                m = m.max(a.version);
                m
            })
            .collect();
        let done: Vec<u64> = done.into_iter().map(|d| d.unwrap_or(u64::MAX)).collect();
        KeyIndex {
            acks,
            acks_pmax,
            done: MaxTree::new(&done),
        }
    }

    /// How a hit of key `k` at version `v` of source `s`, read at `t`, is
    /// classified on `s`; `None` when it is not stale on `s`.
    fn judge(&self, lazy: &mut Lazy, s: u32, k: u32, v: u64, t: u64) -> Option<Class> {
        let sw = self.writes.get(&s)?;
        let j1 = sw.writes.partition_point(|w| w.commit_ns <= t);
        let store = *sw.pmax.get(j1.checked_sub(1)?)?;
        if store <= v {
            return None;
        }
        let j0 = sw.pmax.partition_point(|&m| m <= v);
        let ki = self.key_index(lazy, s, k);
        // Of the acknowledged invalidations of newer writes that ended at or
        // before t, the one that began last: the value had to survive it.
        // (Scanned back from t while a newer write's ack remains; there are
        // few: a stale value is gone at the next acknowledged delete unless
        // that delete too was lost.)
        let p = ki.acks.partition_point(|a| a.end_ns <= t);
        let mut latest: Option<Ack> = None;
        for i in (0..p).rev() {
            if ki.acks_pmax[i] <= v {
                break;
            }
            let a = ki.acks[i];
            if a.version > v
                && a.version <= store
                && latest.is_none_or(|l| self.cmds[a.cmd].start_ns > self.cmds[l.cmd].start_ns)
            {
                latest = Some(a);
            }
        }
        if let Some(a) = latest {
            return Some(Class::After(a));
        }
        Some(if ki.done.max(j0, j1) <= t {
            Class::Unacked
        } else {
            Class::Window
        })
    }

    fn name(&self, s: u32) -> String {
        match self.spec {
            Some(spec) => spec.source_name(s),
            None => s.to_string(),
        }
    }

    /// Who wrote a `SET`, for people.
    fn who(&self, set: &SetOp) -> String {
        if set.fill {
            let reader = (set.id.rsplit_once('.')).and_then(|(rid, _)| self.readers.get(rid));
            match reader {
                Some(r) => format!("reader {r}'s fill"),
                None => format!("fill {}", set.id),
            }
        } else {
            let writer = set.after.and_then(|(s, v)| {
                let j = *self.write_at.get(&(s, v))?;
                Some(self.write(s, j).writer)
            });
            match writer {
                Some(w) => format!("writer {w}'s update"),
                None => format!("update {}", set.id),
            }
        }
    }

    /// The steps that led to a stale-after-invalidation read of `version`
    /// of `source`.
    fn witness(
        &self,
        cause: Cause,
        read: &StaleRead,
        source: u32,
        version: u64,
        set: &SetOp,
        ack: Ack,
    ) -> Witness {
        let StaleRead {
            reader,
            key,
            start_ns: read_ns,
            node: read_node,
            local,
            fetch,
        } = *read;
        let by = |node: Option<&str>| node.map(|n| format!(" by {n}")).unwrap_or_default();
        let name = self.name(source);
        let w = self.write(source, ack.j);
        let cmd = &self.cmds[ack.cmd];
        let who = self.who(set);
        let mut steps: Vec<(u64, String)> = Vec::new();
        if !matches!(
            cause,
            Cause::LostInvalidation | Cause::LocalCopy | Cause::ReplicaLag
        ) {
            steps.push((
                set.store_ns,
                format!("{who} read the store: source {name} at version {version}"),
            ));
        }
        steps.push((
            w.commit_ns,
            format!(
                "writer {} wrote source {name} version {}",
                w.writer, w.version
            ),
        ));
        let acked = format!("acknowledged at {:.3} ms{}", ms(cmd.end_ns), by(cmd.node));
        steps.push((
            cmd.start_ns,
            match cmd.set {
                Some(vs) => format!(
                    "writer {} set key {key} to version {} of source {name}, {acked}",
                    w.writer,
                    vs.get(&source).copied().unwrap_or(w.version)
                ),
                None => format!("writer {} deleted key {key}, {acked}", w.writer),
            },
        ));
        steps.push((
            set.start_ns,
            format!(
                "{who} set key {key} to the version-{version} value, answered at {:.3} ms{}",
                ms(set.end_ns),
                by(set.node)
            ),
        ));
        steps.push((
            read_ns,
            format!(
                "reader {reader} read key {key}{}: version {version} of source {name}, {:.3} ms after the invalidation was acknowledged",
                if local {
                    " from its own client-side cache".to_string()
                } else {
                    read_node.map(|n| format!(" from {n}")).unwrap_or_default()
                },
                ms(read_ns.saturating_sub(cmd.end_ns))
            ),
        ));
        if let Some((from, to)) = fetch.filter(|_| local) {
            steps.push((
                from,
                format!(
                    "reader {reader} read key {key} from a node, answered at {:.3} ms: the version-{version} value it kept",
                    ms(to)
                ),
            ));
        }
        if matches!(
            cause,
            Cause::LostInvalidation | Cause::LocalCopy | Cause::ReplicaLag
        ) {
            // S first, as it began first in the history.
            let s = steps.remove(2);
            steps.insert(0, s);
        }
        steps.sort_by_key(|(ns, _)| *ns);
        Witness {
            cause,
            key,
            source,
            steps: steps
                .into_iter()
                .map(|(ns, what)| Step {
                    at_ms: ms(ns),
                    what,
                })
                .collect(),
        }
    }
}

/// A read that hit a stale value.
#[derive(Debug, Clone, Copy)]
struct StaleRead<'r> {
    reader: u32,
    key: u32,
    start_ns: u64,
    node: Option<&'r str>,
    local: bool,
    /// A local copy: when the reader's read that brought it began and ended.
    fetch: Option<(u64, u64)>,
}

/// The policy that keeps `source`, when the spec says.
fn policy_of(spec: Option<&InvalidationSpec>, source: u32) -> Option<Policy> {
    let spec = spec?;
    (!spec.policies.is_empty()).then(|| spec.policy_of(source))
}

/// One policy's figures while counting.
#[derive(Default)]
struct PolicyAcc {
    writes: u64,
    hits: u64,
    in_window: u64,
    unacked: u64,
    after: u64,
    longest_ns: Option<u64>,
    times_ns: Vec<u64>,
}

/// One stale value's episode.
struct Episode {
    gone_ns: u64,
    last_read_ns: u64,
    policy: Option<Policy>,
}

/// Judge the recording (see the module docs).
pub fn check(rec: &InvalidationRecording) -> Invalidation {
    let ix = Index::of(rec);
    let spec = rec.spec.as_ref();
    let mut out = Invalidation::default();
    let mut acc: BTreeMap<Policy, PolicyAcc> = BTreeMap::new();
    writes(&mut out, &mut acc, rec, &ix);
    let judged = reads(&mut out, &mut acc, rec, &ix);
    if let Some(spec) = spec {
        let mut seen = Vec::new();
        for &p in &spec.policies {
            if seen.contains(&p) {
                continue;
            }
            seen.push(p);
            let a = acc.remove(&p).unwrap_or_default();
            out.by_policy.push(PolicyFigures {
                policy: p,
                writes: a.writes,
                hits: a.hits,
                stale_in_window: a.in_window,
                stale_unacked: a.unacked,
                stale_after_invalidation: a.after,
                longest_stale_ms: a.longest_ns.map(ms),
                invalidation_p99_ms: percentiles(a.times_ns).p99_measured(),
            });
        }
    }
    out.unknown = if rec.cut_short {
        Some(
            "the readers and writers did not end within their bound at the stop: the history is cut short"
                .into(),
        )
    } else if rec.unrecorded > 0 {
        Some(format!(
            "{} ops were not recorded (the history was full): a history with holes is not judged",
            rec.unrecorded
        ))
    } else if out.writes == 0 {
        Some("no write was made: nothing could go stale".into())
    } else if judged == 0 {
        Some("no read hit the cache with a value of the workload's: nothing was judged".into())
    } else {
        None
    };
    out
}

/// The writes, their invalidations' outcomes and times; the failed fills.
fn writes(
    out: &mut Invalidation,
    acc: &mut BTreeMap<Policy, PolicyAcc>,
    rec: &InvalidationRecording,
    ix: &Index,
) {
    let spec = ix.spec;
    let mut affected: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut times = Vec::new();
    for op in &rec.ops {
        let &InvOp::Write {
            source,
            version,
            commit_ns,
            ..
        } = op
        else {
            if let InvOp::Set {
                fill: true,
                ok: false,
                ..
            } = op
            {
                out.failed_fills += 1;
            }
            continue;
        };
        out.writes += 1;
        let policy = policy_of(spec, source);
        if let Some(p) = policy {
            acc.entry(p).or_default().writes += 1;
        }
        let cmds: Vec<&Cmd> = ix
            .cmds_of(source, version)
            .iter()
            .map(|&c| &ix.cmds[c])
            .collect();
        let failed = cmds.iter().any(|c| !c.ok);
        if failed {
            out.invalidations_failed += 1;
        }
        let mut named: Vec<u32> = cmds.iter().flat_map(|c| c.keys.iter().copied()).collect();
        named.sort_unstable();
        named.dedup();
        let keys = match spec {
            Some(spec) => &*affected
                .entry(source)
                .or_insert_with(|| spec.affected(source)),
            None => &named,
        };
        let unfinished = cmds.is_empty() || keys.iter().any(|k| named.binary_search(k).is_err());
        if unfinished {
            out.unfinished_writes += 1;
        }
        if failed || unfinished {
            continue;
        }
        let end = cmds.iter().map(|c| c.end_ns).max().unwrap_or(commit_ns);
        let t = end.saturating_sub(commit_ns);
        times.push(t);
        if let Some(p) = policy {
            acc.entry(p).or_default().times_ns.push(t);
        }
    }
    out.invalidation_time = percentiles(times);
}

/// The reads: hits judged, group reads, episodes and witnesses. Returns the
/// judged hits.
fn reads(
    out: &mut Invalidation,
    acc: &mut BTreeMap<Policy, PolicyAcc>,
    rec: &InvalidationRecording,
    ix: &Index,
) -> u64 {
    let spec = ix.spec;
    let mut lazy = Lazy::default();
    let mut judged = 0;
    let mut episodes: BTreeMap<(u32, &str), Episode> = BTreeMap::new();
    let mut witnesses: BTreeMap<Cause, Vec<Witness>> = BTreeMap::new();
    // Each reader's last read of each key a node answered with a value:
    // where its local copy came from.
    let mut fetched: HashMap<(u32, u32), (u64, u64, &str)> = HashMap::new();
    let cached = spec.is_none_or(|sp| sp.client_cache);
    // Each region's readers, and its stale values: (gone, last read).
    let mut regions: Vec<RegionFigures> = spec
        .map(|sp| {
            (sp.regions.iter().enumerate())
                .map(|(i, r)| RegionFigures {
                    region: r.clone(),
                    readers: (0..sp.readers)
                        .filter(|&x| x as usize % sp.regions.len() == i)
                        .count() as u32,
                    ..Default::default()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut region_episodes: BTreeMap<(usize, u32, &str), (u64, u64)> = BTreeMap::new();
    for op in &rec.ops {
        let InvOp::Read {
            id,
            reader,
            keys,
            start_ns: t,
            end_ns: read_end,
            found,
            node,
            local,
            replica,
            ..
        } = op
        else {
            continue;
        };
        let region = spec.and_then(|sp| {
            let r = sp.region_of(*reader)?;
            sp.regions.iter().position(|x| x == r)
        });
        // No answer, or one that does not give a value per key: a failed
        // read, judged on nothing.
        let Some(found) = found.as_ref().filter(|f| f.len() == keys.len()) else {
            out.failed_reads += 1;
            continue;
        };
        let group = keys.len() > 1;
        let mut served: BTreeMap<u32, u64> = BTreeMap::new();
        let mut mixed = false;
        let mut serve = |versions: &BTreeMap<u32, u64>| {
            for (&s, &v) in versions {
                if *served.entry(s).or_insert(v) != v {
                    mixed = true;
                }
            }
        };
        for (&k, value) in keys.iter().zip(found) {
            out.reads += 1;
            if let Some(g) = region {
                regions[g].reads += 1;
                if value.is_some() {
                    regions[g].hits += 1;
                    if *replica {
                        regions[g].replica_hits += 1;
                    }
                }
            }
            let Some(text) = value else {
                out.misses += 1;
                if group
                    && let Some(f) = ix.sets.get(format!("{id}.{k}").as_str())
                    && f.fill
                    && f.ok
                {
                    serve(f.versions);
                }
                continue;
            };
            out.hits += 1;
            if *local {
                out.local_hits += 1;
            }
            let fetch = fetched.get(&(*reader, k)).copied();
            if cached && !*local {
                fetched.insert((*reader, k), (*t, *read_end, text.as_str()));
            }
            let parsed = parse_value(text);
            if group && let Some((_, versions)) = &parsed {
                serve(versions);
            }
            let Some((vid, versions)) = parsed else {
                out.unjudged += 1;
                continue;
            };
            // The SET of that id, of this key and these versions: a value
            // left by another run (ids repeat) is not judged.
            let Some(set) = ix
                .sets
                .get(vid)
                .filter(|s| s.key == k && *s.versions == versions)
            else {
                out.unjudged += 1;
                continue;
            };
            judged += 1;
            let mut policies: Vec<Policy> = versions
                .keys()
                .filter_map(|&s| policy_of(spec, s))
                .collect();
            policies.sort();
            policies.dedup();
            for p in policies {
                acc.entry(p).or_default().hits += 1;
            }
            // The worst class, on the first source in it; after
            // invalidation, a source whose acknowledged invalidation began
            // after the value's SET ended (a lost one) before a race.
            let rank = |c: &Class| match c {
                Class::After(a) if set.end_ns <= ix.cmds[a.cmd].start_ns => 3,
                c => c.rank(),
            };
            let mut worst: Option<(u32, u64, Class)> = None;
            for (&s, &v) in &versions {
                if let Some(c) = ix.judge(&mut lazy, s, k, v, *t)
                    && worst.is_none_or(|(_, _, w)| rank(&c) > rank(&w))
                {
                    worst = Some((s, v, c));
                }
            }
            let Some((s, v, class)) = worst else {
                continue;
            };
            let policy = policy_of(spec, s);
            let pacc = policy.map(|p| acc.entry(p).or_default());
            match class {
                Class::Window => {
                    out.stale_in_window += 1;
                    if let Some(g) = region {
                        regions[g].stale_in_window += 1;
                    }
                    if let Some(a) = pacc {
                        a.in_window += 1;
                    }
                }
                Class::Unacked => {
                    out.stale_unacked += 1;
                    if let Some(a) = pacc {
                        a.unacked += 1;
                    }
                }
                Class::After(ack) => {
                    out.stale_after_invalidation += 1;
                    if let Some(a) = pacc {
                        a.after += 1;
                    }
                    let cmd = &ix.cmds[ack.cmd];
                    let cause = match (set.end_ns > cmd.start_ns, set.fill) {
                        (true, true) => Cause::FillRace,
                        (true, false) => Cause::UpdateRace,
                        (false, _) if *local => Cause::LocalCopy,
                        (false, _) if *replica => Cause::ReplicaLag,
                        (false, _) => Cause::LostInvalidation,
                    };
                    out.causes.add(cause);
                    let gone_ns = cmd.end_ns.max(set.end_ns);
                    if let Some(g) = region {
                        regions[g].stale_after_invalidation += 1;
                        regions[g].causes.add(cause);
                        let e = region_episodes.entry((g, k, vid)).or_insert((gone_ns, *t));
                        e.0 = e.0.min(gone_ns);
                        e.1 = e.1.max(*t);
                    }
                    match episodes.get_mut(&(k, vid)) {
                        Some(e) => {
                            e.gone_ns = e.gone_ns.min(gone_ns);
                            e.last_read_ns = e.last_read_ns.max(*t);
                        }
                        None => {
                            episodes.insert(
                                (k, vid),
                                Episode {
                                    gone_ns,
                                    last_read_ns: *t,
                                    policy,
                                },
                            );
                            let ws = witnesses.entry(cause).or_default();
                            if ws.len() < MAX_WITNESSES {
                                let read = StaleRead {
                                    reader: *reader,
                                    key: k,
                                    start_ns: *t,
                                    node: node.as_deref(),
                                    local: *local,
                                    fetch: fetch
                                        .filter(|(_, _, v)| v.split('|').next() == Some(vid))
                                        .map(|(a, b, _)| (a, b)),
                                };
                                ws.push(ix.witness(cause, &read, s, v, set, ack));
                            }
                        }
                    }
                }
            }
        }
        if group {
            out.group_reads += 1;
            if mixed {
                out.mixed_group_reads += 1;
            }
        }
    }
    out.stale_episodes = episodes.len() as u64;
    let mut lifetimes = Vec::with_capacity(episodes.len());
    for e in episodes.values() {
        let life = e.last_read_ns.saturating_sub(e.gone_ns);
        lifetimes.push(life);
        if let Some(p) = e.policy {
            let a = acc.entry(p).or_default();
            a.longest_ns = Some(a.longest_ns.map_or(life, |l| l.max(life)));
        }
    }
    out.stale_lifetime = percentiles(lifetimes);
    for (g, r) in regions.iter_mut().enumerate() {
        r.stale_lifetime = percentiles(
            (region_episodes.iter())
                .filter(|((rg, _, _), _)| *rg == g)
                .map(|(_, (gone, last))| last.saturating_sub(*gone)),
        );
    }
    out.by_region = regions;
    out.witnesses = witnesses.into_values().flatten().collect();
    judged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::invalidation::value_of;

    const MS: u64 = 1_000_000;

    fn spec(keys: u32, policies: &[Policy]) -> InvalidationSpec {
        InvalidationSpec {
            keys,
            policies: policies.to_vec(),
            ..Default::default()
        }
    }

    fn versions(vs: &[(u32, u64)]) -> BTreeMap<u32, u64> {
        vs.iter().copied().collect()
    }

    /// `writer` commits `source` at `version`, at `at` ms.
    fn write(writer: u32, source: u32, version: u64, at: u64) -> InvOp {
        InvOp::Write {
            writer,
            source,
            version,
            start_ns: at * MS,
            commit_ns: at * MS,
        }
    }

    /// A round-1 `DEL` of `keys` for the write (source, version), acknowledged.
    fn del(writer: u32, source: u32, version: u64, keys: &[u32], from: u64, to: u64) -> InvOp {
        InvOp::Invalidate {
            writer,
            source,
            version,
            round: 1,
            keys: keys.to_vec(),
            start_ns: from * MS,
            end_ns: to * MS,
            ok: true,
            node: Some("n1".into()),
            error: None,
        }
    }

    /// The same invalidation, as the second round.
    fn round2(mut op: InvOp) -> InvOp {
        if let InvOp::Invalidate { round, .. } = &mut op {
            *round = 2;
        }
        op
    }

    /// The op, answered by `node`.
    fn on(name: &str, mut op: InvOp) -> InvOp {
        if let InvOp::Invalidate { node, .. } | InvOp::Set { node, .. } | InvOp::Read { node, .. } =
            &mut op
        {
            *node = Some(name.into());
        }
        op
    }

    /// The op, failed.
    fn failed(mut op: InvOp) -> InvOp {
        match &mut op {
            InvOp::Invalidate {
                ok, node, error, ..
            }
            | InvOp::Set {
                ok, node, error, ..
            } => {
                *ok = false;
                *node = None;
                *error = Some("timeout".into());
            }
            InvOp::Read {
                found, node, error, ..
            } => {
                *found = None;
                *node = None;
                *error = Some("timeout".into());
            }
            InvOp::Write { .. } => {}
        }
        op
    }

    /// Read `read`'s fill of `key`: the store read at `store`, the `SET`
    /// `from`..`to` ms.
    fn fill(read: &str, key: u32, vs: &[(u32, u64)], store: u64, from: u64, to: u64) -> InvOp {
        InvOp::Set {
            id: format!("{read}.{key}"),
            key,
            fill: true,
            after: None,
            versions: versions(vs),
            store_ns: store * MS,
            start_ns: from * MS,
            end_ns: to * MS,
            ok: true,
            node: Some("n1".into()),
            error: None,
        }
    }

    /// A writer's update of `key` after the write `after`.
    fn update(
        id: &str,
        key: u32,
        after: (u32, u64),
        vs: &[(u32, u64)],
        store: u64,
        from: u64,
        to: u64,
    ) -> InvOp {
        InvOp::Set {
            id: id.into(),
            key,
            fill: false,
            after: Some(after),
            versions: versions(vs),
            store_ns: store * MS,
            start_ns: from * MS,
            end_ns: to * MS,
            ok: true,
            node: Some("n1".into()),
            error: None,
        }
    }

    /// The value a `Set` op wrote.
    fn value(set: &InvOp) -> Option<String> {
        match set {
            InvOp::Set { id, versions, .. } => Some(value_of(id, versions)),
            _ => panic!("not a set: {set:?}"),
        }
    }

    /// A `GET` (an `MGET` with several keys) at `at` ms, answered 1 ms later.
    fn read(id: &str, reader: u32, keys: &[u32], at: u64, found: Vec<Option<String>>) -> InvOp {
        InvOp::Read {
            id: id.into(),
            reader,
            keys: keys.to_vec(),
            start_ns: at * MS,
            end_ns: (at + 1) * MS,
            node: Some("n1".into()),
            found: Some(found),
            error: None,
            local: false,
            replica: false,
        }
    }

    fn get(id: &str, reader: u32, key: u32, at: u64, found: Option<String>) -> InvOp {
        read(id, reader, &[key], at, vec![found])
    }

    /// The recording of `ops`, in the order they began.
    fn rec(spec: InvalidationSpec, mut ops: Vec<InvOp>) -> InvalidationRecording {
        ops.sort_by_key(InvOp::start_ns);
        InvalidationRecording {
            spec: Some(spec),
            ops,
            unrecorded: 0,
            unfinished: 0,
            cut_short: false,
        }
    }

    /// The classic fill race on `key` (its own source), from `base` ms:
    /// reader 0 misses, reads the store at version 0 (+1), writer 0 commits
    /// version 1 (+2) and deletes the key (+3..+4), reader 0 sets the
    /// version-0 value (+6..+7), reader 1 reads it (+10).
    fn fill_race(key: u32, base: u64) -> Vec<InvOp> {
        let f = fill(
            &format!("a{key}"),
            key,
            &[(key, 0)],
            base + 1,
            base + 6,
            base + 7,
        );
        let v = value(&f);
        vec![
            get(&format!("a{key}"), 0, key, base, None),
            f,
            write(0, key, 1, base + 2),
            del(0, key, 1, &[key], base + 3, base + 4),
            get(&format!("b{key}"), 1, key, base + 10, v),
        ]
    }

    fn whats(w: &Witness) -> Vec<(f64, &str)> {
        w.steps.iter().map(|s| (s.at_ms, s.what.as_str())).collect()
    }

    #[test]
    fn a_clean_history_has_no_stale_read_and_is_judged() {
        let f1 = fill("r0-1", 0, &[(0, 0)], 1, 6, 7);
        let f2 = fill("r0-2", 0, &[(0, 1)], 31, 36, 37);
        let (v1, v2) = (value(&f1), value(&f2));
        let ops = vec![
            get("r0-1", 0, 0, 0, None),
            f1,
            get("r1-1", 1, 0, 10, v1),
            write(0, 0, 1, 20),
            del(0, 0, 1, &[0], 21, 22),
            get("r0-2", 0, 0, 30, None),
            f2,
            get("r1-2", 1, 0, 40, v2),
            failed(get("r2-1", 2, 0, 41, None)),
            get("r2-2", 2, 0, 42, None),
            failed(fill("r2-2", 0, &[(0, 1)], 43, 44, 45)),
        ];
        let c = check(&rec(spec(1, &[Policy::Delete]), ops));
        assert_eq!(c.unknown, None, "{c:?}");
        assert_eq!((c.reads, c.hits, c.misses), (5, 2, 3));
        assert_eq!((c.failed_reads, c.failed_fills), (1, 1));
        assert_eq!(
            (c.writes, c.invalidations_failed, c.unfinished_writes),
            (1, 0, 0)
        );
        assert_eq!(
            (
                c.stale_in_window,
                c.stale_unacked,
                c.stale_after_invalidation
            ),
            (0, 0, 0)
        );
        assert_eq!(
            (c.stale_episodes, c.stale_lifetime.count, c.unjudged),
            (0, 0, 0)
        );
        assert!(c.witnesses.is_empty());
        assert_eq!(
            (c.invalidation_time.count, c.invalidation_time.max),
            (1, 2.0)
        );
        let [p] = &c.by_policy[..] else {
            panic!("one policy: {:?}", c.by_policy)
        };
        assert_eq!((p.policy, p.writes, p.hits), (Policy::Delete, 1, 2));
        assert_eq!(p.longest_stale_ms, None);
        assert!((p.invalidation_p99_ms.unwrap() - 2.0).abs() < 0.01, "{p:?}");
    }

    #[test]
    fn a_fill_that_lands_after_the_delete_is_a_fill_race() {
        let mut ops = fill_race(0, 0);
        // Read again later: the same episode, longer.
        let v = value(&ops[1]);
        ops.push(get("c0", 2, 0, 12, v));
        let c = check(&rec(spec(1, &[Policy::Delete]), ops));
        assert_eq!(c.stale_after_invalidation, 2);
        assert_eq!(
            c.causes,
            Causes {
                fill_race: 2,
                ..Default::default()
            }
        );
        assert_eq!((c.stale_in_window, c.stale_unacked), (0, 0));
        assert_eq!(c.stale_episodes, 1);
        // From the SET's end (7 ms, after the DEL's 4 ms) to the last read (12 ms).
        assert_eq!(c.stale_lifetime.max, 5.0);
        assert_eq!(c.by_policy[0].stale_after_invalidation, 2);
        assert_eq!(c.by_policy[0].longest_stale_ms, Some(5.0));
        let [w] = &c.witnesses[..] else {
            panic!("one witness: {:?}", c.witnesses)
        };
        assert_eq!((w.cause, w.key, w.source), (Cause::FillRace, 0, 0));
        assert_eq!(
            whats(w),
            vec![
                (1.0, "reader 0's fill read the store: source 0 at version 0"),
                (2.0, "writer 0 wrote source 0 version 1"),
                (
                    3.0,
                    "writer 0 deleted key 0, acknowledged at 4.000 ms by n1"
                ),
                (
                    6.0,
                    "reader 0's fill set key 0 to the version-0 value, answered at 7.000 ms by n1"
                ),
                (
                    10.0,
                    "reader 1 read key 0 from n1: version 0 of source 0, 6.000 ms after the invalidation was acknowledged"
                ),
            ]
        );
    }

    #[test]
    fn two_updates_landing_out_of_order_are_an_update_race() {
        let old = update("w0-1.0", 0, (0, 1), &[(0, 1)], 1, 6, 7);
        let v = value(&old);
        let ops = vec![
            write(0, 0, 1, 0),
            old,
            write(1, 0, 2, 2),
            update("w1-1.0", 0, (0, 2), &[(0, 2)], 3, 4, 5),
            get("r0-1", 0, 0, 10, v),
        ];
        let c = check(&rec(spec(1, &[Policy::Update]), ops));
        assert_eq!(
            c.causes,
            Causes {
                update_race: 1,
                ..Default::default()
            }
        );
        assert_eq!(c.stale_after_invalidation, 1);
        assert_eq!(c.by_policy[0].policy, Policy::Update);
        assert_eq!(c.by_policy[0].stale_after_invalidation, 1);
        // Write 1: commit 0 → its SET's end 7; write 2: 2 → 5.
        assert_eq!(
            (c.invalidation_time.count, c.invalidation_time.max),
            (2, 7.0)
        );
        let w = &c.witnesses[0];
        assert_eq!(w.cause, Cause::UpdateRace);
        assert_eq!(
            whats(w),
            vec![
                (
                    1.0,
                    "writer 0's update read the store: source 0 at version 1"
                ),
                (2.0, "writer 1 wrote source 0 version 2"),
                (
                    4.0,
                    "writer 1 set key 0 to version 2 of source 0, acknowledged at 5.000 ms by n1"
                ),
                (
                    6.0,
                    "writer 0's update set key 0 to the version-1 value, answered at 7.000 ms by n1"
                ),
                (
                    10.0,
                    "reader 0 read key 0 from n1: version 1 of source 0, 5.000 ms after the invalidation was acknowledged"
                ),
            ]
        );
    }

    #[test]
    fn a_value_written_long_before_an_acknowledged_delete_is_a_lost_invalidation() {
        let f = fill("r0-1", 0, &[(0, 0)], 0, 1, 2);
        let v = value(&f);
        let ops = vec![
            get("r0-1", 0, 0, 0, None),
            f,
            get("r1-1", 1, 0, 5, v.clone()),
            write(0, 0, 1, 10),
            del(0, 0, 1, &[0], 11, 12),
            // Read from the replica promoted since, which never got the DEL.
            on("n2", get("r1-2", 1, 0, 20, v)),
        ];
        let c = check(&rec(spec(1, &[Policy::Delete]), ops));
        assert_eq!(
            c.causes,
            Causes {
                lost_invalidation: 1,
                ..Default::default()
            }
        );
        assert_eq!((c.hits, c.stale_after_invalidation), (2, 1));
        assert_eq!(c.stale_lifetime.max, 8.0);
        let w = &c.witnesses[0];
        let at: Vec<f64> = w.steps.iter().map(|s| s.at_ms).collect();
        assert_eq!(at, vec![1.0, 10.0, 11.0, 20.0]);
        assert!(
            w.steps[0].what.starts_with("reader 0's fill set key 0"),
            "{w:?}"
        );
        assert_eq!(
            w.steps[2].what,
            "writer 0 deleted key 0, acknowledged at 12.000 ms by n1"
        );
        assert!(w.steps[3].what.contains("from n2"), "{w:?}");
        assert!(w.steps[3].what.contains("8.000 ms after"), "{w:?}");
    }

    /// The read, answered by the reader's own client-side cache.
    fn locally(mut op: InvOp) -> InvOp {
        if let InvOp::Read { node, local, .. } = &mut op {
            *node = None;
            *local = true;
        }
        op
    }

    #[test]
    fn a_local_copy_read_after_its_acknowledged_delete_is_a_stale_local_copy() {
        let f = fill("r0-1", 0, &[(0, 0)], 0, 1, 2);
        let v = value(&f);
        let ops = vec![
            get("r0-1", 0, 0, 0, None),
            f,
            // Reader 1 fetches the value from a node, and keeps it.
            get("r1-1", 1, 0, 5, v.clone()),
            locally(get("r1-2", 1, 0, 7, v.clone())),
            write(0, 0, 1, 10),
            del(0, 0, 1, &[0], 11, 12),
            // Its copy answers after the delete was acknowledged...
            locally(get("r1-3", 1, 0, 20, v.clone())),
            // ...as the node itself never does: reader 2 finds nothing.
            get("r2-1", 2, 0, 21, None),
            locally(get("r1-4", 1, 0, 30, v)),
        ];
        let mut cached = spec(1, &[Policy::Delete]);
        cached.client_cache = true;
        let c = check(&rec(cached, ops));
        assert_eq!(
            c.causes,
            Causes {
                local_copy: 2,
                ..Default::default()
            }
        );
        assert_eq!(
            (c.hits, c.local_hits, c.stale_after_invalidation),
            (4, 3, 2)
        );
        // One stale value, from when its delete was answered to the last
        // local read of it.
        assert_eq!((c.stale_episodes, c.stale_lifetime.max), (1, 18.0));
        let w = &c.witnesses[0];
        assert_eq!(w.cause, Cause::LocalCopy);
        let at: Vec<f64> = w.steps.iter().map(|s| s.at_ms).collect();
        assert_eq!(at, vec![1.0, 5.0, 10.0, 11.0, 20.0], "{w:?}");
        assert_eq!(
            w.steps[1].what,
            "reader 1 read key 0 from a node, answered at 6.000 ms: the version-0 value it kept"
        );
        assert!(
            w.steps[4].what.contains("from its own client-side cache"),
            "{w:?}"
        );
        // The same reads from a node are lost invalidations, nothing more.
        let c2 = check(&rec(spec(1, &[Policy::Delete]), unmarked()));
        assert_eq!((c2.causes.lost_invalidation, c2.causes.local_copy), (2, 0));
        assert_eq!(c2.local_hits, 0);
    }

    /// The read, answered by replica `name`.
    fn from_replica(name: &str, mut op: InvOp) -> InvOp {
        if let InvOp::Read { node, replica, .. } = &mut op {
            *node = Some(name.into());
            *replica = true;
        }
        op
    }

    #[test]
    fn a_replica_behind_its_primary_is_replica_lag_in_its_readers_region() {
        let f = fill("r0-1", 0, &[(0, 0)], 0, 1, 2);
        let v = value(&f);
        let mut s = spec(1, &[Policy::Delete]);
        s.readers = 3;
        s.regions = vec!["eu".into(), "us".into()];
        s.replica_reads = true;
        let ops = vec![
            get("r0-1", 0, 0, 0, None),
            f,
            write(0, 0, 1, 10),
            del(0, 0, 1, &[0], 11, 12),
            // Reader 1 (us) reads its replica before the DEL reached it,
            // twice; reader 2 (eu) reads the primary, and finds nothing.
            from_replica("n2", get("r1-1", 1, 0, 20, v.clone())),
            get("r2-1", 2, 0, 25, None),
            from_replica("n2", get("r1-2", 1, 0, 52, v)),
        ];
        let c = check(&rec(s, ops));
        assert_eq!(
            c.causes,
            Causes {
                replica_lag: 2,
                ..Default::default()
            }
        );
        assert_eq!(c.witnesses[0].cause, Cause::ReplicaLag);
        assert!(
            c.witnesses[0]
                .steps
                .last()
                .unwrap()
                .what
                .contains("from n2")
        );
        let (eu, us) = (&c.by_region[0], &c.by_region[1]);
        assert_eq!((eu.region.as_str(), eu.readers), ("eu", 2));
        assert_eq!((us.region.as_str(), us.readers), ("us", 1));
        assert_eq!(
            (us.hits, us.replica_hits, us.stale_after_invalidation),
            (2, 2, 2)
        );
        assert_eq!(us.causes.replica_lag, 2);
        // Its window: from the DEL's answer (12 ms) to its last stale read.
        assert_eq!((us.stale_lifetime.count, us.stale_lifetime.max), (1, 40.0));
        assert_eq!((eu.reads, eu.hits, eu.stale_after_invalidation), (2, 0, 0));
        assert_eq!(eu.stale_lifetime.count, 0);
    }

    /// The history of the test above, every read answered by a node.
    fn unmarked() -> Vec<InvOp> {
        let f = fill("r0-1", 0, &[(0, 0)], 0, 1, 2);
        let v = value(&f);
        vec![
            get("r0-1", 0, 0, 0, None),
            f,
            get("r1-1", 1, 0, 5, v.clone()),
            get("r1-2", 1, 0, 7, v.clone()),
            write(0, 0, 1, 10),
            del(0, 0, 1, &[0], 11, 12),
            get("r1-3", 1, 0, 20, v.clone()),
            get("r2-1", 2, 0, 21, None),
            get("r1-4", 1, 0, 30, v),
        ]
    }

    #[test]
    fn a_read_before_the_delete_answered_is_in_the_window() {
        let f = fill("r0-1", 0, &[(0, 0)], 0, 1, 2);
        let v = value(&f);
        let ops = vec![
            get("r0-1", 0, 0, 0, None),
            f,
            write(0, 0, 1, 10),
            del(0, 0, 1, &[0], 11, 15),
            // After the commit, before the DEL's answer.
            get("r1-1", 1, 0, 12, v.clone()),
            // After it: the DEL was lost.
            get("r1-2", 1, 0, 20, v),
        ];
        let c = check(&rec(spec(1, &[Policy::Delete]), ops));
        assert_eq!(c.stale_in_window, 1);
        assert_eq!(c.stale_after_invalidation, 1);
        assert_eq!(c.causes.lost_invalidation, 1);
        assert_eq!(c.by_policy[0].stale_in_window, 1);
    }

    #[test]
    fn a_value_left_by_a_failed_delete_is_unacked() {
        let f = fill("r0-1", 0, &[(0, 0)], 0, 1, 2);
        let v = value(&f);
        let ops = vec![
            get("r0-1", 0, 0, 0, None),
            f,
            write(0, 0, 1, 10),
            failed(del(0, 0, 1, &[0], 11, 12)),
            get("r1-1", 1, 0, 11, v.clone()),
            get("r1-2", 1, 0, 20, v.clone()),
            // A newer write whose DEL has not answered: in the window again.
            write(0, 0, 2, 30),
            del(0, 0, 2, &[0], 31, 40),
            get("r1-3", 1, 0, 32, v),
        ];
        let c = check(&rec(spec(1, &[Policy::Delete]), ops));
        assert_eq!((c.stale_in_window, c.stale_unacked), (2, 1));
        assert_eq!(c.stale_after_invalidation, 0);
        assert_eq!(c.invalidations_failed, 1);
        // Only the second write is timed: commit 30 → 40.
        assert_eq!(
            (c.invalidation_time.count, c.invalidation_time.max),
            (1, 10.0)
        );
        assert_eq!(c.by_policy[0].stale_unacked, 1);
    }

    #[test]
    fn the_second_delete_of_double_delete_ends_the_episode() {
        let mut ops = fill_race(0, 0);
        let v = value(&ops[1]);
        ops.extend([
            get("c0", 2, 0, 30, v),
            round2(del(0, 0, 1, &[0], 54, 55)),
            get("d0", 2, 0, 60, None),
        ]);
        let c = check(&rec(spec(1, &[Policy::DoubleDelete]), ops));
        assert_eq!((c.stale_after_invalidation, c.causes.fill_race), (2, 2));
        assert_eq!(c.stale_episodes, 1);
        // From the fill's end (7 ms) to the last read that saw it (30 ms).
        assert_eq!(c.stale_lifetime.max, 23.0);
        assert_eq!(c.misses, 2);
        // Round 2 is no part of the invalidation time: commit 2 → DEL end 4.
        assert_eq!(
            (c.invalidation_time.count, c.invalidation_time.max),
            (1, 2.0)
        );
        assert_eq!(c.by_policy[0].policy, Policy::DoubleDelete);
        assert_eq!(c.by_policy[0].longest_stale_ms, Some(23.0));
    }

    #[test]
    fn group_reads_that_disagree_on_a_version_are_mixed() {
        let mut s = spec(3, &[Policy::Delete]);
        s.dependants = BTreeMap::from([(0, vec![1])]);
        let (a0, a1) = (
            fill("r0-1", 0, &[(0, 1)], 2, 3, 4),
            fill("r0-1", 1, &[(0, 1), (1, 0)], 2, 4, 5),
        );
        let b0 = fill("r1-1", 0, &[(0, 2)], 26, 27, 28);
        let (va0, va1, vb0) = (value(&a0), value(&a1), value(&b0));
        let ops = vec![
            write(0, 0, 1, 0),
            // Both missing, both filled at version 1 of source 0.
            read("r0-1", 0, &[0, 1], 1, vec![None, None]),
            a0,
            a1,
            // Both found, at version 1.
            read("r0-2", 0, &[0, 1], 10, vec![va0, va1.clone()]),
            write(0, 0, 2, 20),
            del(0, 0, 2, &[0, 1], 21, 22),
            get("r1-1", 1, 0, 25, None),
            b0,
            // Key 0 found at version 2, key 1 filled at version 2.
            read("r0-3", 0, &[0, 1], 30, vec![vb0.clone(), None]),
            fill("r0-3", 1, &[(0, 2), (1, 0)], 31, 32, 33),
            // Key 0 at version 2, key 1 (an old value) at version 1: mixed.
            read("r0-4", 0, &[0, 1], 40, vec![vb0.clone(), va1]),
            // Key 1's fill failed: left out.
            read("r0-5", 0, &[0, 1], 50, vec![vb0, None]),
            failed(fill("r0-5", 1, &[(0, 1), (1, 0)], 51, 52, 53)),
        ];
        let c = check(&rec(s, ops));
        assert_eq!((c.group_reads, c.mixed_group_reads), (5, 1));
        assert_eq!((c.reads, c.hits, c.misses), (11, 6, 5));
        assert_eq!(c.failed_fills, 1);
    }

    #[test]
    fn a_tag_write_invalidates_its_keys_and_names_the_tag() {
        let mut s = spec(4, &[Policy::Delete]);
        s.tags = BTreeMap::from([("cat".to_string(), vec![2, 3])]);
        assert_eq!(s.tag_source("cat"), Some(4));
        let f = fill("r0-1", 3, &[(3, 0), (4, 0)], 9, 13, 14);
        let v = value(&f);
        let ops = vec![
            get("r0-1", 0, 3, 8, None),
            f,
            write(0, 4, 1, 10),
            del(0, 4, 1, &[2, 3], 11, 12),
            write(1, 3, 1, 18),
            del(1, 3, 1, &[3], 19, 25),
            // Stale on 3 in the window and on the tag after its DEL: once, after.
            get("r1-1", 1, 3, 20, v),
            get("r1-2", 1, 2, 20, None),
        ];
        let c = check(&rec(s, ops));
        assert_eq!((c.stale_after_invalidation, c.stale_in_window), (1, 0));
        assert_eq!(c.causes.fill_race, 1);
        let w = &c.witnesses[0];
        assert_eq!((w.key, w.source), (3, 4));
        assert_eq!(w.steps[1].what, "writer 0 wrote source tag:cat version 1");
        assert_eq!(
            w.steps[2].what,
            "writer 0 deleted key 3, acknowledged at 12.000 ms by n1"
        );
        assert!(
            w.steps[0].what.ends_with("source tag:cat at version 0"),
            "{w:?}"
        );
        // The tag's write covered keys 2 and 3 in one DEL: 10 → 12; key 3's 18 → 25.
        assert_eq!(
            (c.invalidation_time.count, c.invalidation_time.max),
            (2, 7.0)
        );
        assert_eq!(c.unfinished_writes, 0);
    }

    #[test]
    fn the_invalidation_time_runs_to_the_last_delete() {
        let mut s = spec(2, &[Policy::Delete]);
        s.dependants = BTreeMap::from([(0, vec![1])]);
        let ops = vec![
            // One DEL per key, in turn.
            write(0, 0, 1, 10),
            del(0, 0, 1, &[0], 11, 12),
            del(0, 0, 1, &[1], 12, 15),
            // One MULTI/EXEC.
            write(0, 0, 2, 20),
            del(0, 0, 2, &[0, 1], 21, 23),
        ];
        let c = check(&rec(s, ops));
        let t = &c.invalidation_time;
        assert_eq!((t.count, t.max), (2, 5.0));
        assert!((c.by_policy[0].invalidation_p99_ms.unwrap() - 5.0).abs() < 0.01);
        assert_eq!((c.unfinished_writes, c.invalidations_failed), (0, 0));
    }

    #[test]
    fn a_write_whose_delete_never_happened_is_unfinished() {
        let mut s = spec(2, &[Policy::Delete]);
        s.dependants = BTreeMap::from([(0, vec![1])]);
        let f = fill("r0-1", 1, &[(0, 0), (1, 0)], 1, 2, 3);
        let v = value(&f);
        let ops = vec![
            get("r0-1", 0, 1, 0, None),
            f,
            // Key 1 never deleted for source 0; nothing deleted for source 1.
            write(0, 0, 1, 10),
            del(0, 0, 1, &[0], 11, 12),
            write(1, 1, 1, 20),
            // Stale on both: no invalidation of key 1 yet, so in the window.
            get("r1-1", 1, 1, 30, v),
        ];
        let c = check(&rec(s, ops));
        assert_eq!(c.unfinished_writes, 2);
        assert_eq!(c.invalidation_time.count, 0);
        assert_eq!(c.by_policy[0].invalidation_p99_ms, None);
        assert_eq!((c.stale_in_window, c.stale_after_invalidation), (1, 0));
    }

    #[test]
    fn a_history_that_judged_nothing_is_unknown() {
        let clean = || {
            let f = fill("r0-1", 0, &[(0, 0)], 1, 2, 3);
            let v = value(&f);
            vec![
                get("r0-1", 0, 0, 0, None),
                f,
                get("r1-1", 1, 0, 5, v),
                write(0, 0, 1, 10),
                del(0, 0, 1, &[0], 11, 12),
            ]
        };
        let s = || spec(1, &[Policy::Delete]);
        assert_eq!(check(&rec(s(), clean())).unknown, None);
        let mut holes = rec(s(), clean());
        holes.unrecorded = 5;
        let c = check(&holes);
        assert!(
            c.unknown
                .as_deref()
                .unwrap()
                .contains("5 ops were not recorded"),
            "{c:?}"
        );
        let mut no_write = clean();
        no_write.truncate(3);
        let c = check(&rec(s(), no_write));
        assert!(
            c.unknown.as_deref().unwrap().starts_with("no write"),
            "{c:?}"
        );
        let mut no_hit = clean();
        no_hit.remove(2);
        let c = check(&rec(s(), no_hit));
        assert_eq!(c.hits, 0);
        assert!(
            c.unknown.as_deref().unwrap().starts_with("no read hit"),
            "{c:?}"
        );
    }

    #[test]
    fn a_value_not_the_workloads_is_unjudged() {
        let ops = vec![
            write(0, 0, 1, 0),
            del(0, 0, 1, &[0], 1, 2),
            get("r0-1", 0, 0, 5, Some("hello".into())),
            // Stale by its versions, but its SET is not in the history.
            get("r0-2", 0, 0, 6, Some("r9-9.0|0=0".into())),
        ];
        let c = check(&rec(spec(1, &[Policy::Delete]), ops));
        assert_eq!((c.hits, c.unjudged), (2, 2));
        assert_eq!(
            (
                c.stale_in_window,
                c.stale_unacked,
                c.stale_after_invalidation
            ),
            (0, 0, 0)
        );
        assert_eq!(c.by_policy[0].hits, 0);
        assert!(c.unknown.is_some());
    }

    #[test]
    fn witnesses_are_three_per_cause_in_history_order() {
        let mut ops = Vec::new();
        for key in 0..4 {
            ops.extend(fill_race(key, 100 * u64::from(3 - key)));
        }
        let f = fill("lost", 0, &[(0, 1)], 400, 401, 402);
        let v = value(&f);
        ops.extend([
            f,
            write(0, 0, 2, 410),
            del(0, 0, 2, &[0], 411, 412),
            get("late", 1, 0, 420, v),
        ]);
        let c = check(&rec(spec(4, &[Policy::Delete]), ops));
        assert_eq!((c.causes.fill_race, c.causes.lost_invalidation), (4, 1));
        let seen: Vec<(Cause, u32)> = c.witnesses.iter().map(|w| (w.cause, w.key)).collect();
        assert_eq!(
            seen,
            vec![
                (Cause::FillRace, 3),
                (Cause::FillRace, 2),
                (Cause::FillRace, 1),
                (Cause::LostInvalidation, 0)
            ]
        );
        assert_eq!(
            serde_json::to_string(&Cause::FillRace).unwrap(),
            "\"fill_race\""
        );
        assert_eq!(Cause::LostInvalidation.as_str(), "lost_invalidation");
    }

    #[test]
    fn a_long_history_is_judged_quickly() {
        // 200 000 writes of one key, each deleted but failed, and a value
        // from before them read after each: every read scans no more than
        // it must.
        let f = fill("r0-1", 0, &[(0, 0)], 0, 1, 2);
        let v = value(&f);
        let mut ops = vec![get("r0-1", 0, 0, 0, None), f];
        for i in 1..=200_000u64 {
            ops.push(write(0, 0, i, 10 * i));
            ops.push(failed(del(0, 0, i, &[0], 10 * i + 1, 10 * i + 2)));
            ops.push(get(&format!("r1-{i}"), 1, 0, 10 * i + 5, v.clone()));
        }
        let c = check(&rec(spec(1, &[Policy::Delete]), ops));
        assert_eq!(c.stale_unacked, 200_000);
        assert_eq!(c.invalidations_failed, 200_000);
    }

    /// A value stale on two sources, a race on one and a lost delete on the
    /// other, is a lost invalidation: the lost delete is never hidden.
    #[test]
    fn a_lost_delete_on_one_source_is_not_hidden_by_a_race_on_another() {
        let mut sp = spec(4, &[Policy::Delete]);
        sp.dependants = BTreeMap::from([(0, vec![1])]);
        let f = fill("a1", 1, &[(0, 0), (1, 0)], 1, 4, 5);
        let v = value(&f);
        let h = rec(
            sp,
            vec![
                get("a1", 0, 1, 0, None),
                f,
                write(1, 0, 1, 2),
                del(1, 0, 1, &[0, 1], 3, 4),
                write(2, 1, 1, 8),
                del(2, 1, 1, &[1], 10, 12),
                get("b", 1, 1, 20, v),
            ],
        );
        let r = check(&h);
        assert_eq!(r.causes.lost_invalidation, 1, "{r:?}");
        assert_eq!(r.causes.fill_race, 0, "{r:?}");
        assert_eq!(r.stale_after_invalidation, 1);
    }

    /// Of the acknowledged deletes before the read, the one that began last
    /// decides: an older slow DEL ending after a newer quick one does not
    /// turn a lost delete into a race.
    #[test]
    fn the_delete_that_began_last_decides_the_cause() {
        let f = fill("a0", 0, &[(0, 0)], 1, 14, 15);
        let v = value(&f);
        let h = rec(
            spec(2, &[Policy::Delete]),
            vec![
                get("a0", 0, 0, 0, None),
                f,
                write(1, 0, 1, 9),
                del(1, 0, 1, &[0], 10, 30),
                write(2, 0, 2, 19),
                del(2, 0, 2, &[0], 20, 21),
                get("b", 1, 0, 40, v),
            ],
        );
        let r = check(&h);
        assert_eq!(r.causes.lost_invalidation, 1, "{r:?}");
        assert_eq!(r.causes.fill_race, 0, "{r:?}");
    }

    /// A value whose id names a SET of another key (ids repeat from run to
    /// run), and an answer without a value per key, are not judged.
    #[test]
    fn a_value_of_another_set_and_a_short_answer_are_not_judged() {
        let f = fill("a0", 0, &[(0, 0)], 1, 2, 3);
        let foreign = value_of("a0.0", &versions(&[(1, 0)]));
        let mut short = read("c", 2, &[0, 1], 30, vec![None]);
        if let InvOp::Read { found, .. } = &mut short {
            *found = Some(vec![None]);
        }
        let h = rec(
            spec(2, &[Policy::Delete]),
            vec![
                get("a0", 0, 0, 0, None),
                f,
                write(1, 1, 1, 5),
                del(1, 1, 1, &[1], 6, 7),
                get("b", 1, 1, 20, Some(foreign)),
                short,
            ],
        );
        let r = check(&h);
        assert_eq!(r.unjudged, 1, "{r:?}");
        assert_eq!(r.stale_after_invalidation, 0, "{r:?}");
        assert_eq!(r.failed_reads, 1, "{r:?}");
    }
}
