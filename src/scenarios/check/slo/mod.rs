//! Every SLO a scenario may set, declared once: its name, its unit, its
//! bound (`max_*` a maximum, `min_*` a minimum), what it counts, when it is
//! `unknown`, and the section of the checked run it reads. Loading a
//! scenario checks names against this table (and refuses an SLO the drill
//! cannot measure), the check stage reads every figure through it, and
//! docs/scenarios.md's table is made from it, so adding an SLO is one entry
//! here.

use super::Sections;
use crate::report::{Bound, ClientRegion, Figure};
use crate::topology::Kind;

/// Where an SLO's figure comes from: an incomplete source makes it `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The clients' history of ops.
    History,
    /// The watcher's recording of every node's view.
    Watch,
    /// The drill's own timing, or the cluster read at the end.
    Drill,
    /// The lock workload's history.
    Locks,
}

/// One SLO: the figure named `name`, in `unit`, must stay on the `bound`
/// side of the scenario's limit.
pub struct Slo {
    pub name: &'static str,
    pub unit: &'static str,
    /// `max_*` SLOs are maxima, `min_*` minima (a test holds names to it).
    pub bound: Bound,
    /// What the figure counts, for people (docs/scenarios.md's SLO table).
    pub reads: &'static str,
    /// When the figure is `unknown` rather than measured, beyond the rule
    /// every figure follows (its source incomplete: a history past its
    /// size limit, ops dropped at the stop, a recording cut short).
    pub unknown: &'static str,
    pub source: Source,
    /// The topology kinds that have this figure: a scenario on another kind
    /// that sets the SLO is rejected at its line, rather than left `unknown`
    /// at every run.
    pub on: &'static [Kind],
    figure: fn(&Sections) -> Figure,
}

mod figures;
use figures::*;
mod table;
#[cfg(test)]
mod tests;

pub use table::SLOS;

/// Why `scenario` cannot measure the figure of the SLO named `name`, if it
/// cannot: the part of the drill that makes it is missing. Checked when the
/// scenario is loaded, so that a drill that could only end `unknown` on that
/// SLO is refused before anything starts.
pub fn unmeasurable(name: &str, s: &crate::scenarios::Scenario) -> Option<String> {
    use crate::faults::FaultKind;
    let mix = &s.workload.mix;
    let kv = |what: &str, weight: u32| {
        (s.kv && weight == 0).then(|| format!("the workload's `mix` sends no {what}"))
    };
    let takes_a_node = s.faults.iter().any(|f| {
        f.fault.takes_node_away() || matches!(f.fault, FaultKind::Failover | FaultKind::Replace)
    });
    let restarts = s.faults.iter().any(|f| {
        f.fault == FaultKind::Restart
            || (matches!(f.fault, FaultKind::Kill | FaultKind::Stop) && f.hold_ms.is_some())
    });
    let writes = mix.set + mix.incr + mix.del + mix.set_ttl + mix.txn;
    let evicts = s.topology.nodes.iter().any(|n| {
        n.config
            .get("maxmemory-policy")
            .is_some_and(|p| crate::checker::eviction::Eviction::of(p) != Default::default())
    });
    match name {
        "max_reshard_ms" | "max_keys_overwritten" => {
            s.reshard.is_none().then(|| "the scenario has no `reshard`".to_string())
        }
        "max_failover_ms" | "max_promotion_ms" => (!takes_a_node).then(|| {
            "no fault takes a node away or fails one over (kill, stop, pause, partition, failover, replace), so nothing is failed over".to_string()
        }),
        "max_rejoin_ms" => (!restarts).then(|| {
            "no node is started again (a `restart`, or a `kill`/`stop` with `hold_ms`), so none rejoins".to_string()
        }),
        "max_counter_violations" | "max_lost_increments" | "max_over_counted_increments" => {
            kv("`incr`", mix.incr)
        }
        "max_torn_reads" => kv("`txn_read`", mix.txn_read),
        "max_torn_groups" => kv("`txn`", mix.txn),
        "max_zombie_reads" | "max_early_expiries" => kv("`set_ttl`", mix.set_ttl),
        "max_stale_reads" | "max_staleness_ms" => kv("`get`", mix.get),
        "max_linearizability_violations" if !s.kv => {
            Some("the drill runs no key/value workload".to_string())
        }
        "max_linearizability_violations" => s
            .topology
            .nodes
            .iter()
            .find(|n| {
                n.config.get("maxmemory-policy").is_some_and(|p| {
                    crate::checker::eviction::Eviction::of(p)
                        == crate::checker::eviction::Eviction::AllKeys
                })
            })
            .map(|n| {
                format!(
                    "node `{}` evicts any key (`maxmemory-policy`): a key that can vanish on its own is not one copy of a register",
                    n.name
                )
            }),
        "max_app_write_downtime_ms" => kv("write (set, incr, del, set_ttl, txn)", writes),
        "max_probe_downtime_ms" | "max_probe_failed_ops" => (s.kv
            && s.workload.probe_clients == 0)
            .then(|| "the workload has no `probe_clients`".to_string()),
        "max_hot_miss_ratio_rise" => (!evicts).then(|| {
            "no node of the topology has a `maxmemory-policy` that evicts".to_string()
        }),
        "max_replication_lag_p99_ms"
        | "max_unreplicated_writes"
        | "max_replication_floor_violations"
        | "max_full_resyncs" => s
            .replication_probe
            .is_none()
            .then(|| "the scenario runs no `replication_probe`".to_string()),
        n if find(n).is_some_and(|slo| slo.source == Source::Drill && STAMPEDE.contains(&n)) => s
            .stampede
            .is_none()
            .then(|| "the scenario runs no `stampede` workload".to_string()),
        n if INVALIDATION.contains(&n) => match &s.invalidation {
            None => Some("the scenario runs no `invalidation` workload".to_string()),
            Some(i) if n == "max_stale_local_copies" && !i.client_cache => Some(
                "the invalidation readers keep no local copies (`invalidation.client_cache`)"
                    .to_string(),
            ),
            Some(_) => None,
        },
        _ => None,
    }
}

