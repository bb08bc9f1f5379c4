//! Tests of cluster admin's pure parts: the pending conditions, the checks of
//! a plan, the timeout's message.

use std::net::SocketAddr;
use std::time::Duration;

use super::create::validate;
use super::grow::validate_addition;
use super::pending::{Expectations, Snapshot, convergence_pending, majority};
use crate::cluster::conn::Member;
use crate::cluster::error::ClusterError;
use crate::cluster::nodes::NodeLine;
use crate::cluster::nodes::parse_cluster_nodes;
use crate::slots::SlotRange;
use crate::slots::even_split;

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const R: &str = "cccccccccccccccccccccccccccccccccccccccc";

/// A, B primaries (0-8191, 8192-16383); R replica of A. `me` marks myself.
fn view(me: &str, extra_flags: &[(&str, &str)]) -> Vec<NodeLine> {
    let flag = |id: &str, base: &str| {
        let mut f = String::new();
        if id == me {
            f.push_str("myself,");
        }
        f.push_str(base);
        for (who, fl) in extra_flags {
            if *who == id {
                f.push(',');
                f.push_str(fl);
            }
        }
        f
    };
    let text = format!(
        "{A} 127.0.0.1:7000@17000 {} - 0 0 1 connected 0-8191\n\
             {B} 127.0.0.1:7001@17001 {} - 0 0 2 connected 8192-16383\n\
             {R} 127.0.0.1:7002@17002 {} {A} 0 0 3 connected\n",
        flag(A, "master"),
        flag(B, "master"),
        flag(R, "slave")
    );
    parse_cluster_nodes(&text).unwrap()
}

fn snap(lines: Vec<NodeLine>, role: &str, link: Option<&str>) -> Snapshot {
    Snapshot {
        cluster_state: "ok".into(),
        lines,
        role: role.into(),
        master_link_status: link.map(str::to_string),
        master_repl_offset: Some(100),
        slave_repl_offset: if role == "slave" { Some(100) } else { None },
    }
}

fn healthy() -> Vec<(String, Result<Snapshot, String>)> {
    vec![
        ("a".into(), Ok(snap(view(A, &[]), "master", None))),
        ("b".into(), Ok(snap(view(B, &[]), "master", None))),
        ("r".into(), Ok(snap(view(R, &[]), "slave", Some("up")))),
    ]
}

fn expect() -> Expectations {
    Expectations {
        nodes: 3,
        primary_of: [("r".to_string(), "a".to_string())].into(),
    }
}

#[test]
fn healthy_cluster_has_nothing_pending() {
    assert_eq!(
        convergence_pending(&healthy(), &expect(), true),
        Vec::<String>::new()
    );
}

#[test]
fn each_condition_is_reported_per_node() {
    type Mutate = fn(&mut Vec<(String, Result<Snapshot, String>)>);
    let cases: Vec<(Mutate, &str)> = vec![
        (
            |v| v[1].1.as_mut().unwrap().cluster_state = "fail".into(),
            "b: cluster_state:fail",
        ),
        (
            |v| v[0].1 = Err("connection refused".into()),
            "a: unreachable (connection refused)",
        ),
        (
            |v| v[2].1.as_mut().unwrap().master_link_status = Some("down".into()),
            "r: master_link_status:down",
        ),
        (
            |v| v[2].1.as_mut().unwrap().role = "master".into(),
            "r: role master, expected replica of a",
        ),
        (
            |v| v[2].1.as_mut().unwrap().slave_repl_offset = Some(90),
            "r: slave_repl_offset 90 differs from a's master_repl_offset 100",
        ),
        (
            |v| v[0].1.as_mut().unwrap().lines = view(A, &[(B, "fail?")]),
            "a: sees b as fail?",
        ),
        (
            |v| v[0].1.as_mut().unwrap().lines.truncate(2),
            "a: knows 2 of 3 nodes",
        ),
        (
            |v| {
                let lines = &mut v[1].1.as_mut().unwrap().lines;
                lines[0].slots = vec![SlotRange::new(0, 8190)];
            },
            "b: slot map differs from the majority on 1 slots",
        ),
        (
            |v| {
                let lines = &mut v[2].1.as_mut().unwrap().lines;
                lines[2].primary_id = Some(B.into());
            },
            "r: replica of b, expected a",
        ),
    ];
    for (mutate, want) in cases {
        let mut v = healthy();
        mutate(&mut v);
        let pending = convergence_pending(&v, &expect(), true);
        assert!(
            pending.iter().any(|p| p == want),
            "want {want:?}, got {pending:?}"
        );
    }
}

