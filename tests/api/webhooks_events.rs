//! Webhook events of metering and credits arrive with their documented payloads.
use billing::domain::Role;
use serde_json::{Value, json};

use crate::helpers::*;

fn only(got: &[ReceivedWebhook], kind: &str) -> Vec<Value> {
    got.iter()
        .filter(|r| r.event_type() == kind)
        .map(|r| r.json()["data"].clone())
        .collect()
}

#[tokio::test]
async fn usage_thresholds_and_block_charges_reach_the_operators_endpoint() {
    let app = spawn_webhooks_app().await;
    let receiver = WebhookReceiver::start().await;
    app.endpoint_for(
        &app.admin_token.clone(),
        json!({ "url": receiver.url, "eventTypes": ["usage.threshold_reached", "usage.block_charged"] }),
    )
    .await;
    app.create_metric("tokens").await;
    app.create_metric("api_calls").await;
    for plan in [
        json!({ "code": "tokens-400", "name": "Tokens", "monthlyPriceMinor": "40000",
            "charges": [block_charge("tokens", "IMMEDIATELY", 8_000_000, 8_000_000, 10_000)] }),
        json!({ "code": "capped", "name": "Capped", "monthlyPriceMinor": "0",
            "limits": [{ "metricCode": "api_calls", "value": "100", "enforcement": "HARD" }] }),
    ] {
        app.as_admin(
            "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
            json!({ "i": plan }),
        )
        .await
        .data();
    }
    let tokens = app.subscribed("hooks-tokens", "tokens-400").await;
    let capped = app.subscribed("hooks-capped", "capped").await;
    app.record_usage(
        &tokens.owner,
        None,
        [usage_event("tokens", 9_000_000, "t-1")],
    )
    .await
    .data();
    app.record_usage(&capped.owner, None, [usage_event("api_calls", 80, "c-1")])
        .await
        .data();
    app.record_usage(&capped.owner, None, [usage_event("api_calls", 20, "c-2")])
        .await
        .data();
    app.run_jobs().await;

    let got = receiver.accepted();
    let blocks = only(&got, "usage.block_charged");
    assert_eq!(blocks.len(), 1, "{got:?}");
    let b = &blocks[0];
    assert_eq!(b["tenant_id"], tokens.tenant.as_str());
    assert_eq!(b["subscription_id"], tokens.subscription["id"]);
    assert_eq!(b["metric"], "tokens");
    assert_eq!(b["amount_minor"], 10_000);
    assert_eq!(b["currency"], "BRL");
    assert!(str_of(&b["block_charge_id"]).starts_with("blk_"));
    assert!(str_of(&b["invoice_id"]).starts_with("inv_"));
    let limits = only(&got, "usage.threshold_reached");
    let percents: Vec<i64> = limits.iter().map(|d| int_of(&d["percent"])).collect();
    assert_eq!(percents, [80, 100]);
    for d in &limits {
        assert_eq!(d["tenant_id"], capped.tenant.as_str());
        assert_eq!(d["subscription_id"], capped.subscription["id"]);
        assert_eq!(d["metric"], "api_calls");
        assert_eq!(d["cycle"], 1);
    }
    assert_eq!(got.len(), 3, "nothing else passes the filter");
}

#[tokio::test]
async fn credit_top_ups_low_balances_and_depletion_are_told() {
    let app = spawn_webhooks_app().await;
    let demo = billing::demo::load(&app.state).await.expect("demo loads");
    let tenant = demo.tenant_id.to_string();
    let owner = app.tenant_token(&tenant, Role::Owner);
    let receiver = WebhookReceiver::start().await;
    app.endpoint_for(
        &owner,
        json!({ "url": receiver.url, "eventTypes": ["credits.topped_up", "credits.low_balance", "credits.depleted"] }),
    )
    .await;
    let r = app
        .as_token(&owner, "mutation($i: PurchaseCreditPackInput!) { purchaseCreditPack(input: $i) { topup { id } } }", json!({ "i": { "packCode": "start" } }))
        .await;
    let topup = r.data()["purchaseCreditPack"]["topup"]["id"].clone();
    app.as_admin(
        "mutation($id: ID!) { confirmCreditTopup(id: $id) { id } }",
        json!({ "id": topup }),
    )
    .await
    .data();
    let revoke = "mutation($i: AdjustCreditsInput!) { revokeCredits(input: $i) { balance } }";
    for credits in ["95", "5"] {
        app.as_admin(
            revoke,
            json!({ "i": { "tenantId": tenant, "credits": credits, "reason": "test" } }),
        )
        .await
        .data();
    }
    app.run_jobs().await;

    let got = receiver.accepted();
    let kinds: Vec<String> = got.iter().map(ReceivedWebhook::event_type).collect();
    assert_eq!(
        kinds,
        [
            "credits.topped_up",
            "credits.low_balance",
            "credits.depleted"
        ]
    );
    let d = &only(&got, "credits.topped_up")[0];
    assert_eq!(d["tenant_id"], tenant.as_str());
    assert_eq!(d["topup_id"], topup);
    assert_eq!(d["credits"], "100");
    assert_eq!(d["balance"], "100");
    let d = &only(&got, "credits.low_balance")[0];
    assert_eq!(d["balance"], "5");
    assert_eq!(d["threshold"], 10);
    assert!(str_of(&d["ledger_entry_id"]).starts_with("led_"));
    let d = &only(&got, "credits.depleted")[0];
    assert_eq!(d["balance"], "0");
    assert_eq!(d["tenant_id"], tenant.as_str());
}

#[tokio::test]
async fn a_subscription_ended_now_is_told_as_canceled() {
    let app = spawn_webhooks_app().await;
    app.create_plan("hooks-basic", 1_900, None, 0).await;
    let receiver = WebhookReceiver::start().await;
    let sub = app.subscribed("hooks-cancel", "hooks-basic").await;
    app.endpoint_for(
        &sub.owner,
        json!({ "url": receiver.url, "eventTypes": ["subscription.canceled"] }),
    )
    .await;
    app.as_token(
        &sub.owner,
        "mutation { cancelSubscription(input: { atPeriodEnd: false }) { subscription { id } } }",
        json!({}),
    )
    .await
    .data();
    app.run_jobs().await;
    let got = receiver.accepted();
    assert_eq!(
        got.len(),
        1,
        "the filter lets only the cancellation through"
    );
    let d = &got[0].json()["data"];
    assert_eq!(d["subscription_id"], sub.subscription["id"]);
    assert_eq!(d["tenant_id"], sub.tenant.as_str());
    assert_eq!(d["status"], "canceled");
    assert_eq!(d["canceled_at"], "2026-03-01T00:00:00Z");
}
