//! Usage reports as the metering service sees them.
use chrono::{DateTime, Utc};

use uuid::Uuid;

use super::{
    Aggregation, BlockChargeId, Currency, InvoiceId, Money, PlanId, SubscriptionId, TenantId,
    UsageEventId,
};

str_enum!(RejectCode {
    InvalidQuantity = "INVALID_QUANTITY",
    InvalidKey = "INVALID_KEY",
    InvalidOperation = "INVALID_OPERATION",
    InvalidMetadata = "INVALID_METADATA",
    UnknownMetric = "UNKNOWN_METRIC",
    NoSubscription = "NO_SUBSCRIPTION",
    OccurredInFuture = "OCCURRED_IN_FUTURE",
    PeriodClosed = "PERIOD_CLOSED",
    LimitExceeded = "LIMIT_EXCEEDED",
    IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED",
});

/// Most events in one usage or deferred-usage batch.
pub const MAX_BATCH_EVENTS: usize = 1000;

/// Largest quantity one event may carry (10^15 units).
pub const MAX_EVENT_QUANTITY: i64 = 1_000_000_000_000_000;
/// Largest metadata object, serialized.
pub const MAX_METADATA_BYTES: usize = 2048;

/// Why one event of a batch was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub code: RejectCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A report's idempotency key: 1 to 128 of `[A-Za-z0-9_.:-]`.
pub fn parse_usage_key(raw: &str) -> Result<String, Rejection> {
    let ok = !raw.is_empty()
        && raw.len() <= 128
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(Rejection::new(
            RejectCode::InvalidKey,
            "idempotencyKey must be 1 to 128 of A-Z a-z 0-9 _ . : -",
        ))
    }
}

/// An operation type such as `chat`: 1 to 64 of `[a-z0-9_.-]`, lowercased.
pub fn parse_operation(raw: Option<&str>) -> Result<String, Rejection> {
    let Some(raw) = raw else {
        return Ok("default".to_owned());
    };
    let lower = raw.to_ascii_lowercase();
    let ok = !lower.is_empty()
        && lower.len() <= 64
        && lower.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(lower)
    } else {
        Err(Rejection::new(
            RejectCode::InvalidOperation,
            "operationType must be 1 to 64 of a-z 0-9 _ . -",
        ))
    }
}

pub fn parse_quantity(raw: i64) -> Result<i64, Rejection> {
    if (0..=MAX_EVENT_QUANTITY).contains(&raw) {
        Ok(raw)
    } else {
        Err(Rejection::new(
            RejectCode::InvalidQuantity,
            format!("quantity must be between 0 and {MAX_EVENT_QUANTITY}"),
        ))
    }
}

pub fn parse_metadata(
    raw: Option<serde_json::Value>,
) -> Result<Option<serde_json::Value>, Rejection> {
    let Some(value) = raw else { return Ok(None) };
    let size = serde_json::to_vec(&value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if !value.is_object() || size > MAX_METADATA_BYTES {
        return Err(Rejection::new(
            RejectCode::InvalidMetadata,
            format!("metadata must be a JSON object of at most {MAX_METADATA_BYTES} bytes"),
        ));
    }
    Ok(Some(value))
}

/// One event of a batch, its fields already parsed; `metric_code` is checked by the service.
#[derive(Clone, Debug)]
pub struct UsageReport {
    pub metric_code: String,
    pub quantity: i64,
    pub idempotency_key: String,
    pub occurred_at: Option<DateTime<Utc>>,
    pub operation_type: String,
    pub metadata: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BlockCharge {
    pub id: BlockChargeId,
    pub subscription_id: SubscriptionId,
    pub metric_code: String,
    pub cycle: i32,
    pub block_index: i64,
    pub tier: String,
    pub amount: Money,
    pub event_id: UsageEventId,
    pub invoice_id: InvoiceId,
    pub created_at: DateTime<Utc>,
}

impl BlockCharge {
    pub fn currency(&self) -> Currency {
        self.amount.currency
    }
}

/// An accepted usage event before it is stored.
pub struct NewUsageEvent {
    pub id: UsageEventId,
    pub tenant: TenantId,
    pub subscription: SubscriptionId,
    pub metric: Uuid,
    pub cycle: i32,
    pub quantity: i64,
    pub operation_type: String,
    pub idempotency_key: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub metadata: Option<serde_json::Value>,
}

/// Accepted events folded into one metric's aggregate for the subscription's current period.
pub struct UsageTotalChange {
    pub tenant: TenantId,
    pub subscription: SubscriptionId,
    pub metric: Uuid,
    pub cycle: i32,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub aggregation: Aggregation,
    /// Sum: the quantities added. Max: the largest quantity seen. Count: the events.
    pub value: i64,
    pub events: i64,
    /// The plan version the events are recorded under (the block-charge invariant's formula).
    pub plan: PlanId,
    pub now: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_operations_quantities_and_metadata_are_checked() {
        assert!(parse_usage_key("req-2026:01.a_b").is_ok());
        assert!(parse_usage_key("").is_err());
        assert!(parse_usage_key("has space").is_err());
        assert!(parse_usage_key(&"k".repeat(129)).is_err());
        assert_eq!(parse_operation(Some("Chat")), Ok("chat".to_owned()));
        assert_eq!(parse_operation(None), Ok("default".to_owned()));
        assert!(parse_operation(Some("chat now")).is_err());
        assert!(parse_quantity(-1).is_err());
        assert!(parse_quantity(MAX_EVENT_QUANTITY + 1).is_err());
        assert!(parse_metadata(Some(serde_json::json!([1]))).is_err());
        assert!(parse_metadata(Some(serde_json::json!({ "a": "x".repeat(3000) }))).is_err());
        assert!(parse_metadata(Some(serde_json::json!({ "conversation": "c-1" }))).is_ok());
    }
}
