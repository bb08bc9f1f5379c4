//! The replication probe's recording (`replication.json`): every probe
//! write on each primary and every replica read that saw a new value. The
//! probe ([`crate::workload::replication`]) writes it; the checker
//! ([`crate::checker::replication`]) turns it into the lag of every write on
//! every replica.

use serde::{Deserialize, Serialize};

/// The `replication_probe:` section of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplProbeSpec {
    /// Writes per second on each primary.
    pub rate: f64,
    /// Every n-th write is followed by `WAIT 1 wait_timeout_ms` (0: never).
    pub wait_every: u32,
    pub wait_timeout_ms: u64,
    /// How often each replica is read (µs): the lag's resolution.
    pub poll_us: u64,
    /// Bound on every read and write.
    pub timeout_ms: u64,
}

impl Default for ReplProbeSpec {
    fn default() -> Self {
        ReplProbeSpec {
            rate: 20.0,
            wait_every: 2,
            wait_timeout_ms: 1000,
            poll_us: 1000,
            timeout_ms: 1000,
        }
    }
}

impl ReplProbeSpec {
    /// What is wrong with the section: (field, message).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(self.rate > 0.0 && self.rate <= 1000.0) {
            return Err((
                "rate",
                format!("{} is not in (0, 1000] writes/s", self.rate),
            ));
        }
        if !(100..=100_000).contains(&self.poll_us) {
            return Err((
                "poll_us",
                format!("{} is not in 100..=100000 µs", self.poll_us),
            ));
        }
        if self.timeout_ms == 0 {
            return Err(("timeout_ms", "must be above 0".into()));
        }
        Ok(())
    }
}

/// One probe write. Times in ns since the run's epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplWrite {
    pub primary: String,
    pub key: String,
    pub seq: u64,
    pub sent_ns: u64,
    /// When `+OK` came back; `None`: no acknowledgement (error, timeout).
    pub ack_ns: Option<u64>,
    /// With `WAIT`: when it answered, and how many replicas it counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_end_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_replicas: Option<u64>,
}

/// A replica's read that saw a new value of its primary's probe key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplSeen {
    pub replica: String,
    pub primary: String,
    /// The sequence number read.
    pub value: u64,
    pub sent_ns: u64,
    pub end_ns: u64,
    /// When the read before it, which did not see this value, was sent.
    pub prev_sent_ns: Option<u64>,
}

/// What the probe recorded, stored as `replication.jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplRecording {
    pub spec: Option<ReplProbeSpec>,
    pub writes: Vec<ReplWrite>,
    pub seen: Vec<ReplSeen>,
    /// Reads or writes that failed (connection, timeout, error reply).
    pub errors: u64,
}
