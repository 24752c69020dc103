//! Holds: reserve credits before a request, settle the real amount after, release or let them
//! expire. A hold deducts its amount from the balance at once, so a held credit cannot be
//! spent twice; settling gives back what was not used.
use chrono::{DateTime, TimeDelta, Utc};

use super::wallet::{SpendRequest, Spending, spending_tenant};
use super::{Move, begin, cost_of, entry, insufficient, move_balance};
use crate::auth::Actor;
use crate::domain::keys::ledger_key;
use crate::domain::{
    Code, CreditHold, Credits, HoldId, HoldStatus, LedgerEntry, LedgerKind, TenantId, Wallet,
};
use crate::error::{ConflictReason, Error, OptionExt, Result};
use crate::state::AppState;
use crate::store;

#[derive(Clone, Debug)]
pub struct HoldOutcome {
    pub hold: CreditHold,
    pub entry: Option<LedgerEntry>,
    pub wallet: Wallet,
    pub replayed: bool,
}

async fn outcome(
    state: &AppState,
    hold: CreditHold,
    entry_key: Option<String>,
    replayed: bool,
) -> Result<HoldOutcome> {
    let entry = match entry_key {
        Some(key) => store::credits::wallets::entry_by_key(&state.db, hold.tenant_id, &key).await?,
        None => None,
    };
    Ok(HoldOutcome {
        wallet: store::credits::wallets::find(&state.db, hold.tenant_id).await?,
        hold,
        entry,
        replayed,
    })
}

/// The hold `req`'s key opened, if any, as a replay. The same key for a different request
/// (metric, quantity, operation or time to live) is a `CONFLICT` `IDEMPOTENCY_KEY_REUSED`.
async fn reserved(
    state: &AppState,
    tenant: TenantId,
    req: &SpendRequest,
    ttl_seconds: i64,
) -> Result<Option<HoldOutcome>> {
    let Some(first) =
        store::credits::wallets::hold_by_key(&state.db, tenant, &req.idempotency_key).await?
    else {
        return Ok(None);
    };
    let key = ledger_key::hold(first.id);
    let out = outcome(state, first, Some(key), true).await?;
    let same = out.hold.metric_code == req.metric_code.as_str()
        && out.hold.operation_type == req.operation_type
        && out.entry.as_ref().and_then(|e| e.quantity) == Some(req.quantity)
        && (out.hold.expires_at - out.hold.created_at).num_seconds() == ttl_seconds;
    if !same {
        return Err(Error::key_reused());
    }
    Ok(Some(out))
}

/// Sets aside the credits `quantity` units would cost, for `ttl_seconds` (1 to 86,400).
#[tracing::instrument(skip_all)]
pub async fn reserve_credits(
    state: &AppState,
    actor: &Actor,
    req: SpendRequest,
    ttl_seconds: i64,
) -> Result<HoldOutcome> {
    if !(1..=86_400).contains(&ttl_seconds) {
        return Err(Error::validation(
            "ttlSeconds",
            "must be between 1 and 86400",
        ));
    }
    if let Some(done) =
        super::quick::reserve(state, actor.tenant_for(req.tenant)?, &req, ttl_seconds).await?
    {
        return Ok(done);
    }
    let tenant = spending_tenant(state, actor, req.tenant, Spending::NewHold).await?;
    // Looked up first, outside the wallet's lock, so replays never queue behind spends.
    if let Some(first) = reserved(state, tenant, &req, ttl_seconds).await? {
        return Ok(first);
    }
    let now = state.clock.now();
    let cost = cost_of(state, Some(actor), tenant, &req.metric_code, req.quantity).await?;
    let txn = begin(state, tenant).await?;
    let hold = new_hold(tenant, &req, cost, now, ttl_seconds);
    let mut e = entry(tenant, LedgerKind::Hold, -cost.micro(), now);
    e.idempotency_key = Some(ledger_key::hold(hold.id));
    e.reference = Some(hold.id.to_string());
    e.metric_code = Some(hold.metric_code.clone());
    e.operation_type = Some(hold.operation_type.clone());
    e.quantity = Some(req.quantity);
    match move_balance(&txn, state, e, cost.micro(), cost.micro()).await? {
        Move::Done(entry, wallet) => {
            if let Err(err) = store::credits::wallets::insert_hold(&txn, &hold).await {
                txn.rollback().await?;
                // Another request with this key won the race: answer with its hold.
                if let Some(first) = reserved(state, tenant, &req, ttl_seconds).await? {
                    return Ok(first);
                }
                return Err(err);
            }
            txn.commit().await?;
            super::announce(state, &entry);
            Ok(HoldOutcome {
                hold,
                entry: Some(entry),
                wallet,
                replayed: false,
            })
        }
        Move::Insufficient => Err(insufficient(state, txn, tenant, cost).await),
        Move::Duplicate => {
            txn.rollback().await?;
            Err(Error::internal("a new hold's entry key already exists"))
        }
    }
}

