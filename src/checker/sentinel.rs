//! The Sentinels' timeline of each fault: from the fault to the first
//! `+sdown` and `+odown` of the primary, to `+elected-leader` and
//! `+switch-master` (the failover done), to the first op a client had
//! answered by the new primary, and to the old primary's `+convert-to-slave`
//! when it came back — each set beside what the topology's
//! `down_after_ms` and `failover_timeout_ms` promise. Pure: the stored
//! run in, [`SentinelReport`] out.
//!
//! An event the tool did not hear is `not seen` only if it was listening
//! to at least one Sentinel over the whole window (then the Sentinels did
//! not publish it: a failover that did not happen); otherwise it is
//! unknown, with why.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::record::Op;
use crate::record::faults::FaultKind;
use crate::record::run::Record;
use crate::record::sentinel::SentinelRecording;
use crate::record::timeline::ms;
use crate::report::sentinel::{SentinelReport, SentinelStep, SentinelTimeline, SplitBrain};

/// How long after `down_after_ms` a Sentinel may take to mark the primary
/// down: it PINGs every instance once a second, so the first unanswered
/// PING can come up to a second after the fault.
pub const SDOWN_SLACK_MS: f64 = 1000.0;

/// The steps of a failover, in the order a Sentinel publishes them.
const STEPS: [&str; 5] = [
    "+sdown",
    "+odown",
    "+elected-leader",
    "+switch-master",
    "+convert-to-slave",
];

