//! Links between regions as data: which directed pairs of node addresses a
//! topology's [`Link`]s impair. Pure; the runtime turns the pairs into
//! iptables rules and the relay into delays (each backend's `links`,
//! `runtime::relay`).

use std::net::IpAddr;

use crate::topology::Link;

/// One direction of traffic a link impairs: packets from `from` to `to`,
/// two nodes in the two regions `links[link]` joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Impaired {
    /// The sender's address.
    pub from: IpAddr,
    /// The receiver's address.
    pub to: IpAddr,
    /// Index into the topology's `links`.
    pub link: usize,
}

/// Every directed pair of `nodes` (address, region) that some link joins, in
/// node order (`from`, then `to`). Pairs inside one region, and pairs of
/// regions no link joins, are not impaired and not listed.
pub fn impaired(nodes: &[(IpAddr, String)], links: &[Link]) -> Vec<Impaired> {
    let mut out = Vec::new();
    for (from, from_region) in nodes {
        for (to, to_region) in nodes {
            if let Some(link) = links.iter().position(|l| l.joins(from_region, to_region)) {
                out.push(Impaired {
                    from: *from,
                    to: *to,
                    link,
                });
            }
        }
    }
    out
}

/// The link packets from `from` to `to` cross, given each node's address
/// and region: what the relay asks of every connection it accepts.
pub fn link_between<'l>(
    nodes: &[(IpAddr, String)],
    links: &'l [Link],
    from: IpAddr,
    to: IpAddr,
) -> Option<&'l Link> {
    let region = |ip: IpAddr| nodes.iter().find(|(a, _)| *a == ip).map(|(_, r)| r);
    let (a, b) = (region(from)?, region(to)?);
    links.iter().find(|l| l.joins(a, b))
}

/// A loss percentage as the `statistic` match's probability, to its
/// precision (it keeps 31 bits).
pub fn probability(loss_pct: f64) -> String {
    let p = format!("{:.6}", loss_pct / 100.0);
    let p = p.trim_end_matches('0');
    p.strip_suffix('.').unwrap_or(p).to_string()
}

/// One link's round trips as measured before a drill
/// (`runtime::links::measure`), stored in the run's record so the check
/// can judge them again.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinkSample {
    /// The link as declared.
    pub link: Link,
    /// The nodes measured between, `from` sending the PINGs.
    pub from: String,
    /// The node the PINGs went to.
    pub to: String,
    /// Each PING's round trip (ms), in the order sent.
    pub rtt_ms: Vec<f64>,
    /// Why the measurement stopped short, if it did.
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(a: &str, b: &str, delay_ms: f64) -> Link {
        Link {
            between: [a.into(), b.into()],
            delay_ms,
            jitter_ms: 0.0,
            loss_pct: 0.0,
            rate_mbit: None,
        }
    }

    fn ip(h: u8) -> IpAddr {
        IpAddr::from([127, 0, 101, h])
    }

    #[test]
    fn only_pairs_across_a_declared_link_are_impaired() {
        let nodes = vec![
            (ip(11), "eu".to_string()),
            (ip(12), "us".to_string()),
            (ip(13), "eu".to_string()),
            (ip(14), "ap".to_string()),
        ];
        let links = [link("us", "eu", 40.0)];
        let pairs: Vec<(u8, u8)> = impaired(&nodes, &links)
            .iter()
            .map(|p| match (p.from, p.to) {
                (IpAddr::V4(f), IpAddr::V4(t)) => (f.octets()[3], t.octets()[3]),
                _ => unreachable!(),
            })
            .collect();
        // eu<->us both ways; eu-eu, and anything with ap (no link), untouched.
        assert_eq!(pairs, [(11, 12), (12, 11), (12, 13), (13, 12)]);
        assert!(impaired(&nodes, &[]).is_empty());

        assert_eq!(
            link_between(&nodes, &links, ip(13), ip(12)).map(|l| l.delay_ms),
            Some(40.0)
        );
        assert!(link_between(&nodes, &links, ip(11), ip(13)).is_none());
        assert!(link_between(&nodes, &links, ip(11), ip(99)).is_none());
    }
}
