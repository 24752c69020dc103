use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::coupon_redemptions;
use entity::coupons::{ActiveModel, Column, Entity, Model};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use uuid::Uuid;

use crate::domain::{
    Coupon, CouponDuration, CouponId, Currency, Discount, Money, NewCoupon, NewRedemption, Page,
    PageRequest, RedemptionId, SubscriptionDiscount,
};
use crate::error::{ConflictReason, Error, Result, conflict_on_unique};
use crate::store::fetch_page;

fn to_domain(m: Model) -> Result<Coupon> {
    let discount = match (m.percent_off, m.amount_off_minor, m.currency.as_deref()) {
        (Some(p), _, _) => Discount::Percent(u8::try_from(p).map_err(|e| Error::internal(e))?),
        (None, Some(a), Some(c)) => {
            Discount::Amount(Money::new(a, Currency::parse("currency", c)?))
        }
        _ => {
            return Err(Error::internal(format!(
                "coupon {} has no discount",
                m.code
            )));
        }
    };
    let duration = match (m.duration.as_str(), m.duration_periods) {
        ("once", _) => CouponDuration::Once,
        ("forever", _) => CouponDuration::Forever,
        ("repeating", Some(n)) => {
            CouponDuration::Repeating(u16::try_from(n).map_err(|e| Error::internal(e))?)
        }
        (other, _) => return Err(Error::internal(format!("coupon duration '{other}'"))),
    };
    let plan_codes = m
        .plan_codes
        .map(serde_json::from_value::<Vec<String>>)
        .transpose()
        .map_err(|e| Error::internal(e))?;
    Ok(Coupon {
        id: m.id.into(),
        code: m.code,
        name: m.name,
        discount,
        duration,
        max_redemptions: m.max_redemptions,
        times_redeemed: m.times_redeemed,
        valid_from: m.valid_from,
        valid_until: m.valid_until,
        plan_codes,
        created_at: m.created_at,
    })
}

pub async fn insert(
    db: &impl ConnectionTrait,
    new: NewCoupon,
    now: DateTime<Utc>,
) -> Result<Coupon> {
    let (percent, amount, currency) = match new.discount {
        Discount::Percent(p) => (Some(i32::from(p)), None, None),
        Discount::Amount(m) => (
            None,
            Some(m.amount_minor),
            Some(m.currency.code().to_owned()),
        ),
    };
    let (duration, periods) = match new.duration {
        CouponDuration::Once => ("once", None),
        CouponDuration::Repeating(n) => ("repeating", Some(i32::from(n))),
        CouponDuration::Forever => ("forever", None),
    };
    let plan_codes = new.plan_codes.map(|codes| {
        serde_json::json!(
            codes
                .into_iter()
                .map(|c| c.into_inner())
                .collect::<Vec<_>>()
        )
    });
    let row = ActiveModel {
        id: Set(CouponId::new().0),
        code: Set(new.code.into_inner()),
        name: Set(new.name.into_inner()),
        percent_off: Set(percent),
        amount_off_minor: Set(amount),
        currency: Set(currency),
        duration: Set(duration.to_owned()),
        duration_periods: Set(periods),
        max_redemptions: Set(new.max_redemptions),
        times_redeemed: Set(0),
        valid_from: Set(new.valid_from),
        valid_until: Set(new.valid_until),
        plan_codes: Set(plan_codes),
        created_at: Set(now),
    };
    let model = row.insert(db).await.map_err(|e| {
        conflict_on_unique(
            e,
            ConflictReason::CodeTaken,
            "a coupon with this code already exists",
        )
    })?;
    to_domain(model)
}

pub async fn find_by_code(db: &impl ConnectionTrait, code: &str) -> Result<Option<Coupon>> {
    Entity::find()
        .filter(Column::Code.eq(code))
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

pub async fn list(db: &impl ConnectionTrait, page: PageRequest) -> Result<Page<Coupon>> {
    let page = fetch_page(db, Entity::find(), Column::Id, page).await?;
    let items = page
        .items
        .into_iter()
        .map(to_domain)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page {
        items,
        has_next: page.has_next,
    })
}

/// Takes one redemption of the coupon if any is left: a single conditional update, so
/// concurrent redemptions can never go past `max_redemptions`.
pub async fn take_redemption(db: &impl ConnectionTrait, id: CouponId) -> Result<bool> {
    let result = Entity::update_many()
        .col_expr(
            Column::TimesRedeemed,
            Expr::col(Column::TimesRedeemed).add(1),
        )
        .filter(Column::Id.eq(id.0))
        .filter(
            Condition::any()
                .add(Column::MaxRedemptions.is_null())
                .add(Expr::col(Column::TimesRedeemed).lt(Expr::col(Column::MaxRedemptions))),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records that the tenant redeemed the coupon; a second redemption by the same tenant is a
/// `CONFLICT` from the unique key.
pub async fn insert_redemption(
    db: &impl ConnectionTrait,
    new: NewRedemption,
) -> Result<SubscriptionDiscount> {
    let id = RedemptionId::new();
    coupon_redemptions::ActiveModel {
        id: Set(id.0),
        coupon_id: Set(new.coupon.id.0),
        tenant_id: Set(new.tenant.0),
        subscription_id: Set(new.subscription.0),
        first_cycle: Set(new.first_cycle),
        last_cycle: Set(new.last_cycle),
        redeemed_at: Set(new.now),
    }
    .insert(db)
    .await
    .map_err(|e| {
        conflict_on_unique(
            e,
            ConflictReason::CouponAlreadyRedeemed,
            "this tenant has already redeemed this coupon",
        )
    })?;
    crate::store::cache_epochs::bump_tenant(db, new.tenant).await?;
    Ok(SubscriptionDiscount {
        id,
        coupon_id: new.coupon.id,
        coupon_code: new.coupon.code,
        discount: new.coupon.discount,
        first_cycle: new.first_cycle,
        last_cycle: new.last_cycle,
    })
}

/// The most recent redemption of each subscription, with its coupon's discount.
pub async fn latest_discounts(
    db: &impl ConnectionTrait,
    subscriptions: &[Uuid],
) -> Result<HashMap<Uuid, SubscriptionDiscount>> {
    if subscriptions.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = coupon_redemptions::Entity::find()
        .filter(coupon_redemptions::Column::SubscriptionId.is_in(subscriptions.iter().copied()))
        .order_by_asc(coupon_redemptions::Column::Id)
        .all(db)
        .await?;
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let coupon_ids: Vec<Uuid> = rows.iter().map(|r| r.coupon_id).collect();
    let coupons: HashMap<Uuid, Coupon> = Entity::find()
        .filter(Column::Id.is_in(coupon_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|m| to_domain(m).map(|c| (c.id.0, c)))
        .collect::<Result<_>>()?;
    let mut latest = HashMap::new();
    for r in rows {
        let coupon = coupons
            .get(&r.coupon_id)
            .ok_or_else(|| Error::internal(format!("redemption {} has no coupon", r.id)))?;
        latest.insert(
            r.subscription_id,
            SubscriptionDiscount {
                id: r.id.into(),
                coupon_id: coupon.id,
                coupon_code: coupon.code.clone(),
                discount: coupon.discount,
                first_cycle: r.first_cycle,
                last_cycle: r.last_cycle,
            },
        );
    }
    Ok(latest)
}
