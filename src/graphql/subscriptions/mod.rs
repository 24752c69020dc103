//! Subscriptions, revenue and the billing clock.
pub(crate) mod inputs;
pub(crate) mod types;

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};

use crate::domain::{Code, SubscriptionFilter};
use crate::graphql::accounts::inputs::opt_tenant_id;
use crate::graphql::scalars::{connection, page_request};
use crate::graphql::subscriptions::inputs::{
    AdvanceClockInput, ApplyCouponInput, CancelSubscriptionInput, ChangePlanInput,
    CreateSubscriptionInput,
};
use crate::graphql::subscriptions::types::{
    AdvanceClockPayload, BillingClockOut, JobReportOut, RevenueOut, SubscriptionOut,
    SubscriptionPayload, SubscriptionStatusGql,
};
use crate::graphql::{CtxExt, GqlResult};
use crate::{jobs, subscriptions};

#[derive(Default)]
pub struct SubscriptionsQuery;

#[Object]
impl SubscriptionsQuery {
    /// The tenant's live subscription, else its most recent one; null if it never subscribed.
    /// Tenant users read their own; the admin names the tenant.
    async fn subscription(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Option<SubscriptionOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        let found = subscriptions::get(state, actor, tenant).await.gql()?;
        Ok(found.map(Into::into))
    }

    /// Subscriptions of the caller's tenant, or of every tenant for the admin.
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn subscriptions(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        status: Option<SubscriptionStatusGql>,
        plan_code: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, SubscriptionOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        let page = page_request(first, after).gql()?;
        let plan_code = plan_code
            .as_deref()
            .map(|c| Code::parse("planCode", c).map(|c| c.into_inner()))
            .transpose()
            .gql()?;
        let filter = SubscriptionFilter {
            status: status.map(Into::into),
            plan_code,
        };
        let found = subscriptions::list(state, actor, tenant, filter, page)
            .await
            .gql()?;
        Ok(connection(
            found,
            |v| v.subscription.id.to_string(),
            SubscriptionOut::from,
        ))
    }

    /// MRR per currency and subscription counts by status and plan (admin).
    #[graphql(complexity = "crate::graphql::limits::HEAVY + child_complexity")]
    async fn revenue_summary(&self, ctx: &Context<'_>) -> async_graphql::Result<RevenueOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        subscriptions::revenue_summary(state, actor)
            .await
            .map(Into::into)
            .gql()
    }

    /// The billing clock every period, trial and usage date is measured against (anyone
    /// signed in). Outside production it is moved by `advanceClock` and survives restarts.
    async fn billing_clock(&self, ctx: &Context<'_>) -> async_graphql::Result<BillingClockOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        Ok(jobs::billing_clock(state, actor).into())
    }
}

#[derive(Default)]
pub struct SubscriptionsMutation;

#[Object]
impl SubscriptionsMutation {
    /// Subscribes a tenant to a plan's current version (owner, billing or admin). Without a
    /// trial the first period is invoiced at once; a trial is not invoiced.
    async fn create_subscription(
        &self,
        ctx: &Context<'_>,
        input: CreateSubscriptionInput,
    ) -> async_graphql::Result<SubscriptionPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let new = input.parse().gql()?;
        subscriptions::create(state, actor, new)
            .await
            .map(Into::into)
            .gql()
    }

    /// Cancels at the period end (default; undo with `resumeSubscription`) or now.
    async fn cancel_subscription(
        &self,
        ctx: &Context<'_>,
        input: CancelSubscriptionInput,
    ) -> async_graphql::Result<SubscriptionPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", input.tenant_id.as_ref()).gql()?;
        subscriptions::cancel(state, actor, tenant, input.at_period_end)
            .await
            .map(Into::into)
            .gql()
    }

    /// Undoes a cancellation set for the period end.
    async fn resume_subscription(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<SubscriptionPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        subscriptions::resume(state, actor, tenant)
            .await
            .map(Into::into)
            .gql()
    }

    /// Upgrades apply now with a prorated invoice; downgrades wait for the period end.
    async fn change_plan(
        &self,
        ctx: &Context<'_>,
        input: ChangePlanInput,
    ) -> async_graphql::Result<SubscriptionPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let (tenant, code, key) = input.parse().gql()?;
        subscriptions::change_plan(state, actor, tenant, code, key)
            .await
            .map(Into::into)
            .gql()
    }

    /// Applies a coupon to the live subscription, from its next invoiced cycle.
    async fn apply_coupon(
        &self,
        ctx: &Context<'_>,
        input: ApplyCouponInput,
    ) -> async_graphql::Result<SubscriptionPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let (tenant, code, key) = input.parse().gql()?;
        subscriptions::apply_coupon(state, actor, tenant, code, key)
            .await
            .map(Into::into)
            .gql()
    }

    /// Development and tests only: moves the billing clock forward, then runs the jobs.
    async fn advance_clock(
        &self,
        ctx: &Context<'_>,
        input: AdvanceClockInput,
    ) -> async_graphql::Result<AdvanceClockPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let how = input.parse().gql()?;
        let (now, report) = jobs::advance_clock(state, actor, how).await.gql()?;
        Ok(AdvanceClockPayload {
            now,
            jobs: report.into(),
        })
    }

    /// Runs the billing jobs now (renewals, trial ends, scheduled changes, overdue checks).
    /// Running them twice for the same moment creates nothing new.
    async fn run_billing_jobs(&self, ctx: &Context<'_>) -> async_graphql::Result<JobReportOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        jobs::run_now(state, actor).await.map(Into::into).gql()
    }
}
