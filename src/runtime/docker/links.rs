//! Links between regions made real on the docker runtime: the same delaying
//! relay as the process runtime's ([`crate::runtime::relay`]), one inside each node's
//! own network namespace, fed by that namespace's own iptables rules.
//!
//! Each node's container gets the running redis-drill binary bind-mounted
//! read-only at [`BINARY`] (the image holds the C library and libgcc it
//! needs: redis-server loads them too), and after it starts:
//!
//! - the relay, `docker exec`ed detached: `redis-drill relay --inline
//!   <config> --port` [`RELAY_PORT`], listening on the namespace's own
//!   127.0.0.1;
//! - **nat**, chain [`CHAIN`], jumped to first from `OUTPUT`: every TCP
//!   connection this node opens to a node across a link is `REDIRECT`ed to
//!   the relay, unless it carries the relay's own mark. A connection is
//!   delayed by the relay of the side that opened it, both ways, once;
//! - **mangle**, chain [`CHAIN`], jumped to first from `POSTROUTING`: a
//!   lossy link's share of the packets this node sends across it is
//!   dropped. After the nat table, so the leg into the relay (addressed to
//!   127.0.0.1 by then) is spared and each direction loses its share once.
//!   Not the filter table: partitions replace that one whole.
//!
//! A node that is started again (kill/stop then start, restart) comes back
//! in a fresh namespace: its relay and rules are installed again then.
//! Everything lives in the containers, so removing them removes it all.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::exec;
use crate::net::links::impaired;
use crate::runtime::deployment::{DeployedNode, Deployment};
use crate::runtime::error::RuntimeError;
use crate::runtime::netns::NetNs;
use crate::runtime::relay::{MARK, RelayConfig};
use crate::topology::Link;

/// Where the redis-drill binary is mounted inside a node's container.
pub const BINARY: &str = "/redis-drill";
/// The relay's port on each namespace's loopback; each namespace has its
/// own, so one fixed port does for every node.
pub const RELAY_PORT: u16 = 16999;
/// The relay's control port on each namespace's loopback (new links).
pub const CONTROL_PORT: u16 = 16998;
/// The link chain in each container's nat and mangle tables.
pub const CHAIN: &str = "RL";
/// How long a relay may take to listen.
const RELAY_START: Duration = Duration::from_secs(10);

/// The bind mount that puts this redis-drill binary into a node's
/// container, for topologies with links.
pub fn bind(links: &[Link]) -> Result<Option<String>, RuntimeError> {
    if links.is_empty() {
        return Ok(None);
    }
    let exe = crate::runtime::relay::relay_program().map_err(RuntimeError::Environment)?;
    Ok(Some(format!("{}:{BINARY}:ro", exe.display())))
}

/// The `iptables-restore --noflush` script of the namespace whose traffic
/// leaves from `own`: redirect its connections to every peer across a link
/// to the relay on `port`, and drop a lossy link's share of what it sends
/// there. `jump`: also add the jumps to the chains (a fresh namespace).
pub fn node_script(
    own: IpAddr,
    nodes: &[(IpAddr, String)],
    links: &[Link],
    port: u16,
    jump: bool,
) -> String {
    let pairs: Vec<_> = impaired(nodes, links)
        .into_iter()
        .filter(|p| p.from == own)
        .collect();
    let mut s = format!("*nat\n:{CHAIN} - [0:0]\n");
    for p in &pairs {
        s.push_str(&format!(
            "-A {CHAIN} -d {} -p tcp -m mark ! --mark {MARK:#x} -j REDIRECT --to-ports {port}\n",
            p.to
        ));
    }
    if jump {
        s.push_str(&format!("-I OUTPUT 1 -j {CHAIN}\n"));
    }
    s.push_str(&format!("COMMIT\n*mangle\n:{CHAIN} - [0:0]\n"));
    for p in &pairs {
        let loss = links[p.link].loss_pct;
        if loss > 0.0 {
            s.push_str(&format!(
                "-A {CHAIN} -d {} -m statistic --mode random --probability {} -j DROP\n",
                p.to,
                crate::net::links::probability(loss)
            ));
        }
    }
    if jump {
        s.push_str(&format!("-I POSTROUTING 1 -j {CHAIN}\n"));
    }
    s.push_str("COMMIT\n");
    // Connections this node opened across a link before its rules existed
    // (a replica's link to its primary, made as it started) bypass the
    // relay: reset them at their next packet, and the node reconnects
    // through it. Redirected legs are addressed to 127.0.0.1 by now, the
    // relay's own are marked, and what peers opened travels in the reply
    // direction here: none of those match. The filter table, which a
    // partition replaces whole: by then this has done its work.
    if jump && !pairs.is_empty() {
        s.push_str("*filter\n");
        for p in &pairs {
            s.push_str(&format!(
                "-I OUTPUT 1 -d {} -p tcp -m mark ! --mark {MARK:#x} -m conntrack --ctdir ORIGINAL -j REJECT --reject-with tcp-reset\n",
                p.to
            ));
        }
        s.push_str("COMMIT\n");
    }
    s
}

