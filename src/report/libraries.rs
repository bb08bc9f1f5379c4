//! The client-libraries section: when a drill ran clients of more than
//! one library, one table with a column per library (its name and version
//! in the column's head) and a row per figure, then each library's
//! settings, its errors as it raised them, and what went wrong with an
//! adapter, in its own words.

use super::model::{ClientLibrary, Report};
use super::section::{EMPTY, Row, Section, Table};
use super::text::ms;
use std::collections::BTreeMap;

/// A figure, or `unknown` when its key is in the library's unknowns
/// because its adapter failed; a figure measured but in doubt (the
/// self-check) keeps its value, marked.
fn or_unknown(l: &ClientLibrary, key: &str, v: String) -> String {
    if !l.unknown.contains_key(key) {
        v
    } else if l.problem.is_some() || v == EMPTY {
        "unknown".into()
    } else {
        format!("{v} {DOUBT}")
    }
}

/// The sign of a figure measured but not to be trusted.
const DOUBT: &str = "(unknown)";

/// The column head: the group's name, its library's version.
fn head(l: &ClientLibrary) -> String {
    let v = l.version.as_deref().unwrap_or("version unknown");
    if l.name == l.library || l.name.starts_with(&format!("{}@", l.library)) {
        format!("{} {v}", l.name)
    } else {
        format!("{} ({} {v})", l.name, l.library)
    }
}

/// A worker's clock offset at the start, with its uncertainty:
/// `+2903.628804 s ±0.44 ms`.
fn clock_cell(w: &crate::workload::adapter::clock::WorkerClock) -> String {
    let start = w.sync.start.offset_ns as f64 / 1e9;
    let u = match w.uncertainty_ns {
        Some(u) => format!("±{:.2} ms", u as f64 / 1e6),
        None => "± unknown".into(),
    };
    format!("{start:+.6} s {u}")
}

/// Each phase's p99 latency (ok ops) of a library, or `unknown`.
fn p99(l: &ClientLibrary, phase: &str) -> String {
    match l.summary.latency_ms.get(phase) {
        Some(x) if x.count > 0 => or_unknown(l, &format!("latency {phase}"), ms(x.p99)),
        _ => EMPTY.into(),
    }
}

