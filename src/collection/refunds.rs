//! Refunds of paid invoices. A refund is a credit note, numbered like invoices from its own
//! sequence, written with everything it changes in one transaction under the tenant's lock:
//! the credits a refunded credit pack takes back, and the outbox message that asks the
//! provider for the money. The provider's refund carries the key `refund:<credit note>`, so
//! it is made once however often the message is carried out; its events only reconcile the
//! credit note's status.
use chrono::Datelike;
use sea_orm::TransactionTrait;

use crate::auth::Actor;
use crate::domain::{
    BillingReason, CreditNote, CreditNoteId, CreditNoteStatus, Credits, InvoiceId, InvoiceStatus,
    NewOutboxMessage,
};
use crate::error::{ConflictReason, Error, OptionExt, Result};
use crate::payments::{RefundReport, RefundRequest, RefundState};
use crate::state::AppState;
use crate::store::{self, TenantScope};
use crate::{credits, invoicing};

/// What `refundInvoice` asks for, its input already parsed.
#[derive(Clone, Debug)]
pub struct RefundInput {
    pub invoice: InvoiceId,
    /// `None` refunds whatever is left to refund.
    pub amount_minor: Option<i64>,
    pub reason: String,
    pub idempotency_key: Option<String>,
}

/// Refunds (part of) a paid invoice (admin). The amount defaults to what was paid minus the
/// earlier refunds that did not fail. A refund that can never fit (not above zero, above what
/// was paid) is `VALIDATION` on `amountMinor`; an invoice that is not paid or has nothing left
/// is `CONFLICT` `NOT_REFUNDABLE`; more than what is left is `CONFLICT` `REFUND_EXCEEDS_PAID`.
/// A replayed key answers the first credit note.
#[tracing::instrument(skip_all, fields(invoice = %input.invoice))]
pub async fn refund_invoice(
    state: &AppState,
    actor: &Actor,
    input: RefundInput,
) -> Result<CreditNote> {
    actor.require_admin()?;
    if let Some(amount) = input.amount_minor
        && amount <= 0
    {
        return Err(Error::validation(
            "amountMinor",
            "must be greater than zero",
        ));
    }
    let found = invoicing::get_any(state, input.invoice).await?;
    let tenant = found.tenant_id;
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    store::accounts::tenants::lock(&txn, tenant).await?;
    if let Some(key) = &input.idempotency_key
        && let Some(first) = store::payments::credit_notes::by_key(&txn, tenant, key).await?
    {
        txn.rollback().await?;
        let same = first.invoice_id == input.invoice
            && first.reason == input.reason
            && input.amount_minor.is_none_or(|a| a == first.amount_minor);
        return if same {
            Ok(first)
        } else {
            Err(Error::key_reused())
        };
    }
    let invoice = store::invoicing::find(&txn, TenantScope::Any, input.invoice)
        .await?
        .or_not_found("invoice")?;
    if invoice.status != InvoiceStatus::Paid {
        return Err(Error::conflict(
            ConflictReason::NotRefundable,
            format!(
                "invoice {} is {}; only a paid invoice can be refunded",
                invoice.id,
                invoice.status.as_str()
            ),
        ));
    }
    let paid = invoice.amount_paid;
    let refunded: i64 = store::payments::credit_notes::of_invoice(&txn, invoice.id)
        .await?
        .iter()
        .filter(|n| n.status != CreditNoteStatus::Failed)
        .map(|n| n.amount_minor)
        .sum();
    let left = paid - refunded;
    if left <= 0 {
        return Err(Error::conflict(
            ConflictReason::NotRefundable,
            format!("invoice {} was refunded in full already", invoice.id),
        ));
    }
    let amount = input.amount_minor.unwrap_or(left);
    if amount > paid {
        return Err(Error::validation(
            "amountMinor",
            format!("must be at most the {paid} the invoice was paid"),
        ));
    }
    if amount > left {
        return Err(Error::conflict(
            ConflictReason::RefundExceedsPaid,
            format!("only {left} of the {paid} paid is left to refund"),
        ));
    }
    // A payment Stripe did not take (marked paid by an admin, or no card processor at all)
    // went back outside the platform too: its credit note is final at once.
    let by_provider = state.payments.charges_cards()
        && invoice
            .payment_reference
            .as_deref()
            .is_some_and(|r| r.starts_with("pi_"));
    let year = now.year();
    let seq = store::invoicing::next_credit_note_number(&txn, year).await?;
    let mut note = CreditNote {
        id: CreditNoteId::new(),
        tenant_id: tenant,
        invoice_id: invoice.id,
        number: CreditNote::format_number(year, seq),
        amount_minor: amount,
        currency: invoice.currency,
        reason: input.reason,
        status: if by_provider {
            CreditNoteStatus::Pending
        } else {
            CreditNoteStatus::Succeeded
        },
        provider_ref: None,
        payment_ref: invoice.payment_reference.clone(),
        credits_revoked: Credits(0),
        idempotency_key: input.idempotency_key,
        created_at: now,
        updated_at: now,
    };
    let taken = if invoice.billing_reason == BillingReason::CreditPack {
        credits::take_back_for_refund(&txn, state, &invoice, amount, note.id, now).await?
    } else {
        None
    };
    if let Some(entry) = &taken {
        note.credits_revoked = Credits(-entry.amount.micro());
    }
    store::payments::credit_notes::insert(&txn, &note).await?;
    if by_provider {
        store::outbox::enqueue(&txn, NewOutboxMessage::refund_payment(tenant, note.id), now)
            .await?;
    }
    txn.commit().await?;
    if let Some(entry) = &taken {
        credits::announce(state, entry); // live updates
    }
    tracing::info!(credit_note = %note.id, number = %note.number, amount, by = %actor.subject, "invoice refunded");
    Ok(note)
}

