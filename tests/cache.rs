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
//! - TTLs: SET PX with mixed TTLs, read on both sides of their deadlines,
//!   through a coordinated failover. Reads are judged on both sides, expiries
//!   are seen, the figures agree with the stored history, and a run folder
//!   with one read of a value long past its deadline added is checked again
//!   to one more zombie, failing its SLO.
//! - eviction (both runtimes): allkeys-lru under several times its memory,
//!   through a failover. Evictions are seen by INFO and by the clients' nil
//!   reads, the clients' lookups agree with INFO's phase by phase, nothing is
//!   stale or lost, and a run folder with one GET of a superseded value
//!   added is checked again to one stale read, failing its SLO.
//! - stampede (both runtimes): many readers of two hot keys through a kill of
//!   their shard's primary. Each expiry is computed once, every computation
//!   is one reader's read, the readers' downtime is seen, and a run folder with
//!   a second computation added inside an epoch is checked again to one
//!   violation, failing its SLO.
//!
//! - invalidation (both runtimes): cache-aside readers and writers that
//!   delete, update and delete twice, with dependants read together. The
//!   checker's figures agree with a count made here from the stored history,
//!   the nodes' own INFO keyspace hits and misses agree with the readers',
//!   every witness is made of ops of the history in order, and run folders
//!   tampered with — every read removed, every write removed, the history cut
//!   short, one stale read added after an acknowledged delete — are checked
//!   again to `unknown`, a refusal, and one more lost invalidation.
//!
//! All assert properties of the history, never a lucky timing: what a
//! fault costs is the drill's finding, not the test's.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use redis_drill::exit;
use redis_drill::record::ops::{ClientMode, Op, OpKind, Outcome, read_jsonl, write_jsonl};
use redis_drill::report::{Report, Verdict};
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
            // The end line (its count) stays as it is.
            if v.get("end").is_none() {
                edit(&mut v);
            }
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

#[test]
fn ttl_drill_judges_reads_on_both_sides_of_deadlines() {
    let env = Env::new("process");
    let yaml = format!(
        "name: ttl-test\n\
         topology: {}\n\
         seed: 7\n\
         workload:\n  clients: 4\n  probe_clients: 1\n  model: {{open: {{rate: 1000}}}}\n  keys: 100\n  mix: {{get: 85, set: 0, set_ttl: 15}}\n  ttls_ms: [50, 300]\n  timeout_ms: 500\n  app_retries: 3\n\
         baseline_ms: 1000\n\
         settle_ms: 1000\n\
         faults:\n  - {{fault: failover, target: 'replica_of:primary_of:0', at_ms: 0}}\n\
         slo:\n  max_zombie_reads: 0\n  max_early_expiries: 0\n",
        topology("cluster-3x1-fast.yaml").display()
    );
    let file = env.write("ttl.yaml", &yaml);
    let d = env.drill(&file, &[]);
    assert_checked(&d);
    let r = d.report();
    assert_eq!(r.faults.len(), 1, "the failover applied: {:?}", r.faults);
    let t = r.checks.ttl.as_ref().expect("the TTL verdict");
    eprintln!("ttl drill: {t:?}");
    // Keys are read often enough to be judged on both sides of deadlines,
    // and expiries are seen with their lateness bounds in order.
    assert!(t.reads_checked > 200, "{t:?}");
    assert!(
        t.reads_before_deadline > 0 && t.reads_after_deadline > 0,
        "{t:?}"
    );
    assert!(t.expiries_seen > 10, "{t:?}");
    assert_eq!(t.lateness_at_least_ms.count, t.expiries_seen);
    assert!(
        t.lateness_at_least_ms.p50 <= t.lateness_at_most_ms.p50,
        "{t:?}"
    );
    for (name, figure) in [
        ("max_zombie_reads", t.zombie_reads),
        ("max_early_expiries", t.early_expiries),
    ] {
        let s = slo(r, name);
        assert_ne!(s.result, Verdict::Unknown, "{s:?}");
        assert_eq!(s.value, Some(figure as f64), "{s:?}");
    }
    // The stored history agrees: every SET PX carries one of the TTLs asked.
    let dir = d.run_dir();
    let history = read_jsonl(&dir.join("history.jsonl")).unwrap();
    let sets: Vec<&Op> = history
        .iter()
        .filter(|o| o.kind == OpKind::Set && o.is_ok())
        .collect();
    assert_eq!(sets.len() as u64, t.ttl_writes);
    assert!(
        sets.iter()
            .all(|o| matches!(o.ttl_ms, Some(50) | Some(300)))
    );
    assert!(
        sets.iter().any(|o| o.ttl_ms == Some(50)) && sets.iter().any(|o| o.ttl_ms == Some(300))
    );

    // A read of a value a second past its deadline, added to the history: a
    // zombie. The key's last write is an acknowledged SET PX and every write
    // of it was acknowledged, so that write governs the added read.
    let governs = |w: &Op| {
        let writes: Vec<&Op> = history
            .iter()
            .filter(|o| o.key == w.key && o.kind == OpKind::Set)
            .collect();
        writes.iter().all(|o| o.is_ok())
            && writes
                .iter()
                .all(|o| std::ptr::eq(*o, w) || o.end_ns < w.sent_ns)
    };
    let w = sets
        .iter()
        .rev()
        .copied()
        .find(|w| governs(w))
        .expect("a key whose last write is an acknowledged SET PX alone");
    let last_end = history.iter().map(|o| o.end_ns).max().unwrap();
    let at = last_end.max(w.end_ns + w.ttl_ms.unwrap() * 1_000_000) + 1_000_000_000;
    let zombie = Op {
        kind: OpKind::Get,
        value: w.value.clone(),
        due_ns: at,
        sent_ns: at,
        end_ns: at + 100_000,
        outcome: Outcome::Ok,
        ttl_ms: None,
        ..(*w).clone()
    };
    let copy = tempfile::tempdir().unwrap();
    let to = copy.path().join("zombie");
    copy_with_keys(dir, &to, |_| {});
    let mut tampered = history.clone();
    tampered.push(zombie);
    write_jsonl(&to.join("history.jsonl"), &tampered).unwrap();
    let (code, again) = check_run(&env, &to);
    assert_eq!(code, Some(exit::CHECK_FAILED));
    let t2 = again.checks.ttl.as_ref().expect("the TTL verdict");
    assert_eq!(t2.zombie_reads, t.zombie_reads + 1, "{t2:?}");
    if t.zombie_reads < 20 {
        assert!(
            t2.zombie_examples
                .iter()
                .any(|z| z.key == w.key && z.read_sent_ns == at),
            "{t2:?}"
        );
    }
    assert_eq!(slo(&again, "max_zombie_reads").result, Verdict::Fail);
}

