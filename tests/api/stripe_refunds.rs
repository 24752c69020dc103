//! Refunds of paid invoices: a numbered credit note per refund, one Stripe Refund per credit
//! note whatever the outbox does, never more than what was paid, webhooks that only reconcile
//! the status, and credit packs whose credits go back through the ledger.
use billing::domain::{InvoiceId, Role};
use serde_json::{Value, json};

use crate::helpers::*;

const NOTE: &str = "id tenantId invoiceId number amount { amountMinor currency } reason status \
    refundId paymentReference creditsRevoked";

fn refund_query() -> String {
    format!(
        "mutation($i: RefundInvoiceInput!) {{ refundInvoice(input: $i) {{ creditNote {{ {NOTE} }} }} }}"
    )
}

async fn refund(app: &TestApp, token: Option<&str>, input: Value) -> Gql {
    let q = refund_query();
    match token {
        None => app.as_admin(&q, json!({ "i": input })).await,
        Some(t) => app.as_token(t, &q, json!({ "i": input })).await,
    }
}

async fn notes(app: &TestApp, token: Option<&str>, invoice: &str) -> Gql {
    let q = format!("query($id: ID!) {{ creditNotes(invoiceId: $id) {{ {NOTE} }} }}");
    match token {
        None => app.as_admin(&q, json!({ "id": invoice })).await,
        Some(t) => app.as_token(t, &q, json!({ "id": invoice })).await,
    }
}

fn refunds_sent(server: &StripeServer) -> Vec<RecordedRequest> {
    server.requests_to("/v1/refunds")
}

/// A tenant with a card and an invoice of `amount` collected through Stripe.
async fn paid_invoice(
    app: &TestApp,
    server: &StripeServer,
    slug: &str,
    amount: i64,
) -> (String, String, InvoiceId) {
    let (tenant, owner) = app.tenant_with_owner(slug).await;
    save_card(app, server, &owner, "visa", "4242").await;
    let (invoice, _) = finalized(app, &tenant, amount).await;
    deliver(app).await;
    assert_eq!(invoice_status(app, invoice).await, "PAID");
    (tenant, owner, invoice)
}

#[tokio::test]
async fn stripe_refunds_a_full_refund_writes_a_numbered_credit_note_and_one_stripe_refund() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (tenant, _, invoice) = paid_invoice(&app, &server, "acme", 12_345).await;
    let pi = intents_for(&server, invoice)[0]["id"].clone();

    let r = refund(
        &app,
        None,
        json!({ "invoiceId": invoice.to_string(), "reason": "customer asked" }),
    )
    .await;
    let note = r.data()["refundInvoice"]["creditNote"].clone();
    assert_eq!(note["number"], "CN-2026-000001", "{note}");
    assert_eq!(note["amount"]["amountMinor"], "12345");
    assert_eq!(note["status"], "PENDING");
    assert_eq!(note["tenantId"], tenant.as_str());
    assert_eq!(note["paymentReference"], pi);
    assert!(refunds_sent(&server).is_empty(), "sent after commit only");

    // The outbox carries it out; running it again makes no second refund.
    deliver(&app).await;
    deliver(&app).await;
    let sent = refunds_sent(&server);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let id = str_of(&note["id"]);
    assert_eq!(
        sent[0].params["payment_intent"],
        pi.as_str().expect("present")
    );
    assert_eq!(sent[0].params["amount"], "12345");
    assert_eq!(sent[0].params["metadata[credit_note_id]"], id);
    assert_eq!(
        sent[0].idempotency_key.as_deref(),
        Some(format!("refund:{id}").as_str())
    );
    assert_eq!(server.object_count(StripeEndpoint::Refunds), 1);
    let after = notes(&app, None, &invoice.to_string()).await;
    let after = &after.data()["creditNotes"][0];
    assert_eq!(after["status"], "SUCCEEDED", "{after}");
    assert!(str_of(&after["refundId"]).starts_with("re_"));

    // Nothing is left to refund.
    let again = refund(
        &app,
        None,
        json!({ "invoiceId": invoice.to_string(), "reason": "again" }),
    )
    .await;
    let e = again.expect_code("CONFLICT");
    assert_eq!(e["extensions"]["reason"], "NOT_REFUNDABLE");
    assert_eq!(
        notes(&app, None, &invoice.to_string()).await.data()["creditNotes"]
            .as_array()
            .expect("present")
            .len(),
        1
    );
}

