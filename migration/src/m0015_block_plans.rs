use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Rows written before this migration: a block charge takes its subscription's plan when that
/// plan charges the metric in blocks at once at the row's price; a period aggregate of a
/// subscription's current period takes its plan. Past periods' aggregates stay unknown (null).
const BACKFILL: [&str; 2] = [
    "UPDATE block_charges SET plan_id = (SELECT s.plan_id FROM subscriptions s \
     JOIN plan_charges c ON c.plan_id = s.plan_id \
     WHERE s.id = block_charges.subscription_id AND c.metric_id = block_charges.metric_id \
     AND c.model = 'block' AND c.timing = 'immediately' \
     AND c.block_price_minor = block_charges.amount_minor LIMIT 1) WHERE plan_id IS NULL",
    "UPDATE usage_totals SET plan_id = (SELECT s.plan_id FROM subscriptions s \
     WHERE s.id = usage_totals.subscription_id AND s.cycle = usage_totals.cycle) \
     WHERE plan_id IS NULL",
];

/// Attributes the rows that have no plan yet, as the migration does (public for its test).
pub async fn backfill(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    for sql in BACKFILL {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The plan version each block was charged under, and the one a period's usage was last
        // recorded under: with them the block-charge invariant checks past periods too, across
        // plan changes. One column per statement: SQLite adds one at a time.
        m.alter_table(
            Table::alter()
                .table(BlockCharges::Table)
                .add_column(uuid_null(BlockCharges::PlanId))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(UsageTotals::Table)
                .add_column(uuid_null(UsageTotals::PlanId))
                .to_owned(),
        )
        .await?;
        backfill(m.get_connection()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(UsageTotals::Table)
                .drop_column(UsageTotals::PlanId)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(BlockCharges::Table)
                .drop_column(BlockCharges::PlanId)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum BlockCharges {
    Table,
    PlanId,
}

#[derive(DeriveIden)]
enum UsageTotals {
    Table,
    PlanId,
}
