//! Exit codes: the contract scripts and CI rely on. One place, named.

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
/// Interrupted by SIGINT/SIGTERM; everything the run created has been removed.
pub const INTERRUPTED: i32 = 130;
