use billing::auth::Claims;
use billing::domain::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sea_orm::EntityTrait;
use serde_json::json;

use crate::helpers::*;

const PUBLIC_PEM: &str = include_str!("../fixtures/rs256-test-public.pem");
const PRIVATE_PEM: &str = include_str!("../fixtures/rs256-test-private.pem");
const CREATE_KEY: &str = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id prefix tenantId revokedAt } } }";

fn claims(app: &TestApp, role: &str, tenant: Option<&str>) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: "idp-user-1".into(),
        role: role.into(),
        tenant_id: tenant.map(str::to_owned),
        exp: now + 600,
        iat: now,
        iss: app.state.config.jwt_issuer.clone(),
        aud: app.state.config.jwt_audience.clone(),
    }
}

fn rs256(claims: &Claims) -> String {
    let key = EncodingKey::from_rsa_pem(PRIVATE_PEM.as_bytes()).expect("test private key");
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).expect("sign")
}

#[tokio::test]
async fn an_owner_creates_an_api_key_that_is_shown_once_and_stored_hashed() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("acme").await;
    let owner = app.tenant_token(&tenant, Role::Owner);
    let r = app
        .as_token(&owner, CREATE_KEY, json!({ "i": { "name": "backend" } }))
        .await;
    let created = r.data()["createApiKey"].clone();
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("bk_") && secret.len() == 43, "{secret}");
    assert_eq!(created["apiKey"]["tenantId"], tenant.as_str());
    assert!(secret.starts_with(created["apiKey"]["prefix"].as_str().expect("prefix")));

    // The key works, as a service credential of its tenant.
    let r = app
        .as_token(&secret, "{ me { role tenantId } }", json!({}))
        .await;
    assert_eq!(r.data()["me"]["role"], "SERVICE");
    assert_eq!(r.data()["me"]["tenantId"], tenant.as_str());

    // Only a hash is stored.
    let rows = entity::api_keys::Entity::find()
        .all(&app.state.db)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].key_hash, secret);
    assert!(!rows[0].key_hash.contains(&secret[3..]));
    assert_eq!(rows[0].key_hash.len(), 64);
}

#[tokio::test]
async fn a_revoked_api_key_stops_working_at_once() {
    let app = spawn_app().await;
    let r = app
        .as_admin(CREATE_KEY, json!({ "i": { "name": "operator backend" } }))
        .await;
    let secret = r.data()["createApiKey"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let id = r.data()["createApiKey"]["apiKey"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert!(r.data()["createApiKey"]["apiKey"]["tenantId"].is_null());

    // An operator key acts across tenants (and is now in the cache).
    let r = app
        .as_token(
            &secret,
            "{ me { role tenantId } tenants { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(r.data()["me"]["role"], "SERVICE");

    let r = app
        .as_admin(
            "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(r.data()["revokeApiKey"]["apiKey"]["revokedAt"].is_string());
    app.as_token(&secret, "{ me { role } }", json!({}))
        .await
        .expect_code("UNAUTHENTICATED");
}

#[tokio::test]
async fn rs256_tokens_from_an_identity_provider_are_accepted_when_a_public_key_is_configured() {
    let app = spawn_app_with(|c| c.jwt_rs256_public_key = Some(PUBLIC_PEM.into())).await;
    let tenant = app.create_tenant("acme").await;
    let token = rs256(&claims(&app, "billing", Some(&tenant)));
    let r = app
        .as_token(&token, "{ me { role tenantId subject } }", json!({}))
        .await;
    assert_eq!(r.data()["me"]["role"], "BILLING");
    assert_eq!(r.data()["me"]["tenantId"], tenant.as_str());
    assert_eq!(r.data()["me"]["subject"], "idp-user-1");
}

#[tokio::test]
async fn rs256_tokens_are_refused_without_a_configured_public_key() {
    let app = spawn_app().await;
    let token = rs256(&claims(&app, "admin", None));
    app.as_token(&token, "{ me { role } }", json!({}))
        .await
        .expect_code("UNAUTHENTICATED");
}

#[tokio::test]
async fn a_token_signed_with_the_public_key_as_an_hmac_secret_is_refused() {
    // The classic algorithm-confusion attack: HS256 keyed with the RSA public key.
    let app = spawn_app_with(|c| c.jwt_rs256_public_key = Some(PUBLIC_PEM.into())).await;
    let key = EncodingKey::from_secret(PUBLIC_PEM.as_bytes());
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(&app, "admin", None),
        &key,
    )
    .expect("sign");
    app.as_token(&token, "{ me { role } }", json!({}))
        .await
        .expect_code("UNAUTHENTICATED");
}

#[tokio::test]
async fn a_late_cache_fill_cannot_bring_a_revoked_key_back() {
    // A request that read the key as active just before the revocation fills the cache just
    // after it (or a Redis comes back with the old entry). The entry carries the cache epoch
    // read before the revocation, which the revocation bumped: it must never be served.
    let app = spawn_app().await;
    let (id, secret) = app.create_api_key(&app.admin_token, None, "racer").await;
    app.as_admin(
        "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } } }",
        json!({ "id": id }),
    )
    .await
    .data();

    use sha2::Digest;
    let cache_key = format!(
        "apikey:{}",
        hex::encode(sha2::Sha256::digest(secret.as_bytes()))
    );
    let stale = json!({ "epoch": 0, "value": { "id": id, "tenant": null } }).to_string();
    app.state
        .cache
        .set(&cache_key, &stale, std::time::Duration::from_secs(60))
        .await
        .expect("cache answers");
    assert_eq!(
        app.state
            .cache
            .get(&cache_key)
            .await
            .expect("cache answers"),
        Some(stale),
        "the stale entry is in the cache"
    );
    app.as_token(&secret, "{ me { role } }", json!({}))
        .await
        .expect_code("UNAUTHENTICATED");
}
