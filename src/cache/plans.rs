//! Plan versions in memory. A published version's prices, charges and limits never change
//! (a change publishes a new version), so the hot usage path need not read them every time.
//! Only `is_current` can change; readers of this cache must not rely on it.
use std::sync::Arc;

use moka::future::Cache;
use sea_orm::ConnectionTrait;

use crate::domain::{Plan, PlanId};
use crate::error::{OptionExt, Result};
use crate::store;

pub struct PlanVersions {
    cache: Cache<PlanId, Arc<Plan>>,
}

impl Default for PlanVersions {
    fn default() -> Self {
        Self {
            cache: Cache::new(10_000),
        }
    }
}

impl PlanVersions {
    /// The plan version `id`, from memory or from `db`.
    pub async fn get(&self, db: &impl ConnectionTrait, id: PlanId) -> Result<Arc<Plan>> {
        if let Some(plan) = self.cache.get(&id).await {
            return Ok(plan);
        }
        let plan = store::catalog::plans_by_ids(db, &[id])
            .await?
            .remove(&id)
            .or_not_found("plan")?;
        let plan = Arc::new(plan);
        self.cache.insert(id, plan.clone()).await;
        Ok(plan)
    }
}
