use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Cache epochs: one counter per scope (a tenant, the operator, the catalog), bumped in
        // the transaction of every write that changes a cached value. A cache entry carries the
        // epoch it was read at and is served only while that is still the current one.
        m.create_table(
            Table::create()
                .table(CacheEpochs::Table)
                .col(string(CacheEpochs::Scope).primary_key())
                .col(big_integer(CacheEpochs::Epoch))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(CacheEpochs::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum CacheEpochs {
    Table,
    Scope,
    Epoch,
}
