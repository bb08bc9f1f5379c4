//! The loopback blocks runs live in: each run claims one 127.0.B.0/24 of
//! [`BLOCKS`] in a directory of claims shared by every state directory, so
//! two runs side by side never share an address.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::runtime::error::RuntimeError;

/// Blocks 127.0.B.0/24 we draw from; 127.0.0.0/24 is left to everything else.
pub(super) const BLOCKS: std::ops::RangeInclusive<u8> = 100..=250;

/// Where runs claim their blocks: one directory for the whole machine,
/// whatever state dir a run keeps, because the loopback addresses are the
/// machine's. (Two `up`s with their own state dirs, as parallel tests have,
/// once picked the same block between one's choice and its first listener.)
pub(super) fn claims_dir() -> PathBuf {
    std::env::temp_dir().join("redis-drill-blocks")
}

/// Claim `block` for the run in `run_dir`: a file named after the block,
/// created only if absent, naming the run's directory. A claim whose run
/// directory is gone (a run removed by hand, a killed `up`) is stale and is
/// taken over. Returns false when a live run holds the block.
pub(super) fn claim_block(dir: &Path, block: u8, run_dir: &Path) -> Result<bool, RuntimeError> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir)
            .map_err(RuntimeError::io(format!("creating {}", dir.display())))?;
        // Shared by every user's runs, as the addresses are: writable by
        // all, each claim removable only by its owner (as /tmp).
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777));
    }
    let path = dir.join(block.to_string());
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(run_dir.as_os_str().as_encoded_bytes())
                    .map_err(RuntimeError::io(format!("writing {}", path.display())))?;
                return Ok(true);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                // An empty holder is a claim being written this instant,
                // unless it has been empty for long.
                let fresh = || {
                    std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(10))
                };
                if Path::new(&holder).is_dir() || (holder.is_empty() && fresh()) {
                    return Ok(false);
                }
                let _ = std::fs::remove_file(&path);
            }
            // A claims dir another user made without room for ours: run
            // unclaimed, as before claims existed, rather than not at all.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                tracing::warn!(
                    "cannot claim block {block} in {} ({e}): running without a claim",
                    dir.display()
                );
                return Ok(true);
            }
            Err(e) => {
                return Err(RuntimeError::io(format!("creating {}", path.display()))(e));
            }
        }
    }
    Ok(false)
}

/// Remove every claim held by the run in `run_dir`.
pub(super) fn release_blocks(dir: &Path, run_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let holder = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if Path::new(&holder) == run_dir {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_claimed_once_while_its_run_lives() {
        let tmp = tempfile::tempdir().unwrap();
        let claims = tmp.path().join("claims");
        let (a, b) = (tmp.path().join("run-a"), tmp.path().join("run-b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        assert!(claim_block(&claims, 170, &a).unwrap());
        assert!(
            !claim_block(&claims, 170, &b).unwrap(),
            "a live run holds 170"
        );
        assert!(claim_block(&claims, 171, &b).unwrap());
        // Run a's directory goes without a release: its claim is stale.
        std::fs::remove_dir_all(&a).unwrap();
        assert!(
            claim_block(&claims, 170, &b).unwrap(),
            "stale claim taken over"
        );
        release_blocks(&claims, &b);
        assert_eq!(std::fs::read_dir(&claims).unwrap().count(), 0);
    }
}
