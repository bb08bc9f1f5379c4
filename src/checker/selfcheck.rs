//! The instrument checks itself: did the tool keep its schedule, and what
//! did the server-side reference see beside the clients? Pure, on the
//! recorded history and pings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::latency::{Timing, percentiles};
use crate::record::pings::Ping;
use crate::record::timeline::Phase;

/// Could the machine drive the rate? Per phase, the app clients' tool lag
/// p99 against `workload.max_tool_lag_ms`; a phase over the bound makes its
/// latency SLOs `unknown`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SelfCheck {
    /// The bound (ms, at p99).
    pub max_tool_lag_ms: f64,
    /// Tool lag p99 by phase, and whether it held.
    pub phases: BTreeMap<String, PhaseCheck>,
    /// Every phase held.
    pub ok: bool,
    /// In words, when it did not hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One phase of the self-check: the tool's own lag and whether it stayed
/// under the bound, so a slow phase is told apart from a slow cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseCheck {
    pub tool_lag_p99_ms: f64,
    pub ok: bool,
    /// CPU time the machine's hypervisor took away in the phase (ms, all
    /// CPUs): while it does, every thread stands still, the tool's too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steal_ms: Option<f64>,
}

impl SelfCheck {
    /// The machine's steal time by phase, and where a phase failed with
    /// steal in it, a note that says so: late ops there were not the tool's
    /// doing alone, and no setting inside the machine removes them.
    pub fn with_steal(mut self, steal_ms: &BTreeMap<String, f64>) -> SelfCheck {
        for (phase, c) in &mut self.phases {
            c.steal_ms = steal_ms.get(phase).copied();
        }
        let stolen: Vec<String> = self
            .phases
            .iter()
            .filter_map(|(n, c)| {
                c.steal_ms
                    .filter(|&s| !c.ok && s > 0.0)
                    .map(|s| format!("{s:.0} ms in {n}"))
            })
            .collect();
        if let (Some(note), false) = (&mut self.note, stolen.is_empty()) {
            note.push_str(&format!(
                "; the machine's hypervisor took CPU time away meanwhile ({}), stopping every thread, the tool's and Redis's alike",
                stolen.join(", ")
            ));
        }
        self
    }

    /// Why latency in `phase` cannot be trusted, if it cannot.
    pub fn distrust(&self, phase: &str) -> Option<String> {
        let c = self.phases.get(phase)?;
        (!c.ok).then(|| {
            format!(
                "tool lag p99 {:.2} ms > {} ms in `{phase}`: the machine could not drive the rate, so latency measured the tool",
                c.tool_lag_p99_ms, self.max_tool_lag_ms
            )
        })
    }
}

/// The self-check of `timing` (one client class, by phase) against `bound_ms`.
/// A phase with no op has nothing to check and holds.
pub fn self_check(timing: &BTreeMap<String, Timing>, bound_ms: f64) -> SelfCheck {
    let phases: BTreeMap<String, PhaseCheck> = timing
        .iter()
        .map(|(name, t)| {
            let p99 = t.tool_lag.p99;
            (
                name.clone(),
                PhaseCheck {
                    tool_lag_p99_ms: p99,
                    ok: t.tool_lag.count == 0 || p99 <= bound_ms,
                    steal_ms: None,
                },
            )
        })
        .collect();
    let over: Vec<String> = phases
        .iter()
        .filter(|(_, c)| !c.ok)
        .map(|(n, c)| format!("{n} {:.2} ms", c.tool_lag_p99_ms))
        .collect();
    SelfCheck {
        max_tool_lag_ms: bound_ms,
        ok: over.is_empty(),
        note: (!over.is_empty()).then(|| {
            format!(
                "the machine could not drive the rate: ops were sent late (tool lag p99: {}; bound {bound_ms} ms), so latency in those phases measured the tool as much as Redis",
                over.join(", ")
            )
        }),
        phases,
    }
}

/// Round trips of one node's PINGs over one phase (ms; failed ones counted apart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PingSummary {
    pub count: u64,
    pub failed: u64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// The reference PINGs by phase (by due time) and node.
pub fn pings_by_phase(
    pings: &[Ping],
    phases: &[Phase],
) -> BTreeMap<String, BTreeMap<String, PingSummary>> {
    let mut out = BTreeMap::new();
    for p in phases {
        let mut by_node: BTreeMap<&str, (Vec<u64>, u64)> = BTreeMap::new();
        let in_phase = |x: &&Ping| {
            crate::record::timeline::phase_at(phases, x.due_ns).is_some_and(|q| std::ptr::eq(q, p))
        };
        for ping in pings.iter().filter(in_phase) {
            let e = by_node.entry(ping.node.as_str()).or_default();
            if ping.ok {
                e.0.push(ping.rtt_ns());
            } else {
                e.1 += 1;
            }
        }
        let summaries: BTreeMap<String, PingSummary> = by_node
            .into_iter()
            .map(|(node, (rtts, failed))| {
                let l = percentiles(rtts);
                (
                    node.to_string(),
                    PingSummary {
                        count: l.count + failed,
                        failed,
                        p50: l.p50,
                        p99: l.p99,
                        max: l.max,
                    },
                )
            })
            .collect();
        out.entry(p.name.clone())
            .or_insert_with(BTreeMap::new)
            .extend(summaries);
    }
    out
}

