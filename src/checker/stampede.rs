//! Stampedes, from the stampede workload's history
//! ([`crate::workload::stampede`]). Pure.
//!
//! - **Epochs.** A computation replaces the value whose write was the last
//!   acknowledged before the read it rests on was sent (its *predecessor*;
//!   none at first). Computations with the same key and predecessor belong
//!   to one expiry epoch, and an epoch should have one.
//! - **A second computation in an epoch** is judged against the one before
//!   it that still counts (acknowledged its write, or held its lock when
//!   the second took it):
//!   - granted by another node: the lock vanished with its shard's primary —
//!     a **failover computation**, counted with its window;
//!   - granted when the first lock's PX could have run out (at least
//!     `lock_ttl_ms` after the first grant was sent) — **lock expired**;
//!   - otherwise a **stampede violation**: two readers computed at once
//!     while one held the lock.
//!
//!   A first computation whose write failed and whose lock was released
//!   before the next grant was sent leaves the epoch open: the next is no
//!   duplicate.
//! - **Early recomputations**: a read found the key missing before its
//!   predecessor's PX could have run out (answered before the predecessor's
//!   write was sent + PX): the value vanished early (a failover that lost
//!   it, an eviction).
//! - **Stale serves** (`serve_stale`): a value served past its freshness,
//!   and by how long (read start − freshness deadline).
//! - **Superseded serves**: a served value older than one whose write was
//!   acknowledged before the read began. Never acceptable.
//! - **Warm-up** (a cold start): the miss ratio (reads that found no fresh
//!   value: waited, computed or failed) in the baseline, and from the start
//!   of `during` one-second windows slid by 100 ms: `warm_ms` is from
//!   `during`'s start to the start of the first window after which every
//!   window is within [`WARM_TOLERANCE`] of the baseline's ratio — back for
//!   good, not between two relapses (0 when the action cost no misses).
//!   Windows with fewer than [`WARM_MIN_READS`] reads are skipped.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::latency::{Latency, percentiles};
use crate::record::stampede::{
    Compute, Found, Read, ReadOutcome, StampedeRecording, StampedeSpec, Variant, fresh_until,
};

/// How far above the baseline's miss ratio counts as warm again: one point.
pub const WARM_TOLERANCE: f64 = 0.01;

/// A warm-up window with fewer reads than this says nothing.
pub const WARM_MIN_READS: u64 = 20;

const WARM_WINDOW_NS: u64 = 1_000_000_000;
const WARM_STEP_NS: u64 = 100_000_000;

/// The miss ratio before and after the action, and how long it took to
/// come back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Warm {
    pub baseline_miss_ratio: f64,
    pub baseline_reads: u64,
    /// The highest one-second miss ratio from `during`'s start.
    pub peak_miss_ratio: f64,
    /// `during`'s start (ms since the run's epoch).
    pub from_ms: f64,
    /// From `during`'s start until the miss ratio was back (`None`: not
    /// by the end of the recording).
    pub warm_ms: Option<f64>,
    /// When not back: how long the recording went on without it (a lower
    /// bound of `warm_ms`).
    pub not_warm_for_ms: Option<f64>,
    /// The miss ratio of each whole second from `during`'s start (at most 120).
    pub per_second: Vec<f64>,
}

/// A second computation in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Duplicate {
    pub key: u32,
    pub variant: Variant,
    /// The value the epoch replaces (`None`: the first epoch).
    pub predecessor: Option<String>,
    /// The computation that counted, and the duplicate: their values,
    /// granting nodes and grant times (ms since the run's epoch).
    pub first: String,
    pub first_node: String,
    pub first_grant_ms: f64,
    pub second: String,
    pub second_node: String,
    pub second_grant_ms: f64,
}

/// One variant's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VariantFigures {
    pub variant: Option<Variant>,
    pub reads: u64,
    pub failed: u64,
    pub computes: u64,
    pub violations: u64,
    pub failover_computes: u64,
    pub lock_expired_computes: u64,
    /// Read start → value served, every served read.
    pub serve_ms: Latency,
}

/// The figures of the readers in one region (`stampede.regions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionFigures {
    pub region: String,
    pub readers: u32,
    pub reads: u64,
    pub hits: u64,
    pub failed: u64,
    /// Computations this region's readers did (won the lock for).
    pub computes: u64,
    /// Reads of the key after the first, by this region's losers: each a
    /// round trip to the key's primary.
    pub polls: u64,
    /// The longest stretch in which none of this region's reads was served
    /// while one of them waited or failed.
    pub no_serve_max_ms: f64,
    pub serve_ms: Latency,
    pub hit_ms: Latency,
    pub miss_ms: Latency,
}

