//! Usage ingestion throughput: `recordUsage` over real HTTP against PostgreSQL, at batches of
//! 1, 10, 100 and 1,000 events, next to two SQL baselines measured in the same run (see
//! `common/usage_sql.rs`): the plain SQL (one transaction: the events' multi-row insert and
//! the total's upsert) and the best SQL (both as one statement). Printed, never asserted,
//! except exactness: the run exits non-zero if the stored events, totals or block charges
//! differ from what the clients were told.
//!
//! Run: `cargo bench --bench usage_ingestion` (release build).
//!
//! - `BILLING_BENCH_DATABASE_URL`: PostgreSQL (default
//!   `postgres://postgres@127.0.0.1:5432/billing_bench`). The database is created if missing;
//!   each run works in a schema of its own, dropped at the end (kept when the check fails).
//! - `BILLING_BENCH_REDIS_URL`: optional, puts the cache in Redis.
//! - `BILLING_BENCH_EVENTS_SCALE`: optional factor on the events of each scenario (default 1).
//!
//! 8 clients. Scenarios: one tenant per client at each batch size, and one hot tenant shared
//! by the 8 clients at batches of 1 and 100 (its reports take turns on the tenant's lock).
//! Each is sent as first attempts (unique keys), then as replays (the same batches again:
//! all duplicates), for the API and both baselines, after one warm-up batch per client. Every
//! scenario has fresh tenants on the seed token plan (fee 40000 including 8,000,000 tokens;
//! BLOCK IMMEDIATELY, 8,000,000 at 10000), each reporting about 30M tokens through the API
//! (three blocks charged and invoiced along the way). The clock stands still and the
//! background jobs are off. The benchmark never runs `ANALYZE`: the API's figures at large
//! batches depend on the planner's statistics for `usage_events`.
#[path = "common/mod.rs"]
mod common;
#[path = "common/usage_sql.rs"]
mod usage_sql;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::client::post;
use common::stats::{Attempt, Figures, Outcome, SummaryRow, conclude, print_header, print_row};
use common::{BenchApp, Path, env_number, postgres_url, uuid_of};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use usage_sql::{BatchSql, Target};

const CLIENTS: usize = 8;
const CLOCK_START: &str = "2026-03-01T00:00:00Z";
const METRIC: &str = "tokens";
const PLAN: &str = "tokens-400";
const INCLUDED: i64 = 8_000_000;
const BLOCK: i64 = 8_000_000;
const BLOCK_PRICE_MINOR: i64 = 10_000;
/// Tokens each tenant reports through the API: a little under 8M included + 3 blocks.
const TOKENS_PER_TENANT: i64 = 30_000_000;
const PATHS: [Path; 3] = [Path::Api, Path::Sql, Path::Best];
/// Batch size, tenants (one per client, or one hot tenant for all), events sent by each path
/// and attempt (all clients together).
const SCENARIOS: [(usize, usize, usize); 6] = [
    (1, CLIENTS, 12_000),
    (1, 1, 12_000),
    (10, CLIENTS, 40_000),
    (100, CLIENTS, 120_000),
    (100, 1, 120_000),
    (1_000, CLIENTS, 400_000),
];

const RECORD_USAGE: &str = "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { \
    accepted duplicates rejected blockCharges { id } invoice { id } } }";

struct Tenant {
    public_id: String,
    target: Target,
}

/// Everything the clients share.
struct Bench {
    url: String,
    admin: String,
    http: reqwest::Client,
    sql: DatabaseConnection,
    metric: uuid::Uuid,
    now: DateTime<Utc>,
}

/// One phase: a path sending `requests` batches of `batch` events of `quantity` per client.
#[derive(Clone, Copy)]
struct Phase {
    path: Path,
    batch: usize,
    requests: usize,
    quantity: i64,
}

