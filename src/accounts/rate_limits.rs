//! Which request rate applies to a caller: `BILLING_RATE_LIMIT_PER_MINUTE` (and `_BURST`) by
//! default, or the override `BILLING_RATE_LIMIT_PLANS` names for the code of the plan of the
//! tenant's live subscription. The plan code is looked up only when overrides are configured,
//! and remembered for [`PLAN_CODE_TTL`] (a plan change reaches the rate limit within that time;
//! rate limits protect the service, they decide nothing about billing).
use crate::cache::rate_limit::{PLAN_CODE_TTL, Rate};
use crate::domain::TenantId;
use crate::state::AppState;
use crate::store;

pub async fn rate_for(state: &AppState, tenant: Option<TenantId>) -> Rate {
    let config = &state.config;
    let default = Rate {
        per_minute: config.rate_limit_per_minute,
        burst: config.rate_limit_burst.max(1),
    };
    let Some(tenant) = tenant else {
        return default;
    };
    if config.rate_limit_plans.trim().is_empty() {
        return default;
    }
    let Some(rates) = config.rate_limit_plan_rates() else {
        return default;
    };
    let Some(code) = plan_code(state, tenant).await else {
        return default;
    };
    match rates.get(&code) {
        // The burst scales with the rate, in the default's proportion.
        Some(&per_minute) => Rate {
            per_minute,
            burst: (u128::from(default.burst) * u128::from(per_minute)
                / u128::from(default.per_minute.max(1)))
            .clamp(1, u128::from(u64::MAX)) as u64,
        },
        None => default,
    }
}

async fn plan_code(state: &AppState, tenant: TenantId) -> Option<String> {
    let key = format!("rate-plan:{tenant}");
    if let Ok(Some(code)) = state.cache.get(&key).await {
        return Some(code);
    }
    let live = store::subscriptions::find_live(&state.db, tenant)
        .await
        .ok()
        .flatten();
    // Without a live subscription nothing is remembered: the first subscription counts at once.
    let sub = live?;
    let code = state
        .plans
        .get(&state.db, sub.plan_id)
        .await
        .ok()?
        .code
        .clone();
    let _ = state.cache.set(&key, &code, PLAN_CODE_TTL).await;
    Some(code)
}
