//! How a drill talks to the person running it and waits: progress lines
//! with the time since the start, the reshard's progress bar, and a sleep
//! that an interrupt cuts short.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::error::DrillError;

/// Progress lines for a person; silent when `quiet` (e.g. `--json`).
pub(super) struct Say {
    pub(super) quiet: bool,
    pub(super) started: Instant,
}

impl Say {
    pub(super) fn line(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            crate::note!(
                "[{:>6.1}s] {}",
                self.started.elapsed().as_secs_f64(),
                msg.as_ref()
            );
        }
    }
}

/// Sleep for `d` unless cancelled.
pub(super) async fn hold(d: Duration, cancel: &CancellationToken) -> Result<(), DrillError> {
    tokio::select! {
        _ = cancel.cancelled() => Err(DrillError::Cancelled),
        _ = tokio::time::sleep(d) => Ok(()),
    }
}

/// A progress bar on a terminal, a line per tenth otherwise, nothing when quiet.
pub(crate) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    next_line: u64,
    quiet: bool,
}

impl Progress {
    pub(crate) fn new(total: u64, quiet: bool) -> Progress {
        use std::io::IsTerminal;
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "  {bar:40} {pos}/{len} slots {msg} ({elapsed})",
                )
                .expect("a valid template"),
            );
            b
        });
        Progress {
            bar,
            total,
            next_line: total / 10,
            quiet,
        }
    }

    pub(crate) fn update(&mut self, slots_done: u64, keys_moved: u64) {
        if let Some(b) = &self.bar {
            b.set_position(slots_done);
            b.set_message(format!("{keys_moved} keys"));
        } else if !self.quiet && slots_done >= self.next_line && slots_done < self.total {
            crate::note!("  {slots_done}/{} slots, {keys_moved} keys", self.total);
            self.next_line = slots_done + (self.total / 10).max(1);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
