//! The keyspace sampler: every node's own count of evictions, expiries,
//! keyspace hits and misses, and its memory, read every second during a
//! drill (`INFO stats` and `INFO memory` in one round trip). It is the
//! cross-check of the clients' hit ratio, which comes from the history: two
//! independent counts of the same lookups.
//!
//! The drill resets the primaries' statistics at each phase's end
//! (`CONFIG RESETSTAT`, for the servers' command figures), and a restarted
//! node starts from 0. So a *boundary* sample is read just before each
//! reset, tagged with the phase it closes and whether the node is reset
//! after it; [`phase_deltas`] (pure) adds up each counter's increments from
//! sample to sample, counting from 0 after a reset or when a counter went
//! down (a restart). A node's first sample is the base: what it counted
//! before the drill (and in the few milliseconds between the primaries'
//! reset and that sample) is not counted.
//!
//! A sample belongs to the phase its node's next boundary sample closes
//! (phases are separated by the drill's own steps, and a second's sample
//! may fall between two). A node that does not answer within the poll's
//! timeout is left out of that second; its next answer covers the gap.

pub use crate::record::keyspace::{InfoCounters, KeyspaceSample};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::poll::Ticks;

use super::conn::{ConnectOptions, NodeConn, parse_info};
use super::error::ClusterError;
use crate::record::timeline::{Clock, Phase};

/// Once a second: the pace of `INFO`'s own counters as people read them,
/// and far below any cost to the nodes.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Samples kept per node: an hour at one a second (a drill runs minutes).
pub const MAX_SAMPLES_PER_NODE: usize = 3600;

/// A poll's timeout: a paused node must not hold the next second back.
const POLL_TIMEOUT: Duration = Duration::from_millis(500);

/// How long [`KeyspaceSampler::stop`] waits for a task after cancelling it.
const STOP_GRACE: Duration = Duration::from_secs(2);

impl InfoCounters {
    /// The counters of `INFO stats` + `INFO memory` text; `None` without
    /// `keyspace_hits` (not an INFO reply).
    pub fn parse(info: &str) -> Option<InfoCounters> {
        let f = parse_info(info);
        let n = |k: &str| f.get(k).and_then(|v| v.trim().parse::<u64>().ok());
        Some(InfoCounters {
            evicted_keys: n("evicted_keys").unwrap_or(0),
            expired_keys: n("expired_keys").unwrap_or(0),
            keyspace_hits: n("keyspace_hits")?,
            keyspace_misses: n("keyspace_misses").unwrap_or(0),
            used_memory: n("used_memory").unwrap_or(0),
            maxmemory: n("maxmemory").unwrap_or(0),
            sync_full: n("sync_full").unwrap_or(0),
            sync_partial_ok: n("sync_partial_ok").unwrap_or(0),
        })
    }
}

/// What every node counted in one phase, summed over the nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseDelta {
    pub evicted_keys: u64,
    pub expired_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    /// The largest `used_memory` of any node in the phase (bytes).
    pub used_memory_max: u64,
    /// Samples that fell in the phase.
    pub samples: u64,
    /// Full and partial resyncs the nodes served as primaries.
    #[serde(default)]
    pub sync_full: u64,
    #[serde(default)]
    pub sync_partial_ok: u64,
}

impl PhaseDelta {
    /// Hits over hits and misses, `None` without lookups.
    pub fn hit_ratio(&self) -> Option<f64> {
        let n = self.keyspace_hits + self.keyspace_misses;
        (n > 0).then(|| self.keyspace_hits as f64 / n as f64)
    }
}

