//! Declines, retries and 3-D Secure through the Stripe test server: a soft decline is tried
//! again on the schedule with the next attempt's key, a hard one waits for a new card, an
//! owner may retry now, and a payment waiting for authentication is never charged again.
use billing::domain::InvoiceId;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::helpers::*;

const RETRY: &str = "mutation($id: ID!) { retryInvoicePayment(input: { invoiceId: $id }) { payments { id attempt status paymentIntentId } } }";

fn at(v: &Value) -> DateTime<Utc> {
    str_of(v).parse().unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn keys(server: &StripeServer, invoice: InvoiceId) -> Vec<String> {
    intent_requests_for(server, invoice)
        .into_iter()
        .map(|r| r.idempotency_key.unwrap_or_default())
        .collect()
}

async fn retry(app: &TestApp, token: &str, invoice: InvoiceId) -> Gql {
    app.as_token(token, RETRY, json!({ "id": invoice.to_string() }))
        .await
}

/// A tenant with a saved card and a finalized invoice of 5000 whose first attempt was answered
/// with `answer` (the outbox has run once).
async fn first_attempt(
    server: &StripeServer,
    app: &TestApp,
    answer: StripeAnswer,
) -> (String, String, InvoiceId) {
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    save_card(app, server, &owner, "visa", "4242").await;
    server.next(StripeEndpoint::PaymentIntents, answer);
    let (invoice, _) = finalized(app, &tenant, 5_000).await;
    deliver(app).await;
    (tenant, owner, invoice)
}

#[tokio::test]
async fn stripe_dunning_retries_a_soft_decline_a_day_later_with_the_next_key() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (tenant, _, invoice) =
        first_attempt(&server, &app, StripeAnswer::decline("insufficient_funds")).await;

    assert_eq!(invoice_status(&app, invoice).await, "OPEN");
    let payments = payments_of(&app, invoice).await;
    assert_eq!(payments.len(), 1, "{payments:?}");
    let failed = &payments[0];
    assert_eq!(failed["attempt"], 1);
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["failureCode"], "insufficient_funds");
    assert!(!str_of(&failed["failureMessage"]).is_empty(), "{failed}");
    assert!(
        str_of(&failed["paymentIntentId"]).starts_with("pi_"),
        "{failed}"
    );
    let retry_at = at(&failed["nextRetryAt"]);
    assert_eq!(retry_at, at(&failed["createdAt"]) + TimeDelta::days(1));
    let notes = app.notifications_of_kind(&tenant, "payment_failed").await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    let date = retry_at.format("%Y-%m-%d").to_string();
    assert!(str_of(&notes[0]["message"]).contains(&date), "{notes:?}");

    // Not yet due.
    app.run_jobs().await;
    deliver(&app).await;
    assert_eq!(keys(&server, invoice).len(), 1);

    app.advance_days(1).await;
    assert_eq!(
        keys(&server, invoice),
        vec![
            format!("collect:{invoice}:1"),
            format!("collect:{invoice}:2")
        ]
    );
    assert_eq!(invoice_status(&app, invoice).await, "PAID");
    let payments = payments_of(&app, invoice).await;
    assert_eq!(payments.len(), 2, "{payments:?}");
    assert_eq!(payments[1]["attempt"], 2);
    assert_eq!(payments[1]["status"], "SUCCEEDED");
    assert!(payments[0]["nextRetryAt"].is_null(), "{payments:?}");
    let succeeded: Vec<_> = intents_for(&server, invoice)
        .into_iter()
        .filter(|pi| pi["status"] == "succeeded")
        .collect();
    assert_eq!(succeeded.len(), 1);
    assert_eq!(payments[1]["paymentIntentId"], succeeded[0]["id"]);

    // Later retry dates of the schedule charge nothing more.
    app.advance_days(7).await;
    assert_eq!(keys(&server, invoice).len(), 2);
}

#[tokio::test]
async fn stripe_dunning_does_not_retry_a_hard_decline_until_a_new_card_arrives() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (tenant, owner, invoice) =
        first_attempt(&server, &app, StripeAnswer::decline("lost_card")).await;

    let payments = payments_of(&app, invoice).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["status"], "FAILED");
    assert_eq!(payments[0]["failureCode"], "lost_card");
    assert!(payments[0]["nextRetryAt"].is_null(), "{payments:?}");
    assert_eq!(
        app.notifications_of_kind(&tenant, "payment_failed")
            .await
            .len(),
        1
    );

    for _ in 0..3 {
        app.advance_days(3).await;
    }
    assert_eq!(
        keys(&server, invoice).len(),
        1,
        "a hard decline is not retried"
    );
    assert_eq!(invoice_status(&app, invoice).await, "OPEN");

    let card = save_card(&app, &server, &owner, "mastercard", "4444").await;
    deliver(&app).await;
    assert_eq!(invoice_status(&app, invoice).await, "PAID");
    let payments = payments_of(&app, invoice).await;
    assert_eq!(payments.len(), 2, "{payments:?}");
    assert_eq!(payments[1]["status"], "SUCCEEDED");
    assert_eq!(payments[1]["paymentMethodId"], card.as_str());
    let sent = intent_requests_for(&server, invoice);
    assert_eq!(sent[1].params["payment_method"], card);
    assert_eq!(keys(&server, invoice)[1], format!("collect:{invoice}:2"));
}

