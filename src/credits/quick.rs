//! The hot paths' first try: a spend priced from the tenant's cached snapshot and written by
//! one statement that also checks the snapshot is still current (`store::credits::quick`).
//! Each function answers `None` when it cannot decide alone: nothing cached, a backend without
//! the statement, a tenant that may not make this spend, a stale snapshot, or a move that
//! would need the full path (too few credits, a low-balance crossing, the balance used up, no
//! wallet, a key raced for). The caller then takes the full path, which decides everything
//! again, so every answer given here is one the full path would have given too.
use chrono::{DateTime, Utc};

use super::holds::{HoldOutcome, new_hold};
use super::wallet::{SpendRequest, Spending, Spent};
use super::{entry, rule_of};
use crate::accounts::snapshot::{TenantSnapshot, peek};
use crate::accounts::tenants::{may_act, may_spend_paid_credits, require_paid_up};
use crate::cache::CacheEpochs;
use crate::domain::keys::ledger_key;
use crate::domain::{CreditHold, Credits, HoldStatus, LedgerEntry, LedgerKind, TenantId};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::credits::quick::{self, Guard, Quick};

/// The tenant's cached snapshot, if it allows `spending`, and the guard that checks it.
async fn cached(
    state: &AppState,
    tenant: TenantId,
    spending: Spending,
) -> Option<(TenantSnapshot, Guard)> {
    if !quick::supported(&state.db) {
        return None;
    }
    let stamped = peek(state, tenant).await?;
    let t = &stamped.value.tenant;
    let allowed = match spending {
        Spending::PaidCredits => may_spend_paid_credits(t).is_ok(),
        Spending::NewHold => may_act(t).is_ok() && require_paid_up(t, "").is_ok(),
        Spending::Purchase => false,
    };
    if !allowed {
        return None;
    }
    let guard = Guard {
        scope: CacheEpochs::tenant(tenant),
        epoch: stamped.epoch,
        low_micro: state
            .config
            .low_balance_credits
            .saturating_mul(Credits::MICRO_PER_CREDIT),
    };
    Some((stamped.value, guard))
}

/// The cost of `req` under the snapshot's plan; pricing errors (a bad quantity, an unknown
/// metric) are left to the full path.
async fn cost(state: &AppState, snapshot: &TenantSnapshot, req: &SpendRequest) -> Option<Credits> {
    let rule = rule_of(state, snapshot.live.as_ref(), &req.metric_code)
        .await
        .ok()?;
    rule.price(req.quantity).ok()
}

/// `consumeCredits` in one statement; a replay answers from the same statement.
pub(super) async fn consume(
    state: &AppState,
    tenant: TenantId,
    req: &SpendRequest,
) -> Result<Option<Spent>> {
    let Some((snapshot, guard)) = cached(state, tenant, Spending::PaidCredits).await else {
        return Ok(None);
    };
    let Some(cost) = cost(state, &snapshot, req).await else {
        return Ok(None);
    };
    let mut e = entry(
        tenant,
        LedgerKind::Consume,
        -cost.micro(),
        state.clock.now(),
    );
    e.idempotency_key = Some(ledger_key::client(
        LedgerKind::Consume,
        &req.idempotency_key,
    ));
    e.metric_code = Some(req.metric_code.as_str().to_owned());
    e.operation_type = Some(req.operation_type.clone());
    e.quantity = Some(req.quantity);
    Ok(
        match state.spend_groups.consume(&state.db, e, guard).await? {
            Quick::Done(entry, wallet) => {
                super::announce(state, &entry);
                (state.metrics).credits_consumed(&req.operation_type, cost.micro());
                Some(Spent {
                    entry,
                    wallet,
                    replayed: false,
                })
            }
            Quick::Prior(first, wallet) if req.made(&first) => Some(Spent {
                entry: first,
                wallet,
                replayed: true,
            }),
            Quick::Prior(..) => return Err(Error::key_reused()),
            Quick::Declined => None,
        },
    )
}

/// `reserveCredits` in one statement, for a key not used before.
pub(super) async fn reserve(
    state: &AppState,
    tenant: TenantId,
    req: &SpendRequest,
    ttl_seconds: i64,
) -> Result<Option<HoldOutcome>> {
    let Some((snapshot, guard)) = cached(state, tenant, Spending::NewHold).await else {
        return Ok(None);
    };
    let Some(cost) = cost(state, &snapshot, req).await else {
        return Ok(None);
    };
    let now = state.clock.now();
    let hold = new_hold(tenant, req, cost, now, ttl_seconds);
    let e = hold_entry(
        &hold,
        LedgerKind::Hold,
        -cost.micro(),
        Some(req.quantity),
        now,
    );
    Ok(match quick::reserve(&state.db, e, &hold, &guard).await? {
        Quick::Done(entry, wallet) => {
            super::announce(state, &entry);
            Some(HoldOutcome {
                hold,
                entry: Some(entry),
                wallet,
                replayed: false,
            })
        }
        Quick::Prior(..) | Quick::Declined => None,
    })
}

/// `settleCredits` of an open hold in one statement.
pub(super) async fn settle(
    state: &AppState,
    hold: &CreditHold,
    actual_quantity: i64,
) -> Result<Option<HoldOutcome>> {
    let Some((snapshot, guard)) = cached(state, hold.tenant_id, Spending::PaidCredits).await else {
        return Ok(None);
    };
    let Ok(metric) = crate::domain::Code::parse("metricCode", &hold.metric_code) else {
        return Ok(None);
    };
    let req = SpendRequest {
        tenant: Some(hold.tenant_id),
        metric_code: metric,
        quantity: actual_quantity,
        operation_type: hold.operation_type.clone(),
        idempotency_key: String::new(),
    };
    let Some(charged) = cost(state, &snapshot, &req).await else {
        return Ok(None);
    };
    let back = hold.amount.micro() - charged.micro();
    let now = state.clock.now();
    let e = hold_entry(hold, LedgerKind::Settle, back, Some(actual_quantity), now);
    match quick::settle(&state.db, e, hold, charged, &guard).await? {
        Quick::Done(entry, wallet) => {
            super::announce(state, &entry);
            (state.metrics).credits_consumed(&hold.operation_type, charged.micro());
            let hold = CreditHold {
                status: HoldStatus::Settled,
                settled: Some(charged),
                ..hold.clone()
            };
            Ok(Some(HoldOutcome {
                hold,
                entry: Some(entry),
                wallet,
                replayed: false,
            }))
        }
        Quick::Prior(..) | Quick::Declined => Ok(None),
    }
}

/// The ledger entry of a hold's opening or closing.
fn hold_entry(
    hold: &CreditHold,
    kind: LedgerKind,
    amount: i64,
    quantity: Option<i64>,
    now: DateTime<Utc>,
) -> LedgerEntry {
    let mut e = entry(hold.tenant_id, kind, amount, now);
    e.idempotency_key = Some(match kind {
        LedgerKind::Hold => ledger_key::hold(hold.id),
        other => ledger_key::closing(other, hold.id),
    });
    e.reference = Some(hold.id.to_string());
    e.metric_code = Some(hold.metric_code.clone());
    e.operation_type = Some(hold.operation_type.clone());
    e.quantity = quantity;
    e
}
