//! Billing jobs: trial-ending notices, period ends (renewals, trial ends, scheduled plan
//! changes, cancellations) and overdue invoices. They run on a timer in the server and on
//! demand; every step is idempotent, so running them twice for one moment creates nothing new.
use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::TransactionTrait;

use crate::auth::Actor;
use crate::domain::NewNotification;
use crate::domain::{SubscriptionStatus, TenantId};
use crate::error::Result;
use crate::live::Change;
use crate::state::AppState;
use crate::store::{self, TenantScope};
use crate::subscriptions::{self, Step};

mod clock;
mod gauges;
pub mod invariants;
mod outbox;

pub use clock::{ClockMove, ClockReading, ClockSource, advance_clock, billing_clock};
pub use gauges::refresh as refresh_gauges;
pub use invariants::InvariantReport;
pub use outbox::{OutboxReport, deliver_due, outbox_messages, retry_outbox_message};

/// Days before a trial ends that its `trial_ending` notice is recorded.
const TRIAL_NOTICE_DAYS: i64 = 3;
/// Upper bound of period-end steps in one run, so a bad row cannot spin a run forever.
const MAX_STEPS: usize = 100_000;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobReport {
    pub now: DateTime<Utc>,
    pub trials_ended: i32,
    pub renewals: i32,
    pub plan_changes: i32,
    pub cancellations: i32,
    pub invoices_issued: i32,
    pub past_due: i32,
    pub notifications: i32,
    pub holds_expired: i32,
    pub outbox: OutboxReport,
    /// Failed payments whose scheduled retry was handed to the outbox.
    pub payment_retries: i32,
    /// Dunning stages moved and lifted.
    pub dunning: crate::collection::DunningReport,
    /// Rows breaking each billing invariant after the run.
    pub invariants: InvariantReport,
}

/// Runs one background job, counting it in `billing_jobs_runs_total{job,outcome}` and timing
/// it in `billing_job_duration_seconds{job}`.
pub async fn timed<T>(
    state: &AppState,
    job: &str,
    run: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let started = std::time::Instant::now();
    let result = run.await;
    state
        .metrics
        .job_run(job, result.is_ok(), started.elapsed().as_secs_f64());
    result
}

/// Runs every billing job for the clock's current time.
pub async fn run(state: &AppState) -> Result<JobReport> {
    timed(state, "billing", run_all(state)).await
}

#[tracing::instrument(name = "billing_jobs", skip_all)]
async fn run_all(state: &AppState) -> Result<JobReport> {
    let now = state.clock.now();
    let mut report = JobReport {
        now,
        ..JobReport::default()
    };
    trial_notices(state, now, &mut report).await?;
    period_ends(state, now, &mut report).await?;
    overdue(state, now, &mut report).await?;
    recover(state, now).await?;
    report.holds_expired = crate::credits::expire_holds(state, now).await?;
    subscriptions::refresh_metrics(state).await?;
    report.payment_retries =
        i32::try_from(crate::collection::retry_due(state).await?).unwrap_or(i32::MAX);
    report.outbox = deliver_due(state).await?;
    // After the retries due now were attempted, so a last retry that failed counts.
    report.dunning = crate::collection::advance_dunning(state).await?;
    report.invariants = timed(state, "invariants", invariants::check(state)).await?;
    Ok(report)
}

async fn trial_notices(state: &AppState, now: DateTime<Utc>, report: &mut JobReport) -> Result<()> {
    let until = now + TimeDelta::days(TRIAL_NOTICE_DAYS);
    for sub in store::subscriptions::trials_ending(&state.db, until).await? {
        let Some(trial_end) = sub.trial_end else {
            continue;
        };
        let new = store::notify::record_once(
            &state.db,
            NewNotification::trial_ending(sub.tenant_id, sub.id, trial_end, now),
        )
        .await?;
        report.notifications += i32::from(new);
        if new {
            state.live.publish(sub.tenant_id, Change::Notification);
        }
    }
    Ok(())
}

/// Steps every due subscription until none is due, oldest period end first, so a clock that
/// jumped months ahead renews each period in turn.
async fn period_ends(state: &AppState, now: DateTime<Utc>, report: &mut JobReport) -> Result<()> {
    let mut failed = HashSet::new();
    let mut steps = 0;
    loop {
        let due: Vec<_> = store::subscriptions::due(&state.db, now, 200)
            .await?
            .into_iter()
            .filter(|s| !failed.contains(&s.id))
            .collect();
        if due.is_empty() || steps >= MAX_STEPS {
            return Ok(());
        }
        for sub in due {
            steps += 1;
            match subscriptions::renew_one(state, sub.id, now).await {
                Ok(Step::NothingDue) => {
                    failed.insert(sub.id);
                }
                Ok(step) => count(step, report),
                Err(e) => {
                    tracing::error!(subscription = %sub.id, error = %e.cause_chain(), location = ?e.location(), "renewal failed; skipped in this run");
                    failed.insert(sub.id);
                }
            }
        }
    }
}