/// The p99 PING round trip of each second (by due time, every node), ms.
pub fn ping_p99_per_second(pings: &[Ping]) -> BTreeMap<u64, f64> {
    let mut by_s: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for p in pings.iter().filter(|p| p.ok) {
        by_s.entry(p.due_ns / 1_000_000_000)
            .or_default()
            .push(p.rtt_ns());
    }
    by_s.into_iter()
        .map(|(s, v)| (s, percentiles(v).p99))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Latency;

    fn timing(lag_p99: f64, count: u64) -> Timing {
        Timing {
            tool_lag: Latency {
                count,
                p99: lag_p99,
                ..Latency::default()
            },
            ..Timing::default()
        }
    }

    #[test]
    fn a_phase_over_the_bound_is_distrusted_with_its_figure() {
        let t = BTreeMap::from([
            ("baseline".to_string(), timing(0.2, 100)),
            ("during".to_string(), timing(3.5, 100)),
            ("empty".to_string(), timing(0.0, 0)),
            ("edge".to_string(), timing(1.0, 100)),
        ]);
        let c = self_check(&t, 1.0);
        assert!(!c.ok);
        assert!(c.phases["baseline"].ok && c.phases["empty"].ok && c.phases["edge"].ok);
        assert!(!c.phases["during"].ok);
        assert_eq!(c.distrust("baseline"), None);
        let why = c.distrust("during").unwrap();
        assert!(why.contains("3.50 ms > 1 ms"), "{why}");
        assert!(c.note.unwrap().contains("during 3.50 ms"));
        assert!(self_check(&BTreeMap::new(), 1.0).ok);
    }

    #[test]
    fn steal_in_a_failed_phase_is_named_and_kept_everywhere() {
        let t = BTreeMap::from([
            ("baseline".to_string(), timing(0.2, 100)),
            ("during".to_string(), timing(3.5, 100)),
        ]);
        let steal = BTreeMap::from([("baseline".to_string(), 20.0), ("during".to_string(), 31.0)]);
        let c = self_check(&t, 1.0).with_steal(&steal);
        assert_eq!(c.phases["baseline"].steal_ms, Some(20.0));
        let note = c.note.unwrap();
        assert!(
            note.contains("hypervisor took CPU time away meanwhile (31 ms in during)"),
            "{note}"
        );
        // No steal: the note stays as it was; a passing check gets no note.
        let plain = self_check(&t, 1.0).with_steal(&BTreeMap::new());
        assert!(!plain.note.unwrap().contains("hypervisor"));
        let ok = self_check(
            &BTreeMap::from([("baseline".to_string(), timing(0.2, 100))]),
            1.0,
        )
        .with_steal(&steal);
        assert_eq!(ok.note, None);
    }

    fn ping(node: &str, due_ms: u64, rtt_ms: u64, ok: bool) -> Ping {
        Ping {
            node: node.into(),
            due_ns: due_ms * 1_000_000,
            sent_ns: due_ms * 1_000_000,
            end_ns: (due_ms + rtt_ms) * 1_000_000,
            ok,
        }
    }

    #[test]
    fn pings_by_phase_and_second() {
        let phases = vec![
            Phase {
                name: "a".into(),
                start_ns: 0,
                end_ns: 1_000_000_000,
            },
            Phase {
                name: "b".into(),
                start_ns: 1_000_000_000,
                end_ns: 2_000_000_000,
            },
        ];
        let pings = vec![
            ping("n1", 10, 1, true),
            ping("n1", 20, 3, true),
            ping("n1", 30, 900, false),
            ping("n2", 10, 2, true),
            ping("n1", 1500, 7, true),
        ];
        let p = pings_by_phase(&pings, &phases);
        assert_eq!(p["a"]["n1"].count, 3);
        assert_eq!(p["a"]["n1"].failed, 1);
        assert_eq!(p["a"]["n1"].max, 3.0);
        assert_eq!(p["a"]["n2"].p99, 2.0);
        assert_eq!(p["b"]["n1"].p50, 7.0);
        assert!(!p["b"].contains_key("n2"));
        let s = ping_p99_per_second(&pings);
        assert_eq!(s[&0], 3.0);
        assert_eq!(s[&1], 7.0);
    }
}
