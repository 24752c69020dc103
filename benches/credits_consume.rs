//! Credit consumption throughput: `consumeCredits` over real HTTP against PostgreSQL at 32
//! concurrent clients, next to the same SQL statements sent by a plain client in the same run,
//! with the ratio `api / plain SQL`. Printed, never asserted.
//!
//! Run: `cargo bench --bench credits_consume` (release build).
//!
//! - `BILLING_BENCH_DATABASE_URL`: PostgreSQL (default
//!   `postgres://postgres@127.0.0.1:5432/billing_bench`). The database is created if missing;
//!   each run works in a schema of its own, dropped at the end.
//! - `BILLING_BENCH_REDIS_URL`: optional, puts the cache in Redis.
//! - `BILLING_BENCH_CONSUME_REQUESTS`: optional, requests per client per path (default 1,000).
//!
//! Set-up (as admin, over GraphQL): a SUM metric `tokens` and one tenant per client (no plan,
//! so the default rule applies: 1 credit per 1,000 tokens), each granted a large balance with
//! `grantCredits`. One tenant per client, so the wallet row's lock is not what is measured.
//! The clock stands still and the background jobs are off. Every request spends 1,000 tokens
//! (1 credit) with a unique idempotency key.
//!
//! Plain SQL baseline: per request, one transaction with the statements the API runs for a
//! spend: the replay lookup by `(tenant_id, idempotency_key)`, the wallet ensure
//! (`INSERT ... ON CONFLICT DO NOTHING`), the conditional `UPDATE wallets ... RETURNING` and
//! the ledger `INSERT`. The API also looks up the tenant, the metric and the live
//! subscription, and reads the wallet back after the commit; the baseline does not.
#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{BenchApp, Path, pct, postgres_url, uuid_of};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

const CLIENTS: usize = 32;
const DEFAULT_REQUESTS: usize = 1_000;
const WARM_UP: usize = 20;
const CLOCK_START: &str = "2026-03-01T00:00:00Z";
const METRIC: &str = "tokens";
const OPERATION: &str = "default";
/// Tokens per request: 1 credit at the default rule.
const QUANTITY: i64 = 1_000;
const MICRO_PER_CREDIT: i64 = 1_000_000;
const COST_MICRO: i64 = MICRO_PER_CREDIT;
/// Credits granted to each tenant: far more than the run spends, so no spend is refused and
/// the low-balance alert never fires.
const GRANT_CREDITS: i64 = 10_000_000;

const CONSUME: &str = "mutation($i: ConsumeCreditsInput!) { consumeCredits(input: $i) { \
    entry { id amount } balance replayed } }";

const REPLAY_LOOKUP: &str = "SELECT id, tenant_id, kind, amount_micro, balance_after_micro, \
    reference, idempotency_key, metric_code, operation_type, quantity, created_at \
    FROM ledger_entries WHERE tenant_id = $1 AND idempotency_key = $2 LIMIT 1";
const ENSURE_WALLET: &str = "INSERT INTO wallets (tenant_id, balance_micro, held_micro, \
    updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO NOTHING";
const APPLY: &str = "UPDATE wallets SET balance_micro = balance_micro + $1, \
    held_micro = held_micro + $2, updated_at = $3 \
    WHERE tenant_id = $4 AND balance_micro >= $5 RETURNING balance_micro";
const INSERT_ENTRY: &str = "INSERT INTO ledger_entries (id, tenant_id, kind, amount_micro, \
    balance_after_micro, reference, idempotency_key, metric_code, operation_type, quantity, \
    created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

struct Tenant {
    public_id: String,
    id: Uuid,
}

