//! Bad input gets VALIDATION or CONFLICT and writes nothing.
use serde_json::{Value, json};

use crate::helpers::*;

/// The documented `extensions.code` values (DESIGN.md, "API conventions").
const CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "VALIDATION",
    "CONFLICT",
    "INSUFFICIENT_CREDITS",
    "LIMIT_EXCEEDED",
    "PAYMENT_FAILED",
    "PAYMENT_REQUIRED",
    "RATE_LIMITED",
    "INTERNAL",
];

const CREATE_TENANT: &str =
    "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }";
const UPDATE_TENANT: &str =
    "mutation($i: UpdateTenantInput!) { updateTenant(input: $i) { tenant { id name } } }";
const CREATE_USER: &str =
    "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } } }";
const CREATE_METRIC: &str = "mutation($i: CreateBillableMetricInput!) { createBillableMetric(input: $i) { billableMetric { id } } }";
const CREATE_PLAN: &str =
    "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id version } } }";
const PUBLISH_PLAN: &str =
    "mutation($i: PlanInput!) { publishPlanVersion(input: $i) { plan { id version } } }";
const CREATE_PACK: &str =
    "mutation($i: CreditPackInput!) { createCreditPack(input: $i) { creditPack { id } } }";
const PUBLISH_PACK: &str = "mutation($i: CreditPackInput!) { publishCreditPackVersion(input: $i) { creditPack { id version } } }";
const CREATE_COUPON: &str =
    "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { id } } }";

const TENANT_FIELDS: &str =
    "id name slug billingEmail currency locale status suspendedReason createdAt updatedAt";

/// Everything the API can show an operator, to prove that a refused request wrote nothing.
const SNAPSHOT: &str = r#"{
  tenants(first: 100) { edges { node { id name slug billingEmail currency locale status suspendedReason createdAt updatedAt } } }
  users(first: 100) { edges { node { id tenantId email name role createdAt } } }
  apiKeys(first: 100) { edges { node { id tenantId name prefix revokedAt } } }
  billableMetrics(first: 100) { edges { node { id code name unit aggregation } } }
  plans(first: 100, allVersions: true) { edges { node {
    id code version isCurrent name description currency trialDays features
    monthlyPrice { amountMinor currency } yearlyPrice { amountMinor currency }
    limits { metricCode value enforcement }
    charges { metricCode timing model includedUnits blockSize blockPrice { amountMinor } unitPriceMinor credits perUnits creditRounding }
  } } }
  creditPacks(first: 100, allVersions: true) { edges { node { id code version isCurrent name credits price { amountMinor currency } } } }
  coupons(first: 100) { edges { node {
    id code name percentOff amountOff { amountMinor currency } duration durationPeriods maxRedemptions timesRedeemed
    validFrom validUntil planCodes
  } } }
}"#;

async fn snapshot(app: &TestApp) -> Value {
    app.as_admin(SNAPSHOT, json!({})).await.data().clone()
}

/// Asserts that a request was refused with `code`: no server failure, every error carries a
/// documented code, no data. Returns the first error.
fn refused<'a>(r: &'a Gql, code: &str, what: &str) -> &'a Value {
    assert!(r.status < 500, "{what}: HTTP {} with {}", r.status, r.body);
    let errors = r.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no errors in {}", r.body));
    assert!(!errors.is_empty(), "{what}: empty errors in {}", r.body);
    for e in errors {
        let c = e["extensions"]["code"].as_str();
        assert!(
            c.is_some_and(|c| CODES.contains(&c)),
            "{what}: error without a documented code: {}",
            r.body
        );
        assert_ne!(c, Some("INTERNAL"), "{what}: internal error: {}", r.body);
    }
    assert_eq!(
        r.code(),
        Some(code),
        "{what}: expected {code}, got {}",
        r.body
    );
    assert!(
        r.body["data"].is_null(),
        "{what}: a refused request returned data: {}",
        r.body
    );
    &r.body["errors"][0]
}

/// Sends `query` as admin; asserts it is refused with `code` (naming `field`, when given) and
/// that nothing the API can show changed.
async fn rejects(
    app: &TestApp,
    what: &str,
    query: &str,
    vars: Value,
    code: &str,
    field: Option<&str>,
) {
    let before = snapshot(app).await;
    let r = app.as_admin(query, vars).await;
    let err = refused(&r, code, what);
    if let Some(field) = field {
        assert_eq!(
            err["extensions"]["field"].as_str(),
            Some(field),
            "{what}: wrong field in {}",
            r.body
        );
    }
    assert_eq!(
        snapshot(app).await,
        before,
        "{what}: a refused request changed data"
    );
}

/// `base` with the keys of `overrides` replaced.
fn with(base: &Value, overrides: Value) -> Value {
    let mut out = base.clone();
    if let (Some(o), Some(patch)) = (out.as_object_mut(), overrides.as_object()) {
        for (k, v) in patch {
            o.insert(k.clone(), v.clone());
        }
    }
    out
}

async fn tenant(app: &TestApp, id: &str) -> Value {
    let q = format!("query($id: ID!) {{ tenant(id: $id) {{ {TENANT_FIELDS} }} }}");
    app.as_admin(&q, json!({ "id": id })).await.data()["tenant"].clone()
}

async fn count_with(app: &TestApp, field: &str, args: &str) -> usize {
    let q = format!("{{ {field}(first: 100{args}) {{ edges {{ cursor }} }} }}");
    app.as_admin(&q, json!({})).await.data()[field]["edges"]
        .as_array()
        .map_or(0, Vec::len)
}

/// Posts a raw body to `/graphql` as admin and returns the status and the JSON body.
async fn post_raw(app: &TestApp, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let resp = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("HTTP {status}: body is not JSON ({e}): {text}"));
    (status, body)
}

// ---------------------------------------------------------------------------------------------
// Tenants
// ---------------------------------------------------------------------------------------------

fn good_tenant() -> Value {
    json!({ "name": "Acme Ltda", "slug": "acme", "billingEmail": "billing@acme.example.com" })
}

#[tokio::test]
async fn bad_tenant_input_is_a_validation_error_that_writes_nothing() {
    let app = spawn_app().await;
    let base = good_tenant();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("empty name", json!({ "name": "" }), "name"),
        ("whitespace-only name", json!({ "name": "   \t  " }), "name"),
        (
            "name over 200 characters",
            json!({ "name": "a".repeat(201) }),
            "name",
        ),
        (
            "name over 200 multibyte characters",
            json!({ "name": "ã".repeat(201) }),
            "name",
        ),
        (
            "name with a NUL byte",
            json!({ "name": "Acme\u{0}Ltda" }),
            "name",
        ),
        (
            "name with a control character",
            json!({ "name": "Acme\u{7}" }),
            "name",
        ),
        ("uppercase slug", json!({ "slug": "Acme" }), "slug"),
        ("slug too short", json!({ "slug": "ab" }), "slug"),
        ("slug with a space", json!({ "slug": "acme corp" }), "slug"),
        ("slug too long", json!({ "slug": "a".repeat(64) }), "slug"),
        (
            "slug starting with a hyphen",
            json!({ "slug": "-acme" }),
            "slug",
        ),
        (
            "slug with a double hyphen",
            json!({ "slug": "ac--me" }),
            "slug",
        ),
        (
            "slug with a non-ASCII letter",
            json!({ "slug": "açme" }),
            "slug",
        ),
        (
            "SQL in the slug",
            json!({ "slug": "acme'; DROP TABLE tenants; --" }),
            "slug",
        ),
        (
            "email without @",
            json!({ "billingEmail": "billing.acme.example.com" }),
            "billingEmail",
        ),
        (
            "email without domain",
            json!({ "billingEmail": "billing@" }),
            "billingEmail",
        ),
        (
            "email without local part",
            json!({ "billingEmail": "@acme.example.com" }),
            "billingEmail",
        ),
        (
            "email without a dot in the domain",
            json!({ "billingEmail": "billing@acme" }),
            "billingEmail",
        ),
        (
            "email with a space",
            json!({ "billingEmail": "bil ling@acme.example.com" }),
            "billingEmail",
        ),
        (
            "email with two @",
            json!({ "billingEmail": "a@b@acme.example.com" }),
            "billingEmail",
        ),
        ("empty email", json!({ "billingEmail": "" }), "billingEmail"),
        ("unknown currency", json!({ "currency": "XXX" }), "currency"),
        ("empty currency", json!({ "currency": "" }), "currency"),
        (
            "currency that is not a code",
            json!({ "currency": "reais" }),
            "currency",
        ),
        (
            "locale with underscore",
            json!({ "locale": "pt_BR" }),
            "locale",
        ),
        ("lowercase region", json!({ "locale": "pt-br" }), "locale"),
        (
            "locale that is a word",
            json!({ "locale": "portuguese" }),
            "locale",
        ),
        (
            "locale with a dangling hyphen",
            json!({ "locale": "pt-" }),
            "locale",
        ),
        ("empty locale", json!({ "locale": "" }), "locale"),
    ];
    for (what, overrides, field) in cases {
        rejects(
            &app,
            what,
            CREATE_TENANT,
            json!({ "i": with(&base, overrides) }),
            "VALIDATION",
            Some(field),
        )
        .await;
    }
    assert_eq!(app.count("tenants").await, 0);

    // Required fields missing or of the wrong type are refused by the schema.
    for (what, input) in [
        (
            "missing slug",
            json!({ "name": "Acme", "billingEmail": "billing@acme.example.com" }),
        ),
        ("null name", with(&base, json!({ "name": null }))),
        ("number as name", with(&base, json!({ "name": 42 }))),
        (
            "unknown input field",
            with(&base, json!({ "plan": "gold" })),
        ),
    ] {
        rejects(
            &app,
            what,
            CREATE_TENANT,
            json!({ "i": input }),
            "VALIDATION",
            None,
        )
        .await;
    }
    assert_eq!(app.count("tenants").await, 0);

    // The limits are inclusive, and the input used above is otherwise valid.
    let long = with(
        &base,
        json!({ "name": "ã".repeat(200), "slug": "a".repeat(63), "locale": "en", "currency": "usd" }),
    );
    let r = app
        .as_admin(
            "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { name slug currency locale } } }",
            json!({ "i": long }),
        )
        .await;
    let t = &r.data()["createTenant"]["tenant"];
    assert_eq!(t["name"], "ã".repeat(200));
    assert_eq!(t["currency"], "USD");
    app.as_admin(CREATE_TENANT, json!({ "i": base }))
        .await
        .data();
    assert_eq!(app.count("tenants").await, 2);
}

