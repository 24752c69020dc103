//! API keys for machine clients: `bk_` + 40 random characters, shown once, stored as SHA-256.
use std::time::Duration;

use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use sea_orm::TransactionTrait;

use crate::auth::Actor;
use crate::cache::{CacheEpochs, Stamped};
use crate::domain::NewApiKey;
use crate::domain::{ApiKey, ApiKeyId, Name, Page, PageRequest, Role, TenantId};
use crate::error::{Error, OptionExt, Result};
use crate::state::AppState;
use crate::store;

pub const PREFIX: &str = "bk_";
const CACHE_TTL: Duration = Duration::from_secs(300);

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn cache_key(hash: &str) -> String {
    format!("apikey:{hash}")
}

#[derive(Serialize, Deserialize)]
struct CachedKey {
    id: String,
    tenant: Option<String>,
}

/// Creates a key for the caller's tenant, or (admin) for a named tenant or the operator.
/// Returns the key and its secret, which is never shown again.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    name: Name,
    tenant: Option<TenantId>,
) -> Result<(ApiKey, String)> {
    let tenant = if actor.role == Role::Admin && actor.tenant.is_none() {
        tenant
    } else {
        actor.require_role(&[Role::Owner])?;
        Some(actor.tenant_for(tenant)?)
    };
    if let Some(t) = tenant {
        store::accounts::tenants::find(&state.db, t)
            .await?
            .or_not_found("tenant")?;
    }
    let random: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    let secret = format!("{PREFIX}{random}");
    let new = NewApiKey {
        tenant_id: tenant,
        name,
        prefix: secret.chars().take(10).collect(),
        hash: hash(&secret),
        created_by: actor.subject.clone(),
    };
    let key = store::accounts::api_keys::insert(&state.db, new, state.clock.now()).await?;
    Ok((key, secret))
}

pub async fn list(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    page: PageRequest,
) -> Result<Page<ApiKey>> {
    actor.require_role(&[Role::Owner])?;
    store::accounts::api_keys::list(&state.db, actor.scope(tenant)?, page).await
}

pub async fn revoke(state: &AppState, actor: &Actor, id: ApiKeyId) -> Result<ApiKey> {
    actor.require_role(&[Role::Owner])?;
    let scope = actor.scope(None)?;
    let (_, hash) = store::accounts::api_keys::find(&state.db, scope, id)
        .await?
        .or_not_found("api key")?;
    let txn = state.db.begin().await?;
    let key = store::accounts::api_keys::revoke(&txn, scope, id, state.clock.now()).await?;
    // Every cached copy of the key, anywhere, carries an older epoch from now on.
    CacheEpochs::bump(&txn, &epoch_scope(key.tenant_id)).await?;
    txn.commit().await?;
    // Committed is done: the deletion and its broadcast only keep the caches small, and never
    // fail the revocation (Redis may be away).
    let _ = state.cache.delete(&cache_key(&hash)).await;
    Ok(key)
}

fn epoch_scope(tenant: Option<TenantId>) -> String {
    match tenant {
        Some(t) => CacheEpochs::tenant(t),
        None => CacheEpochs::OPERATOR.to_owned(),
    }
}

/// Authenticates `bk_...`: a cached entry is served only while its tenant's cache epoch is the
/// current one (one primary-key read); otherwise the database answers and the entry is
/// refreshed.
pub async fn authenticate(state: &AppState, secret: &str) -> Result<Actor> {
    let bad = || Error::Unauthenticated("invalid or revoked API key".into());
    let hash = hash(secret);
    let key = cache_key(&hash);
    let cached = state.cache.get(&key).await.ok().flatten();
    let parsed = cached
        .as_deref()
        .and_then(|raw| serde_json::from_str::<Stamped<CachedKey>>(raw).ok());
    let mut found = None;
    if let Some(stamped) = parsed {
        let tenant = parse_tenant(&stamped.value).ok_or_else(bad)?;
        let epoch = CacheEpochs::current(&state.db, &epoch_scope(tenant)).await?;
        if stamped.epoch == epoch {
            let id = ApiKeyId::parse("id", &stamped.value.id).map_err(|_| bad())?;
            found = Some((id, tenant, epoch));
        }
    }
    let (id, tenant, epoch) = match found {
        Some(f) => f,
        None => {
            // The key's row names its scope; the epoch is read before the row that is cached,
            // so a revocation committed in between leaves an entry that is already stale.
            let first = store::accounts::api_keys::find_active_by_hash(&state.db, &hash)
                .await?
                .ok_or_else(bad)?;
            let epoch = CacheEpochs::current(&state.db, &epoch_scope(first.tenant_id)).await?;
            let row = store::accounts::api_keys::find_active_by_hash(&state.db, &hash)
                .await?
                .ok_or_else(bad)?;
            let entry = CachedKey {
                id: row.id.to_string(),
                tenant: row.tenant_id.map(|t| t.to_string()),
            };
            if let Some(json) = CacheEpochs::stamp(epoch, entry) {
                let _ = state.cache.set(&key, &json, CACHE_TTL).await;
            }
            (row.id, row.tenant_id, epoch)
        }
    };
    Ok(Actor {
        subject: id.to_string(),
        role: Role::Service,
        tenant,
        user: None,
        api_key: Some(id),
        // The epoch read above is the tenant's; an operator key's is the operator scope's.
        cache_epoch: tenant.map(|_| epoch),
    })
}

/// The tenant an entry names: `Some(None)` for an operator key, `None` if unreadable.
fn parse_tenant(c: &CachedKey) -> Option<Option<TenantId>> {
    match &c.tenant {
        None => Some(None),
        Some(t) => TenantId::parse("tenant", t).ok().map(Some),
    }
}
