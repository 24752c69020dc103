//! What the operator does with invoices, and what tenants may read.
use sea_orm::{DatabaseTransaction, TransactionTrait};

use crate::auth::Actor;
use crate::domain::NewInvoice;
use crate::domain::NewWebhookEvent;
use crate::domain::{
    BillingReason, Currency, Invoice, InvoiceFilter, InvoiceId, InvoiceStatus, LineKind,
    ManualLine, NewLine, NotificationKind, Page, PageRequest, TenantId,
};
use crate::error::{ConflictReason, Error, OptionExt, Result};
use crate::pricing;
use crate::state::AppState;
use crate::store::{self, TenantScope};

const TOO_LARGE: &str = "the invoice amounts are too large";

fn new_line(field: &str, line: ManualLine, at: chrono::DateTime<chrono::Utc>) -> Result<NewLine> {
    Ok(NewLine {
        amount_minor: pricing::line_amount(line.quantity, line.unit_amount_minor)
            .ok_or_else(|| Error::validation(field, TOO_LARGE))?,
        description: line.description,
        quantity: line.quantity,
        unit_amount_minor: line.unit_amount_minor,
        period_start: at,
        period_end: at,
        kind: LineKind::Manual,
    })
}

pub async fn list(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    filter: InvoiceFilter,
    page: PageRequest,
) -> Result<Page<Invoice>> {
    let scope = actor.scope(tenant)?;
    store::invoicing::list(&state.db, scope, &filter, page).await
}

/// Another tenant's invoice is `NOT_FOUND`, never data.
pub async fn get(state: &AppState, actor: &Actor, id: InvoiceId) -> Result<Invoice> {
    let scope = actor.scope(None)?;
    store::invoicing::find(&state.db, scope, id)
        .await?
        .or_not_found("invoice")
}

/// A draft invoice for one-off charges or corrections (billing reason `manual`).
#[tracing::instrument(skip_all, fields(tenant = %tenant))]
pub async fn create_invoice(
    state: &AppState,
    actor: &Actor,
    tenant: TenantId,
    currency: Option<Currency>,
    lines: Vec<ManualLine>,
) -> Result<Invoice> {
    actor.require_admin()?;
    if lines.is_empty() || lines.len() > 100 {
        return Err(Error::validation("lines", "must hold 1 to 100 lines"));
    }
    let tenant = store::accounts::tenants::find(&state.db, tenant)
        .await?
        .or_not_found("tenant")?;
    let now = state.clock.now();
    let lines = lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| new_line(&format!("lines[{i}]"), l, now))
        .collect::<Result<Vec<_>>>()?;
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount_minor).collect();
    let totals = pricing::invoice_totals(&amounts, None)
        .ok_or_else(|| Error::validation("lines", TOO_LARGE))?;
    let new = NewInvoice {
        tenant: tenant.id,
        subscription: None,
        billing_reason: BillingReason::Manual,
        cycle: None,
        currency: currency.unwrap_or(tenant.currency),
        totals,
        coupon_code: None,
        period_start: now,
        period_end: now,
        source_key: None,
        lines,
        now,
    };
    let txn = state.db.begin().await?;
    let id = store::invoicing::insert(&txn, new)
        .await?
        .ok_or_else(|| Error::internal("a manual invoice has no source key to conflict on"))?;
    let invoice = store::invoicing::find(&txn, TenantScope::Any, id)
        .await?
        .or_not_found("invoice")?;
    txn.commit().await?;
    super::announce(state, &invoice);
    Ok(invoice)
}

/// Adds a line to a draft. An open invoice is immutable: correct it by voiding it and issuing
/// a new one.
#[tracing::instrument(skip_all, fields(invoice = %id))]
pub async fn add_line(
    state: &AppState,
    actor: &Actor,
    id: InvoiceId,
    line: ManualLine,
) -> Result<Invoice> {
    actor.require_admin()?;
    let now = state.clock.now();
    let invoice = store::invoicing::find(&state.db, TenantScope::Any, id)
        .await?
        .or_not_found("invoice")?;
    if invoice.status != InvoiceStatus::Draft {
        return Err(not_draft(invoice.status));
    }
    if invoice.lines.len() >= 100 {
        return Err(Error::validation(
            "line",
            "an invoice holds at most 100 lines",
        ));
    }
    let line = new_line("line", line, now)?;
    let mut amounts: Vec<i64> = invoice
        .lines
        .iter()
        .map(|l| l.amount.amount_minor)
        .collect();
    amounts.push(line.amount_minor);
    let totals = pricing::invoice_totals(&amounts, None)
        .ok_or_else(|| Error::validation("line", TOO_LARGE))?;
    let txn = state.db.begin().await?;
    if !store::invoicing::append_line(&txn, &invoice, line, totals, now).await? {
        return Err(Error::conflict(
            ConflictReason::ConcurrentUpdate,
            "the invoice changed at the same time or is no longer a draft",
        ));
    }
    let updated = store::invoicing::find(&txn, TenantScope::Any, id)
        .await?
        .or_not_found("invoice")?;
    txn.commit().await?;
    super::announce(state, &updated);
    Ok(updated)
}

