//! Cards, collection attempts and Stripe's event log.
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

use crate::collection;
use crate::domain::{InvoiceId, PaymentMethodId};
use crate::graphql::accounts::inputs::opt_tenant_id;
use crate::graphql::scalars::{connection, page_request};
use crate::graphql::{CtxExt, GqlResult};

mod refunds;
mod types;

use refunds::{CreditNoteOut, RefundInvoiceInput, RefundInvoicePayload};
use types::{PaymentMethodOut, PaymentOut, StripeEventOut};

#[derive(Default)]
pub struct PaymentsQuery;

#[Object]
impl PaymentsQuery {
    /// The tenant's saved cards (owner, billing, admin).
    async fn payment_methods(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Vec<PaymentMethodOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        let found = collection::payment_methods(state, actor, tenant)
            .await
            .gql()?;
        Ok(found.into_iter().map(Into::into).collect())
    }

    /// Every attempt at collecting the invoice, first first.
    async fn invoice_payments(
        &self,
        ctx: &Context<'_>,
        invoice_id: ID,
    ) -> async_graphql::Result<Vec<PaymentOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = InvoiceId::parse("invoiceId", &invoice_id).gql()?;
        let found = collection::payments_of(state, actor, id).await.gql()?;
        Ok(found.into_iter().map(Into::into).collect())
    }

    /// The refunds of an invoice, first first (admin, or the tenant for its own invoices).
    async fn credit_notes(
        &self,
        ctx: &Context<'_>,
        invoice_id: ID,
    ) -> async_graphql::Result<Vec<CreditNoteOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = InvoiceId::parse("invoiceId", &invoice_id).gql()?;
        let found = collection::credit_notes(state, actor, id).await.gql()?;
        Ok(found.into_iter().map(Into::into).collect())
    }

    /// Stripe's events as received, in order, optionally of one type (admin).
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn stripe_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "type")] kind: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, StripeEventOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let page = page_request(first, after).gql()?;
        let found = collection::provider_events(state, actor, kind.as_deref(), page)
            .await
            .gql()?;
        Ok(connection(
            found,
            |e| e.id.to_string(),
            StripeEventOut::from,
        ))
    }
}

#[derive(InputObject)]
pub struct CreatePaymentMethodSetupInput {
    /// Operators name the tenant; tenant credentials set up their own.
    pub tenant_id: Option<ID>,
}

#[derive(SimpleObject)]
pub struct CreatePaymentMethodSetupPayload {
    /// For Stripe.js `confirmCardSetup` in the SPA.
    client_secret: String,
    setup_intent_id: String,
}

#[derive(InputObject)]
pub struct PaymentMethodInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct PaymentMethodPayload {
    payment_method: PaymentMethodOut,
}

#[derive(InputObject)]
pub struct RetryInvoicePaymentInput {
    pub invoice_id: ID,
}

#[derive(SimpleObject)]
pub struct RetryInvoicePaymentPayload {
    /// Every attempt at the invoice, the new one last.
    payments: Vec<PaymentOut>,
}

#[derive(Default)]
pub struct PaymentsMutation;

#[Object]
impl PaymentsMutation {
    /// Starts saving a card: a Stripe SetupIntent whose client secret the SPA hands to
    /// Stripe.js (owner, billing). The card arrives by webhook and becomes the default.
    async fn create_payment_method_setup(
        &self,
        ctx: &Context<'_>,
        input: CreatePaymentMethodSetupInput,
    ) -> async_graphql::Result<CreatePaymentMethodSetupPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", input.tenant_id.as_ref()).gql()?;
        let setup = collection::create_payment_method_setup(state, actor, tenant)
            .await
            .gql()?;
        Ok(CreatePaymentMethodSetupPayload {
            client_secret: setup.client_secret,
            setup_intent_id: setup.reference,
        })
    }

    /// Makes a saved card the default; open invoices waiting for one are collected.
    async fn set_default_payment_method(
        &self,
        ctx: &Context<'_>,
        input: PaymentMethodInput,
    ) -> async_graphql::Result<PaymentMethodPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = PaymentMethodId::parse("id", &input.id).gql()?;
        let method = collection::set_default_payment_method(state, actor, id)
            .await
            .gql()?;
        Ok(PaymentMethodPayload {
            payment_method: method.into(),
        })
    }

    /// Detaches a saved card at Stripe and forgets it.
    async fn remove_payment_method(
        &self,
        ctx: &Context<'_>,
        input: PaymentMethodInput,
    ) -> async_graphql::Result<PaymentMethodPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = PaymentMethodId::parse("id", &input.id).gql()?;
        let method = collection::remove_payment_method(state, actor, id)
            .await
            .gql()?;
        Ok(PaymentMethodPayload {
            payment_method: method.into(),
        })
    }

    /// Tries to collect an open invoice now with the default card (admin, owner, billing).
    async fn retry_invoice_payment(
        &self,
        ctx: &Context<'_>,
        input: RetryInvoicePaymentInput,
    ) -> async_graphql::Result<RetryInvoicePaymentPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = InvoiceId::parse("invoiceId", &input.invoice_id).gql()?;
        let payments = collection::retry_invoice_payment(state, actor, id)
            .await
            .gql()?;
        Ok(RetryInvoicePaymentPayload {
            payments: payments.into_iter().map(Into::into).collect(),
        })
    }

    /// Refunds a paid invoice in full or in part (admin): writes a credit note and asks Stripe
    /// for the money back. Never more than what was paid minus earlier refunds.
    async fn refund_invoice(
        &self,
        ctx: &Context<'_>,
        input: RefundInvoiceInput,
    ) -> async_graphql::Result<RefundInvoicePayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let input = input.parse().gql()?;
        let note = collection::refund_invoice(state, actor, input)
            .await
            .gql()?;
        Ok(RefundInvoicePayload {
            credit_note: note.into(),
        })
    }
}