/// The section; empty when the drill ran one library.
pub(super) fn section(r: &Report) -> Section {
    let libs = &r.client_libraries;
    if libs.is_empty() {
        return Section::default();
    }
    let mut s = Section::titled("Client libraries");
    let client = if r.sentinel.is_some() {
        "Sentinel client (the primary the Sentinels name, asked again after a failover)"
    } else {
        "cluster client"
    };
    s.text(format!("The same schedule of ops, through each library's own {client}, side by side: every figure is that library's clients' alone."));
    if libs.iter().any(|l| !l.downtime_by_group_ms.is_empty()) {
        s.text("\"slots a→b→c\": the part of shard a's slots that the drill moved or failed over, by its owners in turn, judged apart from the rest of the shard.");
    }
    let mut heads: Vec<String> = vec!["".into()];
    heads.extend(libs.iter().map(head));
    let head_refs: Vec<&str> = heads.iter().map(String::as_str).collect();
    let mut t = Table::new(&head_refs);
    let mut row = |label: &str, f: &dyn Fn(&ClientLibrary) -> String| {
        let mut cells = vec![label.to_string()];
        cells.extend(libs.iter().map(f));
        let unknown = (cells.iter().skip(1)).position(|c| c == "unknown" || c.ends_with(DOUBT));
        t.rows.push(match unknown {
            Some(i) => Row::marked_at(cells, Some(super::section::Mark::Unknown), i + 1),
            None => Row::new(cells),
        });
    };
    row("clients", &|l| l.clients.to_string());
    if libs.iter().any(|l| l.worker.is_some()) {
        row("runs on", &|l| match &l.worker {
            Some(w) => format!("worker on {}", w.host),
            None => "the controller's host".into(),
        });
        row("clock offset (± uncertainty)", &|l| match &l.worker {
            Some(w) => clock_cell(w),
            None => EMPTY.into(),
        });
        row("its change over the run", &|l| match l
            .worker
            .as_ref()
            .and_then(|w| w.sync.end.map(|e| (w, e)))
        {
            Some((w, e)) => format!(
                "{:+.3} ms",
                (e.offset_ns - w.sync.start.offset_ns) as f64 / 1e6
            ),
            None => EMPTY.into(),
        });
        if libs
            .iter()
            .any(|l| l.worker.as_ref().is_some_and(|w| w.error_ns.is_some()))
        {
            row("its error, against the shared clock", &|l| match l
                .worker
                .as_ref()
                .and_then(|w| w.error_ns)
            {
                Some(e) => format!("{:.3} ms", e as f64 / 1e6),
                None => EMPTY.into(),
            });
        }
    }
    row("ops ok", &|l| l.summary.ops_ok.to_string());
    row("ops failed", &|l| l.summary.ops_failed.to_string());
    row("ops indeterminate", &|l| {
        l.summary.ops_indeterminate.to_string()
    });
    row("downtime (longest, any shard or moved slots)", &|l| {
        or_unknown(l, "downtime", ms(l.downtime_ms))
    });
    row("longest wait between successes", &|l| {
        or_unknown(l, "downtime", ms(l.longest_wait_ms))
    });
    row("write downtime", &|l| {
        or_unknown(l, "writes", ms(l.write_downtime_ms))
    });
    // A row per shard, then per part of a shard the drill split.
    type Windows = fn(&ClientLibrary) -> &BTreeMap<String, f64>;
    let windows: [(&str, Windows); 2] = [
        ("shard", |l| &l.downtime_by_shard_ms),
        ("slots", |l| &l.downtime_by_group_ms),
    ];
    for (what, of) in windows {
        let mut keys: Vec<&String> = libs.iter().flat_map(|l| of(l).keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            row(
                &format!("downtime, {what} {key}"),
                &|l| match of(l).get(key) {
                    Some(v) => or_unknown(l, "downtime", ms(*v)),
                    None => or_unknown(l, "downtime", EMPTY.into()),
                },
            );
        }
    }
    for p in &r.phases {
        row(&format!("p99 latency, {}", p.name), &|l| p99(l, &p.name));
    }
    row("lost acknowledged writes", &|l| {
        or_unknown(l, "lost", l.lost_acknowledged_writes.to_string())
    });
    if libs.iter().any(|l| l.stale.is_some()) {
        row("stale reads", &|l| match &l.stale {
            Some(st) => or_unknown(l, "stale", format!("{} of {}", st.stale_reads, st.reads)),
            None => EMPTY.into(),
        });
    }
    s.table(t);
    let mut notes = Vec::new();
    for l in libs {
        if !l.settings.is_empty() {
            let set: Vec<String> = (l.settings.iter())
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            notes.push(format!("{} settings: {}", l.name, set.join(", ")));
        }
        if !l.error_classes.is_empty() {
            let errs: Vec<String> = (l.error_classes.iter())
                .map(|(k, n)| format!("{k} ×{n}"))
                .collect();
            notes.push(format!("{} errors: {}", l.name, errs.join(", ")));
        }
        for (k, why) in &l.unknown {
            if l.problem.is_none() {
                notes.push(format!("{} {k} unknown: {why}", l.name));
            }
        }
        if let Some(p) = &l.problem {
            let tail = if l.stderr_tail.is_empty() {
                String::new()
            } else {
                format!(
                    " (its stderr ended: {})",
                    l.stderr_tail.lines().last().unwrap_or_default()
                )
            };
            notes.push(format!(
                "{}: every figure unknown — {p}{tail}; its ops without a result are counted indeterminate, never lost",
                l.name
            ));
        }
    }
    s.list(notes);
    s
}
