use sea_orm_migration::{prelude::*, schema::*};

use crate::indexes::{index, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // What must happen outside the database after a change commits, written in the
        // change's own transaction. `dedupe_key` makes enqueueing the same effect twice a no-op.
        m.create_table(
            Table::create()
                .table(OutboxMessages::Table)
                .col(uuid(OutboxMessages::Id).primary_key())
                .col(uuid_null(OutboxMessages::TenantId))
                .col(string_len(OutboxMessages::Kind, 32))
                .col(string_len(OutboxMessages::Reference, 200))
                .col(string_len(OutboxMessages::DedupeKey, 160))
                .col(string_len(OutboxMessages::Status, 16))
                .col(integer(OutboxMessages::Attempts))
                .col(timestamp_with_time_zone(OutboxMessages::NextAttemptAt))
                .col(text_null(OutboxMessages::LastError))
                .col(timestamp_with_time_zone(OutboxMessages::CreatedAt))
                .col(timestamp_with_time_zone(OutboxMessages::UpdatedAt))
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "ux_outbox_messages_dedupe_key",
            OutboxMessages::Table,
            &[OutboxMessages::DedupeKey.into_iden()],
        )
        .await?;
        index(
            m,
            "ix_outbox_messages_due",
            OutboxMessages::Table,
            &[
                OutboxMessages::Status.into_iden(),
                OutboxMessages::NextAttemptAt.into_iden(),
            ],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(OutboxMessages::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum OutboxMessages {
    Table,
    Id,
    TenantId,
    Kind,
    Reference,
    DedupeKey,
    Status,
    Attempts,
    NextAttemptAt,
    LastError,
    CreatedAt,
    UpdatedAt,
}
