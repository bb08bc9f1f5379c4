//! Links between regions made real on the process runtime: the delaying
//! relay ([`crate::runtime::relay`]) as a process of the run, and the host's iptables
//! rules that feed it and drop a link's share of packets.
//!
//! Every node has its own loopback address and sends from it, so a pair of
//! nodes across a link is `-s <from> -d <to>`:
//!
//! - **nat**, chain `RL-<run id>`, jumped to first from `OUTPUT`: for every
//!   impaired pair, `REDIRECT` to the relay's port, unless the packet carries
//!   the relay's own mark ([`crate::runtime::relay::MARK`]);
//! - **filter**, chain `RL-<run id>`, jumped to first from `INPUT`: for
//!   every pair of a lossy link, the `statistic` match drops that share of
//!   packets. It sees the relay's onward leg, which keeps the real addresses
//!   (the leg into the relay is addressed to 127.0.0.1 by then), so each
//!   direction loses its share once.
//!
//! Every rule and jump carries the comment `redis-drill-run-<run id>`; the
//! run's cleanup (`remove_run`, on every exit path, and `down --all`)
//! removes the chains and exactly the jumps that carry it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::partitions::{self, chains_in};
use crate::net::links::{Impaired, impaired};
use crate::runtime::deployment::Deployment;
use crate::runtime::error::{NetError, RuntimeError};
use crate::runtime::host::{host, host_sync, iptables_usable};
use crate::runtime::relay::{self, MARK, RelayConfig};
use crate::topology::Link;

/// Prefix of the per-run link chains, in both the nat and the filter table.
pub const CHAIN_PREFIX: &str = "RL-";
/// The relay's directory inside the run's.
pub const RELAY_DIR: &str = "relay";
/// How long the relay may take to listen.
const RELAY_START: Duration = Duration::from_secs(10);

/// The comment every rule of `run_id` carries.
pub fn comment(run_id: &str) -> String {
    format!("redis-drill-run-{run_id}")
}

/// The chain of `run_id`'s link rules: `RL-<run id>`.
pub fn chain(run_id: &str) -> Result<String, NetError> {
    // Same rules as the partition chains: short, and only [A-Za-z0-9_-].
    partitions::process_chain(run_id).map(|c| {
        format!(
            "{CHAIN_PREFIX}{}",
            &c[partitions::PROCESS_CHAIN_PREFIX.len()..]
        )
    })
}

/// The `iptables-restore --noflush` script for `pairs`: the nat chain that
/// redirects them to the relay on `port`, the filter chain that drops a
/// lossy link's share, and the jumps to both (first in `OUTPUT` and `INPUT`,
/// before any ACCEPT of the host's own firewall).
pub fn rules_script(run_id: &str, pairs: &[Impaired], links: &[Link], port: u16) -> String {
    let chain = chain(run_id).expect("the run id was checked when the chain was named");
    let tag = format!("-m comment --comment {}", comment(run_id));
    let mut s = format!("*nat\n:{chain} - [0:0]\n");
    for p in pairs {
        s.push_str(&format!(
            "-A {chain} -s {} -d {} -p tcp -m mark ! --mark {MARK:#x} {tag} -j REDIRECT --to-ports {port}\n",
            p.from, p.to
        ));
    }
    s.push_str(&format!("-I OUTPUT 1 {tag} -j {chain}\nCOMMIT\n"));
    s.push_str(&format!("*filter\n:{chain} - [0:0]\n"));
    for p in pairs {
        let loss = links[p.link].loss_pct;
        if loss > 0.0 {
            s.push_str(&format!(
                "-A {chain} -s {} -d {} -m statistic --mode random --probability {} {tag} -j DROP\n",
                p.from,
                p.to,
                crate::net::links::probability(loss)
            ));
        }
    }
    s.push_str(&format!("-I INPUT 1 {tag} -j {chain}\nCOMMIT\n"));
    s
}

