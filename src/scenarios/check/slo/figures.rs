//! How each SLO's figure is read from the checked run's sections: the
//! helpers the table's entries call, and the kinds of topology each applies to.

use super::super::Sections;
use crate::report::{ClientSummary, CounterChecks, Figure};
use crate::topology::Kind;

/// Every topology kind.
pub(super) const EVERY_KIND: &[Kind] = &[Kind::Cluster, Kind::Standalone, Kind::Replicated];
/// Figures only a cluster has (slots, the watcher's view of failovers).
pub(super) const CLUSTER: &[Kind] = &[Kind::Cluster];

/// Kinds with replicas: the replication probe's figures.
pub(super) const REPLICATED: &[Kind] = &[Kind::Cluster, Kind::Replicated];

/// A figure of the replication probe; `unknown` when the probe judged no write.
pub(super) fn replication(
    f: &Sections,
    figure: fn(&crate::checker::replication::Replication) -> Option<f64>,
) -> Figure {
    match &f.checks.replication {
        None => Figure::Unknown {
            value: None,
            why: "the drill ran no replication probe (`replication_probe:`)".into(),
        },
        Some(r) if r.replicas.iter().all(|x| x.writes_judged == 0) => Figure::Unknown {
            value: None,
            why: "the replication probe judged no acknowledged write".into(),
        },
        Some(r) => figure(r).map_or_else(
            || Figure::Unknown {
                value: None,
                why: "no replica returned a probe write".into(),
            },
            Figure::Measured,
        ),
    }
}

/// A figure of the invalidation workload; `unknown` when the drill ran none
/// or its checker could not judge it (why is in `invalidation.unknown`).
pub(super) fn invalidation(
    f: &Sections,
    figure: impl Fn(&crate::checker::invalidation::Invalidation) -> Figure,
) -> Figure {
    match &f.checks.invalidation {
        None => Figure::Unknown {
            value: None,
            why: "the drill ran no invalidation workload (`invalidation:`)".into(),
        },
        Some(i) => match &i.unknown {
            Some(why) => Figure::Unknown {
                value: None,
                why: why.clone(),
            },
            None => figure(i),
        },
    }
}

/// A figure of the stampede workload; `unknown` when the drill ran none or
/// it recorded no read.
pub(super) fn stampede(
    f: &Sections,
    figure: fn(&crate::checker::stampede::Stampede) -> f64,
) -> Figure {
    stampede_figure(f, |s| Figure::Measured(figure(s)))
}

/// [`stampede`] for a figure that may itself be `unknown`.
pub(super) fn stampede_figure(
    f: &Sections,
    figure: impl Fn(&crate::checker::stampede::Stampede) -> Figure,
) -> Figure {
    match &f.checks.stampede {
        None => Figure::Unknown {
            value: None,
            why: "the drill ran no stampede workload (`stampede:`)".into(),
        },
        Some(s) if s.reads == 0 => Figure::Unknown {
            value: None,
            why: "the stampede workload recorded no read".into(),
        },
        Some(s) if s.unrecorded > 0 => Figure::Unknown {
            value: match figure(s) {
                Figure::Measured(v) => Some(v),
                Figure::Unknown { value, .. } => value,
                Figure::AtLeast { value, .. } => Some(value),
                Figure::NoAnswer { .. } => None,
            },
            why: format!(
                "{} stampede reads ran past the history's size",
                s.unrecorded
            ),
        },
        Some(s) => figure(s),
    }
}

/// A count that was measured (a count nobody measured is `unknown`, not
/// this).
pub(super) fn count(v: u64) -> Figure {
    Figure::Measured(v as f64)
}

/// A figure the run did not measure, and why: `unknown`, never a 0 that
/// passes nor a failure the run did not show.
pub(super) fn not_measured(why: &str) -> Figure {
    Figure::Unknown {
        value: None,
        why: why.to_string(),
    }
}

/// A lock figure of a drill without a lock workload.
pub(super) fn no_locks() -> Figure {
    not_measured("the drill ran no lock workload (`locks:`)")
}

