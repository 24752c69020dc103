use chrono::{DateTime, Utc};
use entity::coupons::{ActiveModel, Column, Entity, Model};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::fetch_page;
use crate::domain::{
    Coupon, CouponDuration, CouponId, Currency, Discount, Money, NewCoupon, Page, PageRequest,
};
use crate::error::{Error, Result, conflict_on_unique};

fn to_domain(m: Model) -> Result<Coupon> {
    let discount = match (m.percent_off, m.amount_off_minor, m.currency.as_deref()) {
        (Some(p), _, _) => Discount::Percent(u8::try_from(p).map_err(Error::internal)?),
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
            CouponDuration::Repeating(u16::try_from(n).map_err(Error::internal)?)
        }
        (other, _) => return Err(Error::internal(format!("coupon duration '{other}'"))),
    };
    let plan_codes = m
        .plan_codes
        .map(serde_json::from_value::<Vec<String>>)
        .transpose()
        .map_err(Error::internal)?;
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
    let model = row
        .insert(db)
        .await
        .map_err(|e| conflict_on_unique(e, "a coupon with this code already exists"))?;
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
