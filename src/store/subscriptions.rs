//! Subscriptions. Every change is written over the version it was computed from, so two jobs
//! (or a job and a user) can never both apply a change to the same state.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::subscriptions::{ActiveModel, Column, Entity, Model};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::catalog::coupons;
use super::{TenantScope, cache_epochs, fetch_page};
use crate::domain::{
    Interval, Page, PageRequest, Subscription, SubscriptionDiscount, SubscriptionFilter,
    SubscriptionId, SubscriptionStatus, TenantId,
};
use crate::error::{ConflictReason, Error, Result, conflict_on_unique};

const ALREADY_LIVE: &str = "this tenant already has a live subscription; change or cancel it";

fn to_domain(m: Model, discount: Option<SubscriptionDiscount>) -> Result<Subscription> {
    let corrupt = |what: &str| Error::internal(format!("subscription {}: bad {what}", m.id));
    Ok(Subscription {
        id: m.id.into(),
        tenant_id: m.tenant_id.into(),
        plan_id: m.plan_id.into(),
        interval: Interval::from_db(&m.interval).ok_or_else(|| corrupt("interval"))?,
        status: SubscriptionStatus::from_db(&m.status).ok_or_else(|| corrupt("status"))?,
        cycle: m.cycle,
        anchor: m.anchor_at,
        current_period_start: m.current_period_start,
        current_period_end: m.current_period_end,
        trial_start: m.trial_start,
        trial_end: m.trial_end,
        cancel_at_period_end: m.cancel_at_period_end,
        canceled_at: m.canceled_at,
        ended_at: m.ended_at,
        scheduled_plan_id: m.scheduled_plan_id.map(Into::into),
        discount,
        version: m.version,
        created_at: m.created_at,
    })
}

async fn with_discounts(db: &impl ConnectionTrait, rows: Vec<Model>) -> Result<Vec<Subscription>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut discounts: HashMap<Uuid, SubscriptionDiscount> =
        coupons::latest_discounts(db, &ids).await?;
    rows.into_iter()
        .map(|r| {
            let d = discounts.remove(&r.id);
            to_domain(r, d)
        })
        .collect()
}

fn columns(s: &Subscription, now: DateTime<Utc>) -> ActiveModel {
    ActiveModel {
        id: Set(s.id.0),
        tenant_id: Set(s.tenant_id.0),
        plan_id: Set(s.plan_id.0),
        interval: Set(s.interval.as_str().to_owned()),
        status: Set(s.status.as_str().to_owned()),
        cycle: Set(s.cycle),
        anchor_at: Set(s.anchor),
        current_period_start: Set(s.current_period_start),
        current_period_end: Set(s.current_period_end),
        trial_start: Set(s.trial_start),
        trial_end: Set(s.trial_end),
        cancel_at_period_end: Set(s.cancel_at_period_end),
        canceled_at: Set(s.canceled_at),
        ended_at: Set(s.ended_at),
        scheduled_plan_id: Set(s.scheduled_plan_id.map(|p| p.0)),
        live_tenant_id: Set(s.status.is_live().then_some(s.tenant_id.0)),
        version: Set(s.version),
        created_at: Set(s.created_at),
        updated_at: Set(now),
    }
}

pub async fn insert(db: &impl ConnectionTrait, s: &Subscription) -> Result<()> {
    columns(s, s.created_at).insert(db).await.map_err(|e| {
        conflict_on_unique(e, ConflictReason::SubscriptionAlreadyLive, ALREADY_LIVE)
    })?;
    cache_epochs::bump_tenant(db, s.tenant_id).await
}

/// Writes `next` if the row is still at `next.version - 1`. `false` when someone else changed
/// it first; the caller's transaction then must not go on.
pub async fn save_over(
    db: &impl ConnectionTrait,
    next: &Subscription,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut row = columns(next, now);
    row.id = sea_orm::ActiveValue::NotSet;
    row.created_at = sea_orm::ActiveValue::NotSet;
    row.tenant_id = sea_orm::ActiveValue::NotSet;
    let result = Entity::update_many()
        .set(row)
        .filter(Column::Id.eq(next.id.0))
        .filter(Column::Version.eq(next.version - 1))
        .exec(db)
        .await
        .map_err(|e| {
            conflict_on_unique(e, ConflictReason::SubscriptionAlreadyLive, ALREADY_LIVE)
        })?;
    if result.rows_affected != 1 {
        return Ok(false);
    }
    cache_epochs::bump_tenant(db, next.tenant_id).await?;
    Ok(true)
}