/// The stampede workload's SLOs.
const STAMPEDE: &[&str] = &[
    "max_stampede_violations",
    "max_failover_recomputes",
    "max_superseded_serves",
    "max_failed_reads",
    "max_unserved_ms",
    "max_stampede_serve_p99_ms",
    "max_warm_ms",
    "max_stale_serve_ms",
];

/// The invalidation workload's SLOs.
const INVALIDATION: &[&str] = &[
    "max_stale_after_invalidation",
    "max_lost_invalidations",
    "max_stale_lifetime_ms",
    "max_invalidation_p99_ms",
    "max_mixed_group_reads",
    "max_stale_local_copies",
];

/// The SLO table of docs/scenarios.md, as the declarations above give it:
/// a test holds the docs to it.
pub fn markdown_table() -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out =
        String::from("| SLO | unit | bound | counts | `unknown` when |\n|---|---|---|---|---|\n");
    for s in SLOS {
        let kinds = if s.on.len() == EVERY_KIND.len() {
            String::new()
        } else {
            let names: Vec<&str> = (s.on.iter())
                .map(|k| match k {
                    Kind::Cluster => "cluster",
                    Kind::Replicated => "replicated",
                    Kind::Standalone => "standalone",
                })
                .collect();
            format!(" ({} only)", names.join(", "))
        };
        out.push_str(&format!(
            "| `{}`{kinds} | {} | {} | {} | {} |\n",
            s.name,
            s.unit,
            match s.bound {
                Bound::AtMost => "at most",
                Bound::AtLeast => "at least",
            },
            cell(s.reads),
            cell(s.unknown),
        ));
    }
    out
}

/// SLOs that changed name: (old, new). A scenario with an old name is
/// rejected with the new one; a run stored under an old name is checked
/// again under the new one.
pub const RENAMED: &[(&str, &str)] = &[
    // It counts keys; `max_lost_acknowledged_writes` counts writes.
    ("max_lost_writes", "max_lost_keys"),
];

/// The current name of an SLO that was renamed.
pub fn renamed(old: &str) -> Option<&'static str> {
    RENAMED.iter().find(|(o, _)| *o == old).map(|(_, new)| *new)
}

/// Which side of its limit the SLO named `name` holds on (a maximum for a
/// name no SLO has; loading rejects those).
pub fn bound_of(name: &str) -> Bound {
    find(name).map_or(Bound::AtMost, |s| s.bound)
}

/// The SLO named `name`.
pub fn find(name: &str) -> Option<&'static Slo> {
    SLOS.iter().find(|s| s.name == name)
}

impl Sections {
    /// The figure of the SLO named `name`; unknown for a name no SLO has
    /// (loading rejects those).
    pub fn of(&self, name: &str) -> Figure {
        let Some(slo) = find(name) else {
            return not_measured(&format!("no SLO is named `{name}`"));
        };
        let incomplete = match slo.source {
            Source::History => self.incomplete.history.as_ref(),
            Source::Watch => self.incomplete.watch.as_ref(),
            Source::Drill => None,
            Source::Locks => self.locks.as_ref().and_then(|l| l.incomplete.as_ref()),
        };
        distrusted((slo.figure)(self), incomplete)
    }
}

