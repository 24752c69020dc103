//! Subscriptions over a standing-still clock: trials, renewals, month-end anchors, yearly plans,
//! proration, scheduled downgrades, cancellation, the billing jobs, roles and revenue.
use billing::config::{Environment, Secret};
use billing::domain::Role;
use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::*;

const PAYLOAD: &str = "subscription { __SUB__ } invoice { __INV__ }";

fn payload_fields() -> String {
    PAYLOAD
        .replace("__SUB__", SUBSCRIPTION_FIELDS)
        .replace("__INV__", INVOICE_FIELDS)
}

/// Asserts subtotal, discount and total of an invoice.
fn assert_amounts(inv: &Value, subtotal: i64, discount: i64, total: i64, what: &str) {
    assert_eq!(
        (
            minor(&inv["subtotal"]),
            minor(&inv["discount"]),
            minor(&inv["total"])
        ),
        (subtotal, discount, total),
        "{what}: subtotal/discount/total of {inv}"
    );
}

/// Asserts the invoice covers [start, end).
fn assert_period(v: &Value, start: &str, end: &str, what: &str) {
    assert_eq!(
        (at(&v["periodStart"]), at(&v["periodEnd"])),
        (ts(start), ts(end)),
        "{what}: period of {v}"
    );
}

/// Asserts the subscription's current period is [start, end).
fn assert_current_period(sub: &Value, start: &str, end: &str, what: &str) {
    assert_eq!(
        (at(&sub["currentPeriodStart"]), at(&sub["currentPeriodEnd"])),
        (ts(start), ts(end)),
        "{what}: current period of {sub}"
    );
}

async fn subscribe_ok(app: &TestApp, token: &str, input: Value) -> Value {
    let r = app.subscribe(token, input).await;
    r.data()["createSubscription"].clone()
}

async fn mark_paid(app: &TestApp, invoice: &Value) {
    let r = app
        .as_admin(
            "mutation($id: ID!) { markInvoicePaid(id: $id) { status amountPaid { amountMinor } amountDue { amountMinor } } }",
            json!({ "id": invoice["id"] }),
        )
        .await;
    let paid = &r.data()["markInvoicePaid"];
    assert_eq!(paid["status"], "PAID", "{paid}");
    assert_eq!(minor(&paid["amountPaid"]), minor(&paid["amountDue"]));
}

async fn change_plan(app: &TestApp, token: &str, tenant: Option<&str>, plan: &str) -> Gql {
    let q = format!(
        "mutation($t: ID, $p: String!) {{ changePlan(input: {{ tenantId: $t, planCode: $p }}) {{ {} }} }}",
        payload_fields()
    );
    app.as_token(token, &q, json!({ "t": tenant, "p": plan }))
        .await
}

async fn cancel(app: &TestApp, token: &str, tenant: Option<&str>, at_period_end: bool) -> Gql {
    let q = format!(
        "mutation($t: ID, $e: Boolean!) {{ cancelSubscription(input: {{ tenantId: $t, atPeriodEnd: $e }}) {{ {} }} }}",
        payload_fields()
    );
    app.as_token(token, &q, json!({ "t": tenant, "e": at_period_end }))
        .await
}

async fn resume(app: &TestApp, token: &str) -> Gql {
    let q = format!(
        "mutation {{ resumeSubscription {{ {} }} }}",
        payload_fields()
    );
    app.as_token(token, &q, json!({})).await
}

fn of_kind<'a>(notes: &'a [Value], kind: &str) -> Vec<&'a Value> {
    notes.iter().filter(|n| n["kind"] == kind).collect()
}

async fn advance_clock(app: &TestApp, token: &str, input: Value) -> Gql {
    app.as_token(
        token,
        "mutation($i: AdvanceClockInput!) { advanceClock(input: $i) { now jobs { now trialsEnded renewals planChanges cancellations invoicesIssued pastDue notifications } } }",
        json!({ "i": input }),
    )
    .await
}

/// The year-long scenario shared by the two variants: a 2900/month plan with a 14-day trial and
/// the 20% coupon for three periods, subscribed on 2026-01-10.
async fn trial_with_coupon(app: &TestApp) -> (String, Value) {
    app.create_plan("starter", 2900, Some(29000), 14).await;
    app.create_coupon(json!({
        "code": "LAUNCH20", "name": "20% off for three months", "percentOff": 20,
        "duration": "REPEATING", "durationPeriods": 3
    }))
    .await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    let created = subscribe_ok(
        app,
        &owner,
        json!({ "planCode": "starter", "couponCode": "LAUNCH20" }),
    )
    .await;
    assert!(
        created["invoice"].is_null(),
        "no invoice for a trial: {created}"
    );
    let sub = &created["subscription"];
    assert_eq!(sub["status"], "TRIALING");
    assert_eq!(sub["cycle"], 0);
    assert_eq!(sub["interval"], "MONTHLY");
    assert!(str_of(&sub["id"]).starts_with("sub_"), "{sub}");
    assert_eq!(at(&sub["trialStart"]), ts("2026-01-10T00:00:00Z"));
    assert_eq!(at(&sub["trialEnd"]), ts("2026-01-24T00:00:00Z"));
    assert_eq!(sub["discount"]["couponCode"], "LAUNCH20");
    assert_eq!(sub["discount"]["percentOff"], 20);
    assert_eq!(sub["discount"]["firstCycle"], 1);
    assert_eq!(sub["discount"]["lastCycle"], 3);
    (tenant, sub.clone())
}

