//! Output types of invoices.
use async_graphql::{ComplexObject, Context, ID, SimpleObject};
use chrono::{DateTime, Utc};

use crate::documents::{self, Kind};
use crate::domain::{BillingReason, Invoice, InvoiceLine, InvoiceStatus};
use crate::graphql::CtxExt;
use crate::graphql::scalars::{BigInt, MoneyOut};

gql_enum!(InvoiceStatusGql as "InvoiceStatus" => InvoiceStatus {
    Draft, Open, Paid, Void, Uncollectible
});
gql_enum!(BillingReasonGql as "BillingReason" => BillingReason {
    SubscriptionCreate, SubscriptionCycle, SubscriptionUpdate, SubscriptionClose, UsageBlocks, CreditPack, Manual
});

#[derive(SimpleObject)]
#[graphql(name = "InvoiceLine")]
pub struct InvoiceLineOut {
    description: String,
    quantity: BigInt,
    unit_amount: MoneyOut,
    /// quantity × unit amount; negative for a credit.
    amount: MoneyOut,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    /// `fee`, `proration`, `usage` or `manual`.
    kind: String,
}

impl From<InvoiceLine> for InvoiceLineOut {
    fn from(l: InvoiceLine) -> Self {
        Self {
            description: l.description,
            quantity: BigInt(l.quantity),
            unit_amount: MoneyOut(l.unit_amount),
            amount: MoneyOut(l.amount),
            period_start: l.period_start,
            period_end: l.period_end,
            kind: l.kind.as_str().to_owned(),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Invoice", complex)]
pub struct InvoiceOut {
    id: ID,
    tenant_id: ID,
    subscription_id: Option<ID>,
    /// `YYYY-NNNNNN`, gapless per year; assigned when the invoice leaves draft.
    number: Option<String>,
    status: InvoiceStatusGql,
    billing_reason: BillingReasonGql,
    /// The subscription cycle this invoice belongs to.
    cycle: Option<i32>,
    currency: String,
    /// Sum of the lines.
    subtotal: MoneyOut,
    discount: MoneyOut,
    /// Subtotal less discount.
    total: MoneyOut,
    /// What is owed: the total, or zero for a credit.
    amount_due: MoneyOut,
    amount_paid: MoneyOut,
    coupon_code: Option<String>,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    issued_at: Option<DateTime<Utc>>,
    due_at: Option<DateTime<Utc>>,
    paid_at: Option<DateTime<Utc>>,
    voided_at: Option<DateTime<Utc>>,
    marked_uncollectible_at: Option<DateTime<Utc>>,
    payment_reference: Option<String>,
    created_at: DateTime<Utc>,
    lines: Vec<InvoiceLineOut>,
}

impl From<Invoice> for InvoiceOut {
    fn from(i: Invoice) -> Self {
        Self {
            id: ID(i.id.to_string()),
            tenant_id: ID(i.tenant_id.to_string()),
            subscription_id: i.subscription_id.map(|s| ID(s.to_string())),
            number: i.number.clone(),
            status: i.status.into(),
            billing_reason: i.billing_reason.into(),
            cycle: i.cycle,
            currency: i.currency.code().to_owned(),
            subtotal: MoneyOut(i.money(i.subtotal)),
            discount: MoneyOut(i.money(i.discount)),
            total: MoneyOut(i.money(i.total)),
            amount_due: MoneyOut(i.money(i.amount_due)),
            amount_paid: MoneyOut(i.money(i.amount_paid)),
            coupon_code: i.coupon_code,
            period_start: i.period_start,
            period_end: i.period_end,
            issued_at: i.issued_at,
            due_at: i.due_at,
            paid_at: i.paid_at,
            voided_at: i.voided_at,
            marked_uncollectible_at: i.marked_uncollectible_at,
            payment_reference: i.payment_reference,
            created_at: i.created_at,
            lines: i.lines.into_iter().map(Into::into).collect(),
        }
    }
}

#[ComplexObject]
impl InvoiceOut {
    /// A link to this invoice's PDF that a browser opens without the `Authorization` header;
    /// it expires after `BILLING_PDF_LINK_TTL_SECS` (15 minutes by default).
    async fn pdf_url(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(documents::pdf_url(
            &ctx.state()?.config,
            Kind::Invoice,
            &self.id,
        ))
    }
}
