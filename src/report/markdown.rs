//! The Markdown summary printed at the end of a run: the figures a person reads
//! in ten seconds, then the SLO table.

use std::fmt::Write as _;

use super::text::{group, ms};
use super::{Latency, LinkReport, OVERWRITTEN_SHOWN, Report, Verdict};

fn errors(kinds: &std::collections::BTreeMap<String, u64>) -> String {
    if kinds.is_empty() {
        return String::new();
    }
    let list: Vec<String> = kinds
        .iter()
        .map(|(k, n)| format!("{k} {}", group(*n)))
        .collect();
    format!(" ({})", list.join(", "))
}

pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let verdict = match r.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Unknown => "UNKNOWN",
    };
    let _ = writeln!(s, "## {} — {verdict}\n", r.scenario);
    if let Some(e) = &r.expected {
        let _ = writeln!(s, "{}\n", e.line());
    }
    let _ = writeln!(
        s,
        "seed {} · {} · redis {} · {} cores · {}\n",
        r.seed,
        r.environment.runtime,
        r.environment.redis_version,
        r.environment.host_cores,
        r.started_at
    );
    // The headline table; left out when nothing fills it (a lock drill
    // that ran its locks alone has its own section below).
    let mut t = String::new();
    if let Some(rs) = &r.reshard {
        let _ = writeln!(
            t,
            "| reshard | {} slots, {} keys ({}) {} → {} in {} — {} keys/s |",
            group(rs.slots_moved),
            group(rs.keys_moved),
            crate::status::human_bytes(rs.bytes_moved),
            rs.from.join(","),
            rs.to.join(","),
            ms(rs.duration_ms),
            group(rs.keys_per_s as u64)
        );
        if rs.keys_overwritten > 0 {
            let _ = writeln!(
                t,
                "| keys with two values | {} found on both nodes of a move with different values: the giving node's value was kept, the other overwritten |",
                group(rs.keys_overwritten)
            );
        }
    }
    if let Some(c) = r.convergence_ms {
        let what = match r.topology.kind {
            crate::topology::Kind::Cluster => "until every node agrees",
            _ => "until one primary has every replica caught up",
        };
        let _ = writeln!(t, "| convergence | {} {what} |", ms(c));
    }
    // A lock drill that ran its locks alone: no key/value figures at all.
    let kv = r.workload.app.clients > 0
        || r.workload.probe.clients > 0
        || (r.locks.is_none() && r.checks.stampede.is_none());
    if kv {
        kv_rows(&mut t, r);
    }
    if !t.is_empty() {
        let _ = write!(s, "| | |\n|---|---|\n{t}");
    }
    if let Some(rs) = r.reshard.as_ref().filter(|rs| !rs.overwritten.is_empty()) {
        overwritten(&mut s, rs);
    }
    if kv {
        timing(&mut s, r);
    }
    links(&mut s, r);
    client_regions(&mut s, r);
    replication(&mut s, r);
    if let Some(st) = &r.checks.stampede {
        super::stampede::render(&mut s, st);
    }
    faults(&mut s, r);
    if let Some(l) = &r.locks {
        super::locks::render(&mut s, l);
    }
    slos(&mut s, r);
    s
}

/// The keys a move overwrote, with both values (the first few).
fn overwritten(s: &mut String, rs: &crate::report::ReshardSummary) {
    let shown = &rs.overwritten[..rs.overwritten.len().min(OVERWRITTEN_SHOWN)];
    let _ = writeln!(
        s,
        "\nKeys the reshard found with two values (first {} of {}):\n",
        shown.len(),
        group(rs.keys_overwritten)
    );
    for k in shown {
        let _ = writeln!(
            s,
            "- `{}` (slot {}): {}'s {:?} kept; {}'s {:?} overwritten",
            k.key, k.slot, k.from, k.kept, k.to, k.overwritten
        );
    }
}

