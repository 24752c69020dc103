//! Coupons on subscriptions: which cycle invoices a discount covers, rounding, amount-off
//! coupons, the redemption checks, applyCoupon, proration invoices, and concurrent redemptions.
//! The clock stands still at `START` and moves only through `advanceClock`.
use futures::future::join_all;
use serde_json::{Value, json};

use crate::billing_checks::*;
use crate::helpers::*;

const START: &str = "2026-03-01T00:00:00Z";

// ---------------------------------------------------------------------------------------------
// Helpers local to these tests
// ---------------------------------------------------------------------------------------------

/// (cycle, subtotal, discount, total) of a subscription invoice.
fn figures(invoice: &Value) -> (i64, i64, i64, i64) {
    (
        invoice["cycle"]
            .as_i64()
            .unwrap_or_else(|| panic!("no cycle in {invoice}")),
        money(invoice, "subtotal"),
        money(invoice, "discount"),
        money(invoice, "total"),
    )
}

/// Like `refused`, and the error names `field`.
fn refused_on(r: &Gql, code: &str, field: &str, what: &str) {
    refused(r, code, what);
    assert_eq!(
        r.body["errors"][0]["extensions"]["field"].as_str(),
        Some(field),
        "{what}: wrong field in {}",
        r.body
    );
}

fn percent_coupon(code: &str, percent: i32, duration: &str, periods: Option<i32>) -> Value {
    json!({
        "code": code,
        "name": format!("Coupon {code}"),
        "percentOff": percent,
        "duration": duration,
        "durationPeriods": periods,
    })
}

fn amount_coupon(code: &str, amount: i64, duration: &str, periods: Option<i32>) -> Value {
    json!({
        "code": code,
        "name": format!("Coupon {code}"),
        "amountOffMinor": amount.to_string(),
        "duration": duration,
        "durationPeriods": periods,
    })
}

/// Subscribes with the owner token; `coupon` goes in as couponCode. Returns the payload.
async fn subscribe_with(app: &TestApp, owner: &str, plan: &str, coupon: Option<&str>) -> Value {
    let r = app
        .subscribe(owner, json!({ "planCode": plan, "couponCode": coupon }))
        .await;
    r.data()["createSubscription"].clone()
}

async fn apply_coupon(app: &TestApp, token: &str, tenant: Option<&str>, code: &str) -> Gql {
    app.as_token(
        token,
        &format!(
            "mutation($t: ID, $c: String!) {{ applyCoupon(input: {{ tenantId: $t, code: $c }}) {{ \
             subscription {{ {SUBSCRIPTION_FIELDS} }} invoice {{ {INVOICE_FIELDS} }} }} }}"
        ),
        json!({ "t": tenant, "c": code }),
    )
    .await
}

async fn change_plan(app: &TestApp, owner: &str, plan: &str) -> Value {
    let r = app
        .as_token(
            owner,
            &format!(
                "mutation($p: String!) {{ changePlan(input: {{ planCode: $p }}) {{ \
                 subscription {{ {SUBSCRIPTION_FIELDS} }} invoice {{ {INVOICE_FIELDS} }} }} }}"
            ),
            json!({ "p": plan }),
        )
        .await;
    r.data()["changePlan"].clone()
}

async fn cancel_now(app: &TestApp, owner: &str) {
    let r = app
        .as_token(
            owner,
            "mutation { cancelSubscription(input: { atPeriodEnd: false }) { subscription { status } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        r.data()["cancelSubscription"]["subscription"]["status"],
        "CANCELED"
    );
}

async fn times_redeemed(app: &TestApp, code: &str) -> i64 {
    let r = app
        .as_admin(
            "query($c: String!) { coupon(code: $c) { timesRedeemed } }",
            json!({ "c": code }),
        )
        .await;
    r.data()["coupon"]["timesRedeemed"]
        .as_i64()
        .unwrap_or_else(|| panic!("no timesRedeemed: {}", r.body))
}

/// Marks every OPEN invoice of `tenant` paid, so no subscription falls past due.
async fn pay_open(app: &TestApp, tenant: &str) {
    for i in app.invoices_of(tenant).await {
        if i["status"] == "OPEN" {
            app.as_admin(
                "mutation($id: ID!) { markInvoicePaid(id: $id) { id } }",
                json!({ "id": i["id"] }),
            )
            .await
            .data();
        }
    }
}

/// Pays what `tenants` owe, then moves the clock to `to` (RFC 3339) and runs the jobs.
async fn pay_and_advance(app: &TestApp, tenants: &[impl AsRef<str>], to: &str) {
    for t in tenants {
        pay_open(app, t.as_ref()).await;
    }
    app.advance_to(to).await;
}

/// The first of month `3 + k` of 2026, k = 1 is April.
fn month(k: usize) -> String {
    format!("2026-{:02}-01T00:00:00Z", 3 + k)
}

/// The cycle invoices (SUBSCRIPTION_CREATE / SUBSCRIPTION_CYCLE) of `tenant`, oldest first.
async fn cycle_invoices(app: &TestApp, tenant: &str) -> Vec<Value> {
    app.invoices_of(tenant)
        .await
        .into_iter()
        .filter(|i| {
            i["billingReason"] == "SUBSCRIPTION_CREATE"
                || i["billingReason"] == "SUBSCRIPTION_CYCLE"
        })
        .collect()
}

/// Everything about `tenant` that a refused redemption could change.
async fn tenant_snapshot(app: &TestApp, tenant: &str) -> Value {
    json!({
        "subscription": app.subscription_of(tenant).await,
        "invoices": app.invoices_of(tenant).await,
    })
}

/// Asserts that `tenant` has no subscription and no invoice.
async fn assert_nothing_created(app: &TestApp, tenant: &str, what: &str) {
    let sub = app.subscription_of(tenant).await;
    assert!(sub.is_null(), "{what}: a subscription was created: {sub}");
    let invoices = app.invoices_of(tenant).await;
    assert!(
        invoices.is_empty(),
        "{what}: invoices were created: {invoices:?}"
    );
}

