use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub plan_id: Uuid,
    pub interval: String,
    pub status: String,
    pub cycle: i32,
    pub anchor_at: Option<DateTimeUtc>,
    pub current_period_start: DateTimeUtc,
    pub current_period_end: DateTimeUtc,
    pub trial_start: Option<DateTimeUtc>,
    pub trial_end: Option<DateTimeUtc>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
    pub scheduled_plan_id: Option<Uuid>,
    pub live_tenant_id: Option<Uuid>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