/// The key/value workload's rows of the summary table: the clients, the
/// downtime, the writes lost, the keys.
fn kv_rows(s: &mut String, r: &Report) {
    let a = &r.workload.app;
    // The failures by kind; indeterminate ops have their own count.
    let mut failed_kinds = a.errors_by_kind.clone();
    failed_kinds.remove("indeterminate");
    let _ = writeln!(
        s,
        "| app clients ({}) | {} ok, {} failed{}, {} indeterminate |",
        a.clients,
        group(a.ops_ok),
        group(a.ops_failed),
        errors(&failed_kinds),
        group(a.ops_indeterminate)
    );
    let p = &r.workload.probe;
    if p.clients > 0 {
        let _ = writeln!(
            s,
            "| probe ({}, no retries) | {} ok, {} redirects, {} failed{} |",
            p.clients,
            group(p.ops_ok),
            group(p.redirects),
            group(p.ops_failed),
            errors(&p.errors_by_kind)
        );
    }
    let d = &r.downtime_ms;
    // A view that could not be measured is a lower bound, and says why.
    let view = |key: &str, v: f64| match d.unknown.get(key) {
        Some(_) => format!("≥ {} (unknown)", ms(v)),
        None => ms(v),
    };
    let _ = writeln!(
        s,
        "| downtime (worst shard or moved slots) | app {} (writes alone {}) · probe {} · longest app wait between successes {} |",
        view("app", d.max),
        view("writes", d.write_max),
        view("probe", d.probe_max),
        ms(d.gap_max)
    );
    for (key, why) in &d.unknown {
        let _ = writeln!(s, "| downtime unknown ({key}) | {} |", cell(why));
    }
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
    let _ = writeln!(
        s,
        "| lost writes | {}{} of {} acknowledged{keys}{window} ({} indeterminate) |",
        match c.unknown.get("lost_writes") {
            Some(why) => format!("unknown: {} — among the keys read back, ", cell(why)),
            None => String::new(),
        },
        group(c.lost_acknowledged_writes),
        group(c.acknowledged_writes),
        group(c.indeterminate_writes)
    );
    if c.stray_keys > 0 {
        let _ = writeln!(
            s,
            "| stray keys | {} in slots their node does not own |",
            group(c.stray_keys)
        );
    }
    // A cluster gets `redis-cli --cluster check`'s four checks; the other
    // kinds their replication or liveness check (see `scenarios::stages`).
    let check = match r.topology.kind {
        crate::topology::Kind::Cluster => "cluster check",
        crate::topology::Kind::Replicated => "replication check",
        crate::topology::Kind::Standalone => "primaries check",
    };
    let _ = writeln!(
        s,
        "| keys | {} before, {} after{} · {check} {} |",
        group(c.keys_before),
        group(c.keys_after),
        match c.unknown.get("keys_missing") {
            Some(why) => format!(" (not all counted: {})", cell(why)),
            None => String::new(),
        },
        if c.cluster_check_ok { "ok" } else { "FAILED" }
    );
    cache(s, c, &r.phases);
    if !c.lost.is_empty() {
        let _ = writeln!(s, "\nLost writes (first {}):\n", c.lost.len().min(10));
        for l in c.lost.iter().take(10) {
            let _ = writeln!(
                s,
                "- `{}` (slot {}): found {:?}, expected one of {:?}, last acknowledged at {}",
                l.key,
                l.slot,
                l.found,
                l.acceptable,
                ms(l.last_ack_ms)
            );
        }
    }
}

/// The SLO table.
fn slos(s: &mut String, r: &Report) {
    if !r.slo.is_empty() {
        let _ = writeln!(s, "\n| SLO | limit | value | |\n|---|--:|--:|---|");
        for slo in &r.slo {
            let value = match slo.value {
                Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
                Some(v) => format!("{v:.2}"),
                // A failure without a figure: beyond every limit (ops
                // that got no answer); the note says why.
                None if slo.result == Verdict::Fail => "—".to_string(),
                None => "not measured".to_string(),
            };
            let result = match slo.result {
                Verdict::Pass => "pass".to_string(),
                Verdict::Fail => match &slo.note {
                    Some(why) => format!("FAIL: {}", cell(why)),
                    None => "FAIL".to_string(),
                },
                Verdict::Unknown => format!(
                    "unknown: {}",
                    cell(slo.note.as_deref().unwrap_or("not established"))
                ),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                slo.name,
                slo.bound.show(slo.limit),
                value,
                result
            );
        }
    }
}

