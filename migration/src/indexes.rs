//! Index helpers shared by the migrations.
use sea_orm_migration::prelude::*;

pub(crate) async fn unique(
    m: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: &[DynIden],
) -> Result<(), DbErr> {
    index(m, name, table, cols, true).await
}

pub(crate) async fn index(
    m: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: &[DynIden],
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for c in cols {
        stmt.col(c.clone());
    }
    if unique {
        stmt.unique();
    }
    m.create_index(stmt.to_owned()).await
}
