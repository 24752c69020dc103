use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn health_answers_and_ready_checks_the_database_and_cache() {
    let app = spawn_app().await;
    let r = app.get("/health").await;
    assert_eq!(r.status(), 200);
    let r = app.get("/ready").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["cache"]["status"], "ok");
    let expected = if std::env::var("BILLING_TEST_REDIS_URL").is_ok() {
        "redis"
    } else {
        "memory"
    };
    assert_eq!(body["cache"]["backend"], expected);
}

#[tokio::test]
async fn ready_reports_redis_degraded_with_a_200_when_it_goes_away() {
    // A private redis-server, so that stopping it disturbs nothing else.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let mut redis = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed (see .ci/run)");
    let url = format!("redis://127.0.0.1:{port}");
    let mut app = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection())
            .is_ok()
        {
            app = Some(spawn_app_with(|c| c.redis_url = Some(url.clone())).await);
            break;
        }
    }
    let app = app.expect("private redis started");
    assert_eq!(app.get("/ready").await.status(), 200);
    redis.kill().expect("stop redis");
    redis.wait().expect("reap redis");
    // Billing goes on without Redis (README "When Redis fails"): ready, but degraded.
    let r = app.get("/ready").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["cache"]["status"], "degraded");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["database"], "ok");
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test]
async fn the_app_starts_degraded_when_the_configured_redis_is_unreachable() {
    let built = billing::startup::App::build(billing::config::Config {
        listen: "127.0.0.1:0".into(),
        database_url: format!(
            "sqlite://{}/r.db?mode=rwc",
            std::env::temp_dir()
                .join(format!("billing-r-{}", uuid::Uuid::new_v4().simple()))
                .display()
        ),
        redis_url: Some("redis://127.0.0.1:1".into()),
        ..billing::config::Config::default()
    })
    .await;
    // Start-up does not wait for Redis (README "When Redis fails").
    let app = built.expect("starts without Redis");
    assert_eq!(
        app.state
            .cache
            .health(std::time::Duration::from_secs(1))
            .await,
        billing::cache::CacheHealth::Degraded
    );
}

#[tokio::test]
async fn metrics_count_graphql_requests_by_root_field_and_outcome() {
    let app = spawn_app().await;
    app.as_admin("{ me { role } }", json!({})).await.data();
    app.anonymous("{ tenants { edges { cursor } } }", json!({}))
        .await
        .expect_code("UNAUTHENTICATED");
    let body = app.get("/metrics").await.text().await.expect("text");
    assert!(
        body.contains(r#"billing_graphql_requests_total{operation="me",outcome="ok"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(
            r#"billing_graphql_requests_total{operation="tenants",outcome="unauthenticated"} 1"#
        ),
        "{body}"
    );
    assert!(body.contains(
        r#"billing_graphql_request_duration_seconds_count{operation="me",outcome="ok"} 1"#
    ));
    assert!(
        body.contains(
            r#"billing_api_requests_total{endpoint="/graphql",method="POST",status="200"} 2"#
        ),
        "{body}"
    );
}

#[tokio::test]
async fn metrics_never_take_label_values_from_client_text() {
    let app = spawn_app().await;
    let r = app.as_admin("query Evil { notAField }", json!({})).await;
    r.expect_code("VALIDATION");
    let body = app.get("/metrics").await.text().await.expect("text");
    assert!(!body.contains("notAField") && !body.contains("Evil"));
    assert!(
        body.contains(r#"operation="invalid",outcome="validation""#),
        "{body}"
    );
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app = spawn_app_with(|c| {
        c.cors_origins = "https://app.example.com, https://admin.example.com".into()
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight("https://admin.example.com")
        .await
        .expect("preflight");
    assert_eq!(
        ok.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://admin.example.com")
    );
    let denied = preflight("https://evil.example.com")
        .await
        .expect("preflight");
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn graphiql_is_served_in_development_and_can_be_switched_off() {
    // A browser's GET without a query; other GETs run queries (see graphql_over_http.rs).
    let browse = |app: &TestApp| {
        app.client
            .get(format!("{}/graphql", app.address))
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
    };
    let app = spawn_app().await;
    let r = browse(&app).await.expect("GET");
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .expect("html")
            .to_lowercase()
            .contains("graphiql")
    );
    let off = spawn_app_with(|c| c.graphiql = Some(false)).await;
    assert_eq!(browse(&off).await.expect("GET").status(), 404);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let r = app.get("/health").await;
    let id = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert!(id.is_some_and(|v| v.len() >= 32));
}

#[tokio::test]
async fn a_request_that_does_not_finish_in_time_gets_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|c| c.request_timeout_seconds = 1).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    // Promise a body and never send it: the server must give up, not wait forever.
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"query\":"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(30), stream.read(&mut buf))
        .await
        .expect("the server answered before the client gave up")
        .expect("read");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn metrics_show_subscriptions_by_status_and_plan_and_the_monthly_revenue() {
    let app = spawn_app_at("2026-03-01T00:00:00Z").await;
    app.create_plan("starter", 2_900, Some(29_000), 0).await;
    app.create_plan("pro", 9_900, None, 14).await;
    for (slug, plan, interval) in [
        ("month-1", "starter", "MONTHLY"),
        ("year-1", "starter", "YEARLY"),
        ("trial-1", "pro", "MONTHLY"),
    ] {
        let t = app.create_tenant(slug).await;
        let owner = app.tenant_token(&t, billing::domain::Role::Owner);
        app.subscribe(
            &owner,
            serde_json::json!({ "planCode": plan, "interval": interval }),
        )
        .await
        .data();
    }
    app.run_jobs().await;

    let body = app.get("/metrics").await.text().await.expect("text");
    assert!(
        body.contains(r#"billing_subscriptions{plan_id="starter",status="active"} 2"#),
        "{body}"
    );
    assert!(
        body.contains(r#"billing_subscriptions{plan_id="pro",status="trialing"} 1"#),
        "{body}"
    );
    // 2900 + 29000 / 12 = 2900 + 2416.67 -> 5317 centavos, exported in reais (base units; the
    // seed's `billing_subscriptions_total` is a recording rule in grafana/); the trial counts
    // nothing.
    assert!(
        body.contains(r#"billing_monthly_revenue{currency="BRL"} 53.17"#),
        "{body}"
    );
}