fn count(step: Step, report: &mut JobReport) {
    let issued = |invoice: &Option<_>| i32::from(invoice.is_some());
    match step {
        Step::NothingDue => {}
        Step::TrialEnded(invoice) => {
            report.trials_ended += 1;
            report.invoices_issued += issued(&invoice);
        }
        Step::Renewed {
            invoice,
            plan_changed,
        } => {
            report.renewals += 1;
            report.plan_changes += i32::from(plan_changed);
            report.invoices_issued += issued(&invoice);
        }
        Step::Canceled(invoice) => {
            report.cancellations += 1;
            report.invoices_issued += issued(&invoice);
        }
    }
}

fn overdue_cutoff(state: &AppState, now: DateTime<Utc>) -> DateTime<Utc> {
    now - TimeDelta::days(i64::from(state.config.past_due_after_days))
}

/// An invoice still open past its grace days records a notice and makes its subscription
/// past due, in one transaction.
async fn overdue(state: &AppState, now: DateTime<Utc>, report: &mut JobReport) -> Result<()> {
    for (invoice, tenant, sub_id, number) in
        store::invoicing::overdue(&state.db, overdue_cutoff(state, now)).await?
    {
        let txn = state.db.begin().await?;
        store::accounts::tenants::lock(&txn, tenant).await?;
        let new = store::notify::record_once(
            &txn,
            NewNotification::invoice_overdue(tenant, invoice, number, now),
        )
        .await?;
        report.notifications += i32::from(new);
        if let Some(mut sub) = store::subscriptions::find(&txn, TenantScope::Any, sub_id).await?
            && matches!(
                sub.status,
                SubscriptionStatus::Active | SubscriptionStatus::Trialing
            )
        {
            sub.status = SubscriptionStatus::PastDue;
            sub.version += 1;
            if store::subscriptions::save_over(&txn, &sub, now).await? {
                report.past_due += 1;
            }
        }
        txn.commit().await?;
        if new {
            state.live.publish(tenant, Change::Notification);
        }
    }
    Ok(())
}

/// Past-due subscriptions with nothing overdue any more (the clock moved, or an invoice was
/// settled elsewhere) go back to active.
async fn recover(state: &AppState, now: DateTime<Utc>) -> Result<()> {
    let cutoff = overdue_cutoff(state, now);
    for sub in store::subscriptions::with_status(&state.db, SubscriptionStatus::PastDue).await? {
        if store::invoicing::has_overdue(&state.db, sub.id, cutoff).await? {
            continue;
        }
        let tenant: TenantId = sub.tenant_id;
        if in_dunning(state, tenant).await? {
            // Dunning owns this subscription's status until it is lifted.
            continue;
        }
        let txn = state.db.begin().await?;
        store::accounts::tenants::lock(&txn, tenant).await?;
        if let Some(mut fresh) = store::subscriptions::find(&txn, TenantScope::Any, sub.id).await?
            && fresh.status == SubscriptionStatus::PastDue
            && !store::invoicing::has_overdue(&txn, sub.id, cutoff).await?
        {
            fresh.status = SubscriptionStatus::Active;
            fresh.version += 1;
            store::subscriptions::save_over(&txn, &fresh, now).await?;
        }
        txn.commit().await?;
    }
    Ok(())
}

async fn in_dunning(state: &AppState, tenant: TenantId) -> Result<bool> {
    Ok(store::accounts::tenants::find(&state.db, tenant)
        .await?
        .is_some_and(|t| t.dunning_stage.is_some()))
}

/// The operator runs the jobs now.
pub async fn run_now(state: &AppState, actor: &Actor) -> Result<JobReport> {
    actor.require_admin()?;
    run(state).await
}

/// Charges pending deferred usage every `deferred_interval_seconds`.
fn spawn_deferred(state: AppState) {
    let every = state.config.deferred_interval_seconds;
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match timed(&state, "deferred", crate::credits::process_due(&state)).await {
                Ok(r) if r.charged + r.failed > 0 => tracing::info!(?r, "deferred usage charged"),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e.cause_chain(), location = ?e.location(), "deferred billing failed")
                }
            }
        }
    });
}

/// Carries out due outbox messages every `outbox_interval_ms`.
fn spawn_outbox(state: AppState) {
    let every = state.config.outbox_interval_ms;
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match timed(&state, "outbox", deliver_due(&state)).await {
                Ok(r) if r != OutboxReport::default() => tracing::info!(?r, "outbox delivered"),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e.cause_chain(), location = ?e.location(), "outbox delivery failed")
                }
            }
        }
    });
}

/// Checks the billing invariants every `invariants_interval_seconds`.
fn spawn_invariants(state: AppState) {
    let every = state.config.invariants_interval_seconds;
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = timed(&state, "invariants", invariants::check(&state)).await {
                tracing::error!(error = %e.cause_chain(), location = ?e.location(), "invariant checks failed");
            }
        }
    });
}

/// Runs the jobs every `jobs_interval_seconds`, and deferred billing, the outbox and the
/// invariant checks on their own schedules, until the process ends.
pub fn spawn_scheduler(state: AppState) {
    spawn_deferred(state.clone());
    spawn_outbox(state.clone());
    spawn_invariants(state.clone());
    let every = state.config.jobs_interval_seconds;
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match run(&state).await {
                Ok(r)
                    if r != JobReport {
                        now: r.now,
                        ..JobReport::default()
                    } =>
                {
                    tracing::info!(?r, "billing jobs ran");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e.cause_chain(), location = ?e.location(), "billing jobs failed")
                }
            }
        }
    });
}