fn discount(
    percent: Option<i64>,
    amount: Option<i64>,
    code: &str,
    first: i64,
    last: Option<i64>,
) -> Value {
    json!({
        "couponCode": code,
        "percentOff": percent,
        "amountOff": amount.map(|a| json!({ "amountMinor": a.to_string() })),
        "firstCycle": first,
        "lastCycle": last,
    })
}

// ---------------------------------------------------------------------------------------------
// 1. Which cycles a discount covers
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_once_percent_coupon_discounts_only_the_first_invoice() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    app.create_coupon(percent_coupon("WELCOME20", 20, "ONCE", None))
        .await;
    let (t, owner) = app.tenant_with_owner("acme").await;

    // Act
    let created = subscribe_with(&app, &owner, "starter", Some("WELCOME20")).await;

    // Assert
    assert_eq!(
        created["subscription"]["discount"],
        discount(Some(20), None, "WELCOME20", 1, Some(1))
    );
    let first = &created["invoice"];
    assert_eq!(first["billingReason"], "SUBSCRIPTION_CREATE");
    assert_eq!(figures(first), (1, 2_900, 580, 2_320));
    assert_eq!(money(first, "amountDue"), 2_320);
    assert_eq!(first["couponCode"], "WELCOME20");
    assert_eq!(first["status"], "OPEN");
    let lines = first["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 1, "the discount is not a line: {first}");
    assert_eq!(lines[0]["kind"], "fee");
    assert_eq!(big(&lines[0]["amount"]["amountMinor"]), 2_900);
    assert_arithmetic(first);
    assert_eq!(times_redeemed(&app, "WELCOME20").await, 1);

    // Act: two renewals.
    pay_and_advance(&app, &[&t], &month(1)).await;
    pay_and_advance(&app, &[&t], &month(2)).await;

    // Assert
    let cycles = cycle_invoices(&app, &t).await;
    assert_eq!(cycles.len(), 3, "{cycles:?}");
    assert_eq!(figures(&cycles[0]), (1, 2_900, 580, 2_320));
    assert_eq!(figures(&cycles[1]), (2, 2_900, 0, 2_900));
    assert_eq!(figures(&cycles[2]), (3, 2_900, 0, 2_900));
    assert!(cycles[1]["couponCode"].is_null(), "{}", cycles[1]);
    assert_eq!(cycles[1]["billingReason"], "SUBSCRIPTION_CYCLE");
    for c in &cycles {
        assert_arithmetic(c);
    }
    assert_eq!(times_redeemed(&app, "WELCOME20").await, 1);
}

#[tokio::test]
async fn a_repeating_coupon_discounts_exactly_its_number_of_cycles() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    app.create_coupon(percent_coupon("THREE10", 10, "REPEATING", Some(3)))
        .await;
    let (t, owner) = app.tenant_with_owner("acme").await;

    // Act
    let created = subscribe_with(&app, &owner, "starter", Some("THREE10")).await;
    for k in 1..=4 {
        pay_and_advance(&app, &[&t], &month(k)).await;
    }

    // Assert
    assert_eq!(
        created["subscription"]["discount"],
        discount(Some(10), None, "THREE10", 1, Some(3))
    );
    let got: Vec<_> = cycle_invoices(&app, &t).await.iter().map(figures).collect();
    assert_eq!(
        got,
        [
            (1, 2_900, 290, 2_610),
            (2, 2_900, 290, 2_610),
            (3, 2_900, 290, 2_610),
            (4, 2_900, 0, 2_900),
            (5, 2_900, 0, 2_900),
        ]
    );
    assert_eq!(times_redeemed(&app, "THREE10").await, 1);
}

