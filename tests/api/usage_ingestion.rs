//! Usage metering: recordUsage, immediate block charges and their invoices, usageSummary.
//! The seed table (a 40000 fee including 8M tokens, 10000 per started 8M block) whether the
//! tokens arrive in one event, in many, or concurrently; idempotency; per-event and batch
//! rejections; who may report; periods and trials; aggregations; usage per operation; and 50
//! clients reporting overlapping batches at once. The clock stands still at `START` (cycle 1 is
//! [2026-03-01, 2026-04-01)) and moves only through `advanceClock`, or through the app's clock
//! itself where a test needs the period to end before the jobs run.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use billing::domain::{Role, TenantId};
use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;
use serde_json::{Value, json};

use crate::billing_checks::*;
use crate::helpers::*;

const START: &str = "2026-03-01T00:00:00Z";
const M: i64 = 1_000_000;
const FEE: i64 = 40_000;
const BLOCK_PRICE: i64 = 10_000;
const SEED_PLAN: &str = "tokens-400";

/// The seed table: (tokens in the period, total charged, block charges, current tier).
const SEED_TABLE: [(i64, i64, i64, &str); 6] = [
    (5 * M, 40_000, 0, "0-8M"),
    (10 * M, 50_000, 1, "8M-16M"),
    (18 * M, 60_000, 2, "16M-24M"),
    (25 * M, 70_000, 3, "24M-32M"),
    (50 * M, 100_000, 6, "48M-56M"),
    (100 * M, 160_000, 12, "96M-104M"),
];

// ---------------------------------------------------------------------------------------------
// Helpers local to these tests
// ---------------------------------------------------------------------------------------------

fn start() -> DateTime<Utc> {
    START.parse().expect("START is RFC 3339")
}

fn count(items: &[Value]) -> i64 {
    i64::try_from(items.len()).expect("a length fits in i64")
}

/// The list `field` of `v`.
fn list<'a>(v: &'a Value, field: &str) -> &'a [Value] {
    v[field]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no list {field} in {v}"))
}

/// A usage event of the `tokens` metric.
fn usage(key: &str, quantity: i64) -> Value {
    usage_event("tokens", quantity, key)
}

/// `event` with `field` set to `value`.
fn with(mut event: Value, field: &str, value: impl Into<Value>) -> Value {
    event[field] = value.into();
    event
}

/// Reports `events` for `tenant` as admin and returns the payload, asserting success.
async fn report(app: &TestApp, tenant: &str, events: &[Value]) -> Value {
    app.record_usage(&app.admin_token, Some(tenant), events)
        .await
        .data()["recordUsage"]
        .clone()
}

fn results(payload: &Value) -> &[Value] {
    list(payload, "results")
}

/// (accepted, duplicates, rejected) of a payload.
fn tally(payload: &Value) -> (i64, i64, i64) {
    (
        int_of(&payload["accepted"]),
        int_of(&payload["duplicates"]),
        int_of(&payload["rejected"]),
    )
}

fn block_indexes(charges: &[Value]) -> Vec<i64> {
    let mut indexes: Vec<i64> = charges.iter().map(|c| int_of(&c["blockIndex"])).collect();
    indexes.sort_unstable();
    indexes
}

fn ids<'a>(items: impl IntoIterator<Item = &'a Value>, field: &str) -> BTreeSet<String> {
    items
        .into_iter()
        .map(|v| str_of(&v[field]).to_owned())
        .collect()
}

/// The tier label of block `k` on the seed plan (8M included, 8M blocks).
fn seed_tier(k: i64) -> String {
    format!("{}M-{}M", 8 * k, 8 * (k + 1))
}

/// Asserts that every event of the call was accepted.
fn assert_all_accepted(payload: &Value, what: &str) {
    let n = count(results(payload));
    assert_eq!(tally(payload), (n, 0, 0), "{what}: {payload}");
    for (i, r) in results(payload).iter().enumerate() {
        assert_eq!(r["status"], "ACCEPTED", "{what}: event {i}: {r}");
        assert_eq!(r["index"], i, "{what}: {r}");
        assert!(
            str_of(&r["eventId"]).starts_with("use_"),
            "{what}: event id of {r}"
        );
    }
}

/// The block charges a recordUsage call created, after checking that they are exactly those its
/// accepted events caused, each naming its event, and that they come on one invoice of their
/// own with one line each (no invoice when there are none).
fn charges_of_call(payload: &Value, what: &str) -> Vec<Value> {
    let charges = list(payload, "blockCharges").to_vec();
    let mut caused = Vec::new();
    for r in results(payload)
        .iter()
        .filter(|r| r["status"] == "ACCEPTED")
    {
        for c in list(r, "blockCharges") {
            assert_eq!(
                c["eventId"], r["eventId"],
                "{what}: a charge listed under another event: {c}"
            );
            caused.push(c.clone());
        }
    }
    assert_eq!(
        ids(&caused, "id"),
        ids(&charges, "id"),
        "{what}: the call's block charges are those its accepted events caused: {payload}"
    );
    assert_eq!(caused.len(), charges.len(), "{what}: {payload}");
    let invoice = &payload["invoice"];
    if charges.is_empty() {
        assert!(
            invoice.is_null(),
            "{what}: an invoice without block charges: {payload}"
        );
    } else {
        assert_block_invoice(invoice, &charges, what);
    }
    charges
}

/// Asserts that `invoice` is the immediate usage-block invoice of exactly `charges`: OPEN,
/// numbered, due in 7 days, one usage line of the block price per charge mentioning its tier,
/// no discount.
fn assert_block_invoice(invoice: &Value, charges: &[Value], what: &str) {
    assert_eq!(
        invoice["billingReason"], "USAGE_BLOCKS",
        "{what}: {invoice}"
    );
    assert_eq!(invoice["status"], "OPEN", "{what}: {invoice}");
    assert!(
        invoice["number"].is_string(),
        "{what}: unnumbered: {invoice}"
    );
    assert_arithmetic(invoice);
    let block_total: i64 = charges.iter().map(|c| money(c, "amount")).sum();
    assert_eq!(
        (
            money(invoice, "subtotal"),
            money(invoice, "discount"),
            money(invoice, "total")
        ),
        (block_total, 0, block_total),
        "{what}: subtotal/discount/total of {invoice}"
    );
    assert_eq!(
        at(&invoice["dueAt"]) - at(&invoice["issuedAt"]),
        TimeDelta::days(7),
        "{what}: due date of {invoice}"
    );
    let lines = list(invoice, "lines");
    assert_eq!(
        lines.len(),
        charges.len(),
        "{what}: one line per block: {invoice}"
    );
    for line in lines {
        assert_eq!(line["kind"], "usage", "{what}: {line}");
        assert_eq!(line["quantity"], "1", "{what}: {line}");
        assert_eq!(
            money(line, "unitAmount"),
            money(line, "amount"),
            "{what}: {line}"
        );
    }
    for c in charges {
        assert_eq!(c["invoiceId"], invoice["id"], "{what}: {c}");
        let tier = str_of(&c["tier"]);
        assert!(
            lines
                .iter()
                .any(|l| str_of(&l["description"]).contains(tier)
                    && money(l, "amount") == money(c, "amount")),
            "{what}: no line of {} for the block in tier {tier}: {invoice}",
            money(c, "amount")
        );
    }
}

/// Asserts `charges` are the blocks 1..=n of the seed plan in `cycle`, each charged once.
fn assert_seed_blocks(charges: &[Value], n: i64, cycle: i64, what: &str) {
    assert_eq!(
        block_indexes(charges),
        (1..=n).collect::<Vec<_>>(),
        "{what}: block indexes of {charges:#?}"
    );
    assert_eq!(
        ids(charges, "id").len(),
        charges.len(),
        "{what}: a block charge listed twice: {charges:#?}"
    );
    for c in charges {
        assert!(str_of(&c["id"]).starts_with("blk_"), "{what}: {c}");
        assert!(str_of(&c["eventId"]).starts_with("use_"), "{what}: {c}");
        assert!(str_of(&c["invoiceId"]).starts_with("inv_"), "{what}: {c}");
        assert_eq!(c["metricCode"], "tokens", "{what}: {c}");
        assert_eq!(c["cycle"], cycle, "{what}: {c}");
        assert_eq!(money(c, "amount"), BLOCK_PRICE, "{what}: {c}");
        assert_eq!(
            c["tier"],
            seed_tier(int_of(&c["blockIndex"])),
            "{what}: {c}"
        );
    }
}