/// The cache checkers' rows ([`super::cache::rows`]: counters, transactions,
/// TTLs, stale reads, eviction), then eviction's hit ratios phase by phase.
fn cache(s: &mut String, c: &super::Checks, phases: &[super::PhaseMs]) {
    for (label, text, _) in super::cache::rows(c) {
        let _ = writeln!(s, "| {label} | {text} |");
    }
    if let Some(e) = &c.eviction {
        let pct = |r: Option<f64>| r.map_or("—".to_string(), |r| format!("{:.1} %", r * 100.0));
        for (name, p) in e.in_run_order(phases) {
            let _ = writeln!(
                s,
                "| `{name}` hits | clients {} of {} GETs, hot keys miss {} · INFO {} ({} points apart), {} evicted, used_memory max {:.1} MB |",
                pct(p.hit_ratio),
                group(p.hits.reads),
                pct(p.hot_miss_ratio),
                pct(p.info_hit_ratio),
                p.hit_ratio_difference
                    .map_or("—".to_string(), |d| format!("{:+.1}", d * 100.0)),
                group(p.info.evicted_keys),
                p.info.used_memory_max as f64 / 1_048_576.0
            );
        }
    }
}

/// A p99 in a table cell: `—` when nothing was measured.
fn p99_cell(l: Option<&Latency>) -> String {
    match l {
        Some(l) if l.count > 0 => ms(l.p99),
        _ => "—".to_string(),
    }
}

/// Where the time went, phase by phase: what the app clients felt (from the
/// schedule), how much of it was service (client path and server) and how
/// much the tool's own lag, next to the probe, the raw PING reference and
/// the nodes' own execution times; then the self-check and the engine.
fn timing(s: &mut String, r: &Report) {
    let a = &r.workload.app;
    if a.service_ms.is_empty() {
        return;
    }
    let phases: Vec<&str> = r.phases.iter().map(|p| p.name.as_str()).collect();
    let reference = r.reference.as_ref();
    let _ = writeln!(
        s,
        "\n| p99 by phase | app latency (ok ops) | app latency (all ops) | app service | tool lag | probe latency | PING (worst primary) | server GET / SET |\n|---|--:|--:|--:|--:|--:|--:|--:|"
    );
    for phase in &phases {
        let ping = reference
            .and_then(|x| x.ping_ms.get(*phase))
            .and_then(|nodes| {
                nodes
                    .iter()
                    .filter(|(_, p)| p.count > p.failed)
                    .max_by(|a, b| a.1.p99.total_cmp(&b.1.p99))
            })
            .map_or("—".to_string(), |(node, p)| {
                let failed = if p.failed > 0 {
                    format!(", {} failed", group(p.failed))
                } else {
                    String::new()
                };
                format!("{} ({node}{failed})", ms(p.p99))
            });
        let server =
            reference
                .and_then(|x| x.server.get(*phase))
                .map_or("—".to_string(), |nodes| {
                    let worst = |cmd: &str| {
                        nodes
                            .values()
                            .filter_map(|n| n.get(cmd).and_then(|c| c.p99_usec))
                            .reduce(f64::max)
                            .map_or("—".to_string(), |us| format!("{us:.0} µs"))
                    };
                    format!("{} / {}", worst("get"), worst("set"))
                });
        let lag = match r.workload.self_check.phases.get(*phase) {
            Some(c) if !c.ok => format!("**{}**", ms(c.tool_lag_p99_ms)),
            _ => p99_cell(a.tool_lag_ms.get(*phase)),
        };
        let _ = writeln!(
            s,
            "| {phase} | {} | {} | {} | {lag} | {} | {ping} | {server} |",
            p99_cell(a.latency_ms.get(*phase)),
            p99_cell(a.latency_all_ms.get(*phase)),
            p99_cell(a.service_ms.get(*phase)),
            p99_cell(r.workload.probe.latency_ms.get(*phase)),
        );
    }
    let c = &r.workload.self_check;
    if c.ok {
        let _ = writeln!(
            s,
            "\nself-check: the tool sent every op on time (tool lag p99 ≤ {} ms in every phase), so latency measured Redis and the client path, not the tool.",
            c.max_tool_lag_ms
        );
    } else if let Some(note) = &c.note {
        let distrusted: Vec<&str> = r
            .slo
            .iter()
            .filter(|x| x.result == Verdict::Unknown)
            .filter(|x| x.note.as_deref().is_some_and(|n| n.contains("tool lag")))
            .map(|x| x.name.as_str())
            .collect();
        let consequence = if distrusted.is_empty() {
            "; no SLO reads those phases".to_string()
        } else {
            format!(", which makes {} unknown", distrusted.join(", "))
        };
        let _ = writeln!(s, "\n**self-check failed**: {note}{consequence}.");
    }
    let e = &r.workload.engine;
    if !e.model.is_empty() {
        let waited: u64 = a.pool_wait.values().map(|w| w.ops).sum::<u64>()
            + r.workload
                .probe
                .pool_wait
                .values()
                .map(|w| w.ops)
                .sum::<u64>();
        let mut notes = Vec::new();
        if waited > 0 {
            notes.push(format!("{} ops waited for room in flight", group(waited)));
        }
        if e.unrecorded > 0 {
            notes.push(format!(
                "{} ops not recorded (history full)",
                group(e.unrecorded)
            ));
        }
        if e.dropped_at_stop > 0 {
            notes.push(format!(
                "{} ops due before the stop never sent",
                group(e.dropped_at_stop)
            ));
        }
        let threads = match e.threads {
            0 => "one event loop on the controller's threads".to_string(),
            1 => "1 event loop of its own".to_string(),
            n => format!("{n} event loops of their own"),
        };
        let priority = e
            .priority
            .as_deref()
            .map_or(String::new(), |p| format!(", {p}"));
        let path = if r.environment.client_path.is_empty() {
            String::new()
        } else {
            format!(" · clients: {}", r.environment.client_path)
        };
        let _ = writeln!(
            s,
            "engine: {} loop · {} ops · peak {} in flight (limit {}) · {} app + {} probe connections · {threads}{priority}{path}{}",
            e.model,
            group(e.ops_dispatched),
            group(e.peak_in_flight),
            group(e.max_in_flight),
            e.app_connections,
            e.probe_connections,
            if notes.is_empty() {
                String::new()
            } else {
                format!(" · {}", notes.join(" · "))
            }
        );
    }
}

