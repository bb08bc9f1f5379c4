//! What the workload's own threads ask of the kernel so that they keep time
//! on a busy machine: a 1 ns timer slack (a sleep otherwise runs up to 50 µs
//! long), and a raised priority, so that when the CPUs are full — Redis, the
//! resharding engine and the workload all want them on a 2-core box — an op
//! due now is sent now rather than a few ms later.
//!
//! Measured on the 2-core reference machine during the reshard drill (tool
//! lag p99, 3 runs each): clients on the controller's runtime 5.5–16.5 ms;
//! on event loops of their own at nice −10 1.2–1.9 ms, at nice −20 1.1–3.2
//! ms; in SCHED_FIFO 0.16–0.85 ms. A nice value only weighs a thread in the
//! fair scheduler, which still lets a waking thread wait a millisecond or
//! two behind Redis; the real-time class runs it at once.

/// Ask for on-time wake-ups on the calling thread.
pub(crate) fn precise_timers() {
    // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
    let r = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
    if r != 0 {
        tracing::debug!("PR_SET_TIMERSLACK: {}", std::io::Error::last_os_error());
    }
}

/// Set the calling thread's nice value. A value below the current one needs
/// CAP_SYS_NICE; without it the thread keeps its priority and the error says so.
pub(crate) fn set_nice(nice: i32) -> std::io::Result<()> {
    // SAFETY: gettid has no preconditions; setpriority on our own thread id
    // changes only this thread's nice value.
    let r = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice)
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Put the calling thread in the real-time class (SCHED_FIFO, priority 1,
/// the lowest): it then runs as soon as it wakes, ahead of every ordinary
/// thread. Only for threads that sleep nearly all the time; needs
/// CAP_SYS_NICE. The kernel's real-time throttling (95% of a CPU) bounds
/// what it could take if it misbehaved.
pub(crate) fn set_realtime() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: sched_setscheduler(0, ..) applies to the calling thread only.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The nice value of the calling thread.
pub(crate) fn nice() -> i32 {
    // SAFETY: as above; getpriority returns the nice value (errno is not
    // checked: -1 is also a valid nice value, and the callers only report it).
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::getpriority(libc::PRIO_PROCESS, tid)
    }
}

/// The scheduling a workload thread ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    Realtime,
    Nice(i32),
}

impl Priority {
    /// For the report: `realtime (SCHED_FIFO 1)` or `nice -10`.
    pub fn describe(self) -> String {
        match self {
            Priority::Realtime => "realtime (SCHED_FIFO 1)".into(),
            Priority::Nice(n) => format!("nice {n}"),
        }
    }

    /// Which of two is the weaker: what the report can vouch for over all threads.
    pub fn weaker(self, other: Priority) -> Priority {
        match (self, other) {
            (Priority::Realtime, o) | (o, Priority::Realtime) => o,
            (Priority::Nice(a), Priority::Nice(b)) => Priority::Nice(a.max(b)),
        }
    }
}

/// Set up a workload thread: precise timers, the real-time class when asked
/// and permitted, else `nice` when it is not 0. Returns what it got.
pub(crate) fn prepare(realtime: bool, nice_value: i32) -> Priority {
    precise_timers();
    if realtime {
        match set_realtime() {
            Ok(()) => return Priority::Realtime,
            Err(e) => tracing::debug!("SCHED_FIFO: {e}; using nice {nice_value}"),
        }
    }
    if nice_value != 0
        && let Err(e) = set_nice(nice_value)
    {
        tracing::debug!("nice {nice_value}: {e}");
    }
    Priority::Nice(nice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_can_lower_its_priority_and_reports_what_it_has() {
        // Raising nice (lowering priority) needs no privilege.
        let got = std::thread::spawn(|| prepare(false, 5)).join().unwrap();
        assert_eq!(got, Priority::Nice(5));
        // A raised priority is granted or refused, and `prepare` says which.
        let got = std::thread::spawn(|| prepare(false, -3)).join().unwrap();
        assert!(
            got == Priority::Nice(-3) || got == Priority::Nice(0),
            "{got:?}"
        );
        let got = std::thread::spawn(|| prepare(true, 0)).join().unwrap();
        assert!(
            got == Priority::Realtime || got == Priority::Nice(0),
            "{got:?}"
        );
        assert_eq!(
            Priority::Realtime.weaker(Priority::Nice(-10)),
            Priority::Nice(-10)
        );
        assert_eq!(
            Priority::Nice(-10).weaker(Priority::Nice(0)),
            Priority::Nice(0)
        );
        assert_eq!(
            Priority::Realtime.weaker(Priority::Realtime),
            Priority::Realtime
        );
    }
}
