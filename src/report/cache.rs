//! The cache checkers' rows — counters, transactions, TTLs, stale reads,
//! eviction — for those the workload ran, in the summary table.

use super::model::{Checks, StaleChecks, TtlChecks};
use super::text::{group, ms, spread};

/// A row: label, text, and whether it reports a broken guarantee (a lost
/// or over-counted increment, a torn read or group, a zombie or an early
/// expiry), which every rendering marks.
type Rows = Vec<(&'static str, String, bool)>;

/// Every cache checker's rows, in a fixed order.
pub(super) fn rows(c: &Checks) -> Rows {
    let mut rows = Vec::new();
    if let Some(k) = &c.counters {
        rows.push((
            "counters",
            format!(
                "{} checked · {} acknowledged INCRs, {} indeterminate · lost {} · over-counted {}",
                group(k.counters_checked),
                group(k.acknowledged_incrs),
                group(k.indeterminate_incrs),
                group(k.lost_increments),
                group(k.over_counted_increments)
            ),
            k.lost_increments > 0 || k.over_counted_increments > 0,
        ));
    }
    if let Some(t) = &c.txn {
        rows.push((
            "transactions",
            format!(
                "{} reads, {} torn · {} groups read back ({} unread), {} torn",
                group(t.reads_checked),
                group(t.torn_reads),
                group(t.groups_checked),
                group(t.groups_unread),
                group(t.torn_groups)
            ),
            t.torn_reads > 0 || t.torn_groups > 0,
        ));
    }
    if let Some(t) = &c.ttl {
        ttl(t, &mut rows);
    }
    if let Some(t) = &c.stale {
        stale(t, &mut rows);
    }
    if let Some(e) = &c.eviction {
        rows.push((
            "eviction",
            format!(
                "policy {} · {} keys evicted at the end · {} hot keys · {} INFO samples",
                e.policy.as_str(),
                group(e.evicted_keys_at_end),
                group(e.hot_keys),
                group(e.info_samples)
            ),
            false,
        ));
    }
    rows
}

/// The TTL checker's rows: zombies and early expiries, writes lost to a
/// failover, how late expiries came.
fn ttl(t: &TtlChecks, rows: &mut Rows) {
    rows.push((
            "TTL",
            format!(
                "{} SET PX · {} reads judged ({} ambiguous) · zombies {} ({} in faults) past {} tolerance · early expiries {} ({} in faults)",
                group(t.ttl_writes),
                group(t.reads_checked),
                group(t.reads_ambiguous),
                group(t.zombie_reads),
                group(t.zombie_reads_in_faults),
                ms(t.tolerance_ms),
                group(t.early_expiries),
                group(t.early_expiries_in_faults)
            ),
            t.zombie_reads > 0 || t.early_expiries > 0,
        ));
    // Each write lost to a failover, with the facts that say so: the
    // write, the primary that acknowledged it, the one promoted in its
    // place, and when.
    if t.lost_in_failover > 0 {
        let first = t.lost_in_failover_examples.first().map(|l| {
                format!(
                    " — e.g. `{}` set at {} (PX {} ms), acknowledged at {} by {} after {} was promoted in its place at {}{}, read nil {} before its deadline",
                    l.read.key,
                    ms(l.read.write_sent_ns as f64 / 1e6),
                    l.read.ttl_ms,
                    ms(l.read.write_end_ns as f64 / 1e6),
                    l.acknowledged_by,
                    l.replaced_by,
                    ms(l.promoted_ns as f64 / 1e6),
                    l.demoted_ns.map_or(String::new(), |d| format!(
                        ", before {} was seen a replica at {}",
                        l.acknowledged_by,
                        ms(d as f64 / 1e6)
                    )),
                    ms(l.read.by_ns as f64 / 1e6),
                )
            });
        rows.push((
                "TTL writes lost to a failover",
                format!(
                    "{} write(s) read back nil before their deadline, acknowledged by a primary after its replica had been promoted in its place{}",
                    group(t.lost_in_failover),
                    first.unwrap_or_default()
                ),
                true,
            ));
    }
    let (l, m) = (&t.lateness_at_least_ms, &t.lateness_at_most_ms);
    let lateness = if t.expiries_seen > 0 {
        format!(
            "{} expiries seen · at least {} · at most {}",
            group(t.expiries_seen),
            spread(l),
            spread(m)
        )
    } else {
        "no expiry seen".to_string()
    };
    rows.push(("expiry lateness", lateness, false));
}

/// The stale-read checker's rows: overall, by client mode, by phase.
fn stale(t: &StaleChecks, rows: &mut Rows) {
    let staleness = if t.stale_reads > 0 {
        format!(" (superseded {})", spread(&t.staleness_ms))
    } else {
        String::new()
    };
    rows.push((
        "stale reads",
        format!(
            "{} GETs judged · {} nil · {} unexplained · stale {}{staleness}",
            group(t.reads_checked),
            group(t.nil_reads),
            group(t.reads_unexplained),
            group(t.stale_reads)
        ),
        t.stale_reads > 0,
    ));
    let side = |s: &super::model::StaleSide| {
        if s.stale_reads > 0 {
            format!(
                "{} of {} stale (superseded {})",
                group(s.stale_reads),
                group(s.reads),
                spread(&s.staleness_ms)
            )
        } else {
            format!("{} of {} stale", 0, group(s.reads))
        }
    };
    if t.by_mode.len() > 1 || t.stale_reads > 0 {
        let modes: Vec<String> = t
            .by_mode
            .iter()
            .map(|(m, s)| format!("{m}: {}", side(s)))
            .collect();
        rows.push(("stale reads by client", modes.join(" · "), false));
    }
    if t.stale_reads > 0 {
        let phases: Vec<String> = t
            .by_phase
            .iter()
            .filter(|(_, s)| s.stale_reads > 0)
            .map(|(p, s)| format!("{p}: {}", side(s)))
            .collect();
        rows.push(("stale reads by phase", phases.join(" · "), false));
    }
}
