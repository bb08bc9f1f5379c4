//! The summary's sections: the table a person reads first (the reshard,
//! convergence, the key/value workload's clients, downtime, lost writes and
//! keys, the cache checkers' rows), then the lost and overwritten keys and
//! eviction phase by phase.

use std::collections::BTreeMap;

use super::model::{OVERWRITTEN_SHOWN, Report, ReshardSummary};
use super::section::{EMPTY, Section, Table};
use super::text::{group, ms};

/// Lost writes listed at most (report.json keeps more).
const LOST_SHOWN: usize = 10;

/// Whether the run had a key/value workload: a lock, stampede or invalidation drill
/// that ran alone has no key/value figures at all.
pub(super) fn has_kv(r: &Report) -> bool {
    r.workload.app.clients > 0
        || r.workload.probe.clients > 0
        || (r.locks.is_none() && r.checks.stampede.is_none() && r.checks.invalidation.is_none())
}

/// The summary table, then the lists and tables that follow it.
pub(super) fn sections(r: &Report) -> Vec<Section> {
    let mut t = Table::labelled();
    if let Some(rs) = &r.reshard {
        reshard_rows(&mut t, rs);
    }
    if let Some(c) = r.convergence_ms {
        let what = match r.topology.kind {
            crate::topology::Kind::Cluster => "until every node agrees",
            _ if r.sentinel.is_some() => {
                "until one primary has every replica caught up and every Sentinel names it"
            }
            _ => "until one primary has every replica caught up",
        };
        t.label("convergence", format!("{} {what}", ms(c)), false);
    }
    let mut head = Section::titled("Summary");
    if has_kv(r) {
        kv_rows(&mut t, r);
        t.rows
            .extend(Table::of_labels(super::cache::rows(&r.checks)).rows);
        head.table(t);
        let lost = lost(r);
        if !lost.is_empty() {
            head.text(format!("Lost writes (first {}):", lost.len()));
            head.list(lost);
        }
    } else {
        head.table(t);
    }
    let mut out = vec![head];
    if let Some(rs) = r.reshard.as_ref().filter(|rs| !rs.overwritten.is_empty()) {
        out.push(overwritten(rs));
    }
    if let Some(rs) = r.reshard.as_ref().filter(|rs| !rs.migrations.is_empty()) {
        out.push(migrations(rs));
    }
    // A lock or stampede drill alone measures none of the key/value
    // figures: there is nothing to say about which were not measured.
    if has_kv(r) {
        out.push(eviction(r));
        out.push(unknown(r));
    }
    out
}

/// The reshard's row, and the keys it found with two values.
fn reshard_rows(t: &mut Table, rs: &ReshardSummary) {
    let atomic = rs.method.as_deref() == Some("atomic");
    let bytes = if atomic {
        // The server moves the keys: no MEMORY USAGE was read.
        "bytes not measured".to_string()
    } else {
        crate::status::human_bytes(rs.bytes_moved)
    };
    let how = match rs.method.as_deref() {
        Some("atomic") => " (atomic: the server's own migration)",
        Some("keys") => " (key by key)",
        _ => "",
    };
    t.label(
        "reshard",
        format!(
            "{} slots, {} keys ({bytes}) {} → {} in {} — {} keys/s{how}",
            group(rs.slots_moved),
            group(rs.keys_moved),
            rs.from.join(","),
            rs.to.join(","),
            ms(rs.duration_ms),
            group(rs.keys_per_s as u64)
        ),
        false,
    );
    if rs.keys_overwritten > 0 {
        t.label(
            "keys with two values",
            format!(
                "{} found on both nodes of a move with different values: the giving node's value was kept, the other overwritten",
                group(rs.keys_overwritten)
            ),
            false,
        );
    }
}

/// The failures by kind, ` (kind n, …)`, or nothing.
fn errors(kinds: &BTreeMap<String, u64>) -> String {
    if kinds.is_empty() {
        return String::new();
    }
    let list: Vec<String> = kinds
        .iter()
        .map(|(k, n)| format!("{k} {}", group(*n)))
        .collect();
    format!(" ({})", list.join(", "))
}

