//! The Markdown summary printed at the end of a run: the verdict, then the
//! report's sections ([`super::sections`]) in Markdown — the figures a
//! person reads in ten seconds first, the SLO table last, where a terminal
//! leaves it in view.

use super::model::Report;
use super::section::{Align, Block, Mark, Section, Table};
use super::sections;

/// The whole summary: the verdict and the run's environment, then every
/// section in turn.
pub fn render(r: &Report) -> String {
    let mut s = format!(
        "## {} — {}\n\n",
        r.scenario,
        r.verdict.as_str().to_uppercase()
    );
    if let Some(e) = &r.expected {
        s.push_str(&format!("{}\n\n", e.line()));
    }
    s.push_str(&format!(
        "seed {} · {} · {} · {} cores · {}\n\n",
        r.seed,
        r.environment.runtime,
        r.environment.server_line(),
        r.environment.host_cores,
        r.started_at
    ));
    for section in sections::body(r)
        .iter()
        .chain(std::iter::once(&sections::slos(r)))
    {
        section_md(&mut s, section);
    }
    // One newline at the end, as a file of text ends.
    s.truncate(s.trim_end().len());
    s.push('\n');
    s
}

/// One section: its title as a level-3 heading, then its blocks, each
/// followed by a blank line.
pub(crate) fn section_md(s: &mut String, section: &Section) {
    if section.is_empty() {
        return;
    }
    if let Some(title) = &section.title {
        s.push_str(&format!("### {title}\n\n"));
    }
    for block in &section.blocks {
        match block {
            Block::Text(text) => s.push_str(text),
            Block::Warning(text) => s.push_str(&format!("**{text}**")),
            Block::List(items) => {
                let lines: Vec<String> = items.iter().map(|i| format!("- {i}")).collect();
                s.push_str(&lines.join("\n"));
            }
            Block::Table(t) => table_md(s, t),
        }
        s.push_str("\n\n");
    }
}

/// A table: the header row (`| | |` for a table of labels), the alignment
/// row, then the rows; a marked row's cell that the mark is about carries
/// its sign (`✗`, bold; `?`), a failing row without one has its first cell
/// in bold.
fn table_md(s: &mut String, t: &Table) {
    let head: Vec<String> = if t.head.is_empty() {
        vec![String::new(); t.align.len()]
    } else {
        t.head.iter().map(|h| cell(h)).collect()
    };
    let align: Vec<&str> = (t.align.iter())
        .map(|a| match a {
            Align::Left => "---",
            Align::Right => "---:",
        })
        .collect();
    let mut lines = vec![line(&head), format!("|{}|", align.join("|"))];
    for row in &t.rows {
        let mut cells: Vec<String> = row.cells.iter().map(|c| cell(c)).collect();
        match row.flagged() {
            // The cell the mark is about: bold when it failed, with the sign.
            Some((i, sign)) => {
                if let Some(c) = cells.get_mut(i) {
                    *c = match row.mark {
                        Some(Mark::Fail) => format!("**{c}** {sign}"),
                        _ => format!("{c} {sign}"),
                    };
                }
            }
            None => {
                if let (Some(Mark::Fail), Some(first)) = (row.mark, cells.first_mut()) {
                    *first = format!("**{first}**");
                }
            }
        }
        lines.push(line(&cells));
    }
    s.push_str(&lines.join("\n"));
}

/// `| a | b |`, or `| | |` for empty cells.
fn line(cells: &[String]) -> String {
    let cells: Vec<String> = (cells.iter())
        .map(|c| {
            if c.is_empty() {
                " ".into()
            } else {
                format!(" {c} ")
            }
        })
        .collect();
    format!("|{}|", cells.join("|"))
}

/// Text safe inside a table cell (a grudge's `a | b` would split it).
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::text::{group, ms};

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

    /// Every table cell keeps a `|` of its text inside it.
    #[test]
    fn a_bar_in_a_cell_does_not_split_it() {
        let mut s = String::new();
        let mut t = Table::new(&["shape", "n"]);
        t.row(vec!["a | b".into(), "1".into()]);
        table_md(&mut s, &t);
        assert_eq!(s, "| shape | n |\n|---|---:|\n| a \\| b | 1 |");
    }

    #[test]
    fn summary_snapshot() {
        insta::assert_snapshot!(render(&crate::report::tests::sample()));
    }

    /// The cache checkers' rows: counters, transactions, TTLs.
    #[test]
    fn cache_snapshot() {
        let mut r = crate::report::tests::sample();
        r.checks.counters = Some(crate::report::tests::counters());
        r.checks.txn = Some(crate::report::model::TxnChecks {
            reads_checked: 9_800,
            torn_reads: 0,
            groups_checked: 64,
            groups_unread: 0,
            torn_groups: 1,
            ..Default::default()
        });
        r.checks.ttl = Some(crate::report::model::TtlChecks {
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

    /// The locks section: a broken guarantee in bold, the overlaps listed.
    #[test]
    fn locks_section() {
        let mut s = String::new();
        section_md(
            &mut s,
            &crate::report::locks::section(&crate::report::locks::tests::sample()),
        );
        insta::assert_snapshot!(s);
    }

    #[test]
    fn failover_snapshot() {
        insta::assert_snapshot!(render(&crate::report::tests::sample_failover()));
    }
}
