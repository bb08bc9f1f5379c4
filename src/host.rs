//! What the machine itself did during a run: CPU time its hypervisor took
//! away (steal time).
//!
//! On a virtual machine the host can stop every vCPU for milliseconds at a
//! time: every thread of the guest stands still, a real-time one too, and the
//! workload's ops go out late. No priority inside the guest helps, so the
//! self-check names it when it is there.

/// CPU time stolen from this machine since boot, summed over its CPUs, in
/// ns; `None` where the kernel does not say (not Linux, no steal field).
pub fn stolen_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_stolen_ticks(&stat).map(|ticks| ticks * (1_000_000_000 / clock_ticks_per_s()))
}

/// The steal field (the 8th) of `/proc/stat`'s all-CPU line, in clock ticks.
fn parse_stolen_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    line.split_whitespace().nth(8)?.parse().ok()
}

/// `USER_HZ`, the unit of `/proc/stat`.
fn clock_ticks_per_s() -> u64 {
    // SAFETY: sysconf only reads a constant of the running system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|&h| h > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_the_eighth_field_of_the_all_cpu_line() {
        let stat = "cpu  265989 0 27427 254756 1315 0 1838 816 0 0\ncpu0 1 2 3 4 5 6 7 9 0 0\n";
        assert_eq!(parse_stolen_ticks(stat), Some(816));
        assert_eq!(parse_stolen_ticks("cpu  1 2 3\n"), None);
        assert_eq!(parse_stolen_ticks("intr 1\n"), None);
    }

    #[test]
    fn reads_this_machine() {
        if cfg!(target_os = "linux") {
            assert!(stolen_ns().is_some());
        }
    }
}
