//! The Docker backend (bollard): one container per node on one bridge
//! network per topology, static IPs so a restarted node keeps its address,
//! the data port published on 127.0.0.1 only. The network carries the
//! whole deployment as a label, so a later invocation rebuilds it from
//! Docker alone.
//!
//! - [`engine`]: the connection, resource names, container-level calls;
//! - [`containers`]: the network and the containers, created;
//! - [`up`]: bring-up, add and remove a node, node actions;
//! - [`listing`]: finding and removing runs by label;
//! - [`places`]: the clients' namespaces;
//! - [`partitions`]: grudges as each node's own filter table;
//! - [`links`]: links as a relay in each node's namespace;
//! - [`exec`]: `docker exec`, attached;
//! - [`backend`]: the [`crate::runtime::Backend`] and [`crate::net::Net`]
//!   implementations, handing over to the files above.

pub mod backend;
pub mod containers;
pub mod engine;
pub mod exec;
pub mod links;
pub mod listing;
pub mod partitions;
pub mod places;
pub mod up;

pub use engine::DockerRuntime;
pub use partitions::DOCKER_CHAIN;
