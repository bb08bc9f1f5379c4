//! Redis Sentinel (`sentinel:` in a replicated topology): checked at its
//! lines before anything starts (tests/topology_errors.rs has every
//! refusal), and — until a runtime starts Sentinels — refused by `up`
//! rather than brought up without them.

mod common;

use common::Env;
use redis_drill::exit;

#[test]
fn a_topology_with_sentinels_validates_and_up_refuses_it_before_anything_starts() {
    let env = Env::new("process");
    let file = env.write(
        "sentinels.yaml",
        "name: sentinels\nkind: replicated\nreplicated: {replicas: 2}\nsentinel:\n  count: 3\n  quorum: 2\n",
    );
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
        err.contains("sentinels.yaml: sentinel: Sentinels are checked but not started yet"),
        "{err}"
    );
    // Nothing was started or left: no run folder, no process.
    let left: Vec<_> = std::fs::read_dir(env.state.path())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert!(common::processes_mentioning(env.state.path()).is_empty());
}
