//! Listening to the Sentinels: one subscription (`PSUBSCRIBE *`) to each,
//! every event it publishes stamped on the run's clock as it is heard
//! ([`SentinelRecording`]). A subscription is checked with a PING on its own
//! connection every [`HEALTH_INTERVAL`]: a Sentinel that stopped answering
//! (killed, paused, cut off) is recorded as `lost` and subscribed to again
//! when it answers, so that the checker knows when silence means nothing
//! happened and when it means the tool could not hear.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::record::sentinel::{LISTENING, LOST, SentinelEvent, SentinelRecording};
use crate::record::timeline::Clock;

/// How often a subscription is PINGed, and how long a PING or a connection
/// may take before the subscription counts as lost.
const HEALTH_INTERVAL: Duration = Duration::from_millis(500);
const HEALTH_TIMEOUT: Duration = Duration::from_millis(1000);
/// The pause between two attempts to subscribe to a Sentinel that did not
/// answer.
const RETRY: Duration = Duration::from_millis(200);

/// The running subscriptions.
pub struct SentinelListener {
    tasks: Vec<JoinHandle<()>>,
    heard: Arc<Mutex<Vec<SentinelEvent>>>,
    cancel: CancellationToken,
}

impl SentinelListener {
    /// Subscribe to every Sentinel of `sentinels` (name, address), on
    /// `clock`, until [`Self::stop`] or `cancel`.
    pub fn start(
        sentinels: Vec<(String, SocketAddr)>,
        clock: Clock,
        cancel: CancellationToken,
    ) -> SentinelListener {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let tasks = sentinels
            .into_iter()
            .map(|(name, addr)| {
                let (heard, cancel) = (heard.clone(), cancel.clone());
                tokio::spawn(listen(name, addr, clock, heard, cancel))
            })
            .collect();
        SentinelListener {
            tasks,
            heard,
            cancel,
        }
    }

    /// How many Sentinels are listened to.
    pub fn count(&self) -> usize {
        self.tasks.len()
    }

    /// How many Sentinels have been subscribed to at least once.
    pub fn listening(&self) -> usize {
        let heard = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        let mut on: Vec<&str> = (heard.iter())
            .filter(|e| e.event == LISTENING)
            .map(|e| e.sentinel.as_str())
            .collect();
        on.sort_unstable();
        on.dedup();
        on.len()
    }

    /// Stop listening; everything heard, in the order heard.
    pub async fn stop(self) -> SentinelRecording {
        self.cancel.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        let mut events = std::mem::take(&mut *self.heard.lock().unwrap_or_else(|p| p.into_inner()));
        events.sort_by_key(|e| e.t_ns);
        SentinelRecording { events }
    }
}

/// One Sentinel's subscription, again after each loss, until `cancel`.
async fn listen(
    name: String,
    addr: SocketAddr,
    clock: Clock,
    heard: Arc<Mutex<Vec<SentinelEvent>>>,
    cancel: CancellationToken,
) {
    let push = |event: &str, detail: String| {
        heard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(SentinelEvent {
                t_ns: clock.now_ns(),
                sentinel: name.clone(),
                event: event.to_string(),
                detail,
            });
    };
    while !cancel.is_cancelled() {
        let subscribed = async {
            let client = redis::Client::open(format!("redis://{addr}/"))?;
            let mut ps = client.get_async_pubsub().await?;
            ps.psubscribe("*").await?;
            Ok::<_, redis::RedisError>(ps)
        };
        let ps = tokio::select! {
            _ = cancel.cancelled() => return,
            r = tokio::time::timeout(HEALTH_TIMEOUT, subscribed) => r,
        };
        if let Ok(Ok(ps)) = ps {
            push(LISTENING, addr.to_string());
            let (mut sink, mut stream) = ps.split();
            let mut tick = tokio::time::interval(HEALTH_INTERVAL);
            tick.tick().await;
            let lost = loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    m = stream.next() => match m {
                        Some(m) => push(
                            m.get_channel_name(),
                            m.get_payload::<String>().unwrap_or_default(),
                        ),
                        None => break "the connection closed".to_string(),
                    },
                    // Subscribed, a PING is answered `["pong", ""]`.
                    _ = tick.tick() => {
                        match tokio::time::timeout(HEALTH_TIMEOUT, sink.ping::<redis::Value>()).await {
                            Ok(Ok(_)) => {}
                            Ok(Err(e)) => break format!("PING: {e}"),
                            Err(_) => break format!("no answer to PING within {HEALTH_TIMEOUT:?}"),
                        }
                    }
                }
            };
            push(LOST, lost);
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(RETRY) => {}
        }
    }
}
