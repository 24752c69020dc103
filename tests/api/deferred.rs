//! Deferred (message-based) billing: usage recorded `PENDING` with its cost, charged later by
//! `processPendingUsage`, `reprocessFailedUsage` or `POST /jobs/process-billing`; the pending
//! statistics and the credit usage statistics.
use std::collections::{HashMap, HashSet};

use billing::domain::Role;
use serde_json::{Value, json};

use crate::billing_checks::refused;
use crate::helpers::*;

const START: &str = "2026-03-01T00:00:00Z";
const CRON_SECRET: &str = "cron-secret-for-tests-0123456789";
const RECORD: &str = "id tenantId metricCode quantity operationType idempotencyKey costCredits \
    status reason attempts chargedAt createdAt";
const ENTRY: &str = "id kind amount balanceAfter reference metricCode operationType quantity";

/// The default rule: 1 credit per 1,000 units, rounded up per request, in micro-credits.
fn cost_of(quantity: i64) -> i64 {
    (quantity + 999) / 1000 * 1_000_000
}

fn event(quantity: i64, key: &str, operation: Option<&str>) -> Value {
    json!({ "metricCode": "tokens", "quantity": quantity, "operationType": operation,
        "idempotencyKey": key })
}

/// A fresh app (clock standing at START) with the `tokens` metric and the given tenants.
async fn setup(slugs: &[&str]) -> (TestApp, Vec<String>) {
    setup_with(slugs, |_| {}).await
}

async fn setup_with(
    slugs: &[&str],
    customise: impl FnOnce(&mut billing::config::Config),
) -> (TestApp, Vec<String>) {
    let start: chrono::DateTime<chrono::Utc> = START.parse().expect("RFC 3339 start");
    let app = spawn_app_with(|c| {
        c.clock_start = Some(start);
        customise(c);
    })
    .await;
    app.create_metric("tokens").await;
    let mut tenants = Vec::new();
    for slug in slugs {
        tenants.push(app.create_tenant(slug).await);
    }
    (app, tenants)
}

async fn record(app: &TestApp, token: &str, tenant: Option<&str>, events: Vec<Value>) -> Gql {
    app.as_token(
        token,
        &format!(
            "mutation($i: RecordDeferredUsageInput!) {{ recordDeferredUsage(input: $i) {{ \
             results {{ index status code message record {{ {RECORD} }} }} }} }}"
        ),
        json!({ "i": { "tenantId": tenant, "events": events } }),
    )
    .await
}

/// Records the events as admin for `tenant`, asserts all were accepted, returns the records.
async fn record_ok(app: &TestApp, tenant: &str, events: Vec<Value>) -> Vec<Value> {
    let n = events.len();
    let r = record(app, &app.admin_token, Some(tenant), events).await;
    let results = r.data()["recordDeferredUsage"]["results"]
        .as_array()
        .expect("results")
        .clone();
    assert_eq!(results.len(), n, "{}", r.body);
    results
        .into_iter()
        .map(|x| {
            assert_eq!(x["status"], "ACCEPTED", "{x}");
            x["record"].clone()
        })
        .collect()
}

/// The stored record with `key`, as it is now, read with `pendingUsage`.
async fn read_back(app: &TestApp, tenant: &str, key: &str) -> Value {
    let r = app
        .as_admin(
            &format!(
                "query($t: ID, $k: String!) {{ pendingUsage(tenantId: $t, idempotencyKey: $k) \
                 {{ {RECORD} }} }}"
            ),
            json!({ "t": tenant, "k": key }),
        )
        .await;
    let record = r.data()["pendingUsage"].clone();
    assert!(record.is_object(), "no record under {key}: {}", r.body);
    record
}

async fn process_as(app: &TestApp, token: &str, mutation: &str, input: Value) -> Gql {
    app.as_token(
        token,
        &format!(
            "mutation($i: ProcessUsageInput!) {{ {mutation}(input: $i) {{ charged failed skipped creditsCharged }} }}"
        ),
        json!({ "i": input }),
    )
    .await
}

/// Runs `mutation` as admin; returns (charged, failed, skipped, creditsCharged).
async fn process(app: &TestApp, mutation: &str, input: Value) -> (i64, i64, i64, String) {
    let r = process_as(app, &app.admin_token, mutation, input).await;
    let p = &r.data()[mutation];
    (
        int_of(&p["charged"]),
        int_of(&p["failed"]),
        int_of(&p["skipped"]),
        str_of(&p["creditsCharged"]).to_owned(),
    )
}

