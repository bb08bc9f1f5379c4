//! The run folder: where a drill stores its record before anything is
//! checked, and where `check-run` reads it back.
//!
//! A run folder holds:
//! - `record.json`: [`Record`];
//! - `history.jsonl`: every op the clients ran;
//! - `pings.jsonl`: the reference PINGs;
//! - `watch.json`: the watcher's recording of every node's view;
//! - `keys.jsonl`: every key's value before the run and at its end;
//! - `keyspace.jsonl`: the keyspace sampler's readings;
//! - `locks.jsonl`, `replication.json`, `stampede.json`, when the drill ran
//!   a lock workload, the replication probe, a stampede workload;
//! - `invalidation.json`, when the drill ran the invalidation workload
//!   (compact: a long drill records millions of ops);
//! - `sentinel.jsonl`, when the topology has Sentinels: their events;
//! - what the check makes of them: `report.json`, `report.md`, `report.xml`, `report.html`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::invalidation::InvalidationRecording;
use super::jsonl::{self, JsonlError};
use super::keyspace::KeyspaceSample;
use super::locks::{LOCKS_FILE, LockHistoryError, LockRecording};
use super::ops::History;
use super::pings::Ping;
use super::replication::ReplRecording;
use super::run::{KeyValues, RECORD_VERSION, Record};
use super::sentinel::{SENTINEL_FILE, SentinelRecording};
use super::stampede::StampedeRecording;
use super::valid::{self, Defect};
use super::watch::Recording;

/// The record's file in a run folder.
pub const RECORD_FILE: &str = "record.json";
/// The clients' history.
pub const HISTORY_FILE: &str = "history.jsonl";
/// The reference PINGs.
pub const PINGS_FILE: &str = "pings.jsonl";
/// The watcher's recording.
pub const WATCH_FILE: &str = "watch.json";
/// Every key before the run and at its end.
pub const KEYS_FILE: &str = "keys.jsonl";
/// The replication probe's file in a run folder.
pub const REPLICATION_FILE: &str = "replication.json";

/// The stampede workload's file in a run folder.
pub const STAMPEDE_FILE: &str = "stampede.json";
/// The invalidation workload's file in a run folder.
pub const INVALIDATION_FILE: &str = "invalidation.json";
/// The keyspace sampler's file in a run folder.
pub const KEYSPACE_FILE: &str = "keyspace.jsonl";

/// A run as stored: all the check needs.
#[derive(Debug, Clone)]
pub struct Stored {
    pub record: Record,
    pub history: History,
    pub pings: Vec<Ping>,
    pub watch: Recording,
    pub keys: Vec<KeyValues>,
    /// The lock workload's history, when the drill ran one.
    pub locks: Option<LockRecording>,
    /// The keyspace sampler's readings (empty in runs stored before it).
    pub keyspace: Vec<KeyspaceSample>,
    /// The replication probe's history, when the drill ran one.
    pub replication: Option<ReplRecording>,
    /// The stampede workload's history, when the drill ran one.
    pub stampede: Option<StampedeRecording>,
    /// The invalidation workload's history, when the drill ran one.
    pub invalidation: Option<InvalidationRecording>,
    /// The Sentinels' events, when the topology has Sentinels.
    pub sentinel: Option<SentinelRecording>,
}

