//! Unique keys that make a write happen once: the source key of a system-made invoice and the
//! idempotency key of a ledger entry. Each prefix is spelled here and nowhere else, so two
//! sources can never collide by accident.
use std::fmt::Display;

use super::{
    BlockChargeId, CreditNoteId, HoldId, LedgerKind, PendingUsageId, SubscriptionId, TopupId,
};

/// Source keys of invoices issued by the system (`invoices.source_key`, unique).
pub mod invoice_source {
    use super::*;

    /// The invoice opening paid cycle `cycle` (subscription start, trial end or renewal).
    pub fn cycle(sub: SubscriptionId, cycle: i32) -> String {
        format!("cycle:{sub}:{cycle}")
    }

    /// The period-end usage of cycle `cycle` when the subscription closes.
    pub fn close(sub: SubscriptionId, cycle: i32) -> String {
        format!("close:{sub}:{cycle}")
    }

    /// The proration of the change that makes the subscription version `version`.
    pub fn update(sub: SubscriptionId, version: i32) -> String {
        format!("update:{sub}:{version}")
    }

    /// The blocks one usage batch crossed, named by its first block charge.
    pub fn blocks(first: BlockChargeId) -> String {
        format!("blocks:{first}")
    }

    pub fn topup(topup: TopupId) -> String {
        format!("topup:{topup}")
    }
}

/// Idempotency keys of ledger entries (unique per tenant).
pub mod ledger_key {
    use super::*;

    pub fn topup(topup: TopupId) -> String {
        format!("topup:{topup}")
    }

    /// The credits a credit note takes back from a refunded credit pack.
    pub fn refund(credit_note: CreditNoteId) -> String {
        format!("credit_note:{credit_note}")
    }

    /// The credits given back when a credit note's refund failed.
    pub fn refund_failed(credit_note: CreditNoteId) -> String {
        format!("credit_note_failed:{credit_note}")
    }

    pub fn deferred(pending: PendingUsageId) -> String {
        format!("deferred:{pending}")
    }

    /// The reservation that opens a hold.
    pub fn hold(hold: HoldId) -> String {
        format!("hold:{hold}")
    }

    /// The entry that settles (`Settle`) or releases (`Release`) a hold.
    pub fn closing(kind: LedgerKind, hold: HoldId) -> String {
        format!("{}:{hold}", kind.as_str())
    }

    /// An entry made on a client's request, keyed by the client's idempotency key.
    pub fn client(kind: LedgerKind, key: impl Display) -> String {
        format!("{}:{key}", kind.as_str())
    }
}
