//! The open loop's connections of one kind (app or probe), and which one an
//! op goes out on.
//!
//! An op takes an idle connection when there is one, as it would from an
//! application's pool, so that nothing it does (a WAIT that blocks its
//! connection, a slow reply) delays another op. When every connection is
//! busy the op does not wait: it goes out on the least busy one, pipelined
//! behind what is there (the connections are multiplexed), and the pool is
//! asked to grow by one, up to its maximum, so the next burst finds an idle
//! connection. Opening a connection never delays an op.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// One connection and how many ops it carries now.
pub(crate) struct Lane<C> {
    pub conn: C,
    in_flight: AtomicUsize,
}

/// An op's hold on a lane; the lane is one op lighter when it is dropped.
pub(crate) struct Taken<C> {
    lane: Arc<Lane<C>>,
}

impl<C> Taken<C> {
    /// The connection this op goes out on.
    pub fn conn(&self) -> &C {
        &self.lane.conn
    }
}

impl<C> Drop for Taken<C> {
    fn drop(&mut self) {
        self.lane.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The connections of one kind.
pub(crate) struct Lanes<C> {
    lanes: RwLock<Vec<Arc<Lane<C>>>>,
    max: usize,
    /// One connection is being opened: don't ask for another yet.
    growing: AtomicBool,
    /// Where the search for an idle lane starts, so that work spreads.
    next: AtomicUsize,
}

impl<C> Lanes<C> {
    /// A pool holding `initial` connections, allowed to grow to `max`.
    pub fn new(initial: Vec<C>, max: usize) -> Lanes<C> {
        Lanes {
            lanes: RwLock::new(
                initial
                    .into_iter()
                    .map(|conn| {
                        Arc::new(Lane {
                            conn,
                            in_flight: AtomicUsize::new(0),
                        })
                    })
                    .collect(),
            ),
            max,
            growing: AtomicBool::new(false),
            next: AtomicUsize::new(0),
        }
    }

    /// A lane for one op, and whether the caller should open one more
    /// connection and [`add`](Lanes::add) it (then, and only then, it must
    /// call `add` or [`grown`](Lanes::grown)). `None` when the pool is empty.
    pub fn take(&self) -> Option<(Taken<C>, bool)> {
        let lanes = self.lanes.read().unwrap_or_else(|p| p.into_inner());
        let n = lanes.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            let lane = &lanes[(start + i) % n];
            if lane
                .in_flight
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Some((Taken { lane: lane.clone() }, false));
            }
        }
        // All busy: the least busy one, and ask for another.
        let lane = lanes
            .iter()
            .min_by_key(|l| l.in_flight.load(Ordering::Relaxed))
            .expect("the pool is not empty");
        lane.in_flight.fetch_add(1, Ordering::AcqRel);
        let grow = n < self.max
            && self
                .growing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok();
        Some((Taken { lane: lane.clone() }, grow))
    }

    /// A newly opened connection joins the pool.
    pub fn add(&self, conn: C) {
        self.lanes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(Lane {
                conn,
                in_flight: AtomicUsize::new(0),
            }));
        self.growing.store(false, Ordering::Release);
    }

    /// Opening the connection asked for failed: the next busy moment may ask again.
    pub fn grown(&self) {
        self.growing.store(false, Ordering::Release);
    }

    /// Connections opened so far.
    pub fn len(&self) -> usize {
        self.lanes.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl<C: Send + Sync + 'static> Lanes<C> {
    /// [`take`](Lanes::take), and when the pool asks to grow, open one more
    /// connection with `open` in the background (on the current runtime)
    /// and add it; the op does not wait for it.
    pub fn take_or_grow<F, E>(self: &Arc<Self>, open: impl FnOnce() -> F) -> Option<Taken<C>>
    where
        F: std::future::Future<Output = Result<C, E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let (taken, grow) = self.take()?;
        if grow {
            let lanes = self.clone();
            let opening = open();
            tokio::spawn(async move {
                match opening.await {
                    Ok(c) => lanes.add(c),
                    Err(e) => {
                        tracing::debug!("opening one more connection: {e}");
                        lanes.grown();
                    }
                }
            });
        }
        Some(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(taken: &[(Taken<u32>, bool)]) -> Vec<u32> {
        taken.iter().map(|(t, _)| *t.conn()).collect()
    }

    #[test]
    fn idle_lanes_first_then_the_least_busy_and_one_growth_at_a_time() {
        let pool = Lanes::new(vec![0u32, 1, 2], 4);
        // Three ops take the three idle lanes, one each, asking for nothing.
        let mut held: Vec<(Taken<u32>, bool)> = (0..3).map(|_| pool.take().unwrap()).collect();
        let mut got = ids(&held);
        got.sort();
        assert_eq!(got, vec![0, 1, 2]);
        assert!(held.iter().all(|(_, grow)| !grow));
        // A fourth shares a busy lane and asks for one more connection; a
        // fifth does not ask again while that one is being opened.
        let (_, grow) = pool.take().unwrap();
        assert!(grow);
        let (_, grow) = pool.take().unwrap();
        assert!(!grow);
        pool.add(3);
        assert_eq!(pool.len(), 4);
        // The new lane is idle: the next op gets it.
        let (t, grow) = pool.take().unwrap();
        assert_eq!((*t.conn(), grow), (3, false));
        // At the maximum, nobody asks to grow.
        held.push((t, false));
        let (_, grow) = pool.take().unwrap();
        assert!(!grow);
        // A lane freed by a finished op is idle again.
        let freed = held.remove(0);
        let id = *freed.0.conn();
        drop(freed);
        let (t, _) = pool.take().unwrap();
        assert_eq!(*t.conn(), id);
    }

    #[test]
    fn the_least_busy_lane_takes_the_overflow() {
        let pool = Lanes::new(vec![0u32, 1], 2);
        let a = pool.take().unwrap();
        let b = pool.take().unwrap();
        let (busy, other) = if *a.0.conn() == 0 { (a, b) } else { (b, a) };
        // Lane 0 gets a second op; then lane 1 is the least busy.
        drop(other);
        let c = pool.take().unwrap();
        assert_eq!(*c.0.conn(), 1);
        let d = pool.take().unwrap();
        let e = pool.take().unwrap();
        // 0 and 1 both carry 1, then one carries 2: the next goes to the other.
        let mut load = [0, 0];
        for t in [&busy, &c, &d, &e] {
            load[*t.0.conn() as usize] += 1;
        }
        assert_eq!(load.iter().sum::<i32>(), 4);
        assert!((load[0] - load[1]).abs() <= 1, "{load:?}");
        assert!(Lanes::<u32>::new(vec![], 4).take().is_none());
        // A failed growth can be asked for again.
        let pool = Lanes::new(vec![0u32], 2);
        let _x = pool.take().unwrap();
        assert!(pool.take().unwrap().1);
        pool.grown();
        assert!(pool.take().unwrap().1);
    }
}
