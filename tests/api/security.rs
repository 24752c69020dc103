//! Cross-tenant isolation, role checks and bad credentials.
use billing::domain::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{Gql, TestApp, nodes, spawn_app};

const ME: &str = "{ me { role subject tenantId tenant { id } user { id tenantId } } }";
const TENANTS: &str = "{ tenants(first: 100) { edges { node { id } } } }";
const TENANT: &str =
    "query($id: ID!) { tenant(id: $id) { id name slug billingEmail status suspendedReason } }";
const USERS: &str = "query($t: ID) { users(tenantId: $t, first: 100) { edges { node { id tenantId email role } } } }";
const API_KEYS: &str = "query($t: ID) { apiKeys(tenantId: $t, first: 100) { edges { node { id tenantId name revokedAt } } } }";
const LOGIN: &str =
    "mutation($i: LoginInput!) { login(input: $i) { token expiresAt user { id tenantId role } } }";
const CREATE_TENANT: &str =
    "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }";
const UPDATE_TENANT: &str =
    "mutation($i: UpdateTenantInput!) { updateTenant(input: $i) { tenant { id name } } }";
const SUSPEND_TENANT: &str =
    "mutation($i: SuspendTenantInput!) { suspendTenant(input: $i) { tenant { id status } } }";
const REACTIVATE_TENANT: &str =
    "mutation($id: ID!) { reactivateTenant(id: $id) { tenant { id status } } }";
const CREATE_USER: &str =
    "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id tenantId role } } }";
const UPDATE_USER_ROLE: &str =
    "mutation($i: UpdateUserRoleInput!) { updateUserRole(input: $i) { user { id role } } }";
const REMOVE_USER: &str = "mutation($id: ID!) { removeUser(userId: $id) { removedUserId } }";
const CREATE_API_KEY: &str = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id tenantId prefix } secret } }";
const REVOKE_API_KEY: &str =
    "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id revokedAt } } }";
const CREATE_METRIC: &str = "mutation($i: CreateBillableMetricInput!) { createBillableMetric(input: $i) { billableMetric { id } } }";
const CREATE_PLAN: &str =
    "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id version } } }";
const PUBLISH_PLAN: &str =
    "mutation($i: PlanInput!) { publishPlanVersion(input: $i) { plan { id version } } }";
const CREATE_PACK: &str =
    "mutation($i: CreditPackInput!) { createCreditPack(input: $i) { creditPack { id version } } }";
const PUBLISH_PACK: &str = "mutation($i: CreditPackInput!) { publishCreditPackVersion(input: $i) { creditPack { id version } } }";
const CREATE_COUPON: &str =
    "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { id code } } }";
const COUPONS: &str = "{ coupons(first: 100) { edges { node { id code } } } }";

// ---------------------------------------------------------------------------------------------
// Helpers local to these tests
// ---------------------------------------------------------------------------------------------

fn ids_of(nodes: &[Value]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| n["id"].as_str().expect("node id").to_owned())
        .collect()
}

/// Everything about tenant `t` that a cross-tenant attempt could change, read as admin.
async fn snapshot(app: &TestApp, t: &str) -> Value {
    let tenant = app.as_admin(TENANT, json!({ "id": t })).await.data()["tenant"].clone();
    let users = nodes(&app.as_admin(USERS, json!({ "t": t })).await, "users");
    let keys = nodes(&app.as_admin(API_KEYS, json!({ "t": t })).await, "apiKeys");
    json!({ "tenant": tenant, "users": users, "apiKeys": keys })
}

/// Counts the rows of a connection query run as admin, e.g. `plans(first: 100, allVersions: true)`.
async fn count_as_admin(app: &TestApp, field: &str, call: &str) -> usize {
    let r = app
        .as_admin(&format!("{{ {call} {{ edges {{ cursor }} }} }}"), json!({}))
        .await;
    r.data()[field]["edges"].as_array().map_or(0, Vec::len)
}

/// How many tenants, metrics, plan versions, pack versions and coupons exist.
async fn catalog_and_tenant_counts(app: &TestApp) -> [usize; 5] {
    [
        app.count("tenants").await,
        app.count("billableMetrics").await,
        count_as_admin(app, "plans", "plans(first: 100, allVersions: true)").await,
        count_as_admin(
            app,
            "creditPacks",
            "creditPacks(first: 100, allVersions: true)",
        )
        .await,
        app.count("coupons").await,
    ]
}

/// Sends a request with a raw `Authorization` header value (or none).
async fn with_authorization(
    app: &TestApp,
    authorization: Option<&str>,
    query: &str,
    variables: Value,
) -> Gql {
    let mut req = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(v) = authorization {
        req = req.header("Authorization", v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let body = resp.json().await.expect("JSON body");
    Gql { status, body }
}

/// Asserts that a request with this `Authorization` value is refused with `UNAUTHENTICATED`
/// on `me`, on the tenant list and on an admin mutation, and that nothing leaks or is written.
async fn assert_unauthenticated(app: &TestApp, authorization: Option<&str>) {
    let tenants_before = app.count("tenants").await;

    let me = with_authorization(app, authorization, ME, json!({})).await;
    me.expect_code("UNAUTHENTICATED");
    assert!(
        me.body["data"]["me"].is_null(),
        "me leaked with {authorization:?}: {}",
        me.body
    );

    let tenants = with_authorization(app, authorization, TENANTS, json!({})).await;
    tenants.expect_code("UNAUTHENTICATED");
    assert!(
        tenants.body["data"]["tenants"].is_null(),
        "tenants leaked with {authorization:?}: {}",
        tenants.body
    );

    let slug = format!("intruder-{}", uuid::Uuid::new_v4().simple());
    let create = with_authorization(
        app,
        authorization,
        CREATE_TENANT,
        json!({ "i": { "name": "Intruder", "slug": slug, "billingEmail": "x@intruder.example.com" } }),
    )
    .await;
    create.expect_code("UNAUTHENTICATED");
    assert_eq!(
        app.count("tenants").await,
        tenants_before,
        "a tenant was created with {authorization:?}"
    );
}

/// Asserts that this bearer credential is accepted (the control for the forged variants).
async fn assert_accepted_as_admin(app: &TestApp, token: &str) {
    let r = app.as_token(token, TENANTS, json!({})).await;
    assert!(
        r.data()["tenants"]["edges"].is_array(),
        "control token refused: {}",
        r.body
    );
}

fn jwt_secret(app: &TestApp) -> Vec<u8> {
    app.state.config.jwt_secret.expose().as_bytes().to_vec()
}

/// Claims as the server mints them, valid for ten minutes.
fn claims(app: &TestApp, role: &str, tenant: Option<&str>) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({
        "sub": "forger",
        "role": role,
        "exp": now + 600,
        "iat": now,
        "iss": app.state.config.jwt_issuer,
        "aud": app.state.config.jwt_audience,
    });
    if let Some(t) = tenant {
        c["tenant_id"] = json!(t);
    }
    c
}

fn sign(secret: &[u8], alg: Algorithm, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret))
        .expect("sign token")
}

