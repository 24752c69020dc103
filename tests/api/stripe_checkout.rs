//! Credit packs bought through Stripe Checkout: the purchase answers a Checkout page, and the
//! signed `checkout.session.*` events credit the wallet exactly once (whatever their number or
//! order) or fail the top-up. The pack's invoice is never charged off-session.
use billing::config::Secret;
use billing::domain::Role;
use billing::jobs::deliver_due;
use serde_json::{Value, json};

use crate::helpers::*;

const SECRET: &str = "whsec_checkout_tests";
const PURCHASE: &str = "mutation($i: PurchaseCreditPackInput!) { purchaseCreditPack(input: $i) {
    topup { id status source credits paymentId } invoice { id status } checkoutUrl } }";
const TOPUPS: &str = "query($t: ID) { creditTopups(tenantId: $t, first: 100) {
    edges { node { id status source paymentId } } } }";

async fn setup() -> (StripeServer, TestApp, String, String) {
    let server = StripeServer::start().await;
    let app = spawn_app_with(|c| {
        c.clock_start = Some("2026-03-01T00:00:00Z".parse().expect("start"));
        c.stripe_secret_key = Some(Secret::new(server.secret_key()));
        c.stripe_api_base = Some(server.base_url().to_owned());
        c.stripe_webhook_secret = Some(Secret::new(SECRET));
        c.outbox_interval_ms = 0;
        c.public_url = "https://billing.example.com".into();
    })
    .await;
    let demo = billing::demo::load(&app.state).await.expect("demo loads");
    let tenant = demo.tenant_id.to_string();
    let owner = app.tenant_token(&tenant, Role::Owner);
    (server, app, tenant, owner)
}

async fn buy(app: &TestApp, owner: &str, pack: &str, key: &str) -> Value {
    let r = app
        .as_token(
            owner,
            PURCHASE,
            json!({ "i": { "packCode": pack, "idempotencyKey": key } }),
        )
        .await;
    r.data()["purchaseCreditPack"].clone()
}

async fn balance(app: &TestApp, tenant: &str) -> String {
    app.balance(tenant).await.0
}

async fn deliver(app: &TestApp, event_type: &str, session: &Value) -> (u16, String) {
    let payload = stripe_event(event_type, session);
    let signature = stripe_signature(&payload, SECRET, chrono::Utc::now().timestamp());
    post_stripe_event(&app.client, &app.address, &payload, &signature).await
}

async fn topup(app: &TestApp, tenant: &str) -> Value {
    let r = app.as_admin(TOPUPS, json!({ "t": tenant })).await;
    r.data()["creditTopups"]["edges"][0]["node"].clone()
}

#[tokio::test]
async fn stripe_a_paid_checkout_credits_the_pack_once_however_often_it_is_reported() {
    let (server, app, tenant, owner) = setup().await;
    let bought = buy(&app, &owner, "growth", "buy-1").await;
    assert_eq!(bought["topup"]["status"], "PENDING");
    assert_eq!(bought["topup"]["source"], "STRIPE");
    let url = bought["checkoutUrl"]
        .as_str()
        .expect("a Checkout URL")
        .to_owned();
    let sessions = server.objects(StripeEndpoint::CheckoutSessions);
    assert_eq!(sessions.len(), 1);
    let session = &sessions[0];
    assert_eq!(session["url"], url.as_str());
    let sent = &server.requests_to("/v1/checkout/sessions")[0];
    assert_eq!(sent.params["mode"], "payment");
    assert_eq!(
        sent.params["line_items[0][price_data][unit_amount]"],
        "9970"
    );
    assert_eq!(sent.params["line_items[0][price_data][currency]"], "brl");
    assert_eq!(sent.params["line_items[0][quantity]"], "1");
    assert_eq!(sent.params["metadata[tenant_id]"], tenant.as_str());
    assert_eq!(
        sent.params["metadata[invoice_id]"],
        str_of(&bought["invoice"]["id"])
    );
    assert!(
        sent.params["success_url"]
            .starts_with("https://billing.example.com/credits?checkout=success")
    );
    assert!(
        sent.params["cancel_url"]
            .starts_with("https://billing.example.com/credits?checkout=cancel")
    );
    let topup_id = str_of(&bought["topup"]["id"]).to_owned();
    assert_eq!(
        sent.idempotency_key.as_deref(),
        Some(format!("checkout:{topup_id}").as_str())
    );

    // A replayed purchase answers the same page and buys nothing more.
    let again = buy(&app, &owner, "growth", "buy-1").await;
    assert_eq!(again["topup"]["id"], bought["topup"]["id"]);
    assert_eq!(again["checkoutUrl"], url.as_str());
    assert_eq!(server.object_count(StripeEndpoint::CheckoutSessions), 1);

    // The pack's invoice is paid on its page, never charged off-session.
    deliver_due(&app.state).await.expect("outbox");
    assert_eq!(server.object_count(StripeEndpoint::PaymentIntents), 0);
    assert_eq!(balance(&app, &tenant).await, "0");

    let paid = server.complete_checkout(str_of(&session["id"]), true);
    let pi = str_of(&paid["payment_intent"]).to_owned();
    let payload = stripe_event("checkout.session.completed", &paid);
    let signature = stripe_signature(&payload, SECRET, chrono::Utc::now().timestamp());
    // Twenty deliveries of the same event at once, then the async "succeeded" too.
    let answers = futures::future::join_all(
        (0..20).map(|_| post_stripe_event(&app.client, &app.address, &payload, &signature)),
    )
    .await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
    }
    let (status, body) = deliver(&app, "checkout.session.async_payment_succeeded", &paid).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(balance(&app, &tenant).await, "300", "credited once");
    let t = topup(&app, &tenant).await;
    assert_eq!(t["status"], "COMPLETED");
    assert_eq!(t["source"], "STRIPE");
    assert_eq!(t["paymentId"], pi.as_str());
    let after = buy(&app, &owner, "growth", "buy-1").await;
    assert!(
        after["checkoutUrl"].is_null(),
        "paid: no page to pay any more"
    );
}

