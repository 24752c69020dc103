//! Deferred usage billing and credit statistics.
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::credits::{
    self, DeferredEvent, DeferredResult, ProcessReport, Selection, StatusStat, TenantStats,
    UsageStats,
};
use crate::domain::{PendingStatus, PendingUsage, PendingUsageId};
use crate::error::Result;
use crate::graphql::accounts::inputs::opt_tenant_id;
use crate::graphql::scalars::BigInt;
use crate::graphql::{CtxExt, GqlResult};

gql_enum!(PendingStatusGql as "PendingUsageStatus" => PendingStatus { Pending, Charged, Failed });

#[derive(InputObject)]
pub struct DeferredUsageEventInput {
    pub metric_code: String,
    pub quantity: BigInt,
    pub operation_type: Option<String>,
    pub idempotency_key: String,
}

#[derive(InputObject)]
pub struct RecordDeferredUsageInput {
    pub tenant_id: Option<ID>,
    /// 1 to 1000 events, stored `PENDING` with their cost, charged later.
    pub events: Vec<DeferredUsageEventInput>,
}

#[derive(InputObject, Default)]
pub struct ProcessUsageInput {
    /// Only this tenant's records.
    pub tenant_id: Option<ID>,
    /// Only these records (1 to 1000).
    pub ids: Option<Vec<ID>>,
    /// At most this many records (default 1000).
    pub limit: Option<i32>,
}

impl ProcessUsageInput {
    fn parse(&self) -> Result<Selection> {
        Ok(Selection {
            tenant: opt_tenant_id("tenantId", self.tenant_id.as_ref())?,
            ids: self
                .ids
                .as_ref()
                .map(|ids| {
                    ids.iter()
                        .enumerate()
                        .map(|(i, id)| PendingUsageId::parse(&format!("ids[{i}]"), id))
                        .collect::<std::result::Result<Vec<_>, _>>()
                })
                .transpose()?,
            limit: self.limit.map(|l| usize::try_from(l).unwrap_or(0)),
        })
    }
}

