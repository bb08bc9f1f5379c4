//! What the lock workload does, as plain data: the `locks:` section of a
//! scenario file. Every random choice (which lock, how long to hold it, the
//! retry jitter, the tokens) comes from the run's seed.
//!
//! ```yaml
//! locks:
//!   algorithm: single          # single: one instance; redlock: every instance, a quorum of N/2+1
//!   workers: 4                 # W clients contending
//!   locks: 1                   # L locks; each acquisition picks one at random
//!   ttl_ms: 500                # the key's PX
//!   hold: {distribution: uniform, min_ms: 10, max_ms: 50}   # or exponential with mean_ms
//!   think_ms: 5                # between a release and the next acquisition
//!   retry_ms: 10               # a denied attempt retries after retry_ms/2 .. 3·retry_ms/2
//!   acquire_timeout_ms: 2000   # an acquisition gives up after this long
//!   instance_timeout_ms: 50    # each instance's connect and reply bound
//!   extend: false              # extend a hold that outlasts the validity (compare-and-PEXPIRE)
//!   check_validity: true       # skip the write when the validity ran out during the hold
//!   resources: [fenced, unfenced]   # the protected resources the critical section writes
//!   wait: {replicas: 1, timeout_ms: 100}   # WAIT after each grant; an instance counts only when it reports that many
//!   counter: false             # the critical section increments a Redis counter per lock: GET, hold, SET n+1
//!   atomic_workers: 0          # beside them, this many workers INCR counters of their own (the atomic path)
//! ```

pub use crate::record::locks::{Algorithm, ResourceKind};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::workload::spec::WaitSpec;

/// More workers than this is a typo on the machines drills run on: each has
/// a connection to every instance.
pub const MAX_WORKERS: u32 = 256;

/// More locks than this is a typo: a drill shows contention on a few locks.
pub const MAX_LOCKS: u32 = 10_000;

/// A day: a lock held longer is a typo, and keeps every bound finite.
pub const MAX_MS: u64 = 86_400_000;

/// The clock drift Redlock allows for: `ttl × DRIFT_FACTOR + DRIFT_FLOOR`.
/// 1 % is the factor of the Redlock specification and its reference
/// implementations; the 2 ms cover the granularity of the servers' expiry.
pub const DRIFT_FACTOR: f64 = 0.01;
/// The drift's fixed part (see [`DRIFT_FACTOR`]).
pub const DRIFT_FLOOR: Duration = Duration::from_millis(2);

/// The `locks:` section of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockSpec {
    pub algorithm: Algorithm,
    /// Clients contending for the locks, each on its own connections.
    pub workers: u32,
    /// Locks; each acquisition picks one, uniformly.
    pub locks: u32,
    /// The lock key's time to live (`PX`).
    pub ttl_ms: u64,
    /// How long a holder keeps the lock before it writes and releases.
    pub hold: HoldSpec,
    /// A worker's pause between a release and its next acquisition: without
    /// it the releaser wins the lock back before anyone else can retry.
    pub think_ms: u64,
    /// The mean delay before a denied attempt is retried; each delay is drawn
    /// uniformly from `retry_ms/2 .. 3·retry_ms/2` so that contenders spread.
    pub retry_ms: u64,
    /// An acquisition that has not succeeded after this long is a timeout.
    pub acquire_timeout_ms: u64,
    /// Each instance's bound for connecting and for one reply. Absent: a
    /// tenth of the TTL, at most 50 ms, at least 5 ms — small against the
    /// TTL, as the Redlock specification asks, so that one dead instance
    /// does not eat the validity.
    pub instance_timeout_ms: Option<u64>,
    /// Extend a hold that would outlast the validity (compare-and-PEXPIRE on
    /// every instance, a quorum needed), instead of letting it expire.
    pub extend: bool,
    /// Before writing, the holder checks that its validity has not run out
    /// (and skips the write if it has). A pause can still come between the
    /// check and the write — that is what fencing is for.
    pub check_validity: bool,
    /// The protected resources the critical section writes, once each.
    pub resources: Vec<ResourceKind>,
    /// `WAIT replicas timeout_ms` after the grant on each instance that
    /// granted; an instance counts towards the quorum only when WAIT reports
    /// that many replicas. For primaries with replicas, where a failover can
    /// lose an unreplicated lock.
    pub wait: Option<WaitSpec>,
    /// The regions the workers live in, taken in turn (worker w in
    /// `regions[w mod n]`): their connections to an instance in another
    /// region cross the link between the two. Empty: in no region.
    pub regions: Vec<String>,
    /// The critical section increments a counter kept in Redis, one per
    /// lock, beside the lock's keys: `GET` when the lock is granted, the
    /// hold (the computation), then `SET` of the value read plus one — the
    /// lock-protected read-modify-write. A holder that loses its lock
    /// between the two writes over increments made meanwhile.
    pub counter: bool,
    /// Workers that `INCR` a second counter per lock, without any lock, at
    /// the same pace (`think_ms` between increments): the atomic path the
    /// locked one is compared with, on the same instance at the same time.
    pub atomic_workers: u32,
}

