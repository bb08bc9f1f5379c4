//! Client-library adapters (protocol 1, docs/clients.md): the shipped
//! redis-py adapter runs a schedule against a real cluster, its values
//! checked with redis-cli; adapters that crash, hang, write a line that is
//! not the protocol, or cannot start are named with the line at fault,
//! their ops left without a result, and their processes gone.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::bounded::Bounded as _;
use common::{Env, address};
use redis_drill::record::ops::OpKind;
use redis_drill::record::timeline::Clock;
use redis_drill::workload::adapter::protocol::{Ended, Hello, OpLine, PROTOCOL};
use redis_drill::workload::adapter::{self, Adapter, Limits};

/// One test of this file at a time: the drills run five client
/// libraries' processes, and the schedule test beside one of them measured
/// the machine's two cores, not the adapter.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn hello(library: &str, nodes: Vec<String>, clients: u32, clock: &Clock) -> Hello {
    Hello {
        protocol: PROTOCOL,
        library: library.into(),
        topology: "cluster".into(),
        nodes,
        sentinels: Vec::new(),
        service: None,
        clients,
        epoch_monotonic_ns: clock.epoch_monotonic_ns(),
        settings: serde_json::Map::new(),
        max_in_flight: None,
        deadline_ms: None,
        clock: None,
    }
}

