//! The client-libraries checker: when a drill ran clients of more than one
//! library (`workload.clients` groups), what each library's clients saw —
//! downtime per shard, failed and indeterminate ops, latency by phase,
//! lost acknowledged writes, stale reads, error classes — apart, each under
//! its library's name and version (`client_libraries`). redis-rs's app
//! clients are the first column; each adapter's group follows. A group
//! whose adapter failed (crashed, hung, broke the protocol) has every
//! figure `unknown`, with the adapter's own words; one that could not keep
//! the schedule has its latency `unknown` in those phases, as the built-in
//! clients' self-check does.

use std::collections::BTreeMap;

use super::clients::{lag_check, summarize};
use super::data::stale_side;
use super::{Checker, Run};
use crate::record::ops::{ClientMode, Op, Outcome};
use crate::report::ClientLibrary;

/// Successes are counted in buckets this long for the report's chart.
pub const BUCKET_MS: u64 = 100;

/// The client-libraries checker.
pub(crate) struct Libraries;

impl Checker for Libraries {
    type Section = Vec<ClientLibrary>;

    fn check(&self, run: &Run) -> Vec<ClientLibrary> {
        let r = run.record;
        let e = &r.engine;
        if e.adapters.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        if r.app_clients > 0 {
            let lib = e.app_library.clone().unwrap_or_default();
            out.push(library(
                run,
                Group {
                    name: lib.library.clone(),
                    library: lib.library,
                    version: Some(lib.version),
                    settings: lib.settings,
                    clients: (0, r.app_clients),
                    mode: ClientMode::App,
                    problem: None,
                    stderr_tail: String::new(),
                    clock: None,
                },
            ));
        }
        for a in &e.adapters {
            out.push(library(
                run,
                Group {
                    name: a.name.clone(),
                    library: a.library.clone(),
                    version: a.version.clone(),
                    settings: a.settings.clone(),
                    clients: (a.first_client, a.clients),
                    mode: ClientMode::Adapter,
                    problem: a.problem.clone(),
                    stderr_tail: a.stderr_tail.clone(),
                    clock: a.clock.clone(),
                },
            ));
        }
        out
    }
}

/// One library's clients, as the record has them.
struct Group {
    name: String,
    library: String,
    version: Option<String>,
    settings: serde_json::Map<String, serde_json::Value>,
    /// (first client number, clients).
    clients: (u32, u32),
    mode: ClientMode,
    problem: Option<String>,
    stderr_tail: String,
    /// A worker's clock against the run's.
    clock: Option<crate::workload::adapter::clock::WorkerClock>,
}

impl Group {
    fn has(&self, mode: ClientMode, client: u32) -> bool {
        let (first, n) = self.clients;
        mode == self.mode && (first..first + n).contains(&client)
    }
}

fn library(run: &Run, g: Group) -> ClientLibrary {
    let r = run.record;
    let ops: Vec<&Op> = (run.history.iter())
        .filter(|o| g.has(o.mode, o.client))
        .collect();
    let cuts = run.cuts();
    let all = cuts.view(ops.iter().copied(), &format!("{} ops", g.name));
    let writes = cuts.view(
        ops.iter().copied().filter(|o| o.is_write()),
        &format!("{} writes", g.name),
    );
    let mut summary = summarize(&ops, g.clients.1, &r.phases);
    let mut unknown = BTreeMap::new();
    if let Some(p) = &g.problem {
        // Nothing this group recorded can be trusted: every figure unknown.
        let keys = ["downtime", "writes", "lost", "stale"].map(String::from);
        let phases = r.phases.iter().map(|p| format!("latency {}", p.name));
        for k in keys.into_iter().chain(phases) {
            unknown.insert(k, p.clone());
        }
    } else {
        if let Some(u) = all.unknown.clone() {
            unknown.insert("downtime".into(), u);
        }
        if let Some(u) = writes.unknown.clone() {
            unknown.insert("writes".into(), u);
        }
        // The self-check, as for the built-in clients: a phase whose
        // tool lag p99 is over the bound measured the client's backlog.
        let check = lag_check(&summary, r.max_tool_lag_ms);
        for (phase, c) in check.phases.iter().filter(|(_, c)| !c.ok) {
            unknown.insert(
                format!("latency {phase}"),
                format!(
                    "ops were sent late (tool lag p99 {:.2} ms; bound {} ms): the latency measured the client's own backlog as much as Redis",
                    c.tool_lag_p99_ms, r.max_tool_lag_ms
                ),
            );
        }
    }
    if g.problem.is_some() {
        summary.unknown.insert(
            "ops".into(),
            "its adapter failed: these counts are of what it reported".into(),
        );
    }
    let lost = run.lost();
    let (first, n) = g.clients;
    let lost_acks = (lost.lost_acks_by_client.iter())
        .filter(|(c, _)| (first..first + n).contains(*c))
        .map(|(_, k)| k)
        .sum();
    let stale = run
        .stale()
        .map(|st| stale_side(run.history, &st.stale, |o| g.has(o.mode, o.client)))
        .filter(|s| s.reads > 0);
    let downtime_ms = all.max_ms;
    let write_downtime_ms = writes.max_ms;
    let longest_wait_ms = (all.shards.per_shard.values())
        .chain(all.groups.per_shard.values())
        .map(|d| d.longest_gap_ms)
        .fold(0.0, f64::max);
    if g.problem.is_none()
        && let Some(c) = &g.clock
    {
        clock_doubts(
            c,
            &summary,
            [downtime_ms, longest_wait_ms],
            write_downtime_ms,
            &mut unknown,
        );
    }
    ClientLibrary {
        name: g.name,
        library: g.library,
        version: g.version,
        settings: g.settings,
        clients: n,
        downtime_ms,
        write_downtime_ms,
        longest_wait_ms,
        downtime_by_shard_ms: (all.shards.per_shard.iter())
            .map(|(s, d)| (s.clone(), d.ms))
            .collect(),
        downtime_by_group_ms: (all.groups.per_shard.iter())
            .map(|(s, d)| (s.clone(), d.ms))
            .collect(),
        lost_acknowledged_writes: lost_acks,
        stale,
        error_classes: error_classes(&ops),
        ok_per_bucket: ok_per_bucket(&ops, r.end_ns),
        summary,
        unknown,
        problem: g.problem,
        stderr_tail: g.stderr_tail,
        worker: g.clock,
    }
}

