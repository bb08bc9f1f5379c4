//! The stampede workload: many readers of a few hot keys that expire, each
//! read a `get_or_compute` — the cache-aside pattern that must recompute an
//! expired value once, not once per reader. The `stampede:` section of a
//! scenario file; its history is `stampede.json` in the run folder, written by
//! [`crate::workload::stampede`]; the pure checker is [`crate::checker::stampede`].
//!
//! ```yaml
//! stampede:
//!   readers: 100               # concurrent readers, each reading in a loop
//!   keys: 2                    # hot keys `{<prefix>hot}:<n>`, all in one slot (one shard)
//!   one_slot: true             # false: `{<prefix>hot:<n>}`, spread over every slot
//!   distribution: uniform      # or {zipfian: {s: 0.99}}: which key a read picks
//!   prefill: false             # write every key before the recording starts (a warm cache)
//!   key_prefix: "drill:"
//!   variants: [lock, lua]      # key n is guarded by variants[n % len]
//!   policy: poll               # or serve_stale
//!   ttl_ms: 1000               # how long a computed value is fresh
//!   stale_ms: 0                # serve_stale: kept this much longer, served while one reader recomputes
//!   compute_ms: 50             # the recomputation's cost
//!   lock_ttl_ms: 500           # the lock's PX
//!   read_every_ms: 50          # each reader's pause between reads
//!   poll_ms: 5                 # a reader that lost the lock reads again after this long
//!   max_wait_ms: 2000          # a read with no value by then has failed
//!   timeout_ms: 500            # each command's bound
//!   regions: [eu-west, us-east] # optional: reader r lives in regions[r mod n]
//! ```
//!
//! A read, with the `lock` variant: `GET k`; a fresh value is served. On a
//! miss: `SET k:lock token NX PX lock_ttl_ms`; the winner reads `k` again
//! (another reader may have finished between its miss and its lock), and
//! when still missing records a `compute`, waits `compute_ms`, `SET k value
//! PX`, and releases the lock with compare-and-delete. A loser polls `k`
//! every `poll_ms` (taking the lock itself when it is free again) until a
//! value appears or `max_wait_ms` passed. The `lua` variant does the `GET`
//! and the `SET NX` in one script (single flight in one round trip).
//! Under `serve_stale`, a value past its freshness (written into the value)
//! is still there for `stale_ms`: one reader takes the lock and recomputes,
//! the others serve the stale value at once.
//!
//! Every command is sent once: the loop around it is the application's
//! algorithm, and every failure is counted in the read it belongs to. A
//! read still waiting for a value when the drill stops has no outcome and
//! is not recorded (it was not given its `max_wait_ms`).

use serde::{Deserialize, Serialize};

use super::ops::Distribution;

/// More readers than this is a typo on the machines drills run on.
pub const MAX_READERS: u32 = 1_000;

/// More keys than this is not a stampede drill (one slot holds at most
/// [`MAX_ONE_SLOT_KEYS`]: a hot spot, not a key space).
pub const MAX_KEYS: u32 = 1_000_000;
/// Most keys of the one-slot variant: they share one hash tag, so one node
/// holds them all.
pub const MAX_ONE_SLOT_KEYS: u32 = 100;

/// A day: every duration of the section is below it.
pub const MAX_MS: u64 = 86_400_000;

/// How a key is guarded against concurrent recomputation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// `GET`, then `SET lock NX PX` on a miss: two round trips.
    Lock,
    /// One script: `GET`, and on a miss `SET lock NX PX`.
    Lua,
}

impl Variant {
    /// The name the spec and the reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Lock => "lock",
            Variant::Lua => "lua",
        }
    }
}

/// What a reader that did not win the lock does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Poll the key until the winner wrote it.
    Poll,
    /// Serve the previous value (kept `stale_ms` past its freshness).
    ServeStale,
}

impl Policy {
    /// The name the spec and the reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Poll => "poll",
            Policy::ServeStale => "serve_stale",
        }
    }
}

/// The `stampede:` section of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StampedeSpec {
    pub readers: u32,
    pub keys: u32,
    /// All keys (and their locks) in one slot: `{<prefix>hot}:<n>`.
    /// Otherwise each key its own tag, `{<prefix>hot:<n>}`.
    pub one_slot: bool,
    /// Which key a read picks.
    pub distribution: Distribution,
    /// Write every key (fresh, by a computation of no one) before the
    /// recording starts: the baseline reads a warm cache.
    pub prefill: bool,
    pub key_prefix: String,
    pub variants: Vec<Variant>,
    pub policy: Policy,
    pub ttl_ms: u64,
    pub stale_ms: u64,
    pub compute_ms: u64,
    pub lock_ttl_ms: u64,
    pub read_every_ms: u64,
    pub poll_ms: u64,
    pub max_wait_ms: u64,
    pub timeout_ms: u64,
    /// The regions the readers live in, taken in turn (reader r in
    /// `regions[r mod n]`): a reader in another region than the key's
    /// primary crosses the link on every command. Empty: in none.
    pub regions: Vec<String>,
}

