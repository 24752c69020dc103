//! Deferred (message-based) billing, seed 003: usage is stored `pending` with its cost, and a
//! job charges it later. Each record is charged by moving it pending → charged and debiting
//! the wallet in one transaction, so two processors never charge it twice; a record the wallet
//! cannot pay becomes `failed` with the reason, and can be retried after a top-up.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Move, begin, entry, move_balance};
use crate::auth::Actor;
use crate::domain::MAX_BATCH_EVENTS;
use crate::domain::keys::ledger_key;
use crate::domain::{Credits, LedgerKind, PendingStatus, PendingUsage, PendingUsageId, TenantId};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{self, TenantScope};

/// Which records a processing run takes.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub tenant: Option<TenantId>,
    pub ids: Option<Vec<PendingUsageId>>,
    pub limit: Option<usize>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessReport {
    pub charged: i32,
    pub failed: i32,
    /// Taken by another processor, or no longer pending.
    pub skipped: i32,
    pub credits_charged: Credits,
}

async fn charge_one(
    state: &AppState,
    record: &PendingUsage,
    now: DateTime<Utc>,
    report: &mut ProcessReport,
) -> Result<()> {
    let txn = begin(state, record.tenant_id).await?;
    if !store::credits::pending::mark(
        &txn,
        record.id,
        PendingStatus::Pending,
        PendingStatus::Charged,
        None,
        now,
    )
    .await?
    {
        txn.rollback().await?;
        report.skipped += 1;
        return Ok(());
    }
    let mut e = entry(
        record.tenant_id,
        LedgerKind::Consume,
        -record.cost.micro(),
        now,
    );
    e.idempotency_key = Some(ledger_key::deferred(record.id));
    e.reference = Some(record.id.to_string());
    e.metric_code = Some(record.metric_code.clone());
    e.operation_type = Some(record.operation_type.clone());
    e.quantity = Some(record.quantity);
    match move_balance(&txn, state, e, 0, record.cost.micro()).await? {
        Move::Done(entry, _) => {
            txn.commit().await?;
            (state.metrics).credits_consumed(&record.operation_type, record.cost.micro());
            super::announce(state, &entry);
            report.charged += 1;
            report.credits_charged = Credits(report.credits_charged.micro() + record.cost.micro());
        }
        Move::Insufficient => {
            txn.rollback().await?;
            let wallet = store::credits::wallets::find(&state.db, record.tenant_id).await?;
            let reason = format!(
                "insufficient credits: {} needed, {} available",
                record.cost, wallet.balance
            );
            if store::credits::pending::mark(
                &state.db,
                record.id,
                PendingStatus::Pending,
                PendingStatus::Failed,
                Some(reason),
                now,
            )
            .await?
            {
                report.failed += 1;
            } else {
                report.skipped += 1;
            }
        }
        Move::Duplicate => {
            txn.rollback().await?;
            report.skipped += 1;
        }
    }
    Ok(())
}

/// Charges the selected pending records, oldest first.
pub(crate) async fn process(state: &AppState, sel: &Selection) -> Result<ProcessReport> {
    let scope = sel.tenant.map_or(TenantScope::Any, TenantScope::Only);
    let limit = sel
        .limit
        .unwrap_or(MAX_BATCH_EVENTS)
        .clamp(1, 10 * MAX_BATCH_EVENTS);
    let records = store::credits::pending::select(
        &state.db,
        PendingStatus::Pending,
        scope,
        sel.ids.as_deref(),
        limit as u64,
    )
    .await?;
    let now = state.clock.now();
    let mut report = ProcessReport::default();
    for record in &records {
        charge_one(state, record, now, &mut report).await?;
    }
    Ok(report)
}

/// Processing on demand: one record, a batch of ids, all pending, or all pending of a tenant.
/// Operators only (the admin or an operator key); the scheduler and the cron trigger run the
/// same code.
#[tracing::instrument(skip_all)]
pub async fn process_pending_usage(
    state: &AppState,
    actor: &Actor,
    sel: Selection,
) -> Result<ProcessReport> {
    actor.require_operator()?;
    check(&sel)?;
    process(state, &sel).await
}

