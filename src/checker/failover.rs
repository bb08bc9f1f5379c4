//! What the watcher's recording says, after the run: when the other nodes
//! suspected a failed primary (`fail?`), agreed it had failed (`fail`), when
//! its replica took over and when every node was back to
//! `cluster_state:ok` ([`failover`]); how an old primary came back as a
//! replica ([`rejoin`]); when every node agreed again ([`converged`]); the
//! windows to draw on the report's charts ([`state_fail_intervals`],
//! [`unreachable_intervals`]); and the spec's bounds for a promotion.
//!
//! Pure: a [`Recording`] in, figures out, so a stored run is analysed again
//! offline. Every time is only as precise as the polling interval.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::record::watch::Role;
use crate::record::watch::{PeerFlags, Recording, Sample};

/// Timings of an automatic failover, from a recording. Times are nanoseconds
/// on the run's clock, `None` when the event was not seen; `*_after_ms` are
/// the same times in milliseconds after the fault. Each is only as precise as
/// the polling interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailoverTimeline {
    /// The primary the fault hit.
    pub failed: String,
    pub fault_ns: u64,
    /// First time another node flagged `failed` as `fail?` (or already `fail`).
    pub pfail_first_ns: Option<u64>,
    /// Which node that was.
    pub pfail_by: Option<String>,
    /// First time another node flagged `failed` as `fail`.
    pub fail_first_ns: Option<u64>,
    pub fail_by: Option<String>,
    /// First time every other reachable primary flagged `failed` as `fail`.
    pub fail_all_ns: Option<u64>,
    /// First time a former replica of `failed` reported itself a primary, or
    /// another node saw it as a primary serving slots.
    pub promoted_ns: Option<u64>,
    /// The promoted replica.
    pub promoted: Option<String>,
    /// After the promotion, first time every reachable node but `failed`
    /// reported `cluster_state:ok`: the cluster serves every slot again.
    pub state_ok_all_ns: Option<u64>,
    /// After the promotion, first time every reachable node but `failed`
    /// agreed on who serves how many slots, the promoted node among them.
    pub agreed_ns: Option<u64>,
    /// Highest `cluster_current_epoch` reported before the fault.
    pub epoch_before: Option<u64>,
    /// The promoted node's `cluster_current_epoch` when first seen after its
    /// promotion: a failover takes a new epoch.
    pub epoch_after: Option<u64>,
    pub pfail_after_ms: Option<f64>,
    pub fail_after_ms: Option<f64>,
    pub fail_all_after_ms: Option<f64>,
    pub promoted_after_ms: Option<f64>,
    /// Until [`FailoverTimeline::state_ok_all_ns`]: the outage as the nodes saw it.
    pub recovered_after_ms: Option<f64>,
    pub agreed_after_ms: Option<f64>,
}

/// The failover that followed a fault on the primary `failed` at `fault_ns`.
///
/// Only samples at or after `fault_ns` count. `failed`'s own samples are left
/// out everywhere: it may be dead, paused, or alive on the wrong side of a
/// partition (then it reports `cluster_state:fail` as a minority); how it
/// comes back is [`rejoin`]'s business. Unreachable observers are ignored.
pub fn failover(rec: &Recording, failed: &str, fault_ns: u64) -> FailoverTimeline {
    let samples = in_order(rec);
    let others = || {
        samples
            .iter()
            .copied()
            .filter(|s| s.at_ns >= fault_ns && s.reachable && s.observer != failed)
    };
    let flagged = |pick: fn(&PeerFlags) -> bool| {
        others()
            .find(|s| s.peer(failed).is_some_and(|p| pick(&p.flags)))
            .map(|s| (s.at_ns, s.observer.clone()))
    };
    let pfail = flagged(|f| f.pfail || f.fail);
    let fail = flagged(|f| f.fail);
    let fail_all = first_time(&samples, fault_ns, failed, |latest| {
        let mut primaries = latest
            .iter()
            .filter(|s| s.role == Some(Role::Primary))
            .peekable();
        primaries.peek().is_some()
            && primaries.all(|s| s.peer(failed).is_some_and(|p| p.flags.fail))
    });

    let former = replicas_of(&samples, failed, fault_ns);
    let promoted = others().find_map(|s| {
        if former.contains(s.observer.as_str()) && s.role == Some(Role::Primary) {
            return Some((s.at_ns, s.observer.clone()));
        }
        s.peers
            .iter()
            .find(|p| former.contains(p.name.as_str()) && p.flags.primary && p.slots > 0)
            .map(|p| (s.at_ns, p.name.clone()))
    });
    let (promoted_ns, promoted) = promoted.unzip();

    let state_ok_all = promoted_ns.and_then(|from| {
        first_time(&samples, from, failed, |latest| {
            latest.iter().all(|s| s.state_ok)
        })
    });
    let agreed = promoted_ns.zip(promoted.as_deref()).and_then(|(from, p)| {
        first_time(&samples, from, failed, |latest| {
            let owners = latest[0].owners();
            agree(latest.iter().copied()) == Some(true)
                && owners.get(p).is_some_and(|&n| n > 0)
                && !owners.contains_key(failed)
        })
    });

    let epoch_before = samples
        .iter()
        .filter(|s| s.at_ns < fault_ns && s.reachable)
        .map(|s| s.epoch)
        .max();
    let epoch_after = promoted_ns.zip(promoted.as_deref()).and_then(|(from, p)| {
        samples
            .iter()
            .find(|s| s.at_ns >= from && s.reachable && s.observer == p)
            .map(|s| s.epoch)
    });

    let (pfail_first_ns, pfail_by) = pfail.unzip();
    let (fail_first_ns, fail_by) = fail.unzip();
    FailoverTimeline {
        failed: failed.to_string(),
        fault_ns,
        pfail_after_ms: ms_after(pfail_first_ns, fault_ns),
        fail_after_ms: ms_after(fail_first_ns, fault_ns),
        fail_all_after_ms: ms_after(fail_all, fault_ns),
        promoted_after_ms: ms_after(promoted_ns, fault_ns),
        recovered_after_ms: ms_after(state_ok_all, fault_ns),
        agreed_after_ms: ms_after(agreed, fault_ns),
        pfail_first_ns,
        pfail_by,
        fail_first_ns,
        fail_by,
        fail_all_ns: fail_all,
        promoted_ns,
        promoted,
        state_ok_all_ns: state_ok_all,
        agreed_ns: agreed,
        epoch_before,
        epoch_after,
    }
}

