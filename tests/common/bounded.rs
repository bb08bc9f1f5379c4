//! Every command a test starts is bounded in time: [`Bounded::bounded_output`]
//! in place of `Command::output`, so that one hung command fails its test
//! instead of hanging the suite.
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The longest any command a test starts may run: the longest drill a test
/// runs takes under 2 minutes on this 2-core machine, a nightly of three
/// drills under 3. Past it the command is asked to stop (SIGTERM: the tool
/// cleans up on it), killed 30 s later, and the test fails saying so,
/// rather than one hung command hanging the whole suite.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(600);

/// How long a command asked to stop may take to clean up before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// `Command::output`, bounded by [`COMMAND_LIMIT`].
pub trait Bounded {
    fn bounded_output(&mut self) -> std::io::Result<Output>;
}

impl Bounded for Command {
    fn bounded_output(&mut self) -> std::io::Result<Output> {
        let child = self.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        let pid = child.id() as i32;
        let (done, waiting) = std::sync::mpsc::channel::<()>();
        // The watchdog: wakes when the command ends or the limit passes.
        let watchdog = std::thread::spawn(move || {
            if waiting.recv_timeout(COMMAND_LIMIT).is_ok() {
                return false;
            }
            // SAFETY: signalling a child of ours that has not been reaped
            // (the waiting side has not returned).
            unsafe { libc::kill(pid, libc::SIGTERM) };
            if waiting.recv_timeout(STOP_GRACE).is_err() {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            true
        });
        let out = child.wait_with_output();
        let _ = done.send(());
        let timed_out = watchdog.join().unwrap_or(false);
        assert!(
            !timed_out,
            "{:?} ran past {COMMAND_LIMIT:?} and was stopped",
            self.get_program()
        );
        out
    }
}