#[tokio::test]
async fn a_forever_coupon_discounts_every_cycle() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    app.create_coupon(percent_coupon("FOREVER25", 25, "FOREVER", None))
        .await;
    let (t, owner) = app.tenant_with_owner("acme").await;

    // Act: the code is case-insensitive.
    let created = subscribe_with(&app, &owner, "starter", Some("forever25")).await;
    for k in 1..=5 {
        pay_and_advance(&app, &[&t], &month(k)).await;
    }

    // Assert
    assert_eq!(
        created["subscription"]["discount"],
        discount(Some(25), None, "FOREVER25", 1, None)
    );
    let cycles = cycle_invoices(&app, &t).await;
    assert_eq!(cycles.len(), 6, "{cycles:?}");
    for (n, c) in cycles.iter().enumerate() {
        let n = i64::try_from(n).expect("small") + 1;
        assert_eq!(figures(c), (n, 2_900, 725, 2_175));
        assert_eq!(c["couponCode"], "FOREVER25");
        assert_arithmetic(c);
    }
    assert_eq!(
        app.subscription_of(&t).await["discount"],
        discount(Some(25), None, "FOREVER25", 1, None)
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Rounding
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn percent_discounts_round_to_the_nearest_minor_unit_with_halves_away_from_zero() {
    // Arrange
    let app = spawn_app_at(START).await;
    for (code, fee) in [
        ("p999", 999),
        ("p1000", 1_000),
        ("p1", 1),
        ("p50", 50),
        ("p49", 49),
    ] {
        app.create_plan(code, fee, None, 0).await;
    }
    for (code, percent) in [
        ("PCT15", 15),
        ("PCT33", 33),
        ("HALF", 50),
        ("PCT1", 1),
        ("FULL", 100),
    ] {
        app.create_coupon(percent_coupon(code, percent, "FOREVER", None))
            .await;
    }
    // (tenant, plan, coupon, discount, total)
    let cases: [(&str, &str, &str, i64, i64); 8] = [
        ("r-15-of-999", "p999", "PCT15", 150, 849),   // 149.85
        ("r-33-of-1000", "p1000", "PCT33", 330, 670), // 330
        ("r-33-of-999", "p999", "PCT33", 330, 669),   // 329.67
        ("r-50-of-999", "p999", "HALF", 500, 499),    // 499.5
        ("r-50-of-1", "p1", "HALF", 1, 0),            // 0.5
        ("r-1-of-50", "p50", "PCT1", 1, 49),          // 0.5
        ("r-1-of-49", "p49", "PCT1", 0, 49),          // 0.49
        ("r-100-of-999", "p999", "FULL", 999, 0),
    ];

    for (slug, plan, coupon, expected_discount, expected_total) in cases {
        // Act
        let (_, owner) = app.tenant_with_owner(slug).await;
        let created = subscribe_with(&app, &owner, plan, Some(coupon)).await;

        // Assert
        let inv = &created["invoice"];
        let what = format!("{coupon} on {plan}");
        assert_eq!(money(inv, "discount"), expected_discount, "{what}: {inv}");
        assert_eq!(money(inv, "total"), expected_total, "{what}: {inv}");
        assert_eq!(money(inv, "amountDue"), expected_total, "{what}: {inv}");
        assert_arithmetic(inv);
        let status = if expected_total == 0 { "PAID" } else { "OPEN" };
        assert_eq!(inv["status"], status, "{what}: {inv}");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Amount-off coupons
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_amount_coupon_larger_than_the_fee_brings_the_invoice_to_zero_not_below() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    app.create_coupon(amount_coupon("BIG5000", 5_000, "ONCE", None))
        .await;
    app.create_coupon(amount_coupon("TENOFF", 1_000, "REPEATING", Some(2)))
        .await;
    let (big_t, big_owner) = app.tenant_with_owner("alpha").await;
    let (ten_t, ten_owner) = app.tenant_with_owner("bravo").await;

    // Act
    let big_sub = subscribe_with(&app, &big_owner, "starter", Some("BIG5000")).await;
    let ten_sub = subscribe_with(&app, &ten_owner, "starter", Some("TENOFF")).await;
    for k in 1..=2 {
        pay_and_advance(&app, &[&big_t, &ten_t], &month(k)).await;
    }

    // Assert: the large coupon takes the invoice to zero; a zero invoice is paid at once.
    assert_eq!(
        big_sub["subscription"]["discount"],
        discount(None, Some(5_000), "BIG5000", 1, Some(1))
    );
    let first = &big_sub["invoice"];
    assert_eq!(figures(first), (1, 2_900, 2_900, 0));
    assert_eq!(money(first, "amountDue"), 0);
    assert_eq!(money(first, "amountPaid"), 0);
    assert_eq!(first["status"], "PAID");
    assert_arithmetic(first);
    let big_cycles: Vec<_> = cycle_invoices(&app, &big_t)
        .await
        .iter()
        .map(figures)
        .collect();
    assert_eq!(
        big_cycles,
        [
            (1, 2_900, 2_900, 0),
            (2, 2_900, 0, 2_900),
            (3, 2_900, 0, 2_900)
        ]
    );

    // The smaller one takes its amount off for two cycles.
    assert_eq!(
        ten_sub["subscription"]["discount"],
        discount(None, Some(1_000), "TENOFF", 1, Some(2))
    );
    let ten_cycles: Vec<_> = cycle_invoices(&app, &ten_t)
        .await
        .iter()
        .map(figures)
        .collect();
    assert_eq!(
        ten_cycles,
        [
            (1, 2_900, 1_000, 1_900),
            (2, 2_900, 1_000, 1_900),
            (3, 2_900, 0, 2_900)
        ]
    );
}

#[tokio::test]
async fn an_amount_coupon_in_another_currency_is_refused_and_creates_nothing() {
    // Arrange: a BRL plan and a USD coupon.
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    let mut usd = amount_coupon("USD10", 1_000, "FOREVER", None);
    usd["currency"] = json!("USD");
    app.create_coupon(usd).await;
    let (t, owner) = app.tenant_with_owner("acme").await;
    let (other_t, other_owner) = app.tenant_with_owner("bravo").await;
    subscribe_with(&app, &other_owner, "starter", None).await;
    let other_before = tenant_snapshot(&app, &other_t).await;

    // Act
    let at_creation = app
        .subscribe(
            &owner,
            json!({ "planCode": "starter", "couponCode": "USD10" }),
        )
        .await;
    let applied = apply_coupon(&app, &other_owner, None, "USD10").await;

    // Assert
    refused(&at_creation, "VALIDATION", "USD coupon on a BRL plan");
    assert_nothing_created(&app, &t, "USD coupon on a BRL plan").await;
    refused(&applied, "VALIDATION", "applyCoupon with a USD coupon");
    assert_eq!(tenant_snapshot(&app, &other_t).await, other_before);
    assert_eq!(times_redeemed(&app, "USD10").await, 0);
}

// ---------------------------------------------------------------------------------------------
// 4. Redemption checks
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_coupon_code_is_not_found_and_creates_nothing() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    let (t, owner) = app.tenant_with_owner("acme").await;
    let (other_t, other_owner) = app.tenant_with_owner("bravo").await;
    subscribe_with(&app, &other_owner, "starter", None).await;
    let other_before = tenant_snapshot(&app, &other_t).await;

    // Act
    let at_creation = app
        .subscribe(
            &owner,
            json!({ "planCode": "starter", "couponCode": "NOSUCHCODE" }),
        )
        .await;
    let applied = apply_coupon(&app, &other_owner, None, "NOSUCHCODE").await;

    // Assert
    refused(&at_creation, "NOT_FOUND", "unknown coupon at creation");
    assert_nothing_created(&app, &t, "unknown coupon").await;
    refused(&applied, "NOT_FOUND", "applyCoupon with an unknown code");
    assert_eq!(tenant_snapshot(&app, &other_t).await, other_before);
}

#[tokio::test]
async fn a_coupon_outside_its_validity_window_on_the_billing_clock_is_refused() {
    // Arrange: one coupon valid from March 10, one valid until March 15 (exclusive).
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    let mut early = percent_coupon("NOTYET", 20, "ONCE", None);
    early["validFrom"] = json!("2026-03-10T00:00:00Z");
    app.create_coupon(early).await;
    let mut late = percent_coupon("ENDING", 20, "ONCE", None);
    late["validUntil"] = json!("2026-03-15T00:00:00Z");
    app.create_coupon(late).await;
    let (a, a_owner) = app.tenant_with_owner("alpha").await;
    let (b, b_owner) = app.tenant_with_owner("bravo").await;
    let (c, c_owner) = app.tenant_with_owner("charlie").await;
    let (d, d_owner) = app.tenant_with_owner("delta").await;

    // Act / Assert: on March 1, NOTYET is not valid yet and ENDING is.
    let r = app
        .subscribe(
            &a_owner,
            json!({ "planCode": "starter", "couponCode": "NOTYET" }),
        )
        .await;
    refused_on(&r, "VALIDATION", "couponCode", "before validFrom");
    assert_nothing_created(&app, &a, "before validFrom").await;
    let ok = subscribe_with(&app, &b_owner, "starter", Some("ENDING")).await;
    assert_eq!(money(&ok["invoice"], "discount"), 580);
    subscribe_with(&app, &d_owner, "starter", None).await;
    let r = apply_coupon(&app, &d_owner, None, "NOTYET").await;
    refused_on(&r, "VALIDATION", "code", "applyCoupon before validFrom");

    // On March 10 (validFrom is inclusive) NOTYET works.
    app.advance_to("2026-03-10T00:00:00Z").await;
    let ok = subscribe_with(&app, &a_owner, "starter", Some("NOTYET")).await;
    assert_eq!(money(&ok["invoice"], "discount"), 580);
    assert_eq!(times_redeemed(&app, "NOTYET").await, 1);

    // On March 15 (validUntil is exclusive) ENDING no longer does.
    app.advance_to("2026-03-15T00:00:00Z").await;
    let r = app
        .subscribe(
            &c_owner,
            json!({ "planCode": "starter", "couponCode": "ENDING" }),
        )
        .await;
    refused_on(&r, "VALIDATION", "couponCode", "at validUntil");
    assert_nothing_created(&app, &c, "at validUntil").await;
    let d_before = tenant_snapshot(&app, &d).await;
    let r = apply_coupon(&app, &d_owner, None, "ENDING").await;
    refused_on(&r, "VALIDATION", "code", "applyCoupon at validUntil");
    assert_eq!(tenant_snapshot(&app, &d).await, d_before);
    assert_eq!(times_redeemed(&app, "ENDING").await, 1);
    assert!(app.subscription_of(&b).await["discount"].is_object());
}

#[tokio::test]
async fn a_coupon_restricted_to_other_plans_is_refused() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    app.create_plan("professional", 9_900, None, 0).await;
    let mut pro = percent_coupon("PRO30", 30, "ONCE", None);
    pro["planCodes"] = json!(["professional"]);
    app.create_coupon(pro).await;
    let (a, a_owner) = app.tenant_with_owner("alpha").await;
    let (b, b_owner) = app.tenant_with_owner("bravo").await;
    let (c, c_owner) = app.tenant_with_owner("charlie").await;
    subscribe_with(&app, &c_owner, "starter", None).await;
    let c_before = tenant_snapshot(&app, &c).await;

    // Act
    let starter = app
        .subscribe(
            &a_owner,
            json!({ "planCode": "starter", "couponCode": "PRO30" }),
        )
        .await;
    let applied = apply_coupon(&app, &c_owner, None, "PRO30").await;
    let professional = subscribe_with(&app, &b_owner, "professional", Some("PRO30")).await;

    // Assert
    refused(&starter, "VALIDATION", "PRO30 on starter");
    assert_nothing_created(&app, &a, "PRO30 on starter").await;
    refused(&applied, "VALIDATION", "applyCoupon PRO30 on starter");
    assert_eq!(tenant_snapshot(&app, &c).await, c_before);
    assert_eq!(figures(&professional["invoice"]), (1, 9_900, 2_970, 6_930));
    assert_eq!(times_redeemed(&app, "PRO30").await, 1);
    assert_eq!(app.invoices_of(&b).await.len(), 1);
}

