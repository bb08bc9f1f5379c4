//! Loading scenarios: every refusal pinned with its file:line:col message.

use super::*;

/// The scenario `yaml`, beside a 3x1 cluster topology `c.yaml`; an
/// error as its message, with the folder written `DIR`.
pub(crate) fn load(yaml: &str) -> Result<Scenario, String> {
    load_beside(
        "name: c\nkind: cluster\ncluster:\n  shards: 3\n  replicas: 1\n",
        yaml,
    )
}

/// The scenario `yaml` beside the topology `topology` as `c.yaml`. A
/// `yaml` without SLOs gets one every drill measures (`max_keys_missing`),
/// after its last line, so that positions in errors stay as written.
pub(crate) fn load_beside(topology: &str, yaml: &str) -> Result<Scenario, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.yaml"), topology).unwrap();
    let p = dir.path().join("s.yaml");
    let yaml = if yaml.contains("slo:") {
        yaml.to_string()
    } else {
        format!("{yaml}slo:\n  max_keys_missing: 1000000\n")
    };
    std::fs::write(&p, yaml).unwrap();
    Scenario::load(&p).map_err(|e| {
        e.to_string()
            .replace(&dir.path().display().to_string(), "DIR")
    })
}

#[test]
fn the_shipped_scenarios_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "yaml") {
            Scenario::load(&e.path()).unwrap_or_else(|err| panic!("{err}"));
            n += 1;
        }
    }
    assert!(n >= 1);
}

const STANDALONE: &str = "name: s\nkind: standalone\nstandalone: {primaries: 3}\n";
const REPLICATED: &str = "name: r\nkind: replicated\nreplicated: {replicas: 2}\n";

#[test]
fn drills_load_on_every_kind_with_what_that_kind_has() {
    let kill = "name: k\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: primary_of:0, hold_ms: 100}\nslo:\n  max_lost_keys: 0\n";
    assert_eq!(
        load_beside(STANDALONE, kill).unwrap().topology.kind,
        Kind::Standalone
    );
    let failover = "name: f\ntopology: c.yaml\nfaults:\n  - {fault: failover, target: n2, mode: force}\nslo:\n  max_convergence_ms: 5000\n";
    assert_eq!(load_beside(REPLICATED, failover).unwrap().faults.len(), 1);
    let cases = [
        (
            STANDALONE,
            "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\n",
            "DIR/s.yaml:3:1: reshard: a reshard moves a cluster's slots; DIR/c.yaml is a standalone topology",
        ),
        (
            STANDALONE,
            "name: f\ntopology: c.yaml\nfaults:\n  - {fault: failover, target: n2}\n",
            "DIR/s.yaml:4:6: faults.0.fault: standalone primaries have no replica to fail over to",
        ),
        (
            STANDALONE,
            "name: k\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: n1}\nslo:\n  max_convergence_ms: 1\n",
            "DIR/s.yaml:6:3: slo.max_convergence_ms: standalone topologies have no such figure",
        ),
        (
            REPLICATED,
            "name: k\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: n1}\nslo:\n  max_stray_keys: 0\n",
            "DIR/s.yaml:6:3: slo.max_stray_keys: replicated topologies have no such figure (max_stray_keys reads keys left in slots",
        ),
    ];
    for (topology, yaml, expected) in cases {
        let err = load_beside(topology, yaml).unwrap_err();
        assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
    }
}

#[test]
fn stampede_and_replica_reads_load_and_their_errors_name_the_place() {
    const CLUSTER: &str = "name: c\nkind: cluster\ncluster:\n  shards: 3\n  replicas: 1\n";
    let base = "name: s\ntopology: c.yaml\nfaults:\n  - {fault: flush, target: primaries}\n";
    let s = load_beside(
        CLUSTER,
        &format!("{base}stampede:\n  readers: 10\n  one_slot: false\n  keys: 500\nslo:\n  max_warm_ms: 100\n"),
    )
    .unwrap();
    assert!(
        !s.kv,
        "a stampede drill may run without the key/value workload"
    );
    assert_eq!(s.stampede.unwrap().keys, 500);
    let cases = [
        (
            CLUSTER,
            format!("{base}stampede:\n  keys: 500\n"),
            "DIR/s.yaml:6:3: stampede.keys: must be between 1 and 100, not 500",
        ),
        (
            CLUSTER,
            format!("{base}stampede:\n  policy: serve_stale\n"),
            "DIR/s.yaml:5:1: stampede.stale_ms: serve_stale needs",
        ),
        (
            CLUSTER,
            format!("{base}stampede:\n  readerz: 5\n"),
            "DIR/s.yaml:6:3: stampede.readerz: unknown field `readerz`",
        ),
        (
            REPLICATED,
            "name: k\ntopology: c.yaml\nworkload:\n  replica_reads: true\nfaults:\n  - {fault: kill, target: n1}\n".to_string(),
            "DIR/s.yaml:4:3: workload.replica_reads: replica reads are for clusters",
        ),
        (
            CLUSTER,
            format!("{base}stampede: {{}}\n").replace("flush, target: primaries", "flush, target: primaries, hold_ms: 5"),
            "DIR/s.yaml:4:39: faults.0.hold_ms: flush is not undone, so it has no hold",
        ),
    ];
    for (topology, yaml, expected) in cases {
        let err = load_beside(topology, &yaml).unwrap_err();
        assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
    }
}

