//! Settings: embedded defaults < optional TOML file (`BILLING_CONFIG`, default `billing.toml`)
//! < `BILLING_*` environment variables. Secrets are wrapped so they never print.
use std::fmt;

use chrono::{DateTime, Utc};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The development secret. Production mode refuses to start with it.
pub const DEV_JWT_SECRET: &str = "dev-only-insecure-jwt-secret-change-me";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Test,
    Production,
}

/// How log lines are written: `text` for people (the default), `json` for one JSON object per
/// line, for log collectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl TryFrom<String> for LogFormat {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!(
                "BILLING_LOG_FORMAT must be \"text\" or \"json\", not {raw:?}"
            )),
        }
    }
}

impl From<LogFormat> for String {
    fn from(f: LogFormat) -> String {
        f.as_str().to_owned()
    }
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    pub env: Environment,
    pub listen: String,
    pub database_url: String,
    /// PostgreSQL schema to use (search path); tests give each app its own.
    pub database_schema: Option<String>,
    /// How long a request waits for a database connection before it fails with `UNAVAILABLE`.
    pub database_acquire_timeout_ms: u64,
    /// PostgreSQL `statement_timeout`; on SQLite, how long a statement waits for a lock (busy
    /// timeout).
    pub database_statement_timeout_ms: u64,
    pub redis_url: Option<String>,
    /// Prefix of every cache key, so several apps can share one Redis.
    pub cache_prefix: String,
    pub jwt_secret: Secret,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub jwt_ttl_seconds: i64,
    /// PEM public key; when set, RS256 tokens from an external identity provider are accepted.
    pub jwt_rs256_public_key: Option<String>,
    /// Comma-separated origins allowed by CORS, e.g. `https://app.example.com`.
    pub cors_origins: String,
    pub body_limit_bytes: usize,
    pub request_timeout_seconds: u64,
    /// A connection must send a request's whole head within this time of its first byte.
    pub http_header_read_timeout_ms: u64,
    /// A keep-alive connection with no request for this long is closed.
    pub http_idle_timeout_seconds: u64,
    /// Connections served at once; more wait in the listen backlog until one closes.
    pub http_max_connections: usize,
    /// GraphiQL at `GET /graphql`; on by default outside production.
    pub graphiql: Option<bool>,
    pub max_query_depth: usize,
    /// Failed sign-ins allowed per email within `login_window_seconds` before `RATE_LIMITED`.
    pub login_max_failures: i64,
    pub login_window_seconds: u64,
    pub max_query_complexity: usize,
    /// The query text's largest size and token count, checked before it is parsed.
    pub max_query_bytes: usize,
    pub max_query_tokens: usize,
    /// Aliased fields in one document, and root fields in one operation.
    pub max_query_aliases: usize,
    pub max_query_root_fields: usize,
    /// Query cost each tenant may spend per second (0: no budget), and at once.
    pub tenant_cost_per_second: u64,
    pub tenant_cost_burst: u64,
    /// Log filter, in `tracing_subscriber::EnvFilter` syntax; checked at start-up.
    pub log: String,
    pub log_format: LogFormat,
    /// Dev/test only: the clock starts here and stands still, moving only by `advanceClock`.
    pub clock_start: Option<DateTime<Utc>>,
    /// How often the billing jobs run in the background; 0 turns the scheduler off.
    pub jobs_interval_seconds: u64,
    /// Days between an invoice's finalization and its due date.
    pub invoice_due_days: u32,
    /// Days after the due date before an unpaid invoice makes its subscription past due.
    pub past_due_after_days: u32,
    /// Days a tenant stays `unpaid` (dunning) before it is suspended.
    pub dunning_suspend_after_days: u32,
    /// A credit balance falling below this many credits records a `low_balance` notification.
    pub low_balance_credits: i64,
    /// How often pending deferred usage is charged; 0 turns the schedule off.
    pub deferred_interval_seconds: u64,
    /// How often the outbox worker looks for due messages, in milliseconds; 0 turns it off
    /// (the billing jobs still carry out due messages when they run).
    pub outbox_interval_ms: u64,
    /// Attempts at one outbox message before it is parked as dead.
    pub outbox_max_attempts: i32,
    /// Bearer secret of `POST /jobs/process-billing` for an external cron; unset, the route
    /// answers 404.
    pub cron_secret: Option<Secret>,
    /// Stripe's secret key; set, Stripe collects invoices instead of the manual provider.
    pub stripe_secret_key: Option<Secret>,
    /// The signing secret of the `POST /webhooks/stripe` endpoint (`whsec_…`).
    pub stripe_webhook_secret: Option<Secret>,
    /// Stripe's API address; tests point it at a local server.
    pub stripe_api_base: Option<String>,
    /// How long one Stripe request may take before it is given up (and retried later with the
    /// same idempotency key).
    pub stripe_timeout_ms: u64,
    /// Where users reach this service and its SPA (links in Checkout and emails).
    pub public_url: String,
    /// Days after an invoice's first failed payment when it is tried again (dunning).
    pub payment_retry_days: String,
    // Webhooks to the SaaS.
    /// Let endpoint URLs reach private, loopback and link-local addresses (tests, on-premises).
    pub webhooks_allow_private: bool,
    /// One webhook request's time limit (connecting and the whole exchange), in milliseconds.
    pub webhooks_timeout_ms: u64,
    // --- Invoice documents (documents/): the operator's details printed on every PDF, and
    // the lifetime of the signed `pdfUrl` links.
    pub operator_legal_name: String,
    pub operator_tax_id: String,
    pub operator_address: String,
    pub operator_email: String,
    pub pdf_link_ttl_secs: u64,
    // --- Email notifications (src/mail) ---
    /// SMTP server, e.g. `smtp://127.0.0.1:2525` or `smtps://user:pass@host`; unset, emails are
    /// written as `.eml` files into `email_dir`.
    pub smtp_url: Option<Secret>,
    /// The `From` of every email.
    pub email_from: String,
    /// Folder of the `.eml` files when no SMTP server is set.
    pub email_dir: String,
    /// How long one SMTP conversation may take before it counts as a failure (retried later).
    pub smtp_timeout_ms: u64,
    // --- Metrics (issue 13) ---
    /// A separate address for `/metrics` (e.g. `127.0.0.1:9090`); set, `/metrics` is served
    /// only there and the public port answers 404.
    pub metrics_listen: Option<String>,
    /// How often the billing invariants are checked; 0 turns the periodic check off.
    pub invariants_interval_seconds: u64,
    // --- Redis failure handling and rate limits (README "When Redis fails", "Cache and rate limits")
    /// How long one Redis call may take before it counts as failed, in milliseconds.
    pub redis_timeout_ms: u64,
    /// Consecutive failed Redis calls that open the circuit breaker.
    pub redis_breaker_failures: u32,
    /// How long the open breaker skips Redis before one trial call, in milliseconds.
    pub redis_breaker_open_ms: u64,
    /// Requests allowed per minute per API key, user or IP (0: no limit).
    pub rate_limit_per_minute: u64,
    /// Requests allowed at once above the steady rate.
    pub rate_limit_burst: u64,
    /// Per-plan overrides of `rate_limit_per_minute`, keyed by the code of the tenant's live
    /// subscription plan: `pro=6000,free=120`.
    pub rate_limit_plans: String,
    // Live updates (README "Live updates").
    /// Subscriptions one WebSocket connection may hold open at once.
    pub ws_max_subscriptions_per_connection: usize,
    /// Subscriptions one tenant may hold open at once on one replica.
    pub ws_max_subscriptions_per_tenant: usize,
    /// How long a new WebSocket connection may wait before `connection_init`.
    pub ws_init_timeout_ms: u64,
    /// How often a connection authenticated with an API key checks that the key still stands.
    pub ws_recheck_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            env: Environment::Development,
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://data/billing.db?mode=rwc".into(),
            database_schema: None,
            database_acquire_timeout_ms: 2_000,
            database_statement_timeout_ms: 10_000,
            redis_url: None,
            cache_prefix: "billing:".into(),
            jwt_secret: Secret::new(DEV_JWT_SECRET),
            jwt_issuer: "billing".into(),
            jwt_audience: "billing-api".into(),
            jwt_ttl_seconds: 8 * 3600,
            jwt_rs256_public_key: None,
            cors_origins: String::new(),
            body_limit_bytes: 256 * 1024,
            request_timeout_seconds: 30,
            http_header_read_timeout_ms: 10_000,
            http_idle_timeout_seconds: 60,
            http_max_connections: 1_024,
            graphiql: None,
            max_query_depth: 16,
            login_max_failures: 10,
            login_window_seconds: 900,
            max_query_complexity: 10_000,
            max_query_bytes: 32 * 1024,
            max_query_tokens: 4_000,
            max_query_aliases: 30,
            max_query_root_fields: 20,
            tenant_cost_per_second: 20_000,
            tenant_cost_burst: 40_000,
            log: "info,sqlx=warn,sea_orm=warn".into(),
            log_format: LogFormat::Text,
            clock_start: None,
            jobs_interval_seconds: 60,
            invoice_due_days: 7,
            past_due_after_days: 3,
            dunning_suspend_after_days: 7,
            low_balance_credits: 10,
            deferred_interval_seconds: 300,
            outbox_interval_ms: 1000,
            outbox_max_attempts: 10,
            cron_secret: None,
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_api_base: None,
            stripe_timeout_ms: 10_000,
            public_url: "http://127.0.0.1:8080".into(),
            payment_retry_days: "1,3,5,7".into(),
            // Webhooks to the SaaS.
            webhooks_allow_private: false,
            webhooks_timeout_ms: 10_000,
            operator_legal_name: "Billing Platform Ltda.".into(),
            operator_tax_id: "00.000.000/0001-00".into(),
            operator_address: "Av. Paulista, 1000 - São Paulo - SP, 01310-100".into(),
            operator_email: "billing@example.com".into(),
            pdf_link_ttl_secs: 900,
            // Email notifications: beside the embedded SQLite database by default.
            smtp_url: None,
            email_from: "Billing <billing@localhost>".into(),
            email_dir: "data/emails".into(),
            smtp_timeout_ms: 10_000,
            // --- Metrics (issue 13) ---
            metrics_listen: None,
            invariants_interval_seconds: 300,
            redis_timeout_ms: 150,
            redis_breaker_failures: 3,
            redis_breaker_open_ms: 1_000,
            rate_limit_per_minute: 60_000,
            rate_limit_burst: 1_000,
            rate_limit_plans: String::new(),
            // Live updates.
            ws_max_subscriptions_per_connection: 100,
            ws_max_subscriptions_per_tenant: 1_000,
            ws_init_timeout_ms: 3_000,
            ws_recheck_seconds: 30,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    pub fn load() -> Result<Self, ConfigError> {
        let file = std::env::var("BILLING_CONFIG").unwrap_or_else(|_| "billing.toml".into());
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("BILLING_").ignore(&["config"]))
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// `BILLING_RATE_LIMIT_PLANS` read: requests per minute by plan code; `None` if malformed.
    pub fn rate_limit_plan_rates(&self) -> Option<std::collections::HashMap<String, u64>> {
        self.rate_limit_plans
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|entry| {
                let (code, n) = entry.split_once('=')?;
                let n = n.trim().parse::<u64>().ok().filter(|n| *n > 0)?;
                Some((code.trim().to_owned(), n))
            })
            .collect()
    }

    /// The dunning schedule: days after the first failure, increasing; `None` if malformed.
    pub fn payment_retry_schedule(&self) -> Option<Vec<i64>> {
        let days: Vec<i64> = self
            .payment_retry_days
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| d.parse::<i64>().ok().filter(|d| (1..=365).contains(d)))
            .collect::<Option<_>>()?;
        days.windows(2).all(|w| w[0] < w[1]).then_some(days)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.into()));
        if self.env == Environment::Production {
            let secret = self.jwt_secret.expose();
            if secret == DEV_JWT_SECRET || secret.len() < 32 {
                return invalid(
                    "production mode needs BILLING_JWT_SECRET set to a random value of 32+ characters",
                );
            }
        }
        if self.jwt_secret.expose().is_empty() {
            return invalid("BILLING_JWT_SECRET must not be empty");
        }
        if self.jwt_ttl_seconds <= 0 {
            return invalid("BILLING_JWT_TTL_SECONDS must be positive");
        }
        if self.body_limit_bytes < 1024 {
            return invalid("BILLING_BODY_LIMIT_BYTES must be at least 1024");
        }
        if self.login_max_failures < 1 || self.login_window_seconds == 0 {
            return invalid(
                "BILLING_LOGIN_MAX_FAILURES and BILLING_LOGIN_WINDOW_SECONDS must be positive",
            );
        }
        if self.rate_limit_plan_rates().is_none() {
            return invalid("BILLING_RATE_LIMIT_PLANS must read code=requests_per_minute,...");
        }
        if self.redis_timeout_ms == 0 || self.rate_limit_burst == 0 {
            return invalid(
                "BILLING_REDIS_TIMEOUT_MS and BILLING_RATE_LIMIT_BURST must be positive",
            );
        }
        if self.request_timeout_seconds == 0 {
            return invalid("BILLING_REQUEST_TIMEOUT_SECONDS must be positive");
        }
        if !(1..=7 * 24 * 3600).contains(&self.pdf_link_ttl_secs) {
            return invalid("BILLING_PDF_LINK_TTL_SECS must be between 1 and 604800 (7 days)");
        }
        if self.database_acquire_timeout_ms == 0 || self.database_statement_timeout_ms == 0 {
            return invalid(
                "BILLING_DATABASE_ACQUIRE_TIMEOUT_MS and BILLING_DATABASE_STATEMENT_TIMEOUT_MS must be positive",
            );
        }
        if self.http_header_read_timeout_ms == 0
            || self.http_idle_timeout_seconds == 0
            || self.http_max_connections == 0
        {
            return invalid(
                "BILLING_HTTP_HEADER_READ_TIMEOUT_MS, BILLING_HTTP_IDLE_TIMEOUT_SECONDS and BILLING_HTTP_MAX_CONNECTIONS must be positive",
            );
        }
        if self.env == Environment::Production
            && self.stripe_secret_key.is_some()
            && self.stripe_webhook_secret.is_none()
        {
            return invalid(
                "production mode with BILLING_STRIPE_SECRET_KEY needs BILLING_STRIPE_WEBHOOK_SECRET: without it no payment outcome arrives",
            );
        }
        if self.payment_retry_schedule().is_none() {
            return invalid(
                "BILLING_PAYMENT_RETRY_DAYS must be increasing whole days, e.g. 1,3,5,7 (or empty)",
            );
        }
        if self.stripe_timeout_ms == 0 {
            return invalid("BILLING_STRIPE_TIMEOUT_MS must be positive");
        }
        if self.env == Environment::Production && self.clock_start.is_some() {
            return invalid("BILLING_CLOCK_START is for development and tests only");
        }
        if let Err(e) = self.log_filter() {
            return Err(ConfigError::Invalid(format!(
                "BILLING_LOG is not a valid log filter ({:?}): {e}",
                self.log
            )));
        }
        if self.invoice_due_days > 365
            || self.past_due_after_days > 365
            || self.dunning_suspend_after_days > 365
        {
            return invalid(
                "BILLING_INVOICE_DUE_DAYS, BILLING_PAST_DUE_AFTER_DAYS and BILLING_DUNNING_SUSPEND_AFTER_DAYS must be at most 365",
            );
        }
        if !(1..=120_000).contains(&self.webhooks_timeout_ms) {
            return invalid("BILLING_WEBHOOKS_TIMEOUT_MS must be between 1 and 120000");
        }
        if self.smtp_timeout_ms == 0 || self.email_from.trim().is_empty() {
            return invalid("BILLING_SMTP_TIMEOUT_MS must be positive and BILLING_EMAIL_FROM set");
        }
        if !(1..=100).contains(&self.outbox_max_attempts) {
            return invalid("BILLING_OUTBOX_MAX_ATTEMPTS must be between 1 and 100");
        }
        Ok(())
    }

    /// The log filter `log` describes (`BILLING_LOG`).
    pub fn log_filter(
        &self,
    ) -> Result<tracing_subscriber::EnvFilter, tracing_subscriber::filter::ParseError> {
        tracing_subscriber::EnvFilter::try_new(&self.log)
    }

    pub fn uses_dev_secret(&self) -> bool {
        self.jwt_secret.expose() == DEV_JWT_SECRET
    }

    pub fn graphiql_enabled(&self) -> bool {
        self.graphiql.unwrap_or(self.env != Environment::Production)
    }

    pub fn cors_origin_list(&self) -> Vec<String> {
        self.cors_origins
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_the_development_secret() {
        let config = Config {
            env: Environment::Production,
            ..Config::default()
        };
        assert!(config.validate().is_err());
        let config = Config {
            env: Environment::Production,
            jwt_secret: Secret::new("short"),
            ..Config::default()
        };
        assert!(config.validate().is_err());
        let config = Config {
            env: Environment::Production,
            jwt_secret: Secret::new("x".repeat(40)),
            ..Config::default()
        };
        assert!(config.validate().is_ok());
    }

    #[test]
    fn production_refuses_a_fixed_billing_clock() {
        let config = Config {
            env: Environment::Production,
            jwt_secret: Secret::new("x".repeat(40)),
            clock_start: "2026-01-31T00:00:00Z".parse().ok(),
            ..Config::default()
        };
        assert!(config.validate().is_err());
        let config = Config {
            clock_start: "2026-01-31T00:00:00Z".parse().ok(),
            ..Config::default()
        };
        assert!(config.validate().is_ok());
    }

    #[test]
    fn an_invalid_log_filter_is_refused_naming_billing_log() {
        assert!(Config::default().validate().is_ok());
        let config = Config {
            log: "info,sqlx=loud".into(),
            ..Config::default()
        };
        let err = config.validate().expect_err("refused").to_string();
        assert!(err.contains("BILLING_LOG"), "{err}");
        assert!(err.contains("info,sqlx=loud"), "{err}");
    }

    #[test]
    fn the_log_format_is_text_or_json() {
        assert_eq!(Config::default().log_format, LogFormat::Text);
        assert_eq!(LogFormat::try_from("json".to_owned()), Ok(LogFormat::Json));
        assert_eq!(LogFormat::try_from("JSON".to_owned()), Ok(LogFormat::Json));
        assert_eq!(LogFormat::try_from("text".to_owned()), Ok(LogFormat::Text));
        let err = LogFormat::try_from("xml".to_owned()).expect_err("refused");
        assert!(err.contains("BILLING_LOG_FORMAT"), "{err}");
        assert!(err.contains("xml"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        let config = Config::default();
        assert!(!format!("{config:?}").contains(DEV_JWT_SECRET));
    }
}
