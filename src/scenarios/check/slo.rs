//! Every SLO a scenario may set, declared once: its name, its unit, its
//! bound (`max_*` a maximum, `min_*` a minimum), what it counts, when it is
//! `unknown`, and the section of the checked run it reads. Loading a
//! scenario checks names against this table (and refuses an SLO the drill
//! cannot measure), the check stage reads every figure through it, and
//! docs/scenarios.md's table is made from it, so adding an SLO is one entry
//! here.

use super::Sections;
use crate::report::{Bound, ClientRegion, ClientSummary, CounterChecks, Figure};
use crate::topology::Kind;

/// Where an SLO's figure comes from: an incomplete source makes it `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The clients' history of ops.
    History,
    /// The watcher's recording of every node's view.
    Watch,
    /// The drill's own timing, or the cluster read at the end.
    Drill,
    /// The lock workload's history.
    Locks,
}

/// One SLO: the figure named `name`, in `unit`, must stay on the `bound`
/// side of the scenario's limit.
pub struct Slo {
    pub name: &'static str,
    pub unit: &'static str,
    /// `max_*` SLOs are maxima, `min_*` minima (a test holds names to it).
    pub bound: Bound,
    /// What the figure counts, for people (docs/scenarios.md's SLO table).
    pub reads: &'static str,
    /// When the figure is `unknown` rather than measured, beyond the rule
    /// every figure follows (its source incomplete: a history past its
    /// size limit, ops dropped at the stop, a recording cut short).
    pub unknown: &'static str,
    pub source: Source,
    /// The topology kinds that have this figure: a scenario on another kind
    /// that sets the SLO is rejected at its line, rather than left `unknown`
    /// at every run.
    pub on: &'static [Kind],
    figure: fn(&Sections) -> Figure,
}

/// Every topology kind.
const EVERY_KIND: &[Kind] = &[Kind::Cluster, Kind::Standalone, Kind::Replicated];
/// Figures only a cluster has (slots, the watcher's view of failovers).
const CLUSTER: &[Kind] = &[Kind::Cluster];

/// Kinds with replicas: the replication probe's figures.
const REPLICATED: &[Kind] = &[Kind::Cluster, Kind::Replicated];

/// A figure of the replication probe; `unknown` when the probe judged no write.
fn replication(
    f: &Sections,
    figure: fn(&crate::checker::replication::Replication) -> Option<f64>,
) -> Figure {
    match &f.checks.replication {
        None => Figure::Unknown {
            value: None,
            why: "the drill ran no replication probe (`replication_probe:`)".into(),
        },
        Some(r) if r.replicas.iter().all(|x| x.writes_judged == 0) => Figure::Unknown {
            value: None,
            why: "the replication probe judged no acknowledged write".into(),
        },
        Some(r) => figure(r).map_or_else(
            || Figure::Unknown {
                value: None,
                why: "no replica returned a probe write".into(),
            },
            Figure::Measured,
        ),
    }
}

/// A figure of the stampede workload; `unknown` when the drill ran none or
/// it recorded no read.
fn stampede(f: &Sections, figure: fn(&crate::checker::stampede::Stampede) -> f64) -> Figure {
    stampede_figure(f, |s| Figure::Measured(figure(s)))
}

/// [`stampede`] for a figure that may itself be `unknown`.
fn stampede_figure(
    f: &Sections,
    figure: impl Fn(&crate::checker::stampede::Stampede) -> Figure,
) -> Figure {
    match &f.checks.stampede {
        None => Figure::Unknown {
            value: None,
            why: "the drill ran no stampede workload (`stampede:`)".into(),
        },
        Some(s) if s.reads == 0 => Figure::Unknown {
            value: None,
            why: "the stampede workload recorded no read".into(),
        },
        Some(s) if s.unrecorded > 0 => Figure::Unknown {
            value: match figure(s) {
                Figure::Measured(v) => Some(v),
                Figure::Unknown { value, .. } => value,
                Figure::NoAnswer { .. } => None,
            },
            why: format!(
                "{} stampede reads ran past the history's size",
                s.unrecorded
            ),
        },
        Some(s) => figure(s),
    }
}

fn count(v: u64) -> Figure {
    Figure::Measured(v as f64)
}

/// A figure the run did not measure, and why: `unknown`, never a 0 that
/// passes nor a failure the run did not show.
fn not_measured(why: &str) -> Figure {
    Figure::Unknown {
        value: None,
        why: why.to_string(),
    }
}

/// A lock figure of a drill without a lock workload.
fn no_locks() -> Figure {
    not_measured("the drill ran no lock workload (`locks:`)")
}

