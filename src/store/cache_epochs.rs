//! Cache epochs (see `cache/epochs.rs`): read one, or bump one inside a write's transaction.
use entity::cache_epochs::{ActiveModel, Column, Entity};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use crate::error::Result;

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
