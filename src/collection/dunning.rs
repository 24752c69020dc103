//! Dunning stages (README "Dunning stages"). A tenant enters `past_due` at its first failed
//! collection; once an invoice's retry schedule is over and it is still unpaid, `unpaid` (new
//! block charges and new holds are refused with `PAYMENT_REQUIRED`);
//! `BILLING_DUNNING_SUSPEND_AFTER_DAYS` later, `suspended`. Stages only move forward, and the
//! billing jobs move them (`advance`). Paying, voiding or writing off the last invoice in
//! dunning lifts every stage at once, in the transaction that moves the invoice.
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};

use crate::domain::{
    BillingReason, DunningStage, Invoice, InvoiceId, NewWebhookEvent, OutboxKind, PaymentStatus,
    SubscriptionStatus, TenantId, TenantStatus,
};
use crate::error::Result;
use crate::state::{AppState, InvoiceHook, InvoiceHooks};
use crate::store;

/// Why a tenant suspended by dunning is suspended (`Tenant.suspendedReason`).
pub const SUSPENDED_REASON: &str = "unpaid invoices: pay them to lift the suspension";

/// What one run of the dunning job changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DunningReport {
    pub unpaid: i32,
    pub suspended: i32,
    pub lifted: i32,
}

/// The tenant enters dunning (`past_due`) at a failed collection, unless it is in dunning
/// already or suspended by the operator. Its live subscription becomes `PAST_DUE`.
pub(crate) async fn enter(state: &AppState, tenant: TenantId, now: DateTime<Utc>) -> Result<()> {
    let txn = state.db.begin().await?;
    store::accounts::tenants::lock(&txn, tenant).await?;
    let Some(t) = store::accounts::tenants::find(&txn, tenant).await? else {
        return Ok(());
    };
    if t.dunning_stage.is_some() || t.status == TenantStatus::Suspended {
        return Ok(());
    }
    store::accounts::tenants::set_dunning(
        &txn,
        tenant,
        Some(DunningStage::PastDue),
        Some(now),
        None,
        now,
    )
    .await?;
    set_subscription(&txn, tenant, SubscriptionStatus::PastDue, now).await?;
    txn.commit().await?;
    tracing::info!(%tenant, "tenant entered dunning (past due)");
    Ok(())
}

/// Moves every tenant in dunning to the stage its failed invoices and the clock call for, and
/// lifts the stages of tenants with nothing left in dunning (the billing jobs call this).
pub async fn advance(state: &AppState) -> Result<DunningReport> {
    let now = state.clock.now();
    let mut report = DunningReport::default();
    for t in store::accounts::tenants::in_dunning(&state.db).await? {
        let txn = state.db.begin().await?;
        store::accounts::tenants::lock(&txn, t.id).await?;
        let Some(t) = store::accounts::tenants::find(&txn, t.id).await? else {
            continue;
        };
        let (Some(stage), Some(since)) = (t.dunning_stage, t.dunning_since) else {
            continue;
        };
        let failed = failed_invoices(&txn, t.id).await?;
        if failed.is_empty() {
            lift(&txn, t.id, now).await?;
            report.lifted += 1;
        } else {
            let target = target_stage(state, &txn, &failed, since, now).await?;
            if rank(target) > rank(stage) {
                move_to(&txn, t.id, target, since, now).await?;
                match target {
                    DunningStage::Unpaid => report.unpaid += 1,
                    DunningStage::Suspended => report.suspended += 1,
                    DunningStage::PastDue => {}
                }
                tracing::warn!(tenant = %t.id, stage = target.as_str(), "dunning stage moved");
            }
        }
        txn.commit().await?;
    }
    Ok(report)
}

fn rank(stage: DunningStage) -> u8 {
    match stage {
        DunningStage::PastDue => 1,
        DunningStage::Unpaid => 2,
        DunningStage::Suspended => 3,
    }
}

