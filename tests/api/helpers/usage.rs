//! Usage helpers of the harness: usage events, block charges and `recordUsage`.
use serde_json::{Value, json};

use super::{Gql, INVOICE_FIELDS, TestApp, str_of};

pub const BLOCK_CHARGE_FIELDS: &str = "id subscriptionId metricCode cycle blockIndex tier \
    amount { amountMinor } eventId invoiceId createdAt";

pub const SUMMARY_FIELDS: &str = "subscriptionId metricCode cycle periodStart periodEnd \
    totalQuantity events includedUnits currentTier fixedFeeCharged { amountMinor } \
    blockChargesCount blockChargesTotal { amountMinor } totalCharged { amountMinor } \
    byOperation { operationType quantity events } limit enforcement overLimit";

/// One usage event of `quantity` units of `metric`, reported under `key`.
pub fn usage_event(metric: &str, quantity: i64, key: &str) -> Value {
    json!({ "metricCode": metric, "quantity": quantity.to_string(), "idempotencyKey": key })
}

/// A BLOCK charge of `metric`: `included` units, then `price` per started block of `size`.
pub fn block_charge(metric: &str, timing: &str, included: i64, size: i64, price: i64) -> Value {
    json!({ "metricCode": metric, "timing": timing, "model": "BLOCK",
        "includedUnits": included.to_string(), "blockSize": size.to_string(),
        "blockPriceMinor": price.to_string() })
}

/// The `recordUsage` mutation, with every field of its payload.
pub fn record_usage_query() -> String {
    format!(
        "mutation($i: RecordUsageInput!) {{ recordUsage(input: $i) {{ \
         results {{ index idempotencyKey status eventId code message \
         blockCharges {{ {BLOCK_CHARGE_FIELDS} }} }} \
         accepted duplicates rejected blockCharges {{ {BLOCK_CHARGE_FIELDS} }} \
         invoice {{ {INVOICE_FIELDS} }} }} }}"
    )
}

/// The status of each event of a `recordUsage` payload, in input order.
pub fn statuses(payload: &Value) -> Vec<&str> {
    payload["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {payload}"))
        .iter()
        .map(|r| str_of(&r["status"]))
        .collect()
}

impl TestApp {
    /// Sends `recordUsage` with `token`, naming `tenant` when given.
    pub async fn record_usage(
        &self,
        token: &str,
        tenant: Option<&str>,
        events: impl AsRef<[Value]>,
    ) -> Gql {
        self.as_token(
            token,
            &record_usage_query(),
            json!({ "i": { "tenantId": tenant, "events": events.as_ref() } }),
        )
        .await
    }
}
