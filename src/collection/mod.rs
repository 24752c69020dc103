//! Collecting invoices through the payment provider. With Stripe, each attempt is a `payments`
//! row written before the provider is called; its idempotency key derives from the invoice and
//! the attempt number, so an attempt resumed after a crash or a timeout is one charge. An
//! invoice is paid once, whatever reports it first (the answer, the webhook, an admin). A
//! failed attempt is retried on the dunning schedule unless the decline was hard.
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::TransactionTrait;

use crate::auth::Actor;
use crate::domain::NewWebhookEvent;
use crate::domain::{
    BillingReason, Invoice, InvoiceId, InvoiceStatus, NewNotification, NewOutboxMessage, Payment,
    PaymentId, PaymentStatus, Role, TenantId,
};
use crate::error::{ConflictReason, Error, Result};
use crate::invoicing;
use crate::live::Change;
use crate::payments::{CollectRequest, Collection};
use crate::state::AppState;
use crate::store;

mod dunning;
mod methods;
mod refunds;
mod webhooks;

pub use dunning::{DunningReport, SUSPENDED_REASON, advance as advance_dunning, invoice_hooks};

pub use methods::{
    create_payment_method_setup, payment_methods, remove_payment_method, set_default_payment_method,
};
pub use refunds::{RefundInput, credit_notes, refund_invoice, send_refund};
pub use webhooks::{provider_events, receive_stripe_event};

/// Collects a finalized invoice (the outbox worker calls this). An invoice paid or voided in
/// the meantime needs nothing. An error means the provider was not reached or did not answer:
/// the worker tries again later, and the same attempt is sent with the same key.
#[tracing::instrument(name = "collect_invoice", skip_all, fields(invoice = %id))]
pub async fn collect_invoice(state: &AppState, id: InvoiceId) -> Result<()> {
    let invoice = invoicing::get_any(state, id).await?;
    if invoice.status != InvoiceStatus::Open || invoice.amount_due <= 0 {
        return Ok(());
    }
    if !state.payments.charges_cards() {
        let key = format!("collect:{id}:1");
        let req = CollectRequest {
            invoice: &invoice,
            customer: None,
            payment_method: None,
            idempotency_key: &key,
        };
        match state.payments.collect(&req).await? {
            Collection::Paid { reference } => {
                invoicing::settle(state, id, Some(reference)).await?;
            }
            Collection::Failed { reason, .. } => {
                tracing::warn!(invoice = %id, %reason, provider = state.payments.name(), "payment failed");
            }
            _ => {}
        }
        return Ok(());
    }
    if invoice.billing_reason == BillingReason::CreditPack {
        // Paid by the buyer on its Checkout page, never charged off-session.
        return Ok(());
    }
    let Some(payment) = next_attempt(state, &invoice).await? else {
        return Ok(());
    };
    let tenant = invoice.tenant_id;
    let customer = store::payments::customer_of(&state.db, tenant).await?;
    let method = store::payments::methods::default_of(&state.db, tenant).await?;
    let (Some(customer), Some(method)) = (customer, method) else {
        // Nothing to charge: recorded once; adding a card collects it.
        if store::notify::record_once(
            &state.db,
            NewNotification::payment_method_required(tenant, id, state.clock.now()),
        )
        .await?
        {
            state.live.publish(tenant, Change::Notification);
        }
        return Ok(());
    };
    let mut payment = match payment {
        Attempt::Resume(p) => p,
        Attempt::New(p) => {
            let mut p = p;
            p.payment_method_ref = Some(method.provider_ref.clone());
            if !store::payments::insert(&state.db, &p).await? {
                // Another worker started this very attempt; it carries it out.
                return Ok(());
            }
            p
        }
    };
    let key = payment.idempotency_key();
    let req = CollectRequest {
        invoice: &invoice,
        customer: Some(&customer),
        payment_method: payment.payment_method_ref.as_deref(),
        idempotency_key: &key,
    };
    let outcome = state.payments.collect(&req).await?;
    apply(state, &invoice, &mut payment, outcome).await
}

enum Attempt {
    /// An attempt that was started and has no final answer: sent again with its own key.
    Resume(Payment),
    New(Payment),
}

/// The attempt to make now, or `None` when there must be none (paid, or the payer is
/// authenticating).
async fn next_attempt(state: &AppState, invoice: &Invoice) -> Result<Option<Attempt>> {
    let now = state.clock.now();
    let fresh = |attempt| Payment {
        id: PaymentId::new(),
        tenant_id: invoice.tenant_id,
        invoice_id: invoice.id,
        attempt,
        amount_minor: invoice.amount_due,
        currency: invoice.currency,
        status: PaymentStatus::Processing,
        provider_ref: None,
        payment_method_ref: None,
        failure_code: None,
        failure_message: None,
        next_retry_at: None,
        created_at: now,
        updated_at: now,
    };
    Ok(
        match store::payments::latest(&state.db, invoice.id).await? {
            None => Some(Attempt::New(fresh(1))),
            Some(p) => match p.status {
                PaymentStatus::Processing => Some(Attempt::Resume(p)),
                PaymentStatus::Succeeded => {
                    invoicing::settle(state, invoice.id, p.provider_ref.clone()).await?;
                    None
                }
                PaymentStatus::RequiresAction => None,
                PaymentStatus::Failed => Some(Attempt::New(fresh(p.attempt + 1))),
            },
        },
    )
}

