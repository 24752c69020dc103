//! Prepaid credits: grants, consumption, holds, authorisation, low-balance alerts and a
//! concurrent spend. Every scenario ends by checking that the balance is the sum of the ledger.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use billing::domain::Role;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::billing_checks::refused;
use crate::helpers::*;

const START: &str = "2026-03-01T00:00:00Z";
const ENTRY: &str =
    "id kind amount balanceAfter reference metricCode operationType quantity createdAt";

fn credits_payload() -> String {
    format!("entry {{ {ENTRY} }} balance held replayed")
}

fn hold_payload() -> String {
    format!(
        "hold {{ id tenantId amount status metricCode operationType idempotencyKey settled expiresAt createdAt }} \
         entry {{ {ENTRY} }} balance held replayed"
    )
}

async fn consume(
    app: &TestApp,
    token: &str,
    tenant: Option<&str>,
    quantity: i64,
    key: &str,
) -> Gql {
    app.as_token(
        token,
        &format!(
            "mutation($i: ConsumeCreditsInput!) {{ consumeCredits(input: $i) {{ {} }} }}",
            credits_payload()
        ),
        json!({ "i": { "tenantId": tenant, "metricCode": "tokens", "quantity": quantity,
            "operationType": "chat", "idempotencyKey": key } }),
    )
    .await
}

async fn adjust(
    app: &TestApp,
    token: &str,
    mutation: &str,
    tenant: &str,
    credits: &str,
    key: Option<&str>,
) -> Gql {
    app.as_token(
        token,
        &format!(
            "mutation($i: AdjustCreditsInput!) {{ {mutation}(input: $i) {{ {} }} }}",
            credits_payload()
        ),
        json!({ "i": { "tenantId": tenant, "credits": credits, "reason": format!("test {mutation}"),
            "idempotencyKey": key } }),
    )
    .await
}

async fn grant(app: &TestApp, tenant: &str, credits: &str) -> Value {
    let r = adjust(app, &app.admin_token, "grantCredits", tenant, credits, None).await;
    r.data()["grantCredits"].clone()
}

async fn reserve(app: &TestApp, token: &str, quantity: i64, key: &str, ttl: i32) -> Gql {
    app.as_token(
        token,
        &format!(
            "mutation($i: ReserveCreditsInput!) {{ reserveCredits(input: $i) {{ {} }} }}",
            hold_payload()
        ),
        json!({ "i": { "metricCode": "tokens", "quantity": quantity, "idempotencyKey": key,
            "ttlSeconds": ttl } }),
    )
    .await
}

async fn settle(app: &TestApp, token: &str, hold: &str, actual: i64) -> Gql {
    app.as_token(
        token,
        &format!(
            "mutation($i: SettleCreditsInput!) {{ settleCredits(input: $i) {{ {} }} }}",
            hold_payload()
        ),
        json!({ "i": { "holdId": hold, "actualQuantity": actual } }),
    )
    .await
}

async fn release(app: &TestApp, token: &str, hold: &str) -> Gql {
    app.as_token(
        token,
        &format!(
            "mutation($h: ID!) {{ releaseCredits(holdId: $h) {{ {} }} }}",
            hold_payload()
        ),
        json!({ "h": hold }),
    )
    .await
}

/// (balance, held) as read by the admin.
async fn wallet(app: &TestApp, tenant: &str) -> (String, String) {
    let r = app
        .as_admin(
            "query($t: ID) { wallet(tenantId: $t) { tenantId balance held } }",
            json!({ "t": tenant }),
        )
        .await;
    let w = &r.data()["wallet"];
    assert_eq!(w["tenantId"], tenant);
    (
        str_of(&w["balance"]).to_owned(),
        str_of(&w["held"]).to_owned(),
    )
}

