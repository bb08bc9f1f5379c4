//! Topologies the tool starts with `security:`: TLS on every port and an ACL
//! user, with a throwaway CA and a password made at bring-up. The drill
//! runs on them as on a plain one, every later command finds the
//! credentials by itself, nothing secret reaches the report, a plain or
//! password-less client is refused by the servers themselves, and `down`
//! removes the secrets with the run.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use common::bounded::Bounded as _;
use common::{Env, address, docker_or_skip, topology};
use redis_drill::exit;
use redis_drill::report::Verdict;

/// redis-cli's stdout and stderr, trimmed, with `args` before the command.
fn redis_cli(addr: SocketAddr, args: &[&str], cmd: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(args)
        .args(cmd)
        .stdin(Stdio::null())
        .bounded_output()
        .expect("redis-cli runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .trim()
    .to_string()
}

crate::on_both_runtimes!(
    a_tls_and_acl_cluster_is_drilled_as_a_plain_one_and_its_secrets_go_with_it,
    a_tls_and_acl_cluster_on_docker_is_drilled_as_a_plain_one_and_its_secrets_go_with_it,
    tls_and_acl_cluster
);

/// Where the runtime keeps a run's secrets on the host: in the process
/// runtime's run folder; beside the state dir (`-docker`) for Docker,
/// mounted into its nodes.
fn secrets_of(env: &Env, run_id: &str) -> std::path::PathBuf {
    match env.runtime {
        "process" => env.state.path().join(run_id).join("secrets"),
        _ => {
            let mut name = env.state.path().as_os_str().to_owned();
            name.push("-docker");
            std::path::PathBuf::from(name).join(run_id).join("secrets")
        }
    }
}

fn tls_and_acl_cluster(env: &Env) {
    let up = env.up(&topology("cluster-3x1-fast-tls.yaml"), "sec");
    let status = up.status();
    let s1n1 = address(&status, "s1n1");
    let secrets = secrets_of(env, &up.run_id);
    let ca = secrets.join("ca.pem");
    let creds = std::fs::read_to_string(secrets.join("credentials.yaml")).unwrap();
    let password = creds
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("a password")
        .to_string();
    // The servers themselves refuse what is not TLS, and what is not the user.
    let plain = redis_cli(s1n1, &[], &["PING"]);
    assert!(!plain.contains("PONG"), "plain TCP answered: {plain}");
    let ca_arg = ca.to_str().unwrap();
    let anonymous = redis_cli(s1n1, &["--tls", "--cacert", ca_arg], &["PING"]);
    assert!(anonymous.contains("NOAUTH"), "{anonymous}");
    let as_drill = redis_cli(
        s1n1,
        &[
            "--tls",
            "--cacert",
            ca_arg,
            "--user",
            "drill",
            "--pass",
            &password,
            "--no-auth-warning",
        ],
        &["CLUSTER", "INFO"],
    );
    assert!(as_drill.contains("cluster_state:ok"), "{as_drill}");

    // A later command finds the credentials on its own: the check, the drill.
    let health = up.check();
    assert!(health.ok, "{health:?}");
    let d = env.drill(
        Path::new("scenarios/cluster-manual-failover.yaml"),
        &["--name", &up.name],
    );
    let report = d.report();
    assert!(matches!(d.code, Some(0) | Some(1)), "{}", d.output());
    assert_ne!(report.verdict, Verdict::Unknown, "{}", d.output());
    let c = &report.environment.connections;
    assert!(c.tls.is_some(), "{c:?}");
    assert_eq!(
        c.auth.as_ref().and_then(|a| a.user.as_deref()),
        Some("drill")
    );
    let md = std::fs::read_to_string(d.run_dir().join("report.md")).unwrap();
    assert!(
        md.contains("connections: TLS") && md.contains("ACL user drill"),
        "the report does not say how it connected"
    );
    // Nothing secret in the output or the run's folder.
    assert!(!d.output().contains(&password));
    let mut todo = vec![d.run_dir().to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
                assert!(
                    !text.contains(&password),
                    "{} holds the password",
                    p.display()
                );
            }
        }
    }
    if env.runtime == "docker" {
        // Nor on the containers' command lines (`docker inspect`, `ps`):
        // the nodes read it from the mounted file.
        let label = format!("label=redis-drill.run-id={}", up.run_id);
        let ids = Command::new("docker")
            .args(["ps", "-aq", "--filter", &label])
            .args(["--filter", "label=redis-drill.node"])
            .bounded_output()
            .unwrap();
        let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        assert_eq!(ids.len(), 6, "{ids:?}");
        let inspect = Command::new("docker")
            .arg("inspect")
            .args(&ids)
            .bounded_output()
            .unwrap();
        let text = String::from_utf8_lossy(&inspect.stdout);
        assert!(text.contains("/secrets/security.conf"), "{text}");
        assert!(
            !text.contains(&password),
            "docker inspect shows the password"
        );
    }
    up.down();
    assert!(!secrets.exists(), "the secrets outlived the run");
    let folder = secrets.parent().unwrap().parent().unwrap();
    assert!(
        env.runtime == "process" || !folder.exists(),
        "{} outlived its last run",
        folder.display()
    );
}

#[test]
fn a_security_setting_is_checked_before_anything_starts() {
    let env = Env::new("process");
    let bad = env.write(
        "bad-auth.yaml",
        "name: bad\nkind: standalone\nstandalone: {primaries: 1}\nsecurity:\n  auth: kerberos\n",
    );
    let out = env.run(&["up", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(exit::BAD_INPUT));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("security.auth") && err.contains("kerberos") && err.contains("bad-auth.yaml"),
        "{err}"
    );
    // A password set by hand is the runtime's to make.
    let by_hand = env.write(
        "by-hand.yaml",
        "name: byhand\nkind: standalone\nstandalone: {primaries: 1}\nredis:\n  requirepass: hunter2\n",
    );
    let out = env.run(&["up", by_hand.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(exit::BAD_INPUT));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("requirepass") && err.contains("security.auth"),
        "{err}"
    );
}
