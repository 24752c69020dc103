use sea_orm_migration::{prelude::*, schema::*};

use crate::indexes::{index, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One payment-provider customer per tenant, made on first need.
        m.create_table(
            Table::create()
                .table(ProviderCustomers::Table)
                .col(uuid(ProviderCustomers::TenantId).primary_key())
                .col(string_len(ProviderCustomers::CustomerRef, 100))
                .col(timestamp_with_time_zone(ProviderCustomers::CreatedAt))
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "ux_provider_customers_ref",
            ProviderCustomers::Table,
            &[ProviderCustomers::CustomerRef.into_iden()],
        )
        .await?;

        // Saved cards: what the provider told us about them, never the number.
        m.create_table(
            Table::create()
                .table(PaymentMethods::Table)
                .col(uuid(PaymentMethods::Id).primary_key())
                .col(uuid(PaymentMethods::TenantId))
                .col(string_len(PaymentMethods::ProviderRef, 100))
                .col(string_len(PaymentMethods::Brand, 32))
                .col(string_len(PaymentMethods::Last4, 4))
                .col(integer(PaymentMethods::ExpMonth))
                .col(integer(PaymentMethods::ExpYear))
                .col(boolean(PaymentMethods::IsDefault))
                .col(timestamp_with_time_zone(PaymentMethods::CreatedAt))
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "ux_payment_methods_ref",
            PaymentMethods::Table,
            &[PaymentMethods::ProviderRef.into_iden()],
        )
        .await?;
        index(
            m,
            "ix_payment_methods_tenant",
            PaymentMethods::Table,
            &[PaymentMethods::TenantId.into_iden()],
            false,
        )
        .await?;

        // One row per collection attempt of an invoice; (invoice, attempt) is the provider's
        // idempotency key, so an attempt retried after a crash or a timeout charges once.
        m.create_table(
            Table::create()
                .table(Payments::Table)
                .col(uuid(Payments::Id).primary_key())
                .col(uuid(Payments::TenantId))
                .col(uuid(Payments::InvoiceId))
                .col(integer(Payments::Attempt))
                .col(big_integer(Payments::AmountMinor))
                .col(string_len(Payments::Currency, 3))
                .col(string_len(Payments::Status, 24))
                .col(string_len_null(Payments::ProviderRef, 100))
                .col(string_len_null(Payments::PaymentMethodRef, 100))
                .col(string_len_null(Payments::FailureCode, 64))
                .col(text_null(Payments::FailureMessage))
                .col(timestamp_with_time_zone_null(Payments::NextRetryAt))
                .col(timestamp_with_time_zone(Payments::CreatedAt))
                .col(timestamp_with_time_zone(Payments::UpdatedAt))
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "ux_payments_invoice_attempt",
            Payments::Table,
            &[
                Payments::InvoiceId.into_iden(),
                Payments::Attempt.into_iden(),
            ],
        )
        .await?;
        index(
            m,
            "ix_payments_provider_ref",
            Payments::Table,
            &[Payments::ProviderRef.into_iden()],
            false,
        )
        .await?;

        // Every provider event received, once (unique event id), with what became of it.
        m.create_table(
            Table::create()
                .table(ProviderEvents::Table)
                .col(uuid(ProviderEvents::Id).primary_key())
                .col(string_len(ProviderEvents::EventRef, 100))
                .col(string_len(ProviderEvents::Kind, 100))
                .col(string_len(ProviderEvents::Status, 16))
                .col(string_len_null(ProviderEvents::ObjectRef, 100))
                .col(text(ProviderEvents::Payload))
                .col(text_null(ProviderEvents::Error))
                .col(timestamp_with_time_zone(ProviderEvents::ReceivedAt))
                .col(timestamp_with_time_zone_null(ProviderEvents::ProcessedAt))
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "ux_provider_events_ref",
            ProviderEvents::Table,
            &[ProviderEvents::EventRef.into_iden()],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            ProviderEvents::Table.into_iden(),
            Payments::Table.into_iden(),
            PaymentMethods::Table.into_iden(),
            ProviderCustomers::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum ProviderCustomers {
    Table,
    TenantId,
    CustomerRef,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PaymentMethods {
    Table,
    Id,
    TenantId,
    ProviderRef,
    Brand,
    Last4,
    ExpMonth,
    ExpYear,
    IsDefault,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Payments {
    Table,
    Id,
    TenantId,
    InvoiceId,
    Attempt,
    AmountMinor,
    Currency,
    Status,
    ProviderRef,
    PaymentMethodRef,
    FailureCode,
    FailureMessage,
    NextRetryAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProviderEvents {
    Table,
    Id,
    EventRef,
    Kind,
    Status,
    ObjectRef,
    Payload,
    Error,
    ReceivedAt,
    ProcessedAt,
}