#[test]
fn stampede_readers_in_regions_load_and_their_errors_name_the_place() {
    const TWO: &str = "name: c\nkind: cluster\nregions: [{name: eu}, {name: us}]\ncluster:\n  shards: 3\n  replicas: 1\n";
    let base = "name: s\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: s1n1}\n";
    let s = load_beside(
        TWO,
        &format!("{base}stampede:\n  readers: 4\n  regions: [us, eu]\n"),
    )
    .unwrap();
    let st = s.stampede.unwrap();
    assert_eq!(st.regions, ["us", "eu"]);
    assert_eq!((st.region_of(0), st.region_of(3)), (Some("us"), Some("eu")));
    let gated = format!(
        "{base}stampede:\n  regions: [eu, us]\nslo_by_region:\n  us: {{max_stampede_serve_p99_ms: 200, max_failed_reads: 0}}\n"
    );
    let s = load_beside(TWO, &gated).unwrap();
    assert_eq!(s.slo_by_region["us"]["max_stampede_serve_p99_ms"], 200.0);
    for (yaml, expected) in [
        (
            format!(
                "{base}stampede:\n  regions: [eu, us]\nslo_by_region:\n  us: {{max_app_downtime_ms: 1}}\n"
            ),
            "DIR/s.yaml:8:8: slo_by_region.us.max_app_downtime_ms: reads the key/value clients in `us`, and `workload.regions` puts none there",
        ),
        (
            format!(
                "{base}workload:\n  regions: [eu, us]\nslo_by_region:\n  eu: {{max_failed_reads: 1}}\n"
            ),
            "DIR/s.yaml:8:8: slo_by_region.eu.max_failed_reads: reads the stampede readers in `eu`, and `stampede.regions` puts none there",
        ),
        (
            format!("{base}stampede:\n  regions: [eu, mars]\n"),
            "DIR/s.yaml:6:17: stampede.regions.1: no region `mars` in the topology (regions: eu, us)",
        ),
        (
            format!("{base}stampede:\n  regions: [eu, eu]\n"),
            "DIR/s.yaml:6:17: stampede.regions.1: `eu` is listed twice",
        ),
        (
            format!("{base}stampede:\n  readers: 1\n  regions: [eu, us]\n"),
            "DIR/s.yaml:7:3: stampede.regions: 2 regions and 1 readers: every region needs a reader",
        ),
    ] {
        let err = load_beside(TWO, &yaml).unwrap_err();
        assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
    }
}

#[test]
fn expected_failures_name_slos_of_the_scenario() {
    const TWO: &str = "name: c\nkind: cluster\nregions: [{name: eu}, {name: us}]\ncluster:\n  shards: 3\n  replicas: 1\n";
    let base = "name: s\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: s1n1}\nworkload:\n  regions: [eu, us]\nslo:\n  max_staleness_ms: 100\nslo_by_region:\n  us: {max_app_write_downtime_ms: 9000}\n";
    let s = load_beside(
        TWO,
        &format!(
            "{base}expect:\n  fail: [max_staleness_ms, 'max_app_write_downtime_ms[us]']\n  why: replicas serve what they have\n"
        ),
    )
    .unwrap();
    let e = s.expect.expect("an expectation");
    assert_eq!(
        e.fail,
        ["max_staleness_ms", "max_app_write_downtime_ms[us]"]
    );
    assert_eq!(e.why.as_deref(), Some("replicas serve what they have"));
    for (yaml, expected) in [
        (
            format!("{base}expect:\n  fail: [max_p99_during_ms]\n"),
            "DIR/s.yaml:12:10: expect.fail.0: `max_p99_during_ms` is not an SLO of this scenario; it sets max_staleness_ms, max_app_write_downtime_ms[us]",
        ),
        (
            format!("{base}expect:\n  fail: [max_staleness_ms, max_staleness_ms]\n"),
            "DIR/s.yaml:12:28: expect.fail.1: `max_staleness_ms` is listed twice",
        ),
        (
            format!("{base}expect:\n  fail: [max_staleness_ms]\n  may_fail: [max_staleness_ms]\n"),
            "DIR/s.yaml:13:14: expect.may_fail.0: `max_staleness_ms` is listed twice",
        ),
        (
            format!("{base}expect:\n  fail: [max_staleness_ms]\n  may_fail: [max_p99_after_ms]\n"),
            "DIR/s.yaml:13:14: expect.may_fail.0: `max_p99_after_ms` is not an SLO of this scenario",
        ),
        (
            format!("{base}expect:\n  fail: []\n"),
            "DIR/s.yaml:12:3: expect.fail: name the SLOs this drill is written to break",
        ),
        (
            format!("{base}expect:\n  fails: [max_staleness_ms]\n"),
            "DIR/s.yaml:12:3: expect.fails: unknown field `fails`; expected one of `fail`, `may_fail`, `why`",
        ),
    ] {
        let err = load_beside(TWO, &yaml).unwrap_err();
        assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
    }
}

