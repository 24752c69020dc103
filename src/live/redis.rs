//! The Redis side of live updates: one task publishes, one task listens on a dedicated pub/sub
//! connection and feeds the local broadcast. Both reconnect by themselves with back-off. When
//! Redis is away, events are delivered in-process (this replica's subscribers still see them)
//! and a publish never waits more than [`PUBLISH_TIMEOUT`], in a background task.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, timeout};

use super::TenantEvent;

const PUBLISH_TIMEOUT: Duration = Duration::from_millis(250);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Events waiting for the publisher; beyond this they go in-process only.
const QUEUE: usize = 8_192;

pub(super) struct Link {
    queue: mpsc::Sender<Queued>,
    /// The listener is subscribed: what goes through Redis comes back to this replica.
    listening: Arc<AtomicBool>,
}

struct Queued {
    event: TenantEvent,
    delivered_here: bool,
}

/// What travels through Redis: the event, and the replica that already delivered it itself
/// (its listener was away), which then skips it when it comes back.
#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    #[serde(flatten)]
    event: TenantEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    skip: Option<u64>,
}

impl Link {
    pub(super) fn start(
        url: &str,
        channel: &str,
        local: broadcast::Sender<TenantEvent>,
    ) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let listening = Arc::new(AtomicBool::new(false));
        let (queue, rx) = mpsc::channel(QUEUE);
        let replica = rand::random::<u64>();
        tokio::spawn(listen(
            client.clone(),
            channel.to_owned(),
            local.clone(),
            listening.clone(),
            replica,
        ));
        tokio::spawn(publish_loop(client, channel.to_owned(), rx, local, replica));
        Ok(Self { queue, listening })
    }

    pub(super) fn listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    pub(super) fn publish(&self, event: TenantEvent, local: &broadcast::Sender<TenantEvent>) {
        // While the listener is away, this replica's subscribers are served directly.
        let delivered_here = !self.listening.load(Ordering::Relaxed);
        if delivered_here {
            let _ = local.send(event.clone());
        }
        if let Err(e) = self.queue.try_send(Queued {
            event,
            delivered_here,
        }) {
            let q = e.into_inner();
            if !q.delivered_here {
                let _ = local.send(q.event);
            }
        }
    }
}

fn next_backoff(b: Duration) -> Duration {
    (b * 2).min(MAX_BACKOFF)
}

async fn publish_loop(
    client: redis::Client,
    channel: String,
    mut rx: mpsc::Receiver<Queued>,
    local: broadcast::Sender<TenantEvent>,
    replica: u64,
) {
    // Connected before the first change, so that the first one is not held up.
    let mut conn = match timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection()).await {
        Ok(Ok(c)) => Some(c),
        _ => None,
    };
    let mut retry_at = Instant::now();
    let mut backoff = Duration::from_millis(100);
    while let Some(q) = rx.recv().await {
        if conn.is_none() && Instant::now() >= retry_at {
            match timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection()).await {
                Ok(Ok(c)) => {
                    conn = Some(c);
                    backoff = Duration::from_millis(100);
                }
                _ => {
                    retry_at = Instant::now() + backoff;
                    backoff = next_backoff(backoff);
                }
            }
        }
        let sent = match conn.as_mut() {
            Some(c) => {
                let envelope = Envelope {
                    event: q.event.clone(),
                    skip: q.delivered_here.then_some(replica),
                };
                let payload = serde_json::to_string(&envelope).unwrap_or_default();
                let mut cmd = redis::cmd("PUBLISH");
                cmd.arg(&channel).arg(payload);
                let sent = timeout(PUBLISH_TIMEOUT, cmd.query_async::<i64>(c)).await;
                matches!(sent, Ok(Ok(_)))
            }
            None => false,
        };
        if !sent {
            if conn.take().is_some() {
                tracing::warn!("live updates: Redis publish failed, delivering in-process");
                retry_at = Instant::now() + backoff;
            }
            if !q.delivered_here {
                let _ = local.send(q.event);
            }
        }
    }
}

async fn listen(
    client: redis::Client,
    channel: String,
    local: broadcast::Sender<TenantEvent>,
    listening: Arc<AtomicBool>,
    replica: u64,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if let Ok(Ok(mut pubsub)) = timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await
            && matches!(
                timeout(CONNECT_TIMEOUT, pubsub.subscribe(&channel)).await,
                Ok(Ok(()))
            )
        {
            listening.store(true, Ordering::Relaxed);
            backoff = Duration::from_millis(100);
            tracing::info!(%channel, "live updates: listening on Redis");
            let mut messages = pubsub.into_on_message();
            while let Some(msg) = messages.next().await {
                let Ok(payload) = msg.get_payload::<String>() else {
                    continue;
                };
                match serde_json::from_str::<Envelope>(&payload) {
                    Ok(e) if e.skip == Some(replica) => {}
                    Ok(e) => {
                        let _ = local.send(e.event);
                    }
                    Err(e) => tracing::warn!(error = %e, "live updates: unreadable message"),
                }
            }
            listening.store(false, Ordering::Relaxed);
            tracing::warn!("live updates: Redis subscription lost, reconnecting");
        }
        tokio::time::sleep(backoff).await;
        backoff = next_backoff(backoff);
    }
}
