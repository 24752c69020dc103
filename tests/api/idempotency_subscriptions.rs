//! Idempotency of `createSubscription`, `changePlan` and `applyCoupon`: a replay answers the
//! first payload and acts once, concurrent copies act once, and the same key with another
//! input is `CONFLICT` `IDEMPOTENCY_KEY_REUSED` and changes nothing.
use serde_json::{Value, json};

use crate::helpers::*;

const START: &str = "2026-03-01T00:00:00Z";

async fn setup() -> TestApp {
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    app.create_plan("professional", 9_900, None, 0).await;
    app.create_plan("enterprise", 29_900, None, 0).await;
    for (code, off) in [("WELCOME20", 20), ("OTHER10", 10)] {
        app.create_coupon(json!({ "code": code, "name": code, "percentOff": off,
            "duration": "FOREVER" }))
            .await;
    }
    app
}

fn payload() -> String {
    format!("subscription {{ {SUBSCRIPTION_FIELDS} }} invoice {{ {INVOICE_FIELDS} }}")
}

async fn change_plan(app: &TestApp, token: &str, plan: &str, key: &str) -> Gql {
    app.as_token(
        token,
        &format!(
            "mutation($i: ChangePlanInput!) {{ changePlan(input: $i) {{ {} }} }}",
            payload()
        ),
        json!({ "i": { "planCode": plan, "idempotencyKey": key } }),
    )
    .await
}

async fn apply_coupon(app: &TestApp, token: &str, code: &str, key: &str) -> Gql {
    app.as_token(
        token,
        &format!(
            "mutation($i: ApplyCouponInput!) {{ applyCoupon(input: $i) {{ {} }} }}",
            payload()
        ),
        json!({ "i": { "code": code, "idempotencyKey": key } }),
    )
    .await
}

/// Every answer succeeded with the same payload; returns it.
fn all_same(answers: &[Gql], field: &str) -> Value {
    let first = answers[0].data()[field].clone();
    for r in answers {
        assert_eq!(r.data()[field], first, "{field}: answers differ");
    }
    first
}

/// What a conflict must leave as it was: the subscription and the invoices.
async fn snapshot(app: &TestApp, tenant: &str) -> (Value, Vec<Value>) {
    (
        app.subscription_of(tenant).await,
        app.invoices_of(tenant).await,
    )
}

#[tokio::test]
async fn create_subscription_replays_conflicts_and_acts_once_under_concurrency() {
    let app = setup().await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    let input =
        json!({ "planCode": "starter", "couponCode": "WELCOME20", "idempotencyKey": "c-1" });
    let r = app.subscribe(&owner, input.clone()).await;
    let first = r.data()["createSubscription"].clone();
    assert_eq!(minor(&first["invoice"]["total"]), 2_320, "{first}");

    let again = app.subscribe(&owner, input.clone()).await;
    assert_eq!(
        again.data()["createSubscription"],
        first,
        "a replay differs"
    );
    let before = snapshot(&app, &tenant).await;
    assert_eq!(before.1.len(), 1, "a replay invoiced again");

    let other = [
        ("planCode", json!("professional")),
        ("couponCode", json!("OTHER10")),
        ("couponCode", Value::Null),
        ("trialDays", json!(7)),
        ("interval", json!("YEARLY")),
    ];
    for (field, value) in other {
        let mut changed = input.clone();
        changed[field] = value;
        let r = app.subscribe(&owner, changed).await;
        assert_key_reused(&r, &format!("createSubscription with another {field}"));
    }
    assert_eq!(
        snapshot(&app, &tenant).await,
        before,
        "a conflict changed something"
    );

    // Eight first requests at once: one subscription, one invoice, eight equal answers.
    let (tenant, owner) = app.tenant_with_owner("globex").await;
    let input = json!({ "planCode": "starter", "idempotencyKey": "c-1" });
    let answers = at_once(AT_ONCE, || app.subscribe(&owner, input.clone())).await;
    let first = all_same(&answers, "createSubscription");
    assert_eq!(first["subscription"]["tenantId"], tenant.as_str());
    assert_eq!(app.invoices_of(&tenant).await.len(), 1);
}

#[tokio::test]
async fn change_plan_replays_conflicts_and_acts_once_under_concurrency() {
    let app = setup().await;
    let acme = app.subscribed("acme", "starter").await;
    app.advance_days(10).await;
    let r = change_plan(&app, &acme.owner, "professional", "p-1").await;
    let first = r.data()["changePlan"].clone();
    assert_eq!(
        first["invoice"]["billingReason"], "SUBSCRIPTION_UPDATE",
        "{first}"
    );

    let again = change_plan(&app, &acme.owner, "professional", "p-1").await;
    assert_eq!(again.data()["changePlan"], first, "a replay differs");
    let before = snapshot(&app, &acme.tenant).await;
    assert_eq!(before.1.len(), 2, "a replay prorated again");

    for plan in ["enterprise", "starter"] {
        let r = change_plan(&app, &acme.owner, plan, "p-1").await;
        assert_key_reused(&r, &format!("changePlan to {plan}"));
    }
    assert_eq!(
        snapshot(&app, &acme.tenant).await,
        before,
        "a conflict changed something"
    );

    let globex = app.subscribed("globex", "starter").await;
    let answers = at_once(AT_ONCE, || {
        change_plan(&app, &globex.owner, "professional", "p-1")
    })
    .await;
    let first = all_same(&answers, "changePlan");
    assert_eq!(first["subscription"]["plan"]["code"], "professional");
    assert_eq!(app.invoices_of(&globex.tenant).await.len(), 2);
}

#[tokio::test]
async fn apply_coupon_replays_conflicts_and_acts_once_under_concurrency() {
    let app = setup().await;
    let acme = app.subscribed("acme", "starter").await;
    let r = apply_coupon(&app, &acme.owner, "WELCOME20", "a-1").await;
    let first = r.data()["applyCoupon"].clone();
    assert_eq!(first["subscription"]["discount"]["couponCode"], "WELCOME20");

    let again = apply_coupon(&app, &acme.owner, "welcome20", "a-1").await;
    assert_eq!(again.data()["applyCoupon"], first, "a replay differs");
    let before = snapshot(&app, &acme.tenant).await;

    let r = apply_coupon(&app, &acme.owner, "OTHER10", "a-1").await;
    assert_key_reused(&r, "applyCoupon with another coupon");
    assert_eq!(
        snapshot(&app, &acme.tenant).await,
        before,
        "a conflict changed something"
    );

    let globex = app.subscribed("globex", "starter").await;
    let answers = at_once(AT_ONCE, || {
        apply_coupon(&app, &globex.owner, "OTHER10", "a-1")
    })
    .await;
    let first = all_same(&answers, "applyCoupon");
    assert_eq!(first["subscription"]["discount"]["couponCode"], "OTHER10");
    let r = app
        .as_admin(
            "query { coupons(first: 10) { edges { node { code timesRedeemed } } } }",
            json!({}),
        )
        .await;
    let redeemed: Vec<(String, i64)> = nodes(&r, "coupons")
        .iter()
        .map(|c| (str_of(&c["code"]).to_owned(), int_of(&c["timesRedeemed"])))
        .collect();
    assert!(redeemed.contains(&("OTHER10".into(), 1)), "{redeemed:?}");
    assert!(redeemed.contains(&("WELCOME20".into(), 1)), "{redeemed:?}");
}
