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
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::compare::reports_in;
use super::error::CliError;
use super::output::print_json;
use super::supervisor::{self, Ended};
use crate::exit;
use crate::report::nightly::{self, DrillEntry, DrillStatus, Summary};
use crate::report::{Report, compare};
use crate::runtime::{self, Runtime, RuntimeKind};
use crate::scenarios::Scenario;

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
    /// Run each drill once per server (redis-7.0, valkey-8.1, valkey-9.1, a
    /// path), every node of its topology on it: a server matrix every
    /// night, each run a drill of its own (`cluster-failover@valkey-9.1`)
    /// in the index, the JUnit and the trend.
    #[arg(long, value_delimiter = ',', value_parser = crate::topology::Server::parse)]
    servers: Vec<crate::topology::Server>,
    /// Print the drills the nightly would run, one a line, and exit.
    #[arg(long)]
    list: bool,
}

/// One run of the nightly: a drill, on a server when the nightly is a
/// matrix.
struct Planned<'a> {
    /// How the nightly lists it: the drill's file, `@server` in a matrix
    /// (its entry is named by the scenario, `@server` too).
    label: String,
    stem: &'a str,
    path: &'a Path,
    server: Option<&'a crate::topology::Server>,
}

impl Nightly {
    /// Run the chosen drills, write the nightly's folder and compare it with the previous one;
    /// the exit code says whether a drill failed or something regressed.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let mut thresholds = compare::default_thresholds();
        for spec in &self.thresholds {
            compare::set_threshold(&mut thresholds, spec).map_err(CliError::BadThreshold)?;
        }
        let found = drills_in(&self.scenarios, &self.only)?;
        let servers: Vec<Option<&crate::topology::Server>> = if self.servers.is_empty() {
            vec![None]
        } else {
            self.servers.iter().map(Some).collect()
        };
        let drills: Vec<Planned> = (found.iter())
            .flat_map(|(stem, path)| {
                servers.iter().map(move |server| Planned {
                    label: match server {
                        Some(s) => format!("{stem}@{s}"),
                        None => stem.clone(),
                    },
                    stem,
                    path,
                    server: *server,
                })
            })
            .collect();
        // A drill whose clients run as workers on each region's host needs
        // the swarm's engines: left out of a nightly on one machine (unless
        // named with --only, which then says why it cannot run).
        let on_swarm = Runtime::chosen(self.runtime)? == Some(RuntimeKind::Swarm);
        let (drills, swarm_only): (Vec<Planned>, Vec<Planned>) = drills
            .into_iter()
            .partition(|d| !self.only.is_empty() || on_swarm || !needs_swarm(d.path));
        if self.list {
            for d in &drills {
                crate::outln!("{}", d.label);
            }
            return Ok(exit::SUCCESS);
        }
        // Every server's binary before the first drill, not at its turn.
        for server in &self.servers {
            crate::runtime::servers::find(server)?;
        }
        let rt = Runtime::select(self.runtime).await?;
        if !swarm_only.is_empty() {
            let names: Vec<&str> = swarm_only.iter().map(|d| d.label.as_str()).collect();
            crate::note!(
                "nightly: left out {} drills that need --runtime swarm (workers of clients on each region's host): {}",
                names.len(),
                names.join(", ")
            );
        }
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
        for (i, planned) in drills.iter().enumerate() {
            let label = &planned.label;
            crate::note!("[{}/{}] {label}", i + 1, drills.len());
            let ran = run_one(&rt, planned, &dir, &logs, bound).await;
            let (entry, report, signal) = ran;
            crate::note!(
                "[{}/{}] {label}: {} in {:.0} s",
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
        let earlier = earlier_nightlies(&self.out, &dir);
        let previous = earlier.last().cloned();
        let old = previous
            .as_ref()
            .map(|p| previous_reports(p))
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
        let history = history(&earlier);
        write_nightly(&dir, &summary, &history, &reports)?;
        link_latest(&dir);
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

/// Whether the scenario at `path` runs clients as workers on its regions'
/// hosts, which only the swarm runtime has. A scenario that does not load
/// is not left out: its run says why.
fn needs_swarm(path: &Path) -> bool {
    Scenario::load(path).is_ok_and(|sc| sc.workload.clients.groups.iter().any(|g| g.is_worker()))
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

/// The nightly folders under `out` before `current`, oldest first: its
/// siblings holding a summary.json, by name (names are UTC timestamps).
fn earlier_nightlies(out: &Path, current: &Path) -> Vec<PathBuf> {
    let Some(here) = current.file_name().map(std::ffi::OsStr::to_os_string) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.file_name() < here)
        .map(|e| e.path())
        .filter(|p| p.join("summary.json").is_file())
        .collect();
    found.sort();
    found
}

/// The summaries of the last of the `earlier` nightlies (oldest first), for
/// the index's sparklines; one that cannot be read is left out (and logged).
fn history(earlier: &[PathBuf]) -> Vec<nightly::PastNightly> {
    let keep = earlier.len().saturating_sub(nightly::SPARK_NIGHTLIES - 1);
    earlier[keep..]
        .iter()
        .filter_map(|dir| {
            let path = dir.join("summary.json");
            let read = std::fs::read(&path).map_err(|e| e.to_string());
            match read.and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string())) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "left out of the sparklines: {e}");
                    None
                }
            }
        })
        .collect()
}