fn get(addr: SocketAddr, key: &str) -> String {
    let out = Command::new("redis-cli")
        .args([
            "-c",
            "-h",
            &addr.ip().to_string(),
            "-p",
            &addr.port().to_string(),
        ])
        .args(["GET", key])
        .stdin(Stdio::null())
        .bounded_output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_redis_py_adapter_keeps_the_schedule_and_its_writes_read_back() {
    let _serial = one_at_a_time();
    let env = Env::new("process");
    let topo = env.write(
        "c.yaml",
        "name: c\nkind: cluster\ncluster:\n  shards: 3\n  replicas: 0\n",
    );
    let up = env.up(&topo, "adapters");
    let status = up.status();
    let s1 = address(&status, "s1n1");
    let nodes = vec![s1.to_string()];
    let clock = Clock::start();
    let dir = tempfile::tempdir().unwrap();
    let a = Adapter::shipped("redis-py", dir.path()).expect("the adapters' virtualenv");
    // 4 clients; 300 SETs then a GET of each, 1 ms apart, from 100 ms
    // after the adapter is ready (the first op is pulled then, as a
    // workload's schedule starts once every adapter is ready).
    let n = 300u64;
    let fed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let fed2 = fed.clone();
    let mut start = None;
    let mut i = 0u64;
    let feed = std::iter::from_fn(move || {
        if i == 2 * n {
            return None;
        }
        let start = *start.get_or_insert_with(|| clock.now_ns() + 100_000_000);
        let k = i % n;
        let op = OpLine {
            id: i,
            client: (k % 4) as u32,
            op: if i < n { OpKind::Set } else { OpKind::Get },
            key: format!("adapter:{k}"),
            value: (i < n).then(|| format!("v{k}")),
            due_ns: start + i * 1_000_000,
        };
        fed2.lock().unwrap().push(op.clone());
        i += 1;
        Some(op)
    });
    let run = adapter::run(
        &a,
        &hello("redis-py", nodes, 4, &clock),
        feed,
        &clock,
        Limits::default(),
    )
    .unwrap();
    let ops = fed.lock().unwrap().clone();
    assert_eq!(ops.len() as u64, 2 * n);
    assert!(
        run.problem.is_none(),
        "{:?}\n{}",
        run.problem,
        run.stderr_tail
    );
    let ready = run.ready.as_ref().unwrap();
    assert_eq!(ready.library, "redis-py");
    assert_eq!(ready.version, "8.1.0");
    assert!(ready.settings.contains_key("socket_timeout"), "{ready:?}");
    assert_eq!(run.results.len(), ops.len());
    let mut late = 0;
    for o in &ops {
        let r = &run.results[&o.id];
        assert_eq!(r.outcome, Ended::Ok, "{r:?}");
        assert!(r.sent_ns <= r.end_ns);
        // Never sent before it was due (1 ms of clock granularity aside).
        assert!(r.sent_ns + 1_000_000 >= o.due_ns, "{o:?} {r:?}");
        if r.sent_ns > o.due_ns + 50_000_000 {
            late += 1;
        }
        if o.op == OpKind::Get {
            let k = o.id % n;
            assert_eq!(r.value.as_deref(), Some(format!("v{k}").as_str()), "{o:?}");
        }
    }
    assert!(late < ops.len() / 10, "{late} ops sent over 50 ms late");
    // An independent reader agrees with what the adapter wrote.
    for k in [0, 1, 150, 299] {
        assert_eq!(get(s1, &format!("adapter:{k}")), format!("v{k}"));
    }
}

/// A fake adapter: `python3 -c SCRIPT`; it writes its pid into `pidfile`.
/// The tool's own worker (`redis-drill adapter`) with a clock 3.7 s ahead
/// of this machine's: the host estimates the offset before the first op and
/// after the last result, within half a round trip of the truth (this
/// machine's clock plus the skew), and hands back every time on the run's
/// clock — each op sent after it was due, its value read back.
#[test]
fn the_tools_own_worker_keeps_a_clock_of_its_own_and_the_host_finds_its_offset() {
    let _serial = one_at_a_time();
    let env = Env::new("process");
    let topo = env.write(
        "c.yaml",
        "name: c\nkind: cluster\ncluster:\n  shards: 3\n  replicas: 0\n",
    );
    let up = env.up(&topo, "worker");
    let status = up.status();
    let s1 = address(&status, "s1n1");
    let clock = Clock::start();
    let skew: i64 = 3_700_000_000;
    let a = Adapter {
        library: "redis-rs".into(),
        program: env!("CARGO_BIN_EXE_redis-drill").into(),
        args: vec!["adapter".into(), format!("--clock-skew-ns={skew}").into()],
        env: Vec::new(),
        remote: None,
    };
    let n = 200u64;
    let mut start = None;
    let mut i = 0u64;
    let ops: std::sync::Arc<std::sync::Mutex<Vec<OpLine>>> = Default::default();
    let ops2 = ops.clone();
    let feed = std::iter::from_fn(move || {
        if i == 2 * n {
            return None;
        }
        let start = *start.get_or_insert_with(|| clock.now_ns() + 100_000_000);
        let k = i % n;
        let op = OpLine {
            id: i,
            client: (k % 2) as u32,
            op: if i < n { OpKind::Set } else { OpKind::Get },
            key: format!("worker:{k}"),
            value: (i < n).then(|| format!("w{k}")),
            due_ns: start + i * 1_000_000,
        };
        ops2.lock().unwrap().push(op.clone());
        i += 1;
        Some(op)
    });
    let mut h = hello("redis-rs", vec![s1.to_string()], 2, &clock);
    h.clock = Some("own".into());
    let run = adapter::run(&a, &h, feed, &clock, Limits::default()).unwrap();
    assert!(
        run.problem.is_none(),
        "{:?}\n{}",
        run.problem,
        run.stderr_tail
    );
    assert_eq!(run.ready.as_ref().unwrap().version, "1.8.1");
    let c = run.clock.expect("the worker's clock was estimated");
    let truth = clock.epoch_monotonic_ns() as i64 + skew;
    let end = c.sync.end.expect("and estimated again after its last op");
    for e in [c.sync.start, end] {
        let err = e.offset_ns.abs_diff(truth);
        assert!(
            err <= e.round_trip_ns.div_ceil(2),
            "estimate {e:?} is {err} ns from the truth {truth}"
        );
        // A round trip on one machine through pipes: well under 10 ms.
        assert!(e.round_trip_ns < 10_000_000, "{e:?}");
    }
    let u = c.uncertainty_ns.unwrap();
    assert!(c.sync.error_against(truth) <= u, "{c:?}");
    let ops = ops.lock().unwrap().clone();
    assert_eq!(run.results.len(), ops.len());
    for o in &ops {
        let r = &run.results[&o.id];
        assert_eq!(r.outcome, Ended::Ok, "{r:?}");
        // On the run's clock again: never sent before it was due (within
        // the estimate's uncertainty), nor seconds after.
        assert!(r.sent_ns + u + 1_000_000 >= o.due_ns, "{o:?} {r:?}");
        assert!(r.sent_ns < o.due_ns + 1_000_000_000, "{o:?} {r:?}");
        if o.op == OpKind::Get {
            let k = o.id % n;
            assert_eq!(r.value.as_deref(), Some(format!("w{k}").as_str()), "{o:?}");
        }
    }
    for k in [0, 77, 199] {
        assert_eq!(get(s1, &format!("worker:{k}")), format!("w{k}"));
    }
}

/// A worker asked to keep its own clock that never answers a clock line is
/// named, before any op is sent; its process is gone.
#[test]
fn a_worker_that_does_not_answer_the_clock_is_named() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::start();
    let pid = dir.path().join("pid");
    let a = fake(&format!("{READY}time.sleep(60)\n"), &pid);
    let mut h = hello("fake", vec!["127.0.0.1:1".into()], 1, &clock);
    h.clock = Some("own".into());
    let ops = vec![OpLine {
        id: 0,
        client: 0,
        op: OpKind::Set,
        key: "k".into(),
        value: Some("v".into()),
        due_ns: clock.now_ns() + 100_000_000,
    }];
    let run = adapter::run(&a, &h, ops.into_iter(), &clock, Limits::default()).unwrap();
    let p = run.problem.expect("named");
    assert!(
        p.contains("its clock could not be estimated: no answer to a clock line"),
        "{p}"
    );
    assert!(run.results.is_empty());
    assert!(gone(&pid));
}

