//! Network faults: partitions as grudges (pure data, [`grudge`]) and the
//! iptables rules that make them real ([`filter`]).
//!
//! What to cut is decided from names alone; how it is cut depends on the
//! runtime, and only [`filter`] knows that. Link latency and bandwidth will
//! live here too.

pub mod filter;
pub mod grudge;

pub use filter::{Applied, NetError, apply, heal, preflight};
pub use grudge::{Grudge, Members, Shape, UnknownShape};