/// One phase's figures (by read start).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseFigures {
    pub phase: String,
    pub reads: u64,
    pub failed: u64,
    pub computes: u64,
    pub serve_ms: Latency,
}

/// One second of the readers' reads, by when each began.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the run's epoch (the second starting then).
    pub t_s: u64,
    pub hits: u64,
    /// Served after waiting for, or doing, a computation.
    pub misses: u64,
    pub stale: u64,
    pub failed: u64,
    /// Computations granted in this second.
    pub computes: u64,
}

/// Seconds a report draws at most (an hour).
pub const MAX_SECONDS: usize = 3600;

/// What the stampede checker found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stampede {
    pub readers: u32,
    pub keys: u32,
    pub policy: String,
    pub reads: u64,
    pub hits: u64,
    /// Served after polling while another reader computed.
    pub waited: u64,
    pub computed: u64,
    pub stale_served: u64,
    pub failed: u64,
    /// Commands that failed inside reads (each read counts its own).
    pub command_errors: u64,
    pub computes: u64,
    pub epochs: u64,
    pub violations: Vec<Duplicate>,
    pub failover_computes: Vec<Duplicate>,
    pub lock_expired_computes: Vec<Duplicate>,
    pub early_recomputes: u64,
    /// The window from the first failover computation's first grant to the
    /// last's second grant (ms), when there were any.
    pub failover_window_ms: Option<(f64, f64)>,
    pub superseded_serves: u64,
    /// Read start − freshness deadline of each stale serve, ms.
    pub staleness_ms: Latency,
    /// The longest stretch in which no read was served (between the ends
    /// of two served reads, or from the first failed read's start), ms:
    /// the readers' downtime.
    pub no_serve_max_ms: f64,
    /// When that stretch began (ms since the run's epoch).
    pub no_serve_from_ms: f64,
    /// Read start → value served.
    pub serve_ms: Latency,
    pub hit_ms: Latency,
    /// Reads that found no fresh value and got one (waited or computed).
    pub miss_ms: Latency,
    pub by_variant: Vec<VariantFigures>,
    pub by_phase: Vec<PhaseFigures>,
    /// By the readers' region, in the order of `stampede.regions`; empty
    /// when the readers are in none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_region: Vec<RegionFigures>,
    /// Every second of the run (at most [`MAX_SECONDS`]).
    #[serde(default)]
    pub per_second: Vec<Second>,
    /// The warm-up after the action, when the run had a baseline and a
    /// `during` phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm: Option<Warm>,
    /// Reads the history could not hold.
    pub unrecorded: u64,
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Judge the recording; `phases` (name, start, end in ns) split the reads.
pub fn stampede(rec: &StampedeRecording, phases: &[(String, u64, u64)]) -> Stampede {
    let spec = rec.spec.clone().unwrap_or_default();
    let mut out = Stampede {
        readers: spec.readers,
        keys: spec.keys,
        policy: spec.policy.as_str().into(),
        reads: rec.reads.len() as u64,
        computes: rec.computes.len() as u64,
        unrecorded: rec.unrecorded,
        ..Default::default()
    };
    let acked = Acked::of(rec);
    let epochs = epochs(&mut out, rec, &acked, spec.px_ms() * 1_000_000);
    out.epochs = epochs.len() as u64;
    duplicates(&mut out, epochs, spec.lock_ttl_ms * 1_000_000);
    reads(&mut out, rec, &acked);
    let all: Vec<&Read> = rec.reads.iter().collect();
    (out.no_serve_from_ms, out.no_serve_max_ms) = longest_unserved(&all);
    let [serve_ms, hit_ms, miss_ms] = serve_hit_miss(&all);
    (out.serve_ms, out.hit_ms, out.miss_ms) = (serve_ms, hit_ms, miss_ms);
    out.by_region = by_region(rec, &spec);
    by_variant(&mut out, rec, &spec);
    out.warm = warm(&rec.reads, phases);
    out.per_second = per_second(rec);
    out.by_phase = by_phase(rec, phases);
    out
}

/// Acknowledged writes per key, in the order they were acknowledged.
struct Acked<'r>(HashMap<u32, Vec<&'r Compute>>);

