//! What SIGINT/SIGTERM does to a command's work, in one place (mini-redis's
//! `shutdown.rs` plays this part there).
//!
//! The work watches a [`CancellationToken`]. On the first signal
//! [`cancel_on_signal`] says what is being undone, cancels the token, and
//! keeps waiting: the work itself finishes or rolls back what it has in
//! flight (slots, a new node, a drill's faults), so nothing is left half-done
//! and nothing is created after the command returns. [`owned_run`] adds, for
//! work that creates a whole run (`up`, `run`), the removal of everything
//! labelled with its run id.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::CliError;
use crate::runtime::Runtime;

/// How long an interrupted run's work gets to see the cancellation and finish
/// its in-flight calls before it is aborted and its run removed anyway. A
/// node start or a cluster command in flight returns in well under a second;
/// 20 s also covers a docker call stuck behind a busy engine, and is still
/// short enough for someone waiting at a terminal.
const RUN_GRACE: Duration = Duration::from_secs(20);

/// How some work ended: its output, and the signal that cut it short.
pub(crate) struct Settled<T> {
    /// What the work returned (after the cancellation, when a signal came).
    pub output: T,
    /// The signal that interrupted it, when one did.
    pub signal: Option<&'static str>,
}

/// The first SIGINT or SIGTERM, by name.
pub async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Run `work` to its end. On the first SIGINT or SIGTERM, print
/// `"{signal}: {undoing}"`, cancel `cancel` (which `work` watches) and wait
/// for `work` to finish its cleanup.
pub(crate) async fn cancel_on_signal<F: Future>(
    work: F,
    cancel: &CancellationToken,
    undoing: &str,
) -> Settled<F::Output> {
    tokio::pin!(work);
    tokio::select! {
        output = &mut work => Settled { output, signal: None },
        signal = shutdown_signal() => {
            crate::note!("{signal}: {undoing}");
            cancel.cancel();
            Settled { output: work.await, signal: Some(signal) }
        }
    }
}

/// Run `work`, which creates the run `run_id`, so that everything of the run
/// is removed when it fails (unless `keep`), panics, or is interrupted by
/// SIGINT/SIGTERM (an interrupt always removes it, `keep` or not).
pub(crate) async fn owned_run<T: Send + 'static>(
    rt: Arc<Runtime>,
    run_id: String,
    keep: bool,
    cancel: CancellationToken,
    work: impl Future<Output = Result<T, CliError>> + Send + 'static,
) -> Result<T, CliError> {
    // A task of its own, so that a panic is caught here and cleaned up.
    let mut task = tokio::spawn(work);
    let joined = async {
        tokio::select! {
            r = &mut task => r,
            () = grace_after(&cancel, RUN_GRACE) => {
                task.abort();
                (&mut task).await
            }
        }
    };
    let undoing = format!("stopping and removing run {run_id}...");
    let ended = cancel_on_signal(joined, &cancel, &undoing).await;
    if let Some(signal) = ended.signal {
        remove_run(&rt, &run_id).await;
        return Err(CliError::Interrupted { signal, run_id });
    }
    match ended.output {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            if keep {
                crate::note!(
                    "keeping run {run_id} for inspection (--keep); remove it with `redis-drill down --all`"
                );
            } else {
                remove_run(&rt, &run_id).await;
            }
            Err(e)
        }
        Err(source) => {
            remove_run(&rt, &run_id).await;
            Err(CliError::Lost { run_id, source })
        }
    }
}

/// Ends `grace` after `cancel` fires.
async fn grace_after(cancel: &CancellationToken, grace: Duration) {
    cancel.cancelled().await;
    tokio::time::sleep(grace).await;
}

/// Remove everything of `run_id`; a failure is a warning (the command's own
/// outcome stands), with the command that finishes the job.
pub(crate) async fn remove_run(rt: &Runtime, run_id: &str) {
    match rt.remove_run(run_id).await {
        Ok(r) => tracing::info!(run_id, removed = %r, "cleaned up"),
        Err(e) => {
            crate::note!(
                "warning: cleanup of run {run_id} failed: {e}; run `redis-drill down --all`"
            )
        }
    }
}
