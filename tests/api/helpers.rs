#![allow(dead_code)]

use billing::config::{Config, Environment};
use billing::domain::{Role, TenantId};
use billing::startup::App;
use billing::state::AppState;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

mod billing_calls;
mod emails;
mod graphql_http;
mod idempotency;
mod live;
mod load;
mod outbox;
mod pdf;
mod prometheus;
mod proxy;
mod redis;
mod server;
mod smtp;
mod stripe;
mod stripe_app;
mod usage;
mod values;
mod webhook_receiver;

pub use self::redis::*;
pub use billing_calls::*;
pub use emails::*;
pub use graphql_http::*;
pub use idempotency::*;
pub use live::*;
pub use load::*;
pub use outbox::*;
pub use pdf::*;
pub use prometheus::*;
pub use proxy::*;
pub use server::*;
pub use smtp::*;
// `self::` because `stripe` is also the async-stripe crate.
pub use self::stripe::*;
pub use stripe_app::*;
pub use usage::*;
pub use values::*;
pub use webhook_receiver::*;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub admin_token: String,
    sqlite_dir: Option<std::path::PathBuf>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub fn backend() -> &'static str {
    if std::env::var("BILLING_TEST_DATABASE_URL").is_ok() {
        "postgres"
    } else {
        "sqlite"
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app with its clock standing still at `start` (RFC 3339), moved only by
/// `advanceClock`.
pub async fn spawn_app_at(start: &str) -> TestApp {
    let start: chrono::DateTime<chrono::Utc> = start.parse().expect("RFC 3339 start time");
    spawn_app_with(|c| c.clock_start = Some(start)).await
}

/// Starts the real server on port 0 against a fresh database (a new SQLite file, or a new
/// PostgreSQL schema), with a Redis key prefix of its own when Redis is configured.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Config)) -> TestApp {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut config = Config {
        env: Environment::Test,
        listen: "127.0.0.1:0".into(),
        log: "warn".into(),
        jobs_interval_seconds: 0,
        deferred_interval_seconds: 0,
        // Tests run the invariant checks through runBillingJobs.
        invariants_interval_seconds: 0,
        // Tests that send 50 writers at once on 2 shared cores queue longer than the 2 s
        // default for a pooled connection: that is load, not an outage. `faults.rs` checks
        // the default itself.
        database_acquire_timeout_ms: 15_000,
        // Notification emails go to files of this run, never into the working tree.
        email_dir: std::env::temp_dir()
            .join(format!("billing-test-{run}-emails"))
            .display()
            .to_string(),
        ..Config::default()
    };
    let mut sqlite_dir = None;
    match std::env::var("BILLING_TEST_DATABASE_URL") {
        Ok(url) => {
            let schema = format!("t_{run}");
            let db = sea_orm::Database::connect(url.as_str())
                .await
                .expect("connect to the test PostgreSQL");
            db.execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
                .await
                .expect("create schema");
            db.close().await.expect("close");
            config.database_url = url;
            config.database_schema = Some(schema);
        }
        Err(_) => {
            let dir = std::env::temp_dir().join(format!("billing-test-{run}"));
            std::fs::create_dir_all(&dir).expect("temp dir");
            config.database_url = format!("sqlite://{}/billing.db?mode=rwc", dir.display());
            sqlite_dir = Some(dir);
        }
    }
    if let Ok(url) = std::env::var("BILLING_TEST_REDIS_URL") {
        config.redis_url = Some(url);
        config.cache_prefix = format!("test:{run}:");
    }
    customise(&mut config);
    let app = App::build(config).await.expect("build app");
    let address = format!("http://{}", app.addr);
    let state = app.state.clone();
    tokio::spawn(app.run_until_stopped());
    let admin_token = mint(&state, "test-admin", Role::Admin, None);
    TestApp {
        address,
        client: reqwest::Client::new(),
        state,
        admin_token,
        sqlite_dir,
    }
}

impl TestApp {
    /// A second server on the same database and cache, as a restarted process would be.
    pub async fn restarted(&self) -> TestApp {
        self.restarted_with(|_| {}).await
    }

    /// A second server on the same database and cache, with its settings changed by
    /// `customise` (say, a clock that starts later).
    pub async fn restarted_with(&self, customise: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = (*self.state.config).clone();
        customise(&mut config);
        let app = App::build(config).await.expect("restart app");
        let address = format!("http://{}", app.addr);
        let state = app.state.clone();
        tokio::spawn(app.run_until_stopped());
        let admin_token = mint(&state, "test-admin", Role::Admin, None);
        TestApp {
            address,
            client: reqwest::Client::new(),
            state,
            admin_token,
            sqlite_dir: None,
        }
    }
}

impl TestApp {
    /// This harness pointed at another server on the same database (say, the `billing`
    /// binary run as a child process): requests go to `address`, tokens are minted with the
    /// same secret, and `state` still reads the database directly.
    pub fn pointed_at(&self, address: &str) -> TestApp {
        TestApp {
            address: address.to_owned(),
            client: reqwest::Client::new(),
            state: self.state.clone(),
            admin_token: self.admin_token.clone(),
            sqlite_dir: None,
        }
    }
}

pub fn mint(state: &AppState, sub: &str, role: Role, tenant: Option<&str>) -> String {
    let tenant = tenant.map(|t| TenantId::parse("tenant", t).expect("tenant id"));
    state
        .auth
        .mint(sub, role, tenant, chrono::Utc::now())
        .expect("mint")
        .0
}

