//! The table of every SLO: one entry each, with its name, unit, bound, what
//! it counts, when it is `unknown`, the kinds it applies to and the figure
//! it reads. Adding an SLO is adding an entry here.

use super::figures::*;
use super::{Slo, Source};
use crate::report::{Bound, Figure};
use crate::topology::Kind;

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
        name: "max_linearizability_violations",
        unit: "keys",
        bound: Bound::AtMost,
        reads: "keys whose history (every client's GET, SET, DEL, INCR, MULTI/EXEC and MGET on it, replica reads too, and the value read back at the end) no single copy of the key explains, each op taking effect between its send and its answer (an indeterminate one any time after its send, or never)",
        unknown: "no key was checked, or the eviction policy may evict any key; a key never read or undecided within the search budget makes the count a floor (`at least`): it fails a limit it is already over, and is `unknown` under it",
        source: Source::History,
        on: EVERY_KIND,
        figure: linearizability,
    },
    Slo {
        name: "max_shard_skew",
        unit: "x",
        bound: Bound::AtMost,
        reads: "the busiest shard's answered ops over an even share of them (1: even; N on N shards: every op on one), each op counted on the primary that owned its slot before the drill",
        unknown: "not a cluster, or no op was answered",
        source: Source::History,
        on: CLUSTER,
        figure: shard_skew,
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
        reads: "from the last action until every node agrees on the slot map (a replicated topology: until one primary has every replica caught up and every Sentinel that is up names it, no failover under way)",
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
        name: "max_sentinel_failover_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "the slowest Sentinel failover: from a fault of the primary (kill, stop, pause, a partition around it, or any partition leaving it apart from a quorum and a majority of the Sentinels — a `regions` cut, say) to the Sentinels' `+switch-master`; one that did not come before the next fault or the end of the run fails it (with no figure)",
        unknown: "no fault hit the primary, or the tool was not listening to any Sentinel over a fault's window",
        source: Source::Drill,
        on: &[Kind::Replicated],
        figure: sentinel_failover,
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
        name: "max_lost_updates",
        unit: "updates",
        bound: Bound::AtMost,
        reads: "acknowledged counter increments the counters do not hold at the end, locked and atomic paths together (`locks.counter`)",
        unknown: "as `max_lock_violations`, or a counter was not read back, or a path acknowledged no increment",
        source: Source::Locks,
        on: EVERY_KIND,
        figure: |f| match &f.locks {
            None => no_locks(),
            Some(l) => match &l.counters {
                None => not_measured("the lock workload kept no counter (`locks.counter`)"),
                Some(c) => c.lost().map_or_else(
                    || Figure::Unknown {
                        value: None,
                        why: std::iter::once(&c.locked)
                            .chain(&c.atomic)
                            .find_map(|p| p.unknown.clone())
                            .unwrap_or_else(|| "a counter's lost updates are unknown".into()),
                    },
                    count,
                ),
            },
        },
    },
    Slo {
        name: "min_atomic_speedup",
        unit: "×",
        bound: Bound::AtLeast,
        reads: "the atomic path's acknowledged increments per second over the locked path's (`locks.atomic_workers`)",
        unknown: "as `max_lock_violations`, or either path acknowledged no increment",
        source: Source::Locks,
        on: EVERY_KIND,
        figure: |f| match &f.locks {
            None => no_locks(),
            Some(l) => match l.counters.as_ref().filter(|c| c.atomic.is_some()) {
                None => {
                    not_measured("the lock workload ran no atomic path (`locks.atomic_workers`)")
                }
                Some(c) => c.atomic_speedup.map_or_else(
                    || Figure::Unknown {
                        value: None,
                        why: "a path acknowledged no increment".into(),
                    },
                    Figure::Measured,
                ),
            },
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
        name: "max_stale_after_invalidation",
        unit: "reads",
        bound: Bound::AtMost,
        reads: "invalidation reads that found in the cache a value older than the store's at the read's start after the newer write's invalidation of that key was acknowledged (a fill race, an update race, a lost invalidation)",
        unknown: "the invalidation workload made no write, no read found a value in the cache, or its history has holes",
        source: Source::Drill,
        on: EVERY_KIND,
        figure: |f| invalidation(f, |i| Figure::Measured(i.stale_after_invalidation as f64)),
    },
    Slo {
        name: "max_lost_invalidations",
        unit: "reads",
        bound: Bound::AtMost,
        reads: "invalidation reads that found a value written before an acknowledged invalidation of its key began: the delete (or update) was lost, as in a failover that promoted a replica that never got it",
        unknown: "as `max_stale_after_invalidation`",
        source: Source::Drill,
        on: EVERY_KIND,
        figure: |f| invalidation(f, |i| Figure::Measured(i.causes.lost_invalidation as f64)),
    },
    Slo {
        name: "max_stale_local_copies",
        unit: "reads",
        bound: Bound::AtMost,
        reads: "invalidation reads answered by the reader's own client-side cache with a value written before an acknowledged invalidation of its key began: the server's invalidation message did not clear the local copy (`invalidation.client_cache`)",
        unknown: "as `max_stale_after_invalidation`, or no read was answered by a local copy",
        source: Source::Drill,
        on: CLUSTER,
        figure: |f| {
            invalidation(f, |i| {
                if i.local_hits == 0 {
                    not_measured("no read was answered by a reader's local copy")
                } else {
                    Figure::Measured(i.causes.local_copy as f64)
                }
            })
        },
    },
    Slo {
        name: "max_stale_lifetime_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "the longest a stale value outlived its invalidation: from when it should have been gone to the last read that still found it (a lower bound)",
        unknown: "as `max_stale_after_invalidation`",
        source: Source::Drill,
        on: EVERY_KIND,
        figure: |f| {
            invalidation(f, |i| {
                Figure::Measured(if i.stale_lifetime.count == 0 {
                    0.0
                } else {
                    i.stale_lifetime.max
                })
            })
        },
    },
    Slo {
        name: "max_invalidation_p99_ms",
        unit: "ms",
        bound: Bound::AtMost,
        reads: "invalidation writes' p99 from the store's commit until the last key depending on it was deleted (or updated): a cascade's time",
        unknown: "as `max_stale_after_invalidation`, or no write's invalidation ended whole",
        source: Source::Drill,
        on: EVERY_KIND,
        figure: |f| {
            invalidation(f, |i| match i.invalidation_time.p99_measured() {
                Some(v) => Figure::Measured(v),
                None => Figure::Unknown {
                    value: None,
                    why: "no write's invalidation ended whole".into(),
                },
            })
        },
    },
    Slo {
        name: "max_mixed_group_reads",
        unit: "reads",
        bound: Bound::AtMost,
        reads: "invalidation group reads (a key and its dependants in one MGET) whose values disagree on a source's version: old and new seen together",
        unknown: "as `max_stale_after_invalidation`, or the drill made no group read (`group_reads`)",
        source: Source::Drill,
        on: EVERY_KIND,
        figure: |f| {
            invalidation(f, |i| {
                if i.group_reads == 0 {
                    Figure::Unknown {
                        value: None,
                        why: "the invalidation workload made no group read".into(),
                    }
                } else {
                    Figure::Measured(i.mixed_group_reads as f64)
                }
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
