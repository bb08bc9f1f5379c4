//! A drill on a deployment the tool did not start, made safe: before
//! anything runs, every fault must be one it can carry out there and no key
//! may already exist under the drill's prefix (the drill would overwrite,
//! then delete, someone's data); after, every key the drill wrote is
//! deleted, and the record says what the tool did to the deployment, in
//! order.

use std::time::{Duration, Instant};

use crate::cluster::ConnectOptions;
use crate::cluster::conn::{NodeConn, parse_info};
use crate::record::attached::{Action, AttachedRun};
use crate::record::faults::FaultWindow;
use crate::record::timeline::Event;
use crate::runtime::{DeployedNode, Deployment};
use crate::scenarios::Scenario;
use crate::scenarios::error::DrillError;

/// The keys a SCAN asks for per round trip.
const SCAN_COUNT: u64 = 1000;
/// How long a scan of one node may take before the drill gives up on it:
/// a keyspace of tens of millions of keys at ~1000 keys per millisecond.
const SCAN_LIMIT: Duration = Duration::from_secs(120);

/// Every pattern the drill's keys match: its workloads' prefixes (the
/// key/value one, the stampede's, the invalidation's; plain and as a hash
/// tag), and the `drill:` keys of its lock and replication probes.
pub(in crate::scenarios) fn key_patterns(scenario: &Scenario) -> Vec<String> {
    let mut out = Vec::new();
    let prefixes = [scenario.workload.key_prefix.as_str(), "drill:"]
        .into_iter()
        .chain(scenario.stampede.as_ref().map(|s| s.key_prefix.as_str()))
        .chain(
            scenario
                .invalidation
                .as_ref()
                .map(|s| s.key_prefix.as_str()),
        );
    for prefix in prefixes {
        let p = glob_escape(prefix);
        for pat in [format!("{p}*"), format!("\\{{{p}*")] {
            if !out.contains(&pat) {
                out.push(pat);
            }
        }
    }
    out
}

fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '{' | '}') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Before the drill: the faults can be carried out, and no key exists
/// under the drill's patterns on any primary. `Ok` with what was checked,
/// for the record.
pub(in crate::scenarios) async fn preflight(
    scenario: &Scenario,
    d: &Deployment,
) -> Result<Vec<Action>, DrillError> {
    crate::faults::hooked::preflight(d, &scenario.faults)
        .map_err(|why| DrillError::Attached(format!("{}: {why}", scenario.source.display())))?;
    let patterns = key_patterns(scenario);
    let sleeps = scenario
        .faults
        .iter()
        .any(|f| f.fault == crate::faults::FaultKind::Sleep);
    let mut scanned = Vec::new();
    for n in &d.nodes {
        let mut c = connect(n).await?;
        // `sleep` is DEBUG SLEEP: refused by a server that does not allow
        // DEBUG, which says so to a harmless DEBUG HELP.
        if sleeps && let Err(e) = c.run::<redis::Value>(redis::cmd("DEBUG").arg("HELP")).await {
            return Err(DrillError::Attached(format!(
                "{}: the `sleep` fault is DEBUG SLEEP, and node {} ({}) refuses DEBUG ({}); it needs `enable-debug-command yes` (or `local` where redis-drill runs on its host), or use `stall` (CLIENT PAUSE) or a `pause` hook",
                scenario.source.display(),
                n.name,
                n.addr,
                crate::cluster::error::error_chain(&e)
            )));
        }
        if !is_primary(&mut c).await? {
            continue;
        }
        for pat in &patterns {
            if let Some(key) = scan(&mut c, pat, ScanFor::First).await?.first {
                return Err(DrillError::Attached(format!(
                    "node {} ({}) already holds keys under the drill's prefix (`{key}` matches `{pat}`): redis-drill writes and then deletes every key under it, so it will not run here; \
                     set `workload.key_prefix` in the scenario to a prefix no one uses",
                    n.name, n.addr
                )));
            }
        }
        scanned.push(n.name.clone());
    }
    Ok(vec![Action {
        at_ns: None,
        what: format!(
            "read each primary's keys matching {} (SCAN, on {}): none",
            // Plain text: the HTML report shows Markdown backticks literally.
            patterns.join(", "),
            scanned.join(", ")
        ),
    }])
}

async fn connect(n: &DeployedNode) -> Result<NodeConn, DrillError> {
    Ok(NodeConn::connect(&n.name, n.addr, ConnectOptions::default()).await?)
}

async fn is_primary(c: &mut NodeConn) -> Result<bool, DrillError> {
    let text: String = c.run(redis::cmd("INFO").arg("replication")).await?;
    Ok(parse_info(&text).get("role").map(String::as_str) == Some("master"))
}

/// What a scan is for: the first key (a preflight) or every key, deleted.
#[derive(Clone, Copy, PartialEq)]
enum ScanFor {
    First,
    Delete,
}

#[derive(Default)]
struct Scanned {
    first: Option<String>,
    deleted: u64,
}