#[tokio::test]
async fn stripe_refunds_partial_refunds_add_up_and_never_pass_what_was_paid() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (_, _, invoice) = paid_invoice(&app, &server, "acme", 10_000).await;
    let inv = invoice.to_string();

    let first = refund(
        &app,
        None,
        json!({ "invoiceId": inv, "amountMinor": "3000", "reason": "part", "idempotencyKey": "r-1" }),
    )
    .await;
    let first = first.data()["refundInvoice"]["creditNote"].clone();
    assert_eq!(first["number"], "CN-2026-000001");
    // A replay of the key answers the first credit note; the key with another amount is refused.
    let replay = refund(
        &app,
        None,
        json!({ "invoiceId": inv, "amountMinor": "3000", "reason": "part", "idempotencyKey": "r-1" }),
    )
    .await;
    assert_eq!(
        replay.data()["refundInvoice"]["creditNote"]["id"],
        first["id"]
    );
    let reused = refund(
        &app,
        None,
        json!({ "invoiceId": inv, "amountMinor": "10", "reason": "part", "idempotencyKey": "r-1" }),
    )
    .await;
    assert_eq!(
        reused.expect_code("CONFLICT")["extensions"]["reason"],
        "IDEMPOTENCY_KEY_REUSED"
    );

    let second = refund(
        &app,
        None,
        json!({ "invoiceId": inv, "amountMinor": "5000", "reason": "part" }),
    )
    .await;
    assert_eq!(
        second.data()["refundInvoice"]["creditNote"]["number"],
        "CN-2026-000002"
    );

    // 2,000 is left: more than that is refused, above what was paid at all is bad input, and
    // zero or less is bad input. None of them writes anything.
    let over = refund(
        &app,
        None,
        json!({ "invoiceId": inv, "amountMinor": "2001", "reason": "too much" }),
    )
    .await;
    assert_eq!(
        over.expect_code("CONFLICT")["extensions"]["reason"],
        "REFUND_EXCEEDS_PAID"
    );
    for amount in ["10001", "0", "-5"] {
        let bad = refund(
            &app,
            None,
            json!({ "invoiceId": inv, "amountMinor": amount, "reason": "bad" }),
        )
        .await;
        assert_eq!(
            bad.expect_code("VALIDATION")["extensions"]["field"],
            "amountMinor",
            "{amount}"
        );
    }
    assert_eq!(
        notes(&app, None, &inv).await.data()["creditNotes"]
            .as_array()
            .expect("present")
            .len(),
        2
    );

    // The rest, by default.
    let rest = refund(&app, None, json!({ "invoiceId": inv, "reason": "rest" })).await;
    let rest = rest.data()["refundInvoice"]["creditNote"].clone();
    assert_eq!(rest["amount"]["amountMinor"], "2000");
    assert_eq!(rest["number"], "CN-2026-000003");
    deliver(&app).await;
    let amounts: Vec<String> = refunds_sent(&server)
        .iter()
        .map(|r| r.params["amount"].clone())
        .collect();
    assert_eq!(amounts.len(), 3, "{amounts:?}");
    let total: i64 = amounts
        .iter()
        .map(|a| a.parse::<i64>().expect("present"))
        .sum();
    assert_eq!(total, 10_000);
    for n in notes(&app, None, &inv).await.data()["creditNotes"]
        .as_array()
        .expect("present")
    {
        assert_eq!(n["status"], "SUCCEEDED", "{n}");
    }
}

