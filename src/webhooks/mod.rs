//! Webhooks to the SaaS, following Standard Webhooks: endpoints (the operator's and each
//! tenant's), their secrets and rotation, the delivery log and replays. Events are written by
//! `store::webhooks::emit` where they happen; `deliver` sends them from the outbox.
use chrono::TimeDelta;
use sea_orm::TransactionTrait;

use crate::auth::Actor;
use crate::domain::{
    Page, PageRequest, Role, TenantId, WEBHOOK_SECRET_OVERLAP_HOURS, WebhookDelivery,
    WebhookDeliveryId, WebhookEndpoint, WebhookEndpointId, WebhookEventType,
};
use crate::error::{ConflictReason, Error, OptionExt, Result};
use crate::state::AppState;
use crate::store::webhooks::{EndpointPatch, NewEndpoint};
use crate::store::{self, TenantScope};

mod deliver;
pub mod guard;
pub mod signing;

pub use deliver::deliver;

/// Endpoints a tenant may have, so one tenant cannot fan an event out without bound.
const MAX_ENDPOINTS: usize = 10;

/// Which endpoints the caller manages: owners and billing users their tenant's, admins all.
fn scope(actor: &Actor) -> Result<TenantScope> {
    actor.require_role(&[Role::Owner, Role::Billing])?;
    actor.scope(None)
}

/// Parses an event filter: known type names, each once.
pub fn parse_event_types(raw: &[String]) -> Result<Vec<WebhookEventType>> {
    let mut types = Vec::new();
    for name in raw {
        let kind = WebhookEventType::from_db(name.trim()).ok_or_else(|| {
            Error::validation("eventTypes", format!("unknown event type {name:?}"))
        })?;
        if !types.contains(&kind) {
            types.push(kind);
        }
    }
    Ok(types)
}

async fn checked_url(state: &AppState, raw: &str) -> Result<String> {
    let url = guard::parse_url(raw)?;
    guard::check_on_save(&url, state.config.webhooks_allow_private).await?;
    Ok(url.to_string())
}

/// Creates an endpoint with a fresh secret. Admins create the operator's (no tenant) or, naming
/// one, a tenant's; a tenant's owner or billing user creates its own.
pub async fn create_endpoint(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    url: &str,
    event_types: &[String],
) -> Result<WebhookEndpoint> {
    actor.require_role(&[Role::Owner, Role::Billing])?;
    let tenant = match (actor.tenant, tenant) {
        (None, None) => {
            actor.require_admin()?;
            None
        }
        (_, requested) => Some(actor.tenant_for(requested)?),
    };
    let url = checked_url(state, url).await?;
    let event_types = parse_event_types(event_types)?;
    if let Some(t) = tenant {
        crate::accounts::tenants::find(state, t)
            .await?
            .or_not_found("tenant")?;
        let existing = store::webhooks::list_endpoints(&state.db, TenantScope::Only(t)).await?;
        if existing.len() >= MAX_ENDPOINTS {
            return Err(Error::validation(
                "url",
                format!("a tenant may have at most {MAX_ENDPOINTS} webhook endpoints"),
            ));
        }
    }
    let new = NewEndpoint {
        tenant,
        url,
        event_types,
        secret: signing::new_secret(),
        now: state.clock.now(),
    };
    let id = store::webhooks::insert_endpoint(&state.db, new).await?;
    tracing::info!(endpoint = %id, by = %actor.subject, "webhook endpoint created");
    get(state, TenantScope::Any, id).await
}

async fn get(
    state: &AppState,
    scope: TenantScope,
    id: WebhookEndpointId,
) -> Result<WebhookEndpoint> {
    store::webhooks::find_endpoint(&state.db, scope, id)
        .await?
        .or_not_found("webhook endpoint")
}

/// The caller's endpoints: a tenant's own; for admins every endpoint, or one tenant's.
pub async fn endpoints(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
) -> Result<Vec<WebhookEndpoint>> {
    actor.require_role(&[Role::Owner, Role::Billing])?;
    store::webhooks::list_endpoints(&state.db, actor.scope(tenant)?).await
}