impl Default for StampedeSpec {
    fn default() -> Self {
        StampedeSpec {
            readers: 100,
            keys: 2,
            one_slot: true,
            distribution: Distribution::Uniform,
            prefill: false,
            key_prefix: "drill:".into(),
            variants: vec![Variant::Lock, Variant::Lua],
            policy: Policy::Poll,
            ttl_ms: 1000,
            stale_ms: 0,
            compute_ms: 50,
            lock_ttl_ms: 500,
            read_every_ms: 50,
            poll_ms: 5,
            max_wait_ms: 2000,
            timeout_ms: 500,
            regions: Vec::new(),
        }
    }
}

impl StampedeSpec {
    /// What is wrong with the section: (field, message).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let within = |field: &'static str, v: u64, lo: u64, hi: u64| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err((field, format!("must be between {lo} and {hi}, not {v}")))
            }
        };
        within(
            "readers",
            u64::from(self.readers),
            1,
            u64::from(MAX_READERS),
        )?;
        let most = if self.one_slot {
            MAX_ONE_SLOT_KEYS
        } else {
            MAX_KEYS
        };
        within("keys", u64::from(self.keys), 1, u64::from(most))?;
        if let Distribution::Zipfian { s } = self.distribution
            && !(s > 0.0 && s.is_finite())
        {
            return Err((
                "distribution",
                format!("zipfian s must be above 0, not {s}"),
            ));
        }
        within("ttl_ms", self.ttl_ms, 1, MAX_MS)?;
        within("stale_ms", self.stale_ms, 0, MAX_MS)?;
        within("compute_ms", self.compute_ms, 0, MAX_MS)?;
        within("lock_ttl_ms", self.lock_ttl_ms, 1, MAX_MS)?;
        within("read_every_ms", self.read_every_ms, 0, MAX_MS)?;
        within("poll_ms", self.poll_ms, 1, MAX_MS)?;
        within("max_wait_ms", self.max_wait_ms, 1, MAX_MS)?;
        within("timeout_ms", self.timeout_ms, 1, MAX_MS)?;
        if self.variants.is_empty() {
            return Err(("variants", "name at least one of lock, lua".into()));
        }
        if self.key_prefix.contains(['{', '}']) {
            return Err((
                "key_prefix",
                "the keys are hash-tagged already: no `{` or `}`".into(),
            ));
        }
        match (self.policy, self.stale_ms) {
            (Policy::ServeStale, 0) => Err((
                "stale_ms",
                "serve_stale needs the value kept past its freshness: set stale_ms above 0".into(),
            )),
            (Policy::Poll, n) if n > 0 => Err((
                "stale_ms",
                "only serve_stale serves a value past its freshness: set policy: serve_stale"
                    .into(),
            )),
            _ => Ok(()),
        }
    }

    /// The hash tag every hot key shares, so that the keys and their locks
    /// live in one slot: a failover of that shard hits them all.
    pub fn tag(&self) -> String {
        format!("{}hot", self.key_prefix)
    }

    /// Key `n`.
    pub fn key(&self, n: u32) -> String {
        if self.one_slot {
            format!("{{{}}}:{n}", self.tag())
        } else {
            format!("{{{}:{n}}}", self.tag())
        }
    }

    /// The slot of key `n` (and of its lock).
    pub fn slot_of(&self, n: u32) -> u16 {
        crate::slots::key_slot(self.key(n).as_bytes())
    }

    /// The slot of every key, when they share one (`one_slot`); else key 0's.
    pub fn slot(&self) -> u16 {
        self.slot_of(0)
    }

    /// The region reader `reader` lives in (`None` without `regions`).
    pub fn region_of(&self, reader: u32) -> Option<&str> {
        super::regions::region_of(&self.regions, reader)
    }

    /// The variant key `key` belongs to: the variants take the keys in turn.
    pub fn variant_of(&self, key: u32) -> Variant {
        self.variants[key as usize % self.variants.len()]
    }

    /// The value's `PX`: its freshness, and under `serve_stale` the time it
    /// may still be served stale.
    pub fn px_ms(&self) -> u64 {
        self.ttl_ms + self.stale_ms
    }
}

/// How one read ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ReadOutcome {
    /// A fresh value, found by the first read.
    Hit { value: String },
    /// A fresh value, after polling while another reader computed it.
    Waited { value: String },
    /// This reader computed the value.
    Computed { value: String },
    /// `serve_stale`: a value past its freshness, served while another
    /// reader recomputes.
    Stale { value: String },
    /// No value by `max_wait_ms`, or a computation whose write failed.
    Failed { message: String },
}