/// The eviction drill, small: every node capped with allkeys-lru, a preload
/// several times the cap, zipfian reads, a coordinated failover of the
/// hottest key's shard. Evictions are seen both by the nodes (INFO) and by
/// the clients (nil reads); the clients' count of lookups agrees with
/// INFO's within a stated tolerance, phase by phase; nothing is stale or
/// lost; and a history with one GET of a superseded value added is checked
/// again to one stale read, failing its SLO.
fn eviction_drill(env: &Env) {
    let yaml = format!(
        "name: eviction-test\n\
         topology: {}\n\
         seed: 5\n\
         workload:\n  clients: 4\n  probe_clients: 1\n  model: {{open: {{rate: 800}}}}\n  keys: 20000\n  distribution: {{zipfian: {{s: 0.99}}}}\n  value_size: {{min: 1024, max: 4096}}\n  mix: {{get: 80, set: 20}}\n  timeout_ms: 500\n  app_retries: 3\n\
         baseline_ms: 2000\n\
         settle_ms: 2000\n\
         faults:\n  - {{fault: failover, target: 'replica_of:primary_of:10567', at_ms: 0}}\n\
         slo:\n  max_stale_reads: 0\n  max_lost_keys: 0\n  max_hot_miss_ratio_rise: 100\n",
        topology("cluster-3x1-evict.yaml").display()
    );
    let file = env.write("eviction.yaml", &yaml);
    let d = env.drill(&file, &[]);
    assert_checked(&d);
    let r = d.report();
    let e = r.checks.eviction.as_ref().expect("the eviction verdict");
    let s = r.checks.stale.as_ref().expect("the stale-read verdict");
    eprintln!("eviction drill: {e:?}\nstale: {s:?}");
    assert_eq!(e.policy, redis_drill::checker::eviction::Eviction::AllKeys);
    // Evictions, seen by INFO and by the clients' misses.
    let info_evicted: u64 = e.by_phase.values().map(|p| p.info.evicted_keys).sum();
    let client_misses: u64 = e.by_phase.values().map(|p| p.hits.misses).sum();
    assert!(info_evicted > 0, "{e:?}");
    assert!(client_misses > 0 && e.evicted_keys_at_end > 0, "{e:?}");
    // Every GET names the write it read, and none is stale or lost.
    assert_eq!(s.reads_unexplained, 0, "{s:?}");
    assert!(s.reads_checked > 100, "{s:?}");
    assert_eq!(s.stale_reads, 0, "{s:?}");
    assert_eq!(r.checks.lost_writes, 0, "{:?}", r.checks.lost);
    // The clients' lookups against INFO's, in the phases long enough to
    // count: within 2 % and 20 lookups (GETs sent just before a phase's
    // boundary read are counted by the server in the next one).
    for (name, p) in &e.by_phase {
        if p.hits.reads < 500 {
            continue;
        }
        let info = p.info.keyspace_hits + p.info.keyspace_misses;
        let diff = info.abs_diff(p.hits.reads) as f64;
        assert!(
            diff <= 20.0 + 0.02 * p.hits.reads as f64,
            "{name}: clients {} lookups, INFO {info}",
            p.hits.reads
        );
        let hd = p.hit_ratio_difference.expect("both ratios");
        assert!(hd.abs() < 0.03, "{name}: {p:?}");
    }
    assert_ne!(slo(r, "max_stale_reads").result, Verdict::Unknown);
    assert_ne!(slo(r, "max_hot_miss_ratio_rise").result, Verdict::Unknown);

    // A GET of the initial value of a key after an acknowledged SET of it
    // ended: a stale read.
    let dir = d.run_dir();
    let history = read_jsonl(&dir.join("history.jsonl")).unwrap();
    let w = history
        .iter()
        .find(|o| o.kind == OpKind::Set && o.is_ok())
        .expect("an acknowledged SET");
    let keys = std::fs::read_to_string(dir.join("keys.jsonl")).unwrap();
    let initial: String = keys
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["key"] == w.key.as_str())
        .and_then(|v| v["initial"].as_str().map(str::to_string))
        .expect("the key was loaded");
    let at = w.end_ns + 1_000_000;
    let stale = Op {
        kind: OpKind::Get,
        value: Some(initial),
        due_ns: at,
        sent_ns: at,
        end_ns: at + 100_000,
        outcome: Outcome::Ok,
        ..w.clone()
    };
    let copy = tempfile::tempdir().unwrap();
    let to = copy.path().join("stale");
    copy_with_keys(dir, &to, |_| {});
    let mut tampered = history.clone();
    tampered.push(stale);
    write_jsonl(&to.join("history.jsonl"), &tampered).unwrap();
    let (code, again) = check_run(env, &to);
    assert_eq!(code, Some(exit::CHECK_FAILED));
    let s2 = again.checks.stale.as_ref().expect("the stale-read verdict");
    assert_eq!(s2.stale_reads, 1, "{s2:?}");
    assert_eq!(s2.examples[0].key, w.key);
    assert!(s2.examples[0].staleness_ns >= 1_000_000, "{s2:?}");
    assert_eq!(slo(&again, "max_stale_reads").result, Verdict::Fail);
}