pub struct EndpointChange {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// Changes an endpoint's URL, filter, or whether it is enabled (enabling a disabled endpoint
/// starts its failures over; what was given up stays given up, and can be replayed).
pub async fn update_endpoint(
    state: &AppState,
    actor: &Actor,
    id: WebhookEndpointId,
    change: EndpointChange,
) -> Result<WebhookEndpoint> {
    let scope = scope(actor)?;
    let ep = get(state, scope, id).await?;
    let url = match change.url {
        Some(u) => Some(checked_url(state, &u).await?),
        None => None,
    };
    let event_types = change
        .event_types
        .as_deref()
        .map(parse_event_types)
        .transpose()?;
    let patch = EndpointPatch {
        url,
        event_types,
        enabled: change.enabled,
        rotate: None,
    };
    store::webhooks::update_endpoint(&state.db, &ep, patch, state.clock.now()).await?;
    get(state, scope, id).await
}

/// Deletes an endpoint and its delivery log; what is pending is not sent.
pub async fn delete_endpoint(state: &AppState, actor: &Actor, id: WebhookEndpointId) -> Result<()> {
    let ep = get(state, scope(actor)?, id).await?;
    let txn = state.db.begin().await?;
    store::webhooks::delete_endpoint(&txn, ep.id).await?;
    txn.commit().await?;
    tracing::info!(endpoint = %id, by = %actor.subject, "webhook endpoint deleted");
    Ok(())
}

/// A new secret; the current one keeps signing beside it for the overlap.
pub async fn rotate_secret(
    state: &AppState,
    actor: &Actor,
    id: WebhookEndpointId,
) -> Result<WebhookEndpoint> {
    let scope = scope(actor)?;
    let ep = get(state, scope, id).await?;
    let now = state.clock.now();
    let until = now + TimeDelta::hours(WEBHOOK_SECRET_OVERLAP_HOURS);
    let patch = EndpointPatch {
        rotate: Some((signing::new_secret(), until)),
        ..EndpointPatch::default()
    };
    store::webhooks::update_endpoint(&state.db, &ep, patch, now).await?;
    tracing::info!(endpoint = %id, by = %actor.subject, "webhook secret rotated");
    get(state, scope, id).await
}

/// The delivery log of one of the caller's endpoints, oldest first.
pub async fn deliveries(
    state: &AppState,
    actor: &Actor,
    endpoint: WebhookEndpointId,
    page: PageRequest,
) -> Result<Page<WebhookDelivery>> {
    let ep = get(state, scope(actor)?, endpoint).await?;
    store::webhooks::page_deliveries(&state.db, ep.id, page).await
}

/// Sends a delivery's event to its endpoint again, as a new delivery queued after what is
/// pending. The endpoint must be enabled.
pub async fn replay(
    state: &AppState,
    actor: &Actor,
    id: WebhookDeliveryId,
) -> Result<WebhookDelivery> {
    let scope = scope(actor)?;
    let original = store::webhooks::find_delivery(&state.db, scope, id)
        .await?
        .or_not_found("webhook delivery")?;
    let ep = get(state, scope, original.endpoint_id).await?;
    if !ep.enabled {
        return Err(Error::conflict(
            ConflictReason::IllegalTransition,
            "the webhook endpoint is disabled; enable it before replaying",
        ));
    }
    let txn = state.db.begin().await?;
    let new = store::webhooks::replay(&txn, &ep, &original, state.clock.now()).await?;
    txn.commit().await?;
    store::webhooks::find_delivery(&state.db, scope, new)
        .await?
        .or_not_found("webhook delivery")
}

/// The event a delivery sends (its body and type), for the delivery log.
pub async fn event_of(
    state: &AppState,
    d: &WebhookDelivery,
) -> Result<crate::domain::WebhookEvent> {
    store::webhooks::find_event(&state.db, d.event_id)
        .await?
        .or_not_found("webhook event")
}
