//! The open loop's schedule and the dispatcher that keeps it, on any clock.
//!
//! Op `j` of a run (counted over all clients) is due at `t0 + j / rate`: a
//! constant arrival rate, the model of wrk2 and of k6's
//! `constant-arrival-rate`. It belongs to stream `j mod n` (the streams are
//! the clients; each draws its keys and values from its own seeded
//! generator), so the split between app and probe clients, and every key and
//! value, are the same whatever the machine did. The workload's event loops
//! share the streams out, and each keeps the schedule of its own.
//!
//! The dispatcher hands each op over at its due time and never skips one: a
//! dispatcher that wakes late hands over every op that fell due meanwhile,
//! each with its own due time, so the delay shows up as the tool's lag
//! instead of vanishing from the record (coordinated omission). Handing over
//! never waits for an earlier op to finish: ops run concurrently.
//!
//! Pure: [`Dispatcher`] is a state machine fed the time, so it is tested on a
//! virtual clock; an event loop drives it with a precise timer.

/// When each op is due, and whose it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Schedule {
    interval_ns: f64,
    streams: u32,
    /// The streams the workload's own event loops run (`0..own`); the
    /// rest are the adapters' (see [`super::adapted`]).
    own: u32,
}

impl Schedule {
    /// `rate` ops/s over `streams` streams (both > 0; the spec is validated).
    pub fn new(rate: f64, streams: u32) -> Schedule {
        Schedule {
            interval_ns: 1e9 / rate,
            streams: streams.max(1),
            own: streams.max(1),
        }
    }

    /// [`Schedule::new`], of which the event loops run only streams
    /// `0..own` (at least 1, at most `streams`).
    pub fn with_own(rate: f64, streams: u32, own: u32) -> Schedule {
        let s = Schedule::new(rate, streams);
        Schedule {
            own: own.clamp(1, s.streams),
            ..s
        }
    }

    /// When op `j` is due, ns after the schedule's start. Computed from `j`
    /// each time, so rounding never accumulates over a long run.
    pub fn due_ns(&self, j: u64) -> u64 {
        (j as f64 * self.interval_ns) as u64
    }

    /// How many streams share the schedule.
    pub fn streams(&self) -> u32 {
        self.streams
    }

    /// The stream op `j` belongs to.
    pub fn stream(&self, j: u64) -> u32 {
        (j % u64::from(self.streams)) as u32
    }
}

/// An op handed over by the dispatcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Due {
    /// Its place in the schedule (over all streams).
    pub seq: u64,
    pub stream: u32,
    /// When it was due, ns after the schedule's start.
    pub due_ns: u64,
}

/// One event loop's share of a schedule: the ops of the streams `s` with
/// `s mod loops == index`, handed over when they fall due.
#[derive(Debug, Clone)]
pub(crate) struct Dispatcher {
    schedule: Schedule,
    loops: u32,
    index: u32,
    /// The next op of the schedule to consider.
    next: u64,
    /// No op due at or after this is handed over.
    end_ns: u64,
    /// How many this dispatcher may hand over at most.
    left: u64,
    /// The latest an op was handed over after its due time (ns).
    pub max_late_ns: u64,
    /// Ops handed over.
    pub handed: u64,
    /// When it was told to stop.
    pub stopped_ns: Option<u64>,
}

impl Dispatcher {
    /// The share of loop `index` of `loops`, ending before `end_ns` or after
    /// `max_ops`, whichever comes first.
    pub fn new(schedule: Schedule, loops: u32, index: u32, end_ns: u64, max_ops: u64) -> Self {
        let mut d = Dispatcher {
            schedule,
            loops: loops.max(1),
            index,
            next: 0,
            end_ns,
            left: max_ops,
            max_late_ns: 0,
            handed: 0,
            stopped_ns: None,
        };
        d.skip_to_own();
        d
    }

    fn own(&self, j: u64) -> bool {
        let s = self.schedule.stream(j);
        s < self.schedule.own && s % self.loops == self.index
    }

    fn skip_to_own(&mut self) {
        // Bounded: a loop (index < loops ≤ own streams) owns one stream in
        // every `streams` consecutive ops.
        while !self.own(self.next) {
            self.next += 1;
        }
    }

    /// When this loop's next op is due (ns after the start), or `None` when
    /// its share is over.
    pub fn next_due_ns(&self) -> Option<u64> {
        let due = self.schedule.due_ns(self.next);
        let limit = self.stopped_ns.unwrap_or(self.end_ns).min(self.end_ns);
        (self.left > 0 && due < limit).then_some(due)
    }

    /// Every op of this loop due by `now_ns`, in schedule order; after a
    /// stop, only those due before the stop.
    pub fn take_due(&mut self, now_ns: u64) -> Vec<Due> {
        let mut out = Vec::new();
        while let Some(due_ns) = self.next_due_ns() {
            if due_ns > now_ns {
                break;
            }
            out.push(Due {
                seq: self.next,
                stream: self.schedule.stream(self.next),
                due_ns,
            });
            self.max_late_ns = self.max_late_ns.max(now_ns - due_ns);
            self.handed += 1;
            self.left -= 1;
            self.next += 1;
            self.skip_to_own();
        }
        out
    }

