//! Invoices.
pub(crate) mod inputs;
pub(crate) mod types;

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use crate::domain::InvoiceId;
use crate::graphql::accounts::inputs::{opt_tenant_id, tenant_id};
use crate::graphql::scalars::{connection, page_request};
use crate::graphql::{CtxExt, GqlResult};
use crate::invoicing;
use inputs::{CreateInvoiceInput, InvoiceLineInput, invoice_filter};
use types::{InvoiceOut, InvoiceStatusGql};

fn invoice_id(field: &str, id: &ID) -> async_graphql::Result<InvoiceId> {
    InvoiceId::parse(field, id).gql()
}

#[derive(Default)]
pub struct InvoicesQuery;

#[Object]
impl InvoicesQuery {
    /// Invoices of the caller's tenant, or of every tenant for the admin. `periodFrom` and
    /// `periodTo` select on the period start: from ≤ start < to.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        status: Option<InvoiceStatusGql>,
        period_from: Option<DateTime<Utc>>,
        period_to: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, InvoiceOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        let filter = invoice_filter(status, period_from, period_to).gql()?;
        let page = page_request(first, after).gql()?;
        let found = invoicing::list(state, actor, tenant, filter, page)
            .await
            .gql()?;
        Ok(connection(found, |i| i.id.to_string(), InvoiceOut::from))
    }

    /// One invoice with its lines; another tenant's is NOT_FOUND.
    async fn invoice(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<InvoiceOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = invoice_id("id", &id)?;
        invoicing::get(state, actor, id).await.map(Into::into).gql()
    }
}

#[derive(Default)]
pub struct InvoicesMutation;

#[Object]
impl InvoicesMutation {
    /// A draft invoice for one-off charges or corrections (admin).
    async fn create_invoice(
        &self,
        ctx: &Context<'_>,
        input: CreateInvoiceInput,
    ) -> async_graphql::Result<InvoiceOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = tenant_id("tenantId", &input.tenant_id).gql()?;
        let currency = input.currency().gql()?;
        let lines = input.lines().gql()?;
        invoicing::create_invoice(state, actor, tenant, currency, lines)
            .await
            .map(Into::into)
            .gql()
    }

    /// Adds a line to a draft (admin). Open invoices are immutable.
    async fn add_invoice_line(
        &self,
        ctx: &Context<'_>,
        invoice_id: ID,
        line: InvoiceLineInput,
    ) -> async_graphql::Result<InvoiceOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = self::invoice_id("invoiceId", &invoice_id)?;
        let line = line.parse("line").gql()?;
        invoicing::add_line(state, actor, id, line)
            .await
            .map(Into::into)
            .gql()
    }

    /// Draft → open: assigns the next number of the year and the due date (admin).
    async fn finalize_invoice(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<InvoiceOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = invoice_id("id", &id)?;
        invoicing::finalize_invoice(state, actor, id)
            .await
            .map(Into::into)
            .gql()
    }

    /// Open or uncollectible → paid (admin), e.g. after a bank transfer arrived.
    async fn mark_invoice_paid(
        &self,
        ctx: &Context<'_>,
        id: ID,
        payment_reference: Option<String>,
    ) -> async_graphql::Result<InvoiceOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = invoice_id("id", &id)?;
        let reference = payment_reference
            .map(|r| {
                crate::domain::Name::parse("paymentReference", &r, 200).map(|n| n.into_inner())
            })
            .transpose()
            .gql()?;
        invoicing::mark_paid(state, actor, id, reference)
            .await
            .map(Into::into)
            .gql()
    }

    /// Open or uncollectible → void (admin). Correct an invoice by voiding it and issuing a
    /// new one.
    async fn void_invoice(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<InvoiceOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = invoice_id("id", &id)?;
        invoicing::void(state, actor, id)
            .await
            .map(Into::into)
            .gql()
    }

    /// Open → uncollectible (admin).
    async fn mark_invoice_uncollectible(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<InvoiceOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = invoice_id("id", &id)?;
        invoicing::mark_uncollectible(state, actor, id)
            .await
            .map(Into::into)
            .gql()
    }
}
