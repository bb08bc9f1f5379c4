//! Create a cluster and wait for it to converge, in Rust (no redis-cli).
//!
//! `create`: connect to every node, check each is an empty cluster node, assign
//! slots (one ADDSLOTSRANGE per primary), give every node a distinct config
//! epoch, MEET every pair of nodes, wait until every node knows every other,
//! MEET again from each primary (so that every node learns every primary's
//! slots at once instead of from the next periodic PING), REPLICATE, then
//! [`wait_converged`]. Needs Redis 7.0 (CLUSTER ADDSLOTSRANGE).
//!
//! Everything is bounded by one timeout and aborted by one cancellation token.
//!
//! - `create`    — [`create`], its options, report and the checks of a plan.
//! - `grow`      — [`add_node`] and [`forget_strangers`].
//! - `introduce` — MEET the pairs and wait until every node knows the others.
//! - `converge`  — [`wait_converged`]: the poll loop.
//! - `pending`   — what has not converged yet, judged on one poll (pure).

mod converge;
mod create;
mod grow;
mod introduce;
mod pending;
#[cfg(test)]
mod tests;

pub use converge::{ConvergeOptions, ConvergeReport, POLL_INTERVAL, wait_converged};
pub use create::{CreateReport, create};
pub use grow::{AddNodeReport, add_node, forget_node, forget_strangers};
pub(crate) use pending::{majority, slot_owners};
