//! Downtime as clients saw it: per shard, the longest window from the last
//! success before a failure to the first success after it.
//!
//! Ops are taken in completion order. Failed and indeterminate ops are
//! failures; an op that succeeded after redirects is a success. A failure
//! opens a window only when it was sent after the last success ended: with
//! ops in flight concurrently, one sent during an outage can time out after
//! the shard is back, and says nothing about the time after that success
//! (counted as a failed op, it opens no window of its own). A window that
//! opens before any success starts at the first failed op's sending; one
//! still open at the end of the history ends at the last failed op's end and
//! is marked not recovered. Compute it per client mode: the app's view (retries
//! hide short blips) and the probe's (what the cluster did) differ on purpose.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::ops::{ClientMode, Op};
use crate::slots::SLOT_COUNT;

/// One shard's unavailability.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
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
    pub fn ms(&self) -> f64 {
        self.to_ns.saturating_sub(self.from_ns) as f64 / 1e6
    }
}

/// Windows kept per shard: a flapping shard cannot grow the report without
/// bound; the count in [`Window::windows`] stays exact.
pub const MAX_SPANS: usize = 1000;

/// Downtime of every shard that saw ops.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Downtime {
    pub per_shard: BTreeMap<String, Window>,
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
    // Slot -> shard index, memoised: shard_of may allocate.
    let mut shard_idx: Vec<Option<usize>> = vec![None; usize::from(SLOT_COUNT)];
    let mut names: Vec<String> = Vec::new();
    let mut ops: Vec<Vec<&Op>> = Vec::new();
    for op in history {
        let s = usize::from(op.slot % SLOT_COUNT);
        let i = match shard_idx[s] {
            Some(i) => i,
            None => {
                let name = shard_of(op.slot);
                let i = match names.iter().position(|n| *n == name) {
                    Some(i) => i,
                    None => {
                        names.push(name);
                        ops.push(Vec::new());
                        names.len() - 1
                    }
                };
                shard_idx[s] = Some(i);
                i
            }
        };
        ops[i].push(op);
    }
    let mut out = Downtime::default();
    for (name, mut shard_ops) in names.into_iter().zip(ops) {
        shard_ops.sort_by_key(|o| (o.end_ns, o.sent_ns));
        let w = shard_window(&shard_ops);
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

/// The windows of one shard's ops, sorted by completion.
fn shard_window(ops: &[&Op]) -> Window {
    let mut w = Window {
        recovered: true,
        ..Window::default()
    };
    let mut last_ok_end: Option<u64> = None;
    // Start of the window now open, if any.
    let mut open: Option<u64> = None;
    // Count a closed window and keep it when it is the longest.
    fn close(from: u64, to: u64, w: &mut Window) {
        w.windows += 1;
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
    let mut last_fail_end = 0;
    for op in ops {
        if op.is_ok() {
            if let Some(prev) = last_ok_end {
                w.longest_gap_ms = w
                    .longest_gap_ms
                    .max(op.end_ns.saturating_sub(prev) as f64 / 1e6);
            }
            if let Some(from) = open.take() {
                close(from, op.end_ns, &mut w);
            }
            last_ok_end = Some(op.end_ns);
        } else {
            w.failed_ops += 1;
            // In flight across a success: the shard served after it was sent.
            let stale = last_ok_end.is_some_and(|ok| op.sent_ns < ok);
            if open.is_none() && !stale {
                open = Some(last_ok_end.unwrap_or(op.sent_ns));
            }
            if open.is_some() {
                last_fail_end = last_fail_end.max(op.end_ns);
            }
        }
    }
    if let Some(from) = open {
        close(from, last_fail_end, &mut w);
        w.recovered = false;
    }
    w
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;

    fn one_shard(_: u16) -> String {
        "s1".to_string()
    }

    fn window(h: &[Op]) -> Window {
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
        // A slow op that started before the outage but completed ok after it
        // closes the window; ops of another shard do not.
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
        assert_eq!(d.per_shard["s2"].ms, 0.0);
        assert_eq!(d.max_ms, 190.0);
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
