//! Buying credit packs: a pending top-up and its invoice; paying it credits the wallet once.
use billing::domain::Role;
use serde_json::{Value, json};

use crate::helpers::*;

const PURCHASE: &str = "mutation($i: PurchaseCreditPackInput!) { purchaseCreditPack(input: $i) {
    topup { id status source credits amount { amountMinor } invoiceId packId }
    invoice { id number status billingReason total { amountMinor } } } }";
const CONFIRM: &str =
    "mutation($id: ID!) { confirmCreditTopup(id: $id) { id status credits completedAt } }";
const WALLET: &str = "query($t: ID) { wallet(tenantId: $t) { balance held
    ledger(first: 100) { edges { node { kind amount balanceAfter reference } } } } }";
const TOPUPS: &str = "query($t: ID) { creditTopups(tenantId: $t, first: 100) {
    edges { node { id status source credits reason amount { amountMinor } } } } }";

async fn wallet(app: &TestApp, tenant: &str) -> Value {
    app.as_admin(WALLET, json!({ "t": tenant })).await.data()["wallet"].clone()
}

#[tokio::test]
async fn each_demo_pack_credits_exactly_its_amount_once_even_when_confirmed_twice() {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    let demo = billing::demo::load(&app.state).await.expect("demo loads");
    let tenant = demo.tenant_id.to_string();
    let owner = app.tenant_token(&tenant, Role::Owner);
    let mut expected = 0i64;
    for (pack, credits, price) in [
        ("start", 100, 3_970),
        ("growth", 300, 9_970),
        ("pro", 800, 19_970),
        ("master", 2_000, 39_700),
    ] {
        let r = app
            .as_token(&owner, PURCHASE, json!({ "i": { "packCode": pack } }))
            .await;
        let bought = &r.data()["purchaseCreditPack"];
        assert_eq!(bought["topup"]["status"], "PENDING", "{pack}");
        assert_eq!(bought["topup"]["source"], "MANUAL", "{pack}");
        assert_eq!(bought["topup"]["credits"], credits.to_string(), "{pack}");
        assert_eq!(bought["invoice"]["billingReason"], "CREDIT_PACK");
        assert_eq!(bought["invoice"]["status"], "OPEN");
        assert_eq!(money(&bought["invoice"], "total"), price, "{pack}");
        // Nothing is credited before the payment is confirmed.
        assert_eq!(wallet(&app, &tenant).await["balance"], expected.to_string());

        let id = bought["topup"]["id"].clone();
        for _ in 0..2 {
            let c = app.as_admin(CONFIRM, json!({ "id": id })).await;
            assert_eq!(c.data()["confirmCreditTopup"]["status"], "COMPLETED");
        }
        expected += credits;
        let w = wallet(&app, &tenant).await;
        assert_eq!(w["balance"], expected.to_string(), "{pack}: {w}");
    }
    // The ledger holds one TOPUP per pack and sums to the balance.
    let w = wallet(&app, &tenant).await;
    let entries: Vec<Value> = w["ledger"]["edges"]
        .as_array()
        .expect("ledger")
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    assert_eq!(entries.len(), 4, "{entries:?}");
    assert!(entries.iter().all(|e| e["kind"] == "TOPUP"));
    let sum: i64 = entries.iter().map(|e| big(&e["amount"])).sum();
    assert_eq!(sum.to_string(), w["balance"]);
    // Paying the invoice again is an illegal move and credits nothing more.
    let topups = nodes(
        &app.as_admin(TOPUPS, json!({ "t": tenant })).await,
        "creditTopups",
    );
    assert_eq!(topups.len(), 4);
    assert!(topups.iter().all(|t| t["status"] == "COMPLETED"));
}

#[tokio::test]
async fn a_voided_pack_invoice_fails_the_top_up_and_credits_nothing() {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    let demo = billing::demo::load(&app.state).await.expect("demo loads");
    let tenant = demo.tenant_id.to_string();
    let owner = app.tenant_token(&tenant, Role::Billing);
    let r = app
        .as_token(&owner, PURCHASE, json!({ "i": { "packCode": "start" } }))
        .await;
    let bought = r.data()["purchaseCreditPack"].clone();
    app.as_admin(
        "mutation($id: ID!) { voidInvoice(id: $id) { status } }",
        json!({ "id": bought["invoice"]["id"] }),
    )
    .await
    .data();
    let topups = nodes(
        &app.as_admin(TOPUPS, json!({ "t": tenant })).await,
        "creditTopups",
    );
    assert_eq!(topups[0]["status"], "FAILED");
    assert_eq!(wallet(&app, &tenant).await["balance"], "0");
    // A failed top-up cannot be confirmed into credits.
    app.as_admin(CONFIRM, json!({ "id": bought["topup"]["id"] }))
        .await
        .expect_code("CONFLICT");
    assert_eq!(wallet(&app, &tenant).await["balance"], "0");
}

#[tokio::test]
async fn grants_appear_in_the_top_up_history_and_members_cannot_buy_or_confirm() {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    let demo = billing::demo::load(&app.state).await.expect("demo loads");
    let tenant = demo.tenant_id.to_string();
    app.as_admin(
        "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
        json!({ "i": { "tenantId": tenant, "credits": "25", "reason": "goodwill" } }),
    )
    .await
    .data();
    let topups = nodes(
        &app.as_admin(TOPUPS, json!({ "t": tenant })).await,
        "creditTopups",
    );
    assert_eq!(topups.len(), 1);
    assert_eq!(topups[0]["source"], "ADMIN");
    assert_eq!(topups[0]["status"], "COMPLETED");
    assert_eq!(topups[0]["reason"], "goodwill");
    assert_eq!(topups[0]["credits"], "25");

    let member = app.tenant_token(&tenant, Role::Member);
    app.as_token(&member, PURCHASE, json!({ "i": { "packCode": "start" } }))
        .await
        .expect_code("FORBIDDEN");
    let owner = app.tenant_token(&tenant, Role::Owner);
    let r = app
        .as_token(&owner, PURCHASE, json!({ "i": { "packCode": "start" } }))
        .await;
    let id = r.data()["purchaseCreditPack"]["topup"]["id"].clone();
    app.as_token(&owner, CONFIRM, json!({ "id": id }))
        .await
        .expect_code("FORBIDDEN");
    app.as_token(
        &owner,
        PURCHASE,
        json!({ "i": { "packCode": "no-such-pack" } }),
    )
    .await
    .expect_code("NOT_FOUND");
    assert_eq!(wallet(&app, &tenant).await["balance"], "25");
}
