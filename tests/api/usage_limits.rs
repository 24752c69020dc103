//! Usage metering against plan limits and charges: HARD and SOFT limits, the 80% and 100%
//! notices, usageSummary, estimateCost, period-end (arrears) charges on the next invoice or on
//! the closing one, and unpaid block-charge invoices going past due.
use billing::domain::Role;
use chrono::Duration;
use futures::future::join_all;
use serde_json::{Value, json};

use crate::billing_checks::{assert_arithmetic, refused};
use crate::helpers::*;

const START: &str = "2026-03-01T00:00:00Z";
/// The first monthly cycle of a subscription created at `START`.
const CYCLE_1: (&str, &str) = ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z");
const CYCLE_2: (&str, &str) = ("2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z");

const ESTIMATE: &str = "query($p: String!, $m: String!, $q: BigInt!) { \
    estimateCost(planCode: $p, metricCode: $m, quantity: $q) { planCode metricCode quantity \
    fixedFee { amountMinor } usageCharge { amountMinor } blocks tier total { amountMinor } } }";

// ---------------------------------------------------------------------------------------------
// Helpers local to these tests
// ---------------------------------------------------------------------------------------------

/// The same, with an operation type.
fn event_for(metric: &str, quantity: i64, key: &str, operation: &str) -> Value {
    let mut e = usage_event(metric, quantity, key);
    e["operationType"] = json!(operation);
    e
}

/// Reports `events` for the caller's own tenant; returns the payload.
async fn record_ok(app: &TestApp, token: &str, events: Vec<Value>) -> Value {
    app.record_usage(token, None, events).await.data()["recordUsage"].clone()
}

/// Asserts the accepted / duplicates / rejected counters of a `recordUsage` payload.
fn assert_counts(payload: &Value, accepted: i64, duplicates: i64, rejected: i64) {
    assert_eq!(
        (
            payload["accepted"].as_i64(),
            payload["duplicates"].as_i64(),
            payload["rejected"].as_i64()
        ),
        (Some(accepted), Some(duplicates), Some(rejected)),
        "accepted/duplicates/rejected of {payload}"
    );
}

