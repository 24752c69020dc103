use chrono::TimeDelta;

use super::coupons::{redeem, usable_coupon};
use super::renewal::{enter_cycle, issue_cycle_invoice};
use super::{Begun, MANAGERS, Outcome, begin_keyed, fee_for, idempotent, view};
use crate::auth::Actor;
use crate::domain::NewWebhookEvent;
use crate::domain::{BillingReason, Subscription, SubscriptionId, SubscriptionStatus};
use crate::domain::{IdempotentOperation, Keyed, NewSubscription};
use crate::error::{ConflictReason, Error, OptionExt, Result};
use crate::state::AppState;
use crate::{accounts, invoicing, store};

const MAX_TRIAL_DAYS: i32 = 730;

/// Subscribes a tenant to the current version of a plan. With a trial, nothing is invoiced
/// until the trial ends; without one, the first period's fee is invoiced at once. With a key,
/// a replay returns the first result, even once the subscription is live.
#[tracing::instrument(name = "create_subscription", skip_all, fields(plan = new.plan_code.as_str()))]
pub async fn create(state: &AppState, actor: &Actor, new: NewSubscription) -> Result<Outcome> {
    actor.require_role(MANAGERS)?;
    let tenant_id = actor.tenant_for(new.tenant)?;
    let keyed = new.idempotency_key.clone().map(|k| keyed(&new, k));
    let keyed = keyed.as_ref();
    if let Some(first) = idempotent::first_result(&state.db, tenant_id, keyed).await? {
        return Ok(first);
    }
    let trial_days = new.trial_days;
    if trial_days.is_some_and(|d| !(0..=MAX_TRIAL_DAYS).contains(&d)) {
        return Err(Error::validation(
            "trialDays",
            format!("must be between 0 and {MAX_TRIAL_DAYS}"),
        ));
    }
    accounts::tenants::active(state, Some(actor), tenant_id).await?;
    let plan = store::catalog::find_plan(&state.db, new.plan_code.as_str(), None)
        .await?
        .or_not_found("plan")?;
    if fee_for(&plan, new.interval).is_none() {
        return Err(Error::validation(
            "interval",
            format!("the plan '{}' has no yearly price", plan.code),
        ));
    }
    let now = state.clock.now();
    let coupon = match &new.coupon_code {
        Some(code) => Some(usable_coupon(&state.db, code, &plan, now, "couponCode").await?),
        None => None,
    };
    let trial_days = trial_days.unwrap_or(plan.trial_days);
    let mut sub = Subscription {
        id: SubscriptionId::new(),
        tenant_id,
        plan_id: plan.id,
        interval: new.interval,
        status: SubscriptionStatus::Trialing,
        cycle: 0,
        anchor: None,
        current_period_start: now,
        current_period_end: now + TimeDelta::days(i64::from(trial_days)),
        trial_start: Some(now),
        trial_end: Some(now + TimeDelta::days(i64::from(trial_days))),
        cancel_at_period_end: false,
        canceled_at: None,
        ended_at: None,
        scheduled_plan_id: None,
        discount: None,
        version: 1,
        created_at: now,
    };
    if trial_days == 0 {
        sub.status = SubscriptionStatus::Active;
        sub.trial_start = None;
        sub.trial_end = None;
        sub.anchor = Some(now);
        enter_cycle(&mut sub, 1)?;
    }

    let (txn, live) = match begin_keyed(state, tenant_id, keyed).await? {
        Begun::Fresh(txn, live) => (txn, live),
        Begun::Replay(first) => return Ok(first),
    };
    if live.is_some() {
        return Err(Error::conflict(
            ConflictReason::SubscriptionAlreadyLive,
            "this tenant already has a live subscription; change or cancel it",
        ));
    }
    store::subscriptions::insert(&txn, &sub).await?;
    // Webhooks.
    store::webhooks::emit(&txn, NewWebhookEvent::subscription_created(&sub, now)).await?;
    if let Some(coupon) = coupon {
        sub.discount = Some(redeem(&txn, coupon, &sub, 1, now).await?);
    }
    let invoice = if sub.cycle == 1 {
        issue_cycle_invoice(
            &txn,
            state,
            &sub,
            &plan,
            BillingReason::SubscriptionCreate,
            Vec::new(),
            now,
        )
        .await?
    } else {
        None
    };
    let outcome = Outcome {
        view: view(&txn, sub).await?,
        invoice,
    };
    idempotent::remember(&txn, keyed, &outcome, now).await?;
    txn.commit().await?;
    if let Some(invoice) = &outcome.invoice {
        invoicing::announce(state, invoice);
    }
    Ok(outcome)
}

/// The key with the fingerprint of everything the request asked for.
fn keyed(new: &NewSubscription, key: String) -> Keyed {
    let trial_days = new.trial_days.map(|d| d.to_string());
    Keyed::new(
        IdempotentOperation::CreateSubscription,
        key,
        &[
            ("planCode", Some(new.plan_code.as_str())),
            ("interval", Some(new.interval.as_str())),
            ("trialDays", trial_days.as_deref()),
            ("couponCode", new.coupon_code.as_ref().map(|c| c.as_str())),
        ],
    )
}
