//! The docker backend's containers and network: creating the run's bridge
//! network on a free /24, a node's container (its redis.conf as arguments,
//! its labels, its published port, its static address) and the idle
//! containers that hold the clients' namespaces.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkingConfig, PortBinding,
};
use bollard::query_parameters::CreateContainerOptionsBuilder;

use super::engine::{BUS_PORT, DATA_PORT, DockerRuntime, FIRST_HOST, SECRETS_MOUNT, network_name};
use crate::runtime::config::{self, Listen};
use crate::runtime::deployment::{AddedNode, DeployedNode, Deployment, labels};
use crate::runtime::error::RuntimeError;
use crate::runtime::ready::{free_port, port_is_free};
use crate::runtime::secrets;
use crate::topology::{Kind, NodeSpec, Topology};

impl DockerRuntime {
    /// The lowest host address of `network`'s /24, from [`FIRST_HOST`], that
    /// neither a node of `d` nor any container on the network holds.
    pub(super) async fn next_ip(
        &self,
        d: &Deployment,
        network: &str,
    ) -> Result<Ipv4Addr, RuntimeError> {
        let info = self
            .docker
            .inspect_network(
                network,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .map_err(RuntimeError::docker(format!(
                "inspecting network {network}"
            )))?;
        let subnet = info
            .ipam
            .as_ref()
            .and_then(|i| i.config.as_ref())
            .into_iter()
            .flatten()
            .find_map(|c| parse_cidr(c.subnet.as_deref()?))
            .ok_or_else(|| {
                RuntimeError::Environment(format!("network {network} has no IPv4 subnet"))
            })?;
        let mut used: Vec<Ipv4Addr> = d
            .nodes
            .iter()
            .filter_map(|n| match n.announce.ip() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            })
            .collect();
        used.extend(
            info.containers
                .unwrap_or_default()
                .values()
                .filter_map(|c| {
                    c.ipv4_address
                        .as_deref()?
                        .split('/')
                        .next()?
                        .parse::<Ipv4Addr>()
                        .ok()
                }),
        );
        next_free_host(subnet, &used).ok_or_else(|| {
            RuntimeError::Environment(format!("no free address left in network {network}"))
        })
    }

