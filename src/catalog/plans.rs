//! Plans and packs are versioned: `create*` makes version 1 of a new code, `publish*Version`
//! adds version n+1 and makes it current. Nothing already bought is ever rewritten.
use std::collections::HashSet;

use sea_orm::TransactionTrait;

use crate::auth::Actor;
use crate::cache::CacheEpochs;
use crate::domain::{CreditPack, NewCreditPack, NewPlan, Page, PageRequest, Plan, PlanId};
use crate::error::{ConflictReason, Error, OptionExt, Result};
use crate::state::AppState;
use crate::store;

pub async fn create_plan(state: &AppState, actor: &Actor, new: NewPlan) -> Result<Plan> {
    save_plan(state, actor, new, false).await
}

pub async fn publish_plan_version(state: &AppState, actor: &Actor, new: NewPlan) -> Result<Plan> {
    save_plan(state, actor, new, true).await
}

async fn save_plan(
    state: &AppState,
    actor: &Actor,
    new: NewPlan,
    new_version: bool,
) -> Result<Plan> {
    actor.require_admin()?;
    check_unique_metrics(
        new.charges.iter().map(|c| c.metric_code.as_str()),
        "charges",
    )?;
    check_unique_metrics(new.limits.iter().map(|l| l.metric_code.as_str()), "limits")?;
    let codes: Vec<&str> = new
        .charges
        .iter()
        .map(|c| c.metric_code.as_str())
        .chain(new.limits.iter().map(|l| l.metric_code.as_str()))
        .collect();
    let metric_ids = store::catalog::metrics::ids_by_code(&state.db, &codes).await?;
    for (i, c) in new.charges.iter().enumerate() {
        if !metric_ids.contains_key(&c.metric_code) {
            return Err(Error::validation(
                format!("charges[{i}].metricCode"),
                format!("unknown metric '{}'", c.metric_code),
            ));
        }
    }
    for (i, l) in new.limits.iter().enumerate() {
        if !metric_ids.contains_key(&l.metric_code) {
            return Err(Error::validation(
                format!("limits[{i}].metricCode"),
                format!("unknown metric '{}'", l.metric_code),
            ));
        }
    }
    let txn = state.db.begin().await?;
    let latest = store::catalog::latest_plan_version(&txn, new.code.as_str()).await?;
    let version = next_version(latest, new_version, "plan")?;
    let plan =
        store::catalog::insert_plan_version(&txn, new, version, &metric_ids, state.clock.now())
            .await?;
    // Every cached plan list, on every replica, is stale from this commit on.
    CacheEpochs::bump(&txn, CacheEpochs::CATALOG).await?;
    txn.commit().await?;
    Ok(plan)
}

/// Creating takes version 1 of a new code; publishing takes the next version of an existing one.
fn next_version(latest: Option<i32>, publishing: bool, what: &'static str) -> Result<i32> {
    match (latest, publishing) {
        (None, false) => Ok(1),
        (Some(_), false) => Err(Error::conflict(
            ConflictReason::CodeTaken,
            format!("a {what} with this code already exists"),
        )),
        (None, true) => Err(Error::NotFound(what)),
        (Some(v), true) => v.checked_add(1).ok_or_else(|| {
            Error::conflict(
                ConflictReason::TooManyVersions,
                format!("{what} has too many versions"),
            )
        }),
    }
}

fn check_unique_metrics<'a>(codes: impl Iterator<Item = &'a str>, field: &str) -> Result<()> {
    let mut seen = HashSet::new();
    for (i, code) in codes.enumerate() {
        if !seen.insert(code) {
            return Err(Error::validation(
                format!("{field}[{i}].metricCode"),
                "each metric may appear once",
            ));
        }
    }
    Ok(())
}

pub async fn find_plan(
    state: &AppState,
    _actor: &Actor,
    code: &str,
    version: Option<i32>,
) -> Result<Plan> {
    store::catalog::find_plan(&state.db, code, version)
        .await?
        .or_not_found("plan")
}

/// A page of plans: its plan ids (and whether each is current) come from the two-level cache
/// under the catalog's cache epoch, the plans themselves from [`crate::cache::PlanVersions`]
/// (published versions never change); the database answers when the epoch moved.
pub async fn list_plans(
    state: &AppState,
    _actor: &Actor,
    all_versions: bool,
    page: PageRequest,
) -> Result<Page<Plan>> {
    // Read before the list, so a plan published in between leaves an entry already stale.
    let epoch = CacheEpochs::current(&state.db, CacheEpochs::CATALOG).await?;
    let key = format!(
        "plans:{epoch}:{all_versions}:{}:{}",
        page.first,
        page.after.map(|a| a.to_string()).unwrap_or_default()
    );
    if let Ok(Some(raw)) = state.cache.get(&key).await
        && let Some(cached) = CacheEpochs::unstamp::<CachedPlans>(&raw, epoch)
    {
        let mut items = Vec::with_capacity(cached.plans.len());
        for (id, is_current) in cached.plans {
            let mut plan = Plan::clone(&*state.plans.get(&state.db, PlanId(id)).await?);
            plan.is_current = is_current;
            items.push(plan);
        }
        return Ok(Page {
            items,
            has_next: cached.has_next,
        });
    }
    let found = store::catalog::list_plans(&state.db, all_versions, page).await?;
    let entry = CachedPlans {
        plans: found.items.iter().map(|p| (p.id.0, p.is_current)).collect(),
        has_next: found.has_next,
    };
    if let Some(json) = CacheEpochs::stamp(epoch, entry) {
        let _ = state.cache.set(&key, &json, PLAN_LIST_TTL).await;
    }
    Ok(found)
}

const PLAN_LIST_TTL: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(serde::Serialize, serde::Deserialize)]
struct CachedPlans {
    plans: Vec<(uuid::Uuid, bool)>,
    has_next: bool,
}

pub async fn create_pack(
    state: &AppState,
    actor: &Actor,
    new: NewCreditPack,
) -> Result<CreditPack> {
    save_pack(state, actor, new, false).await
}

pub async fn publish_pack_version(
    state: &AppState,
    actor: &Actor,
    new: NewCreditPack,
) -> Result<CreditPack> {
    save_pack(state, actor, new, true).await
}

async fn save_pack(
    state: &AppState,
    actor: &Actor,
    new: NewCreditPack,
    new_version: bool,
) -> Result<CreditPack> {
    actor.require_admin()?;
    if new.credits.micro() == 0 {
        return Err(Error::validation("credits", "must be greater than zero"));
    }
    let txn = state.db.begin().await?;
    let latest = store::catalog::latest_pack_version(&txn, new.code.as_str()).await?;
    let version = next_version(latest, new_version, "credit pack")?;
    let pack = store::catalog::insert_pack_version(&txn, new, version, state.clock.now()).await?;
    txn.commit().await?;
    Ok(pack)
}

pub async fn find_pack(state: &AppState, _actor: &Actor, code: &str) -> Result<CreditPack> {
    store::catalog::find_pack(&state.db, code)
        .await?
        .or_not_found("credit pack")
}

pub async fn list_packs(
    state: &AppState,
    _actor: &Actor,
    all_versions: bool,
    page: PageRequest,
) -> Result<Page<CreditPack>> {
    store::catalog::list_packs(&state.db, all_versions, page).await
}