#[tokio::test]
async fn a_tenant_cannot_redeem_the_same_coupon_twice() {
    // Arrange: a subscription with WELCOME20, canceled.
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    app.create_coupon(percent_coupon("WELCOME20", 20, "ONCE", None))
        .await;
    let (t, owner) = app.tenant_with_owner("acme").await;
    let first = subscribe_with(&app, &owner, "starter", Some("WELCOME20")).await;
    pay_open(&app, &t).await;
    app.advance_days(3).await;
    cancel_now(&app, &owner).await;
    let before = tenant_snapshot(&app, &t).await;

    // Act: subscribe again with the same code.
    let again = app
        .subscribe(
            &owner,
            json!({ "planCode": "starter", "couponCode": "WELCOME20" }),
        )
        .await;

    // Assert
    refused(&again, "CONFLICT", "the same coupon a second time");
    assert_eq!(
        tenant_snapshot(&app, &t).await,
        before,
        "a refused resubscription wrote something"
    );
    assert_eq!(
        app.subscription_of(&t).await["id"],
        first["subscription"]["id"]
    );
    assert_eq!(times_redeemed(&app, "WELCOME20").await, 1);

    // Without the coupon it works; applying the coupon to the new subscription is still refused.
    let plain = subscribe_with(&app, &owner, "starter", None).await;
    assert!(plain["subscription"]["discount"].is_null());
    assert_eq!(money(&plain["invoice"], "discount"), 0);
    let before = tenant_snapshot(&app, &t).await;
    let applied = apply_coupon(&app, &owner, None, "WELCOME20").await;
    refused(
        &applied,
        "CONFLICT",
        "applyCoupon with a coupon redeemed before",
    );
    assert_eq!(tenant_snapshot(&app, &t).await, before);
    assert_eq!(times_redeemed(&app, "WELCOME20").await, 1);
}