#[test]
fn majority_picks_most_common_then_first() {
    assert_eq!(majority(&[1, 2, 2]), Some(1));
    assert_eq!(majority(&[1, 2]), Some(0));
    assert_eq!(majority::<u8>(&[]), None);
}

fn member(name: &str, port: u16, replica_of: Option<&str>, slots: Vec<SlotRange>) -> Member {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    Member {
        name: name.into(),
        addr,
        announce: addr,
        bus_port: port + 10000,
        replica_of: replica_of.map(str::to_string),
        slots,
    }
}

#[test]
fn validate_rejects_bad_plans() {
    let split = even_split(2);
    let good = vec![
        member("p1", 7000, None, vec![split[0]]),
        member("p2", 7001, None, vec![split[1]]),
        member("r1", 7002, Some("p1"), vec![]),
    ];
    validate(&good).unwrap();
    let cases: Vec<(Vec<Member>, &str)> = vec![
        (vec![], "no members"),
        (
            vec![member("p1", 7000, None, vec![split[0]])],
            "slots 8192-16383 are assigned to no primary",
        ),
        (
            vec![
                member("p1", 7000, None, even_split(1)),
                member("r", 7001, Some("x"), vec![]),
            ],
            "replicates unknown member x",
        ),
        (
            vec![
                member("p1", 7000, None, even_split(1)),
                member("r", 7001, Some("p1"), vec![]),
                member("rr", 7002, Some("r"), vec![]),
            ],
            "itself a replica",
        ),
        (
            vec![
                member("p1", 7000, None, even_split(1)),
                member("p2", 7001, None, vec![SlotRange::new(5, 6)]),
            ],
            "slot 5 is assigned to both p1 and p2",
        ),
        (
            vec![
                member("p1", 7000, None, even_split(1)),
                member("r", 7001, Some("p1"), vec![SlotRange::new(5, 6)]),
            ],
            "replica but has slots",
        ),
    ];
    for (members, want) in cases {
        let err = validate(&members).unwrap_err().to_string();
        assert!(err.contains(want), "want {want:?} in {err:?}");
    }
}

#[test]
fn validate_addition_rejects_bad_new_nodes() {
    let split = even_split(2);
    let members = vec![
        member("p1", 7000, None, vec![split[0]]),
        member("p2", 7001, None, vec![split[1]]),
    ];
    validate_addition(&members, &member("p3", 7002, None, vec![])).unwrap();
    validate_addition(&members, &member("r", 7002, Some("p1"), vec![])).unwrap();
    let cases: Vec<(Vec<Member>, Member, &str)> = vec![
        (
            vec![],
            member("p3", 7002, None, vec![]),
            "no cluster to add p3 to",
        ),
        (
            members.clone(),
            member("p3", 7002, None, vec![SlotRange::new(0, 1)]),
            "must join with no slots",
        ),
        (
            members.clone(),
            member("r", 7002, Some("x"), vec![]),
            "replicates unknown member x",
        ),
        (
            members.clone(),
            member("p2", 7002, None, vec![]),
            "clashes with p2",
        ),
        (
            members.clone(),
            member("p3", 7001, None, vec![]),
            "clashes with p2",
        ),
    ];
    for (members, new, want) in cases {
        let err = validate_addition(&members, &new).unwrap_err().to_string();
        assert!(err.contains(want), "want {want:?} in {err:?}");
    }
}

#[test]
fn timeout_error_lists_pending() {
    let e = ClusterError::Timeout {
        what: "converge".into(),
        timeout: Duration::from_secs(10),
        pending: vec![
            "s2n1: cluster_state:fail".into(),
            "s3n2: master_link_status:down".into(),
        ],
    };
    assert_eq!(
        e.to_string(),
        "converge within 10s; still pending: s2n1: cluster_state:fail; s3n2: master_link_status:down"
    );
}
