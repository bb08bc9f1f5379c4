//! The node faults — `kill`, `stop`, `start`, `restart`, `pause`, `resume`,
//! `failover` — applied once, now, through the nemesis: the same code a
//! drill runs. Also [`apply_fault`], which `partition` shares.

use tokio_util::sync::CancellationToken;

use super::error::CliError;
use super::locate::locate;
use super::output::print_json;
use crate::bringup;
use crate::cluster::AddressMap;
use crate::exit;
use crate::faults::schedule::RawFault;
use crate::faults::{FailoverMode, FaultKind, FaultStep, Nemesis};
use crate::record::timeline::Clock;
use crate::runtime::{Deployment, Runtime, RuntimeKind};

/// Which node of which running topology a command acts on (shared by the
/// node faults, `logs` and `exec`).
#[derive(clap::Args, Debug)]
pub(crate) struct NodeArgs {
    /// A node's name (see `redis-drill status`) or a target: primary_of:SLOT,
    /// replica_of:TARGET, random_primary, replica, random_node, primaries,
    /// replicas, all, region:NAME.
    pub(super) node: String,
    /// Which topology (default: the only one that is up).
    #[arg(long)]
    pub(super) name: Option<String>,
    /// Where the topology runs (default: search every available runtime).
    #[arg(long, value_enum)]
    pub(super) runtime: Option<RuntimeKind>,
}

impl NodeArgs {
    /// Apply `fault` (any node fault but failover) to the node or target.
    /// Apply `fault` to the named node now, as a one-step fault schedule, so that the command
    /// line and a scenario share one code path.
    pub(crate) async fn run(self, fault: FaultKind, json: bool) -> Result<i32, CliError> {
        self.apply(fault, None, json).await
    }

    async fn apply(
        self,
        fault: FaultKind,
        mode: Option<FailoverMode>,
        json: bool,
    ) -> Result<i32, CliError> {
        let (rt, d) = locate(self.runtime, self.name.as_deref()).await?;
        // A Sentinel is no fault target of a drill yet: the command acts on
        // its process (or container) directly.
        if let Some(action) = fault.node_action()
            && d.sentinels.iter().any(|s| s.name == self.node)
        {
            rt.node_action(&d, &self.node, action).await?;
            if json {
                print_json(
                    &serde_json::json!({"sentinel": self.node, "action": action.to_string()}),
                );
            } else {
                crate::outln!("{}: {action}", self.node);
            }
            return Ok(exit::SUCCESS);
        }
        let step = fault_now(RawFault {
            target: Some(self.node),
            mode,
            ..RawFault::new(fault)
        })?;
        apply_fault(&rt, &d, &step, None, json).await
    }
}

/// Fail a primary over to a replica with CLUSTER FAILOVER [FORCE|TAKEOVER].
#[derive(clap::Args, Debug)]
pub(crate) struct Failover {
    #[command(flatten)]
    node: NodeArgs,
    /// default (coordinated, no write lost), force (without the primary), takeover (no election).
    #[arg(long, value_enum, default_value_t = FailoverMode::Default)]
    mode: FailoverMode,
}

impl Failover {
    /// Fail over at the named node in the chosen mode, as the `failover` fault does in a
    /// scenario.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        self.node
            .apply(FaultKind::Failover, Some(self.mode), json)
            .await
    }
}

/// A fault from the command line, checked by the same rules as a scenario's.
pub(super) fn fault_now(raw: RawFault) -> Result<FaultStep, CliError> {
    raw.validate_now()
        .map_err(|(field, message)| CliError::FaultArgs { field, message })
}

/// Apply one fault now and say what it hit.
pub(super) async fn apply_fault(
    rt: &Runtime,
    d: &Deployment,
    step: &FaultStep,
    seed: Option<u64>,
    json: bool,
) -> Result<i32, CliError> {
    // An attached deployment is cut through the user's hook instead.
    let hooked = crate::faults::hooked::command(d, step.fault).is_some();
    if step.fault == FaultKind::Partition && !hooked {
        rt.can_partition(d).await?;
    }
    let map = AddressMap::from_members(&bringup::members(d))?;
    let mut nemesis = Nemesis::new(
        rt,
        d,
        map,
        Clock::start(),
        seed.unwrap_or_else(rand::random),
    );
    let i = nemesis.apply(step, &CancellationToken::new()).await?;
    let w = &nemesis.windows()[i];
    if json {
        print_json(&serde_json::json!({
            "name": d.name,
            "fault": w.fault,
            "target": w.target,
            "nodes": w.nodes,
            "detail": w.detail,
            "took_ms": (w.applied_ns.saturating_sub(w.start_ns)) as f64 / 1e6,
            "promoted_ms": w.promoted_ms,
        }));
    } else {
        crate::outln!(
            "{} {}: {}{}{}",
            w.fault,
            w.target,
            w.nodes.join(" "),
            if w.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", w.detail)
            },
            match w.promoted_ms {
                Some(p) => format!(", promoted in {p:.0} ms"),
                None => String::new(),
            }
        );
    }
    // A hook that failed or hung: the fault is not known to have happened.
    if let Some(why) = &w.skipped {
        crate::note!("error: {} {} not performed: {why}", w.fault, w.target);
        return Ok(exit::ENVIRONMENT);
    }
    Ok(exit::SUCCESS)
}