#[tokio::test]
async fn a_duplicate_slug_is_a_conflict_and_leaves_the_first_tenant_unchanged() {
    let app = spawn_app().await;
    let first = app.create_tenant("acme").await;
    let before = tenant(&app, &first).await;

    let dup = json!({ "name": "Impostor", "slug": "acme", "billingEmail": "evil@impostor.example.com", "currency": "USD" });
    rejects(
        &app,
        "duplicate slug",
        CREATE_TENANT,
        json!({ "i": dup }),
        "CONFLICT",
        None,
    )
    .await;
    assert_eq!(app.count("tenants").await, 1);
    assert_eq!(tenant(&app, &first).await, before);

    // Renaming another tenant onto a taken slug is a conflict too, and changes neither tenant.
    let second = app.create_tenant("globex").await;
    let second_before = tenant(&app, &second).await;
    let patch = json!({ "id": second, "name": "Globex Renamed", "slug": "acme" });
    rejects(
        &app,
        "update onto a taken slug",
        UPDATE_TENANT,
        json!({ "i": patch }),
        "CONFLICT",
        None,
    )
    .await;
    assert_eq!(tenant(&app, &first).await, before);
    assert_eq!(tenant(&app, &second).await, second_before);
}

#[tokio::test]
async fn a_rejected_tenant_update_changes_nothing() {
    let app = spawn_app().await;
    let id = app.create_tenant("acme").await;
    let before = tenant(&app, &id).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "good name, bad email",
            json!({ "name": "New Name", "billingEmail": "not-an-email" }),
            "billingEmail",
        ),
        (
            "good name, bad slug",
            json!({ "name": "New Name", "slug": "New Slug" }),
            "slug",
        ),
        (
            "good name, bad currency",
            json!({ "name": "New Name", "currency": "XXX" }),
            "currency",
        ),
        (
            "good name, bad locale",
            json!({ "name": "New Name", "locale": "xx_YY" }),
            "locale",
        ),
        (
            "good email, empty name",
            json!({ "name": "  ", "billingEmail": "new@acme.example.com" }),
            "name",
        ),
        (
            "good slug, long name",
            json!({ "slug": "acme-new", "name": "n".repeat(201) }),
            "name",
        ),
    ];
    for (what, patch, field) in cases {
        let input = with(&json!({ "id": id }), patch);
        rejects(
            &app,
            what,
            UPDATE_TENANT,
            json!({ "i": input }),
            "VALIDATION",
            Some(field),
        )
        .await;
        assert_eq!(
            tenant(&app, &id).await,
            before,
            "{what}: the tenant changed"
        );
    }

    // An update of a tenant that does not exist.
    let ghost = format!("ten_{}", uuid::Uuid::now_v7().simple());
    rejects(
        &app,
        "unknown tenant",
        UPDATE_TENANT,
        json!({ "i": { "id": ghost, "name": "Ghost" } }),
        "NOT_FOUND",
        None,
    )
    .await;

    // A suspension reason over its limit suspends nothing.
    let suspend =
        "mutation($i: SuspendTenantInput!) { suspendTenant(input: $i) { tenant { status } } }";
    let input = json!({ "i": { "id": id, "reason": "r".repeat(501) } });
    rejects(
        &app,
        "reason too long",
        suspend,
        input,
        "VALIDATION",
        Some("reason"),
    )
    .await;
    assert_eq!(tenant(&app, &id).await, before);

    // The same patch with the bad field fixed goes through.
    let r = app
        .as_admin(
            UPDATE_TENANT,
            json!({ "i": { "id": id, "name": "New Name" } }),
        )
        .await;
    assert_eq!(r.data()["updateTenant"]["tenant"]["name"], "New Name");
}