#[tokio::test]
async fn a_coupon_cannot_be_redeemed_more_than_max_redemptions_times() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    let mut two = percent_coupon("TWOONLY", 20, "ONCE", None);
    two["maxRedemptions"] = json!(2);
    app.create_coupon(two).await;
    let (_, a_owner) = app.tenant_with_owner("alpha").await;
    let (_, b_owner) = app.tenant_with_owner("bravo").await;
    let (c, c_owner) = app.tenant_with_owner("charlie").await;
    let (d, d_owner) = app.tenant_with_owner("delta").await;
    subscribe_with(&app, &d_owner, "starter", None).await;
    let d_before = tenant_snapshot(&app, &d).await;

    // Act
    subscribe_with(&app, &a_owner, "starter", Some("TWOONLY")).await;
    assert_eq!(times_redeemed(&app, "TWOONLY").await, 1);
    subscribe_with(&app, &b_owner, "starter", Some("TWOONLY")).await;
    let third = app
        .subscribe(
            &c_owner,
            json!({ "planCode": "starter", "couponCode": "TWOONLY" }),
        )
        .await;
    let applied = apply_coupon(&app, &d_owner, None, "TWOONLY").await;

    // Assert
    refused(&third, "CONFLICT", "a third redemption");
    assert_nothing_created(&app, &c, "a third redemption").await;
    refused(&applied, "CONFLICT", "applyCoupon on an exhausted coupon");
    assert_eq!(tenant_snapshot(&app, &d).await, d_before);
    assert_eq!(times_redeemed(&app, "TWOONLY").await, 2);
}

