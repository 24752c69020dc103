//! Credit throughput against PostgreSQL at 32 concurrent clients, over real HTTP, next to two
//! SQL baselines measured in the same run (see `common/credits_sql.rs`): the plain SQL the API
//! runs for the move, and the best SQL, one statement per call. Printed, never asserted,
//! except exactness: the run exits non-zero if a balance differs from its ledger or from what
//! the clients were told.
//!
//! Run: `cargo bench --bench credits_consume` (release build).
//!
//! - `BILLING_BENCH_DATABASE_URL`: PostgreSQL (default
//!   `postgres://postgres@127.0.0.1:5432/billing_bench`). The database is created if missing;
//!   each run works in a schema of its own, dropped at the end (kept when the check fails).
//! - `BILLING_BENCH_REDIS_URL`: optional, puts the cache in Redis.
//! - `BILLING_BENCH_CONSUME_REQUESTS`: operations per client per phase (default 300).
//!
//! Scenarios, each with 32 clients: `hot`, one tenant shared by all clients (one big
//! customer: every call updates the same wallet row), and `32 tenants`, one tenant per
//! client. In each: `consumeCredits` of 1,000 tokens (1 credit), and `reserveCredits` of 2,000
//! tokens followed by `settleCredits` of 1,000 (a pair: 2 credits held, 1 given back). Each is
//! run as first attempts (unique idempotency keys), then as replays (the same keys again: the
//! same reservation key, the same hold settled again with the same quantity), for the API and
//! both baselines, after 20 warm-up operations per client. Set-up as admin over GraphQL: a SUM
//! metric `tokens` (no plan: 1 credit per 1,000 tokens) and 33 tenants with 10,000,000
//! credits granted each. The clock stands still and the background jobs are off.
#[path = "common/mod.rs"]
mod common;
#[path = "common/credits_sql.rs"]
mod credits_sql;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::client::{Failed, post};
use common::stats::{Attempt, Figures, Outcome, SummaryRow, conclude, print_header, print_row};
use common::{BenchApp, Path, env_number, postgres_url, uuid_of};
use credits_sql::{Answer, METRIC};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::json;
use uuid::Uuid;

const CLIENTS: usize = 32;
const WARM_UP: usize = 20;
const CLOCK_START: &str = "2026-03-01T00:00:00Z";
/// Credits granted to each tenant: far more than the run spends, so no spend is refused and
/// the low-balance alert never fires.
const GRANT_CREDITS: i64 = 10_000_000;
const PATHS: [Path; 3] = [Path::Api, Path::Sql, Path::Best];

const CONSUME: &str = "mutation($i: ConsumeCreditsInput!) { consumeCredits(input: $i) { \
    entry { id amount } balance replayed } }";
const RESERVE: &str = "mutation($i: ReserveCreditsInput!) { reserveCredits(input: $i) { \
    hold { id } balance replayed } }";
const SETTLE: &str = "mutation($i: SettleCreditsInput!) { settleCredits(input: $i) { \
    balance replayed } }";

struct Tenant {
    public_id: String,
    id: Uuid,
}

struct Scenario {
    name: &'static str,
    tenants: Vec<Arc<Tenant>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Consume,
    Pair,
}