/// Point `<out>/latest` at `dir` (best effort: the nightly is written either way).
fn link_latest(dir: &Path) {
    let run = crate::report::RunDir {
        path: dir.to_path_buf(),
    };
    if let Err(e) = run.link_latest() {
        tracing::warn!(path = %dir.display(), "could not link the latest nightly: {e}");
    }
}

/// Write summary.json, index.html and junit.xml into the nightly folder.
fn write_nightly(
    dir: &Path,
    summary: &Summary,
    history: &[nightly::PastNightly],
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
    write(
        "index.html",
        nightly::render_index(summary, history).into_bytes(),
    )?;
    write(
        "junit.xml",
        nightly::render_junit(summary, reports).into_bytes(),
    )
}

/// The reports of an earlier nightly by the name it gave each drill (its
/// summary's entries: `@server` in a matrix); one without a summary, by
/// scenario name.
fn previous_reports(dir: &Path) -> BTreeMap<String, Report> {
    let summary: Option<nightly::PastNightly> = std::fs::read(dir.join("summary.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(summary) = summary else {
        return reports_in(dir).unwrap_or_default();
    };
    (summary.drills.iter())
        .filter_map(|e| {
            let run = dir.join(e.run_dir.as_ref()?).join("report.json");
            let r = super::compare::read_report(&run).ok()?;
            Some((e.drill.clone(), r))
        })
        .collect()
}

/// Run one drill as a child `redis-drill run`, bounded by `bound`. Returns
/// its entry, its report when it wrote one, and the signal when the nightly
/// itself was interrupted meanwhile.
async fn run_one(
    rt: &Runtime,
    planned: &Planned<'_>,
    dir: &Path,
    logs: &Path,
    bound: Duration,
) -> (DrillEntry, Option<Report>, Option<&'static str>) {
    let (mut entry, report, signal) = run_child(rt, planned, dir, logs, bound).await;
    // In a matrix, each server's run is a drill of its own.
    if let Some(s) = planned.server {
        entry.drill = format!("{}@{s}", entry.drill);
    }
    (entry, report, signal)
}

async fn run_child(
    rt: &Runtime,
    planned: &Planned<'_>,
    dir: &Path,
    logs: &Path,
    bound: Duration,
) -> (DrillEntry, Option<Report>, Option<&'static str>) {
    let (stem, path) = (planned.stem, planned.path);
    // A matrix's runs of one drill each in their server's folder.
    let out = match planned.server {
        Some(s) => dir.join(s.to_string().replace('/', "_")),
        None => dir.to_path_buf(),
    };
    let run_id = runtime::new_run_id();
    let clock = Instant::now();
    let ms = |c: Instant| c.elapsed().as_secs_f64() * 1000.0;
    // The scenario's own name is its run folder's name.
    let name = match Scenario::load(path) {
        Ok(sc) => sc.name,
        Err(e) => {
            let why = format!("the scenario does not load: {e}");
            let entry = DrillEntry::without_report(
                stem.to_string(),
                DrillStatus::Error,
                run_id,
                Some(exit::BAD_INPUT),
                ms(clock),
                why,
            );
            return (entry, None, None);
        }
    };
    let log_path = logs.join(format!("{}.log", planned.label.replace('/', "_")));
    let kind = rt.kind().to_string();
    let server = planned.server.map(|s| s.to_string());
    let mut args: Vec<&OsStr> = vec![
        "run".as_ref(),
        path.as_os_str(),
        "--runtime".as_ref(),
        kind.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--run-id".as_ref(),
        run_id.as_ref(),
    ];
    if let Some(s) = &server {
        args.push(OsStr::new("--server"));
        args.push(OsStr::new(s.as_str()));
    }
    let spawned = std::env::current_exe().and_then(|exe| supervisor::spawn(&exe, &args, &log_path));
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let why = format!("could not start `redis-drill run`: {e}");
            let entry =
                DrillEntry::without_report(name, DrillStatus::Error, run_id, None, ms(clock), why);
            return (entry, None, None);
        }
    };
    let (ended, signal) = supervisor::wait_bounded(&mut child, bound).await;
    // Whatever still carries the run id goes, in every case: a drill that
    // was killed never ran its teardown.
    match rt.remove_run(&run_id).await {
        Ok(r) => tracing::info!(run_id, removed = %r, "removed the drill's run"),
        Err(e) => crate::note!("nightly: removing run {run_id} of {stem} failed: {e}"),
    }
    let ran = Ran {
        name,
        run_id,
        duration_ms: ms(clock),
        log: log_path,
        bound,
        interrupted: signal.is_some(),
    };
    let (entry, report) = entry_of(ran, ended, dir, &out);
    (entry, report, signal)
}

