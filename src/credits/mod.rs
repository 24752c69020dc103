//! Prepaid credits. Every change of a balance is one conditional update of the wallet and one
//! immutable ledger entry, in one transaction: the balance never goes below zero, always equals
//! the sum of the entries, and a replayed idempotency key is charged once.
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};

use crate::auth::Actor;
use crate::domain::NewNotification;
use crate::domain::NewWebhookEvent;
use crate::domain::{
    ChargeModel, Code, CreditRounding, Credits, LedgerEntry, LedgerKind, Subscription, TenantId,
    Wallet,
};
use crate::error::{Error, OptionExt, Result};
use crate::live::Change;
use crate::pricing;
use crate::state::AppState;
use crate::store::credits::moves::Applied;
use crate::{accounts, store};

mod deferred;
mod deferred_record;
mod holds;
mod quick;
mod stats;
mod topups;
mod wallet;

pub use deferred::{
    ProcessReport, Selection, StatusStat, TenantStats, pending_usage_stats, process_due,
    process_pending_usage, reprocess_failed_usage,
};
pub use deferred_record::{DeferredEvent, DeferredResult, pending_usage, record_deferred_usage};
pub use holds::{HoldOutcome, release_credits, reserve_credits, settle_credits};
pub use stats::{OperationStat, UsageStats, credit_usage_stats};
pub use wallet::{
    SpendRequest, Spent, consume_credits, grant_credits, ledger, revoke_credits, wallet,
};

pub(crate) use holds::expire_holds;
pub use topups::{
    Purchase, confirm_credit_topup, invoice_hooks, list_topups, purchase_credit_pack,
};
pub(crate) use topups::{give_back_for_failed_refund, take_back_for_refund};

/// How a metric's units turn into credits for a tenant: the rule of its plan when that has a
/// credit charge for the metric, else 1 credit per 1,000 units rounded up per request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CreditRule {
    credits: Credits,
    per_units: i64,
    rounding: CreditRounding,
}

impl CreditRule {
    pub(crate) fn price(self, quantity: i64) -> Result<Credits> {
        if !(0..=crate::domain::MAX_EVENT_QUANTITY).contains(&quantity) {
            return Err(Error::validation(
                "quantity",
                format!(
                    "must be between 0 and {}",
                    crate::domain::MAX_EVENT_QUANTITY
                ),
            ));
        }
        pricing::credits_for(quantity, self.credits, self.per_units, self.rounding)
            .ok_or_else(|| Error::validation("quantity", "too large to price"))
    }
}

/// The rule for `metric` at this tenant: the metric from memory, the plan from the tenant's
/// cached snapshot and the plan versions in memory, so pricing costs no database round trip
/// once warm. Computed before the spend's transaction: a plan change that commits meanwhile
/// orders after this spend, as if it had come a moment later.
pub(crate) async fn rule_for(
    state: &AppState,
    actor: Option<&Actor>,
    tenant: TenantId,
    metric: &Code,
) -> Result<CreditRule> {
    let live = accounts::snapshot::snapshot(state, actor, tenant)
        .await?
        .and_then(|s| s.live);
    rule_of(state, live.as_ref(), metric).await
}

/// The rule for `metric` under the live subscription `live` (see [`rule_for`]).
pub(crate) async fn rule_of(
    state: &AppState,
    live: Option<&Subscription>,
    metric: &Code,
) -> Result<CreditRule> {
    state
        .metric_catalog
        .get(&state.db, metric.as_str())
        .await?
        .or_not_found("metric")?;
    let mut rule = CreditRule {
        credits: Credits(Credits::MICRO_PER_CREDIT),
        per_units: 1_000,
        rounding: CreditRounding::CeilPerRequest,
    };
    if let Some(sub) = live {
        let plan = state.plans.get(&state.db, sub.plan_id).await?;
        if let Some(charge) = plan
            .charges
            .iter()
            .find(|c| c.metric_code == metric.as_str())
            && let ChargeModel::Credits {
                credits,
                per_units,
                rounding,
            } = &charge.model
        {
            rule = CreditRule {
                credits: *credits,
                per_units: *per_units,
                rounding: *rounding,
            };
        }
    }
    Ok(rule)
}

/// Credits for `quantity` units of a metric for this tenant.
pub(crate) async fn cost_of(
    state: &AppState,
    actor: Option<&Actor>,
    tenant: TenantId,
    metric: &Code,
    quantity: i64,
) -> Result<Credits> {
    rule_for(state, actor, tenant, metric)
        .await?
        .price(quantity)
}

/// What one balance move did.
// Made once per move and matched at once: boxing the entry would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Move {
    /// The entry written, and the wallet after it.
    Done(LedgerEntry, Wallet),
    /// The balance was below what the move needed; nothing changed.
    Insufficient,
    /// The entry's idempotency key was used before; roll back and answer the first result.
    Duplicate,
}

