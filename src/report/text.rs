//! Numbers as the reports write them, in Markdown and in HTML alike.

/// `1234567` → `1 234 567` (thin grouping reads at a glance in a terminal).
pub(super) fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

pub(super) fn ms(v: f64) -> String {
    if v == 0.0 {
        "0 ms".to_string()
    } else if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// A Markdown table: the header row, then the rows; the first column is
/// text (left), the others numbers (right).
pub(super) fn markdown_table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let align: Vec<&str> = (0..head.len())
        .map(|i| if i == 0 { "---" } else { "---:" })
        .collect();
    let _ = writeln!(out, "|{}|", align.join("|"));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
}
