//! `redis-drill nightly`: every shipped drill, one after the other, into
//! one folder, with a summary, an index, JUnit and the trend against the
//! previous nightly.
//!
//! The list of drills is the scenarios folder itself: every `*.yaml` in it,
//! in name order. A new drill joins the nightly by being added there.
//!
//! Each drill runs as a child `redis-drill run` process in a process group
//! of its own, with a run id the nightly chose. When it outlives its time
//! bound it gets SIGTERM (its own interrupt handling removes its run), then
//! SIGKILL after a grace; either way the nightly then removes whatever still
//! carries that run id, marks the drill `timed_out` and goes on. After every
//! drill the run id is removed again, so the nightly ends with nothing of
//! its own left running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::compare::reports_in;
use super::error::CliError;
use super::output::print_json;
use crate::exit;
use crate::report::nightly::{self, DrillEntry, DrillStatus, Summary};
use crate::report::{Report, compare};
use crate::runtime::{self, Runtime, RuntimeKind};
use crate::scenarios::Scenario;

/// How long a drill has after SIGTERM to stop and remove its run before it
/// is SIGKILLed: a run's own teardown (removing a 6-node topology) takes a
/// few seconds; 30 s leaves room on a loaded 2-core machine.
const TERM_GRACE: Duration = Duration::from_secs(30);

/// Run every shipped drill (every scenarios/*.yaml), each bounded in time,
/// into <out>/<UTC timestamp>/ with summary.json, index.html and junit.xml,
/// and compare with the previous nightly there. Exits 0 when every drill
/// passed and nothing regressed, 1 when a drill failed, 5 when none failed
/// but something regressed, 4 when a verdict is unknown (a drill that timed
/// out or could not run included).
#[derive(clap::Args, Debug)]
pub(crate) struct Nightly {
    /// Where nodes run: docker or process (default: $REDIS_DRILL_RUNTIME, else docker when an engine answers, else process).
    #[arg(long, value_enum)]
    runtime: Option<RuntimeKind>,
    /// Root of the nightlies: each one is <out>/<UTC timestamp>/, and `latest` links the newest.
    #[arg(long, default_value = "runs/nightly")]
    out: PathBuf,
    /// The folder whose *.yaml files are the drills.
    #[arg(long, default_value = "scenarios")]
    scenarios: PathBuf,
    /// Run only these drills (file names without .yaml, comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Each drill's time bound, in seconds: past it the drill is killed and marked timed out.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    drill_timeout: u64,
    /// Override a compared figure's threshold, as `compare --threshold`.
    #[arg(long = "threshold", value_name = "FIGURE=ABS[,REL]")]
    thresholds: Vec<String>,
    /// Print the drills the nightly would run, one a line, and exit.
    #[arg(long)]
    list: bool,
}

