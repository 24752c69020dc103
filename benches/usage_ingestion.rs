//! Usage ingestion throughput: `recordUsage` over real HTTP against PostgreSQL, for batches of
//! 1, 100 and 1,000 events, next to the same rows written by plain SQL in the same run, with the
//! ratio `api / plain SQL`. Printed, never asserted.
//!
//! Run: `cargo bench --bench usage_ingestion` (release build).
//!
//! - `BILLING_BENCH_DATABASE_URL`: PostgreSQL (default
//!   `postgres://postgres@127.0.0.1:5432/billing_bench`). The database is created if missing;
//!   each run works in a schema of its own, dropped at the end.
//! - `BILLING_BENCH_REDIS_URL`: optional, puts the cache in Redis.
//! - `BILLING_BENCH_EVENTS_SCALE`: optional factor on the number of events per batch size
//!   (default 1).
//!
//! Set-up (as admin, over GraphQL): a SUM metric `tokens`, the seed token plan (fee 40000
//! including 8,000,000 tokens; BLOCK IMMEDIATELY, 8,000,000 at 10000) and, per batch size, one
//! fresh subscribed tenant per client, so the per-tenant lock is not what is measured. The
//! clock stands still and the background jobs are off. Each tenant reports about 30M tokens per
//! batch size (so three blocks are charged along the way), in events of equal size with unique
//! idempotency keys.
//!
//! Plain SQL baseline: per batch, one transaction with a multi-row `INSERT INTO usage_events
//! ... ON CONFLICT (tenant_id, idempotency_key) DO NOTHING` and an upsert of the period's
//! `usage_totals` row (`quantity = quantity + sum`, `events = events + n`): the least SQL that
//! stores the same data. Same clients, same batches, same tenants (its own keys).
//!
//! The benchmark never runs `ANALYZE`: the API's figures at large batches depend on the
//! planner's statistics for `usage_events`, so compare runs on servers set up alike
//! (autovacuum on or off).
#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{BenchApp, Path, pct, postgres_url};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

const CLIENTS: usize = 8;
const CLOCK_START: &str = "2026-03-01T00:00:00Z";
const METRIC: &str = "tokens";
const PLAN: &str = "tokens-400";
const FEE_MINOR: i64 = 40_000;
const INCLUDED: i64 = 8_000_000;
const BLOCK: i64 = 8_000_000;
const BLOCK_PRICE_MINOR: i64 = 10_000;
/// Tokens each tenant reports per batch size: a little under 8M included + 3 blocks.
const TOKENS_PER_TENANT: i64 = 30_000_000;
/// Batch size and the events sent in total at that size (all clients together).
const SIZES: [(usize, usize); 3] = [(1, 12_000), (100, 120_000), (1_000, 400_000)];

const RECORD_USAGE: &str = "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { \
    accepted duplicates rejected blockCharges { id } invoice { id } } }";

const EVENT_COLUMNS: &str = "id, tenant_id, subscription_id, metric_id, cycle, quantity, \
    operation_type, idempotency_key, occurred_at, recorded_at";
const EVENT_PARAMS: usize = 10;
const UPSERT_TOTAL: &str = "INSERT INTO usage_totals (id, tenant_id, subscription_id, \
    metric_id, cycle, period_start, period_end, quantity, events, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
    ON CONFLICT (subscription_id, metric_id, cycle) DO UPDATE SET \
    quantity = usage_totals.quantity + EXCLUDED.quantity, \
    events = usage_totals.events + EXCLUDED.events, updated_at = EXCLUDED.updated_at";

/// A subscribed tenant, one per client.
struct Tenant {
    public_id: String,
    id: Uuid,
    subscription: Uuid,
    cycle: i32,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
}

/// What one client saw.
#[derive(Default)]
struct Outcome {
    latencies: Vec<Duration>,
    accepted: i64,
    duplicates: i64,
    rejected: i64,
    /// Requests (API) or transactions (SQL) that failed as a whole.
    failures: i64,
    /// Block charges and immediate invoices reported by the API.
    blocks: i64,
    invoices: i64,
    /// The first few distinct failure messages.
    messages: Vec<String>,
}