/// What one client saw.
#[derive(Default)]
struct Outcome {
    latencies: Vec<Duration>,
    /// Spends that took credits (a new ledger entry).
    spent: i64,
    /// Answers that were replays or refusals (insufficient, duplicate): nothing spent.
    refused: i64,
    /// Requests (API) or transactions (SQL) that failed.
    failures: i64,
    /// API answers whose HTTP status was 5xx.
    server_errors: i64,
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
        self.spent += other.spent;
        self.refused += other.refused;
        self.failures += other.failures;
        self.server_errors += other.server_errors;
        for m in &other.messages {
            if self.messages.len() < 8 && !self.messages.contains(m) {
                self.messages.push(m.clone());
            }
        }
    }
}

/// Everything the clients share.
struct Bench {
    url: String,
    admin: String,
    http: reqwest::Client,
    sql: DatabaseConnection,
    now: DateTime<Utc>,
}

/// Sends `requests` `consumeCredits` calls for one tenant.
async fn api_client(
    bench: Arc<Bench>,
    tenant: Arc<Tenant>,
    prefix: String,
    requests: usize,
) -> Outcome {
    let mut out = Outcome {
        latencies: Vec::with_capacity(requests),
        ..Outcome::default()
    };
    for r in 0..requests {
        let body = serde_json::to_vec(&json!({
            "query": CONSUME,
            "variables": { "i": {
                "tenantId": tenant.public_id,
                "metricCode": METRIC,
                "quantity": QUANTITY,
                "idempotencyKey": format!("{prefix}-{r:07}"),
            } },
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
                    Err(e) => Err((status, format!("HTTP {status}, unreadable body: {e}"))),
                }
            }
            Err(e) => Err((reqwest::StatusCode::OK, format!("transport error: {e}"))),
        };
        out.latencies.push(started.elapsed());
        let (status, v) = match reply {
            Ok(reply) => reply,
            Err((status, message)) => {
                out.server_errors += i64::from(status.is_server_error());
                out.fail(message);
                continue;
            }
        };
        out.server_errors += i64::from(status.is_server_error());
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
        let p = &v["data"]["consumeCredits"];
        if p["replayed"].as_bool() == Some(false) {
            out.spent += 1;
        } else {
            out.refused += 1;
        }
    }
    out
}