impl Nightly {
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let mut thresholds = compare::default_thresholds();
        for spec in &self.thresholds {
            compare::set_threshold(&mut thresholds, spec).map_err(CliError::BadThreshold)?;
        }
        let drills = drills_in(&self.scenarios, &self.only)?;
        if self.list {
            for (name, _) in &drills {
                crate::outln!("{name}");
            }
            return Ok(exit::SUCCESS);
        }
        let rt = Runtime::select(self.runtime).await?;
        let started = std::time::SystemTime::now();
        let clock = Instant::now();
        let dir = create_nightly_dir(&self.out, started)?;
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|source| CliError::WriteFile {
            path: logs.clone(),
            source,
        })?;
        crate::note!(
            "nightly: {} drills · {} runtime · each bounded to {} s · {}",
            drills.len(),
            rt.kind(),
            self.drill_timeout,
            dir.display()
        );
        let bound = Duration::from_secs(self.drill_timeout);
        let mut entries = Vec::new();
        let mut reports = BTreeMap::new();
        let mut interrupted = None;
        for (i, (stem, path)) in drills.iter().enumerate() {
            crate::note!("[{}/{}] {stem}", i + 1, drills.len());
            let ran = run_one(&rt, stem, path, &dir, &logs, bound).await;
            let (entry, report, signal) = ran;
            crate::note!(
                "[{}/{}] {stem}: {} in {:.0} s",
                i + 1,
                drills.len(),
                nightly::status_word(&entry),
                entry.duration_ms / 1000.0
            );
            if let Some(r) = report {
                reports.insert(entry.drill.clone(), r);
            }
            entries.push(entry);
            if signal.is_some() {
                interrupted = signal;
                break;
            }
        }
        let previous = previous_nightly(&self.out, &dir);
        let old = previous
            .as_ref()
            .and_then(|p| reports_in(p).ok())
            .unwrap_or_default();
        let trend = nightly::trend(&old, &reports, &entries, &thresholds);
        let outcome = nightly::outcome(&entries, &trend);
        let summary = Summary {
            format_version: 1,
            started_at: humantime::format_rfc3339_seconds(started).to_string(),
            duration_ms: clock.elapsed().as_secs_f64() * 1000.0,
            runtime: rt.kind().to_string(),
            drill_timeout_s: self.drill_timeout,
            drills: entries,
            previous: previous
                .as_ref()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned()),
            trend,
            outcome,
            exit_code: outcome.code(),
        };
        write_nightly(&dir, &summary, &reports)?;
        link_latest(&self.out, &dir);
        if json {
            print_json(&summary);
        } else {
            crate::out!("{}", nightly::render_text(&summary));
            crate::note!("nightly: {}", dir.join("index.html").display());
        }
        if let Some(signal) = interrupted {
            crate::note!("nightly: interrupted by {signal}; the drills after it did not run");
            return Ok(exit::INTERRUPTED);
        }
        Ok(summary.exit_code)
    }
}

/// The drills: every `*.yaml` in `dir` by file stem, in name order; with
/// `only`, those (each must exist).
fn drills_in(dir: &Path, only: &[String]) -> Result<Vec<(String, PathBuf)>, CliError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CliError::ReadFile {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut all: Vec<(String, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml"))
        .filter_map(|p| Some((p.file_stem()?.to_string_lossy().into_owned(), p)))
        .collect();
    all.sort();
    if only.is_empty() {
        return Ok(all);
    }
    let mut picked = Vec::new();
    for name in only {
        let name = name.trim();
        match all.iter().find(|(stem, _)| stem == name) {
            Some(d) if !picked.contains(d) => picked.push(d.clone()),
            Some(_) => {}
            None => {
                return Err(CliError::UnknownDrill {
                    name: name.to_string(),
                    dir: dir.to_path_buf(),
                    known: all.iter().map(|(s, _)| s.clone()).collect(),
                });
            }
        }
    }
    Ok(picked)
}

/// `<out>/<UTC timestamp>/`, new (a suffix keeps two nightlies in the same
/// second apart).
fn create_nightly_dir(out: &Path, started: std::time::SystemTime) -> Result<PathBuf, CliError> {
    let stamp = humantime::format_rfc3339_seconds(started)
        .to_string()
        .replace(':', "-");
    let fail = |path: &Path, source| CliError::WriteFile {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(out).map_err(|e| fail(out, e))?;
    for n in 0..100 {
        let path = if n == 0 {
            out.join(&stamp)
        } else {
            out.join(format!("{stamp}.{n}"))
        };
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(fail(&path, e)),
        }
    }
    Err(fail(
        out,
        std::io::Error::other("too many nightlies in one second"),
    ))
}

/// The newest nightly folder under `out` before `current`: a sibling holding
/// a summary.json, by name (names are UTC timestamps).
fn previous_nightly(out: &Path, current: &Path) -> Option<PathBuf> {
    let here = current.file_name()?.to_os_string();
    let mut found: Vec<PathBuf> = std::fs::read_dir(out)
        .ok()?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.file_name() < here)
        .map(|e| e.path())
        .filter(|p| p.join("summary.json").is_file())
        .collect();
    found.sort();
    found.pop()
}