#[test]
fn client_regions_load_and_their_errors_name_the_place() {
    const TWO: &str = "name: c\nkind: cluster\nregions: [{name: eu}, {name: us}]\ncluster:\n  shards: 3\n  replicas: 1\n";
    let base = "name: s\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: s1n1}\n";
    let s = load_beside(TWO, &format!("{base}workload:\n  regions: [us, eu]\n")).unwrap();
    assert_eq!(s.workload.regions, ["us", "eu"]);
    let local = format!(
        "{base}workload:\n  regions: [eu, us]\n  replica_reads: local\n  wait: {{replicas: 1, timeout_ms: 100, every: 2}}\n"
    );
    let s = load_beside(TWO, &local).unwrap();
    assert_eq!(s.workload.replica_reads, ReplicaReads::Local);
    assert_eq!(s.workload.wait.map(|w| w.every), Some(2));
    let by_region = format!(
        "{base}workload:\n  regions: [eu, us]\nslo_by_region:\n  us: {{max_app_write_downtime_ms: 9000, max_staleness_ms: 100}}\n"
    );
    let s = load_beside(TWO, &by_region).unwrap();
    assert_eq!(s.slo_by_region["us"]["max_staleness_ms"], 100.0);
    let cases = [
        (
            format!(
                "{base}workload:\n  regions: [eu]\nslo_by_region:\n  us: {{max_app_downtime_ms: 1}}\n"
            ),
            "DIR/s.yaml:8:3: slo_by_region.us: no clients in `us`: an SLO by region reads the clients `workload.regions` puts there (eu)",
        ),
        (
            format!(
                "{base}workload:\n  regions: [eu, us]\nslo_by_region:\n  us: {{max_convergence_ms: 1}}\n"
            ),
            "DIR/s.yaml:8:8: slo_by_region.us.max_convergence_ms: not an SLO a region's clients have apart",
        ),
        (
            format!(
                "{base}workload:\n  regions: [eu, us]\nslo_by_region:\n  us: {{max_app_downtime_ms: -1}}\n"
            ),
            "DIR/s.yaml:8:8: slo_by_region.us.max_app_downtime_ms: an SLO limit is a number ≥ 0",
        ),
        (
            format!("{base}workload:\n  replica_reads: local\n"),
            "DIR/s.yaml:6:3: workload.replica_reads: `local` reads from a replica in the client's own region, and these clients are in none",
        ),
        (
            format!("{base}workload:\n  replica_reads: near\n"),
            "DIR/s.yaml:6:3: workload.replica_reads: invalid value: string \"near\", expected false, true",
        ),
        (
            format!("{base}workload:\n  wait: {{replicas: 1, timeout_ms: 100, every: 0}}\n"),
            "DIR/s.yaml:6:3: workload.wait: wait.every must be at least 1",
        ),
        (
            format!("{base}workload:\n  regions: [eu, mars]\n"),
            "DIR/s.yaml:6:17: workload.regions.1: no region `mars` in the topology (regions: eu, us)",
        ),
        (
            format!("{base}workload:\n  regions: [eu, eu]\n"),
            "DIR/s.yaml:6:17: workload.regions.1: `eu` is listed twice",
        ),
        (
            format!("{base}workload:\n  clients: 1\n  probe_clients: 0\n  regions: [eu, us]\n"),
            "DIR/s.yaml:8:3: workload.regions: 2 regions and 1 clients: every region needs a client",
        ),
        (
            format!("{base}workload:\n  threads: 0\n  regions: [eu]\n"),
            "DIR/s.yaml:6:3: workload.threads: clients in regions run on threads of their own",
        ),
    ];
    for (yaml, expected) in cases {
        let err = load_beside(TWO, &yaml).unwrap_err();
        assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
    }
}

#[test]
fn a_locks_section_loads_and_its_errors_name_the_place() {
    let base = "name: l\ntopology: c.yaml\nfaults:\n  - {fault: pause, target: lock_holder:0, hold_ms: 500}\n";
    let s = load_beside(
        STANDALONE,
        &format!(
            "{base}locks:\n  algorithm: redlock\n  ttl_ms: 800\nslo:\n  max_lock_violations: 0\n"
        ),
    )
    .unwrap();
    let l = s.locks.unwrap();
    assert_eq!((l.algorithm, l.ttl_ms), (Algorithm::Redlock, 800));
    let single = format!("{base}locks: {{algorithm: single}}\n");
    assert!(load_beside(REPLICATED, &single).unwrap().locks.is_some());
    const REGIONS: &str = "name: s\nkind: standalone\nregions: [{name: eu}, {name: us}]\nstandalone: {primaries: 2}\n";
    let placed = format!("{base}locks:\n  algorithm: redlock\n  regions: [us, eu]\n");
    let l = load_beside(REGIONS, &placed).unwrap().locks.unwrap();
    assert_eq!(l.regions, ["us", "eu"]);
    for (yaml, expected) in [
        (
            format!("{base}locks:\n  regions: [eu, mars]\n"),
            "DIR/s.yaml:6:17: locks.regions.1: no region `mars` in the topology (regions: eu, us)",
        ),
        (
            format!("{base}locks:\n  regions: [eu, eu]\n"),
            "DIR/s.yaml:6:17: locks.regions.1: `eu` is listed twice",
        ),
        (
            format!("{base}locks:\n  workers: 1\n  regions: [eu, us]\n"),
            "DIR/s.yaml:7:3: locks.regions: 2 regions and 1 workers: every region needs a worker",
        ),
    ] {
        let err = load_beside(REGIONS, &yaml).unwrap_err();
        assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
    }
    let cases = [
        (
            STANDALONE,
            format!("{base}locks:\n  workers: 0\n"),
            "DIR/s.yaml:6:3: locks.workers: must be between 1 and 256, not 0",
        ),
        (
            STANDALONE,
            format!("{base}locks:\n  tll_ms: 5\n"),
            "DIR/s.yaml:6:3: locks.tll_ms: unknown field `tll_ms`",
        ),
        (
            REPLICATED,
            format!("{base}locks:\n  algorithm: redlock\n"),
            "DIR/s.yaml:6:3: locks.algorithm: Redlock takes independent primaries",
        ),
        (
            "name: c\nkind: cluster\ncluster:\n  shards: 3\n",
            single.clone(),
            "DIR/s.yaml:5:1: locks: a lock workload runs on a standalone topology",
        ),
        (
            STANDALONE,
            base.to_string(),
            "DIR/s.yaml:4:20: faults.0.target: names a lock holder, and this scenario has no `locks:`",
        ),
        (
            STANDALONE,
            "name: k\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: n1}\nslo:\n  min_grants_per_s: 5\n".to_string(),
            "DIR/s.yaml:6:3: slo.min_grants_per_s: min_grants_per_s reads the lock workload, and this scenario has no `locks:`",
        ),
        (
            STANDALONE,
            format!("{base}locks: {{locks: 1}}\n").replace("lock_holder:0", "lock_holder:3"),
            "DIR/s.yaml:4:20: faults.0.target: lock_holder:3: the lock workload has 1 lock(s)",
        ),
        (
            STANDALONE,
            format!("{base}locks: {{resources: [unfenced]}}\nslo:\n  max_stale_writes_accepted: 0\n"),
            "DIR/s.yaml:7:3: slo.max_stale_writes_accepted: reads the fenced resource",
        ),
        (
            STANDALONE,
            format!("{base}locks:\n  atomic_workers: 4\n"),
            "DIR/s.yaml:6:3: locks.atomic_workers: the atomic path is compared with the locked counter: set `counter: true`",
        ),
        (
            STANDALONE,
            format!("{base}locks:\n  algorithm: redlock\n  counter: true\n"),
            "DIR/s.yaml:7:3: locks.counter: the counter lives on one Redis",
        ),
        (
            STANDALONE,
            format!("{base}locks:\n  resources: []\n"),
            "DIR/s.yaml:6:3: locks.resources: the critical section writes nothing",
        ),
        (
            STANDALONE,
            format!("{base}locks: {{locks: 1}}\nslo:\n  max_lost_updates: 0\n"),
            "DIR/s.yaml:7:3: slo.max_lost_updates: reads the lock workload's counters, and `locks.counter` is not set",
        ),
        (
            STANDALONE,
            format!("{base}locks: {{counter: true}}\nslo:\n  min_atomic_speedup: 1.5\n"),
            "DIR/s.yaml:7:3: slo.min_atomic_speedup: compares the atomic path with the locked one, and `locks.atomic_workers` is 0",
        ),
    ];
    for (topology, yaml, expected) in cases {
        let err = load_beside(topology, &yaml).unwrap_err();
        assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
    }
}

