//! Notifications: one row per event worth telling a tenant about, recorded once per key.
use chrono::{DateTime, Utc};

use super::{Credits, InvoiceId, LedgerEntryId, NotificationId, SubscriptionId, TenantId};

str_enum!(NotificationKind {
    TrialEnding = "trial_ending",
    InvoiceOverdue = "invoice_overdue",
    UsageLimit80 = "usage_limit_80",
    UsageLimit100 = "usage_limit_100",
    LowBalance = "low_balance",
    PaymentFailed = "payment_failed",
    PaymentActionRequired = "payment_action_required",
    PaymentMethodRequired = "payment_method_required",
    WebhookEndpointDisabled = "webhook_endpoint_disabled",
});

#[derive(Clone, Debug)]
pub struct Notification {
    pub id: NotificationId,
    pub tenant_id: TenantId,
    pub kind: NotificationKind,
    pub reference: Option<String>,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// A notification before it is stored. Built only through the constructors below, which own
/// each kind's dedupe key: the same event is recorded once, however often it is seen.
pub struct NewNotification {
    pub tenant: TenantId,
    pub kind: NotificationKind,
    pub reference: Option<String>,
    pub message: String,
    pub dedupe_key: String,
    pub now: DateTime<Utc>,
}

impl NewNotification {
    pub fn trial_ending(
        tenant: TenantId,
        sub: SubscriptionId,
        trial_end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant,
            kind: NotificationKind::TrialEnding,
            reference: Some(sub.to_string()),
            message: format!(
                "The trial ends on {}.",
                trial_end.format("%Y-%m-%d %H:%M UTC")
            ),
            dedupe_key: format!("trial_ending:{sub}:{}", trial_end.timestamp()),
            now,
        }
    }

    pub fn invoice_overdue(
        tenant: TenantId,
        invoice: InvoiceId,
        number: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant,
            kind: NotificationKind::InvoiceOverdue,
            reference: Some(invoice.to_string()),
            message: format!(
                "Invoice {} is overdue.",
                number.unwrap_or_else(|| invoice.to_string())
            ),
            dedupe_key: format!("invoice_overdue:{invoice}"),
            now,
        }
    }

    /// Usage of `metric` reached `percent` (80 or 100) of the plan's limit in `cycle`.
    pub fn usage_limit(
        tenant: TenantId,
        sub: SubscriptionId,
        cycle: i32,
        metric: &str,
        percent: i64,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant,
            kind: if percent >= 100 {
                NotificationKind::UsageLimit100
            } else {
                NotificationKind::UsageLimit80
            },
            reference: Some(sub.to_string()),
            message: format!("Usage of {metric} reached {percent}% of the plan's limit."),
            dedupe_key: format!("usage_limit_{percent}:{sub}:{metric}:{cycle}"),
            now,
        }
    }

    /// The balance fell below `threshold` credits with ledger entry `entry`.
    pub fn low_balance(
        tenant: TenantId,
        entry: LedgerEntryId,
        balance: Credits,
        threshold: i64,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant,
            kind: NotificationKind::LowBalance,
            reference: Some(entry.to_string()),
            message: format!("The credit balance is {balance} credits, below {threshold}."),
            dedupe_key: format!("low_balance:{entry}"),
            now,
        }
    }

    /// Collecting `invoice` failed on attempt `attempt`; `next_retry` says when it is tried
    /// again, if it is.
    pub fn payment_failed(
        tenant: TenantId,
        invoice: InvoiceId,
        attempt: i32,
        reason: &str,
        next_retry: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        let next = match next_retry {
            Some(at) => format!(" It will be tried again on {}.", at.format("%Y-%m-%d")),
            None => " Add or update a payment method to pay it.".into(),
        };
        Self {
            tenant,
            kind: NotificationKind::PaymentFailed,
            reference: Some(invoice.to_string()),
            message: format!("The payment of invoice {invoice} failed: {reason}.{next}"),
            dedupe_key: format!("payment_failed:{invoice}:{attempt}"),
            now,
        }
    }

    /// The payer must authenticate the payment of `invoice` (3-D Secure) in the SPA, with the
    /// PaymentIntent's client secret.
    pub fn payment_action_required(
        tenant: TenantId,
        invoice: InvoiceId,
        attempt: i32,
        client_secret: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant,
            kind: NotificationKind::PaymentActionRequired,
            reference: Some(invoice.to_string()),
            message: format!(
                "The payment of invoice {invoice} needs your confirmation. client_secret={client_secret}"
            ),
            dedupe_key: format!("payment_action_required:{invoice}:{attempt}"),
            now,
        }
    }

    /// `invoice` cannot be collected: the tenant has no payment method.
    pub fn payment_method_required(
        tenant: TenantId,
        invoice: InvoiceId,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant,
            kind: NotificationKind::PaymentMethodRequired,
            reference: Some(invoice.to_string()),
            message: format!("Add a payment method to pay invoice {invoice}."),
            dedupe_key: format!("payment_method_required:{invoice}"),
            now,
        }
    }

    /// The webhook endpoint `endpoint` (at `url`) failed for days and was disabled.
    pub fn webhook_endpoint_disabled(
        tenant: TenantId,
        endpoint: super::WebhookEndpointId,
        url: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant,
            kind: NotificationKind::WebhookEndpointDisabled,
            reference: Some(endpoint.to_string()),
            message: format!(
                "Webhook endpoint {url} failed for {} days and was disabled. Fix it and enable it again.",
                super::WEBHOOK_DISABLE_AFTER_DAYS
            ),
            dedupe_key: format!("webhook_endpoint_disabled:{endpoint}:{}", now.timestamp()),
            now,
        }
    }
}
