//! Live updates over GraphQL subscriptions, seen through the npm `graphql-ws` client (a client
//! this project did not write): balances falling on two replicas, tenant isolation, refused and
//! expiring credentials, nothing for a rolled-back transaction, usage, invoices, notifications.
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::*;

const WALLET: &str =
    "subscription($t: ID) { walletChanged(tenantId: $t) { tenantId balance held } }";

async fn grant(app: &TestApp, tenant: &str, credits: &str) {
    let r = app
        .as_admin(
            "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
            json!({ "i": { "tenantId": tenant, "credits": credits, "reason": "live test" } }),
        )
        .await;
    r.data();
}

/// Consumes `quantity` tokens; the balance after, or the error code.
async fn consume(app: &TestApp, token: &str, quantity: i64, key: &str) -> Result<String, String> {
    let r = app
        .as_token(
            token,
            "mutation($i: ConsumeCreditsInput!) { consumeCredits(input: $i) { balance } }",
            json!({ "i": { "metricCode": "tokens", "quantity": quantity,
                "operationType": "chat", "idempotencyKey": key } }),
        )
        .await;
    match r.code() {
        Some(code) => Err(code.to_owned()),
        None => Ok(str_of(&r.data()["consumeCredits"]["balance"]).to_owned()),
    }
}

fn credits(v: &Value) -> Decimal {
    Decimal::from_str(str_of(v)).unwrap_or_else(|_| panic!("credits: {v}"))
}

async fn tenant_with_credits(app: &TestApp, slug: &str, amount: &str) -> (String, String) {
    let (tenant, owner) = app.tenant_with_owner(slug).await;
    grant(app, &tenant, amount).await;
    (tenant, owner)
}

#[tokio::test]
async fn a_client_sees_its_balance_fall_as_it_consumes_on_either_replica() {
    let a = spawn_app_with(shared_redis).await;
    let b = a.restarted().await;
    a.create_metric("tokens").await;
    let (tenant, owner) = tenant_with_credits(&a, "live-both", "100").await;
    listening(&a, 0).await;
    listening(&b, 0).await;
    let mut on_a = NodeClient::start(&a, &owner, &[(WALLET, json!({}))]);
    let mut on_b = NodeClient::start(&b, &owner, &[(WALLET, json!({}))]);
    let mut last = Decimal::from(100);
    for client in [&mut on_a, &mut on_b] {
        let first = client.next_data().await;
        assert_eq!(first["walletChanged"]["tenantId"], tenant.as_str());
        assert_eq!(credits(&first["walletChanged"]["balance"]), last);
    }
    // Consumed on B, then on A: each client, on either replica, sees each new balance.
    for (i, replica) in [&b, &a, &b].into_iter().enumerate() {
        let after = consume(replica, &owner, 3, &format!("k{i}"))
            .await
            .expect("consumed");
        let after = Decimal::from_str(&after).expect("balance");
        assert!(after < last, "{after} after {last}");
        for client in [&mut on_a, &mut on_b] {
            let seen = client.next_data().await;
            assert_eq!(credits(&seen["walletChanged"]["balance"]), after, "{seen}");
            assert_eq!(credits(&seen["walletChanged"]["held"]), Decimal::ZERO);
        }
        last = after;
    }
}

