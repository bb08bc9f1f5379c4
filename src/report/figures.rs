//! The headline figures of a run: the few numbers the top of the HTML page
//! shows and `compare` diffs between two runs. One list, so what people read
//! first and what a nightly watches for regressions are the same figures.

use super::model::Report;

/// One headline figure. `value` is `None` when the run did not measure it
/// (shown as "not measured", never as 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    /// Stable name, used by `compare` and its thresholds.
    pub key: &'static str,
    /// What a person reads.
    pub label: &'static str,
    pub unit: &'static str,
    pub value: Option<f64>,
}

/// The SLOs that bound a headline figure (by [`Headline::key`]): a drill
/// that expects one of them to fail, or allows it to, expects the figure
/// to move, so `compare` does not count its getting worse as a regression
/// while the drill's expectation holds.
pub fn bounding_slos(key: &str) -> &'static [&'static str] {
    match key {
        "downtime_ms" => &["max_app_downtime_ms", "max_app_write_downtime_ms"],
        "probe_downtime_ms" => &["max_probe_downtime_ms"],
        "p99_ms" => &["max_p99_during_over_baseline"],
        // A lost acknowledged write is also a lost key.
        "lost_writes" => &[
            "max_lost_writes",
            "max_lost_keys",
            "max_lost_acknowledged_writes",
        ],
        "lost_acknowledged_writes" => &["max_lost_acknowledged_writes"],
        "failover_ms" => &["max_failover_ms"],
        "convergence_ms" => &["max_convergence_ms"],
        _ => &[],
    }
}

/// Every headline figure of `r`, in display order.
pub fn headline(r: &Report) -> Vec<Headline> {
    let h = |key, label, unit, value| Headline {
        key,
        label,
        unit,
        value,
    };
    vec![
        h(
            "downtime_ms",
            "App downtime (longest window, any shard or moved slots)",
            "ms",
            measured_downtime(r, "app", r.downtime_ms.max, &r.downtime_ms.per_shard),
        ),
        h(
            "probe_downtime_ms",
            "Probe downtime (longest window, any shard or moved slots)",
            "ms",
            measured_downtime(
                r,
                "probe",
                r.downtime_ms.probe_max,
                &r.downtime_ms.probe_per_shard,
            ),
        ),
        h("p99_ms", "App p99, worst phase", "ms", worst_p99(r)),
        h(
            "lost_writes",
            "Lost keys",
            "keys",
            lost(r, r.checks.lost_writes),
        ),
        h(
            "lost_acknowledged_writes",
            "Lost acknowledged writes",
            "writes",
            lost(r, r.checks.lost_acknowledged_writes),
        ),
        h(
            "failover_ms",
            if r.sentinel.is_some() {
                "Failover (fault → +switch-master), longest"
            } else {
                "Failover (fault → cluster_state ok), longest"
            },
            "ms",
            failover(r),
        ),
        h("convergence_ms", "Convergence", "ms", r.convergence_ms),
    ]
}

/// The reshard's figures beside the headline ones, for a side-by-side of
/// runs that moved slots (a matrix over servers or methods); empty without a
/// reshard. Unmeasured figures are `None`, never 0.
pub fn reshard(r: &Report) -> Vec<Headline> {
    let Some(rs) = &r.reshard else {
        return Vec::new();
    };
    let h = |key, label, unit, value| Headline {
        key,
        label,
        unit,
        value,
    };
    let during = r
        .workload
        .app
        .latency_ms
        .get("during")
        .filter(|l| l.count > 0);
    let during_s = r
        .phases
        .iter()
        .find(|p| p.name == "during")
        .map(|p| (p.end_ms - p.start_ms) / 1000.0)
        .filter(|s| *s > 0.0);
    let pause = rs
        .migrations
        .iter()
        .filter_map(|m| m.pause_seen_ms)
        .reduce(f64::max);
    vec![
        h(
            "reshard_ms",
            "Reshard, first move to last handover",
            "ms",
            (rs.slots_moved > 0).then_some(rs.duration_ms),
        ),
        h(
            "reshard_keys_per_s",
            "Keys moved per second",
            "keys/s",
            (rs.slots_moved > 0 && rs.keys_moved > 0).then_some(rs.keys_per_s),
        ),
        h(
            "ops_during_per_s",
            "App ops completed per second while slots moved",
            "ops/s",
            during.zip(during_s).map(|(l, s)| l.count as f64 / s),
        ),
        h(
            "p99_during_ms",
            "App p99 while slots moved",
            "ms",
            during.map(|l| l.p99),
        ),
        h(
            "gap_ms",
            "App longest wait between two successes, any shard",
            "ms",
            (r.workload.app.ops_ok > 0).then_some(r.downtime_ms.gap_max),
        ),
        h(
            "pause_seen_ms",
            "Server write pause, as polled (atomic only)",
            "ms",
            pause,
        ),
    ]
}

