//! Request throughput and latency of the GraphQL endpoint over real HTTP, printed, never
//! asserted. Run: `cargo bench --bench api_requests` (SQLite in a temp dir), or with
//! `BILLING_BENCH_DATABASE_URL=postgres://...` (and optionally `BILLING_BENCH_REDIS_URL`).
#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use billing::domain::Role;
use common::{BenchApp, pct};
use serde_json::{Value, json};

const CLIENTS: usize = 32;
const REQUESTS_PER_CLIENT: usize = 200;

struct Figures {
    name: &'static str,
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn print(&mut self) {
        self.latencies.sort();
        println!(
            "{:<34} {:>8.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} requests, {} clients)",
            self.name,
            self.requests as f64 / self.elapsed.as_secs_f64(),
            pct(&self.latencies, 50).as_secs_f64() * 1e3,
            pct(&self.latencies, 99).as_secs_f64() * 1e3,
            self.requests,
            CLIENTS,
        );
    }
}

async fn run(
    name: &'static str,
    url: Arc<String>,
    bearer: Arc<String>,
    body: Arc<Value>,
) -> Figures {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let (client, url, bearer, body) =
            (client.clone(), url.clone(), bearer.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(REQUESTS_PER_CLIENT);
            for _ in 0..REQUESTS_PER_CLIENT {
                let t = Instant::now();
                let resp = client
                    .post(url.as_str())
                    .bearer_auth(bearer.as_str())
                    .json(&*body)
                    .send()
                    .await;
                let ok = match resp {
                    Ok(r) => r
                        .json::<Value>()
                        .await
                        .map(|v| v.get("errors").is_none())
                        .unwrap_or(false),
                    Err(_) => false,
                };
                assert!(ok, "benchmark request failed");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("client task"));
    }
    Figures {
        name,
        requests: CLIENTS * REQUESTS_PER_CLIENT,
        elapsed: started.elapsed(),
        latencies,
    }
}

#[tokio::main]
async fn main() {
    let app = BenchApp::start().await;
    let backend = if app.database_url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let url = Arc::new(app.url.clone());
    let demo = billing::demo::load(&app.state).await.expect("demo catalog");
    let owner = app.token("bench", Role::Owner, Some(demo.tenant_id));
    let created = app
        .gql(
            &owner,
            "mutation { createApiKey(input: {name: \"bench\"}) { secret } }",
            json!({}),
        )
        .await;
    let key = created["createApiKey"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();

    println!(
        "billing API benchmark: {backend}, cache {}, {} cores",
        app.state.cache.backend(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let me = Arc::new(json!({ "query": "{ me { role tenantId } }" }));
    let plans = Arc::new(
        json!({ "query": "{ plans { edges { node { code monthlyPrice { formatted } charges { model blockSize } } } } }" }),
    );
    let (owner, key) = (Arc::new(owner), Arc::new(key));
    // Warm up connections and caches.
    run("warm-up", url.clone(), owner.clone(), me.clone()).await;
    run("me (JWT)", url.clone(), owner.clone(), me.clone())
        .await
        .print();
    run("me (API key, cached)", url.clone(), key.clone(), me.clone())
        .await
        .print();
    run(
        "plans with charges (JWT)",
        url.clone(),
        owner.clone(),
        plans.clone(),
    )
    .await
    .print();
    app.finish().await;
}
