//! Keyed subscription changes: a replay reads the first result back (the subscription as it is
//! now, and the invoice the first request issued); the same key with another request is a
//! `CONFLICT` `IDEMPOTENCY_KEY_REUSED`. The key is recorded in the change's transaction, after
//! the tenant row lock, so concurrent copies of one request act once.
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::{Outcome, view};
use crate::domain::{Keyed, SubscriptionId, TenantId};
use crate::error::{ConflictReason, Error, Result};
use crate::store::{self, TenantScope};

/// The first result of `keyed`, if its key was used for `tenant`.
pub(crate) async fn first_result(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    keyed: Option<&Keyed>,
) -> Result<Option<Outcome>> {
    let Some(keyed) = keyed else { return Ok(None) };
    let Some(first) = store::idempotency::find(db, tenant, keyed.operation, &keyed.key).await?
    else {
        return Ok(None);
    };
    if first.fingerprint != keyed.fingerprint {
        return Err(Error::key_reused());
    }
    let scope = TenantScope::Only(tenant);
    let sub = store::subscriptions::find(db, scope, SubscriptionId(first.result_id))
        .await?
        .ok_or_else(|| Error::internal("an idempotency key's subscription is gone"))?;
    let invoice = match first.invoice_id {
        Some(id) => Some(
            store::invoicing::find(db, scope, id)
                .await?
                .ok_or_else(|| Error::internal("an idempotency key's invoice is gone"))?,
        ),
        None => None,
    };
    Ok(Some(Outcome {
        view: view(db, sub).await?,
        invoice,
    }))
}

/// Records `keyed` with `outcome`, in the transaction that made it.
pub(crate) async fn remember(
    db: &impl ConnectionTrait,
    keyed: Option<&Keyed>,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(keyed) = keyed else { return Ok(()) };
    let sub = &outcome.view.subscription;
    let invoice = outcome.invoice.as_ref().map(|i| i.id);
    if store::idempotency::insert(db, sub.tenant_id, keyed, sub.id.0, invoice, now).await? {
        Ok(())
    } else {
        // The tenant lock makes this unreachable; the unique key is the last line of defence,
        // and a retry replays the winner.
        Err(Error::conflict(
            ConflictReason::ConcurrentUpdate,
            "the same idempotency key was used at the same time; retry",
        ))
    }
}
