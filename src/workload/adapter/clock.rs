//! The offset of a worker's clock from the run's, estimated as NTP does.
//!
//! An exchange: the tool notes the run's time `t1`, sends a clock line; the
//! worker answers with its clock's reading `w`; the tool notes `t4` when the
//! answer is read. The worker read its clock somewhere in `[t1, t4]`, so
//! its offset (`worker − run`) is `w − (t1 + t4) / 2`, wrong by at most half
//! the round trip — whatever the network and the worker did, without any
//! assumption but that both clocks tick at the rate of real time during it.
//! Of several exchanges the one with the shortest round trip is kept.
//!
//! Two estimates bracket a run, one before its first op and one after its
//! last result: times between are mapped by the offset interpolated between
//! them, and the uncertainty is the larger half round trip plus the whole
//! change of offset between the two (the clocks' drift over the run, taken
//! as error, not corrected away). Pure.

use serde::{Deserialize, Serialize};

/// Exchanges per estimate.
pub const EXCHANGES: u32 = 8;

/// One exchange: the run's times around the worker's reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    pub t1_ns: u64,
    pub worker_ns: u64,
    pub t4_ns: u64,
}

/// The worker's offset from the run's clock at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estimate {
    /// The run's time of the exchange (its midpoint).
    pub at_ns: u64,
    /// Worker's clock minus the run's, ns.
    pub offset_ns: i64,
    /// The exchange's round trip: the offset is right within half of it.
    pub round_trip_ns: u64,
}

impl Estimate {
    /// The best estimate of `exchanges`: the shortest round trip's.
    pub fn best(exchanges: &[Exchange]) -> Option<Estimate> {
        exchanges
            .iter()
            .filter(|x| x.t4_ns >= x.t1_ns)
            .min_by_key(|x| x.t4_ns - x.t1_ns)
            .map(|x| {
                let mid = x.t1_ns + (x.t4_ns - x.t1_ns) / 2;
                Estimate {
                    at_ns: mid,
                    offset_ns: x.worker_ns as i64 - mid as i64,
                    round_trip_ns: x.t4_ns - x.t1_ns,
                }
            })
    }
}

/// A worker's clock against the run's, over a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockSync {
    pub start: Estimate,
    /// After the last result; `None` when the end exchange failed.
    pub end: Option<Estimate>,
}

impl ClockSync {
    /// The offset at run time `t_ns`, interpolated between the estimates.
    pub fn offset_at(&self, t_ns: u64) -> i64 {
        let Some(end) = self.end else {
            return self.start.offset_ns;
        };
        if end.at_ns <= self.start.at_ns {
            return self.start.offset_ns;
        }
        let f = (t_ns.clamp(self.start.at_ns, end.at_ns) - self.start.at_ns) as f64
            / (end.at_ns - self.start.at_ns) as f64;
        self.start.offset_ns + ((end.offset_ns - self.start.offset_ns) as f64 * f).round() as i64
    }

    /// Run time `t_ns` on the worker's clock.
    pub fn to_worker(&self, t_ns: u64) -> u64 {
        t_ns.saturating_add_signed(self.offset_at(t_ns))
    }

    /// The worker's time `w_ns` on the run's clock.
    pub fn to_run(&self, w_ns: u64) -> u64 {
        // The offset changes by ns over seconds: one step is exact enough.
        let guess = w_ns.saturating_add_signed(-self.start.offset_ns);
        w_ns.saturating_add_signed(-self.offset_at(guess))
    }

    /// How far a mapped time may be from the truth: the larger half round
    /// trip plus the offset's whole change over the run. `None` without an
    /// end estimate (the drift is not known).
    pub fn uncertainty_ns(&self) -> Option<u64> {
        let end = self.end?;
        let half = self.start.round_trip_ns.max(end.round_trip_ns).div_ceil(2);
        Some(half + end.offset_ns.abs_diff(self.start.offset_ns))
    }