#[test]
fn a_lock_drill_may_run_its_locks_alone() {
    let drill = |workload: &str, slo: &str| {
        load_beside(
            STANDALONE,
            &format!(
                "name: l\ntopology: c.yaml\n{workload}locks:\n  algorithm: single\n\
                 faults:\n  - {{fault: pause, target: lock_holder:0, hold_ms: 100}}\n\
                 slo:\n  max_lock_violations: 0\n{slo}"
            ),
        )
    };
    // No `workload:`, or one that issues nothing: the locks alone.
    for w in [
        "",
        "workload:\n  model: {open: {rate: 0}}\n",
        "workload:\n  clients: 0\n  probe_clients: 0\n",
    ] {
        let s = drill(w, "").unwrap_or_else(|e| panic!("{w:?}: {e}"));
        assert!(!s.kv, "{w:?}");
    }
    assert!(drill("workload:\n  clients: 2\n", "").unwrap().kv);
    // Nothing measures a KV figure then: the SLO's line says so.
    let err = drill("", "  max_app_failed_ops: 0\n").unwrap_err();
    assert!(
        err.contains("slo.max_app_failed_ops: this drill runs no key/value workload"),
        "{err}"
    );
    // Without locks, a workload that issues nothing is still refused.
    let err = load_beside(
        STANDALONE,
        "name: l\ntopology: c.yaml\nworkload:\n  model: {open: {rate: 0}}\n\
         faults:\n  - {fault: kill, target: n1, hold_ms: 100}\n",
    )
    .unwrap_err();
    assert!(err.contains("rate must be a positive number"), "{err}");
}

#[test]
fn a_move_resolves() {
    let a = load("name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\n  add_primary: true\n")
        .unwrap();
    assert_eq!(a.reshard.unwrap().action, ReshardAction::AddPrimary);
    let s = load("name: r\ntopology: c.yaml\nreshard:\n  from: s1n1\n  to: s2n1\n  slots: 100\nslo:\n  max_lost_keys: 0\n").unwrap();
    assert_eq!(
        s.reshard.as_ref().unwrap().action,
        ReshardAction::Move {
            from: "s1n1".into(),
            to: "s2n1".into(),
            slots: 100
        }
    );
    assert_eq!(s.slo, BTreeMap::from([("max_lost_keys".to_string(), 0.0)]));
    assert_eq!((s.baseline_ms, s.settle_ms), (2000, 2000));
    assert_eq!(s.topology.name, "c");
}

#[test]
fn one_slot_moves_by_number_or_as_the_hot_slot_and_bad_ones_are_refused_at_their_line() {
    let s = load("name: r\ntopology: c.yaml\nreshard:\n  slot: 7\n  to: s2n1\n").unwrap();
    assert_eq!(
        s.reshard.unwrap().action,
        ReshardAction::MoveSlot {
            slot: 7,
            to: "s2n1".into()
        }
    );
    let hot = "name: r\ntopology: c.yaml\nworkload:\n  hot_slot: 0.25\nreshard:\n  slot: hot\n  to: s1n1\n";
    assert_eq!(
        load(hot).unwrap().reshard.unwrap().action,
        ReshardAction::MoveSlot {
            // crc16("drill:hot-slot") mod 16384, as redis-cli's CLUSTER KEYSLOT says
            slot: 13169,
            to: "s1n1".into()
        }
    );
    for (yaml, want) in [
        (
            "name: r\ntopology: c.yaml\nreshard:\n  slot: hot\n  to: s1n1\n",
            "DIR/s.yaml:4:3: reshard.slot: `hot` is the slot of the workload's `hot_slot` keys, and the workload sets no `hot_slot`",
        ),
        (
            "name: r\ntopology: c.yaml\nreshard:\n  slot: 16384\n  to: s1n1\n",
            "DIR/s.yaml:4:3: reshard.slot: 16384 is not a slot (0 to 16383)",
        ),
        (
            "name: r\ntopology: c.yaml\nreshard:\n  slot: warm\n  to: s1n1\n",
            "DIR/s.yaml:4:3: reshard.slot: `warm`: give a slot number or `hot`",
        ),
        (
            "name: r\ntopology: c.yaml\nreshard:\n  slot: 5\n  from: s1n1\n  to: s2n1\n",
            "DIR/s.yaml:4:3: reshard.slot: moves one slot from whichever primary holds it",
        ),
        (
            "name: r\ntopology: c.yaml\nreshard:\n  slot: 5\n",
            "DIR/s.yaml:4:3: reshard.slot: needs `to`",
        ),
        (
            "name: r\ntopology: c.yaml\nreshard:\n  slot: 5\n  to: s9n1\n",
            "DIR/s.yaml:5:3: reshard.to: `s9n1` is not a primary of c",
        ),
    ] {
        let err = load(yaml).unwrap_err();
        assert!(err.contains(want), "{yaml}: {err}");
    }
}