/// The open hold `req` asks for, costing `cost`, before it is written.
pub(super) fn new_hold(
    tenant: TenantId,
    req: &SpendRequest,
    cost: Credits,
    now: DateTime<Utc>,
    ttl_seconds: i64,
) -> CreditHold {
    CreditHold {
        id: HoldId::new(),
        tenant_id: tenant,
        amount: cost,
        status: HoldStatus::Held,
        metric_code: req.metric_code.as_str().to_owned(),
        operation_type: req.operation_type.clone(),
        idempotency_key: req.idempotency_key.clone(),
        settled: None,
        expires_at: now + TimeDelta::seconds(ttl_seconds),
        created_at: now,
    }
}

async fn open_hold(state: &AppState, actor: &Actor, id: HoldId) -> Result<CreditHold> {
    let scope = actor.scope(None)?;
    store::credits::wallets::find_hold(&state.db, scope, id)
        .await?
        .or_not_found("hold")
}

/// Closes an open hold: gives back `hold - charged` (or takes the difference when the real
/// cost is higher and the balance allows), in one transaction with the hold's new status.
async fn close(
    state: &AppState,
    hold: &CreditHold,
    to: HoldStatus,
    kind: LedgerKind,
    charged: Credits,
    quantity: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Option<(LedgerEntry, Wallet)>> {
    let tenant: TenantId = hold.tenant_id;
    let back = hold.amount.micro() - charged.micro();
    let txn = begin(state, tenant).await?;
    let settled = (to == HoldStatus::Settled).then_some(charged);
    if !store::credits::wallets::close_hold(&txn, hold.id, to, settled, now).await? {
        txn.rollback().await?;
        return Ok(None);
    }
    let mut e = entry(tenant, kind, back, now);
    e.idempotency_key = Some(ledger_key::closing(kind, hold.id));
    e.reference = Some(hold.id.to_string());
    e.metric_code = Some(hold.metric_code.clone());
    e.operation_type = Some(hold.operation_type.clone());
    e.quantity = quantity;
    match move_balance(&txn, state, e, -hold.amount.micro(), (-back).max(0)).await? {
        Move::Done(entry, wallet) => {
            txn.commit().await?;
            super::announce(state, &entry);
            Ok(Some((entry, wallet)))
        }
        Move::Insufficient => Err(insufficient(state, txn, tenant, Credits(-back)).await),
        Move::Duplicate => {
            txn.rollback().await?;
            Ok(None)
        }
    }
}

/// Charges the real cost of a held request and frees the rest. Settling again returns the
/// first result.
#[tracing::instrument(skip_all, fields(hold = %id))]
pub async fn settle_credits(
    state: &AppState,
    actor: &Actor,
    id: HoldId,
    actual_quantity: i64,
) -> Result<HoldOutcome> {
    let hold = open_hold(state, actor, id).await?;
    let settle_key = ledger_key::closing(LedgerKind::Settle, hold.id);
    match hold.status {
        HoldStatus::Held => {}
        HoldStatus::Settled => return settled(state, hold, settle_key, actual_quantity).await,
        other => {
            return Err(Error::conflict(
                ConflictReason::HoldNotOpen,
                format!(
                    "the hold is {}; only an open hold can be settled",
                    other.as_str()
                ),
            ));
        }
    }
    if let Some(done) = super::quick::settle(state, &hold, actual_quantity).await? {
        return Ok(done);
    }
    let metric = Code::parse("metricCode", &hold.metric_code)?;
    let cost = cost_of(state, Some(actor), hold.tenant_id, &metric, actual_quantity).await?;
    let now = state.clock.now();
    let closed = close(
        state,
        &hold,
        HoldStatus::Settled,
        LedgerKind::Settle,
        cost,
        Some(actual_quantity),
        now,
    )
    .await?;
    if let Some((entry, wallet)) = closed {
        (state.metrics).credits_consumed(&hold.operation_type, cost.micro());
        // What the transaction wrote, so the answer needs no second read.
        let hold = CreditHold {
            status: HoldStatus::Settled,
            settled: Some(cost),
            ..hold
        };
        return Ok(HoldOutcome {
            hold,
            entry: Some(entry),
            wallet,
            replayed: false,
        });
    }
    // Someone else closed it first: a settlement of the same quantity is its replay.
    let fresh = open_hold(state, actor, id).await?;
    if fresh.status != HoldStatus::Settled {
        return Err(Error::conflict(
            ConflictReason::HoldNotOpen,
            format!(
                "the hold is {}; only an open hold can be settled",
                fresh.status.as_str()
            ),
        ));
    }
    settled(state, fresh, settle_key, actual_quantity).await
}

/// Settling a settled hold again: the first result for the same quantity, a `CONFLICT`
/// `IDEMPOTENCY_KEY_REUSED` for another. (Settlements from before quantities were recorded
/// compare by cost.)
async fn settled(
    state: &AppState,
    hold: CreditHold,
    settle_key: String,
    actual_quantity: i64,
) -> Result<HoldOutcome> {
    let out = outcome(state, hold, Some(settle_key), true).await?;
    let same = match out.entry.as_ref().and_then(|e| e.quantity) {
        Some(quantity) => quantity == actual_quantity,
        None => {
            let metric = Code::parse("metricCode", &out.hold.metric_code)?;
            let cost = cost_of(state, None, out.hold.tenant_id, &metric, actual_quantity).await?;
            out.hold.settled == Some(cost)
        }
    };
    if !same {
        return Err(Error::key_reused());
    }
    Ok(out)
}

/// Cancels a hold and gives its credits back.
#[tracing::instrument(skip_all, fields(hold = %id))]
pub async fn release_credits(state: &AppState, actor: &Actor, id: HoldId) -> Result<HoldOutcome> {
    let hold = open_hold(state, actor, id).await?;
    let key = ledger_key::closing(LedgerKind::Release, hold.id);
    match hold.status {
        HoldStatus::Held => {}
        HoldStatus::Released => return outcome(state, hold, Some(key), true).await,
        other => {
            return Err(Error::conflict(
                ConflictReason::HoldNotOpen,
                format!(
                    "the hold is {}; only an open hold can be released",
                    other.as_str()
                ),
            ));
        }
    }
    let now = state.clock.now();
    let entry = close(
        state,
        &hold,
        HoldStatus::Released,
        LedgerKind::Release,
        Credits(0),
        None,
        now,
    )
    .await?;
    let fresh = open_hold(state, actor, id).await?;
    if entry.is_none() && fresh.status != HoldStatus::Released {
        return Err(Error::conflict(
            ConflictReason::HoldNotOpen,
            format!(
                "the hold is {}; only an open hold can be released",
                fresh.status.as_str()
            ),
        ));
    }
    outcome(state, fresh, Some(key), entry.is_none()).await
}

/// Gives back the credits of holds whose time ran out. Returns how many expired.
pub(crate) async fn expire_holds(state: &AppState, now: DateTime<Utc>) -> Result<i32> {
    let mut expired = 0;
    for hold in store::credits::wallets::expired_holds(&state.db, now, 1_000).await? {
        if close(
            state,
            &hold,
            HoldStatus::Expired,
            LedgerKind::Expire,
            Credits(0),
            None,
            now,
        )
        .await?
        .is_some()
        {
            expired += 1;
        }
    }
    Ok(expired)
}
