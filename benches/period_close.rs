//! The period close at scale: 10,000 tenants whose monthly subscriptions renew at the same
//! instant, renewed by one run of the billing jobs through the clock. Prints invoices per
//! second and the memory the app process used, then checks every tenant got exactly one
//! renewal invoice with the right lines and total; a mismatch exits non-zero with the ids.
//!
//! Run: `cargo bench --bench period_close` (release build).
//!
//! - `BILLING_BENCH_DATABASE_URL`: PostgreSQL (default
//!   `postgres://postgres@127.0.0.1:5432/billing_bench`). The database is created if missing;
//!   the run works in a schema of its own, dropped at the end (kept when the check fails).
//! - `BILLING_BENCH_REDIS_URL`: optional, puts the cache in Redis.
//! - `BILLING_BENCH_TENANTS`: tenants (default 10,000).
//!
//! Set-up as admin over GraphQL, 16 requests at a time, with the clock standing at
//! 2026-03-01T00:00:00Z: a SUM metric `calls`, a fee-only plan (R$ 99,00), a plan with a fee
//! (R$ 199,00) and a period-end UNIT charge of 0.25 centavo per call, and a coupon of 15%
//! FOREVER. Tenant i subscribes monthly without a trial: even tenants to the usage plan,
//! reporting `1,000 + 37i mod 5,000` calls (usage in arrears), odd ones to the fee-only plan;
//! every third tenant with the coupon. The first cycle's invoice is marked paid, so the close
//! finds nothing overdue. Then the clock moves to 2026-04-01T00:00:00Z through
//! `jobs::advance_clock` (what `advanceClock` runs, without the HTTP request timeout) and the
//! jobs renew every subscription. Expected renewal invoice: fee + round(calls x 0.25), less
//! round(15%) with the coupon, halves away from zero.
#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use billing::auth::Actor;
use billing::domain::Role;
use billing::jobs::ClockMove;
use chrono::{DateTime, Utc};
use common::{BenchApp, env_number, postgres_url, uuid_of};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use uuid::Uuid;

const CLOCK_START: &str = "2026-03-01T00:00:00Z";
const RENEWAL: &str = "2026-04-01T00:00:00Z";
const SETUP_CONCURRENCY: usize = 16;
const METRIC: &str = "calls";
const FEE_PLAN: &str = "close-fee";
const FEE_ONLY_MINOR: i64 = 9_900;
const USAGE_PLAN: &str = "close-usage";
const USAGE_FEE_MINOR: i64 = 19_900;
/// 0.25 centavo per call.
const UNIT_PRICE: &str = "0.25";
const COUPON: &str = "CLOSE15";
const PERCENT_OFF: i64 = 15;

/// Halves away from zero, for non-negative `n`.
fn div_round(n: i64, d: i64) -> i64 {
    (2 * n + d) / (2 * d)
}

/// What tenant `i` reports and gets.
#[derive(Clone, Copy)]
struct Expect {
    calls: Option<i64>,
    coupon: bool,
}

impl Expect {
    fn of(i: usize) -> Expect {
        Expect {
            calls: i.is_multiple_of(2).then(|| 1_000 + (37 * i as i64) % 5_000),
            coupon: i.is_multiple_of(3),
        }
    }

    /// (lines, subtotal, discount, total) of the renewal invoice.
    fn invoice(self) -> (i64, i64, i64, i64) {
        let (fee, usage) = match self.calls {
            Some(calls) => (USAGE_FEE_MINOR, Some(div_round(calls * 25, 100))),
            None => (FEE_ONLY_MINOR, None),
        };
        let subtotal = fee + usage.unwrap_or(0);
        let discount = if self.coupon {
            div_round(subtotal * PERCENT_OFF, 100)
        } else {
            0
        };
        (
            1 + i64::from(usage.is_some()),
            subtotal,
            discount,
            subtotal - discount,
        )
    }
}

/// A set-up request as admin, sent again while the app answers `UNAVAILABLE`.
async fn gql(app: &BenchApp, query: &str, variables: serde_json::Value) -> serde_json::Value {
    let body = json!({ "query": query, "variables": variables });
    common::client::set_up(&app.http, &app.url, &app.admin, &body).await
}

