//! A run's report as sections, in reading order: what every rendering
//! (the Markdown summary, the HTML page) loops over. Each section is built
//! where its subject lives (`summary`, `timing`, `regions`, `faults`,
//! `stampede`, `locks`); this file orders them and builds the SLO table.

use super::model::{Report, Verdict};
use super::section::{EMPTY, Row, Section, Table};
use super::text::number;

/// Every section but the SLOs, in reading order: the summary table and
/// what follows it, the timing, the regions, the stampede, the faults,
/// the locks. Empty sections are left out.
pub(super) fn body(r: &Report) -> Vec<Section> {
    let mut out = super::summary::sections(r);
    if super::summary::has_kv(r) {
        out.push(super::timing::section(r));
    }
    out.push(super::libraries::section(r));
    out.push(super::regions::links(r));
    out.push(super::regions::clients(r));
    out.push(super::regions::replication(r));
    if let Some(s) = &r.shards {
        out.push(super::shards::section(s));
    }
    if let Some(st) = &r.checks.stampede {
        out.push(super::stampede::section(st));
    }
    if let Some(i) = &r.checks.invalidation {
        out.push(super::invalidation::section(i));
    }
    out.push(super::faults::section(r));
    if let Some(l) = &r.linearizability {
        out.push(super::linearizability::section(l));
    }
    if let Some(s) = &r.sentinel {
        out.push(super::sentinel::section(s));
    }
    out.push(super::attached::section(r));
    if let Some(l) = &r.locks {
        out.push(super::locks::section(l));
    }
    out.retain(|s| !s.is_empty());
    out
}

/// The SLO table: each SLO's limit, its value and its result, the row
/// coloured by the result; a failed value and an unknown result carry
/// their sign.
pub(super) fn slos(r: &Report) -> Section {
    let mut s = Section::titled("SLOs");
    let mut t = Table::aligned(&["SLO", "limit", "value", "result", "note"], "lrrll");
    for slo in &r.slo {
        let value = match slo.value {
            Some(v) => number(v),
            // A failure without a figure: beyond every limit (ops that got
            // no answer); the note says why.
            None if slo.result == Verdict::Fail => EMPTY.to_string(),
            None => "not measured".to_string(),
        };
        let result = match slo.result {
            Verdict::Fail => "FAIL",
            v => v.as_str(),
        };
        let note = match (slo.result, slo.note.as_deref()) {
            (_, Some(note)) => note,
            (Verdict::Unknown, None) => "not established",
            (_, None) => "",
        };
        let cells = vec![
            slo.name.clone(),
            slo.bound.show(slo.limit),
            value,
            result.to_string(),
            note.to_string(),
        ];
        // A failure points at its value, an unknown at its result.
        let at = if slo.result == Verdict::Fail { 2 } else { 3 };
        t.rows
            .push(Row::marked_at(cells, Some(slo.result.into()), at));
    }
    s.table(t);
    s
}