    /// An idle container of the run (no node) on its network at `ip`: the
    /// clients' namespace, and a region's, which also holds a relay.
    pub(super) async fn create_idle(
        &self,
        d: &Deployment,
        name: &str,
        ip: IpAddr,
        region: Option<&str>,
    ) -> Result<(), RuntimeError> {
        let network = network_name(&d.run_id);
        let mut lbls = common_labels(d);
        lbls.insert(labels::ROLE.into(), "clients".into());
        if let Some(r) = region {
            lbls.insert(labels::REGION.into(), r.to_string());
        }
        let endpoints = endpoint(&network, ip, None);
        let body = ContainerCreateBody {
            image: Some(d.image.clone()),
            // The image's redis-server, listening on its own loopback only
            // (Redis 7 exits when it listens nowhere): a process that holds
            // the namespace and does nothing.
            cmd: Some(
                ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                    .map(String::from)
                    .to_vec(),
            ),
            hostname: Some(region.map_or_else(|| "clients".into(), |r| format!("clients-{r}"))),
            labels: Some(lbls),
            host_config: Some(HostConfig {
                network_mode: Some(network.clone()),
                // A region's clients hold a relay of the links, as a node does.
                cap_add: region.map(|_| vec!["NET_ADMIN".into()]),
                binds: match region {
                    Some(_) => super::links::bind(&d.topology.links)?.map(|b| vec![b]),
                    None => None,
                },
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(endpoints),
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().name(name).build();
        self.docker
            .create_container(Some(opts), body)
            .await
            .map_err(RuntimeError::docker(format!("creating {name}")))?;
        Ok(())
    }

    /// The run's bridge network on `subnet`, the whole deployment on its labels
    /// (how a later invocation finds it).
    pub(super) async fn create_network(
        &self,
        name: &str,
        subnet: [u8; 3],
        deployment: &Deployment,
    ) -> Result<(), RuntimeError> {
        let mut lbls = common_labels(deployment);
        lbls.insert(
            labels::DEPLOYMENT.into(),
            serde_json::to_string(deployment).expect("a deployment serializes"),
        );
        let req = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some(format!("{}.{}.{}.0/24", subnet[0], subnet[1], subnet[2])),
                    gateway: Some(format!("{}.{}.{}.1", subnet[0], subnet[1], subnet[2])),
                    ..Default::default()
                }]),
                options: None,
            }),
            labels: Some(lbls),
            ..Default::default()
        };
        self.docker
            .create_network(req)
            .await
            .map_err(RuntimeError::docker(format!("creating network {name}")))?;
        Ok(())
    }

    /// A node's container: its redis.conf as arguments, labels, its data port
    /// published on 127.0.0.1, its static address, NET_ADMIN for the rules.
    pub(super) async fn create_container(
        &self,
        deployment: &Deployment,
        network: &str,
        spec: &NodeSpec,
        node: &DeployedNode,
        image: String,
        added: Option<&AddedNode>,
    ) -> Result<(), RuntimeError> {
        let topology = &deployment.topology;
        let replicaof = replica_target(deployment, spec).map(|a| (a.ip().to_string(), a.port()));
        let listen = Listen {
            bind: "0.0.0.0".into(),
            port: DATA_PORT,
            bus_port: BUS_PORT,
            dir: "/data".into(),
            logfile: String::new(),
            replicaof,
        };
        let mut directives = config::directives(topology, spec, &listen);
        let mut binds: Vec<String> = super::links::bind(&topology.links)?.into_iter().collect();
        let mut first = Vec::new();
        if !topology.security.is_plain() {
            // The certificates and the password from a file on the host,
            // mounted read-only; only the port stays an argument.
            let host = secrets::load(&self.run_dir(&deployment.run_id), topology.security)?;
            let inside = host.relocated(std::path::Path::new(SECRETS_MOUNT));
            let text =
                secrets::file_and_args(topology.security, topology.kind, &inside, &mut directives);
            let file = host.dir.join("security.conf");
            write_private(&file, &text)?;
            binds.push(format!("{}:{SECRETS_MOUNT}:ro", host.dir.display()));
            first.push(format!("{SECRETS_MOUNT}/security.conf"));
        }
        let args: Vec<String> = first
            .into_iter()
            .chain(config::to_args(&directives))
            .collect();
        let mut lbls = common_labels(deployment);
        lbls.insert(labels::NODE.into(), spec.name.clone());
        lbls.insert(
            labels::ROLE.into(),
            format!("{:?}", spec.role).to_lowercase(),
        );
        lbls.insert(labels::REGION.into(), spec.region.clone());
        if let Some(a) = added {
            lbls.insert(
                labels::ADDED_NODE.into(),
                serde_json::to_string(a).expect("a node serializes"),
            );
        }
        let mut ports: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        ports.insert(
            format!("{DATA_PORT}/tcp"),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(node.addr.port().to_string()),
            }]),
        );
        let endpoints = endpoint(network, node.announce.ip(), Some(vec![spec.name.clone()]));
        let body = ContainerCreateBody {
            image: Some(image),
            cmd: Some(args),
            hostname: Some(spec.name.clone()),
            labels: Some(lbls),
            exposed_ports: Some(vec![format!("{DATA_PORT}/tcp")]),
            // The data dir on an anonymous volume (the host's filesystem), not
            // the storage driver's: Redis fsyncs nodes.conf on every CLUSTER
            // SETSLOT, and on fuse-overlayfs that blocks the node for
            // milliseconds each time — hundreds of ms of client stalls during a
            // reshard that the process runtime never shows. Unlike a tmpfs it
            // survives a restart, so a restarted node keeps its cluster
            // identity; it is removed with the container (`v: true`).
            volumes: Some(vec!["/data".to_string()]),
            host_config: Some(HostConfig {
                port_bindings: Some(ports),
                network_mode: Some(network.to_string()),
                // iptables inside the node's own namespace, for partitions
                // and links (and the relay's SO_MARK).
                cap_add: Some(vec!["NET_ADMIN".into()]),
                // The relay of the links, run in the node's namespace.
                binds: (!binds.is_empty()).then_some(binds),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(endpoints),
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default()
            .name(&node.handle)
            .build();
        self.docker
            .create_container(Some(opts), body)
            .await
            .map_err(RuntimeError::docker(format!("creating node {}", spec.name)))?;
        Ok(())
    }

    /// A Sentinel's container: `image`'s server as a Sentinel on its
    /// folder's `sentinel.conf` (`dir`, mounted writable at
    /// [`SENTINEL_MOUNT`]), labelled with the run and the `sentinel` role,
    /// at its static address, its port published on 127.0.0.1.
    pub(super) async fn create_sentinel_container(
        &self,
        d: &Deployment,
        network: &str,
        m: &crate::topology::SentinelSpec,
        node: &DeployedNode,
        image: String,
        dir: &std::path::Path,
    ) -> Result<(), RuntimeError> {
        let port = config::SENTINEL_PORT;
        let mut lbls = common_labels(d);
        lbls.insert(labels::ROLE.into(), "sentinel".into());
        lbls.insert(labels::REGION.into(), m.region.clone());
        let ports: HashMap<String, Option<Vec<PortBinding>>> = HashMap::from([(
            format!("{port}/tcp"),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(node.addr.port().to_string()),
            }]),
        )]);
        let body = ContainerCreateBody {
            image: Some(image),
            cmd: Some(vec![
                format!("{SENTINEL_MOUNT}/sentinel.conf"),
                "--sentinel".into(),
            ]),
            hostname: Some(m.name.clone()),
            labels: Some(lbls),
            exposed_ports: Some(vec![format!("{port}/tcp")]),
            host_config: Some(HostConfig {
                port_bindings: Some(ports),
                network_mode: Some(network.to_string()),
                // iptables inside its namespace, for partitions.
                cap_add: Some(vec!["NET_ADMIN".into()]),
                binds: Some(vec![format!("{}:{SENTINEL_MOUNT}", dir.display())]),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(endpoint(
                    network,
                    node.announce.ip(),
                    Some(vec![m.name.clone()]),
                )),
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default()
            .name(&node.handle)
            .build();
        self.docker
            .create_container(Some(opts), body)
            .await
            .map_err(RuntimeError::docker(format!(
                "creating Sentinel {}",
                m.name
            )))?;
        Ok(())
    }

    /// A /24 that no Docker network and no host route uses, from 172.28.0.0/14,
    /// starting at a random offset so concurrent runs rarely try the same one.
    pub(super) async fn pick_subnet(&self) -> Result<[u8; 3], RuntimeError> {
        let nets = self
            .docker
            .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
            .await
            .map_err(RuntimeError::docker("listing networks"))?;
        let mut used: Vec<(u32, u32)> = nets
            .iter()
            .filter_map(|n| n.ipam.as_ref()?.config.as_ref())
            .flatten()
            .filter_map(|c| parse_cidr(c.subnet.as_deref()?))
            .collect();
        used.extend(host_routes());
        choose_subnet(&used, rand::random::<u16>()).ok_or_else(|| {
            RuntimeError::Environment(
                "no free /24 subnet left in 172.28.0.0/14 for a docker network".into(),
            )
        })
    }
}

/// Write `text` to `path`, readable by its owner only (it holds a
/// password), whole: through a temporary file and a rename.
fn write_private(path: &std::path::Path, text: &str) -> Result<(), RuntimeError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let err = || RuntimeError::io(format!("writing {}", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err())?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(err())?;
    std::fs::rename(&tmp, path).map_err(err())
}

/// A container's one endpoint: on `network` at the static address `ip`,
/// under `aliases` (a node's name) when given.
fn endpoint(
    network: &str,
    ip: IpAddr,
    aliases: Option<Vec<String>>,
) -> HashMap<String, EndpointSettings> {
    let settings = EndpointSettings {
        ipam_config: Some(EndpointIpamConfig {
            ipv4_address: Some(ip.to_string()),
            ..Default::default()
        }),
        aliases,
        ..Default::default()
    };
    HashMap::from([(network.to_string(), settings)])
}

/// The lowest address from .[`FIRST_HOST`] to .254 of the /24 `subnet`
/// (network, mask) that is not in `used`.
pub(super) fn next_free_host(subnet: (u32, u32), used: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    let (net, _) = subnet;
    (FIRST_HOST..=254)
        .map(|h| Ipv4Addr::from(net | u32::from(h)))
        .find(|ip| !used.contains(ip))
}

/// The image a node runs: its own, the topology's, or the default.
pub(crate) fn image_for(topology: &Topology, node: &NodeSpec) -> String {
    node.image
        .clone()
        .or_else(|| topology.image.clone())
        .unwrap_or_else(|| crate::runtime::image::for_server(&node.server))
}

/// Where a Sentinel's folder (its `sentinel.conf`) is mounted in its container.
pub(super) const SENTINEL_MOUNT: &str = "/sentinel";

/// A free host port of 127.0.0.1 for each Sentinel, none of the nodes'
/// (`taken`) and none twice.
pub(super) fn sentinel_ports(topology: &Topology, taken: &[u16]) -> Result<Vec<u16>, RuntimeError> {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let count = topology.sentinel.as_ref().map_or(0, |s| s.members.len());
    let mut ports: Vec<u16> = Vec::with_capacity(count);
    // Bounded: a free port the kernel hands out twice in a row is rare.
    for _ in 0..count * 20 {
        if ports.len() == count {
            break;
        }
        let p = free_port(lo)?;
        if !taken.contains(&p) && !ports.contains(&p) {
            ports.push(p);
        }
    }
    if ports.len() < count {
        return Err(RuntimeError::Environment(format!(
            "no {count} distinct free ports on 127.0.0.1 for the Sentinels"
        )));
    }
    Ok(ports)
}

/// The labels every resource of the run carries, so cleanup finds it.
pub(crate) fn common_labels(d: &Deployment) -> HashMap<String, String> {
    HashMap::from([
        (labels::TOOL.to_string(), labels::TOOL_VALUE.to_string()),
        (labels::RUN_ID.to_string(), d.run_id.clone()),
        (labels::TOPOLOGY.to_string(), d.name.clone()),
    ])
}

/// For replicas of a `replicated` topology: their primary's in-network address.
/// (Cluster replicas are attached by CLUSTER REPLICATE, not by config.)
pub(super) fn replica_target(d: &Deployment, spec: &NodeSpec) -> Option<SocketAddr> {
    if d.topology.kind != Kind::Replicated {
        return None;
    }
    let primary = spec.replica_of.as_deref()?;
    d.nodes
        .iter()
        .find(|n| n.name == primary)
        .map(|n| n.announce)
}

/// Host ports for every node: the topology's fixed port (which must be free now)
/// or a free one.
pub(super) fn host_ports(topology: &Topology) -> Result<Vec<u16>, RuntimeError> {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    topology
        .nodes
        .iter()
        .map(|n| match n.port {
            Some(p) if port_is_free(lo, p) => Ok(p),
            Some(p) => Err(RuntimeError::PortTaken {
                node: n.name.clone(),
                ip: "127.0.0.1".into(),
                port: p,
            }),
            None => free_port(lo),
        })
        .collect()
}

fn parse_cidr(s: &str) -> Option<(u32, u32)> {
    let (ip, len) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - len.min(32))
    };
    Some((u32::from(ip) & mask, mask))
}