async fn api_batch(
    bench: &Bench,
    tenant: &Tenant,
    keys: Vec<String>,
    quantity: i64,
    out: &mut Outcome,
) {
    let events: Vec<Value> = keys
        .into_iter()
        .map(|k| json!({ "metricCode": METRIC, "quantity": quantity, "idempotencyKey": k }))
        .collect();
    let body = serde_json::to_vec(&json!({
        "query": RECORD_USAGE,
        "variables": { "i": { "tenantId": tenant.public_id, "events": events } },
    }))
    .expect("request body");
    match post(&bench.http, &bench.url, &bench.admin, body).await {
        Ok(data) => {
            let p = &data["recordUsage"];
            out.charged += p["accepted"].as_i64().unwrap_or(0);
            out.replayed += p["duplicates"].as_i64().unwrap_or(0);
            out.refused += p["rejected"].as_i64().unwrap_or(0);
            out.blocks += p["blockCharges"].as_array().map_or(0, |a| a.len() as i64);
            out.invoices += i64::from(!p["invoice"].is_null());
        }
        Err(f) => {
            out.server_errors += i64::from(f.server_error);
            out.fail(f.message);
        }
    }
}

/// Sends one client's batches for one tenant.
async fn client(bench: Arc<Bench>, tenant: Arc<Tenant>, prefix: String, phase: Phase) -> Outcome {
    let mut out = Outcome::with_capacity(phase.requests);
    let sql = BatchSql::new(phase.batch);
    for r in 0..phase.requests {
        let keys = (0..phase.batch).map(|i| format!("{prefix}-{:07}", r * phase.batch + i));
        let started = Instant::now();
        let written = match phase.path {
            Path::Api => {
                api_batch(&bench, &tenant, keys.collect(), phase.quantity, &mut out).await;
                None
            }
            Path::Sql => {
                let values = sql.event_values(&tenant.target, keys, phase.quantity, bench.now);
                Some(
                    sql.write_plain(
                        &bench.sql,
                        &tenant.target,
                        values,
                        phase.quantity,
                        bench.now,
                    )
                    .await,
                )
            }
            Path::Best => {
                let values = sql.event_values(&tenant.target, keys, phase.quantity, bench.now);
                Some(
                    sql.write_best(&bench.sql, &tenant.target, values, bench.now)
                        .await,
                )
            }
        };
        out.latencies.push(started.elapsed());
        match written {
            None => {}
            Some(Ok(inserted)) => {
                out.charged += inserted;
                out.replayed += phase.batch as i64 - inserted;
            }
            Some(Err(e)) => out.fail(format!("SQL failed: {e}")),
        }
    }
    out
}