/// Limits for fake adapters: a hang is named after 2 s.
const SHORT: Limits = Limits {
    ready: Duration::from_secs(10),
    lead: Duration::from_millis(50),
    drain: Duration::from_secs(2),
};

/// `n` SETs of client 0 to keys `k0`.., the first due at `due_ns`, each
/// `step_ns` after the one before.
fn sets(n: u64, due_ns: u64, step_ns: u64) -> Vec<OpLine> {
    (0..n)
        .map(|i| OpLine {
            id: i,
            client: 0,
            op: OpKind::Set,
            key: format!("k{i}"),
            value: Some("v".into()),
            due_ns: due_ns + i * step_ns,
        })
        .collect()
}

fn fake(script: &str, pidfile: &Path) -> Adapter {
    let prelude = format!(
        "import json, os, sys, time\nopen({:?}, 'w').write(str(os.getpid()))\nhello = json.loads(sys.stdin.readline())\n",
        pidfile.display().to_string()
    );
    Adapter {
        library: "fake".into(),
        program: "python3".into(),
        args: vec!["-c".into(), format!("{prelude}{script}").into()],
        env: Vec::new(),
        remote: None,
    }
}

const READY: &str =
    "print(json.dumps({'type': 'ready', 'library': 'fake', 'version': '0'}), flush=True)\n";

fn gone(pidfile: &Path) -> bool {
    let pid: i32 = std::fs::read_to_string(pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: signal 0 only asks whether the process exists.
    unsafe { libc::kill(pid, 0) != 0 }
}

#[test]
fn a_faulty_adapter_is_named_with_its_line_and_leaves_nothing_running() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::start();
    let ops = sets(5, clock.now_ns() + 100_000_000, 0);
    let answer_first = "op = json.loads(sys.stdin.readline())\nprint(json.dumps({'type': 'result', 'id': op['id'], 'sent_ns': op['due_ns'], 'end_ns': op['due_ns'] + 1, 'outcome': 'ok'}), flush=True)\n";
    for (name, script, says) in [
        (
            "malformed",
            format!("{READY}{answer_first}print('this is not json', flush=True)\ntime.sleep(60)\n"),
            "stdout line 3: not a protocol line",
        ),
        (
            "crash",
            format!("{READY}{answer_first}sys.exit(7)\n"),
            "exited (exit status: 7) with 4 of 5 ops without a result",
        ),
        (
            "hang",
            format!("{READY}{answer_first}time.sleep(60)\n"),
            "hung: 4 of 5 ops without a result",
        ),
        (
            "cannot start",
            "print(json.dumps({'type': 'error', 'message': 'no node reachable'}), flush=True)\n"
                .to_string(),
            "could not start: no node reachable",
        ),
        (
            "answers twice",
            format!(
                "{READY}{answer_first}print(json.dumps({{'type': 'result', 'id': 0, 'sent_ns': 1, 'end_ns': 2, 'outcome': 'ok'}}), flush=True)\ntime.sleep(60)\n"
            ),
            "stdout line 3: a second result for op 0",
        ),
        (
            "done too soon",
            format!(
                "{READY}{answer_first}print(json.dumps({{'type': 'done'}}), flush=True)\ntime.sleep(60)\n"
            ),
            "said done with 4 of 5 ops without a result",
        ),
    ] {
        let pidfile = dir.path().join(format!("{}.pid", name.replace(' ', "-")));
        let a = fake(&script, &pidfile);
        let h = hello("fake", vec!["127.0.0.1:1".into()], 1, &clock);
        let run = adapter::run(&a, &h, ops.clone().into_iter(), &clock, SHORT).unwrap();
        let problem = run.problem.clone().unwrap_or_default();
        assert!(problem.starts_with("adapter fake: "), "{name}: {problem}");
        assert!(
            problem.contains(says),
            "{name}: {problem}\n{}",
            run.stderr_tail
        );
        // The op it answered is kept; the others have no result (unrecorded,
        // not lost).
        assert!(run.results.len() <= 1, "{name}: {:?}", run.results);
        assert!(gone(&pidfile), "{name}: the adapter is still running");
    }
}

