//! `redis-drill fix`: close the slots a move left open.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::CliError;
use super::interrupt::cancel_on_signal;
use super::locate::locate;
use super::output::print_json;
use crate::bringup;
use crate::cluster::AddressMap;
use crate::cluster::reshard::{
    self, FixAction, FixReport, KeyConflicts, Overwrites, OverwrittenKey, ReshardOptions,
};
use crate::exit;
use crate::runtime::RuntimeKind;

/// A bound so that the command cannot hang for ever: closing a slot moves at
/// most the keys of one slot per open slot, seconds here.
const FIX_LIMIT: Duration = Duration::from_secs(600);

/// Close slots a move left MIGRATING or IMPORTING.
///
/// What `redis-cli --cluster fix` does for open slots: a move whose two ends
/// are alive is finished, else the owner keeps the slot and gets its keys
/// back. Waits for nothing: while a failed primary that serves slots is not
/// yet replaced it refuses (exit 3), since the keys it took may be on its
/// replica. A key found on both nodes with different values stops it (exit
/// 3, the keys named): neither value is overwritten, unless `--replace`.
#[derive(clap::Args, Debug)]
pub(crate) struct Fix {
    /// Which topology (default: the only one that is up).
    #[arg(long)]
    name: Option<String>,
    /// Where the topology runs (default: search every available runtime).
    #[arg(long, value_enum)]
    runtime: Option<RuntimeKind>,
    /// A key on both nodes with different values is moved anyway, as
    /// `redis-cli --cluster fix --cluster-replace` does: the value of the
    /// node giving it up overwrites the other. Each such key is printed with
    /// both values.
    #[arg(long)]
    replace: bool,
}

/// `--json`: the fix, and the keys `--replace` overwrote.
#[derive(serde::Serialize)]
struct Fixed<'a> {
    #[serde(flatten)]
    report: &'a FixReport,
    overwritten: &'a [OverwrittenKey],
}

impl Fix {
    /// Close every open slot of the located cluster, bounded by `FIX_LIMIT` and stoppable by
    /// Ctrl-C after the slot in hand, and print what was done.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let (_rt, d) = locate(self.runtime, self.name.as_deref()).await?;
        bringup::require_cluster(&d, "only a cluster has slots to fix")?;
        let map = AddressMap::from_members(&bringup::members(&d))?;
        let mut opts = ReshardOptions::new(FIX_LIMIT, CancellationToken::new());
        let overwrites = Overwrites::default();
        if self.replace {
            opts.on_conflict = KeyConflicts::Replace(overwrites.clone());
        }
        let work = reshard::fix_open_slots_with(&map, &opts);
        let stopping = "stopping after the slot in hand...";
        let report = cancel_on_signal(work, &opts.cancel, stopping)
            .await
            .output?;
        let overwritten = overwrites.take();
        if json {
            print_json(&Fixed {
                report: &report,
                overwritten: &overwritten,
            });
            return Ok(exit::SUCCESS);
        }
        for k in &overwritten {
            crate::outln!(
                "slot {}: {} was on {} and {} with different values: {}'s {:?} kept, {}'s {:?} overwritten",
                k.slot,
                k.key,
                k.from,
                k.to,
                k.from,
                k.kept,
                k.to,
                k.overwritten
            );
        }
        if report.slots.is_empty() {
            crate::outln!("no open slot");
        } else {
            for s in &report.slots {
                let what = match s.action {
                    FixAction::Finished => "move finished",
                    FixAction::RolledBack => "rolled back",
                    FixAction::Closed => "closed",
                };
                crate::outln!(
                    "slot {}: {what}, served by {} ({} keys moved)",
                    s.slot,
                    s.owner,
                    s.keys_moved
                );
            }
        }
        Ok(exit::SUCCESS)
    }
}
