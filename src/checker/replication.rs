//! Replication lag, from the replication probe's history
//! ([`crate::workload::replication`]): for every acknowledged write and every
//! replica of its primary, the time from the acknowledgement until a read of
//! that replica returned the write's value (or a later one). Pure.
//!
//! - **Lag** is measured to the end of the first read that saw the value: an
//!   upper bound, above the true lag by at most one polling interval plus a
//!   read's round trip (the report states that resolution).
//! - **The physical floor.** A write's value crosses the link from the
//!   primary's region to the replica's once, so no replica can show it
//!   sooner than the link's one-way delay (less its jitter) after the write
//!   was sent. A read that did is a floor violation: a clock or measurement
//!   bug, never a fast network. It is counted, not hidden.
//! - **Unseen**: an acknowledged write no read of a replica ever returned
//!   (nor a later one) — lost on that replica, or still on its way when the
//!   probe stopped. Writes acknowledged in the last [`TAIL_NS`] of the
//!   recording are not judged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::latency::{Latency, percentiles};
use crate::record::replication::{ReplSeen, ReplWrite};

/// Writes acknowledged this close to the end of the recording are not judged.
pub const TAIL_NS: u64 = 2_000_000_000;

/// A replica, where it is, and the link its primary's writes cross to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaPlace {
    pub replica: String,
    pub region: String,
    pub primary: String,
    pub primary_region: String,
    /// The declared one-way delay and jitter between the two regions (0
    /// inside a region).
    pub one_way_ms: f64,
    pub jitter_ms: f64,
}

/// One replica's lag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicaLag {
    pub replica: String,
    pub region: String,
    pub primary: String,
    pub primary_region: String,
    pub one_way_ms: f64,
    /// Acknowledged writes judged (not in the tail).
    pub writes_judged: u64,
    /// Of them, never seen on this replica.
    pub unseen: u64,
    /// Acknowledgement → the end of the first read that saw the value, ms.
    pub lag_ms: Latency,
    /// Send → the end of that read: never below `one_way_ms` (less jitter).
    pub after_send_min_ms: Option<f64>,
    pub floor_violations: u64,
}

/// The lag of every replica in one region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionLag {
    pub region: String,
    pub replicas: Vec<String>,
    /// The declared one-way delay from the primaries' region (the largest,
    /// when primaries sit in several).
    pub one_way_ms: f64,
    pub writes_judged: u64,
    pub unseen: u64,
    pub lag_ms: Latency,
    pub floor_violations: u64,
    /// The lag of the writes acknowledged in each phase, in run order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_phase: Vec<PhaseLag>,
}

/// The lag of the writes acknowledged in one phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseLag {
    pub phase: String,
    pub lag_ms: Latency,
    pub unseen: u64,
}

/// What the replication checker found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Replication {
    pub replicas: Vec<ReplicaLag>,
    pub regions: Vec<RegionLag>,
    /// Write latency (send → `+OK`) of the probe's plain writes, ms.
    pub write_ms: Latency,
    /// Send → `WAIT 1`'s answer, for the writes followed by WAIT, ms: what
    /// waiting for one replica costs a writer.
    pub write_wait_ms: Latency,
    /// WAITs that counted no replica (timed out).
    pub wait_short: u64,
    pub writes: u64,
    pub writes_acked: u64,
    /// Resyncs the primaries served from the baseline on (their `INFO
    /// stats` `sync_full` and `sync_partial_ok`, sampled each second): a
    /// replica cut off for longer than its primary's backlog covers needs a
    /// full one.
    #[serde(default)]
    pub resyncs_full: u64,
    #[serde(default)]
    pub resyncs_partial: u64,
}

