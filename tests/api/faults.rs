//! Faults from outside, as a client meets them: the database cut away (PostgreSQL, through a
//! proxy the test cuts), slow or idle connections, too many connections, and HTTP errors,
//! which all answer with a JSON error and a code.
use std::time::{Duration, Instant};

use billing::config::Config;
use billing::domain::Role;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Generous bounds: the machines are shared and noisy. The settings under test are 2 s.
const UNAVAILABLE_WITHIN: Duration = Duration::from_secs(8);
const READY_WITHIN: Duration = Duration::from_millis(3500);

#[tokio::test]
async fn a_cut_database_gives_fast_unavailable_errors_and_ready_503_then_recovers() {
    outage("cut", TcpProxy::cut).await;
}

/// A database that stops answering without closing anything: only the timeouts end the wait.
#[tokio::test]
async fn a_stalled_database_gives_unavailable_within_the_acquire_timeout_then_recovers() {
    outage("stalled", TcpProxy::stall).await;
}

/// Breaks the database connection with `break_it`, checks that an API-key request, a JWT
/// request and `/ready` fail fast with `UNAVAILABLE`, then that everything recovers.
async fn outage(kind: &str, break_it: fn(&TcpProxy)) {
    if backend() == "sqlite" {
        eprintln!("skipped on SQLite: the database is a file, there is no connection to break");
        return;
    }
    let url = std::env::var("BILLING_TEST_DATABASE_URL").expect("PostgreSQL URL");
    let proxy = TcpProxy::start(target_of(&url).await).await;
    let app = spawn_app_with(|c| {
        c.database_url = proxy.url_for(&c.database_url);
        c.database_acquire_timeout_ms = Config::default().database_acquire_timeout_ms;
    })
    .await;
    let tenant = app.create_tenant("cut").await;
    let owner = app.tenant_token(&tenant, Role::Owner);
    // Never used before the cut, so it is not in the cache: authenticating it needs the database.
    let (_, api_key) = app.create_api_key(&owner, None, "backend").await;
    let query = "{ me { role tenant { slug } } }";
    app.as_token(&owner, query, json!({})).await.data();
    assert_eq!(app.get("/ready").await.status(), 200);

    break_it(&proxy);
    let started = Instant::now();
    let r = app.as_token(&api_key, query, json!({})).await;
    let api_key_took = started.elapsed();
    r.expect_code("UNAVAILABLE");
    assert_eq!(r.status, 200);

    let started = Instant::now();
    let r = app.as_token(&owner, query, json!({})).await;
    let jwt_took = started.elapsed();
    r.expect_code("UNAVAILABLE");
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("retry")),
        "{}",
        r.body
    );

    let started = Instant::now();
    let ready = app.get("/ready").await;
    let ready_took = started.elapsed();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.expect("a JSON body");
    assert_eq!(body["database"], "unavailable", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAVAILABLE",
        "{body}"
    );
    eprintln!(
        "database {kind}: API key request {api_key_took:?}, JWT request {jwt_took:?}, /ready {ready_took:?}"
    );
    assert!(api_key_took < UNAVAILABLE_WITHIN, "{api_key_took:?}");
    assert!(jwt_took < UNAVAILABLE_WITHIN, "{jwt_took:?}");
    assert!(ready_took < READY_WITHIN, "{ready_took:?}");

    // Recovery needs nothing but the database coming back.
    proxy.restore();
    let started = Instant::now();
    loop {
        let r = app.as_token(&api_key, query, json!({})).await;
        if r.code().is_none() {
            assert_eq!(r.data()["me"]["role"], "SERVICE");
            break;
        }
        r.expect_code("UNAVAILABLE");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never recovered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "database {kind}: recovered {:?} after the restore",
        started.elapsed()
    );
    app.as_token(&owner, query, json!({})).await.data();
    assert_eq!(app.get("/ready").await.status(), 200);
}