/// `unpaid` once some failed invoice's schedule is over (its last retry failed, or a hard
/// decline waited out the schedule) with nothing pending; `suspended` the configured days
/// after the schedule of the first failure ended.
async fn target_stage(
    state: &AppState,
    db: &impl ConnectionTrait,
    failed: &[(InvoiceId, DateTime<Utc>, bool)],
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DunningStage> {
    let last_day = TimeDelta::days(last_retry_day(state));
    let mut exhausted = false;
    for (invoice, first_failure, retry_planned) in failed {
        if *retry_planned || now < *first_failure + last_day {
            continue;
        }
        let reference = invoice.to_string();
        if !store::outbox::pending_for(db, OutboxKind::CollectInvoice, &reference).await? {
            exhausted = true;
            break;
        }
    }
    if !exhausted {
        return Ok(DunningStage::PastDue);
    }
    let suspend_after = TimeDelta::days(i64::from(state.config.dunning_suspend_after_days));
    Ok(if now >= since + last_day + suspend_after {
        DunningStage::Suspended
    } else {
        DunningStage::Unpaid
    })
}

/// The last day of the retry schedule, counted from an invoice's first failure.
fn last_retry_day(state: &AppState) -> i64 {
    state
        .config
        .payment_retry_schedule()
        .and_then(|s| s.last().copied())
        .unwrap_or(0)
}

async fn move_to(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    stage: DunningStage,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    let reason = (stage == DunningStage::Suspended).then_some(SUSPENDED_REASON);
    let before = store::accounts::tenants::find(db, tenant).await?;
    let after =
        store::accounts::tenants::set_dunning(db, tenant, Some(stage), Some(since), reason, now)
            .await?;
    if before.is_some_and(|b| b.status != after.status) {
        store::webhooks::emit(db, NewWebhookEvent::tenant_suspended(tenant, reason, now)).await?;
    }
    set_subscription(db, tenant, SubscriptionStatus::Unpaid, now).await
}

/// The tenant's open invoices with an amount due whose latest attempt failed: each with its
/// first failure and whether a retry is planned.
async fn failed_invoices(
    db: &impl ConnectionTrait,
    tenant: TenantId,
) -> Result<Vec<(InvoiceId, DateTime<Utc>, bool)>> {
    let mut failed = Vec::new();
    for id in store::invoicing::open_with_amount_due(db, tenant).await? {
        let attempts = store::payments::of_invoice(db, id).await?;
        if let (Some(first), Some(latest)) = (attempts.first(), attempts.last())
            && latest.status == PaymentStatus::Failed
        {
            failed.push((id, first.created_at, latest.next_retry_at.is_some()));
        }
    }
    Ok(failed)
}

/// Takes the tenant out of dunning: reactivated if dunning suspended it, and its live
/// subscription back to active.
async fn lift(db: &impl ConnectionTrait, tenant: TenantId, now: DateTime<Utc>) -> Result<()> {
    let before = store::accounts::tenants::find(db, tenant).await?;
    let after = store::accounts::tenants::set_dunning(db, tenant, None, None, None, now).await?;
    if before.is_some_and(|b| b.status != after.status) {
        store::webhooks::emit(db, NewWebhookEvent::tenant_reactivated(tenant, now)).await?;
    }
    set_subscription(db, tenant, SubscriptionStatus::Active, now).await?;
    tracing::info!(%tenant, "dunning lifted");
    Ok(())
}

/// Moves the live subscription to `status` from a status dunning may change (`ACTIVE`,
/// `TRIALING`, `PAST_DUE` or `UNPAID`, never back to trialing).
async fn set_subscription(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    status: SubscriptionStatus,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(mut sub) = store::subscriptions::find_live(db, tenant).await? else {
        return Ok(());
    };
    if sub.status == status {
        return Ok(());
    }
    let from_ok = match status {
        SubscriptionStatus::Active => matches!(
            sub.status,
            SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid
        ),
        _ => matches!(
            sub.status,
            SubscriptionStatus::Active | SubscriptionStatus::Trialing | SubscriptionStatus::PastDue
        ),
    };
    if !from_ok {
        return Ok(());
    }
    sub.status = status;
    sub.version += 1;
    // The tenant lock serializes this with every other subscription write of the tenant.
    store::subscriptions::save_over(db, &sub, now).await?;
    Ok(())
}

/// Registers the hook that lifts dunning when an invoice leaves the open state.
pub fn invoice_hooks(mut hooks: InvoiceHooks) -> InvoiceHooks {
    let hook: Arc<dyn InvoiceHook> = Arc::new(LiftHook);
    for reason in [
        BillingReason::SubscriptionCreate,
        BillingReason::SubscriptionCycle,
        BillingReason::SubscriptionUpdate,
        BillingReason::SubscriptionClose,
        BillingReason::UsageBlocks,
        BillingReason::CreditPack,
        BillingReason::Manual,
    ] {
        hooks = hooks.on(reason, hook.clone());
    }
    hooks
}

struct LiftHook;

#[async_trait]
impl InvoiceHook for LiftHook {
    /// Runs in the transaction that paid, voided or wrote off `invoice`, which holds the
    /// tenant's lock: when it was the tenant's last invoice in dunning, every stage lifts.
    async fn invoice_moved(
        &self,
        txn: &DatabaseTransaction,
        _state: &AppState,
        invoice: &Invoice,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some(t) = store::accounts::tenants::find(txn, invoice.tenant_id).await? else {
            return Ok(());
        };
        if t.dunning_stage.is_none() || !failed_invoices(txn, t.id).await?.is_empty() {
            return Ok(());
        }
        lift(txn, t.id, now).await
    }
}
