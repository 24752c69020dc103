//! The dunning stages through the Stripe test server: past due at the first failure, `UNPAID`
//! when the last retry of the schedule failed (new block charges and new holds refused with
//! `PAYMENT_REQUIRED`, paid-for credits still spendable), suspended
//! `BILLING_DUNNING_SUSPEND_AFTER_DAYS` later, and everything lifted at once by a new card
//! that pays, or by the operator marking the invoice paid.
use billing::domain::InvoiceId;
use serde_json::{Value, json};

use crate::billing_checks::refused;
use crate::helpers::*;

const M: i64 = 1_000_000;

const CONSUME: &str =
    "mutation($i: ConsumeCreditsInput!) { consumeCredits(input: $i) { balance } }";
const RESERVE: &str =
    "mutation($i: ReserveCreditsInput!) { reserveCredits(input: $i) { balance held } }";

/// (tenant status, suspended reason, dunning stage, subscription status)
async fn stages(app: &TestApp, tenant: &str) -> (String, Value, Value, String) {
    let r = app
        .as_admin(
            "query($t: ID!) { tenant(id: $t) { status suspendedReason dunningStage dunningSince } \
             subscription(tenantId: $t) { status } }",
            json!({ "t": tenant }),
        )
        .await;
    let d = r.data();
    (
        str_of(&d["tenant"]["status"]).to_owned(),
        d["tenant"]["suspendedReason"].clone(),
        d["tenant"]["dunningStage"].clone(),
        str_of(&d["subscription"]["status"]).to_owned(),
    )
}

/// A token-plan tenant (10M tokens included, then blocks of 8M at 100.00 charged at once)
/// with a saved card, a paid subscription fee and 1,000 credits; returns (tenant, owner).
async fn token_tenant(app: &TestApp, server: &StripeServer) -> (String, String) {
    app.create_metric("tokens").await;
    app.as_admin(
        "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
        json!({ "i": { "code": "tokens", "name": "tokens", "monthlyPriceMinor": "40000",
            "charges": [block_charge("tokens", "IMMEDIATELY", 10 * M, 8 * M, 10_000)] } }),
    )
    .await
    .data();
    let (tenant, owner) = app.tenant_with_owner("acme").await;
    save_card(app, server, &owner, "visa", "4242").await;
    app.subscribe(&owner, json!({ "planCode": "tokens" }))
        .await
        .data();
    deliver(app).await;
    app.as_admin(
        "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
        json!({ "i": { "tenantId": tenant, "credits": "1000", "reason": "prepaid" } }),
    )
    .await
    .data();
    (tenant, owner)
}

async fn usage(app: &TestApp, owner: &str, tokens: i64, key: &str) -> Gql {
    app.record_usage(owner, None, [usage_event("tokens", tokens, key)])
        .await
}

async fn consume(app: &TestApp, owner: &str, key: &str) -> Gql {
    app.as_token(
        owner,
        CONSUME,
        json!({ "i": { "metricCode": "tokens", "quantity": 1000, "operationType": "chat",
            "idempotencyKey": key } }),
    )
    .await
}

async fn reserve(app: &TestApp, owner: &str, key: &str) -> Gql {
    app.as_token(
        owner,
        RESERVE,
        json!({ "i": { "metricCode": "tokens", "quantity": 1000, "idempotencyKey": key,
            "ttlSeconds": 60 } }),
    )
    .await
}

/// The block invoice a usage report made.
fn block_invoice(r: &Gql) -> InvoiceId {
    let id = str_of(&r.data()["recordUsage"]["invoice"]["id"]).to_owned();
    InvoiceId::parse("id", &id).expect("a block invoice")
}

fn payment_required(r: &Gql, what: &str) {
    refused(r, "PAYMENT_REQUIRED", what);
}