async fn grant(app: &TestApp, tenant: &str, credits: &str) {
    app.as_admin(
        "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
        json!({ "i": { "tenantId": tenant, "credits": credits, "reason": "test grant" } }),
    )
    .await
    .data();
}

async fn balance(app: &TestApp, tenant: &str) -> i64 {
    let r = app
        .as_admin(
            "query($t: ID) { wallet(tenantId: $t) { balance held } }",
            json!({ "t": tenant }),
        )
        .await;
    micro(str_of(&r.data()["wallet"]["balance"]))
}

/// Every ledger entry of the tenant, oldest first.
async fn ledger(app: &TestApp, tenant: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let r = app
            .as_admin(
                &format!(
                    "query($t: ID, $a: String) {{ wallet(tenantId: $t) {{ \
                     ledger(first: 100, after: $a) {{ pageInfo {{ hasNextPage }} \
                     edges {{ cursor node {{ {ENTRY} }} }} }} }} }}"
                ),
                json!({ "t": tenant, "a": after }),
            )
            .await;
        let conn = &r.data()["wallet"]["ledger"];
        let edges = conn["edges"].as_array().expect("edges");
        all.extend(edges.iter().map(|e| e["node"].clone()));
        if conn["pageInfo"]["hasNextPage"] != true || edges.is_empty() {
            break;
        }
        after = Some(str_of(&edges[edges.len() - 1]["cursor"]).to_owned());
        assert!(all.len() < 100_000, "the ledger never ends");
    }
    all
}

/// Asserts balance = sum of the ledger; returns the CONSUME entries.
async fn consumes_and_check_sum(app: &TestApp, tenant: &str) -> Vec<Value> {
    let entries = ledger(app, tenant).await;
    let sum: i64 = entries.iter().map(|e| micro(str_of(&e["amount"]))).sum();
    assert_eq!(
        balance(app, tenant).await,
        sum,
        "balance is not the sum of the ledger of {tenant}"
    );
    entries
        .into_iter()
        .filter(|e| e["kind"] == "CONSUME")
        .collect()
}

/// status → (records, micro-credits) of a `[PendingUsageStatusStat]`.
fn by_status(v: &Value) -> HashMap<String, (i64, i64)> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| {
            (
                str_of(&s["status"]).to_owned(),
                (big(&s["records"]), micro(str_of(&s["credits"]))),
            )
        })
        .collect()
}

fn expect_stats(v: &Value, pending: (i64, i64), charged: (i64, i64), failed: (i64, i64)) {
    let s = by_status(v);
    let get = |k: &str| s.get(k).copied().unwrap_or((0, 0));
    let c = 1_000_000;
    assert_eq!(
        (get("PENDING"), get("CHARGED"), get("FAILED")),
        (
            (pending.0, pending.1 * c),
            (charged.0, charged.1 * c),
            (failed.0, failed.1 * c)
        ),
        "stats (records, micro-credits) for PENDING, CHARGED, FAILED: {v}"
    );
}