/// Base64url without padding, as JWTs use.
fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// A JWT built by hand: `header.claims.signature`, signed with HMAC-SHA256 when `key` is
/// given, with an empty signature otherwise.
fn hand_token(header: &Value, claims: &Value, key: Option<&[u8]>) -> String {
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let signature = key
        .map(|k| b64url(&hmac_sha256(k, signing_input.as_bytes())))
        .unwrap_or_default();
    format!("{signing_input}.{signature}")
}

fn tenant_input(slug: &str) -> Value {
    json!({ "name": format!("Tenant {slug}"), "slug": slug, "billingEmail": format!("billing@{slug}.example.com") })
}

fn plan_input(code: &str, monthly: &str) -> Value {
    json!({ "code": code, "name": format!("Plan {code}"), "monthlyPriceMinor": monthly })
}

fn pack_input(code: &str, price: &str) -> Value {
    json!({ "code": code, "name": format!("Pack {code}"), "credits": "100", "priceMinor": price })
}

fn coupon_input(code: &str) -> Value {
    json!({ "code": code, "name": format!("Coupon {code}"), "percentOff": 20, "duration": "ONCE" })
}

fn new_user_input(email: &str, role: &str) -> Value {
    json!({ "email": email, "name": "New User", "role": role, "password": "a-long-enough-password" })
}

/// Two tenants, each with an owner and a member, and an API key each (created by the owner).
struct TwoTenants {
    a: String,
    b: String,
    owner_a: String,
    owner_a_token: String,
    member_a: String,
    key_a: String,
    key_a_secret: String,
    owner_b: String,
    member_b: String,
    key_b: String,
    key_b_secret: String,
}

