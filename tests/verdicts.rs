//! Verdicts that cannot pass what was not measured: a stored run of a
//! reshard drill, built here op by op (a cluster of three shards, 2000 of
//! s1n1's slots moved to s2n1, four app clients and a probe at 500 ops/s),
//! that `redis-drill check-run` passes, then tampered with the way an
//! adversary or a bug would — an outage hidden by hung ops or by the slots
//! that stayed, keys never read back, a history cut short, clients or shards
//! without ops, a phase that mostly failed, impossible times, an unreadable
//! primary, a convergence the recording contradicts — each checked again by
//! the real binary, which must not say PASS and must name the cause.
//!
//! No server is started: `cargo test --test verdicts` (`just verdicts`)
//! runs them all in a few seconds.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{BIN, Bounded};
use redis_drill::exit;
use redis_drill::record::ops::{ClientMode, ErrorKind, Op, OpKind, Outcome};
use redis_drill::record::pings::Ping;
use redis_drill::record::watch::{PeerFlags, PeerView, Recording, Role, Sample};
use redis_drill::record::{KeyValues, Record, Stored};
use redis_drill::report::{Report, SloResult, Verdict};
use redis_drill::slots::key_slot;
use serde_json::{Value, json};

const MS: u64 = 1_000_000;
/// Four app clients and one probe (client 4), ops every 2 ms in turn.
const APP_CLIENTS: u32 = 4;
const STEP_MS: u64 = 2;
/// The run's end, and its phases: the reshard from 2000 to 3000 ms, every
/// node agreeing 30 ms later.
const END_MS: u64 = 5000;
const KEYS: usize = 600;

/// Who owns a slot before the drill.
fn shard_before(slot: u16) -> &'static str {
    match slot {
        0..=5460 => "s1n1",
        5461..=10922 => "s2n1",
        _ => "s3n1",
    }
}

fn moved(slot: u16) -> bool {
    slot < 2000
}

fn node(name: &str, primary: bool, ranges: &[&str], keys: Option<u64>) -> Value {
    let port = 7000 + name[1..2].parse::<u16>().unwrap() * 10 + name[3..].parse::<u16>().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let slots: usize = ranges
        .iter()
        .map(|r| match r.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
            None => 1,
        })
        .sum();
    json!({"name": name, "role": if primary { "primary" } else { "replica" },
        "region": "default", "address": addr, "announce": addr,
        "replica_of": (!primary).then(|| format!("{}1", &name[..3])),
        "slots": slots, "slot_ranges": ranges, "keys": keys,
        "used_memory_bytes": 1_000_000, "cluster_state": "ok"})
}

fn topology(after: bool) -> Value {
    let (s1, s2): (&[&str], &[&str]) = if after {
        (&["2000-5460"], &["0-1999", "5461-10922"])
    } else {
        (&["0-5460"], &["5461-10922"])
    };
    json!({"name": "synthetic", "run_id": "r-test", "runtime": "process", "kind": "cluster",
        "nodes": [node("s1n1", true, s1, Some(200)), node("s1n2", false, &[], Some(200)),
                  node("s2n1", true, s2, Some(200)), node("s2n2", false, &[], Some(200)),
                  node("s3n1", true, &["10923-16383"], Some(200)),
                  node("s3n2", false, &[], Some(200))],
        "cluster": {"state": "ok", "slots_assigned": 16384, "nodes_agree": true}})
}