    /// Told to stop at `now_ns`: what fell due before it still goes (take it
    /// with [`take_due`](Dispatcher::take_due)); nothing after.
    pub fn stop(&mut self, now_ns: u64) {
        self.stopped_ns.get_or_insert(now_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drive `d` on a virtual clock: each sleep to the next due time wakes
    /// `late[i]` ns after it (the last value repeats); a stop comes at `stop`.
    fn drive(d: &mut Dispatcher, late: &[u64], stop: Option<u64>) -> (Vec<Due>, u32) {
        let mut now = 0;
        let mut wakes = 0usize;
        let mut got = Vec::new();
        // Bounded by the dispatcher's own share.
        while let Some(next) = d.next_due_ns() {
            if now < next {
                let wake = next + late.get(wakes).or(late.last()).copied().unwrap_or(0);
                wakes += 1;
                match stop {
                    Some(s) if s <= wake => {
                        now = now.max(s);
                        d.stop(now);
                    }
                    _ => now = wake,
                }
            }
            got.extend(d.take_due(now));
        }
        (got, wakes as u32)
    }

    #[test]
    fn due_times_and_streams_follow_the_rate() {
        // 4000 ops/s over 9 streams: one op every 250 µs, round robin.
        let s = Schedule::new(4000.0, 9);
        assert_eq!(s.due_ns(0), 0);
        assert_eq!(s.due_ns(1), 250_000);
        assert_eq!(s.due_ns(4000), 1_000_000_000);
        assert_eq!(
            (s.stream(0), s.stream(8), s.stream(9), s.stream(10)),
            (0, 8, 0, 1)
        );
        // No drift after a long run: op 3.6 M is due exactly at 900 s.
        assert_eq!(s.due_ns(3_600_000), 900_000_000_000);
        // A rate that does not divide a second.
        let s = Schedule::new(3.0, 1);
        assert_eq!(s.due_ns(3), 1_000_000_000);
        assert_eq!(s.due_ns(1), 333_333_333);
    }

    #[test]
    fn on_time_wake_ups_hand_each_op_over_at_its_due_time() {
        let mut d = Dispatcher::new(Schedule::new(1000.0, 4), 1, 0, u64::MAX, 10);
        let (got, _) = drive(&mut d, &[0], None);
        assert_eq!(d.handed, 10);
        assert_eq!(d.max_late_ns, 0);
        assert_eq!(
            got.iter().map(|g| g.due_ns).collect::<Vec<_>>(),
            (0..10).map(|i| i * 1_000_000).collect::<Vec<_>>()
        );
        assert_eq!((got[5].stream, got[5].seq), (1, 5));
    }

    #[test]
    fn a_late_wake_up_hands_over_every_op_it_missed_with_its_own_due_time() {
        // 1000 ops/s; the wake-up for op 1 comes 3.5 ms late: ops 1..=4 are
        // all due by then, handed over at once, none skipped, none re-timed.
        let mut d = Dispatcher::new(Schedule::new(1000.0, 1), 1, 0, u64::MAX, 8);
        let (got, wakes) = drive(&mut d, &[3_500_000, 0], None);
        assert_eq!(d.handed, 8);
        assert_eq!(d.max_late_ns, 3_500_000);
        assert_eq!(
            got.iter().map(|g| g.due_ns).collect::<Vec<_>>(),
            (0..8).map(|i| i * 1_000_000).collect::<Vec<_>>()
        );
        // One sleep for op 1, none for 2, 3, 4 (already due), one each for 5, 6, 7.
        assert_eq!(wakes, 4);
    }

    #[test]
    fn a_stop_hands_over_what_fell_due_before_it_and_nothing_after() {
        let s = Schedule::new(1000.0, 2);
        // Stop at 4.5 ms: ops due at 0..=4 ms go, op 5 (5 ms) does not.
        let mut d = Dispatcher::new(s, 1, 0, u64::MAX, 100);
        let (got, _) = drive(&mut d, &[0], Some(4_500_000));
        assert_eq!(d.stopped_ns, Some(4_500_000));
        assert_eq!(got.len(), 5);
        assert_eq!(got.last().unwrap().due_ns, 4_000_000);

        // A dispatcher that is behind when the stop comes still hands over the
        // ops due before the stop, and stops there.
        let mut d = Dispatcher::new(s, 1, 0, u64::MAX, 100);
        let (got, _) = drive(&mut d, &[10_000_000], Some(6_000_000));
        assert_eq!(d.stopped_ns, Some(6_000_000));
        assert_eq!(got.len(), 6);
        assert!(got.iter().all(|g| g.due_ns < 6_000_000));
    }

    #[test]
    fn loops_share_the_streams_and_together_keep_the_whole_schedule() {
        // 9 streams over 2 loops: loop 0 has streams 0, 2, 4, 6, 8; loop 1 the rest.
        let s = Schedule::new(9000.0, 9);
        let mut all: Vec<Due> = Vec::new();
        for index in 0..2 {
            let mut d = Dispatcher::new(s, 2, index, 10_000_000, u64::MAX);
            let (got, _) = drive(&mut d, &[0], None);
            assert!(got.iter().all(|g| g.stream % 2 == index));
            all.extend(got);
        }
        all.sort_by_key(|g| g.seq);
        // Every op due before 10 ms, exactly once, at its own due time.
        assert_eq!(all.len(), 90);
        assert!(
            all.iter()
                .enumerate()
                .all(|(i, g)| g.seq == i as u64 && g.due_ns == s.due_ns(i as u64))
        );
    }

    #[test]
    fn max_ops_and_the_end_bound_the_run() {
        let mut d = Dispatcher::new(Schedule::new(1e6, 3), 1, 0, u64::MAX, 1000);
        let (got, _) = drive(&mut d, &[0], None);
        assert_eq!((got.len(), d.stopped_ns), (1000, None));
        let mut d = Dispatcher::new(Schedule::new(1000.0, 3), 1, 0, 5_000_000, u64::MAX);
        let (got, _) = drive(&mut d, &[0], None);
        assert_eq!(got.len(), 5);
        assert_eq!(d.next_due_ns(), None);
    }
}
