use billing::domain::Role;
use serde_json::{Value, json};

use crate::helpers::*;

const PLAN_FIELDS: &str = "id code version isCurrent name currency trialDays features
    monthlyPrice { amountMinor currency formatted } yearlyPrice { amountMinor }
    limits { metricCode value enforcement }
    charges { metricCode timing model includedUnits blockSize blockPrice { amountMinor formatted }
              unitPriceMinor credits perUnits creditRounding }";

fn by_code<'a>(items: &'a [Value], code: &str) -> &'a Value {
    items
        .iter()
        .find(|p| p["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {items:?}"))
}

#[tokio::test]
async fn the_demo_catalog_holds_the_products_plans_packs_and_coupon() {
    let app = spawn_app().await;
    let demo = billing::demo::load(&app.state).await.expect("demo loads");
    let member = app.tenant_token(&demo.tenant_id.to_string(), Role::Member);

    let q = format!("{{ plans {{ edges {{ node {{ {PLAN_FIELDS} }} }} }} }}");
    let r = app.as_token(&member, &q, json!({})).await;
    let plans = nodes(&r, "plans");
    assert_eq!(plans.len(), 5);
    for (code, monthly, yearly, api_calls) in [
        ("free", "0", "0", "1000"),
        ("starter", "2900", "29000", "10000"),
        ("professional", "9900", "99000", "100000"),
        ("enterprise", "29900", "299000", "1000000"),
    ] {
        let p = by_code(&plans, code);
        assert_eq!(p["monthlyPrice"]["amountMinor"], monthly, "{code}");
        assert_eq!(p["yearlyPrice"]["amountMinor"], yearly, "{code}");
        let limit = p["limits"]
            .as_array()
            .expect("limits")
            .iter()
            .find(|l| l["metricCode"] == "api_calls")
            .cloned();
        assert_eq!(
            limit.expect("api_calls limit")["value"],
            api_calls,
            "{code}"
        );
    }
    let tokens = by_code(&plans, "tokens-400");
    assert_eq!(tokens["monthlyPrice"]["formatted"], "R$ 400,00");
    let charge = &tokens["charges"][0];
    assert_eq!(charge["metricCode"], "tokens");
    assert_eq!(charge["model"], "BLOCK");
    assert_eq!(charge["timing"], "IMMEDIATELY");
    assert_eq!(charge["includedUnits"], "8000000");
    assert_eq!(charge["blockSize"], "8000000");
    assert_eq!(charge["blockPrice"]["amountMinor"], "10000");
    assert_eq!(charge["blockPrice"]["formatted"], "R$ 100,00");

    let r = app
        .as_token(
            &member,
            "{ creditPacks { edges { node { code credits price { amountMinor formatted } } } } }",
            json!({}),
        )
        .await;
    let packs = nodes(&r, "creditPacks");
    for (code, credits, price, formatted) in [
        ("start", "100", "3970", "R$ 39,70"),
        ("growth", "300", "9970", "R$ 99,70"),
        ("pro", "800", "19970", "R$ 199,70"),
        ("master", "2000", "39700", "R$ 397,00"),
    ] {
        let p = by_code(&packs, code);
        assert_eq!(p["credits"], credits);
        assert_eq!(p["price"]["amountMinor"], price);
        assert_eq!(p["price"]["formatted"], formatted);
    }

    let r = app
        .as_token(
            &member,
            "{ coupon(code: \"welcome20\") { code percentOff duration durationPeriods } }",
            json!({}),
        )
        .await;
    assert_eq!(r.data()["coupon"]["code"], "WELCOME20");
    assert_eq!(r.data()["coupon"]["percentOff"], 20);
}

