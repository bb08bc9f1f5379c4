//! Who holds which lock now, and the holders the nemesis froze: how a
//! `pause` of `lock_holder:<n>` reaches a worker.
//!
//! A frozen worker stops at its next *safepoint*, the one step where a pause
//! does its damage: after its last validity check, just before it writes the
//! protected resource (where Kleppmann's example puts the GC pause, and
//! where a JVM's stop-the-world pause holds threads: at a safepoint between
//! operations). It stays there until resumed. Its lock key expires on the
//! servers meanwhile, others take the lock, and when it goes on it writes
//! with a token that may be stale. The freeze is the tool's own doing — its
//! worker is a task, not a process the kernel stops — and the history
//! records it as it happened (`pause`, from the freeze to the resume).
//!
//! When nobody holds the lock at the moment of the pause, the next worker
//! granted it is frozen; a holder that skips its write (its validity ran
//! out) passes the order on to the next one.

pub use crate::record::locks::worker_name;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The longest a worker stays frozen if nobody resumes it: the workload's
/// own bound on a run. The nemesis resumes every holder it froze on every
/// exit path, and the stop wakes frozen workers too.
const MAX_FREEZE: Duration = Duration::from_secs(3600);

/// The holders of a running lock workload, for the nemesis: cheap to clone.
#[derive(Clone)]
pub struct LockControl {
    inner: Arc<Inner>,
}

struct Inner {
    locks: u32,
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Default)]
struct State {
    /// Lock → the worker holding it.
    holders: BTreeMap<u32, u32>,
    /// Worker → the lock it is to freeze on (at its next safepoint).
    freeze: BTreeMap<u32, u32>,
    /// Locks whose next holder is to freeze.
    armed: BTreeSet<u32>,
}

impl LockControl {
    /// Nobody holding any of the `locks` locks yet.
    pub(crate) fn new(locks: u32) -> LockControl {
        LockControl {
            inner: Arc::new(Inner {
                locks,
                state: Mutex::default(),
                changed: Notify::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `worker` holds `lock` now.
    pub(crate) fn granted(&self, worker: u32, lock: u32) {
        let mut s = self.state();
        s.holders.insert(lock, worker);
        if s.armed.remove(&lock) {
            s.freeze.insert(worker, lock);
        }
    }

    /// `worker` is letting `lock` go. A freeze it never reached passes on
    /// to the lock's next holder.
    pub(crate) fn releasing(&self, worker: u32, lock: u32) {
        let mut s = self.state();
        if s.holders.get(&lock) == Some(&worker) {
            s.holders.remove(&lock);
        }
        if s.freeze.remove(&worker).is_some() {
            s.armed.insert(lock);
        }
    }

    /// Whether `worker` is to freeze at its safepoint.
    pub(crate) fn frozen(&self, worker: u32) -> bool {
        self.state().freeze.contains_key(&worker)
    }

    /// Wait at the safepoint until `worker` is resumed or the workload stops.
    pub(crate) async fn thawed(&self, worker: u32, stop: &CancellationToken) {
        let deadline = Instant::now() + MAX_FREEZE;
        // Bounded by the deadline and the stop.
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if !self.frozen(worker) {
                return;
            }
            tokio::select! {
                _ = changed => {}
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep_until(deadline.into()) => return,
            }
        }
    }

    /// Freeze the worker holding `lock` now — or, when nobody does, the next
    /// one granted it — at its safepoint. Returns the worker frozen, when one
    /// holds the lock now.
    pub fn pause_holder(&self, lock: u32) -> Result<Option<String>, String> {
        if lock >= self.inner.locks {
            return Err(format!(
                "no lock {lock}: the lock workload has {} (0..{})",
                self.inner.locks,
                self.inner.locks - 1
            ));
        }
        let mut s = self.state();
        match s.holders.get(&lock).copied() {
            Some(w) => {
                s.freeze.insert(w, lock);
                Ok(Some(worker_name(w)))
            }
            None => {
                s.armed.insert(lock);
                Ok(None)
            }
        }
    }

    /// Let every worker frozen on `lock` go on, and disarm the lock.
    /// Returns the workers that were frozen.
    pub fn resume_holder(&self, lock: u32) -> Vec<String> {
        let mut s = self.state();
        s.armed.remove(&lock);
        let workers: Vec<u32> = s
            .freeze
            .iter()
            .filter(|&(_, &l)| l == lock)
            .map(|(&w, _)| w)
            .collect();
        for w in &workers {
            s.freeze.remove(w);
        }
        drop(s);
        self.inner.changed.notify_waiters();
        workers.into_iter().map(worker_name).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_finds_the_holder_or_waits_for_the_next() {
        let c = LockControl::new(2);
        assert!(c.pause_holder(2).unwrap_err().contains("no lock 2"));
        c.granted(3, 0);
        assert_eq!(c.pause_holder(0), Ok(Some("w3".into())));
        assert!(c.frozen(3));
        assert_eq!(c.resume_holder(0), ["w3"]);
        assert!(!c.frozen(3));
        // Nobody holds lock 1: its next holder freezes.
        assert_eq!(c.pause_holder(1), Ok(None));
        c.granted(5, 1);
        assert!(c.frozen(5));
        // It skipped its write: the order passes on.
        c.releasing(5, 1);
        assert!(!c.frozen(5));
        c.granted(6, 1);
        assert!(c.frozen(6));
        assert_eq!(c.resume_holder(1), ["w6"]);
        c.releasing(6, 1);
        c.granted(7, 1);
        assert!(!c.frozen(7), "a resumed pause is over");
    }

    #[tokio::test]
    async fn a_frozen_worker_waits_until_resumed_or_stopped() {
        let c = LockControl::new(1);
        let stop = CancellationToken::new();
        c.granted(0, 0);
        c.pause_holder(0).unwrap();
        let (c2, stop2) = (c.clone(), stop.clone());
        let frozen = tokio::spawn(async move { c2.thawed(0, &stop2).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!frozen.is_finished());
        c.resume_holder(0);
        tokio::time::timeout(Duration::from_secs(5), frozen)
            .await
            .expect("resumed")
            .unwrap();
        c.pause_holder(0).unwrap();
        let (c2, stop2) = (c.clone(), stop.clone());
        let frozen = tokio::spawn(async move { c2.thawed(0, &stop2).await });
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), frozen)
            .await
            .expect("stopped")
            .unwrap();
    }
}
