//! The lock history: every acquire attempt, grant, timeout, extension,
//! release, resource write and client pause, with its times on the run's
//! clock (ns since the run's epoch). The contract between the lock workload,
//! which records it, and the lock checker, which reads it — also offline,
//! from the run folder's `locks.jsonl`.
//!
//! # JSON lines
//!
//! One object a line, tagged by `event`: first the `setup` (what the
//! workload was asked to do, against which instances), then the events in
//! the order they ended, then the `end` (when it stopped, what it could not
//! record, the resources' final state):
//!
//! ```text
//! {"event":"setup","algorithm":"redlock","instances":["n1","n2","n3","n4","n5"],"quorum":3,...}
//! {"event":"attempt","worker":2,"lock":0,"acquisition":7,"start_ns":1503211,"end_ns":1731002,"outcome":"granted","granted_on":["n1","n2","n3"],"errors":{"n4":"timeout"}}
//! {"event":"grant","worker":2,"lock":0,"acquisition":7,"token":"w2-7-1f3a…","fence":41,"start_ns":1403000,"end_ns":1731002,"validity_ns":487269000,"attempts":3,"granted_on":["n1","n2","n3"]}
//! {"event":"write","worker":2,"lock":0,"acquisition":7,"resource":"fenced","fence":41,"seq":40,"start_ns":…,"end_ns":…,"outcome":"accepted","last_fence":40}
//! {"event":"release","worker":2,"lock":0,"acquisition":7,"start_ns":…,"end_ns":…,"released_on":["n1","n2","n3"]}
//! {"event":"pause","worker":1,"lock":0,"acquisition":5,"start_ns":…,"end_ns":…}
//! {"event":"end","stopped_ns":9000000000,"unrecorded":0,...}
//! ```
//!
//! An `acquisition` is one worker's effort to take one lock: its attempts,
//! then a `grant` or a `timeout` (or neither, when the workload stopped
//! first). (worker, acquisition) names a grant; its writes, extensions,
//! release and pause carry it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ops::WaitSpec;

/// How a lock is taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// `SET key token NX PX ttl` on one instance.
    #[default]
    Single,
    /// The same on N independent instances; granted on a quorum of N/2+1
    /// within the validity.
    Redlock,
}

impl Algorithm {
    /// The name the spec and the reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Single => "single",
            Algorithm::Redlock => "redlock",
        }
    }
}

/// A protected resource the critical section writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    /// Accepts a write only when its fencing token is greater than the last
    /// one it accepted.
    Fenced,
    /// Accepts every write: what a resource protected by the lock alone sees.
    Unfenced,
}

impl ResourceKind {
    /// The name the spec and the reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Fenced => "fenced",
            ResourceKind::Unfenced => "unfenced",
        }
    }
}

/// A worker's name, as reports show it.
pub fn worker_name(worker: u32) -> String {
    format!("w{worker}")
}

/// What the lock workload was asked to do, and against what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockSetup {
    pub algorithm: Algorithm,
    /// The lock instances, by node name, in the order the clients use them.
    pub instances: Vec<String>,
    pub quorum: u32,
    pub workers: u32,
    pub locks: u32,
    pub ttl_ms: u64,
    /// Redlock's drift allowance (ms): ttl × 0.01 + 2.
    pub drift_ms: f64,
    pub instance_timeout_ms: u64,
    pub check_validity: bool,
    pub extend: bool,
    pub resources: Vec<ResourceKind>,
    pub wait: Option<WaitSpec>,
    pub seed: u64,
    /// When the workers started, ns on the run's clock.
    pub started_ns: u64,
    /// The workers' regions (worker w in `regions[w mod n]`); empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// The critical section increments a counter per lock (`GET`, hold, `SET`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counter: bool,
    /// Workers `INCR`ing counters of their own beside the locked ones.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub atomic_workers: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// How the workload ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockEnd {
    /// When the workers were told to stop, ns on the run's clock.
    pub stopped_ns: u64,
    /// Events past the history's size limit (the workers stopped there).
    pub unrecorded: u64,
    /// Workers that had not ended when the stop's bound ran out.
    pub workers_unfinished: u32,
    /// The most a worker's timer woke up late (ms): the tool's own lag.
    pub max_timer_late_ms: f64,
    /// Timer wake-ups more than 1 ms late.
    pub timer_late_over_1ms: u64,
    /// Each resource's state at the end, by kind then lock: what the
    /// register itself counted, to check the history against.
    pub registers: BTreeMap<ResourceKind, Vec<RegisterState>>,
    /// Every counter read back after the workers stopped (`counter: true`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counters: Vec<CounterFinal>,
}

