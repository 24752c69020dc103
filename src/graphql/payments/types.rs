//! Payment methods, collection attempts and provider events, as the API shows them.
use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::{
    Money, Payment, PaymentMethod, PaymentStatus, ProviderEvent, ProviderEventStatus,
};
use crate::graphql::scalars::MoneyOut;

gql_enum!(PaymentStatusGql as "PaymentStatus" => PaymentStatus {
    Processing, RequiresAction, Succeeded, Failed
});
gql_enum!(ProviderEventStatusGql as "StripeEventStatus" => ProviderEventStatus {
    Processed, Ignored, Failed
});

/// A saved card: brand, last four digits and expiry; never the number.
#[derive(SimpleObject)]
#[graphql(name = "PaymentMethod")]
pub struct PaymentMethodOut {
    id: ID,
    tenant_id: ID,
    /// Stripe's id (`pm_…`).
    stripe_id: String,
    brand: String,
    last4: String,
    exp_month: i32,
    exp_year: i32,
    is_default: bool,
    created_at: DateTime<Utc>,
}

impl From<PaymentMethod> for PaymentMethodOut {
    fn from(m: PaymentMethod) -> Self {
        Self {
            id: ID(m.id.to_string()),
            tenant_id: ID(m.tenant_id.to_string()),
            stripe_id: m.provider_ref,
            brand: m.brand,
            last4: m.last4,
            exp_month: m.exp_month,
            exp_year: m.exp_year,
            is_default: m.is_default,
            created_at: m.created_at,
        }
    }
}

/// One attempt at collecting an invoice.
#[derive(SimpleObject)]
#[graphql(name = "Payment")]
pub struct PaymentOut {
    id: ID,
    invoice_id: ID,
    attempt: i32,
    amount: MoneyOut,
    status: PaymentStatusGql,
    /// Stripe's PaymentIntent (`pi_…`).
    payment_intent_id: Option<String>,
    payment_method_id: Option<String>,
    failure_code: Option<String>,
    failure_message: Option<String>,
    /// When a failed attempt is tried again; null after a hard decline or the last retry.
    next_retry_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Payment> for PaymentOut {
    fn from(p: Payment) -> Self {
        Self {
            id: ID(p.id.to_string()),
            invoice_id: ID(p.invoice_id.to_string()),
            attempt: p.attempt,
            amount: MoneyOut(Money::new(p.amount_minor, p.currency)),
            status: p.status.into(),
            payment_intent_id: p.provider_ref,
            payment_method_id: p.payment_method_ref,
            failure_code: p.failure_code,
            failure_message: p.failure_message,
            next_retry_at: p.next_retry_at,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A Stripe event as received.
#[derive(SimpleObject)]
#[graphql(name = "StripeEvent")]
pub struct StripeEventOut {
    id: ID,
    /// Stripe's event id (`evt_…`).
    stripe_id: String,
    #[graphql(name = "type")]
    kind: String,
    status: ProviderEventStatusGql,
    object_id: Option<String>,
    error: Option<String>,
    received_at: DateTime<Utc>,
    processed_at: Option<DateTime<Utc>>,
}

impl From<ProviderEvent> for StripeEventOut {
    fn from(e: ProviderEvent) -> Self {
        Self {
            id: ID(e.id.to_string()),
            stripe_id: e.event_ref,
            kind: e.kind,
            status: e.status.into(),
            object_id: e.object_ref,
            error: e.error,
            received_at: e.received_at,
            processed_at: e.processed_at,
        }
    }
}