/// Every ledger entry, oldest first, paged `page` at a time with first/after.
async fn ledger(app: &TestApp, tenant: &str, page: i32) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let r = app
            .as_admin(
                &format!(
                    "query($t: ID, $f: Int, $a: String) {{ wallet(tenantId: $t) {{ \
                     ledger(first: $f, after: $a) {{ pageInfo {{ hasNextPage }} \
                     edges {{ cursor node {{ {ENTRY} }} }} }} }} }}"
                ),
                json!({ "t": tenant, "f": page, "a": after }),
            )
            .await;
        let conn = &r.data()["wallet"]["ledger"];
        let edges = conn["edges"].as_array().expect("edges");
        assert!(edges.len() <= page as usize, "page too long: {}", r.body);
        for e in edges {
            all.push(e["node"].clone());
        }
        let more = conn["pageInfo"]["hasNextPage"]
            .as_bool()
            .expect("hasNextPage");
        if !more {
            break;
        }
        assert!(!edges.is_empty(), "hasNextPage with an empty page");
        after = Some(str_of(&edges[edges.len() - 1]["cursor"]).to_owned());
        assert!(all.len() < 100_000, "the ledger never ends");
    }
    let ids: HashSet<&str> = all.iter().map(|e| str_of(&e["id"])).collect();
    assert_eq!(ids.len(), all.len(), "an entry appeared on two pages");
    all
}

/// Asserts balance = the sum of every ledger amount (and, when `running`, that each entry's
/// balanceAfter is the running sum); returns the entries.
async fn assert_ledger_sums(app: &TestApp, tenant: &str, page: i32, running: bool) -> Vec<Value> {
    let (balance, _) = wallet(app, tenant).await;
    let entries = ledger(app, tenant, page).await;
    let mut sum = 0i64;
    for e in &entries {
        sum += micro(str_of(&e["amount"]));
        let after = micro(str_of(&e["balanceAfter"]));
        assert!(after >= 0, "negative balanceAfter: {e}");
        if running {
            assert_eq!(after, sum, "balanceAfter is not the running sum: {e}");
        }
    }
    assert_eq!(
        micro(&balance),
        sum,
        "balance {balance} is not the sum of {} ledger entries",
        entries.len()
    );
    entries
}

async fn low_balance_notifications(app: &TestApp, tenant: &str) -> Vec<Value> {
    app.notifications_of_kind(tenant, "low_balance").await
}

/// A fresh app with the `tokens` metric and one tenant; returns (app, tenant id).
async fn setup(slug: &str) -> (TestApp, String) {
    let app = spawn_app_at(START).await;
    app.create_metric("tokens").await;
    let tenant = app.create_tenant(slug).await;
    (app, tenant)
}

fn insufficient(r: &Gql, balance: &str, required: &str, what: &str) {
    refused(r, "INSUFFICIENT_CREDITS", what);
    let ext = &r.body["errors"][0]["extensions"];
    assert_eq!(ext["balance"], balance, "{what}: {}", r.body);
    assert_eq!(ext["required"], required, "{what}: {}", r.body);
}

