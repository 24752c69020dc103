//! Credits: an exact amount (micro-credits), and the wallets that hold them. A balance only
//! changes through immutable ledger entries.
use std::fmt;

use chrono::{DateTime, Utc};

use super::{
    CreditPackId, HoldId, InvoiceId, LedgerEntryId, Money, ParseError, PendingUsageId, TenantId,
    TopupId,
};

/// A credit amount held exactly as integer micro-credits (1 credit = 1,000,000).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Credits(pub i64);

impl Credits {
    pub const MICRO_PER_CREDIT: i64 = 1_000_000;
    /// Large enough for any wallet, small enough that sums stay inside i64.
    const MAX_MICRO: i64 = 1_000_000_000_000_000_000 / 1000;

    pub fn micro(self) -> i64 {
        self.0
    }

    /// Parses a non-negative decimal such as `"2"` or `"0.25"`, exact to the micro-credit.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ParseError> {
        let invalid = || {
            ParseError::new(
                field,
                "must be a non-negative decimal with at most 6 fractional digits",
            )
        };
        let raw = raw.trim();
        let (int, frac) = raw.split_once('.').unwrap_or((raw, ""));
        if int.is_empty()
            || int.len() > 13
            || frac.len() > 6
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (raw.contains('.') && frac.is_empty())
        {
            return Err(invalid());
        }
        let int: i64 = int.parse().map_err(|_| invalid())?;
        let frac_micro: i64 = format!("{frac:0<6}").parse().map_err(|_| invalid())?;
        let micro = int
            .checked_mul(Self::MICRO_PER_CREDIT)
            .and_then(|v| v.checked_add(frac_micro))
            .filter(|v| *v <= Self::MAX_MICRO)
            .ok_or_else(invalid)?;
        Ok(Credits(micro))
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let micro = Self::MICRO_PER_CREDIT.unsigned_abs();
        let (int, frac) = (abs / micro, abs % micro);
        if frac == 0 {
            write!(f, "{sign}{int}")
        } else {
            let frac = format!("{frac:06}");
            write!(f, "{sign}{int}.{}", frac.trim_end_matches('0'))
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_credits_are_exact_micro_credits() {
        assert_eq!(Credits::parse("c", "2"), Ok(Credits(2_000_000)));
        assert_eq!(Credits::parse("c", "0.25"), Ok(Credits(250_000)));
        assert_eq!(Credits::parse("c", "0.000001"), Ok(Credits(1)));
        assert_eq!(Credits(250_000).to_string(), "0.25");
        assert_eq!(Credits(2_000_000).to_string(), "2");
        assert_eq!(Credits(-1_500_000).to_string(), "-1.5");
    }

    #[test]
    fn malformed_or_negative_credits_are_rejected() {
        for bad in [
            "-1",
            "1.",
            ".5",
            "1.0000001",
            "abc",
            "",
            "1e3",
            "99999999999999",
        ] {
            assert!(
                Credits::parse("c", bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
