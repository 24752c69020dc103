use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // `balance_micro` is the spendable balance and always equals the sum of the tenant's
        // ledger entries; `held_micro` is what open holds have set aside (already deducted).
        m.create_table(
            Table::create()
                .table(Wallets::Table)
                .col(uuid(Wallets::TenantId).primary_key())
                .col(big_integer(Wallets::BalanceMicro))
                .col(big_integer(Wallets::HeldMicro))
                .col(timestamp_with_time_zone(Wallets::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LedgerEntries::Table)
                .col(uuid(LedgerEntries::Id).primary_key())
                .col(uuid(LedgerEntries::TenantId))
                .col(string_len(LedgerEntries::Kind, 16))
                .col(big_integer(LedgerEntries::AmountMicro))
                .col(big_integer(LedgerEntries::BalanceAfterMicro))
                .col(string_len_null(LedgerEntries::Reference, 200))
                .col(string_len_null(LedgerEntries::IdempotencyKey, 160))
                .col(string_len_null(LedgerEntries::MetricCode, 64))
                .col(string_len_null(LedgerEntries::OperationType, 64))
                .col(big_integer_null(LedgerEntries::Quantity))
                .col(timestamp_with_time_zone(LedgerEntries::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_ledger_entries_tenant_key")
                .table(LedgerEntries::Table)
                .col(LedgerEntries::TenantId)
                .col(LedgerEntries::IdempotencyKey)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CreditHolds::Table)
                .col(uuid(CreditHolds::Id).primary_key())
                .col(uuid(CreditHolds::TenantId))
                .col(big_integer(CreditHolds::AmountMicro))
                .col(string_len(CreditHolds::Status, 16))
                .col(string_len(CreditHolds::MetricCode, 64))
                .col(string_len(CreditHolds::OperationType, 64))
                .col(string_len(CreditHolds::IdempotencyKey, 128))
                .col(big_integer_null(CreditHolds::SettledMicro))
                .col(timestamp_with_time_zone(CreditHolds::ExpiresAt))
                .col(timestamp_with_time_zone(CreditHolds::CreatedAt))
                .col(timestamp_with_time_zone(CreditHolds::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_credit_holds_tenant_key")
                .table(CreditHolds::Table)
                .col(CreditHolds::TenantId)
                .col(CreditHolds::IdempotencyKey)
                .unique()
                .to_owned(),
        )
        .await?;
        // Every purchase or grant of credits; completing one writes its ledger entry once.
        m.create_table(
            Table::create()
                .table(CreditTopups::Table)
                .col(uuid(CreditTopups::Id).primary_key())
                .col(uuid(CreditTopups::TenantId))
                .col(uuid_null(CreditTopups::PackId))
                .col(big_integer(CreditTopups::CreditsMicro))
                .col(big_integer_null(CreditTopups::AmountMinor))
                .col(string_len_null(CreditTopups::Currency, 3))
                .col(string_len(CreditTopups::Source, 16))
                .col(string_len_null(CreditTopups::PaymentId, 200))
                .col(uuid_null(CreditTopups::InvoiceId))
                .col(string_len(CreditTopups::Status, 16))
                .col(string_len_null(CreditTopups::Reason, 200))
                .col(timestamp_with_time_zone(CreditTopups::CreatedAt))
                .col(timestamp_with_time_zone_null(CreditTopups::CompletedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_credit_topups_tenant")
                .table(CreditTopups::Table)
                .col(CreditTopups::TenantId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_credit_topups_invoice")
                .table(CreditTopups::Table)
                .col(CreditTopups::InvoiceId)
                .to_owned(),
        )
        .await?;
        // Usage charged later by a batch job (seed 003): pending → charged | failed.
        m.create_table(
            Table::create()
                .table(PendingUsage::Table)
                .col(uuid(PendingUsage::Id).primary_key())
                .col(uuid(PendingUsage::TenantId))
                .col(string_len(PendingUsage::MetricCode, 64))
                .col(big_integer(PendingUsage::Quantity))
                .col(string_len(PendingUsage::OperationType, 64))
                .col(string_len(PendingUsage::IdempotencyKey, 128))
                .col(big_integer(PendingUsage::CostMicro))
                .col(string_len(PendingUsage::Status, 16))
                .col(string_len_null(PendingUsage::Reason, 200))
                .col(integer(PendingUsage::Attempts))
                .col(timestamp_with_time_zone_null(PendingUsage::ChargedAt))
                .col(timestamp_with_time_zone(PendingUsage::CreatedAt))
                .col(timestamp_with_time_zone(PendingUsage::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_pending_usage_tenant_key")
                .table(PendingUsage::Table)
                .col(PendingUsage::TenantId)
                .col(PendingUsage::IdempotencyKey)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_pending_usage_status")
                .table(PendingUsage::Table)
                .col(PendingUsage::Status)
                .col(PendingUsage::TenantId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_credit_holds_expiry")
                .table(CreditHolds::Table)
                .col(CreditHolds::Status)
                .col(CreditHolds::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            PendingUsage::Table.into_iden(),
            CreditTopups::Table.into_iden(),
            CreditHolds::Table.into_iden(),
            LedgerEntries::Table.into_iden(),
            Wallets::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Wallets {
    Table,
    TenantId,
    BalanceMicro,
    HeldMicro,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LedgerEntries {
    Table,
    Id,
    TenantId,
    Kind,
    AmountMicro,
    BalanceAfterMicro,
    Reference,
    IdempotencyKey,
    MetricCode,
    OperationType,
    Quantity,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CreditHolds {
    Table,
    Id,
    TenantId,
    AmountMicro,
    Status,
    MetricCode,
    OperationType,
    IdempotencyKey,
    SettledMicro,
    ExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CreditTopups {
    Table,
    Id,
    TenantId,
    PackId,
    CreditsMicro,
    AmountMinor,
    Currency,
    Source,
    PaymentId,
    InvoiceId,
    Status,
    Reason,
    CreatedAt,
    CompletedAt,
}

#[derive(DeriveIden)]
enum PendingUsage {
    Table,
    Id,
    TenantId,
    MetricCode,
    Quantity,
    OperationType,
    IdempotencyKey,
    CostMicro,
    Status,
    Reason,
    Attempts,
    ChargedAt,
    CreatedAt,
    UpdatedAt,
}
