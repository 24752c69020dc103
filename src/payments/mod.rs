//! How invoices get paid. Billing code knows only [`PaymentProvider`]; the manual provider is
//! the default, and a card processor plugs in behind the same trait.
use async_trait::async_trait;

use crate::domain::Invoice;
use crate::error::Result;

/// What a provider did when asked to collect an invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Collection {
    /// Nothing settled yet: the invoice stays open until someone (or a webhook) marks it paid.
    Pending,
    Paid {
        reference: String,
    },
    Failed {
        reason: String,
    },
}

#[async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Asks for payment of a finalized invoice with an amount due.
    async fn collect(&self, invoice: &Invoice) -> Result<Collection>;
}

/// Invoices are paid outside the platform (bank transfer, boleto) and marked paid by an admin.
pub struct ManualProvider;

#[async_trait]
impl PaymentProvider for ManualProvider {
    fn name(&self) -> &'static str {
        "manual"
    }

    async fn collect(&self, _invoice: &Invoice) -> Result<Collection> {
        Ok(Collection::Pending)
    }
}