/// A GraphQL response, with helpers to read data and errors.
#[derive(Debug, Clone)]
pub struct Gql {
    pub status: u16,
    pub body: Value,
}

impl Gql {
    /// The `data`, after asserting that there were no errors.
    pub fn data(&self) -> &Value {
        assert!(
            self.body
                .get("errors")
                .is_none_or(|e| e.as_array().is_none_or(|a| a.is_empty())),
            "unexpected errors: {}",
            self.body
        );
        &self.body["data"]
    }

    /// The `extensions.code` of the first error, if any.
    pub fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    /// Asserts that the request failed with `code`, and returns the first error.
    pub fn expect_code(&self, code: &str) -> &Value {
        assert_eq!(
            self.code(),
            Some(code),
            "expected {code}, got: {}",
            self.body
        );
        &self.body["errors"][0]
    }
}

/// The nodes of the connection `field` in a successful response.
pub fn nodes(r: &Gql, field: &str) -> Vec<Value> {
    r.data()[field]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{field} is not a connection: {}", r.body))
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

impl TestApp {
    /// Creates an API key with `token` (owner or admin) and returns its id and secret.
    pub async fn create_api_key(
        &self,
        token: &str,
        tenant: Option<&str>,
        name: &str,
    ) -> (String, String) {
        let r = self
            .as_token(
                token,
                "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } secret } }",
                json!({ "i": { "name": name, "tenantId": tenant } }),
            )
            .await;
        let d = &r.data()["createApiKey"];
        (
            d["apiKey"]["id"].as_str().expect("key id").to_owned(),
            d["secret"].as_str().expect("key secret").to_owned(),
        )
    }

    /// Sends a GraphQL request with an optional bearer credential.
    pub async fn gql_with(&self, bearer: Option<&str>, query: &str, variables: Value) -> Gql {
        let mut req = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.json().await.expect("JSON body");
        Gql { status, body }
    }

    /// Sends a GraphQL request with a bearer credential; a failure to get an answer (refused
    /// or broken connection, no JSON body, nothing within 30 s) is an `Err` rather than a
    /// panic, for clients of a server that a test breaks on purpose.
    pub async fn try_as_token(
        &self,
        bearer: &str,
        query: &str,
        variables: Value,
    ) -> Result<Gql, String> {
        let send = async {
            let resp = self
                .client
                .post(format!("{}/graphql", self.address))
                .bearer_auth(bearer)
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .map_err(|e| format!("no answer: {e}"))?;
            let status = resp.status().as_u16();
            let body = resp
                .json()
                .await
                .map_err(|e| format!("HTTP {status} without a JSON body: {e}"))?;
            Ok(Gql { status, body })
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), send)
            .await
            .unwrap_or_else(|_| Err("no answer within 30 s".to_owned()))
    }

    pub async fn as_admin(&self, query: &str, variables: Value) -> Gql {
        self.gql_with(Some(&self.admin_token), query, variables)
            .await
    }

    pub async fn as_token(&self, token: &str, query: &str, variables: Value) -> Gql {
        self.gql_with(Some(token), query, variables).await
    }

    pub async fn anonymous(&self, query: &str, variables: Value) -> Gql {
        self.gql_with(None, query, variables).await
    }

    pub fn token(&self, role: Role, tenant: Option<&str>) -> String {
        mint(
            &self.state,
            &format!("test-{}", role.as_str()),
            role,
            tenant,
        )
    }

    /// A tenant token for `tenant` with `role` (owner, billing, member or service).
    pub fn tenant_token(&self, tenant: &str, role: Role) -> String {
        self.token(role, Some(tenant))
    }

    /// Creates a tenant as admin and returns its id.
    pub async fn create_tenant(&self, slug: &str) -> String {
        let r = self
            .as_admin(
                "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }",
                json!({ "i": { "name": format!("Tenant {slug}"), "slug": slug, "billingEmail": format!("billing@{slug}.example.com") } }),
            )
            .await;
        r.data()["createTenant"]["tenant"]["id"]
            .as_str()
            .expect("tenant id")
            .to_owned()
    }

    /// Creates a user as admin and returns its id.
    pub async fn create_user(
        &self,
        tenant: Option<&str>,
        email: &str,
        role: &str,
        password: &str,
    ) -> String {
        let r = self
            .as_admin(
                "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } } }",
                json!({ "i": { "tenantId": tenant, "email": email, "name": "Test User", "role": role, "password": password } }),
            )
            .await;
        r.data()["createUser"]["user"]["id"]
            .as_str()
            .expect("user id")
            .to_owned()
    }

    /// Creates a billable metric as admin.
    pub async fn create_metric(&self, code: &str) {
        self.as_admin(
            "mutation($i: CreateBillableMetricInput!) { createBillableMetric(input: $i) { billableMetric { id } } }",
            json!({ "i": { "code": code, "name": code, "unit": "unit", "aggregation": "SUM" } }),
        )
        .await
        .data();
    }

    /// Counts the items of a connection query run as admin (first page, up to 100).
    pub async fn count(&self, field: &str) -> usize {
        let q = format!("{{ {field}(first: 100) {{ edges {{ cursor }} }} }}");
        let r = self.as_admin(&q, json!({})).await;
        r.data()[field]["edges"].as_array().map_or(0, Vec::len)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{}", self.address, path))
            .send()
            .await
            .expect("GET")
    }
}
