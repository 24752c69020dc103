//! Redeeming a coupon on a subscription. The checks that need no lock run first; the ones that
//! race (one redemption per tenant, the maximum) are enforced by the database in the
//! subscription's transaction.
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::{Begun, MANAGERS, Outcome, begin_keyed, finish, live};
use crate::auth::Actor;
use crate::domain::NewRedemption;
use crate::domain::{
    Coupon, CouponCode, CouponDuration, Discount, IdempotentOperation, Keyed, Plan, Subscription,
    SubscriptionDiscount, SubscriptionStatus, TenantId,
};
use crate::error::{ConflictReason, Error, OptionExt, Result};
use crate::state::AppState;
use crate::store;

/// Finds the coupon and checks what does not depend on other redemptions: its validity
/// window, its plan restriction and its currency. `field` names the input field.
pub(crate) async fn usable_coupon(
    db: &impl ConnectionTrait,
    code: &CouponCode,
    plan: &Plan,
    now: DateTime<Utc>,
    field: &str,
) -> Result<Coupon> {
    let coupon = store::catalog::coupons::find_by_code(db, code.as_str())
        .await?
        .or_not_found("coupon")?;
    if coupon.valid_from.is_some_and(|from| now < from) {
        return Err(Error::validation(field, "this coupon is not valid yet"));
    }
    if coupon.valid_until.is_some_and(|until| now >= until) {
        return Err(Error::validation(field, "this coupon has expired"));
    }
    if let Some(codes) = &coupon.plan_codes
        && !codes.contains(&plan.code)
    {
        return Err(Error::validation(
            field,
            format!("this coupon does not apply to the plan '{}'", plan.code),
        ));
    }
    if let Discount::Amount(m) = coupon.discount
        && m.currency != plan.monthly_price.currency
    {
        return Err(Error::validation(
            field,
            format!(
                "this coupon is in {}, the plan in {}",
                m.currency, plan.monthly_price.currency
            ),
        ));
    }
    Ok(coupon)
}

/// Attaches `coupon` to `sub` from `first_cycle` on, inside the caller's transaction.
pub(crate) async fn redeem(
    db: &impl ConnectionTrait,
    coupon: Coupon,
    sub: &Subscription,
    first_cycle: i32,
    now: DateTime<Utc>,
) -> Result<SubscriptionDiscount> {
    if let Some(d) = &sub.discount
        && d.last_cycle.is_none_or(|last| last >= sub.cycle)
    {
        return Err(Error::conflict(
            ConflictReason::DiscountAlreadyActive,
            format!(
                "the subscription already has the discount '{}'",
                d.coupon_code
            ),
        ));
    }
    let last_cycle = match coupon.duration {
        CouponDuration::Once => Some(first_cycle),
        CouponDuration::Repeating(n) => Some(first_cycle + i32::from(n) - 1),
        CouponDuration::Forever => None,
    };
    let coupon_id = coupon.id;
    let discount = store::catalog::coupons::insert_redemption(
        db,
        NewRedemption {
            coupon,
            tenant: sub.tenant_id,
            subscription: sub.id,
            first_cycle,
            last_cycle,
            now,
        },
    )
    .await?;
    if !store::catalog::coupons::take_redemption(db, coupon_id).await? {
        return Err(Error::conflict(
            ConflictReason::CouponFullyRedeemed,
            "this coupon has reached its maximum number of redemptions",
        ));
    }
    Ok(discount)
}

/// Applies a coupon to the live subscription. During a trial it covers the first paid cycle;
/// on a paid subscription it starts with the next cycle, since the current invoice is issued.
/// With a key, a replay returns the first result.
#[tracing::instrument(skip_all)]
pub async fn apply_coupon(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    code: CouponCode,
    key: Option<String>,
) -> Result<Outcome> {
    actor.require_role(MANAGERS)?;
    let tenant = actor.tenant_for(tenant)?;
    let now = state.clock.now();
    let keyed = key.map(|k| {
        Keyed::new(
            IdempotentOperation::ApplyCoupon,
            k,
            &[("code", Some(code.as_str()))],
        )
    });
    let keyed = keyed.as_ref();
    let (txn, current) = match begin_keyed(state, tenant, keyed).await? {
        Begun::Fresh(txn, current) => (txn, current),
        Begun::Replay(first) => return Ok(first),
    };
    let mut sub = live(current)?;
    let plan = super::renewal::plan_of(&txn, &sub).await?;
    // Read through the transaction: on SQLite another pooled connection could be waiting
    // behind this transaction's write lock.
    let coupon = usable_coupon(&txn, &code, &plan, now, "code").await?;
    let first_cycle = if sub.status == SubscriptionStatus::Trialing {
        1
    } else {
        sub.cycle + 1
    };
    sub.discount = Some(redeem(&txn, coupon, &sub, first_cycle, now).await?);
    finish(txn, sub, None, keyed, now).await
}
