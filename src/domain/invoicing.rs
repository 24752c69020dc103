//! Invoices, their lines and totals, as the services see them.
use chrono::{DateTime, Utc};

use super::{Currency, InvoiceId, InvoiceLineId, Money, ParseError, SubscriptionId, TenantId};

str_enum!(InvoiceStatus {
    Draft = "draft",
    Open = "open",
    Paid = "paid",
    Void = "void",
    Uncollectible = "uncollectible",
});

impl InvoiceStatus {
    /// The only moves an invoice can make. Paid and void are final.
    pub fn can_become(self, to: InvoiceStatus) -> bool {
        use InvoiceStatus::*;
        matches!(
            (self, to),
            (Draft, Open) | (Open, Paid | Void | Uncollectible) | (Uncollectible, Paid | Void)
        )
    }
}

str_enum!(BillingReason {
    SubscriptionCreate = "subscription_create",
    SubscriptionCycle = "subscription_cycle",
    SubscriptionUpdate = "subscription_update",
    SubscriptionClose = "subscription_close",
    UsageBlocks = "usage_blocks",
    CreditPack = "credit_pack",
    Manual = "manual",
});

str_enum!(LineKind {
    Fee = "fee",
    Proration = "proration",
    Usage = "usage",
    Manual = "manual",
});
#[derive(Clone, Debug, PartialEq)]
pub struct InvoiceLine {
    pub id: InvoiceLineId,
    pub description: String,
    pub quantity: i64,
    pub unit_amount: Money,
    pub amount: Money,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub kind: LineKind,
}

/// A line before it is stored: `amount_minor` is computed by `pricing`.
#[derive(Clone, Debug, PartialEq)]
pub struct NewLine {
    pub description: String,
    pub quantity: i64,
    pub unit_amount_minor: i64,
    pub amount_minor: i64,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub kind: LineKind,
}

#[derive(Clone, Debug)]
pub struct Invoice {
    pub id: InvoiceId,
    pub tenant_id: TenantId,
    pub subscription_id: Option<SubscriptionId>,
    pub number: Option<String>,
    pub status: InvoiceStatus,
    pub billing_reason: BillingReason,
    pub cycle: Option<i32>,
    pub currency: Currency,
    pub subtotal: i64,
    pub discount: i64,
    pub total: i64,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub coupon_code: Option<String>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub issued_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    pub marked_uncollectible_at: Option<DateTime<Utc>>,
    pub payment_reference: Option<String>,
    pub created_at: DateTime<Utc>,
    pub lines: Vec<InvoiceLine>,
}

impl Invoice {
    pub fn money(&self, amount_minor: i64) -> Money {
        Money::new(amount_minor, self.currency)
    }
}

#[derive(Clone, Debug, Default)]
pub struct InvoiceFilter {
    pub status: Option<InvoiceStatus>,
    pub period_from: Option<DateTime<Utc>>,
    pub period_to: Option<DateTime<Utc>>,
}

/// An admin-entered invoice line: 1 to 10^9 units at up to ±10^12 minor units each.
#[derive(Clone, Debug, PartialEq)]
pub struct ManualLine {
    pub description: String,
    pub quantity: i64,
    pub unit_amount_minor: i64,
}

impl ManualLine {
    pub fn parse(
        field: &str,
        description: &str,
        quantity: i64,
        unit_amount_minor: i64,
    ) -> Result<Self, ParseError> {
        let description = description.trim();
        if description.is_empty() || description.chars().count() > 500 {
            return Err(ParseError::new(
                format!("{field}.description"),
                "must be 1 to 500 characters",
            ));
        }
        if description.chars().any(char::is_control) {
            return Err(ParseError::new(
                format!("{field}.description"),
                "must not contain control characters",
            ));
        }
        if !(1..=1_000_000_000).contains(&quantity) {
            return Err(ParseError::new(
                format!("{field}.quantity"),
                "must be between 1 and 1000000000",
            ));
        }
        if unit_amount_minor.unsigned_abs() > 1_000_000_000_000 {
            return Err(ParseError::new(
                format!("{field}.unitAmountMinor"),
                "must be between -1000000000000 and 1000000000000",
            ));
        }
        Ok(Self {
            description: description.to_owned(),
            quantity,
            unit_amount_minor,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvoiceTotals {
    pub subtotal: i64,
    pub discount: i64,
    pub total: i64,
    /// What the customer owes: the total, or zero when the total is a credit.
    pub amount_due: i64,
}

/// An invoice before it is stored. `source_key` (see `keys`) makes a system-made invoice
/// happen once however often its job runs.
pub struct NewInvoice {
    pub tenant: TenantId,
    pub subscription: Option<SubscriptionId>,
    pub billing_reason: BillingReason,
    pub cycle: Option<i32>,
    pub currency: Currency,
    pub totals: InvoiceTotals,
    pub coupon_code: Option<String>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub source_key: Option<String>,
    pub lines: Vec<NewLine>,
    pub now: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoices_move_only_along_the_status_machine() {
        use InvoiceStatus::*;
        let all = [Draft, Open, Paid, Void, Uncollectible];
        let allowed = [
            (Draft, Open),
            (Open, Paid),
            (Open, Void),
            (Open, Uncollectible),
            (Uncollectible, Paid),
            (Uncollectible, Void),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
    }

    #[test]
    fn manual_lines_refuse_zero_huge_and_empty_values() {
        assert!(ManualLine::parse("line", "Setup", 1, 100).is_ok());
        assert!(ManualLine::parse("line", "Credit", 1, -100).is_ok());
        assert!(ManualLine::parse("line", " ", 1, 100).is_err());
        assert!(ManualLine::parse("line", "x", 0, 100).is_err());
        assert!(ManualLine::parse("line", "x", 1_000_000_001, 1).is_err());
        assert!(ManualLine::parse("line", "x", 1, 1_000_000_000_001).is_err());
        assert!(ManualLine::parse("line", "x", 1, i64::MIN).is_err());
    }
}
