//! `CLUSTER NODES` parsing. Pure.
//!
//! One line per node, as Redis 7 prints it:
//!
//! ```text
//! <id> <ip:port@cport[,hostname[,aux=value...]]> <flags> <primary-id|-> <ping-sent> <pong-recv>
//!     <config-epoch> <connected|disconnected> [<slot> | <start-end> | [<slot>->-<id>] | [<slot>-<-<id>]]...
//! ```
//!
//! A node without a known address (`noaddr`, or still in handshake) prints `:0@0`
//! or `:<port>@<cport>` with an empty host; its address is `None`.

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use crate::slots::SlotRange;

/// The flags of one node line. `fail?` is [`NodeFlags::pfail`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeFlags {
    pub myself: bool,
    pub master: bool,
    pub slave: bool,
    /// `fail?`: this node suspects the other is down (not yet agreed by a majority).
    pub pfail: bool,
    /// `fail`: a majority of primaries agreed the node is down.
    pub fail: bool,
    pub handshake: bool,
    pub noaddr: bool,
    pub nofailover: bool,
    pub noflags: bool,
    /// Flags this parser does not know, kept so that a newer Redis does not break us.
    pub other: Vec<String>,
}

impl NodeFlags {
    fn parse(text: &str) -> NodeFlags {
        let mut f = NodeFlags::default();
        for flag in text.split(',').filter(|s| !s.is_empty()) {
            match flag {
                "myself" => f.myself = true,
                "master" => f.master = true,
                "slave" => f.slave = true,
                "fail?" => f.pfail = true,
                "fail" => f.fail = true,
                "handshake" => f.handshake = true,
                "noaddr" => f.noaddr = true,
                "nofailover" => f.nofailover = true,
                "noflags" => f.noflags = true,
                other => f.other.push(other.to_string()),
            }
        }
        f
    }

    /// The flags that mean the cluster has not settled about this node.
    pub fn unsettled(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.fail {
            out.push("fail");
        }
        if self.pfail {
            out.push("fail?");
        }
        if self.handshake {
            out.push("handshake");
        }
        if self.noaddr {
            out.push("noaddr");
        }
        out
    }
}

/// One line of `CLUSTER NODES`: what the reporting node believes about one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeLine {
    /// The 40-character node id.
    pub id: String,
    /// The announced client address; `None` when the node has no known address.
    pub addr: Option<SocketAddr>,
    /// The announced cluster bus port (0 when unknown).
    pub bus_port: u16,
    /// The announced hostname (`cluster-announce-hostname`), when set.
    pub hostname: Option<String>,
    pub flags: NodeFlags,
    /// For a replica, the id of its primary.
    pub primary_id: Option<String>,
    /// Milliseconds timestamp of the pending PING, 0 when none.
    pub ping_sent: u64,
    /// Milliseconds timestamp of the last PONG received.
    pub pong_recv: u64,
    pub config_epoch: u64,
    /// Whether the reporting node's bus link to this node is up.
    pub link_connected: bool,
    /// Slots served by this node, as ranges in the order printed.
    pub slots: Vec<SlotRange>,
    /// Open slots being moved out: (slot, destination node id). Only on the `myself` line.
    pub migrating: Vec<(u16, String)>,
    /// Open slots being moved in: (slot, source node id). Only on the `myself` line.
    pub importing: Vec<(u16, String)>,
}

impl NodeLine {
    /// Flagged `master`: the node serves slots or may.
    pub fn is_primary(&self) -> bool {
        self.flags.master
    }

    /// Flagged `slave`: the node follows a primary.
    pub fn is_replica(&self) -> bool {
        self.flags.slave
    }

    /// Whether this line claims `slot`.
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|r| r.contains(slot))
    }

    /// Number of slots this line claims.
    pub fn slot_count(&self) -> usize {
        crate::slots::count(&self.slots)
    }
}

