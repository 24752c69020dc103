//! Idempotency of `recordDeferredUsage`: each event's key is the event. Sent again with the
//! same metric, quantity and operation it answers `DUPLICATE` with the first record (also
//! concurrently, and after the record was charged); with anything else it is `REJECTED`
//! `IDEMPOTENCY_KEY_REUSED` and changes nothing. `pendingUsage` reads a record by its key.
use std::collections::{HashMap, HashSet};

use billing::domain::Role;
use serde_json::{Value, json};

use crate::helpers::*;

const START: &str = "2026-03-01T00:00:00Z";
const RECORD: &str = "id metricCode quantity operationType costCredits status";

fn event(metric: &str, quantity: i64, operation: &str, key: &str) -> Value {
    json!({ "metricCode": metric, "quantity": quantity, "operationType": operation,
        "idempotencyKey": key })
}

async fn setup() -> (TestApp, String, String) {
    let app = spawn_app_at(START).await;
    app.create_metric("tokens").await;
    app.create_metric("images").await;
    let tenant = app.create_tenant("acme").await;
    app.as_admin(
        "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
        json!({ "i": { "tenantId": tenant, "credits": "1000", "reason": "opening" } }),
    )
    .await
    .data();
    let service = app.tenant_token(&tenant, Role::Service);
    (app, tenant, service)
}

/// The per-event results of one `recordDeferredUsage` call.
async fn record(app: &TestApp, token: &str, events: Vec<Value>) -> Vec<Value> {
    let r = app
        .as_token(
            token,
            &format!(
                "mutation($i: RecordDeferredUsageInput!) {{ recordDeferredUsage(input: $i) {{ \
                 results {{ index status code message record {{ {RECORD} }} }} }} }}"
            ),
            json!({ "i": { "events": events } }),
        )
        .await;
    r.data()["recordDeferredUsage"]["results"]
        .as_array()
        .expect("results")
        .clone()
}

async fn pending_usage(app: &TestApp, token: &str, tenant: Option<&str>, key: &str) -> Gql {
    app.as_token(
        token,
        &format!(
            "query($t: ID, $k: String!) {{ pendingUsage(tenantId: $t, idempotencyKey: $k) \
             {{ {RECORD} }} }}"
        ),
        json!({ "t": tenant, "k": key }),
    )
    .await
}

/// Records by status for the tenant: (count, credits) per status.
async fn stats(app: &TestApp, tenant: &str) -> Vec<Value> {
    let r = app
        .as_admin(
            "query($t: ID) { pendingUsageStats(tenantId: $t) { overall { status records credits } } }",
            json!({ "t": tenant }),
        )
        .await;
    r.data()["pendingUsageStats"]["overall"]
        .as_array()
        .expect("overall")
        .clone()
}

fn batch() -> Vec<Value> {
    (0..20)
        .map(|i| event("tokens", 1_000 + i, "chat", &format!("req-{i}")))
        .collect()
}

#[tokio::test]
async fn a_replayed_batch_answers_the_first_records_and_records_nothing_more() {
    let (app, tenant, service) = setup().await;
    let first = record(&app, &service, batch()).await;
    assert!(first.iter().all(|r| r["status"] == "ACCEPTED"), "{first:?}");
    let before = stats(&app, &tenant).await;

    let again = record(&app, &service, batch()).await;
    for (a, b) in first.iter().zip(&again) {
        assert_eq!(b["status"], "DUPLICATE", "{b}");
        assert_eq!(
            b["record"], a["record"],
            "the replay answers the first record"
        );
    }
    assert_eq!(stats(&app, &tenant).await, before);

    // Charged in between, the replay still answers the one record, now charged, and nothing
    // is charged again.
    app.as_admin(
        "mutation($i: ProcessUsageInput!) { processPendingUsage(input: $i) { charged } }",
        json!({ "i": { "tenantId": tenant } }),
    )
    .await
    .data();
    let charged = app.balance(&tenant).await;
    let late = record(&app, &service, batch()).await;
    for (a, b) in first.iter().zip(&late) {
        assert_eq!(b["status"], "DUPLICATE", "{b}");
        assert_eq!(b["record"]["id"], a["record"]["id"]);
        assert_eq!(b["record"]["status"], "CHARGED", "{b}");
    }
    app.as_admin(
        "mutation($i: ProcessUsageInput!) { processPendingUsage(input: $i) { charged } }",
        json!({ "i": { "tenantId": tenant } }),
    )
    .await
    .data();
    assert_eq!(app.balance(&tenant).await, charged, "nothing charged twice");
}