async fn usage_summary(
    app: &TestApp,
    token: &str,
    tenant: Option<&str>,
    metric: &str,
    cycle: Option<i64>,
) -> Gql {
    app.as_token(
        token,
        &format!(
            "query($t: ID, $m: String!, $c: Int) {{ usageSummary(tenantId: $t, metricCode: $m, cycle: $c) {{ {SUMMARY_FIELDS} }} }}"
        ),
        json!({ "t": tenant, "m": metric, "c": cycle }),
    )
    .await
}

/// The usage summary of `metric` for `tenant` read as admin (current cycle when `cycle` is None).
async fn summary_of(app: &TestApp, tenant: &str, metric: &str, cycle: Option<i64>) -> Value {
    usage_summary(app, &app.admin_token, Some(tenant), metric, cycle)
        .await
        .data()["usageSummary"]
        .clone()
}

/// The tokens summary of the tenant's current cycle.
async fn tokens_summary(app: &TestApp, tenant: &str) -> Value {
    summary_of(app, tenant, "tokens", None).await
}

/// (totalQuantity, events, blockChargesCount, blockChargesTotal, fixedFeeCharged, totalCharged).
fn summary_numbers(s: &Value) -> (i64, i64, i64, i64, i64, i64) {
    (
        big(&s["totalQuantity"]),
        int_of(&s["events"]),
        int_of(&s["blockChargesCount"]),
        money(s, "blockChargesTotal"),
        money(s, "fixedFeeCharged"),
        money(s, "totalCharged"),
    )
}

async fn create_metric_with(app: &TestApp, code: &str, aggregation: &str) {
    app.as_admin(
        "mutation($i: CreateBillableMetricInput!) { createBillableMetric(input: $i) { billableMetric { id } } }",
        json!({ "i": { "code": code, "name": code, "unit": "unit", "aggregation": aggregation } }),
    )
    .await
    .data();
}

/// Creates a plan with a 40000 monthly fee and `charges`.
async fn plan_with_charges(app: &TestApp, code: &str, trial_days: i32, charges: Vec<Value>) {
    app.as_admin(
        "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
        json!({ "i": { "code": code, "name": format!("Plan {code}"),
            "monthlyPriceMinor": FEE.to_string(), "trialDays": trial_days, "charges": charges } }),
    )
    .await
    .data();
}

/// A plan with the seed's tokens charge: `included` tokens, then 10000 per started 8M block.
async fn token_plan(app: &TestApp, code: &str, included: i64, trial_days: i32) {
    plan_with_charges(
        app,
        code,
        trial_days,
        vec![block_charge(
            "tokens",
            "IMMEDIATELY",
            included,
            8 * M,
            BLOCK_PRICE,
        )],
    )
    .await;
}

/// An app at `START` with the `tokens` metric and the seed plan.
async fn seed_app() -> TestApp {
    let app = spawn_app_at(START).await;
    app.create_metric("tokens").await;
    token_plan(&app, SEED_PLAN, 8 * M, 0).await;
    app
}

fn sum_of_totals(invoices: &[Value]) -> i64 {
    invoices.iter().map(|i| money(i, "total")).sum()
}

/// Asserts a seed-plan tenant's cycle 1 against a row of the seed table: the usage summary, the
/// block charges (`charges`, gathered from the recordUsage payloads), and the invoices, which
/// are the fee invoice plus usage-block invoices carrying exactly those charges and summing to
/// the total charged.
async fn assert_seed_period(
    app: &TestApp,
    tenant: &str,
    (tokens, total, blocks, tier): (i64, i64, i64, &str),
    charges: &[Value],
    what: &str,
) {
    let s = tokens_summary(app, tenant).await;
    let (quantity, _, n, blocks_total, fee, charged) = summary_numbers(&s);
    assert_eq!(
        (quantity, n, blocks_total, fee, charged),
        (tokens, blocks, blocks * BLOCK_PRICE, FEE, total),
        "{what}: usage summary {s}"
    );
    assert_eq!(s["cycle"], 1, "{what}: {s}");
    assert_eq!(s["metricCode"], "tokens", "{what}: {s}");
    assert_eq!(s["includedUnits"], "8000000", "{what}: {s}");
    assert_eq!(s["currentTier"], tier, "{what}: {s}");
    assert_seed_blocks(charges, blocks, 1, what);

    let invoices = app.invoices_of(tenant).await;
    let (fee_invoice, usage_invoices) = invoices
        .split_first()
        .unwrap_or_else(|| panic!("{what}: no invoices"));
    assert_eq!(
        fee_invoice["billingReason"], "SUBSCRIPTION_CREATE",
        "{what}: {fee_invoice}"
    );
    assert_eq!(money(fee_invoice, "total"), FEE, "{what}: {fee_invoice}");
    for inv in usage_invoices {
        let on_it: Vec<Value> = charges
            .iter()
            .filter(|c| c["invoiceId"] == inv["id"])
            .cloned()
            .collect();
        assert!(
            !on_it.is_empty(),
            "{what}: a usage invoice without block charges: {inv}"
        );
        assert_block_invoice(inv, &on_it, what);
    }
    assert_eq!(
        ids(usage_invoices, "id"),
        ids(charges, "invoiceId"),
        "{what}: every block charge is on a usage invoice, and every usage invoice is of block charges"
    );
    assert_eq!(
        sum_of_totals(&invoices),
        total,
        "{what}: the invoices sum to the total charged: {invoices:#?}"
    );
}

/// Splits `total` into uneven pieces: 1M, 2.5M, 0.7M, 3.3M, 1,234,567, and again; the last one
/// takes what is left.
fn uneven_pieces(total: i64) -> Vec<i64> {
    const SIZES: [i64; 5] = [1_000_000, 2_500_000, 700_000, 3_300_000, 1_234_567];
    let mut pieces = Vec::new();
    let mut left = total;
    for size in SIZES.iter().cycle() {
        if left == 0 {
            break;
        }
        let piece = (*size).min(left);
        pieces.push(piece);
        left -= piece;
    }
    pieces
}

// ---------------------------------------------------------------------------------------------
// The seed table: one event, many events, concurrent events
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_seed_table_holds_when_the_tokens_arrive_in_one_event() {
    let app = seed_app().await;
    for row in SEED_TABLE {
        // Arrange
        let (tokens, _, blocks, _) = row;
        let what = format!("{}M tokens in one event", tokens / M);
        let tenant = app
            .subscribed(&format!("one-{}m", tokens / M), SEED_PLAN)
            .await
            .tenant;

        // Act
        let p = report(&app, &tenant, &[usage("all-at-once", tokens)]).await;

        // Assert
        assert_all_accepted(&p, &what);
        let charges = charges_of_call(&p, &what);
        assert_eq!(count(&charges), blocks, "{what}: {p}");
        assert_seed_period(&app, &tenant, row, &charges, &what).await;
    }
}

