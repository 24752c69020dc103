//! The billing invariants: each one broken on purpose through SQL, after which the next
//! billing-jobs run (`runBillingJobs`) reports it in `billing_invariant_violations{check}` on
//! `/metrics`, while a healthy database reports 0 for every check.
use sea_orm::ConnectionTrait;
use serde_json::json;

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
async fn healthy() -> (TestApp, String) {
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
    (app, sub.tenant)
}

/// The number of a finalized invoice of 700 or 900 (the two `healthy` made).
async fn number_of_invoice_of(app: &TestApp, tenant: &str, total: &str) -> String {
    let invoices = app.invoices_of(tenant).await;
    let invoice = invoices
        .iter()
        .find(|i| i["total"]["amountMinor"] == total)
        .unwrap_or_else(|| panic!("no invoice of {total}: {invoices:?}"));
    str_of(&invoice["number"]).to_owned()
}

#[tokio::test]
async fn a_wallet_balance_off_its_ledger_is_reported() {
    let (app, _) = healthy().await;
    sql(&app, "UPDATE wallets SET balance_micro = balance_micro + 5").await;
    only(&violations(&app).await, "wallet_balance_equals_ledger", 1.0);
}

#[tokio::test]
async fn a_missing_block_charge_is_reported() {
    let (app, _) = healthy().await;
    sql(&app, "DELETE FROM block_charges WHERE block_index = 2").await;
    only(&violations(&app).await, "block_charges_match_formula", 1.0);
}

#[tokio::test]
async fn an_invoice_total_off_its_lines_is_reported() {
    let (app, tenant) = healthy().await;
    let number = number_of_invoice_of(&app, &tenant, "700").await;
    sql(
        &app,
        &format!("UPDATE invoices SET total_minor = total_minor + 1 WHERE number = '{number}'"),
    )
    .await;
    only(&violations(&app).await, "invoice_total_equals_lines", 1.0);
}

#[tokio::test]
async fn a_gap_in_the_invoice_numbers_is_reported() {
    let (app, tenant) = healthy().await;
    let number = number_of_invoice_of(&app, &tenant, "700").await;
    sql(
        &app,
        &format!("UPDATE invoices SET number = NULL WHERE number = '{number}'"),
    )
    .await;
    only(&violations(&app).await, "invoice_numbers_gapless", 1.0);
}
