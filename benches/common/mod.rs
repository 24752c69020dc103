//! What the benchmarks share: starting the app (config, database, server, admin token), the
//! two paths compared, percentiles, the bench database and set-up requests.
// Each benchmark compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod client;
pub mod stats;

use std::path::PathBuf;
use std::time::Duration;

use billing::config::{Config, Environment};
use billing::domain::{Role, TenantId};
use billing::startup::App;
use billing::state::AppState;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

/// The PostgreSQL benchmarks' database unless `BILLING_BENCH_DATABASE_URL` names another.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/billing_bench";

#[derive(Clone, Copy, PartialEq)]
pub enum Path {
    Api,
    /// The statements the API runs, sent by a plain client.
    Sql,
    /// The least the database can do for the same work: one statement per request.
    Best,
}

impl Path {
    pub fn label(self) -> &'static str {
        match self {
            Path::Api => "API",
            Path::Sql => "plain SQL",
            Path::Best => "best SQL",
        }
    }
}

pub fn pct(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// The number in the environment variable `name`, or `default`.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{name} is not a number: {s}")),
        Err(_) => default,
    }
}

/// The URL of the `postgres` maintenance database on the same server, and the database name.
fn maintenance_url(url: &str) -> (String, String) {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let path = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    let (base, rest) = url.split_at(path);
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let (name, query) = match rest.split_once('?') {
        Some((name, query)) => (name, format!("?{query}")),
        None => (rest, String::new()),
    };
    (format!("{base}/postgres{query}"), name.to_owned())
}

pub async fn ensure_database(url: &str) {
    let (maintenance, name) = maintenance_url(url);
    assert!(!name.is_empty(), "the database URL names no database");
    let db = sea_orm::Database::connect(maintenance.as_str())
        .await
        .expect("connect to the postgres database");
    let exists = || {
        db.query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS one FROM pg_database WHERE datname = $1",
            [name.clone().into()],
        ))
    };
    if exists().await.expect("look for the database").is_none() {
        let created = db
            .execute_unprepared(&format!(
                "CREATE DATABASE \"{}\"",
                name.replace('"', "\"\"")
            ))
            .await;
        // Another run may have created it in between.
        if let Err(e) = created
            && exists().await.expect("look for the database").is_none()
        {
            panic!("cannot create database {name}: {e}");
        }
    }
    db.close().await.expect("close");
}

/// The UUID inside a public id such as `ten_0190...`.
pub fn uuid_of(public: &str) -> Uuid {
    let (_, hex) = public.split_once('_').expect("a prefixed id");
    Uuid::try_parse(hex).expect("a UUID")
}

/// The URL of the PostgreSQL database of a PostgreSQL benchmark: `BILLING_BENCH_DATABASE_URL`
/// or `DEFAULT_DATABASE_URL`.
pub fn postgres_url() -> String {
    let database_url = std::env::var("BILLING_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    assert!(
        database_url.starts_with("postgres"),
        "this benchmark runs against PostgreSQL; BILLING_BENCH_DATABASE_URL is {database_url}"
    );
    database_url
}

/// The app a benchmark runs against, serving on a port of its own, with an admin token and a
/// client for set-up requests. `finish` removes what the start created.
pub struct BenchApp {
    /// The GraphQL endpoint.
    pub url: String,
    pub state: AppState,
    /// An admin token.
    pub admin: String,
    pub http: reqwest::Client,
    pub database_url: String,
    /// The PostgreSQL schema the app works in, dropped by `finish`.
    pub schema: Option<String>,
    /// A connection to the database, to drop the schema with.
    maintenance: Option<DatabaseConnection>,
    /// The temp dir of a SQLite database, removed by `finish`.
    temp_dir: Option<PathBuf>,
}

fn mint(state: &AppState, sub: &str, role: Role, tenant: Option<TenantId>) -> String {
    state
        .auth
        .mint(sub, role, tenant, Utc::now())
        .expect("token")
        .0
}

/// The configuration every benchmark starts from: test mode, a port of its own, errors only,
/// and the cache in Redis under a prefix of its own when `BILLING_BENCH_REDIS_URL` is set.
fn bench_config(database_url: String, run: &str) -> Config {
    let mut config = Config {
        env: Environment::Test,
        listen: "127.0.0.1:0".into(),
        log: "error".into(),
        database_url,
        // Benchmarks send thousands of requests a second with one credential.
        rate_limit_per_minute: 0,
        tenant_cost_per_second: 0,
        ..Config::default()
    };
    if let Ok(url) = std::env::var("BILLING_BENCH_REDIS_URL") {
        config.redis_url = Some(url);
        config.cache_prefix = format!("bench:{run}:");
    }
    config
}

