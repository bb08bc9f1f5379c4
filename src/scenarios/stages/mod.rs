//! The drill's stages, each what one step of the plan does: prepare (load,
//! topology, clients), the recorders, the action (reshard ∥ faults, then
//! undo), convergence, the end state, and the run as its folder stores it.
//! They emit events on the [`Bus`](super::events::Bus) and never print;
//! `run` calls them in the order the plan gives.
//!
//! The files, lowest first (each imports only from the ones above it):
//! `setup` (clients, setup, an added primary), `recorders` (the recorders
//! and workloads), `act` (`during` and `recovery`), `end` (the end state),
//! `store` (the run as stored); `attached` (a deployment the tool did not
//! start: the preflight, the cleanup, what was done to it).

mod act;
pub(super) mod attached;
mod end;
mod recorders;
mod setup;
mod store;

pub(super) use act::{Acted, act, converge};
pub(super) use end::EndState;
pub(super) use recorders::{Recorders, Recordings, workload_line};
pub(super) use setup::{Setup, add_primary};
pub(super) use store::Run;
