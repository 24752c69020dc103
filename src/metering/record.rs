//! `recordUsage`: one transaction per batch, holding the tenant's lock, writes the events,
//! their aggregates, the block charges they cause and the invoice that bills those blocks.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::block_charges;
use sea_orm::{ConnectionTrait, DatabaseTransaction, Set};
use uuid::Uuid;

use super::batch::{BatchInput, BatchPlan, Decision, decide};
use super::{charge_for, charge_to_domain, immediate_blocks};
use crate::accounts::Actor;
use crate::domain::{
    BillableMetric, BillingReason, BlockCharge, BlockChargeId, Invoice, LineKind, NewLine, Plan,
    Rejection, Subscription, TenantId, TenantStatus, UsageEventId, UsageReport, parse_metadata,
    parse_operation, parse_quantity, parse_usage_key,
};
use crate::error::{Error, OptionExt, Result};
use crate::state::AppState;
use crate::store;
use crate::store::invoices::NewInvoice;
use crate::store::notifications::NewNotification;
use crate::{invoicing, pricing, subscriptions};

/// Most events in one call.
pub const MAX_BATCH: usize = 1000;

/// An event as it arrived; checked here so that a bad event is refused alone.
#[derive(Clone, Debug)]
pub struct RawEvent {
    pub metric_code: String,
    pub quantity: i64,
    pub idempotency_key: String,
    pub occurred_at: Option<DateTime<Utc>>,
    pub operation_type: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

#[derive(Clone, Debug)]
pub enum EventOutcome {
    Accepted {
        event: UsageEventId,
        charges: Vec<BlockCharge>,
    },
    /// The key was accepted before: the first event and the charges it caused.
    Duplicate {
        event: UsageEventId,
        charges: Vec<BlockCharge>,
    },
    Rejected(Rejection),
}

#[derive(Clone, Debug)]
pub struct EventResult {
    pub index: usize,
    pub idempotency_key: String,
    pub outcome: EventOutcome,
}

#[derive(Clone, Debug)]
pub struct RecordOutcome {
    pub results: Vec<EventResult>,
    pub charges: Vec<BlockCharge>,
    pub invoice: Option<Invoice>,
}

/// The event's key, if it is well formed, and the event if all of it is: a key seen before
/// answers as a duplicate whatever the rest of the resent event says.
fn parse(raw: &RawEvent) -> (Option<String>, Result<UsageReport, Rejection>) {
    match parse_usage_key(&raw.idempotency_key) {
        Err(rejection) => (None, Err(rejection)),
        Ok(key) => (Some(key.clone()), parse_rest(raw, key)),
    }
}

fn parse_rest(raw: &RawEvent, idempotency_key: String) -> Result<UsageReport, Rejection> {
    Ok(UsageReport {
        idempotency_key,
        quantity: parse_quantity(raw.quantity)?,
        operation_type: parse_operation(raw.operation_type.as_deref())?,
        metadata: parse_metadata(raw.metadata.clone())?,
        metric_code: raw.metric_code.trim().to_ascii_lowercase(),
        occurred_at: raw.occurred_at,
    })
}

/// Records a batch of usage for one tenant. A service key or the admin names the tenant; a
/// tenant credential reports for its own.
pub async fn record_usage(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    events: Vec<RawEvent>,
) -> Result<RecordOutcome> {
    let tenant = actor.tenant_for(tenant)?;
    if events.is_empty() || events.len() > MAX_BATCH {
        return Err(Error::validation(
            "events",
            format!("a batch holds 1 to {MAX_BATCH} events"),
        ));
    }
    let found = store::tenants::find(&state.db, tenant)
        .await?
        .or_not_found("tenant")?;
    if found.status == TenantStatus::Suspended {
        return Err(Error::Forbidden("the tenant is suspended".into()));
    }
    let now = state.clock.now();
    let reports: Vec<(Option<String>, Result<UsageReport, Rejection>)> =
        events.iter().map(parse).collect();
    let mut codes: Vec<String> = reports
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().map(|r| r.metric_code.clone()))
        .collect();
    codes.sort();
    codes.dedup();
    let metrics = store::metrics::by_codes(&state.db, &codes).await?;
    let (txn, live) = begin_current(state, tenant, now).await?;
    let keys: Vec<String> = reports.iter().filter_map(|(k, _)| k.clone()).collect();
    let existing = store::usage::find_keys(&txn, tenant, &keys).await?;
    let plan = match &live {
        Some(sub) => Some(state.plans.get(&txn, sub.plan_id).await?),
        None => None,
    };
    let metric_ids: Vec<Uuid> = metrics.values().map(|m| m.id.0).collect();
    let totals = match &live {
        Some(sub) => store::usage::totals(&txn, sub.id, sub.cycle, &metric_ids)
            .await?
            .into_iter()
            .map(|(m, (q, _))| (m, q))
            .collect(),
        None => HashMap::new(),
    };
    let decided = decide(
        BatchInput {
            now,
            subscription: live.as_ref(),
            plan: plan.as_deref(),
            metrics: &metrics,
            existing: &existing,
            totals,
        },
        reports,
    );