/// Point `<out>/latest` at `dir` (best effort: the nightly is written either way).
fn link_latest(out: &Path, dir: &Path) {
    let latest = out.join("latest");
    let _ = std::fs::remove_file(&latest);
    if let Some(name) = dir.file_name()
        && let Err(e) = std::os::unix::fs::symlink(name, &latest)
    {
        tracing::warn!(path = %latest.display(), "could not link the latest nightly: {e}");
    }
}

/// Write summary.json, index.html and junit.xml into the nightly folder.
fn write_nightly(
    dir: &Path,
    summary: &Summary,
    reports: &BTreeMap<String, Report>,
) -> Result<(), CliError> {
    let write = |name: &str, body: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, body).map_err(|source| CliError::WriteFile { path, source })
    };
    write(
        "summary.json",
        serde_json::to_vec_pretty(summary).expect("a summary serializes"),
    )?;
    write("index.html", nightly::render_index(summary).into_bytes())?;
    write(
        "junit.xml",
        nightly::render_junit(summary, reports).into_bytes(),
    )
}

/// Run one drill as a child `redis-drill run`, bounded by `bound`. Returns
/// its entry, its report when it wrote one, and the signal when the nightly
/// itself was interrupted meanwhile.
async fn run_one(
    rt: &Runtime,
    stem: &str,
    path: &Path,
    dir: &Path,
    logs: &Path,
    bound: Duration,
) -> (DrillEntry, Option<Report>, Option<&'static str>) {
    let run_id = runtime::new_run_id();
    let clock = Instant::now();
    let ms = |c: Instant| c.elapsed().as_secs_f64() * 1000.0;
    // The scenario's own name is its run folder's name.
    let name = match Scenario::load(path) {
        Ok(sc) => sc.name,
        Err(e) => {
            let entry = DrillEntry::without_report(
                stem.to_string(),
                DrillStatus::Error,
                run_id,
                Some(exit::BAD_INPUT),
                ms(clock),
                format!("the scenario does not load: {e}"),
            );
            return (entry, None, None);
        }
    };
    let log_path = logs.join(format!("{stem}.log"));
    let spawned = std::fs::File::create(&log_path).and_then(|log| {
        let err = log.try_clone()?;
        let exe = std::env::current_exe()?;
        tokio::process::Command::new(exe)
            .arg("run")
            .arg(path)
            .args(["--runtime", &rt.kind().to_string()])
            .arg("--out")
            .arg(dir)
            .args(["--run-id", &run_id])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            // Its own group: the nightly signals the drill and everything it
            // started, and a Ctrl-C at the terminal reaches only the nightly.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
    });
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let entry = DrillEntry::without_report(
                name,
                DrillStatus::Error,
                run_id,
                None,
                ms(clock),
                format!("could not start `redis-drill run`: {e}"),
            );
            return (entry, None, None);
        }
    };
    let pid = child.id();
    let mut signal = None;
    let waited = tokio::select! {
        r = tokio::time::timeout(bound, child.wait()) => r.ok(),
        s = super::interrupt::shutdown_signal() => { signal = Some(s); None }
    };
    let (status, exit_code) = match waited {
        Some(Ok(st)) => (DrillStatus::Finished, st.code()),
        Some(Err(e)) => {
            tracing::warn!(drill = stem, "waiting for the drill failed: {e}");
            (DrillStatus::Error, None)
        }
        None => {
            // Past its bound (or the nightly was interrupted): SIGTERM to its
            // group lets it remove its own run; SIGKILL after the grace.
            let code = stop_group(&mut child, pid).await;
            (DrillStatus::TimedOut, code)
        }
    };
    // Whatever still carries the run id goes, in every case: a drill that
    // was killed never ran its teardown.
    match rt.remove_run(&run_id).await {
        Ok(r) => tracing::info!(run_id, removed = %r, "removed the drill's run"),
        Err(e) => crate::note!("nightly: removing run {run_id} of {stem} failed: {e}"),
    }
    let duration_ms = ms(clock);
    let found = find_report(&dir.join(&name));
    match (status, found) {
        (DrillStatus::Finished, Some((run_dir, report))) => {
            let rel = run_dir
                .strip_prefix(dir)
                .unwrap_or(&run_dir)
                .display()
                .to_string();
            let entry = DrillEntry::finished(&report, run_id, exit_code, duration_ms, rel);
            (entry, Some(report), signal)
        }
        (DrillStatus::TimedOut, _) => {
            let why = if signal.is_some() {
                "stopped: the nightly was interrupted".to_string()
            } else {
                format!(
                    "killed after its bound of {} s; run {run_id} removed",
                    bound.as_secs()
                )
            };
            let entry = DrillEntry::without_report(
                name,
                DrillStatus::TimedOut,
                run_id,
                exit_code,
                duration_ms,
                why,
            );
            (entry, None, signal)
        }
        _ => {
            let tail = log_tail(&log_path, 3);
            let entry = DrillEntry::without_report(
                name,
                DrillStatus::Error,
                run_id,
                exit_code,
                duration_ms,
                format!(
                    "exit code {}, no report: {tail}",
                    exit_code.map_or("none".into(), |c| c.to_string())
                ),
            );
            (entry, None, signal)
        }
    }
}

