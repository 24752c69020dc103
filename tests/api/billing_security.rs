//! Subscriptions, invoices and notifications across tenants: every read and write naming
//! another tenant is refused, and nothing of the other tenant changes.
use billing::domain::Role;
use serde_json::{Value, json};

use crate::helpers::*;

const SUBSCRIPTION: &str = "query($t: ID) { subscription(tenantId: $t) { id status } }";
const SUBSCRIPTIONS: &str =
    "query($t: ID) { subscriptions(tenantId: $t, first: 100) { edges { node { id tenantId } } } }";
const INVOICES: &str =
    "query($t: ID) { invoices(tenantId: $t, first: 100) { edges { node { id tenantId } } } }";
const INVOICE: &str = "query($id: ID!) { invoice(id: $id) { id tenantId total { amountMinor } } }";
const NOTIFICATIONS: &str =
    "query($t: ID) { notifications(tenantId: $t, first: 100) { edges { node { id tenantId } } } }";

/// Everything of tenant `t` that billing calls could change, read as admin.
async fn billing_snapshot(app: &TestApp, t: &str) -> Value {
    let invoices = app.invoices_of(t).await;
    let notes = nodes(
        &app.as_admin(NOTIFICATIONS, json!({ "t": t })).await,
        "notifications",
    );
    let coupon = app
        .as_admin(
            "{ coupon(code: \"SHARED10\") { timesRedeemed } }",
            json!({}),
        )
        .await;
    json!({
        "subscription": app.subscription_of(t).await,
        "invoices": invoices,
        "notifications": notes,
        "coupon": coupon.data()["coupon"].clone(),
    })
}

/// Tenants A and B, each with a live starter subscription and an open invoice.
async fn two_subscribed_tenants(app: &TestApp) -> (String, String) {
    app.create_plan("starter", 2_900, None, 0).await;
    app.create_plan("professional", 9_900, None, 0).await;
    app.create_coupon(
        json!({ "code": "SHARED10", "name": "10%", "percentOff": 10, "duration": "FOREVER" }),
    )
    .await;
    let a = app.create_tenant("tenant-a").await;
    let b = app.create_tenant("tenant-b").await;
    for t in [&a, &b] {
        let owner = app.tenant_token(t, Role::Owner);
        app.subscribe(&owner, json!({ "planCode": "starter" }))
            .await
            .data();
    }
    (a, b)
}

#[tokio::test]
async fn no_tenant_credential_reads_another_tenants_billing() {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    let (a, b) = two_subscribed_tenants(&app).await;
    app.advance_days(20).await; // B's first invoice becomes overdue: a notification exists.
    let b_invoice = app.invoices_of(&b).await[0]["id"].clone();

    for role in [Role::Owner, Role::Billing, Role::Member, Role::Service] {
        let token = app.tenant_token(&a, role);
        for query in [SUBSCRIPTION, SUBSCRIPTIONS, INVOICES, NOTIFICATIONS] {
            let r = app.as_token(&token, query, json!({ "t": b })).await;
            r.expect_code("FORBIDDEN");
            assert!(r.body["data"].is_null(), "{role:?} read B: {}", r.body);
        }
        let r = app
            .as_token(&token, INVOICE, json!({ "id": b_invoice }))
            .await;
        r.expect_code("NOT_FOUND");

        // Without a tenant argument, each list holds tenant A's rows only.
        for (query, field) in [
            (SUBSCRIPTIONS, "subscriptions"),
            (INVOICES, "invoices"),
            (NOTIFICATIONS, "notifications"),
        ] {
            let own = nodes(&app.as_token(&token, query, json!({})).await, field);
            assert!(!own.is_empty(), "{role:?} sees none of its own {field}");
            assert!(
                own.iter().all(|n| n["tenantId"] == json!(a)),
                "{role:?} saw another tenant in {field}: {own:?}"
            );
        }
    }
}

#[tokio::test]
async fn no_tenant_credential_changes_another_tenants_subscription() {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    let (a, b) = two_subscribed_tenants(&app).await;
    let before = billing_snapshot(&app, &b).await;
    let b_invoice = before["invoices"][0]["id"].clone();

    let writes = [
        (
            "mutation($t: ID) { cancelSubscription(input: { tenantId: $t, atPeriodEnd: false }) { subscription { id } } }",
            json!({ "t": b }),
        ),
        (
            "mutation($t: ID) { resumeSubscription(tenantId: $t) { subscription { id } } }",
            json!({ "t": b }),
        ),
        (
            "mutation($t: ID) { changePlan(input: { tenantId: $t, planCode: \"professional\" }) { subscription { id } } }",
            json!({ "t": b }),
        ),
        (
            "mutation($t: ID) { applyCoupon(input: { tenantId: $t, code: \"SHARED10\" }) { subscription { id } } }",
            json!({ "t": b }),
        ),
        (
            "mutation($t: ID) { createSubscription(input: { tenantId: $t, planCode: \"starter\" }) { subscription { id } } }",
            json!({ "t": b }),
        ),
    ];
    for role in [Role::Owner, Role::Billing] {
        let token = app.tenant_token(&a, role);
        for (mutation, vars) in &writes {
            app.as_token(&token, mutation, vars.clone())
                .await
                .expect_code("FORBIDDEN");
        }
    }
    // Invoice actions are the admin's: a tenant owner gets FORBIDDEN even on its own invoices.
    let owner_a = app.tenant_token(&a, Role::Owner);
    for mutation in [
        "mutation($id: ID!) { markInvoicePaid(id: $id) { id } }",
        "mutation($id: ID!) { voidInvoice(id: $id) { id } }",
        "mutation($id: ID!) { markInvoiceUncollectible(id: $id) { id } }",
        "mutation($id: ID!) { finalizeInvoice(id: $id) { id } }",
    ] {
        app.as_token(&owner_a, mutation, json!({ "id": b_invoice }))
            .await
            .expect_code("FORBIDDEN");
    }

    assert_eq!(billing_snapshot(&app, &b).await, before);
}

#[tokio::test]
async fn members_and_service_keys_cannot_change_their_own_subscription() {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    let (a, _) = two_subscribed_tenants(&app).await;
    let before = billing_snapshot(&app, &a).await;
    let owner = app.tenant_token(&a, Role::Owner);
    let (_, key) = app.create_api_key(&owner, None, "backend").await;
    for token in [app.tenant_token(&a, Role::Member), key] {
        for mutation in [
            "mutation { cancelSubscription(input: {}) { subscription { id } } }",
            "mutation { resumeSubscription { subscription { id } } }",
            "mutation { changePlan(input: { planCode: \"professional\" }) { subscription { id } } }",
            "mutation { applyCoupon(input: { code: \"SHARED10\" }) { subscription { id } } }",
        ] {
            app.as_token(&token, mutation, json!({}))
                .await
                .expect_code("FORBIDDEN");
        }
    }
    assert_eq!(billing_snapshot(&app, &a).await, before);
}