/// Each phase's counts, from the samples (see the module docs). Pure.
pub fn phase_deltas(samples: &[KeyspaceSample], phases: &[Phase]) -> BTreeMap<String, PhaseDelta> {
    let mut out: BTreeMap<String, PhaseDelta> = phases
        .iter()
        .map(|p| (p.name.clone(), PhaseDelta::default()))
        .collect();
    let mut by_node: BTreeMap<&str, Vec<&KeyspaceSample>> = BTreeMap::new();
    for s in samples {
        by_node.entry(s.node.as_str()).or_default().push(s);
    }
    for list in by_node.values_mut() {
        list.sort_by_key(|s| s.at_ns);
        // A sample's counts belong to the phase its node's next boundary
        // closes (the reset comes after that boundary, whatever the clock
        // says); after the last boundary, to the phase it fell in, if any.
        let mut next_boundary: Vec<Option<&str>> = vec![None; list.len()];
        let mut next: Option<&str> = None;
        for (i, s) in list.iter().enumerate().rev() {
            if let Some(p) = &s.phase_end {
                next = Some(p.as_str());
            }
            next_boundary[i] = next;
        }
        let mut prev: Option<&KeyspaceSample> = None;
        for (i, s) in list.iter().enumerate() {
            let phase = next_boundary[i].or_else(|| {
                phases
                    .iter()
                    .find(|p| (p.start_ns..p.end_ns).contains(&s.at_ns))
                    .map(|p| p.name.as_str())
            });
            let step = |now: u64, before: Option<u64>| match before {
                Some(b) if now >= b => now - b,
                _ => now,
            };
            let base = prev.filter(|p| !p.reset).map(|p| p.counters);
            if let Some(d) = phase.and_then(|p| out.get_mut(p)) {
                let c = &s.counters;
                d.used_memory_max = d.used_memory_max.max(c.used_memory);
                d.samples += 1;
                // A node's first sample is the base its counts start from.
                if prev.is_none() {
                    prev = Some(s);
                    continue;
                }
                d.evicted_keys += step(c.evicted_keys, base.map(|b| b.evicted_keys));
                d.expired_keys += step(c.expired_keys, base.map(|b| b.expired_keys));
                d.keyspace_hits += step(c.keyspace_hits, base.map(|b| b.keyspace_hits));
                d.keyspace_misses += step(c.keyspace_misses, base.map(|b| b.keyspace_misses));
                d.sync_full += step(c.sync_full, base.map(|b| b.sync_full));
                d.sync_partial_ok += step(c.sync_partial_ok, base.map(|b| b.sync_partial_ok));
            }
            prev = Some(s);
        }
    }
    out
}

/// Read one node's counters.
async fn read(
    conn: &mut Option<NodeConn>,
    name: &str,
    addr: SocketAddr,
) -> Result<InfoCounters, ClusterError> {
    let opts = ConnectOptions {
        connect_timeout: POLL_TIMEOUT,
        response_timeout: POLL_TIMEOUT,
    };
    let c = NodeConn::kept(conn, name, addr, opts).await?;
    let mut p = redis::pipe();
    p.cmd("INFO").arg("stats").cmd("INFO").arg("memory");
    let (stats, memory): (String, String) = c.run_pipe(&p, "INFO stats + INFO memory").await?;
    InfoCounters::parse(&format!("{stats}\r\n{memory}")).ok_or_else(|| ClusterError::Command {
        node: name.to_string(),
        addr,
        command: "INFO stats".into(),
        source: redis::RedisError::from((
            redis::ErrorKind::Parse,
            "no keyspace_hits in INFO stats",
        )),
    })
}

/// The sampler's tasks and their shared log.
pub struct KeyspaceSampler {
    stop: CancellationToken,
    nodes: Vec<(String, SocketAddr)>,
    clock: Clock,
    log: Arc<Mutex<Vec<KeyspaceSample>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl KeyspaceSampler {
    /// One task per node, each reading it every `interval` from now until
    /// [`KeyspaceSampler::stop`], `cancel`, or [`MAX_SAMPLES_PER_NODE`].
    pub fn start(
        nodes: Vec<(String, SocketAddr)>,
        clock: Clock,
        interval: Duration,
        cancel: CancellationToken,
    ) -> KeyspaceSampler {
        let stop = cancel.child_token();
        let log = Arc::new(Mutex::new(Vec::new()));
        let tasks = nodes
            .iter()
            .map(|(name, addr)| {
                let (name, addr, stop, log) = (name.clone(), *addr, stop.clone(), log.clone());
                tokio::spawn(async move {
                    let mut conn = None;
                    let mut ticks = Ticks::new(interval, &stop, MAX_SAMPLES_PER_NODE);
                    while ticks.next().await {
                        let read = tokio::time::timeout(POLL_TIMEOUT, read(&mut conn, &name, addr));
                        match ticks.or_stop(read).await {
                            None => return,
                            Some(Ok(Ok(counters))) => lock(&log).push(KeyspaceSample {
                                at_ns: clock.now_ns(),
                                node: name.clone(),
                                counters,
                                phase_end: None,
                                reset: false,
                            }),
                            Some(_) => conn = None,
                        }
                    }
                })
            })
            .collect();
        KeyspaceSampler {
            stop,
            nodes,
            clock,
            log,
            tasks,
        }
    }

    /// Read every node now, as the boundary of the phase `phase`; the nodes
    /// in `reset` are about to have their statistics reset.
    pub async fn boundary(&self, phase: &str, reset: &BTreeSet<String>) {
        let reads = self.nodes.iter().map(|(name, addr)| async move {
            let mut conn = None;
            let r = tokio::time::timeout(POLL_TIMEOUT, read(&mut conn, name, *addr)).await;
            (name, r)
        });
        for (name, r) in futures::future::join_all(reads).await {
            if let Ok(Ok(counters)) = r {
                lock(&self.log).push(KeyspaceSample {
                    at_ns: self.clock.now_ns(),
                    node: name.clone(),
                    counters,
                    phase_end: Some(phase.to_string()),
                    reset: reset.contains(name),
                });
            }
        }
    }

    /// Stop and return every sample, by time then node.
    pub async fn stop(mut self) -> Vec<KeyspaceSample> {
        self.stop.cancel();
        for mut task in std::mem::take(&mut self.tasks) {
            if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
                task.abort();
            }
        }
        let mut out = std::mem::take(&mut *lock(&self.log));
        out.sort_by(|a, b| (a.at_ns, &a.node).cmp(&(b.at_ns, &b.node)));
        out
    }
}

