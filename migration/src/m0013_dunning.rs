use sea_orm_migration::{prelude::*, schema::*};

use crate::indexes::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The dunning stage of a tenant whose collection failed (`past_due`, `unpaid`,
        // `suspended`; null when nothing is owed after a failure) and when its first failure
        // was. One column per statement: SQLite adds one at a time.
        m.alter_table(
            Table::alter()
                .table(Tenants::Table)
                .add_column(string_len_null(Tenants::DunningStage, 16))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Tenants::Table)
                .add_column(timestamp_with_time_zone_null(Tenants::DunningSince))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_tenants_dunning_stage",
            Tenants::Table,
            &[Tenants::DunningStage.into_iden()],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_tenants_dunning_stage")
                .table(Tenants::Table)
                .to_owned(),
        )
        .await?;
        for col in [Tenants::DunningSince, Tenants::DunningStage] {
            m.alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    DunningStage,
    DunningSince,
}
