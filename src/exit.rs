//! Exit codes: the contract scripts and CI rely on. One place, named.
//!
//! The modules below the CLI never pick an exit code. Each error type says
//! what kind of failure it is — a [`Class`] — and [`Class::code`] is the one
//! place a class becomes a number. A run's verdict is not an error: the CLI
//! turns it into [`SUCCESS`], [`CHECK_FAILED`] or [`UNKNOWN`] itself, and
//! `compare`'s finding into [`SUCCESS`] or [`REGRESSED`].

/// Everything asked for was done, and every check or SLO held.
pub const SUCCESS: i32 = 0;
/// The tool ran to the end, but a check or an SLO failed.
pub const CHECK_FAILED: i32 = 1;
/// Bad input: a topology or scenario file that does not parse or validate, a bad flag.
pub const BAD_INPUT: i32 = 2;
/// The environment stopped us: no Docker engine, no redis-server, a port already taken.
pub const ENVIRONMENT: i32 = 3;
/// The run ended and no check failed, but a figure an SLO needed could not
/// be trusted (the verdict is `unknown`): e.g. the machine could not drive
/// the workload's rate, so a latency SLO measured the tool. Neither pass nor
/// fail; the report says why.
pub const UNKNOWN: i32 = 4;
/// `compare`: a figure got worse beyond its threshold, stopped being
/// measured, or a verdict flipped for the worse (a drill that ran before and
/// not now included). Nothing regressed is [`SUCCESS`].
pub const REGRESSED: i32 = 5;
/// Interrupted by SIGINT/SIGTERM; everything the run created has been removed.
pub const INTERRUPTED: i32 = 130;

/// What kind of failure an error is, as far as the person or script that ran
/// the command is concerned: whether to fix what they asked for, fix the
/// machine, or accept that they stopped it themselves. Each module's error
/// type classifies itself (a `class()` method) without knowing the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// What was asked for cannot be done as asked: a file that does not parse
    /// or validate, an unknown topology, node or target, flags that do not fit.
    BadInput,
    /// What was asked for is fine, but the machine or what runs on it stopped
    /// us: no engine, a port taken, a node that did not answer, a timeout.
    Environment,
    /// SIGINT/SIGTERM (or the cancellation it set off) stopped the work.
    Interrupted,
}

impl Class {
    /// The exit code of a command that failed this way.
    pub const fn code(self) -> i32 {
        match self {
            Class::BadInput => BAD_INPUT,
            Class::Environment => ENVIRONMENT,
            Class::Interrupted => INTERRUPTED,
        }
    }
}
