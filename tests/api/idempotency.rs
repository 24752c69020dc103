//! Idempotency of the credit mutations: a replay answers the first result and changes
//! nothing, concurrent copies of one request act once, and the same key with a different input
//! is `CONFLICT` `IDEMPOTENCY_KEY_REUSED` and changes nothing.
use billing::domain::Role;
use serde_json::{Value, json};

use crate::helpers::*;

const START: &str = "2026-03-01T00:00:00Z";
const PAYLOAD: &str = "entry { id kind amount quantity } balance held replayed";

async fn setup() -> (TestApp, String, String) {
    let app = spawn_app_at(START).await;
    app.create_metric("tokens").await;
    let tenant = app.create_tenant("acme").await;
    let r = adjust(&app, "grantCredits", &tenant, "100", "opening", None).await;
    r.data();
    let member = app.tenant_token(&tenant, Role::Member);
    (app, tenant, member)
}

async fn adjust(
    app: &TestApp,
    mutation: &str,
    tenant: &str,
    credits: &str,
    reason: &str,
    key: Option<&str>,
) -> Gql {
    app.as_admin(
        &format!("mutation($i: AdjustCreditsInput!) {{ {mutation}(input: $i) {{ {PAYLOAD} }} }}"),
        json!({ "i": { "tenantId": tenant, "credits": credits, "reason": reason,
            "idempotencyKey": key } }),
    )
    .await
}

async fn reserve(app: &TestApp, token: &str, input: Value) -> Gql {
    app.as_token(
        token,
        &format!(
            "mutation($i: ReserveCreditsInput!) {{ reserveCredits(input: $i) {{ \
             hold {{ id status amount }} {PAYLOAD} }} }}"
        ),
        json!({ "i": input }),
    )
    .await
}

fn hold_input(quantity: i64, key: &str) -> Value {
    json!({ "metricCode": "tokens", "quantity": quantity, "idempotencyKey": key,
        "operationType": "chat", "ttlSeconds": 300 })
}

async fn settle(app: &TestApp, token: &str, hold: &str, actual: i64) -> Gql {
    app.as_token(
        token,
        &format!(
            "mutation($i: SettleCreditsInput!) {{ settleCredits(input: $i) {{ \
             hold {{ id status settled }} {PAYLOAD} }} }}"
        ),
        json!({ "i": { "holdId": hold, "actualQuantity": actual } }),
    )
    .await
}

/// Of `answers` (all successful), exactly one acted and the rest replay it; returns it.
fn one_acted<'a>(answers: &'a [Gql], field: &str) -> &'a Value {
    let firsts: Vec<&Value> = answers
        .iter()
        .map(|r| &r.data()[field])
        .filter(|p| p["replayed"] == false)
        .collect();
    assert_eq!(firsts.len(), 1, "{field}: {} acted", firsts.len());
    for r in answers {
        assert_eq!(r.data()[field]["entry"], firsts[0]["entry"], "{}", r.body);
    }
    firsts[0]
}

#[tokio::test]
async fn reserve_credits_replays_conflicts_and_acts_once_under_concurrency() {
    let (app, tenant, member) = setup().await;
    let r = reserve(&app, &member, hold_input(5_000, "r-1")).await;
    let first = r.data()["reserveCredits"].clone();
    assert_eq!(first["replayed"], false);
    let ledger = app.ledger_ids(&tenant).await;

    let again = reserve(&app, &member, hold_input(5_000, "r-1")).await;
    let again = &again.data()["reserveCredits"];
    assert_eq!(again["replayed"], true);
    assert_eq!(again["hold"], first["hold"]);
    assert_eq!(again["entry"], first["entry"]);
    assert_eq!(app.balance(&tenant).await, ("95".into(), "5".into()));

    let other = [
        ("quantity", json!("6000")),
        ("quantity", json!("-1")),
        ("operationType", json!("search")),
        ("ttlSeconds", json!(60)),
    ];
    for (field, value) in other {
        let mut input = hold_input(5_000, "r-1");
        input[field] = value;
        let r = reserve(&app, &member, input).await;
        assert_key_reused(&r, &format!("reserveCredits with another {field}"));
    }
    assert_eq!(app.ledger_ids(&tenant).await, ledger, "a conflict wrote");
    assert_eq!(app.balance(&tenant).await, ("95".into(), "5".into()));

    let answers = at_once(AT_ONCE, || reserve(&app, &member, hold_input(3_000, "r-2"))).await;
    one_acted(&answers, "reserveCredits");
    assert_eq!(app.ledger_ids(&tenant).await.len(), ledger.len() + 1);
    assert_eq!(app.balance(&tenant).await, ("92".into(), "8".into()));
}

