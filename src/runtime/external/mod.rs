//! The external backend: a deployment the tool did not start — a staging
//! cluster, a few VMs, a compose file — attached by address. It never
//! starts, stops or removes a node: `down` forgets the deployment and
//! leaves every server as it is. What it knows is `deployment.json` in
//! `<state dir>-attached/<run id>/`, written by `redis-drill attach` (or
//! `run --attach`) after discovery (`crate::attach`).
//!
//! Node faults and partitions reach such a deployment only through the
//! user's hooks (`crate::faults::hooks`), which the nemesis runs before it
//! would ask a backend; asked directly, this backend says so and does
//! nothing.
//!
//! - [`engine`]: the state directory: save, find, list, forget;
//! - [`backend`]: the [`crate::runtime::Backend`] and [`crate::net::Net`]
//!   implementations: everything that would touch a node refuses.

pub mod backend;
pub mod engine;

pub use engine::ExternalRuntime;
