//! Faults and idempotency on the Stripe test server, seen through the real async-stripe client:
//! 500s and 429s save nothing, a replayed key returns the first answer, a hung answer still
//! happened, and queued declines wait for a request that confirms a payment.

use std::time::Duration;

use serde_json::Value;
use stripe::{ApiErrorsCode, ApiErrorsType, RequestStrategy, StripeError, StripeRequest};
use stripe_core::payment_intent::{CreatePaymentIntent, RetrievePaymentIntent};
use stripe_shared::PaymentIntentStatus;
use stripe_types::{Currency, Expandable};

use crate::helpers::*;
use crate::stripe_server::{charge_request, customer_with_card, key, stripe_error};

#[tokio::test]
async fn server_errors_and_rate_limits_are_errors_and_save_no_result() {
    let server = StripeServer::start().await;
    let client = server.client();
    let (customer, card) = customer_with_card(&server, &client).await;
    server.next(StripeEndpoint::PaymentIntents, StripeAnswer::ServerError);
    server.next(StripeEndpoint::PaymentIntents, StripeAnswer::RateLimited);

    let send = || {
        charge_request(&customer, &card, 700)
            .customize()
            .request_strategy(key("k-1"))
            .send(&client)
    };
    let (crashed, crash_status) = stripe_error(send().await);
    let (limited, limit_status) = stripe_error(send().await);
    let paid = send().await.expect("the third try goes through");

    assert_eq!(
        (crash_status, crashed.type_),
        (500, ApiErrorsType::ApiError)
    );
    assert_eq!(limit_status, 429);
    assert_eq!(limited.code, Some(ApiErrorsCode::RateLimit));
    assert_eq!(paid.status, PaymentIntentStatus::Succeeded);
    assert_eq!(server.object_count(StripeEndpoint::PaymentIntents), 1);
    let answered: Vec<(u16, bool)> = server
        .requests_to("/v1/payment_intents")
        .iter()
        .map(|r| (r.status, r.replayed))
        .collect();
    assert_eq!(answered, [(500, false), (429, false), (200, false)]);
}

#[tokio::test]
async fn the_clients_own_retries_get_through_a_500_but_carry_no_key_without_its_uuid_feature() {
    let server = StripeServer::start().await;
    let client = server.client();
    let (customer, card) = customer_with_card(&server, &client).await;
    server.next(StripeEndpoint::PaymentIntents, StripeAnswer::ServerError);

    let paid = charge_request(&customer, &card, 700)
        .customize()
        .request_strategy(RequestStrategy::Retry(3))
        .send(&client)
        .await
        .expect("retried payment");

    assert_eq!(paid.status, PaymentIntentStatus::Succeeded);
    let sent = server.requests_to("/v1/payment_intents");
    assert_eq!(sent.len(), 2);
    // async-stripe only invents a key for `Retry` with its `uuid` feature, which we leave off:
    // the app must pass `RequestStrategy::Idempotent(key)` itself or a retried POST may pay twice.
    assert!(sent.iter().all(|r| r.idempotency_key.is_none()));
}

#[tokio::test]
async fn a_replayed_idempotency_key_returns_the_first_payment_intent() {
    let server = StripeServer::start().await;
    let client = server.client();
    let (customer, card) = customer_with_card(&server, &client).await;

    let first = charge_request(&customer, &card, 990)
        .customize()
        .request_strategy(key("inv_1-try"))
        .send(&client);
    let first = first.await.expect("first");
    let again = charge_request(&customer, &card, 990)
        .customize()
        .request_strategy(key("inv_1-try"))
        .send(&client);
    let again = again.await.expect("replay");
    let other = charge_request(&customer, &card, 991)
        .customize()
        .request_strategy(key("inv_1-try"))
        .send(&client);
    let (conflict, status) = stripe_error(other.await);
    let raw = reqwest::Client::new()
        .post(format!("{}v1/payment_intents", server.base_url()))
        .bearer_auth(server.secret_key())
        .header("idempotency-key", "inv_1-try")
        .body(
            server.requests_to("/v1/payment_intents")[0]
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&"),
        )
        .send()
        .await
        .expect("raw replay");

    assert_eq!(again.id, first.id);
    assert!(server.requests_to("/v1/payment_intents")[1].replayed);
    assert_eq!(server.object_count(StripeEndpoint::PaymentIntents), 1);
    assert_eq!(
        (status, conflict.type_),
        (400, ApiErrorsType::IdempotencyError)
    );
    assert_eq!(
        raw.headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let body: Value = raw.json().await.expect("replayed body");
    assert_eq!(body["id"], first.id.as_str());
}

#[tokio::test]
async fn a_hung_request_still_happened_and_a_retry_with_its_key_gets_the_result() {
    let server = StripeServer::start().await;
    let client = server.client();
    let (customer, card) = customer_with_card(&server, &client).await;
    server.next(
        StripeEndpoint::PaymentIntents,
        StripeAnswer::Hang(Duration::from_secs(2)),
    );

    let send = || {
        charge_request(&customer, &card, 1200)
            .customize()
            .request_strategy(key("slow-1"))
    };
    let timed_out = send()
        .timeout(Duration::from_millis(300))
        .send(&client)
        .await;
    let retried = send().send(&client).await.expect("retry");

    assert!(
        matches!(timed_out, Err(StripeError::Timeout)),
        "{timed_out:?}"
    );
    assert_eq!(retried.status, PaymentIntentStatus::Succeeded);
    assert_eq!(server.object_count(StripeEndpoint::PaymentIntents), 1);
}

#[tokio::test]
async fn a_queued_decline_waits_for_a_confirming_request_and_expand_returns_the_charge() {
    let server = StripeServer::start().await;
    let client = server.client();
    let (customer, card) = customer_with_card(&server, &client).await;
    let first = charge_request(&customer, &card, 800)
        .send(&client)
        .await
        .expect("paid");
    server.next(
        StripeEndpoint::PaymentIntents,
        StripeAnswer::decline("lost_card"),
    );

    let fetched = RetrievePaymentIntent::new(first.id.clone())
        .expand(vec!["latest_charge".to_string()])
        .send(&client)
        .await
        .expect("retrieve");
    let unconfirmed = CreatePaymentIntent::new(800, Currency::BRL)
        .send(&client)
        .await;
    let (declined, status) =
        stripe_error(charge_request(&customer, &card, 800).send(&client).await);

    match fetched.latest_charge {
        Some(Expandable::Object(charge)) => assert_eq!(charge.amount, 800),
        other => panic!("expected an expanded charge, got {other:?}"),
    }
    assert_eq!(
        unconfirmed.expect("unconfirmed").status,
        PaymentIntentStatus::RequiresPaymentMethod
    );
    assert_eq!(
        (status, declined.decline_code.as_deref()),
        (402, Some("lost_card"))
    );
}
