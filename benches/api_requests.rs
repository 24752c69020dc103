//! Request throughput and latency of the GraphQL endpoint over real HTTP, printed, never
//! asserted. Run: `cargo bench --bench api_requests` (SQLite in a temp dir), or with
//! `BILLING_BENCH_DATABASE_URL=postgres://...` (and optionally `BILLING_BENCH_REDIS_URL`).
use std::sync::Arc;
use std::time::{Duration, Instant};

use billing::config::{Config, Environment};
use billing::domain::Role;
use billing::startup::App;
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
        let pct = |p: usize| {
            self.latencies[(self.latencies.len() * p / 100).min(self.latencies.len() - 1)]
        };
        println!(
            "{:<34} {:>8.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} requests, {} clients)",
            self.name,
            self.requests as f64 / self.elapsed.as_secs_f64(),
            pct(50).as_secs_f64() * 1e3,
            pct(99).as_secs_f64() * 1e3,
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
    let dir = std::env::temp_dir().join(format!("billing-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut config = Config {
        env: Environment::Test,
        listen: "127.0.0.1:0".into(),
        log: "error".into(),
        database_url: format!("sqlite://{}/bench.db?mode=rwc", dir.display()),
        ..Config::default()
    };
    if let Ok(url) = std::env::var("BILLING_BENCH_DATABASE_URL") {
        config.database_url = url;
    }
    if let Ok(url) = std::env::var("BILLING_BENCH_REDIS_URL") {
        config.redis_url = Some(url);
        config.cache_prefix = format!("bench:{}:", uuid::Uuid::new_v4().simple());
    }
    let backend = if config.database_url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let app = App::build(config).await.expect("build app");
    let url = Arc::new(format!("http://{}/graphql", app.addr));
    let state = app.state.clone();
    tokio::spawn(app.run_until_stopped());
    let demo = billing::demo::load(&state).await.expect("demo catalog");
    let owner = state
        .auth
        .mint(
            "bench",
            Role::Owner,
            Some(demo.tenant_id),
            chrono::Utc::now(),
        )
        .expect("token")
        .0;
    let client = reqwest::Client::new();
    let created: Value = client
        .post(url.as_str())
        .bearer_auth(&owner)
        .json(&json!({ "query": "mutation { createApiKey(input: {name: \"bench\"}) { secret } }" }))
        .send()
        .await
        .expect("create key")
        .json()
        .await
        .expect("json");
    let key = created["data"]["createApiKey"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();

    println!(
        "billing API benchmark: {backend}, cache {}, {} cores",
        state.cache.backend(),
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
    let _ = std::fs::remove_dir_all(dir);
}