crate::on_both_runtimes!(
    process_eviction_drill_sees_evictions_twice_and_no_stale_read,
    docker_eviction_drill_sees_evictions_twice_and_no_stale_read,
    eviction_drill
);

/// The stampede drill, small: 40 readers of two hot keys (one guarded by
/// GET then SET NX, one by the Lua single flight) that stay fresh 500 ms,
/// through a SIGKILL of their shard's primary. Every computation is one
/// reader's `Computed` read of the same value; each expiry epoch of the
/// baseline has one; the readers' downtime covers at least the failure
/// detection; and a run folder with a second computation added inside an
/// epoch, granted by the same node while the first held its lock, is
/// checked again to one violation, failing its SLO.
fn stampede_drill(env: &Env) {
    use redis_drill::record::stampede::{ReadOutcome, StampedeRecording};
    let yaml = format!(
        "name: stampede-test\n\
         topology: {}\n\
         seed: 7\n\
         stampede:\n  readers: 40\n  keys: 2\n  ttl_ms: 500\n  compute_ms: 30\n  lock_ttl_ms: 300\n  read_every_ms: 40\n  max_wait_ms: 1000\n\
         baseline_ms: 2000\n\
         settle_ms: 1000\n\
         faults:\n  - {{fault: kill, target: 'primary_of:5685', at_ms: 0, hold_ms: 5000}}\n\
         slo:\n  max_stampede_violations: 0\n  max_unserved_ms: 60000\n",
        topology("cluster-3x1-fast.yaml").display()
    );
    let file = env.write("stampede.yaml", &yaml);
    let d = env.drill(&file, &[]);
    assert_checked(&d);
    let r = d.report();
    let s = r.checks.stampede.as_ref().expect("the stampede verdict");
    eprintln!(
        "stampede drill: {} reads, {} computes, {} epochs, violations {:?}, failover {:?}, unserved {} ms",
        s.reads, s.computes, s.epochs, s.violations, s.failover_computes, s.no_serve_max_ms
    );
    assert!(s.reads > 500 && s.hits > 0, "{s:?}");
    assert_eq!(s.by_variant.len(), 2, "{s:?}");
    // The baseline (2 s, values fresh 500 ms): each key expired about four
    // times, and each expiry was computed once.
    let baseline = s.by_phase.iter().find(|p| p.phase == "baseline").unwrap();
    assert!((4..=12).contains(&baseline.computes), "{baseline:?}");
    assert_eq!(baseline.failed, 0, "{baseline:?}");
    // A SIGKILL with a 2 s node timeout: readers went unserved at least as
    // long as the failure took to detect.
    assert!(s.failed > 0 && s.no_serve_max_ms >= 1000.0, "{s:?}");
    let v = slo(r, "max_stampede_violations");
    assert_eq!(v.value, Some(s.violations.len() as f64), "{v:?}");
    assert_ne!(v.result, Verdict::Unknown);

    // Every acknowledged computation is one reader's `Computed` read.
    let dir = d.run_dir();
    let rec: StampedeRecording =
        serde_json::from_slice(&std::fs::read(dir.join("stampede.json")).unwrap()).unwrap();
    assert_eq!(rec.computes.len() as u64, s.computes);
    for c in rec.computes.iter().filter(|c| c.set_ok) {
        let n = rec
            .reads
            .iter()
            .filter(|r| {
                matches!(&r.outcome, ReadOutcome::Computed { value } if *value == c.value)
                    && r.reader == c.reader
            })
            .count();
        assert_eq!(n, 1, "{c:?}");
    }

    // A second computation inside the first epoch of key 0, granted by the
    // same node 5 ms after the first, before the first wrote its value.
    let first = rec
        .computes
        .iter()
        .find(|c| c.key == 0 && c.set_ok)
        .expect("a computation of key 0")
        .clone();
    let mut second = first.clone();
    second.reader += 1;
    second.value = format!("dup{}", first.value);
    for t in [
        &mut second.lock_sent_ns,
        &mut second.lock_end_ns,
        &mut second.miss_sent_ns,
        &mut second.miss_end_ns,
    ] {
        *t += 5_000_000;
    }
    let mut tampered = rec.clone();
    tampered.computes.push(second);
    let copy = tempfile::tempdir().unwrap();
    let to = copy.path().join("dup");
    copy_with_keys(dir, &to, |_| {});
    std::fs::write(
        to.join("stampede.json"),
        serde_json::to_vec(&tampered).unwrap(),
    )
    .unwrap();
    let (code, again) = check_run(env, &to);
    assert_eq!(code, Some(exit::CHECK_FAILED));
    let s2 = again
        .checks
        .stampede
        .as_ref()
        .expect("the stampede verdict");
    assert_eq!(s2.violations.len(), s.violations.len() + 1, "{s2:?}");
    assert_eq!(slo(&again, "max_stampede_violations").result, Verdict::Fail);
}

