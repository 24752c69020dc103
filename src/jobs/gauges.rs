//! The gauges of `/metrics` that describe the database rather than this process: refreshed
//! when `/metrics` is scraped, so every replica reports the same figures and a scrape never
//! shows a stale backlog. Cheap on purpose: one grouped query for the outbox, one for deferred
//! usage, and the revenue summary.
use chrono::{DateTime, Utc};

use crate::domain::OutboxKind;
use crate::error::Result;
use crate::state::AppState;
use crate::store;

fn age(now: DateTime<Utc>, oldest: Option<DateTime<Utc>>) -> f64 {
    oldest.map_or(0.0, |t| {
        ((now - t).num_milliseconds().max(0) as f64) / 1000.0
    })
}

/// Refreshes the outbox, deferred-usage and revenue gauges from the database.
pub async fn refresh(state: &AppState) -> Result<()> {
    let now = state.clock.now();
    let m = &state.metrics;
    let pending = store::outbox::pending_by_kind(&state.db).await?;
    // Every known kind is exported, at 0 when nothing is pending.
    for kind in OutboxKind::ALL {
        let row = pending.iter().find(|(k, _, _)| k == kind.as_str());
        let (n, oldest) = row.map_or((0, None), |(_, n, oldest)| (*n, *oldest));
        m.outbox_kind_known(kind.as_str());
        m.outbox_pending.with_label_values(&[kind.as_str()]).set(n);
        m.outbox_oldest_age
            .with_label_values(&[kind.as_str()])
            .set(age(now, oldest));
    }
    let (n, oldest) = store::credits::pending::backlog(&state.db).await?;
    m.deferred_pending.set(n);
    m.deferred_oldest_age.set(age(now, oldest));
    crate::subscriptions::refresh_metrics(state).await
}
