//! The sections of a run across regions: the links between them (declared
//! against measured round trips), what the clients of each region crossed
//! and saw, and how far each region's replicas lagged.

use super::model::{LinkReport, Report, Verdict};
use super::section::{EMPTY, Row, Section, Table};
use super::text::ms;

/// A figure in ms, or [`EMPTY`].
fn opt(v: Option<f64>) -> String {
    v.map_or(EMPTY.to_string(), ms)
}

/// Measured round trips against declared ones, one row each, coloured by
/// the check.
fn round_trips<'a>(rows: impl IntoIterator<Item = &'a LinkReport>) -> Table {
    let mut t = Table::aligned(
        &[
            "link",
            "from → to",
            "declared RTT",
            "PINGs",
            "p50",
            "p99",
            "min",
            "check",
        ],
        "llrrrrrl",
    );
    for l in rows {
        let cells = vec![
            l.link.clone(),
            format!("{} → {}", l.from, l.to),
            ms(l.declared_rtt_ms),
            l.pings.to_string(),
            opt(l.p50_ms),
            opt(l.p99_ms),
            opt(l.min_ms),
            l.check.as_str().to_string(),
        ];
        t.rows.push(Row::marked_at(cells, Some(l.check.into()), 7));
    }
    t
}

/// The links between regions: declared against measured round trips, and
/// the check that says whether they matched.
pub(super) fn links(r: &Report) -> Section {
    let how = &r.environment.links_mechanism;
    if r.links.is_empty() && how.is_empty() {
        return Section::default();
    }
    let mut s = Section::titled("Links between regions");
    if !r.links.is_empty() {
        s.text("Round trips measured before the drill: sequential PINGs from a node of one region, bound to its address, to a node of the other, through the link as the nodes' own traffic goes.");
        s.table(round_trips(&r.links));
    }
    if !how.is_empty() {
        s.text(format!("Links made by: {how}."));
    }
    s.list(
        (r.links.iter())
            .map(|l| format!("{} {}: {}", l.link, l.check.as_str(), l.note))
            .collect(),
    );
    s
}

/// The clients of each region: what they cross to reach each region, and
/// what they saw, phase by phase.
pub(super) fn clients(r: &Report) -> Section {
    if r.client_regions.is_empty() {
        return Section::default();
    }
    let mut s = Section::titled("Clients by region");
    s.text("The clients are spread over the regions in turn (client i in the i-th mod n). Round trips measured before the drill, from each region's clients to a node of each region, through the links as their traffic goes:");
    let paths: Vec<&LinkReport> = r.client_regions.iter().flat_map(|g| &g.paths).collect();
    s.table(round_trips(paths.iter().copied()));
    s.list(
        (paths.iter())
            .filter(|p| p.check != Verdict::Pass)
            .map(|p| format!("{} → {} {}: {}", p.from, p.to, p.check.as_str(), p.note))
            .collect(),
    );
    let mut t = Table::new(&[
        "clients in",
        "app clients",
        "downtime",
        "write downtime",
        "probe downtime",
        "lost acked writes",
    ]);
    for g in &r.client_regions {
        t.row(vec![
            g.region.clone(),
            g.app.clients.to_string(),
            ms(g.downtime_ms),
            ms(g.write_downtime_ms),
            ms(g.probe_downtime_ms),
            g.lost_acknowledged_writes.to_string(),
        ]);
    }
    s.table(t);
    writes_and_reads(&mut s, r);
    s.text("App clients' ops by phase (latency from the schedule, ok ops):");
    s.table(clients_by_phase(r));
    s
}

/// A latency's count, p50 and p99 cells ([`EMPTY`] when nothing counted).
fn latency_cells(l: Option<&crate::checker::Latency>) -> [String; 3] {
    match l {
        Some(l) if l.count > 0 => [l.count.to_string(), ms(l.p50), ms(l.p99)],
        _ => ["0".into(), EMPTY.into(), EMPTY.into()],
    }
}

/// Each region's ok writes without and with WAIT, and its reads judged
/// for staleness; left out when no region has either.
fn writes_and_reads(s: &mut Section, r: &Report) {
    let regions = &r.client_regions;
    if !(regions.iter()).any(|g| g.writes_with_wait_ms.is_some() || g.stale.is_some()) {
        return;
    }
    s.text("App clients' ok writes from sending to the answer, without and with WAIT (the difference is what waiting for a replica costs from there), and their reads judged for staleness:");
    let mut t = Table::new(&[
        "clients in",
        "writes",
        "p50",
        "p99",
        "with WAIT",
        "p50",
        "p99",
        "reads",
        "stale",
        "staleness p50",
        "p99",
        "max",
    ]);
    for g in regions {
        let mut cells = vec![g.region.clone()];
        cells.extend(latency_cells(Some(&g.writes_ms)));
        cells.extend(latency_cells(g.writes_with_wait_ms.as_ref()));
        match &g.stale {
            Some(st) => {
                let stale = st.stale_reads > 0;
                cells.extend([
                    st.reads.to_string(),
                    st.stale_reads.to_string(),
                    opt(stale.then_some(st.staleness_ms.p50)),
                    opt(st.staleness_ms.p99_measured()),
                    opt(stale.then_some(st.staleness_ms.max)),
                ]);
            }
            None => cells.extend(["0", "0", EMPTY, EMPTY, EMPTY].map(String::from)),
        }
        t.row(cells);
    }
    s.table(t);
}

