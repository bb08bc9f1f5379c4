//! Drills on deployments redis-drill did not start: plain redis-server
//! processes this test starts itself, and a cluster brought up by
//! docker-compose from the project's own `compose/cluster-3x1-fast.yml`,
//! whose nodes a `kill` hook stops with `docker kill`. Each drill must leave
//! the deployment as it found it (no drill key left, nothing of the tool's
//! remembered), refuse what it cannot do there before anything runs, and
//! turn a hook that fails or hangs into an `unknown` verdict.

mod common;
#[path = "common/redis_procs.rs"]
mod redis_procs;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::bounded::Bounded as _;
use common::{Env, docker_or_skip, wait_until};
use redis_drill::exit;
use redis_drill::report::Verdict;

/// `redis-cli -h HOST -p PORT ARGS...`, its stdout trimmed.
fn cli(addr: SocketAddr, args: &[&str]) -> String {
    cli_as(addr, None, args)
}

/// [`cli`] over TLS with the admin password when `secured` says so.
fn cli_as(addr: SocketAddr, secured: Option<&Secured>, args: &[&str]) -> String {
    let mut c = Command::new("redis-cli");
    c.args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()]);
    if let Some(s) = secured {
        c.args(["--tls", "--cacert"])
            .arg(&s.ca.ca)
            .env("REDISCLI_AUTH", ADMIN_PASSWORD);
    }
    let out = c
        .args(args)
        .stdin(Stdio::null())
        .bounded_output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The default user's password on a secured deployment (the replicas'
/// `masterauth`, and the tests' redis-cli).
const ADMIN_PASSWORD: &str = "admin-pw-9b1f";
/// The ACL user the drill connects as, and its password.
const DRILL_USER: &str = "drill";
const DRILL_PASSWORD: &str = "drill-pw-51c3e07a";

/// What makes a deployment "as real ones are": TLS only (no plain port),
/// certificates from a throwaway CA made by the test, a password on the
/// default user and an ACL user for the drill.
struct Secured {
    _dir: tempfile::TempDir,
    ca: redis_drill::net::ca::CaFiles,
    /// A CA the servers' certificates do not come from.
    other_ca: std::path::PathBuf,
}

impl Secured {
    fn new() -> Secured {
        let dir = tempfile::tempdir().unwrap();
        let ip = "127.0.0.1".parse().unwrap();
        let ca = redis_drill::net::ca::make(dir.path(), &[ip], &[]).unwrap();
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        let other_ca = redis_drill::net::ca::make(&other, &[ip], &[]).unwrap().ca;
        Secured {
            _dir: dir,
            ca,
            other_ca,
        }
    }

    /// redis-server arguments: TLS on `port`, no plain port, replication
    /// over TLS, the passwords and the drill's ACL user.
    fn server_args(&self, port: u16) -> Vec<String> {
        let p = |x: &std::path::Path| x.display().to_string();
        let mut a: Vec<String> = ["--port", "0", "--tls-port", &port.to_string()]
            .map(String::from)
            .to_vec();
        for (k, v) in [
            ("--tls-cert-file", p(&self.ca.server_cert)),
            ("--tls-key-file", p(&self.ca.server_key)),
            ("--tls-ca-cert-file", p(&self.ca.ca)),
            ("--tls-auth-clients", "optional".into()),
            ("--tls-replication", "yes".into()),
            ("--requirepass", ADMIN_PASSWORD.into()),
            ("--masterauth", ADMIN_PASSWORD.into()),
        ] {
            a.push(k.into());
            a.push(v);
        }
        a.push("--user".into());
        a.extend(
            // Only the drill's own keys (plain and hash-tagged): the
            // servers themselves refuse the drill any other key.
            [
                DRILL_USER,
                "on",
                &format!(">{DRILL_PASSWORD}"),
                "~drill:*",
                "~{drill:*",
                "&*",
                "+@all",
            ]
            .map(String::from),
        );
        a
    }
}

fn dbsize(addr: SocketAddr) -> u64 {
    cli(addr, &["DBSIZE"]).parse().unwrap_or(u64::MAX)
}

