//! Network faults as pure data: partitions as grudges ([`grudge`]).
//!
//! What to cut is decided from node names alone; how it is cut depends on
//! the runtime, which makes a grudge real ([`crate::runtime::Runtime::partition`]
//! and [`crate::runtime::Runtime::heal`], with each runtime's rules in
//! `runtime::filter`). Links between regions ([`links`]): which pairs of
//! node addresses a declared link impairs.

pub mod grudge;
pub mod links;

pub use grudge::{Grudge, Members, Shape, UnknownShape};