/// clusterCron's period in Redis: pings are scheduled, PFAIL is checked and an
/// election is started or advanced only on its ticks.
pub const CLUSTER_CRON_MS: u64 = 100;

/// The fixed part of a replica's election delay.
const ELECTION_DELAY_MS: u64 = 500;
/// The bound of its random part, so that replicas rarely start together.
const ELECTION_JITTER_MS: u64 = 500;
/// Added for each replica of the same primary with a higher replication offset.
const RANK_DELAY_MS: u64 = 1000;

/// The longest an automatic failover should take after a primary stops
/// answering (killed, paused or cut off), until the replica of `rank` (0 for
/// the replica with the highest replication offset, which goes first) is
/// promoted, per the Redis Cluster specification and `cluster.c`:
///
/// 1. PFAIL: a node flags the primary `fail?` once a ping has gone unanswered,
///    and nothing else came from it, for `node_timeout`. Pings go to every
///    node whose last pong is older than `node_timeout / 2`, so the ping that
///    times out may leave up to `node_timeout / 2` after the fault: PFAIL on
///    every node within `1.5 * node_timeout` (+ a tick to send, a tick to check).
/// 2. FAIL: a node holding `fail?` reports from a majority of primaries (gossip
///    carries every `fail?` node in every ping and pong) marks it `fail` and
///    broadcasts that. Every pair of nodes exchanges a ping at least every
///    `node_timeout / 2`, so the reports meet within that (+ a tick).
/// 3. Election: the replica notices the FAIL on its next tick and waits
///    `500 ms + random(0..500 ms) + rank * 1000 ms` (so that the FAIL reaches
///    everybody and the most up-to-date replica goes first), then asks the
///    primaries for votes on a tick, and is promoted as the votes arrive.
///
/// So `2 * node_timeout + 1000 + rank * 1000 + 5 ticks`. The spec's usual
/// shorthand, `node_timeout + 500 + random(0..500) + rank * 1000`, is the
/// typical case: PFAIL right after `node_timeout` and FAIL at once. Measured
/// on local processes with a 2000 ms node timeout, over 12 kills: first PFAIL
/// 2.1-2.7 s after the kill, first FAIL 2.6-3.5 s, promotion 3.4-4.7 s (0.7-1.1 s
/// after the FAIL), against this bound's 5.5 s.
pub fn expected_max_ms(node_timeout_ms: u64, rank: u32) -> u64 {
    2 * node_timeout_ms
        + ELECTION_DELAY_MS
        + ELECTION_JITTER_MS
        + u64::from(rank) * RANK_DELAY_MS
        + 5 * CLUSTER_CRON_MS
}

/// The shortest an automatic failover can take: PFAIL after `node_timeout`
/// without a word, and the election's fixed delay. A faster promotion was not
/// an automatic failover (a manual `CLUSTER FAILOVER`, say).
pub fn expected_min_ms(node_timeout_ms: u64, rank: u32) -> u64 {
    node_timeout_ms + ELECTION_DELAY_MS + u64::from(rank) * RANK_DELAY_MS
}

/// How a restarted node came back, from a recording. Times as in
/// [`FailoverTimeline`], relative to `restart_ns` for `*_after_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejoin {
    pub node: String,
    pub restart_ns: u64,
    /// First time it answered.
    pub reachable_ns: Option<u64>,
    /// First time it reported itself a replica (INFO replication `role:slave`).
    pub replica_ns: Option<u64>,
    /// The primary it replicates, when seen as a replica.
    pub primary: Option<String>,
    /// First time its replication link was up.
    pub link_up_ns: Option<u64>,
    /// First time its offset had reached its primary's: at least the offset its
    /// primary reported within one polling interval of it. Equal offsets when
    /// idle; under writes, at most one interval behind.
    pub caught_up_ns: Option<u64>,
    pub reachable_after_ms: Option<f64>,
    pub replica_after_ms: Option<f64>,
    pub link_up_after_ms: Option<f64>,
    pub caught_up_after_ms: Option<f64>,
}

