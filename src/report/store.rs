//! Where runs are kept: `<root>/<scenario>/<timestamp>/` holding `report.json`,
//! `report.md`, `report.html` (charts), `report.xml` (JUnit) and `history.jsonl`, and a `latest` link
//! beside the timestamps.

use std::path::{Path, PathBuf};

use super::model::{Report, ReshardSummary};
use super::{html, junit, markdown};
use crate::status::planner::ReshardRate;

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

    /// Point `<root>/<scenario>/latest` at this run.
    fn link_latest(&self) -> std::io::Result<()> {
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

/// The keys/s of the newest run under `root` (`<root>/<scenario>/<stamp>/report.json`)
/// whose report has a `reshard` section that moved keys: what the capacity
/// planner's reshard plan is timed with. Newest by `started_at`; `latest`
/// links are skipped (they point at a run already seen), and so is a file
/// that does not read as a report.
pub fn newest_reshard(root: &Path) -> ReshardRate {
    /// The two fields read: a report of another format version still has them.
    #[derive(serde::Deserialize)]
    struct Stored {
        started_at: String,
        reshard: Option<ReshardSummary>,
    }
    let mut best: Option<(String, PathBuf, f64)> = None;
    let dirs = |p: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.file_name() != "latest")
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    for scenario in dirs(root) {
        for run in dirs(&scenario) {
            let file = run.join("report.json");
            let Ok(text) = std::fs::read(&file) else {
                continue;
            };
            let Ok(stored) = serde_json::from_slice::<Stored>(&text) else {
                continue;
            };
            let Some(r) = stored
                .reshard
                .filter(|r| r.keys_moved > 0 && r.keys_per_s > 0.0)
            else {
                continue;
            };
            if best.as_ref().is_none_or(|b| stored.started_at > b.0) {
                best = Some((stored.started_at, file, r.keys_per_s));
            }
        }
    }
    match best {
        Some((started_at, file, keys_per_s)) => ReshardRate {
            keys_per_s: Some(keys_per_s),
            source: Some(file.display().to_string()),
            started_at: Some(started_at),
            note: String::new(),
        },
        None => ReshardRate::none(),
    }
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

    #[test]
    fn the_newest_reshard_on_record_gives_the_rate() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(newest_reshard(root.path()), ReshardRate::none());
        let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let mut r = crate::report::tests::sample();
        let write = |r: &Report, scenario: &str, secs: u64| {
            let dir = RunDir::create(
                root.path(),
                scenario,
                t + std::time::Duration::from_secs(secs),
            )
            .unwrap();
            write_run(&dir, r).unwrap();
            dir
        };
        r.started_at = "2027-01-15T08:00:00Z".into();
        r.reshard.as_mut().unwrap().keys_per_s = 1000.0;
        write(&r, "cluster-reshard", 0);
        r.started_at = "2027-01-15T09:00:00Z".into();
        r.reshard.as_mut().unwrap().keys_per_s = 2000.0;
        let newest = write(&r, "cluster-reshard", 3600);
        // A newer run without a reshard does not count.
        r.started_at = "2027-01-15T10:00:00Z".into();
        r.reshard = None;
        write(&r, "cluster-failover", 7200);
        let got = newest_reshard(root.path());
        assert_eq!(got.keys_per_s, Some(2000.0));
        assert_eq!(got.started_at.as_deref(), Some("2027-01-15T09:00:00Z"));
        assert_eq!(
            got.source.as_deref(),
            Some(newest.file("report.json").display().to_string().as_str())
        );
        assert!(got.note.is_empty());
    }
}
