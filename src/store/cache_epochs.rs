//! Cache epochs (see `cache/epochs.rs`): read one, or bump one inside a write's transaction.
use entity::cache_epochs::{ActiveModel, Column, Entity};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use crate::domain::TenantId;
use crate::error::Result;

/// The scope of everything cached about one tenant: its row, its live subscription, its keys.
pub fn tenant_scope(id: TenantId) -> String {
    format!("tenant:{id}")
}

/// Bumps the tenant's scope. The store's writes to the tenant row, its subscriptions and their
/// coupon redemptions call it themselves, in the write's own transaction, so no caller can
/// forget it.
pub async fn bump_tenant(db: &impl ConnectionTrait, id: TenantId) -> Result<()> {
    bump(db, &tenant_scope(id)).await
}

/// The current epoch of `scope` (0 before its first bump).
pub async fn current(db: &impl ConnectionTrait, scope: &str) -> Result<i64> {
    Ok(Entity::find_by_id(scope.to_owned())
        .one(db)
        .await?
        .map(|r| r.epoch)
        .unwrap_or(0))
}

/// Adds one to the epoch of `scope`, atomically (one upsert).
pub async fn bump(db: &impl ConnectionTrait, scope: &str) -> Result<()> {
    let row = ActiveModel {
        scope: Set(scope.to_owned()),
        epoch: Set(1),
    };
    Entity::insert(row)
        .on_conflict(
            OnConflict::column(Column::Scope)
                .value(Column::Epoch, Expr::col((Entity, Column::Epoch)).add(1))
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}