#[tokio::test]
async fn loading_the_demo_twice_adds_nothing_and_gives_the_owner_a_fresh_password() {
    let app = spawn_app().await;
    let first = billing::demo::load(&app.state).await.expect("first load");
    let second = billing::demo::load(&app.state).await.expect("second load");
    assert_eq!(first.tenant_id, second.tenant_id);
    assert_eq!(app.count("plans").await, 5);
    assert_eq!(app.count("creditPacks").await, 4);
    assert_eq!(app.count("tenants").await, 1);
    let login = "mutation($i: LoginInput!) { login(input: $i) { user { role } } }";
    let old = json!({ "i": { "email": first.owner_email, "password": first.owner_password } });
    app.anonymous(login, old)
        .await
        .expect_code("UNAUTHENTICATED");
    let new = json!({ "i": { "email": second.owner_email, "password": second.owner_password } });
    assert_eq!(
        app.anonymous(login, new).await.data()["login"]["user"]["role"],
        "OWNER"
    );
}

async fn create_plan(app: &TestApp, mutation: &str, monthly: i64) -> Gql {
    let q = format!(
        "mutation($i: PlanInput!) {{ {mutation}(input: $i) {{ plan {{ {PLAN_FIELDS} }} }} }}"
    );
    let input = json!({ "i": {
        "code": "team", "name": "Team", "monthlyPriceMinor": monthly, "yearlyPriceMinor": "29000",
        "trialDays": 14, "features": ["Chat"],
        "limits": [{ "metricCode": "api_calls", "value": "10000", "enforcement": "SOFT" }],
        "charges": [
            { "metricCode": "api_calls", "timing": "PERIOD_END", "model": "UNIT", "includedUnits": 1000, "unitPriceMinor": "0.05" },
            { "metricCode": "tokens", "timing": "IMMEDIATELY", "model": "CREDITS", "credits": "1", "perUnits": "1000", "creditRounding": "EXACT" }
        ]
    }});
    app.as_admin(&q, input).await
}

#[tokio::test]
async fn a_plan_with_unit_and_credit_charges_round_trips() {
    let app = spawn_app().await;
    app.create_metric("api_calls").await;
    app.create_metric("tokens").await;
    let r = create_plan(&app, "createPlan", 2900).await;
    let p = &r.data()["createPlan"]["plan"];
    assert_eq!(p["version"], 1);
    assert_eq!(p["trialDays"], 14);
    assert_eq!(p["limits"][0]["enforcement"], "SOFT");
    assert_eq!(p["charges"][0]["model"], "UNIT");
    assert_eq!(p["charges"][0]["unitPriceMinor"], "0.05");
    assert_eq!(p["charges"][0]["includedUnits"], "1000");
    assert_eq!(p["charges"][1]["credits"], "1");
    assert_eq!(p["charges"][1]["perUnits"], "1000");
    assert_eq!(p["charges"][1]["creditRounding"], "EXACT");
}

#[tokio::test]
async fn a_new_plan_version_leaves_the_old_version_as_it_was() {
    let app = spawn_app().await;
    app.create_metric("api_calls").await;
    app.create_metric("tokens").await;
    let v1 = create_plan(&app, "createPlan", 2900).await.data()["createPlan"]["plan"].clone();
    let v2 =
        create_plan(&app, "publishPlanVersion", 3900).await.data()["publishPlanVersion"]["plan"]
            .clone();
    assert_eq!(v2["version"], 2);
    assert_ne!(v1["id"], v2["id"]);

    let q = format!("query($v: Int) {{ plan(code: \"team\", version: $v) {{ {PLAN_FIELDS} }} }}");
    let current = app.as_admin(&q, json!({})).await.data()["plan"].clone();
    assert_eq!(current["monthlyPrice"]["amountMinor"], "3900");
    let old = app.as_admin(&q, json!({ "v": 1 })).await.data()["plan"].clone();
    assert_eq!(old["monthlyPrice"]["amountMinor"], "2900");
    assert_eq!(old["isCurrent"], false);
    assert_eq!(old["id"], v1["id"]);
    assert_eq!(old["charges"], v1["charges"]);

    assert_eq!(app.count("plans").await, 1);
    let r = app
        .as_admin(
            "{ plans(allVersions: true) { edges { node { version } } } }",
            json!({}),
        )
        .await;
    assert_eq!(nodes(&r, "plans").len(), 2);
    // A second createPlan with the same code is a conflict, not a silent new version.
    create_plan(&app, "createPlan", 4900)
        .await
        .expect_code("CONFLICT");
}