impl Default for LockSpec {
    fn default() -> Self {
        LockSpec {
            algorithm: Algorithm::Single,
            workers: 4,
            locks: 1,
            ttl_ms: 500,
            hold: HoldSpec::default(),
            think_ms: 5,
            retry_ms: 10,
            acquire_timeout_ms: 2000,
            instance_timeout_ms: None,
            extend: false,
            check_validity: true,
            resources: vec![ResourceKind::Fenced, ResourceKind::Unfenced],
            wait: None,
            regions: Vec::new(),
            counter: false,
            atomic_workers: 0,
        }
    }
}

/// The distribution hold times are drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HoldSpec {
    pub distribution: HoldDistribution,
    pub min_ms: u64,
    pub max_ms: u64,
    /// Exponential: the mean (`min_ms` + an exponential draw, capped at `max_ms`).
    pub mean_ms: Option<u64>,
}

impl Default for HoldSpec {
    fn default() -> Self {
        HoldSpec {
            distribution: HoldDistribution::Uniform,
            min_ms: 10,
            max_ms: 50,
            mean_ms: None,
        }
    }
}

/// How long a holder keeps its lock: fixed, uniform or with a long tail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldDistribution {
    /// Uniform over `min_ms..=max_ms` (equal bounds: a fixed hold).
    #[default]
    Uniform,
    /// `min_ms` plus an exponential draw of mean `mean_ms − min_ms`, capped
    /// at `max_ms`: mostly short holds, now and then a long one.
    Exponential,
}

impl HoldSpec {
    /// One hold time.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        let ms = match self.distribution {
            HoldDistribution::Uniform => rng.random_range(self.min_ms..=self.max_ms) as f64,
            HoldDistribution::Exponential => {
                let mean = self
                    .mean_ms
                    .unwrap_or(self.min_ms)
                    .saturating_sub(self.min_ms);
                let u: f64 = rng.random();
                // Inverse transform: -mean·ln(1-u), u in [0, 1).
                let extra = -(mean as f64) * (1.0 - u).ln();
                (self.min_ms as f64 + extra).min(self.max_ms as f64)
            }
        };
        Duration::from_secs_f64(ms / 1000.0)
    }
}