    let (charges, invoice) = match (&live, &plan) {
        (Some(sub), Some(plan)) => {
            write(&txn, state, tenant, sub, plan, &metrics, &decided, now).await?
        }
        _ => (Vec::new(), None),
    };
    let previous = previous_charges(&txn, &decided, &existing).await?;
    txn.commit().await?;
    if let Some(invoice) = &invoice {
        invoicing::collect(state, invoice).await;
    }

    let mut by_event: HashMap<UsageEventId, Vec<BlockCharge>> = previous;
    for c in &charges {
        by_event.entry(c.event_id).or_default().push(c.clone());
    }
    let results = events
        .iter()
        .zip(decided.decisions)
        .enumerate()
        .map(|(index, (raw, decision))| EventResult {
            index,
            idempotency_key: raw.idempotency_key.clone(),
            outcome: match decision {
                Decision::Accepted(event) => EventOutcome::Accepted {
                    event,
                    charges: by_event.get(&event).cloned().unwrap_or_default(),
                },
                Decision::Duplicate(event) => EventOutcome::Duplicate {
                    event,
                    charges: by_event.get(&event).cloned().unwrap_or_default(),
                },
                Decision::Rejected(r) => EventOutcome::Rejected(r),
            },
        })
        .collect();
    Ok(RecordOutcome {
        results,
        charges,
        invoice,
    })
}

