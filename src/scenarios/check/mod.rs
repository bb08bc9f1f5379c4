//! The check stage: from what a drill recorded to its report. A drill stores
//! its run before anything is checked, and the check reads nothing else —
//! no network, no clock — so `redis-drill check-run` computes the same
//! report again from a stored run.
//!
//! One protocol, as Jepsen's `checker.clj` has it: every checker takes the
//! stored run ([`Run`]: the record and what every checker derives from it
//! alike) and returns its section of the report, each figure measured or
//! listed as `unknown` with why; [`compose`] runs them all into
//! [`Sections`]; the SLO table ([`slo`]) reads the sections, never loose
//! fields; [`check`] assembles the report.
//!
//! - [`run`]         — [`Run`]: the ops by kind of client, the keys before
//!   and after, the lost-write and stale-read judgements, how downtime is cut.
//! - [`data`]        — what became of the data (`checks`).
//! - [`clients`]     — what each kind of client saw, and the self-check
//!   (`workload`); each region's clients apart (`client_regions`).
//! - [`libraries`]   — each client library's clients apart, when the drill
//!   ran more than redis-rs (`client_libraries`).
//! - [`downtime`]    — availability by invocation, per shard and split part
//!   (`downtime_ms`).
//! - [`faults`]      — each fault, its failover and rejoin, and the
//!   downtime while it was the latest (`faults`).
//! - [`convergence`] — the drill's convergence against the watcher's
//!   recording (`convergence_ms`, `convergence_seen_ms`).
//! - [`links`]       — each link's round trips against its declared one.
//! - [`shards`]      — the ops by shard and slot: a hot slot's skew
//!   (`shards`).
//! - [`slo`]         — every SLO, declared once: what it reads, when it is
//!   `unknown`.
//! - [`verdict`]     — the SLOs judged, the run's own checks, the verdict.

pub mod slo;

mod clients;
mod convergence;
mod data;
mod downtime;
mod faults;
mod libraries;
mod linearizability;
mod links;
mod run;
mod shards;
mod verdict;

pub(crate) use convergence::Converged;
pub(crate) use libraries::BUCKET_MS as LIBRARY_BUCKET_MS;
pub(crate) use run::Run;

use crate::checker;
use crate::record::Stored;
use crate::record::run::Record;
use crate::record::timeline::{Event, ms};
use crate::report::{
    self, Checks, ClientRegion, DowntimeSummary, EventMs, FaultReport, LinkReport, LocksReport,
    PhaseMs, ReferenceSummary, Report, ReshardSummary, WorkloadSummary,
};

/// One checker: the stored run in, its section of the report out. A
/// checker never touches the system, and says of every figure it cannot
/// establish that it is `unknown`, and why.
pub(crate) trait Checker {
    type Section;
    fn check(&self, run: &Run) -> Self::Section;
}

/// The lock checker: the lock workload's history, when the drill ran one
/// ([`checker::locks`]).
struct Locks;

impl Checker for Locks {
    type Section = Option<LocksReport>;

    fn check(&self, run: &Run) -> Option<LocksReport> {
        run.stored.locks.as_ref().map(checker::locks::check)
    }
}

/// Why a source of figures is incomplete: every figure from it is then
/// `unknown`, with this reason.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Incomplete {
    /// The clients' history lacks ops they ran.
    pub history: Option<String>,
    /// The watcher's recording ends early for some node.
    pub watch: Option<String>,
}

/// Every checker's section of one run: what the SLO table reads and the
/// report is made of.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sections {
    pub checks: Checks,
    pub workload: WorkloadSummary,
    pub regions: Vec<ClientRegion>,
    pub libraries: Vec<report::ClientLibrary>,
    pub downtime: DowntimeSummary,
    pub faults: Vec<FaultReport>,
    pub convergence: Converged,
    pub reshard: Option<ReshardSummary>,
    pub locks: Option<LocksReport>,
    pub links: Vec<LinkReport>,
    /// The Sentinels' timelines (`None` without Sentinels).
    pub sentinel: Option<crate::report::sentinel::SentinelReport>,
    /// Every key's history against one copy of it (`None` without a
    /// key/value workload).
    pub linearizability: Option<crate::report::linearizability::LinearizabilityReport>,
    /// The ops by shard and slot (`None` but on a cluster).
    pub shards: Option<crate::report::shards::ShardLoad>,
    pub incomplete: Incomplete,
}

