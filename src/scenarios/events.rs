//! What a drill reports as it goes, as typed events (nextest's runner and
//! reporters are the model). The steps emit; subscribers listen: the run's
//! [`Timeline`] (phases and events, stored with the run) and the [`Terminal`]
//! (progress lines and the reshard's bar for the person running it). A step
//! never prints and never writes the timeline itself, so a new step or a new
//! subscriber is one change, not one per place.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::faults::FaultWindow;
use crate::record::timeline::{Clock, Event, Phase};
use crate::status::StatusReport;

use super::bar::ReshardBar;

/// Something a step of the drill did, at the moment it did it.
#[derive(Debug, Clone)]
pub(crate) enum DrillEvent {
    /// An empty primary joined before anything was measured.
    NodeAdded { node: String, took_ms: u64 },
    /// The key space was written, so every read has an expected value.
    Loaded { keys: usize, secs: f64 },
    /// The topology as the drill begins (printed for the person).
    Topology(Box<StatusReport>),
    /// The recorders started: time 0 of the run's clock. `workload` in words.
    Recording { workload: String },
    /// A phase of the run ended.
    PhaseEnded(Phase),
    /// The fault schedule begins: this many occurrences over this long.
    FaultsScheduled { count: usize, span_ms: u64 },
    /// The reshard's plan, before its first attempt.
    ReshardPlanned {
        slots: usize,
        from: Vec<String>,
        to: Vec<String>,
    },
    /// One attempt of the reshard begins, moving `slots` slots.
    ReshardAttempt { slots: usize },
    /// Progress within the current attempt.
    ReshardProgress { slots_done: u64, keys_moved: u64 },
    /// A fault broke the reshard off; it resumes once the cluster recovers.
    ReshardInterrupted { why: String },
    /// After an interruption: this many slots are still to move.
    ReshardResumed { slots_left: usize },
    /// The reshard is over.
    Resharded {
        from: Vec<String>,
        to: Vec<String>,
        slots: usize,
        keys: u64,
        attempts: u32,
        /// Keys met on two nodes with different values, and overwritten.
        overwritten: usize,
        started: Instant,
        finished: Instant,
    },
    /// A fault as it went (applied, and undone if it was).
    Fault(Box<FaultWindow>),
    /// Undoing a fault failed; the run stops with an error after every undo was tried.
    UndoFailed(String),
    /// Every node agrees again, `after_ms` after the last action.
    Converged {
        at: Instant,
        after_ms: f64,
        polls: u32,
    },
    /// The recorders stopped with this many ops in the history (and this
    /// many stampede reads, and invalidation ops).
    Stopped {
        ops: usize,
        reads: usize,
        invalidation: usize,
    },
    /// A line about the outcome (failover figures, the self-check).
    Outcome(String),
}

/// A listener to a drill's events.
pub(crate) trait Subscriber: Send {
    /// `at_ns`: when it was emitted, on the run's clock (0 before it started).
    fn on(&mut self, at_ns: u64, clock: Option<Clock>, event: &DrillEvent);
}

/// Where steps emit events: every subscriber hears each one, in order.
/// Cheap to clone; the reshard and the nemesis emit from tasks of their own.
#[derive(Clone)]
pub(crate) struct Bus {
    inner: Arc<Mutex<BusInner>>,
}

struct BusInner {
    clock: Option<Clock>,
    subscribers: Vec<Box<dyn Subscriber>>,
}

impl Bus {
    /// A bus that hands every event to each subscriber in turn.
    pub(crate) fn new(subscribers: Vec<Box<dyn Subscriber>>) -> Bus {
        Bus {
            inner: Arc::new(Mutex::new(BusInner {
                clock: None,
                subscribers,
            })),
        }
    }

    /// From now on, events are stamped on the run's clock.
    pub(crate) fn set_clock(&self, clock: Clock) {
        self.lock().clock = Some(clock);
    }

