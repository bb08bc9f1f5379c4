//! The three times of successful ops — per phase (HdrHistogram) and per
//! second (for the latency-over-time chart):
//!
//! - **latency**, due → end: from the op's place in the schedule, so a stall
//!   is never hidden (no coordinated omission). What a user feels; latency
//!   SLOs read it.
//! - **service time**, sent → end: the client path and the server.
//! - **tool lag**, due → sent: time the op waited to be sent — the tool's own
//!   delay (a late wake-up, a busy CPU, a full in-flight pool). When it is
//!   large, latency measured the tool, and the self-check says so.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::record::ops::{Op, Outcome};
use crate::record::timeline::{Phase, phase_at};

/// Lowest latency the histogram tells apart: 1 µs (in ns), well below a loopback round trip.
const LOWEST_NS: u64 = 1_000;
/// Highest latency it records: 60 s; ops are bounded far below, and longer
/// values saturate (the exact maximum is kept apart).
const HIGHEST_NS: u64 = 60_000_000_000;
/// Three significant digits: 0.1% error on every percentile.
const SIGFIG: u8 = 3;

/// Percentiles of one figure over a set of ops, ms. `count: 0` means nothing
/// was measured: the percentiles are then 0 and mean nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    /// Exact, not from the histogram.
    pub max: f64,
}

impl Latency {
    /// The p99, or `None` when nothing was measured (never a 0 that passes).
    pub fn p99_measured(&self) -> Option<f64> {
        (self.count > 0).then_some(self.p99)
    }
}

/// A histogram of durations plus the exact maximum.
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
        // A bucket's highest equivalent value can exceed the exact maximum,
        // and a bucket of sub-µs values reads as 1 µs.
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

/// Percentiles of any per-item duration in ns (the reference pings use it too).
pub fn percentiles(durations_ns: impl IntoIterator<Item = u64>) -> Latency {
    let mut h = Hist::new();
    for ns in durations_ns {
        h.record(ns);
    }
    h.latency()
}

/// The three times of a set of ok ops, and how many of them waited for an
/// in-flight slot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Due → end, ok ops.
    pub latency: Latency,
    /// Due → end, every op: a failed or timed-out op counts at the time it
    /// took to fail, so an outage shows here even when no success was slow.
    pub latency_all: Latency,
    /// Sent → end.
    pub service: Latency,
    /// Due → sent.
    pub tool_lag: Latency,
    /// Ops (ok or not) that waited for an in-flight slot, and the longest wait (ms).
    pub pool_waits: u64,
    pub pool_wait_max_ms: f64,
    /// The p99 latency (due → end) over every op, an op that got no answer
    /// (failed or timed out) counting as slower than any that did: the
    /// latency 99 % of the ops were answered within. `None` when more than
    /// 1 % got no answer (the p99 is no answer), or no op was due.
    pub p99_answered: Option<f64>,
}

/// The quantile `q` of the answered ops that is the quantile `q` of every
/// op when `unanswered` more ops rank above every answered one: `None`
/// when it falls on them. The answered ops' own quantile when all answered.
pub fn answered_quantile(q: f64, answered: u64, unanswered: u64) -> Option<f64> {
    if answered == 0 {
        return None;
    }
    if unanswered == 0 {
        return Some(q);
    }
    let q = q * (answered + unanswered) as f64 / answered as f64;
    (q <= 1.0).then_some(q)
}

struct TimingHists {
    latency: Hist,
    latency_all: Hist,
    service: Hist,
    tool_lag: Hist,
    pool_waits: u64,
    pool_wait_max_ns: u64,
}

impl TimingHists {
    fn new() -> TimingHists {
        TimingHists {
            latency: Hist::new(),
            latency_all: Hist::new(),
            service: Hist::new(),
            tool_lag: Hist::new(),
            pool_waits: 0,
            pool_wait_max_ns: 0,
        }
    }

    fn record(&mut self, op: &Op) {
        if op.pool_wait_ns > 0 {
            self.pool_waits += 1;
            self.pool_wait_max_ns = self.pool_wait_max_ns.max(op.pool_wait_ns);
        }
        // Tool lag is the tool's, whatever the op's outcome.
        self.tool_lag.record(op.tool_lag_ns());
        self.latency_all.record(op.latency_ns());
        if op.is_ok() {
            self.latency.record(op.latency_ns());
            self.service.record(op.service_ns());
        }
    }

    fn timing(&self) -> Timing {
        let answered = self.latency.h.len();
        let unanswered = self.latency_all.h.len() - answered;
        let p99_answered = answered_quantile(0.99, answered, unanswered)
            .map(|q| self.latency.h.value_at_quantile(q).min(self.latency.max_ns) as f64 / 1e6);
        Timing {
            p99_answered,
            latency: self.latency.latency(),
            latency_all: self.latency_all.latency(),
            service: self.service.latency(),
            tool_lag: self.tool_lag.latency(),
            pool_waits: self.pool_waits,
            pool_wait_max_ms: self.pool_wait_max_ns as f64 / 1e6,
        }
    }
}

