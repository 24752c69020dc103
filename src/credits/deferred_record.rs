//! Recording deferred usage (seed 003): each event is stored `pending` with its cost computed
//! now, under its idempotency key. A key is one event: sent again with the same metric,
//! quantity and operation type it answers the first record; with anything else it is refused
//! as `IDEMPOTENCY_KEY_REUSED` and changes nothing.
use std::collections::HashMap;

use super::wallet::{Spending, spending_tenant};
use super::{CreditRule, rule_for};
use crate::auth::Actor;
use crate::domain::MAX_BATCH_EVENTS;
use crate::domain::{
    Code, PendingStatus, PendingUsage, PendingUsageId, RejectCode, Rejection, TenantId,
    parse_operation, parse_quantity, parse_usage_key,
};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store;

#[derive(Clone, Debug)]
pub struct DeferredEvent {
    pub metric_code: String,
    pub quantity: i64,
    pub operation_type: Option<String>,
    pub idempotency_key: String,
}

#[derive(Clone, Debug)]
pub enum DeferredResult {
    Accepted(PendingUsage),
    /// The key was recorded before for this same event: the first record.
    Duplicate(PendingUsage),
    Rejected(Rejection),
}

/// An event whose every field is well formed.
struct Checked {
    key: String,
    metric_code: String,
    quantity: i64,
    operation: String,
}

fn check(e: DeferredEvent) -> std::result::Result<Checked, Rejection> {
    let key = parse_usage_key(&e.idempotency_key)?;
    let quantity = parse_quantity(e.quantity)?;
    let operation = parse_operation(e.operation_type.as_deref())?;
    Ok(Checked {
        key,
        metric_code: e.metric_code.trim().to_ascii_lowercase(),
        quantity,
        operation,
    })
}

/// Why `first`, stored under the same key, is not the event `e`; `None` when it is.
fn reuse_of(first: &PendingUsage, e: &Checked) -> Option<Rejection> {
    let differs = if first.metric_code != e.metric_code {
        format!("metricCode '{}'", first.metric_code)
    } else if first.quantity != e.quantity {
        format!("quantity {}", first.quantity)
    } else if first.operation_type != e.operation {
        format!("operationType '{}'", first.operation_type)
    } else {
        return None;
    };
    Some(Rejection::new(
        RejectCode::IdempotencyKeyReused,
        format!(
            "idempotencyKey '{}' was recorded for another event ({differs}, record {})",
            e.key, first.id
        ),
    ))
}

/// Stores each event `pending` with its cost computed now by the tenant's credit rule.
#[tracing::instrument(skip_all)]
pub async fn record_deferred_usage(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    events: Vec<DeferredEvent>,
) -> Result<Vec<DeferredResult>> {
    let tenant = spending_tenant(state, actor, tenant, Spending::PaidCredits).await?;
    if events.is_empty() || events.len() > MAX_BATCH_EVENTS {
        return Err(Error::validation(
            "events",
            format!("a batch holds 1 to {MAX_BATCH_EVENTS} events"),
        ));
    }
    let now = state.clock.now();
    let mut rules: HashMap<String, Option<CreditRule>> = HashMap::new();
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let e = match check(e) {
            Ok(e) => e,
            Err(r) => {
                out.push(DeferredResult::Rejected(r));
                continue;
            }
        };
        if !rules.contains_key(&e.metric_code) {
            let rule = match Code::parse("metricCode", &e.metric_code) {
                Ok(c) => match rule_for(state, Some(actor), tenant, &c).await {
                    Ok(rule) => Some(rule),
                    Err(Error::NotFound(_)) => None,
                    Err(other) => return Err(other),
                },
                Err(_) => None,
            };
            rules.insert(e.metric_code.clone(), rule);
        }
        let Some(rule) = rules.get(&e.metric_code).copied().flatten() else {
            out.push(DeferredResult::Rejected(Rejection::new(
                RejectCode::UnknownMetric,
                format!("no billable metric '{}'", e.metric_code),
            )));
            continue;
        };
        let Ok(cost) = rule.price(e.quantity) else {
            out.push(DeferredResult::Rejected(Rejection::new(
                RejectCode::InvalidQuantity,
                "too large to price",
            )));
            continue;
        };
        let record = PendingUsage {
            id: PendingUsageId::new(),
            tenant_id: tenant,
            metric_code: e.metric_code.clone(),
            quantity: e.quantity,
            operation_type: e.operation.clone(),
            idempotency_key: e.key.clone(),
            cost,
            status: PendingStatus::Pending,
            reason: None,
            attempts: 0,
            charged_at: None,
            created_at: now,
        };
        let (stored, fresh) = store::credits::pending::insert_once(&state.db, &record).await?;
        out.push(if fresh {
            DeferredResult::Accepted(stored)
        } else if let Some(rejection) = reuse_of(&stored, &e) {
            DeferredResult::Rejected(rejection)
        } else {
            DeferredResult::Duplicate(stored)
        });
    }
    Ok(out)
}

/// The record stored under `key`, as it is now (pending, charged or failed), if any. A tenant
/// credential reads its own; operators name the tenant.
pub async fn pending_usage(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    key: &str,
) -> Result<Option<PendingUsage>> {
    let tenant = actor.tenant_for(tenant)?;
    let key = parse_usage_key(key).map_err(|r| Error::validation("idempotencyKey", r.message))?;
    store::credits::pending::find_by_key(&state.db, tenant, &key).await
}
