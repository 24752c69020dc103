//! Block charges across a plan change in the middle of a period: blocks continue from the
//! highest one charged, so none is charged twice (which once made every later batch fail on
//! the unique block key) and none is skipped.
use serde_json::{Value, json};

use crate::helpers::*;

const M: i64 = 1_000_000;

async fn block_plan(app: &TestApp, code: &str, included: i64) {
    app.as_admin(
        "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
        json!({ "i": { "code": code, "name": code, "monthlyPriceMinor": "40000",
            "charges": [block_charge("tokens", "IMMEDIATELY", included, 8 * M, 10_000)] } }),
    )
    .await
    .data();
}

async fn report(app: &TestApp, owner: &str, key: &str, quantity: i64) -> Value {
    app.record_usage(owner, None, [usage_event("tokens", quantity, key)])
        .await
        .data()["recordUsage"]
        .clone()
}

fn indices(payload: &Value) -> Vec<i64> {
    payload["blockCharges"]
        .as_array()
        .expect("block charges")
        .iter()
        .map(|c| c["blockIndex"].as_i64().expect("block index"))
        .collect()
}

async fn change_plan(app: &TestApp, owner: &str, plan: &str) {
    app.as_token(
        owner,
        "mutation($p: String!) { changePlan(input: { planCode: $p }) { subscription { plan { code } } } }",
        json!({ "p": plan }),
    )
    .await
    .data();
}

#[tokio::test]
async fn after_a_change_to_more_included_units_no_block_is_charged_twice() {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    app.create_metric("tokens").await;
    block_plan(&app, "zero-inc", 0).await;
    block_plan(&app, "tokens-8m", 8 * M).await;
    let s = app.subscribed("acme", "zero-inc").await;
    assert_eq!(
        indices(&report(&app, &s.owner, "r1", 10 * M).await),
        vec![1, 2]
    );

    change_plan(&app, &s.owner, "tokens-8m").await;
    let r = report(&app, &s.owner, "r2", 7 * M).await;
    assert_eq!(r["accepted"], 1, "{r}");
    assert_eq!(indices(&r), Vec::<i64>::new(), "block 2 is already charged");
    let r = report(&app, &s.owner, "r3", 8 * M).await;
    assert_eq!(indices(&r), vec![3], "{r}");
}

#[tokio::test]
async fn after_a_change_to_fewer_included_units_no_block_is_skipped() {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    app.create_metric("tokens").await;
    block_plan(&app, "tokens-8m", 8 * M).await;
    block_plan(&app, "zero-inc", 0).await;
    let s = app.subscribed("acme", "tokens-8m").await;
    assert_eq!(
        indices(&report(&app, &s.owner, "r1", 10 * M).await),
        vec![1]
    );

    change_plan(&app, &s.owner, "zero-inc").await;
    let r = report(&app, &s.owner, "r2", 6 * M).await;
    assert_eq!(indices(&r), vec![2], "8M to 16M under the new plan: {r}");
}