/// A measured figure from a source that is incomplete is `unknown`, with
/// its value and why.
fn distrusted(figure: Figure, incomplete: Option<&String>) -> Figure {
    match (figure, incomplete) {
        (Figure::Measured(v) | Figure::AtLeast { value: v, .. }, Some(why)) => Figure::Unknown {
            value: Some(v),
            why: why.clone(),
        },
        (figure, _) => figure,
    }
}

/// The SLOs a region's clients can be held to apart (`slo_by_region:`):
/// the same names and meanings as the run's, read over that region's
/// clients alone (the key/value clients `workload.regions` places).
pub const BY_REGION: &[&str] = &[
    "max_app_downtime_ms",
    "max_app_write_downtime_ms",
    "max_probe_downtime_ms",
    "max_lost_acknowledged_writes",
    "max_app_failed_ops",
    "max_stale_reads",
    "max_staleness_ms",
    "max_p99_baseline_ms",
    "max_p99_during_ms",
    "max_p99_after_ms",
];

/// The SLOs a region's stampede readers (`stampede.regions`) can be held
/// to apart, read over that region's readers alone.
pub const BY_READER_REGION: &[&str] = &[
    "max_failed_reads",
    "max_unserved_ms",
    "max_stampede_serve_p99_ms",
];

/// How an SLO by region is named in the report: `name[region]`.
pub fn region_slo_name(name: &str, region: &str) -> String {
    format!("{name}[{region}]")
}

/// Who lives in one region: its key/value clients' figures and its
/// stampede readers', as far as the drill placed any there.
#[derive(Debug, Clone, Copy)]
pub struct InRegion<'a> {
    pub region: &'a str,
    pub clients: Option<&'a ClientRegion>,
    pub readers: Option<&'a crate::checker::stampede::RegionFigures>,
}

impl Sections {
    /// The figure of the SLO named `name` ([`BY_REGION`],
    /// [`BY_READER_REGION`]) over one region's clients or readers; unknown,
    /// as the run's own, when their history is incomplete.
    pub fn of_region(&self, at: InRegion<'_>, name: &str) -> Figure {
        if BY_READER_REGION.contains(&name) {
            let Some(g) = at.readers else {
                return Figure::Unknown {
                    value: None,
                    why: format!("no stampede readers ran in `{}`", at.region),
                };
            };
            return stampede_figure(self, |_| match name {
                "max_failed_reads" => count(g.failed),
                "max_unserved_ms" => Figure::Measured(g.no_serve_max_ms),
                _ if g.serve_ms.count == 0 => Figure::Unknown {
                    value: None,
                    why: format!("no stampede read was served in `{}`", at.region),
                },
                _ => Figure::Measured(g.serve_ms.p99),
            });
        }
        if !BY_REGION.contains(&name) {
            return not_measured(&format!(
                "`{name}` is not an SLO a region's clients have apart"
            ));
        }
        let Some(g) = at.clients else {
            return Figure::Unknown {
                value: None,
                why: format!("no clients ran in `{}`", at.region),
            };
        };
        let stale = |figure: fn(&crate::report::StaleSide) -> f64| match &g.stale {
            Some(s) if s.reads > 0 => Figure::Measured(figure(s)),
            _ => Figure::Unknown {
                value: None,
                why: format!("the clients in `{}` read no value", g.region),
            },
        };
        let figure = match name {
            "max_app_downtime_ms" => within(&g.unknown, "app", Figure::Measured(g.downtime_ms)),
            "max_app_write_downtime_ms" => {
                within(&g.unknown, "writes", Figure::Measured(g.write_downtime_ms))
            }
            "max_probe_downtime_ms" => {
                within(&g.unknown, "probe", Figure::Measured(g.probe_downtime_ms))
            }
            "max_lost_acknowledged_writes" => within(
                &self.checks.unknown,
                "lost_writes",
                count(g.lost_acknowledged_writes),
            ),
            "max_app_failed_ops" => within(&g.app.unknown, "ops", count(g.app.ops_failed)),
            "max_stale_reads" => stale(|s| s.stale_reads as f64),
            "max_staleness_ms" => stale(|s| s.staleness_ms.max),
            "max_p99_baseline_ms" => p99_in(self, &g.app, "baseline"),
            "max_p99_during_ms" => p99_in(self, &g.app, "during"),
            "max_p99_after_ms" => p99_in(self, &g.app, "after"),
            _ => {
                return not_measured(&format!(
                    "`{name}` is not an SLO a region's clients have apart"
                ));
            }
        };
        distrusted(figure, self.incomplete.history.as_ref())
    }
}