/// The two ways the drill increments a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterPath {
    /// `GET`, then `SET` of the value plus one, under the lock.
    Locked,
    /// `INCR`, no lock.
    Atomic,
}

impl CounterPath {
    /// The name the reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            CounterPath::Locked => "locked",
            CounterPath::Atomic => "atomic",
        }
    }

    /// The Redis key of lock `lock`'s counter on this path: beside the
    /// lock's own keys, in its slot.
    pub fn key(self, lock: u32) -> String {
        format!("drill:lock:{{{lock}}}:{}", self.as_str())
    }
}

/// A counter read back at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterFinal {
    pub path: CounterPath,
    pub lock: u32,
    /// Its value (an absent key is 0); `None` when the read failed.
    pub value: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A resource register at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterState {
    pub lock: u32,
    pub accepted: u64,
    pub rejected: u64,
    /// The highest fencing token it accepted.
    pub last_fence: Option<u64>,
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LockEvent {
    Attempt(Attempt),
    Grant(Grant),
    Timeout(Timeout),
    Extend(Extend),
    Write(Write),
    Release(Release),
    Pause(Pause),
    Increment(Increment),
}

impl LockEvent {
    /// When it ended (the history's order).
    pub fn end_ns(&self) -> u64 {
        match self {
            LockEvent::Attempt(e) => e.end_ns,
            LockEvent::Grant(e) => e.end_ns,
            LockEvent::Timeout(e) => e.end_ns,
            LockEvent::Extend(e) => e.end_ns,
            LockEvent::Write(e) => e.end_ns,
            LockEvent::Release(e) => e.end_ns,
            LockEvent::Pause(e) => e.end_ns,
            LockEvent::Increment(e) => e.end_ns,
        }
    }
}

/// One round of `SET NX PX` on every instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub worker: u32,
    pub lock: u32,
    pub acquisition: u64,
    pub start_ns: u64,
    pub end_ns: u64,
    pub outcome: AttemptOutcome,
    /// The instances that set the key (with WAIT: and reported the replicas).
    pub granted_on: Vec<String>,
    /// Instances that did not answer yes or no: instance → what went wrong.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, String>,
}

/// How one acquire attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// A quorum granted within the validity: the lock is held.
    Granted,
    /// Too few instances granted; what was taken is released again.
    NoQuorum,
    /// A quorum granted, but the attempt took longer than the TTL less the
    /// drift: no validity left. Released again.
    Expired,
}

/// A lock held: the acquisition that ended in a grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub worker: u32,
    pub lock: u32,
    pub acquisition: u64,
    pub token: String,
    /// The fencing token: the lock's counter, incremented with the grant
    /// (Redlock: the highest of the quorum's counters).
    pub fence: u64,
    /// When the acquisition's first attempt started.
    pub start_ns: u64,
    /// When the granting attempt ended: the holder knows it holds the lock.
    pub end_ns: u64,
    /// The granting attempt's start: its validity counts from there.
    pub attempt_start_ns: u64,
    /// TTL − the granting attempt's duration − drift, ns from `end_ns`.
    pub validity_ns: u64,
    pub attempts: u32,
    pub granted_on: Vec<String>,
}

impl Grant {
    /// Until when the holder may believe it holds the lock (ignoring
    /// extensions and the release): the grant plus its validity.
    pub fn valid_until_ns(&self) -> u64 {
        self.end_ns + self.validity_ns
    }
}

/// An acquisition that gave up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeout {
    pub worker: u32,
    pub lock: u32,
    pub acquisition: u64,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attempts: u32,
}

/// A compare-and-PEXPIRE on every instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extend {
    pub worker: u32,
    pub lock: u32,
    pub acquisition: u64,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Whether a quorum extended it with validity left.
    pub ok: bool,
    pub extended_on: Vec<String>,
    /// TTL − the extension's duration − drift, ns from `end_ns` (when ok).
    pub validity_ns: u64,
}

/// A write of the protected resource, from the critical section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Write {
    pub worker: u32,
    pub lock: u32,
    pub acquisition: u64,
    pub resource: ResourceKind,
    pub fence: u64,
    /// The resource's order of writes it decided on (per resource and lock,
    /// from 0); absent for a skipped write.
    pub seq: Option<u64>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub outcome: WriteOutcome,
    /// The highest token the resource had accepted before this write.
    pub last_fence: Option<u64>,
}

/// What a protected resource did with one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteOutcome {
    Accepted,
    /// The fenced resource refused a token not above its last.
    Rejected,
    /// Not sent: the holder saw its validity had run out (`check_validity`).
    Skipped,
}

