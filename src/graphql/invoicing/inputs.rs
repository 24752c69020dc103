//! Inputs of invoices, and their parsing into domain types.
use async_graphql::{ID, InputObject};
use chrono::{DateTime, Utc};

use super::types::InvoiceStatusGql;
use crate::domain::{Currency, InvoiceFilter, ManualLine};
use crate::error::{Error, Result};
use crate::graphql::scalars::BigInt;

#[derive(InputObject)]
pub struct InvoiceLineInput {
    /// 1 to 500 characters.
    pub description: String,
    /// 1 to 1,000,000,000.
    pub quantity: BigInt,
    /// Minor units, -10^12 to 10^12; negative for a credit.
    pub unit_amount_minor: BigInt,
}

impl InvoiceLineInput {
    pub fn parse(&self, field: &str) -> Result<ManualLine> {
        Ok(ManualLine::parse(
            field,
            &self.description,
            self.quantity.0,
            self.unit_amount_minor.0,
        )?)
    }
}

#[derive(InputObject)]
pub struct CreateInvoiceInput {
    pub tenant_id: ID,
    /// ISO 4217; the tenant's currency when omitted.
    pub currency: Option<String>,
    /// 1 to 100 lines.
    pub lines: Vec<InvoiceLineInput>,
}

impl CreateInvoiceInput {
    pub fn currency(&self) -> Result<Option<Currency>> {
        Ok(self
            .currency
            .as_deref()
            .map(|c| Currency::parse("currency", c))
            .transpose()?)
    }

    pub fn lines(&self) -> Result<Vec<ManualLine>> {
        self.lines
            .iter()
            .enumerate()
            .map(|(i, l)| l.parse(&format!("lines[{i}]")))
            .collect()
    }
}

/// The `invoices` filters.
pub fn invoice_filter(
    status: Option<InvoiceStatusGql>,
    period_from: Option<DateTime<Utc>>,
    period_to: Option<DateTime<Utc>>,
) -> Result<InvoiceFilter> {
    if let (Some(from), Some(to)) = (period_from, period_to)
        && to <= from
    {
        return Err(Error::validation("periodTo", "must be after periodFrom"));
    }
    Ok(InvoiceFilter {
        status: status.map(Into::into),
        period_from,
        period_to,
    })
}
