//! The billing invariants: each one broken on purpose through SQL, after which the next
//! billing-jobs run (`runBillingJobs`) reports it in `billing_invariant_violations{check}` on
//! `/metrics` and a check logs it with the ids involved, while a healthy database reports 0 for
//! every check.
use std::sync::{Arc, Mutex};

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tracing::instrument::WithSubscriber;

use crate::helpers::*;
use crate::observability::{sample, scrape};

const CHECKS: [&str; 4] = [
    "wallet_balance_equals_ledger",
    "block_charges_match_formula",
    "invoice_total_equals_lines",
    "invoice_numbers_gapless",
];

/// Each check's gauge after a billing-jobs run.
async fn violations(app: &TestApp) -> Vec<(&'static str, f64)> {
    app.run_jobs().await;
    let (status, text) = scrape(app, &format!("{}/metrics", app.address)).await;
    assert_eq!(status, 200);
    CHECKS
        .iter()
        .map(|c| {
            let series = format!("billing_invariant_violations{{check=\"{c}\"}}");
            let v = sample(&text, &series).unwrap_or_else(|| panic!("{series} missing"));
            (*c, v)
        })
        .collect()
}

/// What one run of the checks logs, captured as the number check's unit test does: a plain
/// `fmt` subscriber writing into a buffer, attached to this run only. Errors only: a slow
/// statement's warning is no violation.
async fn logged(app: &TestApp) -> String {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::ERROR)
        .with_writer(move || Capture(sink.clone()))
        .finish();
    billing::jobs::invariants::check(&app.state)
        .with_subscriber(subscriber)
        .await
        .expect("the checks run");
    let bytes = buf.lock().expect("log").clone();
    String::from_utf8(bytes).expect("utf-8")
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Asserts that a violation of `check` is logged at `ERROR` on one line naming every one of
/// `ids`.
fn names(log: &str, check: &str, ids: &[&str]) {
    let found = log
        .lines()
        .any(|l| l.contains("ERROR") && l.contains(check) && ids.iter().all(|id| l.contains(id)));
    assert!(found, "no {check} violation naming {ids:?} in:\n{log}");
}