#[tokio::test]
async fn concurrent_copies_of_a_batch_record_each_event_once() {
    let (app, tenant, service) = setup().await;
    let answers = at_once(AT_ONCE, || async {
        app.as_token(
            &service,
            "mutation($i: RecordDeferredUsageInput!) { recordDeferredUsage(input: $i) { \
             results { status record { id } } } }",
            json!({ "i": { "events": batch() } }),
        )
        .await
    })
    .await;
    let mut accepted: HashMap<usize, usize> = HashMap::new();
    let mut ids: HashMap<usize, HashSet<String>> = HashMap::new();
    for a in &answers {
        let results = a.data()["recordDeferredUsage"]["results"]
            .as_array()
            .expect("results");
        for (i, r) in results.iter().enumerate() {
            match str_of(&r["status"]) {
                "ACCEPTED" => *accepted.entry(i).or_default() += 1,
                "DUPLICATE" => {}
                other => panic!("event {i}: {other}: {r}"),
            }
            ids.entry(i).or_default().insert(id_of(&r["record"]));
        }
    }
    for i in 0..20 {
        assert_eq!(accepted.get(&i), Some(&1), "event {i} accepted once");
        assert_eq!(ids[&i].len(), 1, "every copy of event {i} names one record");
    }
    let pending = stats(&app, &tenant).await;
    let pending = pending
        .iter()
        .find(|s| s["status"] == "PENDING")
        .expect("pending");
    assert_eq!(big(&pending["records"]), 20, "{pending}");
}

#[tokio::test]
async fn a_key_reused_for_another_event_is_refused_and_changes_nothing() {
    let (app, tenant, service) = setup().await;
    let first = record(&app, &service, vec![event("tokens", 1_300, "chat", "k-1")]).await;
    assert_eq!(first[0]["status"], "ACCEPTED", "{}", first[0]);
    let before = stats(&app, &tenant).await;

    for (what, other, names) in [
        ("quantity", event("tokens", -1, "chat", "k-1"), None),
        (
            "quantity",
            event("tokens", 1_301, "chat", "k-1"),
            Some("quantity 1300"),
        ),
        (
            "metric",
            event("images", 1_300, "chat", "k-1"),
            Some("metricCode 'tokens'"),
        ),
        (
            "operation",
            event("tokens", 1_300, "search", "k-1"),
            Some("operationType 'chat'"),
        ),
    ] {
        let r = &record(&app, &service, vec![other]).await[0];
        assert_eq!(r["status"], "REJECTED", "{what}: {r}");
        assert!(r["record"].is_null(), "{what}: {r}");
        match names {
            // A bad quantity is refused for itself before the key is looked at.
            None => assert_eq!(r["code"], "INVALID_QUANTITY", "{r}"),
            Some(names) => {
                assert_eq!(r["code"], "IDEMPOTENCY_KEY_REUSED", "{what}: {r}");
                assert!(str_of(&r["message"]).contains(names), "{what}: {r}");
            }
        }
    }
    assert_eq!(stats(&app, &tenant).await, before, "nothing recorded");
    let stored = pending_usage(&app, &service, None, "k-1").await;
    assert_eq!(
        stored.data()["pendingUsage"],
        first[0]["record"],
        "unchanged"
    );
}

#[tokio::test]
async fn pending_usage_reads_a_record_by_key_within_the_callers_tenant() {
    let (app, tenant, service) = setup().await;
    let first = record(&app, &service, vec![event("tokens", 2_500, "chat", "k-9")]).await;
    let mine = pending_usage(&app, &service, None, "k-9").await;
    assert_eq!(mine.data()["pendingUsage"], first[0]["record"]);
    assert_eq!(mine.data()["pendingUsage"]["costCredits"], "3");
    let admin = pending_usage(&app, &app.admin_token, Some(&tenant), "k-9").await;
    assert_eq!(admin.data()["pendingUsage"], first[0]["record"]);

    let unknown = pending_usage(&app, &service, None, "never-sent").await;
    assert!(unknown.data()["pendingUsage"].is_null(), "{}", unknown.body);
    pending_usage(&app, &service, None, "bad key!")
        .await
        .expect_code("VALIDATION");
    pending_usage(&app, &app.admin_token, None, "k-9")
        .await
        .expect_code("VALIDATION");

    // Another tenant neither sees the record under the same key nor names this tenant.
    let other = app.create_tenant("other").await;
    let theirs = app.tenant_token(&other, Role::Service);
    let r = pending_usage(&app, &theirs, None, "k-9").await;
    assert!(r.data()["pendingUsage"].is_null(), "{}", r.body);
    pending_usage(&app, &theirs, Some(&tenant), "k-9")
        .await
        .expect_code("FORBIDDEN");
}