/// A drill whose app clients are every shipped library, `count` each, on a
/// three-primary cluster, through a coordinated failover (which loses no
/// acknowledged write).
fn matrix_scenario(env: &Env, libraries: &[&str], count: u32) -> std::path::PathBuf {
    let groups: String = libraries
        .iter()
        .map(|l| format!("    - {{library: {l}, count: {count}}}\n"))
        .collect();
    env.write(
        "matrix.yaml",
        &format!(
            "name: matrix\ntopology: {}\nworkload:\n  clients:\n{groups}  probe_clients: 1\n  model: {{open: {{rate: 400}}}}\n  keys: 2000\n  mix: {{get: 50, set: 50}}\n  timeout_ms: 500\n  app_retries: 3\nbaseline_ms: 1500\nsettle_ms: 2000\nreshard: {{from: s1n1, to: s2n1, slots: 100}}\nfaults:\n  - {{fault: failover, target: replica_of:primary_of:3000, mode: default, at_ms: 2000}}\nslo:\n  max_lost_acknowledged_writes: 0\n",
            common::topology("cluster-3x1-fast.yaml").display()
        ),
    )
}

const EVERY_LIBRARY: [&str; 5] = [
    "redis-rs",
    "redis-py",
    "valkey-py",
    "valkey-glide",
    "node-redis",
];

#[test]
fn a_drill_measures_every_shipped_library_beside_redis_rs() {
    let _serial = one_at_a_time();
    let env = Env::new("process");
    // The adapters' scripts are written under TMPDIR: none may outlive the run.
    let tmp = tempfile::tempdir().unwrap();
    env.set_vars(&[("TMPDIR", tmp.path().to_str().unwrap())]);
    let file = matrix_scenario(&env, &EVERY_LIBRARY, 2);
    let d = env.drill(&file, &[]);
    let out = d.output();
    d.assert_code(0);
    let r = d.report();
    let libs = &r.client_libraries;
    let names: Vec<(&str, Option<&str>)> = libs
        .iter()
        .map(|l| (l.name.as_str(), l.version.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("redis-rs", Some("1.8.1")),
            ("redis-py", Some("8.1.0")),
            ("valkey-py", Some("6.2.0")),
            ("valkey-glide", Some("2.6.0")),
            ("node-redis", Some("4.5.1")),
        ],
        "{out}"
    );
    // 400 ops/s over 11 clients for ~5 s: every library ran its share, and
    // every write it said was acknowledged is in the final state (the
    // final read-back explains every key, adapters' writes included).
    for l in libs {
        assert!(l.problem.is_none(), "{}: {:?}", l.name, l.problem);
        assert_eq!(l.clients, 2, "{}", l.name);
        assert!(
            l.summary.ops_ok > 200,
            "{}: {} ok\n{out}",
            l.name,
            l.summary.ops_ok
        );
        assert_eq!(l.lost_acknowledged_writes, 0, "{}", l.name);
        assert!(!l.settings.is_empty(), "{}: no settings recorded", l.name);
        // The reshard split s1n1's slots: the part that moved is judged
        // apart, and the longest downtime is one of the windows shown.
        assert!(
            !l.downtime_by_group_ms.is_empty(),
            "{}: no moved slots judged apart",
            l.name
        );
        let shown = (l.downtime_by_shard_ms.values())
            .chain(l.downtime_by_group_ms.values())
            .fold(0.0, |a: f64, b| a.max(*b));
        assert_eq!(
            l.downtime_ms, shown,
            "{}: the longest window is a row",
            l.name
        );
        let charted: u64 = l.ok_per_bucket.iter().map(|&n| u64::from(n)).sum();
        assert_eq!(
            charted, l.summary.ops_ok,
            "{}: the chart counts every ok op",
            l.name
        );
    }
    assert_eq!(r.checks.lost_writes, 0, "{out}");
    let md = std::fs::read_to_string(d.run_dir().join("report.md")).unwrap();
    assert!(
        md.contains("| | redis-rs 1.8.1 | redis-py 8.1.0 | valkey-py 6.2.0 | valkey-glide 2.6.0 | node-redis 4.5.1 |"),
        "{md}"
    );
    assert!(md.contains("| downtime, slots s1n1→s2n1"), "{md}");
    let html = std::fs::read_to_string(d.run_dir().join("report.html")).unwrap();
    assert!(html.contains("Successes by client library"));
    let left = common::processes_mentioning(tmp.path());
    assert!(left.is_empty(), "adapters left running: {left:?}");
}

