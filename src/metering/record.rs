//! `recordUsage`: one transaction per batch, holding the tenant's lock, writes the events,
//! their aggregates, the block charges they cause and the invoice that bills those blocks.
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use uuid::Uuid;

use super::batch::{BatchInput, BatchPlan, Decision, decide};
use super::immediate_blocks;
use super::write::Batch;
use crate::auth::Actor;
use crate::domain::MAX_BATCH_EVENTS;
use crate::domain::{
    BlockCharge, Invoice, Plan, Rejection, Subscription, TenantId, UsageEventId, UsageReport,
    parse_metadata, parse_operation, parse_quantity, parse_usage_key,
};
use crate::error::{Error, Result};
use crate::live::Change;
use crate::state::AppState;
use crate::{accounts, invoicing, store, subscriptions};

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
        metric_code: metric_code(&raw.metric_code).into_owned(),
        occurred_at: raw.occurred_at,
    })
}

/// The metric code as the catalog spells it: trimmed, ASCII lower case; borrowed when the
/// client already sent it so (the common case), so that a big batch does not allocate it.
fn metric_code(raw: &str) -> Cow<'_, str> {
    let trimmed = raw.trim();
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    }
}

/// Records a batch of usage for one tenant. A service key or the admin names the tenant; a
/// tenant credential reports for its own.
#[tracing::instrument(skip_all, fields(events = events.len()))]
pub async fn record_usage(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    events: Vec<RawEvent>,
) -> Result<RecordOutcome> {
    let tenant = actor.tenant_for(tenant)?;
    if events.is_empty() || events.len() > MAX_BATCH_EVENTS {
        return Err(Error::validation(
            "events",
            format!("a batch holds 1 to {MAX_BATCH_EVENTS} events"),
        ));
    }
    let account = accounts::tenants::active(state, Some(actor), tenant).await?;
    let now = state.clock.now();
    let reports: Vec<(Option<String>, Result<UsageReport, Rejection>)> =
        events.iter().map(parse).collect();
    let codes: Vec<String> = reports
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().map(|r| r.metric_code.as_str()))
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let metrics = state.metric_catalog.by_codes(&state.db, &codes).await?;
    let (txn, live) = begin_current(state, tenant, now).await?;
    let plan = match &live {
        Some(sub) => Some(state.plans.get(&txn, sub.plan_id).await?),
        None => None,
    };
    let keys: Vec<&str> = reports.iter().filter_map(|(k, _)| k.as_deref()).collect();
    let metric_ids: Vec<Uuid> = metrics.values().map(|m| m.id.0).collect();
    // Blocks already charged in the period, so that a plan changed mid-period neither charges
    // a block twice nor skips one: none charged is 0 for every metric the batch names.
    let with_blocks = plan.as_deref().is_some_and(has_immediate_blocks);
    let period = live.as_ref().map(|sub| store::metering::Period {
        subscription: sub.id,
        cycle: sub.cycle,
    });
    let read =
        store::metering::batch_state(&txn, tenant, &keys, period, &metric_ids, with_blocks).await?;
    let existing = read.existing;
    let charged = if with_blocks && live.is_some() {
        metric_ids
            .iter()
            .map(|m| (*m, read.highest.get(m).copied().unwrap_or(0)))
            .collect()
    } else {
        HashMap::new()
    };
    let totals = read.totals;
    let mut decided = decide(
        BatchInput {
            now,
            subscription: live.as_ref(),
            plan: plan.as_deref(),
            metrics: &metrics,
            existing: &existing,
            totals,
            charged,
        },
        reports,
    );
    if !decided.blocks.is_empty() {
        // Nothing is written: the transaction rolls back when dropped.
        accounts::tenants::require_paid_up(&account, "usage beyond the included amount")?;
    }

    let accepted = std::mem::take(&mut decided.accepted);
    let (charges, invoice) = match (&live, &plan) {
        (Some(sub), Some(plan)) => {
            let batch = Batch {
                state,
                tenant,
                sub,
                plan,
                metrics: metrics.values().map(|m| (m.id.0, m)).collect(),
                decided: &decided,
                now,
            };
            batch.write(&txn, accepted).await?
        }
        _ => (Vec::new(), None),
    };
    let previous = previous_charges(&txn, &decided, &existing).await?;
    txn.commit().await?;
    for metric in codes {
        state.live.publish(tenant, Change::Usage { metric });
    }
    if !decided.crossings.is_empty() {
        state.live.publish(tenant, Change::Notification);
    }
    if let Some(invoice) = &invoice {
        invoicing::announce(state, invoice);
    }

    let mut by_event: HashMap<UsageEventId, Vec<BlockCharge>> = previous;
    for c in &charges {
        by_event.entry(c.event_id).or_default().push(c.clone());
    }
    count_in_metrics(state, &events, &decided.decisions, &metrics, &charges);
    let results: Vec<EventResult> = events
        .into_iter()
        .zip(decided.decisions)
        .enumerate()
        .map(|(index, (raw, decision))| EventResult {
            index,
            idempotency_key: raw.idempotency_key,
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
    let mut out: HashMap<UsageEventId, Vec<BlockCharge>> = HashMap::new();
    for charge in store::metering::charges_of_events(db, &earlier).await? {
        out.entry(charge.event_id).or_default().push(charge);
    }
    Ok(out)
}

fn has_immediate_blocks(plan: &Plan) -> bool {
    plan.charges.iter().any(|c| immediate_blocks(c).is_some())
}

/// Counts the batch in `/metrics`: each event's outcome per metric code (a code not in the
/// catalog is `unknown`, so a client cannot mint labels), and each block charged. The events
/// are counted per (metric, outcome) first, so a big batch touches each counter once.
fn count_in_metrics(
    state: &AppState,
    events: &[RawEvent],
    decisions: &[Decision],
    catalog: &HashMap<String, crate::domain::BillableMetric>,
    charges: &[BlockCharge],
) {
    let mut counts: HashMap<(&str, &'static str), u64> = HashMap::new();
    for (raw, decision) in events.iter().zip(decisions) {
        let metric = catalog
            .get_key_value(metric_code(&raw.metric_code).as_ref())
            .map_or("unknown", |(code, _)| code.as_str());
        let outcome = match decision {
            Decision::Accepted(_) => "accepted",
            Decision::Duplicate(_) => "duplicate",
            Decision::Rejected(_) => "rejected",
        };
        *counts.entry((metric, outcome)).or_insert(0) += 1;
    }
    for ((metric, outcome), n) in counts {
        state.metrics.usage_events(metric, outcome, n);
    }
    for c in charges {
        let currency = c.currency();
        state.metrics.block_charge(
            &c.metric_code,
            currency.code(),
            c.amount.amount_minor,
            currency.exponent(),
        );
    }
}