    /// The largest error of the two estimates against a known true offset
    /// (the lab's engines share one clock): ns.
    pub fn error_against(&self, truth_ns: i64) -> u64 {
        let s = self.start.offset_ns.abs_diff(truth_ns);
        self.end
            .map_or(s, |e| s.max(e.offset_ns.abs_diff(truth_ns)))
    }
}

/// What a report says of a worker's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerClock {
    /// Where the worker ran (`lab-2`, the engine).
    pub host: String,
    pub sync: ClockSync,
    /// `None`: not known (the end exchange failed).
    pub uncertainty_ns: Option<u64>,
    /// The true offset where it is known (engines sharing this machine's
    /// clock), and the estimate's error against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth_ns: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_ns: Option<u64>,
}

impl WorkerClock {
    pub fn new(host: String, sync: ClockSync, truth_ns: Option<i64>) -> WorkerClock {
        WorkerClock {
            host,
            sync,
            uncertainty_ns: sync.uncertainty_ns(),
            truth_ns,
            error_ns: truth_ns.map(|t| sync.error_against(t)),
        }
    }

    /// Why the estimate cannot be trusted, if it cannot: no end estimate,
    /// or (where the truth is known) an error larger than its own bound.
    pub fn problem(&self) -> Option<String> {
        let Some(u) = self.uncertainty_ns else {
            return Some(format!(
                "the clock of the worker on {} was not estimated after its last op: its drift is not known",
                self.host
            ));
        };
        match self.error_ns {
            Some(e) if e > u => Some(format!(
                "the clock of the worker on {} was estimated {e} ns from the truth, more than its uncertainty ({u} ns): the estimate is wrong",
                self.host
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(t1: u64, w: u64, t4: u64) -> Exchange {
        Exchange {
            t1_ns: t1,
            worker_ns: w,
            t4_ns: t4,
        }
    }

    #[test]
    fn the_shortest_round_trip_is_kept_and_bounds_the_error() {
        // Worker clock = run + 5000; exchanges with asymmetric delays.
        let xs = [
            x(100, 5_190, 300),
            x(1_000, 6_010, 1_040),
            x(2_000, 7_400, 2_500),
        ];
        let e = Estimate::best(&xs).unwrap();
        assert_eq!(e.round_trip_ns, 40);
        assert_eq!(e.at_ns, 1_020);
        assert_eq!(e.offset_ns, 4_990);
        assert!(e.offset_ns.abs_diff(5_000) <= e.round_trip_ns / 2);
        assert_eq!(Estimate::best(&[]), None);
    }

    #[test]
    fn times_map_both_ways_with_the_drift_counted_as_error() {
        let s = ClockSync {
            start: Estimate {
                at_ns: 0,
                offset_ns: 1_000_000,
                round_trip_ns: 200,
            },
            end: Some(Estimate {
                at_ns: 10_000_000_000,
                offset_ns: 1_000_400,
                round_trip_ns: 600,
            }),
        };
        assert_eq!(s.offset_at(5_000_000_000), 1_000_200);
        let t = 5_000_000_000;
        assert_eq!(s.to_worker(t), t + 1_000_200);
        assert_eq!(s.to_run(s.to_worker(t)), t);
        assert_eq!(s.uncertainty_ns(), Some(300 + 400));
        assert_eq!(s.error_against(1_000_000), 400);
        let c = WorkerClock::new("lab-2".into(), s, Some(1_000_000));
        assert_eq!(c.problem(), None);
        // An estimate further from the truth than its bound is refused.
        let c = WorkerClock::new("lab-2".into(), s, Some(2_000_000));
        assert!(c.problem().unwrap().contains("the estimate is wrong"));
        // Without the end estimate the drift, so the uncertainty, is unknown.
        let c = WorkerClock::new("lab-2".into(), ClockSync { end: None, ..s }, None);
        assert!(c.problem().unwrap().contains("drift is not known"));
    }
}
