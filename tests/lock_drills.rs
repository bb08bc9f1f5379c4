//! A lock drill end to end, through the CLI's own path (`redis-drill run`):
//! `scenarios/lock-holder-pause.yaml` on each runtime. The holder of lock 0
//! is frozen past its TTL; the typed report must show the pause, the stale
//! write the unfenced resource accepted and the fenced one refused, and
//! mutual exclusion held by the holders' own validity.

mod common;

use std::path::Path;

use common::*;
use redis_drill::exit;
use redis_drill::report::Verdict;

fn holder_pause(env: &Env) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/lock-holder-pause.yaml");
    let d = env.drill(&file, &["--seed", "7"]);
    // A loaded machine may miss the throughput SLO (a fail) or the
    // self-check (unknown); never an error.
    assert!(
        [exit::SUCCESS, exit::CHECK_FAILED, exit::UNKNOWN].contains(&d.code.unwrap_or(-1)),
        "{}",
        d.stderr
    );
    let r = d.report();
    let l = r.locks.as_ref().expect("a locks section");
    assert_eq!(l.incomplete, None);
    assert_eq!(l.algorithm.as_str(), "single");
    assert!(l.grants > 20, "{} grants", l.grants);
    assert_eq!(l.pauses.len(), 1, "{:?}", l.pauses);
    assert!(l.pauses[0].outlived_validity, "{:?}", l.pauses[0]);
    assert_eq!(l.violations, 0, "{:?}", l.overlaps);
    let f = l.resources.fenced.as_ref().expect("a fenced resource");
    let u = l.resources.unfenced.as_ref().expect("an unfenced resource");
    assert_eq!(f.stale_writes_accepted, 0);
    assert!(f.stale_writes_rejected >= 1, "{f:?}");
    assert!(u.stale_writes_accepted >= 1, "{u:?}");
    for name in ["max_lock_violations", "max_stale_writes_accepted"] {
        let s = r.slo.iter().find(|s| s.name == name).expect(name);
        assert_eq!(s.result, Verdict::Pass, "{s:?}");
    }
    assert!(d.stdout.contains("| fenced resource |"), "{}", d.stdout);
}

crate::on_both_runtimes!(
    process_lock_holder_pause_drill,
    docker_lock_holder_pause_drill,
    holder_pause
);

/// `scenarios/lock-single.yaml`: no fault, only `during_ms`. The steady
/// phase lasts what the file asks, and a healthy single-instance lock shows
/// no overlap and no stale write on either resource.
#[test]
fn process_lock_single_steady_drill() {
    let env = Env::new("process");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/lock-single.yaml");
    let d = env.drill(&file, &["--seed", "3"]);
    assert!(
        [exit::SUCCESS, exit::CHECK_FAILED, exit::UNKNOWN].contains(&d.code.unwrap_or(-1)),
        "{}",
        d.stderr
    );
    let r = d.report();
    let during = r
        .phases
        .iter()
        .find(|p| p.name == "during")
        .expect("a during phase");
    // The bounds are stored in whole microseconds; their difference in f64
    // can land a hair under the exact figure (7999.999999999999).
    let span = ((during.end_ms - during.start_ms) * 1000.0).round() / 1000.0;
    assert!(
        (8000.0..9000.0).contains(&span),
        "the steady phase lasted {span} ms; the file asks 8000"
    );
    assert!(r.faults.is_empty() && r.reshard.is_none());
    let l = r.locks.as_ref().expect("a locks section");
    assert!(l.grants > 100, "{} grants", l.grants);
    assert!(l.pauses.is_empty(), "{:?}", l.pauses);
    assert_eq!(l.violations, 0, "{:?}", l.overlaps);
    let f = l.resources.fenced.as_ref().expect("a fenced resource");
    let u = l.resources.unfenced.as_ref().expect("an unfenced resource");
    assert_eq!((f.stale_writes_accepted, u.stale_writes_accepted), (0, 0));
    // Every holder's token is the highest yet: the fence refuses nobody.
    assert_eq!(f.rejected_while_valid, 0, "{f:?}");
}

/// `scenarios/atomic-vs-locked-pause.yaml`: the holder of lock 0 frozen
/// between its GET and its SET. The locked path loses at least one
/// acknowledged update (the others' meanwhile, or its own when its stale SET
/// lands inside the next holder's read-modify-write), every one witnessed by
/// a value written twice; INCR loses none; the run fails exactly as the file
/// expects.
fn atomic_vs_locked_pause(env: &Env) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/atomic-vs-locked-pause.yaml");
    let d = env.drill(&file, &["--seed", "1"]);
    assert!(
        [exit::CHECK_FAILED, exit::UNKNOWN].contains(&d.code.unwrap_or(-1)),
        "{}",
        d.stderr
    );
    let r = d.report();
    let l = r.locks.as_ref().expect("a locks section");
    assert_eq!(l.incomplete, None);
    assert_eq!(l.pauses.len(), 1, "{:?}", l.pauses);
    let c = l.counters.as_ref().expect("counters");
    let lost = c.locked.lost.expect("the locked counters were read back");
    assert!(lost >= 1, "{:?}", c.locked);
    assert_eq!(lost, c.duplicate_writes, "{:?}", c.witnesses);
    assert!(
        c.witnesses
            .iter()
            .any(|w| w.second.worker == l.pauses[0].worker),
        "the frozen holder's write is a witness: {:?}",
        c.witnesses
    );
    let a = c.atomic.as_ref().expect("an atomic path");
    assert_eq!((a.lost, a.over_counted), (Some(0), Some(0)), "{a:?}");
    assert!(a.acked > 1000, "{a:?}");
    let s = r.slo.iter().find(|s| s.name == "max_lost_updates").unwrap();
    assert_eq!((s.result, s.value), (Verdict::Fail, Some(lost as f64)));
    assert!(d.stdout.contains("| atomic | 8 |"), "{}", d.stdout);
}

crate::on_both_runtimes!(
    process_atomic_vs_locked_pause_drill,
    docker_atomic_vs_locked_pause_drill,
    atomic_vs_locked_pause
);