/// A worker's times are on the run's clock only within its clock's
/// uncertainty: a figure smaller than that uncertainty claims more than was
/// measured, and is unknown (its phase's latency, a downtime); a figure of
/// 0 (no failed op) needs no clock.
fn clock_doubts(
    c: &crate::workload::adapter::clock::WorkerClock,
    summary: &crate::report::ClientSummary,
    downtimes: [f64; 2],
    write_downtime_ms: f64,
    unknown: &mut BTreeMap<String, String>,
) {
    let Some(u_ns) = c.uncertainty_ns else {
        return;
    };
    let u = u_ns as f64 / 1e6;
    let why = |what: &str, v: f64| {
        format!(
            "{what} {v:.3} ms is within the uncertainty of the worker's clock on {} (±{u:.3} ms)",
            c.host
        )
    };
    if let Some(&d) = downtimes.iter().find(|&&d| d > 0.0 && d < u) {
        unknown
            .entry("downtime".into())
            .or_insert_with(|| why("the downtime", d));
    }
    if write_downtime_ms > 0.0 && write_downtime_ms < u {
        (unknown.entry("writes".into()))
            .or_insert_with(|| why("the write downtime", write_downtime_ms));
    }
    for (phase, l) in &summary.latency_ms {
        if l.count > 0 && l.p99 < u {
            (unknown.entry(format!("latency {phase}")))
                .or_insert_with(|| why("the p99 latency", l.p99));
        }
    }
}

/// Failed and indeterminate ops by the error as the library raised it:
/// an adapter's `class` (the message's head before `: `), else the tool's
/// kind.
fn error_classes(ops: &[&Op]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for o in ops {
        let class = match &o.outcome {
            Outcome::Ok => continue,
            Outcome::Fail { message, .. } | Outcome::Indeterminate { message }
                if o.mode == ClientMode::Adapter =>
            {
                let head = message.split(": ").next().unwrap_or_default();
                if head.is_empty() || head.contains(' ') {
                    o.outcome.label().to_string()
                } else {
                    head.to_string()
                }
            }
            other => other.label().to_string(),
        };
        *out.entry(class).or_default() += 1;
    }
    out
}

/// Ok ops by the [`BUCKET_MS`] bucket of their end, from the run's start
/// to `end_ns` or the last op's end (an adapter's op fed just before the
/// stop ends after it): every ok op is in a bucket.
fn ok_per_bucket(ops: &[&Op], end_ns: u64) -> Vec<u32> {
    let bucket = BUCKET_MS * 1_000_000;
    let last = ops.iter().map(|o| o.end_ns).fold(end_ns, u64::max);
    let n = (last / bucket + 1) as usize;
    let mut out = vec![0u32; n];
    for o in ops.iter().filter(|o| o.is_ok()) {
        if let Some(b) = out.get_mut((o.end_ns / bucket) as usize) {
            *b += 1;
        }
    }
    out
}
