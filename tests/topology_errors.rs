//! Every topology validation error, as the user sees it. Each test snapshots the
//! error's Display (file:line:col: field: message); the snapshot's description
//! holds the input, so a reviewer sees both.

use std::path::Path;

use redis_drill::topology::Topology;

/// The error message for `src`, loaded as if from `topologies/x.yaml`.
fn err(src: &str) -> String {
    match Topology::parse(src, Some(Path::new("topologies/x.yaml"))) {
        Ok(t) => panic!("expected an error, got {t:#?}"),
        Err(e) => e.to_string(),
    }
}

macro_rules! case {
    ($name:ident, $src:expr) => {
        #[test]
        fn $name() {
            let src: &str = $src;
            insta::with_settings!({ description => src, omit_expression => true }, {
                insta::assert_snapshot!(err(src));
            });
        }
    };
}

// --- shape: YAML syntax, unknown and missing fields, types -------------------

case!(empty_file, "");
case!(comment_only_file, "# nothing here yet\n\n");
case!(document_marker_only, "---\n");
case!(yaml_syntax_error, "name: a\nkind: cluster: x\n");
case!(duplicate_yaml_key, "name: a\nkind: cluster\nname: b\n");
case!(
    duplicate_yaml_key_nested,
    "name: a\nkind: cluster\ncluster:\n  shards: 1\n  replicas: 1\n  shards: 2\n"
);
case!(
    missing_name_flow,
    "kind: cluster\nnodes: [{replica_of: x}]\n"
);
case!(top_level_list, "- name: a\n");
case!(unknown_field_top, "name: a\nkind: cluster\nshards: 3\n");
case!(
    unknown_field_in_cluster,
    "name: a\nkind: cluster\ncluster:\n  shard: 3\n"
);
case!(
    unknown_field_in_node,
    "name: a\nkind: cluster\nnodes:\n  - name: p\n  - name: r\n    replicaof: p\n"
);
case!(
    unknown_field_in_override,
    "name: a\nkind: cluster\ncluster: {shards: 1}\noverrides:\n  s1n1:\n    slots: [\"0-16383\"]\n"
);
case!(missing_name, "kind: cluster\ncluster: {shards: 1}\n");
case!(missing_kind, "name: a\ncluster: {shards: 1}\n");
case!(
    kind_external,
    "name: a\nkind: external\nexternal:\n  seeds: [127.0.0.1:7000]\n"
);
case!(
    missing_node_name,
    "name: a\nkind: cluster\nnodes:\n  - name: p\n  - replica_of: p\n"
);
case!(
    missing_region_name,
    "name: a\nkind: cluster\nregions:\n  - name: eu\n  - {}\ncluster: {shards: 1}\n"
);
case!(null_name, "name:\nkind: cluster\n");
case!(
    wrong_type_count,
    "name: a\nkind: cluster\ncluster:\n  shards: three\n"
);
case!(
    fractional_count,
    "name: a\nkind: cluster\ncluster:\n  shards: 1.5\n"
);
case!(
    wrong_type_list,
    "name: a\nkind: cluster\nregions: eu-west\ncluster: {shards: 1}\n"
);
case!(wrong_type_section, "name: a\nkind: cluster\ncluster: 3\n");
case!(
    wrong_type_slot_entry,
    "name: a\nkind: cluster\ncluster:\n  shards: 1\n  slots:\n    - \"0-16383\"\n"
);

// --- names, kind, image, regions -------------------------------------------

case!(
    bad_name_charset,
    "name: My_Cluster\nkind: cluster\ncluster: {shards: 1}\n"
);
case!(
    name_too_long,
    "name: a-very-long-topology-name-that-goes-on-and-on\nkind: cluster\ncluster: {shards: 1}\n"
);
case!(
    bad_node_name,
    "name: a\nkind: standalone\nnodes:\n  - name: n.1\n"
);
case!(unknown_kind, "name: a\nkind: sentinel\n");
case!(
    empty_image,
    "name: a\nkind: cluster\nimage: \"\"\ncluster: {shards: 1}\n"
);
case!(
    empty_regions,
    "name: a\nkind: cluster\nregions: []\ncluster: {shards: 1}\n"
);
case!(
    duplicate_region_name,
    "name: a\nkind: cluster\nregions:\n  - name: eu\n  - name: us\n  - name: eu\ncluster: {shards: 1}\n"
);