impl<'r> Acked<'r> {
    fn of(rec: &'r StampedeRecording) -> Self {
        let mut acked: HashMap<u32, Vec<&Compute>> = HashMap::new();
        for c in rec.computes.iter().filter(|c| c.set_ok) {
            acked.entry(c.key).or_default().push(c);
        }
        for v in acked.values_mut() {
            v.sort_by_key(|c| c.set_end_ns);
        }
        Acked(acked)
    }

    /// The newest write of `key` acknowledged before `before_ns`.
    fn predecessor(&self, key: u32, before_ns: u64) -> Option<&'r Compute> {
        let v = self.0.get(&key)?;
        let i = v.partition_point(|c| c.set_end_ns < before_ns);
        i.checked_sub(1).map(|i| v[i])
    }
}

/// An epoch: a key and the value it held (its predecessor write) when a
/// computation missed it.
type Epochs<'r> = BTreeMap<(u32, Option<String>), Vec<&'r Compute>>;

/// The computations grouped by epoch; counts the early recomputes (a miss
/// before the predecessor's PX ran out) on the way.
fn epochs<'r>(
    out: &mut Stampede,
    rec: &'r StampedeRecording,
    acked: &Acked<'r>,
    px_ns: u64,
) -> Epochs<'r> {
    let mut epochs: Epochs = BTreeMap::new();
    for c in &rec.computes {
        let p = acked.predecessor(c.key, c.miss_sent_ns);
        if let Some(p) = p
            && c.found == Found::Missing
            && c.miss_end_ns < p.set_sent_ns + px_ns
        {
            out.early_recomputes += 1;
        }
        epochs
            .entry((c.key, p.map(|p| p.value.clone())))
            .or_default()
            .push(c);
    }
    epochs
}

/// A second computation in an epoch is a duplicate: after a failover, after
/// the lock expired, or a violation. Then the window the failover ones span.
fn duplicates(out: &mut Stampede, epochs: Epochs<'_>, lock_ttl_ns: u64) {
    for ((key, pred), mut cs) in epochs {
        cs.sort_by_key(|c| c.lock_end_ns);
        let mut counted: Option<&Compute> = None;
        for c in cs {
            let Some(first) = counted else {
                counted = Some(c);
                continue;
            };
            // A first that failed its write and let go of its lock before
            // this one asked for it leaves the epoch open.
            if !first.set_ok && first.release_end_ns.is_some_and(|r| r < c.lock_sent_ns) {
                counted = Some(c);
                continue;
            }
            let dup = Duplicate {
                key,
                variant: c.variant,
                predecessor: pred.clone(),
                first: first.value.clone(),
                first_node: first.lock_node.clone(),
                first_grant_ms: ms(first.lock_end_ns),
                second: c.value.clone(),
                second_node: c.lock_node.clone(),
                second_grant_ms: ms(c.lock_end_ns),
            };
            if c.lock_node != first.lock_node {
                out.failover_computes.push(dup);
            } else if c.lock_end_ns >= first.lock_sent_ns + lock_ttl_ns {
                out.lock_expired_computes.push(dup);
            } else {
                out.violations.push(dup);
            }
            if c.set_ok {
                counted = Some(c);
            }
        }
    }
    out.failover_window_ms = out
        .failover_computes
        .iter()
        .map(|d| d.first_grant_ms)
        .reduce(f64::min)
        .zip(
            out.failover_computes
                .iter()
                .map(|d| d.second_grant_ms)
                .reduce(f64::max),
        );
}

/// The reads by outcome, their staleness, and the serves of a value some
/// newer write had already superseded.
fn reads(out: &mut Stampede, rec: &StampedeRecording, acked: &Acked<'_>) {
    let value_write: HashMap<&str, &Compute> =
        rec.computes.iter().map(|c| (c.value.as_str(), c)).collect();
    let predecessor = |key: u32, before_ns: u64| acked.predecessor(key, before_ns);
    let mut stale_ns = Vec::new();
    for r in &rec.reads {
        out.command_errors += u64::from(r.errors);
        match &r.outcome {
            ReadOutcome::Hit { .. } => out.hits += 1,
            ReadOutcome::Waited { .. } => out.waited += 1,
            ReadOutcome::Computed { .. } => out.computed += 1,
            ReadOutcome::Stale { value } => {
                out.stale_served += 1;
                if let Some(f) = fresh_until(value) {
                    stale_ns.push(r.start_ns.saturating_sub(f));
                }
            }
            ReadOutcome::Failed { .. } => out.failed += 1,
        }
        if let Some(v) = r.outcome.value()
            && superseded(r, v, &value_write, &predecessor)
        {
            out.superseded_serves += 1;
        }
    }
    out.staleness_ms = percentiles(stale_ns);
}

