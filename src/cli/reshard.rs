//! `redis-drill reshard`: move slots on a running cluster.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::CliError;
use super::interrupt::cancel_on_signal;
use super::locate::locate;
use super::output::print_json;
use crate::bringup;
use crate::cluster::reshard::{self, ReshardOptions, SlotOwners};
use crate::cluster::{self, AddressMap};
use crate::exit;
use crate::runtime::{Deployment, RuntimeKind};
use crate::scenarios::{self, ReshardAction};

/// A bound so that a command-line reshard cannot hang for ever, far above
/// what a move on this tool's topologies takes (the reshard drill moves 2000
/// slots in about 2 s here, docs/drills.md "The reshard drill").
const RESHARD_LIMIT: Duration = Duration::from_secs(3600);
/// How long the nodes get to agree on the new owners after the last move;
/// gossip settles in tens of milliseconds here (the drill's convergence
/// line), so a minute only ends a wait on a cluster that is broken.
const CONVERGE_LIMIT: Duration = Duration::from_secs(60);

/// Move slots on a running cluster: N slots between two primaries, a rebalance, or a drain.
#[derive(clap::Args, Debug)]
pub(crate) struct Reshard {
    /// Which topology (default: the only one that is up).
    #[arg(long)]
    name: Option<String>,
    /// Where the topology runs (default: search every available runtime).
    #[arg(long, value_enum)]
    runtime: Option<RuntimeKind>,
    /// Source primary (with --to and --slots).
    #[arg(long, requires_all = ["to", "slots"], conflicts_with_all = ["rebalance", "drain"])]
    from: Option<String>,
    /// Target primary.
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// How many slots to move.
    #[arg(long, requires = "from")]
    slots: Option<usize>,
    /// Even out the slots over every primary.
    #[arg(long, conflicts_with = "drain")]
    rebalance: bool,
    /// Move every slot of this primary onto the others.
    #[arg(long)]
    drain: Option<String>,
    /// Keys per MIGRATE.
    #[arg(long)]
    batch_keys: Option<usize>,
    /// Slots migrated at once.
    #[arg(long)]
    parallel_slots: Option<usize>,
    /// How slots move: key by key (MIGRATE, every server), atomic (the
    /// server's own migration, Valkey 9.0+; refused where a node lacks it),
    /// or auto (atomic when every node involved has it).
    #[arg(long, value_enum, default_value_t = reshard::Method::Keys)]
    method: reshard::Method,
    /// Key by key: keep each source's PING under this many ms, lowering
    /// keys per MIGRATE and slots in flight while it is over (then
    /// --batch-keys and --parallel-slots are the ceilings).
    #[arg(long, value_parser = positive_ms)]
    max_impact_ms: Option<f64>,
    /// Atomic: at most this many keys per server job (slots grouped in
    /// order; a slot with more keys is a job of its own). A job's end
    /// deletes its keys on the source in one go — on Valkey 9.1 about a
    /// second for a million keys, while the source answers nothing.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    atomic_job_keys: Option<u64>,
}

/// A bound in ms: a positive number.
fn positive_ms(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a positive number of ms")),
    }
}

impl Reshard {
    /// Move the slots the flags ask for on the running cluster, drawing the
    /// bar from the engine's progress events; the exit code says how it ended.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let action = match (self.from, self.to, self.slots, self.rebalance, self.drain) {
            (Some(from), Some(to), Some(slots), false, None) => {
                ReshardAction::Move { from, to, slots }
            }
            (None, None, None, true, None) => ReshardAction::Rebalance,
            (None, None, None, false, Some(node)) => ReshardAction::Drain { node },
            _ => {
                return Err(CliError::Usage(
                    "give --from, --to and --slots; or --rebalance; or --drain NODE",
                ));
            }
        };
        let (_rt, d) = locate(self.runtime, self.name.as_deref()).await?;
        let mut opts = ReshardOptions::new(RESHARD_LIMIT, CancellationToken::new());
        if let Some(b) = self.batch_keys {
            opts.batch_keys = b;
        }
        if let Some(p) = self.parallel_slots {
            opts.parallel_slots = p;
        }
        opts.method = self.method;
        if self.max_impact_ms.is_some() && self.method != reshard::Method::Keys {
            return Err(CliError::Usage(
                "--max-impact-ms steers key-by-key moves (--method keys): an atomic migration is the server's",
            ));
        }
        opts.max_impact_ms = self.max_impact_ms;
        if self.atomic_job_keys.is_some() && self.method == reshard::Method::Keys {
            return Err(CliError::Usage(
                "--atomic-job-keys splits atomic migrations: give --method atomic or auto",
            ));
        }
        opts.atomic_job_keys = self.atomic_job_keys;
        opts.measure_bytes = true;
        move_slots(&d, &action, &opts, json).await
    }
}