/// The SLOs of the base run: a reshard's, with a failover's downtime and
/// latency bounds, and no bound on indeterminate ops.
fn slos() -> BTreeMap<String, f64> {
    [
        ("max_lost_keys", 0.0),
        ("max_lost_acknowledged_writes", 0.0),
        ("max_stale_reads", 0.0),
        ("max_keys_missing", 0.0),
        ("max_app_failed_ops", 10.0),
        ("max_probe_failed_ops", 10.0),
        ("max_app_downtime_ms", 100.0),
        ("max_app_write_downtime_ms", 100.0),
        ("max_probe_downtime_ms", 100.0),
        ("max_p99_during_ms", 50.0),
        ("max_p99_after_ms", 50.0),
        ("max_app_error_ratio", 0.05),
        ("max_convergence_ms", 2000.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The keys of the drill: `drill:0..KEYS`.
fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("drill:{i}")).collect()
}

/// One view of the cluster by `observer` at `at_ms`: everyone healthy,
/// agreeing on the owners before or after the move.
fn sample(observer: &str, at_ms: u64, after_move: bool) -> Sample {
    let owners: [(&str, usize); 3] = if after_move {
        [("s1n1", 3461), ("s2n1", 7461), ("s3n1", 5461)]
    } else {
        [("s1n1", 5461), ("s2n1", 5462), ("s3n1", 5461)]
    };
    let peers = ["s1n1", "s1n2", "s2n1", "s2n2", "s3n1", "s3n2"]
        .iter()
        .map(|&n| {
            let primary = n.ends_with('1');
            PeerView {
                name: n.into(),
                flags: PeerFlags {
                    myself: n == observer,
                    primary,
                    replica: !primary,
                    pfail: false,
                    fail: false,
                },
                replica_of: (!primary).then(|| format!("{}1", &n[..3])),
                slots: owners.iter().find(|(o, _)| *o == n).map_or(0, |(_, s)| *s),
                link_connected: true,
            }
        })
        .collect();
    Sample {
        at_ns: at_ms * MS + 300_000,
        sent_ns: at_ms * MS,
        observer: observer.into(),
        reachable: true,
        error: None,
        state_ok: true,
        epoch: 6,
        role: Some(if observer.ends_with('1') {
            Role::Primary
        } else {
            Role::Replica
        }),
        repl_offset: Some(1000),
        link_up: (!observer.ends_with('1')).then_some(true),
        peers,
    }
}

/// The base run: every op answered in 0.3 ms, reads returning the latest
/// acknowledged write, every key read back as it was last written, the
/// watcher seeing every node agree on the new owners from 3010 ms (10 ms
/// after the move's end). Its check passes.
fn base() -> Stored {
    let keys = keys();
    let mut value: Vec<String> = (0..KEYS).map(|i| format!("init-{i}")).collect();
    let initial = value.clone();
    let mut history = Vec::new();
    let mut n = 0u64;
    let mut t = 1;
    while t < END_MS {
        let client = (n % u64::from(APP_CLIENTS + 1)) as u32;
        let k = ((n * 7919) % KEYS as u64) as usize;
        let write = n.is_multiple_of(2);
        let sent = t * MS;
        history.push(Op {
            client,
            mode: if client < APP_CLIENTS {
                ClientMode::App
            } else {
                ClientMode::Probe
            },
            kind: if write { OpKind::Set } else { OpKind::Get },
            key: keys[k].clone(),
            slot: key_slot(keys[k].as_bytes()),
            value: Some(if write {
                value[k] = format!("v{n}");
                value[k].clone()
            } else {
                value[k].clone()
            }),
            due_ns: sent,
            sent_ns: sent,
            end_ns: sent + 300_000,
            pool_wait_ns: 0,
            node: (client >= APP_CLIENTS)
                .then(|| shard_before(key_slot(keys[k].as_bytes())).to_string()),
            served: None,
            redirects: 0,
            outcome: Outcome::Ok,
            replicas: None,
            ttl_ms: None,
            members: Vec::new(),
            values: Vec::new(),
        });
        n += 1;
        t += STEP_MS;
    }
    let keys: Vec<KeyValues> = (0..KEYS)
        .map(|i| KeyValues {
            key: keys[i].clone(),
            initial: initial[i].clone(),
            final_value: Some(value[i].clone()),
        })
        .collect();
    // While the slots move, s3's nodes still see the old owners; from
    // 3010 ms every node sees the new ones.
    let mut samples = Vec::new();
    for at in (0..END_MS).step_by(50) {
        for n in ["s1n1", "s1n2", "s2n1", "s2n2", "s3n1", "s3n2"] {
            let new = at >= 3010 || (at >= 2000 && !n.starts_with("s3"));
            samples.push(sample(n, at, new));
        }
    }
    let pings: Vec<Ping> = (0..END_MS)
        .step_by(100)
        .flat_map(|at| {
            ["s1n1", "s2n1", "s3n1"].map(|n| Ping {
                node: n.into(),
                due_ns: at * MS,
                sent_ns: at * MS,
                end_ns: at * MS + 200_000,
                ok: true,
            })
        })
        .collect();
    let record: Record = serde_json::from_value(json!({
        "record_version": redis_drill::record::RECORD_VERSION,
        "scenario": "synthetic-reshard", "slo": slos(), "seed": 1,
        "started_at": "2026-11-25T00:00:00Z", "epoch_monotonic_ns": 0,
        "environment": {"runtime": "process", "redis_version": "7.0.15", "image": "",
            "host_cores": 2, "client_path": "host loopback", "redis_drill_version": "test"},
        "app_clients": APP_CLIENTS, "probe_clients": 1, "max_tool_lag_ms": 1.0,
        "reference_ping_ms": 100, "node_timeout_ms": 2000, "worst_rank": 0,
        "topology": topology(false), "topology_after": topology(true),
        "slot_owners": [{"from": 0, "to": 5460, "node": "s1n1"},
                        {"from": 5461, "to": 10922, "node": "s2n1"},
                        {"from": 10923, "to": 16383, "node": "s3n1"}],
        "phases": [{"name": "baseline", "start_ns": 0, "end_ns": 2000 * MS},
                   {"name": "during", "start_ns": 2000 * MS, "end_ns": 3000 * MS},
                   {"name": "recovery", "start_ns": 3000 * MS, "end_ns": 3030 * MS},
                   {"name": "after", "start_ns": 3030 * MS, "end_ns": END_MS * MS}],
        "events": [], "faults": [],
        "reshard": {"from": ["s1n1"], "to": ["s2n1"], "slots_moved": 2000, "keys_moved": 70,
            "bytes_moved": 7000, "duration_ms": 1000.0, "keys_per_s": 70.0,
            "slots_per_s": 2000.0},
        "convergence_ms": 30.0, "end_ns": END_MS * MS,
        "engine": {"model": "open", "ops_dispatched": history.len(), "peak_in_flight": 2,
            "max_in_flight": 100, "app_connections": 4, "probe_connections": 1, "threads": 1,
            "priority": null, "dispatcher_max_late_ms": 0.1, "unrecorded": 0,
            "dropped_at_stop": 0, "loops_unfinished": 0},
        "server": {}, "steal_ms": {}, "cluster_check_ok": true, "cluster_check": [],
        "stray_keys": 0, "eviction": "none"
    }))
    .expect("a valid record");
    Stored {
        record,
        history,
        pings,
        watch: Recording {
            interval_ns: 50 * MS,
            observers: ["s1n1", "s1n2", "s2n1", "s2n2", "s3n1", "s3n2"]
                .map(String::from)
                .to_vec(),
            samples,
            ..Recording::default()
        },
        keys,
        locks: None,
        keyspace: Vec::new(),
        replication: None,
        stampede: None,
        invalidation: None,
        sentinel: None,
    }
}

/// `s` stored in a folder of its own.
fn store(s: &Stored) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    s.write(&run).unwrap();
    (dir, run)
}