/// A container that holds a relay of the links: a node's, or the clients'
/// of a region.
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    /// For messages: `node n1`, `the clients of eu-west`.
    pub what: &'a str,
    /// Its container, where the relay and the rules go.
    pub handle: &'a str,
    /// Its address on the run's network, where its traffic leaves from.
    pub own: IpAddr,
}

/// Install `node`'s relay and rules in its (fresh) namespace; a no-op when
/// `d` has no links.
pub async fn install(
    docker: &bollard::Docker,
    d: &Deployment,
    node: &DeployedNode,
) -> Result<(), RuntimeError> {
    if d.topology.links.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let what = format!("node {}", node.name);
    install_relay(
        docker,
        d,
        Holder {
            what: &what,
            handle: &node.handle,
            own: node.announce.ip(),
        },
    )
    .await?;
    // A replica's link to its primary, opened as it started, is reset now
    // rather than at its next acknowledgement (up to a second away), so
    // replication crosses the relay before anything is measured.
    // From the host, through the tool's dialer: a node of a topology with
    // `security:` refuses a redis-cli inside it that has no password.
    if let Err(e) = crate::runtime::ready::query_once::<redis::Value>(
        node.addr,
        redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("master"),
    )
    .await
    {
        tracing::warn!(node = %node.name, "resetting its link to its primary: {e}");
    }
    tracing::debug!(node = %node.name, elapsed_ms = started.elapsed().as_millis() as u64, "links installed");
    Ok(())
}

/// Start a relay in `h`'s namespace and install the rules that feed it.
pub async fn install_relay(
    docker: &bollard::Docker,
    d: &Deployment,
    h: Holder<'_>,
) -> Result<(), RuntimeError> {
    let links = &d.topology.links;
    let nodes = d.link_members();
    let cfg = RelayConfig {
        nodes: nodes.clone(),
        links: links.clone(),
    };
    let inline = serde_json::to_string(&cfg).expect("a relay config serializes");
    let (port, control) = (RELAY_PORT.to_string(), CONTROL_PORT.to_string());
    start_detached(
        docker,
        h.handle,
        &[
            BINARY,
            "relay",
            "--inline",
            &inline,
            "--port",
            &port,
            "--control-port",
            &control,
        ],
    )
    .await
    .map_err(RuntimeError::docker(format!(
        "starting the links' relay in {}",
        h.what
    )))?;
    let pid = container_pid(docker, h.handle).await?;
    wait_listening(docker, h, pid).await?;
    let script = node_script(h.own, &nodes, links, RELAY_PORT, true);
    let (out, _) = exec::restore(docker, h.what, h.handle, &["--noflush"], &script).await?;
    if out.exit_code != 0 {
        return Err(RuntimeError::Environment(format!(
            "installing the link rules in {} with iptables-restore failed (exit code {}): {}",
            h.what,
            out.exit_code,
            crate::runtime::host::first_line(&out.stderr, &out.stdout)
        )));
    }
    Ok(())
}