#[tokio::test]
async fn the_seed_table_holds_when_the_tokens_arrive_in_many_small_events() {
    let app = seed_app().await;
    for row in SEED_TABLE {
        let (tokens, ..) = row;

        // Exact millions, ten events a call.
        let what = format!("{}M tokens in events of 1M", tokens / M);
        let tenant = app
            .subscribed(&format!("millions-{}m", tokens / M), SEED_PLAN)
            .await
            .tenant;
        let events: Vec<Value> = (0..tokens / M)
            .map(|i| usage(&format!("chunk-{i}"), M))
            .collect();
        let mut charges = Vec::new();
        for batch in events.chunks(10) {
            let p = report(&app, &tenant, batch).await;
            assert_all_accepted(&p, &what);
            charges.extend(charges_of_call(&p, &what));
        }
        assert_seed_period(&app, &tenant, row, &charges, &what).await;

        // Uneven pieces in calls of 1, 3, 7 and 2 events. The keys are those the tenant above
        // used: idempotency keys belong to their tenant.
        let what = format!("{}M tokens in uneven events", tokens / M);
        let tenant = app
            .subscribed(&format!("uneven-{}m", tokens / M), SEED_PLAN)
            .await
            .tenant;
        let events: Vec<Value> = uneven_pieces(tokens)
            .into_iter()
            .enumerate()
            .map(|(i, q)| usage(&format!("chunk-{i}"), q))
            .collect();
        let mut charges = Vec::new();
        let mut rest = &events[..];
        for size in [1, 3, 7, 2].into_iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (batch, tail) = rest.split_at(size.min(rest.len()));
            let p = report(&app, &tenant, batch).await;
            assert_all_accepted(&p, &what);
            charges.extend(charges_of_call(&p, &what));
            rest = tail;
        }
        assert_seed_period(&app, &tenant, row, &charges, &what).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_table_holds_when_twenty_reports_arrive_at_once() {
    let app = seed_app().await;
    for row in SEED_TABLE {
        // Arrange
        let (tokens, ..) = row;
        let what = format!(
            "{}M tokens in 20 concurrent calls on {}",
            tokens / M,
            backend()
        );
        let tenant = app
            .subscribed(&format!("parallel-{}m", tokens / M), SEED_PLAN)
            .await
            .tenant;
        let events: Vec<Value> = (0..20)
            .map(|i| usage(&format!("part-{i}"), tokens / 20))
            .collect();

        // Act
        let responses = join_all(events.iter().map(|e| {
            app.record_usage(
                &app.admin_token,
                Some(tenant.as_str()),
                std::slice::from_ref(e),
            )
        }))
        .await;

        // Assert
        let mut charges = Vec::new();
        for r in &responses {
            let p = &r.data()["recordUsage"];
            assert_all_accepted(p, &what);
            charges.extend(charges_of_call(p, &what));
        }
        assert_seed_period(&app, &tenant, row, &charges, &what).await;
    }
}

#[tokio::test]
async fn with_four_million_included_five_million_tokens_cost_one_block_in_tier_4m_12m() {
    let app = spawn_app_at(START).await;
    app.create_metric("tokens").await;
    token_plan(&app, "tokens-4m", 4 * M, 0).await;
    let one_event = vec![usage("five-million", 5 * M)];
    let five_events: Vec<Value> = (0..5).map(|i| usage(&format!("m-{i}"), M)).collect();
    for (slug, events) in [("one-event", one_event), ("five-events", five_events)] {
        // Arrange
        let tenant = app.subscribed(slug, "tokens-4m").await.tenant;

        // Act
        let p = report(&app, &tenant, &events).await;

        // Assert
        assert_all_accepted(&p, slug);
        let charges = charges_of_call(&p, slug);
        assert_eq!(block_indexes(&charges), [1], "{slug}: {p}");
        assert_eq!(charges[0]["tier"], "4M-12M", "{slug}: {p}");
        assert_eq!(money(&charges[0], "amount"), BLOCK_PRICE, "{slug}");
        // The block is caused by the event that takes the usage past 4M: the last one.
        let last = results(&p).last().expect("a result");
        assert_eq!(count(list(last, "blockCharges")), 1, "{slug}: {p}");
        let s = tokens_summary(&app, &tenant).await;
        assert_eq!(
            summary_numbers(&s),
            (5 * M, count(&events), 1, BLOCK_PRICE, FEE, 50_000),
            "{slug}: {s}"
        );
        assert_eq!(s["includedUnits"], "4000000", "{slug}: {s}");
        assert_eq!(s["currentTier"], "4M-12M", "{slug}: {s}");
        assert_eq!(
            sum_of_totals(&app.invoices_of(&tenant).await),
            50_000,
            "{slug}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Block charges and their invoices
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn one_event_crossing_three_blocks_charges_each_block_once_on_one_invoice() {
    // Arrange
    let app = seed_app().await;
    let acme = app.subscribed("acme", SEED_PLAN).await;
    let (tenant, sub) = (acme.tenant, id_of(&acme.subscription));

    // Act: 30M tokens, 22M above the included 8M: three started blocks.
    let p = report(&app, &tenant, &[usage("nightly-batch", 30 * M)]).await;

    // Assert
    assert_all_accepted(&p, "30M");
    let event_id = str_of(&results(&p)[0]["eventId"]).to_owned();
    let charges = charges_of_call(&p, "30M");
    assert_seed_blocks(&charges, 3, 1, "30M");
    let mut tiers: Vec<(i64, &str)> = charges
        .iter()
        .map(|c| (int_of(&c["blockIndex"]), str_of(&c["tier"])))
        .collect();
    tiers.sort_unstable();
    assert_eq!(tiers, [(1, "8M-16M"), (2, "16M-24M"), (3, "24M-32M")]);
    let invoice = &p["invoice"];
    for c in &charges {
        assert_eq!(c["subscriptionId"], sub, "{c}");
        assert_eq!(c["eventId"], event_id, "{c}");
        assert_eq!(c["invoiceId"], invoice["id"], "{c}");
        assert_eq!(at(&c["createdAt"]), start(), "{c}");
    }
    assert_eq!(invoice["tenantId"], tenant, "{invoice}");
    assert_eq!(invoice["subscriptionId"], sub, "{invoice}");
    assert_eq!(invoice["number"], "2026-000002", "{invoice}");
    assert_eq!(at(&invoice["issuedAt"]), start(), "{invoice}");
    assert_eq!(money(invoice, "total"), 30_000, "{invoice}");
    let invoices = app.invoices_of(&tenant).await;
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    assert_eq!(
        &invoices[1], invoice,
        "the listed invoice is the one the call returned"
    );

    // Act: 10M more takes the usage to 40M: block 4 only, on an invoice of its own.
    let next = report(&app, &tenant, &[usage("next-batch", 10 * M)]).await;

    // Assert
    assert_all_accepted(&next, "40M");
    let more = charges_of_call(&next, "40M");
    assert_eq!(block_indexes(&more), [4], "{next}");
    assert_eq!(more[0]["tier"], "32M-40M", "{next}");
    assert_eq!(next["invoice"]["number"], "2026-000003", "{next}");
    assert_eq!(money(&next["invoice"], "total"), BLOCK_PRICE, "{next}");
    let all: Vec<Value> = charges.into_iter().chain(more).collect();
    assert_seed_period(&app, &tenant, (40 * M, 80_000, 4, "32M-40M"), &all, "40M").await;
}

#[tokio::test]
async fn a_block_starts_one_token_past_a_boundary_and_not_at_it() {
    // Arrange
    let app = seed_app().await;
    let tenant = app.subscribed("acme", SEED_PLAN).await.tenant;
    // (tokens added, blocks that event charges, usage after it, current tier after it)
    let steps = [
        (8 * M, vec![], 8 * M, "0-8M"),
        (1, vec![1], 8 * M + 1, "8M-16M"),
        (8 * M - 1, vec![], 16 * M, "8M-16M"),
        (1, vec![2], 16 * M + 1, "16M-24M"),
    ];
    let mut charges = Vec::new();
    for (i, (tokens, blocks, after, tier)) in steps.into_iter().enumerate() {
        let what = format!("step {i}: +{tokens} to {after}");

        // Act
        let p = report(&app, &tenant, &[usage(&format!("step-{i}"), tokens)]).await;

        // Assert
        assert_all_accepted(&p, &what);
        let made = charges_of_call(&p, &what);
        assert_eq!(block_indexes(&made), blocks, "{what}: {p}");
        charges.extend(made);
        let s = tokens_summary(&app, &tenant).await;
        assert_eq!(big(&s["totalQuantity"]), after, "{what}: {s}");
        assert_eq!(s["currentTier"], tier, "{what}: {s}");
    }
    assert_seed_period(
        &app,
        &tenant,
        (16 * M + 1, 60_000, 2, "16M-24M"),
        &charges,
        "16,000,001 tokens",
    )
    .await;
}

#[tokio::test]
async fn tiers_are_labelled_in_thousands_when_they_are_not_whole_millions() {
    // Arrange: 500K included, 2500 per started block of 500K.
    let app = spawn_app_at(START).await;
    app.create_metric("tokens").await;
    plan_with_charges(
        &app,
        "tokens-500k",
        0,
        vec![block_charge(
            "tokens",
            "IMMEDIATELY",
            500_000,
            500_000,
            2500,
        )],
    )
    .await;
    let tenant = app.subscribed("acme", "tokens-500k").await.tenant;
    report(&app, &tenant, &[usage("small", 300_000)]).await;
    let within = tokens_summary(&app, &tenant).await;

    // Act: to 1.2M, two blocks.
    let p = report(&app, &tenant, &[usage("larger", 900_000)]).await;

    // Assert
    assert_eq!(within["currentTier"], "0-500K", "{within}");
    assert_eq!(within["includedUnits"], "500000", "{within}");
    let charges = charges_of_call(&p, "1.2M tokens");
    let mut tiers: Vec<(i64, &str)> = charges
        .iter()
        .map(|c| (int_of(&c["blockIndex"]), str_of(&c["tier"])))
        .collect();
    tiers.sort_unstable();
    assert_eq!(tiers, [(1, "500K-1M"), (2, "1M-1500K")], "{p}");
    let s = tokens_summary(&app, &tenant).await;
    assert_eq!(s["currentTier"], "1M-1500K", "{s}");
    assert_eq!(
        summary_numbers(&s),
        (1_200_000, 2, 2, 5000, FEE, 45_000),
        "{s}"
    );
}

#[tokio::test]
async fn a_forever_coupon_discounts_the_fee_but_not_the_usage_blocks() {
    // Arrange
    let app = seed_app().await;
    app.create_coupon(
        json!({ "code": "HALF", "name": "Half forever", "percentOff": 50, "duration": "FOREVER" }),
    )
    .await;
    let tenant = app.create_tenant("acme").await;
    let owner = app.tenant_token(&tenant, Role::Owner);
    let created = app
        .subscribe(
            &owner,
            json!({ "planCode": SEED_PLAN, "couponCode": "HALF" }),
        )
        .await;
    let fee_invoice = &created.data()["createSubscription"]["invoice"];
    assert_eq!(money(fee_invoice, "discount"), 20_000, "{fee_invoice}");

    // Act: 18M tokens, two blocks.
    let p = report(&app, &tenant, &[usage("big", 18 * M)]).await;

    // Assert
    let charges = charges_of_call(&p, "18M with a coupon");
    assert_eq!(block_indexes(&charges), [1, 2]);
    let invoice = &p["invoice"];
    assert_eq!(money(invoice, "discount"), 0, "{invoice}");
    assert_eq!(money(invoice, "total"), 20_000, "{invoice}");
    assert!(invoice["couponCode"].is_null(), "{invoice}");
}

// ---------------------------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_resent_batch_is_all_duplicates_of_the_first_events_and_changes_nothing() {
    // Arrange: 6M then 4M: the second event crosses into block 1.
    let app = seed_app().await;
    let tenant = app.subscribed("acme", SEED_PLAN).await.tenant;
    let batch = [usage("req-1", 6 * M), usage("req-2", 4 * M)];
    let first = report(&app, &tenant, &batch).await;
    assert_all_accepted(&first, "first send");
    let first_charges = charges_of_call(&first, "first send");
    assert_eq!(block_indexes(&first_charges), [1]);
    assert!(list(&results(&first)[0], "blockCharges").is_empty());
    assert_eq!(count(list(&results(&first)[1], "blockCharges")), 1);
    let invoices_before = app.invoices_of(&tenant).await;
    let summary_before = tokens_summary(&app, &tenant).await;

    // Act: the same batch again, once as admin and once with the tenant owner's token.
    let owner = app.tenant_token(&tenant, Role::Owner);
    let again = report(&app, &tenant, &batch).await;
    let by_owner = app.record_usage(&owner, None, &batch).await.data()["recordUsage"].clone();

    // Assert
    for resent in [&again, &by_owner] {
        assert_eq!(statuses(resent), ["DUPLICATE", "DUPLICATE"], "{resent}");
        assert_eq!(tally(resent), (0, 2, 0), "{resent}");
        for (i, (r, f)) in results(resent).iter().zip(results(&first)).enumerate() {
            assert_eq!(r["index"], i, "{r}");
            assert_eq!(r["idempotencyKey"], f["idempotencyKey"], "{r}");
            assert_eq!(r["eventId"], f["eventId"], "the first event's id: {r}");
            assert_eq!(
                r["blockCharges"], f["blockCharges"],
                "the first event's block charges: {r}"
            );
            assert!(r["code"].is_null(), "{r}");
        }
        assert!(list(resent, "blockCharges").is_empty(), "{resent}");
        assert!(resent["invoice"].is_null(), "{resent}");
    }
    assert_eq!(tokens_summary(&app, &tenant).await, summary_before);
    assert_eq!(app.invoices_of(&tenant).await, invoices_before);
    assert_eq!(big(&summary_before["totalQuantity"]), 10 * M);
}

#[tokio::test]
async fn a_key_repeated_inside_one_batch_is_a_duplicate_of_its_first_occurrence() {
    // Arrange
    let app = seed_app().await;
    let tenant = app.subscribed("acme", SEED_PLAN).await.tenant;

    // Act: had the second 7M been counted, the usage would be 8M+ and a block charged.
    let p = report(
        &app,
        &tenant,
        &[usage("twice", M), usage("once", 0), usage("twice", 7 * M)],
    )
    .await;

    // Assert
    assert_eq!(statuses(&p), ["ACCEPTED", "ACCEPTED", "DUPLICATE"], "{p}");
    assert_eq!(tally(&p), (2, 1, 0), "{p}");
    let r = results(&p);
    assert_eq!(r[2]["eventId"], r[0]["eventId"], "{p}");
    assert_eq!(r[2]["idempotencyKey"], "twice");
    assert_ne!(r[1]["eventId"], r[0]["eventId"], "{p}");
    assert!(list(&p, "blockCharges").is_empty(), "{p}");
    let s = tokens_summary(&app, &tenant).await;
    assert_eq!(summary_numbers(&s), (M, 2, 0, 0, FEE, FEE), "{s}");
}

#[tokio::test]
async fn a_rejected_key_resent_fixed_is_accepted_and_keys_belong_to_their_tenant() {
    // Arrange
    let app = seed_app().await;
    let tenant = app.subscribed("acme", SEED_PLAN).await.tenant;
    let other = app.subscribed("globex", SEED_PLAN).await.tenant;
    let rejected = report(&app, &tenant, &[usage("fix-me", -1)]).await;
    assert_eq!(statuses(&rejected), ["REJECTED"], "{rejected}");
    assert_eq!(results(&rejected)[0]["code"], "INVALID_QUANTITY");

    // Act
    let fixed = report(&app, &tenant, &[usage("fix-me", 2 * M)]).await;
    let elsewhere = report(&app, &other, &[usage("fix-me", 3 * M)]).await;

    // Assert
    assert_all_accepted(&fixed, "the fixed event");
    assert_all_accepted(&elsewhere, "the same key for another tenant");
    assert_ne!(
        results(&fixed)[0]["eventId"],
        results(&elsewhere)[0]["eventId"]
    );
    assert_eq!(
        big(&tokens_summary(&app, &tenant).await["totalQuantity"]),
        2 * M
    );
    assert_eq!(
        big(&tokens_summary(&app, &other).await["totalQuantity"]),
        3 * M
    );
}

#[tokio::test]
async fn a_known_key_is_a_duplicate_whatever_else_the_resent_event_says() {
    // Arrange
    let app = seed_app().await;
    let tenant = app.subscribed("acme", SEED_PLAN).await.tenant;
    let first = report(&app, &tenant, &[usage("known", 2 * M)]).await;
    assert_all_accepted(&first, "the first event");
    let first_id = &results(&first)[0]["eventId"];
    let summary_before = tokens_summary(&app, &tenant).await;

    // Act: the same key with content that would be rejected were the key new. The duplicate
    // check comes before the other rules.
    let resent = [
        usage("known", -1),
        usage_event("no_such_metric", M, "known"),
        with(usage("known", M), "operationType", "bad op"),
        with(
            usage("known", M),
            "metadata",
            json!(["not", "an", "object"]),
        ),
        with(
            usage("known", M),
            "occurredAt",
            (start() + TimeDelta::hours(1)).to_rfc3339(),
        ),
        with(
            usage("known", M),
            "occurredAt",
            (start() - TimeDelta::days(1)).to_rfc3339(),
        ),
    ];
    let p = report(&app, &tenant, &resent).await;

    // Assert
    assert_eq!(statuses(&p), ["DUPLICATE"; 6], "{p}");
    for (i, r) in results(&p).iter().enumerate() {
        assert_eq!(&r["eventId"], first_id, "resent event {i}: {r}");
        assert!(r["code"].is_null(), "resent event {i}: {r}");
    }
    assert_eq!(tally(&p), (0, 6, 0), "{p}");
    assert_eq!(tokens_summary(&app, &tenant).await, summary_before);
}

// ---------------------------------------------------------------------------------------------
// Rejections
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn each_bad_event_is_rejected_with_its_code_and_the_good_ones_in_the_batch_are_accepted() {
    // Arrange
    let app = seed_app().await;
    let tenant = app.subscribed("acme", SEED_PLAN).await.tenant;
    let invoices_before = app.invoices_of(&tenant).await;
    let now = start();
    let later = |seconds: i64| (now + TimeDelta::seconds(seconds)).to_rfc3339();
    // Every rejected event carries 20M tokens: had one been stored, the usage would show it and
    // cross into charged blocks. The accepted ones add up to 6M, within the included 8M.
    let lots = 20 * M;
    let cases: Vec<(Value, Option<&str>)> = vec![
        (usage("plain", M), None),
        (usage("zero", 0), None),
        (usage("negative", -1), Some("INVALID_QUANTITY")),
        (
            usage("above-10-15", 1_000_000_000_000_001),
            Some("INVALID_QUANTITY"),
        ),
        (usage("", lots), Some("INVALID_KEY")),
        (usage(&"k".repeat(129), lots), Some("INVALID_KEY")),
        (usage("with spaces", lots), Some("INVALID_KEY")),
        (usage("slash/key", lots), Some("INVALID_KEY")),
        (usage(&"K".repeat(128), M), None),
        (usage("All_the.allowed:chars-09", M), None),
        (
            with(usage("op-space", lots), "operationType", "chat bot"),
            Some("INVALID_OPERATION"),
        ),
        (
            with(usage("op-65", lots), "operationType", "o".repeat(65)),
            Some("INVALID_OPERATION"),
        ),
        (
            with(usage("op-empty", lots), "operationType", ""),
            Some("INVALID_OPERATION"),
        ),
        (with(usage("op-upper", M), "operationType", "Chat"), None),
        (
            with(usage("op-64", 0), "operationType", "o".repeat(64)),
            None,
        ),
        (
            with(usage("meta-array", lots), "metadata", json!(["a", "b"])),
            Some("INVALID_METADATA"),
        ),
        (
            with(usage("meta-string", lots), "metadata", "text"),
            Some("INVALID_METADATA"),
        ),
        // {"b":"…"} serialized: 8 bytes plus the string.
        (
            with(
                usage("meta-2049", lots),
                "metadata",
                json!({ "b": "x".repeat(2041) }),
            ),
            Some("INVALID_METADATA"),
        ),
        (
            with(
                usage("meta-2048", 500_000),
                "metadata",
                json!({ "b": "x".repeat(2040) }),
            ),
            None,
        ),
        (
            usage_event("no_such_metric", lots, "unknown-metric"),
            Some("UNKNOWN_METRIC"),
        ),
        (
            with(usage("future-6m", lots), "occurredAt", later(360)),
            Some("OCCURRED_IN_FUTURE"),
        ),
        (
            with(usage("future-5m1s", lots), "occurredAt", later(301)),
            Some("OCCURRED_IN_FUTURE"),
        ),
        (
            with(usage("future-5m", 500_000), "occurredAt", later(300)),
            None,
        ),
        (
            with(usage("future-4m", 500_000), "occurredAt", later(240)),
            None,
        ),
        (
            with(usage("before-period", lots), "occurredAt", later(-1)),
            Some("PERIOD_CLOSED"),
        ),
        (
            with(usage("at-period-start", 500_000), "occurredAt", START),
            None,
        ),
    ];
    let events: Vec<Value> = cases.iter().map(|(e, _)| e.clone()).collect();

    // Act
    let p = report(&app, &tenant, &events).await;

    // Assert
    let results = results(&p);
    assert_eq!(results.len(), cases.len(), "{p}");
    for (i, ((event, code), r)) in cases.iter().zip(results).enumerate() {
        let what = format!("event {i} ({})", event["idempotencyKey"]);
        assert_eq!(r["index"], i, "{what}: {r}");
        assert_eq!(r["idempotencyKey"], event["idempotencyKey"], "{what}: {r}");
        match code {
            Some(code) => {
                assert_eq!(r["status"], "REJECTED", "{what}: {r}");
                assert_eq!(r["code"], *code, "{what}: {r}");
                assert!(
                    r["eventId"].is_null(),
                    "{what}: a rejected event has no id: {r}"
                );
                assert!(list(r, "blockCharges").is_empty(), "{what}: {r}");
                assert!(
                    !str_of(&r["message"]).is_empty(),
                    "{what}: a rejection explains itself: {r}"
                );
            }
            None => {
                assert_eq!(r["status"], "ACCEPTED", "{what}: {r}");
                assert!(r["code"].is_null(), "{what}: {r}");
                assert!(str_of(&r["eventId"]).starts_with("use_"), "{what}: {r}");
            }
        }
    }
    assert_eq!(tally(&p), (10, 0, 16), "{p}");
    assert!(list(&p, "blockCharges").is_empty(), "{p}");
    assert!(p["invoice"].is_null(), "{p}");
    let s = tokens_summary(&app, &tenant).await;
    assert_eq!(summary_numbers(&s), (6 * M, 10, 0, 0, FEE, FEE), "{s}");
    assert_eq!(
        s["byOperation"],
        json!([
            { "operationType": "chat", "quantity": "1000000", "events": 1 },
            { "operationType": "default", "quantity": "5000000", "events": 8 },
            { "operationType": "o".repeat(64), "quantity": "0", "events": 1 },
        ]),
        "{s}"
    );
    assert_eq!(app.invoices_of(&tenant).await, invoices_before);
}

#[tokio::test]
async fn usage_for_a_tenant_without_a_live_subscription_is_rejected_with_no_subscription() {
    // Arrange: one tenant never subscribed, one canceled now, one canceling at the period end.
    let app = seed_app().await;
    let never = app.create_tenant("never").await;
    let canceled = app.subscribed("canceled", SEED_PLAN).await.tenant;
    let leaving = app.subscribed("leaving", SEED_PLAN).await.tenant;
    for (tenant, at_period_end) in [(&canceled, false), (&leaving, true)] {
        app.as_admin(
            "mutation($t: ID, $e: Boolean!) { cancelSubscription(input: { tenantId: $t, atPeriodEnd: $e }) { subscription { id } } }",
            json!({ "t": tenant, "e": at_period_end }),
        )
        .await
        .data();
    }
    let canceled_invoices = app.invoices_of(&canceled).await;

    // Act
    let never_p = report(&app, &never, &[usage("u-1", 10 * M)]).await;
    let canceled_p = report(&app, &canceled, &[usage("u-1", 10 * M)]).await;
    let leaving_p = report(&app, &leaving, &[usage("u-1", 10 * M)]).await;

    // Assert
    for p in [&never_p, &canceled_p] {
        assert_eq!(statuses(p), ["REJECTED"], "{p}");
        assert_eq!(results(p)[0]["code"], "NO_SUBSCRIPTION", "{p}");
        assert_eq!(tally(p), (0, 0, 1), "{p}");
        assert!(p["invoice"].is_null(), "{p}");
    }
    assert!(app.invoices_of(&never).await.is_empty());
    assert_eq!(app.invoices_of(&canceled).await, canceled_invoices);
    // Canceling at the period end leaves the subscription live until then.
    assert_all_accepted(&leaving_p, "a subscription canceling at the period end");
    assert_eq!(block_indexes(&charges_of_call(&leaving_p, "leaving")), [1]);
}

#[tokio::test]
async fn a_batch_of_0_or_1001_events_is_refused_whole_and_1000_events_are_accepted() {
    // Arrange
    let app = seed_app().await;
    let tenant = app.subscribed("acme", SEED_PLAN).await.tenant;
    let events: Vec<Value> = (0..1001)
        .map(|i| usage(&format!("e-{i}"), 10_000))
        .collect();

    // Act
    let empty = app
        .record_usage(&app.admin_token, Some(tenant.as_str()), &[])
        .await;
    let too_many = app
        .record_usage(&app.admin_token, Some(tenant.as_str()), &events)
        .await;

    // Assert
    for (r, what) in [(&empty, "0 events"), (&too_many, "1001 events")] {
        refused(r, "VALIDATION", what);
        assert_eq!(
            r.body["errors"][0]["extensions"]["field"], "events",
            "{what}: {}",
            r.body
        );
    }
    let s = tokens_summary(&app, &tenant).await;
    assert_eq!(
        summary_numbers(&s),
        (0, 0, 0, 0, FEE, FEE),
        "nothing written: {s}"
    );
    assert_eq!(app.invoices_of(&tenant).await.len(), 1);

    // Act: the first 1000 of them, 10M in all: one block.
    let p = report(&app, &tenant, &events[..1000]).await;

    // Assert
    assert_all_accepted(&p, "1000 events");
    assert_eq!(results(&p).len(), 1000);
    let charges = charges_of_call(&p, "1000 events");
    assert_seed_period(
        &app,
        &tenant,
        (10 * M, 50_000, 1, "8M-16M"),
        &charges,
        "1000 events",
    )
    .await;
    assert_eq!(int_of(&tokens_summary(&app, &tenant).await["events"]), 1000);
    // The 1001st was never stored: it is accepted now.
    assert_all_accepted(
        &report(&app, &tenant, &events[1000..]).await,
        "the 1001st event",
    );
}

#[tokio::test]
async fn usage_for_an_unknown_or_suspended_tenant_is_refused_whole() {
    // Arrange
    let app = seed_app().await;
    let suspended = app.subscribed("suspended", SEED_PLAN).await.tenant;
    app.as_admin(
        "mutation($i: SuspendTenantInput!) { suspendTenant(input: $i) { tenant { status } } }",
        json!({ "i": { "id": suspended, "reason": "unpaid" } }),
    )
    .await
    .data();
    let unknown = TenantId::new().to_string();

    // Act
    let r_unknown = app
        .record_usage(&app.admin_token, Some(unknown.as_str()), &[usage("u-1", M)])
        .await;
    let r_suspended = app
        .record_usage(
            &app.admin_token,
            Some(suspended.as_str()),
            &[usage("u-1", 20 * M)],
        )
        .await;

    // Assert
    refused(&r_unknown, "NOT_FOUND", "an unknown tenant");
    refused(&r_suspended, "FORBIDDEN", "a suspended tenant");
    let s = tokens_summary(&app, &suspended).await;
    assert_eq!(big(&s["totalQuantity"]), 0, "nothing written: {s}");
    assert_eq!(app.invoices_of(&suspended).await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Who may report
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_operator_key_reports_for_any_tenant_it_names_and_tenant_credentials_only_for_their_own()
{
    // Arrange
    let app = seed_app().await;
    let a = app.subscribed("alpha", SEED_PLAN).await.tenant;
    let b = app.subscribed("beta", SEED_PLAN).await.tenant;
    let (_, operator) = app.create_api_key(&app.admin_token, None, "metering").await;
    let owner_a = app.tenant_token(&a, Role::Owner);
    let (_, key_a) = app.create_api_key(&owner_a, None, "alpha backend").await;
    let tenant_credentials = [
        ("owner", owner_a.clone()),
        ("billing", app.tenant_token(&a, Role::Billing)),
        ("member", app.tenant_token(&a, Role::Member)),
        ("service", app.tenant_token(&a, Role::Service)),
        ("tenant-api-key", key_a),
    ];

    // Act + Assert: the operator key names each tenant.
    for (tenant, key) in [(&a, "operator-a"), (&b, "operator-b")] {
        let r = app
            .record_usage(&operator, Some(tenant.as_str()), &[usage(key, M)])
            .await;
        assert_all_accepted(&r.data()["recordUsage"], "operator key naming a tenant");
    }
    // Neither the operator key nor the admin may leave the tenant out.
    for (who, token) in [("operator key", &operator), ("admin", &app.admin_token)] {
        let r = app
            .record_usage(token, None, &[usage("no-tenant", 20 * M)])
            .await;
        refused(&r, "VALIDATION", &format!("{who} without tenantId"));
    }
    // Tenant credentials report for their own tenant, named or not, never for another.
    for (who, token) in &tenant_credentials {
        let own = app
            .record_usage(token, None, &[usage(&format!("{who}-own"), M)])
            .await;
        assert_all_accepted(&own.data()["recordUsage"], who);
        let named = app
            .record_usage(
                token,
                Some(a.as_str()),
                &[usage(&format!("{who}-named"), M)],
            )
            .await;
        assert_all_accepted(&named.data()["recordUsage"], who);
        let other = app
            .record_usage(
                token,
                Some(b.as_str()),
                &[usage(&format!("{who}-other"), 20 * M)],
            )
            .await;
        refused(&other, "FORBIDDEN", &format!("{who} naming another tenant"));
    }
    let anonymous = app
        .anonymous(
            &record_usage_query(),
            json!({ "i": { "tenantId": b, "events": [usage("anon", 20 * M)] } }),
        )
        .await;
    refused(&anonymous, "UNAUTHENTICATED", "no credential");

    // Tenant a: the operator's 1M and 2M from each of the five credentials: 11M, one block.
    let sa = tokens_summary(&app, &a).await;
    assert_eq!(
        summary_numbers(&sa),
        (11 * M, 11, 1, BLOCK_PRICE, FEE, 50_000),
        "{sa}"
    );
    // Tenant b: only the operator's 1M; nothing of the refused calls.
    let sb = tokens_summary(&app, &b).await;
    assert_eq!(summary_numbers(&sb), (M, 1, 0, 0, FEE, FEE), "{sb}");
    assert_eq!(app.invoices_of(&b).await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Periods and trials
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn usage_counters_restart_in_the_next_period_and_the_closed_period_stays_queryable() {
    // Arrange: 12M tokens in March, one block.
    let app = seed_app().await;
    let acme = app.subscribed("acme", SEED_PLAN).await;
    let (tenant, sub) = (acme.tenant, id_of(&acme.subscription));
    let march = report(&app, &tenant, &[usage("march-1", 12 * M)]).await;
    assert_eq!(block_indexes(&charges_of_call(&march, "march")), [1]);

    // Act: April begins; then 12M in April, a retry of the March event (dated in March, now a
    // closed period: still a duplicate, not PERIOD_CLOSED), and a late March event.
    let jobs = app.advance_to("2026-04-01T00:00:00Z").await;
    let april = report(
        &app,
        &tenant,
        &[
            usage("april-1", 12 * M),
            with(usage("march-1", 12 * M), "occurredAt", START),
            with(
                usage("late-march", 5 * M),
                "occurredAt",
                "2026-03-31T12:00:00Z",
            ),
        ],
    )
    .await;

    // Assert
    assert_eq!(jobs["renewals"], 1, "{jobs}");
    assert_eq!(
        statuses(&april),
        ["ACCEPTED", "DUPLICATE", "REJECTED"],
        "{april}"
    );
    let r = results(&april);
    assert_eq!(r[1]["eventId"], results(&march)[0]["eventId"], "{april}");
    assert_eq!(
        r[1]["blockCharges"],
        results(&march)[0]["blockCharges"],
        "{april}"
    );
    assert_eq!(r[2]["code"], "PERIOD_CLOSED", "{april}");
    let april_charges = charges_of_call(&april, "april");
    assert_eq!(
        block_indexes(&april_charges),
        [1],
        "blocks count from 1 again: {april}"
    );
    assert_eq!(april_charges[0]["cycle"], 2);
    assert_eq!(april_charges[0]["tier"], "8M-16M");
    assert_eq!(april_charges[0]["subscriptionId"], sub);
    assert_eq!(money(&april_charges[0], "amount"), BLOCK_PRICE);

    let now = tokens_summary(&app, &tenant).await;
    assert_eq!(now["cycle"], 2, "{now}");
    assert_eq!(at(&now["periodStart"]), ts("2026-04-01T00:00:00Z"), "{now}");
    assert_eq!(at(&now["periodEnd"]), ts("2026-05-01T00:00:00Z"), "{now}");
    assert_eq!(
        summary_numbers(&now),
        (12 * M, 1, 1, BLOCK_PRICE, FEE, 50_000),
        "{now}"
    );
    let closed = summary_of(&app, &tenant, "tokens", Some(1)).await;
    assert_eq!(closed["cycle"], 1, "{closed}");
    assert_eq!(closed["subscriptionId"], sub, "{closed}");
    assert_eq!(at(&closed["periodStart"]), start(), "{closed}");
    assert_eq!(
        at(&closed["periodEnd"]),
        ts("2026-04-01T00:00:00Z"),
        "{closed}"
    );
    assert_eq!(
        summary_numbers(&closed),
        (12 * M, 1, 1, BLOCK_PRICE, FEE, 50_000),
        "{closed}"
    );
    refused(
        &usage_summary(
            &app,
            &app.admin_token,
            Some(tenant.as_str()),
            "tokens",
            Some(3),
        )
        .await,
        "NOT_FOUND",
        "a cycle that has not begun",
    );

    // The April renewal carries only the fee: the March blocks were invoiced at once.
    let invoices = app.invoices_of(&tenant).await;
    let renewal: Vec<&Value> = invoices
        .iter()
        .filter(|i| i["billingReason"] == "SUBSCRIPTION_CYCLE")
        .collect();
    assert_eq!(renewal.len(), 1, "{invoices:#?}");
    assert_eq!(renewal[0]["cycle"], 2);
    assert_eq!(list(renewal[0], "lines").len(), 1, "{}", renewal[0]);
    assert_eq!(money(renewal[0], "total"), FEE);
    assert_eq!(
        sum_of_totals(&invoices),
        2 * (FEE + BLOCK_PRICE),
        "{invoices:#?}"
    );
}

#[tokio::test]
async fn usage_reported_after_the_period_end_before_the_jobs_ran_lands_in_the_new_period() {
    // Arrange: 10M in March; then the clock passes the period end without the jobs running.
    let app = seed_app().await;
    let tenant = app.subscribed("acme", SEED_PLAN).await.tenant;
    report(&app, &tenant, &[usage("march", 10 * M)]).await;
    app.state
        .clock
        .advance(TimeDelta::days(31) + TimeDelta::hours(1))
        .expect("the test clock can move");

    // Act
    let p = report(
        &app,
        &tenant,
        &[
            with(usage("late-march", M), "occurredAt", "2026-03-31T23:00:00Z"),
            usage("april", 10 * M),
        ],
    )
    .await;

    // Assert: the subscription was renewed first, so the new event is April's.
    assert_eq!(statuses(&p), ["REJECTED", "ACCEPTED"], "{p}");
    assert_eq!(results(&p)[0]["code"], "PERIOD_CLOSED", "{p}");
    let charges = charges_of_call(&p, "april");
    assert_eq!(block_indexes(&charges), [1], "{p}");
    assert_eq!(charges[0]["cycle"], 2, "{p}");
    let sub = app.subscription_of(&tenant).await;
    assert_eq!(sub["cycle"], 2, "{sub}");
    assert_eq!(
        at(&sub["currentPeriodStart"]),
        ts("2026-04-01T00:00:00Z"),
        "{sub}"
    );
    let april = tokens_summary(&app, &tenant).await;
    assert_eq!(april["cycle"], 2, "{april}");
    assert_eq!(
        summary_numbers(&april),
        (10 * M, 1, 1, BLOCK_PRICE, FEE, 50_000),
        "{april}"
    );
    let march = summary_of(&app, &tenant, "tokens", Some(1)).await;
    assert_eq!(
        summary_numbers(&march),
        (10 * M, 1, 1, BLOCK_PRICE, FEE, 50_000),
        "{march}"
    );

    // The jobs find nothing left to renew.
    let jobs = app.run_jobs().await;
    assert_eq!(jobs["renewals"], 0, "{jobs}");
    assert_eq!(jobs["invoicesIssued"], 0, "{jobs}");
    let mut reasons: Vec<String> = app
        .invoices_of(&tenant)
        .await
        .iter()
        .map(|i| str_of(&i["billingReason"]).to_owned())
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "SUBSCRIPTION_CREATE",
            "SUBSCRIPTION_CYCLE",
            "USAGE_BLOCKS",
            "USAGE_BLOCKS"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_reports_at_once_after_the_period_end_renew_the_subscription_once() {
    // Arrange: the clock passes the end of March without the jobs running.
    let app = seed_app().await;
    let tenant = app.subscribed("acme", SEED_PLAN).await.tenant;
    report(&app, &tenant, &[usage("march", 10 * M)]).await;
    app.state
        .clock
        .advance(TimeDelta::days(31))
        .expect("the test clock can move");
    let events: Vec<Value> = (0..20).map(|i| usage(&format!("april-{i}"), M)).collect();

    // Act
    let responses = join_all(events.iter().map(|e| {
        app.record_usage(
            &app.admin_token,
            Some(tenant.as_str()),
            std::slice::from_ref(e),
        )
    }))
    .await;

    // Assert: one renewal; all 20M in April, two blocks of cycle 2.
    let what = format!(
        "20 concurrent reports after the period end on {}",
        backend()
    );
    let mut charges = Vec::new();
    for r in &responses {
        let p = &r.data()["recordUsage"];
        assert_all_accepted(p, &what);
        charges.extend(charges_of_call(p, &what));
    }
    assert_seed_blocks(&charges, 2, 2, &what);
    let sub = app.subscription_of(&tenant).await;
    assert_eq!(sub["cycle"], 2, "{what}: {sub}");
    let renewals: Vec<Value> = app
        .invoices_of(&tenant)
        .await
        .into_iter()
        .filter(|i| i["billingReason"] == "SUBSCRIPTION_CYCLE")
        .collect();
    assert_eq!(renewals.len(), 1, "{what}: {renewals:#?}");
    let april = tokens_summary(&app, &tenant).await;
    assert_eq!(april["cycle"], 2, "{what}: {april}");
    assert_eq!(
        summary_numbers(&april),
        (20 * M, 20, 2, 2 * BLOCK_PRICE, FEE, 60_000),
        "{what}: {april}"
    );
    let jobs = app.run_jobs().await;
    assert_eq!(jobs["renewals"], 0, "{what}: {jobs}");
}

#[tokio::test]
async fn usage_during_a_trial_is_recorded_without_block_charges() {
    // Arrange
    let app = seed_app().await;
    token_plan(&app, "tokens-trial", 8 * M, 14).await;
    let tenant = app.subscribed("acme", "tokens-trial").await.tenant;
    assert_eq!(app.subscription_of(&tenant).await["status"], "TRIALING");

    // Act: 20M tokens in the trial, well past the included 8M.
    let p = report(&app, &tenant, &[usage("trial-usage", 20 * M)]).await;

    // Assert
    assert_all_accepted(&p, "trial usage");
    assert!(charges_of_call(&p, "trial usage").is_empty(), "{p}");
    let trial = tokens_summary(&app, &tenant).await;
    assert_eq!(trial["cycle"], 0, "{trial}");
    assert_eq!(summary_numbers(&trial), (20 * M, 1, 0, 0, 0, 0), "{trial}");
    assert!(app.invoices_of(&tenant).await.is_empty());

    // Act: the trial ends; cycle 1 starts from zero.
    let jobs = app.advance_days(14).await;
    let paid = report(&app, &tenant, &[usage("paid-usage", 10 * M)]).await;

    // Assert
    assert_eq!(jobs["trialsEnded"], 1, "{jobs}");
    let charges = charges_of_call(&paid, "first paid period");
    assert_seed_blocks(&charges, 1, 1, "first paid period");
    let now = tokens_summary(&app, &tenant).await;
    assert_eq!(now["cycle"], 1, "{now}");
    assert_eq!(
        summary_numbers(&now),
        (10 * M, 1, 1, BLOCK_PRICE, FEE, 50_000),
        "{now}"
    );
    let trial_again = summary_of(&app, &tenant, "tokens", Some(0)).await;
    assert_eq!(
        summary_numbers(&trial_again),
        (20 * M, 1, 0, 0, 0, 0),
        "{trial_again}"
    );
}

// ---------------------------------------------------------------------------------------------
// Aggregations and operations
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_max_metric_keeps_the_largest_quantity_and_a_count_metric_counts_events() {
    // Arrange: seats (MAX) with 10 included and 1000 per started block of 5; requests (COUNT)
    // without a charge.
    let app = spawn_app_at(START).await;
    create_metric_with(&app, "seats", "MAX").await;
    create_metric_with(&app, "requests", "COUNT").await;
    plan_with_charges(
        &app,
        "seats-plan",
        0,
        vec![block_charge("seats", "IMMEDIATELY", 10, 5, 1000)],
    )
    .await;
    let tenant = app.subscribed("acme", "seats-plan").await.tenant;

    // Act
    let twelve = report(&app, &tenant, &[usage_event("seats", 12, "seats-1")]).await;
    let eight = report(&app, &tenant, &[usage_event("seats", 8, "seats-2")]).await;
    let sixteen = report(&app, &tenant, &[usage_event("seats", 16, "seats-3")]).await;
    let requests = report(
        &app,
        &tenant,
        &[
            usage_event("requests", 5, "req-1"),
            usage_event("requests", 100, "req-2"),
            usage_event("requests", 0, "req-3"),
        ],
    )
    .await;

    // Assert: 12 seats → block 1; 8 leaves the maximum at 12; 16 → block 2. Summed, 36 seats
    // would have been six blocks.
    let first = charges_of_call(&twelve, "12 seats");
    assert_eq!(block_indexes(&first), [1], "{twelve}");
    assert_eq!(first[0]["tier"], "10-15", "{twelve}");
    assert_eq!(money(&first[0], "amount"), 1000);
    assert!(charges_of_call(&eight, "8 seats").is_empty(), "{eight}");
    let second = charges_of_call(&sixteen, "16 seats");
    assert_eq!(block_indexes(&second), [2], "{sixteen}");
    assert_eq!(second[0]["tier"], "15-20", "{sixteen}");
    let seats = summary_of(&app, &tenant, "seats", None).await;
    assert_eq!(
        summary_numbers(&seats),
        (16, 3, 2, 2000, FEE, 42_000),
        "{seats}"
    );
    assert_eq!(seats["includedUnits"], "10", "{seats}");
    assert_eq!(seats["currentTier"], "15-20", "{seats}");

    assert_all_accepted(&requests, "requests");
    let counted = summary_of(&app, &tenant, "requests", None).await;
    assert_eq!(big(&counted["totalQuantity"]), 3, "{counted}");
    assert_eq!(counted["events"], 3, "{counted}");
    assert_eq!(counted["blockChargesCount"], 0, "{counted}");
    assert!(counted["includedUnits"].is_null(), "{counted}");
    assert_eq!(counted["currentTier"], "", "{counted}");
}

#[tokio::test]
async fn usage_summary_breaks_the_usage_down_by_operation_sorted_by_operation_type() {
    // Arrange
    let app = seed_app().await;
    let tenant = app.subscribed("acme", SEED_PLAN).await.tenant;
    let op = |key: &str, quantity: i64, operation: &str| {
        with(usage(key, quantity), "operationType", operation)
    };

    // Act
    report(
        &app,
        &tenant,
        &[
            op("c-1", 3 * M, "chat"),
            op("d-1", M, "diagnosis"),
            op("c-2", 2 * M, "chat"),
            op("c-3", M, "Chat"),
            usage("plain", 500_000),
            op("a-1", 250_000, "agent.v2-beta_1"),
        ],
    )
    .await;
    report(&app, &tenant, &[op("d-2", 2 * M, "diagnosis")]).await;

    // Assert
    let s = tokens_summary(&app, &tenant).await;
    assert_eq!(
        s["byOperation"],
        json!([
            { "operationType": "agent.v2-beta_1", "quantity": "250000", "events": 1 },
            { "operationType": "chat", "quantity": "6000000", "events": 3 },
            { "operationType": "default", "quantity": "500000", "events": 1 },
            { "operationType": "diagnosis", "quantity": "3000000", "events": 2 },
        ]),
        "{s}"
    );
    assert_eq!(
        summary_numbers(&s),
        (9_750_000, 7, 1, BLOCK_PRICE, FEE, 50_000),
        "{s}"
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

const CLIENTS: usize = 50;
const EVENTS_PER_CLIENT: usize = 20;

/// The key of client `c`'s event `j`: 30% of the positions draw from a pool of 40 keys shared
/// by all clients, the rest are the client's own.
fn pool_key(c: usize, j: usize) -> String {
    if (c * 7 + j * 3) % 10 < 3 {
        format!("shared-{}", (c + j) % 40)
    } else {
        format!("client-{c}-event-{j}")
    }
}

/// Every key always comes with the same quantity: 100,000 to 590,000 tokens.
fn quantity_of(key: &str) -> i64 {
    100_000 + 10_000 * (key.bytes().map(i64::from).sum::<i64>() % 50)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_sending_overlapping_batches_at_once_record_each_key_once_and_charge_each_block_once()
 {
    // Arrange
    let app = seed_app().await;
    let tenant = app.subscribed("busy", SEED_PLAN).await.tenant;
    let (_, operator) = app.create_api_key(&app.admin_token, None, "metering").await;
    let owner = app.tenant_token(&tenant, Role::Owner);
    let batches: Vec<Vec<Value>> = (0..CLIENTS)
        .map(|c| {
            (0..EVENTS_PER_CLIENT)
                .map(|j| {
                    let key = pool_key(c, j);
                    usage(&key, quantity_of(&key))
                })
                .collect()
        })
        .collect();
    let distinct: BTreeMap<String, i64> = batches
        .iter()
        .flatten()
        .map(|e| (str_of(&e["idempotencyKey"]).to_owned(), big(&e["quantity"])))
        .collect();
    let sent = CLIENTS * EVENTS_PER_CLIENT;
    assert!(
        distinct.len() < sent * 3 / 4,
        "the fixture repeats keys: {} distinct of {sent}",
        distinct.len()
    );
    let total: i64 = distinct.values().sum();
    let above = total - 8 * M;
    let blocks = above / (8 * M) + i64::from(above % (8 * M) != 0);
    assert!(blocks > 10, "the fixture crosses many blocks: {total}");

    // Act: half the clients with the operator key naming the tenant, half with the owner token.
    let responses = join_all(batches.iter().enumerate().map(|(c, batch)| {
        let (token, named) = if c % 2 == 0 {
            (operator.as_str(), Some(tenant.as_str()))
        } else {
            (owner.as_str(), None)
        };
        app.record_usage(token, named, batch)
    }))
    .await;

    // Assert
    let what = format!("50 concurrent clients on {}", backend());
    let mut accepted: HashMap<String, Value> = HashMap::new();
    let mut duplicates = Vec::new();
    let mut charges = Vec::new();
    for (c, r) in responses.iter().enumerate() {
        let p = &r.data()["recordUsage"];
        let (a, d, rejected) = tally(p);
        assert_eq!((a + d, rejected), (20, 0), "{what}: client {c}: {p}");
        for (j, result) in results(p).iter().enumerate() {
            let key = str_of(&result["idempotencyKey"]).to_owned();
            assert_eq!(result["index"], j, "{what}: {result}");
            assert_eq!(key, pool_key(c, j), "{what}: {result}");
            match str_of(&result["status"]) {
                "ACCEPTED" => {
                    let earlier = accepted.insert(key.clone(), result.clone());
                    assert!(
                        earlier.is_none(),
                        "{what}: {key} accepted twice: {earlier:?} and {result}"
                    );
                }
                "DUPLICATE" => duplicates.push(result.clone()),
                other => panic!("{what}: {other} for {result}"),
            }
        }
        charges.extend(charges_of_call(p, &format!("{what}: client {c}")));
    }
    assert_eq!(
        ids(accepted.values(), "idempotencyKey").len(),
        distinct.len(),
        "{what}: one accepted event per distinct key"
    );
    assert_eq!(accepted.len(), distinct.len(), "{what}");
    assert_eq!(duplicates.len(), sent - distinct.len(), "{what}");
    for d in &duplicates {
        let first = &accepted[str_of(&d["idempotencyKey"])];
        assert_eq!(d["eventId"], first["eventId"], "{what}: {d} vs {first}");
        assert_eq!(
            d["blockCharges"], first["blockCharges"],
            "{what}: {d} vs {first}"
        );
    }
    let event_ids = ids(accepted.values(), "eventId");
    assert_eq!(
        event_ids.len(),
        distinct.len(),
        "{what}: event ids are distinct"
    );
    for c in &charges {
        assert!(
            event_ids.contains(str_of(&c["eventId"])),
            "{what}: a block charge of no accepted event: {c}"
        );
    }
    let s = tokens_summary(&app, &tenant).await;
    assert_eq!(s["events"], accepted.len(), "{what}: {s}");
    let tier = seed_tier(blocks);
    assert_seed_period(
        &app,
        &tenant,
        (total, FEE + blocks * BLOCK_PRICE, blocks, &tier),
        &charges,
        &what,
    )
    .await;
}