/// A compare-and-delete on every instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub worker: u32,
    pub lock: u32,
    pub acquisition: u64,
    pub start_ns: u64,
    pub end_ns: u64,
    /// The instances where the key still held this grant's token and was deleted.
    pub released_on: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, String>,
    /// After an error (`READONLY` from a demoted primary, a lost
    /// connection), the primary of the moment it was sent to again; its
    /// answer is `released_on` (empty when the grant never reached it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followed_to: Option<String>,
}

/// A holder frozen by the nemesis (a `pause` of `lock_holder:<n>`), as it
/// happened: from the moment it froze, just before its write, until it went on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pause {
    pub worker: u32,
    pub lock: u32,
    pub acquisition: u64,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// One increment of a counter: on the locked path from the acquisition's
/// start (its first attempt) through the `GET` to the `SET`; on the atomic
/// path the `INCR` alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Increment {
    pub path: CounterPath,
    pub worker: u32,
    pub lock: u32,
    /// The lock's acquisition (locked path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquisition: Option<u64>,
    pub start_ns: u64,
    /// When the `GET` answered (locked path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_ns: Option<u64>,
    pub end_ns: u64,
    /// What the `GET` returned (locked path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<i64>,
    /// The value written (`SET`) or returned (`INCR`) when acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrote: Option<i64>,
    pub outcome: IncrementOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How one increment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncrementOutcome {
    /// The server acknowledged the write.
    Acked,
    /// Certainly not applied: the `GET` failed, or the server refused.
    Failed,
    /// No answer to the write (a timeout, a lost connection): it may have
    /// been applied.
    Indeterminate,
    /// Not written: the holder saw its validity had run out, or the stop came.
    Skipped,
}

/// A stopped lock workload: its setup, its events in the order they ended,
/// and its end. What `locks.jsonl` holds and the checker reads.
#[derive(Debug, Clone, PartialEq)]
pub struct LockRecording {
    pub setup: LockSetup,
    pub events: Vec<LockEvent>,
    pub end: LockEnd,
}

/// The file of a run folder that holds the lock history.
pub const LOCKS_FILE: &str = "locks.jsonl";

/// Why a lock history could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum LockHistoryError {
    #[error("write the lock history {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read the lock history {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parse line {line} of the lock history {}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("read the lock history {}: {what}", path.display())]
    Shape { path: PathBuf, what: String },
}

/// The end line: the events' count, then the body, with its tag.
#[derive(Serialize)]
struct EndLine<'a> {
    event: &'static str,
    events: u64,
    #[serde(flatten)]
    body: &'a LockEnd,
}

/// The count an end line holds.
#[derive(Deserialize)]
struct EndCount {
    events: u64,
}

/// A setup line: the body with its `event` tag.
#[derive(Serialize)]
struct Tagged<'a, T> {
    event: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Deserialize)]
struct Tag {
    event: String,
}

impl LockRecording {
    /// Write it to `path` as JSON lines.
    pub fn write_jsonl(&self, path: &Path) -> Result<(), LockHistoryError> {
        let wrap = |source| LockHistoryError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut w = BufWriter::new(File::create(path).map_err(wrap)?);
        write_line(
            &mut w,
            &Tagged {
                event: "setup",
                body: &self.setup,
            },
        )
        .map_err(wrap)?;
        for e in &self.events {
            write_line(&mut w, e).map_err(wrap)?;
        }
        write_line(
            &mut w,
            &EndLine {
                event: "end",
                events: self.events.len() as u64,
                body: &self.end,
            },
        )
        .map_err(wrap)?;
        w.flush().map_err(wrap)
    }