/// Creates tenant `i`, subscribes it, pays its first invoice and reports its usage.
async fn set_up(app: &BenchApp, i: usize) -> Uuid {
    let e = Expect::of(i);
    let slug = format!("close-{i}");
    let data = gql(
        app,
        "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }",
        json!({ "i": { "name": slug, "slug": slug, "billingEmail": format!("billing@{slug}.example.com") } }),
    )
    .await;
    let tenant = data["createTenant"]["tenant"]["id"]
        .as_str()
        .expect("tenant id")
        .to_owned();
    let plan = if e.calls.is_some() {
        USAGE_PLAN
    } else {
        FEE_PLAN
    };
    let coupon = e.coupon.then_some(COUPON);
    let data = gql(
        app,
        "mutation($i: CreateSubscriptionInput!) { createSubscription(input: $i) { invoice { id } } }",
        json!({ "i": { "tenantId": tenant, "planCode": plan, "couponCode": coupon, "idempotencyKey": slug } }),
    )
    .await;
    let invoice = data["createSubscription"]["invoice"]["id"]
        .as_str()
        .expect("first invoice");
    gql(
        app,
        "mutation($id: ID!) { markInvoicePaid(id: $id) { id } }",
        json!({ "id": invoice }),
    )
    .await;
    if let Some(calls) = e.calls {
        let data = gql(
            app,
            "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { accepted duplicates } }",
            json!({ "i": { "tenantId": tenant, "events": [
                { "metricCode": METRIC, "quantity": calls, "idempotencyKey": slug }] } }),
        )
        .await;
        let stored = &data["recordUsage"];
        assert_eq!(
            stored["accepted"].as_i64().unwrap_or(0) + stored["duplicates"].as_i64().unwrap_or(0),
            1,
            "usage of tenant {tenant}"
        );
    }
    uuid_of(&tenant)
}

