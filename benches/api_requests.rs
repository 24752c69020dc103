//! Request throughput and latency of the GraphQL endpoint over real HTTP, printed, never
//! asserted. Run: `cargo bench --bench api_requests` (SQLite in a temp dir), or with
//! `BILLING_BENCH_DATABASE_URL=postgres://...` (and optionally `BILLING_BENCH_REDIS_URL`).
//! The cached reads (API key, plan list with charges) and `recordUsage` at batch 1 run twice in
//! the same process, cache on and cache off, and the gain is printed.
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

type Body = Arc<dyn Fn(usize, usize) -> Value + Send + Sync>;

/// The same body for every request.
fn fixed(body: Value) -> Body {
    Arc::new(move |_, _| body.clone())
}

async fn run(name: &'static str, url: Arc<String>, bearer: Arc<String>, body: Body) -> Figures {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(CLIENTS);
    for c in 0..CLIENTS {
        let (client, url, bearer, body) =
            (client.clone(), url.clone(), bearer.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(REQUESTS_PER_CLIENT);
            for i in 0..REQUESTS_PER_CLIENT {
                let t = Instant::now();
                let resp = client
                    .post(url.as_str())
                    .bearer_auth(bearer.as_str())
                    .json(&body(c, i))
                    .send()
                    .await;
                let answer = match resp {
                    Ok(r) => r.json::<Value>().await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match answer {
                    Ok(v) if v.get("errors").is_none() => {}
                    Ok(v) => panic!("benchmark request failed: {v}"),
                    Err(e) => panic!("benchmark request failed: {e}"),
                }
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
    let me = fixed(json!({ "query": "{ me { role tenantId } }" }));
    let plans = fixed(
        json!({ "query": "{ plans { edges { node { code monthlyPrice { formatted } charges { model blockSize } } } } }" }),
    );
    // recordUsage at batch 1, one event per request, each with a key of its own.
    app.gql(
        &owner,
        "mutation { createSubscription(input: {planCode: \"enterprise\"}) { subscription { id } } }",
        json!({}),
    )
    .await;
    let usage = |run: &'static str| -> Body {
        Arc::new(move |c, i| {
            json!({
                "query": "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { accepted } }",
                "variables": { "i": { "events": [{
                    "metricCode": "api_calls",
                    "quantity": 1,
                    "idempotencyKey": format!("{run}-{c}-{i}"),
                }] } },
            })
        })
    };
    let (owner, key) = (Arc::new(owner), Arc::new(key));
    // Warm up connections and caches.
    run("warm-up", url.clone(), owner.clone(), me.clone()).await;
    run("me (JWT)", url.clone(), owner.clone(), me.clone())
        .await
        .print();
    let mut on = Vec::new();
    for (name, bearer, body) in [
        ("me (API key)", key.clone(), me.clone()),
        ("plans with charges (JWT)", owner.clone(), plans.clone()),
        ("recordUsage batch 1 (API key)", key.clone(), usage("on")),
    ] {
        let mut f = run(name, url.clone(), bearer, body).await;
        f.name = name;
        print!("cache on:  ");
        f.print();
        on.push(f);
    }
    app.state.cache.set_enabled(false);
    for (mut cached, (bearer, body)) in on.into_iter().zip([
        (key.clone(), me.clone()),
        (owner.clone(), plans.clone()),
        (key.clone(), usage("off")),
    ]) {
        let mut f = run(cached.name, url.clone(), bearer, body).await;
        print!("cache off: ");
        f.print();
        let gain = (cached.requests as f64 / cached.elapsed.as_secs_f64())
            / (f.requests as f64 / f.elapsed.as_secs_f64());
        cached.latencies.sort();
        println!(
            "           gain of the cache on {}: x{gain:.2} throughput",
            cached.name
        );
    }
    app.state.cache.set_enabled(true);
    app.finish().await;
}
