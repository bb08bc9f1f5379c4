//! A grudge as addresses: which source addresses each node of a
//! deployment drops. Pure, and the same for every backend; only the
//! addresses the drill's own clients come from differ, so the backend
//! passes those in. Each backend then writes the drops as its own rules.

use std::net::IpAddr;

use super::deployment::Deployment;
use super::error::NetError;
use crate::net::Grudge;
use crate::net::grudge::CLIENTS;

/// Each node of `d`, then each Sentinel, with the addresses it drops, in
/// that order; `clients` are the sources of the drill's own connections
/// (the [`CLIENTS`] of a grudge) on this backend. A Sentinel placed beside
/// a node is on that node's side ([`Deployment::party_of`]): it drops what
/// the node drops, and whoever drops the node drops it too. Fails on a
/// grudge naming a node or Sentinel `d` does not have.
pub(crate) fn resolve(
    d: &Deployment,
    grudge: &Grudge,
    clients: &[IpAddr],
) -> Result<Vec<(String, Vec<IpAddr>)>, NetError> {
    let members: Vec<&crate::runtime::DeployedNode> = d.nodes.iter().chain(&d.sentinels).collect();
    for (dropper, from) in grudge.pairs() {
        for name in [dropper, from] {
            if name != CLIENTS && members.iter().all(|n| n.name != name) {
                return Err(NetError::BadInput(format!(
                    "the partition names node `{name}`, which {} does not have (nodes: {})",
                    d.name,
                    d.node_names()
                )));
            }
        }
    }
    Ok(members
        .iter()
        .map(|n| {
            let party = d.party_of(&n.name);
            let mut ips: Vec<IpAddr> = Vec::new();
            let sides = if party == n.name {
                vec![party]
            } else {
                vec![party, n.name.as_str()]
            };
            for side in sides {
                for from in grudge.drops_from(side) {
                    match from {
                        CLIENTS => ips.extend_from_slice(clients),
                        _ => ips.extend(
                            members
                                .iter()
                                .filter(|p| p.name == from || d.party_of(&p.name) == from)
                                .filter(|p| p.name != n.name)
                                .map(|p| p.announce.ip()),
                        ),
                    }
                }
            }
            ips.extend(region_clients_cut(d, grudge, party));
            let mut seen = Vec::new();
            ips.retain(|ip| {
                let new = !seen.contains(ip);
                seen.push(*ip);
                new
            });
            (n.name.clone(), ips)
        })
        .collect())
}

