//! Credit wallets: a balance that only changes through immutable ledger entries.
use chrono::{DateTime, Utc};

use super::{
    CreditPackId, Credits, HoldId, InvoiceId, LedgerEntryId, Money, PendingUsageId, TenantId,
    TopupId,
};

str_enum!(LedgerKind {
    Topup = "topup",
    Grant = "grant",
    Revoke = "revoke",
    Consume = "consume",
    Hold = "hold",
    Settle = "settle",
    Release = "release",
    Refund = "refund",
    Expire = "expire",
});

str_enum!(HoldStatus {
    Held = "held",
    Settled = "settled",
    Released = "released",
    Expired = "expired",
});

#[derive(Clone, Debug, PartialEq)]
pub struct LedgerEntry {
    pub id: LedgerEntryId,
    pub tenant_id: TenantId,
    pub kind: LedgerKind,
    /// Signed: credits in are positive, credits out negative.
    pub amount: Credits,
    pub balance_after: Credits,
    pub reference: Option<String>,
    pub idempotency_key: Option<String>,
    pub metric_code: Option<String>,
    pub operation_type: Option<String>,
    pub quantity: Option<i64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreditHold {
    pub id: HoldId,
    pub tenant_id: TenantId,
    pub amount: Credits,
    pub status: HoldStatus,
    pub metric_code: String,
    pub operation_type: String,
    pub idempotency_key: String,
    pub settled: Option<Credits>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wallet {
    pub tenant_id: TenantId,
    /// What can be spent: every ledger entry summed. Open holds are already deducted.
    pub balance: Credits,
    /// Set aside by open holds.
    pub held: Credits,
}

str_enum!(TopupSource { Stripe = "stripe", Admin = "admin", Manual = "manual" });
str_enum!(TopupStatus { Pending = "pending", Completed = "completed", Failed = "failed" });

#[derive(Clone, Debug, PartialEq)]
pub struct CreditTopup {
    pub id: TopupId,
    pub tenant_id: TenantId,
    pub pack_id: Option<CreditPackId>,
    pub credits: Credits,
    pub amount: Option<Money>,
    pub source: TopupSource,
    pub payment_id: Option<String>,
    pub invoice_id: Option<InvoiceId>,
    pub status: TopupStatus,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

str_enum!(PendingStatus { Pending = "pending", Charged = "charged", Failed = "failed" });

/// A usage record charged later by the deferred billing job.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingUsage {
    pub id: PendingUsageId,
    pub tenant_id: TenantId,
    pub metric_code: String,
    pub quantity: i64,
    pub operation_type: String,
    pub idempotency_key: String,
    pub cost: Credits,
    pub status: PendingStatus,
    pub reason: Option<String>,
    pub attempts: i32,
    pub charged_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}