#[tokio::test]
async fn malformed_ids_are_validation_errors() {
    let app = spawn_app().await;
    let tenant_id = app.create_tenant("acme").await;
    let user_id = app
        .create_user(
            Some(&tenant_id),
            "ana@acme.example.com",
            "OWNER",
            "correct horse",
        )
        .await;
    let hex = tenant_id.strip_prefix("ten_").expect("ten_ prefix");
    let bad_ids = [
        "nope".to_owned(),
        String::new(),
        user_id.clone(),
        format!("usr_{hex}"),
        hex.to_owned(),
        uuid::Uuid::parse_str(hex).expect("uuid").to_string(),
        format!("ten_{}", &hex[..31]),
        format!("ten_{hex}0"),
        format!("ten_{}", "z".repeat(32)),
        format!("TEN_{hex}"),
        format!(" {tenant_id}"),
        "' OR '1'='1".to_owned(),
        "ten_' OR '1'='1' --".to_owned(),
        format!("{tenant_id}'; DROP TABLE tenants; --"),
        "1; DELETE FROM tenants".to_owned(),
    ];
    for bad in &bad_ids {
        let what = format!("tenant(id: {bad:?})");
        let q = "query($id: ID!) { tenant(id: $id) { id } }";
        rejects(
            &app,
            &what,
            q,
            json!({ "id": bad }),
            "VALIDATION",
            Some("id"),
        )
        .await;
        let what = format!("updateTenant(id: {bad:?})");
        let input = json!({ "i": { "id": bad, "name": "Hacked" } });
        rejects(&app, &what, UPDATE_TENANT, input, "VALIDATION", Some("id")).await;
        let what = format!("suspendTenant(id: {bad:?})");
        let q = "mutation($id: ID!) { suspendTenant(input: { id: $id }) { tenant { id } } }";
        rejects(
            &app,
            &what,
            q,
            json!({ "id": bad }),
            "VALIDATION",
            Some("id"),
        )
        .await;
        let what = format!("reactivateTenant(id: {bad:?})");
        let q = "mutation($id: ID!) { reactivateTenant(id: $id) { tenant { id } } }";
        rejects(
            &app,
            &what,
            q,
            json!({ "id": bad }),
            "VALIDATION",
            Some("id"),
        )
        .await;
        let what = format!("users(tenantId: {bad:?})");
        let q = "query($id: ID) { users(tenantId: $id) { edges { cursor } } }";
        rejects(
            &app,
            &what,
            q,
            json!({ "id": bad }),
            "VALIDATION",
            Some("tenantId"),
        )
        .await;
        let what = format!("apiKeys(tenantId: {bad:?})");
        let q = "query($id: ID) { apiKeys(tenantId: $id) { edges { cursor } } }";
        rejects(
            &app,
            &what,
            q,
            json!({ "id": bad }),
            "VALIDATION",
            Some("tenantId"),
        )
        .await;
        let what = format!("createUser(tenantId: {bad:?})");
        let input = json!({ "i": { "tenantId": bad, "email": "bo@acme.example.com", "name": "Bo", "role": "MEMBER", "password": "correct horse" } });
        rejects(
            &app,
            &what,
            CREATE_USER,
            input,
            "VALIDATION",
            Some("tenantId"),
        )
        .await;
        let what = format!("createApiKey(tenantId: {bad:?})");
        let q =
            "mutation($id: ID) { createApiKey(input: { name: \"ci\", tenantId: $id }) { secret } }";
        rejects(
            &app,
            &what,
            q,
            json!({ "id": bad }),
            "VALIDATION",
            Some("tenantId"),
        )
        .await;
    }

    // User and API key ids are checked the same way.
    for bad in [
        "nope".to_owned(),
        tenant_id.clone(),
        format!("usr_{}", "g".repeat(32)),
        "' OR 1=1 --".to_owned(),
    ] {
        let what = format!("removeUser(userId: {bad:?})");
        let q = "mutation($id: ID!) { removeUser(userId: $id) { removedUserId } }";
        rejects(
            &app,
            &what,
            q,
            json!({ "id": bad }),
            "VALIDATION",
            Some("userId"),
        )
        .await;
        let what = format!("updateUserRole(userId: {bad:?})");
        let q = "mutation($id: ID!) { updateUserRole(input: { userId: $id, role: MEMBER }) { user { id } } }";
        rejects(
            &app,
            &what,
            q,
            json!({ "id": bad }),
            "VALIDATION",
            Some("userId"),
        )
        .await;
        let what = format!("revokeApiKey(id: {bad:?})");
        let q = "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } } }";
        rejects(
            &app,
            &what,
            q,
            json!({ "id": bad }),
            "VALIDATION",
            Some("id"),
        )
        .await;
    }

    // The same id inlined in the query text rather than sent as a variable.
    let r = app
        .as_admin("{ tenant(id: \"nope\") { id } }", json!({}))
        .await;
    assert_eq!(
        refused(&r, "VALIDATION", "inline id")["extensions"]["field"],
        "id"
    );

    // A well-formed id that names nothing is not found, and the real tenant is still there.
    let ghost = format!("ten_{}", uuid::Uuid::now_v7().simple());
    let r = app
        .as_admin(
            "query($id: ID!) { tenant(id: $id) { id } }",
            json!({ "id": ghost }),
        )
        .await;
    refused(&r, "NOT_FOUND", "unknown tenant id");
    assert_eq!(tenant(&app, &tenant_id).await["name"], "Tenant acme");
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test]
async fn search_text_is_matched_literally_and_never_fails() {
    let app = spawn_app().await;
    for slug in ["acme", "globex", "initech"] {
        app.create_tenant(slug).await;
    }
    let q = "query($s: String) { tenants(search: $s) { edges { node { slug } } } }";
    for s in [
        "%",
        "_",
        "\\",
        "' OR '1'='1",
        "acme' OR 1=1 --",
        "%' OR slug LIKE '%",
        "a%e",
        "ac_e",
    ] {
        let r = app.as_admin(q, json!({ "s": s })).await;
        let edges = r.data()["tenants"]["edges"]
            .as_array()
            .expect("edges")
            .len();
        assert_eq!(edges, 0, "search {s:?} matched: {}", r.body);
    }
    let r = app.as_admin(q, json!({ "s": "a".repeat(101) })).await;
    assert_eq!(
        refused(&r, "VALIDATION", "search too long")["extensions"]["field"],
        "search"
    );
    // The search does work: it is the patterns above that match nothing.
    for s in ["acme", "ACME", "Tenant", "initech.example"] {
        let r = app.as_admin(q, json!({ "s": s })).await;
        assert!(
            !r.data()["tenants"]["edges"]
                .as_array()
                .expect("edges")
                .is_empty(),
            "search {s:?}: {}",
            r.body
        );
    }
    // Control characters cannot be in any name; PostgreSQL would reject a NUL outright.
    let r = app.as_admin(q, json!({ "s": "ac\u{0}me" })).await;
    assert_eq!(
        refused(&r, "VALIDATION", "NUL in search")["extensions"]["field"],
        "search"
    );
    assert_eq!(app.count("tenants").await, 3);
}

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_user_input_is_a_validation_error_that_writes_nothing() {
    let app = spawn_app().await;
    let t = app.create_tenant("acme").await;
    let base = json!({ "tenantId": t, "email": "ana@acme.example.com", "name": "Ana", "role": "MEMBER", "password": "correct horse" });
    let cases: Vec<(&str, Value, &str)> = vec![
        ("email without @", json!({ "email": "ana" }), "email"),
        ("email without domain", json!({ "email": "ana@" }), "email"),
        (
            "email with a space",
            json!({ "email": "a na@acme.example.com" }),
            "email",
        ),
        ("empty email", json!({ "email": "" }), "email"),
        (
            "email over 254 characters",
            json!({ "email": format!("ana@{}.example.com", "a".repeat(250)) }),
            "email",
        ),
        (
            "password of 7 characters",
            json!({ "password": "short12" }),
            "password",
        ),
        ("empty password", json!({ "password": "" }), "password"),
        (
            "password over 256 characters",
            json!({ "password": "p".repeat(257) }),
            "password",
        ),
        ("empty name", json!({ "name": " " }), "name"),
        ("admin role in a tenant", json!({ "role": "ADMIN" }), "role"),
        (
            "service role in a tenant",
            json!({ "role": "SERVICE" }),
            "role",
        ),
    ];
    for (what, overrides, field) in cases {
        rejects(
            &app,
            what,
            CREATE_USER,
            json!({ "i": with(&base, overrides) }),
            "VALIDATION",
            Some(field),
        )
        .await;
    }

    // A tenant role with no tenant, as the operator: the operator must name the tenant.
    for role in ["OWNER", "BILLING", "MEMBER"] {
        let input = with(&base, json!({ "tenantId": null, "role": role }));
        let before = snapshot(&app).await;
        let r = app.as_admin(CREATE_USER, json!({ "i": input })).await;
        let err = refused(&r, "VALIDATION", &format!("{role} without tenantId"));
        let field = err["extensions"]["field"].as_str();
        assert!(
            matches!(field, Some("tenantId" | "role")),
            "{role} without tenantId: field {field:?}: {}",
            r.body
        );
        assert_eq!(snapshot(&app).await, before);
    }

    // Schema-level refusals.
    let input = with(&base, json!({ "role": "GOD" }));
    rejects(
        &app,
        "unknown role",
        CREATE_USER,
        json!({ "i": input }),
        "VALIDATION",
        None,
    )
    .await;
    let input = with(&base, json!({ "password": null }));
    rejects(
        &app,
        "null password",
        CREATE_USER,
        json!({ "i": input }),
        "VALIDATION",
        None,
    )
    .await;

    // A well-formed tenant id that names no tenant.
    let ghost = format!("ten_{}", uuid::Uuid::now_v7().simple());
    let input = with(&base, json!({ "tenantId": ghost }));
    rejects(
        &app,
        "unknown tenant",
        CREATE_USER,
        json!({ "i": input }),
        "NOT_FOUND",
        None,
    )
    .await;

    // An API key needs a name.
    let q = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }";
    rejects(
        &app,
        "API key without a name",
        q,
        json!({ "i": { "name": "  ", "tenantId": t } }),
        "VALIDATION",
        Some("name"),
    )
    .await;
    assert_eq!(app.count("users").await, 0);
    assert_eq!(app.count("apiKeys").await, 0);

    // The base input is valid, and exactly 8 characters is enough.
    app.as_admin(
        CREATE_USER,
        json!({ "i": with(&base, json!({ "password": "eight888" })) }),
    )
    .await
    .data();
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test]
async fn a_duplicate_user_email_is_a_conflict() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let globex = app.create_tenant("globex").await;
    app.create_user(
        Some(&acme),
        "ana@acme.example.com",
        "OWNER",
        "correct horse",
    )
    .await;
    for (what, tenant, email) in [
        ("same email", &acme, "ana@acme.example.com"),
        ("same email in other case", &acme, "Ana@ACME.example.com"),
        ("same email with spaces", &acme, "  ana@acme.example.com "),
        (
            "same email in another tenant",
            &globex,
            "ana@acme.example.com",
        ),
    ] {
        let input = json!({ "tenantId": tenant, "email": email, "name": "Other Ana", "role": "MEMBER", "password": "another secret" });
        rejects(
            &app,
            what,
            CREATE_USER,
            json!({ "i": input }),
            "CONFLICT",
            None,
        )
        .await;
    }
    let input = json!({ "email": "ANA@acme.example.com", "name": "Admin Ana", "role": "ADMIN", "password": "another secret" });
    rejects(
        &app,
        "same email as an operator user",
        CREATE_USER,
        json!({ "i": input }),
        "CONFLICT",
        None,
    )
    .await;
    assert_eq!(app.count("users").await, 1);

    // The original can still sign in with its own password.
    let login = "mutation($i: LoginInput!) { login(input: $i) { user { name } } }";
    let r = app
        .anonymous(
            login,
            json!({ "i": { "email": "ana@acme.example.com", "password": "correct horse" } }),
        )
        .await;
    assert_eq!(r.data()["login"]["user"]["name"], "Test User");
}

// ---------------------------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------------------------

fn good_plan() -> Value {
    json!({ "code": "pro", "name": "Pro", "monthlyPriceMinor": "4900" })
}

fn good_charge() -> Value {
    json!({ "metricCode": "tokens", "timing": "PERIOD_END", "model": "BLOCK", "blockSize": "8000000", "blockPriceMinor": "1000" })
}

fn good_pack() -> Value {
    json!({ "code": "pack100", "name": "100 credits", "credits": "100", "priceMinor": "990" })
}

fn good_coupon() -> Value {
    json!({ "code": "WELCOME20", "name": "Welcome", "percentOff": 20, "duration": "ONCE" })
}

