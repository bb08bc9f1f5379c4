//! The stampede section of a report: what the readers saw of a hot key
//! expiring, and whether its recomputation stayed single, as one
//! [`Section`] that every rendering shows.

use super::section::{EMPTY, Section, Table};
use super::text::{group, ms, spread};
use crate::checker::stampede::{Duplicate, Stampede};

/// Duplicates listed in the Markdown at most (report.json has them all).
const SHOWN: usize = 10;

/// A value's id, without its freshness (a `|` would split a Markdown cell).
fn id(value: &str) -> &str {
    value.split('|').next().unwrap_or(value)
}

/// Label, text, and whether the row reports a broken guarantee.
pub(super) fn rows(s: &Stampede) -> Vec<(&'static str, String, bool)> {
    let mut rows = vec![
        (
            "readers",
            format!(
                "{} readers of {} key(s), policy {} · {} reads: {} hits, {} after waiting, {} computed, {} stale, {} failed · {} command errors",
                s.readers,
                s.keys,
                s.policy,
                group(s.reads),
                group(s.hits),
                group(s.waited),
                group(s.computed),
                group(s.stale_served),
                group(s.failed),
                group(s.command_errors)
            ),
            s.failed > 0,
        ),
        (
            "downtime",
            if s.no_serve_max_ms > 0.0 {
                format!(
                    "no read served for {} from {:.2} s (the longest such stretch a reader waited through)",
                    ms(s.no_serve_max_ms),
                    s.no_serve_from_ms / 1e3
                )
            } else {
                "every read was served".into()
            },
            false,
        ),
        (
            "serve latency",
            format!(
                "hits p50 {} p99 {} · misses (waited or computed) p50 {} p99 {} max {}",
                ms(s.hit_ms.p50),
                ms(s.hit_ms.p99),
                ms(s.miss_ms.p50),
                ms(s.miss_ms.p99),
                ms(s.miss_ms.max)
            ),
            false,
        ),
        (
            "computations",
            format!(
                "{} in {} expiry epochs · stampede violations {} · lock expired {} · failover {}{} · early (value gone before its PX) {}",
                group(s.computes),
                group(s.epochs),
                s.violations.len(),
                s.lock_expired_computes.len(),
                s.failover_computes.len(),
                match s.failover_window_ms {
                    Some((a, b)) => format!(" ({:.2}–{:.2} s)", a / 1e3, b / 1e3),
                    None => String::new(),
                },
                group(s.early_recomputes)
            ),
            !s.violations.is_empty(),
        ),
        (
            "served values",
            format!(
                "superseded {} · stale {}{}",
                group(s.superseded_serves),
                group(s.stale_served),
                if s.staleness_ms.count > 0 {
                    format!(" (past freshness {})", spread(&s.staleness_ms))
                } else {
                    String::new()
                }
            ),
            s.superseded_serves > 0,
        ),
    ];
    rows.extend(warm_and_history(s));
    rows
}

/// The warm-up row (how long the misses took to settle) and the reads the
/// history could not hold.
fn warm_and_history(s: &Stampede) -> Vec<(&'static str, String, bool)> {
    let mut rows = Vec::new();
    if let Some(w) = &s.warm {
        rows.push((
            "warm-up",
            format!(
                "miss ratio {:.1} % in the baseline ({} reads), peak {:.1} % after the action · {}",
                w.baseline_miss_ratio * 100.0,
                group(w.baseline_reads),
                w.peak_miss_ratio * 100.0,
                match (w.warm_ms, w.not_warm_for_ms) {
                    (Some(v), _) => format!("back within a point of the baseline after {}", ms(v)),
                    (None, Some(v)) => format!("not back by the end ({} after the action)", ms(v)),
                    (None, None) => "not measured".into(),
                }
            ),
            w.warm_ms.is_none(),
        ));
    }
    if s.unrecorded > 0 {
        rows.push((
            "history",
            format!("{} reads past the history's size: not judged", s.unrecorded),
            true,
        ));
    }
    rows
}

/// The readers of each region (`stampede.regions`): the header and a row
/// per region, for the Markdown and the HTML report; `None` without
/// regions.
pub(super) fn region_grid(s: &Stampede) -> Option<(Vec<&'static str>, Vec<Vec<String>>)> {
    if s.by_region.is_empty() {
        return None;
    }
    let head = vec![
        "region",
        "readers",
        "reads",
        "hits",
        "failed",
        "computations",
        "polls",
        "hit p50",
        "miss p50",
        "miss p99",
        "serve p99",
        "longest unserved",
    ];
    let rows = (s.by_region.iter())
        .map(|g| {
            vec![
                g.region.clone(),
                g.readers.to_string(),
                group(g.reads),
                group(g.hits),
                group(g.failed),
                group(g.computes),
                group(g.polls),
                ms(g.hit_ms.p50),
                ms(g.miss_ms.p50),
                ms(g.miss_ms.p99),
                ms(g.serve_ms.p99),
                ms(g.no_serve_max_ms),
            ]
        })
        .collect();
    Some((head, rows))
}

