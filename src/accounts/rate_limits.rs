//! Which request rate applies to a caller: `BILLING_RATE_LIMIT_PER_MINUTE` (and `_BURST`) by
//! default, or the override `BILLING_RATE_LIMIT_PLANS` names for the code of the plan of the
//! tenant's live subscription. The plan is looked up only when overrides are configured, from
//! the tenant's cached snapshot, so a plan change applies from the next request on.
use crate::auth::Actor;
use crate::cache::rate_limit::Rate;
use crate::state::AppState;

use super::snapshot;

pub async fn rate_for(state: &AppState, actor: Option<&Actor>) -> Rate {
    let config = &state.config;
    let default = Rate {
        per_minute: config.rate_limit_per_minute,
        burst: config.rate_limit_burst.max(1),
    };
    let Some(actor) = actor.filter(|a| a.tenant.is_some()) else {
        return default;
    };
    if config.rate_limit_plans.trim().is_empty() {
        return default;
    }
    let Some(rates) = config.rate_limit_plan_rates() else {
        return default;
    };
    let Some(code) = plan_code(state, actor).await else {
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

async fn plan_code(state: &AppState, actor: &Actor) -> Option<String> {
    let tenant = actor.tenant?;
    // Without a live subscription the default applies; the first subscription counts at once.
    let live = snapshot::snapshot(state, Some(actor), tenant)
        .await
        .ok()
        .flatten()?
        .live?;
    let plan = state.plans.get(&state.db, live.plan_id).await.ok()?;
    Some(plan.code.clone())
}
