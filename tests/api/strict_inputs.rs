//! Strict inputs: a `BigInt` string is canonical decimal, and the refusal says what is wrong
//! with it. (Each refused value, and the fields a charge model does not take, are also in
//! `validation.rs`, which checks that nothing was written.)
use serde_json::json;

use crate::helpers::*;

const CREATE_PLAN: &str = "mutation($i: PlanInput!) { createPlan(input: $i) { plan { code monthlyPrice { amountMinor } } } }";

#[tokio::test]
async fn a_big_int_that_is_not_canonical_is_refused_naming_the_problem() {
    let app = spawn_app().await;
    for (text, problem) in [
        (" 42", "canonical decimal"),
        ("+42", "canonical decimal"),
        ("042", "leading zero"),
        ("-0", "negative zero"),
        ("", "empty"),
        ("99999999999999999999", "64 bits"),
    ] {
        let plan = json!({ "code": "pro", "name": "Pro", "monthlyPriceMinor": text });
        let r = app.as_admin(CREATE_PLAN, json!({ "i": plan })).await;
        let err = r.expect_code("VALIDATION");
        let message = err["message"].as_str().unwrap_or_default();
        assert!(message.contains(problem), "{text:?}: {}", r.body);
        assert!(r.body["data"].is_null(), "{text:?}: {}", r.body);
    }
    // Written inline in the query text, the same.
    let r = app
        .as_admin(
            "mutation { createPlan(input: { code: \"pro\", name: \"Pro\", monthlyPriceMinor: \"042\" }) { plan { id } } }",
            json!({}),
        )
        .await;
    let err = r.expect_code("VALIDATION");
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("leading zero"),
        "{}",
        r.body
    );
    assert_eq!(app.count("plans").await, 0);
}

#[tokio::test]
async fn canonical_strings_and_json_integers_are_big_ints() {
    let app = spawn_app().await;
    for (code, price, expected) in [
        ("zero", json!("0"), "0"),
        ("text", json!("4900"), "4900"),
        ("number", json!(4900), "4900"),
        ("number-zero", json!(0), "0"),
        ("largest", json!("1000000000000000"), "1000000000000000"),
    ] {
        let plan = json!({ "code": code, "name": code, "monthlyPriceMinor": price });
        let r = app.as_admin(CREATE_PLAN, json!({ "i": plan })).await;
        let amount = &r.data()["createPlan"]["plan"]["monthlyPrice"]["amountMinor"];
        assert_eq!(amount, expected, "{code}: {}", r.body);
    }
}
