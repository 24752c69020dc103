//! The one-statement spends (`credits::quick`, PostgreSQL) price a spend from the tenant's
//! cached snapshot and check, in the same statement, that the snapshot is still current. Two
//! replicas on one database: replica B spends with a warm snapshot while replica A changes
//! the plan (the credit rule), suspends and reactivates the tenant. B must price and refuse
//! from what A committed, on its very next call. On SQLite the full path answers; the
//! expectations are the same.
use serde_json::{Value, json};

use crate::helpers::*;

const CONSUME: &str = "mutation($i: ConsumeCreditsInput!) { consumeCredits(input: $i) { \
    entry { id amount balanceAfter } balance replayed } }";
const RESERVE: &str = "mutation($i: ReserveCreditsInput!) { reserveCredits(input: $i) { \
    hold { id amount } balance held replayed } }";
const SETTLE: &str = "mutation($i: SettleCreditsInput!) { settleCredits(input: $i) { \
    hold { status settled } entry { amount } balance held replayed } }";

async fn consume(app: &TestApp, token: &str, quantity: i64, key: &str) -> Gql {
    app.as_token(
        token,
        CONSUME,
        json!({ "i": { "metricCode": "tokens", "quantity": quantity, "idempotencyKey": key } }),
    )
    .await
}

async fn reserve(app: &TestApp, token: &str, quantity: i64, key: &str) -> Gql {
    app.as_token(
        token,
        RESERVE,
        json!({ "i": { "metricCode": "tokens", "quantity": quantity, "idempotencyKey": key,
            "ttlSeconds": 300 } }),
    )
    .await
}

async fn settle(app: &TestApp, token: &str, hold: &Value, actual: i64) -> Gql {
    app.as_token(
        token,
        SETTLE,
        json!({ "i": { "holdId": hold, "actualQuantity": actual } }),
    )
    .await
}

/// A plan whose tokens cost `credits` credits per 1,000, exactly.
async fn credit_plan(app: &TestApp, code: &str, credits: &str) {
    app.as_admin(
        "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
        json!({ "i": { "code": code, "name": code, "monthlyPriceMinor": 1000, "trialDays": 0,
            "charges": [{ "metricCode": "tokens", "timing": "IMMEDIATELY", "model": "CREDITS",
                "credits": credits, "perUnits": "1000", "creditRounding": "EXACT" }] } }),
    )
    .await
    .data();
}

#[tokio::test]
async fn credits_quick_spends_follow_changes_committed_through_another_replica() {
    let a = spawn_app().await;
    let b = a.restarted().await;
    a.create_metric("tokens").await;
    credit_plan(&a, "one", "1").await;
    credit_plan(&a, "three", "3").await;
    let s = a.subscribed("quick", "one").await;
    a.as_admin(
        "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
        json!({ "i": { "tenantId": s.tenant, "credits": "100", "reason": "test" } }),
    )
    .await
    .data();

    // B's first spend reads the tenant and caches it; the second is priced from the cache.
    for (key, balance) in [("b-1", "99"), ("b-2", "98")] {
        let r = consume(&b, &s.owner, 1_000, key).await;
        let c = &r.data()["consumeCredits"];
        assert_eq!(c["entry"]["amount"], "-1", "{c}");
        assert_eq!(c["balance"], balance, "{c}");
    }
    // A replay through either replica answers the first entry and moves nothing.
    for app in [&b, &a] {
        let r = consume(app, &s.owner, 1_000, "b-2").await;
        let c = &r.data()["consumeCredits"];
        assert_eq!(c["replayed"], true, "{c}");
        assert_eq!(c["entry"]["balanceAfter"], "98", "{c}");
        assert_eq!(c["balance"], "98", "{c}");
    }
    // The same key for another quantity is refused.
    consume(&b, &s.owner, 2_000, "b-2")
        .await
        .expect_code("CONFLICT");

    // A changes the plan: B's next spend is priced at the new rule.
    a.as_token(
        &s.owner,
        "mutation($i: ChangePlanInput!) { changePlan(input: $i) { subscription { id } } }",
        json!({ "i": { "planCode": "three" } }),
    )
    .await
    .data();
    let before = micro(str_of(&wallet(&a, &s.tenant).await["balance"]));
    let r = consume(&b, &s.owner, 1_000, "b-3").await;
    assert_eq!(
        r.data()["consumeCredits"]["entry"]["amount"],
        "-3",
        "{:?}",
        r.data()
    );

    // A hold through B, settled through B: priced at the new rule too.
    let r = reserve(&b, &s.owner, 2_000, "h-1").await;
    let h = r.data()["reserveCredits"].clone();
    assert_eq!(h["hold"]["amount"], "6", "{h}");
    assert_eq!(h["held"], "6", "{h}");
    let r = settle(&b, &s.owner, &h["hold"]["id"], 1_000).await;
    let st = &r.data()["settleCredits"];
    assert_eq!(st["hold"]["status"], "SETTLED", "{st}");
    assert_eq!(st["hold"]["settled"], "3", "{st}");
    assert_eq!(st["entry"]["amount"], "3", "{st}");
    assert_eq!(st["held"], "0", "{st}");
    let expected = before - 6 * MICRO;
    assert_eq!(micro(str_of(&st["balance"])), expected, "{st}");
    // Settling again is the first result.
    let r = settle(&b, &s.owner, &h["hold"]["id"], 1_000).await;
    assert_eq!(r.data()["settleCredits"]["replayed"], true);
    assert_eq!(
        micro(str_of(&r.data()["settleCredits"]["balance"])),
        expected
    );

    // A suspends the tenant: B refuses at once, and spends nothing.
    let suspend =
        "mutation($i: SuspendTenantInput!) { suspendTenant(input: $i) { tenant { status } } }";
    a.as_admin(suspend, json!({ "i": { "id": s.tenant } }))
        .await
        .data();
    consume(&b, &s.owner, 1_000, "b-4")
        .await
        .expect_code("FORBIDDEN");
    reserve(&b, &s.owner, 1_000, "h-2")
        .await
        .expect_code("FORBIDDEN");
    let reactivate = "mutation($id: ID!) { reactivateTenant(id: $id) { tenant { status } } }";
    a.as_admin(reactivate, json!({ "id": s.tenant }))
        .await
        .data();
    let r = consume(&b, &s.owner, 1_000, "b-4").await;
    let c = &r.data()["consumeCredits"];
    assert_eq!(c["replayed"], false, "{c}");
    assert_eq!(micro(str_of(&c["balance"])), expected - 3 * MICRO, "{c}");

    // Every move has its entry: the balance is the ledger's sum.
    let w = wallet(&a, &s.tenant).await;
    let sum: i64 = w["ledger"]["edges"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| micro(str_of(&e["node"]["amount"])))
        .sum();
    assert_eq!(sum, micro(str_of(&w["balance"])), "{w}");
    assert_eq!(w["held"], "0", "{w}");
}

