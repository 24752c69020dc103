use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DatabaseTransaction};

use crate::auth::AuthKeys;
use crate::cache::rate_limit::RateLimiter;
use crate::cache::{Cache, MetricCatalog, PlanVersions};
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{BillingReason, Invoice};
use crate::error::Result;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::payments::PaymentProvider;

/// Everything a request or job needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub cache: Arc<dyn Cache>,
    pub auth: Arc<AuthKeys>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub payments: Arc<dyn PaymentProvider>,
    /// Published plan versions, which never change.
    pub plans: Arc<PlanVersions>,
    /// Billable metrics by code (never changed once created).
    pub metric_catalog: Arc<MetricCatalog>,
    /// One tenant's concurrent spends, grouped into one statement (`store::credits::grouped`).
    pub spend_groups: Arc<crate::store::credits::grouped::Groups>,
    pub invoice_hooks: Arc<InvoiceHooks>,
    /// Request rate limits (README "Cache and rate limits").
    pub rate_limits: Arc<RateLimiter>,
    /// Live updates: publish a change after commit (README "Live updates").
    pub live: Arc<Live>,
}

impl AppState {
    /// Whether the database answers within `within`, for readiness.
    pub async fn ping_database(
        &self,
        within: std::time::Duration,
    ) -> std::result::Result<(), sea_orm::DbErr> {
        crate::store::ping(&self.db, within).await
    }
}

/// What an area does when an invoice it issued moves to paid, void or uncollectible, inside
/// the transaction that moves it. Invoicing calls hooks without knowing who registered them.
#[async_trait]
pub trait InvoiceHook: Send + Sync + 'static {
    async fn invoice_moved(
        &self,
        txn: &DatabaseTransaction,
        state: &AppState,
        invoice: &Invoice,
        now: DateTime<Utc>,
    ) -> Result<()>;
}

/// Hooks by the billing reason of the invoices they concern, registered at start-up.
#[derive(Default)]
pub struct InvoiceHooks(Vec<(BillingReason, Arc<dyn InvoiceHook>)>);

impl InvoiceHooks {
    pub fn on(mut self, reason: BillingReason, hook: Arc<dyn InvoiceHook>) -> Self {
        self.0.push((reason, hook));
        self
    }

    /// Runs the hooks registered for this invoice's billing reason, and no other.
    pub async fn invoice_moved(
        &self,
        txn: &DatabaseTransaction,
        state: &AppState,
        invoice: &Invoice,
        now: DateTime<Utc>,
    ) -> Result<()> {
        for (reason, hook) in &self.0 {
            if *reason == invoice.billing_reason {
                hook.invoice_moved(txn, state, invoice, now).await?;
            }
        }
        Ok(())
    }
}