#[tokio::test]
async fn deferred_usage_is_stored_pending_with_its_cost_and_deduplicated() {
    let (app, t) = setup(&["acme"]).await;
    let tenant = &t[0];
    grant(&app, tenant, "10").await;
    let service = app.tenant_token(tenant, Role::Service);

    let r = record(
        &app,
        &service,
        None,
        vec![
            event(1_300, "k-1", Some("chat")),
            event(500, "k-2", None),
            event(-5, "k-3", Some("chat")),
            event(1_000, "bad key!", Some("chat")),
            json!({ "metricCode": "nope", "quantity": 100, "idempotencyKey": "k-4" }),
            event(1_300, "k-1", Some("chat")),
            event(2_001, "k-5", Some("diagnosis")),
            event(9_999, "k-1", Some("chat")),
        ],
    )
    .await;
    let results = r.data()["recordDeferredUsage"]["results"]
        .as_array()
        .expect("results")
        .clone();
    assert_eq!(results.len(), 8, "{}", r.body);
    for (i, x) in results.iter().enumerate() {
        assert_eq!(int_of(&x["index"]), i as i64, "{x}");
    }
    let first = &results[0];
    assert_eq!(first["status"], "ACCEPTED", "{first}");
    assert!(first["code"].is_null(), "{first}");
    let rec = &first["record"];
    assert_eq!(rec["tenantId"], tenant.as_str());
    assert_eq!(rec["metricCode"], "tokens");
    assert_eq!(big(&rec["quantity"]), 1_300);
    assert_eq!(rec["operationType"], "chat");
    assert_eq!(rec["idempotencyKey"], "k-1");
    assert_eq!(
        rec["costCredits"], "2",
        "1,300 tokens cost 2 credits: {rec}"
    );
    assert_eq!(rec["status"], "PENDING");
    assert!(
        rec["reason"].is_null() && rec["chargedAt"].is_null(),
        "{rec}"
    );
    assert_eq!(at(&rec["createdAt"]), at(&json!(START)));

    assert_eq!(results[1]["status"], "ACCEPTED");
    assert_eq!(results[1]["record"]["costCredits"], "1", "{}", results[1]);
    assert_eq!(results[1]["record"]["status"], "PENDING");

    for (i, code) in [
        (2, "INVALID_QUANTITY"),
        (3, "INVALID_KEY"),
        (4, "UNKNOWN_METRIC"),
    ] {
        let x = &results[i];
        assert_eq!(x["status"], "REJECTED", "event {i}: {x}");
        assert_eq!(x["code"], code, "event {i}: {x}");
        assert!(x["record"].is_null(), "event {i}: {x}");
        assert!(
            !str_of(&x["message"]).is_empty(),
            "event {i} has no message"
        );
    }

    // The same event again in the same batch: the first record, unchanged.
    let dup = &results[5];
    assert_eq!(dup["status"], "DUPLICATE", "{dup}");
    assert_eq!(dup["record"]["id"], rec["id"], "{dup}");
    assert_eq!(big(&dup["record"]["quantity"]), 1_300, "{dup}");
    assert_eq!(dup["record"]["costCredits"], "2", "{dup}");

    assert_eq!(results[6]["status"], "ACCEPTED");
    assert_eq!(results[6]["record"]["costCredits"], "3", "{}", results[6]);

    // The key with another quantity in the same batch: refused, the first record stands.
    let reused = &results[7];
    assert_eq!(reused["status"], "REJECTED", "{reused}");
    assert_eq!(reused["code"], "IDEMPOTENCY_KEY_REUSED", "{reused}");
    assert!(
        str_of(&reused["message"]).contains("quantity 1300"),
        "{reused}"
    );

    // The same event in a later call: the first record.
    let again = record(
        &app,
        &service,
        None,
        vec![event(1_300, "k-1", Some("chat"))],
    )
    .await;
    let again = &again.data()["recordDeferredUsage"]["results"][0];
    assert_eq!(again["status"], "DUPLICATE", "{again}");
    assert_eq!(again["record"]["id"], rec["id"]);
    assert_eq!(again["record"]["costCredits"], "2");
    assert_eq!(again["record"]["operationType"], "chat");

    // Nothing was charged; three records wait.
    assert_eq!(balance(&app, tenant).await, 10_000_000);
    let s = app
        .as_admin(
            "query($t: ID) { pendingUsageStats(tenantId: $t) { overall { status records credits } } }",
            json!({ "t": tenant }),
        )
        .await;
    expect_stats(
        &s.data()["pendingUsageStats"]["overall"],
        (3, 6),
        (0, 0),
        (0, 0),
    );

    // Batch size: 0 and 1001 events are refused whole.
    let empty = record(&app, &service, None, vec![]).await;
    refused(&empty, "VALIDATION", "no events");
    let many: Vec<Value> = (0..1001)
        .map(|i| event(1, &format!("many-{i}"), None))
        .collect();
    let too_many = record(&app, &service, None, many).await;
    refused(&too_many, "VALIDATION", "1001 events");
    let s = app
        .as_admin(
            "query($t: ID) { pendingUsageStats(tenantId: $t) { overall { status records credits } } }",
            json!({ "t": tenant }),
        )
        .await;
    expect_stats(
        &s.data()["pendingUsageStats"]["overall"],
        (3, 6),
        (0, 0),
        (0, 0),
    );
}