/// Runs the clients at once, client `c` on tenant `c % tenants`, with keys named by `keys`
/// (the same `keys` again replays them); returns the wall time and each client's outcome.
async fn run_phase(
    bench: &Arc<Bench>,
    tenants: &[Arc<Tenant>],
    keys: &str,
    phase: Phase,
) -> (Duration, Vec<Outcome>) {
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(CLIENTS);
    for c in 0..CLIENTS {
        let tenant = tenants[c % tenants.len()].clone();
        let prefix = format!("{keys}-{}-c{c}", phase.path.label().replace(' ', ""));
        tasks.push(tokio::spawn(client(bench.clone(), tenant, prefix, phase)));
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for t in tasks {
        outcomes.push(t.await.expect("client task"));
    }
    (started.elapsed(), outcomes)
}

/// What the clients were told was stored, per tenant.
#[derive(Clone, Copy, Default)]
struct Tally {
    events: i64,
    quantity: i64,
    api_quantity: i64,
    api_blocks: i64,
}

fn count(tallies: &mut [Tally], outcomes: &[Outcome], phase: Phase, attempt: Attempt) {
    let n = tallies.len();
    for (c, o) in outcomes.iter().enumerate() {
        let t = &mut tallies[c % n];
        t.events += o.charged;
        t.quantity += o.charged * phase.quantity;
        if phase.path == Path::Api {
            t.api_quantity += o.charged * phase.quantity;
            // A duplicate answers the block charges its first event caused: count them once.
            if attempt == Attempt::First {
                t.api_blocks += o.blocks;
            }
        }
    }
}

fn blocks_due(usage: i64) -> i64 {
    if usage <= INCLUDED {
        0
    } else {
        (usage - INCLUDED + BLOCK - 1) / BLOCK
    }
}

/// Compares each tenant's stored usage with what the clients were told; returns the
/// differences. Blocks are due on the API's tokens only (the baselines charge none, and all
/// of a tenant's API events come first): `ceil((usage - included) / block)` at the block price.
async fn check(
    bench: &Bench,
    name: &str,
    tenants: &[Arc<Tenant>],
    tallies: &[Tally],
) -> Vec<String> {
    let sql = "SELECT \
        (SELECT quantity FROM usage_totals WHERE subscription_id = $1 AND metric_id = $2 AND cycle = $3) AS total_quantity, \
        (SELECT events FROM usage_totals WHERE subscription_id = $1 AND metric_id = $2 AND cycle = $3) AS total_events, \
        (SELECT count(*) FROM usage_events WHERE subscription_id = $1 AND metric_id = $2 AND cycle = $3) AS row_count, \
        (SELECT coalesce(sum(quantity), 0)::bigint FROM usage_events WHERE subscription_id = $1 AND metric_id = $2 AND cycle = $3) AS row_quantity, \
        (SELECT count(DISTINCT block_index) FROM block_charges WHERE subscription_id = $1 AND metric_id = $2 AND cycle = $3) AS blocks, \
        (SELECT coalesce(max(block_index), 0)::bigint FROM block_charges WHERE subscription_id = $1 AND metric_id = $2 AND cycle = $3) AS last_block, \
        (SELECT coalesce(sum(amount_minor), 0)::bigint FROM block_charges WHERE subscription_id = $1 AND metric_id = $2 AND cycle = $3) AS charged";
    let mut problems = Vec::new();
    for (tenant, tally) in tenants.iter().zip(tallies) {
        let t = &tenant.target;
        let values = [t.subscription.into(), bench.metric.into(), t.cycle.into()];
        let stmt = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
        let row = bench
            .sql
            .query_one_raw(stmt)
            .await
            .expect("check query")
            .expect("one row");
        let get = |col: &str| -> i64 {
            row.try_get::<Option<i64>>("", col)
                .expect("check column")
                .unwrap_or(0)
        };
        let blocks = blocks_due(tally.api_quantity);
        let found = [
            (
                "usage_totals.quantity",
                get("total_quantity"),
                tally.quantity,
            ),
            ("usage_totals.events", get("total_events"), tally.events),
            ("usage_events rows", get("row_count"), tally.events),
            ("usage_events quantity", get("row_quantity"), tally.quantity),
            ("block charges", get("blocks"), blocks),
            ("highest block index", get("last_block"), blocks),
            (
                "block charges amount_minor",
                get("charged"),
                blocks * BLOCK_PRICE_MINOR,
            ),
            ("block charges reported", tally.api_blocks, blocks),
        ];
        for (what, got, want) in found {
            if got != want {
                problems.push(format!(
                    "{name} tenant {}: {what} = {got}, expected {want}",
                    tenant.public_id
                ));
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

async fn create_tenant(app: &BenchApp, metric: uuid::Uuid, slug: &str) -> Arc<Tenant> {
    let public_id = app.create_tenant(slug).await;
    let data = app
        .admin_gql(
            "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) { \
             subscription { id cycle currentPeriodStart currentPeriodEnd } } }",
            json!({ "i": { "tenantId": public_id, "planCode": PLAN } }),
        )
        .await;
    let s = &data["createSubscription"]["subscription"];
    Arc::new(Tenant {
        target: Target {
            tenant: uuid_of(&public_id),
            subscription: uuid_of(s["id"].as_str().expect("subscription id")),
            metric,
            cycle: s["cycle"]
                .as_i64()
                .and_then(|c| i32::try_from(c).ok())
                .expect("cycle"),
            period_start: time_of(&s["currentPeriodStart"]),
            period_end: time_of(&s["currentPeriodEnd"]),
        },
        public_id,
    })
}

#[tokio::main]
async fn main() {
    let database_url = postgres_url();
    let scale: f64 = env_number("BILLING_BENCH_EVENTS_SCALE", 1.0);
    let now: DateTime<Utc> = CLOCK_START.parse().expect("clock start");
    let app = BenchApp::start_postgres(&database_url, now).await;
    let metric = uuid_of(&app.create_token_metric(METRIC).await);
    app.admin_gql(
        "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
        json!({ "i": {
            "code": PLAN, "name": "Tokens 400", "monthlyPriceMinor": 40_000, "trialDays": 0,
            "charges": [{ "metricCode": METRIC, "timing": "IMMEDIATELY", "model": "BLOCK",
                "includedUnits": INCLUDED, "blockSize": BLOCK, "blockPriceMinor": BLOCK_PRICE_MINOR }],
        } }),
    )
    .await;
    let bench = Arc::new(Bench {
        url: app.url.clone(),
        admin: app.admin.clone(),
        http: app.http.clone(),
        sql: app.sql_pool().await,
        metric,
        now,
    });

    println!(
        "usage ingestion benchmark: PostgreSQL, cache {}, {} cores, {CLIENTS} clients, one tenant each or one hot tenant for all; clock frozen at {CLOCK_START}",
        app.state.cache.backend(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "plain SQL = one transaction per batch: multi-row INSERT ... ON CONFLICT DO NOTHING + usage_totals upsert; best SQL = both in one statement (CTE)"
    );
    println!("replay = the same batches again (all duplicates); latencies are per request (batch)");
    println!();
    print_header("events");

    let mut summary = Vec::new();
    let mut problems = Vec::new();
    for (s, (batch, tenant_count, events)) in SCENARIOS.into_iter().enumerate() {
        let requests =
            (((events as f64 * scale) / (CLIENTS * batch) as f64).round() as usize).max(1);
        let per_tenant = (requests * batch * CLIENTS / tenant_count) as i64;
        let quantity = (TOKENS_PER_TENANT / per_tenant).max(1);
        let mut tenants = Vec::with_capacity(tenant_count);
        for t in 0..tenant_count {
            tenants.push(create_tenant(&app, metric, &format!("bench-s{s}-t{t}")).await);
        }
        let name = match tenant_count {
            1 => format!("batch {batch}, hot tenant"),
            _ => format!("batch {batch}"),
        };
        let mut tallies = vec![Tally::default(); tenant_count];
        let mut figures = [[Figures::default(); 3]; 2];
        // Every API phase comes before the baselines', whose totals charge no blocks.
        for (p, path) in PATHS.into_iter().enumerate() {
            let warm = Phase {
                path,
                batch,
                requests: 1,
                quantity,
            };
            let (_, out) = run_phase(&bench, &tenants, &format!("warm-s{s}"), warm).await;
            count(&mut tallies, &out, warm, Attempt::First);
            for (a, attempt) in [Attempt::First, Attempt::Replay].into_iter().enumerate() {
                let phase = Phase {
                    path,
                    batch,
                    requests,
                    quantity,
                };
                let (elapsed, out) = run_phase(&bench, &tenants, &format!("s{s}"), phase).await;
                let row = format!("{name}: {}", attempt.label());
                figures[a][p] = print_row(&row, path, attempt, elapsed, &out);
                count(&mut tallies, &out, phase, attempt);
                let again: i64 = out.iter().map(|o| o.charged).sum();
                if attempt == Attempt::Replay && again > 0 {
                    problems.push(format!(
                        "{row}, {}: {again} replayed events stored again",
                        path.label()
                    ));
                }
            }
        }
        for (a, attempt) in [Attempt::First, Attempt::Replay].into_iter().enumerate() {
            let [api, plain, best] = figures[a];
            summary.push(SummaryRow {
                scenario: format!("{name}: {}", attempt.label()),
                api,
                plain,
                best,
            });
        }
        problems.extend(check(&bench, &name, &tenants, &tallies).await);
    }

    common::stats::print_summary("events", &summary);
    // Rows in SCENARIOS order, first attempt then replay: batch 1, batch 1 hot, ...
    let first = |row: usize| summary[2 * row].api.per_second;
    println!();
    println!(
        "hot tenant / 8 tenants (API, first attempts): batch 1 {:.3}, batch 100 {:.3}",
        first(1) / first(0),
        first(4) / first(3),
    );
    conclude(
        "exact: stored events, totals and block charges (count, indices, amounts = the formula) match what the clients were told; no replay stored",
        &problems,
        &app.whereabouts(),
    );
    if let Ok(bench) = Arc::try_unwrap(bench) {
        let _ = bench.sql.close().await;
    }
    app.finish().await;
}