/// The readers' figures per region, when the spec places them in regions.
fn by_region(rec: &StampedeRecording, spec: &StampedeSpec) -> Vec<RegionFigures> {
    let mut out = Vec::new();
    for region in &spec.regions {
        let mine = |reader: u32| spec.region_of(reader) == Some(region.as_str());
        let reads: Vec<&Read> = rec.reads.iter().filter(|r| mine(r.reader)).collect();
        let [serve_ms, hit_ms, miss_ms] = serve_hit_miss(&reads);
        out.push(RegionFigures {
            region: region.clone(),
            readers: (0..spec.readers).filter(|&r| mine(r)).count() as u32,
            reads: reads.len() as u64,
            hits: (reads.iter())
                .filter(|r| matches!(r.outcome, ReadOutcome::Hit { .. }))
                .count() as u64,
            failed: reads.iter().filter(|r| r.outcome.value().is_none()).count() as u64,
            computes: rec.computes.iter().filter(|c| mine(c.reader)).count() as u64,
            polls: reads.iter().map(|r| u64::from(r.polls)).sum(),
            no_serve_max_ms: longest_unserved(&reads).1,
            serve_ms,
            hit_ms,
            miss_ms,
        });
    }
    out
}

/// The figures per key variant (a variant listed twice counts once).
fn by_variant(out: &mut Stampede, rec: &StampedeRecording, spec: &StampedeSpec) {
    let served = |r: &&Read| r.outcome.value().is_some();
    let span = |r: &Read| r.end_ns.saturating_sub(r.start_ns);
    for &variant in &spec.variants {
        if out.by_variant.iter().any(|v| v.variant == Some(variant)) {
            continue;
        }
        let mine = |key: u32| spec.variant_of(key) == variant;
        let reads: Vec<&Read> = rec.reads.iter().filter(|r| mine(r.key)).collect();
        let count = |d: &[Duplicate]| d.iter().filter(|d| d.variant == variant).count() as u64;
        out.by_variant.push(VariantFigures {
            variant: Some(variant),
            reads: reads.len() as u64,
            failed: reads.iter().filter(|r| r.outcome.value().is_none()).count() as u64,
            computes: rec.computes.iter().filter(|c| c.variant == variant).count() as u64,
            violations: count(&out.violations),
            failover_computes: count(&out.failover_computes),
            lock_expired_computes: count(&out.lock_expired_computes),
            serve_ms: percentiles(reads.iter().copied().filter(served).map(span)),
        });
    }
}

/// The reads and computations of each phase.
fn by_phase(rec: &StampedeRecording, phases: &[(String, u64, u64)]) -> Vec<PhaseFigures> {
    let served = |r: &&Read| r.outcome.value().is_some();
    let span = |r: &Read| r.end_ns.saturating_sub(r.start_ns);
    let mut out = Vec::new();
    for (name, start, end) in phases {
        let inside = |ns: u64| (*start..*end).contains(&ns);
        let reads: Vec<&Read> = rec.reads.iter().filter(|r| inside(r.start_ns)).collect();
        out.push(PhaseFigures {
            phase: name.clone(),
            reads: reads.len() as u64,
            failed: reads.iter().filter(|r| r.outcome.value().is_none()).count() as u64,
            computes: rec
                .computes
                .iter()
                .filter(|c| inside(c.lock_end_ns))
                .count() as u64,
            serve_ms: percentiles(reads.iter().copied().filter(served).map(span)),
        });
    }
    out
}