#[tokio::test]
async fn processing_charges_records_fails_the_unaffordable_and_reprocesses_after_a_grant() {
    let (app, t) = setup(&["alpha", "beta", "gamma"]).await;
    let (a, b, c) = (&t[0], &t[1], &t[2]);
    grant(&app, a, "10").await;
    grant(&app, b, "5").await;
    grant(&app, c, "10").await;

    let ra = record_ok(
        &app,
        a,
        vec![
            event(1_300, "a-1", Some("chat")),
            event(2_500, "a-2", Some("chat")),
            event(999, "a-3", Some("diagnosis")),
        ],
    )
    .await;
    let rb = record_ok(
        &app,
        b,
        (0..3)
            .map(|i| event(2_000, &format!("b-{i}"), Some("chat")))
            .collect(),
    )
    .await;
    let rc = record_ok(&app, c, vec![event(4_000, "c-1", None)]).await;

    // Operators only.
    for role in [Role::Owner, Role::Member] {
        let token = app.tenant_token(a, role);
        for m in ["processPendingUsage", "reprocessFailedUsage"] {
            let r = process_as(&app, &token, m, json!({ "tenantId": a })).await;
            refused(&r, "FORBIDDEN", &format!("{m} as {}", role.as_str()));
            let r = process_as(&app, &token, m, json!({})).await;
            refused(&r, "FORBIDDEN", &format!("{m} (all) as {}", role.as_str()));
        }
    }
    assert_eq!(read_back(&app, a, "a-1").await["status"], "PENDING");

    // One record by id.
    let one = process(
        &app,
        "processPendingUsage",
        json!({ "ids": [ra[1]["id"].clone()] }),
    )
    .await;
    assert_eq!(one, (1, 0, 0, "3".to_owned()));
    assert_eq!(balance(&app, a).await, 7_000_000);
    assert_eq!(read_back(&app, a, "a-2").await["status"], "CHARGED");
    assert_eq!(read_back(&app, a, "a-1").await["status"], "PENDING");

    // One tenant: the rest of alpha, nobody else.
    let alpha = process(&app, "processPendingUsage", json!({ "tenantId": a })).await;
    assert_eq!(alpha, (2, 0, 0, "3".to_owned()));
    assert_eq!(balance(&app, a).await, 4_000_000);
    for key in ["a-1", "a-2", "a-3"] {
        let rec = read_back(&app, a, key).await;
        assert_eq!(rec["status"], "CHARGED", "{rec}");
        assert_eq!(at(&rec["chargedAt"]), at(&json!(START)), "{rec}");
        assert!(rec["reason"].is_null(), "{rec}");
    }
    assert_eq!(read_back(&app, b, "b-0").await["status"], "PENDING");
    assert_eq!(read_back(&app, c, "c-1").await["status"], "PENDING");
    assert_eq!(balance(&app, b).await, 5_000_000);
    assert_eq!(balance(&app, c).await, 10_000_000);

    let consumes = consumes_and_check_sum(&app, a).await;
    assert_eq!(consumes.len(), 3, "{consumes:?}");
    let mut by_ref: HashMap<String, Value> = HashMap::new();
    for e in consumes {
        let reference = str_of(&e["reference"]).to_owned();
        assert!(
            by_ref.insert(reference.clone(), e).is_none(),
            "{reference} charged twice"
        );
    }
    for rec in &ra {
        let e = by_ref
            .get(str_of(&rec["id"]))
            .unwrap_or_else(|| panic!("no CONSUME entry for {rec}"));
        assert_eq!(
            micro(str_of(&e["amount"])),
            -micro(str_of(&rec["costCredits"])),
            "{e}"
        );
        assert_eq!(e["metricCode"], "tokens", "{e}");
        assert_eq!(e["operationType"], rec["operationType"], "{e}");
        assert_eq!(big(&e["quantity"]), big(&rec["quantity"]), "{e}");
    }

    // Too few credits: two of beta's three fit (2 credits each, 5 granted).
    let beta = process(&app, "processPendingUsage", json!({ "tenantId": b })).await;
    assert_eq!(beta, (2, 1, 0, "4".to_owned()));
    assert_eq!(balance(&app, b).await, 1_000_000);
    let mut failed_key = None;
    for i in 0..3 {
        let key = format!("b-{i}");
        let rec = read_back(&app, b, &key).await;
        match str_of(&rec["status"]) {
            "CHARGED" => {}
            "FAILED" => {
                let reason = str_of(&rec["reason"]);
                assert!(
                    reason.to_lowercase().contains("insufficient"),
                    "reason: {reason}"
                );
                assert!(rec["chargedAt"].is_null(), "{rec}");
                assert!(failed_key.replace(key).is_none(), "two records failed");
            }
            other => panic!("unexpected status {other}: {rec}"),
        }
    }
    let failed_key = failed_key.expect("one record failed");
    assert_eq!(consumes_and_check_sum(&app, b).await.len(), 2);
    // Processing again leaves a failed record alone.
    assert_eq!(
        process(&app, "processPendingUsage", json!({ "tenantId": b })).await,
        (0, 0, 0, "0".to_owned())
    );
    // Reprocessing without a top-up fails it again.
    let again = process(&app, "reprocessFailedUsage", json!({ "tenantId": b })).await;
    assert_eq!(again, (0, 1, 0, "0".to_owned()));
    assert_eq!(balance(&app, b).await, 1_000_000);

    // After a grant, reprocessing charges it.
    grant(&app, b, "1").await;
    let retried = process(&app, "reprocessFailedUsage", json!({ "tenantId": b })).await;
    assert_eq!(retried, (1, 0, 0, "2".to_owned()));
    assert_eq!(balance(&app, b).await, 0);
    let rec = read_back(&app, b, &failed_key).await;
    assert_eq!(rec["status"], "CHARGED", "{rec}");
    assert!(rec["reason"].is_null(), "{rec}");
    let consumes = consumes_and_check_sum(&app, b).await;
    let refs: HashSet<&str> = consumes.iter().map(|e| str_of(&e["reference"])).collect();
    let ids: HashSet<&str> = rb.iter().map(|r| str_of(&r["id"])).collect();
    assert_eq!(consumes.len(), 3);
    assert_eq!(refs, ids, "beta's CONSUME entries are its records");

    // All: only gamma is left.
    let all = process(&app, "processPendingUsage", json!({})).await;
    assert_eq!(all, (1, 0, 0, "4".to_owned()));
    assert_eq!(balance(&app, c).await, 6_000_000);
    let consumes = consumes_and_check_sum(&app, c).await;
    assert_eq!(consumes.len(), 1);
    assert_eq!(consumes[0]["reference"], rc[0]["id"]);
    assert_eq!(
        process(&app, "processPendingUsage", json!({})).await,
        (0, 0, 0, "0".to_owned())
    );
    assert_eq!(balance(&app, a).await, 4_000_000);
}

