//! Collecting money through a payment provider (Stripe): the tenant's customer and saved cards,
//! one row per collection attempt, and the provider's events as received.
use chrono::{DateTime, Utc};

use super::{
    CreditNoteId, Credits, Currency, InvoiceId, PaymentId, PaymentMethodId, ProviderEventId,
    TenantId,
};

/// A saved card as the provider describes it; the number never reaches us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentMethod {
    pub id: PaymentMethodId,
    pub tenant_id: TenantId,
    /// The provider's id (`pm_…`).
    pub provider_ref: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i32,
    pub exp_year: i32,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
}

/// What the provider says of a card, to store it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardDetails {
    pub provider_ref: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i32,
    pub exp_year: i32,
}

// `Processing`: sent, or about to be, with no final answer yet. `RequiresAction`: the payer must
// finish 3-D Secure in the SPA. `Failed`: declined or refused; the invoice stays open.
str_enum!(PaymentStatus {
    Processing = "processing",
    RequiresAction = "requires_action",
    Succeeded = "succeeded",
    Failed = "failed",
});

impl PaymentStatus {
    /// Whether the attempt is still going: no other attempt may start meanwhile.
    pub fn in_flight(self) -> bool {
        matches!(self, Self::Processing | Self::RequiresAction)
    }
}

/// One attempt to collect an invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub tenant_id: TenantId,
    pub invoice_id: InvoiceId,
    pub attempt: i32,
    pub amount_minor: i64,
    pub currency: Currency,
    pub status: PaymentStatus,
    /// The provider's PaymentIntent (`pi_…`), once it exists.
    pub provider_ref: Option<String>,
    pub payment_method_ref: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Payment {
    /// The provider's idempotency key for this attempt: a retry of the same attempt (after a
    /// timeout or a crash) is the same request to the provider, so it charges once.
    pub fn idempotency_key(&self) -> String {
        format!("collect:{}:{}", self.invoice_id, self.attempt)
    }
}

// `Processed`: acted on. `Ignored`: a type we do not act on, or about objects not ours.
// `Failed`: acting on it failed; the provider delivers it again and it is retried then.
str_enum!(ProviderEventStatus {
    Processed = "processed",
    Ignored = "ignored",
    Failed = "failed",
});

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderEvent {
    pub id: ProviderEventId,
    /// The provider's event id (`evt_…`), unique.
    pub event_ref: String,
    /// The event type (`payment_intent.succeeded`).
    pub kind: String,
    pub status: ProviderEventStatus,
    pub object_ref: Option<String>,
    pub error: Option<String>,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

// `Pending`: written, the provider's refund not made or not final yet. `Succeeded`: the money
// went back. `Failed`: the provider refused or failed it; it no longer counts as refunded.
str_enum!(CreditNoteStatus {
    Pending = "pending",
    Succeeded = "succeeded",
    Failed = "failed",
});

/// A refund of (part of) a paid invoice, numbered like invoices (`CN-2026-000001`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditNote {
    pub id: CreditNoteId,
    pub tenant_id: TenantId,
    pub invoice_id: InvoiceId,
    pub number: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub reason: String,
    pub status: CreditNoteStatus,
    /// The provider's refund (`re_…`), once made.
    pub provider_ref: Option<String>,
    /// The payment refunded (the PaymentIntent `pi_…` for Stripe).
    pub payment_ref: Option<String>,
    /// Credits taken back from the wallet for a credit-pack invoice (0 otherwise).
    pub credits_revoked: Credits,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CreditNote {
    /// The provider's idempotency key for this refund: it is made once, whoever sends it.
    pub fn refund_key(&self) -> String {
        format!("refund:{}", self.id)
    }

    /// `CN-2026-000001`.
    pub fn format_number(year: i32, n: i64) -> String {
        format!("CN-{year}-{n:06}")
    }
}
