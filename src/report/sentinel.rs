//! The `sentinel` section of a report: the Sentinels' settings, what they
//! published, and each fault's timeline from the fault to the failover and
//! to the first client answered by the new primary, beside what
//! `down_after_ms` promises ([`crate::checker::sentinel`] computes it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::section::{EMPTY, Section, Table};

/// The Sentinels' account of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentinelReport {
    pub master_name: String,
    pub sentinels: Vec<String>,
    pub quorum: u32,
    pub down_after_ms: u64,
    pub failover_timeout_ms: u64,
    /// How many times each event was published, all Sentinels together.
    pub events: BTreeMap<String, u64>,
    /// One per fault, in order.
    pub timelines: Vec<SentinelTimeline>,
    /// Acknowledged writes answered by each node, per 100 ms of the run
    /// (by when each ended), for every node that answered one: where two
    /// primaries took writes at once, a split brain.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub writes_per_bucket: BTreeMap<String, Vec<u32>>,
    /// What could not be established, and why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<String, String>,
}

/// From one fault to the failover it caused (or did not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentinelTimeline {
    /// The fault and its target as the scenario wrote it.
    pub fault: String,
    pub nodes: Vec<String>,
    /// When it was applied, ms since the run began.
    pub at_ms: f64,
    /// How long the timeline runs: to the next fault or the end of the run.
    pub window_ms: f64,
    /// Sentinels the tool heard throughout the window.
    pub listening: usize,
    /// Whether the fault hit the node that was primary then (a kill, stop,
    /// pause or partition of it): a fault the Sentinels should fail over.
    #[serde(default)]
    pub failover_due: bool,
    /// `+sdown`, `+odown`, `+elected-leader`, `+switch-master`,
    /// `+convert-to-slave`: the first of each after the fault.
    pub steps: Vec<SentinelStep>,
    pub old_primary: Option<String>,
    pub new_primary: Option<String>,
    /// From the fault to the end of the first op a client had answered by
    /// the new primary.
    pub first_success_ms: Option<f64>,
    /// Whether `+sdown` came later than `down_after_ms` plus the second a
    /// Sentinel may take to send its next PING.
    pub sdown_late: Option<bool>,
    /// With a `+switch-master`: who wrote where after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_brain: Option<SplitBrain>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<String, String>,
}

/// After the Sentinels switched to a new primary: the writes the old one
/// still acknowledged (a split brain: they are discarded when it is made a
/// replica), the writes the new one took, and how long two nodes were
/// primary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitBrain {
    /// Acknowledged writes answered by the old primary after `+switch-master`.
    pub writes_on_old: u64,
    pub writes_on_new: u64,
    /// Clients with at least one such write on each.
    pub clients_on_old: usize,
    pub clients_on_new: usize,
    /// The end of the last write the old primary acknowledged, ms after the fault.
    pub last_write_on_old_ms: Option<f64>,
    /// From `+switch-master` to the old primary's `+convert-to-slave`: how
    /// long two nodes called themselves primary (`None`: it was not heard
    /// converted before the window ended).
    pub two_primaries_ms: Option<f64>,
}

/// The first time one event was heard after a fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentinelStep {
    pub event: String,
    /// ms after the fault; `None`: not heard in the window.
    pub after_ms: Option<f64>,
    pub sentinel: Option<String>,
    pub detail: Option<String>,
}

