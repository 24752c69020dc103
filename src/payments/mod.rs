//! How invoices get paid. Billing code knows only [`PaymentProvider`]: the manual provider is
//! the default (invoices wait for an admin), and Stripe (`stripe.rs`) plugs in behind the same
//! trait when `BILLING_STRIPE_SECRET_KEY` is set.
use async_trait::async_trait;

use crate::domain::{CardDetails, CreditNote, Invoice, TenantId};
use crate::error::{ConflictReason, Error, Result};

mod events;
mod stripe;
mod stripe_events;

pub use events::{
    CheckoutOutcome, EventSubject, IntentOutcome, RefundReport, RefundState, VerifiedEvent,
    hard_decline,
};
pub use stripe::StripeProvider;

/// One collection attempt, as the provider is asked for it.
#[derive(Clone, Copy, Debug)]
pub struct CollectRequest<'a> {
    pub invoice: &'a Invoice,
    /// The tenant's provider customer and default card, for providers that charge cards.
    pub customer: Option<&'a str>,
    pub payment_method: Option<&'a str>,
    /// Derived from the invoice and the attempt number: the same attempt sent twice is one
    /// charge.
    pub idempotency_key: &'a str,
}

/// What a provider did when asked to collect an invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Collection {
    /// Nothing settled: the invoice stays open until someone (or a webhook) marks it paid.
    Pending,
    Paid {
        reference: String,
    },
    /// Accepted, with the outcome to come by webhook.
    Processing {
        reference: String,
    },
    /// The payer must authenticate (3-D Secure) in the SPA with `client_secret`.
    RequiresAction {
        reference: String,
        client_secret: String,
    },
    /// Declined or refused. `hard` declines (a lost or stolen card, and the like) are not
    /// retried until a new payment method arrives.
    Failed {
        reference: Option<String>,
        code: String,
        reason: String,
        hard: bool,
    },
}

/// A SetupIntent for Stripe.js to save a card with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupSession {
    pub reference: String,
    pub client_secret: String,
}

/// A hosted payment page for one invoice (a credit pack), paid by the buyer in the browser.
#[derive(Clone, Copy, Debug)]
pub struct CheckoutRequest<'a> {
    pub invoice: &'a Invoice,
    pub description: &'a str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    pub idempotency_key: &'a str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutSession {
    pub reference: String,
    pub url: String,
}

/// A refund of (part of) a payment, as the provider is asked for it.
#[derive(Clone, Copy, Debug)]
pub struct RefundRequest<'a> {
    pub credit_note: &'a CreditNote,
    /// The payment to refund (a PaymentIntent `pi_…`).
    pub payment_ref: &'a str,
    /// `refund:<credit note>`: the refund is made once however often it is sent.
    pub idempotency_key: &'a str,
}

/// What the provider answered to a refund.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refunded {
    /// The provider's refund; `None` when the provider refused to make one (a permanent
    /// refusal, such as a charge already refunded or disputed), which fails the refund.
    pub reference: Option<String>,
    pub state: RefundState,
}

/// Who a provider customer is made for.
#[derive(Clone, Copy, Debug)]
pub struct CustomerRequest<'a> {
    pub tenant: TenantId,
    pub name: &'a str,
    pub email: Option<&'a str>,
}

fn not_configured() -> Error {
    Error::conflict(
        ConflictReason::ProviderNotConfigured,
        "no card processor is configured (set BILLING_STRIPE_SECRET_KEY)",
    )
}

#[async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Whether collecting needs the tenant's provider customer and default card.
    fn charges_cards(&self) -> bool {
        false
    }

    /// Asks for payment of a finalized invoice with an amount due.
    async fn collect(&self, req: &CollectRequest<'_>) -> Result<Collection>;

    /// Makes the provider customer for a tenant; the same tenant always gets one customer.
    async fn create_customer(&self, _req: &CustomerRequest<'_>) -> Result<String> {
        Err(not_configured())
    }

    /// A SetupIntent for the customer to save a card off-session.
    async fn create_setup(&self, _customer: &str, _idempotency_key: &str) -> Result<SetupSession> {
        Err(not_configured())
    }

    /// A Checkout Session for the invoice; the same key answers the same session.
    async fn create_checkout(&self, _req: &CheckoutRequest<'_>) -> Result<CheckoutSession> {
        Err(not_configured())
    }

    /// The card behind a payment method.
    async fn card(&self, _payment_method: &str) -> Result<CardDetails> {
        Err(not_configured())
    }

    /// Detaches a payment method from its customer.
    async fn detach(&self, _payment_method: &str) -> Result<()> {
        Err(not_configured())
    }

    /// Gives back (part of) a payment. An error means the provider was not reached or did not
    /// answer: the outbox sends it again with the same key.
    async fn create_refund(&self, _req: &RefundRequest<'_>) -> Result<Refunded> {
        Err(not_configured())
    }

    /// Checks a webhook's signature and reads it. A bad or stale signature is `VALIDATION`.
    fn verify_event(&self, _payload: &str, _signature: &str) -> Result<VerifiedEvent> {
        Err(not_configured())
    }
}

/// Invoices are paid outside the platform (bank transfer, boleto) and marked paid by an admin.
pub struct ManualProvider;

#[async_trait]
impl PaymentProvider for ManualProvider {
    fn name(&self) -> &'static str {
        "manual"
    }

    async fn collect(&self, _req: &CollectRequest<'_>) -> Result<Collection> {
        Ok(Collection::Pending)
    }
}
