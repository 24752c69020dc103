//! Cost-based query limits: each attack from the hardening issue is refused before it runs,
//! with `VALIDATION` or `RATE_LIMITED` and `extensions.limit` naming the setting that refused
//! it; a tenant that spends its budget does not slow or block another.
use billing::domain::Role;
use serde_json::{Value, json};

use crate::helpers::*;

/// Asserts a refusal with `code` by the limit `limit`, and that nothing ran.
fn refused_by(r: &Gql, code: &str, limit: &str) -> Value {
    let err = r.body["errors"][0].clone();
    assert_eq!(err["extensions"]["code"], code, "{}", r.body);
    assert_eq!(err["extensions"]["limit"], limit, "{}", r.body);
    assert!(r.body["data"].is_null(), "nothing ran: {}", r.body);
    err
}

/// `n` aliases of `usageSummary`, the attack that once ran 32 s on a tenant with 200k events.
fn summary_aliases(n: usize) -> String {
    let fields: String = (0..n)
        .map(|i| format!("a{i}: usageSummary(metricCode: \"tokens\") {{ totalQuantity }} "))
        .collect();
    format!("{{ {fields} }}")
}

async fn tenant_api_key(app: &TestApp, slug: &str) -> String {
    let tenant = app.create_tenant(slug).await;
    let owner = app.tenant_token(&tenant, Role::Owner);
    app.create_api_key(&owner, None, "attacker").await.1
}

#[tokio::test]
async fn a_thousand_aliases_of_usage_summary_are_refused_before_they_run() {
    let app = spawn_app().await;
    app.create_metric("tokens").await;
    let key = tenant_api_key(&app, "acme").await;
    let query = summary_aliases(1_000);

    // At the defaults the text alone is over the size cap: refused before parsing.
    let r = app.as_token(&key, &query, json!({})).await;
    refused_by(&r, "VALIDATION", "BILLING_MAX_QUERY_BYTES");

    // With the size and token caps raised, the alias cap refuses it right after parsing.
    let app = spawn_app_with(|c| {
        c.max_query_bytes = 1 << 20;
        c.max_query_tokens = 1 << 20;
    })
    .await;
    app.create_metric("tokens").await;
    let key = tenant_api_key(&app, "acme").await;
    let r = app.as_token(&key, &query, json!({})).await;
    refused_by(&r, "VALIDATION", "BILLING_MAX_QUERY_ALIASES");

    // And with every count raised, the cost of a heavy field refuses it at validation:
    // 1,000 × (50 + 1) is far over 10,000.
    let app = spawn_app_with(|c| {
        c.max_query_bytes = 1 << 20;
        c.max_query_tokens = 1 << 20;
        c.max_query_aliases = 10_000;
        c.max_query_root_fields = 10_000;
    })
    .await;
    app.create_metric("tokens").await;
    let key = tenant_api_key(&app, "acme").await;
    let r = app.as_token(&key, &query, json!({})).await;
    let err = &r.body["errors"][0];
    assert_eq!(err["extensions"]["code"], "VALIDATION", "{}", r.body);
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("complex")),
        "{}",
        r.body
    );
    assert!(r.body["data"].is_null(), "{}", r.body);
}

#[tokio::test]
async fn a_huge_anonymous_query_is_refused_before_it_is_parsed() {
    let app = spawn_app().await;
    // 50,000 repeated fields, about 250 KB, with no credential.
    let query = format!("{{ {} }}", "abcd ".repeat(50_000));
    assert!(query.len() > 200_000);
    let r = app.anonymous(&query, json!({})).await;
    refused_by(&r, "VALIDATION", "BILLING_MAX_QUERY_BYTES");

    // Under the byte cap but made of many tiny tokens: the token count refuses it.
    let small = format!("{{ {} }}", "a ".repeat(10_000));
    assert!(small.len() < 32 * 1024);
    let r = app.anonymous(&small, json!({})).await;
    refused_by(&r, "VALIDATION", "BILLING_MAX_QUERY_TOKENS");
}