/// Plain redis-server processes (no cluster), killed when dropped.
struct Plain {
    procs: Vec<(Child, SocketAddr)>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Drop for Plain {
    fn drop(&mut self) {
        for (c, _) in &mut self.procs {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Plain {
    /// A primary and `replicas` replicas of it, each answering PING and the
    /// replicas linked.
    fn start(replicas: usize) -> Plain {
        Plain::start_as(replicas, None)
    }

    /// [`Plain::start`], TLS and passwords as `secured` says.
    fn start_as(replicas: usize, secured: Option<&Secured>) -> Plain {
        let ports = redis_procs::free_ports(replicas + 1);
        let mut plain = Plain {
            procs: Vec::new(),
            _dirs: Vec::new(),
        };
        for (i, port) in ports.iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let mut cmd = Command::new("redis-server");
            match secured {
                None => cmd.args(["--port", &port.to_string()]),
                Some(s) => cmd.args(s.server_args(*port)),
            };
            cmd.args(["--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if i > 0 {
                cmd.args(["--replicaof", "127.0.0.1", &ports[0].to_string()]);
            }
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            plain.procs.push((cmd.spawn().expect("redis-server"), addr));
            plain._dirs.push(dir);
            wait_until("the server answers PING", Duration::from_secs(10), || {
                cli_as(addr, secured, &["PING"]) == "PONG"
            });
        }
        let primary = plain.addr(0);
        // Online, past the first sync (Redis waits 5 s for more replicas
        // before a diskless one).
        wait_until("the replicas online", Duration::from_secs(30), || {
            cli_as(primary, secured, &["INFO", "replication"])
                .matches("state=online")
                .count()
                == replicas
        });
        plain
    }

    fn addr(&self, i: usize) -> SocketAddr {
        self.procs[i].1
    }

    /// `n1=ADDR,n2=ADDR,...`
    fn seeds(&self) -> String {
        (self.procs.iter().enumerate())
            .map(|(i, (_, a))| format!("n{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The external runtime's folder beside the test's state dir: empty (gone)
/// when nothing is remembered.
fn nothing_remembered(env: &Env) {
    let mut name = env.state.path().file_name().unwrap().to_os_string();
    name.push("-attached");
    let dir = env.state.path().with_file_name(name);
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "attached deployments left remembered: {left:?}"
    );
}

#[test]
fn a_primary_with_replicas_is_drilled_through_redis_and_left_as_found() {
    let env = Env::new("process");
    let plain = Plain::start(2);
    // Someone else's key, outside the drill's prefix: never read, never touched.
    assert_eq!(cli(plain.addr(0), &["SET", "orders:1", "theirs"]), "OK");
    let scenario = Path::new("scenarios/replica-promotion-coordinated.yaml");
    let seeds = plain.seeds();
    let d = env.drill(scenario, &["--attach", &seeds]);
    // A verdict on measured figures: pass or fail, never an error or unknown.
    let report = d.report();
    assert!(
        matches!(d.code, Some(0) | Some(1)),
        "exit {:?}: {}",
        d.code,
        d.output()
    );
    assert_ne!(report.verdict, Verdict::Unknown, "{}", d.output());
    let a = report.attached.as_ref().expect("the attached section");
    assert_eq!(a.keys_deleted, Some(10_000), "{a:?}");
    assert_eq!(a.servers.len(), 3);
    assert!(a.servers.iter().all(|s| s.version.starts_with("redis ")));
    // The promotion went through Redis itself: FAILOVER, no hook.
    assert!(report.faults.iter().all(|f| f.hooks.is_empty()));
    // Left as found: the servers up, their key there, no drill key.
    for i in 0..3 {
        assert_eq!(cli(plain.addr(i), &["PING"]), "PONG");
    }
    let primary = (0..3)
        .map(|i| plain.addr(i))
        .find(|a| cli(*a, &["ROLE"]).starts_with("master"))
        .expect("a primary");
    wait_until("the replicas caught up", Duration::from_secs(10), || {
        (0..3).all(|i| dbsize(plain.addr(i)) == 1)
    });
    assert_eq!(cli(primary, &["GET", "orders:1"]), "theirs");
    nothing_remembered(&env);
}

#[test]
fn a_deployment_behind_tls_and_an_acl_user_is_drilled_as_one_without() {
    let env = Env::new("process");
    let secured = Secured::new();
    let plain = Plain::start_as(2, Some(&secured));
    let seeds = plain.seeds();
    let scenario = Path::new("scenarios/replica-promotion-coordinated.yaml");
    let ca = secured.ca.ca.display().to_string();
    let other_ca = secured.other_ca.display().to_string();

    // Each wrong setting: the environment (exit 3), naming the node and
    // what to fix; the wrong password in no output.
    let wrong_pw = "not-the-password-7d2";
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[], "REDIS_DRILL_TLS_CA"),
        (
            &[
                ("REDIS_DRILL_TLS_CA", &ca),
                ("REDIS_DRILL_USER", DRILL_USER),
                ("REDIS_DRILL_PASSWORD", wrong_pw),
            ],
            "refused the user and password",
        ),
        (
            &[
                ("REDIS_DRILL_TLS_CA", &other_ca),
                ("REDIS_DRILL_USER", DRILL_USER),
                ("REDIS_DRILL_PASSWORD", DRILL_PASSWORD),
            ],
            "certificate",
        ),
    ];
    for (vars, says) in cases {
        env.set_vars(vars);
        let d = env.drill(scenario, &["--attach", &seeds]);
        d.assert_code(exit::ENVIRONMENT);
        assert!(
            d.stderr.contains("n1") && d.stderr.contains(says),
            "{}",
            d.stderr
        );
        assert!(!d.output().contains(wrong_pw), "{}", d.output());
    }
    nothing_remembered(&env);
    for i in 0..3 {
        assert_eq!(cli_as(plain.addr(i), Some(&secured), &["DBSIZE"]), "0");
    }

    // The right ones: the drill runs as it does on a plain deployment.
    for i in 0..3 {
        assert_eq!(
            cli_as(plain.addr(i), Some(&secured), &["ACL", "LOG", "RESET"]),
            "OK"
        );
    }
    env.set_vars(&[
        ("REDIS_DRILL_TLS_CA", &ca),
        ("REDIS_DRILL_USER", DRILL_USER),
        ("REDIS_DRILL_PASSWORD", DRILL_PASSWORD),
    ]);
    let d = env.drill(scenario, &["--attach", &seeds]);
    let report = d.report();
    assert!(
        matches!(d.code, Some(0) | Some(1)),
        "exit {:?}: {}",
        d.code,
        d.output()
    );
    assert_ne!(report.verdict, Verdict::Unknown, "{}", d.output());
    let a = report.attached.as_ref().expect("the attached section");
    assert_eq!(a.keys_deleted, Some(10_000), "{a:?}");
    assert_eq!(
        a.security.tls.as_ref().map(|t| t.ca.display().to_string()),
        Some(ca.clone())
    );
    assert_eq!(
        a.security.auth.as_ref().and_then(|u| u.user.as_deref()),
        Some(DRILL_USER)
    );
    // Every connection authenticated as the ACL user, which may touch no
    // key but the drill's: a failed AUTH or a refused key or command would
    // be in a server's ACL LOG.
    for i in 0..3 {
        assert_eq!(cli_as(plain.addr(i), Some(&secured), &["ACL", "LOG"]), "");
    }
    // The password is written nowhere: not in the output, not in a file of
    // the run's folder.
    assert!(!d.output().contains(DRILL_PASSWORD));
    let run_dir = d.run_dir();
    let mut files = 0;
    for entry in walk(run_dir) {
        files += 1;
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(DRILL_PASSWORD),
            "{} holds the password",
            entry.display()
        );
    }
    assert!(files >= 3, "the run folder's files: {files}");
    for i in 0..3 {
        assert_eq!(cli_as(plain.addr(i), Some(&secured), &["DBSIZE"]), "0");
    }
    nothing_remembered(&env);
}

/// Six cluster nodes as [`Secured`] makes them, the cluster bus and
/// replication over TLS too, made a cluster of three primaries with a
/// replica each by `redis-cli --cluster create` (not by redis-drill).
fn secured_cluster(secured: &Secured) -> Plain {
    let ports = redis_procs::free_ports(12);
    let mut plain = Plain {
        procs: Vec::new(),
        _dirs: Vec::new(),
    };
    for i in 0..6 {
        let (port, bus) = (ports[2 * i], ports[2 * i + 1]);
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("redis-server");
        cmd.args(secured.server_args(port))
            .args(["--bind", "127.0.0.1", "--tls-cluster", "yes"])
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                &bus.to_string(),
            ])
            .args([
                "--cluster-node-timeout",
                "2000",
                "--cluster-config-file",
                "nodes.conf",
            ])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--repl-diskless-sync-delay",
                "0",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        plain.procs.push((cmd.spawn().expect("redis-server"), addr));
        plain._dirs.push(dir);
        wait_until("the server answers PING", Duration::from_secs(10), || {
            cli_as(addr, Some(secured), &["PING"]) == "PONG"
        });
    }
    let created = Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(&secured.ca.ca)
        .env("REDISCLI_AUTH", ADMIN_PASSWORD)
        .args(["--cluster", "create"])
        .args(plain.procs.iter().map(|(_, a)| a.to_string()))
        .args(["--cluster-replicas", "1", "--cluster-yes"])
        .stdin(Stdio::null())
        .bounded_output()
        .expect("redis-cli --cluster create runs");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stdout)
    );
    wait_until(
        "every node sees the cluster ok",
        Duration::from_secs(30),
        || {
            (0..6).all(|i| {
                let info = cli_as(plain.addr(i), Some(secured), &["CLUSTER", "INFO"]);
                info.contains("cluster_state:ok")
                    && info.contains("cluster_known_nodes:6")
                    && cli_as(plain.addr(i), Some(secured), &["CLUSTER", "NODES"])
                        .matches("slave")
                        .count()
                        == 3
            })
        },
    );
    plain
}

