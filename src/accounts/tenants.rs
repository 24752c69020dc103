//! Tenant administration. Only the operator creates, changes and suspends tenants; a tenant
//! credential may read its own tenant.
use sea_orm::TransactionTrait;

use super::snapshot;
use crate::auth::Actor;
use crate::domain::NewWebhookEvent;
use crate::domain::{
    DunningStage, NewTenant, Page, PageRequest, Tenant, TenantFilter, TenantId, TenantPatch,
    TenantStatus,
};
use crate::error::{Error, OptionExt, Result};
use crate::state::AppState;
use crate::store;

pub async fn create(state: &AppState, actor: &Actor, new: NewTenant) -> Result<Tenant> {
    actor.require_admin()?;
    store::accounts::tenants::insert(&state.db, new, state.clock.now()).await
}

pub async fn update(
    state: &AppState,
    actor: &Actor,
    id: TenantId,
    patch: TenantPatch,
) -> Result<Tenant> {
    actor.require_admin()?;
    // One transaction, so the row and its cache epoch move together.
    let txn = state.db.begin().await?;
    let tenant = store::accounts::tenants::update(&txn, id, patch, state.clock.now()).await?;
    txn.commit().await?;
    Ok(tenant)
}

pub async fn set_status(
    state: &AppState,
    actor: &Actor,
    id: TenantId,
    status: TenantStatus,
    reason: Option<String>,
) -> Result<Tenant> {
    actor.require_admin()?;
    let reason = reason.filter(|_| status == TenantStatus::Suspended);
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    store::accounts::tenants::lock(&txn, id).await?;
    let before = store::accounts::tenants::find(&txn, id)
        .await?
        .or_not_found("tenant")?;
    let after = store::accounts::tenants::set_status(&txn, id, status, reason, now).await?;
    // Webhooks: a change of status, told once.
    if before.status != after.status {
        let event = match after.status {
            TenantStatus::Suspended => {
                NewWebhookEvent::tenant_suspended(id, after.suspended_reason.as_deref(), now)
            }
            _ => NewWebhookEvent::tenant_reactivated(id, now),
        };
        store::webhooks::emit(&txn, event).await?;
    }
    txn.commit().await?;
    Ok(after)
}

pub async fn get(state: &AppState, actor: &Actor, id: TenantId) -> Result<Tenant> {
    let id = actor.tenant_for(Some(id))?;
    store::accounts::tenants::find(&state.db, id)
        .await?
        .or_not_found("tenant")
}

/// The tenant, which must exist and not be suspended: what every spend, usage report and
/// new subscription checks first.
/// `actor`, when given, is the request's caller (its cache epoch may serve).
pub async fn active(state: &AppState, actor: Option<&Actor>, id: TenantId) -> Result<Tenant> {
    let tenant = cached(state, actor, id).await?;
    may_act(&tenant)?;
    Ok(tenant)
}

/// The check of [`active`], on a tenant already read.
pub fn may_act(tenant: &Tenant) -> Result<()> {
    if tenant.status == TenantStatus::Suspended {
        return Err(suspended(tenant));
    }
    Ok(())
}

/// The tenant, which must exist, for spending credits it already paid for: allowed in every
/// dunning stage, refused only when the operator suspended the tenant.
pub async fn with_paid_credits(
    state: &AppState,
    actor: Option<&Actor>,
    id: TenantId,
) -> Result<Tenant> {
    let tenant = cached(state, actor, id).await?;
    may_spend_paid_credits(&tenant)?;
    Ok(tenant)
}

/// The check of [`with_paid_credits`], on a tenant already read.
pub fn may_spend_paid_credits(tenant: &Tenant) -> Result<()> {
    if tenant.status == TenantStatus::Suspended
        && tenant.dunning_stage != Some(DunningStage::Suspended)
    {
        return Err(suspended(tenant));
    }
    Ok(())
}

/// Refuses what an `unpaid` or suspended tenant may not start (new block charges, new holds)
/// until its overdue invoices are paid.
pub fn require_paid_up(tenant: &Tenant, what: &str) -> Result<()> {
    match tenant.dunning_stage {
        Some(DunningStage::Unpaid | DunningStage::Suspended) => Err(Error::PaymentRequired(
            format!("{what} is refused until the tenant's overdue invoices are paid"),
        )),
        _ => Ok(()),
    }
}

/// The tenant from its cached snapshot (see `snapshot`), which must exist.
async fn cached(state: &AppState, actor: Option<&Actor>, id: TenantId) -> Result<Tenant> {
    snapshot::snapshot(state, actor, id)
        .await?
        .map(|s| s.tenant)
        .or_not_found("tenant")
}

fn suspended(tenant: &Tenant) -> Error {
    if tenant.dunning_stage == Some(DunningStage::Suspended) {
        Error::PaymentRequired(
            "the tenant is suspended for unpaid invoices; paying them lifts the suspension".into(),
        )
    } else {
        Error::Forbidden("the tenant is suspended".into())
    }
}

/// The tenant with this id, if any, for operator tools that hold no credential (`billing
/// token` checks the tenant it mints for).
pub async fn find(state: &AppState, id: TenantId) -> Result<Option<Tenant>> {
    store::accounts::tenants::find(&state.db, id).await
}

/// The caller's own tenant, if its credential is bound to one that still exists.
pub async fn of_caller(state: &AppState, actor: &Actor) -> Result<Option<Tenant>> {
    match actor.tenant {
        Some(id) => Ok(snapshot::snapshot(state, Some(actor), id)
            .await?
            .map(|s| s.tenant)),
        None => Ok(None),
    }
}

pub async fn list(
    state: &AppState,
    actor: &Actor,
    filter: TenantFilter,
    page: PageRequest,
) -> Result<Page<Tenant>> {
    actor.require_operator()?;
    store::accounts::tenants::list(&state.db, &filter, page).await
}
