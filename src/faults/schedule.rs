//! The `faults:` list of a scenario, as plain data: what to do, to whom, when,
//! and for how long.
//!
//! ```yaml
//! faults:
//!   - fault: kill               # the vocabulary of `FaultKind`
//!     target: primary_of:0      # see `target`
//!     at_ms: 0                  # after the baseline (the start of `during`)
//!     after_slots: 500          # and once the reshard has moved 500 slots (optional)
//!     hold_ms: 8000             # then undo it: kill/stop → start, pause → resume, partition → heal
//!   - fault: partition
//!     shape: isolate            # isolate | halves | bridge | majorities_ring | primaries | one_way | regions | clients
//!     target: primary_of:100    # isolate: the node cut off; one_way: the sender whose packets drop; clients: the nodes the drill's clients lose
//!     hold_ms: 5000
//!   - fault: failover
//!     target: replica_of:primary_of:0
//!     mode: force               # default | force | takeover
//!     at_ms: 20000
//!     repeat: 3                 # three times,
//!     every_ms: 10000           # 10 s apart
//! ```
//!
//! Times are relative to the end of the baseline; the schedule is expanded
//! into [`Occurrence`]s in time order by [`expand`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::target::Target;
use crate::cluster::failover::FailoverMode;
pub use crate::net::Shape;
use crate::record::faults::FaultKind;

/// Bound on expanded occurrences: a drill is minutes long; thousands of faults
/// would be a typo in `repeat`.
pub const MAX_OCCURRENCES: usize = 1000;

/// One entry of `faults:`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFault {
    pub fault: String,
    #[serde(default)]
    pub target: Option<String>,
    /// one_way: the node that drops what `target` sends.
    #[serde(default)]
    pub peer: Option<String>,
    #[serde(default)]
    pub shape: Option<String>,
    #[serde(default)]
    pub mode: Option<FailoverMode>,
    #[serde(default)]
    pub at_ms: u64,
    #[serde(default)]
    pub after_slots: Option<usize>,
    #[serde(default)]
    pub hold_ms: Option<u64>,
    #[serde(default)]
    pub repeat: Option<u32>,
    #[serde(default)]
    pub every_ms: Option<u64>,
    /// slow: the link to change (its two regions); absent: every link.
    #[serde(default)]
    pub between: Option<[String; 2]>,
    /// slow: the link's one-way delay and jitter while the fault holds.
    #[serde(default)]
    pub delay_ms: Option<f64>,
    #[serde(default)]
    pub jitter_ms: Option<f64>,
    /// config: the settings to change, `directive: value`.
    #[serde(default)]
    pub set: Option<BTreeMap<String, serde_json::Value>>,
    /// replace: the new node's server (`valkey-9.1`, `redis-7.0`, a path).
    #[serde(default)]
    pub server: Option<String>,
    /// replace: the new node may fail to take over (a rollback to an older
    /// server): the drill records why and goes on instead of stopping.
    #[serde(default)]
    pub may_fail: Option<bool>,
}

/// What a `slow` fault makes of a link while it holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkChange {
    /// The link's two regions; `None`: every link.
    pub between: Option<[String; 2]>,
    pub delay_ms: f64,
    pub jitter_ms: f64,
}

/// One validated entry of `faults:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultStep {
    pub fault: FaultKind,
    /// Who: required for every fault but `heal` and the partition shapes that
    /// cut the whole cluster (halves, bridge, majorities_ring, primaries, regions).
    pub target: Option<Target>,
    /// For `one_way`: the node that drops what `target` sends.
    pub peer: Option<Target>,
    pub shape: Option<Shape>,
    pub mode: FailoverMode,
    /// When, after the baseline.
    pub at_ms: u64,
    /// And not before the scenario's reshard has moved this many slots (or
    /// is over): to hit a migration in its middle whatever the machine's speed.
    pub after_slots: Option<usize>,
    /// How long before the fault is undone (`None`: it stays until the drill
    /// ends; the teardown undoes it).
    pub hold_ms: Option<u64>,
    pub repeat: u32,
    pub every_ms: Option<u64>,
    /// For `slow`: what the link becomes.
    pub link: Option<LinkChange>,
    /// For `config`: the directives to set and their values (names
    /// lowercased, bools as yes/no).
    pub set: BTreeMap<String, String>,
    /// For `replace`: the new node's server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<crate::topology::Server>,
    /// For `replace`: a refusal is recorded, not an error.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub may_fail: bool,
}