async fn sql(app: &TestApp, statement: &str) {
    let done = app
        .state
        .db
        .execute_unprepared(statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    assert!(done.rows_affected() >= 1, "{statement} changed nothing");
}

/// Asserts that exactly `broken` reports violations, `rows` of them.
fn only(found: &[(&str, f64)], broken: &str, rows: f64) {
    for (check, v) in found {
        let want = if *check == broken { rows } else { 0.0 };
        assert_eq!(*v, want, "{check}: {found:?}");
    }
}

/// An app with a tenant subscribed to a plan charging blocks at once, 25 tokens used (two
/// blocks), credits granted and spent, and two finalized invoices: every invariant holds.
async fn healthy() -> (TestApp, Subscribed) {
    let app = spawn_app().await;
    app.create_metric("tokens").await;
    app.as_admin(
        "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
        json!({ "i": { "code": "metered", "name": "Metered", "monthlyPriceMinor": "1000",
            "trialDays": 0, "charges": [block_charge("tokens", "IMMEDIATELY", 10, 10, 500)] } }),
    )
    .await
    .data();
    let sub = app.subscribed("acme", "metered").await;
    let r = app
        .record_usage(&sub.owner, None, [usage_event("tokens", 25, "k-1")])
        .await;
    assert_eq!(statuses(&r.data()["recordUsage"]), ["ACCEPTED"]);
    app.as_admin(
        "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
        json!({ "i": { "tenantId": sub.tenant, "credits": "10", "reason": "test" } }),
    )
    .await
    .data();
    finalized(&app, &sub.tenant, 700).await;
    finalized(&app, &sub.tenant, 900).await;
    only(&violations(&app).await, "none", 0.0);
    assert_eq!(logged(&app).await, "", "a healthy database logs nothing");
    (app, sub)
}

/// The finalized invoice of 700 or 900 (the two `healthy` made).
async fn invoice_of(app: &TestApp, tenant: &str, total: &str) -> Value {
    let invoices = app.invoices_of(tenant).await;
    invoices
        .into_iter()
        .find(|i| i["total"]["amountMinor"] == total)
        .unwrap_or_else(|| panic!("no invoice of {total}"))
}

#[tokio::test]
async fn a_wallet_balance_off_its_ledger_is_reported() {
    let (app, sub) = healthy().await;
    sql(&app, "UPDATE wallets SET balance_micro = balance_micro + 5").await;
    only(&violations(&app).await, "wallet_balance_equals_ledger", 1.0);
    names(
        &logged(&app).await,
        "wallet_balance_equals_ledger",
        &[&format!("tenant={}", sub.tenant)],
    );
}

#[tokio::test]
async fn a_missing_block_charge_is_reported() {
    let (app, sub) = healthy().await;
    sql(&app, "DELETE FROM block_charges WHERE block_index = 2").await;
    only(&violations(&app).await, "block_charges_match_formula", 1.0);
    let subscription = str_of(&sub.subscription["id"]);
    names(
        &logged(&app).await,
        "block_charges_match_formula",
        &[&format!("subscription={subscription}"), "cycle=1"],
    );
}

#[tokio::test]
async fn an_invoice_total_off_its_lines_is_reported() {
    let (app, sub) = healthy().await;
    let invoice = invoice_of(&app, &sub.tenant, "700").await;
    let number = str_of(&invoice["number"]);
    sql(
        &app,
        &format!("UPDATE invoices SET total_minor = total_minor + 1 WHERE number = '{number}'"),
    )
    .await;
    only(&violations(&app).await, "invoice_total_equals_lines", 1.0);
    names(
        &logged(&app).await,
        "invoice_total_equals_lines",
        &[&format!("invoice={}", str_of(&invoice["id"]))],
    );
}

#[tokio::test]
async fn a_gap_in_the_invoice_numbers_is_reported() {
    let (app, sub) = healthy().await;
    let invoice = invoice_of(&app, &sub.tenant, "700").await;
    let number = str_of(&invoice["number"]);
    sql(
        &app,
        &format!("UPDATE invoices SET number = NULL WHERE number = '{number}'"),
    )
    .await;
    only(&violations(&app).await, "invoice_numbers_gapless", 1.0);
    let (year, seq) = number.split_once('-').expect("YYYY-NNNNNN");
    let seq: i64 = seq.parse().expect("a sequence number");
    names(
        &logged(&app).await,
        "invoice_numbers_gapless",
        &[&format!("year={year}"), &format!("missing=[{seq}]")],
    );
}

/// Two plans of one fee, so that a change between them applies at once: "small" includes 10
/// tokens and charges blocks of 10 at 500, "big" includes 30 and charges blocks of 10 at 700.
async fn two_block_plans(app: &TestApp) {
    app.create_metric("tokens").await;
    for (code, included, price) in [("small", 10, 500), ("big", 30, 700)] {
        app.as_admin(
            "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
            json!({ "i": { "code": code, "name": code, "monthlyPriceMinor": "1000",
                "trialDays": 0, "charges": [block_charge("tokens", "IMMEDIATELY", included, 10, price)] } }),
        )
        .await
        .data();
    }
}

/// Reports `quantity` tokens and returns the block indexes it charged.
async fn report(app: &TestApp, owner: &str, key: &str, quantity: i64) -> Vec<i64> {
    let r = app
        .record_usage(owner, None, [usage_event("tokens", quantity, key)])
        .await;
    let payload = &r.data()["recordUsage"];
    assert_eq!(statuses(payload), ["ACCEPTED"], "{payload}");
    payload["blockCharges"]
        .as_array()
        .expect("block charges")
        .iter()
        .map(|c| c["blockIndex"].as_i64().expect("block index"))
        .collect()
}

/// A subscription whose first period charged blocks 1 and 2 under "small" and, after a change
/// to "big" within it, block 3 under "big"; the billing clock then moved it into period 2,
/// which charged one more. Every invariant holds.
async fn past_period() -> (TestApp, Subscribed) {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    two_block_plans(&app).await;
    let sub = app.subscribed("acme", "small").await;
    assert_eq!(report(&app, &sub.owner, "p1-a", 25).await, [1, 2]);
    app.as_token(
        &sub.owner,
        "mutation { changePlan(input: { planCode: \"big\" }) { subscription { plan { code } } } }",
        json!({}),
    )
    .await
    .data();
    assert_eq!(
        report(&app, &sub.owner, "p1-b", 20).await,
        Vec::<i64>::new()
    );
    assert_eq!(report(&app, &sub.owner, "p1-c", 10).await, [3]);
    app.advance_to("2026-04-02T00:00:00Z").await;
    assert_eq!(report(&app, &sub.owner, "p2-a", 35).await, [1]);
    only(&violations(&app).await, "none", 0.0);
    assert_eq!(logged(&app).await, "", "a healthy database logs nothing");
    (app, sub)
}

/// A past period is checked too, against the plans it ran on: without its block 3 (charged
/// under "big"), 55 tokens under "big" owe one more block than period 1 has.
#[tokio::test]
async fn a_missing_block_charge_of_a_past_period_is_reported() {
    let (app, sub) = past_period().await;
    sql(
        &app,
        "DELETE FROM block_charges WHERE cycle = 1 AND block_index = 3",
    )
    .await;
    only(&violations(&app).await, "block_charges_match_formula", 1.0);
    let subscription = str_of(&sub.subscription["id"]);
    names(
        &logged(&app).await,
        "block_charges_match_formula",
        &[&format!("subscription={subscription}"), "cycle=1"],
    );
}

async fn count(app: &TestApp, query: &str) -> i64 {
    let db = &app.state.db;
    let statement = Statement::from_string(db.get_database_backend(), query.to_owned());
    let row = db
        .query_one_raw(statement)
        .await
        .expect(query)
        .expect("a row");
    row.try_get_by_index(0).expect("a count")
}

/// Rows as before m0015 (no plan recorded): its backfill gives them the subscription's plan
/// where it fits (the blocks at "big"'s price, the current period's usage) and leaves the rest
/// unknown, with no false alarm; a past period's numbering is still checked.
#[tokio::test]
async fn blocks_from_before_plans_were_recorded_are_backfilled_and_still_checked() {
    let (app, _) = past_period().await;
    sql(&app, "UPDATE block_charges SET plan_id = NULL").await;
    sql(&app, "UPDATE usage_totals SET plan_id = NULL").await;
    migration::backfill_block_plans(&app.state.db)
        .await
        .expect("backfill");
    let unknown = "SELECT COUNT(*) FROM block_charges WHERE plan_id IS NULL";
    assert_eq!(count(&app, unknown).await, 2, "the blocks at small's price");
    let unknown = "SELECT COUNT(*) FROM usage_totals WHERE plan_id IS NULL";
    assert_eq!(count(&app, unknown).await, 1, "period 1's usage");
    only(&violations(&app).await, "none", 0.0);

    sql(
        &app,
        "DELETE FROM block_charges WHERE cycle = 1 AND block_index = 2",
    )
    .await;
    only(&violations(&app).await, "block_charges_match_formula", 1.0);
}
