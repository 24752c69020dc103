//! Inputs and outputs of usage metering.
use async_graphql::{Enum, ID, InputObject, Json, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::BlockCharge;
use crate::graphql::catalog::inputs::EnforcementGql;
use crate::graphql::invoicing::types::InvoiceOut;
use crate::graphql::scalars::{BigInt, MoneyOut};
use crate::metering::{
    CostEstimate, EventOutcome, EventResult, OperationUsage, RawEvent, RecordOutcome, UsageSummary,
};

#[derive(InputObject)]
pub struct UsageEventInput {
    pub metric_code: String,
    /// A non-negative 64-bit integer.
    pub quantity: BigInt,
    /// 1 to 128 of `A-Z a-z 0-9 _ . : -`. Resending a key returns the first result.
    pub idempotency_key: String,
    /// Default: now. More than 5 minutes ahead is refused (`OCCURRED_IN_FUTURE`); before the
    /// current period is refused (`PERIOD_CLOSED`).
    pub occurred_at: Option<DateTime<Utc>>,
    /// e.g. `chat`, `diagnosis`; `default` when omitted.
    pub operation_type: Option<String>,
    /// A JSON object of at most 2048 bytes.
    pub metadata: Option<Json<serde_json::Value>>,
}

impl From<UsageEventInput> for RawEvent {
    fn from(e: UsageEventInput) -> Self {
        RawEvent {
            metric_code: e.metric_code,
            quantity: e.quantity.0,
            idempotency_key: e.idempotency_key,
            occurred_at: e.occurred_at,
            operation_type: e.operation_type,
            metadata: e.metadata.map(|m| m.0),
        }
    }
}

#[derive(InputObject)]
pub struct RecordUsageInput {
    /// Service keys and the admin name the tenant; tenant credentials report for their own.
    pub tenant_id: Option<ID>,
    /// 1 to 1000 events.
    pub events: Vec<UsageEventInput>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum UsageEventStatus {
    Accepted,
    Duplicate,
    Rejected,
}

#[derive(SimpleObject)]
#[graphql(name = "BlockCharge")]
pub struct BlockChargeOut {
    id: ID,
    subscription_id: ID,
    metric_code: String,
    cycle: i32,
    /// 1 for the first block above the included units.
    block_index: i32,
    /// The range the block covers, e.g. `8M-16M`.
    tier: String,
    amount: MoneyOut,
    /// The event whose usage crossed into the block.
    event_id: ID,
    /// The immediate invoice that bills it.
    invoice_id: ID,
    created_at: DateTime<Utc>,
}

impl From<BlockCharge> for BlockChargeOut {
    fn from(c: BlockCharge) -> Self {
        Self {
            id: ID(c.id.to_string()),
            subscription_id: ID(c.subscription_id.to_string()),
            metric_code: c.metric_code,
            cycle: c.cycle,
            block_index: i32::try_from(c.block_index).unwrap_or(i32::MAX),
            tier: c.tier,
            amount: MoneyOut(c.amount),
            event_id: ID(c.event_id.to_string()),
            invoice_id: ID(c.invoice_id.to_string()),
            created_at: c.created_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct UsageEventResult {
    index: i32,
    idempotency_key: String,
    status: UsageEventStatus,
    /// The stored event; for a duplicate, the first event with this key.
    event_id: Option<ID>,
    /// Why it was refused: INVALID_QUANTITY, INVALID_KEY, INVALID_OPERATION, INVALID_METADATA,
    /// UNKNOWN_METRIC, NO_SUBSCRIPTION, OCCURRED_IN_FUTURE, PERIOD_CLOSED, LIMIT_EXCEEDED.
    code: Option<String>,
    message: Option<String>,
    /// The block charges this event caused (for a duplicate, those of the first event).
    block_charges: Vec<BlockChargeOut>,
}

impl From<EventResult> for UsageEventResult {
    fn from(r: EventResult) -> Self {
        let (status, event_id, code, message, charges) = match r.outcome {
            EventOutcome::Accepted { event, charges } => {
                (UsageEventStatus::Accepted, Some(event), None, None, charges)
            }
            EventOutcome::Duplicate { event, charges } => (
                UsageEventStatus::Duplicate,
                Some(event),
                None,
                None,
                charges,
            ),
            EventOutcome::Rejected(rej) => (
                UsageEventStatus::Rejected,
                None,
                Some(rej.code.as_str().to_owned()),
                Some(rej.message),
                Vec::new(),
            ),
        };
        Self {
            index: i32::try_from(r.index).unwrap_or(i32::MAX),
            idempotency_key: r.idempotency_key,
            status,
            event_id: event_id.map(|e| ID(e.to_string())),
            code,
            message,
            block_charges: charges.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(SimpleObject)]
pub struct RecordUsagePayload {
    /// One per input event, in input order.
    results: Vec<UsageEventResult>,
    accepted: i32,
    duplicates: i32,
    rejected: i32,
    /// Block charges made by this call.
    block_charges: Vec<BlockChargeOut>,
    /// The immediate invoice for those blocks, if any.
    invoice: Option<InvoiceOut>,
}

impl From<RecordOutcome> for RecordUsagePayload {
    fn from(o: RecordOutcome) -> Self {
        let results: Vec<UsageEventResult> = o.results.into_iter().map(Into::into).collect();
        let count = |s: UsageEventStatus| {
            i32::try_from(results.iter().filter(|r| r.status == s).count()).unwrap_or(i32::MAX)
        };
        Self {
            accepted: count(UsageEventStatus::Accepted),
            duplicates: count(UsageEventStatus::Duplicate),
            rejected: count(UsageEventStatus::Rejected),
            results,
            block_charges: o.charges.into_iter().map(Into::into).collect(),
            invoice: o.invoice.map(Into::into),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "OperationUsage")]
pub struct OperationUsageOut {
    operation_type: String,
    quantity: BigInt,
    events: i32,
}

impl From<OperationUsage> for OperationUsageOut {
    fn from(o: OperationUsage) -> Self {
        Self {
            operation_type: o.operation_type,
            quantity: BigInt(o.quantity),
            events: i32::try_from(o.events).unwrap_or(i32::MAX),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "UsageSummary")]
pub struct UsageSummaryOut {
    subscription_id: ID,
    metric_code: String,
    cycle: i32,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    total_quantity: BigInt,
    events: i32,
    included_units: Option<BigInt>,
    /// The block the usage is in, e.g. `8M-16M`; `0-8M` within the included units.
    current_tier: String,
    /// The fee on this period's invoice; 0 during a trial.
    fixed_fee_charged: MoneyOut,
    block_charges_count: i32,
    block_charges_total: MoneyOut,
    /// Fixed fee plus block charges.
    total_charged: MoneyOut,
    by_operation: Vec<OperationUsageOut>,
    limit: Option<BigInt>,
    enforcement: Option<EnforcementGql>,
    /// A soft limit was exceeded in this period.
    over_limit: bool,
}

impl From<UsageSummary> for UsageSummaryOut {
    fn from(s: UsageSummary) -> Self {
        Self {
            subscription_id: ID(s.subscription_id.to_string()),
            metric_code: s.metric_code,
            cycle: s.cycle,
            period_start: s.period_start,
            period_end: s.period_end,
            total_quantity: BigInt(s.total_quantity),
            events: i32::try_from(s.events).unwrap_or(i32::MAX),
            included_units: s.included_units.map(BigInt),
            current_tier: s.current_tier,
            fixed_fee_charged: MoneyOut(s.fixed_fee_charged),
            block_charges_count: i32::try_from(s.block_charges_count).unwrap_or(i32::MAX),
            block_charges_total: MoneyOut(s.block_charges_total),
            total_charged: MoneyOut(s.total_charged),
            by_operation: s.by_operation.into_iter().map(Into::into).collect(),
            limit: s.limit.map(BigInt),
            enforcement: s.enforcement.map(Into::into),
            over_limit: s.over_limit,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "CostEstimate")]
pub struct CostEstimateOut {
    plan_code: String,
    metric_code: String,
    quantity: BigInt,
    fixed_fee: MoneyOut,
    usage_charge: MoneyOut,
    blocks: BigInt,
    tier: String,
    total: MoneyOut,
}

impl From<CostEstimate> for CostEstimateOut {
    fn from(e: CostEstimate) -> Self {
        Self {
            plan_code: e.plan_code,
            metric_code: e.metric_code,
            quantity: BigInt(e.quantity),
            fixed_fee: MoneyOut(e.fixed_fee),
            usage_charge: MoneyOut(e.usage_charge),
            blocks: BigInt(e.blocks),
            tier: e.tier,
            total: MoneyOut(e.total),
        }
    }
}