    /// Send one event to every subscriber, stamped with the drill's clock;
    /// steps call this instead of printing.
    pub(crate) fn emit(&self, event: DrillEvent) {
        let mut inner = self.lock();
        let clock = inner.clock;
        let at_ns = clock.map_or(0, |c| c.now_ns());
        for s in &mut inner.subscribers {
            s.on(at_ns, clock, &event);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BusInner> {
        // A subscriber that panicked leaves plain data behind; keep going.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The run's own account: its phases and events, as the record stores them.
/// Shared, so the drill can take it back once the steps are done.
#[derive(Debug, Default, Clone)]
pub(crate) struct Timeline {
    pub(crate) phases: Vec<Phase>,
    pub(crate) events: Vec<Event>,
}

/// The subscriber that fills a shared [`Timeline`].
pub(crate) struct TimelineRecorder(pub(crate) Arc<Mutex<Timeline>>);

impl TimelineRecorder {
    fn push(&self, at_ns: u64, kind: &str, detail: String) {
        let mut t = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        t.events.push(Event {
            at_ns,
            kind: kind.into(),
            detail,
        });
    }
}

impl Subscriber for TimelineRecorder {
    fn on(&mut self, at_ns: u64, clock: Option<Clock>, event: &DrillEvent) {
        match event {
            DrillEvent::NodeAdded { node, .. } => {
                self.push(0, "add-node", format!("{node} (primary, no slots)"));
            }
            DrillEvent::PhaseEnded(p) => self
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .phases
                .push(p.clone()),
            DrillEvent::Resharded {
                from,
                to,
                slots,
                keys,
                attempts,
                overwritten,
                started,
                finished,
            } => {
                let ns = |i: &Instant| clock.map_or(at_ns, |c| c.ns(*i));
                self.push(
                    ns(started),
                    "reshard-start",
                    format!("{} -> {}", from.join(","), to.join(",")),
                );
                self.push(
                    ns(finished),
                    "reshard-end",
                    format!(
                        "{slots} slots, {keys} keys, {attempts} attempt(s){}",
                        overwritten_note(*overwritten)
                    ),
                );
            }
            DrillEvent::Converged { at, polls, .. } => self.push(
                clock.map_or(at_ns, |c| c.ns(*at)),
                "converged",
                format!("after {polls} polls"),
            ),
            // Faults are stored as windows of their own, not as events.
            _ => {}
        }
    }
}

/// Progress for the person running the drill: a line per event with the
/// time since the start, the reshard's bar; nothing when quiet (`--json`).
pub(crate) struct Terminal {
    quiet: bool,
    started: Instant,
    bar: Option<ReshardBar>,
}

impl Terminal {
    /// The terminal subscriber; `quiet` (with `--json`) keeps stdout for
    /// the machine-readable result.
    pub(crate) fn new(quiet: bool) -> Terminal {
        Terminal {
            quiet,
            started: Instant::now(),
            bar: None,
        }
    }

    fn line(&self, msg: impl AsRef<str>) {
        crate::note!(
            "[{:>6.1}s] {}",
            self.started.elapsed().as_secs_f64(),
            msg.as_ref()
        );
    }

    fn finish_bar(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
    }
}

impl Subscriber for Terminal {
    fn on(&mut self, _at_ns: u64, _clock: Option<Clock>, event: &DrillEvent) {
        if self.quiet {
            return;
        }
        match event {
            DrillEvent::NodeAdded { node, took_ms } => {
                self.line(format!("added empty primary {node} in {took_ms} ms"));
            }
            DrillEvent::Loaded { keys, secs } => {
                self.line(format!("loaded {keys} keys in {secs:.1} s"));
            }
            DrillEvent::Topology(t) => crate::note!("\n{}", t.render_text()),
            DrillEvent::Recording { workload } => self.line(workload),
            DrillEvent::PhaseEnded(_) => {}
            DrillEvent::Stopped {
                ops,
                reads,
                invalidation,
            } => {
                let mut parts = Vec::new();
                if *ops > 0 || (*reads == 0 && *invalidation == 0) {
                    parts.push(format!("{ops} ops"));
                }
                if *reads > 0 {
                    parts.push(format!("{reads} stampede reads"));
                }
                if *invalidation > 0 {
                    parts.push(format!("{invalidation} invalidation ops"));
                }
                self.line(format!("workload stopped: {} recorded", parts.join(", ")));
            }
            DrillEvent::FaultsScheduled { count, span_ms } => self.line(format!(
                "{count} fault(s) scheduled over {:.1} s",
                *span_ms as f64 / 1000.0
            )),
            DrillEvent::ReshardPlanned { slots, from, to } => self.line(format!(
                "resharding {slots} slots {} -> {}",
                from.join(","),
                to.join(",")
            )),
            DrillEvent::ReshardAttempt { slots } => {
                self.finish_bar();
                self.bar = Some(ReshardBar::new(*slots as u64, false));
            }
            DrillEvent::ReshardProgress {
                slots_done,
                keys_moved,
            } => {
                if let Some(b) = &mut self.bar {
                    b.update(*slots_done, *keys_moved);
                }
            }
            DrillEvent::ReshardInterrupted { why } => {
                self.finish_bar();
                self.line(format!(
                    "reshard interrupted: {why}; resuming once the cluster recovers"
                ));
            }
            DrillEvent::ReshardResumed { slots_left } => {
                self.line(format!("{slots_left} slots left to move"));
            }
            DrillEvent::Resharded {
                slots,
                keys,
                attempts,
                overwritten,
                started,
                finished,
                ..
            } => {
                self.finish_bar();
                self.line(format!(
                    "moved {slots} slots, {keys} keys in {:.0} ms{}{}",
                    finished.saturating_duration_since(*started).as_secs_f64() * 1000.0,
                    if *attempts > 1 {
                        format!(" over {attempts} attempts")
                    } else {
                        String::new()
                    },
                    overwritten_note(*overwritten)
                ));
            }
            DrillEvent::Fault(w) => self.line(format!(
                "{} {} [{}]{}",
                w.fault,
                w.target,
                w.nodes.join(" "),
                match (w.undo, w.undone_ns) {
                    (Some(u), Some(at)) => format!(
                        " for {:.1} s, then {u}",
                        (at.saturating_sub(w.start_ns)) as f64 / 1e9
                    ),
                    _ => String::new(),
                }
            )),
            DrillEvent::UndoFailed(e) => {
                crate::note!("warning: could not undo a fault: {e}");
            }
            DrillEvent::Converged { after_ms, .. } => {
                self.line(format!("converged {after_ms:.0} ms after the last action"));
            }
            DrillEvent::Outcome(s) => self.line(s),
        }
    }
}

/// `; N keys had two values …` when a move overwrote any.
fn overwritten_note(n: usize) -> String {
    match n {
        0 => String::new(),
        n => format!(
            "; {n} key(s) were on two nodes with different values: the giving node's value was kept"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_keeps_phases_and_the_drills_events() {
        let timeline = Arc::new(Mutex::new(Timeline::default()));
        let bus = Bus::new(vec![
            Box::new(TimelineRecorder(timeline.clone())),
            Box::new(Terminal::new(true)),
        ]);
        bus.emit(DrillEvent::NodeAdded {
            node: "s4n1".into(),
            took_ms: 10,
        });
        let clock = Clock::start();
        bus.set_clock(clock);
        bus.emit(DrillEvent::PhaseEnded(Phase {
            name: "baseline".into(),
            start_ns: 0,
            end_ns: 5,
        }));
        let at = clock.instant(7_000);
        bus.emit(DrillEvent::Converged {
            at,
            after_ms: 1.0,
            polls: 3,
        });
        bus.emit(DrillEvent::Loaded { keys: 1, secs: 0.1 });
        let t = timeline.lock().unwrap().clone();
        assert_eq!(t.phases.len(), 1);
        let kinds: Vec<(&str, u64)> = t
            .events
            .iter()
            .map(|e| (e.kind.as_str(), e.at_ns))
            .collect();
        assert_eq!(kinds, [("add-node", 0), ("converged", 7_000)]);
    }
}
