//! Tests of topology loading: the shipped examples, both forms, links and the
//! positioned errors.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::TopologyError;
use super::limits::DEFAULT_NODE_TIMEOUT_MS;
use super::parse::{load, parse};
use super::validate::runtime_owned_message;
use crate::slots::{SlotRange, even_split};
use crate::topology::model::*;

fn t(src: &str) -> Topology {
    match parse(src, None) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

fn names(t: &Topology) -> Vec<&str> {
    t.nodes.iter().map(|n| n.name.as_str()).collect()
}

fn regions(t: &Topology) -> Vec<&str> {
    t.nodes.iter().map(|n| n.region.as_str()).collect()
}

#[test]
fn shipped_examples_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let t = load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(t.source.as_deref(), Some(path.as_path()));
            assert_eq!(
                Some(t.name.as_str()),
                path.file_stem().and_then(|s| s.to_str())
            );
            n += 1;
        }
    }
    assert!(
        n >= 4,
        "expected the example topologies in {}",
        dir.display()
    );
}

#[test]
fn docs_examples_load() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/topology.md"))
            .unwrap();
    // Topology examples: the page may show scenario files too.
    let blocks: Vec<&str> = doc
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .filter(|b| b.lines().any(|l| l.starts_with("kind:")))
        .collect();
    assert!(blocks.len() >= 2);
    for b in blocks {
        parse(b, Some(Path::new("docs/topology.md"))).unwrap_or_else(|e| panic!("{e}\n{b}"));
    }
}

#[test]
fn docs_list_every_runtime_owned_directive() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/topology.md"))
            .unwrap();
    for (name, _) in RUNTIME_OWNED {
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/topology.md does not list `{name}`"
        );
    }
}

#[test]
fn cluster_short_form_names_order_shards_slots() {
    let t = t("name: c\nkind: cluster\ncluster:\n  shards: 3\n  replicas: 2\n");
    assert_eq!(
        names(&t),
        [
            "s1n1", "s1n2", "s1n3", "s2n1", "s2n2", "s2n3", "s3n1", "s3n2", "s3n3"
        ]
    );
    let shards: Vec<usize> = t.nodes.iter().map(|n| n.shard).collect();
    assert_eq!(shards, [0, 0, 0, 1, 1, 1, 2, 2, 2]);
    assert_eq!(t.node("s2n3").unwrap().replica_of.as_deref(), Some("s2n1"));
    assert_eq!(t.node("s2n1").unwrap().role, Role::Primary);
    assert_eq!(t.node("s2n1").unwrap().replica_of, None);
    let slots: Vec<Vec<SlotRange>> = t.primaries().map(|p| p.slots.clone()).collect();
    assert_eq!(
        slots,
        even_split(3)
            .into_iter()
            .map(|r| vec![r])
            .collect::<Vec<_>>()
    );
    assert!(
        t.nodes
            .iter()
            .filter(|n| n.role == Role::Replica)
            .all(|n| n.slots.is_empty())
    );
    assert_eq!(t.cluster.node_timeout_ms, DEFAULT_NODE_TIMEOUT_MS);
    assert_eq!(t.image, None);
    assert_eq!(
        t.regions,
        [Region {
            name: "default".into()
        }]
    );
    assert!(
        t.nodes
            .iter()
            .all(|n| n.region == "default" && n.port.is_none() && n.config.is_empty())
    );
}

#[test]
fn cluster_replicas_default_to_zero() {
    let t = t("name: c\nkind: cluster\ncluster: {shards: 2, node_timeout_ms: 900}\n");
    assert_eq!(names(&t), ["s1n1", "s2n1"]);
    assert_eq!(t.cluster.node_timeout_ms, 900);
}

#[test]
fn cluster_regions_keep_replicas_away_from_primaries() {
    let t = t(
        "name: c\nkind: cluster\nregions: [{name: a}, {name: b}]\ncluster: {shards: 3, replicas: 1}\n",
    );
    assert_eq!(regions(&t), ["a", "b", "b", "a", "a", "b"]);
    let t = t_three_regions();
    // shard i primary in (i-1) mod 3, replica j in (i-1+j) mod 3
    assert_eq!(regions(&t), ["a", "b", "c", "b", "c", "a"]);
}

fn t_three_regions() -> Topology {
    t(
        "name: c\nkind: cluster\nregions: [{name: a}, {name: b}, {name: c}]\ncluster: {shards: 2, replicas: 2}\n",
    )
}

