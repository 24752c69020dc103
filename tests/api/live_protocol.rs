//! Bad input on `/graphql/ws`, sent over a raw WebSocket since a correct client never sends it:
//! each violation gets its graphql-transport-ws close code (or, for too many subscriptions, an
//! `error` message for that id), and a well-behaved client on the same server keeps being
//! served.
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::*;

const WALLET: &str = "subscription { walletChanged { balance } }";

async fn setup(customise: impl FnOnce(&mut billing::config::Config)) -> (TestApp, String, String) {
    let app = spawn_app_with(customise).await;
    app.create_metric("tokens").await;
    let (tenant, owner) = app.tenant_with_owner("live-proto").await;
    app.as_admin(
        "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
        json!({ "i": { "tenantId": tenant, "credits": "100", "reason": "live test" } }),
    )
    .await
    .data();
    (app, tenant, owner)
}

async fn spend(app: &TestApp, token: &str, key: &str) -> String {
    let r = app
        .as_token(
            token,
            "mutation($i: ConsumeCreditsInput!) { consumeCredits(input: $i) { balance } }",
            json!({ "i": { "metricCode": "tokens", "quantity": 1, "idempotencyKey": key } }),
        )
        .await;
    str_of(&r.data()["consumeCredits"]["balance"]).to_owned()
}

/// The next message of `kind` for `id`, skipping the others (a subscription may be nudged
/// again for a value it already showed).
async fn message(ws: &mut RawWs, kind: &str, id: &str) -> Value {
    loop {
        let Frame::Json(m) = ws.recv().await else {
            panic!("closed while waiting for {kind} {id}");
        };
        if m["type"] == kind && m["id"] == id {
            return m;
        }
    }
}

/// The balance of a `next` message for subscription `id`.
fn balance_of(frame: &Frame, id: &str) -> Decimal {
    let Frame::Json(m) = frame else {
        panic!("expected a message, got {frame:?}");
    };
    assert_eq!((&m["type"], &m["id"]), (&json!("next"), &json!(id)), "{m}");
    Decimal::from_str(str_of(&m["payload"]["data"]["walletChanged"]["balance"])).expect("balance")
}

#[tokio::test]
async fn each_protocol_violation_gets_its_close_code_and_others_are_still_served() {
    let (app, _, owner) = setup(|c| {
        c.ws_init_timeout_ms = 500;
        c.max_query_depth = 3;
    })
    .await;
    // A well-behaved client, watching throughout.
    let mut good = RawWs::ready(&app, &owner).await;
    good.subscribe("w", WALLET, json!({})).await;
    balance_of(&good.recv().await, "w");
    // The query limits apply: too deep is an `error` for that id, and the connection stays.
    let deep = "subscription { walletChanged { ledger { edges { node { id } } } } }";
    good.subscribe("deep", deep, json!({})).await;
    let refused = message(&mut good, "error", "deep").await;
    assert_eq!(
        (&refused["type"], &refused["id"]),
        (&json!("error"), &json!("deep")),
        "{refused}"
    );
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "VALIDATION",
        "{refused}"
    );

    let proto = Some("graphql-transport-ws");
    let cases: Vec<(&str, Vec<Value>, Option<&str>, u16)> = vec![
        (
            "subscribe before connection_init",
            vec![json!({ "type": "subscribe", "id": "1",
            "payload": { "query": WALLET } })],
            None,
            4401,
        ),
        ("malformed JSON", vec![], Some("{not json"), 4400),
        ("no type", vec![json!({ "id": "1" })], None, 4400),
        (
            "unknown type",
            vec![json!({ "type": "start", "id": "1" })],
            None,
            4400,
        ),
        (
            "a second connection_init",
            vec![
                json!({ "type": "connection_init", "payload": { "token": owner } }),
                json!({ "type": "connection_init", "payload": { "token": owner } }),
            ],
            None,
            4429,
        ),
        (
            "subscribe without a payload",
            vec![
                json!({ "type": "connection_init", "payload": { "token": owner } }),
                json!({ "type": "subscribe", "id": "1" }),
            ],
            None,
            4400,
        ),
        (
            "an id already running",
            vec![
                json!({ "type": "connection_init", "payload": { "token": owner } }),
                json!({ "type": "subscribe", "id": "same", "payload": { "query": WALLET } }),
                json!({ "type": "subscribe", "id": "same", "payload": { "query": WALLET } }),
            ],
            None,
            4409,
        ),
        (
            "a bad token",
            vec![json!({ "type": "connection_init", "payload": { "token": "nope" } })],
            None,
            4403,
        ),
        ("no connection_init in time", vec![], None, 4408),
    ];
    for (what, messages, raw, code) in cases {
        let mut ws = RawWs::connect(&app, proto).await;
        for m in messages {
            ws.send(m).await;
        }
        if let Some(raw) = raw {
            ws.send_text(raw).await;
        }
        let (got, reason) = ws.closed().await;
        assert_eq!(got, code, "{what}: closed with {got} {reason:?}");
    }

    // Without the subprotocol: 4406.
    let mut ws = RawWs::connect(&app, None).await;
    assert_eq!(ws.closed().await.0, 4406);

    // The well-behaved client still sees every change.
    let after = spend(&app, &owner, "after-violations").await;
    loop {
        let m = message(&mut good, "next", "w").await;
        if str_of(&m["payload"]["data"]["walletChanged"]["balance"]) == after {
            break;
        }
    }
}