/// The section: the rows (a broken guarantee marked), then per variant,
/// per phase and per region, then the first duplicates.
pub(super) fn section(s: &Stampede) -> Section {
    let mut out = Section::titled("Stampede");
    out.table(Table::of_labels(rows(s)));
    out.table(by_variant(s));
    out.table(by_phase(s));
    if let Some((head, rows)) = region_grid(s) {
        out.text("By the readers' region:");
        out.table(Table::new(&head).with_rows(rows));
    }
    let dups = duplicates(s);
    if !dups.rows.is_empty() {
        out.text(format!(
            "Second computations in one epoch (the first {SHOWN} at most; report.json has all):"
        ));
        out.table(dups);
    }
    out
}

/// Reads, failures, computations and serve latency per variant.
fn by_variant(s: &Stampede) -> Table {
    let t = Table::new(&[
        "variant",
        "reads",
        "failed",
        "computations",
        "violations",
        "lock expired",
        "failover",
        "serve p50",
        "serve p99",
        "serve max",
    ]);
    t.with_rows(s.by_variant.iter().map(|v| {
        vec![
            v.variant.map_or(EMPTY, |v| v.as_str()).to_string(),
            group(v.reads),
            group(v.failed),
            group(v.computes),
            v.violations.to_string(),
            v.lock_expired_computes.to_string(),
            v.failover_computes.to_string(),
            ms(v.serve_ms.p50),
            ms(v.serve_ms.p99),
            ms(v.serve_ms.max),
        ]
    }))
}

/// Reads, failures, computations and serve latency per phase.
fn by_phase(s: &Stampede) -> Table {
    let t = Table::new(&[
        "phase",
        "reads",
        "failed",
        "computations",
        "serve p50",
        "serve p99",
        "serve max",
    ]);
    t.with_rows(s.by_phase.iter().map(|p| {
        vec![
            p.phase.clone(),
            group(p.reads),
            group(p.failed),
            group(p.computes),
            ms(p.serve_ms.p50),
            ms(p.serve_ms.p99),
            ms(p.serve_ms.max),
        ]
    }))
}

/// The first second computations in one epoch: violations, then those a
/// failover or an expired lock explains.
fn duplicates(s: &Stampede) -> Table {
    let dups = (s.violations.iter().map(|d| ("violation", d)))
        .chain(s.failover_computes.iter().map(|d| ("failover", d)))
        .chain(s.lock_expired_computes.iter().map(|d| ("lock expired", d)))
        .take(SHOWN);
    let t = Table::aligned(
        &[
            "kind",
            "key",
            "variant",
            "first (node, granted)",
            "second (node, granted)",
        ],
        "lrlll",
    );
    t.with_rows(dups.map(|(kind, d): (&str, &Duplicate)| {
        vec![
            kind.to_string(),
            d.key.to_string(),
            d.variant.as_str().to_string(),
            format!(
                "{} ({}, {:.3} s)",
                id(&d.first),
                d.first_node,
                d.first_grant_ms / 1e3
            ),
            format!(
                "{} ({}, {:.3} s)",
                id(&d.second),
                d.second_node,
                d.second_grant_ms / 1e3
            ),
        ]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_violation_is_marked_and_listed() {
        let d = Duplicate {
            key: 0,
            variant: crate::record::stampede::Variant::Lock,
            predecessor: None,
            first: "r1-1|5".into(),
            first_node: "s1n1".into(),
            first_grant_ms: 1000.0,
            second: "r2-1|6".into(),
            second_node: "s1n1".into(),
            second_grant_ms: 1010.0,
        };
        let s = Stampede {
            reads: 10,
            violations: vec![d],
            ..Default::default()
        };
        let rows = rows(&s);
        assert!(rows.iter().any(|(l, t, bad)| *l == "computations"
            && *bad
            && t.contains("stampede violations 1")));
        let out = section(&s);
        let dups = out.rows_under("kind");
        assert_eq!(
            dups[0][..4],
            ["violation", "0", "lock", "r1-1 (s1n1, 1.000 s)"]
        );
        assert!(out.rows_under("region").is_empty(), "no regions, no table");
    }

    #[test]
    fn readers_in_regions_get_a_row_each() {
        use crate::checker::stampede::RegionFigures;
        let s = Stampede {
            by_region: vec![
                RegionFigures {
                    region: "eu".into(),
                    readers: 2,
                    reads: 1200,
                    computes: 9,
                    ..Default::default()
                },
                RegionFigures {
                    region: "ap".into(),
                    readers: 2,
                    reads: 300,
                    polls: 4200,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let rows = section(&s).rows_under("region");
        assert_eq!(rows[0][..7], ["eu", "2", &group(1200), "0", "0", "9", "0"]);
        assert_eq!(
            rows[1][..7],
            ["ap", "2", "300", "0", "0", "0", &group(4200)]
        );
    }
}
