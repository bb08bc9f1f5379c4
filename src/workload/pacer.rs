//! Precise wake-ups for open-loop clients.
//!
//! tokio's timer has a 1 ms resolution and rounds deadlines up, so an
//! open-loop op woken by `sleep_until` starts on average ~1 ms after it was
//! due; since latency counts from the schedule, that lateness would be added
//! to every op (a loopback round trip is ~0.1 ms). One thread sleeping on
//! `recv_timeout` (a futex with a ~50 µs slack) wakes the clients instead.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// How long the thread waits for a request when none is pending, before it
/// checks again whether the workload is gone (it also ends when every handle
/// is dropped).
const IDLE_POLL: Duration = Duration::from_millis(100);

/// Most wake-ups pending at once: one per client, with room.
const MAX_PENDING: usize = 100_000;

type Request = (Instant, oneshot::Sender<()>);

/// A handle to the pacer thread; clone one per client.
#[derive(Clone)]
pub(crate) struct Pacer {
    tx: mpsc::Sender<Request>,
}

impl Pacer {
    /// Start the thread. It ends when every handle is dropped, or `max_run` after start.
    pub fn start(max_run: Duration) -> Pacer {
        let (tx, rx) = mpsc::channel::<Request>();
        let end = Instant::now() + max_run;
        let spawned = thread::Builder::new()
            .name("redis-drill-pacer".into())
            .spawn(move || run(rx, end));
        if let Err(e) = spawned {
            // Without the thread every wait falls back to tokio's timer.
            tracing::warn!("pacer thread: {e}; open-loop wake-ups use tokio's 1 ms timer");
        }
        Pacer { tx }
    }

    /// Wait until `due` (never less, ~0.1 ms more).
    pub async fn wait_until(&self, due: Instant) {
        if due <= Instant::now() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        if self.tx.send((due, tx)).is_err() || rx.await.is_err() {
            tokio::time::sleep_until(due.into()).await;
        }
    }
}

fn run(rx: mpsc::Receiver<Request>, end: Instant) {
    let mut heap: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut waiters: std::collections::HashMap<u64, oneshot::Sender<()>> = Default::default();
    let mut seq = 0u64;
    while Instant::now() < end {
        let now = Instant::now();
        while let Some(Reverse((due, id))) = heap.peek().copied() {
            // Never early: the op's latency counts from `due`.
            if due > now {
                break;
            }
            heap.pop();
            if let Some(w) = waiters.remove(&id) {
                let _ = w.send(());
            }
        }
        let wait = heap
            .peek()
            .map(|Reverse((due, _))| due.saturating_duration_since(now))
            .unwrap_or(IDLE_POLL);
        match rx.recv_timeout(wait) {
            Ok((due, w)) => {
                if heap.len() >= MAX_PENDING {
                    // Dropping the sender makes the client fall back to tokio's timer.
                    continue;
                }
                seq += 1;
                heap.push(Reverse((due, seq)));
                waiters.insert(seq, w);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    // Wake whoever still waits: they fall back to tokio's timer.
    drop(waiters);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_close_to_the_deadline() {
        let p = Pacer::start(Duration::from_secs(10));
        let mut late = Vec::new();
        for i in 0..20u64 {
            let due = Instant::now() + Duration::from_micros(1500 + 100 * i);
            p.wait_until(due).await;
            let now = Instant::now();
            assert!(now >= due);
            late.push(now - due);
        }
        late.sort();
        // The median wake-up is well under tokio's 1 ms tick.
        assert!(late[10] < Duration::from_micros(700), "{late:?}");
    }
}
