use sea_orm_migration::{prelude::*, schema::*};

use crate::indexes::unique;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One row per (notification, address) once that address got its email (`sent`) or was
        // refused for good with a 5xx (`failed`): a retry after a partial send skips both.
        m.create_table(
            Table::create()
                .table(EmailDeliveries::Table)
                .col(uuid(EmailDeliveries::Id).primary_key())
                .col(uuid(EmailDeliveries::TenantId))
                .col(uuid(EmailDeliveries::NotificationId))
                .col(string_len(EmailDeliveries::Address, 320))
                .col(string_len(EmailDeliveries::Status, 16))
                .col(integer(EmailDeliveries::Attempts))
                .col(integer_null(EmailDeliveries::SmtpCode))
                .col(text_null(EmailDeliveries::LastError))
                .col(timestamp_with_time_zone(EmailDeliveries::CreatedAt))
                .col(timestamp_with_time_zone(EmailDeliveries::UpdatedAt))
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "ux_email_deliveries_notification_address",
            EmailDeliveries::Table,
            &[
                EmailDeliveries::NotificationId.into_iden(),
                EmailDeliveries::Address.into_iden(),
            ],
        )
        .await?;
        // A tenant's choice per notification kind; no row means the kind is emailed.
        m.create_table(
            Table::create()
                .table(NotificationPreferences::Table)
                .col(uuid(NotificationPreferences::Id).primary_key())
                .col(uuid(NotificationPreferences::TenantId))
                .col(string_len(NotificationPreferences::Kind, 64))
                .col(boolean(NotificationPreferences::Email))
                .col(timestamp_with_time_zone(NotificationPreferences::UpdatedAt))
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "ux_notification_preferences_tenant_kind",
            NotificationPreferences::Table,
            &[
                NotificationPreferences::TenantId.into_iden(),
                NotificationPreferences::Kind.into_iden(),
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(NotificationPreferences::Table)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(EmailDeliveries::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum EmailDeliveries {
    Table,
    Id,
    TenantId,
    NotificationId,
    Address,
    Status,
    Attempts,
    SmtpCode,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum NotificationPreferences {
    Table,
    Id,
    TenantId,
    Kind,
    Email,
    UpdatedAt,
}
