use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "block_charges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub subscription_id: Uuid,
    pub metric_id: Uuid,
    pub cycle: i32,
    pub block_index: i64,
    pub tier: String,
    pub amount_minor: i64,
    pub currency: String,
    pub event_id: Uuid,
    pub invoice_id: Uuid,
    /// The plan version the block was charged under (null: written before m0015 and not backfilled).
    pub plan_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