async fn scan(c: &mut NodeConn, pattern: &str, what: ScanFor) -> Result<Scanned, DrillError> {
    let started = Instant::now();
    let mut cursor: u64 = 0;
    let mut out = Scanned::default();
    loop {
        let (next, keys): (u64, Vec<String>) = c
            .run(
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(SCAN_COUNT),
            )
            .await?;
        if what == ScanFor::First && !keys.is_empty() {
            out.first = keys.into_iter().next();
            return Ok(out);
        }
        if what == ScanFor::Delete && !keys.is_empty() {
            // One key per UNLINK: in a cluster, keys of several slots
            // cannot share one.
            let mut pipe = redis::pipe();
            for k in &keys {
                pipe.cmd("UNLINK").arg(k);
            }
            let gone: Vec<u64> = c.run_pipe(&pipe, "UNLINK").await?;
            out.deleted += gone.iter().sum::<u64>();
        }
        cursor = next;
        if cursor == 0 {
            return Ok(out);
        }
        if started.elapsed() > SCAN_LIMIT {
            return Err(DrillError::Attached(format!(
                "scanning node {} for `{pattern}` took over {} s; stopped",
                c.name,
                SCAN_LIMIT.as_secs()
            )));
        }
    }
}

/// After the drill: delete every key under the drill's patterns on every
/// node that is a primary now. The count deleted, or `None` with why some
/// may be left.
pub(in crate::scenarios) async fn cleanup(
    scenario: &Scenario,
    d: &Deployment,
) -> (Option<u64>, Vec<String>) {
    let patterns = key_patterns(scenario);
    let mut deleted = 0;
    let mut failed = Vec::new();
    for n in &d.nodes {
        let result = async {
            let mut c = connect(n).await?;
            if !is_primary(&mut c).await? {
                return Ok(0);
            }
            let mut count = 0;
            for pat in &patterns {
                count += scan(&mut c, pat, ScanFor::Delete).await?.deleted;
            }
            Ok::<u64, DrillError>(count)
        }
        .await;
        match result {
            Ok(c) => deleted += c,
            Err(e) => failed.push(format!("node {}: {e}", n.name)),
        }
    }
    if failed.is_empty() {
        tracing::info!(deleted, "the drill's keys deleted");
        (Some(deleted), failed)
    } else {
        tracing::warn!(?failed, "some of the drill's keys may be left");
        (None, failed)
    }
}

/// What the run did to the attached deployment, in order: the preflight,
/// the keys loaded, each fault (and the hooks it ran), the cleanup.
pub(in crate::scenarios) fn record(
    scenario: &Scenario,
    d: &Deployment,
    preflight: Vec<Action>,
    loaded: u64,
    faults: &[FaultWindow],
    events: &[Event],
    cleanup: (Option<u64>, Vec<String>),
) -> Option<AttachedRun> {
    let a = d.attached.as_ref()?;
    let mut actions = preflight;
    if loaded > 0 {
        actions.push(Action {
            at_ns: None,
            what: format!("wrote {loaded} keys under the drill's prefix before the baseline"),
        });
    }
    actions.push(Action {
        at_ns: Some(0),
        what: if scenario.read_only {
            "ran the workload: GETs of the drill's own keys, none of which exist (read-only)".into()
        } else {
            "ran the workload (reads and writes of the drill's keys only)".into()
        },
    });
    let mut during: Vec<Action> = (events.iter())
        .filter(|e| e.kind.starts_with("reshard") || e.kind.starts_with("node"))
        .map(|e| Action {
            at_ns: Some(e.at_ns),
            what: format!("{}: {}", e.kind, e.detail),
        })
        .collect();
    for w in faults {
        let how = if w.hooks.is_empty() {
            "through Redis".to_string()
        } else {
            let runs: Vec<String> = w.hooks.iter().map(|h| h.command.clone()).collect();
            format!("through hooks: {}", runs.join("; "))
        };
        let skipped = w
            .skipped
            .as_deref()
            .map_or(String::new(), |s| format!(" — not performed: {s}"));
        during.push(Action {
            at_ns: Some(w.start_ns),
            what: format!(
                "{} {} ({}) {how}{skipped}",
                w.fault,
                w.target,
                w.nodes.join(" ")
            ),
        });
    }
    during.sort_by_key(|a| a.at_ns);
    actions.extend(during);
    let (deleted, cleanup_failed) = cleanup;
    actions.push(Action {
        at_ns: None,
        what: match deleted {
            Some(n) => format!("deleted the drill's {n} keys (SCAN + UNLINK on every primary)"),
            None => format!(
                "could not delete every drill key: {}",
                cleanup_failed.join("; ")
            ),
        },
    });
    Some(AttachedRun {
        seeds: a.seeds.clone(),
        servers: a.servers.clone(),
        security: crate::net::secure::current().facts(),
        key_patterns: key_patterns(scenario),
        read_only: scenario.read_only,
        actions,
        keys_deleted: deleted,
        cleanup_failed,
    })
}
