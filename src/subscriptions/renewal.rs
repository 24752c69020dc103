//! Period ends: a trial becomes cycle 1, a cycle becomes the next one (applying a scheduled
//! downgrade), or a subscription set to cancel ends. Each step is one transaction, guarded so a
//! second run for the same moment finds nothing to do.
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::{fee_for, save};
use crate::domain::NewInvoice;
use crate::domain::keys::invoice_source;
use crate::domain::{
    BillingReason, Interval, Invoice, LineKind, NewLine, Plan, Subscription, SubscriptionId,
    SubscriptionStatus, cycle_bounds,
};
use crate::error::{Error, OptionExt, Result};
use crate::invoicing;
use crate::pricing;
use crate::state::AppState;
use crate::store::{self, TenantScope};

/// What one renewal step did.
#[derive(Clone, Debug)]
pub enum Step {
    /// Not due (any more): someone else got there first, or it ended.
    NothingDue,
    TrialEnded(Option<Invoice>),
    Renewed {
        invoice: Option<Invoice>,
        plan_changed: bool,
    },
    /// Ended at its period end, with its closing invoice if it had period-end charges.
    Canceled(Option<Invoice>),
}

fn interval_label(interval: Interval) -> &'static str {
    match interval {
        Interval::Month => "monthly",
        Interval::Year => "yearly",
    }
}

/// The invoice that opens paid cycle `sub.cycle`: the fee in advance, with the subscription's
/// discount when it covers this cycle.
pub(crate) fn cycle_invoice(
    sub: &Subscription,
    plan: &Plan,
    reason: BillingReason,
    arrears: Vec<NewLine>,
    now: DateTime<Utc>,
) -> Result<NewInvoice> {
    let fee = fee_for(plan, sub.interval).ok_or_else(|| {
        Error::internal(format!(
            "plan {} has no {} fee",
            plan.id,
            sub.interval.as_str()
        ))
    })?;
    let mut lines = vec![NewLine {
        description: format!("{} ({})", plan.name, interval_label(sub.interval)),
        quantity: 1,
        unit_amount_minor: fee.amount_minor,
        amount_minor: fee.amount_minor,
        period_start: sub.current_period_start,
        period_end: sub.current_period_end,
        kind: LineKind::Fee,
    }];
    lines.extend(arrears);
    let discount = sub.discount.as_ref().filter(|d| d.covers(sub.cycle));
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount_minor).collect();
    let totals = pricing::invoice_totals(&amounts, discount.map(|d| &d.discount))
        .ok_or_else(|| Error::internal("invoice totals overflow"))?;
    Ok(NewInvoice {
        tenant: sub.tenant_id,
        subscription: Some(sub.id),
        billing_reason: reason,
        cycle: Some(sub.cycle),
        currency: fee.currency,
        totals,
        coupon_code: discount
            .filter(|_| totals.discount > 0)
            .map(|d| d.coupon_code.clone()),
        period_start: sub.current_period_start,
        period_end: sub.current_period_end,
        source_key: Some(invoice_source::cycle(sub.id, sub.cycle)),
        lines,
        now,
    })
}

/// Moves `sub` into paid cycle `cycle` of its anchor.
pub(crate) fn enter_cycle(sub: &mut Subscription, cycle: i32) -> Result<()> {
    let anchor = sub
        .anchor
        .ok_or_else(|| Error::internal(format!("subscription {} has no anchor", sub.id)))?;
    let n = u32::try_from(cycle).map_err(|e| Error::internal(e))?;
    let (start, end) = cycle_bounds(anchor, sub.interval, n)
        .ok_or_else(|| Error::internal("billing period beyond the calendar"))?;
    sub.cycle = cycle;
    sub.current_period_start = start;
    sub.current_period_end = end;
    Ok(())
}

/// Issues the invoice for the cycle `sub` has just entered, dated at the period start, with
/// the closing period's arrears.
pub(crate) async fn issue_cycle_invoice(
    db: &impl ConnectionTrait,
    state: &AppState,
    sub: &Subscription,
    plan: &Plan,
    reason: BillingReason,
    arrears: Vec<NewLine>,
    now: DateTime<Utc>,
) -> Result<Option<Invoice>> {
    let new = cycle_invoice(sub, plan, reason, arrears, now)?;
    invoicing::issue(db, state, new, sub.current_period_start).await
}