#[tokio::test]
async fn duplicate_catalog_codes_are_conflicts() {
    let app = spawn_app().await;
    app.create_metric("tokens").await;
    app.as_admin(CREATE_PLAN, json!({ "i": good_plan() }))
        .await
        .data();
    app.as_admin(CREATE_PACK, json!({ "i": good_pack() }))
        .await
        .data();
    app.as_admin(CREATE_COUPON, json!({ "i": good_coupon() }))
        .await
        .data();

    let metric = json!({ "code": "tokens", "name": "Other", "unit": "x", "aggregation": "MAX" });
    rejects(
        &app,
        "duplicate metric",
        CREATE_METRIC,
        json!({ "i": metric }),
        "CONFLICT",
        None,
    )
    .await;
    let plan = with(
        &good_plan(),
        json!({ "name": "Pro again", "monthlyPriceMinor": "1" }),
    );
    rejects(
        &app,
        "duplicate plan",
        CREATE_PLAN,
        json!({ "i": plan }),
        "CONFLICT",
        None,
    )
    .await;
    let pack = with(&good_pack(), json!({ "credits": "1", "priceMinor": "1" }));
    rejects(
        &app,
        "duplicate pack",
        CREATE_PACK,
        json!({ "i": pack }),
        "CONFLICT",
        None,
    )
    .await;
    for code in ["WELCOME20", "welcome20", " Welcome20 "] {
        let coupon = with(&good_coupon(), json!({ "code": code, "percentOff": 100 }));
        rejects(
            &app,
            &format!("duplicate coupon {code:?}"),
            CREATE_COUPON,
            json!({ "i": coupon }),
            "CONFLICT",
            None,
        )
        .await;
    }

    assert_eq!(app.count("billableMetrics").await, 1);
    assert_eq!(count_with(&app, "plans", ", allVersions: true").await, 1);
    assert_eq!(
        count_with(&app, "creditPacks", ", allVersions: true").await,
        1
    );
    assert_eq!(app.count("coupons").await, 1);
    let r = app
        .as_admin(
            "{ plan(code: \"pro\") { version name monthlyPrice { amountMinor } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        r.data()["plan"],
        json!({ "version": 1, "name": "Pro", "monthlyPrice": { "amountMinor": "4900" } })
    );
    let r = app
        .as_admin("{ coupon(code: \"WELCOME20\") { percentOff } }", json!({}))
        .await;
    assert_eq!(r.data()["coupon"]["percentOff"], 20);
}

#[tokio::test]
async fn bad_metric_input_is_a_validation_error_that_writes_nothing() {
    let app = spawn_app().await;
    let base = json!({ "code": "tokens", "name": "Tokens", "unit": "token", "aggregation": "SUM" });
    let cases: Vec<(&str, Value, &str)> = vec![
        ("uppercase code", json!({ "code": "Tokens" }), "code"),
        ("empty code", json!({ "code": "" }), "code"),
        ("code with a space", json!({ "code": "api calls" }), "code"),
        (
            "code starting with an underscore",
            json!({ "code": "_tokens" }),
            "code",
        ),
        (
            "code over 64 characters",
            json!({ "code": "t".repeat(65) }),
            "code",
        ),
        (
            "SQL in the code",
            json!({ "code": "x'); DROP TABLE billable_metrics; --" }),
            "code",
        ),
        ("empty name", json!({ "name": "" }), "name"),
        ("empty unit", json!({ "unit": " " }), "unit"),
        (
            "unit over 32 characters",
            json!({ "unit": "u".repeat(33) }),
            "unit",
        ),
    ];
    for (what, overrides, field) in cases {
        rejects(
            &app,
            what,
            CREATE_METRIC,
            json!({ "i": with(&base, overrides) }),
            "VALIDATION",
            Some(field),
        )
        .await;
    }
    let input = with(&base, json!({ "aggregation": "AVERAGE" }));
    rejects(
        &app,
        "unknown aggregation",
        CREATE_METRIC,
        json!({ "i": input }),
        "VALIDATION",
        None,
    )
    .await;
    assert_eq!(app.count("billableMetrics").await, 0);
    app.as_admin(CREATE_METRIC, json!({ "i": base }))
        .await
        .data();
    assert_eq!(app.count("billableMetrics").await, 1);
}

