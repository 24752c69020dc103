//! A refund Stripe refuses for good (HTTP 400, e.g. the charge was already refunded or is
//! disputed) fails its credit note at once, instead of being retried until the outbox gives
//! up; a rate limit is retried and then succeeds.
use billing::domain::{OutboxKind, OutboxStatus};
use serde_json::json;

use crate::helpers::*;

/// Refunds a paid invoice with Stripe answering `answer`; returns (invoice, credit note).
async fn refund_and_deliver(
    app: &TestApp,
    server: &StripeServer,
    answer: StripeAnswer,
) -> (String, String) {
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    save_card(app, server, &owner, "visa", "4242").await;
    let (invoice, _) = finalized(app, &tenant, 5_000).await;
    deliver(app).await;
    assert_eq!(invoice_status(app, invoice).await, "PAID");
    let r = app
        .as_admin(
            "mutation($i: RefundInvoiceInput!) { refundInvoice(input: $i) { creditNote { id status } } }",
            json!({ "i": { "invoiceId": invoice.to_string(), "reason": "asked" } }),
        )
        .await;
    let note = str_of(&r.data()["refundInvoice"]["creditNote"]["id"]).to_owned();
    server.next(StripeEndpoint::Refunds, answer);
    deliver(app).await;
    (invoice.to_string(), note)
}

async fn note_status(app: &TestApp, invoice: &str, note: &str) -> (String, serde_json::Value) {
    let messages = outbox_rows(app).await;
    let msg = messages
        .iter()
        .find(|m| m.kind == OutboxKind::RefundPayment && m.reference == note)
        .expect("the refund's outbox message");
    let r = app
        .as_admin(
            "query($id: ID!) { creditNotes(invoiceId: $id) { id status refundId } }",
            json!({ "id": invoice }),
        )
        .await;
    let notes = r.data()["creditNotes"].as_array().expect("notes").clone();
    let found = notes
        .into_iter()
        .find(|n| n["id"] == note)
        .expect("the credit note");
    (format!("{:?}", msg.status), found)
}

#[tokio::test]
async fn stripe_refund_refused_for_good_fails_the_credit_note_without_retrying() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (invoice, note) =
        refund_and_deliver(&app, &server, StripeAnswer::Refuse("charge_disputed")).await;
    let (msg, found) = note_status(&app, &invoice, &note).await;
    assert_eq!(found["status"], "FAILED", "{found}");
    assert!(found["refundId"].is_null(), "{found}");
    assert_eq!(msg, format!("{:?}", OutboxStatus::Done));
    // Nothing is tried again.
    app.advance_days(1).await;
    assert_eq!(server.requests_to("/v1/refunds").len(), 1);
}

#[tokio::test]
async fn stripe_refund_rate_limited_is_retried_and_then_succeeds() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (invoice, note) = refund_and_deliver(&app, &server, StripeAnswer::RateLimited).await;
    let (msg, found) = note_status(&app, &invoice, &note).await;
    assert_eq!(found["status"], "PENDING", "{found}");
    assert_eq!(msg, format!("{:?}", OutboxStatus::Pending));
    app.advance_days(1).await;
    let (msg, found) = note_status(&app, &invoice, &note).await;
    assert_eq!(found["status"], "SUCCEEDED", "{found}");
    assert_eq!(msg, format!("{:?}", OutboxStatus::Done));
    assert_eq!(server.object_count(StripeEndpoint::Refunds), 1);
}