/// Records what the provider said of `payment` and acts on it.
pub(crate) async fn apply(
    state: &AppState,
    invoice: &Invoice,
    payment: &mut Payment,
    outcome: Collection,
) -> Result<()> {
    let now = state.clock.now();
    payment.updated_at = now;
    // The metric counts outcomes of attempts: an outcome reported again (the webhook after
    // the answer, a redelivery under a new event id) is not counted twice.
    let before = payment.status;
    match outcome {
        Collection::Paid { reference } => {
            payment.status = PaymentStatus::Succeeded;
            payment.provider_ref = Some(reference.clone());
            payment.failure_code = None;
            payment.failure_message = None;
            // A repeated report (a webhook after the answer, a redelivery) changes no row and
            // counts no second success; settling again is harmless.
            let changed = store::payments::record(&state.db, payment).await?;
            match invoicing::settle(state, invoice.id, Some(reference.clone())).await {
                // Voided or written off while the payer was still paying (3-D Secure): the
                // money arrived for an invoice that can no longer be paid. The payment stays
                // recorded as succeeded for an operator to refund; the event is not retried.
                Err(Error::Conflict { .. }) => {
                    tracing::error!(invoice = %invoice.id, payment = %reference, "a payment succeeded for an invoice that can no longer be paid; refund it");
                }
                other => {
                    other?;
                }
            }
            if changed && before != PaymentStatus::Succeeded {
                state
                    .metrics
                    .payments
                    .with_label_values(&["succeeded"])
                    .inc();
            }
        }
        Collection::Processing { reference } => {
            payment.provider_ref = Some(reference);
            store::payments::record(&state.db, payment).await?;
        }
        Collection::Pending => {}
        Collection::RequiresAction {
            reference,
            client_secret,
        } => {
            payment.status = PaymentStatus::RequiresAction;
            payment.provider_ref = Some(reference);
            if store::payments::record(&state.db, payment).await? {
                if store::notify::record_once(
                    &state.db,
                    NewNotification::payment_action_required(
                        invoice.tenant_id,
                        invoice.id,
                        payment.attempt,
                        &client_secret,
                        now,
                    ),
                )
                .await?
                {
                    state.live.publish(invoice.tenant_id, Change::Notification);
                }
                // Webhooks.
                let event = NewWebhookEvent::payment_action_required(
                    invoice.tenant_id,
                    invoice.id,
                    payment.attempt,
                    now,
                );
                store::webhooks::emit(&state.db, event).await?;
                if before != PaymentStatus::RequiresAction {
                    state
                        .metrics
                        .payments
                        .with_label_values(&["requires_action"])
                        .inc();
                }
            }
        }
        Collection::Failed {
            reference,
            code,
            reason,
            hard,
        } => {
            payment.status = PaymentStatus::Failed;
            if reference.is_some() {
                payment.provider_ref = reference;
            }
            payment.next_retry_at = if hard {
                None
            } else {
                next_retry(state, invoice.id, payment.attempt).await?
            };
            payment.failure_code = Some(code);
            payment.failure_message = Some(reason.clone());
            if store::payments::record(&state.db, payment).await? {
                if store::notify::record_once(
                    &state.db,
                    NewNotification::payment_failed(
                        invoice.tenant_id,
                        invoice.id,
                        payment.attempt,
                        &reason,
                        payment.next_retry_at,
                        now,
                    ),
                )
                .await?
                {
                    state.live.publish(invoice.tenant_id, Change::Notification);
                }
                // Webhooks.
                let event = NewWebhookEvent::payment_failed(
                    invoice.tenant_id,
                    invoice.id,
                    payment.attempt,
                    &reason,
                    payment.next_retry_at,
                    now,
                );
                store::webhooks::emit(&state.db, event).await?;
                if before != PaymentStatus::Failed {
                    state.metrics.payments.with_label_values(&["failed"]).inc();
                }
                dunning::enter(state, invoice.tenant_id, now).await?;
            }
        }
    }
    Ok(())
}