// --- counts and sections ------------------------------------------------------

case!(
    zero_shards,
    "name: a\nkind: cluster\ncluster:\n  shards: 0\n"
);
case!(
    negative_replicas,
    "name: a\nkind: cluster\ncluster:\n  shards: 3\n  replicas: -1\n"
);
case!(
    zero_primaries,
    "name: a\nkind: standalone\nstandalone:\n  primaries: 0\n"
);
case!(
    negative_replicated_replicas,
    "name: a\nkind: replicated\nreplicated:\n  replicas: -2\n"
);
case!(
    node_timeout_zero,
    "name: a\nkind: cluster\ncluster:\n  shards: 3\n  node_timeout_ms: 0\n"
);
case!(
    too_many_nodes,
    "name: a\nkind: cluster\ncluster:\n  shards: 100\n  replicas: 2\n"
);
case!(
    section_not_matching_kind,
    "name: a\nkind: cluster\ncluster: {shards: 1}\nstandalone:\n  primaries: 5\n"
);
case!(
    cluster_section_in_replicated,
    "name: a\nkind: replicated\nreplicated: {replicas: 1}\ncluster:\n  node_timeout_ms: 100\n"
);
case!(
    counts_and_nodes,
    "name: a\nkind: cluster\ncluster:\n  shards: 2\nnodes:\n  - name: p\n"
);
case!(
    slots_section_and_nodes,
    "name: a\nkind: cluster\ncluster:\n  slots: [[\"0-16383\"]]\nnodes:\n  - name: p\n"
);
case!(
    overrides_and_nodes,
    "name: a\nkind: standalone\nnodes:\n  - name: p\noverrides:\n  p: {port: 7001}\n"
);
case!(neither_cluster, "name: a\nkind: cluster\n");
case!(
    neither_cluster_replicas_only,
    "name: a\nkind: cluster\ncluster:\n  replicas: 1\n"
);
case!(
    neither_standalone,
    "name: a\nkind: standalone\nstandalone: {}\n"
);
case!(neither_replicated, "name: a\nkind: replicated\n");
case!(empty_nodes, "name: a\nkind: standalone\nnodes: []\n");

// --- nodes and replication -------------------------------------------------

case!(
    duplicate_node_name,
    "name: a\nkind: standalone\nnodes:\n  - name: n1\n  - name: n2\n  - name: n1\n"
);
case!(
    replica_of_missing,
    "name: a\nkind: cluster\nnodes:\n  - name: s1n1\n  - name: s1n2\n    replica_of: s9n1\n"
);
case!(
    replica_of_self,
    "name: a\nkind: cluster\nnodes:\n  - name: p\n  - name: r\n    replica_of: r\n"
);
case!(
    replica_of_replica,
    "name: a\nkind: cluster\nnodes:\n  - name: p\n  - name: r1\n    replica_of: p\n  - name: r2\n    replica_of: r1\n"
);
case!(
    standalone_replica_of,
    "name: a\nkind: standalone\nnodes:\n  - name: n1\n  - name: n2\n    replica_of: n1\n"
);
case!(
    replicated_no_primary,
    "name: a\nkind: replicated\nnodes:\n  - name: r1\n    replica_of: r2\n  - name: r2\n    replica_of: r1\n"
);
case!(
    replicated_two_primaries,
    "name: a\nkind: replicated\nnodes:\n  - name: p1\n  - name: r1\n    replica_of: p1\n  - name: p2\n"
);
case!(
    cluster_no_primaries,
    "name: a\nkind: cluster\nnodes:\n  - name: a\n    replica_of: b\n  - name: b\n    replica_of: a\n"
);