#[tokio::test]
async fn stripe_a_checkout_paid_later_credits_on_the_async_event_and_an_expired_one_fails() {
    let (server, app, tenant, owner) = setup().await;
    buy(&app, &owner, "start", "boleto").await;
    let session = server.objects(StripeEndpoint::CheckoutSessions)[0].clone();
    // Boleto: the session completes unpaid; only the async event pays it.
    let waiting = server.complete_checkout(str_of(&session["id"]), false);
    let (status, _) = deliver(&app, "checkout.session.completed", &waiting).await;
    assert_eq!(status, 200);
    assert_eq!(balance(&app, &tenant).await, "0");
    assert_eq!(topup(&app, &tenant).await["status"], "PENDING");
    let mut paid = waiting.clone();
    paid["payment_status"] = json!("paid");
    deliver(&app, "checkout.session.async_payment_succeeded", &paid).await;
    assert_eq!(balance(&app, &tenant).await, "100");
    assert_eq!(topup(&app, &tenant).await["status"], "COMPLETED");
    // A failure reported after the payment changes nothing.
    deliver(&app, "checkout.session.async_payment_failed", &paid).await;
    assert_eq!(balance(&app, &tenant).await, "100");

    buy(&app, &owner, "pro", "abandoned").await;
    let abandoned = server.objects(StripeEndpoint::CheckoutSessions)[1].clone();
    let (status, _) = deliver(&app, "checkout.session.expired", &abandoned).await;
    assert_eq!(status, 200);
    let r = app.as_admin(TOPUPS, json!({ "t": tenant })).await;
    let statuses: Vec<&str> = r.data()["creditTopups"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| str_of(&e["node"]["status"]))
        .collect();
    assert!(statuses.contains(&"FAILED"), "{statuses:?}");
    assert_eq!(balance(&app, &tenant).await, "100");
}

#[tokio::test]
async fn stripe_a_checkout_event_naming_another_tenants_invoice_changes_nothing() {
    let (server, app, tenant, owner) = setup().await;
    buy(&app, &owner, "start", "mine").await;
    let other = app.create_tenant("other").await;
    let session = server.objects(StripeEndpoint::CheckoutSessions)[0].clone();
    let mut forged = server.complete_checkout(str_of(&session["id"]), true);
    forged["metadata"]["tenant_id"] = json!(other);
    let (status, _) = deliver(&app, "checkout.session.completed", &forged).await;
    assert_eq!(status, 200);
    assert_eq!(balance(&app, &tenant).await, "0");
    assert_eq!(topup(&app, &tenant).await["status"], "PENDING");
    let events = app
        .as_admin(
            "{ stripeEvents { edges { node { type status } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        events.data()["stripeEvents"]["edges"][0]["node"]["status"],
        "IGNORED"
    );
}