crate::on_both_runtimes!(
    process_stampede_drill_computes_each_expiry_once,
    docker_stampede_drill_computes_each_expiry_once,
    stampede_drill
);

/// The cold-start drill, small: 40 readers of 200 keys spread over every
/// slot, prefilled (a warm baseline), then FLUSHALL on every primary. The
/// baseline misses nothing; after the flush every key read is recomputed
/// once; the warm-up is measured; and the nodes' own keyspace misses
/// (INFO, sampled each second) are at least the tool's computations.
fn cold_start_drill(env: &Env) {
    let yaml = format!(
        "name: cold-start-test\n\
         topology: {}\n\
         seed: 3\n\
         stampede:\n  readers: 40\n  keys: 200\n  one_slot: false\n  prefill: true\n  ttl_ms: 600000\n  compute_ms: 10\n  read_every_ms: 20\n\
         baseline_ms: 1500\n\
         during_ms: 5000\n\
         settle_ms: 500\n\
         faults:\n  - {{fault: flush, target: primaries, at_ms: 0}}\n\
         slo:\n  max_warm_ms: 2000\n  max_stampede_violations: 0\n",
        topology("cluster-3x1.yaml").display()
    );
    // max_warm_ms: 2000 ms: at ~2000 reads/s over 200 keys every key is read
    // within a few hundred ms of the flush and recomputed in 10 ms (measured:
    // warm again 400 and 500 ms after); four times that, not the 5 s phase.
    let file = env.write("cold.yaml", &yaml);
    let d = env.drill(&file, &[]);
    assert_checked(&d);
    let r = d.report();
    assert_eq!(r.faults.len(), 1);
    assert_eq!(r.faults[0].nodes.len(), 3, "{:?}", r.faults[0]);
    let s = r.checks.stampede.as_ref().expect("the stampede verdict");
    let w = s.warm.as_ref().expect("a warm-up");
    eprintln!("cold-start drill: {w:?}, {} computes", s.computes);
    // Prefilled and fresh for 10 minutes: the baseline misses nothing.
    let baseline = s.by_phase.iter().find(|p| p.phase == "baseline").unwrap();
    assert_eq!(baseline.computes, 0, "{baseline:?}");
    assert_eq!(w.baseline_miss_ratio, 0.0, "{w:?}");
    // Uniform over 200 keys at ~2000 reads/s: every key is read, and
    // recomputed once, after the flush.
    assert_eq!(s.computes, 200, "{s:?}");
    assert_eq!(s.epochs, 200);
    assert!(w.peak_miss_ratio > 0.05, "{w:?}");
    let warm = slo(r, "max_warm_ms");
    assert_eq!(warm.result, Verdict::Pass, "{warm:?}");
    assert_eq!(warm.value, w.warm_ms);
    // The nodes saw at least as many misses as there were computations
    // (each found its key missing with a GET or the script's GET).
    assert!(
        r.checks.eviction.is_none(),
        "no maxmemory, no eviction verdict"
    );
    let misses: u64 = lookups(&d, |_| true, "keyspace_misses");
    assert!(
        misses >= s.computes,
        "INFO misses {misses} < {} computations",
        s.computes
    );
}

crate::on_both_runtimes!(
    process_cold_start_drill_recomputes_each_key_once_and_warms,
    docker_cold_start_drill_recomputes_each_key_once_and_warms,
    cold_start_drill
);