/// SIGTERM the drill's process group, wait up to [`TERM_GRACE`], then
/// SIGKILL it. Returns the drill's exit code if it exited by itself.
async fn stop_group(child: &mut tokio::process::Child, pid: Option<u32>) -> Option<i32> {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        let _ = child.kill().await;
        return None;
    };
    // SAFETY: killpg only sends a signal to the group the child leads.
    unsafe { libc::killpg(pid, libc::SIGTERM) };
    if let Ok(Ok(st)) = tokio::time::timeout(TERM_GRACE, child.wait()).await {
        // Anything of the group still alive (a relay it forked) goes too.
        unsafe { libc::killpg(pid, libc::SIGKILL) };
        return st.code();
    }
    // SAFETY: as above.
    unsafe { libc::killpg(pid, libc::SIGKILL) };
    let _ = child.wait().await;
    None
}

/// The newest run folder under `root` (`<out>/<scenario>/`) with its report;
/// `None` when there is none or it does not parse.
fn find_report(root: &Path) -> Option<(PathBuf, Report)> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| p.join("report.json").is_file())
        .collect();
    dirs.sort();
    let dir = dirs.pop()?;
    let report = super::compare::read_report(&dir.join("report.json")).ok()?;
    Some((dir, report))
}

/// The last `n` non-empty lines of a drill's log, joined.
fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drills_are_the_scenarios_folder_in_name_order() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let all = drills_in(&dir, &[]).unwrap();
        let shipped = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "yaml"))
            .count();
        assert_eq!(all.len(), shipped);
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
        let some = drills_in(
            &dir,
            &["standalone-restart".into(), "cluster-reshard".into()],
        )
        .unwrap();
        let names: Vec<&str> = some.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["standalone-restart", "cluster-reshard"]);
        let e = drills_in(&dir, &["no-such-drill".into()]).unwrap_err();
        assert!(e.to_string().contains("--only no-such-drill"), "{e}");
        assert_eq!(e.class().code(), exit::BAD_INPUT);
    }

    #[test]
    fn the_previous_nightly_is_the_newest_older_folder_with_a_summary() {
        let out = tempfile::tempdir().unwrap();
        for (name, summary) in [
            ("2026-11-20T22-00-00Z", true),
            ("2026-11-21T22-00-00Z", true),
            ("2026-11-22T22-00-00Z", false),
            ("2026-11-24T22-00-00Z", true),
        ] {
            let d = out.path().join(name);
            std::fs::create_dir(&d).unwrap();
            if summary {
                std::fs::write(d.join("summary.json"), "{}").unwrap();
            }
        }
        let current = out.path().join("2026-11-23T22-00-00Z");
        std::fs::create_dir(&current).unwrap();
        let p = previous_nightly(out.path(), &current).unwrap();
        assert!(p.ends_with("2026-11-21T22-00-00Z"), "{}", p.display());
        let first = out.path().join("2026-11-19T22-00-00Z");
        assert_eq!(previous_nightly(out.path(), &first), None);
    }
}