/// The key/value workload's rows: the clients, the downtime, the writes
/// lost, the keys.
fn kv_rows(t: &mut Table, r: &Report) {
    let a = &r.workload.app;
    // The failures by kind; indeterminate ops have their own count.
    let mut failed_kinds = a.errors_by_kind.clone();
    failed_kinds.remove("indeterminate");
    let library = match &r.workload.engine.app_library {
        Some(l) => format!(", {} {}", l.library, l.version),
        None => String::new(),
    };
    t.label(
        &format!("app clients ({}{library})", a.clients),
        format!(
            "{} ok, {} failed{}, {} indeterminate",
            group(a.ops_ok),
            group(a.ops_failed),
            errors(&failed_kinds),
            group(a.ops_indeterminate)
        ),
        false,
    );
    let p = &r.workload.probe;
    if p.clients > 0 {
        t.label(
            &format!("probe ({}, no retries)", p.clients),
            format!(
                "{} ok, {} redirects, {} failed{}",
                group(p.ops_ok),
                group(p.redirects),
                group(p.ops_failed),
                errors(&p.errors_by_kind)
            ),
            false,
        );
    }
    downtime_rows(t, r);
    lost_writes_row(t, r);
    let c = &r.checks;
    if c.stray_keys > 0 {
        let text = format!("{} in slots their node does not own", group(c.stray_keys));
        t.label("stray keys", text, true);
    }
    // A cluster gets `redis-cli --cluster check`'s four checks; the other
    // kinds their replication or liveness check (see `scenarios::stages`).
    let check = match r.topology.kind {
        crate::topology::Kind::Cluster => "cluster check",
        crate::topology::Kind::Replicated => "replication check",
        crate::topology::Kind::Standalone => "primaries check",
    };
    let counted = match c.unknown.get("keys_missing") {
        Some(why) => format!(" (not all counted: {why})"),
        None => String::new(),
    };
    let ok = if c.cluster_check_ok { "ok" } else { "FAILED" };
    t.label(
        "keys",
        format!(
            "{} before, {} after{counted} · {check} {ok}",
            group(c.keys_before),
            group(c.keys_after),
        ),
        !c.cluster_check_ok,
    );
}

/// The downtime row; a view that could not be measured is a lower bound,
/// and a row of its own says why.
fn downtime_rows(t: &mut Table, r: &Report) {
    let d = &r.downtime_ms;
    let view = |key: &str, v: f64| match d.unknown.get(key) {
        Some(_) => format!("≥ {} (unknown)", ms(v)),
        None => ms(v),
    };
    t.label(
        "downtime (worst shard or moved slots)",
        format!(
            "app {} (writes alone {}) · probe {} · longest app wait between successes {}",
            view("app", d.max),
            view("writes", d.write_max),
            view("probe", d.probe_max),
            ms(d.gap_max)
        ),
        false,
    );
    for (key, why) in &d.unknown {
        t.label(&format!("downtime unknown ({key})"), why.clone(), false);
    }
}

/// The lost writes row: how many of the acknowledged, on how many keys,
/// when they were acknowledged.
fn lost_writes_row(t: &mut Table, r: &Report) {
    let c = &r.checks;
    let window = match c.loss_window_ms {
        Some((a, b)) => format!(", acknowledged between {} and {}", ms(a), ms(b)),
        None => String::new(),
    };
    let keys = if c.lost_writes > 0 {
        format!(", on {} keys", group(c.lost_writes))
    } else {
        String::new()
    };
    let unknown = match c.unknown.get("lost_writes") {
        Some(why) => format!("unknown: {why} — among the keys read back, "),
        None => String::new(),
    };
    t.label(
        "lost writes",
        format!(
            "{unknown}{} of {} acknowledged{keys}{window} ({} indeterminate)",
            group(c.lost_acknowledged_writes),
            group(c.acknowledged_writes),
            group(c.indeterminate_writes)
        ),
        c.lost_acknowledged_writes > 0,
    );
}

/// The first lost writes, one line each.
fn lost(r: &Report) -> Vec<String> {
    (r.checks.lost.iter().take(LOST_SHOWN))
        .map(|l| {
            format!(
                "`{}` (slot {}): found {:?}, expected one of {:?}, last acknowledged at {}",
                l.key,
                l.slot,
                l.found,
                l.acceptable,
                ms(l.last_ack_ms)
            )
        })
        .collect()
}

