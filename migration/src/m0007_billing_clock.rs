use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The development and test billing clock, one row (id 1): where it stood when it was
        // last moved, so that a restart resumes it. Production's system clock never writes it.
        m.create_table(
            Table::create()
                .table(BillingClock::Table)
                .col(integer(BillingClock::Id).primary_key())
                .col(timestamp_with_time_zone(BillingClock::Now))
                .col(big_integer(BillingClock::OffsetMicros))
                .col(timestamp_with_time_zone(BillingClock::UpdatedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(BillingClock::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum BillingClock {
    Table,
    Id,
    Now,
    OffsetMicros,
    UpdatedAt,
}
