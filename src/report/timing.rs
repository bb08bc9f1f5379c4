//! Where the time went, phase by phase: what the app clients felt (from the
//! schedule), how much of it was service (client path and server) and how
//! much the tool's own lag, next to the probe, the raw PING reference and
//! the nodes' own execution times; then the self-check and the engine.

use super::model::{Latency, Report, Verdict};
use super::section::{EMPTY, Mark, Row, Section, Table};
use super::text::{group, ms};

/// A p99 in a table cell: [`EMPTY`] when nothing was measured.
fn p99_cell(l: Option<&Latency>) -> String {
    match l {
        Some(l) if l.count > 0 => ms(l.p99),
        _ => EMPTY.to_string(),
    }
}

/// The timing section; empty when the app clients measured no service time.
pub(super) fn section(r: &Report) -> Section {
    if r.workload.app.service_ms.is_empty() {
        return Section::default();
    }
    let mut s = Section::titled("Latency by phase");
    s.table(by_phase(r));
    self_check(&mut s, r);
    if let Some(engine) = engine(r) {
        s.text(engine);
    }
    s
}

/// The worst primary's PING p99 in `phase`, with the node and its failures.
fn ping(r: &Report, phase: &str) -> String {
    (r.reference.as_ref())
        .and_then(|x| x.ping_ms.get(phase))
        .and_then(|nodes| {
            (nodes.iter())
                .filter(|(_, p)| p.count > p.failed)
                .max_by(|a, b| a.1.p99.total_cmp(&b.1.p99))
        })
        .map_or(EMPTY.to_string(), |(node, p)| {
            let failed = if p.failed > 0 {
                format!(", {} failed", group(p.failed))
            } else {
                String::new()
            };
            format!("{} ({node}{failed})", ms(p.p99))
        })
}

/// The nodes' own worst GET and SET p99 in `phase` (µs).
fn server(r: &Report, phase: &str) -> String {
    (r.reference.as_ref())
        .and_then(|x| x.server.get(phase))
        .map_or(EMPTY.to_string(), |nodes| {
            let worst = |cmd: &str| {
                (nodes.values())
                    .filter_map(|n| n.get(cmd).and_then(|c| c.p99_usec))
                    .reduce(f64::max)
                    .map_or(EMPTY.to_string(), |us| format!("{us:.0} µs"))
            };
            format!("{} / {}", worst("get"), worst("set"))
        })
}

/// One row per phase; a phase whose self-check failed is marked.
fn by_phase(r: &Report) -> Table {
    let a = &r.workload.app;
    let mut t = Table::new(&[
        "p99 by phase",
        "app latency (ok ops)",
        "app latency (all ops)",
        "app service",
        "tool lag",
        "probe latency",
        "PING (worst primary)",
        "server GET / SET",
    ]);
    for p in &r.phases {
        let phase = p.name.as_str();
        let lag = match r.workload.self_check.phases.get(phase) {
            Some(c) if !c.ok => (ms(c.tool_lag_p99_ms), Some(Mark::Fail)),
            _ => (p99_cell(a.tool_lag_ms.get(phase)), None),
        };
        let cells = vec![
            phase.to_string(),
            p99_cell(a.latency_ms.get(phase)),
            p99_cell(a.latency_all_ms.get(phase)),
            p99_cell(a.service_ms.get(phase)),
            lag.0,
            p99_cell(r.workload.probe.latency_ms.get(phase)),
            ping(r, phase),
            server(r, phase),
        ];
        t.rows.push(Row::marked_at(cells, lag.1, 4));
    }
    t
}

/// The self-check's sentence: the tool sent every op on time, or what it
/// failed and which SLOs that makes unknown.
fn self_check(s: &mut Section, r: &Report) {
    let c = &r.workload.self_check;
    if c.ok {
        s.text(format!(
            "self-check: the tool sent every op on time (tool lag p99 ≤ {} ms in every phase), so latency measured Redis and the client path, not the tool.",
            c.max_tool_lag_ms
        ));
    } else if let Some(note) = &c.note {
        let distrusted: Vec<&str> = (r.slo.iter())
            .filter(|x| x.result == Verdict::Unknown)
            .filter(|x| x.note.as_deref().is_some_and(|n| n.contains("tool lag")))
            .map(|x| x.name.as_str())
            .collect();
        let consequence = if distrusted.is_empty() {
            "; no SLO reads those phases".to_string()
        } else {
            format!(", which makes {} unknown", distrusted.join(", "))
        };
        s.warning(format!("self-check failed: {note}{consequence}."));
    }
}

/// The engine's line: its loop, ops, flight, connections, threads and what
/// it could not do.
fn engine(r: &Report) -> Option<String> {
    let e = &r.workload.engine;
    if e.model.is_empty() {
        return None;
    }
    let waited: u64 = (r.workload.app.pool_wait.values())
        .chain(r.workload.probe.pool_wait.values())
        .map(|w| w.ops)
        .sum();
    let mut notes = Vec::new();
    if waited > 0 {
        notes.push(format!("{} ops waited for room in flight", group(waited)));
    }
    if e.unrecorded > 0 {
        let n = group(e.unrecorded);
        notes.push(format!("{n} ops not recorded (history full)"));
    }
    if e.dropped_at_stop > 0 {
        let n = group(e.dropped_at_stop);
        notes.push(format!("{n} ops due before the stop never sent"));
    }
    let threads = match e.threads {
        0 => "one event loop on the controller's threads".to_string(),
        1 => "1 event loop of its own".to_string(),
        n => format!("{n} event loops of their own"),
    };
    let priority = (e.priority.as_deref()).map_or(String::new(), |p| format!(", {p}"));
    let path = if r.environment.client_path.is_empty() {
        String::new()
    } else {
        format!(" · clients: {}", r.environment.client_path)
    };
    let path = if r.environment.connections.is_plain() {
        path
    } else {
        format!(
            "{path} · connections: {}",
            r.environment.connections.describe()
        )
    };
    let notes: String = notes.iter().map(|n| format!(" · {n}")).collect();
    Some(format!(
        "engine: {} loop · {} ops · peak {} in flight (limit {}) · {} app + {} probe connections · {threads}{priority}{path}{notes}",
        e.model,
        group(e.ops_dispatched),
        group(e.peak_in_flight),
        group(e.max_in_flight),
        e.app_connections,
        e.probe_connections,
    ))
}
