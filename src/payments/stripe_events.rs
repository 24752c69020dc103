//! Stripe's webhook events, checked with `async-stripe`'s webhook support and read into what
//! billing acts on.
use stripe_shared::{
    CheckoutSession as StripeSession, CheckoutSessionPaymentStatus, PaymentIntent,
    Refund as StripeRefund,
};
use stripe_webhook::{EventObject, Webhook};

use super::events::{
    CheckoutOutcome, EventSubject, IntentOutcome, RefundReport, RefundState, VerifiedEvent,
};
use super::stripe::failure_of;
use crate::error::{Error, Result};

/// Verifies the signature (300 s tolerance) and reads the event.
pub(super) fn read(payload: &str, signature: &str, secret: &str) -> Result<VerifiedEvent> {
    let event = Webhook::construct_event(payload, signature, secret)
        .map_err(|e| Error::validation("Stripe-Signature", e.to_string()))?;
    let kind = event.type_.as_str().to_owned();
    let (object_ref, subject) = match event.data.object {
        EventObject::PaymentIntentSucceeded(pi) => intent(&pi, IntentOutcome::Succeeded),
        EventObject::PaymentIntentPaymentFailed(pi) => {
            let (code, reason, hard) = failure_of(&pi);
            intent(&pi, IntentOutcome::Failed { code, reason, hard })
        }
        EventObject::PaymentIntentRequiresAction(pi) => {
            let client_secret = pi.client_secret.clone().unwrap_or_default();
            intent(&pi, IntentOutcome::RequiresAction { client_secret })
        }
        EventObject::CheckoutSessionCompleted(cs) => {
            let outcome = match cs.payment_status {
                CheckoutSessionPaymentStatus::Paid
                | CheckoutSessionPaymentStatus::NoPaymentRequired => CheckoutOutcome::Paid,
                _ => CheckoutOutcome::Waiting,
            };
            checkout(&cs, outcome)
        }
        EventObject::CheckoutSessionAsyncPaymentSucceeded(cs) => {
            checkout(&cs, CheckoutOutcome::Paid)
        }
        EventObject::CheckoutSessionAsyncPaymentFailed(cs)
        | EventObject::CheckoutSessionExpired(cs) => checkout(&cs, CheckoutOutcome::Failed),
        EventObject::SetupIntentSucceeded(si) => (
            Some(si.id.as_str().to_owned()),
            EventSubject::SetupSucceeded {
                customer: si.customer.as_ref().map(|c| c.id().as_str().to_owned()),
                payment_method: si
                    .payment_method
                    .as_ref()
                    .map(|p| p.id().as_str().to_owned()),
            },
        ),
        EventObject::ChargeRefunded(charge) => (
            Some(charge.id.as_str().to_owned()),
            EventSubject::Refunds(
                charge
                    .refunds
                    .as_ref()
                    .map(|l| l.data.iter().map(refund_report).collect())
                    .unwrap_or_default(),
            ),
        ),
        EventObject::RefundUpdated(r)
        | EventObject::RefundFailed(r)
        | EventObject::ChargeRefundUpdated(r) => (
            Some(r.id.as_str().to_owned()),
            EventSubject::Refunds(vec![refund_report(&r)]),
        ),
        _ => (None, EventSubject::Other),
    };
    Ok(VerifiedEvent {
        id: event.id.as_str().to_owned(),
        kind,
        object_ref,
        subject,
    })
}

fn refund_report(r: &StripeRefund) -> RefundReport {
    RefundReport {
        reference: r.id.as_str().to_owned(),
        state: RefundState::of_stripe(r.status.as_deref()),
        credit_note: r
            .metadata
            .as_ref()
            .and_then(|m| m.get("credit_note_id").cloned()),
    }
}

fn checkout(cs: &StripeSession, outcome: CheckoutOutcome) -> (Option<String>, EventSubject) {
    let reference = cs.id.as_str().to_owned();
    let metadata = cs.metadata.clone().unwrap_or_default();
    (
        Some(reference.clone()),
        EventSubject::Checkout {
            reference,
            invoice: metadata.get("invoice_id").cloned(),
            tenant: metadata.get("tenant_id").cloned(),
            payment: cs
                .payment_intent
                .as_ref()
                .map(|p| p.id().as_str().to_owned()),
            outcome,
        },
    )
}

fn intent(pi: &PaymentIntent, outcome: IntentOutcome) -> (Option<String>, EventSubject) {
    let reference = pi.id.as_str().to_owned();
    (
        Some(reference.clone()),
        EventSubject::PaymentIntent {
            reference,
            invoice: pi.metadata.get("invoice_id").cloned(),
            tenant: pi.metadata.get("tenant_id").cloned(),
            outcome,
        },
    )
}
