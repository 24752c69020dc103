//! Collecting finalized invoices off-session with the tenant's default card through the
//! Stripe test server: one PaymentIntent per attempt, the invoice paid once whatever the
//! webhooks say afterwards, and invoices that wait for a card.
use billing::domain::InvoiceId;
use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::*;

const M: i64 = 1_000_000;

/// Asserts that `invoice` was charged once through one PaymentIntent that succeeded, and
/// returns the intent.
async fn paid_once(app: &TestApp, server: &StripeServer, invoice: InvoiceId) -> Value {
    assert_eq!(invoice_status(app, invoice).await, "PAID");
    let intents = intents_for(server, invoice);
    assert_eq!(
        intents.len(),
        1,
        "one PaymentIntent for {invoice}: {intents:?}"
    );
    assert_eq!(intents[0]["status"], "succeeded");
    let payments = payments_of(app, invoice).await;
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(payments[0]["attempt"], 1);
    assert_eq!(payments[0]["status"], "SUCCEEDED");
    assert_eq!(payments[0]["paymentIntentId"], intents[0]["id"]);
    intents[0].clone()
}

#[tokio::test]
async fn stripe_collection_charges_the_default_card_once_whatever_the_webhooks_say() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    let card = save_card(&app, &server, &owner, "visa", "4242").await;
    let (invoice, _) = finalized(&app, &tenant, 12_345).await;
    let details = app.invoice(&invoice.to_string()).await;
    assert_eq!(details["amountDue"]["amountMinor"], "12345", "{details}");

    let report = deliver(&app).await;
    assert!(report.sent >= 1, "{report:?}");
    let sent = intent_requests_for(&server, invoice);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let p = &sent[0].params;
    assert_eq!(p["amount"], "12345");
    assert_eq!(p["currency"], str_of(&details["currency"]).to_lowercase());
    assert_eq!(p["confirm"], "true");
    assert_eq!(p["off_session"], "true");
    assert_eq!(p["payment_method"], card);
    assert_eq!(p["metadata[invoice_id]"], invoice.to_string());
    assert_eq!(p["metadata[tenant_id]"], tenant);
    assert_eq!(
        sent[0].idempotency_key.as_deref(),
        Some(format!("collect:{invoice}:1").as_str())
    );
    let pi = paid_once(&app, &server, invoice).await;
    let payments = payments_of(&app, invoice).await;
    assert_eq!(payments[0]["paymentMethodId"], card.as_str());
    assert_eq!(payments[0]["amount"]["amountMinor"], "12345");
    let paid = app.invoice(&invoice.to_string()).await;
    assert_eq!(paid["amountPaid"]["amountMinor"], "12345", "{paid}");

    // The same event twice, then ten deliveries of it at once under new event ids.
    let payload = stripe_event("payment_intent.succeeded", &pi);
    for _ in 0..2 {
        let (status, body) = send_payload(&app, &payload).await;
        assert_eq!(status, 200, "{body}");
    }
    let concurrent = (0..10).map(|_| {
        let payload = stripe_event("payment_intent.succeeded", &pi);
        let app = &app;
        async move { send_payload(app, &payload).await }
    });
    for (status, body) in join_all(concurrent).await {
        assert_eq!(status, 200, "{body}");
    }
    deliver(&app).await;
    app.run_jobs().await;
    paid_once(&app, &server, invoice).await;
    assert_eq!(
        app.invoice(&invoice.to_string()).await["paidAt"],
        paid["paidAt"]
    );
    assert_eq!(server.object_count(StripeEndpoint::PaymentIntents), 1);
    assert_eq!(
        payments_metric(&app, "succeeded").await,
        1,
        "one attempt succeeded"
    );
}

/// `billing_payments_total{status}` as `/metrics` shows it.
async fn payments_metric(app: &TestApp, status: &str) -> i64 {
    let body = app.get("/metrics").await.text().await.expect("metrics");
    let series = format!("billing_payments_total{{status=\"{status}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |v| v.trim().parse().expect("counter"))
}

#[tokio::test]
async fn stripe_collection_pays_each_block_invoice_of_a_token_plan_once() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    app.create_metric("tokens").await;
    app.as_admin(
        "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
        json!({ "i": { "code": "tokens", "name": "tokens", "monthlyPriceMinor": "40000",
            "charges": [block_charge("tokens", "IMMEDIATELY", 0, 8 * M, 10_000)] } }),
    )
    .await
    .data();
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    save_card(&app, &server, &owner, "visa", "4242").await;
    app.subscribe(&owner, json!({ "planCode": "tokens" }))
        .await
        .data();

    let mut block_invoices = Vec::new();
    for key in ["r1", "r2"] {
        let r = app
            .record_usage(&owner, None, [usage_event("tokens", 5 * M, key)])
            .await;
        let invoice = r.data()["recordUsage"]["invoice"].clone();
        assert_eq!(
            invoice["status"], "OPEN",
            "a block invoice per report: {invoice}"
        );
        block_invoices.push(invoice);
    }
    assert_ne!(block_invoices[0]["id"], block_invoices[1]["id"]);
    for _ in 0..2 {
        deliver(&app).await;
    }
    let invoices = app.invoices_of(&tenant).await;
    assert_eq!(invoices.len(), 3, "the fee and two blocks: {invoices:?}");
    for invoice in &invoices {
        let id = InvoiceId::parse("id", str_of(&invoice["id"])).expect("id");
        let pi = paid_once(&app, &server, id).await;
        assert_eq!(
            pi["amount"].to_string(),
            str_of(&invoice["amountDue"]["amountMinor"])
        );
    }
    for block in &block_invoices {
        assert_eq!(block["amountDue"]["amountMinor"], "10000", "{block}");
    }
    assert_eq!(server.object_count(StripeEndpoint::PaymentIntents), 3);
}

#[tokio::test]
async fn stripe_collection_waits_for_a_card_and_collects_when_one_is_saved() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    let (invoice, _) = finalized(&app, &tenant, 9_900).await;

    deliver(&app).await;
    deliver(&app).await;
    assert_eq!(invoice_status(&app, invoice).await, "OPEN");
    assert!(intent_requests_for(&server, invoice).is_empty());
    let notes = app
        .notifications_of_kind(&tenant, "payment_method_required")
        .await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["reference"], invoice.to_string());

    save_card(&app, &server, &owner, "visa", "4242").await;
    deliver(&app).await;
    paid_once(&app, &server, invoice).await;
    let sent = intent_requests_for(&server, invoice);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].params["amount"], "9900");
    assert_eq!(
        app.notifications_of_kind(&tenant, "payment_method_required")
            .await
            .len(),
        1
    );
}
