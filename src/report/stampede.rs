//! The stampede section of a report: what the readers saw of a hot key
//! expiring, and whether its recomputation stayed single — in Markdown
//! here, and the same rows for the HTML report (`html.rs`).

use std::fmt::Write as _;

use super::text::{group, markdown_table, ms};
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
                    format!(
                        " (past freshness p50 {} p99 {} max {})",
                        ms(s.staleness_ms.p50),
                        ms(s.staleness_ms.p99),
                        ms(s.staleness_ms.max)
                    )
                } else {
                    String::new()
                }
            ),
            s.superseded_serves > 0,
        ),
    ];
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

/// The Markdown section: the rows, then per variant, per phase and per
/// region, then the first duplicates.
pub(super) fn render(out: &mut String, s: &Stampede) {
    let _ = writeln!(out, "\n### Stampede\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    for (label, text, _) in rows(s) {
        let _ = writeln!(out, "| {label} | {text} |");
    }
    let _ = writeln!(
        out,
        "\n| variant | reads | failed | computations | violations | lock expired | failover | serve p50 | serve p99 | serve max |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for v in &s.by_variant {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            v.variant.map_or("—", |v| v.as_str()),
            group(v.reads),
            group(v.failed),
            group(v.computes),
            v.violations,
            v.lock_expired_computes,
            v.failover_computes,
            ms(v.serve_ms.p50),
            ms(v.serve_ms.p99),
            ms(v.serve_ms.max)
        );
    }
    if !s.by_phase.is_empty() {
        let _ = writeln!(
            out,
            "\n| phase | reads | failed | computations | serve p50 | serve p99 | serve max |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        for p in &s.by_phase {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                p.phase,
                group(p.reads),
                group(p.failed),
                group(p.computes),
                ms(p.serve_ms.p50),
                ms(p.serve_ms.p99),
                ms(p.serve_ms.max)
            );
        }
    }
    if let Some((head, rows)) = region_grid(s) {
        let _ = writeln!(out, "\nBy the readers' region:\n");
        markdown_table(out, &head, &rows);
    }
    let dups: Vec<(&str, &Duplicate)> = s
        .violations
        .iter()
        .map(|d| ("violation", d))
        .chain(s.failover_computes.iter().map(|d| ("failover", d)))
        .chain(s.lock_expired_computes.iter().map(|d| ("lock expired", d)))
        .take(SHOWN)
        .collect();
    if !dups.is_empty() {
        let _ = writeln!(
            out,
            "\nSecond computations in one epoch (the first {SHOWN} at most; report.json has all):\n"
        );
        let _ = writeln!(
            out,
            "| kind | key | variant | first (node, granted) | second (node, granted) |"
        );
        let _ = writeln!(out, "|---|---:|---|---|---|");
        for (kind, d) in dups {
            let _ = writeln!(
                out,
                "| {kind} | {} | {} | {} ({}, {:.3} s) | {} ({}, {:.3} s) |",
                d.key,
                d.variant.as_str(),
                id(&d.first),
                d.first_node,
                d.first_grant_ms / 1e3,
                id(&d.second),
                d.second_node,
                d.second_grant_ms / 1e3
            );
        }
    }
    out.push('\n');
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
        let mut out = String::new();
        render(&mut out, &s);
        assert!(
            out.contains("| violation | 0 | lock | r1-1 (s1n1, 1.000 s)"),
            "{out}"
        );
        assert!(!out.contains("readers' region"), "no regions, no table");
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
        let mut out = String::new();
        render(&mut out, &s);
        let eu = format!("| eu | 2 | {} | 0 | 0 | 9 | 0 |", group(1200));
        let ap = format!("| ap | 2 | 300 | 0 | 0 | 0 | {} |", group(4200));
        assert!(out.contains(&eu) && out.contains(&ap), "{out}");
    }
}