/// Why a `CLUSTER NODES` reply did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse line {line} of CLUSTER NODES (`{text}`): {reason}")]
pub struct NodesParseError {
    /// 1-based line number.
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// Parse a whole `CLUSTER NODES` reply. Empty lines are skipped.
pub fn parse_cluster_nodes(text: &str) -> Result<Vec<NodeLine>, NodesParseError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            parse_line(l.trim()).map_err(|reason| NodesParseError {
                line: i + 1,
                text: l.trim().to_string(),
                reason,
            })
        })
        .collect()
}

/// The line flagged `myself`, if any.
pub fn myself(lines: &[NodeLine]) -> Option<&NodeLine> {
    lines.iter().find(|l| l.flags.myself)
}

fn parse_line(line: &str) -> Result<NodeLine, String> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    if fields.len() < 8 {
        return Err(format!(
            "expected at least 8 fields, found {}",
            fields.len()
        ));
    }
    let id = fields[0];
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("node id `{id}` is not hexadecimal"));
    }
    let (addr, bus_port, hostname) = parse_address(fields[1])?;
    let flags = NodeFlags::parse(fields[2]);
    let primary_id = match fields[3] {
        "-" => None,
        p => Some(p.to_string()),
    };
    let number = |i: usize, what: &str| -> Result<u64, String> {
        fields[i]
            .parse()
            .map_err(|_| format!("{what} `{}` is not a number", fields[i]))
    };
    let ping_sent = number(4, "ping-sent")?;
    let pong_recv = number(5, "pong-recv")?;
    let config_epoch = number(6, "config-epoch")?;
    let link_connected = match fields[7] {
        "connected" => true,
        "disconnected" => false,
        other => {
            return Err(format!(
                "link state `{other}` is neither connected nor disconnected"
            ));
        }
    };
    let mut slots = Vec::new();
    let mut migrating = Vec::new();
    let mut importing = Vec::new();
    for token in &fields[8..] {
        if let Some(inner) = token.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| format!("open slot `{token}` has no closing bracket"))?;
            let (slot, other, list) = if let Some((s, to)) = inner.split_once("->-") {
                (s, to, &mut migrating)
            } else if let Some((s, from)) = inner.split_once("-<-") {
                (s, from, &mut importing)
            } else {
                return Err(format!("open slot `{token}` is neither ->- nor -<-"));
            };
            let slot: SlotRange = slot.parse().map_err(|e| format!("{e}"))?;
            if slot.start != slot.end {
                return Err(format!("open slot `{token}` names a range"));
            }
            list.push((slot.start, other.to_string()));
        } else {
            slots.push(token.parse::<SlotRange>().map_err(|e| format!("{e}"))?);
        }
    }
    Ok(NodeLine {
        id: id.to_string(),
        addr,
        bus_port,
        hostname,
        flags,
        primary_id,
        ping_sent,
        pong_recv,
        config_epoch,
        link_connected,
        slots,
        migrating,
        importing,
    })
}

