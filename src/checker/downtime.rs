//! Downtime as clients saw it: availability by invocation. A client is
//! without service from the moment it *sent* an op that did not succeed,
//! however late that op ended: an op that hung until its timeout counts
//! from its sending, not from its end.
//!
//! For each op that failed or is indeterminate, sent at `s`, the client was
//! without service from the end of the last success that ended at or
//! before `s` (or from `s`, when none had) until the end of the first op
//! *sent* at or after `s` that succeeded. A success already in flight when
//! `s` came says nothing about the time after it; a failure that ended late
//! says nothing about when the service came back. Overlapping spans merge
//! into windows. With no success sent after a failure, its window runs to
//! the last op seen and is marked not recovered.
//!
//! Each end of a window is within one op interval (of that group's ops) of
//! the truth: the last success before and the first success after an
//! outage are at most an interval from its edges. The windows are computed
//! per shard (the primary that owned the slots when the drill began) and,
//! apart, per group of slots that changed hands (a move, a failover): an
//! outage of only some of a shard's slots (a migrating slot's write pause,
//! TRYAGAIN on the moved slots) is not closed by the successes of the slots
//! that stayed. Compute it per client mode: the app's view (retries hide
//! short blips) and the probe's (what the cluster did) differ on purpose.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::ops::{ClientMode, Op};
use crate::slots::SLOT_COUNT;

/// One shard's unavailability.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardDowntime {
    /// Length of the longest window, ms (0 without failures).
    pub ms: f64,
    /// Bounds of the longest window, ns since the run's epoch (0 without failures).
    pub from_ns: u64,
    pub to_ns: u64,
    /// Failed and indeterminate ops of the shard, in all its windows.
    pub failed_ops: u64,
    /// Distinct unavailable windows.
    pub windows: u32,
    /// Whether every window closed with a success (false: still failing at the end).
    pub recovered: bool,
    /// The longest time between two successes' ends, ms: a stall that ends
    /// in success opens no failure window, but clients waited all the same.
    #[serde(default)]
    pub longest_gap_ms: f64,
    /// Every window, in order (at most [`MAX_SPANS`]): what lets a drill
    /// attribute each one to the fault in force when it opened.
    #[serde(default)]
    pub spans: Vec<Span>,
    /// Windows past [`MAX_SPANS`], counted in `windows` but not kept in
    /// `spans`: they are the latest ones, so anything that reads `spans`
    /// after the last kept one is incomplete.
    #[serde(default)]
    pub spans_dropped: u32,
}

/// One unavailable window, ns since the run's epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub from_ns: u64,
    pub to_ns: u64,
}

impl Span {
    /// The span's length in milliseconds, the unit every report shows.
    pub fn ms(&self) -> f64 {
        self.to_ns.saturating_sub(self.from_ns) as f64 / 1e6
    }
}

/// Windows kept per shard: a flapping shard cannot grow the report without
/// bound; the count in [`ShardDowntime::windows`] stays exact.
pub const MAX_SPANS: usize = 1000;

/// Downtime of every shard that saw ops.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Downtime {
    pub per_shard: BTreeMap<String, ShardDowntime>,
    /// The longest window over all shards, ms.
    pub max_ms: f64,
}

/// Downtime as the app clients and as the probe clients saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DowntimeByMode {
    pub app: Downtime,
    pub probe: Downtime,
}

/// Downtime per shard; `shard_of` names the shard of a slot (e.g. its primary
/// at the start of the run, or its slot range).
pub fn downtime<'a>(
    history: impl IntoIterator<Item = &'a Op>,
    shard_of: impl Fn(u16) -> String,
) -> Downtime {
    downtime_of_groups(history, |slot| Some(shard_of(slot)))
}