/// The twelve invoices of the first year: cycles, periods, amounts, numbers and reasons.
fn assert_first_year_invoices(invoices: &[Value], subscription_id: &Value) {
    assert_eq!(invoices.len(), 12, "{invoices:#?}");
    let mut sum = 0;
    for (i, inv) in invoices.iter().enumerate() {
        let n = i + 1;
        let what = format!("invoice {n}");
        let start = format!("2026-{n:02}-24T00:00:00Z");
        let end = if n == 12 {
            "2027-01-24T00:00:00Z".to_owned()
        } else {
            format!("2026-{:02}-24T00:00:00Z", n + 1)
        };
        assert_eq!(inv["cycle"], n, "{what}");
        assert_eq!(&inv["subscriptionId"], subscription_id, "{what}");
        assert_period(inv, &start, &end, &what);
        assert_eq!(inv["number"], format!("2026-{n:06}"), "{what}");
        assert_eq!(
            inv["billingReason"],
            if n == 1 {
                "SUBSCRIPTION_CREATE"
            } else {
                "SUBSCRIPTION_CYCLE"
            },
            "{what}"
        );
        assert_eq!(inv["currency"], "BRL", "{what}");
        if n <= 3 {
            assert_amounts(inv, 2900, 580, 2320, &what);
            assert_eq!(inv["couponCode"], "LAUNCH20", "{what}");
        } else {
            assert_amounts(inv, 2900, 0, 2900, &what);
            assert!(inv["couponCode"].is_null(), "{what}: {inv}");
        }
        let lines = inv["lines"].as_array().expect("lines");
        assert_eq!(lines.len(), 1, "{what}: {inv}");
        assert_eq!(lines[0]["kind"], "fee", "{what}");
        assert_eq!(lines[0]["quantity"], "1", "{what}");
        assert_eq!(minor(&lines[0]["unitAmount"]), 2900, "{what}");
        assert_eq!(minor(&lines[0]["amount"]), 2900, "{what}");
        assert_period(&lines[0], &start, &end, &format!("{what} fee line"));
        sum += minor(&inv["total"]);
    }
    assert_eq!(sum, 33060);
}

#[tokio::test]
async fn a_trial_with_a_three_period_coupon_paid_month_by_month_bills_twelve_invoices_in_a_year() {
    let app = spawn_app_at("2026-01-10T00:00:00Z").await;
    let (tenant, sub) = trial_with_coupon(&app).await;

    // Still in the trial the day before it ends: nothing billed.
    let report = app.advance_days(13).await;
    assert_eq!(report["invoicesIssued"], 0, "{report}");
    assert!(app.invoices_of(&tenant).await.is_empty());
    let trialing = app.subscription_of(&tenant).await;
    assert_eq!(trialing["status"], "TRIALING");
    assert_eq!(trialing["cycle"], 0);

    // The trial ends on 2026-01-24: cycle 1 starts with its invoice.
    let report = app.advance_days(1).await;
    assert_eq!(report["trialsEnded"], 1, "{report}");
    assert_eq!(report["invoicesIssued"], 1, "{report}");
    let invoices = app.invoices_of(&tenant).await;
    assert_eq!(invoices.len(), 1);
    assert_eq!(app.subscription_of(&tenant).await["status"], "ACTIVE");
    mark_paid(&app, &invoices[0]).await;

    // Each following month: jump to the 24th, one renewal and one invoice, paid at once.
    let mut now = ts("2026-01-24T00:00:00Z");
    for month in 2..=12u32 {
        let boundary = ts(&format!("2026-{month:02}-24T00:00:00Z"));
        let days = i32::try_from((boundary - now).num_days()).expect("days");
        let report = app.advance_days(days).await;
        assert_eq!(at(&report["now"]), boundary, "{report}");
        assert_eq!(report["renewals"], 1, "month {month}: {report}");
        assert_eq!(report["invoicesIssued"], 1, "month {month}: {report}");
        let invoices = app.invoices_of(&tenant).await;
        assert_eq!(invoices.len(), month as usize, "month {month}");
        let latest = invoices.last().expect("an invoice");
        assert_eq!(latest["status"], "OPEN");
        assert_eq!(at(&latest["issuedAt"]), boundary);
        assert_eq!(at(&latest["dueAt"]), boundary + Duration::days(7));
        mark_paid(&app, latest).await;
        let s = app.subscription_of(&tenant).await;
        assert_eq!(s["status"], "ACTIVE", "month {month}");
        assert_eq!(s["cycle"], month, "month {month}");
        now = boundary;
    }

    // On to 2027-01-10: no thirteenth invoice yet.
    let days = i32::try_from((ts("2027-01-10T00:00:00Z") - now).num_days()).expect("days");
    let report = app.advance_days(days).await;
    assert_eq!(report["invoicesIssued"], 0, "{report}");

    let invoices = app.invoices_of(&tenant).await;
    assert_first_year_invoices(&invoices, &sub["id"]);
    assert!(
        invoices.iter().all(|i| i["status"] == "PAID"),
        "{invoices:#?}"
    );
    let end = app.subscription_of(&tenant).await;
    assert_eq!(end["id"], sub["id"]);
    assert_eq!(end["status"], "ACTIVE");
    assert_eq!(end["cycle"], 12);
    assert_current_period(
        &end,
        "2026-12-24T00:00:00Z",
        "2027-01-24T00:00:00Z",
        "after a year",
    );
}

