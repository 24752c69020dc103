//! Which notification kinds a tenant gets by email. Every kind is on until turned off; payment
//! failures and 3-D Secure requests cannot be turned off.
use sea_orm::TransactionTrait;

use crate::auth::Actor;
use crate::domain::{EmailDelivery, NotificationId, NotificationKind, Role, TenantId};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationPreference {
    pub kind: NotificationKind,
    pub email: bool,
    /// `false` for the kinds that are always emailed.
    pub can_turn_off: bool,
}

/// Every kind with whether it is emailed (owner or billing role; the admin for any tenant).
pub async fn notification_preferences(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
) -> Result<Vec<NotificationPreference>> {
    actor.require_role(&[Role::Owner, Role::Billing])?;
    let tenant = actor.tenant_for(tenant)?;
    read(state, tenant).await
}

async fn read(state: &AppState, tenant: TenantId) -> Result<Vec<NotificationPreference>> {
    let saved = store::mail::preferences(&state.db, tenant).await?;
    Ok(NotificationKind::IN_PREFERENCE_ORDER
        .into_iter()
        .map(|kind| NotificationPreference {
            kind,
            email: !kind.can_turn_off() || saved.get(&kind).copied().unwrap_or(true),
            can_turn_off: kind.can_turn_off(),
        })
        .collect())
}

/// Turns kinds on or off. Turning off one that cannot be is `VALIDATION` and changes nothing.
pub async fn update_preferences(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    changes: Vec<(NotificationKind, bool)>,
) -> Result<Vec<NotificationPreference>> {
    actor.require_role(&[Role::Owner, Role::Billing])?;
    let tenant = actor.tenant_for(tenant)?;
    store::accounts::tenants::find(&state.db, tenant)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    if let Some((kind, _)) = changes.iter().find(|(k, on)| !on && !k.can_turn_off()) {
        return Err(Error::validation(
            "preferences",
            format!("{} emails cannot be turned off", kind.as_str()),
        ));
    }
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    for (kind, email) in changes {
        store::mail::set_preference(&txn, tenant, kind, email, now).await?;
    }
    txn.commit().await?;
    read(state, tenant).await
}

/// How a notification's emails went, for whoever may see the notification.
pub async fn notification_emails(
    state: &AppState,
    actor: &Actor,
    id: NotificationId,
) -> Result<Vec<EmailDelivery>> {
    let n = store::notify::find(&state.db, id)
        .await?
        .ok_or(Error::NotFound("notification"))?;
    if actor.scope(Some(n.tenant_id)).is_err() {
        return Err(Error::NotFound("notification"));
    }
    store::mail::deliveries(&state.db, id).await
}
