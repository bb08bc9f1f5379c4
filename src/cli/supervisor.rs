//! A drill as a supervised child process: `redis-drill run` started in a
//! process group of its own, its output into a log file, waited for within
//! a time bound, and stopped as a group when it outlives the bound or the
//! parent is interrupted — SIGTERM first, so that its own interrupt
//! handling removes its run, then SIGKILL after a grace. The nightly is its
//! user; what a drill's end means for the nightly's entry is the nightly's.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// How long a drill has after SIGTERM to stop and remove its run before it
/// is SIGKILLed: a run's own teardown (removing a 6-node topology) takes a
/// few seconds; 30 s leaves room on a loaded 2-core machine.
const TERM_GRACE: Duration = Duration::from_secs(30);

/// How a supervised drill ended.
#[derive(Debug)]
pub(crate) enum Ended {
    /// It exited by itself, with this code (`None`: killed by a signal).
    Exited(Option<i32>),
    /// Waiting for it failed; its state is unknown.
    WaitFailed(std::io::Error),
    /// It was stopped: past its bound, or because the parent was
    /// interrupted. The code is its own if it exited within the grace.
    Stopped(Option<i32>),
}

/// Start `exe args…` in a process group of its own, stdout and stderr into
/// the file at `log`. Its own group: the parent signals the drill and
/// everything it started, and a Ctrl-C at the terminal reaches only the
/// parent. Dropped, the child is killed.
pub(crate) fn spawn(exe: &Path, args: &[&std::ffi::OsStr], log: &Path) -> std::io::Result<Child> {
    let out = std::fs::File::create(log)?;
    let err = out.try_clone()?;
    Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
}

/// Wait for `child` up to `bound`, or until the parent gets SIGINT/SIGTERM;
/// stop its group in either of those cases. Returns how it ended and the
/// signal that interrupted the parent, if one did.
pub(crate) async fn wait_bounded(
    child: &mut Child,
    bound: Duration,
) -> (Ended, Option<&'static str>) {
    let pid = child.id();
    let mut signal = None;
    let waited = tokio::select! {
        r = tokio::time::timeout(bound, child.wait()) => r.ok(),
        s = super::interrupt::shutdown_signal() => { signal = Some(s); None }
    };
    let ended = match waited {
        Some(Ok(st)) => Ended::Exited(st.code()),
        Some(Err(e)) => Ended::WaitFailed(e),
        None => Ended::Stopped(stop_group(child, pid).await),
    };
    (ended, signal)
}

/// SIGTERM the child's process group, wait up to [`TERM_GRACE`], then
/// SIGKILL it. Returns the child's exit code if it exited by itself.
async fn stop_group(child: &mut Child, pid: Option<u32>) -> Option<i32> {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        let _ = child.kill().await;
        return None;
    };
    // SAFETY: killpg only sends a signal to the group the child leads.
    unsafe { libc::killpg(pid, libc::SIGTERM) };
    if let Ok(Ok(st)) = tokio::time::timeout(TERM_GRACE, child.wait()).await {
        // Anything of the group still alive (a relay it forked) goes too.
        // SAFETY: as above.
        unsafe { libc::killpg(pid, libc::SIGKILL) };
        return st.code();
    }
    // SAFETY: as above.
    unsafe { libc::killpg(pid, libc::SIGKILL) };
    let _ = child.wait().await;
    None
}

/// The last `n` non-empty lines of a log, joined: what a drill that wrote
/// no report said last.
pub(crate) fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}
