//! `redis-drill nightly` and `compare` end to end, on the process runtime:
//! a nightly that passes, the same drill made worse on purpose (a longer
//! outage) flagged as a regression by the next nightly and by `compare`, and
//! a drill that hangs killed at its bound while the next one still runs,
//! with nothing of it left behind; and a drill written to fail (`expect:`)
//! that passes the nightly only when it fails as its scenario says.

mod common;

use std::path::{Path, PathBuf};

use common::{Env, assert_nothing_left};
use redis_drill::exit;
use serde_json::Value;

/// A shipped scenario copied into `dir` (its topology path made absolute),
/// with `edit` applied to its text.
fn copy_scenario(dir: &Path, shipped: &str, as_name: &str, edit: impl Fn(String) -> String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("scenarios").join(format!("{shipped}.yaml")))
        .expect("the shipped scenario");
    let text = text.replace(
        "../topologies/",
        &format!("{}/", root.join("topologies").display()),
    );
    let text = edit(text);
    std::fs::write(dir.join(format!("{as_name}.yaml")), text).expect("writing the scenario");
}

/// Run a nightly over `scenarios` into `out`; its exit code and summary.
fn nightly(env: &Env, scenarios: &Path, out: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "nightly",
        "--scenarios",
        scenarios.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = env.run(&args);
    let code = o.status.code().unwrap_or(-1);
    let latest = out.join("latest");
    let text = std::fs::read_to_string(latest.join("summary.json")).unwrap_or_else(|e| {
        panic!(
            "no summary.json ({e}): {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let summary: Value = serde_json::from_str(&text).expect("summary.json parses");
    for f in ["index.html", "junit.xml"] {
        assert!(latest.join(f).is_file(), "no {f} in the nightly");
    }
    (code, summary)
}

/// The summary's entry of `drill` (by the scenario's name).
fn entry<'a>(s: &'a Value, drill: &str) -> &'a Value {
    s["drills"]
        .as_array()
        .expect("drills[]")
        .iter()
        .find(|d| d["drill"] == drill)
        .unwrap_or_else(|| panic!("no {drill} in {s}"))
}

#[test]
fn a_nightly_flags_a_regression_and_survives_a_hung_drill() {
    let env = Env::new("process");
    let scenarios: PathBuf = env.files.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    let out = env.files.path().join("nightly");

    // 1. A nightly that passes: nothing before it to compare with.
    copy_scenario(
        &scenarios,
        "standalone-restart",
        "standalone-restart",
        |t| t,
    );
    let (code, first) = nightly(&env, &scenarios, &out, &[]);
    let d = entry(&first, "standalone-restart");
    assert_eq!(
        (&d["status"], &d["verdict"]),
        (&"finished".into(), &"pass".into()),
        "{d}"
    );
    assert_eq!((code, &first["outcome"]), (exit::SUCCESS, &"passed".into()));
    assert!(first["previous"].is_null());

    // 2. The same drill with the node kept down 2.5 s longer: its SLO still
    // holds, but the outage grew well past the downtime threshold (500 ms
    // and 25 %). The nightly says regressed, not failed.
    copy_scenario(
        &scenarios,
        "standalone-restart",
        "standalone-restart",
        |t| {
            assert!(t.contains("hold_ms: 1000"), "the shipped drill changed");
            t.replace("hold_ms: 1000", "hold_ms: 3500")
        },
    );
    let (code, second) = nightly(&env, &scenarios, &out, &[]);
    assert_eq!(entry(&second, "standalone-restart")["verdict"], "pass");
    assert_eq!(
        (code, &second["outcome"]),
        (exit::REGRESSED, &"regressed".into())
    );
    let first_name = nightly_dirs(&out)[0]
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    assert_eq!(second["previous"].as_str().map(str::to_string), first_name);
    let moved = second["trend"]["moved"]
        .as_array()
        .expect("trend.moved[]")
        .iter()
        .find(|m| m["drill"] == "standalone-restart" && m["figure"] == "downtime_ms")
        .unwrap_or_else(|| panic!("downtime not flagged: {}", second["trend"]));
    assert_eq!(moved["direction"], "worse");
    let (old, new) = (
        moved["old"].as_f64().unwrap(),
        moved["new"].as_f64().unwrap(),
    );
    assert!(new > old + 2000.0, "{moved}");
    // `compare` on the two nightly folders finds the same.
    let dirs = nightly_dirs(&out);
    let o = env.run(&[
        "compare",
        dirs[0].to_str().unwrap(),
        dirs[1].to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(exit::REGRESSED));
    let c: Value = serde_json::from_slice(&o.stdout).expect("compare --json");
    assert!(
        c["moved"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["figure"] == "downtime_ms" && m["direction"] == "worse"),
        "{c}"
    );

    // 3. A drill that hangs (a steady phase of 10 minutes) is killed at its
    // bound; the drill after it still runs, and nothing of the hung one is
    // left. No verdict for it: unknown, not a pass.
    copy_scenario(&scenarios, "lock-single", "hangs", |t| {
        assert!(t.contains("during_ms: 8000"), "the shipped drill changed");
        t.replace("during_ms: 8000", "during_ms: 600000")
    });
    // The bound applies to every drill: well above what standalone-restart
    // takes on a loaded machine (5–10 s; CI once took 8.04 s). What this
    // step checks is the hung drill, so the p99 of the restart drill beside
    // it is not compared: on a loaded 2-core machine it moved 1.2 → 7.2 ms
    // between two runs of the same drill (CI on 96a8bce), past the default
    // 5 ms, and a regression outranks unknown. Nor are its losses: its node
    // has no persistence, so each run loses a different number of writes
    // (CI on 892b2ef: 286 then 362 acknowledged, past the default 25 %).
    let (code, third) = nightly(
        &env,
        &scenarios,
        &out,
        &[
            "--drill-timeout",
            "30",
            "--threshold",
            "p99_ms=1000",
            "--threshold",
            "lost_writes=1000000",
            "--threshold",
            "lost_acknowledged_writes=1000000",
        ],
    );
    let hung = entry(&third, "lock-single");
    assert_eq!(
        (&hung["status"], &hung["verdict"]),
        (&"timed_out".into(), &"unknown".into()),
        "{hung}"
    );
    // It honoured the SIGTERM at its bound (its own interrupt handling:
    // exit code 130), rather than being killed after the 30 s grace, and
    // took its bound and its own teardown: a lock drill on standalone
    // nodes removes them in seconds (10 s: the grace would show as 60).
    assert_eq!(hung["exit_code"], 130, "{hung}");
    let took = hung["duration_ms"].as_f64().unwrap();
    assert!((30_000.0..30_000.0 + 10_000.0).contains(&took), "{hung}");
    assert_nothing_left(&env, hung["run_id"].as_str().unwrap());
    let after = entry(&third, "standalone-restart");
    assert_eq!(after["status"], "finished", "{after}");
    assert_eq!(
        (code, &third["outcome"]),
        (exit::UNKNOWN, &"unknown".into()),
        "{}",
        third["trend"]
    );
    let junit = std::fs::read_to_string(out.join("latest/junit.xml")).unwrap();
    assert!(junit.contains("timed out"), "{junit}");
}

/// The nightly folders under `out`, oldest first.
fn nightly_dirs(out: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn a_drill_written_to_fail_passes_the_nightly_only_when_it_fails_so() {
    let env = Env::new("process");
    let scenarios: PathBuf = env.files.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    let out = env.files.path().join("nightly");
    let written_to_fail = |name: &'static str, limit: &'static str| {
        move |t: String| {
            assert!(
                t.contains("name: standalone-restart\n") && t.contains("max_app_downtime_ms: 5000"),
                "the shipped drill changed"
            );
            t.replace("name: standalone-restart\n", &format!("name: {name}\n"))
                .replace(
                    "max_app_downtime_ms: 5000",
                    &format!("max_app_downtime_ms: {limit}"),
                )
                + "expect:\n  fail: [max_app_downtime_ms]\n  why: the node is down a second\n"
        }
    };
    // 1. A limit the outage breaks: the drill fails as it is written to,
    // and the nightly passes; its own verdict and exit code stay fail.
    copy_scenario(
        &scenarios,
        "standalone-restart",
        "hazard",
        written_to_fail("hazard", "1"),
    );
    let (code, first) = nightly(&env, &scenarios, &out, &[]);
    let d = entry(&first, "hazard");
    assert_eq!(d["verdict"], "fail", "{d}");
    assert_eq!(d["exit_code"], exit::CHECK_FAILED, "{d}");
    assert_eq!(d["expected"]["result"], "pass", "{d}");
    assert_eq!((code, &first["outcome"]), (exit::SUCCESS, &"passed".into()));
    let index = std::fs::read_to_string(out.join("latest/index.html")).unwrap();
    assert!(index.contains("fail, as expected"), "{index}");

    // 2. A limit the outage keeps: the hazard did not show, which fails the
    // nightly though the drill's verdict is pass.
    copy_scenario(
        &scenarios,
        "standalone-restart",
        "toothless",
        written_to_fail("toothless", "60000"),
    );
    let (code, second) = nightly(&env, &scenarios, &out, &[]);
    let d = entry(&second, "toothless");
    assert_eq!(d["verdict"], "pass", "{d}");
    assert_eq!(d["expected"]["result"], "fail", "{d}");
    assert!(
        d["expected"]["note"]
            .as_str()
            .unwrap()
            .starts_with("max_app_downtime_ms held"),
        "{d}"
    );
    assert_eq!(entry(&second, "hazard")["expected"]["result"], "pass");
    assert_eq!(
        (code, &second["outcome"]),
        (exit::CHECK_FAILED, &"failed".into())
    );
    let junit = std::fs::read_to_string(out.join("latest/junit.xml")).unwrap();
    assert!(
        junit.contains("failed as expected: max_app_downtime_ms"),
        "{junit}"
    );
    assert!(
        junit.contains("and the scenario expects it to fail"),
        "{junit}"
    );
}

/// `nightly --servers`: each drill once per server, every node of its
/// topology on that server, each run a drill of its own in the summary
/// (`NAME@SERVER`) with its report in the server's folder; the list says
/// so without running anything; an unknown server is refused (exit 2) and
/// a missing binary before the first drill (exit 3).
#[test]
fn a_nightly_runs_each_drill_once_per_server() {
    let env = Env::new("process");
    let scenarios: PathBuf = env.files.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    let out = env.files.path().join("nightly");
    copy_scenario(
        &scenarios,
        "standalone-restart",
        "standalone-restart",
        |t| {
            t.replace("baseline_ms: 2000", "baseline_ms: 500")
                .replace("settle_ms: 2000", "settle_ms: 500")
        },
    );
    let dir = scenarios.to_str().unwrap();
    let list = env.run(&[
        "nightly",
        "--scenarios",
        dir,
        "--servers",
        "redis-7.0,valkey-9.1",
        "--list",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&list.stdout),
        "standalone-restart@redis-7.0\nstandalone-restart@valkey-9.1\n"
    );
    let bad = env.run(&["nightly", "--scenarios", dir, "--servers", "valkey-7"]);
    assert_eq!(bad.status.code(), Some(exit::BAD_INPUT));
    let missing = env.run(&[
        "nightly",
        "--scenarios",
        dir,
        "--out",
        out.to_str().unwrap(),
        "--servers",
        "/nonexistent/valkey-server",
    ]);
    assert_eq!(missing.status.code(), Some(exit::ENVIRONMENT));
    assert!(!out.join("latest").exists(), "a nightly ran");

    let (code, s) = nightly(
        &env,
        &scenarios,
        &out,
        &["--servers", "redis-7.0,valkey-9.1"],
    );
    assert_eq!(code, exit::SUCCESS, "{s}");
    for (server, reported) in [("redis-7.0", "redis 7.0"), ("valkey-9.1", "valkey 9.1")] {
        let e = entry(&s, &format!("standalone-restart@{server}"));
        assert_eq!(e["verdict"], "pass", "{e}");
        let run_dir = e["run_dir"].as_str().expect("a report");
        assert!(run_dir.starts_with(&format!("{server}/")), "{run_dir}");
        let report: Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("latest").join(run_dir).join("report.json")).unwrap(),
        )
        .unwrap();
        let servers = report["environment"]["servers"]
            .as_object()
            .expect("servers");
        assert_eq!(servers.len(), 5, "{servers:?}");
        assert!(
            servers
                .values()
                .all(|v| v.as_str().unwrap().starts_with(reported)),
            "{server}: {servers:?}"
        );
    }
}

/// A drill whose clients run as workers on each region's host needs the
/// swarm's engines: a nightly on one machine leaves it out and names it,
/// rather than counting the refusal (exit 2) as a broken drill; `--only`
/// still runs what it names, and the run says why it cannot.
#[test]
fn a_nightly_off_the_swarm_leaves_out_the_drills_with_workers() {
    let env = Env::new("process");
    let scenarios: PathBuf = env.files.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    let out = env.files.path().join("nightly");
    copy_scenario(&scenarios, "swarm-failover", "swarm-failover", |t| t);
    let dir = scenarios.to_str().unwrap();
    let o = env.run(&[
        "nightly",
        "--scenarios",
        dir,
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(exit::SUCCESS), "{err}");
    assert!(
        err.contains("left out 1 drills that need --runtime swarm")
            && err.contains(": swarm-failover"),
        "{err}"
    );
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("latest").join("summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        summary["drills"].as_array().map(Vec::len),
        Some(0),
        "{summary}"
    );

    // --list says the same, without reaching any engine.
    let list = |extra: &[&str]| {
        let mut args = vec!["nightly", "--scenarios", dir, "--list"];
        args.extend_from_slice(extra);
        let o = env.run(&args);
        assert_eq!(o.status.code(), Some(exit::SUCCESS));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(list(&[]), "");
    assert_eq!(list(&["--runtime", "swarm"]), "swarm-failover\n");

    let (code, s) = nightly(&env, &scenarios, &out, &["--only", "swarm-failover"]);
    assert_ne!(code, exit::SUCCESS, "{s}");
    let e = entry(&s, "swarm-failover");
    assert_eq!(e["status"], "error", "{e}");
    assert_eq!(e["exit_code"], exit::BAD_INPUT, "{e}");
}
