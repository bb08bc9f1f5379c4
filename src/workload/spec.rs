//! What the workload does, as plain data: the `workload:` section of a
//! scenario file. Every random choice is made from the run's seed, so a spec
//! and a seed describe the same schedule of keys, values and commands.
//!
//! ```yaml
//! workload:
//!   clients: 8                 # app clients (redis-rs cluster client with retries)
//!   probe_clients: 1           # the drill's own client, no retries
//!   model: closed              # or: {open: {rate: 2000}}   (ops/s over all clients)
//!   keys: 10000
//!   key_prefix: "drill:"
//!   distribution: uniform      # or: {zipfian: {s: 0.99}}
//!   value_size: 64             # or: {min: 16, max: 1024}
//!   mix: {get: 50, set: 50, incr: 0}
//!   counter_keys: 1000         # incr targets `<prefix>counter:<n>`
//!   timeout_ms: 1000
//!   app_retries: 5
//!   app_connection: per_client # or: shared (one connection for all app clients)
//!   wait: {replicas: 1, timeout_ms: 100}   # WAIT after each write (absent: no WAIT)
//! ```

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::WorkloadError;

/// Largest value a spec may ask for: values are held in memory per op and
/// written to the history, and a drill measures availability, not bandwidth.
pub const MAX_VALUE_SIZE: usize = 1 << 20;

/// The workload section of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadSpec {
    /// App clients: redis-rs's cluster client with `app_retries`.
    pub clients: u32,
    /// Probe clients: no retries, redirects counted exactly.
    pub probe_clients: u32,
    pub model: Model,
    /// Size of the key space (`<prefix><n>`, n in 0..keys).
    pub keys: u64,
    pub key_prefix: String,
    pub distribution: Distribution,
    pub value_size: ValueSize,
    pub mix: Mix,
    /// Size of the counter key space for `incr` (`<prefix>counter:<n>`), kept
    /// apart from the string keys so that sets never clobber counters.
    pub counter_keys: u64,
    /// Bound on each op: the response timeout of both clients (and the app
    /// client's overall bound, retries included).
    pub timeout_ms: u64,
    /// Retries of the app client (MOVED/ASK/TRYAGAIN/connection). redis-rs's
    /// default of 16 with no response timeout would hide downtime.
    pub app_retries: u32,
    /// Whether app clients each own a cluster connection or share one.
    pub app_connection: AppConnection,
    /// `WAIT replicas timeout_ms` after every write, on the connection that
    /// wrote. A write counts as acknowledged only when WAIT reports at least
    /// `replicas`; fewer is an indeterminate write (it may survive or not).
    pub wait: Option<WaitSpec>,
}

/// The `wait:` setting of a workload: what a careful application does to make
/// an acknowledged write survive a failover (it narrows the loss, it does not
/// close it: Redis replication stays asynchronous).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitSpec {
    /// Replicas that must have the write.
    pub replicas: u32,
    /// WAIT's own timeout; it returns the count reached by then.
    pub timeout_ms: u64,
}

/// How app clients hold their redis-rs cluster connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppConnection {
    /// Each app client has its own cluster connection: failures measure the
    /// cluster, not contention inside one client.
    PerClient,
    /// All app clients share one multiplexed cluster connection, the usual
    /// redis-rs setup. redis-rs 1.8 sends ASKING and the redirected command
    /// as two requests, so on a shared connection another task's command can
    /// take the ASKING and the redirected one gets MOVED: during a slot
    /// migration this shows up as failed ops that are the library's doing.
    Shared,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            clients: 8,
            probe_clients: 1,
            model: Model::Closed,
            keys: 10_000,
            key_prefix: "drill:".to_string(),
            distribution: Distribution::Uniform,
            value_size: ValueSize::Fixed(64),
            mix: Mix::default(),
            counter_keys: 1_000,
            timeout_ms: 1_000,
            app_retries: 5,
            app_connection: AppConnection::PerClient,
            wait: None,
        }
    }
}