#[tokio::test]
async fn too_many_root_fields_or_aliases_are_refused_and_the_limit_is_named() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("acme").await;
    let owner = app.tenant_token(&tenant, Role::Owner);

    let roots = format!("{{ {} }}", "me { role } ".repeat(21));
    let r = app.as_token(&owner, &roots, json!({})).await;
    refused_by(&r, "VALIDATION", "BILLING_MAX_QUERY_ROOT_FIELDS");
    let twenty = format!("{{ {} }}", "me { role } ".repeat(20));
    app.as_token(&owner, &twenty, json!({})).await.data();

    // Aliases count anywhere, also inside one root field and in fragments.
    let nested: String = (0..31).map(|i| format!("r{i}: role ")).collect();
    let r = app
        .as_token(&owner, &format!("{{ me {{ {nested} }} }}"), json!({}))
        .await;
    refused_by(&r, "VALIDATION", "BILLING_MAX_QUERY_ALIASES");
    let fragment: String = (0..31).map(|i| format!("r{i}: role ")).collect();
    let r = app
        .as_token(
            &owner,
            &format!("{{ me {{ ...F }} }} fragment F on Me {{ {fragment} }}"),
            json!({}),
        )
        .await;
    refused_by(&r, "VALIDATION", "BILLING_MAX_QUERY_ALIASES");
    let thirty: String = (0..30).map(|i| format!("r{i}: role ")).collect();
    app.as_token(&owner, &format!("{{ me {{ {thirty} }} }}"), json!({}))
        .await
        .data();
}

#[tokio::test]
async fn a_tenant_that_spends_its_budget_is_rate_limited_and_others_are_not() {
    // 300 a second, 600 at once; `plans` at the default page of 20 items × 3 costs 60.
    let app = spawn_app_with(|c| {
        c.tenant_cost_per_second = 300;
        c.tenant_cost_burst = 600;
    })
    .await;
    let hostile = app.create_tenant("hostile").await;
    let calm = app.create_tenant("calm").await;
    let hostile = app.tenant_token(&hostile, Role::Owner);
    let calm = app.tenant_token(&calm, Role::Owner);
    let query = "{ plans { edges { node { id } } } }";

    let mut refused = None;
    for _ in 0..50 {
        let r = app.as_token(&hostile, query, json!({})).await;
        if r.body["errors"].is_array() {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("the budget runs out within 50 requests of cost 60");
    let err = refused_by(&r, "RATE_LIMITED", "BILLING_TENANT_COST_PER_SECOND");
    let wait = err["extensions"]["retryAfterSeconds"]
        .as_u64()
        .expect("retryAfterSeconds");
    assert!((1..=2).contains(&wait), "{wait}");

    // Another tenant, and the operator, still get answers.
    app.as_token(&calm, query, json!({})).await.data();
    app.as_admin(query, json!({})).await.data();

    // The hostile tenant's budget refills at its rate.
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    app.as_token(&hostile, query, json!({})).await.data();
}

/// Mutations are the money path (a spend on every LLM request): they are not charged to the
/// read budget, so a tenant that spent it can still record usage and spend credits.
#[tokio::test]
async fn a_tenant_over_its_read_budget_can_still_write() {
    let app = spawn_app_with(|c| {
        c.tenant_cost_per_second = 1;
        c.tenant_cost_burst = 100;
    })
    .await;
    let tenant = app.create_tenant("busy").await;
    let owner = app.tenant_token(&tenant, Role::Owner);
    let query = "{ plans { edges { node { id } } } }";
    app.as_token(&owner, query, json!({})).await.data();
    let r = app.as_token(&owner, query, json!({})).await;
    refused_by(&r, "RATE_LIMITED", "BILLING_TENANT_COST_PER_SECOND");
    for i in 0..20 {
        let r = app
            .as_token(
                &owner,
                "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
                json!({ "i": { "name": format!("k{i}") } }),
            )
            .await;
        r.data();
    }
}