/// The links between regions: declared against measured round trips, and
/// the check that says whether they matched.
fn links(s: &mut String, r: &Report) {
    if r.links.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n### Links between regions\n");
    let _ = writeln!(
        s,
        "Round trips measured before the drill: sequential PINGs from a node of one region, bound to its address, to a node of the other, through the link as the nodes' own traffic goes.\n"
    );
    round_trips(s, &r.links);
    if !r.environment.links_mechanism.is_empty() {
        let _ = writeln!(s, "\nMade by: {}.", r.environment.links_mechanism);
    }
    s.push('\n');
    for l in &r.links {
        let _ = writeln!(s, "- {} {}: {}", l.link, l.check.as_str(), l.note);
    }
    s.push('\n');
}

/// Measured round trips against declared ones, one row each.
fn round_trips<'a>(s: &mut String, rows: impl IntoIterator<Item = &'a LinkReport>) {
    let _ = writeln!(
        s,
        "| link | from → to | declared RTT | PINGs | p50 | p99 | min | check |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---|");
    for l in rows {
        let _ = writeln!(
            s,
            "| {} | {} → {} | {} | {} | {} | {} | {} | {} |",
            cell(&l.link),
            cell(&l.from),
            cell(&l.to),
            ms(l.declared_rtt_ms),
            l.pings,
            opt(l.p50_ms),
            opt(l.p99_ms),
            opt(l.min_ms),
            l.check.as_str()
        );
    }
}

