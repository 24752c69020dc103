//! The outbox: what must happen outside the database after a change commits. A message is
//! written in the change's own transaction, keyed so that it exists once, and carried out by
//! one worker afterwards (`jobs::outbox`).
use chrono::{DateTime, Utc};

use super::{
    CreditNoteId, InvoiceId, NotificationId, OutboxMessageId, TenantId, WebhookDeliveryId,
};

// `CollectInvoice`: ask the payment provider to collect a finalized invoice with an amount due.
// `RefundPayment`: ask the payment provider for the refund a credit note records.
// `SendEmail`: email a notification to its tenant's recipients (`mail::send_notification`).
str_enum!(OutboxKind {
    CollectInvoice = "collect_invoice",
    RefundPayment = "refund_payment",
    DeliverWebhook = "deliver_webhook",
    SendEmail = "send_email",
});

// `Dead`: given up after the configured number of attempts; an operator looks at it.
str_enum!(OutboxStatus {
    Pending = "pending",
    Done = "done",
    Dead = "dead",
});

#[derive(Clone, Debug, PartialEq)]
pub struct OutboxMessage {
    pub id: OutboxMessageId,
    pub tenant_id: Option<TenantId>,
    pub kind: OutboxKind,
    /// The public id of what the message is about (an invoice id for a collection).
    pub reference: String,
    pub dedupe_key: String,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A message before it is stored. Built only through the constructors, which own the keys.
#[derive(Clone, Debug, PartialEq)]
pub struct NewOutboxMessage {
    pub tenant: Option<TenantId>,
    pub kind: OutboxKind,
    pub reference: String,
    pub dedupe_key: String,
}

impl NewOutboxMessage {
    /// An invoice is finalized once, so it is collected from here once.
    pub fn collect_invoice(tenant: TenantId, invoice: InvoiceId) -> Self {
        Self {
            tenant: Some(tenant),
            kind: OutboxKind::CollectInvoice,
            reference: invoice.to_string(),
            dedupe_key: format!("collect_invoice:{invoice}"),
        }
    }

    /// A further attempt at collecting an invoice (a scheduled retry, a new payment method, or
    /// someone asking): one message per attempt.
    pub fn collect_invoice_attempt(tenant: TenantId, invoice: InvoiceId, attempt: i32) -> Self {
        Self {
            tenant: Some(tenant),
            kind: OutboxKind::CollectInvoice,
            reference: invoice.to_string(),
            dedupe_key: format!("collect_invoice:{invoice}:{attempt}"),
        }
    }

    /// The refund a credit note asks for: one message per credit note.
    pub fn refund_payment(tenant: TenantId, credit_note: CreditNoteId) -> Self {
        Self {
            tenant: Some(tenant),
            kind: OutboxKind::RefundPayment,
            reference: credit_note.to_string(),
            dedupe_key: format!("refund:{credit_note}"),
        }
    }

    /// Sending one webhook delivery (`webhooks::deliver`): one message per delivery row.
    pub fn deliver_webhook(tenant: Option<TenantId>, delivery: WebhookDeliveryId) -> Self {
        Self {
            tenant,
            kind: OutboxKind::DeliverWebhook,
            reference: delivery.to_string(),
            dedupe_key: format!("deliver_webhook:{delivery}"),
        }
    }

    /// Every notification is emailed from here once: `store::notify::record_once` writes this
    /// with the notification.
    pub fn send_email(tenant: TenantId, notification: NotificationId) -> Self {
        Self {
            tenant: Some(tenant),
            kind: OutboxKind::SendEmail,
            reference: notification.to_string(),
            dedupe_key: format!("send_email:{notification}"),
        }
    }
}