/// What `check-run --json` made of a folder.
struct Checked {
    code: Option<i32>,
    report: Option<Report>,
    stderr: String,
}

impl Checked {
    fn report(&self) -> &Report {
        self.report
            .as_ref()
            .unwrap_or_else(|| panic!("no report; stderr: {}", self.stderr))
    }

    fn slo(&self, name: &str) -> &SloResult {
        let r = self.report();
        r.slo
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no SLO {name}: {:?}", r.slo))
    }

    /// The SLO `name` is unknown, and its note says `why`.
    fn unknown(&self, name: &str, why: &str) {
        let s = self.slo(name);
        assert_eq!(s.result, Verdict::Unknown, "{s:?}");
        let note = s.note.as_deref().unwrap_or_default();
        assert!(note.contains(why), "{name}: {note:?} does not say {why:?}");
    }

    /// The SLO `name` failed.
    fn failed(&self, name: &str) -> Option<f64> {
        let s = self.slo(name);
        assert_eq!(s.result, Verdict::Fail, "{s:?}");
        s.value
    }

    /// The folder was refused as bad input, naming `what`, and no report
    /// is left in it.
    fn refused(&self, run: &Path, what: &str) {
        assert_eq!(self.code, Some(exit::BAD_INPUT), "{}", self.stderr);
        assert!(
            self.stderr.contains(what),
            "the error does not name {what:?}: {}",
            self.stderr
        );
        for f in redis_drill::report::REPORT_FILES {
            assert!(!run.join(f).exists(), "{f} is still in the folder");
        }
    }
}