/// The client addresses of other regions that `node` drops under `grudge`:
/// a region's clients share their region's fate, so a node that drops
/// every node of another region drops that region's clients too (a region
/// cut off is cut off from its clients' view as well); the clients of its
/// own region keep reaching it, as on one LAN.
fn region_clients_cut(d: &Deployment, grudge: &Grudge, node: &str) -> Vec<IpAddr> {
    let own = d.region_of(node);
    let dropped: Vec<&str> = grudge.drops_from(node).collect();
    d.topology
        .regions
        .iter()
        .filter(|r| Some(r.name.as_str()) != own)
        .filter(|r| {
            let mut of_r = d
                .nodes
                .iter()
                .filter(|p| d.region_of(&p.name) == Some(r.name.as_str()))
                .peekable();
            of_r.peek().is_some() && of_r.all(|p| dropped.contains(&p.name.as_str()))
        })
        .filter_map(|r| d.client_addr(&r.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Class;
    use crate::runtime::deployment::RuntimeKind;

    fn deployment() -> Deployment {
        let topology = crate::topology::Topology::parse(
            "name: c\nkind: cluster\ncluster: {shards: 2, replicas: 1}\n",
            None,
        )
        .unwrap();
        let nodes = topology
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let addr: std::net::SocketAddr = format!("127.0.0.1:{}", 7000 + i).parse().unwrap();
                crate::runtime::DeployedNode {
                    name: n.name.clone(),
                    addr,
                    announce: format!("172.28.5.{}:6379", 11 + i).parse().unwrap(),
                    bus_port: 16379,
                    handle: String::new(),
                    host: None,
                }
            })
            .collect();
        Deployment {
            name: "c".into(),
            run_id: "0badf00d".into(),
            runtime: RuntimeKind::Docker,
            attached: None,
            security: Default::default(),
            credentials: None,
            sentinels: Vec::new(),
            image: String::new(),
            topology,
            nodes,
        }
    }

    #[test]
    fn a_sentinel_beside_a_node_is_cut_off_with_it() {
        let topology = crate::topology::Topology::parse(
            "name: r\nkind: replicated\nreplicated: {replicas: 2}\nsentinel: {count: 3}\n",
            None,
        )
        .unwrap();
        let at = |h: u8, port: u16| crate::runtime::DeployedNode {
            name: String::new(),
            addr: format!("127.0.0.1:{}", 7000 + u16::from(h))
                .parse()
                .unwrap(),
            announce: format!("172.28.5.{h}:{port}").parse().unwrap(),
            bus_port: 0,
            handle: String::new(),
            host: None,
        };
        let named = |name: &str, n: crate::runtime::DeployedNode| crate::runtime::DeployedNode {
            name: name.into(),
            ..n
        };
        let d = Deployment {
            nodes: vec![
                named("n1", at(11, 6379)),
                named("n2", at(12, 6379)),
                named("n3", at(13, 6379)),
            ],
            sentinels: vec![
                named("sentinel1", at(14, 26379)),
                named("sentinel2", at(15, 26379)),
                named("sentinel3", at(16, 26379)),
            ],
            topology,
            ..deployment()
        };
        // Placed beside n1, n2, n3 by default.
        assert_eq!(d.party_of("sentinel1"), "n1");
        let all: Vec<String> = ["n1", "n2", "n3"].map(String::from).to_vec();
        let peers = resolve(&d, &crate::net::grudge::isolate("n1", &all), &[]).unwrap();
        let ip = |h: u8| IpAddr::from([172, 28, 5, h]);
        let of = |name: &str| peers.iter().find(|(n, _)| n == name).unwrap().1.clone();
        // {n1, sentinel1} | {n2, n3, sentinel2, sentinel3}: Jepsen's shape.
        assert_eq!(of("n1"), [ip(12), ip(15), ip(13), ip(16)]);
        assert_eq!(of("sentinel1"), of("n1"));
        assert_eq!(of("n2"), [ip(11), ip(14)]);
        assert_eq!(of("sentinel3"), [ip(11), ip(14)]);
        assert_eq!(peers.len(), 6, "every node and Sentinel is written");
        // A name that is neither is refused; a Sentinel's is not.
        assert!(resolve(&d, &crate::net::grudge::one_way("sentinel2", "n1"), &[]).is_ok());
        assert!(resolve(&d, &crate::net::grudge::one_way("sentinel9", "n1"), &[]).is_err());
    }

    #[test]
    fn grudges_resolve_to_peer_addresses() {
        let d = deployment();
        let all: Vec<String> = d.nodes.iter().map(|n| n.name.clone()).collect();
        assert_eq!(all, ["s1n1", "s1n2", "s2n1", "s2n2"]);
        let peers = resolve(&d, &crate::net::grudge::isolate("s1n2", &all), &[]).unwrap();
        let ip = |h: u8| IpAddr::from([172, 28, 5, h]);
        assert_eq!(
            peers,
            [
                ("s1n1".to_string(), vec![ip(12)]),
                ("s1n2".to_string(), vec![ip(11), ip(13), ip(14)]),
                ("s2n1".to_string(), vec![ip(12)]),
                ("s2n2".to_string(), vec![ip(12)]),
            ]
        );
        // Every node is listed, so an apply rewrites (heals) the others.
        let none = resolve(&d, &Grudge::default(), &[]).unwrap();
        assert!(none.iter().all(|(_, from)| from.is_empty()) && none.len() == 4);

        let e = resolve(&d, &crate::net::grudge::one_way("s1n1", "s9n9"), &[]).unwrap_err();
        assert_eq!(e.class(), Class::BadInput);
        assert_eq!(
            e.to_string(),
            "the partition names node `s9n9`, which c does not have (nodes: s1n1, s1n2, s2n1, s2n2)"
        );
    }

    #[test]
    fn a_region_cut_off_is_cut_off_from_the_other_regions_clients() {
        let mut d = deployment();
        d.topology = crate::topology::Topology::parse(
            "name: c\nkind: cluster\nregions: [{name: eu}, {name: us}]\ncluster: {shards: 2, replicas: 1}\n",
            None,
        )
        .unwrap();
        let region = |n: &str| d.spec(n).unwrap().region.clone();
        let all: Vec<String> = d.nodes.iter().map(|n| n.name.clone()).collect();
        let eu: Vec<&String> = all.iter().filter(|n| region(n) == "eu").collect();
        let ip = |h: u8| IpAddr::from([172, 28, 5, h]);
        let (eu_clients, us_clients) = (ip(3), ip(4));
        assert_eq!(d.client_addr("eu"), Some(eu_clients));
        assert_eq!(d.client_addr("us"), Some(us_clients));
        let grudge = crate::net::grudge::regions(
            &d.nodes
                .iter()
                .map(|n| (n.name.clone(), region(&n.name)))
                .collect(),
        );
        for (node, from) in resolve(&d, &grudge, &[]).unwrap() {
            // Each side drops the other region's clients, never its own.
            let (theirs, mine) = if eu.contains(&&node) {
                (us_clients, eu_clients)
            } else {
                (eu_clients, us_clients)
            };
            assert!(
                from.contains(&theirs) && !from.contains(&mine),
                "{node}: {from:?}"
            );
        }
        // One node cut off from its shard peer alone: no region is cut off.
        let one = crate::net::grudge::one_way("s1n1", "s1n2");
        for (_, from) in resolve(&d, &one, &[]).unwrap() {
            assert!(!from.contains(&eu_clients) && !from.contains(&us_clients));
        }
    }
}