#[tokio::test]
async fn a_year_skipped_in_one_jump_issues_each_invoice_at_its_own_boundary_and_ends_past_due() {
    let app = spawn_app_at("2026-01-10T00:00:00Z").await;
    let (tenant, sub) = trial_with_coupon(&app).await;

    let report = app.advance_to("2027-01-10T00:00:00Z").await;
    assert_eq!(at(&report["now"]), ts("2027-01-10T00:00:00Z"));
    assert_eq!(report["trialsEnded"], 1, "{report}");
    assert_eq!(report["invoicesIssued"], 12, "{report}");

    let invoices = app.invoices_of(&tenant).await;
    assert_first_year_invoices(&invoices, &sub["id"]);
    for inv in &invoices {
        assert_eq!(inv["status"], "OPEN", "{inv}");
        let boundary = at(&inv["periodStart"]);
        assert_eq!(at(&inv["issuedAt"]), boundary, "{inv}");
        assert_eq!(at(&inv["dueAt"]), boundary + Duration::days(7), "{inv}");
    }

    let end = app.subscription_of(&tenant).await;
    assert_eq!(end["status"], "PAST_DUE");
    assert_eq!(end["cycle"], 12);
    assert_current_period(
        &end,
        "2026-12-24T00:00:00Z",
        "2027-01-24T00:00:00Z",
        "after the jump",
    );

    // All twelve are more than 3 days past due on 2027-01-10: one notice each.
    let notes = app.notifications_of(&tenant).await;
    let overdue = of_kind(&notes, "invoice_overdue");
    let mut referenced: Vec<&str> = overdue.iter().map(|n| str_of(&n["reference"])).collect();
    referenced.sort_unstable();
    let mut ids: Vec<&str> = invoices.iter().map(|i| str_of(&i["id"])).collect();
    ids.sort_unstable();
    assert_eq!(referenced, ids);

    // Nothing more on a second run at the same moment.
    let again = app.run_jobs().await;
    assert_eq!(again["invoicesIssued"], 0, "{again}");
    assert_eq!(again["notifications"], 0, "{again}");
    assert_eq!(app.invoices_of(&tenant).await.len(), 12);
    assert_eq!(app.notifications_of(&tenant).await.len(), notes.len());
}

#[tokio::test]
async fn a_subscription_started_on_jan_31_renews_on_the_last_day_of_shorter_months() {
    let app = spawn_app_at("2026-01-31T10:00:00Z").await;
    app.create_plan("starter", 2900, None, 0).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    let created = subscribe_ok(&app, &owner, json!({ "planCode": "starter" })).await;
    assert_eq!(created["subscription"]["status"], "ACTIVE");
    assert_eq!(created["subscription"]["cycle"], 1);
    assert_period(
        &created["invoice"],
        "2026-01-31T10:00:00Z",
        "2026-02-28T10:00:00Z",
        "first invoice",
    );

    let boundaries = [
        "2026-01-31T10:00:00Z",
        "2026-02-28T10:00:00Z",
        "2026-03-31T10:00:00Z",
        "2026-04-30T10:00:00Z",
        "2026-05-31T10:00:00Z",
    ];
    for cycle in 2..=4usize {
        let invoices = app.invoices_of(&tenant).await;
        mark_paid(&app, invoices.last().expect("invoice")).await;
        app.advance_to(boundaries[cycle - 1]).await;
        let sub = app.subscription_of(&tenant).await;
        assert_eq!(sub["cycle"], cycle);
        assert_current_period(
            &sub,
            boundaries[cycle - 1],
            boundaries[cycle],
            &format!("cycle {cycle}"),
        );
    }
    let invoices = app.invoices_of(&tenant).await;
    assert_eq!(invoices.len(), 4);
    for (i, inv) in invoices.iter().enumerate() {
        assert_eq!(inv["cycle"], i + 1);
        assert_period(
            inv,
            boundaries[i],
            boundaries[i + 1],
            &format!("invoice {}", i + 1),
        );
    }
}

#[tokio::test]
async fn a_subscription_started_on_jan_31_of_a_leap_year_renews_on_feb_29_then_mar_31() {
    let app = spawn_app_at("2028-01-31T10:00:00Z").await;
    app.create_plan("starter", 2900, None, 0).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    subscribe_ok(&app, &owner, json!({ "planCode": "starter" })).await;
    // Jump straight to the second boundary: the jobs catch up one period at a time.
    app.advance_to("2028-03-31T10:00:00Z").await;
    let invoices = app.invoices_of(&tenant).await;
    assert_eq!(invoices.len(), 3);
    assert_period(
        &invoices[0],
        "2028-01-31T10:00:00Z",
        "2028-02-29T10:00:00Z",
        "cycle 1",
    );
    assert_period(
        &invoices[1],
        "2028-02-29T10:00:00Z",
        "2028-03-31T10:00:00Z",
        "cycle 2",
    );
    assert_period(
        &invoices[2],
        "2028-03-31T10:00:00Z",
        "2028-04-30T10:00:00Z",
        "cycle 3",
    );
    assert_eq!(at(&invoices[1]["issuedAt"]), ts("2028-02-29T10:00:00Z"));
    let sub = app.subscription_of(&tenant).await;
    assert_eq!(sub["cycle"], 3);
    assert_current_period(
        &sub,
        "2028-03-31T10:00:00Z",
        "2028-04-30T10:00:00Z",
        "cycle 3",
    );
}

#[tokio::test]
async fn a_yearly_subscription_is_invoiced_the_yearly_fee_once_a_year() {
    let app = spawn_app_at("2026-01-10T00:00:00Z").await;
    app.create_plan("starter", 2900, Some(29000), 0).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    let created = subscribe_ok(
        &app,
        &owner,
        json!({ "planCode": "starter", "interval": "YEARLY" }),
    )
    .await;
    let sub = &created["subscription"];
    assert_eq!(sub["interval"], "YEARLY");
    assert_eq!(sub["status"], "ACTIVE");
    let first = &created["invoice"];
    assert_amounts(first, 29000, 0, 29000, "first year");
    assert_eq!(first["billingReason"], "SUBSCRIPTION_CREATE");
    assert_eq!(minor(&first["lines"][0]["unitAmount"]), 29000);
    assert_period(
        first,
        "2026-01-10T00:00:00Z",
        "2027-01-10T00:00:00Z",
        "first year",
    );
    mark_paid(&app, first).await;

    // Months pass within the year: nothing new.
    let report = app.advance_days(200).await;
    assert_eq!(report["invoicesIssued"], 0, "{report}");
    app.advance_to("2027-01-09T23:59:59Z").await;
    assert_eq!(app.invoices_of(&tenant).await.len(), 1);

    let report = app.advance_to("2027-01-10T00:00:00Z").await;
    assert_eq!(report["renewals"], 1, "{report}");
    assert_eq!(report["invoicesIssued"], 1, "{report}");
    let invoices = app.invoices_of(&tenant).await;
    assert_eq!(invoices.len(), 2);
    let second = &invoices[1];
    assert_amounts(second, 29000, 0, 29000, "second year");
    assert_eq!(second["billingReason"], "SUBSCRIPTION_CYCLE");
    assert_eq!(second["cycle"], 2);
    assert_eq!(second["number"], "2027-000001");
    assert_period(
        second,
        "2027-01-10T00:00:00Z",
        "2028-01-10T00:00:00Z",
        "second year",
    );
    let sub = app.subscription_of(&tenant).await;
    assert_eq!(sub["cycle"], 2);
    assert_current_period(
        &sub,
        "2027-01-10T00:00:00Z",
        "2028-01-10T00:00:00Z",
        "second year",
    );
}