#[tokio::test]
async fn stripe_refunds_refuse_unpaid_invoices_other_tenants_and_non_admins() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (_, owner, invoice) = paid_invoice(&app, &server, "acme", 5_000).await;
    let (other, other_owner) = app.tenant_with_owner("globex").await;
    // Open, with no card to pay it.
    let (unpaid, _) = finalized(&app, &other, 4_000).await;

    let r = refund(
        &app,
        None,
        json!({ "invoiceId": unpaid.to_string(), "reason": "nope" }),
    )
    .await;
    assert_eq!(
        r.expect_code("CONFLICT")["extensions"]["reason"],
        "NOT_REFUNDABLE"
    );
    let unknown = InvoiceId::new().to_string();
    refund(&app, None, json!({ "invoiceId": unknown, "reason": "x" }))
        .await
        .expect_code("NOT_FOUND");
    refund(&app, None, json!({ "invoiceId": "sub_123", "reason": "x" }))
        .await
        .expect_code("VALIDATION");

    // The tenant's own owner may not refund, nor may another tenant.
    for token in [&owner, &other_owner] {
        refund(
            &app,
            Some(token),
            json!({ "invoiceId": invoice.to_string(), "reason": "me" }),
        )
        .await
        .expect_code("FORBIDDEN");
    }
    // Another tenant does not see the invoice's credit notes; its own owner does.
    notes(&app, Some(&other_owner), &invoice.to_string())
        .await
        .expect_code("NOT_FOUND");
    let own = notes(&app, Some(&owner), &invoice.to_string()).await;
    assert_eq!(own.data()["creditNotes"], json!([]));
    assert!(refunds_sent(&server).is_empty());
    assert!(
        outbox_rows(&app)
            .await
            .iter()
            .all(|m| m.kind.as_str() != "refund_payment")
    );
}

