//! Live updates: after a transaction commits, the code that committed it publishes a
//! [`Change`] for the tenant; on each replica, the hub of each (tenant, stream) with
//! subscriptions (GraphQL subscriptions over WebSocket) is nudged, reads the current value from
//! the database once, and hands it to all of them (`feed.rs`). A message carries no figures, so
//! it can never show stale or wrong data, and its order does not matter. Fan-out is
//! in-process, and across replicas through Redis pub/sub when Redis is configured
//! (`redis.rs`). Publishing never waits: it hands the change to a background task and returns.
use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::domain::TenantId;

mod feed;
mod redis;

/// What changed for a tenant. Published only after the transaction that changed it commits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A ledger entry: the balance or the held credits moved.
    Wallet,
    /// Usage was recorded for this metric (its code).
    Usage { metric: String },
    /// An invoice was created or changed (its id).
    Invoice { id: String },
    /// One or more notifications were recorded.
    Notification,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantEvent {
    pub tenant: String,
    #[serde(flatten)]
    pub change: Change,
}

impl TenantEvent {
    pub fn is_for(&self, tenant: TenantId) -> bool {
        self.tenant == tenant.to_string()
    }
}

/// The broadcast channel of this replica's changes (every hub listens on it), the Redis link
/// when there is one, the hubs by (tenant, stream), and the count of open subscriptions per
/// tenant (this replica's).
pub struct Live {
    local: broadcast::Sender<TenantEvent>,
    redis: Option<redis::Link>,
    hubs: feed::Hubs,
    per_tenant: Mutex<HashMap<TenantId, usize>>,
}

/// How many events may wait for a slow hub before it skips ahead (it then re-reads the
/// current value, so nothing is shown wrong).
const BACKLOG: usize = 4_096;

impl Live {
    /// In-process only: one replica.
    pub fn in_process() -> Self {
        let (local, _) = broadcast::channel(BACKLOG);
        Self {
            local,
            redis: None,
            hubs: feed::Hubs::default(),
            per_tenant: Mutex::default(),
        }
    }

    /// Fanned out through Redis pub/sub on `{prefix}live`. Nothing here waits for Redis: the
    /// link connects, and reconnects, in the background.
    pub fn with_redis(url: &str, prefix: &str) -> Result<Self, String> {
        let (local, _) = broadcast::channel(BACKLOG);
        let link = redis::Link::start(url, &format!("{prefix}live"), local.clone())?;
        Ok(Self {
            local,
            redis: Some(link),
            hubs: feed::Hubs::default(),
            per_tenant: Mutex::default(),
        })
    }

    /// Call after `commit()`. Never fails and never waits.
    pub fn publish(&self, tenant: TenantId, change: Change) {
        let event = TenantEvent {
            tenant: tenant.to_string(),
            change,
        };
        match &self.redis {
            Some(link) => link.publish(event, &self.local),
            None => {
                let _ = self.local.send(event);
            }
        }
    }

    /// This replica's changes, all tenants. Subscriptions go through [`Live::latest`] and
    /// [`Live::each`] instead, which share one read per change.
    pub fn subscribe(&self) -> broadcast::Receiver<TenantEvent> {
        self.local.subscribe()
    }

    /// Takes one of `tenant`'s subscription slots, or `None` when `max` are open on this
    /// replica. The slot is given back when the guard drops.
    pub fn take_slot(self: &std::sync::Arc<Self>, tenant: TenantId, max: usize) -> Option<Slot> {
        let mut map = self.per_tenant.lock().unwrap_or_else(|p| p.into_inner());
        let open = map.entry(tenant).or_default();
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(Slot {
            live: self.clone(),
            tenant,
        })
    }

    /// Subscriptions listening on this replica (all tenants), for tests and benchmarks that
    /// wait until theirs are in place.
    pub fn listeners(&self) -> usize {
        self.hubs.members.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether changes published on other replicas reach this one: true without Redis (there
    /// are none), and with Redis once the pub/sub listener is subscribed.
    pub fn fanned_out(&self) -> bool {
        self.redis.as_ref().is_none_or(redis::Link::listening)
    }

    /// Open subscriptions of `tenant` on this replica.
    pub fn open_for(&self, tenant: TenantId) -> usize {
        let map = self.per_tenant.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&tenant).copied().unwrap_or(0)
    }
}

/// One open subscription, counted against its tenant until dropped.
pub struct Slot {
    live: std::sync::Arc<Live>,
    tenant: TenantId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self
            .live
            .per_tenant
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(open) = map.get_mut(&self.tenant) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                map.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_travels_as_json_and_back() {
        let e = TenantEvent {
            tenant: "ten_1".into(),
            change: Change::Usage {
                metric: "api_calls".into(),
            },
        };
        let s = serde_json::to_string(&e).expect("json");
        assert_eq!(
            s,
            r#"{"tenant":"ten_1","kind":"usage","metric":"api_calls"}"#
        );
        assert_eq!(serde_json::from_str::<TenantEvent>(&s).expect("parse"), e);
    }

    #[tokio::test]
    async fn with_redis_unreachable_a_change_is_still_delivered_in_process() {
        // Nothing listens on port 9: the link never connects, and publishing does not wait.
        let live = Live::with_redis("redis://127.0.0.1:9", "test:").expect("link");
        let mut rx = live.subscribe();
        let t = TenantId::new();
        live.publish(t, Change::Wallet);
        let e = tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
            .await
            .expect("delivered")
            .expect("event");
        assert!(e.is_for(t));
        assert_eq!(e.change, Change::Wallet);
        assert!(!live.fanned_out());
    }

    #[tokio::test]
    async fn a_tenant_gets_no_more_slots_than_allowed_and_gets_them_back() {
        let live = std::sync::Arc::new(Live::in_process());
        let t = TenantId::new();
        let a = live.take_slot(t, 2).expect("first");
        let _b = live.take_slot(t, 2).expect("second");
        assert!(live.take_slot(t, 2).is_none());
        assert!(live.take_slot(TenantId::new(), 2).is_some());
        drop(a);
        assert!(live.take_slot(t, 2).is_some());
    }
}