impl Outcome {
    fn fail(&mut self, message: String) {
        self.failures += 1;
        if self.messages.len() < 5 && !self.messages.contains(&message) {
            self.messages.push(message);
        }
    }

    fn merge(&mut self, other: &Outcome) {
        self.latencies.extend_from_slice(&other.latencies);
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected += other.rejected;
        self.failures += other.failures;
        self.blocks += other.blocks;
        self.invoices += other.invoices;
        for m in &other.messages {
            if self.messages.len() < 8 && !self.messages.contains(m) {
                self.messages.push(m.clone());
            }
        }
    }
}

/// Events the database should hold per tenant, from what the clients were told.
#[derive(Clone, Copy, Default)]
struct Tally {
    api_events: i64,
    api_quantity: i64,
    api_blocks: i64,
    sql_events: i64,
    sql_quantity: i64,
}

/// Everything the clients share.
struct Bench {
    url: String,
    admin: String,
    http: reqwest::Client,
    sql: DatabaseConnection,
    metric: Uuid,
    now: DateTime<Utc>,
}

/// Sends `requests` batches of `batch` events for one tenant through `recordUsage`.
async fn api_client(
    bench: Arc<Bench>,
    tenant: Arc<Tenant>,
    prefix: String,
    batch: usize,
    requests: usize,
    quantity: i64,
) -> Outcome {
    let mut out = Outcome {
        latencies: Vec::with_capacity(requests),
        ..Outcome::default()
    };
    for r in 0..requests {
        let events: Vec<Value> = (0..batch)
            .map(|i| {
                json!({
                    "metricCode": METRIC,
                    "quantity": quantity,
                    "idempotencyKey": format!("{prefix}-{:07}", r * batch + i),
                })
            })
            .collect();
        let body = serde_json::to_vec(&json!({
            "query": RECORD_USAGE,
            "variables": { "i": { "tenantId": tenant.public_id, "events": events } },
        }))
        .expect("request body");
        let started = Instant::now();
        let reply = match bench
            .http
            .post(bench.url.as_str())
            .bearer_auth(bench.admin.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
        {
            Ok(resp) => {
                let status = resp.status();
                match resp.json::<Value>().await {
                    Ok(v) => Ok((status, v)),
                    Err(e) => Err(format!("HTTP {status}, unreadable body: {e}")),
                }
            }
            Err(e) => Err(format!("transport error: {e}")),
        };
        out.latencies.push(started.elapsed());
        let (status, v) = match reply {
            Ok(reply) => reply,
            Err(message) => {
                out.fail(message);
                continue;
            }
        };
        if let Some(errors) = v.get("errors").filter(|e| !e.is_null()) {
            let first = &errors[0];
            out.fail(format!(
                "HTTP {status}, {}: {}",
                first["extensions"]["code"].as_str().unwrap_or("no code"),
                first["message"].as_str().unwrap_or("no message"),
            ));
            continue;
        }
        if !status.is_success() {
            out.fail(format!("HTTP {status} without GraphQL errors"));
            continue;
        }
        let p = &v["data"]["recordUsage"];
        out.accepted += p["accepted"].as_i64().unwrap_or(0);
        out.duplicates += p["duplicates"].as_i64().unwrap_or(0);
        out.rejected += p["rejected"].as_i64().unwrap_or(0);
        out.blocks += p["blockCharges"].as_array().map_or(0, |a| a.len() as i64);
        out.invoices += i64::from(!p["invoice"].is_null());
    }
    out
}

/// `INSERT INTO usage_events ... VALUES (...), ... ON CONFLICT DO NOTHING` for `rows` rows.
fn insert_events_sql(rows: usize) -> String {
    let mut sql = format!("INSERT INTO usage_events ({EVENT_COLUMNS}) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..EVENT_PARAMS {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * EVENT_PARAMS + c + 1));
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (tenant_id, idempotency_key) DO NOTHING");
    sql
}

/// One batch in one transaction; returns how many events were new.
async fn write_batch(
    bench: &Bench,
    tenant: &Tenant,
    insert: &str,
    values: Vec<sea_orm::Value>,
    quantity: i64,
) -> Result<i64, DbErr> {
    let txn = bench.sql.begin().await?;
    let inserted = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            insert,
            values,
        ))
        .await?
        .rows_affected() as i64;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        UPSERT_TOTAL,
        [
            Uuid::now_v7().into(),
            tenant.id.into(),
            tenant.subscription.into(),
            bench.metric.into(),
            tenant.cycle.into(),
            tenant.period_start.into(),
            tenant.period_end.into(),
            (inserted * quantity).into(),
            inserted.into(),
            bench.now.into(),
        ],
    ))
    .await?;
    txn.commit().await?;
    Ok(inserted)
}