#[tokio::test]
async fn a_new_credit_pack_version_leaves_the_old_price_alone() {
    let app = spawn_app().await;
    let q = "mutation($i: CreditPackInput!) { create: createCreditPack(input: $i) { creditPack { id version price { amountMinor } } } }";
    let v1 = app.as_admin(q, json!({ "i": { "code": "start", "name": "Start", "credits": "100", "priceMinor": 3970 } })).await;
    let v1 = v1.data()["create"]["creditPack"].clone();
    let q2 = "mutation($i: CreditPackInput!) { publishCreditPackVersion(input: $i) { creditPack { id version isCurrent price { amountMinor } } } }";
    let v2 = app.as_admin(q2, json!({ "i": { "code": "start", "name": "Start", "credits": "100", "priceMinor": 4970 } })).await;
    let v2 = v2.data()["publishCreditPackVersion"]["creditPack"].clone();
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["isCurrent"], true);
    let r = app.as_admin("{ creditPacks(allVersions: true) { edges { node { id version isCurrent price { amountMinor } } } } }", json!({})).await;
    let all = nodes(&r, "creditPacks");
    let old = all
        .iter()
        .find(|p| p["id"] == v1["id"])
        .expect("v1 still there");
    assert_eq!(old["price"]["amountMinor"], "3970");
    assert_eq!(old["isCurrent"], false);
    let r = app
        .as_admin(
            "{ creditPack(code: \"start\") { price { amountMinor } } }",
            json!({}),
        )
        .await;
    assert_eq!(r.data()["creditPack"]["price"]["amountMinor"], "4970");
}

#[tokio::test]
async fn money_is_formatted_in_the_callers_tenant_locale() {
    let app = spawn_app().await;
    billing::demo::load(&app.state).await.expect("demo");
    let r = app
        .as_admin(
            "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }",
            json!({ "i": { "name": "US Co", "slug": "us-co", "billingEmail": "b@us.example.com", "locale": "en-US" } }),
        )
        .await;
    let tenant = r.data()["createTenant"]["tenant"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let token = app.tenant_token(&tenant, Role::Owner);
    let r = app
        .as_token(
            &token,
            "{ plan(code: \"tokens-400\") { monthlyPrice { formatted } } }",
            json!({}),
        )
        .await;
    assert_eq!(r.data()["plan"]["monthlyPrice"]["formatted"], "R$400.00");
}

#[tokio::test]
async fn coupons_can_be_fixed_amounts_restricted_to_plans() {
    let app = spawn_app().await;
    billing::demo::load(&app.state).await.expect("demo");
    let r = app
        .as_admin(
            "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { code amountOff { amountMinor currency } duration planCodes maxRedemptions timesRedeemed } } }",
            json!({ "i": { "code": "save10", "name": "R$ 10 off", "amountOffMinor": 1000, "duration": "ONCE",
                           "maxRedemptions": 50, "planCodes": ["starter"], "validUntil": "2030-01-01T00:00:00Z" } }),
        )
        .await;
    let c = &r.data()["createCoupon"]["coupon"];
    assert_eq!(c["code"], "SAVE10");
    assert_eq!(c["amountOff"]["amountMinor"], "1000");
    assert_eq!(c["amountOff"]["currency"], "BRL");
    assert_eq!(c["planCodes"], json!(["starter"]));
    assert_eq!(c["timesRedeemed"], 0);
    assert_eq!(app.count("coupons").await, 2);
}
