//! Webhook events from the Stripe test server, signed by our own HMAC and checked by
//! async-stripe's verifier, with objects taken from the server's real flows.

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use stripe::StripeRequest;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    ProductData,
};
use stripe_core::customer::CreateCustomer;
use stripe_core::payment_intent::{CreatePaymentIntent, CreatePaymentIntentOffSession};
use stripe_core::refund::CreateRefund;
use stripe_core::setup_intent::CreateSetupIntent;
use stripe_types::Currency;
use stripe_webhook::{EventObject, Webhook, WebhookError};

use crate::helpers::*;

const SECRET: &str = "whsec_test_local";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn new_customer(server: &StripeServer) -> String {
    let customer = CreateCustomer::new()
        .send(&server.client())
        .await
        .expect("customer");
    customer.id.to_string()
}

/// A Checkout Session created through the client, then paid by the customer.
async fn paid_checkout(server: &StripeServer, customer: &str, amount: i64) -> Value {
    let mut price = CreateCheckoutSessionLineItemsPriceData::new(Currency::BRL);
    price.unit_amount = Some(amount);
    price.product_data = Some(ProductData::new("credits"));
    let mut line = CreateCheckoutSessionLineItems::new();
    line.price_data = Some(price);
    line.quantity = Some(1);
    let session = CreateCheckoutSession::new()
        .line_items(vec![line])
        .customer(customer)
        .success_url("https://app.example/ok")
        .send(&server.client())
        .await
        .expect("checkout session");
    server.complete_checkout(session.id.as_str(), true)
}

/// A paid PaymentIntent, a completed SetupIntent, a paid Checkout Session and a refunded charge.
async fn objects_from_real_flows(server: &StripeServer) -> [(&'static str, Value); 4] {
    let client = server.client();
    let customer = new_customer(server).await;
    let card = server.attach_card(&customer, "visa", "4242", 12, 2034);
    let paid = CreatePaymentIntent::new(1500, Currency::BRL)
        .customer(customer.as_str())
        .payment_method(card.as_str())
        .confirm(true)
        .off_session(CreatePaymentIntentOffSession::Bool(true))
        .send(&client)
        .await
        .expect("payment intent");
    let setup = CreateSetupIntent::new()
        .customer(customer.as_str())
        .send(&client)
        .await
        .expect("setup");
    let (_, setup) = server.complete_setup(setup.id.as_str(), "visa", "4242", 1, 2031);
    let refund = CreateRefund::new()
        .payment_intent(paid.id.as_str())
        .customize()
        .send(&client);
    let refund = refund.await.expect("refund");
    let charge = server
        .object(refund.charge.expect("charge").id().as_str())
        .expect("charge");
    let session = paid_checkout(server, &customer, 3000).await;
    [
        (
            "payment_intent.succeeded",
            server.object(paid.id.as_str()).expect("pi"),
        ),
        ("setup_intent.succeeded", setup),
        ("checkout.session.completed", session),
        ("charge.refunded", charge),
    ]
}

#[tokio::test]
async fn signed_events_of_each_type_are_accepted_and_parsed_by_async_stripe() {
    let server = StripeServer::start().await;

    for (kind, object) in objects_from_real_flows(&server).await {
        let payload = stripe_event(kind, &object);
        let timestamp = now();
        let header = stripe_signature(&payload, SECRET, timestamp);
        let event = Webhook::construct_event(&payload, &header, SECRET).expect(kind);

        assert_eq!(
            header,
            Webhook::generate_test_header(&payload, SECRET, Some(timestamp))
        );
        assert_eq!(event.type_.as_str(), kind);
        assert!(event.id.as_str().starts_with("evt_"));
        assert!(!event.livemode);
        let id = match event.data.object {
            EventObject::PaymentIntentSucceeded(pi) => pi.id.to_string(),
            EventObject::SetupIntentSucceeded(si) => si.id.to_string(),
            EventObject::CheckoutSessionCompleted(cs) => cs.id.to_string(),
            EventObject::ChargeRefunded(ch) => {
                assert!(ch.refunded);
                ch.id.to_string()
            }
            other => panic!("{kind} parsed as {other:?}"),
        };
        assert_eq!(object["id"], id.as_str(), "{kind}");
    }
}

#[tokio::test]
async fn a_wrong_secret_a_tampered_body_and_a_stale_timestamp_are_rejected() {
    let server = StripeServer::start().await;
    let session = paid_checkout(&server, &new_customer(&server).await, 100).await;
    let payload = stripe_event("checkout.session.completed", &session);

    let wrong_secret = stripe_signature(&payload, "whsec_other", now());
    let tampered = payload.replace("\"paid\"", "\"unpaid\"");
    let good = stripe_signature(&payload, SECRET, now());
    let stale = stripe_signature(&payload, SECRET, now() - 301);

    assert!(matches!(
        Webhook::construct_event(&payload, &wrong_secret, SECRET),
        Err(WebhookError::BadSignature)
    ));
    assert_ne!(tampered, payload);
    assert!(matches!(
        Webhook::construct_event(&tampered, &good, SECRET),
        Err(WebhookError::BadSignature)
    ));
    assert!(matches!(
        Webhook::construct_event(&payload, &stale, SECRET),
        Err(WebhookError::BadTimestamp(_))
    ));
    assert!(Webhook::construct_event(&payload, &good, SECRET).is_ok());
}

/// A stand-in receiver that verifies like the app must, to prove what `post_stripe_event` sends.
async fn receiver() -> String {
    async fn receive(headers: HeaderMap, body: String) -> StatusCode {
        let signature = headers
            .get("stripe-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let json = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match Webhook::construct_event(&body, signature, SECRET) {
            Ok(_) if json.starts_with("application/json") => StatusCode::OK,
            _ => StatusCode::BAD_REQUEST,
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let address = listener.local_addr().expect("receiver address");
    let app = axum::Router::new().route("/webhooks/stripe", axum::routing::post(receive));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

#[tokio::test]
async fn posted_events_carry_the_signature_header_and_body_stripe_sends() {
    let server = StripeServer::start().await;
    let app = receiver().await;
    let (_, setup) = {
        let customer = new_customer(&server).await;
        let intent = CreateSetupIntent::new()
            .customer(customer.as_str())
            .send(&server.client())
            .await;
        server.complete_setup(intent.expect("setup").id.as_str(), "visa", "4242", 1, 2031)
    };
    let payload = stripe_event("setup_intent.succeeded", &setup);
    let http = reqwest::Client::new();

    let (accepted, _) = post_stripe_event(
        &http,
        &app,
        &payload,
        &stripe_signature(&payload, SECRET, now()),
    )
    .await;
    let (refused, _) = post_stripe_event(
        &http,
        &app,
        &payload,
        &stripe_signature(&payload, "x", now()),
    )
    .await;

    assert_eq!((accepted, refused), (200, 400));
}
