use crate::auth::Actor;
use crate::domain::{Coupon, Discount, NewCoupon, Page, PageRequest};
use crate::error::{Error, OptionExt, Result};
use crate::state::AppState;
use crate::store;

pub async fn create_coupon(state: &AppState, actor: &Actor, new: NewCoupon) -> Result<Coupon> {
    actor.require_admin()?;
    if let (Some(from), Some(until)) = (new.valid_from, new.valid_until)
        && until <= from
    {
        return Err(Error::validation("validUntil", "must be after validFrom"));
    }
    if let Some(codes) = &new.plan_codes {
        for (i, code) in codes.iter().enumerate() {
            if store::catalog::latest_plan_version(&state.db, code.as_str())
                .await?
                .is_none()
            {
                return Err(Error::validation(
                    format!("planCodes[{i}]"),
                    format!("unknown plan '{}'", code.as_str()),
                ));
            }
        }
    }
    if let Discount::Amount(m) = new.discount
        && m.amount_minor == 0
    {
        return Err(Error::validation(
            "amountOffMinor",
            "must be greater than zero",
        ));
    }
    store::catalog::coupons::insert(&state.db, new, state.clock.now()).await
}

/// The full list would hand every code to every tenant, so it is for the operator only;
/// a tenant looks a coupon up by the code it was given.
pub async fn list_coupons(
    state: &AppState,
    actor: &Actor,
    page: PageRequest,
) -> Result<Page<Coupon>> {
    actor.require_operator()?;
    store::catalog::coupons::list(&state.db, page).await
}

pub async fn find_coupon(state: &AppState, _actor: &Actor, code: &str) -> Result<Coupon> {
    store::catalog::coupons::find_by_code(&state.db, code)
        .await?
        .or_not_found("coupon")
}