/// An HTTP/1.1 response read off a raw socket.
struct RawResponse {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl RawResponse {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}\n{}",
                self.head,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

fn host(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Reads one response (its head and `Content-Length` bytes of body) within `within`.
async fn read_response(stream: &mut TcpStream, within: Duration) -> Option<RawResponse> {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let status = head.split(' ').nth(1)?.parse().ok()?;
                let body = buf[end + 4..end + 4 + length].to_vec();
                return Some(RawResponse { status, head, body });
            }
        }
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Waits for the server to close `stream`; returns how long that took, or `None` if it was
/// still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut chunk = [0u8; 1024];
    loop {
        match tokio::time::timeout(within, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

async fn get_health(stream: &mut TcpStream, host: &str) {
    let request = format!("GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
}

#[tokio::test]
async fn a_request_that_runs_out_of_time_gets_408_with_a_json_error() {
    let app = spawn_app_with(|c| c.request_timeout_seconds = 1).await;
    let host = host(&app);
    let mut stream = TcpStream::connect(&host).await.expect("connect");
    // Promise a body and never send it all.
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"query\":"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let r = read_response(&mut stream, Duration::from_secs(20))
        .await
        .expect("an answer");
    assert_eq!(r.status, 408, "{}", r.head);
    let body = r.json();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAVAILABLE",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("1 s")),
        "{body}"
    );
}

#[tokio::test]
async fn http_errors_outside_graphql_are_json_with_a_code() {
    let app = spawn_app_with(|c| c.body_limit_bytes = 1024).await;
    let big = json!({ "query": format!("{{ me {{ role }} }} # {}", "x".repeat(4096)) });
    let r = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&big)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.expect("JSON 413");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "VALIDATION",
        "{body}"
    );

    for (method, path, status, code) in [
        (reqwest::Method::GET, "/no-such-route", 404, "NOT_FOUND"),
        (reqwest::Method::DELETE, "/graphql", 405, "VALIDATION"),
        (
            reqwest::Method::POST,
            "/jobs/process-billing",
            404,
            "NOT_FOUND",
        ),
    ] {
        let r = app
            .client
            .request(method.clone(), format!("{}{path}", app.address))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        assert!(r.headers().get("x-request-id").is_some(), "{method} {path}");
        let body: Value = r.json().await.expect("a JSON error body");
        assert_eq!(body["errors"][0]["extensions"]["code"], code, "{body}");
        assert!(body["errors"][0]["message"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = spawn_app_with(|c| c.http_idle_timeout_seconds = 1).await;
    let host = host(&app);
    let mut stream = TcpStream::connect(&host).await.expect("connect");
    get_health(&mut stream, &host).await;
    let r = read_response(&mut stream, Duration::from_secs(5))
        .await
        .expect("an answer");
    assert_eq!(r.status, 200);
    let took = closed_within(&mut stream, Duration::from_secs(10))
        .await
        .expect("the idle connection was closed");
    eprintln!("idle connection closed after {took:?}");
    assert!(
        took >= Duration::from_millis(700),
        "closed too early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn a_half_sent_or_silent_connection_is_closed_after_the_header_read_timeout() {
    let app = spawn_app_with(|c| c.http_header_read_timeout_ms = 500).await;
    let host = host(&app);

    let mut half = TcpStream::connect(&host).await.expect("connect");
    let partial = format!("GET /health HTTP/1.1\r\nHost: {host}\r\n");
    half.write_all(partial.as_bytes()).await.expect("write");
    let mut silent = TcpStream::connect(&host).await.expect("connect");

    for stream in [&mut half, &mut silent] {
        let took = closed_within(stream, Duration::from_secs(10))
            .await
            .expect("the connection was closed");
        assert!(took < Duration::from_secs(4), "{took:?}");
    }

    // A client that sends its request in time is served as usual.
    let mut prompt = TcpStream::connect(&host).await.expect("connect");
    get_health(&mut prompt, &host).await;
    let r = read_response(&mut prompt, Duration::from_secs(5))
        .await
        .expect("an answer");
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(|c| c.http_max_connections = 2).await;
    let host = host(&app);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&host).await.expect("connect");
        get_health(&mut stream, &host).await;
        let r = read_response(&mut stream, Duration::from_secs(5))
            .await
            .expect("an answer");
        assert_eq!(r.status, 200);
        held.push(stream);
    }

    // The kernel takes the third connection, but the server does not serve it yet.
    let mut third = TcpStream::connect(&host).await.expect("connect");
    get_health(&mut third, &host).await;
    assert!(
        read_response(&mut third, Duration::from_millis(800))
            .await
            .is_none(),
        "a third connection was served over a cap of 2"
    );

    drop(held.pop());
    let r = read_response(&mut third, Duration::from_secs(5))
        .await
        .expect("served once a slot was free");
    assert_eq!(r.status, 200);
}