#[test]
fn standalone_and_replicated_short_forms() {
    let s = t(
        "name: s\nkind: standalone\nregions: [{name: a}, {name: b}]\nstandalone: {primaries: 3}\n",
    );
    assert_eq!(names(&s), ["n1", "n2", "n3"]);
    assert_eq!(regions(&s), ["a", "b", "a"]);
    assert_eq!(
        s.nodes.iter().map(|n| n.shard).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(
        s.nodes
            .iter()
            .all(|n| n.role == Role::Primary && n.slots.is_empty())
    );

    let r = t(
        "name: r\nkind: replicated\nregions: [{name: a}, {name: b}, {name: c}]\nreplicated: {replicas: 3}\n",
    );
    assert_eq!(names(&r), ["n1", "n2", "n3", "n4"]);
    assert_eq!(regions(&r), ["a", "b", "c", "a"]);
    assert!(r.nodes.iter().all(|n| n.shard == 0 && n.slots.is_empty()));
    assert_eq!(r.primaries().count(), 1);
    assert!(
        r.nodes[1..]
            .iter()
            .all(|n| n.replica_of.as_deref() == Some("n1"))
    );

    let lone = t("name: r\nkind: replicated\nreplicated: {replicas: 0}\n");
    assert_eq!(names(&lone), ["n1"]);
}

#[test]
fn short_form_slots_and_overrides() {
    let t = t(r#"
name: c
kind: cluster
regions: [{name: a}, {name: b}]
image: redis:7.2
redis: {maxmemory: 64mb, MaxMemory-Policy: allkeys-lru, hz: 20, lazyfree-lazy-eviction: true, save: ""}
cluster:
  shards: 2
  slots:
    - ["0-99", "200-8191"]
    - [100-199, 8192-16383]
overrides:
  s2n1:
    region: a
    port: 7002
    image: redis:7.0
    redis: {maxmemory: 32mb, appendonly: yes, ratio: 1.5}
"#);
    assert_eq!(t.image.as_deref(), Some("redis:7.2"));
    let s1 = t.node("s1n1").unwrap();
    assert_eq!(s1.slots, [SlotRange::new(0, 99), SlotRange::new(200, 8191)]);
    assert_eq!(s1.region, "a");
    assert_eq!(s1.image, None);
    assert_eq!(
        s1.config,
        BTreeMap::from([
            ("hz".to_string(), "20".to_string()),
            ("lazyfree-lazy-eviction".into(), "yes".into()),
            ("maxmemory".into(), "64mb".into()),
            ("maxmemory-policy".into(), "allkeys-lru".into()),
            ("save".into(), "\"\"".into()),
        ])
    );
    let s2 = t.node("s2n1").unwrap();
    assert_eq!(
        s2.slots,
        [SlotRange::new(100, 199), SlotRange::new(8192, 16383)]
    );
    assert_eq!(
        (s2.region.as_str(), s2.port, s2.image.as_deref()),
        ("a", Some(7002), Some("redis:7.0"))
    );
    assert_eq!(s2.config["maxmemory"], "32mb");
    assert_eq!(s2.config["maxmemory-policy"], "allkeys-lru");
    assert_eq!(s2.config["appendonly"], "yes");
    assert_eq!(s2.config["ratio"], "1.5");
}

#[test]
fn explicit_form_orders_by_shard_and_defaults() {
    let t = t(r#"
name: e
kind: cluster
regions: [{name: eu}, {name: us}]
cluster: {node_timeout_ms: 2000}
nodes:
  - {name: b-rep, replica_of: b}
  - {name: a, region: us, slots: ["0-8191"], port: 7100}
  - {name: a-rep, replica_of: a}
  - {name: b, slots: ["8192-16383"], redis: {maxmemory: 10mb}}
  - {name: a-rep2, replica_of: a, region: us}
"#);
    assert_eq!(names(&t), ["a", "a-rep", "a-rep2", "b", "b-rep"]);
    assert_eq!(
        t.nodes.iter().map(|n| n.shard).collect::<Vec<_>>(),
        [0, 0, 0, 1, 1]
    );
    assert_eq!(regions(&t), ["us", "eu", "us", "eu", "eu"]);
    assert_eq!(t.node("a").unwrap().port, Some(7100));
    assert_eq!(t.node("b").unwrap().config["maxmemory"], "10mb");
    assert_eq!(t.node("b").unwrap().slots, [SlotRange::new(8192, 16383)]);
    assert_eq!(t.cluster.node_timeout_ms, 2000);
}

#[test]
fn explicit_cluster_without_slots_is_split_evenly() {
    let t = t(
        "name: e\nkind: cluster\nnodes:\n  - name: x\n  - name: y\n  - {name: z, replica_of: x}\n",
    );
    assert_eq!(names(&t), ["x", "z", "y"]);
    assert_eq!(t.node("x").unwrap().slots, [SlotRange::new(0, 8191)]);
    assert_eq!(t.node("y").unwrap().slots, [SlotRange::new(8192, 16383)]);
    assert!(t.node("z").unwrap().slots.is_empty());
}

#[test]
fn explicit_standalone_and_replicated() {
    let s = t("name: s\nkind: standalone\nnodes: [{name: x}, {name: y}]\n");
    assert_eq!(s.nodes.iter().map(|n| n.shard).collect::<Vec<_>>(), [0, 1]);
    let r = t("name: r\nkind: replicated\nnodes: [{name: r1, replica_of: p}, {name: p}]\n");
    assert_eq!(names(&r), ["p", "r1"]);
    assert!(r.nodes.iter().all(|n| n.shard == 0));
}

#[test]
fn errors_carry_file_line_column_and_field() {
    let e = parse(
        "name: a\nkind: cluster\nnodes:\n  - name: x\n  - {name: y, replica_of: s9n1}\n",
        Some(Path::new("topologies/x.yaml")),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "topologies/x.yaml:5:27: nodes[1].replica_of: no node named \"s9n1\""
    );
    let at = e.position().unwrap();
    assert_eq!(
        (at.line, at.column, at.field.as_str()),
        (5, 27, "nodes[1].replica_of")
    );
    let e = parse("name: a\nkind: b\n", None).unwrap_err();
    assert!(e.to_string().starts_with("<input>:2:7: kind: "), "{e}");
}

const TWO: &str =
    "name: w\nkind: cluster\nregions: [{name: eu}, {name: us}, {name: ap}]\ncluster: {shards: 3}\n";

#[test]
fn links_resolve_with_defaults() {
    let t = t(&format!(
        "{TWO}links:\n  - between: [eu, us]\n    delay_ms: 40\n    jitter_ms: 4\n    loss_pct: 0.5\n    rate_mbit: 100\n  - between: [ap, eu]\n    delay_ms: 75\n"
    ));
    assert_eq!(
        t.links,
        [
            Link {
                between: ["eu".into(), "us".into()],
                delay_ms: 40.0,
                jitter_ms: 4.0,
                loss_pct: 0.5,
                rate_mbit: Some(100.0),
            },
            Link {
                between: ["ap".into(), "eu".into()],
                delay_ms: 75.0,
                jitter_ms: 0.0,
                loss_pct: 0.0,
                rate_mbit: None,
            },
        ]
    );
    assert_eq!(t.link("us", "eu").map(|l| l.delay_ms), Some(40.0));
    assert_eq!(t.link("eu", "ap").map(|l| l.delay_ms), Some(75.0));
    assert!(t.link("us", "ap").is_none());
    assert_eq!(
        t.links[0].describe(),
        "delay 40 ms ± 4 ms, loss 0.5 %, 100 Mbit/s"
    );
    assert!(self::t(TWO).links.is_empty());
}

#[test]
fn link_errors_point_at_the_field() {
    let cases = [
        (
            "links:\n  - between: [eu, mars]\n    delay_ms: 1\n",
            "<input>:6:19: links[0].between[1]: no region named \"mars\"; the regions are eu, us, ap",
        ),
        (
            "links:\n  - between: [eu]\n    delay_ms: 1\n",
            "<input>:6:14: links[0].between: a link is between exactly two regions, not 1",
        ),
        (
            "links:\n  - between: [eu, eu]\n    delay_ms: 1\n",
            "<input>:6:19: links[0].between[1]: a link joins two different regions; traffic inside \"eu\" is never impaired",
        ),
        (
            "links:\n  - {between: [eu, us], delay_ms: 1}\n  - {between: [us, eu], delay_ms: 2}\n",
            "<input>:7:15: links[1].between: the link between \"us\" and \"eu\" is already given at line 6",
        ),
        (
            "links:\n  - {between: [eu, us], delay_ms: -1}\n",
            "<input>:6:35: links[0].delay_ms: -1 is out of range (from 0 to 60000 ms)",
        ),
        (
            "links:\n  - {between: [eu, us], delay_ms: 10, jitter_ms: 11}\n",
            "<input>:6:50: links[0].jitter_ms: 11 ms of jitter is more than the 10 ms delay; a delay cannot go below 0",
        ),
        (
            "links:\n  - {between: [eu, us], delay_ms: 1, loss_pct: 100}\n",
            "<input>:6:48: links[0].loss_pct: 100 is out of range (from 0 to 99 %)",
        ),
        (
            "links:\n  - {between: [eu, us], delay_ms: 1, rate_mbit: 0}\n",
            "<input>:6:49: links[0].rate_mbit: 0 is out of range (more than 0 to 100000 Mbit/s)",
        ),
    ];
    for (links, want) in cases {
        let e = parse(&format!("{TWO}{links}"), None).unwrap_err();
        assert_eq!(e.to_string(), want, "{links}");
    }
    // Without `regions`, the one region is "default".
    let e = parse(
        "name: w\nkind: cluster\nlinks: [{between: [default, x], delay_ms: 1}]\n",
        None,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("this topology has one region"),
        "{e}"
    );
    // A missing delay is a missing field.
    let e = parse(&format!("{TWO}links:\n  - between: [eu, us]\n"), None).unwrap_err();
    assert!(e.to_string().contains("missing field `delay_ms`"), "{e}");
}

#[test]
fn io_error_names_the_file() {
    let e = load(Path::new("topologies/does-not-exist.yaml")).unwrap_err();
    assert!(matches!(e, TopologyError::Io { .. }));
    assert!(
        e.to_string()
            .starts_with("topologies/does-not-exist.yaml: cannot read the file: "),
        "{e}"
    );
}

#[test]
fn runtime_owned_messages_read_well() {
    assert_eq!(
        runtime_owned_message("port", "the node's `port` field"),
        "`port` is set by redis-drill; use the node's `port` field"
    );
    assert_eq!(
        runtime_owned_message("bind", "the runtime (it assigns each node its address)"),
        "`bind` is set by redis-drill: it assigns each node its address"
    );
    assert_eq!(
        runtime_owned_message("pidfile", "the runtime"),
        "`pidfile` is set by redis-drill"
    );
}

#[test]
fn sentinels_default_beside_the_nodes_then_in_the_regions() {
    let t = t(
        "name: a\nkind: replicated\nregions: [{name: eu}, {name: us}]\nreplicated: {replicas: 1}\nsentinel: {count: 3}\n",
    );
    let s = t.sentinel.as_ref().expect("sentinels");
    assert_eq!(s.master_name, "a");
    // A majority of 3; the stock timings are cut to drill scale.
    assert_eq!(
        (
            s.quorum,
            s.down_after_ms,
            s.failover_timeout_ms,
            s.parallel_syncs
        ),
        (2, 5000, 15_000, 1)
    );
    let placed: Vec<(&str, &str, Option<&str>)> = (s.members.iter())
        .map(|m| (m.name.as_str(), m.region.as_str(), m.host.as_deref()))
        .collect();
    assert_eq!(
        placed,
        [
            ("sentinel1", "eu", Some("n1")),
            ("sentinel2", "us", Some("n2")),
            ("sentinel3", "eu", None),
        ]
    );
}

#[test]
fn sentinels_are_placed_as_the_file_says() {
    let t = t(
        "name: a\nkind: replicated\nregions: [{name: eu}, {name: us}, {name: ap}]\nserver: valkey-9.1\nreplicated: {replicas: 2}\nsentinel:\n  count: 2\n  quorum: 1\n  down_after_ms: 2000\n  failover_timeout_ms: 6000\n  parallel_syncs: 2\n  placement:\n    - region: ap\n    - host: n3\n",
    );
    let s = t.sentinel.as_ref().expect("sentinels");
    assert_eq!(
        (
            s.quorum,
            s.down_after_ms,
            s.failover_timeout_ms,
            s.parallel_syncs
        ),
        (1, 2000, 6000, 2)
    );
    let m = &s.members;
    assert_eq!((m[0].region.as_str(), m[0].host.as_deref()), ("ap", None));
    assert_eq!(m[0].field, "sentinel.placement[0]");
    assert_eq!(m[0].server, Server::Valkey91);
    assert_eq!(m[1].host.as_deref(), Some("n3"));
    assert_eq!(m[1].region, t.node("n3").unwrap().region);
    // Without `sentinel:` there is none; the model round-trips through the
    // deployment's JSON either way.
    let plain = self::t("name: b\nkind: replicated\nreplicated: {replicas: 1}\n");
    assert!(plain.sentinel.is_none());
    let json = serde_json::to_string(&t).unwrap();
    let back: Topology = serde_json::from_str(&json).unwrap();
    assert_eq!(back.sentinel, t.sentinel);
}