#[derive(SimpleObject)]
#[graphql(name = "PendingUsage")]
pub struct PendingUsageOut {
    id: ID,
    tenant_id: ID,
    metric_code: String,
    quantity: BigInt,
    operation_type: String,
    idempotency_key: String,
    /// Credits this record costs, computed when it was recorded.
    cost_credits: String,
    status: PendingStatusGql,
    /// Why it failed, e.g. insufficient credits.
    reason: Option<String>,
    attempts: i32,
    charged_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<PendingUsage> for PendingUsageOut {
    fn from(p: PendingUsage) -> Self {
        Self {
            id: ID(p.id.to_string()),
            tenant_id: ID(p.tenant_id.to_string()),
            metric_code: p.metric_code,
            quantity: BigInt(p.quantity),
            operation_type: p.operation_type,
            idempotency_key: p.idempotency_key,
            cost_credits: p.cost.to_string(),
            status: p.status.into(),
            reason: p.reason,
            attempts: p.attempts,
            charged_at: p.charged_at,
            created_at: p.created_at,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum DeferredEventStatus {
    Accepted,
    Duplicate,
    Rejected,
}

#[derive(SimpleObject)]
pub struct DeferredUsageResult {
    index: i32,
    status: DeferredEventStatus,
    record: Option<PendingUsageOut>,
    code: Option<String>,
    message: Option<String>,
}

#[derive(SimpleObject)]
pub struct RecordDeferredUsagePayload {
    results: Vec<DeferredUsageResult>,
}

#[derive(SimpleObject)]
pub struct ProcessUsagePayload {
    charged: i32,
    failed: i32,
    skipped: i32,
    credits_charged: String,
}

impl From<ProcessReport> for ProcessUsagePayload {
    fn from(r: ProcessReport) -> Self {
        Self {
            charged: r.charged,
            failed: r.failed,
            skipped: r.skipped,
            credits_charged: r.credits_charged.to_string(),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "PendingUsageStatusStat")]
pub struct StatusStatOut {
    status: PendingStatusGql,
    records: BigInt,
    credits: String,
}

impl From<StatusStat> for StatusStatOut {
    fn from(s: StatusStat) -> Self {
        Self {
            status: s.status.into(),
            records: BigInt(s.records),
            credits: s.credits.to_string(),
        }
    }
}

#[derive(SimpleObject)]
pub struct TenantPendingStats {
    tenant_id: ID,
    by_status: Vec<StatusStatOut>,
}

#[derive(SimpleObject)]
pub struct PendingUsageStats {
    overall: Vec<StatusStatOut>,
    tenants: Vec<TenantPendingStats>,
}

#[derive(SimpleObject)]
pub struct OperationCreditStat {
    operation_type: String,
    requests: BigInt,
    credits: String,
}

#[derive(SimpleObject)]
pub struct CreditUsageStats {
    tenant_id: ID,
    credits_consumed: String,
    requests: BigInt,
    by_operation: Vec<OperationCreditStat>,
    last_active_at: Option<DateTime<Utc>>,
}

impl From<UsageStats> for CreditUsageStats {
    fn from(s: UsageStats) -> Self {
        Self {
            tenant_id: ID(s.tenant.to_string()),
            credits_consumed: s.credits_consumed.to_string(),
            requests: BigInt(s.requests),
            by_operation: s
                .by_operation
                .into_iter()
                .map(|o| OperationCreditStat {
                    operation_type: o.operation_type,
                    requests: BigInt(o.requests),
                    credits: o.credits.to_string(),
                })
                .collect(),
            last_active_at: s.last_active_at,
        }
    }
}

#[derive(Default)]
pub struct DeferredQuery;

#[Object]
impl DeferredQuery {
    /// The deferred record stored under an idempotency key, as it is now; null when the key
    /// was never recorded. Operators name the tenant.
    async fn pending_usage(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        idempotency_key: String,
    ) -> async_graphql::Result<Option<PendingUsageOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        credits::pending_usage(state, actor, tenant, &idempotency_key)
            .await
            .map(|p| p.map(Into::into))
            .gql()
    }

    /// Deferred records by status: counts and credits overall and per tenant.
    #[graphql(complexity = "crate::graphql::limits::HEAVY + child_complexity")]
    async fn pending_usage_stats(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<PendingUsageStats> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        let (overall, tenants) = credits::pending_usage_stats(state, actor, tenant)
            .await
            .gql()?;
        Ok(PendingUsageStats {
            overall: overall.into_iter().map(Into::into).collect(),
            tenants: tenants
                .into_iter()
                .map(|t: TenantStats| TenantPendingStats {
                    tenant_id: ID(t.tenant.to_string()),
                    by_status: t.by_status.into_iter().map(Into::into).collect(),
                })
                .collect(),
        })
    }

    /// Credits consumed, requests and credits by operation type, last active time.
    #[graphql(complexity = "crate::graphql::limits::HEAVY + child_complexity")]
    async fn credit_usage_stats(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<CreditUsageStats> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        credits::credit_usage_stats(state, actor, tenant)
            .await
            .map(Into::into)
            .gql()
    }
}

#[derive(Default)]
pub struct DeferredMutation;

#[Object]
impl DeferredMutation {
    /// Records usage to be charged later: each event is stored `PENDING` with its cost.
    async fn record_deferred_usage(
        &self,
        ctx: &Context<'_>,
        input: RecordDeferredUsageInput,
    ) -> async_graphql::Result<RecordDeferredUsagePayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", input.tenant_id.as_ref()).gql()?;
        let events = input
            .events
            .into_iter()
            .map(|e| DeferredEvent {
                metric_code: e.metric_code,
                quantity: e.quantity.0,
                operation_type: e.operation_type,
                idempotency_key: e.idempotency_key,
            })
            .collect();
        let results = credits::record_deferred_usage(state, actor, tenant, events)
            .await
            .gql()?;
        Ok(RecordDeferredUsagePayload {
            results: results
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    let index = i32::try_from(i).unwrap_or(i32::MAX);
                    match r {
                        DeferredResult::Accepted(p) => DeferredUsageResult {
                            index,
                            status: DeferredEventStatus::Accepted,
                            record: Some(p.into()),
                            code: None,
                            message: None,
                        },
                        DeferredResult::Duplicate(p) => DeferredUsageResult {
                            index,
                            status: DeferredEventStatus::Duplicate,
                            record: Some(p.into()),
                            code: None,
                            message: None,
                        },
                        DeferredResult::Rejected(r) => DeferredUsageResult {
                            index,
                            status: DeferredEventStatus::Rejected,
                            record: None,
                            code: Some(r.code.as_str().to_owned()),
                            message: Some(r.message),
                        },
                    }
                })
                .collect(),
        })
    }

    /// Charges pending records: the given ids, one tenant's, or all (operators).
    async fn process_pending_usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] input: ProcessUsageInput,
    ) -> async_graphql::Result<ProcessUsagePayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let sel = input.parse().gql()?;
        credits::process_pending_usage(state, actor, sel)
            .await
            .map(Into::into)
            .gql()
    }

    /// Puts failed records back to pending and processes them, e.g. after a top-up.
    async fn reprocess_failed_usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] input: ProcessUsageInput,
    ) -> async_graphql::Result<ProcessUsagePayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let sel = input.parse().gql()?;
        credits::reprocess_failed_usage(state, actor, sel)
            .await
            .map(Into::into)
            .gql()
    }
}