/// Plan from the live slot owners, move with a progress bar, and on Ctrl-C
/// let the engine finish or roll back the slots in flight; then wait until
/// every node agrees.
async fn move_slots(
    d: &Deployment,
    action: &ReshardAction,
    opts: &ReshardOptions,
    json: bool,
) -> Result<i32, CliError> {
    let map = AddressMap::from_members(&bringup::members(d))?;
    let owners = SlotOwners::load(&map, cluster::ConnectOptions::default()).await?;
    let moves = scenarios::reshard::slot_moves(action, &owners)?;
    let (from, to) = scenarios::reshard::endpoints(&moves);
    if !json {
        crate::note!(
            "moving {} slots {} -> {}",
            moves.moves.len(),
            from.join(","),
            to.join(",")
        );
    }
    // The bar subscribes to the moves' progress events; the moves draw nothing.
    let mut bar = scenarios::bar::ReshardBar::new(moves.moves.len() as u64, json);
    let mut on_progress = |p: reshard::Progress| bar.update(p.slots_done as u64, p.keys_moved);
    let work = scenarios::reshard::run_moves(&map, &moves, opts, &mut on_progress);
    let undoing = "finishing or rolling back the slots in flight...";
    let result = cancel_on_signal(work, &opts.cancel, undoing).await.output;
    bar.finish();
    // The server's record of each atomic migration, whether the move
    // succeeded or not (a failed one says why).
    let migrations = opts.migrations.take();
    if !json {
        for m in &migrations {
            crate::outln!("{}", migration_line(m));
        }
    }
    let rep = result?;
    // Replicas learn the new owners by gossip: wait until every node agrees, so
    // that the command's end means a settled cluster.
    let members = scenarios::reshard::convergence_members(d, Some(action), false);
    let conv = cluster::wait_converged(
        &members,
        &cluster::ConvergeOptions::new(CONVERGE_LIMIT, opts.cancel.clone()),
    )
    .await?;
    let convergence_ms = rep.finished_at.elapsed().as_secs_f64() * 1000.0;
    if json {
        let mut v = serde_json::to_value(&rep).expect("a reshard report serializes");
        v["convergence_ms"] = serde_json::json!(convergence_ms);
        v["convergence_polls"] = serde_json::json!(conv.polls);
        if !migrations.is_empty() {
            v["migrations"] = serde_json::json!(migrations);
        }
        print_json(&v);
    } else {
        let bytes = if rep.method == reshard::Method::Atomic {
            // The server moved the keys: no MEMORY USAGE was read.
            "bytes not measured".to_string()
        } else {
            format!("{} bytes", rep.bytes_moved)
        };
        crate::outln!(
            "moved {} slots, {} keys ({bytes}) in {:.0} ms: {:.0} keys/s, {:.0} slots/s",
            rep.slots_moved,
            rep.keys_moved,
            rep.duration.as_secs_f64() * 1000.0,
            rep.keys_per_s,
            rep.slots_per_s
        );
        if let Some(i) = &rep.impact {
            crate::outln!("{i}");
        }
        let last = if rep.method == reshard::Method::Atomic {
            "migration"
        } else {
            "SETSLOT"
        };
        crate::outln!("every node agreed {convergence_ms:.0} ms after the last {last}");
    }
    Ok(exit::SUCCESS)
}

/// One atomic migration as the terminal shows it.
fn migration_line(m: &reshard::MigrationRecord) -> String {
    let state = if m.message.is_empty() {
        m.state.clone()
    } else {
        format!("{}: {}", m.state, m.message)
    };
    format!(
        "  migration {} {} -> {} slots {}: {state} in {:.0} ms{}, {} keys on the target",
        m.name.get(..8).unwrap_or(&m.name),
        m.source,
        m.target,
        m.slot_ranges,
        m.duration_ms,
        m.pause_seen_ms
            .map(|p| format!(" (write pause seen for {p:.0} ms)"))
            .unwrap_or_default(),
        m.keys_on_target
            .map_or_else(|| "unknown".to_string(), |k| k.to_string())
    )
}