/// A drill that was started: what its entry is made of, beside how it ended.
struct Ran {
    name: String,
    run_id: String,
    duration_ms: f64,
    log: PathBuf,
    bound: Duration,
    interrupted: bool,
}

/// The nightly's entry for a drill that ran, and its report when it
/// finished and wrote one.
fn entry_of(ran: Ran, ended: Ended, dir: &Path, out: &Path) -> (DrillEntry, Option<Report>) {
    let (status, exit_code) = match ended {
        Ended::Exited(code) => (DrillStatus::Finished, code),
        Ended::WaitFailed(e) => {
            tracing::warn!(drill = ran.name, "waiting for the drill failed: {e}");
            (DrillStatus::Error, None)
        }
        Ended::Stopped(code) => (DrillStatus::TimedOut, code),
    };
    let Ran {
        name,
        run_id,
        duration_ms,
        ..
    } = ran;
    let found = find_report(&out.join(&name));
    match (status, found) {
        (DrillStatus::Finished, Some((run_dir, report))) => {
            let rel = run_dir
                .strip_prefix(dir)
                .unwrap_or(&run_dir)
                .display()
                .to_string();
            let entry = DrillEntry::finished(&report, run_id, exit_code, duration_ms, rel);
            (entry, Some(report))
        }
        (DrillStatus::TimedOut, _) => {
            let why = if ran.interrupted {
                "stopped: the nightly was interrupted".to_string()
            } else {
                format!(
                    "killed after its bound of {} s; run {run_id} removed",
                    ran.bound.as_secs()
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
            (entry, None)
        }
        _ => {
            let tail = supervisor::log_tail(&ran.log, 3);
            let why = format!(
                "exit code {}, no report: {tail}",
                exit_code.map_or("none".into(), |c| c.to_string())
            );
            let entry = DrillEntry::without_report(
                name,
                DrillStatus::Error,
                run_id,
                exit_code,
                duration_ms,
                why,
            );
            (entry, None)
        }
    }
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
    fn the_earlier_nightlies_are_the_older_folders_with_a_summary_and_feed_the_sparklines() {
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
        let earlier = earlier_nightlies(out.path(), &current);
        let p = earlier.last().unwrap();
        assert!(p.ends_with("2026-11-21T22-00-00Z"), "{}", p.display());
        assert_eq!(earlier.len(), 2, "{earlier:?}");
        let first = out.path().join("2026-11-19T22-00-00Z");
        assert_eq!(earlier_nightlies(out.path(), &first), Vec::<PathBuf>::new());
        // The sparklines read what they can: "{}" is not a summary.
        std::fs::write(
            earlier[1].join("summary.json"),
            r#"{"started_at": "2026-11-21T22:00:00Z", "drills": [], "outcome": "passed"}"#,
        )
        .unwrap();
        let read = history(&earlier);
        assert_eq!(read.len(), 1, "{read:?}");
        assert_eq!(read[0].started_at, "2026-11-21T22:00:00Z");
    }
}
