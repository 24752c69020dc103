//! Spending and granting credits, and reading the wallet.
use sea_orm::DatabaseTransaction;

use super::{Move, begin, cost_of, entry, insufficient, move_balance};
use crate::auth::Actor;
use crate::domain::keys::ledger_key;
use crate::domain::{
    Code, CreditTopup, Credits, LedgerEntry, LedgerKind, Page, PageRequest, TenantId, TopupId,
    TopupSource, TopupStatus, Wallet,
};
use crate::error::{Error, OptionExt, Result};
use crate::state::AppState;
use crate::{accounts, store};

/// A one-shot or held spend, its input already parsed.
#[derive(Clone, Debug)]
pub struct SpendRequest {
    pub tenant: Option<TenantId>,
    pub metric_code: Code,
    pub quantity: i64,
    pub operation_type: String,
    pub idempotency_key: String,
}

#[derive(Clone, Debug)]
pub struct Spent {
    pub entry: LedgerEntry,
    pub wallet: Wallet,
    /// The key was used before: this is the first result, and nothing changed now.
    pub replayed: bool,
}

/// What a spend starts, which decides what a tenant in dunning may do (README "Dunning
/// stages").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spending {
    /// Spends credits already paid for: allowed in every dunning stage.
    PaidCredits,
    /// A new hold: refused once the tenant is `unpaid`.
    NewHold,
    /// Buys credits: refused while suspended.
    Purchase,
}

/// The tenant a spend is for, which must exist and may make this kind of spend.
pub(crate) async fn spending_tenant(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    spending: Spending,
) -> Result<TenantId> {
    let tenant = actor.tenant_for(tenant)?;
    match spending {
        Spending::PaidCredits => {
            accounts::tenants::with_paid_credits(state, Some(actor), tenant).await?;
        }
        Spending::NewHold => {
            let t = accounts::tenants::active(state, Some(actor), tenant).await?;
            accounts::tenants::require_paid_up(&t, "a new credit hold")?;
        }
        Spending::Purchase => {
            accounts::tenants::active(state, Some(actor), tenant).await?;
        }
    }
    Ok(tenant)
}

/// The first result of `key`, if it was used. `same` says whether the first entry was made by
/// this very request; when it was not, the answer is `CONFLICT` `IDEMPOTENCY_KEY_REUSED`.
async fn replay(
    state: &AppState,
    tenant: TenantId,
    key: &str,
    same: impl Fn(&LedgerEntry) -> bool,
) -> Result<Option<Spent>> {
    let Some(first) = store::credits::wallets::entry_by_key(&state.db, tenant, key).await? else {
        return Ok(None);
    };
    if !same(&first) {
        return Err(Error::key_reused());
    }
    Ok(Some(Spent {
        entry: first,
        wallet: store::credits::wallets::find(&state.db, tenant).await?,
        replayed: true,
    }))
}

impl SpendRequest {
    /// Whether `first` was made by this request.
    pub(super) fn made(&self, first: &LedgerEntry) -> bool {
        first.metric_code.as_deref() == Some(self.metric_code.as_str())
            && first.quantity == Some(self.quantity)
            && first.operation_type.as_deref() == Some(self.operation_type.as_str())
    }
}

/// Deducts the credits `quantity` units cost, at once, or refuses with `INSUFFICIENT_CREDITS`
/// and changes nothing. A replayed key returns the first result.
///
/// On PostgreSQL, with the tenant cached, one statement does it all (`quick`). Otherwise, or
/// when that statement declines, a replay is looked up first, outside the wallet's lock, so
/// replays never queue behind a hot tenant's spends; a first attempt then costs one
/// transaction of three statements: the wallet ensure, and the move with its ledger entry.
#[tracing::instrument(skip_all)]
pub async fn consume_credits(state: &AppState, actor: &Actor, req: SpendRequest) -> Result<Spent> {
    let tenant = actor.tenant_for(req.tenant)?;
    if let Some(done) = super::quick::consume(state, tenant, &req).await? {
        return Ok(done);
    }
    let tenant = spending_tenant(state, actor, req.tenant, Spending::PaidCredits).await?;
    let key = ledger_key::client(LedgerKind::Consume, &req.idempotency_key);
    if let Some(first) = replay(state, tenant, &key, |e| req.made(e)).await? {
        return Ok(first);
    }
    let cost = cost_of(state, Some(actor), tenant, &req.metric_code, req.quantity).await?;
    let txn = begin(state, tenant).await?;
    let mut e = entry(
        tenant,
        LedgerKind::Consume,
        -cost.micro(),
        state.clock.now(),
    );
    e.idempotency_key = Some(key.clone());
    e.metric_code = Some(req.metric_code.as_str().to_owned());
    e.operation_type = Some(req.operation_type.clone());
    e.quantity = Some(req.quantity);
    match move_balance(&txn, state, e, 0, cost.micro()).await? {
        Move::Done(entry, wallet) => {
            txn.commit().await?;
            super::announce(state, &entry);
            (state.metrics).credits_consumed(&req.operation_type, cost.micro());
            Ok(Spent {
                entry,
                wallet,
                replayed: false,
            })
        }
        Move::Insufficient => Err(insufficient(state, txn, tenant, cost).await),
        Move::Duplicate => {
            txn.rollback().await?;
            replay(state, tenant, &key, |e| req.made(e))
                .await?
                .ok_or_else(|| Error::internal("a duplicate key has no entry"))
        }
    }
}

