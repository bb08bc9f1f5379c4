//! The section of a drill on a deployment the tool did not start: what its
//! servers said of themselves, what the tool did to it, in order, and every
//! hook it ran with how each ended.

use super::model::Report;
use super::section::{EMPTY, Mark, Row, Section, Table};
use super::text::ms;

/// The attached deployment: its servers, the tool's actions, the hooks.
pub(super) fn section(r: &Report) -> Section {
    let Some(a) = &r.attached else {
        return Section::default();
    };
    let mut s = Section::titled("Attached deployment");
    s.text(format!(
        "redis-drill did not start this deployment: it attached by {} and wrote only keys matching {}.{}",
        a.seeds.join(", "),
        patterns(&a.key_patterns),
        if a.read_only { " It ran read-only: not one write." } else { "" }
    ));
    s.text(format!(
        "Every connection (workload, probes, watcher, admin): {}.",
        a.security.describe()
    ));
    match a.keys_deleted {
        Some(n) => {
            s.text(format!(
                "Every key the drill wrote was deleted after: {n} keys."
            ));
        }
        None => {
            s.warning(format!(
                "Some of the drill's keys may be left on the deployment: {}. Delete the keys matching {} by hand.",
                a.cleanup_failed.join("; "),
                patterns(&a.key_patterns)
            ));
        }
    }
    let mut servers = Table::aligned(
        &[
            "node",
            "address",
            "server",
            "role when attached",
            "node timeout",
            "persistence",
            "maxmemory policy",
        ],
        "llllrll",
    );
    for f in &a.servers {
        let get = |k: &str| {
            f.config
                .get(k)
                .cloned()
                .unwrap_or_else(|| EMPTY.to_string())
        };
        let persistence = match (f.config.get("appendonly"), f.config.get("save")) {
            (Some(aof), Some(save)) => format!(
                "AOF {aof}{}, RDB {}",
                f.config
                    .get("appendfsync")
                    .map_or(String::new(), |s| format!(" ({s})")),
                if save.is_empty() { "off" } else { save }
            ),
            _ => EMPTY.to_string(),
        };
        servers.row(vec![
            f.node.clone(),
            f.addr.clone(),
            f.version.clone(),
            f.role.clone(),
            f.config
                .get("cluster-node-timeout")
                .map_or(EMPTY.to_string(), |t| format!("{t} ms")),
            persistence,
            get("maxmemory-policy"),
        ]);
    }
    s.table(servers);
    let mut done = Table::aligned(&["at", "what redis-drill did to it, in order"], "rl");
    for act in &a.actions {
        done.row(vec![
            act.at_ns
                .map_or(EMPTY.to_string(), |ns| ms(ns as f64 / 1e6)),
            act.what.clone(),
        ]);
    }
    s.table(done);
    let mut hooks = Table::aligned(
        &[
            "hook", "node", "command", "started", "took", "result", "said",
        ],
        "lllrrll",
    );
    for h in r.faults.iter().flat_map(|f| &f.hooks) {
        let result = match (h.timed_out, h.exit_code) {
            (true, _) => "timed out".to_string(),
            (false, Some(c)) => format!("exit {c}"),
            (false, None) => "killed".to_string(),
        };
        let cells = vec![
            h.hook.clone(),
            h.node.clone(),
            h.command.clone(),
            ms(h.start_ns as f64 / 1e6),
            ms(h.end_ns.saturating_sub(h.start_ns) as f64 / 1e6),
            result,
            h.output.lines().last().unwrap_or("").to_string(),
        ];
        let mark = (!h.ok()).then_some(Mark::Fail);
        hooks.rows.push(Row::marked_at(cells, mark, 5));
    }
    if !hooks.rows.is_empty() {
        s.table(hooks);
    }
    s
}

/// `drill:* \{drill:*`: the SCAN patterns, as given to SCAN.
fn patterns(p: &[String]) -> String {
    p.join(" ")
}
