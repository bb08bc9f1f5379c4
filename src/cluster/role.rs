//! What a node says of its role (`ROLE`), read and waited for: the ground
//! that [`super::failover`] (a cluster's manual failover) and
//! [`super::replication`] (classic replication) both stand on.

use std::net::SocketAddr;
use std::time::Duration;

use redis::Value;

use super::conn::{NodeConn, TimeBox};
use super::error::ClusterError;

/// What `ROLE` says of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleReply {
    /// A primary: its replication offset, and each replica it serves
    /// (announced address, acknowledged offset).
    Primary {
        offset: u64,
        replicas: Vec<(SocketAddr, u64)>,
    },
    /// A replica of the primary at `primary`; `connected` once its link is
    /// up (state `connected`), `offset` what it has processed.
    Replica {
        primary: SocketAddr,
        connected: bool,
        offset: Option<u64>,
    },
}

/// Parse a `ROLE` reply (RESP2 or RESP3 arrays). Pure.
pub fn parse_role(v: &Value) -> Result<RoleReply, String> {
    let items = array(v).ok_or_else(|| format!("not an array: {v:?}"))?;
    let kind = items.first().and_then(text).ok_or("no role name")?;
    match kind.as_str() {
        "master" => {
            let offset = items.get(1).and_then(int).ok_or("no master offset")?;
            let mut replicas = Vec::new();
            for r in items.get(2).and_then(array).unwrap_or(&[]) {
                let r = array(r).ok_or("a replica entry is not an array")?;
                let host = r.first().and_then(text).ok_or("a replica without host")?;
                let port = r.get(1).and_then(int).ok_or("a replica without port")?;
                let offset = r.get(2).and_then(int).unwrap_or(0);
                let addr = format!("{host}:{port}")
                    .parse()
                    .map_err(|_| format!("replica address {host}:{port} is not ip:port"))?;
                replicas.push((addr, offset));
            }
            Ok(RoleReply::Primary { offset, replicas })
        }
        "slave" => {
            let host = items.get(1).and_then(text).ok_or("no primary host")?;
            let port = items.get(2).and_then(int).ok_or("no primary port")?;
            let state = items.get(3).and_then(text).unwrap_or_default();
            let offset = items.get(4).and_then(int).filter(|_| state == "connected");
            let primary = format!("{host}:{port}")
                .parse()
                .map_err(|_| format!("primary address {host}:{port} is not ip:port"))?;
            Ok(RoleReply::Replica {
                primary,
                connected: state == "connected",
                offset,
            })
        }
        other => Err(format!("role `{other}` is not a primary or a replica")),
    }
}

fn array(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Array(a) => Some(a),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::BulkString(_) | Value::SimpleString(_) => text(v)?.parse().ok(),
        _ => None,
    }
}

/// How often roles are read while waiting: a promotion takes milliseconds
/// and a resync of a drill's key space well under a second, so 20 ms keeps
/// the figures sharp without loading the nodes.
pub(crate) const ROLE_POLL: Duration = Duration::from_millis(20);

/// Poll `conn`'s node until it reports itself primary, within `bound`;
/// `still` says why it may not have, in the timeout's error.
pub(crate) async fn wait_primary(
    conn: &mut NodeConn,
    bound: &TimeBox<'_>,
    still: &str,
) -> Result<(), ClusterError> {
    let node = conn.name.clone();
    for _ in 0..(bound.timeout.as_millis() / ROLE_POLL.as_millis()).max(1) + 1 {
        let v: Value = bound
            .step("read the replica's role", conn.run(&redis::cmd("ROLE")))
            .await?;
        if matches!(parse_role(&v), Ok(RoleReply::Primary { .. })) {
            return Ok(());
        }
        bound
            .pause(
                ROLE_POLL,
                "wait for the promotion",
                &[format!("{node}: still a replica")],
            )
            .await?;
    }
    Err(bound.timed_out(format!("{node} to take over"), vec![still.to_string()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn role_replies_parse() {
        let primary = Value::Array(vec![
            bulk("master"),
            Value::Int(3129659),
            Value::Array(vec![
                Value::Array(vec![bulk("127.0.9.12"), bulk("9001"), bulk("3129242")]),
                Value::Array(vec![bulk("127.0.9.13"), bulk("9002"), bulk("3129543")]),
            ]),
        ]);
        assert_eq!(
            parse_role(&primary).unwrap(),
            RoleReply::Primary {
                offset: 3129659,
                replicas: vec![
                    ("127.0.9.12:9001".parse().unwrap(), 3129242),
                    ("127.0.9.13:9002".parse().unwrap(), 3129543)
                ]
            }
        );
        let replica = Value::Array(vec![
            bulk("slave"),
            bulk("127.0.9.11"),
            Value::Int(9000),
            bulk("connected"),
            Value::Int(3167038),
        ]);
        assert_eq!(
            parse_role(&replica).unwrap(),
            RoleReply::Replica {
                primary: "127.0.9.11:9000".parse().unwrap(),
                connected: true,
                offset: Some(3167038)
            }
        );
        let syncing = Value::Array(vec![
            bulk("slave"),
            bulk("127.0.9.11"),
            Value::Int(9000),
            bulk("sync"),
            Value::Int(-1),
        ]);
        assert!(matches!(
            parse_role(&syncing).unwrap(),
            RoleReply::Replica {
                connected: false,
                offset: None,
                ..
            }
        ));
        assert!(parse_role(&Value::Array(vec![bulk("sentinel")])).is_err());
        assert!(parse_role(&Value::Nil).is_err());
    }
}
