//! The cache drills end to end through the real binary, one short run of
//! each kind on the process runtime:
//!
//! - counters: many clients INCR one counter through a coordinated failover
//!   and then a kill of its primary. The counter's figures are measured (not
//!   `unknown`), agree with the history and final value stored in the run
//!   folder, and a run folder whose counter is set back to 0 is checked again
//!   to exactly the acknowledged increments lost, failing its SLO.
//! - transactions: MULTI/EXEC groups while their slots move a key at a time.
//!   Every read and every group is checked; a run folder with one member of a
//!   group overwritten is checked again to one torn group, failing its SLO.
//!
//! Both assert properties of the history, never a lucky timing: what a
//! fault costs is the drill's finding, not the test's.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use redis_drill::exit;
use redis_drill::report::{Report, Verdict};
use redis_drill::workload::{OpKind, read_jsonl};
use serde_json::Value;

/// Copy the run folder `from` to `to`, letting `edit` change each line of
/// keys.jsonl (every key's initial and final value).
fn copy_with_keys(from: &Path, to: &Path, edit: impl Fn(&mut Value)) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    let path = to.join("keys.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            edit(&mut v);
            v.to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    to.to_path_buf()
}

/// `check-run DIR --json`: its exit code and report.
fn check_run(env: &Env, dir: &Path) -> (Option<i32>, Report) {
    let o = env.run(&["check-run", dir.to_str().unwrap(), "--json"]);
    let r: Report = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "check-run printed no report ({e}):\n{}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code(), r)
}

/// The drill ran to a verdict: pass or fail on its SLOs, not an error.
fn assert_checked(d: &Drilled) {
    assert!(
        matches!(d.code, Some(exit::SUCCESS) | Some(exit::CHECK_FAILED)),
        "{}",
        d.output()
    );
}

#[test]
fn counter_drill_accounts_for_every_increment() {
    let env = Env::new("process");
    // drill:counter:0 hashes to slot 10975 (s3n1's).
    let yaml = format!(
        "name: counter-test\n\
         topology: {}\n\
         seed: 11\n\
         workload:\n  clients: 16\n  probe_clients: 1\n  model: {{open: {{rate: 600}}}}\n  keys: 100\n  mix: {{incr: 100}}\n  counter_keys: 1\n  timeout_ms: 500\n  app_retries: 3\n\
         baseline_ms: 500\n\
         settle_ms: 500\n\
         faults:\n  - {{fault: failover, target: 'replica_of:primary_of:10975', at_ms: 0}}\n  - {{fault: kill, target: 'primary_of:10975', at_ms: 2000, hold_ms: 4000}}\n\
         slo:\n  max_lost_increments: 0\n  max_over_counted_increments: 0\n",
        topology("cluster-3x1-fast.yaml").display()
    );
    let file = env.write("counter.yaml", &yaml);
    let d = env.drill(&file, &[]);
    assert_checked(&d);
    let r = d.report();
    assert_eq!(r.faults.len(), 2, "both faults applied: {:?}", r.faults);
    let c = r.checks.counters.as_ref().expect("the counters' verdict");
    eprintln!("counter drill: {c:?}");
    assert_eq!(c.counters_checked, 1, "{c:?}");
    assert!(c.acknowledged_incrs > 300, "{c:?}");
    for (name, figure) in [
        ("max_lost_increments", c.lost_increments),
        ("max_over_counted_increments", c.over_counted_increments),
    ] {
        let s = slo(r, name);
        assert_ne!(s.result, Verdict::Unknown, "{s:?}");
        assert_eq!(s.value, Some(figure as f64), "{s:?}");
    }

    // The stored history and final value give the same figures.
    let dir = d.run_dir();
    let history = read_jsonl(&dir.join("history.jsonl")).unwrap();
    let acked = history
        .iter()
        .filter(|o| o.kind == OpKind::Incr && o.is_ok())
        .count() as u64;
    assert_eq!(acked, c.acknowledged_incrs);
    let keys = std::fs::read_to_string(dir.join("keys.jsonl")).unwrap();
    let counter: Value = keys
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["key"] == "drill:counter:0")
        .expect("the counter was read back");
    let found: u64 = counter["final"].as_str().map_or(0, |v| v.parse().unwrap());
    let (min, max) = (acked, acked + c.indeterminate_incrs);
    assert_eq!(c.lost_increments, min.saturating_sub(found), "{found}");
    assert_eq!(
        c.over_counted_increments,
        found.saturating_sub(max),
        "{found}"
    );

    // A counter set back to 0 lost every acknowledged increment.
    let copy = tempfile::tempdir().unwrap();
    let reset = copy_with_keys(dir, &copy.path().join("reset"), |v| {
        if v["key"] == "drill:counter:0" {
            v["final"] = Value::from("0");
        }
    });
    let (code, again) = check_run(&env, &reset);
    assert_eq!(code, Some(exit::CHECK_FAILED));
    let c = again
        .checks
        .counters
        .as_ref()
        .expect("the counters' verdict");
    assert_eq!(c.lost_increments, acked);
    assert_eq!(slo(&again, "max_lost_increments").result, Verdict::Fail);
}