async fn concurrent_processors_charge_each_record_once() {
    const TENANTS: usize = 4;
    const PER_TENANT: usize = 50;
    let slugs: Vec<String> = (0..TENANTS).map(|i| format!("conc-{i}")).collect();
    let slugs: Vec<&str> = slugs.iter().map(String::as_str).collect();
    let (app, tenants) = setup_with(&slugs, |c| {
        c.cron_secret = Some(billing::config::Secret::new(CRON_SECRET));
    })
    .await;

    let mut records: Vec<Vec<Value>> = Vec::new();
    let mut expected = Vec::new();
    for (t, tenant) in tenants.iter().enumerate() {
        grant(&app, tenant, "1000").await;
        let events: Vec<Value> = (0..PER_TENANT)
            .map(|i| {
                let q = 300 + (i as i64 * 737 + t as i64 * 91) % 9_000;
                event(q, &format!("c-{t}-{i}"), Some("chat"))
            })
            .collect();
        let recs = record_ok(&app, tenant, events).await;
        let mut cost = 0;
        for r in &recs {
            let c = micro(str_of(&r["costCredits"]));
            assert_eq!(c, cost_of(big(&r["quantity"])), "{r}");
            cost += c;
        }
        expected.push(cost);
        records.push(recs);
    }

    let cron = async {
        let resp = app
            .client
            .post(format!("{}/jobs/process-billing", app.address))
            .bearer_auth(CRON_SECRET)
            .send()
            .await
            .expect("POST /jobs/process-billing");
        assert_eq!(resp.status().as_u16(), 200);
        let body: Value = resp.json().await.expect("JSON");
        (
            int_of(&body["charged"]),
            int_of(&body["failed"]),
            int_of(&body["skipped"]),
            str_of(&body["creditsCharged"]).to_owned(),
        )
    };
    let (p1, p2, p3) = tokio::join!(
        process(&app, "processPendingUsage", json!({})),
        process(&app, "processPendingUsage", json!({})),
        cron,
    );
    eprintln!(
        "deferred concurrency on {}: {p1:?} {p2:?} {p3:?}",
        backend()
    );
    let runs = [p1, p2, p3];
    let charged: i64 = runs.iter().map(|r| r.0).sum();
    let failed: i64 = runs.iter().map(|r| r.1).sum();
    let credits: i64 = runs.iter().map(|r| micro(&r.3)).sum();
    assert_eq!(
        charged,
        (TENANTS * PER_TENANT) as i64,
        "charges reported: {runs:?}"
    );
    assert_eq!(failed, 0, "{runs:?}");
    assert_eq!(credits, expected.iter().sum::<i64>(), "{runs:?}");

    for (t, tenant) in tenants.iter().enumerate() {
        assert_eq!(
            balance(&app, tenant).await,
            1_000 * 1_000_000 - expected[t],
            "tenant {t}: the wallet dropped by its records' costs"
        );
        let consumes = consumes_and_check_sum(&app, tenant).await;
        assert_eq!(consumes.len(), PER_TENANT, "tenant {t}: CONSUME entries");
        let mut per_ref: HashMap<&str, i64> = HashMap::new();
        for e in &consumes {
            *per_ref.entry(str_of(&e["reference"])).or_default() += 1;
        }
        for r in &records[t] {
            assert_eq!(
                per_ref.get(str_of(&r["id"])).copied(),
                Some(1),
                "tenant {t}: record {} charged once",
                r["id"]
            );
        }
    }
    let s = app
        .as_admin(
            "{ pendingUsageStats { overall { status records credits } } }",
            json!({}),
        )
        .await;
    let overall = by_status(&s.data()["pendingUsageStats"]["overall"]);
    assert_eq!(
        overall.get("CHARGED").copied(),
        Some(((TENANTS * PER_TENANT) as i64, expected.iter().sum::<i64>())),
        "{}",
        s.body
    );
    assert_eq!(overall.get("PENDING").map_or(0, |s| s.0), 0);
    assert_eq!(overall.get("FAILED").map_or(0, |s| s.0), 0);
    for (t, tenant) in tenants.iter().enumerate() {
        let rec = read_back(&app, tenant, &format!("c-{t}-0")).await;
        assert_eq!(rec["status"], "CHARGED", "{rec}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_processors_never_charge_a_record_twice() {
    // Runs on the configured backend (SQLite by default, PostgreSQL when the URL is set).
    concurrent_processors_charge_each_record_once().await;
}

#[tokio::test]
async fn pending_usage_stats_count_by_status_overall_and_per_tenant() {
    let (app, t) = setup(&["alpha", "beta", "idle"]).await;
    let (a, b, idle) = (&t[0], &t[1], &t[2]);
    grant(&app, a, "100").await;
    grant(&app, b, "4").await;
    let ra = record_ok(
        &app,
        a,
        vec![
            event(1_300, "a-1", None),
            event(2_500, "a-2", None),
            event(400, "a-3", None),
        ],
    )
    .await;
    record_ok(
        &app,
        b,
        (0..3)
            .map(|i| event(3_000, &format!("b-{i}"), None))
            .collect(),
    )
    .await;
    assert_eq!(
        process(
            &app,
            "processPendingUsage",
            json!({ "ids": [ra[0]["id"].clone()] })
        )
        .await,
        (1, 0, 0, "2".to_owned())
    );
    assert_eq!(
        process(&app, "processPendingUsage", json!({ "tenantId": b })).await,
        (1, 2, 0, "3".to_owned())
    );

    const Q: &str = "query($t: ID) { pendingUsageStats(tenantId: $t) { \
        overall { status records credits } tenants { tenantId byStatus { status records credits } } } }";
    // Alpha: pending 2 (3 + 1 credits), charged 1 (2). Beta: charged 1 (3), failed 2 (6).
    let r = app.as_admin(Q, json!({ "t": null })).await;
    let s = &r.data()["pendingUsageStats"];
    expect_stats(&s["overall"], (2, 4), (2, 5), (2, 6));
    let tenants = s["tenants"].as_array().expect("tenants");
    assert_eq!(tenants.len(), 2, "only tenants with records: {}", r.body);
    let per: HashMap<&str, &Value> = tenants
        .iter()
        .map(|x| (str_of(&x["tenantId"]), &x["byStatus"]))
        .collect();
    expect_stats(per[a.as_str()], (2, 4), (1, 2), (0, 0));
    expect_stats(per[b.as_str()], (0, 0), (1, 3), (2, 6));
    assert!(!per.contains_key(idle.as_str()));

    // The admin naming one tenant sees that tenant only.
    let r = app.as_admin(Q, json!({ "t": b })).await;
    let s = &r.data()["pendingUsageStats"];
    expect_stats(&s["overall"], (0, 0), (1, 3), (2, 6));
    assert_eq!(s["tenants"].as_array().map(Vec::len), Some(1), "{}", r.body);
    assert_eq!(s["tenants"][0]["tenantId"], b.as_str());

    // A tenant credential sees its own tenant, named or not.
    for role in [Role::Owner, Role::Member, Role::Service] {
        let token = app.tenant_token(a, role);
        for named in [None, Some(a.as_str())] {
            let r = app.as_token(&token, Q, json!({ "t": named })).await;
            let s = &r.data()["pendingUsageStats"];
            expect_stats(&s["overall"], (2, 4), (1, 2), (0, 0));
            let tenants = s["tenants"].as_array().expect("tenants");
            assert_eq!(tenants.len(), 1, "{}", r.body);
            assert_eq!(tenants[0]["tenantId"], a.as_str());
        }
        let r = app.as_token(&token, Q, json!({ "t": b })).await;
        refused(&r, "FORBIDDEN", "a tenant naming another tenant");
    }
    // A tenant with no records: zeros, no tenant rows.
    let token = app.tenant_token(idle, Role::Owner);
    let r = app.as_token(&token, Q, json!({ "t": null })).await;
    let s = &r.data()["pendingUsageStats"];
    expect_stats(&s["overall"], (0, 0), (0, 0), (0, 0));
    assert_eq!(s["tenants"].as_array().map(Vec::len), Some(0), "{}", r.body);
}

async fn post_cron(app: &TestApp, auth: Option<&str>) -> (u16, Value) {
    let mut req = app
        .client
        .post(format!("{}/jobs/process-billing", app.address));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.expect("POST /jobs/process-billing");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

#[tokio::test]
async fn the_cron_endpoint_needs_its_secret_and_charges_pending_usage() {
    // Without a configured secret the route does not exist.
    let (plain, t) = setup(&["alpha"]).await;
    record_ok(&plain, &t[0], vec![event(1_000, "x-1", None)]).await;
    for auth in [
        None,
        Some(format!("Bearer {CRON_SECRET}")),
        Some("Bearer ".into()),
    ] {
        let (status, body) = post_cron(&plain, auth.as_deref()).await;
        assert_eq!(status, 404, "{auth:?}: {body}");
    }
    assert_eq!(read_back(&plain, &t[0], "x-1").await["status"], "PENDING");

    let (app, t) = setup_with(&["alpha", "broke"], |c| {
        c.cron_secret = Some(billing::config::Secret::new(CRON_SECRET));
    })
    .await;
    let (a, broke) = (&t[0], &t[1]);
    grant(&app, a, "20").await;
    record_ok(
        &app,
        a,
        vec![
            event(1_300, "a-1", Some("chat")),
            event(2_000, "a-2", Some("chat")),
            event(10, "a-3", Some("chat")),
        ],
    )
    .await;
    record_ok(&app, broke, vec![event(5_000, "z-1", None)]).await;

    let wrong = [
        None,
        Some("Bearer wrong-secret".to_owned()),
        Some(format!("Bearer {CRON_SECRET}x")),
        Some(format!("Basic {CRON_SECRET}")),
        Some(CRON_SECRET.to_owned()),
        Some("Bearer ".to_owned()),
        Some(format!("Bearer {}", app.admin_token)),
    ];
    for auth in &wrong {
        let (status, body) = post_cron(&app, auth.as_deref()).await;
        assert_eq!(status, 401, "{auth:?}: {body}");
    }
    assert_eq!(read_back(&app, a, "a-1").await["status"], "PENDING");
    assert_eq!(balance(&app, a).await, 20_000_000);

    let (status, body) = post_cron(&app, Some(&format!("Bearer {CRON_SECRET}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "charged": 3, "failed": 1, "skipped": 0, "creditsCharged": "5" }),
        "cron report"
    );
    for key in ["a-1", "a-2", "a-3"] {
        assert_eq!(read_back(&app, a, key).await["status"], "CHARGED", "{key}");
    }
    let z = read_back(&app, broke, "z-1").await;
    assert_eq!(z["status"], "FAILED", "{z}");
    assert!(
        str_of(&z["reason"]).to_lowercase().contains("insufficient"),
        "{z}"
    );
    assert_eq!(balance(&app, a).await, 15_000_000);
    assert_eq!(consumes_and_check_sum(&app, a).await.len(), 3);
    assert_eq!(consumes_and_check_sum(&app, broke).await.len(), 0);

    // Nothing left to charge.
    let (status, body) = post_cron(&app, Some(&format!("Bearer {CRON_SECRET}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "charged": 0, "failed": 0, "skipped": 0, "creditsCharged": "0" })
    );
    assert_eq!(balance(&app, a).await, 15_000_000);
}

#[tokio::test]
async fn credit_usage_stats_sum_consumption_and_deferred_charges() {
    let (app, t) = setup(&["alpha", "fresh"]).await;
    let (a, fresh) = (&t[0], &t[1]);
    grant(&app, a, "100").await;

    const Q: &str = "query($t: ID) { creditUsageStats(tenantId: $t) { tenantId creditsConsumed \
        requests byOperation { operationType requests credits } lastActiveAt } }";
    let r = app.as_admin(Q, json!({ "t": fresh })).await;
    let s = &r.data()["creditUsageStats"];
    assert_eq!(s["tenantId"], fresh.as_str());
    assert_eq!(s["creditsConsumed"], "0", "{s}");
    assert_eq!(big(&s["requests"]), 0, "{s}");
    assert_eq!(s["byOperation"], json!([]), "{s}");
    assert!(s["lastActiveAt"].is_null(), "{s}");

    for (q, op, key) in [
        (1_300, "chat", "s-1"),
        (500, "chat", "s-2"),
        (2_500, "diagnosis", "s-3"),
    ] {
        app.as_admin(
            "mutation($i: ConsumeCreditsInput!) { consumeCredits(input: $i) { balance } }",
            json!({ "i": { "tenantId": a, "metricCode": "tokens", "quantity": q,
                "operationType": op, "idempotencyKey": key } }),
        )
        .await
        .data();
    }
    record_ok(
        &app,
        a,
        vec![
            event(1_000, "d-1", Some("chat")),
            event(4_001, "d-2", Some("diagnosis")),
        ],
    )
    .await;
    // Recorded but not charged yet: not consumed.
    let r = app.as_admin(Q, json!({ "t": a })).await;
    assert_eq!(r.data()["creditUsageStats"]["creditsConsumed"], "6");
    assert_eq!(
        process(&app, "processPendingUsage", json!({ "tenantId": a })).await,
        (2, 0, 0, "6".to_owned())
    );

    // chat: 2 + 1 + 1 credits in 3 requests; diagnosis: 3 + 5 in 2.
    let owner = app.tenant_token(a, Role::Owner);
    for (token, named) in [(&app.admin_token, Some(a.as_str())), (&owner, None)] {
        let r = app.as_token(token, Q, json!({ "t": named })).await;
        let s = &r.data()["creditUsageStats"];
        assert_eq!(s["tenantId"], a.as_str(), "{s}");
        assert_eq!(s["creditsConsumed"], "12", "{s}");
        assert_eq!(big(&s["requests"]), 5, "{s}");
        let ops: HashMap<&str, (i64, i64)> = s["byOperation"]
            .as_array()
            .expect("byOperation")
            .iter()
            .map(|o| {
                (
                    str_of(&o["operationType"]),
                    (big(&o["requests"]), micro(str_of(&o["credits"]))),
                )
            })
            .collect();
        assert_eq!(
            ops,
            HashMap::from([("chat", (3, 4_000_000)), ("diagnosis", (2, 8_000_000))]),
            "{s}"
        );
        assert_eq!(at(&s["lastActiveAt"]), at(&json!(START)), "{s}");
    }
    assert_eq!(balance(&app, a).await, 88_000_000);
    let r = app.as_token(&owner, Q, json!({ "t": fresh })).await;
    refused(&r, "FORBIDDEN", "credit usage stats of another tenant");
}