/// What the nodes `pick` counted of an INFO stat (`keyspace_hits`, …) over
/// the run, from the keyspace sampler's readings (each second and at every
/// phase's end, where the counters are reset: a reading below the one
/// before counts from 0).
fn lookups(d: &Drilled, pick: impl Fn(&str) -> bool, stat: &str) -> u64 {
    let mut last: std::collections::HashMap<String, u64> = Default::default();
    let mut total = 0;
    for l in std::fs::read_to_string(d.run_dir().join("keyspace.jsonl"))
        .unwrap()
        .lines()
    {
        let v: Value = serde_json::from_str(l).unwrap();
        // The end line holds the count.
        let Some(node) = v["node"].as_str() else {
            continue;
        };
        let n = v[stat].as_u64().unwrap();
        // A reading flagged `reset` was followed by a statistics reset: the
        // next one counts from 0 (it may already be above this one).
        let after = if v["reset"].as_bool() == Some(true) {
            0
        } else {
            n
        };
        let before = last.insert(node.to_string(), after).unwrap_or(0);
        if pick(node) {
            total += if n >= before { n - before } else { n };
        }
    }
    total
}

/// The app clients' GETs in a drill's stored history.
fn history_app_gets(d: &Drilled) -> u64 {
    read_jsonl(&d.run_dir().join("history.jsonl"))
        .unwrap()
        .iter()
        .filter(|o| o.kind == OpKind::Get && o.mode == ClientMode::App)
        .count() as u64
}

/// Replica reads, small: app clients GET from replicas, the probe from
/// primaries, while slot 0's replica is cut off from every other node for
/// 2.5 s. The replica goes on answering with what it had, so app reads of
/// its shard go stale; reads of primaries never do; the stale reads agree
/// with a count made here from the stored history.
#[test]
#[cfg_attr(
    not(root),
    ignore = "needs root: a partition on the process runtime is an iptables rule"
)]
fn replica_reads_go_stale_while_their_replica_is_cut_off() {
    let env = Env::new("process");
    let yaml = format!(
        "name: replica-reads-test\n\
         topology: {}\n\
         seed: 9\n\
         workload:\n  clients: 4\n  probe_clients: 1\n  model: {{open: {{rate: 1500}}}}\n  keys: 300\n  mix: {{get: 60, set: 30, del: 10}}\n  replica_reads: true\n  timeout_ms: 500\n  app_retries: 3\n\
         baseline_ms: 1000\n\
         settle_ms: 1000\n\
         faults:\n  - {{fault: partition, shape: isolate, target: 'replica_of:primary_of:0', at_ms: 0, hold_ms: 2500}}\n\
         slo:\n  max_staleness_ms: 600000\n",
        topology("cluster-3x1-fast.yaml").display()
    );
    let file = env.write("replica-reads.yaml", &yaml);
    let d = env.drill(&file, &[]);
    assert_checked(&d);
    let r = d.report();
    let s = r.checks.stale.as_ref().expect("the stale-read verdict");
    eprintln!("replica reads: {:?}", s.by_mode);
    let app = &s.by_mode["app"];
    let probe = &s.by_mode["probe"];
    assert!(app.reads > 500 && probe.reads > 50, "{s:?}");
    assert_eq!(
        probe.stale_reads, 0,
        "primaries never serve a superseded value here: {s:?}"
    );
    assert!(
        app.stale_reads > 0,
        "a replica cut off for 2.5 s serves what it had: {s:?}"
    );
    assert_eq!(app.stale_reads + probe.stale_reads, s.stale_reads);
    let staleness = slo(r, "max_staleness_ms");
    assert_eq!(staleness.value, Some(s.staleness_ms.max));
    // The replicas served the app clients' reads: their own INFO lookups
    // (sampled each second) account for nearly every app GET (redis-rs
    // takes its replicas from CLUSTER SLOTS once; the drill waits until it
    // lists them all).
    let replica = |node: &str| node.ends_with("n2");
    let replica_lookups =
        lookups(&d, replica, "keyspace_hits") + lookups(&d, replica, "keyspace_misses");
    let app_gets = history_app_gets(&d);
    assert!(
        replica_lookups as f64 >= 0.9 * app_gets as f64,
        "replicas looked up {replica_lookups} keys for {app_gets} app GETs"
    );
    // Every stale read was of the cut replica's shard (its primary's slots).
    let shard: Vec<u16> = s.examples.iter().map(|e| e.slot).collect();
    assert!(shard.iter().all(|&slot| slot <= 5460), "{shard:?}");

    // The same count from the stored history: a GET is stale when a write
    // of its key that started after the read value's write ended had ended
    // before the GET was sent.
    let history = read_jsonl(&d.run_dir().join("history.jsonl")).unwrap();
    let id = |v: &str| v.trim_end_matches('x').to_string();
    let mut stale = 0u64;
    for g in history
        .iter()
        .filter(|o| o.kind == OpKind::Get && o.is_ok() && o.value.is_some())
    {
        let v = id(g.value.as_deref().unwrap());
        let writes: Vec<&Op> = history
            .iter()
            .filter(|o| o.key == g.key && o.is_ok() && matches!(o.kind, OpKind::Set | OpKind::Del))
            .collect();
        let made = writes
            .iter()
            .filter(|w| w.kind == OpKind::Set && w.value.as_deref().map(id) == Some(v.clone()))
            .map(|w| w.end_ns)
            .max()
            .unwrap_or(0);
        if writes
            .iter()
            .any(|w| w.sent_ns > made && w.end_ns < g.sent_ns)
        {
            stale += 1;
        }
    }
    assert_eq!(stale, s.stale_reads);
}

