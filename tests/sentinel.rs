//! Redis Sentinel (`sentinel:` in a replicated topology): brought up on the
//! process runtime beside the nodes, watching the primary, shown by
//! `status`, killed and started like nodes, failing the primary over by
//! themselves, and gone after `down`. Every refusal of a bad `sentinel:`
//! section is in tests/topology_errors.rs.

mod common;

use std::time::Duration;

use common::{Env, assert_nothing_left, wait_until};
use redis_drill::exit;
use redis_drill::record::status::StatusReport;

const TOPOLOGY: &str = "name: sentinels\nkind: replicated\nreplicated: {replicas: 2}\nsentinel:\n  count: 3\n  quorum: 2\n  down_after_ms: 1000\n  failover_timeout_ms: 5000\n";

/// The primary every Sentinel names, when they all name one.
fn agreed(s: &StatusReport) -> Option<(String, u64)> {
    let first = s.sentinels.first()?;
    let p = first.primary.clone()?;
    let e = first.config_epoch?;
    s.sentinels
        .iter()
        .all(|t| t.primary.as_deref() == Some(p.as_str()) && t.config_epoch == Some(e))
        .then_some((p, e))
}

#[test]
fn sentinels_watch_the_primary_fail_it_over_and_leave_nothing() {
    let env = Env::new("process");
    let file = env.write("sentinels.yaml", TOPOLOGY);
    let up = env.up(&file, "sentinels");
    let s = up.status();
    assert_eq!(s.sentinels.len(), 3, "{s:#?}");
    // `up` waited until each knows the primary, its two replicas and the
    // two other Sentinels.
    for t in &s.sentinels {
        assert_eq!(t.primary.as_deref(), Some("n1"), "{t:#?}");
        assert_eq!(t.config_epoch, Some(0), "{t:#?}");
        assert_eq!(t.flags.as_deref(), Some("master"), "{t:#?}");
        assert_eq!(
            (t.replicas, t.other_sentinels),
            (Some(2), Some(2)),
            "{t:#?}"
        );
    }
    let text = String::from_utf8_lossy(&up.run(&["status"]).stdout).to_string();
    assert!(
        text.contains("sentinels: all name n1 as the primary"),
        "{text}"
    );
    // A Sentinel is killed, started and read like a node.
    let out = up.run(&["kill", "sentinel2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = up.status();
    assert!(s.sentinels[1].error.is_some(), "{s:#?}");
    let out = up.run(&["start", "sentinel2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logs = up.run(&["logs", "sentinel1"]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("+monitor master sentinels"));
    // The primary killed: after down_after_ms the Sentinels agree it is
    // down, elect a leader, and promote a replica (a new epoch), by
    // themselves.
    let out = up.run(&["kill", "n1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut promoted = None;
    wait_until(
        "the Sentinels to promote a replica",
        Duration::from_secs(30),
        || {
            promoted = agreed(&up.status()).filter(|(p, e)| p != "n1" && *e >= 1);
            promoted.is_some()
        },
    );
    let (new, _) = promoted.unwrap();
    let s = up.status();
    assert!(common::is_primary(&s, &new), "{s:#?}");
    let run_id = up.run_id.clone();
    up.down();
    assert_nothing_left(&env, &run_id);
}

#[test]
fn sentinels_are_refused_on_docker_for_now_before_anything_starts() {
    let env = Env::new("docker");
    let file = env.write("sentinels.yaml", TOPOLOGY);
    let out = env.run(&["validate", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env.run(&["up", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(exit::BAD_INPUT));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sentinels.yaml: sentinel: Sentinels run on the process runtime only"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(env.state.path())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}
