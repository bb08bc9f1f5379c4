//! The `linearizability` section of a report: was what the clients saw on
//! each key consistent with one copy of it? Keys checked, decided and not,
//! the keys that no order of their ops explains, and for the first of them
//! the smallest sub-history that shows it
//! ([`crate::checker::linearizable`] searches, the check stage's
//! `linearizability` checker builds each key's history).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::section::{EMPTY, Section, Table};

/// The verdict on every key the drill's clients touched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinearizabilityReport {
    /// Keys whose history was searched.
    pub keys_checked: u64,
    /// ... that some order of their ops explains.
    pub keys_linearizable: u64,
    /// ... that no order explains: each a violation.
    pub violations: u64,
    /// ... whose search ran out of its budget: neither pass nor violation.
    pub keys_undecided: u64,
    /// ... that no op read, not even the read-back at the end (and no INCR
    /// answered): writes alone are always linearizable, so these keys were
    /// not really judged.
    #[serde(default)]
    pub keys_unread: u64,
    /// Keys left out, by why (the model cannot judge them: an expiring
    /// key's value may vanish on its own).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keys_not_modelled: BTreeMap<String, u64>,
    /// Ops in the searched histories (each member of a transaction counts
    /// on its key; the read at the end counts as one op per key).
    pub ops: u64,
    /// ... of which outcome unknown: a timeout, or a failure a retrying
    /// client reported (an earlier attempt may have applied).
    pub ops_indeterminate: u64,
    /// Search steps allowed per op of a key (the run's budget shared out
    /// by ops; a key gets at most 2 000 000).
    pub budget_steps_per_op: u64,
    /// How long the search took, in ms, when `run` checked the run it had
    /// just recorded (kept in the run folder's `check-time.json`, so that
    /// `check-run` gives the same report byte for byte; `check-run` logs
    /// its own time). Absent when the folder has no such file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub took_ms: Option<f64>,
    /// This check's own time (never serialized): what `run` stores.
    #[serde(skip)]
    pub(crate) timed_ms: Option<f64>,
    /// The first violations' smallest counter-examples, by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<Witness>,
    /// Why the section's figures cannot be established, when they cannot.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<String, String>,
}

/// The smallest sub-history of one key that no order explains: remove any
/// op of it and the rest is linearizable (or shows a different anomaly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Witness {
    pub key: String,
    pub slot: u16,
    /// The key's value before the run (`None`: nil).
    pub initial: Option<String>,
    /// Ops on the key in the whole history.
    pub ops_on_key: u64,
    /// The counter-example's ops, by call.
    pub ops: Vec<WitnessOp>,
    /// What it shows, in words.
    pub why: String,
}

/// One op of a counter-example, as its client saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WitnessOp {
    /// The client, as the report names clients (`app 3`, `probe 9`,
    /// `redis-py 12`), or `final read` for the read-back at the end.
    pub client: String,
    /// The op as sent and answered: `SET c3-41-xx`, `GET → c1-7-xx`,
    /// `GET → nil`, `INCR → 4`, `DEL`, `MULTI SET c2-9-xx EXEC`.
    pub op: String,
    /// When it was sent and when its outcome was known, ms since the run
    /// began; `ret_ms: None` for an op whose outcome is unknown.
    pub call_ms: f64,
    pub ret_ms: Option<f64>,
    /// `ok`, or why its outcome is unknown.
    pub outcome: String,
    /// The node it was sent to, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// The section every rendering shows.
pub(super) fn section(l: &LinearizabilityReport) -> Section {
    let mut sec = Section::titled("Linearizability");
    for (what, why) in &l.unknown {
        sec.warning(format!("{what}: unknown — {why}"));
    }
    let not_modelled: u64 = l.keys_not_modelled.values().sum();
    let mut t = Table::aligned(
        &[
            "keys checked",
            "linearizable",
            "violations",
            "undecided",
            "ops",
            "indeterminate",
        ],
        "rrrrrr",
    );
    t.row(vec![
        l.keys_checked.to_string(),
        l.keys_linearizable.to_string(),
        l.violations.to_string(),
        l.keys_undecided.to_string(),
        l.ops.to_string(),
        l.ops_indeterminate.to_string(),
    ]);
    sec.table(t);
    let mut said = format!(
        "Each key's ops (GET, SET, DEL, INCR, the members of MULTI/EXEC and MGET; every client's, \
         replica reads too, and the value read back at the end) searched for one order, each op at an \
         instant between its send and its answer, that a single copy of the key explains; an op \
         whose outcome is unknown may have happened at any time after it was sent, or never. \
         Budget: {} search steps per op of a key, at most {} per key.",
        l.budget_steps_per_op,
        crate::checker::linearizable::DEFAULT_BUDGET
    );
    if let Some(ms) = l.took_ms {
        said.push_str(&format!(
            " Checked in {} ms when the run was recorded.",
            ms.round()
        ));
    }
    if not_modelled > 0 {
        let why: Vec<String> = (l.keys_not_modelled.iter())
            .map(|(why, n)| format!("{n} {why}"))
            .collect();
        said.push_str(&format!(" Not checked: {}.", why.join(", ")));
    }
    sec.text(said);
    if l.keys_unread > 0 {
        sec.warning(format!(
            "{} keys never read, not even at the end: their writes are not judged",
            l.keys_unread
        ));
    }
    if l.keys_undecided > 0 {
        sec.warning(format!(
            "{} keys undecided: their search ran out of its budget — neither linearizable nor a violation",
            l.keys_undecided
        ));
    }
    for w in &l.witnesses {
        sec.text(format!(
            "Key `{}` (slot {}, {} ops, {}): {}",
            w.key,
            w.slot,
            w.ops_on_key,
            w.initial
                .as_deref()
                .map_or("nil before the run".to_string(), |v| format!(
                    "{} before the run",
                    short(v)
                )),
            w.why
        ));
        let mut t = Table::aligned(
            &["client", "op", "sent", "answered", "outcome", "node"],
            "llrrll",
        );
        for o in &w.ops {
            t.row(vec![
                o.client.clone(),
                o.op.clone(),
                format!("{:.1} ms", o.call_ms),
                o.ret_ms
                    .map_or("never".to_string(), |m| format!("{m:.1} ms")),
                o.outcome.clone(),
                o.node.clone().unwrap_or_else(|| EMPTY.to_string()),
            ]);
        }
        sec.table(t);
    }
    if l.violations > l.witnesses.len() as u64 && !l.witnesses.is_empty() {
        sec.text(format!(
            "{} more keys not linearizable; report.json lists the first {}.",
            l.violations - l.witnesses.len() as u64,
            l.witnesses.len()
        ));
    }
    sec
}

/// A value as a counter-example shows it: the drill's values are an op id
/// padded to the workload's value size, and the padding says nothing.
pub(crate) fn short(v: &str) -> String {
    const KEEP: usize = 20;
    let id = v.trim_end_matches('x');
    if v.chars().count() <= KEEP {
        v.to_string()
    } else if id.len() < v.len() && id.chars().count() <= KEEP {
        format!("{id}x… ({} B)", v.len())
    } else {
        let cut: String = v.chars().take(KEEP).collect();
        format!("{cut}… ({} B)", v.len())
    }
}