/// One spend in one transaction, with the API's statements. `Ok(true)` when credits were
/// taken, `Ok(false)` for a replay, a refusal or a duplicate key.
async fn spend_sql(bench: &Bench, tenant: &Tenant, key: String) -> Result<bool, DbErr> {
    let pg = |sql: &str, values: Vec<sea_orm::Value>| {
        Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
    };
    let txn = bench.sql.begin().await?;
    if txn
        .query_one_raw(pg(
            REPLAY_LOOKUP,
            vec![tenant.id.into(), key.clone().into()],
        ))
        .await?
        .is_some()
    {
        txn.rollback().await?;
        return Ok(false);
    }
    txn.execute_raw(pg(
        ENSURE_WALLET,
        vec![tenant.id.into(), 0i64.into(), 0i64.into(), bench.now.into()],
    ))
    .await?;
    let Some(row) = txn
        .query_one_raw(pg(
            APPLY,
            vec![
                (-COST_MICRO).into(),
                0i64.into(),
                bench.now.into(),
                tenant.id.into(),
                COST_MICRO.into(),
            ],
        ))
        .await?
    else {
        txn.rollback().await?;
        return Ok(false);
    };
    let after: i64 = row.try_get_by_index(0)?;
    let inserted = txn
        .execute_raw(pg(
            INSERT_ENTRY,
            vec![
                Uuid::now_v7().into(),
                tenant.id.into(),
                "consume".into(),
                (-COST_MICRO).into(),
                after.into(),
                Option::<String>::None.into(),
                Some(key).into(),
                Some(METRIC.to_owned()).into(),
                Some(OPERATION.to_owned()).into(),
                Some(QUANTITY).into(),
                bench.now.into(),
            ],
        ))
        .await;
    match inserted {
        Ok(_) => {
            txn.commit().await?;
            Ok(true)
        }
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            txn.rollback().await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Sends the same spends as `api_client` with plain SQL.
async fn sql_client(
    bench: Arc<Bench>,
    tenant: Arc<Tenant>,
    prefix: String,
    requests: usize,
) -> Outcome {
    let mut out = Outcome {
        latencies: Vec::with_capacity(requests),
        ..Outcome::default()
    };
    for r in 0..requests {
        let key = format!("consume:{prefix}-{r:07}");
        let started = Instant::now();
        let done = spend_sql(&bench, &tenant, key).await;
        out.latencies.push(started.elapsed());
        match done {
            Ok(true) => out.spent += 1,
            Ok(false) => out.refused += 1,
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
    requests: usize,
) -> (Duration, Vec<Outcome>) {
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(tenants.len());
    for (c, tenant) in tenants.iter().enumerate() {
        let (bench, tenant) = (bench.clone(), tenant.clone());
        let prefix = format!("{label}-c{c}");
        tasks.push(tokio::spawn(async move {
            match path {
                Path::Api => api_client(bench, tenant, prefix, requests).await,
                Path::Sql => sql_client(bench, tenant, prefix, requests).await,
            }
        }));
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for t in tasks {
        outcomes.push(t.await.expect("client task"));
    }
    (started.elapsed(), outcomes)
}

/// Adds the spends the clients were told of to the per-tenant counts.
fn count(spent: &mut [i64], outcomes: &[Outcome]) {
    for (s, o) in spent.iter_mut().zip(outcomes) {
        *s += o.spent;
    }
}

/// Prints one row of the table; returns the successful spends per second.
fn print_row(path: Path, elapsed: Duration, outcomes: &[Outcome]) -> f64 {
    let mut all = Outcome::default();
    for o in outcomes {
        all.merge(o);
    }
    all.latencies.sort();
    let secs = elapsed.as_secs_f64();
    let per_second = all.spent as f64 / secs;
    let server_errors = match path {
        Path::Api => all.server_errors.to_string(),
        Path::Sql => "-".to_owned(),
    };
    println!(
        "{:<9}  {:>8}  {:>8}  {:>6.1}  {per_second:>8.0}  {:>8.2}  {:>8.2}  {:>8.2}  {:>6}  {server_errors:>4}  {:>7}",
        path.label(),
        all.latencies.len(),
        all.spent,
        secs,
        pct(&all.latencies, 50).as_secs_f64() * 1e3,
        pct(&all.latencies, 99).as_secs_f64() * 1e3,
        all.latencies
            .last()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3,
        all.failures,
        all.refused,
    );
    for m in &all.messages {
        println!("           ! {m}");
    }
    per_second
}

/// Compares each wallet with the grant minus the spends the clients were told of, and with
/// the sum of its ledger; returns the differences.
async fn check(bench: &Bench, tenants: &[Arc<Tenant>], spent: &[i64]) -> Vec<String> {
    let mut problems = Vec::new();
    let sql = "SELECT \
        (SELECT balance_micro FROM wallets WHERE tenant_id = $1) AS balance, \
        (SELECT held_micro FROM wallets WHERE tenant_id = $1) AS held, \
        (SELECT coalesce(sum(amount_micro), 0)::bigint FROM ledger_entries WHERE tenant_id = $1) AS ledger_sum, \
        (SELECT count(*) FROM ledger_entries WHERE tenant_id = $1 AND kind = 'consume') AS consumes";
    for (c, (tenant, spent)) in tenants.iter().zip(spent).enumerate() {
        let row = bench
            .sql
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [tenant.id.into()],
            ))
            .await
            .expect("check query")
            .expect("one row");
        let get = |col: &str| -> i64 {
            row.try_get::<Option<i64>>("", col)
                .expect("check column")
                .unwrap_or(0)
        };
        let balance = get("balance");
        let expected = GRANT_CREDITS * MICRO_PER_CREDIT - spent * COST_MICRO;
        let found = [
            ("balance_micro", balance, expected),
            ("sum of ledger amount_micro", get("ledger_sum"), balance),
            ("consume entries", get("consumes"), *spent),
            ("held_micro", get("held"), 0),
        ];
        for (what, got, want) in found {
            if got != want {
                problems.push(format!("client {c}: {what} = {got}, expected {want}"));
            }
        }
    }
    problems
}

/// A tenant with `GRANT_CREDITS` credits.
async fn create_tenant(app: &BenchApp, slug: &str) -> Tenant {
    let public_id = app.create_tenant(slug).await;
    let data = app
        .admin_gql(
            "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
            json!({ "i": { "tenantId": public_id, "credits": GRANT_CREDITS.to_string(),
                "reason": "benchmark", "idempotencyKey": format!("grant-{slug}") } }),
        )
        .await;
    let balance = data["grantCredits"]["balance"].as_str().unwrap_or("?");
    assert!(
        balance.parse::<f64>().ok() == Some(GRANT_CREDITS as f64),
        "granted balance is {balance}"
    );
    Tenant {
        id: uuid_of(&public_id),
        public_id,
    }
}

#[tokio::main]
async fn main() {
    let database_url = postgres_url();
    let requests: usize = std::env::var("BILLING_BENCH_CONSUME_REQUESTS")
        .ok()
        .map(|s| {
            s.parse()
                .expect("BILLING_BENCH_CONSUME_REQUESTS is a number")
        })
        .unwrap_or(DEFAULT_REQUESTS)
        .max(1);

    let now: DateTime<Utc> = CLOCK_START.parse().expect("clock start");
    let app = BenchApp::start_postgres(&database_url, now).await;
    let sql = app.sql_pool().await;
    let bench = Bench {
        url: app.url.clone(),
        admin: app.admin.clone(),
        http: app.http.clone(),
        sql,
        now,
    };

    app.create_token_metric(METRIC).await;
    let mut tenants = Vec::with_capacity(CLIENTS);
    for c in 0..CLIENTS {
        tenants.push(Arc::new(create_tenant(&app, &format!("bench-c{c}")).await));
    }
    let bench = Arc::new(bench);

    println!(
        "credits consume benchmark: PostgreSQL, cache {}, {} cores, {CLIENTS} clients, {CLIENTS} tenants (one per client), clock frozen at {CLOCK_START}",
        app.state.cache.backend(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "each tenant granted {GRANT_CREDITS} credits; each request spends {QUANTITY} tokens = 1 credit, unique idempotency key; {requests} requests per client per path (+{WARM_UP} warm-up)"
    );
    println!(
        "plain SQL = one transaction per request: replay lookup, wallet ensure, conditional UPDATE ... RETURNING, ledger INSERT (pool of 20, as the app's)"
    );
    println!();
    println!(
        "path       requests     spent       s     req/s    p50 ms    p99 ms    max ms  failed  5xx  refused"
    );

    let mut spent = vec![0i64; CLIENTS];
    // Each path gets warm-up requests per client first (connections, prepared statements).
    let (_, out) = run_phase(&bench, &tenants, Path::Api, "warm", WARM_UP).await;
    count(&mut spent, &out);
    let (elapsed, out) = run_phase(&bench, &tenants, Path::Api, "api", requests).await;
    let api = print_row(Path::Api, elapsed, &out);
    count(&mut spent, &out);

    let (_, out) = run_phase(&bench, &tenants, Path::Sql, "warm-sql", WARM_UP).await;
    count(&mut spent, &out);
    let (elapsed, out) = run_phase(&bench, &tenants, Path::Sql, "sql", requests).await;
    let plain = print_row(Path::Sql, elapsed, &out);
    count(&mut spent, &out);

    println!();
    println!(
        "api / plain SQL (spends/s): {:.3}  (plain SQL {:.1}x faster)",
        api / plain,
        plain / api
    );
    let problems = check(&bench, &tenants, &spent).await;
    if problems.is_empty() {
        println!(
            "ledger matches balances: every balance = granted - spends the clients were told of = sum of its ledger ({} spends in all)",
            spent.iter().sum::<i64>()
        );
    } else {
        println!("balances differ from the ledger or from what the clients were told:");
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
