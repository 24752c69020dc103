//! The Stripe-shaped test server, proven with the real async-stripe client: every answer must
//! deserialize, every fault must come back the way Stripe's would.

use std::collections::HashMap;

use serde_json::Value;
use stripe::{
    ApiErrorsCode, ApiErrorsType, Client, IdempotencyKey, RequestStrategy, StripeError,
    StripeRequest,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    ProductData, RetrieveCheckoutSession,
};
use stripe_core::customer::{
    CreateCustomer, ListPaymentMethodsCustomer, RetrieveCustomer, RetrieveCustomerReturned,
    UpdateCustomer, UpdateCustomerInvoiceSettings,
};
use stripe_core::payment_intent::{
    CreatePaymentIntent, CreatePaymentIntentOffSession, RetrievePaymentIntent,
};
use stripe_core::refund::{CreateRefund, CreateRefundReason};
use stripe_core::setup_intent::{CreateSetupIntent, CreateSetupIntentUsage, RetrieveSetupIntent};
use stripe_payment::payment_method::{DetachPaymentMethod, RetrievePaymentMethod};
use stripe_shared::{CheckoutSessionMode, CheckoutSessionPaymentStatus, CheckoutSessionStatus};
use stripe_shared::{PaymentIntentStatus, SetupIntentStatus};
use stripe_types::Currency;

use crate::helpers::*;

pub(crate) fn metadata(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) fn key(value: &str) -> RequestStrategy {
    RequestStrategy::Idempotent(IdempotencyKey::new(value).expect("idempotency key"))
}

/// An off-session charge of a saved card, as the payment worker will send it.
pub(crate) fn charge_request(customer: &str, card: &str, amount: i64) -> CreatePaymentIntent {
    CreatePaymentIntent::new(amount, Currency::BRL)
        .customer(customer)
        .payment_method(card)
        .confirm(true)
        .off_session(CreatePaymentIntentOffSession::Bool(true))
        .description("Invoice inv_1")
        .metadata(metadata(&[("invoice_id", "inv_1"), ("tenant_id", "ten_1")]))
}

pub(crate) async fn customer_with_card(server: &StripeServer, client: &Client) -> (String, String) {
    let customer = CreateCustomer::new()
        .name("Ana")
        .send(client)
        .await
        .expect("customer");
    let card = server.attach_card(customer.id.as_str(), "visa", "4242", 12, 2034);
    (customer.id.to_string(), card)
}

pub(crate) fn stripe_error(
    result: Result<impl std::fmt::Debug, StripeError>,
) -> (Box<stripe::ApiErrors>, u16) {
    match result {
        Err(StripeError::Stripe(error, status)) => (error, status),
        other => panic!("expected a Stripe error, got {other:?}"),
    }
}

#[tokio::test]
async fn customers_are_created_retrieved_and_updated_by_the_real_client() {
    let server = StripeServer::start().await;
    let client = server.client();

    let created = CreateCustomer::new()
        .name("Ana Souza")
        .email("ana@example.com")
        .metadata(metadata(&[("tenant_id", "ten_1")]))
        .send(&client)
        .await
        .expect("create customer");
    let card = server.attach_card(created.id.as_str(), "mastercard", "4444", 1, 2031);
    let mut settings = UpdateCustomerInvoiceSettings::new();
    settings.default_payment_method = Some(card.clone());
    UpdateCustomer::new(created.id.clone())
        .invoice_settings(settings)
        .send(&client)
        .await
        .expect("update");
    let fetched = RetrieveCustomer::new(created.id.clone())
        .send(&client)
        .await
        .expect("retrieve customer");
    let RetrieveCustomerReturned::Customer(fetched) = fetched else {
        panic!("a deleted customer")
    };

    assert!(created.id.as_str().starts_with("cus_"));
    assert_eq!(fetched.id, created.id);
    assert_eq!(fetched.email.as_deref(), Some("ana@example.com"));
    assert_eq!(
        fetched
            .metadata
            .as_ref()
            .and_then(|m| m.get("tenant_id"))
            .map(String::as_str),
        Some("ten_1")
    );
    let default = fetched
        .invoice_settings
        .and_then(|s| s.default_payment_method)
        .map(|pm| pm.id().to_string());
    assert_eq!(default.as_deref(), Some(card.as_str()));
    let sent: &RecordedRequest = &server.requests_to("/v1/customers")[0];
    assert_eq!(
        sent.params.get("metadata[tenant_id]").map(String::as_str),
        Some("ten_1")
    );
}