/// How `node`, restarted at `restart_ns`, rejoined as a replica.
pub fn rejoin(rec: &Recording, node: &str, restart_ns: u64) -> Rejoin {
    let samples = in_order(rec);
    let own: Vec<&Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.observer == node && s.at_ns >= restart_ns && s.reachable)
        .collect();
    let reachable = own.first().map(|s| s.at_ns);
    let as_replica = own.iter().find(|s| s.role == Some(Role::Replica));
    let link_up = own
        .iter()
        .find(|s| s.role == Some(Role::Replica) && s.link_up == Some(true));
    let mut primaries: HashMap<&str, Vec<&Sample>> = HashMap::new();
    for s in samples.iter().copied() {
        if s.reachable && s.role == Some(Role::Primary) {
            primaries.entry(&s.observer).or_default().push(s);
        }
    }
    let caught_up = own
        .iter()
        .find(|s| caught_up(&primaries, s, rec.interval_ns));
    let primary = caught_up
        .or(as_replica)
        .and_then(|s| s.me()?.replica_of.clone());
    let at = |s: Option<&&Sample>| s.map(|s| s.at_ns);
    Rejoin {
        node: node.to_string(),
        restart_ns,
        reachable_ns: reachable,
        replica_ns: at(as_replica),
        primary,
        link_up_ns: at(link_up),
        caught_up_ns: at(caught_up),
        reachable_after_ms: ms_after(reachable, restart_ns),
        replica_after_ms: ms_after(at(as_replica), restart_ns),
        link_up_after_ms: ms_after(at(link_up), restart_ns),
        caught_up_after_ms: ms_after(at(caught_up), restart_ns),
    }
}

/// Whether the replica sample `r` has reached its primary's offset: some
/// sample of the primary, within `tolerance_ns` of `r`, reports an offset no
/// greater than `r`'s. `primaries` holds each node's samples as a reachable
/// primary, in time order.
fn caught_up(primaries: &HashMap<&str, Vec<&Sample>>, r: &Sample, tolerance_ns: u64) -> bool {
    let (Some(Role::Replica), Some(true), Some(mine), Some(primary)) = (
        r.role,
        r.link_up,
        r.repl_offset,
        r.me().and_then(|m| m.replica_of.as_deref()),
    ) else {
        return false;
    };
    let Some(theirs) = primaries.get(primary) else {
        return false;
    };
    let from = theirs.partition_point(|p| p.at_ns < r.at_ns.saturating_sub(tolerance_ns));
    theirs[from..]
        .iter()
        .take_while(|p| p.at_ns <= r.at_ns.saturating_add(tolerance_ns))
        .any(|p| p.repl_offset.is_some_and(|o| o <= mine))
}

/// A stretch of time during which an observer reported something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    pub observer: String,
    /// The first sample that reported it.
    pub start_ns: u64,
    /// The first sample after that did not; `None` when the recording ended first.
    pub end_ns: Option<u64>,
}

/// A stretch of time during which at least one observer reported something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedWindow {
    pub start_ns: u64,
    /// `None` when it lasted to the end of the recording.
    pub end_ns: Option<u64>,
    /// The observers that reported it at some point in the window.
    pub observers: Vec<String>,
}

/// Per node, when it answered but reported `cluster_state:fail` (it refuses
/// queries then). Its unreachable samples neither start nor end an interval.
pub fn state_fail_intervals(rec: &Recording) -> Vec<Interval> {
    intervals(rec, |s| s.reachable.then_some(!s.state_ok))
}

/// Per node, when it did not answer the watcher.
pub fn unreachable_intervals(rec: &Recording) -> Vec<Interval> {
    intervals(rec, |s| Some(!s.reachable))
}

/// The union of `intervals`: when at least one observer was in one. Sorted.
pub fn windows(intervals: &[Interval]) -> Vec<ObservedWindow> {
    let mut sorted: Vec<&Interval> = intervals.iter().collect();
    sorted.sort_by_key(|i| i.start_ns);
    let mut out: Vec<ObservedWindow> = Vec::new();
    for i in sorted {
        match out.last_mut() {
            Some(w) if w.end_ns.is_none_or(|end| i.start_ns <= end) => {
                w.end_ns = w.end_ns.zip(i.end_ns).map(|(a, b)| a.max(b));
                if !w.observers.contains(&i.observer) {
                    w.observers.push(i.observer.clone());
                }
            }
            _ => out.push(ObservedWindow {
                start_ns: i.start_ns,
                end_ns: i.end_ns,
                observers: vec![i.observer.clone()],
            }),
        }
    }
    for w in &mut out {
        w.observers.sort();
    }
    out
}

/// Whether the reachable observers' latest samples agree on who serves how
/// many slots. Unreachable samples are ignored; `None` when none is reachable.
pub fn agree<'a>(latest: impl IntoIterator<Item = &'a Sample>) -> Option<bool> {
    let mut owners = latest
        .into_iter()
        .filter(|s| s.reachable)
        .map(Sample::owners);
    let first = owners.next()?;
    Some(owners.all(|o| o == first))
}

