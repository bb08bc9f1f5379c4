//! Partitions on the process backend: every node has its own loopback
//! address and sends from it (`bind-source-addr`), so host rules
//! `-s <peer> -d <node> -j DROP` cut exactly one direction of one pair.
//! They live in a per-run chain ([`process_chain`]) jumped to from the
//! host's `INPUT`; that needs root. The backend's `remove_run` calls
//! [`teardown_run`] and its `remove_all` calls [`teardown_all`], so no
//! chain outlives its run. The whole rule set is written in one
//! `iptables-restore`, so a new grudge replaces the previous one
//! atomically.
//!
//! A Sentinel cannot be told to send from its address (Redis 7.0 has no
//! `bind-source-addr` for Sentinel links), so as root each runs under a uid
//! of its own ([`sentinel_uid`]) and a rule of the run's chain in the nat
//! table ([`source_sentinels`]) rewrites the source of what that uid sends
//! on `lo` to the Sentinel's address: from then on its packets are matched
//! by the same `-s`/`-d` rules as a node's.

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
            let to = (d.nodes.iter())
                .chain(&d.sentinels)
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

/// The uid a Sentinel of the process runtime runs under (as root), so the
/// nat table can give its packets its own address: one per loopback
/// address, far above any account's (`0x5244` "RD", then 127.0.B.H's B and H).
pub fn sentinel_uid(addr: IpAddr) -> Option<u32> {
    match addr {
        IpAddr::V4(v4) if v4.is_loopback() => {
            let o = v4.octets();
            Some(0x5244_0000 | (u32::from(o[2]) << 8) | u32::from(o[3]))
        }
        _ => None,
    }
}

/// The nat rules that give each Sentinel's packets its own address: for
/// each, `-o lo -m owner --uid-owner <its uid> -j SNAT --to-source <its
/// address>`, in the run's chain of the nat table, jumped to from
/// POSTROUTING. Installed before the Sentinels start, so that every
/// connection they open carries their address. Synchronous: bring-up calls
/// it between spawning processes. The caller checks [`iptables_usable`].
pub(super) fn source_sentinels(run_id: &str, sentinels: &[IpAddr]) -> Result<(), NetError> {
    let chain = process_chain(run_id)?;
    let run = |args: &[&str]| -> Result<(), NetError> {
        let out = host_sync(args)?;
        if out.exit_code != 0 {
            return Err(out.failed(format!("(host, run {run_id})"), args.join(" ")));
        }
        Ok(())
    };
    if host_sync(&["iptables", "-w", "-t", "nat", "-S", &chain])?.exit_code != 0 {
        run(&["iptables", "-w", "-t", "nat", "-N", &chain])?;
    }
    run(&["iptables", "-w", "-t", "nat", "-F", &chain])?;
    for ip in sentinels {
        let Some(uid) = sentinel_uid(*ip) else {
            return Err(NetError::BadInput(format!(
                "a Sentinel of the process runtime at {ip}, not a loopback address"
            )));
        };
        let (uid, ip) = (uid.to_string(), ip.to_string());
        run(&[
            "iptables",
            "-w",
            "-t",
            "nat",
            "-A",
            &chain,
            "-o",
            "lo",
            "-m",
            "owner",
            "--uid-owner",
            &uid,
            "-j",
            "SNAT",
            "--to-source",
            &ip,
        ])?;
    }
    let jump = [
        "iptables",
        "-w",
        "-t",
        "nat",
        "-C",
        "POSTROUTING",
        "-j",
        &chain,
    ];
    if host_sync(&jump)?.exit_code != 0 {
        run(&[
            "iptables",
            "-w",
            "-t",
            "nat",
            "-I",
            "POSTROUTING",
            "1",
            "-j",
            &chain,
        ])?;
    }
    tracing::debug!(
        chain,
        sentinels = sentinels.len(),
        "Sentinels sourced from their addresses"
    );
    Ok(())
}

/// Whether every Sentinel of `d` sends from its own address: its uid's
/// SNAT rule is in the run's nat chain. Without it a partition cannot cut
/// a Sentinel off alone (its packets leave from 127.0.0.1).
pub(super) async fn sentinels_sourced(d: &Deployment) -> Result<bool, NetError> {
    if d.sentinels.is_empty() {
        return Ok(true);
    }
    let chain = process_chain(&d.run_id)?;
    let out = host(&["iptables", "-w", "-t", "nat", "-S", &chain], None).await?;
    if out.exit_code != 0 {
        return Ok(false);
    }
    Ok(d.sentinels.iter().all(|s| {
        let ip = s.announce.ip();
        sentinel_uid(ip).is_some_and(|uid| {
            out.stdout.lines().any(|l| {
                l.contains(&format!("--uid-owner {uid} "))
                    && l.contains(&format!("--to-source {ip}"))
            })
        })
    }))
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
    let chain = process_chain(run_id)?;
    Ok(remove_chain(&chain)? + remove_nat_chain(&chain)?)
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
    let out = host_sync(&["iptables", "-w", "-t", "nat", "-S"])?;
    if out.exit_code == 0 {
        for chain in chains_in(&out.stdout, PROCESS_CHAIN_PREFIX) {
            removed += remove_nat_chain(chain)?;
        }
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

/// Remove a run's chain of the nat table (its Sentinels' sources) and its
/// jumps from POSTROUTING; 1 when it was there.
fn remove_nat_chain(chain: &str) -> Result<usize, NetError> {
    if host_sync(&["iptables", "-w", "-t", "nat", "-S", chain])?.exit_code != 0 {
        return Ok(0);
    }
    for _ in 0..MAX_JUMPS {
        let args = [
            "iptables",
            "-w",
            "-t",
            "nat",
            "-D",
            "POSTROUTING",
            "-j",
            chain,
        ];
        if host_sync(&args)?.exit_code != 0 {
            break;
        }
    }
    for args in [
        ["iptables", "-w", "-t", "nat", "-F", chain],
        ["iptables", "-w", "-t", "nat", "-X", chain],
    ] {
        let out = host_sync(&args)?;
        if out.exit_code != 0 {
            return Err(out.failed("(host)", args.join(" ")));
        }
    }
    tracing::debug!(chain, "Sentinel source chain removed");
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
    fn each_loopback_address_has_its_own_sentinel_uid() {
        let a = sentinel_uid("127.0.101.14".parse().unwrap()).unwrap();
        let b = sentinel_uid("127.0.101.15".parse().unwrap()).unwrap();
        let c = sentinel_uid("127.0.102.14".parse().unwrap()).unwrap();
        assert_eq!(a, 0x5244_650e);
        assert!(a != b && a != c && b != c);
        assert!(a > 65_535, "far from any account's uid");
        assert_eq!(sentinel_uid("10.0.0.1".parse().unwrap()), None);
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
