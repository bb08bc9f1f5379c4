//! Our redis-server processes, found from /proc: by their executable and
//! working directory (or their title's config path) under a run's
//! directory, so cleanup finds ours — and only ours — with nothing but the
//! path. Signalling, killing with a grace period, and removing a run.

use std::path::Path;
use std::time::{Duration, Instant};

use super::blocks::{claims_dir, release_blocks};
use crate::runtime::deployment::Removed;
use crate::runtime::error::RuntimeError;

/// How long a graceful stop may take before SIGKILL.
pub(super) const STOP_GRACE: Duration = Duration::from_secs(10);

/// Pids of our live (non-zombie) redis-server processes under `dir` (a run
/// directory, a node directory, or the base). Redis rewrites its process
/// title, so the command line is not enough: a process is ours when its
/// executable is a redis binary and its working directory (the node's data
/// dir, where we start it and where `dir` points it) lies under `dir`, or when
/// its title names a config file there (`proc-title-template` below).
pub(super) fn pids_matching(dir: &Path) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    // With a trailing slash, so that s1n1 never matches s1n10's config path.
    let mut needle = dir.as_os_str().as_encoded_bytes().to_vec();
    needle.push(b'/');
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me && !is_zombie(pid))
        .filter(|&pid| {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            if !exe.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("redis-") || n.starts_with("valkey-")
            }) {
                return false;
            }
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
            // A removed directory reads as "<path> (deleted)".
            let cwd = cwd.to_string_lossy();
            let cwd = Path::new(cwd.strip_suffix(" (deleted)").unwrap_or(&cwd));
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            cwd.starts_with(dir)
                || cmdline
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice())
        })
        .collect()
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(true)
}

/// Send `sig` to `pid`, ignoring a process that is already gone.
pub(super) fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a pid we just read from /proc; a stale pid yields ESRCH.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Send `sig` to every process mentioning `needle` (a paused one is resumed so
/// it can act on SIGTERM), wait up to `grace` for them to go, then SIGKILL what
/// is left. Returns how many there were.
pub(super) fn kill_matching(
    needle: &Path,
    sig: i32,
    grace: Duration,
) -> Result<usize, RuntimeError> {
    let pids = pids_matching(needle);
    for &pid in &pids {
        signal(pid, sig);
        if sig != libc::SIGKILL {
            signal(pid, libc::SIGCONT);
        }
    }
    let started = Instant::now();
    let interval = Duration::from_millis(10);
    let max_polls = grace.as_millis() / interval.as_millis() + 1;
    for _ in 0..max_polls {
        if pids.iter().all(|&p| is_zombie(p)) {
            return Ok(pids.len());
        }
        if started.elapsed() >= grace {
            break;
        }
        std::thread::sleep(interval);
    }
    for &pid in &pids {
        signal(pid, libc::SIGKILL);
    }
    for _ in 0..200 {
        if pids.iter().all(|&p| is_zombie(p)) {
            return Ok(pids.len());
        }
        std::thread::sleep(interval);
    }
    Err(RuntimeError::Environment(format!(
        "processes {pids:?} did not exit after SIGKILL"
    )))
}

/// The last `n` lines of `path`; empty when it cannot be read.
pub(super) fn tail_file(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// SIGKILL every redis-server running from under `dir`, then remove `dir`
/// and its claim on a block.
pub(super) fn kill_and_remove(dir: &Path) -> Result<Removed, RuntimeError> {
    let mut removed = Removed {
        processes: kill_matching(dir, libc::SIGKILL, STOP_GRACE)?,
        ..Default::default()
    };
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(RuntimeError::io(format!("removing {}", dir.display())))?;
        removed.dirs = 1;
    }
    release_blocks(&claims_dir(), dir);
    Ok(removed)
}