/// The keys a move overwrote, with both values (the first few).
fn overwritten(rs: &ReshardSummary) -> Section {
    let shown = &rs.overwritten[..rs.overwritten.len().min(OVERWRITTEN_SHOWN)];
    let mut s = Section::titled(format!(
        "Keys the reshard found with two values (first {} of {}; the giving node's value kept)",
        shown.len(),
        group(rs.keys_overwritten)
    ));
    let t = Table::aligned(&["key", "slot", "kept", "overwritten"], "lrll").with_rows(
        shown.iter().map(|k| {
            vec![
                k.key.clone(),
                k.slot.to_string(),
                format!("{}: {:?}", k.from, k.kept),
                format!("{}: {:?}", k.to, k.overwritten),
            ]
        }),
    );
    s.table(t);
    s
}

/// The atomic migrations: the server's record of each (state, message, cow
/// size) beside what the engine saw polling it (the states in order, with
/// when each was first seen, and the write pause).
fn migrations(rs: &ReshardSummary) -> Section {
    let mut s = Section::titled("Slot migrations (the server's record)");
    s.text(
        "Each state as the tool first saw it polling CLUSTER GETSLOTMIGRATIONS every 10 ms (ms from the reshard's start); a state shorter than a poll may be missing, and the pause then reads `not seen`.",
    );
    let t = Table::aligned(
        &[
            "migration",
            "move",
            "slots",
            "state",
            "took",
            "states seen",
            "pause seen",
            "cow",
            "keys on target",
        ],
        "llllrlrrr",
    )
    .with_rows(rs.migrations.iter().map(|m| {
        let states: Vec<String> = m
            .states
            .iter()
            .map(|st| format!("{} @{}", st.state, ms(st.at_ms)))
            .collect();
        let state = if m.message.is_empty() {
            m.state.clone()
        } else {
            format!("{}: {}", m.state, m.message)
        };
        vec![
            m.name.get(..8).unwrap_or(&m.name).to_string(),
            format!("{} → {}", m.source, m.target),
            format!("{} ({})", m.slot_ranges, group(m.slots as u64)),
            state,
            ms(m.duration_ms),
            states.join(" → "),
            m.pause_seen_ms.map_or_else(|| "not seen".to_string(), ms),
            crate::status::human_bytes(m.cow_size),
            m.keys_on_target.map_or_else(|| EMPTY.to_string(), group),
        ]
    }));
    s.table(t);
    s
}

/// Eviction: each phase's hit ratio as the clients saw it beside the
/// nodes' own INFO count (the cross-check), evictions and memory (the
/// policy, the keys evicted and the stale reads are among the cache rows).
fn eviction(r: &Report) -> Section {
    let mut s = Section::titled("Eviction, phase by phase");
    let Some(e) = &r.checks.eviction else {
        return Section::default();
    };
    let pct = |r: Option<f64>| r.map_or(EMPTY.to_string(), |r| format!("{:.1} %", r * 100.0));
    let mut t = Table::new(&[
        "phase",
        "GETs",
        "hit ratio (clients)",
        "hot keys' miss ratio",
        "hit ratio (INFO)",
        "apart (points)",
        "evicted (INFO)",
        "used_memory max",
    ]);
    for (name, p) in e.in_run_order(&r.phases) {
        t.row(vec![
            name.to_string(),
            group(p.hits.reads),
            pct(p.hit_ratio),
            pct(p.hot_miss_ratio),
            pct(p.info_hit_ratio),
            (p.hit_ratio_difference).map_or(EMPTY.to_string(), |d| format!("{:+.1}", d * 100.0)),
            group(p.info.evicted_keys),
            format!("{:.1} MB", p.info.used_memory_max as f64 / 1_048_576.0),
        ]);
    }
    s.table(t);
    s
}

/// The figures the run could not measure, and why: neither passed nor
/// failed.
fn unknown(r: &Report) -> Section {
    let unknown = r.unknown_figures();
    if unknown.is_empty() {
        return Section::default();
    }
    let mut s = Section::titled("Not measured");
    s.text("Not measured, so neither passed nor failed:");
    s.list(
        unknown
            .into_iter()
            .map(|(figure, why)| format!("{figure}: {why}"))
            .collect(),
    );
    s
}
