//! The network, as data and as one protocol.
//!
//! What to cut is decided from node names alone: partitions are grudges
//! ([`grudge`]), pure functions with table tests. Links between regions
//! ([`links`]) say which pairs of node addresses a declared link impairs.
//! How a grudge or a link is made real is each runtime backend's own
//! business, behind one trait, [`Net`] ([`protocol`]): partition, heal,
//! check, set links, measure links. The dialer that binds a client's source
//! address to its region ([`dial`]) lives here too, below both the runtime
//! and the cluster code that open connections through it, and the
//! connection security (AUTH, TLS) every connection gets ([`secure`]).

pub mod ca;
pub mod dial;
pub mod grudge;
pub mod links;
pub mod protocol;
pub mod secure;

pub use grudge::{Grudge, Members, Shape, UnknownShape};
pub use protocol::{Applied, Net};