#[test]
fn an_adapter_that_dies_mid_drill_makes_its_library_unknown_and_loses_nothing() {
    let _serial = one_at_a_time();
    let env = Env::new("process");
    let tmp = tempfile::tempdir().unwrap();
    // An adapters folder whose Python is the real one, killed 3 s after it
    // starts: in the middle of the drill's baseline.
    let adapters = tmp.path().join("adapters");
    let bin = adapters.join("python/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = adapter::python_env();
    let python = bin.join("python");
    std::fs::write(
        &python,
        format!(
            "#!/bin/sh\nexec timeout -s KILL 3 {} \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set_vars(&[
        ("TMPDIR", tmp.path().to_str().unwrap()),
        ("REDIS_DRILL_ADAPTERS", adapters.to_str().unwrap()),
    ]);
    let file = matrix_scenario(&env, &["redis-rs", "redis-py"], 2);
    let d = env.drill(&file, &[]);
    let out = d.output();
    let r = d.report();
    let py = &r.client_libraries[1];
    let problem = py.problem.as_deref().unwrap_or_default();
    assert!(
        problem.starts_with("adapter redis-py: exited"),
        "{problem}\n{out}"
    );
    for k in ["downtime", "lost", "latency baseline"] {
        assert!(py.unknown.contains_key(k), "{k}: {:?}", py.unknown);
    }
    // The verdict cannot pass a library it could not measure.
    assert_eq!(
        common::slo(r, "adapters_ok").result,
        redis_drill::report::Verdict::Unknown
    );
    assert_eq!(r.verdict, redis_drill::report::Verdict::Unknown, "{out}");
    // Its ops without a result are indeterminate, never lost writes; the
    // redis-rs clients beside it were measured.
    assert_eq!(r.checks.lost_acknowledged_writes, 0, "{out}");
    assert_eq!(r.checks.lost_writes, 0, "{out}");
    assert!(py.summary.ops_indeterminate > 0, "{:?}", py.summary);
    assert!(r.client_libraries[0].problem.is_none());
    assert!(r.client_libraries[0].summary.ops_ok > 200);
    let left = common::processes_mentioning(tmp.path());
    assert!(left.is_empty(), "adapters left running: {left:?}");
}

/// A worker with a clock of its own (1 000 s ahead) that answers one op and
/// then hangs: the host names it, and what it answered is handed back on
/// the run's clock, not the worker's. A hung worker's results once entered
/// the history 7 894 s off, where the checks judged them lost writes.
#[test]
fn a_hung_workers_answers_are_on_the_runs_clock() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::start();
    let pid = dir.path().join("pid");
    let script = format!(
        "{READY}skew = 1000 * 10**9\n\
         now = lambda: time.clock_gettime_ns(time.CLOCK_MONOTONIC) + skew\n\
         while True:\n\
         \x20   m = json.loads(sys.stdin.readline())\n\
         \x20   if m['type'] == 'clock':\n\
         \x20       print(json.dumps({{'type': 'clock', 'id': m['id'], 'now_ns': now()}}), flush=True)\n\
         \x20   elif m['type'] == 'op':\n\
         \x20       print(json.dumps({{'type': 'result', 'id': m['id'], 'sent_ns': now(), 'end_ns': now() + 1000, 'outcome': 'ok'}}), flush=True)\n\
         \x20       time.sleep(60)\n"
    );
    let a = fake(&script, &pid);
    let mut h = hello("fake", vec!["127.0.0.1:1".into()], 1, &clock);
    h.clock = Some("own".into());
    let due = clock.now_ns() + 100_000_000;
    let ops = sets(2, due, 100_000_000);
    let run = adapter::run(&a, &h, ops.into_iter(), &clock, SHORT).unwrap();
    let p = run.problem.clone().expect("named");
    assert!(p.contains("hung: 1 of 2 ops without a result"), "{p}");
    assert!(
        run.clock.is_some(),
        "its clock, as estimated before the first op"
    );
    let r = &run.results[&0];
    // Sent when due (it answers at once), on the run's clock: within a
    // second of its due time, not 1 000 s off.
    assert!(r.sent_ns.abs_diff(due) < 1_000_000_000, "due {due}: {r:?}");
    assert!(
        r.end_ns >= r.sent_ns && r.end_ns - r.sent_ns < 1_000_000_000,
        "{r:?}"
    );
    assert!(gone(&pid));
}