fn check_run(run: &Path) -> Checked {
    let out = std::process::Command::new(BIN)
        .args(["check-run", run.to_str().unwrap(), "--json"])
        .env_remove("RUST_LOG")
        .bounded_output()
        .expect("running redis-drill");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("check-run -> {:?}\n{stderr}", out.status.code());
    Checked {
        code: out.status.code(),
        report: serde_json::from_slice(&out.stdout).ok(),
        stderr,
    }
}

/// Store `s` and check it.
fn check(s: &Stored) -> Checked {
    let (_dir, run) = store(s);
    check_run(&run)
}

/// Edit the stored file `name`'s lines (the end line included) as text.
fn edit_lines(run: &Path, name: &str, f: impl FnOnce(&mut Vec<String>)) {
    let path = run.join(name);
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    f(&mut lines);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

/// The end line of a counted JSON-lines file holding `n` entries.
fn end_line(n: usize) -> String {
    format!("{{\"end\":{{\"entries\":{n}}}}}")
}

/// Ops taken out of `s` as if never run: the engine dispatched that many
/// fewer, and every key ends with the last value written by what is left.
fn remove_ops(s: &mut Stored, gone: impl Fn(&Op) -> bool) {
    s.history.retain(|o| !gone(o));
    s.record.engine.ops_dispatched = s.history.len() as u64;
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    for o in s.history.iter().filter(|o| o.kind == OpKind::Set) {
        last.insert(&o.key, o.value.as_deref().unwrap());
    }
    for k in &mut s.keys {
        k.final_value = Some(
            last.get(k.key.as_str())
                .map_or(k.initial.clone(), |v| v.to_string()),
        );
    }
}

/// Ops of `s` with `pick` replaced by `how`.
fn tamper(s: &mut Stored, pick: impl Fn(&Op) -> bool, mut how: impl FnMut(&mut Op)) -> usize {
    let mut n = 0;
    for op in s.history.iter_mut().filter(|o| pick(o)) {
        how(op);
        n += 1;
    }
    n
}

#[test]
fn the_base_run_passes() {
    let c = check(&base());
    assert_eq!(c.code, Some(exit::SUCCESS), "{}", c.stderr);
    let r = c.report();
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.slo);
    assert!(r.unknown_figures().is_empty(), "{:?}", r.unknown_figures());
    assert_eq!(r.checks.keys_checked, KEYS as u64);
    // The first poll after 3010 ms: 3050.
    assert_eq!(r.convergence_seen_ms.map(|v| v.round()), Some(50.0));
}

/// Finding 1: Ops to s1n1 sent from 3500 ms hang until their 1 s timeout; s1n1
/// answers again from 3900 ms. Ordered by their ends the hung ops end
/// after the first successes, and no window opened: 0 ms, PASS. By
/// invocation the clients were without service 400 ms.
#[test]
fn ops_that_hang_past_a_short_outage_are_downtime() {
    let mut s = base();
    let hung = tamper(
        &mut s,
        |o| {
            shard_before(o.slot) == "s1n1"
                && !moved(o.slot)
                && (3500 * MS..3900 * MS).contains(&o.sent_ns)
        },
        |o| {
            o.end_ns = o.sent_ns + 1000 * MS;
            o.outcome = Outcome::Indeterminate {
                message: "timeout: 1 s".into(),
            };
        },
    );
    assert!(hung > 30, "{hung}");
    // Each end of the window within the longest interval between two of
    // the shard's ops of that kind of client.
    let interval = |mode: ClientMode| {
        let sent: Vec<u64> = (s.history.iter())
            .filter(|o| shard_before(o.slot) == "s1n1" && !moved(o.slot) && o.mode == mode)
            .map(|o| o.sent_ns / MS)
            .collect();
        sent.windows(2).map(|w| w[1] - w[0]).max().unwrap() as f64
    };
    let c = check(&s);
    assert_eq!(c.code, Some(exit::CHECK_FAILED));
    for (name, mode) in [
        ("max_app_downtime_ms", ClientMode::App),
        ("max_probe_downtime_ms", ClientMode::Probe),
    ] {
        let v = c.failed(name).unwrap();
        let most = 400.0 + 2.0 * interval(mode) + 1.0;
        assert!((400.0..=most).contains(&v), "{name}: {v}, at most {most}");
    }
    // The slots s1n1 kept, apart from those it gave (still answering).
    let d = &c.report().downtime_ms;
    assert!(d.per_group["s1n1 (kept)"] >= 400.0, "{d:?}");
    assert!(d.per_group["s1n1→s2n1"] < 100.0, "{d:?}");
}