#[test]
fn txn_drill_checks_every_read_and_group_while_slots_move() {
    let env = Env::new("process");
    let yaml = format!(
        "name: txn-test\n\
         topology: {}\n\
         seed: 5\n\
         workload:\n  clients: 4\n  probe_clients: 1\n  model: {{open: {{rate: 800}}}}\n  keys: 1000\n  mix: {{txn: 50, txn_read: 50}}\n  groups: 32\n  group_size: 3\n  timeout_ms: 500\n  app_retries: 3\n\
         baseline_ms: 500\n\
         settle_ms: 500\n\
         reshard:\n  from: s1n1\n  to: s2n1\n  slots: 2000\n  batch_keys: 1\n  parallel_slots: 4\n\
         slo:\n  max_torn_reads: 0\n  max_torn_groups: 0\n",
        topology("cluster-3x1.yaml").display()
    );
    let file = env.write("txn.yaml", &yaml);
    let d = env.drill(&file, &[]);
    assert_checked(&d);
    let r = d.report();
    assert_eq!(r.reshard.as_ref().map(|x| x.slots_moved), Some(2000));
    let t = r.checks.txn.as_ref().expect("the transactions' verdict");
    eprintln!(
        "txn drill: {} reads, {} torn; {} groups, {} torn",
        t.reads_checked, t.torn_reads, t.groups_checked, t.torn_groups
    );
    assert!(t.reads_checked > 100, "{t:?}");
    assert_eq!((t.groups_checked, t.groups_unread), (32, 0), "{t:?}");
    for (name, figure) in [
        ("max_torn_reads", t.torn_reads),
        ("max_torn_groups", t.torn_groups),
    ] {
        let s = slo(r, name);
        assert_ne!(s.result, Verdict::Unknown, "{s:?}");
        assert_eq!(s.value, Some(figure as f64), "{s:?}");
    }
    // Every successful read has a value per member.
    let history = read_jsonl(&d.run_dir().join("history.jsonl")).unwrap();
    let reads: Vec<_> = history
        .iter()
        .filter(|o| o.kind == OpKind::TxnRead && o.is_ok())
        .collect();
    assert_eq!(reads.len() as u64, t.reads_checked);
    assert!(
        reads
            .iter()
            .all(|o| o.values.len() == 3 && o.members.len() == 3)
    );
    assert!(
        history
            .iter()
            .any(|o| o.kind == OpKind::Txn && o.is_ok() && o.value.is_some())
    );

    // One member of group 0 overwritten: a torn group, caught.
    let copy = tempfile::tempdir().unwrap();
    let torn = copy_with_keys(d.run_dir(), &copy.path().join("torn"), |v| {
        if v["key"] == "{drill:g0}:b" {
            v["final"] = Value::from("someone-else");
        }
    });
    let (code, again) = check_run(&env, &torn);
    assert_eq!(code, Some(exit::CHECK_FAILED));
    let t2 = again
        .checks
        .txn
        .as_ref()
        .expect("the transactions' verdict");
    assert_eq!(t2.torn_groups, t.torn_groups + 1);
    assert_eq!(slo(&again, "max_torn_groups").result, Verdict::Fail);
}
