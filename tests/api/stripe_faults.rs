//! Stripe failing under a collection: a 500, a 429 and an answer that never comes in time are
//! each tried again by the outbox with the same idempotency key, so the invoice is charged
//! once, also when the process restarts in the middle.
use std::time::Duration;

use billing::domain::InvoiceId;
use chrono::TimeDelta;

use crate::helpers::*;

/// Past the outbox back-off of any of the first attempts (30 s doubling, plus jitter).
const PAST_BACKOFF: TimeDelta = TimeDelta::minutes(10);

async fn faulty_app(server: &StripeServer) -> TestApp {
    stripe_app_with(server, |c| c.stripe_timeout_ms = 500).await
}

/// Every PaymentIntent request for `invoice` carried attempt 1's key, exactly one intent
/// exists and it paid the invoice, recorded as one successful attempt.
async fn charged_once(app: &TestApp, server: &StripeServer, invoice: InvoiceId) {
    let key = format!("collect:{invoice}:1");
    let sent = intent_requests_for(server, invoice);
    assert!(
        sent.iter()
            .all(|r| r.idempotency_key.as_deref() == Some(key.as_str())),
        "{sent:?}"
    );
    let intents = intents_for(server, invoice);
    assert_eq!(intents.len(), 1, "{intents:?}");
    assert_eq!(intents[0]["status"], "succeeded");
    assert_eq!(server.object_count(StripeEndpoint::PaymentIntents), 1);
    assert_eq!(invoice_status(app, invoice).await, "PAID");
    let payments = payments_of(app, invoice).await;
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(payments[0]["status"], "SUCCEEDED");
    assert_eq!(payments[0]["paymentIntentId"], intents[0]["id"]);
}

async fn tenant_with_card(app: &TestApp, server: &StripeServer) -> String {
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    save_card(app, server, &owner, "visa", "4242").await;
    tenant
}

fn later(app: &TestApp) {
    app.state
        .clock
        .advance(PAST_BACKOFF)
        .expect("advance the clock");
}

#[tokio::test]
async fn stripe_faults_500_429_and_a_timeout_are_retried_with_one_key_and_charge_once() {
    let server = StripeServer::start().await;
    let app = faulty_app(&server).await;
    let tenant = tenant_with_card(&app, &server).await;
    server.next(StripeEndpoint::PaymentIntents, StripeAnswer::ServerError);
    server.next(StripeEndpoint::PaymentIntents, StripeAnswer::RateLimited);
    server.next(
        StripeEndpoint::PaymentIntents,
        StripeAnswer::Hang(Duration::from_secs(3)),
    );
    let (invoice, _) = finalized(&app, &tenant, 7_700).await;

    for expected in [500, 429, 200] {
        let report = deliver(&app).await;
        assert_eq!(report.retried, 1, "after a {expected}: {report:?}");
        assert_eq!(invoice_status(&app, invoice).await, "OPEN");
        let last = intent_requests_for(&server, invoice)
            .pop()
            .expect("a request");
        assert_eq!(last.status, expected);
        // Nothing is due before the back-off has passed.
        assert_eq!(deliver(&app).await, Default::default());
        later(&app);
    }
    let report = deliver(&app).await;
    assert_eq!(report.sent, 1, "{report:?}");
    let sent = intent_requests_for(&server, invoice);
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert!(
        sent[3].replayed,
        "the retry after the timeout got the saved answer"
    );
    charged_once(&app, &server, invoice).await;
    later(&app);
    deliver(&app).await;
    app.run_jobs().await;
    assert_eq!(intent_requests_for(&server, invoice).len(), 4);
}

#[tokio::test]
async fn stripe_faults_a_restart_after_a_lost_answer_resumes_the_same_attempt() {
    let server = StripeServer::start().await;
    let app = faulty_app(&server).await;
    let tenant = tenant_with_card(&app, &server).await;
    server.next(StripeEndpoint::PaymentIntents, StripeAnswer::ServerError);
    server.next(
        StripeEndpoint::PaymentIntents,
        StripeAnswer::Hang(Duration::from_secs(3)),
    );
    let (invoice, _) = finalized(&app, &tenant, 7_700).await;
    deliver(&app).await;
    later(&app);
    deliver(&app).await;
    assert_eq!(intent_requests_for(&server, invoice).len(), 2);
    assert_eq!(invoice_status(&app, invoice).await, "OPEN");

    let now = app.state.clock.now();
    let restarted = app
        .restarted_with(|c| c.clock_start = Some(now + PAST_BACKOFF))
        .await;
    let report = deliver(&restarted).await;
    assert_eq!(report.sent, 1, "{report:?}");
    charged_once(&restarted, &server, invoice).await;
    assert_eq!(intent_requests_for(&server, invoice).len(), 3);
}

#[tokio::test]
async fn stripe_faults_the_webhook_of_an_intent_whose_answer_was_lost_pays_it_once() {
    let server = StripeServer::start().await;
    let app = faulty_app(&server).await;
    let tenant = tenant_with_card(&app, &server).await;
    server.next(
        StripeEndpoint::PaymentIntents,
        StripeAnswer::Hang(Duration::from_secs(3)),
    );
    let (invoice, _) = finalized(&app, &tenant, 7_700).await;
    deliver(&app).await;
    assert_eq!(invoice_status(&app, invoice).await, "OPEN");
    let intents = intents_for(&server, invoice);
    assert_eq!(
        intents.len(),
        1,
        "Stripe made the intent; we never heard back"
    );

    let restarted = app.restarted().await;
    let (status, body) = send_event(&restarted, "payment_intent.succeeded", &intents[0]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(invoice_status(&restarted, invoice).await, "PAID");
    restarted
        .state
        .clock
        .advance(PAST_BACKOFF)
        .expect("advance");
    deliver(&restarted).await;
    charged_once(&restarted, &server, invoice).await;
    assert_eq!(intent_requests_for(&server, invoice).len(), 1);
}