#[tokio::test]
async fn grant_then_consume_rounds_up_per_request_and_replays_once() {
    let (app, tenant) = setup("acme").await;
    let admin = app.admin_token.clone();

    // A reason is required.
    let r = app
        .as_admin(
            "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
            json!({ "i": { "tenantId": tenant, "credits": "10", "reason": "" } }),
        )
        .await;
    refused(&r, "VALIDATION", "grant without a reason");
    assert_eq!(r.body["errors"][0]["extensions"]["field"], "reason");

    let r = adjust(&app, &admin, "grantCredits", &tenant, "10", Some("g-1")).await;
    let g = &r.data()["grantCredits"];
    assert_eq!(g["replayed"], false);
    assert_eq!(g["balance"], "10");
    assert_eq!(g["held"], "0");
    assert_eq!(g["entry"]["kind"], "GRANT");
    assert_eq!(g["entry"]["amount"], "10");
    assert_eq!(g["entry"]["balanceAfter"], "10");
    assert_eq!(g["entry"]["reference"], "test grantCredits");
    let again = adjust(&app, &admin, "grantCredits", &tenant, "10", Some("g-1")).await;
    let again = &again.data()["grantCredits"];
    assert_eq!(again["replayed"], true);
    assert_eq!(again["entry"]["id"], g["entry"]["id"]);
    assert_eq!(again["balance"], "10");

    let member = app.tenant_token(&tenant, Role::Member);
    let r = consume(&app, &member, None, 1_300, "req-1").await;
    let c = r.data()["consumeCredits"].clone();
    assert_eq!(c["replayed"], false);
    assert_eq!(c["balance"], "8");
    assert_eq!(c["entry"]["kind"], "CONSUME");
    assert_eq!(c["entry"]["amount"], "-2");
    assert_eq!(c["entry"]["balanceAfter"], "8");
    assert_eq!(c["entry"]["quantity"], "1300");
    assert_eq!(c["entry"]["metricCode"], "tokens");
    assert_eq!(c["entry"]["operationType"], "chat");

    // The same key again: the first result, charged once.
    let r = consume(&app, &member, None, 1_300, "req-1").await;
    let replay = &r.data()["consumeCredits"];
    assert_eq!(replay["replayed"], true);
    assert_eq!(replay["entry"]["id"], c["entry"]["id"]);
    assert_eq!(replay["entry"]["amount"], "-2");
    assert_eq!(replay["balance"], "8");

    // The same key for a different request is a conflict, and charges nothing.
    let r = consume(&app, &member, None, 2_500, "req-1").await;
    refused(&r, "CONFLICT", "same key, different quantity");
    assert_eq!(wallet(&app, &tenant).await, ("8".into(), "0".into()));

    let entries = assert_ledger_sums(&app, &tenant, 1, true).await;
    let kinds: Vec<&str> = entries.iter().map(|e| str_of(&e["kind"])).collect();
    assert_eq!(kinds, ["GRANT", "CONSUME"]);
    assert_eq!(entries[1]["id"], c["entry"]["id"]);
}

#[tokio::test]
async fn too_few_credits_is_refused_and_changes_nothing() {
    let (app, tenant) = setup("acme").await;
    grant(&app, &tenant, "1").await;
    let member = app.tenant_token(&tenant, Role::Member);

    let r = consume(&app, &member, None, 1_300, "req-1").await;
    insufficient(&r, "1", "2", "consume 2 with 1");
    assert_eq!(wallet(&app, &tenant).await, ("1".into(), "0".into()));
    let entries = assert_ledger_sums(&app, &tenant, 2, true).await;
    assert_eq!(entries.len(), 1, "the refused consume wrote an entry");

    // The refused key was not used up: after a top-up the same key is charged once.
    grant(&app, &tenant, "1").await;
    let r = consume(&app, &member, None, 1_300, "req-1").await;
    let c = &r.data()["consumeCredits"];
    assert_eq!(c["replayed"], false);
    assert_eq!(c["balance"], "0");
    let entries = assert_ledger_sums(&app, &tenant, 2, true).await;
    assert_eq!(entries.len(), 3);
}

#[tokio::test]
async fn a_plan_credit_charge_with_exact_rounding_charges_fractions() {
    let (app, tenant) = setup("acme").await;
    let r = app
        .as_admin(
            "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
            json!({ "i": { "code": "ai", "name": "AI", "monthlyPriceMinor": 1000, "trialDays": 0,
                "charges": [{ "metricCode": "tokens", "timing": "IMMEDIATELY", "model": "CREDITS",
                    "credits": "1", "perUnits": "1000", "creditRounding": "EXACT" }] } }),
        )
        .await;
    r.data();
    app.subscribe(
        &app.admin_token,
        json!({ "tenantId": tenant, "planCode": "ai", "trialDays": 0 }),
    )
    .await
    .data();
    grant(&app, &tenant, "10").await;
    let member = app.tenant_token(&tenant, Role::Member);

    let r = consume(&app, &member, None, 1_300, "req-1").await;
    let c = &r.data()["consumeCredits"];
    assert_eq!(c["entry"]["amount"], "-1.3");
    assert_eq!(c["entry"]["balanceAfter"], "8.7");
    assert_eq!(c["balance"], "8.7");

    let r = consume(&app, &member, None, 1, "req-2").await;
    assert_eq!(r.data()["consumeCredits"]["entry"]["amount"], "-0.001");
    assert_eq!(r.data()["consumeCredits"]["balance"], "8.699");

    assert_eq!(wallet(&app, &tenant).await.0, "8.699");
    assert_ledger_sums(&app, &tenant, 2, true).await;
}