/// Every SLO, in the order docs/scenarios.md lists them.
pub const SLOS: &[Slo] = &[
    Slo {
        name: "max_lost_keys",
        unit: "keys",
        bound: Bound::AtMost,
        reads: "keys whose final value no acknowledged or indeterminate write explains",
        unknown: "a key the drill loaded, wrote or read was not read back at the end (its writes are not judged), or none was",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| {
            within(
                &f.checks.unknown,
                "lost_writes",
                count(f.checks.lost_writes),
            )
        },
    },
    Slo {
        name: "max_lost_acknowledged_writes",
        unit: "writes",
        bound: Bound::AtMost,
        reads: "acknowledged writes whose value is gone at the end; and SET PX writes read back as nil before their deadline that a primary acknowledged after its replica had been promoted in its place (lost to the failover)",
        unknown: "as `max_lost_keys`",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| {
            within(
                &f.checks.unknown,
                "lost_writes",
                count(f.checks.lost_acknowledged_writes),
            )
        },
    },
    Slo {
        name: "max_counter_violations",
        unit: "counters",
        bound: Bound::AtMost,
        reads: "counters whose final value is outside [acked, acked + indeterminate]",
        unknown: "no counter, or not every counter, was read back at the end",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| counters(f, |_| f.checks.counter_violations),
    },
    Slo {
        name: "max_lost_increments",
        unit: "increments",
        bound: Bound::AtMost,
        reads: "acknowledged INCRs missing from the counters at the end (below initial + acked)",
        unknown: "as `max_counter_violations`",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| counters(f, |c| c.lost_increments),
    },
    Slo {
        name: "max_over_counted_increments",
        unit: "increments",
        bound: Bound::AtMost,
        reads: "increments beyond every acknowledged and indeterminate INCR (one applied twice by a retry)",
        unknown: "as `max_counter_violations`",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| counters(f, |c| c.over_counted_increments),
    },
    Slo {
        name: "max_torn_reads",
        unit: "reads",
        bound: Bound::AtMost,
        reads: "successful txn_reads (MGET of a group) that saw more than one transaction's id",
        unknown: "no `txn_read` succeeded",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| match &f.checks.txn {
            Some(t) if t.reads_checked > 0 => count(t.torn_reads),
            _ => Figure::Unknown {
                value: None,
                why: "no txn_read succeeded".into(),
            },
        },
    },
    Slo {
        name: "max_torn_groups",
        unit: "groups",
        bound: Bound::AtMost,
        reads: "groups whose members ended with different transactions' ids",
        unknown: "no group was read back",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| match &f.checks.txn {
            Some(t) if t.groups_checked > 0 => count(t.torn_groups),
            _ => Figure::Unknown {
                value: None,
                why: "no group was read back".into(),
            },
        },
    },
    Slo {
        name: "max_zombie_reads",
        unit: "reads",
        bound: Bound::AtMost,
        reads: "GETs that returned a SET PX value sent past its deadline plus the tolerance",
        unknown: "no read of a `SET PX` key was judged past its deadline",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| match &f.checks.ttl {
            Some(t) if t.reads_after_deadline > 0 => count(t.zombie_reads),
            _ => Figure::Unknown {
                value: None,
                why: "no read of a SET PX key was judged past its deadline".into(),
            },
        },
    },
    Slo {
        name: "max_early_expiries",
        unit: "reads",
        bound: Bound::AtMost,
        reads: "GETs that returned nil before a SET PX's deadline, with no DEL, and no takeover of its primary to explain it (a write a replaced primary acknowledged is a lost write)",
        unknown: "no read of a `SET PX` key was judged before its deadline",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| match &f.checks.ttl {
            Some(t) if t.reads_before_deadline > 0 => count(t.early_expiries),
            _ => Figure::Unknown {
                value: None,
                why: "no read of a SET PX key was judged before its deadline".into(),
            },
        },
    },
    Slo {
        name: "max_stale_reads",
        unit: "reads",
        bound: Bound::AtMost,
        reads: "GETs that returned a value an acknowledged SET or DEL had superseded before they began",
        unknown: "no GET returned a value",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| match &f.checks.stale {
            Some(s) if s.reads_checked > 0 => count(s.stale_reads),
            _ => Figure::Unknown {
                value: None,
                why: "no GET returned a value".into(),
            },
        },
    },
    Slo {
        name: "max_staleness_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "the stalest GET: how long its value had been superseded by an acknowledged SET or DEL when the GET was sent (0 when none was stale)",
        unknown: "no GET returned a value",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| match &f.checks.stale {
            Some(s) if s.reads_checked > 0 => Figure::Measured(s.staleness_ms.max),
            _ => Figure::Unknown {
                value: None,
                why: "no GET returned a value".into(),
            },
        },
    },
    Slo {
        name: "max_hot_miss_ratio_rise",
        unit: "points",
        bound: Bound::AtMost,
        reads: "the largest rise of the hot keys' miss ratio in a phase after `baseline` over `baseline`'s, in percentage points (eviction drills)",
        unknown: "the topology evicts nothing, or no hot key was read in `baseline`, or after it",
        source: Source::History,
        on: EVERY_KIND,
        figure: hot_miss_ratio_rise,
    },
    Slo {
        name: "max_p99_during_over_baseline",
        unit: "x",
        bound: Bound::AtMost,
        reads: "app latency p99 in `during` over that in `baseline` (the same run's own reference)",
        unknown: "either p99 is unknown, the baseline's got no answer (more than 1 % unanswered) or is 0. More than 1 % of `during` unanswered is a failure, with no figure",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| {
            let value = |x: &Figure| match x {
                Figure::Measured(v) | Figure::Unknown { value: Some(v), .. } => Some(*v),
                _ => None,
            };
            let (d, b) = (app_p99(f, "during"), app_p99(f, "baseline"));
            let ratio = value(&d)
                .zip(value(&b).filter(|b| *b > 0.0))
                .map(|(d, b)| d / b);
            match (d, b, ratio) {
                // The reference got no answer: nothing to compare with.
                (_, Figure::NoAnswer { why }, _) => Figure::Unknown {
                    value: None,
                    why: format!("the baseline's p99: {why}"),
                },
                // More than 1 % of `during` unanswered: beyond any ratio.
                (Figure::NoAnswer { why }, _, _) => Figure::NoAnswer { why },
                (Figure::Measured(_), Figure::Measured(_), Some(r)) => Figure::Measured(r),
                (Figure::Unknown { why, .. }, _, value)
                | (_, Figure::Unknown { why, .. }, value) => Figure::Unknown { value, why },
                _ => Figure::Unknown {
                    value: None,
                    why: "no baseline p99 to compare with".into(),
                },
            }
        },
    },
    Slo {
        name: "max_stray_keys",
        unit: "keys",
        bound: Bound::AtMost,
        reads: "keys left in slots their primary does not own",
        unknown: "never: a cluster that cannot be read at the end stops the drill with an error",
        source: Source::Drill,
        on: CLUSTER,
        figure: |f| count(f.checks.stray_keys),
    },
    Slo {
        name: "max_keys_missing",
        unit: "keys",
        bound: Bound::AtMost,
        reads: "keys on the primaries before the drill less keys after (the workload only writes keys it loaded)",
        unknown: "a primary's keys could not be counted before or after the drill (the nodes are named)",
        source: Source::Drill,
        on: EVERY_KIND,
        figure: |f| {
            within(
                &f.checks.unknown,
                "keys_missing",
                count(f.checks.keys_before.saturating_sub(f.checks.keys_after)),
            )
        },
    },
    Slo {
        name: "max_app_failed_ops",
        unit: "ops",
        bound: Bound::AtMost,
        reads: "app ops that failed for sure",
        unknown: "no app op was recorded",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| {
            within(
                &f.workload.app.unknown,
                "ops",
                count(f.workload.app.ops_failed),
            )
        },
    },
    Slo {
        name: "max_app_indeterminate_ops",
        unit: "ops",
        bound: Bound::AtMost,
        reads: "app ops whose outcome is unknown (timed out, connection lost)",
        unknown: "no app op was recorded",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| {
            within(
                &f.workload.app.unknown,
                "ops",
                count(f.workload.app.ops_indeterminate),
            )
        },
    },
    Slo {
        name: "max_probe_failed_ops",
        unit: "ops",
        bound: Bound::AtMost,
        reads: "probe ops that failed for sure",
        unknown: "no probe op was recorded",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| {
            within(
                &f.workload.probe.unknown,
                "ops",
                count(f.workload.probe.ops_failed),
            )
        },
    },
    Slo {
        name: "max_app_error_ratio",
        unit: "ratio",
        bound: Bound::AtMost,
        reads: "app ops that failed or timed out over every app op of the run (0.01: one in a hundred)",
        unknown: "no app op was recorded",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| {
            let a = &f.workload.app;
            let all = a.ops_ok + a.ops_failed + a.ops_indeterminate;
            if all == 0 {
                return not_measured("no app op was recorded");
            }
            Figure::Measured((a.ops_failed + a.ops_indeterminate) as f64 / all as f64)
        },
    },
    Slo {
        name: "max_app_downtime_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "the longest failure window of any shard, app clients",
        unknown: "no app op was recorded, or a shard or split part of one that holds keys of the drill saw none (an outage there could not show)",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| within(&f.downtime.unknown, "app", Figure::Measured(f.downtime.max)),
    },
    Slo {
        name: "max_app_write_downtime_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "the longest failure window of any shard for the app clients' writes alone",
        unknown: "as `max_app_downtime_ms`, for the app clients' writes",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| {
            within(
                &f.downtime.unknown,
                "writes",
                Figure::Measured(f.downtime.write_max),
            )
        },
    },
    Slo {
        name: "max_probe_downtime_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "the longest failure window of any shard, probe clients",
        unknown: "as `max_app_downtime_ms`, for the probe's ops",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| {
            within(
                &f.downtime.unknown,
                "probe",
                Figure::Measured(f.downtime.probe_max),
            )
        },
    },
    Slo {
        name: "max_downtime_windows",
        unit: "windows",
        bound: Bound::AtMost,
        reads: "failure windows over all shards, app clients",
        unknown: "as `max_app_downtime_ms`",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| {
            within(
                &f.downtime.unknown,
                "app",
                count(u64::from(f.downtime.windows)),
            )
        },
    },
    Slo {
        name: "max_p99_baseline_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "the latency 99 % of the app ops due in `baseline` were answered within (due → end); an op that failed or timed out counts as slower than any answer, so more than 1 % unanswered fails it",
        unknown: "no app op was due in `baseline`, or the tool's own lag broke `max_tool_lag_ms` there. More than 1 % of the phase's ops unanswered is a failure, with no figure",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| app_p99(f, "baseline"),
    },
    Slo {
        name: "max_p99_during_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "the latency 99 % of the app ops due in `during` were answered within (due → end); an op that failed or timed out counts as slower than any answer, so more than 1 % unanswered fails it",
        unknown: "as `max_p99_baseline_ms`, in `during`",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| app_p99(f, "during"),
    },
    Slo {
        name: "max_p99_after_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "the latency 99 % of the app ops due in `after` were answered within (due → end); an op that failed or timed out counts as slower than any answer, so more than 1 % unanswered fails it",
        unknown: "as `max_p99_baseline_ms`, in `after`",
        source: Source::History,
        on: EVERY_KIND,
        figure: |f| app_p99(f, "after"),
    },
    Slo {
        name: "max_convergence_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "from the last action until every node agrees on the slot map (a replicated topology: until one primary has every replica caught up)",
        unknown: "on a cluster, the watcher's recording is empty, never shows every node that is up agreeing after the action, or shows it later than its polling allows (the drill's own figure is then not trusted)",
        source: Source::Drill,
        on: &[Kind::Cluster, Kind::Replicated],
        figure: |f| match (f.convergence.measured_ms, &f.convergence.doubt) {
            (None, _) => {
                not_measured("the drill measured no convergence (no action to converge from)")
            }
            (Some(v), None) => Figure::Measured(v),
            (Some(v), Some(why)) => Figure::Unknown {
                value: Some(v),
                why: why.clone(),
            },
        },
    },
    Slo {
        name: "max_reshard_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "the reshard's duration",
        unknown: "never on a drill with a reshard (a scenario without one that sets it is refused)",
        source: Source::Drill,
        on: CLUSTER,
        figure: |f| {
            f.reshard.as_ref().map_or_else(
                || not_measured("the drill ran no reshard"),
                |r| Figure::Measured(r.duration_ms),
            )
        },
    },
    Slo {
        name: "max_keys_overwritten",
        unit: "keys",
        bound: Bound::AtMost,
        reads: "keys the reshard found on two nodes with different values (a split the faults made); the value of the node giving the key up was kept, the other overwritten",
        unknown: "as `max_reshard_ms`",
        source: Source::Drill,
        on: CLUSTER,
        figure: |f| {
            f.reshard.as_ref().map_or_else(
                || not_measured("the drill ran no reshard"),
                |r| count(r.keys_overwritten),
            )
        },
    },
    Slo {
        name: "max_failover_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "the slowest failover: from the fault until the cluster is ok again",
        unknown: "a failover was never seen to end, or the watcher's recording stopped at its size limit",
        source: Source::Watch,
        on: CLUSTER,
        figure: |f| {
            worst(
                f.faults.iter().flat_map(|x| &x.failover),
                |fo| fo.state_ok_after_ms,
                |fo| format!("the failover of {} was never seen to end", fo.node),
                "the drill failed no primary over",
            )
        },
    },
    Slo {
        name: "max_promotion_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "the slowest failover: from the fault until a replica was promoted (what the cluster spec bounds; a node cut off stays not ok until healed)",
        unknown: "no replica was seen promoted, or the watcher's recording stopped at its size limit",
        source: Source::Watch,
        on: CLUSTER,
        figure: |f| {
            worst(
                f.faults.iter().flat_map(|x| &x.failover),
                |fo| fo.promoted_after_ms,
                |fo| format!("no replica of {} was seen promoted", fo.node),
                "the drill failed no primary over",
            )
        },
    },
    Slo {
        name: "max_rejoin_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "the slowest rejoin: from the restart until the node has caught up",
        unknown: "a started node was never seen to catch up, or the watcher's recording stopped at its size limit",
        source: Source::Watch,
        on: CLUSTER,
        figure: |f| {
            worst(
                f.faults.iter().flat_map(|x| &x.rejoin),
                |r| r.caught_up_after_ms,
                |r| format!("{} was never seen to catch up", r.node),
                "the drill restarted no node to rejoin",
            )
        },
    },
    Slo {
        name: "max_lock_violations",
        unit: "overlaps",
        bound: Bound::AtMost,
        reads: "pairs of grants of one lock whose validity windows overlap (two holders at once)",
        unknown: "the lock history is incomplete (events past its limit, a worker that did not end, a resource's own count of accepted writes not the history's)",
        source: Source::Locks,
        on: EVERY_KIND,
        figure: |f| {
            f.locks
                .as_ref()
                .map_or_else(no_locks, |l| count(l.violations))
        },
    },
    Slo {
        name: "max_stale_writes_accepted",
        unit: "writes",
        bound: Bound::AtMost,
        reads: "writes the fenced resource accepted with a token not above one it had already accepted",
        unknown: "as `max_lock_violations`, or the workload wrote no fenced resource",
        source: Source::Locks,
        on: EVERY_KIND,
        figure: |f| match &f.locks {
            None => no_locks(),
            Some(l) => l.resources.fenced.as_ref().map_or_else(
                || not_measured("the lock workload wrote no fenced resource"),
                |r| count(r.stale_writes_accepted),
            ),
        },
    },
    Slo {
        name: "max_acquire_p99_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "lock acquisition latency p99, first attempt to grant, of granted acquisitions",
        unknown: "as `max_lock_violations`, or nothing was granted",
        source: Source::Locks,
        on: EVERY_KIND,
        figure: |f| match &f.locks {
            None => no_locks(),
            Some(l) => l.acquire_ms.p99_measured().map_or_else(
                || Figure::Unknown {
                    value: None,
                    why: "no lock was granted".into(),
                },
                Figure::Measured,
            ),
        },
    },
    Slo {
        name: "min_grants_per_s",
        unit: "grants/s",
        bound: Bound::AtLeast,
        reads: "lock grants per second over the lock workload's run",
        unknown: "as `max_lock_violations`",
        source: Source::Locks,
        on: EVERY_KIND,
        figure: |f| {
            f.locks
                .as_ref()
                .map_or_else(no_locks, |l| Figure::Measured(l.grants_per_s))
        },
    },
    Slo {
        name: "max_replication_lag_p99_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "the replication probe's lag p99 in the slowest replica region: a write's acknowledgement → the first read of a replica that returned it",
        unknown: "the probe judged no acknowledged write, or no replica returned one",
        source: Source::Drill,
        on: REPLICATED,
        figure: |f| {
            replication(f, |r| {
                r.regions
                    .iter()
                    .filter(|g| g.lag_ms.count > 0)
                    .map(|g| g.lag_ms.p99)
                    .max_by(f64::total_cmp)
            })
        },
    },
    Slo {
        name: "max_unreplicated_writes",
        unit: "writes",
        bound: Bound::AtMost,
        reads: "the replication probe's acknowledged writes that some replica never returned (nor a later one), summed over replicas",
        unknown: "the probe judged no acknowledged write",
        source: Source::Drill,
        on: REPLICATED,
        figure: |f| {
            replication(f, |r| {
                Some(r.replicas.iter().map(|x| x.unseen).sum::<u64>() as f64)
            })
        },
    },
    Slo {
        name: "max_replication_floor_violations",
        unit: "reads",
        bound: Bound::AtMost,
        reads: "replica reads that returned a write sooner after it was sent than the link's one-way delay allows (a clock or measurement bug)",
        unknown: "the probe judged no acknowledged write",
        source: Source::Drill,
        on: REPLICATED,
        figure: |f| {
            replication(f, |r| {
                Some(r.replicas.iter().map(|x| x.floor_violations).sum::<u64>() as f64)
            })
        },
    },
    Slo {
        name: "max_full_resyncs",
        unit: "resyncs",
        bound: Bound::AtMost,
        reads: "full resyncs the primaries served during the drill (INFO stats sync_full): a replica cut off past its primary's backlog",
        unknown: "the probe judged no acknowledged write",
        source: Source::Drill,
        on: REPLICATED,
        figure: |f| replication(f, |r| Some(r.resyncs_full as f64)),
    },
    Slo {
        name: "max_stampede_violations",
        unit: "computations",
        bound: Bound::AtMost,
        reads: "second computations of one key in one expiry epoch while the first held the lock (not explained by the lock's PX running out, nor by a failover of its shard)",
        unknown: "the stampede workload recorded no read, or reads ran past its history's size",
        source: Source::Drill,
        on: EVERY_KIND,
        figure: |f| stampede(f, |s| s.violations.len() as f64),
    },
    Slo {
        name: "max_failover_recomputes",
        unit: "computations",
        bound: Bound::AtMost,
        reads: "second computations in one expiry epoch granted by another node than the first: the lock vanished with its shard's primary",
        unknown: "as `max_stampede_violations`",
        source: Source::Drill,
        on: EVERY_KIND,
        figure: |f| stampede(f, |s| s.failover_computes.len() as f64),
    },
    Slo {
        name: "max_superseded_serves",
        unit: "reads",
        bound: Bound::AtMost,
        reads: "stampede reads that served a value older than one acknowledged before the read began",
        unknown: "as `max_stampede_violations`",
        source: Source::Drill,
        on: EVERY_KIND,
        figure: |f| stampede(f, |s| s.superseded_serves as f64),
    },
    Slo {
        name: "max_failed_reads",
        unit: "reads",
        bound: Bound::AtMost,
        reads: "stampede reads that served no value: none within max_wait_ms, or a computation whose write failed",
        unknown: "as `max_stampede_violations`",
        source: Source::Drill,
        on: EVERY_KIND,
        figure: |f| stampede(f, |s| s.failed as f64),
    },
    Slo {
        name: "max_unserved_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "the longest stretch in which no stampede read was served while some reader waited or failed: the readers' downtime",
        unknown: "as `max_stampede_violations`",
        source: Source::Drill,
        on: EVERY_KIND,
        figure: |f| stampede(f, |s| s.no_serve_max_ms),
    },
    Slo {
        name: "max_stampede_serve_p99_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "stampede reads' p99 from the read's first command until it served a value (hits, waits and computations alike)",
        unknown: "as `max_stampede_violations`, or no read was served",
        source: Source::Drill,
        on: EVERY_KIND,
        figure: |f| {
            stampede_figure(f, |s| {
                if s.serve_ms.count == 0 {
                    Figure::Unknown {
                        value: None,
                        why: "no stampede read was served".into(),
                    }
                } else {
                    Figure::Measured(s.serve_ms.p99)
                }
            })
        },
    },
    Slo {
        name: "max_warm_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "stampede readers' warm-up: from the action until the one-second miss ratio is back within a point of the baseline's (`unknown`, with the time so far, when it never was)",
        unknown: "as `max_stampede_violations`, or there was no `baseline` and `during` to compare, or the miss ratio never came back (the time so far is given)",
        source: Source::Drill,
        on: EVERY_KIND,
        figure: |f| {
            stampede_figure(f, |s| match &s.warm {
                None => Figure::Unknown {
                    value: None,
                    why: "the stampede readers had no baseline and `during` phase to compare"
                        .into(),
                },
                Some(w) => match w.warm_ms {
                    Some(v) => Figure::Measured(v),
                    None => Figure::Unknown {
                        value: w.not_warm_for_ms,
                        why: format!(
                            "the miss ratio was not back to the baseline's by the end of the recording ({:.0} ms after the action)",
                            w.not_warm_for_ms.unwrap_or(0.0)
                        ),
                    },
                },
            })
        },
    },
    Slo {
        name: "max_stale_serve_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "serve_stale: how long past its freshness the stalest value served was (0 when none was)",
        unknown: "as `max_stampede_violations`",
        source: Source::Drill,
        on: EVERY_KIND,
        figure: |f| stampede(f, |s| s.staleness_ms.max),
    },
];