#[tokio::test]
async fn bad_plan_input_is_a_validation_error_that_writes_nothing() {
    let app = spawn_app().await;
    app.create_metric("tokens").await;
    app.create_metric("api_calls").await;
    let base = good_plan();
    let charge = good_charge();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "negative monthly price",
            json!({ "monthlyPriceMinor": "-1" }),
            "monthlyPriceMinor",
        ),
        (
            "negative monthly price as a number",
            json!({ "monthlyPriceMinor": -4900 }),
            "monthlyPriceMinor",
        ),
        (
            "i64::MAX monthly price",
            json!({ "monthlyPriceMinor": "9223372036854775807" }),
            "monthlyPriceMinor",
        ),
        (
            "i64::MAX monthly price as a number",
            json!({ "monthlyPriceMinor": i64::MAX }),
            "monthlyPriceMinor",
        ),
        (
            "i64::MIN monthly price",
            json!({ "monthlyPriceMinor": "-9223372036854775808" }),
            "monthlyPriceMinor",
        ),
        (
            "monthly price just over 10^15",
            json!({ "monthlyPriceMinor": "1000000000000001" }),
            "monthlyPriceMinor",
        ),
        (
            "negative yearly price",
            json!({ "yearlyPriceMinor": "-100" }),
            "yearlyPriceMinor",
        ),
        (
            "huge yearly price",
            json!({ "yearlyPriceMinor": "9223372036854775807" }),
            "yearlyPriceMinor",
        ),
        ("unknown currency", json!({ "currency": "XXX" }), "currency"),
        ("trialDays -1", json!({ "trialDays": -1 }), "trialDays"),
        ("trialDays 400", json!({ "trialDays": 400 }), "trialDays"),
        ("trialDays 366", json!({ "trialDays": 366 }), "trialDays"),
        ("uppercase code", json!({ "code": "Pro" }), "code"),
        ("empty code", json!({ "code": "" }), "code"),
        ("empty name", json!({ "name": "  " }), "name"),
        (
            "description over 2000 characters",
            json!({ "description": "d".repeat(2001) }),
            "description",
        ),
        (
            "empty feature",
            json!({ "features": ["Support", ""] }),
            "features[1]",
        ),
        (
            "more than 50 features",
            json!({ "features": vec!["f"; 51] }),
            "features",
        ),
        (
            "negative limit",
            json!({ "limits": [{ "metricCode": "tokens", "value": "-1" }] }),
            "limits[0].value",
        ),
        (
            "limit on an unknown metric",
            json!({ "limits": [{ "metricCode": "ghost", "value": "10" }] }),
            "limits[0].metricCode",
        ),
        (
            "the same metric limited twice",
            json!({ "limits": [{ "metricCode": "tokens", "value": "1" }, { "metricCode": "tokens", "value": "2" }] }),
            "limits[1].metricCode",
        ),
        (
            "charge on an unknown metric",
            json!({ "charges": [with(&charge, json!({ "metricCode": "ghost" }))] }),
            "charges[0].metricCode",
        ),
        (
            "second charge on an unknown metric",
            json!({ "charges": [charge.clone(), with(&charge, json!({ "metricCode": "ghost" }))] }),
            "charges[1].metricCode",
        ),
        (
            "charge on a malformed metric code",
            json!({ "charges": [with(&charge, json!({ "metricCode": "Tokens!" }))] }),
            "charges[0].metricCode",
        ),
        (
            "the same metric charged twice",
            json!({ "charges": [charge.clone(), charge.clone()] }),
            "charges[1].metricCode",
        ),
        (
            "BLOCK without blockSize",
            json!({ "charges": [with(&charge, json!({ "blockSize": null }))] }),
            "charges[0].blockSize",
        ),
        (
            "BLOCK with blockSize 0",
            json!({ "charges": [with(&charge, json!({ "blockSize": "0" }))] }),
            "charges[0].blockSize",
        ),
        (
            "BLOCK with a negative blockSize",
            json!({ "charges": [with(&charge, json!({ "blockSize": "-8" }))] }),
            "charges[0].blockSize",
        ),
        (
            "BLOCK with a huge blockSize",
            json!({ "charges": [with(&charge, json!({ "blockSize": "9223372036854775807" }))] }),
            "charges[0].blockSize",
        ),
        (
            "BLOCK without blockPriceMinor",
            json!({ "charges": [with(&charge, json!({ "blockPriceMinor": null }))] }),
            "charges[0].blockPriceMinor",
        ),
        (
            "BLOCK with a negative price",
            json!({ "charges": [with(&charge, json!({ "blockPriceMinor": "-1" }))] }),
            "charges[0].blockPriceMinor",
        ),
        (
            "BLOCK with a huge price",
            json!({ "charges": [with(&charge, json!({ "blockPriceMinor": "9223372036854775807" }))] }),
            "charges[0].blockPriceMinor",
        ),
        (
            "negative includedUnits",
            json!({ "charges": [with(&charge, json!({ "includedUnits": "-1" }))] }),
            "charges[0].includedUnits",
        ),
        (
            "UNIT without a price",
            json!({ "charges": [{ "metricCode": "api_calls", "timing": "PERIOD_END", "model": "UNIT" }] }),
            "charges[0].unitPriceMinor",
        ),
        (
            "UNIT with a negative price",
            json!({ "charges": [{ "metricCode": "api_calls", "timing": "PERIOD_END", "model": "UNIT", "unitPriceMinor": "-0.05" }] }),
            "charges[0].unitPriceMinor",
        ),
        (
            "UNIT with a price that is not a number",
            json!({ "charges": [{ "metricCode": "api_calls", "timing": "PERIOD_END", "model": "UNIT", "unitPriceMinor": "five" }] }),
            "charges[0].unitPriceMinor",
        ),
        (
            "UNIT with a price finer than 10 decimals",
            json!({ "charges": [{ "metricCode": "api_calls", "timing": "PERIOD_END", "model": "UNIT", "unitPriceMinor": "0.00000000001" }] }),
            "charges[0].unitPriceMinor",
        ),
        (
            "UNIT with a price over 10^15",
            json!({ "charges": [{ "metricCode": "api_calls", "timing": "PERIOD_END", "model": "UNIT", "unitPriceMinor": "99999999999999999999999999999999999" }] }),
            "charges[0].unitPriceMinor",
        ),
        (
            "CREDITS with negative credits",
            json!({ "charges": [{ "metricCode": "tokens", "timing": "IMMEDIATELY", "model": "CREDITS", "credits": "-1", "perUnits": "1000" }] }),
            "charges[0].credits",
        ),
        (
            "CREDITS with perUnits 0",
            json!({ "charges": [{ "metricCode": "tokens", "timing": "IMMEDIATELY", "model": "CREDITS", "credits": "1", "perUnits": "0" }] }),
            "charges[0].perUnits",
        ),
        (
            "a unit price on a BLOCK charge",
            json!({ "charges": [with(&charge, json!({ "unitPriceMinor": "0.05" }))] }),
            "charges[0].unitPriceMinor",
        ),
        (
            "credits on a BLOCK charge",
            json!({ "charges": [with(&charge, json!({ "credits": "1", "perUnits": "1000" }))] }),
            "charges[0].credits",
        ),
        (
            "a credit rounding on a BLOCK charge",
            json!({ "charges": [with(&charge, json!({ "creditRounding": "EXACT" }))] }),
            "charges[0].creditRounding",
        ),
        (
            "a block size on a UNIT charge",
            json!({ "charges": [{ "metricCode": "api_calls", "timing": "PERIOD_END", "model": "UNIT", "unitPriceMinor": "0.05", "blockSize": "1000" }] }),
            "charges[0].blockSize",
        ),
        (
            "a block price on a UNIT charge",
            json!({ "charges": [{ "metricCode": "api_calls", "timing": "PERIOD_END", "model": "UNIT", "unitPriceMinor": "0.05", "blockPriceMinor": "100" }] }),
            "charges[0].blockPriceMinor",
        ),
        (
            "perUnits on a UNIT charge",
            json!({ "charges": [{ "metricCode": "api_calls", "timing": "PERIOD_END", "model": "UNIT", "unitPriceMinor": "0.05", "perUnits": "1000" }] }),
            "charges[0].perUnits",
        ),
        (
            "included units on a CREDITS charge",
            json!({ "charges": [{ "metricCode": "tokens", "timing": "IMMEDIATELY", "model": "CREDITS", "credits": "1", "perUnits": "1000", "includedUnits": "500" }] }),
            "charges[0].includedUnits",
        ),
        (
            "a unit price on a CREDITS charge",
            json!({ "charges": [{ "metricCode": "tokens", "timing": "IMMEDIATELY", "model": "CREDITS", "credits": "1", "perUnits": "1000", "unitPriceMinor": "0.05" }] }),
            "charges[0].unitPriceMinor",
        ),
        (
            "a block price on the second charge, a CREDITS one",
            json!({ "charges": [charge.clone(), { "metricCode": "api_calls", "timing": "IMMEDIATELY", "model": "CREDITS", "credits": "1", "perUnits": "1", "blockPriceMinor": "0" }] }),
            "charges[1].blockPriceMinor",
        ),
        (
            "CREDITS without perUnits",
            json!({ "charges": [{ "metricCode": "tokens", "timing": "IMMEDIATELY", "model": "CREDITS", "credits": "1" }] }),
            "charges[0].perUnits",
        ),
    ];
    for (what, overrides, field) in cases {
        rejects(
            &app,
            what,
            CREATE_PLAN,
            json!({ "i": with(&base, overrides) }),
            "VALIDATION",
            Some(field),
        )
        .await;
    }

    // Values the BigInt scalar or the schema refuse before our code runs.
    let not_bigint: Vec<(&str, Value)> = vec![
        (
            "BigInt with letters",
            json!({ "monthlyPriceMinor": "12abc" }),
        ),
        (
            "BigInt over 64 bits",
            json!({ "monthlyPriceMinor": "99999999999999999999" }),
        ),
        (
            "BigInt over 64 bits as a number",
            json!({ "monthlyPriceMinor": 99999999999999999999.0 }),
        ),
        (
            "BigInt with a fraction",
            json!({ "monthlyPriceMinor": "49.90" }),
        ),
        ("BigInt as a float", json!({ "monthlyPriceMinor": 49.9 })),
        (
            "BigInt in exponent form",
            json!({ "monthlyPriceMinor": "1e3" }),
        ),
        ("empty BigInt", json!({ "monthlyPriceMinor": "" })),
        (
            "BigInt with a leading space",
            json!({ "monthlyPriceMinor": " 42" }),
        ),
        (
            "BigInt with a trailing space",
            json!({ "monthlyPriceMinor": "42 " }),
        ),
        (
            "BigInt with a plus sign",
            json!({ "monthlyPriceMinor": "+42" }),
        ),
        (
            "BigInt with a leading zero",
            json!({ "monthlyPriceMinor": "042" }),
        ),
        ("BigInt negative zero", json!({ "monthlyPriceMinor": "-0" })),
        (
            "BigInt blockSize with a leading zero",
            json!({ "charges": [with(&charge, json!({ "blockSize": "08000000" }))] }),
        ),
        ("BigInt as a boolean", json!({ "monthlyPriceMinor": true })),
        ("null monthly price", json!({ "monthlyPriceMinor": null })),
        (
            "BigInt blockSize over 64 bits",
            json!({ "charges": [with(&charge, json!({ "blockSize": "99999999999999999999" }))] }),
        ),
        (
            "trialDays over 32 bits",
            json!({ "trialDays": 4_294_967_296_i64 }),
        ),
        (
            "unknown charge model",
            json!({ "charges": [with(&charge, json!({ "model": "TIERED" }))] }),
        ),
    ];
    for (what, overrides) in not_bigint {
        rejects(
            &app,
            what,
            CREATE_PLAN,
            json!({ "i": with(&base, overrides) }),
            "VALIDATION",
            None,
        )
        .await;
    }
    // The same, written inline in the query text.
    let inline = "mutation { createPlan(input: { code: \"pro\", name: \"Pro\", monthlyPriceMinor: \"12abc\" }) { plan { id } } }";
    rejects(
        &app,
        "inline BigInt with letters",
        inline,
        json!({}),
        "VALIDATION",
        None,
    )
    .await;
    let inline = "mutation { createPlan(input: { code: \"pro\", name: \"Pro\", monthlyPriceMinor: 99999999999999999999 }) { plan { id } } }";
    rejects(
        &app,
        "inline BigInt over 64 bits",
        inline,
        json!({}),
        "VALIDATION",
        None,
    )
    .await;
    assert_eq!(count_with(&app, "plans", ", allVersions: true").await, 0);

    // Publishing a version of a plan that does not exist.
    rejects(
        &app,
        "publish unknown plan",
        PUBLISH_PLAN,
        json!({ "i": with(&base, json!({ "code": "ghost" })) }),
        "NOT_FOUND",
        None,
    )
    .await;
    assert_eq!(count_with(&app, "plans", ", allVersions: true").await, 0);

    // The base input and every model are valid, and the bounds are inclusive.
    let full = with(
        &base,
        json!({
            "monthlyPriceMinor": "1000000000000000",
            "trialDays": 365,
            "description": "Line one\nLine two\twith a tab",
            "charges": [
                with(&charge, json!({ "blockPriceMinor": "0", "includedUnits": "0" })),
                { "metricCode": "api_calls", "timing": "PERIOD_END", "model": "UNIT", "unitPriceMinor": "0.05" },
            ],
            "limits": [{ "metricCode": "tokens", "value": "0" }],
        }),
    );
    app.as_admin(CREATE_PLAN, json!({ "i": full })).await.data();
    let before = snapshot(&app).await;

    // A bad new version leaves version 1 current and unchanged.
    let v2 = with(&base, json!({ "monthlyPriceMinor": "-5" }));
    rejects(
        &app,
        "bad new version",
        PUBLISH_PLAN,
        json!({ "i": v2 }),
        "VALIDATION",
        Some("monthlyPriceMinor"),
    )
    .await;
    let v2 = with(
        &base,
        json!({ "charges": [with(&charge, json!({ "metricCode": "ghost" }))] }),
    );
    rejects(
        &app,
        "new version on an unknown metric",
        PUBLISH_PLAN,
        json!({ "i": v2 }),
        "VALIDATION",
        Some("charges[0].metricCode"),
    )
    .await;
    assert_eq!(snapshot(&app).await, before);
    let r = app.as_admin(PUBLISH_PLAN, json!({ "i": base })).await;
    assert_eq!(r.data()["publishPlanVersion"]["plan"]["version"], 2);
}

