//! Where runs are kept: `<root>/<scenario>/<timestamp>/` holding `report.json`,
//! `report.md`, `report.html` (charts), `report.xml` (JUnit) and `history.jsonl`, and a `latest` link
//! beside the timestamps.

use std::path::{Path, PathBuf};

use super::model::Report;
use super::{html, junit, markdown};

/// The report's files in a run folder, in every format.
pub const REPORT_FILES: [&str; 4] = ["report.json", "report.md", "report.html", "report.xml"];

/// Write the report in every format into the run's folder (`check-run`
/// rewrites them in place).
pub fn write_reports(dir: &RunDir, report: &Report) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(dir.file("report.json"), json)?;
    std::fs::write(dir.file("report.md"), markdown::render(report))?;
    std::fs::write(dir.file("report.html"), html::render(report))?;
    std::fs::write(dir.file("report.xml"), junit::render(report))
}

/// Where `run` keeps what the check stage cost when it checked the run it
/// had just recorded: a measurement of the tool, not of the run, so it is
/// not recomputed by `check-run` (which must give the same report).
pub const CHECK_TIME_FILE: &str = "check-time.json";

/// The check stage's own time, as stored.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CheckTime {
    /// The linearizability search over every key, in ms.
    linearizability_ms: f64,
}

/// Store the time this check took (`run`, once) and put it in the report.
pub fn save_check_time(dir: &RunDir, report: &mut Report) -> std::io::Result<()> {
    let Some(l) = report.linearizability.as_mut() else {
        return Ok(());
    };
    let Some(ms) = l.timed_ms else {
        return Ok(());
    };
    let ms = (ms * 10.0).round() / 10.0;
    let t = CheckTime {
        linearizability_ms: ms,
    };
    std::fs::write(
        dir.file(CHECK_TIME_FILE),
        serde_json::to_vec_pretty(&t).map_err(std::io::Error::other)?,
    )?;
    l.took_ms = Some(ms);
    Ok(())
}

/// Put the time stored by `run` in a report made again (`check-run`);
/// none when the folder has none or it cannot be read (the figure is then
/// absent, never made up).
pub fn recall_check_time(dir: &RunDir, report: &mut Report) {
    let Some(l) = report.linearizability.as_mut() else {
        return;
    };
    let Ok(bytes) = std::fs::read(dir.file(CHECK_TIME_FILE)) else {
        return;
    };
    match serde_json::from_slice::<CheckTime>(&bytes) {
        Ok(t) => l.took_ms = Some(t.linearizability_ms),
        Err(e) => tracing::warn!("{}: {e}", dir.file(CHECK_TIME_FILE).display()),
    }
}

/// Remove the reports of a run folder whose record can no longer be read
/// back: a report that outlives its record would go on claiming a verdict
/// nothing supports (`compare` and the nightly read `report.json`).
/// Returns the files removed.
pub fn remove_reports(dir: &RunDir) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for f in REPORT_FILES {
        let path = dir.file(f);
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// A run's folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Create `<root>/<scenario>/<stamp>/` (a suffix keeps two runs in the same
    /// second apart).
    pub fn create(
        root: &Path,
        scenario: &str,
        started: std::time::SystemTime,
    ) -> std::io::Result<RunDir> {
        let stamp = humantime::format_rfc3339_seconds(started)
            .to_string()
            .replace(':', "-");
        let base = root.join(scenario);
        std::fs::create_dir_all(&base)?;
        for n in 0..100 {
            let name = if n == 0 {
                stamp.clone()
            } else {
                format!("{stamp}.{n}")
            };
            let path = base.join(name);
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(RunDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other(format!(
            "too many runs of {scenario} in one second under {}",
            base.display()
        )))
    }

    /// A file of the run folder (`report.json`, `ops.bin`): one place
    /// that joins the folder and a name.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Point `latest` beside this folder at it (`<root>/<scenario>/latest`;
    /// the nightly points `<out>/latest` at its own folder the same way).
    pub fn link_latest(&self) -> std::io::Result<()> {
        let Some(parent) = self.path.parent() else {
            return Ok(());
        };
        let latest = parent.join("latest");
        let _ = std::fs::remove_file(&latest);
        let target = self.path.file_name().expect("a run dir has a name");
        std::os::unix::fs::symlink(target, &latest)
    }
}

/// Write the report in every format into the run's folder and update `latest`.
pub fn write_run(dir: &RunDir, report: &Report) -> std::io::Result<()> {
    write_reports(dir, report)?;
    dir.link_latest()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dirs_are_unique_and_latest_follows() {
        let root = tempfile::tempdir().unwrap();
        let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let a = RunDir::create(root.path(), "drill", t).unwrap();
        let b = RunDir::create(root.path(), "drill", t).unwrap();
        assert_ne!(a.path, b.path);
        assert!(a.path.ends_with("drill/2027-01-15T08-00-00Z"));
        let r = crate::report::tests::sample();
        write_run(&a, &r).unwrap();
        write_run(&b, &r).unwrap();
        let latest = std::fs::read_link(root.path().join("drill/latest")).unwrap();
        assert_eq!(latest, b.path.file_name().unwrap());
        for f in REPORT_FILES {
            assert!(root.path().join("drill/latest").join(f).is_file(), "{f}");
        }
    }
}