/// Asks the provider for a credit note's refund (the outbox worker calls this). A note that
/// has its refund already, or is final, needs nothing. An error means the provider was not
/// reached: the worker sends it again later with the same key.
#[tracing::instrument(name = "send_refund", skip_all, fields(credit_note = %id))]
pub async fn send_refund(state: &AppState, id: CreditNoteId) -> Result<()> {
    let note = store::payments::credit_notes::find(&state.db, id)
        .await?
        .or_not_found("credit note")?;
    if note.status != CreditNoteStatus::Pending || note.provider_ref.is_some() {
        return Ok(());
    }
    let payment = note
        .payment_ref
        .clone()
        .ok_or_else(|| Error::internal(format!("credit note {id} names no payment")))?;
    let key = note.refund_key();
    let refunded = state
        .payments
        .create_refund(&RefundRequest {
            credit_note: &note,
            payment_ref: &payment,
            idempotency_key: &key,
        })
        .await?;
    finish(
        state,
        &note,
        refunded.reference.as_deref(),
        status_of(refunded.state),
    )
    .await?;
    Ok(())
}

/// Records the provider's refund and status on a credit note, and when the refund failed
/// gives back the credits the note took, in one transaction. `true` if the note changed; a
/// failed note never changes again, so the credits are given back once.
async fn finish(
    state: &AppState,
    note: &CreditNote,
    reference: Option<&str>,
    status: CreditNoteStatus,
) -> Result<bool> {
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    store::accounts::tenants::lock(&txn, note.tenant_id).await?;
    let changed =
        store::payments::credit_notes::record(&txn, note.id, reference, status, now).await?;
    let given = if changed && status == CreditNoteStatus::Failed {
        credits::give_back_for_failed_refund(
            &txn,
            state,
            note.tenant_id,
            note.credits_revoked,
            note.id,
            now,
        )
        .await?
    } else {
        None
    };
    txn.commit().await?;
    if let Some(entry) = &given {
        credits::announce(state, entry); // live updates
    }
    Ok(changed)
}

fn status_of(state: RefundState) -> CreditNoteStatus {
    match state {
        RefundState::Succeeded => CreditNoteStatus::Succeeded,
        RefundState::Pending => CreditNoteStatus::Pending,
        RefundState::Failed => CreditNoteStatus::Failed,
    }
}

/// Brings a credit note in step with what an event says of its refund; `true` if it changed.
/// The refund is found by its id, or, when the answer was never recorded, by the credit note
/// named in its metadata. A failed note is never changed again.
pub(crate) async fn reconcile(state: &AppState, report: &RefundReport) -> Result<bool> {
    let note =
        match store::payments::credit_notes::by_provider_ref(&state.db, &report.reference).await? {
            Some(n) => n,
            None => {
                let Some(id) = report
                    .credit_note
                    .as_deref()
                    .and_then(|c| CreditNoteId::parse("credit_note_id", c).ok())
                else {
                    return Ok(false);
                };
                match store::payments::credit_notes::find(&state.db, id).await? {
                    Some(n) if n.provider_ref.is_none() => n,
                    _ => return Ok(false),
                }
            }
        };
    finish(
        state,
        &note,
        Some(&report.reference),
        status_of(report.state),
    )
    .await
}

/// The credit notes of an invoice the caller may see (admin, or the tenant for its own).
pub async fn credit_notes(
    state: &AppState,
    actor: &Actor,
    invoice: InvoiceId,
) -> Result<Vec<CreditNote>> {
    invoicing::get(state, actor, invoice).await?;
    store::payments::credit_notes::of_invoice(&state.db, invoice).await
}