/// Moves the balance by `entry.amount` (and the held amount by `held_delta`) if the balance is
/// at least `need`, and writes the entry with the balance after, in `txn`.
pub(crate) async fn move_balance(
    txn: &DatabaseTransaction,
    state: &AppState,
    entry: LedgerEntry,
    held_delta: i64,
    need: i64,
) -> Result<Move> {
    let now = entry.created_at;
    let (entry, after) =
        match store::credits::moves::apply_with_entry(txn, entry, held_delta, need).await? {
            Applied::Done(entry, after) => (entry, after),
            Applied::Insufficient => return Ok(Move::Insufficient),
            Applied::Duplicate => return Ok(Move::Duplicate),
        };
    low_balance_alert(txn, state, &entry, now).await?;
    Ok(Move::Done(entry, after))
}

/// Whether this entry took the balance below the low-balance threshold.
fn crosses_low_balance(state: &AppState, entry: &LedgerEntry) -> bool {
    let threshold = state
        .config
        .low_balance_credits
        .saturating_mul(Credits::MICRO_PER_CREDIT);
    let after = entry.balance_after.micro();
    let before = after - entry.amount.micro();
    before >= threshold && after < threshold
}

/// Whether the entry used the balance up (a `credits_depleted` notification).
fn depletes(entry: &LedgerEntry) -> bool {
    let after = entry.balance_after.micro();
    after - entry.amount.micro() > 0 && after <= 0
}

/// After the commit of a ledger entry: live updates for the wallet, and for the low-balance
/// notification the entry recorded, if any.
pub(crate) fn announce(state: &AppState, entry: &LedgerEntry) {
    state.live.publish(entry.tenant_id, Change::Wallet);
    if crosses_low_balance(state, entry) || depletes(entry) {
        state.live.publish(entry.tenant_id, Change::Notification);
    }
}

/// One notification per crossing below the configured threshold.
async fn low_balance_alert(
    db: &impl ConnectionTrait,
    state: &AppState,
    entry: &LedgerEntry,
    now: DateTime<Utc>,
) -> Result<()> {
    let threshold = state
        .config
        .low_balance_credits
        .saturating_mul(Credits::MICRO_PER_CREDIT);
    let after = entry.balance_after.micro();
    let before = after - entry.amount.micro();
    if depletes(entry) {
        // Email notifications: the balance is used up, once per entry that empties it.
        let new = NewNotification::credits_depleted(entry.tenant_id, entry.id, now);
        store::notify::record_once(db, new).await?;
    }
    if before >= threshold && after < threshold {
        store::notify::record_once(
            db,
            NewNotification::low_balance(
                entry.tenant_id,
                entry.id,
                entry.balance_after,
                state.config.low_balance_credits,
                now,
            ),
        )
        .await?;
        // Webhooks.
        let event = NewWebhookEvent::credits_low_balance(
            entry.tenant_id,
            &entry.id.to_string(),
            entry.balance_after,
            state.config.low_balance_credits,
            now,
        );
        store::webhooks::emit(db, event).await?;
    }
    // Webhooks: the balance reached zero.
    if before > 0 && after <= 0 {
        let event = NewWebhookEvent::credits_depleted(entry.tenant_id, &entry.id.to_string(), now);
        store::webhooks::emit(db, event).await?;
    }
    Ok(())
}

/// Opens a transaction whose first statement creates the wallet if needed, so on SQLite the
/// write lock is taken before anything is read.
pub(crate) async fn begin(state: &AppState, tenant: TenantId) -> Result<DatabaseTransaction> {
    let txn = state.db.begin().await?;
    store::credits::wallets::ensure(&txn, tenant, state.clock.now()).await?;
    Ok(txn)
}

/// Rolls back a move that found too few credits, and the `INSUFFICIENT_CREDITS` error with
/// the balance as it stands after the rollback.
pub(crate) async fn insufficient(
    state: &AppState,
    txn: DatabaseTransaction,
    tenant: TenantId,
    required: Credits,
) -> Error {
    if let Err(e) = txn.rollback().await {
        return e.into();
    }
    short_of(state, tenant, required).await
}

/// `INSUFFICIENT_CREDITS` with the balance as it stands now.
pub(crate) async fn short_of(state: &AppState, tenant: TenantId, required: Credits) -> Error {
    match store::credits::wallets::find(&state.db, tenant).await {
        Ok(wallet) => Error::InsufficientCredits {
            balance: wallet.balance,
            required,
        },
        Err(e) => e,
    }
}

pub(crate) fn entry(
    tenant: TenantId,
    kind: LedgerKind,
    amount: i64,
    now: DateTime<Utc>,
) -> LedgerEntry {
    LedgerEntry {
        id: store::credits::wallets::new_entry_id(),
        tenant_id: tenant,
        kind,
        amount: Credits(amount),
        balance_after: Credits(0),
        reference: None,
        idempotency_key: None,
        metric_code: None,
        operation_type: None,
        quantity: None,
        created_at: now,
    }
}
