//! The app wired to the Stripe test server, and the calls the Stripe end-to-end tests share:
//! saving a card through a signed `setup_intent.succeeded`, running the outbox, reading attempts.
use billing::config::Secret;
use billing::domain::InvoiceId;
use serde_json::{Value, json};

use super::{
    StripeServer, TestApp, post_stripe_event, spawn_app_with, stripe_event, stripe_signature,
};

pub const WEBHOOK_SECRET: &str = "whsec_test";
pub const STRIPE_START: &str = "2026-05-01T00:00:00Z";

pub const PAYMENT_FIELDS: &str = "id invoiceId attempt amount { amountMinor currency } status \
    paymentIntentId paymentMethodId failureCode failureMessage nextRetryAt createdAt updatedAt";

pub const METHOD_FIELDS: &str =
    "id tenantId stripeId brand last4 expMonth expYear isDefault createdAt";

/// The app with Stripe at `server`, the clock standing at `STRIPE_START` and the outbox worker
/// off (tests run it with `deliver_due`).
pub async fn stripe_app(server: &StripeServer) -> TestApp {
    stripe_app_with(server, |_| {}).await
}

pub async fn stripe_app_with(
    server: &StripeServer,
    customise: impl FnOnce(&mut billing::config::Config),
) -> TestApp {
    let key = server.secret_key().to_owned();
    let base = server.base_url().to_owned();
    spawn_app_with(move |c| {
        c.stripe_secret_key = Some(Secret::new(key));
        c.stripe_api_base = Some(base);
        c.stripe_webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
        c.outbox_interval_ms = 0;
        c.clock_start = Some(STRIPE_START.parse().expect("start"));
        customise(c);
    })
    .await
}

/// Posts `event_type` about `object`, signed now with the app's webhook secret.
pub async fn send_event(app: &TestApp, event_type: &str, object: &Value) -> (u16, String) {
    let payload = stripe_event(event_type, object);
    send_payload(app, &payload).await
}

pub async fn send_payload(app: &TestApp, payload: &str) -> (u16, String) {
    let sig = stripe_signature(payload, WEBHOOK_SECRET, chrono::Utc::now().timestamp());
    post_stripe_event(&app.client, &app.address, payload, &sig).await
}

/// `createPaymentMethodSetup` as `token`; the payload (`clientSecret`, `setupIntentId`).
pub async fn setup_intent(app: &TestApp, token: &str) -> Value {
    let r = app
        .as_token(
            token,
            "mutation { createPaymentMethodSetup(input: {}) { clientSecret setupIntentId } }",
            json!({}),
        )
        .await;
    r.data()["createPaymentMethodSetup"].clone()
}

/// The owner saves a card: a SetupIntent, completed at Stripe, reported by a signed webhook.
/// Returns the `pm_…` id.
pub async fn save_card(
    app: &TestApp,
    server: &StripeServer,
    owner: &str,
    brand: &str,
    last4: &str,
) -> String {
    let setup = setup_intent(app, owner).await;
    let seti = setup["setupIntentId"].as_str().expect("seti");
    let (pm, intent) = server.complete_setup(seti, brand, last4, 12, 2034);
    let (status, body) = send_event(app, "setup_intent.succeeded", &intent).await;
    assert_eq!(status, 200, "{body}");
    pm
}

/// Runs the outbox as the worker would.
pub async fn deliver(app: &TestApp) -> billing::jobs::OutboxReport {
    billing::jobs::deliver_due(&app.state)
        .await
        .expect("deliver the outbox")
}

/// The attempts at `invoice`, read as admin.
pub async fn payments_of(app: &TestApp, invoice: InvoiceId) -> Vec<Value> {
    let r = app
        .as_admin(
            &format!(
                "query($id: ID!) {{ invoicePayments(invoiceId: $id) {{ {PAYMENT_FIELDS} }} }}"
            ),
            json!({ "id": invoice.to_string() }),
        )
        .await;
    r.data()["invoicePayments"]
        .as_array()
        .expect("payments")
        .clone()
}

/// The tenant's saved cards, read with `token`.
pub async fn methods_of(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app
        .as_token(
            token,
            &format!("query {{ paymentMethods {{ {METHOD_FIELDS} }} }}"),
            json!({}),
        )
        .await;
    r.data()["paymentMethods"]
        .as_array()
        .expect("methods")
        .clone()
}

/// The PaymentIntent creations sent for `invoice` (every request, answered or not).
pub fn intent_requests_for(
    server: &StripeServer,
    invoice: InvoiceId,
) -> Vec<super::RecordedRequest> {
    server
        .requests_to("/v1/payment_intents")
        .into_iter()
        .filter(|r| {
            r.method == "POST"
                && r.path == "/v1/payment_intents"
                && r.params.get("metadata[invoice_id]").map(String::as_str)
                    == Some(invoice.to_string().as_str())
        })
        .collect()
}

/// The PaymentIntents Stripe holds for `invoice`.
pub fn intents_for(server: &StripeServer, invoice: InvoiceId) -> Vec<Value> {
    server
        .objects(super::StripeEndpoint::PaymentIntents)
        .into_iter()
        .filter(|pi| pi["metadata"]["invoice_id"] == invoice.to_string())
        .collect()
}
