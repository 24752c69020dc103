//! The outbox worker: the one component that carries out what a committed change asked for.
//! It claims each due message with a lease, so replicas never carry out one message at once,
//! and a crash between commit and send loses nothing: the row stays due and is sent next run.
use std::future::Future;
use std::pin::Pin;

use chrono::TimeDelta;
use rand::Rng;

use crate::auth::Actor;
use crate::collection;
use crate::domain::{
    CreditNoteId, InvoiceId, NotificationId, OutboxKind, OutboxMessage, OutboxMessageId,
    OutboxStatus, Page, PageRequest, WebhookDeliveryId,
};
use crate::error::{ConflictReason, Error, OptionExt, Result};
use crate::state::AppState;
use crate::{mail, store};

/// Messages claimed per query: few, so that a slow provider cannot outlast the lease of the
/// last one claimed.
const BATCH: u64 = 10;
/// How long one attempt may hold a message before another worker may take it over.
const LEASE: TimeDelta = TimeDelta::minutes(5);

/// How a kind of message is retried: the back-off after the first failed attempt doubles with
/// each attempt up to `max_backoff`, and the message is parked as dead after `max_attempts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RetryPolicy {
    first_backoff: TimeDelta,
    max_backoff: TimeDelta,
    max_attempts: i32,
}

