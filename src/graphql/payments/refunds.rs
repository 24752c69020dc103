//! Refunds: the `refundInvoice` input and payload, and credit notes as the API shows them.
use async_graphql::{ComplexObject, Context, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use crate::collection::RefundInput;
use crate::documents::{self, Kind};
use crate::domain::{CreditNote, CreditNoteStatus, InvoiceId, Money, Name};
use crate::error::Result;
use crate::graphql::CtxExt;
use crate::graphql::scalars::{BigInt, MoneyOut, opt_idempotency_key};

gql_enum!(CreditNoteStatusGql as "CreditNoteStatus" => CreditNoteStatus {
    Pending, Succeeded, Failed
});

#[derive(InputObject)]
pub struct RefundInvoiceInput {
    pub invoice_id: ID,
    /// In minor units; omitted, whatever is left to refund.
    pub amount_minor: Option<BigInt>,
    pub reason: String,
    /// Optional: a replay answers the first credit note.
    pub idempotency_key: Option<String>,
}

impl RefundInvoiceInput {
    pub fn parse(&self) -> Result<RefundInput> {
        Ok(RefundInput {
            invoice: InvoiceId::parse("invoiceId", &self.invoice_id)?,
            amount_minor: self.amount_minor.map(|a| a.0),
            reason: Name::parse("reason", &self.reason, 200)?.into_inner(),
            idempotency_key: opt_idempotency_key(self.idempotency_key.as_deref())?,
        })
    }
}

#[derive(SimpleObject)]
pub struct RefundInvoicePayload {
    pub credit_note: CreditNoteOut,
}

/// A refund of (part of) a paid invoice.
#[derive(SimpleObject)]
#[graphql(name = "CreditNote", complex)]
pub struct CreditNoteOut {
    id: ID,
    tenant_id: ID,
    invoice_id: ID,
    /// `CN-2026-000001`: numbered like invoices, from its own gapless sequence.
    number: String,
    amount: MoneyOut,
    reason: String,
    status: CreditNoteStatusGql,
    /// Stripe's refund (`re_…`), once made.
    refund_id: Option<String>,
    /// The payment refunded (Stripe's PaymentIntent `pi_…`, or the reference it was paid with).
    payment_reference: Option<String>,
    /// Credits taken back from the wallet for a credit pack ("0" otherwise).
    credits_revoked: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[ComplexObject]
impl CreditNoteOut {
    /// A link to this credit note's PDF that a browser opens without the `Authorization`
    /// header; it expires after `BILLING_PDF_LINK_TTL_SECS` (15 minutes by default).
    async fn pdf_url(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(documents::pdf_url(
            &ctx.state()?.config,
            Kind::CreditNote,
            &self.id,
        ))
    }
}

impl From<CreditNote> for CreditNoteOut {
    fn from(n: CreditNote) -> Self {
        Self {
            id: ID(n.id.to_string()),
            tenant_id: ID(n.tenant_id.to_string()),
            invoice_id: ID(n.invoice_id.to_string()),
            number: n.number,
            amount: MoneyOut(Money::new(n.amount_minor, n.currency)),
            reason: n.reason,
            status: n.status.into(),
            refund_id: n.provider_ref,
            payment_reference: n.payment_ref,
            credits_revoked: n.credits_revoked.to_string(),
            created_at: n.created_at,
            updated_at: n.updated_at,
        }
    }
}