/// Asserts that event `index` of a payload was refused with `code`, not stored (no id), and
/// explained.
fn assert_rejected(payload: &Value, index: usize, code: &str) {
    let r = &payload["results"][index];
    assert_eq!(r["index"], index, "{payload}");
    assert_eq!(r["status"], "REJECTED", "event {index}: {payload}");
    assert_eq!(r["code"], code, "event {index}: {payload}");
    assert!(r["eventId"].is_null(), "a rejected event has an id: {r}");
    assert!(
        r["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a rejection without a message: {r}"
    );
    assert_eq!(r["blockCharges"], json!([]), "{r}");
}

/// Asserts that event `index` of a payload was accepted and stored; returns its id.
fn accepted_id(payload: &Value, index: usize) -> String {
    let r = &payload["results"][index];
    assert_eq!(r["index"], index, "{payload}");
    assert_eq!(r["status"], "ACCEPTED", "event {index}: {payload}");
    assert!(r["code"].is_null(), "an accepted event has a code: {r}");
    let id = str_of(&r["eventId"]).to_owned();
    assert!(id.starts_with("use_"), "event id {id}");
    id
}

/// `usageSummary` as sent by `token`.
async fn usage_summary(app: &TestApp, token: &str, vars: Value) -> Gql {
    let q = format!(
        "query($t: ID, $m: String!, $c: Int, $s: ID) {{ usageSummary(tenantId: $t, \
         metricCode: $m, cycle: $c, subscriptionId: $s) {{ {SUMMARY_FIELDS} }} }}"
    );
    app.as_token(token, &q, vars).await
}

/// The tenant's usage summary of `metric`, read as admin (the current cycle unless given).
async fn summary_of(app: &TestApp, tenant: &str, metric: &str, cycle: Option<i32>) -> Value {
    let r = usage_summary(
        app,
        &app.admin_token,
        json!({ "t": tenant, "m": metric, "c": cycle }),
    )
    .await;
    r.data()["usageSummary"].clone()
}

/// Asserts the quantity, event count and charges of a usage summary.
fn assert_summary(
    s: &Value,
    (quantity, events): (i64, i64),
    tier: &str,
    (fee, blocks, blocks_total, total_charged): (i64, i64, i64, i64),
    what: &str,
) {
    assert_eq!(
        big(&s["totalQuantity"]),
        quantity,
        "{what}: quantity of {s}"
    );
    assert_eq!(s["events"], events, "{what}: events of {s}");
    assert_eq!(s["currentTier"], tier, "{what}: tier of {s}");
    assert_eq!(
        (
            minor(&s["fixedFeeCharged"]),
            s["blockChargesCount"].as_i64(),
            minor(&s["blockChargesTotal"]),
            minor(&s["totalCharged"])
        ),
        (fee, Some(blocks), blocks_total, total_charged),
        "{what}: fee / block count / block total / total charged of {s}"
    );
}

/// Asserts that a summary (or an invoice line, or an invoice) covers [start, end).
fn assert_period(v: &Value, (start, end): (&str, &str), what: &str) {
    assert_eq!(
        (at(&v["periodStart"]), at(&v["periodEnd"])),
        (ts(start), ts(end)),
        "{what}: period of {v}"
    );
}

/// `estimateCost` sent with `token` (anonymous when `None`).
async fn estimate(app: &TestApp, token: Option<&str>, plan: &str, metric: &str, q: Value) -> Gql {
    app.gql_with(token, ESTIMATE, json!({ "p": plan, "m": metric, "q": q }))
        .await
}

/// Creates a plan as admin from a `PlanInput` JSON object.
async fn create_plan_with(app: &TestApp, plan: Value) {
    app.as_admin(
        "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
        json!({ "i": plan }),
    )
    .await
    .data();
}

fn unit_charge(metric: &str, included: i64, unit_price: &str) -> Value {
    json!({ "metricCode": metric, "timing": "PERIOD_END", "model": "UNIT",
        "includedUnits": included.to_string(), "unitPriceMinor": unit_price })
}

/// The seed's token plan: R$ 400 a month with 8M tokens included, R$ 100 per started 8M block
/// above, charged at once.
async fn token_plan(app: &TestApp) {
    app.create_metric("tokens").await;
    create_plan_with(
        app,
        json!({ "code": "tokens-400", "name": "AI Tokens 8M", "monthlyPriceMinor": "40000",
            "charges": [block_charge("tokens", "IMMEDIATELY", 8_000_000, 8_000_000, 10_000)] }),
    )
    .await;
}

/// A plan without fee whose only term is a limit on `api_calls` per period.
async fn limited_plan(app: &TestApp, code: &str, value: i64, enforcement: &str) {
    create_plan_with(
        app,
        json!({ "code": code, "name": format!("Plan {code}"), "monthlyPriceMinor": "0",
            "limits": [{ "metricCode": "api_calls", "value": value.to_string(),
                "enforcement": enforcement }] }),
    )
    .await;
}

/// Asserts one limit notice per expected count, each about the subscription `sub`.
async fn assert_limit_notices(
    app: &TestApp,
    tenant: &str,
    sub: &Value,
    (at_80, at_100): (usize, usize),
    what: &str,
) {
    for (kind, expected) in [("usage_limit_80", at_80), ("usage_limit_100", at_100)] {
        let found = app.notifications_of_kind(tenant, kind).await;
        assert_eq!(found.len(), expected, "{what}: {kind} notices: {found:#?}");
        for n in &found {
            assert_eq!(n["reference"], sub["id"], "{what}: {n}");
            assert_eq!(n["tenantId"], json!(tenant), "{what}: {n}");
            assert!(
                n["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{what}: {n}"
            );
        }
    }
}

async fn pay(app: &TestApp, invoice_id: &str) -> Value {
    let r = app
        .as_admin(
            "mutation($id: ID!) { markInvoicePaid(id: $id) { id status } }",
            json!({ "id": invoice_id }),
        )
        .await;
    let paid = r.data()["markInvoicePaid"].clone();
    assert_eq!(paid["status"], "PAID", "{paid}");
    paid
}

async fn cancel(app: &TestApp, token: &str, at_period_end: bool) -> Value {
    let q = format!(
        "mutation($e: Boolean!) {{ cancelSubscription(input: {{ atPeriodEnd: $e }}) {{ \
         subscription {{ {SUBSCRIPTION_FIELDS} }} invoice {{ {INVOICE_FIELDS} }} }} }}"
    );
    let r = app.as_token(token, &q, json!({ "e": at_period_end })).await;
    r.data()["cancelSubscription"].clone()
}

/// The lines of `invoice` of `kind`.
fn lines_of<'a>(invoice: &'a Value, kind: &str) -> Vec<&'a Value> {
    invoice["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("no lines in {invoice}"))
        .iter()
        .filter(|l| l["kind"] == kind)
        .collect()
}

/// The amounts of the `usage` lines of `invoice`, sorted.
fn usage_amounts(invoice: &Value) -> Vec<i64> {
    let mut amounts: Vec<i64> = lines_of(invoice, "usage")
        .iter()
        .map(|l| minor(&l["amount"]))
        .collect();
    amounts.sort_unstable();
    amounts
}

/// Asserts subtotal = sum of the line amounts = total = amount due (no discount).
fn assert_sums_to(invoice: &Value, expected: i64, what: &str) {
    let sum: i64 = invoice["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("no lines in {invoice}"))
        .iter()
        .map(|l| minor(&l["amount"]))
        .sum();
    assert_eq!(
        (
            sum,
            money(invoice, "subtotal"),
            money(invoice, "discount"),
            money(invoice, "total"),
            money(invoice, "amountDue")
        ),
        (expected, expected, 0, expected, expected),
        "{what}: line sum / subtotal / discount / total / amount due of {invoice}"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. HARD limits
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_hard_limit_accepts_usage_up_to_exactly_the_limit_and_rejects_each_event_that_would_pass_it()
 {
    // Arrange: 1000 api calls a period, HARD; 990 already used.
    let app = spawn_app_at(START).await;
    app.create_metric("api_calls").await;
    limited_plan(&app, "free", 1_000, "HARD").await;
    let Subscribed {
        tenant,
        owner,
        subscription: sub,
        ..
    } = app.subscribed("acme", "free").await;
    let first = record_ok(&app, &owner, vec![usage_event("api_calls", 990, "call-1")]).await;
    assert_eq!(statuses(&first), ["ACCEPTED"]);

    // Act: 990 + 5 = 995 fits; + 10 = 1005 would not; + 5 = 1000 fits exactly.
    let batch = record_ok(
        &app,
        &owner,
        vec![
            usage_event("api_calls", 5, "call-2"),
            usage_event("api_calls", 10, "call-3"),
            usage_event("api_calls", 5, "call-4"),
        ],
    )
    .await;

    // Assert
    assert_eq!(
        statuses(&batch),
        ["ACCEPTED", "REJECTED", "ACCEPTED"],
        "{batch}"
    );
    assert_counts(&batch, 2, 0, 1);
    let call_2 = accepted_id(&batch, 0);
    assert_rejected(&batch, 1, "LIMIT_EXCEEDED");
    assert_eq!(batch["results"][1]["idempotencyKey"], "call-3");
    accepted_id(&batch, 2);
    let s = summary_of(&app, &tenant, "api_calls", None).await;
    assert_eq!(s["subscriptionId"], sub["id"]);
    assert_eq!(s["cycle"], 1);
    assert_eq!(big(&s["totalQuantity"]), 1_000, "{s}");
    assert_eq!(s["events"], 3, "the rejected event was counted: {s}");
    assert_eq!(big(&s["limit"]), 1_000, "{s}");
    assert_eq!(s["enforcement"], "HARD", "{s}");
    assert_eq!(s["overLimit"], false, "{s}");
    // 990 crossed 80%; 1000 reached 100%; the rejected event changed nothing.
    assert_limit_notices(&app, &tenant, &sub, (1, 1), "at the limit").await;

    // Act: at the limit, one more unit; a repeat of an accepted key; the rejected key again.
    let more = record_ok(
        &app,
        &owner,
        vec![
            usage_event("api_calls", 1, "call-5"),
            usage_event("api_calls", 5, "call-2"),
            usage_event("api_calls", 10, "call-3"),
        ],
    )
    .await;

    // Assert: a duplicate is never LIMIT_EXCEEDED; the rejected key was not remembered, so it
    // is judged again (and refused again) instead of being a duplicate.
    assert_eq!(
        statuses(&more),
        ["REJECTED", "DUPLICATE", "REJECTED"],
        "{more}"
    );
    assert_counts(&more, 0, 1, 2);
    assert_rejected(&more, 0, "LIMIT_EXCEEDED");
    assert_eq!(more["results"][1]["eventId"], json!(call_2), "{more}");
    assert!(more["results"][1]["code"].is_null(), "{more}");
    assert_rejected(&more, 2, "LIMIT_EXCEEDED");
    let s = summary_of(&app, &tenant, "api_calls", None).await;
    assert_eq!(
        (big(&s["totalQuantity"]), s["events"].as_i64()),
        (1_000, Some(3)),
        "{s}"
    );

    // Act: the next period starts and the refused event is sent again with the same key.
    app.advance_to(CYCLE_2.0).await;
    let resent = record_ok(&app, &owner, vec![usage_event("api_calls", 10, "call-3")]).await;

    // Assert: accepted as a new event, counted in cycle 2; cycle 1 is as it was.
    assert_counts(&resent, 1, 0, 0);
    accepted_id(&resent, 0);
    let now = summary_of(&app, &tenant, "api_calls", None).await;
    assert_eq!(now["cycle"], 2, "{now}");
    assert_period(&now, CYCLE_2, "cycle 2");
    assert_eq!(
        (big(&now["totalQuantity"]), now["events"].as_i64()),
        (10, Some(1)),
        "{now}"
    );
    assert_eq!(now["overLimit"], false, "{now}");
    let closed = summary_of(&app, &tenant, "api_calls", Some(1)).await;
    assert_eq!(
        (big(&closed["totalQuantity"]), closed["events"].as_i64()),
        (1_000, Some(3)),
        "{closed}"
    );
}

#[tokio::test]
async fn twenty_concurrent_reports_of_100_with_500_used_fill_a_hard_limit_of_1000_exactly() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_metric("api_calls").await;
    limited_plan(&app, "free", 1_000, "HARD").await;
    let Subscribed { tenant, owner, .. } = app.subscribed("acme", "free").await;
    record_ok(&app, &owner, vec![usage_event("api_calls", 500, "warm-up")]).await;

    // Act: twenty single events of 100 at the same moment.
    let results = join_all((0..20).map(|i| {
        app.record_usage(
            &owner,
            None,
            vec![usage_event("api_calls", 100, &format!("burst-{i}"))],
        )
    }))
    .await;

    // Assert: exactly the five that fit are accepted, on either backend.
    let mut accepted = 0;
    for r in &results {
        let payload = &r.data()["recordUsage"];
        match payload["results"][0]["status"].as_str() {
            Some("ACCEPTED") => accepted += 1,
            Some("REJECTED") => assert_rejected(payload, 0, "LIMIT_EXCEEDED"),
            _ => panic!("unexpected result on {}: {payload}", backend()),
        }
    }
    assert_eq!(accepted, 5, "accepted events on {}", backend());
    let s = summary_of(&app, &tenant, "api_calls", None).await;
    assert_eq!(
        (big(&s["totalQuantity"]), s["events"].as_i64()),
        (1_000, Some(6)),
        "on {}: {s}",
        backend()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. SOFT limits
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_soft_limit_accepts_usage_above_it_and_flags_the_period_only_once_the_total_exceeds_it() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_metric("api_calls").await;
    limited_plan(&app, "soft", 1_000, "SOFT").await;
    let Subscribed { tenant, owner, .. } = app.subscribed("acme", "soft").await;

    // Act / Assert: below the limit.
    record_ok(&app, &owner, vec![usage_event("api_calls", 600, "e-1")]).await;
    let s = summary_of(&app, &tenant, "api_calls", None).await;
    assert_eq!(big(&s["totalQuantity"]), 600, "{s}");
    assert_eq!(big(&s["limit"]), 1_000, "{s}");
    assert_eq!(s["enforcement"], "SOFT", "{s}");
    assert_eq!(s["overLimit"], false, "{s}");

    // Exactly at the limit: not over it.
    let at_limit = record_ok(&app, &owner, vec![usage_event("api_calls", 400, "e-2")]).await;
    assert_counts(&at_limit, 1, 0, 0);
    let s = summary_of(&app, &tenant, "api_calls", None).await;
    assert_eq!(big(&s["totalQuantity"]), 1_000, "{s}");
    assert_eq!(s["overLimit"], false, "exactly at a SOFT limit: {s}");

    // One unit above: accepted, and the period is flagged.
    let above = record_ok(&app, &owner, vec![usage_event("api_calls", 1, "e-3")]).await;
    assert_counts(&above, 1, 0, 0);
    accepted_id(&above, 0);
    let s = summary_of(&app, &tenant, "api_calls", None).await;
    assert_eq!(big(&s["totalQuantity"]), 1_001, "{s}");
    assert_eq!(s["overLimit"], true, "above a SOFT limit: {s}");

    // Far above, in one batch: still accepted.
    let far = record_ok(
        &app,
        &owner,
        vec![
            usage_event("api_calls", 2_000, "e-4"),
            usage_event("api_calls", 3_000, "e-5"),
        ],
    )
    .await;
    assert_eq!(statuses(&far), ["ACCEPTED", "ACCEPTED"], "{far}");
    let s = summary_of(&app, &tenant, "api_calls", None).await;
    assert_eq!(
        (big(&s["totalQuantity"]), s["events"].as_i64()),
        (6_001, Some(5)),
        "{s}"
    );
    assert_eq!(s["overLimit"], true, "{s}");

    // The next period starts unflagged; the closed one stays flagged.
    app.advance_to(CYCLE_2.0).await;
    let s = summary_of(&app, &tenant, "api_calls", None).await;
    assert_eq!(s["cycle"], 2, "{s}");
    assert_eq!(big(&s["totalQuantity"]), 0, "{s}");
    assert_eq!(s["overLimit"], false, "a new period: {s}");
    let closed = summary_of(&app, &tenant, "api_calls", Some(1)).await;
    assert_eq!(big(&closed["totalQuantity"]), 6_001, "{closed}");
    assert_eq!(closed["overLimit"], true, "{closed}");
}

// ---------------------------------------------------------------------------------------------
// 3. Limit notifications
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn crossing_80_and_100_percent_of_a_limit_records_one_notice_each_per_cycle() {
    // Arrange: a SOFT limit of 1000, so usage may go on past it.
    let app = spawn_app_at(START).await;
    app.create_metric("api_calls").await;
    limited_plan(&app, "soft", 1_000, "SOFT").await;
    let Subscribed {
        tenant,
        owner,
        subscription: sub,
        ..
    } = app.subscribed("acme", "soft").await;

    // 700 in seven events: below 80%.
    for i in 0..7 {
        record_ok(
            &app,
            &owner,
            vec![usage_event("api_calls", 100, &format!("a-{i}"))],
        )
        .await;
    }
    assert_limit_notices(&app, &tenant, &sub, (0, 0), "at 70%").await;

    // 850: past 80%.
    record_ok(&app, &owner, vec![usage_event("api_calls", 150, "b-1")]).await;
    assert_limit_notices(&app, &tenant, &sub, (1, 0), "at 85%").await;

    // 900 and 950: still one 80% notice.
    record_ok(&app, &owner, vec![usage_event("api_calls", 50, "b-2")]).await;
    record_ok(&app, &owner, vec![usage_event("api_calls", 50, "b-3")]).await;
    assert_limit_notices(&app, &tenant, &sub, (1, 0), "at 95%").await;

    // 1000: 100% is reached when total ≥ value.
    record_ok(&app, &owner, vec![usage_event("api_calls", 50, "b-4")]).await;
    assert_limit_notices(&app, &tenant, &sub, (1, 1), "at 100%").await;

    // Beyond the limit, one by one and in a batch: nothing new.
    record_ok(&app, &owner, vec![usage_event("api_calls", 1, "c-1")]).await;
    record_ok(
        &app,
        &owner,
        vec![
            usage_event("api_calls", 200, "c-2"),
            usage_event("api_calls", 300, "c-3"),
        ],
    )
    .await;
    assert_limit_notices(&app, &tenant, &sub, (1, 1), "at 150%").await;

    // Act: the next cycle, crossed by twelve events of 100 at the same moment.
    app.advance_to(CYCLE_2.0).await;
    let results = join_all((0..12).map(|i| {
        app.record_usage(
            &owner,
            None,
            vec![usage_event("api_calls", 100, &format!("d-{i}"))],
        )
    }))
    .await;

    // Assert: one more notice of each kind, about the same subscription.
    for r in &results {
        assert_counts(&r.data()["recordUsage"], 1, 0, 0);
    }
    let s = summary_of(&app, &tenant, "api_calls", None).await;
    assert_eq!(
        (s["cycle"].as_i64(), big(&s["totalQuantity"])),
        (Some(2), 1_200),
        "{s}"
    );
    assert_limit_notices(&app, &tenant, &sub, (2, 2), "cycle 2").await;
    let again = app.run_jobs().await;
    assert_eq!(again["notifications"], 0, "{again}");
    assert_limit_notices(&app, &tenant, &sub, (2, 2), "after the jobs").await;
}

#[tokio::test]
async fn one_event_jumping_from_nothing_to_the_whole_limit_records_each_notice_once() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_metric("api_calls").await;
    limited_plan(&app, "free", 1_000, "HARD").await;
    let Subscribed {
        tenant,
        owner,
        subscription: sub,
        ..
    } = app.subscribed("acme", "free").await;

    // Act: 0 → 1000 in one event.
    let jump = record_ok(
        &app,
        &owner,
        vec![usage_event("api_calls", 1_000, "all-at-once")],
    )
    .await;

    // Assert: both thresholds crossed, one notice each.
    assert_counts(&jump, 1, 0, 0);
    assert_limit_notices(&app, &tenant, &sub, (1, 1), "after the jump").await;

    // A refused event and a duplicate add nothing.
    let after = record_ok(
        &app,
        &owner,
        vec![
            usage_event("api_calls", 1, "one-more"),
            usage_event("api_calls", 1_000, "all-at-once"),
        ],
    )
    .await;
    assert_eq!(statuses(&after), ["REJECTED", "DUPLICATE"], "{after}");
    assert_limit_notices(&app, &tenant, &sub, (1, 1), "after the refusal").await;
}

// ---------------------------------------------------------------------------------------------
// 4. usageSummary
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_usage_summary_shows_quantities_tiers_and_charges_of_the_current_and_a_closed_cycle() {
    // Arrange
    let app = spawn_app_at(START).await;
    token_plan(&app).await;
    let Subscribed {
        tenant,
        owner,
        subscription: sub,
        ..
    } = app.subscribed("acme", "tokens-400").await;

    // Nothing used yet: the fee of cycle 1 only.
    let empty = summary_of(&app, &tenant, "tokens", None).await;
    assert_eq!(empty["subscriptionId"], sub["id"], "{empty}");
    assert_eq!(empty["metricCode"], "tokens", "{empty}");
    assert_eq!(empty["cycle"], 1, "{empty}");
    assert_period(&empty, CYCLE_1, "cycle 1");
    assert_eq!(big(&empty["includedUnits"]), 8_000_000, "{empty}");
    assert_summary(&empty, (0, 0), "0-8M", (40_000, 0, 0, 40_000), "empty");
    assert_eq!(empty["byOperation"], json!([]), "{empty}");
    assert!(empty["limit"].is_null(), "{empty}");
    assert!(empty["enforcement"].is_null(), "{empty}");
    assert_eq!(empty["overLimit"], false, "{empty}");

    // 3M + 5M = exactly the 8M included: no block. "Chat" is stored lowercased.
    let included = record_ok(
        &app,
        &owner,
        vec![
            event_for("tokens", 3_000_000, "t-1", "chat"),
            event_for("tokens", 5_000_000, "t-2", "Chat"),
        ],
    )
    .await;
    assert_counts(&included, 2, 0, 0);
    assert_eq!(included["blockCharges"], json!([]), "{included}");
    assert!(included["invoice"].is_null(), "{included}");
    let s = summary_of(&app, &tenant, "tokens", None).await;
    assert_summary(&s, (8_000_000, 2), "0-8M", (40_000, 0, 0, 40_000), "at 8M");

    // 10M: the first block.
    let first_block = record_ok(
        &app,
        &owner,
        vec![event_for("tokens", 2_000_000, "t-3", "embed")],
    )
    .await;
    let blocks = first_block["blockCharges"].as_array().expect("blocks");
    assert_eq!(blocks.len(), 1, "{first_block}");
    assert_eq!(blocks[0]["blockIndex"], 1, "{first_block}");
    assert_eq!(blocks[0]["tier"], "8M-16M", "{first_block}");
    assert_eq!(minor(&blocks[0]["amount"]), 10_000, "{first_block}");
    assert_eq!(blocks[0]["cycle"], 1, "{first_block}");
    assert_eq!(blocks[0]["subscriptionId"], sub["id"], "{first_block}");
    assert_eq!(
        blocks[0]["eventId"],
        json!(accepted_id(&first_block, 0)),
        "{first_block}"
    );
    assert_eq!(
        blocks[0]["invoiceId"], first_block["invoice"]["id"],
        "{first_block}"
    );
    assert_eq!(
        first_block["results"][0]["blockCharges"],
        first_block["blockCharges"]
    );
    let s = summary_of(&app, &tenant, "tokens", None).await;
    assert_summary(
        &s,
        (10_000_000, 3),
        "8M-16M",
        (40_000, 1, 10_000, 50_000),
        "at 10M",
    );

    // 18M: the second block; no operation type is "default".
    let second_block = record_ok(&app, &owner, vec![usage_event("tokens", 8_000_000, "t-4")]).await;
    assert_eq!(
        second_block["blockCharges"][0]["blockIndex"], 2,
        "{second_block}"
    );
    assert_eq!(
        second_block["blockCharges"][0]["tier"], "16M-24M",
        "{second_block}"
    );
    let full = summary_of(&app, &tenant, "tokens", None).await;
    assert_summary(
        &full,
        (18_000_000, 4),
        "16M-24M",
        (40_000, 2, 20_000, 60_000),
        "at 18M",
    );
    assert_eq!(
        full["byOperation"],
        json!([
            { "operationType": "chat", "quantity": "8000000", "events": 2 },
            { "operationType": "default", "quantity": "8000000", "events": 1 },
            { "operationType": "embed", "quantity": "2000000", "events": 1 },
        ]),
        "{full}"
    );

    // The owner reads its own without naming the tenant; the admin may name the subscription.
    let own = usage_summary(&app, &owner, json!({ "m": "tokens" })).await;
    assert_eq!(own.data()["usageSummary"], full);
    let by_sub = usage_summary(
        &app,
        &app.admin_token,
        json!({ "t": tenant, "m": "tokens", "s": sub["id"] }),
    )
    .await;
    assert_eq!(by_sub.data()["usageSummary"], full);

    // Act: the cycle closes.
    app.advance_to(CYCLE_2.0).await;

    // Assert: counters start again; the closed cycle is unchanged.
    let now = summary_of(&app, &tenant, "tokens", None).await;
    assert_eq!(now["cycle"], 2, "{now}");
    assert_period(&now, CYCLE_2, "cycle 2");
    assert_summary(&now, (0, 0), "0-8M", (40_000, 0, 0, 40_000), "cycle 2");
    assert_eq!(now["byOperation"], json!([]), "{now}");
    let closed = summary_of(&app, &tenant, "tokens", Some(1)).await;
    assert_eq!(closed, full, "the closed cycle changed");

    // A cycle that does not exist yet, and a metric that does not exist, are not found.
    let r = usage_summary(
        &app,
        &app.admin_token,
        json!({ "t": tenant, "m": "tokens", "c": 3 }),
    )
    .await;
    refused(&r, "NOT_FOUND", "cycle 3 while in cycle 2");
    let r = usage_summary(&app, &owner, json!({ "m": "no_such_metric" })).await;
    refused(&r, "NOT_FOUND", "unknown metric");

    // Another tenant's owner cannot read this one.
    let other = app.create_tenant("other").await;
    let other_owner = app.tenant_token(&other, Role::Owner);
    let r = usage_summary(&app, &other_owner, json!({ "t": tenant, "m": "tokens" })).await;
    refused(&r, "FORBIDDEN", "another tenant's summary");
}

#[tokio::test]
async fn during_a_trial_usage_is_counted_but_neither_the_fee_nor_blocks_are_charged() {
    // Arrange: a 14-day trial on the token plan.
    let app = spawn_app_at(START).await;
    token_plan(&app).await;
    let tenant = app.create_tenant("acme").await;
    let owner = app.tenant_token(&tenant, Role::Owner);
    let r = app
        .subscribe(&owner, json!({ "planCode": "tokens-400", "trialDays": 14 }))
        .await;
    assert_eq!(
        r.data()["createSubscription"]["subscription"]["status"],
        "TRIALING"
    );

    // Act: 10M tokens, a block's worth above the included units.
    let payload = record_ok(
        &app,
        &owner,
        vec![usage_event("tokens", 10_000_000, "trial-1")],
    )
    .await;

    // Assert
    assert_counts(&payload, 1, 0, 0);
    assert_eq!(payload["blockCharges"], json!([]), "{payload}");
    assert!(payload["invoice"].is_null(), "{payload}");
    let s = summary_of(&app, &tenant, "tokens", None).await;
    assert_eq!(s["cycle"], 0, "{s}");
    assert_period(
        &s,
        ("2026-03-01T00:00:00Z", "2026-03-15T00:00:00Z"),
        "the trial",
    );
    assert_eq!(big(&s["totalQuantity"]), 10_000_000, "{s}");
    assert_eq!(s["events"], 1, "{s}");
    assert_eq!(
        (
            minor(&s["fixedFeeCharged"]),
            s["blockChargesCount"].as_i64(),
            minor(&s["blockChargesTotal"]),
            minor(&s["totalCharged"])
        ),
        (0, Some(0), 0, 0),
        "nothing is charged in a trial: {s}"
    );
    assert!(app.invoices_of(&tenant).await.is_empty());

    // Act: the trial ends.
    app.advance_to("2026-03-15T00:00:00Z").await;

    // Assert: cycle 1 starts from zero with its fee; the trial's usage stays in cycle 0.
    let s = summary_of(&app, &tenant, "tokens", None).await;
    assert_eq!(s["cycle"], 1, "{s}");
    assert_period(
        &s,
        ("2026-03-15T00:00:00Z", "2026-04-15T00:00:00Z"),
        "cycle 1",
    );
    assert_summary(&s, (0, 0), "0-8M", (40_000, 0, 0, 40_000), "cycle 1");
    let trial = summary_of(&app, &tenant, "tokens", Some(0)).await;
    assert_eq!(big(&trial["totalQuantity"]), 10_000_000, "{trial}");
    assert_eq!(minor(&trial["totalCharged"]), 0, "{trial}");
}

// ---------------------------------------------------------------------------------------------
// 5. estimateCost
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn estimate_cost_prices_the_fee_and_the_started_blocks_of_the_token_plan() {
    // Arrange
    let app = spawn_app_at(START).await;
    token_plan(&app).await;
    let tenant = app.create_tenant("acme").await;
    let member = app.tenant_token(&tenant, Role::Member);

    // blocks = ceil((u − 8M) / 8M); tier k = {8M + (k−1)·8M}-{8M + k·8M}.
    let cases: [(i64, i64, i64, &str, i64); 10] = [
        (0, 0, 0, "0-8M", 40_000),
        (5_000_000, 0, 0, "0-8M", 40_000),
        (8_000_000, 0, 0, "0-8M", 40_000),
        (8_000_001, 10_000, 1, "8M-16M", 50_000),
        (10_000_000, 10_000, 1, "8M-16M", 50_000),
        (16_000_000, 10_000, 1, "8M-16M", 50_000),
        (18_000_000, 20_000, 2, "16M-24M", 60_000),
        (25_000_000, 30_000, 3, "24M-32M", 70_000),
        // 42M above / 8M = 5.25 → 6 blocks.
        (50_000_000, 60_000, 6, "48M-56M", 100_000),
        // 92M above / 8M = 11.5 → 12 blocks.
        (100_000_000, 120_000, 12, "96M-104M", 160_000),
    ];
    for (quantity, usage, blocks, tier, total) in cases {
        // Act
        let r = estimate(
            &app,
            Some(member.as_str()),
            "tokens-400",
            "tokens",
            json!(quantity.to_string()),
        )
        .await;

        // Assert
        let e = &r.data()["estimateCost"];
        assert_eq!(e["planCode"], "tokens-400", "{e}");
        assert_eq!(e["metricCode"], "tokens", "{e}");
        assert_eq!(big(&e["quantity"]), quantity, "{e}");
        assert_eq!(
            (
                minor(&e["fixedFee"]),
                minor(&e["usageCharge"]),
                big(&e["blocks"]),
                str_of(&e["tier"]),
                minor(&e["total"])
            ),
            (40_000, usage, blocks, tier, total),
            "estimate for {quantity} tokens: {e}"
        );
    }

    // Any signed-in role gets the same answer.
    let expected = estimate(
        &app,
        Some(member.as_str()),
        "tokens-400",
        "tokens",
        json!("10000000"),
    )
    .await
    .data()
    .clone();
    for token in [
        app.tenant_token(&tenant, Role::Owner),
        app.tenant_token(&tenant, Role::Billing),
        app.tenant_token(&tenant, Role::Service),
        app.admin_token.clone(),
    ] {
        let r = estimate(
            &app,
            Some(token.as_str()),
            "tokens-400",
            "tokens",
            json!(10_000_000),
        )
        .await;
        assert_eq!(r.data(), &expected);
    }

    // Refusals.
    let r = estimate(
        &app,
        Some(member.as_str()),
        "tokens-400",
        "tokens",
        json!("-1"),
    )
    .await;
    refused(&r, "VALIDATION", "a negative quantity");
    let r = estimate(
        &app,
        Some(member.as_str()),
        "no-such-plan",
        "tokens",
        json!("1"),
    )
    .await;
    refused(&r, "NOT_FOUND", "an unknown plan");
    let r = estimate(
        &app,
        Some(member.as_str()),
        "tokens-400",
        "no_such_metric",
        json!("1"),
    )
    .await;
    refused(&r, "NOT_FOUND", "an unknown metric");
    let r = estimate(&app, None, "tokens-400", "tokens", json!("10000000")).await;
    refused(&r, "UNAUTHENTICATED", "an anonymous estimate");
}

#[tokio::test]
async fn estimate_cost_of_a_unit_charge_rounds_once_to_the_nearest_minor_unit_halves_up() {
    // Arrange: 1000 a month, 100 calls included, 0.5 per call above.
    let app = spawn_app_at(START).await;
    app.create_metric("api_calls").await;
    create_plan_with(
        &app,
        json!({ "code": "per-call", "name": "Per call", "monthlyPriceMinor": "1000",
            "charges": [unit_charge("api_calls", 100, "0.5")] }),
    )
    .await;
    let tenant = app.create_tenant("acme").await;
    let member = app.tenant_token(&tenant, Role::Member);

    // usage = round((u − 100)⁺ × 0.5), halves away from zero.
    let cases: [(i64, i64); 6] = [
        (0, 0),
        (100, 0),
        (101, 1),     //  1 × 0.5 = 0.5 → 1
        (102, 1),     //  2 × 0.5 = 1
        (103, 2),     //  3 × 0.5 = 1.5 → 2
        (1_001, 451), // 901 × 0.5 = 450.5 → 451
    ];
    for (quantity, usage) in cases {
        // Act
        let r = estimate(
            &app,
            Some(member.as_str()),
            "per-call",
            "api_calls",
            json!(quantity.to_string()),
        )
        .await;

        // Assert
        let e = &r.data()["estimateCost"];
        assert_eq!(
            (
                minor(&e["fixedFee"]),
                minor(&e["usageCharge"]),
                minor(&e["total"])
            ),
            (1_000, usage, 1_000 + usage),
            "estimate for {quantity} calls: {e}"
        );
    }
}

#[tokio::test]
async fn block_tiers_start_at_the_included_units_and_are_written_in_k_and_m() {
    // Arrange: 4M included with 8M blocks; 500K included with 500K blocks.
    let app = spawn_app_at(START).await;
    app.create_metric("tokens").await;
    create_plan_with(
        &app,
        json!({ "code": "tokens-4m", "name": "Tokens 4M", "monthlyPriceMinor": "40000",
            "charges": [block_charge("tokens", "IMMEDIATELY", 4_000_000, 8_000_000, 10_000)] }),
    )
    .await;
    create_plan_with(
        &app,
        json!({ "code": "tokens-500k", "name": "Tokens 500K", "monthlyPriceMinor": "1000",
            "charges": [block_charge("tokens", "IMMEDIATELY", 500_000, 500_000, 100)] }),
    )
    .await;
    let tenant = app.create_tenant("acme").await;
    let member = app.tenant_token(&tenant, Role::Member);

    let cases: [(&str, i64, i64, &str, i64); 6] = [
        ("tokens-4m", 4_000_000, 0, "0-4M", 40_000),
        ("tokens-4m", 5_000_000, 1, "4M-12M", 50_000),
        ("tokens-4m", 12_000_000, 1, "4M-12M", 50_000),
        ("tokens-4m", 12_000_001, 2, "12M-20M", 60_000),
        ("tokens-500k", 700_000, 1, "500K-1M", 1_100),
        ("tokens-500k", 1_200_000, 2, "1M-1500K", 1_200),
    ];
    for (plan, quantity, blocks, tier, total) in cases {
        // Act
        let r = estimate(
            &app,
            Some(member.as_str()),
            plan,
            "tokens",
            json!(quantity.to_string()),
        )
        .await;

        // Assert
        let e = &r.data()["estimateCost"];
        assert_eq!(
            (big(&e["blocks"]), str_of(&e["tier"]), minor(&e["total"])),
            (blocks, tier, total),
            "{plan} at {quantity}: {e}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Arrears (PERIOD_END charges)
// ---------------------------------------------------------------------------------------------

/// Metrics api_calls and tokens; plan `metered`: 2900 a month, api calls at 0.05 each above
/// 1000, and 10000 per started 8M-token block above 8M, both charged at the period end.
async fn metered_plan(app: &TestApp) {
    app.create_metric("api_calls").await;
    app.create_metric("tokens").await;
    create_plan_with(
        app,
        json!({ "code": "metered", "name": "Metered", "monthlyPriceMinor": "2900",
            "charges": [
                unit_charge("api_calls", 1_000, "0.05"),
                block_charge("tokens", "PERIOD_END", 8_000_000, 8_000_000, 10_000),
            ] }),
    )
    .await;
}

#[tokio::test]
async fn period_end_usage_is_invoiced_on_the_next_renewal_and_on_the_closing_invoice() {
    // Arrange
    let app = spawn_app_at(START).await;
    metered_plan(&app).await;
    let Subscribed {
        tenant,
        owner,
        subscription: sub,
        ..
    } = app.subscribed("acme", "metered").await;
    let created = app.invoices_of(&tenant).await;
    assert_eq!(created.len(), 1);
    pay(&app, &id_of(&created[0])).await;

    // Act: usage during cycle 1, reported by the admin naming the tenant.
    app.advance_to("2026-03-10T00:00:00Z").await;
    let r = app
        .record_usage(
            &app.admin_token,
            Some(tenant.as_str()),
            vec![
                usage_event("api_calls", 5_000, "c1-calls-1"),
                usage_event("api_calls", 6_010, "c1-calls-2"),
                usage_event("tokens", 12_000_000, "c1-tokens-1"),
                usage_event("tokens", 8_000_000, "c1-tokens-2"),
            ],
        )
        .await;
    let payload = r.data()["recordUsage"].clone();

    // Assert: nothing is charged now.
    assert_counts(&payload, 4, 0, 0);
    assert_eq!(payload["blockCharges"], json!([]), "{payload}");
    assert!(payload["invoice"].is_null(), "{payload}");
    assert_eq!(app.invoices_of(&tenant).await.len(), 1);
    let calls = summary_of(&app, &tenant, "api_calls", None).await;
    assert_eq!(big(&calls["totalQuantity"]), 11_010, "{calls}");
    assert_eq!(big(&calls["includedUnits"]), 1_000, "{calls}");
    assert_eq!(
        calls["currentTier"], "",
        "a unit charge has no tier: {calls}"
    );
    assert_eq!(minor(&calls["totalCharged"]), 2_900, "{calls}");
    let tokens = summary_of(&app, &tenant, "tokens", None).await;
    assert_summary(
        &tokens,
        (20_000_000, 2),
        "16M-24M",
        (2_900, 0, 0, 2_900),
        "period-end blocks are not charged at once",
    );

    // Act: the renewal.
    let report = app.advance_to(CYCLE_2.0).await;

    // Assert: one invoice for cycle 2 with its fee in advance and cycle 1's usage in arrears.
    assert_eq!(report["renewals"], 1, "{report}");
    assert_eq!(report["invoicesIssued"], 1, "{report}");
    let invoices = app.invoices_of(&tenant).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    let renewal = &invoices[1];
    assert_eq!(renewal["billingReason"], "SUBSCRIPTION_CYCLE", "{renewal}");
    assert_eq!(renewal["cycle"], 2, "{renewal}");
    assert_eq!(renewal["subscriptionId"], sub["id"], "{renewal}");
    assert_eq!(renewal["status"], "OPEN", "{renewal}");
    assert_period(renewal, CYCLE_2, "the renewal invoice");
    let fees = lines_of(renewal, "fee");
    assert_eq!(fees.len(), 1, "{renewal}");
    assert_eq!(minor(&fees[0]["amount"]), 2_900, "{renewal}");
    assert_period(fees[0], CYCLE_2, "the fee line");
    let usage = lines_of(renewal, "usage");
    assert_eq!(usage.len(), 2, "{renewal}");
    for line in &usage {
        assert_period(line, CYCLE_1, "a usage line is for the closed cycle");
    }
    // api calls: (11010 − 1000) × 0.05 = 500.5 → 501 (a half, away from zero).
    // tokens: ceil((20M − 8M) / 8M) = 2 blocks × 10000 = 20000.
    assert_eq!(usage_amounts(renewal), [501, 20_000], "{renewal}");
    // 2900 + 501 + 20000 = 23401.
    assert_sums_to(renewal, 23_401, "the renewal invoice");

    // Act: usage in cycle 2, then a cancellation at the period end.
    pay(&app, &id_of(renewal)).await;
    app.advance_to("2026-04-20T00:00:00Z").await;
    record_ok(
        &app,
        &owner,
        vec![
            usage_event("api_calls", 1_229, "c2-calls"),
            usage_event("tokens", 8_000_001, "c2-tokens"),
        ],
    )
    .await;
    let canceled = cancel(&app, &owner, true).await;
    assert!(canceled["invoice"].is_null(), "{canceled}");
    assert_eq!(app.invoices_of(&tenant).await.len(), 2);
    let report = app.advance_to(CYCLE_2.1).await;

    // Assert: a closing invoice with only the usage of cycle 2.
    assert_eq!(report["cancellations"], 1, "{report}");
    assert_eq!(report["invoicesIssued"], 1, "{report}");
    let ended = app.subscription_of(&tenant).await;
    assert_eq!(ended["status"], "CANCELED", "{ended}");
    assert_eq!(at(&ended["endedAt"]), ts(CYCLE_2.1), "{ended}");
    let invoices = app.invoices_of(&tenant).await;
    assert_eq!(invoices.len(), 3, "{invoices:#?}");
    let closing = &invoices[2];
    assert_eq!(closing["billingReason"], "SUBSCRIPTION_CLOSE", "{closing}");
    assert_eq!(closing["subscriptionId"], sub["id"], "{closing}");
    assert_eq!(closing["status"], "OPEN", "{closing}");
    assert!(
        lines_of(closing, "fee").is_empty(),
        "no fee after the end: {closing}"
    );
    let usage = lines_of(closing, "usage");
    assert_eq!(usage.len(), 2, "{closing}");
    for line in &usage {
        assert_period(line, CYCLE_2, "a closing usage line");
    }
    // api calls: (1229 − 1000) × 0.05 = 11.45 → 11.
    // tokens: ceil((8000001 − 8M) / 8M) = 1 block = 10000.
    assert_eq!(usage_amounts(closing), [11, 10_000], "{closing}");
    assert_sums_to(closing, 10_011, "the closing invoice");

    // Nothing more afterwards.
    app.advance_days(40).await;
    assert_eq!(app.invoices_of(&tenant).await.len(), 3);
}

#[tokio::test]
async fn a_subscription_ending_without_usage_gets_no_closing_invoice() {
    // Arrange: one subscription canceled at the period end, one canceled now; no usage.
    let app = spawn_app_at(START).await;
    metered_plan(&app).await;
    let Subscribed {
        tenant: later,
        owner: later_owner,
        ..
    } = app.subscribed("later", "metered").await;
    let Subscribed {
        tenant: now,
        owner: now_owner,
        ..
    } = app.subscribed("now", "metered").await;

    // Act
    let at_end = cancel(&app, &later_owner, true).await;
    app.advance_to("2026-03-10T00:00:00Z").await;
    let immediately = cancel(&app, &now_owner, false).await;
    app.advance_to(CYCLE_1.1).await;

    // Assert: both ended, each with its first invoice only.
    assert!(at_end["invoice"].is_null(), "{at_end}");
    assert!(immediately["invoice"].is_null(), "{immediately}");
    assert_eq!(immediately["subscription"]["status"], "CANCELED");
    for tenant in [&later, &now] {
        assert_eq!(app.subscription_of(tenant).await["status"], "CANCELED");
        let invoices = app.invoices_of(tenant).await;
        assert_eq!(invoices.len(), 1, "{invoices:#?}");
        assert_eq!(invoices[0]["billingReason"], "SUBSCRIPTION_CREATE");
    }
}

#[tokio::test]
async fn canceling_now_with_usage_issues_the_closing_invoice_at_once() {
    // Arrange
    let app = spawn_app_at(START).await;
    metered_plan(&app).await;
    let Subscribed {
        tenant,
        owner,
        subscription: sub,
        ..
    } = app.subscribed("acme", "metered").await;
    app.advance_to("2026-03-10T12:00:00Z").await;
    record_ok(
        &app,
        &owner,
        vec![
            usage_event("api_calls", 3_000, "calls"),
            usage_event("tokens", 9_000_000, "tokens"),
        ],
    )
    .await;

    // Act
    let canceled = cancel(&app, &owner, false).await;

    // Assert
    assert_eq!(canceled["subscription"]["status"], "CANCELED", "{canceled}");
    let closing = &canceled["invoice"];
    assert_eq!(closing["billingReason"], "SUBSCRIPTION_CLOSE", "{canceled}");
    assert_eq!(closing["subscriptionId"], sub["id"], "{closing}");
    assert_eq!(closing["status"], "OPEN", "{closing}");
    assert_eq!(
        at(&closing["issuedAt"]),
        ts("2026-03-10T12:00:00Z"),
        "{closing}"
    );
    assert_eq!(
        at(&closing["dueAt"]),
        ts("2026-03-10T12:00:00Z") + Duration::days(7),
        "{closing}"
    );
    assert!(lines_of(closing, "fee").is_empty(), "{closing}");
    for line in lines_of(closing, "usage") {
        assert_eq!(at(&line["periodStart"]), ts(CYCLE_1.0), "{line}");
        let end = at(&line["periodEnd"]);
        assert!(
            end == ts("2026-03-10T12:00:00Z") || end == ts(CYCLE_1.1),
            "a usage line ends neither now nor at the period end: {line}"
        );
    }
    // api calls: (3000 − 1000) × 0.05 = 100; tokens: ceil(1M / 8M) = 1 block = 10000.
    assert_eq!(usage_amounts(closing), [100, 10_000], "{closing}");
    assert_sums_to(closing, 10_100, "the immediate closing invoice");
    let invoices = app.invoices_of(&tenant).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    assert_eq!(&invoices[1], closing);

    // Nothing more at the old period end.
    app.advance_to(CYCLE_1.1).await;
    assert_eq!(app.invoices_of(&tenant).await.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// 7. Past due for unpaid block charges
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unpaid_block_charge_invoice_makes_the_subscription_past_due_until_it_is_paid() {
    // Arrange: a forever 20% coupon, which does not apply to usage blocks; the fee is paid.
    let app = spawn_app_at(START).await;
    token_plan(&app).await;
    app.create_coupon(
        json!({ "code": "SAVE20", "name": "20%", "percentOff": 20, "duration": "FOREVER" }),
    )
    .await;
    let tenant = app.create_tenant("acme").await;
    let owner = app.tenant_token(&tenant, Role::Owner);
    let r = app
        .subscribe(
            &owner,
            json!({ "planCode": "tokens-400", "couponCode": "SAVE20" }),
        )
        .await;
    let created = &r.data()["createSubscription"];
    assert_eq!(money(&created["invoice"], "total"), 32_000, "{created}");
    pay(&app, &id_of(&created["invoice"])).await;
    app.advance_to("2026-03-05T00:00:00Z").await;

    // Act: 10M tokens enter the first block.
    let payload = record_ok(
        &app,
        &owner,
        vec![usage_event("tokens", 10_000_000, "big-run")],
    )
    .await;

    // Assert: one USAGE_BLOCKS invoice, full price, due in 7 days.
    let inv = payload["invoice"].clone();
    assert_eq!(inv["billingReason"], "USAGE_BLOCKS", "{inv}");
    assert_eq!(inv["status"], "OPEN", "{inv}");
    assert_eq!(inv["number"], "2026-000002", "{inv}");
    assert_eq!(inv["cycle"], 1, "{inv}");
    assert_eq!(
        inv["subscriptionId"], created["subscription"]["id"],
        "{inv}"
    );
    assert_eq!(at(&inv["issuedAt"]), ts("2026-03-05T00:00:00Z"), "{inv}");
    assert_eq!(at(&inv["dueAt"]), ts("2026-03-12T00:00:00Z"), "{inv}");
    assert_arithmetic(&inv);
    assert_eq!(
        (
            money(&inv, "subtotal"),
            money(&inv, "discount"),
            money(&inv, "total")
        ),
        (10_000, 0, 10_000),
        "no coupon on usage blocks: {inv}"
    );
    let lines = inv["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 1, "{inv}");
    assert_eq!(lines[0]["kind"], "usage", "{inv}");
    assert_eq!(lines[0]["quantity"], "1", "{inv}");
    assert_eq!(minor(&lines[0]["unitAmount"]), 10_000, "{inv}");
    assert!(
        str_of(&lines[0]["description"]).contains("8M-16M"),
        "the line names its tier: {inv}"
    );
    assert_eq!(
        payload["blockCharges"][0]["invoiceId"], inv["id"],
        "{payload}"
    );
    let stored = app.invoices_of(&tenant).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1], inv);

    // Act: unpaid until just before due + 3 days.
    let early = app.advance_to("2026-03-14T23:00:00Z").await;

    // Assert
    assert_eq!(early["pastDue"], 0, "{early}");
    assert_eq!(app.subscription_of(&tenant).await["status"], "ACTIVE");
    assert!(
        app.notifications_of_kind(&tenant, "invoice_overdue")
            .await
            .is_empty()
    );

    // Act: past due + 3 days.
    let report = app.advance_to("2026-03-15T01:00:00Z").await;

    // Assert: PAST_DUE, one notice naming the block invoice.
    assert_eq!(report["pastDue"], 1, "{report}");
    assert_eq!(app.subscription_of(&tenant).await["status"], "PAST_DUE");
    let overdue = app.notifications_of_kind(&tenant, "invoice_overdue").await;
    assert_eq!(overdue.len(), 1, "{overdue:#?}");
    assert_eq!(overdue[0]["reference"], inv["id"], "{overdue:#?}");
    let again = app.run_jobs().await;
    assert_eq!(again["pastDue"], 0, "{again}");
    assert_eq!(again["notifications"], 0, "{again}");
    assert_eq!(
        app.notifications_of_kind(&tenant, "invoice_overdue").await,
        overdue
    );

    // Act: the block invoice is paid.
    pay(&app, str_of(&inv["id"])).await;

    // Assert: back to ACTIVE, and it stays so.
    assert_eq!(app.subscription_of(&tenant).await["status"], "ACTIVE");
    app.run_jobs().await;
    assert_eq!(app.subscription_of(&tenant).await["status"], "ACTIVE");
    assert_eq!(
        app.notifications_of_kind(&tenant, "invoice_overdue").await,
        overdue
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Security and validation of the usage reads
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn usage_reads_refuse_malformed_input_and_other_tenants() {
    // Arrange: tenants A and B on the token plan; B has used 10M tokens.
    let app = spawn_app_at(START).await;
    token_plan(&app).await;
    let Subscribed {
        tenant: a,
        owner: a_owner,
        ..
    } = app.subscribed("tenant-a", "tokens-400").await;
    let Subscribed {
        tenant: b,
        owner: b_owner,
        subscription: b_sub,
        ..
    } = app.subscribed("tenant-b", "tokens-400").await;
    record_ok(
        &app,
        &b_owner,
        vec![usage_event("tokens", 10_000_000, "b-usage")],
    )
    .await;
    let b_before = summary_of(&app, &b, "tokens", None).await;
    assert_eq!(big(&b_before["totalQuantity"]), 10_000_000);
    let a_member = app.tenant_token(&a, Role::Member);

    // Malformed ids are validation errors, for the admin and for a tenant.
    let hex = a.strip_prefix("ten_").expect("ten_ prefix");
    for bad in [
        "nope".to_owned(),
        format!("usr_{hex}"),
        format!("ten_{}", &hex[..31]),
        "ten_' OR '1'='1' --".to_owned(),
    ] {
        for token in [&app.admin_token, &a_member] {
            let r = usage_summary(&app, token, json!({ "t": bad, "m": "tokens" })).await;
            let err = r.expect_code("VALIDATION");
            assert_eq!(err["extensions"]["field"], "tenantId", "{bad}: {}", r.body);
            refused(
                &r,
                "VALIDATION",
                &format!("usageSummary(tenantId: {bad:?})"),
            );
        }
        let r = usage_summary(&app, &a_member, json!({ "s": bad, "m": "tokens" })).await;
        let err = r.expect_code("VALIDATION");
        assert_eq!(
            err["extensions"]["field"], "subscriptionId",
            "{bad}: {}",
            r.body
        );
    }

    // A quantity that is not a number.
    for q in [json!("abc"), json!("12abc"), json!("1.5"), json!(true)] {
        let r = estimate(
            &app,
            Some(a_member.as_str()),
            "tokens-400",
            "tokens",
            q.clone(),
        )
        .await;
        refused(&r, "VALIDATION", &format!("estimateCost(quantity: {q})"));
    }

    // No credential of tenant A reads tenant B's usage.
    for role in [Role::Owner, Role::Billing, Role::Member, Role::Service] {
        let token = app.tenant_token(&a, role);
        let r = usage_summary(&app, &token, json!({ "t": b, "m": "tokens" })).await;
        refused(&r, "FORBIDDEN", &format!("{role:?} of A reading B"));
        let r = usage_summary(&app, &token, json!({ "s": b_sub["id"], "m": "tokens" })).await;
        assert!(
            matches!(r.code(), Some("FORBIDDEN" | "NOT_FOUND")),
            "{role:?} of A naming B's subscription: {}",
            r.body
        );
        assert!(r.body["data"].is_null(), "{role:?}: {}", r.body);
        assert!(
            !r.body.to_string().contains("10000000"),
            "B's usage leaked: {}",
            r.body
        );
    }

    // Nor reports usage for it.
    let r = app
        .record_usage(
            &a_member,
            Some(b.as_str()),
            vec![usage_event("tokens", 1_000, "a-for-b")],
        )
        .await;
    refused(&r, "FORBIDDEN", "A reporting usage for B");

    // Nobody signed in reads anything.
    let r = app
        .anonymous(
            &format!(
                "query($t: ID) {{ usageSummary(tenantId: $t, metricCode: \"tokens\") {{ {SUMMARY_FIELDS} }} }}"
            ),
            json!({ "t": b }),
        )
        .await;
    refused(&r, "UNAUTHENTICATED", "an anonymous usageSummary");

    // B's usage is as it was; A still sees only its own (nothing).
    assert_eq!(summary_of(&app, &b, "tokens", None).await, b_before);
    let own = usage_summary(&app, &a_owner, json!({ "m": "tokens" })).await;
    assert_eq!(big(&own.data()["usageSummary"]["totalQuantity"]), 0);
}
