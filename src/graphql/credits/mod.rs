//! Prepaid credits: the wallet and its ledger, spending, holds and adjustments.
pub(crate) mod deferred;
pub(crate) mod types;

use async_graphql::{Context, ID, Object};

use crate::graphql::accounts::inputs::opt_tenant_id;
use async_graphql::connection::Connection;

use crate::credits;
use crate::domain::{HoldId, Name, TopupId};
use crate::graphql::credits::types::{
    AdjustCreditsInput, ConsumeCreditsInput, CreditTopupOut, CreditsPayload, HoldPayload,
    PurchaseCreditPackInput, PurchaseCreditPackPayload, ReserveCreditsInput, SettleCreditsInput,
    WalletOut,
};
use crate::graphql::scalars::{connection, page_request};
use crate::graphql::{CtxExt, GqlResult};

#[derive(Default)]
pub struct CreditsQuery;

#[Object]
impl CreditsQuery {
    /// The tenant's credit balance, held credits and ledger.
    async fn wallet(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<WalletOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        credits::wallet(state, actor, tenant)
            .await
            .map(Into::into)
            .gql()
    }

    /// Credit purchases and grants: pack, credits, amount, source, payment id, status.
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn credit_topups(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, CreditTopupOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        let page = page_request(first, after).gql()?;
        let found = credits::list_topups(state, actor, tenant, page)
            .await
            .gql()?;
        Ok(connection(
            found,
            |t| t.id.to_string(),
            CreditTopupOut::from,
        ))
    }
}

#[derive(Default)]
pub struct CreditsMutation;

#[Object]
impl CreditsMutation {
    /// Deducts what `quantity` units cost, atomically, or answers `INSUFFICIENT_CREDITS` (with
    /// `balance` and `required` in the extensions) and changes nothing.
    async fn consume_credits(
        &self,
        ctx: &Context<'_>,
        input: ConsumeCreditsInput,
    ) -> async_graphql::Result<CreditsPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let req = input.parse().gql()?;
        credits::consume_credits(state, actor, req)
            .await
            .map(Into::into)
            .gql()
    }

    /// Sets credits aside before a request; settle, release, or let it expire.
    async fn reserve_credits(
        &self,
        ctx: &Context<'_>,
        input: ReserveCreditsInput,
    ) -> async_graphql::Result<HoldPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let req = input.parse().gql()?;
        credits::reserve_credits(state, actor, req, i64::from(input.ttl_seconds))
            .await
            .map(Into::into)
            .gql()
    }

    /// Charges the real cost of a held request and gives the rest back.
    async fn settle_credits(
        &self,
        ctx: &Context<'_>,
        input: SettleCreditsInput,
    ) -> async_graphql::Result<HoldPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = HoldId::parse("holdId", &input.hold_id).gql()?;
        credits::settle_credits(state, actor, id, input.actual_quantity.0)
            .await
            .map(Into::into)
            .gql()
    }

    /// Cancels a hold and gives its credits back.
    async fn release_credits(
        &self,
        ctx: &Context<'_>,
        hold_id: ID,
    ) -> async_graphql::Result<HoldPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = HoldId::parse("holdId", &hold_id).gql()?;
        credits::release_credits(state, actor, id)
            .await
            .map(Into::into)
            .gql()
    }

    /// Adds credits to a tenant's wallet, with a reason (admin).
    async fn grant_credits(
        &self,
        ctx: &Context<'_>,
        input: AdjustCreditsInput,
    ) -> async_graphql::Result<CreditsPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let (tenant, amount, reason, key) = input.parse().gql()?;
        credits::grant_credits(state, actor, tenant, amount, reason, key)
            .await
            .map(Into::into)
            .gql()
    }

    /// Removes credits from a tenant's wallet, with a reason, never below zero (admin).
    async fn revoke_credits(
        &self,
        ctx: &Context<'_>,
        input: AdjustCreditsInput,
    ) -> async_graphql::Result<CreditsPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let (tenant, amount, reason, key) = input.parse().gql()?;
        credits::revoke_credits(state, actor, tenant, amount, reason, key)
            .await
            .map(Into::into)
            .gql()
    }

    /// Buys a credit pack: a pending top-up and its invoice, handed to the payment provider.
    /// Paying the invoice credits the wallet once.
    async fn purchase_credit_pack(
        &self,
        ctx: &Context<'_>,
        input: PurchaseCreditPackInput,
    ) -> async_graphql::Result<PurchaseCreditPackPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let (tenant, code, key) = input.parse().gql()?;
        credits::purchase_credit_pack(state, actor, tenant, code, key)
            .await
            .map(Into::into)
            .gql()
    }

    /// The admin confirms a manual payment for a top-up (its invoice is marked paid). Confirming
    /// twice credits once.
    async fn confirm_credit_topup(
        &self,
        ctx: &Context<'_>,
        id: ID,
        payment_reference: Option<String>,
    ) -> async_graphql::Result<CreditTopupOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = TopupId::parse("id", &id).gql()?;
        let reference = payment_reference
            .map(|r| Name::parse("paymentReference", &r, 200).map(|n| n.into_inner()))
            .transpose()
            .gql()?;
        credits::confirm_credit_topup(state, actor, id, reference)
            .await
            .map(Into::into)
            .gql()
    }
}