/// Why `scenario` cannot measure the figure of the SLO named `name`, if it
/// cannot: the part of the drill that makes it is missing. Checked when the
/// scenario is loaded, so that a drill that could only end `unknown` on that
/// SLO is refused before anything starts.
pub fn unmeasurable(name: &str, s: &crate::scenarios::Scenario) -> Option<String> {
    use crate::faults::FaultKind;
    let mix = &s.workload.mix;
    let kv = |what: &str, weight: u32| {
        (s.kv && weight == 0).then(|| format!("the workload's `mix` sends no {what}"))
    };
    let takes_a_node = s
        .faults
        .iter()
        .any(|f| f.fault.takes_node_away() || f.fault == FaultKind::Failover);
    let restarts = s.faults.iter().any(|f| {
        f.fault == FaultKind::Restart
            || (matches!(f.fault, FaultKind::Kill | FaultKind::Stop) && f.hold_ms.is_some())
    });
    let writes = mix.set + mix.incr + mix.del + mix.set_ttl + mix.txn;
    let evicts = s.topology.nodes.iter().any(|n| {
        n.config
            .get("maxmemory-policy")
            .is_some_and(|p| crate::checker::eviction::Eviction::of(p) != Default::default())
    });
    match name {
        "max_reshard_ms" | "max_keys_overwritten" => {
            s.reshard.is_none().then(|| "the scenario has no `reshard`".to_string())
        }
        "max_failover_ms" | "max_promotion_ms" => (!takes_a_node).then(|| {
            "no fault takes a node away or fails one over (kill, stop, pause, partition, failover), so nothing is failed over".to_string()
        }),
        "max_rejoin_ms" => (!restarts).then(|| {
            "no node is started again (a `restart`, or a `kill`/`stop` with `hold_ms`), so none rejoins".to_string()
        }),
        "max_counter_violations" | "max_lost_increments" | "max_over_counted_increments" => {
            kv("`incr`", mix.incr)
        }
        "max_torn_reads" => kv("`txn_read`", mix.txn_read),
        "max_torn_groups" => kv("`txn`", mix.txn),
        "max_zombie_reads" | "max_early_expiries" => kv("`set_ttl`", mix.set_ttl),
        "max_stale_reads" | "max_staleness_ms" => kv("`get`", mix.get),
        "max_app_write_downtime_ms" => kv("write (set, incr, del, set_ttl, txn)", writes),
        "max_probe_downtime_ms" | "max_probe_failed_ops" => (s.kv
            && s.workload.probe_clients == 0)
            .then(|| "the workload has no `probe_clients`".to_string()),
        "max_hot_miss_ratio_rise" => (!evicts).then(|| {
            "no node of the topology has a `maxmemory-policy` that evicts".to_string()
        }),
        "max_replication_lag_p99_ms"
        | "max_unreplicated_writes"
        | "max_replication_floor_violations"
        | "max_full_resyncs" => s
            .replication_probe
            .is_none()
            .then(|| "the scenario runs no `replication_probe`".to_string()),
        n if find(n).is_some_and(|slo| slo.source == Source::Drill && STAMPEDE.contains(&n)) => s
            .stampede
            .is_none()
            .then(|| "the scenario runs no `stampede` workload".to_string()),
        _ => None,
    }
}

