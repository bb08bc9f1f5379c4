//! `report.html`: one self-contained page per run, for people. The top is
//! the ten-second summary (verdict, SLO table, headline figures); below it
//! the report's sections ([`super::sections`], as in the Markdown), then the
//! charts ([`charts`]). The page is written through maud, which escapes
//! every value it is given: a scenario, node or note cannot break the page.

mod bars;
mod binned;
mod charts;
mod cluster;
mod draw;
mod linearizable;
mod per_second;
mod scatter;
mod stampede;
#[cfg(test)]
mod tests;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::figures::headline;
use super::model::Report;
use super::section::{Align, Block, Section, Table};
use super::sections;
use super::text::number;
pub(crate) use bars::{Bars, bar_chart};
pub(crate) use draw::runs;

/// The page's style sheet, shared with the pages of the nightly and the
/// capacity planner so that every page of the tool looks alike.
pub(crate) const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1000px}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}\
td.n{text-align:right;white-space:nowrap}td.k{white-space:nowrap}.pass{background:#d7f5d7}.fail{background:#f8d0d0}.unknown{background:#fbeec0}\
.verdict{display:inline-block;padding:.2em .8em;font-weight:bold;border-radius:4px}\
.none{color:#777;font-style:italic}p.expected{padding:.3em .6em}section.chart{margin-top:1.5em}h2{font-size:1.1em}";

/// What the run page adds to [`STYLE`]: a marked cell stands out in bold.
const RUN_STYLE: &str = "td.flag{font-weight:bold}";

/// The whole page.
pub fn render(r: &Report) -> String {
    let title = format!("{} — {}", r.scenario, r.verdict.as_str().to_uppercase());
    let v = r.verdict.as_str();
    let mut shown = vec![sections::slos(r)];
    if !locks_only(r) {
        shown.push(headline_section(r));
    }
    shown.extend(sections::body(r));
    let body = html! {
        h1 { (r.scenario) " " span class={ "verdict " (v) } { (v.to_uppercase()) } }
        p {
            "Started " (r.started_at) " · seed " (r.seed) " · " (r.environment.runtime)
            " runtime · " (capitalized(&r.environment.server_line())) " · "
            (r.environment.host_cores) " cores · clients: " (r.environment.client_path)
        }
        @if let Some(e) = &r.expected {
            p class={ "expected " (e.result.as_str()) } { (e.line()) }
        }
        @for s in &shown { (section(s)) }
        (chart_sections(r))
    };
    page(&title, &[STYLE, RUN_STYLE], body)
}

/// A whole self-contained page (every page of the tool: the run report,
/// the nightly index, the capacity report): `title`, the style sheets
/// inline, `body`; no script, nothing fetched.
pub(crate) fn page(title: &str, styles: &[&str], body: Markup) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { @for s in styles { (PreEscaped(s)) } }
            }
            body { (body) }
        }
    };
    page.into_string() + "\n"
}

/// A lock or stampede drill with no key/value workload beside it: the
/// charts, which draw the key/value workload and the slots, are left out.
/// `redis 7.0.15` → `Redis 7.0.15` (a heading's spelling).
fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn locks_only(r: &Report) -> bool {
    (r.locks.is_some() || r.checks.stampede.is_some())
        && r.workload.app.clients == 0
        && r.workload.probe.clients == 0
}

/// The headline figures ([`headline`]): the numbers `compare` and the
/// nightly watch, each with its unit.
fn headline_section(r: &Report) -> Section {
    let mut s = Section::titled("Headline figures");
    let mut t = Table::aligned(&["figure", "value", "unit"], "lrl");
    for h in headline(r) {
        let value = h.value.map_or("not measured".into(), number);
        t.row(vec![h.label.to_string(), value, h.unit.to_string()]);
    }
    s.table(t);
    s
}

/// Every chart in page order, each in its own `<section>` with an anchor;
/// a chart without data says why.
fn chart_sections(r: &Report) -> Markup {
    let mut all = if locks_only(r) {
        Vec::new()
    } else {
        charts::charts(r)
    };
    if let Some(st) = &r.checks.stampede {
        all.push(charts::stampede(r, st));
    }
    html! {
        @for c in &all {
            section class="chart" id=(c.id) {
                h2 { (c.title) }
                @match &c.svg {
                    Ok(svg) => (PreEscaped(svg)),
                    Err(why) => p class="none" { (why) },
                }
            }
        }
    }
}

/// One section: its title, then its blocks.
pub(crate) fn section(s: &Section) -> Markup {
    html! {
        @if let Some(title) = &s.title { h2 { (title) } }
        @for b in &s.blocks {
            @match b {
                Block::Text(text) => p { (text) },
                Block::Warning(text) => p class="fail" { b { (text) } },
                Block::List(items) => ul { @for i in items { li { (i) } } },
                Block::Table(t) => (table(t)),
            }
        }
    }
}

/// A table: the header row (none for a table of labels), then the rows,
/// each coloured by its mark; numbers right-aligned.
fn table(t: &Table) -> Markup {
    html! {
        table {
            @if !t.head.is_empty() {
                tr { @for h in &t.head { th { (h) } } }
            }
            @for row in &t.rows {
                tr class=[row.mark.map(|m| m.as_str())] {
                    @for (i, c) in row.cells.iter().enumerate() {
                        @let n = t.align.get(i) == Some(&Align::Right);
                        @match row.flagged().filter(|f| f.0 == i) {
                            Some((_, sign)) => td class=(if n { "flag n" } else { "flag" }) {
                                (c) " " span class="sign" { (sign) }
                            },
                            None => td class=[n.then_some("n")] { (c) },
                        }
                    }
                }
            }
        }
    }
}
