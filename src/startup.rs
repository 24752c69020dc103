//! Builds the application: database (migrated), cache, keys, schema and router, bound to its
//! port. Tests build it on port 0.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::auth::AuthKeys;
use crate::cache::rate_limit::RateLimiter;
use crate::cache::{Cache, LayeredCache, RedisCache, RedisSettings};
use crate::cache::{MetricCatalog, PlanVersions};
use crate::clock::{Clock, ControlledClock, SystemClock};
use crate::config::{Config, Environment};
use crate::live::Live;
use crate::metrics::Metrics;
use crate::payments::{ManualProvider, PaymentProvider, StripeProvider};
use crate::state::{AppState, InvoiceHooks};
use crate::{collection, credits, graphql, http, jobs, store};

pub type StartupError = Box<dyn std::error::Error + Send + Sync>;

pub struct App {
    listener: TcpListener,
    router: Router,
    pub addr: SocketAddr,
    pub state: AppState,
}

/// Connects to the database and cache and runs the migrations, without serving.
pub async fn build_state(config: Config) -> Result<AppState, StartupError> {
    let timeouts = store::Timeouts {
        acquire: Duration::from_millis(config.database_acquire_timeout_ms),
        statement: Duration::from_millis(config.database_statement_timeout_ms),
    };
    let db = store::connect(
        &config.database_url,
        config.database_schema.as_deref(),
        timeouts,
    )
    .await?;
    store::migrate(&db).await?;
    // Start-up does not wait for Redis: it starts degraded and the breaker lets Redis in once
    // it answers (README "When Redis fails").
    let redis = match config.redis_url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => {
            let settings = RedisSettings {
                timeout: Duration::from_millis(config.redis_timeout_ms),
                breaker_failures: config.redis_breaker_failures,
                breaker_open: Duration::from_millis(config.redis_breaker_open_ms),
            };
            Some(Arc::new(RedisCache::connect(
                url,
                &config.cache_prefix,
                settings,
            )?))
        }
        None => None,
    };
    let cache: Arc<dyn Cache> = match &redis {
        Some(r) => Arc::new(LayeredCache::with_redis(100_000, r.clone())),
        None => Arc::new(LayeredCache::local_only(100_000)),
    };
    let rate_limits = Arc::new(RateLimiter::new(redis));
    let live = match config.redis_url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => Live::with_redis(url, &config.cache_prefix)?,
        None => Live::in_process(),
    };
    let auth = AuthKeys::from_config(&config)?;
    // Outside production the clock resumes where it was last moved (`store::clock`).
    let clock: Arc<dyn Clock> = match config.env {
        Environment::Production => Arc::new(SystemClock),
        _ => {
            let saved = store::clock::load(&db).await?;
            Arc::new(ControlledClock::resume(
                config.clock_start,
                saved,
                chrono::Utc::now(),
            ))
        }
    };
    let payments = payment_provider(&config)?;
    Ok(AppState {
        db,
        cache,
        auth: Arc::new(auth),
        clock,
        config: Arc::new(config),
        metrics: Arc::new(Metrics::new()?),
        payments,
        plans: Arc::new(PlanVersions::default()),
        metric_catalog: Arc::new(MetricCatalog::default()),
        spend_groups: Arc::default(),
        invoice_hooks: Arc::new(collection::invoice_hooks(credits::invoice_hooks(
            InvoiceHooks::default(),
        ))),
        rate_limits,
        live: Arc::new(live),
    })
}

/// Stripe when a secret key is configured, else the manual provider; the log names it.
fn payment_provider(config: &Config) -> Result<Arc<dyn PaymentProvider>, StartupError> {
    let provider: Arc<dyn PaymentProvider> = match &config.stripe_secret_key {
        Some(key) => Arc::new(StripeProvider::new(
            key.expose(),
            config.stripe_api_base.as_deref(),
            config.stripe_webhook_secret.as_ref().map(|s| s.expose()),
            Duration::from_millis(config.stripe_timeout_ms),
        )?),
        None => Arc::new(ManualProvider),
    };
    tracing::info!(provider = provider.name(), "payment provider");
    Ok(provider)
}

impl App {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let listen = config.listen.clone();
        let state = build_state(config).await?;
        let schema = graphql::build_schema(Some(state.clone()), &state.config);
        let router = http::router(state.clone(), schema);
        jobs::spawn_scheduler(state.clone());
        if let Some(metrics_listen) = state.config.metrics_listen.as_deref() {
            let metrics = TcpListener::bind(metrics_listen).await?;
            tracing::info!(addr = %metrics.local_addr()?, "metrics listener");
            let router = http::metrics_router(state.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(metrics, router).await {
                    tracing::error!(error = %e, "metrics listener stopped");
                }
            });
        }
        let listener = TcpListener::bind(&listen).await?;
        let addr = listener.local_addr()?;
        Ok(Self {
            listener,
            router,
            addr,
            state,
        })
    }

    /// Serves until SIGINT or SIGTERM, then stops accepting, lets the requests in flight
    /// finish and returns once every connection is closed.
    pub async fn run(self) -> std::io::Result<()> {
        let limits = http::Limits::from_config(&self.state.config);
        http::serve(self.listener, self.router, limits, shutdown_signal()).await
    }

    /// Serves until the process is stopped, without waiting for a signal (tests).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let limits = http::Limits::from_config(&self.state.config);
        http::serve(
            self.listener,
            self.router,
            limits,
            std::future::pending::<()>(),
        )
        .await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
