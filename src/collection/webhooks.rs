//! Stripe's events. Each is verified, stored once under its own id, and acted on
//! idempotently: a replay, a concurrent duplicate or an event out of order (a failure after a
//! success) never un-pays an invoice or charges twice. An event about objects that are not
//! ours, or of a type we do not act on, is recorded as ignored.
use crate::auth::Actor;
use crate::domain::{
    BillingReason, Invoice, InvoiceId, InvoiceStatus, Page, PageRequest, PaymentStatus,
    ProviderEvent, ProviderEventStatus,
};
use crate::error::{Error, Result};
use crate::invoicing;
use crate::payments::{CheckoutOutcome, Collection, EventSubject, IntentOutcome, VerifiedEvent};
use crate::state::AppState;
use crate::store;

/// Verifies, stores and acts on one delivery. A bad signature is `VALIDATION` and stores
/// nothing. An error while acting is returned after the event is recorded as failed, so the
/// provider delivers it again and it is retried then.
#[tracing::instrument(name = "stripe_event", skip_all)]
pub async fn receive_stripe_event(
    state: &AppState,
    payload: &str,
    signature: &str,
) -> Result<ProviderEvent> {
    let event = state.payments.verify_event(payload, signature)?;
    let now = state.clock.now();
    let (stored, fresh) = store::payments::events::receive(
        &state.db,
        &event.id,
        &event.kind,
        event.object_ref.as_deref(),
        payload,
        now,
    )
    .await?;
    if !fresh && stored.status != ProviderEventStatus::Failed {
        return Ok(stored);
    }
    let acted = act(state, &event).await;
    let (status, error) = match &acted {
        Ok(true) => (ProviderEventStatus::Processed, None),
        Ok(false) => (ProviderEventStatus::Ignored, None),
        Err(e) => (ProviderEventStatus::Failed, Some(e.cause_chain())),
    };
    store::payments::events::finish(&state.db, stored.id, status, error.clone(), now).await?;
    acted?;
    tracing::info!(event = %event.id, kind = %event.kind, status = status.as_str(), "Stripe event");
    Ok(ProviderEvent {
        status,
        error,
        processed_at: Some(now),
        ..stored
    })
}

/// `true` when the event changed something of ours.
async fn act(state: &AppState, event: &VerifiedEvent) -> Result<bool> {
    match &event.subject {
        EventSubject::PaymentIntent {
            reference,
            invoice,
            tenant,
            outcome,
        } => {
            let collection = match outcome {
                IntentOutcome::Succeeded => Collection::Paid {
                    reference: reference.clone(),
                },
                IntentOutcome::Failed { code, reason, hard } => Collection::Failed {
                    reference: Some(reference.clone()),
                    code: code.clone(),
                    reason: reason.clone(),
                    hard: *hard,
                },
                IntentOutcome::RequiresAction { client_secret } => Collection::RequiresAction {
                    reference: reference.clone(),
                    client_secret: client_secret.clone(),
                },
                IntentOutcome::Other => return Ok(false),
            };
            let payment = match store::payments::by_provider_ref(&state.db, reference).await? {
                Some(p) => p,
                None => {
                    let Some(p) = unrecorded(state, invoice.as_deref(), tenant.as_deref()).await?
                    else {
                        return Ok(false);
                    };
                    p
                }
            };
            let mut payment = payment;
            let invoice = invoicing::get_any(state, payment.invoice_id).await?;
            super::apply(state, &invoice, &mut payment, collection).await?;
            Ok(true)
        }
        EventSubject::Checkout {
            invoice,
            tenant,
            payment,
            outcome,
            ..
        } => {
            checkout(
                state,
                invoice.as_deref(),
                tenant.as_deref(),
                payment,
                *outcome,
            )
            .await
        }
        EventSubject::Refunds(reports) => {
            let mut changed = false;
            for report in reports {
                changed |= super::refunds::reconcile(state, report).await?;
            }
            Ok(changed)
        }
        EventSubject::SetupSucceeded {
            customer: Some(customer),
            payment_method: Some(method),
        } => super::methods::card_saved(state, customer, method).await,
        _ => Ok(false),
    }
}

/// The invoice an event's metadata names, when it exists and is the named tenant's; anything
/// else (missing or malformed metadata, another tenant's invoice) is not ours to act on.
async fn named_invoice(
    state: &AppState,
    invoice: Option<&str>,
    tenant: Option<&str>,
) -> Result<Option<Invoice>> {
    let (Some(invoice), Some(tenant)) = (invoice, tenant) else {
        return Ok(None);
    };
    let Ok(id) = InvoiceId::parse("invoice_id", invoice) else {
        return Ok(None);
    };
    match invoicing::get_any(state, id).await {
        Ok(found) => Ok((found.tenant_id.to_string() == tenant).then_some(found)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The attempt a PaymentIntent belongs to when we never learned its id (the process stopped
/// between creating it and recording the answer): the named invoice's latest attempt, if it
/// is still waiting for an answer.
async fn unrecorded(
    state: &AppState,
    invoice: Option<&str>,
    tenant: Option<&str>,
) -> Result<Option<crate::domain::Payment>> {
    let Some(found) = named_invoice(state, invoice, tenant).await? else {
        return Ok(None);
    };
    Ok(store::payments::latest(&state.db, found.id)
        .await?
        .filter(|p| p.status == PaymentStatus::Processing && p.provider_ref.is_none()))
}

/// A credit pack's Checkout Session paid (its invoice is paid, which credits the wallet once
/// through the top-up's invoice hook) or given up (its invoice is voided, which fails the
/// top-up). Only a credit-pack invoice of the tenant the session names is touched.
async fn checkout(
    state: &AppState,
    invoice: Option<&str>,
    tenant: Option<&str>,
    payment: &Option<String>,
    outcome: CheckoutOutcome,
) -> Result<bool> {
    let Some(found) = named_invoice(state, invoice, tenant).await? else {
        return Ok(false);
    };
    if found.billing_reason != BillingReason::CreditPack {
        return Ok(false);
    }
    let id = found.id;
    match (outcome, found.status) {
        (CheckoutOutcome::Paid, InvoiceStatus::Open) => {
            invoicing::settle(state, id, payment.clone()).await?;
            Ok(true)
        }
        (CheckoutOutcome::Failed, InvoiceStatus::Open) => {
            invoicing::void_unpaid(state, id).await?;
            Ok(true)
        }
        // Paid already (a replay, or the async event after the completed one), or given up.
        _ => Ok(false),
    }
}

/// The events received, in order (admin).
pub async fn provider_events(
    state: &AppState,
    actor: &Actor,
    kind: Option<&str>,
    page: PageRequest,
) -> Result<Page<ProviderEvent>> {
    actor.require_admin()?;
    store::payments::events::page(&state.db, kind, page).await
}