/// A validation error: the field (under `locks`) and the message.
pub type Invalid = (&'static str, String);

impl LockSpec {
    /// Check the section on its own (the instances are checked when the
    /// workload starts).
    pub fn validate(&self) -> Result<(), Invalid> {
        let range = |field: &'static str, v: u64, min: u64, max: u64| {
            if v < min || v > max {
                Err((field, format!("must be between {min} and {max}, not {v}")))
            } else {
                Ok(())
            }
        };
        range(
            "workers",
            u64::from(self.workers),
            1,
            u64::from(MAX_WORKERS),
        )?;
        range("locks", u64::from(self.locks), 1, u64::from(MAX_LOCKS))?;
        range("ttl_ms", self.ttl_ms, 10, MAX_MS)?;
        range("think_ms", self.think_ms, 0, MAX_MS)?;
        range("retry_ms", self.retry_ms, 1, MAX_MS)?;
        range("acquire_timeout_ms", self.acquire_timeout_ms, 1, MAX_MS)?;
        if let Some(t) = self.instance_timeout_ms {
            range("instance_timeout_ms", t, 1, self.ttl_ms)?;
        }
        let h = &self.hold;
        range("hold", h.max_ms, 0, MAX_MS)?;
        if h.min_ms > h.max_ms {
            return Err((
                "hold",
                format!("min_ms {} is above max_ms {}", h.min_ms, h.max_ms),
            ));
        }
        match (h.distribution, h.mean_ms) {
            (HoldDistribution::Uniform, Some(_)) => {
                return Err((
                    "hold",
                    "mean_ms goes with `distribution: exponential`".into(),
                ));
            }
            (HoldDistribution::Exponential, None) => {
                return Err(("hold", "an exponential hold needs `mean_ms`".into()));
            }
            (HoldDistribution::Exponential, Some(m)) if m < h.min_ms || m > h.max_ms => {
                return Err((
                    "hold",
                    format!(
                        "mean_ms {m} must lie between min_ms {} and max_ms {}",
                        h.min_ms, h.max_ms
                    ),
                ));
            }
            _ => {}
        }
        let mut kinds = self.resources.clone();
        kinds.sort();
        kinds.dedup();
        if kinds.len() != self.resources.len() {
            return Err(("resources", "each resource kind at most once".into()));
        }
        range(
            "atomic_workers",
            u64::from(self.atomic_workers),
            0,
            u64::from(MAX_WORKERS),
        )?;
        if self.atomic_workers > 0 && !self.counter {
            return Err((
                "atomic_workers",
                "the atomic path is compared with the locked counter: set `counter: true`".into(),
            ));
        }
        if self.counter && self.algorithm == Algorithm::Redlock {
            return Err((
                "counter",
                "the counter lives on one Redis: it goes with `algorithm: single`".into(),
            ));
        }
        if self.resources.is_empty() && !self.counter {
            return Err((
                "resources",
                "the critical section writes nothing: name a resource, or set `counter: true`"
                    .into(),
            ));
        }
        if let Some(w) = self.wait
            && w.replicas == 0
        {
            return Err(("wait", "replicas must be at least 1".into()));
        }
        if let Some(w) = self.wait
            && w.every != 1
        {
            return Err((
                "wait",
                "every is for the key/value workload: a lock operation always WAITs".into(),
            ));
        }
        Ok(())
    }

    /// The lock's TTL.
    pub fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms)
    }

    /// Redlock's allowance for clock drift: `ttl × 0.01 + 2 ms`.
    pub fn drift(&self) -> Duration {
        self.ttl().mul_f64(DRIFT_FACTOR) + DRIFT_FLOOR
    }

    /// Each instance's connect and reply bound.
    pub fn instance_timeout(&self) -> Duration {
        Duration::from_millis(
            self.instance_timeout_ms
                .unwrap_or_else(|| (self.ttl_ms / 10).clamp(5, 50)),
        )
    }

    /// Instances that must grant: all of one, or a majority (N/2 + 1).
    pub fn quorum(&self, instances: usize) -> usize {
        match self.algorithm {
            Algorithm::Single => instances,
            Algorithm::Redlock => instances / 2 + 1,
        }
    }

    /// A retry delay: uniform over `retry_ms/2 ..= 3·retry_ms/2`.
    pub fn retry_delay(&self, rng: &mut impl Rng) -> Duration {
        let half = self.retry_ms / 2;
        Duration::from_millis(rng.random_range(self.retry_ms - half..=self.retry_ms + half))
    }

    /// Whether the drill writes a resource of this kind.
    pub fn uses(&self, kind: ResourceKind) -> bool {
        self.resources.contains(&kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn spec(yaml: &str) -> LockSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_and_derived_figures() {
        let s = spec("algorithm: redlock\nttl_ms: 1000\n");
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.workers, 4);
        assert_eq!(s.quorum(5), 3);
        assert_eq!(s.quorum(4), 3);
        assert_eq!(LockSpec::default().quorum(1), 1);
        // 1000 ms × 1 % + 2 ms.
        assert_eq!(s.drift(), Duration::from_millis(12));
        assert_eq!(s.instance_timeout(), Duration::from_millis(50));
        assert_eq!(
            spec("ttl_ms: 100\n").instance_timeout(),
            Duration::from_millis(10)
        );
        assert_eq!(
            spec("ttl_ms: 20\n").instance_timeout(),
            Duration::from_millis(5)
        );
    }

    #[test]
    fn holds_stay_within_their_bounds_and_follow_the_seed() {
        let uniform = HoldSpec::default();
        let exp = HoldSpec {
            distribution: HoldDistribution::Exponential,
            min_ms: 5,
            max_ms: 400,
            mean_ms: Some(25),
        };
        for h in [uniform, exp] {
            let mut rng = StdRng::seed_from_u64(7);
            let draws: Vec<Duration> = (0..2000).map(|_| h.sample(&mut rng)).collect();
            let (lo, hi) = (
                Duration::from_millis(h.min_ms),
                Duration::from_millis(h.max_ms),
            );
            assert!(draws.iter().all(|d| *d >= lo && *d <= hi), "{h:?}");
            let mean = draws.iter().sum::<Duration>() / draws.len() as u32;
            let want = Duration::from_millis(h.mean_ms.unwrap_or((h.min_ms + h.max_ms) / 2));
            let diff = mean.abs_diff(want);
            assert!(diff < Duration::from_millis(3), "{h:?}: mean {mean:?}");
            let mut again = StdRng::seed_from_u64(7);
            assert_eq!(h.sample(&mut again), draws[0]);
        }
        let mut rng = StdRng::seed_from_u64(1);
        let s = LockSpec::default();
        for _ in 0..100 {
            let d = s.retry_delay(&mut rng);
            assert!(d >= Duration::from_millis(5) && d <= Duration::from_millis(15));
        }
    }

    #[test]
    fn invalid_sections_name_the_field() {
        let cases = [
            ("workers: 0\n", "workers", "between 1 and"),
            ("ttl_ms: 5\n", "ttl_ms", "between 10 and"),
            ("hold: {min_ms: 50, max_ms: 10}\n", "hold", "above max_ms"),
            (
                "hold: {distribution: exponential, max_ms: 10}\n",
                "hold",
                "needs `mean_ms`",
            ),
            ("hold: {mean_ms: 20}\n", "hold", "goes with"),
            (
                "hold: {distribution: exponential, min_ms: 10, max_ms: 20, mean_ms: 30}\n",
                "hold",
                "must lie between",
            ),
            ("resources: [fenced, fenced]\n", "resources", "at most once"),
            ("wait: {replicas: 0, timeout_ms: 5}\n", "wait", "at least 1"),
            (
                "ttl_ms: 100\ninstance_timeout_ms: 200\n",
                "instance_timeout_ms",
                "between 1 and 100",
            ),
        ];
        for (yaml, field, msg) in cases {
            let (f, m) = spec(yaml).validate().unwrap_err();
            assert_eq!(f, field, "{yaml}");
            assert!(m.contains(msg), "{yaml}: {m}");
        }
        let unknown: Result<LockSpec, _> = serde_saphyr::from_str("tll_ms: 5\n");
        assert!(unknown.is_err());
    }
}
