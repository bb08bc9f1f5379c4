//! `--max-impact-ms`: moving keys gently. A `MIGRATE` runs on the source's
//! one thread: while it serializes a batch and waits for the target, every
//! client of the source waits too. So the engine watches what a client of
//! the source would see — a `PING` of its own, on a connection no migration
//! uses, every [`TICK`] — and steers the two things that set how long and
//! how often the source is held: keys per `MIGRATE` and slots in flight.
//!
//! Additive increase, multiplicative decrease (TCP's rule): both start
//! small; a PING under half the bound lets each grow (the batch by a
//! quarter, one more slot); a PING over the bound halves both at once and
//! holds them for [`COOLDOWN_TICKS`]. Between the two, nothing changes.
//! Once both are at their floor (10 keys, one slot: redis-cli's pace, but
//! without its gaps) and the source is still held too long, a pause before
//! each MIGRATE doubles; when the PINGs are fast again it halves away
//! before anything else grows.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// How often each source is PINGed.
pub(super) const TICK: Duration = Duration::from_millis(10);
/// Ticks without an increase after a decrease: long enough for the
/// batches sent before it to end.
const COOLDOWN_TICKS: u32 = 5;
/// The first pause between MIGRATEs, and the longest, µs.
const MIN_PAUSE_US: u64 = 250;
const MAX_PAUSE_US: u64 = 50_000;
/// The smallest batch (redis-cli's own) and the batch everything starts at.
pub(super) const MIN_BATCH: usize = 10;

/// What the control loop did, for the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImpactReport {
    /// The bound asked for.
    pub max_impact_ms: f64,
    /// PINGs sent to the sources while slots moved, and how many took
    /// longer than the bound (each one a decrease).
    pub pings: u64,
    pub over_bound: u64,
    /// The PINGs' p50, p99 and longest, ms.
    pub ping_p50_ms: f64,
    pub ping_p99_ms: f64,
    pub ping_max_ms: f64,
    /// The largest batch and the most slots in flight the loop allowed.
    pub batch_max: usize,
    pub parallel_max: usize,
    /// Where they were when the move ended.
    pub batch_end: usize,
    pub parallel_end: usize,
    /// The longest pause before a MIGRATE the loop set, ms (0: none).
    pub pause_max_ms: f64,
}

impl std::fmt::Display for ImpactReport {
    /// One line: what the loop saw and how far it let the knobs go.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "max impact {} ms: source PINGs p50 {:.2} / p99 {:.2} / max {:.1} ms, {} of {} over the bound; up to {} keys a MIGRATE, {} slots at once, {:.2} ms pauses",
            self.max_impact_ms,
            self.ping_p50_ms,
            self.ping_p99_ms,
            self.ping_max_ms,
            self.over_bound,
            self.pings,
            self.batch_max,
            self.parallel_max,
            self.pause_max_ms
        )
    }
}

/// The knobs the slot tasks read, and the loop that turns them.
pub(crate) struct Throttle {
    bound_ms: f64,
    max_batch: usize,
    max_parallel: usize,
    batch: AtomicUsize,
    parallel: AtomicUsize,
    /// A pause before each MIGRATE, µs: the last knob, turned once the
    /// other two are at their floor and the source is still held too long.
    pause_us: std::sync::atomic::AtomicU64,
    seen: Mutex<Seen>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("bound_ms", &self.bound_ms)
            .field("batch", &self.batch())
            .field("parallel", &self.parallel())
            .finish()
    }
}

struct Seen {
    pings: Histogram<u64>,
    over: u64,
    batch_max: usize,
    parallel_max: usize,
    pause_max_us: u64,
}