/// Opens the batch's transaction on the tenant's current period. If that period has ended and
/// the jobs have not run, the subscription is renewed first, so usage lands in the period it
/// belongs to.
async fn begin_current(
    state: &AppState,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<(DatabaseTransaction, Option<Subscription>)> {
    for _ in 0..1_000 {
        let (txn, live) = subscriptions::begin_for(state, tenant).await?;
        match live {
            Some(sub) if sub.current_period_end <= now => {
                txn.rollback().await?;
                subscriptions::renew_one(state, sub.id, now).await?;
            }
            live => return Ok((txn, live)),
        }
    }
    Err(Error::internal(
        "the subscription could not be brought up to date",
    ))
}

/// The charges earlier calls made for the events this batch found as duplicates.
async fn previous_charges(
    db: &impl ConnectionTrait,
    decided: &BatchPlan,
    existing: &HashMap<String, UsageEventId>,
) -> Result<HashMap<UsageEventId, Vec<BlockCharge>>> {
    let stored: std::collections::HashSet<&UsageEventId> = existing.values().collect();
    let mut earlier: Vec<Uuid> = decided
        .decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Duplicate(id) if stored.contains(id) => Some(id.0),
            _ => None,
        })
        .collect();
    earlier.sort();
    earlier.dedup();
    let rows = store::usage::charges_of_events(db, &earlier).await?;
    let codes = store::metrics::codes_by_id(db, rows.iter().map(|r| r.metric_id).collect()).await?;
    let mut out: HashMap<UsageEventId, Vec<BlockCharge>> = HashMap::new();
    for row in rows {
        let charge = charge_to_domain(row, &codes)?;
        out.entry(charge.event_id).or_default().push(charge);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn write(
    db: &impl ConnectionTrait,
    state: &AppState,
    tenant: TenantId,
    sub: &Subscription,
    plan: &Plan,
    metrics: &HashMap<String, BillableMetric>,
    decided: &BatchPlan,
    now: DateTime<Utc>,
) -> Result<(Vec<BlockCharge>, Option<Invoice>)> {
    let by_id: HashMap<Uuid, &BillableMetric> = metrics.values().map(|m| (m.id.0, m)).collect();
    store::usage::insert_events(
        db,
        decided
            .accepted
            .iter()
            .map(|a| store::usage::NewEvent {
                id: a.id,
                tenant,
                subscription: sub.id,
                metric: a.metric,
                cycle: sub.cycle,
                quantity: a.report.quantity,
                operation_type: a.report.operation_type.clone(),
                idempotency_key: a.report.idempotency_key.clone(),
                occurred_at: a.occurred_at,
                recorded_at: now,
                metadata: a.report.metadata.clone(),
            })
            .collect(),
    )
    .await?;
    let mut deltas: Vec<(&Uuid, &(i64, i64))> = decided.deltas.iter().collect();
    deltas.sort();
    for (metric, (value, events)) in deltas {
        let m = by_id
            .get(metric)
            .ok_or_else(|| Error::internal("accepted event without its metric"))?;
        store::usage::bump_total(
            db,
            store::usage::TotalChange {
                tenant,
                subscription: sub.id,
                metric: *metric,
                cycle: sub.cycle,
                period_start: sub.current_period_start,
                period_end: sub.current_period_end,
                aggregation: m.aggregation,
                value: *value,
                events: *events,
                now,
            },
        )
        .await?;
    }
    for (code, percent) in &decided.crossings {
        store::notifications::record_once(
            db,
            NewNotification {
                tenant,
                kind: if *percent >= 100 {
                    "usage_limit_100"
                } else {
                    "usage_limit_80"
                },
                reference: Some(sub.id.to_string()),
                message: format!("Usage of {code} reached {percent}% of the plan's limit."),
                dedupe_key: format!("usage_limit_{percent}:{}:{code}:{}", sub.id, sub.cycle),
                now,
            },
        )
        .await?;
    }
    if decided.blocks.is_empty() {
        return Ok((Vec::new(), None));
    }
    bill_blocks(db, state, tenant, sub, plan, &by_id, decided, now).await
}

/// Writes one block charge per new block and the one invoice that bills them.
#[allow(clippy::too_many_arguments)]
async fn bill_blocks(
    db: &impl ConnectionTrait,
    state: &AppState,
    tenant: TenantId,
    sub: &Subscription,
    plan: &Plan,
    by_id: &HashMap<Uuid, &BillableMetric>,
    decided: &BatchPlan,
    now: DateTime<Utc>,
) -> Result<(Vec<BlockCharge>, Option<Invoice>)> {
    let currency = plan.monthly_price.currency;
    let mut drafts = Vec::with_capacity(decided.blocks.len());
    let mut lines = Vec::with_capacity(decided.blocks.len());
    for block in &decided.blocks {
        let metric = by_id
            .get(&block.metric)
            .ok_or_else(|| Error::internal("block without its metric"))?;
        let b = charge_for(plan, &metric.code)
            .and_then(immediate_blocks)
            .ok_or_else(|| Error::internal("block charge without a block price"))?;
        let tier = pricing::tier_label(block.index, b.included, b.size);
        lines.push(NewLine {
            description: format!("{} block {} ({tier})", metric.name, block.index),
            quantity: 1,
            unit_amount_minor: b.price,
            amount_minor: b.price,
            period_start: sub.current_period_start,
            period_end: sub.current_period_end,
            kind: LineKind::Usage,
        });
        drafts.push((
            BlockChargeId::new(),
            metric.code.clone(),
            block,
            tier,
            b.price,
        ));
    }
    let amounts: Vec<i64> = lines.iter().map(|l| l.amount_minor).collect();
    let totals = pricing::invoice_totals(&amounts, None)
        .ok_or_else(|| Error::internal("block invoice overflow"))?;
    let first = drafts
        .first()
        .map(|d| d.0)
        .ok_or_else(|| Error::internal("no block to bill"))?;
    let invoice = invoicing::issue(
        db,
        state,
        NewInvoice {
            tenant,
            subscription: Some(sub.id),
            billing_reason: BillingReason::UsageBlocks,
            cycle: Some(sub.cycle),
            currency,
            totals,
            coupon_code: None,
            period_start: sub.current_period_start,
            period_end: sub.current_period_end,
            source_key: Some(format!("blocks:{first}")),
            lines,
            now,
        },
        now,
    )
    .await?
    .ok_or_else(|| Error::internal("block invoice key reused"))?;
    let rows = drafts
        .iter()
        .map(|(id, _, block, tier, price)| block_charges::ActiveModel {
            id: Set(id.0),
            tenant_id: Set(tenant.0),
            subscription_id: Set(sub.id.0),
            metric_id: Set(block.metric),
            cycle: Set(sub.cycle),
            block_index: Set(block.index),
            tier: Set(tier.clone()),
            amount_minor: Set(*price),
            currency: Set(currency.code().to_owned()),
            event_id: Set(block.event.0),
            invoice_id: Set(invoice.id.0),
            created_at: Set(now),
        })
        .collect();
    store::usage::insert_charges(db, rows).await?;
    let charges = drafts
        .into_iter()
        .map(|(id, code, block, tier, price)| BlockCharge {
            id,
            subscription_id: sub.id,
            metric_code: code,
            cycle: sub.cycle,
            block_index: block.index,
            tier,
            amount: crate::domain::Money::new(price, currency),
            event_id: block.event,
            invoice_id: invoice.id,
            created_at: now,
        })
        .collect();
    Ok((charges, Some(invoice)))
}