/// A validation error: the field (under the entry) and the message.
pub(crate) type FieldError = (&'static str, String);

impl RawFault {
    /// A bare entry for `fault`, to fill in (the CLI builds its faults so).
    pub(crate) fn new(fault: FaultKind) -> RawFault {
        RawFault {
            fault: fault.to_string(),
            target: None,
            peer: None,
            shape: None,
            mode: None,
            at_ms: 0,
            after_slots: None,
            hold_ms: None,
            repeat: None,
            every_ms: None,
            between: None,
            delay_ms: None,
            jitter_ms: None,
            set: None,
            server: None,
            may_fail: None,
        }
    }

    /// Check a `faults:` entry on its own (targets are resolved at apply time).
    pub(crate) fn validate(self) -> Result<FaultStep, FieldError> {
        self.validate_with(true)
    }

    /// Check a fault applied once, now, from the command line: the same rules,
    /// but nothing needs a hold — it stays until a command undoes it.
    pub(crate) fn validate_now(self) -> Result<FaultStep, FieldError> {
        self.validate_with(false)
    }

    /// The checks in the order a reader fixes an entry: what the fault is and
    /// whom it hits, its shape, mode and link, whether it takes a target and a
    /// peer, its hold, its repeats.
    fn validate_with(self, scheduled: bool) -> Result<FaultStep, FieldError> {
        let fault: FaultKind = self.fault.parse().map_err(|e| ("fault", e))?;
        let parse =
            |field: &'static str, v: &Option<String>| -> Result<Option<Target>, FieldError> {
                v.as_deref()
                    .map(|s| s.parse::<Target>().map_err(|e| (field, e)))
                    .transpose()
            };
        let target = parse("target", &self.target)?;
        let peer = parse("peer", &self.peer)?;
        check_lock_holder(fault, target.as_ref(), peer.as_ref())?;
        let shape = self.shape(fault)?;
        if self.mode.is_some() && fault != FaultKind::Failover {
            return Err(("mode", format!("only a failover has a mode, not {fault}")));
        }
        let link = self.link(fault)?;
        check_target_and_peer(fault, shape, &target, &peer)?;
        self.check_hold(fault, scheduled)?;
        let set = self.settings(fault)?;
        let server = self.server(fault)?;
        let repeat = self.repeat()?;
        Ok(FaultStep {
            fault,
            target,
            peer,
            shape,
            mode: self.mode.unwrap_or_default(),
            at_ms: self.at_ms,
            after_slots: self.after_slots,
            hold_ms: self.hold_ms,
            repeat,
            every_ms: self.every_ms,
            link,
            set,
            server,
            may_fail: self.may_fail.unwrap_or(false),
        })
    }

    /// A replace's `server` (required there) and `may_fail`; both refused
    /// on any other fault.
    fn server(&self, fault: FaultKind) -> Result<Option<crate::topology::Server>, FieldError> {
        if fault != FaultKind::Replace {
            if self.server.is_some() {
                return Err((
                    "server",
                    format!("only a replace names a server, not {fault}"),
                ));
            }
            if self.may_fail.is_some() {
                return Err(("may_fail", format!("only a replace may fail, not {fault}")));
            }
            return Ok(None);
        }
        let Some(s) = &self.server else {
            return Err((
                "server",
                format!(
                    "a replace needs the new node's `server` ({}, or a path to a binary)",
                    crate::topology::Server::NAMED.map(|(n, _)| n).join(", ")
                ),
            ));
        };
        crate::topology::Server::parse(s)
            .map(Some)
            .map_err(|e| ("server", e))
    }

    /// A config fault's `set`: required there, refused elsewhere; no
    /// directive redis-drill owns (the port, the data dir, the passwords:
    /// changing them would cut the tool off the node).
    fn settings(&self, fault: FaultKind) -> Result<BTreeMap<String, String>, FieldError> {
        match (&self.set, fault) {
            (None, FaultKind::Config) => Err((
                "set",
                "a config fault needs `set: {directive: value, ...}`".into(),
            )),
            (Some(_), f) if f != FaultKind::Config => Err((
                "set",
                format!("only a config fault sets directives, not {f}"),
            )),
            (None, _) => Ok(BTreeMap::new()),
            (Some(map), _) => {
                if map.is_empty() {
                    return Err(("set", "names no directive".into()));
                }
                let mut out = BTreeMap::new();
                for (k, v) in map {
                    let key = k.to_ascii_lowercase();
                    if let Some((_, instead)) = crate::topology::RUNTIME_OWNED
                        .iter()
                        .find(|(n, _)| *n == key)
                    {
                        return Err((
                            "set",
                            format!("`{key}` is redis-drill's to set ({instead}), not a fault's"),
                        ));
                    }
                    let value = match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
                        serde_json::Value::Number(n) => n.to_string(),
                        other => {
                            return Err((
                                "set",
                                format!("`{key}`: {other} is not a string, a number or a bool"),
                            ));
                        }
                    };
                    out.insert(key, value);
                }
                Ok(out)
            }
        }
    }

    /// A partition's shape: required for a partition, refused otherwise.
    fn shape(&self, fault: FaultKind) -> Result<Option<Shape>, FieldError> {
        Ok(match (&self.shape, fault) {
            (Some(s), FaultKind::Partition) => {
                Some(s.parse::<Shape>().map_err(|e| ("shape", e.to_string()))?)
            }
            (None, FaultKind::Partition) => {
                return Err((
                    "shape",
                    format!(
                        "a partition needs a shape ({})",
                        Shape::ALL.map(Shape::as_str).join(", ")
                    ),
                ));
            }
            (Some(_), _) => {
                return Err((
                    "shape",
                    format!("only a partition has a shape, not {fault}"),
                ));
            }
            (None, _) => None,
        })
    }

    /// A slow fault's link change (`delay_ms`, `jitter_ms`, `between`), in
    /// range; the link fields are refused on any other fault.
    fn link(&self, fault: FaultKind) -> Result<Option<LinkChange>, FieldError> {
        Ok(match (fault, self.delay_ms) {
            (FaultKind::Slow, Some(delay_ms)) => {
                let jitter_ms = self.jitter_ms.unwrap_or(0.0);
                if !(0.0..=60_000.0).contains(&delay_ms) {
                    return Err(("delay_ms", format!("{delay_ms} is not in 0..=60000 ms")));
                }
                if !(0.0..=delay_ms).contains(&jitter_ms) {
                    return Err(("jitter_ms", format!("{jitter_ms} is not in 0..=delay_ms")));
                }
                Some(LinkChange {
                    between: self.between.clone(),
                    delay_ms,
                    jitter_ms,
                })
            }
            (FaultKind::Slow, None) => {
                return Err((
                    "delay_ms",
                    "a slow fault needs the link's `delay_ms` while it holds".into(),
                ));
            }
            (_, _)
                if self.delay_ms.is_some()
                    || self.jitter_ms.is_some()
                    || self.between.is_some() =>
            {
                let field = if self.between.is_some() {
                    "between"
                } else if self.delay_ms.is_some() {
                    "delay_ms"
                } else {
                    "jitter_ms"
                };
                return Err((
                    field,
                    format!("only a slow fault changes a link, not {fault}"),
                ));
            }
            _ => None,
        })
    }

    /// `hold_ms`: only on a fault that is undone, at least 1, and required
    /// in a schedule for the faults the drill must wait out.
    fn check_hold(&self, fault: FaultKind, scheduled: bool) -> Result<(), FieldError> {
        if self.hold_ms.is_some() && fault.healed_by().is_none() {
            return Err((
                "hold_ms",
                format!(
                    "{fault} is not undone, so it has no hold (only kill, stop, pause, partition, slow, stall, stall_writes and sleep have one)"
                ),
            ));
        }
        if self.hold_ms == Some(0) {
            return Err(("hold_ms", "must be at least 1".into()));
        }
        if scheduled
            && matches!(
                fault,
                FaultKind::Pause
                    | FaultKind::Partition
                    | FaultKind::Slow
                    | FaultKind::Stall
                    | FaultKind::StallWrites
                    | FaultKind::Sleep
            )
            && self.hold_ms.is_none()
        {
            return Err((
                "hold_ms",
                format!(
                    "a {fault} needs a hold: the drill waits for the cluster to converge after it"
                ),
            ));
        }
        Ok(())
    }

    /// `repeat` (1 when absent) with its `every_ms`, longer than the hold,
    /// and never on a fault triggered by the reshard's progress.
    fn repeat(&self) -> Result<u32, FieldError> {
        let repeat = self.repeat.unwrap_or(1);
        if repeat == 0 {
            return Err(("repeat", "must be at least 1".into()));
        }
        match (repeat > 1, self.every_ms) {
            (true, None) => return Err(("every_ms", "a repeated fault needs `every_ms`".into())),
            (false, Some(_)) => return Err(("every_ms", "goes with `repeat` above 1".into())),
            (true, Some(every)) if every <= self.hold_ms.unwrap_or(0) => {
                return Err((
                    "every_ms",
                    format!(
                        "must be longer than hold_ms ({}): one occurrence is undone before the next",
                        self.hold_ms.unwrap_or(0)
                    ),
                ));
            }
            _ => {}
        }
        if self.after_slots.is_some() && repeat > 1 {
            return Err((
                "after_slots",
                "a fault triggered by the reshard's progress happens once; drop `repeat`".into(),
            ));
        }
        if repeat as usize > MAX_OCCURRENCES {
            return Err(("repeat", format!("at most {MAX_OCCURRENCES}")));
        }
        Ok(repeat)
    }
}