#[tokio::test]
async fn stripe_refunds_charge_refunded_reconciles_the_status_once() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (tenant, _, invoice) = paid_invoice(&app, &server, "acme", 8_000).await;
    let r = refund(
        &app,
        None,
        json!({ "invoiceId": invoice.to_string(), "amountMinor": "8000", "reason": "r" }),
    )
    .await;
    let note = r.data()["refundInvoice"]["creditNote"].clone();
    let id = str_of(&note["id"]).to_owned();
    let pi = intents_for(&server, invoice)[0].clone();

    // The worker sent the refund and stopped before recording Stripe's answer: the refund
    // exists at Stripe (made with the credit note's key), the credit note does not know it.
    let body = format!(
        "payment_intent={}&amount=8000&metadata[credit_note_id]={id}&metadata[invoice_id]={invoice}&metadata[tenant_id]={tenant}",
        str_of(&pi["id"])
    );
    let sent = app
        .client
        .post(format!(
            "{}/v1/refunds",
            server.base_url().trim_end_matches('/')
        ))
        .bearer_auth(server.secret_key())
        .header("Idempotency-Key", format!("refund:{id}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("refund at Stripe");
    assert!(
        sent.status().is_success(),
        "{}",
        sent.text().await.unwrap_or_default()
    );
    let charge = server
        .object(str_of(&pi["latest_charge"]))
        .expect("the charge");
    assert_eq!(charge["refunded"], true, "{charge}");

    // `charge.refunded` names the refund and our credit note: the note is succeeded, and a
    // replay (the same event, and under a new id) changes nothing.
    let payload = stripe_event("charge.refunded", &charge);
    for _ in 0..2 {
        let (status, body) = send_payload(&app, &payload).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = send_event(&app, "charge.refunded", &charge).await;
    assert_eq!(status, 200, "{body}");
    let read = notes(&app, None, &invoice.to_string()).await;
    let done = read.data()["creditNotes"][0].clone();
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let re = charge["refunds"]["data"][0]["id"].clone();
    assert_eq!(done["refundId"], re);

    // A late `refund.updated` saying pending changes nothing, and the outbox makes no second
    // refund.
    let mut late = charge["refunds"]["data"][0].clone();
    late["status"] = json!("pending");
    let (status, body) = send_event(&app, "refund.updated", &late).await;
    assert_eq!(status, 200, "{body}");
    deliver(&app).await;
    deliver(&app).await;
    let read = notes(&app, None, &invoice.to_string()).await;
    assert_eq!(read.data()["creditNotes"][0]["status"], "SUCCEEDED");
    assert_eq!(server.object_count(StripeEndpoint::Refunds), 1);
}

#[tokio::test]
async fn stripe_refunds_a_manually_paid_invoice_writes_a_credit_note_marked_succeeded() {
    let app = spawn_app().await;
    let (tenant, _) = app.tenant_with_owner("acme").await;
    let (invoice, _) = finalized(&app, &tenant, 7_000).await;
    app.as_admin(
        "mutation($id: ID!) { markInvoicePaid(id: $id, paymentReference: \"boleto-1\") { id } }",
        json!({ "id": invoice.to_string() }),
    )
    .await
    .data();
    let r = refund(
        &app,
        None,
        json!({ "invoiceId": invoice.to_string(), "amountMinor": "2500", "reason": "goodwill" }),
    )
    .await;
    let note = r.data()["refundInvoice"]["creditNote"].clone();
    assert_eq!(note["status"], "SUCCEEDED", "{note}");
    assert_eq!(note["paymentReference"], "boleto-1");
    assert_eq!(note["refundId"], Value::Null);
    assert!(str_of(&note["number"]).starts_with("CN-"));
    assert!(
        outbox_rows(&app)
            .await
            .iter()
            .all(|m| m.kind.as_str() != "refund_payment")
    );
    let _ = Role::Owner;
}

/// The demo tenant, with the growth pack (300 credits for 9,970) bought through Checkout and
/// paid; its invoice id.
pub(crate) async fn bought_pack(app: &TestApp, server: &StripeServer) -> (String, String) {
    let demo = billing::demo::load(&app.state).await.expect("demo loads");
    let tenant = demo.tenant_id.to_string();
    let owner = app.tenant_token(&tenant, Role::Owner);
    let before = app.balance(&tenant).await.0;
    let r = app
        .as_token(
            &owner,
            "mutation($i: PurchaseCreditPackInput!) { purchaseCreditPack(input: $i) { invoice { id } } }",
            json!({ "i": { "packCode": "growth", "idempotencyKey": "buy-1" } }),
        )
        .await;
    let invoice = str_of(&r.data()["purchaseCreditPack"]["invoice"]["id"]).to_owned();
    let sessions = server.objects(StripeEndpoint::CheckoutSessions);
    let session = server.complete_checkout(str_of(&sessions[0]["id"]), true);
    let (status, body) = send_event(app, "checkout.session.completed", &session).await;
    assert_eq!(status, 200, "{body}");
    let id = InvoiceId::parse("id", &invoice).expect("id");
    assert_eq!(invoice_status(app, id).await, "PAID");
    let after = app.balance(&tenant).await.0;
    assert_eq!(
        credits_of(&after) - credits_of(&before),
        300.0,
        "{before} -> {after}"
    );
    (tenant, invoice)
}

fn credits_of(s: &str) -> f64 {
    s.parse().expect("credits")
}

/// The balance equals the ledger's sum, and the credit-note entries of the ledger.
async fn ledger_matches(app: &TestApp, tenant: &str) -> Vec<Value> {
    let entries = app.ledger_of(tenant).await;
    let sum: f64 = entries
        .iter()
        .map(|e| credits_of(str_of(&e["amount"])))
        .sum();
    let balance = credits_of(&app.balance(tenant).await.0);
    assert!(
        (sum - balance).abs() < 1e-9,
        "ledger {sum} vs balance {balance}"
    );
    entries
        .into_iter()
        .filter(|e| e["kind"] == "REVOKE")
        .collect()
}

#[tokio::test]
async fn stripe_refunds_a_credit_pack_takes_its_credits_back_through_the_ledger() {
    let server = StripeServer::start().await;
    let app = stripe_app_with(&server, |c| {
        c.public_url = "https://billing.example.com".into()
    })
    .await;
    let (tenant, invoice) = bought_pack(&app, &server).await;
    let start = credits_of(&app.balance(&tenant).await.0);

    // Half the money back: half the pack's credits.
    let r = refund(
        &app,
        None,
        json!({ "invoiceId": invoice, "amountMinor": "4985", "reason": "half" }),
    )
    .await;
    let note = r.data()["refundInvoice"]["creditNote"].clone();
    assert_eq!(note["creditsRevoked"], "150", "{note}");
    assert_eq!(credits_of(&app.balance(&tenant).await.0), start - 150.0);
    let revokes = ledger_matches(&app, &tenant).await;
    assert_eq!(revokes.len(), 1, "{revokes:?}");
    assert_eq!(revokes[0]["amount"], "-150");
    assert_eq!(revokes[0]["reference"], note["id"]);
    deliver(&app).await;
    let sent = refunds_sent(&server);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].params["amount"], "4985");
}

