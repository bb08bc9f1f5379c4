//! The invalidation section of a report: what readers of a cache kept
//! consistent by invalidation saw — stale values within the write's own
//! window, and after its invalidation was acknowledged (the races and lost
//! deletes, with their witnesses) — as one [`Section`] every rendering shows.

use super::section::{EMPTY, Section, Table};
use super::text::{group, ms};
use crate::checker::invalidation::Invalidation;

/// Label, text, and whether the row reports a broken guarantee.
fn rows(i: &Invalidation) -> Vec<(&'static str, String, bool)> {
    let c = &i.causes;
    let mut rows = vec![
        (
            "reads",
            format!(
                "{} key reads: {} hits, {} misses (then filled) · {} reads failed, {} fills failed · {} values not the workload's",
                group(i.reads),
                group(i.hits),
                group(i.misses),
                group(i.failed_reads),
                group(i.failed_fills),
                group(i.unjudged)
            ),
            false,
        ),
        (
            "writes",
            format!(
                "{} store writes · {} invalidations with a failed command · {} not invalidated whole when the drill stopped",
                group(i.writes),
                group(i.invalidations_failed),
                group(i.unfinished_writes)
            ),
            i.invalidations_failed > 0,
        ),
        (
            "stale, in window",
            format!(
                "{} hits older than the store while the newer write's invalidation was still on its way (cache-aside's own window)",
                group(i.stale_in_window)
            ),
            false,
        ),
        (
            "stale, unacknowledged",
            format!(
                "{} hits older than the store after the newer write's invalidation failed",
                group(i.stale_unacked)
            ),
            i.stale_unacked > 0,
        ),
        (
            "stale after invalidation",
            format!(
                "{} hits older than the store after the newer write's invalidation was acknowledged: {} fill races, {} update races, {} lost invalidations{} · {} stale values, outliving their invalidation by {}",
                group(i.stale_after_invalidation),
                group(c.fill_race),
                group(c.update_race),
                group(c.lost_invalidation),
                {
                    let mut more = String::new();
                    if i.local_hits > 0 || c.local_copy > 0 {
                        more += &format!(", {} stale local copies", group(c.local_copy));
                    }
                    if !i.by_region.is_empty() || c.replica_lag > 0 {
                        more += &format!(", {} replicas behind", group(c.replica_lag));
                    }
                    more
                },
                group(i.stale_episodes),
                if i.stale_lifetime.count == 0 {
                    EMPTY.to_string()
                } else {
                    format!(
                        "p50 {} p99 {} max {}",
                        ms(i.stale_lifetime.p50),
                        ms(i.stale_lifetime.p99),
                        ms(i.stale_lifetime.max)
                    )
                }
            ),
            i.stale_after_invalidation > 0,
        ),
        (
            "invalidation time",
            if i.invalidation_time.count == 0 {
                EMPTY.to_string()
            } else {
                format!(
                    "from the store's commit to the last dependant deleted or updated: p50 {} p99 {} max {} ({} writes)",
                    ms(i.invalidation_time.p50),
                    ms(i.invalidation_time.p99),
                    ms(i.invalidation_time.max),
                    group(i.invalidation_time.count)
                )
            },
            false,
        ),
        (
            "group reads",
            if i.group_reads == 0 {
                EMPTY.to_string()
            } else {
                format!(
                    "{} reads of a key with its dependants · {} saw old and new together",
                    group(i.group_reads),
                    group(i.mixed_group_reads)
                )
            },
            i.mixed_group_reads > 0,
        ),
    ];
    if i.local_hits > 0 {
        rows.insert(
            1,
            (
                "client-side cache",
                format!(
                    "{} hits answered by the readers' own copies ({:.1} % of the hits) · {} of them stale after an acknowledged invalidation the copy missed",
                    group(i.local_hits),
                    100.0 * i.local_hits as f64 / i.hits.max(1) as f64,
                    group(c.local_copy)
                ),
                c.local_copy > 0,
            ),
        );
    }
    rows
}

/// Per policy: writes, hits, stale reads, how long they lived, the
/// invalidation's p99.
fn by_policy(i: &Invalidation) -> Table {
    let opt = |v: Option<f64>| v.map_or(EMPTY.to_string(), ms);
    Table::new(&[
        "policy",
        "writes",
        "hits",
        "stale in window",
        "stale, unacknowledged",
        "stale after invalidation",
        "longest stale",
        "invalidation p99",
    ])
    .with_rows(i.by_policy.iter().map(|p| {
        vec![
            p.policy.as_str().to_string(),
            group(p.writes),
            group(p.hits),
            group(p.stale_in_window),
            group(p.stale_unacked),
            group(p.stale_after_invalidation),
            opt(p.longest_stale_ms),
            opt(p.invalidation_p99_ms),
        ]
    }))
}

/// Per readers' region: reads, hits (a replica's), stale reads, and the
/// window of staleness.
fn by_region(i: &Invalidation) -> Table {
    Table::new(&[
        "readers in",
        "readers",
        "hits",
        "from a replica",
        "stale in window",
        "stale after invalidation",
        "replica behind",
        "window p50",
        "p99",
        "max",
    ])
    .with_rows(i.by_region.iter().map(|r| {
        let l = &r.stale_lifetime;
        let lat = |v: f64| {
            if l.count > 0 {
                ms(v)
            } else {
                EMPTY.to_string()
            }
        };
        vec![
            r.region.clone(),
            r.readers.to_string(),
            group(r.hits),
            group(r.replica_hits),
            group(r.stale_in_window),
            group(r.stale_after_invalidation),
            group(r.causes.replica_lag),
            lat(l.p50),
            lat(l.p99),
            lat(l.max),
        ]
    }))
}

/// The section: the rows, the policies side by side, the witnesses.
pub(super) fn section(i: &Invalidation) -> Section {
    let mut out = Section::titled("Invalidation");
    if let Some(why) = &i.unknown {
        out.warning(format!("Not judged: {why}."));
    }
    out.table(Table::of_labels(rows(i)));
    if !i.by_policy.is_empty() {
        out.table(by_policy(i));
    }
    if !i.by_region.is_empty() {
        out.text("By the readers' region (the window: from when a stale value should have been gone to the region's last read of it):");
        out.table(by_region(i));
    }
    for w in &i.witnesses {
        // A key is a source of its own; another source is a key it depends
        // on, or a tag.
        let through = if w.source == w.key {
            String::new()
        } else {
            format!(" (through source {})", w.source)
        };
        out.text(format!(
            "A {} on key {}{through}, step by step:",
            w.cause.as_str().replace('_', " "),
            w.key,
        ));
        out.list(
            w.steps
                .iter()
                .map(|s| format!("{:.3} s: {}", s.at_ms / 1e3, s.what))
                .collect(),
        );
    }
    out
}