#[test]
fn method_atomic_is_refused_at_its_line_on_servers_known_to_lack_it() {
    use crate::cluster::reshard::Method;
    let scenario = |method: &str| {
        format!(
            "name: r\ntopology: c.yaml\nreshard:\n  from: s1n1\n  to: s2n1\n  slots: 100\n  method: {method}\n"
        )
    };
    let on = |server: &str| {
        format!("name: c\nkind: cluster\nserver: {server}\ncluster:\n  shards: 3\n  replicas: 1\n")
    };
    let ok = load_beside(&on("valkey-9.1"), &scenario("atomic")).unwrap();
    assert_eq!(ok.reshard.unwrap().method, Method::Atomic);
    // The host's redis-server is asked when the slots move.
    assert_eq!(
        load(&scenario("atomic")).unwrap().reshard.unwrap().method,
        Method::Atomic
    );
    let err = load_beside(&on("valkey-8.1"), &scenario("atomic")).unwrap_err();
    assert!(
        err.contains("DIR/s.yaml:7:3: reshard.method: atomic slot migration needs Valkey 9.0 or later; s1n1 (valkey-8.1), s2n1 (valkey-8.1), s3n1 (valkey-8.1) are not"),
        "{err}"
    );
    let auto = load_beside(&on("redis-7.0"), &scenario("auto")).unwrap();
    assert_eq!(auto.reshard.unwrap().method, Method::Auto);
    let err = load(&scenario("fast")).unwrap_err();
    assert!(err.contains("unknown variant `fast`"), "{err}");
    assert_eq!(
        load("name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\n")
            .unwrap()
            .reshard
            .unwrap()
            .method,
        Method::Keys
    );
}

#[test]
fn a_steady_drill_needs_only_its_duration() {
    let s = load("name: r\ntopology: c.yaml\nduring_ms: 5000\n").unwrap();
    assert_eq!(s.during_ms, 5000);
    assert!(s.reshard.is_none() && s.faults.is_empty());
    let s = load("name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\n").unwrap();
    assert_eq!(s.during_ms, 0);
}

/// What the run could only end `unknown` or fail to do is refused when
/// the scenario is loaded, at its line: no SLO at all, an SLO whose
/// figure nothing in the drill makes, a move of more slots than the
/// source holds, a fault waiting for more slots than the move moves.
#[test]
fn what_a_run_cannot_measure_or_do_is_refused_before_it_starts() {
    let move_of = |slots: usize, rest: &str| {
        format!(
            "name: r\ntopology: c.yaml\nreshard:\n  from: s1n1\n  to: s2n1\n  slots: {slots}\n{rest}"
        )
    };
    let direct = |yaml: &str| -> String {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("c.yaml"),
            "name: c\nkind: cluster\ncluster:\n  shards: 3\n  replicas: 1\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("s.yaml"), yaml).unwrap();
        Scenario::load(&dir.path().join("s.yaml"))
            .unwrap_err()
            .to_string()
            .replace(&dir.path().display().to_string(), "DIR")
    };
    assert_eq!(
        direct(&move_of(5, "")),
        "DIR/s.yaml:1:1: a scenario needs at least one SLO (`slo:`): without one its run would pass on nothing (the SLOs are listed in docs/scenarios.md)"
    );
    let cases = [
        (
            move_of(99999, "slo:\n  max_lost_keys: 0\n"),
            "DIR/s.yaml:6:3: reshard.slots: s1n1 holds 5461 slots when c is brought up; it cannot give 99999",
        ),
        (
            move_of(
                100,
                "faults:\n  - {fault: kill, target: s2n1, after_slots: 500}\nslo:\n  max_lost_keys: 0\n",
            ),
            "DIR/s.yaml:8:33: faults.0.after_slots: waits for 500 slots moved, and the reshard moves 100: the fault would never hit mid-move",
        ),
        (
            move_of(100, "slo:\n  max_failover_ms: 5000\n"),
            "DIR/s.yaml:8:3: slo.max_failover_ms: this drill cannot measure it: no fault takes a node away or fails one over",
        ),
        (
            move_of(100, "slo:\n  max_rejoin_ms: 5000\n"),
            "DIR/s.yaml:8:3: slo.max_rejoin_ms: this drill cannot measure it: no node is started again",
        ),
        (
            move_of(100, "slo:\n  max_lost_increments: 0\n"),
            "DIR/s.yaml:8:3: slo.max_lost_increments: this drill cannot measure it: the workload's `mix` sends no `incr`",
        ),
        (
            move_of(100, "slo:\n  max_replication_lag_p99_ms: 1\n"),
            "DIR/s.yaml:8:3: slo.max_replication_lag_p99_ms: this drill cannot measure it: the scenario runs no `replication_probe`",
        ),
        (
            "name: r\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: s1n1}\nslo:\n  max_reshard_ms: 1\n".to_string(),
            "DIR/s.yaml:6:3: slo.max_reshard_ms: this drill cannot measure it: the scenario has no `reshard`",
        ),
    ];
    for (yaml, want) in cases {
        let got = load(&yaml).unwrap_err();
        assert!(got.starts_with(want), "{got}\nwanted: {want}");
    }
    // A replica target where there is no replica to resolve to.
    let got = load_beside(
        "name: c\nkind: standalone\nstandalone: {primaries: 2}\n",
        "name: r\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: 'replica_of:primary_of:0'}\nslo:\n  max_keys_missing: 0\n",
    )
    .unwrap_err();
    assert_eq!(
        got,
        "DIR/s.yaml:4:19: faults.0.target: `replica_of:primary_of:0` names a replica, and c has none"
    );
}