/// A downtime figure is measured when the run had shards to measure and
/// the check did not find its view incomplete (`downtime_ms.unknown`).
fn measured_downtime(
    r: &Report,
    view: &str,
    max: f64,
    per_shard: &std::collections::BTreeMap<String, f64>,
) -> Option<f64> {
    let measured = (!per_shard.is_empty() || r.workload.app.ops_ok > 0)
        && !r.downtime_ms.unknown.contains_key(view);
    measured.then_some(max)
}

/// A lost-write count, unless keys were not read back.
fn lost(r: &Report, n: u64) -> Option<f64> {
    (!r.checks.unknown.contains_key("lost_writes")).then_some(n as f64)
}

/// The app clients' worst p99 over the phases that had ok ops.
fn worst_p99(r: &Report) -> Option<f64> {
    r.workload
        .app
        .latency_ms
        .values()
        .filter(|l| l.count > 0)
        .map(|l| l.p99)
        .reduce(f64::max)
}

/// The longest failover, from the fault until every node reported
/// `cluster_state:ok`; `None` when no failover was measured.
fn failover(r: &Report) -> Option<f64> {
    if let Some(s) = &r.sentinel {
        // Each fault that asked the Sentinels for one, to its
        // +switch-master; none when one of them did not come.
        let due = s.timelines.iter().filter(|t| t.failover_due);
        return due
            .map(|t| {
                (t.steps.iter())
                    .find(|x| x.event == "+switch-master")
                    .and_then(|x| x.after_ms)
            })
            .collect::<Option<Vec<f64>>>()?
            .into_iter()
            .reduce(f64::max);
    }
    r.faults
        .iter()
        .flat_map(|f| &f.failover)
        .filter_map(|f| f.state_ok_after_ms)
        .reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(r: &Report, key: &str) -> Option<f64> {
        headline(r)
            .into_iter()
            .find(|h| h.key == key)
            .unwrap()
            .value
    }

    /// With Sentinels, the failover figure is the slowest +switch-master of
    /// the faults that asked for one — and none at all when one of them
    /// never came (a missed failover is not a fast one), or none was due.
    #[test]
    fn a_sentinel_failover_is_measured_only_when_every_due_one_came() {
        use crate::report::sentinel::{SentinelReport, SentinelStep, SentinelTimeline};
        let timeline = |due: bool, switched: Option<f64>| SentinelTimeline {
            failover_due: due,
            fault: "kill primary_of:0".into(),
            nodes: vec!["n1".into()],
            at_ms: 1000.0,
            window_ms: 4000.0,
            listening: 3,
            steps: switched
                .map(|ms| SentinelStep {
                    event: "+switch-master".into(),
                    after_ms: Some(ms),
                    sentinel: None,
                    detail: None,
                })
                .into_iter()
                .collect(),
            old_primary: Some("n1".into()),
            new_primary: switched.map(|_| "n2".into()),
            first_success_ms: None,
            sdown_late: None,
            split_brain: None,
            unknown: Default::default(),
        };
        let with = |timelines: Vec<SentinelTimeline>| {
            let mut r = crate::report::tests::sample();
            r.sentinel = Some(SentinelReport {
                master_name: "t".into(),
                sentinels: vec!["sentinel1".into()],
                quorum: 2,
                down_after_ms: 2000,
                failover_timeout_ms: 10000,
                events: Default::default(),
                timelines,
                writes_per_bucket: Default::default(),
                unknown: Default::default(),
            });
            r
        };
        let two = with(vec![
            timeline(true, Some(3300.0)),
            timeline(true, Some(4100.0)),
        ]);
        assert_eq!(value(&two, "failover_ms"), Some(4100.0));
        let missed = with(vec![timeline(true, Some(3300.0)), timeline(true, None)]);
        assert_eq!(value(&missed, "failover_ms"), None);
        let undue = with(vec![timeline(false, None)]);
        assert_eq!(value(&undue, "failover_ms"), None);
    }

    #[test]
    fn a_failover_is_measured_only_when_a_fault_measured_one() {
        let r = crate::report::tests::sample();
        assert_eq!(value(&r, "failover_ms"), None);
        assert_eq!(value(&r, "p99_ms"), Some(7.5));
        assert_eq!(value(&r, "convergence_ms"), Some(104.0));
        let f = crate::report::tests::sample_failover();
        assert_eq!(value(&f, "failover_ms"), Some(2790.0));
        assert_eq!(value(&f, "lost_writes"), Some(3.0));
        assert_eq!(value(&f, "lost_acknowledged_writes"), Some(4.0));
    }

    #[test]
    fn every_headline_figure_names_the_slos_that_bound_it() {
        for h in headline(&crate::report::tests::sample()) {
            assert!(!bounding_slos(h.key).is_empty(), "{}", h.key);
        }
    }

    #[test]
    fn keys_are_unique() {
        let h = headline(&crate::report::tests::sample());
        let mut keys: Vec<_> = h.iter().map(|h| h.key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), h.len());
    }
}
