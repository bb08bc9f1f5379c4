//! The loop every per-node poller runs (the watcher, the keyspace sampler):
//! one poll per tick of an interval, until stopped or a bound on the polls
//! is reached. A poll that overruns its tick delays the next one rather than
//! causing a burst; a stop is seen between polls and while one is in flight
//! (which is then abandoned).

use std::future::Future;
use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// A poller's ticks: `while ticks.next().await { ticks.or_stop(poll).await }`.
pub(crate) struct Ticks {
    ticks: Interval,
    stop: CancellationToken,
    left: usize,
}

impl Ticks {
    /// At most `polls` ticks, `interval` apart, the first at once.
    pub(crate) fn new(interval: Duration, stop: &CancellationToken, polls: usize) -> Ticks {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ticks {
            ticks,
            stop: stop.clone(),
            left: polls,
        }
    }

    /// Wait for the next tick: `false` once stopped or every poll is made.
    pub(crate) async fn next(&mut self) -> bool {
        if self.left == 0 || self.stop.is_cancelled() {
            return false;
        }
        self.left -= 1;
        tokio::select! {
            biased;
            _ = self.stop.cancelled() => false,
            _ = self.ticks.tick() => true,
        }
    }

    /// `poll`'s output, or `None` when the stop fired first (the poll is
    /// then abandoned).
    pub(crate) async fn or_stop<F: Future>(&self, poll: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            _ = self.stop.cancelled() => None,
            out = poll => Some(out),
        }
    }

    /// Whether the loop ended because every poll was made, not on a stop:
    /// the recording is cut short from there on.
    pub(crate) fn full(&self) -> bool {
        self.left == 0 && !self.stop.is_cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_polls_its_bound_then_says_it_is_full() {
        let stop = CancellationToken::new();
        let mut ticks = Ticks::new(Duration::from_millis(1), &stop, 5);
        let mut n = 0;
        while ticks.next().await {
            n += 1;
        }
        assert_eq!((n, ticks.full()), (5, true));
    }

    #[tokio::test]
    async fn a_stop_abandons_the_poll_in_flight_and_is_not_full() {
        let stop = CancellationToken::new();
        let mut ticks = Ticks::new(Duration::from_millis(1), &stop, 100);
        let (mut started, mut finished) = (0, 0);
        while ticks.next().await {
            started += 1;
            if started == 3 {
                stop.cancel();
            }
            let slow = tokio::time::sleep(Duration::from_secs(if started == 3 { 3600 } else { 0 }));
            if ticks.or_stop(slow).await.is_none() {
                break;
            }
            finished += 1;
        }
        assert_eq!((started, finished, ticks.full()), (3, 2, false));
        assert!(!ticks.next().await, "no tick after a stop");
    }
}