/// A counter figure: unknown when no counter, or not every counter, was
/// read back at the end.
pub(super) fn counters(f: &Sections, figure: impl Fn(&CounterChecks) -> u64) -> Figure {
    match &f.checks.counters {
        Some(c) if c.counters_checked > 0 => {
            within(&f.checks.unknown, "counters", count(figure(c)))
        }
        _ => not_measured("no counter was read back"),
    }
}

/// `figure`, unless its section lists it under `key` as not measured: then
/// `unknown`, with the value and why.
pub(super) fn within(
    unknown: &std::collections::BTreeMap<String, String>,
    key: &str,
    figure: Figure,
) -> Figure {
    match (unknown.get(key), figure) {
        (Some(why), Figure::Measured(v)) => Figure::Unknown {
            value: Some(v),
            why: why.clone(),
        },
        (_, figure) => figure,
    }
}

/// The hot keys' miss ratio: its largest rise in a later phase over
/// `baseline`, in percentage points. Unknown without an eviction verdict or
/// without hot reads in `baseline` or in every later phase.
pub(super) fn hot_miss_ratio_rise(f: &Sections) -> Figure {
    let Some(e) = &f.checks.eviction else {
        return Figure::Unknown {
            value: None,
            why: "the topology evicts nothing (no maxmemory-policy that evicts)".into(),
        };
    };
    let Some(base) = e.by_phase.get("baseline").and_then(|p| p.hot_miss_ratio) else {
        return Figure::Unknown {
            value: None,
            why: "no hot key was read in `baseline`".into(),
        };
    };
    let rise = e
        .by_phase
        .iter()
        .filter(|(name, _)| name.as_str() != "baseline")
        .filter_map(|(_, p)| p.hot_miss_ratio)
        .map(|r| (r - base) * 100.0)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    rise.map_or_else(
        || Figure::Unknown {
            value: None,
            why: "no hot key was read after `baseline`".into(),
        },
        Figure::Measured,
    )
}

/// A latency SLO reads the app clients' p99 in its phase: unknown when
/// nothing succeeded there or the tool could not keep its schedule.
pub(super) fn app_p99(f: &Sections, phase: &str) -> Figure {
    p99_in(f, &f.workload.app, phase)
}

/// The most ops of a phase that may go without an answer before its p99 is
/// no answer: 1 %.
pub(super) const UNANSWERED_SHARE: f64 = 0.01;

/// [`app_p99`] over the clients `app` sums up: the latency 99 % of the ops
/// due in the phase were answered within, an op that failed or timed out
/// counting as slower than any answer. More than 1 % unanswered: no answer,
/// and the SLO fails whatever its limit.
pub(super) fn p99_in(f: &Sections, app: &ClientSummary, phase: &str) -> Figure {
    let all = app.latency_all_ms.get(phase).map_or(0, |l| l.count);
    let answered = app.latency_ms.get(phase).map_or(0, |l| l.count);
    if all == 0 {
        return not_measured(&format!("no app op was due in `{phase}`"));
    }
    let unanswered = all - answered;
    let p99 = match app.p99_answered_ms.get(phase) {
        Some(&v) => v,
        None => {
            return Figure::NoAnswer {
                why: format!(
                    "{unanswered} of the {all} app ops due in `{phase}` ({:.1} %, more than {:.0} %) failed or timed out: its p99 is an op that got no answer",
                    100.0 * unanswered as f64 / all as f64,
                    100.0 * UNANSWERED_SHARE
                ),
            };
        }
    };
    match f.workload.self_check.distrust(phase) {
        Some(why) => Figure::Unknown {
            value: Some(p99),
            why,
        },
        None => Figure::Measured(p99),
    }
}

/// The largest of the entries' figures. An entry without one was not
/// measured, so the worst is not known: `unknown`, naming it. No entry at
/// all: the drill had nothing to measure (`unknown`, saying `none`).
pub(super) fn worst<'a, T: 'a>(
    entries: impl Iterator<Item = &'a T>,
    figure: impl Fn(&T) -> Option<f64>,
    unmeasured: impl Fn(&T) -> String,
    none: &str,
) -> Figure {
    let mut max: Option<f64> = None;
    let mut missing = Vec::new();
    for e in entries {
        match figure(e) {
            Some(v) => max = Some(max.map_or(v, |m: f64| m.max(v))),
            None => missing.push(unmeasured(e)),
        }
    }
    match (max, missing.is_empty()) {
        (None, true) => not_measured(none),
        (value, false) => Figure::Unknown {
            value,
            why: missing.join("; "),
        },
        (Some(v), true) => Figure::Measured(v),
    }
}