#[test]
fn errors_name_the_place() {
    let cases = [
        (
            "name: r\ntopology: c.yaml\nreshard:\n  from: s1n2\n  to: s2n1\n  slots: 1\n",
            "DIR/s.yaml:4:3: reshard.from: `s1n2` is not a primary of c (primaries: s1n1, s2n1, s3n1)",
        ),
        (
            "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\n  drain: s1n1\n",
            "DIR/s.yaml:3:1: reshard: give exactly one of",
        ),
        (
            "name: r\ntopology: nope.yaml\nreshard:\n  rebalance: true\n",
            "DIR/s.yaml:2:1: topology: no topology file at DIR/nope.yaml",
        ),
        (
            "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\nslo:\n  max_lost_write: 0\n",
            "DIR/s.yaml:6:3: slo.max_lost_write: unknown SLO `max_lost_write`; the SLOs are max_lost_keys,",
        ),
        (
            "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\nslo:\n  max_lost_writes: 0\n",
            "DIR/s.yaml:6:3: slo.max_lost_writes: `max_lost_writes` is now called `max_lost_keys`",
        ),
        (
            "name: r\ntopology: c.yaml\nreshard:\n  from: s1n1\n  to: s1n1\n  slots: 5\n",
            "DIR/s.yaml:5:3: reshard.to: `from` and `to` are the same node",
        ),
        (
            "name: r\ntopology: c.yaml\n",
            "DIR/s.yaml:1:1: a scenario needs something to do",
        ),
        (
            "name: r\ntopology: c.yaml\nfaults:\n  - fault: kill\n    target: primary_of:0\n  - fault: pause\n    target: region:moon\n    hold_ms: 5\n",
            "DIR/s.yaml:7:5: faults.1.target: no region named `moon` in c (regions: default)",
        ),
        (
            "name: r\ntopology: c.yaml\nfaults:\n  - fault: kill\n    target: s1n1\n    after_slots: 5\n",
            "DIR/s.yaml:6:5: faults.0.after_slots: waits for the reshard's progress",
        ),
        (
            "name: r\ntopology: c.yaml\nfaults:\n  - fault: partition\n    target: s1n1\n    hold_ms: 5\n",
            "DIR/s.yaml:4:5: faults.0.shape: a partition needs a shape",
        ),
        (
            "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\nworkload:\n  mix: {get: 1, txn: 1}\n  groups: 0\n",
            "DIR/s.yaml:7:3: workload.groups: mix has txn or txn_read but groups is 0",
        ),
        (
            "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\nworkload:\n  mix: {set_ttl: 1}\n  ttl_ms: 0\n",
            "DIR/s.yaml:7:3: workload.ttl_ms: mix has set_ttl but ttl_ms is 0",
        ),
        (
            "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\nworkload:\n  mix: {txn: 1}\n  groups: 4\n  group_size: 1\n",
            "DIR/s.yaml:8:3: workload.group_size: group_size must be between 2 and 26",
        ),
        (
            "name: r\ntopology: c.yaml\nreshard:\n  rebalance: true\nworkload:\n  mix:\n    get: 1\n    txn_reads: 1\n",
            "DIR/s.yaml:8:5: workload.mix.txn_reads: unknown field `txn_reads`",
        ),
    ];
    for (yaml, expected) in cases {
        let err = load(yaml).unwrap_err();
        assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
    }
}

#[test]
fn a_replace_names_its_server_on_a_cluster_and_nothing_else_does() {
    let with = |fault: &str| {
        format!("name: u\ntopology: c.yaml\nfaults:\n  - {fault}\nslo:\n  max_lost_keys: 0\n")
    };
    let ok = load(&with("{fault: replace, target: s1n2, server: valkey-9.1}")).unwrap();
    assert_eq!(ok.faults[0].server, Some(crate::topology::Server::Valkey91));
    assert!(!ok.faults[0].may_fail);
    let rollback =
        with("{fault: replace, target: primary_of:0, server: redis-7.0, may_fail: true}");
    assert!(load(&rollback).unwrap().faults[0].may_fail);
    for (fault, field, says) in [
        (
            "{fault: replace, target: s1n2}",
            "server",
            "a replace needs the new node's `server`",
        ),
        (
            "{fault: replace, target: s1n2, server: valkey-7}",
            "server",
            "valkey-7",
        ),
        (
            "{fault: kill, target: s1n2, server: valkey-9.1}",
            "server",
            "only a replace names a server",
        ),
        (
            "{fault: kill, target: s1n2, may_fail: true}",
            "may_fail",
            "only a replace may fail",
        ),
        (
            "{fault: replace, server: valkey-9.1}",
            "target",
            "replace needs a target",
        ),
        (
            "{fault: replace, target: s1n2, server: valkey-9.1, hold_ms: 5}",
            "hold_ms",
            "not undone",
        ),
    ] {
        let e = load(&with(fault)).unwrap_err();
        assert!(
            e.contains(&format!("faults[0].{field}")) || e.contains(field),
            "{fault}: {e}"
        );
        assert!(e.contains(says), "{fault}: {e}");
    }
    let e = load_beside(
        STANDALONE,
        &with("{fault: replace, target: n1, server: valkey-9.1}"),
    )
    .unwrap_err();
    assert!(e.contains("not one"), "{e}");
}

#[test]
fn max_impact_is_a_positive_bound_on_key_by_key_moves() {
    let with = |extra: &str| {
        format!(
            "name: g\ntopology: c.yaml\nreshard:\n  from: s1n1\n  to: s2n1\n  slots: 10\n{extra}slo:\n  max_lost_keys: 0\n"
        )
    };
    let ok = load(&with("  max_impact_ms: 1.5\n")).unwrap();
    assert_eq!(ok.reshard.unwrap().max_impact_ms, Some(1.5));
    for (extra, says) in [
        ("  max_impact_ms: 0\n", "positive"),
        ("  max_impact_ms: -1\n", "positive"),
        ("  method: atomic\n  max_impact_ms: 1\n", "key-by-key"),
    ] {
        let e = load(&with(extra)).unwrap_err();
        assert!(
            e.contains("max_impact_ms") || e.contains("method"),
            "{extra}: {e}"
        );
        assert!(e.contains(says) || e.contains("atomic"), "{extra}: {e}");
    }
}