impl Throttle {
    /// Start small, with at most `max_batch` keys a MIGRATE and
    /// `max_parallel` slots at once.
    pub(super) fn new(bound_ms: f64, max_batch: usize, max_parallel: usize) -> Throttle {
        let (b, p) = (MIN_BATCH.min(max_batch.max(1)), 1);
        Throttle {
            bound_ms,
            max_batch: max_batch.max(1),
            max_parallel: max_parallel.max(1),
            batch: AtomicUsize::new(b),
            parallel: AtomicUsize::new(p),
            pause_us: std::sync::atomic::AtomicU64::new(0),
            seen: Mutex::new(Seen {
                pings: Histogram::new_with_bounds(1, 60_000_000, 3)
                    .expect("valid histogram bounds"),
                over: 0,
                batch_max: b,
                parallel_max: p,
                pause_max_us: 0,
            }),
        }
    }

    /// Keys per MIGRATE now.
    pub(crate) fn batch(&self) -> usize {
        self.batch.load(Ordering::Relaxed)
    }

    /// Slots in flight allowed now.
    pub(crate) fn parallel(&self) -> usize {
        self.parallel.load(Ordering::Relaxed)
    }

    /// How long each slot task waits before its next MIGRATE now.
    pub(crate) fn pause(&self) -> Duration {
        Duration::from_micros(self.pause_us.load(Ordering::Relaxed))
    }

    /// One tick's worst PING (`None`: a source did not answer within the
    /// tick's bound, which counts as over). Returns whether it cut.
    fn observe(&self, rtt: Option<Duration>, cooldown: &mut u32) -> bool {
        let ms = rtt.map_or(f64::INFINITY, |d| d.as_secs_f64() * 1000.0);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = rtt {
            let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
            let _ = seen.pings.record(us.min(60_000_000));
        }
        let (b, p, w) = (
            self.batch(),
            self.parallel(),
            self.pause_us.load(Ordering::Relaxed),
        );
        let floor = MIN_BATCH.min(self.max_batch);
        let (nb, np, nw, cut) = if ms > self.bound_ms {
            seen.over += 1;
            *cooldown = COOLDOWN_TICKS;
            // At the floor already: pause between MIGRATEs, doubling.
            let nw = if b <= floor && p <= 1 {
                (w * 2).clamp(MIN_PAUSE_US, MAX_PAUSE_US)
            } else {
                w
            };
            ((b / 2).max(floor), (p / 2).max(1), nw, true)
        } else if *cooldown > 0 {
            *cooldown -= 1;
            (b, p, w, false)
        } else if ms < self.bound_ms / 2.0 {
            if w > 0 {
                // The pause goes first, before anything grows.
                let nw = if w / 2 < MIN_PAUSE_US { 0 } else { w / 2 };
                (b, p, nw, false)
            } else {
                (
                    (b + (b / 4).max(1)).min(self.max_batch),
                    (p + 1).min(self.max_parallel),
                    0,
                    false,
                )
            }
        } else {
            (b, p, w, false)
        };
        self.batch.store(nb, Ordering::Relaxed);
        self.parallel.store(np, Ordering::Relaxed);
        self.pause_us.store(nw, Ordering::Relaxed);
        seen.batch_max = seen.batch_max.max(nb);
        seen.parallel_max = seen.parallel_max.max(np);
        seen.pause_max_us = seen.pause_max_us.max(nw);
        cut
    }

