//! `POST /webhooks/stripe` against the app: only events signed with the webhook secret within
//! the tolerance are taken, each is acted on once, events we do not act on or about objects
//! that are not ours are recorded as ignored, and a late failure never un-pays an invoice.
use billing::domain::{InvoiceId, Role};
use serde_json::{Value, json};

use crate::helpers::*;

async fn events(app: &TestApp) -> Vec<Value> {
    let r = app
        .as_admin(
            "query { stripeEvents(first: 100) { nodes { stripeId type status objectId error } } }",
            json!({}),
        )
        .await;
    r.data()["stripeEvents"]["nodes"]
        .as_array()
        .expect("events")
        .clone()
}

fn event_id(payload: &str) -> String {
    let v: Value = serde_json::from_str(payload).expect("payload");
    str_of(&v["id"]).to_owned()
}

/// A tenant whose invoice waits for 3-D Secure; the PaymentIntent, now succeeded at Stripe.
async fn authenticated_intent(app: &TestApp, server: &StripeServer) -> (String, InvoiceId, Value) {
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    save_card(app, server, &owner, "visa", "4242").await;
    server.next(StripeEndpoint::PaymentIntents, StripeAnswer::RequiresAction);
    let (invoice, _) = finalized(app, &tenant, 5_000).await;
    deliver(app).await;
    let pi = intents_for(server, invoice).pop().expect("pi");
    let pi = server.set_payment_intent_status(str_of(&pi["id"]), "succeeded");
    (tenant, invoice, pi)
}

#[tokio::test]
async fn stripe_webhooks_without_a_valid_fresh_signature_are_refused_and_change_nothing() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (_, invoice, pi) = authenticated_intent(&app, &server).await;
    let before = events(&app).await;
    let payload = stripe_event("payment_intent.succeeded", &pi);
    let now = chrono::Utc::now().timestamp();

    let missing = app
        .client
        .post(format!("{}/webhooks/stripe", app.address))
        .header("content-type", "application/json")
        .body(payload.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(missing.status().as_u16(), 400);
    let refused = [
        stripe_signature(&payload, "whsec_wrong", now),
        stripe_signature(&payload, WEBHOOK_SECRET, now - 301),
        stripe_signature(&payload, WEBHOOK_SECRET, now - 3_600),
        "t=1,v1=deadbeef".to_owned(),
        "garbage".to_owned(),
    ];
    for sig in &refused {
        let (status, body) = post_stripe_event(&app.client, &app.address, &payload, sig).await;
        assert_eq!(status, 400, "{sig}: {body}");
    }
    let tampered = payload.replace("\"amount\":5000", "\"amount\":50");
    assert_ne!(tampered, payload);
    let sig = stripe_signature(&payload, WEBHOOK_SECRET, now);
    let (status, _) = post_stripe_event(&app.client, &app.address, &tampered, &sig).await;
    assert_eq!(status, 400, "the signature covers the body");

    assert_eq!(events(&app).await, before, "no event is stored");
    assert_eq!(invoice_status(&app, invoice).await, "OPEN");
    let (status, body) = send_payload(&app, &payload).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(invoice_status(&app, invoice).await, "PAID");
}

#[tokio::test]
async fn stripe_webhooks_are_processed_once_and_unknown_ones_are_ignored() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (_, invoice, pi) = authenticated_intent(&app, &server).await;
    let payload = stripe_event("payment_intent.succeeded", &pi);
    for _ in 0..3 {
        let (status, body) = send_payload(&app, &payload).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(invoice_status(&app, invoice).await, "PAID");
    let id = event_id(&payload);
    let stored: Vec<_> = events(&app)
        .await
        .into_iter()
        .filter(|e| e["stripeId"] == id.as_str())
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["status"], "PROCESSED");
    assert_eq!(stored[0]["objectId"], pi["id"]);

    let customer = server.objects(StripeEndpoint::Customers)[0].clone();
    for kind in ["customer.updated", "billing.some_future_event"] {
        let payload = stripe_event(kind, &customer);
        let (status, body) = send_payload(&app, &payload).await;
        assert_eq!(status, 200, "{kind}: {body}");
        let r = app
            .as_admin(
                "query($t: String) { stripeEvents(type: $t, first: 10) { nodes { stripeId status } } }",
                json!({ "t": kind }),
            )
            .await;
        let nodes = r.data()["stripeEvents"]["nodes"].clone();
        assert_eq!(
            nodes,
            json!([{ "stripeId": event_id(&payload), "status": "IGNORED" }]),
            "{kind}"
        );
    }
    assert_eq!(payments_of(&app, invoice).await.len(), 1);
}

#[tokio::test]
async fn stripe_webhooks_about_another_tenants_invoice_or_out_of_order_change_nothing() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    save_card(&app, &server, &owner, "visa", "4242").await;
    let (paid, _) = finalized(&app, &tenant, 5_000).await;
    deliver(&app).await;
    assert_eq!(invoice_status(&app, paid).await, "PAID");
    let (other, _) = app.tenant_with_owner("other").await;
    let (theirs, _) = finalized(&app, &other, 8_000).await;
    deliver(&app).await;

    // An intent we never made, naming the other tenant's invoice.
    let mut forged = intents_for(&server, paid).pop().expect("pi");
    forged["id"] = json!("pi_unknown0000000000000000");
    forged["amount"] = json!(8_000);
    for owner_id in [tenant.as_str(), other.as_str()] {
        forged["metadata"] = json!({ "invoice_id": theirs.to_string(), "tenant_id": owner_id });
        let payload = stripe_event("payment_intent.succeeded", &forged);
        let (status, body) = send_payload(&app, &payload).await;
        assert_eq!(status, 200, "{body}");
        let stored = events(&app).await;
        let e = stored
            .iter()
            .find(|e| e["stripeId"] == event_id(&payload).as_str())
            .expect("event");
        assert_eq!(e["status"], "IGNORED", "{e}");
    }
    assert_eq!(invoice_status(&app, theirs).await, "OPEN");
    assert!(payments_of(&app, theirs).await.is_empty());

    // A failure reported after the success.
    let mut failed = intents_for(&server, paid).pop().expect("pi");
    failed["status"] = json!("requires_payment_method");
    failed["last_payment_error"] = json!({ "type": "card_error", "code": "card_declined",
        "decline_code": "insufficient_funds", "message": "Your card has insufficient funds." });
    let (status, body) = send_event(&app, "payment_intent.payment_failed", &failed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(invoice_status(&app, paid).await, "PAID");
    let payments = payments_of(&app, paid).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["status"], "SUCCEEDED", "{payments:?}");
    assert!(payments[0]["nextRetryAt"].is_null());
    assert!(
        app.notifications_of_kind(&tenant, "payment_failed")
            .await
            .is_empty()
    );
    app.advance_days(3).await;
    assert_eq!(intent_requests_for(&server, paid).len(), 1);
}

#[tokio::test]
async fn stripe_webhooks_events_are_for_the_admin_only() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    let query = "query { stripeEvents(first: 10) { nodes { stripeId } } }";
    app.as_token(&owner, query, json!({}))
        .await
        .expect_code("FORBIDDEN");
    let billing = app.tenant_token(&tenant, Role::Billing);
    app.as_token(&billing, query, json!({}))
        .await
        .expect_code("FORBIDDEN");
    assert!(events(&app).await.is_empty());
}