/// Writes the same rows as `api_client` with plain SQL.
async fn sql_client(
    bench: Arc<Bench>,
    tenant: Arc<Tenant>,
    prefix: String,
    batch: usize,
    requests: usize,
    quantity: i64,
) -> Outcome {
    let mut out = Outcome {
        latencies: Vec::with_capacity(requests),
        ..Outcome::default()
    };
    let insert = insert_events_sql(batch);
    for r in 0..requests {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(batch * EVENT_PARAMS);
        for i in 0..batch {
            values.extend([
                Uuid::now_v7().into(),
                tenant.id.into(),
                tenant.subscription.into(),
                bench.metric.into(),
                tenant.cycle.into(),
                quantity.into(),
                "default".into(),
                format!("{prefix}-{:07}", r * batch + i).into(),
                bench.now.into(),
                bench.now.into(),
            ]);
        }
        let started = Instant::now();
        let written = write_batch(&bench, &tenant, &insert, values, quantity).await;
        out.latencies.push(started.elapsed());
        match written {
            Ok(inserted) => {
                out.accepted += inserted;
                out.duplicates += batch as i64 - inserted;
            }
            Err(e) => out.fail(format!("transaction failed: {e}")),
        }
    }
    out
}

/// Runs one client per tenant at once; returns the wall time and each client's outcome.
async fn run_phase(
    bench: &Arc<Bench>,
    tenants: &[Arc<Tenant>],
    path: Path,
    label: &str,
    batch: usize,
    requests: usize,
    quantity: i64,
) -> (Duration, Vec<Outcome>) {
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(tenants.len());
    for (c, tenant) in tenants.iter().enumerate() {
        let (bench, tenant) = (bench.clone(), tenant.clone());
        let prefix = format!("{label}-b{batch}-c{c}");
        tasks.push(tokio::spawn(async move {
            match path {
                Path::Api => api_client(bench, tenant, prefix, batch, requests, quantity).await,
                Path::Sql => sql_client(bench, tenant, prefix, batch, requests, quantity).await,
            }
        }));
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for t in tasks {
        outcomes.push(t.await.expect("client task"));
    }
    (started.elapsed(), outcomes)
}

/// Adds what the clients were told to the per-tenant tallies.
fn count(tallies: &mut [Tally], outcomes: &[Outcome], path: Path, quantity: i64) {
    for (t, o) in tallies.iter_mut().zip(outcomes) {
        match path {
            Path::Api => {
                t.api_events += o.accepted;
                t.api_quantity += o.accepted * quantity;
                t.api_blocks += o.blocks;
            }
            Path::Sql => {
                t.sql_events += o.accepted;
                t.sql_quantity += o.accepted * quantity;
            }
        }
    }
}

/// Prints one row of the table; returns the accepted events per second.
fn print_row(batch: usize, path: Path, elapsed: Duration, outcomes: &[Outcome]) -> f64 {
    let mut all = Outcome::default();
    for o in outcomes {
        all.merge(o);
    }
    all.latencies.sort();
    let secs = elapsed.as_secs_f64();
    let per_second = all.accepted as f64 / secs;
    let blocks = match path {
        Path::Api => format!("{}/{}", all.blocks, all.invoices),
        Path::Sql => "-".to_owned(),
    };
    println!(
        "{batch:>5}  {:<9}  {:>8}  {:>8}  {:>6.1}  {per_second:>9.0}  {:>7.0}  {:>8.2}  {:>8.2}  {:>6}  {:>7}  {blocks:>11}",
        path.label(),
        all.accepted,
        all.latencies.len(),
        secs,
        all.latencies.len() as f64 / secs,
        pct(&all.latencies, 50).as_secs_f64() * 1e3,
        pct(&all.latencies, 99).as_secs_f64() * 1e3,
        all.failures,
        all.rejected + all.duplicates,
    );
    for m in &all.messages {
        println!("         ! {m}");
    }
    per_second
}

fn blocks_due(usage: i64) -> i64 {
    if usage <= INCLUDED {
        0
    } else {
        (usage - INCLUDED + BLOCK - 1) / BLOCK
    }
}

/// Compares the stored usage of each tenant with what the clients were told; returns the
/// differences. Blocks are due on the API's tokens only: plain SQL charges none, and all of a
/// tenant's API events come before its plain SQL ones.
async fn check(bench: &Bench, tenants: &[Arc<Tenant>], tallies: &[Tally]) -> Vec<String> {
    let mut problems = Vec::new();
    let sql = "SELECT \
        (SELECT quantity FROM usage_totals WHERE subscription_id = $1 AND metric_id = $2 AND cycle = $3) AS total_quantity, \
        (SELECT events FROM usage_totals WHERE subscription_id = $1 AND metric_id = $2 AND cycle = $3) AS total_events, \
        (SELECT count(*) FROM usage_events WHERE subscription_id = $1 AND metric_id = $2 AND cycle = $3) AS row_count, \
        (SELECT coalesce(sum(quantity), 0)::bigint FROM usage_events WHERE subscription_id = $1 AND metric_id = $2 AND cycle = $3) AS row_quantity, \
        (SELECT count(*) FROM block_charges WHERE subscription_id = $1 AND metric_id = $2 AND cycle = $3) AS blocks";
    for (c, (tenant, tally)) in tenants.iter().zip(tallies).enumerate() {
        let row = bench
            .sql
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [
                    tenant.subscription.into(),
                    bench.metric.into(),
                    tenant.cycle.into(),
                ],
            ))
            .await
            .expect("check query")
            .expect("one row");
        let get = |col: &str| -> i64 {
            row.try_get::<Option<i64>>("", col)
                .expect("check column")
                .unwrap_or(0)
        };
        let events = tally.api_events + tally.sql_events;
        let quantity = tally.api_quantity + tally.sql_quantity;
        let expected_blocks = blocks_due(tally.api_quantity);
        let found = [
            ("usage_totals.quantity", get("total_quantity"), quantity),
            ("usage_totals.events", get("total_events"), events),
            ("usage_events rows", get("row_count"), events),
            ("usage_events quantity", get("row_quantity"), quantity),
            ("block_charges rows", get("blocks"), expected_blocks),
            ("block charges reported", tally.api_blocks, expected_blocks),
        ];
        for (what, got, want) in found {
            if got != want {
                problems.push(format!("client {c}: {what} = {got}, expected {want}"));
            }
        }
    }
    problems
}