/// The three times of the ops due in each phase ([`phase_at`]), by phase
/// name. Latency and service time count ok ops; `latency_all` and tool lag
/// count every op
/// (a failed op took its time and was late to send all the same). Every phase is present,
/// with `count: 0` when no op fell in it; phases sharing a name are merged.
pub fn timing_by_phase<'a>(
    history: impl IntoIterator<Item = &'a Op>,
    phases: &[Phase],
) -> BTreeMap<String, Timing> {
    let mut hists: BTreeMap<&str, TimingHists> = BTreeMap::new();
    for p in phases {
        hists
            .entry(p.name.as_str())
            .or_insert_with(TimingHists::new);
    }
    for op in history {
        if let Some(p) = phase_at(phases, op.due_ns)
            && let Some(h) = hists.get_mut(p.name.as_str())
        {
            h.record(op);
        }
    }
    hists
        .into_iter()
        .map(|(name, h)| (name.to_string(), h.timing()))
        .collect()
}

/// Latency of the ok ops in `history`.
pub fn latency<'a>(history: impl IntoIterator<Item = &'a Op>) -> Latency {
    let mut h = Hist::new();
    for op in history.into_iter().filter(|o| o.is_ok()) {
        h.record(op.latency_ns());
    }
    h.latency()
}

/// One second of the run: the latency-over-time chart's data. The check
/// stage adds the reference and the faults in force.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the run's epoch.
    pub t_s: u64,
    pub ok: u64,
    /// Failed and indeterminate ops.
    pub failed: u64,
    /// Exact p99 latency (due → end) of the second's ok ops (0 when none).
    pub p99_ms: f64,
    /// Exact p99 service time (sent → end) of the same ops.
    #[serde(default)]
    pub service_p99_ms: f64,
    /// Exact p99 tool lag (due → sent) of every op due in the second.
    #[serde(default)]
    pub tool_lag_p99_ms: f64,
    /// The reference PINGs' round-trip p99 this second, over every primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_p99_ms: Option<f64>,
    /// Faults in force during this second (indexes into the report's
    /// `faults`), for the shaded windows of the latency-over-time chart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<usize>,
    /// The app clients alone, and the probe clients alone (the HTML report's
    /// lines; `null` in reports written before they existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<ClientSecond>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ClientSecond>,
}

/// One class of clients (app or probe) in one second of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientSecond {
    pub ok: u64,
    /// Certainly not applied (the server refused it, or it was never sent).
    pub failed: u64,
    /// Timed out or cut off after sending: may have taken effect.
    pub indeterminate: u64,
    /// Exact p50 and p99 latency (due → end) of the second's ok ops;
    /// `null` when none succeeded (a gap in the chart, not a 0).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Per second (by due time) of `history`: one class of clients' counts and
/// latency percentiles. Seconds without an op are absent.
pub fn client_seconds<'a>(
    history: impl IntoIterator<Item = &'a Op>,
) -> BTreeMap<u64, ClientSecond> {
    let mut latency: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut seconds: BTreeMap<u64, ClientSecond> = BTreeMap::new();
    for op in history {
        let t_s = op.due_ns / 1_000_000_000;
        let s = seconds.entry(t_s).or_default();
        match op.outcome {
            Outcome::Ok => {
                s.ok += 1;
                latency.entry(t_s).or_default().push(op.latency_ns());
            }
            Outcome::Fail { .. } => s.failed += 1,
            Outcome::Indeterminate { .. } => s.indeterminate += 1,
        }
    }
    for (t_s, mut v) in latency {
        if let Some(s) = seconds.get_mut(&t_s) {
            s.p50_ms = Some(percentile(&mut v, 0.50) as f64 / 1e6);
            s.p99_ms = Some(percentile(&mut v, 0.99) as f64 / 1e6);
        }
    }
    seconds
}