/// Finding 1: Every op to the 2000 moved slots fails with TRYAGAIN for 2.6 s while
/// the shard's other slots answer: their successes closed every window
/// (9.99 ms, PASS). The group of moved slots is judged apart.
#[test]
fn an_outage_of_the_moved_slots_alone_is_downtime() {
    let mut s = base();
    let failed = tamper(
        &mut s,
        |o| moved(o.slot) && (2200 * MS..4800 * MS).contains(&o.sent_ns),
        |o| {
            o.outcome = Outcome::Fail {
                kind: ErrorKind::TryAgain,
                message: "TRYAGAIN".into(),
            };
        },
    );
    assert!(failed > 100, "{failed}");
    // The moved slots' app ops are far apart (a few of the 600 keys): each
    // end of the window is within the longest interval between two of them.
    let sent: Vec<u64> = (s.history.iter())
        .filter(|o| moved(o.slot) && o.mode == ClientMode::App)
        .map(|o| o.sent_ns / MS)
        .collect();
    let interval = sent.windows(2).map(|w| w[1] - w[0]).max().unwrap() as f64;
    let c = check(&s);
    assert_eq!(c.code, Some(exit::CHECK_FAILED));
    let v = c.failed("max_app_downtime_ms").unwrap();
    assert!(
        (2600.0..=2600.0 + 2.0 * interval + 1.0).contains(&v),
        "{v}, interval {interval}"
    );
    let d = &c.report().downtime_ms;
    assert!(d.per_shard["s1n1"] < 100.0, "{d:?}");
    assert!(d.per_group["s1n1→s2n1"] >= 2600.0, "{d:?}");
}

/// Finding 2: Lost keys deleted from keys.jsonl (its count put right) turned FAIL
/// into PASS; an empty keys.jsonl gave "0 of 9 239 lost" and PASS.
#[test]
fn writes_to_keys_never_read_back_are_not_judged_lost_or_kept() {
    let mut s = base();
    for k in s.keys.iter_mut().take(50) {
        k.final_value = Some("gone".into());
    }
    let c = check(&s);
    assert_eq!(c.failed("max_lost_keys"), Some(50.0));
    // The 50 lost keys' lines taken out, the count put right.
    s.keys.drain(..50);
    let c = check(&s);
    assert_eq!(c.code, Some(exit::UNKNOWN), "{}", c.stderr);
    for name in ["max_lost_keys", "max_lost_acknowledged_writes"] {
        c.unknown(
            name,
            "50 of the 600 keys the drill loaded, wrote or read were not read back",
        );
    }
    // Nothing read back at all.
    s.keys.clear();
    let c = check(&s);
    assert_eq!(c.report().verdict, Verdict::Unknown);
    c.unknown("max_lost_keys", "600 of the 600 keys");
}

