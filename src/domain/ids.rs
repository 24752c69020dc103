use std::fmt;

use uuid::Uuid;

use super::ParseError;

/// A typed id whose public form carries a prefix (`ten_0190...`), so a wrong id is obvious.
macro_rules! id_type {
    ($name:ident, $prefix:literal) => {
        #[derive(
            Clone,
            Copy,
            Debug,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn parse(field: &str, raw: &str) -> Result<Self, ParseError> {
                parse_prefixed(field, $prefix, raw).map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, self.0.simple())
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(TenantId, "ten");
id_type!(UserId, "usr");
id_type!(ApiKeyId, "key");
id_type!(MetricId, "met");
id_type!(PlanId, "pln");
id_type!(CreditPackId, "pck");
id_type!(CouponId, "cpn");
id_type!(SubscriptionId, "sub");
id_type!(InvoiceId, "inv");
id_type!(InvoiceLineId, "inl");
id_type!(RedemptionId, "red");
id_type!(NotificationId, "ntf");
id_type!(UsageEventId, "use");
id_type!(BlockChargeId, "blk");
id_type!(LedgerEntryId, "led");
id_type!(HoldId, "hld");
id_type!(TopupId, "top");
id_type!(PendingUsageId, "pnd");
id_type!(OutboxMessageId, "obx");
id_type!(PaymentMethodId, "pmt");
id_type!(PaymentId, "pay");
id_type!(ProviderEventId, "pev");
id_type!(CreditNoteId, "crn");
id_type!(WebhookEndpointId, "whe");
id_type!(WebhookEventId, "msg");
id_type!(WebhookDeliveryId, "whd");

fn parse_prefixed(field: &str, prefix: &str, raw: &str) -> Result<Uuid, ParseError> {
    let invalid = || {
        ParseError::new(
            field,
            format!("must be an id of the form {prefix}_<32 hex>"),
        )
    };
    let rest = raw
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or_else(invalid)?;
    if rest.len() != 32 || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    Uuid::try_parse(rest).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_round_trips_through_its_public_form() {
        let id = TenantId::new();
        assert_eq!(TenantId::parse("id", &id.to_string()), Ok(id));
    }

    #[test]
    fn an_id_with_the_wrong_prefix_or_shape_is_rejected() {
        let id = TenantId::new();
        let as_user = format!("usr_{}", id.0.simple());
        assert!(TenantId::parse("id", &as_user).is_err());
        assert!(TenantId::parse("id", "ten_").is_err());
        assert!(TenantId::parse("id", "ten_zz").is_err());
        assert!(TenantId::parse("id", &id.0.to_string()).is_err());
        assert!(TenantId::parse("id", "'; drop table tenants; --").is_err());
    }
}