// --- regions and ports ------------------------------------------------------

case!(
    unknown_region_in_override,
    "name: a\nkind: cluster\nregions: [{name: eu-west}, {name: us-east}]\ncluster: {shards: 2}\noverrides:\n  s2n1:\n    region: ap-south\n"
);
case!(
    unknown_region_in_node,
    "name: a\nkind: standalone\nregions: [{name: eu}]\nnodes:\n  - name: n1\n    region: us\n"
);
case!(
    unknown_region_without_regions,
    "name: a\nkind: standalone\nnodes:\n  - name: n1\n    region: eu\n"
);
case!(
    port_zero,
    "name: a\nkind: standalone\nnodes:\n  - name: n1\n    port: 0\n"
);
case!(
    port_out_of_range,
    "name: a\nkind: standalone\nstandalone: {primaries: 2}\noverrides:\n  n2: {port: 70000}\n"
);
case!(
    port_clash,
    "name: a\nkind: standalone\nnodes:\n  - name: n1\n    port: 7001\n  - name: n2\n  - name: n3\n    port: 7001\n"
);
case!(
    port_clash_in_overrides,
    "name: a\nkind: cluster\ncluster: {shards: 2, replicas: 1}\noverrides:\n  s2n1: {port: 7002}\n  s1n2: {port: 7002}\n"
);
case!(
    overrides_unknown_node,
    "name: a\nkind: cluster\ncluster: {shards: 2, replicas: 1}\noverrides:\n  s3n1:\n    port: 7003\n"
);

// --- redis directives ---------------------------------------------------------

case!(
    runtime_owned_port,
    "name: a\nkind: cluster\ncluster: {shards: 1}\nredis:\n  port: 7000\n"
);
case!(
    runtime_owned_node_timeout,
    "name: a\nkind: cluster\ncluster: {shards: 1}\nredis:\n  maxmemory: 64mb\n  Cluster-Node-Timeout: 2000\n"
);
case!(
    runtime_owned_bind_in_override,
    "name: a\nkind: standalone\nstandalone: {primaries: 1}\noverrides:\n  n1:\n    redis: {bind: 0.0.0.0}\n"
);
case!(
    runtime_owned_replicaof,
    "name: a\nkind: replicated\nnodes:\n  - name: p\n  - name: r\n    replica_of: p\n    redis:\n      replicaof: p 6379\n"
);
case!(
    redis_value_map,
    "name: a\nkind: standalone\nstandalone: {primaries: 1}\nredis:\n  save:\n    900: 1\n"
);
case!(
    redis_value_list,
    "name: a\nkind: standalone\nstandalone: {primaries: 1}\nredis:\n  save: [900, 1]\n"
);
case!(
    redis_value_null,
    "name: a\nkind: standalone\nstandalone: {primaries: 1}\nredis:\n  save:\n"
);
case!(
    redis_value_multiline,
    "name: a\nkind: standalone\nstandalone: {primaries: 1}\nredis:\n  notify-keyspace-events: \"Ex\\nport 1\"\n"
);
case!(
    redis_key_twice,
    "name: a\nkind: standalone\nstandalone: {primaries: 1}\nredis:\n  maxmemory: 1mb\n  MAXMEMORY: 2mb\n"
);
case!(
    redis_bad_key,
    "name: a\nkind: standalone\nstandalone: {primaries: 1}\nredis:\n  \"max memory\": 1mb\n"
);

// --- slots ------------------------------------------------------------------------

