use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_totals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub subscription_id: Uuid,
    pub metric_id: Uuid,
    pub cycle: i32,
    pub period_start: DateTimeUtc,
    pub period_end: DateTimeUtc,
    pub quantity: i64,
    pub events: i64,
    /// The plan version the period's usage was last recorded under (null: unknown, before m0015).
    pub plan_id: Option<Uuid>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
