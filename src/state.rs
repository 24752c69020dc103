use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::accounts::AuthKeys;
use crate::cache::Cache;
use crate::catalog::PlanVersions;
use crate::clock::Clock;
use crate::config::Config;
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
}