#[test]
fn a_cluster_behind_tls_fails_over_through_redis_under_an_acl_user() {
    let env = Env::new("process");
    let secured = Secured::new();
    let cluster = secured_cluster(&secured);
    let seeds = cluster.procs[0].1.to_string();
    let creds = env.write(
        "credentials.yaml",
        &format!(
            "user: {DRILL_USER}\npassword: {DRILL_PASSWORD}\ntls:\n  ca: {}\n",
            secured.ca.ca.display()
        ),
    );
    // Named by a `kind: external` file, its credentials file beside it.
    assert_eq!(creds.parent(), Some(env.files.path()));
    let staging = env.write(
        "staging.yaml",
        &format!(
            "name: staging\nkind: external\nexternal:\n  seeds: [{seeds}]\n  credentials: credentials.yaml\n"
        ),
    );
    let d = env.drill(
        Path::new("scenarios/cluster-manual-failover.yaml"),
        &["--attach", staging.to_str().unwrap()],
    );
    let report = d.report();
    assert!(
        matches!(d.code, Some(0) | Some(1)),
        "exit {:?}: {}",
        d.code,
        d.output()
    );
    assert_ne!(report.verdict, Verdict::Unknown, "{}", d.output());
    let a = report.attached.as_ref().expect("the attached section");
    assert_eq!(a.servers.len(), 6);
    assert_eq!(a.keys_deleted, Some(10_000), "{a:?}");
    assert!(a.security.tls.is_some() && a.security.auth.is_some());
    // The failover was carried out (through CLUSTER FAILOVER).
    assert!(
        report.faults.len() == 1 && report.faults[0].skipped.is_none(),
        "{:?}",
        report.faults
    );
    for i in 0..6 {
        assert_eq!(cli_as(cluster.addr(i), Some(&secured), &["ACL", "LOG"]), "");
    }
    let check = Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(&secured.ca.ca)
        .env("REDISCLI_AUTH", ADMIN_PASSWORD)
        .args(["--cluster", "check", &seeds])
        .stdin(Stdio::null())
        .bounded_output()
        .expect("redis-cli --cluster check runs");
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success()
            && text.contains("[OK] All 16384 slots covered")
            && text.contains("0 keys"),
        "{text}"
    );
    nothing_remembered(&env);
}