/// `max_sentinel_failover_ms`: the slowest `+switch-master` after a fault of
/// the primary. A failover the Sentinels were heard not to make (listened to
/// throughout the fault's window, no `+switch-master`) fails with no
/// figure, saying how far they got; one nobody listened for is unknown.
pub(super) fn sentinel_failover(f: &Sections) -> Figure {
    let Some(s) = &f.sentinel else {
        return not_measured("the topology has no Sentinels");
    };
    let due: Vec<_> = s.timelines.iter().filter(|t| t.failover_due).collect();
    if due.is_empty() {
        return not_measured("no fault hit the primary");
    }
    let (mut worst, mut missed, mut unheard) = (None::<f64>, Vec::new(), Vec::new());
    for t in due {
        let step = |e: &str| {
            t.steps
                .iter()
                .find(|s| s.event == e)
                .and_then(|s| s.after_ms)
        };
        match step("+switch-master") {
            Some(ms) => worst = Some(worst.map_or(ms, |w| w.max(ms))),
            None if t.listening > 0 => {
                let reached = ["+elected-leader", "+odown", "+sdown"]
                    .into_iter()
                    .find_map(|e| step(e).map(|ms| format!("{e} at {ms:.0} ms")))
                    .unwrap_or_else(|| "not even +sdown".into());
                missed.push(format!(
                    "the Sentinels did not fail {} over within the {:.0} ms after `{}` (furthest: {reached}; quorum {} of {})",
                    t.nodes.join(" "),
                    t.window_ms,
                    t.fault,
                    s.quorum,
                    s.sentinels.len()
                ));
            }
            None => unheard.push(format!(
                "no Sentinel was heard throughout the window of `{}`",
                t.fault
            )),
        }
    }
    if !missed.is_empty() {
        return Figure::NoAnswer {
            why: missed.join("; "),
        };
    }
    if !unheard.is_empty() {
        return Figure::Unknown {
            value: worst,
            why: unheard.join("; "),
        };
    }
    worst.map_or_else(
        || not_measured("no fault hit the primary"),
        Figure::Measured,
    )
}

/// The linearizability checker's count of keys no order explains: a floor
/// when some key was never read or its search ran out.
pub(super) fn shard_skew(f: &Sections) -> Figure {
    match &f.shards {
        Some(s) => match s.skew {
            Some(k) => Figure::Measured(k),
            None => Figure::Unknown {
                value: None,
                why: (s.unknown.get("skew").cloned())
                    .unwrap_or_else(|| "no op was answered".into()),
            },
        },
        None => Figure::Unknown {
            value: None,
            why: "not a cluster, or the drill ran no key/value workload".into(),
        },
    }
}

pub(super) fn linearizability(f: &Sections) -> Figure {
    let Some(l) = &f.linearizability else {
        return Figure::Unknown {
            value: None,
            why: "the drill ran no key/value workload".into(),
        };
    };
    if let Some((_, why)) = l.unknown.first_key_value() {
        return Figure::Unknown {
            value: None,
            why: why.clone(),
        };
    }
    if l.keys_checked == 0 || l.keys_unread == l.keys_checked {
        return Figure::Unknown {
            value: None,
            why: "no key was read, not even at the end: writes alone are always linearizable"
                .into(),
        };
    }
    let mut why = Vec::new();
    if l.keys_undecided > 0 {
        why.push(format!(
            "{} of {} keys undecided within the search budget",
            l.keys_undecided, l.keys_checked
        ));
    }
    if l.keys_unread > 0 {
        why.push(format!(
            "{} keys never read, not even at the end",
            l.keys_unread
        ));
    }
    if why.is_empty() {
        count(l.violations)
    } else {
        Figure::AtLeast {
            value: l.violations as f64,
            why: why.join("; "),
        }
    }
}