#[test]
fn atomic_job_keys_is_a_positive_count_on_atomic_moves() {
    let with = |extra: &str| {
        format!(
            "name: g\ntopology: c.yaml\nreshard:\n  from: s1n1\n  to: s2n1\n  slots: 10\n{extra}slo:\n  max_lost_keys: 0\n"
        )
    };
    let ok = load(&with("  method: auto\n  atomic_job_keys: 50000\n")).unwrap();
    assert_eq!(ok.reshard.unwrap().atomic_job_keys, Some(50_000));
    for (extra, says) in [
        ("  method: auto\n  atomic_job_keys: 0\n", "at least 1"),
        ("  atomic_job_keys: 1000\n", "method: atomic"),
    ] {
        let e = load(&with(extra)).unwrap_err();
        assert!(e.contains("atomic_job_keys"), "{extra}: {e}");
        assert!(e.contains(says), "{extra}: {e}");
    }
}

#[test]
fn client_library_groups_load_and_their_errors_name_the_field() {
    const C: &str = "name: c\nkind: cluster\ncluster:\n  shards: 3\n  replicas: 1\n";
    let base = "name: s\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: s1n1}\n";
    let open = "  model: {open: {rate: 100}}\n";
    let s = load_beside(
        C,
        &format!("{base}workload:\n  clients:\n    - {{library: redis-rs, count: 2}}\n    - {{library: node-redis, count: 3}}\n{open}"),
    )
    .unwrap();
    assert_eq!(s.workload.clients.redis_rs, 2);
    assert_eq!(s.workload.clients.groups[0].library, "node-redis");
    assert_eq!(s.workload.total_clients(), 6);
    let cases = [
        (
            C,
            format!("{base}workload:\n  clients:\n    - {{library: lettuce, count: 2}}\n{open}"),
            "DIR/s.yaml:6:3: workload.clients: client library lettuce has no shipped adapter",
        ),
        (
            C,
            format!("{base}workload:\n  clients:\n    - {{library: redis-py, count: 2}}\n"),
            "DIR/s.yaml:5:1: workload.model: the redis-py clients run by an adapter keep an open loop's schedule",
        ),
        (
            C,
            format!(
                "{base}workload:\n  clients:\n    - {{library: redis-py, count: 2}}\n{open}  mix: {{get: 1, txn: 1}}\n  groups: 10\n"
            ),
            "DIR/s.yaml:9:3: workload.mix: the redis-py clients run by an adapter run get, set, incr and del",
        ),
        (
            C,
            format!(
                "{base}workload:\n  clients:\n    - {{library: redis-py, count: 1}}\n    - {{library: redis-py, count: 1}}\n{open}"
            ),
            "DIR/s.yaml:6:3: workload.clients: clients: two groups are named redis-py",
        ),
        (
            STANDALONE,
            format!(
                "{}workload:\n  clients:\n    - {{library: redis-py, count: 1}}\n{open}",
                base.replace("s1n1", "n1")
            ),
            "DIR/s.yaml:6:3: workload.clients: client libraries other than redis-rs run against a cluster or a replicated topology with Sentinels; this topology is standalone",
        ),
        (
            "name: w\nkind: replicated\nreplicated: {replicas: 2}\nsentinel: {count: 3}\n",
            format!(
                "{}workload:\n  clients:\n    - {{library: redis-py, count: 1}}\n    - {{library: valkey-glide, count: 1}}\n{open}",
                base.replace("s1n1", "n1")
            ),
            "DIR/s.yaml:6:3: workload.clients: the valkey-glide group cannot ask the Sentinels where the primary is: valkey-glide 2.6 has no Sentinel client (redis-py and valkey-py can)",
        ),
        (
            "name: p\nkind: replicated\nreplicated: {replicas: 2}\n",
            format!(
                "{}workload:\n  clients:\n    - {{library: redis-py, count: 1}}\n{open}",
                base.replace("s1n1", "n1")
            ),
            "DIR/s.yaml:6:3: workload.clients: client libraries other than redis-rs run against a replicated topology through its Sentinels, and this one has no `sentinel:`",
        ),
    ];
    // Python's Sentinel clients on a topology with Sentinels.
    let watched = "name: w\nkind: replicated\nreplicated: {replicas: 2}\nsentinel: {count: 3}\n";
    let s = load_beside(
        watched,
        &format!(
            "{}workload:\n  clients:\n    - {{library: redis-py, count: 1}}\n    - {{library: valkey-py, count: 1}}\n{open}",
            base.replace("s1n1", "n1")
        ),
    )
    .unwrap();
    assert_eq!(s.workload.clients.adapted(), 2);
    for (topo, yaml, expected) in cases {
        let err = load_beside(topo, &yaml).unwrap_err();
        assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
    }
}

#[test]
fn sentinel_shapes_and_slos_need_sentinels() {
    let plain = "name: p\nkind: replicated\nreplicated: {replicas: 2}\n";
    let watched = "name: w\nkind: replicated\nreplicated: {replicas: 2}\nsentinel: {count: 3}\n";
    let flapping = "name: f\ntopology: c.yaml\nfaults:\n  - {fault: partition, shape: sentinels, hold_ms: 1000}\n  - {fault: kill, target: primary_of:0, at_ms: 100, hold_ms: 500}\nslo:\n  max_sentinel_failover_ms: 5000\n";
    let s = load_beside(watched, flapping).expect("Sentinels to cut apart and to time");
    assert_eq!(s.faults[0].shape, Some(crate::net::Shape::Sentinels));
    assert_eq!(
        load_beside(plain, flapping).unwrap_err(),
        "DIR/s.yaml:4:24: faults.0.shape: a `sentinels` partition cuts the Sentinels apart, and p has none (`sentinel:` in its topology)"
    );
    let timed = "name: t\ntopology: c.yaml\nfaults:\n  - {fault: kill, target: primary_of:0, hold_ms: 500}\nslo:\n  max_sentinel_failover_ms: 5000\n";
    assert_eq!(
        load_beside(plain, timed).unwrap_err(),
        "DIR/s.yaml:6:3: slo.max_sentinel_failover_ms: p has no Sentinels to fail its primary over (`sentinel:` in its topology)"
    );
    // A cluster has no Sentinels at all: the SLO is off its kind.
    let got = load(timed).unwrap_err();
    assert!(
        got.contains("slo.max_sentinel_failover_ms: cluster topologies have no such figure"),
        "{got}"
    );
    // The shape takes no target.
    let aimed = "name: a\ntopology: c.yaml\nfaults:\n  - {fault: partition, shape: sentinels, target: primary_of:0}\n";
    let got = load_beside(watched, aimed).unwrap_err();
    assert!(
        got.contains("a `sentinels` partition cuts the whole cluster: it takes no target"),
        "{got}"
    );
}