/// The clients of each region: what they cross to reach each region, and
/// what they saw, phase by phase.
fn client_regions(s: &mut String, r: &Report) {
    if r.client_regions.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n### Clients by region\n");
    let _ = writeln!(
        s,
        "The clients are spread over the regions in turn (client i in the i-th mod n). Round trips measured before the drill, from each region's clients to a node of each region, through the links as their traffic goes:\n"
    );
    let paths: Vec<&LinkReport> = r.client_regions.iter().flat_map(|g| &g.paths).collect();
    round_trips(s, paths.iter().copied());
    for p in paths.iter().filter(|p| p.check != Verdict::Pass) {
        let _ = writeln!(
            s,
            "\n- {} → {} {}: {}",
            p.from,
            p.to,
            p.check.as_str(),
            p.note
        );
    }
    let _ = writeln!(
        s,
        "\n| clients in | app clients | downtime | write downtime | probe downtime | lost acked writes |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    for g in &r.client_regions {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&g.region),
            g.app.clients,
            ms(g.downtime_ms),
            ms(g.write_downtime_ms),
            ms(g.probe_downtime_ms),
            g.lost_acknowledged_writes
        );
    }
    if r.client_regions
        .iter()
        .any(|g| g.writes_with_wait_ms.is_some() || g.stale.is_some())
    {
        let _ = writeln!(
            s,
            "\nApp clients' ok writes from sending to the answer, without and with WAIT (the difference is what waiting for a replica costs from there), and their reads judged for staleness:\n"
        );
        let _ = writeln!(
            s,
            "| clients in | writes | p50 | p99 | with WAIT | p50 | p99 | reads | stale | staleness p50 | p99 | max |"
        );
        let _ = writeln!(
            s,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for g in &r.client_regions {
            let l = |l: Option<&crate::checker::Latency>| match l {
                Some(l) if l.count > 0 => format!("{} | {} | {}", l.count, ms(l.p50), ms(l.p99)),
                _ => "0 | – | –".to_string(),
            };
            let st = match &g.stale {
                Some(st) => format!(
                    "{} | {} | {} | {} | {}",
                    st.reads,
                    st.stale_reads,
                    opt((st.stale_reads > 0).then_some(st.staleness_ms.p50)),
                    opt(st.staleness_ms.p99_measured()),
                    opt((st.stale_reads > 0).then_some(st.staleness_ms.max)),
                ),
                None => "0 | 0 | – | – | –".to_string(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                cell(&g.region),
                l(Some(&g.writes_ms)),
                l(g.writes_with_wait_ms.as_ref()),
                st
            );
        }
    }
    let _ = writeln!(
        s,
        "\nApp clients' ops by phase (latency from the schedule, ok ops):\n"
    );
    let _ = writeln!(s, "| clients in | phase | ok | failed | p50 | p99 | max |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|");
    for g in &r.client_regions {
        for p in &r.phases {
            let Some(l) = g.app.latency_ms.get(&p.name) else {
                continue;
            };
            let failed = g
                .app
                .latency_all_ms
                .get(&p.name)
                .map_or(0, |a| a.count.saturating_sub(l.count));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                cell(&g.region),
                cell(&p.name),
                l.count,
                failed,
                opt((l.count > 0).then_some(l.p50)),
                opt(l.p99_measured()),
                opt((l.count > 0).then_some(l.max))
            );
        }
    }
    s.push('\n');
}

