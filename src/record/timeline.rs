//! The run's clock and timeline: phases and events, on one monotonic clock.
//! Histories and timelines are stored as nanoseconds since the run's epoch, so
//! checkers can be re-run offline on the files.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A monotonic clock whose zero is the start of the run.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: Instant,
    /// The epoch on CLOCK_MONOTONIC, ns: other tools on the same machine
    /// (`time.monotonic_ns()` in Python, `clock_gettime`) can place their
    /// own timestamps on the run's timeline.
    epoch_monotonic_ns: u64,
}

impl Clock {
    /// Time zero of the run: every recording counts from it.
    pub fn start() -> Clock {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes a timespec we own.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let epoch = Instant::now();
        Clock {
            epoch,
            epoch_monotonic_ns: ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64,
        }
    }

    /// The run's time 0 on CLOCK_MONOTONIC, ns.
    pub fn epoch_monotonic_ns(&self) -> u64 {
        self.epoch_monotonic_ns
    }

    /// Nanoseconds since the epoch.
    pub fn now_ns(&self) -> u64 {
        self.ns(Instant::now())
    }

    /// An instant as nanoseconds since the epoch (0 for instants before it).
    pub fn ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// The instant `ns` nanoseconds after the epoch.
    pub fn instant(&self, ns: u64) -> Instant {
        self.epoch + Duration::from_nanos(ns)
    }
}

/// A named stretch of the run (baseline, during, after, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// Something that happened at a point in the run (a fault, a reshard step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at_ns: u64,
    /// One word from the shared vocabulary: `reshard`, `kill`, `heal`, ...
    /// with a suffix for start/end where it has a duration (`reshard-start`).
    pub kind: String,
    pub detail: String,
}

/// The phase `t` falls in. Phases tile the run: each runs from its start
/// to the next one's (the few milliseconds a drill spends between closing
/// one and opening the next belong to the one before), the last one on to
/// the end of the run. `None` before the first phase: a stored run has
/// nothing there (its reader refuses it).
pub fn phase_at(phases: &[Phase], t: u64) -> Option<&Phase> {
    let i = phases.partition_point(|p| p.start_ns <= t);
    i.checked_sub(1).map(|i| &phases[i])
}

/// Nanoseconds on the run's clock as milliseconds, the unit reports use.
pub fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_tile_the_run() {
        let p = |name: &str, start_ns, end_ns| Phase {
            name: name.into(),
            start_ns,
            end_ns,
        };
        let phases = [
            p("baseline", 0, 100),
            p("during", 104, 200),
            p("after", 200, 300),
        ];
        let at = |t| phase_at(&phases, t).map(|p| p.name.as_str());
        assert_eq!(at(0), Some("baseline"));
        // The gap between two phases belongs to the one before.
        assert_eq!(at(102), Some("baseline"));
        assert_eq!(at(104), Some("during"));
        assert_eq!(at(200), Some("after"));
        // Past the last phase's end: still the last phase.
        assert_eq!(at(350), Some("after"));
        assert_eq!(phase_at(&phases[1..], 50), None);
        assert_eq!(phase_at(&[], 50), None);
    }
}