// ---------------------------------------------------------------------------------------------
// 5. applyCoupon
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn applying_a_coupon_to_an_active_subscription_starts_with_the_next_cycle() {
    // Arrange: three subscriptions without coupons.
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    app.create_coupon(percent_coupon("SAVE20", 20, "ONCE", None))
        .await;
    app.create_coupon(percent_coupon("TWO10", 10, "REPEATING", Some(2)))
        .await;
    let (a, a_owner) = app.tenant_with_owner("alpha").await;
    let (b, _) = app.tenant_with_owner("bravo").await;
    let (c, c_owner) = app.tenant_with_owner("charlie").await;
    let a_first = id_of(&subscribe_with(&app, &a_owner, "starter", None).await["invoice"]);
    app.subscribe(
        &app.admin_token,
        json!({ "tenantId": b, "planCode": "starter" }),
    )
    .await
    .data();
    subscribe_with(&app, &c_owner, "starter", None).await;
    app.advance_days(5).await;
    let a_first_before = app.invoice(&a_first).await;

    // Act: in cycle 1, tenant A applies SAVE20 and the admin applies TWO10 for tenant B.
    let a_applied = apply_coupon(&app, &a_owner, None, "SAVE20").await;
    let b_applied = apply_coupon(&app, &app.admin_token, Some(b.as_str()), "TWO10").await;

    // Assert: the current invoice stays as it was; no invoice is issued.
    let a_applied = a_applied.data()["applyCoupon"].clone();
    assert_eq!(
        a_applied["subscription"]["discount"],
        discount(Some(20), None, "SAVE20", 2, Some(2))
    );
    assert!(a_applied["invoice"].is_null(), "{a_applied}");
    assert_eq!(app.invoice(&a_first).await, a_first_before);
    assert_eq!(app.invoices_of(&a).await.len(), 1);
    let b_applied = b_applied.data()["applyCoupon"].clone();
    assert_eq!(
        b_applied["subscription"]["discount"],
        discount(Some(10), None, "TWO10", 2, Some(3))
    );

    // Act: renew into cycle 2; tenant C applies SAVE20 there.
    pay_and_advance(&app, &[&a, &b, &c], &month(1)).await;
    let c_applied = apply_coupon(&app, &c_owner, None, "SAVE20").await;
    for k in 2..=4 {
        pay_and_advance(&app, &[&a, &b, &c], &month(k)).await;
    }

    // Assert
    let c_applied = c_applied.data()["applyCoupon"].clone();
    assert_eq!(
        c_applied["subscription"]["discount"],
        discount(Some(20), None, "SAVE20", 3, Some(3))
    );
    let of = |t: &str| {
        let app = &app;
        let t = t.to_owned();
        async move {
            cycle_invoices(app, &t)
                .await
                .iter()
                .map(figures)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        of(&a).await,
        [
            (1, 2_900, 0, 2_900),
            (2, 2_900, 580, 2_320),
            (3, 2_900, 0, 2_900),
            (4, 2_900, 0, 2_900),
            (5, 2_900, 0, 2_900),
        ]
    );
    assert_eq!(
        of(&b).await,
        [
            (1, 2_900, 0, 2_900),
            (2, 2_900, 290, 2_610),
            (3, 2_900, 290, 2_610),
            (4, 2_900, 0, 2_900),
            (5, 2_900, 0, 2_900),
        ]
    );
    assert_eq!(
        of(&c).await,
        [
            (1, 2_900, 0, 2_900),
            (2, 2_900, 0, 2_900),
            (3, 2_900, 580, 2_320),
            (4, 2_900, 0, 2_900),
            (5, 2_900, 0, 2_900),
        ]
    );
    assert_eq!(times_redeemed(&app, "SAVE20").await, 2);
    assert_eq!(times_redeemed(&app, "TWO10").await, 1);
}

#[tokio::test]
async fn applying_a_coupon_while_a_discount_is_active_is_a_conflict() {
    // Arrange: A has a discount from creation; B has one applied for its next cycle.
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    app.create_coupon(percent_coupon("FOREVER10", 10, "FOREVER", None))
        .await;
    app.create_coupon(percent_coupon("SAVE20", 20, "ONCE", None))
        .await;
    app.create_coupon(percent_coupon("OTHER30", 30, "ONCE", None))
        .await;
    let (a, a_owner) = app.tenant_with_owner("alpha").await;
    let (b, b_owner) = app.tenant_with_owner("bravo").await;
    subscribe_with(&app, &a_owner, "starter", Some("FOREVER10")).await;
    subscribe_with(&app, &b_owner, "starter", None).await;
    apply_coupon(&app, &b_owner, None, "SAVE20").await.data();
    app.advance_days(2).await;
    let a_before = tenant_snapshot(&app, &a).await;
    let b_before = tenant_snapshot(&app, &b).await;

    // Act
    let on_a = apply_coupon(&app, &a_owner, None, "OTHER30").await;
    let on_b = apply_coupon(&app, &b_owner, None, "OTHER30").await;

    // Assert
    refused(&on_a, "CONFLICT", "a second coupon over a FOREVER discount");
    refused(&on_b, "CONFLICT", "a second coupon over a pending discount");
    assert_eq!(tenant_snapshot(&app, &a).await, a_before);
    assert_eq!(tenant_snapshot(&app, &b).await, b_before);
    assert_eq!(times_redeemed(&app, "OTHER30").await, 0);

    // During cycle 2 B's SAVE20 is still the active discount.
    pay_and_advance(&app, &[&a, &b], &month(1)).await;
    let during = apply_coupon(&app, &b_owner, None, "OTHER30").await;
    refused(
        &during,
        "CONFLICT",
        "a second coupon during the covered cycle",
    );
    assert_eq!(times_redeemed(&app, "OTHER30").await, 0);
}

#[tokio::test]
async fn a_new_coupon_can_be_applied_once_the_previous_discount_has_ended() {
    // Arrange: a ONCE coupon used on cycle 1; now in cycle 2 it has ended.
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    app.create_coupon(percent_coupon("WELCOME20", 20, "ONCE", None))
        .await;
    app.create_coupon(percent_coupon("LOYAL10", 10, "ONCE", None))
        .await;
    let (t, owner) = app.tenant_with_owner("acme").await;
    subscribe_with(&app, &owner, "starter", Some("WELCOME20")).await;
    pay_and_advance(&app, &[&t], &month(1)).await;

    // Act
    let applied = apply_coupon(&app, &owner, None, "LOYAL10").await;
    pay_and_advance(&app, &[&t], &month(2)).await;

    // Assert
    assert_eq!(
        applied.data()["applyCoupon"]["subscription"]["discount"],
        discount(Some(10), None, "LOYAL10", 3, Some(3))
    );
    let got: Vec<_> = cycle_invoices(&app, &t).await.iter().map(figures).collect();
    assert_eq!(
        got,
        [
            (1, 2_900, 580, 2_320),
            (2, 2_900, 0, 2_900),
            (3, 2_900, 290, 2_610),
        ]
    );
}

#[tokio::test]
async fn a_coupon_redeemed_during_a_trial_covers_the_first_paid_cycle() {
    // Arrange: a 14-day trial plan.
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 14).await;
    app.create_coupon(percent_coupon("SAVE20", 20, "ONCE", None))
        .await;
    app.create_coupon(percent_coupon("TWO10", 10, "REPEATING", Some(2)))
        .await;
    let (a, a_owner) = app.tenant_with_owner("alpha").await;
    let (b, b_owner) = app.tenant_with_owner("bravo").await;
    let a_created = subscribe_with(&app, &a_owner, "starter", None).await;
    let b_created = subscribe_with(&app, &b_owner, "starter", Some("TWO10")).await;
    assert_eq!(a_created["subscription"]["status"], "TRIALING");
    assert!(a_created["invoice"].is_null(), "a trial has no invoice");
    assert!(b_created["invoice"].is_null(), "a trial has no invoice");
    assert_eq!(
        b_created["subscription"]["discount"],
        discount(Some(10), None, "TWO10", 1, Some(2))
    );

    // Act: A applies SAVE20 three days into the trial.
    app.advance_days(3).await;
    let applied = apply_coupon(&app, &a_owner, None, "SAVE20").await;

    // Assert
    let applied = applied.data()["applyCoupon"].clone();
    assert_eq!(
        applied["subscription"]["discount"],
        discount(Some(20), None, "SAVE20", 1, Some(1))
    );
    assert!(applied["invoice"].is_null(), "{applied}");
    assert!(app.invoices_of(&a).await.is_empty());

    // Act: the trial ends on March 15; two renewals follow.
    app.advance_to("2026-03-15T00:00:00Z").await;
    for to in ["2026-04-15T00:00:00Z", "2026-05-15T00:00:00Z"] {
        pay_and_advance(&app, &[&a, &b], to).await;
    }

    // Assert
    let a_cycles = cycle_invoices(&app, &a).await;
    assert_eq!(
        at(&a_cycles[0]["periodStart"]),
        at(&json!("2026-03-15T00:00:00Z"))
    );
    assert_eq!(
        a_cycles.iter().map(figures).collect::<Vec<_>>(),
        [
            (1, 2_900, 580, 2_320),
            (2, 2_900, 0, 2_900),
            (3, 2_900, 0, 2_900)
        ]
    );
    assert_eq!(
        cycle_invoices(&app, &b)
            .await
            .iter()
            .map(figures)
            .collect::<Vec<_>>(),
        [
            (1, 2_900, 290, 2_610),
            (2, 2_900, 290, 2_610),
            (3, 2_900, 0, 2_900)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Proration invoices
// ---------------------------------------------------------------------------------------------

/// Checks the worked example: starter → professional on March 11 of a March period.
fn assert_worked_proration(inv: &Value) {
    assert_eq!(inv["billingReason"], "SUBSCRIPTION_UPDATE", "{inv}");
    let lines = inv["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 2, "{inv}");
    let credit = lines
        .iter()
        .find(|l| {
            l["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("Unused time on"))
        })
        .unwrap_or_else(|| panic!("no credit line: {inv}"));
    let charge = lines
        .iter()
        .find(|l| {
            l["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("Remaining time on"))
        })
        .unwrap_or_else(|| panic!("no charge line: {inv}"));
    assert_eq!(big(&credit["amount"]["amountMinor"]), -1_965);
    assert_eq!(big(&charge["amount"]["amountMinor"]), 6_706);
    assert_eq!(money(inv, "subtotal"), 4_741);
    assert_eq!(at(&inv["periodStart"]), at(&json!("2026-03-11T00:00:00Z")));
    assert_eq!(at(&inv["periodEnd"]), at(&json!("2026-04-01T00:00:00Z")));
    assert_arithmetic(inv);
}

#[tokio::test]
async fn a_percent_coupon_discounts_a_proration_invoice_in_a_covered_cycle_only() {
    // Arrange: A redeems a FOREVER percent coupon, B a ONCE one (cycle 1), both at creation;
    // C applies the ONCE one during cycle 1, so it covers cycle 2 only.
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    app.create_plan("professional", 9_900, None, 0).await;
    app.create_coupon(percent_coupon("ALWAYS20", 20, "FOREVER", None))
        .await;
    app.create_coupon(percent_coupon("ONCE20", 20, "ONCE", None))
        .await;
    let (a, a_owner) = app.tenant_with_owner("alpha").await;
    let (b, b_owner) = app.tenant_with_owner("bravo").await;
    let (c, c_owner) = app.tenant_with_owner("charlie").await;
    subscribe_with(&app, &a_owner, "starter", Some("ALWAYS20")).await;
    subscribe_with(&app, &b_owner, "starter", Some("ONCE20")).await;
    subscribe_with(&app, &c_owner, "starter", None).await;
    app.advance_days(4).await;
    apply_coupon(&app, &c_owner, None, "ONCE20").await.data();
    pay_and_advance(&app, &[&a, &b, &c], "2026-03-11T00:00:00Z").await;

    // Act: each upgrades to professional.
    let a_up = change_plan(&app, &a_owner, "professional").await;
    let b_up = change_plan(&app, &b_owner, "professional").await;
    let c_up = change_plan(&app, &c_owner, "professional").await;

    // Assert: 20% of 4741 = 948.2 → 948 where cycle 1 is covered.
    for (who, up) in [("A", &a_up), ("B", &b_up)] {
        let inv = &up["invoice"];
        assert_worked_proration(inv);
        assert_eq!(money(inv, "discount"), 948, "{who}: {inv}");
        assert_eq!(money(inv, "total"), 3_793, "{who}: {inv}");
        assert_eq!(money(inv, "amountDue"), 3_793, "{who}: {inv}");
    }
    assert_eq!(a_up["invoice"]["couponCode"], "ALWAYS20");
    assert_eq!(b_up["invoice"]["couponCode"], "ONCE20");
    let inv = &c_up["invoice"];
    assert_worked_proration(inv);
    assert_eq!(
        money(inv, "discount"),
        0,
        "C's discount starts in cycle 2: {inv}"
    );
    assert_eq!(money(inv, "total"), 4_741);

    // The discounts stay where they were; the next cycle is billed on the new plan.
    pay_and_advance(&app, &[&a, &b, &c], &month(1)).await;
    let next = |t: String| {
        let app = &app;
        async move {
            cycle_invoices(app, &t)
                .await
                .last()
                .map(figures)
                .expect("a cycle invoice")
        }
    };
    assert_eq!(next(a.clone()).await, (2, 9_900, 1_980, 7_920));
    assert_eq!(next(b.clone()).await, (2, 9_900, 0, 9_900));
    assert_eq!(next(c.clone()).await, (2, 9_900, 1_980, 7_920));
}

#[tokio::test]
async fn an_amount_coupon_does_not_discount_a_proration_invoice() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    app.create_plan("professional", 9_900, None, 0).await;
    app.create_coupon(amount_coupon("MINUS1000", 1_000, "FOREVER", None))
        .await;
    let (t, owner) = app.tenant_with_owner("acme").await;
    let created = subscribe_with(&app, &owner, "starter", Some("MINUS1000")).await;
    assert_eq!(figures(&created["invoice"]), (1, 2_900, 1_000, 1_900));
    pay_and_advance(&app, &[&t], "2026-03-11T00:00:00Z").await;

    // Act
    let up = change_plan(&app, &owner, "professional").await;

    // Assert
    let inv = &up["invoice"];
    assert_worked_proration(inv);
    assert_eq!(money(inv, "discount"), 0, "{inv}");
    assert_eq!(money(inv, "total"), 4_741);
    assert_eq!(money(inv, "amountDue"), 4_741);
    assert!(inv["couponCode"].is_null(), "{inv}");

    // The next cycle still gets the amount off.
    pay_and_advance(&app, &[&t], &month(1)).await;
    let cycles = cycle_invoices(&app, &t).await;
    assert_eq!(cycles.last().map(figures), Some((2, 9_900, 1_000, 8_900)));
}

// ---------------------------------------------------------------------------------------------
// 7. Concurrent redemptions
// ---------------------------------------------------------------------------------------------

/// Splits responses into successes and refusals, asserting every refusal is a CONFLICT.
fn successes_and_conflicts(results: &[Gql], what: &str) -> (usize, usize) {
    let mut ok = 0;
    let mut conflicts = 0;
    for r in results {
        if r.code().is_none() {
            r.data();
            ok += 1;
        } else {
            refused(r, "CONFLICT", &format!("{what} on {}", backend()));
            conflicts += 1;
        }
    }
    (ok, conflicts)
}

#[tokio::test]
async fn twenty_tenants_subscribing_at_once_with_a_single_use_coupon_get_exactly_one_discount() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    let mut single = percent_coupon("FIRSTONE", 20, "ONCE", None);
    single["maxRedemptions"] = json!(1);
    app.create_coupon(single).await;
    let mut tenants = Vec::new();
    for i in 0..20 {
        tenants.push(app.tenant_with_owner(&format!("racer-{i:02}")).await);
    }

    // Act: all at the same instant.
    let results = join_all(tenants.iter().map(|(_, owner)| {
        app.subscribe(
            owner,
            json!({ "planCode": "starter", "couponCode": "FIRSTONE" }),
        )
    }))
    .await;

    // Assert
    let (ok, conflicts) = successes_and_conflicts(&results, "createSubscription race");
    assert_eq!((ok, conflicts), (1, 19), "on {}", backend());
    assert_eq!(times_redeemed(&app, "FIRSTONE").await, 1);
    let mut discounted = 0;
    for ((t, _), r) in tenants.iter().zip(&results) {
        if r.code().is_none() {
            let sub = app.subscription_of(t).await;
            assert_eq!(sub["discount"]["couponCode"], "FIRSTONE");
            discounted += 1;
            let invoices = app.invoices_of(t).await;
            assert_eq!(invoices.len(), 1);
            assert_eq!(figures(&invoices[0]), (1, 2_900, 580, 2_320));
        } else {
            assert_nothing_created(&app, t, "a losing racer").await;
        }
    }
    assert_eq!(discounted, 1);
}

#[tokio::test]
async fn twenty_subscriptions_applying_a_single_use_coupon_at_once_get_exactly_one_discount() {
    // Arrange: twenty subscriptions without a discount.
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    let mut single = percent_coupon("FIRSTONE", 20, "ONCE", None);
    single["maxRedemptions"] = json!(1);
    app.create_coupon(single).await;
    let mut tenants = Vec::new();
    for i in 0..20 {
        let (t, owner) = app.tenant_with_owner(&format!("racer-{i:02}")).await;
        subscribe_with(&app, &owner, "starter", None).await;
        let before = tenant_snapshot(&app, &t).await;
        tenants.push((t, owner, before));
    }

    // Act
    let results = join_all(
        tenants
            .iter()
            .map(|(_, owner, _)| apply_coupon(&app, owner, None, "FIRSTONE")),
    )
    .await;

    // Assert
    let (ok, conflicts) = successes_and_conflicts(&results, "applyCoupon race");
    assert_eq!((ok, conflicts), (1, 19), "on {}", backend());
    assert_eq!(times_redeemed(&app, "FIRSTONE").await, 1);
    let mut discounted = 0;
    for ((t, _, before), r) in tenants.iter().zip(&results) {
        let sub = app.subscription_of(t).await;
        if r.code().is_none() {
            assert_eq!(
                sub["discount"],
                discount(Some(20), None, "FIRSTONE", 2, Some(2))
            );
            discounted += 1;
        } else {
            assert_eq!(
                &tenant_snapshot(&app, t).await,
                before,
                "a losing applyCoupon changed something"
            );
        }
    }
    assert_eq!(discounted, 1);
}

#[tokio::test]
async fn a_burst_of_twenty_redemptions_of_a_five_use_coupon_gets_exactly_five() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    let mut five = percent_coupon("FIVEONLY", 20, "ONCE", None);
    five["maxRedemptions"] = json!(5);
    app.create_coupon(five).await;
    let mut tenants = Vec::new();
    for i in 0..20 {
        tenants.push(app.tenant_with_owner(&format!("racer-{i:02}")).await);
    }

    // Act
    let results = join_all(tenants.iter().map(|(_, owner)| {
        app.subscribe(
            owner,
            json!({ "planCode": "starter", "couponCode": "FIVEONLY" }),
        )
    }))
    .await;

    // Assert
    let (ok, conflicts) = successes_and_conflicts(&results, "five-use race");
    assert_eq!((ok, conflicts), (5, 15), "on {}", backend());
    assert_eq!(times_redeemed(&app, "FIVEONLY").await, 5);
    let mut subscriptions = 0;
    for (t, _) in &tenants {
        if !app.subscription_of(t).await.is_null() {
            subscriptions += 1;
        }
    }
    assert_eq!(subscriptions, 5);
}

#[tokio::test]
async fn one_subscription_redeeming_coupons_concurrently_gets_one_discount() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    app.create_coupon(percent_coupon("SAVE20", 20, "ONCE", None))
        .await;
    app.create_coupon(percent_coupon("SAVE30", 30, "ONCE", None))
        .await;
    app.create_coupon(percent_coupon("SAVE40", 40, "ONCE", None))
        .await;
    let (a, a_owner) = app.tenant_with_owner("alpha").await;
    let (b, b_owner) = app.tenant_with_owner("bravo").await;
    subscribe_with(&app, &a_owner, "starter", None).await;
    subscribe_with(&app, &b_owner, "starter", None).await;

    // Act: A sends the same code ten times at once; B sends two different codes at once.
    let same = join_all((0..10).map(|_| apply_coupon(&app, &a_owner, None, "SAVE20"))).await;
    let different = join_all(
        ["SAVE30", "SAVE40"]
            .into_iter()
            .map(|code| apply_coupon(&app, &b_owner, None, code)),
    )
    .await;

    // Assert
    assert_eq!(
        successes_and_conflicts(&same, "the same code ten times"),
        (1, 9),
        "on {}",
        backend()
    );
    assert_eq!(times_redeemed(&app, "SAVE20").await, 1);
    assert_eq!(
        app.subscription_of(&a).await["discount"]["couponCode"],
        "SAVE20"
    );
    assert_eq!(
        successes_and_conflicts(&different, "two codes at once"),
        (1, 1),
        "on {}",
        backend()
    );
    let redeemed = times_redeemed(&app, "SAVE30").await + times_redeemed(&app, "SAVE40").await;
    assert_eq!(redeemed, 1);
    let winner = if different[0].code().is_none() {
        "SAVE30"
    } else {
        "SAVE40"
    };
    assert_eq!(
        app.subscription_of(&b).await["discount"]["couponCode"],
        winner
    );
}
