//! The capacity planner's report rendered for people: Markdown (for a
//! ticket or a terminal) and a self-contained HTML page (tables and charts
//! drawn by plotters' SVG backend, no JavaScript). Both render the same
//! sections (the run report's section model, [`crate::report::section`])
//! from one [`PlannerReport`], so they never disagree; JSON is the report
//! itself (`serde`).
//!
//! A figure that was not measured is "—" (every report's empty-cell mark); keys per slot outside a cluster
//! is "n/a"; a node without `maxmemory` has "no limit", never an infinite
//! headroom or a made-up fill time.

use maud::{PreEscaped, html};
use plotters::style::RGBColor;

use super::arithmetic::{Fill, Headroom, SlotSkew};
use super::collect::PlannerReport;
use crate::report::html::{self, Bars, STYLE, bar_chart};
use crate::report::markdown;
use crate::report::section::{EMPTY, Section, Table};
use crate::status::human_bytes;
use crate::topology::{Kind, Role};

/// One table of the report and the lines under it, with the anchor the
/// HTML page gives it; both renderings show it as a [`Section`].
struct PlanTable {
    id: &'static str,
    title: &'static str,
    header: Vec<&'static str>,
    /// Each column's alignment (`l` text, `r` a number).
    align: &'static str,
    rows: Vec<Vec<String>>,
    /// Lines below the table (or instead of it, without rows).
    notes: Vec<String>,
}

impl PlanTable {
    /// The table as a section of the report.
    fn section(self) -> Section {
        let mut s = Section::titled(self.title);
        s.table(Table::aligned(&self.header, self.align).with_rows(self.rows));
        for n in self.notes {
            s.text(n);
        }
        s
    }
}

/// The report as Markdown.
pub fn render_markdown(r: &PlannerReport) -> String {
    let mut s = format!("## Capacity report: {}\n\n{}\n\n", r.name, intro(r));
    for t in tables(r) {
        markdown::section_md(&mut s, &t.section());
    }
    s
}

/// The report as one self-contained HTML page, written through maud (every
/// value escaped by construction).
pub fn render_html(r: &PlannerReport) -> String {
    let title = format!("Capacity report: {}", r.name);
    let body = html! {
        h1 { (title) }
        p { (intro(r)) }
        @for (id, title, svg) in charts(r) {
            section class="chart" id=(id) {
                h2 { (title) }
                @match svg {
                    Ok(svg) => (PreEscaped(svg)),
                    Err(why) => p class="none" { (why) },
                }
            }
        }
        @for t in tables(r) {
            section id=(t.id) { (html::section(&t.section())) }
        }
    };
    html::page(&title, &[STYLE, WIDE], body)
}

/// The node table has 17 columns: the page is wider than a run's report,
/// its tables in a smaller font, and a table wider still scrolls on its own.
const WIDE: &str = "body{max-width:1400px}table{font-size:.85em;display:block;overflow-x:auto}";

fn intro(r: &PlannerReport) -> String {
    format!(
        "{} topology on the {} runtime, run id {}; taken at {}, rates sampled over {} ms{}.",
        kind(r.kind),
        r.runtime,
        r.run_id,
        r.taken_at,
        r.interval_ms,
        r.cluster.as_ref().map_or(String::new(), |c| format!(
            "; cluster state {}, {}/16384 slots assigned",
            c.state, c.slots_assigned
        ))
    )
}

fn kind(k: Kind) -> String {
    format!("{k:?}").to_lowercase()
}

fn dash<T>(v: Option<T>, f: impl FnOnce(T) -> String) -> String {
    v.map_or_else(|| EMPTY.to_string(), f)
}

fn bytes(b: u64) -> String {
    human_bytes(b)
}

fn signed_bytes(b: i64) -> String {
    if b < 0 {
        format!("-{}", human_bytes(b.unsigned_abs()))
    } else {
        human_bytes(b as u64)
    }
}