/// Run every checker over `run`.
pub(crate) fn compose(run: &Run) -> Sections {
    let r = run.record;
    let regions = clients::Regions.check(run);
    Sections {
        checks: data::Data.check(run),
        workload: clients::Clients.check(run),
        downtime: downtime::Availability { regions: &regions }.check(run),
        regions,
        libraries: libraries::Libraries.check(run),
        faults: faults::Faults.check(run),
        convergence: convergence::Convergence.check(run),
        reshard: r.reshard.clone(),
        locks: Locks.check(run),
        links: links::Links.check(run),
        sentinel: checker::sentinel::check(r, run.history, run.stored.sentinel.as_ref()),
        linearizability: linearizability::Linearizability.check(run),
        shards: shards::Shards.check(run),
        incomplete: Incomplete {
            history: clients::history_incomplete(&r.engine),
            watch: (!run.stored.watch.truncated.is_empty()).then(|| {
                format!(
                    "the watcher's recording of {} stopped at its size limit",
                    run.stored.watch.truncated.join(", ")
                )
            }),
        },
    }
}

/// The report of a stored run: every section, every SLO, the verdict.
pub fn check(s: &Stored) -> Report {
    let run = Run::new(s);
    let sections = compose(&run);
    let judged = verdict::judge(&run, &sections);
    let r = &s.record;
    let ping_p99 = checker::ping_p99_per_second(&s.pings);
    let app_seconds = checker::client_seconds(run.app.iter().copied());
    let probe_seconds = checker::client_seconds(run.probe.iter().copied());
    Report {
        format_version: report::FORMAT_VERSION,
        scenario: r.scenario.clone(),
        seed: r.seed,
        started_at: r.started_at.clone(),
        epoch_monotonic_ns: Some(r.epoch_monotonic_ns),
        environment: r.environment.clone(),
        topology: r.topology.clone(),
        topology_after: Some(r.topology_after.clone()),
        phases: (r.phases.iter())
            .map(|p| PhaseMs {
                name: p.name.clone(),
                start_ms: ms(p.start_ns),
                end_ms: ms(p.end_ns),
            })
            .collect(),
        events: (events(r).iter())
            .map(|e| EventMs {
                at_ms: ms(e.at_ns),
                kind: e.kind.clone(),
                detail: e.detail.clone(),
            })
            .collect(),
        workload: sections.workload,
        downtime_ms: sections.downtime,
        convergence_ms: sections.convergence.measured_ms,
        convergence_seen_ms: sections.convergence.seen_ms,
        reshard: sections.reshard,
        checks: sections.checks,
        slo: judged.slo,
        verdict: judged.verdict,
        expected: judged.expected,
        per_second: (checker::per_second(s.history.iter()).into_iter())
            .map(|sec| {
                let (from, to) = (sec.t_s * 1_000_000_000, (sec.t_s + 1) * 1_000_000_000);
                report::Second {
                    ping_p99_ms: ping_p99.get(&sec.t_s).copied(),
                    // A second in the run without one class's ops: none of theirs ran.
                    app: Some(app_seconds.get(&sec.t_s).copied().unwrap_or_default()),
                    probe: Some(probe_seconds.get(&sec.t_s).copied().unwrap_or_default()),
                    faults: (r.faults.iter())
                        .enumerate()
                        .filter(|(_, w)| w.start_ns < to && w.undone_ns.unwrap_or(r.end_ns) >= from)
                        .map(|(i, _)| i)
                        .collect(),
                    ..sec
                }
            })
            .collect(),
        locks: sections.locks,
        reference: (r.reference_ping_ms > 0).then(|| ReferenceSummary {
            interval_ms: r.reference_ping_ms,
            ping_ms: checker::pings_by_phase(&s.pings, &r.phases),
            server: r.server.clone(),
        }),
        faults: sections.faults,
        links: sections.links,
        client_regions: sections.regions,
        client_libraries: sections.libraries,
        op_log: Some(report::OpLog::of(&s.history)),
        attached: r.attached.clone(),
        sentinel: sections.sentinel,
        linearizability: sections.linearizability,
        shards: sections.shards,
    }
}