/// Start `d`'s links: the relay process in `run_dir/relay/`, then the rules
/// that feed it. Needs root. On error the caller removes the run, which
/// removes whatever part of this was done.
pub async fn start(run_dir: &Path, d: &Deployment) -> Result<(), RuntimeError> {
    let links = &d.topology.links;
    if links.is_empty() {
        return Ok(());
    }
    let chain = chain(&d.run_id).map_err(NetError::into_runtime)?;
    partitions::preflight().await.map_err(|e| {
        RuntimeError::Environment(format!("the topology declares links between regions: {e}"))
    })?;
    let nodes = d.link_members();
    let dir = run_dir.join(RELAY_DIR);
    std::fs::create_dir_all(&dir)
        .map_err(RuntimeError::io(format!("creating {}", dir.display())))?;
    let config = dir.join(relay::CONFIG_FILE);
    let cfg = RelayConfig {
        nodes: nodes.clone(),
        links: links.clone(),
    };
    std::fs::write(
        &config,
        serde_json::to_vec_pretty(&cfg).expect("serializes"),
    )
    .map_err(RuntimeError::io(format!("writing {}", config.display())))?;
    spawn_relay(&dir, &config)?;
    let port = wait_for_port(&dir).await?;
    let pairs = impaired(&nodes, links);
    let script = rules_script(&d.run_id, &pairs, links, port);
    let out = host(
        &["iptables-restore", "-w", "--noflush"],
        Some(script.as_bytes()),
    )
    .await
    .map_err(NetError::into_runtime)?;
    if out.exit_code != 0 {
        return Err(RuntimeError::Environment(format!(
            "installing the link rules (chain {chain}) with iptables-restore failed (exit code {}): {}",
            out.exit_code,
            crate::runtime::host::first_line(&out.stderr, &out.stdout)
        )));
    }
    tracing::info!(run = %d.run_id, port, pairs = pairs.len(), links = links.len(), "links up");
    Ok(())
}

/// Give the run's relay (in `run_dir`) `links`: what connections cross
/// from now on.
pub fn set(run_dir: &Path, links: &[Link]) -> Result<(), RuntimeError> {
    let file = run_dir.join(RELAY_DIR).join(relay::CONTROL_PORT_FILE);
    let port: u16 = std::fs::read_to_string(&file)
        .map_err(RuntimeError::io(format!("reading {}", file.display())))?
        .trim()
        .parse()
        .map_err(|_| RuntimeError::Environment(format!("{} holds no port", file.display())))?;
    let line = serde_json::to_string(links).expect("links serialize");
    relay::tell_relay(([127, 0, 0, 1], port).into(), &line)
        .map_err(RuntimeError::io("giving the relay new links".to_string()))
}

/// Start `redis-drill relay CONFIG` in `dir`, its own process group (as the
/// nodes are), logging to `relay.log`; a thread reaps it.
fn spawn_relay(dir: &Path, config: &Path) -> Result<(), RuntimeError> {
    use std::os::unix::process::CommandExt;
    let exe = relay::relay_program().map_err(RuntimeError::Environment)?;
    let log_path = dir.join("relay.log");
    let log = std::fs::File::create(&log_path)
        .map_err(RuntimeError::io(format!("creating {}", log_path.display())))?;
    let mut child = Command::new(&exe)
        .arg("relay")
        .arg(config)
        .current_dir(dir)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(RuntimeError::io("duplicating a file handle"))?,
        )
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(RuntimeError::io(format!(
            "starting the relay {}",
            exe.display()
        )))?;
    std::thread::Builder::new()
        .name("reap-relay".into())
        .spawn(move || {
            let _ = child.wait();
        })
        .map_err(RuntimeError::io("starting a reaper thread"))?;
    Ok(())
}

