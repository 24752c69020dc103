//! Saving cards through Stripe: one customer per tenant, a SetupIntent for Stripe.js, the card
//! arriving by signed webhook, default and removal, and who may do it.
use billing::domain::Role;
use serde_json::json;

use crate::helpers::*;

const SET_DEFAULT: &str = "mutation($id: ID!) { setDefaultPaymentMethod(input: { id: $id }) { paymentMethod { id isDefault } } }";
const REMOVE: &str = "mutation($id: ID!) { removePaymentMethod(input: { id: $id }) { paymentMethod { id stripeId } } }";

#[tokio::test]
async fn stripe_cards_are_saved_by_webhook_made_default_and_removed() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;

    let first = setup_intent(&app, &owner).await;
    let second = setup_intent(&app, &owner).await;
    assert!(
        str_of(&first["setupIntentId"]).starts_with("seti_"),
        "{first}"
    );
    assert!(
        str_of(&first["clientSecret"]).contains("_secret_"),
        "{first}"
    );
    assert_ne!(first["setupIntentId"], second["setupIntentId"]);
    let customers = server.requests_to("/v1/customers");
    assert_eq!(customers.len(), 1, "the second setup reuses the customer");
    assert_eq!(
        customers[0].idempotency_key.as_deref(),
        Some(format!("customer:{tenant}").as_str())
    );
    assert_eq!(server.object_count(StripeEndpoint::Customers), 1);
    let customer = server.objects(StripeEndpoint::Customers)[0]["id"].clone();
    for seti in [&first, &second] {
        let intent = server.object(str_of(&seti["setupIntentId"])).expect("seti");
        assert_eq!(intent["customer"], customer);
    }

    let seti = str_of(&first["setupIntentId"]);
    let (visa, intent) = server.complete_setup(seti, "visa", "4242", 12, 2034);
    let (status, body) = send_event(&app, "setup_intent.succeeded", &intent).await;
    assert_eq!(status, 200, "{body}");
    let cards = methods_of(&app, &owner).await;
    assert_eq!(cards.len(), 1, "{cards:?}");
    assert_eq!(cards[0]["stripeId"], visa.as_str());
    assert_eq!(cards[0]["tenantId"], tenant.as_str());
    assert_eq!(cards[0]["brand"], "visa");
    assert_eq!(cards[0]["last4"], "4242");
    assert_eq!(cards[0]["expMonth"], 12);
    assert_eq!(cards[0]["expYear"], 2034);
    assert_eq!(cards[0]["isDefault"], true);

    let seti = str_of(&second["setupIntentId"]);
    let (master, intent) = server.complete_setup(seti, "mastercard", "4444", 3, 2031);
    let (status, body) = send_event(&app, "setup_intent.succeeded", &intent).await;
    assert_eq!(status, 200, "{body}");
    let cards = methods_of(&app, &owner).await;
    assert_eq!(cards.len(), 2, "{cards:?}");
    let by = |pm: &str| {
        cards
            .iter()
            .find(|c| c["stripeId"] == pm)
            .unwrap_or_else(|| panic!("no card {pm} in {cards:?}"))
            .clone()
    };
    let (visa_card, master_card) = (by(&visa), by(&master));
    assert_eq!(
        master_card["isDefault"], true,
        "the newest card is the default"
    );
    assert_eq!(visa_card["isDefault"], false);
    assert_eq!(
        (
            master_card["expMonth"].clone(),
            master_card["last4"].clone()
        ),
        (json!(3), json!("4444"))
    );

    let r = app
        .as_token(&owner, SET_DEFAULT, json!({ "id": visa_card["id"] }))
        .await;
    assert_eq!(
        r.data()["setDefaultPaymentMethod"]["paymentMethod"]["isDefault"],
        true
    );
    let cards = methods_of(&app, &owner).await;
    let defaults: Vec<_> = cards.iter().filter(|c| c["isDefault"] == true).collect();
    assert_eq!(defaults.len(), 1, "{cards:?}");
    assert_eq!(defaults[0]["stripeId"], visa.as_str());

    let r = app
        .as_token(&owner, REMOVE, json!({ "id": master_card["id"] }))
        .await;
    assert_eq!(
        r.data()["removePaymentMethod"]["paymentMethod"]["stripeId"],
        master.as_str()
    );
    let detach = server.requests_to(&format!("/v1/payment_methods/{master}/detach"));
    assert_eq!(detach.len(), 1, "the card is detached at Stripe");
    assert_eq!(detach[0].status, 200);
    assert!(server.object(&master).expect("pm")["customer"].is_null());
    let cards = methods_of(&app, &owner).await;
    assert_eq!(cards.len(), 1, "{cards:?}");
    assert_eq!(cards[0]["stripeId"], visa.as_str());
    assert_eq!(cards[0]["isDefault"], true);
}

