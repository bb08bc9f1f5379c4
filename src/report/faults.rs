//! The faults section: each fault, when, and what it cost; then each
//! failover against the spec's bound, and each rejoin.

use super::model::{FaultReport, Report};
use super::section::{EMPTY, Mark, Row, Section, Table};
use super::text::ms;

/// A figure in ms, or [`EMPTY`].
fn opt(v: Option<f64>) -> String {
    v.map_or(EMPTY.to_string(), ms)
}

/// The section; empty without faults.
pub(super) fn section(r: &Report) -> Section {
    if r.faults.is_empty() {
        return Section::default();
    }
    let mut s = Section::titled("Faults");
    let mut t = Table::aligned(
        &[
            "fault",
            "nodes",
            "at",
            "undone",
            "converged after",
            "app downtime (worst shard or moved slots)",
            "windows",
        ],
        "llrrrrr",
    );
    t.rows.extend(r.faults.iter().map(|f| fault_row(r, f)));
    s.table(t);
    s.table(failovers(r));
    s.table(rejoins(r));
    s.text("Times after the fault (failover) or after the node was started again (rejoin).");
    s
}

/// One fault's row: what, where, when, undone when, and the app's worst
/// downtime under it (a lower bound where the run could not measure it).
fn fault_row(r: &Report, f: &FaultReport) -> Row {
    let nodes = f.nodes.join(" ");
    if let Some(why) = &f.skipped {
        let what = format!("{} {} — not performed: {why}", f.fault, f.target);
        let mut cells = vec![what, nodes, ms(f.start_ms)];
        cells.extend([EMPTY; 4].map(String::from));
        return Row::marked(cells, Some(Mark::Unknown));
    }
    let worst = (f.downtime_ms.iter())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or("0 ms".to_string(), |(shard, v)| {
            format!("{} ({shard})", ms(*v))
        });
    // Windows dropped past the analysis's limit: a lower bound. The app's
    // downtime could not be measured (a shard or part with no app op):
    // what the windows show is a lower bound.
    let worst = match (
        &f.downtime_incomplete,
        r.downtime_ms.unknown.contains_key("app"),
    ) {
        (_, true) => format!("≥ {worst} (unknown)"),
        (Some(_), false) => format!("≥ {worst}"),
        (None, false) => worst,
    };
    // No key/value clients: no app downtime was measured (a stampede
    // drill has its readers' own in its section).
    let (worst, windows) = if r.workload.app.clients > 0 {
        (worst, f.downtime_windows.to_string())
    } else {
        (EMPTY.to_string(), EMPTY.to_string())
    };
    let detail = match (f.detail.is_empty(), f.promoted_after_ms) {
        (_, Some(p)) => format!(" — {}, promoted in {}", f.detail, ms(p)),
        (true, None) => String::new(),
        (false, None) => format!(" — {}", f.detail),
    };
    let undone = match (&f.undo, f.undone_ms) {
        (Some(u), Some(at)) => format!("{u} at {}", ms(at)),
        _ => EMPTY.to_string(),
    };
    Row::new(vec![
        format!("{} {}{detail}", f.fault, f.target),
        nodes,
        ms(f.start_ms),
        undone,
        opt(f.converged_after_ms),
        worst,
        windows,
    ])
}

/// Each failover: when the cluster saw the primary fail, who was promoted
/// and when everyone agreed, against the spec's bound.
fn failovers(r: &Report) -> Table {
    let mut t = Table::aligned(
        &[
            "failover of",
            "PFAIL",
            "FAIL",
            "promoted",
            "state ok everywhere",
            "all agree",
            "spec: promoted within",
        ],
        "lrrlrrr",
    );
    for f in r.faults.iter().flat_map(|f| &f.failover) {
        t.row(vec![
            f.node.clone(),
            opt(f.pfail_after_ms),
            opt(f.fail_after_ms),
            format!(
                "{} {}",
                f.promoted.as_deref().unwrap_or("nobody"),
                opt(f.promoted_after_ms)
            ),
            opt(f.state_ok_after_ms),
            opt(f.agreed_after_ms),
            format!(
                "{:.0}–{} (node timeout {} ms)",
                f.expected_min_ms,
                ms(f.expected_max_ms),
                f.node_timeout_ms
            ),
        ]);
    }
    t
}

/// Each node started again: when it answered, became a replica, linked
/// up and caught up.
fn rejoins(r: &Report) -> Table {
    let t = Table::new(&["rejoin of", "answers", "replica", "link up", "caught up"]);
    t.with_rows(r.faults.iter().flat_map(|f| &f.rejoin).map(|j| {
        vec![
            j.node.clone(),
            opt(j.reachable_after_ms),
            opt(j.replica_after_ms),
            opt(j.link_up_after_ms),
            opt(j.caught_up_after_ms),
        ]
    }))
}