/// Whether the fault (or its partition's shape) takes a target, and a
/// one_way partition its peer.
fn check_target_and_peer(
    fault: FaultKind,
    shape: Option<Shape>,
    target: &Option<Target>,
    peer: &Option<Target>,
) -> Result<(), FieldError> {
    let needs_target = match shape {
        Some(s) => shape_needs_target(s),
        None => !matches!(fault, FaultKind::Heal | FaultKind::Slow),
    };
    match (needs_target, &target) {
        (true, None) => return Err(("target", format!("{fault} needs a target"))),
        (false, Some(_)) => {
            return Err((
                "target",
                match shape {
                    Some(s) => {
                        format!("a `{s}` partition cuts the whole cluster: it takes no target")
                    }
                    None => format!("{fault} takes no target"),
                },
            ));
        }
        _ => {}
    }
    match (shape == Some(Shape::OneWay), &peer) {
        (true, None) => {
            return Err((
                "peer",
                "a one_way partition needs a `peer` (the node that drops what `target` sends)"
                    .into(),
            ));
        }
        (false, Some(_)) => return Err(("peer", "only a one_way partition has a peer".into())),
        _ => {}
    }
    Ok(())
}

/// `lock_holder:<n>` names a client, not a node: only `pause` takes it,
/// as the target itself (a GC pause or a stopped VM of the lock holder).
fn check_lock_holder(
    fault: FaultKind,
    target: Option<&Target>,
    peer: Option<&Target>,
) -> Result<(), FieldError> {
    fn nested(t: &Target) -> bool {
        match t {
            Target::LockHolder(_) => true,
            Target::ReplicaOf(inner) => nested(inner),
            _ => false,
        }
    }
    if peer.is_some_and(nested) {
        return Err((
            "peer",
            "a lock holder is a client, not a node to partition".into(),
        ));
    }
    match target {
        Some(Target::LockHolder(_)) if fault != FaultKind::Pause => Err((
            "target",
            format!(
                "a lock holder is a client of the drill, not a node: only `pause` freezes one, not {fault}"
            ),
        )),
        Some(Target::ReplicaOf(inner)) if nested(inner) => Err((
            "target",
            "a lock holder is a client of the drill and has no replica".into(),
        )),
        _ => Ok(()),
    }
}