    /// Read back what [`LockRecording::write_jsonl`] wrote.
    pub fn read_jsonl(path: &Path) -> Result<LockRecording, LockHistoryError> {
        let wrap = |source| LockHistoryError::Read {
            path: path.to_path_buf(),
            source,
        };
        let reader = BufReader::new(File::open(path).map_err(wrap)?);
        let shape = |what: String| LockHistoryError::Shape {
            path: path.to_path_buf(),
            what,
        };
        let (mut setup, mut end, mut events) = (None, None, Vec::new());
        for (i, line) in reader.lines().enumerate() {
            let line = line.map_err(wrap)?;
            if line.trim().is_empty() {
                continue;
            }
            let n = i + 1;
            let parse = |source| LockHistoryError::Parse {
                path: path.to_path_buf(),
                line: n,
                source,
            };
            if end.is_some() {
                return Err(shape(format!("line {n} follows the `end` line")));
            }
            let tag: Tag = serde_json::from_str(&line).map_err(parse)?;
            match tag.event.as_str() {
                "setup" if setup.is_some() => {
                    return Err(shape(format!("line {n} is a second `setup` line")));
                }
                "setup" => setup = Some(serde_json::from_str(&line).map_err(parse)?),
                "end" => {
                    let count: EndCount = serde_json::from_str(&line).map_err(parse)?;
                    if count.events != events.len() as u64 {
                        return Err(shape(format!(
                            "line {n}: the `end` line says {} events, the history holds {}: lines were taken out or added",
                            count.events,
                            events.len()
                        )));
                    }
                    end = Some(serde_json::from_str(&line).map_err(parse)?);
                }
                _ if setup.is_none() => {
                    return Err(shape(format!("line {n} comes before the `setup` line")));
                }
                _ => events.push(serde_json::from_str(&line).map_err(parse)?),
            }
        }
        Ok(LockRecording {
            setup: setup.ok_or_else(|| shape("no `setup` line".into()))?,
            events,
            end: end.ok_or_else(|| {
                shape(
                    "no `end` line: the file was cut short, or the run did not finish writing it"
                        .into(),
                )
            })?,
        })
    }
}

/// `v` as one JSON line.
fn write_line<T: Serialize>(w: &mut impl std::io::Write, v: &T) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, v)?;
    w.write_all(b"\n")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A Redlock setup over three instances, for tests.
    pub(crate) fn setup() -> LockSetup {
        LockSetup {
            algorithm: Algorithm::Redlock,
            instances: ["n1", "n2", "n3"].map(String::from).to_vec(),
            quorum: 2,
            workers: 2,
            locks: 1,
            ttl_ms: 100,
            drift_ms: 3.0,
            instance_timeout_ms: 10,
            check_validity: true,
            extend: false,
            resources: vec![ResourceKind::Fenced, ResourceKind::Unfenced],
            wait: None,
            seed: 1,
            started_ns: 0,
            regions: Vec::new(),
            counter: false,
            atomic_workers: 0,
        }
    }

    #[test]
    fn the_jsonl_form_round_trips() {
        let rec = LockRecording {
            setup: setup(),
            events: vec![
                LockEvent::Attempt(Attempt {
                    worker: 1,
                    lock: 0,
                    acquisition: 0,
                    start_ns: 5,
                    end_ns: 9,
                    outcome: AttemptOutcome::Granted,
                    granted_on: vec!["n1".into(), "n2".into()],
                    errors: BTreeMap::from([("n3".into(), "timeout".into())]),
                }),
                LockEvent::Write(Write {
                    worker: 1,
                    lock: 0,
                    acquisition: 0,
                    resource: ResourceKind::Fenced,
                    fence: 3,
                    seq: Some(0),
                    start_ns: 10,
                    end_ns: 11,
                    outcome: WriteOutcome::Accepted,
                    last_fence: None,
                }),
            ],
            end: LockEnd {
                stopped_ns: 20,
                registers: BTreeMap::from([(
                    ResourceKind::Fenced,
                    vec![RegisterState {
                        lock: 0,
                        accepted: 1,
                        rejected: 0,
                        last_fence: Some(3),
                    }],
                )]),
                ..Default::default()
            },
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCKS_FILE);
        rec.write_jsonl(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with(r#"{"event":"setup","algorithm":"redlock""#));
        assert!(
            lines[1].starts_with(r#"{"event":"attempt","worker":1,"lock":0"#),
            "{}",
            lines[1]
        );
        assert!(lines[3].starts_with(r#"{"event":"end","events":2,"stopped_ns":20"#));
        assert_eq!(LockRecording::read_jsonl(&path).unwrap(), rec);
        // A file cut short names what is missing.
        std::fs::write(&path, lines[..3].join("\n")).unwrap();
        let err = LockRecording::read_jsonl(&path).unwrap_err().to_string();
        assert!(err.contains("no `end` line"), "{err}");
        std::fs::write(&path, "{\"event\":\"grant\",\"worker\":1}\n").unwrap();
        let err = LockRecording::read_jsonl(&path).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
        // An event taken out, one after the end, a second setup.
        for (text, says) in [
            (
                [lines[0], lines[1], lines[3]].join("\n"),
                "line 3: the `end` line says 2 events, the history holds 1",
            ),
            (
                [lines[0], lines[1], lines[2], lines[3], lines[1]].join("\n"),
                "line 5 follows the `end` line",
            ),
            (
                [lines[0], lines[0]].join("\n"),
                "line 2 is a second `setup` line",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = LockRecording::read_jsonl(&path).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
    }
}
