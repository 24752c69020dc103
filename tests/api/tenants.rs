use billing::domain::Role;
use serde_json::json;

use crate::helpers::*;

const CREATE: &str = "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id name slug billingEmail currency locale status } } }";

#[tokio::test]
async fn admin_creates_a_tenant_with_brl_and_pt_br_by_default() {
    let app = spawn_app().await;
    let r = app
        .as_admin(CREATE, json!({ "i": { "name": "Acme Ltda", "slug": "acme", "billingEmail": "Billing@Acme.com" } }))
        .await;
    let t = &r.data()["createTenant"]["tenant"];
    assert!(t["id"].as_str().is_some_and(|id| id.starts_with("ten_")));
    assert_eq!(t["name"], "Acme Ltda");
    assert_eq!(t["billingEmail"], "billing@acme.com");
    assert_eq!(t["currency"], "BRL");
    assert_eq!(t["locale"], "pt-BR");
    assert_eq!(t["status"], "ACTIVE");
}

#[tokio::test]
async fn admin_updates_suspends_and_reactivates_a_tenant() {
    let app = spawn_app().await;
    let id = app.create_tenant("acme").await;
    let r = app
        .as_admin(
            "mutation($i: UpdateTenantInput!) { updateTenant(input: $i) { tenant { name currency locale slug } } }",
            json!({ "i": { "id": id, "name": "Acme SA", "currency": "usd", "locale": "en-US" } }),
        )
        .await;
    let t = &r.data()["updateTenant"]["tenant"];
    assert_eq!(t["name"], "Acme SA");
    assert_eq!(t["currency"], "USD");
    assert_eq!(t["locale"], "en-US");
    assert_eq!(t["slug"], "acme");

    let r = app
        .as_admin(
            "mutation($i: SuspendTenantInput!) { suspendTenant(input: $i) { tenant { status suspendedReason } } }",
            json!({ "i": { "id": id, "reason": "unpaid invoices" } }),
        )
        .await;
    assert_eq!(r.data()["suspendTenant"]["tenant"]["status"], "SUSPENDED");
    assert_eq!(
        r.data()["suspendTenant"]["tenant"]["suspendedReason"],
        "unpaid invoices"
    );

    let r = app
        .as_admin(
            "mutation($id: ID!) { reactivateTenant(id: $id) { tenant { status suspendedReason } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(r.data()["reactivateTenant"]["tenant"]["status"], "ACTIVE");
    assert!(r.data()["reactivateTenant"]["tenant"]["suspendedReason"].is_null());
}

#[tokio::test]
async fn tenants_can_be_filtered_by_status_and_text() {
    let app = spawn_app().await;
    let a = app.create_tenant("alpha-foods").await;
    app.create_tenant("beta-labs").await;
    app.create_tenant("gamma-foods").await;
    app.as_admin(
        "mutation($i: SuspendTenantInput!) { suspendTenant(input: $i) { tenant { id } } }",
        json!({ "i": { "id": a } }),
    )
    .await
    .data();

    let q = "query($s: TenantStatus, $t: String) { tenants(status: $s, search: $t) { edges { node { slug } } } }";
    let slugs = |r: &Gql| -> Vec<String> {
        r.data()["tenants"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["slug"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let r = app.as_admin(q, json!({ "t": "FOODS" })).await;
    assert_eq!(slugs(&r), ["alpha-foods", "gamma-foods"]);
    let r = app.as_admin(q, json!({ "s": "SUSPENDED" })).await;
    assert_eq!(slugs(&r), ["alpha-foods"]);
    let r = app
        .as_admin(q, json!({ "s": "ACTIVE", "t": "foods" }))
        .await;
    assert_eq!(slugs(&r), ["gamma-foods"]);
    // Wildcards in the search text are literal.
    let r = app.as_admin(q, json!({ "t": "%" })).await;
    assert!(slugs(&r).is_empty());
}

#[tokio::test]
async fn a_tenant_user_reads_its_own_tenant_and_me() {
    let app = spawn_app().await;
    let id = app.create_tenant("acme").await;
    let token = app.tenant_token(&id, Role::Member);
    let r = app
        .as_token(
            &token,
            "query($id: ID!) { tenant(id: $id) { slug } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(r.data()["tenant"]["slug"], "acme");
    let r = app
        .as_token(
            &token,
            "{ me { role tenantId tenant { slug } } }",
            json!({}),
        )
        .await;
    assert_eq!(r.data()["me"]["role"], "MEMBER");
    assert_eq!(r.data()["me"]["tenantId"], id.as_str());
    assert_eq!(r.data()["me"]["tenant"]["slug"], "acme");
}

#[tokio::test]
async fn an_unknown_tenant_is_not_found() {
    let app = spawn_app().await;
    let missing = format!("ten_{}", uuid::Uuid::now_v7().simple());
    app.as_admin(
        "query($id: ID!) { tenant(id: $id) { id } }",
        json!({ "id": missing }),
    )
    .await
    .expect_code("NOT_FOUND");
}