/// Ops per second by due time, from the first op's second to the last op's,
/// quiet seconds included (a stall shows as a gap, not as nothing).
pub fn per_second<'a>(history: impl IntoIterator<Item = &'a Op>) -> Vec<Second> {
    #[derive(Default)]
    struct Bucket {
        failed: u64,
        latency: Vec<u64>,
        service: Vec<u64>,
        lag: Vec<u64>,
    }
    let mut buckets: BTreeMap<u64, Bucket> = BTreeMap::new();
    for op in history {
        let b = buckets.entry(op.due_ns / 1_000_000_000).or_default();
        b.lag.push(op.tool_lag_ns());
        if op.is_ok() {
            b.latency.push(op.latency_ns());
            b.service.push(op.service_ns());
        } else {
            b.failed += 1;
        }
    }
    let (Some(&first), Some(&last)) = (buckets.keys().next(), buckets.keys().next_back()) else {
        return Vec::new();
    };
    (first..=last)
        .map(|t_s| {
            let mut b = buckets.remove(&t_s).unwrap_or_default();
            Second {
                t_s,
                ok: b.latency.len() as u64,
                failed: b.failed,
                p99_ms: percentile(&mut b.latency, 0.99) as f64 / 1e6,
                service_p99_ms: percentile(&mut b.service, 0.99) as f64 / 1e6,
                tool_lag_p99_ms: percentile(&mut b.lag, 0.99) as f64 / 1e6,
                ..Second::default()
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

    /// An op due at `due` ms, sent at `sent`, ended at `end`.
    fn timed(due: u64, sent: u64, end: u64) -> Op {
        let mut o = get("k", due, end);
        o.sent_ns = sent * 1_000_000;
        o
    }

    #[test]
    fn by_phase_takes_ops_by_due_time() {
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
        let mut waited = timed(95, 130, 150); // before (by due), 35 ms late to send
        waited.pool_wait_ns = 30_000_000;
        let h = vec![
            timed(10, 10, 12),            // before, 2 ms
            waited,                       // before, 55 ms from due, 20 ms of service
            timed(100, 101, 104),         // during, 4 ms, 1 ms lag
            failed(timed(110, 150, 900)), // not ok: its lag counts, nothing else
        ];
        let t = timing_by_phase(&h, &phases);
        let before = &t["before"];
        assert_eq!(before.latency.count, 2);
        assert!(close(before.latency.max, 55.0), "{before:?}");
        assert!(close(before.service.max, 20.0), "{before:?}");
        assert!(close(before.tool_lag.max, 35.0), "{before:?}");
        assert!(close(before.latency.p50, 2.0), "{before:?}");
        assert_eq!((before.pool_waits, before.pool_wait_max_ms), (1, 30.0));
        let during = &t["during"];
        assert_eq!((during.latency.count, during.tool_lag.count), (1, 2));
        assert!(close(during.latency.p99, 4.0));
        assert!(close(during.service.p99, 3.0));
        assert!(close(during.tool_lag.max, 40.0), "{during:?}");
        // Over all ops, the failed one counts at the 790 ms it took to fail:
        // the outage the ok-only figure cannot see.
        assert_eq!(during.latency_all.count, 2);
        assert!(close(during.latency_all.max, 790.0), "{during:?}");
        assert!(close(during.latency_all.p99, 790.0), "{during:?}");
        assert_eq!(before.latency_all.count, 2);
        assert_eq!(t["empty"], Timing::default());
        assert_eq!(t["empty"].latency.p99_measured(), None);
        assert_eq!(during.latency.p99_measured(), Some(during.latency.p99));
    }

    #[test]
    fn seconds_with_gaps() {
        let mut h: Vec<Op> = (0..100).map(|i| get("k", 1000 + i, 1000 + i + 1)).collect();
        h.push(timed(1500, 1580, 1600)); // the slow one: p99 of 101 ops, 80 ms of it lag
        h.push(failed(get("k", 3000, 3001)));
        let s = per_second(&h);
        assert_eq!(s.iter().map(|x| x.t_s).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!((s[0].ok, s[0].failed), (101, 0));
        assert!(close(s[0].p99_ms, 1.0), "{s:?}");
        assert!(close(s[0].service_p99_ms, 1.0), "{s:?}");
        assert!(close(s[0].tool_lag_p99_ms, 0.0), "{s:?}");
        let slow = per_second(&[timed(1500, 1580, 1600)]);
        assert_eq!(
            (
                slow[0].p99_ms,
                slow[0].service_p99_ms,
                slow[0].tool_lag_p99_ms
            ),
            (100.0, 20.0, 80.0)
        );
        assert_eq!((s[1].ok, s[1].failed, s[1].p99_ms), (0, 0, 0.0));
        assert_eq!((s[2].ok, s[2].failed), (0, 1));
        assert!(per_second(&[]).is_empty());
        let mut v = vec![5, 1, 3, 2, 4];
        assert_eq!(percentile(&mut v, 0.5), 3);
        assert_eq!(percentile(&mut v, 1.0), 5);
    }

    #[test]
    fn client_seconds_split_outcomes_and_leave_a_second_without_success_empty() {
        let mut h: Vec<Op> = (1..=100).map(|i| get("k", 0, i)).collect();
        h.push(failed(get("k", 10, 20)));
        h.push(indeterminate(get("k", 1200, 1700)));
        let s = client_seconds(&h);
        let first = s[&0];
        assert_eq!((first.ok, first.failed, first.indeterminate), (100, 1, 0));
        assert!(close(first.p50_ms.unwrap(), 50.0), "{first:?}");
        assert!(close(first.p99_ms.unwrap(), 99.0), "{first:?}");
        let second = s[&1];
        assert_eq!((second.ok, second.indeterminate), (0, 1));
        assert_eq!(second.p99_ms, None, "no success, no percentile");
    }
}
