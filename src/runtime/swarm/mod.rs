//! The swarm backend: a topology spread over several Docker engines joined
//! in a Docker Swarm, each node a one-replica service pinned to the engine
//! of its region, on an attachable overlay network of the run's own.
//!
//! Every host is reached through its engine's API only (bollard): the
//! manager engine creates the network and the services and knows the
//! tasks; the engine that runs a task kills, stops, pauses, execs in and
//! reads the logs of its container. Nothing is pulled: the node image is
//! built on every engine from this host's files first, and services are
//! created without resolving the image.
//!
//! - [`engines`]: the engines file and the connections made from it;
//! - [`engine`]: [`SwarmRuntime`], the swarm's nodes and where each
//!   topology node goes (regions are node labels);
//! - [`up`]: bring-up, node actions;
//! - [`links`]: links between regions, by a helper container in each
//!   namespace that sends across one;
//! - [`listing`]: finding runs (the network's label, the tasks' current
//!   addresses) and removing everything of a run on every engine;
//! - [`backend`]: the [`crate::runtime::Backend`] and [`crate::net::Net`]
//!   implementations.
//!
//! What Swarm imposes: a node started again is a new task, with a new
//! address on the overlay (Swarm gives services no static addresses); its
//! data folder is a named volume on its engine, so it keeps its cluster
//! identity, and its peers learn the new address by gossip. Its published
//! port (host mode: no routing mesh, which needs IPVS) stays the same.

pub mod backend;
pub mod engine;
pub mod engines;
pub mod links;
pub mod listing;
pub mod ssh;
pub mod up;
pub mod worker;

pub use engine::SwarmRuntime;
