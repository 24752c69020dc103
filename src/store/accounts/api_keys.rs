use chrono::{DateTime, Utc};
use entity::api_keys::{ActiveModel, Column, Entity, Model};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::domain::{ApiKey, ApiKeyId, NewApiKey, Page, PageRequest};
use crate::error::{OptionExt, Result};
use crate::store::{TenantScope, fetch_page};

fn to_domain(m: Model) -> ApiKey {
    ApiKey {
        id: m.id.into(),
        tenant_id: m.tenant_id.map(crate::domain::TenantId),
        name: m.name,
        prefix: m.key_prefix,
        created_at: m.created_at,
        revoked_at: m.revoked_at,
    }
}

pub async fn insert(
    db: &impl ConnectionTrait,
    new: NewApiKey,
    now: DateTime<Utc>,
) -> Result<ApiKey> {
    let row = ActiveModel {
        id: Set(ApiKeyId::new().0),
        tenant_id: Set(new.tenant_id.map(|t| t.0)),
        name: Set(new.name.into_inner()),
        key_prefix: Set(new.prefix),
        key_hash: Set(new.hash),
        created_by: Set(Some(new.created_by)),
        created_at: Set(now),
        revoked_at: Set(None),
    };
    Ok(to_domain(row.insert(db).await?))
}

/// The unrevoked key with this hash, for authentication.
pub async fn find_active_by_hash(db: &impl ConnectionTrait, hash: &str) -> Result<Option<ApiKey>> {
    let row = Entity::find()
        .filter(Column::KeyHash.eq(hash))
        .filter(Column::RevokedAt.is_null())
        .one(db)
        .await?;
    Ok(row.map(to_domain))
}

pub async fn find(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    id: ApiKeyId,
) -> Result<Option<(ApiKey, String)>> {
    let row = scope
        .filter(Entity::find_by_id(id.0), Column::TenantId)
        .one(db)
        .await?;
    Ok(row.map(|m| {
        let hash = m.key_hash.clone();
        (to_domain(m), hash)
    }))
}

pub async fn list(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    page: PageRequest,
) -> Result<Page<ApiKey>> {
    let select = scope.filter(Entity::find(), Column::TenantId);
    Ok(fetch_page(db, select, Column::Id, page)
        .await?
        .map(to_domain))
}

/// Revokes the key (idempotent: a revoked key keeps its first revocation time).
pub async fn revoke(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    id: ApiKeyId,
    now: DateTime<Utc>,
) -> Result<ApiKey> {
    let current = scope
        .filter(Entity::find_by_id(id.0), Column::TenantId)
        .one(db)
        .await?
        .or_not_found("api key")?;
    if current.revoked_at.is_some() {
        return Ok(to_domain(current));
    }
    let mut row: ActiveModel = current.into();
    row.revoked_at = Set(Some(now));
    Ok(to_domain(row.update(db).await?))
}