impl BenchApp {
    /// The app on `BILLING_BENCH_DATABASE_URL` as it is, or else on a SQLite file in a temp
    /// dir of its own; clock and background jobs as configured by default.
    pub async fn start() -> BenchApp {
        let run = Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("billing-bench-{run}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let database_url = std::env::var("BILLING_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| format!("sqlite://{}/bench.db?mode=rwc", dir.display()));
        Self::launch(bench_config(database_url, &run), None, Some(dir)).await
    }

    /// The app in a schema of its own in the PostgreSQL database `database_url` (created if
    /// missing), with the clock standing still at `now` and the background jobs off.
    pub async fn start_postgres(database_url: &str, now: DateTime<Utc>) -> BenchApp {
        ensure_database(database_url).await;
        let run = Uuid::new_v4().simple().to_string();
        let schema = format!("bench_{run}");
        let maintenance = sea_orm::Database::connect(database_url)
            .await
            .expect("connect to the benchmark database");
        maintenance
            .execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
            .await
            .expect("create schema");
        let mut config = bench_config(database_url.to_owned(), &run);
        config.database_schema = Some(schema);
        config.clock_start = Some(now);
        config.jobs_interval_seconds = 0;
        Self::launch(config, Some(maintenance), None).await
    }

    async fn launch(
        config: Config,
        maintenance: Option<DatabaseConnection>,
        temp_dir: Option<PathBuf>,
    ) -> BenchApp {
        let database_url = config.database_url.clone();
        let schema = config.database_schema.clone();
        let app = App::build(config).await.expect("build app");
        let url = format!("http://{}/graphql", app.addr);
        let state = app.state.clone();
        tokio::spawn(app.run_until_stopped());
        let admin = mint(&state, "bench-admin", Role::Admin, None);
        BenchApp {
            url,
            state,
            admin,
            http: reqwest::Client::new(),
            database_url,
            schema,
            maintenance,
            temp_dir,
        }
    }

    /// A token for `sub` with `role`, minted by the app.
    pub fn token(&self, sub: &str, role: Role, tenant: Option<TenantId>) -> String {
        mint(&self.state, sub, role, tenant)
    }

    /// A plain SQL pool with the app's settings, on the app's schema.
    pub async fn sql_pool(&self) -> DatabaseConnection {
        billing::store::connect(
            &self.database_url,
            self.schema.as_deref(),
            billing::store::Timeouts::default(),
        )
        .await
        .expect("plain SQL pool")
    }

    /// A GraphQL request for the set-up with `token`, which must succeed; returns the data.
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        let body: Value = self
            .http
            .post(&self.url)
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("set-up request")
            .json()
            .await
            .expect("set-up response");
        if let Some(errors) = body.get("errors").filter(|e| !e.is_null()) {
            panic!("set-up failed: {errors}");
        }
        body["data"].clone()
    }

    /// A GraphQL request for the set-up as admin, which must succeed; returns the data.
    pub async fn admin_gql(&self, query: &str, variables: Value) -> Value {
        self.gql(&self.admin, query, variables).await
    }

    /// Creates a tenant as admin; returns its public id.
    pub async fn create_tenant(&self, slug: &str) -> String {
        let data = self
            .admin_gql(
                "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }",
                json!({ "i": { "name": format!("Tenant {slug}"), "slug": slug,
                    "billingEmail": format!("billing@{slug}.example.com") } }),
            )
            .await;
        data["createTenant"]["tenant"]["id"]
            .as_str()
            .expect("tenant id")
            .to_owned()
    }

    /// Creates the SUM metric `code` of LLM tokens as admin; returns its public id.
    pub async fn create_token_metric(&self, code: &str) -> String {
        let data = self
            .admin_gql(
                "mutation($i: CreateBillableMetricInput!) { createBillableMetric(input: $i) { billableMetric { id } } }",
                json!({ "i": { "code": code, "name": "LLM tokens", "unit": "token", "aggregation": "SUM" } }),
            )
            .await;
        data["createBillableMetric"]["billableMetric"]["id"]
            .as_str()
            .expect("metric id")
            .to_owned()
    }

    /// Where the app's data is, for a message when a benchmark keeps it.
    pub fn whereabouts(&self) -> String {
        match &self.schema {
            Some(schema) => format!("data kept in schema \"{schema}\" of {}", self.database_url),
            None => format!("data kept in {}", self.database_url),
        }
    }

    /// Drops the app's schema or removes its temp dir. The server goes on until the process
    /// ends.
    pub async fn finish(self) {
        if let (Some(db), Some(schema)) = (self.maintenance, &self.schema) {
            db.execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .await
                .expect("drop schema");
            let _ = db.close().await;
        }
        if let Some(dir) = self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