/// Text safe inside a table cell (a grudge's `a | b` would split it).
/// The replication probe's lag, per replica region and per replica, with
/// the write latency it cost to wait for a replica.
fn replication(s: &mut String, r: &Report) {
    let Some(rep) = &r.checks.replication else {
        return;
    };
    let _ = writeln!(s, "\n### Replication lag by region\n");
    let _ = writeln!(
        s,
        "A write's acknowledgement → the end of the first read of a replica that returned it (or a later write): {} probe writes, {} acknowledged. Read from where the clients connect, outside every region; the lag is an upper bound, by one polling interval at most. It can never be below the link's one-way delay after the write was sent (the floor).\n",
        rep.writes, rep.writes_acked
    );
    let _ = writeln!(
        s,
        "| region | replicas | one way (declared) | writes judged | unseen | lag p50 | lag p99 | lag max | below the floor |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for g in &rep.regions {
        let measured = g.lag_ms.count > 0;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&g.region),
            cell(&g.replicas.join(", ")),
            ms(g.one_way_ms),
            g.writes_judged,
            g.unseen,
            opt(measured.then_some(g.lag_ms.p50)),
            opt(measured.then_some(g.lag_ms.p99)),
            opt(measured.then_some(g.lag_ms.max)),
            g.floor_violations
        );
    }
    s.push('\n');
    if rep.regions.iter().any(|g| g.by_phase.len() > 1) {
        let _ = writeln!(s, "By the phase the write was acknowledged in:\n");
        let _ = writeln!(
            s,
            "| region | phase | writes | unseen | lag p50 | lag p99 | lag max |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|");
        for g in &rep.regions {
            for p in &g.by_phase {
                let measured = p.lag_ms.count > 0;
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    cell(&g.region),
                    cell(&p.phase),
                    p.lag_ms.count + p.unseen,
                    p.unseen,
                    opt(measured.then_some(p.lag_ms.p50)),
                    opt(measured.then_some(p.lag_ms.p99)),
                    opt(measured.then_some(p.lag_ms.max)),
                );
            }
        }
        s.push('\n');
    }
    for x in &rep.replicas {
        let _ = writeln!(
            s,
            "- {} ({}, primary {} in {}): soonest after a write was sent {}",
            x.replica,
            x.region,
            x.primary,
            x.primary_region,
            opt(x.after_send_min_ms)
        );
    }
    let _ = writeln!(
        s,
        "- Resyncs the primaries served (INFO stats, sampled each second): {} full, {} partial",
        rep.resyncs_full, rep.resyncs_partial
    );
    if rep.write_wait_ms.count > 0 {
        let _ = writeln!(
            s,
            "- Write latency p50 {} (p99 {}) alone; {} (p99 {}) with `WAIT 1` after it ({} WAITs counted no replica)",
            opt((rep.write_ms.count > 0).then_some(rep.write_ms.p50)),
            opt((rep.write_ms.count > 0).then_some(rep.write_ms.p99)),
            ms(rep.write_wait_ms.p50),
            ms(rep.write_wait_ms.p99),
            rep.wait_short
        );
    }
    s.push('\n');
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn opt(v: Option<f64>) -> String {
    v.map_or("—".to_string(), ms)
}

