use chrono::{DateTime, Utc};
use entity::tenants::{self, ActiveModel, Column, Entity, Model};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set,
};

use crate::domain::{
    Currency, DunningStage, NewTenant, Page, PageRequest, Tenant, TenantFilter, TenantId,
    TenantPatch, TenantStatus,
};
use crate::error::{ConflictReason, OptionExt, Result, conflict_on_unique};
use crate::store::{cache_epochs, contains_ci, fetch_page};

const SLUG_TAKEN: &str = "a tenant with this slug already exists";

fn to_domain(m: Model) -> Tenant {
    Tenant {
        id: m.id.into(),
        name: m.name,
        slug: m.slug,
        billing_email: m.billing_email,
        currency: Currency::parse("currency", &m.currency).unwrap_or(Currency::BRL),
        locale: m.locale,
        status: TenantStatus::from_db(&m.status),
        suspended_reason: m.suspended_reason,
        dunning_stage: m.dunning_stage.as_deref().and_then(DunningStage::from_db),
        dunning_since: m.dunning_since,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

pub async fn insert(
    db: &impl ConnectionTrait,
    new: NewTenant,
    now: DateTime<Utc>,
) -> Result<Tenant> {
    let row = ActiveModel {
        id: Set(TenantId::new().0),
        name: Set(new.name.into_inner()),
        slug: Set(new.slug.into_inner()),
        billing_email: Set(new.billing_email.into_inner()),
        currency: Set(new.currency.code().to_owned()),
        locale: Set(new.locale.into_inner()),
        status: Set(TenantStatus::Active.as_str().to_owned()),
        suspended_reason: Set(None),
        dunning_stage: Set(None),
        dunning_since: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let model = row
        .insert(db)
        .await
        .map_err(|e| conflict_on_unique(e, ConflictReason::SlugTaken, SLUG_TAKEN))?;
    Ok(to_domain(model))
}

pub async fn find(db: &impl ConnectionTrait, id: TenantId) -> Result<Option<Tenant>> {
    Ok(Entity::find_by_id(id.0).one(db).await?.map(to_domain))
}

pub async fn find_by_slug(db: &impl ConnectionTrait, slug: &str) -> Result<Option<Tenant>> {
    let row = Entity::find().filter(Column::Slug.eq(slug)).one(db).await?;
    Ok(row.map(to_domain))
}

pub async fn update(
    db: &impl ConnectionTrait,
    id: TenantId,
    patch: TenantPatch,
    now: DateTime<Utc>,
) -> Result<Tenant> {
    let current = Entity::find_by_id(id.0)
        .one(db)
        .await?
        .or_not_found("tenant")?;
    let mut row: ActiveModel = current.into();
    if let Some(v) = patch.name {
        row.name = Set(v.into_inner());
    }
    if let Some(v) = patch.slug {
        row.slug = Set(v.into_inner());
    }
    if let Some(v) = patch.billing_email {
        row.billing_email = Set(v.into_inner());
    }
    if let Some(v) = patch.currency {
        row.currency = Set(v.code().to_owned());
    }
    if let Some(v) = patch.locale {
        row.locale = Set(v.into_inner());
    }
    row.updated_at = Set(now);
    let model = row
        .update(db)
        .await
        .map_err(|e| conflict_on_unique(e, ConflictReason::SlugTaken, SLUG_TAKEN))?;
    cache_epochs::bump_tenant(db, id).await?;
    Ok(to_domain(model))
}

pub async fn set_status(
    db: &impl ConnectionTrait,
    id: TenantId,
    status: TenantStatus,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Tenant> {
    let current = Entity::find_by_id(id.0)
        .one(db)
        .await?
        .or_not_found("tenant")?;
    let mut row: ActiveModel = current.into();
    row.status = Set(status.as_str().to_owned());
    row.suspended_reason = Set(reason);
    // The operator's decision replaces any dunning stage; a later failure starts a new one.
    row.dunning_stage = Set(None);
    row.dunning_since = Set(None);
    row.updated_at = Set(now);
    let model = row.update(db).await?;
    cache_epochs::bump_tenant(db, id).await?;
    Ok(to_domain(model))
}

/// Moves the tenant to a dunning stage (`None`: out of dunning), with the status that stage
/// implies: `Suspended` suspends the tenant with `reason`; leaving it reactivates the tenant.
/// `since` is kept as given. The caller holds the tenant's lock.
pub async fn set_dunning(
    db: &impl ConnectionTrait,
    id: TenantId,
    stage: Option<DunningStage>,
    since: Option<DateTime<Utc>>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Tenant> {
    let current = Entity::find_by_id(id.0)
        .one(db)
        .await?
        .or_not_found("tenant")?;
    let was_suspended_by_dunning =
        current.dunning_stage.as_deref() == Some(DunningStage::Suspended.as_str());
    let mut row: ActiveModel = current.into();
    if stage == Some(DunningStage::Suspended) {
        row.status = Set(TenantStatus::Suspended.as_str().to_owned());
        row.suspended_reason = Set(reason.map(str::to_owned));
    } else if was_suspended_by_dunning {
        row.status = Set(TenantStatus::Active.as_str().to_owned());
        row.suspended_reason = Set(None);
    }
    row.dunning_stage = Set(stage.map(|s| s.as_str().to_owned()));
    row.dunning_since = Set(since);
    row.updated_at = Set(now);
    let model = row.update(db).await?;
    cache_epochs::bump_tenant(db, id).await?;
    Ok(to_domain(model))
}

/// Tenants in a dunning stage, for the dunning job.
pub async fn in_dunning(db: &impl ConnectionTrait) -> Result<Vec<Tenant>> {
    Ok(Entity::find()
        .filter(Column::DunningStage.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .map(to_domain)
        .collect())
}

/// Locks the tenant row until the transaction ends. On PostgreSQL with `SELECT ... FOR NO KEY
/// UPDATE`: the lock an update of the row would take, without writing a new row version on
/// every usage batch. Elsewhere with a write that changes nothing, which on SQLite also takes
/// the database's write lock first.
pub async fn lock(db: &impl ConnectionTrait, id: TenantId) -> Result<()> {
    use sea_orm::sea_query::Expr;
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE",
            [id.0.into()],
        ))
        .await?;
        return Ok(());
    }
    Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::col(Column::UpdatedAt))
        .filter(Column::Id.eq(id.0))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn list(
    db: &impl ConnectionTrait,
    filter: &TenantFilter,
    page: PageRequest,
) -> Result<Page<Tenant>> {
    let mut select = Entity::find();
    if let Some(status) = filter.status {
        select = select.filter(tenants::Column::Status.eq(status.as_str()));
    }
    if let Some(text) = filter.search.as_deref().filter(|t| !t.is_empty()) {
        select = select.filter(
            Condition::any()
                .add(contains_ci(Column::Name, text))
                .add(contains_ci(Column::Slug, text))
                .add(contains_ci(Column::BillingEmail, text)),
        );
    }
    Ok(fetch_page(db, select, Column::Id, page)
        .await?
        .map(to_domain))
}
