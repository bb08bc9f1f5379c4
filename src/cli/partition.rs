//! `redis-drill partition` and `heal`: packets dropped between nodes as a
//! grudge says, and every drop removed.

use super::error::CliError;
use super::locate::locate;
use super::node::{apply_fault, fault_now};
use super::output::print_json;
use crate::exit;
use crate::faults::FaultKind;
use crate::faults::schedule::RawFault;
use crate::runtime::RuntimeKind;

/// Cut nodes off from each other: packets dropped silently (iptables DROP)
/// as a grudge says, until `heal`.
#[derive(clap::Args, Debug)]
pub(crate) struct Partition {
    /// isolate | halves | bridge | majorities_ring | primaries | one_way | regions | clients | sentinels.
    shape: String,
    /// For isolate: the node(s) cut off; for one_way: the sender whose packets drop.
    target: Option<String>,
    /// For one_way: the node that drops what TARGET sends.
    #[arg(long)]
    peer: Option<String>,
    /// Which topology (default: the only one that is up).
    #[arg(long)]
    name: Option<String>,
    /// Where the topology runs (default: search every available runtime).
    #[arg(long, value_enum)]
    runtime: Option<RuntimeKind>,
    /// Seed for the shapes that shuffle the nodes (halves, bridge, ...).
    #[arg(long)]
    seed: Option<u64>,
}

impl Partition {
    /// Apply the partition now, after asking the runtime whether partitions can work here, as a
    /// one-step fault schedule.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let step = fault_now(RawFault {
            shape: Some(self.shape),
            target: self.target,
            peer: self.peer,
            ..RawFault::new(FaultKind::Partition)
        })?;
        let (rt, d) = locate(self.runtime, self.name.as_deref()).await?;
        apply_fault(&rt, &d, &step, self.seed, json).await
    }
}

/// Remove every partition.
#[derive(clap::Args, Debug)]
pub(crate) struct Heal {
    /// Which topology (default: the only one that is up).
    #[arg(long)]
    name: Option<String>,
    /// Where the topology runs (default: search every available runtime).
    #[arg(long, value_enum)]
    runtime: Option<RuntimeKind>,
}

impl Heal {
    /// Lift every partition of the located topology, after the same question to the runtime as
    /// `partition`.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let (rt, d) = locate(self.runtime, self.name.as_deref()).await?;
        if crate::faults::hooked::command(&d, FaultKind::Heal).is_some() {
            // Through the user's hook, every pair (nothing of another
            // invocation's partition is known here).
            let step = fault_now(RawFault::new(FaultKind::Heal))?;
            return apply_fault(&rt, &d, &step, None, json).await;
        }
        rt.can_partition(&d).await?;
        let healed = rt.heal(&d).await?;
        if json {
            print_json(&serde_json::json!({
                "name": d.name,
                "fault": "heal",
                "nodes": healed.nodes,
                "skipped": healed.skipped,
                "took_ms": healed.elapsed.as_secs_f64() * 1000.0,
            }));
        } else {
            crate::outln!(
                "heal {}: every partition removed ({} nodes in {:.0} ms)",
                d.name,
                healed.nodes,
                healed.elapsed.as_secs_f64() * 1000.0
            );
        }
        Ok(exit::SUCCESS)
    }
}
