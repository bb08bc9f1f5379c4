//! Deployments remembered on disk, as `<base>/<run id>/deployment.json`:
//! the process runtime's runs and the external runtime's attached
//! deployments both live so. Written whole (through a temporary file and a
//! rename) and read back whole, or not at all.

use std::path::{Path, PathBuf};

use super::deployment::Deployment;
use super::error::RuntimeError;

/// Overrides where run directories live (default: `$TMPDIR/redis-drill`).
/// Tests point it at their own temp dir so they never see each other's runs.
pub const STATE_DIR_ENV: &str = "REDIS_DRILL_STATE_DIR";

/// The state directory ([`STATE_DIR_ENV`], default `$TMPDIR/redis-drill`)
/// with `suffix` appended to its name: the process runtime's runs live in
/// it (`""`), attached deployments beside it (`"-attached"`), the docker
/// runtime's secrets too (`"-docker"`). Tests that point the state
/// directory at their own temp dir see only their own.
pub fn base(suffix: &str) -> PathBuf {
    let base = match std::env::var_os(STATE_DIR_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => std::env::temp_dir().join("redis-drill"),
    };
    let mut name = base.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    base.with_file_name(name)
}

/// The file of `d` under `base`.
pub fn file(base: &Path, run_id: &str) -> std::path::PathBuf {
    base.join(run_id).join("deployment.json")
}

/// Write `d` to its file under `base`, whole or not at all (its directory
/// must exist).
pub fn save(base: &Path, d: &Deployment) -> Result<(), RuntimeError> {
    let path = file(base, &d.run_id);
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_vec_pretty(d).expect("a deployment serializes");
    std::fs::write(&tmp, json).map_err(RuntimeError::io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(RuntimeError::io(format!("writing {}", path.display())))
}

/// Every deployment remembered under `base`, by name; a directory without
/// a readable `deployment.json` is not one.
pub fn list(base: &Path) -> Vec<Deployment> {
    let Ok(entries) = std::fs::read_dir(base) else {
        return Vec::new();
    };
    let mut out: Vec<Deployment> = entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("deployment.json")).ok())
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
