//! Webhooks to the SaaS (Standard Webhooks): event types, the stable JSON body of each event,
//! endpoints and the delivery log. Pure values; sending lives in `webhooks/`.
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{
    BlockCharge, Credits, Invoice, InvoiceId, Subscription, TenantId, WebhookDeliveryId,
    WebhookEndpointId, WebhookEventId,
};

str_enum!(WebhookEventType {
    InvoiceFinalized = "invoice.finalized",
    InvoicePaid = "invoice.paid",
    InvoiceVoided = "invoice.voided",
    PaymentFailed = "payment.failed",
    PaymentActionRequired = "payment.action_required",
    SubscriptionCreated = "subscription.created",
    SubscriptionUpdated = "subscription.updated",
    SubscriptionCanceled = "subscription.canceled",
    UsageThresholdReached = "usage.threshold_reached",
    UsageBlockCharged = "usage.block_charged",
    CreditsLowBalance = "credits.low_balance",
    CreditsDepleted = "credits.depleted",
    CreditsToppedUp = "credits.topped_up",
    TenantSuspended = "tenant.suspended",
    TenantReactivated = "tenant.reactivated",
});

// `Failed`: given up, because the endpoint was disabled (or deleted) before it succeeded.
str_enum!(WebhookDeliveryStatus {
    Pending = "pending",
    Succeeded = "succeeded",
    Failed = "failed",
});

/// Endpoints fail this long in a row before they are disabled.
pub const WEBHOOK_DISABLE_AFTER_DAYS: i64 = 5;
/// A rotated secret keeps signing for this long beside the new one.
pub const WEBHOOK_SECRET_OVERLAP_HOURS: i64 = 24;
/// Longest endpoint URL.
pub const WEBHOOK_URL_MAX_LEN: usize = 2048;

