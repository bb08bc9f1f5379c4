//! Partitions on the process backend: every node has its own loopback
//! address and sends from it (`bind-source-addr`), so host rules
//! `-s <peer> -d <node> -j DROP` cut exactly one direction of one pair.
//! They live in a per-run chain ([`process_chain`]) jumped to from the
//! host's `INPUT`; that needs root. The backend's `remove_run` calls
//! [`teardown_run`] and its `remove_all` calls [`teardown_all`], so no
//! chain outlives its run. The whole rule set is written in one
//! `iptables-restore`, so a new grudge replaces the previous one
//! atomically.

use std::net::IpAddr;

use crate::net::Applied;
use crate::runtime::deployment::Deployment;
use crate::runtime::error::NetError;
use crate::runtime::host::{host, host_sync, iptables_usable, is_root, which};

/// Prefix of the per-run chains in the host's filter table (process runtime).
pub const PROCESS_CHAIN_PREFIX: &str = "RD-";
/// iptables refuses longer chain names (`XT_EXTENSION_MAXNAMELEN` - 1).
const CHAIN_MAX: usize = 28;
/// How many jumps to one chain `teardown_run` removes at most; more than one
/// only after a crash between two checks, so a handful is plenty.
const MAX_JUMPS: usize = 8;

/// The host chain holding `run_id`'s drop rules: `RD-<run id>`, so cleanup
/// finds it by run id alone, and `down --all` by its prefix.
pub fn process_chain(run_id: &str) -> Result<String, NetError> {
    let name = format!("{PROCESS_CHAIN_PREFIX}{run_id}");
    if name.len() > CHAIN_MAX
        || !run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(NetError::BadInput(format!(
            "run id `{run_id}` cannot name an iptables chain (at most {} characters of [A-Za-z0-9_-])",
            CHAIN_MAX - PROCESS_CHAIN_PREFIX.len()
        )));
    }
    Ok(name)
}

/// The chain's rules, `--noflush` (the host's table is shared with Docker
/// and everything else): declaring the chain creates it or flushes it, in the
/// same transaction as the new rules; the jump from INPUT (first, so that no
/// ACCEPT rule of the host's firewall lets peer traffic through before it)
/// only when it is not there yet.
fn process_script(chain: &str, drops: &[(IpAddr, IpAddr)], add_jump: bool) -> String {
    let mut s = format!("*filter\n:{chain} - [0:0]\n");
    for (from, to) in drops {
        s.push_str(&format!("-A {chain} -s {from} -d {to} -j DROP\n"));
    }
    if add_jump {
        s.push_str(&format!("-I INPUT 1 -j {chain}\n"));
    }
    s.push_str("COMMIT\n");
    s
}

/// Write the run's chain: `peers` (each node with the addresses it drops)
/// as `-s <peer> -d <node>` rules, and `extra` pairs as they are.
pub(super) async fn write(
    d: &Deployment,
    peers: &[(String, Vec<IpAddr>)],
    extra: &[(IpAddr, IpAddr)],
) -> Result<Applied, NetError> {
    preflight().await?;
    let chain = process_chain(&d.run_id)?;
    let drops: Vec<(IpAddr, IpAddr)> = peers
        .iter()
        .flat_map(|(node, from)| {
            let to = d
                .nodes
                .iter()
                .find(|n| &n.name == node)
                .map(|n| n.announce.ip());
            from.iter().filter_map(move |f| Some((*f, to?)))
        })
        .chain(extra.iter().copied())
        .collect();
    let jumped = host(&["iptables", "-w", "-C", "INPUT", "-j", &chain], None).await?;
    let script = process_script(&chain, &drops, jumped.exit_code != 0);
    let out = host(
        &["iptables-restore", "-w", "--noflush"],
        Some(script.as_bytes()),
    )
    .await?;
    if out.exit_code != 0 {
        return Err(out.failed(
            format!("(host, run {})", d.run_id),
            "iptables-restore -w --noflush",
        ));
    }
    Ok(Applied {
        rules: drops.len(),
        ..Applied::none(d.nodes.len())
    })
}

/// Flush the run's chain. Without root no chain can have been made by this
/// user, so there is nothing to heal; a chain that does not exist is healed.
pub(super) async fn heal(d: &Deployment) -> Result<Applied, NetError> {
    let healed = Applied::none(d.nodes.len());
    if !iptables_usable() {
        return Ok(healed);
    }
    let chain = process_chain(&d.run_id)?;
    let out = host(&["iptables", "-w", "-F", &chain], None).await?;
    if out.exit_code != 0 && chain_exists_async(&chain).await? {
        return Err(out.failed(
            format!("(host, run {})", d.run_id),
            format!("iptables -w -F {chain}"),
        ));
    }
    Ok(healed)
}