    /// PING every source each [`TICK`] and turn the knobs, until `stop`
    /// is set. On a thread of its own with blocking sockets (as the
    /// reference PINGs), realtime where the process may: what it times is
    /// the source's event loop, not this process's async scheduler, which
    /// the engine keeps busy. A source that cannot be reached leaves the
    /// knobs at their floor.
    pub(super) fn control(
        &self,
        sources: &[(String, std::net::SocketAddr)],
        stop: &std::sync::atomic::AtomicBool,
    ) {
        crate::workload::thread::prepare(true, 0);
        let patience = Duration::from_secs_f64((self.bound_ms * 20.0 / 1000.0).clamp(0.05, 2.0));
        let mut conns: Vec<Option<crate::net::secure::SyncStream>> =
            sources.iter().map(|_| None).collect();
        let mut cooldown = 0;
        let mut next = Instant::now();
        while !stop.load(Ordering::Acquire) {
            let mut worst = Some(Duration::ZERO);
            for ((name, addr), conn) in sources.iter().zip(conns.iter_mut()) {
                if conn.is_none() {
                    match crate::workload::reference::connect(*addr, patience) {
                        Ok(c) => *conn = Some(c),
                        Err(e) => tracing::debug!(node = %name, "max-impact: PING connection: {e}"),
                    }
                }
                let t = Instant::now();
                let ok = conn.as_mut().is_some_and(crate::workload::reference::ping);
                if ok {
                    worst = worst.map(|w| w.max(t.elapsed()));
                } else {
                    *conn = None;
                    worst = None;
                }
            }
            if self.observe(worst, &mut cooldown) {
                tracing::debug!(
                    batch = self.batch(),
                    parallel = self.parallel(),
                    "max-impact: a source PING took over the bound; halved"
                );
            }
            next += TICK;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else if now > next + TICK {
                // Late by more than a tick (a busy machine): no burst to catch up.
                next = now;
            }
        }
    }

    /// What the loop did, once the move is over.
    pub(super) fn report(&self) -> ImpactReport {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let q = |p: f64| seen.pings.value_at_quantile(p) as f64 / 1000.0;
        ImpactReport {
            max_impact_ms: self.bound_ms,
            pings: seen.pings.len(),
            over_bound: seen.over,
            ping_p50_ms: q(0.5),
            ping_p99_ms: q(0.99),
            ping_max_ms: seen.pings.max() as f64 / 1000.0,
            batch_max: seen.batch_max,
            parallel_max: seen.parallel_max,
            batch_end: self.batch(),
            parallel_end: self.parallel(),
            pause_max_ms: seen.pause_max_us as f64 / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_knobs_grow_while_pings_are_fast_and_halve_when_one_is_slow() {
        let t = Throttle::new(1.0, 1000, 32);
        let mut cool = 0;
        assert_eq!((t.batch(), t.parallel()), (10, 1));
        let fast = Some(Duration::from_micros(200));
        for _ in 0..40 {
            t.observe(fast, &mut cool);
        }
        // Capped at the engine's own settings.
        assert_eq!((t.batch(), t.parallel()), (1000, 32));
        // One slow PING halves both, then nothing grows for the cooldown.
        assert!(t.observe(Some(Duration::from_millis(3)), &mut cool));
        assert_eq!((t.batch(), t.parallel()), (500, 16));
        for _ in 0..COOLDOWN_TICKS {
            t.observe(fast, &mut cool);
            assert_eq!((t.batch(), t.parallel()), (500, 16));
        }
        t.observe(fast, &mut cool);
        assert_eq!((t.batch(), t.parallel()), (625, 17));
        // Between half the bound and the bound: held.
        t.observe(Some(Duration::from_micros(700)), &mut cool);
        assert_eq!((t.batch(), t.parallel()), (625, 17));
        // No answer counts as over; at the floor, a pause between
        // MIGRATEs doubles up to its ceiling.
        for _ in 0..20 {
            t.observe(None, &mut cool);
        }
        assert_eq!((t.batch(), t.parallel()), (10, 1));
        assert_eq!(t.pause(), Duration::from_micros(MAX_PAUSE_US));
        // Fast again: the pause halves away before anything grows.
        cool = 0;
        t.observe(fast, &mut cool);
        assert_eq!(t.pause(), Duration::from_micros(MAX_PAUSE_US / 2));
        assert_eq!((t.batch(), t.parallel()), (10, 1));
        let r = t.report();
        assert_eq!((r.over_bound, r.batch_max, r.parallel_max), (21, 1000, 32));
        assert_eq!(r.pings, 40 + 1 + 6 + 1 + 1);
        assert_eq!(r.pause_max_ms, MAX_PAUSE_US as f64 / 1000.0);
    }
}