async fn two_tenants(app: &TestApp) -> TwoTenants {
    let a = app.create_tenant("tenant-a").await;
    let b = app.create_tenant("tenant-b").await;
    let owner_a = app
        .create_user(Some(&a), "owner@a.example.com", "OWNER", "password-of-a")
        .await;
    let member_a = app
        .create_user(Some(&a), "member@a.example.com", "MEMBER", "password-of-a")
        .await;
    let owner_b = app
        .create_user(Some(&b), "owner@b.example.com", "OWNER", "password-of-b")
        .await;
    let member_b = app
        .create_user(Some(&b), "member@b.example.com", "MEMBER", "password-of-b")
        .await;
    let owner_a_token = app.tenant_token(&a, Role::Owner);
    let owner_b_token = app.tenant_token(&b, Role::Owner);
    let (key_a, key_a_secret) = app.create_api_key(&owner_a_token, None, "key of a").await;
    let (key_b, key_b_secret) = app.create_api_key(&owner_b_token, None, "key of b").await;
    TwoTenants {
        a,
        b,
        owner_a,
        owner_a_token,
        member_a,
        key_a,
        key_a_secret,
        owner_b,
        member_b,
        key_b,
        key_b_secret,
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Cross-tenant isolation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn no_tenant_credential_can_read_another_tenant() {
    // Arrange
    let app = spawn_app().await;
    let t = two_tenants(&app).await;
    let credentials = [
        ("owner", app.tenant_token(&t.a, Role::Owner)),
        ("billing", app.tenant_token(&t.a, Role::Billing)),
        ("member", app.tenant_token(&t.a, Role::Member)),
        ("service jwt", app.tenant_token(&t.a, Role::Service)),
        ("tenant api key", t.key_a_secret.clone()),
    ];

    for (who, cred) in &credentials {
        // Act / Assert: naming tenant B is refused, whatever the tenant role.
        let r = app.as_token(cred, TENANT, json!({ "id": t.b })).await;
        r.expect_code("FORBIDDEN");
        assert!(
            r.body["data"].is_null(),
            "{who} got tenant B's data: {}",
            r.body
        );
        app.as_token(cred, USERS, json!({ "t": t.b }))
            .await
            .expect_code("FORBIDDEN");
        app.as_token(cred, API_KEYS, json!({ "t": t.b }))
            .await
            .expect_code("FORBIDDEN");
        app.as_token(cred, TENANTS, json!({}))
            .await
            .expect_code("FORBIDDEN");

        // Its own tenant is readable, and `me` names tenant A only.
        let own = app.as_token(cred, TENANT, json!({ "id": t.a })).await;
        assert_eq!(own.data()["tenant"]["id"], json!(t.a), "{who}");
        let me = app.as_token(cred, ME, json!({})).await;
        assert_eq!(me.data()["me"]["tenantId"], json!(t.a), "{who}");
        assert_eq!(me.data()["me"]["tenant"]["id"], json!(t.a), "{who}");
    }
}

#[tokio::test]
async fn me_never_shows_a_user_of_another_tenant() {
    // Arrange: a token for tenant A whose subject is a user of tenant B.
    let app = spawn_app().await;
    let t = two_tenants(&app).await;
    let mixed = crate::helpers::mint(&app.state, &t.owner_b, Role::Owner, Some(&t.a));
    let honest = crate::helpers::mint(&app.state, &t.owner_a, Role::Owner, Some(&t.a));

    // Act
    let mixed_me = app.as_token(&mixed, ME, json!({})).await;
    let honest_me = app.as_token(&honest, ME, json!({})).await;

    // Assert
    assert_eq!(mixed_me.data()["me"]["tenantId"], json!(t.a));
    assert!(
        mixed_me.data()["me"]["user"].is_null(),
        "B's user leaked: {}",
        mixed_me.body
    );
    assert_eq!(honest_me.data()["me"]["user"]["id"], json!(t.owner_a));
    assert_eq!(honest_me.data()["me"]["user"]["tenantId"], json!(t.a));
}

#[tokio::test]
async fn listing_as_a_tenant_never_returns_another_tenants_users_or_keys() {
    // Arrange: besides both tenants' rows, an operator user and an operator key exist.
    let app = spawn_app().await;
    let t = two_tenants(&app).await;
    let operator_user = app
        .create_user(None, "ops@example.com", "ADMIN", "operator-password")
        .await;
    let (operator_key, _) = app
        .create_api_key(&app.admin_token, None, "operator key")
        .await;

    // Act
    let users = nodes(
        &app.as_token(&t.owner_a_token, USERS, json!({ "t": null }))
            .await,
        "users",
    );
    let own_filter = nodes(
        &app.as_token(&t.owner_a_token, USERS, json!({ "t": t.a }))
            .await,
        "users",
    );
    let keys = nodes(
        &app.as_token(&t.owner_a_token, API_KEYS, json!({ "t": null }))
            .await,
        "apiKeys",
    );

    // Assert
    let mut user_ids = ids_of(&users);
    user_ids.sort();
    let mut expected = vec![t.owner_a.clone(), t.member_a.clone()];
    expected.sort();
    assert_eq!(user_ids, expected, "users listed to tenant A: {users:?}");
    assert!(users.iter().all(|u| u["tenantId"] == json!(t.a)));
    assert!(!user_ids.contains(&operator_user));
    assert_eq!(ids_of(&own_filter).len(), 2);
    assert!(own_filter.iter().all(|u| u["tenantId"] == json!(t.a)));

    assert_eq!(
        ids_of(&keys),
        vec![t.key_a.clone()],
        "keys listed to tenant A: {keys:?}"
    );
    assert!(!ids_of(&keys).contains(&t.key_b));
    assert!(!ids_of(&keys).contains(&operator_key));

    // The same holds for tenant B's owner.
    let owner_b_token = app.tenant_token(&t.b, Role::Owner);
    let b_users = nodes(
        &app.as_token(&owner_b_token, USERS, json!({})).await,
        "users",
    );
    assert!(
        b_users.iter().all(|u| u["tenantId"] == json!(t.b)),
        "{b_users:?}"
    );
    assert_eq!(b_users.len(), 2);
    let b_keys = nodes(
        &app.as_token(&owner_b_token, API_KEYS, json!({})).await,
        "apiKeys",
    );
    assert_eq!(ids_of(&b_keys), vec![t.key_b.clone()]);
}

#[tokio::test]
async fn an_owner_cannot_create_users_or_api_keys_in_another_tenant() {
    // Arrange
    let app = spawn_app().await;
    let t = two_tenants(&app).await;
    let before = snapshot(&app, &t.b).await;

    // Act / Assert: createUser naming tenant B.
    let mut input = new_user_input("planted@b.example.com", "OWNER");
    input["tenantId"] = json!(t.b);
    app.as_token(&t.owner_a_token, CREATE_USER, json!({ "i": input }))
        .await
        .expect_code("FORBIDDEN");
    assert_eq!(
        snapshot(&app, &t.b).await,
        before,
        "tenant B changed after createUser"
    );
    let login = app
        .anonymous(LOGIN, json!({ "i": { "email": "planted@b.example.com", "password": "a-long-enough-password" } }))
        .await;
    login.expect_code("UNAUTHENTICATED");

    // createApiKey naming tenant B.
    let r = app
        .as_token(
            &t.owner_a_token,
            CREATE_API_KEY,
            json!({ "i": { "name": "planted", "tenantId": t.b } }),
        )
        .await;
    r.expect_code("FORBIDDEN");
    assert!(
        r.body["data"].is_null(),
        "a secret was handed out: {}",
        r.body
    );
    assert_eq!(
        snapshot(&app, &t.b).await,
        before,
        "tenant B changed after createApiKey"
    );

    // Nothing landed in tenant A either.
    let a_users = nodes(&app.as_admin(USERS, json!({ "t": t.a })).await, "users");
    assert_eq!(a_users.len(), 2);
    let a_keys = nodes(
        &app.as_admin(API_KEYS, json!({ "t": t.a })).await,
        "apiKeys",
    );
    assert_eq!(ids_of(&a_keys), vec![t.key_a.clone()]);
}

#[tokio::test]
async fn an_owner_cannot_change_or_remove_another_tenants_users() {
    // Arrange
    let app = spawn_app().await;
    let t = two_tenants(&app).await;
    let operator_user = app
        .create_user(None, "ops@example.com", "ADMIN", "operator-password")
        .await;
    let before = snapshot(&app, &t.b).await;

    for (victim, new_role) in [
        (&t.member_b, "OWNER"),
        (&t.owner_b, "MEMBER"),
        (&t.member_b, "BILLING"),
    ] {
        // Act
        let r = app
            .as_token(
                &t.owner_a_token,
                UPDATE_USER_ROLE,
                json!({ "i": { "userId": victim, "role": new_role } }),
            )
            .await;
        // Assert
        r.expect_code("NOT_FOUND");
        assert_eq!(
            snapshot(&app, &t.b).await,
            before,
            "tenant B changed after updateUserRole({victim})"
        );
    }
    for victim in [&t.member_b, &t.owner_b] {
        app.as_token(&t.owner_a_token, REMOVE_USER, json!({ "id": victim }))
            .await
            .expect_code("NOT_FOUND");
        assert_eq!(
            snapshot(&app, &t.b).await,
            before,
            "tenant B changed after removeUser({victim})"
        );
    }

    // B's users still exist with their roles.
    let b_users = nodes(&app.as_admin(USERS, json!({ "t": t.b })).await, "users");
    let role_of = |id: &str| {
        b_users
            .iter()
            .find(|u| u["id"] == json!(id))
            .map(|u| u["role"].clone())
    };
    assert_eq!(role_of(&t.member_b), Some(json!("MEMBER")));
    assert_eq!(role_of(&t.owner_b), Some(json!("OWNER")));

    // The operator's own users are out of reach too.
    app.as_token(
        &t.owner_a_token,
        UPDATE_USER_ROLE,
        json!({ "i": { "userId": operator_user, "role": "MEMBER" } }),
    )
    .await
    .expect_code("NOT_FOUND");
    app.as_token(
        &t.owner_a_token,
        REMOVE_USER,
        json!({ "id": operator_user }),
    )
    .await
    .expect_code("NOT_FOUND");
    let admins = nodes(&app.as_admin(USERS, json!({})).await, "users");
    let op = admins
        .iter()
        .find(|u| u["id"] == json!(operator_user))
        .expect("operator user still exists");
    assert_eq!(op["role"], json!("ADMIN"));
}

#[tokio::test]
async fn an_owner_cannot_revoke_another_tenants_api_key() {
    // Arrange
    let app = spawn_app().await;
    let t = two_tenants(&app).await;
    let (operator_key, operator_secret) = app
        .create_api_key(&app.admin_token, None, "operator key")
        .await;
    let before = snapshot(&app, &t.b).await;

    // Act
    let r = app
        .as_token(&t.owner_a_token, REVOKE_API_KEY, json!({ "id": t.key_b }))
        .await;
    let r_op = app
        .as_token(
            &t.owner_a_token,
            REVOKE_API_KEY,
            json!({ "id": operator_key }),
        )
        .await;

    // Assert
    r.expect_code("NOT_FOUND");
    r_op.expect_code("NOT_FOUND");
    let after = snapshot(&app, &t.b).await;
    assert_eq!(after, before, "tenant B changed after revokeApiKey");
    assert!(after["apiKeys"][0]["revokedAt"].is_null());
    // Both keys still work.
    let me_b = app.as_token(&t.key_b_secret, ME, json!({})).await;
    assert_eq!(me_b.data()["me"]["tenantId"], json!(t.b));
    let me_op = app.as_token(&operator_secret, ME, json!({})).await;
    assert_eq!(me_op.data()["me"]["role"], json!("SERVICE"));
}

#[tokio::test]
async fn an_owner_cannot_create_change_suspend_or_reactivate_tenants() {
    // Arrange: B is suspended so that a reactivation would show.
    let app = spawn_app().await;
    let t = two_tenants(&app).await;
    let c = app.create_tenant("tenant-c").await;
    app.as_admin(
        SUSPEND_TENANT,
        json!({ "i": { "id": c, "reason": "unpaid" } }),
    )
    .await
    .data();
    let tenants_before = app.count("tenants").await;
    let b_before = snapshot(&app, &t.b).await;
    let c_before = snapshot(&app, &c).await;
    let owner = &t.owner_a_token;

    // Act / Assert
    app.as_token(
        owner,
        CREATE_TENANT,
        json!({ "i": tenant_input("tenant-new") }),
    )
    .await
    .expect_code("FORBIDDEN");
    assert_eq!(app.count("tenants").await, tenants_before);

    for target in [&t.b, &c] {
        app.as_token(
            owner,
            UPDATE_TENANT,
            json!({ "i": { "id": target, "name": "Hijacked", "slug": "hijacked" } }),
        )
        .await
        .expect_code("FORBIDDEN");
        app.as_token(
            owner,
            SUSPEND_TENANT,
            json!({ "i": { "id": target, "reason": "sabotage" } }),
        )
        .await
        .expect_code("FORBIDDEN");
        app.as_token(owner, REACTIVATE_TENANT, json!({ "id": target }))
            .await
            .expect_code("FORBIDDEN");
    }
    assert_eq!(snapshot(&app, &t.b).await, b_before, "tenant B changed");
    let c_after = snapshot(&app, &c).await;
    assert_eq!(c_after, c_before, "tenant C changed");
    assert_eq!(c_after["tenant"]["status"], json!("SUSPENDED"));
    assert_eq!(b_before["tenant"]["status"], json!("ACTIVE"));
}

// ---------------------------------------------------------------------------------------------
// 2. Roles
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn members_and_billing_users_cannot_manage_users_or_api_keys() {
    // Arrange
    let app = spawn_app().await;
    let t = two_tenants(&app).await;
    let before = snapshot(&app, &t.a).await;

    for role in [Role::Member, Role::Billing] {
        let token = app.tenant_token(&t.a, role);
        let who = role.as_str();

        // Act / Assert: valid input, refused for the role.
        app.as_token(
            &token,
            CREATE_USER,
            json!({ "i": new_user_input("new@a.example.com", "MEMBER") }),
        )
        .await
        .expect_code("FORBIDDEN");
        app.as_token(
            &token,
            UPDATE_USER_ROLE,
            json!({ "i": { "userId": t.member_a, "role": "OWNER" } }),
        )
        .await
        .expect_code("FORBIDDEN");
        app.as_token(&token, REMOVE_USER, json!({ "id": t.member_a }))
            .await
            .expect_code("FORBIDDEN");
        let key = app
            .as_token(&token, CREATE_API_KEY, json!({ "i": { "name": "mine" } }))
            .await;
        key.expect_code("FORBIDDEN");
        assert!(key.body["data"].is_null(), "{who} got a key: {}", key.body);
        app.as_token(&token, REVOKE_API_KEY, json!({ "id": t.key_a }))
            .await
            .expect_code("FORBIDDEN");
        app.as_token(&token, USERS, json!({}))
            .await
            .expect_code("FORBIDDEN");
        app.as_token(&token, API_KEYS, json!({}))
            .await
            .expect_code("FORBIDDEN");

        assert_eq!(
            snapshot(&app, &t.a).await,
            before,
            "tenant A changed by {who}"
        );

        // What the role may do still works.
        let me = app.as_token(&token, ME, json!({})).await;
        assert_eq!(me.data()["me"]["role"], json!(who.to_uppercase()));
        app.as_token(
            &token,
            "{ billableMetrics { edges { cursor } } }",
            json!({}),
        )
        .await
        .data();
    }
}

#[tokio::test]
async fn an_owner_cannot_do_what_needs_the_admin() {
    // Arrange: a plan and a pack exist, so that publishing a version would succeed for the admin.
    let app = spawn_app().await;
    let a = app.create_tenant("tenant-a").await;
    let owner = app.tenant_token(&a, Role::Owner);
    app.create_metric("tokens").await;
    app.as_admin(CREATE_PLAN, json!({ "i": plan_input("pro", "4900") }))
        .await
        .data();
    app.as_admin(CREATE_PACK, json!({ "i": pack_input("small", "1000") }))
        .await
        .data();
    app.as_admin(CREATE_COUPON, json!({ "i": coupon_input("WELCOME20") }))
        .await
        .data();
    let before = catalog_and_tenant_counts(&app).await;
    let a_before = snapshot(&app, &a).await;
    let metric =
        json!({ "code": "api_calls", "name": "API calls", "unit": "call", "aggregation": "COUNT" });

    // Act / Assert
    let refused = [
        (CREATE_TENANT, json!({ "i": tenant_input("tenant-new") })),
        (
            UPDATE_TENANT,
            json!({ "i": { "id": a, "name": "Renamed by owner" } }),
        ),
        (
            SUSPEND_TENANT,
            json!({ "i": { "id": a, "reason": "self" } }),
        ),
        (REACTIVATE_TENANT, json!({ "id": a })),
        (TENANTS, json!({})),
        (CREATE_METRIC, json!({ "i": metric })),
        (
            CREATE_PLAN,
            json!({ "i": plan_input("enterprise", "99000") }),
        ),
        (PUBLISH_PLAN, json!({ "i": plan_input("pro", "1") })),
        (CREATE_PACK, json!({ "i": pack_input("large", "9000") })),
        (PUBLISH_PACK, json!({ "i": pack_input("small", "1") })),
        (CREATE_COUPON, json!({ "i": coupon_input("FREEMONEY") })),
        (COUPONS, json!({})),
    ];
    for (query, vars) in refused {
        let r = app.as_token(&owner, query, vars).await;
        r.expect_code("FORBIDDEN");
        assert!(
            r.body["data"].is_null(),
            "data returned for {query}: {}",
            r.body
        );
    }

    // Nothing was written.
    assert_eq!(catalog_and_tenant_counts(&app).await, before);
    assert_eq!(snapshot(&app, &a).await, a_before);
    let plan = app
        .as_admin(
            "{ plan(code: \"pro\") { version monthlyPrice { amountMinor } } }",
            json!({}),
        )
        .await;
    assert_eq!(plan.data()["plan"]["version"], json!(1));
    assert_eq!(
        plan.data()["plan"]["monthlyPrice"]["amountMinor"],
        json!("4900")
    );
}

#[tokio::test]
async fn an_owner_cannot_create_or_promote_admin_or_service_users() {
    // Arrange
    let app = spawn_app().await;
    let t = two_tenants(&app).await;
    let before = snapshot(&app, &t.a).await;

    // Act / Assert
    for role in ["ADMIN", "SERVICE"] {
        let r = app
            .as_token(
                &t.owner_a_token,
                CREATE_USER,
                json!({ "i": new_user_input("climber@a.example.com", role) }),
            )
            .await;
        r.expect_code("VALIDATION");
        assert_eq!(
            r.body["errors"][0]["extensions"]["field"],
            json!("role"),
            "{}",
            r.body
        );
        let r = app
            .as_token(
                &t.owner_a_token,
                UPDATE_USER_ROLE,
                json!({ "i": { "userId": t.member_a, "role": role } }),
            )
            .await;
        r.expect_code("VALIDATION");
        assert_eq!(
            snapshot(&app, &t.a).await,
            before,
            "tenant A changed (role {role})"
        );
    }
    let login = app
        .anonymous(LOGIN, json!({ "i": { "email": "climber@a.example.com", "password": "a-long-enough-password" } }))
        .await;
    login.expect_code("UNAUTHENTICATED");

    // The control: the same owner can create an ordinary user of its own tenant.
    let ok = app
        .as_token(
            &t.owner_a_token,
            CREATE_USER,
            json!({ "i": new_user_input("newbie@a.example.com", "BILLING") }),
        )
        .await;
    assert_eq!(ok.data()["createUser"]["user"]["tenantId"], json!(t.a));
    assert_eq!(ok.data()["createUser"]["user"]["role"], json!("BILLING"));
}

#[tokio::test]
async fn a_tenant_api_key_acts_as_service_for_its_own_tenant_only() {
    // Arrange: a catalog, and a key an owner created.
    let app = spawn_app().await;
    let t = two_tenants(&app).await;
    app.create_metric("tokens").await;
    app.as_admin(CREATE_PLAN, json!({ "i": plan_input("pro", "4900") }))
        .await
        .data();
    app.as_admin(CREATE_PACK, json!({ "i": pack_input("small", "1000") }))
        .await
        .data();
    app.as_admin(CREATE_COUPON, json!({ "i": coupon_input("WELCOME20") }))
        .await
        .data();
    let key = &t.key_a_secret;
    assert!(key.starts_with("bk_"), "{key}");
    let tenants_before = app.count("tenants").await;
    let metrics_before = app.count("billableMetrics").await;
    let plans_before = count_as_admin(&app, "plans", "plans(first: 100, allVersions: true)").await;
    let coupons_before = app.count("coupons").await;
    let a_before = snapshot(&app, &t.a).await;
    let b_before = snapshot(&app, &t.b).await;

    // Act / Assert: who it is.
    let me = app.as_token(key, ME, json!({})).await;
    assert_eq!(me.data()["me"]["role"], json!("SERVICE"));
    assert_eq!(me.data()["me"]["tenantId"], json!(t.a));
    assert_eq!(me.data()["me"]["subject"], json!(t.key_a));
    assert!(me.data()["me"]["user"].is_null());

    // It reads the catalog.
    let catalog = app
        .as_token(
            key,
            r#"{ billableMetrics { edges { node { code } } } plans { edges { node { code } } }
                 creditPacks { edges { node { code } } } plan(code: "pro") { version }
                 creditPack(code: "small") { version } coupon(code: "welcome20") { code } }"#,
            json!({}),
        )
        .await;
    let d = catalog.data();
    assert_eq!(
        d["billableMetrics"]["edges"][0]["node"]["code"],
        json!("tokens")
    );
    assert_eq!(d["plans"]["edges"][0]["node"]["code"], json!("pro"));
    assert_eq!(d["creditPacks"]["edges"][0]["node"]["code"], json!("small"));
    assert_eq!(d["plan"]["version"], json!(1));
    assert_eq!(d["coupon"]["code"], json!("WELCOME20"));

    // Its own tenant, not another.
    assert_eq!(
        app.as_token(key, TENANT, json!({ "id": t.a })).await.data()["tenant"]["id"],
        json!(t.a)
    );
    app.as_token(key, TENANT, json!({ "id": t.b }))
        .await
        .expect_code("FORBIDDEN");

    // No operator or owner powers.
    let metric =
        json!({ "code": "api_calls", "name": "API calls", "unit": "call", "aggregation": "COUNT" });
    let mut planted_user = new_user_input("planted@a.example.com", "MEMBER");
    planted_user["tenantId"] = json!(t.a);
    let refused = [
        (TENANTS, json!({})),
        (COUPONS, json!({})),
        (USERS, json!({})),
        (API_KEYS, json!({})),
        (CREATE_TENANT, json!({ "i": tenant_input("tenant-new") })),
        (
            UPDATE_TENANT,
            json!({ "i": { "id": t.a, "name": "Renamed by key" } }),
        ),
        (
            SUSPEND_TENANT,
            json!({ "i": { "id": t.b, "reason": "sabotage" } }),
        ),
        (REACTIVATE_TENANT, json!({ "id": t.a })),
        (CREATE_METRIC, json!({ "i": metric })),
        (
            CREATE_PLAN,
            json!({ "i": plan_input("enterprise", "99000") }),
        ),
        (PUBLISH_PLAN, json!({ "i": plan_input("pro", "1") })),
        (CREATE_PACK, json!({ "i": pack_input("large", "9000") })),
        (CREATE_COUPON, json!({ "i": coupon_input("FREEMONEY") })),
        (CREATE_USER, json!({ "i": planted_user })),
        (
            UPDATE_USER_ROLE,
            json!({ "i": { "userId": t.member_a, "role": "OWNER" } }),
        ),
        (REMOVE_USER, json!({ "id": t.member_a })),
        (CREATE_API_KEY, json!({ "i": { "name": "another" } })),
        (REVOKE_API_KEY, json!({ "id": t.key_a })),
    ];
    for (query, vars) in refused {
        let r = app.as_token(key, query, vars).await;
        r.expect_code("FORBIDDEN");
        assert!(
            r.body["data"].is_null(),
            "data returned for {query}: {}",
            r.body
        );
    }

    // Nothing was written.
    assert_eq!(app.count("tenants").await, tenants_before);
    assert_eq!(app.count("billableMetrics").await, metrics_before);
    assert_eq!(
        count_as_admin(&app, "plans", "plans(first: 100, allVersions: true)").await,
        plans_before
    );
    assert_eq!(app.count("coupons").await, coupons_before);
    assert_eq!(snapshot(&app, &t.a).await, a_before);
    assert_eq!(snapshot(&app, &t.b).await, b_before);
}

#[tokio::test]
async fn an_operator_api_key_lists_tenants_but_cannot_write() {
    // Arrange
    let app = spawn_app().await;
    let t = two_tenants(&app).await;
    let created = app
        .as_admin(CREATE_API_KEY, json!({ "i": { "name": "operator key" } }))
        .await;
    let created = created.data()["createApiKey"].clone();
    assert!(created["apiKey"]["tenantId"].is_null(), "{created}");
    let key = created["secret"].as_str().expect("secret").to_owned();
    let tenants_before = app.count("tenants").await;
    let metrics_before = app.count("billableMetrics").await;
    let a_before = snapshot(&app, &t.a).await;
    let b_before = snapshot(&app, &t.b).await;

    // Act / Assert: it reads across tenants.
    let me = app.as_token(&key, ME, json!({})).await;
    assert_eq!(me.data()["me"]["role"], json!("SERVICE"));
    assert!(me.data()["me"]["tenantId"].is_null());
    let mut listed = ids_of(&nodes(
        &app.as_token(&key, TENANTS, json!({})).await,
        "tenants",
    ));
    listed.sort();
    let mut expected = vec![t.a.clone(), t.b.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(
        app.as_token(&key, TENANT, json!({ "id": t.b }))
            .await
            .data()["tenant"]["id"],
        json!(t.b)
    );

    // Writes need the admin role.
    let metric =
        json!({ "code": "api_calls", "name": "API calls", "unit": "call", "aggregation": "COUNT" });
    let mut new_user = new_user_input("planted@b.example.com", "MEMBER");
    new_user["tenantId"] = json!(t.b);
    let refused = [
        (CREATE_TENANT, json!({ "i": tenant_input("tenant-new") })),
        (
            UPDATE_TENANT,
            json!({ "i": { "id": t.b, "name": "Renamed by key" } }),
        ),
        (
            SUSPEND_TENANT,
            json!({ "i": { "id": t.b, "reason": "sabotage" } }),
        ),
        (CREATE_METRIC, json!({ "i": metric })),
        (CREATE_USER, json!({ "i": new_user })),
        (
            CREATE_API_KEY,
            json!({ "i": { "name": "another", "tenantId": t.b } }),
        ),
        (REVOKE_API_KEY, json!({ "id": t.key_b })),
    ];
    for (query, vars) in refused {
        let r = app.as_token(&key, query, vars).await;
        r.expect_code("FORBIDDEN");
        assert!(
            r.body["data"].is_null(),
            "data returned for {query}: {}",
            r.body
        );
    }
    assert_eq!(app.count("tenants").await, tenants_before);
    assert_eq!(app.count("billableMetrics").await, metrics_before);
    assert_eq!(snapshot(&app, &t.a).await, a_before);
    assert_eq!(snapshot(&app, &t.b).await, b_before);
}

// ---------------------------------------------------------------------------------------------
// 3. Bad credentials
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_request_without_a_credential_is_unauthenticated() {
    let app = spawn_app().await;
    app.create_tenant("tenant-a").await;

    assert_unauthenticated(&app, None).await;
    app.anonymous(USERS, json!({}))
        .await
        .expect_code("UNAUTHENTICATED");
    app.anonymous("{ billableMetrics { edges { cursor } } }", json!({}))
        .await
        .expect_code("UNAUTHENTICATED");
}

#[tokio::test]
async fn an_expired_token_is_unauthenticated() {
    // Arrange: an admin token that expired an hour ago (well past any leeway).
    let app = spawn_app().await;
    let secret = jwt_secret(&app);
    let mut expired = claims(&app, "admin", None);
    let now = chrono::Utc::now().timestamp();
    expired["iat"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);

    // Act / Assert
    assert_accepted_as_admin(
        &app,
        &sign(&secret, Algorithm::HS256, &claims(&app, "admin", None)),
    )
    .await;
    let token = sign(&secret, Algorithm::HS256, &expired);
    assert_unauthenticated(&app, Some(&format!("Bearer {token}"))).await;
}

#[tokio::test]
async fn a_token_signed_with_another_secret_or_algorithm_is_unauthenticated() {
    let app = spawn_app().await;
    let secret = jwt_secret(&app);
    let admin = claims(&app, "admin", None);

    let other_secret = sign(
        b"some-other-secret-that-is-long-enough",
        Algorithm::HS256,
        &admin,
    );
    assert_unauthenticated(&app, Some(&format!("Bearer {other_secret}"))).await;
    // The right secret but an algorithm the server does not accept.
    let hs512 = sign(&secret, Algorithm::HS512, &admin);
    assert_unauthenticated(&app, Some(&format!("Bearer {hs512}"))).await;
    let hs384 = sign(&secret, Algorithm::HS384, &admin);
    assert_unauthenticated(&app, Some(&format!("Bearer {hs384}"))).await;
}

#[tokio::test]
async fn an_unsigned_or_tampered_token_is_unauthenticated() {
    // Arrange
    let app = spawn_app().await;
    let a = app.create_tenant("tenant-a").await;
    let secret = jwt_secret(&app);
    let admin = claims(&app, "admin", None);
    let hs256 = json!({ "alg": "HS256", "typ": "JWT" });
    // The control: the hand-built token is accepted when properly signed.
    assert_accepted_as_admin(&app, &hand_token(&hs256, &admin, Some(&secret))).await;

    // Act / Assert: `alg: none` with an empty signature, in any spelling.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let token = hand_token(&json!({ "alg": alg, "typ": "JWT" }), &admin, None);
        assert_unauthenticated(&app, Some(&format!("Bearer {token}"))).await;
        // Without the trailing dot as well.
        let trimmed = token.trim_end_matches('.');
        assert_unauthenticated(&app, Some(&format!("Bearer {trimmed}"))).await;
    }
    // HS256 claimed, but no signature.
    let unsigned = hand_token(&hs256, &admin, None);
    assert_unauthenticated(&app, Some(&format!("Bearer {unsigned}"))).await;

    // A valid owner token whose payload is swapped for an admin one, keeping the signature.
    let owner = hand_token(&hs256, &claims(&app, "owner", Some(&a)), Some(&secret));
    let signature = owner.rsplit('.').next().expect("signature");
    let forged = format!(
        "{}.{}.{signature}",
        b64url(hs256.to_string().as_bytes()),
        b64url(admin.to_string().as_bytes())
    );
    assert_unauthenticated(&app, Some(&format!("Bearer {forged}"))).await;
}

#[tokio::test]
async fn a_token_for_another_issuer_or_audience_is_unauthenticated() {
    let app = spawn_app().await;
    let secret = jwt_secret(&app);

    let mut wrong_iss = claims(&app, "admin", None);
    wrong_iss["iss"] = json!("someone-else");
    let mut wrong_aud = claims(&app, "admin", None);
    wrong_aud["aud"] = json!("another-api");
    let mut no_exp = claims(&app, "admin", None);
    no_exp.as_object_mut().expect("object").remove("exp");
    let mut no_iss = claims(&app, "admin", None);
    no_iss.as_object_mut().expect("object").remove("iss");
    let mut no_aud = claims(&app, "admin", None);
    no_aud.as_object_mut().expect("object").remove("aud");

    assert_accepted_as_admin(
        &app,
        &sign(&secret, Algorithm::HS256, &claims(&app, "admin", None)),
    )
    .await;
    for (what, c) in [
        ("iss", wrong_iss),
        ("aud", wrong_aud),
        ("no exp", no_exp),
        ("no iss", no_iss),
        ("no aud", no_aud),
    ] {
        let token = sign(&secret, Algorithm::HS256, &c);
        let r = app.as_token(&token, ME, json!({})).await;
        assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{what}: {}", r.body);
        assert_unauthenticated(&app, Some(&format!("Bearer {token}"))).await;
    }
}

#[tokio::test]
async fn a_token_whose_role_and_tenant_do_not_match_is_unauthenticated() {
    let app = spawn_app().await;
    let a = app.create_tenant("tenant-a").await;
    let secret = jwt_secret(&app);

    let cases = [
        ("owner without tenant", claims(&app, "owner", None)),
        ("member without tenant", claims(&app, "member", None)),
        ("billing without tenant", claims(&app, "billing", None)),
        ("admin with a tenant", claims(&app, "admin", Some(&a))),
        ("unknown role", claims(&app, "superuser", None)),
        (
            "malformed tenant",
            claims(&app, "owner", Some("not-a-tenant-id")),
        ),
    ];
    for (what, c) in cases {
        let token = sign(&secret, Algorithm::HS256, &c);
        let r = app.as_token(&token, ME, json!({})).await;
        assert_eq!(r.code(), Some("UNAUTHENTICATED"), "{what}: {}", r.body);
        assert_unauthenticated(&app, Some(&format!("Bearer {token}"))).await;
    }
}

#[tokio::test]
async fn a_malformed_authorization_header_is_unauthenticated() {
    let app = spawn_app().await;
    let valid = app.admin_token.clone();

    for header in [
        "Bearer abc".to_owned(),
        "Bearer ".to_owned(),
        "Bearer a.b.c".to_owned(),
        "Basic dXNlcjpwYXNzd29yZA==".to_owned(),
        format!("Basic {valid}"),
        format!("Token {valid}"),
        valid.clone(),
    ] {
        assert_unauthenticated(&app, Some(&header)).await;
    }
}

#[tokio::test]
async fn a_revoked_api_key_is_unauthenticated() {
    // Arrange: an owner's key that works.
    let app = spawn_app().await;
    let a = app.create_tenant("tenant-a").await;
    let owner = app.tenant_token(&a, Role::Owner);
    let (key_id, secret) = app.create_api_key(&owner, None, "soon revoked").await;
    let me = app.as_token(&secret, ME, json!({})).await;
    assert_eq!(me.data()["me"]["role"], json!("SERVICE"));
    assert_eq!(me.data()["me"]["tenantId"], json!(a));

    // Act
    let revoked = app
        .as_token(&owner, REVOKE_API_KEY, json!({ "id": key_id }))
        .await;

    // Assert
    assert!(
        revoked.data()["revokeApiKey"]["apiKey"]["revokedAt"].is_string(),
        "{}",
        revoked.body
    );
    assert_unauthenticated(&app, Some(&format!("Bearer {secret}"))).await;
    app.as_token(
        &secret,
        "{ billableMetrics { edges { cursor } } }",
        json!({}),
    )
    .await
    .expect_code("UNAUTHENTICATED");
    let keys = nodes(&app.as_admin(API_KEYS, json!({ "t": a })).await, "apiKeys");
    assert!(keys[0]["revokedAt"].is_string(), "{keys:?}");
}

#[tokio::test]
async fn a_made_up_api_key_is_unauthenticated() {
    let app = spawn_app().await;
    let a = app.create_tenant("tenant-a").await;
    let owner = app.tenant_token(&a, Role::Owner);
    let (_, real) = app.create_api_key(&owner, None, "real").await;

    let made_up = format!("bk_{}", "A1b2C3d4E5".repeat(4));
    assert_unauthenticated(&app, Some(&format!("Bearer {made_up}"))).await;
    assert_unauthenticated(&app, Some("Bearer bk_")).await;
    // A real key with one character changed.
    let mut altered: Vec<char> = real.chars().collect();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == 'x' { 'y' } else { 'x' };
    let altered: String = altered.into_iter().collect();
    assert_unauthenticated(&app, Some(&format!("Bearer {altered}"))).await;
    // The real key still works.
    assert_eq!(
        app.as_token(&real, ME, json!({})).await.data()["me"]["role"],
        json!("SERVICE")
    );
}

#[tokio::test]
async fn login_needs_no_credential_and_does_not_say_which_part_was_wrong() {
    // Arrange
    let app = spawn_app().await;
    let a = app.create_tenant("tenant-a").await;
    let user = app
        .create_user(
            Some(&a),
            "owner@a.example.com",
            "OWNER",
            "correct horse battery",
        )
        .await;

    // Act: no Authorization header at all.
    let ok = app
        .anonymous(
            LOGIN,
            json!({ "i": { "email": "owner@a.example.com", "password": "correct horse battery" } }),
        )
        .await;

    // Assert: the token works and says who the user is.
    let session = ok.data()["login"].clone();
    assert_eq!(session["user"]["id"], json!(user));
    let token = session["token"].as_str().expect("token");
    let me = app.as_token(token, ME, json!({})).await;
    assert_eq!(me.data()["me"]["role"], json!("OWNER"));
    assert_eq!(me.data()["me"]["tenantId"], json!(a));
    assert_eq!(me.data()["me"]["user"]["id"], json!(user));

    // A stale credential sent along does not stop a new sign-in.
    let again = app
        .gql_with(
            Some("garbage"),
            LOGIN,
            json!({ "i": { "email": "owner@a.example.com", "password": "correct horse battery" } }),
        )
        .await;
    assert!(again.data()["login"]["token"].is_string());

    // Wrong password and unknown email get the same answer.
    let wrong_password = app
        .anonymous(
            LOGIN,
            json!({ "i": { "email": "owner@a.example.com", "password": "not the password" } }),
        )
        .await;
    let unknown_email = app
        .anonymous(LOGIN, json!({ "i": { "email": "nobody@a.example.com", "password": "correct horse battery" } }))
        .await;
    let malformed_email = app
        .anonymous(
            LOGIN,
            json!({ "i": { "email": "not-an-email", "password": "correct horse battery" } }),
        )
        .await;
    let e1 = wrong_password.expect_code("UNAUTHENTICATED");
    let e2 = unknown_email.expect_code("UNAUTHENTICATED");
    let e3 = malformed_email.expect_code("UNAUTHENTICATED");
    assert_eq!(e1["message"], e2["message"]);
    assert_eq!(e1["message"], e3["message"]);
    for r in [&wrong_password, &unknown_email, &malformed_email] {
        assert!(r.body["data"].is_null(), "a session leaked: {}", r.body);
    }
}