/// Whether the host's iptables can be written here: root, both programs
/// installed, and `iptables -S INPUT` working. Asked before a partition and
/// before the links' rules are installed.
pub(crate) async fn preflight() -> Result<(), NetError> {
    if !is_root() {
        // SAFETY: geteuid(2) cannot fail.
        let euid = unsafe { libc::geteuid() };
        return Err(NetError::Unsupported(format!(
            "the process runtime changes the host's iptables, which needs root (euid 0), \
             and this runs as euid {euid}; run as root, or use --runtime docker"
        )));
    }
    for program in ["iptables", "iptables-restore"] {
        if which(program).is_none() {
            return Err(NetError::Unsupported(format!(
                "`{program}` is not installed on this host (apt-get install iptables)"
            )));
        }
    }
    let out = host(&["iptables", "-w", "-S", "INPUT"], None).await?;
    if out.exit_code != 0 {
        return Err(NetError::Unsupported(format!(
            "the host's iptables does not work (`iptables -w -S INPUT` exit code {}): {}",
            out.exit_code,
            crate::runtime::host::first_line(&out.stderr, &out.stdout)
        )));
    }
    Ok(())
}

/// Whether the host's filter table has `chain`.
async fn chain_exists_async(chain: &str) -> Result<bool, NetError> {
    Ok(host(&["iptables", "-w", "-S", chain], None)
        .await?
        .exit_code
        == 0)
}

/// Remove `run_id`'s host chain and its jumps; how many chains were removed
/// (0 or 1). Nothing to do, and no error, without root or iptables: then no
/// chain can have been made. Synchronous, for the process runtime's cleanup.
pub fn teardown_run(run_id: &str) -> Result<usize, NetError> {
    if !iptables_usable() {
        return Ok(0);
    }
    remove_chain(&process_chain(run_id)?)
}

/// Remove every redis-drill chain (`RD-*`) from the host's filter table, of
/// any run: `down --all`. How many were removed.
pub fn teardown_all() -> Result<usize, NetError> {
    if !iptables_usable() {
        return Ok(0);
    }
    let out = host_sync(&["iptables", "-w", "-S"])?;
    if out.exit_code != 0 {
        // No working iptables: nothing can be there.
        return Ok(0);
    }
    let mut removed = 0;
    for chain in chains_in(&out.stdout, PROCESS_CHAIN_PREFIX) {
        removed += remove_chain(chain)?;
    }
    Ok(removed)
}

/// The chains an `iptables -S` listing declares whose names start with
/// `prefix` (the partitions' or the links').
pub(super) fn chains_in<'a>(listing: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> {
    listing
        .lines()
        .filter_map(|l| l.strip_prefix("-N "))
        .map(str::trim)
        .filter(move |c| c.starts_with(prefix))
}

/// Remove one partition chain and every jump to it; 1 when it was there.
fn remove_chain(chain: &str) -> Result<usize, NetError> {
    if host_sync(&["iptables", "-w", "-S", chain])?.exit_code != 0 {
        return Ok(0);
    }
    // A jump may (after a crash between check and insert) be there twice.
    for _ in 0..MAX_JUMPS {
        if host_sync(&["iptables", "-w", "-D", "INPUT", "-j", chain])?.exit_code != 0 {
            break;
        }
    }
    for args in [
        ["iptables", "-w", "-F", chain],
        ["iptables", "-w", "-X", chain],
    ] {
        let out = host_sync(&args)?;
        if out.exit_code != 0 {
            return Err(out.failed("(host)", args.join(" ")));
        }
    }
    tracing::debug!(chain, "partition chain removed");
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Class;

    #[test]
    fn process_script_fills_the_chain_and_jumps_once() {
        let a: IpAddr = "127.0.101.11".parse().unwrap();
        let b: IpAddr = "127.0.101.12".parse().unwrap();
        assert_eq!(
            process_script("RD-0badf00d", &[(a, b)], true),
            "*filter\n:RD-0badf00d - [0:0]\n\
             -A RD-0badf00d -s 127.0.101.11 -d 127.0.101.12 -j DROP\n\
             -I INPUT 1 -j RD-0badf00d\nCOMMIT\n"
        );
        assert_eq!(
            process_script("RD-0badf00d", &[], false),
            "*filter\n:RD-0badf00d - [0:0]\nCOMMIT\n"
        );
    }

    #[test]
    fn process_chains_are_named_by_run_id() {
        assert_eq!(process_chain("0badf00d").unwrap(), "RD-0badf00d");
        assert!(process_chain(&"x".repeat(25)).is_ok());
        for bad in ["x".repeat(26), "a b".into(), "a;b".into()] {
            let e = process_chain(&bad).unwrap_err();
            assert_eq!(e.class(), Class::BadInput, "{e}");
        }
        let listing = "-P INPUT ACCEPT\n-N DOCKER\n-N RD-0badf00d\n-N RD-1\n\
                       -A INPUT -j RD-0badf00d\n-A RD-1 -s 127.0.0.1/32 -j DROP\n";
        assert_eq!(
            chains_in(listing, PROCESS_CHAIN_PREFIX).collect::<Vec<_>>(),
            ["RD-0badf00d", "RD-1"]
        );
    }
}
