//! Where attached deployments are remembered: one directory per run id
//! under `<state dir>-attached/`, holding `deployment.json`. Forgetting a
//! deployment removes that directory and nothing else.

use std::path::PathBuf;

use crate::runtime::deployment::{Deployment, Removed};
use crate::runtime::error::RuntimeError;

/// The external backend: where its attached deployments are remembered.
pub struct ExternalRuntime {
    base: PathBuf,
}

impl ExternalRuntime {
    /// Beside the process runtime's state directory (`REDIS_DRILL_STATE_DIR`,
    /// default `$TMPDIR/redis-drill`), with `-attached` appended: tests that
    /// point the state directory at their own temp dir see only their own
    /// attached deployments too.
    pub fn new() -> ExternalRuntime {
        ExternalRuntime {
            base: crate::runtime::state::base("-attached"),
        }
    }

    fn run_dir(&self, run_id: &str) -> PathBuf {
        self.base.join(run_id)
    }

    /// Remember `d` (attached by its run id), refusing a name already in use.
    pub fn save(&self, d: &Deployment) -> Result<(), RuntimeError> {
        if let Some(existing) = self.find(&d.name)?
            && existing.run_id != d.run_id
        {
            return Err(RuntimeError::AlreadyUp {
                name: d.name.clone(),
                run_id: existing.run_id,
            });
        }
        let dir = self.run_dir(&d.run_id);
        std::fs::create_dir_all(&dir)
            .map_err(RuntimeError::io(format!("creating {}", dir.display())))?;
        crate::runtime::state::save(&self.base, d)
    }

    /// The attached deployment with this name.
    pub fn find(&self, name: &str) -> Result<Option<Deployment>, RuntimeError> {
        Ok(self.list()?.into_iter().find(|d| d.name == name))
    }

    /// Every attached deployment remembered here.
    pub fn list(&self) -> Result<Vec<Deployment>, RuntimeError> {
        Ok(crate::runtime::state::list(&self.base))
    }

    /// Forget the run `run_id`: its directory here, never a server.
    pub fn forget(&self, run_id: &str) -> Result<Removed, RuntimeError> {
        let dir = self.run_dir(run_id);
        if !dir.exists() {
            return Ok(Removed::default());
        }
        std::fs::remove_dir_all(&dir)
            .map_err(RuntimeError::io(format!("removing {}", dir.display())))?;
        // The last one forgotten takes the folder with it (fails, harmlessly,
        // while others are remembered).
        let _ = std::fs::remove_dir(&self.base);
        Ok(Removed {
            dirs: 1,
            ..Removed::default()
        })
    }

    /// Forget every attached deployment (`down --all`).
    pub fn forget_all(&self) -> Result<Removed, RuntimeError> {
        let mut removed = Removed::default();
        if let Ok(entries) = std::fs::read_dir(&self.base) {
            for e in entries.flatten().filter(|e| e.path().is_dir()) {
                removed.add(self.forget(&e.file_name().to_string_lossy())?);
            }
        }
        Ok(removed)
    }
}

impl Default for ExternalRuntime {
    fn default() -> Self {
        Self::new()
    }
}
