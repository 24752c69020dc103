//! Credit usage statistics per tenant, read from the ledger.
use chrono::{DateTime, Utc};

use crate::auth::Actor;
use crate::domain::{Credits, TenantId};
use crate::error::Result;
use crate::state::AppState;
use crate::store;

#[derive(Clone, Debug)]
pub struct OperationStat {
    pub operation_type: String,
    pub requests: i64,
    pub credits: Credits,
}

#[derive(Clone, Debug)]
pub struct UsageStats {
    pub tenant: TenantId,
    /// Credits spent: consumes, deferred charges and settled holds, net of what holds gave back.
    pub credits_consumed: Credits,
    pub requests: i64,
    pub by_operation: Vec<OperationStat>,
    pub last_active_at: Option<DateTime<Utc>>,
}

pub async fn credit_usage_stats(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
) -> Result<UsageStats> {
    let tenant = actor.tenant_for(tenant)?;
    let rows = store::credits::wallets::spending_by_operation(&state.db, tenant).await?;
    let mut by_operation = Vec::with_capacity(rows.len());
    let (mut consumed, mut requests, mut last) = (0i64, 0i64, None::<DateTime<Utc>>);
    for (operation_type, requests_n, spent, latest) in rows {
        consumed += spent;
        requests += requests_n;
        last = last.max(latest);
        by_operation.push(OperationStat {
            operation_type,
            requests: requests_n,
            credits: Credits(spent),
        });
    }
    Ok(UsageStats {
        tenant,
        credits_consumed: Credits(consumed),
        requests,
        by_operation,
        last_active_at: last,
    })
}