#[tokio::test]
async fn holds_settle_release_and_expire() {
    let (app, tenant) = setup("acme").await;
    grant(&app, &tenant, "100").await;
    let t = app.tenant_token(&tenant, Role::Member);

    // Reserve 5, settle 3: 2 come back.
    let r = reserve(&app, &t, 5_000, "h-1", 300).await;
    let h = r.data()["reserveCredits"].clone();
    let hold1 = str_of(&h["hold"]["id"]).to_owned();
    assert_eq!(h["replayed"], false);
    assert_eq!(h["hold"]["status"], "HELD");
    assert_eq!(h["hold"]["amount"], "5");
    assert_eq!(h["hold"]["tenantId"], tenant.as_str());
    assert_eq!(h["entry"]["kind"], "HOLD");
    assert_eq!(h["entry"]["amount"], "-5");
    assert_eq!((&h["balance"], &h["held"]), (&json!("95"), &json!("5")));
    let again = reserve(&app, &t, 5_000, "h-1", 300).await;
    let again = &again.data()["reserveCredits"];
    assert_eq!(again["replayed"], true);
    assert_eq!(again["hold"]["id"], hold1.as_str());
    assert_eq!(again["balance"], "95");

    let r = settle(&app, &t, &hold1, 3_000).await;
    let s = r.data()["settleCredits"].clone();
    assert_eq!(s["replayed"], false);
    assert_eq!(s["hold"]["status"], "SETTLED");
    assert_eq!(s["hold"]["settled"], "3");
    assert_eq!(s["entry"]["kind"], "SETTLE");
    assert_eq!(s["entry"]["amount"], "2");
    assert_eq!((&s["balance"], &s["held"]), (&json!("97"), &json!("0")));
    let count = ledger(&app, &tenant, 100).await.len();

    // Settling again answers the first result and writes nothing.
    let r = settle(&app, &t, &hold1, 3_000).await;
    let s2 = &r.data()["settleCredits"];
    assert_eq!(s2["replayed"], true);
    assert_eq!(s2["entry"]["id"], s["entry"]["id"]);
    assert_eq!(s2["balance"], "97");
    assert_eq!(ledger(&app, &tenant, 100).await.len(), count);

    // Reserve 2, settle 5 with enough credits: the extra 3 are taken.
    let r = reserve(&app, &t, 2_000, "h-2", 300).await;
    let hold2 = str_of(&r.data()["reserveCredits"]["hold"]["id"]).to_owned();
    assert_eq!(r.data()["reserveCredits"]["balance"], "95");
    let r = settle(&app, &t, &hold2, 4_500).await;
    let s = &r.data()["settleCredits"];
    assert_eq!(s["hold"]["settled"], "5");
    assert_eq!(s["entry"]["amount"], "-3");
    assert_eq!((&s["balance"], &s["held"]), (&json!("92"), &json!("0")));

    // Reserve 3 and release: all 3 come back.
    let r = reserve(&app, &t, 3_000, "h-3", 300).await;
    let hold3 = str_of(&r.data()["reserveCredits"]["hold"]["id"]).to_owned();
    assert_eq!(r.data()["reserveCredits"]["balance"], "89");
    assert_eq!(r.data()["reserveCredits"]["held"], "3");
    let r = release(&app, &t, &hold3).await;
    let rel = &r.data()["releaseCredits"];
    assert_eq!(rel["hold"]["status"], "RELEASED");
    assert_eq!(rel["entry"]["kind"], "RELEASE");
    assert_eq!(rel["entry"]["amount"], "3");
    assert_eq!((&rel["balance"], &rel["held"]), (&json!("92"), &json!("0")));

    // A settled hold cannot be released, nor a released one settled.
    let r = release(&app, &t, &hold1).await;
    refused(&r, "CONFLICT", "release a settled hold");
    let r = settle(&app, &t, &hold3, 1_000).await;
    refused(&r, "CONFLICT", "settle a released hold");
    assert_eq!(wallet(&app, &tenant).await, ("92".into(), "0".into()));

    // A hold of 60 seconds expires when the clock passes it.
    let r = reserve(&app, &t, 4_000, "h-4", 60).await;
    let hold4 = str_of(&r.data()["reserveCredits"]["hold"]["id"]).to_owned();
    assert_eq!(wallet(&app, &tenant).await, ("88".into(), "4".into()));
    let r = app
        .as_admin(
            "mutation($i: AdvanceClockInput!) { advanceClock(input: $i) { now jobs { holdsExpired } } }",
            json!({ "i": { "seconds": 120 } }),
        )
        .await;
    assert_eq!(r.data()["advanceClock"]["jobs"]["holdsExpired"], 1);
    assert_eq!(wallet(&app, &tenant).await, ("92".into(), "0".into()));
    let r = settle(&app, &t, &hold4, 1_000).await;
    refused(&r, "CONFLICT", "settle an expired hold");
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("EXPIRED")
            || r.body["errors"][0]["message"]
                .as_str()
                .unwrap_or("")
                .to_lowercase()
                .contains("expired"),
        "the conflict should say the hold expired: {}",
        r.body
    );

    let entries = assert_ledger_sums(&app, &tenant, 3, true).await;
    let kinds: Vec<&str> = entries.iter().map(|e| str_of(&e["kind"])).collect();
    assert_eq!(
        kinds,
        [
            "GRANT", "HOLD", "SETTLE", "HOLD", "SETTLE", "HOLD", "RELEASE", "HOLD", "EXPIRE"
        ]
    );
    let expire = entries.last().expect("an EXPIRE entry");
    assert_eq!(expire["amount"], "4");
    assert_eq!(expire["reference"], hold4.as_str());
}