/// Judge the probe's history. `places` says where each replica is;
/// `phases` (name, start, end in ns) split each region's lag by when the
/// write was acknowledged.
pub fn replication(
    writes: &[ReplWrite],
    seen: &[ReplSeen],
    places: &[ReplicaPlace],
    phases: &[(String, u64, u64)],
) -> Replication {
    let end_ns = writes
        .iter()
        .map(|w| w.sent_ns)
        .chain(seen.iter().map(|s| s.end_ns))
        .max()
        .unwrap_or(0);
    let mut out = Replication {
        writes: writes.len() as u64,
        writes_acked: writes.iter().filter(|w| w.ack_ns.is_some()).count() as u64,
        write_ms: percentiles(
            writes
                .iter()
                .filter(|w| w.wait_end_ns.is_none())
                .filter_map(|w| Some(w.ack_ns?.saturating_sub(w.sent_ns))),
        ),
        write_wait_ms: percentiles(
            writes
                .iter()
                .filter_map(|w| Some(w.wait_end_ns?.saturating_sub(w.sent_ns))),
        ),
        wait_short: writes.iter().filter(|w| w.wait_replicas == Some(0)).count() as u64,
        ..Default::default()
    };
    let mut by_region: BTreeMap<&str, (Judged, RegionLag)> = BTreeMap::new();
    for place in places {
        let (r, judged_here) = replica_lag(place, writes, seen, end_ns);
        let (all, region) = by_region.entry(&place.region).or_default();
        all.extend(judged_here.iter().copied());
        region.region.clone_from(&place.region);
        region.replicas.push(place.replica.clone());
        region.one_way_ms = region.one_way_ms.max(place.one_way_ms);
        region.writes_judged += r.writes_judged;
        region.unseen += r.unseen;
        region.floor_violations += r.floor_violations;
        out.replicas.push(r);
    }
    out.regions = by_region
        .into_values()
        .map(|(all, mut region)| {
            region.lag_ms = percentiles(all.iter().filter_map(|(_, l)| *l));
            region.by_phase = phase_lags(&all, phases);
            region
        })
        .collect();
    out
}

/// Every judged write's acknowledgement and its lag (`None`: unseen).
type Judged = Vec<(u64, Option<u64>)>;

/// One replica's lag: for each acknowledged write of its primary (but the
/// last [`TAIL_NS`]), the first read that saw it or a later one.
fn replica_lag(
    place: &ReplicaPlace,
    writes: &[ReplWrite],
    seen: &[ReplSeen],
    end_ns: u64,
) -> (ReplicaLag, Judged) {
    let mut reads: Vec<&ReplSeen> = seen.iter().filter(|s| s.replica == place.replica).collect();
    reads.sort_by_key(|s| s.end_ns);
    let floor_ns = ((place.one_way_ms - place.jitter_ms).max(0.0) * 1e6) as u64;
    let mut lags = Vec::new();
    let mut r = ReplicaLag {
        replica: place.replica.clone(),
        region: place.region.clone(),
        primary: place.primary.clone(),
        primary_region: place.primary_region.clone(),
        one_way_ms: place.one_way_ms,
        ..Default::default()
    };
    let mut after_send_min: Option<u64> = None;
    let mut judged_here = Vec::new();
    for w in writes.iter().filter(|w| w.primary == place.primary) {
        let Some(ack) = w.ack_ns else { continue };
        if ack.saturating_add(TAIL_NS) > end_ns {
            continue;
        }
        r.writes_judged += 1;
        // The first read, after the write was sent, that saw it or later.
        let Some(s) = reads
            .iter()
            .find(|s| s.value >= w.seq && s.end_ns >= w.sent_ns)
        else {
            r.unseen += 1;
            judged_here.push((ack, None));
            continue;
        };
        lags.push(s.end_ns.saturating_sub(ack));
        judged_here.push((ack, Some(s.end_ns.saturating_sub(ack))));
        let after_send = s.end_ns - w.sent_ns;
        after_send_min = Some(after_send_min.map_or(after_send, |m| m.min(after_send)));
        if after_send < floor_ns {
            r.floor_violations += 1;
        }
    }
    r.lag_ms = percentiles(lags.iter().copied());
    r.after_send_min_ms = after_send_min.map(|ns| ns as f64 / 1e6);
    (r, judged_here)
}