/// Counts the renewal invoices every 200 ms while the jobs run; returns the seconds from
/// `started` until all `count` were there (the jobs then go on: outbox, invariants).
async fn watch(db: sea_orm::DatabaseConnection, count: i64, started: Instant) -> Option<f64> {
    let sql = "SELECT count(*) AS n FROM invoices WHERE billing_reason = 'subscription_cycle' AND cycle = 2";
    loop {
        let stmt = Statement::from_string(DbBackend::Postgres, sql);
        let row = db.query_one_raw(stmt).await.ok()??;
        if row.try_get::<i64>("", "n").ok()? >= count {
            return Some(started.elapsed().as_secs_f64());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// `VmRSS` or `VmHWM` of this process in KiB.
fn vm(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Compares every tenant's renewal invoices with what it should have got.
async fn check(app: &BenchApp, tenants: &[Uuid]) -> Vec<String> {
    let db = app.sql_pool().await;
    let sql = "SELECT i.tenant_id, i.id, i.subtotal_minor, i.discount_minor, i.total_minor, \
        (SELECT count(*) FROM invoice_lines l WHERE l.invoice_id = i.id) AS lines, \
        (SELECT coalesce(sum(l.amount_minor), 0)::bigint FROM invoice_lines l WHERE l.invoice_id = i.id) AS line_sum \
        FROM invoices i WHERE i.billing_reason = 'subscription_cycle' AND i.cycle = 2";
    let rows = db
        .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("renewal invoices");
    let mut found: HashMap<Uuid, Vec<(Uuid, [i64; 5])>> = HashMap::new();
    for row in rows {
        let get = |c: &str| row.try_get::<i64>("", c).expect("invoice column");
        let tenant: Uuid = row.try_get("", "tenant_id").expect("tenant_id");
        let figures = [
            get("lines"),
            get("subtotal_minor"),
            get("discount_minor"),
            get("total_minor"),
            get("line_sum"),
        ];
        found
            .entry(tenant)
            .or_default()
            .push((row.try_get("", "id").expect("id"), figures));
    }
    let mut problems = Vec::new();
    for (i, tenant) in tenants.iter().enumerate() {
        let (lines, subtotal, discount, total) = Expect::of(i).invoice();
        let want = [lines, subtotal, discount, total, subtotal];
        match found.remove(tenant).as_deref() {
            Some([(_, got)]) if *got == want => {}
            Some([(invoice, got)]) => problems.push(format!(
                "tenant {tenant}: invoice {invoice} has [lines, subtotal, discount, total, sum of lines] = {got:?}, expected {want:?}"
            )),
            Some(invoices) => problems.push(format!(
                "tenant {tenant}: {} renewal invoices, expected 1: {:?}",
                invoices.len(),
                invoices.iter().map(|(id, _)| *id).collect::<Vec<_>>()
            )),
            None => problems.push(format!("tenant {tenant}: no renewal invoice")),
        }
    }
    for (tenant, invoices) in found {
        problems.push(format!(
            "tenant {tenant} is not a benchmark tenant but has {} renewal invoices",
            invoices.len()
        ));
    }
    let _ = db.close().await;
    problems
}

#[tokio::main]
async fn main() {
    let database_url = postgres_url();
    let count: usize = env_number("BILLING_BENCH_TENANTS", 10_000).max(1);
    let now: DateTime<Utc> = CLOCK_START.parse().expect("clock start");
    let app = Arc::new(BenchApp::start_postgres(&database_url, now).await);
    app.admin_gql(
        "mutation($i: CreateBillableMetricInput!) { createBillableMetric(input: $i) { billableMetric { id } } }",
        json!({ "i": { "code": METRIC, "name": "API calls", "unit": "call", "aggregation": "SUM" } }),
    )
    .await;
    for (code, fee, charges) in [
        (FEE_PLAN, FEE_ONLY_MINOR, json!([])),
        (
            USAGE_PLAN,
            USAGE_FEE_MINOR,
            json!([{ "metricCode": METRIC, "timing": "PERIOD_END",
            "model": "UNIT", "unitPriceMinor": UNIT_PRICE }]),
        ),
    ] {
        app.admin_gql(
            "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
            json!({ "i": { "code": code, "name": code, "monthlyPriceMinor": fee, "trialDays": 0, "charges": charges } }),
        )
        .await;
    }
    app.admin_gql(
        "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { id } } }",
        json!({ "i": { "code": COUPON, "name": "15% forever", "percentOff": PERCENT_OFF, "duration": "FOREVER" } }),
    )
    .await;

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..SETUP_CONCURRENCY {
        let (app, next) = (app.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return made;
                }
                made.push((i, set_up(&app, i).await));
            }
        }));
    }
    let mut tenants = vec![Uuid::nil(); count];
    for t in tasks {
        for (i, id) in t.await.expect("set-up task") {
            tenants[i] = id;
        }
    }
    let usage = (0..count)
        .filter(|i| Expect::of(*i).calls.is_some())
        .count();
    let coupons = (0..count).filter(|i| Expect::of(*i).coupon).count();
    println!(
        "period close benchmark: PostgreSQL, cache {}, {} cores; {count} tenants renewing at {RENEWAL} ({usage} with usage in arrears, {coupons} with a 15% coupon); set up in {:.1} s",
        app.state.cache.backend(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        started.elapsed().as_secs_f64(),
    );

    let rss_before = vm("VmRSS:").unwrap_or(0);
    // Resets VmHWM to the current RSS (Linux 4.0+), so the peak is the jobs' own.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let admin = Actor {
        subject: "bench-admin".into(),
        role: Role::Admin,
        tenant: None,
        user: None,
        api_key: None,
        cache_epoch: None,
    };
    let to: DateTime<Utc> = RENEWAL.parse().expect("renewal instant");
    let started = Instant::now();
    let watcher = tokio::spawn(watch(app.sql_pool().await, count as i64, started));
    let (_, report) = billing::jobs::advance_clock(&app.state, &admin, ClockMove::To(to))
        .await
        .expect("the billing jobs");
    let secs = started.elapsed().as_secs_f64();
    let peak = vm("VmHWM:").unwrap_or(0);
    let rss_after = vm("VmRSS:").unwrap_or(0);
    // The watcher sees the last invoice within one poll; it never finishes if one is missing.
    let stop = watcher.abort_handle();
    let renewed = tokio::time::timeout(std::time::Duration::from_secs(2), watcher)
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    stop.abort();

    println!(
        "jobs: {:.1} s, renewals {}, invoices issued {}, past due {}, notifications {}",
        secs, report.renewals, report.invoices_issued, report.past_due, report.notifications
    );
    println!(
        "{:.0} invoices/s over the whole jobs run ({:.0} renewals/s)",
        f64::from(report.invoices_issued) / secs,
        f64::from(report.renewals) / secs
    );
    if let Some(renewed) = renewed {
        println!(
            "all {count} renewal invoices there after {renewed:.1} s: {:.0} invoices/s for the renewals alone (counted every 200 ms)",
            count as f64 / renewed
        );
    }
    println!(
        "memory of the app process: RSS {:.1} MiB before, {:.1} MiB after; peak during the jobs {:.1} MiB{} (+{:.1} MiB over the RSS before)",
        mib(rss_before),
        mib(rss_after),
        mib(peak),
        if reset {
            ""
        } else {
            " (peak of the whole process: VmHWM could not be reset)"
        },
        mib(peak.saturating_sub(rss_before)),
    );

    let problems = check(&app, &tenants).await;
    common::stats::conclude(
        &format!(
            "exact: each of the {count} tenants has exactly one renewal invoice (cycle 2) with the expected lines, subtotal, discount and total"
        ),
        &problems,
        &app.whereabouts(),
    );
    if let Ok(app) = Arc::try_unwrap(app) {
        app.finish().await;
    }
}