/// Finding 3: A history cut at a line boundary (14 020 of 18 679 ops) passed; an
/// empty history and keys.jsonl passed a manual failover's SLOs.
#[test]
fn a_history_cut_short_is_refused_as_bad_input() {
    let s = base();
    let total = s.history.len();
    // Cut at a line boundary: no end line.
    let (_d, run) = store(&s);
    assert_eq!(check_run(&run).code, Some(exit::SUCCESS));
    edit_lines(&run, "history.jsonl", |l| l.truncate(1500));
    check_run(&run).refused(
        &run,
        "history.jsonl: ends at line 1500 without its end line",
    );
    // Cut, and the count put right: fewer ops than the engine dispatched.
    let (_d, run) = store(&s);
    edit_lines(&run, "history.jsonl", |l| {
        l.truncate(1500);
        l.push(end_line(1500));
    });
    check_run(&run).refused(
        &run,
        &format!(
            "{} ops are missing (the history was cut short)",
            total - 1500
        ),
    );
    // Empty history and keys.
    let (_d, run) = store(&s);
    edit_lines(&run, "history.jsonl", |l| *l = vec![end_line(0)]);
    edit_lines(&run, "keys.jsonl", |l| *l = vec![end_line(0)]);
    check_run(&run).refused(&run, &format!("{total} ops are missing"));
}

/// Finding 4: A probe with all its ops gone passed its downtime and failed-op SLOs
/// at a measured 0; a shard without ops was simply absent.
#[test]
fn clients_or_shards_without_ops_measure_nothing() {
    let mut s = base();
    remove_ops(&mut s, |o| o.mode == ClientMode::Probe);
    let c = check(&s);
    assert_eq!(c.report().verdict, Verdict::Unknown, "{:?}", c.report().slo);
    c.unknown("max_probe_downtime_ms", "no probe ops were recorded");
    c.unknown(
        "max_probe_failed_ops",
        "no op of these clients was recorded",
    );
    // A shard that holds keys of the drill and saw no op.
    let mut s = base();
    remove_ops(&mut s, |o| shard_before(o.slot) == "s3n1");
    let c = check(&s);
    c.unknown("max_app_downtime_ms", "no app ops reached s3n1");
    c.unknown("max_probe_downtime_ms", "s3n1");
}

/// Finding 5: With 95 % of `after`'s ops failing, `max_p99_after_ms` read the p99
/// of the few that succeeded (0.62 ms): PASS.
#[test]
fn a_phase_that_mostly_failed_fails_its_latency_slo() {
    let mut s = base();
    let mut i = 0;
    tamper(
        &mut s,
        |o| o.sent_ns >= 3030 * MS,
        |o| {
            i += 1;
            if i % 20 != 0 {
                o.outcome = Outcome::Fail {
                    kind: ErrorKind::ClusterDown,
                    message: "CLUSTERDOWN".into(),
                };
            }
        },
    );
    let c = check(&s);
    assert_eq!(c.code, Some(exit::CHECK_FAILED));
    assert_eq!(c.failed("max_p99_after_ms"), None);
    let note = c.slo("max_p99_after_ms").note.clone().unwrap();
    assert!(note.contains("got no answer"), "{note}");
    assert!(c.failed("max_app_error_ratio").unwrap() > 0.3);
}

/// Finding 6: A scenario with no SLOs passed, and `validate` said nothing.
#[test]
fn no_slos_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.yaml");
    std::fs::write(
        &file,
        format!(
            "name: s\ntopology: {}\nreshard: {{from: s1n1, to: s2n1, slots: 10}}\n",
            common::topology("cluster-3x1.yaml").display()
        ),
    )
    .unwrap();
    for cmd in ["validate", "run"] {
        let out = std::process::Command::new(BIN)
            .args([cmd, file.to_str().unwrap()])
            .env("REDIS_DRILL_RUNTIME", "process")
            .bounded_output()
            .unwrap();
        assert_eq!(out.status.code(), Some(exit::BAD_INPUT), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("s.yaml:1:1: a scenario needs at least one SLO"),
            "{err}"
        );
    }
    // A stored run held to nothing passes nothing.
    let mut s = base();
    s.record.slo.clear();
    let c = check(&s);
    assert_eq!(c.code, Some(exit::UNKNOWN));
    c.unknown("slo", "the scenario set no SLO");
}

