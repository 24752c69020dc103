//! Subscriptions: creation, periods and renewals, cancellation, plan changes with proration,
//! and coupons. Every change runs in one transaction that first locks the tenant row, so
//! concurrent requests for one tenant take turns and each sees the other's result.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};

use crate::auth::Actor;
use crate::domain::{
    Interval, Invoice, Keyed, Money, Page, PageRequest, Plan, PlanId, Role, Subscription,
    SubscriptionFilter, TenantId,
};
use crate::domain::{NewWebhookEvent, SubscriptionStatus};
use crate::error::{ConflictReason, Error, OptionExt, Result};
use crate::state::AppState;
use crate::store::{self, TenantScope};
use crate::{accounts, invoicing};

mod change;
mod coupons;
mod create;
mod idempotent;
mod renewal;
mod revenue;

pub use change::{cancel, change_plan, resume};
pub use coupons::apply_coupon;
pub use create::create;
pub(crate) use renewal::plan_of as plan_of_subscription;
pub use renewal::{Step, renew_one};
pub use revenue::{RevenueSummary, StatusCount, refresh_metrics, revenue_summary};

/// Who may change a subscription: the tenant's owner or billing users, or the admin.
const MANAGERS: &[Role] = &[Role::Owner, Role::Billing];

/// A subscription with the plan versions it points at.
#[derive(Clone, Debug)]
pub struct SubscriptionView {
    pub subscription: Subscription,
    pub plan: Plan,
    pub scheduled_plan: Option<Plan>,
}

/// A subscription change and the invoice it issued, if any.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub view: SubscriptionView,
    pub invoice: Option<Invoice>,
}

/// The plan's fee for one period of `interval`, if the plan offers that interval.
pub(crate) fn fee_for(plan: &Plan, interval: Interval) -> Option<Money> {
    match interval {
        Interval::Month => Some(plan.monthly_price),
        Interval::Year => plan.yearly_price,
    }
}

pub(crate) async fn views(
    db: &impl ConnectionTrait,
    subs: Vec<Subscription>,
) -> Result<Vec<SubscriptionView>> {
    let ids: Vec<PlanId> = subs
        .iter()
        .flat_map(|s| std::iter::once(s.plan_id).chain(s.scheduled_plan_id))
        .collect();
    let plans: HashMap<PlanId, Plan> = store::catalog::plans_by_ids(db, &ids).await?;
    subs.into_iter()
        .map(|s| {
            let plan = plans
                .get(&s.plan_id)
                .cloned()
                .ok_or_else(|| Error::internal(format!("subscription {} has no plan", s.id)))?;
            let scheduled_plan = s.scheduled_plan_id.and_then(|p| plans.get(&p).cloned());
            Ok(SubscriptionView {
                subscription: s,
                plan,
                scheduled_plan,
            })
        })
        .collect()
}

pub(crate) async fn view(db: &impl ConnectionTrait, sub: Subscription) -> Result<SubscriptionView> {
    views(db, vec![sub])
        .await?
        .pop()
        .ok_or_else(|| Error::internal("a view of one subscription is missing"))
}

/// Starts a transaction holding the tenant's lock, and reads its live subscription in it.
pub(crate) async fn begin_for(
    state: &AppState,
    tenant: TenantId,
) -> Result<(DatabaseTransaction, Option<Subscription>)> {
    let txn = state.db.begin().await?;
    store::accounts::tenants::lock(&txn, tenant).await?;
    let live = store::subscriptions::find_live(&txn, tenant).await?;
    Ok((txn, live))
}

/// Writes the next state of a subscription read in this transaction.
pub(crate) async fn save(
    db: &impl ConnectionTrait,
    next: &mut Subscription,
    now: DateTime<Utc>,
) -> Result<()> {
    next.version += 1;
    if store::subscriptions::save_over(db, next, now).await? {
        // Webhooks: every saved change is `subscription.updated`, an ending `canceled`.
        let event = if next.status == SubscriptionStatus::Canceled {
            NewWebhookEvent::subscription_canceled(next, now)
        } else {
            NewWebhookEvent::subscription_updated(next, now)
        };
        store::webhooks::emit(db, event).await?;
        Ok(())
    } else {
        Err(Error::conflict(
            ConflictReason::ConcurrentUpdate,
            "the subscription changed at the same time; retry",
        ))
    }
}

/// Saves `sub` and commits, with the invoice the change issued, if any, and the change's
/// idempotency key.
pub(crate) async fn finish(
    txn: DatabaseTransaction,
    mut sub: Subscription,
    invoice: Option<Invoice>,
    keyed: Option<&Keyed>,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    save(&txn, &mut sub, now).await?;
    let outcome = Outcome {
        view: view(&txn, sub).await?,
        invoice,
    };
    idempotent::remember(&txn, keyed, &outcome, now).await?;
    txn.commit().await?;
    Ok(outcome)
}

/// A committed change's invoice, announced to live updates.
pub(crate) fn announced(state: &AppState, outcome: Outcome) -> Outcome {
    if let Some(invoice) = &outcome.invoice {
        invoicing::announce(state, invoice);
    }
    outcome
}

/// A keyed change, once the tenant is locked: new, or a replay of the key's first result.
// Made once per request and matched at once: boxing a variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Begun {
    Fresh(DatabaseTransaction, Option<Subscription>),
    Replay(Outcome),
}

/// Locks the tenant like [`begin_for`]; when `keyed` was used before, rolls back and returns
/// the first result instead (or the key's `CONFLICT`).
pub(crate) async fn begin_keyed(
    state: &AppState,
    tenant: TenantId,
    keyed: Option<&Keyed>,
) -> Result<Begun> {
    let (txn, live) = begin_for(state, tenant).await?;
    match idempotent::first_result(&txn, tenant, keyed).await {
        Ok(None) => Ok(Begun::Fresh(txn, live)),
        Ok(Some(first)) => {
            txn.rollback().await?;
            Ok(Begun::Replay(first))
        }
        Err(e) => {
            txn.rollback().await?;
            Err(e)
        }
    }
}

/// The tenant's live subscription, else its latest one; `None` if it never subscribed.
pub async fn get(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
) -> Result<Option<SubscriptionView>> {
    let tenant = actor.tenant_for(tenant)?;
    // The live one from the cached snapshot; the latest ended one from the database.
    let live = accounts::snapshot::snapshot(state, Some(actor), tenant)
        .await?
        .and_then(|s| s.live);
    let sub = match live {
        Some(sub) => Some(sub),
        None => store::subscriptions::current(&state.db, tenant).await?,
    };
    match sub {
        Some(sub) => Ok(Some(view(&state.db, sub).await?)),
        None => Ok(None),
    }
}

pub async fn list(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    filter: SubscriptionFilter,
    page: PageRequest,
) -> Result<Page<SubscriptionView>> {
    let scope: TenantScope = actor.scope(tenant)?;
    let plan_ids = match &filter.plan_code {
        Some(code) => Some(store::catalog::plan_version_ids(&state.db, code).await?),
        None => None,
    };
    let page = store::subscriptions::list(&state.db, scope, &filter, plan_ids, page).await?;
    Ok(Page {
        items: views(&state.db, page.items).await?,
        has_next: page.has_next,
    })
}

/// The live subscription or `NOT_FOUND`.
pub(crate) fn live(sub: Option<Subscription>) -> Result<Subscription> {
    sub.or_not_found("live subscription")
}
