//! Database access with SeaORM, one folder or file per area and one file per aggregate. Functions that read tenant data take a
//! [`TenantScope`]; rows are turned into domain types before they leave this module.
use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, SimpleExpr};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::domain::{Page, PageRequest, TenantId};

pub mod accounts;
pub mod cache_epochs;
pub mod catalog;
pub mod clock;
pub mod credits;
pub mod idempotency;
pub mod invariants;
pub mod invoicing;
pub mod mail;
pub mod metering;
pub mod notify;
pub mod outbox;
pub mod payments;
pub mod subscriptions;
pub mod webhooks;

/// Which tenants' rows a query may see: one tenant, or all of them (operator only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantScope {
    Any,
    Only(TenantId),
}

impl TenantScope {
    pub(crate) fn filter<E: EntityTrait>(self, select: Select<E>, col: E::Column) -> Select<E> {
        match self {
            TenantScope::Any => select,
            TenantScope::Only(t) => select.filter(col.eq(t.0)),
        }
    }
}

/// How long the database may keep a request waiting, so that an outage gives fast errors
/// instead of hung requests.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Waiting for a pooled connection, opening one included.
    pub acquire: Duration,
    /// PostgreSQL `statement_timeout`; SQLite's busy timeout (waiting for a lock).
    pub statement: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            acquire: Duration::from_secs(2),
            statement: Duration::from_secs(10),
        }
    }
}

/// Opens the pool. SQLite gets WAL, a busy timeout and foreign keys; its file's folder is
/// created. `schema` sets the PostgreSQL search path (tests use one schema each). A connection
/// found dead is tested and replaced when it is next acquired, so the pool recovers on its
/// own once the database is back. The test is a ping on every acquire: one more round trip
/// per statement outside a transaction, kept because it is what turns a database that stalls
/// without closing anything into `UNAVAILABLE` within the acquire timeout (a ping only after a
/// second idle left a busy connection's statement waiting for the request timeout instead:
/// `faults::a_stalled_database_...`).
pub async fn connect(
    url: &str,
    schema: Option<&str>,
    timeouts: Timeouts,
) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    // SeaORM maps its connect timeout onto the pool's acquire timeout too; the acquire timeout
    // bounds connecting anyway.
    opts.sqlx_logging(false)
        .acquire_timeout(timeouts.acquire)
        .test_before_acquire(true);
    if url.starts_with("sqlite:") {
        if let Some(dir) = sqlite_file(url)
            .and_then(|p| std::path::Path::new(&p).parent().map(|d| d.to_path_buf()))
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(&dir)
                .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", dir.display())))?;
        }
        opts.max_connections(8)
            .map_sqlx_sqlite_opts(move |o: SqliteConnectOptions| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(timeouts.statement)
                    .foreign_keys(true)
                    .create_if_missing(true)
            });
    } else {
        opts.max_connections(20)
            .statement_timeout(timeouts.statement);
        if let Some(schema) = schema {
            opts.set_schema_search_path(schema.to_owned());
        }
    }
    Database::connect(opts).await
}

/// The file path of a `sqlite://path?query` URL, if it names a file.
pub fn sqlite_file(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.to_owned())
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    use migration::MigratorTrait;
    migration::Migrator::up(db, None).await
}

/// Checks that the database answers, giving up after `within`.
pub async fn ping(db: &DatabaseConnection, within: Duration) -> Result<(), DbErr> {
    match tokio::time::timeout(within, db.ping()).await {
        Ok(result) => result,
        Err(_) => Err(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)),
    }
}

/// Fetches one keyset page in id order (ids are UUIDv7, so this is creation order).
pub(crate) async fn fetch_page<E, C>(
    db: &C,
    select: Select<E>,
    id: E::Column,
    req: PageRequest,
) -> Result<Page<E::Model>, DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let mut select = select;
    if let Some(after) = req.after {
        select = select.filter(id.gt(after));
    }
    let rows = select.order_by_asc(id).limit(req.first + 1).all(db).await?;
    Ok(Page::from_overfetch(rows, req))
}

/// `lower(col) LIKE %text%` with the pattern's wildcards escaped, portable to both backends.
pub(crate) fn contains_ci<C: ColumnTrait>(col: C, text: &str) -> SimpleExpr {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Expr::expr(Func::lower(Expr::col(col))).like(LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}
