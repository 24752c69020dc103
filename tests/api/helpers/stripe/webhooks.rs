//! Stripe webhook events: payloads from the `event` fixture, signed the way Stripe signs them.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::objects::{now_unix, stripe_fixture, stripe_id};

/// The JSON body Stripe posts for an event of `event_type` about `object`.
pub fn stripe_event(event_type: &str, object: &Value) -> String {
    let mut event = stripe_fixture("event");
    event["id"] = json!(stripe_id("evt"));
    event["type"] = json!(event_type);
    event["created"] = json!(now_unix());
    event["livemode"] = json!(false);
    event["pending_webhooks"] = json!(1);
    // The API version async-stripe was generated for, so the parser has nothing to warn about.
    event["api_version"] = json!(stripe_shared::version::VERSION.as_str());
    event["data"] = json!({ "object": object });
    event["request"] = json!({ "id": stripe_id("req"), "idempotency_key": null });
    event.to_string()
}

/// The `Stripe-Signature` header: `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`.
pub fn stripe_signature(payload: &str, secret: &str, timestamp: i64) -> String {
    let mac = hmac_sha256(
        secret.as_bytes(),
        format!("{timestamp}.{payload}").as_bytes(),
    );
    format!("t={timestamp},v1={}", hex::encode(mac))
}

/// Posts the event to `{app_base_url}/webhooks/stripe` as Stripe does; returns status and body.
pub async fn post_stripe_event(
    client: &reqwest::Client,
    app_base_url: &str,
    payload: &str,
    signature: &str,
) -> (u16, String) {
    let response = client
        .post(format!(
            "{}/webhooks/stripe",
            app_base_url.trim_end_matches('/')
        ))
        .header("content-type", "application/json; charset=utf-8")
        .header(
            "user-agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        )
        .header("stripe-signature", signature)
        .body(payload.to_string())
        .send()
        .await
        .expect("post the Stripe event");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// RFC 2104 HMAC over SHA-256, written out so the signature is ours, checked by async-stripe's.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(block.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}