impl Op {
    fn label(self) -> &'static str {
        match self {
            Op::Consume => "consume",
            Op::Pair => "reserve+settle",
        }
    }

    /// For idempotency keys.
    fn slug(self) -> &'static str {
        match self {
            Op::Consume => "consume",
            Op::Pair => "pair",
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

type Call = Result<Answer, Failed>;

fn answer(replayed: Option<bool>) -> Answer {
    match replayed {
        Some(false) => Answer::New,
        Some(true) => Answer::Replayed,
        None => Answer::Refused,
    }
}

fn db_failed(e: sea_orm::DbErr) -> Failed {
    Failed {
        message: format!("SQL failed: {e}"),
        server_error: false,
        code: None,
    }
}

/// One pair's answer from its two calls: both new, or both replayed; anything else fails.
fn pair(reserve: Answer, settle: Answer) -> Call {
    match (reserve, settle) {
        (Answer::New, Answer::New) => Ok(Answer::New),
        (Answer::Replayed, Answer::Replayed) => Ok(Answer::Replayed),
        (r, s) => Err(Failed {
            message: format!("reserve answered {r:?}, settle {s:?}"),
            server_error: false,
            code: None,
        }),
    }
}

async fn api_call(
    bench: &Bench,
    query: &str,
    input: serde_json::Value,
) -> Result<serde_json::Value, Failed> {
    let body = serde_json::to_vec(&json!({ "query": query, "variables": { "i": input } }))
        .expect("request body");
    post(&bench.http, &bench.url, &bench.admin, body).await
}

async fn api_op(bench: &Bench, op: Op, tenant: &Tenant, key: String) -> Call {
    if op == Op::Consume {
        let input = json!({ "tenantId": tenant.public_id, "metricCode": METRIC,
            "quantity": credits_sql::CONSUME_QUANTITY, "idempotencyKey": key });
        let data = api_call(bench, CONSUME, input).await?;
        return Ok(answer(data["consumeCredits"]["replayed"].as_bool()));
    }
    let input = json!({ "tenantId": tenant.public_id, "metricCode": METRIC,
        "quantity": credits_sql::RESERVE_QUANTITY, "idempotencyKey": key,
        "ttlSeconds": credits_sql::HOLD_TTL_SECONDS });
    let data = api_call(bench, RESERVE, input).await?;
    let reserved = answer(data["reserveCredits"]["replayed"].as_bool());
    let hold = data["reserveCredits"]["hold"]["id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let input = json!({ "holdId": hold, "actualQuantity": credits_sql::SETTLE_QUANTITY });
    let data = api_call(bench, SETTLE, input).await?;
    pair(
        reserved,
        answer(data["settleCredits"]["replayed"].as_bool()),
    )
}

async fn sql_op(bench: &Bench, path: Path, op: Op, tenant: &Tenant, key: String) -> Call {
    let (db, now, best) = (&bench.sql, bench.now, path == Path::Best);
    if op == Op::Consume {
        let done = if best {
            credits_sql::consume_best(db, tenant.id, &key, now).await
        } else {
            credits_sql::consume_plain(db, tenant.id, &key, now).await
        };
        return done.map_err(db_failed);
    }
    let reserved = if best {
        credits_sql::reserve_best(db, tenant.id, &key, now).await
    } else {
        credits_sql::reserve_plain(db, tenant.id, &key, now).await
    };
    let (reserved, hold) = reserved.map_err(db_failed)?;
    let Some(hold) = hold else {
        return Ok(Answer::Refused);
    };
    let settled = if best {
        credits_sql::settle_best(db, hold, now).await
    } else {
        credits_sql::settle_plain(db, hold, now).await
    };
    pair(reserved, settled.map_err(db_failed)?)
}

/// Sends `requests` operations for one tenant by one path.
async fn client(
    bench: Arc<Bench>,
    path: Path,
    op: Op,
    tenant: Arc<Tenant>,
    prefix: String,
    requests: usize,
) -> Outcome {
    let mut out = Outcome::with_capacity(requests);
    for r in 0..requests {
        let key = format!("{prefix}-{r:07}");
        let started = Instant::now();
        let done = match path {
            Path::Api => api_op(&bench, op, &tenant, key).await,
            _ => sql_op(&bench, path, op, &tenant, key).await,
        };
        out.latencies.push(started.elapsed());
        match done {
            Ok(Answer::New) => out.charged += 1,
            Ok(Answer::Replayed) => out.replayed += 1,
            Ok(Answer::Refused) => out.refused += 1,
            Err(f) => {
                out.server_errors += i64::from(f.server_error);
                out.fail(f.message);
            }
        }
    }
    out
}

/// Runs the clients at once, client `c` on tenant `c % tenants`, with keys named by `keys`
/// (the same `keys` again replays them); returns the wall time and each client's outcome.
async fn run_phase(
    bench: &Arc<Bench>,
    scenario: &Scenario,
    path: Path,
    op: Op,
    keys: &str,
    requests: usize,
) -> (Duration, Vec<Outcome>) {
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(CLIENTS);
    for c in 0..CLIENTS {
        let tenant = scenario.tenants[c % scenario.tenants.len()].clone();
        let prefix = format!("{keys}-{}-{c}", path.label().replace(' ', ""));
        let bench = bench.clone();
        tasks.push(tokio::spawn(client(
            bench, path, op, tenant, prefix, requests,
        )));
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for t in tasks {
        outcomes.push(t.await.expect("client task"));
    }
    (started.elapsed(), outcomes)
}

/// Operations that moved credits, per tenant: spends and settled pairs.
#[derive(Clone, Copy, Default)]
struct Tally {
    consumes: i64,
    pairs: i64,
}

fn count(tallies: &mut [Tally], op: Op, outcomes: &[Outcome]) {
    let n = tallies.len();
    for (c, o) in outcomes.iter().enumerate() {
        let t = &mut tallies[c % n];
        match op {
            Op::Consume => t.consumes += o.charged,
            Op::Pair => t.pairs += o.charged,
        }
    }
}

/// Compares each wallet with the grant minus what the clients were told was spent, and with
/// the sum of its ledger; every hold must be settled. Returns the differences.
async fn check(bench: &Bench, scenario: &Scenario, tallies: &[Tally]) -> Vec<String> {
    let sql = "SELECT \
        (SELECT balance_micro FROM wallets WHERE tenant_id = $1) AS balance, \
        (SELECT held_micro FROM wallets WHERE tenant_id = $1) AS held, \
        (SELECT coalesce(sum(amount_micro), 0)::bigint FROM ledger_entries WHERE tenant_id = $1) AS ledger_sum, \
        (SELECT count(*) FROM ledger_entries WHERE tenant_id = $1 AND kind = 'consume') AS consumes, \
        (SELECT count(*) FROM ledger_entries WHERE tenant_id = $1 AND kind = 'hold') AS holds, \
        (SELECT count(*) FROM ledger_entries WHERE tenant_id = $1 AND kind = 'settle') AS settles, \
        (SELECT count(*) FROM credit_holds WHERE tenant_id = $1 AND status <> 'settled') AS open_holds";
    let mut problems = Vec::new();
    for (tenant, tally) in scenario.tenants.iter().zip(tallies) {
        let stmt = Statement::from_sql_and_values(DbBackend::Postgres, sql, [tenant.id.into()]);
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
        let balance = get("balance");
        let spent =
            tally.consumes * credits_sql::CONSUME_MICRO + tally.pairs * credits_sql::SETTLE_MICRO;
        let expected = GRANT_CREDITS * credits_sql::MICRO_PER_CREDIT - spent;
        let found = [
            ("balance_micro", balance, expected),
            ("sum of ledger amount_micro", get("ledger_sum"), balance),
            ("held_micro", get("held"), 0),
            ("consume entries", get("consumes"), tally.consumes),
            ("hold entries", get("holds"), tally.pairs),
            ("settle entries", get("settles"), tally.pairs),
            ("holds not settled", get("open_holds"), 0),
        ];
        for (what, got, want) in found {
            if got != want {
                problems.push(format!(
                    "{} tenant {}: {what} = {got}, expected {want}",
                    scenario.name, tenant.public_id
                ));
            }
        }
    }
    problems
}

/// A tenant with `GRANT_CREDITS` credits.
async fn create_tenant(app: &BenchApp, slug: &str) -> Arc<Tenant> {
    let public_id = app.create_tenant(slug).await;
    app.admin_gql(
        "mutation($i: AdjustCreditsInput!) { grantCredits(input: $i) { balance } }",
        json!({ "i": { "tenantId": public_id, "credits": GRANT_CREDITS.to_string(),
            "reason": "benchmark", "idempotencyKey": format!("grant-{slug}") } }),
    )
    .await;
    Arc::new(Tenant {
        id: uuid_of(&public_id),
        public_id,
    })
}

#[tokio::main]
async fn main() {
    let database_url = postgres_url();
    let requests: usize = env_number("BILLING_BENCH_CONSUME_REQUESTS", 300).max(1);
    let now: DateTime<Utc> = CLOCK_START.parse().expect("clock start");
    let app = BenchApp::start_postgres(&database_url, now).await;
    let bench = Arc::new(Bench {
        url: app.url.clone(),
        admin: app.admin.clone(),
        http: app.http.clone(),
        sql: app.sql_pool().await,
        now,
    });
    app.create_token_metric(METRIC).await;
    let mut spread = Vec::with_capacity(CLIENTS);
    for c in 0..CLIENTS {
        spread.push(create_tenant(&app, &format!("bench-c{c}")).await);
    }
    let scenarios = [
        Scenario {
            name: "hot",
            tenants: vec![create_tenant(&app, "bench-hot").await],
        },
        Scenario {
            name: "32 tenants",
            tenants: spread,
        },
    ];

    println!(
        "credits benchmark: PostgreSQL, cache {}, {} cores, {CLIENTS} clients; hot = 1 tenant for all clients, 32 tenants = one per client; clock frozen at {CLOCK_START}",
        app.state.cache.backend(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "ops: consume = consumeCredits of 1 credit; reserve+settle = reserveCredits of 2 credits then settleCredits of 1 (latency of the pair); {requests} ops per client per phase (+{WARM_UP} warm-up); replay = the same keys again"
    );
    println!(
        "plain SQL = the API's statements for the move in one transaction; best SQL = one statement per call (CTE); pools of 20, as the app's"
    );
    println!();
    print_header("ops");

    let mut summary = Vec::new();
    let mut problems = Vec::new();
    let mut first_api = Vec::new();
    for scenario in &scenarios {
        let mut tallies = vec![Tally::default(); scenario.tenants.len()];
        for op in [Op::Consume, Op::Pair] {
            let mut figures = [[Figures::default(); 3]; 2];
            for (p, path) in PATHS.into_iter().enumerate() {
                let keys = format!("{}-{}", scenario.name.replace(' ', ""), op.slug());
                let (_, out) =
                    run_phase(&bench, scenario, path, op, &format!("warm-{keys}"), WARM_UP).await;
                count(&mut tallies, op, &out);
                for (a, attempt) in [Attempt::First, Attempt::Replay].into_iter().enumerate() {
                    let (elapsed, out) =
                        run_phase(&bench, scenario, path, op, &keys, requests).await;
                    let name = format!("{}: {} {}", scenario.name, op.label(), attempt.label());
                    figures[a][p] = print_row(&name, path, attempt, elapsed, &out);
                    count(&mut tallies, op, &out);
                    let again: i64 = out.iter().map(|o| o.charged).sum();
                    if attempt == Attempt::Replay && again > 0 {
                        problems.push(format!(
                            "{name}, {}: {again} replays moved credits again",
                            path.label()
                        ));
                    }
                }
            }
            for (a, attempt) in [Attempt::First, Attempt::Replay].into_iter().enumerate() {
                let [api, plain, best] = figures[a];
                summary.push(SummaryRow {
                    scenario: format!("{}: {} {}", scenario.name, op.label(), attempt.label()),
                    api,
                    plain,
                    best,
                });
            }
            first_api.push(figures[0][0].per_second);
        }
        problems.extend(check(&bench, scenario, &tallies).await);
    }

    common::stats::print_summary("ops", &summary);
    println!();
    println!(
        "hot / 32 tenants (API, first attempts): consume {:.3}, reserve+settle {:.3}",
        first_api[0] / first_api[2],
        first_api[1] / first_api[3],
    );
    conclude(
        "exact: every balance = granted - what the clients were told was spent = sum of its ledger; no credits held; every hold settled once; no replay charged",
        &problems,
        &app.whereabouts(),
    );
    if let Ok(bench) = Arc::try_unwrap(bench) {
        let _ = bench.sql.close().await;
    }
    app.finish().await;
}