/// Downtime per group of slots; `group_of` names a slot's group, or `None`
/// for a slot in no group (its ops are left out). The groups of slots that
/// changed hands are judged apart from their shards this way.
pub fn downtime_of_groups<'a>(
    history: impl IntoIterator<Item = &'a Op>,
    group_of: impl Fn(u16) -> Option<String>,
) -> Downtime {
    // Slot -> group index, memoised: group_of may allocate.
    let mut group_idx: Vec<Option<Option<usize>>> = vec![None; usize::from(SLOT_COUNT)];
    let mut names: Vec<String> = Vec::new();
    let mut ops: Vec<Vec<&Op>> = Vec::new();
    for op in history {
        let s = usize::from(op.slot % SLOT_COUNT);
        let i = match group_idx[s] {
            Some(i) => i,
            None => {
                let i = group_of(op.slot).map(|name| {
                    names.iter().position(|n| *n == name).unwrap_or_else(|| {
                        names.push(name);
                        ops.push(Vec::new());
                        names.len() - 1
                    })
                });
                group_idx[s] = Some(i);
                i
            }
        };
        if let Some(i) = i {
            ops[i].push(op);
        }
    }
    let mut out = Downtime::default();
    for (name, group_ops) in names.into_iter().zip(ops) {
        let w = shard_window(&group_ops);
        out.max_ms = out.max_ms.max(w.ms);
        out.per_shard.insert(name, w);
    }
    out
}

/// [`downtime`] of the app clients' ops and of the probe clients' ops.
pub fn downtime_by_mode<'a>(
    history: impl IntoIterator<Item = &'a Op> + Clone,
    shard_of: impl Fn(u16) -> String,
) -> DowntimeByMode {
    DowntimeByMode {
        app: downtime(
            history
                .clone()
                .into_iter()
                .filter(|o| o.mode == ClientMode::App),
            &shard_of,
        ),
        probe: downtime(
            history.into_iter().filter(|o| o.mode == ClientMode::Probe),
            &shard_of,
        ),
    }
}

/// The windows of one group's ops (any order): availability by invocation
/// (see the module's docs).
fn shard_window(ops: &[&Op]) -> ShardDowntime {
    let mut w = ShardDowntime {
        recovered: true,
        ..ShardDowntime::default()
    };
    // Successes by end (the last one before a sending) and by sending (the
    // first one sent after), with the earliest end from each sending on.
    let mut by_end: Vec<u64> = ops.iter().filter(|o| o.is_ok()).map(|o| o.end_ns).collect();
    by_end.sort_unstable();
    for pair in by_end.windows(2) {
        w.longest_gap_ms = w.longest_gap_ms.max((pair[1] - pair[0]) as f64 / 1e6);
    }
    let mut by_sent: Vec<(u64, u64)> = (ops.iter())
        .filter(|o| o.is_ok())
        .map(|o| (o.sent_ns, o.end_ns))
        .collect();
    by_sent.sort_unstable();
    let mut first_end_from = vec![u64::MAX; by_sent.len()];
    for i in (0..by_sent.len()).rev() {
        let later = first_end_from.get(i + 1).copied().unwrap_or(u64::MAX);
        first_end_from[i] = by_sent[i].1.min(later);
    }
    let last_seen = ops.iter().map(|o| o.end_ns).max().unwrap_or(0);
    // Each failure's span: (from, to, closed by a success). One with no
    // success sent after it runs to the last op seen.
    let mut spans: Vec<(u64, u64, bool)> = (ops.iter())
        .filter(|o| !o.is_ok())
        .map(|f| {
            let s = f.sent_ns;
            let before = by_end.partition_point(|&e| e <= s);
            let from = if before == 0 { s } else { by_end[before - 1] };
            let after = by_sent.partition_point(|&(sent, _)| sent < s);
            match first_end_from.get(after) {
                Some(&to) => (from, to, true),
                None => (from, last_seen, false),
            }
        })
        .collect();
    w.failed_ops = spans.len() as u64;
    spans.sort_unstable();
    let mut open: Option<(u64, u64, bool)> = None;
    for (from, to, closed) in spans {
        match &mut open {
            Some(cur) if from < cur.1 => {
                cur.1 = cur.1.max(to);
                cur.2 &= closed;
            }
            _ => {
                if let Some(done) = open.replace((from, to, closed)) {
                    close_window(done, &mut w);
                }
            }
        }
    }
    if let Some(done) = open {
        close_window(done, &mut w);
    }
    w
}

