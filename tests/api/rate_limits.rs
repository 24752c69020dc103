//! Rate limits per API key, per user and per IP without a credential (GCRA; in Redis, shared
//! by every replica; in-process without Redis), with refusals that say how long to wait.
use serde_json::{Value, json};

use crate::helpers::*;

const ME: &str = "{ me { role } }";

/// Sends `{ me }` and returns the status, headers and body.
async fn call(app: &TestApp, bearer: Option<&str>) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": ME }));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let r = req.send().await.expect("answer");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.expect("json"))
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ASCII")
}

/// One request a minute, three at once: a fourth waits about a minute.
fn slow(c: &mut billing::config::Config) {
    c.rate_limit_per_minute = 1;
    c.rate_limit_burst = 3;
}

#[tokio::test]
async fn a_burst_over_the_limit_is_refused_with_the_wait_until_the_next_request_fits() {
    let app = spawn_app_with(slow).await;
    let (tenant, owner) = app.tenant_with_owner("limited").await;
    let (_, key) = app.create_api_key(&owner, Some(&tenant), "k").await;
    for remaining in [2, 1, 0] {
        let (status, h, body) = call(&app, Some(&key)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["me"]["role"], "SERVICE");
        assert_eq!(header(&h, "ratelimit-policy"), "\"default\";q=3;w=180");
        let now = header(&h, "ratelimit");
        assert!(
            now.starts_with(&format!("\"default\";r={remaining};t=")),
            "{now}"
        );
    }
    let (status, h, body) = call(&app, Some(&key)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    let wait = body["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .expect("retryAfterSeconds");
    // The next request fits one interval (60 s) after the first; the three requests before
    // took a little of it. 50 s leaves a noisy machine ten seconds.
    assert!((50..=60).contains(&wait), "wait {wait}");
    assert_eq!(header(&h, "retry-after"), wait.to_string());
    assert!(header(&h, "ratelimit").starts_with("\"default\";r=0;"));
    assert!(body.get("data").is_none(), "nothing ran: {body}");
}

#[tokio::test]
async fn keys_users_and_anonymous_callers_each_have_their_own_budget() {
    let app = spawn_app_with(slow).await;
    let (tenant, owner) = app.tenant_with_owner("apart").await;
    let (_, key) = app.create_api_key(&owner, Some(&tenant), "k").await;
    for _ in 0..3 {
        assert_eq!(call(&app, None).await.0, 200);
    }
    let (status, _, body) = call(&app, None).await;
    assert_eq!(status, 429, "the IP's budget is spent: {body}");
    // A bad credential counts against the IP, not a budget of its own.
    let (status, _, _) = call(&app, Some("bk_not_a_key")).await;
    assert_eq!(status, 429);
    for _ in 0..3 {
        assert_eq!(call(&app, Some(&key)).await.0, 200, "the key has its own");
    }
    assert_eq!(call(&app, Some(&key)).await.0, 429);
    let user = mint(
        &app.state,
        "user-with-a-budget",
        billing::domain::Role::Member,
        Some(&tenant),
    );
    for _ in 0..3 {
        assert_eq!(call(&app, Some(&user)).await.0, 200, "the user too");
    }
    assert_eq!(call(&app, Some(&user)).await.0, 429);
}

#[tokio::test]
async fn health_ready_metrics_and_the_stripe_webhook_are_exempt() {
    let app = spawn_app_with(|c| {
        c.rate_limit_per_minute = 1;
        c.rate_limit_burst = 1;
    })
    .await;
    assert_eq!(call(&app, None).await.0, 200);
    assert_eq!(call(&app, None).await.0, 429);
    for _ in 0..5 {
        for path in ["/health", "/ready", "/metrics"] {
            let r = app.get(path).await;
            assert_eq!(r.status(), 200, "{path}");
            assert!(r.headers().get("ratelimit").is_none(), "{path}");
        }
        let r = app
            .client
            .post(format!("{}/webhooks/stripe", app.address))
            .body("{}")
            .send()
            .await
            .expect("answer");
        assert_ne!(r.status(), 429, "the webhook is not limited");
    }
}

#[tokio::test]
async fn two_replicas_share_one_budget_through_redis() {
    let redis = PrivateRedis::start(false).await;
    let url = redis.url();
    let a = spawn_app_with(|c| {
        slow(c);
        c.redis_url = Some(url);
    })
    .await;
    let b = a.restarted().await;
    let (tenant, owner) = a.tenant_with_owner("shared").await;
    let (_, key) = a.create_api_key(&owner, Some(&tenant), "k").await;
    assert_eq!(call(&a, Some(&key)).await.0, 200);
    assert_eq!(call(&b, Some(&key)).await.0, 200);
    assert_eq!(call(&a, Some(&key)).await.0, 200);
    // Each replica has seen at most two requests, but the budget of three is spent.
    let (status, _, body) = call(&b, Some(&key)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(call(&a, Some(&key)).await.0, 429);
    assert!(
        !redis.keys("*rate:key:*").await.is_empty(),
        "the budget lives in Redis"
    );
}

#[tokio::test]
async fn a_plan_can_override_the_default_rate() {
    let app = spawn_app_with(|c| {
        slow(c);
        c.rate_limit_plans = "pro=2".into();
    })
    .await;
    app.create_plan("pro", 1000, None, 0).await;
    let pro = app.subscribed("pro-tenant", "pro").await;
    let (_, key) = app.create_api_key(&pro.owner, Some(&pro.tenant), "k").await;
    // Twice the default rate: the burst doubles too (6 at once), the window stays 180 s.
    let (status, h, _) = call(&app, Some(&key)).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "ratelimit-policy"), "\"default\";q=6;w=180");
    for _ in 0..5 {
        assert_eq!(call(&app, Some(&key)).await.0, 200);
    }
    assert_eq!(call(&app, Some(&key)).await.0, 429);
    // A tenant without the plan keeps the default.
    let (other, owner) = app.tenant_with_owner("basic").await;
    let (_, basic) = app.create_api_key(&owner, Some(&other), "k").await;
    let (_, h, _) = call(&app, Some(&basic)).await;
    assert_eq!(header(&h, "ratelimit-policy"), "\"default\";q=3;w=180");
}
