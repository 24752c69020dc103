//! Every `CONFLICT` says why in `extensions.reason`, a stable string a client can branch on.
//! Each scenario drives the real API into one conflict and checks the code, the reason, and
//! that the message is still there for people.
use billing::domain::Role;
use serde_json::{Value, json};

use crate::billing_checks::refused;
use crate::helpers::*;

const START: &str = "2026-03-01T00:00:00Z";

/// Asserts a `CONFLICT` with `reason` (and a message), through the shared refusal checks.
fn conflict(r: &Gql, reason: &str, what: &str) {
    refused(r, "CONFLICT", what);
    let error = &r.body["errors"][0];
    assert_eq!(
        error["extensions"]["reason"].as_str(),
        Some(reason),
        "{what}: wrong reason in {}",
        r.body
    );
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: no message in {}",
        r.body
    );
}

async fn change_plan(app: &TestApp, token: &str, plan: &str) -> Gql {
    app.as_token(
        token,
        "mutation($p: String!) { changePlan(input: { planCode: $p }) { subscription { id } } }",
        json!({ "p": plan }),
    )
    .await
}

async fn cancel_now(app: &TestApp, token: &str) {
    let r = app
        .as_token(
            token,
            "mutation { cancelSubscription(input: { atPeriodEnd: false }) { subscription { status } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        r.data()["cancelSubscription"]["subscription"]["status"],
        "CANCELED"
    );
}

async fn move_invoice(app: &TestApp, mutation: &str, id: &str) -> Gql {
    app.as_admin(
        &format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ id status }} }}"),
        json!({ "id": id }),
    )
    .await
}

fn line(description: &str, unit_amount_minor: i64) -> Value {
    json!({ "description": description, "quantity": "1", "unitAmountMinor": unit_amount_minor.to_string() })
}

async fn add_line(app: &TestApp, id: &str, line: Value) -> Gql {
    app.as_admin(
        "mutation($id: ID!, $l: InvoiceLineInput!) { addInvoiceLine(invoiceId: $id, line: $l) { id status } }",
        json!({ "id": id, "l": line }),
    )
    .await
}

#[tokio::test]
async fn subscription_conflicts_name_their_reason() {
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    let tenant = app.create_tenant("acme").await;
    let owner = app.tenant_token(&tenant, Role::Owner);
    app.subscribe(&owner, json!({ "planCode": "starter" }))
        .await
        .data();

    // Changing to the plan the subscription is already on.
    let r = change_plan(&app, &owner, "starter").await;
    conflict(&r, "ALREADY_ON_PLAN", "changePlan to the current plan");

    // A second live subscription.
    let r = app
        .subscribe(&owner, json!({ "planCode": "starter" }))
        .await;
    conflict(
        &r,
        "SUBSCRIPTION_ALREADY_LIVE",
        "a second createSubscription",
    );

    // Resuming a subscription that is not being canceled.
    let r = app
        .as_token(
            &owner,
            "mutation { resumeSubscription { subscription { id } } }",
            json!({}),
        )
        .await;
    conflict(
        &r,
        "NOT_CANCELING",
        "resumeSubscription with nothing to undo",
    );
    assert_eq!(app.invoices_of(&tenant).await.len(), 1, "a refusal wrote");
}

#[tokio::test]
async fn coupon_conflicts_name_their_reason() {
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    app.create_coupon(
        json!({ "code": "WELCOME20", "name": "Welcome", "percentOff": 20,
        "duration": "FOREVER" }),
    )
    .await;
    app.create_coupon(
        json!({ "code": "ONLYONE", "name": "Only one", "percentOff": 10,
        "duration": "ONCE", "maxRedemptions": 1 }),
    )
    .await;
    let acme = app.create_tenant("acme").await;
    let owner = app.tenant_token(&acme, Role::Owner);
    app.subscribe(
        &owner,
        json!({ "planCode": "starter", "couponCode": "WELCOME20" }),
    )
    .await
    .data();

    // A second coupon over a running discount.
    let r = app
        .as_token(
            &owner,
            "mutation($c: String!) { applyCoupon(input: { code: $c }) { subscription { id } } }",
            json!({ "c": "ONLYONE" }),
        )
        .await;
    conflict(&r, "DISCOUNT_ALREADY_ACTIVE", "applyCoupon over a discount");

    // The same coupon again on a new subscription of the same tenant.
    cancel_now(&app, &owner).await;
    let r = app
        .subscribe(
            &owner,
            json!({ "planCode": "starter", "couponCode": "WELCOME20" }),
        )
        .await;
    conflict(&r, "COUPON_ALREADY_REDEEMED", "redeeming a coupon twice");

    // A coupon with no redemptions left.
    let bravo = app.create_tenant("bravo").await;
    let charlie = app.create_tenant("charlie").await;
    let bravo_owner = app.tenant_token(&bravo, Role::Owner);
    let charlie_owner = app.tenant_token(&charlie, Role::Owner);
    app.subscribe(
        &bravo_owner,
        json!({ "planCode": "starter", "couponCode": "ONLYONE" }),
    )
    .await
    .data();
    let r = app
        .subscribe(
            &charlie_owner,
            json!({ "planCode": "starter", "couponCode": "ONLYONE" }),
        )
        .await;
    conflict(&r, "COUPON_FULLY_REDEEMED", "a coupon past its maximum");
    assert!(app.subscription_of(&charlie).await.is_null());
}

