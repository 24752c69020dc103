//! Calm tenants' latency with and without hostile traffic, printed, never asserted. The calm
//! tenants read their wallet and the plan list; during the second run, attackers send the
//! hardening issue's attacks without pause: 1,000 aliases of `usageSummary` with a tenant's
//! API key, and a 250 KB anonymous query of 50,000 fields. Run:
//! `cargo bench --bench hostile_tenants` (SQLite in a temp dir), or with
//! `BILLING_BENCH_DATABASE_URL=postgres://...`.
#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use billing::domain::{Role, TenantId};
use common::{BenchApp, pct};
use serde_json::{Value, json};

const CALM_TENANTS: usize = 8;
const REQUESTS_PER_CALM_CLIENT: usize = 300;
const ATTACKERS: usize = 4;

struct Attack {
    bearer: Option<String>,
    query: String,
}

fn print(name: &str, latencies: &mut [Duration], elapsed: Duration) -> Duration {
    latencies.sort();
    let p99 = pct(latencies, 99);
    println!(
        "{name:<36} {:>7.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   p99.9 {:>7.2} ms",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(latencies, 50).as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        latencies[(latencies.len() * 999 / 1000).min(latencies.len().saturating_sub(1))]
            .as_secs_f64()
            * 1e3,
    );
    p99
}

async fn post(client: &reqwest::Client, url: &str, bearer: Option<&str>, body: &Value) -> bool {
    let mut req = client.post(url).json(body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    match req.send().await {
        Ok(resp) => resp
            .json::<Value>()
            .await
            .is_ok_and(|v| v.get("errors").is_none()),
        Err(_) => false,
    }
}

/// The calm tenants' requests, while `attacks` run (if any); their latencies.
async fn run(
    app: &BenchApp,
    calm: &[String],
    attacks: Arc<Vec<Attack>>,
) -> (Vec<Duration>, Duration, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut attackers = Vec::new();
    for i in 0..ATTACKERS.min(attacks.len() * ATTACKERS) {
        let (attacks, stop, refused) = (attacks.clone(), stop.clone(), refused.clone());
        let (client, url) = (reqwest::Client::new(), app.url.clone());
        attackers.push(tokio::spawn(async move {
            let attack = &attacks[i % attacks.len()];
            let body = json!({ "query": attack.query });
            while !stop.load(Ordering::Relaxed) {
                if !post(&client, &url, attack.bearer.as_deref(), &body).await {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let started = Instant::now();
    let mut clients = Vec::new();
    for token in calm {
        let (client, url, token) = (reqwest::Client::new(), app.url.clone(), token.clone());
        clients.push(tokio::spawn(async move {
            let wallet = json!({ "query": "{ wallet { balance held } }" });
            let plans = json!({ "query": "{ plans { edges { node { code monthlyPrice { formatted } } } } }" });
            let mut latencies = Vec::with_capacity(REQUESTS_PER_CALM_CLIENT);
            for n in 0..REQUESTS_PER_CALM_CLIENT {
                let body = if n % 2 == 0 { &wallet } else { &plans };
                let t = Instant::now();
                let ok = post(&client, &url, Some(&token), body).await;
                assert!(ok, "a calm request failed");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for c in clients {
        latencies.extend(c.await.expect("calm client"));
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.await.expect("attacker");
    }
    (latencies, elapsed, refused.load(Ordering::Relaxed))
}

#[tokio::main]
async fn main() {
    let app = BenchApp::start().await;
    app.create_token_metric("tokens").await;
    let mut calm = Vec::new();
    for i in 0..CALM_TENANTS {
        let tenant = app.create_tenant(&format!("calm-{i}")).await;
        let id = TenantId::parse("tenant", &tenant).expect("tenant id");
        calm.push(app.token(&format!("calm-{i}"), Role::Owner, Some(id)));
    }
    let hostile = app.create_tenant("hostile").await;
    let owner = app.token(
        "hostile",
        Role::Owner,
        Some(TenantId::parse("tenant", &hostile).expect("tenant id")),
    );
    let key = app
        .gql(
            &owner,
            "mutation { createApiKey(input: { name: \"attacker\" }) { secret } }",
            json!({}),
        )
        .await["createApiKey"]["secret"]
        .as_str()
        .expect("an API key")
        .to_owned();
    let aliases: String = (0..1_000)
        .map(|i| format!("a{i}: usageSummary(metricCode: \"tokens\") {{ totalQuantity }} "))
        .collect();
    let attacks = vec![
        Attack {
            bearer: Some(key),
            query: format!("{{ {aliases} }}"),
        },
        Attack {
            bearer: None,
            query: format!("{{ {} }}", "abcd ".repeat(50_000)),
        },
    ];

    println!(
        "{CALM_TENANTS} calm tenants × {REQUESTS_PER_CALM_CLIENT} requests (wallet, plans); {ATTACKERS} attackers"
    );
    let (mut quiet, elapsed, _) = run(&app, &calm, Arc::new(Vec::new())).await;
    let base = print("calm tenants, no attack", &mut quiet, elapsed);
    let (mut loud, elapsed, refused) = run(&app, &calm, Arc::new(attacks)).await;
    let attacked = print("calm tenants, under attack", &mut loud, elapsed);
    println!(
        "attack requests refused: {refused}; calm p99 under attack / without: {:.2}",
        attacked.as_secs_f64() / base.as_secs_f64()
    );
    app.finish().await;
}