#[tokio::test]
async fn stripe_dunning_retry_by_the_owner_charges_now_and_not_a_paid_invoice() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (_, owner, invoice) =
        first_attempt(&server, &app, StripeAnswer::decline("insufficient_funds")).await;

    let r = retry(&app, &owner, invoice).await;
    let payments = r.data()["retryInvoicePayment"]["payments"]
        .as_array()
        .expect("payments")
        .clone();
    assert_eq!(payments.len(), 2, "{payments:?}");
    assert_eq!(payments[1]["attempt"], 2);
    assert_eq!(payments[1]["status"], "SUCCEEDED");
    assert_eq!(invoice_status(&app, invoice).await, "PAID");
    assert_eq!(keys(&server, invoice)[1], format!("collect:{invoice}:2"));

    let error = retry(&app, &owner, invoice).await;
    let error = error.expect_code("CONFLICT");
    assert_eq!(error["extensions"]["reason"], "NOT_COLLECTIBLE", "{error}");
    // The first attempt's retry date passes: nothing more is charged.
    app.advance_days(2).await;
    assert_eq!(keys(&server, invoice).len(), 2);
    assert_eq!(payments_of(&app, invoice).await.len(), 2);
}

#[tokio::test]
async fn stripe_dunning_waits_for_3d_secure_and_is_paid_by_its_webhook() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (tenant, owner, invoice) = first_attempt(&server, &app, StripeAnswer::RequiresAction).await;

    let payments = payments_of(&app, invoice).await;
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(payments[0]["status"], "REQUIRES_ACTION");
    assert_eq!(invoice_status(&app, invoice).await, "OPEN");
    let pi_id = str_of(&payments[0]["paymentIntentId"]).to_owned();
    let pi = server.object(&pi_id).expect("pi");
    assert_eq!(pi["status"], "requires_action");
    let secret = str_of(&pi["client_secret"]);
    let notes = app
        .notifications_of_kind(&tenant, "payment_action_required")
        .await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(str_of(&notes[0]["message"]).contains(secret), "{notes:?}");

    app.run_jobs().await;
    app.advance_days(2).await;
    deliver(&app).await;
    let r = retry(&app, &owner, invoice).await;
    assert_eq!(
        r.expect_code("CONFLICT")["extensions"]["reason"],
        "NOT_COLLECTIBLE"
    );
    assert_eq!(
        intent_requests_for(&server, invoice).len(),
        1,
        "no new PaymentIntent"
    );

    let done = server.set_payment_intent_status(&pi_id, "succeeded");
    let (status, body) = send_event(&app, "payment_intent.succeeded", &done).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(invoice_status(&app, invoice).await, "PAID");
    let payments = payments_of(&app, invoice).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["status"], "SUCCEEDED");
    assert_eq!(server.object_count(StripeEndpoint::PaymentIntents), 1);
}

#[tokio::test]
async fn stripe_dunning_a_hard_decline_after_a_manual_retry_is_not_retried_on_the_old_schedule() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (_, owner, invoice) =
        first_attempt(&server, &app, StripeAnswer::decline("insufficient_funds")).await;
    server.next(
        StripeEndpoint::PaymentIntents,
        StripeAnswer::decline("lost_card"),
    );

    let r = retry(&app, &owner, invoice).await;
    let payments = r.data()["retryInvoicePayment"]["payments"].clone();
    assert_eq!(payments[1]["status"], "FAILED", "{payments}");
    let payments = payments_of(&app, invoice).await;
    assert_eq!(payments[1]["failureCode"], "lost_card");
    assert!(payments[1]["nextRetryAt"].is_null(), "{payments:?}");

    // Attempt 1's retry date passes, and every later one.
    for _ in 0..4 {
        app.advance_days(2).await;
    }
    assert_eq!(
        keys(&server, invoice).len(),
        2,
        "the lost card is not charged again: {:?}",
        payments_of(&app, invoice).await
    );
    assert_eq!(invoice_status(&app, invoice).await, "OPEN");
}

#[tokio::test]
async fn stripe_dunning_a_manual_retry_does_not_add_attempts_to_the_schedule() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (_, owner, invoice) =
        first_attempt(&server, &app, StripeAnswer::decline("insufficient_funds")).await;
    for _ in 0..10 {
        server.next(
            StripeEndpoint::PaymentIntents,
            StripeAnswer::decline("insufficient_funds"),
        );
    }
    retry(&app, &owner, invoice).await.data();
    // The schedule "1,3,5,7" counts days from the first failure: one attempt at each date.
    for _ in 0..8 {
        app.advance_days(1).await;
    }
    let payments = payments_of(&app, invoice).await;
    let days: Vec<i64> = payments
        .iter()
        .map(|p| (at(&p["createdAt"]) - at(&payments[0]["createdAt"])).num_days())
        .collect();
    assert_eq!(days, vec![0, 0, 3, 5, 7], "{payments:?}");
}

/// Voided while the payer authenticates, then paid: the money is recorded for an operator to
/// refund, the invoice stays void, and the event is accepted rather than delivered forever.
#[tokio::test]
async fn stripe_dunning_a_payment_finished_after_the_invoice_was_voided_stays_recorded() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (_, _, invoice) = first_attempt(&server, &app, StripeAnswer::RequiresAction).await;
    let pi_id = str_of(&payments_of(&app, invoice).await[0]["paymentIntentId"]).to_owned();
    app.as_admin(
        "mutation($id: ID!) { voidInvoice(id: $id) { status } }",
        json!({ "id": invoice.to_string() }),
    )
    .await
    .data();

    let done = server.set_payment_intent_status(&pi_id, "succeeded");
    let (status, body) = send_event(&app, "payment_intent.succeeded", &done).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(invoice_status(&app, invoice).await, "VOID");
    assert_eq!(payments_of(&app, invoice).await[0]["status"], "SUCCEEDED");
}