#[tokio::test]
async fn who_may_grant_revoke_and_spend() {
    let (app, tenant) = setup("acme").await;
    let other = app.create_tenant("other").await;
    grant(&app, &tenant, "5").await;
    grant(&app, &other, "5").await;

    // Revoke never takes the balance below zero.
    let r = adjust(&app, &app.admin_token, "revokeCredits", &tenant, "6", None).await;
    insufficient(&r, "5", "6", "revoke 6 of 5");
    let r = adjust(
        &app,
        &app.admin_token,
        "revokeCredits",
        &tenant,
        "1.5",
        None,
    )
    .await;
    let rv = &r.data()["revokeCredits"];
    assert_eq!(rv["entry"]["kind"], "REVOKE");
    assert_eq!(rv["entry"]["amount"], "-1.5");
    assert_eq!(rv["balance"], "3.5");

    // Only the admin grants and revokes.
    let owner = app.tenant_token(&tenant, Role::Owner);
    for m in ["grantCredits", "revokeCredits"] {
        let r = adjust(&app, &owner, m, &tenant, "1", None).await;
        refused(&r, "FORBIDDEN", m);
    }

    // A tenant credential naming another tenant is refused.
    let member = app.tenant_token(&tenant, Role::Member);
    let r = consume(&app, &member, Some(&other), 1_000, "x-1").await;
    refused(&r, "FORBIDDEN", "consume for another tenant");
    let r = app
        .as_token(
            &member,
            "query($t: ID) { wallet(tenantId: $t) { balance } }",
            json!({ "t": other }),
        )
        .await;
    refused(&r, "FORBIDDEN", "read another tenant's wallet");

    // Any tenant credential spends its own credits, named or not.
    let r = consume(&app, &member, None, 1_000, "m-1").await;
    assert_eq!(r.data()["consumeCredits"]["balance"], "2.5");
    let r = consume(&app, &member, Some(&tenant), 1_000, "m-2").await;
    assert_eq!(r.data()["consumeCredits"]["balance"], "1.5");
    let r = app
        .as_token(&member, "{ wallet { tenantId balance held } }", json!({}))
        .await;
    assert_eq!(r.data()["wallet"]["balance"], "1.5");
    assert_eq!(r.data()["wallet"]["tenantId"], tenant.as_str());

    // An operator API key must name the tenant.
    let (_, key) = app.create_api_key(&app.admin_token, None, "gateway").await;
    let r = consume(&app, &key, None, 1_000, "k-1").await;
    refused(&r, "VALIDATION", "operator key without a tenant");
    let r = consume(&app, &key, Some(&other), 1_000, "k-1").await;
    assert_eq!(r.data()["consumeCredits"]["balance"], "4");
    // ...and cannot grant.
    let r = adjust(&app, &key, "grantCredits", &other, "1", None).await;
    refused(&r, "FORBIDDEN", "operator key grants");

    assert_eq!(wallet(&app, &tenant).await.0, "1.5");
    assert_eq!(wallet(&app, &other).await.0, "4");
    assert_ledger_sums(&app, &tenant, 2, true).await;
    assert_ledger_sums(&app, &other, 2, true).await;
}

