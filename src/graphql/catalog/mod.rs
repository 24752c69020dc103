pub(crate) mod charges;
pub(crate) mod inputs;
pub(crate) mod types;

use async_graphql::connection::Connection;
use async_graphql::{Context, Object, SimpleObject};

use crate::catalog;
use crate::domain::{Code, CouponCode, NewBillableMetric, NewCoupon, NewCreditPack, NewPlan};
use crate::graphql::catalog::inputs::{
    CreateBillableMetricInput, CreateCouponInput, CreditPackInput, PlanInput,
};
use crate::graphql::catalog::types::{CouponOut, MetricOut, PackOut, PlanOut};
use crate::graphql::scalars::{connection, page_request};
use crate::graphql::{CtxExt, GqlResult};

#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn billable_metrics(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, MetricOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let page = page_request(first, after).gql()?;
        let found = catalog::list_metrics(state, actor, page).await.gql()?;
        Ok(connection(found, |m| m.id.to_string(), MetricOut::from))
    }

    /// Current plan versions; `allVersions` includes superseded ones.
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn plans(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default)] all_versions: bool,
    ) -> async_graphql::Result<Connection<String, PlanOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let page = page_request(first, after).gql()?;
        let found = catalog::list_plans(state, actor, all_versions, page)
            .await
            .gql()?;
        Ok(connection(found, |p| p.id.to_string(), PlanOut::from))
    }

    /// A plan by code: its current version, or the version given.
    async fn plan(
        &self,
        ctx: &Context<'_>,
        code: String,
        version: Option<i32>,
    ) -> async_graphql::Result<PlanOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let code = Code::parse("code", &code).gql()?;
        catalog::find_plan(state, actor, code.as_str(), version)
            .await
            .map(PlanOut::from)
            .gql()
    }

    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn credit_packs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default)] all_versions: bool,
    ) -> async_graphql::Result<Connection<String, PackOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let page = page_request(first, after).gql()?;
        let found = catalog::list_packs(state, actor, all_versions, page)
            .await
            .gql()?;
        Ok(connection(found, |p| p.id.to_string(), PackOut::from))
    }

    async fn credit_pack(&self, ctx: &Context<'_>, code: String) -> async_graphql::Result<PackOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let code = Code::parse("code", &code).gql()?;
        catalog::find_pack(state, actor, code.as_str())
            .await
            .map(PackOut::from)
            .gql()
    }

    /// Every coupon, for the operator only (the list would give codes away).
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn coupons(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, CouponOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let page = page_request(first, after).gql()?;
        let found = catalog::list_coupons(state, actor, page).await.gql()?;
        Ok(connection(found, |c| c.id.to_string(), CouponOut::from))
    }

    /// A coupon by its code (case-insensitive), for anyone signed in who has the code.
    async fn coupon(&self, ctx: &Context<'_>, code: String) -> async_graphql::Result<CouponOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let code = CouponCode::parse("code", &code).gql()?;
        catalog::find_coupon(state, actor, code.as_str())
            .await
            .map(CouponOut::from)
            .gql()
    }
}

#[derive(SimpleObject)]
pub struct BillableMetricPayload {
    billable_metric: MetricOut,
}

#[derive(SimpleObject)]
pub struct PlanPayload {
    plan: PlanOut,
}

#[derive(SimpleObject)]
pub struct CreditPackPayload {
    credit_pack: PackOut,
}

#[derive(SimpleObject)]
pub struct CouponPayload {
    coupon: CouponOut,
}

#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    async fn create_billable_metric(
        &self,
        ctx: &Context<'_>,
        input: CreateBillableMetricInput,
    ) -> async_graphql::Result<BillableMetricPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let new = NewBillableMetric::try_from(input).gql()?;
        let m = catalog::create_metric(state, actor, new).await.gql()?;
        Ok(BillableMetricPayload {
            billable_metric: m.into(),
        })
    }

    /// Creates version 1 of a new plan code.
    async fn create_plan(
        &self,
        ctx: &Context<'_>,
        input: PlanInput,
    ) -> async_graphql::Result<PlanPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let new = NewPlan::try_from(input).gql()?;
        let plan = catalog::create_plan(state, actor, new).await.gql()?;
        Ok(PlanPayload { plan: plan.into() })
    }

    /// Publishes the next version of an existing plan and makes it current. Earlier versions,
    /// and everything bought on them, stay as they were.
    async fn publish_plan_version(
        &self,
        ctx: &Context<'_>,
        input: PlanInput,
    ) -> async_graphql::Result<PlanPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let new = NewPlan::try_from(input).gql()?;
        let plan = catalog::publish_plan_version(state, actor, new)
            .await
            .gql()?;
        Ok(PlanPayload { plan: plan.into() })
    }

    async fn create_credit_pack(
        &self,
        ctx: &Context<'_>,
        input: CreditPackInput,
    ) -> async_graphql::Result<CreditPackPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let new = NewCreditPack::try_from(input).gql()?;
        let pack = catalog::create_pack(state, actor, new).await.gql()?;
        Ok(CreditPackPayload {
            credit_pack: pack.into(),
        })
    }

    /// Publishes the next version of a credit pack (a new price or amount).
    async fn publish_credit_pack_version(
        &self,
        ctx: &Context<'_>,
        input: CreditPackInput,
    ) -> async_graphql::Result<CreditPackPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let new = NewCreditPack::try_from(input).gql()?;
        let pack = catalog::publish_pack_version(state, actor, new)
            .await
            .gql()?;
        Ok(CreditPackPayload {
            credit_pack: pack.into(),
        })
    }

    /// Creates a coupon. Coupons are immutable once created.
    async fn create_coupon(
        &self,
        ctx: &Context<'_>,
        input: CreateCouponInput,
    ) -> async_graphql::Result<CouponPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let new = NewCoupon::try_from(input).gql()?;
        let coupon = catalog::create_coupon(state, actor, new).await.gql()?;
        Ok(CouponPayload {
            coupon: coupon.into(),
        })
    }
}