#[tokio::test]
async fn requests_without_the_secret_key_are_refused_like_stripe() {
    let server = StripeServer::start().await;
    assert_eq!(server.secret_key(), STRIPE_TEST_KEY);
    let wrong = stripe::ClientBuilder::new("sk_test_wrong")
        .url(server.base_url())
        .build()
        .expect("client");

    let (error, status) = stripe_error(CreateCustomer::new().send(&wrong).await);
    let bare = reqwest::Client::new()
        .get(format!("{}v1/customers/cus_x", server.base_url()))
        .send()
        .await;
    let bare = bare.expect("bare request");

    assert_eq!(status, 401);
    assert_eq!(error.type_, ApiErrorsType::InvalidRequestError);
    assert!(
        error
            .message
            .unwrap_or_default()
            .contains("Invalid API Key")
    );
    assert_eq!(bare.status().as_u16(), 401);
    let body: Value = bare.json().await.expect("json error");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(server.object_count(StripeEndpoint::Customers), 0);
}

#[tokio::test]
async fn a_completed_setup_intent_leaves_a_card_the_client_can_read() {
    let server = StripeServer::start().await;
    let client = server.client();
    let customer = CreateCustomer::new().send(&client).await.expect("customer");

    let intent = CreateSetupIntent::new()
        .customer(customer.id.as_str())
        .usage(CreateSetupIntentUsage::OffSession)
        .metadata(metadata(&[("tenant_id", "ten_1")]))
        .send(&client)
        .await
        .expect("create setup intent");
    let (card, webhook_object) = server.complete_setup(intent.id.as_str(), "visa", "4242", 8, 2030);
    let done = RetrieveSetupIntent::new(intent.id.clone())
        .send(&client)
        .await
        .expect("retrieve");
    let pm = RetrievePaymentMethod::new(card.as_str())
        .send(&client)
        .await
        .expect("payment method");
    let listed = ListPaymentMethodsCustomer::new(customer.id.clone())
        .send(&client)
        .await
        .expect("list");
    let detached = DetachPaymentMethod::new(card.as_str())
        .send(&client)
        .await
        .expect("detach");

    assert_eq!(intent.status, SetupIntentStatus::RequiresPaymentMethod);
    let secret = intent.client_secret.expect("client secret");
    assert!(secret.starts_with(&format!("{}_secret_", intent.id.as_str())));
    assert_eq!(done.status, SetupIntentStatus::Succeeded);
    assert_eq!(
        done.payment_method.map(|p| p.id().to_string()),
        Some(card.clone())
    );
    assert_eq!(webhook_object["status"], "succeeded");
    let details = pm.card.expect("card details");
    assert_eq!(
        (details.brand.as_str(), details.last4.as_str()),
        ("visa", "4242")
    );
    assert_eq!((details.exp_month, details.exp_year), (8, 2030));
    assert_eq!(
        pm.customer.map(|c| c.id().to_string()),
        Some(customer.id.to_string())
    );
    assert_eq!(listed.data.len(), 1);
    assert!(detached.customer.is_none());
}

#[tokio::test]
async fn an_off_session_payment_succeeds_and_the_server_records_what_was_sent() {
    let server = StripeServer::start().await;
    let client = server.client();
    let (customer, card) = customer_with_card(&server, &client).await;

    let paid = charge_request(&customer, &card, 4990)
        .customize()
        .request_strategy(key("outbox-42"))
        .send(&client)
        .await
        .expect("payment intent");
    let fetched = RetrievePaymentIntent::new(paid.id.clone())
        .send(&client)
        .await
        .expect("retrieve");

    assert_eq!(paid.status, PaymentIntentStatus::Succeeded);
    assert_eq!(
        (paid.amount, paid.amount_received, paid.currency),
        (4990, 4990, Currency::BRL)
    );
    let charge = paid.latest_charge.expect("latest charge").id().to_string();
    assert!(charge.starts_with("ch_"));
    assert_eq!(server.object(&charge).expect("charge")["amount"], 4990);
    assert_eq!(fetched.status, PaymentIntentStatus::Succeeded);
    let sent = &server.requests_to("/v1/payment_intents")[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.idempotency_key.as_deref(), Some("outbox-42"));
    for (field, value) in [
        ("amount", "4990"),
        ("currency", "brl"),
        ("confirm", "true"),
        ("off_session", "true"),
        ("customer", customer.as_str()),
        ("payment_method", card.as_str()),
        ("metadata[invoice_id]", "inv_1"),
    ] {
        assert_eq!(
            sent.params.get(field).map(String::as_str),
            Some(value),
            "{field}"
        );
    }
}

