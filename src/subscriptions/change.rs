//! Cancelling, resuming and changing plan.
use super::renewal::{issue_closing_invoice, plan_of};
use super::{Begun, MANAGERS, Outcome, announced, begin_for, begin_keyed, fee_for, finish, live};
use crate::auth::Actor;
use crate::domain::NewInvoice;
use crate::domain::keys::invoice_source;
use crate::domain::{
    BillingReason, Code, Discount, IdempotentOperation, Keyed, LineKind, Money, NewLine,
    Subscription, SubscriptionStatus, TenantId,
};
use crate::error::{ConflictReason, Error, OptionExt, Result};
use crate::invoicing;
use crate::pricing;
use crate::state::AppState;
use crate::store;

/// At the period end (undoable with [`resume`] until then), or now. Cancelling now refunds
/// nothing: the period was invoiced in advance and stays paid for.
#[tracing::instrument(skip_all)]
pub async fn cancel(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    at_period_end: bool,
) -> Result<Outcome> {
    actor.require_role(MANAGERS)?;
    let tenant = actor.tenant_for(tenant)?;
    let now = state.clock.now();
    let (txn, current) = begin_for(state, tenant).await?;
    let mut sub = live(current)?;
    if at_period_end {
        sub.cancel_at_period_end = true;
        sub.canceled_at = Some(now);
        return finish(txn, sub, None, None, now).await;
    }
    // Ending now: the period-end charges so far go on a closing invoice.
    let invoice = issue_closing_invoice(&txn, state, &sub, now, now).await?;
    sub.status = SubscriptionStatus::Canceled;
    sub.canceled_at = Some(now);
    sub.ended_at = Some(now);
    sub.scheduled_plan_id = None;
    finish(txn, sub, invoice, None, now)
        .await
        .map(|o| announced(state, o))
}

#[tracing::instrument(skip_all)]
pub async fn resume(state: &AppState, actor: &Actor, tenant: Option<TenantId>) -> Result<Outcome> {
    actor.require_role(MANAGERS)?;
    let tenant = actor.tenant_for(tenant)?;
    let now = state.clock.now();
    let (txn, current) = begin_for(state, tenant).await?;
    let mut sub = live(current)?;
    if !sub.cancel_at_period_end {
        return Err(Error::conflict(
            ConflictReason::NotCanceling,
            "the subscription has no cancellation to undo",
        ));
    }
    sub.cancel_at_period_end = false;
    sub.canceled_at = None;
    finish(txn, sub, None, None, now).await
}

/// Moves to another plan on the same interval. A dearer plan applies now, with a proration
/// invoice; a cheaper one waits for the period end; during a trial any change applies now.
/// With a key, a replay returns the first result.
#[tracing::instrument(skip_all)]
pub async fn change_plan(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    code: Code,
    key: Option<String>,
) -> Result<Outcome> {
    actor.require_role(MANAGERS)?;
    let tenant = actor.tenant_for(tenant)?;
    let now = state.clock.now();
    let keyed = key.map(|k| {
        Keyed::new(
            IdempotentOperation::ChangePlan,
            k,
            &[("planCode", Some(code.as_str()))],
        )
    });
    let keyed = keyed.as_ref();
    let (txn, current) = match begin_keyed(state, tenant, keyed).await? {
        Begun::Fresh(txn, current) => (txn, current),
        Begun::Replay(first) => return Ok(first),
    };
    let mut sub = live(current)?;
    let old = plan_of(&txn, &sub).await?;
    let new = store::catalog::find_plan(&txn, code.as_str(), None)
        .await?
        .or_not_found("plan")?;
    if new.code == old.code {
        if sub.scheduled_plan_id.take().is_none() {
            return Err(Error::conflict(
                ConflictReason::AlreadyOnPlan,
                format!("the subscription is already on '{}'", old.code),
            ));
        }
        return finish(txn, sub, None, keyed, now).await;
    }
    let (Some(old_fee), Some(new_fee)) = (fee_for(&old, sub.interval), fee_for(&new, sub.interval))
    else {
        return Err(Error::validation(
            "planCode",
            format!(
                "the plan '{}' has no {} price",
                new.code,
                sub.interval.as_str()
            ),
        ));
    };
    if old_fee.currency != new_fee.currency {
        return Err(Error::validation(
            "planCode",
            format!("the plan '{}' is priced in {}", new.code, new_fee.currency),
        ));
    }
    let mut invoice = None;
    if sub.status == SubscriptionStatus::Trialing || new_fee.amount_minor == old_fee.amount_minor {
        sub.plan_id = new.id;
        sub.scheduled_plan_id = None;
    } else if new_fee.amount_minor > old_fee.amount_minor {
        let proration = proration_invoice(&sub, (&old.name, old_fee), (&new.name, new_fee), now)?;
        sub.plan_id = new.id;
        sub.scheduled_plan_id = None;
        invoice = invoicing::issue(&txn, state, proration, now).await?;
    } else {
        sub.scheduled_plan_id = Some(new.id);
    }
    finish(txn, sub, invoice, keyed, now)
        .await
        .map(|o| announced(state, o))
}

/// Credit for the unused part of the old fee and a charge for the rest of the period at the
/// new fee, both prorated by the second. A percentage discount covering this cycle applies;
/// a fixed amount does not, since it is granted once per period.
fn proration_invoice(
    sub: &Subscription,
    (old_name, old_fee): (&str, Money),
    (new_name, new_fee): (&str, Money),
    now: chrono::DateTime<chrono::Utc>,
) -> Result<NewInvoice> {
    let total = (sub.current_period_end - sub.current_period_start).num_seconds();
    let remaining = (sub.current_period_end - now).num_seconds();
    let overflow = || Error::internal("proration overflow");
    let credit = pricing::prorate(old_fee.amount_minor, remaining, total).ok_or_else(overflow)?;
    let charge = pricing::prorate(new_fee.amount_minor, remaining, total).ok_or_else(overflow)?;
    let from = now.format("%Y-%m-%d %H:%M UTC");
    let line = |description: String, amount: i64| NewLine {
        description,
        quantity: 1,
        unit_amount_minor: amount,
        amount_minor: amount,
        period_start: now,
        period_end: sub.current_period_end,
        kind: LineKind::Proration,
    };
    let lines = vec![
        line(format!("Unused time on {old_name} after {from}"), -credit),
        line(format!("Remaining time on {new_name} from {from}"), charge),
    ];
    let discount = sub
        .discount
        .as_ref()
        .filter(|d| d.covers(sub.cycle) && matches!(d.discount, Discount::Percent(_)));
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount_minor).collect();
    let totals =
        pricing::invoice_totals(&amounts, discount.map(|d| &d.discount)).ok_or_else(overflow)?;
    Ok(NewInvoice {
        tenant: sub.tenant_id,
        subscription: Some(sub.id),
        billing_reason: BillingReason::SubscriptionUpdate,
        cycle: Some(sub.cycle),
        currency: new_fee.currency,
        totals,
        coupon_code: discount
            .filter(|_| totals.discount > 0)
            .map(|d| d.coupon_code.clone()),
        period_start: now,
        period_end: sub.current_period_end,
        source_key: Some(invoice_source::update(sub.id, sub.version + 1)),
        lines,
        now,
    })
}
