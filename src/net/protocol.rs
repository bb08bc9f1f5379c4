//! The network protocol every runtime backend speaks (Jepsen's `net.clj`):
//! partition (make a grudge real), heal, check (can rules be written here,
//! and what is in force), set links, measure links. The drill, the nemesis
//! and the CLI say *what* to cut or slow; each backend says *how*, with its
//! own rules, relays and namespaces (`runtime::docker`, `runtime::process`).
//! A new backend implements this trait and the runtime's `Backend` trait,
//! and nothing else changes.
//!
//! The trait names no runtime type: the deployment and the error are the
//! backend's associated types, so `net/` stays below `runtime/` (data flows
//! from the pure shapes here down into the runtimes, never back up).

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::grudge::Grudge;
use super::links::LinkSample;
use crate::topology::Link;

/// One backend's network: the five operations every fault and every link
/// goes through. Methods return boxed futures so that the runtime can hold a
/// backend as a trait object (`Box<dyn Backend>`) and pick it at run time.
pub trait Net: Send + Sync {
    /// What the backend calls a running topology (`runtime::Deployment`).
    type Deployment: ?Sized + Sync;
    /// Why an operation failed (`runtime::NetError`).
    type Error;

    /// Make `d`'s network faults exactly `grudge`: each node drops the
    /// packets of the peers it holds a grudge against, silently (no reset,
    /// as on a real network), and whatever an earlier call cut that `grudge`
    /// does not name is lifted. An empty grudge heals. Only node-to-node
    /// traffic is cut, unless the grudge names [`super::grudge::CLIENTS`].
    fn partition<'a>(
        &'a self,
        d: &'a Self::Deployment,
        grudge: &'a Grudge,
    ) -> BoxFuture<'a, Result<Applied, Self::Error>>;

    /// Lift every network fault of `d`; nodes that are not running are
    /// skipped.
    fn heal<'a>(&'a self, d: &'a Self::Deployment) -> BoxFuture<'a, Result<Applied, Self::Error>>;

    /// Whether [`Net::partition`] can work on `d` here, and if not, why (not
    /// root, no iptables in an image, no NET_ADMIN): asked before a drill
    /// starts, so that it can run on without its partitions rather than fail
    /// in the middle.
    fn can_partition<'a>(
        &'a self,
        d: &'a Self::Deployment,
    ) -> BoxFuture<'a, Result<(), Self::Error>>;

    /// Change `d`'s links at run time (the `slow` fault): `links` are the
    /// declared ones, in their order, with other figures. Setting the
    /// declared ones again gives them back.
    fn set_links<'a>(
        &'a self,
        d: &'a Self::Deployment,
        links: &'a [Link],
    ) -> BoxFuture<'a, Result<(), Self::Error>>;

    /// Measure every link of `d` the way its nodes' traffic crosses it, so
    /// the report can set what was declared beside what the network did.
    /// A pair that could not be measured says why in its sample.
    fn measure_links<'a>(
        &'a self,
        d: &'a Self::Deployment,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Vec<LinkSample>>;
}

/// What an apply or a heal did, for timelines and reports.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// Nodes whose rules were written (docker) or covered by the run's chain
    /// (process).
    pub nodes: usize,
    /// DROP rules in force afterwards.
    pub rules: usize,
    /// Nodes not running (killed, stopped), whose rules could not be written.
    /// A docker node that starts again comes back with no rules at all.
    pub skipped: Vec<String>,
    /// From the first command to the last one's return.
    pub elapsed: Duration,
    /// Between the first node's command returning and the last one's: about
    /// how far apart in time the nodes' rules changed, i.e. how sharp the
    /// partition's start is ([`Applied::elapsed`] bounds it). Zero when one
    /// transaction writes every rule (process runtime).
    pub spread: Duration,
}

impl Applied {
    /// Nothing written yet over `nodes` nodes: the start every apply and
    /// heal counts from.
    pub fn none(nodes: usize) -> Applied {
        Applied {
            nodes,
            rules: 0,
            skipped: Vec::new(),
            elapsed: Duration::ZERO,
            spread: Duration::ZERO,
        }
    }
}
