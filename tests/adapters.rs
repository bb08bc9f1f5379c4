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

fn hello(library: &str, nodes: Vec<String>, clients: u32, clock: &Clock) -> Hello {
    Hello {
        protocol: PROTOCOL,
        library: library.into(),
        topology: "cluster".into(),
        nodes,
        clients,
        epoch_monotonic_ns: clock.epoch_monotonic_ns(),
        settings: serde_json::Map::new(),
        max_in_flight: None,
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
        nice: None,
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
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::start();
    let ops: Vec<OpLine> = (0..5)
        .map(|i| OpLine {
            id: i,
            client: 0,
            op: OpKind::Set,
            key: format!("k{i}"),
            value: Some("v".into()),
            due_ns: clock.now_ns() + 100_000_000,
        })
        .collect();
    let answer_first = "op = json.loads(sys.stdin.readline())\nprint(json.dumps({'type': 'result', 'id': op['id'], 'sent_ns': op['due_ns'], 'end_ns': op['due_ns'] + 1, 'outcome': 'ok'}), flush=True)\n";
    let limits = Limits {
        ready: Duration::from_secs(10),
        lead: Duration::from_millis(50),
        drain: Duration::from_secs(2),
    };
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
        let run = adapter::run(&a, &h, ops.clone().into_iter(), &clock, limits).unwrap();
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