#[test]
fn an_invalidation_section_is_loaded_and_bad_ones_are_refused_at_their_line() {
    let ok = "name: i\ntopology: c.yaml\ninvalidation:\n  keys: 10\n  dependants:\n    1: [0]\n  tags:\n    cat: [3, 4]\nduring_ms: 1000\n";
    let s = load(ok).unwrap();
    let inv = s.invalidation.expect("the section");
    assert_eq!(inv.affected(1), vec![0, 1]);
    assert!(
        !s.kv,
        "an invalidation drill runs without the key/value workload"
    );
    for (yaml, want) in [
        (
            "name: i\ntopology: c.yaml\ninvalidation:\n  keys: 10\n  dependants:\n    1: [12]\nduring_ms: 1000\n",
            "DIR/s.yaml:6:5: invalidation.dependants.1: dependant 12 is outside the key space 0..10",
        ),
        (
            "name: i\ntopology: c.yaml\ninvalidation:\n  keys: 10\n  tags:\n    cat: []\nduring_ms: 1000\n",
            "DIR/s.yaml:6:5: invalidation.tags.cat: a tag without keys invalidates nothing",
        ),
        (
            "name: i\ntopology: c.yaml\ninvalidation:\n  keys: 10\n  dependants:\n    1: [2]\n    2: [1]\nduring_ms: 1000\n",
            "DIR/s.yaml:6:5: invalidation.dependants.1: the dependants go round in a circle: 1 → 2 → 1",
        ),
        (
            "name: i\ntopology: c.yaml\ninvalidation:\n  policies: [lazy]\nduring_ms: 1000\n",
            "DIR/s.yaml:4:",
        ),
        (
            "name: i\ntopology: c.yaml\nduring_ms: 1000\nslo:\n  max_lost_invalidations: 0\n",
            "DIR/s.yaml:5:3: slo.max_lost_invalidations: ",
        ),
    ] {
        let got = load(yaml).unwrap_err();
        assert!(got.starts_with(want), "{yaml}\ngot:  {got}\nwant: {want}");
    }
}

#[test]
fn client_side_caching_is_refused_where_it_cannot_run() {
    let inv = |extra: &str| {
        format!(
            "name: c\ntopology: c.yaml\nduring_ms: 1000\ninvalidation:\n  readers: 2\n  client_cache: true\n{extra}"
        )
    };
    let cluster = "name: c\nkind: cluster\ncluster:\n  shards: 3\n";
    assert!(
        load_beside(cluster, &inv(""))
            .unwrap()
            .invalidation
            .unwrap()
            .client_cache
    );
    for (topology, yaml, expected) in [
        (
            STANDALONE,
            inv(""),
            "DIR/s.yaml:6:3: invalidation.client_cache: the readers' client-side cache follows a cluster's slots",
        ),
        (
            cluster,
            inv("  group_reads: 0.2\n"),
            "DIR/s.yaml:6:3: invalidation.client_cache: a local copy is judged key by key",
        ),
        (
            cluster,
            "name: c\ntopology: c.yaml\nduring_ms: 1000\ninvalidation:\n  readers: 2\nslo:\n  max_stale_local_copies: 0\n".to_string(),
            "DIR/s.yaml:7:3: slo.max_stale_local_copies: this drill cannot measure it: the invalidation readers keep no local copies",
        ),
    ] {
        let err = load_beside(topology, &yaml).unwrap_err();
        assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
    }
}

#[test]
fn invalidation_readers_in_regions_are_checked_at_their_line() {
    let base = "name: c\ntopology: c.yaml\nduring_ms: 1000\ninvalidation:\n  readers: 2\n";
    let ok = format!("{base}  regions: [eu, us]\n  replica_reads: true\n");
    let cluster_regions = "name: c\nkind: cluster\nregions: [{name: eu}, {name: us}]\ncluster: {shards: 2, replicas: 1}\n";
    let inv = load_beside(cluster_regions, &ok)
        .unwrap()
        .invalidation
        .unwrap();
    assert_eq!(inv.region_of(1), Some("us"));
    for (topology, yaml, expected) in [
        (
            cluster_regions,
            format!("{base}  replica_reads: true\n"),
            "DIR/s.yaml:6:3: invalidation.replica_reads: a reader reads the replica in its own region: list the readers' `regions`",
        ),
        (
            cluster_regions,
            format!("{base}  regions: [eu, mars]\n"),
            "DIR/s.yaml:6:17: invalidation.regions.1: no region `mars` in the topology",
        ),
        (
            cluster_regions,
            format!("{base}  regions: [eu]\n  client_cache: true\n"),
            "DIR/s.yaml:7:3: invalidation.client_cache: the readers' client-side cache reads primaries from no region",
        ),
        (
            "name: c\nkind: standalone\nregions: [{name: eu}, {name: us}]\nstandalone: {primaries: 2}\n",
            ok.clone(),
            "DIR/s.yaml:7:3: invalidation.replica_reads: a reader finds the replica of its key's shard in its region from the cluster's map",
        ),
    ] {
        let err = load_beside(topology, &yaml).unwrap_err();
        assert!(err.starts_with(expected), "\n got: {err}\nwant: {expected}");
    }
}