/// The first time at or after `from_ns` when the whole cluster is healthy
/// again: every watched node answers, reports `cluster_state:ok`, flags no
/// node `fail?` or `fail`, and all agree on the slot owners. What a drill
/// reports as "converged after the heal": unlike [`failover`], nobody is left
/// out, since after a heal every node should be back.
pub fn converged(rec: &Recording, from_ns: u64) -> Option<u64> {
    let mut latest: BTreeMap<&str, &Sample> = BTreeMap::new();
    for s in in_order(rec).into_iter().filter(|s| s.at_ns >= from_ns) {
        // Only the nodes that are members then (a rolling upgrade's come
        // and go).
        if !rec.member_at(&s.observer, s.at_ns) {
            continue;
        }
        latest.insert(&s.observer, s);
        latest.retain(|o, _| rec.member_at(o, s.at_ns));
        let members = (rec.observers.iter())
            .filter(|o| rec.member_at(o, s.at_ns))
            .count();
        if latest.len() < members {
            continue;
        }
        let healthy = latest.values().all(|s| {
            s.reachable && s.state_ok && s.peers.iter().all(|p| !p.flags.pfail && !p.flags.fail)
        });
        if healthy && agree(latest.values().copied()) == Some(true) {
            return Some(s.at_ns);
        }
    }
    None
}

/// The first time after `from_ns` when every watched node but those in
/// `left_out` (nodes still down, which a drill's own convergence wait
/// leaves out too) had answered a poll sent at or after `from_ns`, said
/// `cluster_state:ok`, flagged none of the others `fail?` or `fail`, and all
/// agreed on the slot owners. The watcher's view of the moment a drill's
/// convergence wait returned: `None` when the recording never shows it.
pub fn agreed_at(rec: &Recording, from_ns: u64, left_out: &BTreeSet<&str>) -> Option<u64> {
    // The nodes waited for at `at`: members then, and not left out.
    let watched_at = |at: u64| -> BTreeSet<&str> {
        (rec.observers.iter())
            .map(String::as_str)
            .filter(|o| !left_out.contains(o) && rec.member_at(o, at))
            .collect()
    };
    let mut latest: BTreeMap<&str, &Sample> = BTreeMap::new();
    for s in in_order(rec).into_iter().filter(|s| s.sent_ns >= from_ns) {
        let watched = watched_at(s.at_ns);
        // Nobody to wait for is no evidence of agreement.
        if watched.is_empty() || !watched.contains(s.observer.as_str()) {
            continue;
        }
        latest.insert(&s.observer, s);
        latest.retain(|o, _| watched.contains(o));
        if latest.len() < watched.len() {
            continue;
        }
        let healthy = latest.values().all(|s| {
            s.reachable
                && s.state_ok
                && (s.peers.iter())
                    .filter(|p| watched.contains(p.name.as_str()))
                    .all(|p| !p.flags.pfail && !p.flags.fail)
        });
        if healthy && agree(latest.values().copied()) == Some(true) {
            return Some(s.at_ns);
        }
    }
    None
}

/// Maximal runs of samples, per observer, for which `state` is `Some(true)`;
/// `None` samples are skipped.
fn intervals(rec: &Recording, state: impl Fn(&Sample) -> Option<bool>) -> Vec<Interval> {
    let mut open: BTreeMap<&str, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for s in in_order(rec) {
        match (state(s), open.get(s.observer.as_str()).copied()) {
            (Some(true), None) => {
                open.insert(&s.observer, s.at_ns);
            }
            (Some(false), Some(start)) => {
                open.remove(s.observer.as_str());
                out.push(Interval {
                    observer: s.observer.clone(),
                    start_ns: start,
                    end_ns: Some(s.at_ns),
                });
            }
            _ => {}
        }
    }
    out.extend(open.into_iter().map(|(observer, start)| Interval {
        observer: observer.to_string(),
        start_ns: start,
        end_ns: None,
    }));
    out.sort_by(|a, b| (a.start_ns, &a.observer).cmp(&(b.start_ns, &b.observer)));
    out
}

/// The samples in time order (a recording read back from a file may not be).
fn in_order(rec: &Recording) -> Vec<&Sample> {
    let mut v: Vec<&Sample> = rec.samples.iter().collect();
    v.sort_by(|a, b| (a.at_ns, &a.observer).cmp(&(b.at_ns, &b.observer)));
    v
}

/// The replicas of `primary` when the fault hit: the nodes that each
/// observer's last reachable sample before `fault_ns` lists as its replicas.
/// When nothing was recorded before the fault, every node any sample lists
/// as its replica.
fn replicas_of<'a>(samples: &[&'a Sample], primary: &str, fault_ns: u64) -> BTreeSet<&'a str> {
    let of_primary = |s: &&'a Sample| -> Vec<&'a str> {
        s.peers
            .iter()
            .filter(|p| p.flags.replica && p.replica_of.as_deref() == Some(primary))
            .map(|p| p.name.as_str())
            .collect()
    };
    let mut before: BTreeMap<&str, &Sample> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.reachable && s.at_ns < fault_ns) {
        before.insert(&s.observer, s);
    }
    if before.is_empty() {
        samples
            .iter()
            .filter(|s| s.reachable)
            .flat_map(of_primary)
            .collect()
    } else {
        before.values().flat_map(of_primary).collect()
    }
}

