use billing::domain::Role;
use serde_json::json;

use crate::helpers::*;

const CREATE_USER: &str =
    "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id email role tenantId } } }";
const LOGIN: &str =
    "mutation($i: LoginInput!) { login(input: $i) { token expiresAt user { id role tenantId } } }";

#[tokio::test]
async fn an_owner_manages_the_users_of_its_tenant() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("acme").await;
    let owner = app.tenant_token(&tenant, Role::Owner);

    let r = app
        .as_token(
            &owner,
            CREATE_USER,
            json!({ "i": { "email": "ana@acme.com", "name": "Ana", "role": "MEMBER", "password": "correct horse" } }),
        )
        .await;
    let user = r.data()["createUser"]["user"].clone();
    assert_eq!(user["tenantId"], tenant.as_str());
    assert_eq!(user["role"], "MEMBER");
    let user_id = user["id"].as_str().expect("id").to_owned();

    let r = app
        .as_token(
            &owner,
            "mutation($i: UpdateUserRoleInput!) { updateUserRole(input: $i) { user { role } } }",
            json!({ "i": { "userId": user_id, "role": "BILLING" } }),
        )
        .await;
    assert_eq!(r.data()["updateUserRole"]["user"]["role"], "BILLING");

    let r = app
        .as_token(
            &owner,
            "{ users { edges { node { email role } } } }",
            json!({}),
        )
        .await;
    let edges = r.data()["users"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0]["node"]["email"], "ana@acme.com");

    let r = app
        .as_token(
            &owner,
            "mutation($id: ID!) { removeUser(userId: $id) { removedUserId } }",
            json!({ "id": user_id }),
        )
        .await;
    assert_eq!(r.data()["removeUser"]["removedUserId"], user_id.as_str());
    let r = app
        .as_token(&owner, "{ users { edges { node { id } } } }", json!({}))
        .await;
    assert_eq!(r.data()["users"]["edges"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn a_user_logs_in_with_email_and_password_and_gets_a_working_token() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("acme").await;
    app.create_user(Some(&tenant), "Owner@Acme.com", "OWNER", "s3cret-passw0rd")
        .await;

    let r = app
        .anonymous(
            LOGIN,
            json!({ "i": { "email": "owner@acme.com", "password": "s3cret-passw0rd" } }),
        )
        .await;
    let login = r.data()["login"].clone();
    assert_eq!(login["user"]["role"], "OWNER");
    assert_eq!(login["user"]["tenantId"], tenant.as_str());
    let token = login["token"].as_str().expect("token");

    let r = app
        .as_token(token, "{ me { role tenantId user { email } } }", json!({}))
        .await;
    assert_eq!(r.data()["me"]["role"], "OWNER");
    assert_eq!(r.data()["me"]["tenantId"], tenant.as_str());
    assert_eq!(r.data()["me"]["user"]["email"], "owner@acme.com");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_are_refused_alike() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("acme").await;
    app.create_user(Some(&tenant), "owner@acme.com", "OWNER", "s3cret-passw0rd")
        .await;
    let wrong = app
        .anonymous(
            LOGIN,
            json!({ "i": { "email": "owner@acme.com", "password": "not-the-password" } }),
        )
        .await;
    let unknown = app
        .anonymous(
            LOGIN,
            json!({ "i": { "email": "nobody@acme.com", "password": "s3cret-passw0rd" } }),
        )
        .await;
    let w = wrong.expect_code("UNAUTHENTICATED")["message"].clone();
    let u = unknown.expect_code("UNAUTHENTICATED")["message"].clone();
    assert_eq!(w, u);
}

#[tokio::test]
async fn the_last_owner_of_a_tenant_cannot_be_demoted_or_removed() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("acme").await;
    let owner_id = app
        .create_user(Some(&tenant), "owner@acme.com", "OWNER", "s3cret-passw0rd")
        .await;
    let owner = app.tenant_token(&tenant, Role::Owner);

    app.as_token(
        &owner,
        "mutation($i: UpdateUserRoleInput!) { updateUserRole(input: $i) { user { role } } }",
        json!({ "i": { "userId": owner_id, "role": "MEMBER" } }),
    )
    .await
    .expect_code("CONFLICT");
    app.as_token(
        &owner,
        "mutation($id: ID!) { removeUser(userId: $id) { removedUserId } }",
        json!({ "id": owner_id }),
    )
    .await
    .expect_code("CONFLICT");

    let r = app
        .as_admin(
            "query($t: ID) { users(tenantId: $t) { edges { node { role } } } }",
            json!({ "t": tenant }),
        )
        .await;
    assert_eq!(r.data()["users"]["edges"][0]["node"]["role"], "OWNER");

    // With a second owner, the first may step down.
    app.create_user(Some(&tenant), "second@acme.com", "OWNER", "s3cret-passw0rd")
        .await;
    let r = app
        .as_token(
            &owner,
            "mutation($i: UpdateUserRoleInput!) { updateUserRole(input: $i) { user { role } } }",
            json!({ "i": { "userId": owner_id, "role": "MEMBER" } }),
        )
        .await;
    assert_eq!(r.data()["updateUserRole"]["user"]["role"], "MEMBER");
}

