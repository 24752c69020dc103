//! API keys for machine clients: `bk_` + 40 random characters, shown once, stored as SHA-256.
use std::time::Duration;

use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::Actor;
use crate::domain::NewApiKey;
use crate::domain::{ApiKey, ApiKeyId, Name, Page, PageRequest, Role, TenantId};
use crate::error::{Error, OptionExt, Result};
use crate::state::AppState;
use crate::store;

pub const PREFIX: &str = "bk_";
const CACHE_TTL: Duration = Duration::from_secs(60);
/// What a revoked key's cache entry holds. It outlives any request that read the key as
/// active before the revocation, so such a request cannot put the key back in the cache.
const REVOKED: &str = "revoked";
const TOMBSTONE_TTL: Duration = Duration::from_secs(600);

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
    let key = store::accounts::api_keys::revoke(&state.db, scope, id, state.clock.now()).await?;
    // The cache is only a shortcut; if it cannot be marked the revocation must not look done.
    state
        .cache
        .set(&cache_key(&hash), REVOKED, TOMBSTONE_TTL)
        .await
        .map_err(|e| Error::internal(e))?;
    Ok(key)
}

/// Authenticates `bk_...`: the cache answers first, the database otherwise.
pub async fn authenticate(state: &AppState, secret: &str) -> Result<Actor> {
    let bad = || Error::Unauthenticated("invalid or revoked API key".into());
    let hash = hash(secret);
    let key = cache_key(&hash);
    let cached = match state.cache.get(&key).await {
        Ok(Some(v)) if v == REVOKED => return Err(bad()),
        Ok(v) => v.and_then(|s| serde_json::from_str::<CachedKey>(&s).ok()),
        Err(e) => {
            tracing::warn!(error = %e, "cache read failed; using the database");
            None
        }
    };
    let (id, tenant) = match cached {
        Some(c) => (
            ApiKeyId::parse("id", &c.id).map_err(|_| bad())?,
            c.tenant
                .map(|t| TenantId::parse("tenant", &t))
                .transpose()
                .map_err(|_| bad())?,
        ),
        None => {
            let found = store::accounts::api_keys::find_active_by_hash(&state.db, &hash)
                .await?
                .ok_or_else(bad)?;
            let entry = CachedKey {
                id: found.id.to_string(),
                tenant: found.tenant_id.map(|t| t.to_string()),
            };
            if let Ok(json) = serde_json::to_string(&entry)
                && let Err(e) = state.cache.set_if_absent(&key, &json, CACHE_TTL).await
            {
                tracing::warn!(error = %e, "cache write failed");
            }
            (found.id, found.tenant_id)
        }
    };
    Ok(Actor {
        subject: id.to_string(),
        role: Role::Service,
        tenant,
        user: None,
        api_key: Some(id),
    })
}
