//! Live updates: 1,000 open GraphQL subscriptions (`walletChanged`, graphql-transport-ws over
//! WebSocket, Rust clients) on one replica, and the delay until each client sees a new balance
//! while credits are consumed. Printed, never asserted. Run: `cargo bench --bench live_updates`
//! (SQLite in a temp dir), or with `BILLING_BENCH_DATABASE_URL=postgres://...` and optionally
//! `BILLING_BENCH_REDIS_URL` (fan-out through Redis pub/sub).
//!
//! The commit happens between the `consumeCredits` request being sent and its answer arriving,
//! so the delay is printed from both: from the request sent (an upper bound of the delay from
//! the commit, the request's own latency included) and from the answer received (a lower
//! bound; zero when the client saw the balance first).
#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use billing::domain::{Role, TenantId};
use common::{BenchApp, pct};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const TENANTS: usize = 10;
const SUBSCRIPTIONS_PER_TENANT: usize = 100;
const SPENDS_PER_TENANT: usize = 40;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A connection with one `walletChanged` subscription, past its first (current) balance.
async fn subscriber(ws_url: &str, token: &str) -> Ws {
    let mut request = ws_url.into_client_request().expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    let send = |v: Value| Message::text(v.to_string());
    ws.send(send(
        json!({ "type": "connection_init", "payload": { "token": token } }),
    ))
    .await
    .expect("init");
    ws.send(send(json!({ "type": "subscribe", "id": "w",
        "payload": { "query": "subscription { walletChanged { balance } }" } })))
        .await
        .expect("subscribe");
    let mut seen = 0;
    while seen < 2 {
        match ws.next().await {
            Some(Ok(Message::Text(_))) => seen += 1, // connection_ack, then the first balance
            Some(Ok(_)) => {}
            other => panic!("subscription failed: {other:?}"),
        }
    }
    ws
}

/// Reads balances until `last` arrives; each with the instant it arrived.
async fn watch(mut ws: Ws, last: Arc<Mutex<Option<String>>>) -> Vec<(String, Instant)> {
    let mut seen = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next()).await;
        let Ok(Some(Ok(Message::Text(t)))) = msg else {
            if matches!(msg, Ok(Some(Ok(_)))) {
                continue;
            }
            break;
        };
        let v: Value = serde_json::from_str(t.as_str()).expect("json");
        let balance = v["payload"]["data"]["walletChanged"]["balance"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        seen.push((balance.clone(), Instant::now()));
        if last.lock().await.as_deref() == Some(balance.as_str()) {
            break;
        }
    }
    seen
}