/// `ip:port@cport[,hostname[,key=value...]]`. IPv6 hosts are printed without
/// brackets, so the port is after the last colon.
fn parse_address(text: &str) -> Result<(Option<SocketAddr>, u16, Option<String>), String> {
    let mut parts = text.split(',');
    let endpoint = parts.next().unwrap_or_default();
    // Redis 7.0 prints `,hostname` only when one is set; 7.2 may print an empty
    // hostname followed by `key=value` auxiliary fields.
    let hostname = parts
        .next()
        .filter(|h| !h.is_empty() && !h.contains('='))
        .map(str::to_string);
    let (host_port, bus) = match endpoint.split_once('@') {
        Some((hp, bus)) => (hp, Some(bus)),
        None => (endpoint, None),
    };
    let (host, port) = host_port
        .rsplit_once(':')
        .ok_or_else(|| format!("address `{text}` has no port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("port in `{text}` is not a number"))?;
    let bus_port: u16 = match bus {
        Some(b) => b
            .parse()
            .map_err(|_| format!("bus port in `{text}` is not a number"))?,
        None => 0,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addr = if host.is_empty() || port == 0 {
        None
    } else {
        let ip: IpAddr = host
            .parse()
            .map_err(|_| format!("host `{host}` in `{text}` is not an IP address"))?;
        Some(SocketAddr::new(ip, port))
    };
    Ok((addr, bus_port, hostname))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID_A: &str = "07c37dfeb235213a872192d90877d0cd55635b91";
    const ID_B: &str = "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1";

    fn addr(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    /// (line, check) pairs: every line form Redis 7 prints.
    #[test]
    fn line_forms() {
        struct Case {
            line: &'static str,
            check: fn(&NodeLine),
        }
        let cases = [
            Case {
                line: "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected",
                check: |n| {
                    assert_eq!(n.addr, addr("127.0.0.1:30004"));
                    assert_eq!(n.bus_port, 31004);
                    assert!(n.is_replica() && !n.is_primary() && !n.flags.myself);
                    assert_eq!(
                        n.primary_id.as_deref(),
                        Some("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")
                    );
                    assert_eq!(
                        (n.ping_sent, n.pong_recv, n.config_epoch),
                        (0, 1426238317239, 4)
                    );
                    assert!(n.link_connected);
                    assert!(n.slots.is_empty());
                },
            },
            Case {
                line: "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460",
                check: |n| {
                    assert!(n.flags.myself && n.flags.master);
                    assert_eq!(n.primary_id, None);
                    assert_eq!(n.slots, vec![SlotRange::new(0, 5460)]);
                    assert_eq!(n.slot_count(), 5461);
                },
            },
            Case {
                line: "292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383 7 100-102",
                check: |n| {
                    assert_eq!(
                        n.slots,
                        vec![
                            SlotRange::new(10923, 16383),
                            SlotRange::new(7, 7),
                            SlotRange::new(100, 102)
                        ]
                    );
                    assert!(n.serves(101) && n.serves(7) && !n.serves(8));
                },
            },
            Case {
                line: "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master,fail? - 1426238316232 1426238316000 2 disconnected 5461-10922",
                check: |n| {
                    assert!(n.flags.pfail && !n.flags.fail);
                    assert!(!n.link_connected);
                    assert_eq!(n.ping_sent, 1426238316232);
                    assert_eq!(n.flags.unsettled(), vec!["fail?"]);
                },
            },
            Case {
                line: "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master,fail - 1426238316232 1426238316000 2 disconnected",
                check: |n| {
                    assert!(n.flags.fail && !n.flags.pfail);
                    assert_eq!(n.flags.unsettled(), vec!["fail"]);
                },
            },
            Case {
                line: "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [5461->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1] [93-<-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]",
                check: |n| {
                    assert_eq!(n.slots, vec![SlotRange::new(0, 5460)]);
                    assert_eq!(n.migrating, vec![(5461, ID_B.to_string())]);
                    assert_eq!(
                        n.importing,
                        vec![(93, "292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f".to_string())]
                    );
                },
            },
            Case {
                // A node being forgotten / never reached: no address at all.
                line: "07c37dfeb235213a872192d90877d0cd55635b91 :0@0 master,fail,noaddr - 1426238316232 1426238316000 5 disconnected",
                check: |n| {
                    assert_eq!(n.addr, None);
                    assert_eq!(n.bus_port, 0);
                    assert!(n.flags.noaddr && n.flags.fail);
                    assert_eq!(n.flags.unsettled(), vec!["fail", "noaddr"]);
                },
            },
            Case {
                // Redis 7 with cluster-announce-hostname set.
                line: "07c37dfeb235213a872192d90877d0cd55635b91 172.18.0.4:6379@16379,s1n2 slave,nofailover e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1700000000000 1 connected",
                check: |n| {
                    assert_eq!(n.addr, addr("172.18.0.4:6379"));
                    assert_eq!(n.bus_port, 16379);
                    assert_eq!(n.hostname.as_deref(), Some("s1n2"));
                    assert!(n.flags.nofailover && n.flags.slave);
                },
            },
            Case {
                // Redis 7.2 style: empty hostname followed by auxiliary fields.
                line: "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:7000@17000,,tls-port=0,shard-id=abc myself,master - 0 0 1 connected 0-16383",
                check: |n| {
                    assert_eq!(n.hostname, None);
                    assert_eq!(n.slots, vec![SlotRange::new(0, 16383)]);
                },
            },
            Case {
                line: "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:7000@17000,node-a,shard-id=abc master - 0 0 1 connected",
                check: |n| assert_eq!(n.hostname.as_deref(), Some("node-a")),
            },
            Case {
                // A fresh node meeting another: handshake with a random id.
                line: "5d12a3a5ca2a9d9b0b0b3c76e1b0d2cfe0e3f7a1 127.0.0.1:7001@17001 handshake - 1700000000000 0 0 disconnected",
                check: |n| {
                    assert!(n.flags.handshake);
                    assert_eq!(n.flags.unsettled(), vec!["handshake"]);
                    assert!(!n.flags.master && !n.flags.slave);
                },
            },
            Case {
                line: "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:7000@17000 myself,noflags - 0 0 0 connected",
                check: |n| assert!(n.flags.noflags && n.flags.myself),
            },
            Case {
                line: "07c37dfeb235213a872192d90877d0cd55635b91 ::1:7000@17000 master - 0 0 0 connected",
                check: |n| assert_eq!(n.addr, addr("[::1]:7000")),
            },
            Case {
                line: "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:7000@17000 master,weird - 0 0 0 connected",
                check: |n| assert_eq!(n.flags.other, vec!["weird".to_string()]),
            },
        ];
        for case in cases {
            let parsed = parse_cluster_nodes(case.line).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parsed.len(), 1, "{}", case.line);
            assert_eq!(parsed[0].id.len(), 40);
            (case.check)(&parsed[0]);
        }
    }

    #[test]
    fn whole_reply() {
        let text = format!(
            "{ID_A} 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-8191\n\
             {ID_B} 127.0.0.1:30002@31002 master - 0 1426238318243 2 connected 8192-16383\n\n"
        );
        let lines = parse_cluster_nodes(&text).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(myself(&lines).unwrap().id, ID_A);
    }

    #[test]
    fn bad_lines() {
        let cases = [
            ("abc 127.0.0.1:1@2 master - 0 0", "at least 8 fields"),
            (
                "xyz! 127.0.0.1:1@2 master - 0 0 0 connected",
                "not hexadecimal",
            ),
            ("abc 127.0.0.1@2 master - 0 0 0 connected", "has no port"),
            ("abc 127.0.0.1:x@2 master - 0 0 0 connected", "port in"),
            ("abc host:1@2 master - 0 0 0 connected", "not an IP address"),
            ("abc 127.0.0.1:1@2 master - x 0 0 connected", "ping-sent"),
            ("abc 127.0.0.1:1@2 master - 0 0 0 up", "link state"),
            (
                "abc 127.0.0.1:1@2 master - 0 0 0 connected 16384",
                "out of range",
            ),
            (
                "abc 127.0.0.1:1@2 master - 0 0 0 connected [5->-abc",
                "closing bracket",
            ),
            (
                "abc 127.0.0.1:1@2 master - 0 0 0 connected [5-abc]",
                "neither",
            ),
        ];
        for (line, want) in cases {
            let err = parse_cluster_nodes(&format!("\n{line}")).unwrap_err();
            assert_eq!(err.line, 2, "{line}");
            assert!(err.to_string().contains(want), "{line}: {err}");
        }
    }
}
