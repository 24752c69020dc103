use sea_orm::entity::prelude::*;

/// The development and test billing clock: a single row, id 1.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_clock")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// The clock's reading when it was last moved.
    pub now: DateTimeUtc,
    /// How far ahead of the wall time it was then, in microseconds.
    pub offset_micros: i64,
    /// The wall time of that move.
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