/// Give every running node's relay, and the relays of the regions'
/// `clients` (what, container) that are running, `links` (the declared ones, some
/// changed): what connections cross from now on. How many relays took
/// them; a node that is not running has no relay to tell (started again,
/// it gets the declared links).
pub async fn set(
    docker: &bollard::Docker,
    d: &Deployment,
    clients: &[(String, String)],
    links: &[Link],
) -> Result<usize, RuntimeError> {
    let line = serde_json::to_string(links).expect("links serialize");
    let control = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), CONTROL_PORT);
    let mut told = 0;
    // Every node, then the clients of every region that has them.
    let holders = d
        .nodes
        .iter()
        .map(|n| (format!("node {}", n.name), n.handle.clone(), true))
        .chain(
            clients
                .iter()
                .map(|(what, h)| (what.clone(), h.clone(), false)),
        );
    for (what, handle, node) in holders {
        let Ok(pid) = container_pid(docker, &handle).await else {
            if node {
                tracing::warn!("{what} is not running: its relay keeps no links");
            }
            continue;
        };
        let ns = NetNs::of_pid(pid).map_err(RuntimeError::io(format!(
            "opening the network namespace of {what}"
        )))?;
        let line = line.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("links-set".into())
            .spawn(move || {
                let r = ns
                    .enter()
                    .and_then(|()| crate::runtime::relay::tell_relay(control, &line));
                let _ = tx.send(r);
            })
            .map_err(RuntimeError::io("starting a thread"))?;
        rx.await
            .map_err(|_| RuntimeError::Environment("the links thread died".into()))?
            .map_err(RuntimeError::io(format!(
                "giving the relay of {what} new links"
            )))?;
        told += 1;
    }
    Ok(told)
}

/// Install every node's relay and rules, all at once.
pub async fn install_all(docker: &bollard::Docker, d: &Deployment) -> Result<(), RuntimeError> {
    if d.topology.links.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    futures::future::try_join_all(d.nodes.iter().map(|n| install(docker, d, n))).await?;
    tracing::info!(
        run = %d.run_id,
        nodes = d.nodes.len(),
        links = d.topology.links.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "links up"
    );
    Ok(())
}

/// `docker exec -d`: start `cmd` in `handle` and return at once.
async fn start_detached(
    docker: &bollard::Docker,
    handle: &str,
    cmd: &[&str],
) -> Result<(), bollard::errors::Error> {
    let created = docker
        .create_exec(
            handle,
            bollard::models::ExecConfig {
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                env: Some(vec!["RUST_LOG=warn".into()]),
                ..Default::default()
            },
        )
        .await?;
    docker
        .start_exec(
            &created.id,
            Some(bollard::exec::StartExecOptions {
                detach: true,
                ..Default::default()
            }),
        )
        .await?;
    Ok(())
}

/// The main process of a running container.
pub async fn container_pid(docker: &bollard::Docker, handle: &str) -> Result<i64, RuntimeError> {
    let info = docker
        .inspect_container(handle, None)
        .await
        .map_err(RuntimeError::docker(format!("inspecting {handle}")))?;
    info.state
        .and_then(|s| s.pid)
        .filter(|&p| p > 0)
        .ok_or_else(|| RuntimeError::Environment(format!("{handle} has no process")))
}

