//! The saved position of the development and test billing clock (one row, id 1).
use chrono::{DateTime, TimeDelta, Utc};
use entity::billing_clock::{ActiveModel, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::clock::SavedClock;
use crate::error::{Error, Result};

const ROW: i32 = 1;

/// Where the clock stood when it was last moved, if it ever was.
pub async fn load(db: &impl ConnectionTrait) -> Result<Option<SavedClock>> {
    let Some(row) = Entity::find_by_id(ROW).one(db).await? else {
        return Ok(None);
    };
    Ok(Some(SavedClock {
        now: row.now,
        offset: TimeDelta::microseconds(row.offset_micros),
    }))
}

/// Saves the clock's position. Only a later reading replaces a saved one, so two moves that
/// finish out of order leave the later position.
pub async fn save(db: &impl ConnectionTrait, at: SavedClock, wall: DateTime<Utc>) -> Result<()> {
    let offset_micros = at
        .offset
        .num_microseconds()
        .ok_or_else(|| Error::internal("the billing clock's offset is out of range"))?;
    let row = ActiveModel {
        id: Set(ROW),
        now: Set(at.now),
        offset_micros: Set(offset_micros),
        updated_at: Set(wall),
    };
    Entity::insert(row)
        .on_conflict_do_nothing_on([Column::Id])
        .exec(db)
        .await?;
    Entity::update_many()
        .col_expr(Column::Now, Expr::value(at.now))
        .col_expr(Column::OffsetMicros, Expr::value(offset_micros))
        .col_expr(Column::UpdatedAt, Expr::value(wall))
        .filter(Column::Id.eq(ROW))
        .filter(Column::Now.lt(at.now))
        .exec(db)
        .await?;
    Ok(())
}
