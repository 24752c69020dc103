//! The writing half of a usage batch, inside its transaction: the accepted events, the period
//! aggregates, limit notices, and the block charges with the one invoice that bills them.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::batch::{Accepted, BatchPlan};
use super::{charge_for, immediate_blocks};
use crate::domain::NewWebhookEvent;
use crate::domain::keys::invoice_source;
use crate::domain::{
    BillableMetric, BillingReason, BlockCharge, BlockChargeId, Invoice, LineKind, Money,
    NewInvoice, NewLine, NewNotification, NewUsageEvent, Plan, Subscription, TenantId,
    UsageTotalChange,
};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::{invoicing, pricing, store};

/// What one batch writes against: the tenant's live subscription and plan, the metrics it
/// named, and the decision taken for its events.
pub(super) struct Batch<'a> {
    pub state: &'a AppState,
    pub tenant: TenantId,
    pub sub: &'a Subscription,
    pub plan: &'a Plan,
    pub metrics: HashMap<Uuid, &'a BillableMetric>,
    pub decided: &'a BatchPlan,
    pub now: DateTime<Utc>,
}

impl Batch<'_> {
    fn metric(&self, id: &Uuid) -> Result<&BillableMetric> {
        self.metrics
            .get(id)
            .copied()
            .ok_or_else(|| Error::internal("a decided event has no metric"))
    }

    /// Writes everything the decision asks for, with its `accepted` events (taken out of the
    /// decision so that they are moved, not copied); the block charges made and their invoice.
    pub async fn write(
        &self,
        db: &impl ConnectionTrait,
        accepted: Vec<Accepted>,
    ) -> Result<(Vec<BlockCharge>, Option<Invoice>)> {
        self.store_events(db, accepted).await?;
        self.notify_crossings(db).await?;
        if self.decided.blocks.is_empty() {
            return Ok((Vec::new(), None));
        }
        self.bill_blocks(db).await
    }

    /// Stores the accepted events and folds their quantities into the period's aggregates, in
    /// metric order so that concurrent batches take row locks in the same order.
    async fn store_events(&self, db: &impl ConnectionTrait, accepted: Vec<Accepted>) -> Result<()> {
        let sub = self.sub;
        let events = accepted
            .into_iter()
            .map(|a| NewUsageEvent {
                id: a.id,
                tenant: self.tenant,
                subscription: sub.id,
                metric: a.metric,
                cycle: sub.cycle,
                quantity: a.report.quantity,
                operation_type: a.report.operation_type,
                idempotency_key: a.report.idempotency_key,
                occurred_at: a.occurred_at,
                recorded_at: self.now,
                metadata: a.report.metadata,
            })
            .collect();
        let mut deltas: Vec<(&Uuid, &(i64, i64))> = self.decided.deltas.iter().collect();
        deltas.sort();
        let changes = deltas
            .into_iter()
            .map(|(metric, (value, events))| {
                Ok(UsageTotalChange {
                    tenant: self.tenant,
                    subscription: sub.id,
                    metric: *metric,
                    cycle: sub.cycle,
                    period_start: sub.current_period_start,
                    period_end: sub.current_period_end,
                    aggregation: self.metric(metric)?.aggregation,
                    value: *value,
                    events: *events,
                    plan: self.plan.id,
                    now: self.now,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        store::metering::write_batch(db, events, changes).await
    }

    async fn notify_crossings(&self, db: &impl ConnectionTrait) -> Result<()> {
        for (code, percent) in &self.decided.crossings {
            let sub = self.sub;
            let notice = NewNotification::usage_limit(
                self.tenant,
                sub.id,
                sub.cycle,
                code,
                *percent,
                self.now,
            );
            store::notify::record_once(db, notice).await?;
            // Webhooks.
            let event = NewWebhookEvent::usage_threshold_reached(
                self.tenant,
                sub.id,
                sub.cycle,
                code,
                *percent,
                self.now,
            );
            store::webhooks::emit(db, event).await?;
        }
        Ok(())
    }

    /// Writes one block charge per new block and the one invoice that bills them.
    async fn bill_blocks(
        &self,
        db: &impl ConnectionTrait,
    ) -> Result<(Vec<BlockCharge>, Option<Invoice>)> {
        let (sub, now) = (self.sub, self.now);
        let currency = self.plan.monthly_price.currency;
        let mut drafts = Vec::with_capacity(self.decided.blocks.len());
        let mut lines = Vec::with_capacity(self.decided.blocks.len());
        for block in &self.decided.blocks {
            let metric = self.metric(&block.metric)?;
            let b = charge_for(self.plan, &metric.code)
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
        let new = NewInvoice {
            tenant: self.tenant,
            subscription: Some(sub.id),
            billing_reason: BillingReason::UsageBlocks,
            cycle: Some(sub.cycle),
            currency,
            totals,
            coupon_code: None,
            period_start: sub.current_period_start,
            period_end: sub.current_period_end,
            source_key: Some(invoice_source::blocks(first)),
            lines,
            now,
        };
        let invoice = invoicing::issue(db, self.state, new, now)
            .await?
            .ok_or_else(|| Error::internal("block invoice key reused"))?;
        let charges: Vec<(Uuid, BlockCharge)> = drafts
            .into_iter()
            .map(|(id, metric_code, block, tier, price)| {
                let charge = BlockCharge {
                    id,
                    subscription_id: sub.id,
                    metric_code,
                    cycle: sub.cycle,
                    block_index: block.index,
                    tier,
                    amount: Money::new(price, currency),
                    event_id: block.event,
                    invoice_id: invoice.id,
                    created_at: now,
                };
                (block.metric, charge)
            })
            .collect();
        store::metering::insert_charges(db, self.tenant, self.plan.id, &charges).await?;
        // Webhooks: one event per block charged.
        for (_, c) in &charges {
            let event = NewWebhookEvent::usage_block_charged(self.tenant, c, self.now);
            store::webhooks::emit(db, event).await?;
        }
        let charges = charges.into_iter().map(|(_, c)| c).collect();
        Ok((charges, Some(invoice)))
    }
}