fn not_draft(status: InvoiceStatus) -> Error {
    Error::conflict(
        ConflictReason::InvoiceNotDraft,
        format!(
            "the invoice is {}; only a draft can change",
            status.as_str()
        ),
    )
}

#[tracing::instrument(skip_all, fields(invoice = %id))]
pub async fn finalize_invoice(state: &AppState, actor: &Actor, id: InvoiceId) -> Result<Invoice> {
    actor.require_admin()?;
    let current = store::invoicing::find(&state.db, TenantScope::Any, id)
        .await?
        .or_not_found("invoice")?;
    if !current.status.can_become(InvoiceStatus::Open) {
        return Err(illegal(current.status, InvoiceStatus::Open));
    }
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    let invoice = super::finalize_in(&txn, id, now, state.config.invoice_due_days, now).await?;
    txn.commit().await?;
    super::announce(state, &invoice);
    Ok(invoice)
}

fn illegal(from: InvoiceStatus, to: InvoiceStatus) -> Error {
    Error::conflict(
        ConflictReason::IllegalTransition,
        format!(
            "an invoice cannot go from {} to {}",
            from.as_str(),
            to.as_str()
        ),
    )
}

/// Any tenant's invoice, for the jobs and the payment flow.
pub async fn get_any(state: &AppState, id: InvoiceId) -> Result<Invoice> {
    store::invoicing::find(&state.db, TenantScope::Any, id)
        .await?
        .or_not_found("invoice")
}

/// Moves an invoice along the status machine in one transaction, putting its subscription
/// back to active when that was its last overdue invoice.
async fn transition(
    state: &AppState,
    id: InvoiceId,
    to: InvoiceStatus,
    reference: Option<String>,
) -> Result<Invoice> {
    let current = get_any(state, id).await?;
    if !current.status.can_become(to) {
        return Err(illegal(current.status, to));
    }
    let now = state.clock.now();
    let txn: DatabaseTransaction = state.db.begin().await?;
    store::accounts::tenants::lock(&txn, current.tenant_id).await?;
    if !store::invoicing::move_status(&txn, id, current.status, to, reference, now).await? {
        return Err(Error::conflict(
            ConflictReason::ConcurrentUpdate,
            "the invoice changed at the same time; read it again",
        ));
    }
    let moved = store::invoicing::find(&txn, TenantScope::Any, id)
        .await?
        .or_not_found("invoice")?;
    super::recheck_past_due(&txn, state, &moved, now).await?;
    // Webhooks.
    match moved.status {
        InvoiceStatus::Paid => {
            store::webhooks::emit(&txn, NewWebhookEvent::invoice_paid(&moved, now)).await?;
        }
        InvoiceStatus::Void => {
            store::webhooks::emit(&txn, NewWebhookEvent::invoice_voided(&moved, now)).await?;
        }
        _ => {}
    }
    state
        .invoice_hooks
        .invoice_moved(&txn, state, &moved, now)
        .await?;
    if moved.status == InvoiceStatus::Paid {
        super::notify_invoice(&txn, &moved, NotificationKind::PaymentSucceeded, now).await?; // email
    }
    txn.commit().await?;
    super::announce(state, &moved);
    Ok(moved)
}

/// Records a payment the provider confirmed, once: an invoice already paid stays as it is
/// (the synchronous answer, the webhook and a retry may each report the same payment).
pub async fn settle(state: &AppState, id: InvoiceId, reference: Option<String>) -> Result<Invoice> {
    let current = get_any(state, id).await?;
    if current.status == InvoiceStatus::Paid {
        return Ok(current);
    }
    match transition(state, id, InvoiceStatus::Paid, reference).await {
        Err(Error::Conflict { .. }) => {
            let now = get_any(state, id).await?;
            if now.status == InvoiceStatus::Paid {
                Ok(now)
            } else {
                Err(Error::conflict(
                    ConflictReason::IllegalTransition,
                    format!("invoice {id} is {} and cannot be paid", now.status.as_str()),
                ))
            }
        }
        other => other,
    }
}

#[tracing::instrument(skip_all, fields(invoice = %id))]
pub async fn mark_paid(
    state: &AppState,
    actor: &Actor,
    id: InvoiceId,
    reference: Option<String>,
) -> Result<Invoice> {
    actor.require_admin()?;
    transition(state, id, InvoiceStatus::Paid, reference).await
}

/// Voids an open invoice the payer gave up on (an expired or failed Checkout).
pub async fn void_unpaid(state: &AppState, id: InvoiceId) -> Result<Invoice> {
    transition(state, id, InvoiceStatus::Void, None).await
}

#[tracing::instrument(name = "void_invoice", skip_all, fields(invoice = %id))]
pub async fn void(state: &AppState, actor: &Actor, id: InvoiceId) -> Result<Invoice> {
    actor.require_admin()?;
    transition(state, id, InvoiceStatus::Void, None).await
}

#[tracing::instrument(skip_all, fields(invoice = %id))]
pub async fn mark_uncollectible(state: &AppState, actor: &Actor, id: InvoiceId) -> Result<Invoice> {
    actor.require_admin()?;
    transition(state, id, InvoiceStatus::Uncollectible, None).await
}