/// PostgreSQL cannot store a NUL character in text, and SQLite would store it silently: the
/// API refuses it on both, like the control characters it refuses in names.
#[tokio::test]
async fn a_plan_description_with_a_nul_byte_is_refused() {
    let app = spawn_app().await;
    let input = with(&good_plan(), json!({ "description": "line\u{0}break" }));
    rejects(
        &app,
        "description with a NUL byte",
        CREATE_PLAN,
        json!({ "i": input }),
        "VALIDATION",
        Some("description"),
    )
    .await;
    assert_eq!(count_with(&app, "plans", ", allVersions: true").await, 0);
}

#[tokio::test]
async fn bad_coupon_input_is_a_validation_error_that_writes_nothing() {
    let app = spawn_app().await;
    app.as_admin(CREATE_PLAN, json!({ "i": good_plan() }))
        .await
        .data();
    let base = good_coupon();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "both percentOff and amountOffMinor",
            json!({ "amountOffMinor": "500" }),
            "percentOff",
        ),
        (
            "neither percentOff nor amountOffMinor",
            json!({ "percentOff": null }),
            "percentOff",
        ),
        ("percentOff 0", json!({ "percentOff": 0 }), "percentOff"),
        ("percentOff 101", json!({ "percentOff": 101 }), "percentOff"),
        (
            "negative percentOff",
            json!({ "percentOff": -20 }),
            "percentOff",
        ),
        ("percentOff 256", json!({ "percentOff": 256 }), "percentOff"),
        (
            "negative amountOffMinor",
            json!({ "percentOff": null, "amountOffMinor": "-500" }),
            "amountOffMinor",
        ),
        (
            "zero amountOffMinor",
            json!({ "percentOff": null, "amountOffMinor": "0" }),
            "amountOffMinor",
        ),
        (
            "huge amountOffMinor",
            json!({ "percentOff": null, "amountOffMinor": "9223372036854775807" }),
            "amountOffMinor",
        ),
        (
            "a currency with percentOff",
            json!({ "currency": "BRL" }),
            "currency",
        ),
        (
            "amount in an unknown currency",
            json!({ "percentOff": null, "amountOffMinor": "500", "currency": "XXX" }),
            "currency",
        ),
        (
            "REPEATING without durationPeriods",
            json!({ "duration": "REPEATING" }),
            "durationPeriods",
        ),
        (
            "REPEATING for 0 periods",
            json!({ "duration": "REPEATING", "durationPeriods": 0 }),
            "durationPeriods",
        ),
        (
            "REPEATING for 121 periods",
            json!({ "duration": "REPEATING", "durationPeriods": 121 }),
            "durationPeriods",
        ),
        (
            "REPEATING for -1 periods",
            json!({ "duration": "REPEATING", "durationPeriods": -1 }),
            "durationPeriods",
        ),
        (
            "ONCE with durationPeriods",
            json!({ "durationPeriods": 3 }),
            "durationPeriods",
        ),
        (
            "FOREVER with durationPeriods",
            json!({ "duration": "FOREVER", "durationPeriods": 3 }),
            "durationPeriods",
        ),
        (
            "validUntil before validFrom",
            json!({ "validFrom": "2030-01-02T00:00:00Z", "validUntil": "2030-01-01T00:00:00Z" }),
            "validUntil",
        ),
        (
            "validUntil equal to validFrom",
            json!({ "validFrom": "2030-01-01T00:00:00Z", "validUntil": "2030-01-01T00:00:00Z" }),
            "validUntil",
        ),
        (
            "maxRedemptions 0",
            json!({ "maxRedemptions": 0 }),
            "maxRedemptions",
        ),
        (
            "negative maxRedemptions",
            json!({ "maxRedemptions": -1 }),
            "maxRedemptions",
        ),
        (
            "restricted to an unknown plan",
            json!({ "planCodes": ["ghost"] }),
            "planCodes[0]",
        ),
        (
            "second plan code unknown",
            json!({ "planCodes": ["pro", "ghost"] }),
            "planCodes[1]",
        ),
        (
            "malformed plan code",
            json!({ "planCodes": ["Pro Plan"] }),
            "planCodes[0]",
        ),
        ("code too short", json!({ "code": "W2" }), "code"),
        (
            "code with punctuation",
            json!({ "code": "WELCOME!" }),
            "code",
        ),
        (
            "code over 32 characters",
            json!({ "code": "W".repeat(33) }),
            "code",
        ),
        ("SQL in the code", json!({ "code": "X' OR '1'='1" }), "code"),
        ("empty name", json!({ "name": "" }), "name"),
    ];
    for (what, overrides, field) in cases {
        rejects(
            &app,
            what,
            CREATE_COUPON,
            json!({ "i": with(&base, overrides) }),
            "VALIDATION",
            Some(field),
        )
        .await;
    }
    for (what, overrides) in [
        (
            "validFrom that is not a date",
            json!({ "validFrom": "next tuesday" }),
        ),
        ("unknown duration", json!({ "duration": "TWICE" })),
        ("percentOff as a string", json!({ "percentOff": "20%" })),
    ] {
        rejects(
            &app,
            what,
            CREATE_COUPON,
            json!({ "i": with(&base, overrides) }),
            "VALIDATION",
            None,
        )
        .await;
    }
    assert_eq!(app.count("coupons").await, 0);

    // Looking a coupon up by a malformed code.
    let r = app
        .as_admin(
            "query($c: String!) { coupon(code: $c) { id } }",
            json!({ "c": "' OR '1'='1" }),
        )
        .await;
    assert_eq!(
        refused(&r, "VALIDATION", "malformed coupon code")["extensions"]["field"],
        "code"
    );

    // The base input is valid, and so are the bounds.
    app.as_admin(CREATE_COUPON, json!({ "i": base }))
        .await
        .data();
    let edge = json!({ "code": "ALL_OFF", "name": "All off", "percentOff": 100, "duration": "REPEATING", "durationPeriods": 120, "maxRedemptions": 1, "planCodes": ["pro"] });
    app.as_admin(CREATE_COUPON, json!({ "i": edge }))
        .await
        .data();
    assert_eq!(app.count("coupons").await, 2);
}

#[tokio::test]
async fn bad_credit_pack_input_is_a_validation_error_that_writes_nothing() {
    let app = spawn_app().await;
    let base = good_pack();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("negative credits", json!({ "credits": "-1" }), "credits"),
        ("zero credits", json!({ "credits": "0" }), "credits"),
        (
            "zero credits with decimals",
            json!({ "credits": "0.000000" }),
            "credits",
        ),
        (
            "credits finer than a micro-credit",
            json!({ "credits": "1.0000001" }),
            "credits",
        ),
        (
            "credits that are not a number",
            json!({ "credits": "abc" }),
            "credits",
        ),
        ("empty credits", json!({ "credits": "" }), "credits"),
        (
            "credits in exponent form",
            json!({ "credits": "1e3" }),
            "credits",
        ),
        (
            "credits with a trailing dot",
            json!({ "credits": "1." }),
            "credits",
        ),
        (
            "credits with a comma",
            json!({ "credits": "1,5" }),
            "credits",
        ),
        (
            "too many credits",
            json!({ "credits": "99999999999999" }),
            "credits",
        ),
        (
            "negative price",
            json!({ "priceMinor": "-1" }),
            "priceMinor",
        ),
        (
            "huge price",
            json!({ "priceMinor": "9223372036854775807" }),
            "priceMinor",
        ),
        ("unknown currency", json!({ "currency": "XXX" }), "currency"),
        ("uppercase code", json!({ "code": "Pack100" }), "code"),
        ("empty name", json!({ "name": "" }), "name"),
    ];
    for (what, overrides, field) in cases {
        rejects(
            &app,
            what,
            CREATE_PACK,
            json!({ "i": with(&base, overrides) }),
            "VALIDATION",
            Some(field),
        )
        .await;
    }
    for (what, overrides) in [
        ("price with letters", json!({ "priceMinor": "12abc" })),
        (
            "price over 64 bits",
            json!({ "priceMinor": "99999999999999999999" }),
        ),
        ("credits as a number", json!({ "credits": 100 })),
    ] {
        rejects(
            &app,
            what,
            CREATE_PACK,
            json!({ "i": with(&base, overrides) }),
            "VALIDATION",
            None,
        )
        .await;
    }
    rejects(
        &app,
        "publish unknown pack",
        PUBLISH_PACK,
        json!({ "i": base }),
        "NOT_FOUND",
        None,
    )
    .await;
    assert_eq!(
        count_with(&app, "creditPacks", ", allVersions: true").await,
        0
    );

    app.as_admin(
        CREATE_PACK,
        json!({ "i": with(&base, json!({ "credits": "0.000001" })) }),
    )
    .await
    .data();
    let v2 = with(&base, json!({ "credits": "0" }));
    rejects(
        &app,
        "bad new pack version",
        PUBLISH_PACK,
        json!({ "i": v2 }),
        "VALIDATION",
        Some("credits"),
    )
    .await;
    assert_eq!(
        count_with(&app, "creditPacks", ", allVersions: true").await,
        1
    );
}

