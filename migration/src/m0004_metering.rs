use sea_orm_migration::{prelude::*, schema::*};

use crate::indexes::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Every accepted usage report. The unique (tenant, idempotency key) makes a resent
        // report a duplicate instead of a second count.
        m.create_table(
            Table::create()
                .table(UsageEvents::Table)
                .col(uuid(UsageEvents::Id).primary_key())
                .col(uuid(UsageEvents::TenantId))
                .col(uuid(UsageEvents::SubscriptionId))
                .col(uuid(UsageEvents::MetricId))
                .col(integer(UsageEvents::Cycle))
                .col(big_integer(UsageEvents::Quantity))
                .col(string_len(UsageEvents::OperationType, 64))
                .col(string_len(UsageEvents::IdempotencyKey, 128))
                .col(timestamp_with_time_zone(UsageEvents::OccurredAt))
                .col(timestamp_with_time_zone(UsageEvents::RecordedAt))
                .col(json_null(UsageEvents::Metadata))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_usage_events_tenant_key",
            UsageEvents::Table,
            &[
                UsageEvents::TenantId.into_iden(),
                UsageEvents::IdempotencyKey.into_iden(),
            ],
            true,
        )
        .await?;
        index(
            m,
            "ix_usage_events_period",
            UsageEvents::Table,
            &[
                UsageEvents::SubscriptionId.into_iden(),
                UsageEvents::MetricId.into_iden(),
                UsageEvents::Cycle.into_iden(),
            ],
            false,
        )
        .await?;

        // The running aggregate of one metric in one period, updated in the event's
        // transaction.
        m.create_table(
            Table::create()
                .table(UsageTotals::Table)
                .col(uuid(UsageTotals::Id).primary_key())
                .col(uuid(UsageTotals::TenantId))
                .col(uuid(UsageTotals::SubscriptionId))
                .col(uuid(UsageTotals::MetricId))
                .col(integer(UsageTotals::Cycle))
                .col(timestamp_with_time_zone(UsageTotals::PeriodStart))
                .col(timestamp_with_time_zone(UsageTotals::PeriodEnd))
                .col(big_integer(UsageTotals::Quantity))
                .col(big_integer(UsageTotals::Events))
                .col(timestamp_with_time_zone(UsageTotals::UpdatedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_usage_totals_period",
            UsageTotals::Table,
            &[
                UsageTotals::SubscriptionId.into_iden(),
                UsageTotals::MetricId.into_iden(),
                UsageTotals::Cycle.into_iden(),
            ],
            true,
        )
        .await?;

        // One row per block charged: the unique key is what makes a block charged once.
        m.create_table(
            Table::create()
                .table(BlockCharges::Table)
                .col(uuid(BlockCharges::Id).primary_key())
                .col(uuid(BlockCharges::TenantId))
                .col(uuid(BlockCharges::SubscriptionId))
                .col(uuid(BlockCharges::MetricId))
                .col(integer(BlockCharges::Cycle))
                .col(big_integer(BlockCharges::BlockIndex))
                .col(string_len(BlockCharges::Tier, 64))
                .col(big_integer(BlockCharges::AmountMinor))
                .col(string_len(BlockCharges::Currency, 3))
                .col(uuid(BlockCharges::EventId))
                .col(uuid(BlockCharges::InvoiceId))
                .col(timestamp_with_time_zone(BlockCharges::CreatedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_block_charges_block",
            BlockCharges::Table,
            &[
                BlockCharges::SubscriptionId.into_iden(),
                BlockCharges::MetricId.into_iden(),
                BlockCharges::Cycle.into_iden(),
                BlockCharges::BlockIndex.into_iden(),
            ],
            true,
        )
        .await?;
        index(
            m,
            "ix_block_charges_event",
            BlockCharges::Table,
            &[BlockCharges::EventId.into_iden()],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            BlockCharges::Table.into_iden(),
            UsageTotals::Table.into_iden(),
            UsageEvents::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    Id,
    TenantId,
    SubscriptionId,
    MetricId,
    Cycle,
    Quantity,
    OperationType,
    IdempotencyKey,
    OccurredAt,
    RecordedAt,
    Metadata,
}

#[derive(DeriveIden)]
enum UsageTotals {
    Table,
    Id,
    TenantId,
    SubscriptionId,
    MetricId,
    Cycle,
    PeriodStart,
    PeriodEnd,
    Quantity,
    Events,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BlockCharges {
    Table,
    Id,
    TenantId,
    SubscriptionId,
    MetricId,
    Cycle,
    BlockIndex,
    Tier,
    AmountMinor,
    Currency,
    EventId,
    InvoiceId,
    CreatedAt,
}