impl ReadOutcome {
    /// The value served, if any.
    pub fn value(&self) -> Option<&str> {
        match self {
            ReadOutcome::Hit { value }
            | ReadOutcome::Waited { value }
            | ReadOutcome::Computed { value }
            | ReadOutcome::Stale { value } => Some(value),
            ReadOutcome::Failed { .. } => None,
        }
    }
}

/// One `get_or_compute`. Times in ns since the run's epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Read {
    pub reader: u32,
    pub key: u32,
    pub start_ns: u64,
    pub end_ns: u64,
    #[serde(flatten)]
    pub outcome: ReadOutcome,
    /// Reads of the key after the first (a loser polling).
    pub polls: u32,
    /// Commands of this read that failed (connection, timeout, error reply).
    pub errors: u32,
}

/// Whether a computation found the key missing or only stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Found {
    Missing,
    Stale,
}

/// A computation: the lock won, the value computed and written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compute {
    pub reader: u32,
    pub key: u32,
    pub variant: Variant,
    pub found: Found,
    /// The read that found the key missing (or stale): sent, answered.
    pub miss_sent_ns: u64,
    pub miss_end_ns: u64,
    /// The lock's `SET NX` (with the `lua` variant: the script): sent,
    /// answered with the grant, and the node that granted it.
    pub lock_sent_ns: u64,
    pub lock_end_ns: u64,
    pub lock_node: String,
    /// The value written (`<id>|<fresh until, ns>`).
    pub value: String,
    pub fresh_until_ns: u64,
    pub set_sent_ns: u64,
    pub set_end_ns: u64,
    /// Whether the `SET PX` was acknowledged.
    pub set_ok: bool,
    /// When the release (compare-and-delete) answered, and whether it
    /// deleted the lock (false: the lock had expired or vanished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_end_ns: Option<u64>,
    #[serde(default)]
    pub released: bool,
}

/// What the stampede workload recorded, stored as `stampede.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StampedeRecording {
    pub spec: Option<StampedeSpec>,
    /// The slot of the hot keys, and the node serving it at the start.
    pub slot: u16,
    pub reads: Vec<Read>,
    pub computes: Vec<Compute>,
    /// Reads not recorded because the history was full.
    pub unrecorded: u64,
}

/// The value a computation writes: its id and when it stops being fresh.
pub fn value_of(id: &str, fresh_until_ns: u64) -> String {
    format!("{id}|{fresh_until_ns}")
}

/// A value's freshness deadline (ns), or `None` for a value that is not
/// one of the workload's.
pub fn fresh_until(value: &str) -> Option<u64> {
    value.rsplit_once('|')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_is_checked() {
        assert!(StampedeSpec::default().check().is_ok());
        let bad = |f: fn(&mut StampedeSpec)| {
            let mut s = StampedeSpec::default();
            f(&mut s);
            s.check().unwrap_err().0
        };
        assert_eq!(bad(|s| s.readers = 0), "readers");
        assert_eq!(bad(|s| s.variants.clear()), "variants");
        assert_eq!(bad(|s| s.policy = Policy::ServeStale), "stale_ms");
        assert_eq!(bad(|s| s.stale_ms = 100), "stale_ms");
        assert_eq!(bad(|s| s.key_prefix = "{x}".into()), "key_prefix");
        let ok = StampedeSpec {
            policy: Policy::ServeStale,
            stale_ms: 500,
            ..Default::default()
        };
        assert!(ok.check().is_ok());
        assert_eq!(ok.px_ms(), 1500);
    }

    #[test]
    fn keys_share_one_slot_and_values_carry_their_freshness() {
        let s = StampedeSpec::default();
        assert_eq!(s.key(0), "{drill:hot}:0");
        let slot = crate::slots::key_slot(b"{drill:hot}:1");
        assert_eq!(s.slot(), slot);
        assert_eq!(
            crate::slots::key_slot(format!("{}:lock", s.key(1)).as_bytes()),
            slot
        );
        assert_eq!(s.variant_of(0), Variant::Lock);
        let spread = StampedeSpec {
            one_slot: false,
            keys: 1000,
            ..Default::default()
        };
        assert!(spread.check().is_ok());
        assert_eq!(spread.key(7), "{drill:hot:7}");
        assert_ne!(spread.slot_of(1), spread.slot_of(2));
        assert_eq!(
            StampedeSpec {
                keys: 1000,
                ..Default::default()
            }
            .check()
            .unwrap_err()
            .0,
            "keys"
        );
        assert_eq!(s.variant_of(3), Variant::Lua);
        let v = value_of("r3-7", 1_234_000);
        assert_eq!(fresh_until(&v), Some(1_234_000));
        assert_eq!(fresh_until("junk"), None);
    }
}