#[tokio::test]
async fn catalog_lookups_with_malformed_codes_never_fail() {
    let app = spawn_app().await;
    app.as_admin(CREATE_PLAN, json!({ "i": good_plan() }))
        .await
        .data();
    app.as_admin(CREATE_PACK, json!({ "i": good_pack() }))
        .await
        .data();
    let before = snapshot(&app).await;
    let mut lookups = Vec::new();
    for code in [
        "ghost",
        "' OR '1'='1",
        "pro'; DROP TABLE plans; --",
        "pro\u{0}",
        "%",
        "",
    ] {
        lookups.push((
            format!("plan(code: {code:?})"),
            "query($c: String!) { plan(code: $c) { id } }",
            code,
        ));
        lookups.push((
            format!("creditPack(code: {code:?})"),
            "query($c: String!) { creditPack(code: $c) { id } }",
            code,
        ));
    }
    // Nothing matches: each lookup is not found, or refused as malformed; never an internal
    // error. All are tried before failing, so the report lists every one that went wrong.
    let mut wrong = Vec::new();
    for (what, q, code) in &lookups {
        let r = app.as_admin(q, json!({ "c": code })).await;
        let ok = r.status < 500
            && r.body["data"].is_null()
            && matches!(r.code(), Some("NOT_FOUND" | "VALIDATION"));
        if !ok {
            wrong.push(format!("{what}: HTTP {} {}", r.status, r.body));
        }
    }
    let r = app
        .as_admin("{ plan(code: \"pro\", version: -1) { id } }", json!({}))
        .await;
    if !matches!(r.code(), Some("NOT_FOUND" | "VALIDATION")) || r.status >= 500 {
        wrong.push(format!("plan(version: -1): HTTP {} {}", r.status, r.body));
    }
    assert!(
        wrong.is_empty(),
        "lookups that failed:\n{}",
        wrong.join("\n")
    );
    assert_eq!(snapshot(&app).await, before);
}

// ---------------------------------------------------------------------------------------------
// Pagination
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn page_sizes_and_cursors_are_validated_on_every_connection() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let connections = [
        "tenants",
        "users",
        "apiKeys",
        "billableMetrics",
        "plans",
        "creditPacks",
        "coupons",
    ];
    for conn in connections {
        let q = format!(
            "query($f: Int, $a: String) {{ {conn}(first: $f, after: $a) {{ edges {{ cursor }} }} }}"
        );
        for first in [0, -1, 101, i32::MIN, i32::MAX] {
            let r = app.as_admin(&q, json!({ "f": first })).await;
            let err = refused(&r, "VALIDATION", &format!("{conn}(first: {first})"));
            assert_eq!(
                err["extensions"]["field"], "first",
                "{conn}(first: {first}): {}",
                r.body
            );
        }
        for after in [
            "garbage",
            "",
            "ten_",
            "ten_xyz",
            "ten_0190zzzz000000000000000000000000",
            "' OR '1'='1",
            "_",
            "a_b_c",
        ] {
            let r = app.as_admin(&q, json!({ "a": after })).await;
            let err = refused(&r, "VALIDATION", &format!("{conn}(after: {after:?})"));
            assert_eq!(
                err["extensions"]["field"], "after",
                "{conn}(after: {after:?}): {}",
                r.body
            );
        }
        // Out of the 32-bit range, or of the wrong type: refused by the schema.
        for first in [json!(4_294_967_296_i64), json!("ten"), json!(1.5)] {
            let r = app.as_admin(&q, json!({ "f": first })).await;
            refused(&r, "VALIDATION", &format!("{conn}(first: {first})"));
        }
        let r = app.as_admin(&q, json!({ "f": 100 })).await;
        r.data();
        let r = app.as_admin(&q, json!({ "f": 1 })).await;
        r.data();
    }
    let inline = app
        .as_admin("{ tenants(first: 101) { edges { cursor } } }", json!({}))
        .await;
    refused(&inline, "VALIDATION", "inline first: 101");
    assert_eq!(app.count("tenants").await, 1);
}

#[tokio::test]
async fn paging_returns_every_item_once_and_says_when_more_follow() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for slug in ["acme", "globex", "initech"] {
        created.push(app.create_tenant(slug).await);
    }
    let q = "query($a: String) { tenants(first: 2, after: $a) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }";
    let r = app.as_admin(q, json!({ "a": null })).await;
    let page = &r.data()["tenants"];
    let edges = page["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 2, "{page}");
    assert_eq!(page["pageInfo"]["hasNextPage"], true, "{page}");
    assert_eq!(page["pageInfo"]["endCursor"], edges[1]["cursor"], "{page}");
    let mut seen: Vec<String> = edges
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect();

    let cursor = edges[1]["cursor"].clone();
    let r = app.as_admin(q, json!({ "a": cursor })).await;
    let page = &r.data()["tenants"];
    let edges = page["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 1, "{page}");
    assert_eq!(page["pageInfo"]["hasNextPage"], false, "{page}");
    seen.extend(
        edges
            .iter()
            .map(|e| e["node"]["id"].as_str().expect("id").to_owned()),
    );
    assert_eq!(seen, created, "pages in creation order, each tenant once");

    // After the last item: an empty page with nothing more.
    let r = app.as_admin(q, json!({ "a": edges[0]["cursor"] })).await;
    let page = &r.data()["tenants"];
    assert_eq!(page["edges"], json!([]), "{page}");
    assert_eq!(page["pageInfo"]["hasNextPage"], false, "{page}");

    // Exactly a page's worth: no next page.
    let r = app
        .as_admin(
            "{ tenants(first: 3) { pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(r.data()["tenants"]["pageInfo"]["hasNextPage"], false);
}

// ---------------------------------------------------------------------------------------------
// Query limits and malformed requests
// ---------------------------------------------------------------------------------------------

/// An introspection query whose deepest field is at `depth` (at least 5).
fn introspection_of_depth(depth: usize) -> String {
    assert!(depth >= 5);
    let nest = depth - 5;
    format!(
        "{{ __schema {{ types {{ fields {{ type {{ {}name{} }} }} }} }} }}",
        "ofType { ".repeat(nest),
        " }".repeat(nest)
    )
}

/// The query GraphiQL sends to load the schema (graphql-js 16 `getIntrospectionQuery`, with
/// descriptions, `specifiedByURL`, `isRepeatable`, schema description and input deprecation).
const GRAPHIQL_INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    description
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives {
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}

fragment FullType on __Type {
  kind
  name
  description
  specifiedByURL
  fields(includeDeprecated: true) {
    name
    description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) {
    name
    description
    isDeprecated
    deprecationReason
  }
  possibleTypes { ...TypeRef }
}

fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
  isDeprecated
  deprecationReason
}

fragment TypeRef on __Type {
  kind
  name
  ofType {
    kind
    name
    ofType {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
              }
            }
          }
        }
      }
    }
  }
}
"#;