#[tokio::test]
async fn stripe_refunds_a_credit_pack_whose_credits_were_spent_takes_back_only_what_is_left() {
    let server = StripeServer::start().await;
    let app = stripe_app_with(&server, |c| {
        c.public_url = "https://billing.example.com".into()
    })
    .await;
    let (tenant, invoice) = bought_pack(&app, &server).await;
    // Spend all but 100 credits.
    let balance = credits_of(&app.balance(&tenant).await.0);
    let spend = format!("{}", balance - 100.0);
    app.as_admin(
        "mutation($i: AdjustCreditsInput!) { revokeCredits(input: $i) { replayed } }",
        json!({ "i": { "tenantId": tenant, "credits": spend, "reason": "used" } }),
    )
    .await
    .data();
    assert_eq!(credits_of(&app.balance(&tenant).await.0), 100.0);

    // The whole money back: the pack's 300 credits are owed, 100 are left, so 100 are taken
    // and the balance stops at zero; the rest of the refund is money only.
    let r = refund(&app, None, json!({ "invoiceId": invoice, "reason": "all" })).await;
    let note = r.data()["refundInvoice"]["creditNote"].clone();
    assert_eq!(note["amount"]["amountMinor"], "9970");
    assert_eq!(note["creditsRevoked"], "100", "{note}");
    assert_eq!(credits_of(&app.balance(&tenant).await.0), 0.0);
    let revokes = ledger_matches(&app, &tenant).await;
    assert_eq!(
        revokes
            .iter()
            .filter(|e| e["reference"] == note["id"])
            .count(),
        1
    );
    deliver(&app).await;
    assert_eq!(refunds_sent(&server).len(), 1);
    assert_eq!(refunds_sent(&server)[0].params["amount"], "9970");
}

#[tokio::test]
async fn stripe_refunds_a_failed_refund_gives_the_pack_credits_back_once() {
    let server = StripeServer::start().await;
    let app = stripe_app_with(&server, |c| {
        c.public_url = "https://billing.example.com".into()
    })
    .await;
    let (tenant, invoice) = bought_pack(&app, &server).await;
    let start = credits_of(&app.balance(&tenant).await.0);
    let r = refund(
        &app,
        None,
        json!({ "invoiceId": invoice, "amountMinor": "4985", "reason": "half" }),
    )
    .await;
    let note = r.data()["refundInvoice"]["creditNote"].clone();
    assert_eq!(note["creditsRevoked"], "150");
    deliver(&app).await;
    let read = notes(&app, None, &invoice).await;
    let re = read.data()["creditNotes"][0]["refundId"].clone();
    let mut failed = server.object(str_of(&re)).expect("the refund");
    failed["status"] = json!("failed");
    failed["failure_reason"] = json!("expired_or_canceled_card");
    for _ in 0..2 {
        let (status, body) = send_event(&app, "refund.failed", &failed).await;
        assert_eq!(status, 200, "{body}");
    }
    let read = notes(&app, None, &invoice).await;
    assert_eq!(read.data()["creditNotes"][0]["status"], "FAILED");
    assert_eq!(credits_of(&app.balance(&tenant).await.0), start);
    let grants: Vec<Value> = app
        .ledger_of(&tenant)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "GRANT" && e["reference"] == note["id"])
        .collect();
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(grants[0]["amount"], "150");
    ledger_matches(&app, &tenant).await;
    // A failed refund no longer counts: the whole amount can be refunded again.
    let again = refund(
        &app,
        None,
        json!({ "invoiceId": invoice, "reason": "retry" }),
    )
    .await;
    assert_eq!(
        again.data()["refundInvoice"]["creditNote"]["amount"]["amountMinor"],
        "9970"
    );
}
