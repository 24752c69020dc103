//! Redis failure never stops billing: a private `redis-server` is killed mid-run and started
//! again, without persistence and with an append-only file. Two replicas share the database and
//! that Redis. No request fails for lack of Redis, `/ready` reports the cache degraded with a
//! 200, login throttling keeps counting in-process, a key revoked while Redis is down is refused
//! on every replica, and stays refused when Redis comes back with its old entries.
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

const ME: &str = "{ me { role tenantId } }";
const REVOKE: &str = "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } } }";
const LOGIN: &str = "mutation($i: LoginInput!) { login(input: $i) { token } }";
/// A hang detector, not a speed test: before the breaker each such request took about 18 s.
/// Anything under this bound means the request did not wait on the dead Redis.
const HANG: Duration = Duration::from_secs(2);

/// Two replicas on one database and on the private Redis.
async fn replicas(redis: &PrivateRedis) -> (TestApp, TestApp) {
    let url = redis.url();
    let a = spawn_app_with(|c| {
        c.redis_url = Some(url);
        c.cache_prefix = format!("fault:{}:", uuid::Uuid::new_v4().simple());
        c.redis_breaker_open_ms = 200;
        c.login_max_failures = 3;
    })
    .await;
    let b = a.restarted().await;
    (a, b)
}

async fn ready(app: &TestApp) -> (u16, Value) {
    let r = app.get("/ready").await;
    let status = r.status().as_u16();
    (status, r.json().await.expect("json"))
}

/// Waits until `app` reports Redis back (it reconnects by itself).
async fn until_redis_is_back(app: &TestApp) {
    for _ in 0..100 {
        if ready(app).await.1["cache"]["status"] == "ok" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the app never saw Redis come back");
}

/// `query` with `token`, answered without error and without hanging.
async fn quick(app: &TestApp, token: &str, what: &str) -> Value {
    let t = Instant::now();
    let r = app.as_token(token, ME, json!({})).await;
    let took = t.elapsed();
    assert!(took < HANG, "{what}: took {took:?}, it waited on Redis");
    r.data()["me"].clone()
}

async fn run(aof: bool) {
    let mut redis = PrivateRedis::start(aof).await;
    let (a, b) = replicas(&redis).await;
    let (tenant, owner) = a.tenant_with_owner("redis-down").await;
    let (id, secret) = a.create_api_key(&owner, Some(&tenant), "doomed").await;
    let (_, kept) = a.create_api_key(&owner, Some(&tenant), "kept").await;
    a.create_user(Some(&tenant), "ana@redis.test", "MEMBER", "right password")
        .await;
    // Both replicas cache the keys, in-process and in Redis.
    for app in [&a, &b] {
        for key in [&secret, &kept] {
            assert_eq!(quick(app, key, "warm-up").await["role"], "SERVICE");
        }
    }
    let cached = redis.keys("fault:*apikey:*").await;
    assert_eq!(cached.len(), 2, "both keys are cached in Redis: {cached:?}");

    redis.kill();
    for app in [&a, &b] {
        let (status, body) = ready(app).await;
        assert_eq!(status, 200, "billing goes on without Redis: {body}");
        assert_eq!(body["cache"]["status"], "degraded", "{body}");
        assert_eq!(body["status"], "degraded", "{body}");
    }
    for i in 0..20 {
        for app in [&a, &b] {
            let me = quick(app, &kept, &format!("request {i} while Redis is down")).await;
            assert_eq!(me["tenantId"], tenant.as_str());
        }
    }
    // The revocation is committed, so it succeeds, although Redis cannot hear of it.
    let r = a.as_token(&owner, REVOKE, json!({ "id": id })).await;
    assert!(r.data()["revokeApiKey"]["apiKey"]["revokedAt"].is_string());
    for app in [&a, &b] {
        app.as_token(&secret, ME, json!({}))
            .await
            .expect_code("UNAUTHENTICATED");
    }
    // Login throttling counts in-process: three failures, then even the right password waits.
    let login = |password: &'static str| json!({ "i": { "email": "ana@redis.test", "password": password } });
    for _ in 0..3 {
        a.anonymous(LOGIN, login("wrong"))
            .await
            .expect_code("UNAUTHENTICATED");
    }
    a.anonymous(LOGIN, login("right password"))
        .await
        .expect_code("RATE_LIMITED");

    redis.start_again().await;
    if aof {
        // Redis came back with the entry of the revoked key, written before the revocation.
        let back = redis.keys("fault:*apikey:*").await;
        assert_eq!(
            back.len(),
            2,
            "the AOF brought the old entries back: {back:?}"
        );
    }
    for app in [&a, &b] {
        until_redis_is_back(app).await;
        let (status, body) = ready(app).await;
        assert_eq!((status, &body["cache"]["status"]), (200, &json!("ok")));
    }
    for app in [&a, &b] {
        for _ in 0..3 {
            app.as_token(&secret, ME, json!({}))
                .await
                .expect_code("UNAUTHENTICATED");
            assert_eq!(
                quick(app, &kept, "after the restart").await["role"],
                "SERVICE"
            );
        }
    }
    // The shared cache is in use again: a new key's entry reaches Redis.
    let (_, fresh) = a.create_api_key(&owner, Some(&tenant), "fresh").await;
    use sha2::Digest;
    let pattern = format!(
        "fault:*apikey:{}",
        hex::encode(sha2::Sha256::digest(fresh.as_bytes()))
    );
    let mut stored = false;
    for _ in 0..50 {
        quick(&a, &fresh, "a new key").await;
        if !redis.keys(&pattern).await.is_empty() {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stored, "Redis serves the cache again");
}

#[tokio::test]
async fn fault_redis_killed_without_persistence_stops_no_request_and_recovers() {
    run(false).await;
}

#[tokio::test]
async fn fault_redis_back_from_its_append_only_file_never_revives_a_revoked_key() {
    run(true).await;
}

#[tokio::test]
async fn fault_redis_absent_at_start_up_the_app_starts_degraded_and_joins_it_later() {
    let mut redis = PrivateRedis::start(false).await;
    redis.kill();
    let url = redis.url();
    let app = spawn_app_with(|c| {
        c.redis_url = Some(url);
        c.redis_breaker_open_ms = 200;
    })
    .await;
    let (status, body) = ready(&app).await;
    assert_eq!(
        (status, &body["cache"]["status"]),
        (200, &json!("degraded"))
    );
    let (tenant, owner) = app.tenant_with_owner("late-redis").await;
    let (_, key) = app.create_api_key(&owner, Some(&tenant), "k").await;
    assert_eq!(quick(&app, &key, "no Redis yet").await["role"], "SERVICE");
    redis.start_again().await;
    until_redis_is_back(&app).await;
    assert_eq!(quick(&app, &key, "Redis joined").await["role"], "SERVICE");
}
