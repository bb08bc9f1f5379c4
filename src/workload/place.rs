//! Where a workload thread's clients live on the network: the run's
//! network namespace on Docker (see [`crate::runtime::netns`]), and, for
//! clients in a region, that region's own namespace (Docker) or its client
//! address (process runtime, [`crate::net::dial`]). A thread enters its
//! place once, before it opens a connection.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::runtime::netns::NetNs;

/// Where a workload thread's clients live (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct Place {
    /// The region its clients are in; `None`: in no region (no link on
    /// their path).
    pub region: Option<String>,
    /// The network namespace its threads join (Docker).
    pub netns: Option<Arc<NetNs>>,
    /// The address its threads' connections leave from (process runtime).
    pub source: Option<IpAddr>,
    /// The announced addresses of the nodes in its region: the near copies
    /// for `replica_reads: local`.
    pub near: Vec<SocketAddr>,
    /// The workers the runtime runs on each region's host, by region (the
    /// swarm runtime), for the client groups with a `region:`.
    pub workers: Vec<(String, Arc<dyn crate::workload::adapter::Remote>)>,
}

impl Place {
    /// The run's network (or the host's), in no region.
    pub fn unplaced(netns: Option<Arc<NetNs>>) -> Place {
        Place {
            netns,
            ..Place::default()
        }
    }

    /// Whether threads must move to be here.
    pub fn moves(&self) -> bool {
        self.netns.is_some() || self.source.is_some()
    }

    /// Move the calling thread here: its sockets from now on live in the
    /// namespace and leave from the source address.
    pub fn enter(&self) -> std::io::Result<()> {
        if let Some(ns) = &self.netns {
            ns.enter().map_err(|e| {
                std::io::Error::new(e.kind(), format!("joining {}: {e}", ns.path().display()))
            })?;
        }
        crate::net::dial::set_source(self.source);
        Ok(())
    }

    /// Move the calling thread here and give it a runtime of its own (one
    /// thread, the calling one): how a workload's thread starts.
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        self.enter()?;
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
}
