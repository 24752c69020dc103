//! What nearly every request reads about its tenant, and what rarely changes: the tenant and its
//! live subscription, kept as one entry of the two-level cache and stamped with the tenant's
//! cache epoch. The store bumps that epoch in the transaction of every write to the tenant row,
//! its subscriptions and their coupon redemptions (`store::cache_epochs::bump_tenant`). So an
//! entry read before a write is never served after it, on any replica, whatever Redis holds.
//!
//! Nothing about money is decided from a snapshot. Limits, balances and block charges are read
//! again inside their own transaction; the snapshot answers "may this tenant act at all", the
//! reads of the API, and the rate limit's plan.
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::Actor;
use crate::cache::{CacheEpochs, Stamped};
use crate::domain::{Subscription, Tenant, TenantId};
use crate::error::Result;
use crate::state::AppState;
use crate::store;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TenantSnapshot {
    pub tenant: Tenant,
    /// The live subscription (trialing, active, past due or unpaid), if any.
    pub live: Option<Subscription>,
}

/// An entry outlives no write (the epoch sees to that); the TTL only bounds memory.
const TTL: Duration = Duration::from_secs(300);

fn key(id: TenantId) -> String {
    format!("tenant-snapshot:{id}")
}

/// The tenant `id` and its live subscription, `None` if there is no such tenant. When `actor`
/// read the tenant's epoch while authenticating this request, that read serves here too.
pub async fn snapshot(
    state: &AppState,
    actor: Option<&Actor>,
    id: TenantId,
) -> Result<Option<TenantSnapshot>> {
    let key = key(id);
    let cached = state
        .cache
        .get(&key)
        .await
        .ok()
        .flatten()
        .and_then(|raw| serde_json::from_str::<Stamped<TenantSnapshot>>(&raw).ok());
    let known = actor
        .filter(|a| a.tenant == Some(id))
        .and_then(|a| a.cache_epoch);
    let epoch = match (known, &cached) {
        (Some(e), Some(c)) if c.epoch == e => return Ok(cached.map(|c| c.value)),
        // Read before the rows below, so a write committed in between leaves the new entry
        // already stale.
        (Some(e), None) => e,
        _ => CacheEpochs::current(&state.db, &CacheEpochs::tenant(id)).await?,
    };
    if let Some(c) = cached
        && c.epoch == epoch
    {
        return Ok(Some(c.value));
    }
    let Some(tenant) = store::accounts::tenants::find(&state.db, id).await? else {
        return Ok(None);
    };
    let live = store::subscriptions::find_live(&state.db, id).await?;
    let snapshot = TenantSnapshot { tenant, live };
    if let Some(json) = CacheEpochs::stamp(epoch, &snapshot) {
        let _ = state.cache.set(&key, &json, TTL).await;
    }
    Ok(Some(snapshot))
}

/// The tenant's snapshot as the cache holds it, with the epoch it was stamped with, and no
/// database read: for the one-statement spends, whose statement checks that epoch itself
/// (`store::credits::quick`). `None` when nothing is cached.
pub async fn peek(state: &AppState, id: TenantId) -> Option<Stamped<TenantSnapshot>> {
    let raw = state.cache.get(&key(id)).await.ok().flatten()?;
    serde_json::from_str(&raw).ok()
}