#[tokio::test]
async fn falling_below_the_threshold_notifies_once_per_crossing() {
    let (app, tenant) = setup("acme").await;
    let member = app.tenant_token(&tenant, Role::Member);
    grant(&app, &tenant, "12").await;
    assert!(low_balance_notifications(&app, &tenant).await.is_empty());

    let r = consume(&app, &member, None, 3_000, "c-1").await;
    let first = r.data()["consumeCredits"].clone();
    assert_eq!(first["balance"], "9");
    let found = low_balance_notifications(&app, &tenant).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["tenantId"], tenant.as_str());
    assert_eq!(found[0]["reference"], first["entry"]["id"]);

    // Further below: no new notification.
    let r = consume(&app, &member, None, 1_000, "c-2").await;
    assert_eq!(r.data()["consumeCredits"]["balance"], "8");
    assert_eq!(low_balance_notifications(&app, &tenant).await.len(), 1);

    // Back above, then below again: a second one.
    assert_eq!(grant(&app, &tenant, "12").await["balance"], "20");
    assert_eq!(low_balance_notifications(&app, &tenant).await.len(), 1);
    let r = consume(&app, &member, None, 11_000, "c-3").await;
    let second = r.data()["consumeCredits"].clone();
    assert_eq!(second["balance"], "9");
    let found = low_balance_notifications(&app, &tenant).await;
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found
            .iter()
            .any(|n| n["reference"] == second["entry"]["id"]),
        "{found:?}"
    );

    assert_ledger_sums(&app, &tenant, 2, true).await;
}