/// Ids: 1 to 1000; limit: 1 to 10,000.
fn check(sel: &Selection) -> Result<()> {
    if sel
        .ids
        .as_ref()
        .is_some_and(|ids| ids.is_empty() || ids.len() > MAX_BATCH_EVENTS)
    {
        return Err(Error::validation(
            "ids",
            format!("give 1 to {MAX_BATCH_EVENTS} ids"),
        ));
    }
    if sel
        .limit
        .is_some_and(|l| l == 0 || l > 10 * MAX_BATCH_EVENTS)
    {
        return Err(Error::validation(
            "limit",
            format!("must be 1 to {}", 10 * MAX_BATCH_EVENTS),
        ));
    }
    Ok(())
}

/// Every pending record, for the scheduler and `POST /jobs/process-billing`.
#[tracing::instrument(skip_all)]
pub async fn process_due(state: &AppState) -> Result<ProcessReport> {
    let mut total = ProcessReport::default();
    loop {
        let r = process(
            state,
            &Selection {
                limit: Some(MAX_BATCH_EVENTS),
                ..Selection::default()
            },
        )
        .await?;
        let done = r.charged + r.failed == 0;
        total.charged += r.charged;
        total.failed += r.failed;
        total.skipped += r.skipped;
        total.credits_charged = Credits(total.credits_charged.micro() + r.credits_charged.micro());
        if done {
            return Ok(total);
        }
    }
}

/// Puts failed records back to pending (all of a tenant's, or the given ids) and processes
/// them, e.g. after a top-up.
#[tracing::instrument(skip_all)]
pub async fn reprocess_failed_usage(
    state: &AppState,
    actor: &Actor,
    sel: Selection,
) -> Result<ProcessReport> {
    actor.require_operator()?;
    check(&sel)?;
    let scope = sel.tenant.map_or(TenantScope::Any, TenantScope::Only);
    let limit = sel.limit.unwrap_or(MAX_BATCH_EVENTS) as u64;
    let failed = store::credits::pending::select(
        &state.db,
        PendingStatus::Failed,
        scope,
        sel.ids.as_deref(),
        limit,
    )
    .await?;
    let now = state.clock.now();
    let mut ids = Vec::with_capacity(failed.len());
    for record in failed {
        if store::credits::pending::mark(
            &state.db,
            record.id,
            PendingStatus::Failed,
            PendingStatus::Pending,
            None,
            now,
        )
        .await?
        {
            ids.push(record.id);
        }
    }
    if ids.is_empty() {
        return Ok(ProcessReport::default());
    }
    process(
        state,
        &Selection {
            tenant: sel.tenant,
            ids: Some(ids),
            limit: None,
        },
    )
    .await
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusStat {
    pub status: PendingStatus,
    pub records: i64,
    pub credits: Credits,
}

#[derive(Clone, Debug)]
pub struct TenantStats {
    pub tenant: TenantId,
    pub by_status: Vec<StatusStat>,
}

fn stats_of(map: BTreeMap<&'static str, (i64, i64)>) -> Vec<StatusStat> {
    [
        PendingStatus::Pending,
        PendingStatus::Charged,
        PendingStatus::Failed,
    ]
    .into_iter()
    .map(|s| {
        let (records, credits) = map.get(s.as_str()).copied().unwrap_or((0, 0));
        StatusStat {
            status: s,
            records,
            credits: Credits(credits),
        }
    })
    .collect()
}

/// Counts and credits by status, overall and per tenant. A tenant credential sees its own.
pub async fn pending_usage_stats(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
) -> Result<(Vec<StatusStat>, Vec<TenantStats>)> {
    let scope = actor.scope(tenant)?;
    let rows = store::credits::pending::stats(&state.db, scope).await?;
    let mut overall: BTreeMap<&'static str, (i64, i64)> = BTreeMap::new();
    let mut per: BTreeMap<Uuid, BTreeMap<&'static str, (i64, i64)>> = BTreeMap::new();
    for (t, status, n, credits) in rows {
        let Some(s) = PendingStatus::from_db(&status) else {
            continue;
        };
        let o = overall.entry(s.as_str()).or_default();
        o.0 += n;
        o.1 += credits;
        let p = per.entry(t).or_default().entry(s.as_str()).or_default();
        p.0 += n;
        p.1 += credits;
    }
    Ok((
        stats_of(overall),
        per.into_iter()
            .map(|(t, m)| TenantStats {
                tenant: t.into(),
                by_status: stats_of(m),
            })
            .collect(),
    ))
}
