use sea_orm_migration::{prelude::*, schema::*};

use crate::indexes::unique;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The idempotency keys of mutations whose result is not a ledger entry: one row per
        // (tenant, operation, key), written in the transaction of the action it records, with a
        // fingerprint of the request and the ids a replay reads back.
        m.create_table(
            Table::create()
                .table(IdempotencyKeys::Table)
                .col(uuid(IdempotencyKeys::Id).primary_key())
                .col(uuid(IdempotencyKeys::TenantId))
                .col(string_len(IdempotencyKeys::Operation, 32))
                .col(string_len(IdempotencyKeys::Key, 128))
                .col(string_len(IdempotencyKeys::Fingerprint, 64))
                .col(uuid(IdempotencyKeys::ResultId))
                .col(uuid_null(IdempotencyKeys::InvoiceId))
                .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "ux_idempotency_keys_tenant_operation_key",
            IdempotencyKeys::Table,
            &[
                IdempotencyKeys::TenantId.into_iden(),
                IdempotencyKeys::Operation.into_iden(),
                IdempotencyKeys::Key.into_iden(),
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Id,
    TenantId,
    Operation,
    Key,
    Fingerprint,
    ResultId,
    InvoiceId,
    CreatedAt,
}
