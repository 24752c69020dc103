use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "credit_topups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub pack_id: Option<Uuid>,
    pub credits_micro: i64,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub source: String,
    pub payment_id: Option<String>,
    pub invoice_id: Option<Uuid>,
    pub status: String,
    pub reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
