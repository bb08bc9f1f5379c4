//! The swarm runtime on a lab of three Docker engines on this machine
//! (`redis-drill lab up 3`): a cluster placed by region over the engines,
//! `status` naming each node's engine, `check`, a reshard, a node killed and
//! started again through its engine (a new task), `down` leaving nothing on
//! any engine; the failover drill across engines; bad input refused before
//! anything is made; `lab down` leaving nothing of the lab.
//!
//! The lab is the machine's (one bridge, one set of namespaces): the tests
//! here take turns with it.

mod common;

use std::process::Command;

use common::{Env, docker_or_skip, root_or_skip, topology};
use redis_drill::record::status::StatusReport;

/// One lab at a time on this machine.
static LAB: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes the lab down however the test ends.
struct LabGuard<'a>(&'a Env);

/// The lab's three engines' sockets by name (lab-1, the manager, first),
/// after `lab up 3`.
fn lab_up(env: &Env) -> Vec<(String, String)> {
    let up = env.run(&["lab", "up", "3"]);
    assert!(
        up.status.success(),
        "lab up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let lab: serde_json::Value = env.json(&["lab", "status", "--json"]);
    lab["engines"]
        .as_object()
        .expect("the lab's engines")
        .iter()
        .map(|(name, e)| {
            let ep = e["endpoint"].as_str().unwrap();
            (name.clone(), ep.trim_start_matches("unix://").to_string())
        })
        .collect()
}

/// This machine's `net.ipv4.neigh.default.gc_thresh1/2/3`.
fn neigh_thresholds() -> [u64; 3] {
    ["gc_thresh1", "gc_thresh2", "gc_thresh3"].map(|t| {
        let path = format!("/proc/sys/net/ipv4/neigh/default/{t}");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .trim()
            .parse()
            .unwrap()
    })
}

fn assert_engines_clean(sockets: &[(String, String)], after: &str) {
    for (i, (_, socket)) in sockets.iter().enumerate() {
        let left = leftovers(socket, i == 0);
        assert!(left.is_empty(), "{after} left {left:?}");
    }
}

impl Drop for LabGuard<'_> {
    fn drop(&mut self) {
        let out = self.0.run(&["lab", "down"]);
        if !out.status.success() {
            eprintln!("lab down failed: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

/// `docker -H <engine> args…`, stdout.
fn on_engine(socket: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{socket}"))
        .args(args)
        .output()
        .expect("running docker");
    assert!(
        out.status.success(),
        "docker {args:?} on {socket}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What an engine still holds of the tool's: services (on the manager),
/// containers, volumes, networks.
fn leftovers(socket: &str, manager: bool) -> Vec<String> {
    let label = "label=redis-drill.tool=redis-drill";
    let mut out = Vec::new();
    let mut kinds = vec![
        ("container", vec!["ps", "-aq", "--filter", label]),
        ("volume", vec!["volume", "ls", "-q", "--filter", label]),
        ("network", vec!["network", "ls", "-q", "--filter", label]),
    ];
    if manager {
        kinds.push(("service", vec!["service", "ls", "-q", "--filter", label]));
    }
    for (kind, args) in kinds {
        for id in on_engine(socket, &args).lines().filter(|l| !l.is_empty()) {
            out.push(format!("{kind} {id} on {socket}"));
        }
    }
    out
}

#[test]
fn a_cluster_over_three_engines_of_a_swarm() {
    if !docker_or_skip("swarm") || !root_or_skip("swarm") {
        return;
    }
    let env = Env::new("swarm");

    // An engines file whose engine does not answer: the environment, named,
    // before anything is made.
    let silent = env.files.path().join("silent.yaml");
    std::fs::write(
        &silent,
        "manager: far\nengines:\n  far: {endpoint: 'tcp://127.0.0.1:9', address: 127.0.0.1}\n",
    )
    .unwrap();
    let t = topology("swarm-3-region.yaml");
    let t = t.to_str().unwrap();
    env.set_vars(&[("REDIS_DRILL_ENGINES", silent.to_str().unwrap())]);
    let out = env.run(&["up", t]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a silent engine is the environment"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("swarm engine `far` (tcp://127.0.0.1:9)"),
        "the error names the engine"
    );
    env.set_vars(&[]);

    let _turn = LAB.lock().unwrap_or_else(|p| p.into_inner());
    let thresholds_before = neigh_thresholds();
    let _lab = LabGuard(&env);
    let sockets = lab_up(&env);
    assert_eq!(sockets.len(), 3);
    // The engines share this kernel's neighbour table: the lab raised its
    // limit to room for 180 nodes (60 need 3540 entries; the default 1024
    // held 30 and no more).
    let raised = neigh_thresholds();
    if thresholds_before[2] >= 32768
        && thresholds_before[1] >= 16384
        && thresholds_before[0] >= 1024
    {
        // Nothing for the lab to raise on this machine: the checks below
        // hold whatever it does, and say nothing of its raising.
        eprintln!(
            "note: the neighbour table's thresholds were {thresholds_before:?} already: lab up had nothing to raise"
        );
    }
    assert!(
        raised[2] >= 32768 && raised[1] >= 16384 && raised[0] >= 1024,
        "lab up left the neighbour table's thresholds at {raised:?}"
    );
    let manager = sockets[0].1.clone();
    assert_eq!(
        on_engine(&manager, &["node", "ls", "-q"]).lines().count(),
        3,
        "three nodes in the swarm"
    );

    // Bring-up: every node on an engine of its region.
    let name = common::unique_name("swarm");
    let out = env.run(&["up", t, "--name", &name]);
    assert!(out.status.success(), "up on the swarm");
    let status: StatusReport = env.json(&["status", "--name", &name, "--json"]);
    let regions = ["eu-west", "us-east", "ap-south"];
    let mut engines_used = std::collections::BTreeSet::new();
    for n in &status.nodes {
        let host = n
            .host
            .clone()
            .unwrap_or_else(|| panic!("{}: status names no engine", n.name));
        // `lab up 3` labels lab-i with the i-th region.
        let i: usize = host.trim_start_matches("lab-").parse().unwrap();
        assert_eq!(
            regions[i - 1],
            n.region,
            "{} runs on {host}, an engine of another region",
            n.name
        );
        assert!(n.error.is_none(), "{}: {:?}", n.name, n.error);
        engines_used.insert(host);
    }
    assert_eq!(engines_used.len(), 3, "the nodes spread over every engine");
    assert_eq!(
        status.cluster.as_ref().map(|c| c.state.as_str()),
        Some("ok")
    );

    let out = env.run(&["check", "--name", &name]);
    assert!(out.status.success(), "check");
    let out = env.run(&[
        "reshard", "--name", &name, "--from", "s1n1", "--to", "s2n1", "--slots", "500",
    ]);
    assert!(out.status.success(), "reshard");
    let status: StatusReport = env.json(&["status", "--name", &name, "--json"]);
    let slots = |n: &str| status.nodes.iter().find(|x| x.name == n).unwrap().slots;
    assert_eq!((slots("s1n1"), slots("s2n1")), (5461 - 500, 5462 + 500));

    // A replica killed through its engine, started again: a new task at a
    // new overlay address, the same identity and published port.
    let before = status
        .nodes
        .iter()
        .find(|x| x.name == "s2n2")
        .unwrap()
        .clone();
    assert!(env.run(&["kill", "s2n2", "--name", &name]).status.success());
    let down: StatusReport = env.json(&["status", "--name", &name, "--json"]);
    assert!(
        down.nodes
            .iter()
            .find(|x| x.name == "s2n2")
            .unwrap()
            .error
            .is_some(),
        "killed"
    );
    assert!(
        env.run(&["start", "s2n2", "--name", &name])
            .status
            .success()
    );
    common::wait_until(
        "s2n2 back as a replica of s2n1",
        std::time::Duration::from_secs(20),
        || {
            let s: StatusReport = env.json(&["status", "--name", &name, "--json"]);
            let n = s.nodes.iter().find(|x| x.name == "s2n2").unwrap();
            n.replica_of.as_deref() == Some("s2n1") && n.address == before.address
        },
    );

    assert!(env.run(&["down", "--name", &name]).status.success());
    assert_engines_clean(&sockets, "down");

    // The failover drill across engines, its verdict the one its figures call for.
    let failover = env.drill(
        &common::scenario_path("swarm-failover.yaml"),
        &["--seed", "1"],
    );
    // Every SLO about the failover passes: promotion, downtime,
    // convergence. Its p99 after the failover and the old primary's rejoin
    // are judged on their figures: on this lab the three engines, six
    // nodes, three workers and the controller share two cores, so those
    // figures measure how busy the machine was (CI's run: tool lag p99
    // 1.42 ms, unknown; runs here on 2026-11-29: p99 70-457 ms with raw
    // PINGs to the primaries at 27-42 ms and the CPUs about 90 % busy, a
    // fail, rejoin once 7.9 s; the quiet runs of docs/swarm.md: p99 1.65 ms,
    // rejoin 1.3 s, a pass).
    let judged = failover.assert_passes_but_timing_as_measured(
        "the failover drill over three engines",
        &["max_rejoin_ms"],
    );
    eprintln!("swarm-failover: exit {:?}; {judged}", failover.code);
    assert_engines_clean(&sockets, "the failover drill");
    workers_on_their_engines(failover.report.as_ref().expect("its report"), "failover");
    workers_recovered(failover.report.as_ref().unwrap(), "failover");

    // The region partition with the workers' clocks 2.5 s behind this
    // machine's: the estimates must find that (the truth moves with it).
    env.set_vars(&[("REDIS_DRILL_WORKER_CLOCK_SKEW_NS", "-2500000000")]);

    // A region cut off through the engines: the drill's expectation (the
    // cut-off primary's acknowledged writes lost) met, a failover measured,
    // nothing left.
    let cut = env.drill(
        &common::scenario_path("swarm-region-partition.yaml"),
        &["--seed", "1"],
    );
    assert_eq!(cut.code, Some(1), "the region partition drill fails an SLO");
    let report = cut.report.as_ref().expect("the drill's report");
    let expected = report.expected.as_ref().expect("the drill's expectation");
    assert_eq!(
        format!("{:?}", expected.result),
        "Pass",
        "it fails exactly as it expects: {}",
        expected.note
    );
    assert_eq!(
        report.faults[0].fault, "partition",
        "{:?}",
        report.faults[0]
    );
    // The nodes of ap-south (lab-3's engine) were the ones cut off.
    let mut cut_off = report.faults[0].nodes.clone();
    cut_off.sort();
    assert_eq!(cut_off, ["s2n2", "s3n1"]);
    assert!(
        common::slo(report, "max_failover_ms").value.is_some(),
        "a failover was measured"
    );
    workers_on_their_engines(report, "region partition");
    env.set_vars(&[]);
    assert_engines_clean(&sockets, "the region partition drill");

    links_across_engines(&env, &sockets);
    engines_over_tls(&env, &sockets);
    engines_over_ssh(&env, &sockets);

    // A region no engine carries: bad input naming the node and region,
    // nothing made.
    let mars = env.files.path().join("mars.yaml");
    std::fs::write(
        &mars,
        "name: mars\nkind: cluster\nregions: [{name: eu-west}, {name: mars}]\ncluster: {shards: 3, replicas: 1}\n",
    )
    .unwrap();
    let out = env.run(&["up", mars.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("region `mars` has no swarm node"), "{err}");
    assert_engines_clean(&sockets, "a refused up");

    // An image no engine has and the tool cannot build: refused before any
    // service, naming the engine and the node; no engine asked a registry.
    let bad = env.files.path().join("badimg.yaml");
    std::fs::write(
        &bad,
        "name: badimg\nkind: cluster\nimage: nosuch/redis:1\nregions: [{name: eu-west}, {name: us-east}, {name: ap-south}]\ncluster: {shards: 3, replicas: 1}\n",
    )
    .unwrap();
    let out = env.run(&["up", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("swarm engine `lab-")
            && err.contains("(node s")
            && err.contains("nothing is ever pulled"),
        "{err}"
    );
    assert_engines_clean(&sockets, "an image that cannot be placed");

    // The lab down: no namespace, bridge, engine process or folder left,
    // and the kernel's thresholds as they were.
    drop(_lab);
    assert_eq!(
        neigh_thresholds(),
        thresholds_before,
        "lab down did not put the neighbour table's thresholds back"
    );
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&ns.stdout).contains("rdlab-"),
        "a lab namespace is left"
    );
    assert!(
        !std::path::Path::new("/sys/class/net/rdlab0").exists(),
        "the lab's bridge is left"
    );
    let root = std::path::Path::new(&manager)
        .parent()
        .unwrap()
        .parent()
        .unwrap();
    assert!(
        !root.exists(),
        "the lab's folder {} is left",
        root.display()
    );
    assert!(
        common::processes_mentioning(root).is_empty(),
        "an engine of the lab still runs"
    );
}

/// The main process of node `node`'s task container of run `run_id` on
/// the lab engine at `socket`.
fn task_pid(socket: &str, run_id: &str, node: &str) -> i64 {
    let filter = format!("name=rd-{run_id}-{node}.1.");
    let id = on_engine(socket, &["ps", "-q", "--filter", &filter]);
    let id = id.trim();
    assert!(
        !id.is_empty() && !id.contains('\n'),
        "one task of {node}: {id:?}"
    );
    on_engine(socket, &["inspect", "-f", "{{.State.Pid}}", id])
        .trim()
        .parse()
        .unwrap()
}

/// The median of ten PINGs to `to` from inside the network namespace of
/// process `pid`, timed by the test's own blocking TCP client (not the
/// tool's), as the node in there would connect.
fn ping_from_namespace(pid: i64, to: std::net::SocketAddr) -> std::time::Duration {
    use std::io::{Read, Write};
    let ns = redis_drill::runtime::netns::NetNs::of_pid(pid).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter().expect("joining the task's namespace (root)");
            let limit = std::time::Duration::from_secs(5);
            let mut c = std::net::TcpStream::connect_timeout(&to, limit)
                .unwrap_or_else(|e| panic!("connecting to {to}: {e}"));
            c.set_read_timeout(Some(limit)).unwrap();
            c.set_nodelay(true).unwrap();
            let mut rtts = Vec::new();
            for _ in 0..10 {
                let t = std::time::Instant::now();
                c.write_all(b"PING\r\n").unwrap();
                let mut got = [0u8; 7];
                c.read_exact(&mut got).unwrap();
                assert_eq!(&got, b"+PONG\r\n");
                rtts.push(t.elapsed());
            }
            rtts.sort();
            rtts[5]
        })
        .join()
        .unwrap()
    })
}

/// Links between the engines' regions (40, 75, 60 ms one way): a PING
/// from a node's own namespace to a node across a link takes its round
/// trip, within a region none; a node started again (a new task at a new
/// address) is reached through the links and reaches across them; the
/// drill with a worker in each region and a latency spike measures every
/// link and passes; `down` leaves no helper on any engine.
fn links_across_engines(env: &Env, sockets: &[(String, String)]) {
    let t = topology("swarm-3-region-links.yaml");
    let name = common::unique_name("swarm-links");
    let out = env.run(&["up", t.to_str().unwrap(), "--name", &name]);
    assert!(
        out.status.success(),
        "up with links on the swarm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let socket_of = |host: &str| {
        (sockets.iter())
            .find(|(n, _)| n == host)
            .map(|(_, s)| s.clone())
            .unwrap()
    };
    let rtt = |from: &str, to: &str| {
        let status: StatusReport = env.json(&["status", "--name", &name, "--json"]);
        let node = |n: &str| status.nodes.iter().find(|x| x.name == n).unwrap().clone();
        let (a, b) = (node(from), node(to));
        let pid = task_pid(&socket_of(a.host.as_deref().unwrap()), &status.run_id, from);
        ping_from_namespace(pid, b.announce).as_secs_f64() * 1000.0
    };
    let across = |from: &str, to: &str, declared: f64| {
        let ms = rtt(from, to);
        assert!(
            ms >= declared && ms <= declared * 1.15 + 5.0,
            "{from} -> {to}: {ms:.1} ms, the link's round trip {declared} ms"
        );
    };
    // s1n1 and s3n2 in eu-west, s1n2 and s2n1 in us-east, s2n2 and s3n1 in
    // ap-south (swarm-3-region's placement).
    across("s1n1", "s1n2", 80.0);
    across("s1n1", "s3n1", 150.0);
    across("s2n1", "s2n2", 120.0);
    let near = rtt("s1n1", "s3n2");
    assert!(near < 5.0, "within eu-west: {near:.1} ms");
    // s1n2 started again: a new task at a new address, which every other
    // relay and rule follows, and whose own namespace gets its relay.
    let before: StatusReport = env.json(&["status", "--name", &name, "--json"]);
    for action in ["kill", "start"] {
        assert!(
            env.run(&[action, "s1n2", "--name", &name]).status.success(),
            "{action}"
        );
    }
    let after: StatusReport = env.json(&["status", "--name", &name, "--json"]);
    let addr = |s: &StatusReport| s.nodes.iter().find(|x| x.name == "s1n2").unwrap().announce;
    assert_ne!(addr(&before), addr(&after), "a new task, a new address");
    across("s1n1", "s1n2", 80.0);
    across("s1n2", "s3n1", 120.0);
    assert!(env.run(&["down", "--name", &name]).status.success());
    assert_engines_clean(sockets, "down with links");

    // A worker in each region pays its links; the spike reaches the
    // relays through the engines; every link measured within its bounds.
    let drill = env.drill(&common::scenario_path("swarm-links.yaml"), &["--seed", "1"]);
    assert_eq!(
        drill.code,
        Some(0),
        "the links drill over three engines passes"
    );
    let report = drill.report.as_ref().expect("its report");
    assert_eq!(report.links.len(), 3, "{:?}", report.links);
    for l in &report.links {
        assert_eq!(format!("{:?}", l.check), "Pass", "{l:?}");
    }
    workers_on_their_engines(report, "links");
    assert_engines_clean(sockets, "the links drill");
}

/// The lab's engines reached over TCP with TLS (`engines-tls.yaml`, the
/// lab's own CA): `up`, `status` naming each node's engine, a node killed
/// and started through its engine, `down` leaving nothing; an engine whose
/// certificate the given CA did not sign is the environment, named with the
/// reason, before anything is made; a TLS file that is not there is bad
/// input naming the field.
fn engines_over_tls(env: &Env, sockets: &[(String, String)]) {
    let lab: serde_json::Value = env.json(&["lab", "status", "--json"]);
    assert!(lab["engines"].is_object(), "{lab}");
    // Beside the engines' folders (the lab's root, under this test's state).
    let root = std::path::Path::new(&sockets[0].1)
        .parent()
        .and_then(std::path::Path::parent)
        .unwrap();
    let tls_file = root.join("engines-tls.yaml");
    let text = std::fs::read_to_string(&tls_file).unwrap();
    assert_eq!(text.matches(":2376").count(), 3, "{text}");
    // The engines really answer TLS only there: plain HTTP is refused.
    let plain = env.files.path().join("plain.yaml");
    let no_tls: String = (text.lines())
        .filter(|l| {
            !["tls:", "ca:", "cert:", "key:"].contains(&l.trim().split(' ').next().unwrap_or(""))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&plain, no_tls).unwrap();
    env.set_vars(&[("REDIS_DRILL_ENGINES", plain.to_str().unwrap())]);
    let out = env.run(&["up", topology("swarm-3-region.yaml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HTTPS server"), "{err}");

    env.set_vars(&[("REDIS_DRILL_ENGINES", tls_file.to_str().unwrap())]);
    up_kill_start_down(env, sockets, "swarm-3-region.yaml", "s2n2", "TLS");
    let t = topology("swarm-3-region.yaml");

    // Another CA (of the same name: rustls says BadSignature; another
    // name, UnknownIssuer): the engine's certificate is not its.
    let other = tempfile::tempdir().unwrap();
    let ca = redis_drill::net::ca::make(other.path(), &[], &[]).unwrap();
    let bad = env.files.path().join("other-ca.yaml");
    let lab_ca = tls_file.parent().unwrap().join("tls").join("ca.pem");
    std::fs::write(
        &bad,
        text.replace(lab_ca.to_str().unwrap(), ca.ca.to_str().unwrap()),
    )
    .unwrap();
    env.set_vars(&[("REDIS_DRILL_ENGINES", bad.to_str().unwrap())]);
    let out = env.run(&["up", t.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("swarm engine `lab-")
            && err.contains("(TLS)")
            && err.contains("invalid peer certificate"),
        "{err}"
    );
    // A key that is not there.
    let missing = env.files.path().join("missing.yaml");
    std::fs::write(&missing, text.replacen("client.key", "nosuch.key", 1)).unwrap();
    env.set_vars(&[("REDIS_DRILL_ENGINES", missing.to_str().unwrap())]);
    let out = env.run(&["up", t.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("engines.lab-1.tls.key"), "{err}");
    env.set_vars(&[]);
    assert_engines_clean(sockets, "refused engines files");
}

/// The lab's engines reached over SSH (`engines-ssh.yaml`: each engine's
/// socket forwarded by an `ssh -N -L` the tool starts, to the lab's sshd in
/// that engine's namespace): `up` of the linked topology (its helpers made
/// and exec'd in through the tunnels), `status`, a kill and start, `down`
/// leaving nothing on any engine and no `ssh` or tunnel folder on this
/// machine; a key the host does not take is the environment, named.
fn engines_over_ssh(env: &Env, sockets: &[(String, String)]) {
    let root = std::path::Path::new(&sockets[0].1)
        .parent()
        .and_then(std::path::Path::parent)
        .unwrap();
    let ssh_file = root.join("engines-ssh.yaml");
    let text = std::fs::read_to_string(&ssh_file)
        .unwrap_or_else(|e| panic!("{}: {e} (is sshd installed?)", ssh_file.display()));
    assert_eq!(text.matches("ssh://root@10.213.0.").count(), 3, "{text}");
    let tunnels = || {
        let ssh = common::processes_mentioning(std::path::Path::new("redis-drill-ssh-"));
        let dirs = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("redis-drill-ssh-")
            })
            .count();
        (ssh.len(), dirs)
    };
    let before = tunnels();
    env.set_vars(&[("REDIS_DRILL_ENGINES", ssh_file.to_str().unwrap())]);
    up_kill_start_down(env, sockets, "swarm-3-region-links.yaml", "s1n2", "SSH");
    let t = topology("swarm-3-region-links.yaml");

    // A drill whose clients are all workers runs over remote engines (the
    // controller cannot join their networks): a worker on each
    // region's engine, its clock estimated over the tunnel (no shared
    // clock to check it against here), each back after the failover.
    let drill = env.drill(
        &common::scenario_path("swarm-failover-workers.yaml"),
        &["--seed", "1"],
    );
    // Every SLO about the failover and the data passes; the rejoin is
    // judged on its figure, as in the failover drill above (a run here on
    // 2026-11-29 over SSH: 7.3 s, the engine 7 s late starting the task).
    let timing = drill.assert_passes_but_timing_as_measured(
        "the all-worker failover drill over SSH",
        &["max_rejoin_ms"],
    );
    eprintln!("swarm-failover-workers: exit {:?}; {timing}", drill.code);
    let report = drill.report.as_ref().expect("its report");
    let hosts: Vec<(&str, &str, u64)> = (report.client_libraries.iter())
        .filter_map(|l| {
            let w = l.worker.as_ref()?;
            Some((l.name.as_str(), w.host.as_str(), w.uncertainty_ns?))
        })
        .collect();
    assert_eq!(hosts.len(), 3, "{hosts:?}");
    for (i, (_, host, u)) in hosts.iter().enumerate() {
        assert_eq!(*host, format!("lab-{}", i + 1), "{hosts:?}");
        assert!(*u < 5_000_000, "{hosts:?}");
    }
    workers_recovered(report, "failover over SSH");
    assert_engines_clean(sockets, "the all-worker drill over SSH");
    assert_eq!(
        tunnels(),
        before,
        "an ssh tunnel or its folder outlived the commands"
    );

    // A key the lab's sshd does not know.
    let other = tempfile::tempdir().unwrap();
    let key = other.path().join("id");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(made.status.success());
    let lab_key = root.join("ssh").join("id_ed25519");
    let bad = env.files.path().join("other-key.yaml");
    std::fs::write(
        &bad,
        text.replace(lab_key.to_str().unwrap(), key.to_str().unwrap()),
    )
    .unwrap();
    env.set_vars(&[("REDIS_DRILL_ENGINES", bad.to_str().unwrap())]);
    let out = env.run(&["up", t.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("swarm engine `lab-")
            && err.contains("no SSH tunnel")
            && err.contains("Permission denied"),
        "{err}"
    );
    env.set_vars(&[]);
    assert_engines_clean(sockets, "a refused SSH key");
    assert_eq!(tunnels(), before, "a refused tunnel left something");
}

/// Through the engines file set now (over `over`): `topology` up, every
/// node on an engine in `status`, `node` killed and started, `down`
/// leaving nothing on any engine.
fn up_kill_start_down(
    env: &Env,
    sockets: &[(String, String)],
    topology_file: &str,
    node: &str,
    over: &str,
) {
    let name = common::unique_name("swarm-remote");
    let t = topology(topology_file);
    let out = env.run(&["up", t.to_str().unwrap(), "--name", &name]);
    assert!(
        out.status.success(),
        "up over {over}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: StatusReport = env.json(&["status", "--name", &name, "--json"]);
    assert_eq!(status.nodes.len(), 6);
    for n in &status.nodes {
        assert!(n.host.is_some() && n.error.is_none(), "{n:?}");
    }
    for action in ["kill", "start"] {
        assert!(
            env.run(&[action, node, "--name", &name]).status.success(),
            "{action} over {over}"
        );
    }
    assert!(env.run(&["down", "--name", &name]).status.success());
    assert_engines_clean(sockets, &format!("down over {over}"));
}

/// Each region's clients ran as a worker on that region's engine, its
/// clock offset estimated within its uncertainty of the truth (the lab's
/// engines share this machine's clock), the uncertainty small, every ok op
/// of its on the run's own time axis.
fn workers_on_their_engines(report: &redis_drill::report::Report, drill: &str) {
    let workers: Vec<_> = (report.client_libraries.iter())
        .filter_map(|l| l.worker.as_ref().map(|w| (l, w)))
        .collect();
    let hosts: Vec<(&str, &str)> = (workers.iter())
        .map(|(l, w)| (l.name.as_str(), w.host.as_str()))
        .collect();
    assert_eq!(
        hosts,
        [
            ("redis-rs@eu-west", "lab-1"),
            ("redis-rs@us-east", "lab-2"),
            ("redis-rs@ap-south", "lab-3")
        ],
        "{drill}: a worker on each region's engine"
    );
    for (l, w) in workers {
        let u = w.uncertainty_ns.expect("the clock estimated at both ends");
        let truth = w.truth_ns.expect("the lab's engines share one clock");
        let err = w.error_ns.unwrap();
        assert!(
            err <= u && u < 5_000_000,
            "{drill}: {}: offset {} ns, truth {truth}, error {err} ns, uncertainty {u} ns",
            l.name,
            w.sync.start.offset_ns
        );
        assert!(l.problem.is_none(), "{drill}: {}: {:?}", l.name, l.problem);
        assert!(l.summary.ops_ok > 0, "{drill}: {}: no op answered", l.name);
        // Its times mapped onto the run's clock: its last ok op within the
        // drill's minute, not as far off as the worker's own clock (the machine's uptime).
        assert!(
            l.ok_per_bucket.len() < 1200,
            "{drill}: {}: ok ops {} s into the run",
            l.name,
            l.ok_per_bucket.len() / 10
        );
    }
}

/// Every worker came back after the killed primary's failover: its
/// longest downtime within 3 x the node timeout (the failover drill's own
/// `max_app_downtime_ms`) and ok ops in the `after` phase. A worker whose
/// one connection carried every op of its group once timed out every op
/// from the kill to the end of the run (17 s).
fn workers_recovered(report: &redis_drill::report::Report, drill: &str) {
    for l in report
        .client_libraries
        .iter()
        .filter(|l| l.worker.is_some())
    {
        assert!(l.problem.is_none(), "{drill}: {}: {:?}", l.name, l.problem);
        assert!(
            l.downtime_ms <= 15_000.0,
            "{drill}: {}: down {} ms",
            l.name,
            l.downtime_ms
        );
        // From the start of `after` (the failover over, the old primary
        // back) on. Not the buckets' last 3 s: they run to the workload's
        // stop, which in a run over SSH here came 17 s after the last op
        // was due (where those 17 s went was not looked into).
        let after = report
            .phases
            .iter()
            .find(|p| p.name == "after")
            .expect("an `after` phase");
        let from = (after.start_ms / 100.0) as usize;
        let answered: u32 = l.ok_per_bucket.iter().skip(from).sum();
        assert!(
            answered > 0,
            "{drill}: {}: no op answered from `after`'s start ({} ms) on",
            l.name,
            after.start_ms
        );
    }
}

/// SIGINT at moments spread over a drill's whole life (bring-up, load,
/// workload, the fault, the checks, the teardown), each a little random:
/// every interrupted run leaves nothing on any engine.
#[test]
fn an_interrupted_swarm_drill_leaves_nothing_on_any_engine() {
    if !docker_or_skip("swarm interrupt") || !root_or_skip("swarm interrupt") {
        return;
    }
    let env = Env::new("swarm");
    let _turn = LAB.lock().unwrap_or_else(|p| p.into_inner());
    let _lab = LabGuard(&env);
    let sockets = lab_up(&env);
    let seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("interrupt seed {seed}");
    let mut x = seed | 1;
    let scenario = common::scenario_path("swarm-failover.yaml");
    let out_dir = env.files.path().join("runs");
    // The failover drill takes about 30 s here: up at 0-5 s, the workload
    // from about 6 s, the kill at about 8 s, its start at about 20 s.
    for base_ms in [300u64, 3_000, 9_000, 21_000] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = std::time::Duration::from_millis(base_ms + x % 1_500);
        let mut child = env
            .command(&[
                "run",
                scenario.to_str().unwrap(),
                "--seed",
                "1",
                "--out",
                out_dir.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn run");
        let started = std::time::Instant::now();
        while started.elapsed() < at && child.try_wait().unwrap().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                started.elapsed() < at + std::time::Duration::from_secs(90),
                "the drill did not exit after SIGINT at {at:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        eprintln!("SIGINT at {at:?}: exit {:?}", status.code());
        assert!(
            matches!(status.code(), Some(130) | Some(0)),
            "SIGINT at {at:?}: exit {:?}",
            status.code()
        );
        assert_engines_clean(&sockets, &format!("a drill interrupted at {at:?}"));
    }
}
