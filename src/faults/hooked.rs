//! Faults on a deployment the tool did not start: which ones it can carry
//! out (through Redis itself, or through the user's hooks), checked before
//! the drill starts, and the hooks run for the nemesis on the run's clock.

use crate::net::Grudge;
use crate::record::faults::{FaultKind, HookRun};
use crate::record::timeline::Clock;
use crate::runtime::{Deployment, hooks};

use super::schedule::FaultStep;

/// The user's command for `kind` on `d`, when `d` is attached and has one.
pub(crate) fn command(d: &Deployment, kind: FaultKind) -> Option<&str> {
    d.attached.as_ref()?.hooks.command(&kind.to_string())
}

/// Before a drill on an attached deployment: every fault of `steps` (and
/// its undo, at the end of its hold or of the drill) can be carried out there — through Redis
/// (`failover`) or through a hook — and none is one redis-drill refuses
/// to do to someone's system (`flush`). `Err` names the fault and what to
/// give. Nothing to check on the tool's own topologies.
pub fn preflight(d: &Deployment, steps: &[FaultStep]) -> Result<(), String> {
    if d.attached.is_none() {
        return Ok(());
    }
    for (i, step) in steps.iter().enumerate() {
        let entry = format!("faults[{i}] ({})", step.fault);
        let needs: Vec<FaultKind> = match step.fault {
            // Through Redis itself.
            FaultKind::Failover
            | FaultKind::Stall
            | FaultKind::StallWrites
            | FaultKind::Unstall
            | FaultKind::DropClients
            | FaultKind::Sleep
            | FaultKind::Wake
            | FaultKind::Config
            | FaultKind::RestoreConfig => Vec::new(),
            FaultKind::Flush => {
                return Err(format!(
                    "{entry}: FLUSHALL is refused on an attached deployment: it would delete keys that are not the drill's"
                ));
            }
            FaultKind::Slow => {
                return Err(format!(
                    "{entry}: a deployment redis-drill did not start has no links of its making to slow"
                ));
            }
            FaultKind::Replace => {
                return Err(format!(
                    "{entry}: a replace starts and stops servers: redis-drill only does that on a topology it started"
                ));
            }
            // With or without a hold: what a fault leaves in force is
            // undone at the end of the drill, through the undo's hook.
            kind => std::iter::once(kind).chain(kind.healed_by()).collect(),
        };
        if let Some(missing) = needs.iter().find(|k| command(d, **k).is_none()) {
            return Err(format!(
                "{entry}: an attached deployment is reached for `{missing}` only through a hook: give `{missing}: \"COMMAND\"` in a hooks file (--hooks FILE, see docs/attach.md)"
            ));
        }
    }
    Ok(())
}

/// Run `kind`'s command for each (node, peers) at once, on `clock`.
pub(crate) async fn run_for(
    d: &Deployment,
    clock: &Clock,
    kind: FaultKind,
    targets: &[(String, String)],
) -> Vec<HookRun> {
    let Some(cmd) = command(d, kind) else {
        return Vec::new();
    };
    let timeout = d
        .attached
        .as_ref()
        .map(|a| a.hooks.timeout())
        .unwrap_or_default();
    let hook = kind.to_string();
    let runs = targets.iter().filter_map(|(node, peers)| {
        let n = d.nodes.iter().find(|n| &n.name == node)?;
        let rendered = hooks::render(cmd, n, peers);
        let hook = hook.clone();
        Some(async move { hooks::run(&hook, &n.name, &rendered, timeout, || clock.now_ns()).await })
    });
    futures::future::join_all(runs).await
}

/// Each node of `nodes`, with no peers: a node fault's targets.
pub(crate) fn nodes_only(nodes: &[String]) -> Vec<(String, String)> {
    nodes.iter().map(|n| (n.clone(), String::new())).collect()
}

/// A partition's targets: each node the grudge makes drop someone, with
/// the announced IPs it drops, comma-separated.
pub(crate) fn partition_targets(d: &Deployment, grudge: &Grudge) -> Vec<(String, String)> {
    d.nodes
        .iter()
        .filter_map(|n| {
            let peers: Vec<String> = grudge
                .drops_from(&n.name)
                .filter_map(|p| d.nodes.iter().find(|m| m.name == p))
                .map(|m| m.announce.ip().to_string())
                .collect();
            (!peers.is_empty()).then(|| (n.name.clone(), peers.join(",")))
        })
        .collect()
}

/// Why some of `runs` did not do what they stand for, in one line.
pub(crate) fn failure(runs: &[HookRun]) -> Option<String> {
    let failed: Vec<String> = (runs.iter())
        .filter(|r| !r.ok())
        .map(|r| {
            let said = r.output.lines().last().unwrap_or("").trim();
            if said.is_empty() {
                format!("hook {}", r.outcome())
            } else {
                format!("hook {} ({said})", r.outcome())
            }
        })
        .collect();
    (!failed.is_empty()).then(|| failed.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::schedule::RawFault;
    use crate::runtime::hooks::Hooks;
    use crate::runtime::{Attachment, RuntimeKind};

    fn attached(hooks: &str) -> Deployment {
        let topology = crate::topology::Topology::parse(
            "name: t\nkind: standalone\nstandalone:\n  primaries: 1\n",
            None,
        )
        .unwrap();
        Deployment {
            name: "t".into(),
            run_id: "r".into(),
            runtime: RuntimeKind::External,
            attached: Some(Attachment {
                seeds: vec!["127.0.0.1:7001".into()],
                servers: Vec::new(),
                hooks: Hooks::parse(hooks).unwrap(),
            }),
            security: Default::default(),
            credentials: None,
            sentinels: Vec::new(),
            image: String::new(),
            topology,
            nodes: Vec::new(),
        }
    }

    fn step(fault: FaultKind, hold_ms: Option<u64>) -> FaultStep {
        RawFault {
            target: Some("n1".into()),
            hold_ms,
            ..RawFault::new(fault)
        }
        .validate_now()
        .unwrap()
    }

    #[test]
    fn a_fault_needs_its_hook_and_its_undos_whether_or_not_it_holds() {
        let d = attached("kill: \"true\"\n");
        // The teardown starts a killed node again: without a `start` hook it could not.
        for hold in [None, Some(1000)] {
            let e = preflight(&d, &[step(FaultKind::Kill, hold)]).unwrap_err();
            assert!(e.contains("`start`"), "{e}");
        }
        let both = attached("kill: \"true\"\nstart: \"true\"\n");
        assert!(preflight(&both, &[step(FaultKind::Kill, None)]).is_ok());
        let e = preflight(&both, &[step(FaultKind::Pause, None)]).unwrap_err();
        assert!(
            e.contains("faults[0] (pause)") && e.contains("`pause`"),
            "{e}"
        );
        // Through Redis: no hook. Refused whatever the hooks: flush.
        assert!(preflight(&d, &[step(FaultKind::StallWrites, Some(500))]).is_ok());
        assert!(
            preflight(&d, &[step(FaultKind::Flush, None)])
                .unwrap_err()
                .contains("FLUSHALL")
        );
    }
}
