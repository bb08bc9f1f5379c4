//! How a drill waits and shows the reshard's progress: a sleep that an
//! interrupt cuts short, and the progress bar (the terminal subscriber and
//! `redis-drill reshard` draw it).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::DrillError;

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
