use sea_orm_migration::{prelude::*, schema::*};

use crate::indexes::{index, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Endpoints: the operator's (no tenant: every tenant's events) and each tenant's own.
        // `event_types` is a comma-separated filter, empty for every type. A rotated secret
        // keeps signing until `previous_secret_until`.
        m.create_table(
            Table::create()
                .table(WebhookEndpoints::Table)
                .col(uuid(WebhookEndpoints::Id).primary_key())
                .col(uuid_null(WebhookEndpoints::TenantId))
                .col(string_len(WebhookEndpoints::Url, 2048))
                .col(text(WebhookEndpoints::EventTypes))
                .col(boolean(WebhookEndpoints::Enabled))
                .col(string_len(WebhookEndpoints::Secret, 100))
                .col(string_len_null(WebhookEndpoints::PreviousSecret, 100))
                .col(timestamp_with_time_zone_null(
                    WebhookEndpoints::PreviousSecretUntil,
                ))
                .col(timestamp_with_time_zone_null(
                    WebhookEndpoints::FailingSince,
                ))
                .col(timestamp_with_time_zone_null(WebhookEndpoints::DisabledAt))
                .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                .col(timestamp_with_time_zone(WebhookEndpoints::UpdatedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_webhook_endpoints_tenant",
            WebhookEndpoints::Table,
            &[WebhookEndpoints::TenantId.into_iden()],
            false,
        )
        .await?;
        // One row per event, written once (its dedupe key), with the JSON body every endpoint
        // receives.
        m.create_table(
            Table::create()
                .table(WebhookEvents::Table)
                .col(uuid(WebhookEvents::Id).primary_key())
                .col(uuid_null(WebhookEvents::TenantId))
                .col(string_len(WebhookEvents::EventType, 64))
                .col(text(WebhookEvents::Payload))
                .col(string_len(WebhookEvents::DedupeKey, 200))
                .col(timestamp_with_time_zone(WebhookEvents::CreatedAt))
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "ux_webhook_events_dedupe_key",
            WebhookEvents::Table,
            &[WebhookEvents::DedupeKey.into_iden()],
        )
        .await?;
        // One row per event and endpoint (and per replay): the delivery log, and the queue
        // that keeps each endpoint's events in order (by id, a UUIDv7).
        m.create_table(
            Table::create()
                .table(WebhookDeliveries::Table)
                .col(uuid(WebhookDeliveries::Id).primary_key())
                .col(uuid(WebhookDeliveries::EndpointId))
                .col(uuid(WebhookDeliveries::EventId))
                .col(uuid_null(WebhookDeliveries::TenantId))
                .col(string_len(WebhookDeliveries::Status, 16))
                .col(integer(WebhookDeliveries::Attempts))
                .col(integer_null(WebhookDeliveries::LastStatusCode))
                .col(text_null(WebhookDeliveries::LastError))
                .col(timestamp_with_time_zone_null(
                    WebhookDeliveries::LastAttemptAt,
                ))
                .col(timestamp_with_time_zone_null(
                    WebhookDeliveries::DeliveredAt,
                ))
                .col(uuid_null(WebhookDeliveries::ReplayOf))
                .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_webhook_deliveries_endpoint_status",
            WebhookDeliveries::Table,
            &[
                WebhookDeliveries::EndpointId.into_iden(),
                WebhookDeliveries::Status.into_iden(),
                WebhookDeliveries::Id.into_iden(),
            ],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            WebhookDeliveries::Table.into_iden(),
            WebhookEvents::Table.into_iden(),
            WebhookEndpoints::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    TenantId,
    Url,
    EventTypes,
    Enabled,
    Secret,
    PreviousSecret,
    PreviousSecretUntil,
    FailingSince,
    DisabledAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookEvents {
    Table,
    Id,
    TenantId,
    EventType,
    Payload,
    DedupeKey,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    EndpointId,
    EventId,
    TenantId,
    Status,
    Attempts,
    LastStatusCode,
    LastError,
    LastAttemptAt,
    DeliveredAt,
    ReplayOf,
    CreatedAt,
}