fn rate(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Seconds as a person reads them: `3h 12m`, `45s`, `0.40s`.
pub(crate) fn duration(s: f64) -> String {
    if !s.is_finite() {
        return EMPTY.into();
    }
    if s < 10.0 {
        return format!("{s:.2}s");
    }
    let whole = std::time::Duration::from_secs(s.round() as u64);
    // Keep the two largest units: "3days 4h", not down to the second.
    let text = humantime::format_duration(whole).to_string();
    text.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

fn headroom_cell(h: Option<&Headroom>) -> String {
    match h {
        None => EMPTY.into(),
        Some(h) => match (h.headroom_bytes, h.headroom_pct) {
            (Some(b), Some(p)) => format!("{} ({p:.1} %)", signed_bytes(b)),
            _ => "unknown (no limit)".into(),
        },
    }
}

fn maxmemory_cell(h: Option<&Headroom>) -> String {
    match h {
        None => EMPTY.into(),
        Some(h) if h.limited() => bytes(h.maxmemory_bytes),
        Some(_) => "no limit".into(),
    }
}

fn fill_cell(f: &Fill) -> String {
    match f {
        Fill::NoLimit => "no limit".into(),
        Fill::Full => "full now".into(),
        Fill::NotFilling => "not filling".into(),
        Fill::Filling { seconds, .. } => format!("in {}", duration(*seconds)),
        Fill::Unknown => "unknown".into(),
    }
}

fn role(r: Option<Role>) -> String {
    match r {
        Some(Role::Primary) => "primary".into(),
        Some(Role::Replica) => "replica".into(),
        None => "DOWN".into(),
    }
}

fn ratio(v: Option<f64>) -> String {
    dash(v, |v| format!("{v:.2}"))
}

fn skew_cells(k: Option<&SlotSkew>, cluster: bool) -> Vec<String> {
    match (k, cluster) {
        (Some(k), _) => vec![
            k.slots.to_string(),
            k.keys.to_string(),
            format!("{:.2}", k.mean),
            k.max.to_string(),
            ratio(k.max_over_mean),
            ratio(k.cv),
            k.empty_slots.to_string(),
            if k.biggest.is_empty() {
                EMPTY.into()
            } else {
                k.biggest
                    .iter()
                    .map(|b| format!("{}: {}", b.slot, b.keys))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ],
        (None, true) => vec![EMPTY.into(); 8],
        (None, false) => vec!["n/a".into(); 8],
    }
}

/// The report's tables, in the order both renderings show them.
fn tables(r: &PlannerReport) -> Vec<PlanTable> {
    vec![
        nodes_table(r),
        keys_per_slot_table(r),
        shards_table(r),
        regions_table(r),
        even_out_table(r),
    ]
}

/// Every node: role, place, memory against `maxmemory`, growth and when it fills, ops/s, lag.
fn nodes_table(r: &PlannerReport) -> PlanTable {
    let cluster = r.kind == Kind::Cluster;
    let mut notes = vec![
        "ops/s: the change of `total_commands_processed` between two INFO reads over the \
         time measured between them (our own first INFO not counted); Redis's \
         `instantaneous_ops_per_sec` (its 1.6 s estimate) beside as a cross-check. \
         Fills: when the used-memory growth measured between the two reads uses up the \
         headroom. Evicted and expired: since the node started."
            .to_string(),
    ];
    for n in &r.nodes {
        if let Some(e) = &n.error {
            notes.push(format!("{}: {e}", n.name));
        }
    }
    PlanTable {
        id: "nodes",
        align: "llllrrrrrrlrrrl",
        title: "Nodes",
        header: vec![
            "node",
            "role",
            "region",
            "shard",
            "slots",
            "keys",
            "used memory",
            "maxmemory",
            "headroom",
            "growth/s",
            "fills",
            "evicted / expired",
            "ops/s (Redis's own)",
            "clients",
            "repl lag",
        ],
        rows: r
            .nodes
            .iter()
            .map(|n| {
                let lag = match n.role {
                    Some(Role::Replica) => dash(n.lag_bytes, |b| format!("{b} B")),
                    _ if n.replicas.is_empty() => EMPTY.into(),
                    _ => n
                        .replicas
                        .iter()
                        .map(|l| format!("{}: {} B", l.name, l.lag_bytes))
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                vec![
                    n.name.clone(),
                    role(n.role),
                    n.region.clone(),
                    n.shard.clone(),
                    if cluster {
                        n.slots.to_string()
                    } else {
                        "n/a".into()
                    },
                    dash(n.keys, |k| k.to_string()),
                    dash(n.used_memory_bytes, bytes),
                    maxmemory_cell(n.headroom.as_ref()),
                    headroom_cell(n.headroom.as_ref()),
                    dash(n.memory_growth_bytes_per_s, |g| {
                        format!("{}/s", signed_bytes(g.round() as i64))
                    }),
                    fill_cell(&n.fill),
                    format!(
                        "{} / {}",
                        dash(n.evicted_keys, |k| k.to_string()),
                        dash(n.expired_keys, |k| k.to_string())
                    ),
                    format!(
                        "{} ({})",
                        dash(n.ops_per_s, rate),
                        dash(n.instantaneous_ops_per_sec, |v| v.to_string())
                    ),
                    dash(n.connected_clients, |v| v.to_string()),
                    lag,
                ]
            })
            .collect(),
        notes,
    }
}

/// Each primary's keys over its slots: how evenly they spread, and the biggest slots.
fn keys_per_slot_table(r: &PlannerReport) -> PlanTable {
    let cluster = r.kind == Kind::Cluster;
    let primaries: Vec<_> = r
        .nodes
        .iter()
        .filter(|n| n.role == Some(Role::Primary))
        .collect();
    PlanTable {
        id: "keys-per-slot",
        align: "lrrrrrrrl",
        title: "Keys per slot",
        header: vec![
            "primary",
            "slots",
            "keys",
            "mean",
            "max",
            "max/mean",
            "CV",
            "empty slots",
            "biggest slots (slot: keys)",
        ],
        rows: if cluster {
            primaries
                .iter()
                .map(|n| {
                    let mut row = vec![n.name.clone()];
                    row.extend(skew_cells(n.keys_per_slot.as_ref(), cluster));
                    row
                })
                .collect()
        } else {
            Vec::new()
        },
        notes: vec![if cluster {
            "From CLUSTER COUNTKEYSINSLOT over every slot a primary owns. CV: standard \
             deviation over the mean (0 even, above 1 a few slots hold most keys)."
                .into()
        } else {
            format!("n/a: a {} topology has no slots.", kind(r.kind))
        }],
    }
}

/// Each shard (a primary with its replicas): slots, keys, skew, memory.
fn shards_table(r: &PlannerReport) -> PlanTable {
    let cluster = r.kind == Kind::Cluster;
    PlanTable {
        id: "shards",
        align: "lllrrrrrlrr",
        title: "Shards (a primary and its replicas)",
        header: vec![
            "primary",
            "replicas",
            "region",
            "slots",
            "keys",
            "keys/slot max/mean",
            "used memory",
            "headroom",
            "fills",
            "ops/s (all nodes)",
            "max repl lag",
        ],
        rows: r
            .shards
            .iter()
            .map(|s| {
                vec![
                    s.primary.clone(),
                    if s.replicas.is_empty() {
                        EMPTY.into()
                    } else {
                        s.replicas.join(", ")
                    },
                    s.region.clone(),
                    if cluster {
                        s.slots.to_string()
                    } else {
                        "n/a".into()
                    },
                    dash(s.keys, |k| k.to_string()),
                    if cluster {
                        ratio(s.keys_per_slot.as_ref().and_then(|k| k.max_over_mean))
                    } else {
                        "n/a".into()
                    },
                    dash(s.used_memory_bytes, bytes),
                    headroom_cell(s.headroom.as_ref()),
                    fill_cell(&s.fill),
                    dash(s.ops_per_s, rate),
                    dash(s.max_lag_bytes, |b| format!("{b} B")),
                ]
            })
            .collect(),
        notes: Vec::new(),
    }
}

/// Each region: its nodes, slots, keys, memory and headroom, ops/s, clients.
fn regions_table(r: &PlannerReport) -> PlanTable {
    let cluster = r.kind == Kind::Cluster;
    PlanTable {
        id: "regions",
        align: "lrrrrrrrrrrr",
        title: "Regions",
        header: vec![
            "region",
            "nodes",
            "primaries",
            "slots",
            "keys (primaries)",
            "used memory",
            "maxmemory",
            "headroom",
            "ops/s",
            "clients",
            "evicted",
            "expired",
        ],
        rows: r
            .regions
            .iter()
            .map(|g| {
                vec![
                    g.region.clone(),
                    g.nodes.to_string(),
                    g.primaries.to_string(),
                    if cluster {
                        g.slots.to_string()
                    } else {
                        "n/a".into()
                    },
                    g.keys.to_string(),
                    bytes(g.used_memory_bytes),
                    g.maxmemory_bytes
                        .map_or_else(|| "no limit on a node".into(), bytes),
                    g.headroom_bytes
                        .map_or_else(|| "unknown".into(), signed_bytes),
                    rate(g.ops_per_s),
                    g.connected_clients.to_string(),
                    g.evicted_keys.to_string(),
                    g.expired_keys.to_string(),
                ]
            })
            .collect(),
        notes: Vec::new(),
    }
}

/// The slot moves that would even out memory, timed at the newest reshard drill's rate.
fn even_out_table(r: &PlannerReport) -> PlanTable {
    let mut notes = Vec::new();
    let rows = match &r.even_out {
        None => {
            notes.push(format!(
                "n/a: a {} topology has no slots to move.",
                kind(r.kind)
            ));
            Vec::new()
        }
        Some(p) => {
            notes.push(format!(
                "Dataset spread (largest minus smallest `used_memory_dataset` of the primaries): \
                 {} now, {} after the plan; {} keys move{}.",
                bytes(p.spread_bytes_now),
                bytes(p.spread_bytes_after),
                p.keys_moved,
                p.est_duration_s
                    .filter(|_| p.keys_moved > 0)
                    .map_or(String::new(), |s| format!(", in about {}", duration(s)))
            ));
            notes.push(
                p.primaries
                    .iter()
                    .map(|q| {
                        format!(
                            "{}: {} → {}",
                            q.name,
                            bytes(q.dataset_bytes_now),
                            bytes(q.dataset_bytes_after)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            if !p.note.is_empty() {
                notes.push(p.note.clone());
            }
            p.moves
                .iter()
                .map(|m| {
                    let mut ranges = m.slot_ranges.iter().take(4).cloned().collect::<Vec<_>>();
                    if m.slot_ranges.len() > 4 {
                        ranges.push(format!("… {} ranges", m.slot_ranges.len()));
                    }
                    vec![
                        m.from.clone(),
                        m.to.clone(),
                        m.slots.to_string(),
                        ranges.join(", "),
                        m.keys.to_string(),
                        bytes(m.est_bytes),
                        dash(m.est_duration_s, duration),
                    ]
                })
                .collect()
        }
    };
    if r.even_out.is_some() {
        notes.push(match r.reshard_rate.keys_per_s {
            Some(k) => format!(
                "Durations at {} keys/s, the newest reshard drill on record ({}, {}).",
                rate(k),
                r.reshard_rate.started_at.as_deref().unwrap_or(EMPTY),
                r.reshard_rate.source.as_deref().unwrap_or(EMPTY)
            ),
            None => format!("Duration unknown: {}.", r.reshard_rate.note),
        });
    }
    PlanTable {
        id: "even-out",
        align: "llrlrrr",
        title: "Reshard plan to even out memory",
        header: vec![
            "from",
            "to",
            "slots",
            "slot ranges",
            "keys",
            "est. bytes",
            "est. duration",
        ],
        rows,
        notes,
    }
}

type Drawn = (&'static str, &'static str, Result<String, String>);

fn charts(r: &PlannerReport) -> Vec<Drawn> {
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    let memory = bar_chart(Bars {
        groups: r
            .nodes
            .iter()
            .map(|n| {
                let h = n.headroom.as_ref();
                (
                    n.name.clone(),
                    vec![
                        n.used_memory_bytes.map(mib),
                        h.filter(|h| h.limited()).map(|h| mib(h.maxmemory_bytes)),
                    ],
                )
            })
            .collect(),
        series: vec![
            ("used memory", RGBColor(20, 80, 200)),
            ("maxmemory (none: no limit)", RGBColor(200, 120, 20)),
        ],
        unit: "MiB",
    });
    let slots = if r.kind != Kind::Cluster {
        Err(format!("n/a: a {} topology has no slots.", kind(r.kind)))
    } else {
        let groups: Vec<(String, Vec<Option<f64>>)> = r
            .nodes
            .iter()
            .filter_map(|n| {
                let k = n.keys_per_slot.as_ref()?;
                Some((n.name.clone(), vec![Some(k.mean), Some(k.max as f64)]))
            })
            .collect();
        if groups.is_empty() {
            Err("No primary's slots could be counted.".into())
        } else {
            bar_chart(Bars {
                groups,
                series: vec![
                    ("mean keys per slot", RGBColor(150, 150, 150)),
                    ("biggest slot", RGBColor(200, 40, 40)),
                ],
                unit: "keys",
            })
        }
    };
    let ops = bar_chart(Bars {
        groups: r
            .nodes
            .iter()
            .map(|n| {
                (
                    n.name.clone(),
                    vec![n.ops_per_s, n.instantaneous_ops_per_sec.map(|v| v as f64)],
                )
            })
            .collect(),
        series: vec![
            ("sampled ops/s", RGBColor(20, 140, 60)),
            ("Redis instantaneous_ops_per_sec", RGBColor(150, 150, 150)),
        ],
        unit: "ops/s",
    });
    vec![
        (
            "memory-chart",
            "Used memory against maxmemory per node",
            memory,
        ),
        (
            "slots-chart",
            "Keys per slot per primary: mean and biggest slot",
            slots,
        ),
        ("ops-chart", "Operations per second per node", ops),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::arithmetic::{self, SlotKeys, even_out, fill_time, headroom, slot_skew};
    use crate::planner::collect::{
        NodePlan, OffsetLag, PLANNER_FORMAT_VERSION, ReshardRate, regions, shards,
    };

    fn node(name: &str, role: Role, shard: &str) -> NodePlan {
        NodePlan {
            name: name.into(),
            role: Some(role),
            region: "eu".into(),
            address: "127.0.0.1:7000".parse().unwrap(),
            shard: shard.into(),
            slots: 0,
            keys: Some(0),
            keys_per_slot: None,
            used_memory_bytes: Some(2 << 20),
            used_memory_dataset_bytes: Some(0),
            maxmemory_policy: Some("noeviction".into()),
            headroom: Some(headroom(2 << 20, 0)),
            memory_growth_bytes_per_s: Some(0.0),
            fill: Fill::NoLimit,
            evicted_keys: Some(0),
            expired_keys: Some(0),
            ops_per_s: Some(0.0),
            instantaneous_ops_per_sec: Some(0),
            sampled_ms: Some(2000.0),
            connected_clients: Some(1),
            replication_offset: Some(0),
            replicas: Vec::new(),
            lag_bytes: None,
            error: None,
        }
    }

    /// A cluster of two primaries, one with a hot slot and a limit, one
    /// replica, and a node that could not be read.
    fn sample(kind: Kind) -> PlannerReport {
        let counts = vec![
            SlotKeys {
                slot: 0,
                keys: 1000,
            },
            SlotKeys { slot: 1, keys: 10 },
            SlotKeys { slot: 2, keys: 0 },
        ];
        let mut a = node("s1<n1>", Role::Primary, "s1<n1>");
        a.slots = 3;
        a.keys = Some(1010);
        a.keys_per_slot = slot_skew(&counts);
        a.used_memory_bytes = Some(3 << 20);
        a.used_memory_dataset_bytes = Some(101_000);
        a.headroom = Some(headroom(3 << 20, 64 << 20));
        a.memory_growth_bytes_per_s = Some(1024.0);
        a.fill = fill_time(a.headroom.as_ref().unwrap(), Some(1024.0));
        a.ops_per_s = Some(2003.4);
        a.instantaneous_ops_per_sec = Some(1990);
        a.replicas = vec![OffsetLag {
            name: "s1n2".into(),
            lag_bytes: 14,
        }];
        let mut r = node("s1n2", Role::Replica, "s1<n1>");
        r.lag_bytes = Some(14);
        let mut b = node("s2n1", Role::Primary, "s2n1");
        b.slots = 2;
        b.keys_per_slot =
            slot_skew(&[SlotKeys { slot: 3, keys: 0 }, SlotKeys { slot: 4, keys: 0 }]);
        let mut down = node("s3n1", Role::Primary, "s3n1");
        down.role = None;
        down.error = Some("connect to s3n1 at 127.0.0.1:7004: refused".into());
        down.fill = Fill::Unknown;
        down.headroom = None;
        let nodes = vec![a, r, b, down];
        let even = even_out(
            &[
                arithmetic::PrimaryLoad {
                    name: "s1<n1>".into(),
                    dataset_bytes: 101_000,
                    keys: 1010,
                    slots: counts,
                },
                arithmetic::PrimaryLoad {
                    name: "s2n1".into(),
                    dataset_bytes: 0,
                    keys: 0,
                    slots: vec![SlotKeys { slot: 3, keys: 0 }],
                },
            ],
            None,
        );
        PlannerReport {
            format_version: PLANNER_FORMAT_VERSION,
            name: "c".into(),
            run_id: "r1".into(),
            runtime: crate::runtime::RuntimeKind::Process,
            kind,
            taken_at: "2026-11-24T11:00:00Z".into(),
            interval_ms: 2000,
            shards: shards(&nodes, kind == Kind::Cluster),
            regions: regions(&nodes),
            nodes,
            cluster: None,
            even_out: (kind == Kind::Cluster).then_some(even),
            reshard_rate: ReshardRate::none(),
        }
    }

    #[test]
    fn markdown_states_every_figure_and_says_what_is_not_measured() {
        let md = render_markdown(&sample(Kind::Cluster));
        for want in [
            "## Capacity report: c",
            "| s1<n1> | primary | eu | s1<n1> | 3 | 1010 | 3.0 MiB | 64.0 MiB | 61.0 MiB (95.3 %) | 1.0 KiB/s | in 17h 21m |",
            "| 0 / 0 | 2003 (1990) | 1 | s1n2: 14 B |",
            "| s1n2 | replica |",
            "| 14 B |",
            "no limit | unknown (no limit) | 0 B/s | no limit |",
            "| s1<n1> | 3 | 1010 | 336.67 | 1000 | 2.97 | 1.39 | 1 | 0: 1000, 1: 10 |",
            "| s2n1 | 2 | 0 | 0.00 | 0 | — | — | 2 | — |",
            "| s3n1 | DOWN |",
            "s3n1: connect to s3n1 at 127.0.0.1:7004: refused",
            "no reshard drill on record: run `just cluster-reshard` first",
            "slot 0 on s1<n1> holds 1000 keys",
            "| s1<n1> | s2n1 | 1 | 1 | 10 | 1000 B | — |",
        ] {
            assert!(md.contains(want), "missing {want:?} in\n{md}");
        }
        let standalone = render_markdown(&sample(Kind::Standalone));
        assert!(standalone.contains("n/a: a standalone topology has no slots."));
        assert!(standalone.contains("n/a: a standalone topology has no slots to move."));
        assert!(!standalone.contains("| 0: 1000"), "{standalone}");
    }

    #[test]
    fn html_is_self_contained_escaped_and_draws_its_charts() {
        let html = render_html(&sample(Kind::Cluster));
        assert!(html.starts_with("<!DOCTYPE html>"));
        // Nothing fetched, nothing run (the SVG namespace is an identifier).
        for banned in ["http://", "https://", "<script", "<link", "<img", "<iframe"] {
            let real = html
                .match_indices(banned)
                .filter(|(i, _)| !html[*i..].starts_with("http://www.w3.org/2000/svg"))
                .count();
            assert_eq!(real, 0, "{banned} in the page");
        }
        assert!(html.contains("s1&lt;n1&gt;") && !html.contains("s1<n1>"));
        assert_eq!(html.matches("<svg").count(), 3, "three charts");
        for id in ["nodes", "keys-per-slot", "shards", "regions", "even-out"] {
            assert!(html.contains(&format!("<section id=\"{id}\">")), "{id}");
        }
        let standalone = render_html(&sample(Kind::Standalone));
        assert_eq!(standalone.matches("<svg").count(), 2);
        assert!(standalone.contains("n/a: a standalone topology has no slots."));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(0.4), "0.40s");
        assert_eq!(duration(61_444.0), "17h 4m");
        assert_eq!(duration(45.0), "45s");
        assert_eq!(duration(f64::INFINITY), EMPTY);
    }
}