/// A region's lag per phase, by when the write was acknowledged; phases
/// with nothing judged are left out.
fn phase_lags(all: &Judged, phases: &[(String, u64, u64)]) -> Vec<PhaseLag> {
    phases
        .iter()
        .map(|(name, from, to)| {
            let here = || all.iter().filter(|(ack, _)| (*from..*to).contains(ack));
            PhaseLag {
                phase: name.clone(),
                lag_ms: percentiles(here().filter_map(|(_, l)| *l)),
                unseen: here().filter(|(_, l)| l.is_none()).count() as u64,
            }
        })
        .filter(|p| p.lag_ms.count + p.unseen > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn write(seq: u64, sent_ms: u64, ack_ms: u64) -> ReplWrite {
        ReplWrite {
            primary: "p".into(),
            key: "k".into(),
            seq,
            sent_ns: sent_ms * MS,
            ack_ns: Some(ack_ms * MS),
            wait_end_ns: None,
            wait_replicas: None,
        }
    }

    fn seen(replica: &str, value: u64, end_ms: u64) -> ReplSeen {
        ReplSeen {
            replica: replica.into(),
            primary: "p".into(),
            value,
            sent_ns: end_ms * MS - MS / 10,
            end_ns: end_ms * MS,
            prev_sent_ns: Some(end_ms * MS - MS),
        }
    }

    fn place(replica: &str, region: &str, one_way_ms: f64) -> ReplicaPlace {
        ReplicaPlace {
            replica: replica.into(),
            region: region.into(),
            primary: "p".into(),
            primary_region: "eu".into(),
            one_way_ms,
            jitter_ms: 0.0,
        }
    }

    #[test]
    fn lag_runs_from_the_ack_to_the_first_read_that_saw_the_value_or_a_later_one() {
        let writes = [
            write(1, 0, 1),
            write(2, 50, 51),
            write(3, 100, 101),
            write(4, 5000, 5001),
        ];
        // us (40 ms away) sees 1 at 42, skips 2 (sees 3 at 142: 2 is in it),
        // ap never sees 3.
        let reads = [
            seen("us", 1, 42),
            seen("us", 3, 142),
            seen("ap", 1, 77),
            seen("ap", 2, 127),
            seen("us", 4, 6000),
        ];
        let places = [place("us", "us-east", 40.0), place("ap", "ap-south", 75.0)];
        let phases = [
            ("baseline".to_string(), 0, 60 * MS),
            ("during".to_string(), 60 * MS, 10_000 * MS),
        ];
        let r = replication(&writes, &reads, &places, &phases);
        let us = &r.replicas[0];
        // Write 4 is in the last 2 s of the recording: not judged.
        assert_eq!(
            (us.writes_judged, us.unseen, us.floor_violations),
            (3, 0, 0)
        );
        assert_eq!(us.lag_ms.count, 3);
        assert!((us.lag_ms.max - 91.0).abs() < 0.5, "{:?}", us.lag_ms);
        assert!((us.after_send_min_ms.unwrap() - 42.0).abs() < 1e-9);
        let ap = &r.replicas[1];
        assert_eq!((ap.writes_judged, ap.unseen), (3, 1));
        assert_eq!(r.regions.len(), 2);
        assert_eq!(r.regions[0].region, "ap-south");
        assert_eq!(r.regions[1].lag_ms.count, 3);
        // By phase: writes 1 and 2 (acked at 1 and 51 ms) in baseline, 3
        // during: ap's unseen write is the during one.
        let ap_phases: Vec<(&str, u64, u64)> = r.regions[0]
            .by_phase
            .iter()
            .map(|p| (p.phase.as_str(), p.lag_ms.count, p.unseen))
            .collect();
        assert_eq!(ap_phases, [("baseline", 2, 0), ("during", 0, 1)]);
    }

    #[test]
    fn a_value_seen_sooner_than_the_link_allows_is_a_floor_violation() {
        let writes = [write(1, 0, 1), write(2, 1000, 1001), write(3, 9000, 9001)];
        // Seen 10 ms after it was sent across a 40 ms link: impossible.
        let reads = [seen("us", 1, 45), seen("us", 2, 1010)];
        let r = replication(&writes, &reads, &[place("us", "us-east", 40.0)], &[]);
        assert_eq!(r.replicas[0].floor_violations, 1);
        assert_eq!(r.regions[0].floor_violations, 1);
        // With 25 ms of jitter declared, 10 ms is below even 40 - 25: still one.
        let mut jittery = place("us", "us-east", 40.0);
        jittery.jitter_ms = 25.0;
        assert_eq!(
            replication(&writes, &reads, &[jittery], &[]).replicas[0].floor_violations,
            1
        );
        // A replica in the primary's own region has no floor.
        let r = replication(&writes, &reads, &[place("us", "eu", 0.0)], &[]);
        assert_eq!(r.replicas[0].floor_violations, 0);
    }

    #[test]
    fn wait_costs_and_short_waits_are_counted_apart() {
        let mut w1 = write(1, 0, 1);
        w1.wait_end_ns = Some(82 * MS);
        w1.wait_replicas = Some(1);
        let mut w2 = write(2, 100, 101);
        w2.wait_end_ns = Some(1100 * MS);
        w2.wait_replicas = Some(0);
        let r = replication(&[w1, w2, write(3, 200, 201)], &[], &[], &[]);
        assert_eq!(
            (r.write_ms.count, r.write_wait_ms.count, r.wait_short),
            (1, 2, 1)
        );
        assert!((r.write_ms.max - 1.0).abs() < 0.01);
        assert!(
            (r.write_wait_ms.max - 1000.0).abs() < 1.0,
            "{:?}",
            r.write_wait_ms
        );
    }
}