/// Serve-stale, small, no fault: values fresh 300 ms and kept 1 s longer.
/// When one expires, one reader recomputes under the lock while the others
/// serve the stale value at once: stale serves are seen, never older than
/// the value's extra second, each epoch is computed once, and no read fails
/// or waits out a computation.
#[test]
fn serve_stale_serves_the_previous_value_while_one_reader_recomputes() {
    let env = Env::new("process");
    let yaml = format!(
        "name: serve-stale-test\n\
         topology: {}\n\
         seed: 4\n\
         stampede:\n  readers: 40\n  keys: 2\n  policy: serve_stale\n  ttl_ms: 300\n  stale_ms: 1000\n  compute_ms: 50\n  read_every_ms: 20\n\
         baseline_ms: 1000\n\
         during_ms: 2000\n\
         settle_ms: 500\n\
         slo:\n  max_stampede_violations: 0\n  max_stale_serve_ms: 1000\n",
        topology("standalone-1.yaml").display()
    );
    let file = env.write("serve-stale.yaml", &yaml);
    let d = env.drill(&file, &[]);
    assert_checked(&d);
    let r = d.report();
    let s = r.checks.stampede.as_ref().expect("the stampede verdict");
    eprintln!(
        "serve stale: {} reads, {} stale, staleness {:?}, {} computes in {} epochs, {} waited",
        s.reads, s.stale_served, s.staleness_ms, s.computes, s.epochs, s.waited
    );
    assert!(s.stale_served > 10, "{s:?}");
    assert_eq!(s.failed, 0, "{s:?}");
    assert!(s.violations.is_empty(), "{:?}", s.violations);
    // After the first computation of each key, expiry never empties a key
    // (stale_ms keeps it), so nobody waits for a computation but the very first.
    assert!(s.staleness_ms.max <= 1000.0, "{:?}", s.staleness_ms);
    assert_eq!(slo(r, "max_stale_serve_ms").value, Some(s.staleness_ms.max));
    // 3.5 s of 300 ms freshness: about a dozen epochs per key, one
    // computation each.
    assert_eq!(s.computes, s.epochs, "{s:?}");
    assert!(s.computes >= 10, "{s:?}");
}