/// The first sample time, at or after `from_ns`, at which `holds` is true of
/// the latest samples since `from_ns` of every observer but `exclude`.
///
/// Only observers with a sample since `from_ns` count (one whose recording was
/// truncated before does not), and only once each of them has one; those
/// whose latest sample is unreachable are left out of what `holds` sees,
/// which is never empty.
fn first_time(
    samples: &[&Sample],
    from_ns: u64,
    exclude: &str,
    holds: impl Fn(&[&Sample]) -> bool,
) -> Option<u64> {
    let since: Vec<&Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.at_ns >= from_ns && s.observer != exclude)
        .collect();
    let required: BTreeSet<&str> = since.iter().map(|s| s.observer.as_str()).collect();
    let mut latest: BTreeMap<&str, &Sample> = BTreeMap::new();
    for s in &since {
        latest.insert(&s.observer, s);
        if latest.len() < required.len() {
            continue;
        }
        let reachable: Vec<&Sample> = latest.values().copied().filter(|s| s.reachable).collect();
        if !reachable.is_empty() && holds(&reachable) {
            return Some(s.at_ns);
        }
    }
    None
}

/// Milliseconds from `from_ns` to `at_ns`, to the microsecond.
pub fn ms_after(at_ns: Option<u64>, from_ns: u64) -> Option<f64> {
    at_ns.map(|t| (t.saturating_sub(from_ns) / 1_000) as f64 / 1_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::watch::Role;
    use crate::record::watch::{PeerFlags, PeerView};

    const MS: u64 = 1_000_000;
    const NODES: [&str; 6] = ["a", "b", "c", "ar", "br", "cr"];

    /// What an observer believes about `a`, the primary the tests fail.
    #[derive(Clone, Copy, PartialEq)]
    enum Of {
        Healthy,
        Pfail,
        /// `a` failed; its slots are uncovered.
        Fail,
        /// `ar` took over `a`'s slots; `a` is still flagged fail.
        Promoted,
        /// `a` came back as a replica of `ar`.
        Rejoined,
    }

    fn peer(name: &str, primary: bool, replica_of: Option<&str>, slots: usize) -> PeerView {
        PeerView {
            name: name.into(),
            flags: PeerFlags {
                primary,
                replica: !primary,
                ..PeerFlags::default()
            },
            replica_of: replica_of.map(str::to_string),
            slots,
            link_connected: true,
        }
    }

    /// `observer`'s sample at `at_ms` of a 3x1 cluster (a, b, c with replicas
    /// ar, br, cr), seeing `a` as `of` says.
    fn seen(at_ms: u64, observer: &str, of: Of) -> Sample {
        let (a_primary, a_slots, ar_slots) = match of {
            Of::Healthy | Of::Pfail | Of::Fail => (true, 5462, 0),
            Of::Promoted => (true, 0, 5462),
            Of::Rejoined => (false, 0, 5462),
        };
        let promoted = matches!(of, Of::Promoted | Of::Rejoined);
        let mut a = peer("a", a_primary, (!a_primary).then_some("ar"), a_slots);
        a.flags.pfail = of == Of::Pfail;
        a.flags.fail = matches!(of, Of::Fail | Of::Promoted);
        let mut peers = vec![
            a,
            peer("b", true, None, 5461),
            peer("c", true, None, 5461),
            peer("ar", promoted, (!promoted).then_some("a"), ar_slots),
            peer("br", false, Some("b"), 0),
            peer("cr", false, Some("c"), 0),
        ];
        for p in &mut peers {
            p.flags.myself = p.name == observer;
        }
        let me = peers.iter().find(|p| p.flags.myself).unwrap();
        let role = if me.flags.primary {
            Role::Primary
        } else {
            Role::Replica
        };
        Sample {
            at_ns: at_ms * MS,
            sent_ns: at_ms * MS,
            observer: observer.into(),
            reachable: true,
            error: None,
            state_ok: of != Of::Fail,
            epoch: if promoted { 7 } else { 6 },
            role: Some(role),
            repl_offset: Some(1000),
            link_up: (role == Role::Replica).then_some(true),
            peers,
        }
    }

    fn down(at_ms: u64, observer: &str) -> Sample {
        Sample::unreachable(at_ms * MS, observer, "connection refused".into())
    }

    /// Every node but `except` at `at_ms`, seeing `a` as `of`; `a` down.
    fn all(at_ms: u64, of: Of, except: &[&str]) -> Vec<Sample> {
        NODES
            .iter()
            .filter(|n| !except.contains(n))
            .map(|n| {
                if *n == "a" {
                    down(at_ms, n)
                } else {
                    seen(at_ms, n, of)
                }
            })
            .collect()
    }

    #[test]
    fn converged_waits_for_every_node_healthy_and_agreeing() {
        let mut v = kill_a();
        // a is started again at 4000: back at 4100 as a replica, still
        // flagged fail by b until 4200, healthy everywhere from 4300.
        v.extend(all(4000, Of::Promoted, &[]));
        let mut back: Vec<Sample> = NODES.iter().map(|n| seen(4100, n, Of::Rejoined)).collect();
        back[1] = seen(4100, "b", Of::Promoted);
        v.extend(back);
        v.push(seen(4200, "b", Of::Promoted));
        v.extend(NODES.iter().map(|n| seen(4300, n, Of::Rejoined)));
        let rec = recording(v);
        assert_eq!(converged(&rec, 4000 * MS), Some(4300 * MS));
        // Healthy before the fault; never again with a still down.
        assert_eq!(converged(&rec, 0), Some(900 * MS));
        assert_eq!(converged(&recording(kill_a()), 1000 * MS), None);
    }

    #[test]
    fn agreed_at_leaves_out_the_nodes_still_down() {
        let rec = recording(kill_a());
        let a: BTreeSet<&str> = ["a"].into();
        // With a left out: after ar's promotion every other node agrees
        // once cr has caught up (3100) and none flags another fail.
        assert_eq!(agreed_at(&rec, 2900 * MS, &a), Some(3100 * MS));
        // Only polls sent after `from` count: before the fault they agree,
        // but that says nothing about after it.
        assert_eq!(agreed_at(&rec, 1950 * MS, &a), Some(3100 * MS));
        // With a watched, never: it does not answer.
        assert_eq!(agreed_at(&rec, 2900 * MS, &BTreeSet::new()), None);
        // Everyone left out: nothing to agree.
        let all: BTreeSet<&str> = NODES.iter().copied().collect();
        assert_eq!(agreed_at(&rec, 0, &all), None);
    }

    fn recording(samples: Vec<Sample>) -> Recording {
        Recording {
            interval_ns: 100 * MS,
            observers: NODES.iter().map(|n| n.to_string()).collect(),
            samples,
            truncated: Vec::new(),
            joined: BTreeMap::new(),
            left: BTreeMap::new(),
        }
    }

    /// a killed at 1000 ms; b suspects it at 2000, c at 2100, b marks it fail
    /// at 2200, everyone by 2300; ar promoted at 2900, the others see it at
    /// 3000 except cr, which catches up at 3100.
    fn kill_a() -> Vec<Sample> {
        let mut v: Vec<Sample> = NODES.iter().map(|n| seen(900, n, Of::Healthy)).collect();
        v.extend(all(1000, Of::Healthy, &[]));
        v.extend(all(1900, Of::Healthy, &[]));
        v.push(seen(2000, "b", Of::Pfail));
        v.push(seen(2100, "c", Of::Pfail));
        v.push(seen(2200, "b", Of::Fail));
        v.extend(all(2300, Of::Fail, &[]));
        v.push(seen(2900, "ar", Of::Promoted));
        v.extend(all(3000, Of::Promoted, &["cr"]));
        v.push(seen(3000, "cr", Of::Fail));
        v.extend(all(3100, Of::Promoted, &[]));
        v
    }

    #[test]
    fn failover_timeline_of_a_kill() {
        let rec = recording(kill_a());
        let t = failover(&rec, "a", 1000 * MS);
        assert_eq!(t.pfail_first_ns, Some(2000 * MS));
        assert_eq!(t.pfail_by.as_deref(), Some("b"));
        assert_eq!(t.fail_first_ns, Some(2200 * MS));
        assert_eq!(t.fail_by.as_deref(), Some("b"));
        // b at 2200 but c still only suspects a: all primaries at 2300.
        assert_eq!(t.fail_all_ns, Some(2300 * MS));
        assert_eq!(t.promoted_ns, Some(2900 * MS));
        assert_eq!(t.promoted.as_deref(), Some("ar"));
        // cr still reports cluster_state:fail at 3000.
        assert_eq!(t.state_ok_all_ns, Some(3100 * MS));
        assert_eq!(t.agreed_ns, Some(3100 * MS));
        assert_eq!(t.epoch_before, Some(6));
        assert_eq!(t.epoch_after, Some(7));
        assert_eq!(t.pfail_after_ms, Some(1000.0));
        assert_eq!(t.fail_after_ms, Some(1200.0));
        assert_eq!(t.fail_all_after_ms, Some(1300.0));
        assert_eq!(t.promoted_after_ms, Some(1900.0));
        assert_eq!(t.recovered_after_ms, Some(2100.0));
        assert_eq!(t.agreed_after_ms, Some(2100.0));
    }

    #[test]
    fn order_of_samples_in_the_file_does_not_matter() {
        let mut samples = kill_a();
        samples.reverse();
        let rec = recording(samples);
        assert_eq!(
            failover(&rec, "a", 1000 * MS),
            failover(&recording(kill_a()), "a", 1000 * MS)
        );
    }

    #[test]
    fn promotion_seen_by_others_before_the_replica_reports() {
        // ar's own sample is late (a slow poll); b's view shows it first.
        let mut v = kill_a();
        v.retain(|s| !(s.observer == "ar" && s.at_ns == 2900 * MS));
        v.push(seen(2950, "b", Of::Promoted));
        let t = failover(&recording(v), "a", 1000 * MS);
        assert_eq!(t.promoted_ns, Some(2950 * MS));
        assert_eq!(t.promoted.as_deref(), Some("ar"));
    }

    #[test]
    fn unreachable_observers_are_ignored() {
        // c stops answering before the fault and never answers again: fail_all,
        // state_ok_all and agreed are decided by the others.
        let mut v = kill_a();
        v.retain(|s| !(s.observer == "c" && s.at_ns >= 1000 * MS));
        for at in [1000, 1900, 2300, 3000, 3100] {
            v.push(down(at, "c"));
        }
        let t = failover(&recording(v), "a", 1000 * MS);
        assert_eq!(t.pfail_by.as_deref(), Some("b"));
        assert_eq!(t.fail_all_ns, Some(2200 * MS), "b is the only primary left");
        assert_eq!(t.state_ok_all_ns, Some(3100 * MS));
        assert_eq!(t.agreed_ns, Some(3100 * MS));
        assert_eq!(
            agree([&seen(1, "b", Of::Healthy), &down(1, "c")]),
            Some(true)
        );
        assert_eq!(agree([&down(1, "c")]), None);
    }

    #[test]
    fn the_failed_nodes_own_samples_do_not_count() {
        // A paused a answers late with what it believed before the pause: it
        // neither suspects itself nor holds back state_ok_all or agreement.
        let mut v = kill_a();
        v.retain(|s| s.observer != "a" || s.at_ns < 1000 * MS);
        v.push(Sample {
            state_ok: false,
            ..seen(3050, "a", Of::Healthy)
        });
        let t = failover(&recording(v), "a", 1000 * MS);
        assert_eq!(t.state_ok_all_ns, Some(3100 * MS));
        assert_eq!(t.agreed_ns, Some(3100 * MS));
    }

    #[test]
    fn a_stale_view_delays_agreement() {
        let mut v = kill_a();
        // br keeps a as the owner (it has not heard of the promotion) until 3300.
        v.retain(|s| !(s.observer == "br" && s.at_ns >= 3000 * MS));
        v.push(seen(3000, "br", Of::Fail));
        v.push(Sample {
            state_ok: true,
            ..seen(3100, "br", Of::Fail)
        });
        v.push(seen(3300, "br", Of::Promoted));
        let t = failover(&recording(v), "a", 1000 * MS);
        assert_eq!(t.state_ok_all_ns, Some(3100 * MS));
        assert_eq!(t.agreed_ns, Some(3300 * MS));
    }

    #[test]
    fn no_promotion_no_recovery() {
        let mut v = kill_a();
        v.retain(|s| s.at_ns < 2900 * MS);
        v.extend(all(3000, Of::Fail, &[]));
        let t = failover(&recording(v), "a", 1000 * MS);
        assert_eq!(t.fail_all_ns, Some(2300 * MS));
        assert_eq!(t.promoted_ns, None);
        assert_eq!(t.promoted, None);
        assert_eq!(t.state_ok_all_ns, None);
        assert_eq!(t.agreed_ns, None);
        assert_eq!(t.recovered_after_ms, None);
        assert_eq!(t.epoch_after, None);
    }

    #[test]
    fn only_replicas_at_the_fault_are_candidates() {
        // ar took over from a before the fault (a manual failover), so a is a
        // replica when it is killed: ar, a primary already, was not promoted
        // by this fault.
        let mut v: Vec<Sample> = NODES.iter().map(|n| seen(0, n, Of::Healthy)).collect();
        v.extend(NODES.iter().map(|n| seen(500, n, Of::Rejoined)));
        v.extend(all(1000, Of::Rejoined, &[]));
        v.extend(all(3000, Of::Rejoined, &[]));
        let t = failover(&recording(v), "a", 1000 * MS);
        assert_eq!(t.promoted_ns, None);
        assert_eq!(t.promoted, None);
    }

    #[test]
    fn flags_before_the_fault_are_not_counted() {
        // A blip before the fault (b briefly suspects a) is not the failover.
        let mut v = kill_a();
        v.push(seen(950, "b", Of::Pfail));
        let t = failover(&recording(v), "a", 1000 * MS);
        assert_eq!(t.pfail_first_ns, Some(2000 * MS));
    }

    #[test]
    fn expected_bound_follows_the_spec() {
        // 3000 (last PFAIL) + 1000 (reports meet) + 500 + 500 (election) + 500 (ticks).
        assert_eq!(expected_max_ms(2000, 0), 5500);
        assert_eq!(expected_max_ms(2000, 2), 7500);
        assert_eq!(expected_max_ms(15_000, 0), 31_500);
        assert_eq!(expected_min_ms(2000, 0), 2500);
        assert_eq!(expected_min_ms(2000, 1), 3500);
    }

    /// `a`'s own sample after its restart: a replica of ar.
    fn a_replica(at_ms: u64, link_up: bool, offset: i64) -> Sample {
        Sample {
            link_up: Some(link_up),
            repl_offset: Some(offset),
            ..seen(at_ms, "a", Of::Rejoined)
        }
    }

    fn ar_primary(at_ms: u64, offset: i64) -> Sample {
        Sample {
            repl_offset: Some(offset),
            ..seen(at_ms, "ar", Of::Rejoined)
        }
    }

    #[test]
    fn rejoin_as_a_caught_up_replica() {
        let mut v = kill_a();
        let restart = 5000;
        v.push(down(5000, "a"));
        // Back with the configuration it had: a primary that is not one any more.
        v.push(Sample {
            state_ok: false,
            ..seen(5300, "a", Of::Healthy)
        });
        v.push(a_replica(5400, false, 0));
        v.push(ar_primary(5400, 9000));
        v.push(a_replica(5500, true, 8000));
        v.push(ar_primary(5500, 9000));
        // Behind by 500 bytes at 5600 against a primary sample from 5600.
        v.push(ar_primary(5600, 9500));
        v.push(a_replica(5600, true, 9000));
        v.push(ar_primary(5700, 9500));
        v.push(a_replica(5700, true, 9500));
        let rec = recording(v);
        let r = rejoin(&rec, "a", restart * MS);
        assert_eq!(r.reachable_ns, Some(5300 * MS));
        assert_eq!(r.replica_ns, Some(5400 * MS));
        assert_eq!(r.primary.as_deref(), Some("ar"));
        assert_eq!(r.link_up_ns, Some(5500 * MS));
        // At 5600 it has what ar had at 5500 (9000), one interval back.
        assert_eq!(r.caught_up_ns, Some(5600 * MS));
        assert_eq!(r.reachable_after_ms, Some(300.0));
        assert_eq!(r.caught_up_after_ms, Some(600.0));
    }

    #[test]
    fn rejoin_not_caught_up_when_the_primary_is_further_ahead() {
        let mut v = kill_a();
        v.push(ar_primary(5300, 9000));
        v.push(a_replica(5400, true, 8000));
        v.push(ar_primary(5400, 9500));
        v.push(ar_primary(5500, 10_000));
        // Its offset matches a primary sample 300 ms old: too old to count.
        v.push(a_replica(5600, true, 9000));
        v.push(ar_primary(5600, 11_000));
        let r = rejoin(&recording(v), "a", 5000 * MS);
        assert_eq!(r.link_up_ns, Some(5400 * MS));
        assert_eq!(r.caught_up_ns, None);
        assert_eq!(r.caught_up_after_ms, None);
    }

    #[test]
    fn rejoin_never_answering() {
        let mut v = kill_a();
        v.push(down(5000, "a"));
        let r = rejoin(&recording(v), "a", 5000 * MS);
        assert_eq!(r.reachable_ns, None);
        assert_eq!(r.replica_ns, None);
        assert_eq!(r.primary, None);
    }

    #[test]
    fn state_fail_and_unreachable_intervals() {
        let rec = recording(kill_a());
        let fail = state_fail_intervals(&rec);
        let of = |who: &str| fail.iter().find(|i| i.observer == who).unwrap();
        // b reports fail from its own FAIL verdict at 2200.
        assert_eq!(of("b").start_ns, 2200 * MS);
        assert_eq!(of("c").start_ns, 2300 * MS);
        assert_eq!(of("b").end_ns, Some(3000 * MS));
        assert_eq!(of("cr").end_ns, Some(3100 * MS));
        assert!(fail.iter().all(|i| i.observer != "a"));
        let w = windows(&fail);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].start_ns, 2200 * MS);
        assert_eq!(w[0].end_ns, Some(3100 * MS));
        assert_eq!(w[0].observers, vec!["ar", "b", "br", "c", "cr"]);

        let gone = unreachable_intervals(&rec);
        assert_eq!(
            gone,
            vec![Interval {
                observer: "a".into(),
                start_ns: 1000 * MS,
                end_ns: None,
            }]
        );
        assert_eq!(windows(&gone)[0].end_ns, None);
    }

    #[test]
    fn windows_merge_overlaps_and_keep_gaps() {
        let i = |o: &str, s: u64, e: Option<u64>| Interval {
            observer: o.into(),
            start_ns: s,
            end_ns: e,
        };
        let w = windows(&[
            i("x", 10, Some(20)),
            i("y", 15, Some(30)),
            i("x", 40, Some(50)),
            i("z", 45, None),
            i("y", 60, Some(70)),
        ]);
        assert_eq!(
            w.iter().map(|w| (w.start_ns, w.end_ns)).collect::<Vec<_>>(),
            vec![(10, Some(30)), (40, None)]
        );
        assert_eq!(w[1].observers, vec!["x", "y", "z"]);
        assert!(windows(&[]).is_empty());
    }

    #[test]
    fn recording_round_trips_through_json() {
        let mut rec = recording(kill_a());
        rec.truncated = vec!["b".into()];
        let json = serde_json::to_string(&rec).unwrap();
        assert_eq!(serde_json::from_str::<Recording>(&json).unwrap(), rec);
        let t = failover(&rec, "a", 1000 * MS);
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["promoted"], "ar");
        assert_eq!(v["promoted_after_ms"], 1900.0);
    }
}