case!(
    slots_on_replica,
    "name: a\nkind: cluster\nnodes:\n  - name: p\n    slots: [\"0-16383\"]\n  - name: r\n    replica_of: p\n    slots: [\"0-10\"]\n"
);
case!(
    slots_on_standalone_node,
    "name: a\nkind: standalone\nnodes:\n  - name: n1\n    slots: [\"0-16383\"]\n"
);
case!(
    slots_length_mismatch,
    "name: a\nkind: cluster\ncluster:\n  shards: 3\n  slots:\n    - [\"0-8191\"]\n    - [\"8192-16383\"]\n"
);
case!(
    malformed_slot_range,
    "name: a\nkind: cluster\ncluster:\n  shards: 2\n  slots:\n    - [\"0-8191\"]\n    - [\"8192..16383\"]\n"
);
case!(
    slot_out_of_range,
    "name: a\nkind: cluster\nnodes:\n  - name: p\n    slots: [\"0-16384\"]\n"
);
case!(
    reversed_slot_range,
    "name: a\nkind: cluster\nnodes:\n  - name: p\n    slots: [\"16383-0\"]\n"
);
case!(
    slot_owned_twice,
    "name: a\nkind: cluster\ncluster:\n  shards: 2\n  slots:\n    - [\"0-8191\"]\n    - [\"100\", \"8192-16383\"]\n"
);
case!(
    slot_owned_twice_explicit,
    "name: a\nkind: cluster\nnodes:\n  - name: s1n1\n    slots: [\"0-8191\"]\n  - name: s2n1\n    slots: [\"8191-16383\"]\n"
);
case!(
    slots_not_covering,
    "name: a\nkind: cluster\ncluster:\n  shards: 3\n  slots:\n    - [\"0-5460\"]\n    - [\"10923-16383\"]\n    - [\"5461-5999\"]\n"
);
case!(
    slots_not_covering_explicit,
    "name: a\nkind: cluster\nnodes:\n  - name: p\n    slots: [\"1-16383\"]\n"
);
case!(
    some_primaries_with_slots,
    "name: a\nkind: cluster\nnodes:\n  - name: p1\n  - name: p2\n    slots: [\"0-16383\"]\n"
);

// --- sentinel: ------------------------------------------------------------

const REPLICATED: &str =
    "name: a\nkind: replicated\nregions: [{name: eu}, {name: us}]\nreplicated: {replicas: 2}\n";

case!(
    sentinel_in_a_cluster,
    "name: a\nkind: cluster\ncluster: {shards: 3}\nsentinel: {count: 3}\n"
);
case!(
    sentinel_quorum_above_count,
    &format!("{REPLICATED}sentinel:\n  count: 3\n  quorum: 4\n")
);
case!(
    sentinel_quorum_zero,
    &format!("{REPLICATED}sentinel:\n  quorum: 0\n")
);
case!(
    sentinel_count_too_many,
    &format!("{REPLICATED}sentinel:\n  count: 12\n")
);
case!(
    sentinel_down_after_zero,
    &format!("{REPLICATED}sentinel:\n  down_after_ms: 0\n")
);
case!(
    sentinel_unknown_field,
    &format!("{REPLICATED}sentinel:\n  down_after: 5000\n")
);
case!(
    sentinel_unknown_region,
    &format!(
        "{REPLICATED}sentinel:\n  count: 2\n  placement:\n    - host: n1\n    - region: ap-south\n"
    )
);
case!(
    sentinel_unknown_host,
    &format!("{REPLICATED}sentinel:\n  count: 2\n  placement:\n    - host: n1\n    - host: n9\n")
);
case!(
    sentinel_placement_count_mismatch,
    &format!("{REPLICATED}sentinel:\n  count: 3\n  placement:\n    - host: n1\n    - region: us\n")
);
case!(
    sentinel_placement_host_and_region,
    &format!("{REPLICATED}sentinel:\n  count: 1\n  placement:\n    - {{host: n1, region: eu}}\n")
);
case!(
    sentinel_with_security,
    &format!("{REPLICATED}security: {{auth: password}}\nsentinel: {{count: 3}}\n")
);
case!(
    sentinel_name_taken_by_a_node,
    "name: a\nkind: replicated\nnodes:\n  - name: n1\n  - name: sentinel1\n    replica_of: n1\nsentinel: {count: 1}\n"
);

#[test]
fn text_without_a_file_is_called_input() {
    let e = Topology::parse("name: a\nkind: nope\n", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "<input>:2:7: kind: unknown kind \"nope\"; expected cluster, standalone or replicated"
    );
}
