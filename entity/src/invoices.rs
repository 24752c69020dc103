use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "invoices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub subscription_id: Option<Uuid>,
    pub number: Option<String>,
    pub status: String,
    pub billing_reason: String,
    pub cycle: Option<i32>,
    pub currency: String,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub total_minor: i64,
    pub amount_due_minor: i64,
    pub amount_paid_minor: i64,
    pub coupon_code: Option<String>,
    pub period_start: DateTimeUtc,
    pub period_end: DateTimeUtc,
    pub issued_at: Option<DateTimeUtc>,
    pub due_at: Option<DateTimeUtc>,
    pub paid_at: Option<DateTimeUtc>,
    pub voided_at: Option<DateTimeUtc>,
    pub marked_uncollectible_at: Option<DateTimeUtc>,
    pub payment_reference: Option<String>,
    pub source_key: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
