//! Usage metering: reports, summaries and estimates.
pub(crate) mod types;

use async_graphql::{Context, ID, Object};

use crate::domain::{Code, SubscriptionId};
use crate::graphql::accounts::inputs::opt_tenant_id;
use crate::graphql::metering::types::{
    CostEstimateOut, RecordUsageInput, RecordUsagePayload, UsageSummaryOut,
};
use crate::graphql::scalars::BigInt;
use crate::graphql::{CtxExt, GqlResult};
use crate::metering;

#[derive(Default)]
pub struct MeteringQuery;

#[Object]
impl MeteringQuery {
    /// One metric's usage in one period: by default the current period of the tenant's
    /// subscription. `cycle` reads a closed period.
    #[graphql(complexity = "crate::graphql::limits::HEAVY + child_complexity")]
    async fn usage_summary(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        metric_code: String,
        cycle: Option<i32>,
        subscription_id: Option<ID>,
    ) -> async_graphql::Result<UsageSummaryOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        let metric = Code::parse("metricCode", &metric_code).gql()?;
        let subscription = subscription_id
            .as_ref()
            .map(|id| SubscriptionId::parse("subscriptionId", id))
            .transpose()
            .gql()?;
        metering::usage_summary(state, actor, tenant, metric, cycle, subscription)
            .await
            .map(Into::into)
            .gql()
    }

    /// What `quantity` units of a metric would cost in a month of a plan.
    #[graphql(complexity = "crate::graphql::limits::HEAVY + child_complexity")]
    async fn estimate_cost(
        &self,
        ctx: &Context<'_>,
        plan_code: String,
        metric_code: String,
        quantity: BigInt,
    ) -> async_graphql::Result<CostEstimateOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let plan = Code::parse("planCode", &plan_code).gql()?;
        let metric = Code::parse("metricCode", &metric_code).gql()?;
        metering::estimate_cost(state, actor, plan, metric, quantity.0)
            .await
            .map(Into::into)
            .gql()
    }
}

#[derive(Default)]
pub struct MeteringMutation;

#[Object]
impl MeteringMutation {
    /// Records up to 1000 usage events in one transaction: each is accepted, a duplicate of an
    /// earlier key, or rejected with a code. Crossing into a new block charges it at once.
    async fn record_usage(
        &self,
        ctx: &Context<'_>,
        input: RecordUsageInput,
    ) -> async_graphql::Result<RecordUsagePayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", input.tenant_id.as_ref()).gql()?;
        let events = input.events.into_iter().map(Into::into).collect();
        metering::record_usage(state, actor, tenant, events)
            .await
            .map(Into::into)
            .gql()
    }
}