/// The invalidation drill, small: 8 readers and 3 writers of 20 keys kept
/// by delete, update and a double delete, key 0 with two dependants read
/// together now and then. Checked against a count made here from the
/// stored history and against the nodes' INFO; then run folders tampered
/// with must not pass.
fn invalidation_drill(env: &Env) {
    use redis_drill::record::invalidation::{InvOp, InvalidationRecording, parse_value, value_of};
    let yaml = format!(
        "name: invalidation-test\n\
         topology: {}\n\
         seed: 5\n\
         invalidation:\n  readers: 8\n  writers: 3\n  keys: 20\n  read_every_ms: 5\n  write_every_ms: 10\n  store_ms: 5\n  double_delete_ms: 30\n  dependants: {{0: [1, 2]}}\n  group_reads: 0.1\n\
         baseline_ms: 1000\n\
         during_ms: 3000\n\
         settle_ms: 500\n\
         slo:\n  max_stale_after_invalidation: 1000000\n  max_invalidation_p99_ms: 1000\n",
        topology("cluster-3x1-fast.yaml").display()
    );
    let file = env.write("invalidation.yaml", &yaml);
    let d = env.drill(&file, &[]);
    assert_checked(&d);
    let r = d.report();
    let inv = r
        .checks
        .invalidation
        .as_ref()
        .expect("the invalidation verdict");
    eprintln!(
        "invalidation drill: {} reads ({} hits), {} writes, stale in window {}, after {} ({:?}), mixed {}/{}",
        inv.reads,
        inv.hits,
        inv.writes,
        inv.stale_in_window,
        inv.stale_after_invalidation,
        inv.causes,
        inv.mixed_group_reads,
        inv.group_reads
    );
    assert_eq!(inv.unknown, None, "{inv:?}");
    assert!(
        inv.hits > 200 && inv.misses > 50 && inv.writes > 100,
        "{inv:?}"
    );
    assert!(inv.group_reads > 0, "{inv:?}");
    assert_eq!(inv.by_policy.len(), 3, "{inv:?}");
    let v = slo(r, "max_stale_after_invalidation");
    assert_eq!(v.value, Some(inv.stale_after_invalidation as f64), "{v:?}");
    assert_eq!(v.result, Verdict::Pass);

    // The readers' hits and misses, counted here from the history.
    let dir = d.run_dir();
    let rec: InvalidationRecording =
        serde_json::from_slice(&std::fs::read(dir.join("invalidation.json")).unwrap()).unwrap();
    let (mut hits, mut misses, mut writes) = (0u64, 0u64, 0u64);
    for op in &rec.ops {
        match op {
            InvOp::Read { found: Some(f), .. } => {
                hits += f.iter().filter(|v| v.is_some()).count() as u64;
                misses += f.iter().filter(|v| v.is_none()).count() as u64;
            }
            InvOp::Write { .. } => writes += 1,
            _ => {}
        }
    }
    assert_eq!((hits, misses, writes), (inv.hits, inv.misses, inv.writes));
    // The nodes counted the same lookups (INFO keyspace_hits/misses, read
    // each second and at each phase's end): up to a read in flight per
    // reader at each of the four readings that bound the phases.
    let in_flight = 4 * 8 * 3;
    for (stat, ours) in [("keyspace_hits", hits), ("keyspace_misses", misses)] {
        let theirs = lookups(&d, |_| true, stat);
        assert!(
            theirs.abs_diff(ours) <= in_flight,
            "{stat}: INFO {theirs}, the readers {ours}"
        );
    }
    // Every witness's steps are in time order and within the run.
    for w in &inv.witnesses {
        assert!(w.steps.len() >= 4, "{w:?}");
        assert!(
            w.steps.windows(2).all(|p| p[0].at_ms <= p[1].at_ms),
            "{w:?}"
        );
    }

    let copy = tempfile::tempdir().unwrap();
    let tampered = |name: &str, rec: &InvalidationRecording| {
        with_invalidation(dir, &copy.path().join(name), rec)
    };
    // No read: nothing was judged, so the stale figures are unknown, not 0.
    let mut none = rec.clone();
    none.ops.retain(|o| !matches!(o, InvOp::Read { .. }));
    let (code, again) = check_run(env, &tampered("no-reads", &none));
    assert_eq!(code, Some(exit::UNKNOWN), "{:?}", again.checks.invalidation);
    assert_eq!(
        slo(&again, "max_stale_after_invalidation").result,
        Verdict::Unknown
    );
    // No write: nothing could go stale.
    let mut none = rec.clone();
    none.ops.retain(|o| !matches!(o, InvOp::Write { .. }));
    let (code, again) = check_run(env, &tampered("no-writes", &none));
    assert_eq!(code, Some(exit::UNKNOWN));
    assert_eq!(
        slo(&again, "max_stale_after_invalidation").result,
        Verdict::Unknown
    );
    // A history with holes: unknown.
    let mut holes = rec.clone();
    holes.unrecorded = 10;
    let (code, _) = check_run(env, &tampered("holes", &holes));
    assert_eq!(code, Some(exit::UNKNOWN));
    // Readers and writers that did not stop in time: unknown.
    let mut late = rec.clone();
    late.cut_short = true;
    let (code, _) = check_run(env, &tampered("late", &late));
    assert_eq!(code, Some(exit::UNKNOWN));
    // Cut short: refused, not judged.
    let to = tampered("cut", &rec);
    let bytes = std::fs::read(to.join("invalidation.json")).unwrap();
    std::fs::write(to.join("invalidation.json"), &bytes[..bytes.len() / 2]).unwrap();
    let (code, _) = {
        let o = env.run(&["check-run", to.to_str().unwrap(), "--json"]);
        (o.status.code(), o)
    };
    assert_ne!(code, Some(0));
    assert_ne!(code, Some(exit::CHECK_FAILED));

    // One read added: a hit of a value whose key a later write deleted
    // (acknowledged), read after that delete — a lost invalidation.
    let (value, key, deleted_at) = rec
        .ops
        .iter()
        .filter_map(|o| match o {
            InvOp::Set {
                id,
                key,
                versions,
                end_ns,
                ok: true,
                fill: true,
                ..
            } if versions.len() == 1 => {
                let (&s, &v) = versions.iter().next().unwrap();
                Some((id, *key, s, v, *end_ns))
            }
            _ => None,
        })
        .find_map(|(id, key, source, version, set_end)| {
            rec.ops.iter().find_map(|o| match o {
                InvOp::Invalidate {
                    source: s,
                    version: v,
                    keys,
                    start_ns,
                    end_ns,
                    ok: true,
                    round: 1,
                    ..
                } if *s == source && *v > version && keys.contains(&key) && *start_ns > set_end => {
                    let value = value_of(id, &[(source, version)].into());
                    Some((value, key, *end_ns))
                }
                _ => None,
            })
        })
        .expect("a fill, and a later acknowledged delete of its key");
    assert!(parse_value(&value).is_some());
    let mut stale = rec.clone();
    stale.ops.push(InvOp::Read {
        id: "r99-1".into(),
        reader: 99,
        keys: vec![key],
        start_ns: deleted_at + 1_000_000,
        end_ns: deleted_at + 1_100_000,
        node: None,
        found: Some(vec![Some(value)]),
        error: None,
        local: false,
        replica: false,
    });
    stale.ops.sort_by_key(InvOp::start_ns);
    let (_, again) = check_run(env, &tampered("stale", &stale));
    let inv2 = again.checks.invalidation.as_ref().expect("the verdict");
    assert_eq!(
        inv2.causes.lost_invalidation,
        inv.causes.lost_invalidation + 1,
        "{inv2:?}"
    );
    assert_eq!(
        inv2.stale_after_invalidation,
        inv.stale_after_invalidation + 1
    );
}