/// Each region's app ops, phase by phase.
fn clients_by_phase(r: &Report) -> Table {
    let mut t = Table::aligned(
        &["clients in", "phase", "ok", "failed", "p50", "p99", "max"],
        "llrrrrr",
    );
    for g in &r.client_regions {
        for p in &r.phases {
            let Some(l) = g.app.latency_ms.get(&p.name) else {
                continue;
            };
            let all = g.app.latency_all_ms.get(&p.name);
            let failed = all.map_or(0, |a| a.count.saturating_sub(l.count));
            let some = l.count > 0;
            t.row(vec![
                g.region.clone(),
                p.name.clone(),
                l.count.to_string(),
                failed.to_string(),
                opt(some.then_some(l.p50)),
                opt(l.p99_measured()),
                opt(some.then_some(l.max)),
            ]);
        }
    }
    t
}

/// The replication probe's lag, per replica region and per replica, with
/// the write latency it cost to wait for a replica.
pub(super) fn replication(r: &Report) -> Section {
    let Some(rep) = &r.checks.replication else {
        return Section::default();
    };
    let mut s = Section::titled("Replication lag by region");
    s.text(format!(
        "A write's acknowledgement → the end of the first read of a replica that returned it (or a later write): {} probe writes, {} acknowledged. Read from where the clients connect, outside every region; the lag is an upper bound, by one polling interval at most. It can never be below the link's one-way delay after the write was sent (the floor).",
        rep.writes, rep.writes_acked
    ));
    let mut t = Table::aligned(
        &[
            "region",
            "replicas",
            "one way (declared)",
            "writes judged",
            "unseen",
            "lag p50",
            "lag p99",
            "lag max",
            "below the floor",
        ],
        "llrrrrrrr",
    );
    for g in &rep.regions {
        let measured = g.lag_ms.count > 0;
        let mut cells = vec![
            g.region.clone(),
            g.replicas.join(", "),
            ms(g.one_way_ms),
            g.writes_judged.to_string(),
            g.unseen.to_string(),
        ];
        cells.extend(lag_cells(&g.lag_ms, measured));
        cells.push(g.floor_violations.to_string());
        t.row(cells);
    }
    s.table(t);
    if rep.regions.iter().any(|g| g.by_phase.len() > 1) {
        s.text("By the phase the write was acknowledged in:");
        let mut t = Table::aligned(
            &[
                "region", "phase", "writes", "unseen", "lag p50", "lag p99", "lag max",
            ],
            "llrrrrr",
        );
        for g in &rep.regions {
            for p in &g.by_phase {
                let mut cells = vec![
                    g.region.clone(),
                    p.phase.clone(),
                    (p.lag_ms.count + p.unseen).to_string(),
                    p.unseen.to_string(),
                ];
                cells.extend(lag_cells(&p.lag_ms, p.lag_ms.count > 0));
                t.row(cells);
            }
        }
        s.table(t);
    }
    s.list(replication_notes(rep));
    s
}

/// A lag's p50, p99 and max cells, [`EMPTY`] unless `measured`.
fn lag_cells(l: &crate::checker::Latency, measured: bool) -> [String; 3] {
    [l.p50, l.p99, l.max].map(|v| opt(measured.then_some(v)))
}

/// Each replica's soonest read after a write, the resyncs, and what a
/// WAIT cost the writes.
fn replication_notes(rep: &crate::checker::replication::Replication) -> Vec<String> {
    let mut notes: Vec<String> = (rep.replicas.iter())
        .map(|x| {
            format!(
                "{} ({}, primary {} in {}): soonest after a write was sent {}",
                x.replica,
                x.region,
                x.primary,
                x.primary_region,
                opt(x.after_send_min_ms)
            )
        })
        .collect();
    notes.push(format!(
        "Resyncs the primaries served (INFO stats, sampled each second): {} full, {} partial",
        rep.resyncs_full, rep.resyncs_partial
    ));
    if rep.write_wait_ms.count > 0 {
        let alone = rep.write_ms.count > 0;
        notes.push(format!(
            "Write latency p50 {} (p99 {}) alone; {} (p99 {}) with `WAIT 1` after it ({} WAITs counted no replica)",
            opt(alone.then_some(rep.write_ms.p50)),
            opt(alone.then_some(rep.write_ms.p99)),
            ms(rep.write_wait_ms.p50),
            ms(rep.write_wait_ms.p99),
            rep.wait_short
        ));
    }
    notes
}