#[tokio::test]
async fn too_many_subscriptions_per_connection_or_per_tenant_get_an_error_and_the_rest_go_on() {
    let (app, tenant, owner) = setup(|c| {
        c.ws_max_subscriptions_per_connection = 2;
        c.ws_max_subscriptions_per_tenant = 3;
    })
    .await;
    let mut first = RawWs::ready(&app, &owner).await;
    for id in ["a", "b"] {
        first.subscribe(id, WALLET, json!({})).await;
        balance_of(&first.recv().await, id);
    }
    // A third on the same connection: refused for that id only.
    first.subscribe("c", WALLET, json!({})).await;
    let refused = message(&mut first, "error", "c").await;
    assert_eq!(
        (&refused["type"], &refused["id"]),
        (&json!("error"), &json!("c")),
        "{refused}"
    );
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "RATE_LIMITED",
        "{refused}"
    );

    // The tenant's third on another connection fits; its fourth does not.
    let mut second = RawWs::ready(&app, &owner).await;
    second.subscribe("x", WALLET, json!({})).await;
    balance_of(&Frame::Json(message(&mut second, "next", "x").await), "x");
    second.subscribe("y", WALLET, json!({})).await;
    let refused = message(&mut second, "error", "y").await;
    assert_eq!(
        (&refused["type"], &refused["id"]),
        (&json!("error"), &json!("y")),
        "{refused}"
    );
    assert!(
        str_of(&refused["payload"][0]["message"]).contains("per tenant"),
        "{refused}"
    );
    assert_eq!(
        app.state
            .live
            .open_for(billing::domain::TenantId::parse("t", &tenant).expect("id")),
        3
    );

    // Completing one frees a slot for the tenant.
    first.send(json!({ "type": "complete", "id": "a" })).await;
    let id = billing::domain::TenantId::parse("t", &tenant).expect("id");
    while app.state.live.open_for(id) > 2 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    second.subscribe("z", WALLET, json!({})).await;
    balance_of(&Frame::Json(message(&mut second, "next", "z").await), "z");

    // Everyone left keeps being served (a re-read of an earlier balance may come first).
    let after = spend(&app, &owner, "after-limits").await;
    let mut seen: Vec<String> = Vec::new();
    for (ws, expected) in [(&mut first, 1), (&mut second, 2)] {
        let mut got = 0;
        while got < expected {
            let Frame::Json(m) = ws.recv().await else {
                panic!("closed")
            };
            if str_of(&m["payload"]["data"]["walletChanged"]["balance"]) == after {
                seen.push(m["id"].as_str().unwrap_or_default().to_owned());
                got += 1;
            }
        }
    }
    seen.sort();
    assert_eq!(seen, ["b", "x", "z"]);
}
