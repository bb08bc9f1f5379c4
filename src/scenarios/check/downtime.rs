//! The availability checker: downtime by invocation (see
//! [`crate::checker::downtime`]) per shard and per part of a shard the
//! drill split, for the app clients, their writes alone and the probe, with
//! the longest wait between two successes; every region's clients apart,
//! the worst of them counted in (`downtime_ms`). A view with no op, or with
//! a shard or part holding keys of the drill that none of its ops reached,
//! is `unknown` with why.

use std::collections::BTreeMap;

use super::{Checker, Run};
use crate::checker;
use crate::report::{ClientRegion, DowntimeSummary};

/// The availability checker; the regions' own views come from their
/// section (`client_regions`), whose worst counts in the run's.
pub(crate) struct Availability<'a> {
    pub regions: &'a [ClientRegion],
}

impl Checker for Availability<'_> {
    type Section = DowntimeSummary;

    fn check(&self, run: &Run) -> DowntimeSummary {
        let cuts = run.cuts();
        let app = cuts.view(run.app.iter().copied(), "app ops");
        let probe = cuts.view(run.probe.iter().copied(), "probe ops");
        // Writes alone: a shard whose reads go on while its writes are
        // paused (a coordinated failover) is down for writers all the same.
        let writes = cuts.view(
            run.app.iter().copied().filter(|o| o.is_write()),
            "app writes",
        );
        let mut downtime = DowntimeSummary {
            per_shard: ms_of(&app.shards),
            max: app.max_ms,
            windows: app.shards.per_shard.values().map(|w| w.windows).sum(),
            probe_per_shard: ms_of(&probe.shards),
            probe_max: probe.max_ms,
            gap_per_shard: (app.shards.per_shard.iter())
                .map(|(k, w)| (k.clone(), w.longest_gap_ms))
                .collect(),
            gap_max: (app.shards.per_shard.values())
                .map(|w| w.longest_gap_ms)
                .fold(0.0, f64::max),
            write_per_shard: ms_of(&writes.shards),
            write_max: writes.max_ms,
            per_group: ms_of(&app.groups),
            probe_per_group: ms_of(&probe.groups),
            write_per_group: ms_of(&writes.groups),
            unknown: [("app", &app), ("writes", &writes), ("probe", &probe)]
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_string(), v.unknown.clone()?)))
                .collect(),
        };
        // Clients in regions see different networks: the downtime the SLOs
        // read is the worst region's, which the windows over every client at
        // once (one region's successes closing another's outage) can hide.
        // Each shard's worst view, a region's included.
        for (_, [app, writes, probe]) in run.region_views() {
            for (all, view) in [
                (&mut downtime.per_shard, app),
                (&mut downtime.write_per_shard, writes),
                (&mut downtime.probe_per_shard, probe),
            ] {
                for (shard, w) in view.shards.per_shard.iter() {
                    let x = all.entry(shard.clone()).or_insert(0.0);
                    *x = x.max(w.ms);
                }
            }
        }
        for g in self.regions {
            downtime.max = downtime.max.max(g.downtime_ms);
            downtime.write_max = downtime.write_max.max(g.write_downtime_ms);
            downtime.probe_max = downtime.probe_max.max(g.probe_downtime_ms);
            // A region's view that could not be measured leaves the worst
            // region's downtime unknown too.
            for (view, why) in &g.unknown {
                downtime
                    .unknown
                    .entry(view.clone())
                    .or_insert_with(|| format!("the clients in `{}`: {why}", g.region));
            }
        }
        downtime
    }
}

/// Each shard's or part's longest window, ms.
fn ms_of(d: &checker::Downtime) -> BTreeMap<String, f64> {
    d.per_shard.iter().map(|(k, w)| (k.clone(), w.ms)).collect()
}
