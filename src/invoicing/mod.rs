//! Invoices: issuing (draft, number, due date), the status machine, and collection through the
//! payment provider. Numbers are taken inside the caller's transaction, so a rollback gives the
//! number back and the sequence stays gapless.
use chrono::{DateTime, Datelike, TimeDelta, Utc};
use sea_orm::ConnectionTrait;

use crate::domain::NewWebhookEvent;
use crate::domain::{
    BillingReason, Invoice, InvoiceId, InvoiceStatus, NewInvoice, NewNotification,
    NewOutboxMessage, NotificationKind, SubscriptionStatus,
};
use crate::error::{ConflictReason, Error, OptionExt, Result};
use crate::live::Change;
use crate::state::AppState;
use crate::store::{self, TenantScope};

mod admin;
mod usage_lines;

pub use admin::{
    add_line, create_invoice, finalize_invoice, get, get_any, list, mark_paid, mark_uncollectible,
    settle, void, void_unpaid,
};
pub use usage_lines::arrears_lines;

/// After the commit of an invoice change: a live update for the invoice, and for the wallet
/// (a credit-pack invoice's hooks move credits in the same transaction).
pub fn announce(state: &AppState, invoice: &Invoice) {
    let tenant = invoice.tenant_id;
    state.live.publish(
        tenant,
        Change::Invoice {
            id: invoice.id.to_string(),
        },
    );
    if invoice.billing_reason == BillingReason::CreditPack {
        state.live.publish(tenant, Change::Wallet);
    }
}

/// `2026-000001`: the year of finalization and a six-digit gapless sequence.
pub fn format_number(year: i32, n: i64) -> String {
    format!("{year}-{n:06}")
}

/// Takes the next number and moves the draft to open, dated `at`. An invoice with nothing due
/// is paid at once; one with an amount due gets its collection enqueued in the same
/// transaction, for the outbox worker to carry out after commit. This is the one place that
/// decides what follows a finalized invoice.
pub(crate) async fn finalize_in(
    db: &impl ConnectionTrait,
    id: InvoiceId,
    at: DateTime<Utc>,
    due_days: u32,
    now: DateTime<Utc>,
) -> Result<Invoice> {
    let number = format_number(
        at.year(),
        store::invoicing::next_number(db, at.year()).await?,
    );
    let due = at + TimeDelta::days(i64::from(due_days));
    if !store::invoicing::finalize(db, id, &number, at, due, now).await? {
        return Err(Error::conflict(
            ConflictReason::IllegalTransition,
            "only a draft invoice can be finalized",
        ));
    }
    let invoice = store::invoicing::find(db, TenantScope::Any, id)
        .await?
        .or_not_found("invoice")?;
    // Webhooks.
    store::webhooks::emit(db, NewWebhookEvent::invoice_finalized(&invoice, now)).await?;
    notify_invoice(db, &invoice, NotificationKind::InvoiceFinalized, now).await?; // email
    if invoice.amount_due == 0 {
        store::invoicing::move_status(db, id, InvoiceStatus::Open, InvoiceStatus::Paid, None, now)
            .await?;
        let paid = store::invoicing::find(db, TenantScope::Any, id)
            .await?
            .or_not_found("invoice")?;
        // Webhooks.
        store::webhooks::emit(db, NewWebhookEvent::invoice_paid(&paid, now)).await?;
        return Ok(paid);
    }
    store::outbox::enqueue(
        db,
        NewOutboxMessage::collect_invoice(invoice.tenant_id, invoice.id),
        now,
    )
    .await?;
    Ok(invoice)
}

/// Email notifications: records an `invoice_finalized` or `payment_succeeded` notification in
/// the caller's transaction. Usage-block invoices of token plans can be many a month, so they
/// are announced by neither (they show in the invoice list; a failed payment is still emailed);
/// a credit pack's receipt is its `topup_completed` email.
pub(crate) async fn notify_invoice(
    db: &impl ConnectionTrait,
    invoice: &Invoice,
    kind: NotificationKind,
    now: DateTime<Utc>,
) -> Result<()> {
    if invoice.billing_reason == BillingReason::UsageBlocks {
        return Ok(());
    }
    let number = invoice
        .number
        .clone()
        .unwrap_or_else(|| invoice.id.to_string());
    let (tenant, id) = (invoice.tenant_id, invoice.id);
    let new = match kind {
        NotificationKind::InvoiceFinalized => NewNotification::invoice_finalized(
            tenant,
            id,
            &number,
            invoice.money(invoice.total),
            now,
        ),
        NotificationKind::PaymentSucceeded
            if invoice.amount_paid > 0 && invoice.billing_reason != BillingReason::CreditPack =>
        {
            let paid = invoice.money(invoice.amount_paid);
            NewNotification::payment_succeeded(tenant, id, &number, paid, now)
        }
        _ => return Ok(()),
    };
    store::notify::record_once(db, new).await?;
    Ok(())
}

/// Inserts and finalizes a system-made invoice dated `at`. `None` when its source key shows it
/// was issued before (a job running twice).
pub(crate) async fn issue(
    db: &impl ConnectionTrait,
    state: &AppState,
    new: NewInvoice,
    at: DateTime<Utc>,
) -> Result<Option<Invoice>> {
    let now = new.now;
    let Some(id) = store::invoicing::insert(db, new).await? else {
        return Ok(None);
    };
    finalize_in(db, id, at, state.config.invoice_due_days, now)
        .await
        .map(Some)
}

/// Puts a past-due subscription back to active once none of its invoices is overdue any more.
pub(crate) async fn recheck_past_due(
    db: &impl ConnectionTrait,
    state: &AppState,
    invoice: &Invoice,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(sub_id) = invoice.subscription_id else {
        return Ok(());
    };
    let Some(mut sub) = store::subscriptions::find(db, TenantScope::Any, sub_id).await? else {
        return Ok(());
    };
    if sub.status != SubscriptionStatus::PastDue {
        return Ok(());
    }
    // A tenant in dunning gets its status back when dunning lifts (collection's hook).
    if store::accounts::tenants::find(db, sub.tenant_id)
        .await?
        .is_some_and(|t| t.dunning_stage.is_some())
    {
        return Ok(());
    }
    let cutoff = now - TimeDelta::days(i64::from(state.config.past_due_after_days));
    if store::invoicing::has_overdue(db, sub.id, cutoff).await? {
        return Ok(());
    }
    sub.status = SubscriptionStatus::Active;
    sub.version += 1;
    if !store::subscriptions::save_over(db, &sub, now).await? {
        return Err(Error::conflict(
            ConflictReason::ConcurrentUpdate,
            "the subscription changed at the same time; retry",
        ));
    }
    Ok(())
}