/// The stampede workload's SLOs.
const STAMPEDE: &[&str] = &[
    "max_stampede_violations",
    "max_failover_recomputes",
    "max_superseded_serves",
    "max_failed_reads",
    "max_unserved_ms",
    "max_stampede_serve_p99_ms",
    "max_warm_ms",
    "max_stale_serve_ms",
];

/// The SLO table of docs/scenarios.md, as the declarations above give it:
/// a test holds the docs to it.
pub fn markdown_table() -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out =
        String::from("| SLO | unit | bound | counts | `unknown` when |\n|---|---|---|---|---|\n");
    for s in SLOS {
        let kinds = if s.on.len() == EVERY_KIND.len() {
            String::new()
        } else {
            let names: Vec<&str> = (s.on.iter())
                .map(|k| match k {
                    Kind::Cluster => "cluster",
                    Kind::Replicated => "replicated",
                    Kind::Standalone => "standalone",
                })
                .collect();
            format!(" ({} only)", names.join(", "))
        };
        out.push_str(&format!(
            "| `{}`{kinds} | {} | {} | {} | {} |\n",
            s.name,
            s.unit,
            match s.bound {
                Bound::AtMost => "at most",
                Bound::AtLeast => "at least",
            },
            cell(s.reads),
            cell(s.unknown),
        ));
    }
    out
}