/// Whether a shape cuts around named nodes (`isolate` the target, `one_way`
/// from the target to the peer) rather than across the whole cluster.
pub fn shape_needs_target(shape: Shape) -> bool {
    matches!(shape, Shape::Isolate | Shape::OneWay | Shape::Clients)
}

/// One fault to apply: step `step` (index in the list), its `rep`-th time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub step: usize,
    pub rep: u32,
    pub at_ms: u64,
    /// When to undo it, if it is undone.
    pub heal_at_ms: Option<u64>,
}

/// The steps expanded into occurrences, in list order (index = occurrence id).
pub fn expand(steps: &[FaultStep]) -> Vec<Occurrence> {
    let mut occ = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        for rep in 0..s.repeat {
            let at = s.at_ms + u64::from(rep) * s.every_ms.unwrap_or(0);
            occ.push(Occurrence {
                step: i,
                rep,
                at_ms: at,
                heal_at_ms: s.hold_ms.map(|h| at + h),
            });
        }
    }
    occ
}

/// When the schedule is over as planned: its last apply or undo (ms after the
/// baseline; a fault waiting for the reshard's progress may end later).
pub fn duration_ms(steps: &[FaultStep]) -> u64 {
    expand(steps)
        .iter()
        .map(|o| o.heal_at_ms.unwrap_or(o.at_ms))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(yaml: &str) -> RawFault {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn step(yaml: &str) -> Result<FaultStep, FieldError> {
        raw(yaml).validate()
    }

    #[test]
    fn valid_steps() {
        let s = step("fault: kill\ntarget: primary_of:0\nhold_ms: 5000\n").unwrap();
        assert_eq!(
            (s.fault, s.hold_ms, s.repeat),
            (FaultKind::Kill, Some(5000), 1)
        );
        assert_eq!(s.target, Some(Target::PrimaryOf(0)));
        let s = step("fault: partition\nshape: halves\nhold_ms: 100\n").unwrap();
        assert_eq!(s.shape, Some(Shape::Halves));
        let s = step("fault: partition\nshape: one_way\ntarget: s1n1\npeer: s2n1\nhold_ms: 100\n")
            .unwrap();
        assert_eq!(s.peer, Some(Target::Node("s2n1".into())));
        let s = step("fault: failover\ntarget: replica_of:s1n1\nmode: takeover\n").unwrap();
        assert_eq!(s.mode, FailoverMode::Takeover);
        step("fault: heal\nat_ms: 10\n").unwrap();
        let s = step("fault: pause\ntarget: lock_holder:1\nhold_ms: 1500\n").unwrap();
        assert_eq!(s.target, Some(Target::LockHolder(1)));
        step("fault: kill\ntarget: s1n1\n").unwrap();
    }

    #[test]
    fn invalid_steps_name_the_field() {
        let cases = [
            (
                "fault: slow\nhold_ms: 1000\n",
                "delay_ms",
                "needs the link's `delay_ms`",
            ),
            (
                "fault: slow\ndelay_ms: 100\njitter_ms: 200\nhold_ms: 1000\n",
                "jitter_ms",
                "not in 0..=delay_ms",
            ),
            ("fault: slow\ndelay_ms: 100\n", "hold_ms", "needs a hold"),
            (
                "fault: kill\ntarget: s1n1\ndelay_ms: 100\n",
                "delay_ms",
                "only a slow fault changes a link",
            ),
            (
                "fault: slow\ntarget: s1n1\ndelay_ms: 100\nhold_ms: 1\n",
                "target",
                "takes no target",
            ),
            (
                "fault: crash\ntarget: s1n1\n",
                "fault",
                "unknown fault `crash`",
            ),
            ("fault: kill\n", "target", "kill needs a target"),
            (
                "fault: kill\ntarget: leader_of:1\n",
                "target",
                "unknown target",
            ),
            (
                "fault: partition\ntarget: s1n1\nhold_ms: 1\n",
                "shape",
                "a partition needs a shape",
            ),
            (
                "fault: partition\nshape: halves\ntarget: s1n1\nhold_ms: 1\n",
                "target",
                "takes no target",
            ),
            (
                "fault: partition\nshape: isolate\nhold_ms: 1\n",
                "target",
                "needs a target",
            ),
            (
                "fault: partition\nshape: one_way\ntarget: s1n1\nhold_ms: 1\n",
                "peer",
                "needs a `peer`",
            ),
            (
                "fault: partition\nshape: isolate\ntarget: s1n1\n",
                "hold_ms",
                "needs a hold",
            ),
            ("fault: pause\ntarget: s1n1\n", "hold_ms", "needs a hold"),
            (
                "fault: kill\nshape: halves\ntarget: s1n1\n",
                "shape",
                "only a partition",
            ),
            (
                "fault: kill\ntarget: s1n1\nmode: force\n",
                "mode",
                "only a failover",
            ),
            (
                "fault: failover\ntarget: s1n2\nhold_ms: 5\n",
                "hold_ms",
                "is not undone",
            ),
            (
                "fault: kill\ntarget: s1n1\nhold_ms: 0\n",
                "hold_ms",
                "at least 1",
            ),
            (
                "fault: kill\ntarget: s1n1\nrepeat: 3\n",
                "every_ms",
                "needs `every_ms`",
            ),
            (
                "fault: kill\ntarget: s1n1\nhold_ms: 500\nrepeat: 2\nevery_ms: 500\n",
                "every_ms",
                "longer than hold_ms",
            ),
            (
                "fault: kill\ntarget: s1n1\nevery_ms: 500\n",
                "every_ms",
                "goes with `repeat`",
            ),
            (
                "fault: heal\ntarget: s1n1\n",
                "target",
                "heal takes no target",
            ),
            (
                "fault: kill\ntarget: lock_holder:0\n",
                "target",
                "only `pause` freezes one, not kill",
            ),
            (
                "fault: failover\ntarget: replica_of:lock_holder:0\n",
                "target",
                "has no replica",
            ),
            (
                "fault: pause\ntarget: lock_holder:0\n",
                "hold_ms",
                "needs a hold",
            ),
        ];
        for (yaml, field, msg) in cases {
            let (f, m) = step(yaml).unwrap_err();
            assert_eq!(f, field, "{yaml}");
            assert!(m.contains(msg), "{yaml}: {m}");
        }
    }

    #[test]
    fn repeats_expand_with_their_holds() {
        let steps = vec![
            step("fault: kill\ntarget: s1n1\nat_ms: 0\nhold_ms: 100\nrepeat: 3\nevery_ms: 200\n")
                .unwrap(),
            step("fault: pause\ntarget: s2n1\nat_ms: 100\nhold_ms: 50\n").unwrap(),
            step("fault: failover\ntarget: replica\nat_ms: 450\n").unwrap(),
        ];
        let occ = expand(&steps);
        assert_eq!(occ.len(), 5);
        assert_eq!(
            occ[2],
            Occurrence {
                step: 0,
                rep: 2,
                at_ms: 400,
                heal_at_ms: Some(500)
            }
        );
        assert_eq!(occ[4].heal_at_ms, None);
        assert_eq!(duration_ms(&steps), 500);
        assert_eq!(duration_ms(&[]), 0);
    }

    #[test]
    fn a_fault_applied_now_needs_no_hold() {
        let isolate = || raw("fault: partition\nshape: isolate\ntarget: s1n1\n");
        assert_eq!(isolate().validate().unwrap_err().0, "hold_ms");
        let now = isolate().validate_now().unwrap();
        assert_eq!((now.shape, now.hold_ms), (Some(Shape::Isolate), None));
        // Every other rule still holds.
        let bad = raw("fault: partition\nshape: halves\ntarget: s1n1\n").validate_now();
        assert_eq!(bad.unwrap_err().0, "target");
    }
}