fn time_of(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .expect("an RFC 3339 time")
}

async fn create_tenant(app: &BenchApp, slug: &str) -> Tenant {
    let public_id = app.create_tenant(slug).await;
    let data = app
        .admin_gql(
            "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) { \
             subscription { id status cycle currentPeriodStart currentPeriodEnd } } }",
            json!({ "i": { "tenantId": public_id, "planCode": PLAN } }),
        )
        .await;
    let s = &data["createSubscription"]["subscription"];
    Tenant {
        id: uuid_of(&json!(public_id)),
        public_id,
        subscription: uuid_of(&s["id"]),
        cycle: s["cycle"]
            .as_i64()
            .and_then(|c| i32::try_from(c).ok())
            .expect("cycle"),
        period_start: time_of(&s["currentPeriodStart"]),
        period_end: time_of(&s["currentPeriodEnd"]),
    }
}

#[tokio::main]
async fn main() {
    let database_url = postgres_url();
    let scale: f64 = std::env::var("BILLING_BENCH_EVENTS_SCALE")
        .ok()
        .map(|s| s.parse().expect("BILLING_BENCH_EVENTS_SCALE is a number"))
        .unwrap_or(1.0);

    let now: DateTime<Utc> = CLOCK_START.parse().expect("clock start");
    let app = BenchApp::start_postgres(&database_url, now).await;
    let sql = app.sql_pool().await;
    let metric = app.create_token_metric(METRIC).await;
    let bench = Bench {
        url: app.url.clone(),
        admin: app.admin.clone(),
        http: app.http.clone(),
        sql,
        metric: common::uuid_of(&metric),
        now,
    };
    app.admin_gql(
        "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
        json!({ "i": {
            "code": PLAN, "name": "Tokens 400", "monthlyPriceMinor": FEE_MINOR, "trialDays": 0,
            "charges": [{ "metricCode": METRIC, "timing": "IMMEDIATELY", "model": "BLOCK",
                "includedUnits": INCLUDED, "blockSize": BLOCK, "blockPriceMinor": BLOCK_PRICE_MINOR }],
        } }),
    )
    .await;
    let bench = Arc::new(bench);

    println!(
        "usage ingestion benchmark: PostgreSQL, cache {}, {} cores, {CLIENTS} clients (one tenant each), clock frozen at {CLOCK_START}",
        app.state.cache.backend(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "plain SQL = one transaction per batch: multi-row INSERT ... ON CONFLICT DO NOTHING + usage_totals upsert"
    );
    println!();
    println!(
        "batch  path         events  requests       s   events/s    req/s    p50 ms    p99 ms  failed  rej+dup  blocks/invs"
    );

    let mut ratios = Vec::new();
    let mut problems = Vec::new();
    for (batch, events) in SIZES {
        let per_request = CLIENTS * batch;
        let requests = (((events as f64 * scale) / per_request as f64).round() as usize).max(1);
        let per_tenant = (requests * batch) as i64;
        let quantity = (TOKENS_PER_TENANT / per_tenant).max(1);
        let mut tenants = Vec::with_capacity(CLIENTS);
        for c in 0..CLIENTS {
            tenants.push(Arc::new(
                create_tenant(&app, &format!("bench-b{batch}-c{c}")).await,
            ));
        }
        let mut tallies = vec![Tally::default(); CLIENTS];

        // Each path gets a warm-up batch per client first (connections, prepared statements).
        // All API events come before the plain SQL ones, whose totals charge no blocks.
        let (_, out) = run_phase(&bench, &tenants, Path::Api, "warm", batch, 1, quantity).await;
        count(&mut tallies, &out, Path::Api, quantity);
        let (elapsed, out) = run_phase(
            &bench,
            &tenants,
            Path::Api,
            "api",
            batch,
            requests,
            quantity,
        )
        .await;
        let api = print_row(batch, Path::Api, elapsed, &out);
        count(&mut tallies, &out, Path::Api, quantity);

        let (_, out) = run_phase(&bench, &tenants, Path::Sql, "warm-sql", batch, 1, quantity).await;
        count(&mut tallies, &out, Path::Sql, quantity);
        let (elapsed, out) = run_phase(
            &bench,
            &tenants,
            Path::Sql,
            "sql",
            batch,
            requests,
            quantity,
        )
        .await;
        let plain = print_row(batch, Path::Sql, elapsed, &out);
        count(&mut tallies, &out, Path::Sql, quantity);
        ratios.push((batch, quantity, api, plain));
        problems.extend(
            check(&bench, &tenants, &tallies)
                .await
                .into_iter()
                .map(|p| format!("batch {batch}, {p}")),
        );
    }

    println!();
    println!("api / plain SQL (events/s):");
    for (batch, quantity, api, plain) in &ratios {
        println!(
            "  batch {batch:>5}: {:.3}  (plain SQL {:.1}x faster; {quantity} tokens per event)",
            api / plain,
            plain / api,
        );
    }
    if problems.is_empty() {
        println!("stored usage matches what the clients were told (totals, events, block charges)");
    } else {
        println!("stored usage differs from what the clients were told:");
        for p in &problems {
            println!("  {p}");
        }
    }

    let pool = Arc::try_unwrap(bench).map(|b| b.sql);
    if let Ok(pool) = pool {
        let _ = pool.close().await;
    }
    app.finish().await;
}

/// The UUID inside a public id held in a response.
fn uuid_of(public: &Value) -> Uuid {
    common::uuid_of(public.as_str().expect("an id"))
}