/// The reads and computations of each second.
fn per_second(rec: &StampedeRecording) -> Vec<Second> {
    let last = rec
        .reads
        .iter()
        .map(|r| r.start_ns)
        .chain(rec.computes.iter().map(|c| c.lock_end_ns))
        .max();
    let Some(last) = last else {
        return Vec::new();
    };
    let n = ((last / 1_000_000_000) as usize + 1).min(MAX_SECONDS);
    let mut out: Vec<Second> = (0..n as u64)
        .map(|t_s| Second {
            t_s,
            ..Default::default()
        })
        .collect();
    for r in &rec.reads {
        let Some(s) = out.get_mut((r.start_ns / 1_000_000_000) as usize) else {
            continue;
        };
        match r.outcome {
            ReadOutcome::Hit { .. } => s.hits += 1,
            ReadOutcome::Waited { .. } | ReadOutcome::Computed { .. } => s.misses += 1,
            ReadOutcome::Stale { .. } => s.stale += 1,
            ReadOutcome::Failed { .. } => s.failed += 1,
        }
    }
    for c in &rec.computes {
        if let Some(s) = out.get_mut((c.lock_end_ns / 1_000_000_000) as usize) {
            s.computes += 1;
        }
    }
    out
}

/// A read that found no fresh value.
fn missed(r: &Read) -> bool {
    matches!(
        r.outcome,
        ReadOutcome::Waited { .. } | ReadOutcome::Computed { .. } | ReadOutcome::Failed { .. }
    )
}

/// The warm-up (see the module docs).
fn warm(reads: &[Read], phases: &[(String, u64, u64)]) -> Option<Warm> {
    let mut reads: Vec<&Read> = reads.iter().collect();
    reads.sort_by_key(|r| r.start_ns);
    let phase = |name: &str| phases.iter().find(|p| p.0 == name).map(|p| (p.1, p.2));
    let (b0, b1) = phase("baseline")?;
    let (from, _) = phase("during")?;
    let ratio = |a: u64, b: u64| -> (f64, u64) {
        let i = reads.partition_point(|r| r.start_ns < a);
        let j = reads.partition_point(|r| r.start_ns < b);
        let n = (j - i) as u64;
        let m = reads[i..j].iter().filter(|r| missed(r)).count() as u64;
        (if n == 0 { 0.0 } else { m as f64 / n as f64 }, n)
    };
    let (baseline, baseline_reads) = ratio(b0, b1);
    let end = reads.last()?.start_ns;
    let threshold = baseline + WARM_TOLERANCE;
    let mut out = Warm {
        baseline_miss_ratio: baseline,
        baseline_reads,
        from_ms: ms(from),
        ..Default::default()
    };
    // The windows with enough reads: (start, within the threshold).
    let mut windows: Vec<(u64, bool)> = Vec::new();
    let mut t = from;
    while t + WARM_WINDOW_NS <= end {
        let (r, n) = ratio(t, t + WARM_WINDOW_NS);
        if n >= WARM_MIN_READS {
            out.peak_miss_ratio = out.peak_miss_ratio.max(r);
            windows.push((t, r <= threshold));
            if (t - from).is_multiple_of(WARM_WINDOW_NS) && out.per_second.len() < 120 {
                out.per_second.push(r);
            }
        }
        t += WARM_STEP_NS;
    }
    // The first window of the run of good ones that lasts to the end.
    let good_from = windows.iter().rposition(|w| !w.1).map_or(0, |bad| bad + 1);
    out.warm_ms = windows.get(good_from).map(|w| ms(w.0 - from));
    if out.warm_ms.is_none() {
        out.not_warm_for_ms = Some(ms(end.saturating_sub(from)));
    }
    Some(out)
}

/// The longest stretch without a served read that some read waited
/// through: (start, length) in ms. A stretch counts only when a read failed
/// or waited inside it — readers pausing between reads is not downtime.
/// Read start → value served: of every served read, of the hits, and of
/// the reads served after waiting for (or doing) a computation.
fn serve_hit_miss(reads: &[&Read]) -> [Latency; 3] {
    let of = |keep: fn(&ReadOutcome) -> bool| {
        percentiles(
            (reads.iter())
                .filter(|r| keep(&r.outcome))
                .map(|r| r.end_ns.saturating_sub(r.start_ns)),
        )
    };
    [
        of(|o| o.value().is_some()),
        of(|o| matches!(o, ReadOutcome::Hit { .. })),
        of(|o| matches!(o, ReadOutcome::Waited { .. } | ReadOutcome::Computed { .. })),
    ]
}

fn longest_unserved(reads: &[&Read]) -> (f64, f64) {
    let mut served: Vec<u64> = reads
        .iter()
        .filter(|r| r.outcome.value().is_some())
        .map(|r| r.end_ns)
        .collect();
    served.sort_unstable();
    let mut best = (0u64, 0u64);
    for r in reads.iter().filter(|r| r.outcome.value().is_none()) {
        // From the last serve before this failed read began to the first after.
        let i = served.partition_point(|&e| e <= r.start_ns);
        let from = if i == 0 { r.start_ns } else { served[i - 1] };
        let to = served.get(i).copied().unwrap_or(r.end_ns).max(r.end_ns);
        if to - from > best.1 {
            best = (from, to - from);
        }
    }
    (ms(best.0), ms(best.1))
}