/// The last invoice of a subscription that ends at `end`: its period-end charges, if any.
/// Not discounted: coupons discount the invoices that open a cycle.
pub(crate) async fn issue_closing_invoice(
    db: &impl ConnectionTrait,
    state: &AppState,
    sub: &Subscription,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Invoice>> {
    let plan = plan_of(db, sub).await?;
    let lines = invoicing::arrears_lines(db, sub, &plan, end).await?;
    if lines.is_empty() {
        return Ok(None);
    }
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount_minor).collect();
    let totals = pricing::invoice_totals(&amounts, None)
        .ok_or_else(|| Error::internal("invoice totals overflow"))?;
    let new = NewInvoice {
        tenant: sub.tenant_id,
        subscription: Some(sub.id),
        billing_reason: BillingReason::SubscriptionClose,
        cycle: Some(sub.cycle),
        currency: plan.monthly_price.currency,
        totals,
        coupon_code: None,
        period_start: sub.current_period_start,
        period_end: end,
        source_key: Some(invoice_source::close(sub.id, sub.cycle)),
        lines,
        now,
    };
    invoicing::issue(db, state, new, end).await
}

/// Takes the one step due for `id` at `now`, if it is still due.
#[tracing::instrument(skip_all, fields(subscription = %id))]
pub async fn renew_one(state: &AppState, id: SubscriptionId, now: DateTime<Utc>) -> Result<Step> {
    let Some(peek) = store::subscriptions::find(&state.db, TenantScope::Any, id).await? else {
        return Ok(Step::NothingDue);
    };
    let (txn, live) = super::begin_for(state, peek.tenant_id).await?;
    let Some(mut sub) = live.filter(|s| s.id == id && s.current_period_end <= now) else {
        return Ok(Step::NothingDue);
    };
    let boundary = sub.current_period_end;
    let step = if sub.cancel_at_period_end {
        let invoice = issue_closing_invoice(&txn, state, &sub, boundary, now).await?;
        sub.status = SubscriptionStatus::Canceled;
        sub.canceled_at.get_or_insert(boundary);
        sub.ended_at = Some(boundary);
        save(&txn, &mut sub, now).await?;
        Step::Canceled(invoice)
    } else if sub.status == SubscriptionStatus::Trialing {
        sub.anchor = Some(boundary);
        sub.status = SubscriptionStatus::Active;
        enter_cycle(&mut sub, 1)?;
        save(&txn, &mut sub, now).await?;
        let plan = plan_of(&txn, &sub).await?;
        let invoice = issue_cycle_invoice(
            &txn,
            state,
            &sub,
            &plan,
            BillingReason::SubscriptionCreate,
            Vec::new(),
            now,
        )
        .await?;
        Step::TrialEnded(invoice)
    } else {
        let closing_plan = plan_of(&txn, &sub).await?;
        let arrears = invoicing::arrears_lines(&txn, &sub, &closing_plan, boundary).await?;
        let plan_changed = match sub.scheduled_plan_id.take() {
            Some(next) => {
                sub.plan_id = next;
                true
            }
            None => false,
        };
        let next_cycle = sub
            .cycle
            .checked_add(1)
            .ok_or_else(|| Error::internal("cycle overflow"))?;
        enter_cycle(&mut sub, next_cycle)?;
        save(&txn, &mut sub, now).await?;
        let plan = plan_of(&txn, &sub).await?;
        let invoice = issue_cycle_invoice(
            &txn,
            state,
            &sub,
            &plan,
            BillingReason::SubscriptionCycle,
            arrears,
            now,
        )
        .await?;
        Step::Renewed {
            invoice,
            plan_changed,
        }
    };
    txn.commit().await?;
    if let Step::TrialEnded(Some(invoice))
    | Step::Renewed {
        invoice: Some(invoice),
        ..
    }
    | Step::Canceled(Some(invoice)) = &step
    {
        invoicing::announce(state, invoice);
    }
    Ok(step)
}

pub(crate) async fn plan_of(db: &impl ConnectionTrait, sub: &Subscription) -> Result<Plan> {
    store::catalog::plans_by_ids(db, &[sub.plan_id])
        .await?
        .remove(&sub.plan_id)
        .or_not_found("plan")
}
