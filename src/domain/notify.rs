//! Notifications: one row per event worth telling a tenant about, recorded once per key.
use chrono::{DateTime, Utc};

use super::{
    Credits, InvoiceId, LedgerEntryId, Money, NotificationId, SubscriptionId, TenantId, TopupId,
};

str_enum!(NotificationKind {
    TrialEnding = "trial_ending",
    InvoiceOverdue = "invoice_overdue",
    UsageLimit80 = "usage_limit_80",
    UsageLimit100 = "usage_limit_100",
    LowBalance = "low_balance",
    PaymentFailed = "payment_failed",
    PaymentActionRequired = "payment_action_required",
    PaymentMethodRequired = "payment_method_required",
    InvoiceFinalized = "invoice_finalized",
    PaymentSucceeded = "payment_succeeded",
    CreditsDepleted = "credits_depleted",
    TopupCompleted = "topup_completed",
    WebhookEndpointDisabled = "webhook_endpoint_disabled",
});

impl NotificationKind {
    /// Every kind, in the order preferences list them.
    pub const IN_PREFERENCE_ORDER: [NotificationKind; 13] = [
        NotificationKind::InvoiceFinalized,
        NotificationKind::PaymentSucceeded,
        NotificationKind::PaymentFailed,
        NotificationKind::PaymentActionRequired,
        NotificationKind::PaymentMethodRequired,
        NotificationKind::InvoiceOverdue,
        NotificationKind::TrialEnding,
        NotificationKind::UsageLimit80,
        NotificationKind::UsageLimit100,
        NotificationKind::LowBalance,
        NotificationKind::CreditsDepleted,
        NotificationKind::TopupCompleted,
        NotificationKind::WebhookEndpointDisabled,
    ];

    /// Payment failures and 3-D Secure requests are always emailed: without them an invoice
    /// stays unpaid and nobody knows why.
    pub fn can_turn_off(self) -> bool {
        !matches!(
            self,
            NotificationKind::PaymentFailed | NotificationKind::PaymentActionRequired
        )
    }
}

// `Sent`: the server accepted it. `Failed`: refused for good (5xx); never tried again.
str_enum!(DeliveryStatus {
    Sent = "sent",
    Failed = "failed",
});

/// What happened to one address of one notification.
#[derive(Clone, Debug, PartialEq)]
pub struct EmailDelivery {
    pub notification_id: NotificationId,
    pub address: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub smtp_code: Option<i32>,
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

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
            message: format!("{USAGE_OF}{metric}{REACHED}{percent}% of the plan's limit."),
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
            Some(at) => format!("{NEXT_RETRY}{}.", at.format("%Y-%m-%d")),
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
                "{WEBHOOK_ENDPOINT}{url}{FAILED_FOR}{} days and was disabled. Fix it and enable it again.",
                super::WEBHOOK_DISABLE_AFTER_DAYS
            ),
            dedupe_key: format!("webhook_endpoint_disabled:{endpoint}:{}", now.timestamp()),
            now,
        }
    }

    /// `invoice` was finalized with `total` to pay.
    pub fn invoice_finalized(
        tenant: TenantId,
        invoice: InvoiceId,
        number: &str,
        total: Money,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant,
            kind: NotificationKind::InvoiceFinalized,
            reference: Some(invoice.to_string()),
            message: format!("Invoice {number} of {} was issued.", total.format("en")),
            dedupe_key: format!("invoice_finalized:{invoice}"),
            now,
        }
    }

    /// `invoice` was paid (a receipt).
    pub fn payment_succeeded(
        tenant: TenantId,
        invoice: InvoiceId,
        number: &str,
        paid: Money,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant,
            kind: NotificationKind::PaymentSucceeded,
            reference: Some(invoice.to_string()),
            message: format!("We received {} for invoice {number}.", paid.format("en")),
            dedupe_key: format!("payment_succeeded:{invoice}"),
            now,
        }
    }

    /// Ledger entry `entry` took the credit balance from above zero to zero or below.
    pub fn credits_depleted(tenant: TenantId, entry: LedgerEntryId, now: DateTime<Utc>) -> Self {
        Self {
            tenant,
            kind: NotificationKind::CreditsDepleted,
            reference: Some(entry.to_string()),
            message: "The credit balance is used up.".into(),
            dedupe_key: format!("credits_depleted:{entry}"),
            now,
        }
    }

    /// Top-up `topup` added `credits` to the wallet.
    pub fn topup_completed(
        tenant: TenantId,
        topup: TopupId,
        credits: Credits,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant,
            kind: NotificationKind::TopupCompleted,
            reference: Some(topup.to_string()),
            message: format!("{credits} credits were added to the balance."),
            dedupe_key: format!("topup_completed:{topup}"),
            now,
        }
    }
}

const NEXT_RETRY: &str = " It will be tried again on ";

/// The retry date a `payment_failed` message carries, for the email (the constructor above
/// writes it).
pub fn next_retry_of(message: &str) -> Option<chrono::NaiveDate> {
    let (_, rest) = message.split_once(NEXT_RETRY)?;
    chrono::NaiveDate::parse_from_str(rest.get(..10)?, "%Y-%m-%d").ok()
}

const WEBHOOK_ENDPOINT: &str = "Webhook endpoint ";
const FAILED_FOR: &str = " failed for ";

/// The endpoint URL a `webhook_endpoint_disabled` message names (the constructor above writes
/// it).
pub fn webhook_url_of(message: &str) -> Option<String> {
    let rest = message.strip_prefix(WEBHOOK_ENDPOINT)?;
    Some(rest.split_once(FAILED_FOR)?.0.to_owned())
}

const USAGE_OF: &str = "Usage of ";
const REACHED: &str = " reached ";

/// The metric a `usage_limit_*` message names (the constructor above writes it).
pub fn usage_metric_of(message: &str) -> Option<String> {
    let rest = message.strip_prefix(USAGE_OF)?;
    Some(rest.split_once(REACHED)?.0.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_read_back_what_the_messages_carry() {
        let (t, now) = (TenantId::new(), Utc::now());
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-04T10:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .ok();
        let failed = NewNotification::payment_failed(t, InvoiceId::new(), 1, "declined", at, now);
        assert_eq!(
            next_retry_of(&failed.message),
            chrono::NaiveDate::from_ymd_opt(2026, 3, 4)
        );
        let none = NewNotification::payment_failed(t, InvoiceId::new(), 4, "declined", None, now);
        assert_eq!(next_retry_of(&none.message), None);
        let usage = NewNotification::usage_limit(t, SubscriptionId::new(), 1, "api_calls", 80, now);
        assert_eq!(
            usage_metric_of(&usage.message).as_deref(),
            Some("api_calls")
        );
    }

    #[test]
    fn only_payment_failures_and_action_required_cannot_be_turned_off() {
        let fixed: Vec<_> = NotificationKind::IN_PREFERENCE_ORDER
            .into_iter()
            .filter(|k| !k.can_turn_off())
            .collect();
        assert_eq!(
            fixed,
            [
                NotificationKind::PaymentFailed,
                NotificationKind::PaymentActionRequired
            ]
        );
    }
}