/// Whether `r` served `value` although a newer value of its key had been
/// acknowledged before `r` began: the value's write ended before that newer
/// write was sent.
fn superseded<'a>(
    r: &Read,
    value: &str,
    writes: &HashMap<&str, &'a Compute>,
    newest_before: &impl Fn(u32, u64) -> Option<&'a Compute>,
) -> bool {
    let (Some(mine), Some(newest)) = (writes.get(value), newest_before(r.key, r.start_ns)) else {
        return false;
    };
    mine.set_end_ns < newest.set_sent_ns
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::stampede::{Policy, StampedeSpec, value_of};

    const MS: u64 = 1_000_000;

    fn spec() -> StampedeSpec {
        StampedeSpec {
            readers: 4,
            keys: 1,
            variants: vec![Variant::Lock],
            ttl_ms: 1000,
            lock_ttl_ms: 500,
            ..Default::default()
        }
    }

    /// A computation of key 0 by `reader` whose read was at `at` ms, lock
    /// granted by `node` at `at`+1 ms, value written at `at`+60..61 ms.
    fn compute(reader: u32, at: u64, node: &str) -> Compute {
        let set_sent_ns = (at + 60) * MS;
        Compute {
            reader,
            key: 0,
            variant: Variant::Lock,
            found: Found::Missing,
            miss_sent_ns: (at + 2) * MS,
            miss_end_ns: (at + 3) * MS,
            lock_sent_ns: at * MS,
            lock_end_ns: (at + 1) * MS,
            lock_node: node.into(),
            value: value_of(&format!("r{reader}-{at}"), set_sent_ns + 1000 * MS),
            fresh_until_ns: set_sent_ns + 1000 * MS,
            set_sent_ns,
            set_end_ns: set_sent_ns + MS,
            set_ok: true,
            release_end_ns: Some(set_sent_ns + 2 * MS),
            released: true,
        }
    }

    fn read(reader: u32, at: u64, outcome: ReadOutcome) -> Read {
        Read {
            reader,
            key: 0,
            start_ns: at * MS,
            end_ns: (at + 1) * MS,
            outcome,
            polls: 0,
            errors: 0,
        }
    }

    fn rec(computes: Vec<Compute>, reads: Vec<Read>) -> StampedeRecording {
        StampedeRecording {
            spec: Some(spec()),
            slot: 0,
            reads,
            computes,
            unrecorded: 0,
        }
    }

    #[test]
    fn one_computation_per_expiry_is_clean() {
        // One at 0, the next after the first value expired (PX 1000 ms).
        let a = compute(1, 0, "n1");
        let b = compute(2, 1100, "n1");
        let reads = vec![
            read(
                1,
                0,
                ReadOutcome::Computed {
                    value: a.value.clone(),
                },
            ),
            read(
                2,
                100,
                ReadOutcome::Hit {
                    value: a.value.clone(),
                },
            ),
            read(
                3,
                1100,
                ReadOutcome::Computed {
                    value: b.value.clone(),
                },
            ),
        ];
        let s = stampede(
            &rec(vec![a, b], reads),
            &[("baseline".into(), 0, 2000 * MS)],
        );
        assert_eq!((s.computes, s.epochs), (2, 2));
        assert!(s.violations.is_empty() && s.failover_computes.is_empty());
        assert_eq!((s.early_recomputes, s.superseded_serves), (0, 0));
        assert_eq!((s.hits, s.computed, s.failed), (1, 2, 0));
        assert_eq!(s.no_serve_max_ms, 0.0);
        assert_eq!(s.by_phase[0].reads, 3);
        // By second: the two computations at 0 s and 1.1 s, the hit at 0.1 s.
        assert_eq!(s.per_second.len(), 2);
        assert_eq!(
            (
                s.per_second[0].hits,
                s.per_second[0].misses,
                s.per_second[0].computes
            ),
            (1, 1, 1)
        );
        assert_eq!((s.per_second[1].misses, s.per_second[1].computes), (1, 1));
        assert_eq!(s.by_variant[0].computes, 2);
    }

    #[test]
    fn readers_in_regions_are_figured_apart() {
        // Readers 0, 2 in eu (near the key), 1, 3 in ap: eu's reader
        // computed, ap's waited 150 ms polling 3 times, then one failed.
        let a = compute(0, 0, "n1");
        let mut r = rec(
            vec![a.clone()],
            vec![
                read(
                    0,
                    0,
                    ReadOutcome::Computed {
                        value: a.value.clone(),
                    },
                ),
                Read {
                    end_ns: 150 * MS,
                    polls: 3,
                    ..read(
                        1,
                        0,
                        ReadOutcome::Waited {
                            value: a.value.clone(),
                        },
                    )
                },
                read(
                    2,
                    200,
                    ReadOutcome::Hit {
                        value: a.value.clone(),
                    },
                ),
                Read {
                    end_ns: 2300 * MS,
                    ..read(
                        3,
                        300,
                        ReadOutcome::Failed {
                            message: "timeout".into(),
                        },
                    )
                },
            ],
        );
        r.spec.as_mut().unwrap().regions = vec!["eu".into(), "ap".into()];
        let s = stampede(&r, &[]);
        let [eu, ap] = &s.by_region[..] else {
            panic!("two regions: {:?}", s.by_region)
        };
        assert_eq!((eu.region.as_str(), eu.readers, eu.reads), ("eu", 2, 2));
        assert_eq!((eu.hits, eu.computes, eu.failed, eu.polls), (1, 1, 0, 0));
        assert_eq!(eu.no_serve_max_ms, 0.0);
        assert_eq!(
            (ap.reads, ap.hits, ap.computes, ap.failed, ap.polls),
            (2, 0, 0, 1, 3)
        );
        assert_eq!(ap.miss_ms.max, 150.0);
        // ap's failed read: from its last serve (150 ms) to the read's end.
        assert_eq!(ap.no_serve_max_ms, 2150.0);
        // Without regions, no region figures.
        assert!(stampede(&rec(vec![], vec![]), &[]).by_region.is_empty());
    }

    #[test]
    fn two_computations_under_one_lock_are_a_violation() {
        // Both read the key missing before either wrote it, same node,
        // within the lock's PX: a broken lock.
        let a = compute(1, 0, "n1");
        let b = compute(2, 10, "n1");
        let s = stampede(&rec(vec![a, b], vec![]), &[]);
        assert_eq!(s.epochs, 1);
        assert_eq!(s.violations.len(), 1);
        assert_eq!(s.violations[0].second_node, "n1");
        assert!(s.failover_computes.is_empty() && s.lock_expired_computes.is_empty());
    }

    #[test]
    fn a_lock_that_vanished_or_expired_is_counted_apart() {
        // Granted by another node: the shard failed over.
        let s = stampede(
            &rec(vec![compute(1, 0, "n1"), compute(2, 10, "n4")], vec![]),
            &[],
        );
        assert!(s.violations.is_empty());
        assert_eq!(s.failover_computes.len(), 1);
        assert_eq!(s.failover_window_ms, Some((1.0, 11.0)));
        // Granted after the first lock's PX (500 ms) could have run out,
        // before the first value was written (a slow computation).
        let mut slow = compute(1, 0, "n1");
        slow.set_sent_ns = 700 * MS;
        slow.set_end_ns = 701 * MS;
        let s = stampede(&rec(vec![slow, compute(2, 600, "n1")], vec![]), &[]);
        assert!(s.violations.is_empty());
        assert_eq!(s.lock_expired_computes.len(), 1);
    }

    #[test]
    fn a_failed_write_that_released_leaves_the_epoch_open() {
        let mut a = compute(1, 0, "n1");
        a.set_ok = false;
        let b = compute(2, 70, "n1");
        let s = stampede(&rec(vec![a, b], vec![]), &[]);
        assert!(s.violations.is_empty());
        assert_eq!(s.epochs, 1);
    }

    #[test]
    fn a_value_gone_before_its_px_and_an_older_value_served_are_found() {
        let a = compute(1, 0, "n1");
        // Missing at 500 ms: a's PX runs to 1060 ms at the earliest.
        let b = compute(2, 500, "n4");
        let reads = vec![
            // After b's value was acknowledged (561 ms), a's served again.
            read(
                3,
                700,
                ReadOutcome::Hit {
                    value: a.value.clone(),
                },
            ),
            read(
                4,
                800,
                ReadOutcome::Hit {
                    value: b.value.clone(),
                },
            ),
        ];
        let s = stampede(&rec(vec![a, b], reads), &[]);
        assert_eq!(s.early_recomputes, 1);
        assert_eq!(s.superseded_serves, 1);
        assert_eq!(s.epochs, 2);
    }

    #[test]
    fn the_longest_stretch_without_a_serve_is_the_readers_downtime() {
        let a = compute(1, 0, "n1");
        let v = || ReadOutcome::Hit {
            value: a.value.clone(),
        };
        let failed = || ReadOutcome::Failed {
            message: "no value".into(),
        };
        let mut f1 = read(2, 120, failed());
        f1.end_ns = 2120 * MS;
        let reads = vec![
            read(1, 100, v()),
            f1,
            read(3, 2500, v()),
            read(4, 2600, v()),
        ];
        let s = stampede(&rec(vec![a.clone()], reads), &[]);
        // From the serve ending at 101 ms to the next, ending at 2501 ms.
        assert_eq!(s.failed, 1);
        assert_eq!((s.no_serve_from_ms, s.no_serve_max_ms), (101.0, 2400.0));
    }

    #[test]
    fn the_warm_up_is_the_time_until_the_miss_ratio_is_back() {
        let hit = |at: u64| {
            read(
                1,
                at,
                ReadOutcome::Hit {
                    value: "x|1".into(),
                },
            )
        };
        let miss = |at: u64| {
            read(
                1,
                at,
                ReadOutcome::Computed {
                    value: "y|1".into(),
                },
            )
        };
        let mut reads = Vec::new();
        // Baseline 0..2 s: a read every 10 ms, 1 in 10 a miss.
        for i in 0..200 {
            reads.push(if i % 10 == 0 {
                miss(i * 10)
            } else {
                hit(i * 10)
            });
        }
        // From 2 s: all misses for 1.5 s, then as in the baseline to 6 s.
        for i in 200..600 {
            let at = i * 10;
            reads.push(if at < 3500 || i % 10 == 0 {
                miss(at)
            } else {
                hit(at)
            });
        }
        let phases = vec![
            ("baseline".to_string(), 0, 2000 * MS),
            ("during".to_string(), 2000 * MS, 6000 * MS),
        ];
        let w = stampede(&rec(vec![], reads.clone()), &phases).warm.unwrap();
        assert!((w.baseline_miss_ratio - 0.1).abs() < 1e-9, "{w:?}");
        assert_eq!(w.peak_miss_ratio, 1.0);
        // The first window from 2 s on that starts at 3.5 s or later.
        assert_eq!(w.warm_ms, Some(1500.0), "{w:?}");
        assert_eq!(w.per_second[0], 1.0);
        // A relapse (a second of misses again at 5 s): back only after it.
        let mut relapse = reads.clone();
        for i in 600..800 {
            relapse.push(if i % 10 == 0 {
                miss(i * 10)
            } else {
                hit(i * 10)
            });
        }
        for r in relapse
            .iter_mut()
            .filter(|r| (5000 * MS..5500 * MS).contains(&r.start_ns))
        {
            r.outcome = ReadOutcome::Failed {
                message: "x".into(),
            };
        }
        let w = stampede(&rec(vec![], relapse), &phases).warm.unwrap();
        assert_eq!(w.warm_ms, Some(3500.0), "{w:?}");
        // Cut at 3 s: never back.
        reads.truncate(300);
        let w = stampede(&rec(vec![], reads), &phases).warm.unwrap();
        assert_eq!(w.warm_ms, None);
        assert_eq!(w.not_warm_for_ms, Some(990.0));
    }

    #[test]
    fn stale_serves_are_counted_with_their_staleness() {
        let mut sp = spec();
        sp.policy = Policy::ServeStale;
        sp.stale_ms = 500;
        let a = compute(1, 0, "n1");
        let fresh = a.fresh_until_ns;
        let mut r = rec(
            vec![a.clone()],
            vec![read(
                2,
                fresh / MS + 30,
                ReadOutcome::Stale {
                    value: a.value.clone(),
                },
            )],
        );
        r.spec = Some(sp);
        let s = stampede(&r, &[]);
        assert_eq!(s.stale_served, 1);
        assert_eq!(s.staleness_ms.count, 1);
        assert!(
            (s.staleness_ms.max - 30.0).abs() < 0.5,
            "{}",
            s.staleness_ms.max
        );
        assert_eq!(s.policy, "serve_stale");
    }
}
