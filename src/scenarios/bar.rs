//! The reshard's progress bar: a subscriber to the reshard's progress
//! events, drawn by the terminal side (the drill's [`Terminal`] and
//! `redis-drill reshard`), never by the step that moves the slots.
//!
//! [`Terminal`]: super::events::Terminal

/// A progress bar on a terminal, a line per tenth otherwise, nothing when
/// quiet: how a person sees a reshard's slots move.
pub(crate) struct ReshardBar {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    next_line: u64,
    quiet: bool,
}

impl ReshardBar {
    /// A bar for `total` slots (`quiet`: draw nothing, as under `--json`).
    pub(crate) fn new(total: u64, quiet: bool) -> ReshardBar {
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
        ReshardBar {
            bar,
            total,
            next_line: total / 10,
            quiet,
        }
    }

    /// One progress event: `slots_done` of the total moved, `keys_moved` keys.
    pub(crate) fn update(&mut self, slots_done: u64, keys_moved: u64) {
        if let Some(b) = &self.bar {
            b.set_position(slots_done);
            b.set_message(format!("{keys_moved} keys"));
        } else if !self.quiet && slots_done >= self.next_line && slots_done < self.total {
            crate::note!("  {slots_done}/{} slots, {keys_moved} keys", self.total);
            self.next_line = slots_done + (self.total / 10).max(1);
        }
    }

    /// The reshard ended: the bar is cleared.
    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
