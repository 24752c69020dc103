use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "plan_charges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub plan_id: Uuid,
    pub position: i32,
    pub metric_id: Uuid,
    pub model: String,
    pub timing: String,
    pub included_units: i64,
    pub block_size: Option<i64>,
    pub block_price_minor: Option<i64>,
    pub unit_price_minor: Option<String>,
    pub credits_micro: Option<i64>,
    pub per_units: Option<i64>,
    pub credit_rounding: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