#[tokio::test]
async fn queries_nested_deeper_than_the_default_limit_are_refused() {
    let app = spawn_app().await;
    let default_depth = billing::config::Config::default().max_query_depth;
    assert_eq!(default_depth, 16, "the default documented in config.rs");
    let r = app
        .as_admin(&introspection_of_depth(default_depth), json!({}))
        .await;
    assert!(
        r.data()["__schema"]["types"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
    for depth in [default_depth + 1, default_depth + 10, 31] {
        let r = app
            .as_admin(&introspection_of_depth(depth), json!({}))
            .await;
        refused(&r, "VALIDATION", &format!("depth {depth}"));
    }
    // Deeper than the parser accepts at all.
    let r = app.as_admin(&introspection_of_depth(200), json!({})).await;
    refused(&r, "VALIDATION", "depth 200");
    let r = app
        .anonymous(&introspection_of_depth(default_depth + 1), json!({}))
        .await;
    refused(&r, "VALIDATION", "anonymous, too deep");

    // The query GraphiQL sends still works at the default depth.
    let r = app.anonymous(GRAPHIQL_INTROSPECTION, json!({})).await;
    let schema = &r.data()["__schema"];
    assert_eq!(schema["queryType"]["name"], "Query");
    assert_eq!(schema["mutationType"]["name"], "Mutation");
    let types = schema["types"].as_array().expect("types");
    for name in ["Tenant", "Plan", "BigInt", "PlanInput"] {
        assert!(
            types.iter().any(|t| t["name"] == name),
            "introspection lacks {name}"
        );
    }
}

#[tokio::test]
async fn a_configured_depth_limit_is_enforced_and_a_refused_mutation_writes_nothing() {
    let app = spawn_app_with(|c| c.max_query_depth = 4).await;
    app.as_admin("{ plans { edges { node { id } } } }", json!({}))
        .await
        .data();
    let r = app
        .as_admin(
            "{ plans { edges { node { monthlyPrice { formatted } } } } }",
            json!({}),
        )
        .await;
    refused(&r, "VALIDATION", "plans at depth 5 with a limit of 4");
    let r = app.as_admin(&introspection_of_depth(5), json!({})).await;
    refused(
        &r,
        "VALIDATION",
        "introspection at depth 5 with a limit of 4",
    );

    // The limit applies to mutations before they run.
    app.create_metric("tokens").await;
    let deep = "mutation($i: PlanInput!) { createPlan(input: $i) { plan { charges { blockPrice { currency } } } } }";
    let input = with(&good_plan(), json!({ "charges": [good_charge()] }));
    let r = app.as_admin(deep, json!({ "i": input.clone() })).await;
    refused(&r, "VALIDATION", "mutation too deep");
    assert_eq!(count_with(&app, "plans", ", allVersions: true").await, 0);
    app.as_admin(CREATE_PLAN, json!({ "i": input }))
        .await
        .data();
    assert_eq!(count_with(&app, "plans", ", allVersions: true").await, 1);
}

#[tokio::test]
async fn overly_complex_queries_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    // Each alias costs 4 (plans, edges, node, id); 600 of them are over the default 2000.
    let aliases: String = (0..600)
        .map(|n| format!("p{n}: plans {{ edges {{ node {{ id }} }} }} "))
        .collect();
    let r = app.as_admin(&format!("{{ {aliases} }}"), json!({})).await;
    refused(&r, "VALIDATION", "600 aliased plans");
    let r = app.anonymous(&format!("{{ {aliases} }}"), json!({})).await;
    refused(&r, "VALIDATION", "600 aliased plans, anonymous");

    // A batch of aliased mutations over the limit creates nothing, not even the first ones.
    let mutations: String = (0..500)
        .map(|n| {
            format!(
                "t{n}: createTenant(input: {{ name: \"T{n}\", slug: \"tenant-{n}\", billingEmail: \"b@t{n}.example.com\" }}) {{ tenant {{ id name slug }} }} "
            )
        })
        .collect();
    let r = app
        .as_admin(&format!("mutation {{ {mutations} }}"), json!({}))
        .await;
    refused(&r, "VALIDATION", "500 aliased createTenant");
    assert_eq!(app.count("tenants").await, 0);

    // A configured lower limit is enforced too. A list costs its page size times its items:
    // `plans(first: 1) { edges { node { id } } }` costs 1 × 3.
    let app = spawn_app_with(|c| c.max_query_complexity = 10).await;
    let r = app.as_admin("{ a: plans(first: 1) { edges { node { id } } } b: plans(first: 1) { edges { node { id } } } c: plans(first: 1) { edges { node { id } } } d: plans(first: 1) { edges { node { id } } } }", json!({})).await;
    refused(&r, "VALIDATION", "complexity 12 with a limit of 10");
    app.as_admin(
        "{ a: plans(first: 1) { edges { node { id } } } b: plans(first: 1) { edges { node { id } } } c: plans(first: 1) { edges { node { id } } } }",
        json!({}),
    )
    .await
    .data();
    let r = app
        .as_admin("{ plans(first: 4) { edges { node { id } } } }", json!({}))
        .await;
    refused(
        &r,
        "VALIDATION",
        "one page of 4 at 3 each, with a limit of 10",
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413_and_writes_nothing() {
    let app = spawn_app().await;
    let limit = billing::config::Config::default().body_limit_bytes;
    let padding = "x".repeat(limit + 1024);
    let body = json!({
        "query": CREATE_TENANT,
        "variables": { "i": { "name": "Big", "slug": "big", "billingEmail": "b@big.example.com", "locale": "pt-BR" }, "pad": padding },
    });
    let (status, body) = post_raw(&app, body.to_string()).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "VALIDATION",
        "{body}"
    );
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(app.count("tenants").await, 0);

    // A configured limit: just under it is read, just over it is refused.
    let app = spawn_app_with(|c| c.body_limit_bytes = 4096).await;
    let small = json!({ "query": CREATE_TENANT, "variables": { "i": { "name": "Small", "slug": "small", "billingEmail": "b@small.example.com" } } });
    let mut under = small.clone();
    let room = 4096 - under.to_string().len() - r#","pad":"""#.len();
    under["variables"]["pad"] = json!("y".repeat(room));
    assert_eq!(under.to_string().len(), 4096);
    let (status, body) = post_raw(&app, under.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    let mut over = small;
    over["variables"]["i"]["slug"] = json!("large");
    over["variables"]["pad"] = json!("y".repeat(room + 1));
    let (status, body) = post_raw(&app, over.to_string()).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "VALIDATION",
        "{body}"
    );
    assert_eq!(app.count("tenants").await, 1);
}

#[tokio::test]
async fn bodies_that_are_not_graphql_requests_are_refused_with_400() {
    let app = spawn_app().await;
    for (what, body) in [
        ("plain text", "this is not json".to_owned()),
        ("empty body", String::new()),
        (
            "truncated JSON",
            r#"{"query": "{ me { role } }""#.to_owned(),
        ),
        ("query that is a number", r#"{"query": 42}"#.to_owned()),
        ("JSON array", "[1, 2, 3]".to_owned()),
        ("JSON string", r#""{ me { role } }""#.to_owned()),
        (
            "variables that are a string",
            r#"{"query": "{ me { role } }", "variables": "x"}"#.to_owned(),
        ),
    ] {
        let (status, body) = post_raw(&app, body).await;
        assert_eq!(status, 400, "{what}: {body}");
        let errors = body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: no errors: {body}"));
        assert_eq!(
            errors[0]["extensions"]["code"], "VALIDATION",
            "{what}: {body}"
        );
    }
    // A JSON object without a query is not run; whatever the status, it is a VALIDATION error.
    let (status, body) = post_raw(&app, r#"{"variables": {}}"#).await;
    assert!(status < 500, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "VALIDATION",
        "{body}"
    );
    // Raw bytes that are not UTF-8 at all.
    let (status, body) = post_raw(&app, b"{\"query\": \"\xff\"}".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "VALIDATION",
        "{body}"
    );
    assert_eq!(app.count("tenants").await, 0);
}

#[tokio::test]
async fn broken_and_unknown_queries_are_validation_errors() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let cases = [
        ("unclosed selection", "{ tenants { edges { cursor } "),
        (
            "missing value",
            "mutation { createTenant(input: { name: }) { tenant { id } } }",
        ),
        ("stray characters", "{ me { role } } }}}"),
        ("empty query", ""),
        ("only a comment", "# nothing here"),
        (
            "unknown root field",
            "{ noSuchRootField { edges { cursor } } }",
        ),
        (
            "unknown nested field",
            "{ tenants { edges { node { password } } } }",
        ),
        (
            "unknown argument",
            "{ tenants(limit: 5) { edges { cursor } } }",
        ),
        (
            "argument of the wrong type",
            "{ tenants(first: \"two\") { edges { cursor } } }",
        ),
        ("missing required argument", "{ tenant { id } }"),
        (
            "unknown enum value",
            "{ tenants(status: DELETED) { edges { cursor } } }",
        ),
        ("selection on a scalar", "{ me { role { name } } }"),
        ("object without a selection", "{ tenants }"),
        ("undeclared variable", "{ tenant(id: $id) { id } }"),
        ("unknown fragment", "{ ...Nope }"),
        ("unknown directive", "{ me @cached { role } }"),
        (
            "subscription",
            "subscription { tenants { edges { cursor } } }",
        ),
        (
            "mutation with an unknown field",
            "mutation { deleteEverything { ok } }",
        ),
        (
            "unknown input field",
            "mutation { createTenant(input: { name: \"A\", slug: \"abc\", billingEmail: \"a@b.co\", admin: true }) { tenant { id } } }",
        ),
    ];
    for (what, query) in cases {
        let r = app.as_admin(query, json!({})).await;
        refused(&r, "VALIDATION", what);
    }
    // An operation name that is not in the document, and two operations without a name.
    let body = json!({ "query": "query A { me { role } }", "operationName": "B" }).to_string();
    let (status, body) = post_raw(&app, body).await;
    assert!(status < 500, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "VALIDATION",
        "{body}"
    );
    let body = json!({ "query": "query A { me { role } } query B { me { role } }" }).to_string();
    let (status, body) = post_raw(&app, body).await;
    assert!(status < 500, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "VALIDATION",
        "{body}"
    );
    // A variable of the wrong type.
    let r = app
        .as_admin(
            "query($f: Int) { tenants(first: $f) { edges { cursor } } }",
            json!({ "f": "two" }),
        )
        .await;
    refused(&r, "VALIDATION", "variable of the wrong type");
    assert_eq!(app.count("tenants").await, 1);
}