#[tokio::main]
async fn main() {
    let app = BenchApp::start().await;
    let backend = if app.database_url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let fan_out = if app.state.config.redis_url.is_some() {
        "Redis pub/sub"
    } else {
        "in-process"
    };
    let ws_url = app.url.replacen("http", "ws", 1) + "/ws";
    app.create_token_metric("tokens").await;
    let mut tenants = Vec::new();
    for i in 0..TENANTS {
        let tenant = app.create_tenant(&format!("live-bench-{i}")).await;
        app.admin_gql(
            "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
            json!({ "i": { "tenantId": tenant, "credits": "100000", "reason": "bench" } }),
        )
        .await;
        let id = TenantId::parse("tenant", &tenant).expect("id");
        tenants.push(app.token("bench-owner", Role::Owner, Some(id)));
    }

    let opening = Instant::now();
    let mut connections = Vec::new();
    for token in &tenants {
        let opened = futures::future::join_all(
            (0..SUBSCRIPTIONS_PER_TENANT).map(|_| subscriber(&ws_url, token)),
        )
        .await;
        connections.push(opened);
    }
    let opened_in = opening.elapsed();
    let open = TENANTS * SUBSCRIPTIONS_PER_TENANT;

    let lasts: Vec<_> = (0..TENANTS).map(|_| Arc::new(Mutex::new(None))).collect();
    let mut watchers = Vec::new();
    for (t, conns) in connections.into_iter().enumerate() {
        for ws in conns {
            watchers.push((t, tokio::spawn(watch(ws, lasts[t].clone()))));
        }
    }

    // Each tenant spends one credit at a time; all tenants at once.
    let started = Instant::now();
    let spenders = tenants.iter().enumerate().map(|(t, token)| {
        let (http, url, token, last) = (
            app.http.clone(),
            app.url.clone(),
            token.clone(),
            lasts[t].clone(),
        );
        async move {
            let mut sent = HashMap::new();
            let mut request_latencies = Vec::new();
            for i in 0..SPENDS_PER_TENANT {
                let at = Instant::now();
                let body: Value = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({ "query": "mutation($i: ConsumeCreditsInput!) { consumeCredits(input: $i) { balance } }",
                        "variables": { "i": { "metricCode": "tokens", "quantity": 1000,
                            "idempotencyKey": format!("bench-{i}") } } }))
                    .send()
                    .await
                    .expect("consume")
                    .json()
                    .await
                    .expect("consume response");
                let answered = Instant::now();
                request_latencies.push(answered - at);
                let balance = body["data"]["consumeCredits"]["balance"]
                    .as_str()
                    .unwrap_or_else(|| panic!("consume failed: {body}"))
                    .to_owned();
                if i + 1 == SPENDS_PER_TENANT {
                    *last.lock().await = Some(balance.clone());
                }
                sent.insert(balance, (at, answered));
            }
            (t, sent, request_latencies)
        }
    });
    let spent = futures::future::join_all(spenders).await;
    let spending = started.elapsed();
    let mut sent_at: Vec<HashMap<String, (Instant, Instant)>> = vec![HashMap::new(); TENANTS];
    let mut request_latencies = Vec::new();
    for (t, sent, latencies) in spent {
        sent_at[t] = sent;
        request_latencies.extend(latencies);
    }

    let mut delays = Vec::new();
    let mut after_answer = Vec::new();
    let mut complete = 0;
    for (t, watcher) in watchers {
        let seen = watcher.await.expect("watcher");
        let last = lasts[t].lock().await.clone();
        if seen.last().map(|s| Some(&s.0) == last.as_ref()) == Some(true) {
            complete += 1;
        }
        for (balance, at) in seen {
            if let Some((sent, answered)) = sent_at[t].get(&balance) {
                delays.push(at.saturating_duration_since(*sent));
                after_answer.push(at.saturating_duration_since(*answered));
            }
        }
    }
    delays.sort();
    after_answer.sort();
    request_latencies.sort();
    let spends = TENANTS * SPENDS_PER_TENANT;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("live updates, {backend}, fan-out {fan_out}");
    println!(
        "{open} subscriptions open ({TENANTS} tenants x {SUBSCRIPTIONS_PER_TENANT}), opened in {:.2} s",
        opened_in.as_secs_f64()
    );
    println!(
        "{spends} spends in {:.2} s ({:.0}/s); consumeCredits p50 {:.2} ms  p99 {:.2} ms",
        spending.as_secs_f64(),
        spends as f64 / spending.as_secs_f64(),
        ms(pct(&request_latencies, 50)),
        ms(pct(&request_latencies, 99)),
    );
    println!(
        "commit to client (from the request sent): p50 {:.2} ms  p99 {:.2} ms  over {} updates \
         ({} of {} possible; bursts fold into one), {complete}/{open} clients saw the last balance",
        ms(pct(&delays, 50)),
        ms(pct(&delays, 99)),
        delays.len(),
        delays.len(),
        spends * SUBSCRIPTIONS_PER_TENANT,
    );
    println!(
        "commit to client (from the answer received): p50 {:.2} ms  p99 {:.2} ms",
        ms(pct(&after_answer, 50)),
        ms(pct(&after_answer, 99)),
    );
    app.finish().await;
}