#[tokio::test]
async fn a_queued_decline_comes_back_as_a_card_error_with_its_codes() {
    let server = StripeServer::start().await;
    let client = server.client();
    let (customer, card) = customer_with_card(&server, &client).await;

    for decline in ["insufficient_funds", "lost_card", "stolen_card"] {
        server.next(
            StripeEndpoint::PaymentIntents,
            StripeAnswer::decline(decline),
        );
        let (error, status) =
            stripe_error(charge_request(&customer, &card, 1000).send(&client).await);

        assert_eq!(status, 402);
        assert_eq!(error.type_, ApiErrorsType::CardError);
        assert_eq!(error.code, Some(ApiErrorsCode::CardDeclined));
        assert_eq!(error.decline_code.as_deref(), Some(decline));
        assert!(error.charge.is_some_and(|c| c.starts_with("ch_")));
        let intent = error.payment_intent.expect("the declined intent");
        assert_eq!(intent.status, PaymentIntentStatus::RequiresPaymentMethod);
        let last = intent.last_payment_error.expect("last payment error");
        assert_eq!(last.decline_code.as_deref(), Some(decline));
    }
    // Each declined attempt still created its PaymentIntent, as on Stripe.
    assert_eq!(server.object_count(StripeEndpoint::PaymentIntents), 3);
}

#[tokio::test]
async fn three_d_secure_stops_in_requires_action_until_the_server_is_told_it_passed() {
    let server = StripeServer::start().await;
    let client = server.client();
    let (customer, card) = customer_with_card(&server, &client).await;
    server.next(StripeEndpoint::PaymentIntents, StripeAnswer::RequiresAction);

    let pending = charge_request(&customer, &card, 2500)
        .send(&client)
        .await
        .expect("payment intent");
    let webhook_object = server.set_payment_intent_status(pending.id.as_str(), "succeeded");
    let later = RetrievePaymentIntent::new(pending.id.clone())
        .send(&client)
        .await
        .expect("retrieve");

    assert_eq!(pending.status, PaymentIntentStatus::RequiresAction);
    let action = pending.next_action.expect("next action");
    assert_eq!(action.type_, "use_stripe_sdk");
    assert!(pending.client_secret.is_some());
    assert_eq!(webhook_object["status"], "succeeded");
    assert_eq!(later.status, PaymentIntentStatus::Succeeded);
    assert!(later.latest_charge.is_some());
}

#[tokio::test]
async fn checkout_sessions_complete_and_their_payments_refund() {
    let server = StripeServer::start().await;
    let client = server.client();
    let customer = CreateCustomer::new().send(&client).await.expect("customer");
    let mut price = CreateCheckoutSessionLineItemsPriceData::new(Currency::BRL);
    price.unit_amount = Some(1500);
    price.product_data = Some(ProductData::new("100 credits"));
    let mut line = CreateCheckoutSessionLineItems::new();
    line.price_data = Some(price);
    line.quantity = Some(2);

    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Payment)
        .line_items(vec![line])
        .customer(customer.id.as_str())
        .client_reference_id("ten_1")
        .success_url("https://app.example/ok")
        .cancel_url("https://app.example/cancel")
        .metadata(metadata(&[("topup_id", "top_1")]))
        .send(&client)
        .await
        .expect("checkout session");
    let webhook_object = server.complete_checkout(session.id.as_str(), true);
    let done = RetrieveCheckoutSession::new(session.id.clone())
        .send(&client)
        .await
        .expect("retrieve");
    let pi = done
        .payment_intent
        .clone()
        .expect("payment intent")
        .id()
        .to_string();
    let part = CreateRefund::new()
        .payment_intent(pi.as_str())
        .amount(1000)
        .reason(CreateRefundReason::RequestedByCustomer)
        .send(&client)
        .await
        .expect("refund");
    let rest = CreateRefund::new()
        .payment_intent(pi.as_str())
        .send(&client)
        .await
        .expect("rest");
    let (over, status) = stripe_error(
        CreateRefund::new()
            .payment_intent(pi.as_str())
            .send(&client)
            .await,
    );

    assert!(
        session
            .url
            .as_deref()
            .is_some_and(|u| u.contains(session.id.as_str()))
    );
    assert_eq!(
        (session.status, session.payment_status),
        (
            Some(CheckoutSessionStatus::Open),
            CheckoutSessionPaymentStatus::Unpaid
        )
    );
    assert_eq!(session.amount_total, Some(3000));
    assert_eq!(webhook_object["payment_status"], "paid");
    assert_eq!(done.payment_status, CheckoutSessionPaymentStatus::Paid);
    assert_eq!((part.amount, rest.amount), (1000, 2000));
    assert!(part.id.as_str().starts_with("re_"));
    let charge = server
        .object(part.charge.expect("charge").id().as_str())
        .expect("charge object");
    assert_eq!(
        (
            charge["amount_refunded"].clone(),
            charge["refunded"].clone()
        ),
        (3000.into(), true.into())
    );
    assert_eq!(
        (status, over.code),
        (400, Some(ApiErrorsCode::ChargeAlreadyRefunded))
    );
}