#[tokio::test]
async fn invoice_conflicts_name_their_reason() {
    let app = spawn_app_at(START).await;
    let tenant = app.create_tenant("acme").await;
    let r = app
        .as_admin(
            "mutation($i: CreateInvoiceInput!) { createInvoice(input: $i) { id status } }",
            json!({ "i": { "tenantId": tenant, "lines": [line("Setup", 10_000)] } }),
        )
        .await;
    let id = r.data()["createInvoice"]["id"]
        .as_str()
        .expect("invoice id")
        .to_owned();
    // A draft cannot be paid.
    let r = move_invoice(&app, "markInvoicePaid", &id).await;
    conflict(&r, "ILLEGAL_TRANSITION", "paying a draft");
    assert_eq!(
        move_invoice(&app, "finalizeInvoice", &id).await.data()["finalizeInvoice"]["status"],
        "OPEN"
    );

    // A line on a finalized invoice.
    let r = add_line(&app, &id, line("Late addition", 100)).await;
    conflict(&r, "INVOICE_NOT_DRAFT", "addInvoiceLine on an open invoice");

    // Finalizing twice, and paying a void invoice.
    let r = move_invoice(&app, "finalizeInvoice", &id).await;
    conflict(&r, "ILLEGAL_TRANSITION", "finalizing an open invoice");
    move_invoice(&app, "voidInvoice", &id).await.data();
    let r = move_invoice(&app, "markInvoicePaid", &id).await;
    conflict(&r, "ILLEGAL_TRANSITION", "paying a void invoice");
}

#[tokio::test]
async fn credit_conflicts_name_their_reason() {
    let app = spawn_app_at(START).await;
    app.create_metric("tokens").await;
    let tenant = app.create_tenant("acme").await;
    app.as_admin(
        "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
        json!({ "i": { "tenantId": tenant, "credits": "100", "reason": "test" } }),
    )
    .await
    .data();
    let member = app.tenant_token(&tenant, Role::Member);
    let consume = |quantity: i64| {
        app.as_token(
            &member,
            "mutation($i: ConsumeCreditsInput!) { consumeCredits(input: $i) { balance replayed } }",
            json!({ "i": { "metricCode": "tokens", "quantity": quantity,
                "operationType": "chat", "idempotencyKey": "req-1" } }),
        )
    };

    // The same idempotency key for a different request.
    assert_eq!(
        consume(1_300).await.data()["consumeCredits"]["replayed"],
        false
    );
    assert_eq!(
        consume(1_300).await.data()["consumeCredits"]["replayed"],
        true
    );
    let r = consume(2_500).await;
    conflict(&r, "IDEMPOTENCY_KEY_REUSED", "consumeCredits key reuse");

    // Settling a released hold.
    let r = app
        .as_token(
            &member,
            "mutation($i: ReserveCreditsInput!) { reserveCredits(input: $i) { hold { id } } }",
            json!({ "i": { "metricCode": "tokens", "quantity": 3_000, "idempotencyKey": "h-1" } }),
        )
        .await;
    let hold = r.data()["reserveCredits"]["hold"]["id"]
        .as_str()
        .expect("hold id")
        .to_owned();
    app.as_token(
        &member,
        "mutation($h: ID!) { releaseCredits(holdId: $h) { hold { status } } }",
        json!({ "h": hold }),
    )
    .await
    .data();
    let r = app
        .as_token(
            &member,
            "mutation($i: SettleCreditsInput!) { settleCredits(input: $i) { hold { status } } }",
            json!({ "i": { "holdId": hold, "actualQuantity": 1_000 } }),
        )
        .await;
    conflict(&r, "HOLD_NOT_OPEN", "settling a released hold");
}

#[tokio::test]
async fn account_and_catalog_conflicts_name_their_reason() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("acme").await;
    let r = app
        .as_admin(
            "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }",
            json!({ "i": { "name": "Other", "slug": "acme", "billingEmail": "b@other.example.com" } }),
        )
        .await;
    conflict(&r, "SLUG_TAKEN", "a duplicate slug");

    let owner_id = app
        .create_user(Some(&tenant), "owner@acme.com", "OWNER", "s3cret-passw0rd")
        .await;
    let r = app
        .as_admin(
            "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } } }",
            json!({ "i": { "tenantId": tenant, "email": "owner@acme.com", "name": "Again",
                "role": "MEMBER", "password": "s3cret-passw0rd" } }),
        )
        .await;
    conflict(&r, "EMAIL_TAKEN", "a duplicate email");
    let r = app
        .as_token(
            &app.tenant_token(&tenant, Role::Owner),
            "mutation($id: ID!) { removeUser(userId: $id) { removedUserId } }",
            json!({ "id": owner_id }),
        )
        .await;
    conflict(&r, "LAST_OWNER", "removing the last owner");

    app.create_metric("tokens").await;
    let r = app
        .as_admin(
            "mutation($i: CreateBillableMetricInput!) { createBillableMetric(input: $i) { billableMetric { id } } }",
            json!({ "i": { "code": "tokens", "name": "tokens", "unit": "unit", "aggregation": "SUM" } }),
        )
        .await;
    conflict(&r, "CODE_TAKEN", "a duplicate metric code");
    app.create_plan("starter", 2_900, None, 0).await;
    let r = app
        .as_admin(
            "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
            json!({ "i": { "code": "starter", "name": "Again", "monthlyPriceMinor": 100 } }),
        )
        .await;
    conflict(&r, "CODE_TAKEN", "a duplicate plan code");
}

#[tokio::test]
async fn only_conflicts_carry_a_reason() {
    let app = spawn_app().await;
    let unknown = format!("inv_{}", uuid::Uuid::now_v7().simple());
    let r = app
        .as_admin(
            "query($id: ID!) { invoice(id: $id) { id } }",
            json!({ "id": unknown }),
        )
        .await;
    let error = r.expect_code("NOT_FOUND");
    assert!(error["extensions"].get("reason").is_none(), "{}", r.body);
}