pub async fn find(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    id: SubscriptionId,
) -> Result<Option<Subscription>> {
    let select = scope.filter(Entity::find_by_id(id.0), Column::TenantId);
    let rows: Vec<Model> = select.all(db).await?;
    Ok(with_discounts(db, rows).await?.pop())
}

/// The tenant's live subscription, else its most recent one.
pub async fn current(db: &impl ConnectionTrait, tenant: TenantId) -> Result<Option<Subscription>> {
    let live = Entity::find()
        .filter(Column::LiveTenantId.eq(tenant.0))
        .one(db)
        .await?;
    let row = match live {
        Some(row) => Some(row),
        None => {
            Entity::find()
                .filter(Column::TenantId.eq(tenant.0))
                .order_by_desc(Column::Id)
                .one(db)
                .await?
        }
    };
    Ok(with_discounts(db, row.into_iter().collect()).await?.pop())
}

pub async fn find_live(
    db: &impl ConnectionTrait,
    tenant: TenantId,
) -> Result<Option<Subscription>> {
    let row = Entity::find()
        .filter(Column::LiveTenantId.eq(tenant.0))
        .one(db)
        .await?;
    Ok(with_discounts(db, row.into_iter().collect()).await?.pop())
}

pub async fn list(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    filter: &SubscriptionFilter,
    plan_ids: Option<Vec<Uuid>>,
    page: PageRequest,
) -> Result<Page<Subscription>> {
    let mut select = scope.filter(Entity::find(), Column::TenantId);
    if let Some(status) = filter.status {
        select = select.filter(Column::Status.eq(status.as_str()));
    }
    if let Some(ids) = plan_ids {
        select = select.filter(Column::PlanId.is_in(ids));
    }
    let page = fetch_page(db, select, Column::Id, page).await?;
    Ok(Page {
        items: with_discounts(db, page.items).await?,
        has_next: page.has_next,
    })
}

/// Live subscriptions whose current period (or trial) has ended by `now`, oldest first.
pub async fn due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Subscription>> {
    let rows = Entity::find()
        .filter(Column::LiveTenantId.is_not_null())
        .filter(Column::CurrentPeriodEnd.lte(now))
        .order_by_asc(Column::CurrentPeriodEnd)
        .limit(limit)
        .all(db)
        .await?;
    with_discounts(db, rows).await
}

/// Trialing subscriptions whose trial ends by `until`.
pub async fn trials_ending(
    db: &impl ConnectionTrait,
    until: DateTime<Utc>,
) -> Result<Vec<Subscription>> {
    let rows = Entity::find()
        .filter(Column::Status.eq(SubscriptionStatus::Trialing.as_str()))
        .filter(Column::TrialEnd.lte(until))
        .all(db)
        .await?;
    with_discounts(db, rows).await
}

/// Every live subscription's plan, interval and status, for revenue figures.
pub async fn live_summary(db: &impl ConnectionTrait) -> Result<Vec<(Uuid, String, String)>> {
    let rows: Vec<(Uuid, String, String)> = Entity::find()
        .select_only()
        .column(Column::PlanId)
        .column(Column::Interval)
        .column(Column::Status)
        .filter(Column::LiveTenantId.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows)
}

/// Counts by (plan id, status) over all subscriptions.
pub async fn counts(db: &impl ConnectionTrait) -> Result<Vec<(Uuid, String, i64)>> {
    let rows: Vec<(Uuid, String, i64)> = Entity::find()
        .select_only()
        .column(Column::PlanId)
        .column(Column::Status)
        .column_as(Expr::expr(Func::count(Expr::col(Column::Id))), "n")
        .group_by(Column::PlanId)
        .group_by(Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows)
}

pub async fn with_status(
    db: &impl ConnectionTrait,
    status: SubscriptionStatus,
) -> Result<Vec<Subscription>> {
    let rows = Entity::find()
        .filter(Column::Status.eq(status.as_str()))
        .all(db)
        .await?;
    with_discounts(db, rows).await
}