/// Count a window and keep it when it is the longest.
fn close_window((from, to, closed): (u64, u64, bool), w: &mut ShardDowntime) {
    w.windows += 1;
    w.recovered &= closed;
    if w.spans.len() < MAX_SPANS {
        w.spans.push(Span {
            from_ns: from,
            to_ns: to,
        });
    } else {
        w.spans_dropped += 1;
    }
    let ms = to.saturating_sub(from) as f64 / 1e6;
    if w.windows == 1 || ms > w.ms {
        w.ms = ms;
        w.from_ns = from;
        w.to_ns = to;
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;

    fn one_shard(_: u16) -> String {
        "s1".to_string()
    }

    fn window(h: &[Op]) -> ShardDowntime {
        downtime(h, one_shard).per_shard["s1"].clone()
    }

    #[test]
    fn a_slow_success_is_a_gap_not_a_window() {
        // A 900 ms stall that ends in success: no failure window, a 900 ms gap.
        let h = vec![get("a", 0, 1), get("a", 1, 901), get("a", 901, 902)];
        let w = window(&h);
        assert_eq!((w.ms, w.windows), (0.0, 0));
        assert_eq!(w.longest_gap_ms, 900.0);
    }

    #[test]
    fn no_failures_no_downtime() {
        let h = vec![get("a", 0, 1), get("a", 1, 2)];
        let w = window(&h);
        assert_eq!(w.ms, 0.0);
        assert_eq!((w.windows, w.failed_ops), (0, 0));
        assert!(w.recovered);
        assert_eq!(downtime(&[], one_shard).max_ms, 0.0);
    }

    #[test]
    fn one_window_from_last_success_to_first_success() {
        let h = vec![
            get("a", 0, 100),
            failed(get("a", 100, 150)),
            indeterminate(get("a", 150, 1150)),
            failed(get("a", 1150, 1200)),
            get("a", 1200, 1300),
            get("a", 1300, 1400),
        ];
        let w = window(&h);
        assert_eq!(w.windows, 1);
        assert_eq!(w.failed_ops, 3);
        assert_eq!((w.from_ns, w.to_ns), (100_000_000, 1_300_000_000));
        assert_eq!(w.ms, 1200.0);
        assert!(w.recovered);
    }

    #[test]
    fn two_windows_the_longest_wins() {
        let h = vec![
            get("a", 0, 10),
            failed(get("a", 10, 20)),
            get("a", 20, 30), // window 10..30
            get("a", 30, 40),
            failed(get("a", 40, 50)),
            failed(get("a", 50, 60)),
            get("a", 60, 100), // window 40..100
        ];
        let w = window(&h);
        assert_eq!(w.windows, 2);
        assert_eq!(w.failed_ops, 3);
        assert_eq!((w.from_ns, w.to_ns), (40_000_000, 100_000_000));
        assert_eq!(
            w.spans,
            vec![
                Span {
                    from_ns: 10_000_000,
                    to_ns: 30_000_000
                },
                Span {
                    from_ns: 40_000_000,
                    to_ns: 100_000_000
                }
            ]
        );
        assert_eq!(w.ms, 60.0);
    }

    #[test]
    fn failures_at_the_very_start_and_end() {
        // No success before: the window starts at the first failure's start.
        let h = vec![failed(get("a", 5, 10)), get("a", 10, 20)];
        let w = window(&h);
        assert_eq!((w.from_ns, w.to_ns, w.windows), (5_000_000, 20_000_000, 1));
        assert!(w.recovered);
        // No success after: the window ends at the last failure's end, not recovered.
        let h = vec![
            get("a", 0, 10),
            failed(get("a", 10, 20)),
            failed(get("a", 20, 35)),
        ];
        let w = window(&h);
        assert_eq!((w.from_ns, w.to_ns, w.windows), (10_000_000, 35_000_000, 1));
        assert!(!w.recovered);
    }

    #[test]
    fn completion_order_and_shards() {
        // A slow op sent before the failure that succeeded after it says
        // nothing of the time after the failure: it closes no window, and
        // with no success sent later the window runs to the last op seen,
        // not recovered. Ops of another shard close nothing either.
        let mut other = get("b", 0, 500);
        other.slot = 9000;
        let h = vec![
            get("a", 0, 10),
            failed(get("a", 20, 30)),
            other,
            get("a", 5, 200),
        ];
        let d = downtime(&h, |s| if s == 9000 { "s2".into() } else { "s1".into() });
        assert_eq!(d.per_shard["s1"].ms, 190.0);
        assert!(!d.per_shard["s1"].recovered);
        assert_eq!(d.per_shard["s2"].ms, 0.0);
        assert_eq!(d.max_ms, 190.0);
        // A success sent after the failure closes it at its end.
        let mut h = h;
        h.push(get("a", 40, 45));
        let w = downtime(&h, |_| "s1".into()).per_shard["s1"].clone();
        assert_eq!(
            (w.from_ns, w.to_ns, w.recovered),
            (10_000_000, 45_000_000, true)
        );
    }

    #[test]
    fn ops_that_hang_past_a_short_outage_count_from_their_sending() {
        // The shard is out from 100 to 500 ms; every op sent then hangs
        // until its 1 s timeout (ending 1100..1500), long after the ops sent
        // from 500 on succeed. Ordered by their ends, the hung ops all end
        // after a success and would open no window; by invocation the
        // clients were without service from the last success (95) to the
        // first success sent after the last hung op (505).
        let mut h = Vec::new();
        for t in (0..1000).step_by(10) {
            if (100..500).contains(&t) {
                h.push(indeterminate(get("a", t, t + 1000)));
            } else {
                h.push(get("a", t, t + 5));
            }
        }
        let w = window(&h);
        assert_eq!(w.windows, 1, "{w:?}");
        assert_eq!((w.from_ns, w.to_ns), (95_000_000, 505_000_000));
        assert_eq!(w.failed_ops, 40);
        assert!(w.recovered);
    }

    #[test]
    fn an_outage_of_some_slots_is_seen_in_their_group_not_in_the_shard() {
        // Slots 0..100 of s1 move (their ops fail with TRYAGAIN from 100 to
        // 600 ms) while its other slots keep answering: per shard the
        // successes of the slots that stayed close every window at once;
        // per group of moved slots the outage is whole.
        let mut h = Vec::new();
        for t in (0..1000).step_by(5) {
            let mut moved = get("m", t, t + 1);
            moved.slot = 50;
            let mut stayed = get("s", t, t + 1);
            stayed.slot = 5000;
            if (100..600).contains(&t) {
                moved = failed(moved);
            }
            h.push(moved);
            h.push(stayed);
        }
        let shard = downtime(&h, |_| "s1".into());
        assert!(shard.max_ms < 10.0, "{:?}", shard.per_shard["s1"]);
        let groups = downtime_of_groups(&h, |s| (s < 100).then(|| "s1→s2".to_string()));
        let w = &groups.per_shard["s1→s2"];
        assert_eq!((w.from_ns, w.to_ns), (96_000_000, 601_000_000));
        assert_eq!(groups.per_shard.len(), 1);
    }

    /// Random outages, op rates, timeouts and ways of failing: the window
    /// measured is the outage to within one op interval at each end (plus
    /// an op's latency), whatever the timeout, and a stall answered in the
    /// end is a gap, not a window.
    #[test]
    fn the_window_is_the_outage_within_an_interval_at_each_end() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(23);
        for case in 0..500 {
            let interval = rng.random_range(1..=50u64); // ms between ops
            let latency = rng.random_range(0..interval.min(5) + 1); // ms, ≤ interval
            let timeout = rng.random_range(50..3000u64);
            let start = rng.random_range(200..2000u64);
            let outage = rng.random_range(1..3000u64);
            let end = start + outage;
            let how = rng.random_range(0..3);
            let mut h = Vec::new();
            let mut t = 0;
            while t < end + 1000 {
                let op = get("a", t, t + latency);
                h.push(if (start..end).contains(&t) {
                    match how {
                        // Refused at once.
                        0 => failed(op),
                        // Hung until the timeout, whenever the shard came back.
                        1 => indeterminate(get("a", t, t + timeout)),
                        // Stalled, then answered when the shard came back.
                        _ => get("a", t, end + latency),
                    }
                } else {
                    op
                });
                t += interval;
            }
            let w = window(&h);
            let ms = |ns: u64| ns as f64 / 1e6;
            let why = format!(
                "case {case}: outage {start}..{end} ms, ops every {interval} ms taking {latency} ms, \
                 how {how}, timeout {timeout} ms: {w:?}"
            );
            let hit = h
                .iter()
                .any(|o| (start..end).contains(&(o.sent_ns / 1_000_000)));
            if !hit {
                // Between two ops: no client saw it.
                assert_eq!(w.windows, 0, "{why}");
                continue;
            }
            if how == 2 {
                assert_eq!(w.windows, 0, "{why}");
                assert!(
                    w.longest_gap_ms + 1e-9 >= outage as f64 - interval as f64,
                    "{why}"
                );
                continue;
            }
            assert_eq!(w.windows, 1, "{why}");
            assert!(w.recovered, "{why}");
            let (from, to) = (ms(w.from_ns), ms(w.to_ns));
            let slack = (interval + latency) as f64;
            // The last success may end just after the outage began, when it
            // was sent just before.
            assert!(
                from <= (start + latency) as f64 && from >= start as f64 - slack,
                "{why}"
            );
            assert!(to >= end as f64 && to <= end as f64 + slack, "{why}");
        }
    }

    #[test]
    fn a_failure_in_flight_across_a_success_opens_no_window() {
        // An op sent during the outage (at 50) times out at 400, after the
        // shard answered again at 300: it belongs to the outage it was sent
        // in, not to a new window after the recovery.
        let h = vec![
            get("a", 0, 10),
            failed(get("a", 20, 30)), // the outage opens at 10
            indeterminate(get("a", 50, 400)),
            get("a", 290, 300), // ... and closes at 300
            get("a", 350, 360),
            get("a", 390, 395),
        ];
        let w = window(&h);
        assert_eq!(w.windows, 1, "{w:?}");
        assert_eq!((w.from_ns, w.to_ns), (10_000_000, 300_000_000));
        assert_eq!(w.failed_ops, 2);
        assert!(w.recovered);
        // A failure sent after the last success does open one.
        let mut h2 = h.clone();
        h2.push(failed(get("a", 397, 398)));
        h2.push(get("a", 399, 420));
        let w = window(&h2);
        assert_eq!(w.windows, 2, "{w:?}");
    }

    #[test]
    fn a_flapping_shard_counts_every_window_and_says_which_it_dropped() {
        let n = MAX_SPANS as u64 + 5;
        let h: Vec<Op> = (0..n)
            .flat_map(|i| {
                [
                    failed(get("a", 10 * i, 10 * i + 5)),
                    get("a", 10 * i + 5, 10 * i + 10),
                ]
            })
            .collect();
        let w = window(&h);
        assert_eq!(w.windows as u64, n);
        assert_eq!(w.spans.len(), MAX_SPANS);
        assert_eq!(w.spans_dropped, 5);
        // The first window opens at the first failure's sending; the ones kept are the earliest.
        assert_eq!(
            w.spans[0],
            Span {
                from_ns: 0,
                to_ns: 10_000_000
            }
        );
    }

    #[test]
    fn by_mode() {
        let h = vec![
            app(get("a", 0, 10)),
            app(get("a", 10, 20)),
            get("a", 0, 10),
            failed(get("a", 10, 15)),
            get("a", 15, 30),
        ];
        let d = downtime_by_mode(&h, one_shard);
        assert_eq!(d.app.max_ms, 0.0);
        assert_eq!(d.probe.max_ms, 20.0);
    }
}