/// The report's `sentinel` section: `None` without Sentinels.
pub fn check(
    r: &Record,
    history: &[Op],
    rec: Option<&SentinelRecording>,
) -> Option<SentinelReport> {
    let settings = r.sentinel.as_ref()?;
    let names: Vec<String> = settings.members.iter().map(|m| m.name.clone()).collect();
    let mut out = SentinelReport {
        master_name: settings.master_name.clone(),
        sentinels: names.clone(),
        quorum: settings.quorum,
        down_after_ms: settings.down_after_ms,
        failover_timeout_ms: settings.failover_timeout_ms,
        events: BTreeMap::new(),
        timelines: Vec::new(),
        writes_per_bucket: writes_per_bucket(history),
        unknown: BTreeMap::new(),
    };
    let Some(rec) = rec else {
        out.unknown.insert(
            "events".into(),
            format!("the run has no {}", crate::record::sentinel::SENTINEL_FILE),
        );
        return Some(out);
    };
    for e in rec.events.iter().filter(|e| e.is_sentinels()) {
        *out.events.entry(e.event.clone()).or_default() += 1;
    }
    // Every address a node was seen at, to its name.
    let name_of = |a: SocketAddr| -> String {
        (r.topology.nodes.iter())
            .chain(&r.topology_after.nodes)
            .find(|n| n.announce == a || n.address == a)
            .map_or_else(|| a.to_string(), |n| n.name.clone())
    };
    // A start, resume or heal is the end of a fault, not one of its own:
    // the old primary's return belongs to its kill's timeline.
    let faults: Vec<_> = (r.faults.iter())
        .filter(|w| {
            w.skipped.is_none()
                && !matches!(
                    w.fault,
                    FaultKind::Start | FaultKind::Resume | FaultKind::Heal
                )
        })
        .collect();
    // The primary of the moment: the topology's, then each failover's new one.
    let mut primary: Option<String> = (r.topology.nodes.iter())
        .find(|n| n.role == Some(crate::topology::Role::Primary))
        .map(|n| n.name.clone());
    // A fault the Sentinels should answer with a failover: the primary of
    // the moment killed, stopped or paused, or cut off from others by a
    // partition around it (`isolate`, `one_way`), or by any partition that
    // left it apart from a quorum and a majority of the Sentinels (a
    // whole-topology shape — `regions` — as the nemesis judged it); `clients`
    // and `sentinels` cut no Sentinel from it: those ask for none.
    let asks_failover = |w: &crate::record::faults::FaultWindow, primary: Option<&String>| {
        let hits = primary.is_some_and(|p| w.nodes.contains(p));
        hits && match w.fault {
            FaultKind::Kill | FaultKind::Stop | FaultKind::Pause => true,
            FaultKind::Partition => {
                matches!(
                    w.shape,
                    Some(crate::net::Shape::Isolate | crate::net::Shape::OneWay)
                ) || w.primary_cut_from_sentinels
            }
            _ => false,
        }
    };
    for (i, w) in faults.iter().enumerate() {
        let failover_due = asks_failover(w, primary.as_ref());
        // From when applying began, as the faults table counts: the fault
        // took hold somewhere before it returned (a `docker kill` returns
        // ~200 ms after the process is gone).
        let from = w.start_ns;
        // Until the next fault, or the end of the run; for a fault that
        // asks for a failover, until the next one that does (faults beside
        // it, a `clients` cut of the same node, say, do not end its wait).
        let to = (faults.iter().skip(i + 1))
            .find(|n| !failover_due || asks_failover(n, primary.as_ref()))
            .map_or(r.end_ns, |n| n.start_ns);
        let heard = rec
            .events
            .iter()
            .filter(|e| e.is_sentinels() && e.t_ns >= from && e.t_ns <= to);
        let listening = names.iter().filter(|s| rec.covered(s, from, to)).count();
        let mut steps: Vec<SentinelStep> = Vec::new();
        let mut switched: Option<(u64, String, String)> = None;
        for step in STEPS {
            let first = heard.clone().find(|e| {
                e.event == step
                    && match step {
                        "+sdown" | "+odown" => e.instance().is_some_and(|i| i.kind == "master"),
                        _ => true,
                    }
            });
            if step == "+switch-master"
                && let Some(e) = first
                && let Some((old, new)) = e.switch()
            {
                switched = Some((e.t_ns, name_of(old), name_of(new)));
            }
            steps.push(SentinelStep {
                event: step.to_string(),
                after_ms: first.map(|e| ms(e.t_ns.saturating_sub(from))),
                sentinel: first.map(|e| e.sentinel.clone()),
                detail: first.map(|e| e.detail.clone()),
            });
        }
        // The first op a client had answered by the new primary: sent after
        // the fault, ok, served by it.
        let first_success_ms = switched.as_ref().and_then(|(_, _, new)| {
            (history.iter())
                .filter(|o| o.sent_ns >= from && o.is_ok() && o.served_by() == Some(new.as_str()))
                .map(|o| o.end_ns)
                .min()
                .map(|t| ms(t.saturating_sub(from)))
        });
        // After the switch, who wrote where: acknowledged writes the old
        // primary took while the Sentinels named another (a split brain),
        // and the clients on each side.
        let after_switch = |name: &str| -> (u64, Option<u64>, usize) {
            let Some((t_switch, _, _)) = &switched else {
                return (0, None, 0);
            };
            let mut clients: Vec<u32> = Vec::new();
            let (mut n, mut last) = (0u64, None::<u64>);
            for o in history.iter().filter(|o| {
                o.is_write() && o.is_ok() && o.end_ns >= *t_switch && o.served_by() == Some(name)
            }) {
                n += 1;
                last = Some(last.map_or(o.end_ns, |l| l.max(o.end_ns)));
                if !clients.contains(&o.client) {
                    clients.push(o.client);
                }
            }
            (n, last, clients.len())
        };
        let split = switched.as_ref().map(|(t_switch, old, new)| {
            let (on_old, last_old, clients_old) = after_switch(old);
            let (on_new, _, clients_new) = after_switch(new);
            let converted = steps
                .iter()
                .find(|s| s.event == "+convert-to-slave")
                .and_then(|s| s.after_ms);
            SplitBrain {
                writes_on_old: on_old,
                writes_on_new: on_new,
                clients_on_old: clients_old,
                clients_on_new: clients_new,
                last_write_on_old_ms: last_old.map(|t| ms(t.saturating_sub(from))),
                two_primaries_ms: converted.map(|c| c - ms(t_switch.saturating_sub(from))),
            }
        });
        let mut unknown = BTreeMap::new();
        if listening == 0 {
            unknown.insert(
                "events".to_string(),
                format!(
                    "the tool was not listening to any Sentinel from {:.0} ms to {:.0} ms",
                    ms(from),
                    ms(to)
                ),
            );
        }
        let sdown = steps[0].after_ms;
        if let Some((_, _, new)) = &switched {
            primary = Some(new.clone());
        }
        out.timelines.push(SentinelTimeline {
            failover_due,
            fault: format!("{} {}", w.fault, w.target),
            nodes: w.nodes.clone(),
            at_ms: ms(from),
            window_ms: ms(to.saturating_sub(from)),
            listening,
            steps,
            old_primary: switched.as_ref().map(|s| s.1.clone()),
            new_primary: switched.as_ref().map(|s| s.2.clone()),
            first_success_ms,
            sdown_late: sdown.map(|s| s > settings.down_after_ms as f64 + SDOWN_SLACK_MS),
            split_brain: split,
            unknown,
        });
    }
    Some(out)
}