/// Finding 7, 8: A missing `sent_ns` became a tool lag of 0; `end < sent` was
/// saturated to ~0 ms and lowered the p99. Lesser: a duplicated op, an op
/// of a node no topology has, an unknown field.
#[test]
fn impossible_or_incomplete_ops_are_bad_input() {
    let s = base();
    fn line(i: usize, f: impl Fn(&mut Value) + 'static) -> impl Fn(&mut Vec<String>) + 'static {
        move |l: &mut Vec<String>| {
            let mut v: Value = serde_json::from_str(&l[i]).unwrap();
            f(&mut v);
            l[i] = v.to_string();
        }
    }
    type Edit = Box<dyn Fn(&mut Vec<String>)>;
    let cases: [(&str, Edit); 6] = [
        (
            "history.jsonl:11: missing field `sent_ns`",
            Box::new(line(10, |v| {
                v.as_object_mut().unwrap().remove("sent_ns");
            })),
        ),
        (
            "history.jsonl:11: the op ended (end_ns",
            Box::new(line(10, |v| {
                v["end_ns"] = json!(v["sent_ns"].as_u64().unwrap() - 1)
            })),
        ),
        (
            "history.jsonl:11: the op was sent (sent_ns",
            Box::new(line(10, |v| {
                v["due_ns"] = json!(v["sent_ns"].as_u64().unwrap() + 1)
            })),
        ),
        (
            "history.jsonl:10: node `s9n9` is not a node of the run's topology",
            // Line 10 is op 9: client 4, the probe, which names its node.
            Box::new(line(9, |v| v["node"] = json!("s9n9"))),
        ),
        (
            "history.jsonl:11: unknown field `shard`",
            Box::new(line(10, |v| v["shard"] = json!("s1"))),
        ),
        (
            "history.jsonl:12: the op repeats line 11",
            Box::new(|l: &mut Vec<String>| {
                let dup = l[10].clone();
                l.insert(11, dup);
                let n = l.len() - 1;
                l[n] = end_line(n);
            }),
        ),
    ];
    for (what, edit) in cases {
        let (_d, run) = store(&s);
        edit_lines(&run, "history.jsonl", |l| edit(l));
        check_run(&run).refused(&run, what);
    }
}

/// Finding 9: A primary that could not be read before the drill hid 5 000 missing
/// keys: `max_keys_missing` saturated to 0, PASS.
#[test]
fn a_primary_that_could_not_be_counted_leaves_keys_missing_unknown() {
    let mut s = base();
    s.record.topology.nodes[0].keys = None;
    s.record.topology_after.nodes[2].keys = Some(0);
    let c = check(&s);
    c.unknown(
        "max_keys_missing",
        "the keys of s1n1 before the drill could not be counted",
    );
}

/// Finding 10: `check-run` on a folder it cannot read left the old report claiming
/// PASS; convergence was never held against the recording.
#[test]
fn a_record_that_cannot_be_read_or_contradicts_itself_gives_no_verdict() {
    let s = base();
    let (_d, run) = store(&s);
    assert_eq!(check_run(&run).code, Some(exit::SUCCESS));
    assert!(run.join("report.json").exists());
    std::fs::write(run.join("record.json"), "{").unwrap();
    check_run(&run).refused(&run, "record.json");
    // The convergence the record claims is not its recovery phase.
    let mut bad = s.clone();
    bad.record.convergence_ms = Some(5.0);
    let (_d, run) = store(&bad);
    check_run(&run).refused(
        &run,
        "convergence_ms is 5 but the `recovery` phase it closed lasted 30 ms",
    );
    // A convergence the watcher's recording does not show: the nodes
    // disagree until 4500 ms.
    let mut late = s.clone();
    for sm in late
        .watch
        .samples
        .iter_mut()
        .filter(|x| x.at_ns < 4500 * MS)
    {
        if sm.observer == "s3n2" {
            sm.peers[0].slots = 5461;
        }
    }
    let c = check(&late);
    eprintln!(
        "DEBUG seen {:?} {:?}",
        c.report().convergence_seen_ms,
        c.report().convergence_ms
    );
    assert_eq!(c.code, Some(exit::UNKNOWN));
    c.unknown("max_convergence_ms", "shows the nodes agreeing only");
    // No recording at all.
    let mut none = s;
    none.watch.samples.clear();
    check(&none).unknown("max_convergence_ms", "the watcher's recording is empty");
}