/// IPv4 routes of the host (destination, mask) from /proc/net/route, so we never
/// shadow a real network with a docker bridge.
fn host_routes() -> Vec<(u32, u32)> {
    let Ok(text) = std::fs::read_to_string("/proc/net/route") else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?.swap_bytes();
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?.swap_bytes();
            (mask != 0).then_some((dest, mask))
        })
        .collect()
}

/// The first /24 in 172.28.0.0/14 (1024 of them), from `offset`, that overlaps
/// none of `used`.
fn choose_subnet(used: &[(u32, u32)], offset: u16) -> Option<[u8; 3]> {
    let base = u32::from(Ipv4Addr::new(172, 28, 0, 0));
    (0..1024u32)
        .map(|i| (i + u32::from(offset)) % 1024)
        .find_map(|i| {
            let net = base + (i << 8);
            let mask = u32::MAX << 8;
            let overlaps = used.iter().any(|&(u, m)| {
                let common = mask & m;
                net & common == u & common
            });
            (!overlaps).then(|| {
                let o = Ipv4Addr::from(net).octets();
                [o[0], o[1], o[2]]
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_avoids_used_ranges() {
        let used = vec![
            parse_cidr("172.28.0.0/24").unwrap(),
            parse_cidr("172.28.1.0/24").unwrap(),
        ];
        assert_eq!(choose_subnet(&used, 0), Some([172, 28, 2]));
        // a /16 covering the whole 172.28 block pushes us to 172.29
        let used = vec![parse_cidr("172.28.0.0/16").unwrap()];
        assert_eq!(choose_subnet(&used, 0), Some([172, 29, 0]));
        // a wide host route over everything leaves nothing
        let used = vec![parse_cidr("172.16.0.0/12").unwrap()];
        assert_eq!(choose_subnet(&used, 7), None);
        // the offset wraps
        assert_eq!(choose_subnet(&[], 1023), Some([172, 31, 255]));
        assert_eq!(choose_subnet(&[], 1024), Some([172, 28, 0]));
    }

    #[test]
    fn next_free_host_skips_used_addresses() {
        let net = parse_cidr("172.28.5.0/24").unwrap();
        let ip = |h: u8| Ipv4Addr::new(172, 28, 5, h);
        assert_eq!(next_free_host(net, &[]), Some(ip(11)));
        assert_eq!(next_free_host(net, &[ip(11), ip(12), ip(14)]), Some(ip(13)));
        let all: Vec<Ipv4Addr> = (11..=254).map(ip).collect();
        assert_eq!(next_free_host(net, &all), None);
    }
}