#[tokio::test]
async fn stripe_dunning_stages_walk_a_decline_to_suspension_and_a_new_card_lifts_them() {
    let server = StripeServer::start().await;
    let app = stripe_app_with(&server, |c| c.webhooks_allow_private = true).await;
    let (tenant, owner) = token_tenant(&app, &server).await;
    let receiver = WebhookReceiver::start().await;
    app.endpoint_for(
        &owner,
        json!({ "url": receiver.url, "eventTypes": ["tenant.suspended", "tenant.reactivated"] }),
    )
    .await;
    assert_eq!(
        stages(&app, &tenant).await,
        ("ACTIVE".into(), Value::Null, Value::Null, "ACTIVE".into())
    );

    // The first attempt and the four retries of the schedule (days 1, 3, 5, 7) are declined.
    for _ in 0..5 {
        server.next(
            StripeEndpoint::PaymentIntents,
            StripeAnswer::decline("card_declined"),
        );
    }
    // 17M tokens: the first block (10M to 18M) is charged at once.
    let r = usage(&app, &owner, 17 * M, "u1").await;
    let invoice = block_invoice(&r);
    deliver(&app).await;
    assert_eq!(invoice_status(&app, invoice).await, "OPEN");
    let (status, _, stage, sub) = stages(&app, &tenant).await;
    assert_eq!(
        (status.as_str(), &stage, sub.as_str()),
        ("ACTIVE", &json!("PAST_DUE"), "PAST_DUE")
    );

    // Past due: usage and holds still work while the retries run.
    let r = usage(&app, &owner, M / 2, "u2").await;
    assert_eq!(r.data()["recordUsage"]["accepted"], 1, "{}", r.body);
    reserve(&app, &owner, "h1").await.data();

    for days in [1, 2, 2] {
        app.advance_days(days).await;
        assert_eq!(stages(&app, &tenant).await.2, json!("PAST_DUE"));
    }
    assert_eq!(payments_of(&app, invoice).await.len(), 4);
    // Day 7: the last retry fails and the schedule is over.
    app.advance_days(2).await;
    let payments = payments_of(&app, invoice).await;
    assert_eq!(payments.len(), 5, "{payments:?}");
    assert!(
        payments.iter().all(|p| p["status"] == "FAILED"),
        "{payments:?}"
    );
    let (status, _, stage, sub) = stages(&app, &tenant).await;
    assert_eq!(
        (status.as_str(), &stage, sub.as_str()),
        ("ACTIVE", &json!("UNPAID"), "UNPAID")
    );

    // Unpaid: usage that starts no new block is accepted; usage that would charge a block is
    // refused and writes nothing; new holds are refused; paid-for credits stay spendable.
    let r = usage(&app, &owner, M / 4, "u3").await;
    assert_eq!(r.data()["recordUsage"]["accepted"], 1, "{}", r.body);
    let before = app.invoices_of(&tenant).await.len();
    payment_required(&usage(&app, &owner, 10 * M, "u4").await, "a new block");
    assert_eq!(
        app.invoices_of(&tenant).await.len(),
        before,
        "no block invoice"
    );
    payment_required(&reserve(&app, &owner, "h2").await, "a new hold");
    let spent = consume(&app, &owner, "c1").await;
    assert!(spent.body["errors"].is_null(), "{}", spent.body);

    // Suspended seven days after the schedule ended, not before.
    app.advance_days(6).await;
    assert_eq!(stages(&app, &tenant).await.2, json!("UNPAID"));
    app.advance_days(1).await;
    let (status, reason, stage, sub) = stages(&app, &tenant).await;
    assert_eq!(
        (status.as_str(), &stage, sub.as_str()),
        ("SUSPENDED", &json!("SUSPENDED"), "UNPAID")
    );
    assert!(str_of(&reason).contains("unpaid invoices"), "{reason}");
    payment_required(&usage(&app, &owner, 1, "u5").await, "usage while suspended");
    payment_required(&reserve(&app, &owner, "h3").await, "a hold while suspended");
    let spent = consume(&app, &owner, "c2").await;
    assert!(spent.body["errors"].is_null(), "{}", spent.body);
    assert_eq!(
        payments_of(&app, invoice).await.len(),
        5,
        "no retry after the schedule"
    );

    // A new card collects the invoice at once, and paying lifts every stage.
    save_card(&app, &server, &owner, "mastercard", "5555").await;
    deliver(&app).await;
    assert_eq!(invoice_status(&app, invoice).await, "PAID");
    assert_eq!(
        stages(&app, &tenant).await,
        ("ACTIVE".into(), Value::Null, Value::Null, "ACTIVE".into())
    );
    let r = usage(&app, &owner, 10 * M, "u4").await;
    assert_eq!(r.data()["recordUsage"]["accepted"], 1, "{}", r.body);
    assert!(
        !r.data()["recordUsage"]["blockCharges"]
            .as_array()
            .expect("charges")
            .is_empty(),
        "{}",
        r.body
    );
    reserve(&app, &owner, "h2").await.data();
    // The jobs leave a lifted tenant alone.
    app.advance_days(1).await;
    assert_eq!(stages(&app, &tenant).await.2, Value::Null);

    // The application was told of the suspension and of the reactivation, once each.
    let told: Vec<Value> = receiver.accepted().iter().map(|r| r.json()).collect();
    let types: Vec<&str> = told.iter().map(|e| str_of(&e["type"])).collect();
    assert_eq!(
        types,
        ["tenant.suspended", "tenant.reactivated"],
        "{told:?}"
    );
    assert!(
        str_of(&told[0]["data"]["reason"]).contains("unpaid invoices"),
        "{told:?}"
    );
}

#[tokio::test]
async fn stripe_dunning_stages_wait_out_a_hard_decline_and_the_operator_can_lift_them() {
    let server = StripeServer::start().await;
    let app = stripe_app(&server).await;
    let (tenant, owner) = token_tenant(&app, &server).await;
    server.next(
        StripeEndpoint::PaymentIntents,
        StripeAnswer::decline("lost_card"),
    );
    let invoice = block_invoice(&usage(&app, &owner, 18 * M, "u1").await);
    deliver(&app).await;
    assert_eq!(stages(&app, &tenant).await.2, json!("PAST_DUE"));

    // No retries after a hard decline, but the stages follow the schedule's days.
    app.advance_days(6).await;
    assert_eq!(stages(&app, &tenant).await.2, json!("PAST_DUE"));
    app.advance_days(1).await;
    assert_eq!(stages(&app, &tenant).await.2, json!("UNPAID"));
    assert_eq!(payments_of(&app, invoice).await.len(), 1);
    payment_required(&usage(&app, &owner, 8 * M, "u2").await, "a new block");

    // The operator records a payment that arrived another way: every stage lifts.
    app.as_admin(
        "mutation($id: ID!) { markInvoicePaid(id: $id) { status } }",
        json!({ "id": invoice.to_string() }),
    )
    .await
    .data();
    assert_eq!(
        stages(&app, &tenant).await,
        ("ACTIVE".into(), Value::Null, Value::Null, "ACTIVE".into())
    );
    let r = usage(&app, &owner, 8 * M, "u2").await;
    assert_eq!(r.data()["recordUsage"]["accepted"], 1, "{}", r.body);
}