#[tokio::test]
async fn settle_credits_replays_the_same_quantity_and_refuses_another() {
    let (app, tenant, member) = setup().await;
    let r = reserve(&app, &member, hold_input(5_000, "s-1")).await;
    let hold = id_of(&r.data()["reserveCredits"]["hold"]);

    let r = settle(&app, &member, &hold, 3_000).await;
    let first = r.data()["settleCredits"].clone();
    assert_eq!(first["replayed"], false);
    assert_eq!(first["hold"]["settled"], "3");
    let ledger = app.ledger_ids(&tenant).await;

    let again = settle(&app, &member, &hold, 3_000).await;
    let again = &again.data()["settleCredits"];
    assert_eq!(again["replayed"], true);
    assert_eq!(again["entry"], first["entry"]);
    assert_eq!(again["hold"], first["hold"]);

    for other in [4_000, 1, 0] {
        let r = settle(&app, &member, &hold, other).await;
        assert_key_reused(&r, &format!("settleCredits with {other}"));
    }
    assert_eq!(app.ledger_ids(&tenant).await, ledger, "a conflict wrote");
    assert_eq!(app.balance(&tenant).await, ("97".into(), "0".into()));

    // Eight settlements of one hold at once: one settles, the others replay it.
    let r = reserve(&app, &member, hold_input(5_000, "s-2")).await;
    let hold = id_of(&r.data()["reserveCredits"]["hold"]);
    let answers = at_once(AT_ONCE, || settle(&app, &member, &hold, 2_000)).await;
    one_acted(&answers, "settleCredits");
    assert_eq!(app.ledger_ids(&tenant).await.len(), ledger.len() + 2);
    assert_eq!(app.balance(&tenant).await, ("95".into(), "0".into()));
}

async fn adjustment_is_idempotent(mutation: &str, balance_after: &str) {
    let (app, tenant, _) = setup().await;
    let r = adjust(&app, mutation, &tenant, "10", "goodwill", Some("a-1")).await;
    let first = r.data()[mutation].clone();
    assert_eq!(first["replayed"], false);
    let ledger = app.ledger_ids(&tenant).await;

    let again = adjust(&app, mutation, &tenant, "10", "goodwill", Some("a-1")).await;
    let again = &again.data()[mutation];
    assert_eq!(again["replayed"], true);
    assert_eq!(again["entry"], first["entry"]);
    assert_eq!(again["balance"], balance_after);

    let r = adjust(&app, mutation, &tenant, "11", "goodwill", Some("a-1")).await;
    assert_key_reused(&r, &format!("{mutation} with other credits"));
    let r = adjust(&app, mutation, &tenant, "10", "another", Some("a-1")).await;
    assert_key_reused(&r, &format!("{mutation} with another reason"));
    assert_eq!(app.ledger_ids(&tenant).await, ledger, "a conflict wrote");
    assert_eq!(app.balance(&tenant).await.0, balance_after);

    let answers = at_once(AT_ONCE, || {
        adjust(&app, mutation, &tenant, "1", "at once", Some("a-2"))
    })
    .await;
    one_acted(&answers, mutation);
    assert_eq!(app.ledger_ids(&tenant).await.len(), ledger.len() + 1);
}

#[tokio::test]
async fn grant_credits_replays_conflicts_and_acts_once_under_concurrency() {
    adjustment_is_idempotent("grantCredits", "110").await;
}

#[tokio::test]
async fn revoke_credits_replays_conflicts_and_acts_once_under_concurrency() {
    adjustment_is_idempotent("revokeCredits", "90").await;
}

async fn purchase(app: &TestApp, token: &str, pack: &str, key: &str) -> Gql {
    app.as_token(
        token,
        "mutation($i: PurchaseCreditPackInput!) { purchaseCreditPack(input: $i) { \
         topup { id status credits invoiceId } invoice { id number status total { amountMinor } } } }",
        json!({ "i": { "packCode": pack, "idempotencyKey": key } }),
    )
    .await
}

/// (top-ups, invoices) of `tenant`.
async fn purchases(app: &TestApp, tenant: &str) -> (usize, usize) {
    let r = app
        .as_admin(
            "query($t: ID) { creditTopups(tenantId: $t, first: 100) { edges { cursor } } }",
            json!({ "t": tenant }),
        )
        .await;
    let topups = r.data()["creditTopups"]["edges"]
        .as_array()
        .map_or(0, Vec::len);
    (topups, app.invoices_of(tenant).await.len())
}

#[tokio::test]
async fn purchase_credit_pack_replays_conflicts_and_acts_once_under_concurrency() {
    let app = spawn_app_at(START).await;
    let demo = billing::demo::load(&app.state).await.expect("demo loads");
    let tenant = demo.tenant_id.to_string();
    let owner = app.tenant_token(&tenant, Role::Owner);
    let before = purchases(&app, &tenant).await;

    let r = purchase(&app, &owner, "start", "b-1").await;
    let first = r.data()["purchaseCreditPack"].clone();
    assert_eq!(first["topup"]["status"], "PENDING");
    let again = purchase(&app, &owner, "start", "b-1").await;
    assert_eq!(
        again.data()["purchaseCreditPack"],
        first,
        "a replay differs"
    );
    assert_eq!(purchases(&app, &tenant).await, (before.0 + 1, before.1 + 1));

    let r = purchase(&app, &owner, "growth", "b-1").await;
    assert_key_reused(&r, "purchaseCreditPack with another pack");
    assert_eq!(purchases(&app, &tenant).await, (before.0 + 1, before.1 + 1));

    let answers = at_once(AT_ONCE, || purchase(&app, &owner, "growth", "b-2")).await;
    let first = answers[0].data()["purchaseCreditPack"].clone();
    for r in &answers {
        assert_eq!(r.data()["purchaseCreditPack"], first, "answers differ");
    }
    assert_eq!(purchases(&app, &tenant).await, (before.0 + 2, before.1 + 2));
}