/// Wait until a connection to the relay's port, made from inside the
/// node's namespace, succeeds; on timeout, say why the relay did not start
/// (it is run once more, attached, to collect its error).
async fn wait_listening(
    docker: &bollard::Docker,
    h: Holder<'_>,
    pid: i64,
) -> Result<(), RuntimeError> {
    let ns = NetNs::of_pid(pid).map_err(RuntimeError::io(format!(
        "opening the network namespace of {}",
        h.what
    )))?;
    let relay = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), RELAY_PORT);
    let started = Instant::now();
    let interval = Duration::from_millis(20);
    let ns = std::sync::Arc::new(ns);
    for _ in 0..(RELAY_START.as_millis() / interval.as_millis()) {
        let probe = ns.clone();
        let reached = tokio::task::spawn_blocking(move || {
            probe.probe(Some(relay), Duration::from_millis(200))
        })
        .await
        .map_err(|e| RuntimeError::Environment(format!("probing the relay: {e}")))?;
        if reached.is_ok() {
            return Ok(());
        }
        if started.elapsed() >= RELAY_START {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    // Why: the binary run again in the container, attached this time.
    let why = match exec::exec_in(docker, h.handle, &[BINARY, "--version"]).await {
        Ok(out) if out.exit_code != 0 => format!(
            "{BINARY} --version in the container exits {}: {}",
            out.exit_code,
            crate::runtime::host::first_line(&out.stderr, &out.stdout)
        ),
        Ok(_) => format!("{BINARY} runs in the container, but nothing listened on {relay}"),
        Err(e) => format!("{BINARY} cannot run in the container: {e}"),
    };
    Err(RuntimeError::NotReady {
        node: h.what.to_string(),
        condition: format!("its links' relay listening ({why})"),
        waited: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(a: &str, b: &str, loss_pct: f64) -> Link {
        Link {
            between: [a.into(), b.into()],
            delay_ms: 40.0,
            jitter_ms: 0.0,
            loss_pct,
            rate_mbit: None,
        }
    }

    fn ip(h: u8) -> IpAddr {
        IpAddr::from([172, 28, 5, h])
    }

    #[test]
    fn a_namespace_redirects_and_drops_only_what_it_sends_across_a_link() {
        let nodes = vec![
            (ip(11), "eu".to_string()),
            (ip(12), "us".to_string()),
            (ip(13), "eu".to_string()),
            (ip(14), "ap".to_string()),
        ];
        let links = [link("eu", "us", 0.0), link("eu", "ap", 1.0)];
        assert_eq!(
            node_script(ip(11), &nodes, &links, 16999, true),
            "*nat\n:RL - [0:0]\n\
             -A RL -d 172.28.5.12 -p tcp -m mark ! --mark 0x52440077 -j REDIRECT --to-ports 16999\n\
             -A RL -d 172.28.5.14 -p tcp -m mark ! --mark 0x52440077 -j REDIRECT --to-ports 16999\n\
             -I OUTPUT 1 -j RL\nCOMMIT\n\
             *mangle\n:RL - [0:0]\n\
             -A RL -d 172.28.5.14 -m statistic --mode random --probability 0.01 -j DROP\n\
             -I POSTROUTING 1 -j RL\nCOMMIT\n\
             *filter\n\
             -I OUTPUT 1 -d 172.28.5.12 -p tcp -m mark ! --mark 0x52440077 -m conntrack --ctdir ORIGINAL -j REJECT --reject-with tcp-reset\n\
             -I OUTPUT 1 -d 172.28.5.14 -p tcp -m mark ! --mark 0x52440077 -m conntrack --ctdir ORIGINAL -j REJECT --reject-with tcp-reset\n\
             COMMIT\n"
        );
        // us talks to both eu nodes across the one lossless link, ap to nobody
        // but eu; a rewrite leaves the jumps alone.
        let us = node_script(ip(12), &nodes, &links, 16999, false);
        assert_eq!(us.matches("REDIRECT").count(), 2, "{us}");
        assert!(
            !us.contains("DROP") && !us.contains("-I ") && !us.contains("*filter"),
            "{us}"
        );
        let ap = node_script(ip(14), &nodes, &links, 16999, true);
        assert_eq!(ap.matches("REDIRECT").count(), 2, "{ap}");
        assert_eq!(ap.matches("DROP").count(), 2, "{ap}");
        // An address no link covers gets empty chains.
        let lone = node_script(ip(99), &nodes, &links, 16999, true);
        assert!(
            !lone.contains("-A RL") && !lone.contains("REJECT"),
            "{lone}"
        );
    }
}