#[tokio::test]
async fn an_admin_creates_operator_admins_who_can_log_in() {
    let app = spawn_app().await;
    let r = app
        .as_admin(
            CREATE_USER,
            json!({ "i": { "email": "ops@platform.com", "name": "Ops", "role": "ADMIN", "password": "s3cret-passw0rd" } }),
        )
        .await;
    assert!(r.data()["createUser"]["user"]["tenantId"].is_null());
    let r = app
        .anonymous(
            LOGIN,
            json!({ "i": { "email": "ops@platform.com", "password": "s3cret-passw0rd" } }),
        )
        .await;
    let token = r.data()["login"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let r = app
        .as_token(&token, "{ tenants { edges { node { id } } } }", json!({}))
        .await;
    r.data();
}

#[tokio::test]
async fn repeated_failed_sign_ins_lock_that_email_for_a_while() {
    let app = spawn_app_with(|c| c.login_max_failures = 3).await;
    let tenant = app.create_tenant("acme").await;
    app.create_user(Some(&tenant), "owner@acme.com", "OWNER", "s3cret-passw0rd")
        .await;
    app.create_user(Some(&tenant), "other@acme.com", "MEMBER", "s3cret-passw0rd")
        .await;
    let attempt = |email: &'static str, password: &'static str| {
        app.anonymous(
            LOGIN,
            json!({ "i": { "email": email, "password": password } }),
        )
    };

    // A success clears earlier failures.
    attempt("owner@acme.com", "wrong-password")
        .await
        .expect_code("UNAUTHENTICATED");
    attempt("owner@acme.com", "s3cret-passw0rd").await.data();
    for _ in 0..3 {
        attempt("owner@acme.com", "wrong-password")
            .await
            .expect_code("UNAUTHENTICATED");
    }
    // Now even the right password is refused, case-insensitively on the email...
    attempt("OWNER@acme.com", "s3cret-passw0rd")
        .await
        .expect_code("RATE_LIMITED");
    // ...while other accounts are unaffected.
    attempt("other@acme.com", "s3cret-passw0rd").await.data();
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_exactly_one_owner() {
    let app = spawn_app().await;
    let demote =
        "mutation($i: UpdateUserRoleInput!) { updateUserRole(input: $i) { user { role } } }";
    let mut tenants = Vec::new();
    for n in 0..6 {
        let tenant = app.create_tenant(&format!("pair-{n}")).await;
        let a = app
            .create_user(
                Some(&tenant),
                &format!("a{n}@x.com"),
                "OWNER",
                "s3cret-passw0rd",
            )
            .await;
        let b = app
            .create_user(
                Some(&tenant),
                &format!("b{n}@x.com"),
                "OWNER",
                "s3cret-passw0rd",
            )
            .await;
        tenants.push((tenant, a, b));
    }
    let app = &app;
    let attempts = tenants.iter().flat_map(|(tenant, a, b)| {
        let token = app.tenant_token(tenant, Role::Owner);
        [a, b].map(move |user| {
            let token = token.clone();
            let vars = json!({ "i": { "userId": user, "role": "MEMBER" } });
            async move { app.as_token(&token, demote, vars).await }
        })
    });
    let results = futures::future::join_all(attempts).await;
    for (pair, (tenant, _, _)) in results.chunks(2).zip(&tenants) {
        let codes: Vec<Option<&str>> = pair.iter().map(Gql::code).collect();
        assert!(
            codes.contains(&None) && codes.contains(&Some("CONFLICT")),
            "{codes:?}"
        );
        let r = app
            .as_admin(
                "query($t: ID) { users(tenantId: $t) { edges { node { role } } } }",
                json!({ "t": tenant }),
            )
            .await;
        let owners = r.data()["users"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .filter(|e| e["node"]["role"] == "OWNER")
            .count();
        assert_eq!(owners, 1);
    }
}