/// SLOs that changed name: (old, new). A scenario with an old name is
/// rejected with the new one; a run stored under an old name is checked
/// again under the new one.
pub const RENAMED: &[(&str, &str)] = &[
    // It counts keys; `max_lost_acknowledged_writes` counts writes.
    ("max_lost_writes", "max_lost_keys"),
];

/// The current name of an SLO that was renamed.
pub fn renamed(old: &str) -> Option<&'static str> {
    RENAMED.iter().find(|(o, _)| *o == old).map(|(_, new)| *new)
}

/// Which side of its limit the SLO named `name` holds on (a maximum for a
/// name no SLO has; loading rejects those).
pub fn bound_of(name: &str) -> Bound {
    find(name).map_or(Bound::AtMost, |s| s.bound)
}

/// The SLO named `name`.
pub fn find(name: &str) -> Option<&'static Slo> {
    SLOS.iter().find(|s| s.name == name)
}

impl Sections {
    /// The figure of the SLO named `name`; unknown for a name no SLO has
    /// (loading rejects those).
    pub fn of(&self, name: &str) -> Figure {
        let Some(slo) = find(name) else {
            return not_measured(&format!("no SLO is named `{name}`"));
        };
        let incomplete = match slo.source {
            Source::History => self.incomplete.history.as_ref(),
            Source::Watch => self.incomplete.watch.as_ref(),
            Source::Drill => None,
            Source::Locks => self.locks.as_ref().and_then(|l| l.incomplete.as_ref()),
        };
        distrusted((slo.figure)(self), incomplete)
    }
}

/// A measured figure from a source that is incomplete is `unknown`, with
/// its value and why.
fn distrusted(figure: Figure, incomplete: Option<&String>) -> Figure {
    match (figure, incomplete) {
        (Figure::Measured(v), Some(why)) => Figure::Unknown {
            value: Some(v),
            why: why.clone(),
        },
        (figure, _) => figure,
    }
}

/// The SLOs a region's clients can be held to apart (`slo_by_region:`):
/// the same names and meanings as the run's, read over that region's
/// clients alone (the key/value clients `workload.regions` places).
pub const BY_REGION: &[&str] = &[
    "max_app_downtime_ms",
    "max_app_write_downtime_ms",
    "max_probe_downtime_ms",
    "max_lost_acknowledged_writes",
    "max_app_failed_ops",
    "max_stale_reads",
    "max_staleness_ms",
    "max_p99_baseline_ms",
    "max_p99_during_ms",
    "max_p99_after_ms",
];

/// The SLOs a region's stampede readers (`stampede.regions`) can be held
/// to apart, read over that region's readers alone.
pub const BY_READER_REGION: &[&str] = &[
    "max_failed_reads",
    "max_unserved_ms",
    "max_stampede_serve_p99_ms",
];

/// How an SLO by region is named in the report: `name[region]`.
pub fn region_slo_name(name: &str, region: &str) -> String {
    format!("{name}[{region}]")
}

/// Who lives in one region: its key/value clients' figures and its
/// stampede readers', as far as the drill placed any there.
#[derive(Debug, Clone, Copy)]
pub struct InRegion<'a> {
    pub region: &'a str,
    pub clients: Option<&'a ClientRegion>,
    pub readers: Option<&'a crate::checker::stampede::RegionFigures>,
}

impl Sections {
    /// The figure of the SLO named `name` ([`BY_REGION`],
    /// [`BY_READER_REGION`]) over one region's clients or readers; unknown,
    /// as the run's own, when their history is incomplete.
    pub fn of_region(&self, at: InRegion<'_>, name: &str) -> Figure {
        if BY_READER_REGION.contains(&name) {
            let Some(g) = at.readers else {
                return Figure::Unknown {
                    value: None,
                    why: format!("no stampede readers ran in `{}`", at.region),
                };
            };
            return stampede_figure(self, |_| match name {
                "max_failed_reads" => count(g.failed),
                "max_unserved_ms" => Figure::Measured(g.no_serve_max_ms),
                _ if g.serve_ms.count == 0 => Figure::Unknown {
                    value: None,
                    why: format!("no stampede read was served in `{}`", at.region),
                },
                _ => Figure::Measured(g.serve_ms.p99),
            });
        }
        if !BY_REGION.contains(&name) {
            return not_measured(&format!(
                "`{name}` is not an SLO a region's clients have apart"
            ));
        }
        let Some(g) = at.clients else {
            return Figure::Unknown {
                value: None,
                why: format!("no clients ran in `{}`", at.region),
            };
        };
        let stale = |figure: fn(&crate::report::StaleSide) -> f64| match &g.stale {
            Some(s) if s.reads > 0 => Figure::Measured(figure(s)),
            _ => Figure::Unknown {
                value: None,
                why: format!("the clients in `{}` read no value", g.region),
            },
        };
        let figure = match name {
            "max_app_downtime_ms" => within(&g.unknown, "app", Figure::Measured(g.downtime_ms)),
            "max_app_write_downtime_ms" => {
                within(&g.unknown, "writes", Figure::Measured(g.write_downtime_ms))
            }
            "max_probe_downtime_ms" => {
                within(&g.unknown, "probe", Figure::Measured(g.probe_downtime_ms))
            }
            "max_lost_acknowledged_writes" => within(
                &self.checks.unknown,
                "lost_writes",
                count(g.lost_acknowledged_writes),
            ),
            "max_app_failed_ops" => within(&g.app.unknown, "ops", count(g.app.ops_failed)),
            "max_stale_reads" => stale(|s| s.stale_reads as f64),
            "max_staleness_ms" => stale(|s| s.staleness_ms.max),
            "max_p99_baseline_ms" => p99_in(self, &g.app, "baseline"),
            "max_p99_during_ms" => p99_in(self, &g.app, "during"),
            "max_p99_after_ms" => p99_in(self, &g.app, "after"),
            _ => {
                return not_measured(&format!(
                    "`{name}` is not an SLO a region's clients have apart"
                ));
            }
        };
        distrusted(figure, self.incomplete.history.as_ref())
    }
}