/// Commits a move that happened, and answers with its entry and the wallet after it.
async fn spent(
    state: &AppState,
    txn: DatabaseTransaction,
    entry: LedgerEntry,
    wallet: Wallet,
) -> Result<Spent> {
    txn.commit().await?;
    super::announce(state, &entry);
    Ok(Spent {
        entry,
        wallet,
        replayed: false,
    })
}

/// The admin adds (`grant`) or removes (`revoke`) credits, with a reason. A revoke never takes
/// the balance below zero.
async fn adjust(
    state: &AppState,
    actor: &Actor,
    tenant: TenantId,
    credits: Credits,
    reason: String,
    key: Option<String>,
    kind: LedgerKind,
) -> Result<Spent> {
    actor.require_admin()?;
    if credits.micro() <= 0 {
        return Err(Error::validation("credits", "must be greater than zero"));
    }
    store::accounts::tenants::find(&state.db, tenant)
        .await?
        .or_not_found("tenant")?;
    let key = key.map(|k| ledger_key::client(kind, k));
    let (amount, need) = match kind {
        LedgerKind::Revoke => (-credits.micro(), credits.micro()),
        _ => (credits.micro(), 0),
    };
    // The key is scoped to the tenant and the kind; the amount and the reason must match too.
    let same = |e: &LedgerEntry| {
        e.amount.micro() == amount && e.reference.as_deref() == Some(reason.as_str())
    };
    if let Some(key) = &key
        && let Some(first) = replay(state, tenant, key, same).await?
    {
        return Ok(first);
    }
    let now = state.clock.now();
    let txn = begin(state, tenant).await?;
    let mut e = entry(tenant, kind, amount, now);
    e.idempotency_key = key.clone();
    e.reference = Some(reason.clone());
    match move_balance(&txn, state, e, 0, need).await? {
        Move::Done(entry, wallet) => {
            if kind == LedgerKind::Grant {
                // Grants belong to the top-up history too, as source `admin`.
                store::credits::topups::insert(
                    &txn,
                    &CreditTopup {
                        id: TopupId::new(),
                        tenant_id: tenant,
                        pack_id: None,
                        credits,
                        amount: None,
                        source: TopupSource::Admin,
                        payment_id: None,
                        invoice_id: None,
                        status: TopupStatus::Completed,
                        reason: Some(reason),
                        created_at: now,
                        completed_at: Some(now),
                    },
                )
                .await?;
            }
            spent(state, txn, entry, wallet).await
        }
        Move::Insufficient => Err(insufficient(state, txn, tenant, credits).await),
        Move::Duplicate => {
            txn.rollback().await?;
            let key = key.ok_or_else(|| Error::internal("duplicate without a key"))?;
            replay(state, tenant, &key, same)
                .await?
                .ok_or_else(|| Error::internal("a duplicate key has no entry"))
        }
    }
}

#[tracing::instrument(skip_all, fields(tenant = %tenant))]
pub async fn grant_credits(
    state: &AppState,
    actor: &Actor,
    tenant: TenantId,
    credits: Credits,
    reason: String,
    key: Option<String>,
) -> Result<Spent> {
    adjust(
        state,
        actor,
        tenant,
        credits,
        reason,
        key,
        LedgerKind::Grant,
    )
    .await
}

#[tracing::instrument(skip_all, fields(tenant = %tenant))]
pub async fn revoke_credits(
    state: &AppState,
    actor: &Actor,
    tenant: TenantId,
    credits: Credits,
    reason: String,
    key: Option<String>,
) -> Result<Spent> {
    adjust(
        state,
        actor,
        tenant,
        credits,
        reason,
        key,
        LedgerKind::Revoke,
    )
    .await
}

pub async fn wallet(state: &AppState, actor: &Actor, tenant: Option<TenantId>) -> Result<Wallet> {
    let tenant = actor.tenant_for(tenant)?;
    store::accounts::tenants::find(&state.db, tenant)
        .await?
        .or_not_found("tenant")?;
    store::credits::wallets::find(&state.db, tenant).await
}

pub async fn ledger(
    state: &AppState,
    actor: &Actor,
    tenant: TenantId,
    page: PageRequest,
) -> Result<Page<LedgerEntry>> {
    let tenant = actor.tenant_for(Some(tenant))?;
    store::credits::wallets::entries(&state.db, tenant, page).await
}
