//! Latency of successful ops: per phase (HdrHistogram) and per second (for the
//! latency-over-time chart). An op's latency is `end - start`; for open-loop
//! clients the start is the scheduled one, so stalls are not hidden.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::timeline::Phase;
use crate::workload::Op;

/// Lowest latency the histogram tells apart: 1 µs (in ns), well below a loopback round trip.
const LOWEST_NS: u64 = 1_000;
/// Highest latency it records: 60 s; ops are bounded far below, and longer
/// values saturate (the exact maximum is kept apart).
const HIGHEST_NS: u64 = 60_000_000_000;
/// Three significant digits: 0.1% error on every percentile.
const SIGFIG: u8 = 3;

/// Latency percentiles, ms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    /// Exact, not from the histogram.
    pub max: f64,
}

/// A histogram of latencies plus the exact maximum.
struct Hist {
    h: Histogram<u64>,
    max_ns: u64,
}

impl Hist {
    fn new() -> Hist {
        Hist {
            h: Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGFIG)
                .expect("constant histogram bounds are valid"),
            max_ns: 0,
        }
    }

    fn record(&mut self, ns: u64) {
        self.h.saturating_record(ns.max(1));
        self.max_ns = self.max_ns.max(ns);
    }

    fn latency(&self) -> Latency {
        if self.h.is_empty() {
            return Latency::default();
        }
        // A bucket's highest equivalent value can exceed the exact maximum.
        let q = |q: f64| self.h.value_at_quantile(q).min(self.max_ns) as f64 / 1e6;
        Latency {
            count: self.h.len(),
            p50: q(0.50),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: self.max_ns as f64 / 1e6,
        }
    }
}

/// Latency of the ok ops in `history`.
pub fn latency<'a>(history: impl IntoIterator<Item = &'a Op>) -> Latency {
    let mut h = Hist::new();
    for op in history.into_iter().filter(|o| o.is_ok()) {
        h.record(op.latency_ns());
    }
    h.latency()
}

/// Latency of the ok ops that started in each phase (`[start, end)`), by
/// phase name. Every phase is present, with `count: 0` when no op fell in it;
/// phases sharing a name are merged.
pub fn latency_by_phase<'a>(
    history: impl IntoIterator<Item = &'a Op>,
    phases: &[Phase],
) -> BTreeMap<String, Latency> {
    let mut hists: BTreeMap<&str, Hist> = BTreeMap::new();
    for p in phases {
        hists.entry(p.name.as_str()).or_insert_with(Hist::new);
    }
    for op in history.into_iter().filter(|o| o.is_ok()) {
        for p in phases {
            if (p.start_ns..p.end_ns).contains(&op.start_ns)
                && let Some(h) = hists.get_mut(p.name.as_str())
            {
                h.record(op.latency_ns());
            }
        }
    }
    hists
        .into_iter()
        .map(|(name, h)| (name.to_string(), h.latency()))
        .collect()
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the run's epoch.
    pub t_s: u64,
    pub ok: u64,
    /// Failed and indeterminate ops.
    pub failed: u64,
    /// Exact p99 latency of the second's ok ops (0 when none).
    pub p99_ms: f64,
}

/// Ops per second by start time, from the first op's second to the last op's,
/// quiet seconds included (a stall shows as a gap, not as nothing).
pub fn per_second<'a>(history: impl IntoIterator<Item = &'a Op>) -> Vec<Second> {
    let mut buckets: BTreeMap<u64, (u64, Vec<u64>)> = BTreeMap::new();
    for op in history {
        let b = buckets.entry(op.start_ns / 1_000_000_000).or_default();
        if op.is_ok() {
            b.1.push(op.latency_ns());
        } else {
            b.0 += 1;
        }
    }
    let (Some(&first), Some(&last)) = (buckets.keys().next(), buckets.keys().next_back()) else {
        return Vec::new();
    };
    (first..=last)
        .map(|t_s| {
            let (failed, mut lat) = buckets.remove(&t_s).unwrap_or_default();
            Second {
                t_s,
                ok: lat.len() as u64,
                failed,
                p99_ms: percentile(&mut lat, 0.99) as f64 / 1e6,
            }
        })
        .collect()
}

/// The nearest-rank percentile of `v` (0 when empty). Reorders `v`.
fn percentile(v: &mut [u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    *v.select_nth_unstable(rank - 1).1
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b.abs() * 0.001 + 1e-9
    }

    #[test]
    fn percentiles_on_known_data() {
        // Latencies 1..=1000 ms.
        let h: Vec<Op> = (1..=1000).map(|i| get("k", 0, i)).collect();
        let l = latency(&h);
        assert_eq!(l.count, 1000);
        assert!(close(l.p50, 500.0), "{l:?}");
        assert!(close(l.p95, 950.0), "{l:?}");
        assert!(close(l.p99, 990.0), "{l:?}");
        assert!(close(l.p999, 999.0), "{l:?}");
        assert_eq!(l.max, 1000.0);
    }

    #[test]
    fn by_phase_takes_ok_ops_by_start() {
        let phases = vec![
            Phase {
                name: "before".into(),
                start_ns: 0,
                end_ns: 100_000_000,
            },
            Phase {
                name: "during".into(),
                start_ns: 100_000_000,
                end_ns: 200_000_000,
            },
            Phase {
                name: "empty".into(),
                start_ns: 500_000_000,
                end_ns: 600_000_000,
            },
        ];
        let h = vec![
            get("k", 10, 12),           // before, 2 ms
            get("k", 90, 150),          // before (by start), 60 ms
            get("k", 100, 104),         // during, 4 ms
            failed(get("k", 110, 900)), // not ok: not counted
        ];
        let l = latency_by_phase(&h, &phases);
        assert_eq!(l["before"].count, 2);
        assert!(close(l["before"].max, 60.0));
        assert!(close(l["before"].p50, 2.0), "{:?}", l["before"]);
        assert_eq!(l["during"].count, 1);
        assert!(close(l["during"].p99, 4.0));
        assert_eq!(l["empty"], Latency::default());
    }

    #[test]
    fn seconds_with_gaps() {
        let mut h: Vec<Op> = (0..100).map(|i| get("k", 1000 + i, 1000 + i + 1)).collect();
        h.push(get("k", 1500, 1600)); // the slow one: p99 of 101 ops
        h.push(failed(get("k", 3000, 3001)));
        let s = per_second(&h);
        assert_eq!(s.iter().map(|x| x.t_s).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!((s[0].ok, s[0].failed), (101, 0));
        assert!(close(s[0].p99_ms, 1.0), "{s:?}");
        assert_eq!((s[1].ok, s[1].failed, s[1].p99_ms), (0, 0, 0.0));
        assert_eq!((s[2].ok, s[2].failed), (0, 1));
        assert!(per_second(&[]).is_empty());
        let mut v = vec![5, 1, 3, 2, 4];
        assert_eq!(percentile(&mut v, 0.5), 3);
        assert_eq!(percentile(&mut v, 1.0), 5);
    }
}