/// The drill's events and each fault's (applied, undone), in time order.
fn events(r: &Record) -> Vec<Event> {
    let mut events = r.events.clone();
    for w in &r.faults {
        events.push(Event {
            at_ns: w.start_ns,
            kind: w.fault.to_string(),
            detail: format!("{} [{}] {}", w.target, w.nodes.join(" "), w.detail)
                .trim_end()
                .to_string(),
        });
        if let (Some(u), Some(at)) = (w.undo, w.undone_ns) {
            events.push(Event {
                at_ns: at,
                kind: u.to_string(),
                detail: format!("after {} {}", w.fault, w.target),
            });
        }
        // The user's hooks, each from its start, with how it ended.
        for h in &w.hooks {
            let took = h.end_ns.saturating_sub(h.start_ns) as f64 / 1e6;
            events.push(Event {
                at_ns: h.start_ns,
                kind: "hook".into(),
                detail: format!("{} ({took:.0} ms): {}", h.outcome(), h.command),
            });
        }
    }
    events.sort_by_key(|e| e.at_ns);
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::record::ops::{ClientMode, Op, WorkloadStats};
    use crate::report::Verdict;

    #[test]
    fn a_shard_is_split_by_the_chain_of_its_slots_owners() {
        let mut r = record(serde_json::json!([]));
        let status = |nodes: serde_json::Value| -> crate::record::status::StatusReport {
            serde_json::from_value(serde_json::json!({"name": "t", "run_id": "r",
                "runtime": "process", "kind": "cluster", "nodes": nodes, "cluster": null}))
            .unwrap()
        };
        let node = |name: &str, ranges: &[&str]| {
            serde_json::json!({"name": name, "role": "primary", "region": "default",
                "address": "127.0.0.1:1", "announce": "127.0.0.1:1", "slots": 1,
                "slot_ranges": ranges, "keys": 0, "used_memory_bytes": 0})
        };
        // 3000 of s1n1's slots go to s2n1; s2n1 is killed after 500 of them
        // moved, and its replica s2n2 takes them all in the end.
        r.topology_after = status(serde_json::json!([
            node("s1n1", &["3000-5460"]),
            node("s2n2", &["0-2999", "5461-10922"]),
            node("s3n1", &["10923-16383"]),
        ]));
        let owned = |from, to, node: &str| crate::record::OwnedRange {
            from,
            to,
            node: node.into(),
        };
        r.faults = serde_json::from_value(serde_json::json!([{"fault": "kill",
            "target": "s2n1", "nodes": ["s2n1"], "primaries": ["s2n1"], "detail": "",
            "start_ns": 10, "applied_ns": 20, "undo": null, "undo_start_ns": null,
            "undone_ns": null, "promoted_ms": null}]))
        .unwrap();
        r.faults[0].slot_owners = vec![
            owned(0, 499, "s2n1"),
            owned(500, 5460, "s1n1"),
            owned(5461, 10922, "s2n1"),
            owned(10923, 16383, "s3n1"),
        ];
        let names: Vec<String> = (0..16384u16)
            .map(|s| match s {
                0..=5460 => "s1n1",
                5461..=10922 => "s2n1",
                _ => "s3n1",
            })
            .map(String::from)
            .collect();
        let g = run::split_parts(&r, &names);
        assert_eq!(g[0].as_deref(), Some("s1n1→s2n1→s2n2"));
        assert_eq!(g[499].as_deref(), Some("s1n1→s2n1→s2n2"));
        assert_eq!(g[500].as_deref(), Some("s1n1→s2n2"));
        assert_eq!(g[3000].as_deref(), Some("s1n1 (kept)"));
        // s2n1's own slots moved whole to s2n2 (a failover), s3n1's stayed.
        assert_eq!(g[6000], None);
        assert_eq!(g[12000], None);
    }
    use crate::record::locks::{LOCKS_FILE, LockRecording};
    use crate::record::run::{KeyValues, RECORD_VERSION};
    use crate::record::stampede::StampedeRecording;
    use crate::record::watch;

    /// A minimal record: one phase, no ops, `max_lost_writes: 0` (an SLO's
    /// old name, as a run stored before the rename has it).
    pub(super) fn record(faults: serde_json::Value) -> Record {
        let topology = serde_json::json!({"name": "t", "run_id": "r", "runtime": "process",
            "kind": "cluster", "nodes": [], "cluster": null});
        serde_json::from_value(serde_json::json!({
            "record_version": RECORD_VERSION, "scenario": "t", "slo": {"max_lost_writes": 0.0},
            "seed": 1, "started_at": "2026-11-22T00:00:00Z", "epoch_monotonic_ns": 0,
            "environment": {"runtime": "process", "redis_version": "7.0.15", "image": "",
                "host_cores": 2, "client_path": "host loopback", "redis_drill_version": "0"},
            "app_clients": 1, "probe_clients": 0, "max_tool_lag_ms": 1.0, "reference_ping_ms": 0,
            "node_timeout_ms": 2000, "worst_rank": 0, "topology": topology,
            "topology_after": topology, "slot_owners": [],
            "phases": [{"name": "baseline", "start_ns": 0, "end_ns": 1000}],
            "events": [], "faults": faults, "reshard": null, "convergence_ms": 0.0,
            "end_ns": 1000, "engine": WorkloadStats::default(), "server": {},
            "cluster_check_ok": true, "cluster_check": [], "stray_keys": 0
        }))
        .expect("a valid record")
    }

    /// `record` with no op and one key, read back as it was loaded: its
    /// lost-write figures are measured (0).
    pub(super) fn stored(record: Record) -> Stored {
        Stored {
            record,
            history: Vec::new(),
            pings: Vec::new(),
            watch: watch::Recording::default(),
            keys: vec![KeyValues {
                key: "drill:0".into(),
                initial: "v".into(),
                final_value: Some("v".into()),
            }],
            locks: None,
            keyspace: Vec::new(),
            replication: None,
            stampede: None,
            invalidation: None,
            sentinel: None,
        }
    }

    #[test]
    fn each_regions_clients_are_judged_apart_and_the_worst_region_is_the_downtime() {
        use crate::checker::fixture;
        let mut r = record(serde_json::json!([]));
        r.phases[0].end_ns = 2_000_000_000;
        r.end_ns = 2_000_000_000;
        r.app_clients = 2;
        r.client_regions = vec!["eu".into(), "us".into()];
        let at = |client: u32, op: Op| Op {
            client,
            mode: ClientMode::App,
            ..op
        };
        let timeout = crate::record::ops::Outcome::Indeterminate {
            message: "timed out".into(),
        };
        let mut history = Vec::new();
        // us (client 1) succeeds every 50 ms throughout; eu (client 0)
        // fails from 100 to 600 ms.
        for t in (0..1000).step_by(50) {
            history.push(at(1, fixture::get("k", t, t + 1)));
            let mut eu = at(0, fixture::get("k", t + 10, t + 11));
            if (100..600).contains(&t) {
                eu.outcome = timeout.clone();
            }
            history.push(eu);
        }
        // us writes b, then eu's later write of a is acknowledged and lost.
        history.push(at(1, fixture::set("k", "b", 700, 701)));
        history.push(at(0, fixture::set("k", "a", 800, 801)));
        history.sort_by_key(|o| o.due_ns);
        let mut st = stored(r);
        st.history = history;
        st.keys = vec![KeyValues {
            key: "k".into(),
            initial: "x".into(),
            final_value: Some("b".into()),
        }];
        let report = check(&st);
        let [eu, us] = &report.client_regions[..] else {
            panic!("{:?}", report.client_regions.len());
        };
        assert_eq!((eu.region.as_str(), us.region.as_str()), ("eu", "us"));
        assert_eq!((eu.app.clients, us.app.clients), (1, 1));
        // eu: from its last success (60 ms) to its first after (610 ms).
        assert!(
            (549.0..=551.0).contains(&eu.downtime_ms),
            "{}",
            eu.downtime_ms
        );
        assert_eq!(us.downtime_ms, 0.0);
        assert_eq!(
            (eu.lost_acknowledged_writes, us.lost_acknowledged_writes),
            (1, 0)
        );
        // Over every client at once, us's successes close eu's outage; the
        // figure the SLOs read is eu's.
        assert_eq!(report.downtime_ms.max, eu.downtime_ms);
    }

    #[test]
    fn each_regions_writes_split_by_wait_and_its_stale_reads() {
        use crate::checker::fixture;
        let mut r = record(serde_json::json!([]));
        r.client_regions = vec!["eu".into(), "us".into()];
        let at = |client: u32, op: Op| Op {
            client,
            mode: ClientMode::App,
            ..op
        };
        let waited = |op: Op| Op {
            replicas: Some(1),
            ..op
        };
        let read = |client: u32, value: &str, t: u64| Op {
            value: Some(value.into()),
            ..at(client, fixture::get("k", t, t + 1))
        };
        let history = vec![
            // eu (client 0) writes next to the primary: 1 ms, 81 ms with WAIT.
            at(0, fixture::set("k", "c0-1-", 0, 1)),
            waited(at(0, fixture::set("k", "c0-2-", 10, 91))),
            // us (client 1): 80 ms away, 160 ms with WAIT.
            at(1, fixture::set("j", "c1-1-", 100, 180)),
            waited(at(1, fixture::set("j", "c1-2-", 200, 360))),
            // eu reads the newest value; us reads one superseded 400 ms
            // earlier (c0-2- ended at 91), then the newest.
            read(0, "c0-2-", 400),
            read(1, "c0-1-", 491),
            read(1, "c0-2-", 600),
        ];
        let mut st = stored(r);
        st.history = history;
        let report = check(&st);
        let [eu, us] = &report.client_regions[..] else {
            panic!("{:?}", report.client_regions.len());
        };
        let p50 = |l: &crate::checker::Latency| (l.count, l.p50.round());
        assert_eq!(p50(&eu.writes_ms), (1, 1.0));
        assert_eq!(p50(eu.writes_with_wait_ms.as_ref().unwrap()), (1, 81.0));
        assert_eq!(p50(&us.writes_ms), (1, 80.0));
        assert_eq!(p50(us.writes_with_wait_ms.as_ref().unwrap()), (1, 160.0));
        let (eu_st, us_st) = (eu.stale.as_ref().unwrap(), us.stale.as_ref().unwrap());
        assert_eq!((eu_st.reads, eu_st.stale_reads), (1, 0));
        assert_eq!((us_st.reads, us_st.stale_reads), (2, 1));
        assert_eq!(us_st.staleness_ms.max.round(), 400.0);

        // SLOs by region read each region's own figures: us's stale read
        // fails its bound, eu's pass, and the run fails with it.
        let mut r = st.record.clone();
        r.slo_by_region = [
            (
                "eu".to_string(),
                [("max_stale_reads".to_string(), 0.0)].into(),
            ),
            (
                "us".to_string(),
                [
                    ("max_stale_reads".to_string(), 0.0),
                    ("max_staleness_ms".to_string(), 500.0),
                ]
                .into(),
            ),
        ]
        .into();
        st.record = r;
        let report = check(&st);
        let result = |name: &str| {
            let s = report.slo.iter().find(|s| s.name == name).unwrap();
            (s.value, s.result)
        };
        assert_eq!(result("max_stale_reads[eu]"), (Some(0.0), Verdict::Pass));
        assert_eq!(result("max_stale_reads[us]"), (Some(1.0), Verdict::Fail));
        assert_eq!(result("max_staleness_ms[us]").1, Verdict::Pass);
        assert_eq!(report.verdict, Verdict::Fail);
    }

    #[test]
    fn stampede_readers_in_a_region_are_held_to_their_own_slos() {
        use crate::record::stampede::{Read, ReadOutcome, StampedeSpec};
        const MS: u64 = 1_000_000;
        let read = |reader: u32, at: u64, took: u64, outcome: ReadOutcome| Read {
            reader,
            key: 0,
            start_ns: at * MS,
            end_ns: (at + took) * MS,
            outcome,
            polls: 0,
            errors: 0,
        };
        let hit = || ReadOutcome::Hit {
            value: "v|0".into(),
        };
        let spec = StampedeSpec {
            readers: 2,
            regions: vec!["eu".into(), "ap".into()],
            ..Default::default()
        };
        // eu (reader 0) is served in 1 ms; ap (reader 1) in 150 ms, and
        // one of its reads fails.
        let mut reads: Vec<Read> = (0..20).map(|i| read(0, i * 10, 1, hit())).collect();
        reads.extend((0..20).map(|i| read(1, i * 10, 150, hit())));
        reads.push(read(
            1,
            300,
            2000,
            ReadOutcome::Failed {
                message: "timeout".into(),
            },
        ));
        let mut st = stored(record(serde_json::json!([])));
        st.stampede = Some(StampedeRecording {
            spec: Some(spec),
            slot: 0,
            reads,
            computes: Vec::new(),
            unrecorded: 0,
        });
        let limits = |p99: f64| -> BTreeMap<String, f64> {
            [
                ("max_stampede_serve_p99_ms".to_string(), p99),
                ("max_failed_reads".to_string(), 0.0),
                ("max_p99_during_ms".to_string(), 10.0),
            ]
            .into()
        };
        st.record.slo_by_region = [
            ("eu".to_string(), limits(10.0)),
            ("ap".to_string(), limits(100.0)),
        ]
        .into();
        let report = check(&st);
        let result = |name: &str| {
            let s = report.slo.iter().find(|s| s.name == name).unwrap();
            (s.value, s.result)
        };
        assert_eq!(
            result("max_stampede_serve_p99_ms[eu]"),
            (Some(1.0), Verdict::Pass)
        );
        assert_eq!(result("max_failed_reads[eu]"), (Some(0.0), Verdict::Pass));
        assert_eq!(
            result("max_stampede_serve_p99_ms[ap]"),
            (Some(150.0), Verdict::Fail)
        );
        assert_eq!(result("max_failed_reads[ap]"), (Some(1.0), Verdict::Fail));
        // No key/value clients in eu: their SLO there is not known, not passed.
        assert_eq!(result("max_p99_during_ms[eu]"), (None, Verdict::Unknown));
    }

    #[test]
    fn a_fault_that_missed_its_moment_fails_the_run() {
        let window = |mistimed: Option<&str>| {
            serde_json::json!([{"fault": "kill", "target": "primary_of:0", "nodes": ["s1n1"],
                "primaries": [], "detail": "", "start_ns": 10, "applied_ns": 20, "undo": null,
                "undo_start_ns": null, "undone_ns": null, "promoted_ms": null,
                "mistimed": mistimed}])
        };
        let on_time = check(&stored(record(window(None))));
        assert_eq!(on_time.verdict, Verdict::Pass, "{:?}", on_time.slo);
        let late = check(&stored(record(window(Some("the reshard ended first")))));
        assert_eq!(late.verdict, Verdict::Fail);
        let timing = late.slo.iter().find(|s| s.name == "fault_timing").unwrap();
        assert!(
            timing
                .note
                .as_deref()
                .unwrap()
                .contains("the reshard ended first")
        );
        // Its events: the fault, merged into the drill's.
        assert_eq!(late.events[0].kind, "kill");
    }

    #[test]
    fn a_fault_the_runtime_could_not_perform_makes_the_run_unknown() {
        let window = |skipped: Option<&str>, mistimed: Option<&str>| {
            serde_json::json!([{"fault": "partition", "target": "isolate", "nodes": ["s1n1"],
                "primaries": [], "detail": "", "start_ns": 10, "applied_ns": 20, "undo": null,
                "undo_start_ns": null, "undone_ns": null, "promoted_ms": null,
                "mistimed": mistimed, "skipped": skipped}])
        };
        let done = check(&stored(record(window(None, None))));
        assert_eq!(done.verdict, Verdict::Pass, "{:?}", done.slo);
        assert!(done.faults[0].skipped.is_none());
        let r = check(&stored(record(window(Some("needs root"), None))));
        assert_eq!(r.verdict, Verdict::Unknown, "{:?}", r.slo);
        let s = r.slo.iter().find(|s| s.name == "faults_performed").unwrap();
        let note = s.note.as_deref().unwrap();
        assert!(
            note.contains("partition isolate: not performed: needs root"),
            "{note}"
        );
        assert_eq!(r.faults[0].skipped.as_deref(), Some("needs root"));
        // A failure elsewhere still fails the run.
        let both = check(&stored(record(window(Some("needs root"), Some("late")))));
        assert_eq!(both.verdict, Verdict::Fail);
    }

    #[test]
    fn a_run_stored_under_an_old_slo_name_is_checked_under_the_new_one() {
        let r = check(&stored(record(serde_json::json!([]))));
        let names: Vec<&str> = r.slo.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["max_lost_keys"]);
        assert_eq!(r.slo[0].result, Verdict::Pass);
    }

    /// A run with a lock workload keeps its history in `locks.jsonl`; the
    /// report's `locks` section and the lock SLOs come from it.
    #[test]
    fn a_lock_history_is_stored_checked_and_judged() {
        use crate::record::locks::{Algorithm, Grant, LockEnd, LockEvent, LockSetup};
        let grant = |worker: u32, end_ns: u64| {
            LockEvent::Grant(Grant {
                worker,
                lock: 0,
                acquisition: 0,
                token: format!("w{worker}"),
                fence: u64::from(worker) + 1,
                start_ns: end_ns - 1_000_000,
                end_ns,
                attempt_start_ns: end_ns - 1_000_000,
                validity_ns: 90_000_000,
                attempts: 1,
                granted_on: vec!["n1".into()],
            })
        };
        let mut s = stored(record(serde_json::json!([])));
        s.record.slo = BTreeMap::from([
            ("max_lock_violations".to_string(), 0.0),
            ("min_grants_per_s".to_string(), 1.0),
        ]);
        s.locks = Some(LockRecording {
            setup: LockSetup {
                algorithm: Algorithm::Single,
                instances: vec!["n1".into()],
                quorum: 1,
                workers: 2,
                locks: 1,
                ttl_ms: 100,
                drift_ms: 3.0,
                instance_timeout_ms: 10,
                check_validity: true,
                extend: false,
                resources: vec![],
                wait: None,
                seed: 1,
                started_ns: 0,
                regions: Vec::new(),
                counter: false,
                atomic_workers: 0,
            },
            // Both hold lock 0 from 11 ms: one violation.
            events: vec![grant(0, 10_000_000), grant(1, 11_000_000)],
            end: LockEnd {
                stopped_ns: 1_000_000_000,
                ..Default::default()
            },
        });
        let dir = tempfile::tempdir().unwrap();
        s.write(dir.path()).unwrap();
        assert!(dir.path().join(LOCKS_FILE).is_file());
        let r = check(&Stored::read(dir.path()).unwrap());
        let locks = r.locks.as_ref().expect("a locks section");
        assert_eq!((locks.grants, locks.violations), (2, 1));
        let result = |name: &str| r.slo.iter().find(|x| x.name == name).unwrap().result;
        assert_eq!(result("max_lock_violations"), Verdict::Fail);
        assert_eq!(result("min_grants_per_s"), Verdict::Pass);
        // A run without one has no section, and reads back without the file.
        let plain = stored(record(serde_json::json!([])));
        let other = tempfile::tempdir().unwrap();
        plain.write(other.path()).unwrap();
        assert!(check(&Stored::read(other.path()).unwrap()).locks.is_none());
    }

    #[test]
    fn a_stored_run_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let s = stored(record(serde_json::json!([])));
        s.write(dir.path()).unwrap();
        let back = Stored::read(dir.path()).unwrap();
        assert_eq!(
            serde_json::to_value(check(&back)).unwrap(),
            serde_json::to_value(check(&s)).unwrap()
        );
        // Another version is refused, naming the file.
        let mut other = s.record.clone();
        other.record_version = RECORD_VERSION + 1;
        std::fs::write(
            dir.path().join("record.json"),
            serde_json::to_vec_pretty(&other).unwrap(),
        )
        .unwrap();
        let err = Stored::read(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("record.json") && err.contains("record version"),
            "{err}"
        );
    }
}
