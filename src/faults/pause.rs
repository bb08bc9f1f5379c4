//! [`ClientPause`]: how `pause lock_holder:<n>` reaches the lock workload,
//! behind a trait so the nemesis does not depend on the workload's internals.

use crate::workload::locks::LockControl;

/// The clients of a drill the nemesis can freeze: its lock workload's
/// workers. Declared here, where the nemesis needs it, and implemented
/// here for the lock workload's [`LockControl`], so the workload (a stage
/// below) never reaches up into the faults.
pub trait ClientPause: Send + Sync {
    /// Freeze the worker that holds `lock` now — or, when nobody does, the
    /// next one granted it — before it next writes the protected resource.
    /// Returns the worker frozen, when one holds the lock now; an error for
    /// a lock the workload does not have.
    fn pause_holder(&self, lock: u32) -> Result<Option<String>, String>;

    /// Let every worker frozen on `lock` go on; returns them.
    fn resume_holder(&self, lock: u32) -> Vec<String>;
}

impl ClientPause for LockControl {
    fn pause_holder(&self, lock: u32) -> Result<Option<String>, String> {
        LockControl::pause_holder(self, lock)
    }

    fn resume_holder(&self, lock: u32) -> Vec<String> {
        LockControl::resume_holder(self, lock)
    }
}