/// A counter figure: unknown when no counter, or not every counter, was
/// read back at the end.
fn counters(f: &Sections, figure: impl Fn(&CounterChecks) -> u64) -> Figure {
    match &f.checks.counters {
        Some(c) if c.counters_checked > 0 => {
            within(&f.checks.unknown, "counters", count(figure(c)))
        }
        _ => not_measured("no counter was read back"),
    }
}

/// `figure`, unless its section lists it under `key` as not measured: then
/// `unknown`, with the value and why.
fn within(
    unknown: &std::collections::BTreeMap<String, String>,
    key: &str,
    figure: Figure,
) -> Figure {
    match (unknown.get(key), figure) {
        (Some(why), Figure::Measured(v)) => Figure::Unknown {
            value: Some(v),
            why: why.clone(),
        },
        (_, figure) => figure,
    }
}

/// The hot keys' miss ratio: its largest rise in a later phase over
/// `baseline`, in percentage points. Unknown without an eviction verdict or
/// without hot reads in `baseline` or in every later phase.
fn hot_miss_ratio_rise(f: &Sections) -> Figure {
    let Some(e) = &f.checks.eviction else {
        return Figure::Unknown {
            value: None,
            why: "the topology evicts nothing (no maxmemory-policy that evicts)".into(),
        };
    };
    let Some(base) = e.by_phase.get("baseline").and_then(|p| p.hot_miss_ratio) else {
        return Figure::Unknown {
            value: None,
            why: "no hot key was read in `baseline`".into(),
        };
    };
    let rise = e
        .by_phase
        .iter()
        .filter(|(name, _)| name.as_str() != "baseline")
        .filter_map(|(_, p)| p.hot_miss_ratio)
        .map(|r| (r - base) * 100.0)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    rise.map_or_else(
        || Figure::Unknown {
            value: None,
            why: "no hot key was read after `baseline`".into(),
        },
        Figure::Measured,
    )
}

/// A latency SLO reads the app clients' p99 in its phase: unknown when
/// nothing succeeded there or the tool could not keep its schedule.
fn app_p99(f: &Sections, phase: &str) -> Figure {
    p99_in(f, &f.workload.app, phase)
}

/// The most ops of a phase that may go without an answer before its p99 is
/// no answer: 1 %.
const UNANSWERED_SHARE: f64 = 0.01;

/// [`app_p99`] over the clients `app` sums up: the latency 99 % of the ops
/// due in the phase were answered within, an op that failed or timed out
/// counting as slower than any answer. More than 1 % unanswered: no answer,
/// and the SLO fails whatever its limit.
fn p99_in(f: &Sections, app: &ClientSummary, phase: &str) -> Figure {
    let all = app.latency_all_ms.get(phase).map_or(0, |l| l.count);
    let answered = app.latency_ms.get(phase).map_or(0, |l| l.count);
    if all == 0 {
        return not_measured(&format!("no app op was due in `{phase}`"));
    }
    let unanswered = all - answered;
    let p99 = match app.p99_answered_ms.get(phase) {
        Some(&v) => v,
        None => {
            return Figure::NoAnswer {
                why: format!(
                    "{unanswered} of the {all} app ops due in `{phase}` ({:.1} %, more than {:.0} %) failed or timed out: its p99 is an op that got no answer",
                    100.0 * unanswered as f64 / all as f64,
                    100.0 * UNANSWERED_SHARE
                ),
            };
        }
    };
    match f.workload.self_check.distrust(phase) {
        Some(why) => Figure::Unknown {
            value: Some(p99),
            why,
        },
        None => Figure::Measured(p99),
    }
}

