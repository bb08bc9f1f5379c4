//! Scenario files: what a drill does, as plain data — the topology, the
//! workload, the lock workload beside it (`locks:`), the actions (a reshard, a schedule of faults, or both), the
//! phases, and the SLOs that decide the exit code. Loading is pure.
//!
//! - `spec`      — [`Scenario`], a scenario as data, and its raw YAML shapes.
//! - `load`      — reading and validating a scenario file.
//! - `plan`      — a scenario as the list of steps a drill takes (pure).
//! - [`run`]     — the interpreter of a plan: runs each step, stores the run, checks it.
//! - `stages`    — what each step does (prepare, record, act, converge, end state, store).
//! - `events`    — the typed events the steps emit; the timeline and the terminal subscribe.
//! - `resume`    — the reshard step, resumed after a fault breaks it off.
//! - [`check`]   — from a stored run to its report (pure): what `check-run`
//!   re-runs; the checkers, each the run in and its section out, and
//!   [`check::slo`], every SLO declared once.

pub use crate::report::ExpectSpec;
pub use spec::{ReshardAction, ReshardStep, Scenario};

pub(crate) mod bar;
pub mod check;
mod error;
mod events;
mod hold;
mod load;
mod plan;
pub(crate) mod reshard;
mod resume;
pub mod run;
mod spec;
mod stages;