/// The fault table: each fault, when, and what it cost; then each failover
/// against the spec's bound, and each rejoin.
fn faults(s: &mut String, r: &Report) {
    if r.faults.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n| fault | nodes | at | undone | converged after | app downtime (worst shard or moved slots) | windows |\n|---|---|--:|--:|--:|--:|--:|"
    );
    for f in &r.faults {
        let worst = f
            .downtime_ms
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or("0 ms".to_string(), |(shard, v)| {
                format!("{} ({shard})", ms(*v))
            });
        // Windows dropped past the analysis's limit: a lower bound.
        // The app's downtime could not be measured (a shard or part with
        // no app op): what the windows show is a lower bound.
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
        let kv = r.workload.app.clients > 0;
        let (worst, windows) = if kv {
            (worst, f.downtime_windows.to_string())
        } else {
            ("—".to_string(), "—".to_string())
        };
        if let Some(why) = &f.skipped {
            let _ = writeln!(
                s,
                "| {} {} — **not performed**: {} | {} | {} | — | — | — | — |",
                f.fault,
                f.target,
                cell(why),
                f.nodes.join(" "),
                ms(f.start_ms),
            );
            continue;
        }
        let _ = writeln!(
            s,
            "| {} {}{} | {} | {} | {} | {} | {} | {} |",
            f.fault,
            f.target,
            match (f.detail.is_empty(), f.promoted_after_ms) {
                (_, Some(p)) => format!(" — {}, promoted in {}", cell(&f.detail), ms(p)),
                (true, None) => String::new(),
                (false, None) => format!(" — {}", cell(&f.detail)),
            },
            f.nodes.join(" "),
            ms(f.start_ms),
            match (&f.undo, f.undone_ms) {
                (Some(u), Some(at)) => format!("{u} at {}", ms(at)),
                _ => "—".to_string(),
            },
            opt(f.converged_after_ms),
            worst,
            windows
        );
    }
    let failovers: Vec<_> = r.faults.iter().flat_map(|f| &f.failover).collect();
    if !failovers.is_empty() {
        let _ = writeln!(
            s,
            "\n| failover of | PFAIL | FAIL | promoted | state ok everywhere | all agree | spec: promoted within |\n|---|--:|--:|---|--:|--:|--:|"
        );
        for f in failovers {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} {} | {} | {} | {:.0}–{} (node timeout {} ms) |",
                f.node,
                opt(f.pfail_after_ms),
                opt(f.fail_after_ms),
                f.promoted.as_deref().unwrap_or("nobody"),
                opt(f.promoted_after_ms),
                opt(f.state_ok_after_ms),
                opt(f.agreed_after_ms),
                f.expected_min_ms,
                ms(f.expected_max_ms),
                f.node_timeout_ms
            );
        }
    }
    let rejoins: Vec<_> = r.faults.iter().flat_map(|f| &f.rejoin).collect();
    if !rejoins.is_empty() {
        let _ = writeln!(
            s,
            "\n| rejoin of | answers | replica | link up | caught up |\n|---|--:|--:|--:|--:|"
        );
        for j in rejoins {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                j.node,
                opt(j.reachable_after_ms),
                opt(j.replica_after_ms),
                opt(j.link_up_after_ms),
                opt(j.caught_up_after_ms)
            );
        }
    }
    let _ = writeln!(
        s,
        "\nTimes after the fault (failover) or after the node was started again (rejoin)."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1 000");
        assert_eq!(group(1234567), "1 234 567");
        assert_eq!(ms(0.0), "0 ms");
        assert_eq!(ms(0.456), "0.46 ms");
        assert_eq!(ms(12.34), "12.3 ms");
        assert_eq!(ms(1234.5), "1234 ms");
        assert_eq!(crate::status::human_bytes(4_100_000), "3.9 MiB");
    }

    #[test]
    fn unknown_snapshot() {
        insta::assert_snapshot!(super::render(&crate::report::tests::sample_unknown()));
    }

    /// A fault's row does not give a downtime the run could not measure as
    /// its figure: it is a lower bound, marked unknown.
    #[test]
    fn a_fault_row_under_unknown_app_downtime_says_so() {
        let mut r = crate::report::tests::sample_failover();
        let row = |r: &Report| {
            render(r)
                .lines()
                .find(|l| l.starts_with("| kill "))
                .expect("the kill's row")
                .to_string()
        };
        assert!(!row(&r).contains("unknown"), "{}", row(&r));
        r.downtime_ms
            .unknown
            .insert("app".into(), "shard s2n1 saw no app op".into());
        assert!(
            row(&r).contains("| ≥ 2843 ms (s1n1) (unknown) |"),
            "{}",
            row(&r)
        );
    }

    #[test]
    fn summary_snapshot() {
        insta::assert_snapshot!(render(&crate::report::tests::sample()));
    }

    /// The cache checkers' rows: counters, transactions, TTLs.
    #[test]
    fn cache_snapshot() {
        let mut r = crate::report::tests::sample();
        r.checks.counters = Some(crate::report::CounterChecks {
            counters_checked: 1,
            acknowledged_incrs: 41_200,
            indeterminate_incrs: 12,
            lost_increments: 3,
            over_counted_increments: 0,
            violations: vec![],
        });
        r.checks.txn = Some(crate::report::TxnChecks {
            reads_checked: 9_800,
            torn_reads: 0,
            groups_checked: 64,
            groups_unread: 0,
            torn_groups: 1,
            ..Default::default()
        });
        r.checks.ttl = Some(crate::report::TtlChecks {
            tolerance_ms: 2.0,
            ttl_writes: 5_000,
            reads_checked: 12_000,
            reads_ambiguous: 40,
            reads_after_deadline: 3_000,
            reads_before_deadline: 8_000,
            zombie_reads: 0,
            early_expiries: 7,
            zombie_reads_in_faults: 0,
            early_expiries_in_faults: 7,
            expiries_seen: 900,
            lateness_at_least_ms: crate::checker::percentiles([0, 0, 1_000_000]),
            lateness_at_most_ms: crate::checker::percentiles([2_000_000, 4_000_000, 30_000_000]),
            ..Default::default()
        });
        insta::assert_snapshot!(render(&r));
    }

    #[test]
    fn failover_snapshot() {
        insta::assert_snapshot!(render(&crate::report::tests::sample_failover()));
    }
}