impl Drop for KeyspaceSampler {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The latest counters of each node, for a test or a status line.
pub fn latest(samples: &[KeyspaceSample]) -> HashMap<&str, InfoCounters> {
    let mut out = HashMap::new();
    for s in samples {
        out.insert(s.node.as_str(), s.counters);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, node: &str, evicted: u64, misses: u64) -> KeyspaceSample {
        KeyspaceSample {
            at_ns: at_ms * 1_000_000,
            node: node.into(),
            counters: InfoCounters {
                evicted_keys: evicted,
                keyspace_misses: misses,
                used_memory: evicted * 10,
                ..InfoCounters::default()
            },
            phase_end: None,
            reset: false,
        }
    }

    fn phase(name: &str, from_ms: u64, to_ms: u64) -> Phase {
        Phase {
            name: name.into(),
            start_ns: from_ms * 1_000_000,
            end_ns: to_ms * 1_000_000,
        }
    }

    #[test]
    fn parse_info_text() {
        let text = "# Stats\r\nexpired_keys:3\r\nevicted_keys:42\r\nkeyspace_hits:900\r\nkeyspace_misses:100\r\nsync_full:2\r\nsync_partial_ok:1\r\n\r\n# Memory\r\nused_memory:1048576\r\nmaxmemory:4194304\r\n";
        let c = InfoCounters::parse(text).unwrap();
        assert_eq!(
            c,
            InfoCounters {
                evicted_keys: 42,
                expired_keys: 3,
                keyspace_hits: 900,
                keyspace_misses: 100,
                used_memory: 1_048_576,
                maxmemory: 4_194_304,
                sync_full: 2,
                sync_partial_ok: 1,
            }
        );
        assert_eq!(InfoCounters::parse("# Memory\r\nused_memory:1\r\n"), None);
    }

    #[test]
    fn deltas_across_resets_and_restarts() {
        let phases = [phase("baseline", 0, 1000), phase("during", 1000, 3000)];
        let mut b1 = sample(1001, "a", 50, 5);
        b1.phase_end = Some("baseline".into());
        b1.reset = true;
        let mut b2 = sample(3001, "a", 7, 70);
        b2.phase_end = Some("during".into());
        let samples = vec![
            sample(0, "a", 0, 0),
            sample(500, "a", 20, 2),
            // Between the phases, before the boundary: still baseline's.
            sample(1000, "a", 40, 4),
            b1,
            // After the reset: counts from 0.
            sample(1500, "a", 10, 30),
            // A restart: the counter went down, counts from 0 again.
            sample(2500, "a", 4, 60),
            b2,
            // Another node, never reset; a sample after every phase is left out.
            sample(100, "b", 100, 0),
            sample(2000, "b", 130, 1),
            sample(9000, "b", 999, 9),
        ];
        let d = phase_deltas(&samples, &phases);
        // b's first sample is its base.
        assert_eq!(
            (d["baseline"].evicted_keys, d["baseline"].keyspace_misses),
            (50, 5)
        );
        // a: 10 + 4 + (7 - 4); b: 30.
        assert_eq!(d["during"].evicted_keys, 17 + 30);
        assert_eq!(d["during"].keyspace_misses, 30 + 30 + 10 + 1);
        assert_eq!(d["during"].samples, 4);
        assert_eq!(d["baseline"].samples, 5);
        assert_eq!(d["baseline"].used_memory_max, 1000);
    }
}