/// The port the relay wrote once it listened; fails when it exits first or
/// takes longer than [`RELAY_START`].
async fn wait_for_port(dir: &Path) -> Result<u16, RuntimeError> {
    let started = Instant::now();
    let interval = Duration::from_millis(20);
    for _ in 0..(RELAY_START.as_millis() / interval.as_millis()) {
        if let Ok(text) = std::fs::read_to_string(dir.join(relay::PORT_FILE))
            && let Ok(port) = text.trim().parse::<u16>()
        {
            return Ok(port);
        }
        if started.elapsed() >= RELAY_START {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    let log = std::fs::read_to_string(dir.join("relay.log")).unwrap_or_default();
    Err(RuntimeError::NotReady {
        node: "relay".into(),
        condition: format!(
            "listening (its log: {})",
            log.lines().last().unwrap_or("empty")
        ),
        waited: started.elapsed(),
    })
}

/// Remove `run_id`'s link chains and the jumps to them from the host's nat
/// and filter tables; how many chains were removed. Nothing to do without
/// root or iptables: then none can have been made.
pub fn teardown_run(run_id: &str) -> Result<usize, NetError> {
    if !iptables_usable() {
        return Ok(0);
    }
    let chain = chain(run_id)?;
    let mut removed = 0;
    for (table, parent) in [("nat", "OUTPUT"), ("filter", "INPUT")] {
        removed += remove(table, parent, &chain)?;
    }
    Ok(removed)
}

/// Remove every link chain (`RL-*`) of any run: `down --all`.
pub fn teardown_all() -> Result<usize, NetError> {
    if !iptables_usable() {
        return Ok(0);
    }
    let mut removed = 0;
    for (table, parent) in [("nat", "OUTPUT"), ("filter", "INPUT")] {
        let out = host_sync(&["iptables", "-w", "-t", table, "-S"])?;
        if out.exit_code != 0 {
            continue;
        }
        let chains: Vec<String> = chains_in(&out.stdout, CHAIN_PREFIX)
            .map(str::to_string)
            .collect();
        for c in chains {
            removed += remove(table, parent, &c)?;
        }
    }
    Ok(removed)
}

/// Delete every jump from `parent` to `chain` in `table` (found in the
/// listing, so whatever comment it carries), then the chain itself.
fn remove(table: &str, parent: &str, chain: &str) -> Result<usize, NetError> {
    if host_sync(&["iptables", "-w", "-t", table, "-S", chain])?.exit_code != 0 {
        return Ok(0);
    }
    let listing = host_sync(&["iptables", "-w", "-t", table, "-S", parent])?;
    for rule in jumps_to(&listing.stdout, chain) {
        let mut args = vec!["iptables", "-w", "-t", table, "-D"];
        args.extend(rule.split_whitespace().skip(1));
        let out = host_sync(&args)?;
        if out.exit_code != 0 {
            return Err(out.failed("(host)", args.join(" ")));
        }
    }
    for op in ["-F", "-X"] {
        let args = ["iptables", "-w", "-t", table, op, chain];
        let out = host_sync(&args)?;
        if out.exit_code != 0 {
            return Err(out.failed("(host)", args.join(" ")));
        }
    }
    tracing::debug!(table, chain, "link chain removed");
    Ok(1)
}

/// The `-A <parent> ... -j <chain>` lines of an `iptables -S <parent>` listing.
fn jumps_to<'a>(listing: &'a str, chain: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    listing.lines().map(str::trim).filter(move |l| {
        l.starts_with("-A ")
            && l.split_whitespace()
                .collect::<Vec<_>>()
                .ends_with(&["-j", chain])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn link(loss_pct: f64) -> Link {
        Link {
            between: ["eu".into(), "us".into()],
            delay_ms: 20.0,
            jitter_ms: 0.0,
            loss_pct,
            rate_mbit: None,
        }
    }

    #[test]
    fn the_rule_table_redirects_each_pair_and_drops_a_lossy_links_share() {
        let ip = |h: u8| IpAddr::from([127, 0, 101, h]);
        let pairs = [
            Impaired {
                from: ip(11),
                to: ip(12),
                link: 0,
            },
            Impaired {
                from: ip(12),
                to: ip(11),
                link: 0,
            },
        ];
        assert_eq!(
            rules_script("0badf00d", &pairs, &[link(0.0)], 41000),
            "*nat\n:RL-0badf00d - [0:0]\n\
             -A RL-0badf00d -s 127.0.101.11 -d 127.0.101.12 -p tcp -m mark ! --mark 0x52440077 -m comment --comment redis-drill-run-0badf00d -j REDIRECT --to-ports 41000\n\
             -A RL-0badf00d -s 127.0.101.12 -d 127.0.101.11 -p tcp -m mark ! --mark 0x52440077 -m comment --comment redis-drill-run-0badf00d -j REDIRECT --to-ports 41000\n\
             -I OUTPUT 1 -m comment --comment redis-drill-run-0badf00d -j RL-0badf00d\nCOMMIT\n\
             *filter\n:RL-0badf00d - [0:0]\n\
             -I INPUT 1 -m comment --comment redis-drill-run-0badf00d -j RL-0badf00d\nCOMMIT\n"
        );
        let lossy = rules_script("0badf00d", &pairs[..1], &[link(0.5)], 41000);
        assert!(
            lossy.contains(
                "-A RL-0badf00d -s 127.0.101.11 -d 127.0.101.12 -m statistic --mode random --probability 0.005 -m comment --comment redis-drill-run-0badf00d -j DROP\n"
            ),
            "{lossy}"
        );
        assert!(!lossy.contains("REJECT"));
    }

    #[test]
    fn probabilities_and_chain_names() {
        assert_eq!(crate::net::links::probability(0.5), "0.005");
        assert_eq!(crate::net::links::probability(10.0), "0.1");
        assert_eq!(crate::net::links::probability(99.0), "0.99");
        assert_eq!(chain("0badf00d").unwrap(), "RL-0badf00d");
        assert!(chain("a b").is_err());
    }

    #[test]
    fn jumps_are_found_whatever_their_comment() {
        let listing = "-P OUTPUT ACCEPT\n\
                       -A OUTPUT -m comment --comment redis-drill-run-1 -j RL-1\n\
                       -A OUTPUT -j DOCKER\n-A OUTPUT -j RL-1\n-A OUTPUT -j RL-10\n";
        assert_eq!(
            jumps_to(listing, "RL-1").collect::<Vec<_>>(),
            [
                "-A OUTPUT -m comment --comment redis-drill-run-1 -j RL-1",
                "-A OUTPUT -j RL-1"
            ]
        );
    }
}