/// Acknowledged writes per node per [`BUCKET_MS`] of the run, by end.
fn writes_per_bucket(history: &[Op]) -> BTreeMap<String, Vec<u32>> {
    let bucket = BUCKET_MS * 1_000_000;
    let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for o in history.iter().filter(|o| o.is_write() && o.is_ok()) {
        let Some(node) = o.served_by() else { continue };
        let b = (o.end_ns / bucket) as usize;
        let v = out.entry(node.to_string()).or_default();
        if v.len() <= b {
            v.resize(b + 1, 0);
        }
        v[b] += 1;
    }
    out
}

/// The buckets of [`SentinelReport::writes_per_bucket`], ms.
pub const BUCKET_MS: u64 = 100;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::sentinel::{LISTENING, SentinelEvent};

    fn ev(t_ms: u64, s: &str, event: &str, detail: &str) -> SentinelEvent {
        SentinelEvent {
            t_ns: t_ms * 1_000_000,
            sentinel: s.into(),
            event: event.into(),
            detail: detail.into(),
        }
    }

    fn record() -> Record {
        let node = |name: &str, port: u16| {
            serde_json::json!({"name": name, "role": "primary", "region": "default",
                "address": format!("127.0.5.{port}:6379"), "announce": format!("127.0.5.{port}:6379"),
                "slots": 0, "slot_ranges": [], "keys": 0, "used_memory_bytes": 0})
        };
        let status = serde_json::json!({"name": "t", "run_id": "r", "runtime": "process",
            "kind": "replicated", "nodes": [node("n1", 2), node("n2", 3)], "cluster": null});
        let mut v = serde_json::json!({
            "record_version": crate::record::RECORD_VERSION, "scenario": "t", "slo": {},
            "seed": 1, "started_at": "2026-11-22T00:00:00Z", "epoch_monotonic_ns": 0,
            "environment": {"runtime": "process", "redis_version": "7.0.15", "image": "",
                "host_cores": 2, "client_path": "host loopback", "redis_drill_version": "0"},
            "app_clients": 1, "probe_clients": 0, "max_tool_lag_ms": 1.0, "reference_ping_ms": 0,
            "node_timeout_ms": 2000, "worst_rank": 0, "topology": status,
            "topology_after": status, "slot_owners": [],
            "phases": [{"name": "baseline", "start_ns": 0, "end_ns": 1000}],
            "events": [], "reshard": null, "convergence_ms": 0.0,
            "end_ns": 20_000_000_000u64, "engine": crate::record::WorkloadStats::default(),
            "server": {}, "cluster_check_ok": true, "cluster_check": [], "stray_keys": 0
        });
        v["faults"] = serde_json::json!([{"fault": "kill", "target": "primary_of:0",
            "nodes": ["n1"], "primaries": ["n1"], "detail": "", "start_ns": 1_000_000_000u64,
            "applied_ns": 1_000_000_000u64, "undo": null, "undo_start_ns": null,
            "undone_ns": null, "promoted_ms": null}]);
        v["sentinel"] = serde_json::json!({"master_name": "t", "quorum": 2,
            "down_after_ms": 2000, "failover_timeout_ms": 10000, "parallel_syncs": 1,
            "members": [
                {"name": "sentinel1", "region": "default", "host": null, "field": "sentinel"},
                {"name": "sentinel2", "region": "default", "host": null, "field": "sentinel"}]});
        serde_json::from_value(v).expect("a record")
    }

    #[test]
    fn a_failover_is_timed_from_the_fault_step_by_step() {
        let r = record();
        let rec = SentinelRecording {
            events: vec![
                ev(0, "sentinel1", LISTENING, ""),
                ev(0, "sentinel2", LISTENING, ""),
                ev(3100, "sentinel2", "+sdown", "master t 127.0.5.2 6379"),
                ev(
                    3150,
                    "sentinel2",
                    "+odown",
                    "master t 127.0.5.2 6379 #quorum 2/2",
                ),
                ev(
                    3200,
                    "sentinel2",
                    "+elected-leader",
                    "master t 127.0.5.2 6379",
                ),
                ev(
                    4000,
                    "sentinel1",
                    "+switch-master",
                    "t 127.0.5.2 6379 127.0.5.3 6379",
                ),
            ],
        };
        let s = check(&r, &[], Some(&rec)).expect("a section");
        let t = &s.timelines[0];
        assert_eq!(t.listening, 2);
        let at = |e: &str| t.steps.iter().find(|s| s.event == e).unwrap().after_ms;
        assert_eq!(at("+sdown"), Some(2100.0));
        assert_eq!(at("+switch-master"), Some(3000.0));
        assert_eq!(
            at("+convert-to-slave"),
            None,
            "not seen: the old primary never came back"
        );
        assert_eq!(t.new_primary.as_deref(), Some("n2"));
        assert_eq!(t.old_primary.as_deref(), Some("n1"));
        assert_eq!(t.sdown_late, Some(false), "2100 ms is within 2000 + 1000");
        assert!(t.unknown.is_empty());
        assert_eq!(s.events["+sdown"], 1);
    }

    /// An acknowledged app SET, `t_ms` after the run began, answered by `node`.
    fn write(client: u32, node: &str, t_ms: u64, kind: &str) -> Op {
        serde_json::from_value(serde_json::json!({"client": client, "mode": "app",
            "kind": kind, "key": "drill:1", "slot": 1, "value": "v", "due_ns": t_ms * 1_000_000,
            "sent_ns": t_ms * 1_000_000, "end_ns": t_ms * 1_000_000 + 500_000, "node": node,
            "redirects": 0, "outcome": "ok"}))
        .expect("an op")
    }

    #[test]
    fn a_split_brain_counts_who_wrote_where_after_the_switch() {
        let r = record();
        let rec = SentinelRecording {
            events: vec![
                ev(0, "sentinel1", LISTENING, ""),
                ev(
                    4000,
                    "sentinel2",
                    "+switch-master",
                    "t 127.0.5.2 6379 127.0.5.3 6379",
                ),
                ev(
                    9000,
                    "sentinel2",
                    "+convert-to-slave",
                    "slave 127.0.5.2:6379 127.0.5.2 6379 @ t 127.0.5.3 6379",
                ),
            ],
        };
        let history = vec![
            write(0, "n1", 3000, "set"), // before the switch: not counted
            write(0, "n1", 5000, "set"),
            write(1, "n1", 6000, "set"),
            write(1, "n1", 6500, "get"), // a read is not a write
            write(2, "n2", 7000, "set"),
        ];
        let s = check(&r, &history, Some(&rec)).unwrap();
        let sb = s.timelines[0].split_brain.as_ref().expect("a split");
        assert_eq!((sb.writes_on_old, sb.clients_on_old), (2, 2));
        assert_eq!((sb.writes_on_new, sb.clients_on_new), (1, 1));
        assert_eq!(
            sb.last_write_on_old_ms,
            Some(5000.5),
            "6000.5 ms after the run began"
        );
        assert_eq!(sb.two_primaries_ms, Some(5000.0));
        assert_eq!(s.timelines[0].first_success_ms, Some(6000.5));
        // Per node, per 100 ms by end: n1's three writes (3000.5, 5000.5,
        // 6000.5 ms), n2's one.
        assert_eq!(s.writes_per_bucket["n1"].iter().sum::<u32>(), 3);
        assert_eq!(s.writes_per_bucket["n1"][50], 1);
        assert_eq!(s.writes_per_bucket["n2"].len(), 71);
    }

    #[test]
    fn a_retried_write_counts_for_the_node_that_answered_it() {
        let r = record();
        let rec = SentinelRecording {
            events: vec![
                ev(0, "sentinel1", LISTENING, ""),
                ev(
                    4000,
                    "sentinel2",
                    "+switch-master",
                    "t 127.0.5.2 6379 127.0.5.3 6379",
                ),
            ],
        };
        // Sent to the dead n1 first, answered by n2 on a retry: n2's write.
        let mut retried = write(0, "n1", 5000, "set");
        retried.served = Some("n2".into());
        let s = check(&r, &[retried], Some(&rec)).unwrap();
        let t = &s.timelines[0];
        let sb = t.split_brain.as_ref().expect("after a switch");
        assert_eq!((sb.writes_on_old, sb.writes_on_new), (0, 1), "{sb:?}");
        assert_eq!(sb.last_write_on_old_ms, None);
        assert_eq!(t.first_success_ms, Some(4000.5));
        assert!(
            !s.writes_per_bucket.contains_key("n1"),
            "{:?}",
            s.writes_per_bucket
        );
    }

    #[test]
    fn a_failover_that_never_came_waits_past_faults_beside_it() {
        let mut r = record();
        // The kill of n1, then 500 ms later a `clients` cut of n1 as well:
        // the second asks for no failover and does not end the first's wait.
        let clients_cut: crate::record::faults::FaultWindow =
            serde_json::from_value(serde_json::json!({
            "fault": "partition", "target": "primary_of:0", "nodes": ["n1"], "primaries": ["n1"],
            "detail": "clients | n1", "shape": "clients", "start_ns": 1_500_000_000u64,
            "applied_ns": 1_500_000_000u64, "undo": null, "undo_start_ns": null,
            "undone_ns": null, "promoted_ms": null}))
            .unwrap();
        r.faults.push(clients_cut);
        let rec = SentinelRecording {
            events: vec![
                ev(0, "sentinel1", LISTENING, ""),
                ev(0, "sentinel2", LISTENING, ""),
                ev(3100, "sentinel2", "+sdown", "master t 127.0.5.2 6379"),
            ],
        };
        let s = check(&r, &[], Some(&rec)).unwrap();
        let (kill, cut) = (&s.timelines[0], &s.timelines[1]);
        assert!(kill.failover_due && !cut.failover_due, "{s:#?}");
        assert_eq!(
            kill.window_ms, 19_000.0,
            "to the end of the run, past the clients' cut"
        );
        assert_eq!(cut.window_ms, 18_500.0);
        assert_eq!(kill.listening, 2);
        let at = |e: &str| kill.steps.iter().find(|x| x.event == e).unwrap().after_ms;
        assert_eq!(at("+sdown"), Some(2100.0));
        assert_eq!(
            at("+odown"),
            None,
            "not seen while both were heard: no quorum agreed"
        );
        assert_eq!(kill.new_primary, None);
        assert!(kill.unknown.is_empty());
    }

    #[test]
    fn silence_is_unknown_unless_a_sentinel_was_heard_throughout() {
        let r = record();
        // Listening began after the fault: nothing heard proves nothing.
        let rec = SentinelRecording {
            events: vec![ev(1500, "sentinel1", LISTENING, "")],
        };
        let s = check(&r, &[], Some(&rec)).unwrap();
        assert_eq!(s.timelines[0].listening, 0);
        assert!(s.timelines[0].unknown.contains_key("events"));
        // No recording at all: the whole section's events are unknown.
        let s = check(&r, &[], None).unwrap();
        assert!(s.unknown.contains_key("events"));
        assert!(s.timelines.is_empty());
        // Without Sentinels, no section.
        let mut plain = record();
        plain.sentinel = None;
        assert!(check(&plain, &[], Some(&rec)).is_none());
    }
}