/// The largest of the entries' figures. An entry without one was not
/// measured, so the worst is not known: `unknown`, naming it. No entry at
/// all: the drill had nothing to measure (`unknown`, saying `none`).
fn worst<'a, T: 'a>(
    entries: impl Iterator<Item = &'a T>,
    figure: impl Fn(&T) -> Option<f64>,
    unmeasured: impl Fn(&T) -> String,
    none: &str,
) -> Figure {
    let mut max: Option<f64> = None;
    let mut missing = Vec::new();
    for e in entries {
        match figure(e) {
            Some(v) => max = Some(max.map_or(v, |m: f64| m.max(v))),
            None => missing.push(unmeasured(e)),
        }
    }
    match (max, missing.is_empty()) {
        (None, true) => not_measured(none),
        (value, false) => Figure::Unknown {
            value,
            why: missing.join("; "),
        },
        (Some(v), true) => Figure::Measured(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/scenarios.md lists every SLO as declared here: what it counts,
    /// and when it is `unknown`.
    #[test]
    fn the_docs_slo_table_is_the_declared_one() {
        let docs =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scenarios.md"))
                .unwrap();
        let (begin, end) = ("<!-- slo-table: begin -->\n", "<!-- slo-table: end -->");
        let a = docs.find(begin).expect("the table's begin marker") + begin.len();
        let b = docs.find(end).expect("the table's end marker");
        let table = markdown_table();
        assert!(
            docs[a..b] == table,
            "docs/scenarios.md's SLO table is not the declared one; it should read:\n{table}"
        );
    }
    use crate::report::{
        Checks, DowntimeSummary, FailoverMs, FaultReport, LocksReport, ReshardSummary, Verdict,
        WorkloadSummary,
    };

    /// The sections of a run with these figures, converged in 12 ms.
    fn figures(
        checks: &Checks,
        workload: &WorkloadSummary,
        downtime: &DowntimeSummary,
        faults: &[FaultReport],
    ) -> Sections {
        Sections {
            checks: checks.clone(),
            workload: workload.clone(),
            downtime: downtime.clone(),
            faults: faults.to_vec(),
            convergence: super::super::Converged {
                measured_ms: Some(12.0),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn names_are_unique_and_say_their_bound() {
        for s in SLOS {
            let expected = match s.name.split('_').next() {
                Some("max") => Bound::AtMost,
                Some("min") => Bound::AtLeast,
                _ => panic!("{}: an SLO's name starts with max_ or min_", s.name),
            };
            assert_eq!(s.bound, expected, "{}", s.name);
        }
        let mut names: Vec<&str> = SLOS.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), SLOS.len());
    }

    /// Every SLO can fail: with a figure past its limit its result is `fail`
    /// (or, for a figure the run did not measure, `fail` as not measured).
    fn eviction(base: f64, later: f64) -> crate::report::EvictionChecks {
        let phase = |r: f64| crate::report::EvictionPhase {
            hot_miss_ratio: Some(r),
            ..Default::default()
        };
        crate::report::EvictionChecks {
            by_phase: [
                ("baseline".to_string(), phase(base)),
                ("during".to_string(), phase(later)),
                ("after".to_string(), phase(base)),
            ]
            .into(),
            ..Default::default()
        }
    }

    /// A second computation of an epoch, granted by `node` (the first by n1).
    fn duplicate(node: &str) -> crate::checker::stampede::Duplicate {
        crate::checker::stampede::Duplicate {
            key: 0,
            variant: crate::record::stampede::Variant::Lock,
            predecessor: None,
            first: "a".into(),
            first_node: "n1".into(),
            first_grant_ms: 1.0,
            second: "b".into(),
            second_node: node.into(),
            second_grant_ms: 2.0,
        }
    }

    #[test]
    fn every_slo_fails_over_its_limit() {
        let checks = Checks {
            lost_writes: 3,
            lost_acknowledged_writes: 3,
            counter_violations: 3,
            stray_keys: 3,
            keys_before: 10,
            keys_after: 7,
            counters: Some(CounterChecks {
                counters_checked: 1,
                lost_increments: 3,
                over_counted_increments: 3,
                ..Default::default()
            }),
            txn: Some(crate::report::TxnChecks {
                reads_checked: 10,
                torn_reads: 3,
                groups_checked: 10,
                torn_groups: 3,
                ..Default::default()
            }),
            ttl: Some(crate::report::TtlChecks {
                reads_after_deadline: 10,
                reads_before_deadline: 10,
                zombie_reads: 3,
                early_expiries: 3,
                ..Default::default()
            }),
            stale: Some(crate::report::StaleChecks {
                reads_checked: 10,
                stale_reads: 3,
                staleness_ms: crate::checker::percentiles([3_000_000, 3_000_000]),
                ..Default::default()
            }),
            // 0 % of hot reads missed in baseline, 3 % during.
            eviction: Some(eviction(0.0, 0.03)),
            replication: Some(crate::checker::replication::Replication {
                replicas: vec![crate::checker::replication::ReplicaLag {
                    writes_judged: 10,
                    unseen: 3,
                    floor_violations: 3,
                    ..Default::default()
                }],
                resyncs_full: 3,
                regions: vec![crate::checker::replication::RegionLag {
                    lag_ms: crate::checker::percentiles([3_000_000, 3_000_000]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            stampede: Some(crate::checker::stampede::Stampede {
                reads: 10,
                violations: vec![duplicate("n1"); 3],
                failover_computes: vec![duplicate("n2"); 3],
                superseded_serves: 3,
                failed: 3,
                no_serve_max_ms: 3.0,
                staleness_ms: crate::checker::percentiles([3_000_000, 3_000_000]),
                serve_ms: crate::checker::percentiles([3_000_000, 3_000_000]),
                warm: Some(crate::checker::stampede::Warm {
                    warm_ms: Some(3.0),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut workload = WorkloadSummary::default();
        workload.app.ops_failed = 3;
        workload.app.ops_indeterminate = 3;
        workload.probe.ops_failed = 3;
        for phase in ["baseline", "during", "after"] {
            answered(&mut workload.app, phase, &[3_000_000, 3_000_000]);
        }
        let downtime = DowntimeSummary {
            max: 3.0,
            probe_max: 3.0,
            write_max: 3.0,
            windows: 3,
            ..Default::default()
        };
        let faults = vec![FaultReport {
            failover: vec![FailoverMs {
                node: "s1n1".into(),
                state_ok_after_ms: Some(3.0),
                promoted_after_ms: Some(3.0),
                ..Default::default()
            }],
            rejoin: vec![crate::report::RejoinMs {
                node: "s1n1".into(),
                caught_up_after_ms: Some(3.0),
                ..Default::default()
            }],
            ..Default::default()
        }];
        let reshard = ReshardSummary {
            duration_ms: 3.0,
            keys_overwritten: 3,
            ..Default::default()
        };
        let locks = LocksReport {
            violations: 3,
            grants_per_s: 3.0,
            acquire_ms: crate::checker::percentiles([3_000_000, 3_000_000]),
            resources: crate::checker::locks::Resources {
                fenced: Some(crate::checker::locks::Fenced {
                    stale_writes_accepted: 3,
                    ..Default::default()
                }),
                unfenced: None,
            },
            ..Default::default()
        };
        let mut f = figures(&checks, &workload, &downtime, &faults);
        f.convergence.measured_ms = Some(3.0);
        f.reshard = Some(reshard);
        f.locks = Some(locks);
        // A ratio and a share: their own tests.
        for slo in SLOS
            .iter()
            .filter(|s| s.name != "max_p99_during_over_baseline" && s.name != "max_app_error_ratio")
        {
            // Every figure is 3: a maximum of 2 fails, a minimum of 4 fails.
            let failing = match slo.bound {
                Bound::AtMost => 2.0,
                Bound::AtLeast => 4.0,
            };
            let limits = [(slo.name.to_string(), failing)].into();
            let r = crate::report::evaluate_slos(&limits, |n| f.of(n), bound_of);
            assert_eq!(r[0].result, Verdict::Fail, "{}: {:?}", slo.name, r[0]);
            assert_eq!(r[0].value, Some(3.0), "{}", slo.name);
            let limits = [(slo.name.to_string(), 3.0)].into();
            let r = crate::report::evaluate_slos(&limits, |n| f.of(n), bound_of);
            assert_eq!(r[0].result, Verdict::Pass, "{}: {:?}", slo.name, r[0]);
        }
    }

    /// Ops of `phase` that were all answered, taking `ns` each.
    fn answered(app: &mut ClientSummary, phase: &str, ns: &[u64]) {
        let l = crate::checker::percentiles(ns.iter().copied());
        app.latency_ms.insert(phase.into(), l);
        app.latency_all_ms.insert(phase.into(), l);
        app.p99_answered_ms.insert(phase.into(), l.p99);
    }

    #[test]
    fn a_latency_slo_fails_when_more_than_one_op_in_a_hundred_got_no_answer() {
        let (checks, downtime) = Default::default();
        let mut workload = WorkloadSummary::default();
        // 95 % of `after` failed fast; the few that succeeded were quick.
        let ok = crate::checker::percentiles([500_000; 5]);
        let all = crate::checker::percentiles([100_000; 100]);
        workload.app.latency_ms.insert("after".into(), ok);
        workload.app.latency_all_ms.insert("after".into(), all);
        let f = figures(&checks, &workload, &downtime, &[]);
        let Figure::NoAnswer { why } = f.of("max_p99_after_ms") else {
            panic!("{:?}", f.of("max_p99_after_ms"));
        };
        assert!(
            why.contains("95 of the 100 app ops due in `after`"),
            "{why}"
        );
        let limits = [("max_p99_after_ms".to_string(), 1e9)].into();
        let r = crate::report::evaluate_slos(&limits, |n| f.of(n), bound_of);
        assert_eq!((r[0].result, r[0].value), (Verdict::Fail, None));
        // One in a hundred unanswered: the p99 is the slowest answer's rank.
        workload.app.p99_answered_ms.insert("after".into(), 0.5);
        let f = figures(&checks, &workload, &downtime, &[]);
        assert_eq!(f.of("max_p99_after_ms"), Figure::Measured(0.5));
        // No op due in the phase: not measured.
        assert!(matches!(
            f.of("max_p99_during_ms"),
            Figure::Unknown { value: None, .. }
        ));
    }

    #[test]
    fn the_error_ratio_is_failed_and_timed_out_over_every_app_op() {
        let (checks, downtime) = Default::default();
        let mut workload = WorkloadSummary::default();
        let f = figures(&checks, &workload, &downtime, &[]);
        assert_eq!(
            f.of("max_app_error_ratio"),
            not_measured("no app op was recorded")
        );
        workload.app.ops_ok = 90;
        workload.app.ops_failed = 6;
        workload.app.ops_indeterminate = 4;
        let f = figures(&checks, &workload, &downtime, &[]);
        assert_eq!(f.of("max_app_error_ratio"), Figure::Measured(0.1));
    }

    #[test]
    fn latency_over_baseline_is_a_ratio_of_the_same_run() {
        let (checks, downtime) = Default::default();
        let mut workload = WorkloadSummary::default();
        for (phase, ns) in [("baseline", 2_000_000), ("during", 6_000_000)] {
            answered(&mut workload.app, phase, &[ns]);
        }
        let f = figures(&checks, &workload, &downtime, &[]);
        let Figure::Measured(x) = f.of("max_p99_during_over_baseline") else {
            panic!("{:?}", f.of("max_p99_during_over_baseline"));
        };
        assert!((x - 3.0).abs() < 0.01, "{x}");
        workload.app.latency_ms.remove("baseline");
        workload.app.latency_all_ms.remove("baseline");
        workload.app.p99_answered_ms.remove("baseline");
        let f = figures(&checks, &workload, &downtime, &[]);
        assert!(matches!(
            f.of("max_p99_during_over_baseline"),
            Figure::Unknown { .. }
        ));
    }

    #[test]
    fn hot_miss_ratio_rise_is_the_worst_later_phase_over_baseline() {
        let (workload, downtime) = Default::default();
        let checks = Checks {
            eviction: Some(eviction(0.25, 0.5)),
            ..Default::default()
        };
        let f = figures(&checks, &workload, &downtime, &[]);
        assert_eq!(f.of("max_hot_miss_ratio_rise"), Figure::Measured(25.0));
        // Better than baseline: a negative rise.
        let checks = Checks {
            eviction: Some(eviction(0.5, 0.25)),
            ..Default::default()
        };
        let f = figures(&checks, &workload, &downtime, &[]);
        assert_eq!(f.of("max_hot_miss_ratio_rise"), Figure::Measured(0.0));
    }

    #[test]
    fn cache_figures_are_unknown_when_nothing_was_checked() {
        let (workload, downtime) = Default::default();
        // No incr, no txn in the run: not measured, never 0.
        let checks = Checks::default();
        let f = figures(&checks, &workload, &downtime, &[]);
        for name in [
            "max_lost_increments",
            "max_over_counted_increments",
            "max_torn_reads",
            "max_torn_groups",
            "max_zombie_reads",
            "max_early_expiries",
            "max_stale_reads",
            "max_staleness_ms",
            "max_hot_miss_ratio_rise",
        ] {
            assert!(
                matches!(f.of(name), Figure::Unknown { value: None, .. }),
                "{name}: {:?}",
                f.of(name)
            );
        }
        // Ran, but nothing read back: still unknown.
        let checks = Checks {
            txn: Some(crate::report::TxnChecks::default()),
            counters: Some(CounterChecks::default()),
            // TTL'd keys written, but every read before their deadline.
            ttl: Some(crate::report::TtlChecks {
                reads_checked: 5,
                reads_before_deadline: 5,
                ..Default::default()
            }),
            ..Default::default()
        };
        let f = figures(&checks, &workload, &downtime, &[]);
        assert!(matches!(f.of("max_torn_reads"), Figure::Unknown { .. }));
        assert!(matches!(f.of("max_zombie_reads"), Figure::Unknown { .. }));
        assert_eq!(f.of("max_early_expiries"), Figure::Measured(0.0));
        assert!(matches!(
            f.of("max_lost_increments"),
            Figure::Unknown { .. }
        ));
    }

    #[test]
    fn a_failover_never_seen_to_end_makes_the_worst_unknown() {
        let (checks, workload, downtime) = Default::default();
        let faults = vec![FaultReport {
            failover: vec![
                FailoverMs {
                    node: "s1n1".into(),
                    state_ok_after_ms: Some(3000.0),
                    ..Default::default()
                },
                FailoverMs {
                    node: "s2n1".into(),
                    state_ok_after_ms: None,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }];
        let f = figures(&checks, &workload, &downtime, &faults);
        match f.of("max_failover_ms") {
            Figure::Unknown { value, why } => {
                assert_eq!(value, Some(3000.0));
                assert!(why.contains("s2n1"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        // No failover at all: nothing measured.
        let none = figures(&checks, &workload, &downtime, &[]);
        assert_eq!(
            none.of("max_failover_ms"),
            not_measured("the drill failed no primary over")
        );
    }

    #[test]
    fn an_incomplete_source_makes_its_figures_unknown() {
        let (mut checks, mut workload, downtime): (Checks, WorkloadSummary, DowntimeSummary) =
            Default::default();
        // Counters and groups were read back: their figures are measured.
        checks.counters = Some(CounterChecks {
            counters_checked: 1,
            ..Default::default()
        });
        checks.txn = Some(crate::report::TxnChecks {
            reads_checked: 1,
            groups_checked: 1,
            ..Default::default()
        });
        checks.ttl = Some(crate::report::TtlChecks {
            reads_after_deadline: 1,
            reads_before_deadline: 1,
            ..Default::default()
        });
        checks.stale = Some(crate::report::StaleChecks {
            reads_checked: 1,
            ..Default::default()
        });
        checks.eviction = Some(eviction(0.0, 0.0));
        for phase in ["baseline", "during", "after"] {
            answered(&mut workload.app, phase, &[1_000_000]);
        }
        workload.app.ops_ok = 3;
        let mut f = figures(&checks, &workload, &downtime, &[]);
        f.incomplete.history = Some("12 ops dropped at the stop".into());
        for slo in SLOS {
            let figure = f.of(slo.name);
            let unknown = matches!(&figure, Figure::Unknown { why, .. } if why.contains("dropped"));
            assert_eq!(
                unknown,
                slo.source == Source::History,
                "{}: {figure:?}",
                slo.name
            );
        }
    }

    /// A drill without a lock workload measured no lock figure: its lock
    /// SLOs are never a 0 that passes. One whose workload granted nothing
    /// has no latency to judge.
    #[test]
    fn lock_slos_without_a_lock_workload_are_not_measured() {
        let (checks, workload, downtime) = Default::default();
        let mut f = figures(&checks, &workload, &downtime, &[]);
        for name in [
            "max_lock_violations",
            "max_stale_writes_accepted",
            "max_acquire_p99_ms",
            "min_grants_per_s",
        ] {
            assert_eq!(f.of(name), no_locks(), "{name}");
        }
        let idle = LocksReport::default();
        f.locks = Some(idle);
        assert!(matches!(
            f.of("max_acquire_p99_ms"),
            Figure::Unknown { value: None, .. }
        ));
        // No fenced resource: nothing to say about its stale writes.
        assert_eq!(
            f.of("max_stale_writes_accepted"),
            not_measured("the lock workload wrote no fenced resource")
        );
        assert_eq!(f.of("max_lock_violations"), Figure::Measured(0.0));
        // A history cut short makes every lock figure unknown.
        let cut = LocksReport {
            incomplete: Some("4 lock events ran past the history's size limit".into()),
            ..Default::default()
        };
        f.locks = Some(cut);
        assert!(matches!(
            f.of("max_lock_violations"),
            Figure::Unknown { value: Some(_), .. }
        ));
    }

    #[test]
    fn an_empty_phase_is_unknown_never_zero() {
        let (checks, workload, downtime) = Default::default();
        let f = figures(&checks, &workload, &downtime, &[]);
        assert!(matches!(
            f.of("max_p99_during_ms"),
            Figure::Unknown { value: None, .. }
        ));
    }
}
