//! Idempotency keys of the mutations whose result is not a ledger entry (subscriptions, credit
//! pack purchases). A key is scoped to a tenant and an operation; it remembers a fingerprint of
//! the request and the ids of the result, so a replay reads the first result back and the same
//! key with another request can be told apart.
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{InvoiceId, ParseError, TenantId};

str_enum!(IdempotentOperation {
    CreateSubscription = "create_subscription",
    ChangePlan = "change_plan",
    ApplyCoupon = "apply_coupon",
    PurchaseCreditPack = "purchase_credit_pack",
});

/// A client's idempotency key: 1 to 128 of `A-Z a-z 0-9 _ . : -`.
pub fn parse_idempotency_key(field: &str, raw: &str) -> Result<String, ParseError> {
    let ok = !raw.is_empty()
        && raw.len() <= 128
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ParseError::new(
            field,
            "must be 1 to 128 of A-Z a-z 0-9 _ . : -",
        ))
    }
}

/// An operation's key and the fingerprint of the request that came with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyed {
    pub operation: IdempotentOperation,
    pub key: String,
    /// SHA-256 (hex) of the request's canonical input.
    pub fingerprint: String,
}

impl Keyed {
    /// `fields` is the parsed input, each field by name with its canonical value (`None` when
    /// absent), in a fixed order.
    pub fn new(
        operation: IdempotentOperation,
        key: String,
        fields: &[(&str, Option<&str>)],
    ) -> Self {
        let mut hash = Sha256::new();
        hash.update(operation.as_str());
        for (name, value) in fields {
            hash.update([0]);
            hash.update(name);
            match value {
                Some(v) => {
                    hash.update([1]);
                    hash.update(v.len().to_be_bytes());
                    hash.update(v);
                }
                None => hash.update([2]),
            }
        }
        Self {
            operation,
            key,
            fingerprint: hex::encode(hash.finalize()),
        }
    }
}

/// A key that was used: what it was used for and the ids of the result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub tenant_id: TenantId,
    pub operation: IdempotentOperation,
    pub key: String,
    pub fingerprint: String,
    /// The subscription or top-up the first request made or changed.
    pub result_id: Uuid,
    pub invoice_id: Option<InvoiceId>,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_tells_fields_apart() {
        let op = IdempotentOperation::CreateSubscription;
        let fp = |fields: &[(&str, Option<&str>)]| Keyed::new(op, "k".into(), fields).fingerprint;
        assert_eq!(fp(&[("a", Some("1"))]), fp(&[("a", Some("1"))]));
        assert_ne!(fp(&[("a", Some("1"))]), fp(&[("a", Some("2"))]));
        assert_ne!(fp(&[("a", None)]), fp(&[("a", Some(""))]));
        assert_ne!(
            fp(&[("a", Some("1")), ("b", None)]),
            fp(&[("a", None), ("b", Some("1"))])
        );
        let other = Keyed::new(IdempotentOperation::ChangePlan, "k".into(), &[]).fingerprint;
        assert_ne!(fp(&[]), other);
    }
}