/// The section every rendering shows.
pub(super) fn section(s: &SentinelReport) -> Section {
    let mut sec = Section::titled("Sentinels");
    sec.text(format!(
        "{} Sentinels ({}) watch `{}`: quorum {}, down after {} ms, failover timeout {} ms.",
        s.sentinels.len(),
        s.sentinels.join(", "),
        s.master_name,
        s.quorum,
        s.down_after_ms,
        s.failover_timeout_ms
    ));
    for (what, why) in &s.unknown {
        sec.warning(format!("{what}: unknown — {why}"));
    }
    if !s.timelines.is_empty() {
        let mut t = Table::aligned(
            &[
                "fault",
                "at",
                "+sdown",
                "+odown",
                "+elected-leader",
                "+switch-master",
                "first success on the new primary",
                "+convert-to-slave",
            ],
            "lrrrrrrr",
        );
        for tl in &s.timelines {
            let cell = |e: &str| match tl.steps.iter().find(|st| st.event == e) {
                _ if !tl.unknown.is_empty() => "unknown".to_string(),
                Some(SentinelStep {
                    after_ms: Some(ms), ..
                }) => format!("{ms:.0} ms"),
                _ => "not seen".to_string(),
            };
            let switch = match (&tl.old_primary, &tl.new_primary) {
                (Some(o), Some(n)) => format!("{} ({o} → {n})", cell("+switch-master")),
                _ => cell("+switch-master"),
            };
            t.row(vec![
                tl.fault.clone(),
                format!("{:.0} ms", tl.at_ms),
                cell("+sdown"),
                cell("+odown"),
                cell("+elected-leader"),
                switch,
                tl.first_success_ms
                    .map_or_else(|| EMPTY.to_string(), |m| format!("{m:.0} ms")),
                cell("+convert-to-slave"),
            ]);
        }
        sec.table(t);
        let late: Vec<&str> = (s.timelines.iter())
            .filter(|t| t.sdown_late == Some(true))
            .map(|t| t.fault.as_str())
            .collect();
        if !late.is_empty() {
            sec.warning(format!(
                "+sdown came more than down_after_ms + {:.0} ms after: {}",
                crate::checker::sentinel::SDOWN_SLACK_MS,
                late.join(", ")
            ));
        }
        for tl in &s.timelines {
            if let (Some(sb), Some(old), Some(new)) =
                (&tl.split_brain, &tl.old_primary, &tl.new_primary)
            {
                let two = sb.two_primaries_ms.map_or_else(
                    || "until the end of the window (never heard converted)".to_string(),
                    |m| format!("for {m:.0} ms"),
                );
                let last = sb.last_write_on_old_ms.map_or(String::new(), |m| {
                    format!(", the last {m:.0} ms after the fault")
                });
                sec.text(format!(
                    "{}: after `+switch-master` {old} and {new} were both primary {two}; {old} acknowledged {} writes from {} clients{last}, {new} {} writes from {} clients.",
                    tl.fault,
                    sb.writes_on_old,
                    sb.clients_on_old,
                    sb.writes_on_new,
                    sb.clients_on_new
                ));
            }
            if tl.failover_due && tl.new_primary.is_none() && tl.unknown.is_empty() {
                let seen = |e: &str| {
                    (tl.steps.iter())
                        .find(|st| st.event == e)
                        .and_then(|st| st.after_ms)
                };
                let how = match (seen("+sdown"), seen("+odown"), seen("+elected-leader")) {
                    (None, _, _) => "no Sentinel even marked it down (+sdown)".to_string(),
                    (Some(sd), None, _) => format!(
                        "a Sentinel marked it down (+sdown at {sd:.0} ms) but never a quorum of {} agreed (+odown not seen)",
                        s.quorum
                    ),
                    (_, Some(od), None) => format!(
                        "they agreed it was down (+odown at {od:.0} ms) but elected no leader (a majority of {} must vote)",
                        s.sentinels.len()
                    ),
                    (_, _, Some(el)) => format!(
                        "a leader was elected (+elected-leader at {el:.0} ms) but never switched the primary"
                    ),
                };
                sec.warning(format!(
                    "{}: no failover within the {:.0} ms that followed — {how}; {} Sentinels heard throughout.",
                    tl.fault, tl.window_ms, tl.listening
                ));
            }
            for (what, why) in &tl.unknown {
                sec.warning(format!("{}: {what} unknown — {why}", tl.fault));
            }
        }
    }
    if !s.events.is_empty() {
        sec.text(format!(
            "Published: {}.",
            (s.events.iter())
                .map(|(e, n)| format!("{e} ×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    sec
}