#[tokio::test]
async fn stripe_cards_are_only_for_managers_of_their_own_tenant() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    let (_, other_owner) = app.tenant_with_owner("other").await;
    save_card(&app, &server, &owner, "visa", "4242").await;
    let card = methods_of(&app, &owner).await[0].clone();
    let member = app.tenant_token(&tenant, Role::Member);

    app.as_token(
        &member,
        "mutation { createPaymentMethodSetup(input: {}) { setupIntentId } }",
        json!({}),
    )
    .await
    .expect_code("FORBIDDEN");
    app.as_token(&member, "query { paymentMethods { id } }", json!({}))
        .await
        .expect_code("FORBIDDEN");
    app.as_token(&member, SET_DEFAULT, json!({ "id": card["id"] }))
        .await
        .expect_code("FORBIDDEN");
    app.as_token(&member, REMOVE, json!({ "id": card["id"] }))
        .await
        .expect_code("FORBIDDEN");

    app.as_token(&other_owner, SET_DEFAULT, json!({ "id": card["id"] }))
        .await
        .expect_code("NOT_FOUND");
    app.as_token(&other_owner, REMOVE, json!({ "id": card["id"] }))
        .await
        .expect_code("NOT_FOUND");
    assert!(methods_of(&app, &other_owner).await.is_empty());
    assert!(
        server
            .requests_to("/v1/payment_methods")
            .iter()
            .all(|r| !r.path.ends_with("/detach"))
    );
    let cards = methods_of(&app, &owner).await;
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0]["isDefault"], true);
}

#[tokio::test]
async fn stripe_cards_without_stripe_configured_are_a_conflict() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant_with_owner("acme").await;
    let r = app
        .as_token(
            &owner,
            "mutation { createPaymentMethodSetup(input: {}) { setupIntentId } }",
            json!({}),
        )
        .await;
    let error = r.expect_code("CONFLICT");
    assert_eq!(
        error["extensions"]["reason"], "PROVIDER_NOT_CONFIGURED",
        "{error}"
    );
}

#[tokio::test]
async fn stripe_cards_first_setups_at_once_make_one_customer_and_redelivered_cards_save_once() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (_, owner) = app.tenant_with_owner("acme").await;
    let setups = futures::future::join_all((0..5).map(|_| setup_intent(&app, &owner))).await;
    assert_eq!(setups.len(), 5);
    assert_eq!(server.object_count(StripeEndpoint::Customers), 1);
    let customer = server.objects(StripeEndpoint::Customers)[0]["id"].clone();
    for s in &setups {
        let intent = server.object(str_of(&s["setupIntentId"])).expect("seti");
        assert_eq!(intent["customer"], customer);
    }

    let (pm, intent) =
        server.complete_setup(str_of(&setups[0]["setupIntentId"]), "visa", "4242", 1, 2030);
    let deliveries = (0..5).map(|_| {
        let app = &app;
        let intent = &intent;
        async move { send_event(app, "setup_intent.succeeded", intent).await }
    });
    for (status, body) in futures::future::join_all(deliveries).await {
        assert_eq!(status, 200, "{body}");
    }
    let cards = methods_of(&app, &owner).await;
    assert_eq!(cards.len(), 1, "{cards:?}");
    assert_eq!(cards[0]["stripeId"], pm.as_str());
    assert_eq!(cards[0]["isDefault"], true);
}

#[tokio::test]
async fn stripe_cards_removing_the_default_card_makes_another_the_default() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (_, owner) = app.tenant_with_owner("acme").await;
    let visa = save_card(&app, &server, &owner, "visa", "4242").await;
    let master = save_card(&app, &server, &owner, "mastercard", "4444").await;
    let cards = methods_of(&app, &owner).await;
    let default = cards
        .iter()
        .find(|c| c["isDefault"] == true)
        .expect("default");
    assert_eq!(default["stripeId"], master.as_str());

    app.as_token(&owner, REMOVE, json!({ "id": default["id"] }))
        .await
        .data();
    let cards = methods_of(&app, &owner).await;
    assert_eq!(cards.len(), 1, "{cards:?}");
    assert_eq!(cards[0]["stripeId"], visa.as_str());
    assert_eq!(cards[0]["isDefault"], true, "{cards:?}");
}
