//! Billable metrics in memory, by code. A metric is never changed or deleted once created
//! (the store has no such write), so an entry found once is right for ever and needs no
//! invalidation; a code not found is not remembered, so a metric created later is seen at once.
use std::collections::HashMap;
use std::sync::Arc;

use moka::future::Cache;
use sea_orm::ConnectionTrait;

use crate::domain::BillableMetric;
use crate::error::Result;
use crate::store;

pub struct MetricCatalog {
    by_code: Cache<String, Arc<BillableMetric>>,
}

impl Default for MetricCatalog {
    fn default() -> Self {
        Self {
            by_code: Cache::new(10_000),
        }
    }
}

impl MetricCatalog {
    /// The metric `code`, from memory or from `db`.
    pub async fn get(
        &self,
        db: &impl ConnectionTrait,
        code: &str,
    ) -> Result<Option<Arc<BillableMetric>>> {
        if let Some(m) = self.by_code.get(code).await {
            return Ok(Some(m));
        }
        let Some(m) = store::catalog::metrics::find_by_code(db, code).await? else {
            return Ok(None);
        };
        let m = Arc::new(m);
        self.by_code.insert(code.to_owned(), m.clone()).await;
        Ok(Some(m))
    }

    /// The metrics of `codes` that exist, reading only those not in memory.
    pub async fn by_codes(
        &self,
        db: &impl ConnectionTrait,
        codes: &[String],
    ) -> Result<HashMap<String, BillableMetric>> {
        let mut found = HashMap::with_capacity(codes.len());
        let mut missing = Vec::new();
        for code in codes {
            match self.by_code.get(code).await {
                Some(m) => {
                    found.insert(code.clone(), BillableMetric::clone(&m));
                }
                None => missing.push(code.clone()),
            }
        }
        if !missing.is_empty() {
            for (code, m) in store::catalog::metrics::by_codes(db, &missing).await? {
                self.by_code.insert(code.clone(), Arc::new(m.clone())).await;
                found.insert(code, m);
            }
        }
        Ok(found)
    }
}