/// Each kind's retry policy. Payments and refunds use the configured number of attempts.
fn policy(state: &AppState, kind: OutboxKind) -> RetryPolicy {
    match kind {
        OutboxKind::CollectInvoice | OutboxKind::RefundPayment => RetryPolicy {
            first_backoff: TimeDelta::seconds(30),
            max_backoff: TimeDelta::hours(6),
            max_attempts: state.config.outbox_max_attempts,
        },
        // Webhooks: from 5 s doubling up to 6 h; 40 attempts span about 7.5 days, past the
        // 5 days after which `webhooks::deliver` disables a failing endpoint (and gives up).
        OutboxKind::DeliverWebhook => RetryPolicy {
            first_backoff: TimeDelta::seconds(5),
            max_backoff: TimeDelta::hours(6),
            max_attempts: 40,
        },
        // Emails: 10 s doubling up to 1 h; 40 attempts span about 1.5 days (the first nine
        // take about 1.4 h, then one an hour), so an SMTP server down for a day loses nothing.
        OutboxKind::SendEmail => RetryPolicy {
            first_backoff: TimeDelta::seconds(10),
            max_backoff: TimeDelta::hours(1),
            max_attempts: 40,
        },
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxReport {
    /// Messages carried out, emails apart.
    pub sent: i32,
    /// `send_email` messages carried out (every notification has one).
    pub emailed: i32,
    pub retried: i32,
    pub dead: i32,
}

/// Carries out every message due at the clock's time.
#[tracing::instrument(name = "outbox", skip_all)]
pub async fn deliver_due(state: &AppState) -> Result<OutboxReport> {
    let mut report = OutboxReport::default();
    loop {
        let now = state.clock.now();
        let claimed = store::outbox::claim_due(&state.db, now, now + LEASE, BATCH).await?;
        // Until nothing is due: a short batch may only mean another worker took the rest of
        // what was read, not that nothing is left.
        if claimed.is_empty() {
            return Ok(report);
        }
        for msg in claimed {
            attempt(state, &msg, &mut report).await?;
        }
    }
}

/// Carries out a claimed message; `msg.attempts` counts this attempt.
async fn attempt(state: &AppState, msg: &OutboxMessage, report: &mut OutboxReport) -> Result<()> {
    // Type-erased: the HTTP clients' futures (Stripe, webhooks, SMTP) are deep, and the outbox
    // runs inside the billing jobs, which the GraphQL schema awaits; a concrete future type
    // here would exceed the compiler's recursion limit when the schema's futures are checked
    // for `Send`.
    let work: Pin<Box<dyn Future<Output = Result<()>> + Send + '_>> =
        Box::pin(carry_out(state, msg));
    let outcome = work.await;
    let now = state.clock.now();
    let attempts = msg.attempts;
    let policy = policy(state, msg.kind);
    if outcome.is_err() {
        state.metrics.outbox_failure(msg.kind.as_str());
    }
    match outcome {
        Ok(()) => {
            match msg.kind {
                OutboxKind::SendEmail => report.emailed += 1,
                _ => report.sent += 1,
            }
            store::outbox::finish(&state.db, msg.id, OutboxStatus::Done, None, None, now).await
        }
        Err(e) if attempts >= policy.max_attempts => {
            tracing::error!(message = %msg.id, kind = msg.kind.as_str(), attempts, error = %e.cause_chain(), location = ?e.location(), "outbox message is dead");
            report.dead += 1;
            let error = Some(e.cause_chain());
            store::outbox::finish(&state.db, msg.id, OutboxStatus::Dead, None, error, now).await
        }
        Err(e) => {
            let retry_at = now + backoff(&policy, attempts);
            tracing::warn!(message = %msg.id, kind = msg.kind.as_str(), attempts, %retry_at, error = %e.cause_chain(), location = ?e.location(), "outbox message failed; will retry");
            report.retried += 1;
            let error = Some(e.cause_chain());
            store::outbox::finish(
                &state.db,
                msg.id,
                OutboxStatus::Pending,
                Some(retry_at),
                error,
                now,
            )
            .await
        }
    }
}

/// Exponential back-off with up to 10% jitter, so retries of many messages spread out.
fn backoff(policy: &RetryPolicy, attempts: i32) -> TimeDelta {
    let doublings = attempts.clamp(1, 20) - 1;
    let base = policy
        .first_backoff
        .checked_mul(1 << doublings)
        .map_or(policy.max_backoff, |d| d.min(policy.max_backoff));
    let jitter_ms = rand::thread_rng().gen_range(0..=base.num_milliseconds() / 10);
    base + TimeDelta::milliseconds(jitter_ms)
}

/// The outbox for operators, in creation order, optionally of one status and kind.
pub async fn outbox_messages(
    state: &AppState,
    actor: &Actor,
    status: Option<OutboxStatus>,
    kind: Option<OutboxKind>,
    page: PageRequest,
) -> Result<Page<OutboxMessage>> {
    actor.require_admin()?;
    store::outbox::page(&state.db, status, kind, page).await
}

/// Makes a dead message due again now, with a fresh count of attempts (admin). The worker
/// carries it out on its next run. Only a dead message can be retried: a pending one is
/// already due or leased, and a done one was carried out.
pub async fn retry_outbox_message(
    state: &AppState,
    actor: &Actor,
    id: OutboxMessageId,
) -> Result<OutboxMessage> {
    actor.require_admin()?;
    let msg = store::outbox::find(&state.db, id)
        .await?
        .or_not_found("outbox message")?;
    if !store::outbox::revive(&state.db, id, state.clock.now()).await? {
        return Err(Error::conflict(
            ConflictReason::IllegalTransition,
            format!(
                "outbox message {id} is {}; only a dead message can be retried",
                msg.status.as_str()
            ),
        ));
    }
    tracing::info!(message = %id, kind = msg.kind.as_str(), by = %actor.subject, "outbox message retried");
    store::outbox::find(&state.db, id)
        .await?
        .or_not_found("outbox message")
}

async fn carry_out(state: &AppState, msg: &OutboxMessage) -> Result<()> {
    match msg.kind {
        OutboxKind::CollectInvoice => {
            let invoice = InvoiceId::parse("reference", &msg.reference)?;
            collection::collect_invoice(state, invoice).await
        }
        OutboxKind::RefundPayment => {
            let note = CreditNoteId::parse("reference", &msg.reference)?;
            collection::send_refund(state, note).await
        }
        OutboxKind::DeliverWebhook => {
            let delivery = WebhookDeliveryId::parse("reference", &msg.reference)?;
            crate::webhooks::deliver(state, delivery).await
        }
        OutboxKind::SendEmail => {
            let notification = NotificationId::parse("reference", &msg.reference)?;
            mail::send_notification(state, notification, msg.attempts).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_thirty_seconds_up_to_six_hours_with_small_jitter() {
        let policy = RetryPolicy {
            first_backoff: TimeDelta::seconds(30),
            max_backoff: TimeDelta::hours(6),
            max_attempts: 10,
        };
        for (attempts, base) in [(1, 30), (2, 60), (3, 120), (10, 15_360), (20, 21_600)] {
            let d = backoff(&policy, attempts).num_seconds();
            let most = base + base / 10;
            assert!(d >= base && d <= most, "attempt {attempts}: {d}s");
        }
    }

    #[test]
    fn emails_back_off_from_ten_seconds_to_an_hour_and_keep_trying_for_over_a_day() {
        let policy = RetryPolicy {
            first_backoff: TimeDelta::seconds(10),
            max_backoff: TimeDelta::hours(1),
            max_attempts: 40,
        };
        let least: i64 = (1..policy.max_attempts)
            .map(|a| {
                let doublings = u32::try_from(a.min(20) - 1).unwrap_or(0);
                (10i64 << doublings).min(3600)
            })
            .sum();
        assert!(least >= 24 * 3600, "retries span only {least}s");
        assert!(backoff(&policy, 1).num_seconds() >= 10);
        assert!(backoff(&policy, 39).num_seconds() <= 3960);
    }
}
