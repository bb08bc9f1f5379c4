//! Where the docker backend's clients live: the network namespaces of the
//! run's idle `clients` containers (one for the whole run, one per region
//! with a relay of the links), which the workload's threads join so their
//! sockets reach the nodes' own addresses without docker-proxy.

use std::net::{IpAddr, Ipv4Addr};

use super::engine::{
    CLIENTS_HOST, CLIENTS_SUFFIX, DockerRuntime, container_name, region_clients_name,
};
use crate::runtime::deployment::{DeployedNode, Deployment, MAX_CLIENT_REGIONS};
use crate::runtime::error::RuntimeError;
use crate::runtime::netns::NetNs;

impl DockerRuntime {
    /// The network namespace of the run's `clients` container, creating and
    /// starting the container when it is not there: an idle process (the
    /// image's redis-server listening on its own loopback) on the run's network at
    /// .2, labelled with the run id like everything else, so `down` and every
    /// cleanup path remove it.
    pub(super) async fn client_namespace(&self, d: &Deployment) -> Result<NetNs, RuntimeError> {
        let name = container_name(&d.run_id, CLIENTS_SUFFIX);
        let running = match self.docker.inspect_container(&name, None).await {
            Ok(info) => info.state.and_then(|s| s.running).unwrap_or(false),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                self.create_clients(d, &name).await?;
                false
            }
            Err(e) => {
                return Err(RuntimeError::Docker {
                    context: format!("inspecting {name}"),
                    source: e,
                });
            }
        };
        if !running {
            self.docker
                .start_container(&name, None)
                .await
                .map_err(RuntimeError::docker(format!("starting {name}")))?;
        }
        let info = self
            .docker
            .inspect_container(&name, None)
            .await
            .map_err(RuntimeError::docker(format!("inspecting {name}")))?;
        let pid = info
            .state
            .and_then(|s| s.pid)
            .filter(|&p| p > 0)
            .ok_or_else(|| RuntimeError::Environment(format!("{name} has no process")))?;
        NetNs::of_pid(pid).map_err(RuntimeError::io(format!(
            "opening the network namespace of {name}"
        )))
    }

    /// The network namespace of `node`'s container (running).
    pub(super) async fn node_namespace(&self, node: &DeployedNode) -> Result<NetNs, RuntimeError> {
        let pid = super::links::container_pid(&self.docker, &node.handle).await?;
        NetNs::of_pid(pid).map_err(RuntimeError::io(format!(
            "opening the network namespace of node {}",
            node.name
        )))
    }

    /// The run's `clients` container at .[`CLIENTS_HOST`] of the nodes' /24.
    async fn create_clients(&self, d: &Deployment, name: &str) -> Result<(), RuntimeError> {
        let ip = d
            .nodes
            .iter()
            .find_map(|n| match n.announce.ip() {
                IpAddr::V4(v4) => {
                    let o = v4.octets();
                    Some(Ipv4Addr::new(o[0], o[1], o[2], CLIENTS_HOST))
                }
                IpAddr::V6(_) => None,
            })
            .ok_or_else(|| RuntimeError::Environment(format!("{} has no IPv4 node", d.name)))?;
        self.create_idle(d, name, IpAddr::V4(ip), None).await
    }

    /// The network namespace of the clients of `region`, with the links'
    /// relay and rules when the topology has links: the container
    /// `<run>-_clients_<region>` at the region's client address
    /// ([`Deployment::client_addr`]), created and started when missing.
    pub(super) async fn region_namespace(
        &self,
        d: &Deployment,
        region: &str,
    ) -> Result<NetNs, RuntimeError> {
        let name = region_clients_name(&d.run_id, region);
        let ip = d.client_addr(region).ok_or_else(|| {
            RuntimeError::BadInput(format!(
                "region `{region}` can have no clients here (an unknown region, or past the first {})",
                MAX_CLIENT_REGIONS
            ))
        })?;
        let fresh = match self.docker.inspect_container(&name, None).await {
            Ok(info) => !info.state.and_then(|s| s.running).unwrap_or(false),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                self.create_idle(d, &name, ip, Some(region)).await?;
                true
            }
            Err(e) => {
                return Err(RuntimeError::Docker {
                    context: format!("inspecting {name}"),
                    source: e,
                });
            }
        };
        if fresh {
            self.docker
                .start_container(&name, None)
                .await
                .map_err(RuntimeError::docker(format!("starting {name}")))?;
            if !d.topology.links.is_empty() {
                let what = format!("the clients of {region}");
                super::links::install_relay(
                    &self.docker,
                    d,
                    super::links::Holder {
                        what: &what,
                        handle: &name,
                        own: ip,
                    },
                )
                .await?;
            }
        }
        let pid = super::links::container_pid(&self.docker, &name).await?;
        NetNs::of_pid(pid).map_err(RuntimeError::io(format!(
            "opening the network namespace of {name}"
        )))
    }
}