/// A stored run that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    #[error("{}: record version {found}; this redis-drill reads version {RECORD_VERSION}", path.display())]
    Version { path: PathBuf, found: u32 },
    /// One of the run's files could not be written or read back whole (its
    /// I/O, its JSON, or a JSON-lines file's count); the same errors as
    /// [`JsonlError`]'s, so the two are one type.
    #[error("{0}")]
    File(#[from] JsonlError),
    #[error("{0}")]
    Locks(#[from] LockHistoryError),
    #[error("{}/{invalid}", dir.display())]
    Invalid { dir: PathBuf, invalid: Defect },
}

impl Stored {
    /// Store the run in `dir` (the folder of one run).
    pub fn write(&self, dir: &Path) -> Result<(), StoredError> {
        let io = |name: &str| {
            let path = dir.join(name);
            move |source| StoredError::from(JsonlError::Io { path, source })
        };
        std::fs::write(dir.join(RECORD_FILE), pretty(&self.record)).map_err(io(RECORD_FILE))?;
        std::fs::write(dir.join(WATCH_FILE), pretty(&self.watch)).map_err(io(WATCH_FILE))?;
        jsonl::write(&dir.join(HISTORY_FILE), &self.history)?;
        jsonl::write(&dir.join(PINGS_FILE), &self.pings)?;
        jsonl::write(&dir.join(KEYS_FILE), &self.keys)?;
        jsonl::write(&dir.join(KEYSPACE_FILE), &self.keyspace)?;
        if let Some(locks) = &self.locks {
            locks.write_jsonl(&dir.join(LOCKS_FILE))?;
        }
        if let Some(rec) = &self.replication {
            std::fs::write(dir.join(REPLICATION_FILE), pretty(rec))
                .map_err(io(REPLICATION_FILE))?;
        }
        if let Some(rec) = &self.stampede {
            std::fs::write(dir.join(STAMPEDE_FILE), pretty(rec)).map_err(io(STAMPEDE_FILE))?;
        }
        if let Some(rec) = &self.invalidation {
            let bytes = serde_json::to_vec(rec).expect("plain data serializes");
            std::fs::write(dir.join(INVALIDATION_FILE), bytes).map_err(io(INVALIDATION_FILE))?;
        }
        if let Some(rec) = &self.sentinel {
            jsonl::write(&dir.join(SENTINEL_FILE), &rec.events)?;
        }
        Ok(())
    }

    /// Read back the run stored in `dir`.
    pub fn read(dir: &Path) -> Result<Stored, StoredError> {
        let record: Record = read_json(&dir.join(RECORD_FILE))?;
        if record.record_version != RECORD_VERSION {
            return Err(StoredError::Version {
                path: dir.join(RECORD_FILE),
                found: record.record_version,
            });
        }
        let invalid = |invalid| StoredError::Invalid {
            dir: dir.to_path_buf(),
            invalid,
        };
        valid::record(&record, RECORD_FILE).map_err(invalid)?;
        let history = jsonl::read(&dir.join(HISTORY_FILE))?;
        valid::history(&record, &history, HISTORY_FILE).map_err(invalid)?;
        let pings = jsonl::read(&dir.join(PINGS_FILE))?;
        valid::pings(&record, &pings, PINGS_FILE).map_err(invalid)?;
        let keys = jsonl::read(&dir.join(KEYS_FILE))?;
        valid::keys(&keys, KEYS_FILE).map_err(invalid)?;
        let keyspace = jsonl::read(&dir.join(KEYSPACE_FILE))?;
        valid::keyspace(&record, &keyspace, KEYSPACE_FILE).map_err(invalid)?;
        let watch: Recording = read_json(&dir.join(WATCH_FILE))?;
        valid::watch(&record, &watch, WATCH_FILE).map_err(invalid)?;
        Ok(Stored {
            record,
            history: entries(history),
            pings: entries(pings),
            watch,
            keys: entries(keys),
            locks: match dir.join(LOCKS_FILE) {
                p if p.exists() => Some(LockRecording::read_jsonl(&p)?),
                _ => None,
            },
            keyspace: entries(keyspace),
            replication: match dir.join(REPLICATION_FILE) {
                p if p.exists() => Some(read_json(&p)?),
                _ => None,
            },
            stampede: match dir.join(STAMPEDE_FILE) {
                p if p.exists() => Some(read_json(&p)?),
                _ => None,
            },
            invalidation: match dir.join(INVALIDATION_FILE) {
                p if p.exists() => Some(read_json(&p)?),
                _ => None,
            },
            sentinel: match dir.join(SENTINEL_FILE) {
                p if p.exists() => Some(SentinelRecording {
                    events: entries(jsonl::read(&p)?),
                }),
                _ => None,
            },
        })
    }
}

/// A value as pretty JSON (these plain types always serialize).
fn pretty<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(v).expect("plain data serializes")
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, StoredError> {
    let bytes = std::fs::read(path).map_err(|source| JsonlError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(
        serde_json::from_slice(&bytes).map_err(|source| JsonlError::Parse {
            path: path.to_path_buf(),
            line: source.line(),
            source,
        })?,
    )
}

/// The entries of a counted JSON-lines file, without their line numbers.
fn entries<T>(lines: Vec<(usize, T)>) -> Vec<T> {
    lines.into_iter().map(|(_, x)| x).collect()
}