const MICRO: i64 = 1_000_000;

/// The wallet and its ledger, as the admin reads them.
async fn wallet(app: &TestApp, tenant: &str) -> Value {
    let r = app
        .as_admin(
            "query($t: ID) { wallet(tenantId: $t) { balance held \
             ledger(first: 100) { edges { node { amount } } } } }",
            json!({ "t": tenant }),
        )
        .await;
    r.data()["wallet"].clone()
}

/// One tenant, many spends at once (grouped into shared statements on PostgreSQL): a key sent
/// twice in one burst is charged once and both answers carry the same entry; the burst that
/// crosses the low-balance threshold and then uses the balance up notifies once for each, and
/// refuses what the balance cannot cover.
#[tokio::test]
async fn credits_quick_a_burst_on_one_tenant_is_exact() {
    let app = std::sync::Arc::new(spawn_app().await);
    app.create_metric("tokens").await;
    let (tenant, owner) = app.tenant_with_owner("burst").await;
    app.as_admin(
        "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
        json!({ "i": { "tenantId": tenant, "credits": "80", "reason": "test" } }),
    )
    .await
    .data();
    // Warms the tenant's snapshot.
    consume(&app, &owner, 1_000, "warm").await.data();

    let burst = |keys: Vec<String>| {
        let (app, owner) = (app.clone(), owner.clone());
        futures::future::join_all(keys.into_iter().map(move |key| {
            let (app, owner) = (app.clone(), owner.clone());
            async move { (key.clone(), consume(&app, &owner, 1_000, &key).await) }
        }))
    };
    // 40 keys, 5 of them sent twice: 40 credits.
    let mut keys: Vec<String> = (0..40).map(|i| format!("a-{i}")).collect();
    keys.extend((0..5).map(|i| format!("a-{i}")));
    let mut ids: std::collections::HashMap<String, String> = Default::default();
    let mut charged = 0;
    for (key, r) in burst(keys).await {
        let c = &r.data()["consumeCredits"];
        assert!(c["entry"]["id"].is_string(), "{key}: {}", r.body);
        charged += i64::from(c["replayed"] == false);
        let id = str_of(&c["entry"]["id"]).to_owned();
        if let Some(first) = ids.insert(key.clone(), id.clone()) {
            assert_eq!(first, id, "{key} answered two entries");
        }
    }
    assert_eq!(charged, 40);
    assert_eq!(
        micro(str_of(&wallet(&app, &tenant).await["balance"])),
        39 * MICRO
    );

    // 50 more: 39 fit. The threshold (10 credits) is crossed once, the balance used up once.
    let keys: Vec<String> = (0..50).map(|i| format!("b-{i}")).collect();
    let (mut ok, mut refused) = (0, 0);
    for (_, r) in burst(keys).await {
        match r.code() {
            None => ok += 1,
            Some(code) => {
                assert_eq!(code, "INSUFFICIENT_CREDITS", "{}", r.body);
                refused += 1;
            }
        }
    }
    assert_eq!((ok, refused), (39, 11));
    let w = wallet(&app, &tenant).await;
    assert_eq!(w["balance"], "0", "{w}");
    let entries = w["ledger"]["edges"].as_array().expect("entries");
    let sum: i64 = entries
        .iter()
        .map(|e| micro(str_of(&e["node"]["amount"])))
        .sum();
    assert_eq!(sum, 0, "the ledger does not sum to the balance");
    assert_eq!(
        entries.len(),
        1 + 1 + 40 + 39,
        "grant, warm-up and the spends"
    );
    let kinds: Vec<Value> = app
        .as_admin(
            "query($t: ID) { notifications(tenantId: $t, first: 50) { edges { node { kind } } } }",
            json!({ "t": tenant }),
        )
        .await
        .data()["notifications"]["edges"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|e| e["node"]["kind"].clone())
        .collect();
    let count = |k: &str| kinds.iter().filter(|v| *v == k).count();
    assert_eq!(count("low_balance"), 1, "{kinds:?}");
    assert_eq!(count("credits_depleted"), 1, "{kinds:?}");
}
