use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "plans")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub code: String,
    pub version: i32,
    pub is_current: bool,
    pub name: String,
    pub description: String,
    pub currency: String,
    pub monthly_price_minor: i64,
    pub yearly_price_minor: Option<i64>,
    pub trial_days: i32,
    pub features: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