/// A drill whose fault could not be carried out is `unknown` (exit 4) —
/// unless an SLO it did measure failed, which makes it a FAIL (exit 1) as
/// anywhere (on a loaded machine the published ports' p99 after can pass
/// 50 ms). Either way `hooks_ok` and `faults_performed` are unknown.
fn assert_unknown_unless_measured_failure(d: &common::Drilled) {
    let r = d.report();
    let failed: Vec<&str> = (r.slo.iter())
        .filter(|s| s.result == Verdict::Fail)
        .map(|s| s.name.as_str())
        .collect();
    let want = if failed.is_empty() {
        exit::UNKNOWN
    } else {
        exit::CHECK_FAILED
    };
    assert_eq!(d.code, Some(want), "failed SLOs {failed:?}: {}", d.output());
    for name in ["hooks_ok", "faults_performed"] {
        let s = r.slo.iter().find(|s| s.name == name);
        assert_eq!(s.map(|s| s.result), Some(Verdict::Unknown), "{name}");
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn attach_status_and_down_never_touch_the_servers() {
    let env = Env::new("process");
    let plain = Plain::start(1);
    let name = common::unique_name("att");
    let seeds = plain.seeds();
    // Addresses need a name; a `kind: external` file has one, and is
    // attached, never brought up.
    let out = env.run(&["attach", &seeds]);
    assert_eq!(out.status.code(), Some(exit::BAD_INPUT));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--name NAME is needed"));
    let list = seeds.split(',').collect::<Vec<_>>().join(", ");
    let file = env.write(
        "deployment.yaml",
        &format!("name: {name}\nkind: external\nexternal:\n  seeds: [{list}]\n"),
    );
    let file = file.to_str().unwrap();
    let up = env.run(&["up", file]);
    assert_eq!(up.status.code(), Some(exit::BAD_INPUT));
    let err = String::from_utf8_lossy(&up.stderr);
    assert!(
        err.contains("deployment.yaml:2:1: kind: `kind: external` names a deployment redis-drill did not start"),
        "{err}"
    );
    let out = env.run(&["attach", file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("replicated deployment of 2 node(s)"),
        "{text}"
    );
    let status = env.status(&name);
    assert_eq!(status.nodes.len(), 2);
    // Node faults need a hook here: refused, naming the hook, nothing done.
    let kill = env.run(&["kill", "n1", "--name", &name]);
    assert_eq!(kill.status.code(), Some(exit::BAD_INPUT));
    assert!(String::from_utf8_lossy(&kill.stderr).contains("give a `kill` hook"));
    let down = env.run(&["down", "--name", &name]);
    assert!(down.status.success());
    assert_eq!(cli(plain.addr(0), &["PING"]), "PONG");
    assert_eq!(cli(plain.addr(1), &["PING"]), "PONG");
    nothing_remembered(&env);
}

#[test]
fn what_cannot_be_done_on_an_attached_deployment_is_refused_before_anything_runs() {
    let env = Env::new("process");
    let plain = Plain::start(1);
    let seeds = plain.seeds();
    // An address that does not answer: the environment, naming it.
    let dead = format!("127.0.0.1:{}", redis_procs::free_ports(1)[0]);
    let d = env.drill(
        Path::new("scenarios/replica-promotion-coordinated.yaml"),
        &["--attach", &dead],
    );
    d.assert_code(exit::ENVIRONMENT);
    assert!(
        d.stderr.contains(&dead) && d.stderr.contains("does not answer"),
        "{}",
        d.stderr
    );
    // A kill without a kill hook: bad input, before a key is written.
    let killing = env.write(
        "kill.yaml",
        &format!(
            "name: kill-primary\ntopology: {}/topologies/replicated-1x2.yaml\nworkload: {{clients: 2, model: {{open: {{rate: 200}}}}, keys: 100}}\nbaseline_ms: 500\nfaults:\n  - {{fault: kill, target: primary_of:0, at_ms: 0, hold_ms: 1000}}\nslo:\n  max_app_downtime_ms: 5000\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    );
    let d = env.drill(&killing, &["--attach", &seeds]);
    d.assert_code(exit::BAD_INPUT);
    assert!(
        d.stderr.contains("`kill` only through a hook"),
        "{}",
        d.stderr
    );
    assert_eq!(dbsize(plain.addr(0)), 0);
    // A key under the drill's prefix already: refused, the key kept.
    assert_eq!(cli(plain.addr(0), &["SET", "drill:7", "someone's"]), "OK");
    let d = env.drill(
        Path::new("scenarios/replica-promotion-coordinated.yaml"),
        &["--attach", &seeds],
    );
    d.assert_code(exit::BAD_INPUT);
    assert!(
        d.stderr
            .contains("already holds keys under the drill's prefix"),
        "{}",
        d.stderr
    );
    assert_eq!(cli(plain.addr(0), &["GET", "drill:7"]), "someone's");
    assert_eq!(dbsize(plain.addr(0)), 1);
    // A hooks file with a placeholder it does not know: named, bad input.
    let hooks = env.write("hooks.yaml", "kill: \"kill {pid}\"\n");
    let d = env.drill(
        Path::new("scenarios/replica-promotion-coordinated.yaml"),
        &["--attach", &seeds, "--hooks", hooks.to_str().unwrap()],
    );
    d.assert_code(exit::BAD_INPUT);
    assert!(
        d.stderr.contains("hooks.yaml") && d.stderr.contains("{pid}"),
        "{}",
        d.stderr
    );
    nothing_remembered(&env);
}

/// A compose project of the project's own cluster file, taken down (with
/// its volumes) when dropped.
struct Compose {
    project: String,
}

const COMPOSE_FILE: &str = "compose/cluster-3x1-fast.yml";

impl Compose {
    fn up() -> Compose {
        let c = Compose {
            project: format!("rdattach{}", std::process::id()),
        };
        c.run(&["down", "-v"]);
        let up = c.run(&["up", "-d"]);
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
        // `cluster-create` (redis-cli --cluster create) has ended, then
        // every node says the cluster is ok: a cluster still being made
        // would be attached as six primaries.
        let created = Command::new("timeout")
            .args([
                "90",
                "docker",
                "wait",
                &format!("{}_cluster-create_1", c.project),
            ])
            .bounded_output()
            .expect("docker wait runs");
        assert_eq!(
            String::from_utf8_lossy(&created.stdout).trim(),
            "0",
            "cluster-create failed"
        );
        wait_until("the compose cluster ok", Duration::from_secs(90), || {
            Compose::addrs().iter().all(|a| {
                let info = cli(*a, &["CLUSTER", "INFO"]);
                info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:6")
            })
        });
        c
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker-compose")
            .args(["-f", COMPOSE_FILE, "-p", &self.project])
            .args(args)
            .stdin(Stdio::null())
            .bounded_output()
            .expect("docker-compose runs")
    }

    /// Every service by its compose name at its published port.
    fn seeds(&self) -> String {
        ["s1n1", "s1n2", "s2n1", "s2n2", "s3n1", "s3n2"]
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{n}=127.0.0.1:{}", 7001 + i))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn addrs() -> Vec<SocketAddr> {
        (7001..=7006)
            .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
            .collect()
    }

    /// `redis-cli --cluster check` from inside the cluster's network.
    fn cluster_check(&self) -> String {
        let out = Command::new("docker")
            .args(["exec", &format!("{}_s1n1_1", self.project)])
            .args(["redis-cli", "--cluster", "check", "172.29.27.11:6379"])
            .stdin(Stdio::null())
            .bounded_output()
            .expect("docker exec runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let down = self.run(&["down", "-v"]);
        if !down.status.success() {
            eprintln!(
                "docker-compose down: {}",
                String::from_utf8_lossy(&down.stderr)
            );
        }
    }
}

#[test]
fn a_compose_cluster_fails_over_under_a_docker_kill_hook_and_is_left_as_found() {
    if !docker_or_skip("a_compose_cluster_fails_over_under_a_docker_kill_hook_and_is_left_as_found")
    {
        return;
    }
    let env = Env::new("docker");
    // The compose file runs the image the tool builds.
    let built = env.run(&["image", "build"]);
    assert!(built.status.success());
    let compose = Compose::up();
    let p = &compose.project;
    let hooks = env.write(
        "hooks.yaml",
        &format!(
            "timeout_ms: 30000\nkill: \"docker kill {p}_{{seed}}_1\"\nstart: \"docker start {p}_{{seed}}_1\"\n"
        ),
    );
    let hooks = hooks.to_str().unwrap();
    let seeds = compose.seeds();
    let failover = Path::new("scenarios/cluster-failover.yaml");
    let d = env.drill(failover, &["--attach", &seeds, "--hooks", hooks]);
    let report = d.report();
    assert!(
        matches!(d.code, Some(0) | Some(1)),
        "exit {:?}: {}",
        d.code,
        d.output()
    );
    assert_ne!(report.verdict, Verdict::Unknown, "{}", d.output());
    // The kill and the start went through the hooks, each exit 0, on the
    // run's clock; the failover was measured from the watcher.
    let f = &report.faults[0];
    let hooks_run: Vec<(&str, Option<i32>)> = f
        .hooks
        .iter()
        .map(|h| (h.hook.as_str(), h.exit_code))
        .collect();
    assert_eq!(hooks_run, [("kill", Some(0)), ("start", Some(0))], "{f:?}");
    assert!(
        f.hooks[0]
            .command
            .starts_with(&format!("docker kill {p}_s"))
    );
    assert!(!f.failover.is_empty(), "{f:?}");
    let a = report.attached.as_ref().expect("the attached section");
    assert_eq!(a.keys_deleted, Some(10_000));
    assert!(
        a.actions.iter().any(|x| x.what.contains("through hooks")),
        "{:?}",
        a.actions
    );
    // As found, apart from the failover itself.
    for addr in Compose::addrs() {
        assert_eq!(dbsize(addr), 0, "{addr} keeps drill keys");
    }
    // Settled before the next drill: the check ok, and no node still
    // flagging another as failing (the restarted one is cleared by
    // gossip a few seconds later), so the next drill's convergence is its own.
    wait_until("the cluster check ok", Duration::from_secs(30), || {
        let check = compose.cluster_check();
        check.contains("[OK] All 16384 slots covered.")
            && !check.contains("[ERR]")
            && Compose::addrs()
                .into_iter()
                .all(|a| !cli(a, &["CLUSTER", "NODES"]).contains("fail"))
    });

    // A kill hook that fails: the drill goes on without the fault, the
    // start hook undoes whatever it did, the verdict is unknown.
    let failing = env.write(
        "failing.yaml",
        &format!("kill: \"echo no such pod {{node}} >&2; exit 7\"\nstart: \"docker start {p}_{{seed}}_1\"\n"),
    );
    let d = env.drill(
        failover,
        &["--attach", &seeds, "--hooks", failing.to_str().unwrap()],
    );
    let r = d.report();
    assert_unknown_unless_measured_failure(&d);
    let slo = |name: &str| r.slo.iter().find(|s| s.name == name).map(|s| s.result);
    assert_eq!(slo("hooks_ok"), Some(Verdict::Unknown));
    assert_eq!(slo("faults_performed"), Some(Verdict::Unknown));
    let hooks_run: Vec<&str> = r.faults[0].hooks.iter().map(|h| h.hook.as_str()).collect();
    assert_eq!(hooks_run, ["kill", "start"]);
    assert!(r.faults[0].hooks[0].output.contains("no such pod"));

    // A kill hook that hangs: killed at its timeout, unknown again, and
    // nothing of it left running.
    let hanging = env.write(
        "hanging.yaml",
        "timeout_ms: 1000\nkill: \"sleep 300; echo never-reached-{node}\"\nstart: \"true\"\n",
    );
    let d = env.drill(
        failover,
        &["--attach", &seeds, "--hooks", hanging.to_str().unwrap()],
    );
    assert_unknown_unless_measured_failure(&d);
    let h = &d.report().faults[0].hooks[0];
    assert!(
        h.timed_out && h.end_ns - h.start_ns < 5_000_000_000,
        "{h:?}"
    );
    let sleeping = Command::new("pgrep")
        .args(["-f", "never-reached-"])
        .bounded_output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&sleeping.stdout).trim().is_empty(),
        "the hook's shell is left"
    );

    // Read-only: the same drill without a single write from the drill, as
    // the servers' own counters show (CONFIG RESETSTAT is not sent either).
    // Per node: its run id (a restart changes it) and the writes it counted.
    let writes = || -> Vec<(String, u64)> {
        Compose::addrs()
            .iter()
            .map(|a| {
                let run_id = cli(*a, &["INFO", "server"])
                    .lines()
                    .find_map(|l| l.strip_prefix("run_id:").map(str::to_string))
                    .unwrap_or_default();
                let counted = cli(*a, &["INFO", "commandstats"])
                    .lines()
                    .filter(|l| {
                        [
                            "cmdstat_set:",
                            "cmdstat_del:",
                            "cmdstat_unlink:",
                            "cmdstat_incr:",
                        ]
                        .iter()
                        .any(|c| l.starts_with(c))
                    })
                    .filter_map(|l| {
                        l.split("calls=")
                            .nth(1)?
                            .split(',')
                            .next()?
                            .parse::<u64>()
                            .ok()
                    })
                    .sum::<u64>();
                (run_id, counted)
            })
            .collect()
    };
    let before = writes();
    let d = env.drill(
        failover,
        &["--attach", &seeds, "--hooks", hooks, "--read-only"],
    );
    assert!(
        matches!(d.code, Some(0) | Some(1) | Some(4)),
        "exit {:?}: {}",
        d.code,
        d.output()
    );
    let r = d.report();
    assert!(r.attached.as_ref().unwrap().read_only);
    assert!(
        r.workload.app.ops_ok > 1000,
        "reads ran: {:?}",
        r.workload.app
    );
    // A node that stayed up counted no new write; a node killed and started
    // again counts from zero, and counted none since.
    let after = writes();
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if a.0 == b.0 {
            assert_eq!(
                a.1, b.1,
                "node {i} counted writes during the read-only drill"
            );
        } else {
            assert_eq!(
                a.1, 0,
                "node {i} (restarted) counted writes during the read-only drill"
            );
        }
    }
    nothing_remembered(&env);
}

#[test]
fn a_stall_goes_through_redis_itself_and_needs_no_hook() {
    let env = Env::new("process");
    let plain = Plain::start(1);
    let seeds = plain.seeds();
    let scenario = env.write(
        "stall.yaml",
        &format!(
            "name: stall-attached\ntopology: {}/topologies/replicated-1x2.yaml\nworkload: {{clients: 2, probe_clients: 1, model: {{open: {{rate: 400}}}}, keys: 500, timeout_ms: 5000}}\nbaseline_ms: 1000\nsettle_ms: 1000\nfaults:\n  - {{fault: stall_writes, target: primary_of:0, at_ms: 0, hold_ms: 1500}}\nslo:\n  max_lost_acknowledged_writes: 0\n  max_app_failed_ops: 0\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    );
    let d = env.drill(&scenario, &["--attach", &seeds]);
    assert!(
        matches!(d.code, Some(0) | Some(1)),
        "exit {:?}: {}",
        d.code,
        d.output()
    );
    let f = &d.report().faults[0];
    assert!(f.hooks.is_empty() && f.skipped.is_none(), "{f:?}");
    assert!(
        f.detail
            .starts_with("CLIENT PAUSE 1500 WRITE: not a SIGSTOP"),
        "{}",
        f.detail
    );
    // Undone by CLIENT UNPAUSE after its hold; the writes waited it out.
    let held = f.undone_ms.unwrap() - f.applied_ms;
    assert!((1400.0..3000.0).contains(&held), "held {held} ms");
    let p99_during = d.report().workload.app.latency_ms["during"].p99;
    assert!(
        p99_during > 500.0,
        "writes did not wait: p99 {p99_during} ms"
    );
    assert_eq!(cli(plain.addr(0), &["PING"]), "PONG");
    assert_eq!(dbsize(plain.addr(0)), 0);

    // CLIENT KILL of every client: through Redis too, the clients reconnect.
    let dropping = env.write(
        "drop.yaml",
        &format!(
            "name: drop-attached\ntopology: {}/topologies/replicated-1x2.yaml\nworkload: {{clients: 2, probe_clients: 1, model: {{open: {{rate: 400}}}}, keys: 500, timeout_ms: 500}}\nbaseline_ms: 1000\nsettle_ms: 1000\nfaults:\n  - {{fault: drop_clients, target: primary_of:0, at_ms: 0}}\nslo:\n  max_lost_acknowledged_writes: 0\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    );
    let d = env.drill(&dropping, &["--attach", &seeds]);
    assert!(matches!(d.code, Some(0) | Some(1)), "{}", d.output());
    let f = &d.report().faults[0];
    assert!(f.hooks.is_empty() && f.skipped.is_none(), "{f:?}");
    // The count is Redis's own reply: at least the drill's 3 clients' and
    // the probe's connections to the primary were open.
    let closed: u64 = f
        .detail
        .split("closed (")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", f.detail));
    assert!(closed >= 3, "{}", f.detail);

    // DEBUG SLEEP where the server refuses DEBUG (Redis 7's default):
    // refused before anything runs, naming the node and the setting.
    let sleeping = env.write(
        "sleep.yaml",
        &format!(
            "name: sleep-attached\ntopology: {}/topologies/replicated-1x2.yaml\nworkload: {{clients: 2, model: {{open: {{rate: 400}}}}, keys: 500}}\nbaseline_ms: 500\nfaults:\n  - {{fault: sleep, target: primary_of:0, at_ms: 0, hold_ms: 500}}\nslo:\n  max_lost_acknowledged_writes: 0\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    );
    let d = env.drill(&sleeping, &["--attach", &seeds]);
    d.assert_code(exit::BAD_INPUT);
    assert!(
        d.stderr.contains("n1") && d.stderr.contains("enable-debug-command"),
        "{}",
        d.stderr
    );
    assert_eq!(dbsize(plain.addr(0)), 0);

    // CONFIG SET for the hold, the old value put back after: through Redis.
    let before = cli(plain.addr(0), &["CONFIG", "GET", "maxmemory-samples"]);
    let configuring = env.write(
        "config.yaml",
        &format!(
            "name: config-attached\ntopology: {}/topologies/replicated-1x2.yaml\nworkload: {{clients: 2, model: {{open: {{rate: 400}}}}, keys: 500}}\nbaseline_ms: 500\nsettle_ms: 500\nfaults:\n  - {{fault: config, target: primary_of:0, set: {{maxmemory-samples: 7}}, at_ms: 0, hold_ms: 500}}\nslo:\n  max_lost_acknowledged_writes: 0\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    );
    let d = env.drill(&configuring, &["--attach", &seeds]);
    assert!(matches!(d.code, Some(0) | Some(1)), "{}", d.output());
    let f = &d.report().faults[0];
    assert!(
        f.detail.contains("CONFIG SET maxmemory-samples 7") && f.detail.contains("was 5"),
        "{}",
        f.detail
    );
    assert!(f.undone_ms.is_some(), "{f:?}");
    assert_eq!(
        cli(plain.addr(0), &["CONFIG", "GET", "maxmemory-samples"]),
        before
    );
    assert_eq!(cli(plain.addr(0), &["PING"]), "PONG");
    assert_eq!(dbsize(plain.addr(0)), 0);
    nothing_remembered(&env);
}