#[tokio::test]
async fn another_tenants_stream_is_forbidden_and_shows_nothing_while_the_admin_may_name_it() {
    let app = spawn_app().await;
    app.create_metric("tokens").await;
    let (mine, owner) = tenant_with_credits(&app, "live-mine", "50").await;
    let (theirs, their_owner) = tenant_with_credits(&app, "live-theirs", "50").await;
    let mut client = NodeClient::start(
        &app,
        &owner,
        &[(WALLET, json!({ "t": theirs })), (WALLET, json!({}))],
    );
    let mut forbidden = None;
    let mut own_first = None;
    while forbidden.is_none() || own_first.is_none() {
        let e = client.next().await;
        match (e["event"].as_str(), e["op"].as_u64()) {
            (Some("error"), Some(0)) => forbidden = Some(e),
            (Some("next"), Some(1)) => own_first = Some(e),
            (Some("connected"), _) => {}
            _ => panic!("unexpected event {e}"),
        }
    }
    let forbidden = forbidden.expect("error");
    assert_eq!(
        forbidden["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{forbidden}"
    );
    let own_first = own_first.expect("first");
    assert_eq!(
        own_first["payload"]["data"]["walletChanged"]["tenantId"],
        mine.as_str()
    );

    // Their balance moves first, then ours: the next event is ours, never theirs.
    consume(&app, &their_owner, 5, "theirs-1")
        .await
        .expect("theirs");
    let ours = consume(&app, &owner, 2, "mine-1").await.expect("mine");
    let next = client.next().await;
    assert_eq!(
        (next["event"].as_str(), next["op"].as_u64()),
        (Some("next"), Some(1)),
        "{next}"
    );
    let wallet = &next["payload"]["data"]["walletChanged"];
    assert_eq!(wallet["tenantId"], mine.as_str());
    assert_eq!(str_of(&wallet["balance"]), ours);

    // The operator names the tenant.
    let mut admin = NodeClient::start(&app, &app.admin_token, &[(WALLET, json!({ "t": theirs }))]);
    let seen = admin.next_data().await;
    assert_eq!(seen["walletChanged"]["tenantId"], theirs.as_str());
}

#[tokio::test]
async fn the_connection_is_refused_with_a_bad_token_and_closed_when_the_token_expires() {
    let app = spawn_app().await;
    app.create_metric("tokens").await;
    let (tenant, owner) = tenant_with_credits(&app, "live-auth", "10").await;

    for bad in ["not-a-token", "", "bk_live_000000000000000000000000"] {
        let mut client = NodeClient::start(&app, bad, &[(WALLET, json!({}))]);
        let closed = client.until("closed").await;
        assert_eq!(closed["code"], 4403, "{bad:?}: {closed}");
    }

    let token = short_lived_token(&app, &tenant, 3);
    let mut client = NodeClient::start(&app, &token, &[(WALLET, json!({}))]);
    let first = client.next_data().await;
    assert_eq!(first["walletChanged"]["tenantId"], tenant.as_str());
    let closed = client.until("closed").await;
    assert_eq!(closed["code"], 4403, "{closed}");
    assert!(str_of(&closed["reason"]).contains("expired"), "{closed}");

    // The same tenant with a valid token is served as before.
    let mut fresh = NodeClient::start(&app, &owner, &[(WALLET, json!({}))]);
    fresh.next_data().await;
}

#[tokio::test]
async fn a_rolled_back_spend_sends_nothing() {
    let app = spawn_app().await;
    app.create_metric("tokens").await;
    let (_, owner) = tenant_with_credits(&app, "live-rollback", "20").await;
    let mut client = NodeClient::start(&app, &owner, &[(WALLET, json!({}))]);
    let first = client.next_data().await;
    let before = credits(&first["walletChanged"]["balance"]);
    // More than the balance: refused, its transaction rolled back.
    assert_eq!(
        consume(&app, &owner, 1_000_000, "too-much").await,
        Err("INSUFFICIENT_CREDITS".into())
    );
    let after = consume(&app, &owner, 1, "fits").await.expect("consumed");
    // The next event is the committed spend; the refused one showed nothing.
    let seen = client.next_data().await;
    assert_eq!(str_of(&seen["walletChanged"]["balance"]), after);
    assert_ne!(credits(&seen["walletChanged"]["balance"]), before);
}

#[tokio::test]
async fn usage_invoices_and_notifications_stream_as_they_commit() {
    let app = spawn_app().await;
    app.create_metric("tokens").await;
    app.create_plan("live-basic", 1_000, None, 0).await;
    let s = app.subscribed("live-usage", "live-basic").await;
    let (tenant, owner) = (s.tenant.clone(), s.owner.clone());
    let usage = "subscription { usageChanged(metricCode: \"tokens\") { metricCode totalQuantity events blockChargesCount } }";
    let invoices = "subscription { invoiceChanged { id tenantId status } }";
    let notes = "subscription { notificationAdded { tenantId kind reference } }";
    let mut client = NodeClient::start(
        &app,
        &owner,
        &[
            (usage, json!({})),
            (invoices, json!({})),
            (notes, json!({})),
        ],
    );
    let first = client.until("next").await;
    assert_eq!(
        first["payload"]["data"]["usageChanged"]["totalQuantity"], "0",
        "{first}"
    );
    listening(&app, 3).await;

    // Usage: the period total after the batch.
    let r = app
        .record_usage(
            &owner,
            None,
            [
                usage_event("tokens", 7, "u1"),
                usage_event("tokens", 5, "u2"),
            ],
        )
        .await;
    assert_eq!(r.data()["recordUsage"]["accepted"], 2);
    let e = client.until("next").await;
    let summary = &e["payload"]["data"]["usageChanged"];
    assert_eq!(
        (&summary["totalQuantity"], &summary["events"]),
        (&json!("12"), &json!(2)),
        "{e}"
    );

    // An invoice created, then finalized.
    let created = app
        .as_admin(
            "mutation($i: CreateInvoiceInput!) { createInvoice(input: $i) { id } }",
            json!({ "i": { "tenantId": tenant, "lines": [
                { "description": "Setup", "quantity": "1", "unitAmountMinor": "500" } ] } }),
        )
        .await;
    let id = str_of(&created.data()["createInvoice"]["id"]).to_owned();
    let e = client.until("next").await;
    assert_eq!(
        e["payload"]["data"]["invoiceChanged"],
        json!({ "id": id, "tenantId": tenant, "status": "DRAFT" }),
        "{e}"
    );
    app.as_admin(
        "mutation($id: ID!) { finalizeInvoice(id: $id) { id } }",
        json!({ "id": id }),
    )
    .await
    .data();
    let e = client.until("next").await;
    assert_eq!(
        e["payload"]["data"]["invoiceChanged"]["status"], "OPEN",
        "{e}"
    );

    // A notification: the balance falls below the low-balance threshold (10 credits).
    grant(&app, &tenant, "12").await;
    consume(&app, &owner, 5_000, "low").await.expect("consumed");
    let mut e = client.until("next").await;
    if e["payload"]["data"]["notificationAdded"]["kind"] == "invoice_finalized" {
        // Finalizing the invoice above recorded its own notification (the issued-invoice
        // email); it streams before the low balance.
        assert_eq!(
            e["payload"]["data"]["notificationAdded"]["reference"], id,
            "{e}"
        );
        e = client.until("next").await;
    }
    let note = &e["payload"]["data"]["notificationAdded"];
    assert_eq!(note["tenantId"], tenant.as_str(), "{e}");
    assert_eq!(note["kind"], "low_balance", "{e}");
    let stored = app.notifications_of_kind(&tenant, "low_balance").await;
    assert_eq!(stored.len(), 1);
}
