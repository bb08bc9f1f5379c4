//! Golden stored runs: one small real run of each drill kind (tests/golden/,
//! made by tests/golden/make.py on the process runtime), checked again by the
//! real `redis-drill check-run`. Every report it writes — report.json,
//! report.md, report.html, report.xml — must equal the stored one byte for
//! byte, so that a restructuring of the checker or the renderings that
//! changes what a report says is seen here, file by file, first line apart.
//!
//! A change that means to alter a report writes the new files with
//! `REDIS_DRILL_BLESS=1 cargo test --test golden` and says so in its commit;
//! `git diff tests/golden` then shows every difference.
//!
//! No server is started: `cargo test --test golden` takes a few seconds.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{BIN, Bounded};
use redis_drill::report::REPORT_FILES;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Every archive in tests/golden/, by drill name.
fn drills() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(golden_dir())
        .expect("reading tests/golden")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".tar.gz").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// Unpack `name`'s stored run into a folder of its own and check it again.
fn recheck(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let archive = golden_dir().join(format!("{name}.tar.gz"));
    let out = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .bounded_output()
        .expect("running tar");
    assert!(
        out.status.success(),
        "unpacking {}: {out:?}",
        archive.display()
    );
    let out = Command::new(BIN)
        .arg("check-run")
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .bounded_output()
        .expect("running redis-drill");
    // The verdict is the run's own (pass, fail or unknown); only bad input
    // (2) or a crash means the stored run could not be read.
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1 | 4 | 5)),
        "{name}: check-run exited {code:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// The first line where `a` and `b` part, for the failure message.
fn first_difference(a: &str, b: &str) -> String {
    let (mut la, mut lb) = (a.lines(), b.lines());
    for n in 1.. {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                let cut = |s: Option<&str>| s.map(|s| s.chars().take(300).collect::<String>());
                return format!("line {n}:\n  stored: {:?}\n  now:    {:?}", cut(x), cut(y));
            }
        }
    }
    unreachable!()
}

#[test]
fn every_golden_run_rechecks_to_the_same_reports_byte_for_byte() {
    let bless = std::env::var_os("REDIS_DRILL_BLESS").is_some();
    let names = drills();
    assert!(
        names.len() >= 15,
        "only {} golden runs in tests/golden",
        names.len()
    );
    let mut differences = Vec::new();
    for name in &names {
        let dir = recheck(name);
        for file in REPORT_FILES {
            let stored_path = golden_dir().join(name).join(file);
            let now = std::fs::read_to_string(dir.path().join(file))
                .unwrap_or_else(|e| panic!("{name}: check-run wrote no {file}: {e}"));
            if bless {
                std::fs::write(&stored_path, &now).unwrap();
                continue;
            }
            let stored = std::fs::read_to_string(&stored_path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", stored_path.display()));
            if stored != now {
                differences.push(format!(
                    "{name}/{file}: {}",
                    first_difference(&stored, &now)
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} report file(s) differ from tests/golden (REDIS_DRILL_BLESS=1 rewrites them when the change is meant):\n{}",
        differences.len(),
        differences.join("\n")
    );
}

/// The test above would pass on nothing if the archives held no history:
/// each golden run must carry ops for `check-run` to judge, and a report
/// changed by a single character must be told apart, at its line.
#[test]
fn golden_runs_hold_histories_and_a_one_character_change_is_found() {
    let name = drills().into_iter().next().expect("a golden run");
    let dir = recheck(&name);
    let history = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap();
    assert!(
        history.lines().count() > 10,
        "{name}: the golden history is nearly empty"
    );
    let stored = std::fs::read_to_string(golden_dir().join(&name).join("report.md")).unwrap();
    let tampered = stored.replacen('|', "¦", 1);
    let line = stored.lines().position(|l| l.contains('|')).unwrap() + 1;
    assert!(
        first_difference(&stored, &tampered).starts_with(&format!("line {line}:")),
        "{}",
        first_difference(&stored, &tampered)
    );
}
