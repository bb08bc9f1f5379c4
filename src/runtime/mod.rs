//! Runtimes: bring a topology up as Docker containers (bollard) or as local
//! redis-server processes, control its nodes, make its network faults and
//! links real, and remove everything by run id.
//!
//! Every backend produces a [`Deployment`]: what is running, where the
//! controller reaches each node (always an address on 127.0.0.0/8) and what
//! each node announces to its peers. A deployment describes itself where it
//! lives — on the Docker network's labels, or in `deployment.json` in the
//! process run's directory — so `status`, `down` and node control work from
//! a later invocation with nothing but the topology's name.
//!
//! # Layout
//!
//! - [`handle`]: [`Runtime`], the one handle callers hold, and the one
//!   dispatch point to a backend.
//! - [`backend`]: the [`Backend`] trait a backend implements, beside
//!   [`crate::net::Net`].
//! - [`docker`], [`process`]: the two backends that run nodes, each a
//!   folder with its nodes, its partitions, its links and its clients'
//!   places; [`external`]: a deployment the tool did not start, attached by
//!   address, which it never acts on.
//! - Shared by the backends: [`deployment`] (what runs), [`error`],
//!   [`ready`] (PING waits, ports), [`drops`] (a grudge as addresses),
//!   [`links`] (measuring links), [`state`] (deployments remembered on disk), [`relay`] (the delaying relay),
//!   [`netns`], [`hooks`] (the user's commands for faults on a deployment
//!   the tool did not start), [`config`] (redis.conf), [`image`] (the default image's
//!   build), [`host`] (PATH, root, host commands).
//!
//! A new backend is a folder beside `docker/` and `process/` whose type
//! implements [`Backend`] and [`crate::net::Net`], plus its line in
//! [`Runtime::select`].

pub mod backend;
pub mod config;
pub mod deployment;
pub mod docker;
pub mod drops;
pub mod error;
pub mod external;
pub mod handle;
pub mod hooks;
pub mod host;
pub mod image;
pub mod links;
pub mod neigh;
pub mod netns;
pub mod process;
pub mod ready;
pub mod relay;
pub mod secrets;
pub mod servers;
pub mod state;
pub mod swarm;

pub use crate::net::Applied;
pub use backend::{Backend, ClientOrigin};
pub use deployment::{
    AddedNode, Attachment, DeployedNode, Deployment, DeploymentSummary, ExecOutput,
    FIRST_CLIENT_HOST, MAX_CLIENT_REGIONS, NodeAction, Removed, RuntimeKind, UpOptions, labels,
    new_run_id,
};
pub use error::{NetError, RuntimeError};
pub use handle::{ADD_NODE_TIMEOUT, RUNTIME_ENV, Runtime};