#[derive(Clone, Debug, PartialEq)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    /// `None`: the operator's endpoint, receiving every tenant's events.
    pub tenant_id: Option<TenantId>,
    pub url: String,
    /// Empty: every type.
    pub event_types: Vec<WebhookEventType>,
    pub enabled: bool,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl WebhookEndpoint {
    /// The secrets that sign a request sent at `now`: the current one, and the previous one
    /// during the overlap after a rotation.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(old), Some(until)) = (&self.previous_secret, self.previous_secret_until)
            && now < until
        {
            secrets.push(old);
        }
        secrets
    }

    pub fn wants(&self, kind: WebhookEventType) -> bool {
        self.event_types.is_empty() || self.event_types.contains(&kind)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct WebhookEvent {
    pub id: WebhookEventId,
    pub tenant_id: Option<TenantId>,
    pub kind: WebhookEventType,
    /// The exact body sent.
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WebhookDelivery {
    pub id: WebhookDeliveryId,
    pub endpoint_id: WebhookEndpointId,
    pub event_id: WebhookEventId,
    pub tenant_id: Option<TenantId>,
    pub status: WebhookDeliveryStatus,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub replay_of: Option<WebhookDeliveryId>,
    pub created_at: DateTime<Utc>,
}

/// An event before it is stored. Built only through the constructors, which own each type's
/// dedupe key and JSON body: `{"type", "timestamp", "data"}` as the README documents.
#[derive(Clone, Debug, PartialEq)]
pub struct NewWebhookEvent {
    pub tenant: TenantId,
    pub kind: WebhookEventType,
    pub payload: String,
    pub dedupe_key: String,
    pub now: DateTime<Utc>,
}

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn opt_ts(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |a| Value::String(ts(a)))
}

impl NewWebhookEvent {
    fn new(
        tenant: TenantId,
        kind: WebhookEventType,
        key: String,
        data: Value,
        now: DateTime<Utc>,
    ) -> Self {
        let body = json!({"type": kind.as_str(), "timestamp": ts(now), "data": data});
        Self {
            tenant,
            kind,
            payload: body.to_string(),
            dedupe_key: format!("{}:{key}", kind.as_str()),
            now,
        }
    }

    fn invoice_data(inv: &Invoice) -> Value {
        json!({
            "tenant_id": inv.tenant_id.to_string(),
            "invoice_id": inv.id.to_string(),
            "number": inv.number,
            "status": inv.status.as_str(),
            "currency": inv.currency.to_string(),
            "total_minor": inv.total,
            "amount_due_minor": inv.amount_due,
            "amount_paid_minor": inv.amount_paid,
            "subscription_id": inv.subscription_id.map(|s| s.to_string()),
            "due_at": opt_ts(inv.due_at),
        })
    }

    pub fn invoice_finalized(inv: &Invoice, now: DateTime<Utc>) -> Self {
        let data = Self::invoice_data(inv);
        Self::new(
            inv.tenant_id,
            WebhookEventType::InvoiceFinalized,
            inv.id.to_string(),
            data,
            now,
        )
    }

    pub fn invoice_paid(inv: &Invoice, now: DateTime<Utc>) -> Self {
        let data = Self::invoice_data(inv);
        Self::new(
            inv.tenant_id,
            WebhookEventType::InvoicePaid,
            inv.id.to_string(),
            data,
            now,
        )
    }

    pub fn invoice_voided(inv: &Invoice, now: DateTime<Utc>) -> Self {
        let data = Self::invoice_data(inv);
        Self::new(
            inv.tenant_id,
            WebhookEventType::InvoiceVoided,
            inv.id.to_string(),
            data,
            now,
        )
    }

    /// Payment attempt `attempt` of `invoice` failed.
    pub fn payment_failed(
        tenant: TenantId,
        invoice: InvoiceId,
        attempt: i32,
        reason: &str,
        next_retry: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        let data = json!({
            "tenant_id": tenant.to_string(), "invoice_id": invoice.to_string(),
            "attempt": attempt, "reason": reason, "next_retry_at": opt_ts(next_retry),
        });
        let key = format!("{invoice}:{attempt}");
        Self::new(tenant, WebhookEventType::PaymentFailed, key, data, now)
    }

    /// Payment attempt `attempt` of `invoice` needs the payer to authenticate (3-D Secure).
    pub fn payment_action_required(
        tenant: TenantId,
        invoice: InvoiceId,
        attempt: i32,
        now: DateTime<Utc>,
    ) -> Self {
        let data = json!({
            "tenant_id": tenant.to_string(), "invoice_id": invoice.to_string(), "attempt": attempt,
        });
        let key = format!("{invoice}:{attempt}");
        Self::new(
            tenant,
            WebhookEventType::PaymentActionRequired,
            key,
            data,
            now,
        )
    }

    fn subscription_data(sub: &Subscription) -> Value {
        json!({
            "tenant_id": sub.tenant_id.to_string(),
            "subscription_id": sub.id.to_string(),
            "plan_id": sub.plan_id.to_string(),
            "status": sub.status.as_str(),
            "current_period_start": ts(sub.current_period_start),
            "current_period_end": ts(sub.current_period_end),
            "cancel_at_period_end": sub.cancel_at_period_end,
            "canceled_at": opt_ts(sub.canceled_at),
        })
    }

    pub fn subscription_created(sub: &Subscription, now: DateTime<Utc>) -> Self {
        let data = Self::subscription_data(sub);
        Self::new(
            sub.tenant_id,
            WebhookEventType::SubscriptionCreated,
            sub.id.to_string(),
            data,
            now,
        )
    }

    /// Keyed by the subscription's version, which every change moves on.
    pub fn subscription_updated(sub: &Subscription, now: DateTime<Utc>) -> Self {
        let data = Self::subscription_data(sub);
        let key = format!("{}:{}", sub.id, sub.version);
        Self::new(
            sub.tenant_id,
            WebhookEventType::SubscriptionUpdated,
            key,
            data,
            now,
        )
    }

    pub fn subscription_canceled(sub: &Subscription, now: DateTime<Utc>) -> Self {
        let data = Self::subscription_data(sub);
        Self::new(
            sub.tenant_id,
            WebhookEventType::SubscriptionCanceled,
            sub.id.to_string(),
            data,
            now,
        )
    }

    /// Usage of `metric` reached `percent` of the plan's limit in cycle `cycle`.
    pub fn usage_threshold_reached(
        tenant: TenantId,
        sub: super::SubscriptionId,
        cycle: i32,
        metric: &str,
        percent: i64,
        now: DateTime<Utc>,
    ) -> Self {
        let data = json!({
            "tenant_id": tenant.to_string(), "subscription_id": sub.to_string(),
            "cycle": cycle, "metric": metric, "percent": percent,
        });
        let key = format!("{sub}:{metric}:{cycle}:{percent}");
        Self::new(
            tenant,
            WebhookEventType::UsageThresholdReached,
            key,
            data,
            now,
        )
    }

    /// A block of usage was charged.
    pub fn usage_block_charged(tenant: TenantId, c: &BlockCharge, now: DateTime<Utc>) -> Self {
        let data = json!({
            "tenant_id": tenant.to_string(), "block_charge_id": c.id.to_string(),
            "subscription_id": c.subscription_id.to_string(), "metric": c.metric_code,
            "cycle": c.cycle, "block_index": c.block_index, "tier": c.tier,
            "amount_minor": c.amount.amount_minor, "currency": c.amount.currency.to_string(),
            "invoice_id": c.invoice_id.to_string(),
        });
        Self::new(
            tenant,
            WebhookEventType::UsageBlockCharged,
            c.id.to_string(),
            data,
            now,
        )
    }

    /// The balance fell below `threshold` with ledger entry `entry`.
    pub fn credits_low_balance(
        tenant: TenantId,
        entry: &str,
        balance: Credits,
        threshold: i64,
        now: DateTime<Utc>,
    ) -> Self {
        let data = json!({
            "tenant_id": tenant.to_string(), "ledger_entry_id": entry,
            "balance": balance.to_string(), "threshold": threshold,
        });
        Self::new(
            tenant,
            WebhookEventType::CreditsLowBalance,
            entry.to_owned(),
            data,
            now,
        )
    }

    /// The balance reached zero with ledger entry `entry`.
    pub fn credits_depleted(tenant: TenantId, entry: &str, now: DateTime<Utc>) -> Self {
        let data =
            json!({"tenant_id": tenant.to_string(), "ledger_entry_id": entry, "balance": "0"});
        Self::new(
            tenant,
            WebhookEventType::CreditsDepleted,
            entry.to_owned(),
            data,
            now,
        )
    }

    /// A top-up (`topup`) added `credits`, leaving `balance`.
    pub fn credits_topped_up(
        tenant: TenantId,
        topup: &str,
        credits: Credits,
        balance: Credits,
        now: DateTime<Utc>,
    ) -> Self {
        let data = json!({
            "tenant_id": tenant.to_string(), "topup_id": topup,
            "credits": credits.to_string(), "balance": balance.to_string(),
        });
        Self::new(
            tenant,
            WebhookEventType::CreditsToppedUp,
            topup.to_owned(),
            data,
            now,
        )
    }

    /// The tenant was suspended; `reason` as recorded. Each call is one event: call it once,
    /// in the transaction that changes the status.
    pub fn tenant_suspended(tenant: TenantId, reason: Option<&str>, now: DateTime<Utc>) -> Self {
        let data =
            json!({"tenant_id": tenant.to_string(), "status": "suspended", "reason": reason});
        let key = format!("{tenant}:{}", WebhookEventId::new());
        Self::new(tenant, WebhookEventType::TenantSuspended, key, data, now)
    }

    /// The tenant became active again. Each call is one event, like `tenant_suspended`.
    pub fn tenant_reactivated(tenant: TenantId, now: DateTime<Utc>) -> Self {
        let data = json!({"tenant_id": tenant.to_string(), "status": "active"});
        let key = format!("{tenant}:{}", WebhookEventId::new());
        Self::new(tenant, WebhookEventType::TenantReactivated, key, data, now)
    }
}