/// What one concurrent call did.
enum Outcome {
    Charged {
        tenant: usize,
        key: String,
        id: String,
        amount: i64,
    },
    Refused {
        tenant: usize,
    },
    Replayed {
        tenant: usize,
        key: String,
        id: String,
    },
    /// A replay slot that came before any charge.
    Skipped,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_spends_never_overdraw_and_charge_a_key_once() {
    const TENANTS: usize = 20;
    const GRANT: i64 = 50;
    const PER_TENANT: usize = 500;
    const REPLAYS: usize = 200;

    let app = Arc::new(spawn_app_at(START).await);
    app.create_metric("tokens").await;
    let mut tenants = Vec::new();
    for i in 0..TENANTS {
        let id = app.create_tenant(&format!("tenant-{i}")).await;
        grant(&app, &id, &GRANT.to_string()).await;
        let token = app.tenant_token(&id, Role::Member);
        tenants.push((id, token));
    }
    let tenants = Arc::new(tenants);
    // Successful (tenant, key, entry id)s, for replays to pick from.
    let done: Arc<Mutex<Vec<(usize, String, String)>>> = Arc::default();

    let total = TENANTS * PER_TENANT;
    // `Some(j)`: the j-th fresh call; `None`: a replay of a key already charged.
    let every = total / REPLAYS;
    let mut jobs = Vec::with_capacity(total + REPLAYS);
    for j in 0..total {
        jobs.push(Some(j));
        if (j + 1) % every == 0 {
            jobs.push(None);
        }
    }
    let started = Instant::now();
    let outcomes: Vec<Outcome> = futures::stream::iter(jobs.into_iter().enumerate())
        .map(|(i, job)| {
            let (app, tenants, done) = (app.clone(), tenants.clone(), done.clone());
            async move {
                let Some(j) = job else {
                    let picked = {
                        let done = done.lock().expect("lock");
                        (!done.is_empty()).then(|| done[(i * 7919) % done.len()].clone())
                    };
                    let Some((t, key, id)) = picked else {
                        return Outcome::Skipped;
                    };
                    let r = consume(&app, &tenants[t].1, None, 1_000, &key).await;
                    let c = &r.data()["consumeCredits"];
                    assert_eq!(c["replayed"], true, "a replay was charged: {}", r.body);
                    assert_eq!(c["entry"]["id"], id.as_str(), "{}", r.body);
                    assert!(micro(str_of(&c["balance"])) >= 0, "{}", r.body);
                    return Outcome::Replayed { tenant: t, key, id };
                };
                let t = j % TENANTS;
                let key = format!("k-{j}");
                let r = consume(&app, &tenants[t].1, None, 1_000, &key).await;
                if r.code().is_some() {
                    insufficient(&r, "0", "1", "a refused spend");
                    return Outcome::Refused { tenant: t };
                }
                let c = &r.data()["consumeCredits"];
                assert_eq!(c["replayed"], false, "a fresh key replayed: {}", r.body);
                assert_eq!(c["entry"]["kind"], "CONSUME");
                assert!(micro(str_of(&c["balance"])) >= 0, "{}", r.body);
                assert!(
                    micro(str_of(&c["entry"]["balanceAfter"])) >= 0,
                    "{}",
                    r.body
                );
                let id = str_of(&c["entry"]["id"]).to_owned();
                done.lock()
                    .expect("lock")
                    .push((t, key.clone(), id.clone()));
                Outcome::Charged {
                    tenant: t,
                    key,
                    id,
                    amount: micro(str_of(&c["entry"]["amount"])),
                }
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let elapsed = started.elapsed();
    eprintln!(
        "credits concurrency on {}: {} calls in {:.2?}",
        backend(),
        outcomes.len(),
        elapsed
    );

    let mut charged: Vec<HashMap<String, String>> = vec![HashMap::new(); TENANTS];
    let mut spent = [0i64; TENANTS];
    let mut refusals = [0usize; TENANTS];
    let mut replays = 0;
    for o in &outcomes {
        match o {
            Outcome::Charged {
                tenant,
                key,
                id,
                amount,
            } => {
                assert_eq!(*amount, -1_000_000, "1,000 tokens cost 1 credit");
                assert!(
                    charged[*tenant].insert(key.clone(), id.clone()).is_none(),
                    "key {key} charged twice"
                );
                spent[*tenant] -= amount;
            }
            Outcome::Refused { tenant } => refusals[*tenant] += 1,
            Outcome::Replayed { .. } => replays += 1,
            Outcome::Skipped => {}
        }
    }
    assert!(
        replays >= REPLAYS * 9 / 10,
        "only {replays} replays were sent"
    );
    for o in &outcomes {
        if let Outcome::Replayed { tenant, key, id } = o {
            assert_eq!(charged[*tenant].get(key), Some(id), "replay of {key}");
        }
    }

    for (t, (tenant, _)) in tenants.iter().enumerate() {
        assert_eq!(charged[t].len(), GRANT as usize, "tenant {t}: successes");
        assert_eq!(
            refusals[t],
            PER_TENANT - GRANT as usize,
            "tenant {t}: refusals"
        );
        let (balance, held) = wallet(&app, tenant).await;
        assert_eq!((balance.as_str(), held.as_str()), ("0", "0"), "tenant {t}");
        assert_eq!(spent[t], GRANT * 1_000_000 - micro(&balance), "tenant {t}");
        let entries = assert_ledger_sums(&app, tenant, 25, false).await;
        assert_eq!(entries.len(), 1 + GRANT as usize, "tenant {t}: ledger");
        let consumed: HashSet<&str> = entries
            .iter()
            .filter(|e| e["kind"] == "CONSUME")
            .map(|e| str_of(&e["id"]))
            .collect();
        let expected: HashSet<&str> = charged[t].values().map(String::as_str).collect();
        assert_eq!(consumed, expected, "tenant {t}: consume entries");
    }
}