#[tokio::test]
async fn yearly_billing_on_a_plan_without_a_yearly_price_is_refused_and_creates_nothing() {
    let app = spawn_app_at("2026-01-10T00:00:00Z").await;
    app.create_plan("monthly-only", 2900, None, 0).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    let r = app
        .subscribe(
            &owner,
            json!({ "planCode": "monthly-only", "interval": "YEARLY" }),
        )
        .await;
    assert_eq!(
        r.expect_code("VALIDATION")["extensions"]["field"],
        "interval"
    );
    assert!(app.subscription_of(&tenant).await.is_null());
    assert!(app.invoices_of(&tenant).await.is_empty());
    // An unknown plan is not found.
    app.subscribe(&owner, json!({ "planCode": "no-such-plan" }))
        .await
        .expect_code("NOT_FOUND");
}

#[tokio::test]
async fn a_mid_period_upgrade_is_prorated_by_the_second_and_renews_at_the_new_fee() {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    app.create_plan("starter", 2900, None, 0).await;
    app.create_plan("professional", 9900, None, 0).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    let created = subscribe_ok(&app, &owner, json!({ "planCode": "starter" })).await;
    mark_paid(&app, &created["invoice"]).await;

    app.advance_to("2026-03-11T00:00:00Z").await;
    let r = change_plan(&app, &owner, None, "professional").await;
    let changed = &r.data()["changePlan"];
    let sub = &changed["subscription"];
    assert_eq!(sub["plan"]["code"], "professional");
    assert!(sub["scheduledPlan"].is_null());
    assert_eq!(sub["cycle"], 1);
    assert_current_period(
        sub,
        "2026-03-01T00:00:00Z",
        "2026-04-01T00:00:00Z",
        "the period does not change",
    );

    // 21 of 31 days remain: credit round(2900*21/31 = 1964.52) = 1965,
    // charge round(9900*21/31 = 6706.45) = 6706.
    let inv = &changed["invoice"];
    assert_eq!(inv["billingReason"], "SUBSCRIPTION_UPDATE");
    assert_eq!(inv["status"], "OPEN");
    assert_eq!(inv["number"], "2026-000002");
    assert_period(
        inv,
        "2026-03-11T00:00:00Z",
        "2026-04-01T00:00:00Z",
        "proration",
    );
    assert_eq!(at(&inv["issuedAt"]), ts("2026-03-11T00:00:00Z"));
    assert_eq!(at(&inv["dueAt"]), ts("2026-03-18T00:00:00Z"));
    assert_amounts(inv, 4741, 0, 4741, "proration");
    assert_eq!(minor(&inv["amountDue"]), 4741);
    let lines = inv["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 2, "{inv}");
    let credit = lines
        .iter()
        .find(|l| str_of(&l["description"]).starts_with("Unused time on"))
        .unwrap_or_else(|| panic!("no credit line in {inv}"));
    let charge = lines
        .iter()
        .find(|l| str_of(&l["description"]).starts_with("Remaining time on"))
        .unwrap_or_else(|| panic!("no charge line in {inv}"));
    assert_eq!(minor(&credit["amount"]), -1965);
    assert_eq!(minor(&charge["amount"]), 6706);
    for line in [credit, charge] {
        assert_eq!(line["kind"], "proration", "{line}");
        assert_period(
            line,
            "2026-03-11T00:00:00Z",
            "2026-04-01T00:00:00Z",
            "proration line",
        );
    }
    assert_eq!(app.invoices_of(&tenant).await.len(), 2);
    mark_paid(&app, inv).await;

    let report = app.advance_to("2026-04-01T00:00:00Z").await;
    assert_eq!(report["invoicesIssued"], 1, "{report}");
    let invoices = app.invoices_of(&tenant).await;
    assert_eq!(invoices.len(), 3);
    let renewal = &invoices[2];
    assert_eq!(renewal["billingReason"], "SUBSCRIPTION_CYCLE");
    assert_eq!(renewal["cycle"], 2);
    assert_amounts(renewal, 9900, 0, 9900, "renewal on professional");
    assert_period(
        renewal,
        "2026-04-01T00:00:00Z",
        "2026-05-01T00:00:00Z",
        "renewal",
    );
}

#[tokio::test]
async fn an_upgrade_at_an_odd_second_rounds_halves_away_from_zero() {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    app.create_plan("starter", 2900, None, 0).await;
    app.create_plan("professional", 9900, None, 0).await;
    let (_, owner) = app.tenant_with_owner("acme").await;
    let created = subscribe_ok(&app, &owner, json!({ "planCode": "starter" })).await;
    mark_paid(&app, &created["invoice"]).await;

    // Period [2026-03-01, 2026-04-01): total = 31 * 86400 = 2_678_400 s.
    // Change at 2026-03-31T20:16:48Z: remaining = 3h 43m 12s = 13_392 s.
    // credit = 2900 * 13_392 / 2_678_400 = 38_836_800 / 2_678_400 = 14.5 exactly -> 15
    // charge = 9900 * 13_392 / 2_678_400 = 132_580_800 / 2_678_400 = 49.5 exactly -> 50
    // (half-to-even would give 14 and 50; truncation 14 and 49). Total 50 - 15 = 35.
    app.advance_to("2026-03-31T20:16:48Z").await;
    let r = change_plan(&app, &owner, None, "professional").await;
    let inv = &r.data()["changePlan"]["invoice"];
    let mut amounts: Vec<i64> = inv["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| minor(&l["amount"]))
        .collect();
    amounts.sort_unstable();
    assert_eq!(amounts, [-15, 50], "{inv}");
    assert_amounts(inv, 35, 0, 35, "odd-second proration");
    assert_period(
        inv,
        "2026-03-31T20:16:48Z",
        "2026-04-01T00:00:00Z",
        "odd-second proration",
    );
}

#[tokio::test]
async fn a_downgrade_waits_for_the_period_end_and_can_be_taken_back() {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    app.create_plan("starter", 2900, None, 0).await;
    app.create_plan("professional", 9900, None, 0).await;
    let (down, down_owner) = app.tenant_with_owner("down").await;
    let (back, back_owner) = app.tenant_with_owner("back").await;
    for owner in [&down_owner, &back_owner] {
        let created = subscribe_ok(&app, owner, json!({ "planCode": "professional" })).await;
        mark_paid(&app, &created["invoice"]).await;
    }
    app.advance_to("2026-03-11T00:00:00Z").await;

    // Downgrade: scheduled, no invoice, the plan stays until the period end.
    for owner in [&down_owner, &back_owner] {
        let r = change_plan(&app, owner, None, "starter").await;
        let changed = &r.data()["changePlan"];
        assert!(changed["invoice"].is_null(), "{changed}");
        assert_eq!(changed["subscription"]["plan"]["code"], "professional");
        assert_eq!(changed["subscription"]["scheduledPlan"]["code"], "starter");
    }
    assert_eq!(app.invoices_of(&down).await.len(), 1);
    app.advance_to("2026-03-31T23:59:59Z").await;
    let sub = app.subscription_of(&down).await;
    assert_eq!(sub["plan"]["code"], "professional");
    assert_eq!(sub["scheduledPlan"]["code"], "starter");

    // Changing back to the current plan cancels the scheduled change.
    let r = change_plan(&app, &back_owner, None, "professional").await;
    let changed = &r.data()["changePlan"];
    assert!(changed["invoice"].is_null(), "{changed}");
    assert!(changed["subscription"]["scheduledPlan"].is_null());
    assert_eq!(changed["subscription"]["plan"]["code"], "professional");

    let report = app.advance_to("2026-04-01T00:00:00Z").await;
    assert_eq!(report["planChanges"], 1, "{report}");
    assert_eq!(report["renewals"], 2, "{report}");

    let sub = app.subscription_of(&down).await;
    assert_eq!(sub["plan"]["code"], "starter");
    assert!(sub["scheduledPlan"].is_null(), "{sub}");
    let invoices = app.invoices_of(&down).await;
    assert_eq!(invoices.len(), 2);
    assert_eq!(invoices[1]["billingReason"], "SUBSCRIPTION_CYCLE");
    assert_amounts(&invoices[1], 2900, 0, 2900, "renewal after the downgrade");

    let sub = app.subscription_of(&back).await;
    assert_eq!(sub["plan"]["code"], "professional");
    let invoices = app.invoices_of(&back).await;
    assert_eq!(invoices.len(), 2);
    assert_amounts(&invoices[1], 9900, 0, 9900, "renewal after taking it back");

    // The same plan with nothing scheduled is a conflict, and changes nothing.
    change_plan(&app, &down_owner, None, "starter")
        .await
        .expect_code("CONFLICT");
    let sub = app.subscription_of(&down).await;
    assert_eq!(sub["plan"]["code"], "starter");
    assert!(sub["scheduledPlan"].is_null());
    assert_eq!(app.invoices_of(&down).await.len(), 2);
}

#[tokio::test]
async fn a_plan_change_during_a_trial_applies_at_once_without_an_invoice() {
    let app = spawn_app_at("2026-01-10T00:00:00Z").await;
    app.create_plan("starter", 2900, None, 14).await;
    app.create_plan("professional", 9900, None, 14).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    subscribe_ok(&app, &owner, json!({ "planCode": "starter" })).await;
    app.advance_days(3).await;

    // Upgrade during the trial: now, no proration.
    let r = change_plan(&app, &owner, None, "professional").await;
    let changed = &r.data()["changePlan"];
    assert!(changed["invoice"].is_null(), "{changed}");
    assert_eq!(changed["subscription"]["status"], "TRIALING");
    assert_eq!(changed["subscription"]["plan"]["code"], "professional");
    assert!(changed["subscription"]["scheduledPlan"].is_null());

    // Downgrade during the trial: also now, not scheduled.
    let r = change_plan(&app, &owner, None, "starter").await;
    let changed = &r.data()["changePlan"];
    assert!(changed["invoice"].is_null(), "{changed}");
    assert_eq!(changed["subscription"]["plan"]["code"], "starter");
    assert!(changed["subscription"]["scheduledPlan"].is_null());
    assert!(app.invoices_of(&tenant).await.is_empty());

    // Back to professional; the first invoice at the trial end charges its fee.
    change_plan(&app, &owner, None, "professional").await.data();
    app.advance_to("2026-01-24T00:00:00Z").await;
    let invoices = app.invoices_of(&tenant).await;
    assert_eq!(invoices.len(), 1);
    assert_amounts(&invoices[0], 9900, 0, 9900, "first invoice after the trial");
    assert_eq!(invoices[0]["billingReason"], "SUBSCRIPTION_CREATE");
}

#[tokio::test]
async fn a_cancellation_at_period_end_can_be_resumed_or_ends_the_subscription_without_an_invoice() {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    app.create_plan("starter", 2900, None, 0).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    let created = subscribe_ok(&app, &owner, json!({ "planCode": "starter" })).await;
    mark_paid(&app, &created["invoice"]).await;
    app.advance_days(5).await;

    // Nothing pending yet.
    resume(&app, &owner).await.expect_code("CONFLICT");

    let r = cancel(&app, &owner, None, true).await;
    let canceled = &r.data()["cancelSubscription"];
    assert!(canceled["invoice"].is_null(), "{canceled}");
    assert_eq!(canceled["subscription"]["status"], "ACTIVE");
    assert_eq!(canceled["subscription"]["cancelAtPeriodEnd"], true);
    assert!(canceled["subscription"]["endedAt"].is_null());

    let r = resume(&app, &owner).await;
    let resumed = &r.data()["resumeSubscription"]["subscription"];
    assert_eq!(resumed["status"], "ACTIVE");
    assert_eq!(resumed["cancelAtPeriodEnd"], false);
    resume(&app, &owner).await.expect_code("CONFLICT");

    let r = cancel(&app, &owner, None, true).await;
    assert_eq!(
        r.data()["cancelSubscription"]["subscription"]["cancelAtPeriodEnd"],
        true
    );
    let report = app.advance_to("2026-03-31T23:59:59Z").await;
    assert_eq!(report["cancellations"], 0, "{report}");
    assert_eq!(app.subscription_of(&tenant).await["status"], "ACTIVE");

    let report = app.advance_to("2026-04-01T00:00:00Z").await;
    assert_eq!(report["cancellations"], 1, "{report}");
    assert_eq!(report["invoicesIssued"], 0, "{report}");
    let sub = app.subscription_of(&tenant).await;
    assert_eq!(sub["status"], "CANCELED");
    assert_eq!(at(&sub["endedAt"]), ts("2026-04-01T00:00:00Z"));
    assert_eq!(app.invoices_of(&tenant).await.len(), 1);

    // Nothing live any more.
    cancel(&app, &owner, None, true)
        .await
        .expect_code("NOT_FOUND");
    app.advance_days(60).await;
    assert_eq!(app.invoices_of(&tenant).await.len(), 1);
}

#[tokio::test]
async fn an_immediate_cancellation_ends_now_and_a_new_subscription_can_follow() {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    app.create_plan("starter", 2900, None, 0).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    let first = subscribe_ok(&app, &owner, json!({ "planCode": "starter" })).await;

    // While one is live, a second is a conflict.
    app.subscribe(&owner, json!({ "planCode": "starter" }))
        .await
        .expect_code("CONFLICT");
    assert_eq!(app.invoices_of(&tenant).await.len(), 1);

    app.advance_to("2026-03-05T12:00:00Z").await;
    let r = cancel(&app, &owner, None, false).await;
    let canceled = &r.data()["cancelSubscription"];
    assert!(canceled["invoice"].is_null(), "{canceled}");
    let sub = &canceled["subscription"];
    assert_eq!(sub["status"], "CANCELED");
    assert_eq!(at(&sub["canceledAt"]), ts("2026-03-05T12:00:00Z"));
    assert_eq!(at(&sub["endedAt"]), ts("2026-03-05T12:00:00Z"));
    let invoices = app.invoices_of(&tenant).await;
    assert_eq!(invoices.len(), 1);
    assert_amounts(&invoices[0], 2900, 0, 2900, "no refund");

    let second = subscribe_ok(&app, &owner, json!({ "planCode": "starter" })).await;
    assert_ne!(second["subscription"]["id"], first["subscription"]["id"]);
    assert_eq!(second["subscription"]["status"], "ACTIVE");
    assert_eq!(second["subscription"]["cycle"], 1);
    assert_current_period(
        &second["subscription"],
        "2026-03-05T12:00:00Z",
        "2026-04-05T12:00:00Z",
        "new subscription",
    );
    assert_eq!(second["invoice"]["billingReason"], "SUBSCRIPTION_CREATE");
    assert_eq!(app.invoices_of(&tenant).await.len(), 2);
    app.subscribe(&owner, json!({ "planCode": "starter" }))
        .await
        .expect_code("CONFLICT");
    assert_eq!(
        app.subscription_of(&tenant).await["id"],
        second["subscription"]["id"]
    );
}

#[tokio::test]
async fn running_the_billing_jobs_twice_at_the_same_moment_does_nothing_the_second_time() {
    let app = spawn_app_at("2026-01-10T00:00:00Z").await;
    app.create_plan("starter", 2900, None, 14).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    subscribe_ok(&app, &owner, json!({ "planCode": "starter" })).await;

    app.advance_days(14).await;
    assert_eq!(app.invoices_of(&tenant).await.len(), 1);
    let before = app.notifications_of(&tenant).await.len();
    for _ in 0..2 {
        let report = app.run_jobs().await;
        assert_eq!(at(&report["now"]), ts("2026-01-24T00:00:00Z"));
        for key in [
            "trialsEnded",
            "renewals",
            "planChanges",
            "cancellations",
            "invoicesIssued",
            "pastDue",
            "notifications",
        ] {
            assert_eq!(report[key], 0, "{key} in {report}");
        }
    }
    assert_eq!(app.invoices_of(&tenant).await.len(), 1);
    assert_eq!(app.notifications_of(&tenant).await.len(), before);
}

#[tokio::test]
async fn the_first_job_run_after_a_boundary_does_the_work_and_a_second_run_adds_nothing() {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    app.create_plan("starter", 2900, None, 0).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    subscribe_ok(&app, &owner, json!({ "planCode": "starter" })).await;
    let report = app.advance_to("2026-04-01T00:00:00Z").await;
    assert_eq!(report["renewals"], 1, "{report}");
    assert_eq!(report["invoicesIssued"], 1, "{report}");
    let again = app.run_jobs().await;
    assert_eq!(again["renewals"], 0, "{again}");
    assert_eq!(again["invoicesIssued"], 0, "{again}");
    assert_eq!(app.invoices_of(&tenant).await.len(), 2);
}

#[tokio::test]
async fn advancing_the_clock_is_forbidden_in_production() {
    let app = spawn_app_with(|c| {
        c.env = Environment::Production;
        c.jwt_secret = Secret::new("production-test-secret-0123456789-abcdefghij");
    })
    .await;
    let r = advance_clock(&app, &app.admin_token, json!({ "days": 1 })).await;
    r.expect_code("FORBIDDEN");
}

#[tokio::test]
async fn bad_clock_moves_are_refused_and_leave_the_clock_where_it_was() {
    let app = spawn_app_at("2026-01-10T00:00:00Z").await;
    let admin = app.admin_token.clone();
    let cases = [
        ("negative days", json!({ "days": -1 })),
        ("zero days", json!({ "days": 0 })),
        ("nothing", json!({})),
        ("negative hours", json!({ "hours": -2 })),
        ("negative seconds", json!({ "seconds": "-5" })),
        (
            "both to and days",
            json!({ "to": "2026-02-01T00:00:00Z", "days": 1 }),
        ),
        ("to in the past", json!({ "to": "2026-01-09T00:00:00Z" })),
        ("to now", json!({ "to": "2026-01-10T00:00:00Z" })),
        ("more than five years", json!({ "days": 2000 })),
    ];
    for (what, input) in cases {
        let r = advance_clock(&app, &admin, input).await;
        assert_eq!(r.code(), Some("VALIDATION"), "{what}: {}", r.body);
    }
    let report = app.run_jobs().await;
    assert_eq!(at(&report["now"]), ts("2026-01-10T00:00:00Z"));

    // Non-admins may neither move the clock nor run the jobs.
    let tenant = app.create_tenant("acme").await;
    for role in [Role::Owner, Role::Billing, Role::Member, Role::Service] {
        let token = app.tenant_token(&tenant, role);
        advance_clock(&app, &token, json!({ "days": 1 }))
            .await
            .expect_code("FORBIDDEN");
        app.as_token(&token, "mutation { runBillingJobs { now } }", json!({}))
            .await
            .expect_code("FORBIDDEN");
    }
    let report = app.run_jobs().await;
    assert_eq!(at(&report["now"]), ts("2026-01-10T00:00:00Z"));

    // A good move goes through.
    let r = advance_clock(&app, &admin, json!({ "hours": 5, "seconds": "30" })).await;
    assert_eq!(
        at(&r.data()["advanceClock"]["now"]),
        ts("2026-01-10T05:00:30Z")
    );
}

#[tokio::test]
async fn owners_and_billing_users_subscribe_their_own_tenant_members_and_strangers_cannot() {
    let app = spawn_app_at("2026-01-10T00:00:00Z").await;
    app.create_plan("starter", 2900, None, 0).await;
    let a = app.create_tenant("alpha").await;
    let b = app.create_tenant("beta").await;

    for role in [Role::Member, Role::Service] {
        app.subscribe(
            &app.tenant_token(&a, role),
            json!({ "planCode": "starter" }),
        )
        .await
        .expect_code("FORBIDDEN");
    }
    let owner_b = app.tenant_token(&b, Role::Owner);
    app.subscribe(&owner_b, json!({ "tenantId": a, "planCode": "starter" }))
        .await
        .expect_code("FORBIDDEN");
    assert!(app.subscription_of(&a).await.is_null());
    assert!(app.invoices_of(&a).await.is_empty());
    assert!(app.subscription_of(&b).await.is_null());

    let billing = app.tenant_token(&a, Role::Billing);
    let created = subscribe_ok(&app, &billing, json!({ "planCode": "starter" })).await;
    assert_eq!(created["subscription"]["tenantId"], a.as_str());
    assert_eq!(created["invoice"]["tenantId"], a.as_str());
    assert_eq!(app.invoices_of(&a).await.len(), 1);

    // Another tenant's owner cannot cancel or change it either.
    cancel(&app, &owner_b, Some(&a), false)
        .await
        .expect_code("FORBIDDEN");
    change_plan(&app, &owner_b, Some(&a), "starter")
        .await
        .expect_code("FORBIDDEN");
    cancel(&app, &app.tenant_token(&a, Role::Member), None, false)
        .await
        .expect_code("FORBIDDEN");
    let sub = app.subscription_of(&a).await;
    assert_eq!(sub["status"], "ACTIVE");
    assert_eq!(sub["cancelAtPeriodEnd"], false);
    assert!(app.subscription_of(&b).await.is_null());

    // An admin names the tenant.
    let created = subscribe_ok(
        &app,
        &app.admin_token,
        json!({ "tenantId": b, "planCode": "starter" }),
    )
    .await;
    assert_eq!(created["subscription"]["tenantId"], b.as_str());
}

#[tokio::test]
async fn the_revenue_summary_counts_monthly_fees_and_a_twelfth_of_yearly_fees() {
    let app = spawn_app_at("2026-01-10T00:00:00Z").await;
    app.create_plan("starter", 2900, Some(29000), 0).await;
    app.create_plan("professional", 9900, Some(99000), 0).await;
    let subs = [
        ("monthly-starter", json!({ "planCode": "starter" })),
        ("monthly-pro", json!({ "planCode": "professional" })),
        (
            "yearly-starter",
            json!({ "planCode": "starter", "interval": "YEARLY" }),
        ),
        (
            "trialing",
            json!({ "planCode": "professional", "trialDays": 14 }),
        ),
        ("canceled", json!({ "planCode": "professional" })),
    ];
    for (slug, input) in subs {
        let (_, owner) = app.tenant_with_owner(slug).await;
        subscribe_ok(&app, &owner, input).await;
        if slug == "canceled" {
            cancel(&app, &owner, None, false).await.data();
        }
    }

    let q = "{ revenueSummary { mrr { amountMinor currency } subscriptions { status planCode count } } }";
    let r = app.as_admin(q, json!({})).await;
    let summary = &r.data()["revenueSummary"];
    // 2900 + 9900 + round(29000 / 12 = 2416.67) = 2900 + 9900 + 2417 = 15217.
    assert_eq!(
        summary["mrr"],
        json!([{ "amountMinor": "15217", "currency": "BRL" }])
    );
    let mut counts: Vec<(String, String, i64)> = summary["subscriptions"]
        .as_array()
        .expect("subscriptions")
        .iter()
        .filter(|c| c["count"] != 0)
        .map(|c| {
            (
                str_of(&c["status"]).to_owned(),
                str_of(&c["planCode"]).to_owned(),
                c["count"].as_i64().expect("count"),
            )
        })
        .collect();
    counts.sort();
    let expected: Vec<(String, String, i64)> = [
        ("ACTIVE", "professional", 1),
        ("ACTIVE", "starter", 2),
        ("CANCELED", "professional", 1),
        ("TRIALING", "professional", 1),
    ]
    .into_iter()
    .map(|(s, p, n)| (s.to_owned(), p.to_owned(), n))
    .collect();
    assert_eq!(counts, expected);

    let tenant = app.create_tenant("outsider").await;
    for role in [Role::Owner, Role::Billing, Role::Member] {
        app.as_token(&app.tenant_token(&tenant, role), q, json!({}))
            .await
            .expect_code("FORBIDDEN");
    }
}

#[tokio::test]
async fn a_trial_ending_notice_is_recorded_once_three_days_before_the_trial_ends() {
    let app = spawn_app_at("2026-01-10T00:00:00Z").await;
    app.create_plan("starter", 2900, None, 14).await;
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    let created = subscribe_ok(&app, &owner, json!({ "planCode": "starter" })).await;
    let sub_id = created["subscription"]["id"].clone();

    // The trial ends 2026-01-24: the notice is due at 2026-01-21T00:00:00Z.
    app.advance_to("2026-01-20T23:59:59Z").await;
    let notes = app.notifications_of(&tenant).await;
    assert!(of_kind(&notes, "trial_ending").is_empty(), "{notes:#?}");

    let report = app.advance_to("2026-01-21T00:00:00Z").await;
    assert_eq!(report["notifications"], 1, "{report}");
    let notes = app.notifications_of(&tenant).await;
    let trial = of_kind(&notes, "trial_ending");
    assert_eq!(trial.len(), 1, "{notes:#?}");
    assert_eq!(trial[0]["reference"], sub_id);
    assert_eq!(trial[0]["tenantId"], tenant.as_str());
    assert_eq!(at(&trial[0]["createdAt"]), ts("2026-01-21T00:00:00Z"));

    // Later runs, before and after the trial ends, do not repeat it.
    let report = app.run_jobs().await;
    assert_eq!(report["notifications"], 0, "{report}");
    app.advance_days(1).await;
    app.advance_days(5).await;
    let notes = app.notifications_of(&tenant).await;
    assert_eq!(of_kind(&notes, "trial_ending").len(), 1, "{notes:#?}");

    // The tenant reads its own notifications.
    let r = app
        .as_token(
            &owner,
            "{ notifications(first: 100) { edges { node { kind reference } } } }",
            json!({}),
        )
        .await;
    let own = nodes(&r, "notifications");
    assert_eq!(
        own.iter().filter(|n| n["kind"] == "trial_ending").count(),
        1
    );
}

#[tokio::test]
async fn trial_days_given_at_subscription_override_the_plan_default() {
    let app = spawn_app_at("2026-01-10T00:00:00Z").await;
    app.create_plan("starter", 2900, None, 14).await;

    let (default_tenant, owner) = app.tenant_with_owner("default").await;
    let created = subscribe_ok(&app, &owner, json!({ "planCode": "starter" })).await;
    assert_eq!(created["subscription"]["status"], "TRIALING");
    assert_eq!(
        at(&created["subscription"]["trialEnd"]),
        ts("2026-01-24T00:00:00Z")
    );
    assert!(created["invoice"].is_null());

    let (short_tenant, owner) = app.tenant_with_owner("short").await;
    let created = subscribe_ok(
        &app,
        &owner,
        json!({ "planCode": "starter", "trialDays": 7 }),
    )
    .await;
    assert_eq!(created["subscription"]["status"], "TRIALING");
    assert_eq!(
        at(&created["subscription"]["trialEnd"]),
        ts("2026-01-17T00:00:00Z")
    );

    let (none_tenant, owner) = app.tenant_with_owner("none").await;
    let created = subscribe_ok(
        &app,
        &owner,
        json!({ "planCode": "starter", "trialDays": 0 }),
    )
    .await;
    let sub = &created["subscription"];
    assert_eq!(sub["status"], "ACTIVE");
    assert_eq!(sub["cycle"], 1);
    assert!(sub["trialEnd"].is_null(), "{sub}");
    assert_amounts(&created["invoice"], 2900, 0, 2900, "no trial");

    let (bad_tenant, owner) = app.tenant_with_owner("bad").await;
    for days in [-1, 731] {
        let r = app
            .subscribe(&owner, json!({ "planCode": "starter", "trialDays": days }))
            .await;
        assert_eq!(
            r.expect_code("VALIDATION")["extensions"]["field"],
            "trialDays",
            "{days}"
        );
    }
    assert!(app.subscription_of(&bad_tenant).await.is_null());

    // Seven days later the short trial has ended and billed; the default one has not.
    app.advance_days(7).await;
    let short = app.subscription_of(&short_tenant).await;
    assert_eq!(short["status"], "ACTIVE");
    assert_eq!(short["cycle"], 1);
    assert_current_period(
        &short,
        "2026-01-17T00:00:00Z",
        "2026-02-17T00:00:00Z",
        "after the 7-day trial",
    );
    assert_eq!(app.invoices_of(&short_tenant).await.len(), 1);
    assert_eq!(
        app.subscription_of(&default_tenant).await["status"],
        "TRIALING"
    );
    assert!(app.invoices_of(&default_tenant).await.is_empty());
    assert_eq!(app.invoices_of(&none_tenant).await.len(), 1);
}
