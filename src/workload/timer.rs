//! A timer for the open loop's due times: a `timerfd` armed at an absolute
//! CLOCK_MONOTONIC time and registered in the event loop's own reactor.
//!
//! tokio's timer has a 1 ms resolution and rounds deadlines up, so an op
//! woken by `sleep_until` would start ~1 ms after it was due, and since
//! latency counts from the schedule that would be added to every op (a
//! loopback round trip is ~0.1 ms). A timerfd wakes the loop's `epoll_wait`
//! at the due time itself (with the thread's timer slack, set to 1 ns), and
//! the op is sent from the same thread, with no hand-over to another.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use tokio::io::unix::AsyncFd;

/// A one-shot timer on the current runtime's reactor.
pub(crate) struct PreciseTimer {
    fd: AsyncFd<OwnedFd>,
    /// The same instant on both clocks: `Instant` is CLOCK_MONOTONIC, but
    /// opaque, so deadlines are converted through this pair.
    base: (Instant, libc::timespec),
}

fn monotonic_now() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts
}

impl PreciseTimer {
    /// A timer on the reactor of the runtime this is called in.
    pub fn new() -> io::Result<PreciseTimer> {
        // SAFETY: timerfd_create returns a new fd or -1.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let base = (Instant::now(), monotonic_now());
        // SAFETY: the fd is owned by the AsyncFd from here on and closed
        // only when it is dropped, after its registration is removed.
        let fd = unsafe { AsyncFd::register(owned) }.map_err(io::Error::from)?;
        Ok(PreciseTimer { fd, base })
    }

    /// `at` on CLOCK_MONOTONIC.
    fn timespec(&self, at: Instant) -> libc::timespec {
        let (i0, ts0) = self.base;
        let ns0 = ts0.tv_sec as i128 * 1_000_000_000 + ts0.tv_nsec as i128;
        let ns = if at >= i0 {
            ns0 + at.duration_since(i0).as_nanos() as i128
        } else {
            ns0 - i0.duration_since(at).as_nanos() as i128
        };
        let ns = ns.max(1);
        libc::timespec {
            tv_sec: (ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (ns % 1_000_000_000) as libc::c_long,
        }
    }

    /// Wait until `at` (never less).
    pub async fn sleep_until(&self, at: Instant) -> io::Result<()> {
        if at <= Instant::now() {
            return Ok(());
        }
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: self.timespec(at),
        };
        // SAFETY: arms our own timerfd with a valid itimerspec.
        let r = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        // Bounded: each turn either reads the expiry or waits for readiness.
        loop {
            let mut guard = self.fd.readable().await?;
            let mut expirations = 0u64;
            // SAFETY: reads 8 bytes into a u64 we own.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    (&mut expirations as *mut u64).cast(),
                    8,
                )
            };
            if n == 8 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                guard.clear_ready();
            } else {
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wakes_at_the_deadline_not_at_the_next_millisecond() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        crate::workload::thread::precise_timers();
        rt.block_on(async {
            let t = PreciseTimer::new().unwrap();
            let mut late = Vec::new();
            for i in 0..40u64 {
                let due = Instant::now() + Duration::from_micros(300 + 50 * (i % 7));
                t.sleep_until(due).await.unwrap();
                let now = Instant::now();
                assert!(now >= due, "woke {:?} early", due - now);
                late.push(now - due);
            }
            late.sort();
            // tokio's own timer would be ~1 ms late on every one of these.
            assert!(late[20] < Duration::from_micros(500), "{late:?}");
            // A deadline in the past returns at once.
            t.sleep_until(Instant::now() - Duration::from_millis(1))
                .await
                .unwrap();
        });
    }
}