/// A copy of run folder `dir` at `to` whose invalidation history is `rec`.
fn with_invalidation(
    dir: &std::path::Path,
    to: &std::path::Path,
    rec: &redis_drill::record::invalidation::InvalidationRecording,
) -> PathBuf {
    copy_with_keys(dir, to, |_| {});
    std::fs::write(
        to.join("invalidation.json"),
        serde_json::to_vec(rec).unwrap(),
    )
    .unwrap();
    to.to_path_buf()
}

crate::on_both_runtimes!(
    process_invalidation_drill_agrees_with_its_history_and_info,
    docker_invalidation_drill_agrees_with_its_history_and_info,
    invalidation_drill
);

/// Client-side caching under the invalidation workload: 8 readers, each
/// with a local cache of its own (RESP3 tracking), 3 writers deleting. The
/// reads the readers answered themselves never reach a node, so the nodes'
/// own lookups (INFO keyspace hits and misses) are the readers' hits less
/// their local ones, and their misses; every stale local copy's witness
/// shows the fetch that brought it; and a history whose reads lost their
/// `local` mark judges those copies as lost invalidations instead, the
/// count unchanged.
fn client_side_cache_drill(env: &Env) {
    use redis_drill::record::invalidation::{InvOp, InvalidationRecording};
    let yaml = format!(
        "name: client-cache-test\n\
         topology: {}\n\
         seed: 5\n\
         invalidation:\n  readers: 8\n  writers: 3\n  keys: 20\n  policies: [delete]\n  read_every_ms: 5\n  write_every_ms: 20\n  store_ms: 5\n  client_cache: true\n\
         baseline_ms: 1000\n\
         during_ms: 3000\n\
         settle_ms: 500\n\
         slo:\n  max_stale_local_copies: 1000000\n  max_invalidation_p99_ms: 1000\n",
        topology("cluster-3x1-fast.yaml").display()
    );
    let file = env.write("client-cache.yaml", &yaml);
    let d = env.drill(&file, &[]);
    assert_checked(&d);
    let r = d.report();
    let inv = r
        .checks
        .invalidation
        .as_ref()
        .expect("the invalidation verdict");
    eprintln!(
        "client-side cache drill: {} reads, {} hits ({} local), {} misses, stale after {} ({:?})",
        inv.reads, inv.hits, inv.local_hits, inv.misses, inv.stale_after_invalidation, inv.causes
    );
    assert_eq!(inv.unknown, None, "{inv:?}");
    assert!(inv.local_hits > 100 && inv.local_hits < inv.hits, "{inv:?}");
    assert_eq!(
        slo(r, "max_stale_local_copies").value,
        Some(inv.causes.local_copy as f64)
    );

    // The nodes saw only the reads the local copies did not answer — each
    // twice: redis-rs fetches a key to cache with GET and PTTL (the
    // server's TTL bounds the copy's), and both look the key up.
    let in_flight = 4 * 8 * 3;
    for (stat, ours) in [
        ("keyspace_hits", inv.hits - inv.local_hits),
        ("keyspace_misses", inv.misses),
    ] {
        let theirs = lookups(&d, |_| true, stat);
        assert!(
            theirs.abs_diff(2 * ours) <= 2 * in_flight,
            "{stat}: INFO {theirs}, twice the readers' reads that reached a node {}",
            2 * ours
        );
    }
    for w in inv
        .witnesses
        .iter()
        .filter(|w| w.cause == redis_drill::checker::invalidation::Cause::LocalCopy)
    {
        assert!(
            w.steps.iter().any(|s| s.what.contains("from a node")),
            "a local copy's witness shows its fetch: {w:?}"
        );
        assert!(
            w.steps.windows(2).all(|p| p[0].at_ms <= p[1].at_ms),
            "{w:?}"
        );
    }

    // The `local` mark decides the cause, and only the cause.
    let dir = d.run_dir();
    let rec: InvalidationRecording =
        serde_json::from_slice(&std::fs::read(dir.join("invalidation.json")).unwrap()).unwrap();
    let mut unmarked = rec.clone();
    for op in &mut unmarked.ops {
        if let InvOp::Read { local, .. } = op {
            *local = false;
        }
    }
    let copy = tempfile::tempdir().unwrap();
    let to = with_invalidation(dir, &copy.path().join("unmarked"), &unmarked);
    let (_, again) = check_run(env, &to);
    let inv2 = again.checks.invalidation.as_ref().expect("the verdict");
    assert_eq!((inv2.local_hits, inv2.causes.local_copy), (0, 0));
    assert_eq!(
        inv2.causes.lost_invalidation,
        inv.causes.lost_invalidation + inv.causes.local_copy
    );
    assert_eq!(inv2.stale_after_invalidation, inv.stale_after_invalidation);
}

crate::on_both_runtimes!(
    process_client_side_cache_drill_agrees_with_the_nodes,
    docker_client_side_cache_drill_agrees_with_the_nodes,
    client_side_cache_drill
);
