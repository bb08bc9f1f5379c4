//! How a drill waits: a sleep that an interrupt cuts short.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::DrillError;

/// Sleep for `d` unless cancelled: every wait of a drill ends at Ctrl-C.
pub(super) async fn hold(d: Duration, cancel: &CancellationToken) -> Result<(), DrillError> {
    tokio::select! {
        _ = cancel.cancelled() => Err(DrillError::Cancelled),
        _ = tokio::time::sleep(d) => Ok(()),
    }
}
