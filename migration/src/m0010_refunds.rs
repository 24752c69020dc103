use sea_orm_migration::{prelude::*, schema::*};

use crate::indexes::{index, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One credit note per refund of a paid invoice, numbered like invoices (`CN-2026-000001`)
        // from its own gapless sequence in `invoice_sequences`. The refund it asks the provider
        // for carries the key `refund:<credit note>`, so it is made once.
        m.create_table(
            Table::create()
                .table(CreditNotes::Table)
                .col(uuid(CreditNotes::Id).primary_key())
                .col(uuid(CreditNotes::TenantId))
                .col(uuid(CreditNotes::InvoiceId))
                .col(string_len(CreditNotes::Number, 32))
                .col(big_integer(CreditNotes::AmountMinor))
                .col(string_len(CreditNotes::Currency, 3))
                .col(text(CreditNotes::Reason))
                .col(string_len(CreditNotes::Status, 16))
                .col(string_len_null(CreditNotes::ProviderRef, 100))
                .col(string_len_null(CreditNotes::PaymentRef, 100))
                .col(big_integer(CreditNotes::CreditsRevoked))
                .col(string_len_null(CreditNotes::IdempotencyKey, 128))
                .col(timestamp_with_time_zone(CreditNotes::CreatedAt))
                .col(timestamp_with_time_zone(CreditNotes::UpdatedAt))
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "ux_credit_notes_number",
            CreditNotes::Table,
            &[CreditNotes::Number.into_iden()],
        )
        .await?;
        unique(
            m,
            "ux_credit_notes_tenant_key",
            CreditNotes::Table,
            &[
                CreditNotes::TenantId.into_iden(),
                CreditNotes::IdempotencyKey.into_iden(),
            ],
        )
        .await?;
        index(
            m,
            "ix_credit_notes_invoice",
            CreditNotes::Table,
            &[CreditNotes::InvoiceId.into_iden()],
            false,
        )
        .await?;
        index(
            m,
            "ix_credit_notes_provider_ref",
            CreditNotes::Table,
            &[CreditNotes::ProviderRef.into_iden()],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(CreditNotes::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum CreditNotes {
    Table,
    Id,
    TenantId,
    InvoiceId,
    Number,
    AmountMinor,
    Currency,
    Reason,
    Status,
    ProviderRef,
    PaymentRef,
    CreditsRevoked,
    IdempotencyKey,
    CreatedAt,
    UpdatedAt,
}