/// When the attempt after `attempt` is due: the schedule counts days from the first failure.
async fn next_retry(
    state: &AppState,
    invoice: InvoiceId,
    attempt: i32,
) -> Result<Option<DateTime<Utc>>> {
    let schedule = state.config.payment_retry_schedule().unwrap_or_default();
    let Some(days) = usize::try_from(attempt - 1)
        .ok()
        .and_then(|i| schedule.get(i))
    else {
        return Ok(None);
    };
    let first = store::payments::of_invoice(&state.db, invoice)
        .await?
        .first()
        .map_or_else(|| state.clock.now(), |p| p.created_at);
    Ok(Some(first + TimeDelta::days(*days)))
}

/// Hands every failed attempt whose retry is due to the outbox, as a new attempt (the billing
/// jobs call this). The old attempt forgets its retry date in the same transaction, so it is
/// handed over once.
pub async fn retry_due(state: &AppState) -> Result<usize> {
    let now = state.clock.now();
    let due = store::payments::retries_due(&state.db, now, 500).await?;
    let mut handed = 0;
    for mut p in due {
        // An attempt made since (an owner's retry, a new card) supersedes this one's retry
        // date: the schedule goes on from the latest attempt, and a hard decline there is
        // not retried. Handing this one over would make an attempt the schedule never asked
        // for, on the card that was just declined.
        let superseded = store::payments::latest(&state.db, p.invoice_id)
            .await?
            .is_some_and(|l| l.attempt > p.attempt);
        let txn = state.db.begin().await?;
        p.next_retry_at = None;
        p.updated_at = now;
        store::payments::record(&txn, &p).await?;
        if superseded {
            txn.commit().await?;
            continue;
        }
        store::outbox::enqueue(
            &txn,
            NewOutboxMessage::collect_invoice_attempt(p.tenant_id, p.invoice_id, p.attempt + 1),
            now,
        )
        .await?;
        txn.commit().await?;
        handed += 1;
    }
    Ok(handed)
}

/// Asks for a new attempt at every open invoice of the tenant that has none running (after a
/// card is added or made the default).
pub(crate) async fn collect_open_invoices(state: &AppState, tenant: TenantId) -> Result<()> {
    let now = state.clock.now();
    for id in store::invoicing::open_with_amount_due(&state.db, tenant).await? {
        let latest = store::payments::latest(&state.db, id).await?;
        if latest.as_ref().is_some_and(|p| p.status.in_flight()) {
            continue;
        }
        let attempt = latest.map_or(1, |p| p.attempt + 1);
        store::outbox::enqueue(
            &state.db,
            NewOutboxMessage::collect_invoice_attempt(tenant, id, attempt),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Tries to collect the invoice now (admin, or the tenant's owner or billing user). An
/// invoice that is not open, has nothing due, or has an attempt running is `NOT_COLLECTIBLE`.
pub async fn retry_invoice_payment(
    state: &AppState,
    actor: &Actor,
    id: InvoiceId,
) -> Result<Vec<Payment>> {
    actor.require_role(&[Role::Owner, Role::Billing])?;
    let invoice = invoicing::get(state, actor, id).await?;
    if invoice.status != InvoiceStatus::Open || invoice.amount_due <= 0 {
        return Err(Error::conflict(
            ConflictReason::NotCollectible,
            format!(
                "invoice {id} is {} with {} due",
                invoice.status.as_str(),
                invoice.amount_due
            ),
        ));
    }
    if !state.payments.charges_cards() {
        return Err(Error::conflict(
            ConflictReason::ProviderNotConfigured,
            "no card processor is configured: mark the invoice paid when the money arrives",
        ));
    }
    if let Some(p) = store::payments::latest(&state.db, id).await?
        && p.status.in_flight()
    {
        return Err(Error::conflict(
            ConflictReason::NotCollectible,
            format!(
                "attempt {} of invoice {id} is still {}",
                p.attempt,
                p.status.as_str()
            ),
        ));
    }
    // Boxed: the collection's future is large (provider call, notification, webhook and
    // dunning writes); on the heap it does not weigh on the request's stack.
    if let Err(e) = Box::pin(collect_invoice(state, id)).await {
        // Not reached: the outbox resumes this attempt with its key.
        tracing::warn!(invoice = %id, error = %e.cause_chain(), "payment retry deferred to the outbox");
        let attempt = store::payments::latest(&state.db, id)
            .await?
            .map_or(1, |p| p.attempt);
        store::outbox::enqueue(
            &state.db,
            NewOutboxMessage::collect_invoice_attempt(invoice.tenant_id, id, attempt),
            state.clock.now(),
        )
        .await?;
    }
    store::payments::of_invoice(&state.db, id).await
}

/// The attempts at collecting an invoice the caller may see.
pub async fn payments_of(state: &AppState, actor: &Actor, id: InvoiceId) -> Result<Vec<Payment>> {
    invoicing::get(state, actor, id).await?;
    store::payments::of_invoice(&state.db, id).await
}
