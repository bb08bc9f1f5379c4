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

/// A duration in ms, to a precision that suits its size.
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

/// A number as the tables show it: integers plain, others to 2 decimals.
pub(super) fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A distribution as one phrase, `p50 … · p99 … · max …`: how every
/// section states a latency or a staleness.
pub(super) fn spread(l: &crate::checker::Latency) -> String {
    format!("p50 {} · p99 {} · max {}", ms(l.p50), ms(l.p99), ms(l.max))
}