/// When clients send.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Model {
    /// Each client sends its next op when the previous one completed.
    Closed,
    /// Each client has a fixed schedule (`rate` ops/s shared by all clients, app
    /// and probe); latency is measured from the scheduled start, and a client
    /// behind schedule sends at once, never skipping (no coordinated omission).
    Open { rate: f64 },
}

/// How keys are picked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Distribution {
    Uniform,
    /// Key n (0-based) has weight 1/(n+1)^s: key 0 is the hottest.
    Zipfian {
        s: f64,
    },
}

/// Size of written values in bytes: `64` or `{min: 16, max: 1024}` (uniform, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ValueSize {
    Fixed(usize),
    Range { min: usize, max: usize },
}

impl ValueSize {
    pub fn bounds(self) -> (usize, usize) {
        match self {
            ValueSize::Fixed(n) => (n, n),
            ValueSize::Range { min, max } => (min, max),
        }
    }
}

// By hand rather than `untagged`, for an error that says what is expected.
impl<'de> Deserialize<'de> for ValueSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ValueSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size in bytes or a range like {min: 16, max: 1024}")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ValueSize, E> {
                usize::try_from(v)
                    .map(ValueSize::Fixed)
                    .map_err(|_| E::custom("value size too large"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ValueSize, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("value size must not be negative"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValueSize, A::Error> {
                let (mut min, mut max) = (None, None);
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        "min" if min.is_none() => min = Some(map.next_value::<usize>()?),
                        "max" if max.is_none() => max = Some(map.next_value::<usize>()?),
                        "min" | "max" => return Err(de::Error::duplicate_field("min/max")),
                        other => return Err(de::Error::unknown_field(other, &["min", "max"])),
                    }
                }
                Ok(ValueSize::Range {
                    min: min.ok_or_else(|| de::Error::missing_field("min"))?,
                    max: max.ok_or_else(|| de::Error::missing_field("max"))?,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Relative weights of the commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mix {
    pub get: u32,
    pub set: u32,
    pub incr: u32,
}

impl Default for Mix {
    /// Half reads, half writes: enough writes for the lost-write check to bite.
    fn default() -> Self {
        Mix {
            get: 50,
            set: 50,
            incr: 0,
        }
    }
}

impl WorkloadSpec {
    /// Check the values serde cannot: ranges, a non-empty mix, a positive rate.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        let bad = |m: String| Err(WorkloadError::Spec(m));
        if self.clients == 0 && self.probe_clients == 0 {
            return bad("clients and probe_clients are both 0: nothing would run".into());
        }
        if self.keys == 0 {
            return bad("keys must be at least 1".into());
        }
        if let Model::Open { rate } = self.model
            && !(rate.is_finite() && rate > 0.0)
        {
            return bad(format!(
                "open-loop rate must be a positive number, not {rate}"
            ));
        }
        if let Distribution::Zipfian { s } = self.distribution
            && !(s.is_finite() && s >= 0.0)
        {
            return bad(format!("zipfian s must be a number >= 0, not {s}"));
        }
        let (min, max) = self.value_size.bounds();
        if min > max {
            return bad(format!("value_size min {min} is above max {max}"));
        }
        if max > MAX_VALUE_SIZE {
            return bad(format!(
                "value_size {max} is above the limit of {MAX_VALUE_SIZE} bytes"
            ));
        }
        let total = u64::from(self.mix.get) + u64::from(self.mix.set) + u64::from(self.mix.incr);
        if total == 0 {
            return bad("mix weights are all 0".into());
        }
        if self.mix.incr > 0 && self.counter_keys == 0 {
            return bad("mix has incr but counter_keys is 0".into());
        }
        if self.timeout_ms == 0 {
            return bad("timeout_ms must be at least 1".into());
        }
        if let Some(w) = self.wait {
            if w.replicas == 0 {
                return bad("wait.replicas must be at least 1".into());
            }
            if w.timeout_ms == 0 || w.timeout_ms >= self.timeout_ms {
                return bad(format!(
                    "wait.timeout_ms must be between 1 and timeout_ms ({}) exclusive, not {}: a WAIT of 0 blocks forever and one as long as the op timeout leaves no time for the write",
                    self.timeout_ms, w.timeout_ms
                ));
            }
        }
        Ok(())
    }

    /// Key number `n` of the key space.
    pub fn key(&self, n: u64) -> String {
        format!("{}{n}", self.key_prefix)
    }

    /// Counter number `n` of the counter key space.
    pub fn counter_key(&self, n: u64) -> String {
        format!("{}counter:{n}", self.key_prefix)
    }

    /// Every key of the key space, then every counter key when the mix has incr.
    pub fn all_keys(&self) -> Vec<String> {
        let counters = if self.mix.incr > 0 {
            self.counter_keys
        } else {
            0
        };
        (0..self.keys)
            .map(|n| self.key(n))
            .chain((0..counters).map(|n| self.counter_key(n)))
            .collect()
    }

    pub fn total_clients(&self) -> u32 {
        self.clients + self.probe_clients
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<WorkloadSpec, String> {
        serde_saphyr::from_str::<WorkloadSpec>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_forms() {
        let s = parse("clients: 4\n").unwrap();
        assert_eq!(s.clients, 4);
        assert_eq!(s.probe_clients, 1);
        assert_eq!(s.model, Model::Closed);
        assert_eq!(s.timeout_ms, 1000);
        assert_eq!(s.app_retries, 5);
        s.validate().unwrap();

        let s = parse(
            "model: {open: {rate: 2000}}\ndistribution: {zipfian: {s: 0.99}}\nvalue_size: {min: 8, max: 32}\nmix: {get: 1, set: 2, incr: 3}\n",
        )
        .unwrap();
        assert_eq!(s.model, Model::Open { rate: 2000.0 });
        assert_eq!(s.distribution, Distribution::Zipfian { s: 0.99 });
        assert_eq!(s.value_size, ValueSize::Range { min: 8, max: 32 });
        assert_eq!(
            s.mix,
            Mix {
                get: 1,
                set: 2,
                incr: 3
            }
        );
        s.validate().unwrap();
        assert_eq!(
            parse("value_size: 100\n").unwrap().value_size,
            ValueSize::Fixed(100)
        );
    }

    #[test]
    fn rejections() {
        assert!(parse("clientz: 1\n").unwrap_err().contains("clientz"));
        assert!(
            parse("mix: {get: 1, put: 1}\n")
                .unwrap_err()
                .contains("put")
        );
        assert!(parse("value_size: {min: 1}\n").unwrap_err().contains("max"));
        assert!(parse("value_size: -1\n").is_err());
        let bad = |s: WorkloadSpec| s.validate().unwrap_err().to_string();
        let base = WorkloadSpec::default();
        assert!(
            bad(WorkloadSpec {
                clients: 0,
                probe_clients: 0,
                ..base.clone()
            })
            .contains("nothing would run")
        );
        assert!(
            bad(WorkloadSpec {
                model: Model::Open { rate: 0.0 },
                ..base.clone()
            })
            .contains("rate")
        );
        assert!(
            bad(WorkloadSpec {
                value_size: ValueSize::Range { min: 5, max: 1 },
                ..base.clone()
            })
            .contains("min 5")
        );
        assert!(
            bad(WorkloadSpec {
                mix: Mix {
                    get: 0,
                    set: 0,
                    incr: 0
                },
                ..base.clone()
            })
            .contains("all 0")
        );
    }

    #[test]
    fn key_names() {
        let s = WorkloadSpec {
            keys: 2,
            counter_keys: 1,
            mix: Mix {
                get: 1,
                set: 1,
                incr: 1,
            },
            ..WorkloadSpec::default()
        };
        assert_eq!(s.all_keys(), vec!["drill:0", "drill:1", "drill:counter:0"]);
    }
}
