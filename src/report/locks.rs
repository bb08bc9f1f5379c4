//! The `locks` section of a report: what the lock workload did, whether
//! mutual exclusion held, and what fencing saved, as one [`Section`] that
//! every rendering shows.

use super::model::LocksReport;
use super::section::{EMPTY, Section, Table};
use super::text::{ms, spread};

/// `n thing` or `n things`.
fn count(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("{n} {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// Overlaps listed in the Markdown at most (report.json keeps more).
const SHOWN: usize = 10;

/// The section's rows, label and text, as both renderings show them; an
/// entry `true` marks a row that reports a broken guarantee.
pub(super) fn rows(l: &LocksReport) -> Vec<(&'static str, String, bool)> {
    let mut rows = Vec::new();
    let how = match l.algorithm.as_str() {
        "redlock" => format!(
            "Redlock over {} instances (quorum {})",
            l.instances.len(),
            l.quorum
        ),
        _ => format!("one instance ({})", l.instances.join(", ")),
    };
    rows.push((
        "workload",
        format!(
            "{how}: {} × {}, TTL {} ms, {:.1} s",
            count(u64::from(l.workers), "worker"),
            count(u64::from(l.locks), "lock"),
            l.ttl_ms,
            l.duration_ms / 1000.0
        ),
        false,
    ));
    let a = &l.acquire_ms;
    let latency = if a.count > 0 {
        format!("acquire {}", spread(a))
    } else {
        "nothing granted".to_string()
    };
    rows.push((
        "grants",
        format!(
            "{} ({:.1}/s) in {}, {} · {latency} · fairness {:.2}",
            l.grants,
            l.grants_per_s,
            count(l.attempts, "attempt"),
            count(l.timeouts, "timeout"),
            l.fairness_index
        ),
        false,
    ));
    guarantees(l, &mut rows);
    rows
}

/// The rows that say whether the guarantees held: mutual exclusion, the
/// fenced and unfenced resources, the pauses, an incomplete history.
fn guarantees(l: &LocksReport, rows: &mut Vec<(&'static str, String, bool)>) {
    rows.push(if l.violations == 0 {
        (
            "mutual exclusion",
            "held: no two validity windows of one lock overlap".to_string(),
            false,
        )
    } else {
        (
            "mutual exclusion",
            format!(
                "{}: validity windows of two holders overlap, the longest by {}",
                count(l.violations, "violation"),
                ms(l.longest_overlap_ms)
            ),
            true,
        )
    });
    if let Some(f) = &l.resources.fenced {
        rows.push((
            "fenced resource",
            format!(
                "{} stale writes accepted, {} refused · {} accepted · {} sent after the writer's validity · {} refused while valid",
                f.stale_writes_accepted,
                f.stale_writes_rejected,
                f.writes_accepted,
                f.writes_after_expiry,
                f.rejected_while_valid
            ),
            f.stale_writes_accepted > 0,
        ));
    }
    if let Some(u) = &l.resources.unfenced {
        rows.push((
            "unfenced resource",
            format!(
                "{} stale writes accepted · {} accepted · {} sent after the writer's validity",
                u.stale_writes_accepted, u.writes_accepted, u.writes_after_expiry
            ),
            false,
        ));
    }
    for p in &l.pauses {
        rows.push((
            "pause",
            format!(
                "{} (lock {}, fence {}) frozen {} → {}{}",
                p.worker,
                p.lock,
                p.fence,
                ms(p.from_ms),
                ms(p.to_ms),
                if p.outlived_validity {
                    ", past its validity"
                } else {
                    ""
                }
            ),
            false,
        ));
    }
    if let Some(why) = &l.incomplete {
        rows.push(("incomplete", why.clone(), true));
    }
}

/// The first overlaps, one sentence each.
pub(super) fn overlaps(l: &LocksReport) -> Vec<String> {
    l.overlaps
        .iter()
        .take(SHOWN)
        .map(|o| {
            format!(
                "lock {}: {} (fence {}, granted on {}) and {} (fence {}, granted on {}) both held it for {} from {}",
                o.lock,
                o.first.worker,
                o.first.fence,
                o.first.granted_on.join(" "),
                o.second.worker,
                o.second.fence,
                o.second.granted_on.join(" "),
                ms(o.ms),
                ms(o.from_ms)
            )
        })
        .collect()
}

/// The workers of each region (`locks.regions`): the header and a row per
/// region, for the Markdown and the HTML report; `None` without regions.
pub(super) fn region_grid(l: &LocksReport) -> Option<(Vec<&'static str>, Vec<Vec<String>>)> {
    if l.by_region.is_empty() {
        return None;
    }
    let head = vec![
        "workers in",
        "workers",
        "grants",
        "timeouts",
        "acquire p50",
        "p99",
        "max",
    ];
    let rows = (l.by_region.iter())
        .map(|g| {
            let some = g.acquire_ms.count > 0;
            let lat = |v: f64| if some { ms(v) } else { EMPTY.to_string() };
            vec![
                g.region.clone(),
                g.workers.to_string(),
                g.grants.to_string(),
                g.timeouts.to_string(),
                lat(g.acquire_ms.p50),
                lat(g.acquire_ms.p99),
                lat(g.acquire_ms.max),
            ]
        })
        .collect();
    Some((head, rows))
}

/// The section: the rows (a broken guarantee marked), the workers by
/// region, the first overlaps.
pub(super) fn section(l: &LocksReport) -> Section {
    let mut s = Section::titled("Locks");
    s.table(Table::of_labels(rows(l)));
    if let Some((head, rows)) = region_grid(l) {
        s.text("By the workers' region:");
        s.table(Table::new(&head).with_rows(rows));
    }
    let shown = overlaps(l);
    if !shown.is_empty() {
        s.text(format!("Overlaps (first {}):", shown.len()));
        s.list(shown);
    }
    if let Some(c) = &l.counters {
        counters(c, &mut s);
    }
    s
}

/// Atomic vs locked: a row per path, the speed-up, the first lost updates.
fn counters(c: &crate::checker::atomic::Counters, s: &mut Section) {
    use crate::checker::atomic::CounterPathCheck;
    let head = [
        "counter path",
        "workers",
        "increments",
        "per s",
        "p50",
        "p99",
        "max",
        "lost",
        "counted twice",
        "maybe applied",
        "longest stall",
    ];
    let known = |v: Option<u64>| v.map_or_else(|| "unknown".to_string(), |v| v.to_string());
    let row = |name: &str, p: &CounterPathCheck| {
        let some = p.latency_ms.count > 0;
        let lat = |v: f64| if some { ms(v) } else { EMPTY.to_string() };
        vec![
            name.to_string(),
            p.workers.to_string(),
            p.acked.to_string(),
            format!("{:.0}", p.per_s),
            lat(p.latency_ms.p50),
            lat(p.latency_ms.p99),
            lat(p.latency_ms.max),
            known(p.lost),
            known(p.over_counted),
            p.indeterminate.to_string(),
            format!(
                "{} ({} → {})",
                ms(p.longest_stall_ms),
                ms(p.stall_from_ms),
                ms(p.stall_to_ms)
            ),
        ]
    };
    let mut rows = vec![row("locked", &c.locked)];
    if let Some(a) = &c.atomic {
        rows.push(row("atomic", a));
    }
    s.text("Atomic vs locked: counters incremented with GET then SET under the lock (locked) and with INCR (atomic), at once:");
    s.table(Table::new(&head).with_rows(rows));
    match c.atomic_speedup {
        Some(x) => {
            s.text(format!(
                "INCR made {x:.2}× the locked path's increments per second ({:+.0} %).",
                (x - 1.0) * 100.0
            ));
        }
        None if c.atomic.is_some() => {
            s.text("Speed-up: unknown (a path acknowledged no increment).");
        }
        None => {}
    }
    for p in std::iter::once(&c.locked).chain(&c.atomic) {
        if let Some(why) = &p.unknown {
            s.warning(format!("lost updates unknown: {why}"));
        }
    }
    if !c.witnesses.is_empty() {
        s.text(format!(
            "Lost updates: {} wrote a value already written (first {}):",
            count(c.duplicate_writes, "acknowledged SET"),
            c.witnesses.len()
        ));
        s.list(
            c.witnesses
                .iter()
                .map(|w| {
                    format!(
                        "lock {}: {} (acquisition {}) read at {} and wrote {} at {}; {} (acquisition {}) had read at {} and written it at {}",
                        w.lock,
                        w.second.worker,
                        w.second.acquisition,
                        ms(w.second.read_ms),
                        w.value,
                        ms(w.second.wrote_ms),
                        w.first.worker,
                        w.first.acquisition,
                        ms(w.first.read_ms),
                        ms(w.first.wrote_ms),
                    )
                })
                .collect(),
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::checker::locks::{Fenced, Holding, Overlap, PauseMs, Resources, Unfenced};

    /// A Redlock run where an instance restarted without persistence: one
    /// overlap, and a holder paused past its validity.
    pub(crate) fn sample() -> LocksReport {
        let holding = |worker: &str, fence, on: &[&str], from_ms, to_ms| Holding {
            worker: worker.into(),
            acquisition: 4,
            fence,
            granted_on: on.iter().map(|s| s.to_string()).collect(),
            from_ms,
            to_ms,
        };
        LocksReport {
            algorithm: "redlock".into(),
            instances: ["n1", "n2", "n3", "n4", "n5"].map(String::from).to_vec(),
            quorum: 3,
            workers: 6,
            locks: 1,
            ttl_ms: 1000,
            grants: 22,
            violations: 1,
            grants_per_s: 1.9,
            acquire_ms: crate::checker::percentiles([150_000_000, 310_000_000, 402_000_000]),
            resources: Resources {
                fenced: Some(Fenced {
                    stale_writes_rejected: 2,
                    writes_accepted: 20,
                    rejected_while_valid: 1,
                    writes_after_expiry: 1,
                    ..Default::default()
                }),
                unfenced: Some(Unfenced {
                    stale_writes_accepted: 2,
                    writes_accepted: 22,
                    writes_after_expiry: 1,
                    writes_skipped: 0,
                }),
            },
            attempts: 310,
            timeouts: 0,
            longest_overlap_ms: 356.2,
            overlaps: vec![Overlap {
                lock: 0,
                first: holding("w2", 9, &["n1", "n2", "n3"], 2100.5, 2611.0),
                second: holding("w4", 3, &["n1", "n4", "n5"], 2254.8, 2690.0),
                from_ms: 2254.8,
                to_ms: 2611.0,
                ms: 356.2,
            }],
            grants_by_instances: BTreeMap::from([("3".into(), 12), ("5".into(), 10)]),
            fairness: BTreeMap::new(),
            fairness_index: 0.93,
            pauses: vec![PauseMs {
                worker: "w1".into(),
                lock: 0,
                fence: 7,
                from_ms: 1500.0,
                to_ms: 2700.0,
                outlived_validity: true,
            }],
            duration_ms: 11_600.0,
            ..Default::default()
        }
    }

    #[test]
    fn workers_in_regions_get_a_row_each() {
        let mut l = sample();
        assert!(region_grid(&l).is_none());
        l.by_region = vec![
            crate::checker::locks::LockRegion {
                region: "eu".into(),
                workers: 2,
                grants: 14,
                timeouts: 2,
                acquire_ms: crate::checker::percentiles([154_000_000, 160_000_000]),
            },
            crate::checker::locks::LockRegion {
                region: "ap".into(),
                workers: 2,
                ..Default::default()
            },
        ];
        let rows = section(&l).rows_under("workers in");
        assert_eq!(rows[0][..5], ["eu", "2", "14", "2", "154 ms"], "{rows:?}");
        // No grant: no latency to show.
        assert_eq!(rows[1], ["ap", "2", "0", "0", "—", "—", "—"], "{rows:?}");
    }
}
